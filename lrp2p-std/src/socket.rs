//! [`Socket`]: one UDP socket, one [`Endpoint`](lrp2p_proto::Endpoint), one
//! driver thread; any number of connections in both directions.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lrp2p_driver::async_io_runtime;
use lrp2p_driver::{
    AppProtocol, CloseReason, EndpointConfig, EndpointStats, Error, IoStats, PeerInfo, PublicKey,
    SOCKET_LINGER, Shared, StaticSecret,
};

use crate::block::block_on;
use crate::connection::Connection;

/// A fresh static key from the operating system's RNG: a new identity.
pub fn generate_identity() -> StaticSecret {
    lrp2p_driver::generate_identity()
}
/// An LRP2P socket: the Go library's `SocketListen`. It connects to peers and accepts peers on
/// one UDP port; every connection is a [`Connection`].
///
/// Dropping it closes every connection (each peer is told) and stops its driver thread.
pub struct Socket {
    shared: Arc<Shared>,
    driver: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("local_addr", &self.shared.local_addr().ok())
            .field("public_key", &self.shared.public_key())
            .finish()
    }
}

impl Socket {
    /// Binds a UDP socket to `addr` with the static key `identity` and the default
    /// configuration, and starts its driver thread.
    ///
    /// The default keeps 0-RTT replay protection across restarts: a freshly started socket
    /// refuses early data for 30 s (it still arrives, one round trip later). If `identity` was
    /// generated at this start-up, use [`Socket::bind_with_config`] with
    /// `early_data.start_floor = false`.
    ///
    /// ```no_run
    /// # fn example() -> std::io::Result<()> {
    /// use lrp2p_std::{Socket, generate_identity};
    ///
    /// let socket = Socket::bind("0.0.0.0:7000", generate_identity())?;
    /// println!("listening on {} as {}", socket.local_addr()?, socket.public_key());
    /// # Ok(())
    /// # }
    /// ```
    pub fn bind(addr: impl ToSocketAddrs, identity: StaticSecret) -> io::Result<Socket> {
        Socket::bind_with_config(addr, identity, EndpointConfig::default())
    }

