//! End-to-end tests of the real `lrp2p` binary: bad input, key files, the relay, transfers
//! over `lrp2p-tokio` through a lossy relay, refused peers, timeouts, `perf` and `demo`.
//!
//! Every child process is bounded in time and killed (by its own handle) when a test ends.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

mod common;

use common::{Background, keygen, run, run_within, start_relay};

/// Asserts a failure with `code` and exactly one `lrp2p: error:` line containing `needle`.
fn assert_fails(out: &Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].starts_with("lrp2p: error: "), "{stderr}");
    assert!(lines[0].contains(needle), "`{needle}` not in: {stderr}");
}

// ---- usage and bad input: these need no network -------------------------------------

#[test]
fn help_and_version_succeed() {
    assert!(run(&["--help"]).status.success());
    assert!(run(&["--version"]).status.success());
    assert!(run(&["relay", "--help"]).status.success());
}

#[test]
fn unknown_flag_is_one_line_and_exit_2() {
    assert_fails(&run(&["send", "--frobnicate"]), 2, "--frobnicate");
}

#[test]
fn bad_address_is_one_line_and_exit_2() {
    assert_fails(&run(&["recv", "--listen", "not-an-address"]), 2, "not-an-address");
    assert_fails(&run(&["relay", "--listen", "127.0.0.1:0", "--to", "999.1.1.1:5"]), 2, "999.1.1.1:5");
}

#[test]
fn bad_values_are_refused() {
    assert_fails(&run(&["send", "x", "--to", "127.0.0.1:9", "--peer", "short"]), 2, "44 base64");
    assert_fails(
        &run(&["relay", "--listen", "127.0.0.1:0", "--to", "127.0.0.1:9", "--loss", "2"]),
        2,
        "probability",
    );
    // Once a panic in the relay's shaper; refused up front now.
    assert_fails(
        &run(&["relay", "--listen", "127.0.0.1:0", "--to", "127.0.0.1:9", "--rate-mbit", "1e-300"]),
        2,
        "between 0.001 and 1000000",
    );
}

#[test]
fn keygen_writes_a_private_key_file_and_prints_its_public_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("id.key");
    let public = keygen(&path);
    assert_eq!(public.len(), 44);
    let text = std::fs::read_to_string(&path).expect("key file");
    assert!(text.contains(&public), "the public key is noted in the file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);
    }
    let again = run(&["keygen", "--out", path.to_str().expect("path")]);
    assert_fails(&again, 3, "already exists");
    assert_eq!(std::fs::read_to_string(&path).expect("kept"), text, "not overwritten");
    let json = run(&["keygen", "--json", "--out", dir.path().join("b.key").to_str().expect("path")]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("one JSON line");
    assert_eq!(v["public_key"].as_str().map(str::len), Some(44));
}

#[test]
fn unreadable_and_malformed_keys_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("f");
    std::fs::write(&file, b"data").expect("file");
    let file = file.to_str().expect("path");
    let missing = dir.path().join("missing.key");
    let out = run(&["send", file, "--to", "127.0.0.1:9", "--key", missing.to_str().expect("path")]);
    assert_fails(&out, 3, "cannot read key file");
    let cases: [(&str, &[u8]); 4] = [
        ("garbage", b"this is not a key\n"),
        ("short", b"AAAA\n"),
        ("empty", b"# nothing\n"),
        ("binary", &[0xff, 0xfe, 0x00]),
    ];
    for (name, content) in cases {
        let key = dir.path().join(name);
        std::fs::write(&key, content).expect("key");
        let out = run(&["recv", "--listen", "127.0.0.1:0", "--key", key.to_str().expect("path")]);
        assert_fails(&out, 3, "malformed key file");
    }
}

#[test]
fn missing_input_file_is_refused_before_the_network() {
    assert_fails(&run(&["send", "/no/such/file", "--to", "127.0.0.1:9"]), 4, "/no/such/file");
    assert_fails(&run(&["send", "/dev/null", "--to", "127.0.0.1:9"]), 4, "not a regular file or directory");
    // A directory is sent as a tree, whose names are checked before the network too.
    let dir = tempfile::tempdir().expect("tempdir");
    assert_fails(
        &run(&["send", dir.path().to_str().expect("path"), "--to", "127.0.0.1:9"]),
        4,
        "starts with `.`",
    );
}

#[test]
fn missing_output_directory_is_refused() {
    let out = run(&["recv", "--listen", "127.0.0.1:0", "--out", "/no/such/dir"]);
    assert_fails(&out, 8, "/no/such/dir");
}

