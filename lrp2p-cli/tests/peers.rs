//! End-to-end tests of the real `lrp2p` binary for who may write to a receiver's disk
//! (`known_peers` on the receiving side: the terminal prompt, `--yes`, refusals) and for
//! Ctrl-C on the receiver. Every child process is bounded in time and killed by its own
//! handle (its pid) when a test ends.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

use common::{BIN, keygen, run_in, stderr, wait_exit};

/// A background process whose standard output and error are collected (together) as they
/// come, killed when dropped.
struct Proc {
    /// The process.
    child: Child,
    /// Its standard input, kept open.
    stdin: Option<ChildStdin>,
    /// Everything it printed so far.
    seen: Arc<Mutex<Vec<u8>>>,
}

impl Proc {
    /// Starts `command` with piped standard streams.
    fn start(mut command: Command) -> Proc {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let out: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().expect("stdout"));
        let err: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().expect("stderr"));
        for mut stream in [out, err] {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    seen.lock().expect("lock").extend_from_slice(&buf[..n]);
                }
            });
        }
        let stdin = child.stdin.take();
        Proc { child, stdin, seen }
    }

    /// `lrp2p args…` with `config` as its config directory.
    fn lrp2p(args: &[&str], config: &Path) -> Proc {
        let mut command = Command::new(BIN);
        command.env("LRP2P_CONFIG_DIR", config).args(args);
        Proc::start(command)
    }

    /// Everything printed so far.
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().expect("lock")).into_owned()
    }

    /// Waits (at most `limit`) until the output contains `needle`; returns the output.
    fn wait_for(&self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let text = self.text();
            if text.contains(needle) {
                return text;
            }
            assert!(Instant::now() < deadline, "no {needle:?} in {limit:?}; output: {text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The first JSON object printed with `"event":"listening"`.
    fn listening_event(&self) -> serde_json::Value {
        let text = self.wait_for("\"listening\"", Duration::from_secs(20));
        let line = text.lines().find(|l| l.contains("\"listening\"")).expect("line");
        let start = line.find('{').expect("a JSON object");
        serde_json::from_str(line[start..].trim()).expect("JSON")
    }

    /// The address and key a service listens with.
    fn listening(&self) -> (String, String) {
        let v = self.listening_event();
        (v["addr"].as_str().expect("addr").to_owned(), v["public_key"].as_str().expect("key").to_owned())
    }

    /// Types `text` on its standard input.
    fn type_in(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin");
        stdin.write_all(text.as_bytes()).expect("write stdin");
        stdin.flush().expect("flush");
    }

    /// Sends SIGINT (Ctrl-C) to this process (its own pid only).
    fn interrupt(&self) {
        common::interrupt(&self.child);
    }

    /// Waits for the exit within `limit`; returns its exit code.
    fn exit_code(&mut self, limit: Duration) -> Option<i32> {
        let Some(status) = wait_exit(&mut self.child, limit) else {
            panic!("did not exit in {limit:?}; output: {}", self.text());
        };
        // Let the reader threads take the last bytes.
        std::thread::sleep(Duration::from_millis(100));
        status.code()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test's directory: a receiver key, an output directory, configs for each side.
struct Setup {
    /// Holds everything.
    dir: tempfile::TempDir,
    /// The receiver's key file.
    recv_key: PathBuf,
    /// Where the receiver saves.
    out: PathBuf,
    /// The receiver's config directory (its `known_peers`).
    recv_config: PathBuf,
    /// A small file to send.
    file: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let recv_key = dir.path().join("recv.key");
        keygen(&recv_key);
        let out = dir.path().join("out");
        std::fs::create_dir(&out).expect("out");
        let file = dir.path().join("f.txt");
        std::fs::write(&file, b"hello").expect("file");
        let recv_config = dir.path().join("recv-config");
        Setup { recv_key, out, recv_config, file, dir }
    }

    /// `recv --json` with the receiver's key and config, plus `extra`.
    fn recv_args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["recv", "--json", "--listen", "127.0.0.1:0"];
        args.extend([
            "--key",
            self.recv_key.to_str().expect("path"),
            "--out",
            self.out.to_str().expect("path"),
        ]);
        args.extend_from_slice(extra);
        args
    }

    /// A new sender key file named `name`; its path and public key.
    fn sender_key(&self, name: &str) -> (PathBuf, String) {
        let path = self.dir.path().join(name);
        let key = keygen(&path);
        (path, key)
    }

    /// `send` of the small file to `addr` with key file `key` (IK: the receiver's key given).
    fn send(&self, addr: &str, peer: &str, key: &Path) -> Output {
        let config = self.dir.path().join("send-config");
        let file = self.file.to_str().expect("path");
        run_in(&["send", file, "--to", addr, "--peer", peer, "--key", key.to_str().expect("path")], &config)
    }

    /// The receiver's `known_peers` text.
    fn known(&self) -> String {
        std::fs::read_to_string(self.recv_config.join("known_peers")).unwrap_or_default()
    }
}

#[test]
fn without_a_terminal_an_unknown_sender_is_refused_and_told_so() {
    let s = Setup::new();
    let recv = Proc::lrp2p(&s.recv_args(&[]), &s.recv_config);
    let (addr, key) = recv.listening();
    let (sender, sender_pub) = s.sender_key("s.key");
    let out = s.send(&addr, &key, &sender);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("refused by the receiver"), "{}", stderr(&out));
    let logged = recv.wait_for("unknown key", Duration::from_secs(5));
    let wanted = format!("refused peer {sender_pub} from 127.0.0.1:");
    assert!(logged.contains(&wanted), "{logged}");
    assert!(logged.contains(&format!("unknown key; run with --yes or --allow {sender_pub}")), "{logged}");
    assert_eq!(std::fs::read_dir(&s.out).expect("dir").count(), 0, "nothing written");
    assert!(!s.known().contains(&sender_pub), "a refused key is not remembered");
}

