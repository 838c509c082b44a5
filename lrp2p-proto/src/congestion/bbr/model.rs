//! BBR's network path model (draft-ietf-ccwg-bbr-06 §2.9–§2.12, §5.5): what the path
//! delivers (`max_bw` over two ProbeBW cycles, the short-term `bw_shortterm`, and `bw`, the
//! one paced at), how long a round trip takes without a queue (`min_rtt` over 10 s, and the
//! 5 s `probe_rtt_min_delay` that schedules ProbeRTT), how much may be in flight
//! (`inflight_longterm`, `inflight_shortterm`), and how bursty the ACKs are (`extra_acked`).
//!
//! Rates are bytes per second and volumes bytes, as the draft counts them (§2); "Infinity" is
//! [`INFINITE`]. Everything saturates: no input overflows the arithmetic.

use std::time::{Duration, Instant};

use super::filter::{self, WindowedMax};
use crate::congestion::f64_to_u64;

/// The draft's "Infinity" for rates and volumes.
pub(super) const INFINITE: u64 = u64::MAX;

/// `BBR.MaxBwFilterLen` (§2.11): the current ProbeBW cycle and the previous one.
const MAX_BW_FILTER_LEN: u64 = 2;

/// `BBR.ExtraAckedFilterLen` (§2.12): 10 packet-timed round trips once the pipe is full.
const EXTRA_ACKED_FILTER_LEN: u64 = filter::MAX_LEN;

/// `BBR.MinRTTFilterLen` (§2.16.1): 10 s.
pub(super) const MIN_RTT_FILTER_LEN: Duration = Duration::from_secs(10);

/// A sample within `min / MIN_RTT_TOLERANCE` of the ProbeRTT filter's minimum refreshes it.
const MIN_RTT_TOLERANCE: u32 = 64;

/// `BBR.ProbeRTTInterval` (§2.16.2): 5 s between ProbeRTTs at most.
pub(super) const PROBE_RTT_INTERVAL: Duration = Duration::from_secs(5);

/// The model's estimates. The logic that moves them between states lives with the states
/// (`startup.rs`, `probe_bw.rs`, `probe_rtt.rs`, `loss.rs`); here are the filters.
#[derive(Clone, Debug)]
pub(super) struct Model {
    /// `BBR.max_bw_filter` (§2.11), over `cycle_count`.
    max_bw_filter: WindowedMax,
    /// `BBR.cycle_count` (§2.11): the filter's virtual time.
    cycle_count: u64,
    /// `BBR.max_bw` (§2.9.1): the windowed maximum delivery rate.
    pub(super) max_bw: u64,
    /// `BBR.bw_shortterm` (§2.9.1): the rate recent losses say is safe, or [`INFINITE`].
    pub(super) bw_shortterm: u64,
    /// `BBR.bw` (§2.9.1): `min(max_bw, bw_shortterm)`, what the flow paces at.
    pub(super) bw: u64,
    /// `BBR.bw_latest` (§2.10): the largest delivery rate of the last round trip.
    pub(super) bw_latest: u64,
    /// `BBR.inflight_latest` (§2.10): the largest volume delivered in one sample over the last
    /// round trip.
    pub(super) inflight_latest: u64,
    /// `BBR.min_rtt` (§2.9.2); `None` is the draft's Infinity (no sample yet).
    pub(super) min_rtt: Option<Duration>,
    /// `BBR.min_rtt_stamp` (§2.16.1).
    min_rtt_stamp: Instant,
    /// `BBR.probe_rtt_min_delay` (§2.16.2): the least RTT of the last 5 s.
    pub(super) probe_rtt_min_delay: Option<Duration>,
    /// `BBR.probe_rtt_min_stamp` (§2.16.2).
    pub(super) probe_rtt_min_stamp: Instant,
    /// `BBR.probe_rtt_expired` (§2.16.2).
    pub(super) probe_rtt_expired: bool,
    /// `BBR.inflight_longterm` (§2.9.2): the most in flight that did not lose too much, or
    /// [`INFINITE`].
    pub(super) inflight_longterm: u64,
    /// `BBR.inflight_shortterm` (§2.9.2): the volume recent losses say is safe, or
    /// [`INFINITE`].
    pub(super) inflight_shortterm: u64,
    /// `BBR.extra_acked_filter` (§2.12), over round trips.
    extra_acked_filter: WindowedMax,
    /// `BBR.extra_acked_interval_start` (§2.12).
    pub(super) extra_acked_interval_start: Instant,
    /// `BBR.extra_acked_delivered` (§2.12).
    extra_acked_delivered: u64,
    /// `BBR.extra_acked` (§2.9.2): the recent degree of ACK aggregation, in bytes.
    pub(super) extra_acked: u64,
}

