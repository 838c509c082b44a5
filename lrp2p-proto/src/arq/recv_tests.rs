//! Tests of [`RecvStream`]: reassembly, duplicates, SACK, window, limits, FIN.
// Test data: byte patterns from indices.
#![allow(clippy::cast_possible_truncation)]
use proptest::prelude::*;

use super::*;

impl RecvStream {
    /// Checks the byte accounting (tests).
    pub(crate) fn check_invariants(&self) {
        let held: usize = self.out_of_order.values().map(|(b, _)| b.len()).sum();
        assert_eq!(held, self.out_of_order_bytes);
        assert!(self.readable.len() + held <= self.capacity);
        assert!(self.out_of_order.keys().all(|&s| s > self.next && s <= self.advertised_right_edge));
    }
}

const ISN: u32 = 1000;

/// A stream that has already advertised its first window (as after sending an ACK).
fn open(isn: u32, capacity: usize, mss: usize) -> RecvStream {
    let mut r = RecvStream::new(isn, capacity, mss);
    r.mark_ack_sent();
    r
}

fn s(offset: u32) -> Seq {
    Seq(ISN).add(offset)
}

fn read_all(r: &mut RecvStream) -> Vec<u8> {
    let mut out = vec![0u8; r.readable() + 10];
    let n = r.read(&mut out);
    out.truncate(n);
    out
}

#[test]
fn in_order_delivery() {
    let mut r = RecvStream::new(ISN, 1000, 100);
    let (cumulative, window, sack) = r.ack(MAX_SACK_RANGES - 1);
    // PROTOCOL §8.2: nothing received yet, A = isn - 1.
    assert_eq!((cumulative, window, sack), (Seq(ISN - 1), 10, SackRanges::EMPTY));
    assert_eq!(r.on_data(s(0), b"hello ", false), Ok(DataOutcome::Delivered));
    r.mark_ack_sent();
    assert_eq!(r.on_data(s(1), b"world", false), Ok(DataOutcome::Delivered));
    assert_eq!(r.readable(), 11);
    let mut out = [0u8; 4];
    assert_eq!(r.read(&mut out), 4);
    assert_eq!(&out, b"hell");
    assert_eq!(read_all(&mut r), b"o world");
    assert_eq!(r.read(&mut out), 0);
    assert_eq!(r.ack(MAX_SACK_RANGES - 1).0, s(1));
    assert!(!r.fin_received() && !r.is_finished());
    r.check_invariants();
}

#[test]
fn out_of_order_is_buffered_then_released() {
    let mut r = open(ISN, 1000, 100);
    assert_eq!(r.on_data(s(2), b"cc", false), Ok(DataOutcome::Buffered));
    assert_eq!(r.on_data(s(1), b"bb", false), Ok(DataOutcome::Buffered));
    assert_eq!(r.on_data(s(4), b"ee", false), Ok(DataOutcome::Buffered));
    assert_eq!(r.readable(), 0);
    assert_eq!(r.on_data(s(0), b"aa", false), Ok(DataOutcome::Delivered));
    assert_eq!(read_all(&mut r), b"aabbcc");
    let (cumulative, _, sack) = r.ack(MAX_SACK_RANGES - 1);
    assert_eq!(cumulative, s(2));
    assert_eq!(sack.as_slice(), [(s(4), s(4))]);
    assert_eq!(r.on_data(s(3), b"dd", false), Ok(DataOutcome::Delivered));
    assert_eq!(read_all(&mut r), b"ddee");
    assert_eq!(r.ack(MAX_SACK_RANGES - 1).2, SackRanges::EMPTY);
    r.check_invariants();
}

