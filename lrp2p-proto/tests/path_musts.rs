//! The rules of path validation (PROTOCOL.md §13.2–§13.4), against a hand-written peer (the
//! crate's own Noise steps and session, `internals`) that seals plaintexts byte by byte and
//! sends them from any address it likes: what a challenge draws and where it goes, what
//! validates a candidate and what does not, and the malformed path extensions that MUST
//! discard their packet.

#![allow(clippy::unwrap_used, clippy::disallowed_methods, clippy::cast_possible_truncation)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lrp2p_proto::crypto::{DefaultAead, Session};
use lrp2p_proto::handshake::{read_ik_response, write_ik_initiation};
use lrp2p_proto::wire::{
    ConnectionId, Datagram, IkInitPayload, PathFrames, Segments, Seq, TRANSPORT_HEADER_LEN, Tail,
};
use lrp2p_proto::{CloseReason, ConnectionHandle, Endpoint, EndpointConfig, Event, StaticSecret};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

const UNIX_NS: u64 = 1_800_000_000_000_000_000;

/// A real endpoint `e` and a hand-written initiator with an established session to it.
struct World {
    now: Instant,
    e: Endpoint<ChaCha20Rng>,
    conn: ConnectionHandle,
    peer: SocketAddr,
    session: Session<DefaultAead>,
    isn: u32,
    isn_e: u32,
    events: Vec<Event>,
    /// What the endpoint sent, in order, with its destination; and how much was opened.
    out: Vec<(SocketAddr, Vec<u8>)>,
    absorbed: usize,
}

/// One transport packet from the endpoint, as the hand peer opened it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Opened {
    to: SocketAddr,
    len: usize,
    ping: bool,
    frames: PathFrames,
    data: bool,
}

impl World {
    fn new(seed: u64) -> Self {
        let start = Instant::now();
        let mut config = EndpointConfig::default();
        config.early_data.start_floor = false;
        let key = StaticSecret::generate(&mut ChaCha20Rng::seed_from_u64(seed));
        let mut e = Endpoint::new(config, key, ChaCha20Rng::seed_from_u64(seed + 1), start, UNIX_NS);
        let peer: SocketAddr = "10.0.0.9:9000".parse().unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(seed + 2);
        let identity = StaticSecret::generate(&mut rng);
        let sender_id = ConnectionId(rng.next_u64() | 1);
        let isn = rng.next_u32();
        let payload = IkInitPayload { timestamp_ns: UNIX_NS + 1, isn: Seq(isn), segments: Segments::EMPTY };
        let mut init = [0u8; 1500];
        let (waiting, n) =
            write_ik_initiation(&mut rng, &identity, &e.public_key(), sender_id, &payload, None, &mut init)
                .unwrap();
        e.handle_datagram(start, peer, &mut init[..n]);
        let conn = std::iter::from_fn(|| e.poll_event())
            .find_map(|ev| if let Event::Incoming { connection, .. } = ev { Some(connection) } else { None })
            .expect("an incoming connection");
        e.accept(start, conn).unwrap();
        let mut buf = [0u8; 2048];
        let t = e.poll_transmit(start, &mut buf).expect("an IK response");
        let Ok(Datagram::IkResponse(r)) = Datagram::parse(&buf[..t.len]) else {
            panic!("not an IK response")
        };
        let mut plain = [0u8; 1500];
        let (done, answer) = read_ik_response(&waiting, &r, &mut plain).unwrap();
        let (send, recv) = done.into_keys();
        let session = Session::new(&send, &recv, answer.responder_id).unwrap();
        let mut w = World {
            now: start,
            e,
            conn,
            peer,
            session,
            isn,
            isn_e: answer.isn.0,
            events: Vec::new(),
            out: Vec::new(),
            absorbed: 0,
        };
        // Confirm the handshake (PROTOCOL.md §4.8) with an ACK of nothing.
        w.send_from(peer, &w.ack(0x01, &[]));
        w.run(Duration::from_millis(50));
        w.absorb();
        w
    }

