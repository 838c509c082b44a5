//! Loss detection on the sender's scoreboard: RFC 8985 RACK's time threshold with its
//! reordering window (`reorder.rs`: 0 until reordering is seen once DupThresh segments are
//! SACKed, RFC 6675's duplicate-ACK threshold), and the retransmission timeout (RFC 6298
//! §5.4–5.6). Each marks segments `Lost` for [`SendStream::next_segment`] to resend, lowest
//! sequence number first.

use std::time::Instant;

use super::{LossOutcome, SegmentState, SendStream};
use crate::congestion::LostPacket;
use crate::recovery::RttEstimator;

/// RFC 8985 §6.2 RACK_sent_after: whether `(t1, seq1)` was sent after `(t2, seq2)`, ties on the
/// clock broken by sequence number.
pub(super) fn sent_after(t1: Instant, seq1: u64, t2: Instant, seq2: u64) -> bool {
    t1 > t2 || (t1 == t2 && seq1 > seq2)
}

impl SendStream {
    /// Declares segments lost (RFC 8985 RACK) up to the highest SACKed sequence number; they are
    /// retransmitted lowest first. `on_lost` hears of each newly lost segment.
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
        // RFC 8985 §6.2 step 4: the reordering window; step 5 compares against RACK.rtt, the
        // round trip of the most recently sent segment delivered.
        let Some((_, _, rack_rtt)) = self.rack else { return outcome };
        let threshold = rack_rtt.saturating_add(self.reo_wnd(rtt));

        for index in (0..=top).rev() {
            let Some(&seg) = self.segments.get(index) else { continue };
            let seq = self.una + index as u64;
            if seg.state != SegmentState::InFlight {
                continue;
            }
            let mut lost = false;
            // RFC 8985 §6.2 step 5: sent before the RACK segment and older than rtt + reo_wnd.
            if let Some((rack_sent, rack_seq, _)) = self.rack {
                if sent_after(rack_sent, rack_seq, seg.last_sent, seq) {
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
                self.note_loss(now, Some(seg.last_sent), 1);
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
    pub(crate) fn on_retransmission_timeout(&mut self, now: Instant) -> u64 {
        self.forget_probe();
        let in_flight = self.packets_in_flight as u64;
        self.note_loss(now, None, in_flight);
        self.resend_all()
    }

    /// Marks everything in flight for retransmission, as the timeout does, without starting a
    /// recovery episode (refused early data, PROTOCOL.md §9.3); returns the bytes taken out of
    /// flight.
    pub(crate) fn resend_all(&mut self) -> u64 {
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
                        self.sacked_packets -= 1;
                    }
                }
                _ => {}
            }
        }
        self.lost_hint = self.una;
        before - self.bytes_in_flight
    }
}
