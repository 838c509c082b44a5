//! Tests of [`Client`]: which introductions it acts on, the addresses and time of a [`Dial`],
//! and the bounds on what it remembers.
#![allow(clippy::unwrap_used)]
use super::super::PROBES_PER_ADDRESS;
use super::*;

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

fn intro(n: u8, rtt_ms: u16) -> Record {
    Record::Introduce(Introduction {
        key: key(n),
        observed: addr("198.51.100.7:40000"),
        locals: vec![addr("10.0.0.7:4000")],
        rtt_ms,
    })
}

fn nobody(_: &PublicKey) -> bool {
    false
}

fn anybody(_: &PublicKey) -> bool {
    true
}

#[test]
fn register_keeps_dialable_locals() {
    let client = Client::new();
    let mut locals =
        vec![addr("0.0.0.0:4000"), addr("10.0.0.1:0"), addr("10.0.0.1:4000"), addr("10.0.0.1:4000")];
    locals.extend((1..=9).map(|i| SocketAddr::new([10, 1, 0, i].into(), 4000)));
    let Record::Register { locals } = client.register(&locals) else { panic!() };
    assert_eq!(locals.len(), MAX_LOCALS);
    assert_eq!(locals[0], addr("10.0.0.1:4000"));
    assert_eq!(locals[1], addr("10.1.0.1:4000"));
}

#[test]
fn asked_introduction_dials_at_half_the_rtt() {
    let mut client = Client::new();
    let t0 = start();
    assert_eq!(client.lookup(t0, key(2)), Record::Lookup { key: key(2) });
    assert!(client.is_pending(t0, &key(2)));
    let event = client.on_record(t0 + Duration::from_millis(20), intro(2, 50), nobody);
    let ClientEvent::Dial(dial) = event else { panic!("{event:?}") };
    assert_eq!(dial.key, key(2));
    assert_eq!(dial.addresses, vec![addr("198.51.100.7:40000"), addr("10.0.0.7:4000")]);
    assert_eq!(dial.at, t0 + Duration::from_millis(45));
    assert!(dial.asked);
    assert!(!client.is_pending(t0, &key(2)));
    // Unknown RTT: at once.
    let ClientEvent::Dial(dial) = client.on_record(t0, intro(3, 0), anybody) else { panic!() };
    assert_eq!((dial.at, dial.asked), (t0, false));
}

#[test]
fn unasked_introduction_needs_acceptance() {
    let mut client = Client::new();
    let t0 = start();
    assert_eq!(client.on_record(t0, intro(2, 0), nobody), ClientEvent::Ignored(IgnoreReason::NotAsked));
    let only_3 = |k: &PublicKey| *k == key(3);
    assert_eq!(client.on_record(t0, intro(2, 0), only_3), ClientEvent::Ignored(IgnoreReason::NotAsked));
    assert!(matches!(client.on_record(t0, intro(3, 0), only_3), ClientEvent::Dial(_)));
    // A LOOKUP expires: its late answer counts as not asked for.
    client.lookup(t0, key(4));
    let late = t0 + LOOKUP_LIFETIME;
    assert_eq!(client.on_record(late, intro(4, 0), nobody), ClientEvent::Ignored(IgnoreReason::NotAsked));
}

#[test]
fn one_introduction_per_key_per_interval() {
    let mut client = Client::new();
    let t0 = start();
    assert!(matches!(client.on_record(t0, intro(2, 0), anybody), ClientEvent::Dial(_)));
    let soon = t0 + INTRODUCTION_INTERVAL - Duration::from_millis(1);
    assert_eq!(client.on_record(soon, intro(2, 0), anybody), ClientEvent::Ignored(IgnoreReason::TooSoon));
    // Asking again does not lift it, and the answer to the ask is consumed.
    client.lookup(soon, key(2));
    assert_eq!(client.on_record(soon, intro(2, 0), anybody), ClientEvent::Ignored(IgnoreReason::TooSoon));
    assert!(!client.is_pending(soon, &key(2)));
    assert!(matches!(
        client.on_record(t0 + INTRODUCTION_INTERVAL, intro(2, 0), anybody),
        ClientEvent::Dial(_)
    ));
}

