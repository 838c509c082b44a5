//! Bulk data: 100 MiB in both directions at once on one connection, and 50 concurrent
//! connections on one socket; each stream verified by a BLAKE2b hash of what was sent against
//! one of what arrived.

mod common;

use std::io::{Read, Write};
use std::thread;
use std::time::Instant;

use blake2::{Blake2b512, Digest};
use common::{TIMEOUT, socket};
use lrp2p_std::Connection;

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
fn send(mut conn: &Connection, seed: u64, len: usize) -> Vec<u8> {
    let mut hash = Blake2b512::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut offset = 0;
    while offset < len {
        let n = buf.len().min(len - offset);
        for (k, chunk) in buf[..n].chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&block(seed, (offset / 8 + k) as u64)[..chunk.len()]);
        }
        hash.update(&buf[..n]);
        conn.write_all(&buf[..n]).expect("write");
        offset += n;
    }
    conn.shutdown().expect("shutdown");
    conn.acknowledged().expect("acknowledged");
    hash.finalize().to_vec()
}

/// Reads to the end of the stream; returns how many bytes arrived and their hash.
fn receive(mut conn: &Connection) -> (usize, Vec<u8>) {
    let mut hash = Blake2b512::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut len = 0;
    loop {
        let n = conn.read(&mut buf).expect("read");
        if n == 0 {
            return (len, hash.finalize().to_vec());
        }
        hash.update(&buf[..n]);
        len += n;
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
    conn_a.connected().unwrap();
    let (conn_b, _) = b.accept_timeout(TIMEOUT).unwrap();
    conn_b.set_read_timeout(Some(TIMEOUT));
    conn_b.set_write_timeout(Some(TIMEOUT));
    thread::scope(|s| {
        let sent_a = s.spawn(|| send(&conn_a, 1, BULK));
        let sent_b = s.spawn(|| send(&conn_b, 2, BULK));
        let at_b = s.spawn(|| receive(&conn_b));
        let at_a = s.spawn(|| receive(&conn_a));
        assert_eq!(at_b.join().unwrap(), (BULK, sent_a.join().unwrap()), "A → B");
        assert_eq!(at_a.join().unwrap(), (BULK, sent_b.join().unwrap()), "B → A");
    });
    let elapsed = started.elapsed();
    let stats = conn_a.stats();
    eprintln!("{} MiB each way in {elapsed:?}; A's connection: {stats:?}", BULK >> 20);
}

#[test]
fn fifty_concurrent_connections_on_one_socket() {
    const PEERS: usize = 50;
    const EACH: usize = 256 << 10;
    let server = socket();
    let addr = server.local_addr().unwrap();
    let key = server.public_key();
    let clients: Vec<_> = (0..PEERS).map(|_| socket()).collect();
    let started = Instant::now();
    thread::scope(|s| {
        let dialers: Vec<_> = (clients.iter().enumerate())
            .map(|(i, client)| {
                s.spawn(move || {
                    let conn = client.connect(addr, key).unwrap();
                    conn.set_read_timeout(Some(TIMEOUT));
                    conn.set_write_timeout(Some(TIMEOUT));
                    let sent = send(&conn, i as u64, EACH);
                    // The server answers with the pattern under another seed.
                    (sent, receive(&conn))
                })
            })
            .collect();
        let mut handlers: Vec<_> = (0..PEERS)
            .map(|_| {
                let (conn, who) = server.accept_timeout(TIMEOUT).unwrap();
                let i = clients.iter().position(|c| c.public_key() == who).expect("a known client");
                let handler = s.spawn(move || {
                    conn.set_read_timeout(Some(TIMEOUT));
                    conn.set_write_timeout(Some(TIMEOUT));
                    let got = receive(&conn);
                    (got, send(&conn, 1000 + i as u64, EACH))
                });
                (i, handler)
            })
            .collect();
        // In the clients' order (connections arrive in any order).
        handlers.sort_by_key(|(i, _)| *i);
        for (dialer, (_, handler)) in dialers.into_iter().zip(handlers) {
            let (client_sent, client_got) = dialer.join().unwrap();
            let (server_got, server_sent) = handler.join().unwrap();
            assert_eq!(server_got, (EACH, client_sent));
            assert_eq!(client_got, (EACH, server_sent));
        }
    });
    eprintln!("{PEERS} connections × {} KiB each way in {:?}", EACH >> 10, started.elapsed());
}
