//! Pacing: a token bucket that spreads the congestion window over the round trip.
//!
//! Without pacing a sender emits its whole window back to back whenever acknowledgements open
//! it, and the burst overflows shallow router queues. RFC 9002 §7.7 paces at
//!
//! ```text
//! rate = N · cwnd / smoothed_rtt,   N = 1.25
//! ```
//!
//! N > 1 keeps the pacer from being the bottleneck when the RTT estimate lags. The same gain is
//! used in slow start (Linux paces slow start at 2×): the rate follows the window as it grows
//! within the round trip, so slow start still roughly doubles per RTT, and the bucket below
//! absorbs the rest.
//!
//! Tokens (bytes) accrue at that rate up to a capacity of one burst:
//! `clamp(rate · 2 ms, 10 MSS, 256 MSS)`, then at most the window and at least 2 MSS (the
//! controllers never go below a 2-MSS window, so both hold). Two milliseconds of rate lets a
//! driver whose timers fire with millisecond granularity still reach full rate; 10 packets is
//! the initial window (RFC 6928), so pacing never delays what a fresh connection may send at
//! once; 256 packets bounds the burst at very high rates.
//!
//! A controller that sets its own pacing rate (BBR, [`Controller::pacing_rate`]) replaces
//! `N · cwnd / smoothed_rtt` with it: [`Pacer::delay_at`].
//!
//! [`Controller::pacing_rate`]: super::Controller::pacing_rate
//!
//! Use: before sending a packet of `bytes`, call [`Pacer::delay`]. `None` means send now, then
//! call [`Pacer::on_sent`]; `Some(t)` means arm a timer for `t` and ask again then.

use std::time::{Duration, Instant};

use super::f64_to_u64;

/// RFC 9002 §7.7: the pacing gain N = 1.25 on cwnd / smoothed_rtt.
pub const PACING_GAIN: f64 = 1.25;

/// How much of the pacing rate one burst may carry.
pub const BURST_INTERVAL: Duration = Duration::from_millis(2);

/// The least burst, in packets (RFC 6928's initial window).
pub const MIN_BURST_PACKETS: u64 = 10;

/// The largest burst, in packets.
pub const MAX_BURST_PACKETS: u64 = 256;

/// Tokens that may be missing and still count as enough: absorbs floating-point rounding so a
/// packet asked for again at exactly the returned instant goes out.
const TOLERANCE_BYTES: f64 = 1e-3;

/// A token-bucket pacer. Sans-IO: `now` is always a parameter.
#[derive(Debug, Clone)]
pub struct Pacer {
    /// Bytes that may leave now, in `[0, capacity]`.
    tokens: f64,
    /// The bucket size in bytes for the last (mss, window, rate).
    capacity: u64,
    /// The parameters `capacity` was computed for (the rate as `f64` bits).
    last: (u64, u64, u64),
    /// When tokens were last added.
    last_refill: Instant,
}

impl Pacer {
    /// A pacer with a full bucket, for packets of `mss` bytes under a window of `window` bytes
    /// and a smoothed RTT of `srtt`.
    pub fn new(now: Instant, mss: u64, window: u64, srtt: Duration) -> Self {
        let rate = rate(window, srtt).unwrap_or(0.0);
        let capacity = capacity(mss, window, rate);
        Self { tokens: capacity as f64, capacity, last: (mss, window, rate.to_bits()), last_refill: now }
    }

    /// When a packet of `bytes` may leave: `None` for now, or the instant to try again.
    ///
    /// `window` is the congestion window and `srtt` the smoothed RTT at `now`; a zero window or
    /// RTT disables pacing (`None`). A packet larger than the bucket leaves once the bucket is
    /// full.
    pub fn delay(
        &mut self,
        now: Instant,
        bytes: u64,
        mss: u64,
        window: u64,
        srtt: Duration,
    ) -> Option<Instant> {
        self.delay_at(now, bytes, mss, window, srtt, None)
    }

