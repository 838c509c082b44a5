//! The Go README's two examples as tests: hello world, and one socket accepting two peers and
//! reading each.

// clippy's allow-unwrap-in-tests does not see into #[tokio::test] bodies; a panic is a test's
// failure report.
#![allow(clippy::unwrap_used)]

mod common;

use common::{bounded, socket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn hello_world() {
    let (peer1, peer2) = (socket().await, socket().await);
    let mut conn = peer1.connect(peer2.local_addr().unwrap(), peer2.public_key()).await.unwrap();
    bounded(conn.write_all(b"Hello World")).await.unwrap();

    let (mut conn2, who) = bounded(peer2.accept()).await.unwrap();
    assert_eq!(who, peer1.public_key());
    let mut buf = [0u8; 32];
    let n = bounded(conn2.read(&mut buf)).await.unwrap();
    assert_eq!(&buf[..n], b"Hello World");
    // The 0-RTT data was accepted: it came in the first datagram.
    assert_eq!(peer2.stats().early_data_accepted, 1);
}

#[tokio::test]
async fn hello_world_without_the_key() {
    let (peer1, peer2) = (socket().await, socket().await);
    let mut conn = peer1.connect_unknown(peer2.local_addr().unwrap()).await.unwrap();
    bounded(conn.write_all(b"Hello World")).await.unwrap();
    let (mut conn2, who) = bounded(peer2.accept()).await.unwrap();
    assert_eq!(who, peer1.public_key());
    let mut buf = [0u8; 32];
    let n = bounded(conn2.read(&mut buf)).await.unwrap();
    assert_eq!(&buf[..n], b"Hello World");
    bounded(conn.connected()).await.unwrap();
    assert!(conn.is_connected());
    assert_eq!(conn.peer_public_key(), Some(peer2.public_key()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_socket_accepts_two_peers() {
    let peer1 = socket().await;
    let addr = peer1.local_addr().unwrap();
    let key = peer1.public_key();
    let (peer2, peer3) = (socket().await, socket().await);
    let keys = [peer2.public_key(), peer3.public_key()];
    // Peers 2 and 3 each connect, write, and are dropped (as when the Go programs exit).
    for (peer, text) in [(peer2, "Hello from Peer 2"), (peer3, "Hello from Peer 3")] {
        tokio::spawn(async move {
            let mut conn = peer.connect(addr, key).await.unwrap();
            bounded(conn.write_all(text.as_bytes())).await.unwrap();
        });
    }
    let mut got = Vec::new();
    for _ in 0..2 {
        let (mut conn, who) = bounded(peer1.accept()).await.unwrap();
        let mut text = String::new();
        bounded(conn.read_to_string(&mut text)).await.unwrap();
        let expected = if who == keys[0] { "Hello from Peer 2" } else { "Hello from Peer 3" };
        assert_eq!(text, expected);
        got.push(text);
    }
    got.sort();
    assert_eq!(got, ["Hello from Peer 2", "Hello from Peer 3"]);
}
