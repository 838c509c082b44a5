//! BBR on the testbed's simulated path (deterministic, virtual time): the state machine on a
//! clean link, ProbeRTT's timing, the bandwidth filter's memory, the response to random loss
//! below `BBR.LossThresh` and above it on a path without a queue, to losses behind a queue;
//! and extreme inputs fed to the controller directly.

use std::time::{Duration, Instant};

use super::model::INFINITE;
use super::testbed::{MSS, Path, Testbed};
use super::*;
use crate::congestion::{Algorithm, RttEstimator};

const SECOND: Duration = Duration::from_secs(1);

/// A time far enough from the clock's origin that `now - x` never underflows.
// An `Instant` can only be had from the clock; only differences from it matter here.
#[allow(clippy::disallowed_methods)]
fn origin() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}

/// Whether `from → to` is an edge of the state transition diagram (§5.1.1), as seen after
/// each ACK: DOWN may end on the ACK that began it (the queue is already drained), so
/// Drain → CRUISE and UP → CRUISE show too; DOWN → REFILL when it is time to probe; any state
/// → ProbeRTT, and ProbeRTT → CRUISE (through DOWN) or Startup.
fn is_edge(from: BbrState, to: BbrState) -> bool {
    use BbrState::*;
    matches!(
        (from, to),
        (Startup, Drain)
            | (Drain, ProbeBwDown)
            | (Drain, ProbeBwCruise)
            | (ProbeBwUp, ProbeBwCruise)
            | (ProbeBwDown, ProbeBwCruise)
            | (ProbeBwDown, ProbeBwRefill)
            | (ProbeBwCruise, ProbeBwRefill)
            | (ProbeBwRefill, ProbeBwUp)
            | (ProbeBwUp, ProbeBwDown)
            | (_, ProbeRtt)
            | (ProbeRtt, ProbeBwCruise)
            | (ProbeRtt, Startup)
    )
}

fn states(bed: &Testbed) -> Vec<BbrState> {
    bed.transitions.iter().map(|&(_, s)| s).collect()
}

/// How long each visit to `state` lasted.
fn time_in(bed: &Testbed, state: BbrState) -> Vec<Duration> {
    bed.transitions.windows(2).filter(|w| w[0].1 == state).map(|w| w[1].0 - w[0].0).collect()
}

/// How many times the sequence CRUISE, REFILL, UP, DOWN appears in `states`.
fn full_cycles(states: &[BbrState]) -> usize {
    use BbrState::*;
    states.windows(4).filter(|w| w == &[ProbeBwCruise, ProbeBwRefill, ProbeBwUp, ProbeBwDown]).count()
}

#[test]
fn a_clean_link_goes_from_startup_through_drain_to_cycling_probe_bw() {
    let path = Path::new(20, 40, 1.0, 0.0);
    let mut bed = Testbed::new(origin(), path, 1);
    bed.run_until(12 * SECOND);
    let seq = states(&bed);
    assert_eq!(&seq[..2], &[BbrState::Startup, BbrState::Drain], "{seq:?}");
    assert!(seq[2].is_probe_bw(), "{seq:?}");
    for pair in seq.windows(2) {
        assert!(is_edge(pair[0], pair[1]), "{:?} -> {:?} in {seq:?}", pair[0], pair[1]);
    }
    assert!(full_cycles(&seq) >= 2, "CRUISE, REFILL, UP, DOWN twice: {seq:?}");
    assert!(seq.windows(2).any(|w| w == [BbrState::ProbeBwDown, BbrState::ProbeBwCruise]), "{seq:?}");
    // Startup finds the bandwidth in O(log2(BDP)) rounds: 2 Mbit of BDP from 10 packets is 6
    // doublings, plus 3 rounds to see the plateau.
    let drain_at = bed.transitions[1].0;
    assert!(drain_at < path.rtt * 14, "Startup took {drain_at:?}");
    // The estimate is the link, and the link is used.
    let max_bw = bed.cc.max_bw();
    assert!(max_bw.abs_diff(path.rate) < path.rate / 20, "max_bw {max_bw} vs {}", path.rate);
    let efficiency = bed.delivered() as f64 / (path.rate as f64 * 12.0);
    assert!(efficiency > 0.9, "efficiency {efficiency}");
    assert_eq!(bed.timeouts, 0);
    // No lasting queue: after Startup, cwnd stays near 2 BDP + aggregation.
    let late = bed.snapshots.iter().filter(|s| s.at > 2 * SECOND);
    assert!(late.clone().all(|s| s.cwnd <= 3 * path.bdp()), "cwnd beyond 3 BDP");
}

