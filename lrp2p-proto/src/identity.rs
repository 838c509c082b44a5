//! Static identities: X25519 key pairs and the text form of public keys.
//!
//! A peer *is* its static public key. Keys print and parse as standard base64 with padding
//! (RFC 4648 §4), 44 characters for 32 bytes — the form WireGuard users already know:
//!
//! ```
//! use lrp2p_proto::{PublicKey, StaticSecret};
//! # use rand_core::{RngCore, CryptoRng, impls};
//! # struct Fixed(u8);
//! # impl RngCore for Fixed {
//! #     fn next_u32(&mut self) -> u32 { impls::next_u32_via_fill(self) }
//! #     fn next_u64(&mut self) -> u64 { impls::next_u64_via_fill(self) }
//! #     fn fill_bytes(&mut self, d: &mut [u8]) { d.fill(self.0) }
//! #     fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> { d.fill(self.0); Ok(()) }
//! # }
//! # impl CryptoRng for Fixed {}
//! let secret = StaticSecret::generate(&mut Fixed(7));
//! let text = secret.public_key().to_string();
//! assert_eq!(text.len(), 44);
//! let parsed: PublicKey = text.parse()?;
//! assert_eq!(parsed, secret.public_key());
//! assert!("not a key".parse::<PublicKey>().is_err());
//! # Ok::<(), lrp2p_proto::ParseKeyError>(())
//! ```
//!
//! Secrets are zeroized on drop and never printed: their `Debug` shows only the public key.

use core::fmt;
use core::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

/// Length of keys in bytes (X25519, RFC 7748 §5).
pub const KEY_LEN: usize = 32;

/// Length of a public key's text form: base64 of 32 bytes with one padding character.
pub(crate) const PUBLIC_KEY_TEXT_LEN: usize = 44;

/// A peer's static public key: its identity.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; KEY_LEN]);

impl PublicKey {
    /// Wraps raw key bytes.
    pub const fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        PublicKey(bytes)
    }

    /// The raw key bytes.
    pub const fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&BASE64.encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

/// Why a string is not a public key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseKeyError {
    /// The text is not 44 characters long.
    #[error("a public key is {PUBLIC_KEY_TEXT_LEN} base64 characters, got {0}")]
    Length(usize),
    /// The text is not canonical standard base64 (RFC 4648 §4, with padding).
    #[error("a public key must be standard base64 with padding: {0}")]
    Encoding(String),
}

impl FromStr for PublicKey {
    type Err = ParseKeyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.len() != PUBLIC_KEY_TEXT_LEN {
            return Err(ParseKeyError::Length(text.chars().count()));
        }
        let mut bytes = [0u8; KEY_LEN + 1];
        // The standard engine rejects non-canonical trailing bits and bad padding.
        let n = BASE64.decode_slice(text, &mut bytes).map_err(|e| ParseKeyError::Encoding(e.to_string()))?;
        if n != KEY_LEN {
            return Err(ParseKeyError::Encoding(format!("decodes to {n} bytes, not {KEY_LEN}")));
        }
        let mut key = [0u8; KEY_LEN];
        key.copy_from_slice(&bytes[..KEY_LEN]);
        Ok(PublicKey(key))
    }
}

/// A static X25519 secret key with its public key. Zeroized on drop; never printed.
#[derive(Clone)]
pub struct StaticSecret {
    secret: x25519_dalek::StaticSecret,
    public: PublicKey,
}

impl StaticSecret {
    /// Generates a new key pair from the caller's cryptographically secure RNG.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill_bytes(bytes.as_mut());
        Self::from_bytes(*bytes)
    }

    /// Builds a key pair from 32 secret bytes (clamped per RFC 7748 §5 when used).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let secret = x25519_dalek::StaticSecret::from(bytes);
        let public = PublicKey(x25519_dalek::PublicKey::from(&secret).to_bytes());
        StaticSecret { secret, public }
    }

    /// The secret bytes, for storing the key. Wrapped so that the copy is zeroized too.
    pub fn to_bytes(&self) -> Zeroizing<[u8; KEY_LEN]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    /// The public half: this peer's identity.
    pub const fn public_key(&self) -> PublicKey {
        self.public
    }

    pub(crate) const fn dalek(&self) -> &x25519_dalek::StaticSecret {
        &self.secret
    }
}

impl fmt::Debug for StaticSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StaticSecret {{ public: {}, secret: <redacted> }}", self.public)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7748_public_key_and_text_round_trip() {
        // RFC 7748 §6.1: Alice's private and public keys.
        let secret = hex32("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        let public = hex32("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
        let key = StaticSecret::from_bytes(secret);
        assert_eq!(key.public_key().as_bytes(), &public);
        let text = key.public_key().to_string();
        assert_eq!(text, "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=");
        assert_eq!(text.parse::<PublicKey>(), Ok(key.public_key()));
        assert_eq!(format!(" {text}\n").parse::<PublicKey>(), Ok(key.public_key()));
    }

    #[test]
    fn bad_text_is_rejected_with_a_reason() {
        assert_eq!("abc".parse::<PublicKey>(), Err(ParseKeyError::Length(3)));
        let bad_char = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTm!=";
        assert!(matches!(bad_char.parse::<PublicKey>(), Err(ParseKeyError::Encoding(_))));
        // Non-canonical: last character's unused low bits set.
        let non_canonical = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmp=";
        assert!(matches!(non_canonical.parse::<PublicKey>(), Err(ParseKeyError::Encoding(_))));
        let no_pad = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmoA";
        assert!(no_pad.parse::<PublicKey>().is_err());
    }

    #[test]
    fn secret_debug_never_shows_the_secret() {
        let key = StaticSecret::from_bytes([0x42; KEY_LEN]);
        let shown = format!("{key:?}");
        assert!(shown.contains("redacted"));
        assert!(!shown.contains("QkJC"), "base64 of the secret bytes leaked: {shown}");
        assert_eq!(*key.to_bytes(), [0x42; KEY_LEN]);
    }

    pub(crate) fn hex32(s: &str) -> [u8; KEY_LEN] {
        let mut out = [0u8; KEY_LEN];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }
}
