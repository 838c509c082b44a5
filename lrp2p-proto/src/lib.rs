//! # lrp2p-proto: the sans-IO core of LRP2P
//!
//! LRP2P is a reliable, encrypted transport over UDP: one socket serves any number of peers;
//! each connection is an ordered, flow- and congestion-controlled byte stream sealed after a
//! Noise handshake, with 0-RTT data when the initiator knows the peer's key. This crate holds
//! all of its protocol logic and none of its I/O: no sockets, no clocks, no threads and no
//! randomness of its own.
//!
//! ## The contract
//!
//! One [`Endpoint`] per UDP socket. The caller owns the socket, a clock and
//! a [`rand_core`] RNG, and drives the endpoint with exactly four kinds of input and output:
//!
//! - **in**: [`handle_datagram(now, from, bytes)`](Endpoint::handle_datagram) for every
//!   UDP payload received, and [`handle_timeout(now)`](Endpoint::handle_timeout) when
//!   the deadline from `poll_timeout` passes;
//! - **out**: [`poll_transmit(now, buf)`](Endpoint::poll_transmit) until it returns
//!   `None`, sending each datagram it writes into `buf`;
//!   [`poll_timeout()`](Endpoint::poll_timeout) for the next deadline;
//!   [`poll_event()`](Endpoint::poll_event) for what the application should act on;
//! - **application calls** on a [`ConnectionHandle`]: `connect`,
//!   `accept`/`refuse`, `write` (returns how much it took: backpressure), `read`, `shutdown`
//!   (half-close), `close`.
//!
//! Time is always a parameter (`now: Instant`; plus the wall clock once, for 0-RTT replay
//! protection), so every behaviour is deterministic under test. Garbage from the network is
//! dropped and counted, never returned as an error, and never makes the endpoint panic or grow
//! beyond its configured limits.
//!
//! ## Two endpoints driven by hand
//!
//! ```
//! use std::time::{Duration, Instant};
//! use lrp2p_proto::{Endpoint, EndpointConfig, Event, StaticSecret};
//! use rand_chacha::ChaCha20Rng;
//! use rand_core::SeedableRng;
//!
//! let mut rng = ChaCha20Rng::seed_from_u64(1);
//! # #[allow(clippy::disallowed_methods)]
//! let mut now = Instant::now(); // the caller's clock
//! let unix_ns = 1_800_000_000_000_000_000; // the caller's wall clock, for 0-RTT timestamps
//! let (alice_key, bob_key) = (StaticSecret::generate(&mut rng), StaticSecret::generate(&mut rng));
//! let bob_public = bob_key.public_key();
//! let seeded = |n| ChaCha20Rng::seed_from_u64(n);
//! let mut alice = Endpoint::new(EndpointConfig::default(), alice_key, seeded(2), now, unix_ns);
//! let mut bob = Endpoint::new(EndpointConfig::default(), bob_key, seeded(3), now, unix_ns);
//! let (alice_addr, bob_addr) = ("10.0.0.1:4000".parse()?, "10.0.0.2:4000".parse()?);
//!
//! // Alice knows Bob's key: Noise IK, and what she writes now rides in the first datagram.
//! let conn = alice.connect(now, bob_addr, Some(bob_public))?;
//! alice.write(now, conn, b"Hello World")?;
//!
//! let mut received = Vec::new();
//! let mut buf = [0u8; 1500];
//! for _ in 0..100 {
//!     // Carry every datagram across a perfect 5 ms link.
//!     now += Duration::from_millis(5);
//!     while let Some(t) = alice.poll_transmit(now, &mut buf) {
//!         bob.handle_datagram(now, alice_addr, &mut buf[..t.len]);
//!     }
//!     while let Some(t) = bob.poll_transmit(now, &mut buf) {
//!         alice.handle_datagram(now, bob_addr, &mut buf[..t.len]);
//!     }
//!     alice.handle_timeout(now);
//!     bob.handle_timeout(now);
//!     while let Some(event) = bob.poll_event() {
//!         match event {
//!             // The application decides whom to accept, by static key.
//!             Event::Incoming { connection, .. } => bob.accept(now, connection)?,
//!             Event::Readable { connection } => {
//!                 let n = bob.read(now, connection, &mut buf)?;
//!                 received.extend_from_slice(&buf[..n]);
//!             }
//!             _ => {}
//!         }
//!     }
//!     if !received.is_empty() {
//!         break;
//!     }
//! }
//! assert_eq!(received, b"Hello World");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## What the crate holds
//!
//! The embedder's names are at the root: [`Endpoint`] and its [`EndpointConfig`] /
//! [`ConnectionConfig`], the [`ConnectionHandle`]s and [`Event`]s it hands out, [`Transmit`],
//! the errors ([`ConnectError`], [`WriteError`], [`ReadError`], [`UnknownConnection`]), keys
//! ([`PublicKey`], [`StaticSecret`]), statistics ([`ConnectionStats`], [`EndpointStats`]),
//! [`CloseReason`] and the [`close_code`]s, and the built-in congestion controllers by name
//! ([`Algorithm`]: `Algorithm::Bbr.factory()` goes into `ConnectionConfig::congestion`).
//! [`congestion`] is one public module: the [`Controller`](congestion::Controller)
//! interface for other congestion controllers, and the built-in ones' configurations.
//! [`trace`] is the other: the structured event trace ([`TraceSink`](trace::TraceSink), set in
//! `ConnectionConfig::trace`; [`JsonLines`](trace::JsonLines) writes `docs/TRACE.md`'s format).
//! [`rendezvous`] is the third: the rendezvous records (PROTOCOL.md §13.7), the service's
//! [`Registry`](rendezvous::Registry) and a peer's [`Client`](rendezvous::Client), sans-IO and
//! independent of the endpoint, which carries the records and makes the dials.
//!
//! Inside: `endpoint` (routing and admission), `connection` (one connection's handshake,
//! streams, timers and lifecycle), `arq` (the send and receive streams), `recovery` (RTT and
//! the retransmission timer), `wire` (the v1 wire format; `docs/PROTOCOL.md` is normative),
//! `crypto` (Noise IK/XX, the transport session, replay protection, 0-RTT safety, cookies) and
//! `handshake` (the handshake steps on whole datagrams). `docs/ARCHITECTURE.md` draws the layers.
//! The feature `internals` makes `wire`, `crypto` and `handshake` public for tests, benchmarks
//! and the fuzz targets (feature `fuzzing`); they are not a stable API.

