//! The PUNCH datagram (0x1B, PROTOCOL.md §13.7): sent by the side a rendezvous introduced to
//! the peer that asked, to open its own NAT toward the asker's addresses and to tell the asker
//! which address it really sends from. Fixed size, no connection id, authenticated by a tag
//! under the key the two static keys share (`crypto::punch`).
//!
//! ```text
//! 0      1                   33           41            57
//! +------+-------------------+------------+-------------+
//! | 0x1B | sender_key 32 B   | nonce u64  | tag 16 B    |
//! +------+-------------------+------------+-------------+
//! ```

use super::{DecodeError, need, out};
use crate::identity::{KEY_LEN, PublicKey};

/// The first byte of a PUNCH (version 1, type 0xB).
pub const PUNCH_TYPE: u8 = 0x1B;
/// Exact length of a PUNCH.
pub const PUNCH_LEN: usize = 1 + KEY_LEN + 8 + 16;

/// A PUNCH datagram's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PunchRepr {
    /// The sender's static public key (what the tag is checked against).
    pub sender: PublicKey,
    /// A value the sender draws at random for each PUNCH.
    pub nonce: u64,
    /// BLAKE2s-MAC-128 over the first byte, the sender's and the receiver's keys and `nonce`.
    pub tag: [u8; 16],
}

impl PunchRepr {
    /// Parses a whole datagram: exactly [`PUNCH_LEN`] bytes starting with [`PUNCH_TYPE`].
    pub fn parse(datagram: &[u8]) -> Result<Self, DecodeError> {
        need(datagram, PUNCH_LEN)?;
        if datagram[0] != PUNCH_TYPE {
            return Err(DecodeError::WrongType);
        }
        if datagram.len() > PUNCH_LEN {
            return Err(DecodeError::TrailingBytes(datagram.len() - PUNCH_LEN));
        }
        let mut key = [0u8; KEY_LEN];
        key.copy_from_slice(&datagram[1..33]);
        let mut nonce = [0u8; 8];
        nonce.copy_from_slice(&datagram[33..41]);
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&datagram[41..57]);
        Ok(PunchRepr { sender: PublicKey::from_bytes(key), nonce: u64::from_be_bytes(nonce), tag })
    }

    /// Writes the datagram into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, DecodeError> {
        let buf = out(buf, PUNCH_LEN)?;
        buf[0] = PUNCH_TYPE;
        buf[1..33].copy_from_slice(self.sender.as_bytes());
        buf[33..41].copy_from_slice(&self.nonce.to_be_bytes());
        buf[41..57].copy_from_slice(&self.tag);
        Ok(PUNCH_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_wrong_length_or_type() {
        let repr =
            PunchRepr { sender: PublicKey::from_bytes([9; 32]), nonce: 0x0102_0304_0506_0708, tag: [7; 16] };
        let mut buf = [0u8; 64];
        let n = repr.emit(&mut buf).unwrap_or_default();
        assert_eq!(n, PUNCH_LEN);
        assert_eq!(PunchRepr::parse(&buf[..n]), Ok(repr));
        assert_eq!(&buf[33..41], &[1, 2, 3, 4, 5, 6, 7, 8]);
        for len in 0..n {
            assert!(PunchRepr::parse(&buf[..len]).is_err(), "{len}");
        }
        assert_eq!(PunchRepr::parse(&buf[..n + 1]), Err(DecodeError::TrailingBytes(1)));
        buf[0] = 0x1A;
        assert_eq!(PunchRepr::parse(&buf[..n]), Err(DecodeError::WrongType));
        assert!(repr.emit(&mut [0u8; PUNCH_LEN - 1]).is_err());
    }
}
