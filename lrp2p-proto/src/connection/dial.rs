//! Dialing one peer at several addresses (PROTOCOL.md §13.6): an IK initiator that knows more
//! than one address of its peer (a rendezvous introduction gives the peer's observed and local
//! addresses, §13.7) sends the same initiation to each of them. The connect address is the
//! *primary* and follows the usual handshake retransmissions (§4.6); every other address gets
//! at most [`DIAL_PROBES`] copies, one each time the initiation is (re)sent. The first valid
//! response decides: the address it came from becomes the current path, validated, and the
//! others are forgotten. A side that wins a crossing (§13.6) also aims its initiation at the
//! address the peer's initiation came from, at once: behind a NAT that gives each destination
//! its own port, that is the one address through which the peer can be reached.
//!
//! The targets live in `Connection::paths` (boxed, only while the handshake runs).

use std::net::SocketAddr;
use std::time::Instant;

use super::handshake::Handshake;
use super::path::Path;
use super::timer::Timer;
use super::{ConnEvent, Connection, Phase};
use crate::crypto::punch::PunchKey;
use crate::identity::PublicKey;
use crate::trace::TraceEvent;
use crate::wire::PunchRepr;

/// Addresses one initiation goes to, at most, the primary included (PROTOCOL.md §13.7): those
/// of one introduction.
pub use crate::rendezvous::MAX_DIAL_ADDRESSES;

/// Copies of the initiation each address but the primary gets, at most (PROTOCOL.md §13.7).
pub(super) const DIAL_PROBES: u8 = 3;

/// The addresses besides the primary that the initiation goes to.
#[derive(Debug, Default)]
pub(super) struct Dial {
    targets: Vec<Target>,
    /// The key the peer's PUNCH datagrams are checked with (PROTOCOL.md §13.7), for a dial by
    /// key (`Endpoint::connect_many`); computed once, so that a PUNCH costs one MAC.
    pub(super) punch: Option<PunchKey>,
    /// Extra sends to the primary a PUNCH from it caused (at most [`DIAL_PROBES`]).
    primary_resends: u8,
    /// A dial by key through a rendezvous whose addresses have not come yet (PROTOCOL.md
    /// §13.7): no initiation goes before they do.
    awaiting: bool,
}

/// One address and the copies it got.
#[derive(Debug, Clone, Copy)]
struct Target {
    remote: SocketAddr,
    sent: u8,
    due: bool,
}

/// Whether a datagram may be aimed at `addr` at all (PROTOCOL.md §13.7): one home for the
/// rule, the rendezvous' ([`crate::rendezvous::is_dialable`]).
pub(crate) use crate::rendezvous::is_dialable as dialable;

impl Dial {
    /// Adds `remote` unless it is the primary, known, not dialable or beyond the bound; a
    /// known one with copies left is due again. Whether it is a target now.
    fn add(&mut self, primary: SocketAddr, remote: SocketAddr, due: bool) -> bool {
        if remote == primary || !dialable(&remote) {
            return false;
        }
        if let Some(target) = self.targets.iter_mut().find(|t| t.remote == remote) {
            target.due |= due && target.sent < DIAL_PROBES;
            return true;
        }
        if self.targets.len() + 1 >= MAX_DIAL_ADDRESSES {
            return false;
        }
        self.targets.push(Target { remote, sent: 0, due });
        true
    }

    /// The initiation was (re)sent to the primary: a copy is due everywhere with copies left.
    fn all_due(&mut self) {
        for target in &mut self.targets {
            target.due = target.sent < DIAL_PROBES;
        }
    }

    /// The next address a copy is due at, counted as sent.
    fn take_due(&mut self) -> Option<SocketAddr> {
        let target = self.targets.iter_mut().find(|t| t.due)?;
        target.due = false;
        target.sent += 1;
        Some(target.remote)
    }

    fn contains(&self, remote: SocketAddr) -> bool {
        self.targets.iter().any(|t| t.remote == remote)
    }
}

impl Connection {
    /// An initiator's other addresses of its peer (`Endpoint::connect_many`): the initiation
    /// goes there too. Beyond [`MAX_DIAL_ADDRESSES`] in all, or not dialable: ignored. With
    /// `punch`, the peer's PUNCH datagrams add the addresses they come from.
    pub(crate) fn dial_also(&mut self, others: &[SocketAddr], punch: Option<PunchKey>) {
        let primary = self.path.remote;
        let mut dial = Dial { targets: Vec::new(), punch, primary_resends: 0, awaiting: false };
        for remote in others {
            dial.add(primary, *remote, false);
        }
        if !dial.targets.is_empty() || dial.punch.is_some() {
            self.paths.get_or_insert_with(Box::default).dial = Some(dial);
        }
    }

