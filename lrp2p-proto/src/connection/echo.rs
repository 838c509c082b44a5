//! Catching receivers that acknowledge what they never received (PROTOCOL.md §8.8; the attack
//! of Savage et al., "TCP congestion control with a misbehaving receiver", 1999).
//!
//! The sender skips a packet counter now and then (1 in [`SKIP_ONE_IN`], unpredictably: the
//! schedule comes from a secret only this side knows), and the peer's ACKs echo which counters
//! arrived (ACK_ECHO, §7.7). An honest receiver never claims a skipped counter, a counter not yet
//! sent, or the acknowledgement of a segment whose packet its own echo says is missing. A liar
//! that acknowledges data it did not get must claim the counters of the packets that carried it
//! — it sees only gaps, and a gap is as likely a skip as a loss — or leave them unclaimed and
//! contradict itself: either way the ACK is a protocol violation (§7.9).
//!
//! The skip decisions are drawn 64 at a time from keyed BLAKE2s (4 bits each, kept as one bit:
//! skip or not), so the cost per packet is a shift and a mask.

use std::collections::VecDeque;

use blake2::Blake2sMac256;
use blake2::digest::{FixedOutput, KeyInit, Mac};

use crate::wire::{AckEcho, ECHO_SPAN, Echoed};

/// One counter in this many is skipped, on average.
pub(super) const SKIP_ONE_IN: u32 = 16;

/// Skipped counters remembered: older ones have left every echo's span.
const REMEMBERED: usize = 64;

/// The sender's counter-skip schedule and the skips it must not see claimed.
#[derive(Clone)]
pub(super) struct CounterSkips {
    /// The schedule's secret (from the endpoint's RNG).
    key: [u8; 32],
    /// Decisions taken so far: the next is bit `taken % 64` of block `taken / 64`.
    taken: u64,
    /// The current block's 64 decisions, one bit each (set: skip).
    skips: u64,
    /// Counters skipped, oldest first.
    skipped: VecDeque<u64>,
}

impl core::fmt::Debug for CounterSkips {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CounterSkips").field("skipped", &self.skipped.len()).finish_non_exhaustive()
    }
}

/// How an echo contradicts what was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EchoViolation {
    /// It claims a counter this side never sent.
    #[error("the echo claims counter {0}, which was never sent")]
    NeverSent(u64),
    /// It claims a counter this side skipped.
    #[error("the echo claims counter {0}, which was skipped")]
    Skipped(u64),
}

impl CounterSkips {
    /// A schedule drawn from `key`, which must be secret and random.
    pub(super) fn new(key: [u8; 32]) -> Self {
        Self { key, taken: 0, skips: 0, skipped: VecDeque::new() }
    }

    /// Whether to skip the counter about to be used.
    pub(super) fn skip_next(&mut self) -> bool {
        let bit = self.taken % 64;
        if bit == 0 {
            // One keyed hash per 64 decisions: MAC(key, block number), 64 nibbles; a nibble
            // below 16 / SKIP_ONE_IN skips.
            self.skips = 0;
            if let Ok(mut mac) = <Blake2sMac256 as KeyInit>::new_from_slice(&self.key) {
                Mac::update(&mut mac, &(self.taken / 64).to_le_bytes());
                for (i, byte) in mac.finalize_fixed().iter().enumerate() {
                    for (half, nibble) in [(0, byte & 0x0F), (1, byte >> 4)] {
                        if u32::from(nibble) < 16 / SKIP_ONE_IN {
                            self.skips |= 1 << (2 * i + half);
                        }
                    }
                }
            }
        }
        self.taken = self.taken.wrapping_add(1);
        self.skips >> bit & 1 == 1
    }

    /// The 8 bytes of a PATH_CHALLENGE (PROTOCOL.md §13.2): unpredictable for the peer, from
    /// the same secret as the skips (drawn from the endpoint's RNG) under another label, and
    /// never repeated on the connection as long as `nonce` is not (the caller passes the next
    /// send counter, which only grows).
    pub(super) fn path_challenge(&self, nonce: u64) -> [u8; 8] {
        let mut out = [0u8; 8];
        if let Ok(mut mac) = <Blake2sMac256 as KeyInit>::new_from_slice(&self.key) {
            Mac::update(&mut mac, b"lrp2p path challenge");
            Mac::update(&mut mac, &nonce.to_le_bytes());
            out.copy_from_slice(&mac.finalize_fixed()[..8]);
        }
        out
    }

    /// `counter` was skipped: no packet carries it.
    pub(super) fn skipped(&mut self, counter: u64) {
        if self.skipped.len() >= REMEMBERED {
            self.skipped.pop_front();
        }
        self.skipped.push_back(counter);
    }

    /// Checks an echo against what was sent: nothing at or above `next_counter` (the next
    /// counter this side would use) and no skipped counter may be claimed.
    pub(super) fn verify(&self, echo: &AckEcho, next_counter: u64) -> Result<(), EchoViolation> {
        if echo.top > next_counter {
            return Err(EchoViolation::NeverSent(echo.top - 1));
        }
        let oldest = echo.top.saturating_sub(ECHO_SPAN);
        for &s in self.skipped.iter().rev().take_while(|&&s| s >= oldest) {
            if echo.echoed(s) == Echoed::Received {
                return Err(EchoViolation::Skipped(s));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_one_in_sixteen_is_skipped_and_the_schedule_depends_on_the_key() {
        let mut a = CounterSkips::new([1; 32]);
        let mut b = CounterSkips::new([2; 32]);
        let picks_a: Vec<bool> = (0..16_000).map(|_| a.skip_next()).collect();
        let picks_b: Vec<bool> = (0..16_000).map(|_| b.skip_next()).collect();
        let n = picks_a.iter().filter(|&&s| s).count();
        assert!((850..1150).contains(&n), "{n} skips in 16000");
        assert_ne!(picks_a, picks_b);
        let mut again = CounterSkips::new([1; 32]);
        assert!(picks_a.iter().all(|&s| s == again.skip_next()), "deterministic for one key");
    }

    #[test]
    fn claims_of_skipped_or_unsent_counters_are_caught() {
        let mut skips = CounterSkips::new([0; 32]);
        skips.skipped(10);
        skips.skipped(40);
        // Counters 0..=50 sent but 10 and 40; an honest echo of 11..=50.
        let honest = AckEcho::new(51, ((1u64 << 40) - 1) & !(1 << 10)).unwrap();
        assert_eq!(skips.verify(&honest, 51), Ok(()));
        let all = AckEcho::new(51, (1u64 << 51) - 1).unwrap();
        assert_eq!(skips.verify(&all, 51), Err(EchoViolation::Skipped(40)));
        assert_eq!(skips.verify(&AckEcho::new(60, 1).unwrap(), 51), Err(EchoViolation::NeverSent(59)));
        // A skip beyond the echo's span says nothing.
        let later = AckEcho::new(200, u64::MAX).unwrap();
        assert_eq!(skips.verify(&later, 300), Ok(()));
    }
}
