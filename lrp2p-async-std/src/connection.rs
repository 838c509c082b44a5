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
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use futures_lite::future::poll_fn;
use lrp2p_driver::{AppProtocol, ConnId, ConnectionStats, PathInfo, PublicKey, Shared};

/// A connection to one peer: the Go library's `Conn`.
///
/// - [`AsyncRead`]: pending until data arrives; `Ok(0)` is the end of the peer's stream (it
///   half-closed or dropped its connection).
/// - [`AsyncWrite::poll_write`]: pending while the send buffer (`send_buffer` bytes written
///   but not acknowledged) is full: backpressure, never an unbounded buffer.
/// - [`AsyncWrite::poll_flush`] (`flush().await`): ready at once, as on a `TcpStream`:
///   written bytes are already in the endpoint's hands, which sends them as congestion and
///   flow control allow (it only starts a lazy connect). To wait until the peer has
///   acknowledged every byte, use [`acknowledged`](Connection::acknowledged).
/// - [`AsyncWrite::poll_close`] (`AsyncWriteExt::close(&mut conn).await`): **half-close**, not
///   an abort, ready at once: it queues a FIN after the bytes written (the peer reads them,
///   then `Ok(0)`); writing fails with [`io::ErrorKind::BrokenPipe`] from then on, reading
///   continues. The same as the inherent [`shutdown`](Connection::shutdown).
/// - [`close`](Connection::close) (the inherent method, not async) aborts at once. **Name
///   clash:** method resolution picks this inherent `close` over `AsyncWriteExt::close` on a
///   `Connection`, so `conn.close()` aborts; for the half-close write `conn.shutdown()` or
///   `AsyncWriteExt::close(&mut conn).await`.
/// - Dropping it finishes the stream gracefully (a FIN after the data written) and discards
///   what still arrives; the state is freed when the peer finishes too, or the connection is
///   aborted (the peer is sent a CLOSE) 10 s later.
///
/// To bound a call in time, race it against a timer (e.g. `futures_lite::future::or` with an
/// `async_io::Timer`); dropping a pending read, write or `acknowledged` loses nothing.
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
    ///
    /// ```no_run
    /// # async fn example(socket: lrp2p_async_std::Socket, peer: lrp2p_async_std::PublicKey) -> std::io::Result<()> {
    /// let conn = socket.connect_unknown("203.0.113.7:7000").await?;
    /// conn.connected().await?;
    /// assert!(conn.peer_public_key().is_some());
    /// # Ok(())
    /// # }
    /// ```
    pub fn peer_public_key(&self) -> Option<PublicKey> {
        self.shared.peer_key(self.id)
    }

    /// The application protocol id (PROTOCOL.md §7.7): the one this side connected with
    /// ([`Socket::connect_with`](crate::Socket::connect_with)), or, on an accepted connection,
    /// the one the peer sent with its first data; `None` if it sent none (or, when it wrote
    /// nothing before its handshake, until its first data arrived).
    pub fn app_protocol(&self) -> Option<AppProtocol> {
        self.shared.app_protocol(self.id)
    }

    /// The connection's current path (PROTOCOL.md §13.1): [`PathKind::Direct`](crate::PathKind::Direct), or
    /// [`PathKind::Relayed`](crate::PathKind::Relayed) through the rendezvous service (§13.8: a dial by key
    /// starts there, then moves to a direct path once one answers), the address every datagram
    /// goes to (for a relayed path the service's), whether the peer proved it receives there,
    /// the new address being validated when the peer was seen elsewhere (a NAT rebinding), and
    /// how many times the path changed. `None` once the socket let the connection go.
    /// `path_changed` waits for the next change.
    pub fn path(&self) -> Option<PathInfo> {
        self.shared.path(self.id)
    }

    /// Waits until the path differs from `after` (an earlier [`path`](Connection::path)
    /// reading: relay → direct, direct → relay, a validated new address) and returns it, or
    /// `None` once the connection ended.
    ///
    /// ```no_run
    /// # async fn example(conn: &lrp2p_async_std::Connection) {
    /// let mut path = conn.path().expect("open");
    /// while let Some(next) = conn.path_changed(&path).await {
    ///     println!("now {:?} via {}", next.kind, next.remote);
    ///     path = next;
    /// }
    /// # }
    /// ```
    pub async fn path_changed(&self, after: &PathInfo) -> Option<PathInfo> {
        poll_fn(|cx| self.shared.poll_path_changed(self.id, cx, after)).await
    }

    /// Whether the peer is proven: for a connection from `connect`, once the handshake
    /// completed; for an accepted one, once the initiator proved that it holds its handshake
    /// keys at its address (PROTOCOL.md §10.5). Until then an accepted IK connection — whose
    /// 0-RTT data is readable at once — may be a forged or replayed initiation.
    pub fn is_confirmed(&self) -> bool {
        self.shared.is_confirmed(self.id)
    }

    /// Whether the handshake has completed.
    pub fn is_connected(&self) -> bool {
        self.shared.is_connected(self.id)
    }

    /// Starts the handshake if it has not started, and waits until it completes (or fails:
    /// [`io::ErrorKind::TimedOut`], [`io::ErrorKind::ConnectionRefused`], …). Never needed
    /// before reading or writing; useful to learn early that the peer is there. (lrp2p-std's
    /// `connected`.)
    ///
    /// ```no_run
    /// # async fn example(socket: lrp2p_async_std::Socket, peer: lrp2p_async_std::PublicKey) -> std::io::Result<()> {
    /// let conn = socket.connect("203.0.113.7:7000", peer).await?;
    /// // Fails with TimedOut or ConnectionRefused if the peer is not there or refuses us.
    /// conn.connected().await?;
    /// assert!(conn.is_connected());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connected(&self) -> io::Result<()> {
        Ok(poll_fn(|cx| self.shared.poll_connected(self.id, cx)).await?)
    }

    /// Waits until the peer is proven ([`is_confirmed`](Connection::is_confirmed)), or fails
    /// as [`connected`](Connection::connected) does; an accepted connection never confirmed ends
    /// with [`io::ErrorKind::TimedOut`] at the handshake timeout. A server that grants scarce
    /// per-peer resources (a session slot, disk space) can wait for this first, so that forged
    /// initiations hold none of them.
    pub async fn confirmed(&self) -> io::Result<()> {
        Ok(poll_fn(|cx| self.shared.poll_confirmed(self.id, cx)).await?)
    }

    /// This connection's counters, while the endpoint still holds its state.
    ///
    /// ```no_run
    /// # async fn example(socket: lrp2p_async_std::Socket, peer: lrp2p_async_std::PublicKey) -> std::io::Result<()> {
    /// let conn = socket.connect("203.0.113.7:7000", peer).await?;
    /// conn.connected().await?;
    /// if let Some(stats) = conn.stats() {
    ///     println!("{stats:?}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn stats(&self) -> Option<ConnectionStats> {
        self.shared.connection_stats(self.id)
    }

    /// Half-closes and returns at once: queues a FIN after the bytes written so far (the peer
    /// reads them, then the end of the stream); writing fails with
    /// [`io::ErrorKind::BrokenPipe`] from now on; reading continues. What
    /// `AsyncWriteExt::close` does too. To wait until the peer has the whole stream, await
    /// [`acknowledged`](Connection::acknowledged) after it.
    ///
    /// ```no_run
    /// # async fn example(socket: lrp2p_async_std::Socket, peer: lrp2p_async_std::PublicKey) -> std::io::Result<()> {
    /// use futures_lite::AsyncWriteExt;
    ///
    /// let mut conn = socket.connect("203.0.113.7:7000", peer).await?;
    /// conn.write_all(b"the whole message").await?;
    /// conn.shutdown()?;
    /// conn.acknowledged().await?; // the peer has every byte and the FIN
    /// # Ok(())
    /// # }
    /// ```
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
    /// read the whole stream. For a graceful end, half-close and await
    /// [`acknowledged`](Connection::acknowledged) first (or just drop the connection). Later
    /// calls fail with [`io::ErrorKind::NotConnected`]. It shadows `AsyncWriteExt::close`
    /// (a half-close; see [`Connection`]).
    ///
    /// ```no_run
    /// # async fn example(socket: lrp2p_async_std::Socket, peer: lrp2p_async_std::PublicKey) -> std::io::Result<()> {
    /// let conn = socket.connect("203.0.113.7:7000", peer).await?;
    /// // Gave up waiting: abort, the peer's reads fail with ConnectionReset.
    /// conn.close();
    /// # Ok(())
    /// # }
    /// ```
    pub fn close(&self) {
        self.shared.close(self.id);
    }

    /// Waits until the peer has acknowledged every byte written, and the FIN too after a
    /// half-close (or the connection finished gracefully); fails with the error that ended
    /// the connection otherwise. `flush` does not wait (see [`Connection`]). Await it after
    /// [`shutdown`](Connection::shutdown) to know the peer has the whole stream before
    /// dropping the socket. Starts a lazy connect. (lrp2p-std's blocking `acknowledged`.)
    pub async fn acknowledged(&self) -> io::Result<()> {
        Ok(poll_fn(|cx| self.shared.poll_acknowledged(self.id, cx)).await?)
    }

    fn read_impl(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.shared.poll_read(self.id, cx, buf).map_err(io::Error::from)
    }

    fn write_impl(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.shared.poll_write(self.id, cx, data).map_err(io::Error::from)
    }

    /// Everything written is in the endpoint's hands already; only a lazy connect is started.
    fn flush_impl(&self) -> Poll<io::Result<()>> {
        Poll::Ready(self.start())
    }

    /// Half-close; the driver's `poll_shutdown` is ready at once.
    fn close_impl(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shared.poll_shutdown(self.id, cx).map_err(io::Error::from)
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

    /// Ready at once (starting a lazy connect): see [`Connection`].
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.flush_impl()
    }

    /// Half-close: queues a FIN after the bytes written; ready at once.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.close_impl(cx)
    }
}

impl AsyncWrite for &Connection {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.write_impl(cx, data)
    }

    /// Ready at once (starting a lazy connect): see [`Connection`].
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.flush_impl()
    }

    /// Half-close: queues a FIN after the bytes written; ready at once.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.close_impl(cx)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared.drop_connection(self.id);
    }
}
