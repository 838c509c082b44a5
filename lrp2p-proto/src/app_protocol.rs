//! The application protocol id (PROTOCOL.md §7.7, APP_PROTOCOL): 1 to 32 opaque bytes an
//! initiator names the service it wants with, like QUIC's ALPN, so that one socket can host
//! several services and each refuses the others' sessions before giving them anything.

use core::fmt;

/// Longest application protocol id (PROTOCOL.md §7.7).
pub const MAX_APP_PROTOCOL_LEN: usize = 32;

/// An application protocol id: 1 to [`MAX_APP_PROTOCOL_LEN`] opaque bytes (by convention
/// printable ASCII such as `"lrp2p-perf"`). Held inline, without an allocation.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AppProtocol {
    len: u8,
    bytes: [u8; MAX_APP_PROTOCOL_LEN],
}

/// An application protocol id that is empty or longer than [`MAX_APP_PROTOCOL_LEN`] bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("an application protocol id is 1 to 32 bytes, not {0}")]
pub struct InvalidAppProtocol(pub usize);

impl AppProtocol {
    /// The id `bytes`, if it is 1 to 32 bytes long.
    pub fn new(bytes: &[u8]) -> Result<Self, InvalidAppProtocol> {
        let len = u8::try_from(bytes.len()).map_err(|_| InvalidAppProtocol(bytes.len()))?;
        if bytes.is_empty() || bytes.len() > MAX_APP_PROTOCOL_LEN {
            return Err(InvalidAppProtocol(bytes.len()));
        }
        let mut id = AppProtocol { len, bytes: [0; MAX_APP_PROTOCOL_LEN] };
        id.bytes[..bytes.len()].copy_from_slice(bytes);
        Ok(id)
    }

    /// The id `bytes` as a constant: its length is checked when the constant is evaluated, at
    /// compile time.
    #[allow(clippy::cast_possible_truncation)] // at most 32, asserted
    pub(crate) const fn from_static(bytes: &'static [u8]) -> Self {
        assert!(!bytes.is_empty() && bytes.len() <= MAX_APP_PROTOCOL_LEN, "an id is 1 to 32 bytes");
        let mut id = [0; MAX_APP_PROTOCOL_LEN];
        let mut i = 0;
        while i < bytes.len() {
            id[i] = bytes[i];
            i += 1;
        }
        AppProtocol { len: bytes.len() as u8, bytes: id }
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// How many bytes the id has (1 to 32).
    pub const fn byte_len(&self) -> usize {
        self.len as usize
    }
}

impl TryFrom<&[u8]> for AppProtocol {
    type Error = InvalidAppProtocol;

    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        AppProtocol::new(bytes)
    }
}

impl TryFrom<&str> for AppProtocol {
    type Error = InvalidAppProtocol;

    fn try_from(text: &str) -> Result<Self, Self::Error> {
        AppProtocol::new(text.as_bytes())
    }
}

/// The bytes as text, non-printable ones escaped (`\x00`): ids come from the network.
impl fmt::Display for AppProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.as_bytes() {
            if b.is_ascii_graphic() || b == b' ' {
                write!(f, "{}", char::from(b))?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for AppProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AppProtocol(\"{self}\")")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_display() {
        assert_eq!(AppProtocol::new(b""), Err(InvalidAppProtocol(0)));
        assert_eq!(AppProtocol::new(&[b'a'; 33]), Err(InvalidAppProtocol(33)));
        assert_eq!(AppProtocol::new(&[0; 300]), Err(InvalidAppProtocol(300)));
        let max = AppProtocol::new(&[b'a'; 32]).unwrap();
        assert_eq!(max.as_bytes().len(), 32);
        let id = AppProtocol::try_from("lrp2p-perf").unwrap();
        assert_eq!(id.as_bytes(), b"lrp2p-perf");
        assert_eq!(id.to_string(), "lrp2p-perf");
        assert_eq!(AppProtocol::new(b"a\0\n").unwrap().to_string(), "a\\x00\\x0a");
        assert_eq!(format!("{id:?}"), "AppProtocol(\"lrp2p-perf\")");
    }
}
