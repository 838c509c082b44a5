//! # lrp2p-tokio: LRP2P on tokio
//!
//! The tokio runtime adapter of LRP2P, a reliable, encrypted transport over UDP. One
//! [`Socket`] (the Go library's `SocketListen`) owns a [`tokio::net::UdpSocket`] and a driver
//! task; it connects to any number of peers and accepts any number of peers, and every
//! connection is a [`Connection`]: [`tokio::io::AsyncRead`] + [`tokio::io::AsyncWrite`].
//! Names and semantics are those of `lrp2p-std`, in tokio's idiom.
//!
//! | Go | here |
//! |---|---|
//! | `SocketListen(host, port)` | [`Socket::bind(addr, identity).await`](Socket::bind) |
//! | `socket.ConnectTo(host, port)` | [`socket.connect(addr, peer_key).await`](Socket::connect) (0-RTT), [`socket.connect_unknown(addr).await`](Socket::connect_unknown) |
//! | `socket.Accept()` | [`socket.accept().await`](Socket::accept) → the connection and the peer's key |
//! | `conn.Read/Write` | `AsyncRead`/`AsyncWrite` (`flush` is ready at once; [`acknowledged().await`](Connection::acknowledged) waits for the peer's acknowledgements) |
//! | `conn.Close` | `AsyncWriteExt::shutdown().await` (half-close, ready at once), [`close`](Connection::close) (abort), drop |
//!
//! A peer *is* its static X25519 key ([`StaticSecret`], [`PublicKey`]). Knowing the peer's key,
//! [`Socket::connect`] runs Noise IK and the first write rides in the first datagram (0-RTT);
//! [`Socket::connect_unknown`] runs Noise XX and learns the key. [`Socket::set_acceptor`]
//! decides whom to accept, by key.
//!
//! ## Hello World on loopback
//!
//! ```
//! use lrp2p_tokio::{EndpointConfig, Socket};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! // Keys made at start-up: nothing can have been captured before, so 0-RTT data may be
//! // accepted at once (see `Socket::bind`).
//! let mut config = EndpointConfig::default();
//! config.early_data.start_floor = false;
//! let peer2 = Socket::bind_with_config("127.0.0.1:0", lrp2p_tokio::generate_identity(), config.clone()).await?;
//! let peer1 = Socket::bind_with_config("127.0.0.1:0", lrp2p_tokio::generate_identity(), config).await?;
//!
//! // Peer 1 knows peer 2's key: "Hello World" rides in the handshake's first datagram.
//! let mut conn = peer1.connect(peer2.local_addr()?, peer2.public_key()).await?;
//! conn.write_all(b"Hello World").await?;
//!
//! let (mut incoming, who) = peer2.accept().await?;
//! assert_eq!(who, peer1.public_key());
//! let mut buf = [0u8; 32];
//! let n = incoming.read(&mut buf).await?;
//! assert_eq!(&buf[..n], b"Hello World");
//! # Ok(())
//! # }
//! ```
//!
//! ## How it runs
//!
//! All protocol logic lives in the sans-IO `lrp2p-proto`; the machinery every adapter shares
//! (the endpoint behind one mutex, event dispatch, lazy connects, lingers, the driver loop and
//! the datagram batches) lives in [`lrp2p_driver`]. This crate plugs tokio into it:
//!
//! - [`Socket::bind`] spawns one driver task per socket ([`tokio::spawn`], so it must be
//!   called within a tokio runtime with its I/O and time drivers enabled). The task runs
//!   [`lrp2p_driver::drive`] on a [`UdpIo`](lrp2p_driver::UdpIo) over tokio's `UdpSocket` and
//!   an [`AsyncTimer`](lrp2p_driver::AsyncTimer) over [`tokio::time::Sleep`] (module `udp`):
//!   it receives datagrams (several per wake-up), runs timers, and sends what they produce.
//!   It ends when the socket is dropped (after the linger described at [`Socket`]).
//! - Application calls take the socket's lock, call the endpoint, and send what the call
//!   produced from the calling task (no hop through the driver task).
//! - A call that cannot complete registers its task's waker and returns `Pending`; the
//!   endpoint's events wake it. A full send buffer makes `poll_write` pending: backpressure,
//!   never an unbounded queue. Nothing here blocks a runtime thread beyond the short lock.
//! - The futures and `poll_*` calls here are cancel safe: [`Socket::accept`] takes a
//!   connection from the queue only when it returns it; a read or write moves bytes only when
//!   it completes. Bound any wait
//!   with [`tokio::time::timeout`] (there are no per-connection timeouts as in lrp2p-std).
//!
//! ## Flush, shutdown, acknowledged, close, drop
//!
//! The same in all three adapters (lrp2p-std, lrp2p-tokio, lrp2p-async-std), as on a
//! `TcpStream` and in quinn:
//!
//! - `flush` ([`AsyncWrite::poll_flush`](tokio::io::AsyncWrite::poll_flush)) is ready once
//!   the written bytes are in the transport's hands, which is at once: a write hands its bytes
//!   to the endpoint, which sends them as congestion and flow control allow. It only starts a
//!   lazy connect. (tokio codecs flush after every frame; waiting a round trip there would
//!   make a stream stop-and-wait.)
//! - [`Connection::acknowledged`] waits until the peer has acknowledged everything written,
//!   the FIN included after a shutdown.
//! - `shutdown` ([`AsyncWrite::poll_shutdown`](tokio::io::AsyncWrite::poll_shutdown))
//!   half-closes: it queues a FIN after the bytes written and is ready at once; the peer reads
//!   the end of the stream and can still write back.
//! - [`Connection::close`] aborts (the peer's reads fail with `ConnectionReset`); dropping a
//!   connection finishes it gracefully; dropping the socket closes all its connections, after
//!   lingering (in the driver task, never blocking the dropping task) up to 2 s for finished
//!   streams to be acknowledged.
//!
//! ## Errors
//!
//! Errors are [`std::io::Error`]s whose kind says what happened (`TimedOut`,
//! `ConnectionRefused`, `ConnectionReset`, `BrokenPipe`, `NotConnected`, …) carrying an
//! [`Error`] inside ([`Error::of`] gets it back).
//!
//! ## Logs and traces
//!
//! Install a [`tracing`](https://docs.rs/tracing) subscriber before binding a socket (e.g.
//! `tracing_subscriber::fmt::init()`) and each connection logs, in a `connection` span (`cid`,
//! `peer`, `role`, `pattern`), its handshake (initiated, established with 0-RTT accepted or
//! refused), path changes, losses (summarised per round trip) and its close (reason and
//! counters) on target `lrp2p`; every packet on `lrp2p::packet` and RTT and window updates on
//! `lrp2p::recovery` at trace level. Without a subscriber nothing is recorded. For a structured
//! packet-level trace as JSON lines, set `EndpointConfig::connection.trace` to a
//! [`trace::JsonLines`] (`docs/TRACE.md`).
//!
//! ## Modules
//!
//! - `socket`: [`Socket`]; `connection`: [`Connection`] and its halves; `udp`: the tokio
//!   `UdpIo` and `AsyncTimer`.

mod connection;
mod socket;
mod udp;

pub use lrp2p_driver::{
    AppProtocol, InvalidAppProtocol, PathInfo, PathKind, PeerInfo, RegistryConfig, RendezvousStats,
};
pub use lrp2p_driver::{
    ConnectionConfig, ConnectionStats, EndpointConfig, EndpointStats, Error, IoStats, PublicKey, StaticSecret,
};
// The types of `EndpointConfig`'s and `ConnectionConfig`'s fields, and the close reason.
/// The core's structured event trace: set `EndpointConfig::connection.trace` to a sink
/// ([`trace::JsonLines`] writes `docs/TRACE.md`'s JSON lines).
pub use lrp2p_driver::trace;
pub use lrp2p_driver::{AddressLimits, Algorithm, CloseReason, EarlyDataConfig, RttConfig, SOCKET_LINGER};

pub use crate::connection::{Connection, OwnedReadHalf, OwnedWriteHalf};
pub use crate::socket::{Socket, generate_identity};
