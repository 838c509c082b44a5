//! The state behind a socket's one mutex: the [`Endpoint`], the adapter's record of each
//! connection ([`ConnState`]: who waits for what), and the ways out of a call — datagrams to the
//! socket through the [`Sender`], events to the wakers of the tasks (or threads) waiting on them.
//!
//! No protocol decision is made here: the endpoint owns every connection's lifecycle (lazy
//! connects, a dropped connection finishing, the close policy when the socket goes); this
//! layer turns its events into wake-ups, one set of waiters per interest.
//!
//! Every call that touches the endpoint ends with [`State::after_call`]: dispatch events,
//! send everything `poll_transmit` has, and wake the driver if the endpoint's next deadline
//! moved earlier than the one the driver sleeps towards, or if datagrams wait for the socket
//! to become writable.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lrp2p_proto::{CloseReason, ConnectionHandle, Endpoint, Event, PublicKey};
use rand_chacha::ChaCha20Rng;

use crate::batch::Sender;
use crate::error::Error;
use crate::io::UdpIo;
use crate::wakers::WakerSet;
use crate::{ConnId, PeerInfo};

/// Decides whether to accept a peer, by what is known of it at admission.
pub(crate) type Acceptor = Arc<dyn Fn(&PeerInfo) -> bool + Send + Sync>;

/// Accepted connections waiting for `accept`; beyond this, new peers are refused (like a TCP
/// listen backlog).
pub const ACCEPT_BACKLOG: usize = 1024;

/// How long dropping a socket waits for finished streams (shut down or dropped connections)
/// to be acknowledged, FIN included, before it closes what is left.
pub const SOCKET_LINGER: Duration = Duration::from_secs(2);

/// The adapter's record of one connection: who waits for what, and what the endpoint said.
#[derive(Default)]
pub(crate) struct ConnState {
    /// Waiting to read (woken by `Readable`, `Finished`, `Closed`).
    pub(crate) readers: WakerSet,
    /// Waiting to write, or for the handshake to complete (`Writable`, `Connected`, `Closed`).
    pub(crate) writers: WakerSet,
    /// Waiting for every written byte to be acknowledged (`Acknowledged`, `Closed`).
    pub(crate) ack_waiters: WakerSet,
    pub(crate) connected: bool,
    /// An accepted (responder) connection, which is half-open until `Confirmed`.
    pub(crate) incoming: bool,
    /// `Confirmed` came: the initiator proved its keys and address (PROTOCOL.md §10.5).
    pub(crate) confirmed: bool,
    /// Waiting for the confirmation (`Confirmed`, `Closed`).
    pub(crate) confirm_waiters: WakerSet,
    /// Waiting for the path to change (`PathChanged`, `Closed`).
    pub(crate) path_waiters: WakerSet,
    pub(crate) peer: Option<PublicKey>,
    /// Why it ended, once it has.
    pub(crate) closed: Option<CloseReason>,
    /// A read returned the end of the stream: later reads do too, whatever happens next.
    pub(crate) eof: bool,
}

impl ConnState {
    fn with_peer(peer: Option<PublicKey>) -> Self {
        ConnState { peer, ..ConnState::default() }
    }

    /// Wakes everybody waiting on this connection.
    fn wake_all(&mut self) {
        self.readers.wake_all();
        self.writers.wake_all();
        self.ack_waiters.wake_all();
        self.confirm_waiters.wake_all();
        self.path_waiters.wake_all();
    }

    /// Whether the peer is proven: an initiator's connection once connected, a responder's
    /// once `Confirmed`.
    pub(crate) fn is_confirmed(&self) -> bool {
        if self.incoming { self.confirmed } else { self.connected }
    }
}

/// The endpoint and everything the adapter keeps beside it.
pub(crate) struct State {
    pub(crate) endpoint: Endpoint<ChaCha20Rng>,
    /// Connections the application holds, by their endpoint handle.
    pub(crate) conns: BTreeMap<ConnectionHandle, ConnState>,
    /// Accepted connections not yet handed out by `accept`.
    pub(crate) incoming: VecDeque<(ConnectionHandle, PublicKey)>,
    /// Waiting in `accept`.
    pub(crate) acceptors_waiting: WakerSet,
    pub(crate) acceptor: Option<Acceptor>,
    /// The socket was stopped: everything fails with `SocketClosed`.
    pub(crate) stopping: bool,
    /// A graceful stop was asked for: it completes once no finished stream waits for its
    /// acknowledgement, or at this deadline.
    pub(crate) stop_at: Option<Instant>,
    /// The deadline the driver sleeps towards, while it sleeps.
    pub(crate) driver_sleeps_until: Option<Instant>,
    /// Wakes the driver, while it sleeps.
    pub(crate) driver_waker: Option<Waker>,
    /// Datagrams to the socket, and those it could not take yet.
    pub(crate) sender: Sender,
    /// When the wall clock was last handed to the endpoint.
    clock_synced: Instant,
    /// The rendezvous registration (PROTOCOL.md §13.7), as the endpoint reported it.
    pub(crate) registration: Registration,
}

