//! The rendezvous roles of an endpoint (PROTOCOL.md §13.7, §13.9) with three endpoints in
//! virtual time: a service S, peers A and B. Both register; A dials B by key alone; S introduces
//! them; A's initiation, carrying what it wrote, goes to B's addresses while B punches toward
//! A. The service's own connections never reach its application.

#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

mod common;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{UNIX_NS, fresh_keys};
use lrp2p_proto::rendezvous::RegistryConfig;
use lrp2p_proto::{CloseReason, ConnectError, ConnectOptions, Endpoint, Event, StaticSecret};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

struct Net {
    nodes: Vec<(SocketAddr, Endpoint<ChaCha20Rng>, Vec<Event>)>,
    wire: VecDeque<(Instant, usize, SocketAddr, Vec<u8>)>,
    now: Instant,
    latency: Duration,
}

impl Net {
    fn new(seed: u64, count: usize) -> Net {
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
        Net { nodes, wire: VecDeque::new(), now, latency: Duration::from_millis(10) }
    }

    fn addr(&self, i: usize) -> SocketAddr {
        self.nodes[i].0
    }

    fn step(&mut self) -> bool {
        let mut buf = [0u8; 2048];
        let now = self.now;
        for i in 0..self.nodes.len() {
            let from = self.nodes[i].0;
            while let Some(t) = self.nodes[i].1.poll_transmit(now, &mut buf) {
                if let Some(to) = self.nodes.iter().position(|n| n.0 == t.destination) {
                    self.wire.push_back((now + self.latency, to, from, buf[..t.len].to_vec()));
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

    fn drive_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Net) -> bool) {
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

    fn registered(&self, i: usize) -> Option<SocketAddr> {
        self.nodes[i]
            .2
            .iter()
            .find_map(|e| if let Event::Registered { observed, .. } = e { Some(*observed) } else { None })
    }
}

const S: usize = 0;
const A: usize = 1;
const B: usize = 2;

fn registered_net(seed: u64) -> Net {
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
    net
}

#[test]
fn a_peer_dials_another_by_key_alone() {
    let mut net = registered_net(81);
    let now = net.now;
    let b_key = net.nodes[B].1.public_key();
    let conn = net.nodes[A].1.connect_by_key(now, b_key, ConnectOptions::default()).unwrap();
    net.nodes[A].1.write(now, conn, b"by key").unwrap();
    let start = net.now;
    let mut incoming = None;
    net.drive_until(Duration::from_secs(5), |n| {
        if incoming.is_none() {
            incoming = n.nodes[B].2.iter().find_map(|e| match e {
                Event::Incoming { connection, .. } => Some(*connection),
                _ => None,
            });
            if let Some(c) = incoming {
                let now = n.now;
                n.nodes[B].1.accept(now, c).unwrap();
            }
        }
        n.nodes[A].2.iter().any(|e| matches!(e, Event::Connected { connection, .. } if *connection == conn))
    });
    // LOOKUP, INTRODUCE (one RTT to S), then the initiation and its response (one RTT to B).
    assert!(net.now - start <= Duration::from_millis(60), "{:?}", net.now - start);
    let connected = net.nodes[A].2.iter().find_map(|e| match e {
        Event::Connected { connection, early_data_accepted } if *connection == conn => {
            Some(*early_data_accepted)
        }
        _ => None,
    });
    assert_eq!(connected, Some(true), "what A wrote rode in the initiation (0-RTT)");
    assert_eq!(net.nodes[A].1.path(conn).unwrap().remote, net.addr(B));
    let b_conn = incoming.unwrap();
    let mut buf = [0u8; 16];
    let n = net.nodes[B].1.read(net.now, b_conn, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"by key");
    assert!(net.nodes[B].1.stats().punches_sent >= 1, "B punched toward A");
    for _ in 0..200 {
        if !net.step() || net.now - start > Duration::from_secs(1) {
            break;
        }
    }
    assert_eq!(net.nodes[B].1.stats().punches_sent, 3, "three rounds to A's one address");
    assert_eq!(net.nodes[S].1.rendezvous_stats().unwrap().introductions, 1);
    assert!(
        net.nodes[S].2.iter().all(|e| !matches!(e, Event::Incoming { .. } | Event::Readable { .. })),
        "the service's own connections stay inside it: {:?}",
        net.nodes[S].2
    );
}

#[test]
fn an_unregistered_key_is_not_found_and_an_unregistered_dialer_is_an_error() {
    let mut net = registered_net(82);
    let now = net.now;
    let stranger = StaticSecret::from_bytes([7; 32]).public_key();
    let conn = net.nodes[A].1.connect_by_key(now, stranger, ConnectOptions::default()).unwrap();
    net.drive_until(Duration::from_secs(5), |n| {
        n.nodes[A].2.iter().any(|e| matches!(e, Event::Closed { connection, .. } if *connection == conn))
    });
    let reason = net.nodes[A].2.iter().find_map(|e| match e {
        Event::Closed { connection, reason } if *connection == conn => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(reason, Some(CloseReason::NotFound));
    assert!(net.now - now < Duration::from_millis(50), "one round trip to the service");
    let mut lone = Net::new(83, 1);
    let now = lone.now;
    let err = lone.nodes[0].1.connect_by_key(now, stranger, ConnectOptions::default()).unwrap_err();
    assert_eq!(err, ConnectError::NotRegistered);
}

#[test]
fn a_malformed_record_ends_the_registration() {
    let mut net = Net::new(84, 2);
    let now = net.now;
    net.nodes[0].1.serve_rendezvous(RegistryConfig::default());
    let (service, key) = (net.addr(0), net.nodes[0].1.public_key());
    let options =
        ConnectOptions::default().with_app_protocol(lrp2p_proto::rendezvous::RENDEZVOUS_APP_PROTOCOL);
    let conn = net.nodes[1].1.connect_with(now, service, Some(key), options).unwrap();
    // Type 0x7F: no such record.
    net.nodes[1].1.write(now, conn, &[0x7f, 0, 0]).unwrap();
    net.drive_until(Duration::from_secs(5), |n| {
        n.nodes[1].2.iter().any(|e| matches!(e, Event::Closed { connection, .. } if *connection == conn))
    });
    let reason = net.nodes[1].2.iter().find_map(|e| match e {
        Event::Closed { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert!(matches!(reason, Some(CloseReason::Remote { code: 1, .. })), "{reason:?}");
}

#[test]
fn an_introduction_the_policy_refuses_sends_no_punch() {
    let mut net = registered_net(85);
    let a_key = net.nodes[A].1.public_key();
    net.nodes[B].1.set_introduction_policy(move |key| *key != a_key);
    let now = net.now;
    let b_key = net.nodes[B].1.public_key();
    let _conn = net.nodes[A].1.connect_by_key(now, b_key, ConnectOptions::default()).unwrap();
    net.drive_until(Duration::from_secs(5), |n| n.nodes[S].1.rendezvous_stats().unwrap().introductions == 1);
    for _ in 0..200 {
        if !net.step() || net.now - now > Duration::from_secs(1) {
            break;
        }
    }
    assert_eq!(net.nodes[B].1.stats().punches_sent, 0, "PROTOCOL.md §13.7.5 rule 1");
}
