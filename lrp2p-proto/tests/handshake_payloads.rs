//! The payload rules of PROTOCOL.md §5.6 (and §3's non-zero responder id), in every handshake
//! message and both roles: a hand-written peer (the crate's own Noise steps, `internals`)
//! seals payloads written byte by byte, breaking one rule each; every one is dropped with the
//! handshake intact (§4.1: no event, no answer), and the valid message sent next completes it.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;

use common::{Pair, UNIX_NS, events, sent};
use lrp2p_proto::crypto::noise::ik::IkInitiator;
use lrp2p_proto::crypto::noise::prologue;
use lrp2p_proto::handshake::{read_ik_initiation, read_xx_initiation, read_xx_response, write_xx_initiation};
use lrp2p_proto::wire::*;
use lrp2p_proto::{Event, StaticSecret};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const PEER: &str = "10.0.0.7:7000";

/// Segment bytes, written by hand (PROTOCOL.md §7.2–§7.6).
fn ack(cumulative: u32) -> Vec<u8> {
    let mut s = vec![9, 0x01];
    s.extend_from_slice(&cumulative.to_be_bytes());
    s.extend_from_slice(&[0, 0, 64]);
    s
}

fn ack_with_sack(cumulative: u32) -> Vec<u8> {
    let mut s = vec![19, 0x01];
    s.extend_from_slice(&cumulative.to_be_bytes());
    s.extend_from_slice(&[0, 0, 64, 0x01, 8]);
    s.extend_from_slice(&cumulative.wrapping_add(2).to_be_bytes());
    s.extend_from_slice(&cumulative.wrapping_add(2).to_be_bytes());
    s
}

fn data(flags: u8, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut s = vec![6, flags];
    s.extend_from_slice(&seq.to_be_bytes());
    s.extend_from_slice(payload);
    s
}

fn close(seq: u32) -> Vec<u8> {
    let mut s = vec![6, 0x10];
    s.extend_from_slice(&seq.to_be_bytes());
    s.extend_from_slice(&3u16.to_be_bytes());
    s
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// PROTOCOL.md §4.2, §5.6: IK msg 1 carries `timestamp ‖ isn`, then nothing or one DATA
/// segment with `seq = isn`; no ACK, no CLOSE.
#[test]
fn ik_initiations_breaking_the_payload_rules_are_dropped() {
    let mut p = Pair::new(91);
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let me = StaticSecret::generate(&mut rng);
    let peer: SocketAddr = PEER.parse().unwrap();
    let id = ConnectionId(0x4321);
    let isn = 1000u32;
    let b_key = p.b.public_key();
    let head = |ts: u64| cat(&[&ts.to_be_bytes(), &isn.to_be_bytes()]);
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("an ACK segment", cat(&[&head(UNIX_NS + 1), &ack(5)])),
        ("a CLOSE segment", cat(&[&head(UNIX_NS + 2), &close(isn)])),
        ("DATA with seq isn + 1", cat(&[&head(UNIX_NS + 3), &data(0, isn + 1, b"hi")])),
        ("DATA with no payload and no FIN", cat(&[&head(UNIX_NS + 4), &data(0, isn, b"")])),
        ("DATA with a reserved flag", cat(&[&head(UNIX_NS + 5), &data(0x20, isn, b"hi")])),
        ("ACK then DATA", cat(&[&head(UNIX_NS + 6), &ack(5), &data(0, isn, b"hi")])),
        ("a truncated segment", cat(&[&head(UNIX_NS + 7), &[6, 0, 0]])),
    ];
    let now = p.now;
    for (name, plain) in bad {
        let mut noise = vec![0u8; 1400];
        let (_, m) = IkInitiator::start(&mut rng, &me, &b_key, &prologue(id), &plain, &mut noise).unwrap();
        let mut out = vec![0u8; 1500];
        let repr = IkInitiationRepr { sender_id: id, noise: &noise[..m], cookie_mac: [0; 16] };
        let n = repr.emit(&mut out).unwrap();
        let before = p.b.stats();
        p.b.handle_datagram(now, peer, &mut out[..n]);
        assert_eq!(p.b.stats().handshake_failures, before.handshake_failures + 1, "{name}: not dropped");
        assert!(events(&mut p.b).is_empty(), "{name}: made a connection");
        assert!(sent(&mut p.b, now).is_empty(), "{name}: answered");
        assert_eq!(p.b.connection_count(), 0, "{name}");
    }
    // §4.2: Noise fails when the initiator used a static key other than the responder's.
    let other = StaticSecret::generate(&mut rng).public_key();
    let plain = cat(&[&head(UNIX_NS + 8), &data(0, isn, b"hi")]);
    let mut noise = vec![0u8; 1400];
    let (_, m) = IkInitiator::start(&mut rng, &me, &other, &prologue(id), &plain, &mut noise).unwrap();
    let mut out = vec![0u8; 1500];
    let n =
        IkInitiationRepr { sender_id: id, noise: &noise[..m], cookie_mac: [0; 16] }.emit(&mut out).unwrap();
    let before = p.b.stats();
    p.b.handle_datagram(now, peer, &mut out[..n]);
    assert_eq!(p.b.stats().handshake_failures, before.handshake_failures + 1, "sealed for another key");
    assert!(events(&mut p.b).is_empty() && sent(&mut p.b, now).is_empty());
    let plain = cat(&[&head(UNIX_NS + 9), &data(0, isn, b"hi")]);
    let mut noise = vec![0u8; 1400];
    let (_, m) = IkInitiator::start(&mut rng, &me, &b_key, &prologue(id), &plain, &mut noise).unwrap();
    let mut out = vec![0u8; 1500];
    let n =
        IkInitiationRepr { sender_id: id, noise: &noise[..m], cookie_mac: [0; 16] }.emit(&mut out).unwrap();
    p.b.handle_datagram(now, peer, &mut out[..n]);
    let conn = events(&mut p.b)
        .into_iter()
        .find_map(|e| if let Event::Incoming { connection, .. } = e { Some(connection) } else { None })
        .expect("the valid initiation was not accepted");
    p.b.accept(now, conn).unwrap();
    assert!(sent(&mut p.b, now).iter().any(|d| d[0] == 0x12), "no IK response");
}

