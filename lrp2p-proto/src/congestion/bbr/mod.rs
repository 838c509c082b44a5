//! BBR congestion control, version 3, after draft-ietf-ccwg-bbr-06 (July 2026). Section
//! numbers (§) in this module and its parts are that draft's.
//!
//! BBR builds an explicit model of the path from delivery-rate samples (the connection's
//! `RateSample`, draft-cheng-iccrg-delivery-rate-estimation) and RTT samples, and sends by it:
//! it paces at `pacing_gain · bw` and keeps at most `cwnd_gain · bw · min_rtt` (plus what ACK
//! aggregation needs) in flight, bounded by what losses taught it. A state machine (§5.1)
//! probes the model: Startup doubles the rate each round until the bandwidth stops growing or
//! losses say the pipe is full, Drain empties the queue Startup built, ProbeBW cycles
//! DOWN → CRUISE → REFILL → UP to share the link and find more bandwidth, and ProbeRTT
//! drains the queue every 5 s at most, so that `min_rtt` stays honest.
//!
//! The parts, one concern each:
//! - `model.rs`: the estimates (`max_bw`, `bw_shortterm`, `min_rtt`, `inflight_longterm`,
//!   `inflight_shortterm`, `extra_acked`) and their filters (`filter.rs`); `round.rs`:
//!   packet-timed round trips.
//! - `startup.rs`: Startup, its two exits (bandwidth plateau, losses) and Drain.
//! - `probe_bw.rs`: the ProbeBW cycle, its timing and the growth of `inflight_longterm`.
//! - `probe_rtt.rs`: ProbeRTT, and restarting from idle (§5.4).
//! - `loss.rs`: the response to losses (§5.5.10), loss recovery and its undo (§5.5.11,
//!   §5.6.4.4), the retransmission timeout.
//! - `control.rs`: the three outputs, pacing rate, send quantum and cwnd (§5.6).
//!
//! # Where this departs from the draft, and why
//!
//! - Loss recovery: draft-06 has no packet conservation any more (the older drafts'
//!   `ModulateCwndForRecovery`); recovery only saves cwnd on entry and restores it on exit
//!   (§5.6.4.4 `SaveCwnd`/`RestoreCwnd`), and losses act through the model. So it is here.
//!   A recovery episode starts with the first loss of a packet sent after the previous one
//!   began and ends when a packet sent after its start is acknowledged (RFC 9002 §7.3.2).
//! - `CheckStartupHighLoss` (§5.3.1.3) asks for six discontiguous lost ranges in a round; the
//!   controller sees packets, not sequence ranges, so it counts ACKs that declared losses, as
//!   Linux's BBRv3 does (`loss_events_in_round`).
//! - `MarkConnectionAppLimited` in ProbeRTT (§5.3.4.3) cannot reach the connection's rate
//!   estimator: the controller itself treats samples of packets sent while it would have been
//!   set (`P.delivered` in the marked range) as application limited.
//! - RTT samples for `min_rtt` come from the rate sample (the newest packet acknowledged,
//!   §5.5.7.1) but never below the connection's Karn-filtered minimum: the newest packet may
//!   be a retransmission whose original was what arrived, and a spuriously short sample would
//!   shrink the BDP for 10 s.
//! - The draft randomizes the wait between bandwidth probes (§5.3.3.8.2). A sans-IO core has
//!   no randomness of its own: a small generator seeded from [`BbrConfig::seed`] and stirred
//!   with what the controller observes (bytes delivered, RTT) stands in, deterministic under a
//!   simulator yet different between flows.
//! - `bw_latest`, the delivery rate the short-term bound falls to after a lossy round
//!   (§5.5.10.3), is read against the pacing gain its packet left with (at most 1, with the
//!   1 % margin of §5.6.2): a flow paced below `bw` delivers below it with no congestion at
//!   all, and the draft's rule then cuts `bw_shortterm` by the margin in every round with a
//!   random loss (`loss.rs`, `delivered_at_bw`).
//! - ProbeBW_UP also ends when even the least in flight over two rounds held a quarter of a
//!   BDP in the queue and the probe did not raise the delivery rate by 15 % (after Chromium
//!   BBRv2's `max_probe_up_queue_rounds`; `probe_bw.rs`, `is_queue_persistent`): a deep
//!   drop-tail buffer no longer fills at each probe (`lrp2p-sim sweep lossy --cc bbr`, 10-BDP
//!   queue: RTT p95 2.26 → 2.06 × base).
//! - Random loss is told from congestion (`random_loss.rs`): losses in a round trip whose RTT
//!   never rose above `min_rtt` raise the loss rate a probe tolerates and leave the short-term
//!   bounds alone. Measured at 100 Mbit/s, 40 ms, 1-BDP buffer: 1 % random loss 0.830 → 0.917,
//!   3 % 0.384 → 0.879; BBR beside CUBIC unchanged (CUBIC's share 0.409).
//! - Startup also ends on a round trip whose every RTT sample met a queue once the bandwidth
//!   stopped growing by 25 % (`startup.rs`, `check_startup_queue`, after HyStart++'s
//!   threshold): the plateau rule's further rounds fill a one-BDP buffer to overflow.
//! - ProbeBW's DOWN, CRUISE and REFILL keep at most 1.25 BDP (plus the aggregation allowance)
//!   in flight, not 2 BDP (`PROBE_BW_CWND_GAIN`): two flows 1 s apart, Jain 0.70 → 0.93.
//! - ProbeBW_UP also ends after 1.5 round trips once a quarter BDP is queued and the probe's
//!   first packets brought no 15 % higher delivery rate (`probe_bw.rs`, `is_probe_queued`),
//!   and DOWN paces at 0.75 (BBRv2's gain) instead of 0.9 (`PROBE_DOWN_PACING_GAIN`): a
//!   10-BDP buffer held 0.9 BDP for 0.3 s after each probe (RTT p95 1.60 → 1.09 × base).
//! - A sample within 1/64 of the ProbeRTT filter's minimum refreshes it (`model.rs`): on a path
//!   whose RTT repeats exactly the draft's strict "lower" never held and ProbeRTT halved the
//!   window every 5 s for nothing.
//! - Packet conservation in the round after losses behind a queue (`loss.rs`,
//!   `conserve_cwnd`), and a round that lost more than tolerated behind a queue cuts the
//!   short-term bandwidth to what it delivered at once.
//! - A retransmission timeout leaves nothing in flight (the connection marks it all lost
//!   before telling the controller), so `C.cwnd = C.inflight + 1` (§5.6.4.4) is one SMSS.

