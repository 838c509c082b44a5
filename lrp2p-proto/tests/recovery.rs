//! Loss recovery between two endpoints in virtual time: DSACK reports exactly the duplicates
//! (PROTOCOL.md §7.7), a late segment's congestion response is undone (RFC 3708, RFC 9438
//! §4.9) and teaches the sender that the path reorders (RFC 8985 §6.2), and a lost tail is
//! recovered by the tail loss probe, not the retransmission timeout (RFC 8985 §7).

#![allow(clippy::unwrap_used)]

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use common::{InFlight, Pair, Side};
use lrp2p_proto::ConnectionHandle;

/// Datagrams A sends that carry DATA (ACK-only packets and handshake messages are smaller).
fn is_bulk(side: Side, datagram: &[u8]) -> bool {
    side == Side::A && datagram.len() > 1000
}

/// A connected pair whose A has written `len` bytes to B.
fn writing(seed: u64, len: usize) -> (Pair, ConnectionHandle, ConnectionHandle) {
    let mut p = Pair::new(seed);
    let (a, b) = p.connect(true);
    p.drive_for(Duration::from_millis(50));
    let data = vec![7u8; len];
    let now = p.now;
    let mut written = 0;
    while written < len {
        let n = p.a.write(now, a, &data[written..]).unwrap();
        assert!(n > 0, "the send buffer takes it all");
        written += n;
    }
    (p, a, b)
}

/// Steps until B has read `len` bytes; datagrams in `stash` are put on the wire after `extra`.
fn deliver(
    p: &mut Pair,
    b: ConnectionHandle,
    len: usize,
    stash: &Rc<RefCell<Vec<Vec<u8>>>>,
    extra: Duration,
) {
    let mut got = Vec::new();
    for _ in 0..1_000_000 {
        p.read_all(Side::B, b, &mut got);
        if got.len() >= len {
            return;
        }
        for data in stash.borrow_mut().drain(..) {
            let at = p.now + p.latency + extra;
            p.wire.push_back(InFlight { at, to: Side::B, from: p.a_addr, data });
        }
        assert!(p.step(), "stalled with {} of {len} bytes", got.len());
        assert!(p.elapsed() < Duration::from_secs(60), "not delivered in time");
    }
}

#[test]
fn network_duplicates_are_replays_not_dsacks() {
    let (mut p, a, b) = writing(1, 400_000);
    let stash = Rc::new(RefCell::new(Vec::new()));
    let (copies, count) = (stash.clone(), Rc::new(RefCell::new(0usize)));
    p.filter = Box::new(move |side, data| {
        if is_bulk(side, data) {
            *count.borrow_mut() += 1;
            if [20, 45, 90].contains(&*count.borrow()) {
                copies.borrow_mut().push(data.to_vec());
            }
        }
        true
    });
    deliver(&mut p, b, 400_000, &stash, Duration::from_millis(1));
    p.drive_for(Duration::from_millis(100));
    let (sa, sb) = (p.a.connection_stats(a).unwrap(), p.b.connection_stats(b).unwrap());
    // A copy of a datagram repeats its packet counter: the replay window drops it (PROTOCOL.md
    // §9.1) before the stream sees it, so it is no duplicate segment and gets no DSACK.
    assert_eq!(sb.replays_dropped, 3);
    assert_eq!((sa.dsack_received, sa.spurious_retransmits, sa.retransmits), (0, 0, 0));
}

#[test]
fn dsack_reports_a_segment_received_twice() {
    // The ACKs of a 10 kB tail are lost: the tail loss probe resends the last segment, which B
    // already holds; B's next ACK reports it (DSACK), so A knows the probe was not needed.
    for lose_acks in [false, true] {
        let (mut p, a, b) = writing(4, 10_000);
        let start = p.now;
        p.filter = Box::new(move |side, _| !(lose_acks && side == Side::B));
        let quiet = Rc::new(RefCell::new(Vec::new()));
        let mut got = Vec::new();
        p.drive_until(Duration::from_secs(1), |p| {
            p.read_all(Side::B, b, &mut got);
            got.len() >= 10_000
        });
        // Stop losing B's datagrams once the tail has arrived and its ACKs were dropped.
        p.drive_for(Duration::from_millis(40).saturating_sub(p.now - start));
        p.filter = Box::new(|_, _| true);
        deliver(&mut p, b, 0, &quiet, Duration::ZERO);
        p.drive_for(Duration::from_millis(300));
        let (sa, sb) = (p.a.connection_stats(a).unwrap(), p.b.connection_stats(b).unwrap());
        let expected = u64::from(lose_acks);
        assert_eq!(sb.duplicates, expected, "{sb:?}");
        assert_eq!(sa.dsack_received, expected, "{sa:?}");
        assert_eq!(sa.spurious_retransmits, expected, "proven by the DSACK");
        assert_eq!(sa.tail_loss_probes, expected);
        assert_eq!((sa.timeouts, sa.ssthresh), (0, u64::MAX), "no congestion response: {sa:?}");
    }
}

#[test]
fn a_late_segment_is_undone_as_a_loss_and_teaches_the_reordering_window() {
    let (mut p, a, b) = writing(2, 1_000_000);
    let stash = Rc::new(RefCell::new(Vec::new()));
    let (held, count) = (stash.clone(), Rc::new(RefCell::new(0usize)));
    p.filter = Box::new(move |side, data| {
        if is_bulk(side, data) {
            *count.borrow_mut() += 1;
            if *count.borrow() == 60 {
                // Held back 30 ms (1.5 RTT): declared lost long before it arrives.
                held.borrow_mut().push(data.to_vec());
                return false;
            }
        }
        true
    });
    let before = p.a.connection_stats(a).unwrap();
    assert!(!before.reordering_seen);
    deliver(&mut p, b, 1_000_000, &stash, Duration::from_millis(30));
    let after = p.a.connection_stats(a).unwrap();
    assert_eq!(after.congestion_undos, 1, "the reduction was undone: {after:?}");
    assert!(after.reordering_seen);
    assert_eq!(after.timeouts, 0);
    assert!(after.lost_packets_bytes > 0, "it was declared lost");
    // The link never drops: with the reduction undone, slow start never ended.
    assert_eq!(after.ssthresh, u64::MAX, "{after:?}");
}

#[test]
fn a_lost_tail_is_recovered_by_the_probe_without_a_timeout() {
    // 10 kB: eight datagrams, the last one short; it is dropped.
    let (mut p, a, b) = writing(3, 10_000);
    let dropped = Rc::new(RefCell::new(0usize));
    let seen = dropped.clone();
    p.filter = Box::new(move |side, data| {
        let tail = side == Side::A && (200..1000).contains(&data.len());
        if tail && *seen.borrow() == 0 {
            *seen.borrow_mut() += 1;
            return false;
        }
        true
    });
    let start = p.now;
    deliver(&mut p, b, 10_000, &Rc::new(RefCell::new(Vec::new())), Duration::ZERO);
    let took = p.now - start;
    let stats = p.a.connection_stats(a).unwrap();
    assert_eq!(*dropped.borrow(), 1, "the tail was dropped");
    assert_eq!(stats.timeouts, 0, "{stats:?}");
    assert_eq!(stats.tail_loss_probes, 1);
    assert_eq!(stats.retransmits, 1, "the probe resent the tail");
    // Two round trips and the probe timeout (2 SRTT + 25 ms), far below the minimum RTO
    // (SRTT + 200 ms + 25 ms).
    assert!(took < Duration::from_millis(150), "{took:?}");
}
