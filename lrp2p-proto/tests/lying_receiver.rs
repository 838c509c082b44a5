//! A receiver that acknowledges data it never received (Savage et al., "TCP congestion control
//! with a misbehaving receiver", 1999) is caught by ACK_ECHO and the sender's skipped counters
//! (PROTOCOL.md §8.8) and closed with PROTOCOL_VIOLATION within 10 round trips; an honest
//! receiver on a lossy path never is.
//!
//! The receiver is written by hand here (the `internals` feature exposes the handshake, the
//! session and the wire codecs): an IK handshake to a real [`Endpoint`], then ACKs of its own
//! making for the DATA the endpoint's application sends. Virtual time, 10 ms each way.

#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lrp2p_proto::crypto::{DefaultAead, Session};
use lrp2p_proto::handshake::{read_ik_response, write_ik_initiation};
use lrp2p_proto::wire::{
    AckEcho, AckRepr, ConnectionId, Datagram, DsackRanges, IkInitPayload, SackRanges, Segments, Seq,
    TRANSPORT_HEADER_LEN, Tail,
};
use lrp2p_proto::{CloseReason, ConnectionHandle, Endpoint, EndpointConfig, Event, StaticSecret};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

const UNIX_NS: u64 = 1_800_000_000_000_000_000;
const LATENCY: Duration = Duration::from_millis(10);
const RTT: Duration = Duration::from_millis(20);

/// How the hand-written receiver behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Receiver {
    /// Acknowledges what it received and echoes the counters it received.
    Honest,
    /// Ignores every fifth DATA packet but acknowledges it anyway, claiming every counter up to
    /// the highest it saw (it cannot tell the packets it ignored from skipped counters).
    ClaimsAll,
    /// Ignores every fifth DATA packet, echoes honestly, and acknowledges it anyway.
    EchoesHonestly,
    /// Acknowledges ahead of what arrived: everything up to two segments beyond the highest
    /// received, claiming the counters that would carry them.
    Optimistic,
}

struct Liar {
    session: Session<DefaultAead>,
    /// The endpoint's first sequence number.
    isn: u32,
    /// Offsets (from `isn`) of the segments accepted.
    got: BTreeSet<u32>,
    /// Highest counter seen (opened), and the packets seen.
    seen: u64,
    packets: u64,
}

struct World {
    now: Instant,
    a: Endpoint<ChaCha20Rng>,
    l_addr: SocketAddr,
    to_a: VecDeque<(Instant, Vec<u8>)>,
    to_l: VecDeque<(Instant, Vec<u8>)>,
    events: Vec<Event>,
}

impl World {
    fn new(seed: u64) -> Self {
        let start = Instant::now();
        let mut config = EndpointConfig::default();
        config.early_data.start_floor = false;
        let key = StaticSecret::generate(&mut ChaCha20Rng::seed_from_u64(seed));
        let a = Endpoint::new(config, key, ChaCha20Rng::seed_from_u64(seed + 1), start, UNIX_NS);
        World {
            now: start,
            a,
            l_addr: "10.0.0.2:2000".parse().unwrap(),
            to_a: VecDeque::new(),
            to_l: VecDeque::new(),
            events: Vec::new(),
        }
    }

