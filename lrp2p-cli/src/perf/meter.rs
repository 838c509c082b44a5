//! Per-interval reports of a perf run: [`Sample`]s taken by a [`Meter`], the sending side
//! with the transport's RTT, window and retransmissions (per interval and in total), the
//! receiving side with only what a receiver knows (goodput, bytes). With `--plot` it also
//! records a [`Point`] every 100 ms, whatever the report interval.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::net::Link;
use crate::output::{self, Ui};
use crate::plot::{Point, Recorder};

/// One reporting interval.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Sample {
    /// Seconds since the start, at the end of the interval.
    pub(crate) t: f64,
    /// Goodput over the interval, bits per second (acknowledged or received bytes).
    pub(crate) goodput_bps: f64,
    /// Bytes counted so far.
    pub(crate) bytes: u64,
    /// Smoothed RTT in milliseconds, when the transport has measured one.
    pub(crate) rtt_ms: Option<f64>,
    /// Congestion window in bytes.
    pub(crate) cwnd: Option<u64>,
    /// Retransmissions so far.
    pub(crate) retransmits: Option<u64>,
    /// Retransmissions in this interval (iperf's `Retr`).
    pub(crate) interval_retransmits: Option<u64>,
}

impl Sample {
    /// The human line for this sample.
    pub(crate) fn line(&self) -> String {
        if self.rtt_ms.is_none() && self.cwnd.is_none() && self.retransmits.is_none() {
            return format!(
                "[{:>6.1} s] {:>13}  total {}",
                self.t,
                output::bitrate(self.goodput_bps),
                output::bytes(self.bytes)
            );
        }
        format!(
            "[{:>6.1} s] {:>13}  rtt {:>9}  cwnd {:>11}  retrans {} (total {})",
            self.t,
            output::bitrate(self.goodput_bps),
            self.rtt_ms.map_or_else(|| "-".to_owned(), |r| format!("{r:.1} ms")),
            self.cwnd.map_or_else(|| "-".to_owned(), output::bytes),
            self.interval_retransmits.map_or_else(|| "-".to_owned(), |r| r.to_string()),
            self.retransmits.map_or_else(|| "-".to_owned(), |r| r.to_string()),
        )
    }
}

/// Tracks one side's counters between reports.
pub(crate) struct Meter {
    /// When measuring started.
    pub(crate) start: Instant,
    /// Time of the previous report.
    last_at: Instant,
    /// Bytes counted at the previous report.
    last_bytes: u64,
    /// Retransmissions counted at the previous report.
    last_retransmits: u64,
    /// The transport's statistics at the previous report: the last sample of a connection
    /// the transport has let go of already shows them.
    last_stats: Option<lrp2p_proto::ConnectionStats>,
    /// The reports so far.
    pub(crate) samples: Vec<Sample>,
    /// Printed before each line (the peer, on a server serving several).
    label: String,
    /// Whether this side sends: only a sender knows RTT, window and retransmissions.
    sender: bool,
    /// Time between reports.
    interval: Duration,
    /// When the next report is due.
    next_report: Instant,
    /// The plot's points, when one is drawn.
    plot: Option<Recorder>,
}

impl Meter {
    /// Starts measuring now, reporting every `interval`; `label` starts each printed line
    /// (empty: none); with `plot`, a [`Point`] is also taken every 100 ms.
    pub(crate) fn new(label: &str, sender: bool, interval: Duration, plot: bool) -> Meter {
        let now = Instant::now();
        let label = if label.is_empty() { String::new() } else { format!("{label} ") };
        Meter {
            start: now,
            last_at: now,
            last_bytes: 0,
            last_retransmits: 0,
            last_stats: None,
            samples: Vec::new(),
            label,
            sender,
            interval,
            next_report: now + interval,
            plot: plot.then(|| Recorder::new(now, sender)),
        }
    }

    /// When this meter next has something to do: a report or a plot's point.
    pub(crate) fn next_wake(&self) -> Instant {
        self.plot.as_ref().map_or(self.next_report, |p| p.next_at().min(self.next_report))
    }

    /// Does what is due at [`next_wake`](Meter::next_wake), with `bytes` counted so far:
    /// takes a plot's point, prints a report.
    pub(crate) fn wake<L: Link>(&mut self, link: &L, bytes: u64, ui: &Ui) {
        let now = Instant::now();
        if let Some(plot) = &mut self.plot {
            let stats = if self.sender { link.link_stats() } else { None };
            plot.poll(now, bytes, stats);
        }
        if now >= self.next_report {
            self.sample(link, bytes, ui);
            // On the grid of intervals; a late report does not shift the next ones.
            while self.next_report <= now {
                self.next_report += self.interval;
            }
        }
    }

    /// The plot's points (none without `--plot`).
    pub(crate) fn take_points(&mut self) -> Vec<Point> {
        self.plot.take().map(Recorder::into_points).unwrap_or_default()
    }

    /// Records a sample with `bytes` counted so far and the link's statistics.
    fn sample<L: Link>(&mut self, link: &L, bytes: u64, ui: &Ui) {
        self.record(link, bytes, ui, false);
    }

    /// Records the last sample, at the end of the run. It is not printed (the summary
    /// follows), and when it comes right after a periodic one it replaces it, so that a
    /// sliver of an interval does not show as a spike of goodput.
    pub(crate) fn finish<L: Link>(&mut self, link: &L, bytes: u64, ui: &Ui) {
        let now = Instant::now();
        if let Some(plot) = &mut self.plot {
            plot.finish(now, bytes, if self.sender { link.link_stats() } else { None });
        }
        if !self.samples.is_empty() && now - self.last_at < Duration::from_millis(250) {
            self.samples.pop();
            let (t, b, r) =
                self.samples.last().map_or((0.0, 0, 0), |s| (s.t, s.bytes, s.retransmits.unwrap_or(0)));
            self.last_at = self.start + Duration::from_secs_f64(t);
            self.last_bytes = b;
            self.last_retransmits = r;
        }
        self.record(link, bytes, ui, true);
    }

    /// Adds a sample; prints it unless `quiet`.
    fn record<L: Link>(&mut self, link: &L, bytes: u64, ui: &Ui, quiet: bool) {
        let now = Instant::now();
        let stats = if self.sender { link.link_stats().or(self.last_stats) } else { None };
        self.last_stats = stats;
        let sample = Sample {
            t: (now - self.start).as_secs_f64(),
            goodput_bps: output::bits_per_second(bytes.saturating_sub(self.last_bytes), now - self.last_at),
            bytes,
            rtt_ms: stats.and_then(|s| s.rtt).map(|d| d.as_secs_f64() * 1e3),
            cwnd: stats.map(|s| s.cwnd),
            retransmits: stats.map(|s| s.retransmits),
            interval_retransmits: stats.map(|s| s.retransmits.saturating_sub(self.last_retransmits)),
        };
        if !quiet {
            ui.line(&format!("{}{}", self.label, sample.line()));
        }
        self.samples.push(sample);
        self.last_at = now;
        self.last_bytes = bytes;
        self.last_retransmits = stats.map_or(self.last_retransmits, |s| s.retransmits);
    }
}
