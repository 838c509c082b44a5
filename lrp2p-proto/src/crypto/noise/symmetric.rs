//! Noise rev. 34 §4 and §5.1–5.2: the crypto functions, `CipherState` and `SymmetricState`,
//! instantiated as `25519_ChaChaPoly_BLAKE2s`.

use blake2::{Blake2s256, Digest};
use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce, Tag};
use hkdf::SimpleHkdf;
use zeroize::{Zeroize, Zeroizing};

use super::HandshakeError;
use crate::wire::TAG_LEN;

/// Noise §4.3: HASHLEN for BLAKE2s.
pub(crate) const HASHLEN: usize = 32;
/// Noise §4.1: DHLEN for X25519.
pub(crate) const DHLEN: usize = 32;

/// A 32-byte symmetric key, zeroized on drop.
pub(crate) type Key = Zeroizing<[u8; 32]>;

/// Noise §4.3: HASH(data) with BLAKE2s-256 over the concatenation of `parts`.
fn hash(parts: &[&[u8]]) -> [u8; HASHLEN] {
    let mut hasher = Blake2s256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Noise §4.3: HKDF(chaining_key, input_key_material, 2). Noise's HKDF is RFC 5869 with the
/// chaining key as salt and empty info: temp_key = HMAC-HASH(ck, ikm); output1 =
/// HMAC-HASH(temp_key, 0x01); output2 = HMAC-HASH(temp_key, output1 || 0x02).
fn hkdf2(chaining_key: &[u8; HASHLEN], ikm: &[u8]) -> (Key, Key) {
    let kdf = SimpleHkdf::<Blake2s256>::new(Some(chaining_key), ikm);
    let mut okm = Zeroizing::new([0u8; 2 * HASHLEN]);
    // Infallible: 64 bytes is far below HKDF's 255 * HASHLEN limit (RFC 5869 §2.3).
    let _ = kdf.expand(&[], okm.as_mut());
    let mut a = Zeroizing::new([0u8; HASHLEN]);
    let mut b = Zeroizing::new([0u8; HASHLEN]);
    a.copy_from_slice(&okm[..HASHLEN]);
    b.copy_from_slice(&okm[HASHLEN..]);
    (a, b)
}

/// Noise §12.3: the ChaChaPoly nonce is 32 bits of zeros followed by the little-endian 64-bit `n`.
pub(crate) fn chachapoly_nonce(n: u64) -> Nonce {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&n.to_le_bytes());
    Nonce::from(nonce)
}

/// Noise §5.1: a CipherState holds `k` (possibly empty) and the nonce `n`.
#[derive(Clone, Default)]
pub(crate) struct CipherState {
    k: Option<Key>,
    n: u64,
}

impl CipherState {
    /// Noise §5.1 InitializeKey(key): k = key, n = 0.
    fn initialize_key(&mut self, key: Key) {
        self.k = Some(key);
        self.n = 0;
    }

    fn cipher(&self) -> Option<ChaCha20Poly1305> {
        self.k.as_ref().map(|k| ChaCha20Poly1305::new(k.as_ref().into()))
    }

    /// Noise §5.1: the nonce 2^64−1 is reserved; running out is an error.
    fn next_nonce(&mut self) -> Result<u64, HandshakeError> {
        let n = self.n;
        if n == u64::MAX {
            return Err(HandshakeError::NonceExhausted);
        }
        self.n += 1;
        Ok(n)
    }
}

/// Noise §5.2: the SymmetricState: chaining key `ck`, handshake hash `h` and a CipherState.
#[derive(Clone)]
pub(crate) struct SymmetricState {
    ck: [u8; HASHLEN],
    h: [u8; HASHLEN],
    cipher: CipherState,
}

impl Drop for SymmetricState {
    fn drop(&mut self) {
        self.ck.zeroize();
    }
}

impl SymmetricState {
    /// Noise §5.2 InitializeSymmetric(protocol_name): h = name padded with zeros when it fits in
    /// HASHLEN, else HASH(name); ck = h; InitializeKey(empty).
    pub(crate) fn initialize(protocol_name: &[u8]) -> Self {
        let h = if protocol_name.len() <= HASHLEN {
            let mut h = [0u8; HASHLEN];
            h[..protocol_name.len()].copy_from_slice(protocol_name);
            h
        } else {
            hash(&[protocol_name])
        };
        SymmetricState { ck: h, h, cipher: CipherState::default() }
    }

    /// Noise §5.2 MixKey(ikm): ck, temp_k = HKDF(ck, ikm, 2); InitializeKey(temp_k).
    pub(crate) fn mix_key(&mut self, ikm: &[u8]) {
        let (ck, temp_k) = hkdf2(&self.ck, ikm);
        self.ck = *ck;
        self.cipher.initialize_key(temp_k);
    }

