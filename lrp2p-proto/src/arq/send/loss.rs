//! Loss detection on the sender's scoreboard: RFC 6675 IsLost (DupThresh), RFC 8985 RACK's
//! time threshold, and the retransmission timeout (RFC 6298 §5.4–5.6). Each marks segments
//! `Lost` for [`SendStream::next_segment`] to resend, lowest sequence number first.

use std::time::{Duration, Instant};

use super::{LossOutcome, SegmentState, SendStream};
use crate::congestion::LostPacket;
use crate::recovery::RttEstimator;

/// RFC 6675 §2: DupThresh, the number of SACKed segments above one that mark it lost.
const DUP_THRESH: usize = 3;

/// RFC 8985 §6.2 RACK_sent_after: whether `(t1, seq1)` was sent after `(t2, seq2)`, ties on the
/// clock broken by sequence number.
pub(super) fn sent_after(t1: Instant, seq1: u64, t2: Instant, seq2: u64) -> bool {
    t1 > t2 || (t1 == t2 && seq1 > seq2)
}

impl SendStream {
    /// Declares segments lost (RFC 6675 IsLost with DupThresh = 3; RFC 8985 RACK) up to the
    /// highest SACKed sequence number; they are retransmitted lowest first. `on_lost` hears of
    /// each newly lost segment.
    pub(crate) fn detect_losses(
        &mut self,
        now: Instant,
        rtt: &RttEstimator,
        on_lost: &mut dyn FnMut(&LostPacket),
    ) -> LossOutcome {
        self.rack_min_rtt = rtt.min_rtt();
        let mut outcome = LossOutcome::default();
        let Some(top) = self.highest_sacked.and_then(|h| self.index(h.min(self.next_seq.saturating_sub(1))))
        else {
            return outcome;
        };
        // RFC 8985 §6.2 step 4: reo_wnd = min_RTT / 4, at most SRTT; step 5 compares against
        // RACK.rtt, the latest sample.
        let srtt = rtt.smoothed_or_initial();
        let reo_wnd = rtt.min_rtt().map_or(Duration::ZERO, |min| min / 4).min(srtt);
        let threshold = rtt.latest().unwrap_or(srtt).saturating_add(reo_wnd);

        let mut sacked_above = 0usize;
        for index in (0..=top).rev() {
            let Some(&seg) = self.segments.get(index) else { continue };
            let seq = self.una + index as u64;
            match seg.state {
                SegmentState::Sacked => {
                    sacked_above = sacked_above.saturating_add(1);
                    continue;
                }
                SegmentState::Lost => continue,
                SegmentState::InFlight => {}
            }
            // RFC 6675 §4 IsLost: DupThresh discontiguous SACKed segments above it (segments
            // sent once only, see the module documentation).
            let mut lost = !seg.retransmitted && sacked_above >= DUP_THRESH;
            // RFC 8985 §6.2 step 5: sent before the RACK segment and older than rtt + reo_wnd.
            if let Some((rack_sent, rack_seq)) = self.rack {
                if !lost && sent_after(rack_sent, rack_seq, seg.last_sent, seq) {
                    match seg.last_sent.checked_add(threshold) {
                        Some(deadline) if now >= deadline => lost = true,
                        Some(deadline) => {
                            outcome.next_timer =
                                Some(outcome.next_timer.map_or(deadline, |t| t.min(deadline)));
                        }
                        None => {}
                    }
                }
            }
            if lost {
                let lost_total = self.mark_lost(index, seq);
                on_lost(&LostPacket {
                    now,
                    sent: seg.last_sent,
                    bytes: self.size(seg.len),
                    tx_in_flight: seg.tx.tx_in_flight,
                    lost_since_sent: lost_total.saturating_sub(seg.tx.lost),
                    is_app_limited: seg.tx.app_limited,
                });
                outcome.lost_bytes += self.size(seg.len);
                outcome.lost_packets += 1;
                outcome.largest_lost_sent =
                    Some(outcome.largest_lost_sent.map_or(seg.last_sent, |t| t.max(seg.last_sent)));
            }
        }
        outcome
    }

    /// Marks the in-flight segment at `index` (sequence number `seq`) lost; returns the bytes
    /// lost so far (`C.lost`).
    fn mark_lost(&mut self, index: usize, seq: u64) -> u64 {
        let overhead = self.overhead;
        let Some(seg) = self.segments.get_mut(index) else { return 0 };
        debug_assert_eq!(seg.state, SegmentState::InFlight);
        seg.state = SegmentState::Lost;
        let size = (seg.len as u64).saturating_add(overhead);
        self.bytes_in_flight -= size;
        self.packets_in_flight -= 1;
        self.lost_packets += 1;
        self.lost_hint = self.lost_hint.min(seq);
        self.rate.on_lost(size)
    }

    /// The retransmission timer expired (RFC 6298 §5.4–5.6): every segment in flight is marked
    /// lost, to be resent lowest first; returns the bytes (with overhead) taken out of flight.
    /// The caller backs the timer off (§5.5) and restarts it when it sends (§5.6).
    ///
    /// The first unacknowledged segment is resent even if it was SACKed (RFC 6298 §5.4 names it;
    /// RFC 2018 §8: a timeout may mean the receiver reneged): a receiver holding it would have
    /// acknowledged it cumulatively, so this is the one way out of a peer that dropped SACKed
    /// data.
    pub(crate) fn on_retransmission_timeout(&mut self) -> u64 {
        let before = self.bytes_in_flight;
        for index in 0..self.segments.len() {
            let seq = self.una + index as u64;
            match self.segments.get(index).map(|s| s.state) {
                Some(SegmentState::InFlight) => {
                    self.mark_lost(index, seq);
                }
                Some(SegmentState::Sacked) if index == 0 => {
                    if let Some(seg) = self.segments.get_mut(0) {
                        seg.state = SegmentState::Lost;
                        self.lost_packets += 1;
                    }
                }
                _ => {}
            }
        }
        self.lost_hint = self.una;
        before - self.bytes_in_flight
    }
}
