//! Tests of [`SendStream`]: segmentation, acknowledgement, loss detection, limits.
// Test data: byte patterns from indices.
#![allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap, clippy::cast_sign_loss)]
use proptest::prelude::*;

use super::*;
use crate::recovery::RttEstimator;

impl SendStream {
    /// Checks the counters against the segments (tests).
    pub(crate) fn check_invariants(&self) {
        let count = |state| self.segments.iter().filter(|s| s.state == state).count();
        assert_eq!(self.segments.len() as u64, self.next_seq - self.una);
        assert_eq!(count(SegmentState::InFlight), self.packets_in_flight);
        assert_eq!(count(SegmentState::Lost), self.lost_packets);
        let in_flight: u64 = self
            .segments
            .iter()
            .filter(|s| s.state == SegmentState::InFlight)
            .map(|s| self.size(s.len))
            .sum();
        assert_eq!(in_flight, self.bytes_in_flight);
        let sent: usize = self.segments.iter().map(|s| s.len).sum();
        assert_eq!(sent, self.sent_len);
        let mut offset = self.buf_offset;
        for seg in &self.segments {
            assert_eq!(seg.offset, offset);
            offset += seg.len as u64;
        }
        if let Some(first_lost) = self.segments.iter().position(|s| s.state == SegmentState::Lost) {
            assert!(self.una + first_lost as u64 >= self.lost_hint);
        }
    }
}

const MSS: usize = 100;
const OVERHEAD: u64 = 40;
/// Bytes a full segment counts for.
const FULL: u64 = MSS as u64 + OVERHEAD;
const ISN: u32 = 7;

// An `Instant` can only be had from the clock; only differences from it matter here.
#[allow(clippy::disallowed_methods)]
fn origin() -> Instant {
    Instant::now()
}

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// An estimator whose latest, smoothed and minimum RTT are all `rtt`.
fn estimator(rtt: Duration) -> RttEstimator {
    let mut e = RttEstimator::default();
    e.update(rtt, Duration::ZERO);
    e
}

/// A stream with `segments` full segments sent, the i-th at `t0 + i ms`.
fn sent(t0: Instant, segments: usize) -> (SendStream, Vec<Outgoing>) {
    let mut s = SendStream::new(ISN, 1 << 20, OVERHEAD);
    let data: Vec<u8> = (0..segments * MSS).map(|i| i as u8).collect();
    assert_eq!(s.write(&data), data.len());
    let out = (0..segments).map(|i| s.next_segment(t0 + ms(i as u64), MSS, u64::MAX).unwrap()).collect();
    s.check_invariants();
    (s, out)
}

#[test]
fn segments_by_mss() {
    let t0 = origin();
    let mut s = SendStream::new(ISN, 1000, OVERHEAD);
    let data: Vec<u8> = (0..250u32).map(|i| i as u8).collect();
    assert_eq!(s.write(&data), 250);
    assert!(s.has_unsent_data());
    let base = initial(ISN);
    let mut buf = [0u8; MSS];
    let mut expect = Vec::new();
    for (i, len) in [100, 100, 50].into_iter().enumerate() {
        let out = s.next_segment(t0, MSS, u64::MAX).unwrap();
        let seq = base + i as u64;
        assert_eq!(out, Outgoing { seq, offset: 100 * i as u64, len, fin: false, rtx: false });
        assert_eq!(s.payload(out.offset, out.len, &mut buf), len);
        expect.extend_from_slice(&buf[..len]);
    }
    assert_eq!(expect, data);
    assert!(!s.has_unsent_data());
    assert_eq!(s.next_segment(t0, MSS, u64::MAX), None);
    assert_eq!(s.bytes_in_flight(), 250 + 3 * OVERHEAD);
    assert_eq!(s.next_seq(), base + 3);
    assert_eq!(s.una(), base);
    // A zero mss sends nothing.
    s.write(b"x");
    assert_eq!(s.next_segment(t0, 0, u64::MAX), None);
    s.check_invariants();
}

