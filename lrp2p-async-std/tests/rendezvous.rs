//! `serve_rendezvous`, `register`, `connect_by_key` and `path_changed` on real loopback sockets
//! (PROTOCOL.md §13.7, §13.8): two sockets that know only each other's key and the service's
//! meet; a connection that starts on the relay says when it moves to the direct path. Runs
//! under async-std and under smol.

// The scenarios are plain async fns (run by `both!`): clippy does not see them as tests.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Exec, socket, timed};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use lrp2p_async_std::PathKind;

async fn two_sockets_meet_by_key_and_the_path_change_is_seen<E: Exec>() {
    let service = socket().await;
    service.serve_rendezvous();
    let (a, b) = (socket().await, socket().await);
    let (addr, key) = (service.local_addr().unwrap(), service.public_key());
    assert_eq!(timed("register", a.register(addr, key)).await.unwrap(), a.local_addr().unwrap());
    timed("register", b.register(addr, key)).await.unwrap();
    let mut conn = a.connect_by_key(b.public_key(), None).unwrap();
    timed("write", conn.write_all(b"found you")).await.unwrap();
    let (mut accepted, peer) = timed("accept", b.accept()).await.unwrap();
    assert_eq!(peer, a.public_key());
    let mut got = [0u8; 9];
    timed("read", accepted.read_exact(&mut got)).await.unwrap();
    assert_eq!(&got, b"found you");
    // PROTOCOL.md §13.8: it may start on the relay; once B answers a probe it is direct, and
    // `path_changed` says so.
    let mut path = conn.path().unwrap();
    if path.kind == PathKind::Relayed {
        assert_eq!((path.remote, path.changes), (addr, 0), "relayed through the service");
        path = timed("path change", conn.path_changed(&path)).await.expect("the connection is open");
    } else {
        // Answered directly first: the move from the relay it started on was counted.
        assert!(path.changes >= 1, "{path:?}");
    }
    assert_eq!((path.kind, path.remote), (PathKind::Direct, b.local_addr().unwrap()), "{path:?}");
    // Once the connection is gone, the wait ends with `None`.
    drop(accepted);
    conn.close();
    assert_eq!(timed("the end", conn.path_changed(&path)).await, None);
}

both!(two_sockets_meet_by_key_and_the_path_change_is_seen);
