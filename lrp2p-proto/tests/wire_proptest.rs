//! Property tests for the wire codec (`lrp2p_proto::wire`).
//!
//! For every `Repr`: emit → parse is the identity, and `buffer_len` is what `emit` writes.
//! For every parser: arbitrary bytes never panic, and whatever parses re-emits to bytes that
//! parse to the same value (parse → emit → parse is stable). Inputs are arbitrary bytes and
//! mutated (bit-flipped, truncated, extended) valid encodings, so the checks reach deep.
//!
//! ```text
//! strategy ──► Repr ──emit──► bytes ──parse──► Repr'      (Repr' == Repr)
//! bytes ──parse──► Ok(Repr) ──emit──► bytes' ──parse──► Ok(Repr)
//! ```

#![allow(clippy::unwrap_used)]

use lrp2p_proto::wire::*;
use proptest::prelude::*;

// ---------- strategies ----------

fn seq() -> impl Strategy<Value = Seq> {
    prop_oneof![any::<u32>(), u32::MAX - 40..=u32::MAX, 0u32..40].prop_map(Seq)
}

fn cid() -> impl Strategy<Value = ConnectionId> {
    (1..=u64::MAX).prop_map(ConnectionId)
}

fn sack(cumulative: Seq) -> impl Strategy<Value = SackRanges> {
    let step = (prop_oneof![0u32..4, 0u32..1 << 25], prop_oneof![0u32..4, 0u32..1 << 25]);
    prop::collection::vec(step, 0..=MAX_SACK_RANGES).prop_map(move |steps| {
        let mut ranges = SackRanges::EMPTY;
        let mut next = 1u32; // offset above the cumulative ack
        for (gap, len) in steps {
            let start = next + gap;
            let end = start + len;
            ranges.push(cumulative, cumulative.add(start), cumulative.add(end)).unwrap();
            next = end + 2;
        }
        ranges
    })
}

fn dsack() -> impl Strategy<Value = DsackRanges> {
    prop::collection::vec((any::<u32>(), 0u32..1 << 15), 0..=MAX_DSACK_RANGES).prop_map(|ranges| {
        let ranges: Vec<_> = ranges.into_iter().map(|(s, len)| (Seq(s), Seq(s).add(len))).collect();
        DsackRanges::new(&ranges).unwrap()
    })
}

fn echo() -> impl Strategy<Value = Option<AckEcho>> {
    prop::option::of((any::<u64>(), any::<u64>()).prop_map(|(top, bits)| {
        // A valid echo: bit 0 set when top > 0, no bit below counter 0.
        let top = top.max(1);
        let bits = if top < 64 { bits & ((1u64 << top) - 1) } else { bits } | 1;
        AckEcho::new(top, bits).unwrap()
    }))
}

fn ack() -> impl Strategy<Value = AckRepr> {
    (seq(), 0..=MAX_WINDOW, any::<bool>(), any::<Option<u32>>(), dsack(), echo()).prop_flat_map(
        |(cumulative, window, ping, delay, dsack, echo)| {
            sack(cumulative).prop_map(move |mut sack| {
                // PROTOCOL.md §7.7's budget: SACK ranges fit beside ACK_DELAY, DSACK, ACK_ECHO.
                sack.truncate(AckRepr::sack_room(delay.is_some(), &dsack, echo.is_some()));
                AckRepr { cumulative, window, ping, ack_delay_us: delay, sack, dsack, echo }
            })
        },
    )
}

/// A handshake payload's ACK: PROTOCOL.md §5.6 allows no SACK or DSACK ranges on it.
fn handshake_ack() -> impl Strategy<Value = AckRepr> {
    ack().prop_map(|a| AckRepr { sack: SackRanges::default(), dsack: DsackRanges::default(), ..a })
}

/// An owned DATA or CLOSE segment, so strategies can hand out borrowed `Repr`s.
#[derive(Clone, Debug)]
enum TailSpec {
    Data { seq: Seq, fin: bool, rtx: bool, ping: bool, payload: Vec<u8> },
    Close { seq: Seq, code: u16, reason: Vec<u8> },
}

impl TailSpec {
    fn repr(&self) -> Tail<'_> {
        match self {
            TailSpec::Data { seq, fin, rtx, ping, payload } => Tail::Data(DataRepr {
                seq: *seq,
                fin: *fin,
                rtx: *rtx,
                ping: *ping,
                app_protocol: None,
                payload,
            }),
            TailSpec::Close { seq, code, reason } => {
                Tail::Close(CloseRepr { seq: *seq, code: *code, reason })
            }
        }
    }
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..48)
}

