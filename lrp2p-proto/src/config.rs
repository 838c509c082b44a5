//! Configuration of an [`Endpoint`](crate::endpoint::Endpoint) and of its connections, with
//! defaults a user of quinn or WireGuard would expect.

use std::sync::Arc;
use std::time::Duration;

use crate::app_protocol::AppProtocol;
use crate::congestion::{ControllerFactory, CubicConfig};
use crate::crypto::early::EarlyDataConfig;
use crate::recovery::RttConfig;
use crate::trace::TraceSink;
use crate::wire::{
    ACK_HEADER_LEN, DEFAULT_MAX_DATAGRAM, MAX_ACK_DELAY, SEGMENT_HEADER_LEN, TAG_LEN, TRANSPORT_HEADER_LEN,
};

/// Bytes of one extension's type and length (PROTOCOL.md §7.7).
const EXTENSION_HEADER_LEN: usize = 2;

/// Bytes of one SACK range: its start and end (PROTOCOL.md §7.7).
const SACK_RANGE_LEN: usize = 8;

/// SACK ranges a full-sized DATA segment leaves room for beside its ACK.
const SACK_RANGES_BESIDE_DATA: usize = 4;

/// Bytes of a transport datagram that are not segment payload when it carries one DATA
/// segment and an ACK with a few SACK ranges: header, tag, ACK header and its SACK extension,
/// DATA header. The payload of a full DATA segment (the MSS) is the datagram size less this.
pub(crate) const PACKET_OVERHEAD: usize = TRANSPORT_HEADER_LEN
    + TAG_LEN
    + ACK_HEADER_LEN
    + EXTENSION_HEADER_LEN
    + SACK_RANGES_BESIDE_DATA * SACK_RANGE_LEN
    + SEGMENT_HEADER_LEN;

/// The least DATA payload per segment, whatever `max_datagram_size` says.
const MIN_MSS: usize = 64;

/// The least send buffer a connection gets while its congestion window is small (see
/// [`ConnectionConfig::send_buffer`]).
pub const SEND_BUFFER_FLOOR: usize = 1 << 20;

