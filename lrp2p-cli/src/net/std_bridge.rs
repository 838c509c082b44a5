//! TEMPORARY (feature `std-bridge`): the blocking `lrp2p-std` adapter behind threads, standing
//! in for `lrp2p-tokio` so that the tool can be tested end to end before that crate exists.
//! Delete this file and the feature once `lrp2p-tokio` is wired into [`super`].
//!
//! Each connection gets two threads that pump bytes between the blocking
//! `lrp2p_std::Connection` and one end of a `tokio::io::duplex`; the tool holds the other
//! end. Transport errors (refused, timed out, reset) are kept and returned to the tool in
//! place of the end of stream they caused, so their kinds survive the bridge.

use std::future::Future as _;
use std::io::{self, Read as _, Write as _};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use lrp2p_proto::config::EndpointConfig;
use lrp2p_proto::connection::ConnectionStats;
use lrp2p_proto::identity::{PublicKey, StaticSecret};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, DuplexStream, ReadBuf};

use super::{Conn, Link};

/// Bytes buffered in each direction of the bridge.
const BUFFER: usize = 256 * 1024;

/// An `lrp2p_std::Socket` usable from async code.
#[derive(Debug, Clone)]
pub(super) struct Socket(Arc<lrp2p_std::Socket>);

impl Socket {
    /// Binds; `fresh_key` lifts the 0-RTT start-up floor (see `lrp2p_std::Socket::bind`).
    pub(super) async fn bind(
        addr: SocketAddr,
        identity: StaticSecret,
        fresh_key: bool,
    ) -> io::Result<Socket> {
        let mut config = EndpointConfig::default();
        if fresh_key {
            config.early_data.start_floor = false;
        }
        let socket =
            tokio::task::spawn_blocking(move || lrp2p_std::Socket::bind_with_config(addr, identity, config))
                .await
                .map_err(io::Error::other)??;
        Ok(Socket(Arc::new(socket)))
    }

    /// The bound address.
    pub(super) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    /// This socket's key.
    pub(super) fn public_key(&self) -> PublicKey {
        self.0.public_key()
    }

    /// Accepts only `keys`.
    pub(super) fn allow_only(&self, keys: Vec<PublicKey>) {
        self.0.allow_only(keys);
    }

    /// Connects (lazily for a known key).
    pub(super) async fn dial(&self, addr: SocketAddr, peer: Option<PublicKey>) -> io::Result<Conn> {
        let socket = self.0.clone();
        let conn = tokio::task::spawn_blocking(move || match peer {
            Some(key) => socket.connect(addr, key),
            None => socket.connect_unknown(addr),
        })
        .await
        .map_err(io::Error::other)??;
        Ok(Box::new(bridge(conn)))
    }

    /// Waits for a peer.
    pub(super) async fn accept(&self) -> io::Result<(Conn, PublicKey)> {
        let socket = self.0.clone();
        let (conn, key) =
            tokio::task::spawn_blocking(move || socket.accept()).await.map_err(io::Error::other)??;
        Ok((Box::new(bridge(conn)), key))
    }
}

/// The first transport error seen by either pump, as kind and text.
type Failure = Arc<Mutex<Option<(io::ErrorKind, String)>>>;

/// The tool's end of a bridged connection.
struct Bridged {
    /// The duplex end the pumps serve.
    io: DuplexStream,
    /// The connection, for statistics.
    conn: Arc<lrp2p_std::Connection>,
    /// The transport's error, if any.
    failure: Failure,
    /// Fires once the writing pump has handed everything and the FIN to the connection.
    flushed: Option<tokio::sync::oneshot::Receiver<()>>,
}

/// Records `e` unless an earlier error is recorded.
fn record(failure: &Failure, e: &io::Error) {
    if let Ok(mut f) = failure.lock() {
        f.get_or_insert((e.kind(), e.to_string()));
    }
}

/// The recorded error, if any.
fn recorded(failure: &Failure) -> Option<io::Error> {
    failure.lock().ok()?.as_ref().map(|(kind, text)| io::Error::new(*kind, text.clone()))
}

/// Starts the two pumps of `conn`.
fn bridge(conn: lrp2p_std::Connection) -> Bridged {
    let conn = Arc::new(conn);
    let failure = Failure::default();
    let (ours, theirs) = tokio::io::duplex(BUFFER);
    let (mut from_tool, mut to_tool) = tokio::io::split(theirs);
    let handle = tokio::runtime::Handle::current();
    {
        // Network → tool.
        let (conn, failure, handle) = (conn.clone(), failure.clone(), handle.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match (&*conn).read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if handle.block_on(to_tool.write_all(&buf[..n])).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        record(&failure, &e);
                        break;
                    }
                }
            }
            let _ = handle.block_on(to_tool.shutdown());
        });
    }
    let (done, flushed) = tokio::sync::oneshot::channel();
    {
        // Tool → network.
        let (conn, failure) = (conn.clone(), failure.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match handle.block_on(from_tool.read(&mut buf)) {
                    Ok(0) | Err(_) => {
                        if let Err(e) = conn.shutdown() {
                            record(&failure, &e);
                        }
                        let _ = done.send(());
                        return;
                    }
                    Ok(n) => {
                        if let Err(e) = (&*conn).write_all(&buf[..n]) {
                            record(&failure, &e);
                            return;
                        }
                    }
                }
            }
        });
    }
    Bridged { io: ours, conn, failure, flushed: Some(flushed) }
}

impl AsyncRead for Bridged {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            // End of stream caused by a transport error: report the error instead.
            Poll::Ready(Ok(())) if buf.filled().len() == before => match recorded(&self.failure) {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Ready(Ok(())),
            },
            other => other,
        }
    }
}

impl AsyncWrite for Bridged {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if let Some(e) = recorded(&self.failure) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    /// Half-closes, and resolves once the FIN is handed to the connection (as
    /// `lrp2p-tokio`'s shutdown will), so that a process exiting right after still delivers.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Err(e) = std::task::ready!(Pin::new(&mut self.io).poll_shutdown(cx)) {
            return Poll::Ready(Err(e));
        }
        if let Some(rx) = self.flushed.as_mut() {
            let _ = std::task::ready!(Pin::new(rx).poll(cx));
            self.flushed = None;
        }
        Poll::Ready(recorded(&self.failure).map_or(Ok(()), Err))
    }
}

impl Link for Bridged {
    fn link_stats(&self) -> Option<ConnectionStats> {
        self.conn.stats()
    }
    fn peer_key(&self) -> Option<PublicKey> {
        self.conn.peer_public_key()
    }
}