#[test]
fn yes_accepts_and_remembers_so_the_next_run_accepts_without_it() {
    let s = Setup::new();
    let (sender, sender_pub) = s.sender_key("s.key");
    {
        let recv = Proc::lrp2p(&s.recv_args(&["--yes"]), &s.recv_config);
        let (addr, key) = recv.listening();
        let out = s.send(&addr, &key, &sender);
        assert!(out.status.success(), "{}", stderr(&out));
        recv.wait_for("\"remembered\"", Duration::from_secs(5));
    }
    assert!(s.known().contains(&format!("accept {sender_pub} 127.0.0.1:")), "{}", s.known());
    std::fs::remove_file(s.out.join("f.txt")).expect("received");
    // A new receiver, same config, no --yes and no terminal: the remembered key is accepted,
    // a new one refused.
    let recv = Proc::lrp2p(&s.recv_args(&[]), &s.recv_config);
    let (addr, key) = recv.listening();
    let out = s.send(&addr, &key, &sender);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(s.out.join("f.txt").exists());
    let (stranger, _) = s.sender_key("t.key");
    let out = s.send(&addr, &key, &stranger);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    // --allow keeps working, and is exact: the remembered key is not in it.
    let (friend, friend_pub) = s.sender_key("friend.key");
    drop(recv);
    let recv = Proc::lrp2p(&s.recv_args(&["--allow", &friend_pub]), &s.recv_config);
    let (addr, key) = recv.listening();
    assert!(s.send(&addr, &key, &friend).status.success());
    assert_eq!(s.send(&addr, &key, &sender).status.code(), Some(5));
}

/// `lrp2p args…` on a terminal: under `script`, which gives it a pseudo-terminal as its
/// standard streams and copies our standard input to it.
fn on_a_terminal(args: &[&str], config: &Path) -> Option<Proc> {
    let found = Command::new("script").arg("--version").stdout(Stdio::null()).status();
    if !found.is_ok_and(|s| s.success()) {
        let _ = writeln!(std::io::stderr(), "skipped: no `script` (util-linux) to make a terminal");
        return None;
    }
    let line: Vec<String> =
        std::iter::once(BIN).chain(args.iter().copied()).map(|a| format!("'{a}'")).collect();
    let mut command = Command::new("script");
    command.env("LRP2P_CONFIG_DIR", config).args(["-qfec", &line.join(" "), "/dev/null"]);
    Some(Proc::start(command))
}

