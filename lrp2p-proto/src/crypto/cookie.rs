//! Stateless cookies: how a responder under load makes an initiator prove its address.
//!
//! Modelled on WireGuard's cookie reply (whitepaper §5.4.7) and QUIC's Retry (RFC 9000 §8.1):
//!
//! ```text
//! cookie     = BLAKE2s-MAC-128(key = secret, msg = source IP (4 or 16 bytes) || port (u16 BE))
//! cookie_mac = BLAKE2s-MAC-128(key = cookie, msg = every byte of the initiation before it)
//! ```
//!
//! BLAKE2s-MAC is BLAKE2s in keyed mode (RFC 7693 §2.5) with a 16-byte digest. The responder
//! draws `secret` from the caller's RNG and replaces it every [`COOKIE_SECRET_LIFETIME`],
//! keeping the previous one so that cookies handed out just before a rotation still verify.
//! Checking a cookie costs two MACs and keeps no per-initiator state; only an initiator that
//! can receive at its source address learns the cookie.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use blake2::Blake2sMac;
use blake2::digest::consts::U16;
use blake2::digest::{FixedOutput, KeyInit, Mac};
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

/// Length of a cookie and of a cookie MAC.
pub const COOKIE_LEN: usize = 16;

/// How long a cookie secret is used before it is replaced (WireGuard uses 120 s).
pub const COOKIE_SECRET_LIFETIME: Duration = Duration::from_secs(120);

type Mac128 = Blake2sMac<U16>;

/// BLAKE2s-MAC-128 of `parts` under `key` (RFC 7693 keyed mode, 16-byte output).
fn mac128(key: &[u8], parts: &[&[u8]]) -> [u8; COOKIE_LEN] {
    // Keys of 1..=32 bytes are valid for BLAKE2s; ours are 16 or 32 bytes.
    let Ok(mut mac) = <Mac128 as KeyInit>::new_from_slice(key) else {
        return [0; COOKIE_LEN];
    };
    for part in parts {
        Mac::update(&mut mac, part);
    }
    mac.finalize_fixed().into()
}

/// The MAC an initiator appends to an initiation once it holds `cookie` for its address.
pub fn cookie_mac(cookie: &[u8; COOKIE_LEN], covered: &[u8]) -> [u8; COOKIE_LEN] {
    mac128(cookie, &[covered])
}

/// Encodes an address as the cookie input: IP bytes (4 or 16) then the port, big-endian.
fn address_bytes(addr: &SocketAddr, out: &mut [u8; 18]) -> usize {
    match addr {
        SocketAddr::V4(a) => {
            out[..4].copy_from_slice(&a.ip().octets());
            out[4..6].copy_from_slice(&a.port().to_be_bytes());
            6
        }
        SocketAddr::V6(a) => {
            out[..16].copy_from_slice(&a.ip().octets());
            out[16..18].copy_from_slice(&a.port().to_be_bytes());
            18
        }
    }
}

/// The responder's rotating cookie secrets.
pub struct CookieSecrets {
    current: Zeroizing<[u8; 32]>,
    previous: Option<Zeroizing<[u8; 32]>>,
    created: Instant,
}

impl CookieSecrets {
    /// Fresh secrets from the caller's RNG, valid from `now`.
    pub fn new<R: RngCore + CryptoRng>(rng: &mut R, now: Instant) -> Self {
        let mut current = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(current.as_mut());
        CookieSecrets { current, previous: None, created: now }
    }

    /// Replaces the secret when it is older than [`COOKIE_SECRET_LIFETIME`], keeping the
    /// previous one; a secret older than two lifetimes is dropped entirely.
    pub fn rotate<R: RngCore + CryptoRng>(&mut self, rng: &mut R, now: Instant) {
        let age = now.saturating_duration_since(self.created);
        if age < COOKIE_SECRET_LIFETIME {
            return;
        }
        let mut next = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(next.as_mut());
        let old = core::mem::replace(&mut self.current, next);
        self.previous = (age < 2 * COOKIE_SECRET_LIFETIME).then_some(old);
        self.created = now;
    }

    /// The cookie to send to `addr` in a cookie reply.
    pub fn cookie_for(&self, addr: &SocketAddr) -> [u8; COOKIE_LEN] {
        Self::cookie_under(&self.current, addr)
    }

    fn cookie_under(secret: &[u8; 32], addr: &SocketAddr) -> [u8; COOKIE_LEN] {
        let mut buf = [0u8; 18];
        let n = address_bytes(addr, &mut buf);
        mac128(secret, &[&buf[..n]])
    }

    /// Whether `mac` over `covered` proves that the sender holds a current or previous cookie
    /// for `addr`. The comparison is constant-time.
    pub fn verify(&self, addr: &SocketAddr, covered: &[u8], mac: &[u8; COOKIE_LEN]) -> bool {
        let secrets = core::iter::once(&self.current).chain(self.previous.as_ref());
        let mut ok = false;
        for secret in secrets {
            let cookie = Self::cookie_under(secret, addr);
            if let Ok(m) = <Mac128 as KeyInit>::new_from_slice(&cookie) {
                ok |= Mac::chain_update(m, covered).verify_slice(mac).is_ok();
            }
        }
        ok
    }
}

impl core::fmt::Debug for CookieSecrets {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CookieSecrets").field("created", &self.created).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    #[test]
    // An `Instant` can only be had from the clock; only differences from it matter here.
    #[allow(clippy::disallowed_methods)]
    fn cookie_binds_address_and_survives_one_rotation() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let t0 = Instant::now();
        let mut secrets = CookieSecrets::new(&mut rng, t0);
        let addr: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let other: SocketAddr = "127.0.0.1:4001".parse().unwrap();
        let v6: SocketAddr = "[::1]:4000".parse().unwrap();
        let cookie = secrets.cookie_for(&addr);
        let msg = b"initiation bytes";
        let mac = cookie_mac(&cookie, msg);
        assert!(secrets.verify(&addr, msg, &mac));
        assert!(!secrets.verify(&other, msg, &mac));
        assert!(!secrets.verify(&v6, msg, &mac));
        assert!(!secrets.verify(&addr, b"other bytes", &mac));
        assert!(!secrets.verify(&addr, msg, &[0; COOKIE_LEN]));

        secrets.rotate(&mut rng, t0 + Duration::from_secs(60));
        assert_eq!(secrets.cookie_for(&addr), cookie, "rotated too early");
        secrets.rotate(&mut rng, t0 + Duration::from_secs(121));
        assert_ne!(secrets.cookie_for(&addr), cookie);
        assert!(secrets.verify(&addr, msg, &mac), "previous secret must still verify");
        secrets.rotate(&mut rng, t0 + Duration::from_secs(242));
        assert!(!secrets.verify(&addr, msg, &mac), "two rotations later the cookie is dead");
    }

    #[test]
    fn blake2s_mac_known_answers() {
        // Pinned against an independent implementation (Python's hashlib.blake2s with
        // key=..., digest_size=16), which follows RFC 7693 keyed mode.
        let key16: Vec<u8> = (0u8..16).collect();
        assert_eq!(hex(&mac128(&key16, &[b"a", b"bc"])), "75296c2d2c0f51210b383f386bc8b1ff");
        let key32: [u8; 32] = core::array::from_fn(|i| u8::try_from(i).unwrap());
        let addr: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        assert_eq!(hex(&CookieSecrets::cookie_under(&key32, &addr)), "60bd4e6a902cbf3e604a9da1b8c40877");
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
