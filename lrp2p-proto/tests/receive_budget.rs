//! The endpoint-wide receive memory budget (PROTOCOL.md §10.6, `EndpointConfig::receive_memory`;
//! issue 13 item 1).
//!
//! Hostile senders are written by hand here (the `internals` feature exposes the handshake,
//! the session and the wire codecs): each completes an IK handshake with a real [`Endpoint`],
//! then sends DATA beyond a hole it never fills, so that everything it sends must be held out
//! of order. A legitimate [`Endpoint`] transfers beside them. Virtual time, 10 ms each way.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::cast_possible_truncation,
    clippy::print_stdout
)]

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lrp2p_proto::crypto::{DefaultAead, Session};
use lrp2p_proto::handshake::{read_ik_response, write_ik_initiation};
use lrp2p_proto::wire::{
    ConnectionId, DataRepr, Datagram, IkInitPayload, Segments, Seq, TRANSPORT_HEADER_LEN, Tail,
};
use lrp2p_proto::{
    AddressLimits, ConnectionHandle, Endpoint, EndpointConfig, Event, PublicKey, StaticSecret,
};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

const UNIX_NS: u64 = 1_800_000_000_000_000_000;
const LATENCY: Duration = Duration::from_millis(10);
/// Payload of each hostile DATA segment.
const PAYLOAD: usize = 1200;

/// The bytes of the hostile segment at `offset` from the sender's isn.
fn content(offset: u32) -> Vec<u8> {
    (0..PAYLOAD).map(|i| (offset as usize * 7 + i) as u8).collect()
}

type Responder = dyn FnOnce(&[u8]) -> Option<(Session<DefaultAead>, Seq, u32, Vec<(Seq, Seq)>)>;

/// A sender written by hand: it learns the right edge and the SACKs from the endpoint's ACKs.
struct Hostile {
    addr: SocketAddr,
    /// Reads the IK response (it holds the handshake state, whose type is private): the
    /// session and the response's ACK (cumulative, window, SACK).
    waiting: Option<Box<Responder>>,
    session: Option<Session<DefaultAead>>,
    isn: u32,
    /// Offsets from `isn`: the right edge learned, and those SACKed or acknowledged.
    edge: u32,
    acked: BTreeSet<u32>,
    /// An ACK moved the right edge backwards (PROTOCOL.md §8.4).
    edge_moved_left: bool,
    /// Where the next round of sending starts.
    cursor: u32,
}

impl Hostile {
    /// The IK initiation (without early data) of a new hostile sender at `addr`.
    fn initiate(rng: &mut ChaCha20Rng, server: &PublicKey, addr: SocketAddr) -> (Self, Vec<u8>) {
        let identity = StaticSecret::generate(rng);
        let isn = rng.next_u32();
        let payload = IkInitPayload { timestamp_ns: UNIX_NS + 1, isn: Seq(isn), segments: Segments::EMPTY };
        let mut init = [0u8; 1500];
        let id = ConnectionId(rng.next_u64() | 1);
        let (waiting, n) =
            write_ik_initiation(rng, &identity, server, id, &payload, None, &mut init).unwrap();
        let respond = move |datagram: &[u8]| {
            let Ok(Datagram::IkResponse(r)) = Datagram::parse(datagram) else { return None };
            let mut plain = [0u8; 1500];
            let (done, answer) = read_ik_response(&waiting, &r, &mut plain).unwrap();
            let (send, recv) = done.into_keys();
            let session = Session::new(&send, &recv, answer.responder_id).unwrap();
            let ack = answer.segments.ack.unwrap();
            Some((session, ack.cumulative, ack.window, ack.sack.as_slice().to_vec()))
        };
        let hostile = Hostile {
            addr,
            waiting: Some(Box::new(respond)),
            session: None,
            isn,
            edge: 0,
            acked: BTreeSet::new(),
            edge_moved_left: false,
            cursor: 1,
        };
        (hostile, init[..n].to_vec())
    }

