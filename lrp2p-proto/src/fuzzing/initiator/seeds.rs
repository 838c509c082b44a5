//! The seed corpus of `initiator_handshake`: sessions written as [`Program`]s (clean IK and XX
//! handshakes with 0-RTT and replies, cookies under load, garbage before the genuine response,
//! relays from attackers, and a long mix), and the encoder that turns them into inputs (the
//! inverse of the `arbitrary` decoding of `ops.rs`; the round trip is tested).
//!
//! `fuzz/corpus/initiator_handshake/seed-*` are their encodings, committed; write them again
//! with `cargo test -p lrp2p-proto --features fuzzing --lib write_initiator_seeds -- --ignored`.

use std::path::PathBuf;

use super::ops::{Bytes, Flips, Forgery, Mutation, Op, Pass, Program, Setup};
use super::run;

/// Appends the encoding of a value.
trait Encode {
    fn encode(&self, out: &mut Vec<u8>);
}

/// A derived enum's discriminant: the smallest `u32` `x` with `(x * count) >> 32 == index`.
fn tag(out: &mut Vec<u8>, index: u64, count: u64) {
    let x = (index << 32).div_ceil(count);
    out.extend_from_slice(&u32::try_from(x).unwrap_or(u32::MAX).to_le_bytes());
}

impl Encode for u8 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(*self);
    }
}

impl Encode for u16 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Encode for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}

impl Encode for Bytes {
    fn encode(&self, out: &mut Vec<u8>) {
        u16::try_from(self.0.len()).unwrap_or(u16::MAX).encode(out);
        out.extend_from_slice(&self.0);
    }
}

impl Encode for Flips {
    fn encode(&self, out: &mut Vec<u8>) {
        let n = u8::try_from(self.0.len()).unwrap_or(1);
        (n - 1).encode(out);
        for &(position, mask) in &self.0 {
            position.encode(out);
            mask.encode(out);
        }
    }
}

impl Encode for Pass {
    fn encode(&self, out: &mut Vec<u8>) {
        tag(out, *self as u64, 4);
    }
}

impl Encode for Setup {
    fn encode(&self, out: &mut Vec<u8>) {
        self.with_key.encode(out);
        self.early.encode(out);
        self.under_load.encode(out);
        self.small.encode(out);
        self.refuse_early.encode(out);
        self.reply.encode(out);
    }
}

impl Encode for Mutation {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Mutation::Flip(flips) => {
                tag(out, 0, 5);
                flips.encode(out);
            }
            Mutation::Truncate(len) => {
                tag(out, 1, 5);
                len.encode(out);
            }
            Mutation::Extend(bytes) => {
                tag(out, 2, 5);
                bytes.encode(out);
            }
            Mutation::Overwrite { at, bytes } => {
                tag(out, 3, 5);
                at.encode(out);
                bytes.encode(out);
            }
            Mutation::Splice { other, at } => {
                tag(out, 4, 5);
                other.encode(out);
                at.encode(out);
            }
        }
    }
}

impl Encode for Forgery {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Forgery::CookieReply { echo, cookie } => {
                tag(out, 0, 4);
                echo.encode(out);
                out.extend_from_slice(cookie);
            }
            Forgery::IkResponse(bytes) => {
                tag(out, 1, 4);
                bytes.encode(out);
            }
            Forgery::XxResponse(bytes) => {
                tag(out, 2, 4);
                bytes.encode(out);
            }
            Forgery::Transport { phase, body } => {
                tag(out, 3, 4);
                phase.encode(out);
                body.encode(out);
            }
        }
    }
}

impl Encode for Op {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Op::ToResponder { index, pass } | Op::FromResponder { index, pass } => {
                tag(out, u64::from(matches!(self, Op::FromResponder { .. })), 8);
                index.encode(out);
                pass.encode(out);
            }
            Op::Replay { index, source, mutation } => {
                tag(out, 2, 8);
                index.encode(out);
                source.encode(out);
                mutation.is_some().encode(out);
                if let Some(mutation) = mutation {
                    mutation.encode(out);
                }
            }
            Op::Forge { source, forgery } => {
                tag(out, 3, 8);
                source.encode(out);
                forgery.encode(out);
            }
            Op::Inject { source, bytes } => {
                tag(out, 4, 8);
                source.encode(out);
                bytes.encode(out);
            }
            Op::Advance { ms } => {
                tag(out, 5, 8);
                ms.encode(out);
            }
            Op::ToDeadline => tag(out, 6, 8),
            Op::Write(units) => {
                tag(out, 7, 8);
                units.encode(out);
            }
        }
    }
}

