//! What a [`TransferNode`](super::TransferNode) records of its flows as the run goes: each
//! flow's counters every [`SERIES_INTERVAL`] (a [`FlowSeries`](crate::series::FlowSeries) point)
//! and, for a sending flow, the sender's latest RTT every [`RTT_SAMPLE_INTERVAL`] while it has
//! data in flight.
//!
//! Recording happens when the node is called anyway (a datagram or a timeout), before the call
//! changes anything, so it never adds an event to the simulation: a point due at `t` holds the
//! counters as they were after the last call before `t`, which is what they still were at `t`.

use std::time::{Duration, Instant};

use super::Flow;
use crate::series::{SERIES_INTERVAL, SeriesPoint};

/// How often a sending flow's latest RTT is sampled.
pub const RTT_SAMPLE_INTERVAL: Duration = Duration::from_millis(10);

/// The instant `k` intervals after `start` (saturating far beyond any run).
fn tick(start: Instant, interval: Duration, k: u64) -> Instant {
    let k = u32::try_from(k).unwrap_or(u32::MAX);
    start.checked_add(interval.saturating_mul(k)).unwrap_or(start)
}

/// The recording clock of one node.
#[derive(Debug, Clone)]
pub(super) struct Sampler {
    start: Instant,
    /// Series points recorded so far (the next one is due at `start + points · SERIES_INTERVAL`).
    points: u64,
    /// RTT samples are due from this instant on.
    next_rtt: Instant,
}

impl Sampler {
    /// A clock whose grid starts at `start` (the start of the run).
    pub(super) fn new(start: Instant) -> Self {
        Self { start, points: 0, next_rtt: start }
    }

    /// Records every point due by `now`, and the RTT samples if due.
    pub(super) fn observe(&mut self, now: Instant, flows: &mut [Flow]) {
        while tick(self.start, SERIES_INTERVAL, self.points) <= now && self.points < u64::from(u32::MAX) {
            let index = usize::try_from(self.points).unwrap_or(usize::MAX);
            for flow in flows.iter_mut() {
                // A flow opened late holds zeros for the points before it existed.
                flow.series.resize(index, SeriesPoint::default());
                flow.series.push(flow.point());
            }
            self.points += 1;
        }
        if now < self.next_rtt {
            return;
        }
        for flow in flows.iter_mut().filter(|f| f.to_send > 0 && f.stats.bytes_in_flight > 0) {
            if let Some(rtt) = flow.stats.latest_rtt {
                flow.rtt_samples.push(rtt);
            }
        }
        // The next grid point after `now`.
        let step = RTT_SAMPLE_INTERVAL.as_nanos().max(1);
        let elapsed = now.saturating_duration_since(self.start).as_nanos();
        let k = u64::try_from(elapsed / step + 1).unwrap_or(u64::MAX);
        self.next_rtt = tick(self.start, RTT_SAMPLE_INTERVAL, k);
    }
}
