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

use self::probe::Probe;
pub(crate) use self::probe::RepairedLoss;
use self::rate::{RateEstimator, TxState};
use self::reorder::{Reordering, Undo};
use super::{copy_from_deque, initial};
use crate::congestion::RateSample;

mod ack;
mod loss;
mod probe;
mod rate;
mod reorder;

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
    /// When it was last (re)sent.
    last_sent: Instant,
    /// It has been sent more than once (Karn: never an RTT sample).
    retransmitted: bool,
    /// Where it stands.
    state: SegmentState,
    /// What the connection knew when it was last sent, for the delivery-rate estimator.
    tx: TxState,
    /// The packet counter of its last transmission ([`NO_COUNTER`] when that was not a
    /// transport packet, or not yet recorded).
    counter: u64,
}

/// [`SentSegment::counter`] when the segment's packet had no transport counter.
const NO_COUNTER: u64 = u64::MAX;

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
    /// Retransmissions this ACK's DSACK proved unnecessary (RFC 3708).
    pub(crate) dsack_spurious: u64,
    /// Every retransmission of the current recovery episode proved spurious: the congestion
    /// response to it should be undone (once per episode).
    pub(crate) spurious_congestion: bool,
    /// A resent tail loss probe repaired a loss (RFC 8985 §7.4.2): the controller must hear of it.
    pub(crate) probe_repaired: Option<RepairedLoss>,
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
    /// The ACK acknowledges a segment whose packet its own ACK_ECHO says never arrived
    /// (PROTOCOL.md §8.8): the receiver acknowledges what it did not receive.
    #[error("acknowledges segment {seq}, whose packet (counter {counter}) it did not receive")]
    Unreceived {
        /// The segment.
        seq: u64,
        /// The counter of the packet that carried it.
        counter: u64,
    },
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
    /// Number of `Sacked` segments.
    sacked_packets: usize,
    /// RFC 8985 §6.2 reordering state.
    reordering: Reordering,
    /// The recovery episode and what can undo it (RFC 3708).
    undo: Option<Box<Undo>>,
    /// The tail loss probe in flight (RFC 8985 §7).
    probe: Option<Probe>,
    /// When the last DATA segment left.
    last_sent: Option<Instant>,
    /// RFC 8985 RACK.xmit_ts, RACK.end_seq and RACK.rtt: the most recently sent segment
    /// delivered, and its round-trip time.
    rack: Option<(Instant, u64, Duration)>,
    /// RACK.min_RTT as of the last loss detection, to filter ambiguous retransmissions.
    rack_min_rtt: Option<Duration>,
    /// Retransmissions sent (a statistic).
    retransmits: u64,
    /// Retransmissions found unnecessary (a statistic; see [`Self::spurious_retransmit_count`]).
    spurious_retransmits: u64,
    /// Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation-02).
    rate: RateEstimator,
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
            sacked_packets: 0,
            reordering: Reordering::default(),
            undo: None,
            probe: None,
            last_sent: None,
            rack: None,
            rack_min_rtt: None,
            retransmits: 0,
            spurious_retransmits: 0,
            rate: RateEstimator::default(),
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
        let tx = self.rate.on_sent(now, self.bytes_in_flight, self.size(len));
        self.segments.push_back(SentSegment {
            offset,
            len,
            fin,
            last_sent: now,
            retransmitted: false,
            state: SegmentState::InFlight,
            tx,
            counter: NO_COUNTER,
        });
        self.next_seq += 1;
        self.last_sent = Some(now);
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
        let len = self.segments.get(index).filter(|seg| seg.len <= max_len)?.len;
        let tx = self.rate.on_sent(now, self.bytes_in_flight, self.size(len));
        let seg = self.segments.get_mut(index)?;
        seg.tx = tx;
        seg.counter = NO_COUNTER;
        self.last_sent = Some(now);
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

    /// Ends the processing of one ACK (after its loss detection): the delivery-rate sample it
    /// produced, if valid (draft-cheng-iccrg-delivery-rate-estimation-02 §3.3).
    pub(crate) fn take_rate_sample(&mut self, now: Instant, min_rtt: Option<Duration>) -> Option<RateSample> {
        self.rate.take_sample(now, min_rtt)
    }

    /// The sender had nothing to send although the congestion window allowed it: an
    /// application-limited phase (draft-cheng-iccrg-delivery-rate-estimation-02 §3.4).
    pub(crate) fn mark_app_limited(&mut self) {
        self.rate.mark_app_limited(self.bytes_in_flight);
    }

    /// Whether an application-limited phase is in progress (its data not yet all delivered).
    pub(crate) fn is_app_limited(&self) -> bool {
        self.rate.is_app_limited()
    }

    /// Bytes delivered so far (`C.delivered`).
    pub(crate) fn delivered_bytes(&self) -> u64 {
        self.rate.delivered()
    }

    /// The path changed at `now`: rate samples from packets sent before are not produced.
    pub(crate) fn reset_rate_path(&mut self, now: Instant) {
        self.rate.reset_path(now);
    }

    /// Segment `seq`, just sent, left in the transport packet with `counter` (PROTOCOL.md §8.8).
    pub(crate) fn record_counter(&mut self, seq: u64, counter: u64) {
        if let Some(seg) = self.index(seq).and_then(|i| self.segments.get_mut(i)) {
            seg.counter = counter;
        }
    }

    /// Bytes (with overhead) of segments in flight: sent, not acknowledged, not declared lost.
    pub(crate) fn bytes_in_flight(&self) -> u64 {
        self.bytes_in_flight
    }

    /// Segments in flight.
    pub(crate) fn packets_in_flight(&self) -> u64 {
        self.packets_in_flight as u64
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

    /// Some segment is in flight.
    pub(crate) fn has_in_flight(&self) -> bool {
        self.packets_in_flight > 0
    }

    /// Some segment sent is not cumulatively acknowledged: the retransmission timer must run
    /// (RFC 6298 §5.1, §5.2), even when everything above the cumulative ack was SACKed and
    /// nothing is in flight, since a receiver may discard SACKed data (PROTOCOL §10.6
    /// *Reneging*, RFC 2018 §8) and only the timeout resends it.
    pub(crate) fn has_unacknowledged(&self) -> bool {
        !self.segments.is_empty()
    }

    /// When the retransmission timer starts from, at `now`: the (last) transmission of the
    /// oldest segment in flight; without one, `now` if segments wait to be resent (the timer
    /// runs from their resending); else, when everything outstanding was SACKed, the last
    /// transmission of the first unacknowledged segment.
    pub(crate) fn retransmit_timer_base(&self, now: Instant) -> Instant {
        match self.oldest_in_flight_sent() {
            Some(sent) => sent,
            None if self.has_lost() => now,
            None => self.segments.front().map_or(now, |seg| seg.last_sent),
        }
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
