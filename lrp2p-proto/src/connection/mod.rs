//! One connection: its handshake, its reliable byte stream in each direction, its timers, its
//! congestion state and its lifecycle. The [`Endpoint`](crate::Endpoint) owns every connection,
//! routes datagrams, time and application calls to it and decides admission; the connection
//! decides everything else and answers with datagrams (`poll_transmit`), deadlines
//! (`poll_timeout`) and events (`poll_event`). Its fields are private to this module: the
//! endpoint goes through the methods below.
//!
//! - `initiator.rs`, `responder.rs`: each side's handshake; `handshake.rs`: what both share,
//!   up to the transport keys and the confirmation.
//! - `receive.rs`: datagrams in: ACKs, data, CLOSE, roaming.
//! - `transmit.rs`: datagrams out, in batches for one path: handshake messages, ACK/DATA
//!   packets, probes, CLOSE.
//! - `ack.rs`: when to acknowledge, and what (PROTOCOL.md §8.5); `echo.rs`: skipped counters
//!   and the check of the peer's ACK_ECHO against them (§8.8).
//! - `budget.rs`: the receive stream's share of the endpoint's memory budget (§10.6).
//! - `keys.rs`: how long the previous receive key outlives a key update (§6.5).
//! - `crossing.rs`: two initiations crossing between the same keys (§13.6).
//! - `lifecycle.rs`: the application's calls (write, read, shutdown, close, release) and how
//!   a connection ends (linger, drain, the §8.7 close policy).
//! - `loss.rs`: loss recovery's timers and the congestion controller's losses: RACK, the tail
//!   loss probe, the retransmission timeout, undo, and a new path's fresh congestion state.
//! - `path.rs`: the path to the peer and its amplification budget; `migration.rs`: path
//!   validation (PATH_CHALLENGE/PATH_RESPONSE) and the move to a validated address (§13).
//! - `timer.rs`: the deadline table; `stats.rs`: the counters.

mod ack;
mod budget;
mod crossing;
mod dial;
mod echo;
mod handshake;
mod initiator;
mod keys;
mod lifecycle;
mod loss;
mod migration;
mod observe;
mod path;
mod receive;
mod relay;
mod responder;
mod stats;
mod timer;
mod transmit;
pub(crate) use self::transmit::Batch;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use self::ack::AckState;
use self::budget::Allowance;
pub use self::dial::MAX_DIAL_ADDRESSES;
use self::echo::CounterSkips;
use self::handshake::Handshake;
use self::lifecycle::PendingClose;
use self::path::{Path, Paths};
pub use self::path::{PathInfo, PathKind};
pub use self::stats::ConnectionStats;
use self::stats::Counters;
use self::timer::{Timer, TimerTable};
use crate::app_protocol::AppProtocol;
use crate::arq::recv::RecvStream;
use crate::arq::send::SendStream;
use crate::config::{ConnectionConfig, PACKET_OVERHEAD};
use crate::congestion::{Controller, Pacer};
use crate::crypto::Session;
use crate::identity::PublicKey;
use crate::recovery::RttEstimator;
use crate::wire::{ConnectionId, app_protocol_ext_len};

pub(crate) use self::dial::dialable;
pub(crate) use self::handshake::HandshakeCtx;
pub(crate) use self::receive::Received;
pub(crate) use self::relay::{is_relayed, relay_address};
pub(crate) use self::responder::{IkAdmitted, XxAdmitted};

