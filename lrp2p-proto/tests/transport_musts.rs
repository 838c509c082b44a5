//! The rules for authenticated transport plaintexts (PROTOCOL.md §7, §8): a hand-written peer
//! (the crate's own Noise steps and session, `internals`) completes an IK handshake with a
//! real endpoint and then seals plaintexts written byte by byte. Each malformed one, and each
//! one whose segments violate §8, MUST be discarded whole (§7.9): its DATA segment is never
//! delivered. The reference then uses the MAY of §7.9 and closes with PROTOCOL_VIOLATION,
//! which is checked too. Unknown extensions, on the other hand, MUST be skipped (§7.7, §11).

#![allow(clippy::unwrap_used, clippy::disallowed_methods, clippy::cast_possible_truncation)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lrp2p_proto::crypto::{DefaultAead, Session};
use lrp2p_proto::handshake::{read_ik_response, write_ik_initiation};
use lrp2p_proto::wire::{ConnectionId, Datagram, IkInitPayload, Segments, Seq, TRANSPORT_HEADER_LEN, Tail};
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
    /// The hand peer's isn, and the endpoint's.
    isn: u32,
    isn_e: u32,
    events: Vec<Event>,
    /// What the endpoint sent, in order, and how much of it the hand peer has opened.
    out: Vec<Vec<u8>>,
    absorbed: usize,
}

/// One transport packet from the endpoint, as the hand peer opened it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Opened {
    ack: Option<(u32, u32)>,
    data: Option<(u32, bool)>,
    /// The ACK carried PING; the DATA carried RTX.
    ping: bool,
    rtx: bool,
}

impl World {
    fn new(seed: u64) -> Self {
        Self::with_first_ack_window(seed, 64)
    }

    /// As [`World::new`], the confirming ACK advertising `window`.
    fn with_first_ack_window(seed: u64, window: u32) -> Self {
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
        let confirm = ack_window(0x01, w.isn_e.wrapping_sub(1), window, &[&echo(0, 0)]);
        w.send(&confirm);
        w.run(Duration::from_millis(50));
        assert!(w.events.iter().all(|e| !matches!(e, Event::Closed { .. })), "{:?}", w.events);
        w
    }

    /// Seals `plain` as one transport packet and delivers it to the endpoint.
    fn send(&mut self, plain: &[u8]) {
        let mut buf = vec![0u8; TRANSPORT_HEADER_LEN + plain.len() + 16];
        buf[TRANSPORT_HEADER_LEN..][..plain.len()].copy_from_slice(plain);
        let n = self.session.seal(&mut buf, plain.len()).unwrap();
        let now = self.now;
        self.e.handle_datagram(now, self.peer, &mut buf[..n]);
    }

