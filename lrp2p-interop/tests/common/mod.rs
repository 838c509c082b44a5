//! The scenarios, written once: [`Adapter`] and [`Conn`] are a small blocking interface each
//! adapter implements on its own runtime (`adapters`), and every scenario is generic over the
//! dialer's and the acceptor's adapter. Every call is bounded ([`TIMEOUT`]), and every
//! scenario as a whole ([`bounded`]).

#![allow(dead_code, unreachable_pub)]

mod adapters;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use blake2::{Blake2b512, Digest};
use lrp2p_std::{AppProtocol, EndpointConfig, PublicKey};

pub use adapters::{AsyncStd, Std, Tokio};

/// Bounds every blocking call of a scenario.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Bounds a whole scenario.
pub const SCENARIO_TIMEOUT: Duration = Duration::from_secs(60);

/// Bytes each way in the bulk exchange.
pub const BULK: usize = 4 << 20;

/// A configuration for tests: fresh keys (0-RTT accepted at once), a short handshake timeout.
pub fn config() -> EndpointConfig {
    let mut config = EndpointConfig::default();
    config.early_data.start_floor = false;
    config.connection.handshake_timeout = Duration::from_secs(5);
    config
}

/// One adapter's socket, driven on its own runtime, behind blocking calls.
pub trait Adapter: Send + Sync + Sized + 'static {
    /// The adapter's connection behind blocking calls.
    type Conn: Conn;
    /// A socket on 127.0.0.1 with a fresh key and [`config`].
    fn bind() -> Self;
    fn local_addr(&self) -> SocketAddr;
    fn public_key(&self) -> PublicKey;
    /// Noise IK (0-RTT): the first write rides in the handshake's first datagram.
    fn connect(&self, addr: SocketAddr, peer: PublicKey) -> Self::Conn;
    /// Noise XX: learns the peer's key.
    fn connect_unknown(&self, addr: SocketAddr) -> Self::Conn;
    fn accept(&self) -> (Self::Conn, PublicKey);
    /// IK with `peer`, else XX, sending the application protocol id `id` (PROTOCOL.md §7.7).
    fn connect_with(&self, addr: SocketAddr, peer: Option<PublicKey>, id: AppProtocol) -> Self::Conn;
}

/// One connection behind blocking calls; reading and writing may run on two threads at once.
pub trait Conn: Send + Sync + 'static {
    fn write_all(&self, data: &[u8]) -> io::Result<()>;
    fn read(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// Ready once the bytes are in the transport's hands: does not wait for the peer.
    fn flush(&self) -> io::Result<()>;
    /// Half-close (std `shutdown`, tokio `poll_shutdown`, futures-io `poll_close`).
    fn shutdown(&self) -> io::Result<()>;
    /// Waits until the peer has acknowledged everything written, the FIN included.
    fn acknowledged(&self) -> io::Result<()>;
    fn peer_public_key(&self) -> Option<PublicKey>;
    /// The application protocol id it was opened with, or the one the initiator sent.
    fn app_protocol(&self) -> Option<AppProtocol>;
}

/// Runs `scenario` on a thread of its own and fails if it panics or outlasts
/// [`SCENARIO_TIMEOUT`]; prints how long it took.
pub fn bounded(name: &str, scenario: fn()) {
    let (done, finished) = mpsc::channel();
    let started = Instant::now();
    let runner = thread::spawn(move || {
        scenario();
        let _ = done.send(());
    });
    match finished.recv_timeout(SCENARIO_TIMEOUT) {
        Ok(()) => {}
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let panic = runner.join().expect_err("the scenario ended without reporting");
            std::panic::resume_unwind(panic);
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{name}: not done within {SCENARIO_TIMEOUT:?}"),
    }
    eprintln!("{name}: {:?}", started.elapsed());
}

