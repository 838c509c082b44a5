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
    assert!(client.is_pending(&key(2)));
    let event = client.on_record(t0 + Duration::from_millis(20), intro(2, 50), nobody);
    let ClientEvent::Dial(dial) = event else { panic!("{event:?}") };
    assert_eq!(dial.key, key(2));
    assert_eq!(dial.addresses, vec![addr("198.51.100.7:40000"), addr("10.0.0.7:4000")]);
    assert_eq!(dial.at, t0 + Duration::from_millis(45));
    assert!(dial.asked);
    assert!(!client.is_pending(&key(2)));
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
    assert!(!client.is_pending(&key(2)));
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
    assert!(!client.is_pending(&key(0)), "the oldest is forgotten");
    assert!(client.is_pending(&key(1)));
}
