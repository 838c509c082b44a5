//! A windowed maximum over virtual time: the largest value seen in the last `len` ticks of a
//! counter that only moves forward (ProbeBW cycles for `BBR.max_bw`, packet-timed round trips
//! for `BBR.extra_acked`; draft-ietf-ccwg-bbr-06 §5.5.3, §5.5.9).
//!
//! The draft points at Kathleen Nichols' three-sample filter for this. With windows of at most
//! [`MAX_LEN`] ticks a slot per tick is as cheap and exact: each slot keeps the largest value
//! of one tick, tagged with it, and the maximum is taken over the slots still in the window.

/// Slots: one per tick of the longest window.
const SLOTS: usize = 10;

/// The longest window a filter can cover, in ticks (`BBR.ExtraAckedFilterLen`, §2.12).
pub(super) const MAX_LEN: u64 = SLOTS as u64;

/// The largest value of one tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    tick: u64,
    value: u64,
}

/// The maximum of the values seen over the last `len` ticks (the current one included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct WindowedMax {
    slots: [Option<Slot>; SLOTS],
}

impl Default for WindowedMax {
    fn default() -> Self {
        Self::new()
    }
}

impl WindowedMax {
    /// An empty filter: its maximum is 0 (`InitWindowedMaxFilter(value=0, time=0)`, §5.2.1).
    pub(super) fn new() -> Self {
        Self { slots: [None; SLOTS] }
    }

    /// Records `value` seen at `tick` and returns the maximum over the window of `len` ticks
    /// (1 to [`MAX_LEN`]) that ends at `tick`. Ticks must not go backwards; a tick older than one
    /// already recorded in its slot is ignored.
    pub(super) fn update(&mut self, value: u64, tick: u64, len: u64) -> u64 {
        let index = slot_index(tick);
        match &mut self.slots[index] {
            Some(slot) if slot.tick == tick => slot.value = slot.value.max(value),
            Some(slot) if slot.tick > tick => {}
            other => *other = Some(Slot { tick, value }),
        }
        self.max(tick, len)
    }

    /// The maximum over the `len` ticks (1 to [`MAX_LEN`]) that end at `tick`; 0 if none.
    pub(super) fn max(&self, tick: u64, len: u64) -> u64 {
        let len = len.clamp(1, MAX_LEN);
        let oldest = tick.saturating_sub(len - 1);
        self.slots
            .iter()
            .flatten()
            .filter(|slot| slot.tick >= oldest && slot.tick <= tick)
            .map(|slot| slot.value)
            .max()
            .unwrap_or(0)
    }
}

/// The slot of `tick`.
fn slot_index(tick: u64) -> usize {
    // Lossless: the remainder is below SLOTS.
    usize::try_from(tick % MAX_LEN).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_maximum_of_the_window_and_forgets_older_ticks() {
        let mut f = WindowedMax::new();
        assert_eq!(f.max(0, 2), 0);
        assert_eq!(f.update(10, 0, 2), 10);
        assert_eq!(f.update(5, 0, 2), 10, "the best of a tick stays");
        assert_eq!(f.update(7, 1, 2), 10, "the previous tick is still in a window of 2");
        assert_eq!(f.update(3, 2, 2), 7, "tick 0 left the window");
        assert_eq!(f.update(1, 3, 2), 3);
        assert_eq!(f.update(0, 5, 2), 0, "an empty tick in between");
        assert_eq!(f.max(5, 10), 10, "a longer window still sees tick 0");
    }

    #[test]
    fn slots_are_reused_after_a_full_window() {
        let mut f = WindowedMax::new();
        f.update(100, 0, MAX_LEN);
        for tick in 1..MAX_LEN {
            assert_eq!(f.update(tick, tick, MAX_LEN), 100);
        }
        assert_eq!(f.update(1, MAX_LEN, MAX_LEN), MAX_LEN - 1, "tick 0's slot was taken over");
        assert_eq!(f.update(u64::MAX, u64::MAX, MAX_LEN), u64::MAX);
        assert_eq!(f.max(u64::MAX - MAX_LEN, 1), 0, "nothing at that tick");
    }

    #[test]
    fn a_late_sample_for_an_overwritten_tick_is_ignored() {
        let mut f = WindowedMax::new();
        f.update(1, MAX_LEN, MAX_LEN);
        f.update(50, 0, MAX_LEN);
        assert_eq!(f.max(MAX_LEN, MAX_LEN), 1, "the newer tick's slot is untouched");
    }
}
