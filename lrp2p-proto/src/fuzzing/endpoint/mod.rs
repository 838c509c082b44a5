//! [`endpoint_ops`]: the endpoint state machine under a sequence of operations and time steps
//! chosen by the fuzzer (STYLE.md point 9).
//!
//! A *victim* endpoint talks to a well-behaved *peer* endpoint over a wire the fuzzer controls
//! (it delivers, drops, duplicates, reorders, corrupts and re-routes real datagrams), while
//! attackers at other addresses send the victim arbitrary bytes and replays of the peer's
//! datagrams. The application calls on both sides (connect, deferred connect, start, accept,
//! refuse, write, read, shutdown, close, release, on live and stale handles) and the passing of
//! virtual time are the fuzzer's too: a [`Program`](ops::Program) of operations that the
//! `arbitrary` crate decodes from the input (`ops.rs`), so that the fuzzer mutates whole
//! operations; `seeds.rs` holds the seed corpus of realistic sessions (`encode.rs` turns
//! programs back into inputs). Both endpoints are seeded and keyed deterministically, with
//! small limits so that the limits are reached. After every operation the harness checks:
//!
//! - nothing panics; `poll_transmit` runs dry within [`MAX_TRANSMITS`] calls (no livelock);
//! - every datagram fits the configured maximum size and goes to an address the endpoint heard
//!   from or connected to;
//! - neither endpoint holds more than `max_connections` connections;
//! - `poll_timeout` is never earlier than the last `handle_timeout(now)`, and right after
//!   `handle_timeout(now)` it is later than `now` (every due deadline was handled);
//! - events: one `Incoming` per connection, at most one `Connected`, nothing after `Closed`;
//! - bytes read from a connection are a prefix of what one connection of the other side wrote
//!   (nothing invented or reordered; on two connections only as replayed 0-RTT data), and the
//!   end of the stream comes exactly after all of it, following a shutdown (`side.rs`);
//! - to an attacker's address that never sent an authentic transport packet the victim sends
//!   at most 3× what it received from there (PROTOCOL.md §10.4);
//! - an endpoint that received nothing and whose application did nothing for [`QUIET`] holds
//!   no connection once the application releases its handles (none leaks: every connection has
//!   ended; one that ended with unread data waited only for the application).
//!
//! Finally a perfect link runs for [`EPILOGUE`] of virtual time, both applications reading:
//! every stream between two connections that are both still open must then have arrived in
//! full (nothing the fuzzer did may leave a connection alive but stuck).

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

#[cfg(test)]
mod encode;
mod ops;
#[cfg(test)]
mod seeds;
mod side;

use self::ops::{Call, Fate, Op, Program, SIZE_UNIT, Step, Who};
use self::side::Side;
use crate::config::EndpointConfig;

/// Operations per input: the first ones run, the rest are ignored. A random program of 1024
/// operations takes about 60 ms (at most 200 ms) without sanitizers; libFuzzer's default
/// `max_len` (4096 bytes, or the largest seed) holds about 400.
const MAX_OPS: usize = 1024;
/// `poll_transmit` calls per flush before it counts as a livelock.
const MAX_TRANSMITS: usize = 10_000;
/// Datagrams waiting on the wire in each direction (drop-tail beyond).
const MAX_QUEUED: usize = 64;
/// Datagrams of the peer remembered for replays.
const MAX_CAPTURED: usize = 64;
/// `max_connections` of both endpoints.
const MAX_CONNECTIONS: usize = 64;
/// Wall clock at the start (ns since the Unix epoch), for 0-RTT timestamps.
const UNIX_NS: u64 = 1_800_000_000_000_000_000;
/// Longer than any connection lives without hearing from its peer: the handshake timeout
/// (10 s), the idle timeout (30 s), or lingering for 3 RTOs (at most 3 × 60 s).
const QUIET: Duration = Duration::from_secs(300);
/// How long the perfect link of the epilogue runs: longer than any timer backs off (RTO at
/// most 60 s) and than a stuck connection lives (idle timeout 30 s, keep-alives aside).
const EPILOGUE: Duration = Duration::from_secs(300);
/// Rounds of the epilogue at most (its data is bounded by the send buffers).
const MAX_EPILOGUE_ROUNDS: usize = 20_000;
/// One round of [`Op::Run`].
const ROUND: Duration = Duration::from_millis(5);
/// The caller's buffer for `poll_transmit`: larger than any allowed datagram, so that an
/// oversized one shows.
const TRANSMIT_BUFFER: usize = 4096;

