//! `lrp2p-sim`: run one seeded scenario over an emulated path and print its figures, or a
//! sweep of scenarios as a table.
//!
//! ```text
//! lrp2p-sim --rate-mbit 100 --rtt-ms 50 --loss 0.01 --bytes 10000000 --seed 1 [--json]
//! lrp2p-sim --rate-mbit 100 --rtt-ms 40 --bytes 100000000 --seed 1 --cc fixed
//! lrp2p-sim --rate-mbit 100 --rtt-ms 40 --bytes 100000000 --seed 1 \
//!           --change-at-s 3 --rate-mbit-after 50 [--rtt-ms-after 80]
//! lrp2p-sim --rate-mbit 100 --rtt-ms 40 --bytes 100000000 --seed 1 \
//!           --flows 2 --cc fixed,cubic [--stagger-s 1] [--series]
//! lrp2p-sim sweep long-rtt [--seed 1] [--cc cubic,fixed] [--json]
//! lrp2p-sim sweep lossy [--seed 1] [--cc cubic,fixed] [--bytes 100000000] [--json]
//! ```
//!
//! - `--cc` names the congestion controller of each flow's sender (`cubic`, the default, or
//!   `fixed`, a constant window of one BDP): flow `i` runs the `i`-th, every further flow the
//!   last. In a sweep, the grid runs once per controller.
//! - `--stagger-s S` starts flow `i` at `i · S` seconds.
//! - `--forward-only` impairs only the data direction (the ACK path keeps rate, delay, queue).
//! - `--change-at-s T` with `--rate-mbit-after R` and/or `--rtt-ms-after D` changes the path
//!   (both directions) at `T` seconds of simulated time; the summary then reports how the flows
//!   followed (`after_change`).
//!
//! One scenario prints the summary and a table of link counters, with `--series` each flow's
//! goodput every 100 ms as CSV instead, or with `--json` exactly one
//! line of [`Summary`] JSON (RTT percentiles as the senders measured them, Jain's index over the
//! last 80 % of the flows' overlap, the response to a link change). The scenario is chosen in
//! one place, [`run_scenario`]. A sweep prints a Markdown table (or JSON lines) of
//! [`lrp2p_sim::sweep`] rows.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};
use lrp2p_sim::config::GilbertElliott;
use lrp2p_sim::scenario::{ScenarioParams, ScenarioReport};
use lrp2p_sim::transfer::endpoint_transfer;
use lrp2p_sim::{Cc, Jitter, LinkChange, SimError, Summary};

/// Run a seeded LRP2P scenario over an emulated path, or a sweep of them.
#[derive(Debug, Parser)]
#[command(
    name = "lrp2p-sim",
    version,
    about,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: Option<Args>,
}

/// What else than one scenario to run.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run a grid of scenarios and print one row of figures per run.
    Sweep {
        /// Which sweep.
        #[arg(value_enum)]
        which: SweepKind,
        /// Seed of every random choice.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The congestion controllers to run the grid with, comma-separated.
        #[arg(long, value_enum, value_delimiter = ',', default_value = "cubic")]
        cc: Vec<Cc>,
        /// Bytes per row of the lossy sweep (default 100 MB; the lossless row moves half).
        #[arg(long)]
        bytes: Option<u64>,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// The sweeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SweepKind {
    /// Lossless, one-BDP queue: 20 and 100 Mbit/s × RTT 10–600 ms.
    LongRtt,
    /// Issue 12's targets at 100 Mbit/s and 40 ms: loss, delay, queues, a rate change, sharing.
    Lossy,
}