/// PROTOCOL.md §4.3, §5.6: IK msg 2 carries `responder_id ≠ 0 ‖ isn`, then exactly one ACK
/// (cumulative `isn_i` or `isn_i - 1`, no SACK), then optionally DATA `seq = isn_r` or CLOSE.
#[test]
fn ik_responses_breaking_the_payload_rules_are_dropped() {
    let mut p = Pair::new(92);
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let responder = StaticSecret::generate(&mut rng);
    let peer: SocketAddr = PEER.parse().unwrap();
    let now = p.now;
    let conn = p.a.connect(now, peer, Some(responder.public_key())).unwrap();
    p.a.write(now, conn, b"early").unwrap();
    let init = sent(&mut p.a, now).pop().unwrap();
    let repr = IkInitiationRepr::parse(&init).unwrap();
    let mut plain = vec![0u8; 1400];
    let (state, payload) = read_ik_initiation(&responder, &repr, &mut plain).unwrap();
    let isn_i = payload.isn.0;
    let isn_r = 500u32;
    let head = |id: u64| cat(&[&id.to_be_bytes(), &isn_r.to_be_bytes()]);
    let response = |plain: &[u8], rng: &mut ChaCha20Rng| {
        let mut noise = vec![0u8; 1400];
        let (_, m) = state.clone().write_response(rng, plain, &mut noise).unwrap();
        // Framed by hand: a payload too short makes a datagram below the minimum (§4.3),
        // which the codec refuses to write.
        let mut out = vec![0x12u8];
        out.extend_from_slice(&repr.sender_id.to_bytes());
        out.extend_from_slice(&noise[..m]);
        out
    };
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("responder_id 0 (§3)", cat(&[&head(0), &ack(isn_i)])),
        ("no ACK", head(0x99)),
        ("DATA without an ACK", cat(&[&head(0x99), &data(0, isn_r, b"x")])),
        ("CLOSE without an ACK", cat(&[&head(0x99), &close(isn_r)])),
        ("an ACK with a SACK", cat(&[&head(0x99), &ack_with_sack(isn_i)])),
        ("an ACK of isn_i - 2", cat(&[&head(0x99), &ack(isn_i.wrapping_sub(2))])),
        ("DATA with seq isn_r + 1", cat(&[&head(0x99), &ack(isn_i), &data(0, isn_r + 1, b"x")])),
        ("DATA with no payload and no FIN", cat(&[&head(0x99), &ack(isn_i), &data(0, isn_r, b"")])),
        ("two ACKs", cat(&[&head(0x99), &ack(isn_i), &ack(isn_i)])),
        ("a truncated payload", cat(&[&head(0x99)[..10]])),
    ];
    for (name, plain) in bad {
        let mut d = response(&plain, &mut rng);
        p.a.handle_datagram(now, peer, &mut d);
        let ev = events(&mut p.a);
        assert!(ev.is_empty(), "{name}: completed or ended the handshake: {ev:?}");
        assert!(sent(&mut p.a, now).is_empty(), "{name}: answered");
    }
    let mut good = response(&cat(&[&head(0x99), &ack(isn_i), &data(0, isn_r, b"0.5")]), &mut rng);
    p.a.handle_datagram(now, peer, &mut good);
    let connected = events(&mut p.a).into_iter().find_map(|e| {
        if let Event::Connected { early_data_accepted, .. } = e { Some(early_data_accepted) } else { None }
    });
    assert_eq!(connected, Some(true), "the valid response was not accepted");
    let mut buf = [0u8; 16];
    assert_eq!(p.a.read(now, conn, &mut buf).unwrap(), 3, "0.5-RTT data delivered");
}