#[cfg(target_os = "linux")]
#[test]
fn full_disk_is_named_plainly() {
    let out = run(&["keygen", "--force", "--out", "/dev/full"]);
    assert_fails(&out, 8, "disk full");
}

// ---- the relay, with plain UDP ------------------------------------------------------

#[test]
fn relay_binary_forwards_both_ways_with_delay() {
    let echo = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let echo_addr = echo.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = echo.recv_from(&mut buf) {
            let _ = echo.send_to(&buf[..n], from);
        }
    });
    let (_relay, addr) = start_relay(&echo_addr, &["--delay-ms", "20"]);
    let addr: SocketAddr = addr.parse().expect("socket address");
    let client = UdpSocket::bind("127.0.0.1:0").expect("bind");
    client.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let start = Instant::now();
    client.send_to(b"ping", addr).expect("send");
    let mut buf = [0u8; 16];
    let n = client.recv(&mut buf).expect("echo through the relay");
    assert_eq!(&buf[..n], b"ping");
    assert!(start.elapsed() >= Duration::from_millis(40), "{:?}", start.elapsed());
}

// ---- transfers: need lrp2p-tokio behind net.rs --------------------------------------

/// Starts `recv --json` with a fresh key file; returns it, its address and public key.
fn start_receiver(dir: &Path, out: &Path, extra: &[&str]) -> (Background, SocketAddr, String) {
    let (recv, addr, key) = common::receiver(dir, out, extra);
    (recv, addr.parse().expect("socket address"), key)
}

/// Files in `dir` other than `keep`: partial files must never remain.
fn leftovers(dir: &Path, keep: &[&str]) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect()
}

#[test]
fn file_through_a_lossy_relay_arrives_identical() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("out dir");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| i.wrapping_mul(2_654_435_761).to_be_bytes()[0]).collect();
    let file = dir.path().join("payload.bin");
    std::fs::write(&file, &data).expect("payload");
    let (recv, addr, key) = start_receiver(dir.path(), &out, &["--count", "1"]);
    let impairment = ["--loss", "0.03", "--delay-ms", "5", "--jitter-ms", "2", "--seed", "7"];
    let (_relay, relay_addr) = start_relay(&addr.to_string(), &impairment);
    let sent = run_within(
        &["send", "--json", file.to_str().expect("path"), "--to", &relay_addr, "--peer", &key],
        Duration::from_secs(120),
    );
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    let (code, stderr) = recv.finish(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(std::fs::read(out.join("payload.bin")).expect("received"), data);
    assert!(leftovers(&out, &["payload.bin"]).is_empty());
}

#[test]
fn a_peer_not_allowed_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("out dir");
    let friend = keygen(&dir.path().join("friend.key"));
    let stranger_key = dir.path().join("stranger.key");
    keygen(&stranger_key);
    let file = dir.path().join("f.txt");
    std::fs::write(&file, b"hello").expect("file");
    let (_recv, addr, key) = start_receiver(dir.path(), &out, &["--allow", &friend]);
    let sent = run(&[
        "send",
        file.to_str().expect("path"),
        "--to",
        &addr.to_string(),
        "--peer",
        &key,
        "--key",
        stranger_key.to_str().expect("path"),
        "--timeout",
        "5",
    ]);
    assert_fails(&sent, 5, "refused");
    assert!(leftovers(&out, &[]).is_empty());
}

#[test]
fn a_silent_peer_times_out() {
    let silent = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = keygen(&dir.path().join("k"));
    let file = dir.path().join("f");
    std::fs::write(&file, b"x").expect("file");
    let out = run(&["send", file.to_str().expect("path"), "--to", &addr, "--peer", &key, "--timeout", "2"]);
    assert_fails(&out, 6, "timed out");
}

#[test]
fn demo_finishes_with_a_hash_match() {
    let out = run_within(&["demo", "--json", "--bytes", "4Mi"], Duration::from_secs(120));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert_eq!(v["hash_match"], true);
    assert_eq!(v["bytes"], 4 << 20);
}

#[test]
fn demo_explains_keys_0rtt_and_the_relay_before_it_starts() {
    let out = run_within(
        &["demo", "--bytes", "256Ki", "--rtt-ms", "10", "--loss", "0.02"],
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("demo: ")).collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(lines[0].contains("keys:") && lines[0].contains("Noise IK"), "{err}");
    assert!(lines[1].contains("0-RTT") && lines[1].contains("256.00 KiB"), "{err}");
    assert!(
        lines[2].contains("relay:")
            && lines[2].contains("5 ms each way (10 ms RTT)")
            && lines[2].contains("2.0 %"),
        "{err}"
    );
}