impl Model {
    /// The model of a connection opened at `now` (§5.2.1 OnInit): no bandwidth, no RTT,
    /// no bounds.
    pub(super) fn new(now: Instant) -> Self {
        Self {
            max_bw_filter: WindowedMax::new(),
            cycle_count: 0,
            max_bw: 0,
            bw_shortterm: INFINITE,
            bw: 0,
            bw_latest: 0,
            inflight_latest: 0,
            // §5.2.1: BBR.min_rtt = C.srtt ? C.srtt : Infinity; a new controller has no SRTT.
            min_rtt: None,
            min_rtt_stamp: now,
            probe_rtt_min_delay: None,
            probe_rtt_min_stamp: now,
            probe_rtt_expired: false,
            inflight_longterm: INFINITE,
            inflight_shortterm: INFINITE,
            extra_acked_filter: WindowedMax::new(),
            extra_acked_interval_start: now,
            extra_acked_delivered: 0,
            extra_acked: 0,
        }
    }

    /// §5.5.5 UpdateMaxBw (after UpdateRound, which the caller runs): a delivery rate enters
    /// the filter unless it is application limited and below the current estimate (§5.5.4).
    pub(super) fn update_max_bw(&mut self, delivery_rate: u64, is_app_limited: bool) {
        if delivery_rate > 0 && (delivery_rate >= self.max_bw || !is_app_limited) {
            self.max_bw = self.max_bw_filter.update(delivery_rate, self.cycle_count, MAX_BW_FILTER_LEN);
        }
    }

    /// §5.5.6 AdvanceMaxBwFilter: a ProbeBW cycle ended; samples older than the previous
    /// cycle leave the filter.
    pub(super) fn advance_max_bw_filter(&mut self) {
        self.cycle_count = self.cycle_count.saturating_add(1);
        self.max_bw = self.max_bw_filter.max(self.cycle_count, MAX_BW_FILTER_LEN);
    }

    /// §5.5.10.3 ResetShortTermModel.
    pub(super) fn reset_short_term(&mut self) {
        self.bw_shortterm = INFINITE;
        self.inflight_shortterm = INFINITE;
    }

    /// §5.5.10.3 BoundBWForModel: `bw = min(max_bw, bw_shortterm)`.
    pub(super) fn bound_bw(&mut self) {
        self.bw = self.max_bw.min(self.bw_shortterm);
    }

