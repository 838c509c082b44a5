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
//! Version 2 (`send DIR`) adds a kind byte after the version (0 file, 1 directory) and allows
//! relative paths: `/`-separated components, each checked as a plain name (so no `..`, no
//! absolute path, no dotfiles), at most [`MAX_PATH`] bytes. A directory entry has size 0 and
//! the empty body's hash; the receiver creates it (that is how empty directories are kept)
//! and never follows a symbolic link it finds on the way. Plain files are still sent as
//! version 1, so an older receiver takes them and refuses folder entries ("unsupported
//! transfer protocol version 2").
//!
//! Kind 2 (`send --resume`) is a resumable file: the header ends with the whole body's
//! BLAKE2b-256, and the receiver answers it at once with status `Ok` and the number of body
//! bytes it already holds (u64 BE) from an interrupted transfer of the same name, size and
//! hash; the sender then sends only the rest. The final hash covers the whole file, the part
//! held included, so a prefix that does not match fails the transfer as usual (and is
//! discarded). An interrupted resumable file is kept as `.NAME.resume-HASH16` for next time.
//!
//! and receiver → sender one status byte ([`Status`]). After an `Ok` the sender may send the
//! next file's header, or half-close: end of stream at a header boundary ends the session.
//! Any other status ends the session. Names are plain file names: no path separators, no
//! leading `.` (so no `.`/`..` and no dotfiles such as `.gitconfig` or `.envrc` planted in
//! the output directory), no control characters, at most [`MAX_NAME`] bytes; the receiver
//! refuses the rest.

mod recv;
mod send;
pub(crate) mod tree;

pub(crate) use recv::{DirSink, DiscardSink, IDLE, Received, StdoutSink, serve};
pub(crate) use send::{Sent, send_entry, send_file, send_one};

use blake2::Blake2b;
use blake2::digest::consts::U32;
use tokio::io::{AsyncRead, AsyncReadExt as _};

/// First bytes of every file header.
pub(crate) const MAGIC: [u8; 4] = *b"LRPF";
/// The protocol version this tool speaks.
pub(crate) const VERSION: u8 = 1;
/// The version with kinds and relative paths (`send DIR`).
pub(crate) const VERSION_PATHS: u8 = 2;
/// Longest relative path of version 2, in bytes.
pub(crate) const MAX_PATH: usize = 1024;
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
    /// The peer is not a file receiver (a perf server), or the receiver got a perf client.
    WrongService = 4,
}

impl Status {
    /// Decodes a status byte.
    pub(crate) fn from_byte(b: u8) -> Option<Status> {
        Some(match b {
            0 => Status::Ok,
            1 => Status::HashMismatch,
            2 => Status::Refused,
            3 => Status::DiskError,
            4 => Status::WrongService,
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
    /// A directory entry (version 2), not a file.
    pub(crate) dir: bool,
    /// A resumable file (version 2, kind 2): the whole body's hash, sent ahead.
    pub(crate) resume: Option<[u8; HASH_LEN]>,
}

impl Header {
    /// Serialises the header. The name must already have passed [`check_name`].
    pub(crate) fn encode(&self) -> Vec<u8> {
        let name = self.name.as_bytes();
        let len = u16::try_from(name.len()).unwrap_or(u16::MAX);
        let mut out = Vec::with_capacity(4 + 2 + 2 + name.len() + 8);
        out.extend_from_slice(&MAGIC);
        if self.dir || self.resume.is_some() || self.name.contains('/') {
            out.push(VERSION_PATHS);
            out.push(if self.resume.is_some() { 2 } else { u8::from(self.dir) });
        } else {
            out.push(VERSION);
        }
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&name[..usize::from(len)]);
        out.extend_from_slice(&self.size.to_be_bytes());
        if let Some(hash) = &self.resume {
            out.extend_from_slice(hash);
        }
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
        if magic[..] == crate::perf::HELLO[..4] {
            return Err(HeaderError::Perf);
        }
        if magic != MAGIC {
            return Err(HeaderError::Magic);
        }
        let version = r.read_u8().await?;
        let (dir, resumable) = match version {
            VERSION => (false, false),
            VERSION_PATHS => match r.read_u8().await? {
                0 => (false, false),
                1 => (true, false),
                2 => (false, true),
                k => return Err(HeaderError::Name(format!("unknown entry kind {k}"))),
            },
            _ => return Err(HeaderError::Version(version)),
        };
        let limit = if version == VERSION { MAX_NAME } else { MAX_PATH };
        let len = usize::from(r.read_u16().await?);
        if len > limit {
            return Err(HeaderError::Name(format!("{len} bytes long, the limit is {limit}")));
        }
        let mut name = vec![0u8; len];
        r.read_exact(&mut name).await?;
        let name = String::from_utf8(name).map_err(|_| HeaderError::Name("not UTF-8".to_owned()))?;
        if version == VERSION { check_name(&name) } else { check_path(&name) }.map_err(HeaderError::Name)?;
        let size = r.read_u64().await?;
        if size > max_size || (dir && size != 0) {
            return Err(HeaderError::Size(size));
        }
        let mut resume = None;
        if resumable {
            let mut hash = [0u8; HASH_LEN];
            r.read_exact(&mut hash).await?;
            resume = Some(hash);
        }
        Ok(Some(Header { name, size, dir, resume }))
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
    /// A perf client (`lrp2p perf client` to the wrong port).
    #[error("a perf client (`lrp2p perf client`), not a file transfer: it has the wrong port")]
    Perf,
    /// Another protocol version.
    #[error("unsupported transfer protocol version {0} (this lrp2p speaks versions 1 and 2: upgrade it)")]
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

/// Checks a relative path of version 2: `/`-separated components, each a plain name.
pub(crate) fn check_path(path: &str) -> Result<(), String> {
    if path.len() > MAX_PATH {
        return Err(format!("{} bytes long, the limit is {MAX_PATH}", path.len()));
    }
    path.split('/').try_for_each(check_name)
}

/// Lowercase hex of a hash, for summaries.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
