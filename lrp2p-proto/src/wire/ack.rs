//! The ACK segment: cumulative ack, receive window, and its SACK, DSACK and ACK_DELAY
//! extensions.
//!
//! ```text
//! 0             1          2                 6              9                     data_offset
//! +-------------+----------+-----------------+--------------+---------------------+
//! | data_offset | ACK[|PING] | cumulative u32 | window u24   | extensions (TLV)    |
//! +-------------+----------+-----------------+--------------+---------------------+
//!   no payload: the next segment (DATA or CLOSE) starts at data_offset.
//!
//! SACK (type 0x01), len = 8·k, k in 1..=30:
//! +------+-------+----------------+--------------+-----+--------------+------------+
//! | 0x01 | 8·k   | start_1 u32    | end_1 u32    | ... | start_k u32  | end_k u32  |
//! +------+-------+----------------+--------------+-----+--------------+------------+
//! ACK_DELAY (type 0x02): | 0x02 | 4 | delay_us u32 |
//! DSACK (type 0x03): see `dsack.rs`. ACK_ECHO (type 0x04): see `echo.rs`.
//! ```
//!
//! SACK ranges are inclusive, each above the cumulative ack (RFC 1982 serial arithmetic),
//! ascending, non-overlapping and non-adjacent. `emit` writes SACK, DSACK, then ACK_DELAY.
//! Since `data_offset` is one byte the extensions share [`ACK_EXTENSION_BUDGET`] bytes
//! (PROTOCOL.md §7.7's budget): [`AckRepr::sack_room`] says how many SACK ranges fit beside the
//! others, and `emit` refuses an ACK that does not fit.

use super::dsack::DsackRanges;
use super::echo::{AckEcho, ECHO_TLV_LEN, ECHO_VALUE_LEN};
use super::ext::{EXT_ACK_DELAY, EXT_ACK_ECHO, EXT_DSACK, EXT_SACK};
use super::segment::{ACK_HEADER_LEN, Segment, SegmentFlags, SegmentKind};
use super::{DecodeError, Seq, out};

/// Most SACK ranges one ACK segment can carry (PROTOCOL §5).
pub const MAX_SACK_RANGES: usize = 30;
/// Largest receive window an ACK can advertise (`u24`).
pub const MAX_WINDOW: u32 = 0xFF_FFFF;

/// Bytes the extensions of one ACK segment may take: `data_offset` (a `u8`) minus the fixed
/// header (PROTOCOL.md §7.7).
pub const ACK_EXTENSION_BUDGET: usize = u8::MAX as usize - ACK_HEADER_LEN;

/// Bytes of one SACK range on the wire.
const RANGE_LEN: usize = 8;
/// Bytes of the ACK_DELAY TLV.
const ACK_DELAY_TLV_LEN: usize = 6;

/// Up to [`MAX_SACK_RANGES`] inclusive `(start, end)` ranges received above the cumulative ack.
///
/// Stored inline (no heap). Every constructor validates against a cumulative ack: each range has
/// `cumulative < start <= end` in serial arithmetic (all within 2^31 above the cumulative ack),
/// and ranges are ascending with at least one missing number between neighbours.
#[derive(Clone, Copy)]
pub struct SackRanges {
    ranges: [(Seq, Seq); MAX_SACK_RANGES],
    len: usize,
}

impl SackRanges {
    /// No ranges (the ACK carries no SACK extension).
    pub const EMPTY: SackRanges = SackRanges { ranges: [(Seq(0), Seq(0)); MAX_SACK_RANGES], len: 0 };

    /// Validates `ranges` against `cumulative` and copies them.
    pub fn new(cumulative: Seq, ranges: &[(Seq, Seq)]) -> Result<Self, DecodeError> {
        let mut out = SackRanges::EMPTY;
        for &(start, end) in ranges {
            out.push(cumulative, start, end)?;
        }
        Ok(out)
    }

    /// Appends `start..=end` after the last range, validating it against `cumulative`.
    pub fn push(&mut self, cumulative: Seq, start: Seq, end: Seq) -> Result<(), DecodeError> {
        // Offsets above the cumulative ack turn serial order into integer order.
        let s = start.distance_from(cumulative);
        let e = end.distance_from(cumulative);
        let above_cumulative = s >= 1 && s <= e && e < 0x8000_0000;
        let after_last = match self.as_slice().last() {
            // Non-adjacent: at least one missing sequence number between ranges.
            Some(&(_, last_end)) => {
                last_end.distance_from(cumulative).checked_add(2).is_some_and(|min| s >= min)
            }
            None => true,
        };
        let slot = self.ranges.get_mut(self.len);
        match slot {
            Some(slot) if above_cumulative && after_last => {
                *slot = (start, end);
                self.len += 1;
                Ok(())
            }
            _ => Err(DecodeError::BadSack),
        }
    }

