//! The rendezvous service's state (PROTOCOL.md §13.7.4): who is registered, at which addresses,
//! until when, and the introductions it makes; sans-IO.
//!
//! The host feeds it what its connections carry: [`Registry::register`] for a REGISTER,
//! [`Registry::touch`] for every datagram from a registered peer (it refreshes the
//! registration), [`Registry::lookup`] for a LOOKUP, [`Registry::set_rtt`] with its RTT estimate
//! of each peer's connection, [`Registry::set_observed`] when a connection's path moves; it calls [`Registry::expire`] at [`Registry::next_expiry`], and
//! [`Registry::remove`] when a peer's connection closes.
//!
//! *Memory.* A registration holds the peer's observed address packed into 19 bytes, its local
//! addresses as their wire encoding in a boxed slice (7 bytes per IPv4 address and 19 per IPv6
//! one, on the heap, nothing for none), and times as `u32` seconds since the first `now` the
//! registry saw: 80 bytes with its key in the map (the `size_of` test measures it), plus at
//! most 152 bytes of locals. The map is a `BTreeMap` (no hasher seeded from the OS, and no
//! hash flooding by chosen keys). Measured with a counting allocator (`cargo run --release -p
//! lrp2p-proto --example rendezvous_memory 10000 L`), the heap held per registered peer is 117
//! bytes without local addresses (the map's nodes are not all full), 143 with two (one IPv4,
//! one IPv6) and 221 with eight: about 2.2 MB for 10 000 peers at most.
//!
//! *Bound.* At most `max_peers` registrations. When the table is full, registrations that have
//! expired are dropped first; if none has, a new key is **refused** ([`RegistryFull`]) rather
//! than evicting a live peer: evicting would let anyone with many keys push registered peers
//! out, while refusing only costs newcomers until a registration lapses. A key already
//! registered can always register again (it replaces its registration).
//!
//! *Expiry.* A registration lasts `ttl` after the last datagram, rounded up to the next whole
//! second. [`Registry::next_expiry`] is a lower bound kept without an index (touches only move
//! expiries later); [`Registry::expire`] sweeps the table, at most once per second.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::records::{Cursor, Introduction, Record, put_addr};
use super::{INTRODUCTION_INTERVAL, MAX_LOCALS, dialable};
use crate::identity::PublicKey;

/// The bounds of a [`Registry`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistryConfig {
    /// Most registrations held at once. Default 10 000.
    pub max_peers: usize,
    /// How long a registration lives after the last datagram from its peer (sent in REGISTERED
    /// as whole seconds, at least 1, at most 65 535). Default 60 s.
    pub ttl: Duration,
    /// Most introductions one asker's LOOKUPs make in a 10 s window; further LOOKUPs are
    /// answered NOT_FOUND. The windows are fixed (one starts at the first LOOKUP after the
    /// previous one ended), so a burst across a window's end may make twice this. Default 10.
    pub introductions_per_key_per_10s: u8,
    /// Bytes per second one registered peer may send through the relay (PROTOCOL.md §13.8,
    /// a token bucket holding a quarter second's worth); what exceeds it is dropped. `0`: the
    /// service relays nothing. Default 12.5 MB/s (100 Mbit/s).
    pub relay_bytes_per_second: u64,
    /// Datagrams per second one registered peer may send through the relay (a token bucket
    /// likewise). Default 20 000.
    pub relay_datagrams_per_second: u32,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            max_peers: 10_000,
            ttl: Duration::from_secs(60),
            introductions_per_key_per_10s: 10,
            relay_bytes_per_second: 12_500_000,
            relay_datagrams_per_second: 20_000,
        }
    }
}

/// A REGISTER refused: the table holds `max_peers` live registrations of other keys. The
/// service answers no REGISTERED and closes the peer's connection with REFUSED (PROTOCOL.md
/// §13.7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the rendezvous registry is full ({0} registrations)")]
pub struct RegistryFull(pub usize);

/// The outcome of a LOOKUP.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Lookup {
    /// Send `to_asker` to the asker and `to_wanted` to the peer looked up, each as
    /// [`Record::Introduce`].
    Introduce {
        /// The wanted peer's key, addresses and RTT, for the asker.
        to_asker: Introduction,
        /// The asker's key, addresses and RTT, for the wanted peer.
        to_wanted: Introduction,
    },
    /// The key looked up has no registration (or is the asker's own): answer NOT_FOUND.
    NotFound,
    /// The asker has no registration, so there is no address to give the wanted peer:
    /// answer NOT_FOUND.
    AskerNotRegistered,
    /// The asker has used its introductions for this 10 s window: answer NOT_FOUND.
    RateLimited,
}

impl Lookup {
    /// The record the asker gets for a LOOKUP of `wanted` (the wanted peer gets `to_wanted`
    /// besides when this is an introduction).
    pub fn reply(&self, wanted: PublicKey) -> Record {
        match self {
            Lookup::Introduce { to_asker, .. } => Record::Introduce(to_asker.clone()),
            _ => Record::NotFound { key: wanted },
        }
    }
}

