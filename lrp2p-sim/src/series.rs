//! Time series of a transfer and the figures read from them: goodput and retransmissions over
//! a window of time, how long the flows took to run at a new link rate, and fairness over the
//! stretch when several flows competed.
//!
//! A [`FlowSeries`] holds one flow's cumulative counters every [`SERIES_INTERVAL`] of simulated
//! time since the start of the run: point `k` is the state at `k · interval`. Between two points
//! the delivered bytes are interpolated linearly, so a window need not fall on the grid.

use std::time::Duration;

use crate::config::LinkConfig;
use crate::summary::{AfterChange, jain_fairness};

/// How often a flow's counters are recorded.
pub const SERIES_INTERVAL: Duration = Duration::from_millis(100);

/// The length of the sliding window [`recovery_time`] judges the rate over.
pub const RECOVERY_WINDOW: Duration = Duration::from_millis(500);

/// The fraction of a new link rate a flow must reach for [`recovery_time`] in
/// [`after_change`].
pub const RECOVERY_FRACTION: f64 = 0.85;

/// The span after a link change over which [`after_change`] counts retransmissions.
pub const AFTER_CHANGE_SPAN: Duration = Duration::from_secs(2);

/// One flow's cumulative counters at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeriesPoint {
    /// Application bytes the receiver has read.
    pub delivered: u64,
    /// DATA segments the sender has sent, retransmissions included.
    pub segments_sent: u64,
    /// DATA segments the sender has retransmitted.
    pub retransmits: u64,
}

/// One flow's counters every `interval` since the start of the run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FlowSeries {
    /// The spacing of the points.
    pub interval: Duration,
    /// Point `k` is the state at `k · interval`; beyond the last point nothing changed.
    pub points: Vec<SeriesPoint>,
}

impl FlowSeries {
    /// A series of `points` spaced [`SERIES_INTERVAL`] apart.
    pub fn new(points: Vec<SeriesPoint>) -> Self {
        Self { interval: SERIES_INTERVAL, points }
    }

    /// The point index at or before `t` and the fraction of the way to the next one.
    fn locate(&self, t: Duration) -> (usize, f64) {
        // In whole nanoseconds: a float quotient would put 0.3 s before the point at 0.3 s.
        let step = self.interval.as_nanos();
        if step == 0 {
            return (self.points.len().saturating_sub(1), 0.0);
        }
        let (k, rest) = (t.as_nanos() / step, t.as_nanos() % step);
        (usize::try_from(k).unwrap_or(usize::MAX), rest as f64 / step as f64)
    }

    fn point(&self, k: usize) -> SeriesPoint {
        self.points.get(k).or(self.points.last()).copied().unwrap_or_default()
    }

    /// Bytes delivered by `t`, interpolated between the points.
    pub fn delivered_at(&self, t: Duration) -> f64 {
        let (k, frac) = self.locate(t);
        let (a, b) = (self.point(k).delivered as f64, self.point(k + 1).delivered as f64);
        a + (b - a) * frac
    }

    /// Bytes delivered in `[from, to]`.
    pub fn delivered_between(&self, from: Duration, to: Duration) -> f64 {
        (self.delivered_at(to) - self.delivered_at(from)).max(0.0)
    }

    /// Goodput in bit/s over `[from, to]` (0 for an empty window).
    pub fn goodput_bps(&self, from: Duration, to: Duration) -> f64 {
        if to <= from {
            return 0.0;
        }
        self.delivered_between(from, to) * 8.0 / (to - from).as_secs_f64()
    }

    /// Retransmitted over all DATA segments sent in `[from, to]`, on the grid (the points at or
    /// before each end); 0 if none was sent.
    pub fn retransmit_ratio(&self, from: Duration, to: Duration) -> f64 {
        let (a, b) = (self.point(self.locate(from).0), self.point(self.locate(to).0));
        let sent = b.segments_sent.saturating_sub(a.segments_sent);
        let retransmits = b.retransmits.saturating_sub(a.retransmits);
        if sent == 0 { 0.0 } else { retransmits as f64 / sent as f64 }
    }

    /// The flows added up, point by point (the shorter ones hold their last point).
    pub fn sum(flows: &[FlowSeries]) -> FlowSeries {
        let len = flows.iter().map(|f| f.points.len()).max().unwrap_or(0);
        let points = (0..len)
            .map(|k| {
                flows.iter().map(|f| f.point(k)).fold(SeriesPoint::default(), |acc, p| SeriesPoint {
                    delivered: acc.delivered + p.delivered,
                    segments_sent: acc.segments_sent + p.segments_sent,
                    retransmits: acc.retransmits + p.retransmits,
                })
            })
            .collect();
        FlowSeries { interval: flows.first().map_or(SERIES_INTERVAL, |f| f.interval), points }
    }
}

