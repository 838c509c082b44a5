//! The handshake payload plaintexts: what each Noise message encrypts (PROTOCOL §4).
//!
//! ```text
//! IK msg 1:  | timestamp_ns u64 | isn u32 | [DATA seq=isn (FIN allowed)]                 |
//! IK msg 2:  | responder_id u64 | isn u32 | ACK (required) | [DATA seq=isn | CLOSE]   |
//! XX msg 1:  (empty, unencrypted: nothing to parse)
//! XX msg 2:  | responder_id u64 | isn u32 |                      (exactly 12 bytes)
//! XX msg 3:  | isn u32 | [ACK] | [DATA seq=isn]                                        |
//! ```
//!
//! Segments follow `segments.rs` (ACK first, DATA or CLOSE last) but zero segments are
//! allowed. The sender's first DATA segment always has `seq = isn`, so a handshake payload's
//! DATA segment must too. Anything else PROTOCOL.md §5.6 forbids is `BadPayloadSegments`; a
//! handshake ACK with SACK or DSACK ranges is `BadHandshakeAck`. What the ACK's cumulative ack
//! must be depends on the receiver's own isn (and, for IK, on whether it sent early data):
//! [`IkResponsePayload::check_ack`] and [`XxFinishPayload::check_ack`], which the receiver
//! runs before it acts on anything in the payload.

use super::segments::{Segments, Tail};
use super::{ConnectionId, DecodeError, Seq, out, take};

/// Length of an initial sequence number on the wire.
pub const ISN_LEN: usize = 4;
/// Smallest IK message 1 payload: `timestamp u64 | isn u32`.
pub const IK_INIT_PAYLOAD_MIN_LEN: usize = 8 + ISN_LEN;
/// Length of the responder's id and isn that open both response payloads.
pub const RESPONSE_PAYLOAD_HEAD_LEN: usize = 8 + ISN_LEN;

/// Reads the responder's connection id that opens a response payload (never 0).
fn take_responder_id(plaintext: &[u8]) -> Result<(ConnectionId, &[u8]), DecodeError> {
    let (id, rest) = take::<8>(plaintext)?;
    let id = ConnectionId::from_bytes(*id);
    if id == ConnectionId::NONE {
        return Err(DecodeError::BadConnectionId);
    }
    Ok((id, rest))
}

/// Which tails a payload admits.
#[derive(Clone, Copy)]
struct Allowed {
    /// `Some(true)`: ACK required; `Some(false)`: forbidden; `None`: optional.
    ack: Option<bool>,
    /// A CLOSE tail is allowed (IK msg 2 refusal).
    close: bool,
}

/// Checks `segments` against what a handshake payload admits (PROTOCOL.md §5.6).
fn check(segments: &Segments<'_>, isn: Seq, allowed: Allowed) -> Result<(), DecodeError> {
    let ack_ok = allowed.ack.is_none_or(|required| segments.ack.is_some() == required);
    let tail_ok = match &segments.tail {
        None => true,
        // PROTOCOL.md §5.6: the sender's first DATA segment has seq = isn.
        Some(Tail::Data(d)) => d.seq == isn,
        Some(Tail::Close(_)) => allowed.close,
    };
    if !(ack_ok && tail_ok) {
        return Err(DecodeError::BadPayloadSegments);
    }
    // PROTOCOL.md §5.6: handshake ACK segments carry no SACK (nor DSACK) ranges: nothing can
    // have been received above the cumulative ack, or twice, before the handshake ends.
    match &segments.ack {
        Some(ack) if !ack.sack.as_slice().is_empty() || !ack.dsack.as_slice().is_empty() => {
            Err(DecodeError::BadHandshakeAck)
        }
        _ => Ok(()),
    }
}

/// PROTOCOL.md §5.6: a handshake ACK's cumulative ack, against the values its receiver allows.
fn check_cumulative(segments: &Segments<'_>, allowed: &[Seq]) -> Result<(), DecodeError> {
    match &segments.ack {
        Some(ack) if !allowed.contains(&ack.cumulative) => Err(DecodeError::BadHandshakeAck),
        _ => Ok(()),
    }
}

