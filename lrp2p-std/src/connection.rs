//! [`Connection`]: one reliable, encrypted byte stream in each direction, as
//! [`std::io::Read`] + [`std::io::Write`] (on `Connection` and on `&Connection`, so one thread
//! can read while another writes).
//!
//! Every call takes the socket's lock, calls the endpoint, and flushes what the call produced
//! straight to the socket from the calling thread: a write goes out without a hop through the
//! driver thread (one context switch less per write, and the first write of a 0-RTT connection
//! leaves in the same datagram as the handshake). Blocking calls wait on the connection's
//! condition variable, which the event dispatch signals.

use std::io;
use std::sync::{Arc, Condvar, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use lrp2p_proto::connection::{CloseReason, ConnectionStats};
use lrp2p_proto::endpoint::{ReadError, WriteError};
use lrp2p_proto::identity::PublicKey;
use lrp2p_proto::wire::close_code;

use crate::error::Error;
use crate::state::{Shared, State};

/// A connection to one peer: the Go library's `Conn`.
///
/// - [`Read`](io::Read) blocks until data arrives; `Ok(0)` is the end of the peer's stream
///   (it called [`shutdown`](Connection::shutdown) or dropped its connection).
/// - [`Write`](io::Write) blocks while the send buffer (`send_buffer` bytes written but not
///   acknowledged) is full: backpressure, never an unbounded buffer.
/// - [`flush`](io::Write::flush) blocks until the peer has acknowledged every byte written.
/// - Dropping it finishes the stream gracefully (a FIN after the data written) and discards
///   what still arrives; the state is freed when the peer finishes too, or the connection is
///   aborted (the peer is sent a CLOSE) 10 s later. Use [`close`](Connection::close) to abort
///   at once.
pub struct Connection {
    shared: Arc<Shared>,
    id: u64,
    cond: Arc<Condvar>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("id", &self.id).finish_non_exhaustive()
    }
}

/// Turns a "connection ended" into what a write or read returns.
fn end_error(end: Option<Error>) -> io::Error {
    end.unwrap_or(Error::Shutdown).into()
}

impl Connection {
    pub(crate) fn new(shared: Arc<Shared>, id: u64, cond: Arc<Condvar>) -> Self {
        Connection { shared, id, cond }
    }

