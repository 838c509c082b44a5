//! The sending half of a stream: buffer, segmentation, scoreboard and loss detection.
//!
//! ```text
//!  stream offset:   buf_offset                      buf_offset + sent_len
//!                   |  bytes of segments in flight   |  unsent bytes      |
//!  buf (VecDeque):  [================================|====================]
//!  segments:        [una] [una+1] ...      [next_seq-1]   one per sequence number,
//!                   InFlight | Sacked | Lost              indexed by seq - una
//! ```
//!
//! Every DATA segment takes one sequence number (PROTOCOL §8.1) and references `(offset, len)`
//! of the stream; a retransmission resends exactly the same segment. The cumulative ack pops
//! segments off the front and frees their bytes; only it releases data, SACKs are advisory
//! (PROTOCOL §8.3).
//!
//! Loss is inferred three ways, each marking segments `Lost` for [`SendStream::next_segment`] to
//! resend lowest sequence number first:
//! - RFC 6675 §4 IsLost: DupThresh (3) segments above one are SACKed. Applied only to segments
//!   sent once: a retransmission is as old as its resend, not its sequence number, so SACKs of
//!   segments sent before the resend say nothing about it (that is RACK's job).
//! - RFC 8985 §6.2 (RACK): a segment sent before the most recently sent segment that was
//!   delivered is lost once `now >= sent + rtt + reo_wnd`; until then a timer is reported.
//! - RFC 6298 §5.4–5.6: the retransmission timeout marks everything in flight.
//!
//! Karn's algorithm (RFC 6298 §3, PROTOCOL §8.6): RTT samples come only from segments that were
//! never retransmitted.
//!
//! Everything an ACK claims is checked against what was sent before any of it is acted upon
//! (PROTOCOL §7.9): acknowledging a sequence number never sent is an error, and the work an ACK
//! causes is bounded by the number of segments in flight.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use self::loss::sent_after;
use super::{copy_from_deque, initial};

mod loss;

/// Where a sent segment stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SegmentState {
    /// Sent and neither acknowledged nor declared lost: counts in [`SendStream::bytes_in_flight`].
    InFlight,
    /// Selectively acknowledged (RFC 2018); kept until the cumulative ack covers it.
    Sacked,
    /// Declared lost, waiting to be retransmitted.
    Lost,
}

/// One DATA segment sent and not yet cumulatively acknowledged.
#[derive(Clone, Copy, Debug)]
struct SentSegment {
    /// Stream offset of its first byte.
    offset: u64,
    /// Payload bytes.
    len: usize,
    /// It ends the stream (PROTOCOL §8.7).
    fin: bool,
    /// When it was first sent.

    /// When it was last (re)sent.
    last_sent: Instant,
    /// It has been sent more than once (Karn: never an RTT sample).
    retransmitted: bool,
    /// Where it stands.
    state: SegmentState,
}

/// A segment to put on the wire now: DATA with sequence number `seq` carrying stream bytes
/// `offset..offset + len` (copied with [`SendStream::payload`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Outgoing {
    /// Extended sequence number (the wire carries `arq::truncate(seq)`).
    pub(crate) seq: u64,
    /// Stream offset of the payload.
    pub(crate) offset: u64,
    /// Payload length (0 only for a FIN-only segment).
    pub(crate) len: usize,
    /// Set the FIN flag.
    pub(crate) fin: bool,
    /// A retransmission: set the RTX flag (PROTOCOL §8.6).
    pub(crate) rtx: bool,
}

/// What an ACK changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct AckOutcome {
    /// Bytes (payload plus per-packet overhead) of segments newly acknowledged, cumulatively or
    /// by SACK; each segment is counted once, when first acknowledged either way.
    pub(crate) acked_bytes: u64,
    /// Segments newly acknowledged.
    pub(crate) acked_packets: u64,
    /// `now` minus the send time of the most recently sent newly acknowledged segment that was
    /// never retransmitted (RFC 6298 §3, Karn's algorithm).
    pub(crate) rtt_sample: Option<Duration>,
    /// The latest send time among newly acknowledged segments (for congestion control's
    /// recovery period).
    pub(crate) largest_acked_sent: Option<Instant>,
    /// The cumulative ack advanced.
    pub(crate) new_cumulative: bool,
    /// A segment that had been retransmitted was among those newly acknowledged.
    pub(crate) acked_retransmission: bool,
}

