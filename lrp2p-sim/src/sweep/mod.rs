//! Sweeps: one scenario over a grid of paths, with the figures of each run in a row, printed
//! by `lrp2p-sim sweep …` (programs that print figures, never timed tests).
//!
//! - [`long_rtt`]: lossless paths of 20 and 100 Mbit/s at RTTs from 10 to 600 ms behind a
//!   one-BDP drop-tail queue: efficiency beside the best a slow start that doubles per round
//!   trip allows ([`slow_start_bound`]), retransmissions, and spurious ones as the sender found
//!   them and as the receiver saw them (duplicates).
//! - [`lossy`]: issue 12's grid at 100 Mbit/s and 40 ms — random and burst loss, delayed
//!   datagrams, deep and shallow queues, a rate that halves, flows sharing the bottleneck —
//!   per congestion controller, each row against its target.
//!
//! Every sweep runs its scenarios with [`run_grid`], which fills one [`Row`] per scenario.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lrp2p_proto::ConnectionStats;
use lrp2p_proto::EndpointConfig;

use crate::cc::Cc;
use crate::scenario::ScenarioParams;
use crate::series;
use crate::sim::{RunOutcome, SimError};
use crate::summary::Summary;
use crate::transfer::{Transfer, TransferOptions};

pub mod lossy;

/// Payload bytes per full DATA datagram at the default datagram size (1400 bytes less the
/// connection's per-packet allowance): the MSS of the throughput models.
pub const PAYLOAD_PER_DATAGRAM: f64 = 1318.0;

/// Bytes a full DATA datagram occupies on the link: the payload plus the transport header
/// (17), the AEAD tag (16) and the DATA segment header (6).
const DATAGRAM_ON_LINK: f64 = PAYLOAD_PER_DATAGRAM + 39.0;

/// The initial window in datagrams (RFC 6928, as the CUBIC default).
const INITIAL_WINDOW: f64 = 10.0;

/// The highest efficiency a transfer of `bytes` over a lossless path of `rate_bps` and `rtt`
/// can reach when its sender starts from a ten-datagram window and doubles it every round trip
/// (slow start, RFC 5681 §3.1), then runs at the link rate; data leaves in the first datagram
/// (0-RTT) and the last byte needs half a round trip to arrive.
///
/// A fluid model: the sending rate grows as `IW/RTT · 2^(t/RTT)` until it reaches the link's
/// payload rate `C`, at `t* = RTT · log2(C·RTT / IW)`, having sent `(C·RTT − IW) / ln 2`. On a
/// long fast path that start-up takes seconds, so no slow-start-based sender reaches the link
/// rate on average over a transfer that lasts only a few times longer.
pub fn slow_start_bound(rate_bps: u64, rtt: Duration, bytes: u64) -> f64 {
    if rate_bps == 0 || bytes == 0 {
        return 0.0;
    }
    let rate = rate_bps as f64 / 8.0;
    let payload_rate = rate * PAYLOAD_PER_DATAGRAM / DATAGRAM_ON_LINK;
    let rtt_s = rtt.as_secs_f64();
    let iw = INITIAL_WINDOW * PAYLOAD_PER_DATAGRAM;
    let bytes_f = bytes as f64;
    let bdp = payload_rate * rtt_s;
    let ln2 = std::f64::consts::LN_2;
    let sending = if bdp <= iw || rtt_s <= 0.0 {
        bytes_f / payload_rate
    } else {
        let ramp_time = rtt_s * (bdp / iw).log2();
        let ramp_bytes = (bdp - iw) / ln2;
        if bytes_f <= ramp_bytes {
            // Done before the window reaches the path: solve IW/ln2 · (2^(t/RTT) − 1) = bytes.
            rtt_s * (1.0 + bytes_f * ln2 / iw).log2()
        } else {
            ramp_time + (bytes_f - ramp_bytes) / payload_rate
        }
    };
    bytes_f / (sending + rtt_s / 2.0) / rate
}

