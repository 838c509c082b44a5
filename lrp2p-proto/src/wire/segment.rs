//! One segment: its flags, the zero-copy [`Segment`] view, and the DATA and CLOSE `Repr`s.
//! (The ACK segment's `Repr` lives in `ack.rs`, the sequence of segments in `segments.rs`.)
//!
//! ```text
//! 0             1         2                  6                        data_offset      end
//! +-------------+---------+------------------+------------------------+----------------+
//! | data_offset | flags   | seq u32          | extensions (TLV)       | payload        |
//! +-------------+---------+------------------+------------------------+----------------+
//!   DATA:  flags ⊆ FIN|RTX|PING; payload = data, >= 1 byte unless FIN; APP_PROTOCOL read,
//!          other extensions skipped
//!   CLOSE: flags == CLOSE; seq = next unused seq; payload = code u16 | reason (UTF-8)
//!   ACK:   see ack.rs (window u24 at 6..9, no payload, the segment ends at data_offset)
//!
//! flags: 0x01 ACK | 0x02 FIN | 0x04 RTX | 0x08 PING | 0x10 CLOSE | 0xe0 reserved (must be 0)
//! ```
//!
//! Allowed flag combinations (PROTOCOL §5; anything else is malformed):
//! ACK segment `ACK` or `ACK|PING`; DATA segment any subset of `FIN|RTX|PING`;
//! CLOSE segment exactly `CLOSE`.

use core::ops::BitOr;

use super::ext::{EXT_APP_PROTOCOL, Extensions, check_all};
use super::{DecodeError, Seq, need, out, take};
use crate::app_protocol::AppProtocol;

/// Length of the fixed segment header: `data_offset u8 | flags u8 | seq u32`.
pub const SEGMENT_HEADER_LEN: usize = 6;
/// Length of the ACK segment's fixed part: the segment header plus `window u24`.
pub const ACK_HEADER_LEN: usize = 9;

/// Close codes carried by a CLOSE segment (`u16`).
pub mod close_code {
    /// Orderly close.
    pub const NO_ERROR: u16 = 0;
    /// The peer broke the protocol.
    pub const PROTOCOL_VIOLATION: u16 = 1;
    /// The sender hit an internal error.
    pub const INTERNAL_ERROR: u16 = 2;
    /// The responder refuses the connection (IK message 2).
    pub const REFUSED: u16 = 3;
    /// The peer sent beyond the advertised window.
    pub const FLOW_CONTROL_ERROR: u16 = 4;
    /// Idle timeout (normally not sent on the wire).
    pub const IDLE_TIMEOUT: u16 = 5;
    /// First application-defined code; `0x8000..=0xFFFF` belong to the application.
    pub const APPLICATION_MIN: u16 = 0x8000;
}

/// The flags byte of a segment. Any byte can be held; [`SegmentKind::from_flags`] validates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SegmentFlags(u8);

impl SegmentFlags {
    /// No flag set (a plain DATA segment).
    pub const EMPTY: SegmentFlags = SegmentFlags(0);
    /// `0x01`: this is an ACK segment.
    pub const ACK: SegmentFlags = SegmentFlags(0x01);
    /// `0x02`: DATA only, last segment of the sender's stream.
    pub const FIN: SegmentFlags = SegmentFlags(0x02);
    /// `0x04`: DATA only, a retransmission (never an RTT sample).
    pub const RTX: SegmentFlags = SegmentFlags(0x04);
    /// `0x08`: ACK or DATA, the receiver must answer with an ACK without delay.
    pub const PING: SegmentFlags = SegmentFlags(0x08);
    /// `0x10`: this is a CLOSE segment (alone).
    pub const CLOSE: SegmentFlags = SegmentFlags(0x10);
    /// `0xe0`: reserved bits; a set reserved bit is malformed.
    pub const RESERVED: SegmentFlags = SegmentFlags(0xe0);

    /// Wraps a raw flags byte (not validated).
    pub const fn from_bits(bits: u8) -> Self {
        SegmentFlags(bits)
    }

