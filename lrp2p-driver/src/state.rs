//! The state behind a socket's one mutex: the [`Endpoint`], the adapter's record of each
//! connection ([`ConnState`]), and the ways out of a call — datagrams to the socket through
//! the [`Sender`], events to the wakers of the tasks (or threads) waiting on them.
//!
//! Every call that touches the endpoint ends with [`State::after_call`]: dispatch events,
//! send everything `poll_transmit` has, and wake the driver if the endpoint's next deadline
//! moved earlier than the one the driver sleeps towards, or if datagrams wait for the socket
//! to become writable.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lrp2p_proto::connection::{CloseReason, ConnectionStats};
use lrp2p_proto::endpoint::{ConnectionHandle, Endpoint, Event};
use lrp2p_proto::identity::PublicKey;
use lrp2p_proto::wire::close_code;
use rand_chacha::ChaCha20Rng;

use crate::ConnId;
use crate::batch::Sender;
use crate::error::Error;
use crate::io::UdpIo;
use crate::wakers::WakerSet;

/// Decides whether to accept a peer, by its authenticated static key.
pub(crate) type Acceptor = Arc<dyn Fn(&PublicKey) -> bool + Send + Sync>;

/// Accepted connections waiting for `accept`; beyond this, new peers are refused (like a TCP
/// listen backlog).
pub const ACCEPT_BACKLOG: usize = 1024;

/// How long a dropped connection may take to finish gracefully (its FIN acknowledged and the
/// peer's FIN received) before it is aborted with a CLOSE.
pub const DROP_LINGER: Duration = Duration::from_secs(10);

/// How long dropping a socket waits for finished streams (shut down or dropped connections)
/// to be acknowledged, FIN included, before it closes what is left.
pub const SOCKET_LINGER: Duration = Duration::from_secs(2);

/// The adapter's record of one connection.
pub(crate) struct ConnState {
    /// The endpoint's handle; `None` until a lazy `connect` starts (first read, write, flush
    /// or `acknowledged`).
    pub(crate) handle: Option<ConnectionHandle>,
    /// A connect not started yet: the first write's bytes then ride in the first datagram.
    pub(crate) pending_connect: Option<(SocketAddr, Option<PublicKey>)>,
    /// Waiting to read.
    pub(crate) readers: WakerSet,
    /// Waiting to write, or for the handshake to complete.
    pub(crate) writers: WakerSet,
    /// Waiting for every written byte to be acknowledged.
    pub(crate) ack_waiters: WakerSet,
    pub(crate) connected: bool,
    pub(crate) peer: Option<PublicKey>,
    /// Why it ended, once it has.
    pub(crate) closed: Option<CloseReason>,
    /// Bytes read out of the endpoint when the connection finished (its state is freed after
    /// a short linger), for the application to read still. Bounded by the receive buffer.
    pub(crate) salvage: VecDeque<u8>,
    /// A read returned the end of the stream: later reads do too, whatever happens next.
    pub(crate) eof: bool,
    /// The connection was dropped: finish gracefully until then, discarding what arrives.
    pub(crate) orphan_deadline: Option<Instant>,
    /// The stream was shut down (by `shutdown` or drop): a FIN follows the data.
    pub(crate) shut_down: bool,
}

impl ConnState {
    pub(crate) fn new(handle: Option<ConnectionHandle>, peer: Option<PublicKey>) -> Self {
        ConnState {
            handle,
            pending_connect: None,
            readers: WakerSet::default(),
            writers: WakerSet::default(),
            ack_waiters: WakerSet::default(),
            connected: false,
            peer,
            closed: None,
            salvage: VecDeque::new(),
            eof: false,
            orphan_deadline: None,
            shut_down: false,
        }
    }

    /// Wakes everybody waiting on this connection (they poll again and see what changed).
    pub(crate) fn wake_all(&mut self) {
        self.readers.wake_all();
        self.writers.wake_all();
        self.ack_waiters.wake_all();
    }
}

