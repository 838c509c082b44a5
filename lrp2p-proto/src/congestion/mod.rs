//! Congestion control: how much may be in flight, and how fast it may leave.
//!
//! - [`Controller`]: the interface every algorithm implements, in bytes. The connection calls it
//!   as packets are sent, acknowledged, declared lost or time out, and asks it for the window
//!   and, if it has one, the pacing rate.
//! - [`ControllerFactory`]: builds a fresh controller per connection (and per path: a new path
//!   starts with a new controller, RFC 9000 §9.4); the connection configuration holds one, so
//!   new algorithms plug in without touching the connection. [`Algorithm`] names the built-in
//!   ones.
//! - [`cubic`]: CUBIC (RFC 9438) with Reno slow start (RFC 5681) and HyStart++ (RFC 9406).
//! - [`bbr`]: BBRv3 (draft-ietf-ccwg-bbr-06), model based: paced at the measured bandwidth,
//!   little affected by random loss.
//! - [`FixedWindow`]: a constant window, for tests and benchmarks of everything else.
//! - [`pacing`]: a token bucket that spreads a window over the round trip, or follows the
//!   controller's own rate.
//!
//! # The caller's contract
//!
//! For each ACK that newly acknowledges or loses something, in this order:
//!
//! 1. [`Controller::on_lost`] once per packet newly declared lost by that ACK's loss detection
//!    (duplicate-ACK threshold, RACK). Loss detection that runs on a timer, without an ACK,
//!    calls it too. A controller reduces at most once per window of data (see the method).
//! 2. [`Controller::on_ack`] once, with everything the ACK acknowledged and the delivery-rate
//!    sample it produced ([`RateSample`], draft-cheng-iccrg-delivery-rate-estimation-02).
//!
//! [`Controller::on_sent`] as each packet that counts against the window leaves,
//! [`Controller::on_retransmission_timeout`] when the RTO fires, and
//! [`Controller::on_spurious_congestion`] when every retransmission of the last recovery turned
//! out unnecessary (RFC 3708 detection through DSACK or timing): the reduction can be undone.
//!
//! `app_limited` (on an [`Ack`]) is true when the sender had less than a window of data to send
//! (the application, or the peer's receive window, was the limit). A controller does not grow on
//! evidence that says nothing about the path's capacity (RFC 9438 §5.8, RFC 7661).

use std::fmt::{self, Debug};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub mod bbr;
pub mod cubic;
mod hystart;
pub mod pacing;

/// What a controller sees of the round-trip time ([`Controller::on_ack`]).
pub use crate::recovery::RttEstimator;
pub use bbr::{Bbr, BbrConfig, BbrState};
pub use cubic::{Cubic, CubicConfig};
pub use pacing::Pacer;

/// A packet leaving, as [`Controller::on_sent`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentPacket {
    /// When it left.
    pub now: Instant,
    /// Its size, everything that counts against the window.
    pub bytes: u64,
    /// Bytes in flight before it left (0: the connection was idle or starting).
    pub prior_in_flight: u64,
    /// The sender is in an application-limited phase (draft-cheng-iccrg-delivery-rate-
    /// estimation-02 §3.4: `C.app_limited` is set).
    pub app_limited: bool,
}

/// A delivery-rate sample (draft-cheng-iccrg-delivery-rate-estimation-02 §3.3): how fast the
/// path delivered data over the interval that ends with this ACK.
///
/// Taken from the most recently sent packet the ACK newly acknowledged, `P`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSample {
    /// Bytes delivered in the interval: `C.delivered - P.delivered` (§3.3).
    pub delivered: u64,
    /// The interval: `max(send_elapsed, ack_elapsed)` (§3.3), never shorter than the minimum
    /// RTT (shorter samples are not produced).
    pub interval: Duration,
    /// `delivered / interval` in bytes per second.
    pub delivery_rate: u64,
    /// `C.delivered` when `P` was sent (`P.delivered`): BBR's round counting uses it.
    pub prior_delivered: u64,
    /// `P` was sent in an application-limited phase: a rate below the model's says nothing.
    pub is_app_limited: bool,
    /// Bytes in flight just after `P` was sent (`P.tx_in_flight`, BBR draft §4.5.8.1).
    pub tx_in_flight: u64,
    /// Bytes declared lost between `P`'s sending and this ACK, this ACK's losses included
    /// (`C.lost - P.lost`).
    pub lost: u64,
    /// `now` minus `P`'s send time: a round-trip time, ACK delay included.
    pub rtt: Duration,
}