/// Why a connection ended. Every `Closed` event carries one.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// Both sides finished their streams and every byte was acknowledged.
    Finished,
    /// This side closed it (`close`) with this code.
    Local {
        /// The close code sent to the peer.
        code: u16,
    },
    /// The peer closed it with a CLOSE segment.
    Remote {
        /// The peer's close code ([`close_code`](crate::close_code), or application-defined
        /// ≥ 0x8000).
        code: u16,
        /// The peer's reason text (lossily decoded UTF-8).
        reason: String,
    },
    /// The peer refused the connection (CLOSE with code REFUSED).
    Refused,
    /// Nothing authenticated arrived from the peer for the idle timeout.
    IdleTimeout,
    /// The handshake did not complete within the handshake timeout.
    HandshakeTimeout,
    /// Responder: the initiator never confirmed the handshake (its first authenticated
    /// transport packet did not come within the handshake timeout, PROTOCOL.md §10.5): the
    /// initiation was forged or replayed, or the initiator went away. 0-RTT data it carried may
    /// have been read.
    Unconfirmed,
    /// The peer violated the protocol (PROTOCOL.md §7.9).
    ProtocolViolation,
    /// The endpoint was shut down or its limits reached.
    EndpointClosed,
    /// Initiator: the peer dialed this side at the same time, and its initiation won
    /// (PROTOCOL.md §13.6: the side with the smaller static key is the initiator). Nothing was
    /// acknowledged here; the peer's connection arrives as [`Event::Incoming`](crate::Event).
    Crossed,
    /// Initiator dialing by key: the rendezvous does not know the peer (it is not registered
    /// there, PROTOCOL.md §13.7). Nothing was sent to the peer.
    NotFound,
}

/// Something the application should know about one connection (the endpoint adds the handle).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ConnEvent {
    Incoming,
    Connected {
        early_data_accepted: bool,
    },
    Confirmed,
    Readable,
    Writable,
    Acknowledged,
    Finished,
    /// The connection moved to a validated new path (PROTOCOL.md §13.4).
    PathChanged,
    /// Why: [`Connection::close_reason`] (kept there, so that every event is two bytes: the
    /// queue's capacity stays with each connection).
    Closed,
}

/// Where the connection is in its life.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Phase {
    /// Handshake in progress (see `Handshake` for the side and step).
    Handshaking,
    /// Keys established; data flows.
    Established,
    /// Closed locally or finished: lingering to answer the peer's retransmissions.
    Lingering,
    /// Nothing is sent or received any more; keys and send state are gone. What the application
    /// has not read yet stays readable until it has read it or released the connection.
    Drained,
}

