//! `lrp2p perf server|client`: an iperf-like measurement over one or more connections
//! (`-P N`). On each, one side sends as fast as the connection allows for `--duration` or
//! `--bytes`, then half-closes; the other counts and answers with the total (u64, big-endian),
//! so both agree on what arrived ([`stream`]). The client sends, or with `-R` the server does.
//! Every `-i` seconds the sender prints goodput, RTT, congestion window and the interval's
//! retransmissions; the receiver only what a receiver knows (goodput, bytes); `--plot` draws
//! the client's, every 100 ms ([`crate::plot`]).
//!
//! The client connects with the application protocol id `lrp2p-perf` (PROTOCOL.md §7.7), so
//! that `recv` closes a perf session, and a perf server a file transfer (`lrp2p send` to the
//! wrong port), before serving it, each saying so (`net::app`). The stream starts with a hello,
//! which carries the test's parameters and tells the services apart for a client without an id
//! (an older tool); a sender told [`Status::WrongService`](crate::transfer::Status) prints why:
//!
//! ```text
//! version 1: "LRPP" 0x01                       the client sends until it half-closes
//! version 2: "LRPP" 0x02 | direction (1) | limit kind (1) | limit (u64 BE)
//!            direction 0: the client sends (the limit is informative)
//!            direction 1: the server sends (-R), for `limit` bytes (kind 0) or
//!                         milliseconds (kind 1, at most MAX_REVERSE)
//!            direction 2: both send at once (--bidir), each for `limit` (see [`both`])
//! ```
//!
//! A server refuses other versions, directions and kinds ("another perf protocol version").

mod both;
mod client;
mod meter;
mod stream;
#[cfg(test)]
mod tests;

use std::time::Duration;

use lrp2p_proto::PublicKey;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

pub(crate) use client::client;
use stream::{Limit, Reporting, run_receiver, run_sender};

use crate::cli::PerfServerArgs;
use crate::error::CliError;
use crate::net::{self, Link};
use crate::output::{self, Ui};
use crate::service;
use crate::trace_file::TraceFile;

/// First bytes of a version 1 perf client's stream: magic `LRPP`, version 1.
pub(crate) const HELLO: [u8; 5] = *b"LRPP\x01";

/// The version of the hello with a direction and a limit.
const VERSION_2: u8 = 2;

/// The longest test a client may ask the server to send for (`-R --duration`).
const MAX_REVERSE: Duration = Duration::from_secs(24 * 3600);

/// Who sends on one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// The client sends, the server counts.
    Up,
    /// The server sends this much, the client counts (`-R`).
    Down(Limit),
    /// Both send this much at once (`--bidir`).
    Both(Limit),
}