    /// Takes a datagram from the endpoint: the IK response, or a transport packet with an ACK.
    fn receive(&mut self, mut datagram: Vec<u8>) {
        if let Some(respond) = self.waiting.take() {
            let (session, cumulative, window, sack) =
                respond(&datagram).expect("the IK response comes first");
            self.session = Some(session);
            self.on_ack(cumulative, window, &sack);
            return;
        }
        let Some(session) = self.session.as_mut() else { return };
        let Ok(plain) = session.open(&mut datagram) else { return };
        let plain = plain.to_vec();
        if let Ok(Segments { ack: Some(ack), .. }) = Segments::parse(&plain) {
            self.on_ack(ack.cumulative, ack.window, ack.sack.as_slice());
        }
    }

    fn on_ack(&mut self, cumulative: Seq, window: u32, sack: &[(Seq, Seq)]) {
        let offset = |s: Seq| s.0.wrapping_sub(self.isn);
        let edge = offset(cumulative).wrapping_add(window);
        self.edge_moved_left |= edge < self.edge;
        self.edge = self.edge.max(edge);
        // Everything up to the cumulative ack (nothing, while the hole stays open).
        let through = offset(cumulative.next());
        self.acked.extend(0..through);
        for &(start, end) in sack {
            self.acked.extend(offset(start)..=offset(end));
        }
    }

    /// Seals the DATA segment at `offset`.
    fn data(&mut self, offset: u32) -> Vec<u8> {
        let payload = content(offset);
        let data = DataRepr {
            seq: Seq(self.isn.wrapping_add(offset)),
            fin: false,
            rtx: false,
            ping: false,
            app_protocol: None,
            payload: &payload,
        };
        let mut buf = [0u8; 1500];
        let n = Segments { ack: None, tail: Some(Tail::Data(data)) }
            .emit(&mut buf[TRANSPORT_HEADER_LEN..])
            .unwrap();
        let len = self.session.as_mut().unwrap().seal(&mut buf, n).unwrap();
        buf[..len].to_vec()
    }

    /// Up to `max` segments beyond the hole at offset 0, inside the right edge, not yet
    /// acknowledged: the next round of an attack that keeps trying to fill the buffer.
    fn round(&mut self, max: usize) -> Vec<Vec<u8>> {
        if self.session.is_none() {
            return Vec::new();
        }
        let wanted: Vec<u32> = (1..=self.edge).filter(|o| !self.acked.contains(o)).collect();
        let start = wanted.iter().position(|&o| o >= self.cursor).unwrap_or(0);
        let picked: Vec<u32> =
            wanted.iter().cycle().skip(start).take(max.min(wanted.len())).copied().collect();
        self.cursor = picked.last().map_or(1, |o| o + 1);
        picked.into_iter().map(|o| self.data(o)).collect()
    }
}

/// The server endpoint, an optional legitimate client endpoint, and the wire between them and
/// the hand-written senders.
struct World {
    now: Instant,
    server: Endpoint<ChaCha20Rng>,
    server_addr: SocketAddr,
    client: Endpoint<ChaCha20Rng>,
    client_addr: SocketAddr,
    /// (arrival, from, to, datagram), in arrival order (the latency is fixed).
    wire: VecDeque<(Instant, SocketAddr, SocketAddr, Vec<u8>)>,
    server_events: Vec<Event>,
    client_events: Vec<Event>,
    /// The most the server's accounted receive memory was seen at.
    peak_held: u64,
}

impl World {
    fn new(seed: u64, receive_memory: usize) -> Self {
        let start = Instant::now();
        let mut config = EndpointConfig::default();
        config.early_data.start_floor = false;
        config.receive_memory = receive_memory;
        config.max_half_open = 4096;
        config.cookie_threshold = 4096;
        config.handshake_budget = 100_000;
        config.address_limits = AddressLimits::UNLIMITED;
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let server = Endpoint::new(
            config,
            StaticSecret::generate(&mut rng),
            ChaCha20Rng::seed_from_u64(seed + 1),
            start,
            UNIX_NS,
        );
        let mut client_config = EndpointConfig::default();
        client_config.early_data.start_floor = false;
        let client = Endpoint::new(
            client_config,
            StaticSecret::generate(&mut rng),
            ChaCha20Rng::seed_from_u64(seed + 2),
            start,
            UNIX_NS,
        );
        World {
            now: start,
            server,
            server_addr: "10.0.0.1:1000".parse().unwrap(),
            client,
            client_addr: "10.255.0.2:2000".parse().unwrap(),
            wire: VecDeque::new(),
            server_events: Vec::new(),
            client_events: Vec::new(),
            peak_held: 0,
        }
    }

