//! The five Noise handshake datagrams: a [`HandshakePacket`] view and one `Repr` per message.
//! (The cookie reply, the sixth handshake datagram, lives in `cookie.rs`.)
//!
//! ```text
//!       0      1                9               17                               len-16     len
//! 0x11  | type | receiver_id=0 | sender_id     | e 32 | enc(s) 48 | enc(p) n+16 | cookie_mac |
//! 0x12  | type | receiver_id   | e 32 | enc(p) n+16 |               (responder id in p)
//! 0x13  | type | receiver_id=0 | sender_id     | e 32 |                           cookie_mac |
//! 0x14  | type | receiver_id   | e 32 | enc(s) 48 | enc(p) 12+16 |  (responder id in p)
//! 0x15  | type | receiver_id   | enc(s) 48 | enc(p) n+16 |            (no sender_id)
//!                               \____________ `noise`: the Noise message ____________/
//! ```
//!
//! | type | min length | exact? | smallest payload plaintext |
//! |------|-----------:|--------|----------------------------|
//! | 0x11 IK initiation | 141 = 129 + 12 | no | timestamp u64, isn u32 |
//! | 0x12 IK response   |  78 = 57 + 21  | no | responder_id u64, isn u32, ACK |
//! | 0x13 XX initiation |  65            | yes | (empty, unencrypted) |
//! | 0x14 XX response   | 117            | yes | responder_id u64, isn u32 |
//! | 0x15 XX finish     |  77 = 73 + 4   | no | isn u32 |
//!
//! Initiations carry `receiver_id = 0`; every other datagram a non-zero one. `sender_id` is
//! never 0. Responses carry the responder's id inside their encrypted payload, not in the
//! header, so that it is authenticated: a receiver acts on nothing unauthenticated but what
//! finds the keys. Initiations end with `cookie_mac` over all preceding bytes (see `cookie.rs`).

use super::cookie::COOKIE_MAC_LEN;
use super::segment::ACK_HEADER_LEN;
use super::transport::read8;
use super::{ConnectionId, DecodeError, PacketType, TAG_LEN, need, out};

/// `type | receiver_id | sender_id`: the header of the initiations.
pub const HANDSHAKE_HEADER_LEN: usize = 17;
/// `type | receiver_id`: the header of the responses and of XX finish.
pub const XX_FINISH_HEADER_LEN: usize = 9;
/// `type | receiver_id`: the header of the responses (their sender id is encrypted).
pub const RESPONSE_HEADER_LEN: usize = 9;

/// IK initiation length without the payload plaintext (`129 + n` bytes for `n` of payload).
pub const IK_INITIATION_OVERHEAD: usize = HANDSHAKE_HEADER_LEN + 32 + 48 + TAG_LEN + COOKIE_MAC_LEN;
/// Smallest IK initiation: the payload holds at least `timestamp u64 | isn u32`.
pub const IK_INITIATION_MIN_LEN: usize = IK_INITIATION_OVERHEAD + 12;
/// IK response length without the payload plaintext (`57 + n`).
pub const IK_RESPONSE_OVERHEAD: usize = RESPONSE_HEADER_LEN + 32 + TAG_LEN;
/// Smallest IK response: the payload holds at least `responder_id u64 | isn u32` and the
/// mandatory ACK segment (9 bytes): PROTOCOL.md §4.3, 78 bytes.
pub const IK_RESPONSE_MIN_LEN: usize = IK_RESPONSE_OVERHEAD + 12 + ACK_HEADER_LEN;
/// The Noise message of an XX initiation: `e`.
pub const XX_INITIATION_NOISE_LEN: usize = 32;
/// Exact length of an XX initiation.
pub const XX_INITIATION_LEN: usize = HANDSHAKE_HEADER_LEN + XX_INITIATION_NOISE_LEN + COOKIE_MAC_LEN;
/// The Noise message of an XX response: `e | enc(s) | enc(responder_id | isn)`.
pub const XX_RESPONSE_NOISE_LEN: usize = 32 + 48 + 12 + TAG_LEN;
/// Exact length of an XX response.
pub const XX_RESPONSE_LEN: usize = RESPONSE_HEADER_LEN + XX_RESPONSE_NOISE_LEN;
/// XX finish length without the payload plaintext (`73 + n`).
pub const XX_FINISH_OVERHEAD: usize = XX_FINISH_HEADER_LEN + 48 + TAG_LEN;
/// Smallest XX finish: the payload holds at least `isn u32`.
pub const XX_FINISH_MIN_LEN: usize = XX_FINISH_OVERHEAD + 4;