/// One connection's complete state (see the module documentation).
pub(crate) struct Connection {
    config: Arc<ConnectionConfig>,
    /// Our connection id: the peer addresses packets to it.
    local_id: ConnectionId,
    /// The peer's connection id, once known.
    peer_id: ConnectionId,
    path: Path,
    /// Boxed, and only while a candidate is validated or a PATH_RESPONSE is owed (§13).
    paths: Option<Box<Paths>>,
    phase: Phase,
    handshake: Handshake,
    initiator: bool,
    /// Our initial sequence number (PROTOCOL.md §5.6).
    local_isn: u32,
    /// The peer's, once known (where its APP_PROTOCOL id rides, §7.7).
    peer_isn: u32,
    /// Responder: the replay guard let the IK early data through.
    early_accepted: bool,
    /// XX responder: what identifies the finish it processed, so that a retransmission of it
    /// is answered and any other 0x15 datagram dropped (PROTOCOL.md §4.8).
    xx_finish: Option<responder::FinishDigest>,
    peer_key: Option<PublicKey>,
    /// The application protocol id (PROTOCOL.md §7.7): an initiator's own, sent on its first
    /// DATA segment; a responder's from the initiator's first DATA segment (boxed: most
    /// connections have none, and every connection would pay its 33 bytes inline).
    app_protocol: Option<Box<AppProtocol>>,
    session: Option<Session>,
    send: SendStream,
    /// Created once the peer's initial sequence number is known.
    recv: Option<RecvStream>,
    /// Highest sequence number the peer's window allows (PROTOCOL.md §8.4).
    right_edge: u64,
    rtt: RttEstimator,
    cc: Box<dyn Controller>,
    pacer: Pacer,
    timers: TimerTable,
    ack: AckState,
    /// What the endpoint's receive budget allowed at the start of the current call.
    allowance: Allowance,
    /// Bytes held and `stats.receive_budget_drops` as last reported to the endpoint.
    reported: (usize, u64),
    /// Boxed: only a closing connection has one.
    close: Option<Box<PendingClose>>,
    /// A handshake datagram to send at the next transmit (queued, or a retransmission); a
    /// boxed slice, not a `Vec`: every connection holds the field, and it never grows.
    outgoing: Option<Box<[u8]>>,
    events: VecDeque<ConnEvent>,
    /// The application's last write was cut short: tell it when space frees up.
    write_blocked: bool,
    /// Everything written (and the FIN, once shut down) was acknowledged at the last check:
    /// an `Acknowledged` event marks each change to true.
    acknowledged: bool,
    /// Send a PING at the next opportunity (keep-alive, window probe).
    ping_pending: bool,
    /// The tail loss probe fired: the next DATA segment goes regardless of the congestion
    /// window and the pacer (RFC 8985 §7.3).
    probe_pending: bool,
    /// The counters this side skips, to catch a peer acknowledging what it never received.
    skips: CounterSkips,
    /// The peer closed the connection: nothing more is sent or accepted.
    peer_closed: bool,
    finished_reported: bool,
    /// The application holds the handle: it connected, or accepted the connection. An incoming
    /// connection it never accepted is freed as soon as it ends.
    owned: bool,
    /// The application released the handle: it reads and hears nothing more; the connection
    /// finishes on its own and is freed when it ends.
    released: bool,
    /// Drained with data the application had not read: the state stays until it has read to
    /// the end (or released the connection).
    hold_for_reader: bool,
    /// When the last authenticated packet arrived.
    last_received: Instant,
    /// The closing state's bounds, once lingering (boxed: only a closing connection has them).
    linger: Option<Box<lifecycle::Linger>>,
    /// Why it ended, once it has (boxed: only an ended connection has one).
    close_reason: Option<Box<CloseReason>>,
    /// When to start the next key update.
    key_update_at: Option<Instant>,
    /// The send key phase last seen (a field of its own, not a tuple with the next one, so
    /// that it packs with the other flags)…
    key_phase: bool,
    /// … and the first sequence number sent in it.
    key_phase_start: u64,
    stats: Counters,
}

/// The identifiers a new connection is created with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ids {
    /// Ours, drawn by the endpoint.
    pub(crate) local: ConnectionId,
    /// The peer's (a responder learns it from the initiation; an initiator from the response).
    pub(crate) peer: ConnectionId,
    /// Our initial sequence number.
    pub(crate) isn: u32,
}

impl Connection {
    /// The state every connection starts from; each side's constructor (`initiator`,
    /// `ik_responder`, `xx_responder`) sets up its handshake on top.
    fn new(
        now: Instant,
        config: Arc<ConnectionConfig>,
        ids: Ids,
        remote: SocketAddr,
        initiator: bool,
        handshake: Handshake,
    ) -> Self {
        let mss = config.mss() as u64;
        let cc = config.congestion.build(now, mss + PACKET_OVERHEAD as u64);
        let rtt = RttEstimator::new(config.rtt);
        let pacer = Pacer::new(now, mss, cc.window(), rtt.smoothed_or_initial());
        let send = SendStream::new(ids.isn, config.send_buffer_for(cc.window()), PACKET_OVERHEAD as u64);
        let right_edge = send.next_seq();
        let conn = Connection {
            local_id: ids.local,
            peer_id: ids.peer,
            // An initiator chose the address itself; a responder has only heard from it.
            path: Path::new(remote, initiator),
            paths: None,
            phase: Phase::Handshaking,
            handshake,
            initiator,
            local_isn: ids.isn,
            peer_isn: 0,
            early_accepted: false,
            xx_finish: None,
            peer_key: None,
            app_protocol: None,
            session: None,
            send,
            recv: None,
            right_edge,
            rtt,
            cc,
            pacer,
            timers: TimerTable::new(now),
            ack: AckState::default(),
            allowance: Allowance::default(),
            reported: (0, 0),
            close: None,
            outgoing: None,
            events: VecDeque::new(),
            write_blocked: false,
            acknowledged: true,
            ping_pending: false,
            probe_pending: false,
            skips: CounterSkips::new([0; 32]),
            peer_closed: false,
            finished_reported: false,
            owned: initiator,
            released: false,
            hold_for_reader: false,
            last_received: now,
            linger: None,
            close_reason: None,
            key_update_at: config.key_update_interval.map(|every| now + every),
            key_phase: false,
            key_phase_start: 0,
            stats: Counters::default(),
            config,
        };
        conn.trace_started(now);
        conn
    }

