//! The sending side: header, body, hash, then wait for the receiver's verdict.

use std::path::Path;
use std::time::{Duration, Instant};

use blake2::Digest as _;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};

use super::{HASH_LEN, Hasher, Header, Status, check_name};
use crate::error::CliError;
use crate::net::{Link, NO_ANSWER};
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
    /// Body bytes the receiver already held from an interrupted transfer (`--resume`), not
    /// sent again.
    pub(crate) resumed_from: u64,
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
    resume: bool,
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
    let hash = if resume { Some(hash_file(path).await.map_err(input)?) } else { None };
    let header = Header { name: name.clone(), size: meta.len(), dir: false, resume: hash };
    send_entry(link, header, file, ui, verdict_timeout).await.map_err(|e| match e {
        // Reading the source failed mid-way: name the file.
        CliError::Input { source, .. } => input(source),
        other => other,
    })
}

/// The BLAKE2b-256 of the file at `path` (a resumable file's header carries it).
async fn hash_file(path: &Path) -> std::io::Result<[u8; HASH_LEN]> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = Hasher::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok(hasher.finalize().into());
        }
        hasher.update(&buf[..n]);
    }
}

/// Sends `size` bytes from `source` as the file `name`, and waits for the receiver's verdict.
///
/// The verdict is read while the body is still being written, so a receiver that gives up
/// early (refused header, full disk) stops the sender at once. The bar counts the body bytes
/// the receiver has acknowledged, not those handed to the transport (see [`Progress`]).
pub(crate) async fn send_one<L: Link, R: AsyncRead + Unpin>(
    link: &mut L,
    name: &str,
    size: u64,
    source: R,
    ui: &Ui,
    verdict_timeout: Duration,
) -> Result<Sent, CliError> {
    send_entry(
        link,
        Header { name: name.to_owned(), size, dir: false, resume: None },
        source,
        ui,
        verdict_timeout,
    )
    .await
}

/// Sends one entry (a file, or with `header.dir` a directory: no body) and waits for the
/// receiver's verdict; see [`send_one`].
pub(crate) async fn send_entry<L: Link, R: AsyncRead + Unpin>(
    link: &mut L,
    header: Header,
    source: R,
    ui: &Ui,
    verdict_timeout: Duration,
) -> Result<Sent, CliError> {
    let (name, size) = (header.name.as_str(), header.size);
    let started = Instant::now();
    let bar = ui.bar(name, size);
    let encoded = header.encode();
    let mut progress = Progress::start(link, encoded.len() as u64, size);
    progress.ui = Some(*ui);
    let mut resumed_from = 0;
    let (status, hash) = match write_body(link, &encoded, &header, source, &bar, &mut progress).await {
        Ok(Written::Body(hash, held)) => {
            resumed_from = held;
            let status = verdict(link, name, verdict_timeout, &bar, &progress).await.map_err(|e| {
                e.unwrap_or_else(|| match link.link_stats() {
                    // Everything went out 0-RTT and nothing ever came back: the handshake
                    // had no answer, whatever timer ran out first.
                    Some(stats) if stats.datagrams_received == 0 => CliError::Timeout(NO_ANSWER.to_owned()),
                    _ => CliError::Timeout(format!("no verdict from the receiver on {name}")),
                })
            })?;
            (status, Some(hash))
        }
        Ok(Written::Early(status)) => (status, None),
        // A receiver that gave up said why just before closing.
        Err(e) => match tokio::time::timeout(Duration::from_secs(1), link.read_u8()).await {
            Ok(Ok(status)) => (status, None),
            _ => return Err(e),
        },
    };
    bar.finish_and_clear();
    match (Status::from_byte(status), hash) {
        (Some(Status::Ok), Some(hash)) => Ok(Sent {
            name: name.to_owned(),
            bytes: size,
            blake2b: super::hex(&hash),
            resumed_from,
            elapsed: started.elapsed(),
        }),
        (Some(Status::Ok), None) => {
            Err(CliError::Transfer(format!("receiver confirmed {name} before its end")))
        }
        (Some(Status::HashMismatch), _) => {
            Err(CliError::Transfer(format!("{name}: the receiver's hash did not match; nothing was kept")))
        }
        (Some(Status::Refused), _) => Err(CliError::Refused(format!(
            "the receiver refused {name} (a bad name or size, or an lrp2p speaking another \
             transfer protocol version: its log says which)"
        ))),
        (Some(Status::WrongService), _) => Err(CliError::Refused(
            "the peer is not a file receiver (a perf server?): check the address".to_owned(),
        )),
        (Some(Status::DiskError), _) => Err(CliError::Transfer(format!(
            "{name}: the receiver could not store it (disk full or not writable)"
        ))),
        (None, _) => Err(CliError::Transfer(format!("unknown verdict byte {status} on {name}"))),
    }
}

