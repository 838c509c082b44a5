//! When to acknowledge, and what: the whole ACK policy of PROTOCOL.md §8.5 in one place.
//!
//! - A DATA segment that arrives in order is acknowledged with the next one (every second
//!   DATA-bearing packet) or after the delayed-ACK timer, at most `max_ack_delay` (itself at
//!   most the protocol's [`MAX_ACK_DELAY`]); one that arrives out of order, fills a gap,
//!   carries FIN, is a duplicate or lies beyond the window is acknowledged at once.
//! - PING, a window that reading reopened and the handshake's last step ask for an ACK at
//!   once too; both streams finishing sends at once an ACK being held, never a second one
//!   that repeats the last (the ACK that finished our stream is a pure ACK).
//! - An ACK that is not due rides along with DATA (piggybacking) but never makes a packet of its
//!   own; a packet carrying only an ACK is never acknowledged.
//! - The ACK reports how long it was held (ACK_DELAY, PROTOCOL.md §7.7) when it had to wait,
//!   and which sequence numbers arrived more than once since the last ACK (DSACK, §7.7); SACK
//!   ranges take the rest of the extension budget, nearest the cumulative ack first.
//!
//! The sender's side of the delay — room for the peer's held ACKs in the retransmission
//! timer — is the RTT estimator's (`recovery::rtt`).

use std::time::{Duration, Instant};

use super::Connection;
use super::timer::Timer;
use crate::arq::truncate;
use crate::wire::{AckEcho, AckRepr, DsackRanges, MAX_ACK_DELAY, SackRanges, Seq};

/// ACK scheduling state.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct AckState {
    /// DATA-bearing packets received since the last ACK was sent.
    pending: u32,
    /// Send an ACK at the next opportunity.
    immediate: bool,
    /// When the newest acknowledged-to-be packet arrived (for ACK_DELAY).
    newest_at: Option<Instant>,
    /// Sequence numbers received more than once since the last ACK (DSACK, RFC 2883).
    duplicates: DsackRanges,
}

/// What became of a DATA segment, as far as acknowledging it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DataArrival {
    /// Next in order; `at_once` when it carries FIN or filled a gap.
    InOrder { at_once: bool },
    /// Above a gap: buffered.
    OutOfOrder,
    /// Already held (the ACK of the first copy may have been lost).
    Duplicate,
    /// Beyond the window or the buffer: dropped, and the peer is told where the window is.
    Refused,
}

impl Connection {
    /// The longest this side holds an ACK (PROTOCOL.md §8.5).
    fn max_ack_delay(&self) -> Duration {
        self.config.max_ack_delay.min(MAX_ACK_DELAY)
    }

    /// Asks for an ACK at the next opportunity (PING, window update, streams finished, ...).
    pub(super) fn ack_now(&mut self) {
        self.ack.immediate = true;
    }

    /// Schedules the ACK of a DATA segment received at `now` (PROTOCOL.md §8.5).
    pub(super) fn schedule_ack(&mut self, now: Instant, arrival: DataArrival) {
        match arrival {
            DataArrival::InOrder { at_once } => {
                self.ack.pending += 1;
                if at_once || self.ack.pending >= 2 {
                    self.ack.immediate = true;
                } else if !self.timers.is_set(Timer::DelayedAck) {
                    self.timers.set(Timer::DelayedAck, now + self.max_ack_delay());
                }
            }
            DataArrival::OutOfOrder => {
                self.ack.pending += 1;
                self.ack.immediate = true;
            }
            DataArrival::Duplicate | DataArrival::Refused => self.ack.immediate = true,
        }
        self.ack.newest_at = Some(now);
    }

    /// DATA segment `seq` arrived again (PROTOCOL.md §7.7 DSACK): the next ACK reports it.
    pub(super) fn record_duplicate(&mut self, seq: Seq) {
        self.ack.duplicates.record(seq);
    }

    /// The delayed-ACK timer fired.
    pub(super) fn on_delayed_ack_timer(&mut self) {
        self.flush_pending_ack();
    }

    /// Sends at once an ACK that is being held for DATA received, if one is: nothing when the
    /// last ACK sent already covered everything (PROTOCOL.md §8.5).
    pub(super) fn flush_pending_ack(&mut self) {
        self.ack.immediate |= self.ack.pending > 0;
    }

    /// Whether an ACK should go now, in a packet of its own if need be.
    pub(super) fn ack_due(&self) -> bool {
        self.recv.is_some() && (self.ack.immediate || self.ping_pending)
    }

    /// Whether an ACK not due yet would be worth carrying beside DATA.
    pub(super) fn ack_may_piggyback(&self) -> bool {
        self.recv.is_some() && self.ack.pending > 0
    }

    /// The ACK segment describing our receive state now (its window within the receive budget).
    pub(super) fn ack_repr(&mut self, now: Instant) -> AckRepr {
        self.sync_receive_budget();
        let Some(recv) = self.recv.as_ref() else {
            return AckRepr {
                cumulative: truncate(0),
                window: 0,
                ping: false,
                sack: SackRanges::EMPTY,
                ack_delay_us: None,
                dsack: DsackRanges::EMPTY,
                echo: None,
            };
        };
        let ack_delay_us = self
            .ack
            .newest_at
            .map(|t| u32::try_from(now.saturating_duration_since(t).as_micros()).unwrap_or(u32::MAX));
        // PROTOCOL.md §7.7's budget: ACK_DELAY and DSACK first, SACK ranges in what is left.
        let dsack = self.ack.duplicates;
        // PROTOCOL.md §8.8: the counters received, from the replay window (transport packets
        // only: a handshake message's ACK has none to echo).
        let echo = self.session.as_ref().map(|s| {
            let (top, received) = s.replay_window().echo();
            AckEcho { top, received }
        });
        // (Less the room path extensions may take, PROTOCOL.md §13.2, while any are due.)
        let room = AckRepr::sack_room(ack_delay_us.is_some(), &dsack, echo.is_some())
            .saturating_sub(self.path_sack_reserve());
        let (cumulative, window, sack) = recv.ack(room);
        AckRepr { cumulative, window, ping: self.ping_pending, sack, ack_delay_us, dsack, echo }
    }

    /// An ACK from [`ack_repr`](Self::ack_repr) was sent (in a transport packet or in the
    /// handshake): nothing is pending, and its right edge is now promised.
    pub(super) fn ack_sent(&mut self) {
        self.ack = AckState::default();
        self.ping_pending = false;
        self.timers.stop(Timer::DelayedAck);
        if let Some(recv) = self.recv.as_mut() {
            recv.mark_ack_sent();
        }
    }
}
