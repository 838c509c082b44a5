//! The sender's side of the tail loss probe (RFC 8985 §7): which segment probes, and what its
//! acknowledgement says. The timer itself is the connection's (`connection/loss.rs`).
//!
//! A probe is new data when there is some, else the last segment sent, resent. When a resent
//! probe is acknowledged later than the minimum RTT after it left and no DSACK says the original
//! arrived too, the probe repaired a loss (§7.4.2): the congestion controller must hear of it,
//! and the loss begins a recovery episode that a later DSACK can still undo.

use std::time::Instant;

use super::{SegmentState, SendStream};

/// A probe in flight (RFC 8985 `TLP.end_seq` and `TLP.is_retrans`).
#[derive(Clone, Copy, Debug)]
pub(super) struct Probe {
    /// Its sequence number.
    pub(super) seq: u64,
    /// It resent a segment already sent.
    pub(super) retransmission: bool,
}

/// A resent probe whose acknowledgement showed that it repaired a loss (RFC 8985 §7.4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RepairedLoss {
    /// When the probe was sent.
    pub(crate) sent: Instant,
    /// Its size.
    pub(crate) bytes: u64,
}

impl SendStream {
    /// Whether a tail loss probe may be armed or sent (RFC 8985 §7.2): data in flight, not in
    /// recovery, nothing waiting to be resent, no probe outstanding.
    pub(crate) fn may_probe(&self) -> bool {
        self.has_in_flight() && !self.in_recovery() && !self.has_lost() && self.probe.is_none()
    }

    /// When the last DATA segment (new or resent) left.
    pub(crate) fn last_sent(&self) -> Option<Instant> {
        self.last_sent
    }

    /// RFC 8985 §7.3: no new data to probe with: the last segment in flight is queued for
    /// retransmission (not declared lost: no loss is counted). Returns false if none is.
    pub(crate) fn queue_probe_retransmission(&mut self) -> bool {
        let Some(index) = self.segments.iter().rposition(|s| s.state == SegmentState::InFlight) else {
            return false;
        };
        let seq = self.una + index as u64;
        let overhead = self.overhead;
        let Some(seg) = self.segments.get_mut(index) else { return false };
        seg.state = SegmentState::Lost;
        self.bytes_in_flight -= (seg.len as u64).saturating_add(overhead);
        self.packets_in_flight -= 1;
        self.lost_packets += 1;
        self.lost_hint = self.lost_hint.min(seq);
        true
    }

    /// The probe left as segment `seq` (a retransmission if `retransmission`).
    pub(crate) fn probe_sent(&mut self, seq: u64, retransmission: bool) {
        self.probe = Some(Probe { seq, retransmission });
    }

    /// Segment `seq` was delivered; `sent`, `bytes` and `too_soon` describe that transmission
    /// (`too_soon`: acknowledged sooner than the minimum RTT after it left). Returns the repaired
    /// loss if it was a resent probe that did repair one (subject to this ACK's DSACK, see
    /// [`Self::settle_probe`]).
    pub(super) fn probe_delivered(
        &mut self,
        seq: u64,
        sent: Instant,
        bytes: u64,
        too_soon: bool,
    ) -> Option<RepairedLoss> {
        let probe = self.probe.filter(|p| p.seq == seq)?;
        self.probe = None;
        (probe.retransmission && !too_soon).then_some(RepairedLoss { sent, bytes })
    }

    /// Ends an ACK for the probe: a repaired loss that this ACK's DSACK contradicts (`dsack`
    /// names its sequence number: the original arrived too) is no loss; a real one begins a
    /// recovery episode at `now` holding the probe as its retransmission.
    pub(super) fn settle_probe(
        &mut self,
        now: Instant,
        repaired: Option<(u64, RepairedLoss)>,
        dsack: &[(u64, u64)],
    ) -> Option<RepairedLoss> {
        let (seq, loss) = repaired?;
        if dsack.iter().any(|&(s, e)| (s..=e).contains(&seq)) {
            return None;
        }
        self.note_loss(now, Some(loss.sent), 1);
        Some(loss)
    }

    /// The retransmission timer fired: an outstanding probe is forgotten.
    pub(super) fn forget_probe(&mut self) {
        self.probe = None;
    }
}
