//! How BBR answers losses (draft-ietf-ccwg-bbr-06 §5.5.10, §5.5.11, §5.6.4.4).
//!
//! - While probing (REFILL, UP), a loss rate above `BBR.LossThresh` over the round trip since
//!   a lost packet was sent (`IsInflightTooHigh`) sets `inflight_longterm` to the volume in
//!   flight at which the threshold was crossed, at least `BBR.Beta` (0.7) of the target, and
//!   ends the probe (§5.5.10.2).
//! - Otherwise (Drain, DOWN, CRUISE, ProbeRTT), once per round trip with losses, the
//!   short-term bounds move to what was delivered in that round, at most 30 % down
//!   (§5.5.10.3): `bw_shortterm = max(bw_latest, 0.7·bw_shortterm)`, and the same for
//!   `inflight_shortterm`.
//! - A recovery episode saves cwnd and the bounds; its end restores cwnd (§5.6.4.4), and a
//!   spurious one restores the bounds and the probing state too (§5.5.11).
//! - A retransmission timeout cuts cwnd to one SMSS above what is in flight (§5.6.4.4).

use std::time::Instant;

use super::control::PACING_MARGIN;
use super::model::{INFINITE, scale};
use super::random_loss::RandomLoss;
use super::{Bbr, BbrState, LostPacket, Sample};
use crate::congestion::f64_to_u64;

/// `BBR.Beta` (§2.8): the multiplicative decrease per round trip with losses.
const BETA: f64 = 0.7;

/// What a spurious recovery restores (§2.15).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Undo {
    /// `BBR.undo_state`: the state a loss-induced transition left.
    pub(super) state: Option<BbrState>,
    /// `BBR.undo_bw_shortterm`.
    bw_shortterm: u64,
    /// `BBR.undo_inflight_shortterm`.
    inflight_shortterm: u64,
    /// `BBR.undo_inflight_longterm`.
    pub(super) inflight_longterm: u64,
}

/// Pacing-gain changes kept: a round trip rarely sees more.
const SEND_GAINS: usize = 8;

/// The pacing gain packets left with, by `C.delivered` when they left: `P.delivered` (a rate
/// sample's `prior_delivered`) finds the gain of the sample's packet.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct SendGains {
    /// `(C.delivered at the change, gain)`, the newest at `newest`.
    changes: [(u64, f64); SEND_GAINS],
    newest: usize,
}

impl Default for SendGains {
    fn default() -> Self {
        Self { changes: [(0, 1.0); SEND_GAINS], newest: 0 }
    }
}

impl SendGains {
    /// Packets leave with `gain` from now on, `delivered` having been delivered.
    pub(super) fn note(&mut self, delivered: u64, gain: f64) {
        if self.changes[self.newest].1 == gain {
            return;
        }
        self.newest = (self.newest + 1) % SEND_GAINS;
        self.changes[self.newest] = (delivered, gain);
    }

    /// The gain of a packet sent when `prior_delivered` bytes had been delivered (the oldest
    /// known if it left before every change kept).
    fn at(&self, prior_delivered: u64) -> f64 {
        let mut gain = self.changes[(self.newest + 1) % SEND_GAINS].1;
        for age in 0..SEND_GAINS {
            let (from, g) = self.changes[(self.newest + SEND_GAINS - age) % SEND_GAINS];
            if from <= prior_delivered {
                gain = g;
                break;
            }
        }
        gain
    }
}

/// Loss rounds and recovery (§2.10, §2.15, §5.6.4.4).
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct LossState {
    /// `BBR.is_loss_in_round`.
    is_loss_in_round: bool,
    /// `BBR.loss_round_delivered`.
    loss_round_delivered: u64,
    /// `BBR.loss_round_start`: this ACK ended a loss round.
    pub(super) loss_round_start: bool,
    /// When the current recovery episode began (`None`: not in recovery).
    recovery_start: Option<Instant>,
    /// `BBR.round_count` when the current recovery began.
    pub(super) recovery_round: Option<u64>,
    /// `BBR.prior_cwnd`: the last cwnd not modulated by recovery or ProbeRTT.
    prior_cwnd: u64,
    /// What a spurious recovery restores.
    pub(super) undo: Undo,
    /// The pacing gain of recent sends, for `bw_latest`.
    pub(super) send_gains: SendGains,
    /// Losses in round trips without a queue (`random_loss.rs`).
    pub(super) random: RandomLoss,
    /// Packet conservation lasts while `BBR.round_count` is at most this.
    conserve_until_round: Option<u64>,
}

