//! `lrp2p perf server|client`: an iperf-like measurement. The client writes as fast as the
//! connection allows for `--duration` or `--bytes`, then half-closes; the server counts and
//! answers with the total (u64, big-endian), so both agree on what arrived. Each second both
//! print goodput (the client also RTT, congestion window and retransmissions; the server only
//! what a receiver knows); `--plot` draws them.
//!
//! The client's stream starts with [`HELLO`] (`LRPP` and version 1), so that a perf server
//! refuses a file transfer (`lrp2p send` to the wrong port) and `recv` refuses a perf client,
//! each saying so; a sender told [`Status::WrongService`](crate::transfer::Status) prints why.

use std::time::Duration;

use lrp2p_proto::PublicKey;
use serde::Serialize;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::time::Instant;

use crate::cli::{PerfClientArgs, PerfServerArgs};
use crate::error::CliError;
use crate::net::{self, Link};
use crate::output::{self, Ui};
use crate::service;

/// First bytes of a perf client's stream: magic `LRPP`, version 1.
pub(crate) const HELLO: [u8; 5] = *b"LRPP\x01";

/// How long the client waits for the server's total after half-closing (the send buffer
/// drains meanwhile) when it must send an exact number of bytes.
const TOTAL_TIMEOUT: Duration = Duration::from_secs(30);

/// With `--duration`, the least time given to the send buffer's drain and the server's total
/// after the duration; see [`drain_grace`].
const DRAIN_GRACE_MIN: Duration = Duration::from_secs(2);

/// With `--duration`, round trips given to the drain and the server's total beyond
/// [`DRAIN_GRACE_MIN`]: what is in flight (a round trip), what waits unsent (at most
/// [`UNSENT_WINDOWS`] more), and the total's way back.
const DRAIN_GRACE_RTTS: u32 = 4;

/// How long a `--duration` run waits, after the duration, for the server's total: a few round
/// trips of the path and [`DRAIN_GRACE_MIN`], never more than [`TOTAL_TIMEOUT`]. A run ends
/// on time whatever the path; on one too slow to drain, the report counts the bytes the server
/// acknowledged instead of its total.
fn drain_grace<L: Link>(link: &L) -> Duration {
    let rtt = link.link_stats().and_then(|s| s.rtt).unwrap_or(Duration::from_secs(1));
    (DRAIN_GRACE_MIN + rtt.saturating_mul(DRAIN_GRACE_RTTS)).min(TOTAL_TIMEOUT)
}

/// One reporting interval.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Sample {
    /// Seconds since the start, at the end of the interval.
    pub(crate) t: f64,
    /// Goodput over the interval, bits per second (acknowledged or received bytes).
    pub(crate) goodput_bps: f64,
    /// Bytes counted so far.
    pub(crate) bytes: u64,
    /// Smoothed RTT in milliseconds, when the transport has measured one.
    pub(crate) rtt_ms: Option<f64>,
    /// Congestion window in bytes.
    pub(crate) cwnd: Option<u64>,
    /// Retransmissions so far.
    pub(crate) retransmits: Option<u64>,
}

impl Sample {
    /// The human line for this sample.
    fn line(&self) -> String {
        if self.rtt_ms.is_none() && self.cwnd.is_none() && self.retransmits.is_none() {
            return format!(
                "[{:>6.1} s] {:>13}  total {}",
                self.t,
                output::bitrate(self.goodput_bps),
                output::bytes(self.bytes)
            );
        }
        format!(
            "[{:>6.1} s] {:>13}  rtt {:>9}  cwnd {:>11}  retrans {}",
            self.t,
            output::bitrate(self.goodput_bps),
            self.rtt_ms.map_or_else(|| "-".to_owned(), |r| format!("{r:.1} ms")),
            self.cwnd.map_or_else(|| "-".to_owned(), output::bytes),
            self.retransmits.map_or_else(|| "-".to_owned(), |r| r.to_string()),
        )
    }
}

