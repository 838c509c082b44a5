//! HyStart++ (RFC 9406): leaving slow start when the round-trip time starts to rise, before
//! the queue overflows, instead of after a window's worth of losses. RFC 9438 §4.10 recommends
//! it for CUBIC.
//!
//! Rounds are delimited by send times: a round ends when a packet sent after it began is
//! acknowledged (RFC 9406 §4.2 uses SND.NXT; a send time is the same boundary).
//!
//! Three departures from RFC 9406, each measured on the simulator's long-RTT sweep
//! (`lrp2p-sim sweep long-rtt`: 20 and 100 Mbit/s, 10–600 ms, one-BDP queue), where the RFC's
//! rules let the window double past what the path and its queue hold before slow start ended:
//! - The rise is also seen within a round: N_RTT_SAMPLE rising samples in a row, each at least
//!   MIN_RTT_THRESH above the last round's minimum (`on_ack`).
//! - Conservative slow start keeps the unrisen minimum as its baseline (`enter_css`), because
//!   the caller cuts the window when the rise is seen, and the queue drains.
//! - Conservative slow start ends early when the queue builds again (`on_ack`), instead of
//!   growing 25 % per round for all of CSS_ROUNDS (which triples the window).

use std::time::{Duration, Instant};

/// RFC 9406 §4.3: MIN_RTT_THRESH.
const MIN_RTT_THRESH: Duration = Duration::from_millis(4);
/// RFC 9406 §4.3: MAX_RTT_THRESH.
const MAX_RTT_THRESH: Duration = Duration::from_millis(16);
/// RFC 9406 §4.3: MIN_RTT_DIVISOR.
const MIN_RTT_DIVISOR: u32 = 8;
/// RFC 9406 §4.3: N_RTT_SAMPLE.
pub(crate) const N_RTT_SAMPLE: u32 = 8;
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
    /// The previous RTT sample.
    previous_sample: Option<Duration>,
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
            previous_sample: None,
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
            let rising = self.previous_sample.is_none_or(|previous| rtt >= previous);
            let risen = self.last_round_min_rtt.is_some_and(|last| rtt >= last + MIN_RTT_THRESH);
            self.above = if risen && rising { self.above + 1 } else { 0 };
            self.previous_sample = Some(rtt);
        }
        // Beyond RFC 9406 §4.2, which compares the whole round's minimum: the last
        // N_RTT_SAMPLE samples in a row, each at least MIN_RTT_THRESH above the last round's
        // minimum and none below the one before, also count as the rise. With a paced sender the
        // queue fills *within* the round that crosses the path's capacity, while that round's
        // minimum still comes from its first, unqueued packets; waiting for the next round, or
        // for the queue to reach RttThresh (16 ms on long paths), lets the window double past
        // what a one-BDP queue holds, since the rise is seen only a round trip after it began.
        // A queue that builds shows as samples that only grow; N of them in a row keep it robust
        // to jitter.
        if self.phase == Phase::SlowStart && self.above >= N_RTT_SAMPLE {
            self.enter_css();
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
                    self.enter_css();
                }
            }
            Phase::Conservative => {
                let Some(base) = self.css_baseline_min_rtt else { return self.phase };
                if current < base {
                    // RFC 9406 §4.2: the RTT fell back below the baseline: the rise was spurious.
                    self.css_baseline_min_rtt = None;
                    self.phase = Phase::SlowStart;
                } else if self.css_rounds >= 2 && current >= base + threshold(base) {
                    // Beyond RFC 9406: the queue has built again in a round sent entirely after
                    // CSS began (the round in progress at entry and the next one still carry
                    // packets sent before the caller cut the window, as a round ends with the
                    // acknowledgement of the first packet sent after it began): the window is
                    // past the path's capacity, and the
                    // remaining CSS rounds would only overflow the queue (25 % growth per round
                    // for CSS_ROUNDS rounds triples the window; a one-BDP queue holds twice).
                    self.phase = Phase::Exit;
                }
            }
            Phase::Exit => {}
        }
        self.phase
    }
}

impl HyStart {
    /// Enters conservative slow start (RFC 9406 §4.2).
    ///
    /// The baseline is the minimum RTT of the last round before the rise, not RFC 9406's
    /// `currentRoundMinRTT`: the caller cuts the window to what the path delivered in a round
    /// when the rise is seen (see `Cubic::on_ack`), which drains the queue the rise came from,
    /// so the RTT falls back below the risen minimum by design and RFC 9406's spurious-rise test
    /// would resume slow start at once. Against the unrisen minimum, only a fall below the path's
    /// own RTT counts as spurious, and a new rise by RttThresh (see `on_ack`) as the capacity.
    fn enter_css(&mut self) {
        self.css_baseline_min_rtt = self.last_round_min_rtt.or(self.current_round_min_rtt);
        self.css_rounds = 0;
        self.phase = Phase::Conservative;
    }
}

