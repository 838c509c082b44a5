//! [`Shared`]: one socket's endpoint, connections and I/O, shared by the driver and the
//! application's tasks or threads, and the runtime-free poll API every adapter builds on.
//!
//! Each `poll_*` call takes the lock, calls the endpoint, sends what the call produced from
//! the calling task (no hop through the driver: the first write of a 0-RTT connection leaves
//! in the same datagram as the handshake), and either completes or registers the caller's
//! waker and returns `Pending`; the event that may let it complete wakes it. Calls take a
//! [`ConnId`] from [`Shared::open`] or [`Shared::poll_accept`].

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lrp2p_proto::rendezvous::RegistryConfig;
use lrp2p_proto::{
    AppProtocol, CloseReason, ConnectOptions, ConnectionStats, Endpoint, EndpointConfig, EndpointStats,
    PathInfo, PublicKey, ReadError, StaticSecret, WriteError, close_code,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::error::Error;
use crate::io::{IoStats, UdpIo};
use crate::state::{State, unix_ns};
use crate::{ConnId, PeerInfo};

/// One socket's endpoint and connections behind one mutex, and its I/O. Adapters hold it in
/// an [`Arc`], run [`drive`](crate::drive) beside it, and implement their stream types on the
/// `poll_*` calls.
pub struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) io: Arc<dyn UdpIo>,
    public_key: PublicKey,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("io", &self.io)
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

/// What an ended connection's read or write returns: `None` is a graceful finish.
fn end_error(end: Option<Error>) -> Error {
    end.unwrap_or(Error::Shutdown)
}

impl Shared {
    /// An endpoint with the static key `identity` and `config` on `io`, its RNG seeded from
    /// the operating system. Nothing happens until [`drive`](crate::drive) runs.
    ///
    /// With a `tracing` subscriber in place (the global default, or this thread's), the
    /// endpoint's trace feeds `tracing` events (see the crate documentation, "Logs").
    pub fn new(io: Arc<dyn UdpIo>, identity: StaticSecret, mut config: EndpointConfig) -> Arc<Shared> {
        if crate::observe::subscriber_present() {
            let user = config.connection.trace.take();
            config.connection.trace = Some(Arc::new(crate::observe::TracingSink::new(user)));
            let local = io.local_addr().ok();
            tracing::info!(target: "lrp2p", local = ?local, key = %identity.public_key(), "socket opened");
        }
        let public_key = identity.public_key();
        let now = Instant::now();
        let max_datagram = config.connection.max_datagram_size;
        let endpoint = Endpoint::new(config, identity, ChaCha20Rng::from_entropy(), now, unix_ns());
        Arc::new(Shared { state: Mutex::new(State::new(endpoint, now, max_datagram)), io, public_key })
    }

    /// Takes the lock. A panic in another thread while holding it leaves the endpoint usable
    /// (every endpoint call is atomic from its point of view), so poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The local address of the socket.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }

    /// This endpoint's identity: what peers connect to.
    pub fn public_key(&self) -> PublicKey {
        self.public_key
    }

    /// Opens a connection to `remote` (Noise IK when `peer` is known, XX otherwise) without
    /// starting it: the endpoint defers the handshake to its first read, write,
    /// `poll_acknowledged`, `poll_connected` or [`Shared::start`], so the first write's bytes
    /// ride in the first datagram.
    pub fn open(&self, remote: SocketAddr, peer: Option<PublicKey>) -> Result<ConnId, Error> {
        self.open_with(remote, peer, None)
    }

    /// [`Shared::open`], sending the application protocol id `app_protocol` with the first
    /// data (PROTOCOL.md §7.7): write before the handshake starts for the responder to see it
    /// when it decides whether to accept.
    pub fn open_with(
        &self,
        remote: SocketAddr,
        peer: Option<PublicKey>,
        app_protocol: Option<AppProtocol>,
    ) -> Result<ConnId, Error> {
        self.open_by(peer, app_protocol, false, |endpoint, now, options| {
            endpoint.connect_with(now, remote, peer, options)
        })
    }

    /// [`Shared::open_with`] to the peer with key `peer` at any of `remotes` (PROTOCOL.md
    /// §13.6: the IK initiation goes to each, the address that answers becomes the path; see
    /// `Endpoint::connect_many`). Deferred as [`Shared::open`] is.
    pub fn open_many(
        &self,
        remotes: &[SocketAddr],
        peer: PublicKey,
        app_protocol: Option<AppProtocol>,
    ) -> Result<ConnId, Error> {
        self.open_by(Some(peer), app_protocol, false, |endpoint, now, options| {
            endpoint.connect_many(now, remotes, peer, options)
        })
    }

