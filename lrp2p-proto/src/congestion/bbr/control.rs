//! BBR's outputs (draft-ietf-ccwg-bbr-06 §5.6): the pacing rate (§5.6.2), the send quantum
//! (§5.6.3) and the congestion window (§5.6.4), recomputed from the model on every ACK.
//!
//! ```text
//! pacing_rate  = pacing_gain · bw · (1 − 1 %)                              §5.6.2
//! send_quantum = clamp(pacing_rate · 1 ms, 2 SMSS, 64 KB)                  §5.6.3
//! max_inflight = max(cwnd_gain · bw · min_rtt + extra_acked,
//!                    send_quantum, 4 SMSS) (+ 2 SMSS in ProbeBW_UP)        §5.6.4.2
//! cwnd         → max_inflight, growing by what each ACK acknowledges,
//!                capped by inflight_longterm / _shortterm as the state says   §5.6.4.6–7
//! ```

use std::time::Duration;

use super::model::{INFINITE, scale, volume};
use super::{Bbr, BbrState, STARTUP_PACING_GAIN};

/// §5.6.2 `BBR.PacingMarginPercent`: pace 1 % below the bandwidth.
pub(super) const PACING_MARGIN: f64 = 0.99;

/// §5.6.2 InitPacingRate: the RTT assumed before a sample exists.
const INITIAL_PACING_RTT: Duration = Duration::from_millis(1);

/// §5.6.3: the send quantum is 1 ms of the pacing rate ...
const SEND_QUANTUM_TIME: Duration = Duration::from_millis(1);

/// §5.6.3: ... at most 64 KB.
const MAX_SEND_QUANTUM: u64 = 64 * 1024;

impl Bbr {
    /// §5.2.3 UpdateControlParameters, for an ACK of `newly_acked` bytes; `srtt` is the
    /// connection's smoothed RTT.
    pub(super) fn update_control_parameters(&mut self, newly_acked: u64, srtt: Option<Duration>) {
        // §5.6.2: the initial pacing rate uses "the initial C.srtt after the first non-zero RTT
        // sample"; until then it assumed 1 ms.
        if !self.pacing_rate_from_rtt && srtt.is_some_and(|rtt| !rtt.is_zero()) {
            self.init_pacing_rate(srtt);
            self.pacing_rate_from_rtt = true;
        }
        self.set_pacing_rate();
        self.set_send_quantum();
        self.set_cwnd(newly_acked);
    }

    /// §5.6.2 InitPacingRate: the initial window over the RTT (1 ms before a sample), at the
    /// Startup gain.
    pub(super) fn init_pacing_rate(&mut self, srtt: Option<Duration>) {
        let rtt = srtt.filter(|rtt| !rtt.is_zero()).unwrap_or(INITIAL_PACING_RTT);
        let nominal = u128::from(self.initial_cwnd) * 1_000_000_000 / rtt.as_nanos().max(1);
        let nominal = u64::try_from(nominal).unwrap_or(u64::MAX);
        self.pacing_rate = scale(nominal, STARTUP_PACING_GAIN);
    }

    /// §5.6.2 SetPacingRateWithGain: `gain · bw`, less the margin; before the pipe is full the
    /// rate only rises (application-limited samples must not slow Startup down).
    pub(super) fn set_pacing_rate_with_gain(&mut self, gain: f64) {
        let rate = scale(scale(self.model.bw, gain), PACING_MARGIN);
        if self.full.reached || rate > self.pacing_rate {
            self.pacing_rate = rate;
        }
    }

    /// §5.6.2 SetPacingRate.
    fn set_pacing_rate(&mut self) {
        let (pacing_gain, _) = self.state.gains();
        self.set_pacing_rate_with_gain(pacing_gain);
    }

    /// §5.6.3 SetSendQuantum.
    fn set_send_quantum(&mut self) {
        let quantum = volume(self.pacing_rate, SEND_QUANTUM_TIME, 1.0).min(MAX_SEND_QUANTUM);
        self.send_quantum = quantum.max(self.smss.saturating_mul(2));
    }

    /// §5.6.4.2 BDPMultiple: `gain · bw · min_rtt`, or the initial window before an RTT sample.
    fn bdp_multiple(&self, gain: f64) -> u64 {
        self.model.bdp_multiple(self.model.bw, gain).unwrap_or(self.initial_cwnd)
    }

    /// §5.6.4.2 QuantizationBudget, with §5.5.8.2's QUIC offload budget (one send quantum).
    fn quantization_budget(&self, inflight_cap: u64) -> u64 {
        let offload_budget = self.send_quantum;
        let mut cap = inflight_cap.max(offload_budget).max(self.min_pipe_cwnd());
        if self.state == BbrState::ProbeBwUp {
            cap = cap.saturating_add(self.smss.saturating_mul(2));
        }
        cap
    }

    /// §5.6.4.2 Inflight(bw, gain): `gain` BDPs at `bw`, with the quantization budget.
    pub(super) fn inflight_for(&self, bw: u64, gain: f64) -> u64 {
        let bdp = self.model.bdp_multiple(bw, gain).unwrap_or(self.initial_cwnd);
        self.quantization_budget(bdp)
    }

    /// §5.6.4.2 UpdateMaxInflight.
    fn update_max_inflight(&mut self) {
        let (_, cwnd_gain) = self.state.gains();
        let cap = self.bdp_multiple(cwnd_gain).saturating_add(self.model.extra_acked);
        self.max_inflight = self.quantization_budget(cap);
    }

    /// §5.6.4.6 SetCwnd: toward `max_inflight` by what the ACK acknowledged, cut to it at once
    /// once the pipe is full; then the ProbeRTT and model bounds.
    fn set_cwnd(&mut self, newly_acked: u64) {
        self.update_max_inflight();
        if self.full.reached {
            self.cwnd = self.cwnd.saturating_add(newly_acked).min(self.max_inflight);
        } else if self.cwnd < self.max_inflight || self.delivered < self.initial_cwnd {
            self.cwnd = self.cwnd.saturating_add(newly_acked);
        }
        // §5.6.4.3: at least BBR.MinPipeCwnd.
        self.cwnd = self.cwnd.max(self.min_pipe_cwnd());
        self.conserve_cwnd(newly_acked);
        self.bound_cwnd_for_probe_rtt();
        self.bound_cwnd_for_model();
    }

    /// §5.6.4.5 BoundCwndForProbeRTT.
    fn bound_cwnd_for_probe_rtt(&mut self) {
        if self.state == BbrState::ProbeRtt {
            self.cwnd = self.cwnd.min(self.probe_rtt_cwnd());
        }
    }

    /// §5.6.4.7 BoundCwndForModel: `inflight_longterm` while probing, 15 % below it in
    /// CRUISE and ProbeRTT, and `inflight_shortterm` always (§5.6.1's volume caps).
    fn bound_cwnd_for_model(&mut self) {
        let mut cap = INFINITE;
        if self.state.is_probe_bw() && self.state != BbrState::ProbeBwCruise {
            cap = self.model.inflight_longterm;
        } else if self.state == BbrState::ProbeRtt || self.state == BbrState::ProbeBwCruise {
            cap = self.inflight_with_headroom();
        }
        // Apply inflight_shortterm (possibly infinite).
        cap = cap.min(self.model.inflight_shortterm).max(self.min_pipe_cwnd());
        self.cwnd = self.cwnd.min(cap);
    }
}
