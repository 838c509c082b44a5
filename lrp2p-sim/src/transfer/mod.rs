//! Real LRP2P endpoints on the emulated network: a [`TransferNode`] wraps an
//! `lrp2p_proto::Endpoint` plus a small application that sends a verifiable byte
//! pattern, and [`endpoint_transfer`] is the congestion-control benchmark scenario built on it.
//!
//! Every client opens one connection to the server (Noise IK, so its first datagram carries
//! data), writes its flow id and `bytes` of a pattern, then shuts down its stream; with
//! `download` bytes the server answers with its own pattern the same way. Each receiver checks
//! every byte, so `ok` means intact, in order and exactly once.
//!
//! [`Transfer`] is the same scenario kept open for inspection: build it with
//! [`TransferOptions`] (XX instead of IK, streams left open, several connections per client
//! endpoint), run it, look at every node's [`Flow`]s (close reasons and times) and endpoint, make a
//! host vanish ([`TransferNode::vanish_at`]), run on, and compute the [`Summary`](crate::Summary) at the end.
//!
//! Flows may open late ([`ScenarioParams::starts`](crate::scenario::ScenarioParams::starts)) and
//! run different congestion controllers (one per client endpoint,
//! [`ScenarioParams::controllers`](crate::scenario::ScenarioParams::controllers)). Every node
//! records its flows' counters as the run goes ([`Flow::series`], [`Flow::rtt_samples`]), from
//! which [`Transfer::series`] and the summary's windowed figures are computed.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lrp2p_proto::EndpointConfig;
use lrp2p_proto::{CloseReason, ConnectionStats};
use lrp2p_proto::{ConnectionHandle, Endpoint, Event};
use lrp2p_proto::{PublicKey, StaticSecret};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

mod run;
mod sample;

pub use run::{Transfer, TransferOptions, endpoint_transfer, endpoint_transfer_with};
pub use sample::RTT_SAMPLE_INTERVAL;

use crate::Node;
use crate::series::SeriesPoint;
use sample::Sampler;

/// Wall clock handed to the endpoints (ns since the Unix epoch); simulated time runs from it.
const UNIX_NS: u64 = 1_800_000_000_000_000_000;