fn data_spec(seq: impl Strategy<Value = Seq>) -> impl Strategy<Value = TailSpec> {
    (seq, any::<[bool; 3]>(), payload()).prop_map(|(seq, [fin, rtx, ping], payload)| {
        // PROTOCOL §5: >= 1 payload byte or FIN.
        let fin = fin || payload.is_empty();
        TailSpec::Data { seq, fin, rtx, ping, payload }
    })
}

fn close_spec() -> impl Strategy<Value = TailSpec> {
    (seq(), any::<u16>(), payload()).prop_map(|(seq, code, reason)| TailSpec::Close { seq, code, reason })
}

fn tail_spec() -> impl Strategy<Value = TailSpec> {
    prop_oneof![data_spec(seq()), close_spec()]
}

fn segments_of<'a>(ack: Option<AckRepr>, tail: &'a Option<TailSpec>) -> Segments<'a> {
    Segments { ack, tail: tail.as_ref().map(TailSpec::repr) }
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

fn noise(min: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), min..min + 64)
}

/// Flips, truncates or extends a valid encoding.
fn mutate(mut bytes: Vec<u8>, flips: &[(usize, u8)], cut: Option<usize>, extra: &[u8]) -> Vec<u8> {
    for &(at, x) in flips {
        if !bytes.is_empty() {
            let i = at % bytes.len();
            bytes[i] ^= x;
        }
    }
    if let Some(cut) = cut {
        bytes.truncate(cut % (bytes.len() + 1));
    }
    bytes.extend_from_slice(extra);
    bytes
}

fn mutation() -> impl Strategy<Value = (Vec<(usize, u8)>, Option<usize>, Vec<u8>)> {
    (
        prop::collection::vec((any::<usize>(), 1u8..=255), 0..3),
        prop::option::weighted(0.3, any::<usize>()),
        prop::collection::vec(any::<u8>(), 0..3),
    )
}

fn emit_vec(len: usize, emit: impl FnOnce(&mut [u8]) -> Result<usize, DecodeError>) -> Vec<u8> {
    let mut buf = vec![0xa5u8; len + 8];
    let n = emit(&mut buf).unwrap();
    assert_eq!(n, len, "emit wrote a different length than buffer_len");
    buf.truncate(n);
    buf
}

// ---------- parse → emit → parse, for every parser ----------

macro_rules! stable {
    ($parse:path, $bytes:expr) => {{
        if let Ok(first) = $parse($bytes) {
            let out = emit_vec(first.buffer_len(), |b| first.emit(b));
            assert_eq!($parse(&out[..]), Ok(first), "re-parse differs");
        }
    }};
}

