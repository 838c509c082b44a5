//! One connection: its handshake, its reliable byte stream in each direction, its timers and
//! its congestion state. The [`Endpoint`](crate::endpoint::Endpoint) owns every connection and
//! routes datagrams, time and application calls to it; the connection answers with datagrams
//! (through `poll_transmit`), deadlines (`poll_timeout`) and events.
//!
//! - `handshake.rs`: the handshake from either side, up to the transport keys.
//! - `receive.rs`: authenticated transport packets in: ACKs, data, CLOSE, roaming.
//! - `transmit.rs`: datagrams out: handshake messages, ACK/DATA packets, probes, CLOSE.
//! - `timer.rs`: the deadline table.

mod handshake;
mod receive;
mod stats;
pub(crate) mod timer;
mod transmit;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

pub use self::stats::ConnectionStats;
use self::timer::{Timer, TimerTable};
use crate::arq::recv::RecvStream;
use crate::arq::send::SendStream;
use crate::config::{ConnectionConfig, PACKET_OVERHEAD};
use crate::congestion::{Controller, Pacer};
use crate::crypto::Session;
use crate::identity::PublicKey;
use crate::recovery::RttEstimator;
use crate::wire::{ConnectionId, close_code};

pub(crate) use self::handshake::{Handshake, HandshakeCtx};

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
        /// The peer's close code (`wire::close_code`, or application-defined ≥ 0x8000).
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
    /// The peer violated the protocol (PROTOCOL.md §7.9).
    ProtocolViolation,
    /// The endpoint was shut down or its limits reached.
    EndpointClosed,
}

/// Something the application should know about one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ConnEvent {
    Incoming,
    Connected { early_data_accepted: bool },
    Readable,
    Writable,
    Finished,
    Closed(CloseReason),
}

/// Where the connection is in its life.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) enum Phase {
    /// Handshake in progress (see `Handshake` for the side and step).
    Handshaking,
    /// Keys established; data flows.
    Established,
    /// Closed locally or finished: lingering to answer the peer's retransmissions.
    Lingering,
    /// Nothing left: the endpoint frees the state.
    Drained,
}

/// The path to the peer and its anti-amplification budget (PROTOCOL.md §10.4).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Path {
    pub(crate) remote: SocketAddr,
    /// The peer proved it receives at `remote`; no budget applies.
    pub(crate) validated: bool,
    pub(crate) received: u64,
    pub(crate) sent: u64,
    /// After a move to a new address: the first sequence number sent there. An ACK of it (or of
    /// a later one) proves that the peer receives there (PROTOCOL.md §12.6).
    pub(crate) probe: Option<u64>,
}

impl Path {
    /// Before validation a side sends at most 3× what it received (PROTOCOL.md §10.4).
    pub(crate) fn budget(&self) -> u64 {
        if self.validated { u64::MAX } else { (3 * self.received).saturating_sub(self.sent) }
    }
}

/// ACK scheduling state (PROTOCOL.md §8.5).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct AckState {
    /// DATA-bearing packets received since the last ACK was sent.
    pub(crate) pending: u32,
    /// Send an ACK at the next opportunity (out of order, FIN, PING, gap filled, window update).
    pub(crate) immediate: bool,
    /// When the newest acknowledged-to-be packet arrived (for ACK_DELAY).
    pub(crate) newest_at: Option<Instant>,
}

/// A local close waiting to be sent.
#[derive(Debug, Clone)]
pub(crate) struct PendingClose {
    pub(crate) code: u16,
    pub(crate) reason: Vec<u8>,
    /// The CLOSE packet still has to go out.
    pub(crate) unsent: bool,
}

