//! Running a transfer: [`Transfer`] builds the dumbbell of [`TransferNode`]s for a scenario,
//! runs it and reports; [`endpoint_transfer`] is the benchmark scenario of the `lrp2p-sim` binary.
//! [`Transfer::series`] and [`Transfer::rtt_samples`] gather what the nodes recorded.

use std::time::{Duration, Instant};

use lrp2p_proto::ConnectionStats;
use lrp2p_proto::EndpointConfig;
use lrp2p_proto::StaticSecret;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::{Flow, TransferNode};
use crate::cc::controller;
use crate::scenario::{Dumbbell, ScenarioParams, ScenarioReport, dumbbell_with};
use crate::series::{self, FlowSeries, SERIES_INTERVAL, SeriesPoint};
use crate::sim::{NodeId, RunOutcome, SimError, Simulator};
use crate::summary::Summary;

/// The part of the time all flows delivered over which [`Summary::jain_tail`] is computed (the
/// rest, at the start, is left to the flows to converge).
const FAIRNESS_TAIL: f64 = 0.8;

/// The benchmark: `params.flows` clients upload `params.bytes` in total to one server over the
/// dumbbell, each verifying nothing is lost, duplicated, reordered or corrupted.
pub fn endpoint_transfer(params: &ScenarioParams) -> Result<ScenarioReport, SimError> {
    let mut config = EndpointConfig::default();
    // Every key here is created for this run: no start-up quiet period for 0-RTT is needed.
    config.early_data.start_floor = false;
    endpoint_transfer_with(params, config, 0)
}

/// [`endpoint_transfer`] with an endpoint configuration and `download` bytes sent back per flow.
///
/// `ok` requires every byte of both directions: the uploads at the server and, with `download`,
/// each flow's download at its client.
pub fn endpoint_transfer_with(
    params: &ScenarioParams,
    config: EndpointConfig,
    download: u64,
) -> Result<ScenarioReport, SimError> {
    let options = TransferOptions { download, ..TransferOptions::default() };
    let mut transfer = Transfer::new(params, config, options)?;
    let outcome = transfer.run()?;
    Ok(transfer.report(outcome))
}

/// How a [`Transfer`] sets its connections up, beyond [`ScenarioParams`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferOptions {
    /// Bytes the server sends back on each flow (0: upload only).
    pub download: u64,
    /// Clients know the server's key: Noise IK with 0-RTT data (the default). `false`: Noise XX,
    /// the server's key is learned in the handshake and data waits for it (1.5 round trips).
    pub ik: bool,
    /// Shut each stream down after its data (the default), so connections end
    /// [`CloseReason::Finished`](lrp2p_proto::CloseReason::Finished). `false` leaves them open (idle) after the data.
    pub finish: bool,
    /// Client endpoints the flows are spread over, flow `i` on endpoint `i % n`; `None` (the
    /// default) is one endpoint per flow. `Some(1)`: one endpoint opens every connection.
    pub client_endpoints: Option<usize>,
    /// Nodes are done only once their endpoints have freed every connection
    /// ([`TransferNode::set_await_release`]); `false` (the default): once every flow closed.
    pub await_release: bool,
    /// Every node reads and writes only on the endpoint's events
    /// ([`TransferNode::set_event_driven`]); `false` (the default): at every call.
    pub event_driven: bool,
}

impl Default for TransferOptions {
    fn default() -> Self {
        TransferOptions {
            download: 0,
            ik: true,
            finish: true,
            client_endpoints: None,
            await_release: false,
            event_driven: false,
        }
    }
}

/// The transfer scenario of [`endpoint_transfer_with`], built but not yet run, and kept for
/// inspection: run it ([`run`](Self::run), or `sim.run_until` in steps), act on the nodes in
/// between, then read the nodes or the [`summary`](Self::summary).
pub struct Transfer {
    /// The simulation: the server and the clients on a [`dumbbell`](crate::scenario::dumbbell).
    pub sim: Simulator<TransferNode>,
    /// The addresses and links.
    pub topology: Dumbbell,
    /// The server node.
    pub server: NodeId,
    /// The client nodes, in order of their first flow.
    pub clients: Vec<NodeId>,
    params: ScenarioParams,
    options: TransferOptions,
    per_flow: u64,
    wall: Instant,
}

