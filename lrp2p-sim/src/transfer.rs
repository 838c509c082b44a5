//! Real LRP2P endpoints on the emulated network: a [`TransferNode`] wraps an
//! `lrp2p_proto::endpoint::Endpoint` plus a small application that sends a verifiable byte
//! pattern, and [`endpoint_transfer`] is the congestion-control benchmark scenario built on it.
//!
//! Every client opens one connection to the server (Noise IK, so its first datagram carries
//! data), writes its flow id and `bytes` of a pattern, then shuts down its stream; with
//! `download` bytes the server answers with its own pattern the same way. Each receiver checks
//! every byte, so `ok` means intact, in order and exactly once.

use std::net::SocketAddr;
use std::time::Instant;

use lrp2p_proto::config::EndpointConfig;
use lrp2p_proto::connection::{CloseReason, ConnectionStats};
use lrp2p_proto::endpoint::{ConnectionHandle, Endpoint, Event};
use lrp2p_proto::identity::{PublicKey, StaticSecret};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::Node;
use crate::scenario::{ScenarioParams, ScenarioReport, dumbbell};
use crate::sim::{RunOutcome, SimError, Simulator};
use crate::summary::Summary;

/// Wall clock handed to the endpoints (ns since the Unix epoch); simulated time runs from it.
const UNIX_NS: u64 = 1_800_000_000_000_000_000;

/// Bytes of pattern generated at a time.
const CHUNK: usize = 64 * 1024;

/// The byte at `offset` of flow `flow`'s stream in direction `dir` (0 up, 1 down).
pub fn pattern(flow: u32, dir: u8, offset: u64) -> u8 {
    let x = offset.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (u64::from(flow) << 32) ^ u64::from(dir);
    (x >> 29).to_le_bytes()[0]
}

/// One connection's application state.
#[derive(Debug, Clone)]
pub struct Flow {
    /// The connection.
    pub handle: ConnectionHandle,
    /// Flow id (learned from the first 4 bytes on the server).
    pub id: Option<u32>,
    /// Bytes of pattern still to write, and written so far.
    pub to_send: u64,
    /// Pattern bytes written.
    pub sent: u64,
    header_sent: usize,
    fin_sent: bool,
    /// Pattern bytes from stream offset `chunk_start` on, generated but not yet all written.
    chunk: Vec<u8>,
    chunk_start: u64,
    header: Vec<u8>,
    /// Pattern bytes received and verified.
    pub received: u64,
    /// Every byte received matched the pattern.
    pub intact: bool,
    /// The peer finished its stream and everything was read.
    pub eof: bool,
    /// When the first and last payload bytes were read.
    pub first_byte: Option<Instant>,
    /// When the last payload byte was read.
    pub last_byte: Option<Instant>,
    /// Why the connection closed, once it did.
    pub closed: Option<CloseReason>,
    /// The latest statistics seen.
    pub stats: ConnectionStats,
}

impl Flow {
    fn new(handle: ConnectionHandle, id: Option<u32>, to_send: u64) -> Self {
        Flow {
            handle,
            id,
            to_send,
            sent: 0,
            header_sent: 0,
            fin_sent: false,
            chunk: Vec::new(),
            chunk_start: 0,
            header: id.map(|i| i.to_be_bytes().to_vec()).unwrap_or_default(),
            received: 0,
            intact: true,
            eof: false,
            first_byte: None,
            last_byte: None,
            closed: None,
            stats: ConnectionStats::default(),
        }
    }
}

/// A simulated host: an endpoint and its application.
pub struct TransferNode {
    endpoint: Endpoint<ChaCha20Rng>,
    is_server: bool,
    /// Bytes each server flow sends back.
    download: u64,
    /// Flows the server expects before it is done.
    expected_flows: usize,
    /// This node's flows.
    pub flows: Vec<Flow>,
    /// Server: bytes received per flow when the first flow finished.
    pub shares_at_first_finish: Option<Vec<u64>>,
    buf: Vec<u8>,
}

impl TransferNode {
    /// A server expecting `expected_flows` connections, answering each with `download` bytes.
    pub fn server(
        config: EndpointConfig,
        key: StaticSecret,
        seed: u64,
        start: Instant,
        expected_flows: usize,
        download: u64,
    ) -> Self {
        let endpoint = Endpoint::new(config, key, ChaCha20Rng::seed_from_u64(seed), start, UNIX_NS);
        TransferNode {
            endpoint,
            is_server: true,
            download,
            expected_flows,
            flows: Vec::new(),
            shares_at_first_finish: None,
            buf: vec![0; 65536],
        }
    }

