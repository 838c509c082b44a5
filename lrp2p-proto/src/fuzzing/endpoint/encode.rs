//! The inverse of the `arbitrary` decoding of a [`Program`] (`ops.rs`): writes the bytes that
//! decode to a given program, for the seed corpus (`seeds.rs`) and the tests. The round trip is
//! tested, so a change of `arbitrary`'s encoding shows here rather than as stale seeds.

use super::ops::{Bytes, Call, Fate, Flips, Op, Program, Step, Unit, Who};

/// Appends the encoding of a value to a byte string.
pub(super) trait Encode {
    fn encode(&self, out: &mut Vec<u8>);
}

impl Program {
    /// The bytes that [`Program::decode`] reads back as this program.
    pub(super) fn encode_to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.flags.encode(&mut out);
        for op in &self.ops {
            op.encode(&mut out);
        }
        out
    }
}

/// A derived enum's discriminant: `arbitrary` reads a `u32` `x` and picks variant
/// `(x * count) >> 32`; the smallest `x` that picks `index`.
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

impl Encode for Option<bool> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.is_some().encode(out);
        if let Some(value) = self {
            value.encode(out);
        }
    }
}

impl Encode for Who {
    fn encode(&self, out: &mut Vec<u8>) {
        tag(out, *self as u64, 2);
    }
}

impl Encode for Unit {
    fn encode(&self, out: &mut Vec<u8>) {
        tag(out, *self as u64, 5);
    }
}

impl Encode for Flips {
    fn encode(&self, out: &mut Vec<u8>) {
        let n = u8::try_from(self.0.len()).unwrap_or(1);
        assert!((1..=4).contains(&n), "one to four flips");
        (n - 1).encode(out);
        for &(position, mask) in &self.0 {
            assert_ne!(mask, 0, "a flip's mask is never zero");
            position.encode(out);
            mask.encode(out);
        }
    }
}

impl Encode for Bytes {
    fn encode(&self, out: &mut Vec<u8>) {
        let len = u16::try_from(self.0.len()).unwrap_or(u16::MAX);
        assert!(len <= super::ops::MAX_INJECT, "at most MAX_INJECT bytes");
        len.encode(out);
        out.extend_from_slice(&self.0);
    }
}

impl Encode for Call {
    fn encode(&self, out: &mut Vec<u8>) {
        let index = match self {
            Call::Accept => 0,
            Call::Refuse => 1,
            Call::Write(_) => 2,
            Call::Read(_) => 3,
            Call::Shutdown => 4,
            Call::Close { .. } => 5,
            Call::Release => 6,
            Call::Start => 7,
        };
        tag(out, index, 8);
        match self {
            Call::Write(n) | Call::Read(n) => n.encode(out),
            Call::Close { code, reason } => {
                code.encode(out);
                reason.encode(out);
            }
            _ => {}
        }
    }
}

impl Encode for Fate {
    fn encode(&self, out: &mut Vec<u8>) {
        let index = match self {
            Fate::Deliver => 0,
            Fate::Drop => 1,
            Fate::Duplicate => 2,
            Fate::Reorder => 3,
            Fate::Mutate(_) => 4,
            Fate::Roam => 5,
        };
        tag(out, index, 6);
        if let Fate::Mutate(flips) = self {
            flips.encode(out);
        }
    }
}

impl Encode for Step {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Step::By { unit, count } => {
                tag(out, 0, 2);
                unit.encode(out);
                count.encode(out);
            }
            Step::ToDeadline => tag(out, 1, 2),
        }
    }
}

impl Encode for Op {
    fn encode(&self, out: &mut Vec<u8>) {
        let index = match self {
            Op::Inject { .. } => 0,
            Op::Replay { .. } => 1,
            Op::PeerConnect { .. } => 2,
            Op::VictimConnect { .. } => 3,
            Op::App { .. } => 4,
            Op::Carry { .. } => 5,
            Op::Advance(_) => 6,
            Op::Events(_) => 7,
            Op::Run { .. } => 8,
        };
        tag(out, index, 9);
        match self {
            Op::Inject { source, bytes } => {
                source.encode(out);
                bytes.encode(out);
            }
            Op::Replay { source, index, mutate, flips } => {
                source.encode(out);
                index.encode(out);
                mutate.encode(out);
                flips.encode(out);
            }
            Op::PeerConnect { with_key, early } => {
                with_key.encode(out);
                early.encode(out);
            }
            Op::VictimConnect { with_key, deferred } => {
                with_key.encode(out);
                deferred.encode(out);
            }
            Op::App { who, index, call } => {
                who.encode(out);
                index.encode(out);
                call.encode(out);
            }
            Op::Carry { sender, index, fate } => {
                sender.encode(out);
                index.encode(out);
                fate.encode(out);
            }
            Op::Advance(step) => step.encode(out),
            Op::Events(decision) => decision.encode(out),
            Op::Run { rounds, accept } => {
                rounds.encode(out);
                accept.encode(out);
            }
        }
    }
}
