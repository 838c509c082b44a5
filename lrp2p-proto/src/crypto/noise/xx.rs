//! `Noise_XX_25519_ChaChaPoly_BLAKE2s` (Noise rev. 34 §7.5): the handshake for an initiator that
//! does not know the responder's static key. Its first data travels in message 3 (1-RTT).
//!
//! ```text
//! XX:
//!   -> e
//!   <- e, ee, s, es
//!   -> s, se
//! ```
//!
//! States: [`XxInitiator::start`] → [`XxInitiatorWaiting`] → [`XxInitiatorReceived`] →
//! [`Completed`]; [`XxResponder::read_initiation`] → [`XxResponderReceived`] →
//! [`XxResponderWaiting`] → [`Completed`].

use rand_core::{CryptoRng, RngCore};

use super::symmetric::SymmetricState;
use super::{Completed, Ephemeral, HandshakeError, Reader, Writer, dh, static_dh};
use crate::identity::{PublicKey, StaticSecret};

/// The full Noise protocol name (Noise §8).
pub const PROTOCOL_NAME: &[u8] = b"Noise_XX_25519_ChaChaPoly_BLAKE2s";

/// Noise §5.3 Initialize() for XX: InitializeSymmetric(name); MixHash(prologue); no pre-messages.
fn initialize(prologue: &[u8]) -> SymmetricState {
    let mut sym = SymmetricState::initialize(PROTOCOL_NAME);
    sym.mix_hash(prologue);
    sym
}

/// The XX initiator before it has sent anything.
pub struct XxInitiator;

impl XxInitiator {
    /// Writes message 1 (`-> e` + payload, which travels in clear: LRP2P sends it empty).
    pub fn start<R: RngCore + CryptoRng>(
        rng: &mut R,
        local: &StaticSecret,
        prologue: &[u8],
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<(XxInitiatorWaiting, usize), HandshakeError> {
        let mut sym = initialize(prologue);
        let mut w = Writer::new(out);
        // -> e: e = GENERATE_KEYPAIR(); write e.public_key; MixHash(e.public_key).
        let e = Ephemeral::generate(rng);
        w.put(&e.public)?;
        sym.mix_hash(&e.public);
        // payload: EncryptAndHash(payload) with no key yet: plaintext, still hashed.
        w.encrypt_and_hash(&mut sym, payload)?;
        let len = w.finish()?;
        Ok((XxInitiatorWaiting { sym, e, local: local.clone() }, len))
    }
}

/// The XX initiator after message 1.
#[derive(Clone)]
pub struct XxInitiatorWaiting {
    sym: SymmetricState,
    e: Ephemeral,
    local: StaticSecret,
}

impl XxInitiatorWaiting {
    /// The ephemeral public key sent in message 1.
    pub const fn ephemeral_public(&self) -> &[u8; 32] {
        &self.e.public
    }

    /// Reads message 2 (`<- e, ee, s, es` + payload). On error the state is untouched.
    pub fn read_response(
        &self,
        msg: &[u8],
        payload_out: &mut [u8],
    ) -> Result<(XxInitiatorReceived, usize), HandshakeError> {
        let mut sym = self.sym.clone();
        let mut r = Reader::new(msg)?;
        // <- e: re = read; MixHash(re.public_key).
        let re = r.key()?;
        sym.mix_hash(&re);
        // <- ee: MixKey(DH(e, re)).
        sym.mix_key(dh(&self.e.secret, &re)?.as_ref());
        // <- s: rs = DecryptAndHash(read DHLEN + 16).
        let rs = r.static_key(&mut sym)?;
        // <- es: initiator computes MixKey(DH(e, rs)).
        sym.mix_key(dh(&self.e.secret, &rs)?.as_ref());
        // payload: DecryptAndHash(rest).
        let n = r.payload(&mut sym, payload_out)?;
        let next = XxInitiatorReceived { sym, re, local: self.local.clone(), rs: PublicKey::from_bytes(rs) };
        Ok((next, n))
    }
}

/// The XX initiator after message 2: it now knows (and can vet) the responder's static key.
pub struct XxInitiatorReceived {
    sym: SymmetricState,
    re: [u8; 32],
    local: StaticSecret,
    rs: PublicKey,
}

impl XxInitiatorReceived {
    /// The responder's static public key, authenticated by `es`.
    pub const fn remote_static(&self) -> PublicKey {
        self.rs
    }

