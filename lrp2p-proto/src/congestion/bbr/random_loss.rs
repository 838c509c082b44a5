//! Telling random loss from congestion: a departure from draft-ietf-ccwg-bbr-06, which reads
//! every loss as a sign of a full queue.
//!
//! A buffer overflows only when it is full, and a full buffer delays every packet through it.
//! So a round trip in which some packets were lost but none met a queue (its largest RTT
//! sample stays within [`queue_threshold`] of `min_rtt`) lost them to something else: radio,
//! a noisy line, a policer's random early drop. Over such rounds the controller keeps
//! `noise`, a moving average of the fraction lost (weight 1/4 per round trip), and
//!
//! - the loss rate a probe tolerates (`IsInflightTooHigh`, §5.5.10.2; Startup's high-loss
//!   exit, §5.3.1.3) becomes `BBR.LossThresh + noise` (at most [`MAX_NOISE`] more): a probe
//!   stops when it loses more than the path loses anyway, not when the path's own loss rate
//!   passes 2 %;
//! - a lossy round trip without a queue leaves the short-term bounds alone
//!   (§5.5.10.3 AdaptLowerBoundsFromCongestion): they exist to back off from a queue that
//!   is not there.
//!
//! A round in which *every* sample met a queue (`standing`) shows a queue that jitter alone
//! does not make; packet conservation after losses waits for that (`loss.rs`).
//!
//! A flow that shares a drop-tail buffer with a loss-based flow sees the queue that flow
//! keeps, so its losses count as congestion exactly as the draft says, and the coexistence
//! floor (`lrp2p-sim sweep lossy`, BBR + CUBIC) is unchanged. Measured with that sweep
//! (100 Mbit/s, 40 ms, 1-BDP buffer, 100 MB): see the README's BBR table.

use std::time::Duration;

/// The largest loss rate, beyond `BBR.LossThresh`, that rounds without a queue may add to the
/// tolerance: above it the path is too lossy for any bound to mean much.
pub(super) const MAX_NOISE: f64 = 0.10;

/// The least RTT samples a round needs to show a standing queue.
const STANDING_SAMPLES: u32 = 8;

/// The weight of the newest round trip in the average.
const GAIN: f64 = 0.25;

/// The smallest RTT rise that counts as a queue: `min_rtt / 16`, at least 1 ms (2.5 ms on a
/// 40 ms path; a 0.1-BDP buffer there holds 4 ms).
pub(super) fn queue_threshold(min_rtt: Duration) -> Duration {
    (min_rtt / 16).max(Duration::from_millis(1))
}

/// One round trip's losses and its largest RTT, and the average over rounds without a queue.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct RandomLoss {
    /// Bytes declared lost in the current round.
    lost: u64,
    /// Bytes acknowledged in the current round.
    delivered: u64,
    /// The largest and the least RTT sample of the current round, and how many it had.
    max_rtt: Duration,
    min_rtt: Option<Duration>,
    samples: u32,
    /// Whether some RTT sample of the last complete round met a queue.
    pub(super) queue: bool,
    /// Whether every RTT sample of the last complete round (eight at least) met a queue: a
    /// standing queue, which jitter alone does not make.
    pub(super) standing: bool,
    /// The moving average of the fraction lost over rounds without a queue.
    pub(super) noise: f64,
    /// The fraction lost in the last complete round.
    pub(super) last_fraction: f64,
    /// Rounds averaged into `noise` so far (up to 1 / GAIN).
    rounds: u32,
}

impl RandomLoss {
    /// `bytes` were declared lost.
    pub(super) fn on_lost(&mut self, bytes: u64) {
        self.lost = self.lost.saturating_add(bytes);
    }

    /// An ACK acknowledged `bytes` with an RTT sample of `rtt`.
    pub(super) fn on_ack(&mut self, bytes: u64, rtt: Duration) {
        self.delivered = self.delivered.saturating_add(bytes);
        self.max_rtt = self.max_rtt.max(rtt);
        self.min_rtt = Some(self.min_rtt.map_or(rtt, |least| least.min(rtt)));
        self.samples = self.samples.saturating_add(1);
    }

