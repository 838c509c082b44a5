//! ProbeBW (draft-ietf-ccwg-bbr-06 §5.3.3): the steady state, a cycle of four phases.
//!
//! - DOWN (pacing 0.9) until the queue is drained and, once losses set `inflight_longterm`,
//!   15 % headroom is left below it (§5.3.3.1);
//! - CRUISE (1.0) until it is time to probe: 2–3 s, or sooner on a small BDP, as a Reno flow
//!   would (at most 63 rounds, §5.3.3.8);
//! - REFILL (1.0) for one round, with the short-term bounds dropped (§5.3.3.3);
//! - UP (1.25, cwnd gain 2.25) until the bandwidth stops growing, losses exceed
//!   `BBR.LossThresh`, or, after a probe that went too high, `inflight_longterm` is reached
//!   (§5.3.3.5–§5.3.3.7), while `inflight_longterm` grows by 1, 2, 4, … SMSS per round.
//!
//! The cycle also times the `max_bw` filter: one round after UP ends, the filter advances
//! (§5.5.6), so a maximum is forgotten after two cycles.

use std::time::{Duration, Instant};

use super::model::{INFINITE, scale};
use super::{Bbr, BbrState, Sample};

/// §5.3.3.8.2: T_bbr, the wall-clock wait between probes, is 2 s plus up to 1 s.
const PROBE_WAIT_BASE: Duration = Duration::from_secs(2);

/// §5.3.3.8.3: T_reno is at most 62 or 63 rounds (`rounds_since_probe_up` starts at 0 or 1).
const RENO_ROUNDS_MAX: u64 = 63;

/// §5.3.3.9 RaiseInflightLongtermSlope: growth doubles per round, up to 2^30 SMSS.
const MAX_PROBE_UP_ROUNDS: u32 = 30;

/// §2.8: `BBR.Headroom`, the share of `inflight_longterm` left free in CRUISE.
const HEADROOM: f64 = 0.15;

/// Beyond the draft (see [`Bbr::is_queue_persistent`]): ProbeBW_UP ends after this many rounds
/// in which even the least in flight held a queue ...
const UP_QUEUE_ROUNDS: u32 = 2;

/// ... of a quarter of the BDP (in flight at least 1.25 BDP plus the aggregation allowance) ...
const UP_QUEUE_BDPS: f64 = 1.25;

/// ... unless the probe raised the delivery rate by 15 % or more since UP began.
const UP_GROWTH: f64 = 1.15;

/// `BBR.ack_phase` (§2.14): what the ACKs arriving now say about bandwidth probing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AckPhase {
    /// Not probing; no probe feedback.
    Init,
    /// Sending at the estimated bandwidth to fill the pipe.
    Refilling,
    /// In flight rising to probe.
    ProbeStarting,
    /// Feedback from the probe arriving.
    ProbeFeedback,
    /// The probe stopped; its feedback still arriving.
    ProbeStopping,
}

/// ProbeBW's state (§2.14).
#[derive(Clone, Debug)]
pub(super) struct ProbeBw {
    /// `BBR.ack_phase`.
    pub(super) ack_phase: AckPhase,
    /// `BBR.is_bw_probe_sample`: samples come from a probe (losses may cut
    /// `inflight_longterm`).
    pub(super) is_bw_probe_sample: bool,
    /// `BBR.bw_probe_up_acked`.
    bw_probe_up_acked: u64,
    /// `BBR.probe_up_acked_per_inc`.
    probe_up_acked_per_inc: u64,
    /// `BBR.bw_probe_up_rounds`.
    bw_probe_up_rounds: u32,
    /// `BBR.rounds_since_probe_up`.
    pub(super) rounds_since_probe_up: u64,
    /// `BBR.bw_probe_wait`.
    bw_probe_wait: Duration,
    /// `BBR.cycle_stamp`.
    cycle_stamp: Instant,
    /// `BBR.prev_probe_too_high`.
    pub(super) prev_probe_too_high: bool,
    /// `BBR.prev_probe_precautionary`.
    prev_probe_precautionary: bool,
    /// The least in flight seen in the current round of UP.
    up_min_inflight: u64,
    /// Consecutive rounds of UP with a persistent queue.
    up_queue_rounds: u32,
    /// The delivery rate when UP began, and the highest since.
    up_start_rate: u64,
    up_max_rate: u64,
    /// When ProbeBW_UP began.
    up_start: Instant,
    /// The generator behind the draft's random choices (see the module documentation of
    /// `bbr`).
    rng: u64,
}

