//! The MUSTs of PROTOCOL.md §13.8 that only a lying service or a hostile peer can break,
//! tested with RELAY packets made by hand on the real connections of three endpoints in
//! virtual time (a service S, peers A and B, both registered): each breaks one rule, and a
//! control shows that the same packet, honest, is taken.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::{ConnectionHandle, Endpoint, Event};
use crate::config::ConnectOptions;
use crate::config::EndpointConfig;
use crate::identity::{PublicKey, StaticSecret};
use crate::rendezvous::RegistryConfig;
use crate::wire::{PUNCH_LEN, PUNCH_TYPE, RELAY_HEADER_LEN, RelayRepr, TAG_LEN, TRANSPORT_HEADER_LEN};

const UNIX_NS: u64 = 1_800_000_000_000_000_000;
const S: usize = 0;
const A: usize = 1;
const B: usize = 2;

// An `Instant` can only be had from the clock; only differences from it matter here.
#[allow(clippy::disallowed_methods)]
fn origin() -> Instant {
    Instant::now()
}

struct Net {
    nodes: Vec<(SocketAddr, Endpoint<ChaCha20Rng>, Vec<Event>)>,
    now: Instant,
    /// Every PUNCH sent, by whom (genuine ones, to carry where they do not belong).
    punches: Vec<(usize, Vec<u8>)>,
}

impl Net {
    /// S serves; A and B register with it; all their datagrams delivered at once.
    fn registered(seed: u64) -> Net {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let now = origin();
        let mut config = EndpointConfig::default();
        config.early_data.start_floor = false;
        let nodes = (0..3u8)
            .map(|i| {
                let addr = SocketAddr::from(([192, 0, 2, i + 1], 4000 + u16::from(i)));
                let key = StaticSecret::generate(&mut rng);
                let rng = ChaCha20Rng::seed_from_u64(seed + 1 + u64::from(i));
                (addr, Endpoint::new(config.clone(), key, rng, now, UNIX_NS), Vec::new())
            })
            .collect();
        let mut net = Net { nodes, now, punches: Vec::new() };
        net.nodes[S].1.serve_rendezvous(RegistryConfig::default());
        let (service, key) = (net.nodes[S].0, net.nodes[S].1.public_key());
        for i in [A, B] {
            let local = net.nodes[i].0;
            net.nodes[i].1.register(now, service, key, &[local]).unwrap();
        }
        net.settle();
        assert_eq!(net.nodes[S].1.rendezvous_stats().unwrap().registered, 2);
        net
    }

    /// Delivers everything due, 1 ms at a time, until nothing is sent (bounded).
    fn settle(&mut self) {
        let mut buf = [0u8; 2048];
        for _ in 0..200 {
            self.now += Duration::from_millis(1);
            let now = self.now;
            let mut sent = false;
            for i in 0..self.nodes.len() {
                let from = self.nodes[i].0;
                while let Some(t) = self.nodes[i].1.poll_transmit(now, &mut buf) {
                    sent = true;
                    if buf[0] == PUNCH_TYPE {
                        self.punches.push((i, buf[..t.len].to_vec()));
                    }
                    if let Some(to) = self.nodes.iter().position(|n| n.0 == t.destination) {
                        self.nodes[to].1.handle_datagram(now, from, &mut buf[..t.len]);
                    }
                }
            }
            for node in &mut self.nodes {
                node.1.handle_timeout(now);
                while let Some(e) = node.1.poll_event() {
                    node.2.push(e);
                }
            }
            if !sent {
                return;
            }
        }
    }

    fn key(&self, i: usize) -> PublicKey {
        self.nodes[i].1.public_key()
    }

    /// The service's link to peer `to`.
    fn link_to(&self, to: usize) -> ConnectionHandle {
        let role = self.nodes[S].1.service_role.as_ref().unwrap();
        role.link_of(&self.key(to)).unwrap()
    }

    /// A RELAY packet naming `source`, carrying `carried`, sealed by node `by` on its
    /// connection `on`, delivered to the peer of that connection at once.
    fn relay(&mut self, by: usize, on: ConnectionHandle, source: &PublicKey, carried: &[u8]) {
        let now = self.now;
        let mut buf = vec![0u8; TRANSPORT_HEADER_LEN + RELAY_HEADER_LEN + carried.len() + TAG_LEN];
        RelayRepr::emit_header(source, &mut buf[TRANSPORT_HEADER_LEN..]).unwrap();
        buf[TRANSPORT_HEADER_LEN + RELAY_HEADER_LEN..][..carried.len()].copy_from_slice(carried);
        let from = self.nodes[by].0;
        let conn = self.nodes[by].1.table.get_mut(on).unwrap();
        let len = conn.seal_relay(now, &mut buf, RELAY_HEADER_LEN + carried.len()).unwrap();
        let to = conn.remote();
        let to = self.nodes.iter().position(|n| n.0 == to).unwrap();
        self.nodes[to].1.handle_datagram(now, from, &mut buf[..len]);
        while let Some(e) = self.nodes[to].1.poll_event() {
            self.nodes[to].2.push(e);
        }
    }

    fn incoming(&self, i: usize) -> usize {
        self.nodes[i].2.iter().filter(|e| matches!(e, Event::Incoming { .. })).count()
    }
}

