//! Tests of [`endpoint_ops`]: inputs the fuzzer once found, random programs, a scripted
//! exchange, and the round trip of the program encoding (`encode.rs`).

use rand_core::RngCore;

use super::ops::{Bytes, Call, Fate, Flips, Op, Program, Step, Unit, Who};
use super::{drive, endpoint_ops, run};
use crate::fuzzing::FuzzRng;

fn app(who: Who, index: u8, call: Call) -> Op {
    Op::App { who, index, call }
}

fn run_op(rounds: u8, accept: bool) -> Op {
    Op::Run { rounds: rounds - 1, accept }
}

/// Programs the fuzzer found (minimized), each once a failure: they keep passing. (Found with
/// the earlier byte reader; these are the same operations.)
#[test]
fn inputs_found_by_fuzzing() {
    use Who::{Peer, Victim};
    let programs = [
        // Replayed 0-RTT data on a second connection (allowed: the check was too strict).
        Program {
            flags: 0x0a,
            ops: vec![
                Op::PeerConnect { with_key: true, early: 104 },
                Op::Replay { source: 6, index: 243, mutate: false, flips: Flips(vec![(12275, 3)]) },
                Op::VictimConnect { with_key: false, deferred: false },
                run_op(26, true),
                Op::Replay { source: 131, index: 0, mutate: true, flips: Flips(vec![(0, 1)]) },
            ],
        },
        // `Connected` after `Closed`: closed after the XX finish, before confirmation.
        Program {
            flags: 0x17,
            ops: vec![
                Op::VictimConnect { with_key: false, deferred: false },
                run_op(2, true),
                app(Victim, 89, Call::Close { code: 33083, reason: 34 }),
                app(Victim, 63, Call::Close { code: 62405, reason: 243 }),
                run_op(32, true),
                app(Peer, 201, Call::Shutdown),
                run_op(1, false),
            ],
        },
        // Reading a released connection answers `Ok(0)` while the peer's stream goes on (the
        // harness no longer checks what calls on released handles answer).
        Program {
            flags: 0,
            ops: vec![
                Op::PeerConnect { with_key: true, early: 0 },
                run_op(4, true),
                app(Peer, 0, Call::Release),
                app(Victim, 0, Call::Write(150)),
                app(Victim, 0, Call::Shutdown),
                run_op(8, true),
            ],
        },
        // A transfer stuck after the peer moved (its new address never validated).
        Program {
            flags: 0x81,
            ops: vec![
                Op::VictimConnect { with_key: false, deferred: false },
                run_op(5, false),
                app(Victim, 241, Call::Write(255)),
                app(Victim, 254, Call::Write(171)),
                run_op(1, true),
                Op::Carry { sender: Peer, index: 77, fate: Fate::Roam },
            ],
        },
    ];
    for program in &programs {
        endpoint_ops(&program.encode_to_vec());
    }
}

#[test]
fn random_programs_keep_the_invariants() {
    let mut rng = FuzzRng(7);
    for case in 0..300 {
        let mut data = vec![0u8; (rng.next_u32() % 2048) as usize];
        rng.fill_bytes(&mut data);
        let mut program = Program::decode(&data);
        // Some programs run a perfect link between every two operations, to reach
        // established connections.
        if case % 3 == 0 {
            let ops = std::mem::take(&mut program.ops);
            program.ops = ops.into_iter().flat_map(|op| [op, run_op(2, true)]).collect();
        }
        run(&program);
    }
}

/// Random bytes decode to programs of many operations: every operation but `Inject` takes at
/// most 26 bytes (derived enum tags take four), an `Inject` its length.
#[test]
fn long_inputs_decode_to_long_programs() {
    use super::encode::Encode;
    let mut rng = FuzzRng(3);
    let mut data = vec![0u8; 4096];
    rng.fill_bytes(&mut data);
    let program = Program::decode(&data);
    assert!(program.ops.len() >= 30, "{} operations from 4 KB", program.ops.len());
    for op in program.ops.iter().filter(|op| !matches!(op, Op::Inject { .. })) {
        let mut bytes = Vec::new();
        op.encode(&mut bytes);
        assert!(bytes.len() <= 26, "{op:?} takes {} bytes", bytes.len());
    }
    assert_eq!(Program::decode(&[]), Program::default());
}