#[test]
fn fin_rides_on_the_last_segment() {
    let t0 = origin();
    let mut s = SendStream::new(ISN, 1000, 0);
    s.write(&[1; 150]);
    s.finish();
    s.finish();
    assert_eq!(s.write(b"late"), 0);
    assert_eq!(s.free_space(), 0);
    let a = s.next_segment(t0, MSS, u64::MAX).unwrap();
    let b = s.next_segment(t0, MSS, u64::MAX).unwrap();
    assert!(!a.fin && b.fin && b.len == 50);
    assert_eq!(s.next_segment(t0, MSS, u64::MAX), None);
    assert!(!s.has_unsent_data());
}

#[test]
fn fin_only_segment_after_everything_was_sent() {
    let t0 = origin();
    let (mut s, out) = sent(t0, 2);
    assert!(!s.has_unsent_data());
    s.finish();
    assert!(s.has_unsent_data());
    let fin = s.next_segment(t0, MSS, u64::MAX).unwrap();
    assert_eq!(fin, Outgoing { seq: out[1].seq + 1, offset: 200, len: 0, fin: true, rtx: false });
    assert_eq!(s.next_segment(t0, MSS, u64::MAX), None);
    assert_eq!(s.bytes_in_flight(), 2 * FULL + OVERHEAD);
    assert!(!s.is_fin_acked());
    // SACKing the FIN does not finish the stream; only the cumulative ack does (PROTOCOL §8.7).
    s.on_ack(t0 + ms(50), out[0].seq - 1, &[(fin.seq, fin.seq)], &[], None).unwrap();
    assert!(!s.is_fin_acked());
    s.on_ack(t0 + ms(50), fin.seq, &[], &[], None).unwrap();
    assert!(s.is_fin_acked());
    assert_eq!(s.buffered(), 0);
    assert!(!s.has_in_flight());
    s.check_invariants();
}

#[test]
fn cumulative_ack_releases_bytes() {
    let t0 = origin();
    let (mut s, out) = sent(t0, 4);
    assert_eq!(s.buffered(), 400);
    let r = s.on_ack(t0 + ms(100), out[1].seq, &[], &[], None).unwrap();
    assert_eq!(r.acked_packets, 2);
    assert_eq!(r.acked_bytes, 2 * FULL);
    assert!(r.new_cumulative);
    // The sample comes from the newest-sent segment acknowledged: seg 1, sent at 1 ms.
    assert_eq!(r.rtt_sample, Some(ms(99)));
    assert_eq!(r.largest_acked_sent, Some(t0 + ms(1)));
    assert_eq!(s.una(), out[2].seq);
    assert_eq!(s.buffered(), 200);
    assert_eq!(s.bytes_in_flight(), 2 * FULL);
    // Released bytes are gone; held ones still copy out.
    let mut buf = [0u8; MSS];
    assert_eq!(s.payload(out[0].offset, MSS, &mut buf), 0);
    assert_eq!(s.payload(out[2].offset, MSS, &mut buf), MSS);
    assert_eq!(buf[0], 200u8);
    s.check_invariants();
}

#[test]
fn sack_counts_each_segment_once() {
    let t0 = origin();
    let (mut s, out) = sent(t0, 5);
    let before = out[0].seq - 1;
    let r = s.on_ack(t0 + ms(100), before, &[(out[2].seq, out[3].seq)], &[], None).unwrap();
    assert_eq!((r.acked_packets, r.acked_bytes, r.new_cumulative), (2, 2 * FULL, false));
    assert_eq!(r.rtt_sample, Some(ms(97)));
    assert_eq!(s.bytes_in_flight(), 3 * FULL);
    // The same ACK again changes nothing.
    let r = s.on_ack(t0 + ms(101), before, &[(out[2].seq, out[3].seq)], &[], None).unwrap();
    assert_eq!(r, AckOutcome::default());
    // The cumulative ack over them counts only the segments not SACKed before.
    let r = s.on_ack(t0 + ms(110), out[4].seq, &[], &[], None).unwrap();
    assert_eq!((r.acked_packets, r.acked_bytes), (3, 3 * FULL));
    assert!(!s.has_in_flight());
    assert_eq!(s.buffered(), 0);
    s.check_invariants();
}