impl std::fmt::Debug for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfer")
            .field("topology", &self.topology)
            .field("params", &self.params)
            .field("options", &self.options)
            .field("elapsed", &self.sim.elapsed())
            .finish_non_exhaustive()
    }
}

impl Transfer {
    /// Builds the scenario: `params.flows` connections (flow ids `0..flows`), each uploading
    /// `params.bytes / flows` bytes, from clients spread as `options` says, to one server.
    ///
    /// Flow `i` opens at [`ScenarioParams::start_of`]`(i)`. With
    /// [`ScenarioParams::controllers`] set, each client endpoint runs the controller of its
    /// first flow and the server that of flow 0 (`config`'s own otherwise).
    pub fn new(
        params: &ScenarioParams,
        config: EndpointConfig,
        options: TransferOptions,
    ) -> Result<Self, SimError> {
        #[allow(clippy::disallowed_methods)] // wall-clock time of the run, for the report only
        let wall = Instant::now();
        let mut sim = Simulator::<TransferNode>::new(params.seed, params.link.clone());
        let flows = params.flows.max(1);
        let endpoints = options.client_endpoints.unwrap_or(flows).clamp(1, flows);
        let topology = dumbbell_with(&mut sim, endpoints, &params.link, params.reverse());
        let mut rng = ChaCha20Rng::seed_from_u64(params.seed);
        let server_key = StaticSecret::generate(&mut rng);
        let server_public = options.ik.then(|| server_key.public_key());
        let start = sim.start();
        let config_for = |flow: usize| {
            let mut config = config.clone();
            if let Some(cc) = params.controller_of(flow) {
                config.connection.congestion = controller(cc, params);
            }
            config
        };
        let mut server_node =
            TransferNode::server(config_for(0), server_key, params.seed ^ 1, start, flows, options.download);
        server_node.set_finish(options.finish);
        server_node.set_await_release(options.await_release);
        server_node.set_event_driven(options.event_driven);
        let server = sim.add_node(topology.server, server_node)?;
        let per_flow = params.bytes / flows as u64;
        let mut clients = Vec::with_capacity(endpoints);
        for (i, &addr) in topology.clients.iter().enumerate() {
            let key = StaticSecret::generate(&mut rng);
            let ids: Vec<(u32, Instant)> = (i..flows)
                .step_by(endpoints)
                .map(|f| (u32::try_from(f).unwrap_or(u32::MAX), start + params.start_of(f)))
                .collect();
            let seed = params.seed.wrapping_add(100 + i as u64);
            let mut node = TransferNode::build_client(
                config_for(i),
                key,
                seed,
                start,
                topology.server,
                server_public,
                &ids,
                per_flow,
                options.finish,
            );
            node.set_await_release(options.await_release);
            node.set_event_driven(options.event_driven);
            clients.push(sim.add_node(addr, node)?);
        }
        Ok(Transfer { sim, topology, server, clients, params: params.clone(), options, per_flow, wall })
    }

    /// Runs until every node is done or [`ScenarioParams::time_limit`].
    pub fn run(&mut self) -> Result<RunOutcome, SimError> {
        self.sim.run_until(self.params.time_limit)
    }

    /// Runs on for `duration` more simulated time (or until every node is done).
    pub fn run_for(&mut self, duration: Duration) -> Result<RunOutcome, SimError> {
        let limit = self.sim.elapsed().saturating_add(duration);
        self.sim.run_until(limit)
    }

    /// The server node.
    pub fn server_node(&self) -> &TransferNode {
        self.node(self.server)
    }

