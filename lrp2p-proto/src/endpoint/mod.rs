//! The [`Endpoint`]: one per UDP socket. It owns every connection, demultiplexes datagrams by
//! the receiver's connection id, runs the responder side of handshakes (cookies, half-open
//! cap, 0-RTT replay guard), and hands the application [`Event`]s and [`ConnectionHandle`]s.
//!
//! The contract is sans-IO: feed it datagrams ([`Endpoint::handle_datagram`]) and time
//! ([`Endpoint::handle_timeout`]); send what [`Endpoint::poll_transmit`] writes; sleep until
//! [`Endpoint::poll_timeout`]; act on [`Endpoint::poll_event`]. It never reads a clock or the
//! OS RNG: `now` is a parameter and randomness comes from the RNG given to [`Endpoint::new`].

mod incoming;
mod table;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use rand_core::{CryptoRng, RngCore};

use self::table::Table;
use crate::config::EndpointConfig;
use crate::connection::{
    CloseReason, ConnEvent, Connection, ConnectionStats, Handshake, HandshakeCtx, Phase,
};
use crate::crypto::cookie::CookieSecrets;
use crate::crypto::early::EarlyDataGuard;
use crate::identity::{PublicKey, StaticSecret};
use crate::wire::{COOKIE_REPLY_LEN, ConnectionId};

/// Names one connection of an endpoint. Stale handles (of freed connections) are rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionHandle {
    index: u32,
    generation: u32,
}

/// A datagram to send, written into the caller's buffer by [`Endpoint::poll_transmit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// How many bytes of the buffer it fills.
    pub len: usize,
}

/// Something the application should act on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A peer wants to connect: call [`Endpoint::accept`] or [`Endpoint::refuse`].
    Incoming {
        /// The new connection.
        connection: ConnectionHandle,
        /// The peer's authenticated static key.
        peer: PublicKey,
        /// Where it came from.
        remote: SocketAddr,
    },
    /// The handshake completed.
    Connected {
        /// The connection.
        connection: ConnectionHandle,
        /// Whether 0-RTT early data was accepted (false for XX and when refused or replayed).
        early_data_accepted: bool,
    },
    /// Data became readable (edge-triggered: read until `Blocked`).
    Readable {
        /// The connection.
        connection: ConnectionHandle,
    },
    /// Send-buffer space freed up after a short write.
    Writable {
        /// The connection.
        connection: ConnectionHandle,
    },
    /// The peer finished its stream; every byte before the FIN has been read.
    Finished {
        /// The connection.
        connection: ConnectionHandle,
    },
    /// The connection ended; its handle is no longer valid after this.
    Closed {
        /// The connection.
        connection: ConnectionHandle,
        /// Why.
        reason: CloseReason,
    },
}

/// Why `connect` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The endpoint already holds `max_connections` connections.
    #[error("too many connections")]
    TooManyConnections,
}

/// Why a write failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// No such connection (closed and freed, or never existed).
    #[error("unknown connection")]
    UnknownConnection,
    /// The stream was shut down (FIN queued); nothing more can be written.
    #[error("stream finished")]
    Finished,
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
}

/// Why a read returned no data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// No such connection (closed and freed, or never existed).
    #[error("unknown connection")]
    UnknownConnection,
    /// Nothing to read yet; wait for [`Event::Readable`].
    #[error("no data available")]
    Blocked,
    /// The connection closed before the stream finished.
    #[error("connection closed")]
    Closed,
}