    /// Lets `span` of virtual time pass: timers fire, what the endpoint sends is discarded.
    fn run(&mut self, span: Duration) {
        let end = self.now + span;
        let mut buf = [0u8; 2048];
        loop {
            let now = self.now;
            while let Some(t) = self.e.poll_transmit(now, &mut buf) {
                self.out.push(buf[..t.len].to_vec());
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

    /// Opens what the endpoint sent since the last call: for each packet, its ACK segment's
    /// (cumulative ack, window) and its DATA segment's (seq, FIN), if any.
    fn absorb(&mut self) -> Vec<Opened> {
        let mut opened = Vec::new();
        for d in &self.out[self.absorbed..] {
            let mut d = d.clone();
            let Ok(plain) = self.session.open(&mut d) else { continue };
            let segments = Segments::parse(plain).unwrap();
            let (data, rtx) = match segments.tail {
                Some(Tail::Data(data)) => (Some((data.seq.0, data.fin)), data.rtx),
                _ => (None, false),
            };
            let ping = segments.ack.is_some_and(|a| a.ping);
            opened.push(Opened { ack: segments.ack.map(|a| (a.cumulative.0, a.window)), data, ping, rtx });
        }
        self.absorbed = self.out.len();
        opened
    }

    /// An ACK_ECHO of what the hand peer received (PROTOCOL.md §8.8).
    fn honest_echo(&self) -> Vec<u8> {
        let (top, received) = self.session.replay_window().echo();
        echo(top, received)
    }

    /// Everything the endpoint's application can read now.
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

/// An ACK segment with `flags`, cumulative ack `cum`, window 64 and the TLVs `exts`.
fn ack(flags: u8, cum: u32, exts: &[&[u8]]) -> Vec<u8> {
    ack_window(flags, cum, 64, exts)
}

/// An ACK segment with `flags`, cumulative ack `cum`, `window` and the TLVs `exts`.
fn ack_window(flags: u8, cum: u32, window: u32, exts: &[&[u8]]) -> Vec<u8> {
    let ext: Vec<u8> = exts.concat();
    let mut s = vec![(9 + ext.len()) as u8, flags];
    s.extend_from_slice(&cum.to_be_bytes());
    s.extend_from_slice(&window.to_be_bytes()[1..]);
    s.extend_from_slice(&ext);
    s
}

fn echo(top: u64, received: u64) -> Vec<u8> {
    let mut t = vec![0x04, 16];
    t.extend_from_slice(&top.to_be_bytes());
    t.extend_from_slice(&received.to_be_bytes());
    t
}

fn ranges(kind: u8, pairs: &[(u32, u32)]) -> Vec<u8> {
    let mut t = vec![kind, (8 * pairs.len()) as u8];
    for (a, b) in pairs {
        t.extend_from_slice(&a.to_be_bytes());
        t.extend_from_slice(&b.to_be_bytes());
    }
    t
}

fn segment(offset: u8, flags: u8, seq: u32, exts: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut s = vec![offset, flags];
    s.extend_from_slice(&seq.to_be_bytes());
    s.extend_from_slice(exts);
    s.extend_from_slice(payload);
    s
}

/// PROTOCOL.md §7.1–§7.8 (malformed), §7.9 (discarded whole), §8.2, §8.3, §8.8: none of these
/// packets' DATA is delivered, and the connection is closed as a protocol violation.
#[test]
fn malformed_or_invalid_authenticated_plaintexts_are_discarded_whole() {
    type Case = (&'static str, fn(&World) -> Vec<u8>);
    let cases: &[Case] = &[
        ("ACK with a reserved flag 0x21 (§7.3)", |w| {
            [ack(0x21, w.isn_e.wrapping_sub(1), &[&echo(0, 0)]), data(w.isn)].concat()
        }),
        ("ACK|FIN 0x03 (§7.3)", |w| {
            [ack(0x03, w.isn_e.wrapping_sub(1), &[&echo(0, 0)]), data(w.isn)].concat()
        }),
        ("ACK data_offset 8 (§7.2)", |w| {
            let mut a = ack(0x01, w.isn_e.wrapping_sub(1), &[]);
            a[0] = 8;
            [a, data(w.isn)].concat()
        }),
        ("ACK data_offset past the end (§7.2)", |w| {
            let mut a = ack(0x01, w.isn_e.wrapping_sub(1), &[&echo(0, 0)]);
            a[0] = 200;
            [a, data(w.isn)].concat()
        }),
        ("TLV running past data_offset (§7.7)", |w| {
            [ack(0x01, w.isn_e.wrapping_sub(1), &[&echo(0, 0), &[0x00, 5, 0]]), data(w.isn)].concat()
        }),
        ("one byte of TLV left (§7.7)", |w| {
            [ack(0x01, w.isn_e.wrapping_sub(1), &[&echo(0, 0), &[0x00]]), data(w.isn)].concat()
        }),
        ("SACK of len 7 (§7.7)", |w| {
            let a = w.isn_e.wrapping_sub(1);
            [ack(0x01, a, &[&echo(0, 0), &[0x01, 7, 0, 0, 0, 0, 0, 0, 0]]), data(w.isn)].concat()
        }),
        ("SACK range at the cumulative ack (§7.7)", |w| {
            let a = w.isn_e.wrapping_sub(1);
            [ack(0x01, a, &[&echo(0, 0), &ranges(0x01, &[(a, a)])]), data(w.isn)].concat()
        }),
        ("SACK ranges adjacent (§7.7)", |w| {
            let a = w.isn_e.wrapping_sub(1);
            let s = ranges(0x01, &[(a + 2, a + 2), (a + 3, a + 3)]);
            [ack(0x01, a, &[&echo(0, 0), &s]), data(w.isn)].concat()
        }),
        ("SACK range start after end (§7.7)", |w| {
            let a = w.isn_e.wrapping_sub(1);
            [ack(0x01, a, &[&echo(0, 0), &ranges(0x01, &[(a + 3, a + 2)])]), data(w.isn)].concat()
        }),
        ("ACK_DELAY of len 3 (§7.7)", |w| {
            [ack(0x01, w.isn_e.wrapping_sub(1), &[&echo(0, 0), &[0x02, 3, 0, 0, 1]]), data(w.isn)].concat()
        }),
        ("ACK_DELAY twice (§7.7)", |w| {
            let d: &[u8] = &[0x02, 4, 0, 0, 0, 1];
            [ack(0x01, w.isn_e.wrapping_sub(1), &[&echo(0, 0), d, d]), data(w.isn)].concat()
        }),
        ("DSACK of len 12 (§7.7)", |w| {
            let mut t = ranges(0x03, &[(1, 1)]);
            t[1] = 12;
            t.extend_from_slice(&[0, 0, 0, 1]);
            [ack(0x01, w.isn_e.wrapping_sub(1), &[&echo(0, 0), &t]), data(w.isn)].concat()
        }),
        ("DSACK range of 2^15 (§7.7)", |w| {
            let a = w.isn_e.wrapping_sub(1);
            let t = ranges(0x03, &[(a.wrapping_sub(0x8000), a)]);
            [ack(0x01, a, &[&echo(0, 0), &t]), data(w.isn)].concat()
        }),
        ("ACK_ECHO of len 15 (§7.7)", |w| {
            let mut t = echo(0, 0);
            t[1] = 15;
            t.pop();
            [ack(0x01, w.isn_e.wrapping_sub(1), &[&t]), data(w.isn)].concat()
        }),
        ("ACK_ECHO top 5 with bit 0 clear (§7.7)", |w| {
            [ack(0x01, w.isn_e.wrapping_sub(1), &[&echo(5, 0b10)]), data(w.isn)].concat()
        }),
        ("ACK_ECHO top 2 with bit 5 set (§7.7)", |w| {
            [ack(0x01, w.isn_e.wrapping_sub(1), &[&echo(2, 0b10_0001)]), data(w.isn)].concat()
        }),
        ("ACK_ECHO twice (§7.7)", |w| {
            [ack(0x01, w.isn_e.wrapping_sub(1), &[&echo(0, 0), &echo(0, 0)]), data(w.isn)].concat()
        }),
        ("two ACK segments (§7.1)", |w| {
            let a = ack(0x01, w.isn_e.wrapping_sub(1), &[&echo(0, 0)]);
            [a.clone(), a, data(w.isn)].concat()
        }),
        ("a truncated ACK (§7.2)", |w| ack(0x01, w.isn_e.wrapping_sub(1), &[])[..8].to_vec()),
        ("DATA with no payload and no FIN (§7.5)", |w| {
            [valid_ack(w), segment(6, 0x00, w.isn, &[], b"")].concat()
        }),
        ("DATA with flags 0x80 (§7.3)", |w| [valid_ack(w), segment(6, 0x80, w.isn, &[], b"zzz")].concat()),
        ("DATA with data_offset 5 (§7.2)", |w| {
            [valid_ack(w), segment(5, 0x00, w.isn, &[], b"zzz")].concat()
        }),
        ("DATA whose TLV overruns (§7.7)", |w| {
            [valid_ack(w), segment(8, 0x00, w.isn, &[0x00, 9], b"zzz")].concat()
        }),
        ("a truncated DATA header (§7.2)", |w| [valid_ack(w), vec![6, 0, 0, 0]].concat()),
        ("CLOSE with a 1-byte payload (§7.6)", |w| [valid_ack(w), segment(6, 0x10, 0, &[], &[0])].concat()),
        ("CLOSE|PING 0x18 (§7.3)", |w| [valid_ack(w), segment(6, 0x18, 0, &[], &[0, 0])].concat()),
        ("ACK of a sequence number never sent (§8.2)", |w| {
            [ack(0x01, w.isn_e.wrapping_add(10), &[&echo(0, 0)]), data(w.isn)].concat()
        }),
        ("SACK of a sequence number never sent (§8.2)", |w| {
            let a = w.isn_e.wrapping_sub(1);
            [ack(0x01, a, &[&echo(0, 0), &ranges(0x01, &[(a + 5, a + 5)])]), data(w.isn)].concat()
        }),
        ("DSACK ending at a sequence number never sent (§8.3)", |w| {
            let a = w.isn_e.wrapping_sub(1);
            [ack(0x01, a, &[&echo(0, 0), &ranges(0x03, &[(a + 5, a + 5)])]), data(w.isn)].concat()
        }),
        ("ACK without ACK_ECHO (§8.8)", |w| [ack(0x01, w.isn_e.wrapping_sub(1), &[]), data(w.isn)].concat()),
        ("ACK_ECHO claiming a packet never sent (§8.8)", |w| {
            [ack(0x01, w.isn_e.wrapping_sub(1), &[&echo(1000, 1)]), data(w.isn)].concat()
        }),
    ];
    for (i, (name, plain)) in cases.iter().enumerate() {
        let mut w = World::new(200 + i as u64);
        let bytes = plain(&w);
        w.send(&bytes);
        w.run(Duration::from_millis(100));
        assert_eq!(w.read(), b"", "{name}: a segment of the packet was acted on");
        assert_eq!(w.closed(), Some(CloseReason::ProtocolViolation), "{name}: {:?}", w.events);
        let stats = w.e.stats();
        assert_eq!(stats.datagrams_received, stats.accounted(), "{name}");
    }
}

/// PROTOCOL.md §8.7: DATA above the FIN is a protocol violation; it is never delivered.
#[test]
fn data_after_fin_is_discarded_and_closes() {
    let mut w = World::new(300);
    w.send(&[valid_ack(&w), segment(6, 0x02, w.isn, &[], b"end")].concat());
    w.run(Duration::from_millis(50));
    assert_eq!(w.read(), b"end");
    w.send(&segment(6, 0x00, w.isn.wrapping_add(1), &[], b"zzz"));
    w.run(Duration::from_millis(100));
    assert_eq!(w.read(), b"");
    assert_eq!(w.closed(), Some(CloseReason::ProtocolViolation), "{:?}", w.events);
}

/// PROTOCOL.md §7.7, §11: unknown extension types (unassigned and private use) and PADDING are
/// skipped on every segment kind, and the ACK extensions are ignored on DATA: the packet is
/// processed and its data delivered; the connection stays up.
#[test]
fn unknown_extensions_are_skipped() {
    let mut w = World::new(301);
    let unknown: &[u8] = &[0x05, 3, 1, 2, 3];
    let private: &[u8] = &[0x80, 0];
    let padding: &[u8] = &[0x00, 4, 0, 0, 0, 0];
    let a = ack(0x01, w.isn_e.wrapping_sub(1), &[unknown, &echo(0, 0), private, padding]);
    let on_data: Vec<u8> = [unknown, private, &ranges(0x01, &[(1, 1)]), &[0x02, 1, 9]].concat();
    let d = segment(6 + on_data.len() as u8, 0x00, w.isn, &on_data, b"ok");
    w.send(&[a, d].concat());
    w.run(Duration::from_millis(100));
    assert_eq!(w.read(), b"ok");
    assert_eq!(w.closed(), None, "{:?}", w.events);
}

/// A valid ACK of nothing, with the echo of nothing received.
fn valid_ack(w: &World) -> Vec<u8> {
    ack(0x01, w.isn_e.wrapping_sub(1), &[&echo(0, 0)])
}

/// The hand peer's first DATA segment, `"zzz"`.
fn data(isn: u32) -> Vec<u8> {
    segment(6, 0x00, isn, &[], b"zzz")
}

/// PROTOCOL.md §8.5: a packet containing only an ACK is not acknowledged by itself. Both
/// streams end: the endpoint sends DATA with FIN, the hand peer sends its FIN (acknowledged at
/// once), then a pure ACK of the endpoint's FIN. That ACK finishes the connection and must not
/// draw a second pure ACK with the same cumulative ack and window (one was sent).
#[test]
fn the_ack_that_finishes_both_streams_draws_no_redundant_ack() {
    let mut w = World::new(302);
    let now = w.now;
    w.e.write(now, w.conn, b"bye").unwrap();
    w.e.shutdown(now, w.conn).unwrap();
    w.run(Duration::from_millis(50));
    let fin = w.absorb().iter().find_map(|o| o.data.filter(|d| d.1)).expect("the endpoint's FIN");
    assert_eq!(fin.0, w.isn_e);
    // The hand peer's FIN, acknowledging nothing of the endpoint's yet.
    let nothing = ack(0x01, w.isn_e.wrapping_sub(1), &[&w.honest_echo()]);
    w.send(&[nothing, segment(6, 0x02, w.isn, &[], b"end")].concat());
    w.run(Duration::from_millis(50));
    let first: Vec<Opened> = w.absorb();
    let acks_of_fin: Vec<_> = first.iter().filter_map(|o| o.ack).filter(|a| a.0 == w.isn).collect();
    assert_eq!(acks_of_fin.len(), 1, "the FIN is acknowledged at once, once: {first:?}");
    // The pure ACK of the endpoint's FIN: both streams are finished.
    let of_fin = ack(0x01, w.isn_e, &[&w.honest_echo()]);
    w.send(&of_fin);
    w.run(Duration::from_millis(500));
    let after = w.absorb();
    assert!(
        !after.iter().any(|o| o.ack == Some(acks_of_fin[0]) && o.data.is_none()),
        "a redundant pure ACK after the last ACK: {after:?}"
    );
    assert_eq!(w.read(), b"end");
    assert!(matches!(w.closed(), None | Some(CloseReason::Finished)), "{:?}", w.events);
}

/// PROTOCOL.md §7.6: an ACK in front of a CLOSE in the same packet is processed before the
/// CLOSE: the endpoint's data it acknowledges counts as delivered.
#[test]
fn an_ack_in_front_of_a_close_is_processed() {
    let mut w = World::new(303);
    let now = w.now;
    w.e.write(now, w.conn, b"x").unwrap();
    w.run(Duration::from_millis(5));
    assert!(w.absorb().iter().any(|o| o.data.is_some()), "the endpoint sent its DATA");
    w.events.clear();
    let close = segment(6, 0x10, w.isn, &[], &[0, 0]);
    w.send(&[ack(0x01, w.isn_e, &[&w.honest_echo()]), close].concat());
    w.run(Duration::from_millis(10));
    let acknowledged = w.events.iter().position(|e| matches!(e, Event::Acknowledged { .. }));
    let closed = w.events.iter().position(|e| matches!(e, Event::Closed { .. }));
    assert!(acknowledged.is_some() && acknowledged < closed, "{:?}", w.events);
    assert!(matches!(w.closed(), Some(CloseReason::Remote { code: 0, .. })), "{:?}", w.events);
}

/// PROTOCOL.md §8.4, §7.3, §8.5: DATA with PING beyond the right edge is discarded, and the
/// PING is still answered at once, by an ACK that does not cover the DATA.
#[test]
fn a_ping_on_data_beyond_the_right_edge_is_answered() {
    let mut w = World::new(304);
    w.absorb();
    let beyond = w.isn.wrapping_add(1_000_000);
    w.send(&[valid_ack(&w), segment(6, 0x08, beyond, &[], b"far")].concat());
    w.run(Duration::from_millis(1));
    let answers: Vec<Opened> = w.absorb();
    assert!(
        answers.iter().any(|o| o.ack.is_some_and(|a| a.0 == w.isn.wrapping_sub(1))),
        "no ACK at once for the PING: {answers:?}"
    );
    assert_eq!(w.read(), b"");
    assert_eq!(w.closed(), None, "{:?}", w.events);
}

/// PROTOCOL.md §8.4: a first ACK with window 0 withdraws nothing already sent: the segment
/// sent under the implicit window stays in flight and is retransmitted; no new DATA goes out
/// (window probes do) until the window opens; then the rest follows.
#[test]
fn a_first_ack_with_window_zero_keeps_the_segment_already_sent() {
    let mut w = World::with_first_ack_window(305, 0);
    let now = w.now;
    w.e.write(now, w.conn, &[5u8; 5000]).unwrap();
    w.run(Duration::from_secs(3));
    let sent = w.absorb();
    let seqs: Vec<u32> = sent.iter().filter_map(|o| o.data.map(|d| d.0)).collect();
    assert!(!seqs.is_empty() && seqs.iter().all(|&s| s == w.isn_e), "only seq isn_e: {sent:?}");
    assert!(sent.iter().any(|o| o.ping && o.data.is_none()), "no window probe: {sent:?}");
    let copies: Vec<&Opened> = sent.iter().filter(|o| o.data.is_some()).collect();
    assert!(copies.len() >= 2 && copies[1..].iter().all(|o| o.rtx), "retransmitted: {sent:?}");
    // The window opens (the segment received is acknowledged): new DATA follows.
    w.send(&ack_window(0x01, w.isn_e, 64, &[&w.honest_echo()]));
    w.run(Duration::from_millis(50));
    let more = w.absorb();
    assert!(more.iter().any(|o| o.data.is_some_and(|d| d.0 != w.isn_e)), "{more:?}");
}
