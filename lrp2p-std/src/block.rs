//! Blocking on the driver's poll API: [`block_on`] polls until ready, parking the thread in
//! between; the waker unparks it. A deadline bounds the wait (read, write and accept
//! timeouts).

use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Instant;

/// Wakes a parked thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

thread_local! {
    /// This thread's waker: one per thread, so that waker sets recognise it (`will_wake`).
    static WAKER: Waker = Waker::from(Arc::new(Unpark(thread::current())));
}

/// Polls `poll` until it is ready, parking the thread while it is pending. `None` when
/// `deadline` passes first (checked after a pending poll, so a ready result always wins).
pub(crate) fn block_on<T>(
    deadline: Option<Instant>,
    mut poll: impl FnMut(&mut Context<'_>) -> Poll<T>,
) -> Option<T> {
    WAKER.with(|waker| {
        let mut cx = Context::from_waker(waker);
        loop {
            if let Poll::Ready(value) = poll(&mut cx) {
                return Some(value);
            }
            match deadline {
                None => thread::park(),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    thread::park_timeout(left);
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::*;

    #[test]
    fn ready_at_once() {
        assert_eq!(block_on(Some(Instant::now()), |_| Poll::Ready(7)), Some(7));
    }

    #[test]
    fn times_out() {
        let started = Instant::now();
        let got: Option<()> = block_on(Some(started + Duration::from_millis(30)), |_| Poll::Pending);
        assert_eq!(got, None);
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn woken_from_another_thread() {
        let done = Arc::new(AtomicBool::new(false));
        let waker: Arc<Mutex<Option<Waker>>> = Arc::default();
        let (d, w) = (done.clone(), waker.clone());
        let helper = thread::spawn(move || {
            loop {
                if let Some(waker) = w.lock().map(|mut w| w.take()).ok().flatten() {
                    d.store(true, Ordering::SeqCst);
                    waker.wake();
                    return;
                }
                thread::sleep(Duration::from_millis(1));
            }
        });
        let got = block_on(Some(Instant::now() + Duration::from_secs(10)), |cx| {
            if done.load(Ordering::SeqCst) {
                return Poll::Ready(true);
            }
            if let Ok(mut w) = waker.lock() {
                *w = Some(cx.waker().clone());
            }
            Poll::Pending
        });
        assert_eq!(got, Some(true));
        helper.join().expect("helper thread");
    }
}
