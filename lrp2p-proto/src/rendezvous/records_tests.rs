//! Tests of the rendezvous records: PROTOCOL.md C.8's vectors, a proptest round trip, decoding
//! split at every byte, and one malformed record per [`RecordError`] variant.
#![allow(clippy::unwrap_used)]
use proptest::prelude::*;

use super::*;

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn key(first: u8) -> PublicKey {
    PublicKey::from_bytes(core::array::from_fn(|i| first.wrapping_add(u8::try_from(i).unwrap())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    let text: String = text.split_whitespace().collect();
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

fn encoded(record: &Record) -> Vec<u8> {
    let mut out = Vec::new();
    record.encode(&mut out);
    out
}

/// PROTOCOL.md Appendix C.8, one record of each type, byte for byte.
fn vectors() -> Vec<(Record, &'static str)> {
    vec![
        (
            Record::Register { locals: vec![addr("192.168.1.10:4000"), addr("[fd00::1]:4000")] },
            "01 001b 02 04c0a8010a0fa0 06fd0000000000000000000000000000010fa0",
        ),
        (
            Record::Registered { observed: addr("203.0.113.7:51820"), ttl_s: 60 },
            "02 0009 04cb007107ca6c 003c",
        ),
        (
            Record::Lookup { key: key(0) },
            "03 0020 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        ),
        (
            Record::Introduce(Introduction {
                key: key(0),
                observed: addr("198.51.100.20:40000"),
                locals: vec![addr("10.0.0.2:4000")],
                rtt_ms: 48,
            }),
            "04 0031 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f \
             04c6336414 9c40 01 040a0000020fa0 0030",
        ),
        (
            Record::NotFound { key: key(0x20) },
            "05 0020 202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f",
        ),
    ]
}

#[test]
fn protocol_md_c8_vectors() {
    for (record, text) in vectors() {
        let bytes = unhex(text);
        assert_eq!(hex(&encoded(&record)), hex(&bytes), "{record:?}");
        assert_eq!(Record::decode(&bytes), Ok(record));
    }
}

/// The same vectors as PROTOCOL.md prints them: the code blocks of C.8, in order.
#[test]
fn protocol_md_c8_text() {
    let spec = include_str!("../../../docs/PROTOCOL.md");
    let start = spec.find("**C.8 Rendezvous records**").unwrap();
    // Up to the next vector (or the next section).
    let rest = &spec[start + 1..];
    let end = start + 1 + rest.find("\n**C.").or_else(|| rest.find("\n## ")).unwrap();
    let blocks: Vec<&str> = spec[start..end].split("```").skip(1).step_by(2).collect();
    let expected = vectors();
    assert_eq!(blocks.len(), expected.len());
    for (block, (record, text)) in blocks.iter().zip(expected) {
        assert_eq!(unhex(block), unhex(text), "{record:?}");
    }
}

#[test]
fn split_at_every_byte() {
    let records: Vec<Record> = vectors().into_iter().map(|(r, _)| r).collect();
    let mut stream = Vec::new();
    for r in &records {
        r.encode(&mut stream);
    }
    for cut in 0..=stream.len() {
        let mut reader = RecordReader::new();
        let mut got = Vec::new();
        for part in [&stream[..cut], &stream[cut..]] {
            let mut input = part;
            while !input.is_empty() {
                if let Some(r) = reader.push(&mut input) {
                    got.push(r.unwrap());
                }
            }
        }
        assert_eq!(got, records, "cut at {cut}");
        assert!(reader.is_idle());
    }
    // And one byte at a time.
    let mut reader = RecordReader::new();
    let mut got = Vec::new();
    for b in &stream {
        let mut input = core::slice::from_ref(b);
        if let Some(r) = reader.push(&mut input) {
            got.push(r.unwrap());
        }
        assert!(input.is_empty());
    }
    assert_eq!(got, records);
}

#[test]
fn largest_record_fits() {
    let v6 = addr("[2001:db8::1]:65535");
    let record =
        Record::Introduce(Introduction { key: key(1), observed: v6, locals: vec![v6; 8], rtt_ms: u16::MAX });
    let bytes = encoded(&record);
    assert_eq!(bytes.len(), MAX_RECORD_LEN);
    let mut reader = RecordReader::new();
    assert_eq!(reader.push(&mut &bytes[..]), Some(Ok(record)));
    // Locals beyond 8 are not written.
    let nine = Record::Register { locals: vec![v6; 9] };
    assert_eq!(Record::decode(&encoded(&nine)), Ok(Record::Register { locals: vec![v6; 8] }));
}

/// Feeds `bytes` to a fresh reader and returns its first result.
fn first(bytes: &[u8]) -> Option<Result<Record, RecordError>> {
    let mut reader = RecordReader::new();
    let mut input = bytes;
    let result = reader.push(&mut input);
    if let Some(Err(_)) = result {
        assert!(reader.is_failed());
        assert_eq!(reader.push(&mut input), None, "a failed reader takes nothing more");
    }
    result
}

#[test]
fn each_error() {
    // Unknown types, 0x00 and 0x06, fail on the header alone.
    assert_eq!(first(&unhex("00 0000")), Some(Err(RecordError::UnknownType(0))));
    assert_eq!(first(&unhex("06")), None);
    assert_eq!(first(&unhex("06 0000")), Some(Err(RecordError::UnknownType(6))));
    // A len above the type's largest body fails before the body arrives.
    assert_eq!(first(&unhex("03 0021")), Some(Err(RecordError::TooLong { kind: 3, len: 33 })));
    assert_eq!(first(&unhex("04 00cf")), Some(Err(RecordError::TooLong { kind: 4, len: 207 })));
    assert_eq!(first(&unhex("01 ffff")), Some(Err(RecordError::TooLong { kind: 1, len: 0xffff })));
    // Truncated: a LOOKUP of 31 bytes; a REGISTER whose count promises more than len holds.
    let mut short = unhex("03 001f");
    short.extend_from_slice(&[0; 31]);
    assert_eq!(first(&short), Some(Err(RecordError::Truncated)));
    assert_eq!(first(&unhex("01 0001 01")), Some(Err(RecordError::Truncated)));
    assert_eq!(first(&unhex("02 0007 04cb007107ca6c")), Some(Err(RecordError::Truncated)));
    // Trailing bytes: a REGISTER with no address and one byte more.
    assert_eq!(first(&unhex("01 0002 00 00")), Some(Err(RecordError::TrailingBytes(1))));
    assert_eq!(first(&unhex("02 000a 04cb007107ca6c 003c ff")), Some(Err(RecordError::TrailingBytes(1))));
    // Count above 8.
    assert_eq!(first(&unhex("01 0001 09")), Some(Err(RecordError::TooManyAddresses(9))));
    // Family not 4 or 6.
    assert_eq!(first(&unhex("02 0009 05cb007107ca6c 003c")), Some(Err(RecordError::BadFamily(5))));
    // Port 0.
    assert_eq!(first(&unhex("02 0009 04cb0071070000 003c")), Some(Err(RecordError::ZeroPort)));
    // Record::decode reports the same, and a whole record with more after it.
    assert_eq!(Record::decode(&unhex("01 0001 09")), Err(RecordError::TooManyAddresses(9)));
    assert_eq!(Record::decode(&unhex("01 0001 00 00")), Err(RecordError::TrailingBytes(1)));
    assert_eq!(Record::decode(&unhex("01 0001")), Err(RecordError::Truncated));
    assert_eq!(Record::decode(&unhex("01 00")), Err(RecordError::Truncated));
}

#[test]
fn reader_stops_at_a_record_end() {
    let mut stream = encoded(&Record::Lookup { key: key(3) });
    let second = encoded(&Record::NotFound { key: key(4) });
    stream.extend_from_slice(&second);
    let mut reader = RecordReader::new();
    let mut input = &stream[..];
    assert_eq!(reader.push(&mut input), Some(Ok(Record::Lookup { key: key(3) })));
    assert_eq!(input, &second[..], "the second record is left in the input");
    assert_eq!(reader.push(&mut input), Some(Ok(Record::NotFound { key: key(4) })));
    assert_eq!(reader.push(&mut input), None);
    // A stream that stops mid-record leaves the reader busy.
    let mut reader = RecordReader::new();
    assert_eq!(reader.push(&mut &second[..5]), None);
    assert!(!reader.is_idle() && !reader.is_failed());
}

fn any_addr() -> impl Strategy<Value = SocketAddr> + Clone {
    prop_oneof![
        (any::<[u8; 4]>(), 1..=u16::MAX).prop_map(|(ip, port)| SocketAddr::new(IpAddr::from(ip), port)),
        (any::<[u8; 16]>(), 1..=u16::MAX).prop_map(|(ip, port)| SocketAddr::new(IpAddr::from(ip), port)),
    ]
}

fn any_record() -> impl Strategy<Value = Record> {
    let key = any::<[u8; 32]>().prop_map(PublicKey::from_bytes);
    let locals = proptest::collection::vec(any_addr(), 0..=MAX_LOCALS);
    prop_oneof![
        locals.clone().prop_map(|locals| Record::Register { locals }),
        (any_addr(), any::<u16>()).prop_map(|(observed, ttl_s)| Record::Registered { observed, ttl_s }),
        key.clone().prop_map(|key| Record::Lookup { key }),
        (key.clone(), any_addr(), locals, any::<u16>()).prop_map(|(key, observed, locals, rtt_ms)| {
            Record::Introduce(Introduction { key, observed, locals, rtt_ms })
        }),
        key.prop_map(|key| Record::NotFound { key }),
    ]
}

proptest! {
    #[test]
    fn round_trip(records in proptest::collection::vec(any_record(), 1..6), cuts in any::<[usize; 3]>()) {
        let mut stream = Vec::new();
        for r in &records {
            let start = stream.len();
            r.encode(&mut stream);
            prop_assert_eq!(Record::decode(&stream[start..]), Ok(r.clone()));
            prop_assert!(stream.len() - start <= MAX_RECORD_LEN);
        }
        let mut cuts = cuts.map(|c| c % (stream.len() + 1));
        cuts.sort_unstable();
        let parts = [&stream[..cuts[0]], &stream[cuts[0]..cuts[1]], &stream[cuts[1]..cuts[2]], &stream[cuts[2]..]];
        let mut reader = RecordReader::new();
        let mut got = Vec::new();
        for part in parts {
            let mut input = part;
            while !input.is_empty() {
                if let Some(r) = reader.push(&mut input) {
                    got.push(r);
                }
            }
        }
        prop_assert_eq!(got, records.into_iter().map(Ok).collect::<Vec<_>>());
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut reader = RecordReader::new();
        let mut input = &bytes[..];
        while let Some(result) = reader.push(&mut input) {
            if let Ok(record) = result {
                // Whatever decodes re-encodes to the same record: the layout has one form.
                prop_assert_eq!(Record::decode(&encoded(&record)), Ok(record));
            }
        }
        let _ = Record::decode(&bytes);
    }
}
