//! DoS cookies on the wire: the cookie reply datagram (0x16) and the cookie_mac that ends every
//! initiation.
//!
//! ```text
//! cookie reply (exactly 41 bytes):
//! 0      1                 9                  25                 41
//! +------+-----------------+------------------+------------------+
//! | 0x16 | receiver_id u64 | echo 16 B        | cookie 16 B      |
//! +------+-----------------+------------------+------------------+
//!   receiver_id = the initiation's sender_id; echo = the first 16 bytes of its `e`.
//!
//! initiation (0x11, 0x13):
//! +-------------------------------------------------------+------------------+
//! | type | receiver_id=0 | sender_id | Noise message      | cookie_mac 16 B  |
//! +-------------------------------------------------------+------------------+
//!  \______________ covered by cookie_mac _________________/
//!   cookie_mac = BLAKE2s-MAC-128(key = cookie, covered bytes), or 16 zero bytes.
//! ```

use super::handshake::HandshakePacket;
use super::transport::read8;
use super::{ConnectionId, DecodeError, PacketType, need, out};

/// Length of a cookie (a BLAKE2s-MAC-128 output).
pub const COOKIE_LEN: usize = 16;
/// Length of the cookie_mac that ends an initiation.
pub const COOKIE_MAC_LEN: usize = 16;
/// Exact length of a cookie reply.
pub const COOKIE_REPLY_LEN: usize = 1 + 8 + 16 + COOKIE_LEN;

/// The bytes an initiation's cookie_mac covers: every byte before its last 16.
///
/// The datagram must be a valid IK or XX initiation (type, length and ids are checked);
/// any other datagram is `WrongType`.
pub fn cookie_mac_covered(initiation: &[u8]) -> Result<&[u8], DecodeError> {
    HandshakePacket::new_checked(initiation)?.cookie_mac_covered().ok_or(DecodeError::WrongType)
}

/// A zero-copy view of a cookie reply datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieReplyPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> CookieReplyPacket<T> {
    /// Checks the type byte, the exact length and a non-zero receiver_id.
    pub fn new_checked(buffer: T) -> Result<Self, DecodeError> {
        let bytes = buffer.as_ref();
        need(bytes, COOKIE_REPLY_LEN)?;
        if bytes.len() > COOKIE_REPLY_LEN {
            return Err(DecodeError::TrailingBytes(bytes.len() - COOKIE_REPLY_LEN));
        }
        if PacketType::from_byte(bytes[0])? != PacketType::CookieReply {
            return Err(DecodeError::WrongType);
        }
        let packet = CookieReplyPacket { buffer };
        if packet.receiver_id() == ConnectionId::NONE {
            return Err(DecodeError::BadConnectionId);
        }
        Ok(packet)
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The initiator's connection id (its initiation's sender_id).
    pub fn receiver_id(&self) -> ConnectionId {
        ConnectionId::from_bytes(read8(&self.buffer.as_ref()[1..9]))
    }

    /// The first 16 bytes of the initiation's ephemeral key.
    pub fn echo(&self) -> [u8; 16] {
        let mut echo = [0u8; 16];
        echo.copy_from_slice(&self.buffer.as_ref()[9..25]);
        echo
    }

    /// The cookie to key the next initiation's cookie_mac with.
    pub fn cookie(&self) -> [u8; COOKIE_LEN] {
        let mut cookie = [0u8; COOKIE_LEN];
        cookie.copy_from_slice(&self.buffer.as_ref()[25..COOKIE_REPLY_LEN]);
        cookie
    }
}

/// A cookie reply: the responder, under load, hands the initiator a cookie and keeps no state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CookieReplyRepr {
    /// The initiator's connection id (its initiation's sender_id).
    pub receiver_id: ConnectionId,
    /// The first 16 bytes of the initiation's ephemeral key.
    pub echo: [u8; 16],
    /// The cookie.
    pub cookie: [u8; COOKIE_LEN],
}