/// One scenario.
#[derive(Debug, ClapArgs)]
struct Args {
    /// Bottleneck rate in Mbit/s, each direction (0 = unlimited).
    #[arg(long)]
    rate_mbit: f64,
    /// Base round-trip time in milliseconds (half of it each way).
    #[arg(long)]
    rtt_ms: f64,
    /// Random loss probability per datagram, each direction.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Application bytes to transfer (over all flows).
    #[arg(long)]
    bytes: u64,
    /// Seed of every random choice.
    #[arg(long)]
    seed: u64,
    /// Number of concurrent flows sharing the bottleneck.
    #[arg(long, default_value_t = 1)]
    flows: usize,
    /// Drop-tail queue limit in datagrams (default: one bandwidth-delay product).
    #[arg(long)]
    queue_pkts: Option<usize>,
    /// Reordering probability per datagram.
    #[arg(long, default_value_t = 0.0)]
    reorder: f64,
    /// Extra delay of a reordered datagram, in milliseconds.
    #[arg(long, default_value_t = 5.0)]
    reorder_ms: f64,
    /// Duplication probability per datagram.
    #[arg(long, default_value_t = 0.0)]
    dup: f64,
    /// Delay jitter in milliseconds (± bound for uniform, standard deviation for normal).
    #[arg(long, default_value_t = 0.0)]
    jitter_ms: f64,
    /// Jitter distribution.
    #[arg(long, value_enum, default_value_t = JitterDist::Uniform)]
    jitter_dist: JitterDist,
    /// Bit-corruption probability per datagram.
    #[arg(long, default_value_t = 0.0)]
    corrupt: f64,
    /// Average Gilbert-Elliott burst loss (in addition to --loss).
    #[arg(long, default_value_t = 0.0)]
    burst_loss: f64,
    /// Mean length of a loss burst, in datagrams.
    #[arg(long, default_value_t = 4.0)]
    burst_len: f64,
    /// The congestion controller of each flow, comma-separated (flow i runs the i-th, every
    /// further flow the last).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "cubic")]
    cc: Vec<Cc>,
    /// Start flow i at i times this many seconds.
    #[arg(long, default_value_t = 0.0)]
    stagger_s: f64,
    /// Change the path at this many seconds of simulated time (with --rate-mbit-after and/or
    /// --rtt-ms-after).
    #[arg(long)]
    change_at_s: Option<f64>,
    /// The bottleneck rate from --change-at-s on, in Mbit/s.
    #[arg(long, requires = "change_at_s")]
    rate_mbit_after: Option<f64>,
    /// The base round-trip time from --change-at-s on, in milliseconds.
    #[arg(long, requires = "change_at_s")]
    rtt_ms_after: Option<f64>,
    /// Simulated seconds before the run is stopped (default: generous for the transfer).
    #[arg(long)]
    time_limit_s: Option<f64>,
    /// Impair only the client → server direction (the data of an upload); the way back keeps
    /// the rate, delay, queue and schedule but no loss, reordering, duplication or corruption.
    #[arg(long)]
    forward_only: bool,
    /// Print one line of JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Print each flow's goodput, segments sent and retransmissions every 100 ms as CSV instead.
    #[arg(long, conflicts_with = "json")]
    series: bool,
}

/// The jitter distributions on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum JitterDist {
    /// Uniform in ±jitter.
    Uniform,
    /// Normal with standard deviation jitter.
    Normal,
}

/// A duration from a non-negative number of milliseconds (garbage becomes zero).
fn millis(ms: f64) -> Duration {
    Duration::try_from_secs_f64(ms / 1e3).unwrap_or(Duration::ZERO)
}

/// Whole bits per second from Mbit/s; the cast saturates, which is what an absurd rate deserves.
fn bps(mbit: f64) -> u64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let bps = (mbit.max(0.0) * 1e6).round() as u64;
    bps
}