    /// Checks these ranges against `cumulative` (they may have been built for another one).
    pub fn validate(&self, cumulative: Seq) -> Result<(), DecodeError> {
        SackRanges::new(cumulative, self.as_slice()).map(|_| ())
    }

    /// The ranges, ascending.
    pub fn as_slice(&self) -> &[(Seq, Seq)] {
        self.ranges.get(..self.len).unwrap_or_default()
    }

    /// Number of ranges.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Keeps the first `n` ranges (those nearest the cumulative ack, as receivers order them).
    pub fn truncate(&mut self, n: usize) {
        self.len = self.len.min(n);
    }

    /// Whether there are no ranges.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Decodes a SACK TLV value: `start u32 | end u32`, 1..=30 times.
    fn decode(cumulative: Seq, value: &[u8]) -> Result<Self, DecodeError> {
        if value.is_empty() || value.len() % RANGE_LEN != 0 {
            return Err(DecodeError::BadSack);
        }
        let mut out = SackRanges::EMPTY;
        for chunk in value.chunks_exact(RANGE_LEN) {
            let Ok(&[s0, s1, s2, s3, e0, e1, e2, e3]) = <&[u8; RANGE_LEN]>::try_from(chunk) else {
                return Err(DecodeError::BadSack);
            };
            let start = Seq(u32::from_be_bytes([s0, s1, s2, s3]));
            let end = Seq(u32::from_be_bytes([e0, e1, e2, e3]));
            out.push(cumulative, start, end)?;
        }
        Ok(out)
    }

    /// Bytes of the SACK TLV (0 when empty).
    const fn wire_len(&self) -> usize {
        if self.len == 0 { 0 } else { 2 + RANGE_LEN * self.len }
    }
}

impl Default for SackRanges {
    fn default() -> Self {
        SackRanges::EMPTY
    }
}

impl PartialEq for SackRanges {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SackRanges {}

impl core::fmt::Debug for SackRanges {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.as_slice().iter().map(|(s, e)| s.0..=e.0)).finish()
    }
}

/// An ACK segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckRepr {
    /// Last in-order sequence number received (`peer_isn - 1` when nothing was).
    pub cumulative: Seq,
    /// Receive window in packets beyond `cumulative` (`u24`; emit rejects > [`MAX_WINDOW`]).
    pub window: u32,
    /// The receiver must answer with an ACK without delay.
    pub ping: bool,
    /// Selective ranges above `cumulative` (empty: no SACK extension).
    pub sack: SackRanges,
    /// ACK_DELAY extension: microseconds this ACK was held.
    pub ack_delay_us: Option<u32>,
    /// DSACK extension: sequence numbers received more than once (empty: none).
    pub dsack: DsackRanges,
    /// ACK_ECHO extension: the packet counters received.
    pub echo: Option<AckEcho>,
}

impl AckRepr {
    /// Parses an ACK segment view: SACK and ACK_DELAY are decoded (each at most once), PADDING
    /// and unknown extensions skipped.
    pub fn parse(segment: &Segment<&[u8]>) -> Result<Self, DecodeError> {
        let Some(window) = segment.window() else {
            return Err(DecodeError::WrongType);
        };
        let cumulative = segment.seq();
        let mut sack = None;
        let mut ack_delay_us = None;
        let mut dsack = None;
        let mut echo = None;
        for ext in segment.extensions() {
            let ext = ext?;
            match ext.kind {
                EXT_SACK if sack.is_none() => sack = Some(SackRanges::decode(cumulative, ext.value)?),
                EXT_ACK_DELAY if ack_delay_us.is_none() => {
                    let bytes: [u8; 4] = ext.value.try_into().map_err(|_| DecodeError::BadExtension)?;
                    ack_delay_us = Some(u32::from_be_bytes(bytes));
                }
                EXT_DSACK if dsack.is_none() => dsack = Some(DsackRanges::decode(ext.value)?),
                EXT_ACK_ECHO if echo.is_none() => echo = Some(AckEcho::decode(ext.value)?),
                // A repeated SACK, ACK_DELAY, DSACK or ACK_ECHO is ambiguous: malformed.
                EXT_SACK | EXT_ACK_DELAY | EXT_DSACK | EXT_ACK_ECHO => {
                    return Err(DecodeError::BadExtension);
                }
                _ => {} // PADDING and unknown types are skipped.
            }
        }
        Ok(AckRepr {
            cumulative,
            window,
            ping: segment.flags().contains(SegmentFlags::PING),
            sack: sack.unwrap_or_default(),
            ack_delay_us,
            dsack: dsack.unwrap_or_default(),
            echo,
        })
    }

