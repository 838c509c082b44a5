//! End-to-end tests of `recv` and `perf server` as services (issue 11, "hold under attack"),
//! on the real binary over loopback: a silent or forged peer does not starve the others, a
//! silent peer is dropped at its idle deadline and frees its slot, a full server refuses at
//! once, two senders are received at once (the same file name included), and the counters
//! are printed per interval and on exit.
//!
//! The fake peers are `lrp2p-tokio` sockets inside the test. Every wait is for an event the
//! service prints (a JSON line, a stderr line), bounded in time; every child process is
//! killed by its own handle when its test ends.

use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use lrp2p_tokio::{Connection, PublicKey, Socket};

mod common;

use common::{isolated_config, run_within, spawn, wait_exit};

/// A service under test: its output read line by line as it comes, killed when dropped.
struct Service {
    /// The process.
    child: Child,
    /// Standard output lines.
    stdout: Receiver<String>,
    /// Standard error lines.
    stderr: Receiver<String>,
    /// Every line read so far, both streams, for failure messages.
    seen: Vec<String>,
}

/// Sends each line of `stream` to a channel from a thread of its own.
fn lines(stream: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Service {
    fn start(args: &[&str]) -> Service {
        let mut child = spawn(args, &isolated_config(), Stdio::null(), Stdio::piped());
        let stdout = lines(child.stdout.take().expect("stdout"));
        let stderr = lines(child.stderr.take().expect("stderr"));
        Service { child, stdout, stderr, seen: Vec::new() }
    }

    /// The next line on standard output (`err` false) or error (`err` true) for which `want`
    /// holds, within `limit`; panics with everything seen otherwise.
    fn line_until(&mut self, err: bool, limit: Duration, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let rx = if err { &self.stderr } else { &self.stdout };
            match rx.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if want(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!("no such line in {limit:?}; seen: {:#?}", self.seen),
                Err(RecvTimeoutError::Disconnected) => panic!("the service exited; seen: {:#?}", self.seen),
            }
        }
    }

    /// The next JSON object on standard output whose `event` is `event` and for which `want`
    /// holds, within `limit`.
    fn event(
        &mut self,
        event: &str,
        limit: Duration,
        want: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let line = self.line_until(false, limit, |line| {
            serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| v["event"] == event && want(&v))
        });
        serde_json::from_str(&line).expect("JSON")
    }

    /// The `listening` line's address and public key.
    fn ready(&mut self) -> (SocketAddr, String) {
        let v = self.event("listening", Duration::from_secs(10), |_| true);
        let addr = v["addr"].as_str().expect("addr").parse().expect("socket address");
        (addr, v["public_key"].as_str().expect("key").to_owned())
    }

    /// Sends SIGINT (Ctrl-C).
    #[cfg(unix)]
    fn interrupt(&self) {
        common::interrupt(&self.child);
    }

    /// Waits for the exit within `limit`; returns the exit code and every remaining line of
    /// both streams.
    fn finish(mut self, limit: Duration) -> (Option<i32>, Vec<String>, Vec<String>) {
        let exited = wait_exit(&mut self.child, limit).is_some();
        assert!(exited, "the service did not exit; seen: {:#?}", self.seen);
        let code = self.child.wait().expect("wait").code();
        // The reader threads end at the end of the streams.
        let rest = |rx: &Receiver<String>| rx.iter().collect::<Vec<String>>();
        (code, rest(&self.stdout), rest(&self.stderr))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A peer in the test process: an `lrp2p-tokio` socket and one connection that sends nothing.
struct FakePeer {
    /// The connection (dropped first).
    _conn: Connection,
    /// Its socket.
    _socket: Socket,
    /// Its public key, as the server prints it.
    key: String,
    /// The runtime driving both (dropped last).
    _runtime: tokio::runtime::Runtime,
}

/// A runtime for a fake peer.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime")
}

