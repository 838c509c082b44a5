//! [`Connection`]: one reliable, encrypted byte stream in each direction, as
//! [`std::io::Read`] + [`std::io::Write`] (on `Connection` and on `&Connection`, so one thread
//! can read while another writes).
//!
//! Every call blocks on the driver's poll API ([`Shared`]'s `poll_*`): the call takes the
//! socket's lock, calls the endpoint, and sends what it produced straight to the socket from
//! the calling thread (a write goes out without a hop through the driver thread, and the first
//! write of a 0-RTT connection leaves in the same datagram as the handshake). When it cannot
//! complete, the thread parks until the endpoint's events wake it, or its timeout passes.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lrp2p_driver::{AppProtocol, ConnId, ConnectionStats, Error, PathInfo, PublicKey, Shared};

use crate::block::block_on;

/// A connection to one peer: the Go library's `Conn`.
///
/// - [`Read`](io::Read) blocks until data arrives; `Ok(0)` is the end of the peer's stream
///   (it called [`shutdown`](Connection::shutdown) or dropped its connection).
/// - [`Write`](io::Write) blocks while the send buffer (`send_buffer` bytes written but not
///   acknowledged) is full: backpressure, never an unbounded buffer.
/// - [`flush`](io::Write::flush) returns at once, as on a `TcpStream`: written bytes are
///   already in the endpoint's hands, which sends them as congestion and flow control allow
///   (it only starts a lazy connect). To wait until the peer has acknowledged every byte, use
///   [`acknowledged`](Connection::acknowledged).
/// - [`shutdown`](Connection::shutdown) half-closes and returns at once: a FIN after the bytes
///   written; writing fails with [`io::ErrorKind::BrokenPipe`] from then on, reading continues.
/// - Dropping it finishes the stream gracefully (a FIN after the data written) and discards
///   what still arrives; the state is freed when the peer finishes too, or the connection is
///   aborted (the peer is sent a CLOSE) 10 s later. Use [`close`](Connection::close) to abort
///   at once.
pub struct Connection {
    shared: Arc<Shared>,
    id: ConnId,
    timeouts: Mutex<Timeouts>,
}