    /// Moves time to the next delivery or timer; delivers to A; returns what reached L.
    fn step(&mut self) -> Vec<Vec<u8>> {
        let mut buf = [0u8; 2048];
        while let Some(t) = self.a.poll_transmit(self.now, &mut buf) {
            self.to_l.push_back((self.now + LATENCY, buf[..t.len].to_vec()));
        }
        let next = [self.to_a.front().map(|d| d.0), self.to_l.front().map(|d| d.0), self.a.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        if let Some(next) = next {
            self.now = self.now.max(next);
        }
        let now = self.now;
        while self.to_a.front().is_some_and(|d| d.0 <= now) {
            let (_, mut d) = self.to_a.pop_front().unwrap();
            self.a.handle_datagram(now, self.l_addr, &mut d);
        }
        self.a.handle_timeout(now);
        while let Some(e) = self.a.poll_event() {
            self.events.push(e);
        }
        let mut reached = Vec::new();
        while self.to_l.front().is_some_and(|d| d.0 <= now) {
            reached.push(self.to_l.pop_front().unwrap().1);
        }
        reached
    }

    fn send_to_a(&mut self, datagram: Vec<u8>) {
        self.to_a.push_back((self.now + LATENCY, datagram));
    }

    /// The IK handshake by hand; A accepts. Returns the receiver's state and A's handle.
    fn handshake(&mut self) -> (Liar, ConnectionHandle) {
        let mut rng = ChaCha20Rng::seed_from_u64(99);
        let identity = StaticSecret::generate(&mut rng);
        let sender_id = ConnectionId(rng.next_u64() | 1);
        let isn = rng.next_u32();
        let payload = IkInitPayload { timestamp_ns: UNIX_NS + 1, isn: Seq(isn), segments: Segments::EMPTY };
        let mut init = [0u8; 1500];
        let (waiting, n) = write_ik_initiation(
            &mut rng,
            &identity,
            &self.a.public_key(),
            sender_id,
            &payload,
            None,
            &mut init,
        )
        .unwrap();
        self.send_to_a(init[..n].to_vec());
        let mut accepted = None;
        for _ in 0..1000 {
            for d in self.step() {
                if let Ok(Datagram::IkResponse(r)) = Datagram::parse(&d) {
                    let mut plain = [0u8; 1500];
                    let (done, answer) = read_ik_response(&waiting, &r, &mut plain).unwrap();
                    let (send, recv) = done.into_keys();
                    let session = Session::new(&send, &recv, answer.responder_id).unwrap();
                    let mut liar =
                        Liar { session, isn: answer.isn.0, got: BTreeSet::new(), seen: 0, packets: 0 };
                    // Confirm (PROTOCOL.md §4.8) with an ACK of nothing: no counter received yet.
                    let confirm = liar.ack(Seq(liar.isn.wrapping_sub(1)), AckEcho::default());
                    self.send_to_a(confirm);
                    return (liar, accepted.expect("A accepted before answering"));
                }
            }
            accepted = accepted.or_else(|| self.accept_incoming_if_any());
        }
        panic!("no IK response");
    }

    fn accept_incoming_if_any(&mut self) -> Option<ConnectionHandle> {
        let found = self.events.iter().find_map(|e| match e {
            Event::Incoming { connection, .. } => Some(*connection),
            _ => None,
        })?;
        self.a.accept(self.now, found).unwrap();
        self.events.retain(|e| !matches!(e, Event::Incoming { .. }));
        Some(found)
    }

    fn closed(&self, handle: ConnectionHandle) -> Option<CloseReason> {
        self.events.iter().find_map(|e| match e {
            Event::Closed { connection, reason } if *connection == handle => Some(reason.clone()),
            _ => None,
        })
    }
}

impl Liar {
    /// Seals an ACK segment of `cumulative` with `echo`.
    fn ack(&mut self, cumulative: Seq, echo: AckEcho) -> Vec<u8> {
        self.ack_with(cumulative, SackRanges::EMPTY, echo)
    }

    /// Seals an ACK segment of `cumulative`, `sack` and `echo`.
    fn ack_with(&mut self, cumulative: Seq, sack: SackRanges, echo: AckEcho) -> Vec<u8> {
        let ack = AckRepr {
            cumulative,
            window: 4096,
            ping: false,
            sack,
            ack_delay_us: None,
            dsack: DsackRanges::EMPTY,
            echo: Some(echo),
        };
        let mut buf = [0u8; 1500];
        let n = Segments { ack: Some(ack), tail: None }.emit(&mut buf[TRANSPORT_HEADER_LEN..]).unwrap();
        let len = self.session.seal(&mut buf, n).unwrap();
        buf[..len].to_vec()
    }

