//! Interoperability with `snow`, an independent Noise implementation: our initiator against a
//! snow responder and the reverse, for IK and XX, with payloads in every message and transport
//! messages both ways. Given the same static keys and ephemerals, every handshake message we
//! write must equal snow's byte for byte, and both sides must agree on the handshake hash.

#![allow(clippy::unwrap_used)]

use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce, Tag};
use lrp2p_proto::StaticSecret;
use lrp2p_proto::crypto::noise::ik::{IkInitiator, IkResponder};
use lrp2p_proto::crypto::noise::xx::{XxInitiator, XxResponder};
use lrp2p_proto::crypto::noise::{Completed, prologue};
use lrp2p_proto::wire::ConnectionId;
use rand_core::{CryptoRng, RngCore, impls};

/// An "RNG" that hands out pre-agreed ephemeral keys, so that both implementations use the same.
struct Script(Vec<u8>);

impl RngCore for Script {
    fn next_u32(&mut self) -> u32 {
        impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        assert!(self.0.len() >= dest.len(), "test script ran out of random bytes");
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

struct Keys {
    init_static: [u8; 32],
    resp_static: [u8; 32],
    init_eph: [u8; 32],
    resp_eph: [u8; 32],
    prologue: [u8; 14],
}

fn keys(seed: u8) -> Keys {
    Keys {
        init_static: [seed; 32],
        resp_static: [seed.wrapping_add(1); 32],
        init_eph: [seed.wrapping_add(2); 32],
        resp_eph: [seed.wrapping_add(3); 32],
        prologue: prologue(ConnectionId(0x0102_0304_0506_0708 ^ u64::from(seed))),
    }
}

fn snow_builder<'a>(name: &str, k: &'a Keys, local: &'a [u8; 32], eph: &'a [u8; 32]) -> snow::Builder<'a> {
    snow::Builder::new(name.parse().unwrap())
        .local_private_key(local)
        .prologue(&k.prologue)
        .fixed_ephemeral_key_for_testing_only(eph)
}

/// Transport messages both ways: our keys against snow's stateless transport (explicit nonces,
/// empty associated data), which is exactly Noise's CipherState after Split().
fn check_transport(ours: Completed, theirs: snow::HandshakeState) {
    let theirs = theirs.into_stateless_transport_mode().unwrap();
    let (send, recv) = ours.into_keys();
    for nonce in [0u64, 1, 7, 1 << 40] {
        let msg = format!("ours to snow #{nonce}");
        let sealed = seal(&send, nonce, msg.as_bytes());
        let mut out = [0u8; 128];
        let n = theirs.read_message(nonce, &sealed, &mut out).unwrap();
        assert_eq!(&out[..n], msg.as_bytes());

        let msg = format!("snow to ours #{nonce}");
        let n = theirs.write_message(nonce, msg.as_bytes(), &mut out).unwrap();
        assert_eq!(open(&recv, nonce, &out[..n]), msg.as_bytes());
    }
}

fn seal(key: &[u8; 32], nonce: u64, plaintext: &[u8]) -> Vec<u8> {
    let mut buf = plaintext.to_vec();
    let tag = ChaCha20Poly1305::new(key.into())
        .encrypt_in_place_detached(&noise_nonce(nonce), &[], &mut buf)
        .unwrap();
    buf.extend_from_slice(&tag);
    buf
}

fn open(key: &[u8; 32], nonce: u64, sealed: &[u8]) -> Vec<u8> {
    let (body, tag) = sealed.split_at(sealed.len() - 16);
    let mut buf = body.to_vec();
    ChaCha20Poly1305::new(key.into())
        .decrypt_in_place_detached(&noise_nonce(nonce), &[], &mut buf, Tag::from_slice(tag))
        .unwrap();
    buf
}

fn noise_nonce(n: u64) -> Nonce {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&n.to_le_bytes());
    Nonce::from(nonce)
}

const IK: &str = "Noise_IK_25519_ChaChaPoly_BLAKE2s";
const XX: &str = "Noise_XX_25519_ChaChaPoly_BLAKE2s";

