//! The receiving half of a stream: reassembly, the receive window and ACK contents.
//!
//! ```text
//!   seq:  ... cumulative | next ........................ advertised_right_edge
//!              (in order) | gap | ooo | gap | ooo ooo |   (beyond: dropped)
//!   bytes: readable (VecDeque) + out-of-order segments (BTreeMap) <= capacity
//! ```
//!
//! A DATA segment at the next expected sequence number appends its payload to the readable
//! bytes and releases any segments buffered after it; one above it waits in an ordered map.
//! Everything from the network is hostile: a segment beyond the right edge this side advertised
//! (PROTOCOL §8.4), or whose bytes would exceed the byte budget, is dropped, so memory stays
//! bounded by `capacity` bytes plus one map entry per sequence number inside the window;
//! duplicates are recognised without storing anything.
//!
//! Beside its own `capacity`, a stream draws from the endpoint's receive budget (PROTOCOL
//! §10.6): a [`Budget`] says how many more bytes it may hold. What it holds ([`held`]) counts
//! each out-of-order segment at [`ENTRY_COST`] bytes beyond its payload, so that tiny segments
//! cannot hold much more memory than they are charged. A segment the budget has no room for is
//! dropped unacknowledged ([`RecvError::OverBudget`]); to make room for the next segment in
//! order, out-of-order segments are discarded from the highest down (reneging on their SACK,
//! which PROTOCOL §8.3 makes advisory), so that a connection whose application reads never
//! stalls behind its own gap.
//!
//! The ACK reports the cumulative ack (PROTOCOL §8.2), a window in packets that never moves the
//! right edge backwards (§8.4) and fits both the free buffer and the budget, and SACK ranges
//! nearest the cumulative ack first (§8.3).
//!
//! [`held`]: RecvStream::held

use std::collections::{BTreeMap, VecDeque};

use super::{copy_from_deque, expand, initial, truncate};
use crate::wire::{MAX_SACK_RANGES, MAX_WINDOW, SackRanges, Seq};

/// What became of an accepted DATA segment. Every one of them must be acknowledged (PROTOCOL
/// §8.5), duplicates included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DataOutcome {
    /// It was the next expected segment: its bytes (and those of any buffered segments it
    /// unblocked) are readable.
    Delivered,
    /// It arrived out of order and waits for the gap below it (acknowledge at once, §8.5).
    Buffered,
    /// It was already received; this copy was discarded (PROTOCOL §8.1: the first copy is kept).
    Duplicate,
}

/// Bytes charged for each out-of-order segment beyond its payload: its map entry and its own
/// allocation (a `BTreeMap` node holds up to 11 entries of 40 bytes; the allocator rounds up).
pub(crate) const ENTRY_COST: usize = 64;

/// What the endpoint's receive budget lets a stream hold (PROTOCOL §10.6): `allowance` bytes
/// more than the `held_then` it held when the endpoint computed it.
///
/// The stream's own changes since (stored, read, discarded) move its room one for one, as they
/// move every term of the endpoint's rule (`endpoint::memory`), so the budget stays exact
/// between two calls of the endpoint without asking it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Budget {
    /// More bytes the stream may hold than `held_then`.
    pub(crate) allowance: usize,
    /// What the stream held when `allowance` was computed.
    pub(crate) held_then: usize,
}

impl Budget {
    /// No limit beyond the stream's own capacity.
    pub(crate) const UNLIMITED: Budget = Budget { allowance: usize::MAX, held_then: 0 };

    /// Bytes a stream holding `held` may still add.
    fn room(&self, held: usize) -> usize {
        self.allowance.saturating_add(self.held_then).saturating_sub(held)
    }
}

/// Why a DATA segment was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RecvError {
    /// Above the advertised right edge, or more bytes than the receive buffer has room for:
    /// dropped without acknowledgement (PROTOCOL §8.4).
    #[error("DATA segment beyond the receive window")]
    BeyondWindow,
    /// DATA above the FIN's sequence number: a protocol violation (PROTOCOL §8.7).
    #[error("DATA segment after the end of the stream")]
    AfterFin,
    /// A retransmission disagrees with the first copy about FIN (PROTOCOL §8.1), or a second
    /// FIN names a different end: a protocol violation.
    #[error("FIN flag disagrees with an earlier copy")]
    FinMismatch,
    /// Inside the window, but the endpoint's receive budget has no room for it: dropped
    /// without acknowledgement, the sender retransmits it later (PROTOCOL §10.6).
    #[error("DATA segment beyond the receive memory budget")]
    OverBudget,
}

