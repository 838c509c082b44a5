//! The LRP2P v1 wire format: every datagram and segment as a zero-copy view plus a `Repr`.
//!
//! `docs/PROTOCOL.md` is the normative description; this module is its executable form.
//! Everything here parses untrusted bytes: lengths are checked before any index, trailing
//! bytes are rejected where a layout is fixed, and nothing panics on any input. Nothing here
//! allocates: views borrow the caller's buffer and `emit` writes into a caller's buffer.
//!
//! ```text
//! datagram  = type u8 (version << 4 | kind) | receiver_id u64 | ... (see each layout)
//!
//! 0x11 IK initiation   handshake.rs   0x14 XX response   handshake.rs
//! 0x12 IK response     handshake.rs   0x15 XX finish     handshake.rs
//! 0x13 XX initiation   handshake.rs   0x16 cookie reply  cookie.rs
//! 0x18/0x19 transport  transport.rs   0x1B punch         punch.rs
//! (any type: datagram.rs dispatches on the first byte)
//!
//! plaintext = [ACK segment] [DATA segment | CLOSE segment]     segments.rs
//!           | 0x00 key datagram (a relayed datagram)          relay.rs
//!   segment = data_offset u8 | flags u8 | seq u32 | ...        segment.rs, ack.rs, ext.rs
//! handshake payload plaintexts (timestamp, isn, segments)      payload.rs
//! ```
//!
//! Views (`Segment`, `HandshakePacket`, `CookieReplyPacket`) are built with `new_checked` and
//! never index past what that check established; `Repr`s have `parse`, `buffer_len` and `emit`,
//! and `emit` refuses any value that `parse` would reject, so emit → parse is the identity.

mod ack;
mod cookie;
mod datagram;
mod dsack;
mod echo;
mod ext;
mod handshake;
mod path;
mod payload;
mod punch;
mod relay;
mod segment;
mod segments;
mod seq;
mod transport;

pub use ack::{ACK_EXTENSION_BUDGET, AckRepr, MAX_SACK_RANGES, MAX_WINDOW, SackRanges};
pub use cookie::{
    COOKIE_LEN, COOKIE_MAC_LEN, COOKIE_REPLY_LEN, CookieReplyPacket, CookieReplyRepr, cookie_mac_covered,
};
pub use datagram::Datagram;
pub use dsack::{DsackRanges, MAX_DSACK_RANGES};
pub use echo::{AckEcho, ECHO_SPAN, ECHO_TLV_LEN, Echoed};
pub use ext::{
    EXT_ACK_DELAY, EXT_ACK_ECHO, EXT_APP_PROTOCOL, EXT_DSACK, EXT_PADDING, EXT_SACK, Extension, Extensions,
};
pub use handshake::{
    HANDSHAKE_HEADER_LEN, HandshakePacket, IK_INITIATION_MIN_LEN, IK_INITIATION_OVERHEAD,
    IK_RESPONSE_MIN_LEN, IK_RESPONSE_OVERHEAD, IkInitiationRepr, IkResponseRepr, RESPONSE_HEADER_LEN,
    XX_FINISH_HEADER_LEN, XX_FINISH_MIN_LEN, XX_FINISH_OVERHEAD, XX_INITIATION_LEN, XX_INITIATION_NOISE_LEN,
    XX_RESPONSE_LEN, XX_RESPONSE_NOISE_LEN, XxFinishRepr, XxInitiationRepr, XxResponseRepr,
};
pub use path::{EXT_PATH_CHALLENGE, EXT_PATH_RESPONSE, PATH_DATA_LEN, PATH_TLV_LEN, PathFrames};
pub use payload::{
    IK_INIT_PAYLOAD_MIN_LEN, ISN_LEN, IkInitPayload, IkResponsePayload, RESPONSE_PAYLOAD_HEAD_LEN,
    XxFinishPayload, XxResponsePayload,
};
pub use punch::{PUNCH_LEN, PUNCH_TYPE, PunchRepr};
pub use relay::{RELAY_HEADER_LEN, RELAY_MARK, RELAY_OVERHEAD, RelayRepr};
pub use segment::{
    ACK_HEADER_LEN, CloseRepr, DataRepr, SEGMENT_HEADER_LEN, Segment, SegmentFlags, SegmentKind,
    app_protocol_ext_len, close_code,
};
pub use segments::{Segments, Tail};
pub use seq::Seq;
pub use transport::{TRANSPORT_HEADER_LEN, TransportHeader};