/// One ACK, as [`Controller::on_ack`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct Ack<'a> {
    /// When it arrived.
    pub now: Instant,
    /// Bytes newly acknowledged (0 when the ACK only led to losses).
    pub acked_bytes: u64,
    /// Bytes newly declared lost by this ACK (already reported through
    /// [`Controller::on_lost`]).
    pub lost_bytes: u64,
    /// The latest send time among the newly acknowledged packets (recovery periods end on it).
    pub largest_acked_sent: Option<Instant>,
    /// Bytes in flight after the ACK and its losses.
    pub bytes_in_flight: u64,
    /// Bytes delivered over the connection's (path's) life, this ACK included (`C.delivered`).
    pub delivered: u64,
    /// The sender had less than half a window in flight and nothing more to send: the
    /// window was not the limit.
    pub app_limited: bool,
    /// The delivery-rate sample, if the ACK produced a valid one.
    pub rate: Option<RateSample>,
    /// The RTT estimator, this ACK's sample included.
    pub rtt: &'a RttEstimator,
}

/// A packet declared lost, as [`Controller::on_lost`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LostPacket {
    /// When the loss was detected.
    pub now: Instant,
    /// When the packet was (last) sent.
    pub sent: Instant,
    /// Its size.
    pub bytes: u64,
    /// Bytes in flight just after it was sent (`P.tx_in_flight`).
    pub tx_in_flight: u64,
    /// Bytes declared lost between its sending and now, itself included (`C.lost - P.lost`).
    pub lost_since_sent: u64,
    /// It was sent in an application-limited phase.
    pub is_app_limited: bool,
}

/// A congestion controller, counting in bytes.
///
/// Object safe: connections hold a `Box<dyn Controller>` built by a [`ControllerFactory`].
/// Sans-IO like the rest of the crate: `now` is always a parameter.
pub trait Controller: Send + Debug {
    /// A packet that counts against the window left.
    fn on_sent(&mut self, sent: &SentPacket);

    /// An ACK newly acknowledged data or led to losses (see the module documentation for the
    /// order of calls). Controllers must not grow the window on application-limited ACKs.
    fn on_ack(&mut self, ack: &Ack<'_>);

    /// A packet was declared lost from acknowledgements (duplicate ACKs, SACK, RACK).
    ///
    /// One reduction per window of data (RFC 9438 §4.6, RFC 6675 §5): a loss of a packet sent
    /// before the start of the current recovery period belongs to a congestion event already
    /// responded to.
    fn on_lost(&mut self, lost: &LostPacket);

    /// The retransmission timer expired at `now` (RFC 9438 §4.8, RFC 5681 §3.1).
    fn on_retransmission_timeout(&mut self, now: Instant);

    /// Every retransmission since the last reduction was spurious (RFC 3708): the controller
    /// may undo that reduction (RFC 9438 §4.9). The default does nothing.
    fn on_spurious_congestion(&mut self, now: Instant) {
        let _ = now;
    }

    /// The congestion window in bytes: how much may be in flight.
    fn window(&self) -> u64;

    /// The rate in bytes per second the connection paces at, if the controller sets one (BBR);
    /// `None` paces at 1.25 × window / smoothed RTT (RFC 9002 §7.7).
    fn pacing_rate(&self) -> Option<u64> {
        None
    }

    /// The slow-start threshold in bytes (`u64::MAX` until the first congestion event).
    fn ssthresh(&self) -> u64;

    /// Whether the controller is in slow start (or its equivalent: BBR's Startup).
    fn in_slow_start(&self) -> bool;

    /// A short name for statistics and logs (`"cubic"`, `"bbr"`).
    fn name(&self) -> &'static str;

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
/// Implemented by each algorithm's configuration ([`CubicConfig`], [`BbrConfig`],
/// [`FixedWindowConfig`]); a
/// connection configuration holds an `Arc<dyn ControllerFactory>`.
pub trait ControllerFactory: Send + Sync + Debug {
    /// A controller for a connection opened at `now` whose packets carry at most `mss` bytes
    /// that count against the window.
    fn build(&self, now: Instant, mss: u64) -> Box<dyn Controller>;
}

/// The built-in congestion controllers by name, for command lines, configuration files and
/// benchmarks: `"cubic"` or `"bbr"` ([`FromStr`], [`Display`](fmt::Display)), each with its
/// default configuration ([`factory`](Self::factory)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Algorithm {
    /// CUBIC ([`CubicConfig`]), the default of `ConnectionConfig`.
    #[default]
    Cubic,
    /// BBRv3 ([`BbrConfig`]).
    Bbr,
}

impl Algorithm {
    /// Every built-in algorithm.
    pub const ALL: [Algorithm; 2] = [Algorithm::Cubic, Algorithm::Bbr];