/// One connection's complete state.
pub(crate) struct Connection {
    pub(crate) config: Arc<ConnectionConfig>,
    /// Our connection id: the peer addresses packets to it.
    pub(crate) local_id: ConnectionId,
    /// The peer's connection id, once known.
    pub(crate) peer_id: ConnectionId,
    pub(crate) path: Path,
    pub(crate) phase: Phase,
    pub(crate) handshake: Handshake,
    pub(crate) initiator: bool,
    /// Our initial sequence number (PROTOCOL.md §5.6).
    pub(crate) local_isn: u32,
    /// Responder: the replay guard let the IK early data through.
    pub(crate) early_accepted: bool,
    pub(crate) peer_key: Option<PublicKey>,
    pub(crate) session: Option<Session>,
    pub(crate) send: SendStream,
    /// Created once the peer's initial sequence number is known.
    pub(crate) recv: Option<RecvStream>,
    /// Highest sequence number the peer's window allows (PROTOCOL.md §8.4).
    pub(crate) right_edge: u64,
    pub(crate) rtt: RttEstimator,
    pub(crate) cc: Box<dyn Controller>,
    pub(crate) pacer: Pacer,
    pub(crate) timers: TimerTable,
    pub(crate) ack: AckState,
    pub(crate) close: Option<PendingClose>,
    /// A handshake datagram to send at the next transmit (queued, or a retransmission).
    pub(crate) outgoing: Option<Vec<u8>>,
    pub(crate) events: VecDeque<ConnEvent>,
    /// The application's last write was cut short: tell it when space frees up.
    pub(crate) write_blocked: bool,
    /// Send a PING at the next opportunity (keep-alive, window probe).
    pub(crate) ping_pending: bool,
    /// The peer closed the connection: nothing more is sent or accepted; unread data stays
    /// readable until read (or the idle timeout).
    pub(crate) peer_closed: bool,
    pub(crate) finished_reported: bool,
    /// When the last authenticated packet arrived.
    pub(crate) last_received: Instant,
    /// When to start the next key update.
    pub(crate) key_update_at: Option<Instant>,
    /// The send key phase last seen, and the first sequence number sent in it.
    pub(crate) key_phase: (bool, u64),
    pub(crate) stats: ConnectionStats,
}

impl Connection {
    /// Common construction; `handshake` says which side and step this connection starts in.
    pub(crate) fn new(
        now: Instant,
        config: Arc<ConnectionConfig>,
        local_id: ConnectionId,
        remote: SocketAddr,
        initiator: bool,
        isn: u32,
        handshake: Handshake,
    ) -> Self {
        let mss = config.mss() as u64;
        let cc = config.congestion.build(now, mss + PACKET_OVERHEAD as u64);
        let rtt = RttEstimator::new(config.rtt);
        let pacer = Pacer::new(now, mss, cc.window(), rtt.smoothed_or_initial());
        let send = SendStream::new(isn, config.send_buffer_for(cc.window()), PACKET_OVERHEAD as u64);
        let right_edge = send.next_seq();
        let mut timers = TimerTable::default();
        timers.set(Timer::HandshakeGiveUp, now + config.handshake_timeout);
        Connection {
            local_id,
            peer_id: ConnectionId::NONE,
            // An initiator chose the address itself; a responder has only heard from it.
            path: Path { remote, validated: initiator, received: 0, sent: 0, probe: None },
            phase: Phase::Handshaking,
            handshake,
            initiator,
            local_isn: isn,
            early_accepted: false,
            peer_key: None,
            session: None,
            send,
            recv: None,
            right_edge,
            rtt,
            cc,
            pacer,
            timers,
            ack: AckState::default(),
            close: None,
            outgoing: None,
            events: VecDeque::new(),
            write_blocked: false,
            ping_pending: false,
            peer_closed: false,
            finished_reported: false,
            last_received: now,
            key_update_at: config.key_update_interval.map(|every| now + every),
            key_phase: (false, 0),
            stats: ConnectionStats::default(),
            config,
        }
    }

    /// Writes application bytes into the send buffer; returns how many it took (backpressure).
    pub(crate) fn write(&mut self, data: &[u8]) -> Result<usize, crate::endpoint::WriteError> {
        use crate::endpoint::WriteError;
        if self.close.is_some() || matches!(self.phase, Phase::Lingering | Phase::Drained) {
            return Err(WriteError::Closed);
        }
        if self.send.is_finishing() {
            return Err(WriteError::Finished);
        }
        let n = self.send.write(data);
        if n < data.len() {
            self.write_blocked = true;
        }
        Ok(n)
    }