    /// Gives the connection its secret for the counter-skip schedule (PROTOCOL.md §8.8); the
    /// endpoint calls it once, right after creating it, with bytes from its RNG.
    pub(crate) fn seed_counter_skips(&mut self, key: [u8; 32]) {
        self.skips = CounterSkips::new(key);
    }

    /// Our connection id.
    pub(crate) fn local_id(&self) -> ConnectionId {
        self.local_id
    }

    /// The peer's current address.
    pub(crate) fn remote(&self) -> SocketAddr {
        self.path.remote
    }

    /// The peer's identity, once authenticated.
    pub(crate) fn peer_key(&self) -> Option<PublicKey> {
        self.peer_key
    }

    /// The application protocol id (PROTOCOL.md §7.7): an initiator's own; for a responder, the
    /// one the initiator sent, once its first DATA segment arrived.
    pub(crate) fn app_protocol(&self) -> Option<AppProtocol> {
        self.app_protocol.as_deref().copied()
    }

    /// Bytes the APP_PROTOCOL extension takes in our DATA segments until our first one (at
    /// the isn) is acknowledged: an initiator's first segment carries it, and each segment
    /// until then is sized to leave room for it (PROTOCOL.md §7.7).
    fn first_segment_ext_len(&self) -> usize {
        if self.initiator && self.send.una() == crate::arq::initial(self.local_isn) {
            app_protocol_ext_len(self.app_protocol.as_deref())
        } else {
            0
        }
    }

    /// The APP_PROTOCOL id to put on our DATA segment at stream offset `offset`.
    fn app_protocol_for(&self, offset: u64) -> Option<AppProtocol> {
        if self.initiator && offset == 0 { self.app_protocol() } else { None }
    }

    /// Whether this is a responder connection not yet confirmed (PROTOCOL.md §10.5): its
    /// handshake is in progress or waits for the application, or — IK — its response went out
    /// but the initiator has not yet proved it holds the ephemeral key with an authenticated
    /// transport packet. It counts against the half-open cap, and ends as
    /// [`CloseReason::Unconfirmed`] if still unconfirmed at the handshake timeout.
    pub(crate) fn is_half_open(&self) -> bool {
        !self.initiator
            && match self.phase {
                Phase::Handshaking => true,
                Phase::Established => matches!(self.handshake, Handshake::Responded { .. }),
                Phase::Lingering | Phase::Drained => false,
            }
    }

    /// The next event for the application (none once it released the connection).
    pub(crate) fn poll_event(&mut self) -> Option<ConnEvent> {
        if self.released {
            self.events.clear();
            return None;
        }
        self.events.pop_front()
    }

