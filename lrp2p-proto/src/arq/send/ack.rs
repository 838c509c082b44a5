//! ACK processing on the sender's scoreboard: the cumulative ack releases segments and their
//! bytes, SACK ranges (RFC 2018) mark segments delivered, and each newly delivered segment feeds
//! RACK (RFC 8985 §6.2), the RTT sample (RFC 6298 §3, Karn) and the delivery-rate estimator
//! (`rate.rs`).

use std::time::Instant;

use super::loss::sent_after;
use super::{AckError, AckOutcome, NO_COUNTER, RepairedLoss, SegmentState, SendStream, SentSegment};
use crate::wire::{AckEcho, Echoed};

impl SendStream {
    /// Processes an ACK: `cumulative` is the last in-order sequence number the peer received and
    /// `sack` its selectively acknowledged inclusive ranges (at most `MAX_SACK_RANGES`) and
    /// `dsack` the ranges it received twice (at most `MAX_DSACK_RANGES`), all already expanded
    /// to extended sequence numbers. With the ACK's `echo` (ACK_ECHO, PROTOCOL.md §8.8), every
    /// newly acknowledged segment sent once must have its packet among the counters echoed (or
    /// too old for the echo to say).
    ///
    /// An ACK of a sequence number not yet sent is rejected whole (PROTOCOL §8.2). A cumulative
    /// ack below the current one is stale (ACKs are reordered) and does not move anything back;
    /// its SACK ranges are still applied, as receivers keep what they SACK.
    pub(crate) fn on_ack(
        &mut self,
        now: Instant,
        cumulative: u64,
        sack: &[(u64, u64)],
        dsack: &[(u64, u64)],
        echo: Option<&AckEcho>,
    ) -> Result<AckOutcome, AckError> {
        // PROTOCOL §7.9: check the whole ACK before acting on any of it.
        if cumulative >= self.next_seq {
            return Err(AckError::NeverSent(cumulative));
        }
        for &(start, end) in sack {
            if start > end {
                return Err(AckError::InvalidSack { start, end });
            }
            if end >= self.next_seq {
                return Err(AckError::NeverSent(end));
            }
        }

        self.check_dsack(dsack)?;
        if let Some(echo) = echo {
            self.check_echo(cumulative, sack, echo)?;
        }

        let mut outcome = AckOutcome::default();
        let mut newest_unambiguous: Option<Instant> = None;
        let mut repaired = None;
        // The newest send time acknowledged before this ACK: a segment sent earlier that is only
        // reported now (its SACK did not fit before) would give a sample far too large.
        let previous_newest = self.rack.map(|(sent, _, _)| sent);

        // Cumulative part: pop every segment up to `cumulative`, free its bytes.
        if cumulative >= self.una {
            let mut released = 0usize;
            while self.una <= cumulative {
                let Some(seg) = self.segments.pop_front() else { break };
                if seg.state == SegmentState::Sacked {
                    self.sacked_packets -= 1;
                }
                repaired =
                    repaired.or(self.delivered(now, self.una, &seg, &mut outcome, &mut newest_unambiguous));
                released += seg.len;
                self.fin_acked |= seg.fin;
                self.una += 1;
            }
            self.buf.drain(..released);
            crate::arq::shrink_if_oversized(&mut self.buf);
            if self.segments.is_empty() {
                // Everything sent is acknowledged: an idle stream holds no scoreboard (a
                // connection that sent one record keeps no 448 bytes for it: issue 16's idle
                // peers); the next send allocates again.
                self.segments = std::collections::VecDeque::new();
                if self.buf.is_empty() {
                    self.buf = std::collections::VecDeque::new();
                }
            }
            self.sent_len -= released;
            self.buf_offset += released as u64;
            outcome.new_cumulative = true;
        }

        // Selective part (RFC 2018): mark segments still held as SACKed.
        for &(start, end) in sack {
            let (Some(lo), Some(hi)) = (self.index(start.max(self.una)), self.index(end)) else {
                continue; // entirely below the cumulative ack
            };
            for index in lo..=hi {
                let Some(seg) = self.segments.get_mut(index) else { break };
                if seg.state == SegmentState::Sacked {
                    continue;
                }
                let before = *seg;
                seg.state = SegmentState::Sacked;
                self.sacked_packets += 1;
                let seq = self.una + index as u64;
                repaired =
                    repaired.or(self.delivered(now, seq, &before, &mut outcome, &mut newest_unambiguous));
            }
            self.highest_sacked = Some(self.highest_sacked.map_or(end, |h| h.max(end)));
        }

        // RFC 6298 §3 (Karn): only segments sent once give a sample; and only a segment sent
        // after everything acknowledged so far (as RFC 8985 §6.2 and RFC 9002 §5.1 take
        // samples from the newest acknowledged packet only). An ACK that also acknowledges a
        // retransmission gives none at all, as in Linux (`FLAG_RETRANS_DATA_ACKED`): it may be
        // the answer to that retransmission, sent long after the segments sent once, whose own
        // ACK was lost. (Sampling them then measures the retransmission timeout, which then grows
        // by the sample, and so on: a lossy path's RTO diverged to tens of seconds.)
        outcome.rtt_sample = newest_unambiguous
            .filter(|_| !outcome.acked_retransmission)
            .filter(|&sent| previous_newest.is_none_or(|newest| sent > newest))
            .map(|sent| now.saturating_duration_since(sent));
        outcome.dsack_spurious = self.apply_dsack(dsack);
        outcome.probe_repaired = self.settle_probe(now, repaired, dsack);
        outcome.spurious_congestion = self.settle_episode();
        Ok(outcome)
    }

