//! PUNCH datagrams (PROTOCOL.md §13.7): the introduced side sends them to the asker's
//! addresses ([`Endpoint::punch`]), which opens its own NAT toward the asker; the asker, dialing
//! that peer by key (`Endpoint::connect_many`), takes an authentic PUNCH from address X as one
//! more address to send its initiation to (X is where the peer's NAT maps it toward the asker).
//! Punches are queued here, bounded, each sent at its time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand_core::{CryptoRng, RngCore};

use super::Endpoint;
use crate::connection::{MAX_DIAL_ADDRESSES, dialable};
use crate::crypto::punch::PunchKey;
use crate::identity::PublicKey;
use crate::wire::{PUNCH_LEN, PunchRepr};

/// When each round of punches goes, after [`Endpoint::punch`] (PROTOCOL.md §13.7: at most 3
/// datagrams to each address).
pub(super) const PUNCH_ROUNDS: [Duration; 3] =
    [Duration::ZERO, Duration::from_millis(200), Duration::from_millis(600)];

/// Punches queued at most: three introductions' worth.
pub(super) const MAX_QUEUED_PUNCHES: usize = 3 * MAX_DIAL_ADDRESSES * PUNCH_ROUNDS.len();

/// One PUNCH waiting for its time.
#[derive(Debug, Clone, Copy)]
pub(super) struct QueuedPunch {
    at: Instant,
    to: SocketAddr,
    datagram: [u8; PUNCH_LEN],
}

impl<R: RngCore + CryptoRng> Endpoint<R> {
    /// Sends PUNCH datagrams to `peer` at `addresses` (PROTOCOL.md §13.7): what the side a
    /// rendezvous introduced does, so that its NAT lets the asker's initiation in and the
    /// asker learns the address this side's NAT really gives it toward the asker. Three rounds
    /// (now, +200 ms, +600 ms) to each of at most [`MAX_DIAL_ADDRESSES`] dialable addresses,
    /// within a bounded queue. Returns how many addresses will be punched (0 for a low-order
    /// key, no dialable address, or a full queue).
    pub fn punch(&mut self, now: Instant, peer: PublicKey, addresses: &[SocketAddr]) -> usize {
        let Some(key) = PunchKey::new(&self.identity, &peer) else { return 0 };
        let me = self.identity.public_key();
        let mut targets: Vec<SocketAddr> = Vec::new();
        for addr in addresses.iter().filter(|a| dialable(a)) {
            if !targets.contains(addr) && targets.len() < MAX_DIAL_ADDRESSES {
                targets.push(*addr);
            }
        }
        if self.punches.len() + targets.len() * PUNCH_ROUNDS.len() > MAX_QUEUED_PUNCHES {
            return 0;
        }
        for round in PUNCH_ROUNDS {
            for to in &targets {
                let nonce = self.rng.next_u64();
                let repr = PunchRepr { sender: me, nonce, tag: key.tag(&me, &peer, nonce) };
                let mut datagram = [0u8; PUNCH_LEN];
                if repr.emit(&mut datagram).is_ok() {
                    self.punches.push(QueuedPunch { at: now + round, to: *to, datagram });
                }
            }
        }
        targets.len()
    }

    /// The earliest queued punch's time.
    pub(super) fn next_punch(&self) -> Option<Instant> {
        self.punches.iter().map(|p| p.at).min()
    }

    /// A punch due at `now`, written into `buf`: its destination and length.
    pub(super) fn poll_punch(&mut self, now: Instant, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        let index = self.punches.iter().position(|p| p.at <= now)?;
        let out = buf.get_mut(..PUNCH_LEN)?;
        let punch = self.punches.swap_remove(index);
        out.copy_from_slice(&punch.datagram);
        self.stats.punches_sent += 1;
        Some((punch.to, PUNCH_LEN))
    }

    /// A PUNCH from `from` (PROTOCOL.md §13.7): authentic and from a peer this side is dialing
    /// by key, its address becomes one more the initiation goes to (within §13.6's bounds).
    pub(super) fn on_punch(&mut self, from: SocketAddr, datagram: &[u8]) {
        let Ok(punch) = PunchRepr::parse(datagram) else {
            self.stats.malformed += 1;
            return;
        };
        let Some(handle) = self.table.find(|c| c.punchable_by(&punch.sender)) else {
            // Nobody here dials that key (or it does not take punches): nothing to do.
            self.stats.unexpected += 1;
            return;
        };
        let me = self.identity.public_key();
        let Some(conn) = self.table.get_mut(handle) else { return };
        if !conn.verify_punch(&punch, &me) {
            self.stats.auth_failures += 1;
            return;
        }
        self.stats.accepted += 1;
        self.stats.punches_received += 1;
        conn.on_punch_from(from);
        self.touched(handle);
    }
}