impl Args {
    /// The scenario parameters these arguments describe.
    fn params(&self) -> ScenarioParams {
        let mut p = ScenarioParams::new(self.seed, bps(self.rate_mbit), millis(self.rtt_ms), self.bytes);
        p.flows = self.flows.max(1);
        p.controllers = self.cc.clone();
        if self.stagger_s > 0.0 {
            p.starts = (0..p.flows).map(|i| millis(self.stagger_s * 1e3 * i as f64)).collect();
        }
        let jitter = match (self.jitter_ms > 0.0, self.jitter_dist) {
            (false, _) => Jitter::None,
            (true, JitterDist::Uniform) => Jitter::Uniform(millis(self.jitter_ms)),
            (true, JitterDist::Normal) => Jitter::Normal(millis(self.jitter_ms)),
        };
        let mut link = p
            .link
            .clone()
            .loss(self.loss)
            .reorder(self.reorder)
            .reorder_delay(millis(self.reorder_ms))
            .duplicate(self.dup)
            .jitter(jitter)
            .corrupt(self.corrupt);
        if let Some(q) = self.queue_pkts {
            link = link.queue_packets(q);
        }
        if self.burst_loss > 0.0 {
            link = link.burst_loss(GilbertElliott::with_average_loss(self.burst_loss, self.burst_len));
        }
        if let Some(at) = self.change_at_s.map(|s| millis(s * 1e3)) {
            if let Some(rate) = self.rate_mbit_after {
                link = link.change(LinkChange::rate(at, bps(rate)));
            }
            if let Some(rtt) = self.rtt_ms_after {
                link = link.change(LinkChange::delay(at, millis(rtt) / 2));
            }
        }
        if self.forward_only {
            let mut clean = link.clone();
            (clean.loss, clean.burst_loss, clean.duplicate, clean.reorder, clean.corrupt) =
                (0.0, None, 0.0, 0.0, 0.0);
            p.reverse_link = Some(clean);
        }
        p.link = link;
        p.time_limit = match self.time_limit_s.and_then(|s| Duration::try_from_secs_f64(s).ok()) {
            Some(limit) => limit,
            None => p.default_time_limit(),
        };
        p
    }
}

/// The one place that picks the scenario: real LRP2P endpoints moving verified data.
fn run_scenario(params: &ScenarioParams) -> Result<ScenarioReport, SimError> {
    endpoint_transfer(params)
}

/// The human-readable report.
fn render(params: &ScenarioParams, report: &ScenarioReport) -> String {
    let s: &Summary = &report.summary;
    let first = s.first_byte_ms.map_or_else(|| String::from("-"), |ms| format!("{ms:.1} ms"));
    format!(
        "scenario: {} flow(s), {} bytes, {:.3} Mbit/s, RTT {:?}, seed {}\n\
         outcome:  {:?} after {:.3} s simulated ({:.3} s wall)\n\
         ok {}  bytes {}  goodput {:.3} Mbit/s  efficiency {:.3}  retransmits {}  first byte {}  \
         fairness {:.4}\n{}{}\n{}\nemulator: {} datagrams in {:.3} s wall = {:.0} datagrams/s, {:.1} s wall per \
         simulated GB\n",
        params.flows,
        params.bytes,
        params.rate_bps as f64 / 1e6,
        params.rtt,
        params.seed,
        report.outcome,
        report.sim_time.as_secs_f64(),
        report.wall_time.as_secs_f64(),
        s.ok,
        s.bytes,
        s.goodput_mbit,
        s.efficiency,
        s.retransmits,
        first,
        s.jain_fairness,
        figures_line(s),
        model_line(params),
        report.table(),
        report.datagrams(),
        report.wall_time.as_secs_f64(),
        report.datagrams_per_wall_sec(),
        report.wall_time.as_secs_f64() / (s.bytes.max(1) as f64 / 1e9),
    )
}

/// The RTT percentiles, the fairness over the flows' overlap and the response to a link change.
fn figures_line(s: &Summary) -> String {
    let ms = |v: Option<f64>| v.map_or_else(|| String::from("-"), |v| format!("{v:.1} ms"));
    let mut line = format!(
        "sender RTT p50 {}  p95 {}  retransmit ratio {:.3} %  Jain (last 80 % of the overlap) {:.4}\n",
        ms(s.rtt_p50_ms),
        ms(s.rtt_p95_ms),
        s.retransmit_ratio * 100.0,
        s.jain_tail
    );
    if let Some(a) = &s.after_change {
        let back = a.recovery_s.map_or_else(|| String::from("never"), |r| format!("{r:.2} s"));
        let after = a.efficiency_after_2s.map_or_else(|| String::from("-"), |e| format!("{e:.3}"));
        line += &format!(
            "after the change at {:.1} s to {:.1} Mbit/s: at 0.85 of it after {back}, retransmit ratio \
             {:.3} % over 2 s, efficiency {after} from 2 s on\n",
            a.at_s,
            a.rate_mbit,
            a.retransmit_ratio_2s * 100.0,
        );
    }
    line
}