/// An IP address and port in 19 bytes (alignment 1): a family flag, 16 bytes of IP (an IPv4
/// address in its first 4), the port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PackedAddr {
    v6: bool,
    ip: [u8; 16],
    port: [u8; 2],
}

impl PackedAddr {
    fn new(addr: SocketAddr) -> Self {
        let mut ip = [0; 16];
        let v6 = match addr.ip() {
            IpAddr::V4(v4) => {
                ip[..4].copy_from_slice(&v4.octets());
                false
            }
            IpAddr::V6(v6) => {
                ip = v6.octets();
                true
            }
        };
        PackedAddr { v6, ip, port: addr.port().to_be_bytes() }
    }

    fn get(&self) -> SocketAddr {
        let ip = if self.v6 {
            IpAddr::V6(Ipv6Addr::from(self.ip))
        } else {
            IpAddr::V4(Ipv4Addr::new(self.ip[0], self.ip[1], self.ip[2], self.ip[3]))
        };
        SocketAddr::new(ip, u16::from_be_bytes(self.port))
    }
}

/// One registration.
#[derive(Debug)]
struct Peer {
    /// Where the service sees the peer (the source of its datagrams).
    observed: PackedAddr,
    /// The peer's local addresses, encoded as in a record (`family | IP | port` each).
    locals: Box<[u8]>,
    /// When the registration expires, in seconds since the registry's epoch.
    expires_s: u32,
    /// Start of the peer's current 10 s introduction window, in seconds since the epoch.
    window_s: u32,
    /// Introductions the peer's LOOKUPs made in that window.
    introductions: u8,
    /// The host's RTT estimate of the peer's connection, in ms (0: unknown).
    rtt_ms: u16,
}

impl Peer {
    fn locals(&self) -> Vec<SocketAddr> {
        let mut cursor = Cursor(&self.locals);
        let mut out = Vec::with_capacity(MAX_LOCALS);
        // Encoded by `register` from checked addresses: decoding cannot fail; stop if it did.
        while !cursor.0.is_empty() {
            match cursor.addr() {
                Ok(addr) => out.push(addr),
                Err(_) => break,
            }
        }
        out
    }

    fn introduction(&self, key: PublicKey) -> Introduction {
        Introduction { key, observed: self.observed.get(), locals: self.locals(), rtt_ms: self.rtt_ms }
    }
}

/// The registrations of a rendezvous service (see the module documentation).
#[derive(Debug)]
pub struct Registry {
    config: RegistryConfig,
    peers: BTreeMap<PublicKey, Peer>,
    /// The first `now` seen: times are stored as seconds since then.
    epoch: Option<Instant>,
    /// No registration expires before this (seconds since the epoch).
    earliest_expiry_s: Option<u32>,
}

impl Registry {
    /// An empty registry.
    pub fn new(config: RegistryConfig) -> Self {
        Registry { config, peers: BTreeMap::new(), epoch: None, earliest_expiry_s: None }
    }

    /// The registry's bounds.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// How many peers are registered (expired ones included until [`Registry::expire`]).
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether no peer is registered.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Whether `key` has a registration.
    pub fn contains(&self, key: &PublicKey) -> bool {
        self.peers.contains_key(key)
    }

    /// The lifetime sent in REGISTERED: `ttl` in whole seconds, 1 to 65 535.
    pub fn ttl_s(&self) -> u16 {
        u16::try_from(self.config.ttl.as_secs()).unwrap_or(u16::MAX).max(1)
    }

    /// A REGISTER from `key`, whose datagrams come from `observed`: records it (replacing any
    /// registration of the same key) and returns the REGISTERED to send back. `locals` keeps its
    /// first 8 addresses that [`super::is_dialable`] accepts, without repeats.
    pub fn register(
        &mut self,
        now: Instant,
        key: PublicKey,
        observed: SocketAddr,
        locals: &[SocketAddr],
    ) -> Result<Record, RegistryFull> {
        let now_s = self.secs(now);
        if !self.peers.contains_key(&key) && self.peers.len() >= self.config.max_peers {
            self.expire(now);
            if self.peers.len() >= self.config.max_peers {
                return Err(RegistryFull(self.peers.len()));
            }
        }
        let mut encoded = Vec::new();
        for addr in dialable(locals.iter().copied(), MAX_LOCALS) {
            put_addr(&mut encoded, &addr);
        }
        let expires_s = self.expiry_from(now_s);
        let rtt_ms = self.peers.get(&key).map_or(0, |old| old.rtt_ms);
        let peer = Peer {
            observed: PackedAddr::new(observed),
            locals: encoded.into_boxed_slice(),
            expires_s,
            window_s: now_s,
            introductions: 0,
            rtt_ms,
        };
        // A replaced registration keeps its introduction window: re-registering resets nothing.
        let peer = match self.peers.remove(&key) {
            Some(old) => Peer { window_s: old.window_s, introductions: old.introductions, ..peer },
            None => peer,
        };
        self.peers.insert(key, peer);
        self.lower_earliest(expires_s);
        Ok(Record::Registered { observed, ttl_s: self.ttl_s() })
    }

