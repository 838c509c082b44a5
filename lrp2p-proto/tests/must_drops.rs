//! Every datagram-level MUST-drop rule of PROTOCOL.md §2–§6 (the list is docs/MUSTS.md), from
//! the outside: two real endpoints, one genuine datagram of each handshake step held back,
//! bad variants of it (and of the other datagrams that could arrive then) delivered first —
//! each must be dropped, counted, answered with nothing and leave no trace — then the genuine
//! one, after which the handshake completes and data flows both ways.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use common::{Pair, Side};
use lrp2p_proto::{EndpointStats, Event};

/// What the receiving endpoint did with one bad datagram.
fn drops(stats: &EndpointStats) -> u64 {
    stats.accounted() - stats.accepted
}

/// A named bad variant of a genuine datagram.
type Variant = (&'static str, Vec<u8>);

/// Variants every datagram admits, whatever its type: PROTOCOL.md §2 (empty, unknown version
/// or type) and §4.1/§6.1 (shorter than its type's minimum).
fn common_variants(genuine: &[u8], minimum: usize) -> Vec<Variant> {
    let mut out: Vec<Variant> = vec![("empty (§2)", Vec::new())];
    for (name, first) in [
        ("type 0x10 (§2)", 0x10u8),
        ("type 0x17 (§2)", 0x17),
        ("type 0x1a (§2)", 0x1a),
        ("type 0x1f (§2)", 0x1f),
        ("version 0 (§2)", genuine[0] & 0x0f),
        ("version 2 (§2)", 0x20 | (genuine[0] & 0x0f)),
        ("version 15 (§2)", 0xf0 | (genuine[0] & 0x0f)),
    ] {
        let mut d = genuine.to_vec();
        d[0] = first;
        out.push((name, d));
    }
    out.push(("one byte short of the minimum (§4.1, §6.1)", genuine[..minimum - 1].to_vec()));
    out.push(("first byte only (§4.1)", genuine[..1].to_vec()));
    out
}

/// `genuine` with `at..at + 8` set to `value` (a connection id field).
fn with_id(genuine: &[u8], at: usize, value: u64) -> Vec<u8> {
    let mut d = genuine.to_vec();
    d[at..at + 8].copy_from_slice(&value.to_be_bytes());
    d
}

fn flipped(genuine: &[u8], at: usize) -> Vec<u8> {
    let mut d = genuine.to_vec();
    d[at] ^= 0x01;
    d
}

fn zeroed(genuine: &[u8], range: std::ops::Range<usize>) -> Vec<u8> {
    let mut d = genuine.to_vec();
    d[range].fill(0);
    d
}

fn longer(genuine: &[u8]) -> Vec<u8> {
    let mut d = genuine.to_vec();
    d.push(0);
    d
}

/// A transport-shaped datagram to connection `id`: random-looking body, not sealed.
fn transport_to(id: &[u8], len: usize) -> Vec<u8> {
    let mut d = vec![0x18u8];
    d.extend_from_slice(id);
    d.extend((0..len - 9).map(|i| (i * 37 + 11) as u8));
    d
}

/// Runs A → B (IK or XX). The first datagram of type `first` leaving `from` is held back;
/// `variants` makes the bad datagrams from it, delivered to the other side, each checked as
/// dropped; then the genuine one is delivered and the connection must carry data both ways.
fn bad_then_genuine(seed: u64, ik: bool, from: Side, first: u8, variants: impl Fn(&[u8]) -> Vec<Variant>) {
    // Keep-alives every 200 ms: the harness steps to the next deadline, and without them the
    // step right after the capture of a lone packet would leap to the handshake timeout.
    let mut config = common::fresh_keys();
    config.connection.keep_alive = Some(Duration::from_millis(200));
    let mut p = Pair::with_config(seed, config.clone(), config);
    let held: Rc<RefCell<Option<Vec<u8>>>> = Rc::default();
    let h = held.clone();
    p.filter = Box::new(move |side, d| {
        if side == from && d.first() == Some(&first) && h.borrow().is_none() {
            *h.borrow_mut() = Some(d.to_vec());
            return false;
        }
        true
    });
    let (now, b_addr, b_key) = (p.now, p.b_addr, p.b.public_key());
    let conn = p.a.connect(now, b_addr, ik.then_some(b_key)).unwrap();
    p.a.write(now, conn, b"from a").unwrap();
    p.drive_until(Duration::from_secs(5), |p| {
        p.accept_all();
        held.borrow().is_some()
    });
    let genuine = held.borrow().clone().unwrap();
    let (to, source) = match from {
        Side::A => (Side::B, p.a_addr),
        Side::B => (Side::A, p.b_addr),
    };
    p.flush();
    let events_before = match to {
        Side::A => p.a_events.len(),
        Side::B => p.b_events.len(),
    };
    let connections = p.endpoint(to).connection_count();
    for (name, mut bad) in variants(&genuine) {
        let before = p.endpoint(to).stats();
        let sent = p.sent;
        let now = p.now;
        p.endpoint(to).handle_datagram(now, source, &mut bad);
        p.flush();
        let after = p.endpoint(to).stats();
        assert_eq!(drops(&after), drops(&before) + 1, "{name}: not dropped: {after:?}");
        assert_eq!(after.accepted, before.accepted, "{name}: accepted");
        assert_eq!(p.sent, sent, "{name}: answered");
        assert_eq!(p.endpoint(to).connection_count(), connections, "{name}: made or ended a connection");
        if let Some(e) = p.endpoint(to).poll_event() {
            panic!("{name}: an event: {e:?}");
        }
    }
    let events = match to {
        Side::A => p.a_events.len(),
        Side::B => p.b_events.len(),
    };
    assert_eq!(events, events_before);
    // The genuine datagram completes the handshake; data flows both ways.
    let (now, mut genuine) = (p.now, genuine);
    let before = p.endpoint(to).stats();
    p.endpoint(to).handle_datagram(now, source, &mut genuine);
    let after = p.endpoint(to).stats();
    assert_eq!(after.accepted, before.accepted + 1, "the genuine datagram: {before:?} {after:?}");
    let mut got_b = Vec::new();
    let mut b_conn = None;
    p.drive_until(Duration::from_secs(10), |p| {
        p.accept_all();
        if b_conn.is_none() {
            b_conn = p.accepted.first().copied();
            if let Some(c) = b_conn {
                let now = p.now;
                p.b.write(now, c, b"from b").unwrap();
            }
        }
        if let Some(c) = b_conn {
            p.read_all(Side::B, c, &mut got_b);
        }
        got_b == b"from a"
    });
    let mut got_a = Vec::new();
    p.drive_until(Duration::from_secs(10), |p| {
        p.read_all(Side::A, conn, &mut got_a);
        got_a == b"from b"
    });
    assert!(p.a_events.iter().any(|e| matches!(e, Event::Connected { .. })));
    assert!(!p.a_events.iter().chain(&p.b_events).any(|e| matches!(e, Event::Closed { .. })));
}

/// §2, §3, §4.1, §4.2, §5.1: bad IK initiations leave no state and get no answer.
#[test]
fn bad_ik_initiations_are_dropped_and_the_genuine_one_connects() {
    bad_then_genuine(81, true, Side::A, 0x11, |g| {
        let mut v = common_variants(g, 141);
        v.push(("receiver_id not 0 (§3)", with_id(g, 1, 0x0102)));
        v.push(("sender_id 0 (§3)", with_id(g, 9, 0)));
        v.push(("e flipped: Noise fails (§4.2)", flipped(g, 20)));
        v.push(("enc(s) flipped (§4.2)", flipped(g, 60)));
        v.push(("enc(payload) flipped (§4.2)", flipped(g, 100)));
        v.push(("e all zero: DH result zero (§5.1)", zeroed(g, 17..49)));
        v.push(("sent as an XX initiation (§4.4 length)", {
            let mut d = g.to_vec();
            d[0] = 0x13;
            d
        }));
        v
    });
}

/// §2, §3, §4.1, §4.4, §5.1: bad XX initiations; an all-zero ephemeral key makes the
/// responder's `ee` zero, so it cannot answer.
#[test]
fn bad_xx_initiations_are_dropped_and_the_genuine_one_connects() {
    bad_then_genuine(82, false, Side::A, 0x13, |g| {
        let mut v = common_variants(g, 65);
        v.push(("one byte longer (fixed size, §4.1)", longer(g)));
        v.push(("receiver_id not 0 (§3)", with_id(g, 1, 0x0102)));
        v.push(("sender_id 0 (§3)", with_id(g, 9, 0)));
        v.push(("e all zero: DH result zero (§5.1)", zeroed(g, 17..49)));
        v
    });
}

/// §2, §3, §4.1, §4.3, §4.7, §4.8, §5.1: while A waits for the IK response, bad responses,
/// bad cookie replies and transport packets before its keys are dropped.
#[test]
fn bad_ik_responses_are_dropped_and_the_genuine_one_connects() {
    bad_then_genuine(83, true, Side::B, 0x12, |g| {
        let mut v = common_variants(g, 78);
        v.push(("receiver_id 0 (§3)", with_id(g, 1, 0)));
        v.push(("receiver_id unknown (§3, §4.3)", with_id(g, 1, 0x0bad)));
        v.push(("e flipped: Noise fails (§4.3)", flipped(g, 12)));
        v.push(("enc(payload) flipped (§4.3)", flipped(g, 50)));
        v.push(("tag flipped (§4.3)", flipped(g, g.len() - 1)));
        v.push(("e all zero: DH result zero (§5.1)", zeroed(g, 9..41)));
        v.push(("an XX response to an IK handshake (§3)", {
            let mut d = vec![0x14u8; 117];
            d[1..9].copy_from_slice(&g[1..9]);
            d
        }));
        let cookie = |echo: u8, len: usize| {
            let mut d = vec![0x16u8];
            d.extend_from_slice(&g[1..9]);
            d.extend(std::iter::repeat_n(echo, len - 9));
            d
        };
        v.push(("cookie reply with a wrong echo (§4.7)", cookie(0x5a, 41)));
        v.push(("cookie reply of 40 bytes (§4.7)", cookie(0x5a, 40)));
        v.push(("cookie reply of 42 bytes (§4.7)", cookie(0x5a, 42)));
        v.push(("cookie reply to an unknown id (§4.7)", with_id(&cookie(0x5a, 41), 1, 0x0bad)));
        v.push(("transport before the keys (§4.8)", transport_to(&g[1..9], 60)));
        v
    });
}

/// §2, §3, §4.1, §4.5, §4.8, §5.1: while A waits for the XX response.
#[test]
fn bad_xx_responses_are_dropped_and_the_genuine_one_connects() {
    bad_then_genuine(84, false, Side::B, 0x14, |g| {
        let mut v = common_variants(g, 117);
        v.push(("one byte longer (fixed size, §4.1)", longer(g)));
        v.push(("receiver_id 0 (§3)", with_id(g, 1, 0)));
        v.push(("receiver_id unknown (§3, §4.5)", with_id(g, 1, 0x0bad)));
        v.push(("e flipped: Noise fails (§4.5)", flipped(g, 12)));
        v.push(("enc(s) flipped (§4.5)", flipped(g, 50)));
        v.push(("enc(payload) flipped (§4.5)", flipped(g, 100)));
        v.push(("e all zero: DH result zero (§5.1)", zeroed(g, 9..41)));
        v.push(("an IK response to an XX handshake (§3)", {
            let mut d = g.to_vec();
            d[0] = 0x12;
            d
        }));
        v.push(("transport before the keys (§4.8)", transport_to(&g[1..9], 60)));
        v
    });
}

/// §2, §3, §4.1, §4.6, §4.8: while B waits for the XX finish.
#[test]
fn bad_xx_finishes_are_dropped_and_the_genuine_one_connects() {
    bad_then_genuine(85, false, Side::A, 0x15, |g| {
        let mut v = common_variants(g, 77);
        v.push(("receiver_id 0 (§3)", with_id(g, 1, 0)));
        v.push(("receiver_id unknown (§3, §4.6)", with_id(g, 1, 0x0bad)));
        v.push(("enc(s) flipped: Noise fails (§4.6)", flipped(g, 20)));
        v.push(("enc(payload) flipped (§4.6)", flipped(g, 60)));
        v.push(("tag flipped (§4.6)", flipped(g, g.len() - 1)));
        v.push(("an IK response to a responder (§3)", {
            let mut d = g.to_vec();
            d[0] = 0x12;
            d
        }));
        v.push(("an XX response to a responder (§3)", {
            let mut d = vec![0x14u8; 117];
            d[1..9].copy_from_slice(&g[1..9]);
            d
        }));
        v.push(("a cookie reply to a responder (§3)", {
            let mut d = vec![0x16u8; 41];
            d[1..9].copy_from_slice(&g[1..9]);
            d
        }));
        v.push(("transport before the keys (§4.8)", transport_to(&g[1..9], 60)));
        v
    });
}

/// §2, §3, §6.1, §6.3, §6.4, §6.5, §9.1: bad transport packets in the middle of a transfer
/// are dropped, and the transfer completes. The held packet is A's first transport packet
/// (it confirms the IK handshake).
#[test]
fn bad_transport_packets_are_dropped_and_the_transfer_completes() {
    bad_then_genuine(86, true, Side::A, 0x18, |g| {
        let mut v = common_variants(g, 34);
        v.push(("receiver_id 0 (§3)", with_id(g, 1, 0)));
        v.push(("receiver_id unknown (§3)", with_id(g, 1, 0x0bad)));
        v.push(("counter changed: tag fails (§6.4)", with_id(g, 9, 5)));
        v.push(("counter 2^64 - 1 (§6.3)", with_id(g, 9, u64::MAX)));
        v.push(("counter 2^64 - 2^16 (§6.3)", with_id(g, 9, u64::MAX - 0xffff)));
        v.push(("ciphertext flipped (§6.4)", flipped(g, 20)));
        v.push(("tag flipped (§6.4)", flipped(g, g.len() - 1)));
        v.push(("phase bit flipped: no such key (§6.5)", {
            let mut d = g.to_vec();
            d[0] = 0x19;
            d
        }));
        v.push(("a handshake type to a transport connection (§3)", {
            let mut d = g.to_vec();
            d[0] = 0x14;
            d.resize(117, 0);
            d
        }));
        v
    });
}

/// §9.1: a transport packet that was already received is dropped as a replay, also when it
/// comes back much later; the transfer goes on.
#[test]
fn replayed_transport_packets_are_dropped() {
    let mut p = Pair::new(87);
    let copies: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let c = copies.clone();
    p.filter = Box::new(move |side, d| {
        if side == Side::A && d[0] == 0x18 {
            c.borrow_mut().push(d.to_vec());
        }
        true
    });
    let (conn, incoming) = p.connect(true);
    let now = p.now;
    p.a.write(now, conn, &[3u8; 20_000]).unwrap();
    let mut got = Vec::new();
    p.drive_until(Duration::from_secs(10), |p| {
        p.read_all(Side::B, incoming, &mut got);
        got.len() == 20_000
    });
    let packets = copies.borrow().clone();
    assert!(packets.len() > 10);
    p.flush();
    let before = p.b.stats();
    let sent = p.sent;
    for mut d in packets.clone() {
        let now = p.now;
        p.b.handle_datagram(now, p.a_addr, &mut d);
    }
    p.flush();
    let after = p.b.stats();
    assert_eq!(after.replays, before.replays + packets.len() as u64, "{after:?}");
    assert_eq!(p.sent, sent, "replays were answered");
    let now = p.now;
    p.a.write(now, conn, b"more").unwrap();
    p.drive_until(Duration::from_secs(10), |p| {
        p.read_all(Side::B, incoming, &mut got);
        got.len() == 20_004
    });
}

/// §4.8: an XX finish addressed to a completed connection is answered, if it is a
/// retransmission of the finish that completed it, with one ACK (a transport packet) per
/// datagram; any other 0x15 datagram to it, even of the same length, is dropped unanswered.
#[test]
fn a_retransmitted_xx_finish_gets_one_ack_and_any_other_gets_nothing() {
    let mut p = Pair::new(88);
    let finish: Rc<RefCell<Option<Vec<u8>>>> = Rc::default();
    let f = finish.clone();
    p.filter = Box::new(move |side, d| {
        if side == Side::A && d[0] == 0x15 && f.borrow().is_none() {
            *f.borrow_mut() = Some(d.to_vec());
        }
        true
    });
    let (conn, _) = p.connect(false);
    let now = p.now;
    p.a.write(now, conn, b"x").unwrap();
    p.drive_for(Duration::from_millis(200));
    p.flush();
    p.wire.clear();
    let finish = finish.borrow().clone().expect("A's XX finish");
    for _ in 0..2 {
        let sent = p.sent;
        let (now, from) = (p.now, p.a_addr);
        p.b.handle_datagram(now, from, &mut finish.clone());
        p.flush();
        assert_eq!(p.sent[1], sent[1] + 1, "one answer per retransmitted finish");
        assert_eq!(p.wire.back().map(|d| d.data[0]), Some(0x18), "the answer is a transport packet");
    }
    let mut other = finish.clone();
    for (i, b) in other.iter_mut().enumerate().skip(9) {
        *b = (i * 31) as u8;
    }
    let sent = p.sent;
    let (now, from) = (p.now, p.a_addr);
    p.b.handle_datagram(now, from, &mut other);
    p.flush();
    assert_eq!(p.sent, sent, "another 0x15 datagram to a completed connection was answered");
}
