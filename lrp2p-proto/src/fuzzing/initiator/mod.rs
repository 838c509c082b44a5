//! [`initiator_handshake`]: an initiator [`Endpoint`] connecting (IK or XX, with 0-RTT data,
//! to a responder under load or not) while the fuzzer controls what reaches it: the real
//! responses, cookie replies and transport packets of a real responder endpoint, delivered,
//! dropped, duplicated, reordered, mutated, spliced and relayed from other addresses, datagrams
//! forged with the initiator's connection id, and arbitrary bytes (`ops.rs`). Virtual time stays
//! within [`TIME_BUDGET`], well inside the handshake timeout. After every operation:
//!
//! - nothing panics; `poll_transmit` runs dry within [`MAX_TRANSMITS`] calls; every datagram
//!   fits the configured size;
//! - the initiator holds one connection at most, and it does not end: nothing that is not
//!   authentic may close it;
//! - `poll_timeout` is never earlier than the last `handle_timeout(now)`, and later than `now`
//!   right after it;
//! - events: at most one `Connected`, nothing after `Closed`;
//! - it sends its initiation at most once per cookie reply it received, besides its own
//!   retransmissions (PROTOCOL.md §10.3);
//! - it sends only to the responder, or to an address from which a genuine datagram of the
//!   responder came (a relay: a candidate path, PROTOCOL.md §13), and there at most 3× what it
//!   received from that address (§10.4, §13.1: an attacker's address is never validated, whether the
//!   relayed packet confirmed the handshake or not; see [`World::flush_initiator`]);
//! - what it reads is a prefix of what the responder wrote.
//!
//! Finally the first genuine response is delivered again and a perfect link runs: the handshake
//! must complete, and both streams arrive whole and end (garbage cannot have derailed it).
//! `seeds.rs` holds the seed corpus.

mod ops;
#[cfg(test)]
mod seeds;

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use self::ops::{Forgery, Mutation, Op, Pass, Program, SIZE_UNIT};
use crate::config::EndpointConfig;
use crate::endpoint::{ConnectionHandle, Endpoint, Event};
use crate::fuzzing::FuzzRng;
use crate::identity::StaticSecret;

/// Operations per input.
const MAX_OPS: usize = 512;
/// Virtual time the operations may spend in all: the initiator retransmits after 1 s and 3 s,
/// gives up after 10 s; from 3 s on, the perfect link completes by 7 s.
const TIME_BUDGET: Duration = Duration::from_secs(3);
/// `poll_transmit` calls per flush before it counts as a livelock.
const MAX_TRANSMITS: usize = 1000;
/// Datagrams waiting on each wire (drop-tail beyond).
const MAX_QUEUED: usize = 64;
/// Datagrams of the responder kept for replays.
const MAX_CAPTURED: usize = 64;
/// Initiations the initiator sends on its own timer within the handshake timeout (1, 2, 4, 8 s
/// backoff), plus the first.
const MAX_OWN_INITIATIONS: u64 = 6;
/// How long the final perfect link runs at most.
const EPILOGUE: Duration = Duration::from_secs(120);
/// Wall clock at the start (ns since the Unix epoch), for 0-RTT timestamps.
const UNIX_NS: u64 = 1_800_000_000_000_000_000;

const IK_RESPONSE: u8 = 0x12;
const XX_RESPONSE: u8 = 0x14;
const COOKIE_REPLY: u8 = 0x16;
const XX_RESPONSE_LEN: usize = 117;

/// Runs the program encoded in `data`; panics if an invariant (module documentation) breaks.
pub fn initiator_handshake(data: &[u8]) {
    run(&Program::decode(data));
}

/// The stream byte at `offset` of the initiator's (`stream` 0) or the responder's (1) stream.
fn pattern(stream: u64, offset: u64) -> u8 {
    let z = (offset ^ (stream << 56)).wrapping_add(0x9e37_79b9_7f4a_7c15).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z.to_le_bytes()[7] ^ z.to_le_bytes()[3]
}

fn flip(data: &mut [u8], flips: &[(u16, u8)]) {
    if data.is_empty() {
        return;
    }
    for &(position, mask) in flips {
        data[usize::from(position) % data.len()] ^= mask;
    }
}

/// `index` picks one of `len` items.
fn pick(len: usize, index: u8) -> Option<usize> {
    (len > 0).then(|| usize::from(index) % len)
}