/// The fixed facts of one Noise message's layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    /// Header length: 17 for initiations, 9 for the rest (no sender_id in the clear).
    header: usize,
    /// Smallest datagram.
    min_len: usize,
    /// Fixed-size type: any other length is rejected.
    exact: bool,
    /// An initiation: receiver_id must be 0 and a cookie_mac ends the datagram.
    initiation: bool,
}

impl Layout {
    const fn of(kind: PacketType) -> Option<Layout> {
        let (header, min_len, exact, initiation) = match kind {
            PacketType::IkInitiation => (HANDSHAKE_HEADER_LEN, IK_INITIATION_MIN_LEN, false, true),
            PacketType::IkResponse => (RESPONSE_HEADER_LEN, IK_RESPONSE_MIN_LEN, false, false),
            PacketType::XxInitiation => (HANDSHAKE_HEADER_LEN, XX_INITIATION_LEN, true, true),
            PacketType::XxResponse => (RESPONSE_HEADER_LEN, XX_RESPONSE_LEN, true, false),
            PacketType::XxFinish => (XX_FINISH_HEADER_LEN, XX_FINISH_MIN_LEN, false, false),
            PacketType::CookieReply | PacketType::Transport { .. } => return None,
        };
        Some(Layout { header, min_len, exact, initiation })
    }

    /// Bytes after the Noise message.
    const fn trailer(self) -> usize {
        if self.initiation { COOKIE_MAC_LEN } else { 0 }
    }

    /// Smallest Noise message.
    const fn min_noise(self) -> usize {
        self.min_len - self.header - self.trailer()
    }
}

/// A zero-copy view of a Noise handshake datagram (types 0x11 to 0x15).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandshakePacket<T: AsRef<[u8]>> {
    buffer: T,
    kind: PacketType,
    layout: Layout,
}

impl<T: AsRef<[u8]>> HandshakePacket<T> {
    /// Checks the type byte, the length (minimum, or exact for fixed-size types) and the
    /// connection ids (`receiver_id` 0 exactly on initiations, `sender_id` never 0).
    pub fn new_checked(buffer: T) -> Result<Self, DecodeError> {
        let bytes = buffer.as_ref();
        need(bytes, 1)?;
        let kind = PacketType::from_byte(bytes[0])?;
        let layout = Layout::of(kind).ok_or(DecodeError::WrongType)?;
        need(bytes, layout.min_len)?;
        if layout.exact && bytes.len() > layout.min_len {
            return Err(DecodeError::TrailingBytes(bytes.len() - layout.min_len));
        }
        let packet = HandshakePacket { buffer, kind, layout };
        // PROTOCOL §2: initiations carry receiver_id 0, everything else a real CID; CID 0 is
        // never valid as a sender_id.
        let receiver_is_none = packet.receiver_id() == ConnectionId::NONE;
        if receiver_is_none != layout.initiation || packet.sender_id() == Some(ConnectionId::NONE) {
            return Err(DecodeError::BadConnectionId);
        }
        Ok(packet)
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Which handshake message this is.
    pub const fn packet_type(&self) -> PacketType {
        self.kind
    }

    /// The receiving side's connection id (0 on initiations).
    pub fn receiver_id(&self) -> ConnectionId {
        ConnectionId::from_bytes(read8(&self.buffer.as_ref()[1..9]))
    }

    /// The sending side's connection id: initiations only (responses carry it encrypted).
    pub fn sender_id(&self) -> Option<ConnectionId> {
        (self.layout.header == HANDSHAKE_HEADER_LEN)
            .then(|| ConnectionId::from_bytes(read8(&self.buffer.as_ref()[9..17])))
    }

    /// Whether this is an initiation (IK or XX message 1), which ends with a cookie_mac.
    pub fn is_initiation(&self) -> bool {
        self.layout.initiation
    }
}

impl<'a> HandshakePacket<&'a [u8]> {
    /// The Noise message: the bytes between the outer header and the cookie_mac (or the end).
    pub fn noise(&self) -> &'a [u8] {
        let layout = self.layout;
        let end = self.buffer.len().saturating_sub(layout.trailer());
        self.buffer.get(layout.header..end).unwrap_or_default()
    }

    /// The cookie_mac of an initiation (`None` for other messages).
    pub fn cookie_mac(&self) -> Option<[u8; COOKIE_MAC_LEN]> {
        if !self.is_initiation() {
            return None;
        }
        self.buffer.last_chunk::<COOKIE_MAC_LEN>().copied()
    }

