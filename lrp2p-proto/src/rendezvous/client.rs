//! A peer's side of rendezvous (PROTOCOL.md §13.7.5), sans-IO: the records it sends, and which
//! introductions it acts on.
//!
//! An introduction makes a peer send handshake datagrams to addresses a service named, so a
//! service (or whoever speaks for it) could use peers to flood a victim. [`Client`] acts only on
//! introductions it asked for (a LOOKUP) or whose key the application accepts; on at most one per
//! key per [`INTRODUCTION_INTERVAL`], and on at most [`MAX_RECENT_INTRODUCTIONS`] in any such
//! interval; and never aims at more than [`MAX_DIAL_ADDRESSES`] addresses, none of them port 0,
//! unspecified, multicast or broadcast. The [`Dial`] it returns is the whole of what the host
//! sends: at most [`PROBES_PER_ADDRESS`](super::PROBES_PER_ADDRESS) IK initiations per address.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::records::{Introduction, Record};
use super::{INTRODUCTION_INTERVAL, MAX_DIAL_ADDRESSES, MAX_LOCALS, dialable};
use crate::identity::PublicKey;

/// Most introductions acted on in one [`INTRODUCTION_INTERVAL`], all keys together.
pub const MAX_RECENT_INTRODUCTIONS: usize = 64;

/// Most LOOKUPs awaiting their answer; a further one forgets the oldest.
pub const MAX_PENDING_LOOKUPS: usize = 64;

/// How long a LOOKUP waits for its answer; a later INTRODUCE counts as not asked for.
pub const LOOKUP_LIFETIME: Duration = Duration::from_secs(30);

/// What to do about a record from the service.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The registration is in place: the service sees this peer at `observed` (its NAT's public
    /// mapping), and keeps the registration `ttl` after the last datagram (keep-alives, §13.5,
    /// at a shorter interval hold it).
    Registered {
        /// This peer's address as the service sees it.
        observed: SocketAddr,
        /// The registration's lifetime after the last datagram.
        ttl: Duration,
    },
    /// The key this peer looked up is not registered (or the service refused the lookup).
    NotFound {
        /// The key looked up.
        key: PublicKey,
    },
    /// Dial this peer.
    Dial(Dial),
    /// Nothing to do.
    Ignored(IgnoreReason),
}

/// An introduction acted on: send IK initiations to `key` at each of `addresses` from `at` on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dial {
    /// The peer's static key.
    pub key: PublicKey,
    /// Where to send: the observed address first, then the local addresses; deduplicated,
    /// dialable ([`super::is_dialable`]), at most [`MAX_DIAL_ADDRESSES`], never empty.
    pub addresses: Vec<SocketAddr>,
    /// When to send the first initiations: `now + rtt/2`, `rtt` the service's estimate to the
    /// other peer (libp2p DCUtR's timing), so that both sides' initiations leave at about the
    /// same moment and each opens its NAT's mapping before the other's arrives.
    pub at: Instant,
    /// Whether this peer asked for it (a LOOKUP) rather than being looked up.
    pub asked: bool,
}

/// Why a record was not acted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IgnoreReason {
    /// An INTRODUCE or NOT_FOUND for a key this peer did not look up, and (INTRODUCE) whose key
    /// the application does not accept.
    NotAsked,
    /// An introduction to this key was acted on less than [`INTRODUCTION_INTERVAL`] ago.
    TooSoon,
    /// [`MAX_RECENT_INTRODUCTIONS`] were acted on in the last [`INTRODUCTION_INTERVAL`].
    TooMany,
    /// No address of the introduction is dialable.
    NoAddresses,
    /// REGISTER or LOOKUP, which a service never sends: the host closes the connection with
    /// PROTOCOL_VIOLATION (PROTOCOL.md §13.7.3).
    WrongDirection,
}

/// A peer's rendezvous state: its pending LOOKUPs and the introductions it acted on lately.
/// Both are bounded ([`MAX_PENDING_LOOKUPS`], [`MAX_RECENT_INTRODUCTIONS`]).
#[derive(Clone, Debug, Default)]
pub struct Client {
    /// Keys looked up, and when.
    asked: BTreeMap<PublicKey, Instant>,
    /// Keys whose introduction was acted on in the last interval, and when.
    acted: BTreeMap<PublicKey, Instant>,
}

