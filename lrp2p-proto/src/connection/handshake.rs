//! The handshake of one connection, from either side, up to the transport keys
//! (PROTOCOL.md §4.8): building, retransmitting and answering handshake datagrams, the
//! application's accept/refuse decision, cookie replies, and the switch to the transport.

use std::time::{Duration, Instant};

use rand_core::{CryptoRng, RngCore};

use super::{CloseReason, ConnEvent, Connection, PendingClose, Phase};
use crate::arq::recv::RecvStream;
use crate::arq::truncate;
use crate::crypto::Session;
use crate::crypto::noise::Completed;
use crate::crypto::noise::ik::{IkInitiatorWaiting, IkResponderReceived};
use crate::crypto::noise::xx::{XxInitiatorWaiting, XxResponderWaiting};
use crate::handshake::{
    read_ik_response, read_xx_finish, read_xx_response, set_cookie_mac, write_ik_initiation,
    write_ik_response, write_xx_finish, write_xx_initiation,
};
use crate::identity::{PublicKey, StaticSecret};
use crate::wire::{
    AckRepr, COOKIE_LEN, CloseRepr, ConnectionId, CookieReplyRepr, DataRepr, IkInitPayload,
    IkResponsePayload, IkResponseRepr, Segments, Seq, Tail, XxFinishPayload, XxFinishRepr, XxResponseRepr,
    close_code,
};

use super::timer::Timer;

/// What the connection needs from its endpoint to take a handshake step.
pub(crate) struct HandshakeCtx<'a, R> {
    pub(crate) rng: &'a mut R,
    pub(crate) identity: &'a StaticSecret,
    /// Wall-clock timestamp for an IK initiation: ns since the Unix epoch, strictly increasing.
    pub(crate) timestamp_ns: u64,
}

