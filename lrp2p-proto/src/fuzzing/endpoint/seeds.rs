//! The seed corpus of `endpoint_ops`: realistic sessions written as [`Program`]s (IK and XX
//! handshakes, bulk transfers both ways with shutdown, a close during the handshake, a lossy,
//! duplicating and reordering wire, a roaming peer, cookies under load, …), each tested to
//! reach the state it is named for.
//!
//! `fuzz/corpus/endpoint_ops/seed-*` are their encodings, committed. After changing the
//! operations or a session, write them again with
//! `cargo test -p lrp2p-proto --features fuzzing --lib write_seed_corpus -- --ignored`
//! (`committed_seeds_are_current` fails until then).

use std::path::PathBuf;

use super::ops::{Bytes, Call, Fate, Flips, Op, Program, Step, Unit, Who};
use super::{World, run};

use Who::{Peer, Victim};

fn app(who: Who, index: u8, call: Call) -> Op {
    Op::App { who, index, call }
}

/// A perfect link for `rounds` rounds of 5 ms, the victim accepting.
fn link(rounds: u8) -> Op {
    Op::Run { rounds: rounds - 1, accept: true }
}

fn carry(sender: Who, fate: Fate) -> Op {
    Op::Carry { sender, index: 0, fate }
}

fn advance(unit: Unit, count: u8) -> Op {
    Op::Advance(Step::By { unit, count })
}

/// `rounds` of: both sides write `units` × 24 bytes on their connection `index`, then the link
/// runs. Returns the operations.
fn bulk(index: u8, units: u8, rounds: usize) -> Vec<Op> {
    (0..rounds)
        .flat_map(|_| [app(Victim, index, Call::Write(units)), app(Peer, index, Call::Write(units)), link(3)])
        .collect()
}

/// Both sides shut down connection `index` and the link runs until everything is acknowledged.
fn finish(index: u8) -> Vec<Op> {
    vec![app(Victim, index, Call::Shutdown), app(Peer, index, Call::Shutdown), link(32), link(32)]
}

/// A lossy wire: drops, duplicates, reorders and corrupts datagrams of both sides while both
/// write, with retransmission timeouts in between.
fn lossy_rounds(rounds: usize) -> Vec<Op> {
    let mut ops = Vec::new();
    for round in 0..rounds {
        let sender = if round % 2 == 0 { Peer } else { Victim };
        ops.extend([
            app(Victim, 0, Call::Write(40)),
            app(Peer, 0, Call::Write(40)),
            Op::Carry { sender, index: 1, fate: Fate::Drop },
            Op::Carry { sender, index: 0, fate: Fate::Duplicate },
            Op::Carry { sender, index: 2, fate: Fate::Reorder },
            Op::Carry { sender, index: 0, fate: Fate::Deliver },
            Op::Carry { sender, index: 3, fate: Fate::Mutate(Flips(vec![(20, 0x40)])) },
            Op::Carry { sender, index: 0, fate: Fate::Deliver },
            Op::Advance(Step::ToDeadline),
            link(2),
        ]);
    }
    ops
}