    /// How many SACK ranges fit beside an ACK_DELAY (if `ack_delay`), `dsack` and an
    /// ACK_ECHO (if `echo`) within [`ACK_EXTENSION_BUDGET`] (PROTOCOL.md §7.7): at most
    /// [`MAX_SACK_RANGES`].
    pub const fn sack_room(ack_delay: bool, dsack: &DsackRanges, echo: bool) -> usize {
        let delay = if ack_delay { ACK_DELAY_TLV_LEN } else { 0 };
        let echo = if echo { ECHO_TLV_LEN } else { 0 };
        let left = ACK_EXTENSION_BUDGET.saturating_sub(delay + dsack.wire_len() + echo + 2);
        let fit = left / RANGE_LEN;
        if fit < MAX_SACK_RANGES { fit } else { MAX_SACK_RANGES }
    }

    /// Bytes [`AckRepr::emit`] writes (the data offset).
    pub const fn buffer_len(&self) -> usize {
        let delay = if self.ack_delay_us.is_some() { ACK_DELAY_TLV_LEN } else { 0 };
        let echo = if self.echo.is_some() { ECHO_TLV_LEN } else { 0 };
        ACK_HEADER_LEN + self.sack.wire_len() + self.dsack.wire_len() + echo + delay
    }

    /// Writes the segment at the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, DecodeError> {
        if self.window > MAX_WINDOW {
            return Err(DecodeError::FieldOutOfRange("ACK window"));
        }
        self.sack.validate(self.cumulative)?;
        let len = self.buffer_len();
        let data_offset = u8::try_from(len).map_err(|_| DecodeError::FieldOutOfRange("ACK data offset"))?;
        let buf = out(buf, len)?;
        let flags = SegmentFlags::ACK.with(SegmentFlags::PING, self.ping);
        debug_assert_eq!(SegmentKind::from_flags(flags), Ok(SegmentKind::Ack));
        buf[0] = data_offset;
        buf[1] = flags.bits();
        buf[2..6].copy_from_slice(&self.cumulative.0.to_be_bytes());
        buf[6..9].copy_from_slice(&self.window.to_be_bytes()[1..]);
        let mut at = ACK_HEADER_LEN;
        if !self.sack.is_empty() {
            // 8·k <= 240 always fits the length byte.
            buf[at] = EXT_SACK;
            buf[at + 1] = u8::try_from(self.sack.wire_len() - 2)
                .map_err(|_| DecodeError::FieldOutOfRange("SACK length"))?;
            at += 2;
            for &(start, end) in self.sack.as_slice() {
                buf[at..at + 4].copy_from_slice(&start.0.to_be_bytes());
                buf[at + 4..at + 8].copy_from_slice(&end.0.to_be_bytes());
                at += RANGE_LEN;
            }
        }
        if !self.dsack.is_empty() {
            let value = self.dsack.wire_len() - 2;
            buf[at] = EXT_DSACK;
            buf[at + 1] = u8::try_from(value).map_err(|_| DecodeError::FieldOutOfRange("DSACK length"))?;
            self.dsack.emit_value(&mut buf[at + 2..at + 2 + value]);
            at += 2 + value;
        }
        if let Some(echo) = &self.echo {
            buf[at] = EXT_ACK_ECHO;
            buf[at + 1] =
                u8::try_from(ECHO_VALUE_LEN).map_err(|_| DecodeError::FieldOutOfRange("ACK_ECHO"))?;
            echo.emit_value(&mut buf[at + 2..at + ECHO_TLV_LEN]);
            at += ECHO_TLV_LEN;
        }
        if let Some(delay) = self.ack_delay_us {
            buf[at] = EXT_ACK_DELAY;
            buf[at + 1] = 4;
            buf[at + 2..at + 6].copy_from_slice(&delay.to_be_bytes());
        }
        Ok(len)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wire::test_util::hex;

    fn parse(bytes: &[u8]) -> Result<AckRepr, DecodeError> {
        AckRepr::parse(&Segment::new_checked(bytes)?)
    }

    fn r(a: u32, b: u32) -> (Seq, Seq) {
        (Seq(a), Seq(b))
    }