/// The endpoint and everything the adapter keeps beside it.
pub(crate) struct State {
    pub(crate) endpoint: Endpoint<ChaCha20Rng>,
    /// Connections by the adapter's id (stable across a lazy connect).
    pub(crate) conns: BTreeMap<u64, ConnState>,
    /// Dropped connections by the end of their linger (`orphan_deadline`): the next one is
    /// found without walking every connection, on every call.
    orphans: BTreeSet<(Instant, u64)>,
    /// Connections with `acknowledged` waiters (`ack_waiters`), likewise.
    pub(crate) ack_waiting: BTreeSet<u64>,
    /// The adapter id of each live endpoint handle.
    pub(crate) ids: BTreeMap<ConnectionHandle, u64>,
    next_id: u64,
    /// Accepted connections not yet handed out by `accept`.
    pub(crate) incoming: VecDeque<(u64, PublicKey)>,
    /// Waiting in `accept`.
    pub(crate) acceptors_waiting: WakerSet,
    pub(crate) acceptor: Option<Acceptor>,
    /// The socket was stopped: everything fails with `SocketClosed`.
    pub(crate) stopping: bool,
    /// The deadline the driver sleeps towards, while it sleeps.
    pub(crate) driver_sleeps_until: Option<Instant>,
    /// Wakes the driver, while it sleeps.
    pub(crate) driver_waker: Option<Waker>,
    /// Datagrams to the socket, and those it could not take yet.
    pub(crate) sender: Sender,
    /// When the wall clock was last handed to the endpoint.
    clock_synced: Instant,
    /// Connections whose streams both finished, lingering in the endpoint to acknowledge a
    /// retransmitted FIN (stale handles are dropped as others are added): [`State::stop`]
    /// tells their peers with a CLOSE.
    finished: Vec<ConnectionHandle>,
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
            orphans: BTreeSet::new(),
            ack_waiting: BTreeSet::new(),
            ids: BTreeMap::new(),
            next_id: 0,
            incoming: VecDeque::new(),
            acceptors_waiting: WakerSet::default(),
            acceptor: None,
            stopping: false,
            driver_sleeps_until: None,
            driver_waker: None,
            sender: Sender::new(max_datagram),
            clock_synced: now,
            finished: Vec::new(),
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

    /// The connection's record.
    pub(crate) fn conn(&mut self, id: ConnId) -> Option<&mut ConnState> {
        self.conns.get_mut(&id.0)
    }

    /// The connection's endpoint handle, starting a lazy connect first.
    pub(crate) fn start(&mut self, id: ConnId, now: Instant) -> Result<ConnectionHandle, Error> {
        if self.stopping {
            return Err(Error::SocketClosed);
        }
        let conn = self.conns.get_mut(&id.0).ok_or(Error::Closed)?;
        if let Some(handle) = conn.handle {
            return Ok(handle);
        }
        if let Some(reason) = &conn.closed {
            return Err(Error::from_reason(reason).unwrap_or(Error::Closed));
        }
        let (remote, peer) = conn.pending_connect.take().ok_or(Error::Closed)?;
        match self.endpoint.connect(now, remote, peer) {
            Ok(handle) => {
                conn.handle = Some(handle);
                self.ids.insert(handle, id.0);
                Ok(handle)
            }
            Err(_) => {
                conn.closed = Some(CloseReason::EndpointClosed);
                Err(Error::TooManyConnections)
            }
        }
    }

    /// The error a call on a connection that ended meets (`None`: it finished gracefully).
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