/// The sessions, by name.
fn sessions() -> Vec<(&'static str, Program)> {
    let ik_bulk = {
        // The peer knows the victim's key: IK with 0-RTT data, then 100 KB each way.
        let mut ops = vec![Op::PeerConnect { with_key: true, early: 40 }, link(4)];
        ops.extend(bulk(0, 255, 16));
        ops.extend(finish(0));
        Program { flags: 0, ops }
    };
    let xx_bulk = {
        // The victim does not know the peer's key: XX, then 60 KB each way, paced off.
        let mut ops = vec![Op::VictimConnect { with_key: false, deferred: false }, link(6)];
        ops.extend(bulk(0, 200, 12));
        ops.extend(finish(0));
        Program { flags: 4, ops }
    };
    let ik_deferred = {
        // The victim connects deferred with the key: its first write rides in the initiation.
        let mut ops = vec![
            Op::VictimConnect { with_key: true, deferred: true },
            app(Victim, 0, Call::Write(30)),
            link(4),
        ];
        ops.extend(bulk(0, 100, 6));
        ops.extend(finish(0));
        Program { flags: 2, ops }
    };
    let close_in_handshake = Program {
        flags: 0,
        ops: vec![
            // The victim's initiation reaches the peer; the victim closes before the response.
            Op::VictimConnect { with_key: false, deferred: false },
            carry(Victim, Fate::Deliver),
            app(Victim, 0, Call::Close { code: 7, reason: 5 }),
            link(8),
            // The peer's IK initiation arrives; the victim closes the incoming connection.
            Op::PeerConnect { with_key: true, early: 8 },
            carry(Peer, Fate::Deliver),
            Op::Events(None),
            app(Victim, 1, Call::Close { code: 0, reason: 0 }),
            link(8),
            // The victim refuses the next one.
            Op::PeerConnect { with_key: false, early: 0 },
            link(2),
            Op::Events(Some(false)),
            link(8),
            Op::Advance(Step::By { unit: Unit::Second, count: 30 }),
            link(4),
        ],
    };
    let lossy = {
        let mut ops = vec![Op::PeerConnect { with_key: true, early: 20 }, link(4)];
        ops.extend(lossy_rounds(12));
        ops.extend(finish(0));
        Program { flags: 0, ops }
    };
    let roaming = {
        // Mid-transfer the peer's NAT rebinds: its datagrams come from its other address.
        let mut ops = vec![Op::PeerConnect { with_key: true, early: 0 }, link(4)];
        ops.extend(bulk(0, 150, 3));
        for _ in 0..6 {
            ops.extend([app(Peer, 0, Call::Write(100)), app(Victim, 0, Call::Write(100))]);
            ops.extend([carry(Peer, Fate::Roam), carry(Peer, Fate::Roam), link(2)]);
        }
        ops.extend(bulk(0, 150, 3));
        ops.extend(finish(0));
        Program { flags: 0, ops }
    };
    let cookies = {
        // Six IK handshakes wait for the victim's application (half-open): from the fifth on the
        // victim is under load and answers initiations with cookie replies, also to replays
        // from attackers; then it accepts them all and each transfers a little.
        let mut ops = Vec::new();
        for _ in 0..6 {
            ops.extend([Op::PeerConnect { with_key: true, early: 4 }, carry(Peer, Fate::Deliver)]);
        }
        for (source, index) in [(0, 0), (1, 1), (2, 2), (0, 3)] {
            ops.push(Op::Replay { source, index, mutate: false, flips: Flips(vec![(0, 1)]) });
        }
        // The cookie replies reach the peer, which sends its initiations again with a MAC.
        ops.extend([carry(Victim, Fate::Deliver), carry(Victim, Fate::Deliver)]);
        ops.extend([carry(Peer, Fate::Deliver), carry(Peer, Fate::Deliver), Op::Events(Some(true))]);
        ops.push(link(8));
        for index in 0..6 {
            ops.extend([app(Peer, index, Call::Write(50)), app(Victim, index, Call::Write(50))]);
        }
        ops.push(link(16));
        for index in 0..6 {
            ops.extend([app(Peer, index, Call::Shutdown), app(Victim, index, Call::Shutdown)]);
        }
        ops.push(link(32));
        Program { flags: 0, ops }
    };
    let attacked = {
        // An established connection while attackers inject garbage and replay (and corrupt)
        // the peer's datagrams from their own addresses.
        let mut ops = vec![Op::PeerConnect { with_key: true, early: 10 }, link(4)];
        for round in 0..8u8 {
            ops.extend([
                app(Peer, 0, Call::Write(60)),
                app(Victim, 0, Call::Write(60)),
                Op::Inject {
                    source: round % 3,
                    bytes: Bytes(vec![0x11 + round % 9; 40 + usize::from(round) * 30]),
                },
                Op::Inject { source: round, bytes: Bytes([0x18, 0, 0, 0, 0, 0, 0, 0, 1].repeat(8)) },
                Op::Replay {
                    source: round,
                    index: round,
                    mutate: round % 2 == 1,
                    flips: Flips(vec![(9, 4)]),
                },
                link(2),
            ]);
        }
        ops.extend(finish(0));
        Program { flags: 0, ops }
    };
    let idle_and_release = {
        // Keep-alives over minutes of silence; then the peer releases a connection with data
        // in flight, and a second one idles out without keep-alives on either side.
        let mut ops = vec![Op::PeerConnect { with_key: true, early: 0 }, link(4)];
        for _ in 0..4 {
            ops.extend([advance(Unit::Second, 20), link(2)]);
        }
        ops.extend([app(Peer, 0, Call::Write(200)), app(Peer, 0, Call::Release), link(32), link(32)]);
        ops.extend([app(Victim, 0, Call::Read(255)), link(4)]);
        ops.extend([Op::VictimConnect { with_key: true, deferred: false }, link(4)]);
        ops.extend([advance(Unit::Minute, 2), link(2), advance(Unit::Minute, 5), link(2)]);
        Program { flags: 0, ops }
    };
    let many = {
        // Connections both ways at once, 1200-byte datagrams, no keep-alives.
        let mut ops = Vec::new();
        for _ in 0..3 {
            ops.extend([
                Op::PeerConnect { with_key: true, early: 2 },
                Op::VictimConnect { with_key: false, deferred: false },
            ]);
        }
        ops.push(link(8));
        for round in 0..4u8 {
            for index in 0..6 {
                ops.extend([app(Victim, index, Call::Write(30 + round)), app(Peer, index, Call::Write(30))]);
            }
            ops.push(link(4));
        }
        for index in 0..6 {
            ops.extend([app(Victim, index, Call::Shutdown), app(Peer, index, Call::Shutdown)]);
        }
        ops.extend([link(32), link(32)]);
        Program { flags: 0x0a, ops }
    };
    let long_haul = {
        // Hundreds of operations on one connection: bulk rounds, a lossy wire, the peer
        // roaming, a second connection coming and going, time passing.
        let mut ops = vec![Op::PeerConnect { with_key: true, early: 60 }, link(4)];
        for round in 0..24u8 {
            ops.extend(bulk(0, 120 + round, 2));
            ops.extend(lossy_rounds(1));
            if round % 6 == 5 {
                ops.extend([carry(Peer, Fate::Roam), link(2)]);
            }
            if round == 8 {
                ops.extend([Op::VictimConnect { with_key: true, deferred: false }, link(4)]);
                ops.extend([
                    app(Victim, 1, Call::Write(10)),
                    app(Victim, 1, Call::Close { code: 1, reason: 3 }),
                ]);
            }
            if round % 8 == 3 {
                ops.extend([advance(Unit::Frame, 40), link(1)]);
            }
        }
        ops.extend(finish(0));
        Program { flags: 0, ops }
    };
    vec![
        ("long-haul", long_haul),
        ("ik-bulk", ik_bulk),
        ("xx-bulk", xx_bulk),
        ("ik-deferred", ik_deferred),
        ("close-in-handshake", close_in_handshake),
        ("lossy", lossy),
        ("roaming", roaming),
        ("cookies", cookies),
        ("attacked", attacked),
        ("idle-release", idle_and_release),
        ("many", many),
    ]
}