#[test]
fn karn_no_sample_from_retransmissions() {
    let t0 = origin();
    let (mut s, out) = sent(t0, 2);
    assert_eq!(s.on_retransmission_timeout(origin()), 2 * FULL);
    let rtx = s.next_segment(t0 + ms(1000), MSS, u64::MAX).unwrap();
    assert!(rtx.rtx && rtx.seq == out[0].seq);
    // Only the retransmitted segment is acknowledged: ambiguous, no sample (RFC 6298 §3).
    let r = s.on_ack(t0 + ms(1010), out[0].seq, &[], &[], None).unwrap();
    assert_eq!(r.acked_packets, 1);
    assert_eq!(r.rtt_sample, None);
    assert_eq!(r.largest_acked_sent, Some(t0 + ms(1000)));
    // A segment sent once, acknowledged together with a retransmitted one, gives no sample
    // either: the ACK may answer the retransmission, and the 598 ms since segment 2 was sent
    // would measure the retransmission timeout, not the path (issue 9: the RTO then grew by
    // each such sample, without bound, on a lossy path).
    let (mut s, out) = sent(t0, 3);
    s.on_retransmission_timeout(origin());
    s.next_segment(t0 + ms(500), MSS, u64::MAX).unwrap(); // seq 0 again
    let r = s.on_ack(t0 + ms(600), out[0].seq, &[(out[2].seq, out[2].seq)], &[], None).unwrap();
    assert_eq!(r.acked_packets, 2);
    assert!(r.acked_retransmission);
    assert_eq!(r.rtt_sample, None);
    assert_eq!(s.retransmit_count(), 1);
    s.check_invariants();
}

#[test]
fn a_retransmission_acknowledged_within_min_rtt_was_spurious() {
    let t0 = origin();
    let rtt = estimator(ms(100));
    let (mut s, out) = sent(t0, 2);
    s.detect_losses(t0, &rtt, &mut |_| {}); // records min_rtt
    s.on_retransmission_timeout(origin());
    let rtx = s.next_segment(t0 + ms(300), MSS, u64::MAX).unwrap();
    assert_eq!(rtx.seq, out[0].seq);
    // The ACK of the first transmission comes 10 ms after the resend: it cannot be the resend's.
    s.on_ack(t0 + ms(310), out[0].seq, &[], &[], None).unwrap();
    assert_eq!(s.spurious_retransmit_count(), 1);
    // Segment 1 is resent and acknowledged a full round trip later: that resend was needed.
    let rtx = s.next_segment(t0 + ms(400), MSS, u64::MAX).unwrap();
    assert_eq!(rtx.seq, out[1].seq);
    s.on_ack(t0 + ms(500), out[1].seq, &[], &[], None).unwrap();
    assert_eq!(s.spurious_retransmit_count(), 1);
    assert_eq!(s.retransmit_count(), 2);
    s.check_invariants();
}

#[test]
fn late_report_of_an_old_segment_gives_no_rtt_sample() {
    let t0 = origin();
    let (mut s, out) = sent(t0, 5);
    // The newest segment is SACKed after 50 ms: a good sample.
    let r =
        s.on_ack(t0 + ms(54), out[0].seq.saturating_sub(1), &[(out[4].seq, out[4].seq)], &[], None).unwrap();
    assert_eq!(r.rtt_sample, Some(ms(50)));
    // Segment 2 arrived long ago but is reported only now (its SACK did not fit before): the
    // time since it was sent says nothing about the path.
    let r = s
        .on_ack(
            t0 + ms(2000),
            out[0].seq.saturating_sub(1),
            &[(out[2].seq, out[2].seq), (out[4].seq, out[4].seq)],
            &[],
            None,
        )
        .unwrap();
    assert_eq!(r.acked_packets, 1);
    assert_eq!(r.rtt_sample, None);
    s.check_invariants();
}