#[test]
fn probe_rtt_comes_after_five_seconds_without_a_lower_rtt_and_lasts_200_ms_and_a_round() {
    let path = Path::new(20, 40, 1.0, 0.0);
    let mut bed = Testbed::new(origin(), path, 2);
    // The propagation delay grows by 2 ms per second from 0.5 s on (a route getting longer):
    // no sample after the first ones comes near the minimum again.
    let step = Duration::from_millis(100);
    let mut t = Duration::from_millis(500);
    bed.run_until(t);
    while t < 13 * SECOND {
        bed.path.rtt += Duration::from_micros(200);
        t += step;
        bed.run_until(t);
    }
    let path = bed.path;
    let probe_rtts: Vec<(Duration, Duration)> = bed
        .transitions
        .windows(2)
        .filter(|w| w[0].1 == BbrState::ProbeRtt)
        .map(|w| (w[0].0, w[1].0))
        .collect();
    assert!(probe_rtts.len() >= 2, "{:?}", bed.transitions);
    // The path's RTT was last this low in the first second: the first ProbeRTT follows 5 s
    // after that.
    let (enter, exit) = probe_rtts[0];
    // (Samples stay within 1/64 of the minimum, 0.6 ms, for 0.3 s more.)
    assert!(enter >= 5 * SECOND && enter < 6 * SECOND + 3 * path.rtt, "entered at {enter:?}");
    let stay = exit - enter;
    assert!(stay >= Duration::from_millis(200) + path.rtt / 2, "left after {stay:?}");
    assert!(stay < Duration::from_millis(200) + 4 * path.rtt, "left after {stay:?}");
    // It left for CRUISE (the pipe was full before) and came back 5 s after leaving.
    let after = bed.transitions.iter().find(|&&(t, _)| t == exit).map(|&(_, s)| s);
    assert_eq!(after, Some(BbrState::ProbeBwCruise));
    let next = probe_rtts[1].0 - exit;
    assert!(next >= 5 * SECOND && next < 5 * SECOND + SECOND, "next after {next:?}");
    // While in ProbeRTT, cwnd is half a BDP.
    let cwnd = bed.snapshots.iter().filter(|s| s.state == BbrState::ProbeRtt).map(|s| s.cwnd).max();
    let half = path.bdp() / 2;
    assert!(cwnd.is_some_and(|c| c <= half + half / 10), "{cwnd:?} vs {half}");
}

#[test]
fn a_probe_that_finds_no_bandwidth_ends_before_a_deep_buffer_fills() {
    // A 10-BDP buffer never drops: by draft-06 UP lasts until three rounds pass without 25 %
    // more bandwidth, queueing ~0.9 BDP each time. It ends once 1.5 round trips brought a
    // quarter BDP of queue and no higher delivery rate.
    let path = Path::new(100, 40, 10.0, 0.0);
    let mut bed = Testbed::new(origin(), path, 9);
    bed.run_until(12 * SECOND);
    let ups = time_in(&bed, BbrState::ProbeBwUp);
    assert!(ups.len() >= 3, "{:?}", bed.transitions);
    assert!(ups.iter().all(|&d| d < 2 * path.rtt), "{ups:?}");
}

#[test]
fn a_path_that_keeps_showing_its_minimum_rtt_needs_no_probe_rtt() {
    // No queue in CRUISE and no jitter: every round has samples at the minimum (within
    // 1/64), so the 5 s ProbeRTT filter never expires (draft-06 refreshes it only on a
    // strictly lower sample and would halve the window every 5 s).
    let path = Path::new(20, 40, 1.0, 0.0);
    let mut bed = Testbed::new(origin(), path, 2);
    bed.run_until(13 * SECOND);
    assert!(!states(&bed).contains(&BbrState::ProbeRtt), "{:?}", bed.transitions);
    assert!(full_cycles(&states(&bed)) >= 3, "{:?}", bed.transitions);
}