    /// Noise §5.2 MixHash(data): h = HASH(h || data).
    pub(crate) fn mix_hash(&mut self, data: &[u8]) {
        self.h = hash(&[&self.h, data]);
    }

    /// Noise §5.2 EncryptAndHash(plaintext): ciphertext = EncryptWithAd(h, plaintext);
    /// MixHash(ciphertext). Without a key the "ciphertext" is the plaintext. Writes into `out`
    /// and returns the bytes written.
    pub(crate) fn encrypt_and_hash(
        &mut self,
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, HandshakeError> {
        let tag_len = if self.cipher.k.is_some() { TAG_LEN } else { 0 };
        let len = plaintext.len() + tag_len;
        let out = out.get_mut(..len).ok_or(HandshakeError::BufferTooSmall)?;
        out[..plaintext.len()].copy_from_slice(plaintext);
        if let Some(cipher) = self.cipher.cipher() {
            let nonce = chachapoly_nonce(self.cipher.next_nonce()?);
            let (body, tag_out) = out.split_at_mut(plaintext.len());
            let tag = cipher
                .encrypt_in_place_detached(&nonce, &self.h, body)
                .map_err(|_| HandshakeError::BufferTooSmall)?;
            tag_out.copy_from_slice(&tag);
        }
        self.mix_hash(out);
        Ok(len)
    }

    /// Noise §5.2 DecryptAndHash(ciphertext): plaintext = DecryptWithAd(h, ciphertext);
    /// MixHash(ciphertext). Writes the plaintext into `out`; on failure nothing is mixed and the
    /// caller must discard this state (Noise §5.1: a failed decryption leaves n unchanged, but our
    /// states are consumed on success only).
    pub(crate) fn decrypt_and_hash(
        &mut self,
        ciphertext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, HandshakeError> {
        let Some(cipher) = self.cipher.cipher() else {
            let out = out.get_mut(..ciphertext.len()).ok_or(HandshakeError::BufferTooSmall)?;
            out.copy_from_slice(ciphertext);
            self.mix_hash(ciphertext);
            return Ok(ciphertext.len());
        };
        let len = ciphertext.len().checked_sub(TAG_LEN).ok_or(HandshakeError::Truncated)?;
        let out = out.get_mut(..len).ok_or(HandshakeError::BufferTooSmall)?;
        out.copy_from_slice(&ciphertext[..len]);
        let tag = Tag::from_slice(&ciphertext[len..]);
        let nonce = chachapoly_nonce(self.cipher.n);
        if cipher.decrypt_in_place_detached(&nonce, &self.h, out, tag).is_err() {
            out.zeroize();
            return Err(HandshakeError::Decrypt);
        }
        self.cipher.next_nonce()?;
        self.mix_hash(ciphertext);
        Ok(len)
    }

    /// Noise §5.2 Split(): temp_k1, temp_k2 = HKDF(ck, zerolen, 2). k1 encrypts
    /// initiator→responder, k2 responder→initiator.
    pub(crate) fn split(&self) -> (Key, Key) {
        hkdf2(&self.ck, &[])
    }

    /// Noise §5.2 GetHandshakeHash().
    pub(crate) const fn handshake_hash(&self) -> [u8; HASHLEN] {
        self.h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_protocol_name_is_hashed_short_one_padded() {
        let long = SymmetricState::initialize(b"Noise_IK_25519_ChaChaPoly_BLAKE2s");
        assert_eq!(long.h, hash(&[b"Noise_IK_25519_ChaChaPoly_BLAKE2s"]));
        let short = SymmetricState::initialize(b"Noise_N");
        assert_eq!(&short.h[..7], b"Noise_N");
        assert!(short.h[7..].iter().all(|&b| b == 0));
        assert_eq!(short.ck, short.h);
    }

    #[test]
    fn encrypt_then_decrypt_with_matching_state() {
        let mut a = SymmetricState::initialize(b"test");
        a.mix_key(b"shared secret");
        let mut b = a.clone();
        let mut ct = [0u8; 64];
        let n = a.encrypt_and_hash(b"hello", &mut ct).unwrap();
        assert_eq!(n, 5 + TAG_LEN);
        let mut pt = [0u8; 64];
        assert_eq!(b.decrypt_and_hash(&ct[..n], &mut pt).unwrap(), 5);
        assert_eq!(&pt[..5], b"hello");
        assert_eq!(a.h, b.h);
        let mut c = b.clone();
        ct[0] ^= 1;
        assert_eq!(c.decrypt_and_hash(&ct[..n], &mut pt), Err(HandshakeError::Decrypt));
    }
}
