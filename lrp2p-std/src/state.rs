//! The state shared by the driver thread and the application's threads: the
//! [`Endpoint`] behind one mutex, the adapter's record of each connection, and the two ways
//! out of a call — flushing `poll_transmit` to the socket and dispatching `poll_event` to the
//! condition variables that blocked readers, writers and acceptors wait on.
//!
//! Every call that touches the endpoint ends with [`State::after_call`]: dispatch events, send
//! everything `poll_transmit` has, and wake the driver if the endpoint's next deadline moved
//! earlier than the one the driver sleeps towards.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lrp2p_proto::connection::CloseReason;
use lrp2p_proto::endpoint::{ConnectError, ConnectionHandle, Endpoint, Event};
use lrp2p_proto::identity::PublicKey;
use lrp2p_proto::wire::close_code;
use rand_chacha::ChaCha20Rng;

use crate::error::Error;

/// Decides whether to accept a peer, by its authenticated static key.
pub(crate) type Acceptor = Arc<dyn Fn(&PublicKey) -> bool + Send + Sync>;

/// Accepted connections waiting for [`Socket::accept`](crate::Socket::accept); beyond this,
/// new peers are refused (like a TCP listen backlog).
pub(crate) const ACCEPT_BACKLOG: usize = 1024;

/// How long a dropped connection may take to finish gracefully (its FIN acknowledged and the
/// peer's FIN received) before it is aborted with a CLOSE.
pub(crate) const DROP_LINGER: Duration = Duration::from_secs(10);

/// How long dropping a socket waits for finished streams (shut down or dropped connections)
/// to be acknowledged, FIN included, before it closes what is left.
pub(crate) const SOCKET_LINGER: Duration = Duration::from_secs(2);

/// What the driver thread and the application threads share.
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) socket: UdpSocket,
    /// Signalled when a connection is queued for `accept` (or the socket closes).
    pub(crate) accept_cond: Condvar,
    /// Where an empty datagram wakes the driver from its `recv_from`.
    pub(crate) wake_addr: SocketAddr,
}

impl Shared {
    /// Takes the lock. A panic in another thread while holding it leaves the endpoint usable
    /// (every endpoint call is atomic from its point of view), so poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes the driver thread: it ignores empty datagrams.
    pub(crate) fn wake_driver(&self) {
        let _ = self.socket.send_to(&[], self.wake_addr);
    }
}

/// The adapter's record of one connection.
pub(crate) struct ConnState {
    /// The endpoint's handle; `None` until a lazy `connect` starts (first read/write/flush).
    pub(crate) handle: Option<ConnectionHandle>,
    /// A connect not started yet: the first write's bytes then ride in the first datagram.
    pub(crate) pending_connect: Option<(SocketAddr, Option<PublicKey>)>,
    /// Signalled on every event of this connection.
    pub(crate) cond: Arc<Condvar>,
    pub(crate) connected: bool,
    pub(crate) peer: Option<PublicKey>,
    /// Why it ended, once it has.
    pub(crate) closed: Option<CloseReason>,
    /// Bytes read out of the endpoint when the connection finished (its state is freed after
    /// a short linger), for the application to read still. Bounded by the receive buffer.
    pub(crate) salvage: VecDeque<u8>,
    /// A read returned the end of the stream: later reads do too, whatever happens next.
    pub(crate) eof: bool,
    /// The `Connection` was dropped: finish gracefully until then, discarding what arrives.
    pub(crate) orphan_deadline: Option<Instant>,
    /// The stream was shut down (by `shutdown` or drop): a FIN follows the data.
    pub(crate) shut_down: bool,
    /// Threads blocked in `flush`, waiting for every written byte to be acknowledged.
    pub(crate) flush_waiters: usize,
    pub(crate) read_timeout: Option<Duration>,
    pub(crate) write_timeout: Option<Duration>,
}

