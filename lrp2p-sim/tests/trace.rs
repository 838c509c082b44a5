//! The core's event trace over a simulated transfer (`ConnectionConfig::trace`,
//! `docs/TRACE.md`): every line is a JSON object, times never go backwards, each connection's
//! counts of packets sent and received before its `closed` line are its statistics at close,
//! what one side received the other sent, and losses, RTT samples and congestion metrics
//! appear on a lossy path. `lrp2p-sim --trace FILE` writes the same.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use lrp2p_proto::trace::{JsonLines, TraceSink};
use lrp2p_sim::scenario::ScenarioParams;
use lrp2p_sim::transfer::endpoint_transfer_traced;
use serde_json::Value;

/// What one connection's lines add up to.
#[derive(Debug, Default)]
struct Conn {
    role: Option<String>,
    /// Lines.
    events: usize,
    /// Before its `closed` line.
    sent: u64,
    sent_bytes: u64,
    received_transport: u64,
    closed: Option<Value>,
    lost: u64,
    rtt_samples: u64,
    metrics: u64,
    early_data: Option<String>,
}

/// Parses a trace, checking every line and the order of time; returns each connection's sums.
fn parse(text: &str) -> BTreeMap<String, Conn> {
    let mut conns: BTreeMap<String, Conn> = BTreeMap::new();
    let mut last_t = 0;
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let t = v["t_us"].as_u64().unwrap_or_else(|| panic!("t_us: {line}"));
        assert!(t >= last_t, "time went back: {line}");
        last_t = t;
        let event = v["event"].as_str().unwrap().to_string();
        let Some(cid) = v["cid"].as_str() else {
            assert_eq!(event, "cookie_sent", "{line}");
            continue;
        };
        assert_eq!(cid.len(), 16, "{line}");
        let c = conns.entry(cid.to_string()).or_default();
        if c.events == 0 {
            assert_eq!(event, "started", "a connection's first line: {line}");
            c.role = v["role"].as_str().map(String::from);
        }
        let before_close = c.closed.is_none();
        match event.as_str() {
            "packet_sent" if before_close => {
                c.sent += 1;
                c.sent_bytes += v["size"].as_u64().unwrap();
            }
            "packet_received" if before_close && v["kind"] == "transport" => c.received_transport += 1,
            "packet_lost" => c.lost += v["packets"].as_u64().unwrap(),
            "rtt_sample" => {
                c.rtt_samples += 1;
                assert!(v["latest_us"].as_u64().unwrap() > 0, "{line}");
            }
            "metrics" => {
                c.metrics += 1;
                assert!(v["cwnd"].as_u64().unwrap() > 0, "{line}");
            }
            "established" => c.early_data = v["early_data"].as_str().map(String::from),
            "closed" => {
                assert!(c.closed.is_none(), "closed twice: {line}");
                c.closed = Some(v.clone());
            }
            _ => {}
        }
        c.events += 1;
    }
    conns
}

fn run(seed: u64, loss: f64) -> String {
    let mut params = ScenarioParams::new(seed, 10_000_000, Duration::from_millis(40), 400_000);
    params.link = params.link.clone().loss(loss);
    params.time_limit = Duration::from_secs(60);
    let trace = Arc::new(JsonLines::new(Vec::new()));
    let report = endpoint_transfer_traced(&params, Some(trace.clone() as Arc<dyn TraceSink>)).unwrap();
    assert!(report.summary.ok, "{:?}", report.outcome);
    let trace = Arc::try_unwrap(trace).unwrap();
    assert_eq!(trace.errors(), 0);
    String::from_utf8(trace.into_inner()).unwrap()
}

#[test]
fn a_lossy_transfer_traced_adds_up() {
    let text = run(7, 0.02);
    let conns = parse(&text);
    assert_eq!(conns.len(), 2, "one connection each side");
    let by_role = |role: &str| conns.values().find(|c| c.role.as_deref() == Some(role)).unwrap();
    let (client, server) = (by_role("initiator"), by_role("responder"));
    for c in [client, server] {
        let closed = c.closed.as_ref().unwrap_or_else(|| panic!("no closed line: {c:?}"));
        assert_eq!(closed["reason"], "finished");
        assert_eq!(c.sent, closed["datagrams_sent"].as_u64().unwrap(), "{c:?}");
        assert_eq!(c.sent_bytes, closed["bytes_sent"].as_u64().unwrap(), "{c:?}");
        assert_eq!(c.received_transport, closed["datagrams_received"].as_u64().unwrap(), "{c:?}");
        assert_eq!(c.early_data.as_deref(), Some("accepted"), "IK, 0-RTT: {c:?}");
    }
    // 2 % loss each way: each side received less than the other sent.
    assert!(client.received_transport < server.sent);
    assert!(server.received_transport < client.sent);
    // The sender lost packets, measured the path and moved its window.
    assert!(client.lost > 0, "{client:?}");
    assert!(client.rtt_samples > 10 && client.metrics > 10, "{client:?}");
    assert!(text.contains("\"trigger\":\"rack\""));
}

#[test]
fn the_trace_is_deterministic() {
    assert_eq!(run(3, 0.01), run(3, 0.01));
}

#[test]
fn the_binary_writes_the_trace_file() {
    let path = std::env::temp_dir().join(format!("lrp2p-sim-trace-{}.jsonl", std::process::id()));
    let status = Command::new(env!("CARGO_BIN_EXE_lrp2p-sim"))
        .args(["--rate-mbit", "10", "--rtt-ms", "20", "--loss", "0.01", "--bytes", "200000", "--seed", "2"])
        .arg("--json")
        .arg("--trace")
        .arg(&path)
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let conns = parse(&text);
    assert_eq!(conns.len(), 2);
    assert!(conns.values().all(|c| c.closed.is_some()));
}
