//! Entry points for the cargo-fuzz targets (feature `fuzzing`; not part of the stable API).
//!
//! Each function takes the fuzzer's bytes, drives real protocol code with them and asserts the
//! invariants that must hold for any input. Keeping them here keeps the targets a few lines
//! long and lets clippy and the tests see this code.
//!
//! - [`responder_handshake`]: the handshake functions on arbitrary and mutated datagrams.
//! - [`endpoint_ops`]: the [`Endpoint`](crate::endpoint::Endpoint) state machine under a
//!   sequence of operations and time steps (`endpoint/`).
//! - [`initiator_handshake`]: an initiator endpoint fed real, mutated and forged responses,
//!   cookie replies and transport packets of a real responder (`initiator/`).

mod endpoint;
mod initiator;

pub use self::endpoint::endpoint_ops;
pub use self::initiator::initiator_handshake;

use rand_core::{CryptoRng, RngCore, impls};

use crate::crypto::early::{EarlyDataConfig, EarlyDataGuard};
use crate::handshake::{
    read_ik_initiation, read_xx_finish, read_xx_initiation, write_ik_initiation, write_ik_response,
    write_xx_initiation, write_xx_response,
};
use crate::identity::StaticSecret;
use crate::wire::{
    AckRepr, ConnectionId, DataRepr, Datagram, IkInitPayload, IkResponsePayload, SackRanges, Segments, Seq,
    Tail, XxResponsePayload,
};

/// The responder's wall clock in these runs (ns since the Unix epoch).
const NOW_NS: u64 = 1_700_000_000_000_000_000;

/// A deterministic, *insecure* RNG for fuzzing: SplitMix64. Never use it for real keys.
pub struct FuzzRng(u64);