    /// A dial by key whose addresses a rendezvous will give (PROTOCOL.md §13.7): its primary is
    /// the relay (§13.8), where the initiation goes at once; the introduction's addresses get
    /// copies of it ([`Connection::introduce`]). It ends as a handshake timeout if nothing
    /// answers, or [`CloseReason::NotFound`](super::CloseReason::NotFound) if the rendezvous
    /// does not know the peer.
    pub(crate) fn await_introduction(&mut self, now: Instant, punch: Option<PunchKey>) {
        let dial = Dial { targets: Vec::new(), punch, primary_resends: 0, awaiting: true };
        self.paths.get_or_insert_with(Box::default).dial = Some(dial);
        self.timers.set(Timer::HandshakeGiveUp, now + self.config.handshake_timeout);
    }

    /// Whether this dial by key still waits for its peer's addresses.
    pub(crate) fn awaiting_introduction(&self) -> bool {
        self.paths.as_ref().and_then(|p| p.dial.as_ref()).is_some_and(|d| d.awaiting)
    }

    /// The addresses of the peer a dial by key was waiting for: while the handshake runs they
    /// are dial targets (the bounds of §13.6 apply, copies of the initiation go there at its
    /// next (re)send); once it is established on the relay they are probed (§13.8). False if
    /// the connection was not waiting.
    pub(crate) fn introduce(&mut self, addresses: &[SocketAddr]) -> bool {
        let Some(dial) = self.paths.as_mut().and_then(|p| p.dial.as_mut()).filter(|d| d.awaiting) else {
            if self.phase == Phase::Established {
                self.probe_direct(addresses);
            }
            return false;
        };
        dial.awaiting = false;
        let primary = self.path.remote;
        let sent = matches!(self.handshake, Handshake::IkSent { .. });
        for remote in addresses {
            dial.add(primary, *remote, sent);
        }
        true
    }

    /// PROTOCOL.md §13.7: the rendezvous does not know the peer a waiting dial asked for.
    pub(crate) fn not_found(&mut self, now: Instant) {
        if self.awaiting_introduction() {
            self.drain(now, Some(super::CloseReason::NotFound));
        }
    }

    /// Whether this connection takes `peer`'s PUNCH datagrams: it dials `peer` by key, or it
    /// is established with it on the relay (§13.8: a punch shows a direct address to probe).
    pub(crate) fn punchable_by(&self, peer: &PublicKey) -> bool {
        let dialing = self.dials_by_key(peer)
            && self.paths.as_ref().and_then(|p| p.dial.as_ref()).is_some_and(|d| d.punch.is_some());
        dialing
            || (self.phase == Phase::Established
                && self.relay_punch().is_some()
                && self.peer_key().as_ref() == Some(peer))
    }

    /// Whether `punch` is authentic: from the peer this connection dials, to `me`.
    pub(crate) fn verify_punch(&self, punch: &PunchRepr, me: &PublicKey) -> bool {
        let dial = self.paths.as_ref().and_then(|p| p.dial.as_ref()).and_then(|d| d.punch.as_ref());
        let Some(key) = dial.or_else(|| self.relay_punch()) else {
            return false;
        };
        key.verify(&punch.sender, me, punch.nonce, &punch.tag)
    }

    /// PROTOCOL.md §13.9: an authentic PUNCH came from `from`. From the primary: the peer's NAT
    /// is open toward it now, so the initiation goes there again at once (at most
    /// [`DIAL_PROBES`] times); from elsewhere, as [`Connection::aim_at`]; after the handshake,
    /// one more direct address to probe from the relay (§13.8).
    pub(crate) fn on_punch_from(&mut self, from: SocketAddr) {
        if self.phase == Phase::Established {
            // PROTOCOL.md §13.9: after the handshake a punch names one more direct address to
            // probe (§13.8).
            return self.probe_direct(&[from]);
        }
        if from != self.path.remote {
            return self.aim_at(from);
        }
        let Handshake::IkSent { message, .. } = &self.handshake else { return };
        let Some(dial) = self.paths.as_mut().and_then(|p| p.dial.as_mut()) else { return };
        if dial.primary_resends < DIAL_PROBES && self.outgoing.is_none() {
            dial.primary_resends += 1;
            self.outgoing = Some(Box::from(message.as_slice()));
        }
    }

