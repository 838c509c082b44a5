//! The handshake from either side up to the transport keys (PROTOCOL.md §4.8), as far as
//! both sides share it: the states, the stored message and its retransmission, the switch to
//! the transport, and the confirmation. `initiator.rs` and `responder.rs` hold each side's
//! steps.

use std::time::{Duration, Instant};

use super::timer::Timer;
use super::{CloseReason, ConnEvent, Connection, Phase};
use crate::arq::recv::RecvStream;
use crate::crypto::Session;
use crate::crypto::noise::Completed;
use crate::crypto::noise::ik::{IkInitiatorWaiting, IkResponderReceived};
use crate::crypto::noise::xx::{XxInitiatorWaiting, XxResponderWaiting};
use crate::identity::{PublicKey, StaticSecret};
use crate::recovery::backed_off;
use crate::trace::EarlyData;
use crate::wire::ConnectionId;

/// The longest wait between two retransmissions of a handshake message (RFC 6298 §2.5's
/// ceiling for the RTO).
const MAX_HANDSHAKE_RTO: Duration = Duration::from_secs(60);

/// What the connection needs from its endpoint to take a handshake step.
pub(crate) struct HandshakeCtx<'a, R> {
    pub(crate) rng: &'a mut R,
    pub(crate) identity: &'a StaticSecret,
    /// Wall-clock timestamp for an IK initiation: ns since the Unix epoch, strictly increasing.
    pub(crate) timestamp_ns: u64,
}

/// Where the handshake stands.
pub(super) enum Handshake {
    /// Initiator before its first message (built on the first transmit, so that data written
    /// right after `connect` becomes 0-RTT early data). `deferred`: not before the application
    /// reads, writes or starts it (`Endpoint::connect_deferred`).
    Start { peer: Option<PublicKey>, deferred: bool },
    /// Initiator, IK message 1 sent. `cookie_taken`: a cookie reply was acted on since the
    /// initiation was last sent on the timer (PROTOCOL.md §10.3: at most one per initiation).
    IkSent {
        noise: Box<IkInitiatorWaiting>,
        message: Vec<u8>,
        sent_at: Instant,
        retries: u32,
        cookie_taken: bool,
    },
    /// Initiator, XX message 1 sent (`cookie_taken` as for IK).
    XxSent {
        noise: Box<XxInitiatorWaiting>,
        message: Vec<u8>,
        sent_at: Instant,
        retries: u32,
        cookie_taken: bool,
    },
    /// Initiator, XX message 3 sent: retransmitted until the responder's first packet.
    XxFinishSent { message: Vec<u8>, retries: u32 },
    /// Responder, IK message 1 read: the application decides.
    IkReceived { noise: Box<IkResponderReceived>, peer_isn: u32 },
    /// Responder, XX message 2 sent, waiting for message 3.
    XxResponseSent { noise: Box<XxResponderWaiting>, message: Vec<u8> },
    /// Responder, XX message 3 read: the application decides.
    XxReceived { keys: Box<Completed> },
    /// Responder, response sent: kept for duplicate initiations until the initiator's first
    /// transport packet confirms the handshake.
    Responded { message: Vec<u8> },
    /// Confirmed: nothing handshake-related remains.
    Done,
}

impl Handshake {
    /// The stored message a duplicate initiation (or our own timer) should resend, if any.
    pub(super) fn stored(&self) -> Option<&[u8]> {
        match self {
            Handshake::IkSent { message, .. }
            | Handshake::XxSent { message, .. }
            | Handshake::XxFinishSent { message, .. }
            | Handshake::XxResponseSent { message, .. }
            | Handshake::Responded { message } => Some(message),
            _ => None,
        }
    }
}

/// The room for data in one handshake datagram.
pub(super) fn early_room(max_datagram: usize, overhead: usize) -> usize {
    max_datagram.saturating_sub(overhead + 6 + 16).max(1)
}

impl Connection {
    /// Copies the stored handshake message into the outgoing slot.
    pub(super) fn queue_handshake_message(&mut self) {
        self.outgoing = self.handshake.stored().map(Box::from);
        self.dial_queued();
    }

    /// The handshake retransmission timer fired: resend, doubling the timeout (RFC 6298 §5.5).
    pub(super) fn on_handshake_timer(&mut self, now: Instant) {
        let retries = match &mut self.handshake {
            Handshake::IkSent { retries, cookie_taken, .. }
            | Handshake::XxSent { retries, cookie_taken, .. } => {
                // A new initiation goes out: it may be answered by one cookie reply again.
                *cookie_taken = false;
                *retries += 1;
                *retries
            }
            Handshake::XxFinishSent { retries, .. } => {
                *retries += 1;
                *retries
            }
            _ => return,
        };
        self.stats.handshake_retransmits = self.stats.handshake_retransmits.saturating_add(1);
        self.queue_handshake_message();
        let wait = backed_off(self.config.handshake_rto, retries, MAX_HANDSHAKE_RTO);
        self.timers.set(Timer::Handshake, now + wait);
    }

    /// Switches to the transport with the keys of a completed handshake.
    pub(super) fn establish(&mut self, now: Instant, keys: Completed, peer_isn: Option<u32>) {
        self.peer_key = Some(keys.remote_static());
        self.session = session_from(keys, self.peer_id);
        if let (None, Some(isn)) = (&self.recv, peer_isn) {
            self.recv = Some(RecvStream::new(isn, self.config.recv_buffer, self.config.max_data_payload()));
        }
        if let Some(close) = &mut self.close {
            // Closed during the handshake: it stays closed (lingering), and the keys serve only
            // to tell the peer, with our CLOSE.
            close.unsent = true;
            return;
        }
        self.phase = Phase::Established;
        if self.initiator {
            self.timers.stop(Timer::HandshakeGiveUp);
        }
        // A responder stays on the give-up timer until confirmed (`confirm`).
        self.touch(now);
    }

    /// The first authenticated transport packet confirms the handshake (PROTOCOL.md §4.8).
    pub(super) fn confirm(&mut self, now: Instant) {
        match self.handshake {
            // (Not when the application closed it meanwhile: it already had `Closed`.)
            Handshake::XxFinishSent { .. } if self.close.is_none() => {
                self.trace_established(now, EarlyData::None);
                self.events.push_back(ConnEvent::Connected { early_data_accepted: false });
            }
            Handshake::Responded { .. } if self.close.is_none() => {
                self.events.push_back(ConnEvent::Confirmed);
            }
            Handshake::XxFinishSent { .. } | Handshake::Responded { .. } => {}
            _ => return,
        }
        self.handshake = Handshake::Done;
        self.path.validated = true;
        self.timers.stop(Timer::Handshake);
        self.timers.stop(Timer::HandshakeGiveUp);
        if self.outgoing.is_some() && !self.initiator {
            self.outgoing = None;
        }
    }

    /// The handshake could not be built (cannot happen with a valid configuration): end the
    /// attempt rather than panic.
    pub(super) fn handshake_failed(&mut self, now: Instant) {
        self.drain(now, Some(CloseReason::EndpointClosed));
    }
}

/// Builds the transport session from handshake keys.
pub(super) fn session_from(keys: Completed, peer_id: ConnectionId) -> Option<Session> {
    let (send, recv) = keys.into_keys();
    Session::new(&send, &recv, peer_id).ok()
}