impl RngCore for FuzzRng {
    fn next_u32(&mut self) -> u32 {
        // The high half. (Not `impls::next_u32_via_fill`: `fill_bytes_via_next` takes a short
        // tail from `next_u32`, so the two would call each other forever.)
        let [.., a, b, c, d] = self.next_u64().to_le_bytes();
        u32::from_le_bytes([a, b, c, d])
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        impls::fill_bytes_via_next(self, dest);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

// Only for fuzzing: the "randomness" is public. Marked so that the handshake API accepts it.
impl CryptoRng for FuzzRng {}

/// A responder fed arbitrary handshake datagrams. The first byte picks a mode:
/// 0 — the rest is a datagram from anyone; 1 — a real IK initiation (with early data) XORed
/// with the rest, delivered twice; 2 — a real XX initiation, then the rest as the XX finish.
///
/// Invariants: nothing panics; a response never exceeds 3× the initiation's size (PROTOCOL.md
/// §10.4); early data from one initiation is accepted at most once.
pub fn responder_handshake(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let responder = StaticSecret::from_bytes([0x11; 32]);
    let initiator = StaticSecret::from_bytes([0x22; 32]);
    let mut rng = FuzzRng(u64::from(mode));
    let mut guard = EarlyDataGuard::new(EarlyDataConfig::default(), NOW_NS - 60_000_000_000);
    let mut datagram = [0u8; 1500];
    match mode % 3 {
        0 => {
            respond(&responder, &mut guard, &mut rng, rest);
        }
        1 => {
            let payload = IkInitPayload {
                timestamp_ns: NOW_NS,
                isn: Seq(7),
                segments: Segments { ack: None, tail: Some(Tail::Data(data_segment(Seq(7)))) },
            };
            let Ok((_, n)) = write_ik_initiation(
                &mut rng,
                &initiator,
                &responder.public_key(),
                ConnectionId(5),
                &payload,
                None,
                &mut datagram,
            ) else {
                panic!("a valid initiation must encode");
            };
            let len = n.min(datagram.len()).max(rest.len().min(datagram.len()));
            for (byte, mask) in datagram[..len].iter_mut().zip(rest) {
                *byte ^= mask;
            }
            let first = respond(&responder, &mut guard, &mut rng, &datagram[..len]);
            let second = respond(&responder, &mut guard, &mut rng, &datagram[..len]);
            assert!(!(first && second), "early data of one initiation accepted twice");
        }
        _ => {
            let Ok((_, n)) = write_xx_initiation(&mut rng, &initiator, ConnectionId(5), None, &mut datagram)
            else {
                panic!("a valid initiation must encode");
            };
            let Ok(Datagram::XxInitiation(init)) = Datagram::parse(&datagram[..n]) else {
                panic!("a valid initiation must parse");
            };
            let Ok(received) = read_xx_initiation(&responder, &init) else {
                panic!("a valid initiation must be read");
            };
            let mut response = [0u8; 256];
            let payload = XxResponsePayload { responder_id: ConnectionId(6), isn: Seq(9) };
            let Ok((waiting, _)) =
                write_xx_response(&mut rng, received, ConnectionId(5), &payload, &mut response)
            else {
                panic!("a valid response must encode");
            };
            if let Ok(Datagram::XxFinish(finish)) = Datagram::parse(rest) {
                let mut plain = [0u8; 2048];
                let _ = read_xx_finish(&waiting, &finish, &mut plain);
            }
        }
    }
}

fn data_segment(seq: Seq) -> DataRepr<'static> {
    DataRepr { seq, fin: false, rtx: false, ping: false, app_protocol: None, payload: b"early data" }
}

/// Processes one datagram as a responder would; returns whether early data was accepted.
fn respond(responder: &StaticSecret, guard: &mut EarlyDataGuard, rng: &mut FuzzRng, bytes: &[u8]) -> bool {
    let mut out = [0u8; 2048];
    let mut plain = [0u8; 2048];
    match Datagram::parse(bytes) {
        Ok(Datagram::IkInitiation(init)) => {
            let Ok((state, payload)) = read_ik_initiation(responder, &init, &mut plain) else {
                return false;
            };
            let accepted =
                guard.check_and_record(&state.remote_static(), payload.timestamp_ns, NOW_NS).is_ok()
                    && payload.segments.tail.is_some();
            let ack = AckRepr {
                cumulative: if accepted { payload.isn } else { payload.isn.prev() },
                window: 64,
                ping: false,
                sack: SackRanges::EMPTY,
                ack_delay_us: None,
                dsack: crate::wire::DsackRanges::EMPTY,
                echo: None,
            };
            let response = IkResponsePayload {
                responder_id: ConnectionId(6),
                isn: Seq(1),
                segments: Segments { ack: Some(ack), tail: None },
            };
            let receiver = init.sender_id;
            if let Ok((_, n)) = write_ik_response(rng, state, receiver, &response, &mut out) {
                assert!(n <= 3 * bytes.len(), "amplification: {n} bytes sent for {} received", bytes.len());
            }
            accepted
        }
        Ok(Datagram::XxInitiation(init)) => {
            if let Ok(state) = read_xx_initiation(responder, &init) {
                let payload = XxResponsePayload { responder_id: ConnectionId(6), isn: Seq(1) };
                let sent = write_xx_response(rng, state, init.sender_id, &payload, &mut out);
                if let Ok((_, n)) = sent {
                    assert!(n <= 3 * bytes.len(), "amplification: {n} bytes for {}", bytes.len());
                }
            }
            false
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz_rng_draws_every_width() {
        let mut rng = FuzzRng(1);
        let (a, b) = (rng.next_u32(), rng.next_u32());
        assert_ne!(a, b);
        for len in 0..20 {
            let mut bytes = vec![0u8; len];
            rng.fill_bytes(&mut bytes);
        }
    }

    #[test]
    fn fuzz_entry_points_run_on_sample_inputs() {
        for mode in 0u8..6 {
            responder_handshake(&[mode]);
            responder_handshake(&[mode, 1, 2, 3]);
            responder_handshake(&[mode; 200]);
        }
        // Mode 1 with an all-zero mask delivers the real initiation twice: accepted once.
        responder_handshake(&[1; 1]);
    }
}