    /// What the opens share: refused once the socket is stopping; a deferred connect (nothing
    /// is sent before the first write, so that the app id and 0-RTT data ride the
    /// initiation) made by `connect`; the connection recorded, and with `kick` the endpoint's
    /// output flushed at once (a dial by key asks the rendezvous now).
    fn open_by(
        &self,
        peer: Option<PublicKey>,
        app_protocol: Option<AppProtocol>,
        kick: bool,
        connect: impl FnOnce(
            &mut Endpoint<ChaCha20Rng>,
            Instant,
            ConnectOptions,
        ) -> Result<lrp2p_proto::ConnectionHandle, lrp2p_proto::ConnectError>,
    ) -> Result<ConnId, Error> {
        let mut state = self.lock();
        if state.stopping {
            return Err(Error::SocketClosed);
        }
        let now = Instant::now();
        let mut options = ConnectOptions::default().deferred(true);
        options.app_protocol = app_protocol;
        let handle = connect(&mut state.endpoint, now, options).map_err(Error::from)?;
        let id = state.insert(handle, peer);
        if kick {
            state.after_call(&*self.io, now);
        }
        Ok(id)
    }

    /// Sends PUNCH datagrams to `peer` at `addresses` (PROTOCOL.md §13.9, `Endpoint::punch`):
    /// what a peer that was introduced to another does, so that the other's initiation gets
    /// through this side's NAT. Returns how many addresses will be punched.
    pub fn punch(&self, peer: PublicKey, addresses: &[SocketAddr]) -> usize {
        let mut state = self.lock();
        if state.stopping {
            return 0;
        }
        let now = Instant::now();
        let n = state.endpoint.punch(now, peer, addresses);
        state.after_call(&*self.io, now);
        n
    }

    /// Registers with the rendezvous service at `service`, known by `service_key` (PROTOCOL.md
    /// §13.7), reporting this socket's local address toward it (the source address the OS
    /// picks for that destination, with this socket's port) for peers behind the same NAT.
    /// [`Shared::poll_registered`] tells when the service answered.
    pub fn register(&self, service: SocketAddr, service_key: PublicKey) -> Result<(), Error> {
        let port = self.io.local_addr().map(|a| a.port()).unwrap_or(0);
        let bound = self.io.local_addr().ok().map(|a| a.ip()).filter(|ip| !ip.is_unspecified());
        // The source address toward the service, as routing picks it (no datagram is sent).
        let routed = || {
            let probe = std::net::UdpSocket::bind((std::net::Ipv4Addr::UNSPECIFIED, 0)).ok()?;
            probe.connect(service).ok()?;
            probe.local_addr().ok().map(|a| a.ip())
        };
        let locals: Vec<SocketAddr> =
            bound.or_else(routed).map(|ip| SocketAddr::new(ip, port)).into_iter().collect();
        let mut state = self.lock();
        if state.stopping {
            return Err(Error::SocketClosed);
        }
        let now = Instant::now();
        state.registration.observed = None;
        state.registration.closed = None;
        state.endpoint.register(now, service, service_key, &locals).map_err(|_| Error::TooManyConnections)?;
        state.after_call(&*self.io, now);
        Ok(())
    }

    /// Ready with why the link to the rendezvous ended (PROTOCOL.md §13.7: the service went
    /// away or closed it; registered peers then cannot reach this socket by key until it
    /// registers again); pending while it lives or none was made; an error once the socket
    /// stops.
    pub fn poll_registration_ended(&self, cx: &mut Context<'_>) -> Poll<Result<CloseReason, Error>> {
        let mut state = self.lock();
        if let Some(reason) = &state.registration.closed {
            return Poll::Ready(Ok(reason.clone()));
        }
        if state.stopping {
            return Poll::Ready(Err(Error::SocketClosed));
        }
        state.registration.waiters.register(cx.waker());
        Poll::Pending
    }

    /// Ready with the address the rendezvous sees this socket at once it answered a
    /// [`Shared::register`]; with the error that ended the link to it otherwise.
    pub fn poll_registered(&self, cx: &mut Context<'_>) -> Poll<Result<SocketAddr, Error>> {
        let mut state = self.lock();
        if let Some(observed) = state.registration.observed {
            return Poll::Ready(Ok(observed));
        }
        if let Some(reason) = &state.registration.closed {
            return Poll::Ready(Err(Error::from_reason(reason).unwrap_or(Error::NotRegistered)));
        }
        if state.stopping {
            return Poll::Ready(Err(Error::SocketClosed));
        }
        state.registration.waiters.register(cx.waker());
        Poll::Pending
    }

