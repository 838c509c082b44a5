//! Findings of the fuzz targets (`fuzz/`, `lrp2p-proto/src/fuzzing/`) in the protocol code: each
//! test reproduces one with the public API, and failed until it was fixed (regression tests).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Pair, Side};
use lrp2p_proto::{Endpoint, Event};
use rand_chacha::ChaCha20Rng;

/// PROTOCOL.md §12.6 applies the 3× limit of §10.4 to a peer's new address: at most three times
/// the bytes received *from that address* until it acknowledges data sent there. Found by
/// `initiator_handshake`: the connection counts every authenticated byte received since the
/// move, from any address (`path.received += len` in `connection/receive.rs` runs before, and
/// regardless of, the address check). So after an attacker relays one fresh packet of the peer
/// from its own address (the path moves there), the peer's delayed packets still arriving from
/// its real address raise the budget of the attacker's address: here eight delayed packets let
/// the connection send the attacker many times what the attacker sent.
#[test]
fn budget_of_a_new_address_counts_only_bytes_from_it() {
    let mut p = Pair::new(31);
    let (a_conn, b_conn) = p.connect(true);
    p.drive_for(Duration::from_secs(1));
    // B sends a burst; nothing of it is delivered yet.
    let now = p.now;
    let data = vec![5u8; 40_000];
    let mut written = 0;
    while written < data.len() {
        match p.b.write(now, b_conn, &data[written..]) {
            Ok(n @ 1..) => written += n,
            _ => break,
        }
    }
    p.flush();
    let burst: Vec<Vec<u8>> = p.wire.drain(..).filter(|d| d.to == Side::A).map(|d| d.data).collect();
    assert!(burst.len() >= 4, "{} datagrams", burst.len());
    // The attacker relays the newest one from its address: the path moves there.
    let attacker: SocketAddr = "10.0.0.66:666".parse().unwrap();
    let (newest, delayed) = burst.split_last().unwrap();
    let now = p.now;
    p.a.handle_datagram(now, attacker, &mut newest.clone());
    // The older ones arrive late from B's real address: they do not move the path back.
    for datagram in delayed {
        p.a.handle_datagram(now, p.b_addr, &mut datagram.clone());
    }
    // A writes; count what goes to the attacker.
    let _ = p.a.write(now, a_conn, &[1u8; 30_000]);
    let mut buf = [0u8; 2048];
    let mut to_attacker = 0;
    while let Some(t) = p.a.poll_transmit(now, &mut buf) {
        if t.destination == attacker {
            to_attacker += t.len;
        }
    }
    let from_attacker = newest.len();
    assert!(
        to_attacker <= 3 * from_attacker,
        "sent {to_attacker} bytes to an unproven address that sent {from_attacker}"
    );
}

/// The packets to A on the wire, taken off it.
fn take_to_a(p: &mut Pair) -> Vec<Vec<u8>> {
    let (to_a, rest): (Vec<_>, Vec<_>) = p.wire.drain(..).partition(|d| d.to == Side::A);
    p.wire = rest.into();
    to_a.into_iter().map(|d| d.data).collect()
}

/// Bytes `endpoint` sends to `to` over the next 200 ms while nothing arrives (its timers and
/// pacer run).
fn sent_to(endpoint: &mut Endpoint<ChaCha20Rng>, mut now: Instant, to: SocketAddr) -> usize {
    let mut buf = [0u8; 2048];
    let mut sent = 0;
    for _ in 0..40 {
        endpoint.handle_timeout(now);
        while let Some(t) = endpoint.poll_transmit(now, &mut buf) {
            if t.destination == to {
                sent += t.len;
            }
        }
        now += Duration::from_millis(5);
    }
    sent
}