/// PROTOCOL.md §3, §4.5: the XX response's payload names a non-zero responder id.
#[test]
fn xx_response_with_responder_id_zero_is_dropped() {
    let mut p = Pair::new(93);
    let mut rng = ChaCha20Rng::seed_from_u64(13);
    let responder = StaticSecret::generate(&mut rng);
    let peer: SocketAddr = PEER.parse().unwrap();
    let now = p.now;
    let _conn = p.a.connect(now, peer, None).unwrap();
    let init = sent(&mut p.a, now).pop().unwrap();
    assert_eq!(init[0], 0x13);
    let repr = XxInitiationRepr::parse(&init).unwrap();
    let response = |id: u64, rng: &mut ChaCha20Rng| {
        let received = read_xx_initiation(&responder, &repr).unwrap();
        let plain = cat(&[&id.to_be_bytes(), &77u32.to_be_bytes()]);
        let mut noise = vec![0u8; 200];
        let (_, m) = received.write_response(rng, &plain, &mut noise).unwrap();
        let mut out = vec![0u8; 200];
        let n = XxResponseRepr { receiver_id: repr.sender_id, noise: noise[..m].try_into().unwrap() }
            .emit(&mut out)
            .unwrap();
        out.truncate(n);
        out
    };
    let mut bad = response(0, &mut rng);
    p.a.handle_datagram(now, peer, &mut bad);
    assert!(events(&mut p.a).is_empty());
    assert!(sent(&mut p.a, now).is_empty(), "a responder id of 0 was answered");
    let mut good = response(0x99, &mut rng);
    p.a.handle_datagram(now, peer, &mut good);
    let finish = sent(&mut p.a, now);
    assert!(finish.iter().any(|d| d[0] == 0x15), "no XX finish after the valid response");
}

