//! Path validation's two ACK extensions (PROTOCOL.md §13.2): PATH_CHALLENGE asks the peer to
//! prove that it receives at the address the packet went to; PATH_RESPONSE, sent back on the
//! path the challenge arrived on, echoes its 8 bytes.
//!
//! ```text
//! PATH_CHALLENGE (type 0x06): | 0x06 | 0x08 | data (8 bytes) |
//! PATH_RESPONSE  (type 0x07): | 0x07 | 0x08 | data (8 bytes) |
//! ```
//!
//! They live beside [`AckRepr`](super::AckRepr) rather than inside it: [`PathFrames::parse`]
//! reads them from the ACK segment at the start of a transport plaintext (skipping every other
//! TLV, as `AckRepr` skips these), and [`PathFrames::append`] adds them after the extensions an
//! `AckRepr` already emitted, moving its data offset. On DATA and CLOSE segments and in
//! handshake payloads they are ignored, like every extension there.

use super::DecodeError;
use super::segment::{Segment, SegmentKind};

/// Extension type 0x06: a path challenge, 8 unpredictable bytes (ACK segments only).
pub const EXT_PATH_CHALLENGE: u8 = 0x06;
/// Extension type 0x07: a path response, the 8 bytes of the challenge it answers (ACK only).
pub const EXT_PATH_RESPONSE: u8 = 0x07;
/// Bytes of a PATH_CHALLENGE's or PATH_RESPONSE's value.
pub const PATH_DATA_LEN: usize = 8;
/// [`PATH_DATA_LEN`] as the TLV's length byte.
const DATA_LEN_BYTE: u8 = 8;
/// Bytes of one of the two TLVs on the wire.
pub const PATH_TLV_LEN: usize = 2 + PATH_DATA_LEN;

/// The path extensions of one ACK segment: at most one challenge and one response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PathFrames {
    /// PATH_CHALLENGE: the peer asks for this to be echoed on the path it came on.
    pub challenge: Option<[u8; PATH_DATA_LEN]>,
    /// PATH_RESPONSE: the peer echoes a challenge of ours.
    pub response: Option<[u8; PATH_DATA_LEN]>,
}

impl PathFrames {
    /// No path extension.
    pub const NONE: PathFrames = PathFrames { challenge: None, response: None };

    /// Whether there is neither a challenge nor a response.
    pub const fn is_empty(&self) -> bool {
        self.challenge.is_none() && self.response.is_none()
    }

    /// Bytes [`PathFrames::append`] adds.
    pub const fn wire_len(&self) -> usize {
        let c = if self.challenge.is_some() { PATH_TLV_LEN } else { 0 };
        let r = if self.response.is_some() { PATH_TLV_LEN } else { 0 };
        c + r
    }

    /// Reads the path extensions of the ACK segment that starts `plaintext`, if it starts with
    /// one (PROTOCOL.md §7.1: an ACK segment is always first). Nothing else of the plaintext is
    /// checked here (`Segments::parse` does that). PROTOCOL.md §13.2: a `len` other than 8, or
    /// a second extension of either type, makes the segment malformed.
    pub fn parse(plaintext: &[u8]) -> Result<Self, DecodeError> {
        if plaintext.is_empty() {
            return Ok(PathFrames::NONE);
        }
        let segment = Segment::new_checked(plaintext)?;
        if segment.kind() != SegmentKind::Ack {
            return Ok(PathFrames::NONE);
        }
        let mut out = PathFrames::NONE;
        for ext in segment.extensions() {
            let ext = ext?;
            let slot = match ext.kind {
                EXT_PATH_CHALLENGE => &mut out.challenge,
                EXT_PATH_RESPONSE => &mut out.response,
                _ => continue,
            };
            let data: [u8; PATH_DATA_LEN] = ext.value.try_into().map_err(|_| DecodeError::BadExtension)?;
            if slot.replace(data).is_some() {
                return Err(DecodeError::BadExtension);
            }
        }
        Ok(out)
    }

