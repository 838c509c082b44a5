//! Tests of the CUBIC controller: RFC 9438 shapes, recovery, and ten lossless days.
use super::*;
use crate::congestion::testing::{ack, lost};

const MSS: u64 = 1000;
const RTT: Duration = Duration::from_millis(100);

/// A time far enough from the clock's origin that `now - RTT` never underflows.
// An `Instant` can only be had from the clock; only differences from it matter here.
#[allow(clippy::disallowed_methods)]
fn origin() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}

fn rtt() -> RttEstimator {
    let mut rtt = RttEstimator::default();
    rtt.update(RTT, Duration::ZERO);
    rtt
}

fn cubic(initial_segments: u64) -> Cubic {
    let config = CubicConfig { initial_window: Some(initial_segments * MSS), ..CubicConfig::default() };
    Cubic::new(&config, MSS)
}

/// One round trip of ack clocking: every packet of the window is acknowledged one RTT after
/// it was sent, the acknowledgements spread evenly over the round. Returns the round's end.
fn round(cc: &mut Cubic, rtt: &RttEstimator, start: Instant) -> Instant {
    let packets = (cc.window() / MSS).max(1);
    for i in 0..packets {
        let now = start + RTT.mul_f64(i as f64 / packets as f64);
        cc.on_ack(&ack(now, now - RTT, MSS, rtt, false));
    }
    start + RTT
}

/// Takes `cc` from slow start at `segments` to congestion avoidance through one loss at
/// `now`, then lets the recovery round pass. Returns the time recovery ended.
fn lose_once(cc: &mut Cubic, rtt: &RttEstimator, now: Instant) -> Instant {
    cc.on_lost(&lost(now, now - RTT / 2, MSS));
    // Acknowledgements of packets sent before the loss was detected do not count.
    let before = cc.window();
    let end = round(cc, rtt, now);
    assert_eq!(cc.window(), before, "no growth during recovery");
    end
}

#[test]
fn initial_window_follows_rfc9002() {
    let iw = |mss| Cubic::new(&CubicConfig::default(), mss).window();
    assert_eq!(iw(1200), 12_000);
    assert_eq!(iw(1460), 14_600);
    assert_eq!(iw(1500), 14_720);
    assert_eq!(iw(100), 1000);
    let tiny = CubicConfig { initial_window: Some(1), ..CubicConfig::default() };
    assert_eq!(Cubic::new(&tiny, 1400).window(), 2800, "at least 2 MSS");
    let zero_mss = Cubic::new(&CubicConfig::default(), 0);
    assert!(zero_mss.window() >= 2);
}

#[test]
fn slow_start_doubles_per_rtt() {
    let rtt = rtt();
    let mut cc = cubic(10);
    let mut now = origin();
    for expected in [20, 40, 80, 160, 320] {
        assert!(cc.in_slow_start());
        now = round(&mut cc, &rtt, now);
        assert_eq!(cc.window(), expected * MSS);
    }
    // Application-limited acknowledgements say nothing about capacity (RFC 7661).
    cc.on_ack(&ack(now, now - RTT, MSS, &rtt, true));
    assert_eq!(cc.window(), 320 * MSS);
}

#[test]
fn loss_reduces_window_to_seven_tenths_once_per_window() {
    let rtt = rtt();
    let mut cc = cubic(100);
    let t0 = origin();
    cc.on_lost(&lost(t0, t0 - RTT, MSS));
    assert_eq!(cc.window(), 70 * MSS);
    assert_eq!(cc.ssthresh(), 70 * MSS);
    assert!(!cc.in_slow_start());
    // More losses from the same window: the same congestion event.
    let later = t0 + RTT / 2;
    cc.on_lost(&lost(later, t0 - RTT / 2, MSS));
    cc.on_lost(&lost(later, t0, MSS));
    assert_eq!(cc.window(), 70 * MSS);
    // A loss of a packet sent after the reduction is a new event.
    cc.on_lost(&lost(later, t0 + RTT / 4, MSS));
    assert_eq!(cc.window(), 49 * MSS);
    // Never below 2 MSS.
    for i in 1..20u32 {
        let at = later + RTT * i;
        cc.on_lost(&lost(at, at - Duration::from_millis(1), MSS));
    }
    assert_eq!(cc.window(), 2 * MSS);
    let _ = rtt;
}

