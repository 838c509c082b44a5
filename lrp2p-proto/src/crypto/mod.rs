//! Cryptography: the Noise handshakes, transport sessions, replay windows, 0-RTT and cookies.

pub mod cookie;
pub mod early;
pub mod noise;