#[test]
fn the_bandwidth_filter_forgets_an_old_maximum_within_two_probe_bw_cycles() {
    let path = Path::new(40, 40, 1.0, 0.0);
    let mut bed = Testbed::new(origin(), path, 3);
    bed.run_until(6 * SECOND);
    let old = bed.cc.max_bw();
    assert!(old.abs_diff(path.rate) < path.rate / 20, "max_bw {old} vs {}", path.rate);
    // Midway through a cycle (CRUISE, the queue drained) the link slows to half: the filter
    // must forget the old rate once two cycles have ended since.
    let mut t = 6 * SECOND;
    while bed.cc.state() != BbrState::ProbeBwCruise {
        t += Duration::from_millis(10);
        bed.run_until(t);
    }
    let drop = t + Duration::from_millis(200);
    bed.run_until(drop);
    bed.path.rate /= 2;
    let cycles_at_drop = bed.cc.model.cycle_count();
    bed.run_until(drop + 12 * SECOND);
    let after_two = bed.snapshots.iter().find(|s| s.cycle_count >= cycles_at_drop + 2).copied();
    let Some(after_two) = after_two else { panic!("fewer than two cycles: {:?}", bed.transitions) };
    // A cycle is at most 3 s of waiting, a probe, and maybe a ProbeRTT.
    assert!(after_two.at < drop + 8 * SECOND, "two cycles took until {:?}", after_two.at);
    let new = bed.path.rate;
    assert!(after_two.max_bw < new + new / 5, "max_bw {} vs the new {new}", after_two.max_bw);
    assert!(bed.cc.max_bw() < new + new / 5 && bed.cc.max_bw() > new - new / 5);
}

#[test]
fn random_loss_below_the_threshold_does_not_cut_inflight_longterm() {
    // 0.5 % random loss on a 357-packet BDP, with a buffer deep enough that probing never
    // overflows it: about 2 losses per round, against a threshold of 7.
    let path = Path::new(100, 40, 4.0, 0.005);
    let mut bed = Testbed::new(origin(), path, 4);
    bed.run_until(15 * SECOND);
    let seq = states(&bed);
    let probes = seq.iter().filter(|&&s| s == BbrState::ProbeBwUp).count();
    assert!(probes >= 3, "{seq:?}");
    assert!(bed.snapshots.iter().all(|s| s.inflight_longterm == INFINITE), "inflight_longterm was cut");
    // Between probes the short-term model follows the delivery rate down, a little per round
    // with losses (§5.5.10.3, §5.3.3.8.3's (1 - loss)^N); each REFILL starts afresh.
    let efficiency = bed.delivered() as f64 / (path.rate as f64 * 15.0);
    assert!(efficiency > 0.8, "efficiency {efficiency}");
}

#[test]
fn loss_above_the_threshold_cuts_inflight_longterm_and_ends_probes() {
    // Losses behind a queue: a buffer of a tenth of a BDP (4 ms) overflows at each probe.
    let path = Path::new(100, 40, 0.1, 0.0);
    let mut bed = Testbed::new(origin(), path, 5);
    bed.run_until(15 * SECOND);
    let longterm = bed.cc.inflight_longterm();
    assert!(longterm < INFINITE, "5 % loss left inflight_longterm unset");
    assert!(bed.cc.probe.prev_probe_too_high || bed.cc.state() == BbrState::ProbeRtt);
    // Cut, but not below Beta times the BDP it can still see.
    assert!(longterm >= 4 * MSS, "{longterm}");
    // Probes ended by loss leave UP before the bandwidth plateau's three rounds.
    let ups = time_in(&bed, BbrState::ProbeBwUp);
    assert!(!ups.is_empty());
    assert!(ups.iter().any(|&d| d < 3 * path.rtt), "{ups:?}");
}

#[test]
fn random_loss_above_the_threshold_on_a_path_without_a_queue_keeps_most_of_the_link() {
    // 3 % random loss, above BBR.LossThresh (2 %): by the draft every probe ends at once and
    // inflight_longterm stays where Startup left it. The RTT never rises, so the losses are
    // noise (`random_loss.rs`): the tolerated rate rises to match and probes succeed.
    let path = Path::new(100, 40, 1.0, 0.03);
    let mut bed = Testbed::new(origin(), path, 6);
    bed.run_until(15 * SECOND);
    let efficiency = bed.delivered() as f64 / (path.rate as f64 * 15.0);
    assert!(efficiency > 0.85, "efficiency {efficiency} (0.78 with the draft's threshold)");
    let noise = bed.cc.loss.random.allowance(1 << 40);
    assert!((0.02..0.04).contains(&noise), "noise {noise}");
}

#[test]
fn losses_behind_a_queue_still_cut_the_short_term_bandwidth() {
    // The link halves in CRUISE: BBR paces at the old rate into a quarter-BDP buffer, the
    // queue fills and overflows, and those losses (behind a queue) are congestion.
    let path = Path::new(100, 40, 0.25, 0.0);
    let mut bed = Testbed::new(origin(), path, 7);
    let mut t = 3 * SECOND;
    bed.run_until(t);
    while bed.cc.state() != BbrState::ProbeBwCruise {
        t += Duration::from_millis(10);
        bed.run_until(t);
    }
    let old = bed.cc.model.bw;
    bed.path.rate /= 2;
    bed.run_until(t + SECOND);
    assert!(bed.cc.loss.random.allowance(1 << 40) < 0.001, "overflow counted as noise");
    let cut = bed.cc.model.bw_shortterm;
    assert!(cut < old * 3 / 4, "bw_shortterm {cut} after the rate fell from {old}");
}