use std::time::{Duration, Instant};

use super::{Ack, Controller, ControllerFactory, LostPacket, RateSample, SentPacket};

mod control;
mod filter;
mod loss;
mod model;
mod probe_bw;
mod probe_rtt;
mod random_loss;
mod round;
mod startup;

#[cfg(test)]
mod testbed;
#[cfg(test)]
mod tests;

use loss::LossState;
use model::Model;
use probe_bw::ProbeBw;
use probe_rtt::ProbeRtt;
use round::Rounds;
use startup::FullPipe;

/// `BBR.LossThresh` (§2.8): the loss rate per round trip tolerated while probing, 2 %.
pub const LOSS_THRESH: f64 = 0.02;

/// Configuration (and factory) of [`Bbr`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BbrConfig {
    /// The initial window in bytes (`C.InitialCwnd`, §5.6.4.1). `None`: min(10·MSS,
    /// max(2·MSS, 14720)), the rule of RFC 9002 §7.2 after RFC 6928, as for CUBIC.
    pub initial_window: Option<u64>,
    /// `BBR.LossThresh` (§2.8), default [`LOSS_THRESH`]: the loss rate over a round trip
    /// above which a bandwidth probe stops and `inflight_longterm` is cut. Raising it keeps
    /// more throughput under heavy random loss at the expense of flows that back off on loss
    /// (see the module documentation).
    pub loss_thresh: f64,
    /// Seed of the generator that randomizes the wait between bandwidth probes.
    pub seed: u64,
}

impl Default for BbrConfig {
    fn default() -> Self {
        Self { initial_window: None, loss_thresh: LOSS_THRESH, seed: 0x6262_7276_3362_6272 }
    }
}

impl ControllerFactory for BbrConfig {
    fn build(&self, now: Instant, mss: u64) -> Box<dyn Controller> {
        Box::new(Bbr::new(self, now, mss))
    }
}

/// A state of BBR's state machine (§5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BbrState {
    /// Doubling the sending rate each round to find the bandwidth (§5.3.1).
    Startup,
    /// Draining the queue Startup built (§5.3.2).
    Drain,
    /// ProbeBW, decelerating to leave headroom and drain the queue (§5.3.3.1).
    ProbeBwDown,
    /// ProbeBW, sending at the estimated bandwidth (§5.3.3.2).
    ProbeBwCruise,
    /// ProbeBW, refilling the pipe for a round before probing (§5.3.3.3).
    ProbeBwRefill,
    /// ProbeBW, probing for more bandwidth (§5.3.3.4).
    ProbeBwUp,
    /// Draining the queue to measure the minimum RTT (§5.3.4).
    ProbeRtt,
}

