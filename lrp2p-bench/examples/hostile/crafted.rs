//! `ooo-fill` and `optimistic-ack`: authenticated connections whose transport packets the
//! attacker writes itself.
//!
//! With lrp2p-proto's `internals` feature the attacker runs the IK handshake by hand
//! (`handshake::write_ik_initiation`, answering a cookie reply with `set_cookie_mac`,
//! `read_ik_response`), seals its own segments (`wire` codecs) with a `crypto::Session` made
//! from the handshake's keys, and confirms the connection with an ACK, as a peer must. Then:
//!
//! - `ooo-fill`: each connection sends DATA segments `isn + 1 … isn + window - 1` with
//!   full-sized payloads (the server's MSS) and never `isn`: everything waits above the gap in
//!   the server's out-of-order buffer, up to the receive window the server advertised.
//! - `optimistic-ack`: each connection sends ACK segments acknowledging sequence numbers the
//!   server never sent (cumulatively and by SACK). The `perf` server sends no bulk data (its
//!   only DATA is the 8-byte total at the end of a test), so an optimistic ACK can only claim
//!   what was never sent: PROTOCOL.md §8.2 makes that a protocol violation (§7.9).
//!
//! The attacker decrypts what the server sends back and counts ACKs, DATA and CLOSEs.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::thread;
use std::time::{Duration, Instant};

use lrp2p_proto::crypto::{DefaultAead, Session};
use lrp2p_proto::handshake::{read_ik_response, set_cookie_mac, write_ik_initiation};
use lrp2p_proto::wire::{
    ACK_HEADER_LEN, AckRepr, ConnectionId, CookieReplyRepr, DataRepr, Datagram, IkInitPayload,
    SEGMENT_HEADER_LEN, SackRanges, Segments, Seq, TAG_LEN, TRANSPORT_HEADER_LEN, Tail,
};
use lrp2p_proto::{DEFAULT_MAX_DATAGRAM, PublicKey, StaticSecret};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::attack::{DRAIN, Outcome, Pacer, RECV_BUF, Source};
use crate::flood::unix_ns;

/// The server's MSS with its default 1400-byte datagrams: what `ConnectionConfig::mss` leaves
/// after the header, the tag, an ACK with a SACK extension of four ranges and a DATA header.
const SERVER_MSS: usize =
    DEFAULT_MAX_DATAGRAM - TRANSPORT_HEADER_LEN - TAG_LEN - ACK_HEADER_LEN - 2 - 4 * 8 - SEGMENT_HEADER_LEN;

/// How long one crafted handshake may take (initiation resent every [`RESEND`]).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Initiation retransmission interval of the crafted handshake.
const RESEND: Duration = Duration::from_millis(300);

/// Which of the two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// DATA above a gap.
    OooFill,
    /// ACKs of data never sent.
    OptimisticAck,
}

/// What the server sent on one crafted connection, decrypted.
#[derive(Debug, Default, Clone, Copy)]
struct Answers {
    acks: u64,
    data: u64,
    closes: u64,
    close_code: Option<u16>,
    undecryptable: u64,
}