/// Parses `isn u32 | segments` and checks the segments.
fn parse_isn_segments(plaintext: &[u8], allowed: Allowed) -> Result<(Seq, Segments<'_>), DecodeError> {
    let (isn, rest) = take::<ISN_LEN>(plaintext)?;
    let isn = Seq(u32::from_be_bytes(*isn));
    let segments = Segments::parse_allow_empty(rest)?;
    check(&segments, isn, allowed)?;
    Ok((isn, segments))
}

/// Writes `prefix | isn u32 | segments` after checking the segments.
fn emit_isn_segments(
    buf: &mut [u8],
    prefix: &[u8],
    isn: Seq,
    segments: &Segments<'_>,
    allowed: Allowed,
) -> Result<usize, DecodeError> {
    check(segments, isn, allowed)?;
    let head = prefix.len() + ISN_LEN;
    let len = head.saturating_add(segments.buffer_len());
    let buf = out(buf, len)?;
    buf[..prefix.len()].copy_from_slice(prefix);
    buf[prefix.len()..head].copy_from_slice(&isn.0.to_be_bytes());
    let written = segments.emit(&mut buf[head..])?;
    Ok(head + written)
}

const IK_INIT: Allowed = Allowed { ack: Some(false), close: false };
const IK_RESPONSE: Allowed = Allowed { ack: Some(true), close: true };
const XX_FINISH: Allowed = Allowed { ack: None, close: false };

/// IK message 1 payload: wall-clock timestamp, isn, and optional 0-RTT data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IkInitPayload<'a> {
    /// Initiator's wall clock, nanoseconds since the Unix epoch (UTC); strictly increasing.
    pub timestamp_ns: u64,
    /// The initiator's initial sequence number.
    pub isn: Seq,
    /// At most one DATA segment with `seq = isn` (possibly FIN); no ACK, no CLOSE.
    pub segments: Segments<'a>,
}

impl<'a> IkInitPayload<'a> {
    /// Parses the plaintext of IK message 1.
    pub fn parse(plaintext: &'a [u8]) -> Result<Self, DecodeError> {
        let (ts, rest) = take::<8>(plaintext)?;
        let (isn, segments) = parse_isn_segments(rest, IK_INIT)?;
        Ok(IkInitPayload { timestamp_ns: u64::from_be_bytes(*ts), isn, segments })
    }

    /// Bytes [`IkInitPayload::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        IK_INIT_PAYLOAD_MIN_LEN.saturating_add(self.segments.buffer_len())
    }

    /// Writes the plaintext into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, DecodeError> {
        let ts = self.timestamp_ns.to_be_bytes();
        emit_isn_segments(buf, &ts, self.isn, &self.segments, IK_INIT)
    }
}

/// IK message 2 payload: isn, a required ACK, and optional 0.5-RTT data or a refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IkResponsePayload<'a> {
    /// The responder's connection id: where the initiator sends from now on. It travels
    /// encrypted so that nothing unauthenticated can redirect the connection.
    pub responder_id: ConnectionId,
    /// The responder's initial sequence number.
    pub isn: Seq,
    /// An ACK (cumulative = the early data's seq if accepted, else `peer_isn - 1`), then
    /// optionally DATA with `seq = isn` or a CLOSE (code REFUSED).
    pub segments: Segments<'a>,
}

impl<'a> IkResponsePayload<'a> {
    /// Parses the plaintext of IK message 2.
    pub fn parse(plaintext: &'a [u8]) -> Result<Self, DecodeError> {
        let (responder_id, rest) = take_responder_id(plaintext)?;
        let (isn, segments) = parse_isn_segments(rest, IK_RESPONSE)?;
        Ok(IkResponsePayload { responder_id, isn, segments })
    }

    /// PROTOCOL.md §5.6, checked by the initiator whose isn is `initiator_isn`: the ACK
    /// acknowledges the early data (cumulative ack `isn`) only if IK message 1 carried some
    /// (`early_data_sent`), and otherwise nothing (`isn - 1`). Anything else makes the
    /// response malformed: it is dropped, the handshake intact (§4.1).
    pub fn check_ack(&self, initiator_isn: Seq, early_data_sent: bool) -> Result<(), DecodeError> {
        let nothing = initiator_isn.prev();
        let allowed = if early_data_sent { &[nothing, initiator_isn][..] } else { &[nothing][..] };
        check_cumulative(&self.segments, allowed)
    }

