//! Byte-vector tests for `handshake.rs`: every Noise handshake datagram emitted into
//! `0xa5`-filled buffers, and the length and connection-id rules of PROTOCOL §2-3.
//!
//! ```text
//! | type | receiver_id | [sender_id] | Noise message | [cookie_mac] |   (see handshake.rs)
//! ```

use super::*;
use crate::wire::test_util::hex;

const A: ConnectionId = ConnectionId(0x0a0a_0a0a_0a0a_0a0a);
const B: ConnectionId = ConnectionId(0x0b0b_0b0b_0b0b_0b0b);

#[test]
fn sizes_match_the_protocol() {
    assert_eq!(IK_INITIATION_OVERHEAD, 129);
    assert_eq!(IK_INITIATION_MIN_LEN, 141);
    assert_eq!(IK_RESPONSE_OVERHEAD, 57);
    assert_eq!(IK_RESPONSE_MIN_LEN, 78);
    assert_eq!(XX_INITIATION_LEN, 65);
    assert_eq!(XX_RESPONSE_LEN, 117);
    assert_eq!(XX_FINISH_OVERHEAD, 73);
    assert_eq!(XX_FINISH_MIN_LEN, 77);
}

#[test]
fn ik_initiation_bytes() {
    let noise = [0x77u8; 108];
    let r = IkInitiationRepr { sender_id: A, noise: &noise, cookie_mac: [0xcc; 16] };
    let mut buf = [0xa5u8; 142];
    assert_eq!(r.emit(&mut buf), Ok(141));
    let expected = format!("11{}{}{}{}a5", "00".repeat(8), "0a".repeat(8), "77".repeat(108), "cc".repeat(16));
    assert_eq!(hex(&buf), expected);
    assert_eq!(IkInitiationRepr::parse(&buf[..141]), Ok(r));
    // Longer payloads are fine; one byte short of the minimum is not.
    assert_eq!(IkInitiationRepr::parse(&buf[..142]).map(|r| r.noise.len()), Ok(109));
    let short = IkInitiationRepr::parse(&buf[..140]);
    assert_eq!(short, Err(DecodeError::Truncated { needed: 141, had: 140 }));
    let short_noise = IkInitiationRepr { noise: &noise[..107], ..r };
    assert!(matches!(short_noise.emit(&mut buf), Err(DecodeError::FieldOutOfRange(_))));
    // receiver_id must be 0 on an initiation, sender_id never 0.
    buf[8] = 1;
    let err = IkInitiationRepr::parse(&buf[..141]);
    assert_eq!(err, Err(DecodeError::BadConnectionId));
    let zero = IkInitiationRepr { sender_id: ConnectionId::NONE, ..r };
    assert_eq!(zero.emit(&mut buf), Err(DecodeError::BadConnectionId));
}

#[test]
fn ik_response_bytes() {
    // No sender id in the clear: the responder's id travels in the encrypted payload.
    let noise = [0x66u8; 69];
    let r = IkResponseRepr { receiver_id: A, noise: &noise };
    let mut buf = [0xa5u8; 79];
    assert_eq!(r.emit(&mut buf), Ok(78));
    let expected = format!("12{}{}a5", "0a".repeat(8), "66".repeat(69));
    assert_eq!(hex(&buf), expected);
    assert_eq!(IkResponseRepr::parse(&buf[..78]), Ok(r));
    // PROTOCOL.md §4.3: 78 bytes at least (the payload holds its id, isn and ACK), checked
    // before any cryptography.
    assert_eq!(IkResponseRepr::parse(&buf[..77]), Err(DecodeError::Truncated { needed: 78, had: 77 }));
    let short_noise = IkResponseRepr { noise: &noise[..68], ..r };
    assert!(matches!(short_noise.emit(&mut buf), Err(DecodeError::FieldOutOfRange(_))));
    buf[1..9].fill(0);
    assert_eq!(IkResponseRepr::parse(&buf[..78]), Err(DecodeError::BadConnectionId));
    let none = IkResponseRepr { receiver_id: ConnectionId::NONE, ..r };
    assert_eq!(none.emit(&mut buf), Err(DecodeError::BadConnectionId));
}

#[test]
fn xx_initiation_and_response_are_exact() {
    let e = [0x11u8; 32];
    let init = XxInitiationRepr { sender_id: A, noise: &e, cookie_mac: [0; 16] };
    let mut buf = [0xa5u8; 118];
    assert_eq!(init.emit(&mut buf), Ok(65));
    let expected = format!("13{}{}{}{}", "00".repeat(8), "0a".repeat(8), "11".repeat(32), "00".repeat(16));
    assert_eq!(hex(&buf[..65]), expected);
    assert_eq!(buf[65], 0xa5);
    assert_eq!(XxInitiationRepr::parse(&buf[..65]), Ok(init));
    assert_eq!(XxInitiationRepr::parse(&buf[..66]), Err(DecodeError::TrailingBytes(1)));

    let noise = [0x22u8; 108];
    let resp = XxResponseRepr { receiver_id: A, noise: &noise };
    assert_eq!(resp.emit(&mut buf), Ok(117));
    let expected = format!("14{}{}a5", "0a".repeat(8), "22".repeat(108));
    assert_eq!(hex(&buf), expected);
    assert_eq!(XxResponseRepr::parse(&buf[..117]), Ok(resp));
    assert_eq!(XxResponseRepr::parse(&buf), Err(DecodeError::TrailingBytes(1)));
    assert!(XxResponseRepr::parse(&buf[..116]).is_err());
    assert_eq!(XxInitiationRepr::parse(&buf[..117]), Err(DecodeError::WrongType));
}

#[test]
fn xx_finish_bytes() {
    let noise = [0x44u8; 68];
    let r = XxFinishRepr { receiver_id: B, noise: &noise };
    let mut buf = [0xa5u8; 78];
    assert_eq!(r.emit(&mut buf), Ok(77));
    assert_eq!(hex(&buf), format!("15{}{}a5", "0b".repeat(8), "44".repeat(68)));
    assert_eq!(XxFinishRepr::parse(&buf[..77]), Ok(r));
    let view = HandshakePacket::new_checked(&buf[..77]).unwrap();
    assert_eq!((view.sender_id(), view.cookie_mac(), view.noise().len()), (None, None, 68));
    assert!(XxFinishRepr::parse(&buf[..76]).is_err());
    assert!(matches!(
        XxFinishRepr { noise: &noise[..67], ..r }.emit(&mut buf),
        Err(DecodeError::FieldOutOfRange(_))
    ));
}

#[test]
fn view_rejects_other_types() {
    let mut buf = [0u8; 200];
    buf[1..9].copy_from_slice(&A.to_bytes());
    buf[9..17].copy_from_slice(&B.to_bytes());
    for (byte, err) in [
        (0x16, DecodeError::WrongType),
        (0x18, DecodeError::WrongType),
        (0x17, DecodeError::UnknownType(7)),
        (0x21, DecodeError::UnknownVersion(2)),
    ] {
        buf[0] = byte;
        assert_eq!(HandshakePacket::new_checked(&buf[..]).err(), Some(err));
    }
    assert!(HandshakePacket::new_checked(&buf[..0]).is_err());
}