/// Tracks one side's counters between reports.
struct Meter {
    /// When measuring started.
    start: Instant,
    /// Time of the previous report.
    last_at: Instant,
    /// Bytes counted at the previous report.
    last_bytes: u64,
    /// The reports so far.
    samples: Vec<Sample>,
    /// Printed before each line (the peer, on a server serving several).
    label: String,
    /// Whether this side sends: only a sender knows RTT, window and retransmissions.
    sender: bool,
}

impl Meter {
    /// Starts measuring now; `label` starts each printed line (empty: none).
    fn new(label: &str, sender: bool) -> Meter {
        let now = Instant::now();
        let label = if label.is_empty() { String::new() } else { format!("{label} ") };
        Meter { start: now, last_at: now, last_bytes: 0, samples: Vec::new(), label, sender }
    }

    /// Records a sample with `bytes` counted so far and the link's statistics.
    fn sample<L: Link>(&mut self, link: &L, bytes: u64, ui: &Ui) {
        self.record(link, bytes, ui, false);
    }

    /// Records the last sample, at the end of the run. It is not printed (the summary
    /// follows), and when it comes right after a periodic one it replaces it, so that a
    /// sliver of an interval does not show as a spike of goodput.
    fn finish<L: Link>(&mut self, link: &L, bytes: u64, ui: &Ui) {
        let now = Instant::now();
        if !self.samples.is_empty() && now - self.last_at < Duration::from_millis(250) {
            self.samples.pop();
            let (t, b) = self.samples.last().map_or((0.0, 0), |s| (s.t, s.bytes));
            self.last_at = self.start + Duration::from_secs_f64(t);
            self.last_bytes = b;
        }
        self.record(link, bytes, ui, true);
    }

    /// Adds a sample; prints it unless `quiet`.
    fn record<L: Link>(&mut self, link: &L, bytes: u64, ui: &Ui, quiet: bool) {
        let now = Instant::now();
        let stats = if self.sender { link.link_stats() } else { None };
        let sample = Sample {
            t: (now - self.start).as_secs_f64(),
            goodput_bps: output::bits_per_second(bytes.saturating_sub(self.last_bytes), now - self.last_at),
            bytes,
            rtt_ms: stats.and_then(|s| s.rtt).map(|d| d.as_secs_f64() * 1e3),
            cwnd: stats.map(|s| s.cwnd),
            retransmits: stats.map(|s| s.retransmits),
        };
        if !quiet {
            ui.line(&format!("{}{}", self.label, sample.line()));
        }
        self.samples.push(sample);
        self.last_at = now;
        self.last_bytes = bytes;
    }
}

/// What the client sends: a byte count or a duration.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Limit {
    /// Exactly this many bytes.
    Bytes(u64),
    /// As much as fits in this time.
    Duration(Duration),
}

/// The client's result.
#[derive(Debug, Serialize)]
pub(crate) struct ClientReport {
    /// Bytes written (or, when `server_bytes` is `None`, acknowledged by the server).
    pub(crate) bytes: u64,
    /// Bytes the server counted; `None` when a `--duration` run ended before its total
    /// arrived (see [`drain_grace`]).
    pub(crate) server_bytes: Option<u64>,
    /// From the first write to the server's answer.
    pub(crate) seconds: f64,
    /// Per-interval reports.
    pub(crate) samples: Vec<Sample>,
}

/// Bytes the peer acknowledged, when the transport says; else bytes written.
fn delivered<L: Link>(link: &L, written: u64) -> u64 {
    let hello = HELLO.len() as u64;
    link.link_stats()
        .map_or(written, |s| s.stream_bytes_written.saturating_sub(s.send_buffered).saturating_sub(hello))
}

/// The most written-but-unsent data the client keeps in the transport's send buffer, as a
/// multiple of the congestion window (like TCP's `TCP_NOTSENT_LOWAT`): enough to keep the
/// window full, little enough that `--duration` ends when it says rather than after the
/// buffer drains (the transport's buffer holds twice the window, up to 32 MiB: 43 s at
/// 6 Mbit/s).
const UNSENT_WINDOWS: u64 = 2;

/// The smallest such allowance, for the first round trips.
const UNSENT_MIN: u64 = 256 * 1024;