    #[test]
    fn sack_rules() {
        let c = Seq(9);
        assert!(SackRanges::new(c, &[r(11, 12), r(14, 14)]).is_ok());
        // Not above the cumulative ack; end before start; overlapping; adjacent; descending.
        for bad in [
            &[r(9, 10)][..],
            &[r(12, 11)],
            &[r(11, 13), r(13, 14)],
            &[r(11, 12), r(13, 14)],
            &[r(20, 21), r(11, 12)],
            &[r(11, 9 + 0x8000_0000)],
        ] {
            assert_eq!(SackRanges::new(c, bad), Err(DecodeError::BadSack), "{bad:?}");
        }
        // Serial arithmetic across the wrap.
        let w = SackRanges::new(Seq(u32::MAX - 1), &[r(u32::MAX, 0), r(2, 3)]).unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!(w.validate(Seq(0)), Err(DecodeError::BadSack));
        // Capacity.
        let many: Vec<_> = (0..31).map(|i| r(10 + 2 * i, 10 + 2 * i)).collect();
        assert!(SackRanges::new(c, &many[..30]).is_ok());
        assert_eq!(SackRanges::new(c, &many), Err(DecodeError::BadSack));
    }

    #[test]
    fn ack_bytes() {
        let ack = AckRepr {
            cumulative: Seq(9),
            window: 0x400,
            ping: true,
            sack: SackRanges::new(Seq(9), &[r(11, 12)]).unwrap(),
            ack_delay_us: Some(0x0102),
            dsack: DsackRanges::EMPTY,
            echo: None,
        };
        let mut buf = [0xa5u8; 26];
        assert_eq!(ack.emit(&mut buf), Ok(25));
        assert_eq!(hex(&buf), "19090000000900040001080000000b0000000c020400000102a5");
        assert_eq!(parse(&buf[..25]), Ok(ack));
        let bare = AckRepr { ping: false, sack: SackRanges::EMPTY, ack_delay_us: None, ..ack };
        let mut buf = [0xa5u8; 10];
        assert_eq!(bare.emit(&mut buf), Ok(9));
        assert_eq!(hex(&buf[..10]), "090100000009000400a5");
        assert_eq!(parse(&buf[..9]), Ok(bare));
    }

