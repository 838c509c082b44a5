//! Roaming (PROTOCOL.md §6.4, §12.6): a peer that moves keeps its connection, and the new
//! address is held to the 3× amplification budget until it acknowledges data sent there.

mod common;

use std::time::Duration;

use common::{Pair, Side};
use lrp2p_proto::ConnectionHandle;

#[test]
fn roaming_peer_keeps_its_connection() {
    let mut p = Pair::new(12);
    let (conn, incoming) = p.connect(true);
    p.drive_for(Duration::from_secs(1));
    let new_addr = "10.0.0.3:3333".parse().unwrap();
    p.a_addr = new_addr;
    let now = p.now;
    p.a.write(now, conn, b"from my new address").unwrap();
    let mut got = Vec::new();
    p.drive_until(Duration::from_secs(2), |p| {
        p.read_all(Side::B, incoming, &mut got);
        got.len() == 19
    });
    assert_eq!(p.b.remote_address(incoming), Some(new_addr));
    assert_eq!(p.b.connection_stats(incoming).unwrap().migrations, 1);
}

#[test]
fn bulk_transfer_to_a_peer_that_moved_is_not_held_by_the_amplification_limit() {
    let mut p = Pair::new(22);
    let (conn, incoming) = p.connect(true);
    p.drive_for(Duration::from_secs(1));
    p.a_addr = "10.0.0.3:3333".parse().unwrap();
    let now = p.now;
    p.a.write(now, conn, b"x").unwrap();
    p.drive_for(Duration::from_millis(100));
    let took = send_b_to_a(&mut p, conn, incoming, 1_000_000);
    assert!(took < Duration::from_secs(2), "1 MB took {took:?} after the move");
    assert_eq!(p.b.connection_stats(incoming).unwrap().migrations, 1);
}

/// B sends `len` bytes to A; returns the virtual time until A has read them all.
fn send_b_to_a(p: &mut Pair, a_conn: ConnectionHandle, b_conn: ConnectionHandle, len: usize) -> Duration {
    let data = vec![7u8; len];
    let (start, mut sent, mut got) = (p.now, 0, Vec::new());
    p.drive_until(Duration::from_secs(60), |p| {
        let now = p.now;
        sent += p.b.write(now, b_conn, &data[sent..]).unwrap_or(0);
        p.read_all(Side::A, a_conn, &mut got);
        got.len() == len
    });
    p.now - start
}

/// A connected to B, and B accepted.
fn connected(seed: u64) -> (Pair, ConnectionHandle, ConnectionHandle) {
    let mut p = Pair::new(seed);
    let (a_conn, b_conn) = p.connect(true);
    p.drive_for(Duration::from_secs(1));
    (p, a_conn, b_conn)
}

#[test]
fn a_roamed_peer_is_validated_by_acknowledging_data_sent_there() {
    // Found by the endpoint_ops fuzz target: after the peer moved, its new address stayed
    // under the 3x amplification limit for good, and a transfer to it stalled.
    let (mut p, a_conn, b_conn) = connected(20);
    let before = send_b_to_a(&mut p, a_conn, b_conn, 300_000);
    p.a_addr = "10.0.0.3:3333".parse().unwrap();
    let now = p.now;
    p.a.write(now, a_conn, b"moved").unwrap();
    p.drive_for(Duration::from_millis(100));
    assert_eq!(p.b.remote_address(b_conn), Some(p.a_addr));
    let after = send_b_to_a(&mut p, a_conn, b_conn, 300_000);
    assert!(after < 2 * before, "{after:?} after the move, {before:?} before");
}

#[test]
fn a_new_address_that_acknowledges_nothing_sent_there_stays_limited() {
    // An on-path attacker rewrites the source of A's packets to a victim's address V; what B
    // sends to V never reaches A. B must send V at most 3x what came "from" V (PROTOCOL.md §12.6).
    let (mut p, a_conn, b_conn) = connected(21);
    // (B sends something first, so that no keep-alive of B's falls into what is measured.)
    let now = p.now;
    p.b.write(now, b_conn, b"x").unwrap();
    p.drive_for(Duration::from_millis(100));
    p.a_addr = "10.0.0.66:6666".parse().unwrap();
    p.filter = Box::new(|side, _| side == Side::A);
    let sent = p.sent_bytes;
    let now = p.now;
    p.a.write(now, a_conn, b"from V").unwrap();
    p.drive_for(Duration::from_millis(100));
    assert_eq!(p.b.remote_address(b_conn), Some(p.a_addr), "B moved to V");
    let now = p.now;
    p.b.write(now, b_conn, &[1u8; 100_000]).unwrap();
    p.drive_for(Duration::from_secs(20));
    let (from_v, to_v) = (p.sent_bytes[0] - sent[0], p.sent_bytes[1] - sent[1]);
    assert!(to_v > 0 && to_v <= 3 * from_v, "{to_v} bytes sent to V, {from_v} received from it");
}
