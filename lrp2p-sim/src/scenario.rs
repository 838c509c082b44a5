//! Benchmark scenarios: their parameters, the dumbbell topology, the report, and the built-in
//! toy-traffic scenario.
//!
//! A scenario is a function `fn(&ScenarioParams) -> Result<ScenarioReport, SimError>`. The
//! `lrp2p-sim` binary calls exactly one of them ([`toy_traffic`] until the LRP2P `Endpoint` exists);
//! an Endpoint-based one builds its nodes the same way: [`dumbbell`] for the addresses and shared
//! bottleneck, [`Simulator::run_until`] with [`ScenarioParams::time_limit`], then
//! [`ScenarioReport::new`] from the summary it computes.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::Node;
use crate::cc::Cc;
use crate::config::{DEFAULT_MSS, LinkConfig};
use crate::network::LinkId;
use crate::series::FlowSeries;
use crate::sim::{RunOutcome, SimError, Simulator};
use crate::stats::{LinkStats, format_table};
use crate::summary::Summary;
use crate::toy::{ToyNode, ToyReceiver, ToySender};

/// The port every scenario node listens on.
pub const PORT: u16 = 4433;

/// Rate the toy senders use on an unlimited link.
const TOY_UNLIMITED_RATE_BPS: u64 = 100_000_000;

/// What a scenario is asked to do, on what path.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioParams {
    /// Seed of every random choice.
    pub seed: u64,
    /// Bottleneck rate in bit/s (0 = unlimited); also in [`link`](Self::link).
    pub rate_bps: u64,
    /// Base round-trip time (twice the one-way delay of [`link`](Self::link)).
    pub rtt: Duration,
    /// Application bytes to transfer, over all flows.
    pub bytes: u64,
    /// Number of concurrent flows (at least 1).
    pub flows: usize,
    /// Each direction of the path: delay, impairments, rate, queue (the reverse direction
    /// unless [`reverse_link`](Self::reverse_link) says otherwise).
    pub link: LinkConfig,
    /// The server → clients direction (ACKs of an upload), if it differs from
    /// [`link`](Self::link).
    pub reverse_link: Option<LinkConfig>,
    /// Simulated time after which the run is stopped.
    pub time_limit: Duration,
    /// The congestion controller of each flow's sender: flow `i` runs `controllers[i]`, and
    /// every flow beyond the list the last entry. Empty (the default): the endpoint
    /// configuration's own controller (CUBIC unless changed). See [`controller_of`](Self::controller_of).
    pub controllers: Vec<Cc>,
    /// When each flow opens its connection, after the start of the run: flow `i` at
    /// `starts[i]`, every flow beyond the list at once. Empty (the default): all at once.
    pub starts: Vec<Duration>,
}

impl ScenarioParams {
    /// A clean path of `rate_bps` and `rtt` (one-way delay `rtt / 2` each way, default queue of
    /// one BDP) and a time limit of [`default_time_limit`](Self::default_time_limit).
    pub fn new(seed: u64, rate_bps: u64, rtt: Duration, bytes: u64) -> Self {
        let link = LinkConfig::new().rate_bps(rate_bps).delay(rtt / 2);
        let mut params = Self {
            seed,
            rate_bps,
            rtt,
            bytes,
            flows: 1,
            link,
            reverse_link: None,
            time_limit: Duration::ZERO,
            controllers: Vec::new(),
            starts: Vec::new(),
        };
        params.time_limit = params.default_time_limit();
        params
    }

    /// The server → clients direction: [`reverse_link`](Self::reverse_link), else
    /// [`link`](Self::link).
    pub fn reverse(&self) -> &LinkConfig {
        self.reverse_link.as_ref().unwrap_or(&self.link)
    }

    /// The controller flow `i` runs, if [`controllers`](Self::controllers) names one.
    pub fn controller_of(&self, flow: usize) -> Option<Cc> {
        self.controllers.get(flow).or(self.controllers.last()).copied()
    }

    /// When flow `i` starts, after the start of the run (see [`starts`](Self::starts)).
    pub fn start_of(&self, flow: usize) -> Duration {
        self.starts.get(flow).copied().unwrap_or(Duration::ZERO)
    }