impl Client {
    /// A client with nothing asked.
    pub fn new() -> Self {
        Client::default()
    }

    /// The REGISTER for these local addresses: the first 8 dialable ones, without repeats.
    pub fn register(&self, locals: &[SocketAddr]) -> Record {
        Record::Register { locals: dialable(locals.iter().copied(), MAX_LOCALS) }
    }

    /// The LOOKUP for `key`; remembers that this peer asked, for [`LOOKUP_LIFETIME`].
    pub fn lookup(&mut self, now: Instant, key: PublicKey) -> Record {
        self.prune(now);
        if !self.asked.contains_key(&key) && self.asked.len() >= MAX_PENDING_LOOKUPS {
            if let Some(oldest) = self.asked.iter().min_by_key(|(_, at)| **at).map(|(k, _)| *k) {
                self.asked.remove(&oldest);
            }
        }
        self.asked.insert(key, now);
        Record::Lookup { key }
    }

    /// Whether a LOOKUP of `key` awaits its answer at `now`.
    pub fn is_pending(&self, now: Instant, key: &PublicKey) -> bool {
        self.asked.get(key).is_some_and(|at| now.saturating_duration_since(*at) < LOOKUP_LIFETIME)
    }

    /// A record from the service; `accepts` says whether the application takes a connection
    /// from a key it did not look up.
    pub fn on_record(
        &mut self,
        now: Instant,
        record: Record,
        accepts: impl Fn(&PublicKey) -> bool,
    ) -> ClientEvent {
        self.prune(now);
        match record {
            Record::Registered { observed, ttl_s } => {
                ClientEvent::Registered { observed, ttl: Duration::from_secs(u64::from(ttl_s)) }
            }
            Record::NotFound { key } => match self.asked.remove(&key) {
                Some(_) => ClientEvent::NotFound { key },
                None => ClientEvent::Ignored(IgnoreReason::NotAsked),
            },
            Record::Introduce(intro) => self.introduction(now, intro, accepts),
            Record::Register { .. } | Record::Lookup { .. } => {
                ClientEvent::Ignored(IgnoreReason::WrongDirection)
            }
        }
    }

    fn introduction(
        &mut self,
        now: Instant,
        intro: Introduction,
        accepts: impl Fn(&PublicKey) -> bool,
    ) -> ClientEvent {
        let key = intro.key;
        let asked = self.asked.contains_key(&key);
        // PROTOCOL.md §13.7.5: only introductions asked for or whose key is accepted.
        if !asked && !accepts(&key) {
            return ClientEvent::Ignored(IgnoreReason::NotAsked);
        }
        // One per key per interval; and a bounded number of keys per interval.
        if self.acted.contains_key(&key) {
            self.asked.remove(&key);
            return ClientEvent::Ignored(IgnoreReason::TooSoon);
        }
        if self.acted.len() >= MAX_RECENT_INTRODUCTIONS {
            return ClientEvent::Ignored(IgnoreReason::TooMany);
        }
        // Only the addresses the peer reported or was seen at, and only dialable ones.
        let addresses = dialable(core::iter::once(intro.observed).chain(intro.locals), MAX_DIAL_ADDRESSES);
        if addresses.is_empty() {
            return ClientEvent::Ignored(IgnoreReason::NoAddresses);
        }
        self.asked.remove(&key);
        self.acted.insert(key, now);
        // libp2p DCUtR: wait half the round trip so that both initiations leave together.
        let at = now + Duration::from_millis(u64::from(intro.rtt_ms)) / 2;
        ClientEvent::Dial(Dial { key, addresses, at, asked })
    }

    /// Forgets lookups older than [`LOOKUP_LIFETIME`] and introductions older than
    /// [`INTRODUCTION_INTERVAL`].
    fn prune(&mut self, now: Instant) {
        self.asked.retain(|_, at| now.saturating_duration_since(*at) < LOOKUP_LIFETIME);
        self.acted.retain(|_, at| now.saturating_duration_since(*at) < INTRODUCTION_INTERVAL);
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
