//! What the end-to-end tests of the real `lrp2p` binary share: running it bounded in time
//! with a config directory of its own, background processes killed by their own handle when
//! dropped, SIGINT to one pid, key files, a perf server and a lossy relay on loopback; and in
//! [`nat`], what the tests across the lab's NAT routers share.
//!
//! Each test crate uses a part of it.
#![allow(dead_code)]

pub(crate) mod nat;

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_lrp2p");

/// How long a foreground `lrp2p` may run unless a test says otherwise.
pub(crate) const RUN_LIMIT: Duration = Duration::from_secs(30);

/// A fresh, empty config directory for each child, so that no test reads or writes the
/// user's `known_peers` (nor another test's).
pub(crate) fn isolated_config() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("lrp2p-test-config-{}-{n}", std::process::id()))
}

/// `lrp2p args…` with `config` as its config directory, its standard error piped.
pub(crate) fn spawn(args: &[&str], config: &Path, stdin: Stdio, stdout: Stdio) -> Child {
    Command::new(BIN)
        .env("LRP2P_CONFIG_DIR", config)
        .args(args)
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn lrp2p")
}

/// Polls `child` until it exits, for at most `limit`; `None` if it is still running.
pub(crate) fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Collects `child`'s output once it exits within `limit`; else kills it and fails the test
/// with what it printed on standard error.
pub(crate) fn output_within(mut child: Child, args: &[&str], limit: Duration) -> Output {
    if wait_exit(&mut child, limit).is_none() {
        let _ = child.kill();
        let out = child.wait_with_output().expect("output");
        panic!("lrp2p {args:?} did not finish in {limit:?}; stderr: {}", stderr(&out));
    }
    child.wait_with_output().expect("output")
}

/// Runs `lrp2p args…` to completion within `limit` (standard input closed, both streams
/// captured).
pub(crate) fn run_within(args: &[&str], limit: Duration) -> Output {
    output_within(spawn(args, &isolated_config(), Stdio::null(), Stdio::piped()), args, limit)
}

/// Runs `lrp2p args…` with `config` as its config directory within [`RUN_LIMIT`].
pub(crate) fn run_in(args: &[&str], config: &Path) -> Output {
    output_within(spawn(args, config, Stdio::null(), Stdio::piped()), args, RUN_LIMIT)
}

/// Runs `lrp2p args…` within [`RUN_LIMIT`].
pub(crate) fn run(args: &[&str]) -> Output {
    run_within(args, RUN_LIMIT)
}

/// Runs `lrp2p args…` within 60 s; it must succeed.
pub(crate) fn run_ok(args: &[&str]) -> Output {
    let out = run_within(args, Duration::from_secs(60));
    assert!(out.status.success(), "lrp2p {args:?}: {}", stderr(&out));
    out
}

/// Standard error as text.
pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The one JSON line of a `--json` run.
pub(crate) fn json(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not one JSON line ({e}): {text}"))
}

/// Sends SIGINT (Ctrl-C) to `child` (its own pid only).
pub(crate) fn interrupt(child: &Child) {
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().expect("kill").success());
}

/// A new key file at `path`; returns its public key.
pub(crate) fn keygen(path: &Path) -> String {
    let out = run(&["keygen", "--out", path.to_str().expect("utf-8 path")]);
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8(out.stdout).expect("utf-8").trim().to_owned()
}

/// A background `lrp2p` process, killed when dropped.
pub(crate) struct Background {
    /// The process.
    pub(crate) child: Child,
    /// Its standard output, line by line.
    pub(crate) stdout: BufReader<std::process::ChildStdout>,
}

impl Background {
    /// Starts `lrp2p args…`, its standard error piped (read by [`finish`](Background::finish)).
    pub(crate) fn start(args: &[&str]) -> Background {
        Background::with_stderr(args, Stdio::piped())
    }

    /// Starts `lrp2p args…`, its standard error discarded (a long run cannot fill the pipe).
    pub(crate) fn start_quiet(args: &[&str]) -> Background {
        Background::with_stderr(args, Stdio::null())
    }

    /// Starts `lrp2p args…` with standard error sent to `stderr`.
    fn with_stderr(args: &[&str], stderr: Stdio) -> Background {
        let child = Command::new(BIN)
            .env("LRP2P_CONFIG_DIR", isolated_config())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn lrp2p");
        Background::of(child)
    }

    /// A process already spawned with its standard output piped (e.g. `lrp2p` inside a
    /// network namespace).
    pub(crate) fn of(mut child: Child) -> Background {
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Background { child, stdout }
    }

    /// The next JSON line whose `event` is `event`, skipping others.
    pub(crate) fn event(&mut self, event: &str) -> serde_json::Value {
        self.next_event(event).unwrap_or_else(|| panic!("lrp2p ended before its `{event}` event"))
    }

