//! The Noise handshakes of LRP2P (Noise Protocol Framework rev. 34), written from the spec.
//!
//! - [`ik`]: `Noise_IK_25519_ChaChaPoly_BLAKE2s`, used when the initiator knows the responder's
//!   static key; its first message carries encrypted early data (0-RTT).
//! - [`xx`]: `Noise_XX_25519_ChaChaPoly_BLAKE2s`, used when it does not.
//!
//! Each handshake is a consuming state machine: every state is its own type and each step
//! consumes it and returns the next, so a message can be neither skipped nor sent twice.
//! Reading a message borrows the state instead: a forged or corrupted message yields an error
//! and leaves the state usable, so an attacker cannot kill a handshake by injecting garbage.
//! The spec's pseudocode stands above each step. Randomness (ephemeral keys) comes from the
//! caller's RNG, so given the same RNG output the messages are byte-for-byte those of any other
//! Noise implementation (the `snow` interop tests check this).
//!
//! These types speak Noise messages only; `crate::wire` frames them into datagrams and the
//! prologue binds the LRP2P version and the initiator's connection id ([`prologue`]).

pub mod ik;
mod symmetric;
pub mod xx;

use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use self::symmetric::{DHLEN, HASHLEN, Key, SymmetricState};
use crate::identity::{KEY_LEN, PublicKey, StaticSecret};
use crate::wire::{ConnectionId, VERSION};

/// Noise §3: a Noise message is at most 65535 bytes.
pub const MAX_MESSAGE_LEN: usize = 65535;

/// Length of the prologue LRP2P binds into every handshake.
pub const PROLOGUE_LEN: usize = 14;

/// The LRP2P prologue (Noise §6): ASCII `lrp2p`, the version byte, and the initiator's
/// connection id (big-endian). Both sides must use the same bytes or the handshake fails.
pub fn prologue(initiator_id: ConnectionId) -> [u8; PROLOGUE_LEN] {
    let mut p = [0u8; PROLOGUE_LEN];
    p[..5].copy_from_slice(b"lrp2p");
    p[5] = VERSION;
    p[6..].copy_from_slice(&initiator_id.to_bytes());
    p
}

/// Why a handshake step failed. A failed read leaves the borrowed state unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The message is shorter than its pattern requires.
    #[error("handshake message truncated")]
    Truncated,
    /// An AEAD tag did not verify: wrong keys, wrong prologue, or a forged/corrupted message.
    #[error("handshake message failed authentication")]
    Decrypt,
    /// A Diffie-Hellman result was all zeros: the peer sent a low-order point (RFC 7748 §6.1).
    #[error("peer sent a low-order public key")]
    LowOrderPoint,
    /// The output buffer cannot hold the message or payload.
    #[error("output buffer too small")]
    BufferTooSmall,
    /// The message would exceed Noise's 65535-byte limit (Noise §3).
    #[error("message exceeds 65535 bytes")]
    MessageTooLong,
    /// The nonce space of a handshake CipherState ran out (cannot happen in these patterns).
    #[error("nonce exhausted")]
    NonceExhausted,
}

/// The result of a completed handshake: who the peer is and the transport keys.
pub struct Completed {
    remote_static: PublicKey,
    handshake_hash: [u8; HASHLEN],
    send_key: Key,
    recv_key: Key,
}

impl Completed {
    fn new(sym: &SymmetricState, remote_static: PublicKey, initiator: bool) -> Self {
        // Noise §5.2 Split(): k1 protects initiator→responder, k2 responder→initiator.
        let (k1, k2) = sym.split();
        let (send_key, recv_key) = if initiator { (k1, k2) } else { (k2, k1) };
        Completed { remote_static, handshake_hash: sym.handshake_hash(), send_key, recv_key }
    }

    /// The peer's authenticated static public key.
    pub const fn remote_static(&self) -> PublicKey {
        self.remote_static
    }

    /// Noise §11.2: the handshake hash, a unique channel-binding value for this session.
    pub const fn handshake_hash(&self) -> [u8; HASHLEN] {
        self.handshake_hash
    }

