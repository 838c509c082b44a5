//! CUBIC congestion control (RFC 9438) with Reno slow start (RFC 5681 §3.1).
//!
//! After a congestion event the window follows a cubic function of the time since the
//! congestion avoidance stage began, concave up to the window at which the loss happened
//! (`W_max`), flat around it, then convex beyond it while it probes for more:
//!
//! ```text
//! W_cubic(t) = C·(t − K)³ + W_max                    RFC 9438 eq. 1
//! K          = ∛((W_max − cwnd_epoch) / C)           RFC 9438 eq. 2
//! ```
//!
//! Where Reno would do better (short RTTs, small windows) CUBIC follows a Reno estimate `W_est`
//! instead (eq. 4). RFC 9438 counts windows in segments and time in seconds; so does the
//! arithmetic here, in `f64`, while the window itself is kept in whole bytes. Every conversion
//! saturates or clamps: ten simulated days without loss neither overflow nor produce NaN
//! (quinn's CUBIC once overflowed after that long).
//!
//! Choices where the RFC leaves room:
//! - Slow start is RFC 5681's, left by HyStart++ (RFC 9406, as RFC 9438 §4.10 recommends; see
//!   `hystart.rs` for where it goes beyond the RFC) when the RTT rises. On that rise the window
//!   is cut to what the path holds (see `HyStart::capacity_estimate`): the rise is seen a
//!   round trip after the queue began to build, when the window has nearly doubled again.
//!   Acknowledged bytes are counted per packet (RFC 3465), each packet at most one MSS.
//! - The multiplicative decrease applies `beta_cubic` to the congestion window rather than the
//!   flight size, which the controller is not told. RFC 9438 §4.6 allows this when cwnd is
//!   otherwise kept from growing while less than cwnd is in flight (RFC 7661): here,
//!   application-limited acknowledgements never grow it.
//! - After a retransmission timeout the window is the 2-MSS minimum window, not RFC 5681's
//!   one-segment loss window, as QUIC does after persistent congestion (RFC 9002 §7.6.2): a
//!   receiver that acknowledges every second packet would otherwise stall on its delayed-ACK
//!   timer.
//! - The congestion avoidance epoch starts at the first acknowledgement after recovery ends (as in
//!   Linux), and `t` stops while the flow is application limited or idle (RFC 9438 §5.8): an
//!   application-limited acknowledgement, or a gap between acknowledgements longer than the RTO
//!   (nothing was in flight, or the RTO would have fired), shifts the epoch forward by the gap.
//! - Spurious congestion events are undone (RFC 9438 §4.9): the state before the reduction
//!   (cwnd, ssthresh, W_max, cwnd_prior, K, W_est and the epoch) is restored whole, as Linux
//!   restores cwnd and ssthresh after a DSACK shows every retransmission was unnecessary.

use std::time::{Duration, Instant};

use super::hystart::{self, HyStart};
use super::{Ack, Controller, ControllerFactory, LostPacket, SentPacket, f64_to_u64};
use crate::recovery::RttEstimator;

/// RFC 9438 §5.1: C SHOULD be 0.4 (segments per second³).
pub const C: f64 = 0.4;

/// RFC 9438 §4.6: beta_cubic, the multiplicative decrease factor, SHOULD be 0.7.
pub const BETA_CUBIC: f64 = 0.7;

/// RFC 9438 eq. 3: alpha_cubic = 3·(1 − beta_cubic)/(1 + beta_cubic) makes the AIMD estimate
/// average the same window as Reno's AIMD(1, 0.5).
pub const ALPHA_CUBIC: f64 = 3.0 * (1.0 - BETA_CUBIC) / (1.0 + BETA_CUBIC);

/// Default ceiling on the window: the largest receive window the wire can advertise,
/// 2²⁴ − 1 packets of 1400 bytes (≈ 23.5 GB). A larger congestion window could never be used.
pub const DEFAULT_MAX_WINDOW: u64 = 16_777_215 * 1400;

/// beta_cubic as the exact fraction 7/10, for reducing a window of whole bytes.
const BETA_NUMERATOR: u128 = 7;
const BETA_DENOMINATOR: u128 = 10;

/// The least window, in segments: RFC 9438 §4.6 keeps cwnd at 2 segments or more.
const MIN_WINDOW_SEGMENTS: u64 = 2;