mod app_protocol;
pub(crate) mod arq;
mod config;
pub mod congestion;
mod connection;
mod endpoint;
mod error;
mod identity;
mod recovery;
pub mod rendezvous;
pub mod trace;

#[cfg(feature = "internals")]
pub mod crypto;
#[cfg(not(feature = "internals"))]
#[allow(unreachable_pub, dead_code, unused_imports)] // public only with `internals`
pub(crate) mod crypto;
#[cfg(feature = "internals")]
pub mod handshake;
#[cfg(not(feature = "internals"))]
#[allow(unreachable_pub, dead_code, unused_imports)] // public only with `internals`
pub(crate) mod handshake;
#[cfg(feature = "internals")]
pub mod wire;
#[cfg(not(feature = "internals"))]
#[allow(unreachable_pub, dead_code, unused_imports)] // public only with `internals`
pub(crate) mod wire;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

pub use crate::app_protocol::{AppProtocol, InvalidAppProtocol, MAX_APP_PROTOCOL_LEN};
pub use crate::config::{AddressLimits, ConnectOptions, ConnectionConfig, EndpointConfig, SEND_BUFFER_FLOOR};
pub use crate::congestion::Algorithm;
pub use crate::connection::{CloseReason, ConnectionStats, MAX_DIAL_ADDRESSES, PathInfo, PathKind};
pub use crate::crypto::early::EarlyDataConfig;
pub use crate::endpoint::{
    ConnectionHandle, Endpoint, EndpointStats, Event, RelayStats, RendezvousStats, Transmit,
};
pub use crate::error::{ConnectError, ReadError, UnknownConnection, WriteError};
pub use crate::identity::{KEY_LEN, ParseKeyError, PublicKey, StaticSecret};
pub use crate::recovery::RttConfig;
pub use crate::wire::{DEFAULT_MAX_DATAGRAM, MAX_ACK_DELAY, close_code};

/// The name of the AEAD backend built in for transport packets: RustCrypto's
/// `chacha20poly1305` by default, ring's with the `ring` feature.
pub const AEAD_BACKEND: &str = <crypto::DefaultAead as crypto::Aead>::NAME;