/// Body bytes the peer has acknowledged: stream bytes written minus those still buffered
/// unacknowledged, less what the connection carried before this file's body.
#[derive(Clone, Debug)]
pub(crate) struct Progress {
    /// Stream bytes written before the body (earlier files and this header), when the link
    /// has transport statistics.
    base: Option<u64>,
    /// The body's size.
    size: u64,
    /// Body bytes the receiver held already (a resumed file).
    held: u64,
    /// The path's change count last shown ([`Progress::show_path`]), when this file began,
    /// and where to say so.
    path_seen: std::cell::Cell<Option<u64>>,
    started: Instant,
    ui: Option<Ui>,
}

impl Progress {
    /// Starts counting before `header_len` header bytes are written.
    fn start<L: Link>(link: &L, header_len: u64, size: u64) -> Progress {
        let base = link.link_stats().map(|s| s.stream_bytes_written + header_len);
        Progress::new(base, size)
    }

    fn new(base: Option<u64>, size: u64) -> Progress {
        Progress {
            base,
            size,
            held: 0,
            path_seen: std::cell::Cell::new(None),
            started: Instant::now(),
            ui: None,
        }
    }

    /// PROTOCOL.md §13.8: the progress line says whether the path is direct or relayed, and a
    /// line (with `--json`, a `path` event) says when it changes, in ms since this file began.
    fn show_path<L: Link>(&self, link: &L, bar: &indicatif::ProgressBar) {
        let Some(path) = link.link_path() else { return };
        if self.path_seen.replace(Some(path.changes)) == Some(path.changes) {
            return;
        }
        let relayed = path.kind == lrp2p_proto::PathKind::Relayed;
        let kind = if relayed { "relayed" } else { "direct" };
        bar.set_message(kind);
        // A connection that has only ever been direct says nothing more.
        let Some(ui) = self.ui.filter(|_| relayed || path.changes > 0) else { return };
        let ms = self.started.elapsed().as_secs_f64() * 1e3;
        let remote = path.remote.to_string();
        if ui.json {
            let event = serde_json::json!({
                "event": "path", "path": kind, "remote": remote, "changes": path.changes, "after_ms": ms,
            });
            ui.json_only(&event);
        } else if path.changes > 0 {
            bar.println(format!("now {kind} ({remote}), {ms:.1} ms after the start"));
        }
    }

    /// Body bytes acknowledged now, given `written` body bytes handed to the link (what
    /// counts for links without statistics).
    pub(crate) fn acknowledged(&self, stats: Option<lrp2p_proto::ConnectionStats>, written: u64) -> u64 {
        let sent = match (self.base, stats) {
            (Some(base), Some(s)) => {
                s.stream_bytes_written.saturating_sub(s.send_buffered).saturating_sub(base)
            }
            _ => written.saturating_sub(self.held),
        };
        (self.held + sent).min(self.size)
    }
}

/// How often the bar is refreshed while waiting for acknowledgements.
const PROGRESS_TICK: Duration = Duration::from_millis(100);

/// Waits for the verdict byte, moving the bar as acknowledgements come; `Err(None)` after
/// `limit` without one.
async fn verdict<L: Link>(
    link: &mut L,
    name: &str,
    limit: Duration,
    bar: &indicatif::ProgressBar,
    progress: &Progress,
) -> Result<u8, Option<CliError>> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut byte = [0u8; 1];
    loop {
        bar.set_position(progress.acknowledged(link.link_stats(), progress.size));
        progress.show_path(link, bar);
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => return Err(None),
            () = tokio::time::sleep(PROGRESS_TICK) => {}
            // `read` is cancel-safe.
            n = link.read(&mut byte) => match n {
                Ok(1) => return Ok(byte[0]),
                Ok(_) => return Err(Some(lost(name, std::io::ErrorKind::UnexpectedEof.into()))),
                Err(e) => return Err(Some(lost(name, e))),
            },
        }
    }
}

/// How writing a file ended.
enum Written {
    /// Header, body and hash written; the hash, and the body bytes the receiver held.
    Body([u8; HASH_LEN], u64),
    /// The receiver's verdict came first (it gave up early).
    Early(u8),
}