/// The protocol version carried in the high nibble of every datagram's first byte.
pub const VERSION: u8 = 1;

/// Length of the Poly1305 tag that ends every AEAD ciphertext.
pub const TAG_LEN: usize = 16;

/// Default maximum datagram size in bytes (configurable per endpoint).
pub const DEFAULT_MAX_DATAGRAM: usize = 1400;

/// PROTOCOL.md §8.5: a receiver SHOULD NOT delay an ACK by more than this; senders allow for it
/// in their retransmission timers.
pub const MAX_ACK_DELAY: std::time::Duration = std::time::Duration::from_millis(25);

/// The datagram's type and its `receiver_id` (PROTOCOL.md §2, §3: the first byte, and the CID at
/// offset 1 of every datagram), read without parsing the rest: what the endpoint needs to route
/// a datagram to its connection, which then parses it once, in place.
pub fn route(datagram: &[u8]) -> Result<(PacketType, ConnectionId), DecodeError> {
    need(datagram, 9)?;
    let packet_type = PacketType::from_byte(datagram[0])?;
    let mut id = [0u8; 8];
    id.copy_from_slice(&datagram[1..9]);
    Ok((packet_type, ConnectionId::from_bytes(id)))
}

/// The kind of a datagram, from the low nibble of its first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// Noise IK message 1: `-> e, es, s, ss`, carrying 0-RTT data.
    IkInitiation,
    /// Noise IK message 2: `<- e, ee, se`.
    IkResponse,
    /// Noise XX message 1: `-> e`.
    XxInitiation,
    /// Noise XX message 2: `<- e, ee, s, es`.
    XxResponse,
    /// Noise XX message 3: `-> s, se`.
    XxFinish,
    /// A stateless cookie reply sent by a responder under load.
    CookieReply,
    /// An encrypted transport packet in the given key phase (0 or 1).
    Transport {
        /// The key phase bit (RFC 9001 §6-style key update).
        key_phase: bool,
    },
}

impl PacketType {
    /// The first byte of a datagram of this type: version in the high nibble, type in the low.
    pub const fn to_byte(self) -> u8 {
        let low = match self {
            PacketType::IkInitiation => 0x1,
            PacketType::IkResponse => 0x2,
            PacketType::XxInitiation => 0x3,
            PacketType::XxResponse => 0x4,
            PacketType::XxFinish => 0x5,
            PacketType::CookieReply => 0x6,
            PacketType::Transport { key_phase: false } => 0x8,
            PacketType::Transport { key_phase: true } => 0x9,
        };
        (VERSION << 4) | low
    }

    /// Decodes a datagram's first byte.
    pub const fn from_byte(byte: u8) -> Result<Self, DecodeError> {
        if byte >> 4 != VERSION {
            return Err(DecodeError::UnknownVersion(byte >> 4));
        }
        Ok(match byte & 0x0f {
            0x1 => PacketType::IkInitiation,
            0x2 => PacketType::IkResponse,
            0x3 => PacketType::XxInitiation,
            0x4 => PacketType::XxResponse,
            0x5 => PacketType::XxFinish,
            0x6 => PacketType::CookieReply,
            0x8 => PacketType::Transport { key_phase: false },
            0x9 => PacketType::Transport { key_phase: true },
            other => return Err(DecodeError::UnknownType(other)),
        })
    }
}

/// A 64-bit connection id, chosen at random by the side that *receives* packets carrying it.
///
/// Zero is reserved: it stands for "no id yet" in initiations and is never a connection's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

impl ConnectionId {
    /// The reserved "none" value carried as `receiver_id` in initiations.
    pub const NONE: ConnectionId = ConnectionId(0);

    /// Big-endian wire bytes.
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// Reads a connection id from 8 big-endian bytes.
    pub const fn from_bytes(bytes: [u8; 8]) -> Self {
        ConnectionId(u64::from_be_bytes(bytes))
    }
}