    /// Bytes [`IkResponsePayload::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        RESPONSE_PAYLOAD_HEAD_LEN.saturating_add(self.segments.buffer_len())
    }

    /// Writes the plaintext into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, DecodeError> {
        if self.responder_id == ConnectionId::NONE {
            return Err(DecodeError::BadConnectionId);
        }
        emit_isn_segments(buf, &self.responder_id.to_bytes(), self.isn, &self.segments, IK_RESPONSE)
    }
}

/// XX message 2 payload: the responder's id and isn only (no data to a peer not yet
/// authenticated).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct XxResponsePayload {
    /// The responder's connection id (encrypted, so authenticated once the handshake is).
    pub responder_id: ConnectionId,
    /// The responder's initial sequence number.
    pub isn: Seq,
}

impl XxResponsePayload {
    /// Parses the plaintext of XX message 2: exactly 12 bytes.
    pub fn parse(plaintext: &[u8]) -> Result<Self, DecodeError> {
        let (responder_id, rest) = take_responder_id(plaintext)?;
        let (isn, rest) = take::<ISN_LEN>(rest)?;
        if !rest.is_empty() {
            return Err(DecodeError::TrailingBytes(rest.len()));
        }
        Ok(XxResponsePayload { responder_id, isn: Seq(u32::from_be_bytes(*isn)) })
    }

    /// Bytes [`XxResponsePayload::emit`] writes: always [`RESPONSE_PAYLOAD_HEAD_LEN`].
    pub const fn buffer_len(&self) -> usize {
        RESPONSE_PAYLOAD_HEAD_LEN
    }

    /// Writes the plaintext into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, DecodeError> {
        if self.responder_id == ConnectionId::NONE {
            return Err(DecodeError::BadConnectionId);
        }
        let buf = out(buf, RESPONSE_PAYLOAD_HEAD_LEN)?;
        buf[..8].copy_from_slice(&self.responder_id.to_bytes());
        buf[8..].copy_from_slice(&self.isn.0.to_be_bytes());
        Ok(RESPONSE_PAYLOAD_HEAD_LEN)
    }
}

/// XX message 3 payload: isn, optional ACK, optional first 1-RTT data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XxFinishPayload<'a> {
    /// The initiator's initial sequence number.
    pub isn: Seq,
    /// Optionally an ACK, then optionally DATA with `seq = isn`; no CLOSE.
    pub segments: Segments<'a>,
}

impl<'a> XxFinishPayload<'a> {
    /// Parses the plaintext of XX message 3.
    pub fn parse(plaintext: &'a [u8]) -> Result<Self, DecodeError> {
        let (isn, segments) = parse_isn_segments(plaintext, XX_FINISH)?;
        Ok(XxFinishPayload { isn, segments })
    }

    /// PROTOCOL.md §5.6, checked by the responder whose isn is `responder_isn`: an ACK
    /// acknowledges nothing (cumulative ack `isn - 1`): the responder sent no DATA yet.
    /// Anything else makes the finish malformed: it is dropped, the handshake intact (§4.1).
    pub fn check_ack(&self, responder_isn: Seq) -> Result<(), DecodeError> {
        check_cumulative(&self.segments, &[responder_isn.prev()])
    }

