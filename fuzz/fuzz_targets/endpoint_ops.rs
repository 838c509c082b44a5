//! The endpoint state machine under a sequence of operations and time steps chosen by the
//! fuzzer: raw and replayed datagrams, a peer's and the application's calls, a lossy, mutating
//! wire and virtual time; invariants checked after every step (see
//! `lrp2p_proto::fuzzing::endpoint_ops`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lrp2p_proto::fuzzing::endpoint_ops(data));
