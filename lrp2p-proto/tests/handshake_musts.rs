//! Malformed handshake messages are dropped with the handshake intact (PROTOCOL.md §4.1,
//! §5.6), in both roles: a hand-written peer (the crate's own Noise steps, `internals`) sends
//! the bad message, then the valid one, which must complete the handshake. And §3: a datagram
//! type the connection never had (an XX finish to an IK connection) gets nothing.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Pair, Side, sent};
use lrp2p_proto::handshake::{read_ik_initiation, read_xx_response, write_ik_response, write_xx_initiation};
use lrp2p_proto::wire::*;
use lrp2p_proto::{Event, StaticSecret};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const PEER: &str = "10.0.0.7:7000";

fn ack(cumulative: Seq) -> AckRepr {
    AckRepr {
        cumulative,
        window: 64,
        ping: false,
        sack: SackRanges::default(),
        ack_delay_us: None,
        dsack: DsackRanges::default(),
        echo: None,
    }
}

/// An XX finish sealed with a fresh copy of the initiator's state: `isn u32 ‖ segments`
/// written by hand, so that invalid ACKs can be sent.
fn finish(
    waiting: &lrp2p_proto::crypto::noise::xx::XxInitiatorWaiting,
    response: &[u8],
    isn: u32,
    ack: &AckRepr,
) -> (Vec<u8>, ConnectionId) {
    let repr = XxResponseRepr::parse(response).unwrap();
    let (received, payload) = read_xx_response(waiting, &repr).unwrap();
    let mut plain = vec![0u8; 512];
    plain[..4].copy_from_slice(&isn.to_be_bytes());
    let n = Segments { ack: Some(*ack), tail: None }.emit(&mut plain[4..]).unwrap();
    let mut noise = vec![0u8; 1024];
    let (_, m) = received.write_finish(&plain[..4 + n], &mut noise).unwrap();
    let mut out = vec![0u8; 1200];
    let len = XxFinishRepr { receiver_id: payload.responder_id, noise: &noise[..m] }.emit(&mut out).unwrap();
    out.truncate(len);
    (out, payload.responder_id)
}

/// PROTOCOL.md §4.6, §5.6: the ACK of an XX finish has cumulative ack `isn_r - 1` and no SACK.
/// A finish with cumulative `isn_r`, or with a SACK, is dropped and leaves the handshake as it
/// was: no connection is offered, and the valid finish sent next completes it.
#[test]
fn xx_finish_with_a_malformed_ack_is_dropped_and_the_valid_one_accepted() {
    for bad in ["cumulative isn_r", "sack"] {
        let mut p = Pair::new(61);
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let me = StaticSecret::generate(&mut rng);
        let peer: SocketAddr = PEER.parse().unwrap();
        let my_id = ConnectionId(0x1234);
        let mut init = vec![0u8; 128];
        let (waiting, n) = write_xx_initiation(&mut rng, &me, my_id, None, &mut init).unwrap();
        let now = p.now;
        p.b.handle_datagram(now, peer, &mut init[..n]);
        let response = sent(&mut p.b, p.now).pop().expect("an XX response");
        let repr = XxResponseRepr::parse(&response).unwrap();
        let isn_r = read_xx_response(&waiting, &repr).unwrap().1.isn;
        let mut wrong = ack(isn_r.prev());
        match bad {
            "sack" => wrong.sack = SackRanges::new(isn_r.prev(), &[(isn_r.add(1), isn_r.add(1))]).unwrap(),
            _ => wrong.cumulative = isn_r,
        }
        let (mut malformed, _) = finish(&waiting, &response, 77, &wrong);
        p.b.handle_datagram(now, peer, &mut malformed);
        let incoming = std::iter::from_fn(|| p.b.poll_event()).any(|e| matches!(e, Event::Incoming { .. }));
        assert!(!incoming, "{bad}: a malformed finish made a connection");
        assert!(sent(&mut p.b, p.now).is_empty(), "{bad}: a malformed finish was answered");
        let (mut valid, _) = finish(&waiting, &response, 77, &ack(isn_r.prev()));
        p.b.handle_datagram(now, peer, &mut valid);
        let conn = std::iter::from_fn(|| p.b.poll_event())
            .find_map(|e| if let Event::Incoming { connection, .. } = e { Some(connection) } else { None })
            .unwrap_or_else(|| panic!("{bad}: the valid finish after a malformed one was not accepted"));
        p.b.accept(now, conn).unwrap();
        let answer = sent(&mut p.b, p.now);
        assert!(answer.iter().any(|d| d[0] == 0x18), "{bad}: no ACK for the valid finish");
    }
}