/// Configuration (and factory) of [`Cubic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CubicConfig {
    /// The initial window in bytes. `None`: min(10·MSS, max(2·MSS, 14720)), the rule of
    /// RFC 9002 §7.2 after RFC 6928.
    pub initial_window: Option<u64>,
    /// The ceiling on the window in bytes. Default [`DEFAULT_MAX_WINDOW`].
    pub max_window: u64,
    /// RFC 9438 §4.7 fast convergence. Default on: the RFC says it SHOULD be implemented and
    /// only disabled when the flow is known to be alone on the path, which LRP2P cannot know.
    pub fast_convergence: bool,
}

impl Default for CubicConfig {
    fn default() -> Self {
        Self { initial_window: None, max_window: DEFAULT_MAX_WINDOW, fast_convergence: true }
    }
}

impl ControllerFactory for CubicConfig {
    fn build(&self, _now: Instant, mss: u64) -> Box<dyn Controller> {
        Box::new(Cubic::new(self, mss))
    }
}

/// The CUBIC congestion controller. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct Cubic {
    /// Bytes per segment (never 0).
    mss: u64,
    /// cwnd in bytes, within `[min_window, max_window]`.
    window: u64,
    /// ssthresh in bytes; `u64::MAX` until the first congestion event.
    ssthresh: u64,
    min_window: u64,
    max_window: u64,
    fast_convergence: bool,
    /// Fractional bytes of congestion-avoidance growth not yet added to `window`, in `[0, 1)`.
    carry: f64,
    /// W_max in segments; `None` when undefined (before any loss, after a timeout).
    w_max: Option<f64>,
    /// cwnd_prior in segments: the window before the last reduction (0 before any).
    cwnd_prior: f64,
    /// K in seconds (eq. 2) for the current epoch.
    k: f64,
    /// W_est in segments (eq. 4) for the current epoch.
    w_est: f64,
    /// t_epoch: when the current congestion avoidance stage began, shifted forward past
    /// application-limited and idle periods (RFC 9438 §5.8). `None` outside an epoch.
    epoch_start: Option<Instant>,
    /// When the current (or last) recovery period began: the time of the last reduction.
    recovery_start: Option<Instant>,
    /// The latest acknowledgement seen, to measure gaps.
    last_ack: Option<Instant>,
    /// A retransmission timeout happened and no packet sent after it has been acknowledged.
    timeout_pending: bool,
    /// HyStart++ (RFC 9406) for the first slow start.
    hystart: HyStart,
    /// The state before the latest reduction, for RFC 9438 §4.9 (undo of a spurious one).
    before_reduction: Option<Box<Snapshot>>,
}

/// What a reduction changes, saved so that a spurious one can be undone (RFC 9438 §4.9).
#[derive(Debug, Clone, Copy)]
struct Snapshot {
    window: u64,
    ssthresh: u64,
    w_max: Option<f64>,
    cwnd_prior: f64,
    k: f64,
    w_est: f64,
    epoch_start: Option<Instant>,
}

impl Cubic {
    /// A controller in slow start for packets of at most `mss` bytes.
    pub fn new(config: &CubicConfig, mss: u64) -> Self {
        let mss = mss.max(1);
        let min_window = mss.saturating_mul(MIN_WINDOW_SEGMENTS);
        let max_window = config.max_window.max(min_window);
        // RFC 9002 §7.2: initial window = min(10 * max_datagram_size, max(2 * max_datagram_size,
        // 14720)), after RFC 6928's IW10.
        let default_iw = mss.saturating_mul(10).min(mss.saturating_mul(2).max(14_720));
        let window = config.initial_window.unwrap_or(default_iw).clamp(min_window, max_window);
        Self {
            mss,
            window,
            // RFC 5681 §3.1: the initial ssthresh SHOULD be set arbitrarily high.
            ssthresh: u64::MAX,
            min_window,
            max_window,
            fast_convergence: config.fast_convergence,
            carry: 0.0,
            w_max: None,
            cwnd_prior: 0.0,
            k: 0.0,
            w_est: 0.0,
            epoch_start: None,
            recovery_start: None,
            last_ack: None,
            timeout_pending: false,
            hystart: HyStart::default(),
            before_reduction: None,
        }
    }

