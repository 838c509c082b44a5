//! Datagrams out, in batches for one path (one destination), as segmentation offload wants
//! them: equal-sized datagrams back to back, the last one possibly shorter. Each is a queued
//! handshake message, a CLOSE, or a transport packet carrying an ACK segment and/or one DATA
//! segment, within the peer's window, the congestion window, the pacer and (before the path is
//! validated) the 3× amplification budget.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::timer::Timer;
use super::{Connection, Phase};
use crate::arq::truncate;
use crate::config::PACKET_OVERHEAD;
use crate::congestion::SentPacket;
use crate::trace::PacketKind;
use crate::wire::{CloseRepr, DataRepr, SEGMENT_HEADER_LEN, Segments, TAG_LEN, TRANSPORT_HEADER_LEN, Tail};

/// Datagrams written back to back by [`Connection::poll_transmit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Batch {
    /// Where every datagram of the batch goes.
    pub(crate) destination: SocketAddr,
    /// Bytes written in all.
    pub(crate) len: usize,
    /// The size of each datagram but the last, which may be shorter.
    pub(crate) segment_size: usize,
}

impl Connection {
    /// Writes up to `max_datagrams` datagrams for the current path into `buf`, back to back: the
    /// first as large as it needs (up to the configured datagram size), the others no larger
    /// than it; a shorter one ends the batch. A handshake message or a CLOSE only ever starts a
    /// batch. With `segment_size`, the batch continues one the endpoint started with another
    /// connection to the same destination: every datagram is at most that size.
    pub(crate) fn poll_transmit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        max_datagrams: usize,
        segment_size: Option<usize>,
    ) -> Option<Batch> {
        if segment_size.is_none() && self.paths.is_some() {
            // PROTOCOL.md §13.2, §13.3: a challenge packet or a response for another address
            // goes alone, in a batch of its own; so does a copy of the initiation for another
            // address of the peer (§13.6).
            if let Some((destination, len)) = self.poll_dial_datagram(buf) {
                return Some(Batch { destination, len, segment_size: len });
            }
            if let Some((destination, len)) = self.poll_path_datagram(now, buf) {
                return Some(Batch { destination, len, segment_size: len });
            }
            // PROTOCOL.md §13.8: probes of the direct addresses while relayed.
            if let Some((destination, len)) = self.poll_probe_datagram(now, buf) {
                return Some(Batch { destination, len, segment_size: len });
            }
        }
        let (mut len, mut count) = (0, 0);
        let mut segment_size = segment_size.unwrap_or(0);
        while count < max_datagrams.max(1) {
            let slot = if count == 0 && segment_size == 0 {
                &mut buf[..]
            } else if count == 0 {
                buf.get_mut(..segment_size)?
            } else {
                if self.outgoing.is_some() || self.close.as_ref().is_some_and(|c| c.unsent) {
                    break;
                }
                let Some(slot) = buf.get_mut(len..len + segment_size) else { break };
                slot
            };
            let Some(n) = self.poll_datagram(now, slot) else { break };
            if segment_size == 0 {
                segment_size = n;
            }
            len += n;
            count += 1;
            if n < segment_size {
                break;
            }
        }
        (count > 0).then_some(Batch { destination: self.path.remote, len, segment_size })
    }

    /// Writes the next datagram this connection wants to send into `buf`; returns its length.
    fn poll_datagram(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if self.phase == Phase::Drained || self.peer_closed {
            return None;
        }
        if self.outgoing.as_ref().is_some_and(|m| m.len() <= buf.len()) {
            let message = self.outgoing.take()?;
            return self.send_raw(now, &message, buf);
        }
        self.session.as_ref()?;
        if self.close.as_ref().is_some_and(|c| c.unsent) {
            return self.send_close(now, buf);
        }
        match self.phase {
            Phase::Established => self.build_packet(now, buf, true),
            // Lingering: only acknowledge what the peer retransmits (its FIN, most likely).
            Phase::Lingering if self.close.is_none() => self.build_packet(now, buf, false),
            _ => None,
        }
    }

    /// Sends a stored handshake message, if the amplification budget allows it.
    fn send_raw(&mut self, now: Instant, message: &[u8], buf: &mut [u8]) -> Option<usize> {
        let out = buf.get_mut(..message.len())?;
        if message.len() as u64 > self.path.budget() {
            // PROTOCOL.md §10.4: never more than 3× what an unvalidated address sent us.
            self.stats.amplification_limited += 1;
            return None;
        }
        out.copy_from_slice(message);
        self.path.sent += message.len() as u64;
        self.count_sent(now, message.len());
        self.trace_sent(now, PacketKind::Handshake, message.len(), None, false);
        Some(message.len())
    }

    /// Sends our CLOSE segment, with an ACK once the peer's FIN has arrived.
    fn send_close(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        // PROTOCOL.md §7.1: an ACK segment may precede the CLOSE. Once we hold the peer's
        // FIN, it tells a peer whose last ACKs were lost that its whole stream arrived: after
        // both streams finished (§8.7), our CLOSE NO_ERROR then ends its side as finished
        // too, instead of as closed by us with its FIN unacknowledged.
        let ack = self.recv.as_ref().is_some_and(|r| r.fin_received()).then(|| self.ack_repr(now));
        let close = self.close.as_mut()?;
        close.unsent = false;
        let (code, reason) = (close.code, close.reason.clone());
        let repr = CloseRepr { seq: truncate(self.send.next_seq()), code, reason: &reason };
        let with_ack = ack.is_some();
        let segments = Segments { ack, tail: Some(Tail::Close(repr)) };
        let len = self.seal(now, &segments, buf)?;
        self.trace_sent(now, PacketKind::Transport, len, None, with_ack);
        Some(len)
    }

    /// Builds a transport packet: ACK if one is due, DATA if allowed (and `data` is true).
    fn build_packet(&mut self, now: Instant, buf: &mut [u8], data: bool) -> Option<usize> {
        // Before the address is validated, within the amplification budget (PROTOCOL.md §10.4).
        let budget = usize::try_from(self.path.budget()).unwrap_or(usize::MAX);
        let datagram = buf.len().min(self.config.max_datagram_size).min(budget);
        let overhead = TRANSPORT_HEADER_LEN + TAG_LEN;
        let want_ack = self.ack_due();
        // An ACK that is not due yet rides along with DATA (PROTOCOL.md §8.5 piggybacking) but
        // does not make a packet of its own before the delayed-ACK rules ask for one.
        let candidate = (want_ack || self.ack_may_piggyback()).then(|| self.ack_repr(now));
        // PROTOCOL.md §13.2: a PATH_RESPONSE owed on this path rides in the ACK.
        let frames = self.current_path_frames();
        let ack_len = candidate.as_ref().map_or(0, |ack| ack.buffer_len() + frames.wire_len());
        // Until the first segment is acknowledged, room for its APP_PROTOCOL (PROTOCOL.md §7.7).
        let alone = datagram.saturating_sub(overhead + SEGMENT_HEADER_LEN + self.first_segment_ext_len());
        let room = alone.saturating_sub(ack_len);
        let prior_in_flight = self.send.bytes_in_flight();
        let segment = if data && room > 0 && self.may_send_data(now, room) {
            // A retransmission that exceeds the budget even alone waits; new data sized to fit
            // goes first (after a move, it is what validates the new address).
            self.send.next_segment_within(now, room, alone, self.right_edge)
        } else {
            None
        };
        // An ACK not yet due rides only with DATA. A retransmission keeps the size it was first
        // sent with, when the ACK beside it may have been smaller (or absent): if both no longer
        // fit the datagram, the segment goes alone (it fitted alone then) and the ACK, still
        // due, goes in the next packet.
        let ack = candidate
            .filter(|_| want_ack || segment.is_some())
            .filter(|_| segment.as_ref().is_none_or(|seg| seg.len <= room));
        if segment.is_none() && ack.is_none() {
            return None;
        }
        // The payload goes straight from the send buffer into the datagram, after the ACK and
        // the DATA header (what `Segments::emit` would write, without a copy in between).
        let plain = buf.get_mut(TRANSPORT_HEADER_LEN..buf.len().checked_sub(TAG_LEN)?)?;
        let mut n = match &ack {
            Some(ack) => {
                let n = ack.emit(plain).ok()?;
                frames.append(plain, n).ok()?
            }
            None => 0,
        };
        if let Some(seg) = &segment {
            let repr = DataRepr {
                seq: truncate(seg.seq),
                fin: seg.fin,
                rtx: seg.rtx,
                ping: false,
                app_protocol: self.app_protocol_for(seg.offset),
                payload: &[],
            };
            let rest = plain.get_mut(n..)?;
            let len = repr.emit_header(seg.len, rest).ok()?;
            self.send.payload(seg.offset, seg.len, &mut rest[repr.header_len()..len]);
            n += len;
        }
        let len = self.seal_emitted(now, buf, n)?;
        if ack.is_some() {
            self.ack_sent();
            if !frames.is_empty() {
                self.current_path_frames_sent();
            }
        }
        let traced = segment.as_ref().map(|seg| (seg.seq, seg.rtx));
        if let Some(seg) = segment {
            if let Some(session) = &self.session {
                self.send.record_counter(seg.seq, session.next_send_counter().saturating_sub(1));
            }
            let bytes = (seg.len + PACKET_OVERHEAD) as u64;
            let app_limited = self.send.is_app_limited();
            self.cc.on_sent(&SentPacket { now, bytes, prior_in_flight, app_limited });
            self.pacer.on_sent(bytes);
            self.stats.segments_sent += 1;
            if std::mem::take(&mut self.probe_pending) {
                self.send.probe_sent(seg.seq, seg.rtx);
            }
            if self.timers.is_set(Timer::Retransmit) {
                self.arm_probe(now);
            } else {
                self.arm_retransmit(now);
            }
        }
        self.trace_sent(now, PacketKind::Transport, len, traced, ack.is_some());
        Some(len)
    }

    /// Whether the congestion window, the pacer and the peer's window let a DATA segment go.
    fn may_send_data(&mut self, now: Instant, room: usize) -> bool {
        let wants =
            self.send.has_lost() || self.send.has_unsent_data() && self.send.next_seq() <= self.right_edge;
        let window = self.cc.window();
        if wants && self.probe_pending {
            // RFC 8985 §7.3: the probe goes regardless of the congestion window and the pacer.
            return true;
        }
        if !wants {
            // Nothing to send although the window has room: the application (or the peer's
            // window) is the limit (draft-cheng-iccrg-delivery-rate-estimation-02 §3.4).
            if self.send.bytes_in_flight() < window {
                self.send.mark_app_limited();
            }
            return false;
        }
        let bytes = (room.min(self.config.mss()) + PACKET_OVERHEAD) as u64;
        if self.send.bytes_in_flight() + bytes > window.max(bytes) {
            return false;
        }
        if self.config.pacing {
            // The smoothed RTT lags when a queue drains (it moves 1/8 per sample): pacing from it
            // alone would hold the sender below the path's rate for several round trips.
            let srtt = self.rtt.smoothed_or_initial().min(self.rtt.latest().unwrap_or(Duration::MAX));
            let mss = self.config.mss() as u64;
            if let Some(at) = self.pacer.delay_at(now, bytes, mss, window, srtt, self.cc.pacing_rate()) {
                self.timers.set(Timer::Pacing, at);
                return false;
            }
        }
        true
    }

    /// Encrypts `segments` into `buf` as one transport packet, within the amplification budget.
    fn seal(&mut self, now: Instant, segments: &Segments<'_>, buf: &mut [u8]) -> Option<usize> {
        let end = buf.len().checked_sub(TAG_LEN)?;
        let plain = buf.get_mut(TRANSPORT_HEADER_LEN..end)?;
        let n = segments.emit(plain).ok()?;
        self.seal_emitted(now, buf, n)
    }

    /// Encrypts the `n` bytes of segments already written at `TRANSPORT_HEADER_LEN..` of `buf`
    /// as one transport packet, within the amplification budget.
    fn seal_emitted(&mut self, now: Instant, buf: &mut [u8], n: usize) -> Option<usize> {
        if (n + TRANSPORT_HEADER_LEN + TAG_LEN) as u64 > self.path.budget() {
            self.stats.amplification_limited += 1;
            return None;
        }
        let len = self.seal_now(now, buf, n)?;
        self.path.sent += len as u64;
        self.count_sent(now, len);
        Some(len)
    }

    /// Seals the `n` bytes of segments at `TRANSPORT_HEADER_LEN..` of `buf` (key update and
    /// counter skips included), whatever the destination and its budget.
    pub(super) fn seal_now(&mut self, now: Instant, buf: &mut [u8], n: usize) -> Option<usize> {
        let session = self.session.as_mut()?;
        // PROTOCOL.md §6.5: a side starts a key update only once the peer has acknowledged a
        // DATA segment first sent in the current phase (so it holds the current keys too),
        // whichever side moved to that phase; otherwise the one phase bit would be ambiguous.
        if session.send_key_phase() != self.key_phase {
            (self.key_phase, self.key_phase_start) = (session.send_key_phase(), self.send.next_seq());
        }
        let confirmed = self.send.una() > self.key_phase_start;
        if confirmed
            && self.key_update_at.is_some_and(|at| now >= at)
            && session.initiate_key_update().is_ok()
        {
            let every = self.config.key_update_interval.unwrap_or(Duration::MAX);
            self.key_update_at = now.checked_add(every);
            (self.key_phase, self.key_phase_start) = (session.send_key_phase(), self.send.next_seq());
        }
        // PROTOCOL.md §8.8: now and then a counter is skipped, for the peer's echo to be checked
        // against. Counters need only be unique (§6.3).
        if self.skips.skip_next() {
            let skipped = session.next_send_counter();
            session.skip_send_counter_to(skipped.saturating_add(1));
            self.skips.skipped(skipped);
        }
        session.seal(buf, n).ok()
    }

    pub(super) fn count_sent(&mut self, now: Instant, len: usize) {
        self.stats.datagrams_sent += 1;
        self.stats.bytes_sent += len as u64;
        // PROTOCOL.md §13.5: every datagram on the path restarts the keep-alive interval.
        if let Some(every) = self.config.keep_alive.filter(|every| !every.is_zero()) {
            if self.phase == Phase::Established {
                self.timers.set(Timer::KeepAlive, now + every);
            }
        }
    }
}