/// When the flows all competed: from the latest first byte to the earliest last byte of
/// `spans` (each flow's `(first, last)` delivery time); `None` if they never overlapped.
pub fn overlap(spans: &[(Duration, Duration)]) -> Option<(Duration, Duration)> {
    let from = spans.iter().map(|s| s.0).max()?;
    let to = spans.iter().map(|s| s.1).min()?;
    (to > from).then_some((from, to))
}

/// The last `fraction` of `span` (the first part is left to the flows to converge).
pub fn tail(span: (Duration, Duration), fraction: f64) -> (Duration, Duration) {
    let len = (span.1 - span.0).mul_f64(fraction.clamp(0.0, 1.0));
    (span.1 - len, span.1)
}

/// Jain's fairness index of the flows' goodputs over `[from, to]`.
pub fn jain_between(flows: &[FlowSeries], from: Duration, to: Duration) -> f64 {
    let shares: Vec<f64> = flows.iter().map(|f| f.delivered_between(from, to)).collect();
    jain_fairness(&shares)
}

/// Each flow's part of all bytes delivered over `[from, to]` (all 0 if nothing was).
pub fn shares_between(flows: &[FlowSeries], from: Duration, to: Duration) -> Vec<f64> {
    let bytes: Vec<f64> = flows.iter().map(|f| f.delivered_between(from, to)).collect();
    let total: f64 = bytes.iter().sum();
    bytes.iter().map(|b| if total > 0.0 { b / total } else { 0.0 }).collect()
}

/// How long after `change` the flow took to run at `fraction` of `rate_bps`: the end of the
/// first [`RECOVERY_WINDOW`] starting on the series' grid at or after `change`, and ending by
/// `end` (the last delivery), that carried at least `fraction · rate_bps`, less `change` (so at
/// least the window's length).
///
/// `None` if no such window fits between `change` and `end`. Goodput counts bytes as the
/// receiver read them, in order: a loss holds the bytes behind it back for a round trip.
pub fn recovery_time(
    flow: &FlowSeries,
    change: Duration,
    end: Duration,
    rate_bps: f64,
    fraction: f64,
) -> Option<Duration> {
    let goal = rate_bps * fraction;
    let step = flow.interval.max(Duration::from_millis(1));
    let mut start = change;
    while start + RECOVERY_WINDOW <= end {
        if flow.goodput_bps(start, start + RECOVERY_WINDOW) >= goal {
            return Some(start + RECOVERY_WINDOW - change);
        }
        start += step;
    }
    None
}

