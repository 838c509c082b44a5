//! Round-trip time estimation and the retransmission timeout (RFC 6298).
//!
//! [`RttEstimator`] keeps the smoothed RTT (SRTT), its mean deviation (RTTVAR), the minimum and
//! the latest sample, and derives the retransmission timeout (RTO) from them:
//!
//! ```text
//! first sample R:       SRTT = R,  RTTVAR = R/2                               (RFC 6298 §2.2)
//! later samples R':     RTTVAR = 3/4·RTTVAR + 1/4·|SRTT − R'|
//!                       SRTT   = 7/8·SRTT   + 1/8·R'                          (RFC 6298 §2.3)
//! RTO = min(SRTT + max(G, 4·RTTVAR, min_rto) + max_ack_delay, max_rto) · 2^backoffs
//!                       (RFC 6298 §2.2–2.5, §5.5; RFC 9002 §6.2.1; the floor as Linux's)
//! ```
//!
//! # Room for the peer's ACK delay
//!
//! A receiver may hold an ACK for up to `max_ack_delay` (PROTOCOL.md §8.5: 25 ms) when only one
//! packet arrived. SRTT has that delay subtracted (below), and RTTVAR collapses towards zero on a
//! steady path, so `SRTT + 4·RTTVAR` alone ends up a fraction of a millisecond above the round
//! trip: on a path whose RTT is above `min_rto`, every lone segment (a tail, or the first after a
//! timeout) then times out before its delayed ACK can arrive, and each spurious timeout collapses
//! the window to two packets again. RFC 9002 §6.2.1 adds the peer's `max_ack_delay` to the probe
//! timeout for this reason; so does this RTO.
//!
//! # Karn's algorithm is the caller's job
//!
//! RFC 6298 §3: an acknowledgement for a segment that was retransmitted is ambiguous — it may
//! acknowledge the first transmission or a later one — so it MUST NOT be used as an RTT sample.
//! The estimator cannot tell; whoever tracks packets in flight must only call
//! [`RttEstimator::update`] for packets that were sent exactly once (LRP2P flags retransmitted
//! segments on the wire for this reason). The backed-off RTO is kept until such a sample arrives,
//! which is the second half of Karn's algorithm.
//!
//! # Ack delay
//!
//! The peer reports how long it held an acknowledgement before sending it. Like RFC 9002 §5.3,
//! [`RttEstimator::update`] subtracts that delay from the sample only when the result stays at or
//! above the minimum RTT, so a peer that lies about its delay cannot drive the estimate below a
//! round trip that was actually observed.

use std::time::Duration;

use super::backoff::backed_off;
use crate::wire::MAX_ACK_DELAY;

/// Tunables of an [`RttEstimator`]. [`RttConfig::default`] gives the values documented on each
/// field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttConfig {
    /// The RTT assumed before the first sample, for callers that need a round-trip time rather
    /// than a timeout (pacing, the CUBIC target). Default 333 ms, RFC 9002 §6.2.2's kInitialRtt:
    /// 333 ms + 4 · 333/2 ms ≈ 1 s, the initial RTO below.
    pub initial_rtt: Duration,
    /// The RTO before the first sample. Default 1 s (RFC 6298 §2.1).
    pub initial_rto: Duration,
    /// The floor of the RTO's variance term: the RTO is at least `SRTT + min_rto +
    /// max_ack_delay`. Default 200 ms, Linux's `TCP_RTO_MIN`, which Linux applies the same way
    /// (to the deviation, not to the sum).
    ///
    /// RFC 6298 §2.4 rounds the whole RTO up to 1 s. That floor dates from coarse clocks and
    /// receivers that delay acknowledgements by up to 500 ms; with fine-grained timers it mostly
    /// adds a second of stall to every tail loss (RFC 8961 allows less). A floor on the sum,
    /// though, protects only short paths: RTTVAR is updated on every acknowledgement, so on a
    /// steady path it decays to microseconds within a round trip, and a long path's RTO ends up
    /// a hair above its RTT. When a queue then fills (the RTT of a 400 ms path doubles behind a
    /// one-BDP queue), the timer fires while the acknowledgements are merely late, and a
    /// spurious timeout collapses the window to two packets. Flooring the deviation keeps that
    /// margin on every path.
    pub min_rto: Duration,
    /// The ceiling of the RTO, backoff included. Default 60 s, the least RFC 6298 §2.5 allows.
    pub max_rto: Duration,
    /// The clock granularity G of RFC 6298 §2.2: the least variance term in the RTO. Default
    /// 1 ms, the granularity QUIC assumes (RFC 9002 §6.1.2 kGranularity) and the resolution of
    /// common OS timers.
    pub granularity: Duration,
    /// The longest the peer may hold an ACK: added to every RTO and the most of a reported ACK
    /// delay that is subtracted from a sample (RFC 9002 §5.3, §6.2.1). Default 25 ms, the bound
    /// PROTOCOL.md §8.5 sets for every receiver.
    pub max_ack_delay: Duration,
}

