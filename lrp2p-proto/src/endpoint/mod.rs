//! The [`Endpoint`]: one per UDP socket. It owns every connection, routes datagrams to them
//! by the receiver's connection id, admits new ones (cookies, caps, the 0-RTT replay guard, the
//! amplification limit: `incoming.rs`), keeps what their receive streams hold within one
//! memory budget (`memory.rs`), and hands the application [`Event`]s and
//! [`ConnectionHandle`]s. Everything about a connection once admitted — its handshake, streams,
//! timers and lifecycle — is the connection's (`crate::connection`).
//!
//! The contract is sans-IO: feed it datagrams ([`Endpoint::handle_datagram`]) and time
//! ([`Endpoint::handle_timeout`]); send what [`Endpoint::poll_transmit`] (or
//! [`Endpoint::poll_transmit_batch`]) writes; sleep until [`Endpoint::poll_timeout`]; act on
//! [`Endpoint::poll_event`]. It never reads a clock or the OS RNG: `now` is a parameter and
//! randomness comes from the RNG given to [`Endpoint::new`].

mod admission;
mod event;
mod incoming;
mod memory;
mod punch;
mod relay;
#[cfg(test)]
mod relay_musts;
mod rendezvous;
mod stats;
mod table;
mod transmit;

pub use self::stats::EndpointStats;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use rand_core::{CryptoRng, RngCore};

use self::admission::HandshakeBudget;
pub use self::event::Event;
use self::memory::ReceiveMemory;
pub use self::relay::RelayStats;
pub use self::rendezvous::RendezvousStats;
use self::table::Table;
use crate::app_protocol::AppProtocol;
use crate::config::{ConnectOptions, ConnectionConfig, EndpointConfig};
use crate::connection::{ConnEvent, Connection, ConnectionStats, HandshakeCtx, PathInfo};
use crate::crypto::cookie::CookieSecrets;
use crate::crypto::early::EarlyDataGuard;
use crate::error::{ConnectError, ReadError, UnknownConnection, WriteError};
use crate::identity::{PublicKey, StaticSecret};
use crate::wire::{COOKIE_REPLY_LEN, ConnectionId};

/// Names one connection of an endpoint. Stale handles (of freed connections) are rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionHandle {
    index: u32,
    generation: u32,
}

/// Datagrams to send, written into the caller's buffer by [`Endpoint::poll_transmit`] (one
/// datagram) or [`Endpoint::poll_transmit_batch`] (several to one destination, back to back, as
/// UDP segmentation offload takes them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transmit {
    /// Where to send them.
    pub destination: SocketAddr,
    /// How many bytes of the buffer they fill.
    pub len: usize,
    /// The size of each datagram but the last, which may be shorter: `len` is one datagram when
    /// it is at most this.
    pub segment_size: usize,
}

/// What a rendezvous role learns of one of its connections that ended: why, and whose it was.
#[derive(Debug)]
struct Ended {
    reason: crate::connection::CloseReason,
    peer: Option<PublicKey>,
}

/// Cookie replies waiting to go out (stateless; bounded).
const MAX_STATELESS: usize = 64;

/// One UDP socket's worth of LRP2P: see the module documentation.
pub struct Endpoint<R> {
    config: EndpointConfig,
    conn_config: Arc<ConnectionConfig>,
    identity: StaticSecret,
    rng: R,
    table: Table,
    guard: EarlyDataGuard,
    cookies: CookieSecrets,
    /// Diffie-Hellman work left this second before the endpoint is under load.
    budget: HandshakeBudget,
    /// What the receive streams hold, within `EndpointConfig::receive_memory`.
    memory: ReceiveMemory,
    events: VecDeque<Event>,
    stateless: VecDeque<(SocketAddr, [u8; COOKIE_REPLY_LEN])>,
    clock: (Instant, u64),
    last_timestamp: u64,
    stats: EndpointStats,
    /// PUNCH datagrams waiting for their time (PROTOCOL.md §13.7), bounded.
    punches: Vec<punch::QueuedPunch>,
    /// Registered with a rendezvous service (PROTOCOL.md §13.7).
    peer_role: Option<Box<rendezvous::PeerRole>>,
    /// Serving as a rendezvous.
    service_role: Option<Box<rendezvous::ServiceRole>>,
    /// What [`Endpoint::set_introduction_policy`] set (kept for a later registration).
    introduction_policy: Option<rendezvous::IntroductionPolicy>,
    /// Events of the roles' own connections, run at the end of the entry point.
    internal: VecDeque<(ConnectionHandle, ConnEvent, Option<Ended>)>,
    /// The service's relay (PROTOCOL.md §13.8), with the rendezvous role.
    relay_service: Option<Box<relay::RelayService>>,
    /// While a datagram carried through the relay is dispatched: the key that sent it.
    relayed_from: Option<PublicKey>,
}