    /// A datagram from `key` arrived: its registration lives `ttl` from now. Returns whether
    /// `key` is registered (a registration that has expired is not revived: the peer registers
    /// again).
    pub fn touch(&mut self, now: Instant, key: &PublicKey) -> bool {
        let now_s = self.secs(now);
        let expires_s = self.expiry_from(now_s);
        match self.peers.get_mut(key) {
            Some(peer) if peer.expires_s > now_s => {
                peer.expires_s = peer.expires_s.max(expires_s);
                true
            }
            _ => false,
        }
    }

    /// `key`'s connection moved to a new current path (PROTOCOL.md §13.4): the service sees the
    /// peer at `observed` now. Returns whether `key` is registered.
    pub fn set_observed(&mut self, key: &PublicKey, observed: SocketAddr) -> bool {
        match self.peers.get_mut(key) {
            Some(peer) => {
                peer.observed = PackedAddr::new(observed);
                true
            }
            None => false,
        }
    }

    /// The host's RTT estimate of `key`'s connection, sent to the peers it is introduced to
    /// (in ms, at most 65 535). Returns whether `key` is registered.
    pub fn set_rtt(&mut self, key: &PublicKey, rtt: Duration) -> bool {
        match self.peers.get_mut(key) {
            Some(peer) => {
                peer.rtt_ms = u16::try_from(rtt.as_millis()).unwrap_or(u16::MAX);
                true
            }
            None => false,
        }
    }

    /// A LOOKUP from `asker` for `wanted`.
    pub fn lookup(&mut self, now: Instant, asker: &PublicKey, wanted: &PublicKey) -> Lookup {
        let now_s = self.secs(now);
        let limit = self.config.introductions_per_key_per_10s;
        let window = u32::try_from(INTRODUCTION_INTERVAL.as_secs()).unwrap_or(u32::MAX);
        let live = |peer: &Peer| peer.expires_s > now_s;
        let Some(asking) = self.peers.get(asker).filter(|p| live(p)) else {
            return Lookup::AskerNotRegistered;
        };
        let to_wanted = asking.introduction(*asker);
        let to_asker = match self.peers.get(wanted).filter(|p| live(p)) {
            Some(peer) if wanted != asker => peer.introduction(*wanted),
            _ => return Lookup::NotFound,
        };
        let Some(asking) = self.peers.get_mut(asker) else { return Lookup::AskerNotRegistered };
        if now_s >= asking.window_s.saturating_add(window) {
            asking.window_s = now_s;
            asking.introductions = 0;
        }
        if asking.introductions >= limit {
            return Lookup::RateLimited;
        }
        asking.introductions += 1;
        Lookup::Introduce { to_asker, to_wanted }
    }

    /// Drops the registrations that have expired by `now`; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let now_s = self.secs(now);
        if self.earliest_expiry_s.is_none_or(|s| s > now_s) {
            return 0;
        }
        let before = self.peers.len();
        self.peers.retain(|_, peer| peer.expires_s > now_s);
        self.earliest_expiry_s = self.peers.values().map(|p| p.expires_s).min();
        before - self.peers.len()
    }

    /// When to call [`Registry::expire`] next: no registration expires before then (some may
    /// live longer, having been refreshed since). `None` when nothing is registered.
    pub fn next_expiry(&self) -> Option<Instant> {
        let epoch = self.epoch?;
        self.earliest_expiry_s.map(|s| epoch + Duration::from_secs(u64::from(s)))
    }

    /// Drops `key`'s registration (its connection closed); returns whether it had one.
    pub fn remove(&mut self, key: &PublicKey) -> bool {
        let removed = self.peers.remove(key).is_some();
        if self.peers.is_empty() {
            self.earliest_expiry_s = None;
        }
        removed
    }

    /// `now` in whole seconds since the epoch (the first `now` seen), saturating.
    fn secs(&mut self, now: Instant) -> u32 {
        let epoch = *self.epoch.get_or_insert(now);
        u32::try_from(now.saturating_duration_since(epoch).as_secs()).unwrap_or(u32::MAX)
    }

    /// The expiry of a registration refreshed at `now_s`: `ttl` later, rounded up to a second.
    fn expiry_from(&self, now_s: u32) -> u32 {
        now_s.saturating_add(u32::from(self.ttl_s())).saturating_add(1)
    }

    fn lower_earliest(&mut self, expires_s: u32) {
        self.earliest_expiry_s = Some(self.earliest_expiry_s.map_or(expires_s, |s| s.min(expires_s)));
    }
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