#[test]
fn snow_ik_our_initiator_snow_responder() {
    let k = keys(1);
    let ours = StaticSecret::from_bytes(k.init_static);
    let resp_public = StaticSecret::from_bytes(k.resp_static).public_key();
    let mut snow_resp = snow_builder(IK, &k, &k.resp_static, &k.resp_eph).build_responder().unwrap();
    // A snow initiator fed the same keys must write the same bytes as ours.
    let mut snow_twin = snow_builder(IK, &k, &k.init_static, &k.init_eph)
        .remote_public_key(resp_public.as_bytes())
        .build_initiator()
        .unwrap();

    let mut msg1 = [0u8; 512];
    let (waiting, n1) = IkInitiator::start(
        &mut Script(k.init_eph.to_vec()),
        &ours,
        &resp_public,
        &k.prologue,
        b"early data",
        &mut msg1,
    )
    .unwrap();
    let mut twin1 = [0u8; 512];
    let t1 = snow_twin.write_message(b"early data", &mut twin1).unwrap();
    assert_eq!(&msg1[..n1], &twin1[..t1], "IK message 1 differs from snow's");
    assert_eq!(n1, 32 + 48 + 10 + 16);

    let mut payload = [0u8; 512];
    let p = snow_resp.read_message(&msg1[..n1], &mut payload).unwrap();
    assert_eq!(&payload[..p], b"early data");
    assert_eq!(snow_resp.get_remote_static().unwrap(), ours.public_key().as_bytes());
    let mut msg2 = [0u8; 512];
    let n2 = snow_resp.write_message(b"response", &mut msg2).unwrap();

    let (done, p) = waiting.read_response(&msg2[..n2], &mut payload).unwrap();
    assert_eq!(&payload[..p], b"response");
    assert_eq!(done.remote_static(), resp_public);
    assert_eq!(done.handshake_hash(), snow_resp.get_handshake_hash());
    check_transport(done, snow_resp);
}

#[test]
fn snow_ik_snow_initiator_our_responder() {
    let k = keys(10);
    let ours = StaticSecret::from_bytes(k.resp_static);
    let init_public = StaticSecret::from_bytes(k.init_static).public_key();
    let mut snow_init = snow_builder(IK, &k, &k.init_static, &k.init_eph)
        .remote_public_key(ours.public_key().as_bytes())
        .build_initiator()
        .unwrap();
    let mut snow_twin = snow_builder(IK, &k, &k.resp_static, &k.resp_eph).build_responder().unwrap();

    let mut msg1 = [0u8; 512];
    let n1 = snow_init.write_message(b"0-rtt hello", &mut msg1).unwrap();
    let mut payload = [0u8; 512];
    let (received, p) = IkResponder::read_initiation(&ours, &k.prologue, &msg1[..n1], &mut payload).unwrap();
    assert_eq!(&payload[..p], b"0-rtt hello");
    assert_eq!(received.remote_static(), init_public);
    snow_twin.read_message(&msg1[..n1], &mut payload).unwrap();

    let mut msg2 = [0u8; 512];
    let (done, n2) =
        received.write_response(&mut Script(k.resp_eph.to_vec()), b"welcome", &mut msg2).unwrap();
    let mut twin2 = [0u8; 512];
    let t2 = snow_twin.write_message(b"welcome", &mut twin2).unwrap();
    assert_eq!(&msg2[..n2], &twin2[..t2], "IK message 2 differs from snow's");

    let p = snow_init.read_message(&msg2[..n2], &mut payload).unwrap();
    assert_eq!(&payload[..p], b"welcome");
    assert_eq!(done.handshake_hash(), snow_init.get_handshake_hash());
    check_transport(done, snow_init);
}

#[test]
fn snow_xx_our_initiator_snow_responder() {
    let k = keys(20);
    let ours = StaticSecret::from_bytes(k.init_static);
    let resp_public = StaticSecret::from_bytes(k.resp_static).public_key();
    let mut snow_resp = snow_builder(XX, &k, &k.resp_static, &k.resp_eph).build_responder().unwrap();
    let mut snow_twin = snow_builder(XX, &k, &k.init_static, &k.init_eph).build_initiator().unwrap();

    let (mut msg, mut twin, mut payload) = ([0u8; 512], [0u8; 512], [0u8; 512]);
    let (waiting, n1) =
        XxInitiator::start(&mut Script(k.init_eph.to_vec()), &ours, &k.prologue, b"", &mut msg).unwrap();
    let t1 = snow_twin.write_message(b"", &mut twin).unwrap();
    assert_eq!(&msg[..n1], &twin[..t1], "XX message 1 differs from snow's");
    assert_eq!(n1, 32);
    snow_resp.read_message(&msg[..n1], &mut payload).unwrap();

    let n2 = snow_resp.write_message(b"resp payload", &mut msg).unwrap();
    snow_twin.read_message(&msg[..n2], &mut payload).unwrap();
    let (received, p) = waiting.read_response(&msg[..n2], &mut payload).unwrap();
    assert_eq!(&payload[..p], b"resp payload");
    assert_eq!(received.remote_static(), resp_public);

    let (done, n3) = received.write_finish(b"first data", &mut msg).unwrap();
    let t3 = snow_twin.write_message(b"first data", &mut twin).unwrap();
    assert_eq!(&msg[..n3], &twin[..t3], "XX message 3 differs from snow's");
    let p = snow_resp.read_message(&msg[..n3], &mut payload).unwrap();
    assert_eq!(&payload[..p], b"first data");
    assert_eq!(snow_resp.get_remote_static().unwrap(), ours.public_key().as_bytes());
    assert_eq!(done.handshake_hash(), snow_resp.get_handshake_hash());
    check_transport(done, snow_resp);
}