/// Runs every parser on `input`: none may panic, and each success must round-trip.
fn check_all_parsers(input: &[u8]) {
    stable!(Datagram::parse, input);
    stable!(IkInitiationRepr::parse, input);
    stable!(IkResponseRepr::parse, input);
    stable!(XxInitiationRepr::parse, input);
    stable!(XxResponseRepr::parse, input);
    stable!(XxFinishRepr::parse, input);
    stable!(CookieReplyRepr::parse, input);
    stable!(Segments::parse, input);
    stable!(Segments::parse_allow_empty, input);
    stable!(IkInitPayload::parse, input);
    stable!(IkResponsePayload::parse, input);
    stable!(XxResponsePayload::parse, input);
    stable!(XxFinishPayload::parse, input);
    let _ = TransportHeader::parse(input);
    let _ = cookie_mac_covered(input);
    let _ = HandshakePacket::new_checked(input).map(|p| (p.noise(), p.cookie_mac()));
    if let Ok(seg) = Segment::new_checked(input) {
        let _ = (seg.extensions().count(), seg.payload(), seg.rest(), seg.window());
        let _ = (AckRepr::parse(&seg), DataRepr::parse(&seg), CloseRepr::parse(&seg));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    // ---------- emit → parse identity ----------

    #[test]
    fn ack_round_trip(a in ack()) {
        let b = emit_vec(a.buffer_len(), |buf| a.emit(buf));
        prop_assert_eq!(AckRepr::parse(&Segment::new_checked(&b[..]).unwrap()), Ok(a));
    }

    #[test]
    fn data_and_close_round_trip(t in tail_spec()) {
        let t = t.repr();
        let b = emit_vec(t.buffer_len(), |buf| t.emit(buf));
        prop_assert_eq!(Tail::parse(&Segment::new_checked(&b[..]).unwrap()), Ok(t));
        match t {
            Tail::Data(d) => prop_assert_eq!(DataRepr::parse(&Segment::new_checked(&b[..]).unwrap()), Ok(d)),
            Tail::Close(c) => prop_assert_eq!(CloseRepr::parse(&Segment::new_checked(&b[..]).unwrap()), Ok(c)),
        }
    }

    #[test]
    fn segments_round_trip(a in prop::option::of(ack()), t in prop::option::of(tail_spec())) {
        let s = segments_of(a, &t);
        let b = emit_vec(s.buffer_len(), |buf| s.emit(buf));
        prop_assert_eq!(Segments::parse_allow_empty(&b), Ok(s));
        if s.is_empty() {
            prop_assert!(Segments::parse(&b).is_err());
        } else {
            prop_assert_eq!(Segments::parse(&b), Ok(s));
        }
    }

    #[test]
    fn ik_initiation_round_trip(sender_id in cid(), n in noise(108), mac in any::<[u8; 16]>()) {
        let r = IkInitiationRepr { sender_id, noise: &n, cookie_mac: mac };
        let b = emit_vec(r.buffer_len(), |buf| r.emit(buf));
        prop_assert_eq!(IkInitiationRepr::parse(&b), Ok(r));
        prop_assert_eq!(Datagram::parse(&b), Ok(Datagram::IkInitiation(r)));
        prop_assert_eq!(cookie_mac_covered(&b), Ok(&b[..b.len() - 16]));
    }

    #[test]
    fn ik_response_round_trip(receiver_id in cid(), n in noise(69)) {
        let r = IkResponseRepr { receiver_id, noise: &n };
        let b = emit_vec(r.buffer_len(), |buf| r.emit(buf));
        prop_assert_eq!(IkResponseRepr::parse(&b), Ok(r));
        prop_assert_eq!(Datagram::parse(&b), Ok(Datagram::IkResponse(r)));
    }

    #[test]
    fn xx_initiation_round_trip(sender_id in cid(), e in any::<[u8; 32]>(), mac in any::<[u8; 16]>()) {
        let r = XxInitiationRepr { sender_id, noise: &e, cookie_mac: mac };
        let b = emit_vec(r.buffer_len(), |buf| r.emit(buf));
        prop_assert_eq!(XxInitiationRepr::parse(&b), Ok(r));
        prop_assert_eq!(Datagram::parse(&b), Ok(Datagram::XxInitiation(r)));
    }

    #[test]
    fn xx_response_round_trip(receiver_id in cid(), n in noise(108)) {
        let n: &[u8; XX_RESPONSE_NOISE_LEN] = n[..XX_RESPONSE_NOISE_LEN].try_into().unwrap();
        let r = XxResponseRepr { receiver_id, noise: n };
        let b = emit_vec(r.buffer_len(), |buf| r.emit(buf));
        prop_assert_eq!(XxResponseRepr::parse(&b), Ok(r));
        prop_assert_eq!(Datagram::parse(&b), Ok(Datagram::XxResponse(r)));
    }

    #[test]
    fn xx_finish_round_trip(receiver_id in cid(), n in noise(68)) {
        let r = XxFinishRepr { receiver_id, noise: &n };
        let b = emit_vec(r.buffer_len(), |buf| r.emit(buf));
        prop_assert_eq!(XxFinishRepr::parse(&b), Ok(r));
        prop_assert_eq!(Datagram::parse(&b), Ok(Datagram::XxFinish(r)));
    }

    #[test]
    fn cookie_reply_round_trip(receiver_id in cid(), echo in any::<[u8; 16]>(), cookie in any::<[u8; 16]>()) {
        let r = CookieReplyRepr { receiver_id, echo, cookie };
        let b = emit_vec(r.buffer_len(), |buf| r.emit(buf));
        prop_assert_eq!(CookieReplyRepr::parse(&b), Ok(r));
        prop_assert_eq!(Datagram::parse(&b), Ok(Datagram::CookieReply(r)));
    }

    #[test]
    fn transport_round_trip(key_phase in any::<bool>(), receiver_id in cid(), counter in any::<u64>(), ct in noise(17)) {
        let d = Datagram::Transport { header: TransportHeader { key_phase, receiver_id, counter }, ciphertext: &ct };
        let b = emit_vec(d.buffer_len(), |buf| d.emit(buf));
        prop_assert_eq!(Datagram::parse(&b), Ok(d));
    }

    #[test]
    fn ik_init_payload_round_trip(ts in any::<u64>(), isn in seq(), t in prop::option::of(data_spec(Just(Seq(0))))) {
        // The early data's seq is the isn.
        let t = t.map(|t| match t { TailSpec::Data { fin, rtx, ping, payload, .. } => TailSpec::Data { seq: isn, fin, rtx, ping, payload }, c => c });
        let p = IkInitPayload { timestamp_ns: ts, isn, segments: segments_of(None, &t) };
        let b = emit_vec(p.buffer_len(), |buf| p.emit(buf));
        prop_assert_eq!(IkInitPayload::parse(&b), Ok(p));
    }

    #[test]
    fn ik_response_payload_round_trip(responder_id in cid(), isn in seq(), a in handshake_ack(), t in prop::option::of(prop_oneof![data_spec(Just(Seq(0))), close_spec()])) {
        let t = t.map(|t| match t { TailSpec::Data { fin, rtx, ping, payload, .. } => TailSpec::Data { seq: isn, fin, rtx, ping, payload }, c => c });
        let p = IkResponsePayload { responder_id, isn, segments: segments_of(Some(a), &t) };
        let b = emit_vec(p.buffer_len(), |buf| p.emit(buf));
        prop_assert_eq!(IkResponsePayload::parse(&b), Ok(p));
    }

    #[test]
    fn xx_response_payload_round_trip(responder_id in cid(), isn in seq()) {
        let p = XxResponsePayload { responder_id, isn };
        let b = emit_vec(p.buffer_len(), |buf| p.emit(buf));
        prop_assert_eq!(XxResponsePayload::parse(&b), Ok(p));
    }

    #[test]
    fn xx_finish_payload_round_trip(isn in seq(), a in prop::option::of(handshake_ack()), t in prop::option::of(data_spec(Just(Seq(0))))) {
        let t = t.map(|t| match t { TailSpec::Data { fin, rtx, ping, payload, .. } => TailSpec::Data { seq: isn, fin, rtx, ping, payload }, c => c });
        let p = XxFinishPayload { isn, segments: segments_of(a, &t) };
        let b = emit_vec(p.buffer_len(), |buf| p.emit(buf));
        prop_assert_eq!(XxFinishPayload::parse(&b), Ok(p));
    }

    // ---------- arbitrary input: no panic, and parse → emit → parse is stable ----------

    #[test]
    fn arbitrary_bytes_never_panic(input in bytes(300)) {
        check_all_parsers(&input);
    }

    #[test]
    fn typed_arbitrary_bytes_never_panic(first in 0x10u8..0x1a, zero_receiver in any::<bool>(), rest in bytes(300)) {
        // Start with a known type byte (and often receiver_id 0) so the deeper checks run.
        let mut input = vec![first];
        if zero_receiver { input.extend_from_slice(&[0; 8]); }
        input.extend_from_slice(&rest);
        check_all_parsers(&input);
    }

    #[test]
    fn mutated_segments_are_stable(a in prop::option::of(ack()), t in prop::option::of(tail_spec()), m in mutation()) {
        let s = segments_of(a, &t);
        let b = emit_vec(s.buffer_len(), |buf| s.emit(buf));
        check_all_parsers(&mutate(b, &m.0, m.1, &m.2));
    }

    #[test]
    fn mutated_payloads_are_stable(prefix in bytes(13), a in prop::option::of(ack()), t in prop::option::of(tail_spec()), m in mutation()) {
        let s = segments_of(a, &t);
        let mut b = prefix;
        b.extend(emit_vec(s.buffer_len(), |buf| s.emit(buf)));
        check_all_parsers(&mutate(b, &m.0, m.1, &m.2));
    }

    #[test]
    fn mutated_datagrams_are_stable(first in 0x11u8..=0x19, rid in any::<u64>(), sid in any::<u64>(), body in bytes(200), m in mutation()) {
        let mut b = vec![first];
        b.extend_from_slice(&rid.to_be_bytes());
        b.extend_from_slice(&sid.to_be_bytes());
        b.extend_from_slice(&body);
        for len in [XX_INITIATION_LEN, XX_RESPONSE_LEN, COOKIE_REPLY_LEN] {
            check_all_parsers(&b[..len.min(b.len())]);
        }
        check_all_parsers(&mutate(b, &m.0, m.1, &m.2));
    }
}