/// One run of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Bottleneck rate, Mbit/s.
    pub rate_mbit: u64,
    /// Base round-trip time.
    pub rtt: Duration,
    /// Bytes transferred.
    pub bytes: u64,
    /// Every byte arrived intact within the time limit.
    pub ok: bool,
    /// Goodput over the bottleneck rate (its mean while the transfer ran, under a schedule).
    pub efficiency: f64,
    /// [`slow_start_bound`] for this path and size.
    pub bound: f64,
    /// DATA segments retransmitted.
    pub retransmits: u64,
    /// Retransmitted over all DATA datagrams sent.
    pub retransmit_ratio: f64,
    /// Retransmissions the sender found unnecessary (`ConnectionStats::spurious_retransmits`).
    pub spurious: u64,
    /// DATA segments the receiver already held when they arrived: every unnecessary
    /// retransmission, as the receiver saw it.
    pub duplicates_received: u64,
    /// Retransmission timeouts at the sender.
    pub timeouts: u64,
    /// Simulated seconds of the run.
    pub sim_secs: f64,
    /// The controller each flow ran, by flow id.
    pub controllers: Vec<Cc>,
    /// The run's whole summary (RTT percentiles, fairness, the response to a link change).
    pub summary: Summary,
    /// Each flow's part of the bytes delivered over the run's
    /// [fairness window](Transfer::fairness_window), by flow id (empty without one).
    pub shares: Vec<f64>,
    /// Wall-clock seconds the run took.
    pub wall_secs: f64,
}

/// The long-RTT sweep of issue 9: 20 and 100 Mbit/s × RTT 10, 40, 100, 200, 400 and 600 ms,
/// lossless, one-BDP drop-tail queue, 30 MB at 20 Mbit/s and 100 MB at 100 Mbit/s, one flow
/// running `cc` (`None`: the default, CUBIC). Runs on up to `threads` threads.
pub fn long_rtt(seed: u64, cc: Option<Cc>, threads: usize) -> Result<Vec<Row>, SimError> {
    let mut grid = Vec::new();
    for (rate_mbit, bytes) in [(20u64, 30_000_000u64), (100, 100_000_000)] {
        for rtt_ms in [10u64, 40, 100, 200, 400, 600] {
            let mut params =
                ScenarioParams::new(seed, rate_mbit * 1_000_000, Duration::from_millis(rtt_ms), bytes);
            params.controllers.extend(cc);
            grid.push(params);
        }
    }
    run_grid(&grid, threads)
}

/// Runs every scenario of `grid` (upload only, default endpoint configuration) on up to
/// `threads` threads, each taking the next scenario as it finishes one; rows in grid order.
pub fn run_grid(grid: &[ScenarioParams], threads: usize) -> Result<Vec<Row>, SimError> {
    let next = AtomicUsize::new(0);
    let threads = threads.clamp(1, grid.len().max(1));
    let mut done: Vec<(usize, Result<Row, SimError>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut rows = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(params) = grid.get(i) else { return rows };
                        rows.push((i, run_one(params)));
                    }
                })
            })
            .collect();
        let mut rows = Vec::with_capacity(grid.len());
        for worker in workers {
            match worker.join() {
                Ok(part) => rows.extend(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        rows
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, row)| row).collect()
}