/// How `total` (all flows added up) followed the first change of `link`'s schedule, for a
/// transfer whose last byte arrived at `end`; `None` without a schedule or if the transfer ended
/// before the change.
pub fn after_change(total: &FlowSeries, link: &LinkConfig, end: Duration) -> Option<AfterChange> {
    let at = link.schedule.first()?.at;
    if end <= at {
        return None;
    }
    let rate = link.rate_at(at) as f64;
    let settled = at + AFTER_CHANGE_SPAN;
    let capacity = link.capacity_bits(settled, end);
    Some(AfterChange {
        at_s: at.as_secs_f64(),
        rate_mbit: rate / 1e6,
        recovery_s: recovery_time(total, at, end, rate, RECOVERY_FRACTION).map(|d| d.as_secs_f64()),
        retransmit_ratio_2s: total.retransmit_ratio(at, settled),
        efficiency_after_2s: (end > settled && capacity > 0.0)
            .then(|| total.delivered_between(settled, end) * 8.0 / capacity),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// A flow delivering `per_point[k]` bytes between point k and k+1 (100 ms).
    fn flow(per_point: &[u64]) -> FlowSeries {
        let mut delivered = 0;
        let mut points = vec![SeriesPoint::default()];
        for &b in per_point {
            delivered += b;
            points.push(SeriesPoint { delivered, segments_sent: delivered / 1000, retransmits: 0 });
        }
        FlowSeries::new(points)
    }

    #[test]
    fn delivered_is_interpolated_and_held_after_the_last_point() {
        let f = flow(&[1000, 3000]);
        assert_eq!(f.delivered_at(Duration::ZERO), 0.0);
        assert!((f.delivered_at(50 * MS) - 500.0).abs() < 1e-9);
        assert!((f.delivered_at(150 * MS) - 2500.0).abs() < 1e-9);
        assert_eq!(f.delivered_at(Duration::from_secs(9)), 4000.0);
        // 3000 bytes in 100 ms = 240 kbit/s.
        assert!((f.goodput_bps(100 * MS, 200 * MS) - 240_000.0).abs() < 1e-6);
        assert_eq!(f.goodput_bps(200 * MS, 100 * MS), 0.0);
    }

    #[test]
    fn retransmit_ratio_over_a_window() {
        let mut f = flow(&[10_000; 4]);
        // 10 segments per point; 3 of the 20 sent in [100, 300] ms were retransmissions.
        f.points[2].retransmits = 1;
        f.points[3].retransmits = 3;
        f.points[4].retransmits = 3;
        assert!((f.retransmit_ratio(100 * MS, 300 * MS) - 0.15).abs() < 1e-12);
        assert_eq!(f.retransmit_ratio(300 * MS, 400 * MS), 0.0);
        assert_eq!(FlowSeries::default().retransmit_ratio(Duration::ZERO, MS), 0.0);
    }

    #[test]
    fn jain_and_shares_over_the_tail_of_the_overlap() {
        // Flow a runs alone for 1 s at 2000 B/point, then both share equally at 1000 B/point.
        let a = flow(&[[2000; 10].as_slice(), &[1000; 10]].concat());
        let b = flow(&[[0; 10].as_slice(), &[1000; 10]].concat());
        let s = Duration::from_secs;
        let span = overlap(&[(Duration::ZERO, s(2)), (s(1), s(2))]).unwrap();
        assert_eq!(span, (s(1), s(2)));
        assert_eq!(tail(span, 0.8), (s(1) + 200 * MS, s(2)));
        let (from, to) = tail(span, 0.8);
        assert!((jain_between(&[a.clone(), b.clone()], from, to) - 1.0).abs() < 1e-12);
        // Over the whole run a had three times b's bytes: (3+1)² / (2·(9+1)) = 0.8.
        assert!((jain_between(&[a.clone(), b.clone()], Duration::ZERO, s(2)) - 0.8).abs() < 1e-12);
        let shares = shares_between(&[a, b], Duration::ZERO, s(2));
        assert!((shares[0] - 0.75).abs() < 1e-12 && (shares[1] - 0.25).abs() < 1e-12);
        assert_eq!(overlap(&[(Duration::ZERO, s(1)), (s(1), s(2))]), None);
        assert_eq!(overlap(&[]), None);
    }

    #[test]
    fn recovery_time_is_the_end_of_the_first_window_at_the_rate() {
        // 1000 B per 100 ms = 80 kbit/s. After a change at 1 s: 400 ms at nothing, then the
        // full rate to 3 s.
        let f = flow(&[[1000; 10].as_slice(), &[0; 4], &[1000; 16]].concat());
        let s = Duration::from_secs;
        // 0.85 of 80 kbit/s over 500 ms is 4250 bytes: the window [1.4, 1.9] s is the first.
        assert_eq!(recovery_time(&f, s(1), s(3), 80_000.0, 0.85), Some(900 * MS));
        // Half the rate needs 2125 bytes: [1.2, 1.7] s carries 3000.
        assert_eq!(recovery_time(&f, s(1), s(3), 40_000.0, 0.85), Some(700 * MS));
        // No window at the goal, or no window at all: never recovered.
        assert_eq!(recovery_time(&f, s(1), s(3), 100_000.0, 0.85), None);
        assert_eq!(recovery_time(&f, s(1), s(1) + 400 * MS, 80_000.0, 0.85), None);
        // A window need not start on a point: after a change at 1.35 s, [1.35, 1.85] s carries
        // 4500 bytes (interpolated between the points).
        assert_eq!(recovery_time(&f, s(1) + 350 * MS, s(3), 80_000.0, 0.85), Some(500 * MS));
    }

    #[test]
    fn after_a_rate_change() {
        use crate::config::LinkChange;
        let s = Duration::from_secs;
        // 80 kbit/s, halved at 1 s; the flow delivers 40 kbit/s from 1.3 s on, to 5 s.
        let link = LinkConfig::new().rate_bps(80_000).change(LinkChange::rate(s(1), 40_000));
        let f = flow(&[[1000; 10].as_slice(), &[0; 3], &[500; 37]].concat());
        let a = after_change(&f, &link, s(5)).unwrap();
        assert_eq!((a.at_s, a.rate_mbit), (1.0, 0.04));
        // The first window at 0.85 of 40 kbit/s (2125 bytes) is [1.3, 1.8] s: 0.8 s.
        let recovery = a.recovery_s.unwrap();
        assert!((recovery - 0.8).abs() < 1e-9, "{recovery}");
        assert!((a.efficiency_after_2s.unwrap() - 1.0).abs() < 1e-9);
        assert_eq!(a.retransmit_ratio_2s, 0.0);
        assert_eq!(after_change(&f, &LinkConfig::new(), s(5)), None);
        assert_eq!(after_change(&f, &link, s(1)), None);
    }

    #[test]
    fn series_add_up_point_by_point() {
        let total = FlowSeries::sum(&[flow(&[1000, 1000]), flow(&[500])]);
        let delivered: Vec<u64> = total.points.iter().map(|p| p.delivered).collect();
        assert_eq!(delivered, [0, 1500, 2500]);
    }
}