impl<R: RngCore + CryptoRng> Endpoint<R> {
    /// An endpoint with identity `identity`, drawing randomness from `rng`, started at `now`,
    /// when the wall clock read `unix_ns` nanoseconds since the Unix epoch (for 0-RTT
    /// timestamps; refresh with [`Endpoint::set_unix_time`]).
    pub fn new(
        config: EndpointConfig,
        identity: StaticSecret,
        mut rng: R,
        now: Instant,
        unix_ns: u64,
    ) -> Self {
        let cookies = CookieSecrets::new(&mut rng, now);
        let guard = EarlyDataGuard::new(config.early_data, unix_ns);
        let budget = HandshakeBudget::new(config.handshake_budget, now);
        let memory = ReceiveMemory::new(config.receive_memory);
        Endpoint {
            conn_config: Arc::new(config.connection.clone()),
            config,
            identity,
            rng,
            table: Table::default(),
            guard,
            cookies,
            budget,
            memory,
            events: VecDeque::new(),
            stateless: VecDeque::new(),
            clock: (now, unix_ns),
            last_timestamp: 0,
            stats: EndpointStats::default(),
            punches: Vec::new(),
            peer_role: None,
            service_role: None,
            introduction_policy: None,
            internal: VecDeque::new(),
            relay_service: None,
            relayed_from: None,
        }
    }

    /// Tells the endpoint the wall clock reads `unix_ns` at `now` (corrects drift).
    pub fn set_unix_time(&mut self, now: Instant, unix_ns: u64) {
        self.clock = (now, unix_ns);
    }

