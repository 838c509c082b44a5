//! [`WakerSet`]: the tasks (or blocked threads) waiting for one thing, woken all at once.
//!
//! What the blocking adapter did with condition variables, the driver does with wakers: a
//! call that cannot complete registers its waker here and returns `Pending`; the event that
//! may let it complete wakes every waiter, and each polls again (spurious wake-ups are
//! harmless, lost ones are not).

use std::task::Waker;

/// Waiters for one condition. A waker already registered (by `will_wake`) is not added
/// twice, so a task polled again and again keeps one entry; the set is emptied on wake.
///
/// A waiter that gives up (a future dropped by a timeout or a `select!`) cannot be told
/// apart from one still waiting, so its waker stays until the next wake. To keep such
/// leftovers from piling up (a server polling `accept` under a timeout, in a loop, with no
/// peer coming), a set that reaches [`WakerSet::MAX`] wakes everyone and starts afresh: the
/// live waiters poll again and re-register, the stale wakers are dropped.
#[derive(Debug, Default)]
pub(crate) struct WakerSet {
    wakers: Vec<Waker>,
}

impl WakerSet {
    /// The most wakers held before a set wakes them all to shed stale ones.
    pub(crate) const MAX: usize = 64;

    /// Registers `waker` (once).
    pub(crate) fn register(&mut self, waker: &Waker) {
        if !self.wakers.iter().any(|w| w.will_wake(waker)) {
            if self.wakers.len() >= Self::MAX {
                self.wake_all();
            }
            self.wakers.push(waker.clone());
        }
    }

    /// Whether anybody waits.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.wakers.is_empty()
    }

    /// Wakes and forgets every waiter.
    pub(crate) fn wake_all(&mut self) {
        for waker in self.wakers.drain(..) {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;

    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn registers_once_and_wakes_all() {
        let (a, b) = (Arc::new(Counter(AtomicUsize::new(0))), Arc::new(Counter(AtomicUsize::new(0))));
        let (wa, wb) = (Waker::from(a.clone()), Waker::from(b.clone()));
        let mut set = WakerSet::default();
        set.register(&wa);
        set.register(&wa);
        set.register(&wb);
        set.wake_all();
        assert_eq!(a.0.load(Ordering::SeqCst), 1);
        assert_eq!(b.0.load(Ordering::SeqCst), 1);
        assert!(set.is_empty());
        set.wake_all();
        assert_eq!(a.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn stale_wakers_do_not_pile_up() {
        let mut set = WakerSet::default();
        let counters: Vec<_> =
            (0..3 * WakerSet::MAX).map(|_| Arc::new(Counter(AtomicUsize::new(0)))).collect();
        for counter in &counters {
            // Each waiter registers once and is then dropped (cancelled) without being woken.
            set.register(&Waker::from(counter.clone()));
            assert!(set.wakers.len() <= WakerSet::MAX);
        }
        // Everyone registered before the last shed was woken (and could re-register).
        let woken = counters.iter().filter(|c| c.0.load(Ordering::SeqCst) == 1).count();
        assert_eq!(woken, 2 * WakerSet::MAX);
    }
}