    /// Reads in-order bytes. `Ok(0)` with a non-empty buffer means the peer finished.
    pub(crate) fn read(&mut self, out: &mut [u8]) -> Result<usize, crate::endpoint::ReadError> {
        use crate::endpoint::ReadError;
        if matches!(self.handshake, Handshake::IkReceived { .. } | Handshake::XxReceived { .. }) {
            // Not accepted yet: nothing (not even 0-RTT data) is delivered before the application
            // has decided to accept this peer.
            return Err(ReadError::Blocked);
        }
        let Some(recv) = self.recv.as_mut() else {
            return if self.phase == Phase::Drained {
                Err(ReadError::Closed)
            } else {
                Err(ReadError::Blocked)
            };
        };
        let n = recv.read(out);
        if recv.window_opened_since_last_ack() {
            self.ack.immediate = true;
        }
        if n > 0 || out.is_empty() {
            return Ok(n);
        }
        let finished = recv.is_finished();
        if self.peer_closed {
            // Everything the peer sent before its CLOSE has been read: the state can go.
            self.drain(None);
        }
        if finished {
            return Ok(0);
        }
        if self.phase == Phase::Drained || self.close.is_some() || self.peer_closed {
            return Err(ReadError::Closed);
        }
        Err(ReadError::Blocked)
    }

    /// Half-close: a FIN follows the buffered bytes.
    pub(crate) fn shutdown(&mut self) {
        self.send.finish();
    }

    /// Closes the connection with `code`, telling the peer (abort when `code` is not NO_ERROR).
    pub(crate) fn close(&mut self, now: Instant, code: u16, reason: &[u8]) {
        if self.close.is_some() || self.phase == Phase::Drained {
            return;
        }
        let reason = reason[..reason.len().min(256)].to_vec();
        self.close = Some(PendingClose { code, reason, unsent: self.session.is_some() });
        self.enter_linger(now, CloseReason::Local { code });
    }

    /// Stops all activity but answering the peer, and frees the state after 3 RTOs.
    pub(crate) fn enter_linger(&mut self, now: Instant, reason: CloseReason) {
        if matches!(self.phase, Phase::Lingering | Phase::Drained) {
            return;
        }
        self.phase = Phase::Lingering;
        let rto = self.rtt.rto();
        self.timers.clear();
        self.timers.set(Timer::Linger, now + 3 * rto);
        self.events.push_back(ConnEvent::Closed(reason));
    }

    /// Ends the connection at once: no further packets (idle timeout, peer's CLOSE, give-up).
    pub(crate) fn drain(&mut self, reason: Option<CloseReason>) {
        if self.phase == Phase::Drained {
            return;
        }
        if let Some(reason) = reason {
            if self.phase != Phase::Lingering {
                self.events.push_back(ConnEvent::Closed(reason));
            }
        }
        self.phase = Phase::Drained;
        self.timers.clear();
    }