/// Runs the operations encoded in `data`; panics if an invariant (module documentation) breaks.
pub fn endpoint_ops(data: &[u8]) {
    drive(data);
}

/// [`endpoint_ops`], returning the final state (the tests look at it).
fn drive(data: &[u8]) -> World {
    run(&Program::decode(data))
}

/// Runs a decoded program (its first [`MAX_OPS`] operations), then the epilogue.
fn run(program: &Program) -> World {
    let mut world = World::new(program.flags);
    for op in program.ops.iter().take(MAX_OPS) {
        world.apply(op);
        world.settle();
    }
    world.epilogue();
    world
}

/// The settings of both endpoints; `flags` ([`Program::flags`]) varies a few of them.
fn config(flags: u8) -> EndpointConfig {
    let mut config = EndpointConfig {
        max_connections: MAX_CONNECTIONS,
        max_half_open: 8,
        cookie_threshold: 4,
        accept_early_data: flags & 1 == 0,
        ..EndpointConfig::default()
    };
    // The keys are made at start-up: 0-RTT needs no quiet period (PROTOCOL.md §9.3).
    config.early_data.start_floor = false;
    config.early_data.max_peers = 4;
    let conn = &mut config.connection;
    conn.max_datagram_size = if flags & 2 == 0 { 1400 } else { 1200 };
    conn.send_buffer = 8 << 10;
    conn.recv_buffer = 8 << 10;
    conn.pacing = flags & 4 == 0;
    // Keep-alives every 10 s (the default is 25 s, PROTOCOL.md §13.5): the seeds' programs
    // advance time in steps of 20 s, each of which must see one.
    conn.keep_alive = (flags & 8 == 0).then_some(std::time::Duration::from_secs(10));
    config
}

fn addr(last: u8, port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(10, 0, 0, last), port))
}

/// `index` picks one of `len` items.
fn pick(len: usize, index: u8) -> Option<usize> {
    (len > 0).then(|| usize::from(index) % len)
}

fn flip(data: &mut [u8], flips: &[(u16, u8)]) {
    if data.is_empty() {
        return;
    }
    for &(position, mask) in flips {
        data[usize::from(position) % data.len()] ^= mask;
    }
}

/// An address from which only the fuzzer speaks.
struct Attacker {
    addr: SocketAddr,
    received: u64,
    sent: u64,
    /// An authentic transport packet (a replay) arrived from here: the victim may treat the
    /// address as a candidate path (PROTOCOL.md §10.4, §13), so the 3× check no longer applies.
    genuine: bool,
}

/// Everything one run drives.
struct World {
    now: Instant,
    max_datagram: usize,
    victim: Side,
    peer: Side,
    attackers: [Attacker; 3],
    /// The peer's recent datagrams, for [`Op::Replay`].
    captured: VecDeque<Vec<u8>>,
}

impl World {
    fn new(flags: u8) -> Self {
        // The one clock read of the run: every other instant is this one plus virtual time.
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let config = config(flags);
        let attacker = |last| Attacker { addr: addr(last, 666), received: 0, sent: 0, genuine: false };
        World {
            now,
            max_datagram: config.connection.max_datagram_size,
            victim: Side::new(config.clone(), 0x11, 1, now, 1, 0),
            peer: Side::new(config, 0x22, 2, now, 2, 1 << 31),
            attackers: [attacker(66), attacker(67), attacker(68)],
            captured: VecDeque::new(),
        }
    }

    fn side(&mut self, who: Who) -> (&mut Side, &Side) {
        match who {
            Who::Victim => (&mut self.victim, &self.peer),
            Who::Peer => (&mut self.peer, &self.victim),
        }
    }

