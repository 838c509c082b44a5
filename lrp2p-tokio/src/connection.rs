//! [`Connection`]: one reliable, encrypted byte stream in each direction, as
//! [`tokio::io::AsyncRead`] + [`tokio::io::AsyncWrite`]; and its owned halves
//! ([`Connection::into_split`]).
//!
//! Every call is one of the driver's poll calls ([`Shared`]'s `poll_*`): it takes the socket's
//! lock, calls the endpoint, and sends what it produced straight to the socket from the calling
//! task (a write goes out without a hop through the driver task, and the first write of a
//! 0-RTT connection leaves in the same datagram as the handshake). When it cannot complete, it
//! registers the task's waker and returns `Pending`; the endpoint's events wake it.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use lrp2p_driver::{AppProtocol, ConnId, ConnectionStats, PathInfo, PublicKey, Shared};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// One connection's place in its socket; dropping the last owner (the [`Connection`] or both
/// of its halves) finishes it (see [`Connection`]).
struct Inner {
    shared: Arc<Shared>,
    id: ConnId,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.drop_connection(self.id);
    }
}

impl Inner {
    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let n = std::task::ready!(self.shared.poll_read(self.id, cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }

    fn poll_write(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.shared.poll_write(self.id, cx, data).map_err(io::Error::from)
    }

    /// Everything written is in the endpoint's hands already; only a lazy connect is started.
    fn poll_flush(&self) -> Poll<io::Result<()>> {
        Poll::Ready(self.shared.start(self.id).map_err(io::Error::from))
    }

    fn poll_shutdown(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shared.poll_shutdown(self.id, cx).map_err(io::Error::from)
    }

    async fn acknowledged(&self) -> io::Result<()> {
        Ok(poll_fn(|cx| self.shared.poll_acknowledged(self.id, cx)).await?)
    }
}

/// A connection to one peer: the Go library's `Conn`.
///
/// - [`AsyncRead`] waits until data arrives; a read of 0 bytes is the end of the peer's
///   stream (it shut down its writing side or dropped its connection).
/// - [`AsyncWrite::poll_write`] is `Pending` while the send buffer (`send_buffer` bytes written
///   but not acknowledged) is full: backpressure, never an unbounded buffer.
/// - [`AsyncWrite::poll_flush`] is ready at once, as on a `TcpStream`: written bytes are
///   already in the endpoint's hands, which sends them as congestion and flow control allow.
///   It only starts a lazy connect. To wait until the peer has acknowledged every byte, use
///   [`acknowledged`](Connection::acknowledged).
/// - [`AsyncWrite::poll_shutdown`] half-closes: the peer reads the end of the stream after
///   the bytes written so far; writing fails with [`io::ErrorKind::BrokenPipe`] from then on;
///   reading continues. It is ready at once (the FIN leaves after the data before it).
/// - Dropping it finishes the stream gracefully (a FIN after the data written) and discards
///   what still arrives; the state is freed when the peer finishes too, or the connection is
///   aborted (the peer is sent a CLOSE) 10 s later. Use [`close`](Connection::close) to abort
///   at once.
///
/// Reading and writing from two tasks: [`into_split`](Connection::into_split), or
/// [`tokio::io::split`].
pub struct Connection {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("id", &self.inner.id).finish_non_exhaustive()
    }
}

impl Connection {
    pub(crate) fn new(shared: Arc<Shared>, id: ConnId) -> Self {
        Connection { inner: Arc::new(Inner { shared, id }) }
    }

    /// Starts a lazy connect now (nothing else).
    pub(crate) fn start(&self) -> io::Result<()> {
        Ok(self.inner.shared.start(self.inner.id)?)
    }

