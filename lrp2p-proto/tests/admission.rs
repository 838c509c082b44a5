//! Admission under attack (PROTOCOL.md §10): floods of valid IK initiations from forged
//! addresses, a captured initiation replayed from many addresses, XX floods and silent
//! confirmed connections from one address. After each, a legitimate peer still connects at
//! once, and no single address takes the tables. And every datagram the endpoint is handed
//! ends in exactly one counter.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Pair, UNIX_NS};
use lrp2p_proto::{CloseReason, Endpoint, EndpointConfig, Event, PublicKey, StaticSecret};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// A forged source: 10.9.x.y, one per `i`, spread over /24s.
fn forged(i: u32) -> SocketAddr {
    let [_, _, hi, lo] = i.to_be_bytes();
    SocketAddr::from(([10, 9, hi, lo], 4000))
}

/// A valid IK initiation to `server` with a little early data, from a fresh identity (what an
/// attacker who knows the server's public key can make at will).
fn initiation(seed: u64, now: Instant, server: SocketAddr, key: PublicKey) -> Vec<u8> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let identity = StaticSecret::generate(&mut rng);
    let mut attacker = Endpoint::new(common::fresh_keys(), identity, rng, now, UNIX_NS);
    let conn = attacker.connect(now, server, Some(key)).unwrap();
    attacker.write(now, conn, b"junk").unwrap();
    let mut buf = [0u8; 1500];
    let t = attacker.poll_transmit(now, &mut buf).unwrap();
    buf[..t.len].to_vec()
}

/// Everything `p.b` has to send now, dropped (sent to forged addresses that cannot answer):
/// returns the bytes per destination kind (to the legitimate `A` and to others).
fn drain_b(p: &mut Pair) -> (u64, u64) {
    let mut buf = [0u8; 1500];
    let (mut to_a, mut others) = (0, 0);
    while let Some(t) = p.b.poll_transmit(p.now, &mut buf) {
        if t.destination == p.a_addr {
            to_a += t.len as u64;
        } else {
            others += t.len as u64;
        }
    }
    (to_a, others)
}

/// B accepts every incoming connection, as a server whose application takes every peer.
fn accept_incoming(p: &mut Pair) {
    let now = p.now;
    while let Some(event) = p.b.poll_event() {
        if let Event::Incoming { connection, .. } = event {
            p.b.accept(now, connection).unwrap();
        }
        p.b_events.push(event);
    }
}

#[test]
fn a_flood_of_valid_ik_initiations_turns_cookies_on_and_a_legitimate_peer_gets_in() {
    let mut p = Pair::new(51);
    let (now, b_addr, b_key) = (p.now, p.b_addr, p.b.public_key());
    let config = EndpointConfig::default();
    let flood = 3000u32;
    for i in 0..flood {
        let mut d = initiation(u64::from(i) + 1000, now, b_addr, b_key);
        p.b.handle_datagram(now, forged(i), &mut d);
        accept_incoming(&mut p);
    }
    drain_b(&mut p);
    let stats = p.b.stats();
    // Past the half-open threshold every initiation without a cookie got a cookie reply and no
    // Diffie-Hellman work; no more connections than that were made.
    assert!(stats.accepted <= config.cookie_threshold as u64, "{stats:?}");
    assert_eq!(
        stats.accepted + stats.cookie_replies + stats.cookie_replies_dropped,
        u64::from(flood),
        "{stats:?}"
    );
    assert!(p.b.connection_count() <= config.cookie_threshold);
    // The legitimate peer: its first initiation meets a cookie reply, its second (with the
    // cookie) gets in — one round trip more.
    let started = p.now;
    let conn = p.a.connect(p.now, b_addr, Some(b_key)).unwrap();
    p.a.write(p.now, conn, b"hello").unwrap();
    p.drive_until(Duration::from_secs(1), |p| {
        p.accept_all();
        p.a_events.iter().any(|e| matches!(e, Event::Connected { connection, .. } if *connection == conn))
    });
    // Initiation, cookie reply, initiation with the cookie, response: two round trips.
    assert!(p.now - started <= 4 * p.latency + Duration::from_millis(1), "took {:?}", p.now - started);
    assert!(p.b.stats().cookie_replies > stats.cookie_replies, "the legitimate peer met a cookie");
}

