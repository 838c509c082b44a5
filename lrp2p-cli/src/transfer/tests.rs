//! Transfer protocol tests over `tokio::io::duplex`: round trips, corruption, hostile headers,
//! full disks.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, DuplexStream, duplex};

use super::recv::Sink;
use super::*;
use crate::error::CliError;
use crate::output::Ui;

/// Every test ends within this.
const LIMIT: Duration = Duration::from_secs(20);

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| u8::try_from(i * 31 % 251).unwrap_or(0)).collect()
}

fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn round_trip_two_files_and_collision() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("b.bin"), b"already here").expect("seed");
    let (mut a, mut b) = duplex(16 * 1024);
    let out = dir.path().to_owned();
    let receiver = tokio::spawn(async move {
        let mut sink = DirSink::new(&out).expect("sink");
        serve(&mut b, &mut sink, MAX_SIZE, LIMIT, &Ui::quiet(), |_| {}).await
    });
    let one = data(300_000);
    let two = data(0);
    let sent1 = send_one(&mut a, "a.bin", one.len() as u64, &one[..], &Ui::quiet(), LIMIT).await.expect("a");
    let sent2 = send_one(&mut a, "b.bin", 0, &two[..], &Ui::quiet(), LIMIT).await.expect("b");
    a.shutdown().await.expect("shutdown");
    let got = tokio::time::timeout(LIMIT, receiver).await.expect("time").expect("join").expect("serve");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].blake2b, sent1.blake2b);
    assert_eq!(got[1].blake2b, sent2.blake2b);
    assert_eq!(std::fs::read(dir.path().join("a.bin")).expect("a"), one);
    assert_eq!(std::fs::read(dir.path().join("b (1).bin")).expect("b1"), two);
    assert_eq!(got[1].path.as_deref(), Some(dir.path().join("b (1).bin").as_path()));
    assert_eq!(listing(dir.path()), ["a.bin", "b (1).bin", "b.bin"]);
}

/// Sends a header and `body`, then the hash of `hashed` (corrupt when they differ); returns
/// the receiver's result, its status byte and the directory listing.
async fn raw_exchange(bytes: Vec<u8>) -> (Result<Vec<Received>, CliError>, Option<u8>, Vec<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut a, mut b) = duplex(1 << 20);
    let out = dir.path().to_owned();
    let receiver = tokio::spawn(async move {
        let mut sink = DirSink::new(&out).expect("sink");
        serve(&mut b, &mut sink, MAX_SIZE, LIMIT, &Ui::quiet(), |_| {}).await
    });
    // The receiver may stop reading early; the write may then fail.
    let _ = a.write_all(&bytes).await;
    let _ = a.shutdown().await;
    let result = tokio::time::timeout(LIMIT, receiver).await.expect("time").expect("join");
    let mut status = [0u8; 1];
    let status = match a.read(&mut status).await {
        Ok(1) => Some(status[0]),
        _ => None,
    };
    (result, status, listing(dir.path()))
}

fn frame(name: &str, body: &[u8], hash_of: &[u8]) -> Vec<u8> {
    use blake2::Digest as _;
    let mut out =
        Header { name: name.to_owned(), size: body.len() as u64, dir: false, resume: None }.encode();
    out.extend_from_slice(body);
    out.extend_from_slice(&Hasher::digest(hash_of));
    out
}

#[tokio::test]
async fn corruption_is_detected_and_nothing_kept() {
    let body = data(100_000);
    let mut flipped = body.clone();
    flipped[5000] ^= 1;
    let (result, status, files) = raw_exchange(frame("c.bin", &flipped, &body)).await;
    assert!(matches!(result, Err(CliError::Transfer(ref m)) if m.contains("hash mismatch")), "{result:?}");
    assert_eq!(status, Some(Status::HashMismatch as u8));
    assert!(files.is_empty(), "left behind: {files:?}");
}