#[test]
fn dupthresh_sacked_segments_drop_the_reordering_window() {
    let t0 = origin();
    let rtt = estimator(ms(100));
    let (mut s, out) = sent(t0, 5);
    let now = t0 + ms(20);
    let base = out[0].seq - 1;
    s.on_ack(now, base, &[(out[1].seq, out[2].seq)], &[], None).unwrap();
    let r = s.detect_losses(now, &rtt, &mut |_| {});
    assert_eq!(r.lost_packets, 0);
    // RACK waits: seg 0 was sent before the delivered seg 2 (sent at 2 ms, RACK.rtt 18 ms),
    // deadline 0 + 18 + reo_wnd 25 ms (min_RTT / 4, RFC 8985 §6.2).
    assert_eq!(r.next_timer, Some(t0 + ms(43)));
    // A third SACKed segment, no reordering seen yet: reo_wnd = 0 (RFC 8985 §6.2 step 4, the
    // duplicate-ACK threshold of RFC 6675): seg 0 is lost at once (0 + RACK.rtt 17 <= 20).
    s.on_ack(now, base, &[(out[1].seq, out[3].seq)], &[], None).unwrap();
    let r = s.detect_losses(now, &rtt, &mut |_| {});
    assert_eq!((r.lost_packets, r.lost_bytes), (1, FULL));
    assert_eq!(r.largest_lost_sent, Some(t0));
    assert!(s.has_lost());
    let rtx = s.next_segment(now, MSS, u64::MAX).unwrap();
    assert_eq!((rtx.seq, rtx.offset, rtx.len, rtx.rtx), (out[0].seq, 0, MSS, true));
    // The retransmission is not declared lost again by the same SACKs.
    assert_eq!(s.detect_losses(now, &rtt, &mut |_| {}).lost_packets, 0);
    // Seg 4, above every SACK, is never scanned.
    s.check_invariants();
    assert_eq!(s.bytes_in_flight(), 2 * FULL);
}

#[test]
fn rack_marks_loss_when_its_timer_expires() {
    let t0 = origin();
    let rtt = estimator(ms(100));
    let (mut s, out) = sent(t0, 3);
    s.on_ack(t0 + ms(60), out[0].seq - 1, &[(out[2].seq, out[2].seq)], &[], None).unwrap();
    let r = s.detect_losses(t0 + ms(60), &rtt, &mut |_| {});
    assert_eq!(r.lost_packets, 0);
    // Seg 0 sent at 0, seg 1 at 1 ms; RACK.rtt 58 (seg 2 sent at 2, delivered at 60) +
    // reo_wnd 25 (RFC 8985 §6.2).
    assert_eq!(r.next_timer, Some(t0 + ms(83)));
    let r = s.detect_losses(t0 + ms(83), &rtt, &mut |_| {});
    assert_eq!(r.lost_packets, 1);
    assert_eq!(r.next_timer, Some(t0 + ms(84)));
    let r = s.detect_losses(t0 + ms(84), &rtt, &mut |_| {});
    assert_eq!((r.lost_packets, r.next_timer), (1, None));
    let first = s.next_segment(t0 + ms(84), MSS, u64::MAX).unwrap();
    let second = s.next_segment(t0 + ms(84), MSS, u64::MAX).unwrap();
    assert_eq!((first.seq, second.seq), (out[0].seq, out[1].seq));
    assert!(first.rtx && second.rtx);
    assert_eq!(s.next_segment(t0 + ms(84), MSS, u64::MAX), None);
    s.check_invariants();
}

