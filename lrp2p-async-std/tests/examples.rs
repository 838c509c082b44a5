//! The Go README's two examples as tests: hello world, and one socket accepting two peers.
//! Each runs under async-std and under smol.

// The scenarios are tests written as plain async fns (run by `both!`): clippy does not see
// them as tests, where unwrapping is the way to fail.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Exec, socket, timed};
use futures_lite::{AsyncReadExt, AsyncWriteExt};

async fn hello_world<E: Exec>() {
    let (peer1, peer2) = (socket().await, socket().await);
    let mut conn = peer1.connect(peer2.local_addr().unwrap(), peer2.public_key()).await.unwrap();
    timed("write", conn.write_all(b"Hello World")).await.unwrap();

    let (mut conn2, who) = timed("accept", peer2.accept()).await.unwrap();
    assert_eq!(who, peer1.public_key());
    let mut buf = [0u8; 32];
    let n = timed("read", conn2.read(&mut buf)).await.unwrap();
    assert_eq!(&buf[..n], b"Hello World");
    // The 0-RTT data was accepted: it came in the first datagram.
    assert_eq!(peer2.stats().early_data_accepted, 1);
}

async fn hello_world_without_the_key<E: Exec>() {
    let (peer1, peer2) = (socket().await, socket().await);
    // A host name this time: resolved off the executor.
    let port = peer2.local_addr().unwrap().port();
    let mut conn = peer1.connect_unknown(("localhost", port)).await.unwrap();
    timed("write", conn.write_all(b"Hello World")).await.unwrap();
    let (mut conn2, who) = timed("accept", peer2.accept()).await.unwrap();
    assert_eq!(who, peer1.public_key());
    let mut buf = [0u8; 32];
    let n = timed("read", conn2.read(&mut buf)).await.unwrap();
    assert_eq!(&buf[..n], b"Hello World");
    timed("connected", conn.connected()).await.unwrap();
    assert!(conn.is_connected());
    assert_eq!(conn.peer_public_key(), Some(peer2.public_key()));
}

async fn one_socket_accepts_two_peers<E: Exec>() {
    let (peer1, peer2, peer3) = (socket().await, socket().await, socket().await);
    let addr = peer1.local_addr().unwrap();
    // Peers 2 and 3 write from tasks of their own, as if they were other programs.
    let writers: Vec<_> = [(peer2, "Hello from Peer 2"), (peer3, "Hello from Peer 3")]
        .into_iter()
        .map(|(peer, text)| {
            let key = peer1.public_key();
            E::spawn(async move {
                let mut conn = peer.connect(addr, key).await.unwrap();
                timed("write", conn.write_all(text.as_bytes())).await.unwrap();
                timed("acknowledged", conn.acknowledged()).await.unwrap();
                (peer, conn)
            })
        })
        .collect();
    let mut keys = Vec::new();
    for writer in writers {
        let (peer, conn) = writer.await;
        keys.push(peer.public_key());
        drop(conn);
    }

    let mut got = Vec::new();
    for _ in 0..2 {
        let (mut conn, who) = timed("accept", peer1.accept()).await.unwrap();
        let mut text = String::new();
        timed("read", conn.read_to_string(&mut text)).await.unwrap();
        let expected = if who == keys[0] { "Hello from Peer 2" } else { "Hello from Peer 3" };
        assert_eq!(text, expected);
        got.push(text);
    }
    got.sort();
    assert_eq!(got, ["Hello from Peer 2", "Hello from Peer 3"]);
}

both!(hello_world, hello_world_without_the_key, one_socket_accepts_two_peers);