/// Settings of every connection of an endpoint.
#[derive(Clone, Debug)]
pub struct ConnectionConfig {
    /// Largest UDP payload sent (default 1400, PROTOCOL.md §1). Receivers accept any size.
    pub max_datagram_size: usize,
    /// The most bytes the application may have written but the peer not yet acknowledged
    /// (backpressure). Default 32 MiB.
    ///
    /// The buffer follows the path below this bound, as Linux sizes a socket's send buffer:
    /// twice the congestion window (one window in flight, one ready to follow it), and at least
    /// [`SEND_BUFFER_FLOOR`] (or `send_buffer` itself if smaller). A slow path so never queues
    /// megabytes behind the application's writes, while a long fast one gets what it needs:
    /// 100 Mbit/s over 600 ms holds 7.5 MB in flight, and CUBIC's window reaches twice that
    /// behind a one-BDP queue.
    pub send_buffer: usize,
    /// Bytes of received data buffered for the application, in order or not: the receive
    /// window is the free part of it (PROTOCOL.md §8.4). Default 16 MiB, 1.3 s at 100 Mbit/s
    /// (100 Mbit/s × 600 ms is 7.5 MB): a path with a larger bandwidth-delay product runs at
    /// most `recv_buffer` per round trip, so raise it for one. Memory is held only for data
    /// that arrived and was not yet read (or waits for a gap below it).
    pub recv_buffer: usize,
    /// How long an initiator keeps retransmitting its first handshake message.
    pub handshake_timeout: Duration,
    /// First handshake retransmission timeout, doubled on each retry (RFC 6298 §2.1, §5.5).
    pub handshake_rto: Duration,
    /// A connection that has authenticated nothing from its peer for this long is dead.
    pub idle_timeout: Duration,
    /// Send a keep-alive (an ACK with PING, PROTOCOL.md §13.5) when nothing was sent for this
    /// long, so that NAT mappings and the peer's idle timer stay alive. Default 25 s, as
    /// WireGuard's persistent keep-alive. `None` or zero disables keep-alives.
    pub keep_alive: Option<Duration>,
    /// Validate a new address of the peer with PATH_CHALLENGE / PATH_RESPONSE and move there
    /// once it answers (PROTOCOL.md §13), and answer the peer's challenges. Default on. Off,
    /// the connection behaves like a peer that predates §13: it skips both extensions, never
    /// challenges, and stays on its first path (for interoperability tests).
    pub path_validation: bool,
    /// Longest this side delays an ACK (PROTOCOL.md §8.5: at most 25 ms, which is also the
    /// most it will wait; the connection's ACK policy is `connection/ack.rs`).
    pub max_ack_delay: Duration,
    /// Retransmission-timer settings.
    pub rtt: RttConfig,
    /// The congestion controller (CUBIC by default).
    pub congestion: Arc<dyn ControllerFactory>,
    /// Close a connection with PROTOCOL_VIOLATION when an ACK in a transport packet carries no
    /// ACK_ECHO (PROTOCOL.md §8.8). Default on: without it a peer that acknowledges data it never
    /// received cannot be caught. Off only to talk to an implementation without ACK_ECHO.
    pub require_ack_echo: bool,
    /// Pace packets over the round trip instead of sending bursts.
    pub pacing: bool,
    /// Move the transport keys forward (a key update, PROTOCOL.md §6.5) this often, so that a
    /// key stolen later does not decrypt earlier traffic of a long connection. WireGuard
    /// rekeys every 120 s. `None` never updates.
    pub key_update_interval: Option<Duration>,
    /// Initial sequence number; `None` draws it from the endpoint's RNG (the default). Tests use
    /// it to cross the 2^32 wrap-around.
    pub initial_seq: Option<u32>,
    /// How long a connection the application released while it was still open
    /// (`Endpoint::release`) may take to finish gracefully (its FIN acknowledged, the peer's FIN
    /// received) before it is aborted with a CLOSE. Default 10 s.
    pub release_linger: Duration,
    /// Where the structured event trace goes (`trace`: packets sent, received and lost,
    /// congestion window, RTT samples, handshake and close; `docs/TRACE.md`). `None` (the
    /// default): nothing is recorded, at the cost of one branch where an event could be.
    pub trace: Option<Arc<dyn TraceSink>>,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            max_datagram_size: DEFAULT_MAX_DATAGRAM,
            send_buffer: 32 << 20,
            recv_buffer: 16 << 20,
            handshake_timeout: Duration::from_secs(10),
            handshake_rto: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(30),
            keep_alive: Some(Duration::from_secs(25)),
            path_validation: true,
            max_ack_delay: MAX_ACK_DELAY,
            rtt: RttConfig::default(),
            congestion: Arc::new(CubicConfig::default()),
            require_ack_echo: true,
            pacing: true,
            key_update_interval: Some(Duration::from_secs(120)),
            initial_seq: None,
            release_linger: Duration::from_secs(10),
            trace: None,
        }
    }
}

impl ConnectionConfig {
    /// Payload bytes of one full DATA segment.
    pub(crate) fn mss(&self) -> usize {
        self.max_datagram_size.saturating_sub(PACKET_OVERHEAD).max(MIN_MSS)
    }

    /// The largest DATA payload a datagram of `max_datagram_size` carries (one DATA segment
    /// alone, no ACK beside it): the unit the receive window counts in (PROTOCOL.md §10.6
    /// *Window*), so that a window of `n` segments never promises more than `n` of these.
    pub(crate) fn max_data_payload(&self) -> usize {
        let alone =
            self.max_datagram_size.saturating_sub(TRANSPORT_HEADER_LEN + TAG_LEN + SEGMENT_HEADER_LEN);
        alone.max(self.mss())
    }

    /// The send buffer for a congestion window of `cwnd` bytes (see
    /// [`send_buffer`](Self::send_buffer)).
    pub(crate) fn send_buffer_for(&self, cwnd: u64) -> usize {
        let follow = usize::try_from(cwnd.saturating_mul(2)).unwrap_or(usize::MAX);
        follow.max(SEND_BUFFER_FLOOR).min(self.send_buffer)
    }
}

/// How one connection is opened ([`Endpoint::connect_with`](crate::Endpoint::connect_with)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// The application protocol id sent to the responder (PROTOCOL.md §7.7, like QUIC's ALPN):
    /// it rides the first DATA segment, so the responder learns it at admission when the
    /// application writes before the handshake message that carries that segment is built (the
    /// IK initiation, or the XX finish one round trip later). `None` (the default): no id.
    pub app_protocol: Option<AppProtocol>,
    /// Wait with the handshake until the application first writes, reads or calls
    /// [`Endpoint::start`](crate::Endpoint::start) (see
    /// [`Endpoint::connect_deferred`](crate::Endpoint::connect_deferred)).
    pub deferred: bool,
}

