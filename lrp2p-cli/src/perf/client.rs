//! `lrp2p perf client`: one test over `-P N` connections at once, each sending (or, with
//! `-R`, receiving) on its own; their lines are labelled `[1]`…`[N]` and a `[SUM]` follows.

use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use tokio::io::AsyncWriteExt as _;

use super::both::run_both;
use super::meter::Sample;
use super::stream::{ClientReport, Limit, Reporting, run_receiver, run_sender};
use super::{Direction, hello};
use crate::cli::PerfClientArgs;
use crate::error::CliError;
use crate::net;
use crate::output::{self, Ui};
use crate::plot::{self, Plot, Point};
use crate::trace_file::TraceFile;

/// With `-R`, how long the client waits in silence before giving up on the server.
const REVERSE_IDLE: Duration = Duration::from_secs(10);

/// One connection's outcome, whichever way it ran.
#[derive(Debug, Serialize)]
struct StreamReport {
    /// Bytes this side sent (acknowledged or confirmed), or received with `-R`.
    bytes: u64,
    /// With the client sending: the server's count, when it arrived.
    server_bytes: Option<u64>,
    /// Duration of the run.
    seconds: f64,
    /// Per-interval reports.
    samples: Vec<Sample>,
    /// With `--bidir`: bytes received from the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    received: Option<u64>,
    /// With `--bidir`: the per-interval reports of what was received.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    received_samples: Vec<Sample>,
    /// The plot's points (with `--plot`): of what was sent, or received with `-R`.
    #[serde(skip)]
    points: Vec<Point>,
    /// With `--bidir` and `--plot`: the points of what was received.
    #[serde(skip)]
    received_points: Vec<Point>,
}

impl From<ClientReport> for StreamReport {
    fn from(r: ClientReport) -> StreamReport {
        StreamReport {
            bytes: r.bytes,
            server_bytes: r.server_bytes,
            seconds: r.seconds,
            samples: r.samples,
            received: None,
            received_samples: Vec::new(),
            points: r.points,
            received_points: Vec::new(),
        }
    }
}

/// Runs one connection's test.
async fn one(
    mut conn: net::Conn,
    limit: Limit,
    direction: Direction,
    interval: Duration,
    label: String,
    ui: Ui,
    plot: bool,
) -> Result<StreamReport, CliError> {
    let hello = hello(direction, limit);
    conn.write_all(&hello).await.map_err(|e| net::lost_server("connection lost", e))?;
    let report = Reporting { interval, label: &label, ui: &ui, plot };
    let before = hello.len() as u64;
    let idle = match limit {
        Limit::Duration(d) => REVERSE_IDLE.max(d / 4),
        Limit::Bytes(_) => REVERSE_IDLE,
    };
    match direction {
        Direction::Up => Ok(run_sender(&mut conn, limit, before, report, net::lost_server).await?.into()),
        Direction::Down(_) => {
            let (bytes, samples, points) = run_receiver(&mut conn, idle, report, net::lost_server).await?;
            let seconds = samples.last().map_or(0.0, |s| s.t);
            Ok(StreamReport {
                bytes,
                server_bytes: None,
                seconds,
                samples,
                received: None,
                received_samples: Vec::new(),
                points,
                received_points: Vec::new(),
            })
        }
        Direction::Both(_) => {
            let both = run_both(&mut conn, limit, before, idle, report, net::lost_server).await?;
            // Let our acknowledgement of the server's end of stream leave before we exit.
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok(StreamReport {
                bytes: both.sent,
                server_bytes: None,
                seconds: both.seconds,
                samples: both.sent_samples,
                received: Some(both.received),
                received_samples: both.received_samples,
                points: both.points.0,
                received_points: both.points.1,
            })
        }
    }
}

/// The streams' samples added up, interval by interval (as many as the shortest has): the
/// first stream's times and RTT, the others' goodput, bytes, windows and retransmissions
/// added.
fn sum_samples(reports: &[StreamReport]) -> Vec<Sample> {
    let n = reports.iter().map(|r| r.samples.len()).min().unwrap_or(0);
    let add = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => Some(a.saturating_add(b)),
        (a, b) => a.or(b),
    };
    (0..n)
        .map(|i| {
            let mut sum = reports[0].samples[i].clone();
            for r in &reports[1..] {
                let s = &r.samples[i];
                sum.goodput_bps += s.goodput_bps;
                sum.bytes = sum.bytes.saturating_add(s.bytes);
                sum.cwnd = add(sum.cwnd, s.cwnd);
                sum.retransmits = add(sum.retransmits, s.retransmits);
                sum.interval_retransmits = add(sum.interval_retransmits, s.interval_retransmits);
            }
            sum
        })
        .collect()
}

