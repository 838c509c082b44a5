//! Congestion control: how much may be in flight, and how fast it may leave.
//!
//! - [`Controller`]: the interface every algorithm implements, in bytes. The connection calls it
//!   as packets are sent, acknowledged, declared lost or time out, and asks it for the window.
//! - [`ControllerFactory`]: builds a fresh controller per connection; the connection
//!   configuration holds one, so new algorithms (BBR for lossy links, LEDBAT for background
//!   transfers) plug in without touching the connection.
//! - [`cubic`]: CUBIC (RFC 9438) with Reno slow start (RFC 5681), the default.
//! - [`FixedWindow`]: a constant window, for tests and benchmarks of everything else.
//! - [`pacing`]: a token bucket that spreads a window over the round trip.
//!
//! # The caller's contract
//!
//! - [`Controller::on_ack`] once per newly acknowledged packet, with the size it was counted at
//!   in [`Controller::on_sent`] and the time it was sent. Duplicate acknowledgements of the same
//!   packet are not reported again.
//! - [`Controller::on_congestion_event`] when loss is inferred from acknowledgements (duplicate
//!   ACK threshold, SACK holes, RACK time threshold). It may be called for every lost packet; the
//!   controller reduces at most once per window (see the method).
//! - [`Controller::on_retransmission_timeout`] when the RTO fires.
//! - `app_limited` is true when the packet was sent while the sender had less than a window of
//!   data to send (the application, or the peer's receive window, was the limit). A controller
//!   does not grow on evidence that says nothing about the path's capacity (RFC 9438 §5.8,
//!   RFC 7661).

use std::fmt::Debug;
use std::time::Instant;

pub mod cubic;
mod hystart;
pub mod pacing;

/// What a controller sees of the round-trip time ([`Controller::on_ack`]).
pub use crate::recovery::RttEstimator;
pub use cubic::{Cubic, CubicConfig};
pub use pacing::Pacer;

/// A congestion controller, counting in bytes.
///
/// Object safe: connections hold a `Box<dyn Controller>` built by a [`ControllerFactory`].
/// Sans-IO like the rest of the crate: `now` is always a parameter.
pub trait Controller: Send + Debug {
    /// A packet of `bytes` (everything that counts against the window) was sent at `now`.
    fn on_sent(&mut self, now: Instant, bytes: u64);

    /// A packet of `bytes` sent at `sent` was newly acknowledged at `now`.
    ///
    /// `rtt` already includes this acknowledgement's sample, if it gave one. `app_limited` says
    /// the packet was sent while the flow was limited by the application rather than by the
    /// window; controllers must not grow the window on such acknowledgements.
    fn on_ack(&mut self, now: Instant, sent: Instant, bytes: u64, rtt: &RttEstimator, app_limited: bool);

    /// Loss of `lost_bytes`, sent at `sent`, was detected at `now` from acknowledgements
    /// (duplicate ACKs, SACK, RACK).
    ///
    /// One reduction per window of data (RFC 9438 §4.6, RFC 6675 §5): a loss of a packet sent
    /// before the start of the current recovery period belongs to a congestion event already
    /// responded to and is ignored.
    fn on_congestion_event(&mut self, now: Instant, sent: Instant, lost_bytes: u64);

    /// The retransmission timer expired at `now` (RFC 9438 §4.8, RFC 5681 §3.1): the window
    /// collapses to the loss window and slow start begins again.
    fn on_retransmission_timeout(&mut self, now: Instant);

    /// The congestion window in bytes: how much may be in flight.
    fn window(&self) -> u64;

    /// The slow-start threshold in bytes (`u64::MAX` until the first congestion event).
    fn ssthresh(&self) -> u64;

    /// Whether the controller is in slow start (`window() < ssthresh()`, RFC 5681 §3.1).
    fn in_slow_start(&self) -> bool;

    /// A boxed copy of this controller and all its state.
    fn clone_box(&self) -> Box<dyn Controller>;
}

