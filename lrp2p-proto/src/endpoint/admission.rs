//! What admission keeps between initiations (PROTOCOL.md §10): the handshake budget that turns
//! cookies on under load, and the per-address and per-prefix counts of responder connections.
//!
//! - [`HandshakeBudget`]: a token bucket of Diffie-Hellman work. Every initiation the responder
//!   reads or answers costs a token; `handshake_budget` tokens come back per second, up to that
//!   many. With the bucket empty the endpoint is under load, as it is when the half-open count
//!   reaches `cookie_threshold`: an initiation must then carry a valid cookie MAC for its source
//!   address, and one without gets a cookie reply and no X25519 work at all.
//! - [`AddressCounts`]: responder connections by source, at two levels: the address (IPv4 /32,
//!   IPv6 /64) and the prefix (IPv4 /24, IPv6 /48), half-open ones and all of them, so that no
//!   single host or network takes every slot of the tables.
//!
//! Keys are chosen by the network, so the maps are `BTreeMap`s (no hash collisions to aim for);
//! their size is bounded by the connections the endpoint holds.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::config::AddressLimits;

/// A token bucket of handshakes (see the module documentation).
#[derive(Debug, Clone)]
pub(super) struct HandshakeBudget {
    /// Tokens per second, and the bucket's size.
    rate: f64,
    tokens: f64,
    refilled: Instant,
}

impl HandshakeBudget {
    /// A full bucket of `per_second` tokens at `now`.
    pub(super) fn new(per_second: u32, now: Instant) -> Self {
        let rate = f64::from(per_second);
        HandshakeBudget { rate, tokens: rate, refilled: now }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        self.refilled = self.refilled.max(now);
    }

    /// Whether the budget is spent at `now`: the endpoint is under load.
    pub(super) fn exhausted(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens < 1.0
    }

    /// One handshake's worth of work was done (taken even from an empty bucket: the work was
    /// admitted by a cookie).
    pub(super) fn spend(&mut self, now: Instant) {
        self.refill(now);
        self.tokens = (self.tokens - 1.0).max(-self.rate);
    }
}

/// Where a source address is counted: its address and its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    /// IPv4 /32 or IPv6 /64.
    Address(IpAddr),
    /// IPv4 /24 or IPv6 /48.
    Prefix(IpAddr),
}

/// The two keys of `addr` (the network bits of each level, the rest zeroed).
fn sources(addr: &SocketAddr) -> [Source; 2] {
    match addr.ip() {
        IpAddr::V4(ip) => {
            let bits = u32::from(ip);
            [Source::Address(IpAddr::V4(ip)), Source::Prefix(IpAddr::V4((bits & 0xffff_ff00).into()))]
        }
        IpAddr::V6(ip) => {
            let bits = u128::from(ip);
            let mask = |len: u32| bits & (u128::MAX << (128 - len));
            [Source::Address(IpAddr::V6(mask(64).into())), Source::Prefix(IpAddr::V6(mask(48).into()))]
        }
    }
}

/// Half-open and total responder connections at one source.
#[derive(Debug, Clone, Copy, Default)]
struct Count {
    half_open: usize,
    connections: usize,
}

/// Responder connections by source address and prefix (see the module documentation).
#[derive(Debug, Default)]
pub(super) struct AddressCounts {
    counts: BTreeMap<Source, Count>,
}

impl AddressCounts {
    /// Whether one more half-open connection from `addr` fits `limits`.
    pub(super) fn admits(&self, addr: &SocketAddr, limits: &AddressLimits) -> bool {
        let [address, prefix] = sources(addr).map(|s| self.counts.get(&s).copied().unwrap_or_default());
        address.half_open < limits.half_open_per_address
            && prefix.half_open < limits.half_open_per_prefix
            && address.connections < limits.connections_per_address
            && prefix.connections < limits.connections_per_prefix
    }

    /// A responder connection from `addr` appeared (half-open, as every one starts).
    pub(super) fn add(&mut self, addr: &SocketAddr) {
        for source in sources(addr) {
            let count = self.counts.entry(source).or_default();
            count.connections += 1;
            count.half_open += 1;
        }
    }