/// What loss detection found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LossOutcome {
    /// Bytes (payload plus overhead) newly declared lost.
    pub(crate) lost_bytes: u64,
    /// Segments newly declared lost.
    pub(crate) lost_packets: u64,
    /// The latest send time among them (for congestion control's recovery period).
    pub(crate) largest_lost_sent: Option<Instant>,
    /// When RACK's time threshold expires for the earliest segment not yet lost by it
    /// (RFC 8985 §6.2 step 5): call [`SendStream::detect_losses`] again then.
    pub(crate) next_timer: Option<Instant>,
}

/// An ACK that contradicts what was sent: a protocol violation (PROTOCOL §7.9). Nothing of the
/// ACK was applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AckError {
    /// The ACK covers a sequence number this side has not sent (PROTOCOL §8.2).
    #[error("acknowledges sequence number {0}, which was never sent")]
    NeverSent(u64),
    /// A SACK range ends before it starts.
    #[error("SACK range {start}..={end} is empty")]
    InvalidSack {
        /// First sequence number of the range.
        start: u64,
        /// Last sequence number of the range.
        end: u64,
    },
}

/// The sending half of a reliable stream (see the module documentation).
#[derive(Debug, Clone)]
pub(crate) struct SendStream {
    /// Stream bytes from `buf_offset` on: those of segments not yet cumulatively acked, then the
    /// unsent ones.
    buf: VecDeque<u8>,
    /// Stream offset of `buf[0]`.
    buf_offset: u64,
    /// How many bytes at the front of `buf` belong to sent segments.
    sent_len: usize,
    /// Most bytes `buf` may hold.
    capacity: usize,
    /// Bytes each packet costs beyond its payload, counted in flight and in acks.
    overhead: u64,
    /// Lowest sequence number not cumulatively acknowledged.
    una: u64,
    /// Sequence number of the next new segment.
    next_seq: u64,
    /// `segments[i]` has sequence number `una + i`; `len == next_seq - una`.
    segments: VecDeque<SentSegment>,
    /// `finish` was called.
    fin_requested: bool,
    /// The FIN segment has been sent.
    fin_sent: bool,
    /// The FIN segment has been cumulatively acknowledged (PROTOCOL §8.7).
    fin_acked: bool,
    /// Bytes (with overhead) of `InFlight` segments.
    bytes_in_flight: u64,
    /// Number of `InFlight` segments.
    packets_in_flight: usize,
    /// Number of `Lost` segments.
    lost_packets: usize,
    /// No `Lost` segment has a lower sequence number than this.
    lost_hint: u64,
    /// Highest sequence number ever SACKed.
    highest_sacked: Option<u64>,
    /// RFC 8985 RACK.xmit_ts and RACK.end_seq: the most recently sent segment delivered.
    rack: Option<(Instant, u64)>,
    /// RACK.min_RTT as of the last loss detection, to filter ambiguous retransmissions.
    rack_min_rtt: Option<Duration>,
    /// Retransmissions sent (a statistic).
    retransmits: u64,
    /// Retransmissions found unnecessary (a statistic; see [`Self::spurious_retransmit_count`]).
    spurious_retransmits: u64,
}

impl SendStream {
    /// A stream whose first segment has sequence number `isn`, buffering at most `capacity`
    /// bytes (unacknowledged ones included), counting `per_packet_overhead` bytes per segment.
    pub(crate) fn new(isn: u32, capacity: usize, per_packet_overhead: u64) -> Self {
        let una = initial(isn);
        Self {
            buf: VecDeque::new(),
            buf_offset: 0,
            sent_len: 0,
            capacity,
            overhead: per_packet_overhead,
            una,
            next_seq: una,
            segments: VecDeque::new(),
            fin_requested: false,
            fin_sent: false,
            fin_acked: false,
            bytes_in_flight: 0,
            packets_in_flight: 0,
            lost_packets: 0,
            lost_hint: una,
            highest_sacked: None,
            rack: None,
            rack_min_rtt: None,
            retransmits: 0,
            spurious_retransmits: 0,
        }
    }