#[test]
fn startup_ends_on_a_round_that_met_a_queue_before_a_deep_buffer_holds_a_bdp() {
    // A 10-BDP buffer never overflows in Startup: only the plateau rule (three rounds without
    // 25 % growth) would end it, with a BDP queued (cwnd_gain 2). A round whose every RTT
    // sample met a queue ends it earlier.
    let path = Path::new(100, 40, 10.0, 0.0);
    let mut bed = Testbed::new(origin(), path, 8);
    bed.run_until(2 * SECOND);
    let drain = bed.transitions.iter().find(|&&(_, s)| s == BbrState::Drain).map(|&(t, _)| t);
    // (571 ms by the plateau rule alone.)
    assert!(drain.is_some_and(|t| t < Duration::from_millis(450)), "Drain began at {drain:?}");
}

#[test]
fn a_spurious_loss_recovery_restores_the_probe_it_ended() {
    let path = Path::new(100, 40, 0.1, 0.0);
    let mut bed = Testbed::new(origin(), path, 6);
    // Step until a probe is ended by losses.
    let mut step = SECOND;
    while bed.cc.loss.undo.state != Some(BbrState::ProbeBwUp) {
        step += Duration::from_millis(1);
        bed.run_until(step);
        assert!(step < 30 * SECOND, "no probe ended by loss: {:?}", bed.transitions);
    }
    assert_eq!(bed.cc.state(), BbrState::ProbeBwDown);
    let saved = bed.cc.loss.undo.inflight_longterm;
    bed.cc.on_spurious_congestion(origin() + step);
    assert_eq!(bed.cc.state(), BbrState::ProbeBwRefill, "back to probing");
    assert!(bed.cc.inflight_longterm() >= saved);
    assert_eq!(bed.cc.loss.undo.state, None);
}

#[test]
fn a_timeout_cuts_cwnd_to_one_packet_and_recovery_restores_it() {
    let path = Path::new(20, 40, 1.0, 0.0);
    let t0 = origin();
    let mut bed = Testbed::new(t0, path, 7);
    bed.run_until(3 * SECOND);
    let before = bed.cc.window();
    bed.cc.on_retransmission_timeout(t0 + 3 * SECOND);
    assert_eq!(bed.cc.window(), MSS);
    // The packets in flight are still acknowledged (the timeout was spurious, say); once a
    // packet sent after it is, cwnd is back (as the model bounds it).
    bed.run_until(4 * SECOND);
    assert!(bed.cc.window() >= before / 2, "{} vs {before}", bed.cc.window());
}

#[test]
fn algorithms_are_named_and_parsed() {
    assert_eq!("bbr".parse::<Algorithm>(), Ok(Algorithm::Bbr));
    assert_eq!("CUBIC".parse::<Algorithm>(), Ok(Algorithm::Cubic));
    assert!("reno".parse::<Algorithm>().is_err());
    for algorithm in Algorithm::ALL {
        assert_eq!(algorithm.to_string().parse::<Algorithm>(), Ok(algorithm));
        let cc = algorithm.factory().build(origin(), 1400);
        assert_eq!(cc.name(), algorithm.name());
    }
    assert_eq!(Algorithm::default(), Algorithm::Cubic);
    let bbr = Algorithm::Bbr.factory().build(origin(), 1400);
    assert!(bbr.in_slow_start() && bbr.pacing_rate().is_some());
}