    /// Bytes [`XxFinishPayload::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        ISN_LEN.saturating_add(self.segments.buffer_len())
    }

    /// Writes the plaintext into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, DecodeError> {
        emit_isn_segments(buf, &[], self.isn, &self.segments, XX_FINISH)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wire::test_util::hex;
    use crate::wire::{AckRepr, CloseRepr, DataRepr, SackRanges, close_code};

    fn data(seq: u32, payload: &[u8]) -> Option<Tail<'_>> {
        Some(Tail::Data(DataRepr {
            seq: Seq(seq),
            fin: false,
            rtx: false,
            ping: false,
            app_protocol: None,
            payload,
        }))
    }

    fn ack(cumulative: u32) -> Option<AckRepr> {
        Some(AckRepr {
            cumulative: Seq(cumulative),
            window: 64,
            ping: false,
            sack: SackRanges::EMPTY,
            ack_delay_us: None,
            dsack: crate::wire::DsackRanges::EMPTY,
            echo: None,
        })
    }

    #[test]
    fn ik_init_bytes_and_rules() {
        let p = IkInitPayload {
            timestamp_ns: 0x0102_0304_0506_0708,
            isn: Seq(0x10),
            segments: Segments { ack: None, tail: data(0x10, b"x") },
        };
        let mut buf = [0xa5u8; 20];
        assert_eq!(p.emit(&mut buf), Ok(19));
        assert_eq!(hex(&buf), "01020304050607080000001006000000001078a5");
        assert_eq!(IkInitPayload::parse(&buf[..19]), Ok(p));
        let bare = IkInitPayload { segments: Segments::EMPTY, ..p };
        assert_eq!(bare.emit(&mut buf), Ok(12));
        assert_eq!(IkInitPayload::parse(&buf[..12]), Ok(bare));
        assert!(IkInitPayload::parse(&buf[..11]).is_err());
        for segments in [
            Segments { ack: ack(1), tail: None },
            Segments { ack: None, tail: data(0x11, b"x") },
            Segments {
                ack: None,
                tail: Some(Tail::Close(CloseRepr { seq: Seq(0x10), code: 0, reason: b"" })),
            },
        ] {
            let bad = IkInitPayload { segments, ..p };
            assert_eq!(bad.emit(&mut buf), Err(DecodeError::BadPayloadSegments));
        }
        // The same rule on parse: an ACK segment after the isn.
        let mut buf = [0xa5u8; 32];
        bare.emit(&mut buf).unwrap();
        let n = Segments { ack: ack(1), tail: None }.emit(&mut buf[12..]).unwrap();
        let err = IkInitPayload::parse(&buf[..12 + n]);
        assert_eq!(err, Err(DecodeError::BadPayloadSegments));
    }

    #[test]
    fn ik_response_requires_ack() {
        let refusal = CloseRepr { seq: Seq(7), code: close_code::REFUSED, reason: b"" };
        let mut buf = [0xa5u8; 64];
        for segments in [
            Segments { ack: ack(4), tail: None },
            Segments { ack: ack(4), tail: data(7, b"hi") },
            Segments { ack: ack(4), tail: Some(Tail::Close(refusal)) },
        ] {
            let p = IkResponsePayload { responder_id: ConnectionId(0x99), isn: Seq(7), segments };
            let n = p.emit(&mut buf).unwrap();
            assert_eq!(IkResponsePayload::parse(&buf[..n]), Ok(p));
        }
        let id = ConnectionId(0x99);
        let no_ack = IkResponsePayload {
            responder_id: id,
            isn: Seq(7),
            segments: Segments { ack: None, tail: data(7, b"hi") },
        };
        assert_eq!(no_ack.emit(&mut buf), Err(DecodeError::BadPayloadSegments));
        let bare = [0, 0, 0, 0, 0, 0, 0, 0x99, 0, 0, 0, 7];
        assert_eq!(IkResponsePayload::parse(&bare), Err(DecodeError::BadPayloadSegments));
        let p = IkResponsePayload {
            responder_id: id,
            isn: Seq(7),
            segments: Segments { ack: ack(4), tail: None },
        };
        let mut buf = [0xa5u8; 22];
        assert_eq!(p.emit(&mut buf), Ok(21));
        assert_eq!(hex(&buf), "000000000000009900000007090100000004000040a5");
        // The responder's id is never 0.
        let zero = IkResponsePayload { responder_id: ConnectionId::NONE, ..p };
        assert_eq!(zero.emit(&mut buf), Err(DecodeError::BadConnectionId));
        buf[..8].fill(0);
        assert_eq!(IkResponsePayload::parse(&buf[..21]), Err(DecodeError::BadConnectionId));
    }

    #[test]
    fn handshake_acks_carry_no_ranges_and_acknowledge_only_what_was_sent() {
        // PROTOCOL.md §5.6: no SACK (nor DSACK) on a handshake ACK.
        let mut with_sack = ack(4).unwrap();
        with_sack.sack = SackRanges::new(Seq(4), &[(Seq(6), Seq(6))]).unwrap();
        let mut with_dsack = ack(4).unwrap();
        with_dsack.dsack = crate::wire::DsackRanges::new(&[(Seq(3), Seq(3))]).unwrap();
        let mut buf = [0xa5u8; 64];
        for bad in [with_sack, with_dsack] {
            let segments = Segments { ack: Some(bad), tail: None };
            let p = IkResponsePayload { responder_id: ConnectionId(9), isn: Seq(7), segments };
            assert_eq!(p.emit(&mut buf), Err(DecodeError::BadHandshakeAck));
            let f = XxFinishPayload { isn: Seq(9), segments };
            assert_eq!(f.emit(&mut buf), Err(DecodeError::BadHandshakeAck));
            // The same bytes on parse.
            buf[..4].copy_from_slice(&9u32.to_be_bytes());
            let n = segments.emit(&mut buf[4..]).unwrap();
            assert_eq!(XxFinishPayload::parse(&buf[..4 + n]), Err(DecodeError::BadHandshakeAck));
        }
        // IK msg 2: cumulative isn_i - 1, or isn_i if msg 1 carried early data.
        let response = |cumulative| IkResponsePayload {
            responder_id: ConnectionId(9),
            isn: Seq(7),
            segments: Segments { ack: ack(cumulative), tail: None },
        };
        let isn_i = Seq(100);
        assert_eq!(response(99).check_ack(isn_i, false), Ok(()));
        assert_eq!(response(99).check_ack(isn_i, true), Ok(()));
        assert_eq!(response(100).check_ack(isn_i, true), Ok(()));
        assert_eq!(response(100).check_ack(isn_i, false), Err(DecodeError::BadHandshakeAck));
        assert_eq!(response(107).check_ack(isn_i, true), Err(DecodeError::BadHandshakeAck));
        assert_eq!(response(u32::MAX).check_ack(Seq(0), false), Ok(()), "isn_i - 1 wraps");
        // XX msg 3: cumulative isn_r - 1, or no ACK.
        let finish = |a| XxFinishPayload { isn: Seq(3), segments: Segments { ack: a, tail: None } };
        assert_eq!(finish(ack(6)).check_ack(Seq(7)), Ok(()));
        assert_eq!(finish(None).check_ack(Seq(7)), Ok(()));
        assert_eq!(finish(ack(7)).check_ack(Seq(7)), Err(DecodeError::BadHandshakeAck));
    }

    #[test]
    fn xx_payloads() {
        let mut buf = [0xa5u8; 32];
        let r = XxResponsePayload { responder_id: ConnectionId(0x0102), isn: Seq(0xdead_beef) };
        assert_eq!(r.emit(&mut buf), Ok(12));
        assert_eq!(hex(&buf[..13]), "0000000000000102deadbeefa5");
        assert_eq!(XxResponsePayload::parse(&buf[..12]), Ok(r));
        assert_eq!(XxResponsePayload::parse(&buf[..13]), Err(DecodeError::TrailingBytes(1)));
        assert!(XxResponsePayload::parse(&buf[..11]).is_err());

        for segments in [Segments::EMPTY, Segments { ack: ack(3), tail: data(9, b"z") }] {
            let f = XxFinishPayload { isn: Seq(9), segments };
            let n = f.emit(&mut buf).unwrap();
            assert_eq!(XxFinishPayload::parse(&buf[..n]), Ok(f));
        }
        let close = CloseRepr { seq: Seq(9), code: 0, reason: b"" };
        let f =
            XxFinishPayload { isn: Seq(9), segments: Segments { ack: None, tail: Some(Tail::Close(close)) } };
        assert_eq!(f.emit(&mut buf), Err(DecodeError::BadPayloadSegments));
    }
}
