//! # lrp2p-driver: what every LRP2P runtime adapter shares
//!
//! LRP2P is layered:
//!
//! - `lrp2p-proto`, the sans-IO core: datagrams and time in, datagrams, deadlines and events
//!   out. All protocol logic lives there.
//! - **this crate**, runtime-independent machinery: one socket's [`Endpoint`] behind a mutex
//!   with the adapter's record of each connection ([`Shared`]); a `poll_*` API for accepting,
//!   reading, writing, waiting for acknowledgements and shutting down that registers [`Waker`]s instead of
//!   blocking; the [`drive`] future that receives datagrams and runs timers; and the traits a
//!   runtime implements to plug in ([`UdpIo`], [`AsyncTimer`]), modelled on quinn's
//!   `Runtime`.
//! - the adapters, thin: `lrp2p-std` (blocking `Read`/`Write`; runs [`drive`] on a thread of
//!   its own with the async-io pieces here and blocks on the `poll_*` calls),
//!   `lrp2p-async-std` (same I/O pieces, `futures-io` streams) and `lrp2p-tokio` (implements
//!   [`UdpIo`] and [`AsyncTimer`] on tokio and spawns [`drive`] as a task). All three offer
//!   the same names and semantics because they share this code.
//!
//! ## How it runs
//!
//! - Application calls (`poll_*` on [`Shared`]) take the lock, call the endpoint, and send
//!   what the call produced from the calling task: no hop through the driver, and the first
//!   write of a 0-RTT connection leaves in the handshake's first datagram (connects are lazy
//!   until the first read, write, flush or `acknowledged`).
//! - Calls that cannot complete register their waker and return `Pending`; the endpoint's
//!   events wake them. A full send buffer makes `poll_write` pending: backpressure, never an
//!   unbounded queue.
//! - Every datagram crosses the runtime boundary in the `batch` module, in the shapes of
//!   segmentation offload ([`Transmit`], [`RecvMeta`]): consecutive datagrams to one peer
//!   leave in one system call (up to 64 and 64 KiB under GSO), and one receive takes in up to
//!   16 GRO buffers of up to 64 datagrams each ([`UdpCore`] does the calls; [`IoStats`]
//!   counts them). When the socket would block, the unsent datagrams wait in a bounded stash
//!   and the driver sends them once it is writable; none is dropped for a momentarily full
//!   socket buffer.
//! - [`drive`] wakes on a datagram, the endpoint's deadline, a call that moved that deadline
//!   earlier, or writability while datagrams are stashed; it ends when [`Shared::stop`] is
//!   called.
//!
//! ## Logs
//!
//! The driver speaks [`tracing`](https://docs.rs/tracing): install a subscriber before
//! creating a socket (e.g. `tracing_subscriber::fmt::init()`, filtered with `RUST_LOG`) and
//! each connection gets a `connection` span (`cid`, `peer`, `role`, `pattern`) with events
//! for its handshake (initiated, cookie reply, established with 0-RTT accepted or refused),
//! path changes, losses (summarised per round trip) and its close (reason and counters), on
//! target `lrp2p`; every packet on `lrp2p::packet` and RTT and congestion-window updates on
//! `lrp2p::recovery`, at `trace` level. Without a subscriber nothing is recorded. These
//! events come from the core's structured trace (`lrp2p_proto::trace`), which a
//! `ConnectionConfig::trace` sink also receives (`docs/TRACE.md`).
//!
//! Errors are typed ([`Error`]); adapters return them inside [`std::io::Error`]s whose kind
//! says what happened (`TimedOut`, `ConnectionRefused`, `ConnectionReset`, `BrokenPipe`, …),
//! and [`Error::of`] gets them back.
//!
//! ## Modules
//!
//! - `shared`: [`Shared`] and the poll API; `state`: the state behind the lock, event
//!   dispatch, lingers and stop; `wakers`: waker sets.
//! - `drive`: [`drive`]; `io`: the runtime traits and batch shapes; `batch`: sending (with the
//!   stash) and receiving in batches; `udp`: [`UdpCore`], the socket's system calls with
//!   GSO/GRO on quinn-udp (its docs say why that crate), for every runtime's [`UdpIo`].
//! - `async_io_runtime` (feature `async-io-runtime`, on by default): [`UdpIo`] and
//!   [`AsyncTimer`] on async-io.
//! - `error`: [`Error`]; `observe`: the core's trace as `tracing` events.
//!
//! [`Endpoint`]: lrp2p_proto::Endpoint
//! [`Waker`]: std::task::Waker

#[cfg(feature = "async-io-runtime")]
pub mod async_io_runtime;
mod batch;
mod drive;
mod error;
mod io;
mod observe;
mod shared;
mod state;
mod udp;
mod wakers;

pub use lrp2p_proto::ConnectionStats;
pub use lrp2p_proto::EndpointStats;
// The configuration types a user names, so that an adapter re-exports all of them from here.
pub use lrp2p_proto::rendezvous::RegistryConfig;
/// The core's structured event trace (`ConnectionConfig::trace`; `docs/TRACE.md`).
pub use lrp2p_proto::trace;
pub use lrp2p_proto::{AddressLimits, Algorithm, EarlyDataConfig, RttConfig};
pub use lrp2p_proto::{AppProtocol, InvalidAppProtocol, MAX_APP_PROTOCOL_LEN};
pub use lrp2p_proto::{CloseReason, ConnectionConfig, EndpointConfig, PathInfo, PathKind, RendezvousStats};
pub use lrp2p_proto::{PublicKey, StaticSecret};

pub use crate::drive::drive;
pub use crate::error::Error;
pub use crate::io::{AsyncTimer, IoStats, RecvMeta, Transmit, UdpIo};
pub use crate::shared::Shared;
pub use crate::state::{ACCEPT_BACKLOG, SOCKET_LINGER};
pub use crate::udp::{MAX_TRANSMIT_BYTES, SOCKET_RECV_BUFFER, SOCKET_SEND_BUFFER, UdpCore, UdpSockRef};

/// A connection of a [`Shared`]: what every `poll_*` call names — the endpoint's own handle,
/// valid from [`Shared::open`] (before the handshake starts) or [`Shared::poll_accept`] until
/// [`Shared::drop_connection`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub(crate) lrp2p_proto::ConnectionHandle);

/// What an acceptor ([`Shared::set_acceptor_with_info`]) knows of a connecting peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerInfo {
    /// Its authenticated static key.
    pub key: PublicKey,
    /// The address its initiation came from (not authenticated beyond the handshake's check).
    pub remote: std::net::SocketAddr,
    /// The application protocol id it sent with its first data in the handshake (PROTOCOL.md
    /// §7.7); `None` if it sent none there.
    pub app_protocol: Option<AppProtocol>,
}

/// A fresh static key from the operating system's RNG: a new identity.
pub fn generate_identity() -> StaticSecret {
    StaticSecret::generate(&mut rand_core::OsRng)
}
