//! The responder's side of the handshake (PROTOCOL.md §4.2–4.8): a connection made from an
//! initiation the endpoint admitted, duplicates of that initiation, the XX finish, and the
//! application's accept or refuse.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use blake2::{Blake2s256, Digest};
use rand_core::{CryptoRng, RngCore};

use super::handshake::Handshake;
use super::lifecycle::PendingClose;
use super::timer::Timer;
use super::{CloseReason, ConnEvent, Connection, Ids, Phase, Received};
use crate::app_protocol::AppProtocol;
use crate::arq::recv::RecvStream;
use crate::config::ConnectionConfig;
use crate::crypto::noise::ik::IkResponderReceived;
use crate::crypto::noise::xx::XxResponderWaiting;
use crate::handshake::{read_xx_finish, write_ik_response};
use crate::identity::PublicKey;
use crate::trace::EarlyData;
use crate::wire::{
    AckRepr, CloseRepr, DataRepr, IK_RESPONSE_MIN_LEN, IkResponsePayload, Segments, Seq, Tail, XxFinishRepr,
    close_code,
};

/// What identifies the XX finish a responder processed, to recognise its retransmissions
/// (PROTOCOL.md §4.8): the first 16 bytes of the BLAKE2s hash of the whole datagram.
pub(super) type FinishDigest = [u8; 16];

/// The [`FinishDigest`] of `datagram`.
fn finish_digest(datagram: &[u8]) -> FinishDigest {
    let hash = Blake2s256::digest(datagram);
    let mut digest = [0u8; 16];
    digest.copy_from_slice(&hash[..16]);
    digest
}

/// An IK initiation the endpoint admitted and read (PROTOCOL.md §10.2).
pub(crate) struct IkAdmitted<'a> {
    /// The Noise state after message 1.
    pub(crate) noise: IkResponderReceived,
    /// The initiator's authenticated static key.
    pub(crate) peer: PublicKey,
    /// The initiator's initial sequence number.
    pub(crate) peer_isn: Seq,
    /// Its early data, when the 0-RTT replay guard let it through (PROTOCOL.md §9.3).
    pub(crate) early: Option<DataRepr<'a>>,
    /// The APP_PROTOCOL id on the initiation's DATA segment, accepted as 0-RTT or not.
    pub(crate) app_protocol: Option<AppProtocol>,
    /// The initiation's size, toward the amplification budget (PROTOCOL.md §10.4).
    pub(crate) datagram_len: usize,
}

/// An XX initiation the endpoint admitted and answered.
pub(crate) struct XxAdmitted {
    /// The Noise state after message 2.
    pub(crate) noise: XxResponderWaiting,
    /// Message 2, for duplicates of the initiation.
    pub(crate) message: Vec<u8>,
    /// The initiation's size, toward the amplification budget (PROTOCOL.md §10.4).
    pub(crate) datagram_len: usize,
}

impl Connection {
    /// The common part of a responder: the give-up timer and the bytes heard.
    fn responder(
        now: Instant,
        config: Arc<ConnectionConfig>,
        ids: Ids,
        remote: SocketAddr,
        handshake: Handshake,
        datagram_len: usize,
    ) -> Self {
        let mut conn = Connection::new(now, config, ids, remote, false, handshake);
        conn.path.on_received(remote, datagram_len);
        conn.timers.set(Timer::HandshakeGiveUp, now + conn.config.handshake_timeout);
        conn
    }

    /// A connection for an admitted IK initiation: the application is asked to accept it; its
    /// early data is buffered, readable once accepted.
    pub(crate) fn ik_responder(
        now: Instant,
        config: Arc<ConnectionConfig>,
        ids: Ids,
        remote: SocketAddr,
        admitted: IkAdmitted<'_>,
    ) -> Self {
        let IkAdmitted { noise, peer, peer_isn, early, app_protocol, datagram_len } = admitted;
        let handshake = Handshake::IkReceived { noise: Box::new(noise), peer_isn: peer_isn.0 };
        let mut conn = Connection::responder(now, config, ids, remote, handshake, datagram_len);
        conn.peer_key = Some(peer);
        conn.app_protocol = app_protocol.map(Box::new);
        conn.peer_isn = peer_isn.0;
        let mut recv = RecvStream::new(peer_isn.0, conn.config.recv_buffer, conn.config.max_data_payload());
        if let Some(data) = early {
            conn.early_accepted = recv.on_data(data.seq, data.payload, data.fin).is_ok();
        }
        conn.recv = Some(recv);
        conn.events.push_back(ConnEvent::Incoming);
        conn
    }

    /// A connection for an admitted XX initiation: message 2 goes out at once.
    pub(crate) fn xx_responder(
        now: Instant,
        config: Arc<ConnectionConfig>,
        ids: Ids,
        remote: SocketAddr,
        admitted: XxAdmitted,
    ) -> Self {
        let XxAdmitted { noise, message, datagram_len } = admitted;
        let handshake = Handshake::XxResponseSent { noise: Box::new(noise), message };
        let mut conn = Connection::responder(now, config, ids, remote, handshake, datagram_len);
        conn.queue_handshake_message();
        conn
    }

    /// A duplicate of the peer's initiation arrived: resend our stored response, if any
    /// (PROTOCOL.md §4.8). It never re-delivers data: the connection already exists.
    pub(crate) fn on_duplicate_initiation(&mut self, from: SocketAddr, datagram_len: usize) {
        self.path.on_received(from, datagram_len);
        if !self.initiator && self.handshake.stored().is_some() {
            self.queue_handshake_message();
        }
    }

