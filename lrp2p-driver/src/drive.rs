//! [`drive`]: the one future per socket that receives datagrams and runs timers, on any
//! runtime.
//!
//! Each round it receives what is queued (one batch), and under the lock feeds it to the
//! endpoint, runs due timers, dispatches events and flushes datagrams; when nothing more is
//! queued it waits for whichever comes first: the socket readable, the endpoint's next
//! deadline, a wake from an application call (which moved that deadline earlier or left
//! datagrams unsent: see [`State::after_call`]), or the socket writable while datagrams are
//! stashed. It ends when the socket is stopped.
//!
//! Application tasks send what their own calls produce; the driver sends only what timers
//! and received datagrams produce, and the stash.
//!
//! [`State::after_call`]: crate::state::State::after_call

use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::batch::RecvBatch;
use crate::io::AsyncTimer;
use crate::shared::Shared;
use crate::state::State;

/// Longest the driver sleeps without looking at the clock (the endpoint's wall-clock
/// reference is refreshed then).
pub(crate) const MAX_SLEEP: Duration = Duration::from_secs(1);

/// Rounds (receive batches or timer firings) per poll before the driver yields to its
/// runtime, so that a flood does not starve other tasks on the same thread.
const ROUNDS_PER_POLL: usize = 32;

/// Datagrams fed to the endpoint between two flushes of what it has to send, within one
/// receive batch (with GRO a batch holds up to a thousand): the receiver's ACKs and the data
/// they release leave every this many datagrams instead of once per batch.
const FLUSH_EVERY: usize = 64;

/// Drives `shared` until it is stopped: receives datagrams, runs timers, sends what they
/// produce. Spawn it on the runtime (or `block_on` it on a thread of its own) once per socket.
pub async fn drive<T: AsyncTimer>(shared: Arc<Shared>, timer: T) {
    let mut timer = pin!(timer);
    let mut driver = Driver { recv: RecvBatch::new(shared.io.max_receive_segments()), armed: None };
    std::future::poll_fn(|cx| driver.poll(&shared, timer.as_mut(), cx)).await;
}

/// The driver's own state between polls.
struct Driver {
    recv: RecvBatch,
    /// The deadline the timer is set to.
    armed: Option<Instant>,
}

