//! The operations of [`endpoint_ops`](super::endpoint_ops) and their decoding from the fuzzer's
//! bytes: a hand-written reader, so that every byte string is a valid program and a small change
//! of the input is a small change of the program (which is what a coverage-guided fuzzer needs).

use std::time::Duration;

/// The fuzzer's bytes, read front to back. Past the end every read yields zero.
pub(super) struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Input(data)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn byte(&mut self) -> u8 {
        let Some((&first, rest)) = self.0.split_first() else { return 0 };
        self.0 = rest;
        first
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    fn bool(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    /// Up to `n` bytes (fewer at the end of the input).
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        taken
    }

    /// Byte flips: `(position, mask)` pairs; positions are reduced modulo the datagram length
    /// when applied, masks are never zero.
    fn flips(&mut self) -> Vec<(u16, u8)> {
        let n = self.byte() % 4 + 1;
        (0..n).map(|_| (self.u16(), self.byte().max(1))).collect()
    }
}

/// Which endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Who {
    Victim,
    Peer,
}

/// An application call on one of a side's connections (chosen by index among every handle the
/// side ever held, stale ones included).
#[derive(Debug)]
pub(super) enum Call {
    Accept,
    Refuse,
    /// Write this many bytes of the connection's stream pattern.
    Write(usize),
    /// Read into a buffer of this size (possibly empty).
    Read(usize),
    Shutdown,
    /// Close with this code and this many bytes of reason.
    Close(u16, usize),
}

/// What becomes of a datagram waiting on the wire.
#[derive(Debug)]
pub(super) enum Fate {
    Deliver,
    Drop,
    /// Deliver a copy; the original stays on the wire.
    Duplicate,
    /// Move it behind every other datagram waiting.
    Reorder,
    /// Flip bytes, then deliver.
    Mutate(Vec<(u16, u8)>),
    /// Deliver it from the sender's other address (a NAT rebinding).
    Roam,
}

/// How far virtual time moves.
#[derive(Debug)]
pub(super) enum Step {
    By(Duration),
    /// To the earlier of the two endpoints' deadlines.
    ToDeadline,
}

/// One operation.
#[derive(Debug)]
pub(super) enum Op {
    /// (a) Arbitrary bytes to the victim from one of the sources (attackers or the peer).
    Inject { source: u8, bytes: Vec<u8> },
    /// (a) A datagram the peer sent earlier, possibly mutated, replayed to the victim from one
    /// of the sources (attackers, or the peer's addresses).
    Replay { source: u8, index: u8, flips: Vec<(u16, u8)> },
    /// (b) The peer connects to the victim, with or without its key, and writes at once (0-RTT).
    PeerConnect { with_key: bool, early: usize },
    /// The victim connects to the peer (which accepts).
    VictimConnect { with_key: bool },
    /// (b), (c) An application call.
    App { who: Who, index: u8, call: Call },
    /// (d) A datagram waiting on the wire from `sender`.
    Carry { sender: Who, index: u8, fate: Fate },
    /// (e) Time passes; both endpoints handle their timeouts.
    Advance(Step),
    /// (f) The victim's application drains its events: `Some(true)` accepts every incoming
    /// connection, `Some(false)` refuses it, `None` only notes the handles.
    Events(Option<bool>),
    /// A perfect 5 ms link for a few rounds, both applications reading everything (reaches deep
    /// states quickly).
    Run { rounds: u8, accept: bool },
}

impl Op {
    pub(super) fn decode(input: &mut Input<'_>) -> Op {
        match input.byte() % 10 {
            0 => {
                let source = input.byte();
                let len = usize::from(input.u16() % 1601);
                Op::Inject { source, bytes: input.take(len).to_vec() }
            }
            1 => Op::Replay { source: input.byte(), index: input.byte(), flips: input.flips() },
            2 => {
                let byte = input.byte();
                Op::PeerConnect { with_key: byte & 1 == 1, early: usize::from(byte >> 1) * 24 }
            }
            3 => Op::VictimConnect { with_key: input.bool() },
            4 | 5 => {
                let who = if input.bool() { Who::Peer } else { Who::Victim };
                let index = input.byte();
                let call = match input.byte() % 6 {
                    0 => Call::Accept,
                    1 => Call::Refuse,
                    2 => Call::Write(usize::from(input.byte()) * 24),
                    3 => Call::Read(usize::from(input.byte()) * 24),
                    4 => Call::Shutdown,
                    _ => Call::Close(input.u16(), usize::from(input.byte())),
                };
                Op::App { who, index, call }
            }
            6 => {
                let sender = if input.bool() { Who::Peer } else { Who::Victim };
                let index = input.byte();
                let fate = match input.byte() % 6 {
                    0 => Fate::Deliver,
                    1 => Fate::Drop,
                    2 => Fate::Duplicate,
                    3 => Fate::Reorder,
                    4 => Fate::Mutate(input.flips()),
                    _ => Fate::Roam,
                };
                Op::Carry { sender, index, fate }
            }
            7 => {
                let unit = match input.byte() % 6 {
                    0 => Duration::from_micros(1),
                    1 => Duration::from_millis(1),
                    2 => Duration::from_millis(16),
                    3 => Duration::from_secs(1),
                    4 => Duration::from_secs(60),
                    _ => return Op::Advance(Step::ToDeadline),
                };
                Op::Advance(Step::By(unit * u32::from(input.byte())))
            }
            8 => Op::Events(match input.byte() % 3 {
                0 => None,
                1 => Some(true),
                _ => Some(false),
            }),
            _ => {
                let byte = input.byte();
                Op::Run { rounds: byte % 32 + 1, accept: byte & 0x80 != 0 }
            }
        }
    }
}