#[test]
fn rack_detects_a_lost_retransmission() {
    let t0 = origin();
    let rtt = estimator(ms(100));
    let (mut s, out) = sent(t0, 1);
    s.on_retransmission_timeout(origin());
    s.next_segment(t0 + ms(300), MSS, u64::MAX).unwrap(); // seg 0 resent at 300
    s.write(&[0; MSS]);
    let new = s.next_segment(t0 + ms(310), MSS, u64::MAX).unwrap();
    s.on_ack(t0 + ms(410), out[0].seq - 1, &[(new.seq, new.seq)], &[], None).unwrap();
    // Sent (again) before the delivered segment, and in recovery (the timeout) with no
    // reordering seen: reo_wnd = 0, so lost once 300 + RACK.rtt 100 <= 410 (RFC 8985 §6.2).
    let r = s.detect_losses(t0 + ms(410), &rtt, &mut |_| {});
    assert_eq!((r.lost_packets, r.next_timer), (1, None));
}

#[test]
fn rto_marks_all_lost_and_resends_lowest_first() {
    let t0 = origin();
    let (mut s, out) = sent(t0, 4);
    s.on_ack(t0 + ms(50), out[0].seq - 1, &[(out[2].seq, out[2].seq)], &[], None).unwrap();
    assert_eq!(s.oldest_in_flight_sent(), Some(t0));
    assert_eq!(s.on_retransmission_timeout(origin()), 3 * FULL);
    assert_eq!(s.bytes_in_flight(), 0);
    assert!(!s.has_in_flight() && s.has_lost());
    assert_eq!(s.oldest_in_flight_sent(), None);
    let now = t0 + ms(1000);
    let seqs: Vec<u64> = (0..3).map(|_| s.next_segment(now, MSS, u64::MAX).unwrap().seq).collect();
    assert_eq!(seqs, [out[0].seq, out[1].seq, out[3].seq]);
    assert_eq!(s.next_segment(now, MSS, u64::MAX), None);
    assert_eq!(s.retransmit_count(), 3);
    assert_eq!(s.oldest_in_flight_sent(), Some(now));
    s.check_invariants();
}

#[test]
fn rto_resends_a_sacked_first_segment() {
    // Only a receiver that dropped SACKed data leaves the first unacked segment SACKed.
    let t0 = origin();
    let (mut s, out) = sent(t0, 2);
    s.on_ack(t0, out[0].seq - 1, &[(out[0].seq, out[1].seq)], &[], None).unwrap();
    assert_eq!(s.on_retransmission_timeout(origin()), 0);
    let rtx = s.next_segment(t0, MSS, u64::MAX).unwrap();
    assert_eq!((rtx.seq, rtx.rtx), (out[0].seq, true));
    assert_eq!(s.next_segment(t0, MSS, u64::MAX), None);
    s.check_invariants();
}

#[test]
fn sack_of_a_lost_segment_cancels_its_retransmission() {
    let t0 = origin();
    let (mut s, out) = sent(t0, 2);
    s.on_retransmission_timeout(origin());
    let r = s.on_ack(t0 + ms(5), out[0].seq - 1, &[(out[0].seq, out[0].seq)], &[], None).unwrap();
    assert_eq!(r.acked_packets, 1);
    assert_eq!(s.next_segment(t0 + ms(5), MSS, u64::MAX).unwrap().seq, out[1].seq);
    assert!(!s.has_lost());
    s.check_invariants();
}

#[test]
fn oldest_in_flight_accounts_for_retransmissions() {
    let t0 = origin();
    let (mut s, out) = sent(t0, 3);
    assert_eq!(s.oldest_in_flight_sent(), Some(t0));
    s.on_ack(t0 + ms(10), out[0].seq - 1, &[(out[1].seq, out[1].seq)], &[], None).unwrap();
    s.on_retransmission_timeout(origin());
    s.next_segment(t0 + ms(500), MSS, u64::MAX).unwrap(); // seq 0
    s.next_segment(t0 + ms(600), MSS, u64::MAX).unwrap(); // seq 2
    assert_eq!(s.oldest_in_flight_sent(), Some(t0 + ms(500)));
    s.on_ack(t0 + ms(700), out[0].seq, &[], &[], None).unwrap();
    assert_eq!(s.oldest_in_flight_sent(), Some(t0 + ms(600)));
}