    /// A window in bytes as segments.
    fn segments(&self, bytes: u64) -> f64 {
        bytes as f64 / self.mss as f64
    }

    /// RFC 9438 eq. 1: W_cubic(t) = C*(t-K)^3 + W_max, in segments, clamped to `[0, max]`.
    fn w_cubic(&self, t: f64) -> f64 {
        let w_max = self.w_max.unwrap_or(0.0);
        let d = t - self.k;
        clamp_finite(C * d * d * d + w_max, 0.0, self.segments(self.max_window))
    }

    /// Starts a congestion avoidance epoch at `now` with the current window as cwnd_epoch.
    fn start_epoch(&mut self, now: Instant) {
        let cwnd_epoch = self.segments(self.window);
        self.epoch_start = Some(now);
        self.carry = 0.0;
        // RFC 9438 §4.3: W_est is set to cwnd_epoch at the start of congestion avoidance.
        self.w_est = cwnd_epoch;
        match self.w_max {
            Some(w_max) if w_max > cwnd_epoch => {
                // RFC 9438 eq. 2: K = cubic_root((W_max - cwnd_epoch)/C).
                self.k = ((w_max - cwnd_epoch) / C).cbrt();
            }
            _ => {
                // RFC 9438 §4.8 (first stage after a timeout) and §4.10 (slow start left without
                // a loss): K = 0 and W_max = the window at the start of the stage. The same
                // holds whenever the plateau is already behind us.
                self.w_max = Some(cwnd_epoch);
                self.k = 0.0;
            }
        }
    }

    /// RFC 9438 §5.8: t MUST NOT include periods in which the window was not the limit; moves
    /// the epoch start forward by the time since `since`.
    fn exclude_from_epoch(&mut self, since: Option<Instant>, now: Instant) {
        if let (Some(epoch), Some(since)) = (self.epoch_start, since) {
            let gap = now.saturating_duration_since(since);
            let shifted = epoch.checked_add(gap).unwrap_or(now).min(now);
            self.epoch_start = Some(shifted.max(epoch));
        }
    }

    /// Adds `bytes` of growth, carrying fractions, up to the ceiling.
    fn grow(&mut self, bytes: f64) {
        let total = self.carry + clamp_finite(bytes, 0.0, self.max_window as f64);
        let whole = total.floor();
        self.carry = total - whole;
        self.window = self.window.saturating_add(f64_to_u64(whole)).min(self.max_window);
        if self.window == self.max_window {
            self.carry = 0.0;
        }
    }

    /// Congestion avoidance growth for `bytes` acknowledged at `now` (RFC 9438 §4.2–4.5).
    fn congestion_avoidance(&mut self, now: Instant, bytes: u64, srtt: Duration) {
        let epoch = match self.epoch_start {
            Some(epoch) => epoch,
            None => {
                self.start_epoch(now);
                now
            }
        };
        let max_segments = self.segments(self.max_window);
        // RFC 9438 §4.2: t = current_time - t_epoch (in seconds).
        let t = now.saturating_duration_since(epoch).as_secs_f64();
        let rtt = srtt.as_secs_f64();
        let cwnd = self.segments(self.window);
        let segments_acked = self.segments(bytes);

        // RFC 9438 §4.3: once W_est >= cwnd_prior, alpha_cubic SHOULD be 1 (Reno's increase).
        let alpha = if self.w_est >= self.cwnd_prior { 1.0 } else { ALPHA_CUBIC };
        // RFC 9438 eq. 4: W_est = W_est + alpha_cubic * segments_acked / cwnd.
        self.w_est = clamp_finite(self.w_est + alpha * segments_acked / cwnd, 0.0, max_segments);

        if self.w_cubic(t) < self.w_est {
            // RFC 9438 §4.3: W_cubic(t) < W_est: the Reno-friendly region, cwnd = W_est.
            let target = self.w_est * self.mss as f64;
            let window = self.window as f64;
            if target > window {
                self.carry = 0.0;
                self.grow(target - window);
            }
        } else {
            // RFC 9438 §4.2: target = W_cubic(t + RTT), bounded to [cwnd, 1.5*cwnd] so growth
            // never slows down and stays below slow start's.
            let target = self.w_cubic(t + rtt).max(cwnd).min(1.5 * cwnd);
            // RFC 9438 §4.4 (concave, cwnd < W_max) and §4.5 (convex, cwnd >= W_max): cwnd
            // grows by (target - cwnd)/cwnd per acknowledged segment.
            let increase = (target - cwnd) / cwnd * segments_acked;
            self.grow(increase * self.mss as f64);
        }
    }