/// Endpoint-wide counters: mostly datagrams dropped, by cause.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStats {
    /// Datagrams handed to `handle_datagram`.
    pub datagrams_received: u64,
    /// Datagrams written by `poll_transmit`.
    pub datagrams_sent: u64,
    /// Dropped: not a well-formed LRP2P v1 datagram.
    pub malformed: u64,
    /// Dropped: addressed to no connection we have.
    pub unknown_connection: u64,
    /// Dropped: handshake messages that failed Noise processing.
    pub handshake_failures: u64,
    /// Dropped: initiations beyond the half-open or connection cap.
    pub refused_by_limits: u64,
    /// Cookie replies sent instead of state (under load).
    pub cookie_replies: u64,
    /// IK initiations whose early data was delivered / refused by the replay guard.
    pub early_data_accepted: u64,
    /// IK initiations whose early data was refused (replay, stale, table full, disabled).
    pub early_data_refused: u64,
    /// Duplicate initiations answered from stored state.
    pub duplicate_initiations: u64,
}

/// Cookie replies waiting to go out (stateless; bounded).
const MAX_STATELESS: usize = 64;

/// One UDP socket's worth of LRP2P: see the module documentation.
pub struct Endpoint<R> {
    config: EndpointConfig,
    conn_config: Arc<crate::config::ConnectionConfig>,
    identity: StaticSecret,
    rng: R,
    table: Table,
    guard: EarlyDataGuard,
    cookies: CookieSecrets,
    events: VecDeque<Event>,
    stateless: VecDeque<(SocketAddr, [u8; COOKIE_REPLY_LEN])>,
    clock: (Instant, u64),
    last_timestamp: u64,
    stats: EndpointStats,
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
        Endpoint {
            conn_config: Arc::new(config.connection.clone()),
            config,
            identity,
            rng,
            table: Table::default(),
            guard,
            cookies,
            events: VecDeque::new(),
            stateless: VecDeque::new(),
            clock: (now, unix_ns),
            last_timestamp: 0,
            stats: EndpointStats::default(),
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
        if self.table.len() >= self.config.max_connections {
            return Err(ConnectError::TooManyConnections);
        }
        let local_id = self.fresh_id();
        let isn = self.isn();
        let conn = Connection::new(
            now,
            self.conn_config.clone(),
            local_id,
            remote,
            true,
            isn,
            Handshake::Start { peer },
        );
        let handle = self.table.insert(conn, None);
        self.touched(now, handle);
        Ok(handle)
    }

    /// Accepts an [`Event::Incoming`] connection.
    pub fn accept(&mut self, now: Instant, connection: ConnectionHandle) {
        if let Some(conn) = self.table.get_mut(connection) {
            conn.accept(now, &mut self.rng);
            self.touched(now, connection);
        }
    }

    /// Refuses an [`Event::Incoming`] connection: the peer gets an authenticated REFUSED.
    pub fn refuse(&mut self, now: Instant, connection: ConnectionHandle) {
        if let Some(conn) = self.table.get_mut(connection) {
            conn.refuse(now, &mut self.rng);
            self.touched(now, connection);
        }
    }

    /// Writes stream bytes; returns how many were taken (fewer than offered: backpressure, wait
    /// for [`Event::Writable`]).
    pub fn write(
        &mut self,
        now: Instant,
        connection: ConnectionHandle,
        data: &[u8],
    ) -> Result<usize, WriteError> {
        let conn = self.table.get_mut(connection).ok_or(WriteError::UnknownConnection)?;
        let n = conn.write(data)?;
        conn.stats.stream_bytes_written += n as u64;
        self.touched(now, connection);
        Ok(n)
    }

    /// Reads stream bytes in order. `Ok(0)` (for a non-empty `buf`) is the end of the stream.
    pub fn read(
        &mut self,
        now: Instant,
        connection: ConnectionHandle,
        buf: &mut [u8],
    ) -> Result<usize, ReadError> {
        let conn = self.table.get_mut(connection).ok_or(ReadError::UnknownConnection)?;
        let result = conn.read(buf);
        if let Ok(n) = result {
            conn.stats.stream_bytes_read += n as u64;
        }
        self.touched(now, connection);
        result
    }

    /// Half-closes: a FIN follows the bytes written so far; reading continues.
    pub fn shutdown(&mut self, now: Instant, connection: ConnectionHandle) {
        if let Some(conn) = self.table.get_mut(connection) {
            conn.shutdown();
            self.touched(now, connection);
        }
    }