/// Where the handshake stands.
pub(crate) enum Handshake {
    /// Initiator before its first message (built on the first transmit, so that data written
    /// right after `connect` becomes 0-RTT early data).
    Start { peer: Option<PublicKey> },
    /// Initiator, IK message 1 sent.
    IkSent { noise: Box<IkInitiatorWaiting>, message: Vec<u8>, sent_at: Instant, retries: u32 },
    /// Initiator, XX message 1 sent.
    XxSent { noise: Box<XxInitiatorWaiting>, message: Vec<u8>, sent_at: Instant, retries: u32 },
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
    fn stored(&self) -> Option<&[u8]> {
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
fn early_room(max_datagram: usize, overhead: usize) -> usize {
    max_datagram.saturating_sub(overhead + 6 + 16).max(1)
}

impl Connection {
    /// Initiator: builds message 1 (IK with early data when the peer's key is known, else XX).
    pub(crate) fn start_handshake<R: RngCore + CryptoRng>(&mut self, now: Instant, ctx: HandshakeCtx<'_, R>) {
        let Handshake::Start { peer } = self.handshake else { return };
        let mut out = vec![0u8; self.config.max_datagram_size.max(crate::wire::IK_INITIATION_MIN_LEN + 32)];
        let isn = truncate(self.send.next_seq());
        let built = match peer {
            Some(remote) => {
                let room = early_room(self.config.max_datagram_size, crate::wire::IK_INITIATION_MIN_LEN);
                let mut early = vec![0u8; room];
                let data = self.take_first_segment(now, &mut early, room);
                let tail = data.map(|(seq, len, fin)| {
                    Tail::Data(DataRepr {
                        seq: truncate(seq),
                        fin,
                        rtx: false,
                        ping: false,
                        payload: &early[..len],
                    })
                });
                let payload = IkInitPayload {
                    timestamp_ns: ctx.timestamp_ns,
                    isn,
                    segments: Segments { ack: None, tail },
                };
                write_ik_initiation(ctx.rng, ctx.identity, &remote, self.local_id, &payload, None, &mut out)
                    .map(|(noise, n)| {
                        out.truncate(n);
                        Handshake::IkSent { noise: Box::new(noise), message: out, sent_at: now, retries: 0 }
                    })
            }
            None => {
                write_xx_initiation(ctx.rng, ctx.identity, self.local_id, None, &mut out).map(|(noise, n)| {
                    out.truncate(n);
                    Handshake::XxSent { noise: Box::new(noise), message: out, sent_at: now, retries: 0 }
                })
            }
        };
        match built {
            Ok(next) => {
                self.handshake = next;
                self.queue_handshake_message();
                self.timers.set(Timer::Handshake, now + self.config.handshake_rto);
            }
            // Cannot happen with valid configuration; end the attempt rather than panic.
            Err(_) => self.drain(Some(CloseReason::EndpointClosed)),
        }
    }

    /// Takes the first DATA segment (seq = isn) for a handshake message, if data is waiting.
    fn take_first_segment(
        &mut self,
        now: Instant,
        out: &mut [u8],
        room: usize,
    ) -> Option<(u64, usize, bool)> {
        let seg = self.send.next_segment(now, room, self.right_edge)?;
        self.send.payload(seg.offset, seg.len, &mut out[..seg.len]);
        self.cc.on_sent(now, seg.len as u64 + crate::config::PACKET_OVERHEAD as u64);
        Some((seg.seq, seg.len, seg.fin))
    }

    /// Copies the stored handshake message into the outgoing slot.
    fn queue_handshake_message(&mut self) {
        self.outgoing = self.handshake.stored().map(<[u8]>::to_vec);
    }

    /// The handshake retransmission timer fired: resend, doubling the timeout (RFC 6298 §5.5).
    pub(crate) fn on_handshake_timer(&mut self, now: Instant) {
        let retries = match &mut self.handshake {
            Handshake::IkSent { retries, .. }
            | Handshake::XxSent { retries, .. }
            | Handshake::XxFinishSent { retries, .. } => {
                *retries += 1;
                *retries
            }
            _ => return,
        };
        self.stats.handshake_retransmits += 1;
        self.queue_handshake_message();
        let backoff = self.config.handshake_rto.saturating_mul(1 << retries.min(6));
        self.timers.set(Timer::Handshake, now + backoff.min(Duration::from_secs(60)));
    }

    /// A duplicate of the peer's initiation arrived: resend our stored response, if any
    /// (PROTOCOL.md §4.8). It never re-delivers data: the connection already exists.
    pub(crate) fn on_duplicate_initiation(&mut self, datagram_len: usize) {
        self.path.received += datagram_len as u64;
        if !self.initiator && self.handshake.stored().is_some() {
            self.queue_handshake_message();
        }
    }

    /// Initiator: a cookie reply for our initiation (PROTOCOL.md §10.3): store the cookie, MAC
    /// the same initiation with it and resend it once.
    pub(crate) fn on_cookie_reply(&mut self, reply: &CookieReplyRepr) {
        let (ephemeral, message) = match &mut self.handshake {
            Handshake::IkSent { noise, message, .. } => (*noise.ephemeral_public(), message),
            Handshake::XxSent { noise, message, .. } => (*noise.ephemeral_public(), message),
            _ => return,
        };
        if ephemeral[..16] != reply.echo {
            return;
        }
        let cookie: [u8; COOKIE_LEN] = reply.cookie;
        if set_cookie_mac(message, Some(&cookie)).is_ok() {
            self.queue_handshake_message();
        }
    }

    /// Initiator, after an IK or XX response authenticated: the responder's id (from the
    /// encrypted payload, PROTOCOL.md §5.6), the bytes heard, and the first RTT sample.
    fn on_response_read(
        &mut self,
        now: Instant,
        responder_id: ConnectionId,
        len: usize,
        sent_at: Instant,
        retries: u32,
    ) {
        self.peer_id = responder_id;
        self.path.received += len as u64;
        if retries == 0 {
            // Karn (RFC 6298 §3): only an unretransmitted exchange gives an RTT sample.
            self.rtt.update(now.saturating_duration_since(sent_at), Duration::ZERO);
        }
    }

    /// Initiator: the IK response.
    pub(crate) fn on_ik_response(&mut self, now: Instant, repr: &IkResponseRepr<'_>, len: usize) {
        let Handshake::IkSent { noise, sent_at, retries, .. } = &self.handshake else { return };
        let (sent_at, retries) = (*sent_at, *retries);
        let mut plain = vec![0u8; repr.noise.len()];
        let Ok((keys, payload)) = read_ik_response(noise, repr, &mut plain) else {
            self.stats.auth_failures += 1;
            return;
        };
        self.on_response_read(now, payload.responder_id, len, sent_at, retries);
        let early_seq = self.send.una();
        self.establish(now, keys, Some(payload.isn.0));
        self.handshake = Handshake::Done;
        self.timers.stop(Timer::Handshake);
        if self.close.is_some() {
            // Closed during the handshake: the keys only carry our CLOSE (see `establish`).
            return;
        }
        if let Some(Tail::Close(close)) = payload.segments.tail {
            self.on_close_segment(now, &close);
            return;
        }
        if let Some(ack) = payload.segments.ack {
            self.on_ack_segment(now, &ack, retries == 0);
        }
        let early_data_accepted = self.send.una() > early_seq;
        if !early_data_accepted && self.send.has_in_flight() {
            // PROTOCOL.md §9.3: refused early data is sent again at once as 1-RTT data.
            self.send.on_retransmission_timeout();
        }
        if let Some(Tail::Data(data)) = payload.segments.tail {
            self.on_data_segment(now, &data);
        }
        // PROTOCOL.md §4.8: confirm promptly with a transport packet carrying an ACK.
        self.ack.immediate = true;
        self.events.push_back(ConnEvent::Connected { early_data_accepted });
    }

    /// Initiator: the XX response; answers at once with message 3 carrying the first data.
    pub(crate) fn on_xx_response(&mut self, now: Instant, repr: &XxResponseRepr<'_>, len: usize) {
        let Handshake::XxSent { noise, sent_at, retries, .. } = &self.handshake else { return };
        if self.close.is_some() {
            // Closed during the handshake: finish nothing. The responder holds only half-open
            // state, which it expires (PROTOCOL.md §10.5).
            return;
        }
        let (sent_at, retries) = (*sent_at, *retries);
        let Ok((received, payload)) = read_xx_response(noise, repr) else {
            self.stats.auth_failures += 1;
            return;
        };
        self.on_response_read(now, payload.responder_id, len, sent_at, retries);
        self.recv = Some(RecvStream::new(payload.isn.0, self.config.recv_buffer, self.config.mss()));
        let room = early_room(self.config.max_datagram_size, crate::wire::XX_FINISH_MIN_LEN + 40);
        let mut first = vec![0u8; room];
        let data = self.take_first_segment(now, &mut first, room);
        let tail = data.map(|(seq, len, fin)| {
            Tail::Data(DataRepr { seq: truncate(seq), fin, rtx: false, ping: false, payload: &first[..len] })
        });
        let ack = self.ack_repr(now);
        let isn = Seq(self.local_isn);
        let finish = XxFinishPayload { isn, segments: Segments { ack: Some(ack), tail } };
        let mut out = vec![0u8; self.config.max_datagram_size.max(crate::wire::XX_FINISH_MIN_LEN + 64)];
        let Ok((keys, n)) = write_xx_finish(received, self.peer_id, &finish, &mut out) else {
            self.drain(Some(CloseReason::EndpointClosed));
            return;
        };
        out.truncate(n);
        self.peer_key = Some(keys.remote_static());
        self.session = session_from(keys, self.peer_id);
        self.phase = Phase::Established;
        self.handshake = Handshake::XxFinishSent { message: out, retries: 0 };
        self.queue_handshake_message();
        self.timers.set(Timer::Handshake, now + self.rtt.rto());
        self.timers.stop(Timer::HandshakeGiveUp);
        self.touch(now);
        self.arm_retransmit(now);
    }

    /// Responder: the XX finish. Its payload carries the initiator's isn, window and first data;
    /// the initiator's key is now known and the application decides (PROTOCOL.md §4.8).
    pub(crate) fn on_xx_finish(&mut self, now: Instant, repr: &XxFinishRepr<'_>) {
        let Handshake::XxResponseSent { noise, .. } = &self.handshake else {
            // A retransmitted finish: our ACK was lost; acknowledge again.
            if self.phase == Phase::Established {
                self.ack.immediate = true;
            }
            return;
        };
        let mut plain = vec![0u8; repr.noise.len()];
        let Ok((keys, payload)) = read_xx_finish(noise, repr, &mut plain) else {
            self.stats.auth_failures += 1;
            return;
        };
        // The finish proves the initiator received our response there (PROTOCOL.md §10.4).
        self.path.validated = true;
        self.peer_key = Some(keys.remote_static());
        self.recv = Some(RecvStream::new(payload.isn.0, self.config.recv_buffer, self.config.mss()));
        if let Some(ack) = payload.segments.ack {
            self.on_ack_segment(now, &ack, true);
        }
        if let Some(Tail::Data(data)) = payload.segments.tail {
            self.on_data_segment(now, &data);
        }
        self.handshake = Handshake::XxReceived { keys: Box::new(keys) };
        self.events.push_back(ConnEvent::Incoming);
    }

    /// Switches to the transport with the keys of a completed handshake.
    pub(crate) fn establish(&mut self, now: Instant, keys: Completed, peer_isn: Option<u32>) {
        self.peer_key = Some(keys.remote_static());
        self.session = session_from(keys, self.peer_id);
        if let (None, Some(isn)) = (&self.recv, peer_isn) {
            self.recv = Some(RecvStream::new(isn, self.config.recv_buffer, self.config.mss()));
        }
        if let Some(close) = &mut self.close {
            // Closed during the handshake: it stays closed (lingering), and the keys serve only
            // to tell the peer, with our CLOSE.
            close.unsent = true;
            return;
        }
        self.phase = Phase::Established;
        self.timers.stop(Timer::HandshakeGiveUp);
        self.touch(now);
    }

    /// The first authenticated transport packet confirms the handshake (PROTOCOL.md §4.8).
    pub(crate) fn confirm(&mut self, now: Instant) {
        match self.handshake {
            // (Not when the application closed it meanwhile: it already had `Closed`.)
            Handshake::XxFinishSent { .. } if self.close.is_none() => {
                self.events.push_back(ConnEvent::Connected { early_data_accepted: false });
            }
            Handshake::XxFinishSent { .. } | Handshake::Responded { .. } => {}
            _ => return,
        }
        self.handshake = Handshake::Done;
        self.path.validated = true;
        self.timers.stop(Timer::Handshake);
        if self.outgoing.is_some() && !self.initiator {
            self.outgoing = None;
        }
        let _ = now;
    }

    /// Responder: the application accepts the incoming connection.
    /// Nothing happens if the application closed the connection first.
    pub(crate) fn accept<R: RngCore + CryptoRng>(&mut self, now: Instant, rng: &mut R) {
        if self.close.is_some() {
            return;
        }
        match std::mem::replace(&mut self.handshake, Handshake::Done) {
            Handshake::IkReceived { noise, peer_isn } => {
                let ack = self.ack_repr(now);
                let payload = IkResponsePayload {
                    responder_id: self.local_id,
                    isn: Seq(self.local_isn),
                    segments: Segments { ack: Some(ack), tail: None },
                };
                self.respond_ik(now, rng, *noise, &payload, peer_isn);
            }
            Handshake::XxReceived { keys } => {
                self.establish(now, *keys, None);
                // Its first transport packet (an ACK) confirms the handshake to the initiator.
                self.ack.immediate = true;
                self.events.push_back(ConnEvent::Connected { early_data_accepted: false });
            }
            other => {
                self.handshake = other;
                return;
            }
        }
        if self.recv.as_ref().is_some_and(|r| r.readable() > 0) {
            self.events.push_back(ConnEvent::Readable);
        }
    }

    fn respond_ik<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
        noise: IkResponderReceived,
        payload: &IkResponsePayload<'_>,
        peer_isn: u32,
    ) {
        let mut out = vec![0u8; self.config.max_datagram_size.max(crate::wire::IK_RESPONSE_MIN_LEN + 300)];
        let Ok((keys, n)) = write_ik_response(rng, noise, self.peer_id, payload, &mut out) else {
            self.drain(Some(CloseReason::EndpointClosed));
            return;
        };
        out.truncate(n);
        self.establish(now, keys, Some(peer_isn));
        self.handshake = Handshake::Responded { message: out };
        self.queue_handshake_message();
        self.ack.pending = 0;
        self.ack.immediate = false;
        if let Some(recv) = self.recv.as_mut() {
            recv.mark_ack_sent();
        }
        if payload.segments.tail.is_none() {
            self.events.push_back(ConnEvent::Connected { early_data_accepted: self.early_accepted });
        }
    }

    /// Responder: the application refuses the peer. It learns so from an authenticated CLOSE
    /// with code REFUSED (in the IK response, or in a transport packet after XX).
    /// Nothing happens if the application closed the connection first.
    pub(crate) fn refuse<R: RngCore + CryptoRng>(&mut self, now: Instant, rng: &mut R) {
        if self.close.is_some() {
            return;
        }
        let refusal = CloseRepr { seq: Seq(self.local_isn), code: close_code::REFUSED, reason: b"refused" };
        match std::mem::replace(&mut self.handshake, Handshake::Done) {
            Handshake::IkReceived { noise, peer_isn } => {
                let ack = AckRepr { cumulative: Seq(peer_isn).prev(), ..self.ack_repr(now) };
                let payload = IkResponsePayload {
                    responder_id: self.local_id,
                    isn: Seq(self.local_isn),
                    segments: Segments { ack: Some(ack), tail: Some(Tail::Close(refusal)) },
                };
                self.respond_ik(now, rng, *noise, &payload, peer_isn);
                self.close =
                    Some(PendingClose { code: close_code::REFUSED, reason: Vec::new(), unsent: false });
                self.enter_linger(now, CloseReason::Refused);
            }
            Handshake::XxReceived { keys } => {
                self.establish(now, *keys, None);
                self.close(now, close_code::REFUSED, b"refused");
            }
            other => self.handshake = other,
        }
    }

    /// The peer's identity, once authenticated.
    pub(crate) fn peer_key(&self) -> Option<PublicKey> {
        self.peer_key
    }

    /// Whether this is a responder handshake in progress (counts against the half-open cap).
    pub(crate) fn is_half_open(&self) -> bool {
        !self.initiator && self.phase == Phase::Handshaking
    }
}

/// Builds the transport session from handshake keys.
fn session_from(keys: Completed, peer_id: ConnectionId) -> Option<Session> {
    let (send, recv) = keys.into_keys();
    Session::new(&send, &recv, peer_id).ok()
}