#[test]
fn duplicates_keep_the_first_copy() {
    let mut r = open(ISN, 1000, 100);
    r.on_data(s(0), b"a", false).unwrap();
    r.on_data(s(2), b"c", false).unwrap();
    assert_eq!(r.on_data(s(0), b"X", false), Ok(DataOutcome::Duplicate));
    assert_eq!(r.on_data(s(2), b"Y", false), Ok(DataOutcome::Duplicate));
    // Far below the window (2^31 - 1 before the next expected) is a duplicate, not an error.
    assert_eq!(r.on_data(s(0).add(0x8000_0002), b"Z", false), Ok(DataOutcome::Duplicate));
    r.on_data(s(1), b"b", false).unwrap();
    assert_eq!(read_all(&mut r), b"abc");
    r.check_invariants();
}

#[test]
fn sack_ranges_nearest_first_and_the_highest_at_most_29() {
    let mut r = open(ISN, 100_000, 10);
    // 40 isolated segments: 2, 4, ..., 80 above isn.
    for k in 1..=40 {
        assert_eq!(r.on_data(s(2 * k), b"x", false), Ok(DataOutcome::Buffered));
    }
    // Merge 6..=8 into one range.
    r.on_data(s(5), b"x", false).unwrap();
    r.on_data(s(7), b"x", false).unwrap();
    let (cumulative, _, sack) = r.ack(MAX_SACK_RANGES - 1);
    assert_eq!(cumulative, Seq(ISN - 1));
    assert_eq!(sack.len(), MAX_SACK_RANGES - 1);
    assert_eq!(sack.as_slice()[0], (s(2), s(2)));
    assert_eq!(sack.as_slice()[1], (s(4), s(8)));
    // 28 nearest ranges, then the highest one (what arrived most recently).
    assert_eq!(sack.as_slice()[27], (s(60), s(60)));
    assert_eq!(sack.as_slice()[28], (s(80), s(80)));
    assert_eq!(sack.validate(cumulative), Ok(()));
}

#[test]
fn wraps_around_2_pow_32() {
    let isn = u32::MAX - 2;
    let mut r = open(isn, 10_000, 100);
    let at = |k: u32| Seq(isn).add(k);
    assert_eq!(r.on_data(Seq(u32::MAX - 2), b"0", false), Ok(DataOutcome::Delivered));
    assert_eq!(r.on_data(Seq(u32::MAX), b"2", false), Ok(DataOutcome::Buffered));
    assert_eq!(r.on_data(Seq(0), b"3", false), Ok(DataOutcome::Buffered));
    assert_eq!(r.on_data(Seq(2), b"5", true), Ok(DataOutcome::Buffered));
    let (cumulative, window, sack) = r.ack(MAX_SACK_RANGES - 1);
    assert_eq!(cumulative, Seq(u32::MAX - 2));
    assert_eq!(window, 99); // (10_000 - 4) / 100, from the cumulative ack
    assert_eq!(sack.as_slice(), [(Seq(u32::MAX), Seq(0)), (Seq(2), Seq(2))]);
    assert_eq!(sack.validate(cumulative), Ok(()));
    r.mark_ack_sent();
    assert_eq!(r.on_data(Seq(u32::MAX - 1), b"1", false), Ok(DataOutcome::Delivered));
    assert_eq!(r.ack(MAX_SACK_RANGES - 1).0, Seq(0));
    assert_eq!(r.ack(MAX_SACK_RANGES - 1).2.as_slice(), [(Seq(2), Seq(2))]);
    assert_eq!(r.on_data(at(4), b"4", false), Ok(DataOutcome::Delivered));
    assert_eq!(r.ack(MAX_SACK_RANGES - 1).0, Seq(2));
    assert_eq!(read_all(&mut r), b"012345");
    assert!(r.is_finished());
    // A duplicate from before the wrap is still recognised.
    assert_eq!(r.on_data(Seq(u32::MAX - 2), b"0", false), Ok(DataOutcome::Duplicate));
    r.check_invariants();
}

