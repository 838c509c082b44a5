//! Anti-replay: the RFC 6479 sliding window over transport packet counters.
//!
//! One [`ReplayWindow`] per receive direction (counters continue across key phases, so one
//! window serves all of them). The window is split in two steps, as boringtun does:
//!
//! 1. [`check`](ReplayWindow::check) before decryption: cheap, rejects counters that are too old
//!    or already seen, changes nothing;
//! 2. [`mark`](ReplayWindow::mark) only after the tag has verified, so a forged packet can never
//!    slide the window (and thereby make genuine packets "too old").
//!
//! Layout (RFC 6479 §2.1, "bitmap as a ring of blocks"): `BLOCKS` = 33 words of 64 bits. Block
//! `(counter / 64) mod 33` holds the bit `counter mod 64`. The block of the highest counter is
//! partly "in the future", so the guaranteed window is `(33 - 1) * 64 = 2048` counters
//! ([`WINDOW`]), as PROTOCOL.md §9.1 asks. Sliding forward only zeroes the blocks it passes, never
//! shifts bits (RFC 6479 §2.2), so a jump of any size costs at most 33 word writes.
//!
//! Size: 33 × 8 B of bitmap + 8 B for the highest counter = **272 bytes**
//! (`size_of::<ReplayWindow>()`, asserted in the tests); 10,000 idle connections hold 2.7 MB of
//! windows.

/// Number of 64-bit blocks in the ring (RFC 6479 §2.1: one more than the window needs).
const BLOCKS: usize = 33;

/// Bits per block.
const BLOCK_BITS: u64 = u64::BITS as u64;

/// The guaranteed window: a counter is accepted if it is above `highest - WINDOW` (and unseen).
///
/// PROTOCOL.md §9.1: "drop if counter + W <= highest"; W = (BLOCKS - 1) × 64 = 2048.
pub const WINDOW: u64 = (BLOCKS as u64 - 1) * BLOCK_BITS;

/// Why a counter was refused by [`ReplayWindow::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Replay {
    /// The counter is at least [`WINDOW`] below the highest one accepted.
    #[error("counter {counter} is too old (highest accepted {highest})")]
    TooOld {
        /// The refused counter.
        counter: u64,
        /// The highest counter accepted so far.
        highest: u64,
    },
    /// A packet with this counter has already been accepted.
    #[error("counter {0} was already received")]
    Duplicate(u64),
}

/// RFC 6479 sliding anti-replay window of [`WINDOW`] (2048) counters; 272 bytes.
///
/// A fresh window accepts every counter, including 0.
#[derive(Clone, PartialEq, Eq)]
pub struct ReplayWindow {
    /// The highest counter marked so far (0 when none: bit 0 then tells whether 0 was seen).
    highest: u64,
    /// The ring of blocks; bit `c % 64` of block `(c / 64) % BLOCKS` is set once `c` is marked.
    bitmap: [u64; BLOCKS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for ReplayWindow {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReplayWindow").field("highest", &self.highest).finish_non_exhaustive()
    }
}

/// The ring slot and bit mask of `counter`.
#[inline]
fn position(counter: u64) -> (usize, u64) {
    let block = counter / BLOCK_BITS;
    // The remainder is < BLOCKS = 33, so the cast cannot truncate.
    #[allow(clippy::cast_possible_truncation)]
    let slot = (block % BLOCKS as u64) as usize;
    (slot, 1u64 << (counter % BLOCK_BITS))
}

impl ReplayWindow {
    /// An empty window: nothing seen, every counter acceptable.
    pub const fn new() -> Self {
        ReplayWindow { highest: 0, bitmap: [0; BLOCKS] }
    }

    /// The highest counter marked so far (0 if none was).
    pub const fn highest(&self) -> u64 {
        self.highest
    }

    /// Whether a packet with `counter` may be new. Call before decrypting; changes nothing.
    ///
    /// RFC 6479 §2.3 (receive side, "check" half): a counter above the highest is new; one
    /// [`WINDOW`] or more below it is too old; otherwise its bit decides.
    #[inline]
    pub fn check(&self, counter: u64) -> Result<(), Replay> {
        if counter > self.highest {
            return Ok(());
        }
        // counter <= highest, so the subtraction cannot underflow (no `counter + W` overflow
        // either, for counters near u64::MAX).
        if self.highest - counter >= WINDOW {
            return Err(Replay::TooOld { counter, highest: self.highest });
        }
        let (slot, bit) = position(counter);
        if self.bitmap[slot] & bit != 0 {
            return Err(Replay::Duplicate(counter));
        }
        Ok(())
    }