/// Where the seeds live: `fuzz/corpus/endpoint_ops/` of the repository.
fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/endpoint_ops")
}

/// The first `n` connections of each side wrote, and each stream arrived whole on the
/// connection of the other side that read it, and ended there.
fn transferred(name: &str, world: &World, n: usize) {
    for (reader, writer) in [(&world.victim, &world.peer), (&world.peer, &world.victim)] {
        assert!(writer.conns.len() >= n, "{name}: {} connections", writer.conns.len());
        for (w, source) in writer.conns.iter().enumerate().take(n) {
            assert!(source.written > 0, "{name}: stream {w} is empty");
            let read = reader.conns.iter().find(|c| c.sources.as_deref() == Some(&[w]));
            let Some(read) = read else { panic!("{name}: stream {w} never arrived") };
            assert_eq!(read.read, source.written, "{name}: stream {w}");
            assert!(read.eof, "{name}: stream {w} did not end");
        }
    }
}

#[test]
fn seeds_reach_their_states() {
    for (name, program) in sessions() {
        let world = run(&program);
        let stats = world.victim.endpoint.stats();
        match name {
            "long-haul" | "ik-bulk" | "xx-bulk" | "ik-deferred" | "lossy" | "roaming" | "attacked" => {
                transferred(name, &world, 1)
            }
            "many" => transferred(name, &world, 6),
            "cookies" => {
                assert!(stats.cookie_replies >= 2, "{stats:?}");
                transferred(name, &world, 6);
            }
            "close-in-handshake" => assert_eq!(world.victim.conns.len(), 3),
            "idle-release" => {
                let (victim, peer) = (&world.victim.conns[0], &world.peer.conns[0]);
                assert_eq!(victim.read, peer.written);
                assert!(victim.eof);
            }
            _ => unreachable!("{name}"),
        }
        if name == "attacked" {
            assert!(stats.malformed + stats.unknown_connection > 0, "{stats:?}");
        }
        assert!(program.ops.len() <= super::MAX_OPS, "{name}: {} operations", program.ops.len());
    }
}

/// The committed seeds are the encodings of [`sessions`].
#[test]
fn committed_seeds_are_current() {
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

/// Writes the seeds (`--ignored`; see the module documentation).
#[test]
#[ignore = "writes fuzz/corpus/endpoint_ops/seed-*"]
fn write_seed_corpus() {
    let dir = corpus_dir();
    std::fs::create_dir_all(&dir).expect("create the corpus directory");
    for (name, program) in sessions() {
        std::fs::write(dir.join(format!("seed-{name}")), program.encode_to_vec()).expect("write a seed");
    }
}
