//! The relay as one more path (PROTOCOL.md §13.8): a connection whose peer is reachable through
//! the rendezvous service keeps the relayed path beside its direct one. A dial by key starts on
//! it (the first byte needs no punch); once established there, challenge packets go to the
//! peer's direct addresses (those of the introduction, and those its PUNCHes came from), and
//! the first one answered becomes the path (`migrate`). Back the other way, the first
//! retransmission timeout on a direct path moves the connection to the relay at once, and the
//! direct address is probed again later.
//!
//! Inside the connection a relayed path is an address of the discard-only prefix `100::/64`
//! (RFC 6666), the peer's key in its low 64 bits: no datagram from the network has such a
//! source (the endpoint drops any that claims one), and every rule of §13 about addresses then
//! holds for the relay unchanged. The endpoint frames what goes there (`endpoint/relay.rs`).

use std::net::{Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::handshake::Handshake;
use super::path::Path;
use super::{ConnEvent, Connection, Phase};
use crate::crypto::punch::PunchKey;
use crate::identity::PublicKey;
use crate::trace::TraceEvent;
use crate::wire::PathFrames;

/// Direct addresses probed at once, at most (PROTOCOL.md §13.8: those of the introduction, the
/// primary's eight others, and the ones punches came from share the bound).
const MAX_TARGETS: usize = 8;

/// Rounds of challenges to the direct addresses, RTO apart and doubling, before the pause.
const ROUNDS: u8 = 3;

/// Between later rounds while the connection stays relayed (PROTOCOL.md §13.8).
pub(crate) const REPROBE_INTERVAL: Duration = Duration::from_secs(15);

/// The first probe of a direct path that just failed, after the fall-back.
const REPROBE_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// The relayed path's address for the peer with `key` (see the module documentation).
pub(crate) fn relay_address(key: &PublicKey) -> SocketAddr {
    let k = key.as_bytes();
    let low = |i: usize| u16::from_be_bytes([k[i], k[i + 1]]);
    let ip = Ipv6Addr::new(0x100, 0, 0, 0, low(0), low(2), low(4), low(6));
    SocketAddr::new(ip.into(), 0)
}

/// Whether `addr` names a relayed path (the prefix `100::/64`).
pub(crate) fn is_relayed(addr: &SocketAddr) -> bool {
    match addr {
        SocketAddr::V6(v6) => v6.ip().segments()[..4] == [0x100, 0, 0, 0],
        SocketAddr::V4(_) => false,
    }
}

/// The relayed path and the direct addresses being probed.
#[derive(Debug)]
pub(super) struct Relay {
    /// The relayed path's address.
    via: SocketAddr,
    /// Direct addresses of the peer to probe while relayed.
    targets: Vec<SocketAddr>,
    /// The 8 bytes the probes challenge with (PROTOCOL.md §13.2).
    data: [u8; 8],
    /// Rounds sent in this series.
    round: u8,
    /// The next target due in this round; `targets.len()` when none is.
    next: usize,
    /// When the next round is due.
    timer: Option<Instant>,
    /// The peer's PUNCH key (PROTOCOL.md §13.9), kept after the handshake: a punch tells where
    /// the peer sends from.
    pub(super) punch: Option<PunchKey>,
    /// When a packet last came on the current path while it was direct (the move there counts).
    direct_heard: Option<Instant>,
    /// Since the current path became direct, the peer sent ordinary traffic on it (a packet
    /// with no path extension: neither a probe nor an answer to one), so it uses that path too.
    peer_direct: bool,
    /// While stream data comes on the direct path: when its silence is next checked, and
    /// whether that check already sent a PING (see [`Connection::on_relay_timer`]).
    watch: Option<Instant>,
    pinged: bool,
    /// When an ACK last acknowledged new data: the peer receives what this side sends, on
    /// whichever path its answers come back.
    delivered: Option<Instant>,
}

impl Relay {
    pub(super) fn deadline(&self) -> Option<Instant> {
        match (self.timer, self.watch) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl Connection {
    /// The peer can be reached through this endpoint's rendezvous link, at `via`
    /// ([`relay_address`]). Set by the endpoint for a dial by key, a connection accepted
    /// through the relay and one from a peer the rendezvous introduced.
    pub(crate) fn set_relay(&mut self, via: SocketAddr, punch: Option<PunchKey>) {
        let data = self.skips.path_challenge(self.session.as_ref().map_or(0, |s| s.next_send_counter()));
        let paths = self.paths.get_or_insert_with(Box::default);
        let punch = punch.or_else(|| paths.dial.as_mut().and_then(|d| d.punch.clone()));
        paths.relay = Some(Relay {
            via,
            targets: Vec::new(),
            data,
            round: 0,
            next: 0,
            timer: None,
            punch,
            direct_heard: None,
            peer_direct: false,
            watch: None,
            pinged: false,
            delivered: None,
        });
    }

    /// The relayed path's address, if the connection has one.
    pub(crate) fn relay_via(&self) -> Option<SocketAddr> {
        self.relay().map(|r| r.via)
    }

    /// Whether `from`, a relayed path's address, reaches this connection: it is its relayed
    /// path, or its current path (a dial by key that has not heard its introduction yet).
    pub(crate) fn reached_through(&self, from: SocketAddr) -> bool {
        self.path.remote == from || self.relay_via() == Some(from)
    }

    fn relay(&self) -> Option<&Relay> {
        self.paths.as_ref().and_then(|p| p.relay.as_ref())
    }

    /// The key the relay addresses this connection's datagrams to: the peer's, known to an IK
    /// initiator from the start.
    pub(crate) fn relay_peer(&self) -> Option<PublicKey> {
        self.peer_key.or(match &self.handshake {
            Handshake::Start { peer, .. } => *peer,
            Handshake::IkSent { noise, .. } => Some(noise.remote_static()),
            _ => None,
        })
    }

    /// Whether the current path is the relay.
    pub(crate) fn is_relayed(&self) -> bool {
        is_relayed(&self.path.remote)
    }

    /// Direct addresses of the peer to probe (the introduction's, or where a PUNCH came from):
    /// a round of challenges starts at once when one is new. Unusable ones are left out.
    pub(crate) fn probe_direct(&mut self, addresses: &[SocketAddr]) {
        let Some(relay) = self.paths.as_mut().and_then(|p| p.relay.as_mut()) else { return };
        let mut added = false;
        for addr in addresses {
            let usable = super::dial::dialable(addr) && !is_relayed(addr);
            if usable && !relay.targets.contains(addr) && relay.targets.len() < MAX_TARGETS {
                relay.targets.push(*addr);
                added = true;
            }
        }
        if added {
            relay.round = 0;
            relay.next = 0;
            relay.timer = None;
        }
    }

    /// Whether `from` is a direct address this connection probes (its packets make no
    /// candidate: the probe's answer decides).
    pub(super) fn probes(&self, from: SocketAddr) -> bool {
        self.relay().is_some_and(|r| r.targets.contains(&from))
    }

    /// An authenticated packet came on the current path `from`, after its segments: when it
    /// is direct, it was heard (`direct_heard`); `ordinary`, it carried no path extension (so if the path is direct, the peer sends its own traffic
    /// there, PROTOCOL.md §13.8); `more`, it carried stream data and no FIN (more is due). The
    /// silence watch runs from a packet with more data due, and stops at one without (the
    /// peer is there and has nothing in flight, or is done).
    pub(super) fn on_path_traffic(&mut self, now: Instant, from: SocketAddr, ordinary: bool, more: bool) {
        if from != self.path.remote || is_relayed(&from) {
            return;
        }
        let rto = self.rtt.base_rto();
        if let Some(relay) = self.paths.as_mut().and_then(|p| p.relay.as_mut()) {
            relay.direct_heard = Some(now);
            relay.peer_direct |= ordinary;
            relay.watch = more.then_some(now + rto);
            relay.pinged = false;
        }
    }

    /// An ACK acknowledged new data (see [`Relay::delivered`]).
    pub(super) fn on_delivery(&mut self, now: Instant) {
        if let Some(relay) = self.paths.as_mut().and_then(|p| p.relay.as_mut()) {
            relay.delivered = Some(now);
        }
    }

    /// PROTOCOL.md §13.8: an authenticated packet with a new highest counter came through the
    /// relay while the current path is direct. If the peer already sent ordinary traffic on the
    /// direct path, or nothing came there for an RTO, the peer moved (back) to the relay (its
    /// direct path failed), and so does this side, at once (the service reaches the peer by
    /// its key, so the relay needs no validation); otherwise the peer has not moved to the
    /// direct path yet, and nothing changes. True: handled.
    pub(super) fn on_relayed_packet(&mut self, now: Instant, from: SocketAddr) -> bool {
        if self.relay_via() != Some(from) || self.phase != Phase::Established {
            return false;
        }
        let rto = self.rtt.base_rto();
        let Some(relay) = self.relay() else { return false };
        let silent = relay.direct_heard.is_none_or(|at| now.saturating_duration_since(at) >= rto);
        if !relay.peer_direct && !silent {
            return true;
        }
        self.move_to_relay(now, from);
        true
    }

    /// The direct path failed: the relay at `via` is the path, and the direct address is
    /// probed again after [`REPROBE_AFTER_FAILURE`].
    fn move_to_relay(&mut self, now: Instant, via: SocketAddr) {
        let direct = self.path.remote;
        self.switch_path(now, via);
        self.schedule_reprobe(now, direct, REPROBE_AFTER_FAILURE);
    }

    /// PROTOCOL.md §13.8: a retransmission timeout on the direct path, on which nothing came
    /// for an RTO: the connection moves to the relay (what is in flight is retransmitted
    /// there), and probes the direct address again later.
    pub(super) fn fall_back_to_relay(&mut self, now: Instant) {
        let Some(via) = self.relay_via() else { return };
        if self.is_relayed() || self.phase != Phase::Established {
            return;
        }
        // Packets still arriving on the direct path within the RTO's variance term (the RTO
        // less the round trip and the peer's ACK delay: 200 ms at least): it is congested or
        // lossy, not gone; the timeout is recovered there. A dead path is that quiet at its
        // first timeout (its last ACK came a round trip after the oldest packet went out).
        let config = self.rtt.config();
        let waits = self.rtt.smoothed_or_initial().saturating_add(config.max_ack_delay);
        let quiet = self.rtt.base_rto().saturating_sub(waits).max(config.min_rto);
        // Data still acknowledged within it: the peer gets what goes on the direct path (it
        // answers through the relay until it moves too); the timeout was a loss, not the path.
        let recent = |at: Option<Instant>| at.is_some_and(|at| now.saturating_duration_since(at) < quiet);
        if self.relay().is_some_and(|r| recent(r.direct_heard) || recent(r.delivered)) {
            return;
        }
        self.move_to_relay(now, via);
        self.arm_retransmit(now);
    }

    /// The current path becomes `to`, validated (PROTOCOL.md §13.4: a candidate or a probed
    /// address that answered its challenge; §13.8: the relay).
    pub(super) fn switch_path(&mut self, now: Instant, to: SocketAddr) {
        let from = self.path.remote;
        self.path = Path::new(to, true);
        if let Some(paths) = self.paths.as_mut() {
            paths.candidate = None;
            // The move itself is news from the new path (its probe was just answered): the
            // relay takes over again only once the peer is seen to use it (above).
            if let Some(relay) = paths.relay.as_mut() {
                relay.direct_heard = (!is_relayed(&to)).then_some(now);
                relay.peer_direct = false;
            }
        }
        // RFC 9000 §9.4: a new IP may be a slower path (the relay and a direct path always
        // differ); a NAT rebinding (same IP, new port) keeps what the old path taught.
        if to.ip() != from.ip() {
            self.reset_congestion(now);
        }
        self.stats.migrations = self.stats.migrations.saturating_add(1);
        self.trace(now, || TraceEvent::PathChanged { from, to });
        self.events.push_back(ConnEvent::PathChanged);
        // Tell the peer at once, by an ACK on the new path that it must answer.
        self.ping_pending = true;
    }

    fn schedule_reprobe(&mut self, now: Instant, direct: SocketAddr, after: Duration) {
        let data = self.skips.path_challenge(self.session.as_ref().map_or(0, |s| s.next_send_counter()));
        let Some(relay) = self.paths.as_mut().and_then(|p| p.relay.as_mut()) else { return };
        if !relay.targets.contains(&direct) && relay.targets.len() < MAX_TARGETS && !is_relayed(&direct) {
            relay.targets.push(direct);
        }
        relay.data = data;
        relay.round = 0;
        relay.next = relay.targets.len();
        relay.timer = Some(now + after);
    }

    /// A PATH_RESPONSE from `from` with `data`: whether it answers a probe of a direct address
    /// (then that address is the path now).
    pub(super) fn on_probe_response(&mut self, now: Instant, from: SocketAddr, data: [u8; 8]) -> bool {
        let answers = self.relay().is_some_and(|r| r.data == data && r.targets.contains(&from));
        if !answers || !self.is_relayed() {
            return false;
        }
        self.switch_path(now, from);
        if let Some(relay) = self.paths.as_mut().and_then(|p| p.relay.as_mut()) {
            relay.next = relay.targets.len();
            relay.timer = None;
        }
        true
    }

    /// The round timer: the next round of probes is due. The silence watch: PROTOCOL.md
    /// §13.8, a side on a direct path that receives stream data and then nothing for an RTO
    /// asks for an ACK (PING); nothing for a second RTO, and it moves to the relay. A receiver
    /// has no retransmission timer, yet its NAT may have forgotten the mapping (only its own
    /// packets make it again), or the path died: this is its way out.
    pub(super) fn on_relay_timer(&mut self, now: Instant) {
        let rto = self.rtt.base_rto();
        let direct = !self.is_relayed() && self.phase == Phase::Established;
        let Some(relay) = self.paths.as_mut().and_then(|p| p.relay.as_mut()) else { return };
        if relay.timer.is_some_and(|at| at <= now) {
            relay.timer = None;
            relay.next = 0;
        }
        if relay.watch.is_none_or(|at| at > now) {
            return;
        }
        if !direct {
            relay.watch = None;
        } else if !relay.pinged {
            relay.pinged = true;
            relay.watch = Some(now + rto);
            self.ping_pending = true;
        } else {
            relay.watch = None;
            let via = relay.via;
            self.move_to_relay(now, via);
        }
    }

    /// A challenge packet for the next direct address due, while the path is the relay:
    /// its destination and length.
    pub(super) fn poll_probe_datagram(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Option<(SocketAddr, usize)> {
        if !self.is_relayed() || self.phase != Phase::Established || self.close.is_some() {
            return None;
        }
        let rto = self.rtt.base_rto();
        let relay = self.paths.as_mut()?.relay.as_mut()?;
        let to = *relay.targets.get(relay.next)?;
        let data = relay.data;
        relay.next += 1;
        if relay.next == relay.targets.len() {
            relay.round = relay.round.saturating_add(1);
            let pause =
                if relay.round < ROUNDS { rto.saturating_mul(1 << relay.round) } else { REPROBE_INTERVAL };
            relay.timer = Some(now + pause);
        }
        // PROTOCOL.md §13.8: the bound on these is their count and rate (§13.7), not a budget.
        let frames = PathFrames { challenge: Some(data), response: None };
        let len = self.seal_path_packet(now, buf, frames, u64::MAX)?;
        Some((to, len))
    }

    /// A rendezvous link that just registered acknowledges at once (no delayed ACK, §8.5):
    /// its first transport packet proves this address to the service (§10.4), which may then
    /// relay to it beyond the 3× budget.
    pub(crate) fn acknowledge_now(&mut self) {
        self.ack_now();
    }

    /// PROTOCOL.md §13.8: a RELAY packet on a connection that is no rendezvous link.
    pub(crate) fn refuse_relay(&mut self, now: Instant) {
        self.protocol_violation(now);
    }

    /// Seals the RELAY plaintext of `n` bytes at `buf[17..17 + n]` (with room for the tag after
    /// it) on this connection, a rendezvous link, in place: the hop datagram's length. `None`
    /// while the link cannot carry it (not established, closing, or beyond the 3× budget of an
    /// address not yet proven, PROTOCOL.md §13.1).
    pub(crate) fn seal_relay(&mut self, now: Instant, buf: &mut [u8], n: usize) -> Option<usize> {
        let len = (n + crate::wire::TRANSPORT_HEADER_LEN + crate::wire::TAG_LEN) as u64;
        if self.phase != Phase::Established || self.close.is_some() || len > self.path.budget() {
            return None;
        }
        let len = self.seal_now(now, buf, n)?;
        self.path.sent += len as u64;
        self.count_sent(now, len);
        Some(len)
    }

    /// The PUNCH key kept after the handshake, if any.
    pub(crate) fn relay_punch(&self) -> Option<&PunchKey> {
        self.relay().and_then(|r| r.punch.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relayed_addresses_are_in_the_discard_prefix_and_name_the_key() {
        let a = relay_address(&PublicKey::from_bytes([1; 32]));
        let b = relay_address(&PublicKey::from_bytes([2; 32]));
        assert!(is_relayed(&a) && is_relayed(&b));
        assert_ne!(a, b);
        assert_eq!(a.to_string(), "[100::101:101:101:101]:0");
        assert!(!is_relayed(&"[2001:db8::1]:5".parse().unwrap()));
        assert!(!is_relayed(&"192.0.2.1:5".parse().unwrap()));
        assert!(!is_relayed(&"[100:0:0:1::1]:5".parse().unwrap()));
    }
}
