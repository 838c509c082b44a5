//! The receiving side: read headers and bodies, check hashes, keep only verified files.
//!
//! A [`DirSink`] writes each file as `.NAME.partial-RANDOM` in the output directory, fsyncs
//! it, and renames it to `NAME` (or `NAME (1)`, … when taken) only once its hash matched; on
//! any failure the partial file is deleted. [`DiscardSink`] only counts (for `demo`).

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use blake2::Digest as _;
use rand_core::RngCore as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::{HASH_LEN, Hasher, Header, HeaderError, Status};
use crate::error::CliError;
use crate::net::{self, Link};
use crate::output::Ui;

/// Where received bodies go.
#[allow(async_fn_in_trait)]
pub(crate) trait Sink {
    /// Starts a file; returns the body bytes already held (a resumed file, see the protocol)
    /// and the hash state over them.
    async fn open(&mut self, header: &Header) -> io::Result<(u64, Hasher)>;
    /// Appends body bytes.
    async fn write(&mut self, data: &[u8]) -> io::Result<()>;
    /// The hash matched: make the file durable and visible; returns where it went.
    async fn commit(&mut self) -> io::Result<Option<PathBuf>>;
    /// The file failed: remove every trace of it (a resumable file cut short is kept,
    /// unless [`Sink::discard`] was called).
    async fn abort(&mut self);
    /// What was received is wrong (hash mismatch): keep nothing of it, resumable or not.
    fn discard(&mut self) {}
}

/// One file received and verified.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct Received {
    /// The name the sender gave.
    pub(crate) name: String,
    /// Where it was saved (`None` for a discarding sink).
    pub(crate) path: Option<PathBuf>,
    /// Bytes of body.
    pub(crate) bytes: u64,
    /// BLAKE2b-256 of the body, hex.
    pub(crate) blake2b: String,
    /// From the header to the verdict, in seconds.
    pub(crate) seconds: f64,
}

/// Serves one connection: receives files until the sender half-closes at a file boundary.
///
/// Each verified file is reported through `on_file` as it completes. The first failure
/// (refused header, hash mismatch, storage error, lost connection) tells the sender its
/// status, ends the session and is returned. A sender that sends nothing for `idle` at any
/// point is dropped with a [`CliError::Timeout`], at once (the verdict is not waited on).
pub(crate) async fn serve<L: Link, S: Sink>(
    link: &mut L,
    sink: &mut S,
    max_size: u64,
    idle: Duration,
    ui: &Ui,
    mut on_file: impl FnMut(&Received),
) -> Result<Vec<Received>, CliError> {
    let mut done = Vec::new();
    loop {
        let header = match tokio::time::timeout(idle, Header::read(link, max_size)).await {
            Err(_) => {
                verdict(link, Status::Refused, Duration::ZERO).await;
                return Err(idle_error(idle, "waiting for a file header"));
            }
            Ok(header) => header,
        };
        let header = match header {
            Ok(Some(h)) => h,
            Ok(None) => break,
            Err(HeaderError::Io(e)) => return Err(net::lost_peer("connection lost in a file header", e)),
            Err(e) => {
                let status =
                    if matches!(e, HeaderError::Perf) { Status::WrongService } else { Status::Refused };
                verdict(link, status, idle.min(net::FINISH_TIMEOUT)).await;
                return Err(CliError::Refused(format!("peer sent a bad header: {e}")));
            }
        };
        match receive_body(link, sink, &header, idle, ui).await {
            Ok(received) => {
                on_file(&received);
                done.push(received);
            }
            Err((status, error)) => {
                sink.abort().await;
                if let Some(status) = status {
                    verdict(link, status, idle.min(net::FINISH_TIMEOUT)).await;
                }
                return Err(error);
            }
        }
    }
    let _ = link.shutdown().await;
    Ok(done)
}

/// How long `demo`'s receiver waits for a sender that sends nothing, at any point of a
/// session (`recv` has `--idle-secs`).
pub(crate) const IDLE: Duration = Duration::from_secs(30);

/// The sender went quiet for `idle` while the receiver was waiting for `what`.
fn idle_error(idle: Duration, what: &str) -> CliError {
    CliError::Timeout(format!("the sender sent nothing for {} s ({what})", idle.as_secs_f64()))
}

