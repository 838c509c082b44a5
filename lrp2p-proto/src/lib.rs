//! # lrp2p-proto: the sans-IO core of LRP2P
//!
//! LRP2P is a reliable, encrypted transport over UDP. This crate holds all of its protocol logic
//! and none of its I/O: no sockets, no clocks, no threads and no randomness of its own. Time and a
//! [`rand_core`] RNG are always parameters, so every behaviour is deterministic under test.
//!
//! - [`wire`]: the v1 wire format (`docs/PROTOCOL.md` is normative), views and `Repr`s.
//! - [`crypto`]: the Noise IK/XX handshakes, the transport session, replay protection,
//!   0-RTT safety and DoS cookies.
//! - [`handshake`]: the handshake steps on whole datagrams.
//! - [`identity`]: static keys and their text form.

pub(crate) mod arq;
pub mod congestion;
pub mod crypto;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod handshake;
pub mod identity;
pub mod recovery;
pub mod wire;