    /// §5.3.4.3 UpdateMinRTT, with the RTT sample of this ACK (if any): refreshes the 5 s
    /// ProbeRTT filter and, from it, the 10 s `min_rtt`.
    pub(super) fn update_min_rtt(&mut self, now: Instant, rtt: Option<Duration>) {
        self.probe_rtt_expired =
            now > self.probe_rtt_min_stamp.checked_add(PROBE_RTT_INTERVAL).unwrap_or(now);
        if let Some(rtt) = rtt {
            if self.probe_rtt_min_delay.is_none_or(|min| rtt < min) || self.probe_rtt_expired {
                self.probe_rtt_min_delay = Some(rtt);
                self.probe_rtt_min_stamp = now;
            } else if self.probe_rtt_min_delay.is_some_and(|min| rtt <= min + min / MIN_RTT_TOLERANCE) {
                // A departure: a sample within 1/64 of the minimum shows it again, so ProbeRTT
                // is not yet needed. The draft refreshes only on a strictly lower sample; on a
                // path whose RTT repeats to the microsecond (no queue, no jitter) that forced a
                // ProbeRTT every 5 s, half the window for 200 ms (1.4 % of a 9 s transfer).
                self.probe_rtt_min_stamp = now;
            }
        }
        let min_rtt_expired = now > self.min_rtt_stamp.checked_add(MIN_RTT_FILTER_LEN).unwrap_or(now);
        let lower = match (self.probe_rtt_min_delay, self.min_rtt) {
            (Some(probe), Some(min)) => probe < min,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if lower || (min_rtt_expired && self.probe_rtt_min_delay.is_some()) {
            self.min_rtt = self.probe_rtt_min_delay;
            self.min_rtt_stamp = self.probe_rtt_min_stamp;
        }
    }

    /// §5.5.9 UpdateACKAggregation: how much more than `bw` predicts was acknowledged since
    /// the ACK rate last fell below it, at most `cwnd`, as a windowed maximum over 10 round
    /// trips (1 in Startup, when `full_bw_reached` is false).
    pub(super) fn update_ack_aggregation(
        &mut self,
        now: Instant,
        newly_acked: u64,
        cwnd: u64,
        round_count: u64,
        full_bw_reached: bool,
    ) {
        let interval = now.saturating_duration_since(self.extra_acked_interval_start);
        let mut expected_delivered = volume(self.bw, interval, 1.0);
        // Reset the interval if the ACK rate is below the expected rate.
        if self.extra_acked_delivered <= expected_delivered {
            self.extra_acked_delivered = 0;
            self.extra_acked_interval_start = now;
            expected_delivered = 0;
        }
        self.extra_acked_delivered = self.extra_acked_delivered.saturating_add(newly_acked);
        let extra = self.extra_acked_delivered.saturating_sub(expected_delivered).min(cwnd);
        let len = if full_bw_reached { EXTRA_ACKED_FILTER_LEN } else { 1 };
        self.extra_acked = self.extra_acked_filter.update(extra, round_count, len);
    }

    /// `bw · min_rtt · gain` in bytes, or `None` before the first RTT sample (§5.6.4.2
    /// BDPMultiple).
    pub(super) fn bdp_multiple(&self, bw: u64, gain: f64) -> Option<u64> {
        self.min_rtt.map(|rtt| volume(bw, rtt, gain))
    }

    /// `BBR.cycle_count`, for tests.
    #[cfg(test)]
    pub(super) fn cycle_count(&self) -> u64 {
        self.cycle_count
    }
}

/// `rate · time · gain` in bytes, saturating: `rate` in bytes per second.
pub(super) fn volume(rate: u64, time: Duration, gain: f64) -> u64 {
    let bytes = u128::from(rate).saturating_mul(time.as_nanos()) / 1_000_000_000;
    let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
    scale(bytes, gain)
}

/// `x · gain` rounded down, saturating; [`INFINITE`] stays infinite.
pub(super) fn scale(x: u64, gain: f64) -> u64 {
    if x == INFINITE {
        return INFINITE;
    }
    if gain == 1.0 {
        return x;
    }
    f64_to_u64(x as f64 * gain)
}

#[cfg(test)]
mod tests {
    use super::*;

