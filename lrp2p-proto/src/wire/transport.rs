//! The cleartext header of an encrypted transport packet.
//!
//! ```text
//! 0        1                 9                 17
//! +--------+-----------------+-----------------+----------------------+---------+
//! | 0x18|p | receiver_id u64 | counter u64     | ciphertext (>= 1 B)  | tag 16B |
//! +--------+-----------------+-----------------+----------------------+---------+
//! ```
//! The 17 header bytes are the AEAD's associated data; `counter` is its nonce.

use super::{ConnectionId, DecodeError, PacketType, TAG_LEN, need};

/// Length of the transport header.
pub const TRANSPORT_HEADER_LEN: usize = 17;

/// The header of a transport packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransportHeader {
    /// Key phase bit (see PROTOCOL.md, key update).
    pub key_phase: bool,
    /// The receiving side's connection id.
    pub receiver_id: ConnectionId,
    /// The packet counter: the AEAD nonce, unique per direction.
    pub counter: u64,
}

impl TransportHeader {
    /// Parses the header of a transport datagram. The rest (ciphertext and tag) must hold at least
    /// one plaintext byte plus the tag.
    pub fn parse(datagram: &[u8]) -> Result<TransportHeader, DecodeError> {
        need(datagram, TRANSPORT_HEADER_LEN + 1 + TAG_LEN)?;
        let key_phase = match PacketType::from_byte(datagram[0])? {
            PacketType::Transport { key_phase } => key_phase,
            _ => return Err(DecodeError::WrongType),
        };
        let receiver_id = ConnectionId::from_bytes(read8(&datagram[1..9]));
        if receiver_id == ConnectionId::NONE {
            return Err(DecodeError::BadConnectionId);
        }
        let counter = u64::from_be_bytes(read8(&datagram[9..17]));
        Ok(TransportHeader { key_phase, receiver_id, counter })
    }

    /// Writes the header into the first 17 bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), DecodeError> {
        need(buf, TRANSPORT_HEADER_LEN)
            .map_err(|_| DecodeError::BufferTooSmall { needed: TRANSPORT_HEADER_LEN, had: buf.len() })?;
        buf[0] = PacketType::Transport { key_phase: self.key_phase }.to_byte();
        buf[1..9].copy_from_slice(&self.receiver_id.to_bytes());
        buf[9..17].copy_from_slice(&self.counter.to_be_bytes());
        Ok(())
    }
}

/// Copies exactly eight bytes out of a slice whose length the caller has checked.
pub(crate) fn read8(bytes: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&bytes[..8]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let h = TransportHeader { key_phase: true, receiver_id: ConnectionId(7), counter: 1 << 40 };
        let mut buf = [0xa5u8; TRANSPORT_HEADER_LEN + 1 + TAG_LEN];
        h.emit(&mut buf).unwrap();
        assert_eq!(buf[0], 0x19);
        assert_eq!(TransportHeader::parse(&buf), Ok(h));
        assert!(TransportHeader::parse(&buf[..TRANSPORT_HEADER_LEN + TAG_LEN]).is_err());
        buf[1..9].fill(0);
        assert_eq!(TransportHeader::parse(&buf), Err(DecodeError::BadConnectionId));
    }
}
