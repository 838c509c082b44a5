//! Regression tests of the real `lrp2p` binary for the bugs of issue 14, one test each
//! (named after the bug). Every child process is bounded in time and killed by its own
//! handle when a test ends.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{
    Background, RUN_LIMIT, isolated_config, keygen, output_within, run, run_in, spawn, start_relay, stderr,
    wait_exit,
};

/// Runs `lrp2p args…` with standard output sent to `stdout`, to completion within 30 s.
fn run_to(args: &[&str], stdout: Stdio) -> Output {
    output_within(spawn(args, &isolated_config(), Stdio::null(), stdout), args, RUN_LIMIT)
}

/// A receiver on loopback with a key in `dir`, saving into `out`; its address and key.
fn receiver(dir: &Path, out: &Path) -> (Background, String, String) {
    common::receiver(dir, out, &[])
}

#[test]
fn bug1_missing_arguments_are_named() {
    let out = run(&["send", "--to", "127.0.0.1:7000"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not provided: <FILES>"), "{err}");
    let err = stderr(&run(&["perf", "client"]));
    assert!(err.contains("--to <TO>"), "{err}");
    let err = stderr(&run(&["recv"]));
    assert!(err.contains("--listen <LISTEN>"), "{err}");
}

#[test]
fn bug10_host_names_are_resolved() {
    // Past argument parsing (exit 2 before the fix), to the missing file (exit 4).
    let out = run(&["send", "/nonexistent/file", "--to", "localhost:7000"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot read /nonexistent/file"), "{}", stderr(&out));
}

#[cfg(target_os = "linux")]
#[test]
fn bug6_an_unwritable_output_directory_is_refused_before_listening() {
    // /proc is a directory nobody, root included, can create files in.
    let out = run(&["recv", "--listen", "127.0.0.1:0", "--out", "/proc"]);
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot write /proc"), "{}", stderr(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
}

#[cfg(target_os = "linux")]
#[test]
fn bug7_json_results_to_a_full_device_fail() {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
    let out = run_to(&["--json", "keygen"], Stdio::from(full));
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot write standard output: no space left"), "{}", stderr(&out));
}

#[cfg(all(unix, target_os = "linux"))]
#[test]
fn bug9_a_world_readable_key_file_is_warned_about() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("k");
    keygen(&key);
    let k = key.to_str().expect("path");
    let quiet = run(&["recv", "--listen", "127.0.0.1:0", "--key", k, "--out", "/proc"]);
    assert!(!stderr(&quiet).contains("warning"), "{}", stderr(&quiet));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    // Fails fast on /proc, after loading the key.
    let out = run(&["recv", "--listen", "127.0.0.1:0", "--key", k, "--out", "/proc"]);
    let err = stderr(&out);
    assert!(
        err.contains("warning: key file") && err.contains("mode 0644") && err.contains("chmod 600"),
        "{err}"
    );
}

#[test]
fn bug4_a_wrong_key_says_so_on_both_sides() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (recv, addr, _key) = receiver(dir.path(), dir.path());
    let other = keygen(&dir.path().join("other.key"));
    let file = dir.path().join("f.bin");
    std::fs::write(&file, b"hello").expect("write");
    let out = run(&["send", file.to_str().expect("path"), "--to", &addr, "--peer", &other]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no answer: wrong address, wrong key, or the receiver is down"),
        "{}",
        stderr(&out)
    );
    std::thread::sleep(Duration::from_millis(1500));
    recv.interrupt();
    let (_, err) = recv.finish(Duration::from_secs(10));
    assert!(err.contains("undecryptable initiations: "), "{err}");
}

#[test]
fn bug5_a_connection_lost_mid_send_exits_7() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("out dir");
    let (recv, addr, key) = receiver(dir.path(), &out);
    // 4 Mbit/s: 4 MiB take about 8 s, so the receiver goes away mid-file.
    let (_relay, relay_addr) = start_relay(&addr, &["--rate-mbit", "4"]);
    let file = dir.path().join("big.bin");
    std::fs::write(&file, vec![7u8; 4 << 20]).expect("payload");
    let sender =
        Background::start(&["send", file.to_str().expect("path"), "--to", &relay_addr, "--peer", &key]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_dir(&out).expect("dir").count() == 0 {
        assert!(Instant::now() < deadline, "no partial file appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    recv.interrupt();
    let _ = recv.finish(Duration::from_secs(10));
    let (code, err) = sender.finish(Duration::from_secs(45));
    assert_eq!(code, Some(7), "{err}");
    assert!(err.contains("transfer failed: connection lost while sending big.bin"), "{err}");
}

#[test]
fn bug3_ctrl_c_on_the_sender_closes_and_the_receiver_says_so_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("out dir");
    let (mut recv, addr, key) = receiver(dir.path(), &out);
    let (_relay, relay_addr) = start_relay(&addr, &["--rate-mbit", "4"]);
    let file = dir.path().join("big.bin");
    std::fs::write(&file, vec![7u8; 4 << 20]).expect("payload");
    let sender =
        Background::start(&["send", file.to_str().expect("path"), "--to", &relay_addr, "--peer", &key]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_dir(&out).expect("dir").count() == 0 {
        assert!(Instant::now() < deadline, "no partial file appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    sender.interrupt();
    let interrupted = Instant::now();
    let (code, _) = sender.finish(Duration::from_secs(10));
    assert_eq!(code, Some(130));
    // The receiver reports the failure (a JSON event) well before its 30 s idle deadline.
    let failed = recv.outcome();
    assert_eq!(failed["event"], "failed", "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("the sender closed the connection (interrupted)")),
        "{failed}"
    );
    assert!(interrupted.elapsed() < Duration::from_secs(5), "{:?}", interrupted.elapsed());
    assert_eq!(std::fs::read_dir(&out).expect("dir").count(), 0, "a partial file was left");
}

/// The perf server refuses a `send` session by its application protocol id (PROTOCOL.md §7.7),
/// before serving it: the sender is told why, the server says which service was asked for.
#[test]
fn bug8_perf_server_shows_receiver_figures_and_refuses_file_senders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server =
        Background::start(&["perf", "server", "--json", "--listen", "127.0.0.1:0", "--count", "1"]);
    let ready = server.json_line();
    let (addr, key) = (ready["addr"].as_str().expect("addr"), ready["public_key"].as_str().expect("key"));
    let file = dir.path().join("f.bin");
    std::fs::write(&file, b"hello").expect("write");
    let out = run(&["send", file.to_str().expect("path"), "--to", addr, "--peer", key]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("not a file receiver"), "{}", stderr(&out));
    assert!(stderr(&out).contains("asked for lrp2p-send"), "{}", stderr(&out));
    let client = run(&["perf", "client", "--to", addr, "--peer", key, "--bytes", "2Mi"]);
    assert!(client.status.success(), "{}", stderr(&client));
    // `--count 1`: it exits once the refused session has ended too.
    let mut rest = String::new();
    let _ = server.stdout.read_to_string(&mut rest);
    let (_, err) = server.finish(Duration::from_secs(20));
    assert!(err.contains("wrong port") && err.contains("application protocol lrp2p-send"), "{err}");
    let refused = rest.lines().find(|l| l.contains("\"wrong_service\"")).unwrap_or_else(|| panic!("{rest}"));
    assert!(refused.contains("\"app_protocol\":\"lrp2p-send\""), "{refused}");
    let done = rest.lines().find(|l| l.contains("\"done\"")).unwrap_or_else(|| panic!("no result: {rest}"));
    assert!(done.contains("\"rtt_ms\":null") && done.contains("\"cwnd\":null"), "{done}");
}

/// `recv` refuses a perf session by its application protocol id, before serving it (or
/// asking about its key): the client is told why, the receiver logs it.
#[test]
fn bug8_recv_refuses_a_perf_client() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut recv, addr, key) = receiver(dir.path(), dir.path());
    let client = run(&["perf", "client", "--to", &addr, "--peer", &key, "--bytes", "1Mi"]);
    assert_eq!(client.status.code(), Some(5), "{}", stderr(&client));
    assert!(stderr(&client).contains("not a perf server"), "{}", stderr(&client));
    assert!(stderr(&client).contains("asked for lrp2p-perf"), "{}", stderr(&client));
    let refused = recv.outcome();
    assert_eq!(refused["event"], "wrong_service", "{refused}");
    assert_eq!(refused["app_protocol"], "lrp2p-perf", "{refused}");
}

#[test]
fn stdin_to_stdout_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("recv.key");
    keygen(&key);
    let mut recv = spawn(
        &[
            "recv",
            "--json",
            "--yes",
            "--stdout",
            "--listen",
            "127.0.0.1:0",
            "--key",
            key.to_str().expect("path"),
        ],
        &isolated_config(),
        Stdio::null(),
        Stdio::piped(),
    );
    // With --stdout the reports, the listening event included, go to standard error.
    let mut errors = BufReader::new(recv.stderr.take().expect("stderr"));
    // Drain standard output as it comes (a full pipe would stall the receiver).
    let mut stdout = recv.stdout.take().expect("stdout");
    let collected = std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = stdout.read_to_end(&mut all);
        all
    });
    let mut line = String::new();
    errors.read_line(&mut line).expect("read");
    let ready: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let (addr, pk) = (ready["addr"].as_str().expect("addr"), ready["public_key"].as_str().expect("key"));
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let input = dir.path().join("in.bin");
    std::fs::write(&input, &data).expect("write");
    let sent = run_to_with_stdin(&["send", "-", "--name", "piped.bin", "--to", addr, "--peer", pk], &input);
    assert!(sent.status.success(), "{}", stderr(&sent));
    let status = wait_exit(&mut recv, Duration::from_secs(20));
    assert!(status.is_some(), "recv --stdout did not stop after one sender");
    assert_eq!(recv.wait().expect("wait").code(), Some(0));
    let got = collected.join().expect("reader");
    assert!(got == data, "standard output differs: {} bytes", got.len());
}

