//! What PROTOCOL.md says where an independent implementation had to guess (issue 13, item 4),
//! checked against the reference: §4.8 the RTX flag on refused early data sent again; §4.8 the
//! DATA of an XX finish also resent in transport packets while the finish is lost; §4.8/§5.5
//! the IK responder's transport DATA right behind its response is taken at once.

#![allow(clippy::unwrap_used)]

mod common;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use common::{Pair, Side, sent};
use lrp2p_proto::crypto::{DefaultAead, Session};
use lrp2p_proto::handshake::read_ik_initiation;
use lrp2p_proto::wire::*;
use lrp2p_proto::{Event, StaticSecret};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// §4.8: refused early data is sent again as 1-RTT data, a retransmission with the RTX flag.
#[test]
fn refused_early_data_is_resent_with_the_rtx_flag() {
    let mut p = Pair::new(101);
    let mut rng = ChaCha20Rng::seed_from_u64(21);
    let responder = StaticSecret::generate(&mut rng);
    let peer: SocketAddr = "10.0.0.7:7000".parse().unwrap();
    let now = p.now;
    let conn = p.a.connect(now, peer, Some(responder.public_key())).unwrap();
    p.a.write(now, conn, b"early").unwrap();
    let init = sent(&mut p.a, now).pop().unwrap();
    let repr = IkInitiationRepr::parse(&init).unwrap();
    let mut plain = vec![0u8; 1400];
    let (state, payload) = read_ik_initiation(&responder, &repr, &mut plain).unwrap();
    let isn_i = payload.isn;
    // The response refuses the early data: its ACK acknowledges nothing (isn_i - 1).
    let mut response_plain = Vec::new();
    response_plain.extend_from_slice(&0x99u64.to_be_bytes());
    response_plain.extend_from_slice(&500u32.to_be_bytes());
    response_plain.extend_from_slice(&[9, 0x01]);
    response_plain.extend_from_slice(&isn_i.prev().0.to_be_bytes());
    response_plain.extend_from_slice(&[0, 0, 64]);
    let mut noise = vec![0u8; 1400];
    let (done, m) = state.write_response(&mut rng, &response_plain, &mut noise).unwrap();
    let mut response = vec![0u8; 1500];
    let n = IkResponseRepr { receiver_id: repr.sender_id, noise: &noise[..m] }.emit(&mut response).unwrap();
    p.a.handle_datagram(now, peer, &mut response[..n]);
    let connected = std::iter::from_fn(|| p.a.poll_event()).find_map(|e| {
        if let Event::Connected { early_data_accepted, .. } = e { Some(early_data_accepted) } else { None }
    });
    assert_eq!(connected, Some(false));
    let (send, recv) = done.into_keys();
    let mut session = Session::<DefaultAead>::new(&send, &recv, repr.sender_id).unwrap();
    let mut resent = None;
    for mut d in sent(&mut p.a, now) {
        let Ok(plain) = session.open(&mut d) else { continue };
        if let Some(Tail::Data(data)) = Segments::parse(plain).unwrap().tail {
            resent = Some((data.seq, data.rtx, data.payload.to_vec()));
        }
    }
    assert_eq!(resent, Some((isn_i, true, b"early".to_vec())), "the early data again, flagged RTX");
}

/// §4.8: while the XX finish is lost, the DATA it carries is also resent in transport packets
/// (which the responder, without keys, drops); once a finish gets through, the data is
/// delivered once.
#[test]
fn data_of_a_lost_xx_finish_is_also_resent_in_transport_packets() {
    let mut p = Pair::new(102);
    let pass = Rc::new(RefCell::new(false));
    let transport_before = Rc::new(RefCell::new(0u32));
    let (ok, count) = (pass.clone(), transport_before.clone());
    p.filter = Box::new(move |side, d| {
        if side == Side::A && !*ok.borrow() {
            if d[0] == 0x18 {
                *count.borrow_mut() += 1;
            }
            return d[0] != 0x15;
        }
        true
    });
    let (now, b_addr) = (p.now, p.b_addr);
    let conn = p.a.connect(now, b_addr, None).unwrap();
    p.a.write(now, conn, b"in the finish").unwrap();
    p.drive_for(Duration::from_secs(3));
    assert!(*transport_before.borrow() >= 1, "no transport retransmission while the finish was lost");
    assert!(p.a.connection_stats(conn).unwrap().retransmits >= 1);
    assert!(p.b.stats().unexpected >= 1, "the responder dropped them: no keys yet");
    *pass.borrow_mut() = true;
    let mut got = Vec::new();
    p.drive_until(Duration::from_secs(10), |p| {
        p.accept_all();
        if let Some(&c) = p.accepted.first() {
            p.read_all(Side::B, c, &mut got);
        }
        got == b"in the finish"
    });
    p.drive_for(Duration::from_millis(500));
    let c = p.accepted[0];
    p.read_all(Side::B, c, &mut got);
    assert_eq!(got, b"in the finish", "delivered once");
}

/// §4.8, §5.5: the IK responder sends its first DATA in a transport packet right behind the
/// response; the initiator takes it at once (no retransmission is needed).
#[test]
fn ik_responder_data_right_behind_the_response_is_taken() {
    let mut p = Pair::new(103);
    let (conn, incoming) = p.dial(true);
    let now = p.now;
    p.b.accept(now, incoming).unwrap();
    p.b.write(now, incoming, b"right behind").unwrap();
    p.flush();
    let to_a: Vec<u8> = p.wire.iter().filter(|d| d.to == Side::A).map(|d| d.data[0]).collect();
    assert_eq!(to_a, [0x12, 0x18], "the response, then a transport packet");
    let mut got = Vec::new();
    p.drive_until(Duration::from_millis(100), |p| {
        p.read_all(Side::A, conn, &mut got);
        got == b"right behind"
    });
    assert_eq!(p.b.connection_stats(incoming).unwrap().retransmits, 0);
    assert_eq!(p.a.stats().unexpected + p.a.stats().auth_failures, 0);
}