impl Program {
    fn encode_to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.setup.encode(&mut out);
        for op in &self.ops {
            op.encode(&mut out);
        }
        out
    }
}

const TO: Op = Op::ToResponder { index: 0, pass: Pass::Deliver };
const FROM: Op = Op::FromResponder { index: 0, pass: Pass::Deliver };

/// `rounds` of: one datagram each way.
fn genuine(rounds: usize) -> Vec<Op> {
    (0..rounds).flat_map(|_| [TO, FROM, FROM]).collect()
}

/// Garbage of every kind aimed at the initiator.
fn garbage(round: u8) -> Vec<Op> {
    vec![
        Op::Forge { source: 0, forgery: Forgery::CookieReply { echo: true, cookie: [round; 16] } },
        Op::Forge { source: 1, forgery: Forgery::IkResponse(Bytes(vec![round; 90])) },
        Op::Forge { source: 0, forgery: Forgery::XxResponse(Bytes(vec![round; 20])) },
        Op::Forge {
            source: 2,
            forgery: Forgery::Transport { phase: round % 2 == 1, body: Bytes(vec![round; 50]) },
        },
        Op::Replay {
            index: round,
            source: 0,
            mutation: Some(Mutation::Flip(Flips(vec![(u16::from(round) * 7, 1)]))),
        },
        Op::Replay { index: round, source: 0, mutation: Some(Mutation::Truncate(u16::from(round) * 13)) },
        Op::Replay { index: round, source: 3, mutation: Some(Mutation::Extend(Bytes(vec![0; 4]))) },
        Op::Replay {
            index: round,
            source: 0,
            mutation: Some(Mutation::Overwrite { at: 9, bytes: Bytes(vec![round; 8]) }),
        },
        Op::Replay { index: round, source: 0, mutation: Some(Mutation::Splice { other: round + 1, at: 40 }) },
        Op::Inject { source: round, bytes: Bytes(vec![0x18; 40]) },
    ]
}

fn sessions() -> Vec<(&'static str, Program)> {
    let setup = |with_key, under_load| Setup {
        with_key,
        early: 30,
        under_load,
        small: false,
        refuse_early: false,
        reply: 120,
    };
    let mixed = {
        let mut ops = Vec::new();
        for round in 0..12u8 {
            ops.extend(garbage(round));
            ops.extend(genuine(2));
            ops.extend([Op::Write(40), Op::Advance { ms: 10 }]);
            ops.push(Op::Replay { index: round, source: 1 + round % 3, mutation: None });
        }
        Program { setup: setup(true, true), ops }
    };
    vec![
        ("ik", Program { setup: setup(true, false), ops: genuine(12) }),
        ("xx", Program { setup: setup(false, false), ops: genuine(12) }),
        ("ik-cookies", Program { setup: setup(true, true), ops: genuine(12) }),
        (
            "xx-cookies-small",
            Program { setup: Setup { small: true, ..setup(false, true) }, ops: genuine(12) },
        ),
        (
            "ik-garbage-first",
            Program { setup: setup(true, false), ops: [vec![TO], garbage(1), genuine(10)].concat() },
        ),
        (
            "xx-garbage-first",
            Program { setup: setup(false, true), ops: [genuine(1), garbage(2), genuine(10)].concat() },
        ),
        (
            "relayed",
            Program {
                setup: setup(true, false),
                ops: [
                    vec![TO, Op::Replay { index: 0, source: 1, mutation: None }, Op::Write(200)],
                    genuine(3),
                    vec![Op::Replay { index: 5, source: 2, mutation: None }],
                    genuine(6),
                ]
                .concat(),
            },
        ),
        ("mixed", mixed),
    ]
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/initiator_handshake")
}

#[test]
fn seeds_complete_and_round_trip() {
    for (name, program) in sessions() {
        assert_eq!(Program::decode(&program.encode_to_vec()), program, "{name}");
        let world = run(&program);
        assert!(world.connected && world.eof, "{name}");
    }
}

/// The committed seeds are the encodings of [`sessions`].
#[test]
fn committed_initiator_seeds_are_current() {
    for (name, program) in sessions() {
        let path = corpus_dir().join(format!("seed-{name}"));
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == program.encode_to_vec(),
            "{} is stale: see the module documentation",
            path.display()
        );
    }
}

#[test]
#[ignore = "writes fuzz/corpus/initiator_handshake/seed-*"]
fn write_initiator_seeds() {
    let dir = corpus_dir();
    std::fs::create_dir_all(&dir).expect("create the corpus directory");
    for (name, program) in sessions() {
        std::fs::write(dir.join(format!("seed-{name}")), program.encode_to_vec()).expect("write a seed");
    }
}