impl Driver {
    fn poll<T: AsyncTimer>(
        &mut self,
        shared: &Shared,
        mut timer: Pin<&mut T>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        for _ in 0..ROUNDS_PER_POLL {
            // Receive without the lock; an error (an ICMP report on some systems) is skipped.
            let received = match self.recv.poll_recv(&*shared.io, cx) {
                Poll::Ready(Ok(n)) => Some(n),
                Poll::Ready(Err(_)) => Some(0),
                Poll::Pending => None,
            };
            let mut state = shared.lock();
            state.driver_waker = None;
            state.driver_sleeps_until = None;
            let now = Instant::now();
            if state.stopping {
                // The last datagrams (the CLOSEs) leave before the driver ends.
                state.flush_transmits(&*shared.io, now);
                if state.sender.is_stashed() && shared.io.poll_writable(cx).is_pending() {
                    return Poll::Pending;
                }
                if !state.sender.is_stashed() {
                    return Poll::Ready(());
                }
                continue;
            }
            if let Some(n) = received.filter(|&n| n > 0) {
                let State { endpoint, sender, .. } = &mut *state;
                let mut unflushed = 0;
                let datagrams = self.recv.for_each(n, |from, datagram| {
                    if !datagram.is_empty() {
                        endpoint.handle_datagram(now, from, datagram);
                    }
                    // A batch can hold hundreds of datagrams: let the endpoint answer (ACKs,
                    // data the ACKs released) along the way, not once at the end.
                    unflushed += 1;
                    if unflushed == FLUSH_EVERY {
                        unflushed = 0;
                        sender.flush(&*shared.io, endpoint, now);
                    }
                });
                state.sender.stats.recv_calls += 1;
                state.sender.stats.datagrams_received += datagrams as u64;
            }
            state.handle_timeouts(now);
            state.process(&*shared.io, now);
            if received.is_some() {
                // More may be queued: receive until the socket says Pending (which registers us).
                continue;
            }
            if state.sender.is_stashed() && shared.io.poll_writable(cx).is_ready() {
                continue;
            }
            // The endpoint's deadline if it comes within MAX_SLEEP; else keep the timer as it
            // is when it is set within MAX_SLEEP and not later than that deadline.
            let wanted = state.next_deadline();
            let longest = now + MAX_SLEEP;
            let deadline = match (wanted, self.armed) {
                (Some(wanted), _) if wanted <= longest => wanted,
                (_, Some(armed)) if armed > now && armed <= longest => armed,
                _ => longest,
            };
            if deadline <= now {
                continue;
            }
            if self.armed != Some(deadline) {
                timer.as_mut().reset(deadline);
                self.armed = Some(deadline);
            }
            if timer.as_mut().poll(cx).is_ready() {
                self.armed = None;
                continue;
            }
            state.driver_waker = Some(cx.waker().clone());
            state.driver_sleeps_until = Some(deadline);
            return Poll::Pending;
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::io::{self, IoSliceMut};
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    use lrp2p_proto::EndpointConfig;
    use lrp2p_proto::StaticSecret;

    use super::*;
    use crate::io::{RecvMeta, Transmit, UdpIo};

    /// A socket that sends everything and never receives.
    #[derive(Debug, Default)]
    struct Quiet {
        sent: AtomicUsize,
    }

    impl UdpIo for Quiet {
        fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<usize> {
            self.sent.fetch_add(transmit.count(), Ordering::SeqCst);
            Ok(transmit.count())
        }

        fn poll_writable(&self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_recv(
            &self,
            _: &mut Context<'_>,
            _: &mut [IoSliceMut<'_>],
            _: &mut [RecvMeta],
        ) -> Poll<io::Result<usize>> {
            Poll::Pending
        }

        fn local_addr(&self) -> io::Result<SocketAddr> {
            Ok(SocketAddr::from(([127, 0, 0, 1], 1)))
        }
    }

    /// A timer that fires once its deadline has passed when polled (it never wakes anybody).
    #[derive(Debug, Default)]
    struct ManualTimer(Option<Instant>);

    impl AsyncTimer for ManualTimer {
        fn reset(self: Pin<&mut Self>, deadline: Instant) {
            self.get_mut().0 = Some(deadline);
        }

        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            if self.0.is_some_and(|d| d <= Instant::now()) { Poll::Ready(()) } else { Poll::Pending }
        }
    }

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn woken_by_an_earlier_deadline_and_ended_by_stop() {
        let io = Arc::new(Quiet::default());
        let mut rng = <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(3);
        let peer = StaticSecret::generate(&mut rng).public_key();
        let mut config = EndpointConfig::default();
        config.connection.handshake_rto = Duration::from_millis(200);
        let shared = Shared::new(io.clone(), StaticSecret::generate(&mut rng), config);
        let wakes = Arc::new(Count::default());
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = Box::pin(drive(shared.clone(), ManualTimer::default()));
        assert!(future.as_mut().poll(&mut cx).is_pending());
        assert_eq!(wakes.0.load(Ordering::SeqCst), 0);

        // A connect sends its first datagram from the calling thread, and its handshake
        // retransmission timer (200 ms) is earlier than the driver's sleep (1 s): the driver
        // is woken.
        let id = shared.open(SocketAddr::from(([127, 0, 0, 1], 9)), Some(peer)).expect("open");
        shared.start(id).expect("start");
        assert_eq!(io.sent.load(Ordering::SeqCst), 1);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        assert!(future.as_mut().poll(&mut cx).is_pending());

        shared.stop(Duration::ZERO);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 2);
        assert!(future.as_mut().poll(&mut cx).is_ready());
    }
}