/// Runs `lrp2p args…` with standard input from `input`, within 30 s.
fn run_to_with_stdin(args: &[&str], input: &Path) -> Output {
    let stdin = Stdio::from(std::fs::File::open(input).expect("input"));
    output_within(spawn(args, &isolated_config(), stdin, Stdio::piped()), args, RUN_LIMIT)
}

#[cfg(unix)]
#[test]
fn send_dir_keeps_the_tree_and_empty_dirs_and_skips_links() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("out dir");
    let (recv, addr, key) = receiver(dir.path(), &out);
    let root = dir.path().join("photos");
    std::fs::create_dir_all(root.join("2026/12")).expect("dirs");
    std::fs::create_dir_all(root.join("empty")).expect("empty");
    std::fs::write(root.join("2026/12/a.jpg"), vec![1u8; 200_000]).expect("a");
    std::fs::write(root.join("notes.txt"), b"notes").expect("notes");
    std::os::unix::fs::symlink("/etc/passwd", root.join("passwd")).expect("symlink");
    let sent = run(&["send", root.to_str().expect("path"), "--to", &addr, "--peer", &key]);
    assert!(sent.status.success(), "{}", stderr(&sent));
    assert!(stderr(&sent).contains("1 symbolic links or special files"), "{}", stderr(&sent));
    let got = out.join("photos");
    assert_eq!(std::fs::read(got.join("2026/12/a.jpg")).expect("a"), vec![1u8; 200_000]);
    assert_eq!(std::fs::read(got.join("notes.txt")).expect("notes"), b"notes");
    assert!(got.join("empty").is_dir());
    assert!(std::fs::symlink_metadata(got.join("passwd")).is_err(), "a link was followed");
    drop(recv);
}