/// RFC 9406 §4.2: RttThresh = max(MIN_RTT_THRESH, min(lastRoundMinRTT / MIN_RTT_DIVISOR,
/// MAX_RTT_THRESH)).
pub(crate) fn threshold(last_round_min: Duration) -> Duration {
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

    /// What the path holds without a queue, estimated when the RTT has just risen: the larger
    /// of [`delivered_per_round`](Self::delivered_per_round) and the rate at which the round in
    /// progress has been delivered, times the minimum RTT. The last complete round was sent
    /// before the path was full and delivered less than it holds; the round in progress crosses
    /// the capacity, and once the queue builds its bytes arrive at the bottleneck's rate.
    pub(crate) fn capacity_estimate(&self, now: Instant, min_rtt: Option<Duration>) -> Option<u64> {
        let per_round = self.delivered_per_round()?;
        let (Some(start), Some(min_rtt)) = (self.round_start, min_rtt) else { return Some(per_round) };
        let elapsed = now.saturating_duration_since(start);
        if elapsed < min_rtt / 4 {
            // Too short a stretch to measure a rate on.
            return Some(per_round);
        }
        let rate = self.delivered as f64 / elapsed.as_secs_f64();
        Some(per_round.max(super::f64_to_u64(rate * min_rtt.as_secs_f64())))
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

    /// Feeds one round of `n` acknowledgements, sent 1 ms apart from `start`, with RTT samples
    /// from `rtt(i)`; returns when the round ended and the phase after it.
    fn round(h: &mut HyStart, start: Instant, n: u64, rtt: impl Fn(u64) -> Duration) -> (Instant, Phase) {
        let mut phase = h.phase;
        let mut last = start;
        for i in 0..n {
            let sent = start + Duration::from_millis(i);
            last = sent + rtt(i);
            phase = h.on_ack(last, sent, 1000, Some(rtt(i)));
        }
        (last, phase)
    }

    #[test]
    fn a_queue_building_within_a_round_enters_css_and_stays_there() {
        #[allow(clippy::disallowed_methods)] // an origin; only differences matter
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut h = HyStart::default();
        let (end, _) = round(&mut h, t0, 20, |_| ms(200));
        // The next round's RTT climbs steadily as the queue fills: 8 rising samples 4 ms or more
        // above the last round's minimum are the rise, long before the round's minimum moves.
        let (end, phase) = round(&mut h, end, 20, |i| ms(200 + 2 * i));
        assert_eq!(phase, Phase::Conservative);
        // The caller then cuts the window and the queue drains: samples fall back to the path's
        // RTT. That is not a spurious rise (the baseline is the unrisen minimum): CSS stays.
        let (_, phase) = round(&mut h, end, 20, |_| ms(201));
        assert_eq!(phase, Phase::Conservative);
        assert_eq!(h.css_baseline_min_rtt, Some(ms(200)));
    }

    #[test]
    fn jitter_without_a_trend_does_not_end_slow_start() {
        #[allow(clippy::disallowed_methods)] // an origin; only differences matter
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut h = HyStart::default();
        let mut end = t0;
        for _ in 0..10 {
            // ±6 ms around 200 ms, never eight in a row rising.
            let (e, phase) = round(&mut h, end, 20, |i| ms(200 + [0, 6, 2, 5, 1, 6, 3][(i % 7) as usize]));
            assert_eq!(phase, Phase::SlowStart);
            end = e;
        }
    }

    #[test]
    fn css_ends_early_when_the_queue_builds_again() {
        #[allow(clippy::disallowed_methods)] // an origin; only differences matter
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut h = HyStart::default();
        let (end, _) = round(&mut h, t0, 20, |_| ms(100));
        let (end, phase) = round(&mut h, end, 20, |i| ms(100 + i));
        assert_eq!(phase, Phase::Conservative);
        // Two rounds at the path's RTT (the window was cut), then the round minimum rises by
        // RttThresh (12.5 ms at 100 ms) over the baseline: the window passed the capacity.
        let (end, _) = round(&mut h, end, 20, |_| ms(101));
        let (end, phase) = round(&mut h, end, 20, |_| ms(102));
        assert_eq!(phase, Phase::Conservative);
        let (_, phase) = round(&mut h, end, 20, |_| ms(114));
        assert_eq!(phase, Phase::Exit);
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