    /// The peer's authenticated static key: known from the start for
    /// [`Socket::connect`](crate::Socket::connect) and accepted connections, after the
    /// handshake for [`Socket::connect_unknown`](crate::Socket::connect_unknown).
    ///
    /// ```no_run
    /// # async fn example(socket: lrp2p_tokio::Socket, peer: lrp2p_tokio::PublicKey) -> std::io::Result<()> {
    /// let conn = socket.connect_unknown("203.0.113.7:7000").await?;
    /// conn.connected().await?;
    /// assert!(conn.peer_public_key().is_some());
    /// # Ok(())
    /// # }
    /// ```
    pub fn peer_public_key(&self) -> Option<PublicKey> {
        self.inner.shared.peer_key(self.inner.id)
    }

    /// The application protocol id (PROTOCOL.md §7.7): the one this side connected with
    /// ([`Socket::connect_with`](crate::Socket::connect_with)), or, on an accepted connection,
    /// the one the peer sent with its first data; `None` if it sent none (or, when it wrote
    /// nothing before its handshake, until its first data arrived).
    pub fn app_protocol(&self) -> Option<AppProtocol> {
        self.inner.shared.app_protocol(self.inner.id)
    }

    /// The connection's current path (PROTOCOL.md §13.1): [`PathKind::Direct`](crate::PathKind::Direct), or
    /// [`PathKind::Relayed`](crate::PathKind::Relayed) through the rendezvous service (§13.8: a dial by key
    /// starts there, then moves to a direct path once one answers), the address every datagram
    /// goes to (for a relayed path the service's), whether the peer proved it receives there,
    /// the new address being validated when the peer was seen elsewhere (a NAT rebinding), and
    /// how many times the path changed. `None` once the socket let the connection go.
    /// `path_changed` waits for the next change.
    pub fn path(&self) -> Option<PathInfo> {
        self.inner.shared.path(self.inner.id)
    }

    /// Waits until the path differs from `after` (an earlier [`path`](Connection::path)
    /// reading: relay → direct, direct → relay, a validated new address) and returns it, or
    /// `None` once the connection ended.
    ///
    /// ```no_run
    /// # async fn example(conn: &lrp2p_tokio::Connection) {
    /// let mut path = conn.path().expect("open");
    /// while let Some(next) = conn.path_changed(&path).await {
    ///     println!("now {:?} via {}", next.kind, next.remote);
    ///     path = next;
    /// }
    /// # }
    /// ```
    pub async fn path_changed(&self, after: &PathInfo) -> Option<PathInfo> {
        poll_fn(|cx| self.inner.shared.poll_path_changed(self.inner.id, cx, after)).await
    }

    /// Whether the peer is proven: for a connection from `connect`, once the handshake
    /// completed; for an accepted one, once the initiator proved that it holds its handshake
    /// keys at its address (PROTOCOL.md §10.5). Until then an accepted IK connection — whose
    /// 0-RTT data is readable at once — may be a forged or replayed initiation.
    pub fn is_confirmed(&self) -> bool {
        self.inner.shared.is_confirmed(self.inner.id)
    }

    /// Whether the handshake has completed.
    pub fn is_connected(&self) -> bool {
        self.inner.shared.is_connected(self.inner.id)
    }

