//! The connection's timers: one deadline per kind in a fixed table (as quinn-proto does), so
//! arming, disarming and finding the earliest are cheap and allocation-free.
//!
//! Deadlines are stored as nanoseconds after the connection's creation (8 bytes each, not the
//! 16 of an `Option<Instant>`): the table is part of every idle connection's footprint.

use std::time::{Duration, Instant};

/// What a deadline is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// Retransmit the stored handshake message (initiation, or XX finish).
    Handshake = 0,
    /// Give up on a handshake that never completed.
    HandshakeGiveUp,
    /// RFC 6298 retransmission timer for data.
    Retransmit,
    /// RACK reordering-window expiry (RFC 8985 §6.3).
    LossDetection,
    /// Tail loss probe (RFC 8985 §7).
    Probe,
    /// Send a delayed ACK (PROTOCOL.md §8.5).
    DelayedAck,
    /// Send a PING to keep the path alive.
    KeepAlive,
    /// Nothing authenticated from the peer for the idle timeout.
    Idle,
    /// The pacer allows the next packet.
    Pacing,
    /// Probe a zero window (PROTOCOL.md §8.4).
    WindowProbe,
    /// Release the state of a closing or finished connection.
    Linger,
    /// A connection the application released has not finished in time: abort it.
    ReleaseGiveUp,
    /// Erase the previous receive key after a key update (PROTOCOL.md §6.5).
    KeyDiscard,
}

const COUNT: usize = 13;

const ALL: [Timer; COUNT] = [
    Timer::Handshake,
    Timer::HandshakeGiveUp,
    Timer::Retransmit,
    Timer::LossDetection,
    Timer::Probe,
    Timer::DelayedAck,
    Timer::KeepAlive,
    Timer::Idle,
    Timer::Pacing,
    Timer::WindowProbe,
    Timer::Linger,
    Timer::ReleaseGiveUp,
    Timer::KeyDiscard,
];

/// A disarmed slot.
const UNSET: u64 = u64::MAX;

/// One optional deadline per [`Timer`], as nanoseconds after `base`.
#[derive(Clone, Copy, Debug)]
pub(super) struct TimerTable {
    /// The connection's creation: no deadline lies before it (one that would is kept at it,
    /// which fires at once, as the earlier instant would have).
    base: Instant,
    /// Nanoseconds after `base`, or [`UNSET`] (584 years: never reached by a connection).
    deadlines: [u64; COUNT],
}

impl TimerTable {
    /// An empty table for a connection created at `now`.
    pub(super) fn new(now: Instant) -> Self {
        TimerTable { base: now, deadlines: [UNSET; COUNT] }
    }

    pub(super) fn set(&mut self, timer: Timer, at: Instant) {
        let after = at.saturating_duration_since(self.base).as_nanos();
        self.deadlines[timer as usize] = u64::try_from(after).unwrap_or(UNSET - 1).min(UNSET - 1);
    }

    pub(super) fn stop(&mut self, timer: Timer) {
        self.deadlines[timer as usize] = UNSET;
    }

    pub(super) fn is_set(&self, timer: Timer) -> bool {
        self.deadlines[timer as usize] != UNSET
    }

    /// When `timer` fires, if armed.
    pub(super) fn deadline(&self, timer: Timer) -> Option<Instant> {
        self.instant(self.deadlines[timer as usize])
    }

    /// The earliest armed deadline.
    pub(super) fn next(&self) -> Option<Instant> {
        self.instant(self.deadlines.iter().copied().min().unwrap_or(UNSET))
    }

    /// Disarms and returns every timer due at `now`, earliest kinds first.
    pub(super) fn expired(&mut self, now: Instant) -> impl Iterator<Item = Timer> + use<> {
        let now = u64::try_from(now.saturating_duration_since(self.base).as_nanos()).unwrap_or(UNSET - 1);
        let mut due = [None; COUNT];
        for (slot, timer) in due.iter_mut().zip(ALL) {
            let deadline = &mut self.deadlines[timer as usize];
            if *deadline != UNSET && *deadline <= now {
                *deadline = UNSET;
                *slot = Some(timer);
            }
        }
        due.into_iter().flatten()
    }

    /// Disarms everything (the connection is gone).
    pub(super) fn clear(&mut self) {
        self.deadlines = [UNSET; COUNT];
    }

    /// The instant of a stored deadline.
    fn instant(&self, nanos: u64) -> Option<Instant> {
        (nanos != UNSET).then(|| self.base + Duration::from_nanos(nanos))
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{Timer, TimerTable};

    #[test]
    // An `Instant` can only be had from the clock; only differences from it matter here.
    #[allow(clippy::disallowed_methods)]
    fn deadlines_keep_their_instants_to_the_nanosecond() {
        let base = Instant::now();
        let mut table = TimerTable::new(base);
        assert_eq!(table.next(), None);
        let at = base + Duration::new(7_200, 123_456_789);
        table.set(Timer::Idle, at);
        table.set(Timer::Pacing, base + Duration::from_nanos(1));
        assert_eq!(table.deadline(Timer::Idle), Some(at));
        assert_eq!(table.next(), Some(base + Duration::from_nanos(1)));
        let due: Vec<_> = table.expired(base + Duration::from_nanos(1)).collect();
        assert_eq!(due, [Timer::Pacing]);
        assert!(!table.is_set(Timer::Pacing) && table.is_set(Timer::Idle));
        assert_eq!(table.expired(at - Duration::from_nanos(1)).count(), 0);
        assert_eq!(table.expired(at).collect::<Vec<_>>(), [Timer::Idle]);
        assert_eq!(table.next(), None);
    }

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn a_deadline_before_the_base_fires_at_once() {
        let base = Instant::now() + Duration::from_secs(10);
        let mut table = TimerTable::new(base);
        table.set(Timer::Linger, base - Duration::from_secs(1));
        assert_eq!(table.next(), Some(base));
        assert_eq!(table.expired(base).collect::<Vec<_>>(), [Timer::Linger]);
    }
}
