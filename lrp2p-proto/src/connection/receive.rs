//! Datagrams in, once the endpoint has routed them here by connection id: the handshake
//! messages of an initiator (responses, cookie replies) and a responder (the XX finish), and
//! authenticated transport packets: ACK segments feed loss recovery and congestion control,
//! DATA segments the receive stream, CLOSE segments end the connection; a packet from a new
//! address makes it a candidate path, and path extensions go to `migration.rs` (roaming,
//! PROTOCOL.md §13).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::ack::DataArrival;
use super::handshake::Handshake;
use super::timer::Timer;
use super::{CloseReason, ConnEvent, Connection, Phase};
use crate::arq::expand;
use crate::arq::recv::{DataOutcome, RecvError};
use crate::arq::send::AckError;
use crate::congestion::{Ack, LostPacket};
use crate::crypto::OpenError;
use crate::trace::{PacketKind, TraceEvent};
use crate::wire::{
    AckRepr, CloseRepr, CookieReplyRepr, DataRepr, IkResponseRepr, MAX_DSACK_RANGES, MAX_SACK_RANGES,
    PacketType, PathFrames, Segments, Tail, XxFinishRepr, XxResponseRepr, close_code,
};

/// What became of a datagram routed to this connection: every one ends in exactly one of these
/// (the endpoint counts them, `EndpointStats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Received {
    /// Parsed (and, for transport packets, authenticated) and processed.
    Accepted,
    /// Dropped: not a well-formed datagram of its type.
    Malformed,
    /// Dropped: it failed authentication (AEAD tag, Noise).
    AuthFailed,
    /// Dropped: a transport packet whose counter was already received (PROTOCOL.md §9.1).
    Replayed,
    /// Dropped: not expected in the connection's state (a response nobody waits for, a packet
    /// before the keys or after the end).
    Unexpected,
    /// Authenticated, and its plaintext (`len` bytes after the transport header) is a RELAY
    /// one (PROTOCOL.md §13.8): the endpoint passes the datagram it carries on, or refuses it
    /// on a connection that is no rendezvous link ([`Connection::refuse_relay`]).
    Relay {
        /// The plaintext's length.
        len: usize,
    },
}

