//! HyStart++ (RFC 9406): leaving slow start when the round-trip time starts to rise, before
//! the queue overflows, instead of after a window's worth of losses. RFC 9438 §4.10 recommends
//! it for CUBIC.
//!
//! Rounds are delimited by send times: a round ends when a packet sent after it began is
//! acknowledged (RFC 9406 §4.2 uses SND.NXT; a send time is the same boundary).

use std::time::{Duration, Instant};

/// RFC 9406 §4.3: MIN_RTT_THRESH.
const MIN_RTT_THRESH: Duration = Duration::from_millis(4);
/// RFC 9406 §4.3: MAX_RTT_THRESH.
const MAX_RTT_THRESH: Duration = Duration::from_millis(16);
/// RFC 9406 §4.3: MIN_RTT_DIVISOR.
const MIN_RTT_DIVISOR: u32 = 8;
/// RFC 9406 §4.3: N_RTT_SAMPLE.
const N_RTT_SAMPLE: u32 = 8;
/// RFC 9406 §4.3: CSS_GROWTH_DIVISOR.
pub(crate) const CSS_GROWTH_DIVISOR: u64 = 4;
/// RFC 9406 §4.3: CSS_ROUNDS.
const CSS_ROUNDS: u32 = 5;

/// Where slow start stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Standard slow start: grow by the bytes acknowledged.
    SlowStart,
    /// Conservative slow start: grow by a quarter of the bytes acknowledged.
    Conservative,
    /// Done: the caller enters congestion avoidance with ssthresh = cwnd.
    Exit,
}

/// HyStart++ state (RFC 9406 §4.2).
#[derive(Clone, Copy, Debug)]
pub(crate) struct HyStart {
    phase: Phase,
    round_start: Option<Instant>,
    last_round_min_rtt: Option<Duration>,
    current_round_min_rtt: Option<Duration>,
    rtt_sample_count: u32,
    /// Consecutive samples this round above the exit threshold (see `on_ack`).
    above: u32,
    css_baseline_min_rtt: Option<Duration>,
    css_rounds: u32,
    /// Bytes acknowledged in the current and in the last complete round.
    delivered: u64,
    last_round_delivered: Option<u64>,
}

impl Default for HyStart {
    fn default() -> Self {
        HyStart {
            phase: Phase::SlowStart,
            round_start: None,
            last_round_min_rtt: None,
            current_round_min_rtt: None,
            rtt_sample_count: 0,
            above: 0,
            css_baseline_min_rtt: None,
            css_rounds: 0,
            delivered: 0,
            last_round_delivered: None,
        }
    }
}

