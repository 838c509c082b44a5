//! Cryptography: the Noise handshakes, transport sessions, replay windows, 0-RTT and cookies.
//!
//! - [`noise`]: `Noise_IK_…` and `Noise_XX_25519_ChaChaPoly_BLAKE2s` as typed state machines.
//! - [`session`]: sealing and opening transport packets in place, with key update.
//! - [`aead`]: the AEAD trait and its RustCrypto and (feature `ring`) ring backends.
//! - [`replay`]: the RFC 6479 sliding window for transport counters.
//! - [`early`]: whether the 0-RTT data of an IK initiation may be delivered.
//! - [`cookie`]: stateless cookies for responders under load.

pub mod aead;
pub mod cookie;
pub mod early;
pub mod noise;
pub mod punch;
pub mod replay;
pub mod session;

#[cfg(feature = "ring")]
pub use aead::RingAead;
pub use aead::{Aead, AeadError, DefaultAead, RustCryptoAead};
pub use replay::{Replay, ReplayWindow};
pub use session::{KeyUpdateError, OpenError, SealError, Session, SessionStats};
