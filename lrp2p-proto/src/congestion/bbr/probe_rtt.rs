//! ProbeRTT (draft-ietf-ccwg-bbr-06 §5.3.4) and restarting from idle (§5.4).
//!
//! When the 5 s ProbeRTT filter expires without a lower RTT sample, the flow holds at most
//! half a BDP in flight (at least 4 SMSS) for 200 ms and a round trip, so that the queue
//! drains and the next sample shows the path's own delay; then it restores cwnd and goes back
//! to ProbeBW (CRUISE) or Startup. A flow that restarts from idle paces at the bandwidth
//! estimate and leaves a ProbeRTT whose time is up before it sends.

use std::time::{Duration, Instant};

use super::{Bbr, BbrState, PROBE_RTT_CWND_GAIN, Sample, SentPacket};
use crate::congestion::bbr::probe_bw::AckPhase;

/// `BBR.ProbeRTTDuration` (§2.16.2): 200 ms.
pub(super) const PROBE_RTT_DURATION: Duration = Duration::from_millis(200);

/// ProbeRTT's state (§2.16.2, §5.3.4.3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct ProbeRtt {
    /// `BBR.probe_rtt_done_stamp`: when ProbeRTT may end (`None`: 0, not yet drained).
    done_stamp: Option<Instant>,
    /// `BBR.probe_rtt_round_done`.
    round_done: bool,
    /// `MarkConnectionAppLimited`, seen from here: samples of packets sent while
    /// `C.delivered` was in this range are application limited.
    app_limited: Option<(u64, u64)>,
}

impl ProbeRtt {
    /// Whether a sample of a packet sent when `prior_delivered` bytes had been delivered
    /// falls in a phase ProbeRTT marked application limited (§5.3.4.3 HandleProbeRTT).
    pub(super) fn marks_app_limited(&self, prior_delivered: u64) -> bool {
        self.app_limited.is_some_and(|(from, until)| (from..=until).contains(&prior_delivered))
    }
}

impl Bbr {
    /// §5.3.4.3 CheckProbeRTT.
    pub(super) fn check_probe_rtt(&mut self, rs: &Sample) {
        if self.state != BbrState::ProbeRtt && self.model.probe_rtt_expired && !self.idle_restart {
            self.enter_probe_rtt();
            self.save_cwnd();
            self.probe_rtt.done_stamp = None;
            self.probe.ack_phase = AckPhase::ProbeStopping;
            self.rounds.start(self.delivered);
        }
        if self.state == BbrState::ProbeRtt {
            self.handle_probe_rtt();
        }
        if rs.delivered > 0 {
            self.idle_restart = false;
        }
    }

    /// §5.3.4.3 EnterProbeRTT (the gains follow from the state).
    fn enter_probe_rtt(&mut self) {
        self.state = BbrState::ProbeRtt;
    }

    /// §5.3.4.3 HandleProbeRTT.
    fn handle_probe_rtt(&mut self) {
        // Ignore low rate samples during ProbeRTT.
        self.mark_connection_app_limited();
        if self.probe_rtt.done_stamp.is_none() && self.inflight <= self.probe_rtt_cwnd() {
            // Wait for at least BBR.ProbeRTTDuration and one round to elapse.
            self.probe_rtt.done_stamp = Some(self.now.checked_add(PROBE_RTT_DURATION).unwrap_or(self.now));
            self.probe_rtt.round_done = false;
            self.rounds.start(self.delivered);
        } else if self.probe_rtt.done_stamp.is_some() {
            if self.rounds.round_start {
                self.probe_rtt.round_done = true;
            }
            if self.probe_rtt.round_done {
                self.check_probe_rtt_done();
            }
        }
    }

    /// §4.1.2.4 MarkConnectionAppLimited, as far as BBR's own samples go: until what is in
    /// flight now is delivered.
    fn mark_connection_app_limited(&mut self) {
        let until = self.delivered.saturating_add(self.inflight);
        let from = match self.probe_rtt.app_limited {
            Some((from, previous)) if self.delivered <= previous => from,
            _ => self.delivered,
        };
        self.probe_rtt.app_limited = Some((from, until));
    }

    /// §5.3.4.3 CheckProbeRTTDone: the time is up: schedule the next ProbeRTT, restore cwnd
    /// and leave.
    fn check_probe_rtt_done(&mut self) {
        if self.probe_rtt.done_stamp.is_some_and(|done| self.now > done) {
            self.model.probe_rtt_min_stamp = self.now;
            self.restore_cwnd();
            self.exit_probe_rtt();
        }
    }

    /// §5.3.4.4 ExitProbeRTT: to CRUISE (through DOWN, restarting the cycle's clock) if the
    /// pipe was ever filled, else back to Startup.
    fn exit_probe_rtt(&mut self) {
        self.model.reset_short_term();
        if self.full.reached {
            self.start_probe_bw_down();
            self.start_probe_bw_cruise();
        } else {
            self.enter_startup();
        }
    }

    /// §5.6.4.5 ProbeRTTCwnd: half the BDP, at least `BBR.MinPipeCwnd`.
    pub(super) fn probe_rtt_cwnd(&self) -> u64 {
        let cwnd = self.model.bdp_multiple(self.model.bw, PROBE_RTT_CWND_GAIN).unwrap_or(self.initial_cwnd);
        cwnd.max(self.min_pipe_cwnd())
    }

    /// §5.4.1 HandleRestartFromIdle, before `sent` leaves: nothing in flight and nothing to
    /// send until now.
    pub(super) fn handle_restart_from_idle(&mut self, sent: &SentPacket) {
        if sent.prior_in_flight == 0 && sent.app_limited {
            self.idle_restart = true;
            self.model.extra_acked_interval_start = self.now;
            if self.state.is_probe_bw() {
                self.set_pacing_rate_with_gain(1.0);
            } else if self.state == BbrState::ProbeRtt {
                self.check_probe_rtt_done();
            }
        }
    }
}