    /// The earliest deadline of this connection.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Handles every timer due at `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        for timer in self.timers.expired(now) {
            match timer {
                Timer::Handshake => self.on_handshake_timer(now),
                Timer::HandshakeGiveUp => {
                    if self.phase == Phase::Handshaking {
                        self.drain(Some(CloseReason::HandshakeTimeout));
                    }
                }
                Timer::Retransmit => self.on_retransmission_timeout(now),
                Timer::LossDetection => self.detect_losses(now),
                Timer::DelayedAck => self.ack.immediate = self.ack.pending > 0 || self.ack.immediate,
                Timer::KeepAlive => self.ping_pending = true,
                Timer::Idle => self.drain(Some(CloseReason::IdleTimeout)),
                Timer::Pacing => {}
                Timer::WindowProbe => self.on_window_probe(now),
                Timer::Linger => self.drain(None),
            }
        }
    }

    /// RFC 6298 §5.4–5.6: the retransmission timer fired.
    fn on_retransmission_timeout(&mut self, now: Instant) {
        if self.phase != Phase::Established || !self.send.has_in_flight() {
            return;
        }
        // RFC 6298 §5.4: retransmit the earliest segment not acknowledged (all are marked lost;
        // the congestion window now lets one out). §5.5: back the timer off.
        let lost = self.send.on_retransmission_timeout();
        self.stats.timeouts += 1;
        self.stats.lost_packets_bytes += lost;
        self.cc.on_retransmission_timeout(now);
        self.rtt.backoff();
        self.arm_retransmit(now);
    }

    /// Runs loss detection (RFC 6675 / RFC 8985) and informs the congestion controller.
    pub(crate) fn detect_losses(&mut self, now: Instant) {
        let loss = self.send.detect_losses(now, &self.rtt);
        if loss.lost_packets > 0 {
            self.stats.lost_packets_bytes += loss.lost_bytes;
            if let Some(sent) = loss.largest_lost_sent {
                self.cc.on_congestion_event(now, sent, loss.lost_bytes);
            }
        }
        match loss.next_timer {
            Some(at) => self.timers.set(Timer::LossDetection, at),
            None => self.timers.stop(Timer::LossDetection),
        }
        self.arm_retransmit(now);
    }

    /// RFC 6298 §5.1/§5.3: (re)start the retransmission timer while anything is outstanding,
    /// stop it when nothing is (§5.2). Like Linux (`tcp_rearm_rto`), it runs from the last
    /// transmission of the oldest segment still in flight rather than from now, so a lost tail
    /// is not kept waiting a full RTO per ACK; and it is re-armed whenever that segment may have
    /// changed (every ACK, every loss detection), so a segment SACKed, or declared lost and
    /// resent, never leaves behind a deadline computed from its first transmission. (A deadline
    /// left from the first transmission of a segment resent in recovery fired one RTO after it,
    /// while the resend was still in a full queue: issue 9's collapse at 80-160 ms.)
    /// Idempotent: the deadline depends only on send times and the RTO.
    pub(crate) fn arm_retransmit(&mut self, now: Instant) {
        if self.send.has_in_flight() || self.send.has_lost() {
            let from = self.send.oldest_in_flight_sent().unwrap_or(now);
            self.timers.set(Timer::Retransmit, (from + self.rtt.rto()).max(now));
        } else {
            self.timers.stop(Timer::Retransmit);
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
    pub(crate) fn touch(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Handshaking | Phase::Established) {
            self.timers.set(Timer::Idle, now + self.config.idle_timeout);
        }
    }

    /// Queues a connection-level protocol error: CLOSE PROTOCOL_VIOLATION to the peer.
    pub(crate) fn protocol_violation(&mut self, now: Instant) {
        self.stats.protocol_violations += 1;
        if self.close.is_none() {
            self.close = Some(PendingClose {
                code: close_code::PROTOCOL_VIOLATION,
                reason: b"protocol violation".to_vec(),
                unsent: self.session.is_some(),
            });
            self.enter_linger(now, CloseReason::ProtocolViolation);
        }
    }

    /// Current statistics.
    pub(crate) fn stats(&self) -> ConnectionStats {
        let mut stats = self.stats;
        stats.rtt = self.rtt.smoothed();
        stats.cwnd = self.cc.window();
        stats.bytes_in_flight = self.send.bytes_in_flight();
        stats.send_buffered = self.send.buffered() as u64;
        stats.fin_acked = self.send.is_fin_acked();
        stats.retransmits = self.send.retransmit_count();
        stats.spurious_retransmits = self.send.spurious_retransmit_count();
        if let Some(session) = &self.session {
            let s = session.stats();
            stats.replays_dropped = s.replays_dropped;
            stats.key_updates = s.key_updates_initiated + s.recv_key_rotations;
            stats.auth_failures = s.auth_failures;
        }
        stats
    }
}