#[test]
fn forged_connections_end_unconfirmed_at_the_handshake_timeout_and_free_their_slots() {
    let mut p = Pair::new(52);
    let (now, b_addr, b_key) = (p.now, p.b_addr, p.b.public_key());
    for i in 0..100 {
        let mut d = initiation(u64::from(i) + 5000, now, b_addr, b_key);
        p.b.handle_datagram(now, forged(i), &mut d);
    }
    accept_incoming(&mut p);
    let incoming: Vec<_> = p
        .b_events
        .iter()
        .filter_map(|e| if let Event::Incoming { connection, .. } = e { Some(*connection) } else { None })
        .collect();
    assert_eq!(incoming.len(), 100);
    // Accepted at once, and their 0-RTT data is readable (0-RTT stays).
    let mut buf = [0u8; 16];
    let n = p.b.read(now, incoming[0], &mut buf).unwrap();
    assert_eq!(&buf[..n], b"junk");
    // Nothing ever confirms them: after the handshake timeout they end, and their state goes
    // once the application lets go.
    p.drive_for(Duration::from_secs(11));
    drain_b(&mut p);
    accept_incoming(&mut p);
    let unconfirmed = p
        .b_events
        .iter()
        .filter(|e| matches!(e, Event::Closed { reason: CloseReason::Unconfirmed, .. }))
        .count();
    assert_eq!(unconfirmed, 100);
    assert!(!p.b_events.iter().any(|e| matches!(e, Event::Confirmed { .. })), "none ever confirmed");
    for handle in incoming {
        let _ = p.b.release(p.now, handle);
    }
    assert_eq!(p.b.connection_count(), 0);
}

#[test]
fn a_captured_initiation_replayed_from_many_addresses_makes_one_connection() {
    let mut p = Pair::new(53);
    let (now, b_addr, b_key) = (p.now, p.b_addr, p.b.public_key());
    let captured = initiation(7, now, b_addr, b_key);
    for i in 0..1100 {
        let mut d = captured.clone();
        p.b.handle_datagram(now, forged(i), &mut d);
    }
    accept_incoming(&mut p);
    let mut buf = [0u8; 1500];
    let mut responses = 0;
    while let Some(t) = p.b.poll_transmit(p.now, &mut buf) {
        // PROTOCOL.md §2: 0x12 is an IK response.
        responses += usize::from(buf[0] == 0x12 && t.destination != p.a_addr);
    }
    let stats = p.b.stats();
    assert_eq!(stats.accepted, 1, "{stats:?}");
    // Every replay is dropped: after Diffie-Hellman while the handshake budget lasts (1000 a
    // second), then, under load, before it (a cookie reply, or nothing when their queue is full).
    assert_eq!(
        stats.replayed_initiations + stats.cookie_replies + stats.cookie_replies_dropped,
        1099,
        "{stats:?}"
    );
    assert!(stats.replayed_initiations >= 990, "{stats:?}");
    assert_eq!(p.b.connection_count(), 1);
    // One response, to the first address: no fan-out.
    assert_eq!(responses, 1);
    p.b_events.clear();
    let (conn, _) = p.connect(true);
    p.drive_for(Duration::from_millis(100));
    assert!(
        p.a_events.iter().any(|e| matches!(e, Event::Connected { connection, .. } if *connection == conn)),
        "{:?} {:?}",
        p.a_events,
        p.b.stats()
    );
}

#[test]
fn one_address_holds_no_more_than_its_share() {
    let mut p = Pair::new(54);
    let limits = EndpointConfig::default().address_limits;
    let (now, b_addr) = (p.now, p.b_addr);
    // XX initiations from one address, all answered: half-open ones stop at the address's share.
    let one = SocketAddr::from(([10, 8, 0, 1], 7000));
    let mut buf = [0u8; 1500];
    for i in 0..200u64 {
        let mut rng = ChaCha20Rng::seed_from_u64(9000 + i);
        let identity = StaticSecret::generate(&mut rng);
        let mut attacker = Endpoint::new(common::fresh_keys(), identity, rng, now, UNIX_NS);
        attacker.connect(now, b_addr, None).unwrap();
        let t = attacker.poll_transmit(now, &mut buf).unwrap();
        let mut d = buf[..t.len].to_vec();
        p.b.handle_datagram(now, one, &mut d);
    }
    drain_b(&mut p);
    let stats = p.b.stats();
    assert_eq!(stats.accepted, limits.half_open_per_address as u64, "{stats:?}");
    assert!(p.b.connection_count() <= limits.half_open_per_address);
    assert_eq!(stats.refused_by_address, 200 - limits.half_open_per_address as u64);
    // Another host still gets in at once.
    let (conn, _) = p.connect(false);
    p.drive_for(Duration::from_millis(100));
    assert!(
        p.a_events.iter().any(|e| matches!(e, Event::Connected { connection, .. } if *connection == conn))
    );
}

