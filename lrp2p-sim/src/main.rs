//! `lrp2p-sim`: run one seeded scenario over an emulated path and print its figures, or a
//! sweep of scenarios as a table.
//!
//! ```text
//! lrp2p-sim --rate-mbit 100 --rtt-ms 50 --loss 0.01 --bytes 10000000 --seed 1 [--json]
//! lrp2p-sim sweep long-rtt [--seed 1] [--json]
//! ```
//!
//! One scenario prints the summary and a table of link counters, or with `--json` exactly one
//! line of [`Summary`] JSON. The scenario is chosen in one place, [`run_scenario`]. A sweep
//! prints a Markdown table (or JSON lines) of [`lrp2p_sim::sweep`] rows.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};
use lrp2p_sim::config::GilbertElliott;
use lrp2p_sim::scenario::{ScenarioParams, ScenarioReport};
use lrp2p_sim::transfer::endpoint_transfer;
use lrp2p_sim::{Jitter, SimError, Summary};

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
    /// Simulated seconds before the run is stopped (default: generous for the transfer).
    #[arg(long)]
    time_limit_s: Option<f64>,
    /// Print one line of JSON instead of tables.
    #[arg(long)]
    json: bool,
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

impl Args {
    /// The scenario parameters these arguments describe.
    fn params(&self) -> ScenarioParams {
        let rate_bps = (self.rate_mbit.max(0.0) * 1e6).round();
        // Whole bits per second; the cast saturates, which is what an absurd rate deserves.
        #[allow(clippy::cast_possible_truncation)]
        let rate_bps = rate_bps as u64;
        let mut p = ScenarioParams::new(self.seed, rate_bps, millis(self.rtt_ms), self.bytes);
        p.flows = self.flows.max(1);
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
         fairness {:.4}\n{}\n{}\nemulator: {} datagrams in {:.3} s wall = {:.0} datagrams/s, {:.1} s wall per \
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
        model_line(params),
        report.table(),
        report.datagrams(),
        report.wall_time.as_secs_f64(),
        report.datagrams_per_wall_sec(),
        report.wall_time.as_secs_f64() / (s.bytes.max(1) as f64 / 1e9),
    )
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

/// Runs a sweep and renders it.
fn sweep(which: SweepKind, seed: u64, json: bool) -> Result<String, SimError> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let rows = match which {
        SweepKind::LongRtt => lrp2p_sim::sweep::long_rtt(seed, threads)?,
    };
    Ok(if json { lrp2p_sim::sweep::render_json(&rows) } else { lrp2p_sim::sweep::render(&rows) })
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
    if let Some(Command::Sweep { which, seed, json }) = cli.command {
        return match sweep(which, seed, json) {
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
    let params = args.params();
    let report = match run_scenario(&params) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("lrp2p-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    let text = if args.json { report.summary.to_json() + "\n" } else { render(&params, &report) };
    print(&text)
}
