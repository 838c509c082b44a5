//! Fuzzes `Segments::parse` and the four handshake payload parsers on arbitrary bytes: none may
//! panic, and whatever parses must re-emit to bytes that parse to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lrp2p_proto::wire::{IkInitPayload, IkResponsePayload, Segments, XxFinishPayload, XxResponsePayload};

macro_rules! round_trip {
    ($parse:path, $data:expr) => {
        if let Ok(repr) = $parse($data) {
            let mut buf = vec![0u8; repr.buffer_len()];
            let n = repr.emit(&mut buf).expect("a parsed value re-emits");
            assert_eq!($parse(&buf[..n]), Ok(repr));
        }
    };
}

fuzz_target!(|data: &[u8]| {
    round_trip!(Segments::parse, data);
    round_trip!(Segments::parse_allow_empty, data);
    round_trip!(IkInitPayload::parse, data);
    round_trip!(IkResponsePayload::parse, data);
    round_trip!(XxResponsePayload::parse, data);
    round_trip!(XxFinishPayload::parse, data);
});
