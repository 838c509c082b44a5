//! Startup and Drain (draft-ietf-ccwg-bbr-06 §5.3.1, §5.3.2): an exponential search of the
//! rate space, left when the bandwidth stops growing (three rounds below +25 %, §5.3.1.2) or
//! when losses say the pipe is full (§5.3.1.3), then a round or so at half the rate to drain
//! the queue the search built.
//!
//! The bandwidth-plateau estimator also ends ProbeBW_UP (§5.3.3.7); `full_bw_now` is its
//! verdict for the current search, `full_bw_reached` whether any search ever filled the pipe.

use std::time::Duration;

use super::{Bbr, BbrState, Sample};
use crate::congestion::hystart;

/// §5.3.1.2: a round counts as growth if the bandwidth rose by at least 25 %.
const FULL_BW_GROWTH: f64 = 1.25;

/// §5.3.1.2: the pipe is full after three rounds without such growth.
const FULL_BW_COUNT: u32 = 3;

/// §5.3.1.3: `BBRStartupFullLossCnt`, lost ranges (here: ACKs declaring losses) in a round.
const STARTUP_FULL_LOSS_COUNT: u32 = 6;

/// [`Bbr::check_startup_queue`]: a queue of `QUEUE_RTT_DEEP` times HyStart++'s threshold ends Startup even while the rate
/// still grows: 30 ms at 40 ms, 96 ms at 600 ms (where one more round of Startup overflowed a
/// one-BDP buffer: 0.504 of the link with a retransmission timeout, 0.558 without), 24 ms at
/// 20 ms. A well-behaved neighbour keeps less (1.25 BDP in flight: a quarter of `min_rtt`).
const QUEUE_RTT_DEEP: u32 = 6;

/// §5.3.2: Drain gives up after this many rounds even if the queue did not drain.
const DRAIN_MAX_ROUNDS: u64 = 3;

/// The full-pipe estimator (§2.13) and Startup's loss counter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct FullPipe {
    /// `BBR.full_bw`: the baseline the next round must beat by 25 %.
    bw: u64,
    /// `BBR.full_bw_count`: rounds without that growth.
    count: u32,
    /// `BBR.full_bw_now`: the current search filled the pipe.
    pub(super) now: bool,
    /// `BBR.full_bw_reached`: some search filled the pipe.
    pub(super) reached: bool,
    /// `BBR.drain_start_round`.
    drain_start_round: u64,
    /// ACKs that declared losses in the current loss round (for §5.3.1.3).
    pub(super) loss_events_in_round: u32,
    /// The least RTT sampled in the current round, and how many samples it saw (for
    /// [`Bbr::check_startup_queue`]).
    round_min_rtt: Option<Duration>,
    round_samples: u32,
}

impl FullPipe {
    /// §5.3.1.2 ResetFullBW.
    pub(super) fn reset(&mut self) {
        self.bw = 0;
        self.count = 0;
        self.now = false;
    }

    /// Sets `BBR.full_bw`, the baseline (ProbeBW_UP starts from the current rate).
    pub(super) fn set_baseline(&mut self, bw: u64) {
        self.bw = bw;
    }
}

impl Bbr {
    /// §5.3.1.1 EnterStartup (the gains follow from the state, [`BbrState::gains`]).
    pub(super) fn enter_startup(&mut self) {
        self.state = BbrState::Startup;
    }

    /// §5.3.1.2 CheckFullBWReached: once per round, on samples that are not application
    /// limited, is the bandwidth still growing by 25 % per round?
    pub(super) fn check_full_bw_reached(&mut self, rs: &Sample) {
        if self.full.now || !self.rounds.round_start || rs.is_app_limited {
            return;
        }
        let threshold = super::model::scale(self.full.bw, FULL_BW_GROWTH);
        if rs.delivery_rate >= threshold {
            // Still growing: a new baseline.
            self.full.reset();
            self.full.bw = rs.delivery_rate;
            return;
        }
        self.full.count = self.full.count.saturating_add(1);
        self.full.now = self.full.count >= FULL_BW_COUNT;
        if self.full.now {
            self.full.reached = true;
        }
    }

