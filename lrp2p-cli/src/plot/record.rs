//! The plots' samples: a [`Recorder`] takes one [`Point`] every [`STEP`] (100 ms) of a run,
//! whatever the report interval (`-i`) is, so that a plot shows what a one-second average
//! hides (slow start, a loss episode, a stall).

use std::time::Duration;

use lrp2p_proto::ConnectionStats;
use tokio::time::Instant;

use crate::output;

/// Time between two points of a plot.
pub(crate) const STEP: Duration = Duration::from_millis(100);

/// What one [`STEP`] of a run looked like.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Point {
    /// Seconds since the start, at the end of the step.
    pub(crate) t: f64,
    /// Goodput over the step, bits per second (acknowledged or received bytes).
    pub(crate) goodput_bps: f64,
    /// Congestion window in bytes (a sender's figure).
    pub(crate) cwnd: Option<u64>,
    /// Smoothed RTT in milliseconds (a sender's figure, once measured).
    pub(crate) rtt_ms: Option<f64>,
    /// DATA segments retransmitted during the step (a sender's figure).
    pub(crate) retransmits: Option<u64>,
}

/// Takes [`Point`]s of one connection, on a grid of [`STEP`]s from its start.
#[derive(Debug)]
pub(crate) struct Recorder {
    /// When the run started.
    start: Instant,
    /// When the next point is due.
    next: Instant,
    /// Time of the previous point.
    last_at: Instant,
    /// Bytes counted at the previous point.
    last_bytes: u64,
    /// Retransmissions counted at the previous point.
    last_retransmits: u64,
    /// The transport's statistics at the previous point: a connection the transport has let
    /// go of shows them still.
    last_stats: Option<ConnectionStats>,
    /// Whether this side sends: only a sender knows RTT, window and retransmissions.
    sender: bool,
    /// The points so far.
    points: Vec<Point>,
}

impl Recorder {
    /// Starts a recording at `start`; `sender` says whether the side's statistics mean
    /// anything (a receiver shows goodput only).
    pub(crate) fn new(start: Instant, sender: bool) -> Recorder {
        Recorder {
            start,
            next: start + STEP,
            last_at: start,
            last_bytes: 0,
            last_retransmits: 0,
            last_stats: None,
            sender,
            points: Vec::new(),
        }
    }

    /// When the next point is due.
    pub(crate) fn next_at(&self) -> Instant {
        self.next
    }

    /// Takes a point if one is due at `now`, with `bytes` counted so far.
    pub(crate) fn poll(&mut self, now: Instant, bytes: u64, stats: Option<ConnectionStats>) {
        if now >= self.next {
            self.record(now, bytes, stats);
            // Stay on the grid; skip the steps a stalled task missed.
            while self.next <= now {
                self.next += STEP;
            }
        }
    }

    /// Keeps `stats` (when there are any) for a later point whose connection is gone.
    pub(crate) fn remember(&mut self, stats: Option<ConnectionStats>) {
        if self.sender && stats.is_some() {
            self.last_stats = stats;
        }
    }

    /// The last point, at the end of the run, unless it would cover less than half a step
    /// (a sliver of a step shows as a spike of goodput).
    pub(crate) fn finish(&mut self, now: Instant, bytes: u64, stats: Option<ConnectionStats>) {
        if now - self.last_at >= STEP / 2 {
            self.record(now, bytes, stats);
        }
    }

    /// Adds a point.
    fn record(&mut self, now: Instant, bytes: u64, stats: Option<ConnectionStats>) {
        let stats = if self.sender { stats.or(self.last_stats) } else { None };
        self.last_stats = stats;
        self.points.push(Point {
            t: (now - self.start).as_secs_f64(),
            goodput_bps: output::bits_per_second(bytes.saturating_sub(self.last_bytes), now - self.last_at),
            cwnd: stats.map(|s| s.cwnd),
            rtt_ms: stats.and_then(|s| s.rtt).map(|d| d.as_secs_f64() * 1e3),
            retransmits: stats.map(|s| s.retransmits.saturating_sub(self.last_retransmits)),
        });
        self.last_at = now;
        self.last_bytes = bytes;
        self.last_retransmits = stats.map_or(self.last_retransmits, |s| s.retransmits);
    }

