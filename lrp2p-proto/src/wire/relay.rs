//! The RELAY plaintext (PROTOCOL.md §13.8): a transport packet between a peer and its
//! rendezvous service that carries another peer's datagram, unchanged, instead of segments.
//! Toward the service `key` names the destination; from the service it names the source.
//!
//! ```text
//! plaintext of a transport packet (§6.1) on the peer–service connection:
//! 0      1                   33
//! +------+-------------------+-------------------------------------+
//! | 0x00 | key 32 B          | datagram (1 or more bytes, opaque)  |
//! +------+-------------------+-------------------------------------+
//! ```
//!
//! The first byte 0x00 can never open segments (a segment's `data_offset` is at least 6,
//! §7.2), so a receiver tells the two apart by it alone.

use super::{DecodeError, TAG_LEN, TRANSPORT_HEADER_LEN, need};
use crate::identity::{KEY_LEN, PublicKey};

/// The first plaintext byte of a RELAY packet.
pub const RELAY_MARK: u8 = 0x00;
/// The mark and the key before the carried datagram.
pub const RELAY_HEADER_LEN: usize = 1 + KEY_LEN;
/// What one relay hop adds to the datagram it carries: transport header, mark, key and tag.
pub const RELAY_OVERHEAD: usize = TRANSPORT_HEADER_LEN + RELAY_HEADER_LEN + TAG_LEN;

/// A RELAY plaintext's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelayRepr<'a> {
    /// The destination (toward the service) or the source (from it).
    pub key: PublicKey,
    /// The carried datagram.
    pub datagram: &'a [u8],
}

impl<'a> RelayRepr<'a> {
    /// Whether an authenticated transport plaintext is a RELAY one (its first byte).
    pub fn is_relay(plaintext: &[u8]) -> bool {
        plaintext.first() == Some(&RELAY_MARK)
    }

    /// Parses a RELAY plaintext: the mark, a key and at least one byte of datagram.
    pub fn parse(plaintext: &'a [u8]) -> Result<Self, DecodeError> {
        need(plaintext, RELAY_HEADER_LEN + 1)?;
        if plaintext[0] != RELAY_MARK {
            return Err(DecodeError::WrongType);
        }
        let mut key = [0u8; KEY_LEN];
        key.copy_from_slice(&plaintext[1..RELAY_HEADER_LEN]);
        Ok(RelayRepr { key: PublicKey::from_bytes(key), datagram: &plaintext[RELAY_HEADER_LEN..] })
    }

    /// Writes the mark and `key` into the first [`RELAY_HEADER_LEN`] bytes of `buf` (the
    /// datagram follows them, written by the caller).
    pub fn emit_header(key: &PublicKey, buf: &mut [u8]) -> Result<(), DecodeError> {
        need(buf, RELAY_HEADER_LEN)?;
        let head = &mut buf[..RELAY_HEADER_LEN];
        head[0] = RELAY_MARK;
        head[1..].copy_from_slice(key.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relay_plaintext_round_trips_and_short_ones_are_malformed() {
        let key = PublicKey::from_bytes([7; 32]);
        let mut buf = [0u8; 40];
        RelayRepr::emit_header(&key, &mut buf).unwrap();
        buf[33..].copy_from_slice(b"datagra");
        let repr = RelayRepr::parse(&buf).unwrap();
        assert_eq!(repr, RelayRepr { key, datagram: b"datagra" });
        assert!(RelayRepr::is_relay(&buf));
        // PROTOCOL.md §13.8: no carried byte, or a cut key, is malformed.
        assert!(RelayRepr::parse(&buf[..33]).is_err());
        assert!(RelayRepr::parse(&buf[..20]).is_err());
        assert!(RelayRepr::parse(&[]).is_err());
        buf[0] = 6;
        assert!(!RelayRepr::is_relay(&buf));
        assert_eq!(RelayRepr::parse(&buf), Err(DecodeError::WrongType));
        assert!(RelayRepr::emit_header(&key, &mut [0u8; 32]).is_err());
    }
}
