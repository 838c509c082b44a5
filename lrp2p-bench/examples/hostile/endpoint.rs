//! `xx-flood` and `silent`: a real [`Endpoint`] driven by hand on one UDP socket (one
//! address:port), opening many connections to the server: it answers cookie replies with the
//! initiation again under the cookie, retransmits, and confirms handshakes, as a peer would.
//!
//! - `xx-flood`: [`XX_CONNECTIONS`] Noise XX connections (no key known), opened at the target
//!   rate. The attacker withholds every XX finish (it drops its own 0x15 datagrams), so each
//!   handshake the server answers stays half-open on the server until its handshake timeout:
//!   a validated address (it echoes cookies) trying to take the half-open table.
//! - `silent`: [`SILENT_CONNECTIONS`] Noise IK connections to the server's key, opened at the
//!   target rate, which complete and are confirmed (the endpoint acknowledges the response)
//!   and then carry nothing: no data, no keep-alives (the endpoint still acknowledges what the
//!   server sends, as any peer's transport does).

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::thread;
use std::time::{Duration, Instant};

use lrp2p_proto::{CloseReason, Endpoint, EndpointConfig, Event, PublicKey, StaticSecret};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::attack::{Outcome, Pacer, RECV_BUF, Source};
use crate::flood::unix_ns;

/// Connections `xx-flood` opens.
pub(crate) const XX_CONNECTIONS: usize = 1500;

/// Connections `silent` opens.
pub(crate) const SILENT_CONNECTIONS: usize = 3000;

/// Which of the two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// XX initiations, finishes withheld.
    XxFlood,
    /// Confirmed IK connections, then silence.
    Silent,
}

/// Tallies of the endpoint's events.
#[derive(Debug, Default)]
struct Tally {
    connected: u64,
    closed: Vec<(String, u64)>,
    withheld_finishes: u64,
}

impl Tally {
    fn closed(&mut self, reason: &CloseReason) {
        // The variant's name only (drop any fields).
        let name = format!("{reason:?}");
        let name = name.split(['(', ' ', '{']).next().unwrap_or("?").to_owned();
        match self.closed.iter_mut().find(|(n, _)| *n == name) {
            Some((_, c)) => *c += 1,
            None => self.closed.push((name, 1)),
        }
    }
}

/// Runs `kind` against `server` for `secs`, opening connections at `rate` per second.
pub(crate) fn run(
    kind: Kind,
    server: SocketAddr,
    key: PublicKey,
    rate: f64,
    secs: Duration,
    seed: u64,
) -> io::Result<Outcome> {
    let (ip, total) = match kind {
        Kind::XxFlood => (Ipv4Addr::new(127, 99, 0, 1), XX_CONNECTIONS),
        Kind::Silent => (Ipv4Addr::new(127, 99, 1, 1), SILENT_CONNECTIONS),
    };
    let mut source = Source::bind(ip)?;
    let local = source.local_addr()?;
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let identity = StaticSecret::generate(&mut rng);
    let mut config = EndpointConfig::default();
    // Silence: no keep-alive PINGs of our own.
    config.connection.keep_alive = None;
    let start = Instant::now();
    let mut ep = Endpoint::new(config, identity, rng, start, unix_ns());
    let peer = match kind {
        Kind::XxFlood => None,
        Kind::Silent => Some(key),
    };
    let mut pacer = Pacer::new(rate);
    let mut opened = 0usize;
    let mut tally = Tally::default();
    let mut buf = vec![0u8; RECV_BUF];
    let mut out = vec![0u8; RECV_BUF];
    let deadline = start + secs;
    let mut last_sent = start;
    let mut open_errors = 0u64;
    while Instant::now() < deadline {
        let now = Instant::now();
        for _ in 0..pacer.due() {
            if opened >= total {
                break;
            }
            match ep.connect(now, server, peer) {
                Ok(_) => opened += 1,
                Err(_) => open_errors += 1,
            }
        }
        source.drain(&mut buf, |from, d| ep.handle_datagram(now, from, d));
        if ep.poll_timeout().is_some_and(|t| t <= now) {
            ep.handle_timeout(now);
        }
        // Bounded per turn, so that a long queue does not hold the loop past its deadline.
        for _ in 0..4096 {
            let Some(t) = ep.poll_transmit(now, &mut out) else { break };
            if kind == Kind::XxFlood && out.first() == Some(&0x15) {
                tally.withheld_finishes += 1;
                continue;
            }
            source.send(&out[..t.len], t.destination);
            last_sent = Instant::now();
        }
        while let Some(event) = ep.poll_event() {
            match event {
                Event::Connected { .. } => tally.connected += 1,
                Event::Closed { reason, .. } => tally.closed(&reason),
                _ => {}
            }
        }
        thread::sleep(Duration::from_micros(300));
    }
    // Keep counting answers for a moment; the endpoint is dropped without a word (silence).
    let drain_until = Instant::now() + crate::attack::DRAIN;
    while Instant::now() < drain_until {
        source.drain(&mut buf, |_, _| {});
        thread::sleep(Duration::from_millis(10));
    }
    let mut notes = vec![format!(
        "one socket {local}: {opened} connections opened at up to {rate:.0}/s ({open_errors} refused locally), {} still held by the attacker's endpoint at the end",
        ep.connection_count()
    )];
    match kind {
        Kind::XxFlood => notes.push(format!(
            "{} XX responses received; the attacker withheld its XX finish {} times (those handshakes stay half-open on the server)",
            source.counts.rx_kinds[crate::attack::XX_RESPONSE], tally.withheld_finishes
        )),
        Kind::Silent => notes.push(format!("{} IK handshakes completed and confirmed by the attacker", tally.connected)),
    }
    if !tally.closed.is_empty() {
        let list: Vec<String> = tally.closed.iter().map(|(n, c)| format!("{c} {n}")).collect();
        notes.push(format!("attacker-side connection ends: {}", list.join(", ")));
    }
    let outcome =
        Outcome { elapsed: last_sent - start, sources: vec![(source.counts, true)], notes: Vec::new() };
    let received = outcome.received_note();
    notes.push(received);
    Ok(Outcome { notes, ..outcome })
}
