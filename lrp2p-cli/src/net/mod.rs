//! THE SEAM: the tool's only contact with the network, through `lrp2p-tokio`.
//!
//! [`Endpoint`] wraps an `lrp2p_tokio::Socket`; every connection is an
//! `lrp2p_tokio::Connection` behind the [`Link`] trait. The application code
//! ([`crate::transfer`], [`crate::perf`]) is generic over [`Link`], so its unit tests run over
//! `tokio::io::duplex`.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;

use lrp2p_proto::Algorithm;
use lrp2p_proto::ConnectionStats;
use lrp2p_proto::{PublicKey, StaticSecret};
use lrp2p_tokio::{EndpointConfig, EndpointStats};
use tokio::io::{AsyncRead, AsyncWrite};

/// A boxed future borrowing its link (what [`Link::acknowledged`] returns).
pub(crate) type Pending<'a> = Pin<Box<dyn Future<Output = io::Result<()>> + Send + 'a>>;

/// A reliable byte stream to one peer, with the transport's statistics when it has any.
pub(crate) trait Link: AsyncRead + AsyncWrite + Unpin + Send {
    /// The connection's current statistics (RTT, cwnd, retransmissions); `None` for streams
    /// that are not LRP2P connections.
    fn link_stats(&self) -> Option<ConnectionStats> {
        None
    }

    /// The peer's authenticated static key, once known (after a Noise XX handshake, this is
    /// how the initiator learns it).
    fn peer_key(&self) -> Option<PublicKey> {
        None
    }

    /// Resolves once the peer has acknowledged everything written (and the FIN, after a
    /// shutdown); fails with the error that ended the connection. Ready at once for streams
    /// that are not LRP2P connections.
    fn acknowledged(&self) -> Pending<'_> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// Closes at once: the peer is sent a CLOSE and fails at once instead of waiting for an
    /// idle timeout (Ctrl-C). Nothing for streams that are not LRP2P connections.
    fn close(&self) {}
}

impl Link for tokio::io::DuplexStream {}

impl Link for lrp2p_tokio::Connection {
    fn link_stats(&self) -> Option<ConnectionStats> {
        self.stats()
    }
    fn peer_key(&self) -> Option<PublicKey> {
        self.peer_public_key()
    }
    fn acknowledged(&self) -> Pending<'_> {
        Box::pin(lrp2p_tokio::Connection::acknowledged(self))
    }
    fn close(&self) {
        lrp2p_tokio::Connection::close(self);
    }
}

/// One connection as the tool holds it.
///
/// Contract (that of `lrp2p-tokio`): `flush` and `shutdown().await` return at once — the
/// bytes and the FIN are in the transport's hands, not yet delivered. Dropping the
/// [`Endpoint`] lingers for finished streams only while the runtime runs, so a process that
/// exits right after its last write must `shutdown().await` and then await
/// [`Link::acknowledged`] (see [`finish`]).
pub(crate) type Conn = Box<dyn Link>;

impl Link for Conn {
    fn link_stats(&self) -> Option<ConnectionStats> {
        (**self).link_stats()
    }
    fn peer_key(&self) -> Option<PublicKey> {
        (**self).peer_key()
    }
    fn acknowledged(&self) -> Pending<'_> {
        (**self).acknowledged()
    }
    fn close(&self) {
        (**self).close();
    }
}

/// How long [`finish`] waits for the peer to acknowledge the end of the stream.
pub(crate) const FINISH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Half-closes `link` and waits (at most [`FINISH_TIMEOUT`]) until the peer has acknowledged
/// everything written and the FIN: what a process does before it exits.
pub(crate) async fn finish<L: Link + ?Sized>(link: &mut L) -> io::Result<()> {
    use tokio::io::AsyncWriteExt as _;
    link.shutdown().await?;
    tokio::time::timeout(FINISH_TIMEOUT, link.acknowledged())
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the peer did not acknowledge the end"))?
}

/// What a serving side (`recv`, `perf server`) makes of a connection error `e` met while
/// `context`. On an accepted connection a handshake timeout means that the initiator never
/// confirmed the handshake (`CloseReason::Unconfirmed`: a forged or replayed initiation, or a
/// peer that went away at once), which is worth saying plainly.
pub(crate) fn lost_peer(context: &str, e: io::Error) -> crate::error::CliError {
    if matches!(lrp2p_tokio::Error::of(&e), Some(lrp2p_tokio::Error::HandshakeTimeout)) {
        return crate::error::CliError::Timeout(format!(
            "{context}: the peer never confirmed the handshake (a forged or replayed initiation, \
             or a peer that went away)"
        ));
    }
    if let Some(lrp2p_tokio::Error::PeerClosed { .. }) = lrp2p_tokio::Error::of(&e) {
        return crate::error::CliError::Transfer(format!("{context}: the peer closed the connection ({e})"));
    }
    crate::error::CliError::net(context, e)
}

