//! 0-RTT safety: deciding whether the early data of an IK initiation may be delivered.
//!
//! Early data rides in Noise IK message 1, which an attacker can capture and replay: the
//! responder cannot tell a replay from the original by cryptography alone (Noise §7.7: payload
//! security property 2 for the initiator's first message — no replay protection, no forward
//! secrecy for the responder). So every IK initiation carries the initiator's wall-clock
//! timestamp inside its encrypted payload, and a responder delivers early data only when:
//!
//! 1. the timestamp is within ±[`EarlyDataConfig::freshness`] of the responder's own wall clock
//!    (a freshness check in the manner of RFC 8446 §8.3), so old captures are worthless;
//! 2. the timestamp is strictly above the peer's *floor* and not among its recently accepted
//!    timestamps. WireGuard keeps only the greatest timestamp per peer (whitepaper §5.1); we keep
//!    a few more so that concurrent initiations from one peer may arrive out of order;
//! 3. there is room to remember the peer. The table is bounded; when it is full of records that
//!    still matter, early data is refused — the safe fallback, since the initiator then resends
//!    the same bytes as ordinary 1-RTT data.
//!
//! Records are evicted only once every timestamp they hold is older than the freshness window,
//! at which point rule 1 alone rejects anything they would have rejected. Memory is bounded by
//! `max_peers` records of 72 bytes each. The caller passes wall-clock time in; nothing here
//! reads a clock.
//!
//! A restart loses the table, so (PROTOCOL.md §9.3) a new record starts with the floor
//! `F0 = T0 + freshness`, where `T0` is when this guard was created: for one freshness window
//! after start-up no early data is accepted (it arrives one round trip later as 1-RTT data), and
//! a capture accepted before a restart can never be accepted again.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::identity::PublicKey;

/// How many accepted timestamps above the floor a peer record keeps.
const RECENT: usize = 7;

/// Limits of the early-data replay guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EarlyDataConfig {
    /// How far an initiation's timestamp may differ from the responder's wall clock (±).
    pub freshness: Duration,
    /// How many peers the guard remembers at most.
    pub max_peers: usize,
    /// Refuse early data stamped before start-up + `freshness` (PROTOCOL.md §9.3), because a
    /// capture accepted before a restart could otherwise be accepted again. Turn it off only
    /// when the static key was created at this start-up: nothing can have been captured then.
    pub start_floor: bool,
}

impl Default for EarlyDataConfig {
    fn default() -> Self {
        EarlyDataConfig { freshness: Duration::from_secs(30), max_peers: 16_384, start_floor: true }
    }
}

/// Why early data was not accepted. The handshake itself may still proceed (1-RTT).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EarlyReject {
    /// The timestamp is outside the freshness window around the responder's clock.
    #[error("initiation timestamp outside the freshness window")]
    Stale,
    /// This timestamp was already accepted from this peer (or is below its floor): a replay.
    #[error("initiation replayed")]
    Replay,
    /// The guard's table is full of records that cannot yet be forgotten.
    #[error("early-data replay table full")]
    TableFull,
}

/// What the guard remembers of one peer.
#[derive(Clone, Copy, Debug, Default)]
struct PeerRecord {
    /// Every timestamp at or below this is rejected.
    floor: u64,
    /// Accepted timestamps above the floor, unordered; `len` of them are valid.
    recent: [u64; RECENT],
    len: u8,
}

impl PeerRecord {
    fn seen(&self, ts: u64) -> bool {
        ts <= self.floor || self.recent[..usize::from(self.len)].contains(&ts)
    }

    fn newest(&self) -> u64 {
        self.recent[..usize::from(self.len)].iter().copied().fold(self.floor, u64::max)
    }

    /// Records an accepted timestamp, raising the floor past whatever it must forget.
    fn insert(&mut self, ts: u64) {
        let len = usize::from(self.len);
        if len < RECENT {
            self.recent[len] = ts;
            self.len += 1;
            return;
        }
        let (idx, &oldest) =
            self.recent.iter().enumerate().min_by_key(|&(_, &t)| t).unwrap_or((0, &self.recent[0]));
        if ts < oldest {
            self.floor = self.floor.max(ts);
        } else {
            self.floor = self.floor.max(oldest);
            self.recent[idx] = ts;
        }
    }
}

/// The responder's replay guard for 0-RTT data (see the module docs for the rules).
#[derive(Debug)]
pub struct EarlyDataGuard {
    config: EarlyDataConfig,
    /// F0: the floor of every new record (creation time + freshness window).
    initial_floor: u64,
    // A BTreeMap: keys are chosen by the network (anyone can make a key pair), so no hashing
    // whose collisions an attacker could aim for, and no randomness needed to key a hasher.
    peers: BTreeMap<PublicKey, PeerRecord>,
}

