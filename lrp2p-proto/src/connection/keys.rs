//! How long the previous receive key lives after a key update (PROTOCOL.md §6.5, after
//! RFC 9001 §6.5): long enough for packets the peer sealed before it switched to arrive, no
//! longer, since a key kept is a key a later compromise can reveal.

use std::time::{Duration, Instant};

use super::Connection;
use super::timer::Timer;

/// The longest the previous receive key is kept after a switch, whatever the RTO
/// (PROTOCOL.md §6.5: `min(3·RTO, 5 s)`).
pub(crate) const KEY_RETENTION_MAX: Duration = Duration::from_secs(5);

/// How many RTOs the previous receive key is kept for (RFC 9001 §6.5: "three times the PTO").
const KEY_RETENTION_RTOS: u32 = 3;

impl Connection {
    /// The receive side has just moved to a new key generation at `now`: the previous key is
    /// erased `min(3·RTO, KEY_RETENTION_MAX)` from now (a second switch restarts the wait for
    /// the key it keeps).
    pub(super) fn on_recv_key_rotation(&mut self, now: Instant) {
        let keep = self.rtt.rto().saturating_mul(KEY_RETENTION_RTOS).min(KEY_RETENTION_MAX);
        self.timers.set(Timer::KeyDiscard, now + keep);
    }

    /// Erases the previous receive key if its time is up at `now` — also when a datagram
    /// arrives before the timer was handled, so that the bound holds however the caller
    /// schedules `handle_timeout`.
    pub(super) fn expire_previous_key(&mut self, now: Instant) {
        if self.timers.deadline(Timer::KeyDiscard).is_some_and(|at| at <= now) {
            self.timers.stop(Timer::KeyDiscard);
            self.discard_previous_key();
        }
    }

    /// PROTOCOL.md §6.5: the previous receive key MUST be erased; packets that needed it are
    /// dropped from now on (`ConnectionStats::stale_key_drops`) and their segments
    /// retransmitted.
    pub(super) fn discard_previous_key(&mut self) {
        if let Some(session) = self.session.as_mut() {
            session.discard_previous_key();
        }
    }
}