    /// Writes message 3 (`-> s, se` + payload), completing the handshake.
    pub fn write_finish(self, payload: &[u8], out: &mut [u8]) -> Result<(Completed, usize), HandshakeError> {
        let mut sym = self.sym.clone();
        let mut w = Writer::new(out);
        // -> s: write EncryptAndHash(s.public_key).
        w.encrypt_and_hash(&mut sym, self.local.public_key().as_bytes())?;
        // -> se: initiator computes MixKey(DH(s, re)).
        sym.mix_key(static_dh(&self.local, &self.re)?.as_ref());
        // payload: write EncryptAndHash(payload).
        w.encrypt_and_hash(&mut sym, payload)?;
        let len = w.finish()?;
        Ok((Completed::new(&sym, self.rs, true), len))
    }
}

/// The XX responder before it has received anything.
pub struct XxResponder;

impl XxResponder {
    /// Reads message 1 (`-> e` + cleartext payload, which LRP2P requires to be empty).
    pub fn read_initiation(
        local: &StaticSecret,
        prologue: &[u8],
        msg: &[u8],
        payload_out: &mut [u8],
    ) -> Result<(XxResponderReceived, usize), HandshakeError> {
        let mut sym = initialize(prologue);
        let mut r = Reader::new(msg)?;
        // -> e: re = read; MixHash(re.public_key).
        let re = r.key()?;
        sym.mix_hash(&re);
        // payload: DecryptAndHash(rest) with no key: plaintext, hashed.
        let n = r.payload(&mut sym, payload_out)?;
        Ok((XxResponderReceived { sym, re, local: local.clone() }, n))
    }
}

/// The XX responder after message 1.
pub struct XxResponderReceived {
    sym: SymmetricState,
    re: [u8; 32],
    local: StaticSecret,
}

impl XxResponderReceived {
    /// The initiator's ephemeral public key from message 1.
    pub const fn remote_ephemeral(&self) -> &[u8; 32] {
        &self.re
    }

    /// Writes message 2 (`<- e, ee, s, es` + payload).
    pub fn write_response<R: RngCore + CryptoRng>(
        self,
        rng: &mut R,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<(XxResponderWaiting, usize), HandshakeError> {
        let mut sym = self.sym.clone();
        let mut w = Writer::new(out);
        // <- e: e = GENERATE_KEYPAIR(); write e.public_key; MixHash(e.public_key).
        let e = Ephemeral::generate(rng);
        w.put(&e.public)?;
        sym.mix_hash(&e.public);
        // <- ee: MixKey(DH(e, re)).
        sym.mix_key(dh(&e.secret, &self.re)?.as_ref());
        // <- s: write EncryptAndHash(s.public_key).
        w.encrypt_and_hash(&mut sym, self.local.public_key().as_bytes())?;
        // <- es: responder computes MixKey(DH(s, re)).
        sym.mix_key(static_dh(&self.local, &self.re)?.as_ref());
        // payload: write EncryptAndHash(payload).
        w.encrypt_and_hash(&mut sym, payload)?;
        let len = w.finish()?;
        Ok((XxResponderWaiting { sym, e }, len))
    }
}

/// The XX responder after message 2, waiting for message 3.
#[derive(Clone)]
pub struct XxResponderWaiting {
    sym: SymmetricState,
    e: Ephemeral,
}

impl XxResponderWaiting {
    /// Reads message 3 (`-> s, se` + payload). On error the state is untouched.
    pub fn read_finish(
        &self,
        msg: &[u8],
        payload_out: &mut [u8],
    ) -> Result<(Completed, usize), HandshakeError> {
        let mut sym = self.sym.clone();
        let mut r = Reader::new(msg)?;
        // -> s: rs = DecryptAndHash(read DHLEN + 16).
        let rs = r.static_key(&mut sym)?;
        // -> se: responder computes MixKey(DH(e, rs)).
        sym.mix_key(dh(&self.e.secret, &rs)?.as_ref());
        // payload: DecryptAndHash(rest).
        let n = r.payload(&mut sym, payload_out)?;
        Ok((Completed::new(&sym, PublicKey::from_bytes(rs), false), n))
    }
}