impl Bbr {
    /// §5.5.10.3 UpdateLatestDeliverySignals, near the start of ACK processing, with the
    /// delivery rate read at the bandwidth it was paced for ([`Self::delivered_at_bw`]).
    pub(super) fn update_latest_delivery_signals(&mut self, rs: &Sample) {
        self.loss.loss_round_start = false;
        self.model.bw_latest = self.model.bw_latest.max(self.delivered_at_bw(rs));
        self.model.inflight_latest = self.model.inflight_latest.max(rs.delivered);
        if rs.prior_delivered >= self.loss.loss_round_delivered {
            self.loss.loss_round_delivered = self.delivered;
            self.loss.loss_round_start = true;
        }
    }

    /// §5.5.10.3 AdvanceLatestDeliverySignals, near the end of ACK processing.
    pub(super) fn advance_latest_delivery_signals(&mut self, rs: &Sample) {
        if self.loss.loss_round_start {
            self.model.bw_latest = self.delivered_at_bw(rs);
            self.model.inflight_latest = rs.delivered;
        }
    }

    /// The delivery rate of `rs` divided by the share of `bw` its packet was paced at (the
    /// pacing gain, at most 1, times the 1 % margin of §5.6.2). A departure from the draft:
    /// `bw_shortterm = max(bw_latest, Beta · bw_shortterm)` means "slow down to what the path
    /// delivered", but a flow paced at 99 % of `bw` (90 % in DOWN) delivers that much even when
    /// the path has room for `bw`, so with a loss in most rounds the bound fell by the margin
    /// each round (0.99^62 between probes) whatever the loss rate. Read against the rate it was
    /// sent at, a delivery falls short only by what was lost or queued, the response the
    /// draft's own model assumes (§5.3.3.8.3: (1 − loss_rate)^N). Measured with `lrp2p-sim
    /// sweep lossy --cc bbr` (100 Mbit/s, 40 ms, 1-BDP queue): random loss 1 % 0.809 → 0.899,
    /// 3 % 0.248 → 0.358, burst loss 0.875 → 0.896; the cost, a slower fall of the bound when
    /// the rate really halves (retransmit ratio over the 2 s after it 4.1 % → 7.0 %).
    fn delivered_at_bw(&self, rs: &Sample) -> u64 {
        let share = self.loss.send_gains.at(rs.prior_delivered).min(1.0) * PACING_MARGIN;
        f64_to_u64(rs.delivery_rate as f64 / share)
    }

    /// §5.5.10.3 ResetCongestionSignals.
    pub(super) fn reset_congestion_signals(&mut self) {
        self.loss.is_loss_in_round = false;
        self.model.bw_latest = 0;
        self.model.inflight_latest = 0;
    }

    /// §5.5.10.3 UpdateCongestionSignals, with §5.5.5 UpdateMaxBw and its §5.5.1 UpdateRound.
    pub(super) fn update_congestion_signals(&mut self, rs: &Sample) {
        if self.rounds.update(rs.prior_delivered, self.delivered) {
            self.probe.rounds_since_probe_up = self.probe.rounds_since_probe_up.saturating_add(1);
            // C.is_cwnd_limited covers the last round: the current one becomes the previous.
            self.cwnd_limited = [false, self.cwnd_limited[0]];
        }
        self.model.update_max_bw(rs.delivery_rate, rs.is_app_limited);
        self.loss.random.on_ack(rs.newly_acked, rs.rtt);
        if !self.loss.loss_round_start {
            return; // wait until the end of the round trip
        }
        self.loss.random.end_round(self.model.min_rtt);
        self.adapt_lower_bounds_from_congestion();
        self.loss.is_loss_in_round = false;
    }

    /// §5.5.10.3 AdaptLowerBoundsFromCongestion: once per round, when not probing.
    fn adapt_lower_bounds_from_congestion(&mut self) {
        if self.state.is_probing_bw() || !self.loss.is_loss_in_round {
            return;
        }
        if !self.loss.random.queue {
            return; // random loss: no queue to back off from (`random_loss.rs`)
        }
        // InitLowerBounds: the first congestion episode of this cycle.
        if self.model.bw_shortterm == INFINITE {
            self.model.bw_shortterm = self.model.max_bw;
        }
        if self.model.inflight_shortterm == INFINITE {
            self.model.inflight_shortterm = self.cwnd;
        }
        // LossLowerBounds. A departure: a round that lost more than the tolerated rate behind a
        // queue falls to what it delivered at once (no 30 % floor): the path is overfull, as
        // after its rate fell, and three rounds at 0.7 per round overflow the queue each time
        // (rate halving, retransmit ratio over the next 2 s: 3.4 → 2.9 %).
        let beta = if self.loss.random.last_fraction > self.tolerated_loss(self.cwnd) { 0.0 } else { BETA };
        self.model.bw_shortterm = self.model.bw_latest.max(scale(self.model.bw_shortterm, beta));
        self.model.inflight_shortterm =
            self.model.inflight_latest.max(scale(self.model.inflight_shortterm, beta));
    }