/// PROTOCOL.md §4.3, §5.6: the ACK of an IK response acknowledges the early data (`isn_i`) or
/// nothing (`isn_i - 1`). A response acknowledging `isn_i + 7` is dropped, the handshake intact:
/// the initiator retransmits its initiation and accepts the valid response.
#[test]
fn ik_response_acknowledging_unsent_data_is_dropped_and_the_valid_one_accepted() {
    let mut p = Pair::new(62);
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let responder = StaticSecret::generate(&mut rng);
    let peer: SocketAddr = PEER.parse().unwrap();
    let now = p.now;
    let conn = p.a.connect(now, peer, Some(responder.public_key())).unwrap();
    p.a.write(now, conn, b"early").unwrap();
    let init = sent(&mut p.a, p.now).pop().expect("an IK initiation");
    assert_eq!(init[0], 0x11);
    let repr = IkInitiationRepr::parse(&init).unwrap();
    let mut plain = vec![0u8; 1400];
    let (state, payload) = read_ik_initiation(&responder, &repr, &mut plain).unwrap();
    let isn_i = payload.isn;
    let initiator_id = repr.sender_id;
    let response = |cumulative: Seq, rng: &mut ChaCha20Rng| {
        let payload = IkResponsePayload {
            responder_id: ConnectionId(0x99),
            isn: Seq(500),
            segments: Segments { ack: Some(ack(cumulative)), tail: None },
        };
        let mut out = vec![0u8; 1400];
        let (_, n) = write_ik_response(rng, state.clone(), initiator_id, &payload, &mut out).unwrap();
        out.truncate(n);
        out
    };
    let mut bad = response(isn_i.add(7), &mut rng);
    p.a.handle_datagram(now, peer, &mut bad);
    assert!(
        !std::iter::from_fn(|| p.a.poll_event())
            .any(|e| matches!(e, Event::Connected { .. } | Event::Closed { .. })),
        "the malformed response completed or ended the handshake"
    );
    // The handshake goes on: the initiation is retransmitted, byte for byte (§4.8).
    let later = now + Duration::from_secs(2);
    p.now = later;
    p.a.handle_timeout(later);
    let again = sent(&mut p.a, p.now);
    assert!(again.iter().any(|d| d[..] == init[..]), "no retransmitted initiation");
    let mut good = response(isn_i, &mut rng);
    p.a.handle_datagram(later, peer, &mut good);
    let connected = std::iter::from_fn(|| p.a.poll_event()).find_map(|e| {
        if let Event::Connected { early_data_accepted, .. } = e { Some(early_data_accepted) } else { None }
    });
    assert_eq!(connected, Some(true), "the valid response was not accepted");
}

/// PROTOCOL.md §3, §4.8: an IK connection never had an XX finish. A 0x15 datagram with a random
/// body sent to a live IK connection's id gets nothing (it drew an ACK before).
#[test]
fn xx_finish_to_an_ik_connection_gets_nothing() {
    let mut p = Pair::new(63);
    let (a_conn, b_conn) = p.connect(true);
    p.drive_for(Duration::from_secs(1));
    // B's id: the receiver id of A's packets.
    let _ = p.a.write(p.now, a_conn, b"x");
    p.flush();
    let b_id = p.wire.iter().find(|d| d.to == Side::B).map(|d| d.data[1..9].to_vec()).expect("a packet to B");
    p.wire.clear();
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let mut fake = vec![0u8; 120];
    rand_core::RngCore::fill_bytes(&mut rng, &mut fake);
    fake[0] = 0x15;
    fake[1..9].copy_from_slice(&b_id);
    let (now, from) = (p.now, p.a_addr);
    p.b.handle_datagram(now, from, &mut fake);
    assert!(sent(&mut p.b, p.now).is_empty(), "an XX finish to an IK connection was answered");
    assert!(p.b.connection_stats(b_conn).is_some());
}