    /// Opens a connection to the peer with key `peer` through the rendezvous (PROTOCOL.md
    /// §13.7, `Endpoint::connect_by_key`): writes before the introduction ride in the
    /// initiation.
    pub fn open_by_key(&self, peer: PublicKey, app_protocol: Option<AppProtocol>) -> Result<ConnId, Error> {
        self.open_by(Some(peer), app_protocol, true, |endpoint, now, options| {
            endpoint.connect_by_key(now, peer, options)
        })
    }

    /// Serves as a rendezvous (PROTOCOL.md §13.7, `Endpoint::serve_rendezvous`) with the
    /// default registry bounds: connections asking for it never reach `accept`.
    pub fn serve_rendezvous(&self) {
        self.serve_rendezvous_with(RegistryConfig::default());
    }

    /// [`Shared::serve_rendezvous`] within `config`'s bounds (peers held, registration
    /// lifetime, introductions, relay rate per peer).
    pub fn serve_rendezvous_with(&self, config: RegistryConfig) {
        self.lock().endpoint.serve_rendezvous(config);
    }

    /// The rendezvous service's counters, when serving.
    pub fn rendezvous_stats(&self) -> Option<lrp2p_proto::RendezvousStats> {
        self.lock().endpoint.rendezvous_stats()
    }

    /// Starts a deferred connect now (nothing else).
    pub fn start(&self, id: ConnId) -> Result<(), Error> {
        let mut state = self.lock();
        if let Some(Some(error)) = state.ended(id) {
            return Err(error);
        }
        let now = Instant::now();
        let _ = state.endpoint.start(now, id.0);
        state.after_call(&*self.io, now);
        Ok(())
    }