    /// The XX finish (`datagram`, parsed as `repr`). Its payload carries the initiator's isn,
    /// window and first data; the initiator's key is now known and the application decides
    /// (PROTOCOL.md §4.8).
    pub(super) fn on_xx_finish(
        &mut self,
        now: Instant,
        from: SocketAddr,
        repr: &XxFinishRepr<'_>,
        datagram: &[u8],
    ) -> Received {
        let Handshake::XxResponseSent { noise, .. } = &self.handshake else {
            return self.on_xx_finish_again(datagram);
        };
        let mut plain = vec![0u8; repr.noise.len()];
        let Ok((keys, payload)) = read_xx_finish(noise, repr, &mut plain) else {
            self.stats.auth_failures += 1;
            return Received::AuthFailed;
        };
        // PROTOCOL.md §4.6, §5.6: an ACK acknowledges nothing (we sent no DATA yet). Any other
        // finish is malformed and dropped before anything changes (§4.1): the handshake waits
        // for the valid one.
        if payload.check_ack(Seq(self.local_isn)).is_err() {
            return Received::Malformed;
        }
        // The finish proves the initiator received our response, which went only to the
        // initiation's address: that address is validated (PROTOCOL.md §10.4, §12.6), whichever
        // address the finish came from (handshake messages never move the path).
        self.path.on_received(from, datagram.len());
        self.path.validated = true;
        self.xx_finish = Some(finish_digest(datagram));
        self.peer_key = Some(keys.remote_static());
        self.peer_isn = payload.isn.0;
        self.recv =
            Some(RecvStream::new(payload.isn.0, self.config.recv_buffer, self.config.max_data_payload()));
        if let Some(ack) = payload.segments.ack {
            self.on_ack_segment(now, &ack, true);
        }
        if let Some(Tail::Data(data)) = payload.segments.tail {
            self.on_data_segment(now, &data);
        }
        self.handshake = Handshake::XxReceived { keys: Box::new(keys) };
        self.events.push_back(ConnEvent::Incoming);
        Received::Accepted
    }

    /// An XX finish once the handshake state is gone (PROTOCOL.md §4.8): a retransmission,
    /// because our first packet was lost, is byte-identical to the finish we processed and is
    /// answered with an ACK (one per datagram, to the peer's current address). Anything else —
    /// any 0x15 datagram on a connection that never had an XX handshake, or one that differs
    /// from the finish — is dropped (§3: not a datagram the connection's state accepts).
    fn on_xx_finish_again(&mut self, datagram: &[u8]) -> Received {
        let known = self.xx_finish.is_some_and(|digest| digest == finish_digest(datagram));
        if !known || self.phase != Phase::Established {
            return Received::Unexpected;
        }
        self.ack_now();
        Received::Accepted
    }

    /// The application accepts the incoming connection: it now holds the handle.
    /// Nothing happens if it closed the connection first, or it was not waiting for a decision.
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
                // The finish confirmed the initiator (its key and address) already.
                self.timers.stop(Timer::HandshakeGiveUp);
                // Its first transport packet (an ACK) confirms the handshake to the initiator.
                self.ack_now();
                self.trace_established(now, EarlyData::None);
                self.events.push_back(ConnEvent::Connected { early_data_accepted: false });
                self.events.push_back(ConnEvent::Confirmed);
            }
            other => {
                self.handshake = other;
                return;
            }
        }
        self.owned = true;
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
        let mut out = vec![0u8; self.config.max_datagram_size.max(IK_RESPONSE_MIN_LEN + 300)];
        let Ok((keys, n)) = write_ik_response(rng, noise, self.peer_id, payload, &mut out) else {
            self.handshake_failed(now);
            return;
        };
        out.truncate(n);
        self.establish(now, keys, Some(peer_isn));
        self.handshake = Handshake::Responded { message: out };
        self.queue_handshake_message();
        // The response carried the ACK.
        self.ack_sent();
        if payload.segments.tail.is_none() {
            self.trace_established(now, EarlyData::of(self.early_accepted));
            self.events.push_back(ConnEvent::Connected { early_data_accepted: self.early_accepted });
        }
    }

    /// The application refuses the peer. It learns so from an authenticated CLOSE with code
    /// REFUSED (in the IK response, or in a transport packet after XX). Nothing happens if the
    /// application closed the connection first.
    pub(crate) fn refuse<R: RngCore + CryptoRng>(&mut self, now: Instant, rng: &mut R) {
        if self.close.is_some() {
            return;
        }
        let refusal = CloseRepr { seq: Seq(self.local_isn), code: close_code::REFUSED, reason: b"refused" };
        match std::mem::replace(&mut self.handshake, Handshake::Done) {
            Handshake::IkReceived { noise, peer_isn } => {
                // A handshake message's ACK echoes no counters (PROTOCOL.md §8.8).
                let ack = AckRepr { cumulative: Seq(peer_isn).prev(), echo: None, ..self.ack_repr(now) };
                let payload = IkResponsePayload {
                    responder_id: self.local_id,
                    isn: Seq(self.local_isn),
                    segments: Segments { ack: Some(ack), tail: Some(Tail::Close(refusal)) },
                };
                self.respond_ik(now, rng, *noise, &payload, peer_isn);
                self.close = Some(Box::new(PendingClose {
                    code: close_code::REFUSED,
                    reason: Vec::new(),
                    unsent: false,
                }));
                self.enter_linger(now, CloseReason::Refused);
            }
            Handshake::XxReceived { keys } => {
                self.establish(now, *keys, None);
                self.close(now, close_code::REFUSED, b"refused");
            }
            other => self.handshake = other,
        }
    }
}
