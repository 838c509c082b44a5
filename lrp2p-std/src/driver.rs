//! The driver thread: the one place that receives datagrams and runs timers.
//!
//! It loops: under the lock, run due timers, dispatch events and flush datagrams, and note the
//! next deadline; without the lock, block in `recv_from` with a read timeout until that
//! deadline (capped at [`MAX_SLEEP`]); on a datagram, take the lock, hand it to the endpoint,
//! and take in up to [`RECV_BATCH`] more that are already queued before flushing once.
//!
//! Application threads send what their own calls produce (see [`State::after_call`]); when a
//! call moves the endpoint's next deadline earlier than the one the driver sleeps towards, they
//! wake it with an empty datagram to the socket's own address.
//!
//! The socket is switched to non-blocking only while the driver drains the queue, and only
//! while it holds the lock. Every send happens under the lock too, so no sender ever meets a
//! non-blocking socket.
//!
//! [`State::after_call`]: crate::state::State::after_call

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::state::{Shared, State};

/// Longest the driver sleeps without looking at the clock (it also bounds how long dropping
/// the socket can wait for the thread if the wake-up datagram is lost).
pub(crate) const MAX_SLEEP: Duration = Duration::from_millis(250);

/// Datagrams taken in per wake-up before the endpoint's output is flushed.
pub(crate) const RECV_BATCH: usize = 64;

/// Largest UDP payload received (anything larger is truncated and fails authentication).
const RECV_BUF: usize = 65_536;

/// The driver thread's body; returns when the socket is dropped.
pub(crate) fn run(shared: Arc<Shared>) {
    let mut buf = vec![0u8; RECV_BUF];
    let mut failures = 0u32;
    loop {
        let timeout = {
            let mut state = shared.lock();
            if state.stopping {
                return;
            }
            let now = Instant::now();
            state.handle_timeouts(now);
            state.process(&shared, now);
            let timeout = state
                .next_deadline()
                .map_or(MAX_SLEEP, |deadline| deadline.saturating_duration_since(now).min(MAX_SLEEP));
            if timeout.is_zero() {
                continue;
            }
            state.driver_sleeps_until = Some(now + timeout);
            timeout
        };
        if shared.socket.set_read_timeout(Some(timeout)).is_err() {
            failures += 1;
        }
        match shared.socket.recv_from(&mut buf) {
            Ok((len, from)) => {
                failures = 0;
                let mut state = shared.lock();
                state.driver_sleeps_until = None;
                if state.stopping {
                    return;
                }
                let now = Instant::now();
                receive(&mut state, now, from, &mut buf[..len]);
                drain_queue(&shared, &mut state, now, &mut buf);
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                shared.lock().driver_sleeps_until = None;
            }
            Err(_) => {
                // ICMP errors reported on some systems (e.g. a port unreachable on Windows):
                // nothing to do but carry on; back off a little if they keep coming.
                failures += 1;
                shared.lock().driver_sleeps_until = None;
            }
        }
        if failures > 8 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Takes in the datagrams already queued, without blocking: at most [`RECV_BATCH`].
fn drain_queue(shared: &Shared, state: &mut State, now: Instant, buf: &mut [u8]) {
    if shared.socket.set_nonblocking(true).is_err() {
        return;
    }
    for _ in 0..RECV_BATCH {
        match shared.socket.recv_from(buf) {
            Ok((len, from)) => receive(state, now, from, &mut buf[..len]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(_) => {}
        }
    }
    // If this fails the next blocking receive returns WouldBlock at once and the loop retries.
    let _ = shared.socket.set_nonblocking(false);
}

fn receive(state: &mut State, now: Instant, from: std::net::SocketAddr, datagram: &mut [u8]) {
    // Empty datagrams are the application threads' wake-ups.
    if !datagram.is_empty() {
        state.endpoint.handle_datagram(now, from, datagram);
    }
}