    /// The connection from `addr` left the half-open state (`true`) or fell back into it.
    pub(super) fn set_half_open(&mut self, addr: &SocketAddr, half_open: bool) {
        for source in sources(addr) {
            if let Some(count) = self.counts.get_mut(&source) {
                if half_open {
                    count.half_open += 1;
                } else {
                    count.half_open = count.half_open.saturating_sub(1);
                }
            }
        }
    }

    /// The connection from `addr`, half-open or not, was freed.
    pub(super) fn remove(&mut self, addr: &SocketAddr, half_open: bool) {
        for source in sources(addr) {
            if let Some(count) = self.counts.get_mut(&source) {
                count.connections = count.connections.saturating_sub(1);
                if half_open {
                    count.half_open = count.half_open.saturating_sub(1);
                }
                if count.connections == 0 {
                    self.counts.remove(&source);
                }
            }
        }
    }

    /// The connections counted at `addr`'s address and at its prefix (for tests and stats).
    #[cfg(test)]
    pub(super) fn at(&self, addr: &SocketAddr) -> [(usize, usize); 2] {
        sources(addr).map(|s| self.counts.get(&s).map_or((0, 0), |c| (c.half_open, c.connections)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn prefixes_group_neighbours() {
        let a: SocketAddr = "192.0.2.7:1".parse().unwrap();
        let b: SocketAddr = "192.0.2.200:9".parse().unwrap();
        let c: SocketAddr = "192.0.3.7:1".parse().unwrap();
        assert_eq!(sources(&a)[1], sources(&b)[1]);
        assert_ne!(sources(&a)[0], sources(&b)[0]);
        assert_ne!(sources(&a)[1], sources(&c)[1]);
        let v6a: SocketAddr = "[2001:db8:1:2:3::1]:1".parse().unwrap();
        let v6b: SocketAddr = "[2001:db8:1:2:ffff::9]:1".parse().unwrap();
        let v6c: SocketAddr = "[2001:db8:1:3::1]:1".parse().unwrap();
        assert_eq!(sources(&v6a)[0], sources(&v6b)[0], "one /64: one host");
        assert_ne!(sources(&v6a)[0], sources(&v6c)[0]);
        assert_eq!(sources(&v6a)[1], sources(&v6c)[1], "one /48");
    }

    #[test]
    fn counts_follow_connections_and_limits_hold() {
        let limits = AddressLimits {
            half_open_per_address: 2,
            half_open_per_prefix: 3,
            connections_per_address: 3,
            connections_per_prefix: 10,
        };
        let mut counts = AddressCounts::default();
        let a: SocketAddr = "10.0.0.1:5".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:5".parse().unwrap();
        assert!(counts.admits(&a, &limits));
        counts.add(&a);
        counts.add(&a);
        assert!(!counts.admits(&a, &limits), "two half-open from one address");
        assert!(counts.admits(&b, &limits));
        counts.set_half_open(&a, false);
        assert!(counts.admits(&a, &limits));
        counts.add(&a);
        assert_eq!(counts.at(&a), [(2, 3), (2, 3)]);
        assert!(!counts.admits(&a, &limits), "three connections from one address");
        counts.add(&b);
        assert!(!counts.admits(&b, &limits), "three half-open in the /24");
        counts.remove(&a, true);
        counts.remove(&a, true);
        counts.remove(&a, false);
        counts.remove(&b, true);
        assert!(counts.counts.is_empty());
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // an origin; only differences matter
    fn the_budget_empties_and_refills() {
        let t0 = Instant::now();
        let mut budget = HandshakeBudget::new(10, t0);
        for _ in 0..10 {
            assert!(!budget.exhausted(t0));
            budget.spend(t0);
        }
        assert!(budget.exhausted(t0));
        assert!(!budget.exhausted(t0 + Duration::from_millis(150)));
        // Work admitted by cookies goes on while empty, and is paid back before it refills.
        budget.spend(t0 + Duration::from_millis(150));
        budget.spend(t0 + Duration::from_millis(150));
        assert!(budget.exhausted(t0 + Duration::from_millis(200)));
        assert!(!budget.exhausted(t0 + Duration::from_secs(2)));
    }
}
