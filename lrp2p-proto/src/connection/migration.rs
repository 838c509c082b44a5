//! Path validation and migration (PROTOCOL.md §13.2–§13.4): a packet from a new address makes
//! it a candidate, never the path; challenge packets go there within its 3× budget, at most
//! [`PATH_PROBES`] of them backed off by the RTO; a PATH_RESPONSE from it, with the challenge's
//! bytes, moves the connection there (with a fresh congestion controller and RTT estimator when
//! the IP changed). The peer's challenges are answered on the path they came on.
//!
//! The state lives in `Connection::paths`, boxed and allocated only while a validation runs or
//! a response is owed, so that an idle connection on one path pays one pointer for it.

use std::net::SocketAddr;
use std::time::Instant;

use super::path::{Candidate, PATH_PROBES, Response};
use super::{Connection, Phase};
use crate::trace::PacketKind;
use crate::wire::{PATH_TLV_LEN, PathFrames, TAG_LEN, TRANSPORT_HEADER_LEN};

impl Connection {
    /// An authenticated transport packet of `len` bytes came from `from`; `newest`: its
    /// counter is above every counter received before it (PROTOCOL.md §13.4).
    pub(super) fn on_packet_from(&mut self, now: Instant, from: SocketAddr, len: usize, newest: bool) {
        if from == self.path.remote {
            // (A direct path's liveness: `on_path_traffic`, once the segments are in.)
            self.path.on_received(from, len);
            return;
        }
        if !self.config.path_validation || self.phase != Phase::Established {
            return;
        }
        // PROTOCOL.md §13.8: the relay needs no validation; a probed direct address is decided
        // by the answer to its probe.
        if (newest && self.on_relayed_packet(now, from)) || self.probes(from) {
            return;
        }
        if let Some(candidate) = self.paths.as_mut().and_then(|p| p.candidate.as_mut()) {
            if candidate.remote == from {
                candidate.on_received(len);
                return;
            }
        }
        if !newest {
            // A delayed or replayed packet starts nothing (PROTOCOL.md §12.6, §13.4).
            return;
        }
        // PROTOCOL.md §13.2: unpredictable bytes, never repeated (the send counter only grows).
        let nonce = self.session.as_ref().map_or(0, |s| s.next_send_counter());
        let data = self.skips.path_challenge(nonce);
        let paths = self.paths.get_or_insert_with(Box::default);
        paths.candidate = Some(Candidate::new(now, self.rtt.rto(), from, data, len));
    }

    /// The PATH_CHALLENGE and PATH_RESPONSE of an authenticated packet of `len` bytes from
    /// `from`, after its segments were processed.
    pub(super) fn on_path_frames(&mut self, now: Instant, from: SocketAddr, len: usize, frames: PathFrames) {
        if frames.is_empty() || !self.config.path_validation || self.phase != Phase::Established {
            return;
        }
        if let Some(data) = frames.challenge {
            // PROTOCOL.md §13.2: answered on the path it came on, once, within 3× the packet
            // that carried it; only the latest challenge is held.
            let budget = (len as u64).saturating_mul(3);
            self.paths.get_or_insert_with(Box::default).response = Some(Response { to: from, data, budget });
            self.ack_now();
        }
        let validated = frames.response.is_some_and(|data| {
            self.paths
                .as_ref()
                .and_then(|p| p.candidate.as_ref())
                .is_some_and(|c| c.remote == from && c.data == data)
        });
        if validated {
            // PROTOCOL.md §13.4: the candidate answered: it becomes the current path.
            self.switch_path(now, from);
        } else if let Some(data) = frames.response {
            self.on_probe_response(now, from, data);
        }
        self.free_paths();
    }

    /// The candidate's timer fired: the next challenge is due, or the validation failed.
    pub(super) fn on_path_timer(&mut self, now: Instant) {
        let rto = self.rtt.rto();
        let Some(candidate) = self.paths.as_mut().and_then(|p| p.candidate.as_mut()) else { return };
        if candidate.timer > now {
            return;
        }
        if candidate.probes >= PATH_PROBES {
            // PROTOCOL.md §13.3: unanswered: forgotten; the current path stays.
            if let Some(paths) = self.paths.as_mut() {
                paths.candidate = None;
            }
            self.free_paths();
            return;
        }
        // RFC 6298-style backoff: RTO, 2·RTO, 4·RTO between attempts; the last one's interval
        // ends the validation.
        candidate.timer = now + rto.saturating_mul(1 << candidate.probes);
        candidate.probes += 1;
        candidate.due = true;
    }

    /// When path validation needs the connection next.
    pub(super) fn path_deadline(&self) -> Option<Instant> {
        self.paths.as_ref().and_then(|p| p.deadline())
    }

