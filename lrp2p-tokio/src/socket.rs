//! [`Socket`]: one tokio UDP socket, one [`Endpoint`](lrp2p_driver::Shared), one driver task;
//! any number of connections in both directions.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lrp2p_driver::{
    AppProtocol, CloseReason, EndpointConfig, EndpointStats, Error, IoStats, PeerInfo, PublicKey,
    SOCKET_LINGER, Shared, StaticSecret,
};
use tokio::net::{ToSocketAddrs, UdpSocket};

use crate::connection::Connection;
use crate::udp::{TokioTimer, TokioUdp};

/// A fresh static key from the operating system's RNG: a new identity.
pub fn generate_identity() -> StaticSecret {
    lrp2p_driver::generate_identity()
}

/// An LRP2P socket: the Go library's `SocketListen`. It connects to peers and accepts peers on
/// one UDP port; every connection is a [`Connection`].
///
/// Dropping it (which never blocks) tells its driver task to close up: the task waits up to
/// [`SOCKET_LINGER`] (2 s) for finished streams (shut down or dropped connections) to be
/// acknowledged, so that their peers can read them to the end, then closes every other
/// connection (each peer is sent a CLOSE; local calls fail with [`Error::SocketClosed`]) and
/// ends. If the runtime shuts down first, the task is dropped and closes everything at once.
pub struct Socket {
    shared: Arc<Shared>,
}

impl Drop for Socket {
    /// Hands the driver task the graceful stop (see [`Socket`]); never blocks.
    fn drop(&mut self) {
        self.shared.stop(SOCKET_LINGER);
    }
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("local_addr", &self.shared.local_addr().ok())
            .field("public_key", &self.shared.public_key())
            .finish()
    }
}

/// Stops the socket when the driver task ends or is dropped (runtime shutdown): every waiter
/// is woken with [`Error::SocketClosed`] instead of waiting for a driver that is gone.
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if !self.0.is_stopped() {
            self.0.stop(Duration::ZERO);
        }
    }
}

