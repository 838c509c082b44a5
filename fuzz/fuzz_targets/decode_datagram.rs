//! Fuzzes `Datagram::parse` on arbitrary bytes: it must never panic, and every datagram that
//! parses must re-emit to bytes that parse to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lrp2p_proto::wire::{Datagram, cookie_mac_covered};

fuzz_target!(|data: &[u8]| {
    let _ = cookie_mac_covered(data);
    if let Ok(d) = Datagram::parse(data) {
        let mut buf = vec![0u8; d.buffer_len()];
        let n = d.emit(&mut buf).expect("a parsed datagram re-emits");
        assert_eq!(Datagram::parse(&buf[..n]), Ok(d));
    }
});
