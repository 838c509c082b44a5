//! Any received datagram, dispatched on its first byte to the `Repr` of its type.
//!
//! ```text
//! +----------------+------------------------------------------------------------+
//! | version | type | rest: layout chosen by the type byte                       |
//! | 4 bits  | 4 b  |                                                            |
//! +----------------+------------------------------------------------------------+
//!   0x11 IK initiation  0x12 IK response  0x13 XX initiation  0x14 XX response
//!   0x15 XX finish      0x16 cookie reply 0x18 / 0x19 transport (key phase 0 / 1)
//!   anything else: UnknownVersion / UnknownType (drop silently and count)
//! ```

use super::cookie::CookieReplyRepr;
use super::handshake::{IkInitiationRepr, IkResponseRepr, XxFinishRepr, XxInitiationRepr, XxResponseRepr};
use super::transport::{TRANSPORT_HEADER_LEN, TransportHeader};
use super::{ConnectionId, DecodeError, PacketType, TAG_LEN, need, out};

/// A parsed datagram of any type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Datagram<'a> {
    /// 0x11: Noise IK message 1.
    IkInitiation(IkInitiationRepr<'a>),
    /// 0x12: Noise IK message 2.
    IkResponse(IkResponseRepr<'a>),
    /// 0x13: Noise XX message 1.
    XxInitiation(XxInitiationRepr<'a>),
    /// 0x14: Noise XX message 2.
    XxResponse(XxResponseRepr<'a>),
    /// 0x15: Noise XX message 3.
    XxFinish(XxFinishRepr<'a>),
    /// 0x16: cookie reply.
    CookieReply(CookieReplyRepr),
    /// 0x18 / 0x19: an encrypted transport packet.
    Transport {
        /// The 17-byte cleartext header (the AEAD's associated data).
        header: TransportHeader,
        /// Everything after the header: ciphertext then 16-byte tag (at least 17 bytes).
        ciphertext: &'a [u8],
    },
}

impl<'a> Datagram<'a> {
    /// Parses any datagram, dispatching on its first byte.
    pub fn parse(datagram: &'a [u8]) -> Result<Self, DecodeError> {
        need(datagram, 1)?;
        Ok(match PacketType::from_byte(datagram[0])? {
            PacketType::IkInitiation => Datagram::IkInitiation(IkInitiationRepr::parse(datagram)?),
            PacketType::IkResponse => Datagram::IkResponse(IkResponseRepr::parse(datagram)?),
            PacketType::XxInitiation => Datagram::XxInitiation(XxInitiationRepr::parse(datagram)?),
            PacketType::XxResponse => Datagram::XxResponse(XxResponseRepr::parse(datagram)?),
            PacketType::XxFinish => Datagram::XxFinish(XxFinishRepr::parse(datagram)?),
            PacketType::CookieReply => Datagram::CookieReply(CookieReplyRepr::parse(datagram)?),
            PacketType::Transport { .. } => Datagram::Transport {
                header: TransportHeader::parse(datagram)?,
                ciphertext: datagram.get(TRANSPORT_HEADER_LEN..).unwrap_or_default(),
            },
        })
    }

    /// The datagram's type.
    pub const fn packet_type(&self) -> PacketType {
        match self {
            Datagram::IkInitiation(_) => PacketType::IkInitiation,
            Datagram::IkResponse(_) => PacketType::IkResponse,
            Datagram::XxInitiation(_) => PacketType::XxInitiation,
            Datagram::XxResponse(_) => PacketType::XxResponse,
            Datagram::XxFinish(_) => PacketType::XxFinish,
            Datagram::CookieReply(_) => PacketType::CookieReply,
            Datagram::Transport { header, .. } => PacketType::Transport { key_phase: header.key_phase },
        }
    }

    /// The receiving side's connection id: the demultiplexing key (0 on initiations).
    pub const fn receiver_id(&self) -> ConnectionId {
        match self {
            Datagram::IkInitiation(_) | Datagram::XxInitiation(_) => ConnectionId::NONE,
            Datagram::IkResponse(r) => r.receiver_id,
            Datagram::XxResponse(r) => r.receiver_id,
            Datagram::XxFinish(r) => r.receiver_id,
            Datagram::CookieReply(r) => r.receiver_id,
            Datagram::Transport { header, .. } => header.receiver_id,
        }
    }

    /// Bytes [`Datagram::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        match self {
            Datagram::IkInitiation(r) => r.buffer_len(),
            Datagram::IkResponse(r) => r.buffer_len(),
            Datagram::XxInitiation(r) => r.buffer_len(),
            Datagram::XxResponse(r) => r.buffer_len(),
            Datagram::XxFinish(r) => r.buffer_len(),
            Datagram::CookieReply(r) => r.buffer_len(),
            Datagram::Transport { ciphertext, .. } => TRANSPORT_HEADER_LEN.saturating_add(ciphertext.len()),
        }
    }

    /// Writes the datagram into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, DecodeError> {
        match self {
            Datagram::IkInitiation(r) => r.emit(buf),
            Datagram::IkResponse(r) => r.emit(buf),
            Datagram::XxInitiation(r) => r.emit(buf),
            Datagram::XxResponse(r) => r.emit(buf),
            Datagram::XxFinish(r) => r.emit(buf),
            Datagram::CookieReply(r) => r.emit(buf),
            Datagram::Transport { header, ciphertext } => {
                // PROTOCOL §3: m >= 1 plaintext byte, plus the tag.
                if ciphertext.len() < 1 + TAG_LEN {
                    return Err(DecodeError::FieldOutOfRange("transport ciphertext length"));
                }
                if header.receiver_id == ConnectionId::NONE {
                    return Err(DecodeError::BadConnectionId);
                }
                let len = self.buffer_len();
                let buf = out(buf, len)?;
                header.emit(buf)?;
                buf[TRANSPORT_HEADER_LEN..].copy_from_slice(ciphertext);
                Ok(len)
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wire::test_util::hex;
    use crate::wire::{COOKIE_REPLY_LEN, XX_INITIATION_LEN};

    #[test]
    fn dispatches_on_first_byte() {
        let e = [7u8; 32];
        let init = XxInitiationRepr { sender_id: ConnectionId(3), noise: &e, cookie_mac: [0; 16] };
        let mut buf = [0u8; 80];
        init.emit(&mut buf).unwrap();
        let d = Datagram::parse(&buf[..XX_INITIATION_LEN]).unwrap();
        assert_eq!(d, Datagram::XxInitiation(init));
        assert_eq!((d.packet_type().to_byte(), d.receiver_id()), (0x13, ConnectionId::NONE));

        let reply = CookieReplyRepr { receiver_id: ConnectionId(3), echo: [1; 16], cookie: [2; 16] };
        reply.emit(&mut buf).unwrap();
        let d = Datagram::parse(&buf[..COOKIE_REPLY_LEN]).unwrap();
        assert_eq!((d, d.receiver_id()), (Datagram::CookieReply(reply), ConnectionId(3)));

        assert_eq!(Datagram::parse(&[]), Err(DecodeError::Truncated { needed: 1, had: 0 }));
        assert_eq!(Datagram::parse(&[0x17; 80]), Err(DecodeError::UnknownType(7)));
        assert_eq!(Datagram::parse(&[0x01; 80]), Err(DecodeError::UnknownVersion(0)));
    }

    #[test]
    fn transport_bytes() {
        let header = TransportHeader { key_phase: false, receiver_id: ConnectionId(5), counter: 2 };
        let ct = [0xeeu8; 17];
        let d = Datagram::Transport { header, ciphertext: &ct };
        let mut buf = [0xa5u8; 35];
        assert_eq!(d.emit(&mut buf), Ok(34));
        let expected = format!("1800000000000000050000000000000002{}a5", "ee".repeat(17));
        assert_eq!(hex(&buf), expected);
        assert_eq!(Datagram::parse(&buf[..34]), Ok(d));
        assert!(Datagram::parse(&buf[..33]).is_err());
        let short = Datagram::Transport { header, ciphertext: &ct[..16] };
        assert!(matches!(short.emit(&mut buf), Err(DecodeError::FieldOutOfRange(_))));
    }
}
