//! [`Socket`]: one UDP socket, one [`Endpoint`], one driver thread; any number of
//! connections in both directions.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lrp2p_proto::config::EndpointConfig;
use lrp2p_proto::endpoint::{Endpoint, EndpointStats};
use lrp2p_proto::identity::{PublicKey, StaticSecret};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::connection::Connection;
use crate::error::Error;
use crate::state::{ConnState, Shared, State, unix_ns};

/// A fresh static key from the operating system's RNG: a new identity.
pub fn generate_identity() -> StaticSecret {
    StaticSecret::generate(&mut rand_core::OsRng)
}

/// An LRP2P socket: the Go library's `SocketListen`. It connects to peers and accepts peers on
/// one UDP port; every connection is a [`Connection`].
///
/// Dropping it closes every connection (each peer is told) and stops its driver thread.
pub struct Socket {
    shared: Arc<Shared>,
    public_key: PublicKey,
    driver: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("local_addr", &self.shared.socket.local_addr().ok())
            .field("public_key", &self.public_key)
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
    pub fn bind(addr: impl ToSocketAddrs, identity: StaticSecret) -> io::Result<Socket> {
        Socket::bind_with_config(addr, identity, EndpointConfig::default())
    }

    /// [`Socket::bind`] with an explicit configuration.
    pub fn bind_with_config(
        addr: impl ToSocketAddrs,
        identity: StaticSecret,
        config: EndpointConfig,
    ) -> io::Result<Socket> {
        let socket = UdpSocket::bind(addr)?;
        let local = socket.local_addr()?;
        let wake_ip = match local.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let public_key = identity.public_key();
        let rng = ChaCha20Rng::from_entropy();
        let now = Instant::now();
        let max_datagram = config.connection.max_datagram_size;
        let endpoint = Endpoint::new(config, identity, rng, now, unix_ns());
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(endpoint, now, max_datagram)),
            socket,
            accept_cond: Condvar::new(),
            wake_addr: SocketAddr::new(wake_ip, local.port()),
        });
        let driver_shared = shared.clone();
        let driver = std::thread::Builder::new()
            .name(format!("lrp2p-driver {local}"))
            .spawn(move || crate::driver::run(driver_shared))?;
        Ok(Socket { shared, public_key, driver: Some(driver) })
    }

    /// The local address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.shared.socket.local_addr()
    }

    /// This socket's identity: what peers pass to [`Socket::connect`].
    pub fn public_key(&self) -> PublicKey {
        self.public_key
    }

    /// Opens a connection to the peer at `addr` whose static key is `peer` (Noise IK, 0-RTT).
    ///
    /// Returns at once, without a round trip. The handshake starts at the connection's first
    /// read, write, flush or [`wait_connected`](Connection::wait_connected), so the first
    /// write's bytes ride in the very first datagram. A peer that does not answer makes that
    /// call (or a later one) fail with [`io::ErrorKind::TimedOut`] after `handshake_timeout`;
    /// a peer that refuses us, with [`io::ErrorKind::ConnectionRefused`].
    pub fn connect(&self, addr: impl ToSocketAddrs, peer: PublicKey) -> io::Result<Connection> {
        self.open(addr, Some(peer))
    }

    /// Opens a connection to whoever answers at `addr` (Noise XX: one more round trip, and
    /// the peer's key is learnt from the handshake: see [`Connection::peer_public_key`]).
    /// The handshake starts at once.
    pub fn connect_unknown(&self, addr: impl ToSocketAddrs) -> io::Result<Connection> {
        let conn = self.open(addr, None)?;
        conn.start()?;
        Ok(conn)
    }

    fn open(&self, addr: impl ToSocketAddrs, peer: Option<PublicKey>) -> io::Result<Connection> {
        let remote = addr.to_socket_addrs()?.next().ok_or(Error::NoAddress)?;
        let mut state = self.shared.lock();
        if state.stopping {
            return Err(Error::SocketClosed.into());
        }
        let mut conn = ConnState::new(None, peer);
        conn.pending_connect = Some((remote, peer));
        let cond = conn.cond.clone();
        let id = state.insert(conn);
        Ok(Connection::new(self.shared.clone(), id, cond))
    }

    /// Waits for a peer to connect; returns the connection and the peer's authenticated key.
    /// Every peer is accepted unless an acceptor says otherwise ([`Socket::set_acceptor`]).
    pub fn accept(&self) -> io::Result<(Connection, PublicKey)> {
        self.accept_until(None)
    }

    /// [`Socket::accept`], failing with [`io::ErrorKind::TimedOut`] after `timeout`.
    pub fn accept_timeout(&self, timeout: Duration) -> io::Result<(Connection, PublicKey)> {
        self.accept_until(Some(Instant::now() + timeout))
    }

    fn accept_until(&self, deadline: Option<Instant>) -> io::Result<(Connection, PublicKey)> {
        let mut state = self.shared.lock();
        loop {
            if state.stopping {
                return Err(Error::SocketClosed.into());
            }
            if let Some((id, peer)) = state.incoming.pop_front() {
                if let Some(conn) = state.conns.get(&id) {
                    let cond = conn.cond.clone();
                    return Ok((Connection::new(self.shared.clone(), id, cond), peer));
                }
                continue;
            }
            state = match deadline {
                None => {
                    self.shared.accept_cond.wait(state).unwrap_or_else(std::sync::PoisonError::into_inner)
                }
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Error::Timeout.into());
                    }
                    let (state, _) = self
                        .shared
                        .accept_cond
                        .wait_timeout(state, left)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    state
                }
            };
        }
    }

    /// Decides which peers to accept: `acceptor` sees each connecting peer's authenticated
    /// static key and returns whether to accept it; a refused peer gets an authenticated
    /// REFUSED and its `connect` fails with [`io::ErrorKind::ConnectionRefused`].
    ///
    /// It runs on the driver thread with the socket's lock held: keep it quick, and do not
    /// call into the socket from it.
    pub fn set_acceptor(&self, acceptor: impl Fn(&PublicKey) -> bool + Send + Sync + 'static) {
        self.shared.lock().acceptor = Some(Arc::new(acceptor));
    }

    /// Accepts exactly the peers in `keys` (a convenience over [`Socket::set_acceptor`]).
    pub fn allow_only(&self, keys: impl IntoIterator<Item = PublicKey>) {
        let keys: Vec<PublicKey> = keys.into_iter().collect();
        self.set_acceptor(move |peer| keys.contains(peer));
    }

    /// The endpoint's counters (datagrams received, sent, dropped by cause).
    pub fn stats(&self) -> EndpointStats {
        self.shared.lock().endpoint.stats()
    }
}

impl Drop for Socket {
    /// Waits up to 2 s for finished streams (shut down or dropped connections) to be
    /// acknowledged, so that their peers can read them to the end; then aborts every other
    /// connection (its peer is sent a CLOSE) and stops the driver thread.
    fn drop(&mut self) {
        let linger_until = Instant::now() + crate::state::SOCKET_LINGER;
        while Instant::now() < linger_until && self.shared.lock().finishing() {
            std::thread::sleep(Duration::from_millis(2));
        }
        {
            let mut state = self.shared.lock();
            state.stop(&self.shared, Instant::now());
        }
        self.shared.wake_driver();
        if let Some(driver) = self.driver.take() {
            let _ = driver.join();
        }
    }
}
