//! # lrp2p-async-std: LRP2P for async-std and smol, on async-io and futures-io
//!
//! The async runtime adapter of LRP2P, a reliable, encrypted transport over UDP, for the
//! async-io family of executors. One [`Socket`] (the Go library's `SocketListen`) owns a UDP
//! socket and a driver thread; it connects to any number of peers and accepts any number of
//! peers, and every connection is a [`Connection`]: [`futures_io::AsyncRead`] +
//! [`futures_io::AsyncWrite`] (the traits of `futures::io`, `futures-lite`, async-std and smol).
//!
//! **async-std is discontinued upstream** ([RUSTSEC-2025-0052]); its maintainers point to
//! smol. This crate therefore does not depend on async-std: it is built on
//! [async-io](async_io) and [futures-io](futures_io), the stack async-std itself runs on, so
//! it works under async-std and under smol alike (and under any other executor: it needs no
//! spawner, see *How it runs*). Its tests run every scenario under both.
//!
//! [RUSTSEC-2025-0052]: https://rustsec.org/advisories/RUSTSEC-2025-0052
//!
//! | Go | here |
//! |---|---|
//! | `SocketListen(host, port)` | [`Socket::bind(addr, identity).await`](Socket::bind) |
//! | `socket.ConnectTo(host, port)` | [`socket.connect(addr, peer_key).await`](Socket::connect) (0-RTT), [`socket.connect_unknown(addr).await`](Socket::connect_unknown) |
//! | `socket.Accept()` | [`socket.accept().await`](Socket::accept) → the connection and the peer's key |
//! | `conn.Read/Write` | `AsyncReadExt::read`, `AsyncWriteExt::write_all` (`flush` is ready at once; [`acknowledged().await`](Connection::acknowledged) waits for the peer's acknowledgements) |
//! | `conn.Close` | [`shutdown`](Connection::shutdown) or `AsyncWriteExt::close(&mut conn).await` (half-close, ready at once), [`Connection::close`] (abort), drop |
//!
//! The names and semantics are lrp2p-std's (and lrp2p-tokio's); only the waiting differs.
//! A peer *is* its static X25519 key ([`StaticSecret`], [`PublicKey`]). Knowing the peer's
//! key, [`Socket::connect`] runs Noise IK and the first write rides in the first datagram
//! (0-RTT); [`Socket::connect_unknown`] runs Noise XX and learns the key.
//! [`Socket::set_acceptor`] decides whom to accept, by key.
//!
//! ## Hello World on loopback
//!
//! Under smol; under async-std, replace `smol::block_on` by `async_std::task::block_on`
//! (or use `#[async_std::main]`).
//!
//! ```
//! use futures_lite::{AsyncReadExt, AsyncWriteExt};
//! use lrp2p_async_std::{EndpointConfig, Socket, generate_identity};
//!
//! smol::block_on(async {
//!     // Keys made at start-up: nothing can have been captured before, so 0-RTT data may be
//!     // accepted at once (see `Socket::bind`).
//!     let mut config = EndpointConfig::default();
//!     config.early_data.start_floor = false;
//!     let peer2 = Socket::bind_with_config("127.0.0.1:0", generate_identity(), config.clone()).await?;
//!     let peer1 = Socket::bind_with_config("127.0.0.1:0", generate_identity(), config).await?;
//!
//!     // Peer 1 knows peer 2's key: "Hello World" rides in the handshake's first datagram.
//!     let mut conn = peer1.connect(peer2.local_addr()?, peer2.public_key()).await?;
//!     conn.write_all(b"Hello World").await?;
//!
//!     let (mut incoming, who) = peer2.accept().await?;
//!     assert_eq!(who, peer1.public_key());
//!     let mut buf = [0u8; 32];
//!     let n = incoming.read(&mut buf).await?;
//!     assert_eq!(&buf[..n], b"Hello World");
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! ## How it runs
//!
//! All protocol logic lives in the sans-IO [`lrp2p_proto`]; the machinery every adapter shares
//! (the endpoint behind one mutex, event dispatch, lazy connects, lingers, the driver loop and
//! the datagram batches) lives in [`lrp2p_driver`]. This crate only polls it:
//!
//! - one driver thread per socket runs [`lrp2p_driver::drive`] with async-io's reactor
//!   ([`lrp2p_driver::async_io_runtime::run`], exactly as lrp2p-std does): it receives
//!   datagrams, runs timers, and sends what they produce. Being a thread of its own, it needs
//!   no spawner and keeps running whatever the executor does;
//! - application calls are `poll_*` calls of [`lrp2p_driver::Shared`]: they take the socket's
//!   lock, call the endpoint, and send what the call produced from the calling task (no hop
//!   through the driver). A call that cannot complete registers the task's waker; the
//!   endpoint's events wake it. A full send buffer makes writes pending: backpressure, never
//!   an unbounded queue;
//! - addresses ([`AsyncToSocketAddrs`]: a `SocketAddr`, `"host:port"`, `(host, port)`, …) are
//!   resolved by [async-net](async_net): literal addresses at once, host names on its blocking
//!   thread pool, never on the executor;
//! - nothing blocks the executor: dropping a [`Socket`] hands its linger (up to 2 s for
//!   finished streams to be acknowledged) to the driver thread.
//!
//! ## Flush, close, acknowledged, drop
//!
//! The same in all three adapters (lrp2p-std, lrp2p-tokio, lrp2p-async-std), as on a
//! `TcpStream` and in quinn:
//!
//! - `flush` ([`AsyncWrite::poll_flush`](futures_io::AsyncWrite::poll_flush)) is ready once
//!   the written bytes are in the transport's hands, which is at once; it only starts a lazy
//!   connect.
//! - [`Connection::acknowledged`] waits until the peer has acknowledged everything written,
//!   the FIN included after a half-close.
//! - Half-close: [`Connection::shutdown`] and `AsyncWriteExt::close`
//!   ([`AsyncWrite::poll_close`](futures_io::AsyncWrite::poll_close)) queue a FIN after the
//!   bytes written and are ready at once; the peer reads the end of the stream and can still
//!   write back.
//! - [`Connection::close`] aborts (the peer's reads fail with `ConnectionReset`). **Known
//!   clash:** this inherent, non-async `close` wins method resolution over
//!   `AsyncWriteExt::close` (the half-close), so `conn.close()` aborts; write
//!   `AsyncWriteExt::close(&mut conn).await` or `conn.shutdown()` to half-close. Kept so
//!   that `close` means the same in all three adapters.
//! - Dropping a connection finishes it gracefully; dropping the socket closes all its
//!   connections, after lingering up to 2 s for finished streams to be acknowledged.
//!
//! Timeouts are the caller's: race a call against an `async_io::Timer` (every call is
//! cancel-safe). The protocol's own (`handshake_timeout`, `idle_timeout` in
//! [`ConnectionConfig`]) fail calls with [`std::io::ErrorKind::TimedOut`].
//!
//! Errors are [`std::io::Error`]s whose kind says what happened (`TimedOut`,
//! `ConnectionRefused`, `ConnectionReset`, `BrokenPipe`, …) carrying an [`Error`] inside
//! ([`Error::of`] gets it back).
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
//! - `socket`: [`Socket`]; `connection`: [`Connection`].

mod connection;
mod socket;

pub use async_net::AsyncToSocketAddrs;
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

pub use crate::connection::Connection;
pub use crate::socket::{Socket, generate_identity};