    /// Waits on this connection's condition variable until `deadline`; the flag says the
    /// deadline had already passed (nothing waited).
    fn wait<'a>(
        &self,
        state: MutexGuard<'a, State>,
        deadline: Option<Instant>,
    ) -> (MutexGuard<'a, State>, bool) {
        match deadline {
            None => (self.cond.wait(state).unwrap_or_else(PoisonError::into_inner), false),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return (state, true);
                }
                let (state, _) = self.cond.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner);
                (state, false)
            }
        }
    }

    fn deadline(&self, state: &State, write: bool) -> Option<Instant> {
        let conn = state.conns.get(&self.id)?;
        let timeout = if write { conn.write_timeout } else { conn.read_timeout };
        timeout.map(|t| Instant::now() + t)
    }

    /// Starts a lazy connect now (nothing else).
    pub(crate) fn start(&self) -> io::Result<()> {
        let mut state = self.shared.lock();
        let now = Instant::now();
        state.start(self.id, now)?;
        state.after_call(&self.shared, now);
        Ok(())
    }

    /// The peer's authenticated static key: known from the start for [`Socket::connect`] and
    /// accepted connections, after the handshake for [`Socket::connect_unknown`].
    ///
    /// [`Socket::connect`]: crate::Socket::connect
    /// [`Socket::connect_unknown`]: crate::Socket::connect_unknown
    pub fn peer_public_key(&self) -> Option<PublicKey> {
        let state = self.shared.lock();
        let conn = state.conns.get(&self.id)?;
        conn.peer.or_else(|| conn.handle.and_then(|h| state.endpoint.peer_key(h)))
    }

    /// Whether the handshake has completed.
    pub fn is_connected(&self) -> bool {
        self.shared.lock().conns.get(&self.id).is_some_and(|c| c.connected)
    }

    /// Starts the handshake if it has not started, and waits until it completes (or fails:
    /// [`io::ErrorKind::TimedOut`], [`io::ErrorKind::ConnectionRefused`], …). Never needed
    /// before reading or writing; useful to learn early that the peer is there.
    pub fn wait_connected(&self) -> io::Result<()> {
        let mut state = self.shared.lock();
        let deadline = self.deadline(&state, false);
        loop {
            if state.conns.get(&self.id).is_some_and(|c| c.connected) {
                return Ok(());
            }
            if let Some(end) = state.ended(self.id) {
                return end.map_or(Ok(()), |e| Err(e.into()));
            }
            let now = Instant::now();
            state.start(self.id, now)?;
            state.after_call(&self.shared, now);
            let timed_out;
            (state, timed_out) = self.wait(state, deadline);
            if timed_out {
                return Err(Error::Timeout.into());
            }
        }
    }

    /// This connection's counters, while the endpoint still holds its state.
    pub fn stats(&self) -> Option<ConnectionStats> {
        let state = self.shared.lock();
        let handle = state.conns.get(&self.id)?.handle?;
        state.endpoint.connection_stats(handle)
    }

    /// Bounds how long a read (and [`wait_connected`](Connection::wait_connected)) blocks:
    /// past it, the call fails with [`io::ErrorKind::TimedOut`]. `None` (the default) waits
    /// as long as the connection lives.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) {
        if let Some(conn) = self.shared.lock().conns.get_mut(&self.id) {
            conn.read_timeout = timeout;
        }
    }

    /// Bounds how long a write or flush blocks, like [`Connection::set_read_timeout`].
    pub fn set_write_timeout(&self, timeout: Option<Duration>) {
        if let Some(conn) = self.shared.lock().conns.get_mut(&self.id) {
            conn.write_timeout = timeout;
        }
    }

    /// Half-closes: the peer reads the end of the stream after the bytes written so far;
    /// writing fails with [`io::ErrorKind::BrokenPipe`] from now on; reading continues.
    pub fn shutdown(&self) -> io::Result<()> {
        let mut state = self.shared.lock();
        if let Some(end) = state.ended(self.id) {
            return end.map_or(Ok(()), |e| Err(e.into()));
        }
        let now = Instant::now();
        let handle = state.start(self.id, now)?;
        state.endpoint.shutdown(now, handle);
        if let Some(conn) = state.conns.get_mut(&self.id) {
            conn.shut_down = true;
        }
        state.after_call(&self.shared, now);
        Ok(())
    }

    /// Closes at once: the peer is sent a CLOSE; unsent and unacknowledged data is dropped and
    /// the peer's reads fail with [`io::ErrorKind::ConnectionReset`] unless it had read the
    /// whole stream. For a graceful end, [`shutdown`](Connection::shutdown) and
    /// [`flush`](io::Write::flush) first (or just drop the connection). Later calls fail
    /// with [`io::ErrorKind::NotConnected`].
    pub fn close(&self) {
        let mut state = self.shared.lock();
        let now = Instant::now();
        let Some(conn) = state.conns.get_mut(&self.id) else { return };
        if conn.closed.is_some() {
            return;
        }
        conn.salvage.clear();
        match conn.handle {
            Some(handle) => state.endpoint.close(now, handle, close_code::NO_ERROR, b"closed"),
            None => conn.closed = Some(CloseReason::Local { code: close_code::NO_ERROR }),
        }
        state.after_call(&self.shared, now);
    }

    fn read_impl(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut state = self.shared.lock();
        let deadline = self.deadline(&state, false);
        loop {
            if let Some(conn) = state.conns.get_mut(&self.id) {
                if !conn.salvage.is_empty() {
                    let n = buf.len().min(conn.salvage.len());
                    for (dst, src) in buf.iter_mut().zip(conn.salvage.drain(..n)) {
                        *dst = src;
                    }
                    return Ok(n);
                }
                if conn.eof {
                    return Ok(0);
                }
            }
            if let Some(end) = state.ended(self.id) {
                return end.map_or(Ok(0), |e| Err(e.into()));
            }
            let now = Instant::now();
            let handle = state.start(self.id, now)?;
            let result = state.endpoint.read(now, handle, buf);
            if let (Ok(0), Some(conn)) = (result, state.conns.get_mut(&self.id)) {
                conn.eof = true;
            }
            state.after_call(&self.shared, now);
            match result {
                Ok(n) => return Ok(n),
                Err(ReadError::Blocked) => {
                    let timed_out;
                    (state, timed_out) = self.wait(state, deadline);
                    if timed_out {
                        return Err(Error::Timeout.into());
                    }
                }
                // Ended: the dispatch above recorded why (loop to report it).
                Err(_) if state.ended(self.id).is_some() => {}
                Err(_) => return Err(Error::Closed.into()),
            }
        }
    }

    fn write_impl(&self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        let mut state = self.shared.lock();
        let deadline = self.deadline(&state, true);
        loop {
            if let Some(end) = state.ended(self.id) {
                return Err(end_error(end));
            }
            let now = Instant::now();
            let handle = state.start(self.id, now)?;
            let result = state.endpoint.write(now, handle, data);
            state.after_call(&self.shared, now);
            match result {
                Ok(0) => {
                    let timed_out;
                    (state, timed_out) = self.wait(state, deadline);
                    if timed_out {
                        return Err(Error::Timeout.into());
                    }
                }
                Ok(n) => return Ok(n),
                Err(WriteError::Finished) => return Err(Error::Shutdown.into()),
                Err(_) if state.ended(self.id).is_some() => {}
                Err(_) => return Err(Error::Closed.into()),
            }
        }
    }

    fn flush_impl(&self) -> io::Result<()> {
        let mut state = self.shared.lock();
        let deadline = self.deadline(&state, true);
        loop {
            if let Some(end) = state.ended(self.id) {
                return end.map_or(Ok(()), |e| Err(e.into()));
            }
            let now = Instant::now();
            let handle = state.start(self.id, now)?;
            state.after_call(&self.shared, now);
            match state.endpoint.connection_stats(handle) {
                Some(stats) if stats.send_buffered == 0 => return Ok(()),
                Some(_) => {}
                None if state.ended(self.id).is_some() => continue,
                None => return Err(Error::Closed.into()),
            }
            let timed_out;
            if let Some(conn) = state.conns.get_mut(&self.id) {
                conn.flush_waiters += 1;
            }
            (state, timed_out) = self.wait(state, deadline);
            if let Some(conn) = state.conns.get_mut(&self.id) {
                conn.flush_waiters -= 1;
            }
            if timed_out {
                return Err(Error::Timeout.into());
            }
        }
    }
}

impl io::Read for &Connection {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_impl(buf)
    }
}

impl io::Read for Connection {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_impl(buf)
    }
}

impl io::Write for &Connection {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_impl(data)
    }

    /// Waits until the peer has acknowledged every byte written.
    fn flush(&mut self) -> io::Result<()> {
        self.flush_impl()
    }
}

impl io::Write for Connection {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_impl(data)
    }

    /// Waits until the peer has acknowledged every byte written.
    fn flush(&mut self) -> io::Result<()> {
        self.flush_impl()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        let now = Instant::now();
        state.drop_connection(self.id, now);
        state.after_call(&self.shared, now);
    }
}
