//! Cryptography: the Noise handshakes, transport sessions, replay windows, 0-RTT and cookies.

pub mod aead;
pub mod replay;
pub mod session;

#[cfg(feature = "ring")]
pub use aead::RingAead;
pub use aead::{Aead, AeadError, DefaultAead, RustCryptoAead};
pub use replay::{Replay, ReplayWindow};
pub use session::{KeyUpdateError, OpenError, SealError, Session, SessionStats};