#[test]
fn k_follows_eq2_and_the_window_returns_to_w_max_at_k() {
    let rtt = rtt();
    let mut cc = cubic(1000);
    let mut now = lose_once(&mut cc, &rtt, origin());
    assert_eq!(cc.window(), 700 * MSS);
    // The first acknowledgement after recovery starts the epoch.
    now = round(&mut cc, &rtt, now);
    let k = cc.k;
    let expected_k = (300.0_f64 / 0.4).cbrt();
    assert!((k - expected_k).abs() < 1e-9, "K = {k}, expected {expected_k}");
    assert_eq!(cc.w_max, Some(1000.0));
    let epoch = cc.epoch_start.unwrap();

    // Sample the window once per round until 2K.
    let mut samples = Vec::new();
    while now.duration_since(epoch).as_secs_f64() < 2.0 * k {
        now = round(&mut cc, &rtt, now);
        samples.push((now.duration_since(epoch).as_secs_f64(), cc.segments(cc.window())));
    }
    let at = |t: f64| samples.iter().find(|(s, _)| *s >= t).unwrap().1;
    // At t = K the window is back at W_max (the target looks one RTT ahead: a hair above).
    let at_k = at(k);
    assert!((at_k - 1000.0).abs() < 15.0, "window at K = {at_k}");
    // Concave before K: above the chord from (0, 700) to (K, 1000), growth slowing down.
    let half = at(k / 2.0);
    assert!(half > 850.0 && half < 1000.0, "window at K/2 = {half}");
    let growth = |t: f64| at(t + 1.0) - at(t);
    assert!(growth(1.0) > growth(k - 2.0), "concave: growth slows towards W_max");
    // Convex after K: growth speeds up again.
    assert!(growth(k + 2.0) > growth(k), "convex: growth accelerates beyond W_max");
    assert!(at(2.0 * k - 0.5) > 1000.0);
}

#[test]
fn reno_friendly_region_dominates_at_short_rtt_and_small_windows() {
    // W_max = 20 segments: K = cbrt(6/0.4) = 2.47 s, but at a 1 ms RTT W_est gains
    // alpha_cubic per round and outruns the cubic curve within a few rounds.
    let mut rtt = RttEstimator::default();
    rtt.update(Duration::from_millis(1), Duration::ZERO);
    let mut cc = cubic(20);
    let t0 = origin();
    cc.on_lost(&lost(t0, t0 - Duration::from_millis(1), MSS));
    let mut now = t0 + Duration::from_millis(1);
    for _ in 0..20 {
        let packets = cc.window() / MSS;
        for i in 0..packets {
            let at = now + Duration::from_micros(1000 * i / packets);
            cc.on_ack(&ack(at, at - Duration::from_micros(900), MSS, &rtt, false));
        }
        now += Duration::from_millis(1);
    }
    let t = now.duration_since(cc.epoch_start.unwrap()).as_secs_f64();
    assert!(cc.w_cubic(t) < cc.w_est, "in the Reno-friendly region");
    // Reno's arithmetic per round: alpha_cubic per RTT until W_est reaches cwnd_prior (20),
    // then one segment per RTT.
    let mut reno = 14.0;
    for _ in 0..20 {
        reno += if reno >= 20.0 { 1.0 } else { ALPHA_CUBIC };
    }
    let segments = cc.segments(cc.window());
    assert!((segments - reno).abs() < 1.0, "{segments} vs {reno}");
}

#[test]
fn fast_convergence_lowers_w_max_when_the_saturation_point_drops() {
    for (fast_convergence, w_max) in [(true, 700.0 * 0.85), (false, 700.0)] {
        let config =
            CubicConfig { initial_window: Some(1000 * MSS), fast_convergence, ..CubicConfig::default() };
        let mut cc = Cubic::new(&config, MSS);
        let t0 = origin();
        cc.on_lost(&lost(t0, t0 - RTT, MSS));
        assert_eq!(cc.w_max, Some(1000.0));
        // A second event below the first W_max.
        let t1 = t0 + RTT * 2;
        cc.on_lost(&lost(t1, t0 + RTT, MSS));
        assert_eq!(cc.window(), 490 * MSS);
        let got = cc.w_max.unwrap();
        assert!((got - w_max).abs() < 1e-9, "fc={fast_convergence}: {got}");
        // K then measures the climb from 490 back to the lowered W_max.
        cc.on_ack(&ack(t1 + RTT, t1 + RTT / 2, MSS, &rtt(), false));
        let expected_k = ((w_max - 490.0) / C).cbrt();
        assert!((cc.k - expected_k).abs() < 1e-9);
    }
}

