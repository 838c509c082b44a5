//! ChaCha20-Poly1305 behind one small trait, with two interchangeable backends.
//!
//! The transport (and the Noise `CipherState`) only ever needs "seal or open these bytes in place
//! under this key and this 64-bit counter". [`Aead`] is exactly that, so the data path is generic
//! over the backend:
//!
//! - [`RustCryptoAead`]: the pure-Rust `chacha20poly1305` crate; always available.
//! - `RingAead`: `ring`'s C/assembly implementation; only with the crate feature `ring`.
//!
//! [`DefaultAead`] picks `ring` when the feature is on. Both produce identical bytes (tested).
//!
//! Nonce (Noise rev 34 §12.3, "ChaChaPoly"): 32 bits of zeros followed by the little-endian
//! encoding of the 64-bit counter `n`. The tag is detached: callers decide where it goes.

use crate::wire::TAG_LEN;

/// Key length of ChaCha20-Poly1305 in bytes.
pub const KEY_LEN: usize = 32;

/// An AEAD operation failed: a tag did not verify, or the backend refused its input.
///
/// Deliberately carries no detail: an attacker learns nothing from how opening failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("AEAD operation failed")]
pub struct AeadError;

/// ChaCha20-Poly1305 with a fixed key and the Noise nonce form (Noise rev 34 §12.3).
///
/// Implementations work in place and must not allocate. Callers guarantee that a counter is
/// never used twice under one key for sealing (the transport's counters only go up).
pub trait Aead: Sized + Send + Sync {
    /// A short name for benchmarks and logs.
    const NAME: &'static str;

    /// Builds the cipher for one 32-byte key.
    ///
    /// Fails only if the backend rejects the key; neither backend does for a 32-byte key.
    fn new(key: &[u8; KEY_LEN]) -> Result<Self, AeadError>;

    /// Encrypts `buf` in place with nonce `counter` and associated data `ad`; returns the tag.
    ///
    /// Fails only if `buf` exceeds the backend's maximum message length (about 256 GiB).
    fn seal_in_place(&self, counter: u64, ad: &[u8], buf: &mut [u8]) -> Result<[u8; TAG_LEN], AeadError>;

    /// Verifies `tag` over `ad` and the ciphertext in `buf`, then decrypts `buf` in place.
    ///
    /// On error the contents of `buf` are unspecified and must be discarded.
    fn open_in_place(
        &self,
        counter: u64,
        ad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), AeadError>;

    /// The next key in the chain: Noise rev 34 §11.3 `REKEY(k)`.
    ///
    /// "Returns a new 32-byte cipher key as a pseudorandom function of k": the first 32 bytes of
    /// `ENCRYPT(k, maxnonce, zerolen, zeros)` with `maxnonce = 2^64 - 1` and 32 zero bytes. The
    /// transport never sends counter `2^64 - 1` (see [`super::session`]), so the nonce is free.
    fn rekey(&self) -> Result<Self, AeadError> {
        Self::new(&*self.rekey_bytes()?)
    }

    /// The bytes of [`Aead::rekey`]'s key, zeroized on drop: 32 bytes to hold a key that is
    /// rarely used, where a built key object may take far more (ring's: ~560 bytes).
    fn rekey_bytes(&self) -> Result<zeroize::Zeroizing<[u8; KEY_LEN]>, AeadError> {
        // Zeroizing: the new key bytes must not linger on the stack.
        let mut next = zeroize::Zeroizing::new([0u8; KEY_LEN]);
        // Noise §11.3: the tag is discarded; only the 32 ciphertext bytes form the key.
        let _tag = self.seal_in_place(u64::MAX, &[], &mut next[..])?;
        Ok(next)
    }
}

/// The 96-bit nonce for `counter`. Noise rev 34 §12.3: "32 bits of zeros followed by
/// little-endian encoding of n".
#[inline]
pub(crate) fn nonce(counter: u64) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&counter.to_le_bytes());
    nonce
}