    /// The response owed on the current path (it rides in the next ACK there).
    pub(super) fn current_path_frames(&self) -> PathFrames {
        let response = self.paths.as_ref().and_then(|p| p.response).filter(|r| r.to == self.path.remote);
        PathFrames { challenge: None, response: response.map(|r| r.data) }
    }

    /// SACK ranges to leave out of an ACK so that the path extensions due fit beside them.
    pub(super) fn path_sack_reserve(&self) -> usize {
        if self.paths.is_some() { (2 * PATH_TLV_LEN).div_ceil(8) } else { 0 }
    }

    /// The response owed on the current path went out in an ACK.
    pub(super) fn current_path_frames_sent(&mut self) {
        let remote = self.path.remote;
        if let Some(paths) = self.paths.as_mut() {
            if paths.response.is_some_and(|r| r.to == remote) {
                paths.response = None;
            }
        }
        self.free_paths();
    }

    /// A datagram for an address other than the current path, if one is due: a challenge
    /// packet to the candidate, or a response owed elsewhere (PROTOCOL.md §13.2, §13.3).
    /// Returns its destination and length.
    pub(super) fn poll_path_datagram(&mut self, now: Instant, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        let paths = self.paths.as_deref()?;
        if self.phase != Phase::Established || self.recv.is_none() || self.close.is_some() {
            return None;
        }
        let remote = self.path.remote;
        let response = paths.response.filter(|r| r.to != remote);
        let challenge = paths.candidate.filter(|c| c.due);
        let to = response.map(|r| r.to).or(challenge.map(|c| c.remote))?;
        let challenge = challenge.filter(|c| c.remote == to);
        let response = paths.response.filter(|r| r.to == to);
        let frames = PathFrames { challenge: challenge.map(|c| c.data), response: response.map(|r| r.data) };
        let budget = [challenge.map(|c| c.budget()), response.map(|r| r.budget)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(0);
        let len = self.seal_path_packet(now, buf, frames, budget);
        let paths = self.paths.as_mut()?;
        if response.is_some() {
            // Sent or not, one answer per challenge (PROTOCOL.md §13.2).
            paths.response = None;
        }
        let Some(len) = len else {
            self.free_paths();
            return None;
        };
        if let Some(candidate) = paths.candidate.as_mut().filter(|c| c.remote == to) {
            candidate.on_sent(len);
            if challenge.is_some() {
                candidate.due = false;
            }
        }
        self.free_paths();
        Some((to, len))
    }

    /// Writes a transport packet of one ACK segment carrying `frames` into `buf` and seals it,
    /// if it fits `budget` (PROTOCOL.md §13.1); counts it. Its length, or `None` (counted as
    /// amplification-limited when the budget was the reason).
    pub(super) fn seal_path_packet(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        frames: PathFrames,
        budget: u64,
    ) -> Option<usize> {
        let mut ack = self.ack_repr(now);
        // PROTOCOL.md §13.2: a challenge asks for an ACK (PING), so that even a peer without
        // the extension answers; a response alone asks for nothing.
        ack.ping = frames.challenge.is_some();
        let plain = buf.get_mut(TRANSPORT_HEADER_LEN..buf.len().checked_sub(TAG_LEN)?)?;
        let n = ack.emit(plain).ok()?;
        let n = frames.append(plain, n).ok()?;
        if (n + TRANSPORT_HEADER_LEN + TAG_LEN) as u64 > budget {
            self.stats.amplification_limited += 1;
            return None;
        }
        let len = self.seal_now(now, buf, n)?;
        if frames.challenge.is_some() {
            self.stats.path_challenges = self.stats.path_challenges.saturating_add(1);
        }
        if let Some(recv) = self.recv.as_mut() {
            // Its window is a promise like any other (PROTOCOL.md §8.4).
            recv.mark_ack_sent();
        }
        self.stats.datagrams_sent += 1;
        self.stats.bytes_sent += len as u64;
        self.trace_sent(now, PacketKind::Transport, len, None, true);
        Some(len)
    }

    /// Drops the boxed path state once nothing is left in it.
    pub(super) fn free_paths(&mut self) {
        if self.paths.as_ref().is_some_and(|p| p.is_empty()) {
            self.paths = None;
        }
    }

    /// What [`Endpoint::path`](crate::Endpoint::path) reports.
    pub(crate) fn path_info(&self) -> super::path::PathInfo {
        let relayed = self.is_relayed();
        super::path::PathInfo {
            kind: if relayed { super::path::PathKind::Relayed } else { super::path::PathKind::Direct },
            remote: self.path.remote,
            validated: self.path.validated,
            candidate: self.paths.as_ref().and_then(|p| p.candidate.as_ref()).map(|c| c.remote),
            changes: u64::from(self.stats.migrations),
        }
    }
}