    /// The earliest deadline of this connection.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let (timer, path) = (self.timers.next(), self.path_deadline());
        match (timer, path) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Handles every timer due at `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.path_deadline().is_some_and(|at| at <= now) {
            self.on_path_timer(now);
            self.on_relay_timer(now);
        }
        for timer in self.timers.expired(now) {
            match timer {
                Timer::Handshake => self.on_handshake_timer(now),
                Timer::HandshakeGiveUp => {
                    if self.phase == Phase::Handshaking {
                        self.drain(now, Some(CloseReason::HandshakeTimeout));
                    } else if self.is_half_open() {
                        // PROTOCOL.md §10.5: an IK responder whose initiator never proved it
                        // holds the ephemeral key (a forged or replayed initiation). Nothing is
                        // sent to the unproven address.
                        self.drain(now, Some(CloseReason::Unconfirmed));
                    }
                }
                Timer::Retransmit => self.on_retransmission_timeout(now),
                Timer::Probe => self.on_probe_timeout(now),
                Timer::LossDetection => {
                    self.detect_losses(now);
                }
                Timer::DelayedAck => self.on_delayed_ack_timer(),
                Timer::KeepAlive => {
                    // PROTOCOL.md §13.5: nothing sent for `keep_alive`: a PING holds the path.
                    self.ping_pending = true;
                    self.stats.keep_alives = self.stats.keep_alives.saturating_add(1);
                }
                Timer::Idle => self.drain(now, Some(CloseReason::IdleTimeout)),
                Timer::Pacing => {}
                Timer::WindowProbe => self.on_window_probe(now),
                Timer::Linger => self.drain(now, None),
                Timer::ReleaseGiveUp => self.on_release_give_up(now),
                Timer::KeyDiscard => self.discard_previous_key(),
            }
        }
    }

    /// The peer's window is zero: probe it with a PING (PROTOCOL.md §8.4), backing off.
    fn on_window_probe(&mut self, now: Instant) {
        if self.phase != Phase::Established {
            return;
        }
        self.ping_pending = true;
        self.rtt.backoff();
        self.timers.set(Timer::WindowProbe, now + self.rtt.rto());
    }

    /// Restarts the idle timer after an authenticated packet (PROTOCOL.md §8.7).
    fn touch(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Handshaking | Phase::Established) {
            self.timers.set(Timer::Idle, now + self.config.idle_timeout);
        }
    }

    /// Current statistics.
    pub(crate) fn stats(&self) -> ConnectionStats {
        let mut stats = self.stats.snapshot();
        stats.rtt = self.rtt.smoothed();
        stats.latest_rtt = self.rtt.latest();
        stats.min_rtt = self.rtt.min_rtt();
        stats.cwnd = self.cc.window();
        stats.ssthresh = self.cc.ssthresh();
        stats.pacing_rate = self.cc.pacing_rate();
        stats.congestion_control = self.cc.name();
        stats.bytes_in_flight = self.send.bytes_in_flight();
        stats.send_buffered = self.send.buffered() as u64;
        stats.fin_acked = self.send.is_fin_acked();
        stats.retransmits = self.send.retransmit_count();
        stats.spurious_retransmits = self.send.spurious_retransmit_count();
        stats.reordering_seen = self.send.reordering_seen();
        if let Some(recv) = &self.recv {
            stats.receive_held = recv.held() as u64;
            stats.receive_window = recv.window();
            stats.reneged = recv.reneged();
        }
        if let Some(session) = &self.session {
            let s = session.stats();
            stats.replays_dropped = s.replays_dropped;
            stats.key_updates = s.key_updates_initiated + s.recv_key_rotations;
            stats.auth_failures = s.auth_failures;
            stats.stale_key_drops = s.stale_key_drops;
        }
        stats
    }
}
#[cfg(test)]
mod size_tests {
    use std::mem::size_of;

    /// What every idle connection holds inline (the endpoint boxes each): a field added here
    /// costs every connection (`examples/idle_connections.rs` measures the whole, ≤ 4 KiB per
    /// side with ring). Rarely used state is boxed (the close, the linger, CUBIC's undo
    /// snapshot) and the statistics are counters only, the rest read at snapshot time.
    #[test]
    fn connection_size_is_bounded() {
        let (connection, counters) = (size_of::<super::Connection>(), size_of::<super::Counters>());
        // Session: ~560 bytes per ring key, 32 per RustCrypto key (crypto/session.rs).
        let bound = if cfg!(feature = "ring") { 3136 } else { 2112 };
        assert!(connection <= bound, "Connection is {connection} bytes (bound {bound})");
        assert!(counters < size_of::<super::ConnectionStats>(), "{counters}");
        assert!(size_of::<super::ConnEvent>() <= 16, "{}", size_of::<super::ConnEvent>());
        assert!(size_of::<crate::congestion::cubic::Cubic>() <= 272);
    }
}
