//! The ACK_ECHO extension of ACK segments (type 0x04, PROTOCOL.md §7.7): which packet counters
//! the receiver has received, so that a sender can tell an acknowledgement of data whose packet
//! never arrived (a lying, "optimistic" receiver) from an honest one (§8.8).
//!
//! ```text
//! ACK_ECHO (type 0x04), len = 16:
//! +------+------+--------------------------------+-----------------------------------+
//! | 0x04 | 0x10 | top u64                        | received u64                      |
//! +------+------+--------------------------------+-----------------------------------+
//! ```
//!
//! `top` is one more than the highest counter received (0: none yet); bit `i` of `received`
//! (least significant first) says whether counter `top - 1 - i` was received, so bit 0 (the
//! highest itself) is set exactly when `top > 0`.

use super::DecodeError;

/// Counters below `top` that one echo covers.
pub const ECHO_SPAN: u64 = 64;

/// Bytes of the ACK_ECHO value.
pub(super) const ECHO_VALUE_LEN: usize = 16;

/// Bytes of the ACK_ECHO TLV.
pub const ECHO_TLV_LEN: usize = 2 + ECHO_VALUE_LEN;

/// What an ACK says about the packet counters its sender received.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AckEcho {
    /// One more than the highest counter received; 0 when none was.
    pub top: u64,
    /// Bit `i`: counter `top - 1 - i` was received.
    pub received: u64,
}

/// What an echo says about one counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Echoed {
    /// Received.
    Received,
    /// Not received (yet): within the echo and its bit clear, or at or above `top`.
    Missing,
    /// Too far below `top` for the echo to say.
    Unknown,
}

impl AckEcho {
    /// Validates an echo: bit 0 (the highest counter) is set exactly when `top > 0`, and no bit
    /// names a counter below 0.
    pub fn new(top: u64, received: u64) -> Result<Self, DecodeError> {
        let highest_set = received & 1 == 1;
        let below_zero = top < ECHO_SPAN && received >> top != 0;
        if highest_set != (top > 0) || below_zero {
            return Err(DecodeError::BadEcho);
        }
        Ok(AckEcho { top, received })
    }

    /// What the echo says about `counter`.
    pub const fn echoed(&self, counter: u64) -> Echoed {
        if counter >= self.top {
            return Echoed::Missing;
        }
        let back = self.top - 1 - counter;
        if back >= ECHO_SPAN {
            Echoed::Unknown
        } else if self.received >> back & 1 == 1 {
            Echoed::Received
        } else {
            Echoed::Missing
        }
    }

    /// Decodes the TLV value.
    pub(super) fn decode(value: &[u8]) -> Result<Self, DecodeError> {
        let Ok(&[t0, t1, t2, t3, t4, t5, t6, t7, r0, r1, r2, r3, r4, r5, r6, r7]) =
            <&[u8; ECHO_VALUE_LEN]>::try_from(value)
        else {
            return Err(DecodeError::BadEcho);
        };
        let top = u64::from_be_bytes([t0, t1, t2, t3, t4, t5, t6, t7]);
        let received = u64::from_be_bytes([r0, r1, r2, r3, r4, r5, r6, r7]);
        AckEcho::new(top, received)
    }

    /// Writes the TLV value into `buf` (exactly [`ECHO_VALUE_LEN`] bytes).
    pub(super) fn emit_value(&self, buf: &mut [u8]) {
        if let Some((top, received)) = buf.split_first_chunk_mut::<8>() {
            *top = self.top.to_be_bytes();
            if let Some(received) = received.first_chunk_mut::<8>() {
                *received = self.received.to_be_bytes();
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn echo_rules_and_lookups() {
        assert_eq!(AckEcho::new(0, 0), Ok(AckEcho::default()));
        assert_eq!(AckEcho::new(0, 1), Err(DecodeError::BadEcho), "nothing received, a bit set");
        assert_eq!(AckEcho::new(5, 0b10), Err(DecodeError::BadEcho), "the highest not set");
        assert_eq!(AckEcho::new(2, 0b101), Err(DecodeError::BadEcho), "a counter below 0");
        let e = AckEcho::new(100, 0b1011).unwrap(); // 99, 98, 96 received; 97 not
        assert_eq!(e.echoed(99), Echoed::Received);
        assert_eq!(e.echoed(98), Echoed::Received);
        assert_eq!(e.echoed(97), Echoed::Missing);
        assert_eq!(e.echoed(96), Echoed::Received);
        assert_eq!(e.echoed(95), Echoed::Missing);
        assert_eq!(e.echoed(100), Echoed::Missing);
        assert_eq!(e.echoed(36), Echoed::Missing);
        assert_eq!(e.echoed(35), Echoed::Unknown);
        let full = AckEcho::new(u64::MAX, u64::MAX).unwrap();
        assert_eq!(full.echoed(u64::MAX - 64), Echoed::Received);
        assert_eq!(full.echoed(0), Echoed::Unknown);
        let mut buf = [0u8; ECHO_VALUE_LEN];
        e.emit_value(&mut buf);
        assert_eq!(AckEcho::decode(&buf), Ok(e));
        assert_eq!(AckEcho::decode(&buf[..15]), Err(DecodeError::BadEcho));
    }
}