    /// The raw flags byte.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: SegmentFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any bit of `other` is set in `self`.
    pub const fn intersects(self, other: SegmentFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// `self` with the bits of `other` added when `on` is true.
    #[must_use]
    pub const fn with(self, other: SegmentFlags, on: bool) -> Self {
        if on { SegmentFlags(self.0 | other.0) } else { self }
    }
}

impl BitOr for SegmentFlags {
    type Output = SegmentFlags;

    fn bitor(self, rhs: SegmentFlags) -> SegmentFlags {
        SegmentFlags(self.0 | rhs.0)
    }
}

/// The three kinds of segment, told apart by their flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SegmentKind {
    /// Cumulative ack, window and extensions; no payload.
    Ack,
    /// Stream data; consumes one sequence number.
    Data,
    /// Connection close with a code and reason.
    Close,
}

impl SegmentKind {
    /// Classifies a flags byte, rejecting reserved bits and combinations outside PROTOCOL §5.
    pub const fn from_flags(flags: SegmentFlags) -> Result<SegmentKind, DecodeError> {
        let f = SegmentFlags::ACK.0 | SegmentFlags::PING.0;
        let d = SegmentFlags::FIN.0 | SegmentFlags::RTX.0 | SegmentFlags::PING.0;
        let kind = if flags.intersects(SegmentFlags::RESERVED) {
            None
        } else if flags.contains(SegmentFlags::ACK) {
            // ACK combines with PING only (ACK|FIN, ACK|CLOSE, ... are malformed).
            if flags.0 & !f == 0 { Some(SegmentKind::Ack) } else { None }
        } else if flags.contains(SegmentFlags::CLOSE) {
            // CLOSE stands alone (CLOSE|PING is malformed).
            if flags.0 == SegmentFlags::CLOSE.0 { Some(SegmentKind::Close) } else { None }
        } else if flags.0 & !d == 0 {
            Some(SegmentKind::Data)
        } else {
            None
        };
        match kind {
            Some(kind) => Ok(kind),
            None => Err(DecodeError::BadFlags(flags.0)),
        }
    }

    /// Length of this kind's fixed part (where extensions may begin).
    pub const fn fixed_len(self) -> usize {
        match self {
            SegmentKind::Ack => ACK_HEADER_LEN,
            SegmentKind::Data | SegmentKind::Close => SEGMENT_HEADER_LEN,
        }
    }
}

/// A zero-copy view of the segment at the start of `buffer`.
///
/// `buffer` is the rest of the plaintext: a DATA or CLOSE segment extends to its end, an ACK
/// segment ends at its data offset (see [`Segment::segment_len`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<T: AsRef<[u8]>> {
    buffer: T,
    kind: SegmentKind,
}

impl<T: AsRef<[u8]>> Segment<T> {
    /// Validates the fixed header, the flags and the data offset of the segment at the start of
    /// `buffer`. Extensions are checked by the `Repr`s (see [`Segment::extensions`]).
    pub fn new_checked(buffer: T) -> Result<Self, DecodeError> {
        let bytes = buffer.as_ref();
        need(bytes, SEGMENT_HEADER_LEN)?;
        let (data_offset, flags) = (bytes[0], bytes[1]);
        let kind = SegmentKind::from_flags(SegmentFlags(flags))?;
        // PROTOCOL §5: data_offset < fixed length or > remaining length is malformed.
        let off = usize::from(data_offset);
        if off < kind.fixed_len() || off > bytes.len() {
            return Err(DecodeError::BadDataOffset(data_offset));
        }
        Ok(Segment { buffer, kind })
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// What kind of segment this is.
    pub const fn kind(&self) -> SegmentKind {
        self.kind
    }

    /// The data offset: where extensions end (and, for DATA and CLOSE, the payload begins).
    pub fn data_offset(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// The flags byte (already validated).
    pub fn flags(&self) -> SegmentFlags {
        SegmentFlags(self.buffer.as_ref()[1])
    }

    /// The sequence number: cumulative ack (ACK), segment seq (DATA), next unused seq (CLOSE).
    pub fn seq(&self) -> Seq {
        let b = self.buffer.as_ref();
        Seq(u32::from_be_bytes([b[2], b[3], b[4], b[5]]))
    }

    /// The receive window of an ACK segment (`u24`), `None` for other kinds.
    pub fn window(&self) -> Option<u32> {
        let b = self.buffer.as_ref();
        // new_checked: an ACK's data_offset >= 9 and <= len, so bytes 6..9 exist.
        (self.kind == SegmentKind::Ack).then(|| u32::from_be_bytes([0, b[6], b[7], b[8]]))
    }

    /// Length of this segment within the buffer: the data offset for ACK, everything otherwise.
    pub fn segment_len(&self) -> usize {
        match self.kind {
            SegmentKind::Ack => usize::from(self.data_offset()),
            SegmentKind::Data | SegmentKind::Close => self.buffer.as_ref().len(),
        }
    }
}

impl<'a> Segment<&'a [u8]> {
    /// The extension TLVs between the fixed part and the data offset.
    pub fn extensions(&self) -> Extensions<'a> {
        let area =
            self.buffer.get(self.kind.fixed_len()..usize::from(self.data_offset())).unwrap_or_default();
        Extensions::new(area)
    }

    /// The payload of a DATA or CLOSE segment (empty for ACK).
    pub fn payload(&self) -> &'a [u8] {
        match self.kind {
            SegmentKind::Ack => &[],
            _ => self.buffer.get(usize::from(self.data_offset())..).unwrap_or_default(),
        }
    }

