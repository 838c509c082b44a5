//! [`Connection`]: one reliable, encrypted byte stream in each direction, as
//! [`futures_io::AsyncRead`] + [`futures_io::AsyncWrite`] (on `Connection` and on
//! `&Connection`, so one task can read while another writes).
//!
//! Every call is a `poll_*` of the driver's poll API ([`Shared`]): it takes the socket's lock,
//! calls the endpoint, and sends what it produced straight to the socket from the calling task
//! (a write goes out without a hop through the driver thread, and the first write of a 0-RTT
//! connection leaves in the same datagram as the handshake). When it cannot complete, it
//! registers the task's waker and returns `Pending`; the endpoint's events wake the task.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use futures_io::{AsyncRead, AsyncWrite};
use futures_lite::future::poll_fn;
use lrp2p_driver::{ConnId, ConnectionStats, PublicKey, Shared};

/// A connection to one peer: the Go library's `Conn`.
///
/// - [`AsyncRead`]: pending until data arrives; `Ok(0)` is the end of the peer's stream (it
///   half-closed or dropped its connection).
/// - [`AsyncWrite::poll_write`]: pending while the send buffer (`send_buffer` bytes written
///   but not acknowledged) is full: backpressure, never an unbounded buffer.
/// - [`AsyncWrite::poll_flush`] (`flush().await`): ready once the peer has acknowledged every
///   byte written, as `flush` in lrp2p-std.
/// - [`AsyncWrite::poll_close`] (`AsyncWriteExt::close(&mut conn).await`): **half-close**, not
///   an abort. It queues a FIN after the bytes written (the peer reads them, then `Ok(0)`) and
///   is ready once the peer has acknowledged every byte written; writing fails with
///   [`io::ErrorKind::BrokenPipe`] from then on, reading continues. It is
///   [`shutdown`](Connection::shutdown) followed by `flush`.
/// - [`close`](Connection::close) (the inherent method, not async) aborts at once. Method
///   resolution picks it over `AsyncWriteExt::close` on a `Connection`; for the half-close
///   write `AsyncWriteExt::close(&mut conn).await`, or `conn.shutdown()` and `conn.flush()`.
/// - Dropping it finishes the stream gracefully (a FIN after the data written) and discards
///   what still arrives; the state is freed when the peer finishes too, or the connection is
///   aborted (the peer is sent a CLOSE) 10 s later.
///
/// To bound a call in time, race it against a timer (e.g. `futures_lite::future::or` with an
/// `async_io::Timer`); dropping a pending read, write or flush loses nothing.
pub struct Connection {
    shared: Arc<Shared>,
    id: ConnId,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Connection {
    pub(crate) fn new(shared: Arc<Shared>, id: ConnId) -> Self {
        Connection { shared, id }
    }

    /// Starts a lazy connect now (nothing else).
    pub(crate) fn start(&self) -> io::Result<()> {
        Ok(self.shared.start(self.id)?)
    }

    /// The peer's authenticated static key: known from the start for [`Socket::connect`] and
    /// accepted connections, after the handshake for [`Socket::connect_unknown`].
    ///
    /// [`Socket::connect`]: crate::Socket::connect
    /// [`Socket::connect_unknown`]: crate::Socket::connect_unknown
    pub fn peer_public_key(&self) -> Option<PublicKey> {
        self.shared.peer_key(self.id)
    }

    /// Whether the handshake has completed.
    pub fn is_connected(&self) -> bool {
        self.shared.is_connected(self.id)
    }

    /// Starts the handshake if it has not started, and waits until it completes (or fails:
    /// [`io::ErrorKind::TimedOut`], [`io::ErrorKind::ConnectionRefused`], …). Never needed
    /// before reading or writing; useful to learn early that the peer is there. (lrp2p-std's
    /// `wait_connected`.)
    pub async fn connected(&self) -> io::Result<()> {
        Ok(poll_fn(|cx| self.shared.poll_connected(self.id, cx)).await?)
    }

    /// This connection's counters, while the endpoint still holds its state.
    pub fn stats(&self) -> Option<ConnectionStats> {
        self.shared.connection_stats(self.id)
    }

    /// Half-closes without waiting: queues a FIN after the bytes written so far (the peer
    /// reads them, then the end of the stream); writing fails with
    /// [`io::ErrorKind::BrokenPipe`] from now on; reading continues. To wait until the peer
    /// has everything, `flush` after it (or use `AsyncWriteExt::close`, which does both).
    pub fn shutdown(&self) -> io::Result<()> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match self.shared.poll_shutdown(self.id, &mut cx) {
            Poll::Ready(result) => Ok(result?),
            // The driver's shutdown never waits.
            Poll::Pending => Ok(()),
        }
    }

    /// Closes at once (an abort): the peer is sent a CLOSE; unsent and unacknowledged data is
    /// dropped and the peer's reads fail with [`io::ErrorKind::ConnectionReset`] unless it had
    /// read the whole stream. For a graceful end, half-close and flush first (or just drop the
    /// connection). Later calls fail with [`io::ErrorKind::NotConnected`].
    pub fn close(&self) {
        self.shared.close(self.id);
    }

    fn read_impl(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.shared.poll_read(self.id, cx, buf).map_err(io::Error::from)
    }

    fn write_impl(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.shared.poll_write(self.id, cx, data).map_err(io::Error::from)
    }

    fn flush_impl(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shared.poll_flush(self.id, cx).map_err(io::Error::from)
    }

    /// Half-close, then flush. `poll_shutdown` is idempotent, so a pending close may be
    /// polled again.
    fn close_impl(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.shared.poll_shutdown(self.id, cx))?;
        self.flush_impl(cx)
    }
}

impl AsyncRead for Connection {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.read_impl(cx, buf)
    }
}

impl AsyncRead for &Connection {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.read_impl(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.write_impl(cx, data)
    }

    /// Ready once the peer has acknowledged every byte written.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.flush_impl(cx)
    }

    /// Half-close: a FIN after the bytes written; ready once the peer has acknowledged them.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.close_impl(cx)
    }
}

impl AsyncWrite for &Connection {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.write_impl(cx, data)
    }

    /// Ready once the peer has acknowledged every byte written.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.flush_impl(cx)
    }

    /// Half-close: a FIN after the bytes written; ready once the peer has acknowledged them.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.close_impl(cx)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared.drop_connection(self.id);
    }
}