/// Every kind of operation survives the encoding: `encode_to_vec` is the inverse of `decode`,
/// and random programs re-encode to a prefix of their input.
#[test]
fn programs_round_trip_through_bytes() {
    use Who::{Peer, Victim};
    let ops = vec![
        Op::Inject { source: 3, bytes: Bytes(vec![0x18, 1, 2, 3]) },
        Op::Inject { source: 0, bytes: Bytes(Vec::new()) },
        Op::Replay {
            source: 4,
            index: 9,
            mutate: true,
            flips: Flips(vec![(1, 2), (300, 255), (7, 1), (0, 9)]),
        },
        Op::PeerConnect { with_key: true, early: 255 },
        Op::VictimConnect { with_key: false, deferred: true },
        app(Victim, 1, Call::Accept),
        app(Peer, 2, Call::Refuse),
        app(Victim, 3, Call::Write(7)),
        app(Peer, 4, Call::Read(0)),
        app(Victim, 5, Call::Shutdown),
        app(Peer, 6, Call::Close { code: 0xbeef, reason: 12 }),
        app(Victim, 7, Call::Release),
        app(Peer, 8, Call::Start),
        Op::Carry { sender: Peer, index: 1, fate: Fate::Deliver },
        Op::Carry { sender: Victim, index: 2, fate: Fate::Drop },
        Op::Carry { sender: Peer, index: 3, fate: Fate::Duplicate },
        Op::Carry { sender: Victim, index: 4, fate: Fate::Reorder },
        Op::Carry { sender: Peer, index: 5, fate: Fate::Mutate(Flips(vec![(5, 5)])) },
        Op::Carry { sender: Victim, index: 6, fate: Fate::Roam },
        Op::Advance(Step::ToDeadline),
        Op::Advance(Step::By { unit: Unit::Micro, count: 1 }),
        Op::Advance(Step::By { unit: Unit::Minute, count: 200 }),
        Op::Events(None),
        Op::Events(Some(false)),
        Op::Events(Some(true)),
        Op::Run { rounds: 31, accept: true },
    ];
    let program = Program { flags: 0x0f, ops };
    assert_eq!(Program::decode(&program.encode_to_vec()), program);

    let mut rng = FuzzRng(11);
    for _ in 0..200 {
        let mut data = vec![0u8; (rng.next_u32() % 600) as usize];
        rng.fill_bytes(&mut data);
        let program = Program::decode(&data);
        let bytes = program.encode_to_vec();
        assert_eq!(Program::decode(&bytes), program);
    }
}

/// A script that transfers data both ways and finishes: the harness reaches the states it
/// claims to check.
#[test]
fn scripted_exchange_transfers_and_finishes() {
    use Who::{Peer, Victim};
    let program = Program {
        flags: 0,
        ops: vec![
            // The peer connects with the victim's key and writes 20 × 24 bytes at once.
            Op::PeerConnect { with_key: true, early: 20 },
            run_op(4, true),
            app(Victim, 0, Call::Write(50)),
            app(Peer, 0, Call::Write(100)),
            app(Victim, 0, Call::Shutdown),
            app(Peer, 0, Call::Shutdown),
            run_op(32, true),
        ],
    };
    let world = drive(&program.encode_to_vec());
    let (victim, peer) = (&world.victim.conns[0], &world.peer.conns[0]);
    assert_eq!((peer.written, victim.read), (480 + 2400, 480 + 2400));
    assert_eq!((victim.written, peer.read), (1200, 1200));
    assert!(victim.eof && peer.eof);
}