    /// PROTOCOL.md §13.6: this side won a crossing against an initiation from `from`; its own
    /// initiation goes there too, at once (within the bounds of §13.7).
    pub(crate) fn aim_at(&mut self, from: SocketAddr) {
        if !self.initiator || self.phase != Phase::Handshaking || from == self.path.remote {
            return;
        }
        let primary = self.path.remote;
        let sent = matches!(self.handshake, Handshake::IkSent { .. });
        let paths = self.paths.get_or_insert_with(Box::default);
        let added = paths.dial.get_or_insert_with(Dial::default).add(primary, from, sent);
        if !added && paths.dial.as_ref().is_some_and(|d| d.targets.is_empty() && d.punch.is_none()) {
            paths.dial = None;
            self.free_paths();
        }
    }

    /// The initiation was queued for the primary: copies are due at the other addresses.
    pub(super) fn dial_queued(&mut self) {
        if !matches!(self.handshake, Handshake::IkSent { .. }) {
            return;
        }
        if let Some(dial) = self.paths.as_mut().and_then(|p| p.dial.as_mut()) {
            dial.all_due();
        }
    }

    /// A copy of the initiation for another address, if one is due.
    pub(super) fn poll_dial_datagram(&mut self, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        let Handshake::IkSent { message, .. } = &self.handshake else { return None };
        if self.close.is_some() || message.len() > buf.len() {
            return None;
        }
        let to = self.paths.as_mut()?.dial.as_mut()?.take_due()?;
        buf[..message.len()].copy_from_slice(message);
        Some((to, message.len()))
    }

    /// A valid response came from `from`: the dial is over. A response from one of the other
    /// addresses makes it the current path, validated: this side aimed there itself.
    /// A response through the relay (§13.8) leaves the other addresses to be probed.
    pub(super) fn end_dial(&mut self, now: Instant, from: SocketAddr) {
        let Some(dial) = self.paths.as_mut().and_then(|p| p.dial.take()) else { return };
        if from != self.path.remote && dial.contains(from) {
            // The path the connection was shown on (the primary: for a dial by key, the relay)
            // changes: counted and told like any other change (PROTOCOL.md §13.8).
            let primary = self.path.remote;
            self.path = Path::new(from, true);
            self.stats.migrations = self.stats.migrations.saturating_add(1);
            self.trace(now, || TraceEvent::PathChanged { from: primary, to: from });
            self.events.push_back(ConnEvent::PathChanged);
        }
        if super::relay::is_relayed(&from) {
            let targets: Vec<SocketAddr> = dial.targets.iter().map(|t| t.remote).collect();
            self.probe_direct(&targets);
        }
        self.free_paths();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn targets_are_bounded_deduplicated_and_never_unroutable() {
        let primary = addr("192.0.2.1:1000");
        let mut dial = Dial::default();
        assert!(!dial.add(primary, primary, true), "the primary is not a second target");
        for bad in ["0.0.0.0:1", "192.0.2.2:0", "224.0.0.1:1", "255.255.255.255:1", "[::]:1", "[ff02::1]:1"] {
            assert!(!dial.add(primary, addr(bad), true), "{bad}");
        }
        for port in 1..=20 {
            dial.add(primary, SocketAddr::new(addr("192.0.2.3:1").ip(), port), false);
        }
        assert_eq!(dial.targets.len(), MAX_DIAL_ADDRESSES - 1);
        assert!(dial.add(primary, addr("192.0.2.3:1"), false), "a known target stays one");
        assert_eq!(dial.targets.len(), MAX_DIAL_ADDRESSES - 1);
    }

    #[test]
    fn each_target_gets_at_most_dial_probes_copies() {
        let primary = addr("192.0.2.1:1000");
        let mut dial = Dial::default();
        dial.add(primary, addr("192.0.2.2:2000"), false);
        let mut copies = 0;
        for _ in 0..10 {
            dial.all_due();
            while dial.take_due().is_some() {
                copies += 1;
            }
            // A re-aim does not lift the bound either.
            dial.add(primary, addr("192.0.2.2:2000"), true);
        }
        assert_eq!(copies, usize::from(DIAL_PROBES));
    }
}
