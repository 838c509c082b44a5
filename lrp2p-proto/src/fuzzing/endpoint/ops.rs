//! The program of [`endpoint_ops`](super::endpoint_ops): a [`Program`] of [`Op`]s, decoded from
//! the fuzzer's bytes by the `arbitrary` crate (derived, structure-aware: every byte string is a
//! valid program, each operation takes a few bytes, and the fuzzer's mutations insert, remove
//! and splice whole operations). Sizes are stored small (`u8` counts of 24-byte units, a
//! [`Unit`] and a count) so that no field can ask for more than the harness bounds allow.
//!
//! Decoding never fails: past the end of the input every field reads as zero. Variable-length
//! fields read their length *in front* of their bytes (not from the end of the input, as
//! `arbitrary`'s `Vec` does) so that a program's encoding is the concatenation of its
//! operations' encodings: `encode.rs` writes it back (for the seeds and the tests).

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};

/// Inject at most this many bytes.
pub(super) const MAX_INJECT: u16 = 1600;
/// Write, read and 0-RTT sizes are counts of this many bytes.
pub(super) const SIZE_UNIT: usize = 24;

/// A whole run: the settings of both endpoints, then the operations, back to back until the
/// input ends. (Not `arbitrary`'s `Vec`, which reads a continuation flag before each element:
/// random bytes would end a program after two operations on average.)
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Program {
    /// Bit 0: refuse early data; bit 1: 1200-byte datagrams (else 1400); bit 2: no pacing; bit
    /// 3: no keep-alives (see `config`).
    pub(super) flags: u8,
    /// Only the first [`MAX_OPS`](super::MAX_OPS) run.
    pub(super) ops: Vec<Op>,
}

impl<'a> Arbitrary<'a> for Program {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let flags = u8::arbitrary(u)?;
        let mut ops = Vec::new();
        while !u.is_empty() {
            ops.push(Op::arbitrary(u)?);
        }
        Ok(Program { flags, ops })
    }

    fn arbitrary_take_rest(mut u: Unstructured<'a>) -> arbitrary::Result<Self> {
        Program::arbitrary(&mut u)
    }
}

impl Program {
    /// Decodes `data`; never fails (a truncated tail decodes as zeros).
    pub(super) fn decode(data: &[u8]) -> Program {
        Program::arbitrary_take_rest(Unstructured::new(data)).unwrap_or_default()
    }
}

/// Which endpoint.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Who {
    Victim,
    Peer,
}

/// An application call on one of a side's connections (chosen by index among every handle the
/// side ever held, stale ones included).
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Call {
    Accept,
    Refuse,
    /// Write this many [`SIZE_UNIT`]s of the connection's stream pattern.
    Write(u8),
    /// Read into a buffer of this many [`SIZE_UNIT`]s (possibly empty).
    Read(u8),
    Shutdown,
    /// Close with this code and this many bytes of reason.
    Close {
        code: u16,
        reason: u8,
    },
    /// The application drops its handle (`release`): the connection finishes on its own.
    Release,
    /// `start`: the handshake of a deferred connection begins (a no-op on others).
    Start,
}

/// Byte flips: `(position, mask)` pairs; positions are reduced modulo the datagram length when
/// applied, masks are never zero. One to four pairs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Flips(pub(super) Vec<(u16, u8)>);

impl<'a> Arbitrary<'a> for Flips {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let n = u8::arbitrary(u)? % 4 + 1;
        (0..n)
            .map(|_| Ok((u16::arbitrary(u)?, u8::arbitrary(u)?.max(1))))
            .collect::<Result<_, _>>()
            .map(Flips)
    }
}

/// What becomes of a datagram waiting on the wire.
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq)]
pub(super) enum Fate {
    Deliver,
    Drop,
    /// Deliver a copy; the original stays on the wire.
    Duplicate,
    /// Move it behind every other datagram waiting.
    Reorder,
    /// Flip bytes, then deliver.
    Mutate(Flips),
    /// Deliver it from the sender's other address (a NAT rebinding).
    Roam,
}

/// A unit of virtual time.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Unit {
    Micro,
    Milli,
    /// 16 ms.
    Frame,
    Second,
    Minute,
}

impl Unit {
    pub(super) fn duration(self) -> Duration {
        match self {
            Unit::Micro => Duration::from_micros(1),
            Unit::Milli => Duration::from_millis(1),
            Unit::Frame => Duration::from_millis(16),
            Unit::Second => Duration::from_secs(1),
            Unit::Minute => Duration::from_secs(60),
        }
    }
}

/// How far virtual time moves.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// `count` × `unit`.
    By { unit: Unit, count: u8 },
    /// To the earlier of the two endpoints' deadlines.
    ToDeadline,
}

/// Arbitrary bytes of a datagram: a length in front (at most [`MAX_INJECT`]), then as many
/// bytes as remain up to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Bytes(pub(super) Vec<u8>);

impl<'a> Arbitrary<'a> for Bytes {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let len = usize::from(u16::arbitrary(u)? % (MAX_INJECT + 1));
        Ok(Bytes(u.bytes(len.min(u.len()))?.to_vec()))
    }
}

/// One operation.
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq)]
pub(super) enum Op {
    /// (a) Arbitrary bytes to the victim from one of the sources: `source % 4` is an attacker
    /// (0–2) or the peer (3).
    Inject { source: u8, bytes: Bytes },
    /// (a) A datagram the peer sent earlier (`index` among the last ones), possibly mutated,
    /// replayed to the victim from one of the sources: `source % 5` is an attacker (0–2), the
    /// peer's address (3) or its other address (4).
    Replay { source: u8, index: u8, mutate: bool, flips: Flips },
    /// (b) The peer connects to the victim, with or without its key, and writes `early`
    /// [`SIZE_UNIT`]s at once (0-RTT).
    PeerConnect { with_key: bool, early: u8 },
    /// The victim connects to the peer (which accepts); `deferred`: `connect_deferred`, the
    /// handshake waits for a write, a read or [`Call::Start`].
    VictimConnect { with_key: bool, deferred: bool },
    /// (b), (c) An application call.
    App { who: Who, index: u8, call: Call },
    /// (d) A datagram waiting on the wire from `sender`.
    Carry { sender: Who, index: u8, fate: Fate },
    /// (e) Time passes; both endpoints handle their timeouts.
    Advance(Step),
    /// (f) The victim's application drains its events: `Some(true)` accepts every incoming
    /// connection, `Some(false)` refuses it, `None` only notes the handles.
    Events(Option<bool>),
    /// A perfect 5 ms link for `rounds % 32 + 1` rounds, both applications reading everything
    /// (reaches deep states quickly); `accept`: the victim accepts incoming connections.
    Run { rounds: u8, accept: bool },
}