    /// The bytes after this segment (empty unless this is an ACK segment).
    pub fn rest(&self) -> &'a [u8] {
        self.buffer.get(self.segment_len()..).unwrap_or_default()
    }
}

/// Writes a 6-byte segment header with `data_offset = 6` (no extensions).
fn emit_header(buf: &mut [u8], flags: SegmentFlags, seq: Seq) -> Result<(), DecodeError> {
    let header = out(buf, SEGMENT_HEADER_LEN)?;
    header[0] = 6;
    header[1] = flags.bits();
    header[2..6].copy_from_slice(&seq.0.to_be_bytes());
    Ok(())
}

/// Bytes the APP_PROTOCOL extension of `id` takes in a DATA segment (type, len, value).
pub const fn app_protocol_ext_len(id: Option<&AppProtocol>) -> usize {
    match id {
        Some(id) => 2 + id.byte_len(),
        None => 0,
    }
}

/// A DATA segment: one sequence number's worth of stream data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DataRepr<'a> {
    /// The segment's sequence number.
    pub seq: Seq,
    /// Last segment of the sender's stream.
    pub fin: bool,
    /// A retransmission (informational; never an RTT sample).
    pub rtx: bool,
    /// The receiver must ACK without delay.
    pub ping: bool,
    /// The APP_PROTOCOL extension (PROTOCOL.md §7.7): the initiator's application protocol id,
    /// sent on its first DATA segment only.
    pub app_protocol: Option<AppProtocol>,
    /// The data; at least one byte unless `fin`.
    pub payload: &'a [u8],
}

impl<'a> DataRepr<'a> {
    /// Parses a DATA segment view: APP_PROTOCOL is read (PROTOCOL.md §7.7: 1 to 32 bytes, at
    /// most once, else malformed); other extensions are checked for overruns, then skipped.
    pub fn parse(segment: &Segment<&'a [u8]>) -> Result<Self, DecodeError> {
        if segment.kind() != SegmentKind::Data {
            return Err(DecodeError::WrongType);
        }
        let mut app_protocol = None;
        for ext in segment.extensions() {
            let ext = ext?;
            if ext.kind == EXT_APP_PROTOCOL {
                if app_protocol.is_some() {
                    return Err(DecodeError::BadExtension);
                }
                app_protocol = Some(AppProtocol::new(ext.value).map_err(|_| DecodeError::BadExtension)?);
            }
        }
        let flags = segment.flags();
        let repr = DataRepr {
            seq: segment.seq(),
            fin: flags.contains(SegmentFlags::FIN),
            rtx: flags.contains(SegmentFlags::RTX),
            ping: flags.contains(SegmentFlags::PING),
            app_protocol,
            payload: segment.payload(),
        };
        repr.check()?;
        Ok(repr)
    }

    /// PROTOCOL §5: a DATA segment carries >= 1 payload byte or FIN.
    fn check(&self) -> Result<(), DecodeError> {
        if self.payload.is_empty() && !self.fin {
            return Err(DecodeError::EmptyData);
        }
        Ok(())
    }