    /// The earliest of the endpoint's deadline and the dropped connections' lingers.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let orphans = self.orphans.first().map(|&(deadline, _)| deadline);
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
        while let Some(&(deadline, id)) = self.orphans.first() {
            if deadline > now {
                break;
            }
            self.orphans.pop_first();
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

    /// Sends what the endpoint has to send (the stash first); `false` when the socket would
    /// block (see [`Sender::flush`]).
    pub(crate) fn flush_transmits(&mut self, io: &dyn UdpIo, now: Instant) -> bool {
        self.sender.flush(io, &mut self.endpoint, now)
    }

    /// Dispatches every pending event, flushes every datagram, and wakes `acknowledged` waiters
    /// whose data is all acknowledged.
    pub(crate) fn process(&mut self, io: &dyn UdpIo, now: Instant) {
        while let Some(event) = self.endpoint.poll_event() {
            self.dispatch(now, event);
        }
        self.sender.flush(io, &mut self.endpoint, now);
        // Reading (window updates) and accepting can queue more events and datagrams.
        while let Some(event) = self.endpoint.poll_event() {
            self.dispatch(now, event);
        }
        self.sender.flush(io, &mut self.endpoint, now);
        let (endpoint, conns) = (&self.endpoint, &mut self.conns);
        self.ack_waiting.retain(|id| {
            let Some(conn) = conns.get_mut(id).filter(|c| !c.ack_waiters.is_empty()) else {
                return false;
            };
            let stats = conn.handle.and_then(|h| endpoint.connection_stats(h));
            let done = stats.is_none_or(|stats| all_acked(conn.shut_down, &stats));
            if done {
                conn.ack_waiters.wake_all();
            }
            !done
        });
    }

    fn dispatch(&mut self, now: Instant, event: Event) {
        let handle = match &event {
            Event::Incoming { connection, peer, .. } => {
                self.on_incoming(now, *connection, *peer);
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
                if reason == CloseReason::Finished {
                    let endpoint = &self.endpoint;
                    self.finished.retain(|h| endpoint.connection_stats(*h).is_some());
                    self.finished.push(handle);
                }
                if reason == CloseReason::Finished && conn.orphan_deadline.is_none() {
                    // The state lingers only briefly: keep what the application has not read.
                    let mut buf = [0u8; 4096];
                    while let Ok(n @ 1..) = self.endpoint.read(now, handle, &mut buf) {
                        conn.salvage.extend(&buf[..n]);
                    }
                }
                conn.closed = Some(reason);
                self.ids.remove(&handle);
                if let Some(deadline) = conn.orphan_deadline {
                    self.orphans.remove(&(deadline, id));
                    self.conns.remove(&id);
                    return;
                }
            }
            _ => {}
        }
        // As a condition variable's `notify_all`: every waiter polls again.
        conn.wake_all();
    }

    fn on_incoming(&mut self, now: Instant, handle: ConnectionHandle, peer: PublicKey) {
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
        self.acceptors_waiting.wake_all();
    }

    /// The application dropped its connection: finish gracefully (FIN), discard what
    /// arrives, and abort after [`DROP_LINGER`] if the peer does not finish too.
    pub(crate) fn drop_connection(&mut self, id: ConnId, now: Instant) {
        let Some(conn) = self.conns.get_mut(&id.0) else { return };
        match conn.handle {
            Some(handle) if conn.closed.is_none() && !self.stopping => {
                conn.orphan_deadline = Some(now + DROP_LINGER);
                self.orphans.insert((now + DROP_LINGER, id.0));
                conn.shut_down = true;
                conn.salvage = VecDeque::new();
                self.endpoint.shutdown(now, handle);
                discard(&mut self.endpoint, now, handle);
            }
            _ => {
                self.forget(id.0);
                self.conns.remove(&id.0);
            }
        }
    }

    /// Whether the peer has acknowledged every byte written, FIN included if the stream is
    /// shut down; `None` without endpoint state (not started, or freed).
    pub(crate) fn acknowledged(&self, id: ConnId) -> Option<bool> {
        let conn = self.conns.get(&id.0)?;
        let stats = self.endpoint.connection_stats(conn.handle?)?;
        Some(all_acked(conn.shut_down, &stats))
    }

    /// Whether the connection's stream is finished and everything, FIN included, is
    /// acknowledged: the peer has (or can still read) the whole stream.
    fn finished_and_acked(&self, conn: &ConnState) -> bool {
        let stats = conn.handle.and_then(|h| self.endpoint.connection_stats(h));
        conn.shut_down && stats.is_none_or(|s| all_acked(true, &s))
    }

    /// Whether some finished stream still waits for its acknowledgement (see [`SOCKET_LINGER`]).
    pub(crate) fn finishing(&self) -> bool {
        self.conns.values().any(|c| c.shut_down && c.closed.is_none() && !self.finished_and_acked(c))
    }

    /// The socket is going away: abort every connection, telling each peer, except those whose
    /// finished stream is fully acknowledged (a CLOSE would make the peer discard what it has
    /// not read yet; it reads to the end instead, and its state expires after its idle
    /// timeout). Connections finished both ways get a CLOSE NO_ERROR. Wakes every waiter, and
    /// the driver (which then returns).
    pub(crate) fn stop(&mut self, io: &dyn UdpIo, now: Instant) {
        self.stopping = true;
        // PROTOCOL.md §8.7: once both streams are finished, either side MAY send CLOSE
        // NO_ERROR (§7.6). The endpoint would linger to acknowledge the peer's FIN again should
        // our last ACKs be lost, but it goes with the socket: without the CLOSE, which carries
        // the final ACK, such a peer would retransmit into a closed port until its idle timeout.
        // With it, the peer ends as finished, its unread data still readable.
        for handle in std::mem::take(&mut self.finished) {
            self.endpoint.close(now, handle, close_code::NO_ERROR, b"finished");
        }
        let abort: Vec<ConnectionHandle> = self
            .conns
            .values()
            .filter(|c| c.closed.is_none() && !self.finished_and_acked(c))
            .filter_map(|c| c.handle)
            .collect();
        for handle in abort {
            self.endpoint.close(now, handle, close_code::NO_ERROR, b"socket closed");
        }
        self.sender.flush(io, &mut self.endpoint, now);
        self.conns.retain(|_, conn| conn.orphan_deadline.is_none());
        self.orphans.clear();
        for conn in self.conns.values_mut() {
            conn.closed.get_or_insert(CloseReason::EndpointClosed);
            conn.wake_all();
        }
        self.ids.clear();
        self.acceptors_waiting.wake_all();
        self.wake_driver();
    }
}

/// Whether every byte written is acknowledged, and the FIN too if the stream is `shut_down`.
fn all_acked(shut_down: bool, stats: &ConnectionStats) -> bool {
    stats.send_buffered == 0 && (!shut_down || stats.fin_acked)
}

/// Reads and drops everything readable (a dropped connection's incoming data).
fn discard(endpoint: &mut Endpoint<ChaCha20Rng>, now: Instant, handle: ConnectionHandle) {
    let mut buf = [0u8; 4096];
    while let Ok(1..) = endpoint.read(now, handle, &mut buf) {}
}