/// What `register` waits for.
#[derive(Default)]
pub(crate) struct Registration {
    /// The address the service sees this socket at, once registered.
    pub(crate) observed: Option<std::net::SocketAddr>,
    /// The link to the service ended.
    pub(crate) closed: Option<CloseReason>,
    /// Waiting for either.
    pub(crate) waiters: WakerSet,
}

/// Nanoseconds since the Unix epoch by the wall clock (for 0-RTT timestamps).
pub(crate) fn unix_ns() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}

impl State {
    pub(crate) fn new(endpoint: Endpoint<ChaCha20Rng>, now: Instant, max_datagram: usize) -> Self {
        State {
            endpoint,
            conns: BTreeMap::new(),
            incoming: VecDeque::new(),
            acceptors_waiting: WakerSet::default(),
            acceptor: None,
            stopping: false,
            stop_at: None,
            driver_sleeps_until: None,
            driver_waker: None,
            sender: Sender::new(max_datagram),
            registration: Registration::default(),
            clock_synced: now,
        }
    }

    /// Records a connection the application now holds.
    pub(crate) fn insert(&mut self, handle: ConnectionHandle, peer: Option<PublicKey>) -> ConnId {
        self.conns.insert(handle, ConnState::with_peer(peer));
        ConnId(handle)
    }

    /// The connection's record.
    pub(crate) fn conn(&mut self, id: ConnId) -> Option<&mut ConnState> {
        self.conns.get_mut(&id.0)
    }

    /// The error a call on a connection that ended meets (`Some(None)`: it finished
    /// gracefully); `None` while it is alive.
    pub(crate) fn ended(&self, id: ConnId) -> Option<Option<Error>> {
        if self.stopping {
            return Some(Some(Error::SocketClosed));
        }
        match self.conns.get(&id.0) {
            None => Some(Some(Error::Closed)),
            Some(conn) => conn.closed.as_ref().map(Error::from_reason),
        }
    }

    /// Dispatches events, flushes datagrams, and wakes the driver if it must act: its
    /// deadline moved earlier, or datagrams wait for the socket to become writable.
    pub(crate) fn after_call(&mut self, io: &dyn UdpIo, now: Instant) {
        self.process(io, now);
        let earlier = match (self.next_deadline(), self.driver_sleeps_until) {
            (Some(next), Some(sleeping)) => next < sleeping,
            _ => false,
        };
        if earlier || self.sender.is_stashed() {
            self.wake_driver();
        }
    }

    /// Wakes the driver if it sleeps.
    pub(crate) fn wake_driver(&mut self) {
        self.driver_sleeps_until = None;
        if let Some(waker) = self.driver_waker.take() {
            waker.wake();
        }
    }

    /// The earliest of the endpoint's deadline and a graceful stop's.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        match (self.endpoint.poll_timeout(), self.stop_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs due timers (the driver's job, but harmless anywhere), keeping the endpoint's wall
    /// clock fresh.
    pub(crate) fn handle_timeouts(&mut self, now: Instant) {
        if now.duration_since(self.clock_synced) >= Duration::from_secs(1) {
            self.endpoint.set_unix_time(now, unix_ns());
            self.clock_synced = now;
        }
        if self.endpoint.poll_timeout().is_some_and(|deadline| deadline <= now) {
            self.endpoint.handle_timeout(now);
        }
    }

    /// Sends what the endpoint has to send (the stash first); `false` when the socket would
    /// block (see [`Sender::flush`]).
    pub(crate) fn flush_transmits(&mut self, io: &dyn UdpIo, now: Instant) -> bool {
        self.sender.flush(io, &mut self.endpoint, now)
    }