    /// §5.5.10.2 IsInflightTooHigh: more than the tolerated loss rate of `tx_in_flight` was
    /// lost (every LRP2P connection has selective acknowledgements).
    pub(super) fn is_inflight_too_high(&self, lost: u64, tx_in_flight: u64) -> bool {
        lost > scale(tx_in_flight, self.tolerated_loss(tx_in_flight))
    }

    /// `BBR.LossThresh`, plus the loss rate the path shows without a queue and its spread over
    /// `volume` bytes (`random_loss.rs`).
    fn tolerated_loss(&self, volume: u64) -> f64 {
        self.loss_thresh + self.loss.random.allowance(volume / self.smss)
    }

    /// §5.5.10.2 HandleInflightTooHigh: the probe put too much in flight.
    fn handle_inflight_too_high(&mut self, tx_in_flight: u64, is_app_limited: bool) {
        self.probe.prev_probe_too_high = true;
        self.probe.is_bw_probe_sample = false; // only react once per probe
        if !is_app_limited {
            self.model.inflight_longterm = tx_in_flight.max(scale(self.target_inflight(), BETA));
        }
        if self.state == BbrState::ProbeBwUp {
            self.loss.undo.state = Some(BbrState::ProbeBwUp);
            self.start_probe_bw_down();
        }
    }

    /// §5.5.10.2 NoteLoss.
    fn note_loss(&mut self) {
        if !self.loss.is_loss_in_round {
            // The first loss in this round trip.
            self.loss.loss_round_delivered = self.delivered;
            self.save_state_upon_loss();
        }
        self.loss.is_loss_in_round = true;
    }

    /// §5.5.10.2 HandleLostPacket, with §5.6.4.4 OnEnterFastRecovery for the first loss of an
    /// episode.
    pub(super) fn handle_lost_packet(&mut self, p: &LostPacket) {
        if self.loss.recovery_start.is_none_or(|start| p.sent > start) {
            self.on_enter_fast_recovery();
        }
        self.note_loss();
        self.loss.random.on_lost(p.bytes);
        if !self.probe.is_bw_probe_sample {
            return; // not a packet sent while probing bandwidth
        }
        if self.is_inflight_too_high(p.lost_since_sent, p.tx_in_flight) {
            let at_loss = self.inflight_at_loss(p.bytes, p.tx_in_flight, p.lost_since_sent);
            self.handle_inflight_too_high(at_loss, p.is_app_limited);
        }
    }

    /// §5.5.10.2 InflightAtLoss: the volume in flight at which losses crossed
    /// `BBR.LossThresh`, within the packet of `size` bytes sent with `tx_in_flight` in flight
    /// and `lost` lost since:
    /// `lost_prefix = (LossThresh · inflight_prev − lost_prev) / (1 − LossThresh)`.
    fn inflight_at_loss(&self, size: u64, tx_in_flight: u64, lost: u64) -> u64 {
        let inflight_prev = tx_in_flight.saturating_sub(size) as f64;
        let lost_prev = lost.saturating_sub(size) as f64;
        let thresh = self.tolerated_loss(tx_in_flight);
        let lost_prefix = (thresh * inflight_prev - lost_prev) / (1.0 - thresh);
        f64_to_u64(inflight_prev + lost_prefix)
    }

    /// ACK processing's part of §5.3.1.3: an ACK that declared losses is one loss event.
    pub(super) fn note_ack_losses(&mut self, lost_bytes: u64) {
        if lost_bytes > 0 {
            self.full.loss_events_in_round = self.full.loss_events_in_round.saturating_add(1);
        }
    }

