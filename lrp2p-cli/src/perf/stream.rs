//! The two roles of a perf test over one connection, whichever end plays them: the sender
//! writes as fast as the connection allows for a duration or a byte count, half-closes and
//! waits for the receiver's total; the receiver counts until the end of the stream and answers
//! the total (u64 BE), so both agree on what arrived.

use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::time::Instant;

use super::meter::{Meter, Sample};
use crate::error::CliError;
use crate::net::{self, Link};
use crate::output::Ui;
use crate::plot::Point;

/// How long the client waits for the server's total after half-closing (the send buffer
/// drains meanwhile) when it must send an exact number of bytes.
const TOTAL_TIMEOUT: Duration = Duration::from_secs(30);

/// With `--duration`, the least time given to the send buffer's drain and the server's total
/// after the duration; see [`drain_grace`].
pub(crate) const DRAIN_GRACE_MIN: Duration = Duration::from_secs(2);

/// With `--duration`, round trips given to the drain and the server's total beyond
/// [`DRAIN_GRACE_MIN`]: what is in flight (a round trip), what waits unsent (at most
/// [`UNSENT_WINDOWS`] more), and the total's way back.
const DRAIN_GRACE_RTTS: u32 = 4;

/// How long a `--duration` run waits, after the duration, for the server's total: a few round
/// trips of the path and [`DRAIN_GRACE_MIN`], never more than [`TOTAL_TIMEOUT`]. A run ends
/// on time whatever the path; on one too slow to drain, the report counts the bytes the server
/// acknowledged instead of its total.
pub(super) fn drain_grace<L: Link>(link: &L) -> Duration {
    let rtt = link.link_stats().and_then(|s| s.rtt).unwrap_or(Duration::from_secs(1));
    (DRAIN_GRACE_MIN + rtt.saturating_mul(DRAIN_GRACE_RTTS)).min(TOTAL_TIMEOUT)
}

/// What the sender sends: a byte count or a duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    /// The plot's points (with `--plot`).
    #[serde(skip)]
    pub(crate) points: Vec<Point>,
}

/// Bytes the peer acknowledged, when the transport says; else bytes written.
/// `before` is what this side wrote ahead of the data (the client's hello).
pub(super) fn delivered<L: Link>(link: &L, written: u64, before: u64) -> u64 {
    link.link_stats()
        .map_or(written, |s| s.stream_bytes_written.saturating_sub(s.send_buffered).saturating_sub(before))
}

/// How a side plays its role: its report period, the label of its lines, where it prints.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reporting<'a> {
    /// Seconds between reports.
    pub(crate) interval: Duration,
    /// Starts each printed line (the peer or the stream; empty: none).
    pub(crate) label: &'a str,
    /// Where to print.
    pub(crate) ui: &'a Ui,
    /// Whether to record a plot's points (every 100 ms, whatever `interval`).
    pub(crate) plot: bool,
}

/// What a lost connection becomes: [`net::lost_server`] on the client, [`net::lost_peer`]
/// on the server.
pub(crate) type Lost = fn(&str, std::io::Error) -> CliError;

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
pub(super) fn buffer_full<L: Link>(link: &L) -> bool {
    link.link_stats().is_some_and(|s| {
        let unsent = s.send_buffered.saturating_sub(s.bytes_in_flight);
        unsent > (UNSENT_WINDOWS * s.cwnd).max(UNSENT_MIN)
    })
}

/// How long the client waits before looking at a full buffer again.
pub(super) const UNSENT_POLL: Duration = Duration::from_millis(2);

/// Runs the sending side over `link` (the client, or the server of a `-R` test), `before`
/// bytes (the hello) written already.
pub(crate) async fn run_sender<L: Link>(
    link: &mut L,
    limit: Limit,
    before: u64,
    report: Reporting<'_>,
    lost: Lost,
) -> Result<ClientReport, CliError> {
    let ui = report.ui;
    let lost = |e| lost("connection lost", e);
    let buf = vec![0xa5u8; 64 * 1024];
    let mut meter = Meter::new(report.label, true, report.interval, report.plot);
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
            () = tokio::time::sleep_until(meter.next_wake()) => {
                let d = delivered(link, written, before);
                meter.wake(link, d, ui);
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
                let acknowledged = delivered(link, written, before);
                meter.finish(link, acknowledged, ui);
                return Ok(ClientReport {
                    bytes: acknowledged,
                    server_bytes: None,
                    seconds: meter.start.elapsed().as_secs_f64(),
                    points: meter.take_points(),
                    samples: meter.samples,
                });
            }
            () = tokio::time::sleep_until(deadline) => {
                return Err(CliError::Timeout("the server did not report its total".to_owned()));
            }
            () = tokio::time::sleep_until(meter.next_wake()) => {
                let d = delivered(link, written, before);
                meter.wake(link, d, ui);
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
        points: meter.take_points(),
        samples: meter.samples,
    })
}

/// Runs the server side over one connection: counts until end of stream, answers the total.
/// A client that sends nothing for `idle` (or does not take the total within it) is dropped
/// with a [`CliError::Timeout`]; so is one that never confirmed its handshake, as soon as
/// the transport gives up on it. Returns the total, the per-interval reports and the plot's
/// points.
pub(crate) async fn run_receiver<L: Link>(
    link: &mut L,
    idle: Duration,
    report: Reporting<'_>,
    lost: Lost,
) -> Result<(u64, Vec<Sample>, Vec<Point>), CliError> {
    let ui = report.ui;
    let lost = |e| lost("connection lost", e);
    let silent = |what: &str| {
        CliError::Timeout(format!("the peer sent nothing for {} s ({what})", idle.as_secs_f64()))
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut meter = Meter::new(report.label, false, report.interval, report.plot);
    let mut total = 0u64;
    let mut deadline = Instant::now() + idle;
    loop {
        tokio::select! {
            biased;
            () = tokio::time::sleep_until(meter.next_wake()) => meter.wake(link, total, ui),
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
    let points = meter.take_points();
    Ok((total, meter.samples, points))
}