#[tokio::test]
async fn truncated_body_leaves_nothing() {
    let body = data(100_000);
    let mut bytes = frame("t.bin", &body, &body);
    bytes.truncate(50_000);
    let (result, _, files) = raw_exchange(bytes).await;
    assert!(matches!(result, Err(CliError::Transfer(ref m)) if m.contains("closed after")), "{result:?}");
    assert!(files.is_empty(), "left behind: {files:?}");
}

/// A header with arbitrary name bytes and size.
fn hostile(name: &[u8], size: u64) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.push(VERSION);
    out.extend_from_slice(&u16::try_from(name.len()).expect("len").to_be_bytes());
    out.extend_from_slice(name);
    out.extend_from_slice(&size.to_be_bytes());
    out
}

#[tokio::test]
async fn hostile_headers_are_refused() {
    let long = vec![b'a'; MAX_NAME + 1];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("oversized name", hostile(&long, 1)),
        ("traversal", hostile(b"../../etc/passwd", 1)),
        ("dot-dot", hostile(b"..", 1)),
        ("dot", hostile(b".", 1)),
        ("dotfile .gitconfig", hostile(b".gitconfig", 1)),
        ("dotfile .envrc", hostile(b".envrc", 1)),
        ("201-byte name", hostile(&[b'n'; 201], 1)),
        ("separator", hostile(b"a/b", 1)),
        ("backslash", hostile(b"a\\b", 1)),
        ("control", hostile(b"a\nb", 1)),
        ("empty", hostile(b"", 1)),
        ("not utf-8", hostile(&[0xff, 0xfe], 1)),
        ("absurd size", hostile(b"big", u64::MAX)),
        ("bad magic", b"HTTP/1.1 200 OK\r\n".to_vec()),
        ("bad version", {
            let mut h = hostile(b"x", 1);
            h[4] = 9;
            h
        }),
    ];
    for (what, bytes) in cases {
        let (result, status, files) = raw_exchange(bytes).await;
        assert!(matches!(result, Err(CliError::Refused(_))), "{what}: {result:?}");
        assert_eq!(status, Some(Status::Refused as u8), "{what}");
        assert!(files.is_empty(), "{what}: left behind {files:?}");
    }
}

#[test]
fn names_are_checked_locally_too() {
    assert!(check_name(".bashrc").expect_err("dotfile").contains("starts with `.`"));
    assert!(check_name(&"é".repeat(101)).expect_err("202 bytes").contains("limit is 200"));
    assert_eq!(check_name("a.b"), Ok(()));
}

/// The longest name allowed is received, including a collision's numbered name and the
/// temporary `.NAME.partial-…` name (not ENAMETOOLONG reported as a disk error).
#[tokio::test]
async fn longest_name_is_stored_and_numbered() {
    let name = format!("{}.txt", "é".repeat((MAX_NAME - 4) / 2));
    assert_eq!(name.len(), MAX_NAME);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(&name), b"taken").expect("seed");
    let (mut a, mut b) = duplex(16 * 1024);
    let out = dir.path().to_owned();
    let receiver = tokio::spawn(async move {
        let mut sink = DirSink::new(&out).expect("sink");
        serve(&mut b, &mut sink, MAX_SIZE, LIMIT, &Ui::quiet(), |_| {}).await
    });
    send_one(&mut a, &name, 3, &b"new"[..], &Ui::quiet(), LIMIT).await.expect("sent");
    a.shutdown().await.expect("shutdown");
    let got = tokio::time::timeout(LIMIT, receiver).await.expect("time").expect("join").expect("serve");
    let numbered = format!("{} (1).txt", "é".repeat((MAX_NAME - 4) / 2));
    assert_eq!(got[0].path.as_deref(), Some(dir.path().join(&numbered).as_path()));
    assert_eq!(std::fs::read(dir.path().join(&numbered)).expect("numbered"), b"new");
}

