//! Bulk data: 20 MB in both directions at once on one connection, and 20 concurrent
//! connections on one socket, every byte checked against a seeded pattern.

mod common;

use std::io::{Read, Write};
use std::thread;
use std::time::Instant;

use common::{TIMEOUT, socket};
use lrp2p_std::Connection;

/// Bytes each way: 20 MiB in release (about 0.4 s on the 2-core development machine); 8 MiB in
/// the dev profile, where the unoptimized-with-debug-assertions ChaCha20 makes up ~80% of the
/// CPU time and 20 MiB would take ~15 s.
const BULK: usize = if cfg!(debug_assertions) { 8 << 20 } else { 20 << 20 };

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
fn send(mut conn: &Connection, seed: u64, len: usize) {
    let mut buf = vec![0u8; 64 << 10];
    let mut offset = 0;
    while offset < len {
        let n = buf.len().min(len - offset);
        fill(seed, offset, &mut buf[..n]);
        conn.write_all(&buf[..n]).expect("write");
        offset += n;
    }
    conn.shutdown().expect("shutdown");
}

/// Reads to the end of the stream, checking every byte; returns how many arrived.
fn receive(mut conn: &Connection, seed: u64) -> usize {
    let mut buf = vec![0u8; 64 << 10];
    let mut expected = vec![0u8; (64 << 10) + 8];
    let mut offset = 0;
    loop {
        let n = conn.read(&mut buf).expect("read");
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

#[test]
fn bulk_both_ways_at_once() {
    let (a, b) = (socket(), socket());
    let started = Instant::now();
    let conn_a = a.connect(b.local_addr().unwrap(), b.public_key()).unwrap();
    conn_a.set_read_timeout(Some(TIMEOUT));
    conn_a.set_write_timeout(Some(TIMEOUT));
    (&conn_a).write_all(b"").unwrap();
    conn_a.wait_connected().unwrap();
    let (conn_b, _) = b.accept_timeout(TIMEOUT).unwrap();
    conn_b.set_read_timeout(Some(TIMEOUT));
    conn_b.set_write_timeout(Some(TIMEOUT));
    let (got_b, got_a) = thread::scope(|s| {
        s.spawn(|| send(&conn_a, 1, BULK));
        s.spawn(|| send(&conn_b, 2, BULK));
        let at_b = s.spawn(|| receive(&conn_b, 1));
        let at_a = s.spawn(|| receive(&conn_a, 2));
        (at_b.join().unwrap(), at_a.join().unwrap())
    });
    assert_eq!((got_a, got_b), (BULK, BULK));
    let elapsed = started.elapsed();
    let stats = conn_a.stats();
    eprintln!("{} MiB each way in {elapsed:?}; A's connection: {stats:?}", BULK >> 20);
}

#[test]
fn twenty_concurrent_connections_on_one_socket() {
    const PEERS: usize = 20;
    const EACH: usize = 256 << 10;
    let server = socket();
    let addr = server.local_addr().unwrap();
    let key = server.public_key();
    let clients: Vec<_> = (0..PEERS).map(|_| socket()).collect();
    thread::scope(|s| {
        for (i, client) in clients.iter().enumerate() {
            s.spawn(move || {
                let conn = client.connect(addr, key).unwrap();
                conn.set_read_timeout(Some(TIMEOUT));
                conn.set_write_timeout(Some(TIMEOUT));
                send(&conn, i as u64, EACH);
                // The server echoes the pattern back under another seed.
                assert_eq!(receive(&conn, 1000 + i as u64), EACH);
            });
        }
        let mut handlers = Vec::new();
        for _ in 0..PEERS {
            let (conn, who) = server.accept_timeout(TIMEOUT).unwrap();
            let i = clients.iter().position(|c| c.public_key() == who).expect("a known client");
            handlers.push(s.spawn(move || {
                conn.set_read_timeout(Some(TIMEOUT));
                conn.set_write_timeout(Some(TIMEOUT));
                assert_eq!(receive(&conn, i as u64), EACH);
                send(&conn, 1000 + i as u64, EACH);
                (&conn).flush().unwrap();
            }));
        }
        for handler in handlers {
            handler.join().unwrap();
        }
    });
}