#[test]
fn ack_of_never_sent_seq_is_rejected_whole() {
    let t0 = origin();
    let (mut s, out) = sent(t0, 3);
    let next = s.next_seq();
    let base = out[0].seq - 1;
    assert_eq!(s.on_ack(t0, next, &[], &[], None), Err(AckError::NeverSent(next)));
    assert_eq!(s.on_ack(t0, u64::MAX, &[], &[], None), Err(AckError::NeverSent(u64::MAX)));
    // The valid SACK range and cumulative ack are not applied either (PROTOCOL §7.9).
    assert_eq!(
        s.on_ack(t0, out[0].seq, &[(out[2].seq, out[2].seq), (next, next + 5)], &[], None),
        Err(AckError::NeverSent(next + 5))
    );
    assert_eq!(
        s.on_ack(t0, base, &[(out[2].seq, out[1].seq)], &[], None),
        Err(AckError::InvalidSack { start: out[2].seq, end: out[1].seq })
    );
    assert_eq!(s.una(), out[0].seq);
    assert_eq!(s.bytes_in_flight(), 3 * FULL);
    // Ranges below the cumulative ack, or overlapping, are harmless.
    let r = s.on_ack(
        t0,
        out[0].seq,
        &[(0, out[0].seq), (0, 3), (out[2].seq, out[2].seq), (out[1].seq, out[2].seq)],
        &[],
        None,
    );
    assert_eq!(r.unwrap().acked_packets, 3);
    s.check_invariants();
}

#[test]
fn stale_ack_is_ignored() {
    let t0 = origin();
    let (mut s, out) = sent(t0, 3);
    s.on_ack(t0 + ms(10), out[1].seq, &[], &[], None).unwrap();
    let r = s.on_ack(t0 + ms(11), out[0].seq, &[], &[], None).unwrap();
    assert_eq!(r, AckOutcome::default());
    let r = s.on_ack(t0 + ms(11), out[0].seq - 1, &[(out[1].seq, out[1].seq)], &[], None).unwrap();
    assert_eq!(r, AckOutcome::default());
    assert_eq!(s.una(), out[2].seq);
    assert_eq!(s.buffered(), 100);
    s.check_invariants();
}

#[test]
fn window_is_respected_but_retransmissions_are_exempt() {
    let t0 = origin();
    let mut s = SendStream::new(ISN, 10_000, OVERHEAD);
    s.write(&[9; 1000]);
    // PROTOCOL §8.4: before any ACK, right edge = isn.
    let edge = initial(ISN);
    let first = s.next_segment(t0, MSS, edge).unwrap();
    assert_eq!(first.seq, edge);
    assert_eq!(s.next_segment(t0, MSS, edge), None);
    // A zero window at the same edge still lets the lost segment go again.
    s.on_retransmission_timeout(origin());
    let rtx = s.next_segment(t0, MSS, edge - 1).unwrap();
    assert!(rtx.rtx && rtx.seq == edge);
    assert_eq!(s.next_segment(t0, MSS, edge), None);
    // The window opens by two.
    s.on_ack(t0, edge, &[], &[], None).unwrap();
    assert!(s.next_segment(t0, MSS, edge + 2).is_some());
    assert!(s.next_segment(t0, MSS, edge + 2).is_some());
    assert_eq!(s.next_segment(t0, MSS, edge + 2), None);
    s.check_invariants();
}