impl BbrState {
    /// §5.3.3.9 IsInAProbeBWState.
    pub fn is_probe_bw(self) -> bool {
        matches!(self, Self::ProbeBwDown | Self::ProbeBwCruise | Self::ProbeBwRefill | Self::ProbeBwUp)
    }

    /// §5.3.3.9 IsProbingBW: the states that accelerate to probe for bandwidth.
    fn is_probing_bw(self) -> bool {
        matches!(self, Self::Startup | Self::ProbeBwRefill | Self::ProbeBwUp)
    }

    /// `(BBR.pacing_gain, BBR.cwnd_gain)` of the state (§5.6.1's table): Startup 2.77 and 2
    /// (§5.3.1.1), Drain 0.5 (§5.3.2), DOWN 0.75 (§5.3.3.1 says 0.9, see
    /// [`PROBE_DOWN_PACING_GAIN`]), CRUISE and REFILL 1.0; DOWN, CRUISE and REFILL with a cwnd
    /// gain of [`PROBE_BW_CWND_GAIN`] (the draft: 2), UP 1.25
    /// and 2.25 (§5.3.3.5), ProbeRTT 1.0 and 0.5 (§5.3.4.1).
    fn gains(self) -> (f64, f64) {
        match self {
            Self::Startup => (STARTUP_PACING_GAIN, DEFAULT_CWND_GAIN),
            Self::Drain => (DRAIN_PACING_GAIN, DEFAULT_CWND_GAIN),
            Self::ProbeBwDown => (PROBE_DOWN_PACING_GAIN, PROBE_BW_CWND_GAIN),
            Self::ProbeBwCruise | Self::ProbeBwRefill => (1.0, PROBE_BW_CWND_GAIN),
            Self::ProbeBwUp => (1.25, 2.25),
            Self::ProbeRtt => (1.0, PROBE_RTT_CWND_GAIN),
        }
    }
}

/// `BBR.StartupPacingGain` (§2.5): 4·ln 2 ≈ 2.77, the least that doubles the rate per round.
const STARTUP_PACING_GAIN: f64 = 2.77;

/// `BBR.DrainPacingGain` (§2.5): 0.5 (draft-06; earlier drafts used 0.35).
const DRAIN_PACING_GAIN: f64 = 0.5;

/// ProbeBW_DOWN's pacing gain: 0.75, BBRv2's, not draft-06's 0.9 (§5.3.3.1). DOWN lasts until
/// the queue its probe built has drained, and at 0.9 a queue drains at a tenth of the rate: a
/// deep buffer stayed half a BDP full for 0.3 s after each probe (`lrp2p-sim sweep lossy --cc
/// bbr`, 10-BDP buffer: RTT p95 1.60 → 1.42 × base, efficiency unchanged at 0.924). The pipe
/// is underused only in the last round of DOWN, once the queue is gone.
const PROBE_DOWN_PACING_GAIN: f64 = 0.75;

/// The cwnd gain of ProbeBW's DOWN, CRUISE and REFILL: 1.25 BDP (plus `extra_acked`, the ACK
/// aggregation allowance, §5.6.4.2), not draft-06's 2 (§2.6, kept for Startup and Drain). A
/// flow that paces at its estimate needs no more; with 2, a flow that lost share to a newcomer
/// kept pacing at its old rate into a window of 2 BDP and filled a 1-BDP buffer, the newcomer
/// left Startup on that queue at a fraction of its share, and both sat window-limited behind it
/// (`lrp2p-sim sweep lossy --cc bbr`: two flows 1 s apart, Jain 0.70 → 0.93; 0.5 and 2 s apart
/// 0.99; the rate halving's retransmits 1.98 → 0.00 %; CUBIC's share beside BBR 0.41 → 0.53).
const PROBE_BW_CWND_GAIN: f64 = 1.25;

/// `BBR.DefaultCwndGain` (§2.6): 2.
const DEFAULT_CWND_GAIN: f64 = 2.0;

/// `BBR.ProbeRTTCwndGain` (§2.16.2): 0.5.
const PROBE_RTT_CWND_GAIN: f64 = 0.5;