#[test]
fn bounded_introductions_across_keys() {
    let mut client = Client::new();
    let t0 = start();
    for n in 0..MAX_RECENT_INTRODUCTIONS {
        let n = u8::try_from(n).unwrap();
        assert!(matches!(client.on_record(t0, intro(n, 0), anybody), ClientEvent::Dial(_)));
    }
    assert_eq!(client.on_record(t0, intro(200, 0), anybody), ClientEvent::Ignored(IgnoreReason::TooMany));
    assert!(matches!(
        client.on_record(t0 + INTRODUCTION_INTERVAL, intro(200, 0), anybody),
        ClientEvent::Dial(_)
    ));
    // What one introduction can make this peer send: 9 addresses, 3 datagrams each.
    assert_eq!(MAX_DIAL_ADDRESSES * usize::try_from(PROBES_PER_ADDRESS).unwrap(), 27);
}

#[test]
fn addresses_filtered_deduplicated_and_bounded() {
    let mut client = Client::new();
    let t0 = start();
    let observed = addr("198.51.100.7:40000");
    let mut locals =
        vec![observed, addr("0.0.0.0:1"), addr("[::]:1"), addr("224.0.0.1:1"), addr("[ff02::1]:1")];
    locals.extend([addr("255.255.255.255:1"), addr("10.0.0.1:0"), addr("10.0.0.1:1"), addr("10.0.0.1:1")]);
    locals.extend((2..=20).map(|i| SocketAddr::new([10, 0, 0, i].into(), 1)));
    let record = Record::Introduce(Introduction { key: key(1), observed, locals, rtt_ms: 0 });
    let ClientEvent::Dial(dial) = client.on_record(t0, record, anybody) else { panic!() };
    assert_eq!(dial.addresses.len(), MAX_DIAL_ADDRESSES);
    assert_eq!(dial.addresses[0], observed);
    assert_eq!(dial.addresses[1], addr("10.0.0.1:1"));
    assert_eq!(dial.addresses[8], addr("10.0.0.8:1"));
    // Nothing dialable: nothing to do, and the key is not spent.
    let bad = Introduction {
        key: key(2),
        observed: addr("0.0.0.0:9"),
        locals: vec![addr("[ff02::1]:9")],
        rtt_ms: 0,
    };
    let event = client.on_record(t0, Record::Introduce(bad), anybody);
    assert_eq!(event, ClientEvent::Ignored(IgnoreReason::NoAddresses));
    assert!(matches!(client.on_record(t0, intro(2, 0), anybody), ClientEvent::Dial(_)));
}

#[test]
fn other_records() {
    let mut client = Client::new();
    let t0 = start();
    let registered = Record::Registered { observed: addr("203.0.113.1:1"), ttl_s: 60 };
    assert_eq!(
        client.on_record(t0, registered, nobody),
        ClientEvent::Registered { observed: addr("203.0.113.1:1"), ttl: Duration::from_secs(60) }
    );
    let not_found = Record::NotFound { key: key(5) };
    assert_eq!(client.on_record(t0, not_found.clone(), nobody), ClientEvent::Ignored(IgnoreReason::NotAsked));
    client.lookup(t0, key(5));
    assert_eq!(client.on_record(t0, not_found.clone(), nobody), ClientEvent::NotFound { key: key(5) });
    assert_eq!(client.on_record(t0, not_found, nobody), ClientEvent::Ignored(IgnoreReason::NotAsked));
    for wrong in [Record::Register { locals: vec![] }, Record::Lookup { key: key(1) }] {
        assert_eq!(client.on_record(t0, wrong, anybody), ClientEvent::Ignored(IgnoreReason::WrongDirection));
    }
}

#[test]
fn pending_lookups_bounded() {
    let mut client = Client::new();
    let t0 = start();
    for n in 0..=MAX_PENDING_LOOKUPS {
        let n = u8::try_from(n).unwrap();
        client.lookup(t0 + Duration::from_millis(u64::from(n)), key(n));
    }
    assert_eq!(client.asked.len(), MAX_PENDING_LOOKUPS);
    assert!(!client.is_pending(t0, &key(0)), "the oldest is forgotten");
    assert!(client.is_pending(t0, &key(1)));
}