/// Whether the transport holds so much unsent data that another write would only wait in its
/// buffer.
fn buffer_full<L: Link>(link: &L) -> bool {
    link.link_stats().is_some_and(|s| {
        let unsent = s.send_buffered.saturating_sub(s.bytes_in_flight);
        unsent > (UNSENT_WINDOWS * s.cwnd).max(UNSENT_MIN)
    })
}

/// How long the client waits before looking at a full buffer again.
const UNSENT_POLL: Duration = Duration::from_millis(2);

/// Runs the client side over `link`, reporting every `interval`.
pub(crate) async fn run_client<L: Link>(
    link: &mut L,
    limit: Limit,
    interval: Duration,
    ui: &Ui,
) -> Result<ClientReport, CliError> {
    let lost = |e| net::lost_server("connection lost", e);
    let buf = vec![0xa5u8; 64 * 1024];
    link.write_all(&HELLO).await.map_err(lost)?;
    let mut meter = Meter::new("", true);
    let mut ticker = tokio::time::interval_at(meter.start + interval, interval);
    let mut written = 0u64;
    loop {
        let want = match limit {
            Limit::Bytes(n) => usize::try_from(n - written).map_or(buf.len(), |l| l.min(buf.len())),
            Limit::Duration(d) if meter.start.elapsed() >= d => 0,
            Limit::Duration(_) => buf.len(),
        };
        if want == 0 {
            break;
        }
        let full = matches!(limit, Limit::Duration(_)) && buffer_full(link);
        tokio::select! {
            biased;
            _ = ticker.tick() => {
                let d = delivered(link, written);
                meter.sample(link, d, ui);
            }
            () = tokio::time::sleep(UNSENT_POLL), if full => {}
            n = link.write(&buf[..want]), if !full => written += n.map_err(lost)? as u64,
        }
    }
    link.shutdown().await.map_err(lost)?;
    // Keep reporting while the send buffer drains, until the server's total arrives.
    let by_duration = matches!(limit, Limit::Duration(_));
    let deadline = Instant::now() + if by_duration { drain_grace(link) } else { TOTAL_TIMEOUT };
    let mut total = [0u8; 8];
    let mut got = 0;
    while got < total.len() {
        tokio::select! {
            biased;
            () = tokio::time::sleep_until(deadline), if by_duration => {
                // On time whatever the path: report what the server acknowledged.
                let acknowledged = delivered(link, written);
                meter.finish(link, acknowledged, ui);
                return Ok(ClientReport {
                    bytes: acknowledged,
                    server_bytes: None,
                    seconds: meter.start.elapsed().as_secs_f64(),
                    samples: meter.samples,
                });
            }
            () = tokio::time::sleep_until(deadline) => {
                return Err(CliError::Timeout("the server did not report its total".to_owned()));
            }
            _ = ticker.tick() => {
                let d = delivered(link, written);
                meter.sample(link, d, ui);
            }
            // `read` is cancel-safe: a tick in between loses nothing.
            n = link.read(&mut total[got..]) => match n.map_err(lost)? {
                0 if got > 0 => {
                    return Err(CliError::Refused(
                        "the peer is not a perf server (a `lrp2p recv`?): check the address".to_owned(),
                    ));
                }
                0 => return Err(CliError::Transfer("the server closed without reporting its total".to_owned())),
                n => got += n,
            },
        }
    }
    let server_bytes = u64::from_be_bytes(total);
    meter.finish(link, written, ui);
    // The server's end of stream follows its total: read it, so that the connection has
    // finished both ways and our acknowledgement of that end leaves before this process exits
    // (the server waits for it before it counts the test as served).
    let mut rest = [0u8; 16];
    let _ = tokio::time::timeout(DRAIN_GRACE_MIN, link.read(&mut rest)).await;
    if server_bytes != written {
        return Err(CliError::Transfer(format!(
            "sent {written} bytes but the server counted {server_bytes}"
        )));
    }
    Ok(ClientReport {
        bytes: written,
        server_bytes: Some(server_bytes),
        seconds: meter.start.elapsed().as_secs_f64(),
        samples: meter.samples,
    })
}