/// What BBR reads of one ACK's rate sample (`RS`, §2.3), with this ACK's totals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sample {
    /// `RS.delivery_rate`, bytes per second.
    delivery_rate: u64,
    /// `RS.delivered`.
    delivered: u64,
    /// `RS.prior_delivered` (`P.delivered`).
    prior_delivered: u64,
    /// `RS.is_app_limited`.
    is_app_limited: bool,
    /// `RS.tx_in_flight`.
    tx_in_flight: u64,
    /// `RS.lost`.
    lost: u64,
    /// `RS.newly_acked`.
    newly_acked: u64,
    /// `RS.rtt`, never below the connection's minimum (see the module documentation).
    rtt: Duration,
}

/// The BBR congestion controller. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct Bbr {
    /// `C.SMSS` in bytes (never 0).
    smss: u64,
    /// `C.InitialCwnd`.
    initial_cwnd: u64,
    /// `C.cwnd`.
    cwnd: u64,
    /// `C.pacing_rate`, bytes per second.
    pacing_rate: u64,
    /// The pacing rate was initialized from an RTT sample (§5.6.2 InitPacingRate).
    pacing_rate_from_rtt: bool,
    /// `C.send_quantum`.
    send_quantum: u64,
    /// `BBR.max_inflight` (§5.6.4.2), as last computed.
    max_inflight: u64,
    /// `BBR.state`.
    state: BbrState,
    /// `BBR.loss_thresh` (configurable, [`BbrConfig::loss_thresh`]).
    loss_thresh: f64,
    rounds: Rounds,
    model: Model,
    full: FullPipe,
    probe: ProbeBw,
    probe_rtt: ProbeRtt,
    loss: LossState,
    /// `BBR.idle_restart` (§2.7).
    idle_restart: bool,
    /// `C.delivered`, as of the latest ACK.
    delivered: u64,
    /// `C.inflight`, as of the latest event.
    inflight: u64,
    /// `C.is_cwnd_limited` (§2.2) over the current and the previous round.
    cwnd_limited: [bool; 2],
    /// `Now()`: the time of the latest event.
    now: Instant,
}

impl Bbr {
    /// A controller in Startup, at `now`, for packets of at most `mss` bytes (§5.2.1 OnInit).
    pub fn new(config: &BbrConfig, now: Instant, mss: u64) -> Self {
        let smss = mss.max(1);
        // RFC 9002 §7.2: min(10 * max_datagram_size, max(2 * max_datagram_size, 14720)).
        let default_iw = smss.saturating_mul(10).min(smss.saturating_mul(2).max(14_720));
        let initial_cwnd = config.initial_window.unwrap_or(default_iw).max(smss.saturating_mul(2));
        let loss_thresh =
            if config.loss_thresh.is_finite() { config.loss_thresh.clamp(0.0, 0.5) } else { LOSS_THRESH };
        let mut bbr = Self {
            smss,
            initial_cwnd,
            cwnd: initial_cwnd,
            pacing_rate: 0,
            pacing_rate_from_rtt: false,
            send_quantum: smss.saturating_mul(2),
            max_inflight: initial_cwnd,
            state: BbrState::Startup,
            loss_thresh,
            rounds: Rounds::default(),
            model: Model::new(now),
            full: FullPipe::default(),
            probe: ProbeBw::new(now, config.seed),
            probe_rtt: ProbeRtt::default(),
            loss: LossState::default(),
            idle_restart: false,
            delivered: 0,
            inflight: 0,
            cwnd_limited: [false; 2],
            now,
        };
        bbr.init_pacing_rate(None);
        bbr.enter_startup();
        bbr
    }

    /// The state of the state machine.
    pub fn state(&self) -> BbrState {
        self.state
    }

    /// `BBR.max_bw`: the bandwidth estimate in bytes per second (0 before the first sample).
    pub fn max_bw(&self) -> u64 {
        self.model.max_bw
    }

