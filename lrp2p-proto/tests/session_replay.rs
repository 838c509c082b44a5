//! Transport session scenarios: sealing and opening between two [`Session`]s, tampering,
//! replay protection (RFC 6479 window), counter exhaustion and key updates in both directions.
//!
//! Every scenario is generic over the AEAD backend and instantiated once per backend compiled
//! in (`rustcrypto::…`, and `ring::…` with `--features ring`).

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use lrp2p_proto::crypto::replay::WINDOW;
use lrp2p_proto::crypto::session::{COUNTER_LIMIT, TRANSPORT_OVERHEAD};
use lrp2p_proto::crypto::{Aead, KeyUpdateError, OpenError, Replay, SealError, Session};
use lrp2p_proto::wire::{ConnectionId, DecodeError, TRANSPORT_HEADER_LEN};

const INITIATOR_ID: ConnectionId = ConnectionId(0x1111_2222_3333_4444);
const RESPONDER_ID: ConnectionId = ConnectionId(0x5555_6666_7777_8888);

/// An initiator and a responder session over the same `Split()` keys (k1: i->r, k2: r->i).
fn pair<A: Aead>() -> (Session<A>, Session<A>) {
    let k1: [u8; 32] = core::array::from_fn(|i| i as u8);
    let k2: [u8; 32] = core::array::from_fn(|i| 0xff - i as u8);
    let initiator = Session::new(&k1, &k2, RESPONDER_ID).unwrap();
    let responder = Session::new(&k2, &k1, INITIATOR_ID).unwrap();
    (initiator, responder)
}

/// Seals `msg`; returns the datagram.
fn seal<A: Aead>(s: &mut Session<A>, msg: &[u8]) -> Vec<u8> {
    let mut buf = vec![0xa5u8; TRANSPORT_OVERHEAD + msg.len()];
    buf[TRANSPORT_HEADER_LEN..][..msg.len()].copy_from_slice(msg);
    let n = s.seal(&mut buf, msg.len()).unwrap();
    assert_eq!(n, buf.len());
    buf
}

/// Opens a copy of `datagram`; returns the plaintext or the error.
fn open<A: Aead>(s: &mut Session<A>, datagram: &[u8]) -> Result<Vec<u8>, OpenError> {
    let mut copy = datagram.to_vec();
    s.open(&mut copy).map(<[u8]>::to_vec)
}

/// The counter a datagram carries.
fn counter_of(datagram: &[u8]) -> u64 {
    u64::from_be_bytes(datagram[9..17].try_into().unwrap())
}

fn seal_open_round_trip<A: Aead>() {
    let (mut i, mut r) = pair::<A>();
    for len in [1usize, 2, 63, 64, 65, 1000, 1367] {
        let msg: Vec<u8> = (0..len).map(|b| (b * 7) as u8).collect();
        let d = seal(&mut i, &msg);
        assert_eq!(d.len(), len + TRANSPORT_OVERHEAD);
        assert_eq!(open(&mut r, &d).unwrap(), msg);
        let back = seal(&mut r, &msg);
        assert_eq!(&back[1..9], &INITIATOR_ID.to_bytes());
        assert_eq!(open(&mut i, &back).unwrap(), msg);
    }
    // The plaintext slice points into the caller's datagram; a larger buffer is fine for seal.
    let mut buf = [0u8; 1500];
    buf[17..20].copy_from_slice(b"abc");
    let n = i.seal(&mut buf, 3).unwrap();
    assert_eq!(n, 3 + TRANSPORT_OVERHEAD);
    assert_eq!(r.open(&mut buf[..n]).unwrap(), b"abc");
    assert_eq!(i.stats().sealed, 8);
    assert_eq!(r.stats().opened, 8);
}

