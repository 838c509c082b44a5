//! Unit tests of perf over in-memory streams.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::meter::Sample;
use super::stream::{DRAIN_GRACE_MIN, Limit, Lost, Reporting, run_receiver, run_sender};
use super::*;
use crate::output::Ui;

/// The server side as it runs: the hello, then the receiver.
async fn run_server<L: Link>(
    link: &mut L,
    interval: Duration,
    idle: Duration,
    label: &str,
    ui: &Ui,
) -> Result<(u64, Vec<Sample>), CliError> {
    check_hello(link, idle).await?;
    let report = Reporting { interval, label, ui, plot: false };
    let (total, samples, _) = run_receiver(link, idle, report, net::lost_peer).await?;
    Ok((total, samples))
}

/// The client side as it runs: the hello, then the sender.
async fn run_client<L: Link>(
    link: &mut L,
    limit: Limit,
    interval: Duration,
    ui: &Ui,
) -> Result<stream::ClientReport, CliError> {
    let hello = hello(Direction::Up, limit);
    link.write_all(&hello).await.map_err(|e| net::lost_server("hello", e))?;
    let lost: Lost = net::lost_server;
    let report = Reporting { interval, label: "", ui, plot: true };
    run_sender(link, limit, hello.len() as u64, report, lost).await
}

/// The server's idle timeout in tests that expect no silence.
const LIMIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_silent_client_is_dropped() {
    let (_a, mut b) = tokio::io::duplex(64 * 1024);
    let started = std::time::Instant::now();
    let idle = Duration::from_millis(200);
    let result =
        tokio::time::timeout(LIMIT, run_server(&mut b, Duration::from_secs(5), idle, "", &Ui::quiet()))
            .await
            .expect("server gave up in time");
    let err = result.expect_err("silent client");
    assert!(matches!(err, CliError::Timeout(_)), "{err}");
    assert!(err.to_string().contains("sent nothing"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn client_and_server_agree_over_a_duplex() {
    let (mut a, mut b) = tokio::io::duplex(64 * 1024);
    let server =
        tokio::spawn(
            async move { run_server(&mut b, Duration::from_millis(20), LIMIT, "", &Ui::quiet()).await },
        );
    let report = run_client(&mut a, Limit::Bytes(5_000_000), Duration::from_millis(20), &Ui::quiet())
        .await
        .expect("client");
    assert_eq!(report.bytes, 5_000_000);
    assert_eq!(report.server_bytes, Some(5_000_000));
    assert!(!report.samples.is_empty());
    assert_eq!(report.samples.last().map(|s| s.bytes), Some(5_000_000));
    let (total, samples) = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("time")
        .expect("join")
        .expect("server");
    assert_eq!(total, 5_000_000);
    assert!(samples.windows(2).all(|w| w[0].t <= w[1].t));
}

#[tokio::test]
async fn samples_carry_transport_statistics() {
    let mut stats = lrp2p_proto::ConnectionStats::default();
    stats.rtt = Some(Duration::from_millis(20));
    stats.cwnd = 123_456;
    stats.retransmits = 7;
    let (a, mut b) = tokio::io::duplex(64 * 1024);
    let mut a = crate::net::WithStats { inner: a, stats: Some(stats) };
    let server =
        tokio::spawn(
            async move { run_server(&mut b, Duration::from_secs(5), LIMIT, "", &Ui::quiet()).await },
        );
    let report = run_client(&mut a, Limit::Bytes(100_000), Duration::from_secs(5), &Ui::quiet())
        .await
        .expect("client");
    let last = report.samples.last().expect("a final sample");
    assert_eq!(last.rtt_ms, Some(20.0));
    assert_eq!(last.cwnd, Some(123_456));
    assert_eq!(last.retransmits, Some(7));
    assert!(last.line().contains("20.0 ms"), "{}", last.line());
    server.await.expect("join").expect("server");
}

#[tokio::test]
async fn a_duration_run_ends_on_time_when_the_total_never_comes() {
    // The peer end is held but never read: writes stall, the buffer never drains, and no
    // total ever comes (a path that collapsed). The run still ends a grace period after
    // its duration, counting only what was acknowledged.
    let (a, _b) = tokio::io::duplex(64 * 1024);
    let mut stats = lrp2p_proto::ConnectionStats::default();
    stats.rtt = Some(Duration::from_millis(50));
    let mut a = crate::net::WithStats { inner: a, stats: Some(stats) };
    let started = std::time::Instant::now();
    let report = run_client(
        &mut a,
        Limit::Duration(Duration::from_millis(300)),
        Duration::from_millis(100),
        &Ui::quiet(),
    )
    .await
    .expect("client");
    let took = started.elapsed();
    // 300 ms + DRAIN_GRACE_MIN + 4 × 50 ms.
    assert!(took >= Duration::from_millis(300) + DRAIN_GRACE_MIN, "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(report.server_bytes, None);
}

#[tokio::test]
async fn the_server_refuses_a_file_transfer_and_says_so() {
    use tokio::io::AsyncWriteExt as _;
    let (mut a, mut b) = tokio::io::duplex(64 * 1024);
    let header = crate::transfer::Header { name: "f".to_owned(), size: 3, dir: false, resume: None };
    a.write_all(&header.encode()).await.expect("write");
    let err = run_server(&mut b, Duration::from_secs(5), LIMIT, "", &Ui::quiet()).await.expect_err("refused");
    assert!(err.to_string().contains("wrong port"), "{err}");
    assert_eq!(a.read_u8().await.expect("status"), crate::transfer::Status::WrongService as u8);
}

#[test]
fn server_lines_show_only_what_a_receiver_knows() {
    let s = Sample {
        t: 1.0,
        goodput_bps: 8e6,
        bytes: 1 << 20,
        rtt_ms: None,
        cwnd: None,
        retransmits: None,
        interval_retransmits: None,
    };
    assert!(!s.line().contains("cwnd") && !s.line().contains("rtt"), "{}", s.line());
    assert!(s.line().contains("8.0 Mbit/s"), "{}", s.line());
}

#[tokio::test]
async fn duration_limit_stops() {
    let (mut a, mut b) = tokio::io::duplex(64 * 1024);
    let server =
        tokio::spawn(
            async move { run_server(&mut b, Duration::from_millis(50), LIMIT, "", &Ui::quiet()).await },
        );
    let started = std::time::Instant::now();
    let report = run_client(
        &mut a,
        Limit::Duration(Duration::from_millis(300)),
        Duration::from_millis(50),
        &Ui::quiet(),
    )
    .await
    .expect("client");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(report.samples.len() >= 3, "{}", report.samples.len());
    assert!(report.bytes > 0);
    server.await.expect("join").expect("server");
}

#[tokio::test]
async fn the_plot_takes_a_point_every_100_ms_whatever_the_interval() {
    let (mut a, mut b) = tokio::io::duplex(64 * 1024);
    let server =
        tokio::spawn(
            async move { run_server(&mut b, Duration::from_secs(5), LIMIT, "", &Ui::quiet()).await },
        );
    // Reports every 5 s, a 1 s run: no periodic report, ten plot points.
    let report =
        run_client(&mut a, Limit::Duration(Duration::from_secs(1)), Duration::from_secs(5), &Ui::quiet())
            .await
            .expect("client");
    assert_eq!(report.samples.len(), 1, "only the final report: {:?}", report.samples);
    let n = report.points.len();
    assert!((9..=12).contains(&n), "{n} points in {} s", report.seconds);
    assert!(report.points.windows(2).all(|w| w[1].t - w[0].t >= 0.05), "{:?}", report.points);
    server.await.expect("join").expect("server");
}
