//! Tests of [`initiator_handshake`]: random inputs, genuine runs of every setup, and garbage of
//! every kind before the genuine response.

use rand_core::RngCore;

use super::ops::{Bytes, Flips, Forgery, Mutation, Op, Pass, Program, Setup};
use super::{initiator_handshake, run};
use crate::fuzzing::FuzzRng;

fn setups() -> impl Iterator<Item = Setup> {
    (0u8..16).map(|bits| Setup {
        with_key: bits & 1 != 0,
        early: if bits & 2 != 0 { 40 } else { 0 },
        under_load: bits & 4 != 0,
        small: bits & 8 != 0,
        refuse_early: bits & 3 == 3,
        reply: 30 + bits,
    })
}

#[test]
fn random_inputs_keep_the_invariants() {
    let mut rng = FuzzRng(5);
    for case in 0..400 {
        let mut data = vec![0u8; (rng.next_u32() % 1500) as usize];
        rng.fill_bytes(&mut data);
        if case % 2 == 0 {
            // Most delivered datagrams genuine: reaches the later states.
            let mut program = Program::decode(&data);
            let ops = std::mem::take(&mut program.ops);
            let deliver = [
                Op::ToResponder { index: 0, pass: Pass::Deliver },
                Op::FromResponder { index: 0, pass: Pass::Deliver },
            ];
            program.ops =
                ops.into_iter().flat_map(|op| [op, deliver[0].clone(), deliver[1].clone()]).collect();
            run(&program);
        } else {
            initiator_handshake(&data);
        }
    }
}

/// With nothing but the epilogue, every setup completes: the harness's final checks hold on a
/// clean run (IK and XX, 0-RTT, cookies).
#[test]
fn genuine_runs_complete() {
    for setup in setups() {
        let world = run(&Program { setup, ops: Vec::new() });
        assert!(world.connected && world.eof, "{setup:?}");
        assert_eq!(world.read, world.reply);
        if setup.under_load {
            assert!(world.cookie_replies >= 1, "{setup:?}");
        }
    }
}

/// Garbage of every kind, with the genuine datagrams captured in between: the handshake still
/// completes.
#[test]
fn garbage_before_the_response() {
    let garbage = vec![
        Op::ToResponder { index: 0, pass: Pass::Duplicate },
        Op::ToResponder { index: 0, pass: Pass::Deliver },
        Op::Forge { source: 0, forgery: Forgery::CookieReply { echo: true, cookie: [7; 16] } },
        Op::Forge { source: 1, forgery: Forgery::CookieReply { echo: false, cookie: [8; 16] } },
        Op::Forge { source: 0, forgery: Forgery::IkResponse(Bytes(vec![1; 120])) },
        Op::Forge { source: 0, forgery: Forgery::XxResponse(Bytes(vec![2; 30])) },
        Op::Forge { source: 2, forgery: Forgery::Transport { phase: true, body: Bytes(vec![3; 60]) } },
        Op::Replay { index: 0, source: 0, mutation: Some(Mutation::Flip(Flips(vec![(40, 1)]))) },
        Op::Replay { index: 0, source: 0, mutation: Some(Mutation::Truncate(80)) },
        Op::Replay { index: 0, source: 3, mutation: Some(Mutation::Extend(Bytes(vec![0; 9]))) },
        Op::Replay {
            index: 0,
            source: 0,
            mutation: Some(Mutation::Overwrite { at: 9, bytes: Bytes(vec![0; 32]) }),
        },
        Op::Replay { index: 1, source: 0, mutation: Some(Mutation::Splice { other: 0, at: 30 }) },
        Op::Inject { source: 0, bytes: Bytes(vec![0x12; 200]) },
        Op::Write(10),
        Op::Advance { ms: 100 },
        Op::ToResponder { index: 0, pass: Pass::Deliver },
        Op::FromResponder { index: 1, pass: Pass::Reorder },
        Op::FromResponder { index: 0, pass: Pass::Drop },
        Op::ToDeadline,
    ];
    for setup in setups() {
        let world = run(&Program { setup, ops: garbage.clone() });
        assert!(world.connected, "{setup:?}");
        assert!(world.cookie_replies >= 1);
    }
    // Relayed from an attacker before the responder's own copy: the initiator may follow it.
    let relay = vec![
        Op::ToResponder { index: 0, pass: Pass::Deliver },
        Op::Replay { index: 0, source: 1, mutation: None },
        Op::Replay { index: 1, source: 1, mutation: None },
        Op::Replay { index: 2, source: 2, mutation: None },
        Op::FromResponder { index: 0, pass: Pass::Deliver },
    ];
    for setup in setups() {
        run(&Program { setup, ops: relay.clone() });
    }
}

/// Inputs the fuzzer found (`found/`), each once a failure of the harness on a finding now
/// fixed (see `tests/fuzz_findings.rs`): they keep passing.
#[test]
fn inputs_found_by_fuzzing() {
    // XX: the responder's first transport packets reach the initiator relayed from an attacker
    // before any from the responder; the relayed one confirms the handshake and validates the
    // attacker's address (`confirming_packet_from_a_new_address_does_not_validate_it_*`).
    initiator_handshake(include_bytes!("found/xx-confirmed-by-a-relay"));
    // A tail loss probe armed from a DATA segment sent long ago had its deadline in the past
    // (`poll_timeout` earlier than the last `handle_timeout`); now armed at the present.
    initiator_handshake(include_bytes!("found/probe-deadline-in-the-past"));
}