    /// The server node, mutably (e.g. to make it [vanish](TransferNode::vanish_at)).
    pub fn server_node_mut(&mut self) -> &mut TransferNode {
        let id = self.server;
        self.sim.node_mut(id).unwrap_or_else(|| unreachable!("the server belongs to this simulator"))
    }

    /// The client nodes, in order.
    pub fn client_nodes(&self) -> impl Iterator<Item = &TransferNode> {
        self.clients.iter().map(|&id| self.node(id))
    }

    fn node(&self, id: NodeId) -> &TransferNode {
        self.sim.node(id).unwrap_or_else(|| unreachable!("nodes belong to this simulator"))
    }

    /// Bytes each flow uploads.
    pub fn per_flow(&self) -> u64 {
        self.per_flow
    }

    /// The options it was built with.
    pub fn options(&self) -> &TransferOptions {
        &self.options
    }

    /// Every flow's data arrived intact, in order, exactly once and complete, in both directions:
    /// the server has all `flows` uploads, and every client flow its download (if any).
    pub fn verified(&self) -> bool {
        let server = self.server_node();
        let flows = self.params.flows.max(1);
        let mut seen = vec![false; flows];
        for f in &server.flows {
            if let Some(slot) = f.id.and_then(|id| seen.get_mut(id as usize)) {
                *slot = true;
            }
        }
        let uploads = server.flows.len() == flows
            && seen.iter().all(|&s| s)
            && server.flows.iter().all(|f| f.verified(self.per_flow));
        let client_flows: Vec<&Flow> = self.client_nodes().flat_map(|n| n.flows.iter()).collect();
        let downloads = self.options.download == 0
            || (client_flows.len() == flows
                && client_flows.iter().all(|f| f.verified(self.options.download)));
        uploads && downloads
    }

    /// Retransmitted datagrams over every flow of every node.
    pub fn retransmits(&self) -> u64 {
        self.sum_stats(|s| s.retransmits)
    }

    /// `field` of every flow's latest statistics, summed over every node.
    fn sum_stats(&self, field: impl Fn(&ConnectionStats) -> u64) -> u64 {
        self.sim.nodes().map(|(_, n)| n.flows.iter().map(|f| field(&f.stats)).sum::<u64>()).sum()
    }

    /// Each flow's counters every [`SERIES_INTERVAL`] from the start to now, by flow id:
    /// delivered bytes as the server read them, segments as the client sent them (uploads).
    pub fn series(&self) -> Vec<FlowSeries> {
        let flows = self.params.flows.max(1);
        let step = SERIES_INTERVAL.as_nanos().max(1);
        // Up to the first point at or after now: beyond the recorded ones, the counters as they are.
        let len = usize::try_from(self.sim.elapsed().as_nanos().div_ceil(step) + 1).unwrap_or(usize::MAX);
        fn of(node: &TransferNode, id: usize) -> Vec<&Flow> {
            node.flows.iter().filter(|f| f.id.map(|i| i as usize) == Some(id)).collect()
        }
        let at = |flows: &[&Flow], k: usize| -> SeriesPoint {
            flows.iter().map(|f| f.series.get(k).copied().unwrap_or_else(|| f.point())).fold(
                SeriesPoint::default(),
                |a, p| SeriesPoint {
                    delivered: a.delivered + p.delivered,
                    segments_sent: a.segments_sent + p.segments_sent,
                    retransmits: a.retransmits + p.retransmits,
                },
            )
        };
        let clients: Vec<&TransferNode> = self.client_nodes().collect();
        (0..flows)
            .map(|id| {
                let received = of(self.server_node(), id);
                let sent: Vec<&Flow> = clients.iter().flat_map(|n| of(n, id)).collect();
                let points = (0..len)
                    .map(|k| SeriesPoint { delivered: at(&received, k).delivered, ..at(&sent, k) })
                    .collect();
                FlowSeries::new(points)
            })
            .collect()
    }