    /// The bytes an initiation's cookie_mac covers: all bytes before its last 16.
    pub fn cookie_mac_covered(&self) -> Option<&'a [u8]> {
        if !self.is_initiation() {
            return None;
        }
        self.buffer.split_last_chunk::<COOKIE_MAC_LEN>().map(|(covered, _)| covered)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> HandshakePacket<T> {
    /// Overwrites an initiation's cookie_mac (a retransmission after a cookie reply keeps the
    /// Noise message and only changes this). Fails with `WrongType` on other messages.
    pub fn set_cookie_mac(&mut self, mac: &[u8; COOKIE_MAC_LEN]) -> Result<(), DecodeError> {
        if !self.is_initiation() {
            return Err(DecodeError::WrongType);
        }
        let slot = self.buffer.as_mut().last_chunk_mut::<COOKIE_MAC_LEN>();
        let slot = slot.ok_or(DecodeError::WrongType)?;
        *slot = *mac;
        Ok(())
    }
}

/// Parses a datagram of the given kind into its view.
fn view(datagram: &[u8], kind: PacketType) -> Result<HandshakePacket<&[u8]>, DecodeError> {
    let packet = HandshakePacket::new_checked(datagram)?;
    if packet.packet_type() == kind { Ok(packet) } else { Err(DecodeError::WrongType) }
}

/// Writes a Noise handshake datagram; the inverse of [`HandshakePacket::new_checked`].
fn emit(
    buf: &mut [u8],
    kind: PacketType,
    receiver_id: ConnectionId,
    sender_id: Option<ConnectionId>,
    noise: &[u8],
    cookie_mac: Option<&[u8; COOKIE_MAC_LEN]>,
) -> Result<usize, DecodeError> {
    let layout = Layout::of(kind).ok_or(DecodeError::WrongType)?;
    if (receiver_id == ConnectionId::NONE) != layout.initiation || sender_id == Some(ConnectionId::NONE) {
        return Err(DecodeError::BadConnectionId);
    }
    let short = noise.len() < layout.min_noise();
    if short || (layout.exact && noise.len() != layout.min_noise()) {
        return Err(DecodeError::FieldOutOfRange("Noise message length"));
    }
    let len = noise
        .len()
        .checked_add(layout.header + layout.trailer())
        .ok_or(DecodeError::FieldOutOfRange("Noise message length"))?;
    let buf = out(buf, len)?;
    buf[0] = kind.to_byte();
    buf[1..9].copy_from_slice(&receiver_id.to_bytes());
    if let Some(sender_id) = sender_id {
        buf[9..17].copy_from_slice(&sender_id.to_bytes());
    }
    buf[layout.header..layout.header + noise.len()].copy_from_slice(noise);
    if let Some(mac) = cookie_mac {
        buf[len - COOKIE_MAC_LEN..].copy_from_slice(mac);
    }
    Ok(len)
}

/// Noise IK message 1 (0x11): `-> e, es, s, ss` plus the encrypted payload, then cookie_mac.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IkInitiationRepr<'a> {
    /// The initiator's connection id.
    pub sender_id: ConnectionId,
    /// The Noise message (`e | enc(s) | enc(payload)`, >= 108 bytes).
    pub noise: &'a [u8],
    /// BLAKE2s-MAC-128 over all preceding bytes, keyed by the cookie (zero without a cookie).
    pub cookie_mac: [u8; COOKIE_MAC_LEN],
}

impl<'a> IkInitiationRepr<'a> {
    /// Parses an IK initiation datagram.
    pub fn parse(datagram: &'a [u8]) -> Result<Self, DecodeError> {
        let p = view(datagram, PacketType::IkInitiation)?;
        Ok(IkInitiationRepr {
            sender_id: p.sender_id().ok_or(DecodeError::WrongType)?,
            noise: p.noise(),
            cookie_mac: p.cookie_mac().ok_or(DecodeError::WrongType)?,
        })
    }

    /// Bytes [`IkInitiationRepr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        (HANDSHAKE_HEADER_LEN + COOKIE_MAC_LEN).saturating_add(self.noise.len())
    }

    /// Writes the datagram into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, DecodeError> {
        let kind = PacketType::IkInitiation;
        emit(buf, kind, ConnectionId::NONE, Some(self.sender_id), self.noise, Some(&self.cookie_mac))
    }
}

/// Noise IK message 2 (0x12): `<- e, ee, se` plus the encrypted payload, which carries the
/// responder's connection id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IkResponseRepr<'a> {
    /// The initiator's connection id.
    pub receiver_id: ConnectionId,
    /// The Noise message (`e | enc(payload)`, >= 69 bytes).
    pub noise: &'a [u8],
}

