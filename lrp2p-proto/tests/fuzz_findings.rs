//! Findings of the fuzz targets (`fuzz/`, `lrp2p-proto/src/fuzzing/`) in the protocol code, not
//! fixed yet: each test reproduces one with the public API and fails until it is fixed.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Pair, Side};

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