    /// Twenty times the ideal transfer time, plus 100 RTTs, 10 s and the latest flow start: long
    /// enough for any sane transport, short enough to stop a stuck one.
    pub fn default_time_limit(&self) -> Duration {
        let rate = if self.rate_bps == 0 { TOY_UNLIMITED_RATE_BPS } else { self.rate_bps };
        let ideal = Duration::from_secs_f64(self.bytes as f64 * 8.0 / rate as f64);
        let last_start = self.starts.iter().max().copied().unwrap_or(Duration::ZERO);
        ideal.saturating_mul(20).saturating_add(self.rtt.saturating_mul(100))
            + Duration::from_secs(10)
            + last_start
    }
}

/// The addresses and shared links of a dumbbell: `clients` on one side, one `server` on the
/// other, every client-to-server datagram through one `forward` bottleneck and every reply
/// through one `reverse` link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dumbbell {
    /// The server's address.
    pub server: SocketAddr,
    /// The clients' addresses, one per flow.
    pub clients: Vec<SocketAddr>,
    /// The shared client → server link.
    pub forward: LinkId,
    /// The shared server → client link.
    pub reverse: LinkId,
}

/// The address of client `i` (`10.1.x.y`, distinct for up to 65,535 clients).
pub fn client_addr(i: usize) -> SocketAddr {
    let [lo, hi, ..] = (i + 1).to_le_bytes();
    SocketAddr::from((Ipv4Addr::new(10, 1, hi, lo), PORT))
}

/// The server's address (`10.0.0.1`).
pub fn server_addr() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(10, 0, 0, 1), PORT))
}

/// Routes `clients` clients and one server through a shared bottleneck each way, both configured
/// as `link`. Nodes are not added: attach them at the returned addresses.
pub fn dumbbell<N: Node>(sim: &mut Simulator<N>, clients: usize, link: &LinkConfig) -> Dumbbell {
    dumbbell_with(sim, clients, link, link)
}

/// [`dumbbell`] with the client → server bottleneck configured as `forward` and the way back
/// as `reverse`.
pub fn dumbbell_with<N: Node>(
    sim: &mut Simulator<N>,
    clients: usize,
    forward: &LinkConfig,
    reverse: &LinkConfig,
) -> Dumbbell {
    let net = sim.network_mut();
    let forward = net.add_link("clients -> server", forward.clone());
    let reverse = net.add_link("server -> clients", reverse.clone());
    let server = server_addr();
    let clients: Vec<SocketAddr> = (0..clients.max(1)).map(client_addr).collect();
    for &c in &clients {
        net.route(c, server, forward);
        net.route(server, c, reverse);
    }
    Dumbbell { server, clients, forward, reverse }
}

/// What a scenario run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioReport {
    /// The headline figures.
    pub summary: Summary,
    /// How the run ended.
    pub outcome: RunOutcome,
    /// Every link's label and counters, in order of creation.
    pub links: Vec<(String, LinkStats)>,
    /// Simulated time at the end of the run.
    pub sim_time: Duration,
    /// Wall-clock time the run took.
    pub wall_time: Duration,
    /// Each flow's counters over time, by flow id (empty for scenarios that keep none).
    pub series: Vec<FlowSeries>,
}

impl ScenarioReport {
    /// Collects the link counters and times of a finished simulation.
    pub fn new<N: Node>(
        sim: &Simulator<N>,
        summary: Summary,
        outcome: RunOutcome,
        wall_time: Duration,
    ) -> Self {
        let links = sim.network().links().map(|l| (l.label.to_owned(), l.stats.clone())).collect();
        Self { summary, outcome, links, sim_time: sim.elapsed(), wall_time, series: Vec::new() }
    }

