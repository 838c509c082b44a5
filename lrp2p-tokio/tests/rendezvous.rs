//! `serve_rendezvous`, `register`, `connect_by_key` and `path_changed` on real loopback sockets
//! (PROTOCOL.md §13.7, §13.8): two sockets that know only each other's key and the service's
//! meet; a connection that starts on the relay says when it moves to the direct path.

// clippy's allow-unwrap-in-tests does not see into #[tokio::test] bodies; a panic is a test's
// failure report.
#![allow(clippy::unwrap_used)]

mod common;

use common::{bounded, socket};
use lrp2p_tokio::PathKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn two_sockets_meet_by_key_and_the_path_change_is_seen() {
    let service = socket().await;
    service.serve_rendezvous();
    let (a, b) = (socket().await, socket().await);
    let (addr, key) = (service.local_addr().unwrap(), service.public_key());
    assert_eq!(bounded(a.register(addr, key)).await.unwrap(), a.local_addr().unwrap());
    bounded(b.register(addr, key)).await.unwrap();
    let mut conn = a.connect_by_key(b.public_key(), None).unwrap();
    bounded(conn.write_all(b"found you")).await.unwrap();
    let (mut accepted, peer) = bounded(b.accept()).await.unwrap();
    assert_eq!(peer, a.public_key());
    let mut got = [0u8; 9];
    bounded(accepted.read_exact(&mut got)).await.unwrap();
    assert_eq!(&got, b"found you");
    // PROTOCOL.md §13.8: it may start on the relay; once B answers a probe it is direct, and
    // `path_changed` says so.
    let mut path = conn.path().unwrap();
    if path.kind == PathKind::Relayed {
        assert_eq!((path.remote, path.changes), (addr, 0), "relayed through the service");
        path = bounded(conn.path_changed(&path)).await.expect("the connection is open");
    } else {
        // Answered directly first: the move from the relay it started on was counted.
        assert!(path.changes >= 1, "{path:?}");
    }
    assert_eq!((path.kind, path.remote), (PathKind::Direct, b.local_addr().unwrap()), "{path:?}");
    // Once the connection is gone, the wait ends with `None`.
    drop(accepted);
    conn.close();
    assert_eq!(bounded(conn.path_changed(&path)).await, None);
}

#[tokio::test]
async fn a_registered_socket_learns_when_the_rendezvous_closes_its_link_and_registers_again() {
    let service = socket().await;
    service.serve_rendezvous();
    let a = socket().await;
    let (addr, key) = (service.local_addr().unwrap(), service.public_key());
    bounded(a.register(addr, key)).await.unwrap();
    // The service stops serving: its links close with it, and A learns at once.
    service.close_all(0x8001, b"stopping");
    let why = bounded(a.registration_ended()).await.unwrap();
    assert!(matches!(why, lrp2p_tokio::CloseReason::Remote { .. }), "{why:?}");
    // The service is still there: A registers again.
    assert_eq!(bounded(a.register(addr, key)).await.unwrap(), a.local_addr().unwrap());
}