    /// The points taken.
    pub(crate) fn into_points(self) -> Vec<Point> {
        self.points
    }
}

/// Parallel connections' points added up, step by step (as many steps as the shortest has):
/// the first's times, the sum of goodputs, windows and retransmissions, the mean RTT.
pub(crate) fn sum(streams: &[&[Point]]) -> Vec<Point> {
    let n = streams.iter().map(|s| s.len()).min().unwrap_or(0);
    let add = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => Some(a.saturating_add(b)),
        (a, b) => a.or(b),
    };
    (0..n)
        .map(|i| {
            let mut total = Point { t: streams[0][i].t, ..Point::default() };
            let (mut rtt, mut rtts) = (0.0, 0u32);
            for s in streams {
                let p = &s[i];
                total.goodput_bps += p.goodput_bps;
                total.cwnd = add(total.cwnd, p.cwnd);
                total.retransmits = add(total.retransmits, p.retransmits);
                if let Some(r) = p.rtt_ms {
                    rtt += r;
                    rtts += 1;
                }
            }
            total.rtt_ms = (rtts > 0).then(|| rtt / f64::from(rtts));
            total
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(cwnd: u64, retransmits: u64) -> ConnectionStats {
        let mut s = ConnectionStats::default();
        s.cwnd = cwnd;
        s.retransmits = retransmits;
        s.rtt = Some(Duration::from_millis(20));
        s
    }

    #[test]
    fn one_point_per_step_whatever_the_polls() {
        let start = Instant::now();
        let mut r = Recorder::new(start, true);
        // Polled every 10 ms for a second: ten points, on the grid.
        for ms in (10..=1000).step_by(10) {
            r.poll(start + Duration::from_millis(ms), ms * 1000, Some(stats(10_000, ms / 100)));
        }
        let points = r.into_points();
        assert_eq!(points.len(), 10);
        assert!((points[0].t - 0.1).abs() < 1e-9 && (points[9].t - 1.0).abs() < 1e-9);
        // 100,000 bytes per 100 ms: 8 Mbit/s; one retransmission per step.
        assert!(points.iter().all(|p| (p.goodput_bps - 8e6).abs() < 1.0), "{points:?}");
        assert!(points[1..].iter().all(|p| p.retransmits == Some(1)), "{points:?}");
        assert_eq!(points[0].rtt_ms, Some(20.0));
    }

    #[test]
    fn a_stall_skips_steps_and_a_sliver_at_the_end_is_dropped() {
        let start = Instant::now();
        let mut r = Recorder::new(start, false);
        r.poll(start + Duration::from_millis(100), 1000, Some(stats(1, 1)));
        r.poll(start + Duration::from_millis(750), 2000, None);
        assert_eq!(r.next_at(), start + Duration::from_millis(800));
        r.finish(start + Duration::from_millis(760), 3000, None);
        let points = r.into_points();
        assert_eq!(points.len(), 2, "{points:?}");
        // A receiver has no window, RTT or retransmissions even when given statistics.
        assert!(points.iter().all(|p| p.cwnd.is_none() && p.rtt_ms.is_none() && p.retransmits.is_none()));
    }

    #[test]
    fn sum_adds_goodput_windows_and_retransmissions_and_averages_rtt() {
        let p = |g, c, r, rtt| Point {
            t: 0.1,
            goodput_bps: g,
            cwnd: Some(c),
            rtt_ms: Some(rtt),
            retransmits: Some(r),
        };
        let a = [p(1e6, 10, 1, 10.0), p(2e6, 20, 0, 10.0)];
        let b = [p(3e6, 30, 2, 30.0)];
        let s = sum(&[&a, &b]);
        assert_eq!(s, vec![p(4e6, 40, 3, 20.0)]);
    }
}