impl<'a> IkResponseRepr<'a> {
    /// Parses an IK response datagram.
    pub fn parse(datagram: &'a [u8]) -> Result<Self, DecodeError> {
        let p = view(datagram, PacketType::IkResponse)?;
        Ok(IkResponseRepr { receiver_id: p.receiver_id(), noise: p.noise() })
    }

    /// Bytes [`IkResponseRepr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        RESPONSE_HEADER_LEN.saturating_add(self.noise.len())
    }

    /// Writes the datagram into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, DecodeError> {
        emit(buf, PacketType::IkResponse, self.receiver_id, None, self.noise, None)
    }
}

/// Noise XX message 1 (0x13): `-> e` (empty payload), then cookie_mac. Exactly 65 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct XxInitiationRepr<'a> {
    /// The initiator's connection id.
    pub sender_id: ConnectionId,
    /// The Noise message: the ephemeral public key `e`.
    pub noise: &'a [u8; XX_INITIATION_NOISE_LEN],
    /// BLAKE2s-MAC-128 over all preceding bytes, keyed by the cookie (zero without a cookie).
    pub cookie_mac: [u8; COOKIE_MAC_LEN],
}

impl<'a> XxInitiationRepr<'a> {
    /// Parses an XX initiation datagram.
    pub fn parse(datagram: &'a [u8]) -> Result<Self, DecodeError> {
        let p = view(datagram, PacketType::XxInitiation)?;
        Ok(XxInitiationRepr {
            sender_id: p.sender_id().ok_or(DecodeError::WrongType)?,
            noise: p.noise().try_into().map_err(|_| DecodeError::WrongType)?,
            cookie_mac: p.cookie_mac().ok_or(DecodeError::WrongType)?,
        })
    }

    /// Bytes [`XxInitiationRepr::emit`] writes: always [`XX_INITIATION_LEN`].
    pub const fn buffer_len(&self) -> usize {
        XX_INITIATION_LEN
    }

    /// Writes the datagram into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, DecodeError> {
        let kind = PacketType::XxInitiation;
        emit(buf, kind, ConnectionId::NONE, Some(self.sender_id), self.noise, Some(&self.cookie_mac))
    }
}

/// Noise XX message 2 (0x14): `<- e, ee, s, es` plus the encrypted responder id and isn.
/// Exactly 117 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct XxResponseRepr<'a> {
    /// The initiator's connection id.
    pub receiver_id: ConnectionId,
    /// The Noise message `e | enc(s) | enc(responder_id | isn)`.
    pub noise: &'a [u8; XX_RESPONSE_NOISE_LEN],
}

impl<'a> XxResponseRepr<'a> {
    /// Parses an XX response datagram.
    pub fn parse(datagram: &'a [u8]) -> Result<Self, DecodeError> {
        let p = view(datagram, PacketType::XxResponse)?;
        Ok(XxResponseRepr {
            receiver_id: p.receiver_id(),
            noise: p.noise().try_into().map_err(|_| DecodeError::WrongType)?,
        })
    }

    /// Bytes [`XxResponseRepr::emit`] writes: always [`XX_RESPONSE_LEN`].
    pub const fn buffer_len(&self) -> usize {
        XX_RESPONSE_LEN
    }

    /// Writes the datagram into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, DecodeError> {
        emit(buf, PacketType::XxResponse, self.receiver_id, None, self.noise, None)
    }
}

/// Noise XX message 3 (0x15): `-> s, se` plus the encrypted payload. No sender_id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct XxFinishRepr<'a> {
    /// The responder's connection id.
    pub receiver_id: ConnectionId,
    /// The Noise message (`enc(s) | enc(payload)`, >= 68 bytes).
    pub noise: &'a [u8],
}

impl<'a> XxFinishRepr<'a> {
    /// Parses an XX finish datagram.
    pub fn parse(datagram: &'a [u8]) -> Result<Self, DecodeError> {
        let p = view(datagram, PacketType::XxFinish)?;
        Ok(XxFinishRepr { receiver_id: p.receiver_id(), noise: p.noise() })
    }

    /// Bytes [`XxFinishRepr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        XX_FINISH_HEADER_LEN.saturating_add(self.noise.len())
    }

    /// Writes the datagram into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, DecodeError> {
        emit(buf, PacketType::XxFinish, self.receiver_id, None, self.noise, None)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "handshake_tests.rs"]
mod tests;
