//! The server under attack: the real `lrp2p perf server` in a child process, and what
//! `/proc` says about it.
//!
//! It runs as `lrp2p --json perf server --listen 127.0.0.1:0` (plus `--stats` when the binary
//! has that flag); its first JSON line gives the address and the public key. The child is
//! killed when [`Server`] is dropped, on every exit path. From `/proc`: the peak resident set
//! (`VmHWM` of `/proc/PID/status`, reset at the start of an attack by writing `5` to
//! `/proc/PID/clear_refs`, and checked against `VmRSS` samples), CPU seconds (`utime + stime`
//! of `/proc/PID/stat`), and the kernel's drops on the server's UDP socket (`/proc/net/udp`).

use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use lrp2p_proto::PublicKey;

/// Clock ticks per second of `/proc/PID/stat` times (`USER_HZ`, 100 on Linux).
const TICKS: f64 = 100.0;

/// Where the `lrp2p` binary is: `explicit`, else beside this program's directory (this
/// example is `target/release/examples/hostile`, the tool `target/release/lrp2p`).
pub(crate) fn locate(explicit: Option<&Path>) -> io::Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_owned());
    }
    let exe = std::env::current_exe()?;
    let candidate = exe.parent().and_then(Path::parent).map(|dir| dir.join("lrp2p"));
    match candidate {
        Some(p) if p.is_file() => Ok(p),
        _ => Err(io::Error::new(
            io::ErrorKind::NotFound,
            "lrp2p not found beside target/*/examples: build it first with \
             `cargo build --release -p lrp2p-cli` (same CARGO_TARGET_DIR), or pass --server BIN",
        )),
    }
}

/// The arguments that ask `bin perf server` for its endpoint counters, if it has a `--stats`
/// flag: `--stats 1` (every second) when the flag takes a value, else `--stats`.
pub(crate) fn stats_args(bin: &Path) -> Option<Vec<String>> {
    let help = Command::new(bin).args(["perf", "server", "--help"]).output().ok()?;
    let help = String::from_utf8_lossy(&help.stdout);
    let line = help.lines().find(|l| l.contains("--stats"))?;
    let takes_value =
        line.split("--stats").nth(1).is_some_and(|rest| rest.trim_start().starts_with(['<', '[']));
    Some(if takes_value { vec!["--stats".into(), "1".into()] } else { vec!["--stats".into()] })
}

/// A sample of the server process.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sample {
    /// `VmHWM`, kB.
    pub(crate) hwm_kb: u64,
    /// `VmRSS`, kB.
    pub(crate) rss_kb: u64,
    /// `utime + stime`, seconds.
    pub(crate) cpu_secs: f64,
    /// Datagrams the kernel dropped on the server's socket (receive buffer full).
    pub(crate) drops: Option<u64>,
}

/// What [`Server::probe`] returns: the process id and the socket's address.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Probe {
    pid: u32,
    addr: SocketAddr,
}

impl Probe {
    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Reads `/proc` now.
    pub(crate) fn sample(&self) -> Sample {
        let pid = self.pid;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let kb = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command name (which may hold spaces, inside parentheses):
        // field 3 is the state, so utime (14) and stime (15) are the 12th and 13th.
        let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = after.split_whitespace().collect();
        let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        Sample {
            hwm_kb: kb("VmHWM:"),
            rss_kb: kb("VmRSS:"),
            cpu_secs: (tick(11) + tick(12)) / TICKS,
            drops: self.socket_drops(),
        }
    }

    /// The drop counter of the server's socket in `/proc/net/udp`.
    fn socket_drops(&self) -> Option<u64> {
        let table = std::fs::read_to_string("/proc/net/udp").ok()?;
        let SocketAddr::V4(v4) = self.addr else { return None };
        let ip = u32::from_le_bytes(v4.ip().octets());
        let local = format!("{ip:08X}:{:04X}", v4.port());
        table.lines().skip(1).find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&local.as_str())).then(|| f.last()?.parse().ok())?
        })
    }
}

/// The running server.
pub(crate) struct Server {
    child: Child,
    /// The address it listens on.
    pub(crate) addr: SocketAddr,
    /// Its public key.
    pub(crate) key: PublicKey,
    /// Every stdout line after the first.
    lines: Arc<Mutex<Vec<String>>>,
    /// The thread reading them.
    reader: Option<thread::JoinHandle<()>>,
}

/// The string value of `"name":"…"` in a JSON line (no escapes in the values we read).
fn json_str<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let at = line.find(&format!("\"{name}\":\""))? + name.len() + 4;
    let rest = &line[at..];
    Some(&rest[..rest.find('"')?])
}