/// Writes `data`, unless the receiver's verdict comes first: `Ok(Some(byte))` then.
async fn write_watching<L: Link>(link: &mut L, mut data: &[u8], name: &str) -> Result<Option<u8>, CliError> {
    use std::task::Poll;
    // The first write goes before any read: on a lazy connect a read starts the handshake,
    // and its first datagram must carry these bytes and the application protocol id with them
    // (PROTOCOL.md §7.7) for a server to refuse the wrong service at admission. After it, the
    // verdict is looked for first, so that one that came early is seen at once.
    let mut write_first = true;
    while !data.is_empty() {
        let step = std::future::poll_fn(|cx| {
            if write_first {
                if let Poll::Ready(written) = std::pin::Pin::new(&mut *link).poll_write(cx, data) {
                    return Poll::Ready(Ok(written));
                }
            }
            let mut byte = [0u8; 1];
            let mut rb = tokio::io::ReadBuf::new(&mut byte);
            match std::pin::Pin::new(&mut *link).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) if rb.filled().len() == 1 => return Poll::Ready(Err(Ok(byte[0]))),
                Poll::Ready(Ok(())) => {
                    return Poll::Ready(Err(Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof))));
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(Err(e))),
                Poll::Pending => {}
            }
            if write_first {
                return Poll::Pending;
            }
            std::pin::Pin::new(&mut *link).poll_write(cx, data).map(Ok)
        })
        .await;
        write_first = false;
        match step {
            Ok(Ok(0)) => return Err(lost(name, std::io::ErrorKind::WriteZero.into())),
            Ok(Ok(n)) => data = &data[n..],
            Ok(Err(e)) | Err(Err(e)) => return Err(lost(name, e)),
            Err(Ok(status)) => return Ok(Some(status)),
        }
    }
    Ok(None)
}

/// Writes header, body and hash; returns the hash, or the verdict that came first.
async fn write_body<L: Link, R: AsyncRead + Unpin>(
    link: &mut L,
    encoded: &[u8],
    header: &Header,
    mut source: R,
    bar: &indicatif::ProgressBar,
    progress: &mut Progress,
) -> Result<Written, CliError> {
    let name = header.name.as_str();
    if let Some(status) = write_watching(link, encoded, name).await? {
        return Ok(Written::Early(status));
    }
    let mut hasher = Hasher::new();
    let mut buf = vec![0u8; CHUNK];
    if header.resume.is_some() {
        // The receiver answers `Ok` and what it holds, or its verdict.
        let status = link.read_u8().await.map_err(|e| lost(name, e))?;
        if status != Status::Ok as u8 {
            return Ok(Written::Early(status));
        }
        let held = link.read_u64().await.map_err(|e| lost(name, e))?;
        if held > header.size {
            return Err(CliError::Transfer(format!(
                "{name}: the receiver claims {held} bytes of {}",
                header.size
            )));
        }
        // Skip what it holds (hashing it: the trailer covers the whole file).
        let mut skip = held;
        while skip > 0 {
            let want = usize::try_from(skip).map_or(CHUNK, |l| l.min(CHUNK));
            let n = source
                .read(&mut buf[..want])
                .await
                .map_err(|source| CliError::Input { path: name.into(), source })?;
            if n == 0 {
                return Err(CliError::Input {
                    path: name.into(),
                    source: std::io::ErrorKind::UnexpectedEof.into(),
                });
            }
            hasher.update(&buf[..n]);
            skip -= n as u64;
        }
        progress.held = held;
    }
    let mut left = header.size - progress.held;
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
        if let Some(status) = write_watching(link, &buf[..n], name).await? {
            return Ok(Written::Early(status));
        }
        left -= n as u64;
        bar.set_position(progress.acknowledged(link.link_stats(), header.size - left));
        progress.show_path(link, bar);
    }
    let hash: [u8; HASH_LEN] = hasher.finalize().into();
    if let Some(status) = write_watching(link, &hash, name).await? {
        return Ok(Written::Early(status));
    }
    link.flush().await.map_err(|e| lost(name, e))?;
    if header.resume.is_some_and(|h| h != hash) {
        return Err(CliError::Input {
            path: name.into(),
            source: std::io::Error::other("the file changed while being sent"),
        });
    }
    Ok(Written::Body(hash, progress.held))
}

/// The connection failed while sending `name`: a refusal (exit code 5) or no answer to the
/// handshake (6), else a lost connection, which fails the transfer (7).
fn lost(name: &str, e: std::io::Error) -> CliError {
    match crate::net::lost_server(&format!("connection lost while sending {name}"), e) {
        CliError::Net { context, source } => CliError::Transfer(format!("{context}: {source}")),
        CliError::Timeout(why) if why != crate::net::NO_ANSWER => CliError::Transfer(why),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_counts_acknowledged_bytes_not_buffered_ones() {
        let mut s = lrp2p_proto::ConnectionStats::default();
        s.stream_bytes_written = 100;
        // 100 bytes before the body (earlier files, this header), a 1000-byte body.
        let p = Progress::new(Some(100), 1000);
        s.stream_bytes_written = 1100;
        s.send_buffered = 1000;
        assert_eq!(p.acknowledged(Some(s), 1000), 0, "all written, nothing acknowledged");
        s.send_buffered = 400;
        assert_eq!(p.acknowledged(Some(s), 1000), 600);
        s.send_buffered = 0;
        assert_eq!(p.acknowledged(Some(s), 1000), 1000);
        // A link without statistics counts what it took.
        assert_eq!(Progress::new(None, 1000).acknowledged(None, 250), 250);
    }
}