impl Socket {
    /// Binds a UDP socket to `addr` with the static key `identity` and the default
    /// configuration, and spawns its driver task.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or in one without the I/O and time drivers
    /// (`Builder::enable_all`; `#[tokio::main]` enables both).
    ///
    /// The default keeps 0-RTT replay protection across restarts: a freshly started socket
    /// refuses early data for 30 s (it still arrives, one round trip later). If `identity` was
    /// generated at this start-up, use [`Socket::bind_with_config`] with
    /// `early_data.start_floor = false`.
    ///
    /// ```no_run
    /// # async fn example() -> std::io::Result<()> {
    /// use lrp2p_tokio::{Socket, generate_identity};
    ///
    /// let socket = Socket::bind("0.0.0.0:7000", generate_identity()).await?;
    /// println!("listening on {} as {}", socket.local_addr()?, socket.public_key());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn bind(addr: impl ToSocketAddrs, identity: StaticSecret) -> io::Result<Socket> {
        Socket::bind_with_config(addr, identity, EndpointConfig::default()).await
    }

    /// [`Socket::bind`] with an explicit configuration.
    ///
    /// ```no_run
    /// # async fn example() -> std::io::Result<()> {
    /// use lrp2p_tokio::{EndpointConfig, Socket, generate_identity};
    ///
    /// // A key generated at start-up: nothing sent to it before can be replayed, so allow 0-RTT at once.
    /// let mut config = EndpointConfig::default();
    /// config.early_data.start_floor = false;
    /// let socket = Socket::bind_with_config("127.0.0.1:0", generate_identity(), config).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn bind_with_config(
        addr: impl ToSocketAddrs,
        identity: StaticSecret,
        config: EndpointConfig,
    ) -> io::Result<Socket> {
        let socket = UdpSocket::bind(addr).await?;
        let shared = Shared::new(Arc::new(TokioUdp::new(socket)?), identity, config);
        let driver = lrp2p_driver::drive(shared.clone(), TokioTimer::new());
        let guard = StopOnDrop(shared.clone());
        tokio::spawn(async move {
            let _guard = guard;
            driver.await;
        });
        Ok(Socket { shared })
    }

    /// The local address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.shared.local_addr()
    }

    /// This socket's identity: what peers pass to [`Socket::connect`].
    pub fn public_key(&self) -> PublicKey {
        self.shared.public_key()
    }

    /// Opens a connection to the peer at `addr` whose static key is `peer` (Noise IK, 0-RTT).
    ///
    /// Returns once `addr` is resolved, without a round trip. The handshake starts at the
    /// connection's first read, write, flush or [`connected`](Connection::connected), so the
    /// first write's bytes ride in the very first datagram. A peer that does not answer makes
    /// that call (or a later one) fail with [`io::ErrorKind::TimedOut`] after
    /// `handshake_timeout`; a peer that refuses us, with [`io::ErrorKind::ConnectionRefused`].
    ///
    /// ```no_run
    /// # async fn example() -> std::io::Result<()> {
    /// use lrp2p_tokio::{PublicKey, Socket, generate_identity};
    /// use tokio::io::AsyncWriteExt;
    ///
    /// let peer: PublicKey = "u4NbLwV1oPSqL3WfhR9hB9Jm0n2XkzvVmXDLb0z0bHY=".parse().expect("a key");
    /// let socket = Socket::bind("0.0.0.0:0", generate_identity()).await?;
    /// let mut conn = socket.connect("203.0.113.7:7000", peer).await?;
    /// conn.write_all(b"hello").await?; // rides in the first datagram
    /// conn.shutdown().await?;
    /// conn.acknowledged().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(&self, addr: impl ToSocketAddrs, peer: PublicKey) -> io::Result<Connection> {
        self.open(addr, Some(peer), None).await
    }

    /// Opens a connection to whoever answers at `addr` (Noise XX: one more round trip, and
    /// the peer's key is learnt from the handshake: see [`Connection::peer_public_key`]).
    /// The handshake starts at once; this does not wait for it ([`Connection::connected`] does).
    ///
    /// ```no_run
    /// # async fn example() -> std::io::Result<()> {
    /// use lrp2p_tokio::{Socket, generate_identity};
    ///
    /// let socket = Socket::bind("0.0.0.0:0", generate_identity()).await?;
    /// let conn = socket.connect_unknown("203.0.113.7:7000").await?;
    /// conn.connected().await?;
    /// println!("talking to {:?}", conn.peer_public_key());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect_unknown(&self, addr: impl ToSocketAddrs) -> io::Result<Connection> {
        let conn = self.open(addr, None, None).await?;
        conn.start()?;
        Ok(conn)
    }

    /// Opens a connection that names the service it wants with the application protocol id
    /// `app_protocol` (PROTOCOL.md §7.7, like QUIC's ALPN): Noise IK to `peer` as
    /// [`connect`](Self::connect) (the handshake waits for the first write, whose bytes and the
    /// id ride the first datagram), or, without a key, XX as
    /// [`connect_unknown`](Self::connect_unknown) (started at once; the id rides the XX finish
    /// with whatever was written by then). The responder's acceptor sees the id
    /// ([`Socket::set_acceptor_with_info`]) if the first write comes before that message is
    /// built; either way the accepted connection reads it with [`Connection::app_protocol`].
    ///
    /// ```no_run
    /// # async fn example(socket: lrp2p_tokio::Socket, key: lrp2p_tokio::PublicKey) -> std::io::Result<()> {
    /// use tokio::io::AsyncWriteExt;
    /// use lrp2p_tokio::AppProtocol;
    ///
    /// let web = AppProtocol::try_from("http/1.1").expect("1 to 32 bytes");
    /// let mut conn = socket.connect_with("203.0.113.7:7000", Some(key), web).await?;
    /// conn.write_all(b"GET /").await?; // the request and the id, in the first datagram
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect_with(
        &self,
        addr: impl ToSocketAddrs,
        peer: Option<PublicKey>,
        app_protocol: AppProtocol,
    ) -> io::Result<Connection> {
        let started = peer.is_none();
        let conn = self.open(addr, peer, Some(app_protocol)).await?;
        if started {
            conn.start()?;
        }
        Ok(conn)
    }

    /// Connects to the peer with key `peer` at whichever of `addrs` answers first: the IK
    /// initiation goes to each (at most 9; the first is retransmitted as usual, the others get
    /// three copies at most), and the address that answers becomes the connection's path
    /// ([`Connection::path`]); a PUNCH from the peer ([`Socket::punch`]) adds the address it
    /// came from (PROTOCOL.md §13.6, §13.9). For a peer behind a NAT whose addresses a
    /// rendezvous gave: its observed address first, then its local ones. Lazy, as
    /// [`Socket::connect`] with a key is: the first write rides in the initiation.
    ///
    /// ```no_run
    /// # async fn example(socket: lrp2p_tokio::Socket, key: lrp2p_tokio::PublicKey) -> std::io::Result<()> {
    /// let addrs = ["198.51.100.7:7000".parse().unwrap(), "10.1.0.2:7000".parse().unwrap()];
    /// let conn = socket.connect_many(&addrs, key, None)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn connect_many(
        &self,
        addrs: &[std::net::SocketAddr],
        peer: PublicKey,
        app_protocol: Option<AppProtocol>,
    ) -> io::Result<Connection> {
        let id = self.shared.open_many(addrs, peer, app_protocol)?;
        Ok(Connection::new(self.shared.clone(), id))
    }

    /// Sends PUNCH datagrams to `peer` at `addrs` (PROTOCOL.md §13.9): what the peer a
    /// rendezvous introduced does toward the one that asked, so that the asker's initiation
    /// gets through this side's NAT and the asker learns the address this side's NAT uses
    /// toward it. Three rounds over 600 ms, at most 9 addresses; returns how many addresses
    /// will be punched (0 if none is usable or too many punches are queued).
    pub fn punch(&self, peer: PublicKey, addrs: &[std::net::SocketAddr]) -> usize {
        self.shared.punch(peer, addrs)
    }

    /// Registers this socket with the rendezvous service at `addr`, known by its key
    /// (PROTOCOL.md §13.7): peers registered there can then reach this socket by key alone
    /// ([`Socket::connect_by_key`]), through NATs, and this socket can reach them. Returns the
    /// address the service sees this socket at (its NAT's public address and port). Fails if
    /// the service does not answer within the handshake timeout or refuses.
    ///
    /// ```no_run
    /// # async fn example(socket: lrp2p_tokio::Socket, rendezvous_key: lrp2p_tokio::PublicKey, friend: lrp2p_tokio::PublicKey) -> std::io::Result<()> {
    /// let observed = socket.register("198.51.100.1:7400".parse().unwrap(), rendezvous_key).await?;
    /// let mut conn = socket.connect_by_key(friend, None)?; // no address needed
    /// # Ok(())
    /// # }
    /// ```
    pub async fn register(&self, addr: SocketAddr, service_key: PublicKey) -> io::Result<SocketAddr> {
        self.shared.register(addr, service_key)?;
        Ok(poll_fn(|cx| self.shared.poll_registered(cx)).await?)
    }

    /// Waits until the link to the rendezvous ends (the service stopped, or closed it) and
    /// returns why: until this socket [`register`](Socket::register)s again, peers cannot reach
    /// it by key. Fails once the socket is closed. While no registration was made, it waits.
    ///
    /// ```no_run
    /// # async fn example(socket: lrp2p_tokio::Socket, addr: std::net::SocketAddr, key: lrp2p_tokio::PublicKey) -> std::io::Result<()> {
    /// socket.register(addr, key).await?;
    /// loop {
    ///     let why = socket.registration_ended().await?;
    ///     eprintln!("lost the rendezvous ({why:?}); registering again");
    ///     while socket.register(addr, key).await.is_err() {}
    /// }
    /// # }
    /// ```
    pub async fn registration_ended(&self) -> io::Result<CloseReason> {
        Ok(poll_fn(|cx| self.shared.poll_registration_ended(cx)).await?)
    }

    /// Connects to the peer with key `peer` through the rendezvous this socket registered with
    /// ([`Socket::register`]): the service introduces both, this side's IK initiation goes to
    /// the peer's addresses while the peer punches toward this side (PROTOCOL.md §13.7, §13.9),
    /// and the path that answers is used ([`Connection::path`]). What is written before the
    /// introduction rides in the initiation (0-RTT). A peer the service does not know fails
    /// with [`io::ErrorKind::NotFound`]; without a registration this fails with
    /// [`io::ErrorKind::NotConnected`].
    pub fn connect_by_key(
        &self,
        peer: PublicKey,
        app_protocol: Option<AppProtocol>,
    ) -> io::Result<Connection> {
        let id = self.shared.open_by_key(peer, app_protocol)?;
        Ok(Connection::new(self.shared.clone(), id))
    }

    /// Serves as a rendezvous for other sockets (PROTOCOL.md §13.7): they register here, find
    /// each other by key and are introduced. Their connections never reach [`Socket::accept`];
    /// this socket's own peers still do.
    pub fn serve_rendezvous(&self) {
        self.shared.serve_rendezvous();
    }

    /// [`serve_rendezvous`](Socket::serve_rendezvous) within `config`'s bounds: how many peers
    /// it holds, how long a registration lives, how many introductions one peer may ask for,
    /// and how fast each peer may send through the relay (PROTOCOL.md §13.8).
    ///
    /// ```no_run
    /// # fn example(socket: &lrp2p_tokio::Socket) {
    /// let mut config = lrp2p_tokio::RegistryConfig::default();
    /// config.relay_bytes_per_second = 50_000_000; // 400 Mbit/s per peer
    /// config.relay_datagrams_per_second = 80_000;
    /// socket.serve_rendezvous_with(config);
    /// # }
    /// ```
    pub fn serve_rendezvous_with(&self, config: crate::RegistryConfig) {
        self.shared.serve_rendezvous_with(config);
    }

    /// The rendezvous service's counters (registered peers, introductions), when serving.
    pub fn rendezvous_stats(&self) -> Option<crate::RendezvousStats> {
        self.shared.rendezvous_stats()
    }

    async fn open(
        &self,
        addr: impl ToSocketAddrs,
        peer: Option<PublicKey>,
        app_protocol: Option<AppProtocol>,
    ) -> io::Result<Connection> {
        let remote = tokio::net::lookup_host(addr).await?.next().ok_or(Error::NoAddress)?;
        let id = self.shared.open_with(remote, peer, app_protocol)?;
        Ok(Connection::new(self.shared.clone(), id))
    }

    /// Waits for a peer to connect; returns the connection and the peer's authenticated key.
    /// Every peer is accepted unless an acceptor says otherwise ([`Socket::set_acceptor`]).
    ///
    /// Cancel safe: a connection is taken from the queue only when this returns it. Bound the
    /// wait with [`tokio::time::timeout`].
    ///
    /// ```no_run
    /// # async fn example() -> std::io::Result<()> {
    /// use lrp2p_tokio::{Socket, generate_identity};
    /// use tokio::io::AsyncReadExt;
    ///
    /// let socket = Socket::bind("0.0.0.0:7000", generate_identity()).await?;
    /// loop {
    ///     let (mut conn, peer) = socket.accept().await?;
    ///     tokio::spawn(async move {
    ///         let mut received = Vec::new();
    ///         let _ = conn.read_to_end(&mut received).await;
    ///         println!("{peer}: {} bytes", received.len());
    ///     });
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn accept(&self) -> io::Result<(Connection, PublicKey)> {
        let (id, peer) = poll_fn(|cx| self.shared.poll_accept(cx)).await?;
        Ok((Connection::new(self.shared.clone(), id), peer))
    }

    /// Decides which peers to accept: `acceptor` sees each connecting peer's authenticated
    /// static key and returns whether to accept it; a refused peer gets an authenticated
    /// REFUSED and its connection fails with [`io::ErrorKind::ConnectionRefused`].
    ///
    /// It runs with the socket's lock held (in the driver task, or in whichever call
    /// dispatches the endpoint's events): keep it quick, and do not call into the socket from it.
    ///
    /// ```no_run
    /// # async fn example() -> std::io::Result<()> {
    /// use lrp2p_tokio::{PublicKey, Socket, generate_identity};
    ///
    /// let friend: PublicKey = "u4NbLwV1oPSqL3WfhR9hB9Jm0n2XkzvVmXDLb0z0bHY=".parse().expect("a key");
    /// let socket = Socket::bind("0.0.0.0:7000", generate_identity()).await?;
    /// socket.set_acceptor(move |key| *key == friend);
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_acceptor(&self, acceptor: impl Fn(&PublicKey) -> bool + Send + Sync + 'static) {
        self.shared.set_acceptor(acceptor);
    }

    /// As [`Socket::set_acceptor`], and `acceptor` sees everything known of the peer at
    /// admission ([`PeerInfo`]): its key, the address its initiation came from, and the
    /// application protocol id it sent (PROTOCOL.md §7.7) — to refuse, before it gets
    /// anything, a peer that wants a service this socket does not offer.
    ///
    /// ```no_run
    /// # async fn example() -> std::io::Result<()> {
    /// use lrp2p_tokio::{Socket, generate_identity};
    ///
    /// let socket = Socket::bind("0.0.0.0:7000", generate_identity()).await?;
    /// socket.set_acceptor_with_info(|peer| peer.app_protocol.is_some_and(|id| id.as_bytes() == b"chat/1"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_acceptor_with_info(&self, acceptor: impl Fn(&PeerInfo) -> bool + Send + Sync + 'static) {
        self.shared.set_acceptor_with_info(acceptor);
    }

    /// Closes every connection of this socket at once with an application's close `code`
    /// and `reason` (see [`Connection::close_with`](crate::Connection::close_with)): what a
    /// server does when it is interrupted, so that its peers learn it at once.
    ///
    /// ```no_run
    /// # async fn example(socket: lrp2p_tokio::Socket, interrupted: impl std::future::Future<Output = ()>) {
    /// // When the process is told to stop (Ctrl-C, say): every peer learns why at once.
    /// interrupted.await;
    /// socket.close_all(0x8001, b"interrupted");
    /// # }
    /// ```
    pub fn close_all(&self, code: u16, reason: &[u8]) {
        self.shared.close_all_with(code, reason);
    }

    /// As [`Socket::set_acceptor`], and `acceptor` sees the address the initiation came from
    /// too (to name it in a log line, say).
    ///
    /// ```no_run
    /// # async fn example() -> std::io::Result<()> {
    /// use lrp2p_tokio::{Socket, generate_identity};
    ///
    /// let socket = Socket::bind("0.0.0.0:7000", generate_identity()).await?;
    /// // Only peers on this machine.
    /// socket.set_acceptor_with_address(|_key, from| from.ip().is_loopback());
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_acceptor_with_address(
        &self,
        acceptor: impl Fn(&PublicKey, std::net::SocketAddr) -> bool + Send + Sync + 'static,
    ) {
        self.shared.set_acceptor_with_address(acceptor);
    }

    /// Accepts exactly the peers in `keys` (a convenience over [`Socket::set_acceptor`]).
    ///
    /// ```no_run
    /// # async fn example() -> std::io::Result<()> {
    /// use lrp2p_tokio::{PublicKey, Socket, generate_identity};
    ///
    /// let friend: PublicKey = "u4NbLwV1oPSqL3WfhR9hB9Jm0n2XkzvVmXDLb0z0bHY=".parse().expect("a key");
    /// let socket = Socket::bind("0.0.0.0:7000", generate_identity()).await?;
    /// socket.allow_only([friend]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn allow_only(&self, keys: impl IntoIterator<Item = PublicKey>) {
        self.shared.allow_only(keys);
    }

    /// The endpoint's counters (datagrams received, sent, dropped by cause).
    ///
    /// ```no_run
    /// # async fn example() -> std::io::Result<()> {
    /// use lrp2p_tokio::{Socket, generate_identity};
    ///
    /// let socket = Socket::bind("127.0.0.1:0", generate_identity()).await?;
    /// println!("{:?}", socket.stats());
    /// # Ok(())
    /// # }
    /// ```
    pub fn stats(&self) -> EndpointStats {
        self.shared.stats()
    }

    /// System calls and datagrams through the UDP socket, each way (how well batching works).
    pub fn io_stats(&self) -> IoStats {
        self.shared.io_stats()
    }
}
