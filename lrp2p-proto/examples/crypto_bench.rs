//! Crypto benchmark: single-core throughput of the transport's AEAD data path.
//!
//! Not a test: a program that prints figures. Run it optimized, with both backends:
//!
//! ```text
//! cargo run --release -p lrp2p-proto --features ring,internals --example crypto_bench
//! ```
//!
//! Sections (each a `bench_*` function called from `main`):
//! - `bench_aead`: for each AEAD backend, 1400-byte datagrams through [`Session::seal`] and
//!   [`Session::open`] (header, counter, replay window included), and the bare AEAD seal.
//! - handshakes per second: to be added as `bench_handshake` (see `main`).

// A benchmark prints its figures and reads the clock; the sans-IO rules are for the library.
#![allow(clippy::print_stdout, clippy::disallowed_methods)]

use std::error::Error;
use std::hint::black_box;
use std::time::{Duration, Instant};

#[cfg(feature = "ring")]
use lrp2p_proto::crypto::RingAead;
use lrp2p_proto::crypto::{Aead, RustCryptoAead, Session};
use lrp2p_proto::wire::{ConnectionId, DEFAULT_MAX_DATAGRAM, TRANSPORT_HEADER_LEN};

/// Datagram size measured: the default maximum datagram.
const DATAGRAM: usize = DEFAULT_MAX_DATAGRAM;

/// Header + tag added to every plaintext.
const OVERHEAD: usize = lrp2p_proto::crypto::session::TRANSPORT_OVERHEAD;

/// How long each measurement runs (after a short warm-up).
const RUN_FOR: Duration = Duration::from_millis(1500);

/// Packets per timing batch (the clock is read once per batch).
const BATCH: u64 = 256;

fn main() -> Result<(), Box<dyn Error>> {
    println!("lrp2p-proto crypto_bench: one core, {DATAGRAM}-byte datagrams");
    println!();
    bench_aead()?;

    println!();
    bench_handshakes()?;
    Ok(())
}

/// AEAD throughput for every backend compiled in.
fn bench_aead() -> Result<(), Box<dyn Error>> {
    println!("AEAD (ChaCha20-Poly1305), per backend.");
    println!("  'session seal+open': one datagram sealed by one Session and opened by its peer,");
    println!("  counted once (both operations in the time); 'aead seal only': the bare cipher.");
    bench_backend::<RustCryptoAead>()?;
    #[cfg(feature = "ring")]
    bench_backend::<RingAead>()?;
    #[cfg(not(feature = "ring"))]
    println!(
        "  ring: not built; run with `--features ring` to measure it \
         (cargo run --release -p lrp2p-proto --features ring,internals --example crypto_bench)"
    );
    Ok(())
}

/// One backend: a full seal+open round per datagram, then the bare AEAD seal.
fn bench_backend<A: Aead>() -> Result<(), Box<dyn Error>> {
    let (k1, k2) = ([0x11u8; 32], [0x22u8; 32]);
    let mut tx = Session::<A>::new(&k1, &k2, ConnectionId(2))?;
    let mut rx = Session::<A>::new(&k2, &k1, ConnectionId(1))?;
    let plaintext_len = DATAGRAM - OVERHEAD;
    let mut buf = [0x5au8; DATAGRAM];
    let mut failed = 0u64;

    // Seal into `buf`, then open it in place: the plaintext is back at buf[17..], ready for the
    // next seal. No copies, no allocation; exactly the transport's per-packet work.
    let (packets, elapsed) = measure(|| {
        let sealed = tx.seal(black_box(&mut buf), plaintext_len).unwrap_or(0);
        match rx.open(&mut buf[..sealed]) {
            Ok(plaintext) => {
                black_box(plaintext);
            }
            Err(_) => failed += 1,
        }
    });
    if failed != 0 {
        return Err(format!("{failed} datagrams failed to open").into());
    }
    report(&format!("{} session seal+open", A::NAME), packets, elapsed, DATAGRAM);

    let key = A::new(&k1)?;
    let mut counter = 0u64;
    let mut body = [0x5au8; DATAGRAM - OVERHEAD];
    let ad = [0u8; TRANSPORT_HEADER_LEN];
    let (packets, elapsed) = measure(|| {
        counter += 1;
        black_box(key.seal_in_place(counter, &ad, black_box(&mut body)).ok());
    });
    report(&format!("{} aead seal only", A::NAME), packets, elapsed, DATAGRAM - OVERHEAD);
    Ok(())
}