/// Runs the server side over one connection: counts until end of stream, answers the total.
/// A client that sends nothing for `idle` (or does not take the total within it) is dropped
/// with a [`CliError::Timeout`]; so is one that never confirmed its handshake, as soon as
/// the transport gives up on it. `label` starts each per-interval line.
pub(crate) async fn run_server<L: Link>(
    link: &mut L,
    interval: Duration,
    idle: Duration,
    label: &str,
    ui: &Ui,
) -> Result<(u64, Vec<Sample>), CliError> {
    let lost = |e| net::lost_peer("connection lost", e);
    let silent = |what: &str| {
        CliError::Timeout(format!("the client sent nothing for {} s ({what})", idle.as_secs_f64()))
    };
    check_hello(link, idle).await?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut meter = Meter::new(label, false);
    let mut ticker = tokio::time::interval_at(meter.start + interval, interval);
    let mut total = 0u64;
    let mut deadline = Instant::now() + idle;
    loop {
        tokio::select! {
            biased;
            _ = ticker.tick() => meter.sample(link, total, ui),
            () = tokio::time::sleep_until(deadline) => return Err(silent("measuring")),
            // `read` is cancel-safe.
            n = link.read(&mut buf) => match n.map_err(lost)? {
                0 => break,
                n => {
                    total += n as u64;
                    deadline = Instant::now() + idle;
                }
            },
        }
    }
    meter.finish(link, total, ui);
    let answer = async {
        link.write_u64(total).await?;
        // The client waits for this total; it must arrive even if this process exits next.
        net::finish(link).await
    };
    tokio::time::timeout(idle, answer).await.map_err(|_| silent("taking the total"))?.map_err(lost)?;
    Ok((total, meter.samples))
}

/// Reads the client's [`HELLO`]; a file transfer or anything else is refused, and a file
/// sender is told [`Status::WrongService`](crate::transfer::Status) so that it says why.
async fn check_hello<L: Link>(link: &mut L, idle: Duration) -> Result<(), CliError> {
    let mut hello = [0u8; HELLO.len()];
    match tokio::time::timeout(idle, link.read_exact(&mut hello)).await {
        Err(_) => {
            return Err(CliError::Timeout(format!("the client sent nothing for {} s", idle.as_secs_f64())));
        }
        Ok(read) => read.map_err(|e| net::lost_peer("connection lost before the perf hello", e))?,
    };
    if hello == HELLO {
        return Ok(());
    }
    let why = if hello[..4] == crate::transfer::MAGIC {
        let _ = link.write_all(&[crate::transfer::Status::WrongService as u8]).await;
        let _ = tokio::time::timeout(net::FINISH_TIMEOUT.min(idle), net::finish(link)).await;
        "a file transfer (`lrp2p send`), not a perf test: the sender has the wrong port"
    } else if hello[..4] == HELLO[..4] {
        "a perf client speaking another perf protocol version"
    } else {
        "not a perf client"
    };
    Err(CliError::Refused(format!("session refused: {why}")))
}

/// `lrp2p perf server`: serves up to `--max-peers` clients at once (see [`service`]), each
/// dropped after `--idle-secs` of silence.
pub(crate) async fn server(args: &PerfServerArgs, ui: &Ui) -> Result<(), CliError> {
    let identity = crate::keyfile::load_or_generate(args.key.as_deref())?;
    let endpoint = net::bind(args.listen, identity, args.key.is_none(), args.cc)
        .await
        .map_err(|e| CliError::net(format!("cannot listen on {}", args.listen), e))?;
    let addr = endpoint.local_addr().map_err(|e| CliError::net("local address", e))?;
    let key = endpoint.public_key().to_string();
    let config = service::Config {
        max_peers: args.service.max_peers,
        count: args.count,
        stats_every: args.service.stats_every(),
        allow: Vec::new(),
    };
    let announce = || {
        ui.result(
            &format!("perf server on {addr}, public key {key}"),
            &json!({ "event": "listening", "addr": addr, "public_key": key }),
        );
    };
    let (idle, ui) = (Duration::from_secs_f64(args.idle_secs), *ui);
    let interval = Duration::from_secs_f64(args.interval);
    service::run(&endpoint, &config, &ui, announce, move |mut conn, peer| async move {
        let label = short(&peer);
        let (total, samples) = run_server(&mut conn, interval, idle, &label, &ui).await?;
        let secs = samples.last().map_or(0.0, |s| s.t);
        ui.result(
            &format!(
                "received {} from {peer} in {secs:.2} s: {}",
                output::bytes(total),
                output::rate(total, Duration::from_secs_f64(secs))
            ),
            &json!({ "event": "done", "peer": peer.to_string(), "bytes": total, "seconds": secs, "samples": samples }),
        );
        Ok(())
    })
    .await
}