impl Default for RttConfig {
    fn default() -> Self {
        Self {
            initial_rtt: Duration::from_millis(333),
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(60),
            granularity: Duration::from_millis(1),
            max_ack_delay: MAX_ACK_DELAY,
        }
    }
}

/// The highest backoff exponent counted; the RTO reaches `max_rto` long before 2^32.
const MAX_BACKOFF_EXPONENT: u32 = super::backoff::MAX_EXPONENT;

/// Estimates the round-trip time and derives the retransmission timeout (RFC 6298).
///
/// Sans-IO: it never reads a clock; samples are durations the caller measured between sending a
/// packet and receiving its acknowledgement.
#[derive(Debug, Clone)]
pub struct RttEstimator {
    /// The configuration in microseconds (24 bytes instead of `RttConfig`'s 96: every
    /// connection holds one), each saturating at `u32::MAX` µs (71 minutes).
    config: Micros,
    /// The most recent sample, as measured (ack delay not subtracted).
    latest: Option<Duration>,
    /// SRTT, `None` until the first sample.
    smoothed: Option<Duration>,
    /// RTTVAR, `None` until the first sample.
    var: Option<Duration>,
    /// The least sample seen (ack delay not subtracted).
    min: Option<Duration>,
    /// How many times the RTO has been doubled since the last sample or reset.
    backoffs: u32,
}

/// [`RttConfig`]'s durations in microseconds, in its field order.
#[derive(Debug, Clone, Copy)]
struct Micros([u32; 6]);

impl Micros {
    fn new(c: &RttConfig) -> Self {
        let us = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
        Micros([
            us(c.initial_rtt),
            us(c.initial_rto),
            us(c.min_rto),
            us(c.max_rto),
            us(c.granularity),
            us(c.max_ack_delay),
        ])
    }

    fn get(self, i: usize) -> Duration {
        Duration::from_micros(u64::from(self.0[i]))
    }

    fn initial_rtt(self) -> Duration {
        self.get(0)
    }

    fn initial_rto(self) -> Duration {
        self.get(1)
    }

    fn min_rto(self) -> Duration {
        self.get(2)
    }

    fn max_rto(self) -> Duration {
        self.get(3)
    }

    fn granularity(self) -> Duration {
        self.get(4)
    }

    fn max_ack_delay(self) -> Duration {
        self.get(5)
    }
}

impl Default for RttEstimator {
    fn default() -> Self {
        Self::new(RttConfig::default())
    }
}

impl RttEstimator {
    /// An estimator with no samples yet: [`rto`](Self::rto) is `config.initial_rto`.
    pub fn new(config: RttConfig) -> Self {
        Self { config: Micros::new(&config), latest: None, smoothed: None, var: None, min: None, backoffs: 0 }
    }

    /// The configuration this estimator was built with (to the microsecond).
    pub fn config(&self) -> RttConfig {
        let c = self.config;
        RttConfig {
            initial_rtt: c.initial_rtt(),
            initial_rto: c.initial_rto(),
            min_rto: c.min_rto(),
            max_rto: c.max_rto(),
            granularity: c.granularity(),
            max_ack_delay: c.max_ack_delay(),
        }
    }

