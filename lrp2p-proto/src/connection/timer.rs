//! The connection's timers: one deadline per kind in a fixed table (as quinn-proto does), so
//! arming, disarming and finding the earliest are cheap and allocation-free.

use std::time::Instant;

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
}

const COUNT: usize = 12;

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
];

/// One optional deadline per [`Timer`].
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct TimerTable {
    deadlines: [Option<Instant>; COUNT],
}

impl TimerTable {
    pub(super) fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer as usize] = Some(at);
    }

    pub(super) fn stop(&mut self, timer: Timer) {
        self.deadlines[timer as usize] = None;
    }

    pub(super) fn is_set(&self, timer: Timer) -> bool {
        self.deadlines[timer as usize].is_some()
    }

    /// When `timer` fires, if armed.
    pub(super) fn deadline(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer as usize]
    }

    /// The earliest armed deadline.
    pub(super) fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Disarms and returns every timer due at `now`, earliest kinds first.
    pub(super) fn expired(&mut self, now: Instant) -> impl Iterator<Item = Timer> + use<> {
        let mut due = [None; COUNT];
        for (slot, timer) in due.iter_mut().zip(ALL) {
            if self.deadlines[timer as usize].is_some_and(|t| t <= now) {
                self.deadlines[timer as usize] = None;
                *slot = Some(timer);
            }
        }
        due.into_iter().flatten()
    }

    /// Disarms everything (the connection is gone).
    pub(super) fn clear(&mut self) {
        self.deadlines = [None; COUNT];
    }
}
