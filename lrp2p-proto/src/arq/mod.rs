//! Selective-repeat ARQ: the reliable byte stream of each direction (PROTOCOL §8).
//!
//! - [`send`]: [`SendStream`](send::SendStream), the sender's buffer and scoreboard: it cuts the
//!   stream into segments, one sequence number each, keeps them until the cumulative ack
//!   releases them, marks SACKed ones (RFC 2018), and infers loss from SACKs (RFC 6675 IsLost,
//!   DupThresh = 3), time (RACK, RFC 8985) and the retransmission timeout (RFC 6298 §5).
//! - [`recv`]: [`RecvStream`](recv::RecvStream), the receiver's reassembly: in-order bytes
//!   become readable, out-of-order segments wait within a byte budget, and each ACK reports the
//!   cumulative ack, a window that never shrinks, and SACK ranges nearest the cumulative ack first.
//!
//! Neither reads a clock (`now` is a parameter) nor knows about packets, keys or congestion
//! control: the connection glues them to the wire (`wire::AckRepr`, `wire::DataRepr`), the RTT
//! estimator and the congestion controller.
//!
//! # Sequence numbers
//!
//! On the wire a sequence number is a 32-bit serial number ([`Seq`], RFC 1982). Inside this
//! module every sequence number is a `u64` "extended" number that never wraps: a stream's isn
//! maps to `u64::from(isn) + 2^32`, so that the numbers just below it (the cumulative ack
//! `isn - 1` before anything arrived) exist too, and [`expand`] recovers the extended number
//! from the wire value nearest to the one expected, as QUIC decodes packet numbers
//! (RFC 9000 Appendix A.3). [`truncate`] goes back to the wire.

use std::collections::VecDeque;

use crate::wire::Seq;

pub(crate) mod recv;
pub(crate) mod send;

#[cfg(test)]
#[path = "sim_tests.rs"]
mod sim_tests;

/// The size of the wire sequence space, 2^32.
const SEQ_SPACE: u64 = 1 << 32;

/// The extended sequence number of a stream's first segment (its isn).
///
/// Offset by 2^32 so that `isn - 1` (the cumulative ack before anything was received) and every
/// expansion near the start stay non-negative.
pub(crate) fn initial(isn: u32) -> u64 {
    u64::from(isn) + SEQ_SPACE
}

/// The extended sequence number whose low 32 bits are `wire` and which is nearest to
/// `expected` (RFC 9000 Appendix A.3, with a 32-bit window).
///
/// A value exactly 2^31 away either way is resolved upwards. Never panics: near the ends of the
/// `u64` range the candidate that would overflow is not taken.
pub(crate) fn expand(expected: u64, wire: Seq) -> u64 {
    const HALF: u64 = SEQ_SPACE / 2;
    const MASK: u64 = SEQ_SPACE - 1;
    let candidate = (expected & !MASK) | u64::from(wire.0);
    // RFC 9000 A.3: if candidate <= expected - hwin and candidate < 2^62 - win: candidate + win.
    if candidate.saturating_add(HALF) <= expected {
        if let Some(up) = candidate.checked_add(SEQ_SPACE) {
            return up;
        }
    }
    // RFC 9000 A.3: if candidate > expected + hwin and candidate >= win: candidate - win.
    if candidate > expected.saturating_add(HALF) {
        if let Some(down) = candidate.checked_sub(SEQ_SPACE) {
            return down;
        }
    }
    candidate
}

/// The wire form of an extended sequence number: its low 32 bits.
pub(crate) fn truncate(seq: u64) -> Seq {
    #[allow(clippy::cast_possible_truncation)] // the wire carries the low 32 bits by design
    Seq(seq as u32)
}

/// Below this many bytes a stream buffer is never shrunk.
const SHRINK_FLOOR: usize = 64 * 1024;

/// Gives memory back once a buffer holds under a quarter of what it has allocated (a bulk
/// transfer's peak must not stay allocated by a connection that then idles), keeping twice what
/// it holds. Halving at most every time the contents quarter keeps the cost amortized O(1) per
/// byte.
fn shrink_if_oversized(buf: &mut VecDeque<u8>) {
    if buf.capacity() > SHRINK_FLOOR && buf.capacity() / 4 > buf.len() {
        buf.shrink_to((2 * buf.len()).max(SHRINK_FLOOR / 2));
    }
}

