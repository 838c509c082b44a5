//! Rendezvous (PROTOCOL.md §13.7): how two peers behind NATs learn each other's addresses
//! from a service both can reach, and then dial each other directly.
//!
//! A rendezvous service is an ordinary LRP2P endpoint known by its static key. A peer connects
//! to it (IK, application protocol [`RENDEZVOUS_APP_PROTOCOL`]) and exchanges [`Record`]s on
//! the connection's byte stream: it registers its local addresses (REGISTER), learns the
//! address the service sees it at (REGISTERED), and asks for another peer by key (LOOKUP).
//! The service then introduces the two to each other (INTRODUCE, to both), and each dials the
//! other's addresses at the same moment, so that both NATs open a mapping before the other's
//! initiation arrives; §13.6 makes the two crossing initiations one connection.
//!
//! Three sans-IO parts, all independent of [`Endpoint`](crate::Endpoint), which carries the
//! records and the dials:
//!
//! - [`records`](Record): the wire format and the incremental [`RecordReader`];
//! - [`Registry`]: the service's state (registrations, their lifetime, introductions);
//! - [`Client`]: a peer's state (what it asked for, which introductions it acts on, and the
//!   [`Dial`] each one turns into).
//!
//! Nothing here reads a clock: time comes in as `now: Instant`.

mod client;
mod records;
mod registry;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::app_protocol::AppProtocol;

pub use client::{
    Client, ClientEvent, Dial, IgnoreReason, LOOKUP_LIFETIME, MAX_PENDING_LOOKUPS, MAX_RECENT_INTRODUCTIONS,
};
pub use records::{Introduction, MAX_RECORD_LEN, Record, RecordError, RecordReader};
pub use registry::{Lookup, Registry, RegistryConfig, RegistryFull};

/// The application protocol id (PROTOCOL.md §7.7) of a connection to a rendezvous service.
pub const RENDEZVOUS_APP_PROTOCOL: AppProtocol = AppProtocol::from_static(b"lrp2p-rendezvous/1");

/// Most local addresses a REGISTER or an INTRODUCE carries.
pub const MAX_LOCALS: usize = 8;

/// Most addresses one introduction makes a peer dial: the observed address and the locals.
pub const MAX_DIAL_ADDRESSES: usize = MAX_LOCALS + 1;

/// Most datagrams a peer sends to one address of an introduction (PROTOCOL.md §13.7.5).
pub const PROBES_PER_ADDRESS: u32 = 3;

/// A peer acts on at most one introduction per peer key in this interval.
pub const INTRODUCTION_INTERVAL: Duration = Duration::from_secs(10);

/// Whether probes may be aimed at `addr`: not port 0, and not an unspecified, multicast or
/// broadcast IP (also inside an IPv4-mapped IPv6 address). Addresses that fail are dropped from
/// registrations and introductions (PROTOCOL.md §13.7.5).
pub fn is_dialable(addr: &SocketAddr) -> bool {
    if addr.port() == 0 {
        return false;
    }
    let ip = match addr.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()),
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
    }
}

/// `addrs` without the ones [`is_dialable`] refuses and without repeats, in their order, at
/// most `max`.
fn dialable(addrs: impl IntoIterator<Item = SocketAddr>, max: usize) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for addr in addrs {
        if out.len() == max {
            break;
        }
        if is_dialable(&addr) && !out.contains(&addr) {
            out.push(addr);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn app_protocol_id() {
        assert_eq!(RENDEZVOUS_APP_PROTOCOL.as_bytes(), b"lrp2p-rendezvous/1");
    }

    #[test]
    fn dialable_addresses() {
        let ok = ["10.0.0.1:4000", "[fd00::1]:4000", "127.0.0.1:9", "[::ffff:10.0.0.1]:1"];
        for a in ok {
            assert!(is_dialable(&a.parse().unwrap()), "{a}");
        }
        let refused = [
            "10.0.0.1:0",
            "0.0.0.0:4000",
            "[::]:4000",
            "224.0.0.1:4000",
            "[ff02::1]:4000",
            "255.255.255.255:4000",
            "[::ffff:255.255.255.255]:4000",
            "[::ffff:0.0.0.0]:4000",
        ];
        for a in refused {
            assert!(!is_dialable(&a.parse().unwrap()), "{a}");
        }
        let list: Vec<SocketAddr> = ["1.1.1.1:1", "0.0.0.0:1", "1.1.1.1:1", "2.2.2.2:2", "3.3.3.3:3"]
            .map(|a| a.parse().unwrap())
            .into();
        assert_eq!(dialable(list, 2), vec!["1.1.1.1:1".parse().unwrap(), "2.2.2.2:2".parse().unwrap()]);
    }

    /// One record through the wire: encoded, then decoded by a reader byte by byte.
    fn carried(record: &Record) -> Record {
        let mut bytes = Vec::new();
        record.encode(&mut bytes);
        let mut reader = RecordReader::new();
        let mut got = None;
        for b in &bytes {
            got = reader.push(&mut core::slice::from_ref(b)).or(got);
        }
        got.unwrap().unwrap()
    }

    /// Alice and Bob register, Alice looks Bob up, and both dial at the same moment: the
    /// service's INTRODUCEs leave together, Alice's takes 10 ms, Bob's 40 ms.
    #[test]
    fn register_lookup_introduce() {
        use crate::PublicKey;
        use std::time::{Duration, Instant};
        let (alice, bob) = (PublicKey::from_bytes([1; 32]), PublicKey::from_bytes([2; 32]));
        let (alice_seen, bob_seen) =
            ("203.0.113.1:1000".parse().unwrap(), "198.51.100.2:2000".parse().unwrap());
        let mut service = Registry::new(RegistryConfig::default());
        let (mut a, mut b) = (Client::new(), Client::new());
        #[allow(clippy::disallowed_methods)] // the test's virtual time starts here
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        for (client, key, seen, rtt) in [(&mut a, alice, alice_seen, ms(20)), (&mut b, bob, bob_seen, ms(80))]
        {
            let Record::Register { locals } = carried(&client.register(&["10.0.0.1:4000".parse().unwrap()]))
            else {
                panic!()
            };
            let reply = service.register(t0, key, seen, &locals).unwrap();
            service.set_rtt(&key, rtt);
            let event = client.on_record(t0, carried(&reply), |_| false);
            assert_eq!(event, ClientEvent::Registered { observed: seen, ttl: Duration::from_secs(60) });
        }
        let Record::Lookup { key } = carried(&a.lookup(t0, bob)) else { panic!() };
        let Lookup::Introduce { to_asker, to_wanted } = service.lookup(t0, &alice, &key) else { panic!() };
        let to_alice = carried(&Record::Introduce(to_asker));
        let to_bob = carried(&Record::Introduce(to_wanted));
        let ClientEvent::Dial(a_dial) = a.on_record(t0 + ms(10), to_alice, |_| false) else { panic!() };
        // Bob did not ask: he dials because his application accepts Alice.
        let ClientEvent::Dial(b_dial) = b.on_record(t0 + ms(40), to_bob, |k| *k == alice) else { panic!() };
        assert_eq!((a_dial.key, a_dial.asked, b_dial.key, b_dial.asked), (bob, true, alice, false));
        assert_eq!(a_dial.addresses, vec![bob_seen, "10.0.0.1:4000".parse().unwrap()]);
        assert_eq!(b_dial.addresses[0], alice_seen);
        assert_eq!(a_dial.at, t0 + ms(50));
        assert_eq!(b_dial.at, a_dial.at);
    }
}