/// Connects to the server at `to` with key `server` (Noise IK). With `confirm`, waits until the
/// handshake completed (the peer is then connected but silent); without, only starts it.
fn fake_peer(to: SocketAddr, server: &str, confirm: bool) -> FakePeer {
    let server: PublicKey = server.parse().expect("server key");
    let runtime = runtime();
    let (socket, conn) = runtime.block_on(async {
        let socket = Socket::bind("127.0.0.1:0", lrp2p_tokio::generate_identity()).await.expect("bind");
        let conn = socket.connect(to, server).await.expect("connect");
        if confirm {
            tokio::time::timeout(Duration::from_secs(10), conn.connected())
                .await
                .expect("handshake in time")
                .expect("handshake");
        } else {
            // Only start the handshake (it cannot complete): `connected` starts it at its
            // first poll.
            let _ = tokio::time::timeout(Duration::from_millis(50), conn.connected()).await;
        }
        (socket, conn)
    });
    let key = socket.public_key().to_string();
    FakePeer { _conn: conn, _socket: socket, key, _runtime: runtime }
}

/// A UDP relay to `to` that forwards one way only: what the server answers is dropped, so
/// an initiator behind it never completes its handshake, and the server sees an initiation
/// that is never confirmed (as a forged or replayed one is). Stops when the flag is set.
fn one_way_relay(to: SocketAddr) -> (SocketAddr, Arc<AtomicBool>) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
    let addr = socket.local_addr().expect("addr");
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !stopped.load(Ordering::Relaxed) {
            if let Ok((n, from)) = socket.recv_from(&mut buf) {
                if from != to {
                    let _ = socket.send_to(&buf[..n], to);
                }
            }
        }
    });
    (addr, stop)
}

/// `perf client --bytes BYTES` to `to`; returns its output and how long it took.
fn perf_client(to: SocketAddr, key: &str, bytes: &str) -> (Output, Duration) {
    let started = Instant::now();
    let to = to.to_string();
    let out = run_within(
        &["perf", "client", "--json", "--to", &to, "--peer", key, "--bytes", bytes],
        Duration::from_secs(60),
    );
    (out, started.elapsed())
}

/// Asserts that a `perf client` run delivered `bytes`.
fn assert_delivered(out: &Output, bytes: u64) {
    assert!(out.status.success(), "client failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert_eq!(v["report"]["server_bytes"], bytes);
}

/// The first case: a legitimate client is served at once while a silent confirmed
/// peer and a forged-looking one (never confirmed) hold connections; the unconfirmed one
/// never takes a slot and ends when its handshake times out (10 s), long before its idle
/// deadline.
#[test]
fn perf_server_serves_a_client_while_other_peers_sit_silent() {
    let mut server =
        Service::start(&["perf", "server", "--json", "--listen", "127.0.0.1:0", "--idle-secs", "60"]);
    let (addr, key) = server.ready();
    let silent = fake_peer(addr, &key, true);
    server.event("connected", Duration::from_secs(10), |v| v["peer"] == silent.key.as_str());
    let (relay, stop_relay) = one_way_relay(addr);
    let forged_at = Instant::now();
    let forged = fake_peer(relay, &key, false);

    let (out, took) = perf_client(addr, &key, "8Mi");
    assert_delivered(&out, 8 << 20);
    assert!(took < Duration::from_secs(15), "the client took {took:?}");
    server.event("done", Duration::from_secs(10), |v| v["bytes"] == 8 << 20);

    // The forged peer never confirms: it never takes a slot ("connected"), and ends at its
    // handshake timeout.
    let dropped = server.event("unconfirmed", Duration::from_secs(30), |v| v["peer"] == forged.key.as_str());
    let after = forged_at.elapsed();
    assert!(dropped["peer"] == forged.key.as_str(), "{dropped}");
    assert!(after < Duration::from_secs(30), "dropped after {after:?}, not at its handshake timeout");
    stop_relay.store(true, Ordering::Relaxed);
    drop(silent);
}

/// A silent peer holds the only slot: a newcomer is refused at once (exit 5, naming the
/// limit); at the idle deadline the silent peer is dropped, and the next client is served.
#[test]
fn perf_server_drops_a_silent_peer_at_its_deadline_and_frees_its_slot() {
    let mut server = Service::start(&[
        "perf",
        "server",
        "--json",
        "--listen",
        "127.0.0.1:0",
        "--max-peers",
        "1",
        "--idle-secs",
        "5",
    ]);
    let (addr, key) = server.ready();
    let connected_at = Instant::now();
    let silent = fake_peer(addr, &key, true);
    server.event("connected", Duration::from_secs(10), |v| v["peer"] == silent.key.as_str());

    let (refused, took) = perf_client(addr, &key, "1Mi");
    assert_eq!(refused.status.code(), Some(5), "{}", String::from_utf8_lossy(&refused.stderr));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("refused") && stderr.contains("--max-peers"), "{stderr}");
    assert!(took < Duration::from_secs(5), "refused after {took:?}");
    let v = server.event("refused", Duration::from_secs(5), |v| v["reason"] == "busy");
    assert_eq!(v["peers"], 1);

    let dropped = server.event("dropped", Duration::from_secs(20), |v| v["peer"] == silent.key.as_str());
    let after = connected_at.elapsed();
    assert!(dropped["error"].as_str().is_some_and(|e| e.contains("sent nothing for 5 s")), "{dropped}");
    assert!(
        after >= Duration::from_millis(4_900) && after < Duration::from_secs(15),
        "dropped after {after:?}"
    );

    let (out, _) = perf_client(addr, &key, "1Mi");
    assert_delivered(&out, 1 << 20);
}

