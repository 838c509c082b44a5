//! The application's calls on a connection and how a connection ends.
//!
//! ```text
//!  Handshaking ──keys──> Established ──both FINs acked──> Lingering ──3 RTO──> Drained
//!       │                     │  close / peer's CLOSE / violation ──┘               │
//!       └── give-up, idle, peer's CLOSE ───────────────────────────────────────────┤
//!                                                                 freed when nothing is left
//!                                                                 to read, or once released
//! ```
//!
//! - A stream ends with FIN (`shutdown`); the connection is finished when both streams are
//!   (PROTOCOL.md §8.7), then lingers to acknowledge a retransmitted FIN.
//! - `close` aborts: a CLOSE goes to the peer, and the connection lingers to answer its
//!   retransmissions with the CLOSE again (PROTOCOL.md §7.6).
//! - Handles stay valid after the `Closed` event while unread data remains: a drained
//!   connection keeps only what the application has not read (its keys are erased), and is freed
//!   once that is read, or when the application releases it. An incoming connection the
//!   application never accepted is freed as soon as it ends.
//! - `release`: the application is done with the handle. A live connection then finishes on its
//!   own, like a dropped `TcpStream`: a FIN after what was written, incoming data discarded, and
//!   an abort after `release_linger` if the peer does not finish too.
//! - When the whole endpoint goes away, [`close_for_endpoint`](Connection::close_for_endpoint)
//!   applies the §8.7 close policy.

use std::time::Instant;

use super::handshake::Handshake;
use super::timer::Timer;
use super::{CloseReason, ConnEvent, Connection, Phase};
use crate::error::{ReadError, WriteError};
use crate::wire::close_code;

/// The longest CLOSE reason sent (PROTOCOL.md §7.6 puts no limit; this keeps a CLOSE small).
const MAX_CLOSE_REASON: usize = 256;

/// The closing state's bounds (RFC 9000 §10.2.1, PROTOCOL.md §7.6): when it began and how
/// many authenticated packets arrived since.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Linger {
    since: Option<Instant>,
    received: u32,
}

/// A local close waiting to be sent.
#[derive(Debug, Clone)]
pub(super) struct PendingClose {
    pub(super) code: u16,
    pub(super) reason: Vec<u8>,
    /// The CLOSE packet still has to go out.
    pub(super) unsent: bool,
}

impl Connection {
    /// Writes application bytes into the send buffer; returns how many it took (backpressure).
    pub(crate) fn write(&mut self, data: &[u8]) -> Result<usize, WriteError> {
        if self.close.is_some() || self.peer_closed || matches!(self.phase, Phase::Lingering | Phase::Drained)
        {
            return Err(WriteError::Closed);
        }
        if self.send.is_finishing() {
            return Err(WriteError::Finished);
        }
        self.start();
        let n = self.send.write(data);
        if n < data.len() {
            self.write_blocked = true;
        }
        if n > 0 {
            self.acknowledged = false;
        }
        self.stats.stream_bytes_written += n as u64;
        Ok(n)
    }

    /// Reads in-order bytes. `Ok(0)` with a non-empty buffer means the peer finished.
    pub(crate) fn read(&mut self, out: &mut [u8]) -> Result<usize, ReadError> {
        if matches!(self.handshake, Handshake::IkReceived { .. } | Handshake::XxReceived { .. }) {
            // Not accepted yet: nothing (not even 0-RTT data) is delivered before the application
            // has decided to accept this peer.
            return Err(ReadError::Blocked);
        }
        self.start();
        let Some(recv) = self.recv.as_mut() else {
            return if self.phase == Phase::Drained {
                Err(ReadError::Closed)
            } else {
                Err(ReadError::Blocked)
            };
        };
        let n = recv.read(out);
        let (window_opened, finished) = (recv.window_opened_since_last_ack(), recv.is_finished());
        self.stats.stream_bytes_read += n as u64;
        if window_opened {
            self.ack_now();
        }
        if n > 0 || out.is_empty() {
            return Ok(n);
        }
        let ended = self.phase == Phase::Drained || self.close.is_some() || self.peer_closed;
        if finished || ended {
            // The application has seen the end: a drained connection need not wait for it.
            self.hold_for_reader = false;
        }
        if finished {
            return Ok(0);
        }
        if ended {
            return Err(ReadError::Closed);
        }
        Err(ReadError::Blocked)
    }

    /// Starts a deferred connect (see `Endpoint::connect_deferred`): its first datagram goes at
    /// the next transmit, carrying what was written so far. Reading and writing start it too.
    pub(crate) fn start(&mut self) {
        if let Handshake::Start { deferred, .. } = &mut self.handshake {
            *deferred = false;
        }
    }

