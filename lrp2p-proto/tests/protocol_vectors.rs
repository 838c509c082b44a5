//! The test vectors of `docs/PROTOCOL.md` Appendix C, reproduced by this implementation.
//! If the spec or the code drifts, these fail: the document is normative.

#![allow(clippy::unwrap_used)]

use lrp2p_proto::StaticSecret;
use lrp2p_proto::crypto::cookie::cookie_mac;
use lrp2p_proto::crypto::noise::ik::{IkInitiator, IkResponder};
use lrp2p_proto::crypto::noise::prologue;
use lrp2p_proto::crypto::{Aead, RustCryptoAead, Session};
use lrp2p_proto::wire::{ConnectionId, PacketType, TRANSPORT_HEADER_LEN};
use rand_core::{CryptoRng, RngCore, impls};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn key(s: &str) -> [u8; 32] {
    hex(s).try_into().unwrap()
}

struct Script(Vec<u8>);
impl RngCore for Script {
    fn next_u32(&mut self) -> u32 {
        impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        let rest = self.0.split_off(dest.len());
        dest.copy_from_slice(&self.0);
        self.0 = rest;
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for Script {}

const INIT_STATIC: &str = "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1";
const INIT_EPH: &str = "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a";
const RESP_STATIC: &str = "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893";
const RESP_EPH: &str = "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b";

#[test]
fn c1_prologue() {
    assert_eq!(prologue(ConnectionId(0x0102_0304_0506_0708)).to_vec(), hex("6c72703270010102030405060708"));
}

#[test]
fn c2_ik_handshake_and_first_transport_packet() {
    let initiator = StaticSecret::from_bytes(key(INIT_STATIC));
    let responder = StaticSecret::from_bytes(key(RESP_STATIC));
    assert_eq!(
        initiator.public_key().as_bytes().to_vec(),
        hex("6bc3822a2aa7f4e6981d6538692b3cdf3e6df9eea6ed269eb41d93c22757b75a")
    );
    let init_id = ConnectionId(0x0102_0304_0506_0708);
    let resp_id = ConnectionId(0x1112_1314_1516_1718);
    let p = prologue(init_id);

    // IK initiation: header, Noise message 1, cookie_mac.
    let payload1 = hex("17979cfe362a0000 00000064 060000000064 6869");
    let mut datagram = vec![PacketType::IkInitiation.to_byte()];
    datagram.extend_from_slice(&ConnectionId::NONE.to_bytes());
    datagram.extend_from_slice(&init_id.to_bytes());
    let mut noise = [0u8; 256];
    let (waiting, n1) = IkInitiator::start(
        &mut Script(key(INIT_EPH).to_vec()),
        &initiator,
        &responder.public_key(),
        &p,
        &payload1,
        &mut noise,
    )
    .unwrap();
    datagram.extend_from_slice(&noise[..n1]);
    let covered = datagram.clone();
    datagram.extend_from_slice(&[0u8; 16]);
    let expected = hex("11 0000000000000000 0102030405060708
         ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944
         0b03ddc7aac5123d06a1b23b71670e32e76c28239a7ca4ac8f784de7e44c1adb
         f240f469cb399813ae6991df381e62f8
         20ffef95bc2502ea141b0aeb34fcca3d4acb20689338c7f99a01315591acee15
         08c43386
         00000000000000000000000000000000");
    assert_eq!(datagram, expected);
    let cookie: [u8; 16] = hex("000102030405060708090a0b0c0d0e0f").try_into().unwrap();
    assert_eq!(cookie_mac(&cookie, &covered).to_vec(), hex("5896a391ad8db240ad708c46cf2bc1fd"));

    // IK response.
    let mut early = [0u8; 256];
    let (received, e) = IkResponder::read_initiation(&responder, &p, &noise[..n1], &mut early).unwrap();
    assert_eq!(early[..e].to_vec(), payload1);
    let payload2 = hex("1112131415161718 000003e8 09 01 00000064 000400");
    let mut msg2 = [0u8; 256];
    let (resp_done, n2) =
        received.write_response(&mut Script(key(RESP_EPH).to_vec()), &payload2, &mut msg2).unwrap();
    let mut response = vec![PacketType::IkResponse.to_byte()];
    response.extend_from_slice(&init_id.to_bytes());
    response.extend_from_slice(&msg2[..n2]);
    assert_eq!(
        response,
        hex("12 0102030405060708
             95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843
             85d2c9f40b65fe2f318303b9d40d310093f7cc2b752991801474427426e6496bcfc65b9abb")
    );
    let mut out = [0u8; 64];
    let (init_done, m) = waiting.read_response(&msg2[..n2], &mut out).unwrap();
    assert_eq!(out[..m].to_vec(), payload2);
    let h = hex("3bd69be038ba367f0bf766403bded040ae3079ea31659544004f524b9c63233e");
    assert_eq!(init_done.handshake_hash().to_vec(), h);
    assert_eq!(resp_done.handshake_hash().to_vec(), h);
    let (k1, k2) = init_done.into_keys();
    assert_eq!(k1.to_vec(), hex("5f098179a66cf7bcf05c827118632c5e8196e9b3180b19a79808f56c9aa21bbe"));
    assert_eq!(k2.to_vec(), hex("72b76a299926ffeddd2a4305781399ff17d3eedc9f809287d544d9115041d7d8"));

    // The initiator's first transport packet: an ACK of isn_r - 1 = 999, window 1024.
    let mut session = Session::<RustCryptoAead>::new(&k1, &k2, resp_id).unwrap();
    let plaintext = hex("09 01 000003e7 000400");
    let mut buf = [0u8; 128];
    buf[TRANSPORT_HEADER_LEN..][..plaintext.len()].copy_from_slice(&plaintext);
    let len = session.seal(&mut buf, plaintext.len()).unwrap();
    assert_eq!(
        buf[..len].to_vec(),
        hex("18 1112131415161718 0000000000000000 630a4e91a20a40a7e1 fbd368bed8ad1f5722bbd4a76a848d01")
    );
}

#[test]
fn c3_transport_packet_and_key_update() {
    let k: [u8; 32] = core::array::from_fn(|i| u8::try_from(i).unwrap());
    let plaintext = hex("13 01 00000009 000400 01 08 0000000b 0000000c 06 00 0000000a 6869");
    let mut session = Session::<RustCryptoAead>::new(&k, &k, ConnectionId(0x0102_0304_0506_0708)).unwrap();
    session.skip_send_counter_to(0x0102);
    let mut buf = [0u8; 128];
    buf[TRANSPORT_HEADER_LEN..][..plaintext.len()].copy_from_slice(&plaintext);
    let len = session.seal(&mut buf, plaintext.len()).unwrap();
    assert_eq!(
        buf[..len].to_vec(),
        hex("18 0102030405060708 0000000000000102
             0eb4f83d1183eb97518c477c35ad718677ad770603f1432a93d605
             e7703b78348fe5cb397e999119edcb73")
    );

    let rekeyed = RustCryptoAead::new(&k).unwrap().rekey().unwrap();
    let mut probe = [0u8; 32];
    let tag = rekeyed.seal_in_place(0, &[], &mut probe).unwrap();
    let twice = rekeyed.rekey().unwrap();
    let mut probe2 = [0u8; 32];
    let tag2 = twice.seal_in_place(0, &[], &mut probe2).unwrap();
    // Compare the rekeyed keys through their keystreams against AEADs built from the spec's keys.
    let spec1 = RustCryptoAead::new(&key("50835543a205b22c9323f2022bc4f67d838f90e61d5ccf33c4513e01f85b5042"))
        .unwrap();
    let spec2 = RustCryptoAead::new(&key("30fe3726fa0f864af01d15663c77f95e490e30143788af57e90d56fb9aa71609"))
        .unwrap();
    let (mut e1, mut e2) = ([0u8; 32], [0u8; 32]);
    assert_eq!(spec1.seal_in_place(0, &[], &mut e1).unwrap(), tag);
    assert_eq!(spec2.seal_in_place(0, &[], &mut e2).unwrap(), tag2);
    assert_eq!((e1, e2), (probe, probe2));

    session.initiate_key_update().unwrap();
    buf[TRANSPORT_HEADER_LEN..][..plaintext.len()].copy_from_slice(&plaintext);
    let len = session.seal(&mut buf, plaintext.len()).unwrap();
    assert_eq!(
        buf[..len].to_vec(),
        hex("19 0102030405060708 0000000000000103
             c6687ac7135ee3f7aaed37eba4addd3fefd3639b437d98978a69e2
             4d9a8b1f9f004659be461c6155a6e972")
    );
}

/// C.7: the ACK segments with PATH_CHALLENGE and PATH_RESPONSE (PROTOCOL.md §13.2), parsed,
/// and sealed as transport packets with the key of C.3.
#[test]
fn c7_path_challenge_and_response() {
    use lrp2p_proto::wire::{PathFrames, Segments};
    let k: [u8; 32] = core::array::from_fn(|i| u8::try_from(i).unwrap());
    let challenge = hex("25 09 00000009 000400 0410 000000000000001c 000000000000000b 0608 6c72703270617468");
    let response = hex("25 01 00000009 000400 0410 000000000000001c 000000000000000b 0708 6c72703270617468");
    let data = *b"lrp2path";
    assert_eq!(PathFrames::parse(&challenge).unwrap(), PathFrames { challenge: Some(data), response: None });
    assert_eq!(PathFrames::parse(&response).unwrap(), PathFrames { challenge: None, response: Some(data) });
    assert!(Segments::parse(&challenge).unwrap().ack.unwrap().ping);
    let mut session = Session::<RustCryptoAead>::new(&k, &k, ConnectionId(0x0102_0304_0506_0708)).unwrap();
    session.skip_send_counter_to(0x0104);
    let mut sealed = Vec::new();
    for plaintext in [&challenge, &response] {
        let mut buf = [0u8; 128];
        buf[TRANSPORT_HEADER_LEN..][..plaintext.len()].copy_from_slice(plaintext);
        let len = session.seal(&mut buf, plaintext.len()).unwrap();
        sealed.push(buf[..len].to_vec());
    }
    assert_eq!(
        sealed[0],
        hex("18 0102030405060708 0000000000000104
             4c3bd13517af0f87b95df9f5f463d75ae82c93a982bda1c2968549d7bb3ec437b400bc8472
             cb92c409d489205f121144be9d635fbd")
    );
    assert_eq!(
        sealed[1],
        hex("18 0102030405060708 0000000000000105
             764d9d0c0d0f5f0deef3c307261a906768ee0901dc35cb069ba2fd8cc5403e2c3af5ee40ba
             90343e5738a3171ccedb8c11a81c646a")
    );
}

#[test]
fn c6_data_segment_with_app_protocol() {
    use lrp2p_proto::AppProtocol;
    use lrp2p_proto::wire::{DataRepr, Segment, Seq};
    let id = AppProtocol::try_from("lrp2p-perf").unwrap();
    let data = DataRepr {
        seq: Seq(100),
        fin: false,
        rtx: false,
        ping: false,
        app_protocol: Some(id),
        payload: b"hi",
    };
    let mut buf = [0u8; 20];
    assert_eq!(data.emit(&mut buf), Ok(20));
    let expected = hex("12 00 00000064 05 0a 6c72703270 2d70657266 6869");
    assert_eq!(buf.to_vec(), expected);
    assert_eq!(DataRepr::parse(&Segment::new_checked(&expected[..]).unwrap()), Ok(data));
}

#[test]
fn c6_ik_initiation_with_app_protocol() {
    // C.2's initiation, its early data carrying APP_PROTOCOL "lrp2p-perf" (C.6's segment).
    let initiator = StaticSecret::from_bytes(key(INIT_STATIC));
    let responder = StaticSecret::from_bytes(key(RESP_STATIC));
    let init_id = ConnectionId(0x0102_0304_0506_0708);
    let payload1 = hex("17979cfe362a0000 00000064 12000000006405 0a6c72703270 2d70657266 6869");
    let mut datagram = vec![PacketType::IkInitiation.to_byte()];
    datagram.extend_from_slice(&ConnectionId::NONE.to_bytes());
    datagram.extend_from_slice(&init_id.to_bytes());
    let mut noise = [0u8; 256];
    let (_, n1) = IkInitiator::start(
        &mut Script(key(INIT_EPH).to_vec()),
        &initiator,
        &responder.public_key(),
        &prologue(init_id),
        &payload1,
        &mut noise,
    )
    .unwrap();
    datagram.extend_from_slice(&noise[..n1]);
    datagram.extend_from_slice(&[0u8; 16]);
    let expected = hex("11 0000000000000000 0102030405060708
         ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944
         0b03ddc7aac5123d06a1b23b71670e32e76c28239a7ca4ac8f784de7e44c1adb
         f240f469cb399813ae6991df381e62f8
         20ffef95bc2502ea141b0aeb20fcca3d4acb4d0b8412823a56a0498e0c63e24f
         ac43dc80af02cb4e66697767b0b46915
         00000000000000000000000000000000");
    assert_eq!(datagram, expected);
    // The responder reads the id from it.
    let mut early = [0u8; 256];
    let (_, e) =
        IkResponder::read_initiation(&responder, &prologue(init_id), &noise[..n1], &mut early).unwrap();
    assert_eq!(early[..e].to_vec(), payload1);
}

/// C.9: a RELAY packet (PROTOCOL.md §13.8) carrying C.7's first packet, on the sender's link
/// and, re-sealed by the service with the key replaced, on the receiver's.
#[test]
fn c9_relay_packets() {
    use lrp2p_proto::PublicKey;
    use lrp2p_proto::wire::{RELAY_HEADER_LEN, RelayRepr};
    let k: [u8; 32] = core::array::from_fn(|i| u8::try_from(i).unwrap());
    let k2: [u8; 32] = core::array::from_fn(|i| u8::try_from(i + 0x20).unwrap());
    let carried = hex("18 0102030405060708 0000000000000104
         4c3bd13517af0f87b95df9f5f463d75ae82c93a982bda1c2968549d7bb3ec437b400bc8472
         cb92c409d489205f121144be9d635fbd");
    // P (key K) sends it toward K' on its link: link key K, receiver_id 0x1112131415161718,
    // counter 0x0106.
    let seal = |link_key: &[u8; 32], receiver: u64, counter: u64, named: [u8; 32]| {
        let mut session = Session::<RustCryptoAead>::new(link_key, link_key, ConnectionId(receiver)).unwrap();
        session.skip_send_counter_to(counter);
        let mut buf = [0u8; 256];
        RelayRepr::emit_header(&PublicKey::from_bytes(named), &mut buf[TRANSPORT_HEADER_LEN..]).unwrap();
        buf[TRANSPORT_HEADER_LEN + RELAY_HEADER_LEN..][..carried.len()].copy_from_slice(&carried);
        let len = session.seal(&mut buf, RELAY_HEADER_LEN + carried.len()).unwrap();
        buf[..len].to_vec()
    };
    let to_service = seal(&k, 0x1112_1314_1516_1718, 0x0106, k2);
    // The service re-seals it on the link of K' (link key K', receiver_id 0x2122232425262728,
    // counter 0x0007), naming the source K.
    let from_service = seal(&k2, 0x2122_2324_2526_2728, 0x0007, k);
    assert_eq!(to_service.len(), 17 + 33 + 70 + 16);
    assert_eq!(to_service, hex(C9_TO_SERVICE));
    assert_eq!(from_service, hex(C9_FROM_SERVICE));
    // The receiver opens the service's packet and finds the carried datagram, unchanged.
    let mut session = Session::<RustCryptoAead>::new(&k2, &k2, ConnectionId(1)).unwrap();
    let mut packet = from_service.clone();
    let plaintext = session.open(&mut packet).unwrap();
    let relay = RelayRepr::parse(plaintext).unwrap();
    assert_eq!((relay.key, relay.datagram), (PublicKey::from_bytes(k), &carried[..]));
    // Malformed (§13.8): no carried byte.
    assert!(RelayRepr::parse(&plaintext[..RELAY_HEADER_LEN]).is_err());
}

const C9_TO_SERVICE: &str = "18 1112131415161718 0000000000000106
     ae6ad2139afe8377452d546c3a9d828ec360c46d45874f3365195bec4e6a92273e58e2735a
     3f432d8d8bef248a00f33f6f2f51f417e4c664fe0480cc6641277fe017c7797db847edb483
     a6dd0e1b0eda4cf8c346001e1884d5afdc4b2054a11cd2acc2bc5c3568
     030c9ca3903f72eb01d8c86d84ab55cd";
const C9_FROM_SERVICE: &str = "18 2122232425262728 0000000000000007
     2efe46eb44237beb85771f115f4aa3582e31ce3a4595ee060081c4843e0d10420c83c52a8b
     7d9ae3dbfd5119efeeb5a7a570bf8d728bf4d7ad9403c94ce2c4d35f6f0d3dfb207a7d73e3
     def6344900285e8f8cbc066c031ac9bd48b6d2c556f6fe3bcbbba4c2e1
     838ffaba5c7c018cbf25f3690e3d3780";
