//! The BBR measurement sweep of issue 12: 100 Mbit/s, 40 ms RTT, a one-BDP drop-tail queue
//! unless the row says otherwise; one upload per row (100 MB, 50 MB without loss), then two
//! rows of two flows sharing the bottleneck. Prints a Markdown table.
//!
//! ```text
//! cargo run --release -p lrp2p-sim --example bbr_sweep [-- cc=bbr|cubic rows=a,b,... seed=N]
//! ```
//!
//! Rows: `clean`, `loss0.01`, `loss0.1`, `loss1`, `loss3`, `ge1x4`, `reorder5`, `reorder20`,
//! `queue10`, `queue0.1`, `staggered` (two flows of `cc` started 1 s apart: Jain's index over
//! 5–35 s), `vs-cubic` (one flow of `cc` and one CUBIC flow: CUBIC's share over 10–40 s).

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::{Duration, Instant};

use lrp2p_proto::{Algorithm, EndpointConfig, StaticSecret};
use lrp2p_sim::scenario::{ScenarioParams, dumbbell};
use lrp2p_sim::transfer::{Transfer, TransferNode, TransferOptions};
use lrp2p_sim::{GilbertElliott, Node, Simulator, jain_fairness};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const RATE: u64 = 100_000_000;
const RTT: Duration = Duration::from_millis(40);
const BDP_PACKETS: usize = 357;

fn endpoint_config(cc: Algorithm) -> EndpointConfig {
    let mut config = EndpointConfig::default();
    config.early_data.start_floor = false;
    config.connection.congestion = cc.factory();
    config
}

/// One upload: efficiency, retransmit ratio, p95 RTT over the base RTT, timeouts.
struct Figures {
    ok: bool,
    efficiency: f64,
    retransmit_ratio: f64,
    p95_rtt: f64,
    timeouts: u64,
    sim_secs: f64,
}

fn upload(cc: Algorithm, params: &ScenarioParams) -> Figures {
    let mut transfer = Transfer::new(params, endpoint_config(cc), TransferOptions::default()).unwrap();
    let mut rtts = Vec::new();
    let outcome = loop {
        let outcome = transfer.run_for(Duration::from_millis(10)).unwrap();
        for node in transfer.client_nodes() {
            rtts.extend(node.flows.iter().filter(|f| f.closed.is_none()).filter_map(|f| f.stats.latest_rtt));
        }
        if transfer.sim.all_done() || transfer.sim.elapsed() >= params.time_limit {
            break outcome;
        }
    };
    let summary = transfer.summary(outcome);
    rtts.sort();
    let p95 = rtts.get(rtts.len() * 95 / 100).copied().unwrap_or_default();
    let timeouts = transfer.client_nodes().flat_map(|n| n.flows.iter()).map(|f| f.stats.timeouts).sum();
    Figures {
        ok: summary.ok,
        efficiency: summary.efficiency,
        retransmit_ratio: summary.retransmit_ratio,
        p95_rtt: p95.as_secs_f64() / RTT.as_secs_f64(),
        timeouts,
        sim_secs: summary.sim_secs,
    }
}

/// A host that joins the network at a given instant (a client started later).
enum Host {
    Up(Box<TransferNode>),
    Later(Instant, Box<dyn FnOnce(Instant) -> TransferNode>),
    Taken,
}

impl Host {
    fn node(&self) -> Option<&TransferNode> {
        match self {
            Host::Up(node) => Some(node),
            _ => None,
        }
    }
}

impl Node for Host {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &mut [u8]) {
        if let Host::Up(node) = self {
            node.handle_datagram(now, from, data);
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        match std::mem::replace(self, Host::Taken) {
            Host::Later(at, build) if now >= at => *self = Host::Up(Box::new(build(now))),
            Host::Up(mut node) => {
                node.handle_timeout(now);
                *self = Host::Up(node);
            }
            other => *self = other,
        }
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        match self {
            Host::Up(node) => node.poll_transmit(now, buf),
            _ => None,
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Host::Up(node) => node.poll_timeout(),
            Host::Later(at, _) => Some(*at),
            Host::Taken => None,
        }
    }
    fn is_done(&self) -> bool {
        false
    }
}