    /// Its name, as [`Controller::name`] reports it and [`FromStr`] reads it.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Cubic => "cubic",
            Algorithm::Bbr => "bbr",
        }
    }

    /// A factory of controllers of this algorithm with its default configuration, for
    /// `ConnectionConfig::congestion`.
    pub fn factory(self) -> Arc<dyn ControllerFactory> {
        match self {
            Algorithm::Cubic => Arc::new(CubicConfig::default()),
            Algorithm::Bbr => Arc::new(BbrConfig::default()),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    /// `"cubic"` or `"bbr"`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|algorithm| algorithm.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownAlgorithm(s.to_owned()))
    }
}

/// A name that is not one of the built-in [`Algorithm`]s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown congestion controller {0:?} (known: cubic, bbr)")]
pub struct UnknownAlgorithm(pub String);

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
    fn on_sent(&mut self, _sent: &SentPacket) {}

    fn on_ack(&mut self, _ack: &Ack<'_>) {}

    fn on_lost(&mut self, _lost: &LostPacket) {}

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

    fn name(&self) -> &'static str {
        "fixed"
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

/// Test helpers: ACKs and losses of single packets, as the connection would report them.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// An ACK of `bytes` sent at `sent`, without a rate sample.
    pub(crate) fn ack<'a>(
        now: Instant,
        sent: Instant,
        bytes: u64,
        rtt: &'a RttEstimator,
        app_limited: bool,
    ) -> Ack<'a> {
        Ack {
            now,
            acked_bytes: bytes,
            lost_bytes: 0,
            largest_acked_sent: Some(sent),
            bytes_in_flight: 0,
            delivered: 0,
            app_limited,
            rate: None,
            rtt,
        }
    }

    /// The loss of `bytes` sent at `sent`, detected at `now`.
    pub(crate) fn lost(now: Instant, sent: Instant, bytes: u64) -> LostPacket {
        LostPacket { now, sent, bytes, tx_in_flight: 0, lost_since_sent: bytes, is_app_limited: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

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
            cc.on_sent(&SentPacket { now: t0, bytes: 1200, prior_in_flight: 0, app_limited: false });
            let copy = cc.clone();
            cc.on_ack(&testing::ack(t0 + Duration::from_millis(50), t0, 1200, &rtt, false));
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
        cc.on_ack(&testing::ack(t0, t0, 1_000_000, &rtt, false));
        cc.on_lost(&testing::lost(t0, t0, 1200));
        cc.on_retransmission_timeout(t0);
        assert_eq!(cc.window(), 12_000);
        assert!(!cc.in_slow_start());
    }
}
