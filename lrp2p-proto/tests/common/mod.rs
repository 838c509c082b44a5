//! A two-endpoint harness in virtual time (after quinn-proto's `Pair`): datagrams travel with
//! a fixed one-way latency, and a test can drop, duplicate or hold back any of them explicitly.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::disallowed_methods)]

pub mod net;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lrp2p_proto::EndpointConfig;
use lrp2p_proto::StaticSecret;
use lrp2p_proto::{ConnectionHandle, Endpoint, Event};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub const UNIX_NS: u64 = 1_800_000_000_000_000_000;

/// The default configuration for an endpoint whose key was just generated.
pub fn fresh_keys() -> EndpointConfig {
    let mut config = EndpointConfig::default();
    config.early_data.start_floor = false;
    config
}

/// Which side a datagram or event belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

/// Decides, per datagram leaving a side, whether it is delivered.
pub type Filter = Box<dyn FnMut(Side, &[u8]) -> bool>;

pub struct InFlight {
    pub at: Instant,
    pub to: Side,
    pub from: SocketAddr,
    pub data: Vec<u8>,
}

pub struct Pair {
    pub a: Endpoint<ChaCha20Rng>,
    pub b: Endpoint<ChaCha20Rng>,
    pub a_addr: SocketAddr,
    pub b_addr: SocketAddr,
    pub now: Instant,
    pub start: Instant,
    pub latency: Duration,
    pub wire: VecDeque<InFlight>,
    /// Called for every datagram leaving `Side`; return false to drop it.
    pub filter: Filter,
    pub a_events: Vec<Event>,
    pub b_events: Vec<Event>,
    pub sent: [u64; 2],
    pub sent_bytes: [u64; 2],
    /// Connections A opened through [`Pair::dial`] and B accepted through [`Pair::accept_all`].
    pub connected: Vec<ConnectionHandle>,
    pub accepted: Vec<ConnectionHandle>,
    /// More addresses that reach a side (a NAT's other mappings, a second interface).
    pub routes: Vec<(SocketAddr, Side)>,
    /// Datagrams sent to an address that reaches neither side: (when, destination, size).
    pub nowhere: Vec<(Instant, SocketAddr, usize)>,
}

impl Pair {
    /// Two endpoints with default settings, except that their keys are new, so 0-RTT needs no
    /// start-up quiet period (`EarlyDataConfig::start_floor`).
    pub fn new(seed: u64) -> Self {
        Self::with_config(seed, fresh_keys(), fresh_keys())
    }

