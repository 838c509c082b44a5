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
use std::sync::Arc;

use lrp2p_proto::Algorithm;
use lrp2p_proto::ConnectionStats;
use lrp2p_proto::trace::TraceSink;
use lrp2p_proto::{AppProtocol, PublicKey, StaticSecret};
use lrp2p_tokio::{EndpointConfig, EndpointStats};
use tokio::io::{AsyncRead, AsyncWrite};

mod app;

pub(crate) use app::Service;

/// A boxed future borrowing its link (what [`Link::acknowledged`] returns).
pub(crate) type Pending<'a> = Pin<Box<dyn Future<Output = io::Result<()>> + Send + 'a>>;

/// A reliable byte stream to one peer, with the transport's statistics when it has any.
pub(crate) trait Link: AsyncRead + AsyncWrite + Unpin + Send {
    /// The connection's current statistics (RTT, cwnd, retransmissions); `None` for streams
    /// that are not LRP2P connections.
    fn link_stats(&self) -> Option<ConnectionStats> {
        None
    }

    /// The connection's current path (direct or through the rendezvous' relay, PROTOCOL.md
    /// §13.8); `None` for streams that are not LRP2P connections.
    fn link_path(&self) -> Option<lrp2p_proto::PathInfo> {
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

    /// The application protocol id the peer connected with (PROTOCOL.md §7.7), if any.
    fn app_protocol(&self) -> Option<AppProtocol> {
        None
    }

    /// Closes at once with one of the tool's [`app_close`] codes and its reason text, which
    /// the peer prints.
    fn close_with(&self, _code: u16, _reason: &str) {
        self.close();
    }

    /// The peer's address, when known.
    fn peer_addr(&self) -> Option<SocketAddr> {
        None
    }

    /// Resolves once the peer is proven (an accepted connection: the initiator confirmed the
    /// handshake, PROTOCOL.md §10.5); fails with the error that ended the connection. Ready at
    /// once for streams that are not LRP2P connections.
    fn confirmed(&self) -> Pending<'_> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// The tool's application close codes (in the application's range of PROTOCOL.md §7.6,
/// 0x8000 up), carried in the CLOSE with a short reason the other side prints.
pub(crate) mod app_close {
    /// The other side was interrupted (Ctrl-C); reason `interrupted`.
    pub(crate) const INTERRUPTED: u16 = lrp2p_proto::close_code::APPLICATION_MIN + 1;
    /// The receiver does not accept our key (its user answered no at the prompt).
    pub(crate) const DECLINED: u16 = lrp2p_proto::close_code::APPLICATION_MIN + 2;
    /// The server offers another service than the client's application protocol id asked
    /// for ([`super::app::Service::refusal`] is the reason).
    pub(crate) const WRONG_SERVICE: u16 = lrp2p_proto::close_code::APPLICATION_MIN + 3;
}

/// What the other side's close with one of [`app_close`]'s codes means, in words; `role` is
/// the other side ("receiver", "sender").
fn app_closed(context: &str, e: &io::Error, role: &str) -> Option<crate::error::CliError> {
    let Some(lrp2p_tokio::Error::PeerClosed { code, reason }) = lrp2p_tokio::Error::of(e) else {
        return None;
    };
    let reason = reason.escape_debug();
    match *code {
        app_close::INTERRUPTED => Some(crate::error::CliError::Transfer(format!(
            "{context}: the {role} closed the connection ({reason})"
        ))),
        app_close::DECLINED => Some(crate::error::CliError::Refused(format!(
            "{context}: refused by the receiver: {reason} (it has to accept our key: `lrp2p recv --allow KEY`, \
             `--yes`, or `y` at its prompt)"
        ))),
        // Not "connection lost": the server answered, for another service.
        app_close::WRONG_SERVICE => Some(crate::error::CliError::Refused(format!(
            "the peer serves another service: {reason}: check the address"
        ))),
        _ => None,
    }
}

impl Link for tokio::io::DuplexStream {}

impl Link for lrp2p_tokio::Connection {
    fn link_stats(&self) -> Option<ConnectionStats> {
        self.stats()
    }
    fn link_path(&self) -> Option<lrp2p_proto::PathInfo> {
        self.path()
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
    fn close_with(&self, code: u16, reason: &str) {
        lrp2p_tokio::Connection::close_with(self, code, reason.as_bytes());
    }
    fn app_protocol(&self) -> Option<AppProtocol> {
        lrp2p_tokio::Connection::app_protocol(self)
    }
    fn peer_addr(&self) -> Option<SocketAddr> {
        lrp2p_tokio::Connection::peer_addr(self)
    }
    fn confirmed(&self) -> Pending<'_> {
        Box::pin(lrp2p_tokio::Connection::confirmed(self))
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
    fn link_path(&self) -> Option<lrp2p_proto::PathInfo> {
        (**self).link_path()
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
    fn close_with(&self, code: u16, reason: &str) {
        (**self).close_with(code, reason);
    }
    fn peer_addr(&self) -> Option<SocketAddr> {
        (**self).peer_addr()
    }
    fn confirmed(&self) -> Pending<'_> {
        (**self).confirmed()
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
    if let Some(closed) = app_closed(context, &e, "sender") {
        return closed;
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
    if matches!(lrp2p_tokio::Error::of(&e), Some(lrp2p_tokio::Error::NotFound)) {
        return crate::error::CliError::Refused(format!(
            "{context}: the rendezvous does not know that key: the receiver is not registered there \
             (is its `lrp2p recv --rendezvous` running?)"
        ));
    }
    if let Some(closed) = app_closed(context, &e, "receiver") {
        return closed;
    }
    if let Some(lrp2p_tokio::Error::PeerClosed { .. }) = lrp2p_tokio::Error::of(&e) {
        return crate::error::CliError::Transfer(format!("{context}: the peer closed the connection ({e})"));
    }
    crate::error::CliError::net(context, e)
}

/// Registers `endpoint` with `rendezvous` and opens a connection for [`Service::Files`] to
/// `peer` by its key alone (PROTOCOL.md §13.7): what is written first rides the initiation once
/// the rendezvous introduced both sides.
pub(crate) async fn by_key(
    endpoint: &Endpoint,
    rendezvous: crate::cli::RendezvousAt,
    peer: PublicKey,
    ui: &crate::output::Ui,
    timeout: std::time::Duration,
) -> Result<Conn, crate::error::CliError> {
    let seen = register(endpoint, rendezvous, timeout).await?;
    ui.note(&format!("registered with the rendezvous at {}; it sees this side at {seen}", rendezvous.addr));
    let conn = endpoint
        .0
        .connect_by_key(peer, Some(Service::Files.id()))
        .map_err(|e| crate::error::CliError::net("cannot dial by key", e))?;
    Ok(Box::new(conn))
}

/// Registers `endpoint` with `rendezvous` within `timeout`; the address it sees us at.
pub(crate) async fn register(
    endpoint: &Endpoint,
    rendezvous: crate::cli::RendezvousAt,
    timeout: std::time::Duration,
) -> Result<SocketAddr, crate::error::CliError> {
    let at = rendezvous.addr;
    tokio::time::timeout(timeout, endpoint.0.register(at, rendezvous.key))
        .await
        .map_err(|_| crate::error::CliError::Timeout(format!("the rendezvous at {at} did not answer")))?
        .map_err(|e| match lost_server(&format!("cannot register with the rendezvous at {at}"), e) {
            crate::error::CliError::Timeout(_) => crate::error::CliError::Timeout(format!(
                "no answer from the rendezvous at {at}: wrong address, wrong key, or it is down"
            )),
            other => other,
        })
}

/// Registers `endpoint` with `rendezvous` again each time its link there ends, 1 s later, then
/// retrying 2 s, 4 s, … up to 30 s apart until the service answers; says so on each change. Returns only if
/// the socket closes.
pub(crate) async fn stay_registered(
    endpoint: &Endpoint,
    rendezvous: crate::cli::RendezvousAt,
    ui: &crate::output::Ui,
) -> Result<(), crate::error::CliError> {
    let at = rendezvous.addr;
    loop {
        let Ok(why) = endpoint.0.registration_ended().await else { return Ok(()) };
        ui.warn_always(&format!("the link to the rendezvous at {at} ended ({why:?}); registering again"));
        // The first attempt waits too: a service that is shutting down would take it.
        let mut pause = std::time::Duration::from_secs(1);
        let seen = loop {
            tokio::time::sleep(pause).await;
            if let Ok(seen) = register(endpoint, rendezvous, std::time::Duration::from_secs(10)).await {
                break seen;
            }
            pause = (pause * 2).min(std::time::Duration::from_secs(30));
        };
        ui.result(
            &format!("registered again with the rendezvous at {at} (it sees this side at {seen})"),
            &serde_json::json!({ "event": "registered", "rendezvous": at, "observed": seen, "again": true }),
        );
    }
}

/// What a side dialing by key says when neither the relay nor an address the rendezvous gave
/// answered.
pub(crate) const NO_DIRECT_PATH: &str = "no answer, directly or through the rendezvous' relay: the \
     receiver is registered there but did not answer (it stopped, or lost its way to the \
     rendezvous since it last registered)";

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
    bind_with(addr, identity, fresh_key, cc, None, None).await
}

/// [`bind`], with the endpoint's receive memory budget (`--receive-memory`,
/// `EndpointConfig::receive_memory`) if given.
pub(crate) async fn bind_with_memory(
    addr: SocketAddr,
    identity: StaticSecret,
    fresh_key: bool,
    cc: Algorithm,
    receive_memory: Option<usize>,
) -> io::Result<Endpoint> {
    bind_with(addr, identity, fresh_key, cc, receive_memory, None).await
}

/// [`bind`], the connections' event trace going to `trace` (`--trace FILE`).
pub(crate) async fn bind_traced(
    addr: SocketAddr,
    identity: StaticSecret,
    fresh_key: bool,
    cc: Algorithm,
    trace: Option<Arc<dyn TraceSink>>,
) -> io::Result<Endpoint> {
    bind_with(addr, identity, fresh_key, cc, None, trace).await
}

/// [`bind`], with a receive memory budget and an event trace, each if given.
pub(crate) async fn bind_with(
    addr: SocketAddr,
    identity: StaticSecret,
    fresh_key: bool,
    cc: Algorithm,
    receive_memory: Option<usize>,
    trace: Option<Arc<dyn TraceSink>>,
) -> io::Result<Endpoint> {
    let mut config = EndpointConfig::default();
    if fresh_key {
        config.early_data.start_floor = false;
    }
    config.connection.congestion = cc.factory();
    if let Some(bytes) = receive_memory {
        config.receive_memory = bytes;
    }
    config.connection.trace = trace;
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
    pub(crate) fn set_acceptor(
        &self,
        acceptor: impl Fn(&PublicKey, SocketAddr) -> bool + Send + Sync + 'static,
    ) {
        self.0.set_acceptor_with_address(acceptor);
    }

    /// Serves as a rendezvous (PROTOCOL.md §13.7), relaying at most `relay_mbit` Mbit/s per
    /// peer (§13.8; the datagram rate in proportion, 20,000 per second at 100 Mbit/s).
    pub(crate) fn serve_rendezvous(&self, relay_mbit: u32) {
        let mut config = lrp2p_tokio::RegistryConfig::default();
        config.relay_bytes_per_second = u64::from(relay_mbit) * 125_000;
        config.relay_datagrams_per_second = relay_mbit.saturating_mul(200);
        self.0.serve_rendezvous_with(config);
    }

    /// The rendezvous service's counters, when serving.
    pub(crate) fn rendezvous_stats(&self) -> Option<lrp2p_tokio::RendezvousStats> {
        self.0.rendezvous_stats()
    }

    /// Closes every connection at once with one of the [`app_close`] codes and its reason.
    pub(crate) fn close_all(&self, code: u16, reason: &str) {
        self.0.close_all(code, reason.as_bytes());
    }

    /// The endpoint's counters: every datagram received, by outcome.
    pub(crate) fn stats(&self) -> EndpointStats {
        self.0.stats()
    }

    /// Opens a connection to `addr` for `service`, whose application protocol id rides the
    /// first data (PROTOCOL.md §7.7): Noise IK with 0-RTT when `peer` is known (lazy: the
    /// handshake leaves with the first write), else Noise XX.
    pub(crate) async fn dial(
        &self,
        addr: SocketAddr,
        peer: Option<PublicKey>,
        service: Service,
    ) -> io::Result<Conn> {
        Ok(Box::new(self.0.connect_with(addr, peer, service.id()).await?))
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