impl Clone for Box<dyn Controller> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// Builds a fresh [`Controller`] for each new connection.
///
/// Implemented by each algorithm's configuration ([`CubicConfig`], [`FixedWindowConfig`]); a
/// connection configuration holds an `Arc<dyn ControllerFactory>`.
pub trait ControllerFactory: Send + Sync + Debug {
    /// A controller for a connection opened at `now` whose packets carry at most `mss` bytes
    /// that count against the window.
    fn build(&self, now: Instant, mss: u64) -> Box<dyn Controller>;
}

/// A controller whose window never changes: no slow start, no reduction on loss or timeout.
///
/// Not congestion control at all — for tests and benchmarks that need a predictable sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedWindow {
    window: u64,
}

impl FixedWindow {
    /// A controller that always allows `window` bytes in flight.
    pub fn new(window: u64) -> Self {
        Self { window }
    }
}

impl Controller for FixedWindow {
    fn on_sent(&mut self, _now: Instant, _bytes: u64) {}

    fn on_ack(
        &mut self,
        _now: Instant,
        _sent: Instant,
        _bytes: u64,
        _rtt: &RttEstimator,
        _app_limited: bool,
    ) {
    }

    fn on_congestion_event(&mut self, _now: Instant, _sent: Instant, _lost_bytes: u64) {}

    fn on_retransmission_timeout(&mut self, _now: Instant) {}

    fn window(&self) -> u64 {
        self.window
    }

    /// Equal to the window, so that [`in_slow_start`](Controller::in_slow_start) is false.
    fn ssthresh(&self) -> u64 {
        self.window
    }

    fn in_slow_start(&self) -> bool {
        false
    }

    fn clone_box(&self) -> Box<dyn Controller> {
        Box::new(*self)
    }
}

/// Configuration (and factory) of [`FixedWindow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedWindowConfig {
    /// The constant window in bytes.
    pub window: u64,
}

impl ControllerFactory for FixedWindowConfig {
    fn build(&self, _now: Instant, _mss: u64) -> Box<dyn Controller> {
        Box::new(FixedWindow::new(self.window))
    }
}

/// `x` rounded toward zero into a `u64`, saturating; NaN and negatives become 0.
#[allow(clippy::cast_possible_truncation)] // saturating by construction, see the bounds.
fn f64_to_u64(x: f64) -> u64 {
    if x.is_nan() || x <= 0.0 {
        0
    } else if x >= u64::MAX as f64 {
        u64::MAX
    } else {
        x as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    // An `Instant` can only be had from the clock; only differences from it matter here.
    #[allow(clippy::disallowed_methods)]
    fn factories_build_boxed_controllers_that_clone() {
        let t0 = Instant::now();
        let factories: Vec<Arc<dyn ControllerFactory>> =
            vec![Arc::new(FixedWindowConfig { window: 50_000 }), Arc::new(CubicConfig::default())];
        let rtt = RttEstimator::default();
        for factory in factories {
            let mut cc = factory.build(t0, 1200);
            let before = cc.window();
            assert!(before > 0);
            cc.on_sent(t0, 1200);
            let copy = cc.clone();
            cc.on_ack(t0 + Duration::from_millis(50), t0, 1200, &rtt, false);
            assert!(cc.window() >= before);
            assert_eq!(copy.window(), before, "the clone is independent");
        }
    }

    #[test]
    // An `Instant` can only be had from the clock; only differences from it matter here.
    #[allow(clippy::disallowed_methods)]
    fn fixed_window_never_moves() {
        let t0 = Instant::now();
        let mut cc = FixedWindow::new(12_000);
        let rtt = RttEstimator::default();
        cc.on_ack(t0, t0, 1_000_000, &rtt, false);
        cc.on_congestion_event(t0, t0, 1200);
        cc.on_retransmission_timeout(t0);
        assert_eq!(cc.window(), 12_000);
        assert!(!cc.in_slow_start());
    }
}