/// The version 2 hello for `direction` (`limit` is what the client sends with `Up`).
pub(crate) fn hello(direction: Direction, limit: Limit) -> Vec<u8> {
    let (dir, limit) = match direction {
        Direction::Up => (0, limit),
        Direction::Down(limit) => (1, limit),
        Direction::Both(limit) => (2, limit),
    };
    let (kind, value) = match limit {
        Limit::Bytes(n) => (0u8, n),
        Limit::Duration(d) => (1u8, u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
    };
    let mut out = HELLO[..4].to_vec();
    out.extend_from_slice(&[VERSION_2, dir, kind]);
    out.extend_from_slice(&value.to_be_bytes());
    out
}

/// Reads the client's [`HELLO`]; a file transfer or anything else is refused, and a file
/// sender is told [`Status::WrongService`](crate::transfer::Status) so that it says why.
async fn check_hello<L: Link>(link: &mut L, idle: Duration) -> Result<Direction, CliError> {
    let silent = || CliError::Timeout(format!("the client sent nothing for {} s", idle.as_secs_f64()));
    let lost = |e| net::lost_peer("connection lost before the perf hello", e);
    let mut hello = [0u8; HELLO.len()];
    match tokio::time::timeout(idle, link.read_exact(&mut hello)).await {
        Err(_) => return Err(silent()),
        Ok(read) => read.map_err(lost)?,
    };
    if hello == HELLO {
        return Ok(Direction::Up);
    }
    if hello[..4] == HELLO[..4] && hello[4] == VERSION_2 {
        let mut rest = [0u8; 10];
        match tokio::time::timeout(idle, link.read_exact(&mut rest)).await {
            Err(_) => return Err(silent()),
            Ok(read) => read.map_err(lost)?,
        };
        let value = u64::from_be_bytes(rest[2..].try_into().unwrap_or_default());
        let limit = match rest[1] {
            0 => Some(Limit::Bytes(value)),
            1 => Some(Limit::Duration(Duration::from_millis(value).min(MAX_REVERSE))),
            _ => None,
        };
        match (rest[0], limit) {
            (0, Some(_)) => return Ok(Direction::Up),
            (1, Some(limit)) => return Ok(Direction::Down(limit)),
            (2, Some(limit)) => return Ok(Direction::Both(limit)),
            _ => {}
        }
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
    let (fresh, memory) = (args.key.is_none(), Some(args.service.receive_memory));
    let trace = TraceFile::create(args.trace.as_deref())?;
    let sink = TraceFile::sink(trace.as_ref());
    let endpoint = net::bind_with(args.listen, identity, fresh, args.cc, memory, sink)
        .await
        .map_err(|e| CliError::net(format!("cannot listen on {}", args.listen), e))?;
    let addr = endpoint.local_addr().map_err(|e| CliError::net("local address", e))?;
    let key = endpoint.public_key().to_string();
    let config = service::Config {
        max_peers: args.service.max_peers,
        count: args.count,
        stats_every: args.service.stats_every(),
        trust: std::sync::Arc::new(crate::service::trust::Trust::everyone()),
        service: net::Service::Perf,
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
        let report = Reporting { interval, label: &label, ui: &ui, plot: false };
        match check_hello(&mut conn, idle).await? {
            Direction::Up => {
                let (total, samples, _) = run_receiver(&mut conn, idle, report, net::lost_peer).await?;
                let secs = samples.last().map_or(0.0, |s| s.t);
                ui.result(
                    &format!(
                        "received {} from {peer} in {secs:.2} s: {}",
                        output::bytes(total),
                        output::rate(total, Duration::from_secs_f64(secs))
                    ),
                    &json!({
                        "event": "done", "peer": peer.to_string(), "direction": "up",
                        "bytes": total, "seconds": secs, "samples": samples,
                    }),
                );
            }
            Direction::Down(limit) => {
                let sent = run_sender(&mut conn, limit, 0, report, net::lost_peer).await?;
                let retransmits = sent.samples.last().and_then(|s| s.retransmits);
                ui.result(
                    &format!(
                        "sent {} to {peer} in {:.2} s (-R): {}, {} retransmissions",
                        output::bytes(sent.bytes),
                        sent.seconds,
                        output::rate(sent.bytes, Duration::from_secs_f64(sent.seconds)),
                        retransmits.map_or_else(|| "-".to_owned(), |r| r.to_string()),
                    ),
                    &json!({ "event": "done", "peer": peer.to_string(), "direction": "down", "report": sent }),
                );
            }
            Direction::Both(limit) => {
                let both = both::run_both(&mut conn, limit, 0, idle, report, net::lost_peer).await?;
                ui.result(
                    &format!(
                        "sent {} to and received {} from {peer} in {:.2} s (--bidir): {} and {}",
                        output::bytes(both.sent),
                        output::bytes(both.received),
                        both.seconds,
                        output::rate(both.sent, Duration::from_secs_f64(both.seconds)),
                        output::rate(both.received, Duration::from_secs_f64(both.seconds)),
                    ),
                    &json!({
                        "event": "done", "peer": peer.to_string(), "direction": "both",
                        "sent": both.sent, "received": both.received, "seconds": both.seconds,
                        "sent_samples": both.sent_samples, "received_samples": both.received_samples,
                    }),
                );
            }
        }
        Ok(())
    })
    .await?;
    drop(endpoint);
    trace.map_or(Ok(()), TraceFile::finish)
}

/// A peer's key shortened to label its per-second lines (several run at once).
fn short(peer: &PublicKey) -> String {
    peer.to_string().chars().take(8).collect()
}