/// The receiving half of a reliable stream (see the module documentation).
#[derive(Debug, Clone)]
pub(crate) struct RecvStream {
    /// Next sequence number expected in order (the cumulative ack plus one).
    next: u64,
    /// Bytes delivered in order and not yet read.
    readable: VecDeque<u8>,
    /// Segments received above `next`: payload and FIN flag.
    out_of_order: BTreeMap<u64, (Vec<u8>, bool)>,
    /// Payload bytes held in `out_of_order`.
    out_of_order_bytes: usize,
    /// Most bytes `readable` and `out_of_order` may hold together.
    capacity: usize,
    /// The payload size the window is counted in (at least 1).
    mss: usize,
    /// Sequence number of the FIN segment, once one was received (in order or not).
    fin_seq: Option<u64>,
    /// The highest right edge advertised; before any ACK, the peer may send only its isn.
    advertised_right_edge: u64,
    /// What the endpoint's receive budget allows (see [`Budget`]).
    budget: Budget,
    /// Out-of-order segments discarded to make room for in-order data.
    reneged: u64,
}

impl RecvStream {
    /// A stream whose first segment has sequence number `peer_isn`, holding at most `capacity`
    /// bytes, advertising its window in segments of `mss` bytes.
    pub(crate) fn new(peer_isn: u32, capacity: usize, mss: usize) -> Self {
        let next = initial(peer_isn);
        Self {
            next,
            readable: VecDeque::new(),
            out_of_order: BTreeMap::new(),
            out_of_order_bytes: 0,
            capacity,
            mss: mss.max(1),
            fin_seq: None,
            // PROTOCOL §8.4: until an ACK, the peer assumes A = isn - 1 and window = 1.
            advertised_right_edge: next,
            budget: Budget::UNLIMITED,
            reneged: 0,
        }
    }

    /// Whether `seq` is the peer's first segment, `peer_isn`, and that has not been delivered
    /// yet: where PROTOCOL.md §7.7 puts the initiator's APP_PROTOCOL id.
    pub(crate) fn is_first(&self, peer_isn: u32, seq: Seq) -> bool {
        let first = initial(peer_isn);
        self.next == first && expand(self.next, seq) == first
    }

    /// Sets what the endpoint's receive budget allows (PROTOCOL §10.6).
    pub(crate) fn set_budget(&mut self, budget: Budget) {
        self.budget = budget;
    }

    /// Bytes this stream holds against the receive budget: readable bytes, and out-of-order
    /// payloads plus [`ENTRY_COST`] each.
    pub(crate) fn held(&self) -> usize {
        self.readable.len() + self.out_of_order_bytes + ENTRY_COST * self.out_of_order.len()
    }

    /// Out-of-order segments discarded (after they were SACKed) to make room for in-order data.
    pub(crate) fn reneged(&self) -> u64 {
        self.reneged
    }