    fn send(&mut self, from: SocketAddr, to: SocketAddr, datagram: Vec<u8>) {
        self.wire.push_back((self.now + LATENCY, from, to, datagram));
    }

    /// Sends what the endpoints have, then moves time to the next arrival or timer (at most to
    /// `until`) and delivers; returns what reached the hand-written senders.
    fn step(&mut self, until: Instant) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut buf = [0u8; 2048];
        while let Some(t) = self.server.poll_transmit(self.now, &mut buf) {
            self.send(self.server_addr, t.destination, buf[..t.len].to_vec());
        }
        while let Some(t) = self.client.poll_transmit(self.now, &mut buf) {
            self.send(self.client_addr, t.destination, buf[..t.len].to_vec());
        }
        let next = [
            self.wire.front().map(|d| d.0),
            self.server.poll_timeout(),
            self.client.poll_timeout(),
            Some(until),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap();
        self.now = self.now.max(next.min(until));
        let now = self.now;
        let mut reached = Vec::new();
        while self.wire.front().is_some_and(|d| d.0 <= now) {
            let (_, from, to, mut d) = self.wire.pop_front().unwrap();
            if to == self.server_addr {
                self.server.handle_datagram(now, from, &mut d);
            } else if to == self.client_addr {
                self.client.handle_datagram(now, from, &mut d);
            } else {
                reached.push((to, d));
            }
        }
        self.server.handle_timeout(now);
        self.client.handle_timeout(now);
        while let Some(e) = self.server.poll_event() {
            self.server_events.push(e);
        }
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
        }
        self.peak_held = self.peak_held.max(self.server.stats().receive_held);
        reached
    }

    /// The server's application accepts every incoming connection; returns them with their
    /// peers' addresses.
    fn accept_all(&mut self) -> Vec<(ConnectionHandle, SocketAddr)> {
        let incoming: Vec<_> = self
            .server_events
            .iter()
            .filter_map(|e| match e {
                Event::Incoming { connection, remote, .. } => Some((*connection, *remote)),
                _ => None,
            })
            .collect();
        self.server_events.retain(|e| !matches!(e, Event::Incoming { .. }));
        for &(c, _) in &incoming {
            self.server.accept(self.now, c).unwrap();
        }
        incoming
    }

    /// Reads everything readable on the server's `conn`.
    fn read(&mut self, conn: ConnectionHandle, out: &mut Vec<u8>) {
        let mut buf = [0u8; 65536];
        while let Ok(n @ 1..) = self.server.read(self.now, conn, &mut buf) {
            out.extend_from_slice(&buf[..n]);
        }
    }
}

/// Steps `w` until `until`, handing what reaches a hand-written sender to it and accepting
/// every incoming connection; returns the accepted ones by peer address.
fn run_until(
    w: &mut World,
    hostiles: &mut [Hostile],
    by_addr: &HashMap<SocketAddr, usize>,
    until: Instant,
) -> HashMap<SocketAddr, ConnectionHandle> {
    let mut accepted = HashMap::new();
    while w.now < until {
        for (to, d) in w.step(until) {
            if let Some(&i) = by_addr.get(&to) {
                hostiles[i].receive(d);
            }
        }
        accepted.extend(w.accept_all().into_iter().map(|(c, a)| (a, c)));
    }
    accepted
}

/// Starts `count` hostile senders from distinct /24 prefixes; returns them, with an index by
/// address, once the endpoint has accepted them all.
fn connect_hostiles(
    w: &mut World,
    count: usize,
    seed: u64,
) -> (Vec<Hostile>, HashMap<SocketAddr, usize>, HashMap<SocketAddr, ConnectionHandle>) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let server_key = w.server.public_key();
    let mut hostiles = Vec::new();
    let mut by_addr = HashMap::new();
    for i in 0..count {
        let addr: SocketAddr = format!("10.{}.{}.7:{}", 1 + i / 256, i % 256, 3000 + i).parse().unwrap();
        let (hostile, init) = Hostile::initiate(&mut rng, &server_key, addr);
        w.send(addr, w.server_addr, init);
        by_addr.insert(addr, i);
        hostiles.push(hostile);
    }
    let until = w.now + Duration::from_millis(100);
    let accepted = run_until(w, &mut hostiles, &by_addr, until);
    assert_eq!(accepted.len(), count, "every hostile connection was accepted");
    assert!(hostiles.iter().all(|h| h.session.is_some()), "every hostile sender has its keys");
    (hostiles, by_addr, accepted)
}

