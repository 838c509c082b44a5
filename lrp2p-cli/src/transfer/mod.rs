//! The file transfer protocol that `send`, `recv` and `demo` speak over one LRP2P connection.
//!
//! Per file, sender → receiver:
//!
//! ```text
//! magic "LRPF" (4) | version = 1 (1) | name length (u16 BE) | name (UTF-8) | size (u64 BE)
//! body: `size` bytes
//! BLAKE2b-256 of the body (32)
//! ```
//!
//! and receiver → sender one status byte ([`Status`]). After an `Ok` the sender may send the
//! next file's header, or half-close: end of stream at a header boundary ends the session.
//! Any other status ends the session. Names are plain file names: no path separators, no
//! leading `.` (so no `.`/`..` and no dotfiles such as `.gitconfig` or `.envrc` planted in
//! the output directory), no control characters, at most [`MAX_NAME`] bytes; the receiver
//! refuses the rest.

mod recv;
mod send;

pub(crate) use recv::{DirSink, DiscardSink, IDLE, Received, serve};
pub(crate) use send::{Sent, send_file, send_one};

use blake2::Blake2b;
use blake2::digest::consts::U32;
use tokio::io::{AsyncRead, AsyncReadExt as _};

/// First bytes of every file header.
pub(crate) const MAGIC: [u8; 4] = *b"LRPF";
/// The protocol version this tool speaks.
pub(crate) const VERSION: u8 = 1;
/// Longest file name, in bytes. The file-system limit is 255 bytes, and the receiver also
/// creates `.NAME.partial-` + 16 hex digits (26 bytes more) and `STEM (999).EXT` (6 more):
/// 200 keeps both well under it.
pub(crate) const MAX_NAME: usize = 200;
/// Largest file a receiver accepts by default: 1 TiB.
pub(crate) const MAX_SIZE: u64 = 1 << 40;
/// Length of the trailing hash.
pub(crate) const HASH_LEN: usize = 32;

/// BLAKE2b with a 256-bit output: the body's hash.
pub(crate) type Hasher = Blake2b<U32>;

/// The receiver's verdict on one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// Saved: the hash matched and the file was renamed into place.
    Ok = 0,
    /// The body's hash did not match the trailer; nothing was kept.
    HashMismatch = 1,
    /// The header was refused (bad name, size, magic or version).
    Refused = 2,
    /// The receiver could not store the file (disk full, permissions).
    DiskError = 3,
}

impl Status {
    /// Decodes a status byte.
    pub(crate) fn from_byte(b: u8) -> Option<Status> {
        Some(match b {
            0 => Status::Ok,
            1 => Status::HashMismatch,
            2 => Status::Refused,
            3 => Status::DiskError,
            _ => return None,
        })
    }
}

/// A file's header: its name and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// The plain file name (validated by [`check_name`]).
    pub(crate) name: String,
    /// Body length in bytes.
    pub(crate) size: u64,
}

impl Header {
    /// Serialises the header. The name must already have passed [`check_name`].
    pub(crate) fn encode(&self) -> Vec<u8> {
        let name = self.name.as_bytes();
        let len = u16::try_from(name.len()).unwrap_or(u16::MAX);
        let mut out = Vec::with_capacity(4 + 1 + 2 + name.len() + 8);
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&name[..usize::from(len)]);
        out.extend_from_slice(&self.size.to_be_bytes());
        out
    }

    /// Reads a header. `Ok(None)` is a clean end of the session (end of stream before its
    /// first byte); a header that breaks the rules is a [`HeaderError`], checked before any
    /// oversized allocation.
    pub(crate) async fn read<R: AsyncRead + Unpin>(
        r: &mut R,
        max_size: u64,
    ) -> Result<Option<Header>, HeaderError> {
        let mut magic = [0u8; 4];
        let n = r.read(&mut magic[..1]).await?;
        if n == 0 {
            return Ok(None);
        }
        r.read_exact(&mut magic[1..]).await?;
        if magic != MAGIC {
            return Err(HeaderError::Magic);
        }
        let version = r.read_u8().await?;
        if version != VERSION {
            return Err(HeaderError::Version(version));
        }
        let len = usize::from(r.read_u16().await?);
        if len > MAX_NAME {
            return Err(HeaderError::Name(format!("{len} bytes long, the limit is {MAX_NAME}")));
        }
        let mut name = vec![0u8; len];
        r.read_exact(&mut name).await?;
        let name = String::from_utf8(name).map_err(|_| HeaderError::Name("not UTF-8".to_owned()))?;
        check_name(&name).map_err(HeaderError::Name)?;
        let size = r.read_u64().await?;
        if size > max_size {
            return Err(HeaderError::Size(size));
        }
        Ok(Some(Header { name, size }))
    }
}

/// Why a header was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HeaderError {
    /// The stream failed or ended inside the header.
    #[error("connection failed inside a file header: {0}")]
    Io(#[from] std::io::Error),
    /// Not this protocol.
    #[error("not an lrp2p file transfer (bad magic)")]
    Magic,
    /// Another protocol version.
    #[error("unsupported transfer protocol version {0}")]
    Version(u8),
    /// A name that is not a plain file name.
    #[error("refused file name: {0}")]
    Name(String),
    /// A size over the receiver's limit.
    #[error("refused file size {0} bytes (over the limit)")]
    Size(u64),
}

/// Checks that `name` is a plain file name safe to create in the output directory.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty".to_owned());
    }
    if name.len() > MAX_NAME {
        return Err(format!("{} bytes long, the limit is {MAX_NAME}", name.len()));
    }
    if name.starts_with('.') {
        return Err(format!("`{}` starts with `.` (hidden files are refused)", name.escape_debug()));
    }
    if name.contains(['/', '\\']) {
        return Err(format!("`{}` contains a path separator", name.escape_debug()));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("`{}` contains control characters", name.escape_debug()));
    }
    Ok(())
}

/// Lowercase hex of a hash, for summaries.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
