//! End-to-end tests of the real `lrp2p perf --plot` and `send --plot` on loopback, through a
//! lossy `lrp2p relay` so that retransmissions show: the SVG is well-formed XML, carries the
//! title with the run's parameters, and holds about one point per 100 ms of the run
//! (whatever `-i`). Every child process is bounded in time and killed by its own handle.

mod common;

use common::{lossy_relay, perf_server, run_ok};

/// Checks that `svg` is well-formed XML as far as a plot needs (every tag closed in order,
/// attributes quoted, no stray `<` or `&` in text) and returns its elements' names in order.
fn check_xml(svg: &str) -> Vec<String> {
    let (mut stack, mut names) = (Vec::<String>::new(), Vec::new());
    let mut rest = svg;
    while let Some(open) = rest.find('<') {
        check_text(&rest[..open]);
        let close = rest[open..].find('>').map(|c| open + c).expect("an unclosed tag");
        let tag = &rest[open + 1..close];
        rest = &rest[close + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name.trim()), "mismatched </{name}>");
            continue;
        }
        let name: String = tag.chars().take_while(|c| !c.is_whitespace() && *c != '/').collect();
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "tag {tag:?}"
        );
        assert_eq!(tag.matches('"').count() % 2, 0, "unquoted attribute in {tag:?}");
        names.push(name.clone());
        if !tag.ends_with('/') {
            stack.push(name);
        }
    }
    check_text(rest);
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    assert_eq!(names.first().map(String::as_str), Some("svg"), "not an SVG");
    names
}

/// Text between tags: every `&` starts an entity.
fn check_text(text: &str) {
    for (i, _) in text.match_indices('&') {
        let entity = &text[i..text[i..].find(';').map_or(text.len(), |e| i + e + 1)];
        assert!(["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&entity), "stray & in {text:?}");
    }
}

/// The most points any one line of the plot has: that of the per-step series.
fn longest_line(svg: &str) -> usize {
    svg.split("<polyline")
        .skip(1)
        .filter_map(|p| {
            p.split("points=\"").nth(1)?.split('"').next().map(|pts| pts.split_whitespace().count())
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn perf_plot_has_the_parameters_a_point_per_100_ms_and_retransmissions() {
    let (_server, addr, key) = perf_server("1");
    let (_relay, relay_addr) = lossy_relay(&addr);
    let dir = tempfile::tempdir().expect("tempdir");
    let plot = dir.path().join("perf.svg");
    let plot_path = plot.to_str().expect("path");
    // Reports every 2 s; the plot must not depend on them.
    let args = [
        "--json",
        "perf",
        "client",
        "--to",
        &relay_addr,
        "--peer",
        &key,
        "--duration",
        "2",
        "-i",
        "2",
        "--plot",
        plot_path,
    ];
    let out = run_ok(&args);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    let seconds = v["report"]["seconds"].as_f64().expect("seconds");
    let svg = std::fs::read_to_string(&plot).expect("svg");
    let names = check_xml(&svg);
    assert!(names.iter().filter(|n| *n == "polyline").count() >= 4, "{names:?}");
    assert!(svg.contains(&format!("lrp2p perf with {relay_addr}")), "no title");
    assert!(
        svg.contains("the client sends") && svg.contains("--cc ") && svg.contains("1 connection"),
        "no parameters"
    );
    assert!(svg.contains("2 s"), "no duration");
    // About one point per 100 ms of the run (a busy machine may skip a few steps).
    let points = longest_line(&svg);
    let expected = seconds / 0.1;
    assert!(
        points as f64 >= 0.6 * expected && points as f64 <= expected + 2.0,
        "{points} points for {seconds:.2} s"
    );
    // 5% loss each way: steps with retransmissions, marked and counted.
    assert!(svg.contains("a step with retransmissions"), "no retransmission marks");
    assert!(svg.contains("retransmitted DATA segments, per 100 ms step"), "no retransmissions panel");
    assert!(
        svg.contains("Mbit/s") && svg.contains("KiB") && svg.contains("time since the start (s)"),
        "units"
    );
}

#[test]
fn send_plot_is_written_with_its_title() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (inbox, file) = (dir.path().join("inbox"), dir.path().join("data.bin"));
    std::fs::create_dir(&inbox).expect("inbox");
    let data: Vec<u8> = (0..4u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(&file, &data).expect("data");
    let (_recv, addr, key) = common::receiver(dir.path(), &inbox, &["--count", "1"]);
    let (_relay, relay_addr) = lossy_relay(&addr);
    let plot = dir.path().join("send.svg");
    run_ok(&[
        "send",
        file.to_str().expect("path"),
        "--to",
        &relay_addr,
        "--peer",
        &key,
        "--plot",
        plot.to_str().expect("path"),
    ]);
    assert_eq!(std::fs::read(inbox.join("data.bin")).expect("received"), data);
    let svg = std::fs::read_to_string(&plot).expect("the plot was written");
    check_xml(&svg);
    assert!(svg.contains(&format!("lrp2p send to {relay_addr}")), "no title");
    assert!(
        svg.contains("data.bin") && svg.contains("4.00 MiB") && svg.contains("IK handshake"),
        "no parameters"
    );
    for panel in ["goodput", "congestion window", "round-trip time"] {
        assert!(svg.contains(panel), "no {panel} panel: {svg}");
    }
    assert!(longest_line(&svg) >= 2, "no series");
}

#[test]
fn check_xml_catches_what_it_should() {
    check_xml("<svg a=\"1\"><g><text>a &amp; b</text></g><rect/></svg>");
    for bad in ["<svg><g></svg>", "<svg>a & b</svg>", "<svg a=\"1></svg>", "<svg><g></g>"] {
        assert!(std::panic::catch_unwind(|| check_xml(bad)).is_err(), "{bad:?} passed");
    }
}