    /// [`delay`](Self::delay), at `controller_rate` bytes per second instead of
    /// `1.25 · window / srtt` when it is given (and not 0).
    pub fn delay_at(
        &mut self,
        now: Instant,
        bytes: u64,
        mss: u64,
        window: u64,
        srtt: Duration,
        controller_rate: Option<u64>,
    ) -> Option<Instant> {
        let rate = match controller_rate.filter(|&r| r > 0) {
            Some(r) => r as f64,
            None => rate(window, srtt)?,
        };
        if window == 0 {
            return None;
        }
        if self.last != (mss, window, rate.to_bits()) {
            self.last = (mss, window, rate.to_bits());
            self.capacity = capacity(mss, window, rate);
            self.tokens = self.tokens.min(self.capacity as f64);
        }
        // RFC 9002 §7.7: refill at N * cwnd / smoothed_rtt, never beyond one burst.
        let elapsed = now.saturating_duration_since(self.last_refill).as_secs_f64();
        self.tokens = (self.tokens + rate * elapsed).min(self.capacity as f64);
        self.last_refill = self.last_refill.max(now);

        let needed = bytes.min(self.capacity) as f64;
        let missing = needed - self.tokens;
        if missing <= TOLERANCE_BYTES {
            return None;
        }
        // Rounded up by a nanosecond so that asking again at the returned instant succeeds.
        let wait = Duration::try_from_secs_f64(missing / rate)
            .unwrap_or(srtt.max(Duration::from_millis(1)))
            .saturating_add(Duration::from_nanos(1));
        Some(now.checked_add(wait).unwrap_or(now))
    }

    /// A packet of `bytes` was sent: its tokens are spent. A packet may cost more than the
    /// size [`delay`](Self::delay) was asked about (the caller asks before it knows what else
    /// the datagram carries): the difference is a debt the next packets pay, down to one
    /// burst below empty, so that the rate holds in the bytes charged. Forgiving it (a
    /// bucket that stops at zero) let BBR run 2 % above the rate it chose, which kept a
    /// standing queue (`lrp2p-sim sweep lossy --cc bbr`: RTT p50 69 ms on a 40 ms path).
    pub fn on_sent(&mut self, bytes: u64) {
        self.tokens = (self.tokens - bytes as f64).max(-(self.capacity as f64));
    }
}

/// Bytes per second, or `None` when pacing is off (no window or no RTT).
fn rate(window: u64, srtt: Duration) -> Option<f64> {
    let srtt = srtt.as_secs_f64();
    if window == 0 || srtt <= 0.0 {
        return None;
    }
    // RFC 9002 §7.7: rate = N * congestion_window / smoothed_rtt.
    Some(PACING_GAIN * window as f64 / srtt)
}