    // An `Instant` can only be had from the clock; only differences from it matter here.
    #[allow(clippy::disallowed_methods)]
    fn origin() -> Instant {
        Instant::now()
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn min_rtt_takes_lower_samples_and_expires_after_ten_seconds() {
        let t0 = origin();
        let mut m = Model::new(t0);
        m.update_min_rtt(t0, None);
        assert_eq!(m.min_rtt, None);
        m.update_min_rtt(t0, Some(50 * MS));
        assert_eq!(m.min_rtt, Some(50 * MS));
        m.update_min_rtt(t0 + MS, Some(40 * MS));
        assert_eq!(m.min_rtt, Some(40 * MS));
        m.update_min_rtt(t0 + 2 * MS, Some(60 * MS));
        assert_eq!((m.min_rtt, m.probe_rtt_min_delay), (Some(40 * MS), Some(40 * MS)));
        // After 5 s the ProbeRTT filter takes any sample; after 10 s min_rtt follows it.
        let t = t0 + Duration::from_secs(5) + 2 * MS;
        m.update_min_rtt(t, Some(70 * MS));
        assert!(m.probe_rtt_expired);
        assert_eq!((m.min_rtt, m.probe_rtt_min_delay), (Some(40 * MS), Some(70 * MS)));
        // 10 s after the 40 ms sample (and before the ProbeRTT filter expires again).
        let t = t0 + Duration::from_secs(10) + Duration::from_micros(1500);
        m.update_min_rtt(t, Some(80 * MS));
        assert_eq!(m.min_rtt, Some(70 * MS), "min_rtt expired and took the ProbeRTT filter's value");
    }

    #[test]
    fn the_max_bw_filter_keeps_two_cycles() {
        let mut m = Model::new(origin());
        m.update_max_bw(1000, false);
        m.update_max_bw(500, true);
        assert_eq!(m.max_bw, 1000);
        m.update_max_bw(2000, true);
        assert_eq!(m.max_bw, 2000, "an application-limited sample above the estimate counts");
        m.advance_max_bw_filter();
        m.update_max_bw(800, false);
        assert_eq!(m.max_bw, 2000, "the previous cycle is still remembered");
        m.advance_max_bw_filter();
        assert_eq!(m.max_bw, 800, "two cycles later the old maximum is gone");
        assert_eq!(m.cycle_count(), 2);
    }

    #[test]
    fn volumes_saturate() {
        assert_eq!(volume(u64::MAX, Duration::MAX, 2.0), u64::MAX);
        assert_eq!(volume(1_000_000, 10 * MS, 1.0), 10_000);
        assert_eq!(volume(1_000_000, 10 * MS, 0.5), 5_000);
        assert_eq!(scale(INFINITE, 0.5), INFINITE);
        assert_eq!(scale(u64::MAX - 1, 2.0), u64::MAX);
        assert_eq!(scale(10, f64::NAN), 0);
    }

    #[test]
    fn aggregation_counts_what_exceeds_the_rate() {
        let t0 = origin();
        let mut m = Model::new(t0);
        m.max_bw = 1_000_000; // 1000 bytes per ms
        m.bound_bw();
        // The first ACK starts the interval; 1 ms later, when 1 kB was expected, 20 kB more
        // arrive: 24 kB more than the rate explains.
        m.update_ack_aggregation(t0, 5_000, u64::MAX, 1, false);
        m.update_ack_aggregation(t0 + MS, 20_000, u64::MAX, 1, false);
        assert_eq!(m.extra_acked, 24_000);
        // Each sample is capped by the window; the round's maximum stays.
        m.update_ack_aggregation(t0 + 2 * MS, 20_000, 5_000, 1, false);
        assert_eq!(m.extra_acked, 24_000);
        // In Startup only the current round counts.
        m.update_ack_aggregation(t0 + 3 * MS, 0, 5_000, 2, false);
        assert_eq!(m.extra_acked, 5_000);
        // An ACK rate below the estimate restarts the interval.
        m.update_ack_aggregation(t0 + Duration::from_secs(1), 1_000, 5_000, 2, true);
        assert_eq!(m.extra_acked, 24_000, "once the pipe is full the window covers 10 rounds");
    }
}
