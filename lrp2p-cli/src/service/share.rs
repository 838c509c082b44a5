//! Each source's share of the service's slots: no address (IPv6: /64) holds more than a
//! quarter of them, no prefix (IPv4 /24, IPv6 /48) more than half, at least one each; so that
//! one host with many (silent) connections cannot take every slot (issue 11; the endpoint's
//! own per-source limits, PROTOCOL.md §10.5, bound its tables the same way).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, PoisonError};

/// The two keys a source counts under: its address (IPv6 /64) and its prefix (IPv4 /24, IPv6
/// /48), masked; `false` marks the address, `true` the prefix.
pub(crate) type Keys = [(bool, IpAddr); 2];

/// The keys of `addr`.
pub(crate) fn source_keys(addr: SocketAddr) -> Keys {
    match addr.ip() {
        IpAddr::V4(ip) => [(false, IpAddr::V4(ip)), (true, IpAddr::V4((u32::from(ip) & 0xffff_ff00).into()))],
        IpAddr::V6(ip) => {
            let bits = u128::from(ip);
            let mask = |prefix: u32| !(u128::MAX >> prefix);
            [(false, IpAddr::V6((bits & mask(64)).into())), (true, IpAddr::V6((bits & mask(48)).into()))]
        }
    }
}

/// Slots held per source key.
#[derive(Debug, Default)]
pub(crate) struct Shares(Mutex<HashMap<(bool, IpAddr), usize>>);

impl Shares {
    /// Counts one more slot for `keys` if both are within their share of `max` slots.
    pub(crate) fn try_add(&self, keys: &Keys, max: usize) -> bool {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let limits = [(max / 4).max(1), (max / 2).max(1)];
        if keys.iter().zip(limits).any(|(k, limit)| held.get(k).copied().unwrap_or(0) >= limit) {
            return false;
        }
        for k in keys {
            *held.entry(*k).or_insert(0) += 1;
        }
        true
    }

    /// One slot of `keys` freed.
    pub(crate) fn remove(&self, keys: &Keys) {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for k in keys {
            if let Some(n) = held.get_mut(k) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    held.remove(k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_a_quarter_and_its_prefix_half() {
        let shares = Shares::default();
        let a = source_keys("10.0.0.1:1".parse().unwrap_or_else(|_| unreachable!()));
        let b = source_keys("10.0.0.2:1".parse().unwrap_or_else(|_| unreachable!()));
        let c = source_keys("10.0.1.2:1".parse().unwrap_or_else(|_| unreachable!()));
        assert!((0..4).all(|_| shares.try_add(&a, 16)));
        assert!(!shares.try_add(&a, 16), "a quarter of 16");
        assert!((0..4).all(|_| shares.try_add(&b, 16)));
        assert!(!shares.try_add(&b, 16), "its /24 holds half");
        assert!(shares.try_add(&c, 16), "another /24");
        shares.remove(&a);
        assert!(shares.try_add(&a, 16), "a slot freed");
        let v6 = source_keys("[2001:db8::1]:1".parse().unwrap_or_else(|_| unreachable!()));
        let v6b = source_keys("[2001:db8::2]:1".parse().unwrap_or_else(|_| unreachable!()));
        assert_eq!(v6, v6b, "one /64");
    }
}