    /// [`Socket::bind`] with an explicit configuration.
    ///
    /// ```no_run
    /// # fn example() -> std::io::Result<()> {
    /// use lrp2p_std::{EndpointConfig, Socket, generate_identity};
    ///
    /// // A key generated at start-up: nothing sent to it before can be replayed, so allow 0-RTT at once.
    /// let mut config = EndpointConfig::default();
    /// config.early_data.start_floor = false;
    /// let socket = Socket::bind_with_config("127.0.0.1:0", generate_identity(), config)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn bind_with_config(
        addr: impl ToSocketAddrs,
        identity: StaticSecret,
        config: EndpointConfig,
    ) -> io::Result<Socket> {
        let socket = UdpSocket::bind(addr)?;
        let local = socket.local_addr()?;
        let (shared, driver) = async_io_runtime::start(socket, identity, config)?;
        let driver = std::thread::Builder::new()
            .name(format!("lrp2p-driver {local}"))
            .spawn(move || async_io_runtime::run(driver))?;
        Ok(Socket { shared, driver: Some(driver) })
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
    /// Returns at once, without a round trip. The handshake starts at the connection's first
    /// read, write, flush or [`connected`](Connection::connected), so the first
    /// write's bytes ride in the very first datagram. A peer that does not answer makes that
    /// call (or a later one) fail with [`io::ErrorKind::TimedOut`] after `handshake_timeout`;
    /// a peer that refuses us, with [`io::ErrorKind::ConnectionRefused`].
    ///
    /// ```no_run
    /// # fn example() -> std::io::Result<()> {
    /// use std::io::Write;
    /// use lrp2p_std::{PublicKey, Socket, generate_identity};
    ///
    /// let friend: PublicKey = "u4NbLwV1oPSqL3WfhR9hB9Jm0n2XkzvVmXDLb0z0bHY=".parse().expect("a key");
    /// let socket = Socket::bind("0.0.0.0:0", generate_identity())?;
    /// let mut conn = socket.connect("203.0.113.7:7000", friend)?;
    /// conn.write_all(b"hello")?; // rides in the first datagram
    /// conn.shutdown()?;
    /// conn.acknowledged()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn connect(&self, addr: impl ToSocketAddrs, peer: PublicKey) -> io::Result<Connection> {
        self.open(addr, Some(peer), None)
    }

    /// Opens a connection to whoever answers at `addr` (Noise XX: one more round trip, and
    /// the peer's key is learnt from the handshake: see [`Connection::peer_public_key`]).
    /// The handshake starts at once.
    ///
    /// ```no_run
    /// # fn example() -> std::io::Result<()> {
    /// use lrp2p_std::{Socket, generate_identity};
    ///
    /// let socket = Socket::bind("0.0.0.0:0", generate_identity())?;
    /// let conn = socket.connect_unknown("203.0.113.7:7000")?;
    /// conn.connected()?;
    /// println!("talking to {:?}", conn.peer_public_key());
    /// # Ok(())
    /// # }
    /// ```
    pub fn connect_unknown(&self, addr: impl ToSocketAddrs) -> io::Result<Connection> {
        let conn = self.open(addr, None, None)?;
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
    /// # fn example(socket: lrp2p_std::Socket, key: lrp2p_std::PublicKey) -> std::io::Result<()> {
    /// use std::io::Write;
    /// use lrp2p_std::AppProtocol;
    ///
    /// let web = AppProtocol::try_from("http/1.1").expect("1 to 32 bytes");
    /// let mut conn = socket.connect_with("203.0.113.7:7000", Some(key), web)?;
    /// conn.write_all(b"GET /")?; // the request and the id, in the first datagram
    /// # Ok(())
    /// # }
    /// ```
    pub fn connect_with(
        &self,
        addr: impl ToSocketAddrs,
        peer: Option<PublicKey>,
        app_protocol: AppProtocol,
    ) -> io::Result<Connection> {
        let started = peer.is_none();
        let conn = self.open(addr, peer, Some(app_protocol))?;
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
    /// # fn example(socket: lrp2p_std::Socket, key: lrp2p_std::PublicKey) -> std::io::Result<()> {
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
    /// # fn example(socket: lrp2p_std::Socket, rendezvous_key: lrp2p_std::PublicKey, friend: lrp2p_std::PublicKey) -> std::io::Result<()> {
    /// let observed = socket.register("198.51.100.1:7400".parse().unwrap(), rendezvous_key)?;
    /// let mut conn = socket.connect_by_key(friend, None)?; // no address needed
    /// # Ok(())
    /// # }
    /// ```
    pub fn register(&self, addr: SocketAddr, service_key: PublicKey) -> io::Result<SocketAddr> {
        self.shared.register(addr, service_key)?;
        Ok(block_on(None, |cx| self.shared.poll_registered(cx)).ok_or(Error::Timeout)??)
    }

    /// Blocks until the link to the rendezvous ends (the service stopped, or closed it) and
    /// returns why: until this socket [`register`](Socket::register)s again, peers cannot reach
    /// it by key. Fails with [`io::ErrorKind::TimedOut`] after `timeout`, and once the socket
    /// is closed. While no registration was made, it waits.
    ///
    /// ```no_run
    /// # fn example(socket: lrp2p_std::Socket, addr: std::net::SocketAddr, key: lrp2p_std::PublicKey) -> std::io::Result<()> {
    /// socket.register(addr, key)?;
    /// loop {
    ///     let why = socket.registration_ended(None)?;
    ///     eprintln!("lost the rendezvous ({why:?}); registering again");
    ///     while socket.register(addr, key).is_err() {
    ///         std::thread::sleep(std::time::Duration::from_secs(1));
    ///     }
    /// }
    /// # }
    /// ```
    pub fn registration_ended(&self, timeout: Option<Duration>) -> io::Result<CloseReason> {
        let deadline = timeout.map(|t| Instant::now() + t);
        Ok(block_on(deadline, |cx| self.shared.poll_registration_ended(cx)).ok_or(Error::Timeout)??)
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
    /// # fn example(socket: &lrp2p_std::Socket) {
    /// let mut config = lrp2p_std::RegistryConfig::default();
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

    fn open(
        &self,
        addr: impl ToSocketAddrs,
        peer: Option<PublicKey>,
        app_protocol: Option<AppProtocol>,
    ) -> io::Result<Connection> {
        let remote = addr.to_socket_addrs()?.next().ok_or(Error::NoAddress)?;
        let id = self.shared.open_with(remote, peer, app_protocol)?;
        Ok(Connection::new(self.shared.clone(), id))
    }

    /// Waits for a peer to connect; returns the connection and the peer's authenticated key.
    /// Every peer is accepted unless an acceptor says otherwise ([`Socket::set_acceptor`]).
    ///
    /// ```no_run
    /// # fn example() -> std::io::Result<()> {
    /// use std::io::Read;
    /// use lrp2p_std::{Socket, generate_identity};
    ///
    /// let socket = Socket::bind("0.0.0.0:7000", generate_identity())?;
    /// loop {
    ///     let (mut conn, peer) = socket.accept()?;
    ///     std::thread::spawn(move || {
    ///         let mut received = Vec::new();
    ///         let _ = conn.read_to_end(&mut received);
    ///         println!("{peer}: {} bytes", received.len());
    ///     });
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn accept(&self) -> io::Result<(Connection, PublicKey)> {
        self.accept_until(None)
    }

    /// [`Socket::accept`], failing with [`io::ErrorKind::TimedOut`] after `timeout`.
    ///
    /// ```no_run
    /// # fn example() -> std::io::Result<()> {
    /// use std::time::Duration;
    /// use lrp2p_std::{Socket, generate_identity};
    ///
    /// let socket = Socket::bind("0.0.0.0:7000", generate_identity())?;
    /// match socket.accept_timeout(Duration::from_secs(10)) {
    ///     Ok((_conn, peer)) => println!("{peer} connected"),
    ///     Err(e) if e.kind() == std::io::ErrorKind::TimedOut => println!("nobody came"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn accept_timeout(&self, timeout: Duration) -> io::Result<(Connection, PublicKey)> {
        self.accept_until(Some(Instant::now() + timeout))
    }

    fn accept_until(&self, deadline: Option<Instant>) -> io::Result<(Connection, PublicKey)> {
        let (id, peer) = block_on(deadline, |cx| self.shared.poll_accept(cx)).ok_or(Error::Timeout)??;
        Ok((Connection::new(self.shared.clone(), id), peer))
    }

    /// Decides which peers to accept: `acceptor` sees each connecting peer's authenticated
    /// static key and returns whether to accept it; a refused peer gets an authenticated
    /// REFUSED and its `connect` fails with [`io::ErrorKind::ConnectionRefused`].
    ///
    /// It runs with the socket's lock held (on the driver thread, or in whichever call
    /// dispatches the endpoint's events): keep it quick, and do not call into the socket from it.
    ///
    /// ```no_run
    /// # fn example() -> std::io::Result<()> {
    /// use lrp2p_std::{PublicKey, Socket, generate_identity};
    ///
    /// let friend: PublicKey = "u4NbLwV1oPSqL3WfhR9hB9Jm0n2XkzvVmXDLb0z0bHY=".parse().expect("a key");
    /// let socket = Socket::bind("0.0.0.0:7000", generate_identity())?;
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
    /// # fn example() -> std::io::Result<()> {
    /// use lrp2p_std::{Socket, generate_identity};
    ///
    /// let socket = Socket::bind("0.0.0.0:7000", generate_identity())?;
    /// socket.set_acceptor_with_info(|peer| peer.app_protocol.is_some_and(|id| id.as_bytes() == b"chat/1"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_acceptor_with_info(&self, acceptor: impl Fn(&PeerInfo) -> bool + Send + Sync + 'static) {
        self.shared.set_acceptor_with_info(acceptor);
    }

    /// Accepts exactly the peers in `keys` (a convenience over [`Socket::set_acceptor`]).
    ///
    /// ```no_run
    /// # fn example() -> std::io::Result<()> {
    /// use lrp2p_std::{PublicKey, Socket, generate_identity};
    ///
    /// let friend: PublicKey = "u4NbLwV1oPSqL3WfhR9hB9Jm0n2XkzvVmXDLb0z0bHY=".parse().expect("a key");
    /// let socket = Socket::bind("0.0.0.0:7000", generate_identity())?;
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
    /// # fn example() -> std::io::Result<()> {
    /// use lrp2p_std::{Socket, generate_identity};
    ///
    /// let socket = Socket::bind("127.0.0.1:0", generate_identity())?;
    /// println!("{:?} {:?}", socket.stats(), socket.io_stats());
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

impl Drop for Socket {
    /// Waits up to [`SOCKET_LINGER`] (2 s) for finished streams (shut down or dropped
    /// connections) to be acknowledged, so that their peers can read them to the end; then
    /// every other connection is aborted (its peer is sent a CLOSE) and the driver thread ends.
    /// The driver does the wait, woken by the acknowledgements themselves; this joins it.
    fn drop(&mut self) {
        self.shared.stop(SOCKET_LINGER);
        if let Some(driver) = self.driver.take() {
            let _ = driver.join();
        }
    }
}