#[test]
fn perf_reports_and_plots() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server =
        Background::start(&["perf", "server", "--json", "--listen", "127.0.0.1:0", "--count", "1"]);
    let ready = server.json_line();
    let addr = ready["addr"].as_str().expect("addr").to_owned();
    let key = ready["public_key"].as_str().expect("key").to_owned();
    let plot = dir.path().join("perf.svg");
    let out = run_within(
        &[
            "perf",
            "client",
            "--json",
            "--to",
            &addr,
            "--peer",
            &key,
            "--bytes",
            "8Mi",
            "--plot",
            plot.to_str().expect("path"),
        ],
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert_eq!(v["report"]["server_bytes"], 8 << 20);
    assert!(std::fs::read_to_string(&plot).expect("svg").contains("</svg>"));
}

/// Checks a `--trace` file (docs/TRACE.md): every line a JSON object, time never going back,
/// one connection with a `started` line first, `established`, and packets sent; with a
/// `closed` line, the packets sent before it are its `datagrams_sent`. Returns the events.
fn check_trace(path: &Path, role: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).expect("trace file");
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert!(lines.windows(2).all(|w| w[0]["t_us"].as_u64() <= w[1]["t_us"].as_u64()), "time went back");
    let first = &lines[0];
    assert_eq!((first["event"].as_str(), first["role"].as_str()), (Some("started"), Some(role)), "{first}");
    assert!(lines.iter().all(|l| l["cid"] == first["cid"]), "one connection");
    assert!(lines.iter().any(|l| l["event"] == "established"));
    let closed = lines.iter().position(|l| l["event"] == "closed").expect("a closed line");
    let sent = lines[..closed].iter().filter(|l| l["event"] == "packet_sent").count() as u64;
    assert_eq!(Some(sent), lines[closed]["datagrams_sent"].as_u64(), "{}", lines[closed]);
    lines
}

#[test]
fn perf_writes_a_trace_on_each_side() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server_trace, client_trace) = (dir.path().join("server.jsonl"), dir.path().join("client.jsonl"));
    let server_path = server_trace.to_str().expect("path");
    let mut server = Background::start(&[
        "perf",
        "server",
        "--json",
        "--listen",
        "127.0.0.1:0",
        "--count",
        "1",
        "--trace",
        server_path,
    ]);
    let ready = server.json_line();
    let addr = ready["addr"].as_str().expect("addr").to_owned();
    let key = ready["public_key"].as_str().expect("key").to_owned();
    let client_path = client_trace.to_str().expect("path");
    let args = ["perf", "client", "--to", &addr, "--peer", &key, "--bytes", "2Mi", "--trace", client_path];
    let out = run_within(&args, Duration::from_secs(60));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (code, err) = server.finish(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{err}");
    let client = check_trace(&client_trace, "initiator");
    let server = check_trace(&server_trace, "responder");
    // The client sent 2 MiB in DATA segments; the server received them.
    let data = |lines: &[serde_json::Value], event: &str| {
        lines.iter().filter(|l| l["event"] == event && !l["seq"].is_null()).count()
    };
    assert!(data(&client, "packet_sent") >= (2 << 20) / 1400, "{}", data(&client, "packet_sent"));
    assert!(data(&server, "packet_received") >= (2 << 20) / 1400);
    assert!(client.iter().any(|l| l["event"] == "rtt_sample"));
}

#[cfg(unix)]
#[test]
fn interrupted_receiver_leaves_no_partial_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("out dir");
    let file = dir.path().join("big.bin");
    std::fs::write(&file, vec![7u8; 4 << 20]).expect("payload");
    let (recv, addr, key) = start_receiver(dir.path(), &out, &[]);
    // 4 Mbit/s: 4 MiB take about 8 s, so the receiver is interrupted mid-file.
    let (_relay, relay_addr) = start_relay(&addr.to_string(), &["--rate-mbit", "4"]);
    let _sender =
        Background::start(&["send", file.to_str().expect("path"), "--to", &relay_addr, "--peer", &key]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while leftovers(&out, &[]).is_empty() {
        assert!(Instant::now() < deadline, "no partial file appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(leftovers(&out, &[]).iter().all(|n| n.starts_with(".big.bin.partial-")));
    recv.interrupt();
    let (code, stderr) = recv.finish(Duration::from_secs(10));
    assert_eq!(code, Some(130), "{stderr}");
    assert!(leftovers(&out, &[]).is_empty(), "left behind: {:?}", leftovers(&out, &[]));
}