/// The AEAD used when none is named: `ring`'s with the feature `ring`, else RustCrypto's.
#[cfg(feature = "ring")]
pub type DefaultAead = RingAead;

/// The AEAD used when none is named: `ring`'s with the feature `ring`, else RustCrypto's.
#[cfg(not(feature = "ring"))]
pub type DefaultAead = RustCryptoAead;

/// ChaCha20-Poly1305 from the pure-Rust `chacha20poly1305` crate.
///
/// The key is zeroized on drop (the crate's `ChaCha20Poly1305` is `ZeroizeOnDrop`).
/// Size: 32 bytes (the key; the ChaCha20 state is rebuilt per packet, on the stack).
#[derive(Clone)]
pub struct RustCryptoAead {
    cipher: chacha20poly1305::ChaCha20Poly1305,
}

impl core::fmt::Debug for RustCryptoAead {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("RustCryptoAead { .. }")
    }
}

impl RustCryptoAead {
    /// Seals with an arbitrary 96-bit nonce (for RFC 8439 test vectors).
    fn seal_with_nonce(
        &self,
        nonce: &[u8; 12],
        ad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], AeadError> {
        use chacha20poly1305::AeadInPlace;
        let tag = self.cipher.encrypt_in_place_detached(nonce.into(), ad, buf).map_err(|_| AeadError)?;
        Ok(tag.into())
    }

    /// Opens with an arbitrary 96-bit nonce (for RFC 8439 test vectors).
    fn open_with_nonce(
        &self,
        nonce: &[u8; 12],
        ad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), AeadError> {
        use chacha20poly1305::AeadInPlace;
        self.cipher.decrypt_in_place_detached(nonce.into(), ad, buf, tag.into()).map_err(|_| AeadError)
    }
}

impl Aead for RustCryptoAead {
    const NAME: &'static str = "chacha20poly1305 (RustCrypto)";

    fn new(key: &[u8; KEY_LEN]) -> Result<Self, AeadError> {
        use chacha20poly1305::KeyInit;
        Ok(RustCryptoAead { cipher: chacha20poly1305::ChaCha20Poly1305::new(key.into()) })
    }

    #[inline]
    fn seal_in_place(&self, counter: u64, ad: &[u8], buf: &mut [u8]) -> Result<[u8; TAG_LEN], AeadError> {
        self.seal_with_nonce(&nonce(counter), ad, buf)
    }

    #[inline]
    fn open_in_place(
        &self,
        counter: u64,
        ad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), AeadError> {
        self.open_with_nonce(&nonce(counter), ad, buf, tag)
    }
}

#[cfg(feature = "ring")]
pub use ring_backend::RingAead;

