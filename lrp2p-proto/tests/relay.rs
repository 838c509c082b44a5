//! The relay (PROTOCOL.md §13.8) with three endpoints in virtual time: a service S, peers A and
//! B, both registered. A dials B by key: the initiation, with what A wrote, goes through S at
//! once; where A and B cannot reach each other the whole transfer runs through S, which sees
//! only ciphertext; where they can, the connection moves to the direct path once a probe is
//! answered, and back to the relay when the direct path is cut — without losing a byte.

#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use common::net::{A, B, Net, S, registered_net};
use lrp2p_proto::{ConnectOptions, ConnectionHandle, Event, PathKind};

/// Bytes that no 24-byte window repeats within.
fn payload(len: usize) -> Vec<u8> {
    (0..u32::try_from(len).unwrap()).map(|i| i.wrapping_mul(2_654_435_761).to_be_bytes()[1]).collect()
}

/// A dials B by key and writes `data`, then finishes; B accepts. The two connections.
fn dial(net: &mut Net, data: &[u8]) -> (ConnectionHandle, ConnectionHandle) {
    let now = net.now;
    let b_key = net.nodes[B].1.public_key();
    let conn = net.nodes[A].1.connect_by_key(now, b_key, ConnectOptions::default()).unwrap();
    let first = data.len().min(1000);
    net.nodes[A].1.write(now, conn, &data[..first]).unwrap();
    let mut incoming = None;
    net.drive_until(Duration::from_secs(5), |n| {
        incoming = n.nodes[B].2.iter().find_map(|e| match e {
            Event::Incoming { connection, .. } => Some(*connection),
            _ => None,
        });
        incoming.is_some()
    });
    let b_conn = incoming.unwrap();
    let now = net.now;
    net.nodes[B].1.accept(now, b_conn).unwrap();
    (conn, b_conn)
}