/// Copies bytes `start..` of `buf` into `out`, as many as both hold; returns how many.
fn copy_from_deque(buf: &VecDeque<u8>, start: usize, out: &mut [u8]) -> usize {
    let (front, back) = buf.as_slices();
    let mut written = 0;
    let mut skip = start;
    for part in [front, back] {
        let Some(part) = part.get(skip..) else {
            skip -= part.len();
            continue;
        };
        skip = 0;
        let n = part.len().min(out.len() - written);
        out[written..written + n].copy_from_slice(&part[..n]);
        written += n;
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_near_the_wrap() {
        let e = initial(u32::MAX); // 2^33 - 1
        assert_eq!(expand(e, Seq(u32::MAX)), e);
        assert_eq!(expand(e, Seq(0)), e + 1);
        assert_eq!(expand(e, Seq(5)), e + 6);
        assert_eq!(expand(e, Seq(u32::MAX - 10)), e - 10);
        // From just past the wrap, numbers just before it expand below.
        assert_eq!(expand(e + 3, Seq(u32::MAX - 1)), e - 1);
        assert_eq!(expand(e + 3, Seq(2)), e + 3);
        // Exactly 2^31 away: resolved upwards.
        let mid = initial(0);
        assert_eq!(expand(mid, Seq(0x8000_0000)), mid + 0x8000_0000);
        assert_eq!(expand(mid + 0x8000_0000, Seq(0)), mid + SEQ_SPACE);
        // Just under 2^31 either way goes the short way.
        assert_eq!(expand(mid, Seq(0x7FFF_FFFF)), mid + 0x7FFF_FFFF);
        assert_eq!(expand(mid, Seq(0x8000_0001)), mid - 0x7FFF_FFFF);
    }

    #[test]
    fn expand_never_panics_at_the_ends() {
        assert_eq!(expand(0, Seq(u32::MAX)), u64::from(u32::MAX));
        assert_eq!(expand(u64::MAX, Seq(0)), u64::MAX - u64::from(u32::MAX));
        assert_eq!(expand(u64::MAX, Seq(u32::MAX)), u64::MAX);
        assert_eq!(expand(u64::MAX - 5, Seq(3)), u64::MAX - u64::from(u32::MAX) + 3);
    }

    #[test]
    fn copy_from_deque_spans_both_halves() {
        let mut buf: VecDeque<u8> = VecDeque::with_capacity(8);
        buf.extend(5u8..=8);
        for b in (1u8..=4).rev() {
            buf.push_front(b); // wraps around the ring: both slices non-empty
        }
        assert!(!buf.as_slices().1.is_empty());
        let mut out = [0u8; 8];
        assert_eq!(copy_from_deque(&buf, 0, &mut out), 8);
        assert_eq!(out, [1, 2, 3, 4, 5, 6, 7, 8]);
        let mut out = [0u8; 3];
        assert_eq!(copy_from_deque(&buf, 1, &mut out), 3);
        assert_eq!(out, [2, 3, 4]);
        assert_eq!(copy_from_deque(&buf, 6, &mut out), 2);
        assert_eq!(out[..2], [7, 8]);
        assert_eq!(copy_from_deque(&buf, 8, &mut out), 0);
        assert_eq!(copy_from_deque(&buf, 100, &mut out), 0);
    }

    #[test]
    fn an_oversized_buffer_gives_memory_back() {
        let mut buf: VecDeque<u8> = VecDeque::new();
        buf.extend(std::iter::repeat_n(7u8, 4 << 20));
        let peak = buf.capacity();
        buf.drain(..(4 << 20) - 1000);
        shrink_if_oversized(&mut buf);
        assert!(buf.capacity() <= SHRINK_FLOOR, "{} of {peak}", buf.capacity());
        assert_eq!(buf.len(), 1000);
        assert!(buf.iter().all(|&b| b == 7));
        // Small buffers are left alone.
        let mut small: VecDeque<u8> = VecDeque::with_capacity(SHRINK_FLOOR);
        small.push_back(1);
        let before = small.capacity();
        shrink_if_oversized(&mut small);
        assert_eq!(small.capacity(), before);
    }

    #[test]
    fn truncate_inverts_expand() {
        for isn in [0, 1, 0x7FFF_FFFF, 0x8000_0000, u32::MAX - 2, u32::MAX] {
            let base = initial(isn);
            for delta in [0u64, 1, 2, 3, 1000, (1 << 31) - 1] {
                let s = base + delta;
                assert_eq!(truncate(s).0, isn.wrapping_add(u32::try_from(delta).unwrap()));
                assert_eq!(expand(base, truncate(s)), s);
                assert_eq!(expand(s, truncate(base)), base);
            }
            assert_eq!(expand(base, truncate(base - 1)), base - 1);
        }
    }
}
