//! The rendezvous roles of an endpoint (PROTOCOL.md §13.7, §13.9) with three endpoints in
//! virtual time: a service S, peers A and B. Both register; A dials B by key alone; S introduces
//! them; A's initiation, carrying what it wrote, goes to B's addresses while B punches toward
//! A. The service's own connections never reach its application.

#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use common::net::{A, B, Net, S, registered_net};
use lrp2p_proto::rendezvous::RegistryConfig;
use lrp2p_proto::{CloseReason, ConnectError, ConnectOptions, Event, StaticSecret};

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
    // PROTOCOL.md §13.8: established through the relay, then on the direct path once B
    // answers a probe of its address.
    let connected_at = net.now - start;
    assert_eq!(net.nodes[A].1.path(conn).unwrap().kind, lrp2p_proto::PathKind::Relayed);
    net.drive_until(Duration::from_secs(1), |n| n.nodes[A].1.path(conn).unwrap().remote == n.addr(B));
    let direct_at = net.now - start;
    eprintln!("connected through the relay after {connected_at:?}, direct after {direct_at:?}");
    assert!(direct_at <= Duration::from_millis(80), "{direct_at:?}");
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