/// Writes the rest of `data` from A (from `sent`) and reads everything at B, stepping the net
/// at most `limit` in virtual time; calls `during` at every step with the bytes read so far.
fn transfer(
    net: &mut Net,
    (a, b): (ConnectionHandle, ConnectionHandle),
    data: &[u8],
    limit: Duration,
    mut during: impl FnMut(&mut Net, usize),
) -> Vec<u8> {
    let mut sent = data.len().min(1000);
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    let (start, deadline) = (net.now, net.now + limit);
    let mut finished = false;
    for _ in 0..2_000_000 {
        let now = net.now;
        let allowed = net.write_rate.map_or(data.len(), |rate| {
            let due = (now - start).as_micros().saturating_mul(u128::from(rate)) / 1_000_000;
            usize::try_from(due).unwrap_or(usize::MAX).clamp(sent, data.len())
        });
        if sent < data.len() {
            if let Ok(n) = net.nodes[A].1.write(now, a, &data[sent..allowed]) {
                sent += n;
            }
        } else if !finished {
            net.nodes[A].1.shutdown(now, a).unwrap();
            finished = true;
        }
        while let Ok(n) = net.nodes[B].1.read(now, b, &mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        if got.len() == data.len() {
            break;
        }
        during(net, got.len());
        if !net.step() || net.now > deadline {
            break;
        }
    }
    got
}

#[test]
fn with_no_direct_path_everything_runs_through_the_relay_which_sees_only_ciphertext() {
    let mut net = registered_net(91);
    // A and B cannot reach each other (two NATs that let nothing through): only S can.
    net.blocked.push((net.addr(A), net.addr(B)));
    net.tapping = true;
    let data = payload(300_000);
    let start = net.now;
    let conns = dial(&mut net, &data);
    // The first byte rides the first datagram, through the relay: A → S → B in 20 ms.
    assert!(net.now - start <= Duration::from_millis(30), "{:?}", net.now - start);
    let got = transfer(&mut net, conns, &data, Duration::from_secs(30), |_, _| {});
    assert!(got == data, "{} of {} bytes, intact", got.len(), data.len());
    for (side, conn) in [(A, conns.0), (B, conns.1)] {
        let path = net.nodes[side].1.path(conn).unwrap();
        assert_eq!(path.kind, PathKind::Relayed, "side {side}");
        assert_eq!(path.remote, net.addr(S), "a relayed path goes to the service");
    }
    let relay = net.nodes[S].1.rendezvous_stats().unwrap().relay;
    assert!(relay.relayed > 200 && relay.rate_limited == 0, "{relay:?}");
    // What crossed the wire through S holds no 24-byte run of the plaintext.
    let probes: Vec<&[u8]> = data.chunks(24).step_by(97).collect();
    for (_, _, datagram) in &net.tap {
        for probe in &probes {
            assert!(!datagram.windows(24).any(|w| w == *probe), "plaintext visible on the wire");
        }
    }
}

/// A 2 MB transfer with up to 16 datagrams per `poll_transmit_batch`, through the relay or
/// direct: the batches of more than one datagram it took, and what S relayed (and dropped).
fn batched_transfer(relayed: bool) -> (usize, lrp2p_proto::RelayStats) {
    let mut net = registered_net(95);
    if relayed {
        net.blocked.push((net.addr(A), net.addr(B)));
    }
    net.batch = 16;
    let data = payload(2_000_000);
    let conns = dial(&mut net, &data);
    let before = net.batches;
    let got = transfer(&mut net, conns, &data, Duration::from_secs(30), |_, _| {});
    assert!(got == data, "{} of {} bytes, intact", got.len(), data.len());
    let kind = if relayed { PathKind::Relayed } else { PathKind::Direct };
    assert_eq!(net.nodes[A].1.path(conns.0).unwrap().kind, kind);
    (net.batches - before, net.nodes[S].1.rendezvous_stats().unwrap().relay)
}

#[test]
fn relayed_datagrams_go_in_batches_as_direct_ones_do() {
    // UDP segmentation offload: the sender frames a run of full-size datagrams for the relay
    // in one batch, and the service passes a run for one peer on in one (each hop datagram
    // sealed on its own).
    let (direct, _) = batched_transfer(false);
    let (relayed, stats) = batched_transfer(true);
    eprintln!("batches of more than one datagram: direct {direct}, relayed {relayed}");
    assert!(direct > 0, "the control batches");
    assert!(relayed * 2 >= direct, "relayed {relayed}, direct {direct}");
    assert!(
        stats.relayed > 1000 && stats.rate_limited + stats.queue_full + stats.unknown_destination == 0,
        "{stats:?}"
    );
}

#[test]
fn the_connection_moves_to_the_direct_path_and_back_to_the_relay_without_losing_a_byte() {
    let mut net = registered_net(92);
    let data = payload(3_000_000);
    let conns = dial(&mut net, &data);
    let mut moved_direct = None;
    let mut cut_at = None;
    let mut back_on_relay = None;
    let got = transfer(&mut net, conns, &data, Duration::from_secs(60), |n, read| {
        let kind = n.nodes[A].1.path(conns.0).unwrap().kind;
        if moved_direct.is_none() && kind == PathKind::Direct {
            moved_direct = Some(n.now);
        }
        // A third of the way in, on the direct path, the direct path is cut.
        if cut_at.is_none() && moved_direct.is_some() && read > data.len() / 3 {
            // Each side moved once, relay → direct: the other side's packets still relayed
            // while it caught up pulled neither back.
            for (side, conn) in [(A, conns.0), (B, conns.1)] {
                let stats = n.nodes[side].1.connection_stats(conn).unwrap();
                assert_eq!(stats.migrations, 1, "side {side} before the cut");
                assert_eq!(n.nodes[side].1.path(conn).unwrap().kind, PathKind::Direct);
            }
            n.blocked.push((n.addr(A), n.addr(B)));
            cut_at = Some((n.now, read));
        }
        if cut_at.is_some() && back_on_relay.is_none() && kind == PathKind::Relayed {
            let b_kind = n.nodes[B].1.path(conns.1).unwrap().kind;
            if b_kind == PathKind::Relayed {
                back_on_relay = Some(n.now);
            }
        }
    });
    assert!(got == data, "{} of {} bytes, intact and in order", got.len(), data.len());
    assert!(moved_direct.is_some(), "the connection went direct");
    let (cut, _) = cut_at.expect("the direct path was cut mid-transfer");
    let back = back_on_relay.expect("both sides went back to the relay");
    eprintln!("both sides back on the relay {:?} after the cut", back - cut);
    // PROTOCOL.md §13.8: the first retransmission timeout (40 ms + 200 ms + 25 ms) moves the
    // sender, whose next packet through the relay moves the receiver.
    assert!(back - cut <= Duration::from_millis(400), "fell back in {:?}", back - cut);
    let stats = net.nodes[A].1.connection_stats(conns.0).unwrap();
    assert!(stats.migrations >= 2, "relay → direct → relay: {}", stats.migrations);
}

/// The longest time in `transfer` during which B read nothing, and the bytes read when it began.
fn longest_stall(
    net: &mut Net,
    conns: (ConnectionHandle, ConnectionHandle),
    data: &[u8],
    event: impl FnMut(&mut Net, usize),
) -> (Vec<u8>, Duration) {
    let mut event = event;
    let (mut last, mut at, mut stall) = (0, net.now, Duration::ZERO);
    let got = transfer(net, conns, data, Duration::from_secs(60), |n, read| {
        if read != last {
            stall = stall.max(n.now - at);
            (last, at) = (read, n.now);
        }
        event(n, read);
    });
    (got, stall)
}

#[test]
fn a_receiver_whose_nat_restarts_mid_transfer_gets_the_stream_back_by_itself() {
    let mut net = registered_net(94);
    // B sits behind a port-restricted NAT; it has sent to S (registering) and will send to A.
    net.filtered.push((B, Vec::new()));
    // 3 MB at 1 MB/s: the transfer lasts 3 s.
    net.write_rate = Some(1_000_000);
    let data = payload(3_000_000);
    let conns = dial(&mut net, &data);
    let start = net.now;
    let mut restarted = None;
    let (got, stall) = longest_stall(&mut net, conns, &data, |n, read| {
        let direct = n.nodes[A].1.path(conns.0).is_some_and(|p| p.kind == PathKind::Direct);
        // Past the introduction's punches (PROTOCOL.md §13.9), which would make B's mapping
        // toward A again by themselves.
        if restarted.is_none() && direct && n.now - start > Duration::from_secs(1) {
            assert!(read < data.len() / 2, "the transfer is under way");
            // B's NAT restarts: for 200 ms nothing passes it either way, and it comes back
            // with no mapping, so that nothing reaches B, from A or through S, until B sends
            // again. B, a receiver, has no retransmission timer of its own.
            n.blocked.extend([(n.addr(A), n.addr(B)), (n.addr(S), n.addr(B))]);
            n.filtered[0].1.clear();
            restarted = Some(n.now);
        }
        if restarted.is_some_and(|at| n.now - at >= Duration::from_millis(200)) {
            n.blocked.clear();
        }
    });
    assert!(got == data, "{} of {} bytes, intact and in order", got.len(), data.len());
    assert!(restarted.is_some(), "the connection went direct and the NAT restarted");
    // PROTOCOL.md §13.8: B's silence watch asks for an ACK after an RTO (1 s: a receiver has
    // no RTT sample), which makes its NAT's mapping toward A again, so that A's next probe
    // gets through (a second silent RTO would have moved B to the relay). Without the watch
    // B's keep-alive comes 25 s later (measured: a 25.06 s stall).
    eprintln!("the longest stall: {stall:?}");
    assert!(stall <= Duration::from_secs(3), "stalled {stall:?}");
}

#[test]
fn a_datagram_claiming_a_relayed_source_is_dropped() {
    let mut net = registered_net(93);
    net.blocked.push((net.addr(A), net.addr(B)));
    net.tapping = true;
    let data = payload(5000);
    let conns = dial(&mut net, &data);
    let got = transfer(&mut net, conns, &data, Duration::from_secs(10), |_, _| {});
    assert!(got == data);
    // A copy of a genuine datagram S sent B (a RELAY packet of B's link), as if it came from the
    // prefix relayed paths use inside an endpoint: no datagram from the network comes from
    // there, whatever it holds.
    let (s, b) = (net.addr(S), net.addr(B));
    let genuine = net.tap.iter().rev().find(|(from, to, _)| *from == s && *to == b).expect("S sent B some");
    let mut forged = genuine.2.clone();
    let from: std::net::SocketAddr = "[100::1:2:3:4]:0".parse().unwrap();
    let before = net.nodes[B].1.stats();
    let now = net.now;
    net.nodes[B].1.handle_datagram(now, from, &mut forged);
    let after = net.nodes[B].1.stats();
    assert_eq!(after.malformed, before.malformed + 1);
    assert_eq!((after.accepted, after.relayed_received), (before.accepted, before.relayed_received));
    assert_eq!(after.accounted(), after.datagrams_received);
    // The same bytes from S's address are no forgery (a replay, counted as one).
    let mut replayed = genuine.2.clone();
    net.nodes[B].1.handle_datagram(now, s, &mut replayed);
    assert_eq!(net.nodes[B].1.stats().replays, before.replays + 1);
}

#[test]
fn an_idle_connection_on_the_relay_moves_to_the_direct_path() {
    let mut net = registered_net(96);
    // The direct path only opens once the connection is established on the relay.
    net.blocked.push((net.addr(A), net.addr(B)));
    let conns = dial(&mut net, b"hello");
    net.drive_until(Duration::from_secs(2), |n| {
        n.nodes[A].1.path(conns.0).is_some_and(|p| p.kind == PathKind::Relayed)
            && n.nodes[B].1.path(conns.1).is_some_and(|p| p.kind == PathKind::Relayed)
    });
    let opened = net.now;
    net.blocked.clear();
    // Nothing more is written: the probes alone (PROTOCOL.md §13.8: rounds RTO, 2·RTO, 4·RTO,
    // then every 15 s) find the direct path.
    net.drive_until(Duration::from_secs(20), |n| {
        n.nodes[A].1.path(conns.0).is_some_and(|p| p.kind == PathKind::Direct)
    });
    eprintln!("direct {:?} after the path opened", net.now - opened);
}

#[test]
fn when_the_service_closes_its_links_the_peers_learn_it_and_it_forgets_them() {
    let mut net = registered_net(97);
    let now = net.now;
    net.nodes[S].1.close_all(now);
    net.drive_until(Duration::from_secs(2), |n| {
        [A, B].iter().all(|&i| n.nodes[i].2.iter().any(|e| matches!(e, Event::RendezvousClosed { .. })))
    });
    // The links were freed as they drained, before the roles ran: the peers still heard why,
    // and the service dropped both registrations.
    assert_eq!(net.nodes[S].1.rendezvous_stats().unwrap().registered, 0);
    // A registers again.
    let (service, key, local) = (net.addr(S), net.nodes[S].1.public_key(), net.addr(A));
    let now = net.now;
    net.nodes[A].1.register(now, service, key, &[local]).unwrap();
    net.drive_until(Duration::from_secs(2), |n| {
        n.nodes[A].2.iter().filter(|e| matches!(e, Event::Registered { .. })).count() == 2
    });
    assert_eq!(net.nodes[S].1.rendezvous_stats().unwrap().registered, 1);
}