impl Connection {
    /// One datagram of `packet_type` from `from`, parsed here once (the endpoint read only its
    /// type and receiver id to route it). Initiations never come here.
    pub(crate) fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        packet_type: PacketType,
        datagram: &mut [u8],
    ) -> Received {
        let len = datagram.len();
        let kind = match packet_type {
            PacketType::Transport { .. } => return self.handle_transport(now, from, datagram),
            PacketType::CookieReply => PacketKind::CookieReply,
            _ => PacketKind::Handshake,
        };
        let received = self.handle_handshake(now, from, packet_type, datagram);
        if received == Received::Accepted && self.tracing() {
            self.trace(now, || TraceEvent::PacketReceived {
                kind,
                counter: None,
                size: len,
                seq: None,
                ack: None,
            });
            if kind == PacketKind::CookieReply {
                self.trace(now, || TraceEvent::CookieReceived);
            }
        }
        received
    }

    /// A handshake message or cookie reply (`handle_datagram`).
    fn handle_handshake(
        &mut self,
        now: Instant,
        from: SocketAddr,
        packet_type: PacketType,
        datagram: &mut [u8],
    ) -> Received {
        let len = datagram.len();
        match packet_type {
            PacketType::Transport { .. } => self.handle_transport(now, from, datagram),
            PacketType::IkResponse => match IkResponseRepr::parse(datagram) {
                Ok(repr) => self.on_ik_response(now, from, &repr, len),
                Err(_) => Received::Malformed,
            },
            PacketType::XxResponse => match XxResponseRepr::parse(datagram) {
                Ok(repr) => self.on_xx_response(now, from, &repr, len),
                Err(_) => Received::Malformed,
            },
            PacketType::XxFinish => match XxFinishRepr::parse(datagram) {
                Ok(repr) => self.on_xx_finish(now, from, &repr, datagram),
                Err(_) => Received::Malformed,
            },
            PacketType::CookieReply => match CookieReplyRepr::parse(datagram) {
                Ok(repr) => self.on_cookie_reply(from, &repr),
                Err(_) => Received::Malformed,
            },
            PacketType::IkInitiation | PacketType::XxInitiation => Received::Unexpected,
        }
    }

    /// Opens and processes one transport datagram from `from`.
    fn handle_transport(&mut self, now: Instant, from: SocketAddr, datagram: &mut [u8]) -> Received {
        let len = datagram.len();
        // PROTOCOL.md §6.5: a previous receive key past its time is gone before this packet.
        self.expire_previous_key(now);
        let Some(session) = self.session.as_mut() else { return Received::Unexpected };
        if self.phase == Phase::Drained || self.peer_closed {
            return Received::Unexpected;
        }
        let highest_before = session.replay_window().highest();
        let rotations_before = session.stats().recv_key_rotations;
        let plaintext = match session.open(datagram) {
            Ok(plaintext) => plaintext,
            Err(OpenError::Replay(_)) => {
                self.stats.duplicates += 1;
                return Received::Replayed;
            }
            Err(_) => return Received::AuthFailed,
        };
        let counter = session.replay_window().highest();
        if session.stats().recv_key_rotations != rotations_before {
            self.on_recv_key_rotation(now);
        }
        self.stats.datagrams_received += 1;
        self.stats.bytes_received += len as u64;
        // Karn (RFC 6298 §3): what rode in a retransmitted XX finish gives no RTT sample.
        let sample = !matches!(self.handshake, Handshake::XxFinishSent { retries, .. } if retries > 0);
        // PROTOCOL.md §4.8, §13.4: the first authenticated packet confirms the handshake and so
        // validates the handshake's address (the peer received our handshake message there),
        // before this packet can make another address a candidate: that one stays unproven.
        self.confirm(now);
        // PROTOCOL.md §13.4: a packet from a new address (with a new highest counter, so that
        // a replayed or delayed one starts nothing) makes it a candidate, validated before the
        // connection moves there; bytes count toward the budget of the address they came from.
        self.on_packet_from(now, from, len, counter > highest_before);
        self.touch(now);
        let gap = now.saturating_duration_since(self.last_received);
        self.last_received = now;
        if self.phase == Phase::Lingering {
            self.on_linger_packet(now, gap);
        }
        if crate::wire::RelayRepr::is_relay(plaintext) {
            // PROTOCOL.md §13.8: it carries a datagram for the endpoint, no segments.
            return Received::Relay { len: plaintext.len() };
        }
        // PROTOCOL.md §7.9, §13.2: a malformed path extension discards the packet too.
        let (segments, frames) = match (Segments::parse(plaintext), PathFrames::parse(plaintext)) {
            (Ok(segments), Ok(frames)) => (segments, frames),
            _ => {
                self.protocol_violation(now);
                return Received::Accepted;
            }
        };
        self.trace(now, || TraceEvent::PacketReceived {
            kind: PacketKind::Transport,
            counter: Some(counter),
            size: len,
            seq: match &segments.tail {
                Some(Tail::Data(data)) => Some(data.seq.0),
                _ => None,
            },
            ack: segments.ack.as_ref().map(|ack| ack.cumulative.0),
        });
        if self.on_segments(now, &segments, sample) {
            if self.paths.is_some() {
                let more = matches!(&segments.tail, Some(Tail::Data(data)) if !data.fin);
                self.on_path_traffic(now, from, frames.is_empty(), more);
            }
            self.on_path_frames(now, from, len, frames);
        }
        Received::Accepted
    }

    /// Acts on the segments of one authenticated packet (PROTOCOL.md §7, §8).
    /// Returns false when the packet was discarded (PROTOCOL.md §7.9).
    fn on_segments(&mut self, now: Instant, segments: &Segments<'_>, sample: bool) -> bool {
        if let Some(ack) = &segments.ack {
            // PROTOCOL.md §8.8: an ACK in a transport packet echoes the counters received.
            if ack.echo.is_none() && self.config.require_ack_echo {
                self.stats.echo_violations += 1;
                self.protocol_violation(now);
                return false;
            }
            if !self.on_ack_segment(now, ack, sample) {
                return false;
            }
        }
        match &segments.tail {
            Some(Tail::Data(data)) => self.on_data_segment(now, data),
            Some(Tail::Close(close)) => self.on_close_segment(now, close),
            None => {}
        }
        true
    }

    /// An ACK segment: cumulative ack, SACK ranges, the peer's window, PING. Returns false if the
    /// ACK was invalid (acknowledges something never sent) and the connection is closing.
    /// `sample`: whether it may give an RTT sample (not when what it acknowledges rode in a
    /// handshake message that was retransmitted: Karn, RFC 6298 §3).
    pub(super) fn on_ack_segment(&mut self, now: Instant, ack: &AckRepr, sample: bool) -> bool {
        if ack.ping {
            self.ack_now();
        }
        if matches!(self.phase, Phase::Lingering | Phase::Drained) && self.close.is_some() {
            return true;
        }
        let una = self.send.una();
        let cumulative = expand(una.saturating_sub(1), ack.cumulative);
        let mut sack = [(0u64, 0u64); MAX_SACK_RANGES];
        let n = ack.sack.len();
        for (slot, &(start, end)) in sack.iter_mut().zip(ack.sack.as_slice()) {
            *slot = (expand(cumulative, start), expand(cumulative, end));
        }
        let mut dsack = [(0u64, 0u64); MAX_DSACK_RANGES];
        let d = ack.dsack.len();
        for (slot, &(start, end)) in dsack.iter_mut().zip(ack.dsack.as_slice()) {
            *slot = (expand(cumulative, start), expand(cumulative, end));
        }
        // PROTOCOL.md §8.8: the echo claims no counter that was skipped or never sent.
        if let (Some(echo), Some(session)) = (&ack.echo, &self.session) {
            if self.skips.verify(echo, session.next_send_counter()).is_err() {
                self.stats.echo_violations += 1;
                self.protocol_violation(now);
                return false;
            }
        }
        let outcome = match self.send.on_ack(now, cumulative, &sack[..n], &dsack[..d], ack.echo.as_ref()) {
            Ok(outcome) => outcome,
            Err(e) => {
                // PROTOCOL.md §7.9: acknowledging a sequence number never sent, or (§8.8) one
                // whose packet the ACK's own echo says never arrived.
                if matches!(e, AckError::Unreceived { .. }) {
                    self.stats.echo_violations += 1;
                }
                self.protocol_violation(now);
                return false;
            }
        };
        // PROTOCOL.md §8.4: the peer may send beyond its cumulative ack by `window` packets;
        // an older ACK (lower cumulative) never moves the right edge backwards.
        let edge = cumulative.saturating_add(u64::from(ack.window));
        if cumulative + 1 >= una {
            self.right_edge = self.right_edge.max(edge);
            if ack.window == 0 && !self.timers.is_set(Timer::WindowProbe) {
                self.timers.set(Timer::WindowProbe, now + self.rtt.rto());
            } else if ack.window > 0 {
                self.timers.stop(Timer::WindowProbe);
            }
        }
        if let Some(sample) = outcome.rtt_sample.filter(|_| sample) {
            let delay = Duration::from_micros(u64::from(ack.ack_delay_us.unwrap_or(0)));
            self.rtt.update(sample, delay);
            self.trace_rtt(now, delay);
        }
        if outcome.new_cumulative {
            self.rtt.reset_backoff();
        }
        if outcome.acked_bytes > 0 && self.paths.is_some() {
            self.on_delivery(now);
        }
        self.stats.dsack_received +=
            ack.dsack.as_slice().iter().map(|&(s, e)| u64::from(e.distance_from(s)) + 1).sum::<u64>();
        let app_limited = !self.send.has_unsent_data() && self.send.bytes_in_flight() < self.cc.window() / 2;
        if let Some(repaired) = outcome.probe_repaired {
            // RFC 8985 §7.4.2: the tail loss probe repaired a loss: a congestion event.
            self.cc.on_lost(&LostPacket {
                now,
                sent: repaired.sent,
                bytes: repaired.bytes,
                tx_in_flight: self.send.bytes_in_flight().saturating_add(repaired.bytes),
                lost_since_sent: repaired.bytes,
                is_app_limited: false,
            });
        }
        // Loss detection re-arms the retransmission timer from the oldest segment still in
        // flight, which this ACK may have changed. The controller hears of the losses first,
        // then of the ACK with its rate sample (congestion::Controller's contract).
        let lost_bytes = self.detect_losses(now);
        let rate = self.send.take_rate_sample(now, self.rtt.min_rtt());
        if outcome.spurious_congestion {
            // RFC 3708 / RFC 9438 §4.9: every retransmission of the last recovery was
            // unnecessary: the reduction it caused is undone.
            self.cc.on_spurious_congestion(now);
            self.stats.congestion_undos = self.stats.congestion_undos.saturating_add(1);
        }
        if outcome.acked_bytes > 0 || lost_bytes > 0 {
            self.cc.on_ack(&Ack {
                now,
                acked_bytes: outcome.acked_bytes,
                lost_bytes,
                largest_acked_sent: outcome.largest_acked_sent,
                bytes_in_flight: self.send.bytes_in_flight(),
                delivered: self.send.delivered_bytes(),
                app_limited,
                rate,
                rtt: &self.rtt,
            });
            self.trace_metrics(now);
        }
        // The send buffer follows the congestion window (ConnectionConfig::send_buffer).
        self.send.set_capacity(self.config.send_buffer_for(self.cc.window()));
        if self.write_blocked && self.send.free_space() > 0 {
            self.write_blocked = false;
            self.events.push_back(ConnEvent::Writable);
        }
        self.check_acknowledged();
        self.check_finished(now);
        true
    }

    /// A DATA segment: deliver, buffer or drop it, and schedule the ACK (PROTOCOL.md §8.5).
    pub(super) fn on_data_segment(&mut self, now: Instant, data: &DataRepr<'_>) {
        if self.recv.is_none() {
            return;
        }
        if data.ping {
            self.ack_now();
        }
        self.sync_receive_budget();
        let Some(recv) = self.recv.as_mut() else { return };
        // PROTOCOL.md §7.7: a responder takes the id from the first copy of the initiator's
        // first segment it receives; anywhere else, and on later copies, it is ignored.
        if !self.initiator && self.app_protocol.is_none() && recv.is_first(self.peer_isn, data.seq) {
            self.app_protocol = data.app_protocol.map(Box::new);
        }
        let before = recv.readable();
        let arrival = match recv.on_data(data.seq, data.payload, data.fin) {
            // An in-order segment that filled a gap or carries FIN is acknowledged at once.
            Ok(DataOutcome::Delivered) => {
                DataArrival::InOrder { at_once: data.fin || recv.has_out_of_order() }
            }
            Ok(DataOutcome::Buffered) => DataArrival::OutOfOrder,
            Ok(DataOutcome::Duplicate) => {
                self.stats.duplicates += 1;
                self.record_duplicate(data.seq);
                DataArrival::Duplicate
            }
            Err(RecvError::BeyondWindow) => {
                self.stats.beyond_window += 1;
                DataArrival::Refused
            }
            Err(RecvError::OverBudget) => {
                // PROTOCOL.md §10.6: no room in the receive budget: dropped as if lost, without
                // an answer; the sender retransmits it.
                self.stats.receive_budget_drops += 1;
                return;
            }
            Err(_) => {
                self.protocol_violation(now);
                return;
            }
        };
        self.schedule_ack(now, arrival);
        self.discard_readable();
        let Some(recv) = self.recv.as_ref() else { return };
        let accepted = !matches!(self.phase, Phase::Handshaking);
        if accepted && before == 0 && recv.readable() > 0 {
            self.events.push_back(ConnEvent::Readable);
        }
        if accepted && recv.fin_received() && recv.readable() == 0 && !self.finished_reported {
            self.finished_reported = true;
            self.events.push_back(ConnEvent::Finished);
        }
        self.check_finished(now);
    }

    /// A CLOSE segment: the peer is gone; drain without answering (PROTOCOL.md §7.6). Data
    /// it sent (and we acknowledged) before its CLOSE stays readable until read.
    pub(super) fn on_close_segment(&mut self, now: Instant, close: &CloseRepr<'_>) {
        let reason = match close.code {
            close_code::REFUSED => CloseReason::Refused,
            code => CloseReason::Remote { code, reason: String::from_utf8_lossy(close.reason).into_owned() },
        };
        self.peer_closed = true;
        self.drain(now, Some(reason));
    }
}