    /// The transport keys: (key for packets this side sends, key for packets it receives).
    pub fn into_keys(self) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>) {
        (self.send_key, self.recv_key)
    }
}

impl core::fmt::Debug for Completed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Completed").field("remote_static", &self.remote_static).finish_non_exhaustive()
    }
}

/// Noise §4.1 GENERATE_KEYPAIR(): an ephemeral key from the caller's RNG.
struct Ephemeral {
    secret: x25519_dalek::StaticSecret,
    public: [u8; DHLEN],
}

impl Ephemeral {
    fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill_bytes(bytes.as_mut());
        let secret = x25519_dalek::StaticSecret::from(*bytes);
        let public = x25519_dalek::PublicKey::from(&secret).to_bytes();
        Ephemeral { secret, public }
    }
}

impl Clone for Ephemeral {
    fn clone(&self) -> Self {
        Ephemeral { secret: self.secret.clone(), public: self.public }
    }
}

/// Noise §4.1 DH(key_pair, public_key) with X25519. An all-zero result (a low-order peer key,
/// RFC 7748 §6.1) is rejected, as WireGuard does: it would make the mixed key predictable.
fn dh(secret: &x25519_dalek::StaticSecret, public: &[u8; DHLEN]) -> Result<Key, HandshakeError> {
    let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(*public));
    if !shared.was_contributory() {
        return Err(HandshakeError::LowOrderPoint);
    }
    Ok(Zeroizing::new(shared.to_bytes()))
}

fn static_dh(secret: &StaticSecret, public: &[u8; DHLEN]) -> Result<Key, HandshakeError> {
    dh(secret.dalek(), public)
}

/// Writes a handshake message front to back into a caller buffer.
struct Writer<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    fn new(out: &'a mut [u8]) -> Self {
        Writer { out, pos: 0 }
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), HandshakeError> {
        let end = self.pos + bytes.len();
        self.out.get_mut(self.pos..end).ok_or(HandshakeError::BufferTooSmall)?.copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    fn encrypt_and_hash(&mut self, sym: &mut SymmetricState, plaintext: &[u8]) -> Result<(), HandshakeError> {
        let rest = self.out.get_mut(self.pos..).ok_or(HandshakeError::BufferTooSmall)?;
        self.pos += sym.encrypt_and_hash(plaintext, rest)?;
        Ok(())
    }

    fn finish(self) -> Result<usize, HandshakeError> {
        if self.pos > MAX_MESSAGE_LEN {
            return Err(HandshakeError::MessageTooLong);
        }
        Ok(self.pos)
    }
}

/// Reads a handshake message front to back, checking every length first.
struct Reader<'a> {
    msg: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(msg: &'a [u8]) -> Result<Self, HandshakeError> {
        if msg.len() > MAX_MESSAGE_LEN {
            return Err(HandshakeError::MessageTooLong);
        }
        Ok(Reader { msg })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], HandshakeError> {
        if self.msg.len() < n {
            return Err(HandshakeError::Truncated);
        }
        let (head, tail) = self.msg.split_at(n);
        self.msg = tail;
        Ok(head)
    }

    fn key(&mut self) -> Result<[u8; DHLEN], HandshakeError> {
        let mut key = [0u8; DHLEN];
        key.copy_from_slice(self.take(DHLEN)?);
        Ok(key)
    }

    /// Decrypts an encrypted static key (DHLEN + 16 bytes when keyed).
    fn static_key(&mut self, sym: &mut SymmetricState) -> Result<[u8; DHLEN], HandshakeError> {
        let ciphertext = self.take(DHLEN + crate::wire::TAG_LEN)?;
        let mut key = [0u8; DHLEN];
        sym.decrypt_and_hash(ciphertext, &mut key)?;
        Ok(key)
    }

    /// The payload: everything left, decrypted into `out`.
    fn payload(self, sym: &mut SymmetricState, out: &mut [u8]) -> Result<usize, HandshakeError> {
        sym.decrypt_and_hash(self.msg, out)
    }
}