    pub fn with_config(seed: u64, a: EndpointConfig, b: EndpointConfig) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let start = Instant::now();
        let a_key = StaticSecret::generate(&mut rng);
        let b_key = StaticSecret::generate(&mut rng);
        let a = Endpoint::new(a, a_key, ChaCha20Rng::seed_from_u64(seed + 1), start, UNIX_NS);
        let b = Endpoint::new(b, b_key, ChaCha20Rng::seed_from_u64(seed + 2), start, UNIX_NS);
        Pair {
            a,
            b,
            a_addr: "10.0.0.1:1000".parse().unwrap(),
            b_addr: "10.0.0.2:2000".parse().unwrap(),
            now: start,
            start,
            latency: Duration::from_millis(10),
            wire: VecDeque::new(),
            filter: Box::new(|_, _| true),
            a_events: Vec::new(),
            b_events: Vec::new(),
            sent: [0, 0],
            sent_bytes: [0, 0],
            connected: Vec::new(),
            accepted: Vec::new(),
            routes: Vec::new(),
            nowhere: Vec::new(),
        }
    }

    pub fn endpoint(&mut self, side: Side) -> &mut Endpoint<ChaCha20Rng> {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Collects everything both endpoints want to send now onto the wire.
    pub fn flush(&mut self) {
        let mut buf = [0u8; 2048];
        for side in [Side::A, Side::B] {
            let from = if side == Side::A { self.a_addr } else { self.b_addr };
            let now = self.now;
            while let Some(t) = self.endpoint(side).poll_transmit(now, &mut buf) {
                let data = buf[..t.len].to_vec();
                self.sent[side as usize] += 1;
                self.sent_bytes[side as usize] += t.len as u64;
                if !(self.filter)(side, &data) {
                    continue;
                }
                let Some(to) = self.route(t.destination) else {
                    self.nowhere.push((now, t.destination, t.len));
                    continue;
                };
                self.wire.push_back(InFlight { at: now + self.latency, to, from, data });
            }
        }
    }

    /// Which side a datagram to `destination` reaches, if any.
    pub fn route(&self, destination: SocketAddr) -> Option<Side> {
        if destination == self.a_addr {
            Some(Side::A)
        } else if destination == self.b_addr {
            Some(Side::B)
        } else {
            self.routes.iter().find(|(addr, _)| *addr == destination).map(|&(_, side)| side)
        }
    }

    /// Delivers due datagrams, fires due timers, gathers events. Returns false when idle.
    pub fn step(&mut self) -> bool {
        self.flush();
        let next_wire = self.wire.iter().map(|d| d.at).min();
        let next_timer = [self.a.poll_timeout(), self.b.poll_timeout()].into_iter().flatten().min();
        let Some(next) = [next_wire, next_timer].into_iter().flatten().min() else { return false };
        self.now = self.now.max(next);
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = self.wire.drain(..).partition(|d| d.at <= now);
        self.wire = later.into();
        for mut d in due {
            self.endpoint(d.to).handle_datagram(now, d.from, &mut d.data);
        }
        self.a.handle_timeout(now);
        self.b.handle_timeout(now);
        while let Some(e) = self.a.poll_event() {
            self.a_events.push(e);
        }
        while let Some(e) = self.b.poll_event() {
            self.b_events.push(e);
        }
        true
    }

    /// Steps until `done` holds or `limit` of virtual time passes; panics on the limit.
    pub fn drive_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Pair) -> bool) {
        let deadline = self.now + limit;
        for _ in 0..10_000_000 {
            if done(self) {
                return;
            }
            if !self.step() || self.now > deadline {
                break;
            }
        }
        assert!(done(self), "condition not reached within {limit:?} of virtual time");
    }

    /// Steps for `span` of virtual time.
    pub fn drive_for(&mut self, span: Duration) {
        let end = self.now + span;
        while self.now < end {
            if !self.step() {
                break;
            }
        }
        self.now = self.now.max(end);
    }

    /// Steps for exactly `span` of virtual time: unlike [`Pair::drive_for`], never past its
    /// end (nothing due after it happens yet).
    pub fn advance(&mut self, span: Duration) {
        let end = self.now + span;
        loop {
            self.flush();
            let next_wire = self.wire.iter().map(|d| d.at).min();
            let next_timer = [self.a.poll_timeout(), self.b.poll_timeout()].into_iter().flatten().min();
            match [next_wire, next_timer].into_iter().flatten().min() {
                Some(next) if next <= end => {
                    self.step();
                }
                _ => break,
            }
        }
        self.now = self.now.max(end);
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Accepts every incoming connection on B (and A) as soon as it shows up.
    pub fn accept_all(&mut self) {
        let now = self.now;
        let incoming: Vec<_> = self
            .b_events
            .iter()
            .filter_map(|e| if let Event::Incoming { connection, .. } = e { Some(*connection) } else { None })
            .collect();
        for c in incoming {
            self.b.accept(now, c).unwrap();
            self.accepted.push(c);
        }
        self.b_events.retain(|e| !matches!(e, Event::Incoming { .. }));
    }

    /// `side`'s application lets go of every connection it holds (`Endpoint::release`): those
    /// that ended are freed, even with data it never read.
    pub fn release_all(&mut self, side: Side) {
        let now = self.now;
        let handles: Vec<ConnectionHandle> = match side {
            Side::A => self.connected.clone(),
            Side::B => self.accepted.clone(),
        };
        for handle in handles {
            let _ = self.endpoint(side).release(now, handle);
        }
    }

    /// A connects to B (Noise IK with B's key, else XX) until B's application sees the
    /// incoming connection, not yet accepted: (A's handle, B's).
    pub fn dial(&mut self, ik: bool) -> (ConnectionHandle, ConnectionHandle) {
        let b_key = self.b.public_key();
        let (now, b_addr) = (self.now, self.b_addr);
        let conn = self.a.connect(now, b_addr, ik.then_some(b_key)).unwrap();
        self.connected.push(conn);
        self.drive_until(Duration::from_secs(5), |p| p.incoming().is_some());
        (conn, self.incoming().unwrap())
    }

    /// [`Pair::dial`], and B accepts.
    pub fn connect(&mut self, ik: bool) -> (ConnectionHandle, ConnectionHandle) {
        let handles = self.dial(ik);
        self.accept_all();
        handles
    }

    pub fn incoming(&self) -> Option<ConnectionHandle> {
        self.b_events
            .iter()
            .find_map(|e| if let Event::Incoming { connection, .. } = e { Some(*connection) } else { None })
    }

    /// Reads everything available on `side`'s connection into `out`; returns true at EOF.
    pub fn read_all(&mut self, side: Side, conn: ConnectionHandle, out: &mut Vec<u8>) -> bool {
        let now = self.now;
        let mut buf = [0u8; 65536];
        loop {
            match self.endpoint(side).read(now, conn, &mut buf) {
                Ok(0) => return true,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) => return false,
            }
        }
    }
}

/// Everything `endpoint` sends now, one datagram each.
pub fn sent(endpoint: &mut Endpoint<ChaCha20Rng>, now: Instant) -> Vec<Vec<u8>> {
    let mut buf = [0u8; 2048];
    let mut out = Vec::new();
    while let Some(t) = endpoint.poll_transmit(now, &mut buf) {
        out.push(buf[..t.len].to_vec());
    }
    out
}

/// The events `endpoint` has now.
pub fn events(endpoint: &mut Endpoint<ChaCha20Rng>) -> Vec<Event> {
    std::iter::from_fn(|| endpoint.poll_event()).collect()
}