/// Completed handshakes per second on one core, both roles computed in this thread, plus the
/// X25519 rate that bounds them: each side of IK performs one key generation and four DH
/// (`es`, `ss`, `ee`, `se`); each side of XX one key generation and three DH.
fn bench_handshakes() -> Result<(), Box<dyn Error>> {
    use lrp2p_proto::StaticSecret;
    use lrp2p_proto::crypto::noise::ik::{IkInitiator, IkResponder};
    use lrp2p_proto::crypto::noise::prologue;
    use lrp2p_proto::crypto::noise::xx::{XxInitiator, XxResponder};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    println!("Handshakes (Noise, X25519 + ChaChaPoly + BLAKE2s), both sides on one core.");
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let initiator = StaticSecret::generate(&mut rng);
    let responder = StaticSecret::generate(&mut rng);
    let remote = responder.public_key();
    let p = prologue(ConnectionId(42));
    let (mut m1, mut m2, mut m3, mut pl) = ([0u8; 256], [0u8; 256], [0u8; 256], [0u8; 256]);
    let mut failed = false;

    let (n, t) = measure(|| {
        let Ok((w, n1)) = IkInitiator::start(&mut rng, &initiator, &remote, &p, b"0-rtt", &mut m1) else {
            return failed = true;
        };
        let Ok((r, _)) = IkResponder::read_initiation(&responder, &p, &m1[..n1], &mut pl) else {
            return failed = true;
        };
        let Ok((a, n2)) = r.write_response(&mut rng, b"", &mut m2) else { return failed = true };
        failed |= black_box(w.read_response(&m2[..n2], &mut pl).map(|b| (a, b))).is_err();
    });
    report_rate("IK handshakes (initiator + responder)", n, t);
    let (n, t) = measure(|| {
        let Ok((w, n1)) = XxInitiator::start(&mut rng, &initiator, &p, b"", &mut m1) else {
            return failed = true;
        };
        let Ok((r, _)) = XxResponder::read_initiation(&responder, &p, &m1[..n1], &mut pl) else {
            return failed = true;
        };
        let Ok((rw, n2)) = r.write_response(&mut rng, b"", &mut m2) else { return failed = true };
        let Ok((ir, _)) = w.read_response(&m2[..n2], &mut pl) else { return failed = true };
        let Ok((a, n3)) = ir.write_finish(b"data", &mut m3) else { return failed = true };
        failed |= black_box(rw.read_finish(&m3[..n3], &mut pl).map(|b| (a, b))).is_err();
    });
    report_rate("XX handshakes (initiator + responder)", n, t);
    let base = x25519_dalek::StaticSecret::from([9u8; 32]);
    let peer = x25519_dalek::PublicKey::from(*remote.as_bytes());
    let (n, t) = measure(|| {
        black_box(base.diffie_hellman(black_box(&peer)));
    });
    let rate = n as f64 / t.as_secs_f64();
    println!("  {:<48} {rate:>12.0} /s   (bound: {:.0} handshakes/s per side)", "X25519 DH", rate / 5.0);
    if failed {
        return Err("a handshake failed during the benchmark".into());
    }
    Ok(())
}

/// Prints operations per second.
fn report_rate(name: &str, ops: u64, elapsed: Duration) {
    let rate = ops as f64 / elapsed.as_secs_f64();
    println!("  {name:<48} {rate:>12.0} /s   (per side: ~{:.0} /s)", 2.0 * rate);
}

/// Runs `op` for a warm-up, then for [`RUN_FOR`]; returns the count and the time taken.
fn measure(mut op: impl FnMut()) -> (u64, Duration) {
    let warm_up = Instant::now();
    while warm_up.elapsed() < RUN_FOR / 10 {
        for _ in 0..BATCH {
            op();
        }
    }
    let start = Instant::now();
    let mut count = 0u64;
    loop {
        for _ in 0..BATCH {
            op();
        }
        count += BATCH;
        let elapsed = start.elapsed();
        if elapsed >= RUN_FOR {
            return (count, elapsed);
        }
    }
}

/// Prints one line: packets per second and megabytes (10^6 bytes) per second of `bytes`-sized
/// packets.
fn report(name: &str, packets: u64, elapsed: Duration, bytes: usize) {
    let secs = elapsed.as_secs_f64();
    let pps = packets as f64 / secs;
    let mbps = pps * bytes as f64 / 1e6;
    println!("  {name:<48} {pps:>12.0} packets/s {mbps:>9.1} MB/s ({bytes} B, {secs:.2} s)");
}