    /// What an ACK echoes of this window (PROTOCOL.md §7.7 ACK_ECHO): `top`, one more than the
    /// highest counter marked (0 when none was), and the bits of the 64 counters from the
    /// highest down (bit `i`: counter `top - 1 - i` marked).
    pub fn echo(&self) -> (u64, u64) {
        let h = self.highest;
        let (slot, bit) = position(h);
        if h == 0 && self.bitmap[slot] & bit == 0 {
            return (0, 0);
        }
        // < 64: fits every integer type used below.
        #[allow(clippy::cast_possible_truncation)]
        let r = (h % BLOCK_BITS) as u32;
        let block = h / BLOCK_BITS;
        // Reversed, a block holds its highest counter in bit 0; the block below follows it.
        // Bits of the current block above `r` are clear (nothing above the highest is marked).
        let current = self.bitmap[slot].reverse_bits() >> (63 - r);
        let below = match block.checked_sub(1) {
            Some(prev) => {
                let (prev_slot, _) = position(prev * BLOCK_BITS);
                self.bitmap[prev_slot].reverse_bits().checked_shl(r + 1).unwrap_or(0)
            }
            None => 0,
        };
        (h.saturating_add(1), current | below)
    }

    /// Records `counter` as received. Call only after the packet's tag has verified.
    ///
    /// RFC 6479 §2.3 ("update" half): a counter above the highest slides the window, zeroing
    /// every block between the old and the new highest (at most all 33 of them, however far
    /// the jump); then its bit is set. A counter that [`check`](Self::check) would call too
    /// old is ignored (its slot now belongs to newer counters).
    #[inline]
    pub fn mark(&mut self, counter: u64) {
        if counter > self.highest {
            let old_block = self.highest / BLOCK_BITS;
            let new_block = counter / BLOCK_BITS;
            // RFC 6479 §2.2: clear the blocks the window slides over; a jump of BLOCKS or more
            // clears the whole ring. Both values are <= 2^58, so `old_block + i` cannot overflow.
            let clear = (new_block - old_block).min(BLOCKS as u64);
            for i in 1..=clear {
                let (slot, _) = position((old_block + i) * BLOCK_BITS);
                self.bitmap[slot] = 0;
            }
            self.highest = counter;
        } else if self.highest - counter >= WINDOW {
            return;
        }
        let (slot, bit) = position(counter);
        self.bitmap[slot] |= bit;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
mod tests {
    use super::*;

    /// check-then-mark, as the session does after a successful decryption.
    fn accept(w: &mut ReplayWindow, c: u64) -> Result<(), Replay> {
        w.check(c)?;
        w.mark(c);
        Ok(())
    }

    #[test]
    fn replay_window_size_is_272_bytes() {
        assert_eq!(core::mem::size_of::<ReplayWindow>(), 272);
        assert_eq!(WINDOW, 2048);
    }

    #[test]
    fn replay_counter_zero_once() {
        let mut w = ReplayWindow::new();
        assert_eq!(accept(&mut w, 0), Ok(()));
        assert_eq!(accept(&mut w, 0), Err(Replay::Duplicate(0)));
        assert_eq!(accept(&mut w, 1), Ok(()));
        assert_eq!(w.check(0), Err(Replay::Duplicate(0)));
    }

    #[test]
    fn replay_in_order_and_duplicates() {
        let mut w = ReplayWindow::new();
        for c in 0..10_000 {
            assert_eq!(accept(&mut w, c), Ok(()));
            assert_eq!(w.check(c), Err(Replay::Duplicate(c)));
        }
        assert_eq!(w.check(10_000 - WINDOW), Err(Replay::Duplicate(10_000 - WINDOW)));
        assert!(matches!(w.check(9_999 - WINDOW), Err(Replay::TooOld { .. })));
    }

    #[test]
    fn replay_window_edges() {
        let mut w = ReplayWindow::new();
        accept(&mut w, 5000).unwrap();
        // The oldest acceptable counter is highest - (WINDOW - 1).
        assert_eq!(w.check(5000 - WINDOW + 1), Ok(()));
        assert_eq!(w.check(5000 - WINDOW), Err(Replay::TooOld { counter: 5000 - WINDOW, highest: 5000 }));
        // Every counter of the window is still acceptable once (the jump cleared stale bits).
        for c in (5000 - WINDOW + 1)..5000 {
            assert_eq!(accept(&mut w, c), Ok(()), "counter {c}");
        }
        for c in (5000 - WINDOW + 1)..=5000 {
            assert_eq!(w.check(c), Err(Replay::Duplicate(c)));
        }
    }

    #[test]
    fn replay_reordered_within_window() {
        let mut w = ReplayWindow::new();
        let order = [10u64, 3, 7, 0, 2047, 1, 2048, 9, 4000, 1953, 2500];
        for &c in &order {
            assert_eq!(accept(&mut w, c), Ok(()), "counter {c}");
        }
        for &c in &order {
            assert!(w.check(c).is_err(), "counter {c}");
        }
        // 4000 - 2048 = 1952 is the boundary.
        assert!(matches!(w.check(1952), Err(Replay::TooOld { .. })));
        assert_eq!(w.check(1954), Ok(()));
    }

    #[test]
    fn replay_far_jumps_clear_stale_bits() {
        let mut w = ReplayWindow::new();
        for c in 0..64 * BLOCKS as u64 {
            accept(&mut w, c).unwrap();
        }
        // Jump by exactly the ring size in blocks and by a bit more: old bits of the reused
        // slots must not make new counters look like duplicates.
        for jump in [64 * BLOCKS as u64, 64 * BLOCKS as u64 + 1, 1 << 40] {
            let base = w.highest() + jump;
            accept(&mut w, base).unwrap();
            for c in (base - WINDOW + 1)..base {
                assert_eq!(w.check(c), Ok(()), "jump {jump} counter {c}");
            }
        }
    }

    #[test]
    fn replay_near_u64_max_does_not_overflow() {
        let mut w = ReplayWindow::new();
        accept(&mut w, u64::MAX - 1).unwrap();
        assert_eq!(accept(&mut w, u64::MAX), Ok(()));
        assert_eq!(w.check(u64::MAX), Err(Replay::Duplicate(u64::MAX)));
        assert_eq!(accept(&mut w, u64::MAX - 2), Ok(()));
        assert_eq!(w.check(u64::MAX - WINDOW + 1), Ok(()));
        assert!(matches!(w.check(u64::MAX - WINDOW), Err(Replay::TooOld { .. })));
        assert!(matches!(w.check(0), Err(Replay::TooOld { .. })));
    }

    #[test]
    fn replay_mark_of_too_old_is_ignored() {
        let mut w = ReplayWindow::new();
        accept(&mut w, 10_000).unwrap();
        let before = w.clone();
        // 10_000 - 64 * 33 shares a slot with a live block; marking it must not touch that slot.
        w.mark(10_000 - 64 * BLOCKS as u64);
        assert_eq!(w, before);
    }

    #[test]
    fn replay_matches_a_reference_model() {
        // A naive set-based model of "accept iff unseen and highest - c < WINDOW", driven by a
        // deterministic pseudo-random walk with jumps, reordering and duplicates.
        let mut w = ReplayWindow::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut highest = 0u64;
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut base = 0u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let c = match x % 100 {
                0 => {
                    base += 3000;
                    base
                }
                1..=60 => {
                    base += 1;
                    base
                }
                _ => base.saturating_sub(x % 2300),
            };
            let model_ok = !seen.contains(&c) && (c > highest || highest - c < WINDOW);
            assert_eq!(w.check(c).is_ok(), model_ok, "counter {c}, highest {highest}");
            if model_ok {
                w.mark(c);
                seen.insert(c);
                highest = highest.max(c);
            }
        }
    }

    #[test]
    fn echo_matches_a_naive_model() {
        let mut w = ReplayWindow::new();
        assert_eq!(w.echo(), (0, 0));
        w.mark(0);
        assert_eq!(w.echo(), (1, 1));
        let mut seen = std::collections::BTreeSet::from([0u64]);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut counter = 0u64;
        for _ in 0..5000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Mostly forward with gaps; sometimes a straggler a little below the highest.
            counter = match x % 10 {
                0 => counter.saturating_sub(x % 90),
                _ => counter + 1 + x % 3,
            };
            if w.check(counter).is_ok() {
                w.mark(counter);
                seen.insert(counter);
            }
            let (top, bits) = w.echo();
            let highest = *seen.iter().next_back().unwrap();
            assert_eq!(top, highest + 1);
            for i in 0..64u64 {
                let expected = highest >= i && seen.contains(&(highest - i));
                assert_eq!(
                    bits >> i & 1 == 1,
                    expected,
                    "counter {} (highest {highest})",
                    highest.wrapping_sub(i)
                );
            }
        }
    }
}