#[test]
fn only_the_isn_before_the_first_ack() {
    let mut r = RecvStream::new(ISN, 1000, 100);
    // PROTOCOL §8.4: until it hears an ACK the peer may send only seq = isn.
    assert_eq!(r.on_data(s(1), b"b", false), Err(RecvError::BeyondWindow));
    assert_eq!(r.on_data(s(0), b"a", false), Ok(DataOutcome::Delivered));
    assert_eq!(r.on_data(s(1), b"b", false), Err(RecvError::BeyondWindow));
    r.mark_ack_sent();
    assert_eq!(r.on_data(s(1), b"b", false), Ok(DataOutcome::Delivered));
}

#[test]
fn beyond_the_right_edge_or_the_budget_is_dropped() {
    let mut r = open(ISN, 1000, 100);
    assert_eq!(r.ack(MAX_SACK_RANGES - 1).1, 10); // right edge isn + 9
    assert_eq!(r.on_data(s(10), b"x", false), Err(RecvError::BeyondWindow));
    assert_eq!(r.on_data(s(0x7FFF_FFFF), b"x", false), Err(RecvError::BeyondWindow));
    assert_eq!(r.on_data(s(9), b"x", false), Ok(DataOutcome::Buffered));
    // Bigger than the buffer even in order, with nothing out of order held.
    assert_eq!(r.on_data(s(0), &[0; 1001], false), Err(RecvError::BeyondWindow));
    assert_eq!(r.on_data(s(0), &[0; 999], false), Ok(DataOutcome::Delivered));
    assert_eq!(r.reneged(), 0);
    r.check_invariants();
}

#[test]
fn memory_stays_bounded_under_a_flood() {
    let capacity = 1000;
    let mut r = open(ISN, capacity, 100);
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for i in 0..20_000u32 {
        // xorshift: offsets mostly near the window, sometimes anywhere.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let offset = if i % 7 == 0 { x as u32 } else { (x % 40) as u32 };
        let len = (x >> 40) as usize % 1500;
        let _ = r.on_data(s(offset), &vec![0xa5; len], false);
        if i % 3 == 0 {
            r.mark_ack_sent();
        }
        if i % 500 == 0 {
            read_all(&mut r);
        }
        r.check_invariants();
        assert!(r.readable.len() + r.out_of_order_bytes <= capacity);
        assert!(r.out_of_order.len() <= capacity / 100);
    }
}

#[test]
fn the_right_edge_never_moves_back() {
    let mut r = open(ISN, 1000, 100);
    assert_eq!(r.ack(MAX_SACK_RANGES - 1).1, 10);
    // 500 bytes out of order: the free space now allows only 5 segments, but the edge holds.
    assert_eq!(r.on_data(s(9), &[0; 500], false), Ok(DataOutcome::Buffered));
    assert_eq!(r.ack(MAX_SACK_RANGES - 1).1, 10);
    r.mark_ack_sent();
    for k in 0..4 {
        r.on_data(s(k), &[0; 100], false).unwrap();
    }
    let (cumulative, window, _) = r.ack(MAX_SACK_RANGES - 1);
    assert_eq!((cumulative, window), (s(3), 6)); // edge still isn + 9
    r.mark_ack_sent();
    r.on_data(s(4), &[0; 100], false).unwrap();
    assert_eq!(r.ack(MAX_SACK_RANGES - 1).1, 5);
    // Inside the edge but over the buffer, out of order: dropped, not buffered (only the next
    // segment in order makes room by reneging).
    assert_eq!(r.on_data(s(6), &[0; 1], false), Err(RecvError::BeyondWindow));
    // Reading frees room, but within the edge already promised.
    read_all(&mut r);
    assert_eq!(r.ack(MAX_SACK_RANGES - 1).1, 5);
    // Filling the gap releases the buffered segment; reading then moves the edge forward.
    for k in 5..9 {
        r.on_data(s(k), &[0; 100], false).unwrap();
    }
    assert_eq!(r.ack(MAX_SACK_RANGES - 1).0, s(9));
    assert_eq!(r.ack(MAX_SACK_RANGES - 1).1, 1);
    read_all(&mut r);
    assert_eq!(r.ack(MAX_SACK_RANGES - 1).1, 10);
    r.check_invariants();
}

