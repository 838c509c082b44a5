//! Tests of [`Registry`]: registration and replacement, expiry and refresh, the bound, lookups
//! and their rate limit, and the memory a registration takes.
#![allow(clippy::unwrap_used)]
use super::super::records::MAX_RECORD_LEN;
use super::*;
use std::collections::BTreeMap;

/// The start of a test's virtual time (the clock is read once, here).
#[allow(clippy::disallowed_methods)]
fn start() -> Instant {
    Instant::now()
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn key(n: u8) -> PublicKey {
    PublicKey::from_bytes([n; 32])
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn bytes_per_peer() {
    // The node entry of the BTreeMap: the key and the registration.
    assert_eq!(core::mem::size_of::<PackedAddr>(), 19);
    assert_eq!(core::mem::size_of::<Peer>(), 48);
    assert_eq!(core::mem::size_of::<(PublicKey, Peer)>(), 80);
    // Locals on the heap: exactly their wire encoding.
    let mut registry = Registry::new(RegistryConfig::default());
    let now = start();
    let locals = [addr("10.0.0.1:1"), addr("[fd00::1]:2")];
    registry.register(now, key(1), addr("1.2.3.4:5"), &locals).unwrap();
    assert_eq!(registry.peers[&key(1)].locals.len(), 7 + 19);
    registry.register(now, key(2), addr("1.2.3.4:6"), &[]).unwrap();
    assert_eq!(registry.peers[&key(2)].locals.len(), 0);
}

#[test]
fn register_replace_and_lookup() {
    let mut registry = Registry::new(RegistryConfig::default());
    let t0 = start();
    let (a, b) = (key(1), key(2));
    let reply = registry.register(t0, a, addr("203.0.113.1:1000"), &[addr("10.0.0.1:4000")]).unwrap();
    assert_eq!(reply, Record::Registered { observed: addr("203.0.113.1:1000"), ttl_s: 60 });
    // Port 0, unspecified and repeated locals are dropped; at most 8 kept.
    let mut locals =
        vec![addr("10.0.0.2:0"), addr("0.0.0.0:4000"), addr("10.0.0.2:4000"), addr("10.0.0.2:4000")];
    locals.extend((1..=9).map(|i| SocketAddr::new([10, 1, 0, i].into(), 4000)));
    registry.register(t0, b, addr("198.51.100.2:1999"), &locals).unwrap();
    assert!(registry.set_rtt(&a, Duration::from_millis(30)));
    assert!(registry.set_rtt(&b, Duration::from_secs(100))); // saturates to 65 535 ms
    assert!(!registry.set_rtt(&key(9), Duration::from_millis(1)));
    assert!(registry.set_observed(&b, addr("198.51.100.2:2000")));
    assert!(!registry.set_observed(&key(9), addr("198.51.100.2:2000")));

    let Lookup::Introduce { to_asker, to_wanted } = registry.lookup(t0, &a, &b) else { panic!() };
    assert_eq!(to_asker.key, b);
    assert_eq!(to_asker.observed, addr("198.51.100.2:2000"));
    assert_eq!(to_asker.locals.len(), 8);
    assert_eq!(to_asker.locals[0], addr("10.0.0.2:4000"));
    assert_eq!(to_asker.rtt_ms, u16::MAX);
    assert_eq!(
        to_wanted,
        Introduction {
            key: a,
            observed: addr("203.0.113.1:1000"),
            locals: vec![addr("10.0.0.1:4000")],
            rtt_ms: 30
        }
    );
    // Both records encode within the bound.
    let mut out = Vec::new();
    Record::Introduce(to_asker).encode(&mut out);
    assert!(out.len() <= MAX_RECORD_LEN);

    // A new REGISTER replaces the old: new addresses, the RTT kept.
    registry.register(t0, a, addr("203.0.113.9:9000"), &[]).unwrap();
    assert_eq!(registry.len(), 2);
    let Lookup::Introduce { to_asker, .. } = registry.lookup(t0, &b, &a) else { panic!() };
    assert_eq!((to_asker.observed, to_asker.locals, to_asker.rtt_ms), (addr("203.0.113.9:9000"), vec![], 30));

    // Unknown keys, itself, an unregistered asker.
    assert_eq!(registry.lookup(t0, &a, &key(7)), Lookup::NotFound);
    assert_eq!(registry.lookup(t0, &a, &a), Lookup::NotFound);
    assert_eq!(registry.lookup(t0, &key(7), &a), Lookup::AskerNotRegistered);
    assert_eq!(Lookup::NotFound.reply(key(7)), Record::NotFound { key: key(7) });
    assert!(registry.remove(&a));
    assert!(!registry.remove(&a));
    assert_eq!(registry.lookup(t0, &b, &a), Lookup::NotFound);
}

#[test]
fn expiry_and_touch() {
    let config = RegistryConfig { ttl: secs(60), ..RegistryConfig::default() };
    let mut registry = Registry::new(config);
    let t0 = start();
    assert_eq!(registry.next_expiry(), None);
    registry.register(t0, key(1), addr("1.1.1.1:1"), &[]).unwrap();
    registry.register(t0 + secs(10), key(2), addr("2.2.2.2:2"), &[]).unwrap();
    // ttl after the registration, rounded up to the next second.
    assert_eq!(registry.next_expiry(), Some(t0 + secs(61)));
    // key 1 refreshed at 50 s: lives until 111 s; next_expiry stays a lower bound.
    assert!(registry.touch(t0 + secs(50), &key(1)));
    assert!(!registry.touch(t0 + secs(50), &key(3)));
    assert_eq!(registry.expire(t0 + secs(60)), 0);
    assert_eq!(registry.expire(t0 + secs(61)), 0); // the sweep finds key 1 refreshed
    assert_eq!(registry.next_expiry(), Some(t0 + secs(71)));
    assert_eq!(registry.expire(t0 + secs(70)), 0);
    // Expired but not yet swept: no lookups, no revival by touch.
    assert_eq!(registry.lookup(t0 + secs(71), &key(1), &key(2)), Lookup::NotFound);
    assert!(!registry.touch(t0 + secs(71), &key(2)));
    assert_eq!(registry.expire(t0 + secs(71)), 1);
    assert!(!registry.contains(&key(2)) && registry.contains(&key(1)));
    assert_eq!(registry.next_expiry(), Some(t0 + secs(111)));
    assert_eq!(registry.expire(t0 + secs(111)), 1);
    assert!(registry.is_empty());
    assert_eq!(registry.next_expiry(), None);
    // A time before the epoch counts as the epoch; a far future one saturates.
    registry.register(t0, key(4), addr("4.4.4.4:4"), &[]).unwrap();
    assert_eq!(registry.expire(t0 + secs(u64::from(u32::MAX) + 100)), 1);
}

#[test]
fn full_registry_refuses_new_keys() {
    let config = RegistryConfig { max_peers: 2, ttl: secs(10), ..RegistryConfig::default() };
    let mut registry = Registry::new(config);
    let t0 = start();
    registry.register(t0, key(1), addr("1.1.1.1:1"), &[]).unwrap();
    registry.register(t0 + secs(5), key(2), addr("2.2.2.2:2"), &[]).unwrap();
    assert_eq!(registry.register(t0 + secs(6), key(3), addr("3.3.3.3:3"), &[]), Err(RegistryFull(2)));
    // A registered key may always register again.
    assert!(registry.register(t0 + secs(6), key(2), addr("2.2.2.9:2"), &[]).is_ok());
    // Once one has expired, a new key takes its place.
    assert!(registry.register(t0 + secs(11), key(3), addr("3.3.3.3:3"), &[]).is_ok());
    assert!(!registry.contains(&key(1)));
    assert_eq!(registry.len(), 2);
}

#[test]
fn introductions_rate_limited_per_asker() {
    let config = RegistryConfig { introductions_per_key_per_10s: 2, ..RegistryConfig::default() };
    let mut registry = Registry::new(config);
    let t0 = start();
    for n in 1..=4 {
        registry.register(t0, key(n), addr("1.1.1.1:1"), &[]).unwrap();
    }
    assert!(matches!(registry.lookup(t0, &key(1), &key(2)), Lookup::Introduce { .. }));
    // NOT_FOUND does not spend the budget.
    assert_eq!(registry.lookup(t0, &key(1), &key(9)), Lookup::NotFound);
    assert!(matches!(registry.lookup(t0 + secs(1), &key(1), &key(3)), Lookup::Introduce { .. }));
    assert_eq!(registry.lookup(t0 + secs(9), &key(1), &key(4)), Lookup::RateLimited);
    assert_eq!(Lookup::RateLimited.reply(key(4)), Record::NotFound { key: key(4) });
    // Another asker has its own budget; re-registering does not reset one.
    assert!(matches!(registry.lookup(t0 + secs(9), &key(2), &key(4)), Lookup::Introduce { .. }));
    registry.register(t0 + secs(9), key(1), addr("1.1.1.1:1"), &[]).unwrap();
    assert_eq!(registry.lookup(t0 + secs(9), &key(1), &key(4)), Lookup::RateLimited);
    // The next window.
    assert!(matches!(registry.lookup(t0 + secs(10), &key(1), &key(4)), Lookup::Introduce { .. }));
}

#[test]
fn ttl_in_registered_is_clamped() {
    let t0 = start();
    for (ttl, ttl_s) in [(Duration::from_millis(10), 1), (secs(70_000), u16::MAX), (secs(60), 60)] {
        let mut registry = Registry::new(RegistryConfig { ttl, ..RegistryConfig::default() });
        let reply = registry.register(t0, key(1), addr("1.1.1.1:1"), &[]).unwrap();
        assert_eq!(reply, Record::Registered { observed: addr("1.1.1.1:1"), ttl_s });
    }
}

#[derive(Clone, Debug)]
enum Op {
    Register(u8, u16, usize),
    Touch(u8),
    Lookup(u8, u8),
    Expire,
    Remove(u8),
    Advance(u64),
}

fn any_op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        (0..8u8, 1..=u16::MAX, 0..12usize).prop_map(|(k, port, n)| Op::Register(k, port, n)),
        (0..8u8).prop_map(Op::Touch),
        (0..8u8, 0..8u8).prop_map(|(a, b)| Op::Lookup(a, b)),
        Just(Op::Expire),
        (0..8u8).prop_map(Op::Remove),
        (0..8_000u64).prop_map(Op::Advance),
    ]
}

