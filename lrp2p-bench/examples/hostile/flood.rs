//! `ik-flood` and `replay`: valid IK initiations blasted from many source addresses that never
//! answer (the sources of a spoofing attacker), at the target rate.
//!
//! An initiation is made as `lrp2p-proto/tests/admission.rs` makes one, with the public API:
//! a throwaway [`Endpoint`] with a fresh static key connects to the server's address and key,
//! writes a few bytes (0-RTT data), and `poll_transmit` hands over the datagram. That costs the
//! attacker four X25519 operations, so `ik-flood` builds all of them before the timed phase,
//! on two threads, one per datagram sent (`rate × secs`, at most `--fresh` and [`MAX_FRESH`]);
//! beyond that they are sent again, a repeat coming in general from another source than the
//! first copy (to the server: a replay), which the table notes.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lrp2p_proto::{Endpoint, EndpointConfig, PublicKey, StaticSecret};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::attack::{Outcome, bind_sources, blast};

/// Source addresses of `ik-flood`: 1,000 hosts over four /24s of 127.77/16.
pub(crate) const IK_FLOOD_SOURCES: usize = 1000;

/// Source addresses of `replay`: 1,100 hosts over five /24s of 127.88/16.
pub(crate) const REPLAY_SOURCES: usize = 1100;

/// The most distinct initiations `ik-flood` builds (about 15 MB; 10 s at 10,000/s).
pub(crate) const MAX_FRESH: usize = 200_000;

/// Sender threads (the machine has two cores, shared with the server).
const THREADS: usize = 2;

/// The wall clock in ns since the Unix epoch (for IK timestamps).
pub(crate) fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A valid IK initiation to `server` (key `key`) with 4 bytes of early data, from a fresh
/// identity drawn from `seed`.
pub(crate) fn ik_initiation(seed: u64, server: SocketAddr, key: PublicKey) -> io::Result<Vec<u8>> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let identity = StaticSecret::generate(&mut rng);
    let now = Instant::now();
    let mut attacker = Endpoint::new(EndpointConfig::default(), identity, rng, now, unix_ns());
    let conn = attacker.connect(now, server, Some(key)).map_err(io::Error::other)?;
    attacker.write(now, conn, b"junk").map_err(io::Error::other)?;
    let mut buf = [0u8; 1500];
    let t = attacker.poll_transmit(now, &mut buf).ok_or_else(|| io::Error::other("no initiation"))?;
    Ok(buf[..t.len].to_vec())
}

/// Builds `n` initiations with seeds from `seed`, on [`THREADS`] threads.
fn build(n: usize, seed: u64, server: SocketAddr, key: PublicKey) -> io::Result<Vec<Vec<u8>>> {
    let per = n.div_ceil(THREADS);
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            thread::spawn(move || {
                let from = t * per;
                (from..(from + per).min(n))
                    .map(|i| ik_initiation(seed.wrapping_add(i as u64), server, key))
                    .collect::<io::Result<Vec<_>>>()
            })
        })
        .collect();
    let mut all = Vec::with_capacity(n);
    for h in handles {
        all.extend(h.join().map_err(|_| io::Error::other("a builder thread panicked"))??);
    }
    Ok(all)
}

/// A flood ready to go: its sockets bound and its datagrams built.
pub(crate) struct Prepared {
    sources: Vec<crate::attack::Source>,
    datagrams: Arc<Vec<Vec<u8>>>,
    notes: Vec<String>,
}

/// Prepares `ik-flood`: [`IK_FLOOD_SOURCES`] sockets and one fresh initiation per datagram.
pub(crate) fn prepare_ik_flood(
    server: SocketAddr,
    key: PublicKey,
    rate: f64,
    secs: Duration,
    fresh: Option<usize>,
    seed: u64,
) -> io::Result<Prepared> {
    let sources = bind_sources(77, IK_FLOOD_SOURCES)?;
    let wanted =
        usize::try_from(crate::attack::count((rate * secs.as_secs_f64()).ceil())).unwrap_or(usize::MAX);
    let n = wanted.min(fresh.unwrap_or(MAX_FRESH)).clamp(1, MAX_FRESH);
    let started = Instant::now();
    let datagrams = build(n, seed, server, key)?;
    let took = started.elapsed().as_secs_f64();
    let mut notes = vec![format!(
        "{n} distinct initiations (each a fresh static key, 4 B of 0-RTT data, {} B) built in {took:.1} s before the timed phase",
        datagrams.first().map_or(0, Vec::len)
    )];
    if wanted > n {
        notes.push(format!(
            "{wanted} would be sent at the target rate: beyond the first {n}, the initiations are sent again (replays to the server)"
        ));
    }
    Ok(Prepared { sources, datagrams: Arc::new(datagrams), notes })
}

/// Prepares `replay`: [`REPLAY_SOURCES`] sockets and one captured initiation.
pub(crate) fn prepare_replay(server: SocketAddr, key: PublicKey, seed: u64) -> io::Result<Prepared> {
    let sources = bind_sources(88, REPLAY_SOURCES)?;
    let captured = ik_initiation(seed, server, key)?;
    let notes = vec![format!(
        "one captured initiation ({} B, 4 B of 0-RTT data) sent by every source in turn, each source repeating it",
        captured.len()
    )];
    Ok(Prepared { sources, datagrams: Arc::new(vec![captured]), notes })
}

impl Prepared {
    /// Runs the flood at `rate` for `secs`; returns what it did and saw.
    pub(crate) fn run(self, to: SocketAddr, rate: f64, secs: Duration) -> io::Result<Outcome> {
        let mut outcome = blast(self.sources, self.datagrams, to, rate, secs, THREADS)?;
        let mut notes = self.notes;
        notes.push(outcome.received_note());
        outcome.notes = notes;
        Ok(outcome)
    }
}