impl ProbeBw {
    /// §5.2.1 OnInit's ProbeBW part.
    pub(super) fn new(now: Instant, seed: u64) -> Self {
        Self {
            ack_phase: AckPhase::Init,
            is_bw_probe_sample: false,
            bw_probe_up_acked: 0,
            probe_up_acked_per_inc: INFINITE,
            bw_probe_up_rounds: 0,
            rounds_since_probe_up: 0,
            bw_probe_wait: Duration::ZERO,
            cycle_stamp: now,
            prev_probe_too_high: false,
            prev_probe_precautionary: false,
            up_min_inflight: INFINITE,
            up_queue_rounds: 0,
            up_start_rate: 0,
            up_max_rate: 0,
            up_start: now,
            rng: seed,
        }
    }

    /// A pseudo-random 64-bit number (SplitMix64), stirred with `entropy`.
    fn next_random(&mut self, entropy: u64) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15).wrapping_add(entropy);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl Bbr {
    /// §5.3.3.9 EnterProbeBW (the cwnd gain follows from the state).
    pub(super) fn enter_probe_bw(&mut self) {
        self.start_probe_bw_down();
    }

    /// §5.3.3.9 StartProbeBW_DOWN.
    pub(super) fn start_probe_bw_down(&mut self) {
        self.reset_congestion_signals();
        self.probe.probe_up_acked_per_inc = INFINITE;
        self.pick_probe_wait();
        self.probe.cycle_stamp = self.now;
        self.probe.ack_phase = AckPhase::ProbeStopping;
        self.rounds.start(self.delivered);
        self.state = BbrState::ProbeBwDown;
    }

    /// §5.3.3.9 StartProbeBW_CRUISE.
    pub(super) fn start_probe_bw_cruise(&mut self) {
        self.state = BbrState::ProbeBwCruise;
    }

    /// §5.3.3.9 StartProbeBW_REFILL: the short-term model is dropped (§5.3.3.3).
    pub(super) fn start_probe_bw_refill(&mut self) {
        self.model.reset_short_term();
        self.probe.bw_probe_up_rounds = 0;
        self.probe.bw_probe_up_acked = 0;
        self.probe.prev_probe_precautionary = false;
        self.probe.ack_phase = AckPhase::Refilling;
        self.rounds.start(self.delivered);
        self.state = BbrState::ProbeBwRefill;
    }

    /// §5.3.3.9 StartProbeBW_UP.
    fn start_probe_bw_up(&mut self, rs: &Sample) {
        self.probe.ack_phase = AckPhase::ProbeStarting;
        self.rounds.start(self.delivered);
        self.full.reset();
        self.full.set_baseline(rs.delivery_rate);
        self.state = BbrState::ProbeBwUp;
        self.probe.up_min_inflight = INFINITE;
        self.probe.up_queue_rounds = 0;
        self.probe.up_start_rate = rs.delivery_rate;
        self.probe.up_max_rate = rs.delivery_rate;
        self.probe.up_start = self.now;
        self.raise_inflight_longterm_slope();
    }

    /// §5.3.3.9 UpdateProbeBWCyclePhase: advances the cycle, on each ACK of new data.
    pub(super) fn update_probe_bw_cycle_phase(&mut self, rs: &Sample) {
        if !self.full.reached {
            return; // only steady-state behaviour here
        }
        if self.adapt_long_term_model(rs) {
            return; // a transition was already decided
        }
        match self.state {
            BbrState::ProbeBwDown => {
                if self.is_time_to_probe_bw() {
                    return;
                }
                if self.is_time_to_cruise() {
                    self.start_probe_bw_cruise();
                }
            }
            BbrState::ProbeBwCruise => {
                self.is_time_to_probe_bw();
            }
            BbrState::ProbeBwRefill => {
                // After one round of REFILL, start UP.
                if self.rounds.round_start {
                    self.probe.is_bw_probe_sample = true;
                    self.start_probe_bw_up(rs);
                }
            }
            BbrState::ProbeBwUp => {
                if self.is_time_to_go_down(rs) {
                    self.probe.prev_probe_too_high = false; // no high loss (yet)
                    self.start_probe_bw_down();
                }
            }
            BbrState::Startup | BbrState::Drain | BbrState::ProbeRtt => {}
        }
    }

    /// §5.3.3.8.3 IsTimeToProbeBW: starts REFILL after the wall-clock wait or the Reno-scale
    /// number of rounds.
    fn is_time_to_probe_bw(&mut self) -> bool {
        if self.has_elapsed_in_phase(self.probe.bw_probe_wait) || self.is_reno_coexistence_probe_time() {
            self.start_probe_bw_refill();
            return true;
        }
        false
    }

    /// §5.3.3.8.3 PickProbeWait: 0 or 1 rounds already counted, and 2 to 3 s of wall clock.
    fn pick_probe_wait(&mut self) {
        let entropy =
            self.delivered ^ u64::try_from(self.model.min_rtt.unwrap_or_default().as_nanos()).unwrap_or(0);
        let r = self.probe.next_random(entropy);
        self.probe.rounds_since_probe_up = r & 1;
        // 53 random bits as a fraction in [0, 1).
        let fraction = (r >> 11) as f64 / (1u64 << 53) as f64;
        self.probe.bw_probe_wait = PROBE_WAIT_BASE + Duration::from_secs_f64(fraction);
    }

    /// §5.3.3.8.3 IsRenoCoexistenceProbeTime: a Reno flow's BDP in packets, at most 63, in
    /// rounds.
    fn is_reno_coexistence_probe_time(&self) -> bool {
        let reno_rounds = self.target_inflight() / self.smss;
        self.probe.rounds_since_probe_up >= reno_rounds.min(RENO_ROUNDS_MAX)
    }

    /// §5.3.3.8.3 TargetInflight: the estimated BDP, unless congestion cut cwnd below it.
    pub(super) fn target_inflight(&self) -> u64 {
        let bdp = self.model.bdp_multiple(self.model.bw, 1.0).unwrap_or(self.initial_cwnd);
        bdp.min(self.cwnd)
    }

    /// §5.3.3.9 IsTimeToCruise: headroom left and no queue.
    fn is_time_to_cruise(&self) -> bool {
        self.inflight <= self.inflight_with_headroom()
            && self.inflight <= self.inflight_for(self.model.max_bw, 1.0)
    }

    /// §5.3.3.9 IsTimeToGoDown (with §5.3.3.6's precautionary deceleration), and a persistent
    /// queue (a departure, [`Self::is_queue_persistent`]).
    fn is_time_to_go_down(&mut self, rs: &Sample) -> bool {
        if self.is_queue_persistent(rs) || self.is_probe_queued() {
            return true;
        }
        if self.probe.prev_probe_too_high && self.inflight >= self.model.inflight_longterm {
            self.probe.prev_probe_precautionary = true;
            return true;
        }
        if self.is_cwnd_limited() && self.cwnd >= self.model.inflight_longterm {
            // The bandwidth is limited by inflight_longterm: the plateau says nothing.
            self.full.reset();
            self.full.set_baseline(rs.delivery_rate);
        } else if self.full.now {
            return true; // the path's bandwidth is fully used
        }
        false
    }

    /// Whether UP has kept a queue for [`UP_QUEUE_ROUNDS`] rounds without gaining
    /// bandwidth: the least in flight over each round was at least 1.25 BDP (plus
    /// `extra_acked`), and the delivery rate rose less than 15 % since UP began.
    ///
    /// A departure from the draft, after the persistent-queue exit of Chromium's BBRv2
    /// (`max_probe_up_queue_rounds`). The draft's UP lasts until the bandwidth has not grown for
    /// three rounds or losses pass `BBR.LossThresh`: behind a full drop-tail buffer shared with
    /// a loss-based flow, that is a buffer overflow at every probe, every 2–3 s, which cuts
    /// CUBIC by 30 % each time (it needs ~5 s to regrow at a 357-packet BDP), while BBR's own
    /// losses stay just under the threshold and `inflight_longterm` climbs to nearly all of
    /// pipe and buffer. Measured at 100 Mbit/s, 40 ms, 1-BDP buffer, BBR against CUBIC over
    /// 10–40 s: CUBIC's share 0.15–0.18 by the draft, 0.31–0.33 with this exit. The growth
    /// guard keeps a flow that is still gaining probing (a flow that starts behind another BBR
    /// flow shares its queue): without it two BBR flows started 1 s apart converged to Jain
    /// 0.69–0.76, with it 0.82–0.86 (the draft: 0.74–0.91).
    fn is_queue_persistent(&mut self, rs: &Sample) -> bool {
        let probe = &mut self.probe;
        probe.up_max_rate = probe.up_max_rate.max(rs.delivery_rate);
        probe.up_min_inflight = probe.up_min_inflight.min(self.inflight);
        if !self.rounds.round_start {
            return false;
        }
        let bdp = self.model.bdp_multiple(self.model.max_bw, UP_QUEUE_BDPS).unwrap_or(INFINITE);
        let queue = probe.up_min_inflight >= bdp.saturating_add(self.model.extra_acked);
        probe.up_queue_rounds = if queue { probe.up_queue_rounds.saturating_add(1) } else { 0 };
        probe.up_min_inflight = INFINITE;
        let grew = probe.up_max_rate >= scale(probe.up_start_rate, UP_GROWTH);
        probe.up_queue_rounds >= UP_QUEUE_ROUNDS && !grew
    }

    /// Whether UP has run for 1.5 round trips, holds the quarter BDP of queue its gain aims at
    /// (in flight at least 1.25 BDP plus the aggregation allowance) and the probe's first
    /// packets came back without a 15 % higher delivery rate: the path has no more to give,
    /// and further rounds at 1.25 only deepen the queue. A departure from draft-06, which
    /// probes until the bandwidth plateau's three rounds (BBRv2 left UP at one round trip and
    /// 1.25 BDP, whatever the delivery rate): on a 10-BDP buffer each probe queued 0.9 BDP and
    /// kept the RTT above 1.5 × base for 0.3 s (`lrp2p-sim sweep lossy --cc bbr`).
    /// `up_max_rate` is kept by [`Self::is_queue_persistent`], which runs first on each ACK.
    fn is_probe_queued(&self) -> bool {
        let Some(min_rtt) = self.model.min_rtt else { return false };
        let elapsed = self.now.saturating_duration_since(self.probe.up_start);
        let target =
            self.inflight_for(self.model.max_bw, UP_QUEUE_BDPS).saturating_add(self.model.extra_acked);
        elapsed >= min_rtt.mul_f64(1.5)
            && self.inflight >= target
            && self.probe.up_max_rate < scale(self.probe.up_start_rate, UP_GROWTH)
    }

    /// §5.3.3.9 HasElapsedInPhase.
    fn has_elapsed_in_phase(&self, interval: Duration) -> bool {
        self.probe.cycle_stamp.checked_add(interval).is_some_and(|end| self.now > end)
    }

    /// §5.3.3.9 InflightWithHeadroom: `inflight_longterm` less 15 % (at least an SMSS), at
    /// least `BBR.MinPipeCwnd`; infinite while `inflight_longterm` is.
    pub(super) fn inflight_with_headroom(&self) -> u64 {
        let longterm = self.model.inflight_longterm;
        if longterm == INFINITE {
            return INFINITE;
        }
        let headroom = self.smss.max(scale(longterm, HEADROOM));
        longterm.saturating_sub(headroom).max(self.min_pipe_cwnd())
    }

    /// §5.3.3.9 RaiseInflightLongtermSlope: 1, 2, 4, … SMSS more per round.
    fn raise_inflight_longterm_slope(&mut self) {
        let growth_this_round = 1u64 << self.probe.bw_probe_up_rounds;
        self.probe.bw_probe_up_rounds = (self.probe.bw_probe_up_rounds + 1).min(MAX_PROBE_UP_ROUNDS);
        self.probe.probe_up_acked_per_inc = (self.cwnd / growth_this_round).max(self.smss);
    }

    /// §5.3.3.9 ProbeInflightLongtermUpward: grows `inflight_longterm` while it is the limit.
    fn probe_inflight_longterm_upward(&mut self, rs: &Sample) {
        if !self.is_cwnd_limited() || self.cwnd < self.model.inflight_longterm {
            return; // not fully using inflight_longterm, so do not grow it
        }
        let per_inc = self.probe.probe_up_acked_per_inc.max(1);
        self.probe.bw_probe_up_acked = self.probe.bw_probe_up_acked.saturating_add(rs.newly_acked);
        if self.probe.bw_probe_up_acked >= per_inc {
            let delta = self.probe.bw_probe_up_acked / per_inc;
            self.probe.bw_probe_up_acked -= delta * per_inc;
            let growth = delta.saturating_mul(self.smss);
            self.model.inflight_longterm = self.model.inflight_longterm.saturating_add(growth);
        }
        if self.rounds.round_start {
            self.raise_inflight_longterm_slope();
        }
    }

    /// §5.3.3.9 AdaptLongTermModel: tracks the probe's feedback, advances the `max_bw`
    /// filter one round after a probe, and raises `inflight_longterm` while losses stay
    /// below the threshold. Returns whether it decided a transition.
    fn adapt_long_term_model(&mut self, rs: &Sample) -> bool {
        let round_start = self.rounds.round_start;
        if self.probe.ack_phase == AckPhase::ProbeStarting && round_start {
            // Starting to get bandwidth-probing samples.
            self.probe.ack_phase = AckPhase::ProbeFeedback;
        }
        if self.probe.ack_phase == AckPhase::ProbeStopping && round_start {
            // End of samples from the probing phase.
            self.probe.is_bw_probe_sample = false;
            self.probe.ack_phase = AckPhase::Init;
            if self.state.is_probe_bw() && !rs.is_app_limited {
                self.model.advance_max_bw_filter();
            }
            // §5.3.3.6 Precautionary Bandwidth Probing: Acceleration.
            if self.state.is_probe_bw()
                && self.probe.prev_probe_precautionary
                && !self.probe.prev_probe_too_high
            {
                self.start_probe_bw_refill();
                return true;
            }
        }
        if !self.is_inflight_too_high(rs.lost, rs.tx_in_flight) {
            // The loss rate is safe: adjust the upper bounds upward.
            if self.model.inflight_longterm == INFINITE {
                return false; // no upper bound to raise
            }
            if rs.tx_in_flight > self.model.inflight_longterm {
                self.model.inflight_longterm = rs.tx_in_flight;
            }
            if self.state == BbrState::ProbeBwUp {
                self.probe_inflight_longterm_upward(rs);
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::congestion::bbr::BbrConfig;

    const MSS: u64 = 1400;
    const RATE: u64 = 12_500_000; // 100 Mbit/s
    const RTT: Duration = Duration::from_millis(40); // BDP 500 kB

    // An `Instant` can only be had from the clock; only differences from it matter here.
    #[allow(clippy::disallowed_methods)]
    fn origin() -> Instant {
        Instant::now()
    }

    fn sample(delivery_rate: u64) -> Sample {
        Sample {
            delivery_rate,
            delivered: 0,
            prior_delivered: 0,
            is_app_limited: false,
            tx_in_flight: 0,
            lost: 0,
            newly_acked: MSS,
            rtt: RTT,
        }
    }

    /// A flow in ProbeBW_UP at `RATE` with `inflight` in flight; then `rounds` round trips, each
    /// ending on a sample of `rate`: whether the persistent-queue exit fires.
    fn up_with_queue(inflight: u64, rate: u64, rounds: u32) -> bool {
        let mut bbr = Bbr::new(&BbrConfig::default(), origin(), MSS);
        bbr.model.max_bw = RATE;
        bbr.model.bound_bw();
        bbr.model.min_rtt = Some(RTT);
        bbr.start_probe_bw_up(&sample(RATE));
        bbr.inflight = inflight;
        let mut exit = false;
        for _ in 0..rounds {
            bbr.rounds.round_start = false;
            exit |= bbr.is_queue_persistent(&sample(rate));
            bbr.rounds.round_start = true;
            exit |= bbr.is_queue_persistent(&sample(rate));
        }
        exit
    }

    #[test]
    fn up_ends_on_a_queue_that_persists_without_bandwidth_growth() {
        // 1.4 BDP in flight at all times: a quarter of a BDP queued for two rounds.
        assert!(!up_with_queue(700_000, RATE, 1), "one round is not persistent");
        assert!(up_with_queue(700_000, RATE, 2));
        // The probe is still gaining bandwidth (a flow behind another one): it goes on.
        assert!(!up_with_queue(700_000, RATE * 6 / 5, 4));
        // No queue to speak of.
        assert!(!up_with_queue(600_000, RATE, 4));
    }
}
