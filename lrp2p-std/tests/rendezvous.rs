//! `Socket::serve_rendezvous`, `register` and `connect_by_key` on real loopback sockets
//! (PROTOCOL.md §13.7): two sockets that know only each other's key and the service's meet.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};

use common::{TIMEOUT, socket};
use lrp2p_std::PathKind;

#[test]
fn two_sockets_meet_by_key_through_a_rendezvous() {
    let service = socket();
    service.serve_rendezvous();
    let (a, b) = (socket(), socket());
    let (addr, key) = (service.local_addr().unwrap(), service.public_key());
    let seen = a.register(addr, key).unwrap();
    assert_eq!(seen, a.local_addr().unwrap(), "the service sees A where it is");
    b.register(addr, key).unwrap();
    let mut conn = a.connect_by_key(b.public_key(), None).unwrap();
    conn.write_all(b"found you").unwrap();
    let (mut accepted, peer) = b.accept_timeout(TIMEOUT).unwrap();
    assert_eq!(peer, a.public_key());
    accepted.set_read_timeout(Some(TIMEOUT));
    let mut got = [0u8; 9];
    accepted.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"found you");
    accepted.write_all(b"and back").unwrap();
    conn.set_read_timeout(Some(TIMEOUT));
    let mut back = [0u8; 8];
    conn.read_exact(&mut back).unwrap();
    // PROTOCOL.md §13.8: it may start on the relay; it is on the direct path once B answers a
    // probe: `path_changed` says when (within the read timeout).
    let mut path = conn.path().unwrap();
    if path.kind == PathKind::Relayed {
        assert_eq!((path.remote, path.changes), (addr, 0), "relayed through the service");
        path = conn.path_changed(&path).unwrap().expect("the connection is open");
        assert_eq!(path.changes, 1);
    } else {
        // Answered directly first: the move from the relay it started on was counted.
        assert!(path.changes >= 1, "{path:?}");
    }
    assert_eq!((path.kind, path.remote), (PathKind::Direct, b.local_addr().unwrap()), "{path:?}");
    // And on B's side: direct to A, by the same event or by B's own probe.
    let b_path = accepted.path().unwrap();
    let b_path = if b_path.kind == PathKind::Relayed {
        accepted.path_changed(&b_path).unwrap().unwrap()
    } else {
        b_path
    };
    assert_eq!((b_path.kind, b_path.remote), (PathKind::Direct, a.local_addr().unwrap()));
    let stats = service.rendezvous_stats().unwrap();
    assert_eq!((stats.registered, stats.introductions), (2, 1));
    assert!(
        service.accept_timeout(std::time::Duration::from_millis(200)).is_err(),
        "nothing for the service's app"
    );
}

#[test]
fn an_unknown_key_is_not_found_and_no_registration_is_not_connected() {
    let service = socket();
    service.serve_rendezvous();
    let a = socket();
    let stranger = socket().public_key();
    let err = a.connect_by_key(stranger, None).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotConnected);
    a.register(service.local_addr().unwrap(), service.public_key()).unwrap();
    let mut conn = a.connect_by_key(stranger, None).unwrap();
    conn.set_write_timeout(Some(TIMEOUT));
    // The NOT_FOUND comes one round trip later: the write or the wait for its ACK fails.
    let err = conn.write_all(b"x").and_then(|()| conn.acknowledged()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
}