#[test]
fn backpressure_when_full_and_room_after_acks() {
    let t0 = origin();
    let mut s = SendStream::new(ISN, 300, OVERHEAD);
    assert_eq!(s.write(&[1; 500]), 300);
    assert_eq!(s.write(&[1; 10]), 0);
    assert_eq!(s.free_space(), 0);
    let a = s.next_segment(t0, MSS, u64::MAX).unwrap();
    s.next_segment(t0, MSS, u64::MAX).unwrap();
    // Sent but unacknowledged bytes still count.
    assert_eq!(s.write(&[1; 10]), 0);
    s.on_ack(t0 + ms(10), a.seq, &[], &[], None).unwrap();
    assert_eq!(s.free_space(), 100);
    assert_eq!(s.write(&[2; 500]), 100);
    assert_eq!(s.buffered(), 300);
    s.check_invariants();
}

#[test]
fn zero_capacity_accepts_nothing() {
    let mut s = SendStream::new(ISN, 0, 0);
    assert_eq!(s.write(b"abc"), 0);
    assert!(!s.has_unsent_data());
}

/// One step of a hostile or confused peer, or of the local side.
#[derive(Debug, Clone)]
enum Op {
    Write(usize),
    Send { mss: usize, edge: i64 },
    Ack { cumulative: i64, sack: Vec<(i64, u64)> },
    Detect { advance_ms: u64 },
    Timeout,
}

fn op() -> impl Strategy<Value = Op> {
    let offset = prop_oneof![-3i64..40, any::<i64>()];
    prop_oneof![
        (0usize..700).prop_map(Op::Write),
        (0usize..300, -2i64..40).prop_map(|(mss, edge)| Op::Send { mss, edge }),
        (offset.clone(), prop::collection::vec((offset, prop_oneof![0u64..5, any::<u64>()]), 0..6))
            .prop_map(|(cumulative, sack)| Op::Ack { cumulative, sack }),
        (0u64..300).prop_map(|advance_ms| Op::Detect { advance_ms }),
        Just(Op::Timeout),
    ]
}

proptest! {
    /// Whatever ACKs arrive, in whatever order with whatever ranges, the scoreboard stays
    /// consistent, nothing panics, and only ACKs of unsent numbers (or empty ranges) are refused.
    #[test]
    fn arbitrary_acks_keep_the_scoreboard_consistent(ops in prop::collection::vec(op(), 0..120)) {
        let t0 = origin();
        let mut now = t0;
        let rtt = estimator(ms(50));
        let mut s = SendStream::new(u32::MAX - 5, 2000, OVERHEAD);
        for op in ops {
            let una = s.una() as i64;
            match op {
                Op::Write(n) => {
                    s.write(&vec![1; n]);
                }
                Op::Send { mss, edge } => {
                    if let Some(out) = s.next_segment(now, mss, una.saturating_add(edge) as u64) {
                        let mut buf = vec![0; out.len];
                        assert_eq!(s.payload(out.offset, out.len, &mut buf), out.len);
                    }
                }
                Op::Ack { cumulative, sack } => {
                    let cumulative = una.saturating_add(cumulative) as u64;
                    let ranges: Vec<(u64, u64)> = sack
                        .iter()
                        .map(|&(start, len)| {
                            let start = una.saturating_add(start) as u64;
                            (start, start.saturating_add(len))
                        })
                        .collect();
                    let valid = cumulative < s.next_seq() && ranges.iter().all(|&(_, e)| e < s.next_seq());
                    let before = (s.una(), s.bytes_in_flight(), s.buffered());
                    match s.on_ack(now, cumulative, &ranges, &[], None) {
                        Ok(_) => assert!(valid),
                        Err(_) => {
                            assert!(!valid);
                            assert_eq!(before, (s.una(), s.bytes_in_flight(), s.buffered()));
                        }
                    }
                }
                Op::Detect { advance_ms } => {
                    now += ms(advance_ms);
                    let r = s.detect_losses(now, &rtt, &mut |_| {});
                    assert!(r.next_timer.is_none_or(|t| t > now));
                }
                Op::Timeout => {
                    s.on_retransmission_timeout(origin());
                    assert!(!s.has_in_flight());
                }
            }
            s.check_invariants();
            assert!(s.buffered() <= 2000);
        }
    }
}
