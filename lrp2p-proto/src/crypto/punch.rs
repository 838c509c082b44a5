//! The key and the tag of PUNCH datagrams (PROTOCOL.md §13.7): a pair of peers that a
//! rendezvous introduced share a key from their static keys alone, `BLAKE2s-256("lrp2p v1
//! punch" || X25519(s, P))` (the `ss` term of Noise IK, Noise spec §7.5), so that a PUNCH
//! proves it comes from the peer without a handshake; its tag is BLAKE2s-MAC-128 under that key
//! over the first byte, both static keys (sender first) and the sender's nonce.

use blake2::digest::consts::U16;
use blake2::digest::{FixedOutput, KeyInit, Mac};
use blake2::{Blake2s256, Blake2sMac, Digest};
use zeroize::Zeroizing;

use crate::identity::{PublicKey, StaticSecret};

/// Length of a PUNCH tag.
pub const PUNCH_TAG_LEN: usize = 16;

/// The key two peers share for PUNCH datagrams.
#[derive(Clone)]
pub struct PunchKey(Zeroizing<[u8; 32]>);

impl PunchKey {
    /// The key `identity` shares with `peer`; `None` for a low-order `peer` key (an all-zero
    /// shared secret, which Noise rejects too, Noise spec §12.1).
    pub fn new(identity: &StaticSecret, peer: &PublicKey) -> Option<Self> {
        let shared = identity.dalek().diffie_hellman(&x25519_dalek::PublicKey::from(*peer.as_bytes()));
        if !shared.was_contributory() {
            return None;
        }
        let mut hash = Blake2s256::new();
        hash.update(b"lrp2p v1 punch");
        hash.update(shared.as_bytes());
        Some(PunchKey(Zeroizing::new(hash.finalize().into())))
    }

    /// The tag of a PUNCH from `from` to `to` with `nonce`.
    pub fn tag(&self, from: &PublicKey, to: &PublicKey, nonce: u64) -> [u8; PUNCH_TAG_LEN] {
        let mut out = [0u8; PUNCH_TAG_LEN];
        if let Ok(mac) = <Blake2sMac<U16> as KeyInit>::new_from_slice(self.0.as_ref()) {
            let mac = mac
                .chain_update([crate::wire::PUNCH_TYPE])
                .chain_update(from.as_bytes())
                .chain_update(to.as_bytes())
                .chain_update(nonce.to_be_bytes());
            out.copy_from_slice(&mac.finalize_fixed());
        }
        out
    }

    /// Whether `tag` is that of a PUNCH from `from` to `to` with `nonce` (constant-time).
    pub fn verify(&self, from: &PublicKey, to: &PublicKey, nonce: u64, tag: &[u8; PUNCH_TAG_LEN]) -> bool {
        let Ok(mac) = <Blake2sMac<U16> as KeyInit>::new_from_slice(self.0.as_ref()) else { return false };
        mac.chain_update([crate::wire::PUNCH_TYPE])
            .chain_update(from.as_bytes())
            .chain_update(to.as_bytes())
            .chain_update(nonce.to_be_bytes())
            .verify_slice(tag)
            .is_ok()
    }
}

impl core::fmt::Debug for PunchKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PunchKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_derive_one_key_and_the_tag_binds_direction_keys_and_nonce() {
        let a = StaticSecret::from_bytes([1; 32]);
        let b = StaticSecret::from_bytes([2; 32]);
        let c = StaticSecret::from_bytes([3; 32]);
        let (ka, kb) =
            (PunchKey::new(&a, &b.public_key()).unwrap(), PunchKey::new(&b, &a.public_key()).unwrap());
        let (pa, pb) = (a.public_key(), b.public_key());
        let tag = ka.tag(&pa, &pb, 7);
        assert!(kb.verify(&pa, &pb, 7, &tag), "the peer verifies it");
        assert!(!kb.verify(&pb, &pa, 7, &tag), "not the other direction");
        assert!(!kb.verify(&pa, &pb, 8, &tag), "not another nonce");
        let kc = PunchKey::new(&c, &a.public_key()).unwrap();
        assert!(!kc.verify(&pa, &c.public_key(), 7, &tag), "not a third party");
        assert!(PunchKey::new(&a, &PublicKey::from_bytes([0; 32])).is_none(), "low-order key");
    }
}

#[cfg(test)]
mod vector {
    use super::*;
    use crate::wire::PunchRepr;

    /// PROTOCOL.md §13.9's test vector: B's secret 32 × 0x02, A's 32 × 0x01, nonce 0x0102030405060708.
    #[test]
    fn protocol_13_9_punch_vector() {
        let a = StaticSecret::from_bytes([1; 32]);
        let b = StaticSecret::from_bytes([2; 32]);
        let key = PunchKey::new(&b, &a.public_key()).unwrap_or_else(|| unreachable!());
        let nonce = 0x0102_0304_0506_0708;
        let repr = PunchRepr {
            sender: b.public_key(),
            nonce,
            tag: key.tag(&b.public_key(), &a.public_key(), nonce),
        };
        let mut buf = [0u8; crate::wire::PUNCH_LEN];
        let _ = repr.emit(&mut buf);
        let hex: String = buf.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "1bce8d3ad1ccb633ec7b70c17814a5c76ecd029685050d344745ba05870e587d590102030405060708f7906efa2c23b1318527d9454ddc77ba"
        );
    }
}
