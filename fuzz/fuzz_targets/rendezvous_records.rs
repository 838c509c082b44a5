//! Fuzzes the rendezvous `RecordReader` on arbitrary stream bytes, split where the first byte
//! says: no panic, every record it returns re-encodes to a record that decodes to itself, and a
//! failed reader takes nothing more.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lrp2p_proto::rendezvous::{MAX_RECORD_LEN, Record, RecordReader};

fuzz_target!(|data: &[u8]| {
    let Some((&step, stream)) = data.split_first() else { return };
    let step = usize::from(step).max(1);
    let mut reader = RecordReader::new();
    for chunk in stream.chunks(step) {
        let mut input = chunk;
        while !input.is_empty() {
            let before = input.len();
            match reader.push(&mut input) {
                Some(Ok(record)) => {
                    let mut bytes = Vec::new();
                    record.encode(&mut bytes);
                    assert!(bytes.len() <= MAX_RECORD_LEN);
                    assert_eq!(Record::decode(&bytes), Ok(record));
                }
                Some(Err(_)) => assert!(reader.is_failed()),
                None if reader.is_failed() => {
                    assert_eq!(input.len(), before);
                    return;
                }
                None => assert!(input.is_empty()),
            }
        }
    }
});
