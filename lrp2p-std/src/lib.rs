//! # lrp2p-std: LRP2P on `std::net` and threads
//!
//! The blocking runtime adapter of LRP2P, a reliable, encrypted transport over UDP. One
//! [`Socket`] (the Go library's `SocketListen`) owns a [`std::net::UdpSocket`] and a driver
//! thread; it connects to any number of peers and accepts any number of peers, and every
//! connection is a [`Connection`]: [`std::io::Read`] + [`std::io::Write`].
//!
//! | Go | here |
//! |---|---|
//! | `SocketListen(host, port)` | [`Socket::bind(addr, identity)`](Socket::bind) |
//! | `socket.ConnectTo(host, port)` | [`socket.connect(addr, peer_key)`](Socket::connect) (0-RTT), [`socket.connect_unknown(addr)`](Socket::connect_unknown) |
//! | `socket.Accept()` | [`socket.accept()`](Socket::accept) → the connection and the peer's key |
//! | `conn.Read/Write` | `Read`/`Write` (`flush` returns at once; [`acknowledged`](Connection::acknowledged) waits for the peer's acknowledgements) |
//! | `conn.Close` | [`shutdown`](Connection::shutdown) (half-close, returns at once), [`close`](Connection::close) (abort), drop |
//!
//! A peer *is* its static X25519 key ([`StaticSecret`], [`PublicKey`]). Knowing the peer's key,
//! [`Socket::connect`] runs Noise IK and the first write rides in the first datagram (0-RTT);
//! [`Socket::connect_unknown`] runs Noise XX and learns the key. [`Socket::set_acceptor`]
//! decides whom to accept, by key.
//!
//! ## Hello World on loopback
//!
//! ```
//! use std::io::{Read, Write};
//! use lrp2p_std::{EndpointConfig, Socket};
//!
//! // Keys made at start-up: nothing can have been captured before, so 0-RTT data may be
//! // accepted at once (see `Socket::bind`).
//! let mut config = EndpointConfig::default();
//! config.early_data.start_floor = false;
//! let peer2 = Socket::bind_with_config("127.0.0.1:0", lrp2p_std::generate_identity(), config.clone())?;
//! let peer1 = Socket::bind_with_config("127.0.0.1:0", lrp2p_std::generate_identity(), config)?;
//!
//! // Peer 1 knows peer 2's key: "Hello World" rides in the handshake's first datagram.
//! let mut conn = peer1.connect(peer2.local_addr()?, peer2.public_key())?;
//! conn.write_all(b"Hello World")?;
//!
//! let (mut incoming, who) = peer2.accept()?;
//! assert_eq!(who, peer1.public_key());
//! let mut buf = [0u8; 32];
//! let n = incoming.read(&mut buf)?;
//! assert_eq!(&buf[..n], b"Hello World");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! ## How it runs
//!
//! All protocol logic lives in the sans-IO [`lrp2p_proto`]; the machinery every adapter shares
//! (the endpoint behind one mutex, event dispatch, lazy connects, lingers, the driver loop and
//! the datagram batches) lives in [`lrp2p_driver`]. This crate only blocks on it:
//!
//! - one driver thread per socket runs [`lrp2p_driver::drive`] on async-io: it receives
//!   datagrams (several per wake-up), runs timers, and sends what they produce;
//! - application calls take the socket's lock, call the endpoint, and send what the call
//!   produced from the calling thread (no hop through the driver);
//! - a call that cannot complete parks its thread until the endpoint's events wake it (or its
//!   timeout passes). A full send buffer blocks [`Write`](std::io::Write): backpressure, never
//!   an unbounded queue.
//!
//! ## Flush, shutdown, acknowledged, close, drop
//!
//! The same in all three adapters (lrp2p-std, lrp2p-tokio, lrp2p-async-std), as on a
//! `TcpStream` and in quinn:
//!
//! - `flush` returns once the written bytes are in the transport's hands (at once: a write
//!   hands them to the endpoint), starting a lazy connect; it does not wait for the peer.
//! - [`Connection::acknowledged`] waits until the peer has acknowledged everything written,
//!   the FIN included after a shutdown.
//! - [`Connection::shutdown`] half-closes: it queues a FIN after the bytes written and
//!   returns at once; the peer reads the end of the stream and can still write back.
//! - [`Connection::close`] aborts (the peer's reads fail with `ConnectionReset`); dropping a
//!   connection finishes it gracefully; dropping the socket closes all its connections, after
//!   lingering up to 2 s for finished streams to be acknowledged.
//!
//! Errors are [`std::io::Error`]s whose kind says what happened (`TimedOut`,
//! `ConnectionRefused`, `ConnectionReset`, `BrokenPipe`, …) carrying an [`Error`] inside
//! ([`Error::of`] gets it back).
//!
//! Datagrams go in and out in batches: GSO/GRO and `recvmmsg` through quinn-udp where the
//! kernel has them, one datagram per call where it does not (see `lrp2p_driver::UdpCore`).
//! Blocking timeouts ([`Connection::set_read_timeout`], [`Socket::accept_timeout`]) are this
//! crate's; the async adapters leave timeouts to their runtime's combinators.
//!
//! ## Not yet
//!
//! A lock per connection instead of one per socket, for many busy connections.
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
//! - `socket`: [`Socket`]; `connection`: [`Connection`]; `block`: blocking on the driver's
//!   poll API with a timeout.

mod block;
mod connection;
mod socket;

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