/// A peer's key shortened to label its per-second lines (several run at once).
fn short(peer: &PublicKey) -> String {
    peer.to_string().chars().take(8).collect()
}

/// `lrp2p perf client`.
pub(crate) async fn client(args: &PerfClientArgs, ui: &Ui) -> Result<(), CliError> {
    let identity = crate::keyfile::load_or_generate(args.key.as_deref())?;
    if let Some(plot) = &args.plot {
        // Fail before measuring, not after; leave nothing behind until the plot is drawn.
        let existed = plot.exists();
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(plot)
            .map_err(|source| CliError::Output { path: plot.clone(), source })?;
        if !existed {
            let _ = std::fs::remove_file(plot);
        }
    }
    let endpoint = net::bind(net::any_addr_for(args.to), identity, args.key.is_none(), args.cc)
        .await
        .map_err(|e| CliError::net("cannot bind a local socket", e))?;
    let mut conn = endpoint
        .dial(args.to, args.peer)
        .await
        .map_err(|e| CliError::net(format!("cannot connect to {}", args.to), e))?;
    let limit = args.bytes.map_or(Limit::Duration(Duration::from_secs(args.duration)), Limit::Bytes);
    let report = run_client(&mut conn, limit, Duration::from_secs_f64(args.interval), ui).await?;
    if let Some(plot) = &args.plot {
        crate::plot::write_svg(plot, &report.samples)
            .map_err(|e| CliError::Output { path: plot.clone(), source: std::io::Error::other(e) })?;
    }
    let last = report.samples.last();
    if report.server_bytes.is_none() {
        ui.note(
            "lrp2p: warning: the server's total did not arrive in time after the duration; \
             counting the bytes it acknowledged",
        );
    }
    ui.result(
        &format!(
            "sent {} in {:.2} s: {}, rtt {}, {} retransmissions",
            output::bytes(report.bytes),
            report.seconds,
            output::rate(report.bytes, Duration::from_secs_f64(report.seconds)),
            output::millis(last.and_then(|s| s.rtt_ms).map(|m| Duration::from_secs_f64(m / 1e3))),
            last.and_then(|s| s.retransmits).map_or_else(|| "-".to_owned(), |r| r.to_string()),
        ),
        &json!({ "event": "done", "report": report }),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let server = tokio::spawn(async move {
            run_server(&mut b, Duration::from_millis(20), LIMIT, "", &Ui::quiet()).await
        });
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
        let err =
            run_server(&mut b, Duration::from_secs(5), LIMIT, "", &Ui::quiet()).await.expect_err("refused");
        assert!(err.to_string().contains("wrong port"), "{err}");
        assert_eq!(a.read_u8().await.expect("status"), crate::transfer::Status::WrongService as u8);
    }

    #[test]
    fn server_lines_show_only_what_a_receiver_knows() {
        let s =
            Sample { t: 1.0, goodput_bps: 8e6, bytes: 1 << 20, rtt_ms: None, cwnd: None, retransmits: None };
        assert!(!s.line().contains("cwnd") && !s.line().contains("rtt"), "{}", s.line());
        assert!(s.line().contains("8.0 Mbit/s"), "{}", s.line());
    }

    #[tokio::test]
    async fn duration_limit_stops() {
        let (mut a, mut b) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move {
            run_server(&mut b, Duration::from_millis(50), LIMIT, "", &Ui::quiet()).await
        });
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
}