/// PROTOCOL.md §12.6 again: the packet that confirms a handshake (§4.8) can come from a new
/// address, relayed by an on-path attacker from a spoofed source. Found by `initiator_handshake`:
/// `handle_transport` (`connection/receive.rs`) first moves the path there (unvalidated, 3×
/// budget), then `confirm` (`connection/handshake.rs`) sets `path.validated = true`, which
/// validates the new address on the spot (only a packet with a counter above 0 moves the path,
/// so the relayed one is not the peer's very first). Here an XX initiator, confirmed by a packet
/// of its responder relayed from another address, sends there 1400 bytes for 48 (3x is 144),
/// and would go on without limit. (The fuzzer's input: `src/fuzzing/initiator/found/`.)
#[test]
fn confirming_packet_from_a_new_address_does_not_validate_it_xx_initiator() {
    let mut p = Pair::new(41);
    let now = p.now;
    // XX by hand, so that nothing of B's reaches A before the relay.
    let a_conn = p.a.connect(now, p.b_addr, None).unwrap();
    let _ = p.a.write(now, a_conn, &[1u8; 30_000]);
    p.flush();
    pass_to_b(&mut p); // the initiation
    p.flush();
    for mut datagram in take_to_a(&mut p) {
        p.a.handle_datagram(now, p.b_addr, &mut datagram); // the XX response
    }
    p.flush();
    pass_to_b(&mut p); // the finish, and data
    let incoming = std::iter::from_fn(|| p.b.poll_event())
        .find_map(|e| if let Event::Incoming { connection, .. } = e { Some(connection) } else { None });
    let b_conn = incoming.expect("B's incoming connection");
    p.b.accept(now, b_conn).unwrap();
    p.flush();
    // B's first packet (counter 0) is lost. A retransmits its finish; B answers with an ACK
    // (counter 1): it reaches A first, relayed from the attacker's address, and moves the path.
    drop(take_to_a(&mut p));
    let mut now = now;
    let first = loop {
        now += Duration::from_millis(100);
        p.now = now;
        p.a.handle_timeout(now);
        p.b.handle_timeout(now);
        p.flush();
        pass_to_b(&mut p);
        p.flush();
        if let Some(ack) = take_to_a(&mut p).into_iter().find(|d| d[0] == 0x18) {
            break ack;
        }
        assert!(now - p.start < Duration::from_secs(10), "B sent nothing more");
    };
    let attacker: SocketAddr = "10.0.0.66:666".parse().unwrap();
    p.a.handle_datagram(now, attacker, &mut first.clone());
    // PROTOCOL.md §13.4: since path validation, the address is only a candidate, challenged
    // within its budget; the connection stays where it was.
    assert_eq!(p.a.connection_stats(a_conn).unwrap().migrations, 0);
    assert_eq!(p.a.path(a_conn).unwrap().candidate, Some(attacker));
    let to_attacker = sent_to(&mut p.a, now, attacker);
    assert!(
        to_attacker <= 3 * first.len(),
        "sent {to_attacker} bytes to an address that sent {}",
        first.len()
    );
}

/// Delivers everything on the wire to B (from A's address).
fn pass_to_b(p: &mut Pair) {
    let (to_b, rest): (Vec<_>, Vec<_>) = p.wire.drain(..).partition(|d| d.to == Side::B);
    p.wire = rest.into();
    let (now, from) = (p.now, p.a_addr);
    for mut datagram in to_b.into_iter().map(|d| d.data) {
        p.b.handle_datagram(now, from, &mut datagram);
    }
}

/// The same on the responder's side (IK), by reading the code, then reproduced: the initiator's
/// confirming packet, relayed from a spoofed address, made the responder send its data there
/// without the 3x limit (reflection toward the spoofed address: 1400 bytes for 42).
#[test]
fn confirming_packet_from_a_new_address_does_not_validate_it_ik_responder() {
    let mut p = Pair::new(43);
    let (a_conn, b_conn) = p.dial(true);
    let now = p.now;
    p.b.accept(now, b_conn).unwrap();
    let _ = p.b.write(now, b_conn, &[2u8; 30_000]);
    // The response (and what the budget let go with it) reaches A; A's confirming ACK (counter
    // 0) is lost.
    p.flush();
    for mut datagram in take_to_a(&mut p) {
        p.a.handle_datagram(now, p.b_addr, &mut datagram);
    }
    p.flush();
    drop(take_to_b(&mut p));
    // A writes: its next packet (counter 1, above any B has) reaches B first, relayed from the
    // victim's address, and moves the path there.
    let _ = p.a.write(now, a_conn, &[3u8; 100]);
    p.flush();
    let confirm = take_to_b(&mut p).into_iter().find(|d| d[0] == 0x18).expect("A's data packet");
    let victim: SocketAddr = "10.0.0.99:999".parse().unwrap();
    p.b.handle_datagram(now, victim, &mut confirm.clone());
    // PROTOCOL.md §13.4: since path validation, the address is only a candidate, challenged
    // within its budget; the connection stays where it was.
    assert_eq!(p.b.connection_stats(b_conn).unwrap().migrations, 0);
    assert_eq!(p.b.path(b_conn).unwrap().candidate, Some(victim));
    // B's application has more to send (what it wrote first fitted its send buffer).
    let _ = p.b.write(now, b_conn, &[2u8; 30_000]);
    let to_victim = sent_to(&mut p.b, now, victim);
    assert!(
        to_victim <= 3 * confirm.len(),
        "sent {to_victim} bytes to an address that sent {}",
        confirm.len()
    );
}

/// The packets to B on the wire, taken off it.
fn take_to_b(p: &mut Pair) -> Vec<Vec<u8>> {
    let (to_b, rest): (Vec<_>, Vec<_>) = p.wire.drain(..).partition(|d| d.to == Side::B);
    p.wire = rest.into();
    to_b.into_iter().map(|d| d.data).collect()
}