/// One round of every hostile sender: up to `max` segments each.
fn attack(w: &mut World, hostiles: &mut [Hostile], max: usize) {
    for h in hostiles.iter_mut() {
        for d in h.round(max) {
            w.wire.push_back((w.now + LATENCY, h.addr, w.server_addr, d));
        }
    }
}

#[test]
fn a_thousand_connections_filling_their_reassembly_buffers_stay_within_the_budget() {
    // 32 MiB: half a pool, half 16 KiB reserves for ~1,000 connections.
    let budget = 32usize << 20;
    let mut w = World::new(1, budget);
    let (mut hostiles, by_addr, hostile_conns) = connect_hostiles(&mut w, 1000, 11);

    // The attackers fill what they can before the legitimate client even connects.
    for _ in 0..4 {
        attack(&mut w, &mut hostiles, 40);
        let until = w.now + Duration::from_millis(50);
        run_until(&mut w, &mut hostiles, &by_addr, until);
    }
    // (Those that stored beyond their reserve through the pool leave that reserve unused: some
    // of the budget stays free.)
    let filled = w.server.stats().receive_held;
    assert!(filled as usize > budget * 3 / 4, "the attack filled the budget: {filled} of {budget}");

    let data: Vec<u8> = (0..2_000_000u32).map(|i| (i * 31 / 7) as u8).collect();
    let start = w.now;
    let conn = w.client.connect(w.now, w.server_addr, Some(w.server.public_key())).unwrap();
    let mut written = 0;
    let mut received = Vec::new();
    let mut server_conn = None;
    let deadline = w.now + Duration::from_secs(20);
    let mut rounds = 0u32;
    while received.len() < data.len() && w.now < deadline {
        written += w.client.write(w.now, conn, &data[written..]).unwrap_or(0);
        // The attack goes on throughout, one round every 100 ms.
        rounds += 1;
        if rounds % 10 == 0 {
            attack(&mut w, &mut hostiles, 8);
        }
        let until = w.now + Duration::from_millis(10);
        for (a, c) in run_until(&mut w, &mut hostiles, &by_addr, until) {
            if a == w.client_addr {
                server_conn = Some(c);
            }
        }
        if let Some(c) = server_conn {
            w.read(c, &mut received);
        }
        let held = w.server.stats().receive_held;
        assert!(held as usize <= budget, "{held} held against a budget of {budget}");
    }
    assert_eq!(received.len(), data.len(), "the legitimate transfer finished within 20 s");
    assert!(received == data, "every byte intact, in order");

    let stats = w.server.stats();
    assert!(w.peak_held as usize <= budget && stats.receive_held_peak as usize <= budget);
    assert!(stats.receive_budget_drops > 0, "the attackers were turned away: {stats:?}");
    // The accounting matches what the connections hold.
    let held: u64 = hostile_conns
        .values()
        .chain(server_conn.iter())
        .filter_map(|&c| w.server.connection_stats(c))
        .map(|s| s.receive_held)
        .sum();
    assert_eq!(held, stats.receive_held);
    println!(
        "held {} of {budget} (peak {}), {} DATA segments dropped over budget, 2 MB took {:?}",
        stats.receive_held,
        stats.receive_held_peak,
        stats.receive_budget_drops,
        w.now - start
    );
}