    /// Accepts a DATA segment with wire sequence number `seq`.
    ///
    /// Cheap rejections first: duplicates, data after the FIN, data beyond the advertised right
    /// edge or the byte budget, then data the receive budget has no room for (for the next
    /// segment in order, out-of-order segments are discarded first, from the highest down, if
    /// that makes room). Only a new segment in the window is copied.
    pub(crate) fn on_data(&mut self, seq: Seq, payload: &[u8], fin: bool) -> Result<DataOutcome, RecvError> {
        let seq = expand(self.next, seq);
        if seq < self.next {
            // Already delivered. PROTOCOL §8.1: a retransmission carries the same FIN flag.
            return if fin == (self.fin_seq == Some(seq)) {
                Ok(DataOutcome::Duplicate)
            } else {
                Err(RecvError::FinMismatch)
            };
        }
        if let Some(fin_seq) = self.fin_seq {
            // PROTOCOL §8.7: nothing follows the FIN.
            if seq > fin_seq {
                return Err(RecvError::AfterFin);
            }
            if fin != (seq == fin_seq) {
                return Err(RecvError::FinMismatch);
            }
        }
        if seq > self.advertised_right_edge {
            return Err(RecvError::BeyondWindow);
        }
        if let Some((_, stored_fin)) = self.out_of_order.get(&seq) {
            return if *stored_fin == fin { Ok(DataOutcome::Duplicate) } else { Err(RecvError::FinMismatch) };
        }
        // A FIN below segments already buffered would put data after the end.
        if fin && self.out_of_order.range(seq + 1..).next().is_some() {
            return Err(RecvError::AfterFin);
        }
        let cost = if seq > self.next { payload.len() + ENTRY_COST } else { payload.len() };
        if seq == self.next {
            self.renege_for(cost);
        }
        if payload.len() > self.free_bytes() {
            return Err(RecvError::BeyondWindow);
        }
        if cost > self.budget.room(self.held()) {
            return Err(RecvError::OverBudget);
        }

        if fin {
            self.fin_seq = Some(seq);
        }
        if seq > self.next {
            self.out_of_order.insert(seq, (payload.to_vec(), fin));
            self.out_of_order_bytes += payload.len();
            return Ok(DataOutcome::Buffered);
        }
        self.readable.extend(payload);
        self.next += 1;
        // Release the segments this one unblocked.
        while let Some(entry) = self.out_of_order.first_entry() {
            if *entry.key() != self.next {
                break;
            }
            let (bytes, _fin) = entry.remove();
            self.out_of_order_bytes -= bytes.len();
            self.readable.extend(&bytes);
            self.next += 1;
        }
        Ok(DataOutcome::Delivered)
    }

    /// PROTOCOL §10.6 *Reneging*: discards out-of-order segments, highest first, until the
    /// next segment in order (`cost` bytes) fits both the stream's own buffer and the budget,
    /// if discarding all of them would make it. Their SACK was advisory (§8.3): the sender
    /// resends them after its retransmission timeout.
    ///
    /// The buffer needs it as much as the budget does: a window counted in segments of the
    /// largest payload never overcommits the buffer, but a peer with larger datagrams than
    /// ours can still fill it above a gap, and without this the segment that fills the gap
    /// was refused for ever (a sender at 100 Mbit/s × 600 ms stalled so).
    fn renege_for(&mut self, cost: usize) {
        let (in_order, capacity, budget) = (self.readable.len(), self.capacity, self.budget);
        let fits = |ooo_bytes: usize, held: usize| {
            cost <= capacity.saturating_sub(in_order + ooo_bytes) && cost <= budget.room(held)
        };
        let (mut ooo_bytes, mut held) = (self.out_of_order_bytes, self.held());
        if fits(ooo_bytes, held) || !fits(0, in_order) {
            return;
        }
        let mut discarded = 0;
        while !fits(ooo_bytes, held) {
            let Some((_, (bytes, _fin))) = self.out_of_order.pop_last() else { break };
            ooo_bytes -= bytes.len();
            held -= bytes.len() + ENTRY_COST;
            discarded += 1;
        }
        self.out_of_order_bytes = ooo_bytes;
        self.reneged += discarded;
    }

    /// Reads in-order bytes into `out`; returns how many.
    pub(crate) fn read(&mut self, out: &mut [u8]) -> usize {
        let n = copy_from_deque(&self.readable, 0, out);
        self.readable.drain(..n);
        super::shrink_if_oversized(&mut self.readable);
        n
    }

    /// Drops what waits above a gap (the connection ended: the gap will never fill); the
    /// readable bytes stay.
    pub(crate) fn discard_out_of_order(&mut self) {
        self.out_of_order = BTreeMap::new();
        self.out_of_order_bytes = 0;
    }

    /// Bytes ready to [`read`](Self::read).
    pub(crate) fn readable(&self) -> usize {
        self.readable.len()
    }

    /// The FIN and every segment before it have arrived: the peer's stream is complete.
    pub(crate) fn fin_received(&self) -> bool {
        self.fin_seq.is_some_and(|fin| fin < self.next)
    }

    /// The stream is complete and every byte has been read.
    pub(crate) fn is_finished(&self) -> bool {
        self.fin_received() && self.readable.is_empty()
    }