    fn apply(&mut self, op: &Op) {
        let now = self.now;
        match *op {
            Op::Inject { source, ref bytes } => {
                let sources = [self.attackers[0].addr, self.attackers[1].addr, self.attackers[2].addr];
                let from = sources.get(usize::from(source % 4)).copied().unwrap_or(self.peer.addr);
                self.deliver_to_victim(from, bytes.0.clone());
            }
            Op::Replay { source, index, mutate, ref flips } => {
                let Some(i) = pick(self.captured.len(), index) else { return };
                let mut bytes = self.captured[i].clone();
                let from = match source % 5 {
                    3 => self.peer.addr,
                    4 => self.peer.alt,
                    n => {
                        let attacker = &mut self.attackers[usize::from(n)];
                        attacker.genuine |= bytes.first().is_some_and(|&b| b & 0xfe == 0x18);
                        attacker.addr
                    }
                };
                if mutate {
                    flip(&mut bytes, &flips.0);
                }
                self.deliver_to_victim(from, bytes);
            }
            Op::PeerConnect { with_key, early } => {
                let key = with_key.then(|| self.victim.endpoint.public_key());
                if let Some(i) = self.peer.connect(now, self.victim.addr, key, false) {
                    if early > 0 {
                        self.peer.write(now, i, usize::from(early) * SIZE_UNIT);
                    }
                }
            }
            Op::VictimConnect { with_key, deferred } => {
                let key = with_key.then(|| self.peer.endpoint.public_key());
                self.victim.connect(now, self.peer.addr, key, deferred);
            }
            Op::App { who, index, call } => {
                let (side, other) = self.side(who);
                if let Some(i) = pick(side.conns.len(), index) {
                    side.call(now, i, call, other);
                }
            }
            Op::Carry { sender, index, ref fate } => self.carry(sender, index, fate),
            Op::Advance(step) => {
                self.now = match step {
                    Step::By { unit, count } => now + unit.duration() * u32::from(count),
                    Step::ToDeadline => self.next_deadline().map_or(now, |at| at.max(now)),
                };
                self.victim.handle_timeout(self.now);
                self.peer.handle_timeout(self.now);
            }
            Op::Events(decision) => self.victim_events(decision),
            Op::Run { rounds, accept } => {
                for _ in 0..rounds % 32 + 1 {
                    self.round(accept);
                    self.settle();
                }
            }
        }
    }

    /// One round of a perfect link: everything on the wire arrives, time moves to the next
    /// deadline or by [`ROUND`], both applications read all they can.
    fn round(&mut self, accept: bool) {
        self.deliver_all();
        let next = self.next_deadline().unwrap_or(self.now + ROUND);
        self.now = next.clamp(self.now, self.now + ROUND);
        self.tick(accept);
    }

    /// After the operations: a perfect link without latency for [`EPILOGUE`] of virtual time,
    /// the applications reading all they can. Then every stream between two connections that
    /// are both still open must have arrived in full: nothing the fuzzer did may leave a
    /// connection alive but stuck.
    fn epilogue(&mut self) {
        let end = self.now + EPILOGUE;
        for _ in 0..MAX_EPILOGUE_ROUNDS {
            if !self.deliver_all() {
                match self.next_deadline() {
                    Some(next) if next <= end => self.now = next.max(self.now),
                    _ => {
                        self.victim.check_delivered(&self.peer);
                        self.peer.check_delivered(&self.victim);
                        return;
                    }
                }
            }
            self.tick(true);
            self.settle();
        }
    }

    /// Delivers everything on the wire, in order; returns whether there was anything.
    fn deliver_all(&mut self) -> bool {
        let busy = !self.peer.wire.is_empty() || !self.victim.wire.is_empty();
        while let Some(bytes) = self.peer.wire.pop_front() {
            self.deliver_to_victim(self.peer.addr, bytes);
        }
        while let Some(bytes) = self.victim.wire.pop_front() {
            self.peer.receive(self.now, self.victim.addr, bytes);
        }
        busy
    }

    fn next_deadline(&self) -> Option<Instant> {
        [self.victim.endpoint.poll_timeout(), self.peer.endpoint.poll_timeout()].into_iter().flatten().min()
    }

    /// Both endpoints handle their timeouts, the victim's application its events, and both
    /// applications read all they can.
    fn tick(&mut self, accept: bool) {
        self.victim.handle_timeout(self.now);
        self.peer.handle_timeout(self.now);
        self.victim_events(accept.then_some(true));
        for i in 0..self.victim.conns.len() {
            self.victim.read_all(self.now, i, &self.peer);
        }
        for i in 0..self.peer.conns.len() {
            self.peer.read_all(self.now, i, &self.victim);
        }
    }