    /// Starts the handshake if it has not started, and waits until it completes (or fails:
    /// [`io::ErrorKind::TimedOut`], [`io::ErrorKind::ConnectionRefused`], …). Never needed
    /// before reading or writing; useful to learn early that the peer is there.
    /// (lrp2p-std's `connected`.)
    ///
    /// ```no_run
    /// # async fn example(socket: lrp2p_tokio::Socket, peer: lrp2p_tokio::PublicKey) -> std::io::Result<()> {
    /// let conn = socket.connect("203.0.113.7:7000", peer).await?;
    /// // Fails with TimedOut or ConnectionRefused if the peer is not there or refuses us.
    /// conn.connected().await?;
    /// assert!(conn.is_connected());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connected(&self) -> io::Result<()> {
        Ok(poll_fn(|cx| self.inner.shared.poll_connected(self.inner.id, cx)).await?)
    }

    /// Waits until the peer is proven ([`is_confirmed`](Connection::is_confirmed)), or fails
    /// as [`connected`](Connection::connected) does; an accepted connection never confirmed ends
    /// with [`io::ErrorKind::TimedOut`] at the handshake timeout. A server that grants scarce
    /// per-peer resources (a session slot, disk space) can wait for this first, so that forged
    /// initiations hold none of them.
    pub async fn confirmed(&self) -> io::Result<()> {
        Ok(poll_fn(|cx| self.inner.shared.poll_confirmed(self.inner.id, cx)).await?)
    }

    /// Waits until the peer has acknowledged every byte written, and the FIN too after a
    /// [`shutdown`](tokio::io::AsyncWriteExt::shutdown) (or the connection finished
    /// gracefully); fails with the error that ended the connection otherwise.
    /// [`AsyncWrite::poll_flush`] does not wait (see [`Connection`]). Call it after `shutdown`
    /// to know the peer has the whole stream before dropping the socket. Starts a lazy
    /// connect. (lrp2p-std's blocking `acknowledged`.)
    ///
    /// ```no_run
    /// # async fn example(socket: lrp2p_tokio::Socket, peer: lrp2p_tokio::PublicKey) -> std::io::Result<()> {
    /// use tokio::io::AsyncWriteExt;
    ///
    /// let mut conn = socket.connect("203.0.113.7:7000", peer).await?;
    /// conn.write_all(b"the whole message").await?;
    /// conn.shutdown().await?;
    /// conn.acknowledged().await?; // the peer has every byte and the FIN
    /// # Ok(())
    /// # }
    /// ```
    pub async fn acknowledged(&self) -> io::Result<()> {
        self.inner.acknowledged().await
    }

    /// This connection's counters, while the endpoint still holds its state.
    ///
    /// ```no_run
    /// # async fn example(socket: lrp2p_tokio::Socket, peer: lrp2p_tokio::PublicKey) -> std::io::Result<()> {
    /// let conn = socket.connect("203.0.113.7:7000", peer).await?;
    /// conn.connected().await?;
    /// if let Some(stats) = conn.stats() {
    ///     println!("{stats:?}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn stats(&self) -> Option<ConnectionStats> {
        self.inner.shared.connection_stats(self.inner.id)
    }

    /// Closes at once: the peer is sent a CLOSE; unsent and unacknowledged data is dropped and
    /// the peer's reads fail with [`io::ErrorKind::ConnectionReset`] unless it had read the
    /// whole stream. For a graceful end, shut down and wait for
    /// [`acknowledged`](Connection::acknowledged) first (or just drop the connection). Later
    /// calls fail with [`io::ErrorKind::NotConnected`].
    ///
    /// ```no_run
    /// # async fn example(socket: lrp2p_tokio::Socket, peer: lrp2p_tokio::PublicKey) -> std::io::Result<()> {
    /// let conn = socket.connect("203.0.113.7:7000", peer).await?;
    /// // Gave up waiting: abort, the peer's reads fail with ConnectionReset.
    /// conn.close();
    /// # Ok(())
    /// # }
    /// ```
    pub fn close(&self) {
        self.inner.shared.close(self.inner.id);
    }

    /// Closes at once, as [`close`](Connection::close), with an application's close `code`
    /// (`0x8000..=0xFFFF`, see `lrp2p_proto::close_code`) and `reason` text in the CLOSE: the
    /// peer's calls fail with `Error::PeerClosed { code, reason }` (kind
    /// [`io::ErrorKind::ConnectionReset`]).
    ///
    /// ```no_run
    /// # async fn example(socket: lrp2p_tokio::Socket, peer: lrp2p_tokio::PublicKey) -> std::io::Result<()> {
    /// let conn = socket.connect("203.0.113.7:7000", peer).await?;
    /// conn.close_with(0x8001, b"interrupted");
    /// # Ok(())
    /// # }
    /// ```
    pub fn close_with(&self, code: u16, reason: &[u8]) {
        self.inner.shared.close_with(self.inner.id, code, reason);
    }

    /// The peer's current address (it changes when the peer roams), while the socket holds
    /// the connection.
    pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.inner.shared.remote_address(self.inner.id)
    }

    /// Splits into a reading and a writing half, each usable from its own task with no lock of
    /// its own (unlike [`tokio::io::split`]). Dropping the write half shuts the writing side
    /// down (as on a `TcpStream`); the connection is dropped when both halves are.
    ///
    /// ```no_run
    /// # async fn example(socket: lrp2p_tokio::Socket, peer: lrp2p_tokio::PublicKey) -> std::io::Result<()> {
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    ///
    /// let conn = socket.connect("203.0.113.7:7000", peer).await?;
    /// let (mut reader, mut writer) = conn.into_split();
    /// let echo = tokio::spawn(async move {
    ///     let mut buf = Vec::new();
    ///     reader.read_to_end(&mut buf).await.map(|_| buf)
    /// });
    /// writer.write_all(b"ping").await?;
    /// writer.shutdown().await?;
    /// let reply = echo.await.expect("the reader task")?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        (OwnedReadHalf { inner: self.inner.clone() }, OwnedWriteHalf { inner: self.inner })
    }
}