/// What a connecting side (`send`, `perf client`) makes of a connection error `e` met while
/// `context`: a refusal says the two reasons a server refuses.
///
/// A handshake that timed out cannot say why: an IK initiation sealed for another key cannot
/// be decrypted, so the receiver cannot answer it, and looks just like a wrong port.
pub(crate) fn lost_server(context: &str, e: io::Error) -> crate::error::CliError {
    if e.kind() == io::ErrorKind::ConnectionRefused {
        return crate::error::CliError::Refused(format!(
            "{context}: refused by the receiver (it does not accept our key, or it is \
             busy: at its --max-peers limit, or stopping; try again later)"
        ));
    }
    if matches!(lrp2p_tokio::Error::of(&e), Some(lrp2p_tokio::Error::HandshakeTimeout)) {
        return crate::error::CliError::Timeout(NO_ANSWER.to_owned());
    }
    if let Some(lrp2p_tokio::Error::PeerClosed { .. }) = lrp2p_tokio::Error::of(&e) {
        return crate::error::CliError::Transfer(format!("{context}: the peer closed the connection ({e})"));
    }
    crate::error::CliError::net(context, e)
}

/// What a connecting side says when the handshake got no answer.
pub(crate) const NO_ANSWER: &str = "no answer: wrong address, wrong key, or the receiver is down";

/// An address for a local socket that talks to `peer`: loopback for a loopback peer, else the
/// unspecified address of its family; any port.
pub(crate) fn any_addr_for(peer: SocketAddr) -> SocketAddr {
    let ip: IpAddr = match peer.ip() {
        ip if ip.is_loopback() => ip,
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    SocketAddr::new(ip, 0)
}

/// One LRP2P socket: it both accepts and opens connections.
#[derive(Debug)]
pub(crate) struct Endpoint(lrp2p_tokio::Socket);

/// Binds an endpoint on `addr` with `identity`, sending with congestion controller `cc`.
/// `fresh_key` tells that the key was made at this start-up, so 0-RTT data may be accepted at
/// once (`early_data.start_floor = false`).
pub(crate) async fn bind(
    addr: SocketAddr,
    identity: StaticSecret,
    fresh_key: bool,
    cc: Algorithm,
) -> io::Result<Endpoint> {
    let mut config = EndpointConfig::default();
    if fresh_key {
        config.early_data.start_floor = false;
    }
    config.connection.congestion = cc.factory();
    Ok(Endpoint(lrp2p_tokio::Socket::bind_with_config(addr, identity, config).await?))
}

impl Endpoint {
    /// The address the endpoint is bound to.
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    /// This endpoint's public key: what peers pass as `--peer`.
    pub(crate) fn public_key(&self) -> PublicKey {
        self.0.public_key()
    }

    /// Decides whom to accept, by key: a refused peer gets an authenticated REFUSED in the
    /// handshake. `acceptor` runs with the socket's lock held: it must be quick.
    pub(crate) fn set_acceptor(&self, acceptor: impl Fn(&PublicKey) -> bool + Send + Sync + 'static) {
        self.0.set_acceptor(acceptor);
    }

    /// The endpoint's counters: every datagram received, by outcome.
    pub(crate) fn stats(&self) -> EndpointStats {
        self.0.stats()
    }

    /// Opens a connection to `addr`: Noise IK with 0-RTT when `peer` is known (lazy: the
    /// handshake leaves with the first write), else Noise XX.
    pub(crate) async fn dial(&self, addr: SocketAddr, peer: Option<PublicKey>) -> io::Result<Conn> {
        let conn = match peer {
            Some(key) => self.0.connect(addr, key).await?,
            None => self.0.connect_unknown(addr).await?,
        };
        Ok(Box::new(conn))
    }

    /// Waits for the next peer; returns the connection and the peer's key.
    pub(crate) async fn accept(&self) -> io::Result<(Conn, PublicKey)> {
        let (conn, key) = self.0.accept().await?;
        Ok((Box::new(conn), key))
    }
}

#[cfg(test)]
pub(crate) use testing::WithStats;

/// Test helpers: any stream as a [`Link`] with chosen statistics.
#[cfg(test)]
mod testing {
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use lrp2p_proto::ConnectionStats;
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    use super::Link;

    /// A [`Link`] wrapper for tests and in-process use: any stream plus a fixed statistics source.
    pub(crate) struct WithStats<S> {
        /// The stream.
        pub(crate) inner: S,
        /// What [`Link::link_stats`] returns.
        pub(crate) stats: Option<ConnectionStats>,
    }

    impl<S: AsyncRead + Unpin> AsyncRead for WithStats<S> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_read(cx, buf)
        }
    }

    impl<S: AsyncWrite + Unpin> AsyncWrite for WithStats<S> {
        fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.inner).poll_write(cx, buf)
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    }

    impl<S: AsyncRead + AsyncWrite + Unpin + Send> Link for WithStats<S> {
        fn link_stats(&self) -> Option<ConnectionStats> {
            self.stats
        }
    }
}