    /// A client that connects to `server` (IK when `server_key` is given) and uploads `upload`
    /// bytes as flow `flow`.
    #[allow(clippy::too_many_arguments)]
    pub fn client(
        config: EndpointConfig,
        key: StaticSecret,
        seed: u64,
        start: Instant,
        server: SocketAddr,
        server_key: Option<PublicKey>,
        flow: u32,
        upload: u64,
    ) -> Self {
        let mut endpoint = Endpoint::new(config, key, ChaCha20Rng::seed_from_u64(seed), start, UNIX_NS);
        let flows = match endpoint.connect(start, server, server_key) {
            Ok(handle) => vec![Flow::new(handle, Some(flow), upload)],
            Err(_) => Vec::new(),
        };
        let mut node = TransferNode {
            endpoint,
            is_server: false,
            download: 0,
            expected_flows: 1,
            flows,
            shares_at_first_finish: None,
            buf: vec![0; 65536],
        };
        node.pump(start);
        node
    }

    /// The endpoint, for inspection.
    pub fn endpoint(&self) -> &Endpoint<ChaCha20Rng> {
        &self.endpoint
    }

    /// Runs the application: handle events, read everything, write as much as accepted.
    fn pump(&mut self, now: Instant) {
        while let Some(event) = self.endpoint.poll_event() {
            match event {
                Event::Incoming { connection, .. } => {
                    self.endpoint.accept(now, connection);
                    self.flows.push(Flow::new(connection, None, self.download));
                }
                Event::Closed { connection, reason } => {
                    if let Some(f) = self.flows.iter_mut().find(|f| f.handle == connection) {
                        f.closed = Some(reason);
                    }
                }
                _ => {}
            }
        }
        for i in 0..self.flows.len() {
            self.read_flow(now, i);
            self.write_flow(now, i);
            let handle = self.flows[i].handle;
            if let Some(stats) = self.endpoint.connection_stats(handle) {
                self.flows[i].stats = stats;
            }
        }
        let complete = self.flows.len() >= self.expected_flows && self.flows.iter().any(|f| f.eof);
        if self.is_server && complete && self.shares_at_first_finish.is_none() {
            let mut shares = vec![0u64; self.expected_flows];
            for f in &self.flows {
                if let Some(slot) = f.id.and_then(|id| shares.get_mut(id as usize)) {
                    *slot += f.received;
                }
            }
            self.shares_at_first_finish = Some(shares);
        }
    }

    fn read_flow(&mut self, now: Instant, i: usize) {
        let handle = self.flows[i].handle;
        loop {
            let n = match self.endpoint.read(now, handle, &mut self.buf) {
                Ok(0) => {
                    self.flows[i].eof = true;
                    return;
                }
                Ok(n) => n,
                Err(_) => return,
            };
            let flow = &mut self.flows[i];
            let mut data = &self.buf[..n];
            if flow.id.is_none() {
                // The server learns the flow id from the first 4 bytes.
                let need = 4 - flow.header.len();
                let take = need.min(data.len());
                flow.header.extend_from_slice(&data[..take]);
                data = &data[take..];
                if flow.header.len() == 4 {
                    let id =
                        u32::from_be_bytes([flow.header[0], flow.header[1], flow.header[2], flow.header[3]]);
                    flow.id = Some(id);
                }
            }
            let (Some(id), false) = (flow.id, data.is_empty()) else { continue };
            let dir = u8::from(self.is_server) ^ 1;
            for (k, &byte) in data.iter().enumerate() {
                if byte != pattern(id, dir ^ 1, flow.received + k as u64) {
                    flow.intact = false;
                }
            }
            flow.received += data.len() as u64;
            flow.first_byte.get_or_insert(now);
            flow.last_byte = Some(now);
        }
    }

