//! `perf client --bidir`: both ends send at once on one connection, each for the client's
//! limit, and each counts what the other sent until its end of stream. No total is exchanged
//! (each direction ends with its FIN): a side's sent figure is what the other acknowledged,
//! exact once its FIN is acknowledged. Lines are labelled `[TX]` (with the transport's
//! figures) and `[RX]` (goodput only).

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncWriteExt as _, ReadBuf};
use tokio::time::Instant;

use super::meter::{Meter, Sample};
use super::stream::{Limit, Lost, Reporting, UNSENT_POLL, buffer_full, delivered, drain_grace};
use crate::error::CliError;
use crate::net::Link;
use crate::plot::Point;

/// What one turn of the loop did.
enum Step {
    /// A report or a plot's point is due.
    Tick,
    /// The peer was silent too long.
    Silent,
    /// Nothing (the send buffer was full for a moment).
    Nothing,
    /// Read this many bytes (0: the peer's end of stream).
    Read(std::io::Result<usize>),
    /// Wrote this many bytes.
    Wrote(std::io::Result<usize>),
}

/// Polls a read (if `read`) and a write of `write` (if any), `write_first` deciding which
/// goes first so that neither starves the other.
fn io_step<L: Link>(
    link: &mut L,
    cx: &mut Context<'_>,
    rbuf: &mut [u8],
    read: bool,
    write: Option<&[u8]>,
    write_first: bool,
) -> Poll<Step> {
    let mut try_read = |link: &mut L, cx: &mut Context<'_>| {
        if !read {
            return None;
        }
        let mut rb = ReadBuf::new(rbuf);
        match Pin::new(link).poll_read(cx, &mut rb) {
            Poll::Ready(r) => Some(Step::Read(r.map(|()| rb.filled().len()))),
            Poll::Pending => None,
        }
    };
    let try_write = |link: &mut L, cx: &mut Context<'_>| {
        let w = write?;
        match Pin::new(link).poll_write(cx, w) {
            Poll::Ready(r) => Some(Step::Wrote(r)),
            Poll::Pending => None,
        }
    };
    let step = if write_first {
        try_write(link, cx).or_else(|| try_read(link, cx))
    } else {
        try_read(link, cx).or_else(|| try_write(link, cx))
    };
    step.map_or(Poll::Pending, Poll::Ready)
}

/// What one side of a `--bidir` test saw.
#[derive(Debug)]
pub(crate) struct Both {
    /// Bytes this side sent that the peer acknowledged.
    pub(crate) sent: u64,
    /// Its per-interval reports.
    pub(crate) sent_samples: Vec<Sample>,
    /// Bytes received from the peer.
    pub(crate) received: u64,
    /// Their per-interval reports.
    pub(crate) received_samples: Vec<Sample>,
    /// The plot's points of what was sent, and of what was received (with `--plot`).
    pub(crate) points: (Vec<Point>, Vec<Point>),
    /// Duration of the run.
    pub(crate) seconds: f64,
}

/// Sends for `limit` and counts the peer's stream to its end at once over `link`; `before`
/// bytes (the hello) were written already. A peer silent for `idle` fails the test.
pub(crate) async fn run_both<L: Link>(
    link: &mut L,
    limit: Limit,
    before: u64,
    idle: std::time::Duration,
    report: Reporting<'_>,
    lost: Lost,
) -> Result<Both, CliError> {
    let lost = |e| lost("connection lost", e);
    let label =
        |dir: &str| if report.label.is_empty() { dir.to_owned() } else { format!("{} {dir}", report.label) };
    let (interval, plot) = (report.interval, report.plot);
    let (mut tx, mut rx) =
        (Meter::new(&label("[TX]"), true, interval, plot), Meter::new(&label("[RX]"), false, interval, plot));
    let (wbuf, mut rbuf) = (vec![0xa5u8; 64 * 1024], vec![0u8; 64 * 1024]);
    let (mut written, mut received, mut sending, mut eof, mut turn) = (0u64, 0u64, true, false, false);
    let mut deadline = Instant::now() + idle;
    while sending || !eof {
        let want = match limit {
            _ if !sending => 0,
            Limit::Bytes(n) => usize::try_from(n - written).map_or(wbuf.len(), |l| l.min(wbuf.len())),
            Limit::Duration(d) if tx.start.elapsed() >= d => 0,
            Limit::Duration(_) => wbuf.len(),
        };
        if sending && want == 0 {
            link.shutdown().await.map_err(lost)?;
            sending = false;
            continue;
        }
        let full = sending && matches!(limit, Limit::Duration(_)) && buffer_full(link);
        let write = (sending && !full).then_some(&wbuf[..want]);
        turn = !turn;
        let step = tokio::select! {
            biased;
            () = tokio::time::sleep_until(tx.next_wake().min(rx.next_wake())) => Step::Tick,
            () = tokio::time::sleep_until(deadline), if !eof => Step::Silent,
            () = tokio::time::sleep(UNSENT_POLL), if full => Step::Nothing,
            step = std::future::poll_fn(|cx| io_step(link, cx, &mut rbuf, !eof, write, turn)) => step,
        };
        match step {
            Step::Tick => {
                tx.wake(link, delivered(link, written, before), report.ui);
                rx.wake(link, received, report.ui);
            }
            Step::Silent => {
                return Err(CliError::Timeout(format!("the peer sent nothing for {} s", idle.as_secs_f64())));
            }
            Step::Nothing => {}
            Step::Read(n) => match n.map_err(lost)? {
                0 => eof = true,
                n => {
                    received += n as u64;
                    deadline = Instant::now() + idle;
                }
            },
            Step::Wrote(n) => written += n.map_err(lost)? as u64,
        }
    }
    // Our end of stream acknowledged: the count is exact. (On a path too slow to drain in
    // the grace period, what was acknowledged by then.)
    let _ = tokio::time::timeout(drain_grace(link), link.acknowledged()).await;
    let sent = delivered(link, written, before);
    tx.finish(link, sent, report.ui);
    rx.finish(link, received, report.ui);
    let seconds = tx.start.elapsed().as_secs_f64();
    let points = (tx.take_points(), rx.take_points());
    Ok(Both { sent, sent_samples: tx.samples, received, received_samples: rx.samples, seconds, points })
}