    /// Closes (aborts, unless `code` is `NO_ERROR` after a finished exchange): the peer gets a
    /// CLOSE with `code` and `reason`; nothing is sent or retransmitted afterwards.
    pub fn close(&mut self, now: Instant, connection: ConnectionHandle, code: u16, reason: &[u8]) {
        if let Some(conn) = self.table.get_mut(connection) {
            conn.close(now, code, reason);
            self.touched(now, connection);
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

    /// The peer's current address.
    pub fn remote_address(&self, connection: ConnectionHandle) -> Option<SocketAddr> {
        self.table.get(connection).map(|c| c.path.remote)
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
        self.table.next_deadline()
    }

    /// Handles every deadline due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.cookies.rotate(&mut self.rng, now);
        while let Some(handle) = self.table.pop_due(now) {
            if let Some(conn) = self.table.get_mut(handle) {
                conn.handle_timeout(now);
                self.touched(now, handle);
            }
        }
    }

    /// Writes the next datagram to send into `buf` (at least the configured datagram size).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some((destination, reply)) = self.stateless.pop_front() {
            let out = buf.get_mut(..reply.len())?;
            out.copy_from_slice(&reply);
            self.stats.datagrams_sent += 1;
            return Some(Transmit { destination, len: reply.len() });
        }
        while let Some(handle) = self.table.next_dirty() {
            let timestamp_ns = self.unix_now(now).max(self.last_timestamp + 1);
            let Some(conn) = self.table.get_mut(handle) else { continue };
            if matches!(conn.handshake, Handshake::Start { .. }) {
                self.last_timestamp = timestamp_ns;
                let ctx = HandshakeCtx { rng: &mut self.rng, identity: &self.identity, timestamp_ns };
                conn.start_handshake(now, ctx);
            }
            let sent = conn.poll_transmit(now, buf);
            self.after(now, handle);
            if let Some((destination, len)) = sent {
                // Keep it dirty: it may have more to send (round-robin with the others).
                self.table.mark_dirty(handle);
                self.stats.datagrams_sent += 1;
                return Some(Transmit { destination, len });
            }
            self.table.clear_dirty(handle);
        }
        None
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

    fn isn(&mut self) -> u32 {
        self.conn_config.initial_seq.unwrap_or_else(|| self.rng.next_u32())
    }

    /// Bookkeeping after anything touched a connection: move its events to the queue,
    /// reschedule its deadline, mark it for transmission, free it when drained.
    fn after(&mut self, now: Instant, handle: ConnectionHandle) {
        let _ = now;
        let Some(conn) = self.table.get_mut(handle) else { return };
        while let Some(event) = conn.events.pop_front() {
            let connection = handle;
            let event = match event {
                ConnEvent::Incoming => match conn.peer_key() {
                    Some(peer) => Event::Incoming { connection, peer, remote: conn.path.remote },
                    None => continue,
                },
                ConnEvent::Connected { early_data_accepted } => {
                    Event::Connected { connection, early_data_accepted }
                }
                ConnEvent::Readable => Event::Readable { connection },
                ConnEvent::Writable => Event::Writable { connection },
                ConnEvent::Finished => Event::Finished { connection },
                ConnEvent::Closed(reason) => Event::Closed { connection, reason },
            };
            self.events.push_back(event);
        }
        let drained = conn.phase == Phase::Drained;
        let half_open = conn.is_half_open();
        let deadline = conn.poll_timeout();
        if drained {
            self.table.remove(handle);
        } else {
            self.table.update(handle, deadline, half_open);
        }
    }

    /// [`Self::after`], and the connection may now have something to send.
    fn touched(&mut self, now: Instant, handle: ConnectionHandle) {
        self.after(now, handle);
        self.table.mark_dirty(handle);
    }
}