/// How long reads and writes may block.
#[derive(Clone, Copy, Debug, Default)]
struct Timeouts {
    read: Option<Duration>,
    write: Option<Duration>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Connection {
    pub(crate) fn new(shared: Arc<Shared>, id: ConnId) -> Self {
        Connection { shared, id, timeouts: Mutex::default() }
    }

    fn timeouts(&self) -> std::sync::MutexGuard<'_, Timeouts> {
        self.timeouts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Blocks on `poll` until it is ready, or fails with [`Error::Timeout`] once the read (or
    /// write) timeout passes.
    fn block<T>(
        &self,
        write: bool,
        poll: impl FnMut(&mut Context<'_>) -> Poll<Result<T, Error>>,
    ) -> io::Result<T> {
        let timeouts = *self.timeouts();
        let timeout = if write { timeouts.write } else { timeouts.read };
        let deadline = timeout.map(|t| Instant::now() + t);
        Ok(block_on(deadline, poll).ok_or(Error::Timeout)??)
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
    /// # fn example(socket: lrp2p_std::Socket, peer: lrp2p_std::PublicKey) -> std::io::Result<()> {
    /// let conn = socket.connect_unknown("203.0.113.7:7000")?;
    /// conn.connected()?;
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

    /// Blocks until the path differs from `after` (an earlier [`path`](Connection::path)
    /// reading: relay → direct, direct → relay, a validated new address) and returns it, or
    /// `Ok(None)` once the connection ended; fails with [`io::ErrorKind::TimedOut`] after the
    /// read timeout.
    ///
    /// ```no_run
    /// # fn example(conn: &lrp2p_std::Connection) -> std::io::Result<()> {
    /// let mut path = conn.path().expect("open");
    /// while let Some(next) = conn.path_changed(&path)? {
    ///     println!("now {:?} via {}", next.kind, next.remote);
    ///     path = next;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn path_changed(&self, after: &PathInfo) -> io::Result<Option<PathInfo>> {
        self.block(false, |cx| self.shared.poll_path_changed(self.id, cx, after).map(Ok))
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
    /// before reading or writing; useful to learn early that the peer is there.
    ///
    /// ```no_run
    /// # fn example(socket: lrp2p_std::Socket, peer: lrp2p_std::PublicKey) -> std::io::Result<()> {
    /// let conn = socket.connect("203.0.113.7:7000", peer)?;
    /// // Fails with TimedOut or ConnectionRefused if the peer is not there or refuses us.
    /// conn.connected()?;
    /// assert!(conn.is_connected());
    /// # Ok(())
    /// # }
    /// ```
    pub fn connected(&self) -> io::Result<()> {
        self.block(false, |cx| self.shared.poll_connected(self.id, cx))
    }

    /// Blocks until the peer is proven ([`is_confirmed`](Connection::is_confirmed)), or fails
    /// as [`connected`](Connection::connected) does; an accepted connection never confirmed ends
    /// with [`io::ErrorKind::TimedOut`] at the handshake timeout. A server that grants scarce
    /// per-peer resources (a session slot, disk space) can wait for this first, so that forged
    /// initiations hold none of them.
    pub fn confirmed(&self) -> io::Result<()> {
        self.block(false, |cx| self.shared.poll_confirmed(self.id, cx))
    }

    /// This connection's counters, while the endpoint still holds its state.
    ///
    /// ```no_run
    /// # fn example(socket: lrp2p_std::Socket, peer: lrp2p_std::PublicKey) -> std::io::Result<()> {
    /// let conn = socket.connect("203.0.113.7:7000", peer)?;
    /// conn.connected()?;
    /// if let Some(stats) = conn.stats() {
    ///     println!("{stats:?}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn stats(&self) -> Option<ConnectionStats> {
        self.shared.connection_stats(self.id)
    }

    /// Bounds how long a read (and [`connected`](Connection::connected)) blocks:
    /// past it, the call fails with [`io::ErrorKind::TimedOut`]. `None` (the default) waits
    /// as long as the connection lives.
    ///
    /// ```no_run
    /// # fn example(socket: lrp2p_std::Socket, peer: lrp2p_std::PublicKey) -> std::io::Result<()> {
    /// use std::io::Read;
    /// use std::time::Duration;
    ///
    /// let mut conn = socket.connect("203.0.113.7:7000", peer)?;
    /// conn.set_read_timeout(Some(Duration::from_secs(5)));
    /// let mut buf = [0u8; 1024];
    /// let n = conn.read(&mut buf)?; // TimedOut after 5 s without data
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_read_timeout(&self, timeout: Option<Duration>) {
        self.timeouts().read = timeout;
    }

    /// Bounds how long a write or [`acknowledged`](Connection::acknowledged) blocks, like
    /// [`Connection::set_read_timeout`].
    pub fn set_write_timeout(&self, timeout: Option<Duration>) {
        self.timeouts().write = timeout;
    }

    /// Half-closes and returns at once: queues a FIN after the bytes written so far (the peer
    /// reads them, then the end of the stream); writing fails with
    /// [`io::ErrorKind::BrokenPipe`] from now on; reading continues. To wait until the peer has
    /// the whole stream, call [`acknowledged`](Connection::acknowledged) after it.
    ///
    /// ```no_run
    /// # fn example(socket: lrp2p_std::Socket, peer: lrp2p_std::PublicKey) -> std::io::Result<()> {
    /// use std::io::Write;
    ///
    /// let mut conn = socket.connect("203.0.113.7:7000", peer)?;
    /// conn.write_all(b"the whole message")?;
    /// conn.shutdown()?;
    /// conn.acknowledged()?; // the peer has every byte and the FIN
    /// # Ok(())
    /// # }
    /// ```
    pub fn shutdown(&self) -> io::Result<()> {
        self.block(true, |cx| self.shared.poll_shutdown(self.id, cx))
    }

    /// Blocks until the peer has acknowledged every byte written, and the FIN too after
    /// [`shutdown`](Connection::shutdown) (or the connection finished gracefully); fails with
    /// the error that ended the connection otherwise, or [`io::ErrorKind::TimedOut`] past the
    /// write timeout. Call it after `shutdown` to know the peer has the whole stream before
    /// dropping the socket. Starts a lazy connect.
    pub fn acknowledged(&self) -> io::Result<()> {
        self.block(true, |cx| self.shared.poll_acknowledged(self.id, cx))
    }

    /// Closes at once: the peer is sent a CLOSE; unsent and unacknowledged data is dropped and
    /// the peer's reads fail with [`io::ErrorKind::ConnectionReset`] unless it had read the
    /// whole stream. For a graceful end, [`shutdown`](Connection::shutdown) and wait for
    /// [`acknowledged`](Connection::acknowledged) first (or just drop the connection). Later
    /// calls fail with [`io::ErrorKind::NotConnected`].
    ///
    /// ```no_run
    /// # fn example(socket: lrp2p_std::Socket, peer: lrp2p_std::PublicKey) -> std::io::Result<()> {
    /// let conn = socket.connect("203.0.113.7:7000", peer)?;
    /// // Gave up waiting: abort, the peer's reads fail with ConnectionReset.
    /// conn.close();
    /// # Ok(())
    /// # }
    /// ```
    pub fn close(&self) {
        self.shared.close(self.id);
    }

    fn read_impl(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.block(false, |cx| self.shared.poll_read(self.id, cx, buf))
    }

    fn write_impl(&self, data: &[u8]) -> io::Result<usize> {
        self.block(true, |cx| self.shared.poll_write(self.id, cx, data))
    }

    /// Everything written is in the endpoint's hands already; only a lazy connect is started.
    fn flush_impl(&self) -> io::Result<()> {
        self.start()
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

    /// Returns at once (starting a lazy connect): see [`Connection`].
    fn flush(&mut self) -> io::Result<()> {
        self.flush_impl()
    }
}

impl io::Write for Connection {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_impl(data)
    }

    /// Returns at once (starting a lazy connect): see [`Connection`].
    fn flush(&mut self) -> io::Result<()> {
        self.flush_impl()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared.drop_connection(self.id);
    }
}