fn tampering_fails<A: Aead>() {
    let (mut i, mut r) = pair::<A>();
    let d = seal(&mut i, b"segments go here");
    // Every single-bit flip anywhere (header, ciphertext, tag) is refused, and changes nothing.
    for at in 0..d.len() {
        for bit in [0x01u8, 0x80] {
            let mut bad = d.clone();
            bad[at] ^= bit;
            let err = open(&mut r, &bad).unwrap_err();
            match at {
                // Type byte: another version/type, or the other key phase (the next key, which
                // fails to authenticate).
                0 => assert!(matches!(err, OpenError::Malformed(_) | OpenError::Authentication), "{err:?}"),
                // receiver_id, counter (both in the AD), ciphertext, tag.
                _ => assert_eq!(err, OpenError::Authentication, "byte {at}"),
            }
        }
    }
    assert_eq!(r.stats().opened, 0);
    assert_eq!(r.stats().auth_failures + r.stats().malformed, 2 * d.len() as u64);
    assert!(!r.recv_key_phase(), "a forged phase bit must not rotate keys");
    // The genuine datagram still opens.
    assert_eq!(open(&mut r, &d).unwrap(), b"segments go here");
    // Truncated and wrong-typed datagrams are malformed.
    assert!(matches!(open(&mut r, &d[..TRANSPORT_OVERHEAD]), Err(OpenError::Malformed(_))));
    let mut wrong = d.clone();
    wrong[0] = 0x12;
    assert_eq!(open(&mut r, &wrong), Err(OpenError::Malformed(DecodeError::WrongType)));
}

fn replay_duplicate_rejected<A: Aead>() {
    let (mut i, mut r) = pair::<A>();
    let d0 = seal(&mut i, b"zero");
    let d1 = seal(&mut i, b"one");
    assert_eq!(open(&mut r, &d0).unwrap(), b"zero");
    assert_eq!(open(&mut r, &d0), Err(OpenError::Replay(Replay::Duplicate(0))));
    assert_eq!(open(&mut r, &d1).unwrap(), b"one");
    assert_eq!(open(&mut r, &d1), Err(OpenError::Replay(Replay::Duplicate(1))));
    assert_eq!(open(&mut r, &d0), Err(OpenError::Replay(Replay::Duplicate(0))));
    assert_eq!(r.stats().replays_dropped, 3);
    assert_eq!(r.stats().opened, 2);
}

fn replay_reordered_within_window_accepted<A: Aead>() {
    let (mut i, mut r) = pair::<A>();
    let ds: Vec<Vec<u8>> = (0..WINDOW + 100).map(|n| seal(&mut i, &n.to_be_bytes())).collect();
    // Newest first, then the rest backwards down to the window's edge: all accepted once.
    let newest = ds.len() - 1;
    for n in (newest + 1 - WINDOW as usize..=newest).rev() {
        assert_eq!(open(&mut r, &ds[n]).unwrap(), (n as u64).to_be_bytes(), "counter {n}");
    }
    for d in &ds[newest + 1 - WINDOW as usize..] {
        assert!(matches!(open(&mut r, d), Err(OpenError::Replay(Replay::Duplicate(_)))));
    }
    // Interleaved reordering: evens, then odds.
    let (mut i, mut r) = pair::<A>();
    let ds: Vec<Vec<u8>> = (0..200u32).map(|n| seal(&mut i, &n.to_be_bytes())).collect();
    for d in ds.iter().step_by(2).chain(ds.iter().skip(1).step_by(2)) {
        assert!(open(&mut r, d).is_ok(), "counter {}", counter_of(d));
    }
    assert_eq!(r.stats().opened, 200);
}

fn replay_too_old_rejected<A: Aead>() {
    let (mut i, mut r) = pair::<A>();
    let old = seal(&mut i, b"old");
    let edge = seal(&mut i, b"edge");
    i.skip_send_counter_to(WINDOW + 1);
    let new = seal(&mut i, b"new");
    assert_eq!(counter_of(&new), WINDOW + 1);
    assert_eq!(open(&mut r, &new).unwrap(), b"new");
    // highest = W + 1: counter 1 is W below it (too old); counter 2 would still be in.
    assert_eq!(
        open(&mut r, &old),
        Err(OpenError::Replay(Replay::TooOld { counter: 0, highest: WINDOW + 1 }))
    );
    assert_eq!(
        open(&mut r, &edge),
        Err(OpenError::Replay(Replay::TooOld { counter: 1, highest: WINDOW + 1 }))
    );
    assert_eq!(r.stats().replays_dropped, 2);
    assert_eq!(r.stats().auth_failures, 0, "too-old packets are refused before decryption");
}

