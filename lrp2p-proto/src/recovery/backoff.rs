//! Exponential backoff (RFC 6298 §5.5): the one rule every retransmission timer of a
//! connection follows — the data RTO and the handshake's — so that both double the same way and
//! stop at the same kind of ceiling.

use std::time::Duration;

/// The highest exponent counted: any base of a nanosecond or more reaches every ceiling used
/// here (at most a few minutes) long before 2^32.
pub(crate) const MAX_EXPONENT: u32 = 32;

/// `base · 2^exponent`, at most `ceiling` (RFC 6298 §5.5: RTO ← RTO · 2 on each expiry; §2.5:
/// a maximum MAY bound it). Saturates instead of overflowing.
pub(crate) fn backed_off(base: Duration, exponent: u32, ceiling: Duration) -> Duration {
    let factor = 1u32.checked_shl(exponent.min(MAX_EXPONENT)).unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(ceiling)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_ceiling_without_overflow() {
        let s = Duration::from_secs;
        assert_eq!(backed_off(s(1), 0, s(60)), s(1));
        assert_eq!(backed_off(s(1), 3, s(60)), s(8));
        assert_eq!(backed_off(s(1), 6, s(60)), s(60));
        assert_eq!(backed_off(s(1), u32::MAX, s(60)), s(60));
        assert_eq!(backed_off(Duration::MAX, 40, Duration::MAX), Duration::MAX);
    }
}