impl AsyncRead for Connection {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.inner.poll_write(cx, data)
    }

    /// Ready at once: see [`Connection`].
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_flush()
    }

    /// Half-closes: see [`Connection`].
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_shutdown(cx)
    }
}

/// The reading half of a [`Connection`], from [`Connection::into_split`].
pub struct OwnedReadHalf {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for OwnedReadHalf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnedReadHalf").field("id", &self.inner.id).finish_non_exhaustive()
    }
}

impl OwnedReadHalf {
    /// The peer's authenticated static key (see [`Connection::peer_public_key`]).
    pub fn peer_public_key(&self) -> Option<PublicKey> {
        self.inner.shared.peer_key(self.inner.id)
    }

    /// The application protocol id (see [`Connection::app_protocol`]).
    pub fn app_protocol(&self) -> Option<AppProtocol> {
        self.inner.shared.app_protocol(self.inner.id)
    }
}

impl AsyncRead for OwnedReadHalf {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_read(cx, buf)
    }
}

/// The writing half of a [`Connection`], from [`Connection::into_split`]. Dropping it shuts
/// the writing side down: the peer reads the end of the stream after what was written.
pub struct OwnedWriteHalf {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for OwnedWriteHalf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnedWriteHalf").field("id", &self.inner.id).finish_non_exhaustive()
    }
}

impl OwnedWriteHalf {
    /// The peer's authenticated static key (see [`Connection::peer_public_key`]).
    pub fn peer_public_key(&self) -> Option<PublicKey> {
        self.inner.shared.peer_key(self.inner.id)
    }

    /// The application protocol id (see [`Connection::app_protocol`]).
    pub fn app_protocol(&self) -> Option<AppProtocol> {
        self.inner.shared.app_protocol(self.inner.id)
    }

    /// Waits until the peer has acknowledged every byte written, FIN included after a
    /// shutdown (see [`Connection::acknowledged`]).
    pub async fn acknowledged(&self) -> io::Result<()> {
        self.inner.acknowledged().await
    }
}

impl AsyncWrite for OwnedWriteHalf {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.inner.poll_write(cx, data)
    }

    /// Ready at once: see [`Connection`].
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_flush()
    }

    /// Half-closes: see [`Connection`].
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_shutdown(cx)
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        // A no-op on a connection that has ended; the error then is of no use to anybody.
        let waker = std::task::Waker::noop();
        let _ = self.inner.poll_shutdown(&mut Context::from_waker(waker));
    }
}