impl ConnState {
    pub(crate) fn new(handle: Option<ConnectionHandle>, peer: Option<PublicKey>) -> Self {
        ConnState {
            handle,
            pending_connect: None,
            cond: Arc::new(Condvar::new()),
            connected: false,
            peer,
            closed: None,
            salvage: VecDeque::new(),
            eof: false,
            orphan_deadline: None,
            shut_down: false,
            flush_waiters: 0,
            read_timeout: None,
            write_timeout: None,
        }
    }
}

/// The endpoint and everything the adapter keeps beside it.
pub(crate) struct State {
    pub(crate) endpoint: Endpoint<ChaCha20Rng>,
    /// Connections by the adapter's id (stable across a lazy connect).
    pub(crate) conns: BTreeMap<u64, ConnState>,
    /// The adapter id of each live endpoint handle.
    pub(crate) ids: BTreeMap<ConnectionHandle, u64>,
    next_id: u64,
    /// Accepted connections not yet handed out by `accept`.
    pub(crate) incoming: VecDeque<(u64, PublicKey)>,
    pub(crate) acceptor: Option<Acceptor>,
    /// The socket was dropped: everything fails with `SocketClosed`.
    pub(crate) stopping: bool,
    /// The deadline the driver sleeps towards, while it sleeps.
    pub(crate) driver_sleeps_until: Option<Instant>,
    /// Datagrams the OS refused to send (the protocol retransmits them).
    pub(crate) send_errors: u64,
    /// When the wall clock was last handed to the endpoint.
    clock_synced: Instant,
    transmit_buf: Vec<u8>,
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
            ids: BTreeMap::new(),
            next_id: 0,
            incoming: VecDeque::new(),
            acceptor: None,
            stopping: false,
            driver_sleeps_until: None,
            send_errors: 0,
            clock_synced: now,
            transmit_buf: vec![0; max_datagram.max(1500)],
        }
    }

    /// Records a connection; returns its adapter id.
    pub(crate) fn insert(&mut self, conn: ConnState) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        if let Some(handle) = conn.handle {
            self.ids.insert(handle, id);
        }
        self.conns.insert(id, conn);
        id
    }

    /// The connection's endpoint handle, starting a lazy connect first.
    pub(crate) fn start(&mut self, id: u64, now: Instant) -> Result<ConnectionHandle, Error> {
        if self.stopping {
            return Err(Error::SocketClosed);
        }
        let conn = self.conns.get_mut(&id).ok_or(Error::Closed)?;
        if let Some(handle) = conn.handle {
            return Ok(handle);
        }
        let (remote, peer) = conn.pending_connect.take().ok_or(Error::Closed)?;
        match self.endpoint.connect(now, remote, peer) {
            Ok(handle) => {
                conn.handle = Some(handle);
                self.ids.insert(handle, id);
                Ok(handle)
            }
            Err(ConnectError::TooManyConnections) | Err(_) => {
                conn.closed = Some(CloseReason::EndpointClosed);
                Err(Error::TooManyConnections)
            }
        }
    }

    /// The error a call on a connection that ended meets (`None`: it finished gracefully).
    pub(crate) fn ended(&self, id: u64) -> Option<Option<Error>> {
        if self.stopping {
            return Some(Some(Error::SocketClosed));
        }
        match self.conns.get(&id) {
            None => Some(Some(Error::Closed)),
            Some(conn) => conn.closed.as_ref().map(Error::from_reason),
        }
    }

    /// Dispatches events, flushes datagrams, and wakes the driver if its deadline moved.
    pub(crate) fn after_call(&mut self, shared: &Shared, now: Instant) {
        self.process(shared, now);
        let next = self.next_deadline();
        if let (Some(next), Some(sleeping)) = (next, self.driver_sleeps_until) {
            if next < sleeping {
                self.driver_sleeps_until = None;
                shared.wake_driver();
            }
        }
    }

    /// The earliest of the endpoint's deadline and the dropped connections' lingers.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let orphans = self.conns.values().filter_map(|c| c.orphan_deadline).min();
        match (self.endpoint.poll_timeout(), orphans) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs due timers (the driver's job, but harmless anywhere) and aborts dropped
    /// connections whose linger ran out.
    pub(crate) fn handle_timeouts(&mut self, now: Instant) {
        if now.duration_since(self.clock_synced) >= Duration::from_secs(1) {
            self.endpoint.set_unix_time(now, unix_ns());
            self.clock_synced = now;
        }
        if self.endpoint.poll_timeout().is_some_and(|deadline| deadline <= now) {
            self.endpoint.handle_timeout(now);
        }
        let expired: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| c.orphan_deadline.is_some_and(|deadline| deadline <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.forget(id);
            // Nobody reads it any more: abort.
            if let Some(handle) = self.conns.remove(&id).and_then(|c| c.handle) {
                self.endpoint.close(now, handle, close_code::NO_ERROR, b"dropped");
            }
        }
    }

    fn forget(&mut self, id: u64) {
        if let Some(handle) = self.conns.get(&id).and_then(|c| c.handle) {
            self.ids.remove(&handle);
        }
    }

    /// Dispatches every pending event, flushes every datagram, and tells `flush` waiters
    /// whose data is all acknowledged.
    pub(crate) fn process(&mut self, shared: &Shared, now: Instant) {
        while let Some(event) = self.endpoint.poll_event() {
            self.dispatch(shared, now, event);
        }
        self.flush_transmits(&shared.socket, now);
        // Reading (window updates) and accepting can queue more events and datagrams.
        while let Some(event) = self.endpoint.poll_event() {
            self.dispatch(shared, now, event);
        }
        self.flush_transmits(&shared.socket, now);
        for conn in self.conns.values().filter(|c| c.flush_waiters > 0) {
            let done = conn.handle.and_then(|h| self.endpoint.connection_stats(h));
            if done.is_none_or(|stats| stats.send_buffered == 0) {
                conn.cond.notify_all();
            }
        }
    }

    /// Sends everything the endpoint has to send. Errors are counted, not returned: a lost
    /// datagram is the protocol's business (it retransmits).
    pub(crate) fn flush_transmits(&mut self, socket: &UdpSocket, now: Instant) {
        while let Some(transmit) = self.endpoint.poll_transmit(now, &mut self.transmit_buf) {
            let datagram = &self.transmit_buf[..transmit.len];
            if let Err(error) = socket.send_to(datagram, transmit.destination) {
                if error.kind() != io::ErrorKind::Interrupted
                    || socket.send_to(datagram, transmit.destination).is_err()
                {
                    self.send_errors += 1;
                }
            }
        }
    }

    fn dispatch(&mut self, shared: &Shared, now: Instant, event: Event) {
        let handle = match &event {
            Event::Incoming { connection, peer, .. } => {
                self.on_incoming(shared, now, *connection, *peer);
                return;
            }
            Event::Connected { connection, .. }
            | Event::Readable { connection }
            | Event::Writable { connection }
            | Event::Finished { connection }
            | Event::Closed { connection, .. } => *connection,
            _ => return,
        };
        let Some(&id) = self.ids.get(&handle) else { return };
        let Some(conn) = self.conns.get_mut(&id) else { return };
        match event {
            Event::Connected { .. } => {
                conn.connected = true;
                conn.peer = conn.peer.or_else(|| self.endpoint.peer_key(handle));
            }
            Event::Finished { .. } => conn.eof = true,
            Event::Readable { .. } if conn.orphan_deadline.is_some() => {
                discard(&mut self.endpoint, now, handle);
            }
            Event::Closed { reason, .. } => {
                if reason == CloseReason::Finished && conn.orphan_deadline.is_none() {
                    // The state lingers only briefly: keep what the application has not read.
                    let mut buf = [0u8; 4096];
                    while let Ok(n @ 1..) = self.endpoint.read(now, handle, &mut buf) {
                        conn.salvage.extend(&buf[..n]);
                    }
                }
                conn.closed = Some(reason);
                self.ids.remove(&handle);
                if conn.orphan_deadline.is_some() {
                    self.conns.remove(&id);
                    return;
                }
            }
            _ => {}
        }
        conn.cond.notify_all();
    }

    fn on_incoming(&mut self, shared: &Shared, now: Instant, handle: ConnectionHandle, peer: PublicKey) {
        let wanted = !self.stopping
            && self.incoming.len() < ACCEPT_BACKLOG
            && self.acceptor.as_ref().is_none_or(|acceptor| acceptor(&peer));
        if !wanted {
            self.endpoint.refuse(now, handle);
            return;
        }
        self.endpoint.accept(now, handle);
        let id = self.insert(ConnState::new(Some(handle), Some(peer)));
        self.incoming.push_back((id, peer));
        shared.accept_cond.notify_one();
    }

    /// The application dropped its `Connection`: finish gracefully (FIN), discard what
    /// arrives, and abort after [`DROP_LINGER`] if the peer does not finish too.
    pub(crate) fn drop_connection(&mut self, id: u64, now: Instant) {
        let Some(conn) = self.conns.get_mut(&id) else { return };
        match conn.handle {
            Some(handle) if conn.closed.is_none() && !self.stopping => {
                conn.orphan_deadline = Some(now + DROP_LINGER);
                conn.shut_down = true;
                conn.salvage = VecDeque::new();
                self.endpoint.shutdown(now, handle);
                discard(&mut self.endpoint, now, handle);
            }
            _ => {
                self.forget(id);
                self.conns.remove(&id);
            }
        }
    }

    /// Whether the connection's stream is finished and everything, FIN included, is
    /// acknowledged: the peer has (or can still read) the whole stream.
    fn finished_and_acked(&self, conn: &ConnState) -> bool {
        let stats = conn.handle.and_then(|h| self.endpoint.connection_stats(h));
        conn.shut_down && stats.is_none_or(|s| s.send_buffered == 0 && s.bytes_in_flight == 0)
    }

    /// Whether some finished stream still waits for its acknowledgement (see [`SOCKET_LINGER`]).
    pub(crate) fn finishing(&self) -> bool {
        self.conns.values().any(|c| c.shut_down && c.closed.is_none() && !self.finished_and_acked(c))
    }

    /// The socket is going away: abort every connection, telling each peer, except those whose
    /// finished stream is fully acknowledged (a CLOSE would make the peer discard what it has
    /// not read yet; it reads to the end instead, and its state expires after its idle
    /// timeout). Wakes every blocked thread.
    pub(crate) fn stop(&mut self, shared: &Shared, now: Instant) {
        self.stopping = true;
        let abort: Vec<ConnectionHandle> = self
            .conns
            .values()
            .filter(|c| c.closed.is_none() && !self.finished_and_acked(c))
            .filter_map(|c| c.handle)
            .collect();
        for handle in abort {
            self.endpoint.close(now, handle, close_code::NO_ERROR, b"socket closed");
        }
        self.flush_transmits(&shared.socket, now);
        self.conns.retain(|_, conn| conn.orphan_deadline.is_none());
        for conn in self.conns.values_mut() {
            conn.closed.get_or_insert(CloseReason::EndpointClosed);
            conn.cond.notify_all();
        }
        self.ids.clear();
        shared.accept_cond.notify_all();
    }
}

/// Reads and drops everything readable (a dropped connection's incoming data).
fn discard(endpoint: &mut Endpoint<ChaCha20Rng>, now: Instant, handle: ConnectionHandle) {
    let mut buf = [0u8; 4096];
    while let Ok(1..) = endpoint.read(now, handle, &mut buf) {}
}