#[derive(Clone, Debug)]
enum Op {
    Lookup(u8),
    Introduce(u8, [u8; 4], Vec<(u8, u16)>, u16),
    NotFound(u8),
    Advance(u64),
}

fn any_op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    let addr = (0..4u8, 0..3u16);
    prop_oneof![
        (0..80u8).prop_map(Op::Lookup),
        (0..80u8, any::<[u8; 4]>(), proptest::collection::vec(addr, 0..=8), any::<u16>())
            .prop_map(|(k, ip, locals, rtt)| Op::Introduce(k, ip, locals, rtt)),
        (0..80u8).prop_map(Op::NotFound),
        (0..6_000u64).prop_map(Op::Advance),
    ]
}

/// The address a test's (ip class, port) pair names: some are not dialable.
fn test_addr((class, port): (u8, u16)) -> SocketAddr {
    let ip: [u8; 4] = match class {
        0 => [0, 0, 0, 0],
        1 => [224, 0, 0, 1],
        2 => [10, 0, 0, 1],
        _ => [10, 0, 0, 2],
    };
    SocketAddr::new(ip.into(), port)
}

proptest::proptest! {
    /// Whatever a service sends, every dial keeps §13.7.5's bounds.
    #[test]
    fn dials_keep_the_bounds(ops in proptest::collection::vec(any_op(), 1..300)) {
        let mut client = Client::new();
        let mut now = start();
        let accepts = |k: &PublicKey| k.as_bytes()[0] % 3 == 0;
        let mut dials: Vec<(Instant, PublicKey)> = Vec::new();
        for op in ops {
            match op {
                Op::Lookup(k) => {
                    client.lookup(now, key(k));
                }
                Op::Introduce(k, ip, locals, rtt_ms) => {
                    let observed = SocketAddr::new(ip.into(), 4000);
                    let locals: Vec<SocketAddr> = locals.into_iter().map(test_addr).collect();
                    let intro = Introduction { key: key(k), observed, locals: locals.clone(), rtt_ms };
                    let was_pending = client.is_pending(now, &key(k));
                    if let ClientEvent::Dial(dial) = client.on_record(now, Record::Introduce(intro), accepts) {
                        proptest::prop_assert!(was_pending || accepts(&key(k)));
                        proptest::prop_assert_eq!(dial.asked, was_pending);
                        proptest::prop_assert!(!dial.addresses.is_empty());
                        proptest::prop_assert!(dial.addresses.len() <= MAX_DIAL_ADDRESSES);
                        for (i, a) in dial.addresses.iter().enumerate() {
                            proptest::prop_assert!(super::super::is_dialable(a));
                            proptest::prop_assert!(*a == observed || locals.contains(a));
                            proptest::prop_assert!(!dial.addresses[..i].contains(a));
                        }
                        proptest::prop_assert_eq!(dial.at, now + Duration::from_millis(u64::from(rtt_ms)) / 2);
                        let same_key_recently = dials
                            .iter()
                            .any(|(t, d)| *d == key(k) && now.duration_since(*t) < INTRODUCTION_INTERVAL);
                        proptest::prop_assert!(!same_key_recently);
                        dials.push((now, key(k)));
                        let recent = dials.iter().filter(|(t, _)| now.duration_since(*t) < INTRODUCTION_INTERVAL);
                        proptest::prop_assert!(recent.count() <= MAX_RECENT_INTRODUCTIONS);
                    }
                }
                Op::NotFound(k) => {
                    let was_pending = client.is_pending(now, &key(k));
                    let event = client.on_record(now, Record::NotFound { key: key(k) }, accepts);
                    proptest::prop_assert_eq!(matches!(event, ClientEvent::NotFound { .. }), was_pending);
                }
                Op::Advance(ms) => now += Duration::from_millis(ms),
            }
            proptest::prop_assert!(client.asked.len() <= MAX_PENDING_LOOKUPS);
            proptest::prop_assert!(client.acted.len() <= MAX_RECENT_INTRODUCTIONS);
        }
    }
}