/// An address from which only the fuzzer speaks.
struct Attacker {
    addr: SocketAddr,
    received: u64,
    sent: u64,
    /// A genuine datagram of the responder came from here (relayed).
    genuine: bool,
}

/// What the harness knows of one of the responder's connections.
struct Accepted {
    handle: ConnectionHandle,
    read: u64,
    eof: bool,
}

/// Everything one run drives.
struct World {
    start: Instant,
    now: Instant,
    max_datagram: usize,
    initiator: Endpoint<FuzzRng>,
    responder: Endpoint<FuzzRng>,
    initiator_addr: SocketAddr,
    responder_addr: SocketAddr,
    attackers: [Attacker; 3],
    conn: Option<ConnectionHandle>,
    accepted: Vec<Accepted>,
    to_responder: VecDeque<Vec<u8>>,
    to_initiator: VecDeque<Vec<u8>>,
    /// The responder's datagrams, in the order sent (the first [`MAX_CAPTURED`]).
    captured: Vec<Vec<u8>>,
    /// The initiator's first initiation: its connection id and ephemeral key, for forgeries.
    initiation: Option<Vec<u8>>,
    /// What the responder writes on each connection it accepts.
    reply: u64,
    written: u64,
    read: u64,
    eof: bool,
    connected: bool,
    closed: bool,
    handled_at: Option<Instant>,
    initiations_sent: u64,
    cookie_replies: u64,
}

fn run(program: &Program) -> World {
    let mut world = World::new(program);
    for op in program.ops.iter().take(MAX_OPS) {
        world.apply(op);
        world.settle();
        assert!(!world.closed, "the initiator's connection ended during the handshake's garbage");
    }
    world.epilogue();
    world
}

impl World {
    fn new(program: &Program) -> Self {
        let setup = program.setup;
        // The one clock read of the run: every other instant is this one plus virtual time.
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let mut config =
            EndpointConfig { accept_early_data: !setup.refuse_early, ..EndpointConfig::default() };
        config.early_data.start_floor = false;
        config.connection.max_datagram_size = if setup.small { 1200 } else { 1400 };
        let mut responder_config = config.clone();
        if setup.under_load {
            responder_config.cookie_threshold = 0;
        }
        let attacker = |last| Attacker {
            addr: SocketAddr::from((Ipv4Addr::new(10, 0, 0, last), 666)),
            received: 0,
            sent: 0,
            genuine: false,
        };
        let responder_key = StaticSecret::from_bytes([0x11; 32]);
        let responder_public = responder_key.public_key();
        let mut world = World {
            start: now,
            now,
            max_datagram: config.connection.max_datagram_size,
            initiator: Endpoint::new(config, StaticSecret::from_bytes([0x22; 32]), FuzzRng(2), now, UNIX_NS),
            responder: Endpoint::new(responder_config, responder_key, FuzzRng(1), now, UNIX_NS),
            initiator_addr: SocketAddr::from((Ipv4Addr::new(10, 0, 0, 2), 4000)),
            responder_addr: SocketAddr::from((Ipv4Addr::new(10, 0, 0, 1), 4000)),
            attackers: [attacker(66), attacker(67), attacker(68)],
            conn: None,
            accepted: Vec::new(),
            to_responder: VecDeque::new(),
            to_initiator: VecDeque::new(),
            captured: Vec::new(),
            initiation: None,
            reply: u64::from(setup.reply) * SIZE_UNIT as u64,
            written: 0,
            read: 0,
            eof: false,
            connected: false,
            closed: false,
            handled_at: None,
            initiations_sent: 0,
            cookie_replies: 0,
        };
        let key = setup.with_key.then_some(responder_public);
        let Ok(conn) = world.initiator.connect(now, world.responder_addr, key) else {
            panic!("an empty endpoint refused to connect");
        };
        world.conn = Some(conn);
        world.write(usize::from(setup.early) * SIZE_UNIT);
        world.settle();
        world
    }