/// Sends a final verdict, best effort, and waits up to `wait` for its acknowledgement (the
/// session ends after it, and the process may exit).
async fn verdict<L: Link>(link: &mut L, status: Status, wait: Duration) {
    let _ = link.write_all(&[status as u8]).await;
    let _ = link.shutdown().await;
    if !wait.is_zero() {
        let _ = tokio::time::timeout(wait, link.acknowledged()).await;
    }
}

/// Receives one body and its hash into `sink`; on failure, the status to tell the sender
/// (none when the connection is gone) and the error.
async fn receive_body<L: Link, S: Sink>(
    link: &mut L,
    sink: &mut S,
    header: &Header,
    idle: Duration,
    ui: &Ui,
) -> Result<Received, (Option<Status>, CliError)> {
    let started = Instant::now();
    let name = header.name.as_str();
    let storage =
        |e: io::Error| (Some(Status::DiskError), CliError::Output { path: PathBuf::from(name), source: e });
    let lost = |e: io::Error| (None, net::lost_peer(&format!("connection lost while receiving {name}"), e));
    let (held, mut hasher) = sink.open(header).await.map_err(storage)?;
    if header.resume.is_some() {
        let mut answer = vec![Status::Ok as u8];
        answer.extend_from_slice(&held.to_be_bytes());
        link.write_all(&answer).await.map_err(lost)?;
        link.flush().await.map_err(lost)?;
    }
    let bar = ui.bar(name, header.size);
    bar.set_position(held);
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = header.size - held;
    while left > 0 {
        let want = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
        let n = tokio::time::timeout(idle, link.read(&mut buf[..want]))
            .await
            .map_err(|_| (None, idle_error(idle, name)))?
            .map_err(lost)?;
        if n == 0 {
            let got = header.size - left;
            return Err((
                None,
                CliError::Transfer(format!("{name}: connection closed after {got} of {} bytes", header.size)),
            ));
        }
        hasher.update(&buf[..n]);
        sink.write(&buf[..n]).await.map_err(storage)?;
        left -= n as u64;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    let mut trailer = [0u8; HASH_LEN];
    tokio::time::timeout(idle, link.read_exact(&mut trailer))
        .await
        .map_err(|_| (None, idle_error(idle, name)))?
        .map_err(lost)?;
    let hash: [u8; HASH_LEN] = hasher.finalize().into();
    if hash != trailer || header.resume.is_some_and(|h| h != trailer) {
        sink.discard();
        return Err((
            Some(Status::HashMismatch),
            CliError::Transfer(format!("{name}: hash mismatch, the file was discarded")),
        ));
    }
    let path = sink.commit().await.map_err(storage)?;
    link.write_all(&[Status::Ok as u8]).await.map_err(lost)?;
    link.flush().await.map_err(lost)?;
    Ok(Received {
        name: name.to_owned(),
        path,
        bytes: header.size,
        blake2b: super::hex(&hash),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Saves files into a directory, atomically and only once verified.
#[derive(Debug)]
pub(crate) struct DirSink {
    /// The output directory.
    dir: PathBuf,
    /// The file being received: its name, temporary path and handle.
    current: Option<(String, PathBuf, tokio::fs::File)>,
    /// Where the current file is kept if it is cut short (a resumable one).
    keep: Option<PathBuf>,
    /// The directory the current file goes in (`dir` or one below it, version 2).
    parent: PathBuf,
    /// The directory entry just created (version 2), reported at its commit.
    made_dir: Option<PathBuf>,
}

impl DirSink {
    /// A sink writing into `dir`, which must exist and be a directory.
    pub(crate) fn new(dir: &Path) -> Result<DirSink, CliError> {
        let meta =
            std::fs::metadata(dir).map_err(|source| CliError::Output { path: dir.to_owned(), source })?;
        if !meta.is_dir() {
            return Err(CliError::Output {
                path: dir.to_owned(),
                source: io::Error::other("not a directory"),
            });
        }
        probe_writable(dir)?;
        Ok(DirSink { dir: dir.to_owned(), current: None, keep: None, parent: dir.to_owned(), made_dir: None })
    }
}

/// Creates `root/parts…` one component at a time, never through a symbolic link (one found
/// on the way is an error, as is a file); returns the directory.
fn make_dirs(root: &Path, parts: &[&str]) -> io::Result<PathBuf> {
    let mut path = root.to_owned();
    for part in parts {
        path.push(part);
        match std::fs::create_dir(&path) {
            Ok(()) => continue,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        // `symlink_metadata` does not follow a link: a link is not a directory here.
        if !std::fs::symlink_metadata(&path)?.is_dir() {
            return Err(io::Error::other(format!("{} exists and is not a directory", path.display())));
        }
    }
    Ok(path)
}

/// Proves that files can be created in `dir` by creating (and removing) an empty one, so
/// that a receiver that could store nothing says so before it listens.
fn probe_writable(dir: &Path) -> Result<(), CliError> {
    let probe = dir.join(format!(".lrp2p-probe-{:016x}", rand_core::OsRng.next_u64()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|source| CliError::Output { path: dir.to_owned(), source })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

impl Sink for DirSink {
    async fn open(&mut self, header: &Header) -> io::Result<(u64, Hasher)> {
        self.abort().await;
        self.made_dir = None;
        // Names were checked component by component (no `..`, no dotfiles).
        let mut parts: Vec<&str> = header.name.split('/').collect();
        if header.dir {
            let made = make_dirs(&self.dir, &parts)?;
            self.made_dir = Some(made);
            return Ok((0, Hasher::new()));
        }
        let leaf = parts.pop().unwrap_or_default().to_owned();
        self.parent = make_dirs(&self.dir, &parts)?;
        if let Some(hash) = &header.resume {
            return self.open_resumable(&leaf, header.size, hash).await;
        }
        for _ in 0..16 {
            let tmp = self.parent.join(format!(".{leaf}.partial-{:016x}", rand_core::OsRng.next_u64()));
            match tokio::fs::OpenOptions::new().write(true).create_new(true).open(&tmp).await {
                Ok(file) => {
                    self.current = Some((leaf.clone(), tmp, file));
                    return Ok((0, Hasher::new()));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary name"))
    }

    async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match &mut self.current {
            Some((_, _, file)) => file.write_all(data).await,
            None => Err(io::Error::other("no file open")),
        }
    }

    async fn commit(&mut self) -> io::Result<Option<PathBuf>> {
        if let Some(made) = self.made_dir.take() {
            return Ok(Some(made));
        }
        self.keep = None;
        let Some((name, tmp, mut file)) = self.current.take() else {
            return Err(io::Error::other("no file open"));
        };
        let result = async {
            file.flush().await?;
            file.sync_all().await?;
            drop(file);
            let dir = self.parent.clone();
            let tmp = tmp.clone();
            tokio::task::spawn_blocking(move || place(&dir, &name, &tmp)).await.map_err(io::Error::other)?
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result.map(Some)
    }

    async fn abort(&mut self) {
        self.drop_current();
    }

    fn discard(&mut self) {
        self.forget_kept();
    }
}

impl DirSink {
    /// Forgets where a resumable file would be kept: it is deleted instead.
    fn forget_kept(&mut self) {
        self.keep = None;
    }

    /// Ends the current file: a resumable one is kept under its resume name, any other
    /// deleted.
    fn drop_current(&mut self) {
        if let Some((_, tmp, file)) = self.current.take() {
            let _ = file.try_into_std().map(|f| f.sync_all());
            match self.keep.take() {
                Some(keep) if std::fs::rename(&tmp, &keep).is_ok() => {}
                _ => {
                    let _ = std::fs::remove_file(tmp);
                }
            }
        }
    }

    /// Opens a resumable file: takes over the kept part of an earlier transfer of the same
    /// name, size and hash (renamed to a fresh temporary name, so no concurrent session
    /// shares it), hashing what it holds; else starts empty.
    async fn open_resumable(
        &mut self,
        leaf: &str,
        size: u64,
        hash: &[u8; HASH_LEN],
    ) -> io::Result<(u64, Hasher)> {
        use tokio::io::AsyncSeekExt as _;
        let keep = self.parent.join(format!(".{leaf}.resume-{}", &super::hex(hash)[..16]));
        let tmp = self.parent.join(format!(".{leaf}.partial-{:016x}", rand_core::OsRng.next_u64()));
        let claimed = tokio::fs::rename(&keep, &tmp).await.is_ok();
        let mut file =
            tokio::fs::OpenOptions::new().read(true).write(true).create(!claimed).open(&tmp).await?;
        let mut hasher = Hasher::new();
        let mut held = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        while held < size {
            let want = usize::try_from(size - held).map_or(buf.len(), |l| l.min(buf.len()));
            let n = file.read(&mut buf[..want]).await?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            held += n as u64;
        }
        file.set_len(held).await?;
        file.seek(std::io::SeekFrom::Start(held)).await?;
        self.current = Some((leaf.to_owned(), tmp, file));
        self.keep = Some(keep);
        Ok((held, hasher))
    }
}

impl Drop for DirSink {
    /// A session cancelled mid-file (Ctrl-C, a task aborted) leaves no partial file behind
    /// (a resumable one is kept under its resume name).
    fn drop(&mut self) {
        self.drop_current();
    }
}

/// Moves the verified `tmp` to `NAME` in `dir`, or `NAME (1)`, `NAME (2)`, … if taken. A hard
/// link never replaces an existing file, so concurrent receivers cannot clobber each other.
fn place(dir: &Path, name: &str, tmp: &Path) -> io::Result<PathBuf> {
    for i in 0..1000u32 {
        let candidate = dir.join(numbered(name, i));
        match std::fs::hard_link(tmp, &candidate) {
            Ok(()) => {
                std::fs::remove_file(tmp)?;
                sync_dir(dir);
                return Ok(candidate);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            // File systems without hard links: check, then rename (racy, but rare).
            Err(_) if !candidate.exists() => {
                std::fs::rename(tmp, &candidate)?;
                sync_dir(dir);
                return Ok(candidate);
            }
            Err(_) => continue,
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{name} and 999 numbered variants exist")))
}

/// `name` for 0; `stem (i).ext` otherwise.
fn numbered(name: &str, i: u32) -> String {
    if i == 0 {
        return name.to_owned();
    }
    match name.rfind('.') {
        Some(dot) if dot > 0 => format!("{} ({i}){}", &name[..dot], &name[dot..]),
        _ => format!("{name} ({i})"),
    }
}

/// Makes a rename durable (best effort: not every platform can sync a directory).
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes bodies to standard output as they arrive (`recv --stdout`): nothing can be taken
/// back, so a body whose hash then fails is reported (exit code 7) after its bytes.
#[derive(Debug)]
pub(crate) struct StdoutSink(tokio::io::Stdout);

impl StdoutSink {
    /// A sink on this process's standard output.
    pub(crate) fn new() -> StdoutSink {
        StdoutSink(tokio::io::stdout())
    }
}

impl Sink for StdoutSink {
    async fn open(&mut self, _header: &Header) -> io::Result<(u64, Hasher)> {
        Ok((0, Hasher::new()))
    }
    async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.0.write_all(data).await
    }
    async fn commit(&mut self) -> io::Result<Option<PathBuf>> {
        self.0.flush().await.map(|()| None)
    }
    async fn abort(&mut self) {
        let _ = self.0.flush().await;
    }
}

/// Hashes and counts bodies, storing nothing (for `demo`).
#[derive(Debug, Default)]
pub(crate) struct DiscardSink {
    /// Bytes written so far.
    pub(crate) bytes: u64,
}

impl Sink for DiscardSink {
    async fn open(&mut self, _header: &Header) -> io::Result<(u64, Hasher)> {
        Ok((0, Hasher::new()))
    }
    async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.bytes += data.len() as u64;
        Ok(())
    }
    async fn commit(&mut self) -> io::Result<Option<PathBuf>> {
        Ok(None)
    }
    async fn abort(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_names() {
        assert_eq!(numbered("a.txt", 0), "a.txt");
        assert_eq!(numbered("a.txt", 2), "a (2).txt");
        assert_eq!(numbered(".bashrc", 1), ".bashrc (1)");
        assert_eq!(numbered("noext", 1), "noext (1)");
    }

    #[tokio::test]
    async fn a_dropped_sink_removes_its_partial_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sink = DirSink::new(dir.path()).expect("sink");
        sink.open(&Header { name: "x".to_owned(), size: 3, dir: false, resume: None }).await.expect("open");
        sink.write(b"abc").await.expect("write");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
        drop(sink);
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }

    #[test]
    fn collisions_get_numbers() {
        let dir = tempfile::tempdir().expect("tempdir");
        for i in 0..3 {
            let tmp = dir.path().join(format!(".t{i}"));
            std::fs::write(&tmp, [i]).expect("write");
            place(dir.path(), "f.bin", &tmp).expect("place");
            assert!(!tmp.exists());
        }
        assert_eq!(std::fs::read(dir.path().join("f.bin")).expect("f"), [0]);
        assert_eq!(std::fs::read(dir.path().join("f (1).bin")).expect("f1"), [1]);
        assert_eq!(std::fs::read(dir.path().join("f (2).bin")).expect("f2"), [2]);
    }
}
