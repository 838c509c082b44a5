//! The initiator's side of the handshake (PROTOCOL.md §4.2–4.7): its first message (IK with
//! 0-RTT data when the peer's key is known, XX otherwise), cookie replies, the responses, and
//! the XX finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand_core::{CryptoRng, RngCore};

use super::handshake::{Handshake, HandshakeCtx, early_room, session_from};
use super::timer::Timer;
use super::{ConnEvent, Connection, Ids, Phase, Received};
use crate::arq::recv::RecvStream;
use crate::arq::truncate;
use crate::config::{ConnectOptions, ConnectionConfig, PACKET_OVERHEAD};
use crate::congestion::SentPacket;
use crate::handshake::{
    read_ik_response, read_xx_response, set_cookie_mac, write_ik_initiation, write_xx_finish,
    write_xx_initiation,
};
use crate::identity::PublicKey;
use crate::trace::EarlyData;
use crate::wire::{
    COOKIE_LEN, ConnectionId, CookieReplyRepr, DataRepr, IK_INITIATION_MIN_LEN, IkInitPayload,
    IkResponseRepr, Segments, Seq, Tail, XX_FINISH_MIN_LEN, XxFinishPayload, XxResponseRepr,
};

impl Connection {
    /// A connection this side opens to `remote`: Noise IK when `peer` is known, XX otherwise.
    /// Its first message is built at the first transmit (after any write), or, when `deferred`,
    /// not before the application reads, writes or starts it.
    pub(crate) fn initiator(
        now: Instant,
        config: Arc<ConnectionConfig>,
        local_id: ConnectionId,
        isn: u32,
        remote: SocketAddr,
        peer: Option<PublicKey>,
        options: &ConnectOptions,
    ) -> Self {
        let ids = Ids { local: local_id, peer: ConnectionId::NONE, isn };
        let handshake = Handshake::Start { peer, deferred: options.deferred };
        let mut conn = Connection::new(now, config, ids, remote, true, handshake);
        conn.app_protocol = options.app_protocol.map(Box::new);
        conn
    }

    /// Whether the first handshake message is due: an initiator that has not sent it and is not
    /// deferred.
    pub(crate) fn wants_handshake_start(&self) -> bool {
        matches!(self.handshake, Handshake::Start { deferred: false, .. }) && self.close.is_none()
    }