    /// Every RTT sample the senders took (clients, and the server when it sends a download).
    pub fn rtt_samples(&self) -> Vec<Duration> {
        self.sim
            .nodes()
            .flat_map(|(_, n)| n.flows.iter())
            .flat_map(|f| f.rtt_samples.iter().copied())
            .collect()
    }

    /// The stretch of the run over which the flows' fairness is judged: the last 80 % of the
    /// time every flow delivered data (from the latest first byte to the earliest last byte).
    /// `None` for one flow, or flows that never all delivered at once.
    pub fn fairness_window(&self) -> Option<(Duration, Duration)> {
        let spans: Vec<_> = self.spans().into_iter().collect::<Option<_>>()?;
        (spans.len() > 1)
            .then(|| series::overlap(&spans))
            .flatten()
            .map(|span| series::tail(span, FAIRNESS_TAIL))
    }

    /// Each flow's first and last delivery at the server, since the start, by flow id (`None`
    /// for a flow that delivered nothing).
    fn spans(&self) -> Vec<Option<(Duration, Duration)>> {
        let start = self.sim.start();
        let server = self.server_node();
        (0..self.params.flows.max(1))
            .map(|id| {
                let flows = server.flows.iter().filter(|f| f.id.map(|i| i as usize) == Some(id));
                let (first, last): (Vec<_>, Vec<_>) =
                    flows.filter_map(|f| f.first_byte.zip(f.last_byte)).unzip();
                Some((first.into_iter().min()? - start, last.into_iter().max()? - start))
            })
            .collect()
    }

    /// The figures of the run: `ok` is `outcome == AllDone` and [`verified`](Self::verified);
    /// bytes, goodput and fairness count the uploads; the first byte is flow 0's at the server.
    /// Efficiency is over the link's mean rate while the transfer ran (its schedule included);
    /// RTT percentiles pool every sender's samples.
    pub fn summary(&self, outcome: RunOutcome) -> Summary {
        let flows = self.params.flows.max(1);
        let start = self.sim.start();
        let server = self.server_node();
        let ok = outcome == RunOutcome::AllDone && self.verified();
        let last = server.flows.iter().filter_map(|f| f.last_byte).max();
        let elapsed = last.map_or(self.sim.elapsed(), |t| t - start);
        let first = server.flows.iter().filter(|f| f.id == Some(0)).find_map(|f| f.first_byte);
        let per_flow_bytes: Vec<u64> = (0..flows)
            .map(|i| {
                server
                    .flows
                    .iter()
                    .filter(|f| f.id.map(|id| id as usize) == Some(i))
                    .map(|f| f.received)
                    .sum()
            })
            .collect();
        let total = per_flow_bytes.iter().sum();
        // Fairness compares what each flow got while all were competing: the bytes each had
        // when the first one finished.
        let shares = server.shares_at_first_finish.clone().unwrap_or(per_flow_bytes);
        let link = &self.params.link;
        let rate_bps = if link.schedule.is_empty() {
            self.params.rate_bps
        } else {
            // Whole bits per second of a finite rate: the cast cannot truncate meaningfully.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let mean = link.mean_rate_bps(Duration::ZERO, elapsed).round() as u64;
            mean
        };
        let mut summary =
            Summary::new(ok, total, elapsed, rate_bps, self.retransmits(), first.map(|t| t - start), &shares)
                .with_retransmissions(
                    self.sum_stats(|s| s.spurious_retransmits),
                    self.sum_stats(|s| s.segments_sent),
                )
                .with_rtt_samples(&self.rtt_samples());
        let series = self.series();
        if let Some((from, to)) = self.fairness_window() {
            summary.jain_tail = series::jain_between(&series, from, to);
        }
        summary.after_change = series::after_change(&FlowSeries::sum(&series), link, elapsed);
        summary
    }

    /// The summary with the link counters, times and flow series of the run.
    pub fn report(&self, outcome: RunOutcome) -> ScenarioReport {
        let mut report = ScenarioReport::new(&self.sim, self.summary(outcome), outcome, self.wall.elapsed());
        report.series = self.series();
        report
    }
}