#[test]
fn on_a_terminal_an_unknown_sender_is_asked_about_and_remembered_on_yes() {
    let s = Setup::new();
    let Some(mut recv) = on_a_terminal(&s.recv_args(&[]), &s.recv_config) else { return };
    let (addr, key) = recv.listening();
    let (sender, sender_pub) = s.sender_key("s.key");
    let sending = {
        let (addr, key, sender, file) = (addr.clone(), key.clone(), sender.clone(), s.file.clone());
        let config = s.dir.path().join("send-config");
        std::thread::spawn(move || {
            let (a, k, f) = (addr.as_str(), key.as_str(), file.to_str().expect("path"));
            run_in(&["send", f, "--to", a, "--peer", k, "--key", sender.to_str().expect("path")], &config)
        })
    };
    let asked = recv.wait_for("[y/N]", Duration::from_secs(10));
    assert!(asked.contains(&format!("accept files from {sender_pub} at 127.0.0.1:")), "{asked}");
    recv.type_in("y\n");
    let out = sending.join().expect("sender");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(s.out.join("f.txt").exists());
    assert!(s.known().contains(&format!("accept {sender_pub}")), "{}", s.known());
    // A second unknown sender, declined: refused by the receiver, nothing written.
    let (stranger, stranger_pub) = s.sender_key("t.key");
    let declined = {
        let (addr, key, file) = (addr.clone(), key.clone(), s.file.clone());
        let config = s.dir.path().join("send-config");
        std::thread::spawn(move || {
            let (a, k, f) = (addr.as_str(), key.as_str(), file.to_str().expect("path"));
            run_in(&["send", f, "--to", a, "--peer", k, "--key", stranger.to_str().expect("path")], &config)
        })
    };
    recv.wait_for(&format!("accept files from {stranger_pub}"), Duration::from_secs(10));
    recv.type_in("n\n");
    let out = declined.join().expect("sender");
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("refused by the receiver"), "{}", stderr(&out));
    assert!(!s.known().contains(&stranger_pub), "{}", s.known());
    assert_eq!(std::fs::read_dir(&s.out).expect("dir").count(), 1, "only the first file");
    // The remembered sender is not asked again.
    let before = recv.text().matches("[y/N]").count();
    assert!(s.send(&addr, &key, &sender).status.success());
    assert_eq!(recv.text().matches("[y/N]").count(), before, "asked again");
}

#[test]
fn ctrl_c_on_the_receiver_closes_with_a_reason_the_sender_prints_at_once() {
    let s = Setup::new();
    let config = s.dir.path().join("send-config");
    let mut recv = Proc::lrp2p(&s.recv_args(&["--yes"]), &s.recv_config);
    let (addr, key) = recv.listening();
    // A slow path, so that the transfer is under way when the receiver is interrupted.
    let relay = Proc::lrp2p(
        &["relay", "--json", "--listen", "127.0.0.1:0", "--to", &addr, "--rate-mbit", "4"],
        &config,
    );
    let relay_addr = relay.listening_event()["addr"].as_str().expect("addr").to_owned();
    let big = s.dir.path().join("big.bin");
    std::fs::write(&big, vec![7u8; 4 << 20]).expect("payload");
    let mut sender =
        Proc::lrp2p(&["send", big.to_str().expect("path"), "--to", &relay_addr, "--peer", &key], &config);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_dir(&s.out).expect("dir").count() == 0 {
        assert!(Instant::now() < deadline, "no partial file appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    recv.interrupt();
    let interrupted = Instant::now();
    assert_eq!(sender.exit_code(Duration::from_secs(10)), Some(7), "{}", sender.text());
    // At once: not after the sender's 30 s timeout nor the transport's idle timeout.
    assert!(interrupted.elapsed() < Duration::from_secs(3), "{:?}", interrupted.elapsed());
    let said = sender.text();
    assert!(said.contains("the receiver closed the connection (interrupted)"), "{said}");
    assert_eq!(recv.exit_code(Duration::from_secs(10)), Some(130), "{}", recv.text());
    assert_eq!(std::fs::read_dir(&s.out).expect("dir").count(), 0, "a partial file was left");
}
