//! [`WakerSet`]: the tasks (or blocked threads) waiting for one thing, woken all at once.
//!
//! What the blocking adapter did with condition variables, the driver does with wakers: a
//! call that cannot complete registers its waker here and returns `Pending`; the event that
//! may let it complete wakes every waiter, and each polls again (spurious wake-ups are
//! harmless, lost ones are not).

use std::task::Waker;

/// Waiters for one condition. A waker already registered (by `will_wake`) is not added
/// twice, so a task polled again and again keeps one entry; the set is emptied on wake.
#[derive(Debug, Default)]
pub(crate) struct WakerSet {
    wakers: Vec<Waker>,
}

impl WakerSet {
    /// Registers `waker` (once).
    pub(crate) fn register(&mut self, waker: &Waker) {
        if !self.wakers.iter().any(|w| w.will_wake(waker)) {
            self.wakers.push(waker.clone());
        }
    }

    /// Whether anybody waits.
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
}