impl ConnectOptions {
    /// These options with the application protocol id `id`.
    #[must_use]
    pub fn with_app_protocol(mut self, id: AppProtocol) -> Self {
        self.app_protocol = Some(id);
        self
    }

    /// These options with the handshake deferred (or not).
    #[must_use]
    pub fn deferred(mut self, deferred: bool) -> Self {
        self.deferred = deferred;
        self
    }
}

/// Settings of an endpoint: one UDP socket's worth of connections.
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    /// Settings of each connection.
    pub connection: ConnectionConfig,
    /// At most this many connections (established or not).
    pub max_connections: usize,
    /// At most this many responder handshakes in progress; initiations beyond are dropped.
    /// (The Go library refused past 10 pending.)
    pub max_half_open: usize,
    /// From this many responder connections half-open on (handshakes in progress, or IK ones
    /// not yet confirmed), the endpoint is under load: initiations must carry a valid cookie MAC
    /// for their source address; others get a stateless cookie reply (PROTOCOL.md §10.1).
    pub cookie_threshold: usize,
    /// Initiations per second the endpoint spends Diffie-Hellman work on before it is under
    /// load regardless of the half-open count (a token bucket of this size, refilled at this
    /// rate; PROTOCOL.md §10.1). Under load, an initiation without a valid cookie costs a MAC
    /// check and maybe a cookie reply, never an X25519 operation. Default 1000 (a quarter of what
    /// one core of the development machine answers).
    pub handshake_budget: u32,
    /// How many responder connections one source address and one prefix may hold
    /// (PROTOCOL.md §10.5).
    pub address_limits: AddressLimits,
    /// Accept 0-RTT early data (still subject to the replay guard).
    pub accept_early_data: bool,
    /// Limits of the 0-RTT replay guard.
    pub early_data: EarlyDataConfig,
    /// Bytes of received data all connections together may hold for their applications, in
    /// order and not yet read, or out of order (PROTOCOL.md §10.6). Default 256 MiB.
    ///
    /// Half of it is a pool any connection may draw from; the other half is a reserve of equal
    /// shares, one per connection, so that connections whose peers fill the pool (and whose
    /// applications do not read) cannot starve the others. A connection's window is what its
    /// own [`recv_buffer`](ConnectionConfig::recv_buffer) and this budget leave it; DATA the
    /// budget has no room for is dropped unacknowledged and sent again later
    /// (`ConnectionStats::receive_budget_drops`; held bytes and drops in `EndpointStats`). One
    /// connection alone holds at most half of it; set it above twice the largest `recv_buffer`,
    /// and above `recv_buffer` times the number of busy connections, for full speed.
    pub receive_memory: usize,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            connection: ConnectionConfig::default(),
            max_connections: 100_000,
            max_half_open: 1024,
            cookie_threshold: 256,
            handshake_budget: 1000,
            address_limits: AddressLimits::default(),
            accept_early_data: true,
            early_data: EarlyDataConfig::default(),
            receive_memory: 256 << 20,
        }
    }
}

/// Shares of the endpoint's tables one source may hold (PROTOCOL.md §10.5): an *address* is an
/// IPv4 /32 or an IPv6 /64 (one host), a *prefix* an IPv4 /24 or an IPv6 /48 (one network).
/// Initiations beyond them are dropped and counted (`EndpointStats::refused_by_address`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressLimits {
    /// Half-open responder connections per address. Default 64 (1/16 of `max_half_open`).
    pub half_open_per_address: usize,
    /// Half-open responder connections per prefix. Default 256 (1/4 of `max_half_open`).
    pub half_open_per_prefix: usize,
    /// Responder connections per address, half-open or not. Default 256.
    pub connections_per_address: usize,
    /// Responder connections per prefix, half-open or not. Default 1024.
    pub connections_per_prefix: usize,
}

impl AddressLimits {
    /// No limits beyond the endpoint's own caps (for tests and benchmarks that open thousands
    /// of connections from one address).
    pub const UNLIMITED: AddressLimits = AddressLimits {
        half_open_per_address: usize::MAX,
        half_open_per_prefix: usize::MAX,
        connections_per_address: usize::MAX,
        connections_per_prefix: usize::MAX,
    };
}

impl Default for AddressLimits {
    fn default() -> Self {
        AddressLimits {
            half_open_per_address: 64,
            half_open_per_prefix: 256,
            connections_per_address: 256,
            connections_per_prefix: 1024,
        }
    }
}