/// A's IK initiation to B, as A's endpoint writes it for the network (A's key inside).
fn initiation(net: &mut Net) -> Vec<u8> {
    let (now, b_addr, b_key) = (net.now, net.nodes[B].0, net.key(B));
    let handle = net.nodes[A].1.connect(now, b_addr, Some(b_key)).unwrap();
    let mut buf = [0u8; 2048];
    let t = net.nodes[A].1.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(t.destination, b_addr);
    let _ = net.nodes[A].1.release(now, handle);
    buf[..t.len].to_vec()
}

#[test]
fn a_relayed_initiation_whose_key_is_not_the_source_named_is_dropped() {
    let mut net = Net::registered(71);
    let datagram = initiation(&mut net);
    let link = net.link_to(B);
    let before = net.nodes[B].1.stats();
    // PROTOCOL.md §13.8: a lying service names S's own key as the source of A's initiation.
    let liar = net.key(S);
    net.relay(S, link, &liar, &datagram);
    let after = net.nodes[B].1.stats();
    assert_eq!(after.handshake_failures, before.handshake_failures + 1);
    assert_eq!(net.incoming(B), 0, "no connection from a lie");
    // The control: the same initiation, named honestly, makes a connection.
    let honest = net.key(A);
    net.relay(S, link, &honest, &datagram);
    assert_eq!(net.incoming(B), 1);
}

#[test]
fn a_punch_carried_through_the_relay_is_dropped() {
    let mut net = Net::registered(72);
    // A dials B by key: the service introduces them, and B punches toward A (PROTOCOL.md §13.9).
    let (now, b_key) = (net.now, net.key(B));
    net.nodes[A].1.connect_by_key(now, b_key, ConnectOptions::default()).unwrap();
    net.settle();
    let punch = net.punches.iter().find(|(by, _)| *by == B).expect("B punched").1.clone();
    assert_eq!(punch.len(), PUNCH_LEN);
    let link = net.link_to(A);
    let before = net.nodes[A].1.stats();
    net.relay(S, link, &b_key, &punch);
    let after = net.nodes[A].1.stats();
    // PROTOCOL.md §13.8, §13.9: a punch through a relay opens no NAT; it is dropped unread.
    assert_eq!(after.unexpected, before.unexpected + 1);
    assert_eq!(after.punches_received, before.punches_received);
    assert_eq!(after.relayed_received, before.relayed_received + 1);
    assert_eq!(after.accounted(), after.datagrams_received);
    // The control: the same punch from B's address is taken.
    let (now, from) = (net.now, net.nodes[B].0);
    net.nodes[A].1.handle_datagram(now, from, &mut punch.clone());
    assert_eq!(net.nodes[A].1.stats().punches_received, before.punches_received + 1);
}

#[test]
fn a_relay_packet_carried_in_a_relay_packet_is_dropped_and_the_link_lives() {
    let mut net = Net::registered(73);
    let link = net.link_to(B);
    // The inner packet: a genuine RELAY packet of S's link to B (S seals it, as it would).
    let now = net.now;
    let source = net.key(A);
    let mut inner = vec![0u8; TRANSPORT_HEADER_LEN + RELAY_HEADER_LEN + 8 + TAG_LEN];
    RelayRepr::emit_header(&source, &mut inner[TRANSPORT_HEADER_LEN..]).unwrap();
    let conn = net.nodes[S].1.table.get_mut(link).unwrap();
    let len = conn.seal_relay(now, &mut inner, RELAY_HEADER_LEN + 8).unwrap();
    inner.truncate(len);
    let before = net.nodes[B].1.stats();
    net.relay(S, link, &source, &inner);
    let after = net.nodes[B].1.stats();
    // PROTOCOL.md §13.8: nothing is relayed twice: the inner packet is dropped, not opened as
    // a RELAY, and the link is not closed for it (the service could close it anyway).
    assert_eq!(after.relayed_received, before.relayed_received + 1, "only the outer one");
    assert_eq!(after.unexpected, before.unexpected + 1);
    let b_link = net.nodes[B].1.peer_role.as_ref().unwrap().link();
    let stats = net.nodes[B].1.connection_stats(b_link).unwrap();
    assert_eq!(stats.protocol_violations, 0);
    assert!(!net.nodes[B].2.iter().any(|e| matches!(e, Event::RendezvousClosed { .. })));
}

#[test]
fn a_relay_packet_on_a_connection_that_is_no_link_is_a_protocol_violation() {
    let mut net = Net::registered(74);
    // A and B connect directly (IK), with no rendezvous on that connection.
    let (now, b_addr, b_key) = (net.now, net.nodes[B].0, net.key(B));
    let a_conn = net.nodes[A].1.connect(now, b_addr, Some(b_key)).unwrap();
    net.nodes[A].1.write(now, a_conn, b"hello").unwrap();
    net.settle();
    let b_conn = net.nodes[B]
        .2
        .iter()
        .find_map(|e| if let Event::Incoming { connection, .. } = e { Some(*connection) } else { None })
        .unwrap();
    let now = net.now;
    net.nodes[B].1.accept(now, b_conn).unwrap();
    net.settle();
    // A seals a RELAY packet on it, as if A were a service.
    let source = net.key(S);
    net.relay(A, a_conn, &source, b"carried");
    // PROTOCOL.md §13.8, §7.9: dropped, and the connection closes with PROTOCOL_VIOLATION.
    let stats = net.nodes[B].1.connection_stats(b_conn).unwrap();
    assert_eq!(stats.protocol_violations, 1);
    assert_eq!(net.nodes[B].1.stats().relayed_received, 0);
}