    fn source(&self, source: u8) -> SocketAddr {
        match source % 4 {
            0 => self.responder_addr,
            n => self.attackers[usize::from(n - 1)].addr,
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::ToResponder { index, pass } => {
                if let Some(bytes) = take(&mut self.to_responder, index, pass) {
                    let now = self.now;
                    self.responder.handle_datagram(now, self.initiator_addr, &mut bytes.clone());
                }
            }
            Op::FromResponder { index, pass } => {
                if let Some(bytes) = take(&mut self.to_initiator, index, pass) {
                    self.deliver_to_initiator(self.responder_addr, bytes);
                }
            }
            Op::Replay { index, source, ref mutation } => {
                let Some(i) = pick(self.captured.len(), index) else { return };
                let mut bytes = self.captured[i].clone();
                if let Some(mutation) = mutation {
                    self.mutate(&mut bytes, mutation);
                }
                self.deliver_to_initiator(self.source(source), bytes);
            }
            Op::Forge { source, ref forgery } => {
                let bytes = self.forge(forgery);
                self.deliver_to_initiator(self.source(source), bytes);
            }
            Op::Inject { source, ref bytes } => {
                self.deliver_to_initiator(self.source(source), bytes.0.clone())
            }
            Op::Advance { ms } => self.advance_to(self.now + Duration::from_millis(8) * u32::from(ms)),
            Op::ToDeadline => {
                let next = [self.initiator.poll_timeout(), self.responder.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min();
                if let Some(next) = next {
                    self.advance_to(next.max(self.now));
                }
            }
            Op::Write(units) => self.write(usize::from(units) * SIZE_UNIT),
        }
    }

    /// Moves time to `at`, within [`TIME_BUDGET`] of the start.
    fn advance_to(&mut self, at: Instant) {
        self.now = at.min(self.start + TIME_BUDGET).max(self.now);
        self.handle_timeouts();
    }

    fn handle_timeouts(&mut self) {
        let now = self.now;
        self.initiator.handle_timeout(now);
        self.responder.handle_timeout(now);
        self.handled_at = Some(now);
        for deadline in [self.initiator.poll_timeout(), self.responder.poll_timeout()].into_iter().flatten() {
            assert!(deadline > now, "a deadline is still due after handle_timeout");
        }
    }

    fn mutate(&self, bytes: &mut Vec<u8>, mutation: &Mutation) {
        match mutation {
            Mutation::Flip(flips) => flip(bytes, &flips.0),
            Mutation::Truncate(len) => bytes.truncate(usize::from(*len) % (bytes.len() + 1)),
            Mutation::Extend(more) => bytes.extend_from_slice(&more.0),
            Mutation::Overwrite { at, bytes: with } => {
                let at = usize::from(*at) % bytes.len().max(1);
                let end = at + with.0.len();
                if bytes.len() < end {
                    bytes.resize(end, 0);
                }
                bytes[at..end].copy_from_slice(&with.0);
            }
            Mutation::Splice { other, at } => {
                if let Some(i) = pick(self.captured.len(), *other) {
                    let head = &self.captured[i];
                    let at = usize::from(*at) % (head.len().min(bytes.len()) + 1);
                    bytes[..at].copy_from_slice(&head[..at]);
                }
            }
        }
    }

    fn forge(&self, forgery: &Forgery) -> Vec<u8> {
        let initiation = self.initiation.as_deref().unwrap_or(&[0; 33]);
        let mut bytes = match forgery {
            Forgery::CookieReply { .. } => vec![COOKIE_REPLY],
            Forgery::IkResponse(_) => vec![IK_RESPONSE],
            Forgery::XxResponse(_) => vec![XX_RESPONSE],
            Forgery::Transport { phase, .. } => vec![0x18 | u8::from(*phase)],
        };
        // The receiver id: the initiation's sender id.
        bytes.extend_from_slice(initiation.get(9..17).unwrap_or(&[0; 8]));
        match forgery {
            Forgery::CookieReply { echo, cookie } => {
                let e = if *echo { initiation.get(17..33).unwrap_or(&[0; 16]) } else { &[0; 16] };
                bytes.extend_from_slice(e);
                bytes.extend_from_slice(cookie);
            }
            Forgery::IkResponse(body) | Forgery::Transport { body, .. } => bytes.extend_from_slice(&body.0),
            Forgery::XxResponse(body) => {
                bytes.extend_from_slice(&body.0);
                bytes.resize(XX_RESPONSE_LEN, 0);
            }
        }
        bytes
    }

    fn deliver_to_initiator(&mut self, from: SocketAddr, bytes: Vec<u8>) {
        let genuine = self.captured.contains(&bytes);
        if let Some(attacker) = self.attackers.iter_mut().find(|a| a.addr == from) {
            attacker.received += bytes.len() as u64;
            attacker.genuine |= genuine;
        }
        if bytes.first() == Some(&COOKIE_REPLY) {
            self.cookie_replies += 1;
        }
        let now = self.now;
        self.initiator.handle_datagram(now, from, &mut bytes.clone());
    }

    /// The initiator's application writes the next `len` bytes of its stream.
    fn write(&mut self, len: usize) {
        let Some(conn) = self.conn else { return };
        let data: Vec<u8> = (self.written..).take(len).map(|offset| pattern(0, offset)).collect();
        if let Ok(n) = self.initiator.write(self.now, conn, &data) {
            assert!(n <= len, "write took {n} of {len} bytes");
            self.written += n as u64;
        }
    }

    /// Both applications act on their events, both endpoints send, and the invariants are
    /// checked.
    fn settle(&mut self) {
        self.responder_events();
        self.initiator_events();
        self.flush_initiator();
        self.flush_responder();
        let count = self.initiator.connection_count();
        assert!(count <= 1, "the initiator holds {count} connections");
        if let (Some(handled), Some(deadline)) = (self.handled_at, self.initiator.poll_timeout()) {
            assert!(deadline >= handled, "poll_timeout is earlier than the last handle_timeout");
        }
        let (sent, allowed) = (self.initiations_sent, MAX_OWN_INITIATIONS + self.cookie_replies);
        assert!(sent <= allowed, "{sent} initiations sent, {} cookie replies received", self.cookie_replies);
    }

    /// The responder's application accepts every connection, writes its reply and shuts down,
    /// and reads everything; what it reads must be the initiator's stream.
    fn responder_events(&mut self) {
        let now = self.now;
        while let Some(event) = self.responder.poll_event() {
            if let Event::Incoming { connection, .. } = event {
                let _ = self.responder.accept(now, connection);
                let data: Vec<u8> = (0..self.reply).map(|offset| pattern(1, offset)).collect();
                let mut offset = 0;
                while let Ok(n @ 1..) = self.responder.write(now, connection, &data[offset..]) {
                    offset += n;
                }
                // (The send buffer holds the whole reply: at most 6120 bytes.)
                assert_eq!(offset, data.len(), "the responder's reply did not fit");
                let _ = self.responder.shutdown(now, connection);
                self.accepted.push(Accepted { handle: connection, read: 0, eof: false });
            }
        }
        for i in 0..self.accepted.len() {
            self.responder_read(i);
        }
    }

    /// Reads the responder's accepted connection `i` until nothing more comes.
    fn responder_read(&mut self, i: usize) {
        let conn = &mut self.accepted[i];
        if conn.eof {
            return;
        }
        let mut buf = vec![0u8; 4096];
        for _ in 0..64 {
            match self.responder.read(self.now, conn.handle, &mut buf) {
                Ok(0) => {
                    conn.eof = true;
                    return;
                }
                Ok(n) => {
                    for (&byte, offset) in buf[..n].iter().zip(conn.read..) {
                        assert_eq!(byte, pattern(0, offset), "the responder read a byte never written");
                    }
                    conn.read += n as u64;
                }
                Err(_) => return,
            }
        }
    }

    /// The initiator's application reads everything; events come in order.
    fn initiator_events(&mut self) {
        while let Some(event) = self.initiator.poll_event() {
            match event {
                Event::Incoming { connection, .. } => {
                    let _ = self.initiator.refuse(self.now, connection);
                }
                Event::Connected { connection, .. } if Some(connection) == self.conn => {
                    assert!(!self.closed && !self.connected, "Connected twice or after Closed");
                    self.connected = true;
                }
                Event::Closed { connection, .. } if Some(connection) == self.conn => {
                    assert!(!self.closed, "Closed twice");
                    self.closed = true;
                }
                _ => {}
            }
        }
        let Some(conn) = self.conn else { return };
        let mut buf = vec![0u8; 4096];
        for _ in 0..64 {
            match self.initiator.read(self.now, conn, &mut buf) {
                Ok(0) => {
                    assert_eq!(self.read, self.reply, "the initiator's stream ended early");
                    self.eof = true;
                    return;
                }
                Ok(n) => {
                    assert!(!self.eof, "read after the end of the stream");
                    for (&byte, offset) in buf[..n].iter().zip(self.read..) {
                        assert!(
                            offset < self.reply && byte == pattern(1, offset),
                            "read a byte never written"
                        );
                    }
                    self.read += n as u64;
                }
                Err(_) => return,
            }
        }
    }

    fn flush_initiator(&mut self) {
        let (now, mut buf) = (self.now, vec![0u8; 4096]);
        for _ in 0..MAX_TRANSMITS {
            let Some(transmit) = self.initiator.poll_transmit(now, &mut buf) else { return };
            let (len, destination) = (transmit.len, transmit.destination);
            assert!(len <= self.max_datagram, "the initiator sent {len} bytes");
            let bytes = buf[..len].to_vec();
            if matches!(bytes[0], 0x11 | 0x13) {
                self.initiations_sent += 1;
                self.initiation.get_or_insert_with(|| bytes.clone());
            }
            if destination == self.responder_addr {
                if self.to_responder.len() < MAX_QUEUED {
                    self.to_responder.push_back(bytes);
                }
                continue;
            }
            let Some(attacker) = self.attackers.iter_mut().find(|a| a.addr == destination) else {
                panic!("the initiator sent to {destination}, which it never heard from");
            };
            assert!(attacker.genuine, "the initiator sent to {destination}, which sent only garbage");
            // PROTOCOL.md §13.1 applies §10.4 to a new address: at most 3× what came *from it*
            // (challenge packets within the candidate's budget, and each PATH_RESPONSE within
            // 3× the challenge it answers). An attacker cannot validate its
            // address: what it relays was sent by the responder, which never receives what the
            // initiator sends the attacker, and the confirming packet validates only the
            // handshake's address (`tests/fuzz_findings.rs`).
            attacker.sent += len as u64;
            let (sent, received) = (attacker.sent, attacker.received);
            assert!(
                sent <= 3 * received,
                "amplification: {sent} bytes to {destination}, which sent {received}"
            );
        }
        panic!("the initiator's poll_transmit still has datagrams after {MAX_TRANSMITS} calls");
    }

    fn flush_responder(&mut self) {
        let (now, mut buf) = (self.now, vec![0u8; 4096]);
        for _ in 0..MAX_TRANSMITS {
            let Some(transmit) = self.responder.poll_transmit(now, &mut buf) else { return };
            assert_eq!(transmit.destination, self.initiator_addr, "the responder sent elsewhere");
            let bytes = buf[..transmit.len].to_vec();
            if self.captured.len() < MAX_CAPTURED {
                self.captured.push(bytes.clone());
            }
            if self.to_initiator.len() < MAX_QUEUED {
                self.to_initiator.push_back(bytes);
            }
        }
        panic!("the responder's poll_transmit still has datagrams after {MAX_TRANSMITS} calls");
    }

    /// The first genuine response again, then a perfect link: the handshake completes and both
    /// streams arrive whole.
    fn epilogue(&mut self) {
        let response = self.captured.iter().find(|d| matches!(d[0], IK_RESPONSE | XX_RESPONSE)).cloned();
        if let Some(response) = response {
            self.deliver_to_initiator(self.responder_addr, response);
            self.settle();
        }
        if let Some(conn) = self.conn {
            let _ = self.initiator.shutdown(self.now, conn);
        }
        let end = self.now + EPILOGUE;
        for _ in 0..100_000 {
            let busy = !self.to_initiator.is_empty() || !self.to_responder.is_empty();
            while let Some(bytes) = self.to_initiator.pop_front() {
                self.deliver_to_initiator(self.responder_addr, bytes);
            }
            while let Some(mut bytes) = self.to_responder.pop_front() {
                self.responder.handle_datagram(self.now, self.initiator_addr, &mut bytes);
            }
            if !busy {
                let next = [self.initiator.poll_timeout(), self.responder.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min();
                match next {
                    Some(next) if next <= end => self.now = next.max(self.now),
                    _ => break,
                }
            }
            self.handle_timeouts();
            self.settle();
        }
        assert!(self.connected, "the handshake did not complete after the garbage");
        assert!(
            self.eof && self.read == self.reply,
            "{} of {} bytes of the reply arrived",
            self.read,
            self.reply
        );
        let whole = self.accepted.iter().any(|c| c.eof && c.read == self.written);
        assert!(whole, "the initiator's {} bytes did not arrive whole", self.written);
    }
}

/// Takes the `index`-th datagram off a wire as `pass` says; returns the one to deliver.
fn take(wire: &mut VecDeque<Vec<u8>>, index: u8, pass: Pass) -> Option<Vec<u8>> {
    let i = pick(wire.len(), index)?;
    match pass {
        Pass::Deliver => wire.remove(i),
        Pass::Drop => {
            wire.remove(i);
            None
        }
        Pass::Duplicate => Some(wire[i].clone()),
        Pass::Reorder => {
            let bytes = wire.remove(i)?;
            wire.push_back(bytes);
            None
        }
    }
}

#[cfg(test)]
mod tests;