/// Two long uploads, with controllers `ccs` and start offsets `starts`, sharing the
/// bottleneck: each flow's bytes received in `[from, to]` of simulated time, and the
/// retransmit ratio over both.
fn shared(
    seed: u64,
    ccs: [Algorithm; 2],
    starts: [Duration; 2],
    from: Duration,
    to: Duration,
) -> ([f64; 2], f64) {
    let params = ScenarioParams::new(seed, RATE, RTT, 0);
    let mut sim = Simulator::<Host>::new(seed, params.link.clone());
    let topo = dumbbell(&mut sim, 2, &params.link);
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let server_key = StaticSecret::generate(&mut rng);
    let server_public = server_key.public_key();
    let start = sim.start();
    let server = TransferNode::server(endpoint_config(Algorithm::Cubic), server_key, seed ^ 1, start, 2, 0);
    let server = sim.add_node(topo.server, Host::Up(Box::new(server))).unwrap();
    for (i, &addr) in topo.clients.iter().enumerate() {
        let key = StaticSecret::generate(&mut rng);
        let config = endpoint_config(ccs[i]);
        let server_addr = topo.server;
        let build = move |now: Instant| {
            let flow = u32::try_from(i).unwrap();
            TransferNode::client(
                config,
                key,
                seed + 100 + i as u64,
                now,
                server_addr,
                Some(server_public),
                flow,
                1 << 40,
            )
        };
        sim.add_node(addr, Host::Later(start + starts[i], Box::new(build))).unwrap();
    }
    let received = |sim: &Simulator<Host>| -> [u64; 2] {
        let mut bytes = [0u64; 2];
        for f in &sim.node(server).and_then(Host::node).unwrap().flows {
            if let Some(slot) = f.id.and_then(|id| bytes.get_mut(id as usize)) {
                *slot = f.received;
            }
        }
        bytes
    };
    sim.run_until(from).unwrap();
    let before = received(&sim);
    sim.run_until(to).unwrap();
    let after = received(&sim);
    let secs = (to - from).as_secs_f64();
    let shares = [0, 1].map(|i| (after[i] - before[i]) as f64 * 8.0 / secs / RATE as f64);
    let (mut sent, mut resent) = (0u64, 0u64);
    for (_, host) in sim.nodes() {
        for f in host.node().map(|n| n.flows.as_slice()).unwrap_or_default() {
            sent += f.stats.segments_sent;
            resent += f.stats.retransmits;
        }
    }
    (shares, resent as f64 / sent.max(1) as f64)
}

fn main() {
    let mut cc = Algorithm::Bbr;
    let mut rows = vec![
        "clean",
        "loss0.01",
        "loss0.1",
        "loss1",
        "loss3",
        "ge1x4",
        "reorder5",
        "reorder20",
        "queue10",
        "queue0.1",
        "staggered",
        "vs-cubic",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    let mut seed = 1;
    for arg in std::env::args().skip(1) {
        if let Some(v) = arg.strip_prefix("cc=") {
            cc = Algorithm::from_str(v).unwrap();
        } else if let Some(v) = arg.strip_prefix("rows=") {
            rows = v.split(',').map(String::from).collect();
        } else if let Some(v) = arg.strip_prefix("seed=") {
            seed = v.parse().unwrap();
        }
    }
    println!(
        "| scenario ({cc}, seed {seed}) | ok | efficiency | retransmit ratio | p95 RTT / base | timeouts | simulated s | wall s |"
    );
    println!("|---|:--:|---:|---:|---:|---:|---:|---:|");
    for row in &rows {
        let wall = Instant::now();
        let mb = if row == "clean" || row.starts_with("queue") { 50_000_000 } else { 100_000_000 };
        let mut params = ScenarioParams::new(seed, RATE, RTT, mb);
        let link = params.link.clone();
        params.link = match row.as_str() {
            "clean" => link,
            "loss0.01" => link.loss(0.0001),
            "loss0.1" => link.loss(0.001),
            "loss1" => link.loss(0.01),
            "loss3" => link.loss(0.03),
            "ge1x4" => link.burst_loss(GilbertElliott::with_average_loss(0.01, 4.0)),
            "reorder5" => link.reorder(0.02).reorder_delay(Duration::from_millis(5)),
            "reorder20" => link.reorder(0.02).reorder_delay(Duration::from_millis(20)),
            "queue10" => link.queue_packets(BDP_PACKETS * 10),
            "queue0.1" => link.queue_packets(BDP_PACKETS / 10),
            "staggered" => {
                let second = Duration::from_secs(1);
                let (shares, ratio) =
                    shared(seed, [cc, cc], [Duration::ZERO, second], 5 * second, 35 * second);
                println!(
                    "| 2 × {cc}, 1 s apart: shares {:.3} / {:.3}, Jain {:.3} | | {:.3} | {:.3} % | | | 35 | {:.1} |",
                    shares[0],
                    shares[1],
                    jain_fairness(&shares),
                    shares[0] + shares[1],
                    ratio * 100.0,
                    wall.elapsed().as_secs_f64()
                );
                continue;
            }
            "vs-cubic" => {
                let second = Duration::from_secs(1);
                let (shares, ratio) =
                    shared(seed, [cc, Algorithm::Cubic], [Duration::ZERO; 2], 10 * second, 40 * second);
                println!(
                    "| {cc} + cubic: {cc} {:.3}, cubic {:.3} of the link | | {:.3} | {:.3} % | | | 40 | {:.1} |",
                    shares[0],
                    shares[1],
                    shares[0] + shares[1],
                    ratio * 100.0,
                    wall.elapsed().as_secs_f64()
                );
                continue;
            }
            other => panic!("unknown row {other}"),
        };
        params.time_limit = params.default_time_limit();
        let f = upload(cc, &params);
        println!(
            "| {row} | {} | {:.3} | {:.3} % | {:.2} | {} | {:.1} | {:.1} |",
            if f.ok { "yes" } else { "NO" },
            f.efficiency,
            f.retransmit_ratio * 100.0,
            f.p95_rtt,
            f.timeouts,
            f.sim_secs,
            wall.elapsed().as_secs_f64()
        );
    }
}