    /// `BBR.min_rtt`: the minimum RTT estimate, if any sample was taken.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.model.min_rtt
    }

    /// `BBR.inflight_longterm` in bytes: `u64::MAX` until losses while probing set it.
    pub fn inflight_longterm(&self) -> u64 {
        self.model.inflight_longterm
    }

    /// `C.send_quantum` (§5.6.3): the most that should leave back to back, in bytes.
    pub fn send_quantum(&self) -> u64 {
        self.send_quantum
    }

    /// `C.is_cwnd_limited` (§2.2): the window was the limit in the last round trip.
    fn is_cwnd_limited(&self) -> bool {
        self.cwnd_limited[0] || self.cwnd_limited[1]
    }

    /// `BBR.MinPipeCwnd` (§2.8): 4 SMSS.
    fn min_pipe_cwnd(&self) -> u64 {
        self.smss.saturating_mul(4)
    }

    /// The rate sample of `ack` as BBR reads it.
    fn sample(&self, rate: &RateSample, ack: &Ack<'_>) -> Sample {
        let floor = ack.rtt.min_rtt().unwrap_or(Duration::ZERO);
        Sample {
            delivery_rate: rate.delivery_rate,
            delivered: rate.delivered,
            prior_delivered: rate.prior_delivered,
            is_app_limited: rate.is_app_limited || self.probe_rtt.marks_app_limited(rate.prior_delivered),
            tx_in_flight: rate.tx_in_flight,
            lost: rate.lost,
            newly_acked: ack.acked_bytes,
            rtt: rate.rtt.max(floor),
        }
    }

    /// §5.2.3 UpdateModelAndState.
    fn update_model_and_state(&mut self, rs: &Sample) {
        self.update_latest_delivery_signals(rs);
        self.update_congestion_signals(rs);
        let (now, cwnd, round, full) = (self.now, self.cwnd, self.rounds.count, self.full.reached);
        self.model.update_ack_aggregation(now, rs.newly_acked, cwnd, round, full);
        self.check_full_bw_reached(rs);
        self.check_startup_done(rs);
        self.check_drain_done();
        self.update_probe_bw_cycle_phase(rs);
        self.model.update_min_rtt(self.now, Some(rs.rtt));
        self.check_probe_rtt(rs);
        self.advance_latest_delivery_signals(rs);
        self.model.bound_bw();
    }
}

impl Controller for Bbr {
    fn on_sent(&mut self, sent: &SentPacket) {
        self.now = self.now.max(sent.now);
        // §5.2.2 OnTransmit.
        self.handle_restart_from_idle(sent);
        self.inflight = sent.prior_in_flight.saturating_add(sent.bytes);
        let (pacing_gain, _) = self.state.gains();
        self.loss.send_gains.note(self.delivered, pacing_gain);
        // §2.2 C.is_cwnd_limited: the window is full (less than a packet left in it).
        if self.inflight.saturating_add(self.smss) > self.cwnd {
            self.cwnd_limited[0] = true;
        }
    }

    fn on_ack(&mut self, ack: &Ack<'_>) {
        self.now = self.now.max(ack.now);
        self.delivered = ack.delivered;
        self.inflight = ack.bytes_in_flight;
        if ack.acked_bytes == 0 {
            // Only losses: on_lost has taken them; the model moves on delivered data.
            return;
        }
        self.note_ack_losses(ack.lost_bytes);
        // §5.6.4.4: the recovery episode ends with this ACK, maybe.
        self.check_recovery_exit(ack.largest_acked_sent);
        // §5.2.3 UpdateOnACK: GenerateRateSample (the connection's), UpdateModelAndState,
        // UpdateControlParameters. An ACK without a valid sample only updates the controls.
        if let Some(rate) = &ack.rate {
            let rs = self.sample(rate, ack);
            self.update_model_and_state(&rs);
        }
        self.update_control_parameters(ack.acked_bytes, ack.rtt.smoothed());
    }

    fn on_lost(&mut self, lost: &LostPacket) {
        self.now = self.now.max(lost.now);
        // §5.2.4: HandleLostPacket(P).
        self.handle_lost_packet(lost);
    }

    fn on_retransmission_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        self.on_enter_rto();
    }

    fn on_spurious_congestion(&mut self, now: Instant) {
        self.now = self.now.max(now);
        // §5.2.5: HandleSpuriousLossDetection().
        self.handle_spurious_loss_detection();
    }

    fn window(&self) -> u64 {
        self.cwnd
    }

    fn pacing_rate(&self) -> Option<u64> {
        Some(self.pacing_rate.max(1))
    }

    /// BBR has no slow-start threshold; the closest it has, a loss-derived ceiling on what may
    /// be in flight, is `inflight_longterm` (`u64::MAX` until losses set it).
    fn ssthresh(&self) -> u64 {
        self.model.inflight_longterm
    }

    fn in_slow_start(&self) -> bool {
        self.state == BbrState::Startup
    }

    fn name(&self) -> &'static str {
        "bbr"
    }

    fn clone_box(&self) -> Box<dyn Controller> {
        Box::new(self.clone())
    }
}