    /// Saves what a reduction is about to change (RFC 9438 §4.9).
    ///
    /// Boxed: needed only around a congestion event, it would otherwise sit in every idle
    /// connection (the allocation is reused from one reduction to the next).
    fn save(&mut self) {
        let snapshot = Snapshot {
            window: self.window,
            ssthresh: self.ssthresh,
            w_max: self.w_max,
            cwnd_prior: self.cwnd_prior,
            k: self.k,
            w_est: self.w_est,
            epoch_start: self.epoch_start,
        };
        match &mut self.before_reduction {
            Some(saved) => **saved = snapshot,
            None => self.before_reduction = Some(Box::new(snapshot)),
        }
    }

    /// The window before the reduction, remembered as cwnd_prior and W_max (RFC 9438 §4.6–4.7);
    /// returns the reduced window in bytes.
    fn reduced_window(&mut self) -> u64 {
        let cwnd = self.segments(self.window);
        // RFC 9438 §4.7: W_max = cwnd*(1+beta_cubic)/2 if cwnd < W_max (fast convergence), else
        // W_max = cwnd.
        self.w_max = Some(match self.w_max {
            Some(w_max) if self.fast_convergence && cwnd < w_max => cwnd * (1.0 + BETA_CUBIC) / 2.0,
            _ => cwnd,
        });
        // RFC 9438 §4.6: cwnd_prior = cwnd.
        self.cwnd_prior = cwnd;
        // RFC 9438 §4.6: ssthresh = cwnd * beta_cubic, at least 2 segments.
        let reduced = u128::from(self.window) * BETA_NUMERATOR / BETA_DENOMINATOR;
        u64::try_from(reduced).unwrap_or(u64::MAX).max(self.min_window)
    }
}

impl Cubic {
    /// Growth for `bytes` acknowledged at `now`, the newest of them sent at `sent`.
    fn on_acked(&mut self, now: Instant, sent: Instant, bytes: u64, rtt: &RttEstimator, app_limited: bool) {
        let previous_ack = self.last_ack;
        self.last_ack = Some(previous_ack.map_or(now, |last| last.max(now)));

        // RFC 6675 §5 / RFC 9002 §7.3.2: the window does not grow during recovery; recovery ends
        // when a packet sent after it began is acknowledged.
        if self.recovery_start.is_some_and(|start| sent <= start) {
            return;
        }
        self.timeout_pending = false;

        if app_limited {
            // RFC 9438 §5.8: CUBIC does not raise cwnd while the application is the limit, and
            // t excludes such periods.
            self.exclude_from_epoch(previous_ack, now);
            return;
        }

        if self.in_slow_start() {
            // RFC 5681 §3.1 eq. 2: cwnd += min(N, SMSS) per ACK; counted per packet (RFC 3465),
            // stopping at ssthresh. RFC 9406: a quarter of that in conservative slow start, and
            // congestion avoidance from the window where the RTT rose.
            let before = self.hystart.phase();
            let growth = match self.hystart.on_ack(now, sent, bytes, rtt.latest()) {
                hystart::Phase::SlowStart => bytes,
                hystart::Phase::Conservative if before == hystart::Phase::SlowStart => {
                    // The RTT rose: the queue is filling. The window has doubled since the
                    // packets that showed it were sent; what the path holds is the better size
                    // (a heuristic beyond RFC 9406, avoiding a one-BDP overflow).
                    if let Some(capacity) = self.hystart.capacity_estimate(now, rtt.min_rtt()) {
                        self.window = self.window.min(capacity.max(self.min_window));
                    }
                    0
                }
                hystart::Phase::Conservative => bytes / hystart::CSS_GROWTH_DIVISOR,
                hystart::Phase::Exit => {
                    self.ssthresh = self.window;
                    return;
                }
            };
            self.window = self.window.saturating_add(growth).min(self.ssthresh).min(self.max_window);
            return;
        }

        // RFC 9438 §5.8: an acknowledgement gap longer than the RTO means nothing was in flight
        // (the timer would have fired otherwise): the flow was idle, and t MUST NOT include it.
        if previous_ack.is_some_and(|last| now.saturating_duration_since(last) > rtt.rto()) {
            self.exclude_from_epoch(previous_ack, now);
        }
        self.congestion_avoidance(now, bytes, rtt.smoothed_or_initial());
    }
}

