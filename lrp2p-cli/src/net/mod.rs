//! THE SEAM: where `lrp2p-tokio` plugs in. Everything else in the tool talks to the network
//! only through this module.
//!
//! Until `lrp2p-tokio` exists, [`bind`] returns an error ("lrp2p-tokio not wired yet"), unless
//! the crate is built with the temporary `std-bridge` feature, which runs the blocking
//! `lrp2p-std` adapter behind threads (`std_bridge.rs`) so that the end-to-end tests can run
//! today (`cargo test -p lrp2p-cli --features std-bridge -- --include-ignored`). To wire
//! `lrp2p-tokio` in (and delete the bridge and the feature):
//! 1. add `lrp2p-tokio` to `Cargo.toml`;
//! 2. make [`Endpoint`] hold an `lrp2p_tokio::Socket` and forward each method (same names);
//! 3. `impl Link for lrp2p_tokio::Connection` (`link_stats` → `stats()`, `peer_key` →
//!    `peer_public_key()`) and box it in [`Endpoint::dial`] / [`Endpoint::accept`].
//!
//! The application code ([`crate::transfer`], [`crate::perf`]) is generic over [`Link`], so
//! its tests run over `tokio::io::duplex` today.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use lrp2p_proto::connection::ConnectionStats;
use lrp2p_proto::identity::{PublicKey, StaticSecret};
use tokio::io::{AsyncRead, AsyncWrite};

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
}

impl Link for tokio::io::DuplexStream {}

/// One connection as the tool holds it.
///
/// Contract the tool relies on (`lrp2p-tokio` must keep it): `shutdown().await` half-closes
/// and resolves once everything written and the FIN are handed to the transport; dropping the
/// [`Endpoint`] lets finished streams be acknowledged before the socket closes, so a process
/// that exits right after a final `shutdown` still delivers its last bytes.
pub(crate) type Conn = Box<dyn Link>;

impl Link for Conn {
    fn link_stats(&self) -> Option<ConnectionStats> {
        (**self).link_stats()
    }
    fn peer_key(&self) -> Option<PublicKey> {
        (**self).peer_key()
    }
}

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

#[cfg(feature = "std-bridge")]
mod std_bridge;

/// The error every network operation returns until `lrp2p-tokio` is wired in.
#[cfg(not(feature = "std-bridge"))]
fn not_wired() -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, "lrp2p-tokio not wired yet")
}

/// One LRP2P socket: it both accepts and opens connections. Wraps `lrp2p_tokio::Socket`.
#[derive(Debug)]
pub(crate) struct Endpoint {
    /// The bound address.
    local_addr: SocketAddr,
    /// This endpoint's identity.
    public_key: PublicKey,
    /// The temporary blocking socket.
    #[cfg(feature = "std-bridge")]
    inner: std_bridge::Socket,
}

/// Binds an endpoint on `addr` with `identity`. `fresh_key` tells that the key was made at
/// this start-up, so 0-RTT data may be accepted at once (`early_data.start_floor = false`).
///
/// Wiring: `lrp2p_tokio::Socket::bind_with_config(addr, identity, config).await`.
pub(crate) async fn bind(addr: SocketAddr, identity: StaticSecret, fresh_key: bool) -> io::Result<Endpoint> {
    #[cfg(feature = "std-bridge")]
    {
        let inner = std_bridge::Socket::bind(addr, identity, fresh_key).await?;
        Ok(Endpoint { local_addr: inner.local_addr()?, public_key: inner.public_key(), inner })
    }
    #[cfg(not(feature = "std-bridge"))]
    {
        let _ = (addr, identity.public_key(), fresh_key);
        Err(not_wired())
    }
}

impl Endpoint {
    /// The address the endpoint is bound to.
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local_addr)
    }

    /// This endpoint's public key: what peers pass as `--peer`.
    pub(crate) fn public_key(&self) -> PublicKey {
        self.public_key
    }

    /// Accepts only peers whose keys are in `keys` (others are refused in the handshake).
    ///
    /// Wiring: `socket.allow_only(keys)`.
    pub(crate) fn allow_only(&self, keys: Vec<PublicKey>) {
        #[cfg(feature = "std-bridge")]
        self.inner.allow_only(keys);
        #[cfg(not(feature = "std-bridge"))]
        let _ = keys;
    }

    /// Opens a connection to `addr`: Noise IK with 0-RTT when `peer` is known, else Noise XX.
    ///
    /// Wiring: `socket.connect(addr, peer)` / `socket.connect_unknown(addr)`.
    pub(crate) async fn dial(&self, addr: SocketAddr, peer: Option<PublicKey>) -> io::Result<Conn> {
        #[cfg(feature = "std-bridge")]
        {
            self.inner.dial(addr, peer).await
        }
        #[cfg(not(feature = "std-bridge"))]
        {
            let _ = (addr, peer);
            Err(not_wired())
        }
    }

    /// Waits for the next peer; returns the connection and the peer's key.
    ///
    /// Wiring: `socket.accept().await`.
    pub(crate) async fn accept(&self) -> io::Result<(Conn, PublicKey)> {
        #[cfg(feature = "std-bridge")]
        {
            self.inner.accept().await
        }
        #[cfg(not(feature = "std-bridge"))]
        {
            Err(not_wired())
        }
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

    use lrp2p_proto::connection::ConnectionStats;
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

#[cfg(test)]
mod tests {
    #[cfg(not(feature = "std-bridge"))]
    use super::*;

    #[cfg(not(feature = "std-bridge"))]
    #[tokio::test]
    async fn stub_says_not_wired() {
        let e = bind("127.0.0.1:0".parse().expect("addr"), crate::keyfile::generate(), true)
            .await
            .expect_err("stub");
        assert_eq!(e.to_string(), "lrp2p-tokio not wired yet");
    }
}