    fn carry(&mut self, sender: Who, index: u8, fate: &Fate) {
        let (side, _) = self.side(sender);
        let Some(i) = pick(side.wire.len(), index) else { return };
        let (from, alt) = (side.addr, side.alt);
        let mut bytes = match fate {
            Fate::Drop => {
                side.wire.remove(i);
                return;
            }
            Fate::Reorder => {
                if let Some(bytes) = side.wire.remove(i) {
                    side.wire.push_back(bytes);
                }
                return;
            }
            Fate::Duplicate => side.wire[i].clone(),
            Fate::Deliver | Fate::Mutate(_) | Fate::Roam => side.wire.remove(i).unwrap_or_default(),
        };
        if let Fate::Mutate(flips) = fate {
            flip(&mut bytes, &flips.0);
        }
        let from = if matches!(fate, Fate::Roam) { alt } else { from };
        match sender {
            Who::Peer => self.deliver_to_victim(from, bytes),
            Who::Victim => self.peer.receive(self.now, from, bytes),
        }
    }

    fn deliver_to_victim(&mut self, from: SocketAddr, bytes: Vec<u8>) {
        if let Some(attacker) = self.attackers.iter_mut().find(|a| a.addr == from) {
            attacker.received += bytes.len() as u64;
        }
        self.victim.receive(self.now, from, bytes);
    }

    /// The victim's application takes its events; see [`Op::Events`].
    fn victim_events(&mut self, decision: Option<bool>) {
        while let Some(event) = self.victim.endpoint.poll_event() {
            if let Some(i) = self.victim.on_event(&event) {
                match decision {
                    Some(true) => self.victim.call(self.now, i, Call::Accept, &self.peer),
                    Some(false) => self.victim.call(self.now, i, Call::Refuse, &self.peer),
                    None => {}
                }
            }
        }
    }

    /// After every operation: the peer's application accepts what comes in, both endpoints
    /// send everything they want to, and the invariants are checked.
    fn settle(&mut self) {
        while let Some(event) = self.peer.endpoint.poll_event() {
            if let Some(i) = self.peer.on_event(&event) {
                self.peer.call(self.now, i, Call::Accept, &self.victim);
            }
        }
        self.flush(Who::Peer);
        self.flush(Who::Victim);
        self.victim.check();
        self.peer.check();
    }

    /// Collects everything `who` wants to send now.
    fn flush(&mut self, who: Who) {
        let (now, mut buf) = (self.now, vec![0u8; TRANSMIT_BUFFER]);
        for _ in 0..MAX_TRANSMITS {
            let (side, _) = self.side(who);
            let Some(transmit) = side.endpoint.poll_transmit(now, &mut buf) else { return };
            let len = transmit.len;
            let max = self.max_datagram;
            assert!(len <= max, "{who:?} sent a datagram of {len} bytes (type {:#04x}), max {max}", buf[0]);
            self.route(who, transmit.destination, buf[..len].to_vec());
        }
        panic!("poll_transmit still has datagrams after {MAX_TRANSMITS} calls");
    }

    /// Puts a datagram from `who` on the wire to the other side, or accounts for it when it
    /// goes to an attacker.
    fn route(&mut self, who: Who, destination: SocketAddr, bytes: Vec<u8>) {
        let side = match who {
            Who::Peer => {
                assert!(self.victim.is_at(destination), "the peer sent to {destination}");
                if self.captured.len() == MAX_CAPTURED {
                    self.captured.pop_front();
                }
                self.captured.push_back(bytes.clone());
                &mut self.peer
            }
            Who::Victim if self.peer.is_at(destination) => &mut self.victim,
            Who::Victim => {
                let Some(attacker) = self.attackers.iter_mut().find(|a| a.addr == destination) else {
                    panic!("the victim sent to {destination}, which it never heard from");
                };
                attacker.sent += bytes.len() as u64;
                let (sent, received) = (attacker.sent, attacker.received);
                assert!(
                    attacker.genuine || sent <= 3 * received,
                    "amplification: {sent} bytes sent to {destination}, {received} received from it"
                );
                return;
            }
        };
        if side.wire.len() < MAX_QUEUED {
            side.wire.push_back(bytes);
        }
    }
}

#[cfg(test)]
mod tests;