impl Controller for Cubic {
    fn on_sent(&mut self, _sent: &SentPacket) {}

    fn on_ack(&mut self, ack: &Ack<'_>) {
        if let (Some(sent), true) = (ack.largest_acked_sent, ack.acked_bytes > 0) {
            self.on_acked(ack.now, sent, ack.acked_bytes, ack.rtt, ack.app_limited);
        }
    }

    fn on_lost(&mut self, lost: &LostPacket) {
        // RFC 9438 §4.6 / RFC 6675 §5: one reduction per window of data; a loss of a packet sent
        // before the current recovery period began was already answered.
        if self.recovery_start.is_some_and(|start| lost.sent <= start) {
            return;
        }
        self.recovery_start = Some(lost.now);
        self.save();
        if self.ssthresh == u64::MAX {
            // The first loss ends slow start. The window has kept doubling for the round trip
            // the loss took to be noticed, so it can be twice what the path holds; reducing from
            // it by beta_cubic overflows the queue again. Reduce instead from what the path
            // delivered in a round (queue included), when that is smaller (a heuristic beyond
            // RFC 9438 §4.6, in the spirit of its FlightSize note).
            if let Some(delivered) = self.hystart.delivered_per_round() {
                self.window = self.window.min(delivered.max(self.min_window));
            }
        }
        let reduced = self.reduced_window();
        // RFC 9438 §4.6: cwnd = ssthresh = max(cwnd * beta_cubic, 2 segments).
        self.ssthresh = reduced;
        self.window = reduced.min(self.max_window);
        self.epoch_start = None;
        self.carry = 0.0;
    }

    fn on_retransmission_timeout(&mut self, now: Instant) {
        // RFC 5681 §3.1: when the same data times out again, ssthresh is held constant.
        if !self.timeout_pending {
            self.save();
            // RFC 9438 §4.8: ssthresh is set with beta_cubic as in §4.6 (not Reno's half).
            self.ssthresh = self.reduced_window();
        }
        self.timeout_pending = true;
        // RFC 9438 §4.8: the first congestion avoidance stage after a timeout uses K = 0 and
        // W_max = the window at its start.
        self.w_max = None;
        // RFC 5681 §3.1: cwnd = loss window; here the 2-MSS minimum (see module docs).
        self.window = self.min_window;
        self.recovery_start = Some(now);
        self.epoch_start = None;
        self.carry = 0.0;
    }

    fn on_spurious_congestion(&mut self, _now: Instant) {
        // RFC 9438 §4.9: restore cwnd, ssthresh, W_max, K, W_est and the epoch as they were
        // before the congestion event; recovery is over.
        let Some(saved) = self.before_reduction.take() else { return };
        self.window = self.window.max(saved.window);
        self.ssthresh = saved.ssthresh;
        self.w_max = saved.w_max;
        self.cwnd_prior = saved.cwnd_prior;
        self.k = saved.k;
        self.w_est = saved.w_est;
        self.epoch_start = saved.epoch_start;
        self.recovery_start = None;
        self.timeout_pending = false;
        self.carry = 0.0;
    }

    fn window(&self) -> u64 {
        self.window
    }

    fn ssthresh(&self) -> u64 {
        self.ssthresh
    }

    fn in_slow_start(&self) -> bool {
        // RFC 5681 §3.1: slow start while cwnd < ssthresh.
        self.window < self.ssthresh
    }

    fn name(&self) -> &'static str {
        "cubic"
    }

    fn clone_box(&self) -> Box<dyn Controller> {
        Box::new(self.clone())
    }
}

/// `x` bounded to `[lo, hi]`, with NaN mapped to `lo`.
fn clamp_finite(x: f64, lo: f64, hi: f64) -> f64 {
    if x.is_nan() { lo } else { x.max(lo).min(hi) }
}

#[cfg(test)]
#[path = "cubic_tests.rs"]
mod tests;