/// What RFC 9438 §5.1's response function predicts for one CUBIC flow under random loss: the
/// average window is the larger of CUBIC's, (C·(3+β)/(4·(1−β)))^¼ · RTT^¾ / p^¾ segments, and
/// the Reno-friendly one, sqrt(α·(1+β)/(2·(1−β)·p)) with α = 3·(1−β)/(1+β) (eq. 3).
fn model_line(params: &ScenarioParams) -> String {
    let p = params.link.loss;
    if p <= 0.0 || params.rate_bps == 0 {
        return String::new();
    }
    let (c, beta, mss) = (0.4f64, 0.7f64, 1400.0f64);
    let rtt = params.rtt.as_secs_f64();
    let cubic = (c * (3.0 + beta) / (4.0 * (1.0 - beta))).powf(0.25) * rtt.powf(0.75) / p.powf(0.75);
    let alpha = 3.0 * (1.0 - beta) / (1.0 + beta);
    let reno = (alpha * (1.0 + beta) / (2.0 * (1.0 - beta) * p)).sqrt();
    let mbit = (cubic.max(reno) * mss * 8.0 / rtt / 1e6).min(params.rate_bps as f64 / 1e6);
    format!(
        "RFC 9438 §5.1 model at loss {p}: {mbit:.3} Mbit/s, efficiency {:.3}\n",
        mbit * 1e6 / params.rate_bps as f64
    )
}

/// Runs a sweep for each controller of `ccs` and renders it (`bytes` per row of the lossy one).
fn sweep(
    which: SweepKind,
    seed: u64,
    ccs: &[Cc],
    bytes: Option<u64>,
    json: bool,
) -> Result<String, SimError> {
    use lrp2p_sim::sweep::{self, lossy};
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    match which {
        SweepKind::LongRtt => {
            let mut out = String::new();
            for &cc in ccs {
                let rows = sweep::long_rtt(seed, Some(cc), threads)?;
                if json {
                    out += &sweep::render_json(&rows);
                } else {
                    out += &format!("controller: {cc}\n\n{}\n", sweep::render(&rows));
                }
            }
            Ok(out)
        }
        SweepKind::Lossy => {
            let rows = lossy::lossy(seed, ccs, bytes.unwrap_or(lossy::BYTES), threads)?;
            Ok(if json { lossy::render_json(&rows) } else { lossy::render(&rows) })
        }
    }
}

/// Writes `text` to stdout; a write error is a failure (a full disk must not look like success).
fn print(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Sweep { which, seed, cc, bytes, json }) = cli.command {
        return match sweep(which, seed, &cc, bytes, json) {
            Ok(text) => print(&text),
            Err(e) => {
                eprintln!("lrp2p-sim: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let Some(args) = cli.run else {
        eprintln!("lrp2p-sim: give a scenario (--rate-mbit, --rtt-ms, --bytes, --seed) or a sweep");
        return ExitCode::from(2);
    };
    if args.change_at_s.is_some() && args.rate_mbit_after.is_none() && args.rtt_ms_after.is_none() {
        eprintln!("lrp2p-sim: --change-at-s needs --rate-mbit-after and/or --rtt-ms-after");
        return ExitCode::from(2);
    }
    let params = args.params();
    let report = match run_scenario(&params) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("lrp2p-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    let text = if args.json {
        report.summary.to_json() + "\n"
    } else if args.series {
        report.series_csv()
    } else {
        render(&params, &report)
    };
    print(&text)
}