proptest::proptest! {
    /// Any sequence of operations keeps the bounds, and `next_expiry` a lower bound.
    #[test]
    fn operations_keep_the_bounds(ops in proptest::collection::vec(any_op(), 1..200)) {
        let config = RegistryConfig { max_peers: 4, ttl: secs(5), introductions_per_key_per_10s: 2, ..RegistryConfig::default() };
        let mut registry = Registry::new(config);
        let mut now = start();
        // Introductions per asker in each window, counted independently of the registry.
        let mut made: BTreeMap<u8, Vec<Instant>> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Register(k, port, n) => {
                    let locals: Vec<SocketAddr> =
                        (0..n).map(|i| SocketAddr::new([10, 0, 0, u8::try_from(i).unwrap()].into(), port)).collect();
                    let was = registry.contains(&key(k));
                    match registry.register(now, key(k), SocketAddr::new([1, 1, 1, k].into(), port), &locals) {
                        Ok(Record::Registered { ttl_s: 5, .. }) => {}
                        Ok(other) => proptest::prop_assert!(false, "{other:?}"),
                        Err(RegistryFull(n)) => proptest::prop_assert!(!was && n == 4),
                    }
                }
                Op::Touch(k) => {
                    registry.touch(now, &key(k));
                }
                Op::Lookup(a, b) => {
                    if let Lookup::Introduce { to_asker, to_wanted } = registry.lookup(now, &key(a), &key(b)) {
                        proptest::prop_assert!(a != b);
                        proptest::prop_assert!(to_asker.locals.len() <= MAX_LOCALS);
                        proptest::prop_assert_eq!((to_asker.key, to_wanted.key), (key(b), key(a)));
                        let times = made.entry(a).or_default();
                        times.push(now);
                        // Fixed windows: at most 2 per window, so at most 4 in any 9 s (which meets
                        // at most two windows, whole seconds as they are).
                        let recent = times.iter().filter(|t| now.duration_since(**t) < secs(9)).count();
                        proptest::prop_assert!(recent <= 4, "{recent} introductions within 9 s");
                    }
                }
                Op::Expire => {
                    registry.expire(now);
                    let now_s = registry.secs(now);
                    proptest::prop_assert!(registry.peers.values().all(|p| p.expires_s > now_s));
                }
                Op::Remove(k) => {
                    registry.remove(&key(k));
                }
                Op::Advance(ms) => now += Duration::from_millis(ms),
            }
            proptest::prop_assert!(registry.len() <= 4);
            proptest::prop_assert_eq!(registry.next_expiry().is_some(), !registry.is_empty());
            if let (Some(next), Some(epoch)) = (registry.next_expiry(), registry.epoch) {
                for peer in registry.peers.values() {
                    proptest::prop_assert!(next <= epoch + secs(u64::from(peer.expires_s)));
                }
            }
        }
    }
}