    /// Packet conservation (RFC 5681 §3.2, Linux BBR's first round of recovery; not in
    /// draft-06): in the round trip after losses behind a standing queue (every RTT sample of
    /// the last round above `min_rtt` by the queue threshold) began a recovery episode, each
    /// ACK lets out only what it acknowledged, so retransmissions enter a queue that stopped
    /// growing instead of overflowing it again. A single sample's rise is not enough: on a
    /// jittery path (the `lrp2p demo` relay on loopback, 1 % loss, no rate limit) conservation
    /// then held nearly every recovery and the demo took 12–17 s instead of 1.4–2.5 s.
    pub(super) fn conserve_cwnd(&mut self, newly_acked: u64) {
        let Some(until) = self.loss.conserve_until_round else { return };
        if self.rounds.count > until || !self.in_loss_recovery() {
            self.loss.conserve_until_round = None;
            return;
        }
        let conserved = self.inflight.saturating_add(newly_acked).max(self.min_pipe_cwnd());
        self.cwnd = self.cwnd.min(conserved);
    }

    /// Whether a loss recovery episode is under way (`InLossRecovery()`).
    fn in_loss_recovery(&self) -> bool {
        self.loss.recovery_start.is_some()
    }

    /// §5.6.4.4 OnEnterFastRecovery.
    fn on_enter_fast_recovery(&mut self) {
        if self.loss.random.standing {
            self.loss.conserve_until_round = Some(self.rounds.count.saturating_add(1));
        }
        self.save_cwnd();
        self.save_state_upon_loss();
        self.loss.recovery_start = Some(self.now);
        self.loss.recovery_round.get_or_insert(self.rounds.count);
    }

    /// §5.6.4.4: recovery ends when a packet sent after it began is acknowledged; cwnd goes
    /// back to what it was (the model bounds it at the end of the ACK).
    pub(super) fn check_recovery_exit(&mut self, largest_acked_sent: Option<Instant>) {
        let Some(start) = self.loss.recovery_start else { return };
        if largest_acked_sent.is_some_and(|sent| sent > start) {
            self.loss.recovery_start = None;
            self.loss.recovery_round = None;
            self.restore_cwnd();
        }
    }

    /// §5.6.4.4 OnEnterRTO: nothing is in flight any more (the connection marked it lost), so
    /// cwnd becomes one SMSS; the episode ends like a fast recovery.
    pub(super) fn on_enter_rto(&mut self) {
        self.save_cwnd();
        self.save_state_upon_loss();
        self.inflight = 0;
        self.cwnd = self.inflight.saturating_add(self.smss);
        self.loss.recovery_start = Some(self.now);
        self.loss.recovery_round.get_or_insert(self.rounds.count);
    }

    /// §5.5.11.1 SaveStateUponLoss.
    fn save_state_upon_loss(&mut self) {
        self.save_cwnd();
        self.loss.undo = Undo {
            state: None,
            bw_shortterm: self.model.bw_shortterm,
            inflight_shortterm: self.model.inflight_shortterm,
            inflight_longterm: self.model.inflight_longterm,
        };
    }

    /// §5.6.4.4 SaveCwnd: the last cwnd not modulated by recovery or ProbeRTT.
    pub(super) fn save_cwnd(&mut self) {
        if !self.in_loss_recovery() && self.state != BbrState::ProbeRtt {
            self.loss.prior_cwnd = self.cwnd;
        } else {
            self.loss.prior_cwnd = self.loss.prior_cwnd.max(self.cwnd);
        }
    }

    /// §5.6.4.4 RestoreCwnd.
    pub(super) fn restore_cwnd(&mut self) {
        self.cwnd = self.cwnd.max(self.loss.prior_cwnd);
    }

    /// §5.5.11.2 HandleSpuriousLossDetection: the losses were not: restore cwnd and the
    /// bounds, and return to the probing state the losses ended. Recovery is over.
    pub(super) fn handle_spurious_loss_detection(&mut self) {
        self.restore_cwnd();
        self.loss.is_loss_in_round = false;
        self.full.reset();
        let undo = self.loss.undo;
        self.model.bw_shortterm = self.model.bw_shortterm.max(undo.bw_shortterm);
        self.model.inflight_shortterm = self.model.inflight_shortterm.max(undo.inflight_shortterm);
        self.model.inflight_longterm = self.model.inflight_longterm.max(undo.inflight_longterm);
        match undo.state {
            Some(BbrState::Startup) if self.state != BbrState::Startup => {
                self.full.reached = false;
                if self.state != BbrState::ProbeRtt {
                    self.enter_startup();
                }
            }
            Some(BbrState::ProbeBwUp) if !matches!(self.state, BbrState::ProbeBwUp | BbrState::ProbeRtt) => {
                self.start_probe_bw_refill();
            }
            _ => {}
        }
        self.loss.undo.state = None;
        self.loss.recovery_start = None;
        self.loss.recovery_round = None;
    }
}