#[test]
fn data_beyond_the_budget_is_not_acknowledged_and_is_taken_once_memory_frees() {
    // 64 KiB: a pool of 32 KiB, and (two connections) reserves of 16 KiB.
    let budget = 64usize << 10;
    let mut w = World::new(2, budget);
    let (mut h, by_addr, conns) = connect_hostiles(&mut w, 2, 12);
    let (filler, victim) = (0, 1);
    let edge = h[victim].edge;
    assert!(edge >= 20, "the victim was promised the pool's worth: {edge} segments");

    // The filler takes the pool first, then the victim sends everything it was promised.
    attack(&mut w, &mut h[filler..=filler], 1000);
    let until = w.now + Duration::from_millis(30);
    run_until(&mut w, &mut h, &by_addr, until);
    for d in h[victim].round(edge as usize) {
        w.send(h[victim].addr, w.server_addr, d);
    }
    let until = w.now + Duration::from_millis(30);
    run_until(&mut w, &mut h, &by_addr, until);

    let victim_conn = conns[&h[victim].addr];
    let stats = w.server.connection_stats(victim_conn).unwrap();
    let stored = (budget / 4 / (PAYLOAD + 64)) as u32;
    let sacked = |h: &Hostile| (h.acked.len(), h.acked.first().copied(), h.acked.last().copied());
    assert_eq!(
        sacked(&h[victim]),
        (stored as usize, Some(1), Some(stored)),
        "only what fits its reserve is SACKed"
    );
    assert_eq!(stats.receive_budget_drops, u64::from(edge - stored), "the rest was dropped: {stats:?}");
    assert_eq!(w.server.stats().receive_budget_drops, u64::from(edge - stored));
    assert!(w.server.stats().receive_held as usize <= budget);

    // The filler's hole arrives: its data is in order now, and its application reads it all.
    let hole = h[filler].data(0);
    w.send(h[filler].addr, w.server_addr, hole);
    let until = w.now + Duration::from_millis(30);
    run_until(&mut w, &mut h, &by_addr, until);
    let mut filler_bytes = Vec::new();
    w.read(conns[&h[filler].addr], &mut filler_bytes);
    assert!(!filler_bytes.is_empty());

    // The victim sends again what was not acknowledged, then its hole: all of it is taken.
    let again = h[victim].round(edge as usize);
    assert_eq!(again.len() as u32, edge - stored, "it sends again exactly what was dropped");
    for d in again {
        w.send(h[victim].addr, w.server_addr, d);
    }
    let until = w.now + Duration::from_millis(30);
    run_until(&mut w, &mut h, &by_addr, until);
    assert_eq!(sacked(&h[victim]), (edge as usize, Some(1), Some(edge)), "SACKed once memory freed");
    let hole = h[victim].data(0);
    w.send(h[victim].addr, w.server_addr, hole);
    let until = w.now + Duration::from_millis(30);
    run_until(&mut w, &mut h, &by_addr, until);
    let mut got = Vec::new();
    w.read(victim_conn, &mut got);
    let expected: Vec<u8> = (0..=edge).flat_map(content).collect();
    assert!(got == expected, "delivered once, in order: {} of {} bytes", got.len(), expected.len());
    assert!(!h[victim].edge_moved_left && !h[filler].edge_moved_left, "no right edge moved left");
    assert_eq!(
        w.server.connection_stats(victim_conn).unwrap().receive_budget_drops,
        u64::from(edge - stored)
    );
}

#[test]
fn a_connection_not_yet_accepted_holds_at_most_its_first_segment() {
    let mut w = World::new(3, 1 << 20);
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let conn = w.client.connect(w.now, w.server_addr, Some(w.server.public_key())).unwrap();
    let mut written = w.client.write(w.now, conn, &data).unwrap();
    // The application leaves the connection unaccepted for two seconds.
    let until = w.now + Duration::from_secs(2);
    while w.now < until {
        w.step(until);
    }
    let pending = w
        .server_events
        .iter()
        .find_map(|e| match e {
            Event::Incoming { connection, .. } => Some(*connection),
            _ => None,
        })
        .expect("the connection is waiting for the application");
    let stats = w.server.connection_stats(pending).unwrap();
    // PROTOCOL.md §10.6: no window was advertised (the server sent nothing), so only
    // `seq = isn`, the early data, came in; the client holds the rest.
    assert!(stats.receive_held > 0 && stats.receive_held <= 1400, "{stats:?}");
    assert_eq!(w.server.stats().receive_held, stats.receive_held);
    assert_eq!(w.client.connection_stats(conn).unwrap().datagrams_received, 0, "the server sent nothing");

    w.accept_all();
    let mut received = Vec::new();
    let deadline = w.now + Duration::from_secs(10);
    while received.len() < data.len() && w.now < deadline {
        written += w.client.write(w.now, conn, &data[written..]).unwrap_or(0);
        let until = w.now + Duration::from_millis(10);
        while w.now < until {
            w.step(until);
        }
        w.read(pending, &mut received);
    }
    assert!(received == data, "{} of {} bytes after acceptance", received.len(), data.len());
}