impl HyStart {
    /// An acknowledgement in slow start of a packet sent at `sent`, with the latest RTT sample.
    /// Returns the phase that governs this acknowledgement's growth.
    pub(crate) fn on_ack(
        &mut self,
        now: Instant,
        sent: Instant,
        bytes: u64,
        latest_rtt: Option<Duration>,
    ) -> Phase {
        // RFC 9406 §4.2: at the start of each round, remember the last round's minimum RTT.
        if self.round_start.is_none_or(|start| sent >= start) {
            if self.round_start.is_some() && self.phase == Phase::Conservative {
                self.css_rounds += 1;
                if self.css_rounds >= CSS_ROUNDS {
                    // RFC 9406 §4.2: after CSS_ROUNDS rounds of CSS, enter congestion avoidance.
                    self.phase = Phase::Exit;
                    return self.phase;
                }
            }
            if self.round_start.is_some() {
                self.last_round_delivered = Some(self.delivered);
            }
            self.delivered = 0;
            self.round_start = Some(now);
            self.last_round_min_rtt = self.current_round_min_rtt;
            self.current_round_min_rtt = None;
            self.rtt_sample_count = 0;
            self.above = 0;
        }
        self.delivered = self.delivered.saturating_add(bytes);
        if let Some(rtt) = latest_rtt {
            self.current_round_min_rtt = Some(self.current_round_min_rtt.map_or(rtt, |m| m.min(rtt)));
            self.rtt_sample_count += 1;
            let risen = self.last_round_min_rtt.is_some_and(|last| rtt >= last + threshold(last));
            self.above = if risen { self.above + 1 } else { 0 };
        }
        // Beyond RFC 9406 §4.2, which compares the whole round's minimum: the last
        // N_RTT_SAMPLE samples in a row above the threshold also count as the rise. With a paced
        // sender the queue fills *within* the round that crosses the path's capacity, while that
        // round's minimum still comes from its first, unqueued packets; waiting for the next
        // round overflows a one-BDP buffer. N consecutive samples keep it as robust to noise.
        if self.phase == Phase::SlowStart && self.above >= N_RTT_SAMPLE {
            self.css_baseline_min_rtt = latest_rtt;
            self.css_rounds = 0;
            self.phase = Phase::Conservative;
            return self.phase;
        }
        let (Some(current), true) = (self.current_round_min_rtt, self.rtt_sample_count >= N_RTT_SAMPLE)
        else {
            return self.phase;
        };
        match self.phase {
            Phase::SlowStart => {
                let Some(last) = self.last_round_min_rtt else { return self.phase };
                // RFC 9406 §4.2: a rise of the round's minimum by RttThresh ends slow start.
                if current >= last + threshold(last) {
                    self.css_baseline_min_rtt = Some(current);
                    self.css_rounds = 0;
                    self.phase = Phase::Conservative;
                }
            }
            Phase::Conservative => {
                // RFC 9406 §4.2: the RTT fell back below the baseline: the rise was spurious.
                if self.css_baseline_min_rtt.is_some_and(|base| current < base) {
                    self.css_baseline_min_rtt = None;
                    self.phase = Phase::SlowStart;
                }
            }
            Phase::Exit => {}
        }
        self.phase
    }
}

/// RFC 9406 §4.2: RttThresh = max(MIN_RTT_THRESH, min(lastRoundMinRTT / MIN_RTT_DIVISOR,
/// MAX_RTT_THRESH)).
fn threshold(last_round_min: Duration) -> Duration {
    (last_round_min / MIN_RTT_DIVISOR).clamp(MIN_RTT_THRESH, MAX_RTT_THRESH)
}

impl HyStart {
    /// The current phase.
    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    /// Bytes the path delivered in the last complete round of slow start (at least those of the
    /// round in progress): what the path held, queue included, when slow start overshot.
    pub(crate) fn delivered_per_round(&self) -> Option<u64> {
        self.last_round_delivered.map(|last| last.max(self.delivered))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rising_rtt_moves_to_conservative_then_exits_after_five_rounds() {
        #[allow(clippy::disallowed_methods)] // an origin; only differences matter
        let t0 = Instant::now();
        let mut h = HyStart::default();
        let ms = Duration::from_millis;
        let mut now = t0;
        // Round 1 at 40 ms, round 2 at 60 ms (a rise above 40/8 = 5 ms).
        for (round, rtt) in [(0u32, 40u64), (1, 60)] {
            for i in 0..10 {
                let sent = t0 + ms(u64::from(round) * 100 + i);
                now = sent + ms(rtt);
                h.on_ack(now, sent, 1000, Some(ms(rtt)));
            }
        }
        assert_eq!(h.phase, Phase::Conservative);
        for round in 2..8u64 {
            for i in 0..10 {
                let sent = now + ms(i);
                h.on_ack(sent + ms(60), sent, 1000, Some(ms(60)));
            }
            now += ms(100 + round);
        }
        assert_eq!(h.phase, Phase::Exit);
    }

    #[test]
    fn steady_rtt_stays_in_slow_start() {
        #[allow(clippy::disallowed_methods)] // an origin; only differences matter
        let t0 = Instant::now();
        let mut h = HyStart::default();
        let ms = Duration::from_millis;
        for round in 0..10u64 {
            for i in 0..20 {
                let sent = t0 + ms(round * 100 + i);
                assert_eq!(h.on_ack(sent + ms(40), sent, 1000, Some(ms(40 + i % 3))), Phase::SlowStart);
            }
        }
    }
}
