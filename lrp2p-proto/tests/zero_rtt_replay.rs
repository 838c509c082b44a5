//! 0-RTT safety end to end on real datagrams: a captured IK initiation replayed immediately and
//! later never yields its early data twice, while fresh initiations keep working.

#![allow(clippy::unwrap_used)]

use lrp2p_proto::StaticSecret;
use lrp2p_proto::crypto::early::{EarlyDataConfig, EarlyDataGuard, EarlyReject};
use lrp2p_proto::handshake::{read_ik_initiation, write_ik_initiation};
use lrp2p_proto::wire::{ConnectionId, DataRepr, Datagram, IkInitPayload, Segments, Seq, Tail};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const SEC: u64 = 1_000_000_000;
const T0: u64 = 1_800_000_000 * SEC;

/// The responder side of an IK initiation: decrypt, then deliver early data only if the guard
/// allows it. Returns the delivered early data, or why it was refused.
fn receive(
    responder: &StaticSecret,
    guard: &mut EarlyDataGuard,
    datagram: &[u8],
    now_ns: u64,
) -> Result<Vec<u8>, EarlyReject> {
    let Ok(Datagram::IkInitiation(init)) = Datagram::parse(datagram) else { panic!("not an initiation") };
    let mut plain = [0u8; 2048];
    // The replay is cryptographically valid: Noise alone cannot tell it from the original.
    let (state, payload) = read_ik_initiation(responder, &init, &mut plain).unwrap();
    guard.check_and_record(&state.remote_static(), payload.timestamp_ns, now_ns)?;
    match payload.segments.tail {
        Some(Tail::Data(data)) => Ok(data.payload.to_vec()),
        _ => Ok(Vec::new()),
    }
}

fn initiation(
    rng: &mut ChaCha20Rng,
    from: &StaticSecret,
    to: &StaticSecret,
    ts: u64,
    text: &[u8],
) -> Vec<u8> {
    let data =
        DataRepr { seq: Seq(1), fin: false, rtx: false, ping: false, app_protocol: None, payload: text };
    let payload = IkInitPayload {
        timestamp_ns: ts,
        isn: Seq(1),
        segments: Segments { ack: None, tail: Some(Tail::Data(data)) },
    };
    let mut out = [0u8; 1400];
    let (_, n) =
        write_ik_initiation(rng, from, &to.public_key(), ConnectionId(77), &payload, None, &mut out).unwrap();
    out[..n].to_vec()
}

#[test]
fn replay_of_captured_initiation_immediately_and_later_never_redelivers() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let alice = StaticSecret::generate(&mut rng);
    let bob = StaticSecret::generate(&mut rng);
    // Bob's responder has been up for a minute (past its start-up floor).
    let mut guard = EarlyDataGuard::new(EarlyDataConfig::default(), T0 - 60 * SEC);

    let captured = initiation(&mut rng, &alice, &bob, T0, b"transfer 100 coins");
    assert_eq!(receive(&bob, &mut guard, &captured, T0).unwrap(), b"transfer 100 coins");
    // Replayed at once, and again 5 s and 29 s later: refused as a replay.
    for delay in [0, 5, 29] {
        assert_eq!(receive(&bob, &mut guard, &captured, T0 + delay * SEC), Err(EarlyReject::Replay));
    }
    // Replayed after the freshness window: refused as stale.
    assert_eq!(receive(&bob, &mut guard, &captured, T0 + 31 * SEC), Err(EarlyReject::Stale));
    // A fresh initiation from the same peer still delivers its early data.
    let fresh = initiation(&mut rng, &alice, &bob, T0 + 40 * SEC, b"hello again");
    assert_eq!(receive(&bob, &mut guard, &fresh, T0 + 40 * SEC).unwrap(), b"hello again");
}

#[test]
fn replay_after_responder_restart_is_refused() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let alice = StaticSecret::generate(&mut rng);
    let bob = StaticSecret::generate(&mut rng);
    let mut guard = EarlyDataGuard::new(EarlyDataConfig::default(), T0 - 60 * SEC);
    let captured = initiation(&mut rng, &alice, &bob, T0, b"once only");
    assert!(receive(&bob, &mut guard, &captured, T0).is_ok());

    // Bob restarts 2 s later: its table is gone, but the start-up floor covers the capture.
    let mut restarted = EarlyDataGuard::new(EarlyDataConfig::default(), T0 + 2 * SEC);
    assert_eq!(receive(&bob, &mut restarted, &captured, T0 + 3 * SEC), Err(EarlyReject::Replay));
    assert_eq!(receive(&bob, &mut restarted, &captured, T0 + 33 * SEC), Err(EarlyReject::Stale));
}

#[test]
fn replay_with_reordered_concurrent_initiations_each_delivered_once() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let alice = StaticSecret::generate(&mut rng);
    let bob = StaticSecret::generate(&mut rng);
    let mut guard = EarlyDataGuard::new(EarlyDataConfig::default(), T0 - 60 * SEC);
    let first = initiation(&mut rng, &alice, &bob, T0 + 1, b"first");
    let second = initiation(&mut rng, &alice, &bob, T0 + 2, b"second");
    // The later one arrives first; both are delivered once, neither twice.
    assert_eq!(receive(&bob, &mut guard, &second, T0).unwrap(), b"second");
    assert_eq!(receive(&bob, &mut guard, &first, T0).unwrap(), b"first");
    assert_eq!(receive(&bob, &mut guard, &second, T0), Err(EarlyReject::Replay));
    assert_eq!(receive(&bob, &mut guard, &first, T0), Err(EarlyReject::Replay));
}