    /// Appends the extensions to the ACK segment of `len` bytes at the start of `buf` (as an
    /// `AckRepr` emitted it: its extensions end at its data offset, where nothing follows yet),
    /// and moves its data offset past them. Returns the segment's new length. Refused when the
    /// data offset would pass 255 or `buf` is too short; `buf` is then unchanged.
    pub fn append(&self, buf: &mut [u8], len: usize) -> Result<usize, DecodeError> {
        let total = len + self.wire_len();
        let data_offset = u8::try_from(total).map_err(|_| DecodeError::FieldOutOfRange("ACK data offset"))?;
        if buf.first().is_none_or(|&offset| usize::from(offset) != len) {
            return Err(DecodeError::WrongType);
        }
        let area = buf.get_mut(len..total).ok_or(DecodeError::Truncated { needed: total, had: len })?;
        let mut at = 0;
        for (kind, data) in [(EXT_PATH_CHALLENGE, self.challenge), (EXT_PATH_RESPONSE, self.response)] {
            let Some(data) = data else { continue };
            let Some(tlv) = area.get_mut(at..at + PATH_TLV_LEN) else { break };
            tlv[0] = kind;
            tlv[1] = DATA_LEN_BYTE;
            tlv[2..].copy_from_slice(&data);
            at += PATH_TLV_LEN;
        }
        buf[0] = data_offset;
        Ok(total)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wire::test_util::hex;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }
    use crate::wire::{AckEcho, AckRepr, DsackRanges, SackRanges, Segments, Seq};

    fn ack(ping: bool) -> AckRepr {
        AckRepr {
            cumulative: Seq(9),
            window: 0x400,
            ping,
            sack: SackRanges::EMPTY,
            ack_delay_us: None,
            dsack: DsackRanges::EMPTY,
            echo: Some(AckEcho { top: 0x1c, received: 0x0b }),
        }
    }

    /// PROTOCOL.md Appendix C.7: the two vectors, emitted and parsed back.
    #[test]
    fn vectors() {
        let data = *b"lrp2path";
        let cases = [
            (
                true,
                PathFrames { challenge: Some(data), response: None },
                "25 09 00000009 000400 0410 000000000000001c 000000000000000b 0608 6c72703270617468",
            ),
            (
                false,
                PathFrames { challenge: None, response: Some(data) },
                "25 01 00000009 000400 0410 000000000000001c 000000000000000b 0708 6c72703270617468",
            ),
        ];
        for (ping, frames, expected) in cases {
            let mut buf = [0xa5u8; 64];
            let n = ack(ping).emit(&mut buf).unwrap();
            let n = frames.append(&mut buf, n).unwrap();
            assert_eq!(hex(&buf[..n]), expected.split_whitespace().collect::<String>());
            assert_eq!(PathFrames::parse(&buf[..n]), Ok(frames));
            // The ACK itself still parses, the path extensions skipped like unknown ones.
            assert_eq!(Segments::parse(&buf[..n]).unwrap().ack, Some(ack(ping)));
        }
    }

    #[test]
    fn malformed_path_extensions() {
        let base = "25 09 00000009 000400 0410 000000000000001c 000000000000000b";
        for (bad, what) in [
            ("0607 6c727032706174", "challenge of 7 bytes"),
            ("0709 6c7270327061746800", "response of 9 bytes"),
            ("0608 6c72703270617468 0608 6c72703270617468", "two challenges"),
            ("0708 6c72703270617468 0708 6c72703270617468", "two responses"),
        ] {
            let mut bytes = unhex(&format!("{base} {bad}"));
            bytes[0] = u8::try_from(bytes.len()).unwrap();
            assert_eq!(PathFrames::parse(&bytes), Err(DecodeError::BadExtension), "{what}");
        }
        // On a DATA segment they are ignored.
        let data = unhex("10 00 0000000a 0608 6c72703270617468 6869");
        assert_eq!(PathFrames::parse(&data), Ok(PathFrames::NONE));
        assert_eq!(PathFrames::parse(&[]), Ok(PathFrames::NONE));
    }

    #[test]
    fn append_refuses_what_does_not_fit() {
        let frames = PathFrames { challenge: Some([1; 8]), response: Some([2; 8]) };
        let mut buf = [0u8; 300];
        buf[0] = 250;
        assert!(frames.append(&mut buf, 250).is_err());
        let mut short = [9u8, 1, 0, 0, 0, 9, 0, 4, 0, 0, 0];
        assert!(frames.append(&mut short, 9).is_err());
        assert_eq!(short[0], 9);
    }
}