    /// The flags byte this segment is emitted with.
    pub const fn flags(&self) -> SegmentFlags {
        SegmentFlags::EMPTY
            .with(SegmentFlags::FIN, self.fin)
            .with(SegmentFlags::RTX, self.rtx)
            .with(SegmentFlags::PING, self.ping)
    }

    /// Bytes of the header with its extensions: where the payload starts.
    pub const fn header_len(&self) -> usize {
        SEGMENT_HEADER_LEN + app_protocol_ext_len(self.app_protocol.as_ref())
    }

    /// Bytes [`DataRepr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        self.header_len().saturating_add(self.payload.len())
    }

    /// Writes the header of this segment (with its extensions), but for a payload of
    /// `payload_len` bytes (not `self.payload`), at the start of `buf`; returns the segment's
    /// length. The caller writes the payload at [`header_len`](Self::header_len)`..` that
    /// length: framing straight from a send buffer.
    pub fn emit_header(&self, payload_len: usize, buf: &mut [u8]) -> Result<usize, DecodeError> {
        if payload_len == 0 && !self.fin {
            return Err(DecodeError::EmptyData);
        }
        let header_len = self.header_len();
        let len = header_len.saturating_add(payload_len);
        let buf = out(buf, len)?;
        emit_header(buf, self.flags(), self.seq)?;
        if let Some(id) = &self.app_protocol {
            let value = id.as_bytes();
            // header_len <= 6 + 2 + 32: both fit their byte.
            buf[0] = u8::try_from(header_len).map_err(|_| DecodeError::BadExtension)?;
            buf[SEGMENT_HEADER_LEN] = EXT_APP_PROTOCOL;
            buf[SEGMENT_HEADER_LEN + 1] = u8::try_from(value.len()).map_err(|_| DecodeError::BadExtension)?;
            buf[SEGMENT_HEADER_LEN + 2..header_len].copy_from_slice(value);
        }
        Ok(len)
    }

    /// Writes the segment at the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, DecodeError> {
        self.check()?;
        let len = self.emit_header(self.payload.len(), buf)?;
        buf[self.header_len()..len].copy_from_slice(self.payload);
        Ok(len)
    }
}

/// A CLOSE segment: the sender closes the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CloseRepr<'a> {
    /// The sender's next unused sequence number (informational).
    pub seq: Seq,
    /// Why (see [`close_code`]).
    pub code: u16,
    /// A human-readable reason, UTF-8 by convention (not validated here; see
    /// [`CloseRepr::reason_str`]).
    pub reason: &'a [u8],
}

impl<'a> CloseRepr<'a> {
    /// Parses a CLOSE segment view (extensions are checked for overruns, then skipped).
    pub fn parse(segment: &Segment<&'a [u8]>) -> Result<Self, DecodeError> {
        if segment.kind() != SegmentKind::Close {
            return Err(DecodeError::WrongType);
        }
        check_all(segment.extensions())?;
        let (code, reason) = take::<2>(segment.payload())?;
        Ok(CloseRepr { seq: segment.seq(), code: u16::from_be_bytes(*code), reason })
    }

