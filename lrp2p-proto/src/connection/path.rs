//! The path to the peer: its address, and the anti-amplification budget that applies until the
//! peer has proven it receives there (PROTOCOL.md §10.4, §12.6).

use std::net::SocketAddr;

/// The path to the peer and its anti-amplification budget.
#[derive(Debug, Clone, Copy)]
pub(super) struct Path {
    pub(super) remote: SocketAddr,
    /// The peer proved it receives at `remote`; no budget applies.
    pub(super) validated: bool,
    /// Bytes received from `remote` since it became the path (only from `remote`: see
    /// [`Path::on_received`]).
    received: u64,
    /// Bytes sent to `remote` since it became the path.
    pub(super) sent: u64,
    /// After a move to a new address: the first sequence number sent there. An ACK of it (or of
    /// a later one) proves that the peer receives there (PROTOCOL.md §12.6).
    probe: Option<u64>,
}

impl Path {
    /// The path to `remote`; `validated` when this side chose the address itself (an initiator).
    pub(super) fn new(remote: SocketAddr, validated: bool) -> Self {
        Path { remote, validated, received: 0, sent: 0, probe: None }
    }

    /// Before validation a side sends at most 3× what it received (PROTOCOL.md §10.4).
    pub(super) fn budget(&self) -> u64 {
        if self.validated { u64::MAX } else { (3 * self.received).saturating_sub(self.sent) }
    }

    /// The peer moved to `remote` (PROTOCOL.md §6.4): unproven until it acknowledges data sent
    /// there, from sequence number `probe` on; `received` bytes came from it.
    pub(super) fn move_to(&mut self, remote: SocketAddr, received: u64, probe: u64) {
        *self = Path { remote, validated: false, received, sent: 0, probe: Some(probe) };
    }

    /// A datagram of `len` bytes from `from` was accepted (authenticated, or a valid handshake
    /// message). PROTOCOL.md §12.6 (as RFC 9000 §8: the limit counts bytes received *from the
    /// address*): only bytes from `remote` raise its budget; a packet from any other address
    /// (a delayed or replayed one that does not move the path) raises no budget at all.
    pub(super) fn on_received(&mut self, from: SocketAddr, len: usize) {
        if from == self.remote {
            self.received = self.received.saturating_add(len as u64);
        }
    }

    /// An authenticated ACK from `from` acknowledges sequence numbers up to `highest`.
    /// PROTOCOL.md §12.6: an acknowledgement of data sent only to the new address (from the
    /// probe on) validates it, but only when it arrives *from* that address: an ACK arriving
    /// from elsewhere (delayed, or replayed by an attacker) proves nothing about `remote`.
    pub(super) fn on_acknowledged(&mut self, from: SocketAddr, highest: u64) {
        if from == self.remote && self.probe.is_some_and(|probe| highest >= probe) {
            self.validated = true;
            self.probe = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap_or_else(|_| unreachable!())
    }

    /// Issue 13: bytes from a third address Y (a delayed packet that does not move the path)
    /// raise no budget toward the new address X.
    #[test]
    fn bytes_from_another_address_raise_no_budget() {
        let (x, y) = (addr("10.0.0.66:666"), addr("10.0.0.2:2000"));
        let mut path = Path::new(y, true);
        path.move_to(x, 42, 10);
        assert_eq!(path.budget(), 126);
        path.on_received(y, 1000);
        assert_eq!(path.budget(), 126);
        path.on_received(x, 10);
        assert_eq!(path.budget(), 156);
    }

    /// Issue 13: an ACK from Y of data sent to X does not validate X; one from X does.
    #[test]
    fn only_an_ack_from_the_new_address_validates_it() {
        let (x, y) = (addr("10.0.0.66:666"), addr("10.0.0.2:2000"));
        let mut path = Path::new(y, true);
        path.move_to(x, 42, 10);
        path.on_acknowledged(y, 20);
        assert!(!path.validated);
        path.on_acknowledged(x, 9);
        assert!(!path.validated, "data sent before the move proves nothing");
        path.on_acknowledged(x, 10);
        assert!(path.validated);
    }
}