/// `lrp2p perf client`.
pub(crate) async fn client(args: &PerfClientArgs, ui: &Ui) -> Result<(), CliError> {
    let identity = crate::keyfile::load_or_generate(args.key.as_deref())?;
    if let Some(plot) = &args.plot {
        // Fail before measuring, not after; leave nothing behind until the plot is drawn.
        plot::check_writable(plot)?;
    }
    let trace = TraceFile::create(args.trace.as_deref())?;
    let sink = TraceFile::sink(trace.as_ref());
    let endpoint = net::bind_traced(net::any_addr_for(args.to), identity, args.key.is_none(), args.cc, sink)
        .await
        .map_err(|e| CliError::net("cannot bind a local socket", e))?;
    let limit = args.bytes.map_or(Limit::Duration(Duration::from_secs(args.duration)), Limit::Bytes);
    let interval = Duration::from_secs_f64(args.interval);
    let parallel = usize::from(args.parallel);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..parallel {
        let conn = endpoint
            .dial(args.to, args.peer, net::Service::Perf)
            .await
            .map_err(|e| CliError::net(format!("cannot connect to {}", args.to), e))?;
        let label = if parallel > 1 { format!("[{}]", i + 1) } else { String::new() };
        let direction = if args.bidir {
            Direction::Both(limit)
        } else if args.reverse {
            Direction::Down(limit)
        } else {
            Direction::Up
        };
        let task = one(conn, limit, direction, interval, label, *ui, args.plot.is_some());
        tasks.spawn(async move { (i, task.await) });
    }
    let mut reports: Vec<Option<StreamReport>> = (0..parallel).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (i, result) = joined.map_err(|e| CliError::Transfer(format!("a perf stream failed: {e}")))?;
        reports[i] = Some(result?);
    }
    let reports: Vec<StreamReport> = reports.into_iter().flatten().collect();
    let sum = if reports.len() == 1 {
        reports.into_iter().next().map(|r| (r, Vec::new()))
    } else {
        let total = StreamReport {
            bytes: reports.iter().map(|r| r.bytes).sum(),
            server_bytes: reports.iter().map(|r| r.server_bytes).sum(),
            seconds: reports.iter().map(|r| r.seconds).fold(0.0, f64::max),
            samples: sum_samples(&reports),
            received: reports.iter().map(|r| r.received).sum(),
            received_samples: Vec::new(),
            points: plot::sum(&reports.iter().map(|r| r.points.as_slice()).collect::<Vec<_>>()),
            received_points: plot::sum(
                &reports.iter().map(|r| r.received_points.as_slice()).collect::<Vec<_>>(),
            ),
        };
        Some((total, reports))
    };
    let Some((report, streams)) = sum else {
        return Err(CliError::Transfer("no perf stream ran".to_owned()));
    };
    if let Some(path) = &args.plot {
        let outcome = summary(if streams.is_empty() { "" } else { "all streams: " }, &report, args.reverse);
        plot::write(path, &plot_of(args, &report, outcome))?;
    }
    for (i, r) in streams.iter().enumerate() {
        ui.line(&summary(&format!("[{}] ", i + 1), r, args.reverse));
    }
    if !args.reverse && !args.bidir && report.server_bytes.is_none() {
        ui.note(
            "lrp2p: warning: the server's total did not arrive in time after the duration; \
             counting the bytes it acknowledged",
        );
    }
    let prefix = if streams.is_empty() { "" } else { "[SUM] " };
    let direction = if args.bidir {
        "both"
    } else if args.reverse {
        "down"
    } else {
        "up"
    };
    ui.result(
        &summary(prefix, &report, args.reverse),
        &json!({ "event": "done", "direction": direction, "report": report, "streams": streams }),
    );
    drop(endpoint);
    trace.map_or(Ok(()), TraceFile::finish)
}

/// One stream's (or the sum's) summary line.
fn summary(prefix: &str, r: &StreamReport, reverse: bool) -> String {
    let elapsed = Duration::from_secs_f64(r.seconds);
    let last = r.samples.last();
    if let Some(received) = r.received {
        return format!(
            "{prefix}sent {}, received {} in {:.2} s (--bidir): {} up, {} down, {} retransmissions",
            output::bytes(r.bytes),
            output::bytes(received),
            r.seconds,
            output::rate(r.bytes, elapsed),
            output::rate(received, elapsed),
            last.and_then(|s| s.retransmits).map_or_else(|| "-".to_owned(), |r| r.to_string()),
        );
    }
    if reverse {
        return format!(
            "{prefix}received {} in {:.2} s (-R: the server sent): {}",
            output::bytes(r.bytes),
            r.seconds,
            output::rate(r.bytes, elapsed)
        );
    }
    format!(
        "{prefix}sent {} in {:.2} s: {}, rtt {}, {} retransmissions",
        output::bytes(r.bytes),
        r.seconds,
        output::rate(r.bytes, elapsed),
        output::millis(last.and_then(|s| s.rtt_ms).map(|m| Duration::from_secs_f64(m / 1e3))),
        last.and_then(|s| s.retransmits).map_or_else(|| "-".to_owned(), |r| r.to_string()),
    )
}

/// The picture of a run: the peer in the title, the parameters and the summary under it.
fn plot_of<'a>(args: &PerfClientArgs, report: &'a StreamReport, outcome: String) -> Plot<'a> {
    let (direction, cc) = if args.bidir {
        ("both ways at once (--bidir)", format!("--cc {} both sides", args.cc))
    } else if args.reverse {
        ("the server sends (-R)", "the server's controller".to_owned())
    } else {
        ("the client sends", format!("--cc {}", args.cc))
    };
    let streams = match args.parallel {
        1 => "1 connection".to_owned(),
        n => format!("{n} connections (-P {n}, added up)"),
    };
    let limit = match args.bytes {
        Some(b) if args.parallel > 1 => format!("{} each", output::bytes(b)),
        Some(b) => output::bytes(b),
        None => format!("{} s", args.duration),
    };
    let title = format!("lrp2p perf with {}", args.to);
    let details = vec![format!("{direction} · {cc} · {streams} · {limit}"), outcome];
    let (series, note) = if args.bidir {
        let note = "--bidir: the window, RTT and retransmissions are those of what this side sent \
                    (the server's are in its --json report)";
        (
            vec![("sent", report.points.as_slice()), ("received", report.received_points.as_slice())],
            Some(note.to_owned()),
        )
    } else if args.reverse {
        let note = "-R: this side received; the window, RTT and retransmissions are the server's \
                    (its --json report has them)";
        (vec![("received", report.points.as_slice())], Some(note.to_owned()))
    } else {
        (vec![("acknowledged", report.points.as_slice())], None)
    };
    Plot { title, details, series, note }
}