/// Every integer member of a JSON object line, named by its path (`datagrams.received`),
/// in order. A small scanner for the server's own output: strings without escaped quotes,
/// arrays skipped whole, fractions skipped.
pub(crate) fn json_integers(line: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut key: Option<String> = None;
    let mut chars = line.chars().peekable();
    let mut depth_array = 0usize;
    while let Some(c) = chars.next() {
        if depth_array > 0 {
            match c {
                '[' => depth_array += 1,
                ']' => depth_array -= 1,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                let s: String = chars.by_ref().take_while(|&c| c != '"').collect();
                // A key if a colon follows.
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                if chars.peek() == Some(&':') {
                    chars.next();
                    key = Some(s);
                } else {
                    key = None;
                }
            }
            '{' => {
                if let Some(k) = key.take() {
                    path.push(k);
                }
            }
            '}' => {
                path.pop();
            }
            '[' => {
                depth_array = 1;
                key = None;
            }
            '0'..='9' => {
                let mut number = String::from(c);
                while let Some(&d) = chars.peek() {
                    if d.is_ascii_digit() || matches!(d, '.' | 'e' | 'E' | '-' | '+') {
                        number.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if let (Some(k), Ok(v)) = (key.take(), number.parse::<u64>()) {
                    let mut name = path.join(".");
                    if !name.is_empty() {
                        name.push('.');
                    }
                    name.push_str(&k);
                    out.push((name, v));
                }
            }
            _ => {}
        }
    }
    out
}

/// Whether a stdout line of the server carries its endpoint counters: a `stats` or `summary`
/// event, or any line naming `datagrams_received`.
fn is_stats_line(line: &str) -> bool {
    line.contains("\"event\":\"stats\"")
        || line.contains("\"event\":\"summary\"")
        || line.contains("\"datagrams_received\"")
}

impl Server {
    /// Starts `bin` (with `stats`, from [`stats_args`]) and waits for its address and key.
    pub(crate) fn spawn(bin: &Path, stats: Option<&[String]>) -> io::Result<Server> {
        let mut cmd = Command::new(bin);
        cmd.args(["--json", "perf", "server", "--listen", "127.0.0.1:0"]);
        cmd.args(stats.unwrap_or_default());
        let child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn()?;
        let mut child = child;
        let stdout = child.stdout.take().ok_or_else(|| io::Error::other("no stdout"))?;
        let (first_tx, first_rx) = mpsc::channel();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let kept = lines.clone();
        let reader = thread::Builder::new().name("hostile-server-stdout".into()).spawn(move || {
            let mut first = Some(first_tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match first.take() {
                    Some(tx) => {
                        let _ = tx.send(line);
                    }
                    None => kept.lock().unwrap_or_else(|p| p.into_inner()).push(line),
                }
            }
        })?;
        // The child is killed on drop from here on.
        let mut server = Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            key: PublicKey::from_bytes([0; 32]),
            lines,
            reader: Some(reader),
        };
        let first = wait_line(&first_rx, Duration::from_secs(10))?;
        let parse = || -> Option<(SocketAddr, PublicKey)> {
            Some((json_str(&first, "addr")?.parse().ok()?, json_str(&first, "public_key")?.parse().ok()?))
        };
        let (addr, key) = parse()
            .ok_or_else(|| io::Error::other(format!("unexpected first line from the server: {first}")))?;
        server.addr = addr;
        server.key = key;
        Ok(server)
    }

    /// A handle that samples this server from any thread.
    pub(crate) fn probe(&self) -> Probe {
        Probe { pid: self.child.id(), addr: self.addr }
    }

    /// Resets the peak resident set (`clear_refs` 5); `false` if the kernel refused.
    pub(crate) fn reset_peak(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5").is_ok()
    }

    /// Reads `/proc` now.
    pub(crate) fn sample(&self) -> Sample {
        self.probe().sample()
    }

    /// How many tests the server reported done (`"event":"done"` lines).
    pub(crate) fn done_count(&self) -> usize {
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|l| l.contains("\"event\":\"done\""))
            .count()
    }

    /// Stops the server: SIGINT (through `kill`, so that a server that prints its counters on
    /// exit does so), then SIGKILL if it has not exited within a second. Returns the
    /// endpoint counters of its last stats line (`--stats`), if any.
    pub(crate) fn stop(mut self) -> Option<Vec<(String, u64)>> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).stderr(Stdio::null()).status();
        for _ in 0..100 {
            if self.child.try_wait().ok().flatten().is_some() {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Its stdout is closed now: the reader has every line.
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        lines.iter().rev().find(|l| is_stats_line(l)).map(|l| json_integers(l))
    }
}

/// The next line from `rx`, within `timeout`.
fn wait_line(rx: &Receiver<String>, timeout: Duration) -> io::Result<String> {
    rx.recv_timeout(timeout)
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the server printed nothing"))
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn reads_the_listening_line_and_counters() {
        let line = r#"{"addr":"127.0.0.1:4000","event":"listening","public_key":"abc="}"#;
        assert_eq!(json_str(line, "addr"), Some("127.0.0.1:4000"));
        assert_eq!(json_str(line, "public_key"), Some("abc="));
        let stats = r#"{"answered":{"total":7},"datagrams":{"received":12,"accepted":3},"event":"stats","l":[1,{"a":2}],"peers":{"max":64},"up":1.5,"x":"y:{"}"#;
        assert!(is_stats_line(stats));
        let v = json_integers(stats);
        let want =
            [("answered.total", 7), ("datagrams.received", 12), ("datagrams.accepted", 3), ("peers.max", 64)];
        assert_eq!(v, want.map(|(k, v)| (k.to_owned(), v)).to_vec());
    }
}
