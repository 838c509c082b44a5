//! Reordering is not loss: RFC 8985 §6.2's reordering window and its adaptation to DSACK, the
//! detection of spurious retransmissions (RFC 3708, by DSACK and by timing), and the recovery
//! episode whose congestion response is undone when every retransmission of it was spurious (as
//! Linux's `undo_retrans` does).
//!
//! - Reordering is *seen* (`RACK.reordering_seen`) when a segment sent once is delivered below
//!   the highest sequence number already delivered (`RACK.fack`, §6.2 step 3), or when a
//!   retransmission proves spurious: the original was only late.
//! - The window (§6.2 step 4): before reordering is seen, 0 during recovery or once DupThresh
//!   segments are SACKed (the duplicate-ACK threshold, RFC 6675's fast start of recovery);
//!   otherwise `min(reo_wnd_mult · min_RTT / 4, SRTT)`. `reo_wnd_mult` grows by one per round
//!   trip that brings a DSACK and falls back to 1 after 16 recoveries without one. A segment
//!   declared lost and then delivered before it could be resent is the same evidence without a
//!   DSACK (no second copy ever left), and widens the window the same way (beyond RFC 8985,
//!   which only has DSACK to go by because TCP resends at once).
//! - An episode begins with the first loss of data sent after the previous one began (one per
//!   window of data, as the controllers reduce once per window) or with a timeout. It counts the
//!   segments declared lost and the declarations proven false: the segment was delivered before
//!   it was resent, or its retransmission proved spurious. When every declaration was false the
//!   controller is told to undo (`AckOutcome::spurious_congestion`), as Linux undoes when no
//!   retransmission of the episode remains unexplained (`tcp_may_undo`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{AckError, SendStream};
use crate::recovery::RttEstimator;

/// RFC 6675 §2: DupThresh, the number of SACKed segments that starts recovery before
/// reordering has been seen.
pub(super) const DUP_THRESH: usize = 3;

/// RFC 8985 §6.2 step 4: recoveries without a DSACK before the window multiplier resets.
const REO_WND_PERSIST: u32 = 16;

/// Acknowledged retransmissions remembered for matching later DSACKs (16 bytes each).
const ACKED_RETRANSMISSIONS: usize = 4096;

/// RFC 8985 §6.2 reordering state.
#[derive(Clone, Debug)]
pub(super) struct Reordering {
    /// `RACK.reordering_seen`.
    pub(super) seen: bool,
    /// `RACK.fack`: the highest sequence number delivered.
    fack: Option<u64>,
    /// `RACK.reo_wnd_mult`.
    mult: u32,
    /// `RACK.reo_wnd_persist`.
    persist: u32,
    /// `RACK.dsack_round`: `next_seq` when the last DSACK round began.
    dsack_round: Option<u64>,
}

impl Default for Reordering {
    fn default() -> Self {
        Self { seen: false, fack: None, mult: 1, persist: REO_WND_PERSIST, dsack_round: None }
    }
}

/// One recovery episode (see the module documentation).
#[derive(Clone, Copy, Debug)]
pub(super) struct Episode {
    /// When its first loss was declared (or the timeout fired).
    start: Instant,
    /// `next_seq` then: recovery lasts until the cumulative ack passes it.
    end_seq: u64,
    /// Segments declared lost in it.
    losses: u64,
    /// Of those declarations, proven false.
    explained: u64,
    /// The cumulative ack passed `end_seq`.
    recovered: bool,
    /// The controller was told to undo it.
    undone: bool,
    /// It began with a retransmission timeout.
    timeout: bool,
}

impl Episode {
    pub(super) fn new(start: Instant, end_seq: u64) -> Self {
        Self { start, end_seq, losses: 0, explained: 0, recovered: false, undone: false, timeout: false }
    }
}

/// The undo bookkeeping: the current episode and the retransmissions it can still match.
/// Boxed in the stream and made at the first loss or acknowledged retransmission: a stream
/// that never lost anything holds a null pointer for it.
#[derive(Clone, Debug, Default)]
pub(super) struct Undo {
    pub(super) episode: Option<Episode>,
    /// Acknowledged retransmissions, oldest first: sequence number and whether it was already
    /// found spurious (so a DSACK after a timing proof does not count twice).
    acked: VecDeque<(u64, bool)>,
}

impl SendStream {
    /// RFC 8985 §6.2 step 3: segment `seq`, sent once, was just delivered.
    pub(super) fn note_delivery_order(&mut self, seq: u64, retransmitted: bool) {
        let r = &mut self.reordering;
        match r.fack {
            Some(fack) if seq < fack => {
                if !retransmitted {
                    r.seen = true;
                }
            }
            _ => r.fack = Some(seq),
        }
    }

    /// A retransmission `seq` was acknowledged; `spurious` when timing already proved it so.
    pub(super) fn note_acked_retransmission(&mut self, seq: u64, spurious: bool) {
        let undo = self.undo.get_or_insert_with(Box::default);
        if undo.acked.len() >= ACKED_RETRANSMISSIONS {
            undo.acked.pop_front();
        }
        undo.acked.push_back((seq, spurious));
        if spurious {
            self.on_spurious_retransmission();
        }
    }

    /// A retransmission was proven unnecessary: the path reorders, and the loss that caused it
    /// was no loss.
    fn on_spurious_retransmission(&mut self) {
        self.spurious_retransmits += 1;
        self.reordering.seen = true;
        self.note_false_loss();
    }

