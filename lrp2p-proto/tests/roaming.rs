//! Paths (PROTOCOL.md §13) on the two-endpoint harness: a peer that moves keeps its connection
//! once its new address has answered a challenge, and its transfer completes byte for byte; a
//! packet relayed from a spoofed address moves nothing and draws at most 3× its size there; an
//! unanswered challenge gives up and leaves the old path; a peer without path validation keeps
//! working beside one that has it.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Pair, Side, fresh_keys};
use lrp2p_proto::{ConnectionHandle, Event};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// `len` bytes that differ from one offset to the next (a misplaced segment shows).
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

fn path_changes(events: &[Event]) -> usize {
    events.iter().filter(|e| matches!(e, Event::PathChanged { .. })).count()
}

#[test]
fn roaming_peer_keeps_its_connection() {
    let mut p = Pair::new(12);
    let (conn, incoming) = p.connect(true);
    p.drive_for(Duration::from_secs(1));
    let new_addr = addr("10.0.0.3:3333");
    p.a_addr = new_addr;
    let now = p.now;
    p.a.write(now, conn, b"from my new address").unwrap();
    let mut got = Vec::new();
    p.drive_until(Duration::from_secs(2), |p| {
        p.read_all(Side::B, incoming, &mut got);
        got.len() == 19 && p.b.remote_address(incoming) == Some(new_addr)
    });
    let path = p.b.path(incoming).unwrap();
    assert!(path.validated && path.candidate.is_none(), "{path:?}");
    assert_eq!(p.b.connection_stats(incoming).unwrap().migrations, 1);
    assert_eq!(path_changes(&p.b_events), 1, "{:?}", p.b_events);
}

/// A sends `data` to B while the harness runs `during` once, after `at` bytes arrived; returns
/// what B read.
fn transfer(
    p: &mut Pair,
    (from, to): (Side, Side),
    (send, recv): (ConnectionHandle, ConnectionHandle),
    data: &[u8],
    at: usize,
    mut during: impl FnMut(&mut Pair),
) -> Vec<u8> {
    let (mut sent, mut got, mut done) = (0, Vec::new(), false);
    p.drive_until(Duration::from_secs(120), |p| {
        let now = p.now;
        sent += p.endpoint(from).write(now, send, &data[sent..]).unwrap_or(0);
        p.read_all(to, recv, &mut got);
        if !done && got.len() >= at {
            done = true;
            during(p);
        }
        got.len() == data.len()
    });
    got
}

/// NAT rebinding mid-transfer (a new port, or a new IP): the mover's old address reaches
/// nothing any more. Whichever side sends the data, the other validates the new address, moves
/// there, and the 2 MB arrive intact; the congestion state is reset only for a new IP
/// (RFC 9000 §9.4).
#[test]
fn a_peer_that_moves_mid_transfer_keeps_its_connection_and_every_byte() {
    let data = pattern(2 << 20);
    for (seed, new_a, new_ip) in [(30, "10.0.0.1:1444", false), (31, "10.0.7.1:1000", true)] {
        for a_sends in [true, false] {
            let mut p = Pair::new(seed);
            let (a, b) = p.connect(true);
            p.drive_for(Duration::from_millis(200));
            let resets = p.b.connection_stats(b).unwrap().congestion_resets;
            let new_a = addr(new_a);
            let dir = if a_sends { ((Side::A, Side::B), (a, b)) } else { ((Side::B, Side::A), (b, a)) };
            let got = transfer(&mut p, dir.0, dir.1, &data, 500_000, |p| p.a_addr = new_a);
            let what = format!("A moved to {new_a}, A sends: {a_sends}");
            assert!(got == data, "{what}: the bytes differ");
            assert_eq!(p.b.remote_address(b), Some(new_a), "{what}");
            assert!(p.b.path(b).unwrap().validated, "{what}");
            let stats = p.b.connection_stats(b).unwrap();
            assert_eq!(stats.migrations, 1, "{what}");
            assert_eq!(stats.congestion_resets - resets, u64::from(new_ip), "{what}");
            assert_eq!(path_changes(&p.b_events), 1, "{what}");
            assert!(stats.path_challenges >= 1, "{what}");
        }
    }
}

/// Delivers the next datagram A sends to B from `spoofed` first (as an on-path attacker that
/// wins the race would), then the genuine one from A's address (a replay by then); B's
/// application reads what it carried. Returns the relayed size.
fn relay_next_from(p: &mut Pair, (a, b): (ConnectionHandle, ConnectionHandle), spoofed: SocketAddr) -> usize {
    let now = p.now;
    p.a.write(now, a, b"relayed").unwrap();
    p.flush();
    let i = p.wire.iter().position(|d| d.to == Side::B).expect("A's packet");
    let mut copy = p.wire[i].data.clone();
    p.b.handle_datagram(now, spoofed, &mut copy);
    let mut got = Vec::new();
    p.read_all(Side::B, b, &mut got);
    assert_eq!(got, b"relayed");
    copy.len()
}