    fn unix_now(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.clock.0).as_nanos();
        self.clock.1.saturating_add(u64::try_from(elapsed).unwrap_or(u64::MAX))
    }

    /// This endpoint's identity.
    pub fn public_key(&self) -> PublicKey {
        self.identity.public_key()
    }

    /// Opens a connection to `remote`. With the peer's key, Noise IK: data written before the
    /// first `poll_transmit` rides in the first datagram (0-RTT). Without, Noise XX (1-RTT).
    pub fn connect(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        peer: Option<PublicKey>,
    ) -> Result<ConnectionHandle, ConnectError> {
        self.connect_with(now, remote, peer, ConnectOptions::default())
    }

    /// [`connect`](Self::connect), but the handshake waits until the application first writes,
    /// reads or calls [`start`](Self::start): a caller that sends everything `poll_transmit`
    /// has after every call still gets its first write into the first datagram (0-RTT).
    pub fn connect_deferred(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        peer: Option<PublicKey>,
    ) -> Result<ConnectionHandle, ConnectError> {
        self.connect_with(now, remote, peer, ConnectOptions::default().deferred(true))
    }

    /// [`connect`](Self::connect) with `options`: an application protocol id for the responder
    /// (PROTOCOL.md §7.7), a deferred handshake.
    pub fn connect_with(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        peer: Option<PublicKey>,
        options: ConnectOptions,
    ) -> Result<ConnectionHandle, ConnectError> {
        if self.table.len() >= self.config.max_connections {
            return Err(ConnectError::TooManyConnections);
        }
        let local_id = self.fresh_id();
        let isn = self.isn();
        let config = self.conn_config.clone();
        let mut conn = Connection::initiator(now, config, local_id, isn, remote, peer, &options);
        conn.seed_counter_skips(self.secret());
        let handle = self.table.insert(conn, None);
        self.touched(handle);
        Ok(handle)
    }

    /// Opens a connection to the peer with key `peer`, which may be reached at any of
    /// `remotes` (as a rendezvous introduction gives them: its observed address first, then its
    /// local ones, PROTOCOL.md §13.7). Noise IK; its initiation goes to every address: the
    /// first is the primary, retransmitted as usual (§4.6), each other one gets at most three
    /// copies; the address whose valid response arrives first becomes the connection's path
    /// (§13.6). An authentic PUNCH from the peer (§13.7, [`Endpoint::punch`]) adds the address
    /// it came from. Addresses beyond [`MAX_DIAL_ADDRESSES`](crate::MAX_DIAL_ADDRESSES) in all,
    /// repeated ones and ones no datagram may go to (port 0, unspecified, multicast,
    /// broadcast) are left out.
    pub fn connect_many(
        &mut self,
        now: Instant,
        remotes: &[SocketAddr],
        peer: PublicKey,
        options: ConnectOptions,
    ) -> Result<ConnectionHandle, ConnectError> {
        let mut usable = remotes.iter().filter(|a| crate::connection::dialable(a));
        let primary = *usable.next().ok_or(ConnectError::NoAddress)?;
        let others: Vec<SocketAddr> = usable.copied().collect();
        let punch = crate::crypto::punch::PunchKey::new(&self.identity, &peer);
        let handle = self.connect_with(now, primary, Some(peer), options)?;
        if let Some(conn) = self.table.get_mut(handle) {
            conn.dial_also(&others, punch);
        }
        Ok(handle)
    }

    /// Starts the handshake of a [`connect_deferred`](Self::connect_deferred) connection (a
    /// no-op for any other).
    pub fn start(&mut self, now: Instant, connection: ConnectionHandle) -> Result<(), UnknownConnection> {
        self.call(now, connection, |conn, _| conn.start())
    }

    /// Accepts an [`Event::Incoming`] connection: the application now holds its handle.
    pub fn accept(&mut self, now: Instant, connection: ConnectionHandle) -> Result<(), UnknownConnection> {
        self.call(now, connection, |conn, rng| conn.accept(now, rng))
    }

    /// Refuses an [`Event::Incoming`] connection: the peer gets an authenticated REFUSED.
    pub fn refuse(&mut self, now: Instant, connection: ConnectionHandle) -> Result<(), UnknownConnection> {
        self.call(now, connection, |conn, rng| conn.refuse(now, rng))
    }

    /// Writes stream bytes; returns how many were taken (fewer than offered: backpressure, wait
    /// for [`Event::Writable`]).
    pub fn write(
        &mut self,
        now: Instant,
        connection: ConnectionHandle,
        data: &[u8],
    ) -> Result<usize, WriteError> {
        self.call(now, connection, |conn, _| conn.write(data))?
    }

    /// Reads stream bytes in order. `Ok(0)` (for a non-empty `buf`) is the end of the stream.
    pub fn read(
        &mut self,
        now: Instant,
        connection: ConnectionHandle,
        buf: &mut [u8],
    ) -> Result<usize, ReadError> {
        self.call(now, connection, |conn, _| conn.read(buf))?
    }

    /// Half-closes: a FIN follows the bytes written so far; reading continues.
    pub fn shutdown(&mut self, now: Instant, connection: ConnectionHandle) -> Result<(), UnknownConnection> {
        self.call(now, connection, |conn, _| conn.shutdown())
    }

    /// Closes (aborts, unless `code` is [`close_code::NO_ERROR`](crate::close_code::NO_ERROR)
    /// after a finished exchange): the peer gets a CLOSE with `code` and `reason`; nothing is
    /// sent or retransmitted afterwards.
    pub fn close(
        &mut self,
        now: Instant,
        connection: ConnectionHandle,
        code: u16,
        reason: &[u8],
    ) -> Result<(), UnknownConnection> {
        self.call(now, connection, |conn, _| conn.close(now, code, reason))
    }

    /// The application is done with the connection; its handle is stale from now on (and no
    /// more events name it). One that ended is freed at once. A live one finishes on its own,
    /// as a dropped `TcpStream` does: a FIN after what was written, incoming data discarded,
    /// and, if the peer has not finished too within
    /// [`release_linger`](crate::ConnectionConfig::release_linger), a CLOSE.
    pub fn release(&mut self, now: Instant, connection: ConnectionHandle) -> Result<(), UnknownConnection> {
        self.allow(connection);
        let conn = self.table.get_mut(connection).ok_or(UnknownConnection)?;
        let _ = conn.release(now);
        self.events.retain(|e| e.connection() != connection);
        self.touched(connection);
        Ok(())
    }

    /// Whether every byte written on the connection, and its FIN once it is shut down, has been
    /// acknowledged by the peer ([`Event::Acknowledged`] tells when this turns true).
    pub fn is_acknowledged(&self, connection: ConnectionHandle) -> Result<bool, UnknownConnection> {
        self.table.get(connection).map(Connection::is_acknowledged).ok_or(UnknownConnection)
    }

    /// Whether some connection's stream was shut down (or released) and still waits for the
    /// peer to acknowledge it: what an application closing gracefully waits for before
    /// [`close_all`](Self::close_all).
    pub fn is_finishing(&self) -> bool {
        self.table.iter().any(Connection::is_finishing)
    }

    /// The endpoint is going away (PROTOCOL.md §8.7's close policy): every live connection is
    /// closed with a CLOSE to its peer, except those whose finished stream is fully acknowledged
    /// (a CLOSE would make the peer discard what it has not read yet); connections finished
    /// both ways get CLOSE NO_ERROR, with the final ACK, so that a peer whose last ACKs were
    /// lost finishes too. Send what `poll_transmit` then has before dropping the endpoint.
    pub fn close_all(&mut self, now: Instant) {
        for handle in self.table.handles() {
            self.allow(handle);
            if let Some(conn) = self.table.get_mut(handle) {
                conn.close_for_endpoint(now);
            }
            self.touched(handle);
        }
    }

    /// Statistics of one connection.
    pub fn connection_stats(&self, connection: ConnectionHandle) -> Option<ConnectionStats> {
        self.table.get(connection).map(Connection::stats)
    }

    /// The authenticated key of the peer, once known.
    pub fn peer_key(&self, connection: ConnectionHandle) -> Option<PublicKey> {
        self.table.get(connection).and_then(Connection::peer_key)
    }

    /// The connection's application protocol id (PROTOCOL.md §7.7): an initiator's own (from
    /// [`ConnectOptions`]); on a responder, the one the initiator sent, known at
    /// [`Event::Incoming`] if its first DATA segment rode the handshake, else once that segment
    /// arrived. `None`: no id (yet), or a peer that sends none.
    pub fn app_protocol(&self, connection: ConnectionHandle) -> Option<AppProtocol> {
        self.table.get(connection).and_then(Connection::app_protocol)
    }

    /// The peer's current address.
    pub fn remote_address(&self, connection: ConnectionHandle) -> Option<SocketAddr> {
        self.table.get(connection).map(|c| self.shown(c.remote()))
    }

    /// The connection's current path, and the candidate being validated if any (PROTOCOL.md
    /// §13.1).
    pub fn path(&self, connection: ConnectionHandle) -> Option<PathInfo> {
        let mut info = self.table.get(connection).map(Connection::path_info)?;
        info.remote = self.shown(info.remote);
        Some(info)
    }

    /// Endpoint-wide counters.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// Number of connections held (in any state).
    pub fn connection_count(&self) -> usize {
        self.table.len()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest deadline: call [`Endpoint::handle_timeout`] then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.table.next_deadline(), self.next_punch(), self.next_scheduled()].into_iter().flatten().min()
    }

    /// Handles every deadline due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.cookies.rotate(&mut self.rng, now);
        while let Some(handle) = self.table.pop_due(now) {
            self.allow(handle);
            if let Some(conn) = self.table.get_mut(handle) {
                conn.handle_timeout(now);
                self.touched(handle);
            }
        }
        if let Some(service) = self.service_role.as_mut() {
            service.expire(now);
        }
        self.run_roles(now);
    }

    /// Runs `f` on the connection, then the bookkeeping every call ends with. Every call takes
    /// the time (the sans-IO contract), though not every one needs it.
    fn call<T>(
        &mut self,
        _now: Instant,
        connection: ConnectionHandle,
        f: impl FnOnce(&mut Connection, &mut R) -> T,
    ) -> Result<T, UnknownConnection> {
        self.allow(connection);
        let conn = self.table.get_mut(connection).ok_or(UnknownConnection)?;
        let out = f(conn, &mut self.rng);
        self.touched(connection);
        Ok(out)
    }

    /// A fresh random connection id, non-zero and not in use.
    fn fresh_id(&mut self) -> ConnectionId {
        loop {
            let id = ConnectionId(self.rng.next_u64());
            if id != ConnectionId::NONE && !self.table.has_id(id) {
                return id;
            }
        }
    }

    /// 32 random bytes for a new connection's private use (its counter-skip schedule).
    fn secret(&mut self) -> [u8; 32] {
        let mut key = [0u8; 32];
        self.rng.fill_bytes(&mut key);
        key
    }

    fn isn(&mut self) -> u32 {
        self.conn_config.initial_seq.unwrap_or_else(|| self.rng.next_u32())
    }

    /// Tells the connection what the receive budget allows it now (`memory.rs`): every call
    /// into a connection starts with this and ends with [`Self::after`].
    fn allow(&mut self, handle: ConnectionHandle) {
        let connections = self.table.len();
        if let Some(conn) = self.table.get_mut(handle) {
            conn.set_receive_allowance(self.memory.allowance(conn.receive_held(), connections));
        }
    }

    /// Bookkeeping after anything touched a connection: move its events to the queue, account
    /// for its receive memory, reschedule its deadline, free it when it ended and nobody needs
    /// it.
    fn after(&mut self, handle: ConnectionHandle) {
        let role_link = self.peer_role.as_ref().is_some_and(|p| p.link_is(handle))
            || self.service_role.as_ref().is_some_and(|s| s.serves(handle));
        let serving = self.service_role.is_some();
        let shown = self.table.get(handle).map(|c| self.shown(c.remote()));
        let Some(conn) = self.table.get_mut(handle) else { return };
        while let Some(event) = conn.poll_event() {
            let connection = handle;
            let for_service = serving
                && matches!(event, ConnEvent::Incoming)
                && conn.app_protocol() == Some(crate::rendezvous::RENDEZVOUS_APP_PROTOCOL);
            if role_link || for_service {
                // A rendezvous role's own connection (PROTOCOL.md §13.7): not the application's.
                // A link that ended may be freed before its role runs: what the role needs
                // of it goes with the event.
                let ended = matches!(event, ConnEvent::Closed)
                    .then(|| conn.close_reason().map(|reason| Ended { reason, peer: conn.peer_key() }))
                    .flatten();
                self.internal.push_back((handle, event, ended));
                continue;
            }
            let event = match event {
                ConnEvent::Incoming => match conn.peer_key() {
                    Some(peer) => Event::Incoming {
                        connection,
                        peer,
                        remote: shown.unwrap_or(conn.remote()),
                        app_protocol: conn.app_protocol(),
                    },
                    None => continue,
                },
                ConnEvent::Connected { early_data_accepted } => {
                    Event::Connected { connection, early_data_accepted }
                }
                ConnEvent::Confirmed => Event::Confirmed { connection },
                ConnEvent::Readable => Event::Readable { connection },
                ConnEvent::Writable => Event::Writable { connection },
                ConnEvent::Acknowledged => Event::Acknowledged { connection },
                ConnEvent::Finished => Event::Finished { connection },
                ConnEvent::PathChanged => Event::PathChanged { connection },
                ConnEvent::Closed => match conn.close_reason() {
                    Some(reason) => Event::Closed { connection, reason },
                    None => continue,
                },
            };
            self.events.push_back(event);
        }
        let report = conn.memory_report();
        let (freeable, half_open, deadline) = (conn.is_freeable(), conn.is_half_open(), conn.poll_timeout());
        self.memory.update(report.before, if freeable { 0 } else { report.held });
        self.stats.receive_budget_drops += report.drops;
        self.stats.receive_held = self.memory.held() as u64;
        self.stats.receive_held_peak = self.stats.receive_held_peak.max(self.stats.receive_held);
        if freeable {
            self.table.remove(handle);
        } else {
            self.table.update(handle, deadline, half_open);
        }
    }

    /// [`Self::after`], and the connection may now have something to send.
    fn touched(&mut self, handle: ConnectionHandle) {
        self.after(handle);
        self.table.mark_dirty(handle);
    }
}
