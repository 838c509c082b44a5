//! The sending side: header, body, hash, then wait for the receiver's verdict.

use std::path::Path;
use std::time::{Duration, Instant};

use blake2::Digest as _;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use super::{HASH_LEN, Hasher, Header, Status, check_name};
use crate::error::CliError;
use crate::net::Link;
use crate::output::Ui;

/// Chunk size for reading and writing bodies.
const CHUNK: usize = 64 * 1024;

/// One file delivered and confirmed.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct Sent {
    /// The name the receiver was given.
    pub(crate) name: String,
    /// Bytes of body.
    pub(crate) bytes: u64,
    /// BLAKE2b-256 of the body, hex.
    pub(crate) blake2b: String,
    /// From the first header byte to the verdict.
    #[serde(serialize_with = "secs")]
    pub(crate) elapsed: Duration,
}

/// Serialises a duration as seconds.
fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Sends the file at `path` under its own name.
///
/// `verdict_timeout` bounds the wait for the receiver's verdict after the last byte.
pub(crate) async fn send_file<L: Link>(
    link: &mut L,
    path: &Path,
    ui: &Ui,
    verdict_timeout: Duration,
) -> Result<Sent, CliError> {
    let input = |source| CliError::Input { path: path.to_owned(), source };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| input(std::io::Error::other("no usable UTF-8 file name")))?
        .to_owned();
    check_name(&name).map_err(|e| input(std::io::Error::other(e)))?;
    let file = tokio::fs::File::open(path).await.map_err(input)?;
    let meta = file.metadata().await.map_err(input)?;
    if !meta.is_file() {
        return Err(input(std::io::Error::other("not a regular file")));
    }
    send_one(link, &name, meta.len(), file, ui, verdict_timeout).await.map_err(|e| match e {
        // Reading the source failed mid-way: name the file.
        CliError::Input { source, .. } => input(source),
        other => other,
    })
}

/// Sends `size` bytes from `source` as the file `name`, and waits for the receiver's verdict.
///
/// The verdict is read while the body is still being written, so a receiver that gives up
/// early (refused header, full disk) stops the sender at once.
pub(crate) async fn send_one<L: Link, R: AsyncRead + Unpin>(
    link: &mut L,
    name: &str,
    size: u64,
    source: R,
    ui: &Ui,
    verdict_timeout: Duration,
) -> Result<Sent, CliError> {
    let started = Instant::now();
    let bar = ui.bar(name, size);
    let (mut rd, mut wr) = tokio::io::split(&mut *link);
    let header = Header { name: name.to_owned(), size };
    let body = write_body(&mut wr, &header, source, &bar);
    tokio::pin!(body);
    let (status, hash) = tokio::select! {
        // The receiver's early verdict explains a failed write best: look at it first.
        biased;
        early = rd.read_u8() => (early.map_err(|e| lost(name, e))?, None),
        written = &mut body => match written {
            Ok(hash) => {
                let status = tokio::time::timeout(verdict_timeout, rd.read_u8())
                    .await
                    .map_err(|_| CliError::Timeout(format!("no verdict from the receiver on {name}")))?
                    .map_err(|e| lost(name, e))?;
                (status, Some(hash))
            }
            // A receiver that gave up said why just before closing.
            Err(e) => match tokio::time::timeout(Duration::from_secs(1), rd.read_u8()).await {
                Ok(Ok(status)) => (status, None),
                _ => return Err(e),
            },
        },
    };
    bar.finish_and_clear();
    match (Status::from_byte(status), hash) {
        (Some(Status::Ok), Some(hash)) => Ok(Sent {
            name: name.to_owned(),
            bytes: size,
            blake2b: super::hex(&hash),
            elapsed: started.elapsed(),
        }),
        (Some(Status::Ok), None) => {
            Err(CliError::Transfer(format!("receiver confirmed {name} before its end")))
        }
        (Some(Status::HashMismatch), _) => {
            Err(CliError::Transfer(format!("{name}: the receiver's hash did not match; nothing was kept")))
        }
        (Some(Status::Refused), _) => Err(CliError::Refused(format!("the receiver refused {name}"))),
        (Some(Status::DiskError), _) => Err(CliError::Transfer(format!(
            "{name}: the receiver could not store it (disk full or not writable)"
        ))),
        (None, _) => Err(CliError::Transfer(format!("unknown verdict byte {status} on {name}"))),
    }
}

/// Writes header, body and hash; returns the hash.
async fn write_body<W: AsyncWrite + Unpin, R: AsyncRead + Unpin>(
    wr: &mut W,
    header: &Header,
    mut source: R,
    bar: &indicatif::ProgressBar,
) -> Result<[u8; HASH_LEN], CliError> {
    let name = header.name.as_str();
    wr.write_all(&header.encode()).await.map_err(|e| lost(name, e))?;
    let mut hasher = Hasher::new();
    let mut buf = vec![0u8; CHUNK];
    let mut left = header.size;
    while left > 0 {
        let want = usize::try_from(left).map_or(CHUNK, |l| l.min(CHUNK));
        let n = source
            .read(&mut buf[..want])
            .await
            .map_err(|source| CliError::Input { path: name.into(), source })?;
        if n == 0 {
            return Err(CliError::Input {
                path: name.into(),
                source: std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file shrank while being sent",
                ),
            });
        }
        hasher.update(&buf[..n]);
        wr.write_all(&buf[..n]).await.map_err(|e| lost(name, e))?;
        left -= n as u64;
        bar.inc(n as u64);
    }
    let hash: [u8; HASH_LEN] = hasher.finalize().into();
    wr.write_all(&hash).await.map_err(|e| lost(name, e))?;
    wr.flush().await.map_err(|e| lost(name, e))?;
    Ok(hash)
}

/// The connection failed while sending `name`.
fn lost(name: &str, e: std::io::Error) -> CliError {
    crate::net::lost_server(&format!("connection lost while sending {name}"), e)
}