impl EarlyDataGuard {
    /// A guard with the given limits, created when the wall clock reads `now_unix_ns`
    /// (nanoseconds since the Unix epoch). It accepts no early data stamped at or before
    /// `now_unix_ns + freshness` (see the module docs).
    pub fn new(config: EarlyDataConfig, now_unix_ns: u64) -> Self {
        let initial_floor =
            if config.start_floor { now_unix_ns.saturating_add(freshness_ns(&config)) } else { 0 };
        EarlyDataGuard { config, initial_floor, peers: BTreeMap::new() }
    }

    /// Number of peers currently remembered.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether no peer is remembered.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Whether an initiation from `peer` stamped `timestamp_ns` was certainly seen before: this
    /// guard accepted exactly that timestamp, and still holds it among the peer's recent ones.
    /// What a responder drops whole (PROTOCOL.md §10.2). Not when the timestamp is merely below
    /// the peer's floor, the start-up floor or outside the freshness window: concurrent
    /// initiations from one peer arrive out of order (one refused by a limit at first comes back
    /// after later ones were accepted), so such an initiation may be genuine; its early data is
    /// refused, and its connection proceeds.
    pub fn seen_before(&self, peer: &PublicKey, timestamp_ns: u64) -> bool {
        self.peers
            .get(peer)
            .is_some_and(|record| record.recent[..usize::from(record.len)].contains(&timestamp_ns))
    }

    /// Decides whether early data from `peer`, stamped `timestamp_ns` (nanoseconds since the Unix
    /// epoch, as sent), may be delivered when the responder's wall clock reads `now_unix_ns`.
    /// On `Ok` the timestamp is recorded, so the same initiation is never accepted twice.
    pub fn check_and_record(
        &mut self,
        peer: &PublicKey,
        timestamp_ns: u64,
        now_unix_ns: u64,
    ) -> Result<(), EarlyReject> {
        let window = freshness_ns(&self.config);
        if timestamp_ns.abs_diff(now_unix_ns) > window {
            return Err(EarlyReject::Stale);
        }
        if let Some(record) = self.peers.get_mut(peer) {
            if record.seen(timestamp_ns) {
                return Err(EarlyReject::Replay);
            }
            record.insert(timestamp_ns);
            return Ok(());
        }
        if self.peers.len() >= self.config.max_peers {
            let horizon = now_unix_ns.saturating_sub(window);
            self.peers.retain(|_, r| r.newest() >= horizon);
            if self.peers.len() >= self.config.max_peers {
                return Err(EarlyReject::TableFull);
            }
        }
        let mut record = PeerRecord { floor: self.initial_floor, ..PeerRecord::default() };
        if record.seen(timestamp_ns) {
            return Err(EarlyReject::Replay);
        }
        record.insert(timestamp_ns);
        self.peers.insert(*peer, record);
        Ok(())
    }
}