fn replay_far_future_slides_window<A: Aead>() {
    let (mut i, mut r) = pair::<A>();
    let early: Vec<Vec<u8>> = (0..10u8).map(|n| seal(&mut i, &[n])).collect();
    for d in &early[..5] {
        open(&mut r, d).unwrap();
    }
    // A genuine jump of a million counters (the sender skipped them; allowed).
    i.skip_send_counter_to(1_000_000);
    let far = seal(&mut i, b"far");
    assert_eq!(open(&mut r, &far).unwrap(), b"far");
    assert_eq!(r.replay_window().highest(), 1_000_000);
    // The window slid: the early ones are now too old, even those never received.
    for d in &early {
        assert!(matches!(open(&mut r, d), Err(OpenError::Replay(Replay::TooOld { .. }))));
    }
    // Right behind the new highest, everything is acceptable and nothing stale is "seen".
    let mut r2 = pair::<A>().1;
    let (mut i2, _) = pair::<A>();
    i2.skip_send_counter_to(1_000_000 - WINDOW + 1);
    let behind = seal(&mut i2, b"behind");
    i2.skip_send_counter_to(1_000_000);
    let front = seal(&mut i2, b"front");
    assert_eq!(open(&mut r2, &front).unwrap(), b"front");
    assert_eq!(open(&mut r2, &behind).unwrap(), b"behind");
    // And the window keeps sliding from there with ordinary traffic.
    let next = seal(&mut i2, b"next");
    assert_eq!(counter_of(&next), 1_000_001);
    assert_eq!(open(&mut r2, &next).unwrap(), b"next");
    assert_eq!(r2.replay_window().highest(), 1_000_001);
}

fn replay_forged_counter_does_not_advance<A: Aead>() {
    let (mut i, mut r) = pair::<A>();
    let d0 = seal(&mut i, b"a");
    let d1 = seal(&mut i, b"b");
    assert_eq!(open(&mut r, &d0).unwrap(), b"a");
    // An attacker rewrites the counter of a captured datagram to something huge (both phases).
    for (counter, phase_flip) in [(1u64 << 50, false), (COUNTER_LIMIT - 1, false), (1 << 50, true)] {
        let mut forged = d0.clone();
        forged[9..17].copy_from_slice(&counter.to_be_bytes());
        if phase_flip {
            forged[0] ^= 0x01;
        }
        assert_eq!(open(&mut r, &forged), Err(OpenError::Authentication));
    }
    // Nothing moved: the genuine next datagram (counter 1) is still fresh.
    assert_eq!(r.replay_window().highest(), 0);
    assert!(!r.recv_key_phase());
    assert_eq!(open(&mut r, &d1).unwrap(), b"b");
    assert_eq!(r.stats().auth_failures, 3);
    // Counters a peer never sends are refused before decryption.
    let mut beyond = d1.clone();
    beyond[9..17].copy_from_slice(&COUNTER_LIMIT.to_be_bytes());
    assert_eq!(open(&mut r, &beyond), Err(OpenError::CounterOutOfRange(COUNTER_LIMIT)));
}

fn counter_exhaustion<A: Aead>() {
    let (mut i, mut r) = pair::<A>();
    i.skip_send_counter_to(COUNTER_LIMIT - 2);
    for msg in [&b"second to last"[..], b"last"] {
        let d = seal(&mut i, msg);
        assert_eq!(open(&mut r, &d).unwrap(), msg);
    }
    assert_eq!(i.next_send_counter(), COUNTER_LIMIT);
    let mut buf = [0u8; 64];
    buf[17] = 1;
    assert_eq!(i.seal(&mut buf, 1), Err(SealError::CounterExhausted));
    assert_eq!(buf[..17], [0u8; 17], "nothing written");
    // It stays exhausted; a key update does not reset counters (they continue across phases).
    i.initiate_key_update().unwrap();
    assert_eq!(i.seal(&mut buf, 1), Err(SealError::CounterExhausted));
    assert_eq!(i.stats().sealed, 2);
    // The other direction is independent.
    let d = seal(&mut r, b"still fine");
    assert_eq!(open(&mut i, &d).unwrap(), b"still fine");
}