/// PROTOCOL.md §4.6, §5.6: XX msg 3 carries `isn`, then optionally one ACK (cumulative
/// `isn_r - 1`, no SACK), then optionally DATA `seq = isn`; no CLOSE.
#[test]
fn xx_finishes_breaking_the_payload_rules_are_dropped() {
    let mut p = Pair::new(94);
    let mut rng = ChaCha20Rng::seed_from_u64(14);
    let me = StaticSecret::generate(&mut rng);
    let peer: SocketAddr = PEER.parse().unwrap();
    let mut init = vec![0u8; 128];
    let (waiting, n) = write_xx_initiation(&mut rng, &me, ConnectionId(0x5678), None, &mut init).unwrap();
    let now = p.now;
    p.b.handle_datagram(now, peer, &mut init[..n]);
    let response = sent(&mut p.b, now).pop().expect("an XX response");
    let rrepr = XxResponseRepr::parse(&response).unwrap();
    let isn_r = read_xx_response(&waiting, &rrepr).unwrap().1.isn.0;
    let isn = 77u32;
    let finish = |plain: &[u8]| {
        let (received, payload) = read_xx_response(&waiting, &rrepr).unwrap();
        let mut noise = vec![0u8; 1400];
        let (_, m) = received.write_finish(plain, &mut noise).unwrap();
        let mut out = vec![0u8; 1500];
        let len =
            XxFinishRepr { receiver_id: payload.responder_id, noise: &noise[..m] }.emit(&mut out).unwrap();
        out.truncate(len);
        out
    };
    let head = isn.to_be_bytes();
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("a CLOSE segment", cat(&[&head, &close(isn)])),
        ("an ACK then a CLOSE", cat(&[&head, &ack(isn_r.wrapping_sub(1)), &close(isn)])),
        ("DATA with seq isn + 1", cat(&[&head, &data(0, isn + 1, b"x")])),
        ("DATA with no payload and no FIN", cat(&[&head, &data(0, isn, b"")])),
        ("DATA with a reserved flag", cat(&[&head, &data(0x40, isn, b"x")])),
        ("two ACKs", cat(&[&head, &ack(isn_r.wrapping_sub(1)), &ack(isn_r.wrapping_sub(1))])),
        ("an ACK of isn_r + 5", cat(&[&head, &ack(isn_r.wrapping_add(5))])),
        ("an ACK with a bad data_offset", {
            let mut a = ack(isn_r.wrapping_sub(1));
            a[0] = 8;
            cat(&[&head, &a])
        }),
    ];
    for (name, plain) in bad {
        let mut d = finish(&plain);
        p.b.handle_datagram(now, peer, &mut d);
        assert!(events(&mut p.b).is_empty(), "{name}: made a connection");
        assert!(sent(&mut p.b, now).is_empty(), "{name}: answered");
    }
    let mut good = finish(&cat(&[&head, &ack(isn_r.wrapping_sub(1)), &data(0, isn, b"x")]));
    p.b.handle_datagram(now, peer, &mut good);
    let conn = events(&mut p.b)
        .into_iter()
        .find_map(|e| if let Event::Incoming { connection, .. } = e { Some(connection) } else { None })
        .expect("the valid finish was not accepted");
    p.b.accept(now, conn).unwrap();
    assert!(sent(&mut p.b, now).iter().any(|d| d[0] == 0x18), "no ACK for the valid finish");
}

/// PROTOCOL.md §4.7, §10.3: a cookie reply from another address than the initiation went to
/// is dropped (SHOULD); a valid one makes the initiator send its initiation once more, with a
/// cookie MAC; a second copy of it draws nothing (at most one per initiation sent).
#[test]
fn a_cookie_reply_draws_one_retransmission_and_only_from_the_responder() {
    for ik in [true, false] {
        let mut p = Pair::new(95);
        let mut rng = ChaCha20Rng::seed_from_u64(15);
        let responder = StaticSecret::generate(&mut rng);
        let peer: SocketAddr = PEER.parse().unwrap();
        let elsewhere: SocketAddr = "10.0.0.8:7000".parse().unwrap();
        let now = p.now;
        let _conn = p.a.connect(now, peer, ik.then(|| responder.public_key())).unwrap();
        let init = sent(&mut p.a, now).pop().unwrap();
        let reply = CookieReplyRepr {
            receiver_id: ConnectionId(u64::from_be_bytes(init[9..17].try_into().unwrap())),
            echo: init[17..33].try_into().unwrap(),
            cookie: [7; 16],
        };
        let mut bytes = [0u8; 41];
        reply.emit(&mut bytes).unwrap();
        p.a.handle_datagram(now, elsewhere, &mut bytes.clone());
        assert!(sent(&mut p.a, now).is_empty(), "ik {ik}: a cookie reply from elsewhere was taken");
        p.a.handle_datagram(now, peer, &mut bytes.clone());
        let again = sent(&mut p.a, now);
        assert_eq!(again.len(), 1, "ik {ik}: one initiation per cookie reply");
        assert_eq!(again[0][..again[0].len() - 16], init[..init.len() - 16], "ik {ik}: same Noise message");
        assert_ne!(again[0][again[0].len() - 16..], [0u8; 16], "ik {ik}: a cookie MAC");
        p.a.handle_datagram(now, peer, &mut bytes.clone());
        assert!(sent(&mut p.a, now).is_empty(), "ik {ik}: a second cookie reply was taken");
        assert!(events(&mut p.a).is_empty());
    }
}