#[test]
fn timeout_collapses_to_the_loss_window_and_holds_ssthresh() {
    let rtt = rtt();
    let mut cc = cubic(100);
    let t0 = origin();
    cc.on_retransmission_timeout(t0);
    assert_eq!(cc.window(), 2 * MSS);
    assert_eq!(cc.ssthresh(), 70 * MSS);
    assert!(cc.in_slow_start());
    // The retransmission times out again: ssthresh stays (RFC 5681 §3.1).
    cc.on_retransmission_timeout(t0 + Duration::from_secs(1));
    assert_eq!(cc.ssthresh(), 70 * MSS);
    // Slow start back up to ssthresh, then congestion avoidance with K = 0, W_max = cwnd.
    let mut now = t0 + Duration::from_secs(1);
    while cc.in_slow_start() {
        now = round(&mut cc, &rtt, now);
    }
    // Slow start stopped at ssthresh, where the epoch began.
    assert_eq!(cc.k, 0.0);
    assert_eq!(cc.w_max, Some(70.0));
    assert!(cc.window() > 70 * MSS);
    // A later timeout, after new data was acknowledged, sets ssthresh afresh.
    cc.on_retransmission_timeout(now + Duration::from_secs(5));
    assert!(cc.ssthresh() > 49 * MSS && cc.ssthresh() < 70 * MSS);
}

#[test]
fn application_limited_and_idle_time_do_not_count_towards_t() {
    let rtt = rtt();
    let mut cc = cubic(1000);
    let mut now = lose_once(&mut cc, &rtt, origin());
    for _ in 0..20 {
        now = round(&mut cc, &rtt, now);
    }
    let twin_start = cc.clone();

    // An hour of application-limited acknowledgements: no growth at all.
    let mut limited = cc.clone();
    let window = limited.window();
    let mut at = now;
    for _ in 0..3600 {
        at += Duration::from_secs(1);
        limited.on_ack(&ack(at, at - RTT, MSS, &rtt, true));
        assert_eq!(limited.window(), window);
    }
    // An hour without any acknowledgement.
    let mut idle = cc.clone();
    let resumed = now + Duration::from_secs(3600);

    // Resuming must look like no time had passed, not like an hour on the cubic curve.
    let mut twin = twin_start;
    round(&mut twin, &rtt, now);
    round(&mut limited, &rtt, at + RTT);
    round(&mut idle, &rtt, resumed);
    for (name, cc) in [("app-limited", &limited), ("idle", &idle)] {
        let (a, b) = (cc.window() as f64, twin.window() as f64);
        assert!((a - b).abs() / b < 0.01, "{name}: {a} vs {b} without the pause");
    }
}

/// Ten simulated days of lossless acknowledgements at a steady rate: the window only ever
/// grows, stays within its bounds, and the internal state stays finite. Returns the final
/// window.
fn ten_lossless_days(max_window: u64, mss: u64) -> u64 {
    let config = CubicConfig { max_window, ..CubicConfig::default() };
    let mut cc = Cubic::new(&config, mss);
    let rtt = rtt();
    let t0 = origin();
    cc.on_lost(&lost(t0, t0 - RTT, mss));
    let step = Duration::from_millis(100);
    let steps = 10 * 24 * 3600 * 10;
    let mut now = t0;
    let mut previous = cc.window();
    for _ in 0..steps {
        now += step;
        cc.on_ack(&ack(now, now - RTT / 2, 10 * mss, &rtt, false));
        let window = cc.window();
        assert!(window >= previous, "monotone");
        assert!(window <= max_window, "bounded");
        previous = window;
    }
    for x in [cc.k, cc.w_est, cc.w_max.unwrap(), cc.carry, cc.cwnd_prior] {
        assert!(x.is_finite(), "{cc:?}");
    }
    let t = now.duration_since(cc.epoch_start.unwrap()).as_secs_f64();
    assert!(cc.w_cubic(t).is_finite() && cc.w_cubic(t + 1e12).is_finite());
    previous
}

#[test]
fn ten_lossless_days_stay_finite_bounded_and_monotone() {
    // A configured ceiling is reached and held.
    assert_eq!(ten_lossless_days(1 << 30, 1400), 1 << 30);
    // Without one (and one-byte segments, the most segments per byte), nothing overflows:
    // growth is at most half a segment per acknowledged segment, so the window grows
    // linearly once the target is clamped at 1.5 * cwnd.
    assert!(ten_lossless_days(u64::MAX, 1) > 1_000_000);
}