/// One authenticated connection built by hand.
struct Crafted {
    source: Source,
    server: SocketAddr,
    session: Session<DefaultAead>,
    isn: u32,
    server_isn: u32,
    /// The window (in packets) the server advertised in its IK response.
    window: u32,
    /// Offsets above `isn` sent so far (`ooo-fill`) or ACKs sent (`optimistic-ack`).
    sent: u32,
    answers: Answers,
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

impl Crafted {
    /// Runs an IK handshake from a fresh identity on `ip` to `server`, and confirms it.
    fn connect(
        ip: Ipv4Addr,
        server: SocketAddr,
        key: PublicKey,
        rng: &mut ChaCha20Rng,
    ) -> io::Result<Crafted> {
        let mut source = Source::bind(ip)?;
        let identity = StaticSecret::generate(rng);
        let sender_id = ConnectionId(rng.next_u64() | 1);
        let isn = rng.next_u32();
        let payload = IkInitPayload { timestamp_ns: unix_ns(), isn: Seq(isn), segments: Segments::EMPTY };
        let mut init = [0u8; 1500];
        let (waiting, n) =
            write_ik_initiation(rng, &identity, &key, sender_id, &payload, None, &mut init).map_err(other)?;
        let mut init = init[..n].to_vec();
        let started = Instant::now();
        let mut resend_at = started;
        let mut buf = vec![0u8; RECV_BUF];
        loop {
            if started.elapsed() > HANDSHAKE_TIMEOUT {
                return Err(io::Error::new(io::ErrorKind::TimedOut, format!("crafted handshake from {ip}")));
            }
            if Instant::now() >= resend_at {
                source.send(&init, server);
                resend_at = Instant::now() + RESEND;
            }
            let mut got = Vec::new();
            source.drain(&mut buf, |_, d| got.push(d.to_vec()));
            for d in got {
                match Datagram::parse(&d) {
                    Ok(Datagram::CookieReply(CookieReplyRepr { receiver_id, cookie, .. }))
                        if receiver_id == sender_id =>
                    {
                        // PROTOCOL.md §10.3: the same initiation again, under the cookie.
                        set_cookie_mac(&mut init, Some(&cookie)).map_err(other)?;
                        source.send(&init, server);
                        resend_at = Instant::now() + RESEND;
                    }
                    Ok(Datagram::IkResponse(r)) if r.receiver_id == sender_id => {
                        let mut plain = [0u8; 1500];
                        let (done, answer) = read_ik_response(&waiting, &r, &mut plain).map_err(other)?;
                        let ack = answer.segments.ack.ok_or_else(|| other("IK response without an ACK"))?;
                        let got_data = match answer.segments.tail {
                            Some(Tail::Close(c)) => return Err(other(format!("refused: code {}", c.code))),
                            Some(Tail::Data(_)) => true,
                            None => false,
                        };
                        let (send, recv) = done.into_keys();
                        let session = Session::new(&send, &recv, answer.responder_id).map_err(other)?;
                        let mut conn = Crafted {
                            source,
                            server,
                            session,
                            isn,
                            server_isn: answer.isn.0,
                            window: ack.window,
                            sent: 0,
                            answers: Answers::default(),
                        };
                        // Confirm (PROTOCOL.md §4.8): an ACK of what the response carried.
                        let cumulative = Seq(conn.server_isn.wrapping_sub(u32::from(!got_data)));
                        conn.seal_and_send(&Segments { ack: Some(plain_ack(cumulative)), tail: None })?;
                        return Ok(conn);
                    }
                    _ => {}
                }
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// Seals `segments` into a transport packet and sends it.
    fn seal_and_send(&mut self, segments: &Segments<'_>) -> io::Result<()> {
        let mut buf = [0u8; 1500];
        let n = segments.emit(&mut buf[TRANSPORT_HEADER_LEN..]).map_err(other)?;
        let len = self.session.seal(&mut buf, n).map_err(other)?;
        self.source.send(&buf[..len], self.server);
        Ok(())
    }

    /// Whether `ooo-fill` has filled the window the server advertised.
    fn window_full(&self) -> bool {
        self.sent.saturating_add(1) >= self.window
    }

    /// The next attack packet of `kind`.
    fn attack(&mut self, kind: Kind, payload: &[u8]) -> io::Result<()> {
        self.sent += 1;
        match kind {
            Kind::OooFill => {
                // Never `isn` itself: everything stays above the gap.
                let data = DataRepr {
                    seq: Seq(self.isn.wrapping_add(self.sent)),
                    fin: false,
                    rtx: false,
                    ping: false,
                    app_protocol: None,
                    payload,
                };
                self.seal_and_send(&Segments { ack: None, tail: Some(Tail::Data(data)) })
            }
            Kind::OptimisticAck => {
                // Acknowledge far beyond anything the server sent (it sent nothing yet), with a
                // SACK range above that, and claim a large window.
                let cumulative = Seq(self.server_isn.wrapping_add(1000).wrapping_add(self.sent));
                let mut ack = plain_ack(cumulative);
                let start = Seq(cumulative.0.wrapping_add(2));
                ack.sack =
                    SackRanges::new(cumulative, &[(start, Seq(start.0.wrapping_add(100)))]).map_err(other)?;
                self.seal_and_send(&Segments { ack: Some(ack), tail: None })
            }
        }
    }

    /// Reads, decrypts and counts what the server sent.
    fn read_answers(&mut self, buf: &mut [u8]) {
        let (session, answers) = (&mut self.session, &mut self.answers);
        self.source.drain(buf, |_, d| {
            let Ok(plain) = session.open(d) else {
                answers.undecryptable += 1;
                return;
            };
            match Segments::parse(plain) {
                Ok(s) => {
                    answers.acks += u64::from(s.ack.is_some());
                    match s.tail {
                        Some(Tail::Data(_)) => answers.data += 1,
                        Some(Tail::Close(c)) => {
                            answers.closes += 1;
                            answers.close_code.get_or_insert(c.code);
                        }
                        None => {}
                    }
                }
                Err(_) => answers.undecryptable += 1,
            }
        });
    }
}

/// An ACK of `cumulative` with a 4096-packet window, nothing else.
fn plain_ack(cumulative: Seq) -> AckRepr {
    AckRepr {
        cumulative,
        window: 4096,
        ping: false,
        sack: SackRanges::EMPTY,
        ack_delay_us: None,
        dsack: lrp2p_proto::wire::DsackRanges::EMPTY,
        echo: None,
    }
}

/// Runs `kind` with `conns` connections (from `127.66.k.1`, or `127.67.k.1`) for `secs`, all
/// of them sending `rate` packets per second in turn.
pub(crate) fn run(
    kind: Kind,
    server: SocketAddr,
    key: PublicKey,
    rate: f64,
    secs: Duration,
    conns: usize,
    seed: u64,
) -> io::Result<Outcome> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let first = if kind == Kind::OooFill { 66 } else { 67 };
    let started = Instant::now();
    let mut all = Vec::with_capacity(conns);
    for k in 0..conns {
        let ip = Ipv4Addr::new(
            127,
            first,
            u8::try_from(k / 250).unwrap_or(u8::MAX),
            u8::try_from(k % 250 + 1).unwrap_or(1),
        );
        all.push(Crafted::connect(ip, server, key, &mut rng)?);
    }
    let handshakes = started.elapsed();
    let payload = vec![0x5au8; SERVER_MSS];
    let mut buf = vec![0u8; RECV_BUF];
    let mut pacer = Pacer::new(rate);
    let start = Instant::now();
    let deadline = start + secs;
    let (mut turn, mut last_sent, mut full_at) = (0usize, start, None);
    while Instant::now() < deadline {
        for _ in 0..pacer.due() {
            let live = all.iter().filter(|c| kind != Kind::OooFill || !c.window_full()).count();
            if live == 0 {
                full_at.get_or_insert(start.elapsed());
                break;
            }
            // The next connection in turn that still has something to send.
            loop {
                turn = (turn + 1) % all.len();
                if kind != Kind::OooFill || !all[turn].window_full() {
                    break;
                }
            }
            all[turn].attack(kind, &payload)?;
            last_sent = Instant::now();
        }
        for c in all.iter_mut() {
            c.read_answers(&mut buf);
        }
        thread::sleep(Duration::from_micros(200));
    }
    let drain_until = Instant::now() + DRAIN;
    while Instant::now() < drain_until {
        for c in all.iter_mut() {
            c.read_answers(&mut buf);
        }
        thread::sleep(Duration::from_millis(10));
    }
    let mut notes = vec![format!(
        "{conns} crafted IK connections, handshakes and confirmations in {:.2} s; server windows {} packets",
        handshakes.as_secs_f64(),
        all.first().map_or(0, |c| c.window)
    )];
    let sent: u64 = all.iter().map(|c| u64::from(c.sent)).sum();
    match kind {
        Kind::OooFill => {
            let bytes = sent * SERVER_MSS as u64;
            notes.push(format!(
                "{sent} DATA segments above the gap, {:.1} MB of payload waiting out of order ({:.1} MB per connection); {}",
                bytes as f64 / 1e6,
                bytes as f64 / 1e6 / conns.max(1) as f64,
                full_at.map_or("windows not yet full at the end".to_owned(), |t| format!(
                    "every window full after {:.1} s (then the attack sends nothing)",
                    t.as_secs_f64()
                ))
            ));
        }
        Kind::OptimisticAck => {
            notes.push(format!("{sent} ACKs of sequence numbers the server never sent"));
        }
    }
    let mut answers = Answers::default();
    let mut codes = Vec::new();
    for c in &all {
        answers.acks += c.answers.acks;
        answers.data += c.answers.data;
        answers.closes += c.answers.closes;
        answers.undecryptable += c.answers.undecryptable;
        codes.extend(c.answers.close_code);
    }
    notes.push(format!(
        "server answered (decrypted): {} ACKs, {} DATA, {} CLOSEs (first codes: {:?}) on {} of {conns} connections, {} undecryptable",
        answers.acks,
        answers.data,
        answers.closes,
        codes,
        codes.len(),
        answers.undecryptable
    ));
    let outcome = Outcome {
        elapsed: last_sent - start,
        sources: all.into_iter().map(|c| (c.source.counts, true)).collect(),
        notes: Vec::new(),
    };
    notes.push(outcome.received_note());
    Ok(Outcome { notes, ..outcome })
}