    /// A segment declared lost turned out delivered (by an earlier transmission).
    pub(super) fn note_false_loss(&mut self) {
        if let Some(ep) = self.episode_mut() {
            ep.explained += 1;
        }
    }

    /// A segment declared lost was delivered before it was resent: the reordering window was
    /// too small (see the module documentation).
    pub(super) fn note_premature_loss(&mut self) {
        // After a timeout everything in flight was declared lost at once: what arrives then says
        // the timeout was spurious, nothing about reordering.
        if !self.episode().is_some_and(|ep| ep.timeout) {
            self.reordering.seen = true;
            self.widen_reo_wnd();
        }
        self.note_false_loss();
    }

    /// RFC 8985 §6.2 step 4: one increment of `reo_wnd_mult` per round trip with evidence that
    /// the window was too small.
    fn widen_reo_wnd(&mut self) {
        let r = &mut self.reordering;
        if r.dsack_round.is_some_and(|round| self.una >= round) {
            r.dsack_round = None;
        }
        if r.dsack_round.is_none() {
            r.dsack_round = Some(self.next_seq);
            r.mult = r.mult.saturating_add(1);
            r.persist = REO_WND_PERSIST;
        }
    }

    /// `count` segments, the latest sent at `sent`, were declared lost at `now` (with `sent =
    /// None`: the timer expired): begins a new episode unless the loss belongs to the current
    /// one.
    pub(super) fn note_loss(&mut self, now: Instant, sent: Option<Instant>, count: u64) {
        let current = self.episode().filter(|ep| !ep.undone);
        let same = match (current, sent) {
            (Some(ep), Some(sent)) => sent <= ep.start,
            _ => false,
        };
        if !same {
            let mut episode = Episode::new(now, self.next_seq);
            episode.timeout = sent.is_none();
            self.undo.get_or_insert_with(Box::default).episode = Some(episode);
        }
        if let Some(ep) = self.episode_mut() {
            ep.losses += count;
        }
    }

    /// Validates DSACK ranges (extended sequence numbers) against what was sent (PROTOCOL.md
    /// §7.9).
    pub(super) fn check_dsack(&self, dsack: &[(u64, u64)]) -> Result<(), AckError> {
        for &(start, end) in dsack {
            if start > end {
                return Err(AckError::InvalidSack { start, end });
            }
            if end >= self.next_seq {
                return Err(AckError::NeverSent(end));
            }
        }
        Ok(())
    }

    /// Applies validated DSACK ranges: adapts the reordering window (RFC 8985 §6.2 step 4) and
    /// matches them against acknowledged retransmissions (RFC 3708). Returns how many
    /// retransmissions they proved spurious.
    pub(super) fn apply_dsack(&mut self, dsack: &[(u64, u64)]) -> u64 {
        if dsack.is_empty() {
            return 0;
        }
        self.widen_reo_wnd();
        let mut proven = 0;
        let in_dsack = |seq: u64| dsack.iter().any(|&(s, e)| (s..=e).contains(&seq));
        let acked = self.undo.as_mut().map(|u| u.acked.iter_mut());
        for entry in acked.into_iter().flatten().filter(|(seq, spurious)| !spurious && in_dsack(*seq)) {
            entry.1 = true;
            proven += 1;
        }
        for _ in 0..proven {
            self.on_spurious_retransmission();
        }
        proven
    }

    /// Ends the processing of an ACK for the episode: recovery ends once the cumulative ack
    /// passes the episode's end (RFC 8985 §6.2 step 4 decrements `reo_wnd_persist` then); returns
    /// true once per episode when every retransmission in it proved spurious.
    pub(super) fn settle_episode(&mut self) -> bool {
        let una = self.una;
        let Some(ep) = self.undo.as_mut().and_then(|u| u.episode.as_mut()) else { return false };
        if !ep.recovered && una > ep.end_seq {
            ep.recovered = true;
            let r = &mut self.reordering;
            r.persist = r.persist.saturating_sub(1);
            if r.persist == 0 {
                r.mult = 1;
                r.persist = REO_WND_PERSIST;
            }
        }
        if !ep.undone && ep.losses > 0 && ep.explained >= ep.losses {
            ep.undone = true;
            return true;
        }
        false
    }

    /// Whether the sender is in recovery: an episode began and the cumulative ack has not passed
    /// its end.
    pub(super) fn in_recovery(&self) -> bool {
        self.episode().is_some_and(|ep| !ep.recovered && !ep.undone)
    }

    /// The current recovery episode, if one began.
    fn episode(&self) -> Option<Episode> {
        self.undo.as_ref().and_then(|u| u.episode)
    }

    fn episode_mut(&mut self) -> Option<&mut Episode> {
        self.undo.as_mut().and_then(|u| u.episode.as_mut())
    }

    /// RFC 8985 §6.2 step 4: the reordering window for this loss detection.
    pub(super) fn reo_wnd(&self, rtt: &RttEstimator) -> Duration {
        if !self.reordering.seen && (self.in_recovery() || self.sacked_packets >= DUP_THRESH) {
            return Duration::ZERO;
        }
        let quarter = rtt.min_rtt().map_or(Duration::ZERO, |min| min / 4);
        quarter.saturating_mul(self.reordering.mult).min(rtt.smoothed_or_initial())
    }

    /// Whether reordering has been seen on this path (RFC 8985 `RACK.reordering_seen`).
    pub(crate) fn reordering_seen(&self) -> bool {
        self.reordering.seen
    }
}