/// Starts `recv --json` into `out` with `extra` flags; returns it, its address and key.
fn receiver(out: &Path, extra: &[&str]) -> (Service, SocketAddr, String) {
    let mut args =
        vec!["recv", "--json", "--yes", "--listen", "127.0.0.1:0", "--out", out.to_str().expect("path")];
    args.extend_from_slice(extra);
    let mut recv = Service::start(&args);
    let (addr, key) = recv.ready();
    (recv, addr, key)
}

/// Pattern bytes, different per `seed`.
fn pattern(n: usize, seed: u32) -> Vec<u8> {
    (0..n)
        .map(|i| (u32::try_from(i).unwrap_or(u32::MAX).wrapping_mul(2_654_435_761) ^ seed).to_be_bytes()[1])
        .collect()
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Two senders at once, both sending `same.bin`: both files arrive intact, the second to
/// finish under a numbered name, and no partial file is left.
#[test]
fn recv_takes_two_senders_at_once_without_clobbering() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("out");
    let (slow, fast) = (pattern(2 << 20, 1), pattern(300_000, 2));
    for (name, data) in [("a", &slow), ("b", &fast)] {
        std::fs::create_dir(dir.path().join(name)).expect("dir");
        std::fs::write(dir.path().join(name).join("same.bin"), data).expect("file");
    }
    let (mut recv, addr, key) = receiver(&out, &["--count", "2"]);
    // The first sender goes through a 4 Mbit/s relay: its 2 MiB take about 4 s.
    let mut relay = Service::start(&[
        "relay",
        "--json",
        "--listen",
        "127.0.0.1:0",
        "--to",
        &addr.to_string(),
        "--rate-mbit",
        "4",
    ]);
    let relay_addr = relay.event("listening", Duration::from_secs(10), |_| true)["addr"]
        .as_str()
        .expect("addr")
        .to_owned();
    let a = dir.path().join("a").join("same.bin");
    let mut slow_sender =
        Service::start(&["send", "--json", a.to_str().expect("path"), "--to", &relay_addr, "--peer", &key]);
    recv.event("connected", Duration::from_secs(10), |_| true);
    let b = dir.path().join("b").join("same.bin");
    let fast_sender = run_within(
        &["send", "--json", b.to_str().expect("path"), "--to", &addr.to_string(), "--peer", &key],
        Duration::from_secs(30),
    );
    assert!(fast_sender.status.success(), "{}", String::from_utf8_lossy(&fast_sender.stderr));
    let second = recv.event("connected", Duration::from_secs(10), |_| true);
    assert_eq!(second["active"], 2, "both sessions at once");
    slow_sender.event("sent", Duration::from_secs(60), |_| true);
    let (code, _, stderr) = recv.finish(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{stderr:?}");
    assert_eq!(listing(&out), ["same (1).bin", "same.bin"]);
    let mut got = [
        std::fs::read(out.join("same.bin")).expect("one"),
        std::fs::read(out.join("same (1).bin")).expect("two"),
    ];
    got.sort_by_key(Vec::len);
    assert!(got[0] == fast && got[1] == slow, "contents differ");
}

/// Human mode: a counters line on stderr per interval, the drop reasons named, and the
/// summary on Ctrl-C before exit code 130.
#[cfg(unix)]
#[test]
fn stats_lines_per_interval_and_a_summary_on_ctrl_c() {
    let mut server = Service::start(&["perf", "server", "--listen", "127.0.0.1:0", "--stats", "0.5"]);
    let ready = server.line_until(false, Duration::from_secs(10), |l| l.starts_with("perf server on "));
    let key = ready.rsplit(' ').next().expect("key").to_owned();
    let addr: SocketAddr =
        ready["perf server on ".len()..].split(',').next().expect("addr").parse().expect("addr");
    let first = server.line_until(true, Duration::from_secs(10), |l| l.starts_with("stats ["));
    assert!(first.contains("datagrams in 0 (accepted 0, answered 0, dropped 0)"), "{first}");
    assert!(first.contains("peers 0 of 64 active"), "{first}");
    // A datagram for no connection: dropped and counted by its reason.
    let stray = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut junk = vec![0u8; 64];
    junk[0] = 3;
    stray.send_to(&junk, addr).expect("send");
    let (out, _) = perf_client(addr, &key, "1Mi");
    assert_delivered(&out, 1 << 20);
    let line = server
        .line_until(true, Duration::from_secs(10), |l| l.starts_with("stats [") && l.contains("1 served"));
    assert!(line.contains("dropped ") && !line.contains("dropped 0"), "{line}");
    server.interrupt();
    let (code, _, stderr) = server.finish(Duration::from_secs(10));
    assert_eq!(code, Some(130), "{stderr:?}");
    let summary = stderr.iter().find(|l| l.starts_with("summary [")).expect("a summary line");
    assert!(summary.contains("1 served"), "{summary}");
    assert!(!stderr.iter().any(|l| l.contains("do not add up")), "{stderr:?}");
    assert_eq!(stderr.last().map(String::as_str), Some("lrp2p: error: interrupted"));
}

/// JSON mode: an object per interval with every counter, and one summary when `--count` is
/// reached.
#[test]
fn stats_objects_in_json_mode_and_a_summary_at_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("f.bin");
    std::fs::write(&file, pattern(100_000, 3)).expect("file");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("out");
    let (mut recv, addr, key) = receiver(&out, &["--count", "1", "--stats", "0.5"]);
    let stats = recv.event("stats", Duration::from_secs(10), |_| true);
    for reason in ["malformed", "unknown_connection", "replayed_initiations", "auth_failures", "total"] {
        assert_eq!(stats["dropped"][reason], 0, "{reason}: {stats}");
    }
    assert_eq!(stats["peers"]["max"], 64);
    let sent = run_within(
        &["send", file.to_str().expect("path"), "--to", &addr.to_string(), "--peer", &key],
        Duration::from_secs(30),
    );
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    let (code, stdout, stderr) = recv.finish(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{stderr:?}");
    let summary: serde_json::Value =
        serde_json::from_str(stdout.last().expect("a last line")).expect("the summary is JSON");
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["peers"]["served"], 1);
    assert_eq!(summary["accounted_ok"], true);
    let received = summary["datagrams"]["received"].as_u64().expect("received");
    assert!(received > 0);
    assert_eq!(summary["datagrams"]["accounted"], received);
    assert_eq!(std::fs::read(out.join("f.bin")).expect("file"), pattern(100_000, 3));
}

/// `--receive-memory`: the endpoint holds no more than its budget of received data (PROTOCOL.md
/// §10.6), the transfer still completes intact (what did not fit is retransmitted), and the
/// summary reports the peak.
#[test]
fn recv_keeps_within_its_receive_memory_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("big.bin");
    let data = pattern(3_000_000, 5);
    std::fs::write(&file, &data).expect("file");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("out");
    // Without the option the peak here is 256–500 KiB (the default budget is 256 MiB).
    let budget = 64 << 10;
    let (recv, addr, key) = receiver(&out, &["--count", "1", "--receive-memory", "64Ki"]);
    let sent = run_within(
        &["send", file.to_str().expect("path"), "--to", &addr.to_string(), "--peer", &key],
        Duration::from_secs(60),
    );
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    let (code, stdout, stderr) = recv.finish(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{stderr:?}");
    let summary: serde_json::Value =
        serde_json::from_str(stdout.last().expect("a last line")).expect("the summary is JSON");
    let peak = summary["receive_memory"]["peak"].as_u64().expect("peak");
    assert!(peak > 0 && peak <= budget, "peak {peak} for a budget of {budget}: {summary}");
    assert_eq!(std::fs::read(out.join("big.bin")).expect("file"), data);
}