#[test]
fn silent_confirmed_connections_from_one_address_stop_at_its_share() {
    let mut config = common::fresh_keys();
    config.address_limits.connections_per_address = 20;
    let mut p = Pair::with_config(55, common::fresh_keys(), config);
    for _ in 0..30 {
        let b_key = p.b.public_key();
        let (now, b_addr) = (p.now, p.b_addr);
        p.a.connect(now, b_addr, Some(b_key)).unwrap();
        p.drive_for(Duration::from_millis(50));
        p.accept_all();
    }
    p.drive_for(Duration::from_millis(200));
    assert_eq!(p.b.connection_count(), 20);
    assert!(p.b.stats().refused_by_address >= 10, "{:?}", p.b.stats());
}

#[test]
fn every_datagram_lands_in_exactly_one_counter() {
    let mut p = Pair::new(56);
    let (a_conn, _) = p.connect(true);
    p.drive_for(Duration::from_millis(100));
    let now = p.now;
    p.a.write(now, a_conn, &[3u8; 50_000]).unwrap();
    // Record what A sends, to replay and mutate it.
    let mut captured = Vec::new();
    let mut buf = [0u8; 1500];
    while let Some(t) = p.a.poll_transmit(now, &mut buf) {
        captured.push(buf[..t.len].to_vec());
    }
    let mut rng = ChaCha20Rng::seed_from_u64(77);
    let mut garbage = |len: usize| {
        let mut v = vec![0u8; len];
        rand_core::RngCore::fill_bytes(&mut rng, &mut v);
        v
    };
    let (b_addr, b_key) = (p.b_addr, p.b.public_key());
    for (i, d) in captured.iter().enumerate() {
        let mut real = d.clone();
        p.b.handle_datagram(now, p.a_addr, &mut real);
        // The same again (replays), a flipped byte (auth failure), a truncation (malformed).
        let mut again = d.clone();
        p.b.handle_datagram(now, p.a_addr, &mut again);
        let mut flipped = d.clone();
        let at = 20 + i % (flipped.len() - 20);
        flipped[at] ^= 0x40;
        p.b.handle_datagram(now, p.a_addr, &mut flipped);
        let mut cut = d[..d.len().min(12)].to_vec();
        p.b.handle_datagram(now, p.a_addr, &mut cut);
        // Random bytes, random bytes that look like each type, unknown ids, initiations.
        let mut noise = garbage(i % 1400 + 1);
        p.b.handle_datagram(now, forged(i as u32), &mut noise);
        for first in [0x11u8, 0x12, 0x13, 0x14, 0x15, 0x16, 0x18, 0x19] {
            let mut typed = garbage(200);
            typed[0] = first;
            p.b.handle_datagram(now, forged(i as u32), &mut typed);
        }
        let mut init = initiation(i as u64, now, b_addr, b_key);
        p.b.handle_datagram(now, forged(i as u32), &mut init);
        let mut dup = init.clone();
        p.b.handle_datagram(now, forged(i as u32), &mut dup);
    }
    let stats = p.b.stats();
    assert!(stats.datagrams_received > 100, "{stats:?}");
    assert_eq!(stats.datagrams_received, stats.accounted(), "{stats:?}");
    assert!(stats.replays > 0 && stats.auth_failures > 0 && stats.malformed > 0, "{stats:?}");
    assert!(stats.unknown_connection > 0 && stats.duplicate_initiations > 0, "{stats:?}");
}

/// `Event::Confirmed` marks the end of the half-open state (PROTOCOL.md §10.5): an IK responder
/// gets it with the initiator's first authenticated transport packet, after `Connected`; an XX
/// responder right after `Connected` (its finish confirmed it). Initiators never get it.
#[test]
fn a_genuine_responder_connection_is_confirmed_after_connected() {
    for ik in [true, false] {
        let mut p = Pair::new(if ik { 61 } else { 62 });
        let (a, b) = p.connect(ik);
        // A's side: its first transport packet (the ACK of the response, or of B's data).
        p.a.write(p.now, a, b"hello").unwrap();
        p.drive_for(Duration::from_secs(1));
        let position = |events: &[Event], want: fn(&Event) -> bool| events.iter().position(want);
        let connected = position(&p.b_events, |e| matches!(e, Event::Connected { .. }));
        let confirmed = position(&p.b_events, |e| matches!(e, Event::Confirmed { .. }));
        assert!(connected.is_some() && confirmed > connected, "ik {ik}: {:?}", p.b_events);
        assert!(p.b_events.contains(&Event::Confirmed { connection: b }), "ik {ik}");
        assert!(!p.a_events.iter().any(|e| matches!(e, Event::Confirmed { .. })), "ik {ik}: initiator");
    }
}