    fn write_flow(&mut self, now: Instant, i: usize) {
        let handle = self.flows[i].handle;
        let flow = &mut self.flows[i];
        if flow.closed.is_some() || flow.fin_sent {
            return;
        }
        // The client's stream starts with its 4-byte flow id.
        if !self.is_server && flow.header_sent < 4 {
            let header = flow.id.unwrap_or(0).to_be_bytes();
            match self.endpoint.write(now, handle, &header[flow.header_sent..]) {
                Ok(n) => flow.header_sent += n,
                Err(_) => return,
            }
            if flow.header_sent < 4 {
                return;
            }
        }
        let Some(id) = flow.id else { return };
        let dir = u8::from(self.is_server);
        while flow.sent < flow.to_send {
            // The pattern is generated a chunk at a time and kept until written, so a full send
            // buffer costs nothing per call.
            let consumed = usize::try_from(flow.sent - flow.chunk_start).unwrap_or(usize::MAX);
            if consumed >= flow.chunk.len() {
                let len = usize::try_from(flow.to_send - flow.sent).unwrap_or(usize::MAX).min(CHUNK);
                flow.chunk_start = flow.sent;
                flow.chunk.clear();
                flow.chunk.extend((0..len as u64).map(|k| pattern(id, dir, flow.sent + k)));
                continue;
            }
            match self.endpoint.write(now, handle, &flow.chunk[consumed..]) {
                Ok(0) | Err(_) => return,
                Ok(n) => flow.sent += n as u64,
            }
        }
        self.endpoint.shutdown(now, handle);
        flow.fin_sent = true;
    }
}

impl Node for TransferNode {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &mut [u8]) {
        self.endpoint.handle_datagram(now, from, data);
        self.pump(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.endpoint.handle_timeout(now);
        self.pump(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        self.pump(now);
        self.endpoint.poll_transmit(now, buf).map(|t| (t.destination, t.len))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.endpoint.poll_timeout()
    }

    fn is_done(&self) -> bool {
        let all_closed = self.flows.iter().all(|f| f.closed.is_some());
        if self.is_server { self.flows.len() >= self.expected_flows && all_closed } else { all_closed }
    }
}

/// The benchmark: `params.flows` clients upload `params.bytes` in total to one server over the
/// dumbbell, each verifying nothing is lost, duplicated, reordered or corrupted.
pub fn endpoint_transfer(params: &ScenarioParams) -> Result<ScenarioReport, SimError> {
    let mut config = EndpointConfig::default();
    // Every key here is created for this run: no start-up quiet period for 0-RTT is needed.
    config.early_data.start_floor = false;
    endpoint_transfer_with(params, config, 0)
}

/// [`endpoint_transfer`] with an endpoint configuration and `download` bytes sent back per flow.
pub fn endpoint_transfer_with(
    params: &ScenarioParams,
    config: EndpointConfig,
    download: u64,
) -> Result<ScenarioReport, SimError> {
    #[allow(clippy::disallowed_methods)] // wall-clock time of the run, for the report only
    let wall = Instant::now();
    let mut sim = Simulator::<TransferNode>::new(params.seed, params.link.clone());
    let flows = params.flows.max(1);
    let topo = dumbbell(&mut sim, flows, &params.link);
    let mut rng = ChaCha20Rng::seed_from_u64(params.seed);
    let server_key = StaticSecret::generate(&mut rng);
    let server_public = server_key.public_key();
    let start = sim.start();
    let server = TransferNode::server(config.clone(), server_key, params.seed ^ 1, start, flows, download);
    let server_id = sim.add_node(topo.server, server)?;
    let per_flow = params.bytes / flows as u64;
    for (i, &addr) in topo.clients.iter().enumerate() {
        let key = StaticSecret::generate(&mut rng);
        let flow = u32::try_from(i).unwrap_or(u32::MAX);
        let seed = params.seed.wrapping_add(100 + i as u64);
        let client = TransferNode::client(
            config.clone(),
            key,
            seed,
            start,
            topo.server,
            Some(server_public),
            flow,
            per_flow,
        );
        sim.add_node(addr, client)?;
    }
    let outcome = sim.run_until(params.time_limit)?;
    let retransmits: u64 =
        sim.nodes().map(|(_, n)| n.flows.iter().map(|f| f.stats.retransmits).sum::<u64>()).sum();
    let summary = match sim.node(server_id) {
        Some(server) => {
            let ok = outcome == RunOutcome::AllDone
                && server.flows.len() == flows
                && server.flows.iter().all(|f| f.intact && f.eof && f.received == per_flow);
            let last = server.flows.iter().filter_map(|f| f.last_byte).max();
            let elapsed = last.map_or(sim.elapsed(), |t| t - start);
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
            Summary::new(ok, total, elapsed, params.rate_bps, retransmits, first.map(|t| t - start), &shares)
        }
        None => Summary::new(false, 0, sim.elapsed(), params.rate_bps, retransmits, None, &[]),
    };
    Ok(ScenarioReport::new(&sim, summary, outcome, wall.elapsed()))
}