    /// Each flow's goodput and retransmissions per interval of its [series](Self::series), as
    /// CSV: `t_s,flow,goodput_mbit,segments_sent,retransmits` (the interval ending at `t_s`).
    pub fn series_csv(&self) -> String {
        let mut out = String::from("t_s,flow,goodput_mbit,segments_sent,retransmits\n");
        for (flow, s) in self.series.iter().enumerate() {
            let secs = s.interval.as_secs_f64();
            for (k, w) in s.points.windows(2).enumerate() {
                let goodput = if secs > 0.0 {
                    (w[1].delivered - w[0].delivered) as f64 * 8.0 / secs / 1e6
                } else {
                    0.0
                };
                let _ = writeln!(
                    out,
                    "{:.1},{flow},{goodput:.3},{},{}",
                    (k + 1) as f64 * secs,
                    w[1].segments_sent.saturating_sub(w[0].segments_sent),
                    w[1].retransmits.saturating_sub(w[0].retransmits),
                );
            }
        }
        out
    }

    /// Datagrams offered to the network over the run.
    pub fn datagrams(&self) -> u64 {
        self.links.iter().map(|(_, s)| s.offered).sum()
    }

    /// Emulator speed: datagrams offered per wall-clock second.
    pub fn datagrams_per_wall_sec(&self) -> f64 {
        let secs = self.wall_time.as_secs_f64();
        if secs <= 0.0 { 0.0 } else { self.datagrams() as f64 / secs }
    }

    /// The link counters as an aligned table.
    pub fn table(&self) -> String {
        format_table(self.links.iter().map(|(label, s)| (label.as_str(), s)))
    }
}

/// Built-in test traffic: each flow is an unreliable [`ToySender`] pacing datagrams of
/// [`DEFAULT_MSS`] bytes at `rate / flows` (starts staggered across one interval) over a
/// [`dumbbell`] to one [`ToyReceiver`]. No retransmissions, so `bytes` counts what got through.
pub fn toy_traffic(params: &ScenarioParams) -> Result<ScenarioReport, SimError> {
    let wall = Instant::now();
    let mut sim = Simulator::<ToyNode>::new(params.seed, params.link.clone());
    let flows = params.flows.max(1);
    let topo = dumbbell_with(&mut sim, flows, &params.link, params.reverse());
    let receiver = sim.add_node(topo.server, ToyNode::Receiver(ToyReceiver::new()))?;

    let rate = if params.rate_bps == 0 { TOY_UNLIMITED_RATE_BPS } else { params.rate_bps };
    let per_flow_rate = (rate / flows as u64).max(1);
    let size = DEFAULT_MSS;
    let count = params.bytes.div_ceil(flows as u64).div_ceil(size as u64);
    let interval_nanos = LinkConfig::serialization_numerator(size) / u128::from(per_flow_rate);
    let interval = Duration::from_nanos(u64::try_from(interval_nanos).unwrap_or(u64::MAX));
    // Long enough for the last datagram to cross a full queue, jitter and reordering.
    let linger = params.rtt.saturating_mul(4) + params.link.reorder_delay + Duration::from_secs(1);
    for (i, &addr) in topo.clients.iter().enumerate() {
        let offset = interval.mul_f64(i as f64 / flows as f64);
        let flow = u32::try_from(i).unwrap_or(u32::MAX);
        let sender = ToySender::new(flow, topo.server, sim.start() + offset, interval, size, count, linger);
        sim.add_node(addr, ToyNode::Sender(sender))?;
    }

    let outcome = sim.run_until(params.time_limit)?;

    let summary = match sim.node(receiver) {
        Some(ToyNode::Receiver(r)) => {
            let start = sim.start();
            let elapsed = r.last_at().map_or(sim.elapsed(), |t| t - start);
            let mut per_flow: Vec<u64> = r.flows().iter().map(|f| f.bytes).collect();
            per_flow.resize(flows, 0);
            Summary::new(
                outcome == RunOutcome::AllDone,
                r.total_bytes(),
                elapsed,
                params.rate_bps,
                0,
                r.first_at().map(|t| t - start),
                &per_flow,
            )
        }
        _ => Summary::new(false, 0, sim.elapsed(), params.rate_bps, 0, None, &[]),
    };
    Ok(ScenarioReport::new(&sim, summary, outcome, wall.elapsed()))
}