fn freshness_ns(config: &EarlyDataConfig) -> u64 {
    u64::try_from(config.freshness.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;
    const NOW: u64 = 1_700_000_000 * SEC;

    /// A guard that has been running for a minute, past its start-up floor.
    fn guard(config: EarlyDataConfig) -> EarlyDataGuard {
        EarlyDataGuard::new(config, NOW - 60 * SEC)
    }

    fn peer(n: u8) -> PublicKey {
        PublicKey::from_bytes([n; 32])
    }

    #[test]
    fn only_a_timestamp_accepted_before_counts_as_seen() {
        let mut g = guard(EarlyDataConfig::default());
        assert!(!g.seen_before(&peer(1), NOW));
        assert_eq!(g.check_and_record(&peer(1), NOW, NOW), Ok(()));
        assert!(g.seen_before(&peer(1), NOW));
        assert!(!g.seen_before(&peer(1), NOW + 1), "a newer initiation");
        assert!(!g.seen_before(&peer(2), NOW), "another peer");
        // A guard that just started refuses early data below its floor, but that is not a replay.
        let mut fresh = EarlyDataGuard::new(EarlyDataConfig::default(), NOW);
        assert_eq!(fresh.check_and_record(&peer(1), NOW + SEC, NOW + SEC), Err(EarlyReject::Replay));
        assert!(!fresh.seen_before(&peer(1), NOW + SEC));
        // Past RECENT accepted timestamps the floor rises: what falls below it may be a genuine
        // initiation that arrived late; its early data is refused, but it is not "seen".
        for i in 1..=20 {
            assert_eq!(g.check_and_record(&peer(1), NOW + i, NOW), Ok(()));
        }
        assert!(!g.seen_before(&peer(1), NOW + 3));
        assert_eq!(g.check_and_record(&peer(1), NOW + 3, NOW), Err(EarlyReject::Replay));
        assert!(g.seen_before(&peer(1), NOW + 20));
    }

    #[test]
    fn early_replay_of_same_timestamp_rejected_immediately_and_later() {
        let mut g = guard(EarlyDataConfig::default());
        assert_eq!(g.check_and_record(&peer(1), NOW, NOW), Ok(()));
        assert_eq!(g.check_and_record(&peer(1), NOW, NOW), Err(EarlyReject::Replay));
        assert_eq!(g.check_and_record(&peer(1), NOW, NOW + 29 * SEC), Err(EarlyReject::Replay));
        assert_eq!(g.check_and_record(&peer(1), NOW, NOW + 31 * SEC), Err(EarlyReject::Stale));
        // Another peer with the same timestamp is a different initiation.
        assert_eq!(g.check_and_record(&peer(2), NOW, NOW), Ok(()));
    }

    #[test]
    fn early_nothing_from_before_a_restart_is_accepted() {
        // A guard created at NOW (a restart) has lost its table: a capture stamped up to 30 s
        // ago could have been accepted before the restart, so it must be refused now.
        let mut g = EarlyDataGuard::new(EarlyDataConfig::default(), NOW);
        assert_eq!(g.check_and_record(&peer(1), NOW - SEC, NOW), Err(EarlyReject::Replay));
        assert_eq!(g.check_and_record(&peer(1), NOW + 10 * SEC, NOW + 10 * SEC), Err(EarlyReject::Replay));
        let later = NOW + 31 * SEC;
        assert_eq!(g.check_and_record(&peer(1), later, later), Ok(()));
    }

    #[test]
    fn early_freshness_window_both_directions() {
        let mut g = guard(EarlyDataConfig::default());
        assert_eq!(g.check_and_record(&peer(1), NOW - 31 * SEC, NOW), Err(EarlyReject::Stale));
        assert_eq!(g.check_and_record(&peer(1), NOW + 31 * SEC, NOW), Err(EarlyReject::Stale));
        assert_eq!(g.check_and_record(&peer(1), NOW + 30 * SEC, NOW), Ok(()));
        assert_eq!(g.check_and_record(&peer(1), 0, u64::MAX), Err(EarlyReject::Stale));
    }

    #[test]
    fn early_reordered_initiations_accepted_once_each() {
        let mut g = guard(EarlyDataConfig::default());
        for ts in [5, 3, 9, 1, 7, 2, 8, 4, 6] {
            assert_eq!(g.check_and_record(&peer(1), NOW + ts, NOW), Ok(()), "ts {ts}");
        }
        for ts in 1..=9 {
            assert_eq!(g.check_and_record(&peer(1), NOW + ts, NOW), Err(EarlyReject::Replay), "ts {ts}");
        }
        assert_eq!(g.check_and_record(&peer(1), NOW + 10, NOW), Ok(()));
    }

    #[test]
    fn early_forgotten_timestamps_stay_rejected_via_floor() {
        let mut g = guard(EarlyDataConfig::default());
        for ts in 100..200 {
            assert_eq!(g.check_and_record(&peer(1), NOW + ts, NOW), Ok(()));
        }
        for ts in 0..200 {
            assert!(g.check_and_record(&peer(1), NOW + ts, NOW).is_err(), "ts {ts} accepted twice");
        }
    }

    #[test]
    fn early_table_is_bounded_and_evicts_only_expired_records() {
        let config = EarlyDataConfig { freshness: Duration::from_secs(30), max_peers: 4, start_floor: true };
        let mut g = guard(config);
        for n in 0..4 {
            assert_eq!(g.check_and_record(&peer(n), NOW, NOW), Ok(()));
        }
        assert_eq!(g.check_and_record(&peer(9), NOW, NOW), Err(EarlyReject::TableFull));
        assert_eq!(g.len(), 4);
        // 31 s later every record has expired: room again, and old replays are stale anyway.
        let later = NOW + 31 * SEC;
        assert_eq!(g.check_and_record(&peer(9), later, later), Ok(()));
        assert_eq!(g.len(), 1);
        assert_eq!(g.check_and_record(&peer(0), NOW, later), Err(EarlyReject::Stale));
    }
}
