//! Bulk data: 100 MiB in both directions at once on one connection, and 50 concurrent
//! connections on one socket, each stream verified by a BLAKE2b hash of what was sent against
//! one of what arrived. Each runs under async-std and under smol.

// The scenarios are tests written as plain async fns (run by `both!`): clippy does not see
// them as tests, where unwrapping is the way to fail.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use blake2::{Blake2b512, Digest};
use common::{Exec, socket, timed, within};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use lrp2p_async_std::Connection;

/// Bytes each way on one connection.
const BULK: usize = 100 << 20;

/// SplitMix64 (Steele et al. 2014): the pattern's 8-byte block `i` of stream `seed`.
fn block(seed: u64, i: u64) -> [u8; 8] {
    let mut z = seed.wrapping_add(i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)).to_le_bytes()
}

/// Writes `len` bytes of stream `seed`, then half-closes and waits until the peer has
/// acknowledged everything; returns the hash of what was written.
async fn send(mut conn: &Connection, seed: u64, len: usize) -> Vec<u8> {
    let mut hash = Blake2b512::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut offset = 0;
    while offset < len {
        let n = buf.len().min(len - offset);
        for (k, chunk) in buf[..n].chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&block(seed, (offset / 8 + k) as u64)[..chunk.len()]);
        }
        hash.update(&buf[..n]);
        timed("write", conn.write_all(&buf[..n])).await.expect("write");
        offset += n;
    }
    // `AsyncWriteExt::close`: `conn.close()` would be the inherent abort.
    timed("close", AsyncWriteExt::close(&mut conn)).await.expect("half-close");
    timed("acknowledged", conn.acknowledged()).await.expect("acknowledged");
    hash.finalize().to_vec()
}

/// Reads to the end of the stream; returns how many bytes arrived and their hash.
async fn receive(mut conn: &Connection) -> (usize, Vec<u8>) {
    let mut hash = Blake2b512::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut len = 0;
    loop {
        let n = timed("read", conn.read(&mut buf)).await.expect("read");
        if n == 0 {
            return (len, hash.finalize().to_vec());
        }
        hash.update(&buf[..n]);
        len += n;
    }
}

async fn bulk_both_ways_at_once<E: Exec>() {
    let (a, b) = (socket().await, socket().await);
    let started = Instant::now();
    let conn_a = Arc::new(a.connect(b.local_addr().unwrap(), b.public_key()).await.unwrap());
    timed("connected", conn_a.connected()).await.unwrap();
    let (conn_b, _) = timed("accept", b.accept()).await.unwrap();
    let conn_b = Arc::new(conn_b);
    let tasks = [(&conn_a, 1), (&conn_b, 2)].map(|(conn, seed)| {
        let (w, r) = (conn.clone(), conn.clone());
        (E::spawn(async move { send(&w, seed, BULK).await }), E::spawn(async move { receive(&r).await }))
    });
    let [(send_a, at_a), (send_b, at_b)] = tasks;
    within(Duration::from_secs(300), "100 MiB each way", async {
        let (sent_a, sent_b) = (send_a.await, send_b.await);
        assert_eq!(at_b.await, (BULK, sent_a), "A → B");
        assert_eq!(at_a.await, (BULK, sent_b), "B → A");
    })
    .await;
    eprintln!("{} MiB each way in {:?}; A's connection: {:?}", BULK >> 20, started.elapsed(), conn_a.stats());
}

async fn fifty_concurrent_connections_on_one_socket<E: Exec>() {
    const PEERS: u64 = 50;
    const EACH: usize = 256 << 10;
    let server = socket().await;
    let addr = server.local_addr().unwrap();
    let key = server.public_key();
    let started = Instant::now();
    let mut clients = Vec::new();
    for i in 0..PEERS {
        let client = socket().await;
        let client_key = client.public_key();
        clients.push((
            client_key,
            E::spawn(async move {
                let conn = client.connect(addr, key).await.unwrap();
                let sent = send(&conn, i, EACH).await;
                // The server echoes the pattern back under another seed.
                let got = receive(&conn).await;
                // The socket outlives the exchange: dropped at once, its last acknowledgements
                // could be lost with nobody left to repeat them, and the server's `close`
                // would wait for its idle timeout.
                (sent, got, client)
            }),
        ));
    }
    let mut handlers = Vec::new();
    for _ in 0..PEERS {
        let (conn, who) = timed("accept", server.accept()).await.unwrap();
        let i = clients.iter().position(|(k, _)| *k == who).expect("a known client") as u64;
        handlers.push((
            i,
            E::spawn(async move {
                let got = receive(&conn).await;
                let sent = send(&conn, 1000 + i, EACH).await;
                (got, sent)
            }),
        ));
    }
    // In the clients' order (connections arrive in any order).
    handlers.sort_by_key(|(i, _)| *i);
    let mut sockets = Vec::new();
    within(Duration::from_secs(120), "50 connections", async {
        for ((_, client), (_, handler)) in clients.into_iter().zip(handlers) {
            let (client_sent, client_got, socket) = client.await;
            sockets.push(socket);
            let (server_got, server_sent) = handler.await;
            assert_eq!(server_got, (EACH, client_sent));
            assert_eq!(client_got, (EACH, server_sent));
        }
    })
    .await;
    eprintln!("{PEERS} connections × {} KiB each way in {:?}", EACH >> 10, started.elapsed());
}

both!(bulk_both_ways_at_once, fifty_concurrent_connections_on_one_socket);
