//! The plots drawn from synthetic points: panels, title, escaping, errors.

use super::*;

/// Ten seconds of a sender: 100 points, retransmissions every tenth step.
fn sender_points() -> Vec<Point> {
    (1..=100u32)
        .map(|i| {
            let t = f64::from(i) / 10.0;
            Point {
                t,
                goodput_bps: 80e6 + 10e6 * (t / 3.0).sin(),
                rtt_ms: (i > 1).then_some(20.0 + t),
                cwnd: Some(100_000 + 5_000 * u64::from(i)),
                retransmits: Some(u64::from(i % 10 == 0)),
            }
        })
        .collect()
}

/// The SVG drawn from `plot`.
fn draw(plot: &Plot<'_>) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("plot.svg");
    write_svg(&path, plot).expect("plot");
    std::fs::read_to_string(&path).expect("read")
}

#[test]
fn a_senders_plot_has_its_title_four_panels_and_retransmission_marks() {
    let points = sender_points();
    let svg = draw(&Plot {
        title: "lrp2p perf: client → 127.0.0.1:7000 & back".to_owned(),
        details: vec!["the client sends".to_owned(), "sent 100 MiB".to_owned()],
        series: vec![("sent", &points)],
        note: None,
    });
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
    assert!(svg.trim_end().ends_with("</svg>"));
    // The title is escaped XML text.
    assert!(svg.contains("lrp2p perf: client → 127.0.0.1:7000 &amp; back"), "title");
    for caption in ["goodput", "congestion window", "round-trip time", "retransmitted", "Mbit/s", "KiB", "ms"]
    {
        assert!(svg.contains(caption), "no {caption:?}");
    }
    // Goodput per step and averaged, window, RTT: four lines of 100 points each.
    assert!(svg.matches("<polyline").count() >= 4, "four series");
    // Ten steps retransmitted: ten marks on the goodput panel and ten bars.
    assert!(
        svg.matches(&format!("stroke=\"#{:02X}{:02X}{:02X}\"", RETRANS.0, RETRANS.1, RETRANS.2)).count()
            >= 10
    );
    assert!(svg.contains("a step with retransmissions"));
}

#[test]
fn a_receivers_plot_leaves_out_what_it_does_not_know_and_says_why() {
    let points: Vec<Point> = sender_points()
        .into_iter()
        .map(|p| Point { cwnd: None, rtt_ms: None, retransmits: None, ..p })
        .collect();
    let svg = draw(&Plot {
        title: "t".to_owned(),
        details: vec!["s".to_owned()],
        series: vec![("received", &points)],
        note: Some("the window is the server's".to_owned()),
    });
    assert!(svg.contains("goodput"));
    let note = ["the window is the server&apos;s", "the window is the server's"];
    assert!(note.iter().any(|n| svg.contains(n)), "no note");
    assert!(!svg.contains("congestion window") && !svg.contains("round-trip"), "empty panels drawn");
}

#[test]
fn moving_average_spans_the_last_second() {
    let points: Vec<Point> = (1..=20)
        .map(|i| Point {
            t: f64::from(i) / 10.0,
            goodput_bps: if i <= 10 { 0.0 } else { 10e6 },
            ..Point::default()
        })
        .collect();
    let avg = moving_average(&points);
    assert_eq!(avg.len(), 20);
    assert!((avg[9].1 - 0.0).abs() < 1e-9);
    assert!((avg[14].1 - 5.0).abs() < 1e-9, "{avg:?}");
    assert!((avg[19].1 - 10.0).abs() < 1e-9);
}

#[test]
fn empty_series_still_draw() {
    let svg =
        draw(&Plot { title: "t".to_owned(), details: Vec::new(), series: vec![("x", &[])], note: None });
    assert!(svg.contains("</svg>"));
}

#[test]
fn unwritable_path_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plot = Plot { title: String::new(), details: Vec::new(), series: Vec::new(), note: None };
    assert!(write_svg(&dir.path().join("no/such/dir.svg"), &plot).is_err());
    assert!(check_writable(&dir.path().join("no/such/dir.svg")).is_err());
    let fine = dir.path().join("fine.svg");
    check_writable(&fine).expect("writable");
    assert!(!fine.exists(), "the check leaves nothing behind");
}