    /// Feeds one RTT sample: the time from sending a packet to receiving the acknowledgement that
    /// first covered it, and the delay the peer reports having held that acknowledgement.
    ///
    /// Only packets that were transmitted once may be sampled (Karn's algorithm, RFC 6298 §3):
    /// the caller filters retransmissions. A new sample recomputes the RTO, which also ends any
    /// exponential backoff.
    pub fn update(&mut self, sample: Duration, ack_delay: Duration) {
        self.latest = Some(sample);
        // RFC 9002 §5.2: min_rtt is the least sample as measured, before ack-delay adjustment.
        let min = self.min.map_or(sample, |m| m.min(sample));
        self.min = Some(min);

        // RFC 9002 §5.3: subtract the peer's ack delay, at most max_ack_delay, only if that leaves
        // the sample at or above min_rtt; otherwise the sample is used as measured.
        let ack_delay = ack_delay.min(self.config.max_ack_delay());
        let adjusted = match sample.checked_sub(ack_delay) {
            Some(a) if a >= min => a,
            _ => sample,
        };

        match (self.smoothed, self.var) {
            (Some(srtt), Some(rttvar)) => {
                // RFC 6298 §2.3: RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'|, beta = 1/4,
                // computed with the SRTT from before this sample.
                let deviation = srtt.abs_diff(adjusted);
                self.var = Some((rttvar / 4).saturating_mul(3).saturating_add(deviation / 4));
                // RFC 6298 §2.3: SRTT <- (1 - alpha) * SRTT + alpha * R', alpha = 1/8.
                self.smoothed = Some((srtt / 8).saturating_mul(7).saturating_add(adjusted / 8));
            }
            _ => {
                // RFC 6298 §2.2: first measurement R: SRTT <- R, RTTVAR <- R/2.
                self.smoothed = Some(adjusted);
                self.var = Some(adjusted / 2);
            }
        }
        // RFC 6298 §2.3: after the computation, RTO <- SRTT + max(G, K*RTTVAR). A new valid
        // measurement replaces a backed-off RTO (Karn's algorithm keeps the backoff only until
        // an unambiguous sample arrives).
        self.backoffs = 0;
    }

    /// Doubles the RTO after the retransmission timer expired (RFC 6298 §5.5), up to
    /// `max_rto`.
    pub fn backoff(&mut self) {
        self.backoffs = self.backoffs.saturating_add(1).min(MAX_BACKOFF_EXPONENT);
    }

    /// Drops any backoff, e.g. when an acknowledgement of new data arrives but could not be
    /// sampled. [`update`](Self::update) does this by itself.
    pub fn reset_backoff(&mut self) {
        self.backoffs = 0;
    }

    /// How many times [`backoff`](Self::backoff) was applied since the last sample or reset: the
    /// count of consecutive timeouts, for a caller deciding when to give up.
    pub fn backoffs(&self) -> u32 {
        self.backoffs
    }

    /// The retransmission timeout to arm now, backoff included.
    pub fn rto(&self) -> Duration {
        // RFC 6298 §5.5: on expiry RTO <- RTO * 2; §2.5: a maximum of at least 60 s MAY bound it.
        // The ceiling wins over the floor if a configuration inverts them.
        backed_off(self.base_rto(), self.backoffs, self.config.max_rto())
    }

    /// The retransmission timeout without backoff: how long a path may stay silent before it is
    /// suspect (one RTO of silence while data is in flight means no ACK is coming).
    pub fn base_rto(&self) -> Duration {
        match (self.smoothed, self.var) {
            (Some(srtt), Some(rttvar)) => {
                // RFC 6298 §2.2/§2.3: RTO <- SRTT + max(G, K*RTTVAR), K = 4, with the variance
                // term floored at min_rto (RFC 6298 §2.4 floors the sum; see
                // `RttConfig::min_rto` for why the deviation, as Linux does); RFC 9002 §6.2.1:
                // plus the peer's max_ack_delay (see the module documentation).
                let variance =
                    rttvar.saturating_mul(4).max(self.config.granularity()).max(self.config.min_rto());
                srtt.saturating_add(variance).saturating_add(self.config.max_ack_delay())
            }
            // RFC 6298 §2.1: until a measurement is made, RTO <- 1 second (configurable).
            _ => self.config.initial_rto(),
        }
    }

