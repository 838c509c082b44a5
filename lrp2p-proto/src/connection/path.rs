//! The paths of a connection (PROTOCOL.md §13.1): the current path, its address and its
//! anti-amplification budget until the peer has proven it receives there (§10.4); and, only
//! while a validation runs or a challenge waits for its answer, the boxed [`Paths`]: the
//! candidate address being validated (§13.3) and the PATH_RESPONSE owed to the peer (§13.2).
//! An idle connection on one path holds no more than the current [`Path`] and one pointer.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// PROTOCOL.md §13.3: challenge packets sent for one validation, at most.
pub(super) const PATH_PROBES: u8 = 3;

/// The current path to the peer and its anti-amplification budget.
#[derive(Debug, Clone, Copy)]
pub(super) struct Path {
    pub(super) remote: SocketAddr,
    /// The peer proved it receives at `remote`; no budget applies.
    pub(super) validated: bool,
    /// Bytes received from `remote` since it became the path.
    received: u64,
    /// Bytes sent to `remote` since it became the path.
    pub(super) sent: u64,
}

impl Path {
    /// The path to `remote`; `validated` when this side chose the address itself (an initiator)
    /// or validated it (a migration, §13.4).
    pub(super) fn new(remote: SocketAddr, validated: bool) -> Self {
        Path { remote, validated, received: 0, sent: 0 }
    }

    /// Before validation a side sends at most 3× what it received (PROTOCOL.md §10.4).
    pub(super) fn budget(&self) -> u64 {
        if self.validated { u64::MAX } else { budget(self.received, self.sent) }
    }

    /// A datagram of `len` bytes from `from` was accepted (authenticated, or a valid
    /// handshake message). PROTOCOL.md §13.1 (as RFC 9000 §8: the limit counts bytes received
    /// *from the address*): only bytes from `remote` raise its budget.
    pub(super) fn on_received(&mut self, from: SocketAddr, len: usize) {
        if from == self.remote {
            self.received = self.received.saturating_add(len as u64);
        }
    }
}

/// 3× what came from an address, less what went to it (PROTOCOL.md §13.1).
fn budget(received: u64, sent: u64) -> u64 {
    received.saturating_mul(3).saturating_sub(sent)
}

/// What a connection knows beyond its current path (boxed; `None` when there is nothing).
#[derive(Debug, Default)]
pub(super) struct Paths {
    pub(super) candidate: Option<Candidate>,
    pub(super) response: Option<Response>,
    /// The other addresses an initiation goes to, while the handshake runs (PROTOCOL.md §13.6).
    pub(super) dial: Option<super::dial::Dial>,
    /// The relayed path and the direct addresses probed from it (PROTOCOL.md §13.8).
    pub(super) relay: Option<super::relay::Relay>,
}

impl Paths {
    /// Nothing is left to validate or answer: the box can go.
    pub(super) fn is_empty(&self) -> bool {
        self.candidate.is_none() && self.response.is_none() && self.dial.is_none() && self.relay.is_none()
    }

    /// When the candidate's validation needs attention (its next challenge or its failure), or
    /// the next round of probes from the relay is due.
    pub(super) fn deadline(&self) -> Option<Instant> {
        let candidate = self.candidate.as_ref().map(|c| c.timer);
        let relay = self.relay.as_ref().and_then(super::relay::Relay::deadline);
        match (candidate, relay) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// An address the peer was seen at, being validated (PROTOCOL.md §13.3).
#[derive(Debug, Clone, Copy)]
pub(super) struct Candidate {
    pub(super) remote: SocketAddr,
    /// The challenge's 8 bytes (the same in every challenge packet of this validation).
    pub(super) data: [u8; 8],
    received: u64,
    sent: u64,
    /// Challenge attempts so far: packets sent, or held back by the budget (PROTOCOL.md §13.3:
    /// those count too, so that a validation ends in bounded time).
    pub(super) probes: u8,
    /// A challenge packet should go (the first, or a retransmission whose time came).
    pub(super) due: bool,
    /// When the next challenge is due or, after the last, when the validation fails.
    pub(super) timer: Instant,
}

impl Candidate {
    /// A new candidate at `remote`, from which `received` bytes came; its first challenge is
    /// due at once, the next one `rto` later.
    pub(super) fn new(
        now: Instant,
        rto: Duration,
        remote: SocketAddr,
        data: [u8; 8],
        received: usize,
    ) -> Self {
        let received = received as u64;
        Candidate { remote, data, received, sent: 0, probes: 1, due: true, timer: now + rto }
    }

    pub(super) fn budget(&self) -> u64 {
        budget(self.received, self.sent)
    }

    pub(super) fn on_received(&mut self, len: usize) {
        self.received = self.received.saturating_add(len as u64);
    }

    pub(super) fn on_sent(&mut self, len: usize) {
        self.sent = self.sent.saturating_add(len as u64);
    }
}

/// A PATH_RESPONSE owed to the peer (PROTOCOL.md §13.2): on the path the challenge came on.
#[derive(Debug, Clone, Copy)]
pub(super) struct Response {
    pub(super) to: SocketAddr,
    pub(super) data: [u8; 8],
    /// Bytes the answer may take toward an address that is not the validated current path:
    /// 3× the packet that carried the challenge.
    pub(super) budget: u64,
}

/// Which way a connection's current path goes (PROTOCOL.md §13.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathKind {
    /// Straight to the peer's UDP address.
    Direct,
    /// Through the rendezvous service (PROTOCOL.md §13.8): each datagram rides, unchanged and
    /// still sealed end to end, inside one datagram to the service, which passes it on.
    Relayed,
}

/// A connection's current path, as [`Endpoint::path`](crate::Endpoint::path) reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PathInfo {
    /// Direct, or through the rendezvous service.
    pub kind: PathKind,
    /// Where every datagram of the connection goes: the peer's address, or for a relayed
    /// path the rendezvous service's.
    pub remote: SocketAddr,
    /// Whether the peer proved it receives there (PROTOCOL.md §10.4, §13.2); until then at most
    /// 3× what came from it is sent.
    pub validated: bool,
    /// An address the peer was seen at and that is being validated (PROTOCOL.md §13.3): the
    /// connection moves there only once the peer answers a challenge sent there. While a
    /// connection is relayed, its direct addresses are probed too (§13.8): they are not
    /// reported here.
    pub candidate: Option<SocketAddr>,
    /// How many times the path changed since the connection began (a validated move to a new
    /// address, relay → direct or back, PROTOCOL.md §13.4, §13.8): compare two readings to see
    /// a change that came and went between them.
    pub changes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap_or_else(|_| unreachable!())
    }

    /// Issue 13: bytes from another address (which do not land here) raise no budget; those
    /// from the candidate raise its own.
    #[test]
    #[allow(clippy::disallowed_methods)] // a test owns its clock
    fn budgets_count_only_their_own_address() {
        let now = Instant::now();
        let mut c = Candidate::new(now, Duration::from_secs(1), addr("10.0.0.66:666"), [0; 8], 42);
        assert_eq!(c.budget(), 126);
        c.on_sent(100);
        assert_eq!(c.budget(), 26);
        c.on_received(10);
        assert_eq!(c.budget(), 56);
        let mut path = Path::new(addr("10.0.0.2:2000"), false);
        path.on_received(addr("10.0.0.66:666"), 1000);
        path.on_received(addr("10.0.0.2:2000"), 10);
        path.sent = 31;
        assert_eq!(path.budget(), 0);
        assert_eq!(Path::new(addr("10.0.0.2:2000"), true).budget(), u64::MAX);
    }
}