    /// Takes one datagram from A; returns the ACK to answer with, if any.
    fn receive(&mut self, mut datagram: Vec<u8>, behaviour: Receiver) -> Option<Vec<u8>> {
        let counter = u64::from_be_bytes(datagram.get(9..17)?.try_into().ok()?);
        self.packets += 1;
        self.seen = self.seen.max(counter);
        // The ignored packet is dropped unopened, as if the network had lost it.
        if behaviour != Receiver::Honest && self.packets % 5 == 0 {
            return None;
        }
        let plain = self.session.open(&mut datagram).ok()?.to_vec();
        let segments = Segments::parse(&plain).ok()?;
        let Some(Tail::Data(data)) = segments.tail else { return None };
        self.got.insert(data.seq.0.wrapping_sub(self.isn));
        let contiguous = (0u32..).find(|o| !self.got.contains(o)).unwrap_or(0);
        let highest = self.got.iter().next_back().copied().unwrap_or(0);
        let honest_echo = {
            let (top, received) = self.session.replay_window().echo();
            AckEcho::new(top, received).unwrap()
        };
        let claim_all =
            |top: u64| AckEcho::new(top, if top >= 64 { u64::MAX } else { (1u64 << top) - 1 }).unwrap();
        let (cumulative, echo) = match behaviour {
            Receiver::Honest => (contiguous, honest_echo),
            Receiver::ClaimsAll => (highest + 1, claim_all(self.seen + 1)),
            Receiver::EchoesHonestly => (highest + 1, honest_echo),
            Receiver::Optimistic => (highest + 3, claim_all(self.seen + 3)),
        };
        let ack_seq = |o: u32| Seq(self.isn.wrapping_add(o));
        let base = ack_seq(cumulative).prev();
        let mut sack = SackRanges::EMPTY;
        if behaviour == Receiver::Honest {
            // The honest receiver SACKs what it holds above the gap (up to 8 ranges).
            let mut above = self.got.range(cumulative..).copied().peekable();
            while let Some(start) = above.next() {
                let mut end = start;
                while above.peek() == Some(&(end + 1)) {
                    end = above.next().unwrap();
                }
                if sack.len() == 8 || sack.push(base, ack_seq(start), ack_seq(end)).is_err() {
                    break;
                }
            }
        }
        Some(self.ack_with(base, sack, echo))
    }
}

/// Runs `behaviour` against an endpoint sending 3 MB; returns when the endpoint closed (or the
/// time limit passed) and how long after the first lie.
fn run(behaviour: Receiver, network_loss_every: Option<u64>) -> (Option<CloseReason>, Duration, u64) {
    let mut w = World::new(7);
    let (mut liar, handle) = w.handshake();
    let data = vec![5u8; 3_000_000];
    let mut written = 0;
    let start = w.now;
    let mut arrivals = 0u64;
    while w.now - start < Duration::from_secs(20) {
        let now = w.now;
        if written < data.len() {
            written += w.a.write(now, handle, &data[written..]).unwrap_or(0);
        }
        for d in w.step() {
            arrivals += 1;
            // Real loss before the receiver sees anything (the honest control).
            if network_loss_every.is_some_and(|every| arrivals % every == 0) {
                continue;
            }
            if let Some(ack) = liar.receive(d, behaviour) {
                w.send_to_a(ack);
            }
        }
        if let Some(reason) = w.closed(handle) {
            return (Some(reason), w.now - start, liar.packets);
        }
        if behaviour == Receiver::Honest && liar.got.len() * 1300 >= data.len() {
            break;
        }
    }
    let stats = w.a.connection_stats(handle).unwrap();
    assert_eq!(stats.echo_violations, 0);
    (None, w.now - start, liar.packets)
}

#[test]
fn an_honest_receiver_on_a_lossy_path_is_never_accused() {
    let (closed, took, packets) = run(Receiver::Honest, Some(23));
    assert_eq!(closed, None, "after {took:?}, {packets} packets");
    assert!(packets > 2000, "the transfer ran: {packets} packets");
}

#[test]
fn receivers_acknowledging_what_they_never_received_are_closed_within_10_round_trips() {
    for behaviour in [Receiver::ClaimsAll, Receiver::EchoesHonestly, Receiver::Optimistic] {
        let (closed, took, packets) = run(behaviour, None);
        assert!(
            matches!(closed, Some(CloseReason::ProtocolViolation)),
            "{behaviour:?}: {closed:?} after {took:?}"
        );
        // The first lie comes with the fifth DATA packet (or the first ACK, when optimistic),
        // a round trip after the handshake.
        assert!(took < RTT * 12, "{behaviour:?}: closed after {took:?} ({packets} packets)");
    }
}