    /// Dispatches every pending event (accepting a peer can queue more), then sends every
    /// datagram; completes a graceful stop that has nothing left to wait for.
    pub(crate) fn process(&mut self, io: &dyn UdpIo, now: Instant) {
        while let Some(event) = self.endpoint.poll_event() {
            self.dispatch(now, event);
        }
        self.sender.flush(io, &mut self.endpoint, now);
        if let Some(at) = self.stop_at {
            if now >= at || !self.endpoint.is_finishing() {
                self.finish_stop(io, now);
            }
        }
    }

    /// Wakes the waiters of the event's interest.
    fn dispatch(&mut self, now: Instant, event: Event) {
        match event {
            Event::Incoming { connection, peer, remote, app_protocol } => {
                self.on_incoming(now, connection, PeerInfo { key: peer, remote, app_protocol });
                return;
            }
            Event::Registered { observed, .. } => {
                self.registration.observed = Some(observed);
                self.registration.closed = None;
                self.registration.waiters.wake_all();
                return;
            }
            Event::RendezvousClosed { reason, .. } => {
                self.registration.observed = None;
                self.registration.closed = Some(reason);
                self.registration.waiters.wake_all();
                return;
            }
            _ => {}
        }
        let Some(conn) = self.conns.get_mut(&event.connection()) else { return };
        match event {
            Event::Connected { connection, .. } => {
                conn.connected = true;
                conn.peer = conn.peer.or_else(|| self.endpoint.peer_key(connection));
                conn.writers.wake_all();
            }
            Event::Confirmed { .. } => {
                conn.confirmed = true;
                conn.confirm_waiters.wake_all();
            }
            Event::Readable { .. } => conn.readers.wake_all(),
            Event::Finished { .. } => {
                conn.eof = true;
                conn.readers.wake_all();
            }
            Event::Writable { .. } => conn.writers.wake_all(),
            Event::Acknowledged { .. } => conn.ack_waiters.wake_all(),
            Event::PathChanged { .. } => conn.path_waiters.wake_all(),
            Event::Closed { reason, .. } => {
                conn.closed = Some(reason);
                conn.wake_all();
            }
            _ => {}
        }
    }

    fn on_incoming(&mut self, now: Instant, handle: ConnectionHandle, info: PeerInfo) {
        let peer = info.key;
        let wanted = !self.stopping
            && self.stop_at.is_none()
            && self.incoming.len() < ACCEPT_BACKLOG
            && self.acceptor.as_ref().is_none_or(|acceptor| acceptor(&info));
        if !wanted {
            let _ = self.endpoint.refuse(now, handle);
            return;
        }
        if self.endpoint.accept(now, handle).is_ok() {
            self.insert(handle, Some(peer));
            if let Some(conn) = self.conns.get_mut(&handle) {
                conn.incoming = true;
            }
            self.incoming.push_back((handle, peer));
            self.acceptors_waiting.wake_all();
        }
    }

    /// The application dropped its connection: the endpoint finishes it on its own.
    pub(crate) fn drop_connection(&mut self, id: ConnId, now: Instant) {
        if self.conns.remove(&id.0).is_some() {
            let _ = self.endpoint.release(now, id.0);
        }
    }

    /// Asks for the socket to stop once finished streams are acknowledged or after `linger`
    /// (see [`Shared::stop`](crate::Shared::stop)); a zero `linger` stops at once.
    pub(crate) fn stop(&mut self, io: &dyn UdpIo, now: Instant, linger: Duration) {
        if self.stopping {
            return;
        }
        let at = now + linger;
        self.stop_at = Some(self.stop_at.map_or(at, |earlier| earlier.min(at)));
        self.process(io, now);
        self.wake_driver();
    }

    /// The socket is going away: the endpoint closes what is left (its §8.7 policy) and the
    /// CLOSEs are sent; every waiter is woken to meet `SocketClosed`, and the driver ends.
    fn finish_stop(&mut self, io: &dyn UdpIo, now: Instant) {
        tracing::debug!(target: "lrp2p", connections = self.conns.len(), "socket stopped");
        self.stopping = true;
        self.stop_at = None;
        self.endpoint.close_all(now);
        self.sender.flush(io, &mut self.endpoint, now);
        for conn in self.conns.values_mut() {
            conn.closed.get_or_insert(CloseReason::EndpointClosed);
            conn.wake_all();
        }
        self.acceptors_waiting.wake_all();
        self.registration.waiters.wake_all();
        self.wake_driver();
    }
}