/// Why bytes from the network could not be decoded. Such datagrams are dropped and counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The datagram or segment ended before a field it must contain.
    #[error("truncated: needed {needed} bytes, had {had}")]
    Truncated {
        /// Bytes the layout requires.
        needed: usize,
        /// Bytes that were present.
        had: usize,
    },
    /// A fixed-size layout was followed by extra bytes.
    #[error("{0} trailing bytes after a fixed-size layout")]
    TrailingBytes(usize),
    /// The version nibble is not one this implementation speaks.
    #[error("unknown protocol version {0}")]
    UnknownVersion(u8),
    /// The type nibble names no packet type.
    #[error("unknown packet type {0:#x}")]
    UnknownType(u8),
    /// The first byte names a different packet type than the parser expected, or a segment
    /// is of a different kind (ACK, DATA, CLOSE) than the parser expected.
    #[error("unexpected packet or segment type")]
    WrongType,
    /// An initiation carried a non-zero receiver id, or another packet a zero id.
    #[error("invalid connection id for this packet type")]
    BadConnectionId,
    /// A segment's data offset points before its fixed header or past its end.
    #[error("bad data offset {0}")]
    BadDataOffset(u8),
    /// A segment's flags are a combination the protocol does not define.
    #[error("invalid flag combination {0:#04x}")]
    BadFlags(u8),
    /// An extension's length runs past the segment header, a known extension has the wrong
    /// length, or a known extension appears twice in one segment.
    #[error("malformed segment extension")]
    BadExtension,
    /// SACK ranges are empty, too many, unordered, overlapping or not above the cumulative ack.
    #[error("invalid SACK ranges")]
    BadSack,
    /// DSACK ranges are empty, more than four, or one spans 2^15 sequence numbers or more.
    #[error("invalid DSACK ranges")]
    BadDsack,
    /// An ACK_ECHO of the wrong length, or whose bits contradict its `top`.
    #[error("invalid ACK_ECHO")]
    BadEcho,
    /// Segments appear in an order or number the protocol forbids.
    #[error("invalid segment sequence")]
    BadSegmentOrder,
    /// A data segment carries neither payload nor FIN.
    #[error("empty data segment")]
    EmptyData,
    /// A handshake payload carries segments its message does not allow (e.g. an ACK in IK
    /// message 1, no ACK in IK message 2, or a first DATA segment whose seq is not the isn).
    #[error("segments not allowed in this handshake payload")]
    BadPayloadSegments,
    /// A handshake payload's ACK carries SACK or DSACK ranges, or a cumulative ack other than
    /// PROTOCOL.md §5.6 allows for its message (the ACK in IK message 2 acknowledges the early
    /// data or nothing; the ACK in XX message 3 nothing).
    #[error("invalid ACK in a handshake payload")]
    BadHandshakeAck,
    /// Emit only: a field's value or length does not fit the wire format (named field).
    #[error("{0} out of range for the wire format")]
    FieldOutOfRange(&'static str),
    /// The caller's output buffer is too small to emit into.
    #[error("buffer too small: need {needed} bytes, have {had}")]
    BufferTooSmall {
        /// Bytes required.
        needed: usize,
        /// Bytes available.
        had: usize,
    },
}

/// Checks that `buf` holds at least `needed` bytes.
pub(crate) const fn need(buf: &[u8], needed: usize) -> Result<(), DecodeError> {
    if buf.len() < needed { Err(DecodeError::Truncated { needed, had: buf.len() }) } else { Ok(()) }
}

/// Returns the first `len` bytes of an output buffer, or `BufferTooSmall`.
pub(crate) fn out(buf: &mut [u8], len: usize) -> Result<&mut [u8], DecodeError> {
    let had = buf.len();
    buf.get_mut(..len).ok_or(DecodeError::BufferTooSmall { needed: len, had })
}

/// Splits `N` bytes off the front of `bytes`, or reports how many were needed.
pub(crate) fn take<const N: usize>(bytes: &[u8]) -> Result<(&[u8; N], &[u8]), DecodeError> {
    bytes.split_first_chunk::<N>().ok_or(DecodeError::Truncated { needed: N, had: bytes.len() })
}

#[cfg(test)]
pub(crate) mod test_util {
    //! Helpers for the byte-vector tests of the wire modules.

    /// Lower-case hex of `bytes`, for readable byte-vector assertions.
    pub(crate) fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_type_bytes_round_trip() {
        for byte in 0..=255u8 {
            if let Ok(t) = PacketType::from_byte(byte) {
                assert_eq!(t.to_byte(), byte);
            }
        }
        assert_eq!(PacketType::IkInitiation.to_byte(), 0x11);
        assert_eq!(PacketType::Transport { key_phase: true }.to_byte(), 0x19);
        assert_eq!(PacketType::from_byte(0x21), Err(DecodeError::UnknownVersion(2)));
        assert_eq!(PacketType::from_byte(0x17), Err(DecodeError::UnknownType(7)));
    }
}