    /// §5.3.1 CheckStartupDone.
    pub(super) fn check_startup_done(&mut self, rs: &Sample) {
        self.check_startup_high_loss(rs);
        self.check_startup_queue(rs);
        if self.state == BbrState::Startup && self.full.reached {
            self.enter_drain();
        }
    }

    /// §5.3.1.3 CheckStartupHighLoss: at the end of a round of a recovery that began at least
    /// a round ago, a loss rate above `BBR.LossThresh` over six or more loss events means the
    /// pipe is full; `inflight_longterm` takes what the path held.
    fn check_startup_high_loss(&mut self, rs: &Sample) {
        if self.state != BbrState::Startup || self.full.reached || !self.loss.loss_round_start {
            return;
        }
        let high = self.loss.recovery_round.is_some_and(|round| round < self.rounds.count)
            && self.full.loss_events_in_round >= STARTUP_FULL_LOSS_COUNT
            && self.is_inflight_too_high(rs.lost, rs.tx_in_flight);
        self.full.loss_events_in_round = 0;
        if high {
            self.loss.undo.state = Some(BbrState::Startup);
            self.full.reached = true;
            let bdp = self.model.bdp_multiple(self.model.bw, 1.0).unwrap_or(0);
            self.model.inflight_longterm = bdp.max(self.model.inflight_latest);
        }
    }

    /// A departure from the draft: Startup also ends when every RTT sample of a round so far,
    /// eight at least, lay above `min_rtt` by HyStart++'s threshold (RFC 9406 §4.3: min_rtt /
    /// 8, clamped to 4–16 ms) and the last round did not raise the bandwidth by 25 %. Pacing at
    /// 2.77 × the delivery rate, a round whose every packet met a queue means the bottleneck is
    /// already full: the draft's plateau rule waits two more rounds, in which the queue grows to
    /// what cwnd allows (one BDP) and overflows a buffer of that size (`lrp2p-sim sweep lossy
    /// --cc bbr`). The growth condition is for a flow that starts beside another: it meets that
    /// flow's queue while its own rate still doubles, and leaving Startup there left it at a
    /// fraction of its share (two flows 1 s apart: Jain 0.84 → 0.93). A deep queue
    /// ([`QUEUE_RTT_DEEP`]) ends Startup without it.
    fn check_startup_queue(&mut self, rs: &Sample) {
        if self.state != BbrState::Startup || self.full.reached {
            return;
        }
        if self.rounds.round_start {
            self.full.round_min_rtt = None;
            self.full.round_samples = 0;
        }
        self.full.round_min_rtt = Some(self.full.round_min_rtt.map_or(rs.rtt, |min| min.min(rs.rtt)));
        self.full.round_samples = self.full.round_samples.saturating_add(1);
        let (Some(round_min), Some(min_rtt)) = (self.full.round_min_rtt, self.model.min_rtt) else {
            return;
        };
        let threshold = hystart::threshold(min_rtt);
        // The bandwidth did not grow by 25 % over the last round either (a flow that starts
        // beside another meets that flow's queue while its own rate still doubles).
        let plateau = self.full.count >= 1;
        let rise = round_min.saturating_sub(min_rtt);
        let queued = rise >= threshold && plateau || rise >= threshold * QUEUE_RTT_DEEP;
        if self.full.round_samples >= hystart::N_RTT_SAMPLE && queued {
            // check_startup_done enters Drain.
            self.full.now = true;
            self.full.reached = true;
        }
    }

    /// §5.3.2 EnterDrain.
    fn enter_drain(&mut self) {
        self.state = BbrState::Drain;
        self.full.drain_start_round = self.rounds.count;
    }

    /// §5.3.2 CheckDrainDone: the queue is gone (no more than a BDP in flight), or three
    /// rounds passed.
    pub(super) fn check_drain_done(&mut self) {
        if self.state == BbrState::Drain
            && (self.inflight <= self.inflight_for(self.model.bw, 1.0)
                || self.rounds.count > self.full.drain_start_round.saturating_add(DRAIN_MAX_ROUNDS))
        {
            self.enter_probe_bw();
        }
    }
}
