//! Several endpoints in virtual time on one simulated network, for the rendezvous and relay
//! tests (PROTOCOL.md §13.7, §13.8): every datagram takes a fixed latency; pairs of addresses
//! can be cut off from each other, a node can sit behind a filtering NAT, and the wire can be
//! tapped.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lrp2p_proto::rendezvous::RegistryConfig;
use lrp2p_proto::{Endpoint, Event, StaticSecret};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::{UNIX_NS, fresh_keys};

pub struct Net {
    /// Each endpoint: its address, itself, the events it gave.
    pub nodes: Vec<(SocketAddr, Endpoint<ChaCha20Rng>, Vec<Event>)>,
    /// Datagrams in flight: when they land, to which node, from where.
    pub wire: VecDeque<(Instant, usize, SocketAddr, Vec<u8>)>,
    /// Virtual time.
    pub now: Instant,
    /// One-way latency of every datagram.
    pub latency: Duration,
    /// Pairs of addresses between which every datagram is lost (a path cut, a NAT that lets
    /// nothing through).
    pub blocked: Vec<(SocketAddr, SocketAddr)>,
    /// Every datagram sent: from, to, bytes (what an observer on the wire sees).
    pub tap: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    /// Whether `tap` records.
    pub tapping: bool,
    /// Nodes behind a port-restricted NAT (address and port filtering, RFC 4787 §5): only
    /// datagrams from addresses the node sent to pass in. Clearing a node's list is a NAT that
    /// forgets its mappings (`conntrack -F`).
    pub filtered: Vec<(usize, Vec<SocketAddr>)>,
    /// How fast a test's writer writes, in bytes per second, if it is limited.
    pub write_rate: Option<u64>,
    /// Datagrams asked of each `poll_transmit_batch` (UDP segmentation offload), and how many
    /// batches held more than one.
    pub batch: usize,
    pub batches: usize,
}

impl Net {
    /// `count` endpoints at 192.0.2.1.., seeded.
    pub fn new(seed: u64, count: usize) -> Net {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let now = Instant::now();
        let nodes = (0..count)
            .map(|i| {
                let key = StaticSecret::generate(&mut rng);
                let rng = ChaCha20Rng::seed_from_u64(seed + 1 + i as u64);
                let addr: SocketAddr = format!("192.0.2.{}:{}", i + 1, 4000 + i).parse().unwrap();
                (addr, Endpoint::new(fresh_keys(), key, rng, now, UNIX_NS), Vec::new())
            })
            .collect();
        Net {
            nodes,
            wire: VecDeque::new(),
            now,
            latency: Duration::from_millis(10),
            blocked: Vec::new(),
            tap: Vec::new(),
            tapping: false,
            filtered: Vec::new(),
            write_rate: None,
            batch: 1,
            batches: 0,
        }
    }

    /// One datagram node `i` (at `from`) sent to `to`: tapped, cut, or on the wire.
    fn deliver(&mut self, i: usize, from: SocketAddr, to: SocketAddr, datagram: Vec<u8>) {
        let cut = self.blocked.iter().any(|&(a, b)| (a, b) == (from, to) || (b, a) == (from, to));
        if self.tapping {
            self.tap.push((from, to, datagram.clone()));
        }
        if let Some((_, seen)) = self.filtered.iter_mut().find(|f| f.0 == i) {
            if !cut && !seen.contains(&to) {
                seen.push(to);
            }
        }
        if let Some(node) = self.nodes.iter().position(|n| n.0 == to).filter(|_| !cut) {
            self.wire.push_back((self.now + self.latency, node, from, datagram));
        }
    }

    /// Node `i`'s address.
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.nodes[i].0
    }

    /// Sends what every node has, then moves to the next event; false when nothing is left.
    pub fn step(&mut self) -> bool {
        let mut buf = vec![0u8; 2048 * self.batch.max(1)];
        let now = self.now;
        for i in 0..self.nodes.len() {
            let from = self.nodes[i].0;
            while let Some(batch) = self.nodes[i].1.poll_transmit_batch(now, &mut buf, self.batch.max(1)) {
                let size = batch.segment_size.max(1);
                self.batches += usize::from(batch.len > size);
                let to_addr = batch.destination;
                for start in (0..batch.len).step_by(size) {
                    let datagram = buf[start..(start + size).min(batch.len)].to_vec();
                    self.deliver(i, from, to_addr, datagram);
                }
            }
        }
        let next_wire = self.wire.iter().map(|d| d.0).min();
        let next_timer = self.nodes.iter().filter_map(|n| n.1.poll_timeout()).min();
        let Some(next) = [next_wire, next_timer].into_iter().flatten().min() else { return false };
        self.now = self.now.max(next);
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = self.wire.drain(..).partition(|d| d.0 <= now);
        self.wire = later.into();
        for (_, to, from, mut data) in due {
            // The NAT in front of `to` decides when the datagram arrives.
            let filtered = self.filtered.iter().find(|f| f.0 == to);
            if filtered.is_some_and(|(_, seen)| !seen.contains(&from)) {
                continue;
            }
            self.nodes[to].1.handle_datagram(now, from, &mut data);
        }
        for node in &mut self.nodes {
            node.1.handle_timeout(now);
            while let Some(e) = node.1.poll_event() {
                node.2.push(e);
            }
        }
        true
    }

    /// Steps until `done`, which must hold within `limit` of virtual time.
    pub fn drive_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Net) -> bool) {
        let deadline = self.now + limit;
        for _ in 0..1_000_000 {
            if done(self) {
                return;
            }
            if !self.step() || self.now > deadline {
                break;
            }
        }
        assert!(done(self), "not reached within {limit:?}");
    }

    /// The address the service saw node `i` at, once registered.
    pub fn registered(&self, i: usize) -> Option<SocketAddr> {
        self.nodes[i]
            .2
            .iter()
            .find_map(|e| if let Event::Registered { observed, .. } = e { Some(*observed) } else { None })
    }
}

/// The service's index in [`registered_net`].
pub const S: usize = 0;
/// The first peer.
pub const A: usize = 1;
/// The second peer.
pub const B: usize = 2;

/// A service S and peers A and B, both registered with S.
pub fn registered_net(seed: u64) -> Net {
    let mut net = Net::new(seed, 3);
    let now = net.now;
    let (service, service_key) = (net.addr(S), net.nodes[S].1.public_key());
    net.nodes[S].1.serve_rendezvous(RegistryConfig::default());
    for i in [A, B] {
        let local = net.addr(i);
        net.nodes[i].1.register(now, service, service_key, &[local]).unwrap();
    }
    net.drive_until(Duration::from_secs(5), |n| n.registered(A).is_some() && n.registered(B).is_some());
    assert_eq!(net.registered(A), Some(net.addr(A)), "the service saw A's address");
    assert_eq!(net.nodes[S].1.rendezvous_stats().unwrap().registered, 2);
    // The peers' first acknowledgements reach the service (their links are confirmed).
    let settled = net.now + Duration::from_millis(15);
    for _ in 0..100 {
        if net.now >= settled || !net.step() {
            break;
        }
    }
    net
}