#[test]
fn window_update_when_reading_opens_a_closed_window() {
    let mut r = open(ISN, 1000, 100);
    for k in 0..10 {
        r.on_data(s(k), &[0; 100], false).unwrap();
    }
    r.mark_ack_sent();
    assert_eq!(r.ack(MAX_SACK_RANGES - 1).1, 0);
    assert!(!r.window_opened_since_last_ack());
    let mut out = [0u8; 100];
    r.read(&mut out);
    // From zero to one segment.
    assert!(r.window_opened_since_last_ack());
    assert_eq!(r.ack(MAX_SACK_RANGES - 1).1, 1);
    r.mark_ack_sent();
    assert!(!r.window_opened_since_last_ack());
    // From 1 (under a quarter, 2 segments) to 2: worth telling.
    r.read(&mut out);
    assert!(r.window_opened_since_last_ack());
    r.mark_ack_sent();
    // From 2 to 3: the peer still has room, wait for the next ACK.
    r.read(&mut out);
    assert!(!r.window_opened_since_last_ack());
}

#[test]
fn fin_in_order_finishes_once_read() {
    let mut r = open(ISN, 1000, 100);
    assert_eq!(r.on_data(s(0), b"ab", true), Ok(DataOutcome::Delivered));
    assert!(r.fin_received() && !r.is_finished());
    assert_eq!(read_all(&mut r), b"ab");
    assert!(r.is_finished());
    // The retransmitted FIN is a duplicate; one without FIN, or data after it, a violation.
    assert_eq!(r.on_data(s(0), b"ab", true), Ok(DataOutcome::Duplicate));
    assert_eq!(r.on_data(s(0), b"ab", false), Err(RecvError::FinMismatch));
    assert_eq!(r.on_data(s(1), b"c", false), Err(RecvError::AfterFin));
    // A FIN on a segment that had none.
    let mut r = open(ISN, 1000, 100);
    r.on_data(s(0), b"a", false).unwrap();
    assert_eq!(r.on_data(s(0), b"a", true), Err(RecvError::FinMismatch));
}

#[test]
fn fin_out_of_order() {
    let mut r = open(ISN, 1000, 100);
    assert_eq!(r.on_data(s(2), b"", true), Ok(DataOutcome::Buffered));
    assert!(!r.fin_received());
    assert_eq!(r.on_data(s(3), b"x", false), Err(RecvError::AfterFin));
    assert_eq!(r.on_data(s(1), b"b", true), Err(RecvError::FinMismatch));
    assert_eq!(r.on_data(s(2), b"", false), Err(RecvError::FinMismatch));
    assert_eq!(r.on_data(s(2), b"", true), Ok(DataOutcome::Duplicate));
    r.on_data(s(1), b"b", false).unwrap();
    r.on_data(s(0), b"a", false).unwrap();
    assert!(r.fin_received());
    assert_eq!(read_all(&mut r), b"ab");
    assert!(r.is_finished());
    // A FIN below data already buffered would put that data after the end.
    let mut r = open(ISN, 1000, 100);
    r.on_data(s(3), b"d", false).unwrap();
    assert_eq!(r.on_data(s(1), b"b", true), Err(RecvError::AfterFin));
    assert_eq!(r.fin_seq, None);
    r.check_invariants();
}