#[test]
fn extreme_inputs_neither_panic_nor_overflow() {
    let t0 = origin();
    for mss in [0, 1, 1400, u64::MAX] {
        let mut cc = Bbr::new(&BbrConfig { initial_window: Some(u64::MAX), ..BbrConfig::default() }, t0, mss);
        let mut rtt = RttEstimator::default();
        for (i, &(sample, rate, bytes)) in [
            (Duration::ZERO, 0, 0),
            (Duration::ZERO, u64::MAX, u64::MAX),
            (Duration::MAX / 4, 1, 1),
            (Duration::from_nanos(1), u64::MAX, u64::MAX / 2),
            (Duration::from_secs(1_000_000), u64::MAX, u64::MAX),
        ]
        .iter()
        .enumerate()
        {
            let now = t0 + Duration::from_secs(10 * i as u64);
            rtt.update(sample, Duration::ZERO);
            cc.on_sent(&SentPacket { now, bytes, prior_in_flight: u64::MAX, app_limited: i % 2 == 0 });
            cc.on_lost(&LostPacket {
                now,
                sent: t0,
                bytes,
                tx_in_flight: bytes,
                lost_since_sent: u64::MAX,
                is_app_limited: false,
            });
            let sample = RateSample {
                delivered: bytes,
                interval: sample,
                delivery_rate: rate,
                prior_delivered: u64::MAX,
                is_app_limited: false,
                tx_in_flight: u64::MAX,
                lost: u64::MAX,
                rtt: sample,
            };
            cc.on_ack(&Ack {
                now,
                acked_bytes: bytes.max(1),
                lost_bytes: bytes,
                largest_acked_sent: Some(now),
                bytes_in_flight: u64::MAX,
                delivered: u64::MAX,
                app_limited: false,
                rate: Some(sample),
                rtt: &rtt,
            });
            cc.on_retransmission_timeout(now);
            cc.on_spurious_congestion(now);
            assert!(cc.window() >= 1);
            assert!(cc.pacing_rate().is_some_and(|r| r >= 1));
        }
    }
    // A ten-year lossless ACK clock keeps the controller sane.
    let mut cc = Bbr::new(&BbrConfig::default(), t0, MSS);
    let mut rtt = RttEstimator::default();
    rtt.update(Duration::from_millis(10), Duration::ZERO);
    let mut delivered = 0u64;
    for day in 0..3650u64 {
        let now = t0 + Duration::from_secs(86_400 * day);
        delivered = delivered.wrapping_add(1 << 40);
        let rate = RateSample {
            delivered: 1 << 40,
            interval: Duration::from_secs(86_400),
            delivery_rate: 12_500_000,
            prior_delivered: delivered.wrapping_sub(1 << 40),
            is_app_limited: false,
            tx_in_flight: 125_000,
            lost: 0,
            rtt: Duration::from_millis(10),
        };
        cc.on_sent(&SentPacket { now, bytes: MSS, prior_in_flight: 100_000, app_limited: false });
        cc.on_ack(&Ack {
            now,
            acked_bytes: MSS,
            lost_bytes: 0,
            largest_acked_sent: Some(now),
            bytes_in_flight: 100_000,
            delivered,
            app_limited: false,
            rate: Some(rate),
            rtt: &rtt,
        });
    }
    assert!(cc.window() >= 4 * MSS && cc.window() < 1 << 30, "{}", cc.window());
    assert_eq!(cc.max_bw(), 12_500_000);
}

#[test]
#[ignore]
fn debug_trace() {
    let loss: f64 = std::env::var("LOSS").ok().and_then(|v| v.parse().ok()).unwrap_or(0.005);
    let bdps: f64 = std::env::var("BDPS").ok().and_then(|v| v.parse().ok()).unwrap_or(4.0);
    let path = Path::new(100, 40, bdps, loss);
    let mut bed = Testbed::new(origin(), path, 4);
    let mut last = 0;
    for i in 1..=60 {
        bed.run_until(Duration::from_millis(250 * i));
        let d = bed.delivered() - last;
        last = bed.delivered();
        let cc = &bed.cc;
        eprintln!(
            "{:5.2}s {:>14?} rate {:5.1} Mbit/s bw {:5.1} max_bw {:5.1} bw_st {:>8} pacing {:5.1} cwnd {:4} if_st {:>6} if_lt {:>6} inflight {:4}",
            bed.elapsed().as_secs_f64(),
            cc.state,
            d as f64 * 32.0 / 1e6,
            cc.model.bw as f64 * 8.0 / 1e6,
            cc.model.max_bw as f64 * 8.0 / 1e6,
            if cc.model.bw_shortterm == INFINITE {
                "inf".to_string()
            } else {
                format!("{:.1}", cc.model.bw_shortterm as f64 * 8.0 / 1e6)
            },
            cc.pacing_rate as f64 * 8.0 / 1e6,
            cc.cwnd / MSS,
            if cc.model.inflight_shortterm == INFINITE {
                "inf".to_string()
            } else {
                (cc.model.inflight_shortterm / MSS).to_string()
            },
            if cc.model.inflight_longterm == INFINITE {
                "inf".to_string()
            } else {
                (cc.model.inflight_longterm / MSS).to_string()
            },
            cc.inflight / MSS,
        );
    }
    eprintln!("{:?}", bed.transitions);
}
