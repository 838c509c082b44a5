//! A responder fed arbitrary handshake datagrams, and real initiations mutated by the fuzzer:
//! nothing may panic, responses stay within 3x what was received, early data is accepted at
//! most once (see `lrp2p_proto::fuzzing::responder_handshake`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lrp2p_proto::fuzzing::responder_handshake(data));