    /// Appends as much of `data` as fits; returns the bytes accepted. 0 when the buffer is full
    /// (backpressure: acknowledgements make room) or after [`finish`](Self::finish).
    pub(crate) fn write(&mut self, data: &[u8]) -> usize {
        if self.fin_requested {
            return 0;
        }
        let n = data.len().min(self.free_space());
        self.buf.extend(&data[..n]);
        n
    }

    /// Ends the stream after the bytes written so far: the last segment carries FIN, or an
    /// empty FIN-only segment follows if everything was already sent. Idempotent.
    pub(crate) fn finish(&mut self) {
        self.fin_requested = true;
    }

    /// Sets the most bytes the buffer may hold (unacknowledged and unsent together). Bytes
    /// already held above a lowered capacity stay; [`write`](Self::write) takes more only once
    /// acknowledgements bring the buffer below it.
    pub(crate) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
    }

    /// Drops the buffered bytes and the scoreboard of a stream that will send nothing more (the
    /// connection ended), keeping the counters.
    pub(crate) fn discard(&mut self) {
        self.buf = VecDeque::new();
        self.segments = VecDeque::new();
        self.sent_len = 0;
        self.bytes_in_flight = 0;
        self.packets_in_flight = 0;
        self.lost_packets = 0;
        self.capacity = 0;
        self.una = self.next_seq;
        self.lost_hint = self.next_seq;
    }

    /// Bytes [`write`](Self::write) would accept now (0 after finish).
    pub(crate) fn free_space(&self) -> usize {
        if self.fin_requested { 0 } else { self.capacity.saturating_sub(self.buf.len()) }
    }

    /// Bytes held: unacknowledged and unsent.
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The FIN segment was cumulatively acknowledged: the stream is finished (PROTOCOL §8.7).
    pub(crate) fn is_fin_acked(&self) -> bool {
        self.fin_acked
    }

    /// New data (or a FIN) waits to be sent. Retransmissions are [`has_lost`](Self::has_lost).
    pub(crate) fn has_unsent_data(&self) -> bool {
        self.unsent_len() > 0 || (self.fin_requested && !self.fin_sent)
    }

    /// Bytes written but not yet put in a segment.
    fn unsent_len(&self) -> usize {
        self.buf.len() - self.sent_len
    }

    /// The next segment to send, if any: the lowest lost segment first (a retransmission,
    /// exempt from the peer's window, PROTOCOL §8.4), otherwise a new segment of up to `mss`
    /// unsent bytes (or FIN-only) if its sequence number is at most `right_edge`.
    ///
    /// The caller copies the payload with [`payload`](Self::payload) and must send the segment:
    /// it now counts as in flight since `now`.
    pub(crate) fn next_segment(&mut self, now: Instant, mss: usize, right_edge: u64) -> Option<Outgoing> {
        self.next_segment_within(now, mss, usize::MAX, right_edge)
    }

    /// [`next_segment`](Self::next_segment), except that a retransmission (whose size is fixed)
    /// longer than `rtx_max` waits: a new segment goes instead, if one may.
    pub(crate) fn next_segment_within(
        &mut self,
        now: Instant,
        mss: usize,
        rtx_max: usize,
        right_edge: u64,
    ) -> Option<Outgoing> {
        if let Some(rtx) = self.next_retransmission(now, rtx_max) {
            return Some(rtx);
        }
        // PROTOCOL §8.4: no new DATA beyond the right edge.
        if self.next_seq > right_edge {
            return None;
        }
        let unsent = self.unsent_len();
        let len = unsent.min(mss);
        let fin = self.fin_requested && !self.fin_sent && len == unsent;
        if len == 0 && !fin {
            return None;
        }
        let seq = self.next_seq;
        let offset = self.buf_offset + self.sent_len as u64;
        self.segments.push_back(SentSegment {
            offset,
            len,
            fin,
            last_sent: now,
            retransmitted: false,
            state: SegmentState::InFlight,
        });
        self.next_seq += 1;
        self.sent_len += len;
        self.fin_sent |= fin;
        self.bytes_in_flight += self.size(len);
        self.packets_in_flight += 1;
        Some(Outgoing { seq, offset, len, fin, rtx: false })
    }

    /// Moves the lowest `Lost` segment back in flight as a retransmission, if it is at most
    /// `max_len` long.
    fn next_retransmission(&mut self, now: Instant, max_len: usize) -> Option<Outgoing> {
        if self.lost_packets == 0 {
            return None;
        }
        let from = self.index(self.lost_hint.max(self.una)).unwrap_or(self.segments.len());
        let found = self.segments.range(from..).position(|s| s.state == SegmentState::Lost);
        let Some(index) = found.map(|i| i + from) else {
            debug_assert!(false, "lost_packets counts a Lost segment below lost_hint");
            self.lost_packets = 0;
            return None;
        };
        let seq = self.una + index as u64;
        let seg = self.segments.get_mut(index).filter(|seg| seg.len <= max_len)?;
        seg.state = SegmentState::InFlight;
        seg.retransmitted = true;
        seg.last_sent = now;
        let out = Outgoing { seq, offset: seg.offset, len: seg.len, fin: seg.fin, rtx: true };
        self.lost_packets -= 1;
        self.lost_hint = seq + 1;
        self.bytes_in_flight += self.size(out.len);
        self.packets_in_flight += 1;
        self.retransmits += 1;
        Some(out)
    }

    /// Copies the payload of a segment returned by [`next_segment`](Self::next_segment) into
    /// `out`; returns the bytes copied (`len` when `out` is large enough; 0 for bytes no longer
    /// held, i.e. already acknowledged).
    pub(crate) fn payload(&self, offset: u64, len: usize, out: &mut [u8]) -> usize {
        let Some(start) = offset.checked_sub(self.buf_offset).and_then(|d| usize::try_from(d).ok()) else {
            return 0;
        };
        let n = len.min(out.len());
        if start.saturating_add(n) > self.sent_len {
            return 0;
        }
        copy_from_deque(&self.buf, start, &mut out[..n])
    }

    /// Processes an ACK: `cumulative` is the last in-order sequence number the peer received and
    /// `sack` its selectively acknowledged inclusive ranges (at most `MAX_SACK_RANGES`), all
    /// already expanded to extended sequence numbers.
    ///
    /// An ACK of a sequence number not yet sent is rejected whole (PROTOCOL §8.2). A cumulative
    /// ack below the current one is stale (ACKs are reordered) and does not move anything back;
    /// its SACK ranges are still applied, as receivers keep what they SACK.
    pub(crate) fn on_ack(
        &mut self,
        now: Instant,
        cumulative: u64,
        sack: &[(u64, u64)],
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

        let mut outcome = AckOutcome::default();
        let mut newest_unambiguous: Option<Instant> = None;
        // The newest send time acknowledged before this ACK: a segment sent earlier that is only
        // reported now (its SACK did not fit before) would give a sample far too large.
        let previous_newest = self.rack.map(|(sent, _)| sent);

        // Cumulative part: pop every segment up to `cumulative`, free its bytes.
        if cumulative >= self.una {
            let mut released = 0usize;
            while self.una <= cumulative {
                let Some(seg) = self.segments.pop_front() else { break };
                self.delivered(now, self.una, &seg, &mut outcome, &mut newest_unambiguous);
                released += seg.len;
                self.fin_acked |= seg.fin;
                self.una += 1;
            }
            self.buf.drain(..released);
            super::shrink_if_oversized(&mut self.buf);
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
                let seq = self.una + index as u64;
                self.delivered(now, seq, &before, &mut outcome, &mut newest_unambiguous);
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
        Ok(outcome)
    }

    /// Accounts for `seg` (in its state before this ACK) being acknowledged for the first time.
    fn delivered(
        &mut self,
        now: Instant,
        seq: u64,
        seg: &SentSegment,
        outcome: &mut AckOutcome,
        newest_unambiguous: &mut Option<Instant>,
    ) {
        match seg.state {
            SegmentState::Sacked => return, // counted when it was SACKed
            SegmentState::InFlight => {
                self.bytes_in_flight -= self.size(seg.len);
                self.packets_in_flight -= 1;
            }
            SegmentState::Lost => self.lost_packets -= 1,
        }
        outcome.acked_bytes += self.size(seg.len);
        outcome.acked_packets += 1;
        outcome.largest_acked_sent =
            Some(outcome.largest_acked_sent.map_or(seg.last_sent, |t| t.max(seg.last_sent)));
        if seg.retransmitted {
            outcome.acked_retransmission = true;
        } else {
            *newest_unambiguous = Some(newest_unambiguous.map_or(seg.last_sent, |t| t.max(seg.last_sent)));
        }
        // RFC 8985 §6.2 step 2: a retransmission acknowledged sooner than min_RTT after it was
        // sent was delivered by an earlier transmission (no packet makes the round trip faster
        // than the path's minimum): it does not update RACK, and it was spurious (RFC 3522's
        // question, answered by timing instead of timestamps).
        if seg.retransmitted
            && seg.state == SegmentState::InFlight
            && self.rack_min_rtt.is_some_and(|min| now.saturating_duration_since(seg.last_sent) < min)
        {
            self.spurious_retransmits += 1;
            return;
        }
        if seg.retransmitted
            && self.rack_min_rtt.is_some_and(|min| now.saturating_duration_since(seg.last_sent) < min)
        {
            return;
        }
        if self.rack.is_none_or(|(t, s)| sent_after(seg.last_sent, seq, t, s)) {
            self.rack = Some((seg.last_sent, seq));
        }
    }

    /// Bytes (with overhead) of segments in flight: sent, not acknowledged, not declared lost.
    pub(crate) fn bytes_in_flight(&self) -> u64 {
        self.bytes_in_flight
    }

    /// When the earliest-sent segment still in flight was (last) sent: the retransmission timer
    /// runs from there (RFC 6298 §5.1, §5.3).
    pub(crate) fn oldest_in_flight_sent(&self) -> Option<Instant> {
        let mut oldest: Option<Instant> = None;
        for seg in self.segments.iter().filter(|s| s.state == SegmentState::InFlight) {
            oldest = Some(oldest.map_or(seg.last_sent, |t| t.min(seg.last_sent)));
            if !seg.retransmitted {
                // Sent once: every higher segment was first sent no earlier, and resent later.
                break;
            }
        }
        oldest
    }

    /// Lowest sequence number not cumulatively acknowledged.
    pub(crate) fn una(&self) -> u64 {
        self.una
    }

    /// Sequence number the next new segment will take.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Some segment is in flight (the retransmission timer must run).
    pub(crate) fn has_in_flight(&self) -> bool {
        self.packets_in_flight > 0
    }

    /// Some segment waits for retransmission.
    pub(crate) fn has_lost(&self) -> bool {
        self.lost_packets > 0
    }

    /// Retransmissions sent so far.
    pub(crate) fn retransmit_count(&self) -> u64 {
        self.retransmits
    }

    /// Retransmissions acknowledged sooner than the minimum RTT after they were sent: an
    /// earlier transmission had arrived, so they were not needed. A lower bound (a spurious
    /// retransmission whose acknowledgement comes later is not recognised).
    pub(crate) fn spurious_retransmit_count(&self) -> u64 {
        self.spurious_retransmits
    }

    /// Bytes a segment of `len` payload bytes counts for.
    fn size(&self, len: usize) -> u64 {
        (len as u64).saturating_add(self.overhead)
    }

    /// Index into `segments` of sequence number `seq`, if it is held.
    fn index(&self, seq: u64) -> Option<usize> {
        let index = usize::try_from(seq.checked_sub(self.una)?).ok()?;
        (index < self.segments.len()).then_some(index)
    }
}

#[cfg(test)]
#[path = "send_tests.rs"]
mod tests;

impl SendStream {
    /// Whether `finish` was called: no more bytes may be written.
    pub(crate) fn is_finishing(&self) -> bool {
        self.fin_requested
    }
}
