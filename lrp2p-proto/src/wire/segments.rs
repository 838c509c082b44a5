//! The segments of one plaintext: at most one ACK segment, first, then at most one DATA or CLOSE
//! segment, last (PROTOCOL §5).
//!
//! ```text
//! +-------------------------------+---------------------------------------------+
//! | ACK segment (optional)        | DATA or CLOSE segment (optional)            |
//! | 0 .. ack.data_offset          | ack.data_offset .. end of plaintext         |
//! +-------------------------------+---------------------------------------------+
//! e.g. ACK cum 9, window 0x400, SACK 11..=12, then DATA seq 10 "hi":
//! 13 01 00000009 000400 01 08 0000000b 0000000c | 06 00 0000000a 6869
//! ```
//!
//! A transport plaintext carries at least one segment ([`Segments::parse`]); a handshake payload
//! may carry none ([`Segments::parse_allow_empty`]).

use super::ack::AckRepr;
use super::segment::{CloseRepr, DataRepr, Segment, SegmentKind};
use super::{DecodeError, out};

/// The last segment of a plaintext: DATA or CLOSE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tail<'a> {
    /// Stream data.
    Data(DataRepr<'a>),
    /// Connection close.
    Close(CloseRepr<'a>),
}

impl<'a> Tail<'a> {
    /// Parses a DATA or CLOSE segment view (an ACK is out of place here).
    pub fn parse(segment: &Segment<&'a [u8]>) -> Result<Self, DecodeError> {
        match segment.kind() {
            SegmentKind::Data => DataRepr::parse(segment).map(Tail::Data),
            SegmentKind::Close => CloseRepr::parse(segment).map(Tail::Close),
            SegmentKind::Ack => Err(DecodeError::BadSegmentOrder),
        }
    }

    /// Bytes [`Tail::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        match self {
            Tail::Data(d) => d.buffer_len(),
            Tail::Close(c) => c.buffer_len(),
        }
    }

    /// Writes the segment at the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, DecodeError> {
        match self {
            Tail::Data(d) => d.emit(buf),
            Tail::Close(c) => c.emit(buf),
        }
    }
}

/// All segments of one plaintext.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segments<'a> {
    /// The ACK segment, if any (always first).
    pub ack: Option<AckRepr>,
    /// The DATA or CLOSE segment, if any (always last).
    pub tail: Option<Tail<'a>>,
}

impl<'a> Segments<'a> {
    /// No segments (only valid inside handshake payloads).
    pub const EMPTY: Segments<'static> = Segments { ack: None, tail: None };

    /// Parses a transport plaintext: at least one segment is required.
    pub fn parse(plaintext: &'a [u8]) -> Result<Self, DecodeError> {
        if plaintext.is_empty() {
            // PROTOCOL §5: a transport plaintext has at least one segment.
            return Err(DecodeError::BadSegmentOrder);
        }
        Self::parse_allow_empty(plaintext)
    }

    /// Parses the segments of a handshake payload, where zero segments are allowed.
    pub fn parse_allow_empty(plaintext: &'a [u8]) -> Result<Self, DecodeError> {
        if plaintext.is_empty() {
            return Ok(Segments::EMPTY);
        }
        let first = Segment::new_checked(plaintext)?;
        let (ack, rest) = match first.kind() {
            SegmentKind::Ack => (Some(AckRepr::parse(&first)?), first.rest()),
            SegmentKind::Data | SegmentKind::Close => (None, plaintext),
        };
        let tail = if rest.is_empty() {
            None
        } else {
            // A second ACK lands here and is rejected by Tail::parse.
            Some(Tail::parse(&Segment::new_checked(rest)?)?)
        };
        Ok(Segments { ack, tail })
    }

    /// Whether there is no segment at all.
    pub const fn is_empty(&self) -> bool {
        self.ack.is_none() && self.tail.is_none()
    }