    /// [`event`](Background::event) within `limit`: past it the process is killed (a watchdog
    /// sends SIGKILL to its own pid, which cannot be reused while this waits: the process is
    /// not reaped before the read returns) and the test fails.
    pub(crate) fn event_within(&mut self, event: &str, limit: Duration) -> serde_json::Value {
        let pid = self.child.id().to_string();
        let (cancel, cancelled) = std::sync::mpsc::channel::<()>();
        let watchdog = std::thread::spawn(move || {
            let timed_out = cancelled.recv_timeout(limit) == Err(std::sync::mpsc::RecvTimeoutError::Timeout);
            if timed_out {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
            }
            timed_out
        });
        let value = self.next_event(event);
        drop(cancel);
        let killed = watchdog.join().expect("watchdog");
        match value {
            Some(value) if !killed => value,
            _ if killed => panic!("no `{event}` event from lrp2p within {limit:?}: killed it"),
            _ => panic!("lrp2p ended before its `{event}` event"),
        }
    }

    /// The next JSON line whose `event` is `event`; `None` at the end of the output.
    fn next_event(&mut self, event: &str) -> Option<serde_json::Value> {
        loop {
            let mut line = String::new();
            if self.stdout.read_line(&mut line).expect("read line") == 0 {
                return None;
            }
            let value: serde_json::Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
            if value["event"] == event {
                return Some(value);
            }
        }
    }

    /// The next JSON line on standard output.
    pub(crate) fn json_line(&mut self) -> serde_json::Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read line");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
    }

    /// The next JSON line that is not about a peer arriving (`connected`, `remembered`).
    pub(crate) fn outcome(&mut self) -> serde_json::Value {
        loop {
            let line = self.json_line();
            if line["event"] != "connected" && line["event"] != "remembered" {
                return line;
            }
        }
    }

    /// Sends SIGINT (Ctrl-C).
    pub(crate) fn interrupt(&self) {
        interrupt(&self.child);
    }

    /// Waits for the exit within `limit`; returns its exit code and stderr.
    pub(crate) fn finish(mut self, limit: Duration) -> (Option<i32>, String) {
        assert!(wait_exit(&mut self.child, limit).is_some(), "background lrp2p did not finish");
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut stderr);
        }
        (self.child.wait().expect("wait").code(), stderr)
    }

    /// Kills it now (by its handle) and reaps it.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the exit within `limit`, killing it past that (exit code `None`); what it
    /// printed from then on, however it ended.
    pub(crate) fn end(mut self, limit: Duration) -> Ended {
        let code = match wait_exit(&mut self.child, limit) {
            Some(status) => status.code(),
            None => {
                self.kill();
                None
            }
        };
        let (mut stdout, mut stderr) = (String::new(), String::new());
        let _ = self.stdout.read_to_string(&mut stdout);
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut stderr);
        }
        Ended { code, stdout, stderr }
    }

    /// Everything else it prints until it exits (within 30 s), as JSON values.
    pub(crate) fn rest(mut self) -> Vec<serde_json::Value> {
        assert!(wait_exit(&mut self.child, Duration::from_secs(30)).is_some(), "the server did not finish");
        let mut text = String::new();
        let _ = self.stdout.read_to_string(&mut text);
        text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }
}

/// How a background process ended ([`Background::end`]).
#[derive(Debug)]
pub(crate) struct Ended {
    /// Its exit code; `None` if it was killed (also by a signal).
    pub(crate) code: Option<i32>,
    /// Its standard output from the last line read on.
    pub(crate) stdout: String,
    /// Its standard error.
    pub(crate) stderr: String,
}

impl Ended {
    /// Its standard output's JSON lines whose `event` is `event`.
    pub(crate) fn events(&self, event: &str) -> Vec<serde_json::Value> {
        let values = self.stdout.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok());
        values.filter(|v| v["event"] == event).collect()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `perf server --json --count N` on loopback; it, its address and key.
pub(crate) fn perf_server(count: &str) -> (Background, String, String) {
    let mut server =
        Background::start_quiet(&["perf", "server", "--json", "--listen", "127.0.0.1:0", "--count", count]);
    let ready = server.json_line();
    let addr = ready["addr"].as_str().expect("addr").to_owned();
    let key = ready["public_key"].as_str().expect("key").to_owned();
    (server, addr, key)
}

/// An `lrp2p relay` on loopback to `to` with `impairment` (its flags); it and its address.
pub(crate) fn start_relay(to: &str, impairment: &[&str]) -> (Background, String) {
    let args = [&["relay", "--json", "--listen", "127.0.0.1:0", "--to", to], impairment].concat();
    let mut relay = Background::start_quiet(&args);
    let addr = relay.json_line()["addr"].as_str().expect("addr").to_owned();
    (relay, addr)
}

/// A relay to `to` losing 5% each way; it and its address.
pub(crate) fn lossy_relay(to: &str) -> (Background, String) {
    start_relay(to, &["--loss", "0.05"])
}

/// A receiver on loopback (`recv --json --yes`) with a new key in `dir`, saving into `out`,
/// with `extra` flags; it, its address and key.
pub(crate) fn receiver(dir: &Path, out: &Path, extra: &[&str]) -> (Background, String, String) {
    let key = dir.join("recv.key");
    keygen(&key);
    let key = key.to_str().expect("path");
    let args = ["recv", "--json", "--yes", "--listen", "127.0.0.1:0", "--key", key, "--out"];
    let mut recv = Background::start(&[&args[..], &[out.to_str().expect("path")], extra].concat());
    let ready = recv.json_line();
    let addr = ready["addr"].as_str().expect("addr").to_owned();
    (recv, addr, ready["public_key"].as_str().expect("key").to_owned())
}
