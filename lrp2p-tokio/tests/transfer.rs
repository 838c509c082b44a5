//! Bulk data: 100 MB in both directions at once on one connection, and 50 concurrent
//! connections on one socket, every byte checked against a seeded pattern.

// clippy's allow-unwrap-in-tests does not see into #[tokio::test] bodies; a panic is a test's
// failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{bounded, socket};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes each way on the bulk connection.
const BULK: usize = 100_000_000;

/// Bounds the whole bulk transfer.
const BULK_TIMEOUT: Duration = Duration::from_secs(300);

/// SplitMix64 (Steele et al. 2014): the pattern's 8-byte block `i` of stream `seed`.
fn block(seed: u64, i: u64) -> [u8; 8] {
    let mut z = seed.wrapping_add(i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)).to_le_bytes()
}

/// Fills `buf` with the pattern from stream offset `offset` (a multiple of 8).
fn fill(seed: u64, offset: usize, buf: &mut [u8]) {
    for (k, chunk) in buf.chunks_mut(8).enumerate() {
        let b = block(seed, (offset / 8 + k) as u64);
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
}

/// Writes `len` pattern bytes, then half-closes.
async fn send(mut conn: impl AsyncWrite + Unpin, seed: u64, len: usize) {
    let mut buf = vec![0u8; 64 << 10];
    let mut offset = 0;
    while offset < len {
        let n = buf.len().min(len - offset);
        fill(seed, offset, &mut buf[..n]);
        conn.write_all(&buf[..n]).await.expect("write");
        offset += n;
    }
    conn.shutdown().await.expect("shutdown");
}

/// Reads to the end of the stream, checking every byte; returns how many arrived.
async fn receive(mut conn: impl AsyncRead + Unpin, seed: u64) -> usize {
    let mut buf = vec![0u8; 64 << 10];
    let mut expected = vec![0u8; (64 << 10) + 8];
    let mut offset = 0;
    loop {
        let n = conn.read(&mut buf).await.expect("read");
        if n == 0 {
            return offset;
        }
        let start = offset / 8 * 8;
        let skip = offset - start;
        fill(seed, start, &mut expected[..skip + n]);
        assert!(buf[..n] == expected[skip..skip + n], "corrupt data at offset {offset}");
        offset += n;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_both_ways_at_once() {
    let (a, b) = (socket().await, socket().await);
    let started = Instant::now();
    let conn_a = a.connect(b.local_addr().unwrap(), b.public_key()).await.unwrap();
    bounded(conn_a.connected()).await.unwrap();
    let (conn_b, _) = bounded(b.accept()).await.unwrap();
    let (read_a, write_a) = conn_a.into_split();
    let (read_b, write_b) = conn_b.into_split();
    let transfer = async {
        let sends = (tokio::spawn(send(write_a, 1, BULK)), tokio::spawn(send(write_b, 2, BULK)));
        let (at_b, at_a) = (tokio::spawn(receive(read_b, 1)), tokio::spawn(receive(read_a, 2)));
        sends.0.await.unwrap();
        sends.1.await.unwrap();
        (at_a.await.unwrap(), at_b.await.unwrap())
    };
    let got = tokio::time::timeout(BULK_TIMEOUT, transfer).await.expect("bulk transfer timed out");
    assert_eq!(got, (BULK, BULK));
    let elapsed = started.elapsed();
    eprintln!("{} MB each way at once in {elapsed:?}; A's socket: {:?}", BULK / 1_000_000, a.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_connections_on_one_socket() {
    const PEERS: u64 = 50;
    const EACH: usize = 64 << 10;
    let server = socket().await;
    let addr = server.local_addr().unwrap();
    let key = server.public_key();
    let mut clients = Vec::new();
    for i in 0..PEERS {
        let client = socket().await;
        let peer_key = client.public_key();
        // Each client sends its own pattern, then reads the server's echo under another seed.
        let task = tokio::spawn(async move {
            let conn = client.connect(addr, key).await.unwrap();
            let (read, write) = conn.into_split();
            let sent = tokio::spawn(send(write, i, EACH));
            let got = receive(read, 1000 + i).await;
            sent.await.unwrap();
            assert_eq!(got, EACH);
            client
        });
        clients.push((peer_key, task));
    }
    let keys: Vec<_> = clients.iter().map(|(k, _)| *k).collect();
    let mut handlers = Vec::new();
    for _ in 0..PEERS {
        let (conn, who) = bounded(server.accept()).await.unwrap();
        let i = keys.iter().position(|k| *k == who).expect("a known client") as u64;
        handlers.push(tokio::spawn(async move {
            let (read, mut write) = conn.into_split();
            assert_eq!(receive(read, i).await, EACH);
            let mut buf = vec![0u8; EACH];
            fill(1000 + i, 0, &mut buf);
            write.write_all(&buf).await.unwrap();
            write.shutdown().await.unwrap();
            write.acknowledged().await.unwrap();
        }));
    }
    let all = async {
        for handler in handlers {
            handler.await.unwrap();
        }
        for (_, client) in clients {
            drop(client.await.unwrap());
        }
    };
    bounded(all).await;
}
