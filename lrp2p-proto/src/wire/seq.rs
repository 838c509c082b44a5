//! 32-bit sequence numbers with serial-number arithmetic (RFC 1982, SERIAL_BITS = 32).

use core::cmp::Ordering;

/// A segment sequence number. Sequence numbers count segments, not bytes, and wrap at 2^32.
///
/// Comparison follows RFC 1982 §3.2: `a < b` when `b - a` (mod 2^32) lies in `1..2^31`.
/// Two numbers exactly 2^31 apart are unordered (`partial_cmp` returns `None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Seq(pub u32);

impl Seq {
    /// RFC 1982 §3.1: addition of a positive integer less than 2^31.
    #[must_use]
    pub const fn add(self, n: u32) -> Seq {
        Seq(self.0.wrapping_add(n))
    }

    /// The number before this one (wrapping).
    #[must_use]
    pub const fn prev(self) -> Seq {
        Seq(self.0.wrapping_sub(1))
    }

    /// The number after this one (wrapping).
    #[must_use]
    pub const fn next(self) -> Seq {
        Seq(self.0.wrapping_add(1))
    }

    /// Distance from `earlier` forward to `self`, modulo 2^32.
    pub const fn distance_from(self, earlier: Seq) -> u32 {
        self.0.wrapping_sub(earlier.0)
    }
}

impl PartialOrd for Seq {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        // RFC 1982 §3.2: s1 < s2 iff (i1 < i2 and i2 - i1 < 2^31) or (i1 > i2 and i1 - i2 > 2^31).
        let d = other.0.wrapping_sub(self.0);
        match d {
            0 => Some(Ordering::Equal),
            1..0x8000_0000 => Some(Ordering::Less),
            0x8000_0000 => None,
            _ => Some(Ordering::Greater),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_comparison_wraps() {
        assert!(Seq(u32::MAX) < Seq(0));
        assert!(Seq(0) > Seq(u32::MAX));
        assert!(Seq(5) < Seq(6));
        assert_eq!(Seq(0).partial_cmp(&Seq(0x8000_0000)), None);
        assert_eq!(Seq(u32::MAX).next(), Seq(0));
        assert_eq!(Seq(0).prev(), Seq(u32::MAX));
        assert_eq!(Seq(2).distance_from(Seq(u32::MAX)), 3);
    }
}