/// One scenario of a sweep, with the counters of both ends.
fn run_one(params: &ScenarioParams) -> Result<Row, SimError> {
    #[allow(clippy::disallowed_methods)] // wall-clock time of the run, for the report only
    let wall = Instant::now();
    let mut config = EndpointConfig::default();
    // Keys made for this run: no start-up quiet period for 0-RTT is needed.
    config.early_data.start_floor = false;
    let mut transfer = Transfer::new(params, config, TransferOptions::default())?;
    let outcome = transfer.run()?;
    let summary = transfer.summary(outcome);
    let sum = |f: &dyn Fn(&ConnectionStats) -> u64, server: bool| -> u64 {
        let nodes: Vec<_> =
            if server { vec![transfer.server_node()] } else { transfer.client_nodes().collect() };
        nodes.iter().flat_map(|n| n.flows.iter()).map(|flow| f(&flow.stats)).sum()
    };
    let shares = transfer
        .fairness_window()
        .map(|(from, to)| series::shares_between(&transfer.series(), from, to))
        .unwrap_or_default();
    let flows = params.flows.max(1);
    Ok(Row {
        rate_mbit: params.rate_bps / 1_000_000,
        rtt: params.rtt,
        bytes: params.bytes,
        ok: summary.ok && outcome == RunOutcome::AllDone,
        efficiency: summary.efficiency,
        bound: slow_start_bound(params.rate_bps, params.rtt, params.bytes),
        retransmits: summary.retransmits,
        retransmit_ratio: summary.retransmit_ratio,
        spurious: summary.spurious_retransmits,
        duplicates_received: sum(&|s| s.duplicates, true),
        timeouts: sum(&|s| s.timeouts, false),
        sim_secs: summary.sim_secs,
        controllers: (0..flows).map(|i| params.controller_of(i).unwrap_or_default()).collect(),
        summary,
        shares,
        wall_secs: wall.elapsed().as_secs_f64(),
    })
}

/// The rows as a Markdown table.
pub fn render(rows: &[Row]) -> String {
    let mut out = String::from(
        "| rate | RTT | bytes | ok | efficiency | slow-start bound | retransmits | retransmit ratio | \
         spurious (sender) | duplicates (receiver) | timeouts | simulated s |\n\
         |---:|---:|---:|:--:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "| {} Mbit/s | {} ms | {} MB | {} | {:.3} | {:.3} | {} | {:.3} % | {} | {} | {} | {:.1} |",
            r.rate_mbit,
            r.rtt.as_millis(),
            r.bytes / 1_000_000,
            if r.ok { "yes" } else { "NO" },
            r.efficiency,
            r.bound,
            r.retransmits,
            r.retransmit_ratio * 100.0,
            r.spurious,
            r.duplicates_received,
            r.timeouts,
            r.sim_secs,
        );
    }
    out
}

/// The rows as JSON lines, one object per run.
pub fn render_json(rows: &[Row]) -> String {
    let mut out = String::new();
    for r in rows {
        let _ = writeln!(
            out,
            "{{\"rate_mbit\":{},\"rtt_ms\":{},\"bytes\":{},\"ok\":{},\"efficiency\":{:.4},\"bound\":{:.4},\
             \"retransmits\":{},\"retransmit_ratio\":{:.6},\"spurious_retransmits\":{},\
             \"duplicates_received\":{},\"timeouts\":{},\"sim_secs\":{:.3},\"cc\":\"{}\"}}",
            r.rate_mbit,
            r.rtt.as_millis(),
            r.bytes,
            r.ok,
            r.efficiency,
            r.bound,
            r.retransmits,
            r.retransmit_ratio,
            r.spurious,
            r.duplicates_received,
            r.timeouts,
            r.sim_secs,
            r.controllers.first().copied().unwrap_or_default(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_the_link_for_small_windows_and_falls_with_the_path() {
        let ms = Duration::from_millis;
        // A tiny BDP: nothing to ramp; only headers and the last half round trip cost.
        let short = slow_start_bound(20_000_000, ms(1), 30_000_000);
        assert!(short > 0.96 && short < 0.972, "{short}");
        // 100 Mbit/s × 600 ms: 5.5 s of doubling before the link is full.
        let long = slow_start_bound(100_000_000, ms(600), 100_000_000);
        assert!(long > 0.59 && long < 0.63, "{long}");
        assert!(slow_start_bound(100_000_000, ms(200), 100_000_000) > long);
        // Done within the ramp: a few round trips for a few window doublings.
        let tiny = slow_start_bound(100_000_000, ms(600), 13_180);
        assert!(tiny < 0.01, "{tiny}");
        assert_eq!(slow_start_bound(0, ms(10), 1), 0.0);
    }
}