    /// The next accepted connection and its peer's authenticated key.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<Result<(ConnId, PublicKey), Error>> {
        let mut state = self.lock();
        loop {
            if state.stopping {
                return Poll::Ready(Err(Error::SocketClosed));
            }
            match state.incoming.pop_front() {
                Some((handle, peer)) if state.conns.contains_key(&handle) => {
                    return Poll::Ready(Ok((ConnId(handle), peer)));
                }
                Some(_) => {}
                None => {
                    state.acceptors_waiting.register(cx.waker());
                    return Poll::Pending;
                }
            }
        }
    }

    /// Starts the handshake if it has not started, and is ready when it completes, or with
    /// the error that ended the connection.
    pub fn poll_connected(&self, id: ConnId, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut state = self.lock();
        if state.conn(id).is_some_and(|c| c.connected) {
            return Poll::Ready(Ok(()));
        }
        if let Some(end) = state.ended(id) {
            return Poll::Ready(end.map_or(Ok(()), Err));
        }
        let now = Instant::now();
        let _ = state.endpoint.start(now, id.0);
        state.after_call(&*self.io, now);
        match state.conn(id) {
            Some(conn) if conn.connected => Poll::Ready(Ok(())),
            Some(conn) if conn.closed.is_none() => {
                conn.writers.register(cx.waker());
                Poll::Pending
            }
            _ => Poll::Ready(state.ended(id).flatten().map_or(Ok(()), Err)),
        }
    }

    /// Ready once the peer is proven (see [`Shared::is_confirmed`]), or with the error that
    /// ended the connection (an unconfirmed one ends as a handshake timeout). Starts the
    /// handshake of an outgoing connection as [`Shared::poll_connected`] does.
    pub fn poll_confirmed(&self, id: ConnId, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut state = self.lock();
        if state.conn(id).is_some_and(|c| c.is_confirmed()) {
            return Poll::Ready(Ok(()));
        }
        if let Some(end) = state.ended(id) {
            return Poll::Ready(end.map_or(Ok(()), Err));
        }
        let now = Instant::now();
        let _ = state.endpoint.start(now, id.0);
        state.after_call(&*self.io, now);
        match state.conn(id) {
            Some(conn) if conn.is_confirmed() => Poll::Ready(Ok(())),
            Some(conn) if conn.closed.is_none() => {
                conn.confirm_waiters.register(cx.waker());
                Poll::Pending
            }
            _ => Poll::Ready(state.ended(id).flatten().map_or(Ok(()), Err)),
        }
    }

    /// Reads into `buf`: `Ok(0)` is the end of the peer's stream (and stays so).
    pub fn poll_read(&self, id: ConnId, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<Result<usize, Error>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut state = self.lock();
        if state.stopping {
            return Poll::Ready(Err(Error::SocketClosed));
        }
        match state.conn(id) {
            None => return Poll::Ready(Err(Error::Closed)),
            Some(conn) if conn.eof => return Poll::Ready(Ok(0)),
            Some(_) => {}
        }
        let now = Instant::now();
        // What the connection received stays readable through the endpoint after it ended,
        // until read to the end.
        let result = state.endpoint.read(now, id.0, buf);
        state.after_call(&*self.io, now);
        match result {
            Ok(0) => {
                if let Some(conn) = state.conn(id) {
                    conn.eof = true;
                }
                Poll::Ready(Ok(0))
            }
            Ok(n) => Poll::Ready(Ok(n)),
            // Ended (the endpoint may already have let the state go): the recorded reason says
            // whether this is the end of the stream or an error.
            Err(_) if state.ended(id).is_some() => match state.ended(id).flatten() {
                None => {
                    if let Some(conn) = state.conn(id) {
                        conn.eof = true;
                    }
                    Poll::Ready(Ok(0))
                }
                Some(error) => Poll::Ready(Err(error)),
            },
            Err(ReadError::Blocked) => {
                if let Some(conn) = state.conn(id) {
                    conn.readers.register(cx.waker());
                }
                Poll::Pending
            }
            Err(_) => Poll::Ready(Err(Error::Closed)),
        }
    }

    /// Writes from `data`; `Pending` while the send buffer is full (backpressure: nothing is
    /// buffered beyond the endpoint's send buffer).
    pub fn poll_write(&self, id: ConnId, cx: &mut Context<'_>, data: &[u8]) -> Poll<Result<usize, Error>> {
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut state = self.lock();
        if let Some(end) = state.ended(id) {
            return Poll::Ready(Err(end_error(end)));
        }
        let now = Instant::now();
        let result = state.endpoint.write(now, id.0, data);
        state.after_call(&*self.io, now);
        match result {
            Ok(0) => {
                if let Some(conn) = state.conn(id) {
                    conn.writers.register(cx.waker());
                }
                Poll::Pending
            }
            Ok(n) => Poll::Ready(Ok(n)),
            Err(WriteError::Finished) => Poll::Ready(Err(Error::Shutdown)),
            Err(_) => Poll::Ready(Err(state.ended(id).map_or(Error::Closed, end_error))),
        }
    }

    /// Ready when the peer has acknowledged every byte written, and the FIN too once the
    /// stream is shut down (or the connection finished gracefully); with the error that ended
    /// it otherwise. Starts a deferred connect. What the adapters' `acknowledged()` waits for.
    pub fn poll_acknowledged(&self, id: ConnId, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut state = self.lock();
        if let Some(end) = state.ended(id) {
            return Poll::Ready(end.map_or(Ok(()), Err));
        }
        let now = Instant::now();
        let _ = state.endpoint.start(now, id.0);
        state.after_call(&*self.io, now);
        match state.endpoint.is_acknowledged(id.0) {
            Ok(true) => Poll::Ready(Ok(())),
            Ok(false) if state.ended(id).is_none() => {
                if let Some(conn) = state.conn(id) {
                    conn.ack_waiters.register(cx.waker());
                }
                Poll::Pending
            }
            _ => Poll::Ready(state.ended(id).flatten().map_or(Ok(()), Err)),
        }
    }

    /// Half-closes: queues a FIN after the bytes written so far and is ready at once (it never
    /// returns `Pending`; the FIN leaves as soon as congestion and flow control let the data
    /// before it go). To wait until the peer has everything, FIN included,
    /// [`Shared::poll_acknowledged`] after it. Writing fails with [`Error::Shutdown`] from now
    /// on; reading continues.
    pub fn poll_shutdown(&self, id: ConnId, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut state = self.lock();
        if let Some(end) = state.ended(id) {
            return Poll::Ready(end.map_or(Ok(()), Err));
        }
        let now = Instant::now();
        let _ = state.endpoint.shutdown(now, id.0);
        state.after_call(&*self.io, now);
        Poll::Ready(Ok(()))
    }

    /// Closes at once: the peer is sent a CLOSE; unsent and unacknowledged data is dropped.
    /// Later calls fail with [`Error::Closed`].
    pub fn close(&self, id: ConnId) {
        let mut state = self.lock();
        if state.conn(id).is_none_or(|c| c.closed.is_some()) {
            return;
        }
        let now = Instant::now();
        let _ = state.endpoint.close(now, id.0, close_code::NO_ERROR, b"closed");
        state.after_call(&*self.io, now);
    }

    /// Closes at once, as [`Shared::close`], with the application's `code` (from
    /// `close_code::APPLICATION_MIN` up) and `reason` in the CLOSE: the peer's calls fail with
    /// [`Error::PeerClosed`] carrying them.
    pub fn close_with(&self, id: ConnId, code: u16, reason: &[u8]) {
        let mut state = self.lock();
        if state.conn(id).is_none_or(|c| c.closed.is_some()) {
            return;
        }
        let now = Instant::now();
        let _ = state.endpoint.close(now, id.0, code, reason);
        state.after_call(&*self.io, now);
    }

    /// Closes every connection the application holds at once, as [`Shared::close_with`]
    /// (what a server does when it is interrupted): each peer is sent a CLOSE with `code`
    /// and `reason`.
    pub fn close_all_with(&self, code: u16, reason: &[u8]) {
        let mut state = self.lock();
        let now = Instant::now();
        let open: Vec<_> = state.conns.iter().filter(|(_, c)| c.closed.is_none()).map(|(h, _)| *h).collect();
        for handle in open {
            let _ = state.endpoint.close(now, handle, code, reason);
        }
        // The rest: a rendezvous role's links (to the service, or the peers it serves), which
        // the application never sees; their peers learn it at once too.
        state.endpoint.close_all(now);
        state.after_call(&*self.io, now);
    }

    /// The connection's current path (PROTOCOL.md §13.1): direct or relayed, the address every
    /// datagram goes to, whether the peer proved it receives there, and the address being
    /// validated if the peer was seen elsewhere; `None` once the endpoint let it go.
    pub fn path(&self, id: ConnId) -> Option<PathInfo> {
        let state = self.lock();
        state.conns.get(&id.0)?;
        state.endpoint.path(id.0)
    }

    /// Ready with the path once it differs from `after` (its [`PathInfo::changes`] grew:
    /// PROTOCOL.md §13.4, §13.8), or with `None` once the connection ended.
    pub fn poll_path_changed(
        &self,
        id: ConnId,
        cx: &mut Context<'_>,
        after: &PathInfo,
    ) -> Poll<Option<PathInfo>> {
        let mut state = self.lock();
        let current = state.conns.get(&id.0).and(state.endpoint.path(id.0));
        match (current, state.conn(id)) {
            (Some(path), _) if path.changes > after.changes => Poll::Ready(Some(path)),
            (Some(_), Some(conn)) if conn.closed.is_none() => {
                conn.path_waiters.register(cx.waker());
                Poll::Pending
            }
            _ => Poll::Ready(None),
        }
    }

    /// The peer's current address, while the endpoint still holds the connection.
    pub fn remote_address(&self, id: ConnId) -> Option<std::net::SocketAddr> {
        let state = self.lock();
        state.conns.get(&id.0)?;
        state.endpoint.remote_address(id.0)
    }

    /// The application dropped the connection: the endpoint finishes it on its own (a FIN after
    /// the data written, what still arrives discarded, an abort after its `release_linger` if
    /// the peer does not finish too) and frees it.
    pub fn drop_connection(&self, id: ConnId) {
        let mut state = self.lock();
        let now = Instant::now();
        state.drop_connection(id, now);
        state.after_call(&*self.io, now);
    }

    /// The peer's authenticated static key: known from the start for IK connects and accepted
    /// connections, after the handshake for XX.
    pub fn peer_key(&self, id: ConnId) -> Option<PublicKey> {
        let state = self.lock();
        let conn = state.conns.get(&id.0)?;
        conn.peer.or_else(|| state.endpoint.peer_key(id.0))
    }

    /// The connection's application protocol id (PROTOCOL.md §7.7): the one it was opened with,
    /// or, on an accepted connection, the one the initiator sent (`None`: none, or not yet).
    pub fn app_protocol(&self, id: ConnId) -> Option<AppProtocol> {
        let state = self.lock();
        state.conns.get(&id.0)?;
        state.endpoint.app_protocol(id.0)
    }

    /// Whether the handshake has completed.
    pub fn is_connected(&self, id: ConnId) -> bool {
        self.lock().conn(id).is_some_and(|c| c.connected)
    }

    /// Whether the peer is proven: an outgoing connection once its handshake completed; an
    /// accepted one once the initiator proved it holds its handshake keys at its address
    /// (PROTOCOL.md §10.5; [`Event::Confirmed`](lrp2p_proto::Event::Confirmed)).
    /// An accepted IK connection is readable before (its 0-RTT data) but may be a forged or
    /// replayed initiation until then.
    pub fn is_confirmed(&self, id: ConnId) -> bool {
        self.lock().conn(id).is_some_and(|c| c.is_confirmed())
    }

    /// The connection's counters, while the endpoint still holds its state.
    pub fn connection_stats(&self, id: ConnId) -> Option<ConnectionStats> {
        let state = self.lock();
        state.conns.get(&id.0)?;
        state.endpoint.connection_stats(id.0)
    }

    /// Decides which peers to accept, by their authenticated static key; a refused peer gets
    /// an authenticated REFUSED. It runs with the lock held: keep it quick, and do not call
    /// into the endpoint from it.
    pub fn set_acceptor(&self, acceptor: impl Fn(&PublicKey) -> bool + Send + Sync + 'static) {
        self.lock().acceptor = Some(Arc::new(move |info: &PeerInfo| acceptor(&info.key)));
    }

    /// As [`Shared::set_acceptor`], with the address the initiation came from too (to log or
    /// to filter on; it is not authenticated beyond the handshake's own check).
    pub fn set_acceptor_with_address(
        &self,
        acceptor: impl Fn(&PublicKey, std::net::SocketAddr) -> bool + Send + Sync + 'static,
    ) {
        self.lock().acceptor = Some(Arc::new(move |info: &PeerInfo| acceptor(&info.key, info.remote)));
    }

    /// As [`Shared::set_acceptor`], with everything known about the peer at admission: its key,
    /// its address and the application protocol id it sent ([`PeerInfo`]). Refuse here a
    /// connection for a service this socket does not offer.
    pub fn set_acceptor_with_info(&self, acceptor: impl Fn(&PeerInfo) -> bool + Send + Sync + 'static) {
        self.lock().acceptor = Some(Arc::new(acceptor));
    }

    /// Accepts exactly the peers in `keys` (a convenience over [`Shared::set_acceptor`]).
    pub fn allow_only(&self, keys: impl IntoIterator<Item = PublicKey>) {
        let keys: Vec<PublicKey> = keys.into_iter().collect();
        let introduced = keys.clone();
        // PROTOCOL.md §13.7.5 rule 1: introductions to other keys are not acted on either.
        self.lock().endpoint.set_introduction_policy(move |peer| introduced.contains(peer));
        self.set_acceptor(move |peer| keys.contains(peer));
    }

    /// The endpoint's counters (datagrams received, sent, dropped by cause).
    pub fn stats(&self) -> EndpointStats {
        self.lock().endpoint.stats()
    }

    /// Datagrams the socket refused for good (not counting "would block": those wait).
    pub fn send_errors(&self) -> u64 {
        self.lock().sender.stats.send_errors
    }

    /// System calls and datagrams through the socket, each way.
    pub fn io_stats(&self) -> IoStats {
        self.lock().sender.stats
    }

    /// Whether some finished stream (shut down or dropped) still waits for its
    /// acknowledgement: an adapter's socket drop lingers up to
    /// [`SOCKET_LINGER`](crate::SOCKET_LINGER) while it does.
    pub fn is_finishing(&self) -> bool {
        self.lock().endpoint.is_finishing()
    }

    /// Stops the socket once every finished stream (shut down, or of a dropped connection) is
    /// acknowledged, or after `linger` at the latest: what a dropped socket does, with
    /// [`SOCKET_LINGER`](crate::SOCKET_LINGER). The driver completes it when the last
    /// acknowledgement arrives, or at the deadline; then the endpoint closes what is left
    /// (PROTOCOL.md §8.7: every connection aborted with a CLOSE to its peer, except fully
    /// acknowledged finished ones; CLOSE NO_ERROR for those finished both ways), every later
    /// call fails with [`Error::SocketClosed`], every waiter is woken, and
    /// [`drive`](crate::drive) ends. A zero `linger` stops at once.
    pub fn stop(&self, linger: Duration) {
        self.lock().stop(&*self.io, Instant::now(), linger);
    }

    /// Whether [`Shared::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.lock().stopping
    }
}
