//! The DSACK extension of ACK segments (type 0x03, PROTOCOL.md §7.7): sequence numbers the
//! receiver got more than once since it last sent an ACK, after RFC 2883's D-SACK.
//!
//! ```text
//! DSACK (type 0x03), len = 8·k, k in 1..=4:
//! +------+-------+----------------+--------------+-----+--------------+------------+
//! | 0x03 | 8·k   | start_1 u32    | end_1 u32    | ... | start_k u32  | end_k u32  |
//! +------+-------+----------------+--------------+-----+--------------+------------+
//! ```
//!
//! Each range is inclusive with `dist(start, end) < 2^15` (§1.4); ranges may lie below or above
//! the cumulative ack and come in any order. The sender learns from them that a retransmission
//! was unnecessary (RFC 3708) and that the path reorders (RFC 8985 §6.2).

use super::{DecodeError, Seq};

/// Most DSACK ranges one ACK segment carries.
pub const MAX_DSACK_RANGES: usize = 4;

/// Longest DSACK range: `dist(start, end)` stays below this.
const MAX_SPAN: u32 = 1 << 15;

/// Bytes of one range on the wire.
const RANGE_LEN: usize = 8;

/// Up to [`MAX_DSACK_RANGES`] inclusive ranges of duplicate sequence numbers. Stored inline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DsackRanges {
    ranges: [(Seq, Seq); MAX_DSACK_RANGES],
    len: usize,
}

impl DsackRanges {
    /// No ranges (the ACK carries no DSACK extension).
    pub const EMPTY: DsackRanges = DsackRanges { ranges: [(Seq(0), Seq(0)); MAX_DSACK_RANGES], len: 0 };

    /// Validates and copies `ranges`: at most four, each with `dist(start, end) < 2^15`.
    pub fn new(ranges: &[(Seq, Seq)]) -> Result<Self, DecodeError> {
        if ranges.len() > MAX_DSACK_RANGES {
            return Err(DecodeError::BadDsack);
        }
        let mut out = DsackRanges::EMPTY;
        for (slot, &(start, end)) in out.ranges.iter_mut().zip(ranges) {
            if end.distance_from(start) >= MAX_SPAN {
                return Err(DecodeError::BadDsack);
            }
            *slot = (start, end);
        }
        out.len = ranges.len();
        Ok(out)
    }

    /// Records one duplicate `seq` (the receiver's side): it extends a range it touches, or
    /// takes a new one. Returns false when all ranges are taken and `seq` touches none (DSACK is
    /// advisory: the report is lost, nothing else).
    pub fn record(&mut self, seq: Seq) -> bool {
        let len = self.len;
        for (start, end) in self.ranges.iter_mut().take(len) {
            let span = end.distance_from(*start);
            let offset = seq.distance_from(*start);
            if offset <= span {
                return true; // already reported
            }
            if offset == span + 1 && span + 1 < MAX_SPAN {
                *end = seq;
                return true;
            }
            if start.prev() == seq && span + 1 < MAX_SPAN {
                *start = seq;
                return true;
            }
        }
        match self.ranges.get_mut(len) {
            Some(slot) => {
                *slot = (seq, seq);
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// The ranges, in the order recorded.
    pub fn as_slice(&self) -> &[(Seq, Seq)] {
        self.ranges.get(..self.len).unwrap_or_default()
    }

    /// Number of ranges.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no ranges.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Decodes a DSACK TLV value: `start u32 | end u32`, 1..=4 times.
    pub(super) fn decode(value: &[u8]) -> Result<Self, DecodeError> {
        if value.is_empty() || value.len() % RANGE_LEN != 0 || value.len() > RANGE_LEN * MAX_DSACK_RANGES {
            return Err(DecodeError::BadDsack);
        }
        let mut ranges = [(Seq(0), Seq(0)); MAX_DSACK_RANGES];
        let mut n = 0;
        for (slot, chunk) in ranges.iter_mut().zip(value.chunks_exact(RANGE_LEN)) {
            let Ok(&[s0, s1, s2, s3, e0, e1, e2, e3]) = <&[u8; RANGE_LEN]>::try_from(chunk) else {
                return Err(DecodeError::BadDsack);
            };
            *slot = (Seq(u32::from_be_bytes([s0, s1, s2, s3])), Seq(u32::from_be_bytes([e0, e1, e2, e3])));
            n += 1;
        }
        DsackRanges::new(ranges.get(..n).unwrap_or_default())
    }

    /// Bytes of the DSACK TLV (0 when empty).
    pub const fn wire_len(&self) -> usize {
        if self.len == 0 { 0 } else { 2 + RANGE_LEN * self.len }
    }

    /// Writes the TLV value (the ranges) into `buf`, which holds exactly `wire_len() - 2` bytes.
    pub(super) fn emit_value(&self, buf: &mut [u8]) {
        for (chunk, &(start, end)) in buf.chunks_exact_mut(RANGE_LEN).zip(self.as_slice()) {
            chunk[..4].copy_from_slice(&start.0.to_be_bytes());
            chunk[4..].copy_from_slice(&end.0.to_be_bytes());
        }
    }
}

impl Default for DsackRanges {
    fn default() -> Self {
        DsackRanges::EMPTY
    }
}

impl core::fmt::Debug for DsackRanges {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.as_slice().iter().map(|(s, e)| s.0..=e.0)).finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn record_merges_neighbours_and_stops_at_four() {
        let mut d = DsackRanges::EMPTY;
        for s in [10, 11, 12, 9, 11, 30, u32::MAX, 0, 50] {
            assert!(d.record(Seq(s)));
        }
        let got: Vec<_> = d.as_slice().iter().map(|&(a, b)| (a.0, b.0)).collect();
        assert_eq!(got, [(9, 12), (30, 30), (u32::MAX, 0), (50, 50)]);
        assert!(!d.record(Seq(70)), "full");
        assert!(d.record(Seq(51)), "still merges");
    }

    #[test]
    fn ranges_are_bounded() {
        assert!(DsackRanges::new(&[(Seq(5), Seq(5 + MAX_SPAN - 1))]).is_ok());
        assert_eq!(DsackRanges::new(&[(Seq(5), Seq(5 + MAX_SPAN))]), Err(DecodeError::BadDsack));
        assert_eq!(DsackRanges::new(&[(Seq(5), Seq(4))]), Err(DecodeError::BadDsack), "end before start");
        let five = [(Seq(1), Seq(1)); 5];
        assert_eq!(DsackRanges::new(&five), Err(DecodeError::BadDsack));
        assert_eq!(DsackRanges::decode(&[]), Err(DecodeError::BadDsack));
        assert_eq!(DsackRanges::decode(&[0; 7]), Err(DecodeError::BadDsack));
        assert_eq!(DsackRanges::decode(&[0; 40]), Err(DecodeError::BadDsack));
        assert_eq!(DsackRanges::decode(&[0, 0, 0, 7, 0, 0, 0, 8]).unwrap().as_slice(), &[(Seq(7), Seq(8))]);
    }
}