#[cfg(feature = "ring")]
mod ring_backend {
    use super::{Aead, AeadError, KEY_LEN, TAG_LEN, nonce};
    use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, Tag, UnboundKey};

    /// ChaCha20-Poly1305 from `ring` (C and assembly; faster on most CPUs).
    ///
    /// Holds `ring`'s key object, built once, as boringtun's sessions do: building it for each
    /// packet (an earlier design, so as to keep only zeroized key bytes) cost 2–5 % of the CPU
    /// of a bulk transfer, copying ~560 bytes twice per datagram. The price: `ring` does not
    /// zeroize its key objects, so a session's keys stay in freed memory after it ends (as
    /// with every `ring`-based transport), and each key takes ~560 bytes (its enum is sized
    /// for AES-GCM). The RustCrypto backend (the default) zeroizes its keys.
    pub struct RingAead {
        key: LessSafeKey,
    }

    impl core::fmt::Debug for RingAead {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("RingAead { .. }")
        }
    }

    impl RingAead {
        /// Seals with an arbitrary 96-bit nonce (for RFC 8439 test vectors).
        pub(super) fn seal_with_nonce(
            &self,
            nonce: &[u8; 12],
            ad: &[u8],
            buf: &mut [u8],
        ) -> Result<[u8; TAG_LEN], AeadError> {
            let tag = self
                .key
                .seal_in_place_separate_tag(Nonce::assume_unique_for_key(*nonce), Aad::from(ad), buf)
                .map_err(|_| AeadError)?;
            <[u8; TAG_LEN]>::try_from(tag.as_ref()).map_err(|_| AeadError)
        }

        /// Opens with an arbitrary 96-bit nonce (for RFC 8439 test vectors).
        pub(super) fn open_with_nonce(
            &self,
            nonce: &[u8; 12],
            ad: &[u8],
            buf: &mut [u8],
            tag: &[u8; TAG_LEN],
        ) -> Result<(), AeadError> {
            self.key
                .open_in_place_separate_tag(
                    Nonce::assume_unique_for_key(*nonce),
                    Aad::from(ad),
                    Tag::from(*tag),
                    buf,
                    0..,
                )
                .map(|_| ())
                .map_err(|_| AeadError)
        }
    }

    impl Aead for RingAead {
        const NAME: &'static str = "ring";

        fn new(key: &[u8; KEY_LEN]) -> Result<Self, AeadError> {
            // `ring` copies the key bytes into its object; the caller's copy is the caller's to
            // zeroize.
            let key = UnboundKey::new(&CHACHA20_POLY1305, &key[..]).map_err(|_| AeadError)?;
            Ok(RingAead { key: LessSafeKey::new(key) })
        }

        #[inline]
        fn seal_in_place(&self, counter: u64, ad: &[u8], buf: &mut [u8]) -> Result<[u8; TAG_LEN], AeadError> {
            self.seal_with_nonce(&nonce(counter), ad, buf)
        }

        #[inline]
        fn open_in_place(
            &self,
            counter: u64,
            ad: &[u8],
            buf: &mut [u8],
            tag: &[u8; TAG_LEN],
        ) -> Result<(), AeadError> {
            self.open_with_nonce(&nonce(counter), ad, buf, tag)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
mod tests {
    use super::*;

    /// Decodes hex (whitespace ignored); test-only.
    fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    fn arr<const N: usize>(v: &[u8]) -> [u8; N] {
        v.try_into().unwrap()
    }

    // RFC 8439 §2.8.2: the AEAD example. Its nonce (07 00 00 00 | 40..47) is not of the Noise
    // form, so it goes through the backends' raw-nonce helpers.
    const R2_KEY: &str = "808182838485868788898a8b8c8d8e8f 909192939495969798999a9b9c9d9e9f";
    const R2_NONCE: &str = "070000004041424344454647";
    const R2_AD: &str = "50515253c0c1c2c3c4c5c6c7";
    const R2_PT: &[u8] = b"Ladies and Gentlemen of the class of '99: If I could offer you only \
        one tip for the future, sunscreen would be it.";
    const R2_CT: &str = "d31a8d34648e60db7b86afbc53ef7ec2 a4aded51296e08fea9e2b5a736ee62d6
        3dbea45e8ca9671282fafb69da92728b 1a71de0a9e060b2905d6a5b67ecd3b36 92ddbd7f2d778b8c9803aee328091b58
        fab324e4fad675945585808b4831d7bc 3ff4def08e4b7a9de576d26586cec64b 6116";
    const R2_TAG: &str = "1ae10b594f09e26a7e902ecbd0600691";

    // RFC 8439 Appendix A.5: its nonce 00 00 00 00 | 01..08 *is* of the Noise form, with
    // n = 0x0807060504030201, so it tests `seal_in_place`/`open_in_place` themselves.
    const A5_KEY: &str = "1c9240a5eb55d38af333888604f6b5f0 473917c1402b80099dca5cbc207075c0";
    const A5_COUNTER: u64 = 0x0807_0605_0403_0201;
    const A5_AD: &str = "f33388860000000000004e91";
    const A5_PT: &[u8] = "Internet-Drafts are draft documents valid for a maximum of six months and \
        may be updated, replaced, or obsoleted by other documents at any time. It is inappropriate \
        to use Internet-Drafts as reference material or to cite them other than as /\u{201c}work \
        in progress./\u{201d}"
        .as_bytes();
    const A5_CT: &str = "64a0861575861af460f062c79be643bd 5e805cfd345cf389f108670ac76c8cb2
        4c6cfc18755d43eea09ee94e382d26b0 bdb7b73c321b0100d4f03b7f355894cf 332f830e710b97ce98c8a84abd0b9481
        14ad176e008d33bd60f982b1ff37c855 9797a06ef4f0ef61c186324e2b350638 3606907b6a7c02b0f9f6157b53c867e4
        b9166c767b804d46a59b5216cde7a4e9 9040c5a40433225ee282a1b0a06c523e af4534d7f83fa1155b0047718cbc546a
        0d072b04b3564eea1b422273f548271a 0bb2316053fa76991955ebd63159434e cebb4e466dae5a1073a6727627097a10
        49e617d91d361094fa68f0ff77987130 305beaba2eda04df997b714d6c6f2c29 a6ad5cb4022b02709b";
    const A5_TAG: &str = "eead9d67890cbb22392336fea1851f38";

    // Pinned once: key = 00..1f, n = 5, ad = "lrp2p", plaintext = "hello, transport". Computed
    // with both backends and, independently, with OpenSSL (Python `cryptography`), all equal.
    const PIN_CT: &str = "4b6dfa662a09674af9cb573b55da42d7";
    const PIN_TAG: &str = "6a4a04c5f4edda210257dab358d37439";

    fn pin_key() -> [u8; 32] {
        core::array::from_fn(|i| i as u8)
    }

    #[test]
    fn nonce_is_noise_form() {
        assert_eq!(nonce(0x0102_0304_0506_0708), [0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(nonce(0), [0; 12]);
    }

    fn rfc8439_2_8_2_raw(
        seal: impl Fn(&[u8; 12], &[u8], &mut [u8]) -> Result<[u8; 16], AeadError>,
        open: impl Fn(&[u8; 12], &[u8], &mut [u8], &[u8; 16]) -> Result<(), AeadError>,
    ) {
        let nonce: [u8; 12] = arr(&hex(R2_NONCE));
        let mut buf = R2_PT.to_vec();
        let tag = seal(&nonce, &hex(R2_AD), &mut buf).unwrap();
        assert_eq!(buf, hex(R2_CT));
        assert_eq!(tag.to_vec(), hex(R2_TAG));
        open(&nonce, &hex(R2_AD), &mut buf, &tag).unwrap();
        assert_eq!(buf, R2_PT);
    }

    fn known_answers<A: Aead>() {
        // Appendix A.5, through the trait (our nonce form).
        let a = A::new(&arr(&hex(A5_KEY))).unwrap();
        let mut buf = A5_PT.to_vec();
        let tag = a.seal_in_place(A5_COUNTER, &hex(A5_AD), &mut buf).unwrap();
        assert_eq!(buf, hex(A5_CT));
        assert_eq!(tag.to_vec(), hex(A5_TAG));
        a.open_in_place(A5_COUNTER, &hex(A5_AD), &mut buf, &tag).unwrap();
        assert_eq!(buf, A5_PT);

        // A wrong counter, ad or tag fails.
        let tag = a.seal_in_place(A5_COUNTER, &hex(A5_AD), &mut buf).unwrap();
        let mut copy = buf.clone();
        assert_eq!(a.open_in_place(A5_COUNTER + 1, &hex(A5_AD), &mut copy, &tag), Err(AeadError));
        let mut copy = buf.clone();
        assert_eq!(a.open_in_place(A5_COUNTER, b"", &mut copy, &tag), Err(AeadError));
        let mut bad = tag;
        bad[15] ^= 1;
        assert_eq!(a.open_in_place(A5_COUNTER, &hex(A5_AD), &mut buf, &bad), Err(AeadError));

        // Pinned answer for a small input.
        let a = A::new(&pin_key()).unwrap();
        let mut buf = *b"hello, transport";
        let tag = a.seal_in_place(5, b"lrp2p", &mut buf).unwrap();
        assert_eq!(buf.to_vec(), hex(PIN_CT));
        assert_eq!(tag.to_vec(), hex(PIN_TAG));
    }

    #[test]
    fn rustcrypto_rfc8439_2_8_2() {
        let a = RustCryptoAead::new(&arr(&hex(R2_KEY))).unwrap();
        rfc8439_2_8_2_raw(
            |n, ad, b| a.seal_with_nonce(n, ad, b),
            |n, ad, b, t| a.open_with_nonce(n, ad, b, t),
        );
    }

    #[test]
    fn rustcrypto_known_answers() {
        known_answers::<RustCryptoAead>();
    }

    #[test]
    fn rekey_is_first_32_bytes_of_encrypt_at_max_nonce() {
        let a = RustCryptoAead::new(&pin_key()).unwrap();
        let mut expect = [0u8; 32];
        let _ = a.seal_in_place(u64::MAX, &[], &mut expect).unwrap();
        let next = a.rekey().unwrap();
        let reference = RustCryptoAead::new(&expect).unwrap();
        let (mut x, mut y) = ([7u8; 40], [7u8; 40]);
        let tx = next.seal_in_place(1, b"ad", &mut x).unwrap();
        let ty = reference.seal_in_place(1, b"ad", &mut y).unwrap();
        assert_eq!((x, tx), (y, ty));
        // And it is a different key from the original.
        let mut z = [7u8; 40];
        let _ = a.seal_in_place(1, b"ad", &mut z).unwrap();
        assert_ne!(x, z);
    }

    #[cfg(feature = "ring")]
    #[test]
    fn ring_rfc8439_2_8_2() {
        let a = RingAead::new(&arr(&hex(R2_KEY))).unwrap();
        rfc8439_2_8_2_raw(
            |n, ad, b| a.seal_with_nonce(n, ad, b),
            |n, ad, b, t| a.open_with_nonce(n, ad, b, t),
        );
    }

    #[cfg(feature = "ring")]
    #[test]
    fn ring_known_answers() {
        known_answers::<RingAead>();
    }

    #[cfg(feature = "ring")]
    #[test]
    fn ring_and_rustcrypto_agree() {
        // Many lengths (0, partial blocks, multi-block), counters and ads; plus rekey chains.
        let mut rc = RustCryptoAead::new(&pin_key()).unwrap();
        let mut rg = RingAead::new(&pin_key()).unwrap();
        for round in 0..4u64 {
            for len in [0usize, 1, 15, 16, 17, 63, 64, 65, 255, 1383, 1400] {
                let counter = round.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ len as u64;
                let ad = [round as u8; 17];
                let pt: Vec<u8> = (0..len).map(|i| (i * 31 + round as usize) as u8).collect();
                let (mut x, mut y) = (pt.clone(), pt.clone());
                let tx = rc.seal_in_place(counter, &ad, &mut x).unwrap();
                let ty = rg.seal_in_place(counter, &ad, &mut y).unwrap();
                assert_eq!((&x, tx), (&y, ty), "len {len} round {round}");
                rg.open_in_place(counter, &ad, &mut x, &tx).unwrap();
                rc.open_in_place(counter, &ad, &mut y, &ty).unwrap();
                assert_eq!((&x, &y), (&pt, &pt));
            }
            rc = rc.rekey().unwrap();
            rg = rg.rekey().unwrap();
        }
    }
}