    /// Half-close: a FIN follows the buffered bytes.
    pub(crate) fn shutdown(&mut self) {
        self.start();
        if !self.send.is_finishing() {
            self.send.finish();
            self.acknowledged = false;
        }
    }

    /// Whether every byte written, and the FIN once the stream is shut down, was acknowledged.
    pub(crate) fn is_acknowledged(&self) -> bool {
        self.send.buffered() == 0 && (!self.send.is_finishing() || self.send.is_fin_acked())
    }

    /// After an ACK: an `Acknowledged` event when everything written became acknowledged.
    pub(super) fn check_acknowledged(&mut self) {
        let now_acked = self.is_acknowledged();
        if now_acked && !self.acknowledged {
            self.events.push_back(ConnEvent::Acknowledged);
        }
        self.acknowledged = now_acked;
    }

    /// Whether the stream was shut down and is still waiting for its acknowledgement (FIN
    /// included), on a connection that has not ended: what an endpoint going away gracefully
    /// waits for.
    pub(crate) fn is_finishing(&self) -> bool {
        self.send.is_finishing()
            && !self.is_acknowledged()
            && self.close.is_none()
            && matches!(self.phase, Phase::Handshaking | Phase::Established)
    }

    /// Closes the connection with `code`, telling the peer (abort when `code` is not NO_ERROR).
    pub(crate) fn close(&mut self, now: Instant, code: u16, reason: &[u8]) {
        if self.close.is_some() || self.phase == Phase::Drained {
            return;
        }
        if matches!(self.handshake, Handshake::Start { .. }) {
            // Nothing was sent yet: nothing to tell the peer.
            self.drain(now, Some(CloseReason::Local { code }));
            return;
        }
        let reason = reason[..reason.len().min(MAX_CLOSE_REASON)].to_vec();
        self.close = Some(Box::new(PendingClose { code, reason, unsent: self.session.is_some() }));
        self.enter_linger(now, CloseReason::Local { code });
    }

    /// Queues a connection-level protocol error: CLOSE PROTOCOL_VIOLATION to the peer.
    pub(super) fn protocol_violation(&mut self, now: Instant) {
        self.stats.protocol_violations += 1;
        if self.close.is_none() {
            self.close = Some(Box::new(PendingClose {
                code: close_code::PROTOCOL_VIOLATION,
                reason: b"protocol violation".to_vec(),
                unsent: self.session.is_some(),
            }));
            self.enter_linger(now, CloseReason::ProtocolViolation);
        }
    }

    /// The application is done with this connection (see the module documentation). Returns
    /// whether its state can be freed at once.
    pub(crate) fn release(&mut self, now: Instant) -> bool {
        self.released = true;
        self.events.clear();
        match self.phase {
            Phase::Drained => return true,
            Phase::Lingering => return false,
            Phase::Handshaking | Phase::Established => {}
        }
        if matches!(self.handshake, Handshake::Start { deferred: true, .. }) {
            // A deferred connect that never started: nothing was sent, nobody waits.
            self.drain(now, None);
            return true;
        }
        self.shutdown();
        self.discard_readable();
        self.timers.set(Timer::ReleaseGiveUp, now + self.config.release_linger);
        false
    }

    /// A released connection reads nothing: what arrives is dropped, so that the peer's stream
    /// can end and the window stays open.
    pub(super) fn discard_readable(&mut self) {
        if !self.released {
            return;
        }
        let Some(recv) = self.recv.as_mut() else { return };
        let mut buf = [0u8; 4096];
        while recv.read(&mut buf) > 0 {}
        if recv.window_opened_since_last_ack() {
            self.ack_now();
        }
    }

    /// A released connection did not finish within `release_linger`: abort it.
    pub(super) fn on_release_give_up(&mut self, now: Instant) {
        if self.released && matches!(self.phase, Phase::Handshaking | Phase::Established) {
            self.close(now, close_code::NO_ERROR, b"released");
        }
    }

    /// Whether the endpoint may free this connection's state: it ended, and the application
    /// can want nothing more from it (it released it, never accepted it, or has read to the end
    /// of what was left when it ended).
    pub(crate) fn is_freeable(&self) -> bool {
        self.phase == Phase::Drained && (self.released || !self.owned || !self.hold_for_reader)
    }

    /// The endpoint is going away: PROTOCOL.md §8.7's close policy. A connection finished both
    /// ways gets CLOSE NO_ERROR, which carries the final ACK, so that a peer whose last ACKs
    /// were lost finishes too instead of retransmitting its FIN into a closed port. One whose
    /// finished stream is fully acknowledged is left alone (a CLOSE would make the peer discard
    /// what it has not read yet; it reads to the end, and its state expires by its idle
    /// timeout). Every other live connection is aborted with CLOSE NO_ERROR, telling the peer.
    pub(crate) fn close_for_endpoint(&mut self, now: Instant) {
        match self.phase {
            Phase::Lingering if self.close.is_none() => self.close(now, close_code::NO_ERROR, b"finished"),
            Phase::Handshaking | Phase::Established => {
                if !(self.send.is_finishing() && self.is_acknowledged()) {
                    self.close(now, close_code::NO_ERROR, b"endpoint closed");
                }
            }
            Phase::Lingering | Phase::Drained => {}
        }
    }

