//! An initiator endpoint (IK or XX, 0-RTT, cookies) fed real responses, cookie replies and
//! transport packets of a real responder, mutated, relayed and forged by the fuzzer, and
//! arbitrary bytes: nothing may panic, state stays bounded, garbage never ends the connection,
//! and a valid response still completes the handshake (see
//! `lrp2p_proto::fuzzing::initiator_handshake`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lrp2p_proto::fuzzing::initiator_handshake(data));