    /// Bytes [`Segments::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        let ack = match &self.ack {
            Some(a) => a.buffer_len(),
            None => 0,
        };
        let tail = match &self.tail {
            Some(t) => t.buffer_len(),
            None => 0,
        };
        ack.saturating_add(tail)
    }

    /// Writes the segments at the start of `buf`; returns the length written (0 when empty).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, DecodeError> {
        let len = self.buffer_len();
        let buf = out(buf, len)?;
        let mut at = match &self.ack {
            Some(ack) => ack.emit(buf)?,
            None => 0,
        };
        if let Some(tail) = &self.tail {
            let rest = buf.get_mut(at..).unwrap_or_default();
            at = at.saturating_add(tail.emit(rest)?);
        }
        Ok(at)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wire::ack::SackRanges;
    use crate::wire::test_util::hex;
    use crate::wire::{Seq, close_code};

    fn example() -> Segments<'static> {
        Segments {
            ack: Some(AckRepr {
                cumulative: Seq(9),
                window: 0x400,
                ping: false,
                sack: SackRanges::new(Seq(9), &[(Seq(11), Seq(12))]).unwrap(),
                ack_delay_us: None,
                dsack: crate::wire::DsackRanges::EMPTY,
                echo: None,
            }),
            tail: Some(Tail::Data(DataRepr {
                seq: Seq(10),
                fin: false,
                rtx: false,
                ping: false,
                app_protocol: None,
                payload: b"hi",
            })),
        }
    }

    #[test]
    fn protocol_appendix_b_example_bytes() {
        let segs = example();
        let mut buf = [0xa5u8; 28];
        assert_eq!(segs.buffer_len(), 27);
        assert_eq!(segs.emit(&mut buf), Ok(27));
        let expected = concat!(
            "13", "01", "00000009", "000400", // ACK: data_offset 19, cum 9, window 0x400
            "01", "08", "0000000b", "0000000c", // SACK 11..=12
            "06", "00", "0000000a", "6869", // DATA seq 10 "hi"
            "a5",   // untouched
        );
        assert_eq!(hex(&buf), expected, "example plaintext = {}", hex(&buf[..27]));
        assert_eq!(Segments::parse(&buf[..27]), Ok(segs));
    }

    #[test]
    fn order_and_count() {
        let mut buf = [0u8; 64];
        // ACK alone, DATA alone, CLOSE alone.
        let ack_only = Segments { tail: None, ..example() };
        let n = ack_only.emit(&mut buf).unwrap();
        assert_eq!(Segments::parse(&buf[..n]), Ok(ack_only));
        let data_only = Segments { ack: None, ..example() };
        let n = data_only.emit(&mut buf).unwrap();
        assert_eq!(Segments::parse(&buf[..n]), Ok(data_only));
        let close = CloseRepr { seq: Seq(3), code: close_code::NO_ERROR, reason: b"" };
        let close_only = Segments { ack: None, tail: Some(Tail::Close(close)) };
        let n = close_only.emit(&mut buf).unwrap();
        assert_eq!(Segments::parse(&buf[..n]), Ok(close_only));
        // Empty: only where allowed.
        assert_eq!(Segments::parse(&[]), Err(DecodeError::BadSegmentOrder));
        assert_eq!(Segments::parse_allow_empty(&[]), Ok(Segments::EMPTY));
        assert_eq!(Segments::EMPTY.emit(&mut buf), Ok(0));
        // Two ACKs.
        let ack = ack_only.emit(&mut buf).unwrap();
        let n = ack_only.emit(&mut buf[ack..]).unwrap();
        assert_eq!(Segments::parse(&buf[..ack + n]), Err(DecodeError::BadSegmentOrder));
        // An ACK after DATA is just DATA payload; trailing bytes after an ACK that do not
        // form a segment are malformed.
        let n = ack_only.emit(&mut buf).unwrap();
        buf[n..n + 3].copy_from_slice(&[6, 0, 0]);
        assert!(matches!(Segments::parse(&buf[..n + 3]), Err(DecodeError::Truncated { .. })));
    }
}