#[tokio::test]
async fn empty_session_is_fine() {
    let (result, status, files) = raw_exchange(Vec::new()).await;
    assert!(result.expect("ok").is_empty());
    assert_eq!(status, None);
    assert!(files.is_empty());
}

/// A sink whose disk fills after `room` bytes.
struct FullDisk {
    room: u64,
}

impl Sink for FullDisk {
    async fn open(&mut self, _header: &Header) -> io::Result<(u64, Hasher)> {
        Ok((0, <Hasher as blake2::Digest>::new()))
    }
    async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.room = self.room.checked_sub(data.len() as u64).ok_or(io::ErrorKind::StorageFull)?;
        Ok(())
    }
    async fn commit(&mut self) -> io::Result<Option<PathBuf>> {
        Ok(None)
    }
    async fn abort(&mut self) {}
}

async fn run_full_disk(mut b: DuplexStream) -> Result<Vec<Received>, CliError> {
    serve(&mut b, &mut FullDisk { room: 10_000 }, MAX_SIZE, LIMIT, &Ui::quiet(), |_| {}).await
}

#[tokio::test]
async fn full_disk_stops_the_sender_with_a_clear_error() {
    let (mut a, b) = duplex(8 * 1024);
    let receiver = tokio::spawn(run_full_disk(b));
    let body = data(2_000_000);
    let sent = tokio::time::timeout(
        LIMIT,
        send_one(&mut a, "f.bin", body.len() as u64, &body[..], &Ui::quiet(), LIMIT),
    )
    .await
    .expect("sender stopped in time");
    let err = sent.expect_err("disk full");
    assert!(err.to_string().contains("disk full"), "{err}");
    let got = tokio::time::timeout(LIMIT, receiver).await.expect("time").expect("join");
    let err = got.expect_err("receiver error");
    assert_eq!(err.exit_code(), 8, "{err}");
    assert!(err.to_string().contains("disk full"), "{err}");
}

#[tokio::test]
async fn refused_header_stops_the_sender() {
    let (mut a, mut b) = duplex(8 * 1024);
    let receiver = tokio::spawn(async move {
        let mut sink = DiscardSink::default();
        // A receiver with a 1 KiB limit refuses a 1 MB file before reading its body.
        serve(&mut b, &mut sink, 1024, LIMIT, &Ui::quiet(), |_| {}).await
    });
    let body = data(1_000_000);
    let sent = tokio::time::timeout(
        LIMIT,
        send_one(&mut a, "big", body.len() as u64, &body[..], &Ui::quiet(), LIMIT),
    )
    .await
    .expect("sender stopped in time");
    assert_eq!(sent.expect_err("refused").exit_code(), 5);
    assert!(tokio::time::timeout(LIMIT, receiver).await.expect("time").expect("join").is_err());
}

#[test]
fn header_round_trip() {
    let h = Header { name: "x.tar.gz".to_owned(), size: 1 << 33, dir: false, resume: None };
    let bytes = h.encode();
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("rt");
    let back = rt.block_on(Header::read(&mut &bytes[..], MAX_SIZE)).expect("read");
    assert_eq!(back, Some(h));
}

#[tokio::test]
async fn a_silent_sender_is_dropped_at_its_idle_deadline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut a, mut b) = duplex(1024);
    let started = std::time::Instant::now();
    let mut sink = DirSink::new(dir.path()).expect("sink");
    let idle = Duration::from_millis(200);
    let result = tokio::time::timeout(LIMIT, serve(&mut b, &mut sink, MAX_SIZE, idle, &Ui::quiet(), |_| {}))
        .await
        .expect("gave up in time");
    let err = result.expect_err("silent sender");
    assert!(matches!(err, CliError::Timeout(_)), "{err}");
    assert!(err.to_string().contains("sent nothing for 0.2 s"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(a.read_u8().await.expect("verdict"), Status::Refused as u8);
    assert!(listing(dir.path()).is_empty());
}
