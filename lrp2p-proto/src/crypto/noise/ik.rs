//! `Noise_IK_25519_ChaChaPoly_BLAKE2s` (Noise rev. 34 §7.5): the 0-RTT handshake.
//!
//! ```text
//! IK:
//!   <- s
//!   ...
//!   -> e, es, s, ss      (payload: early data, encrypted to the responder's static key)
//!   <- e, ee, se         (payload: the response, forward secret)
//! ```
//!
//! States: [`IkInitiator::start`] → [`IkInitiatorWaiting`] → [`Completed`];
//! [`IkResponder::read_initiation`] → [`IkResponderReceived`] → [`Completed`].

use rand_core::{CryptoRng, RngCore};

use super::symmetric::SymmetricState;
use super::{Completed, Ephemeral, HandshakeError, Reader, Writer, dh, static_dh};
use crate::identity::{PublicKey, StaticSecret};

/// The full Noise protocol name (Noise §8).
pub const PROTOCOL_NAME: &[u8] = b"Noise_IK_25519_ChaChaPoly_BLAKE2s";

/// Noise §5.3 Initialize() for IK: InitializeSymmetric(name); MixHash(prologue); then the
/// pre-message `<- s`: MixHash(responder's static public key).
fn initialize(prologue: &[u8], responder_static: &PublicKey) -> SymmetricState {
    let mut sym = SymmetricState::initialize(PROTOCOL_NAME);
    sym.mix_hash(prologue);
    sym.mix_hash(responder_static.as_bytes());
    sym
}

/// The IK initiator before it has sent anything.
pub struct IkInitiator;

impl IkInitiator {
    /// Writes message 1 (`-> e, es, s, ss` + payload) into `out`, returning the waiting state and
    /// the message length. `payload` is the early data: encrypted, but replayable and not
    /// forward secret until the response arrives (Noise §7.7, payload security properties 1/2).
    pub fn start<R: RngCore + CryptoRng>(
        rng: &mut R,
        local: &StaticSecret,
        remote: &PublicKey,
        prologue: &[u8],
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<(IkInitiatorWaiting, usize), HandshakeError> {
        let mut sym = initialize(prologue, remote);
        let mut w = Writer::new(out);
        // -> e: e = GENERATE_KEYPAIR(); write e.public_key; MixHash(e.public_key).
        let e = Ephemeral::generate(rng);
        w.put(&e.public)?;
        sym.mix_hash(&e.public);
        // -> es: MixKey(DH(e, rs)).
        sym.mix_key(dh(&e.secret, remote.as_bytes())?.as_ref());
        // -> s: write EncryptAndHash(s.public_key).
        w.encrypt_and_hash(&mut sym, local.public_key().as_bytes())?;
        // -> ss: MixKey(DH(s, rs)).
        sym.mix_key(static_dh(local, remote.as_bytes())?.as_ref());
        // payload: write EncryptAndHash(payload).
        w.encrypt_and_hash(&mut sym, payload)?;
        let len = w.finish()?;
        Ok((IkInitiatorWaiting { sym, e, local: local.clone(), remote: *remote }, len))
    }
}

/// The IK initiator after message 1, waiting for the response.
#[derive(Clone)]
pub struct IkInitiatorWaiting {
    sym: SymmetricState,
    e: Ephemeral,
    local: StaticSecret,
    remote: PublicKey,
}

impl IkInitiatorWaiting {
    /// The responder's static public key this initiation is sealed for.
    pub const fn remote_static(&self) -> PublicKey {
        self.remote
    }

    /// The ephemeral public key sent in message 1 (identifies this attempt, e.g. in a cookie
    /// reply's echo).
    pub const fn ephemeral_public(&self) -> &[u8; 32] {
        &self.e.public
    }

    /// Reads message 2 (`<- e, ee, se` + payload), decrypting the payload into `payload_out`.
    /// On error the state is untouched and can read another candidate response.
    pub fn read_response(
        &self,
        msg: &[u8],
        payload_out: &mut [u8],
    ) -> Result<(Completed, usize), HandshakeError> {
        let mut sym = self.sym.clone();
        let mut r = Reader::new(msg)?;
        // <- e: re = read; MixHash(re.public_key).
        let re = r.key()?;
        sym.mix_hash(&re);
        // <- ee: MixKey(DH(e, re)).
        sym.mix_key(dh(&self.e.secret, &re)?.as_ref());
        // <- se: initiator computes MixKey(DH(s, re)).
        sym.mix_key(static_dh(&self.local, &re)?.as_ref());
        // payload: DecryptAndHash(rest).
        let n = r.payload(&mut sym, payload_out)?;
        Ok((Completed::new(&sym, self.remote, true), n))
    }
}

/// The IK responder before it has received anything.
pub struct IkResponder;

impl IkResponder {
    /// Reads message 1 (`-> e, es, s, ss` + payload), decrypting the early data into
    /// `payload_out`. The returned state names the initiator (`remote_static`) so the
    /// application can decide whether to accept it before anything is sent back.
    pub fn read_initiation(
        local: &StaticSecret,
        prologue: &[u8],
        msg: &[u8],
        payload_out: &mut [u8],
    ) -> Result<(IkResponderReceived, usize), HandshakeError> {
        let mut sym = initialize(prologue, &local.public_key());
        let mut r = Reader::new(msg)?;
        // -> e: re = read; MixHash(re.public_key).
        let re = r.key()?;
        sym.mix_hash(&re);
        // -> es: responder computes MixKey(DH(s, re)).
        sym.mix_key(static_dh(local, &re)?.as_ref());
        // -> s: rs = DecryptAndHash(read DHLEN + 16).
        let rs = r.static_key(&mut sym)?;
        // -> ss: MixKey(DH(s, rs)).
        sym.mix_key(static_dh(local, &rs)?.as_ref());
        // payload: DecryptAndHash(rest).
        let n = r.payload(&mut sym, payload_out)?;
        Ok((IkResponderReceived { sym, re, rs: PublicKey::from_bytes(rs) }, n))
    }
}

/// The IK responder after message 1: knows who the initiator claims to be (authenticated by
/// `ss`, though message 1 itself can be replayed) and is ready to respond.
#[derive(Clone)]
pub struct IkResponderReceived {
    sym: SymmetricState,
    re: [u8; 32],
    rs: PublicKey,
}

impl IkResponderReceived {
    /// The initiator's static public key.
    pub const fn remote_static(&self) -> PublicKey {
        self.rs
    }

    /// The initiator's ephemeral public key from message 1.
    pub const fn remote_ephemeral(&self) -> &[u8; 32] {
        &self.re
    }

    /// Writes message 2 (`<- e, ee, se` + payload) into `out`, completing the handshake.
    pub fn write_response<R: RngCore + CryptoRng>(
        self,
        rng: &mut R,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<(Completed, usize), HandshakeError> {
        let mut sym = self.sym.clone();
        let mut w = Writer::new(out);
        // <- e: e = GENERATE_KEYPAIR(); write e.public_key; MixHash(e.public_key).
        let e = Ephemeral::generate(rng);
        w.put(&e.public)?;
        sym.mix_hash(&e.public);
        // <- ee: MixKey(DH(e, re)).
        sym.mix_key(dh(&e.secret, &self.re)?.as_ref());
        // <- se: responder computes MixKey(DH(e, rs)).
        sym.mix_key(dh(&e.secret, self.rs.as_bytes())?.as_ref());
        // payload: write EncryptAndHash(payload).
        w.encrypt_and_hash(&mut sym, payload)?;
        let len = w.finish()?;
        Ok((Completed::new(&sym, self.rs, false), len))
    }
}