    /// The contents of an ACK segment: cumulative ack (PROTOCOL §8.2; `peer_isn - 1` when
    /// nothing arrived), window in packets beyond it (§8.4) and SACK ranges (§8.3).
    ///
    /// The caller must call [`mark_ack_sent`](Self::mark_ack_sent) when it sends the ACK: data
    /// is accepted only up to the right edge advertised.
    pub(crate) fn ack(&self, room: usize) -> (Seq, u32, SackRanges) {
        (truncate(self.next - 1), self.window(), self.sack_ranges(room))
    }

    /// The window the next ACK advertises, in packets beyond the cumulative ack (PROTOCOL §8.4).
    pub(crate) fn window(&self) -> u32 {
        let window = self.right_edge().saturating_sub(self.next - 1);
        u32::try_from(window).unwrap_or(MAX_WINDOW).min(MAX_WINDOW)
    }

    /// Records that the ACK from [`ack`](Self::ack) was sent: its right edge is now promised.
    /// Call it when that ACK is sent, with no DATA processed in between.
    pub(crate) fn mark_ack_sent(&mut self) {
        self.advertised_right_edge = self.right_edge();
    }

    /// Whether reading opened the window enough that the peer should hear of it now: the window
    /// the peer knows was closed, or under a quarter of the buffer, and the window now is open,
    /// at least a quarter of the buffer (receiver-side silly window avoidance, RFC 1122
    /// §4.2.3.3, with the ACK as window update).
    pub(crate) fn window_opened_since_last_ack(&self) -> bool {
        let cumulative = self.next - 1;
        let known = self.advertised_right_edge.saturating_sub(cumulative);
        let now = self.right_edge().saturating_sub(cumulative);
        let quarter = (self.capacity / self.mss / 4).max(1) as u64;
        now > known && (known == 0 || (known < quarter && now >= quarter))
    }

    /// The right edge to advertise now: never behind the one already advertised (PROTOCOL §8.4),
    /// otherwise the cumulative ack plus what both the free buffer and the receive budget hold
    /// (each segment charged as if out of order), in segments (at most [`MAX_WINDOW`]).
    fn right_edge(&self) -> u64 {
        let budget = self.budget.room(self.held()) / (self.mss + ENTRY_COST);
        let window = (self.free_bytes() / self.mss).min(budget) as u64;
        let fresh = (self.next - 1).saturating_add(window.min(u64::from(MAX_WINDOW)));
        fresh.max(self.advertised_right_edge)
    }

    /// Bytes of the budget not held.
    fn free_bytes(&self) -> usize {
        self.capacity.saturating_sub(self.readable.len() + self.out_of_order_bytes)
    }

    /// SACK ranges of the out-of-order segments, ascending so that the ones nearest the
    /// cumulative ack come first (PROTOCOL §8.3; RFC 2018 §4 puts the newest block first, but
    /// the v1 wire format requires ascending ranges), at most `room` of them (what the ACK's
    /// extension budget leaves beside ACK_DELAY and DSACK, PROTOCOL §7.7).
    fn sack_ranges(&self, room: usize) -> SackRanges {
        let cumulative = truncate(self.next - 1);
        let mut ranges = SackRanges::EMPTY;
        // When there are more ranges than fit, the ones nearest the cumulative ack are reported
        // plus the highest one, so that the sender always learns what arrived most recently
        // (RFC 2018 §4's aim, within the ascending order v1 requires) and its time-based loss
        // detection can act on it.
        let room = room.clamp(1, MAX_SACK_RANGES);
        let mut current: Option<(u64, u64)> = None;
        for &seq in self.out_of_order.keys() {
            match current {
                Some((start, end)) if seq == end + 1 => current = Some((start, seq)),
                Some((start, end)) => {
                    if ranges.len() < room - 1 {
                        // Cannot fail: ranges ascend, above the cumulative ack, in the window.
                        let _ = ranges.push(cumulative, truncate(start), truncate(end));
                    }
                    current = Some((seq, seq));
                }
                None => current = Some((seq, seq)),
            }
        }
        if let Some((start, end)) = current {
            let _ = ranges.push(cumulative, truncate(start), truncate(end));
        }
        ranges
    }
}

#[cfg(test)]
#[path = "recv_tests.rs"]
mod tests;

impl RecvStream {
    /// Whether segments wait above a gap (an in-order arrival may have filled part of it).
    pub(crate) fn has_out_of_order(&self) -> bool {
        !self.out_of_order.is_empty()
    }
}