    /// The smoothed RTT (SRTT), or `None` before the first sample.
    pub fn smoothed(&self) -> Option<Duration> {
        self.smoothed
    }

    /// The smoothed RTT, or `config.initial_rtt` before the first sample.
    pub fn smoothed_or_initial(&self) -> Duration {
        self.smoothed.unwrap_or(self.config.initial_rtt())
    }

    /// The RTT variation (RTTVAR), or `None` before the first sample.
    pub fn rttvar(&self) -> Option<Duration> {
        self.var
    }

    /// The least RTT sample seen, as measured (ack delay not subtracted), or `None` before the
    /// first sample.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min
    }

    /// The most recent RTT sample, as measured, or `None` before the first sample.
    pub fn latest(&self) -> Option<Duration> {
        self.latest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn initial_rto_is_one_second_and_backs_off() {
        let mut rtt = RttEstimator::default();
        assert_eq!(rtt.rto(), ms(1000));
        assert_eq!(rtt.smoothed(), None);
        assert_eq!(rtt.smoothed_or_initial(), ms(333));
        rtt.backoff();
        assert_eq!(rtt.rto(), ms(2000));
        rtt.backoff();
        assert_eq!(rtt.rto(), ms(4000));
        rtt.reset_backoff();
        assert_eq!(rtt.rto(), ms(1000));
    }

    #[test]
    fn first_sample_sets_srtt_and_half_variance() {
        let mut rtt = RttEstimator::default();
        rtt.update(ms(100), Duration::ZERO);
        assert_eq!(rtt.smoothed(), Some(ms(100)));
        assert_eq!(rtt.rttvar(), Some(ms(50)));
        assert_eq!(rtt.min_rtt(), Some(ms(100)));
        assert_eq!(rtt.latest(), Some(ms(100)));
        // 100 + 4 * 50 + 25 = 325 ms.
        assert_eq!(rtt.rto(), ms(325));
    }

    #[test]
    fn subsequent_samples_use_alpha_one_eighth_beta_one_quarter() {
        let mut rtt = RttEstimator::default();
        rtt.update(ms(100), Duration::ZERO);
        rtt.update(ms(200), Duration::ZERO);
        // RTTVAR = 3/4 * 50 + 1/4 * |100 - 200| = 62.5 ms; SRTT = 7/8 * 100 + 1/8 * 200 = 112.5.
        assert_eq!(rtt.rttvar(), Some(Duration::from_micros(62_500)));
        assert_eq!(rtt.smoothed(), Some(Duration::from_micros(112_500)));
        assert_eq!(rtt.rto(), Duration::from_micros(112_500 + 4 * 62_500 + 25_000));
        assert_eq!(rtt.min_rtt(), Some(ms(100)));
        assert_eq!(rtt.latest(), Some(ms(200)));
    }

    #[test]
    fn steady_samples_converge_and_rto_hits_the_floor() {
        let mut rtt = RttEstimator::default();
        for _ in 0..200 {
            rtt.update(ms(10), Duration::ZERO);
        }
        assert_eq!(rtt.smoothed(), Some(ms(10)));
        assert!(rtt.rttvar().unwrap() < Duration::from_micros(10));
        // 4 * RTTVAR ~ 0 is far below the 200 ms floor of the variance term: 10 + 200 + 25.
        assert_eq!(rtt.rto(), ms(235));
    }

    #[test]
    fn granularity_bounds_the_variance_term() {
        let config = RttConfig {
            min_rto: Duration::ZERO,
            granularity: ms(5),
            max_ack_delay: Duration::ZERO,
            ..RttConfig::default()
        };
        let mut rtt = RttEstimator::new(config);
        for _ in 0..200 {
            rtt.update(ms(10), Duration::ZERO);
        }
        assert_eq!(rtt.rto(), ms(15));
    }

    #[test]
    fn backoff_doubles_up_to_max_and_a_sample_resets_it() {
        let mut rtt = RttEstimator::default();
        rtt.update(ms(100), Duration::ZERO);
        assert_eq!(rtt.rto(), ms(325));
        rtt.backoff();
        assert_eq!(rtt.rto(), ms(650));
        for _ in 0..100 {
            rtt.backoff();
        }
        assert_eq!(rtt.rto(), Duration::from_secs(60));
        assert_eq!(rtt.backoffs(), MAX_BACKOFF_EXPONENT);
        rtt.update(ms(100), Duration::ZERO);
        assert_eq!(rtt.backoffs(), 0);
        assert!(rtt.rto() < Duration::from_secs(1));
    }

    #[test]
    fn max_rto_caps_a_huge_sample() {
        let mut rtt = RttEstimator::default();
        rtt.update(Duration::from_secs(3600), Duration::ZERO);
        assert_eq!(rtt.rto(), Duration::from_secs(60));
        rtt.update(Duration::MAX, Duration::MAX);
        assert_eq!(rtt.rto(), Duration::from_secs(60));
    }

    #[test]
    fn ack_delay_is_subtracted_only_above_min_rtt() {
        let mut rtt = RttEstimator::default();
        // First sample: min_rtt is the sample itself, so no delay can be subtracted.
        rtt.update(ms(100), ms(20));
        assert_eq!(rtt.smoothed(), Some(ms(100)));
        // 130 - 20 = 110 >= 100: subtracted, the sample counts as 110.
        rtt.update(ms(130), ms(20));
        assert_eq!(rtt.smoothed(), Some(Duration::from_micros(101_250)));
        assert_eq!(rtt.latest(), Some(ms(130)));
        // 120 - 50 = 70 < 100: the delay would undercut min_rtt, so the sample is used raw.
        let mut a = rtt.clone();
        let mut b = rtt.clone();
        a.update(ms(120), ms(50));
        b.update(ms(120), Duration::ZERO);
        assert_eq!(a.smoothed(), b.smoothed());
        assert_eq!(a.rttvar(), b.rttvar());
        // A delay larger than the sample is ignored without underflow.
        a.update(ms(120), Duration::from_secs(10));
        assert_eq!(a.min_rtt(), Some(ms(100)));
    }

    #[test]
    fn rto_leaves_room_for_a_delayed_ack_on_a_steady_long_path() {
        // Issue 9: on a steady 200 ms path RTTVAR decays to nothing; the RTO must still outlast a
        // lone segment's ACK, held by the receiver for up to 25 ms.
        let mut rtt = RttEstimator::default();
        for _ in 0..1000 {
            rtt.update(ms(200), Duration::ZERO);
        }
        assert!(rtt.rttvar().unwrap() < Duration::from_micros(10));
        // And keep a margin for the queue behind it: 200 + max(4 * RTTVAR, 200) + 25.
        assert_eq!(rtt.rto(), ms(200) + ms(200) + MAX_ACK_DELAY);
    }

    #[test]
    fn a_reported_ack_delay_is_capped_at_max_ack_delay() {
        let mut a = RttEstimator::default();
        let mut b = RttEstimator::default();
        a.update(ms(100), Duration::ZERO);
        b.update(ms(100), Duration::ZERO);
        // 300 - 25 (capped from 150) = 275 ms.
        a.update(ms(300), ms(150));
        b.update(ms(275), Duration::ZERO);
        assert_eq!(a.smoothed(), b.smoothed());
    }

    #[test]
    fn inverted_bounds_let_the_ceiling_win() {
        let config = RttConfig {
            min_rto: Duration::from_secs(10),
            max_rto: Duration::from_secs(2),
            ..RttConfig::default()
        };
        let mut rtt = RttEstimator::new(config);
        rtt.update(ms(10), Duration::ZERO);
        assert_eq!(rtt.rto(), Duration::from_secs(2));
    }
}