fn key_update_initiator_then_responder<A: Aead>() {
    let (mut i, mut r) = pair::<A>();
    // Traffic in phase 0 both ways.
    let d = seal(&mut i, b"p0");
    open(&mut r, &d).unwrap();
    let d = seal(&mut r, b"p0 back");
    open(&mut i, &d).unwrap();

    // The initiator updates; the responder follows when it sees phase 1.
    i.initiate_key_update().unwrap();
    let d = seal(&mut i, b"p1");
    assert_eq!(d[0], 0x19);
    assert_eq!(open(&mut r, &d).unwrap(), b"p1");
    assert!(r.recv_key_phase() && r.send_key_phase() && r.has_previous_key());
    let d = seal(&mut r, b"p1 back");
    assert_eq!(d[0], 0x19);
    assert_eq!(open(&mut i, &d).unwrap(), b"p1 back");
    assert!(i.recv_key_phase() && !i.key_update_pending());
    assert_eq!((i.stats().recv_key_rotations, r.stats().recv_key_rotations), (1, 1));

    // Now the responder updates (back to phase 0, the third key of each chain).
    r.initiate_key_update().unwrap();
    let d = seal(&mut r, b"p2");
    assert_eq!(d[0], 0x18);
    assert_eq!(open(&mut i, &d).unwrap(), b"p2");
    assert!(!i.send_key_phase());
    let d = seal(&mut i, b"p2 back");
    assert_eq!(open(&mut r, &d).unwrap(), b"p2 back");
    assert_eq!((i.stats().recv_key_rotations, r.stats().recv_key_rotations), (2, 2));
    assert_eq!((i.stats().key_updates_initiated, r.stats().key_updates_initiated), (1, 1));

    // Many more updates keep both chains in step.
    for n in 0..20 {
        let (s, t) = if n % 2 == 0 { (&mut i, &mut r) } else { (&mut r, &mut i) };
        s.initiate_key_update().unwrap();
        let d = seal(s, b"ping");
        assert_eq!(open(t, &d).unwrap(), b"ping");
        let d = seal(t, b"pong");
        assert_eq!(open(s, &d).unwrap(), b"pong");
    }
}

fn key_update_reordered_across_phase_flip<A: Aead>() {
    let (mut i, mut r) = pair::<A>();
    let old: Vec<Vec<u8>> = (0..5u8).map(|n| seal(&mut i, &[b'o', n])).collect();
    i.initiate_key_update().unwrap();
    let new: Vec<Vec<u8>> = (0..5u8).map(|n| seal(&mut i, &[b'n', n])).collect();
    assert_eq!(counter_of(&new[0]), 5, "counters continue across phases");

    // Arrival order: old 0, new 2 (rotates), old 3, new 0, old 1, new 4, old 4, new 1, old 2, new 3.
    let order = [(&old, 0), (&new, 2), (&old, 3), (&new, 0), (&old, 1), (&new, 4), (&old, 4)];
    for (set, n) in order.into_iter().chain([(&new, 1), (&old, 2), (&new, 3)]) {
        let got = open(&mut r, &set[n]).unwrap();
        assert_eq!(got, expected(set, &old, n));
    }
    assert_eq!(r.stats().opened, 10);
    assert_eq!(r.stats().recv_key_rotations, 1);
    // Duplicates across the flip are still caught by the one window.
    assert!(matches!(open(&mut r, &old[3]), Err(OpenError::Replay(_))));
    assert!(matches!(open(&mut r, &new[2]), Err(OpenError::Replay(_))));

    // After the previous key is discarded, stragglers of the old phase cannot be opened.
    let (mut i, mut r) = pair::<A>();
    let straggler = seal(&mut i, b"late");
    i.initiate_key_update().unwrap();
    open(&mut r, &seal(&mut i, b"new")).unwrap();
    r.discard_previous_key();
    assert_eq!(open(&mut r, &straggler), Err(OpenError::KeyPhase));
    // And an old-phase datagram inside the new phase's counter range is never valid.
    let (mut i, mut r) = pair::<A>();
    i.skip_send_counter_to(10);
    let mut bogus = seal(&mut i, b"x");
    open(&mut r, &seal(&mut i, b"y")).unwrap();
    bogus[0] ^= 1; // claims phase 1 at counter 10 < highest 11 of phase 0
    assert_eq!(open(&mut r, &bogus), Err(OpenError::KeyPhase));
}

/// The plaintext of `set[n]` (old datagrams carry `o n`, new ones `n n`).
fn expected(set: &[Vec<u8>], old: &[Vec<u8>], n: usize) -> [u8; 2] {
    [if core::ptr::eq(set, old) { b'o' } else { b'n' }, n as u8]
}