    #[test]
    fn dsack_bytes_and_the_extension_budget() {
        // PROTOCOL.md Appendix C.5: cumulative 9, window 0x400, SACK 11..=12, DSACK 5..=6,
        // ACK_ECHO top 0x1c (counters 0x1b, 0x1a and 0x18 received), ACK_DELAY 0x0102.
        let ack = AckRepr {
            cumulative: Seq(9),
            window: 0x400,
            ping: false,
            sack: SackRanges::new(Seq(9), &[r(11, 12)]).unwrap(),
            ack_delay_us: Some(0x0102),
            dsack: DsackRanges::new(&[r(5, 6)]).unwrap(),
            echo: Some(AckEcho::new(0x1c, 0b1011).unwrap()),
        };
        let mut buf = [0u8; 64];
        let n = ack.emit(&mut buf).unwrap();
        assert_eq!(
            hex(&buf[..n]),
            "35010000000900040001080000000b0000000c030800000005000000060410000000000000001c\
             000000000000000b020400000102"
        );
        assert_eq!(parse(&buf[..n]), Ok(ack));
        // The budget: 246 bytes of extensions. ACK_DELAY (6), four DSACK ranges (34) and
        // ACK_ECHO (18) leave 188: 23 SACK ranges (2 + 184).
        let four = DsackRanges::new(&[r(1, 1), r(3, 3), r(5, 5), r(7, 7)]).unwrap();
        assert_eq!(AckRepr::sack_room(true, &four, true), 23);
        assert_eq!(AckRepr::sack_room(true, &four, false), 25);
        assert_eq!(AckRepr::sack_room(true, &DsackRanges::EMPTY, true), 27);
        assert_eq!(AckRepr::sack_room(false, &DsackRanges::EMPTY, false), MAX_SACK_RANGES);
        let many: Vec<_> = (0..23).map(|i| r(20 + 2 * i, 20 + 2 * i)).collect();
        let full = AckRepr { sack: SackRanges::new(Seq(9), &many).unwrap(), dsack: four, ..ack };
        // 9 + 186 + 34 + 18 + 6 = 253: a 24th range (8 more) would not fit the one-byte offset.
        assert_eq!(full.emit(&mut [0u8; 300]), Ok(253));
        // ACK_ECHO twice, or of the wrong length: malformed.
        let mut echo_twice = vec![45, 1, 0, 0, 0, 1, 0, 0, 2];
        for _ in 0..2 {
            echo_twice.extend([4, 16, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
        }
        assert_eq!(parse(&echo_twice), Err(DecodeError::BadExtension));
        let echo_short = [19, 1, 0, 0, 0, 1, 0, 0, 2, 4, 8, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(parse(&echo_short), Err(DecodeError::BadEcho));
        // A DSACK twice in one ACK is ambiguous: malformed.
        let twice = [29, 1, 0, 0, 0, 1, 0, 0, 2, 3, 8, 0, 0, 0, 1, 0, 0, 0, 1, 3, 8, 0, 0, 0, 1, 0, 0, 0, 1];
        assert_eq!(parse(&twice), Err(DecodeError::BadExtension));
        // A DSACK length that is not a multiple of 8, or a range spanning 2^15: malformed.
        let odd = [17, 1, 0, 0, 0, 1, 0, 0, 2, 3, 6, 0, 0, 0, 1, 0, 0];
        assert_eq!(parse(&odd), Err(DecodeError::BadDsack));
        let wide = [19, 1, 0, 0, 0, 1, 0, 0, 2, 3, 8, 0, 0, 0, 1, 0, 0, 0x80, 1];
        assert_eq!(parse(&wide), Err(DecodeError::BadDsack));
    }

    #[test]
    fn ack_emit_rejects() {
        let mut buf = [0u8; 300];
        let ack = AckRepr {
            cumulative: Seq(0),
            window: MAX_WINDOW + 1,
            ping: false,
            sack: SackRanges::EMPTY,
            ack_delay_us: None,
            dsack: DsackRanges::EMPTY,
            echo: None,
        };
        assert_eq!(ack.emit(&mut buf), Err(DecodeError::FieldOutOfRange("ACK window")));
        let many: Vec<_> = (0..30).map(|i| r(2 + 2 * i, 2 + 2 * i)).collect();
        let full = AckRepr { window: 1, sack: SackRanges::new(Seq(0), &many).unwrap(), ..ack };
        assert_eq!(full.emit(&mut buf), Ok(251));
        assert_eq!(parse(&buf[..251]), Ok(full));
        let too_long = AckRepr { ack_delay_us: Some(1), ..full };
        assert!(matches!(too_long.emit(&mut buf), Err(DecodeError::FieldOutOfRange(_))));
        let wrong_cum = AckRepr { cumulative: Seq(5), ..full };
        assert_eq!(wrong_cum.emit(&mut buf), Err(DecodeError::BadSack));
    }

    #[test]
    fn ack_extension_rules() {
        // Padding and an unknown TLV are skipped.
        let ok = [13, 0x01, 0, 0, 0, 1, 0, 0, 2, 0x00, 0x00, 0x33, 0x00];
        assert_eq!(parse(&ok).map(|a| (a.cumulative, a.window)), Ok((Seq(1), 2)));
        // SACK length not a multiple of 8, zero, or a range not above the cumulative ack.
        let bad_len = [13, 0x01, 0, 0, 0, 1, 0, 0, 2, 0x01, 0x02, 0, 5];
        assert_eq!(parse(&bad_len), Err(DecodeError::BadSack));
        let empty = [11, 0x01, 0, 0, 0, 1, 0, 0, 2, 0x01, 0x00];
        assert_eq!(parse(&empty), Err(DecodeError::BadSack));
        let below = [19, 0x01, 0, 0, 0, 1, 0, 0, 2, 0x01, 8, 0, 0, 0, 1, 0, 0, 0, 2];
        assert_eq!(parse(&below), Err(DecodeError::BadSack));
        // ACK_DELAY of the wrong length, twice, or a TLV overrunning data_offset.
        let short_delay = [12, 0x01, 0, 0, 0, 1, 0, 0, 2, 0x02, 0x01, 7];
        assert_eq!(parse(&short_delay), Err(DecodeError::BadExtension));
        let twice = [21, 0x01, 0, 0, 0, 1, 0, 0, 2, 2, 4, 0, 0, 0, 1, 2, 4, 0, 0, 0, 1];
        assert_eq!(parse(&twice), Err(DecodeError::BadExtension));
        let overrun = [12, 0x01, 0, 0, 0, 1, 0, 0, 2, 0x02, 0x04, 0, 0, 0, 1];
        assert_eq!(parse(&overrun), Err(DecodeError::BadExtension));
    }
}
