//! End-to-end tests of the real `lrp2p perf` on loopback with short runs: `-R` (the server
//! sends), `-P N` (parallel connections), and the interval's retransmissions in the `-i`
//! lines. Every child process is bounded in time and killed by its own handle when a test ends.

mod common;

use common::{json, lossy_relay, perf_server, run_ok};

#[test]
fn reverse_the_server_sends_and_each_side_reports_its_role() {
    let (server, addr, key) = perf_server("1");
    let out = run_ok(&[
        "--json",
        "perf",
        "client",
        "-R",
        "--to",
        &addr,
        "--peer",
        &key,
        "--duration",
        "1",
        "-i",
        "0.2",
    ]);
    let client = json(&out);
    assert_eq!(client["direction"], "down", "{client}");
    let received = client["report"]["bytes"].as_u64().expect("bytes");
    assert!(received > 0, "{client}");
    // The client receives: it knows no RTT, window or retransmissions.
    let samples = client["report"]["samples"].as_array().expect("samples");
    assert!(samples.len() >= 4, "{client}");
    assert!(samples.iter().all(|s| s["rtt_ms"].is_null() && s["cwnd"].is_null()), "{client}");
    // The server sent: it reports the transport's figures, and the client's count.
    let done = server.rest().into_iter().find(|v| v["event"] == "done").expect("the server's result");
    assert_eq!(done["direction"], "down", "{done}");
    assert_eq!(done["report"]["server_bytes"].as_u64(), Some(received), "{done}");
    let last = done["report"]["samples"].as_array().and_then(|s| s.last()).expect("samples").clone();
    assert!(last["rtt_ms"].as_f64().is_some() && last["cwnd"].as_u64().is_some(), "{done}");
}

#[test]
fn parallel_connections_are_labelled_and_add_up() {
    let (server, addr, key) = perf_server("4");
    let out =
        run_ok(&["--json", "perf", "client", "-P", "2", "--to", &addr, "--peer", &key, "--bytes", "2Mi"]);
    let v = json(&out);
    let streams = v["streams"].as_array().expect("streams");
    assert_eq!(streams.len(), 2, "{v}");
    assert!(streams.iter().all(|s| s["bytes"] == 2 << 20 && s["server_bytes"] == 2 << 20), "{v}");
    assert_eq!(v["report"]["bytes"], 4 << 20, "{v}");
    assert_eq!(v["report"]["server_bytes"], 4 << 20, "{v}");
    let human =
        run_ok(&["perf", "client", "-P", "2", "--to", &addr, "--peer", &key, "--bytes", "1Mi", "-i", "0.1"]);
    let text = String::from_utf8_lossy(&human.stdout);
    for needle in ["[1] sent 1.00 MiB", "[2] sent 1.00 MiB", "[SUM] sent 2.00 MiB"] {
        assert!(text.contains(needle), "no {needle:?} in {text}");
    }
    // The server served four connections, each on its own.
    let done = server.rest().into_iter().filter(|v| v["event"] == "done").count();
    assert_eq!(done, 4);
}

/// `retrans N (total M)` of an interval line.
fn retransmissions(line: &str) -> Option<(u64, u64)> {
    let rest = &line[line.find("retrans ")? + "retrans ".len()..];
    let (interval, rest) = rest.split_once(" (total ")?;
    let total = rest.strip_suffix(')')?;
    Some((interval.trim().parse().ok()?, total.trim().parse().ok()?))
}

#[test]
fn interval_lines_show_the_retransmissions_of_each_interval() {
    let (_server, addr, key) = perf_server("1");
    let relay = lossy_relay(&addr);
    let out = run_ok(&["perf", "client", "--to", &relay.1, "--peer", &key, "--duration", "2", "-i", "0.25"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let counts: Vec<(u64, u64)> = text.lines().filter_map(retransmissions).collect();
    assert!(counts.len() >= 6, "{text}");
    // Each line's interval count is what the total grew by since the line before.
    let mut before = 0;
    for (interval, total) in &counts {
        assert_eq!(before + interval, *total, "{text}");
        before = *total;
    }
    assert!(before > 0, "5% loss and no retransmission? {text}");
    drop(relay);
}

#[test]
fn bidir_both_send_at_once_and_agree_both_ways() {
    let (server, addr, key) = perf_server("1");
    let out = run_ok(&[
        "--json",
        "perf",
        "client",
        "--bidir",
        "--to",
        &addr,
        "--peer",
        &key,
        "--duration",
        "1",
        "-i",
        "0.25",
    ]);
    let v = json(&out);
    assert_eq!(v["direction"], "both", "{v}");
    let (sent, received) =
        (v["report"]["bytes"].as_u64().expect("sent"), v["report"]["received"].as_u64().expect("received"));
    assert!(sent > 0 && received > 0, "{v}");
    let tx = v["report"]["samples"].as_array().expect("tx samples");
    let rx = v["report"]["received_samples"].as_array().expect("rx samples");
    assert!(tx.len() >= 3 && rx.len() >= 3, "{v}");
    assert!(tx.iter().all(|s| s["cwnd"].is_u64()) && rx.iter().all(|s| s["cwnd"].is_null()), "{v}");
    let done = server.rest().into_iter().find(|v| v["event"] == "done").expect("the server's result");
    assert_eq!(done["direction"], "both", "{done}");
    assert_eq!(done["received"].as_u64(), Some(sent), "{done}");
    assert_eq!(done["sent"].as_u64(), Some(received), "{done}");
}