fn key_update_simultaneous<A: Aead>() {
    let (mut i, mut r) = pair::<A>();
    i.initiate_key_update().unwrap();
    r.initiate_key_update().unwrap();
    let from_i = seal(&mut i, b"i1");
    let from_r = seal(&mut r, b"r1");
    assert_eq!(open(&mut r, &from_i).unwrap(), b"i1");
    assert_eq!(open(&mut i, &from_r).unwrap(), b"r1");
    // Both ended in phase 1 once, not twice.
    for s in [&i, &r] {
        assert!(s.send_key_phase() && s.recv_key_phase() && !s.key_update_pending());
    }
    let d = seal(&mut i, b"i2");
    assert_eq!(open(&mut r, &d).unwrap(), b"i2");
    let d = seal(&mut r, b"r2");
    assert_eq!(open(&mut i, &d).unwrap(), b"r2");
}

fn key_update_needs_confirmation<A: Aead>() {
    let (mut i, mut r) = pair::<A>();
    i.initiate_key_update().unwrap();
    assert_eq!(i.initiate_key_update(), Err(KeyUpdateError::InProgress));
    // Until the peer answers in phase 1, i keeps sealing in phase 1 and opening phase 0.
    let d = seal(&mut r, b"still p0");
    assert_eq!(d[0], 0x18);
    assert_eq!(open(&mut i, &d).unwrap(), b"still p0");
    assert!(i.key_update_pending());
    let d = seal(&mut i, b"p1");
    open(&mut r, &d).unwrap();
    let d = seal(&mut r, b"p1 back");
    open(&mut i, &d).unwrap();
    assert!(i.initiate_key_update().is_ok());
}

macro_rules! backend_tests {
    ($module:ident, $aead:ty) => {
        mod $module {
            type A = $aead;

            #[test]
            fn seal_open_round_trip() {
                super::seal_open_round_trip::<A>();
            }
            #[test]
            fn tampered_header_ciphertext_or_tag_fails() {
                super::tampering_fails::<A>();
            }
            #[test]
            fn replay_duplicate_rejected() {
                super::replay_duplicate_rejected::<A>();
            }
            #[test]
            fn replay_reordered_within_window_accepted() {
                super::replay_reordered_within_window_accepted::<A>();
            }
            #[test]
            fn replay_too_old_rejected() {
                super::replay_too_old_rejected::<A>();
            }
            #[test]
            fn replay_far_future_slides_window() {
                super::replay_far_future_slides_window::<A>();
            }
            #[test]
            fn replay_forged_counter_does_not_advance() {
                super::replay_forged_counter_does_not_advance::<A>();
            }
            #[test]
            fn counter_exhaustion() {
                super::counter_exhaustion::<A>();
            }
            #[test]
            fn key_update_initiator_then_responder() {
                super::key_update_initiator_then_responder::<A>();
            }
            #[test]
            fn key_update_reordered_across_phase_flip() {
                super::key_update_reordered_across_phase_flip::<A>();
            }
            #[test]
            fn key_update_simultaneous() {
                super::key_update_simultaneous::<A>();
            }
            #[test]
            fn key_update_needs_confirmation() {
                super::key_update_needs_confirmation::<A>();
            }
        }
    };
}

backend_tests!(rustcrypto, lrp2p_proto::crypto::RustCryptoAead);
#[cfg(feature = "ring")]
backend_tests!(ring, lrp2p_proto::crypto::RingAead);

/// Sessions of the two backends interoperate (same bytes on the wire).
#[cfg(feature = "ring")]
#[test]
fn ring_and_rustcrypto_sessions_interoperate() {
    use lrp2p_proto::crypto::{RingAead, RustCryptoAead};
    let (mut i, _) = pair::<RustCryptoAead>();
    let (_, mut r) = pair::<RingAead>();
    for n in 0..50u8 {
        if n % 10 == 9 {
            i.initiate_key_update().unwrap();
        }
        let d = seal(&mut i, &[n; 100]);
        assert_eq!(open(&mut r, &d).unwrap(), [n; 100]);
        let d = seal(&mut r, &[n; 10]);
        assert_eq!(open(&mut i, &d).unwrap(), [n; 10]);
    }
}