proptest! {
    /// Any sequence of segments — far, near, duplicated, with FIN anywhere — leaves the
    /// accounting consistent, memory within the budget and the window's right edge monotone.
    #[test]
    fn arbitrary_segments_stay_within_bounds(
        segments in prop::collection::vec(
            (prop_oneof![0u32..30, any::<u32>()], 0usize..300, prop::bool::weighted(0.1), 0u8..4),
            0..200,
        ),
    ) {
        let capacity = 1000;
        let mut r = RecvStream::new(u32::MAX - 3, capacity, 100);
        let mut edge = r.advertised_right_edge;
        let mut out = [0u8; 150];
        for (offset, len, fin, action) in segments {
            let seq = truncate(r.next + u64::from(offset));
            let _ = r.on_data(seq, &vec![7; len], fin);
            match action {
                0 => r.mark_ack_sent(),
                1 => {
                    r.read(&mut out);
                }
                _ => {}
            }
            r.check_invariants();
            assert!(r.advertised_right_edge >= edge);
            edge = r.advertised_right_edge;
            let (cumulative, window, sack) = r.ack(MAX_SACK_RANGES - 1);
            assert_eq!(sack.validate(cumulative), Ok(()));
            assert!(window <= MAX_WINDOW);
            assert!(r.out_of_order.len() <= capacity / 100);
        }
    }
}

#[test]
fn the_budget_drops_what_it_cannot_hold_and_keeps_the_right_edge() {
    let mut r = open(ISN, 100_000, 100);
    let edge = r.window();
    // Room for three out-of-order segments of 100 bytes (each charged 100 + ENTRY_COST).
    r.set_budget(Budget { allowance: 3 * (100 + ENTRY_COST), held_then: 0 });
    for o in 1..=3 {
        assert_eq!(r.on_data(s(o), &[o as u8; 100], false), Ok(DataOutcome::Buffered));
    }
    assert_eq!(r.on_data(s(4), &[4; 100], false), Err(RecvError::OverBudget));
    // PROTOCOL §10.6: not SACKed, and the right edge already advertised stays.
    let (_, window, sack) = r.ack(8);
    assert_eq!(sack.as_slice(), &[(s(1), s(3))]);
    assert_eq!(window, edge);
    assert_eq!(r.held(), 3 * (100 + ENTRY_COST));
    r.check_invariants();
}

#[test]
fn the_next_segment_in_order_reneges_on_the_highest_out_of_order_ones() {
    let mut r = open(ISN, 100_000, 100);
    r.set_budget(Budget { allowance: 3 * (100 + ENTRY_COST), held_then: 0 });
    for o in 1..=3 {
        r.on_data(s(o), &[o as u8; 100], false).unwrap();
    }
    // The gap's segment does not fit; discarding segment 3 makes room.
    assert_eq!(r.on_data(s(0), &[0; 100], false), Ok(DataOutcome::Delivered));
    assert_eq!(r.reneged(), 1);
    assert_eq!(read_all(&mut r), [[0u8; 100], [1; 100], [2; 100]].concat());
    // Segment 3 is taken again when resent.
    assert_eq!(r.on_data(s(3), &[3; 100], false), Ok(DataOutcome::Delivered));
    r.check_invariants();
}

#[test]
fn the_next_segment_in_order_reneges_when_out_of_order_segments_fill_the_buffer() {
    // A window of 10 segments of 100 bytes, filled above the gap by segments of 110 bytes (a
    // peer whose datagrams are larger than ours): the buffer is full before the gap is.
    let mut r = open(ISN, 1000, 100);
    for o in 1..=9 {
        assert_eq!(r.on_data(s(o), &[o as u8; 110], false), Ok(DataOutcome::Buffered));
    }
    assert_eq!(r.free_bytes(), 10);
    // The gap's segment would be refused for ever; discarding segment 9 makes room.
    assert_eq!(r.on_data(s(0), &[0; 100], false), Ok(DataOutcome::Delivered));
    assert_eq!(r.reneged(), 1);
    assert_eq!(r.ack(MAX_SACK_RANGES - 1).0, s(8));
    r.check_invariants();
    // Data the application has not read is never discarded: then the window is the limit.
    let mut r = open(ISN, 1000, 100);
    r.on_data(s(0), &[0; 950], false).unwrap();
    r.on_data(s(2), &[2; 40], false).unwrap();
    assert_eq!(r.on_data(s(1), &[1; 60], false), Err(RecvError::BeyondWindow));
    assert_eq!(r.reneged(), 0);
    r.check_invariants();
}