#[test]
fn snow_xx_snow_initiator_our_responder() {
    let k = keys(30);
    let ours = StaticSecret::from_bytes(k.resp_static);
    let init_public = StaticSecret::from_bytes(k.init_static).public_key();
    let mut snow_init = snow_builder(XX, &k, &k.init_static, &k.init_eph).build_initiator().unwrap();
    let mut snow_twin = snow_builder(XX, &k, &k.resp_static, &k.resp_eph).build_responder().unwrap();

    let (mut msg, mut twin, mut payload) = ([0u8; 512], [0u8; 512], [0u8; 512]);
    let n1 = snow_init.write_message(b"", &mut msg).unwrap();
    snow_twin.read_message(&msg[..n1], &mut payload).unwrap();
    let (received, p) = XxResponder::read_initiation(&ours, &k.prologue, &msg[..n1], &mut payload).unwrap();
    assert_eq!(p, 0);

    let (waiting, n2) =
        received.write_response(&mut Script(k.resp_eph.to_vec()), b"resp payload", &mut msg).unwrap();
    let t2 = snow_twin.write_message(b"resp payload", &mut twin).unwrap();
    assert_eq!(&msg[..n2], &twin[..t2], "XX message 2 differs from snow's");
    let p = snow_init.read_message(&msg[..n2], &mut payload).unwrap();
    assert_eq!(&payload[..p], b"resp payload");

    let n3 = snow_init.write_message(b"first data", &mut msg).unwrap();
    let (done, p) = waiting.read_finish(&msg[..n3], &mut payload).unwrap();
    assert_eq!(&payload[..p], b"first data");
    assert_eq!(done.remote_static(), init_public);
    assert_eq!(done.handshake_hash(), snow_init.get_handshake_hash());
    check_transport(done, snow_init);
}

#[test]
fn snow_ik_wrong_prologue_fails_and_state_survives_garbage() {
    let k = keys(40);
    let ours = StaticSecret::from_bytes(k.init_static);
    let resp_public = StaticSecret::from_bytes(k.resp_static).public_key();
    // The responder binds a different initiator id: the prologues differ, so message 1 fails.
    let other = prologue(ConnectionId(99));
    let mut snow_resp = snow::Builder::new(IK.parse().unwrap())
        .local_private_key(&k.resp_static)
        .prologue(&other)
        .build_responder()
        .unwrap();
    let mut msg1 = [0u8; 256];
    let mut rng = Script([k.init_eph.to_vec(), k.init_eph.to_vec()].concat());
    let (_, n1) = IkInitiator::start(&mut rng, &ours, &resp_public, &k.prologue, b"x", &mut msg1).unwrap();
    let mut out = [0u8; 256];
    assert!(snow_resp.read_message(&msg1[..n1], &mut out).is_err());

    // Garbage as message 2 is rejected without consuming the waiting state; the real one works.
    let mut snow_resp = snow_builder(IK, &k, &k.resp_static, &k.resp_eph).build_responder().unwrap();
    let (waiting, n1) =
        IkInitiator::start(&mut rng, &ours, &resp_public, &k.prologue, b"x", &mut msg1).unwrap();
    snow_resp.read_message(&msg1[..n1], &mut out).unwrap();
    let mut msg2 = [0u8; 256];
    let n2 = snow_resp.write_message(b"", &mut msg2).unwrap();
    let mut forged = msg2;
    forged[40] ^= 0x80;
    assert!(waiting.read_response(&forged[..n2], &mut out).is_err());
    assert!(waiting.read_response(&msg2[..n2 - 1], &mut out).is_err());
    assert!(waiting.read_response(&[], &mut out).is_err());
    assert!(waiting.read_response(&msg2[..n2], &mut out).is_ok());
}
