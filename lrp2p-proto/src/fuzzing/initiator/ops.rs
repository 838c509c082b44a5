//! The program of [`initiator_handshake`](super::initiator_handshake): a [`Setup`] and the
//! [`Op`]s that follow it, decoded by the `arbitrary` crate (derived; past the end of the input
//! every field reads as zero, and variable-length fields read their length in front).

use arbitrary::{Arbitrary, Unstructured};

/// Sizes (early data, writes, the responder's data) are counts of this many bytes.
pub(super) const SIZE_UNIT: usize = 24;
/// At most this many bytes in a [`Bytes`].
const MAX_BYTES: u16 = 1500;

/// A whole run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Program {
    pub(super) setup: Setup,
    /// Back to back until the input ends; only the first [`MAX_OPS`](super::MAX_OPS) run.
    pub(super) ops: Vec<Op>,
}

impl<'a> Arbitrary<'a> for Program {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let setup = Setup::arbitrary(u)?;
        let mut ops = Vec::new();
        while !u.is_empty() {
            ops.push(Op::arbitrary(u)?);
        }
        Ok(Program { setup, ops })
    }

    fn arbitrary_take_rest(mut u: Unstructured<'a>) -> arbitrary::Result<Self> {
        Program::arbitrary(&mut u)
    }
}

impl Program {
    /// Decodes `data`; never fails.
    pub(super) fn decode(data: &[u8]) -> Program {
        Program::arbitrary_take_rest(Unstructured::new(data)).unwrap_or_default()
    }
}

/// How the run starts.
#[derive(Arbitrary, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Setup {
    /// IK (the initiator knows the responder's key) or XX.
    pub(super) with_key: bool,
    /// The initiator writes this many [`SIZE_UNIT`]s before its first datagram (0-RTT in IK).
    pub(super) early: u8,
    /// The responder demands cookies of every initiation.
    pub(super) under_load: bool,
    /// 1200-byte datagrams (else 1400).
    pub(super) small: bool,
    /// The responder refuses early data.
    pub(super) refuse_early: bool,
    /// On accepting, the responder writes this many [`SIZE_UNIT`]s (0.5-RTT in IK) and shuts
    /// down.
    pub(super) reply: u8,
}

/// Byte flips: one to four `(position, mask)` pairs; positions are reduced modulo the length.
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

/// Bytes with their length in front (at most 1500).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Bytes(pub(super) Vec<u8>);

impl<'a> Arbitrary<'a> for Bytes {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let len = usize::from(u16::arbitrary(u)? % (MAX_BYTES + 1));
        Ok(Bytes(u.bytes(len.min(u.len()))?.to_vec()))
    }
}

/// What becomes of a genuine datagram waiting on the wire.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pass {
    Deliver,
    Drop,
    /// Deliver a copy; the original stays on the wire.
    Duplicate,
    /// Move it behind the others.
    Reorder,
}

/// How a genuine datagram of the responder is changed.
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq)]
pub(super) enum Mutation {
    Flip(Flips),
    /// Cut to `len % (its length + 1)` bytes.
    Truncate(u16),
    /// Append bytes.
    Extend(Bytes),
    /// Overwrite from `at` (modulo the length) on, growing it if needed.
    Overwrite {
        at: u16,
        bytes: Bytes,
    },
    /// The first bytes of another captured datagram (`other`), then the rest of this one.
    Splice {
        other: u8,
        at: u16,
    },
}

/// A datagram made for the initiator: the right type and the initiator's connection id (from
/// its initiation), the rest the fuzzer's.
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq)]
pub(super) enum Forgery {
    /// `echo`: the first 16 bytes of the initiation's ephemeral key (else zeros).
    CookieReply { echo: bool, cookie: [u8; 16] },
    /// An IK response with this body (after the 9-byte header).
    IkResponse(Bytes),
    /// An XX response: this body, cut or zero-padded to the exact 117 bytes.
    XxResponse(Bytes),
    /// A transport packet of key phase 0 or 1 with this body.
    Transport { phase: bool, body: Bytes },
}

/// One operation.
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq)]
pub(super) enum Op {
    /// The `index`-th datagram waiting from the initiator to the responder.
    ToResponder { index: u8, pass: Pass },
    /// The `index`-th datagram waiting from the responder to the initiator, from its address.
    FromResponder { index: u8, pass: Pass },
    /// One of the responder's datagrams captured so far (`index`), possibly mutated, from one
    /// of the sources: `source % 4` is the responder's address (0) or an attacker (1–3).
    Replay { index: u8, source: u8, mutation: Option<Mutation> },
    /// A forged datagram from one of the sources.
    Forge { source: u8, forgery: Forgery },
    /// Arbitrary bytes from one of the sources.
    Inject { source: u8, bytes: Bytes },
    /// Time passes (`ms` × 8 ms; virtual time in all stays within a budget).
    Advance { ms: u8 },
    /// Time moves to the next deadline, if within the budget.
    ToDeadline,
    /// The initiator's application writes this many [`SIZE_UNIT`]s.
    Write(u8),
}