/// The bucket size in bytes at `rate` bytes per second: see the module documentation.
fn capacity(mss: u64, window: u64, rate: f64) -> u64 {
    let mss = mss.max(1);
    let burst = rate * BURST_INTERVAL.as_secs_f64();
    let burst = f64_to_u64(burst)
        .max(mss.saturating_mul(MIN_BURST_PACKETS))
        .min(mss.saturating_mul(MAX_BURST_PACKETS));
    burst.min(window).max(mss.saturating_mul(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u64 = 1200;
    const WINDOW: u64 = 100 * MSS;
    const SRTT: Duration = Duration::from_millis(100);

    // An `Instant` can only be had from the clock; only differences from it matter here.
    #[allow(clippy::disallowed_methods)]
    fn origin() -> Instant {
        Instant::now()
    }

    /// Sends packets of `MSS` as fast as the pacer allows from `start` until `end`; returns the
    /// send times.
    fn send_until(pacer: &mut Pacer, start: Instant, end: Instant) -> Vec<Instant> {
        let mut sent = Vec::new();
        let mut now = start;
        while now < end {
            match pacer.delay(now, MSS, MSS, WINDOW, SRTT) {
                None => {
                    pacer.on_sent(MSS);
                    sent.push(now);
                }
                Some(at) => {
                    assert!(at > now, "a delay lies in the future");
                    now = at;
                }
            }
        }
        sent
    }

    /// Sends for 5 s at the controller's `rate`, asking about packets of `MSS` and charging
    /// `charged` bytes for each; returns the pacer and the bytes charged.
    fn send_at_rate(rate: u64, charged: u64) -> (Pacer, u64) {
        let t0 = origin();
        let mut pacer = Pacer::new(t0, MSS, WINDOW, SRTT);
        let (mut now, mut sent) = (t0, 0u64);
        let end = t0 + Duration::from_secs(5);
        while now < end {
            match pacer.delay_at(now, MSS, MSS, WINDOW, SRTT, Some(rate)) {
                None => {
                    pacer.on_sent(charged);
                    sent += charged;
                }
                Some(at) => now = at,
            }
        }
        (pacer, sent)
    }

    #[test]
    fn burst_up_to_capacity_then_spaced_at_the_rate() {
        let t0 = origin();
        let mut pacer = Pacer::new(t0, MSS, WINDOW, SRTT);
        // rate = 1.25 * 120000 B / 0.1 s = 1.5 MB/s; 2 ms of it is 3000 B < 10 packets.
        assert_eq!(pacer.capacity, MIN_BURST_PACKETS * MSS);
        let sent = send_until(&mut pacer, t0, t0 + Duration::from_millis(20));
        let burst = sent.iter().take_while(|&&t| t == t0).count();
        assert_eq!(burst as u64, MIN_BURST_PACKETS);
        // Then one packet per MSS / rate = 800 us.
        for pair in sent[burst..].windows(2) {
            let gap = pair[1] - pair[0];
            let expected = Duration::from_micros(800);
            assert!(gap.abs_diff(expected) < Duration::from_micros(2), "{gap:?}");
        }
    }

    #[test]
    fn long_run_rate_matches_within_five_percent() {
        let t0 = origin();
        let mut pacer = Pacer::new(t0, MSS, WINDOW, SRTT);
        let secs = 10;
        let sent = send_until(&mut pacer, t0, t0 + Duration::from_secs(secs));
        let achieved = (sent.len() as u64 * MSS) as f64 / secs as f64;
        let expected = PACING_GAIN * WINDOW as f64 / SRTT.as_secs_f64();
        let error = (achieved - expected).abs() / expected;
        assert!(error < 0.05, "achieved {achieved} B/s, expected {expected} B/s");
    }

    #[test]
    fn idle_time_refills_one_burst_only() {
        let t0 = origin();
        let mut pacer = Pacer::new(t0, MSS, WINDOW, SRTT);
        send_until(&mut pacer, t0, t0 + Duration::from_millis(50));
        let later = t0 + Duration::from_secs(10);
        let sent = send_until(&mut pacer, later, later + Duration::from_micros(1));
        assert_eq!(sent.len() as u64, MIN_BURST_PACKETS);
    }

    #[test]
    fn capacity_is_bounded_by_the_window_and_two_mss() {
        let cap = |mss, window, srtt| capacity(mss, window, rate(window, srtt).unwrap_or(0.0));
        assert_eq!(cap(MSS, 3 * MSS, SRTT), 3 * MSS);
        assert_eq!(cap(MSS, 2 * MSS, SRTT), 2 * MSS);
        // At a high rate, 2 ms of it, up to 256 packets.
        let fast = cap(MSS, 10_000 * MSS, Duration::from_millis(10));
        assert_eq!(fast, MAX_BURST_PACKETS * MSS);
        let medium = cap(MSS, 1000 * MSS, Duration::from_millis(100));
        assert_eq!(medium, 25 * MSS);
    }

    #[test]
    fn an_oversized_packet_leaves_once_the_bucket_is_full() {
        let t0 = origin();
        let window = 2 * MSS;
        let mut pacer = Pacer::new(t0, MSS, window, SRTT);
        pacer.on_sent(window);
        let at = pacer.delay(t0, 5 * MSS, MSS, window, SRTT).unwrap();
        assert_eq!(pacer.delay(at, 5 * MSS, MSS, window, SRTT), None);
    }

    #[test]
    fn a_packet_dearer_than_asked_about_is_paid_for_by_the_next() {
        let rate = 1_200_000; // B/s
        let charged = MSS + MSS / 10; // asked about MSS, charged 10 % more
        let (pacer, sent) = send_at_rate(rate, charged);
        // The first burst is free; after it the charged bytes follow the rate (within 1 %; a
        // bucket that forgave the difference ran 10 % fast).
        let achieved = (sent - pacer.capacity) as f64 / 5.0;
        assert!((achieved - rate as f64).abs() / (rate as f64) < 0.01, "{achieved} B/s");
    }

    #[test]
    fn a_controller_rate_replaces_the_window_rate() {
        let rate = 600_000; // B/s: 2 ms of it is 1 packet, so the burst is 10 packets
        let (_, sent) = send_at_rate(rate, MSS);
        let achieved = sent as f64 / 5.0;
        assert!((achieved - rate as f64).abs() / (rate as f64) < 0.05, "{achieved} B/s");
    }

    #[test]
    fn degenerate_inputs_disable_pacing_without_panicking() {
        let t0 = origin();
        let mut pacer = Pacer::new(t0, 0, 0, Duration::ZERO);
        assert_eq!(pacer.delay(t0, MSS, MSS, 0, SRTT), None);
        assert_eq!(pacer.delay(t0, MSS, MSS, WINDOW, Duration::ZERO), None);
        pacer.on_sent(u64::MAX);
        let huge = pacer.delay(t0, u64::MAX, u64::MAX, u64::MAX, Duration::from_nanos(1));
        assert!(huge.is_none() || huge.unwrap() >= t0);
        let slow = pacer.delay(t0, MSS, MSS, 2 * MSS, Duration::MAX);
        assert!(slow.is_some());
    }
}
