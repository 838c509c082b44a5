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
//! One [`Endpoint`](endpoint::Endpoint) per UDP socket. The caller owns the socket, a clock and
//! a [`rand_core`] RNG, and drives the endpoint with exactly four kinds of input and output:
//!
//! - **in**: [`handle_datagram(now, from, bytes)`](endpoint::Endpoint::handle_datagram) for every
//!   UDP payload received, and [`handle_timeout(now)`](endpoint::Endpoint::handle_timeout) when
//!   the deadline from `poll_timeout` passes;
//! - **out**: [`poll_transmit(now, buf)`](endpoint::Endpoint::poll_transmit) until it returns
//!   `None`, sending each datagram it writes into `buf`;
//!   [`poll_timeout()`](endpoint::Endpoint::poll_timeout) for the next deadline;
//!   [`poll_event()`](endpoint::Endpoint::poll_event) for what the application should act on;
//! - **application calls** on a [`ConnectionHandle`](endpoint::ConnectionHandle): `connect`,
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
//! use lrp2p_proto::config::EndpointConfig;
//! use lrp2p_proto::endpoint::{Endpoint, Event};
//! use lrp2p_proto::identity::StaticSecret;
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
//!             Event::Incoming { connection, .. } => bob.accept(now, connection),
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
//! ## Modules
//!
//! - [`endpoint`]: the endpoint, handles, events; [`config`]: its settings.
//! - [`connection`]: per-connection types (close reasons, statistics).
//! - [`wire`]: the v1 wire format (`docs/PROTOCOL.md` is normative), views and `Repr`s.
//! - [`crypto`]: the Noise IK/XX handshakes, the transport session, replay protection,
//!   0-RTT safety and DoS cookies; [`handshake`]: the handshake steps on whole datagrams.
//! - [`recovery`], [`congestion`]: RTT estimation, CUBIC, pacing.
//! - [`identity`]: static keys and their text form.

pub(crate) mod arq;
pub mod config;
pub mod congestion;
pub mod connection;
pub mod crypto;
pub mod endpoint;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod handshake;
pub mod identity;
pub mod recovery;
pub mod wire;