    /// PROTOCOL.md §8.8: a segment the ACK newly acknowledges, sent once in a transport packet,
    /// whose counter the echo says is missing, was never received. O(segments newly acked).
    fn check_echo(&self, cumulative: u64, sack: &[(u64, u64)], echo: &AckEcho) -> Result<(), AckError> {
        let check = |seq: u64, seg: &SentSegment| {
            let claimed = seg.state == SegmentState::Sacked || seg.retransmitted || seg.counter == NO_COUNTER;
            if !claimed && echo.echoed(seg.counter) == Echoed::Missing {
                return Err(AckError::Unreceived { seq, counter: seg.counter });
            }
            Ok(())
        };
        let cumulative_end = cumulative.saturating_add(1).saturating_sub(self.una);
        let count = usize::try_from(cumulative_end).unwrap_or(usize::MAX).min(self.segments.len());
        for (i, seg) in self.segments.iter().take(count).enumerate() {
            check(self.una + i as u64, seg)?;
        }
        for &(start, end) in sack {
            let (Some(lo), Some(hi)) = (self.index(start.max(self.una)), self.index(end)) else { continue };
            for (i, seg) in self.segments.range(lo..=hi).enumerate() {
                check(self.una + (lo + i) as u64, seg)?;
            }
        }
        Ok(())
    }

    /// Accounts for `seg` (in its state before this ACK) being acknowledged for the first time;
    /// returns the loss it repaired if it was a resent tail loss probe (`probe.rs`).
    fn delivered(
        &mut self,
        now: Instant,
        seq: u64,
        seg: &SentSegment,
        outcome: &mut AckOutcome,
        newest_unambiguous: &mut Option<Instant>,
    ) -> Option<(u64, RepairedLoss)> {
        match seg.state {
            SegmentState::Sacked => return None, // counted when it was SACKed
            SegmentState::InFlight => {
                self.bytes_in_flight -= self.size(seg.len);
                self.packets_in_flight -= 1;
            }
            SegmentState::Lost => {
                // Declared lost, delivered before it was resent: the declaration was false.
                self.lost_packets -= 1;
                self.note_premature_loss();
            }
        }
        let size = self.size(seg.len);
        self.rate.on_delivered(now, seq, seg.last_sent, &seg.tx, size);
        outcome.acked_bytes += size;
        outcome.acked_packets += 1;
        outcome.largest_acked_sent =
            Some(outcome.largest_acked_sent.map_or(seg.last_sent, |t| t.max(seg.last_sent)));
        if seg.retransmitted {
            outcome.acked_retransmission = true;
        } else {
            *newest_unambiguous = Some(newest_unambiguous.map_or(seg.last_sent, |t| t.max(seg.last_sent)));
        }
        self.note_delivery_order(seq, seg.retransmitted);
        // RFC 8985 §6.2 step 2: a retransmission acknowledged sooner than min_RTT after it was
        // sent was delivered by an earlier transmission (no packet makes the round trip faster
        // than the path's minimum): it does not update RACK. If it was still in flight it was
        // spurious (RFC 3522's question, answered by timing instead of timestamps).
        let too_soon =
            self.rack_min_rtt.is_some_and(|min| now.saturating_duration_since(seg.last_sent) < min);
        let repaired = self.probe_delivered(seq, seg.last_sent, size, too_soon).map(|loss| (seq, loss));
        if seg.retransmitted {
            self.note_acked_retransmission(seq, too_soon && seg.state == SegmentState::InFlight);
            if too_soon {
                return repaired;
            }
        }
        // RFC 8985 §6.2 step 2: RACK.rtt = now - xmit_ts of the most recently sent delivered.
        if self.rack.is_none_or(|(t, s, _)| sent_after(seg.last_sent, seq, t, s)) {
            self.rack = Some((seg.last_sent, seq, now.saturating_duration_since(seg.last_sent)));
        }
        repaired
    }
}