#[test]
fn resume_after_the_sender_is_killed_at_half_sends_only_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("out dir");
    let (mut recv, addr, pk) = common::receiver(dir.path(), &out, &["--idle-secs", "2"]);
    let (_relay, relay_addr) = start_relay(&addr, &["--rate-mbit", "4"]);
    let data: Vec<u8> = (0..(4u32 << 20)).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let file = dir.path().join("big.bin");
    std::fs::write(&file, &data).expect("payload");
    let f = file.to_str().expect("path");
    let sender = Background::start(&["send", f, "--resume", "--to", &relay_addr, "--peer", &pk]);
    // Kill the sender once the receiver holds half the file.
    let size_on_disk = || -> u64 {
        std::fs::read_dir(&out)
            .expect("dir")
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while size_on_disk() < 2 << 20 {
        assert!(Instant::now() < deadline, "the transfer did not reach half");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(sender);
    // The receiver drops the silent sender after 2 s and keeps what it holds.
    let dropped = recv.outcome();
    assert_eq!(dropped["event"], "dropped", "{dropped}");
    let names: Vec<String> = std::fs::read_dir(&out)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.len() == 1 && names[0].starts_with(".big.bin.resume-"), "{names:?}");
    // Again, straight to the receiver: only the rest is sent.
    let again = run(&["--json", "send", f, "--resume", "--to", &addr, "--peer", &pk]);
    assert!(again.status.success(), "{}", stderr(&again));
    let sent: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&again.stdout).lines().next().expect("a line"))
            .expect("json");
    let resumed = sent["file"]["resumed_from"].as_u64().expect("resumed_from");
    // What was in flight at the kill arrived too: at least half, never all.
    assert!((2 << 20..4 << 20).contains(&resumed), "resumed from {resumed}");
    assert!(std::fs::read(out.join("big.bin")).expect("received") == data, "content differs");
    let names: Vec<String> = std::fs::read_dir(&out)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["big.bin"]);
}

#[test]
fn known_peers_trust_on_first_use_then_0rtt_and_a_loud_warning_on_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("out dir");
    let (_recv, addr, key) = receiver(dir.path(), &out);
    let config = dir.path().join("config");
    let file = dir.path().join("f.txt");
    std::fs::write(&file, b"hello").expect("write");
    let f = file.to_str().expect("path");
    let first = run_in(&["send", f, "--to", &addr], &config);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stderr(&first).contains("remembered for"), "{}", stderr(&first));
    let known = std::fs::read_to_string(config.join("known_peers")).expect("known_peers");
    assert!(known.contains(&format!("{addr} {key}")), "{known}");
    let second = run_in(&["send", f, "--to", &addr], &config);
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(stderr(&second).contains("using the key remembered"), "{}", stderr(&second));
    let other = keygen(&dir.path().join("other.key"));
    let third = run_in(&["send", f, "--to", &addr, "--peer", &other], &config);
    assert!(stderr(&third).contains("CHANGED"), "{}", stderr(&third));
}

#[test]
fn perf_interval_flag_sets_the_report_period() {
    let mut server =
        Background::start(&["perf", "server", "--json", "--listen", "127.0.0.1:0", "--count", "1"]);
    let ready = server.json_line();
    let (addr, key) = (ready["addr"].as_str().expect("addr"), ready["public_key"].as_str().expect("key"));
    let out = run(&["--json", "perf", "client", "--to", addr, "--peer", key, "--duration", "1", "-i", "0.1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).expect("one JSON line");
    let samples = report["report"]["samples"].as_array().expect("samples").len();
    assert!(samples >= 8, "{samples} samples in 1 s at -i 0.1");
}