    /// An ACK segment (flags `flags`, nothing acknowledged, window 64) with an honest
    /// ACK_ECHO and the TLVs `exts` after it.
    fn ack(&self, flags: u8, exts: &[&[u8]]) -> Vec<u8> {
        let (top, received) = self.session.replay_window().echo();
        let mut echo = vec![0x04, 16];
        echo.extend_from_slice(&top.to_be_bytes());
        echo.extend_from_slice(&received.to_be_bytes());
        let ext: Vec<u8> = [&[&echo[..]], exts].concat().concat();
        let mut s = vec![(9 + ext.len()) as u8, flags];
        s.extend_from_slice(&self.isn_e.wrapping_sub(1).to_be_bytes());
        s.extend_from_slice(&64u32.to_be_bytes()[1..]);
        s.extend_from_slice(&ext);
        s
    }

    /// Seals `plain` as one transport packet (the next counter).
    fn seal(&mut self, plain: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; TRANSPORT_HEADER_LEN + plain.len() + 16];
        buf[TRANSPORT_HEADER_LEN..][..plain.len()].copy_from_slice(plain);
        let n = self.session.seal(&mut buf, plain.len()).unwrap();
        buf.truncate(n);
        buf
    }

    /// Seals `plain` and delivers it from `from`; returns the datagram's size.
    fn send_from(&mut self, from: SocketAddr, plain: &[u8]) -> usize {
        let mut d = self.seal(plain);
        let now = self.now;
        self.e.handle_datagram(now, from, &mut d);
        d.len()
    }

    /// Lets `span` of virtual time pass: timers fire; what the endpoint sends is kept in `out`.
    fn run(&mut self, span: Duration) {
        let end = self.now + span;
        let mut buf = [0u8; 2048];
        loop {
            let now = self.now;
            while let Some(t) = self.e.poll_transmit(now, &mut buf) {
                self.out.push((t.destination, buf[..t.len].to_vec()));
            }
            self.e.handle_timeout(now);
            while let Some(ev) = self.e.poll_event() {
                self.events.push(ev);
            }
            match self.e.poll_timeout() {
                Some(t) if t <= end => self.now = t.max(now + Duration::from_micros(1)),
                _ => break,
            }
        }
        self.now = end;
    }

    /// Opens what the endpoint sent since the last call.
    fn absorb(&mut self) -> Vec<Opened> {
        let mut opened = Vec::new();
        for (to, d) in &self.out[self.absorbed..] {
            let mut d = d.clone();
            let len = d.len();
            let Ok(plain) = self.session.open(&mut d) else { continue };
            let frames = PathFrames::parse(plain).unwrap();
            let segments = Segments::parse(plain).unwrap();
            let ping = segments.ack.is_some_and(|a| a.ping);
            let data = matches!(segments.tail, Some(Tail::Data(_)));
            opened.push(Opened { to: *to, len, ping, frames, data });
        }
        self.absorbed = self.out.len();
        opened
    }

    fn read(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        let now = self.now;
        while let Ok(n @ 1..) = self.e.read(now, self.conn, &mut buf) {
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    fn closed(&self) -> Option<CloseReason> {
        self.events.iter().find_map(|e| match e {
            Event::Closed { reason, .. } => Some(reason.clone()),
            _ => None,
        })
    }
}

fn challenge(data: [u8; 8]) -> Vec<u8> {
    [&[0x06, 8][..], &data].concat()
}

fn response(data: [u8; 8]) -> Vec<u8> {
    [&[0x07, 8][..], &data].concat()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The hand peer's DATA segment `seq`.
fn data(seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut s = vec![6, 0x00];
    s.extend_from_slice(&seq.to_be_bytes());
    s.extend_from_slice(payload);
    s
}

/// PROTOCOL.md §13.2: a PATH_CHALLENGE on the current path is answered there, once, with its
/// bytes in a PATH_RESPONSE; the path does not change.
#[test]
fn a_challenge_on_the_current_path_is_answered_there_once() {
    let mut w = World::new(500);
    let d = *b"chal-one";
    let peer = w.peer;
    w.send_from(peer, &w.ack(0x09, &[&challenge(d)]));
    w.run(Duration::from_secs(5));
    let sent = w.absorb();
    let answers: Vec<_> = sent.iter().filter(|o| o.frames.response.is_some()).collect();
    assert_eq!(answers.len(), 1, "{sent:?}");
    assert_eq!((answers[0].to, answers[0].frames.response), (peer, Some(d)));
    assert_eq!(w.e.path(w.conn).unwrap().remote, peer);
    assert_eq!(w.closed(), None);
}

/// PROTOCOL.md §13.2, §13.4: a challenge from a new address X is answered at X (the path it
/// came on), not on the current path; X becomes a candidate, challenged in turn, and the
/// endpoint sends X at most 3× what came from it.
#[test]
fn a_challenge_from_a_new_address_is_answered_there_and_starts_a_validation() {
    let mut w = World::new(501);
    let (peer, x) = (w.peer, addr("10.0.0.10:1010"));
    let d = *b"chal-two";
    let from_x = w.send_from(x, &w.ack(0x09, &[&challenge(d)]));
    w.run(Duration::from_secs(10));
    let sent = w.absorb();
    let answers: Vec<_> = sent.iter().filter(|o| o.frames.response.is_some()).collect();
    assert_eq!(answers.len(), 1, "{sent:?}");
    assert_eq!((answers[0].to, answers[0].frames.response), (x, Some(d)));
    let to_x: Vec<_> = sent.iter().filter(|o| o.to == x).collect();
    assert!(to_x.iter().all(|o| !o.data), "no DATA to a candidate");
    let challenges: Vec<_> = to_x.iter().filter(|o| o.frames.challenge.is_some()).collect();
    assert!(!challenges.is_empty() && challenges.iter().all(|o| o.ping), "challenges carry PING: {to_x:?}");
    let bytes: usize = to_x.iter().map(|o| o.len).sum();
    assert!(bytes <= 3 * from_x, "{bytes} bytes to X for {from_x}");
    assert_eq!(w.e.path(w.conn).unwrap().remote, peer, "not moved");
}

/// PROTOCOL.md §13.2: only a PATH_RESPONSE from the candidate's address, with its challenge's
/// bytes, validates it: wrong bytes from X do not, X's bytes from another address Y do not
/// (and Y, newer, replaces X as the candidate); the right bytes from X move the connection.
#[test]
fn only_the_right_response_from_the_candidate_validates_it() {
    let mut w = World::new(502);
    let (peer, x, y) = (w.peer, addr("10.0.0.10:1010"), addr("10.0.0.11:1111"));
    let mut seq = w.isn;
    let mut next_data = |w: &mut World, from| {
        let plain = [w.ack(0x01, &[]), data(seq, b"d")].concat();
        seq = seq.wrapping_add(1);
        w.send_from(from, &plain);
        w.run(Duration::from_millis(20));
        let sent = w.absorb();
        sent.iter().find_map(|o| o.frames.challenge.filter(|_| o.to == from))
    };
    let dx = next_data(&mut w, x).expect("a challenge to X");
    assert_eq!(w.e.path(w.conn).unwrap().candidate, Some(x));
    w.send_from(x, &w.ack(0x01, &[&response(*b"wrongdat")]));
    w.run(Duration::from_millis(20));
    assert_eq!(w.e.path(w.conn).unwrap().remote, peer, "wrong bytes");
    w.send_from(y, &w.ack(0x01, &[&response(dx)]));
    w.run(Duration::from_millis(20));
    let path = w.e.path(w.conn).unwrap();
    assert_eq!((path.remote, path.candidate), (peer, Some(y)), "X's bytes from Y");
    let dx = next_data(&mut w, x).expect("a new challenge to X");
    w.send_from(x, &w.ack(0x01, &[&response(dx)]));
    w.run(Duration::from_millis(20));
    let path = w.e.path(w.conn).unwrap();
    assert_eq!((path.remote, path.validated, path.candidate), (x, true, None));
    assert!(w.events.iter().any(|e| matches!(e, Event::PathChanged { .. })), "{:?}", w.events);
    assert_eq!(w.read(), b"dd");
    assert_eq!(w.closed(), None);
}

/// PROTOCOL.md §13.4: a delayed packet (its counter below one already received) from a new
/// address starts no validation.
#[test]
fn a_delayed_packet_from_a_new_address_starts_nothing() {
    let mut w = World::new(503);
    let (peer, x) = (w.peer, addr("10.0.0.10:1010"));
    let plain = w.ack(0x09, &[]);
    let mut early = w.seal(&plain);
    let plain = w.ack(0x09, &[]);
    let mut late = w.seal(&plain);
    let now = w.now;
    w.e.handle_datagram(now, peer, &mut late);
    w.e.handle_datagram(now, x, &mut early);
    w.run(Duration::from_secs(5));
    assert_eq!(w.e.path(w.conn).unwrap().candidate, None);
    assert!(w.absorb().iter().all(|o| o.to == peer));
}

/// PROTOCOL.md §13.2: on a DATA segment a PATH_CHALLENGE is ignored (only its TLV framing is
/// checked): no response; the data is delivered.
#[test]
fn a_challenge_on_a_data_segment_is_ignored() {
    let mut w = World::new(504);
    let ext = challenge(*b"on-data!");
    let mut d = vec![6 + ext.len() as u8, 0x00];
    d.extend_from_slice(&w.isn.to_be_bytes());
    d.extend_from_slice(&ext);
    d.extend_from_slice(b"ok");
    let peer = w.peer;
    w.send_from(peer, &[w.ack(0x01, &[]), d].concat());
    w.run(Duration::from_secs(1));
    assert_eq!(w.read(), b"ok");
    assert!(w.absorb().iter().all(|o| o.frames.is_empty()));
    assert_eq!(w.closed(), None);
}

/// PROTOCOL.md §13.2, §7.9: a PATH_CHALLENGE or PATH_RESPONSE whose `len` is not 8, or a second
/// one of either type in one ACK segment, makes the packet malformed: discarded whole (its DATA
/// never delivered), and the reference closes with PROTOCOL_VIOLATION.
#[test]
fn malformed_path_extensions_discard_the_packet() {
    let d = *b"12345678";
    let cases: [(&str, Vec<Vec<u8>>); 5] = [
        ("PATH_CHALLENGE of len 7", vec![vec![0x06, 7, 1, 2, 3, 4, 5, 6, 7]]),
        ("PATH_CHALLENGE of len 9", vec![vec![0x06, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9]]),
        ("PATH_RESPONSE of len 0", vec![vec![0x07, 0]]),
        ("two PATH_CHALLENGEs", vec![challenge(d), challenge(d)]),
        ("two PATH_RESPONSEs", vec![response(d), response(d)]),
    ];
    for (i, (name, exts)) in cases.iter().enumerate() {
        let mut w = World::new(510 + i as u64);
        let exts: Vec<&[u8]> = exts.iter().map(Vec::as_slice).collect();
        let peer = w.peer;
        let plain = [w.ack(0x09, &exts), data(w.isn, b"zzz")].concat();
        w.send_from(peer, &plain);
        w.run(Duration::from_millis(100));
        assert_eq!(w.read(), b"", "{name}: a segment of the packet was acted on");
        assert_eq!(w.closed(), Some(CloseReason::ProtocolViolation), "{name}: {:?}", w.events);
        assert!(w.absorb().iter().all(|o| o.frames.is_empty()), "{name}: answered");
    }
}

/// PROTOCOL.md §13.3, §13.4: an unanswered validation sends at most 3 challenge packets and
/// fails, leaving the path; the peer's next packet from that address starts a new one, with
/// new challenge bytes (never repeated on a connection, §13.2).
#[test]
fn a_failed_validation_ends_and_the_next_packet_starts_a_new_one() {
    let mut w = World::new(505);
    let (peer, x) = (w.peer, addr("10.0.0.10:1010"));
    w.send_from(x, &w.ack(0x09, &[]));
    // Within the 30 s idle timeout: the hand peer answers nothing meanwhile.
    w.run(Duration::from_secs(15));
    let first: Vec<_> =
        w.absorb().into_iter().filter_map(|o| o.frames.challenge.filter(|_| o.to == x)).collect();
    assert!(!first.is_empty() && first.len() <= 3, "{first:?}");
    let path = w.e.path(w.conn).unwrap();
    assert_eq!((path.remote, path.candidate), (peer, None), "failed and forgotten");
    w.send_from(x, &w.ack(0x09, &[]));
    w.run(Duration::from_millis(10));
    let second: Vec<_> =
        w.absorb().into_iter().filter_map(|o| o.frames.challenge.filter(|_| o.to == x)).collect();
    assert_eq!(w.e.path(w.conn).unwrap().candidate, Some(x));
    assert!(second.len() == 1 && second[0] != first[0], "{second:?} after {first:?}");
}