    /// A round trip ended: it met a queue if its largest RTT rose above `min_rtt` by
    /// [`queue_threshold`]; if not, its loss fraction enters the average.
    pub(super) fn end_round(&mut self, min_rtt: Option<Duration>) {
        self.queue = min_rtt.is_none_or(|min| self.max_rtt > min + queue_threshold(min));
        self.standing = self.samples >= STANDING_SAMPLES
            && min_rtt.zip(self.min_rtt).is_some_and(|(min, least)| least > min + queue_threshold(min));
        let total = self.lost.saturating_add(self.delivered);
        self.last_fraction = if total > 0 { self.lost as f64 / total as f64 } else { 0.0 };
        if !self.queue && total > 0 {
            // A plain average over the first rounds, so that Startup already sees the noise.
            self.rounds = self.rounds.saturating_add(1);
            let gain = (1.0 / f64::from(self.rounds)).max(GAIN);
            self.noise += gain * (self.last_fraction - self.noise);
        }
        (self.lost, self.delivered, self.max_rtt) = (0, 0, Duration::ZERO);
        (self.min_rtt, self.samples) = (None, 0);
    }

    /// The loss rate tolerated beyond `BBR.LossThresh` over `packets` packets: the noise, and
    /// two standard deviations of the fraction of `packets` it loses (binomial): a check over
    /// a round of a small window sees the noise's spread as well as its mean.
    pub(super) fn allowance(&self, packets: u64) -> f64 {
        let noise = self.noise.clamp(0.0, MAX_NOISE);
        let spread = (noise * (1.0 - noise) / packets.max(1) as f64).sqrt();
        noise + 2.0 * spread
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn losses_without_a_queue_raise_the_allowance_and_losses_behind_one_do_not() {
        let mut r = RandomLoss::default();
        // Ten rounds losing 3 % with the RTT flat at 40 ms.
        for _ in 0..10 {
            r.on_lost(3_000);
            r.on_ack(97_000, 40 * MS + MS);
            r.end_round(Some(40 * MS));
            assert!(!r.queue);
        }
        assert!((r.allowance(1 << 40) - 0.03).abs() < 0.002, "{}", r.allowance(1 << 40));
        // Over a window of 123 packets the fraction lost spreads by 1.5 % (one deviation).
        let small = r.allowance(123);
        assert!((small - 0.061).abs() < 0.003, "{small}");
        // Rounds behind a queue (RTT 50 ms) lose 20 %: the average stays.
        for _ in 0..10 {
            r.on_lost(20_000);
            r.on_ack(80_000, 50 * MS);
            r.end_round(Some(40 * MS));
            assert!(r.queue);
        }
        assert!((r.allowance(1 << 40) - 0.03).abs() < 0.002, "{}", r.allowance(1 << 40));
        // Clean rounds without a queue bring it down; heavy noise is capped.
        for _ in 0..20 {
            r.on_ack(100_000, 40 * MS);
            r.end_round(Some(40 * MS));
        }
        assert!(r.allowance(1 << 40) < 0.001);
        for _ in 0..20 {
            r.on_lost(50_000);
            r.on_ack(50_000, 40 * MS);
            r.end_round(Some(40 * MS));
        }
        assert!((r.allowance(1 << 40) - MAX_NOISE).abs() < 1e-3);
    }

    #[test]
    fn jitter_is_a_queue_seen_but_not_a_standing_one() {
        let mut r = RandomLoss::default();
        // Samples between 40 and 44 ms: some met a "queue", the least did not.
        for i in 0..10u32 {
            r.on_ack(1_000, 40 * MS + MS * (i % 5));
        }
        r.end_round(Some(40 * MS));
        assert!(r.queue && !r.standing);
        // Every sample 10 ms above the minimum: a standing queue.
        for i in 0..10u32 {
            r.on_ack(1_000, 50 * MS + MS * (i % 3));
        }
        r.end_round(Some(40 * MS));
        assert!(r.queue && r.standing);
        // Too few samples to tell.
        for _ in 0..3 {
            r.on_ack(1_000, 50 * MS);
        }
        r.end_round(Some(40 * MS));
        assert!(r.queue && !r.standing);
    }

    #[test]
    fn the_queue_threshold_is_a_sixteenth_of_min_rtt_and_at_least_a_millisecond() {
        assert_eq!(queue_threshold(40 * MS), Duration::from_micros(2500));
        assert_eq!(queue_threshold(4 * MS), MS);
        // No RTT yet: every round counts as queued (the draft's behaviour).
        let mut r = RandomLoss::default();
        r.on_lost(1_000);
        r.end_round(None);
        assert!(r.queue);
        assert_eq!(r.allowance(1 << 40), 0.0);
    }
}