/// PROTOCOL.md §13.3, §13.4: an authenticated packet relayed from a spoofed address (its
/// counter new) makes that address a candidate, never the path: B goes on sending to A, and
/// sends the victim at most three challenge packets within 3× the bytes "from" it. The
/// challenges go unanswered and back off by the RTO; the validation then fails and the old
/// path stays.
#[test]
fn a_spoofed_packet_does_not_move_the_connection_and_the_unanswered_challenge_gives_up() {
    let mut p = Pair::new(32);
    let (a, b) = p.connect(true);
    p.drive_for(Duration::from_millis(200));
    let victim = addr("10.0.0.66:6666");
    let start = p.now;
    let relayed = relay_next_from(&mut p, (a, b), victim);
    assert_eq!(p.b.path(b).unwrap().candidate, Some(victim));
    // B sends A 300 kB meanwhile: all of it on the old path.
    let data = pattern(300_000);
    let got = transfer(&mut p, (Side::B, Side::A), (b, a), &data, 0, |_| {});
    assert!(got == data);
    p.drive_for(Duration::from_secs(30));
    let to_victim: Vec<_> = p.nowhere.iter().filter(|d| d.1 == victim).collect();
    let bytes: usize = to_victim.iter().map(|d| d.2).sum();
    assert!(!to_victim.is_empty() && bytes <= 3 * relayed, "{bytes} bytes to the victim for {relayed}");
    assert!(to_victim.len() <= 3, "{} challenge packets", to_victim.len());
    // Backed off: each gap at least the one before it.
    let gaps: Vec<_> = to_victim.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(gaps.windows(2).all(|g| g[1] >= g[0]), "{gaps:?}");
    assert!(to_victim[0].0 - start < Duration::from_millis(50), "the first challenge goes at once");
    let path = p.b.path(b).unwrap();
    assert_eq!((path.remote, path.candidate), (p.a_addr, None), "the validation failed: {path:?}");
    assert_eq!(p.b.connection_stats(b).unwrap().migrations, 0);
    assert_eq!(path_changes(&p.b_events), 0);
    // The connection still works.
    let got = transfer(&mut p, (Side::A, Side::B), (a, b), &data, 0, |_| {});
    assert!(got == data);
}

/// PROTOCOL.md §13.4 (§11): a peer that does not take part in path validation (it skips the
/// two extensions and never challenges) keeps working with one that does: A's packets reach B
/// also through a second route X (multi-homed); B challenges X, A ignores the challenge (and
/// answers its PING with a plain ACK), and B stays on A's address while the transfer completes.
#[test]
fn a_peer_without_path_validation_keeps_working() {
    let mut legacy = fresh_keys();
    legacy.connection.path_validation = false;
    let mut p = Pair::with_config(33, legacy, fresh_keys());
    let (a, b) = p.connect(true);
    p.drive_for(Duration::from_millis(200));
    let x = addr("10.0.9.1:1000");
    p.routes.push((x, Side::A));
    relay_next_from(&mut p, (a, b), x);
    let data = pattern(1 << 20);
    let got = transfer(&mut p, (Side::A, Side::B), (a, b), &data, 0, |_| {});
    assert!(got == data);
    p.drive_for(Duration::from_secs(10));
    let (sa, sb) = (p.a.connection_stats(a).unwrap(), p.b.connection_stats(b).unwrap());
    assert!(sb.path_challenges >= 1, "B challenged X");
    assert_eq!((sb.migrations, sa.path_challenges, sa.protocol_violations), (0, 0, 0));
    assert_eq!(p.b.remote_address(b), Some(p.a_addr));
    assert!(!p.a_events.iter().chain(&p.b_events).any(|e| matches!(e, Event::Closed { .. })));
}

/// The same rebinding on a path that loses 10% of the datagrams each way (seeded): a challenge
/// or its response may be lost, and a validation that fails is started again by the peer's
/// next packet from its new address; the transfer completes intact.
#[test]
fn a_peer_that_moves_on_a_lossy_path_keeps_every_byte() {
    let data = pattern(1 << 20);
    for seed in [34u64, 35, 36] {
        let mut p = Pair::new(seed);
        let (a, b) = p.connect(true);
        p.drive_for(Duration::from_millis(200));
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        p.filter = Box::new(move |_, _| {
            // xorshift64: deterministic, and 10% loss.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % 10 != 0
        });
        let new_a = addr("10.0.0.1:1555");
        let got = transfer(&mut p, (Side::B, Side::A), (b, a), &data, 300_000, |p| p.a_addr = new_a);
        assert!(got == data, "seed {seed}: the bytes differ");
        assert_eq!(p.b.remote_address(b), Some(new_a), "seed {seed}");
        let stats = p.b.connection_stats(b).unwrap();
        assert!(stats.migrations >= 1 && stats.retransmits > 0, "seed {seed}: {stats:?}");
    }
}