    /// Initiator: builds message 1 (IK with early data when the peer's key is known, else XX).
    pub(crate) fn start_handshake<R: RngCore + CryptoRng>(&mut self, now: Instant, ctx: HandshakeCtx<'_, R>) {
        let Handshake::Start { peer, deferred: false } = self.handshake else { return };
        let mut out = vec![0u8; self.config.max_datagram_size.max(IK_INITIATION_MIN_LEN + 32)];
        let isn = truncate(self.send.next_seq());
        let built = match peer {
            Some(remote) => {
                let room = early_room(self.config.max_datagram_size, IK_INITIATION_MIN_LEN);
                let room = room.saturating_sub(self.first_segment_ext_len()).max(1);
                let mut early = vec![0u8; room];
                let data = self.take_first_segment(now, &mut early, room);
                let app_protocol = self.app_protocol();
                let tail = data.map(|(seq, len, fin)| {
                    Tail::Data(DataRepr {
                        seq: truncate(seq),
                        fin,
                        rtx: false,
                        ping: false,
                        app_protocol,
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
                        Handshake::IkSent {
                            noise: Box::new(noise),
                            message: out,
                            sent_at: now,
                            retries: 0,
                            cookie_taken: false,
                        }
                    })
            }
            None => {
                write_xx_initiation(ctx.rng, ctx.identity, self.local_id, None, &mut out).map(|(noise, n)| {
                    out.truncate(n);
                    Handshake::XxSent {
                        noise: Box::new(noise),
                        message: out,
                        sent_at: now,
                        retries: 0,
                        cookie_taken: false,
                    }
                })
            }
        };
        match built {
            Ok(next) => {
                self.handshake = next;
                self.queue_handshake_message();
                self.timers.set(Timer::Handshake, now + self.config.handshake_rto);
                self.timers.set(Timer::HandshakeGiveUp, now + self.config.handshake_timeout);
            }
            Err(_) => self.handshake_failed(now),
        }
    }

    /// Takes the first DATA segment (seq = isn) for a handshake message, if data is waiting.
    fn take_first_segment(
        &mut self,
        now: Instant,
        out: &mut [u8],
        room: usize,
    ) -> Option<(u64, usize, bool)> {
        let prior_in_flight = self.send.bytes_in_flight();
        let seg = self.send.next_segment(now, room, self.right_edge)?;
        self.send.payload(seg.offset, seg.len, &mut out[..seg.len]);
        self.cc.on_sent(&SentPacket {
            now,
            bytes: seg.len as u64 + PACKET_OVERHEAD as u64,
            prior_in_flight,
            app_limited: self.send.is_app_limited(),
        });
        Some((seg.seq, seg.len, seg.fin))
    }

    /// A cookie reply for our initiation (PROTOCOL.md §10.3): store the cookie, MAC the same
    /// initiation with it and resend it once.
    pub(super) fn on_cookie_reply(&mut self, from: SocketAddr, reply: &CookieReplyRepr) -> Received {
        let (ephemeral, message, cookie_taken) = match &mut self.handshake {
            Handshake::IkSent { noise, message, cookie_taken, .. } => {
                (*noise.ephemeral_public(), message, cookie_taken)
            }
            Handshake::XxSent { noise, message, cookie_taken, .. } => {
                (*noise.ephemeral_public(), message, cookie_taken)
            }
            // PROTOCOL.md §4.7: only a handshake whose initiation was sent and whose response
            // has not arrived takes a cookie reply.
            _ => return Received::Unexpected,
        };
        if ephemeral[..16] != reply.echo {
            // PROTOCOL.md §4.7: a reply that does not echo our ephemeral key is not for us.
            return Received::AuthFailed;
        }
        if from != self.path.remote || *cookie_taken {
            // PROTOCOL.md §4.7: not from where the initiation went; §10.3: at most one cookie
            // reply per initiation sent (each would make us send a whole initiation again).
            return Received::Unexpected;
        }
        *cookie_taken = true;
        let cookie: [u8; COOKIE_LEN] = reply.cookie;
        if set_cookie_mac(message, Some(&cookie)).is_ok() {
            self.queue_handshake_message();
        }
        Received::Accepted
    }

    /// After an IK or XX response authenticated: the responder's id (from the encrypted
    /// payload, PROTOCOL.md §5.6), the bytes heard, and the first RTT sample.
    fn on_response_read(
        &mut self,
        now: Instant,
        from: SocketAddr,
        responder_id: ConnectionId,
        len: usize,
        sent_at: Instant,
        retries: u32,
    ) {
        self.peer_id = responder_id;
        self.end_dial(now, from);
        self.path.on_received(from, len);
        if retries == 0 {
            // Karn (RFC 6298 §3): only an unretransmitted exchange gives an RTT sample.
            self.rtt.update(now.saturating_duration_since(sent_at), Duration::ZERO);
        }
    }

    /// The IK response.
    pub(super) fn on_ik_response(
        &mut self,
        now: Instant,
        from: SocketAddr,
        repr: &IkResponseRepr<'_>,
        len: usize,
    ) -> Received {
        let Handshake::IkSent { noise, sent_at, retries, .. } = &self.handshake else {
            return Received::Unexpected;
        };
        let (sent_at, retries) = (*sent_at, *retries);
        let mut plain = vec![0u8; repr.noise.len()];
        let Ok((keys, payload)) = read_ik_response(noise, repr, &mut plain) else {
            self.stats.auth_failures += 1;
            return Received::AuthFailed;
        };
        // PROTOCOL.md §4.3, §5.6: the ACK acknowledges our early data or nothing; any other
        // response is malformed and dropped before anything changes (§4.1): the handshake
        // goes on, the initiation is retransmitted.
        let early_data_sent = self.send.next_seq() != self.send.una();
        if payload.check_ack(Seq(self.local_isn), early_data_sent).is_err() {
            return Received::Malformed;
        }
        self.on_response_read(now, from, payload.responder_id, len, sent_at, retries);
        let early_seq = self.send.una();
        self.establish(now, keys, Some(payload.isn.0));
        self.handshake = Handshake::Done;
        self.timers.stop(Timer::Handshake);
        if self.close.is_some() {
            // Closed during the handshake: the keys only carry our CLOSE (see `establish`).
            return Received::Accepted;
        }
        if let Some(Tail::Close(close)) = payload.segments.tail {
            self.on_close_segment(now, &close);
            return Received::Accepted;
        }
        if let Some(ack) = payload.segments.ack {
            self.on_ack_segment(now, &ack, retries == 0);
        }
        let early_data_accepted = self.send.una() > early_seq;
        if !early_data_accepted && self.send.has_in_flight() {
            // PROTOCOL.md §9.3: refused early data is sent again at once as 1-RTT data.
            self.send.resend_all();
        }
        if let Some(Tail::Data(data)) = payload.segments.tail {
            self.on_data_segment(now, &data);
        }
        // PROTOCOL.md §4.8: confirm promptly with a transport packet carrying an ACK.
        self.ack_now();
        self.trace_established(now, EarlyData::of(early_data_accepted));
        self.events.push_back(ConnEvent::Connected { early_data_accepted });
        Received::Accepted
    }

    /// The XX response; answers at once with message 3 carrying the first data.
    pub(super) fn on_xx_response(
        &mut self,
        now: Instant,
        from: SocketAddr,
        repr: &XxResponseRepr<'_>,
        len: usize,
    ) -> Received {
        let Handshake::XxSent { noise, sent_at, retries, .. } = &self.handshake else {
            return Received::Unexpected;
        };
        if self.close.is_some() {
            // Closed during the handshake: finish nothing. The responder holds only half-open
            // state, which it expires (PROTOCOL.md §10.5).
            return Received::Unexpected;
        }
        let (sent_at, retries) = (*sent_at, *retries);
        let Ok((received, payload)) = read_xx_response(noise, repr) else {
            self.stats.auth_failures += 1;
            return Received::AuthFailed;
        };
        self.on_response_read(now, from, payload.responder_id, len, sent_at, retries);
        self.recv =
            Some(RecvStream::new(payload.isn.0, self.config.recv_buffer, self.config.max_data_payload()));
        let room = early_room(self.config.max_datagram_size, XX_FINISH_MIN_LEN + 40);
        let room = room.saturating_sub(self.first_segment_ext_len()).max(1);
        let mut first = vec![0u8; room];
        let data = self.take_first_segment(now, &mut first, room);
        // The finish carries the first DATA segment, if any: the id rides it (PROTOCOL.md §7.7).
        let app_protocol = self.app_protocol();
        let tail = data.map(|(seq, len, fin)| {
            let payload = &first[..len];
            Tail::Data(DataRepr { seq: truncate(seq), fin, rtx: false, ping: false, app_protocol, payload })
        });
        let ack = self.ack_repr(now);
        let isn = Seq(self.local_isn);
        let finish = XxFinishPayload { isn, segments: Segments { ack: Some(ack), tail } };
        let mut out = vec![0u8; self.config.max_datagram_size.max(XX_FINISH_MIN_LEN + 64)];
        let Ok((keys, n)) = write_xx_finish(received, self.peer_id, &finish, &mut out) else {
            self.handshake_failed(now);
            return Received::Accepted;
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
        Received::Accepted
    }
}