/// Pattern bytes generated (and offered to the endpoint) at a time.
const WRITE_CHUNK: usize = 64 * 1024;

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
    header: Vec<u8>,
    /// Pattern bytes from offset `sent` on, generated but not yet taken by the endpoint (kept
    /// so that a full send buffer does not cost a fresh chunk of pattern at every call).
    pending: Vec<u8>,
    /// Event-driven mode: the endpoint said there is something to read / room to write.
    want_read: bool,
    want_write: bool,
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
    /// When the peer's end of stream was read (see [`eof`](Self::eof)).
    pub eof_at: Option<Instant>,
    /// When this side shut its stream down (everything written, FIN queued).
    pub fin_sent_at: Option<Instant>,
    /// When the handshake completed here, and whether 0-RTT data was accepted
    /// ([`Event::Connected`]).
    pub connected: Option<(Instant, bool)>,
    /// When the connection closed ([`Event::Closed`]).
    pub closed_at: Option<Instant>,
    /// The flow's counters every [`SERIES_INTERVAL`](crate::series::SERIES_INTERVAL) since the
    /// start of the run, as this node saw them (delivered bytes on the receiving side, segments
    /// on the sending side; zeros before the flow existed).
    pub series: Vec<SeriesPoint>,
    /// The sender's latest RTT every [`RTT_SAMPLE_INTERVAL`] while it had data in flight (on
    /// the sending side only).
    pub rtt_samples: Vec<Duration>,
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
            header: id.map(|i| i.to_be_bytes().to_vec()).unwrap_or_default(),
            pending: Vec::new(),
            want_read: true,
            want_write: true,
            received: 0,
            intact: true,
            eof: false,
            first_byte: None,
            last_byte: None,
            closed: None,
            stats: ConnectionStats::default(),
            eof_at: None,
            fin_sent_at: None,
            connected: None,
            closed_at: None,
            series: Vec::new(),
            rtt_samples: Vec::new(),
        }
    }

    /// The counters of a [`Flow::series`] point, as they are now.
    pub fn point(&self) -> SeriesPoint {
        SeriesPoint {
            delivered: self.received,
            segments_sent: self.stats.segments_sent,
            retransmits: self.stats.retransmits,
        }
    }

    /// Whether this flow received exactly `expected` bytes of its peer's pattern, intact and in
    /// order, followed by the end of the stream.
    pub fn verified(&self, expected: u64) -> bool {
        self.intact && self.eof && self.received == expected
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
    /// Shut each stream down once its bytes are written (the default; see
    /// [`set_finish`](Self::set_finish)).
    finish: bool,
    /// From this instant on the host is gone (see [`vanish_at`](Self::vanish_at)).
    vanish_at: Option<Instant>,
    vanished: bool,
    /// Done only once the endpoint has freed every connection (see
    /// [`set_await_release`](Self::set_await_release)).
    await_release: bool,
    /// Read and write only on the endpoint's events (see
    /// [`set_event_driven`](Self::set_event_driven)).
    event_driven: bool,
    /// Client: connections still to open, `(when, flow id)`, earliest first.
    pending: Vec<(Instant, u32)>,
    /// Client: the server and its key (IK), and the bytes each flow uploads.
    peer: Option<(SocketAddr, Option<PublicKey>, u64)>,
    /// Records the flows' series and RTT samples.
    sampler: Sampler,
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
            finish: true,
            vanish_at: None,
            vanished: false,
            await_release: false,
            event_driven: false,
            pending: Vec::new(),
            peer: None,
            sampler: Sampler::new(start),
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
        Self::multi_client(config, key, seed, start, server, server_key, &[flow], upload)
    }

    /// A client endpoint that opens one connection to `server` per entry of `flows` (in order,
    /// all at `start`), each uploading `upload` bytes as that flow. A connection the endpoint
    /// refuses to open (its `max_connections`) is left out of [`flows`](Self::flows).
    #[allow(clippy::too_many_arguments)]
    pub fn multi_client(
        config: EndpointConfig,
        key: StaticSecret,
        seed: u64,
        start: Instant,
        server: SocketAddr,
        server_key: Option<PublicKey>,
        flows: &[u32],
        upload: u64,
    ) -> Self {
        let flows: Vec<(u32, Instant)> = flows.iter().map(|&f| (f, start)).collect();
        Self::build_client(config, key, seed, start, server, server_key, &flows, upload, true)
    }

    /// A client endpoint as [`multi_client`](Self::multi_client) builds it, but each flow
    /// `(id, at)` opens its connection at `at` (those due at `start` at once), and shutting its
    /// streams down after the data if `finish` (the first data is written as the connection
    /// opens, before its first datagram, so that it rides in it).
    #[allow(clippy::too_many_arguments)]
    fn build_client(
        config: EndpointConfig,
        key: StaticSecret,
        seed: u64,
        start: Instant,
        server: SocketAddr,
        server_key: Option<PublicKey>,
        flows: &[(u32, Instant)],
        upload: u64,
        finish: bool,
    ) -> Self {
        let endpoint = Endpoint::new(config, key, ChaCha20Rng::seed_from_u64(seed), start, UNIX_NS);
        let mut pending: Vec<(Instant, u32)> = flows.iter().map(|&(id, at)| (at, id)).collect();
        pending.sort_unstable();
        let mut node = TransferNode {
            endpoint,
            is_server: false,
            download: 0,
            expected_flows: flows.len().max(1),
            flows: Vec::new(),
            shares_at_first_finish: None,
            buf: vec![0; 65536],
            finish,
            vanish_at: None,
            vanished: false,
            await_release: false,
            event_driven: false,
            pending,
            peer: Some((server, server_key, upload)),
            sampler: Sampler::new(start),
        };
        node.pump(start);
        node
    }

    /// Opens the connections due by `now`. One the endpoint refuses (its `max_connections`)
    /// is left out of [`flows`](Self::flows).
    fn open_due(&mut self, now: Instant) {
        let Some((server, server_key, upload)) = self.peer else { return };
        let due = self.pending.partition_point(|&(at, _)| at <= now);
        for (_, id) in self.pending.drain(..due) {
            if let Ok(handle) = self.endpoint.connect(now, server, server_key) {
                self.flows.push(Flow::new(handle, Some(id), upload));
            }
        }
    }

    /// Whether streams are shut down (FIN) once their bytes are written: `true` by default. With
    /// `false` every connection stays open after its data, until the idle timeout or a close.
    /// Set it before the data is written (a client writes at construction: build it with a
    /// [`Transfer`] and [`TransferOptions::finish`] instead).
    pub fn set_finish(&mut self, finish: bool) {
        self.finish = finish;
    }

    /// The host disappears at `at`: from then on it ignores every datagram, sends nothing, has
    /// no deadline and counts as done, as a crashed or unplugged machine would. Its state is
    /// frozen as it was (inspect it with [`flows`](Self::flows) and [`endpoint`](Self::endpoint)).
    pub fn vanish_at(&mut self, at: Instant) {
        self.vanish_at = Some(at);
    }

    /// With `true`, the node is done only once its endpoint holds no connection any more (every
    /// closed connection has lingered and been freed), not as soon as every flow reported its
    /// close: a run then shows that the state is released.
    pub fn set_await_release(&mut self, await_release: bool) {
        self.await_release = await_release;
    }

    /// With `true`, the application acts like a real event-driven one: it reads a connection
    /// only after [`Event::Incoming`], [`Event::Readable`] or [`Event::Finished`] (until the read
    /// blocks), and writes again only after [`Event::Writable`] once a write was cut short. This
    /// relies on the endpoint's edge-triggered events being complete (a missing one stalls the
    /// flow) and costs far less per call with many connections. With `false` (the default) every
    /// flow is read and written at every call, whatever the events said.
    pub fn set_event_driven(&mut self, event_driven: bool) {
        self.event_driven = event_driven;
    }

    /// Whether the host has vanished (see [`vanish_at`](Self::vanish_at)).
    pub fn is_vanished(&self) -> bool {
        self.vanished
    }

    /// Whether this node is the server.
    pub fn is_server(&self) -> bool {
        self.is_server
    }

    /// Why each flow closed, in the order of [`flows`](Self::flows) (`None`: still open).
    pub fn close_reasons(&self) -> Vec<Option<CloseReason>> {
        self.flows.iter().map(|f| f.closed.clone()).collect()
    }

    /// Marks the host vanished once `now` reaches its vanishing instant; true if it is gone.
    fn gone(&mut self, now: Instant) -> bool {
        if !self.vanished && self.vanish_at.is_some_and(|at| now >= at) {
            self.vanished = true;
        }
        self.vanished
    }

    /// The endpoint, for inspection.
    pub fn endpoint(&self) -> &Endpoint<ChaCha20Rng> {
        &self.endpoint
    }

    /// Runs the application: handle events, read everything, write as much as accepted.
    fn pump(&mut self, now: Instant) {
        self.sampler.observe(now, &mut self.flows);
        self.open_due(now);
        while let Some(event) = self.endpoint.poll_event() {
            match event {
                Event::Incoming { connection, .. } => {
                    let _ = self.endpoint.accept(now, connection);
                    self.flows.push(Flow::new(connection, None, self.download));
                }
                Event::Closed { connection, reason } => {
                    if let Some(f) = self.flows.iter_mut().find(|f| f.handle == connection) {
                        f.closed = Some(reason);
                        f.closed_at = Some(now);
                    }
                }
                Event::Connected { connection, early_data_accepted } => {
                    if let Some(f) = self.flows.iter_mut().find(|f| f.handle == connection) {
                        f.connected = Some((now, early_data_accepted));
                    }
                }
                Event::Readable { connection } | Event::Finished { connection } => {
                    if let Some(f) = self.flows.iter_mut().find(|f| f.handle == connection) {
                        f.want_read = true;
                    }
                }
                Event::Writable { connection } => {
                    if let Some(f) = self.flows.iter_mut().find(|f| f.handle == connection) {
                        f.want_write = true;
                    }
                }
                _ => {}
            }
        }
        for i in 0..self.flows.len() {
            if !self.event_driven || self.flows[i].want_read {
                self.read_flow(now, i);
                self.flows[i].want_read = false;
            }
            if !self.event_driven || self.flows[i].want_write {
                let again = self.write_flow(now, i);
                self.flows[i].want_write = again;
            }
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
                    let flow = &mut self.flows[i];
                    if !flow.eof {
                        flow.eof = true;
                        flow.eof_at = Some(now);
                    }
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

    /// Writes what the flow may; returns whether to try again without waiting for
    /// [`Event::Writable`] (only while the server does not know the flow id yet).
    fn write_flow(&mut self, now: Instant, i: usize) -> bool {
        let handle = self.flows[i].handle;
        let flow = &mut self.flows[i];
        if flow.closed.is_some() || flow.fin_sent {
            return false;
        }
        // The client's stream starts with its 4-byte flow id.
        if !self.is_server && flow.header_sent < 4 {
            let header = flow.id.unwrap_or(0).to_be_bytes();
            match self.endpoint.write(now, handle, &header[flow.header_sent..]) {
                Ok(n) => flow.header_sent += n,
                Err(_) => return false,
            }
            if flow.header_sent < 4 {
                return false;
            }
        }
        let Some(id) = flow.id else { return true };
        let dir = u8::from(self.is_server);
        while flow.sent < flow.to_send {
            if flow.pending.is_empty() {
                let len = usize::try_from(flow.to_send - flow.sent).unwrap_or(usize::MAX).min(WRITE_CHUNK);
                flow.pending.extend((0..len as u64).map(|k| pattern(id, dir, flow.sent + k)));
            }
            match self.endpoint.write(now, handle, &flow.pending) {
                Ok(0) | Err(_) => return false,
                Ok(n) => {
                    flow.pending.drain(..n);
                    flow.sent += n as u64;
                }
            }
        }
        if self.finish {
            let _ = self.endpoint.shutdown(now, handle);
            flow.fin_sent = true;
            flow.fin_sent_at = Some(now);
        }
        false
    }
}

impl Node for TransferNode {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &mut [u8]) {
        if self.gone(now) {
            return;
        }
        self.endpoint.handle_datagram(now, from, data);
        self.pump(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.gone(now) {
            return;
        }
        self.endpoint.handle_timeout(now);
        self.pump(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        if self.gone(now) {
            return None;
        }
        self.pump(now);
        self.endpoint.poll_transmit(now, buf).map(|t| (t.destination, t.len))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.vanished {
            return None;
        }
        // Wake up at the vanishing instant too, so the host is gone exactly then, and when the
        // next connection is due.
        let next_open = self.pending.first().map(|&(at, _)| at);
        [self.endpoint.poll_timeout(), self.vanish_at, next_open].into_iter().flatten().min()
    }

    fn is_done(&self) -> bool {
        if self.vanished {
            return true;
        }
        let all_closed = self.flows.iter().all(|f| f.closed.is_some());
        if self.await_release && self.endpoint.connection_count() > 0 {
            return false;
        }
        if self.is_server {
            self.flows.len() >= self.expected_flows && all_closed
        } else {
            self.pending.is_empty() && all_closed
        }
    }
}