    /// When both streams are finished (our FIN acknowledged, the peer's FIN received), linger to
    /// acknowledge retransmissions of the peer's FIN, then drain.
    pub(super) fn check_finished(&mut self, now: Instant) {
        let peer_done = self.recv.as_ref().is_some_and(|r| r.fin_received());
        if self.phase == Phase::Established && peer_done && self.send.is_fin_acked() {
            // PROTOCOL.md §8.5: what is unacknowledged goes at once; but the ACK that finished
            // our stream is a pure ACK, not to be answered by one of ours that says again what
            // the last one said (the peer's FIN was acknowledged when it arrived).
            self.flush_pending_ack();
            self.enter_linger(now, CloseReason::Finished);
        }
    }

    /// Stops all activity but answering the peer, and drains after 3 RTOs.
    pub(super) fn enter_linger(&mut self, now: Instant, reason: CloseReason) {
        if matches!(self.phase, Phase::Lingering | Phase::Drained) {
            return;
        }
        self.phase = Phase::Lingering;
        self.linger = Some(Box::new(Linger { since: Some(now), received: 0 }));
        let rto = self.rtt.rto();
        self.timers.clear();
        self.timers.set(Timer::Linger, now + 3 * rto);
        self.trace_closed(now, &reason);
        self.close_reason = Some(Box::new(reason));
        self.events.push_back(ConnEvent::Closed);
    }

    /// An authenticated packet arrived while lingering, `gap` after the one before it.
    ///
    /// Like TCP's TIME_WAIT restarting on a retransmitted FIN: while the peer still sends (its
    /// final ACKs were lost, so it retransmits with exponential backoff), keep answering it,
    /// waiting twice the last gap so that its next, doubled, wait fits. Two bounds keep a peer
    /// that never stops from holding the state or drawing answers without end (PROTOCOL.md
    /// §7.6): the linger ends at the latest one idle timeout after it began, and the CLOSE goes
    /// again only on the 1st, 2nd, 4th, 8th … packet received (RFC 9000 §10.2.1: "an endpoint
    /// could wait for a progressively increasing number of received packets").
    pub(super) fn on_linger_packet(&mut self, now: Instant, gap: std::time::Duration) {
        let state = self.linger.get_or_insert_with(Box::default);
        let since = *state.since.get_or_insert(now);
        state.received = state.received.saturating_add(1);
        let received = state.received;
        let linger = (3 * self.rtt.rto()).max(2 * gap).min(self.config.idle_timeout);
        let end = (now + linger).min(since + self.config.idle_timeout.max(3 * self.rtt.rto()));
        self.timers.set(Timer::Linger, end.max(now));
        if let Some(close) = &mut self.close {
            if received.is_power_of_two() {
                close.unsent = true;
            }
        }
    }

    /// Ends the connection at once: no further packets (idle timeout, peer's CLOSE, give-up,
    /// the end of a linger). The keys and the send state go; what the application has not read
    /// stays until it has.
    pub(super) fn drain(&mut self, now: Instant, reason: Option<CloseReason>) {
        if self.phase == Phase::Drained {
            return;
        }
        if let Some(reason) = reason {
            if self.phase != Phase::Lingering {
                self.trace_closed(now, &reason);
                self.close_reason = Some(Box::new(reason));
                self.events.push_back(ConnEvent::Closed);
            }
        }
        self.phase = Phase::Drained;
        self.timers.clear();
        let unread = self.recv.as_ref().is_some_and(|r| r.readable() > 0);
        self.hold_for_reader = self.owned && !self.released && unread;
        if let Some(recv) = self.recv.as_mut() {
            recv.discard_out_of_order();
        }
        if let Some(session) = self.session.take() {
            // The counters outlive the keys.
            let s = session.stats();
            self.stats.replays_dropped = s.replays_dropped;
            self.stats.key_updates =
                u32::try_from(s.key_updates_initiated + s.recv_key_rotations).unwrap_or(u32::MAX);
            self.stats.auth_failures = s.auth_failures;
        }
        self.outgoing = None;
        self.handshake = Handshake::Done;
        self.send.discard();
    }
}

impl Connection {
    /// Why the connection ended, once it has ([`ConnEvent::Closed`]).
    pub(crate) fn close_reason(&self) -> Option<CloseReason> {
        self.close_reason.as_deref().cloned()
    }
}