    /// The reason as text, if it is valid UTF-8.
    pub const fn reason_str(&self) -> Result<&'a str, core::str::Utf8Error> {
        core::str::from_utf8(self.reason)
    }

    /// Bytes [`CloseRepr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        (SEGMENT_HEADER_LEN + 2).saturating_add(self.reason.len())
    }

    /// Writes the segment (no extensions) at the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, DecodeError> {
        let len = self.buffer_len();
        let buf = out(buf, len)?;
        emit_header(buf, SegmentFlags::CLOSE, self.seq)?;
        buf[SEGMENT_HEADER_LEN..SEGMENT_HEADER_LEN + 2].copy_from_slice(&self.code.to_be_bytes());
        buf[SEGMENT_HEADER_LEN + 2..].copy_from_slice(self.reason);
        Ok(len)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wire::test_util::hex;

    fn seg(bytes: &[u8]) -> Segment<&[u8]> {
        Segment::new_checked(bytes).unwrap()
    }

    #[test]
    fn flag_combinations() {
        use SegmentKind::*;
        for bits in 0..=255u8 {
            let expected = match bits {
                0x01 | 0x09 => Some(Ack),
                0x10 => Some(Close),
                b if b & !0x0e == 0 => Some(Data),
                _ => None,
            };
            let got = SegmentKind::from_flags(SegmentFlags::from_bits(bits)).ok();
            assert_eq!(got, expected, "flags {bits:#04x}");
        }
        assert_eq!(
            SegmentKind::from_flags(SegmentFlags::ACK | SegmentFlags::FIN),
            Err(DecodeError::BadFlags(0x03))
        );
        assert!(SegmentKind::from_flags(SegmentFlags::CLOSE | SegmentFlags::PING).is_err());
        assert!(SegmentKind::from_flags(SegmentFlags::from_bits(0x20)).is_err());
    }

    #[test]
    fn data_bytes() {
        let d = DataRepr {
            seq: Seq(0x0102_0304),
            fin: true,
            rtx: true,
            ping: false,
            app_protocol: None,
            payload: b"ab",
        };
        let mut buf = [0xa5u8; 10];
        assert_eq!(d.emit(&mut buf), Ok(8));
        assert_eq!(hex(&buf), "0606010203046162a5a5");
        assert_eq!(DataRepr::parse(&seg(&buf[..8])), Ok(d));
        let empty = DataRepr { fin: false, payload: b"", ..d };
        assert_eq!(empty.emit(&mut buf), Err(DecodeError::EmptyData));
        let fin_only = DataRepr { payload: b"", ..d };
        assert_eq!(fin_only.emit(&mut buf), Ok(6));
        assert_eq!(DataRepr::parse(&seg(&buf[..6])), Ok(fin_only));
        assert_eq!(d.emit(&mut buf[..7]), Err(DecodeError::BufferTooSmall { needed: 8, had: 7 }));
        let no_fin = [6, 0x08, 0, 0, 0, 1];
        assert_eq!(DataRepr::parse(&seg(&no_fin)), Err(DecodeError::EmptyData));
    }

    #[test]
    fn data_header_then_payload_in_place() {
        let d = DataRepr {
            seq: Seq(0x0102_0304),
            fin: true,
            rtx: true,
            ping: false,
            app_protocol: None,
            payload: b"ab",
        };
        let mut buf = [0xa5u8; 10];
        let header = DataRepr { payload: b"", ..d };
        assert_eq!(header.emit_header(2, &mut buf), Ok(8));
        buf[SEGMENT_HEADER_LEN..8].copy_from_slice(b"ab");
        let mut reference = [0xa5u8; 10];
        assert_eq!(d.emit(&mut reference), Ok(8));
        assert_eq!(buf, reference);
        assert_eq!(
            header.emit_header(2, &mut buf[..7]),
            Err(DecodeError::BufferTooSmall { needed: 8, had: 7 })
        );
        let no_fin = DataRepr { fin: false, ..header };
        assert_eq!(no_fin.emit_header(0, &mut buf), Err(DecodeError::EmptyData));
        assert_eq!(header.emit_header(0, &mut buf), Ok(6));
    }

    #[test]
    fn data_skips_extensions_but_rejects_overrun() {
        // data_offset 12: an unknown TLV, then an (invalid, empty) SACK TLV: both skipped.
        let ok = [12, 0x00, 0, 0, 0, 7, 0x7f, 2, 0xee, 0xee, 0x01, 0x00, b'x'];
        let d = DataRepr::parse(&seg(&ok)).unwrap();
        assert_eq!((d.seq, d.payload), (Seq(7), &b"x"[..]));
        let bad = [9, 0x00, 0, 0, 0, 7, 0x01, 8, 0, b'x'];
        assert_eq!(DataRepr::parse(&seg(&bad)), Err(DecodeError::BadExtension));
        assert_eq!(CloseRepr::parse(&seg(&bad)), Err(DecodeError::WrongType));
    }

    #[test]
    fn data_app_protocol() {
        // PROTOCOL.md Appendix C.6: DATA seq 100 "hi" with APP_PROTOCOL "lrp2p-perf".
        let id = AppProtocol::new(b"lrp2p-perf").unwrap();
        let d = DataRepr {
            seq: Seq(100),
            fin: false,
            rtx: false,
            ping: false,
            app_protocol: Some(id),
            payload: b"hi",
        };
        let mut buf = [0xa5u8; 21];
        assert_eq!(d.buffer_len(), 20);
        assert_eq!(d.emit(&mut buf), Ok(20));
        assert_eq!(hex(&buf), "12000000006405 0a6c72703270 2d70657266 6869a5".replace(' ', ""));
        assert_eq!(DataRepr::parse(&seg(&buf[..20])), Ok(d));
        // Header first, then the payload in place, as the connection frames it.
        let mut framed = [0xa5u8; 21];
        let header = DataRepr { payload: b"", ..d };
        assert_eq!(header.emit_header(2, &mut framed), Ok(20));
        framed[header.header_len()..20].copy_from_slice(b"hi");
        assert_eq!(framed, buf);
        // Beside other TLVs, in any order.
        let mixed = [14, 0, 0, 0, 0, 1, 0x7f, 0, 0x05, 1, b'x', 0x00, 1, 0, b'd'];
        let parsed = DataRepr::parse(&seg(&mixed)).unwrap();
        assert_eq!(parsed.app_protocol, Some(AppProtocol::new(b"x").unwrap()));
        // Empty, too long, twice: malformed.
        let empty = [8, 0, 0, 0, 0, 1, 0x05, 0, b'd'];
        assert_eq!(DataRepr::parse(&seg(&empty)), Err(DecodeError::BadExtension));
        let mut long = vec![6 + 2 + 33, 0, 0, 0, 0, 1, 0x05, 33];
        long.extend_from_slice(&[b'a'; 33]);
        long.push(b'd');
        assert_eq!(DataRepr::parse(&seg(&long)), Err(DecodeError::BadExtension));
        let twice = [12, 0, 0, 0, 0, 1, 0x05, 1, b'x', 0x05, 1, b'y', b'd'];
        assert_eq!(DataRepr::parse(&seg(&twice)), Err(DecodeError::BadExtension));
        // On a CLOSE segment it is skipped like any unknown type.
        let close = [9, 0x10, 0, 0, 0, 1, 0x05, 1, b'x', 0, 0];
        assert_eq!(CloseRepr::parse(&seg(&close)).map(|c| c.code), Ok(0));
        // Not a substitute for payload or FIN.
        let bare = [9, 0, 0, 0, 0, 1, 0x05, 1, b'x'];
        assert_eq!(DataRepr::parse(&seg(&bare)), Err(DecodeError::EmptyData));
    }

    #[test]
    fn close_bytes() {
        let c = CloseRepr { seq: Seq(5), code: close_code::REFUSED, reason: b"no" };
        let mut buf = [0xa5u8; 11];
        assert_eq!(c.emit(&mut buf), Ok(10));
        assert_eq!(hex(&buf), "06100000000500036e6fa5");
        assert_eq!(CloseRepr::parse(&seg(&buf[..10])), Ok(c));
        assert_eq!(c.reason_str(), Ok("no"));
        // A CLOSE without its code is truncated.
        let short = [6, 0x10, 0, 0, 0, 5, 0];
        assert!(matches!(CloseRepr::parse(&seg(&short)), Err(DecodeError::Truncated { .. })));
    }

    #[test]
    fn data_offset_bounds() {
        // ACK with data_offset 8 (< 9), DATA with data_offset past the end or before 6.
        let ack = [8, 0x01, 0, 0, 0, 1, 0, 0, 1, 0];
        assert_eq!(Segment::new_checked(&ack[..]).err(), Some(DecodeError::BadDataOffset(8)));
        let data = [7, 0x00, 0, 0, 0, 1];
        assert_eq!(Segment::new_checked(&data[..]).err(), Some(DecodeError::BadDataOffset(7)));
        let data = [5, 0x00, 0, 0, 0, 1, 1];
        assert_eq!(Segment::new_checked(&data[..]).err(), Some(DecodeError::BadDataOffset(5)));
        assert_eq!(
            Segment::new_checked(&[6u8, 0, 0][..]).err(),
            Some(DecodeError::Truncated { needed: 6, had: 3 })
        );
    }
}