impl CookieReplyRepr {
    /// Parses a cookie reply datagram.
    pub fn parse(datagram: &[u8]) -> Result<Self, DecodeError> {
        let p = CookieReplyPacket::new_checked(datagram)?;
        Ok(CookieReplyRepr { receiver_id: p.receiver_id(), echo: p.echo(), cookie: p.cookie() })
    }

    /// Bytes [`CookieReplyRepr::emit`] writes: always [`COOKIE_REPLY_LEN`].
    pub const fn buffer_len(&self) -> usize {
        COOKIE_REPLY_LEN
    }

    /// Writes the datagram into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, DecodeError> {
        if self.receiver_id == ConnectionId::NONE {
            return Err(DecodeError::BadConnectionId);
        }
        let buf = out(buf, COOKIE_REPLY_LEN)?;
        buf[0] = PacketType::CookieReply.to_byte();
        buf[1..9].copy_from_slice(&self.receiver_id.to_bytes());
        buf[9..25].copy_from_slice(&self.echo);
        buf[25..].copy_from_slice(&self.cookie);
        Ok(COOKIE_REPLY_LEN)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wire::test_util::hex;
    use crate::wire::{IkInitiationRepr, XX_INITIATION_LEN, XxInitiationRepr};

    #[test]
    fn cookie_reply_bytes() {
        let r = CookieReplyRepr { receiver_id: ConnectionId(0x0102), echo: [0x11; 16], cookie: [0x22; 16] };
        let mut buf = [0xa5u8; 42];
        assert_eq!(r.emit(&mut buf), Ok(41));
        assert_eq!(hex(&buf), format!("160000000000000102{}{}a5", "11".repeat(16), "22".repeat(16)));
        assert_eq!(CookieReplyRepr::parse(&buf[..41]), Ok(r));
        assert_eq!(CookieReplyRepr::parse(&buf), Err(DecodeError::TrailingBytes(1)));
        assert!(matches!(CookieReplyRepr::parse(&buf[..40]), Err(DecodeError::Truncated { .. })));
        buf[1..9].fill(0);
        assert_eq!(CookieReplyRepr::parse(&buf[..41]), Err(DecodeError::BadConnectionId));
        let none = CookieReplyRepr { receiver_id: ConnectionId::NONE, ..r };
        assert_eq!(none.emit(&mut buf), Err(DecodeError::BadConnectionId));
        buf[0] = 0x13;
        assert_eq!(CookieReplyRepr::parse(&buf[..41]), Err(DecodeError::WrongType));
    }

    #[test]
    fn mac_covers_all_but_last_16() {
        let e = [0x33u8; 32];
        let xx = XxInitiationRepr { sender_id: ConnectionId(9), noise: &e, cookie_mac: [0; 16] };
        let mut buf = [0u8; XX_INITIATION_LEN];
        xx.emit(&mut buf).unwrap();
        assert_eq!(cookie_mac_covered(&buf).unwrap(), &buf[..XX_INITIATION_LEN - 16]);
        // Retransmission with a new cookie_mac keeps the covered bytes.
        let mut view = HandshakePacket::new_checked(&mut buf[..]).unwrap();
        view.set_cookie_mac(&[0x44; 16]).unwrap();
        let parsed = XxInitiationRepr::parse(&buf).unwrap();
        assert_eq!(parsed, XxInitiationRepr { cookie_mac: [0x44; 16], ..xx });
        let noise = [0x55u8; 108];
        let ik = IkInitiationRepr { sender_id: ConnectionId(9), noise: &noise, cookie_mac: [1; 16] };
        let mut buf = [0u8; 141];
        assert_eq!(ik.emit(&mut buf), Ok(141));
        assert_eq!(cookie_mac_covered(&buf).unwrap().len(), 125);
        let reply = CookieReplyRepr { receiver_id: ConnectionId(9), echo: [0; 16], cookie: [0; 16] };
        let mut buf = [0u8; 41];
        reply.emit(&mut buf).unwrap();
        assert_eq!(cookie_mac_covered(&buf), Err(DecodeError::WrongType));
    }
}