/// Stream `seed`'s bytes from `offset` into `buf` (SplitMix64 blocks: cheap, and a
/// misplaced byte shows in the hash).
fn fill(seed: u64, offset: usize, buf: &mut [u8]) {
    for (k, chunk) in buf.chunks_mut(8).enumerate() {
        let mut z = seed ^ ((offset / 8 + k) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        let block = (z ^ (z >> 31)).to_le_bytes();
        chunk.copy_from_slice(&block[..chunk.len()]);
    }
}

/// Writes `len` bytes of stream `seed`, flushes, half-closes and waits until the peer has
/// acknowledged everything; returns the hash of what was written.
fn send(conn: &impl Conn, seed: u64, len: usize) -> Vec<u8> {
    let (mut hash, mut buf, mut offset) = (Blake2b512::new(), vec![0u8; 64 << 10], 0);
    while offset < len {
        let n = buf.len().min(len - offset);
        fill(seed, offset, &mut buf[..n]);
        hash.update(&buf[..n]);
        conn.write_all(&buf[..n]).expect("write");
        offset += n;
    }
    conn.flush().expect("flush");
    conn.shutdown().expect("half-close");
    // Writing after the half-close is a broken pipe, in every adapter.
    let err = conn.write_all(b"more").expect_err("write after half-close");
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
    conn.acknowledged().expect("acknowledged");
    hash.finalize().to_vec()
}

/// Reads to the end of the stream; returns how many bytes arrived and their hash.
fn receive(conn: &impl Conn) -> (usize, Vec<u8>) {
    let (mut hash, mut buf, mut len) = (Blake2b512::new(), vec![0u8; 64 << 10], 0);
    loop {
        match conn.read(&mut buf).expect("read") {
            0 => break,
            n => {
                hash.update(&buf[..n]);
                len += n;
            }
        }
    }
    // The end of the stream stays the end.
    assert_eq!(conn.read(&mut buf).expect("read after the end"), 0);
    (len, hash.finalize().to_vec())
}

/// The hash of `len` bytes of stream `seed`.
fn expected(seed: u64, len: usize) -> Vec<u8> {
    let (mut hash, mut buf, mut offset) = (Blake2b512::new(), vec![0u8; 64 << 10], 0);
    while offset < len {
        let n = buf.len().min(len - offset);
        fill(seed, offset, &mut buf[..n]);
        hash.update(&buf[..n]);
        offset += n;
    }
    hash.finalize().to_vec()
}

/// Sends [`BULK`] bytes of stream `seed` and receives the peer's stream, at once (a thread
/// each); returns (sent hash, received length, received hash).
fn both_ways<C: Conn>(conn: C, seed: u64) -> (Vec<u8>, usize, Vec<u8>) {
    let conn = Arc::new(conn);
    let writer = {
        let conn = conn.clone();
        thread::spawn(move || send(&*conn, seed, BULK))
    };
    let (len, got) = receive(&*conn);
    (writer.join().expect("writer"), len, got)
}

/// IK with 0-RTT data, then [`BULK`] bytes each way at once, each side half-closing after
/// its stream; both verify the other's stream by hash and wait for their own to be
/// acknowledged.
pub fn ik_bulk_both_ways<D: Adapter, A: Adapter>() {
    let (dialer, acceptor) = (D::bind(), A::bind());
    let (addr, key) = (acceptor.local_addr(), acceptor.public_key());
    let dialer_key = dialer.public_key();
    let accepting = thread::spawn(move || {
        let (conn, who) = acceptor.accept();
        assert_eq!(who, dialer_key);
        assert_eq!(conn.peer_public_key(), Some(dialer_key));
        let mut hello = [0u8; 5];
        let mut got = 0;
        while got < hello.len() {
            got += conn.read(&mut hello[got..]).expect("read the 0-RTT greeting");
        }
        assert_eq!(&hello, b"hello");
        (both_ways(conn, 2), acceptor)
    });
    let conn = dialer.connect(addr, key);
    // Before any handshake: these bytes ride in the IK initiation (0-RTT).
    conn.write_all(b"hello").expect("0-RTT write");
    assert_eq!(conn.peer_public_key(), Some(key));
    let (sent, len, got) = both_ways(conn, 1);
    let ((their_sent, their_len, their_got), _acceptor) = accepting.join().expect("acceptor");
    let want = (BULK, expected(1, BULK));
    assert_eq!((their_len, &their_got), (want.0, &want.1), "dialer → acceptor");
    assert_eq!(sent, want.1);
    assert_eq!((len, &got), (BULK, &expected(2, BULK)), "acceptor → dialer");
    assert_eq!(their_sent, got);
}

/// XX (`connect_unknown`): the dialer learns the acceptor's key; a question and an answer,
/// each side half-closing.
pub fn xx_exchange<D: Adapter, A: Adapter>() {
    let (dialer, acceptor) = (D::bind(), A::bind());
    let (addr, key) = (acceptor.local_addr(), acceptor.public_key());
    let dialer_key = dialer.public_key();
    let accepting = thread::spawn(move || {
        let (conn, who) = acceptor.accept();
        assert_eq!(who, dialer_key);
        assert_eq!(read_to_end(&conn), b"question");
        conn.write_all(b"answer").expect("write");
        conn.shutdown().expect("half-close");
        conn.acknowledged().expect("acknowledged");
        acceptor
    });
    let conn = dialer.connect_unknown(addr);
    conn.write_all(b"question").expect("write");
    conn.shutdown().expect("half-close");
    assert_eq!(read_to_end(&conn), b"answer");
    assert_eq!(conn.peer_public_key(), Some(key), "XX learned the acceptor's key");
    conn.acknowledged().expect("acknowledged");
    drop(accepting.join().expect("acceptor"));
}

/// The application protocol id the dialer sends is the one the acceptor reads, for IK and for
/// XX; a plain connect sends none.
pub fn app_protocol_exchange<D: Adapter, A: Adapter>() {
    let (dialer, acceptor) = (D::bind(), A::bind());
    let (addr, key) = (acceptor.local_addr(), acceptor.public_key());
    let id = AppProtocol::try_from("interop/1").expect("an id");
    let accepting = thread::spawn(move || {
        let seen: Vec<Option<AppProtocol>> = (0..3)
            .map(|_| {
                let (conn, _) = acceptor.accept();
                assert_eq!(read_to_end(&conn), b"hi");
                conn.app_protocol()
            })
            .collect();
        (acceptor, seen)
    });
    for peer in [Some(key), None] {
        let conn = dialer.connect_with(addr, peer, id);
        conn.write_all(b"hi").expect("write");
        conn.shutdown().expect("half-close");
        assert_eq!(conn.app_protocol(), Some(id));
        conn.acknowledged().expect("acknowledged");
    }
    let plain = dialer.connect(addr, key);
    plain.write_all(b"hi").expect("write");
    plain.shutdown().expect("half-close");
    plain.acknowledged().expect("acknowledged");
    let (_acceptor, seen) = accepting.join().expect("acceptor");
    assert_eq!(seen, [Some(id), Some(id), None]);
}

fn read_to_end(conn: &impl Conn) -> Vec<u8> {
    let (mut out, mut buf) = (Vec::new(), [0u8; 256]);
    loop {
        match conn.read(&mut buf).expect("read") {
            0 => return out,
            n => out.extend_from_slice(&buf[..n]),
        }
    }
}
