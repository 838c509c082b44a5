//! `keygen`, `recv`, `send` and `relay`: argument checks, then the network through
//! [`crate::net`], the protocol in [`crate::transfer`], and reports through [`Ui`].

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use lrp2p_proto::PublicKey;
use lrp2p_relay::{self as relay, Impairment};
use serde_json::json;

use crate::cli::{KeygenArgs, RecvArgs, RelayArgs, SendArgs};
use crate::error::CliError;
use crate::net::{self, Link as _};
use crate::output::{self, Ui};
use crate::service;
use crate::transfer::{self, DirSink, Received};

/// `lrp2p keygen`: a new key file (or its text on standard output); prints the public key.
pub(crate) fn keygen(args: &KeygenArgs, ui: &Ui) -> Result<(), CliError> {
    let secret = crate::keyfile::generate();
    let public = secret.public_key().to_string();
    match &args.out {
        Some(path) => {
            crate::keyfile::store(path, &secret, args.force)?;
            ui.result(&public, &json!({ "public_key": public, "key_file": path }));
        }
        None if ui.json => {
            let text = crate::keyfile::render(&secret);
            ui.json_only(&json!({ "public_key": public, "key_file_text": text }));
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(crate::keyfile::render(&secret).as_bytes())
                .and_then(|()| out.flush())
                .map_err(|source| CliError::Output { path: "standard output".into(), source })?;
        }
    }
    Ok(())
}

/// `lrp2p recv`: accepts peers and saves their files, up to `--max-peers` sessions at once
/// (see [`service`]). Ctrl-C stops it; sessions cut short leave no partial file.
pub(crate) async fn recv(args: &RecvArgs, ui: &Ui) -> Result<(), CliError> {
    let identity = crate::keyfile::load_or_generate(args.key.as_deref())?;
    // Check the output directory before going on the network.
    DirSink::new(&args.out)?;
    let endpoint = net::bind(args.listen, identity, args.key.is_none(), crate::cli::DEFAULT_CC)
        .await
        .map_err(|e| CliError::net(format!("cannot listen on {}", args.listen), e))?;
    let addr = endpoint.local_addr().map_err(|e| CliError::net("local address", e))?;
    let key = endpoint.public_key().to_string();
    let config = service::Config {
        max_peers: args.service.max_peers,
        count: args.count,
        stats_every: args.service.stats_every(),
        allow: args.allow.clone(),
    };
    let announce = || {
        ui.result(
            &format!("listening on {addr}, public key {key}"),
            &json!({ "event": "listening", "addr": addr, "public_key": key }),
        );
    };
    let (out, idle, ui_copy) = (args.out.clone(), Duration::from_secs_f64(args.idle_secs), *ui);
    service::run(&endpoint, &config, ui, announce, move |conn, peer| {
        let out = out.clone();
        async move { session(conn, peer, &out, idle, &ui_copy).await }
    })
    .await
}

/// Serves one peer: receives its files into `out` (each under a temporary name, renamed
/// once verified; a name taken already, or by a concurrent session, gets a number). Its
/// failure is returned for the service to report; it does not stop the receiver.
async fn session(
    mut conn: net::Conn,
    peer: PublicKey,
    out: &Path,
    idle: Duration,
    ui: &Ui,
) -> Result<(), CliError> {
    let peer_text = peer.to_string();
    let mut sink = DirSink::new(out)?;
    let report = |r: &Received| report_received(ui, r, &peer_text);
    transfer::serve(&mut conn, &mut sink, transfer::MAX_SIZE, idle, ui, report).await.map(|_| ())
}

/// Prints one received file's summary.
fn report_received(ui: &Ui, r: &Received, peer: &str) {
    let elapsed = Duration::from_secs_f64(r.seconds);
    let path = r.path.as_ref().map_or_else(|| r.name.clone(), |p| p.display().to_string());
    ui.result(
        &format!(
            "received {} ({}) from {peer} in {:.2} s, {}, hash ok → {path}",
            r.name,
            output::bytes(r.bytes),
            r.seconds,
            output::rate(r.bytes, elapsed)
        ),
        &json!({ "event": "received", "peer": peer, "file": r }),
    );
}

/// `lrp2p send`: sends every file over one connection, each confirmed by the receiver.
pub(crate) async fn send(args: &SendArgs, ui: &Ui) -> Result<(), CliError> {
    // Every file must be readable before anything goes on the wire.
    for path in &args.files {
        let meta =
            std::fs::metadata(path).map_err(|source| CliError::Input { path: path.clone(), source })?;
        if !meta.is_file() {
            return Err(CliError::Input {
                path: path.clone(),
                source: std::io::Error::other("not a regular file"),
            });
        }
    }
    let identity = crate::keyfile::load_or_generate(args.key.as_deref())?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    let endpoint = net::bind(net::any_addr_for(args.to), identity, args.key.is_none(), args.cc)
        .await
        .map_err(|e| CliError::net("cannot bind a local socket", e))?;
    let mut conn = tokio::time::timeout(timeout, endpoint.dial(args.to, args.peer))
        .await
        .map_err(|_| CliError::Timeout(format!("no answer from {} in {} s", args.to, timeout.as_secs())))?
        .map_err(|e| CliError::net(format!("cannot connect to {}", args.to), e))?;
    let started = Instant::now();
    let mut total = 0u64;
    for (i, path) in args.files.iter().enumerate() {
        let sent = transfer::send_file(&mut conn, path, ui, timeout).await?;
        total += sent.bytes;
        if let (0, None, Some(key)) = (i, args.peer, conn.peer_key()) {
            ui.note(&format!(
                "the receiver's key is {key}: pass `--peer {key}` to authenticate it and for 0-RTT"
            ));
        }
        let stats = conn.link_stats();
        ui.result(
            &format!(
                "sent {} ({}) in {:.2} s, {}, rtt {}, {} retransmissions, hash confirmed",
                sent.name,
                output::bytes(sent.bytes),
                sent.elapsed.as_secs_f64(),
                output::rate(sent.bytes, sent.elapsed),
                output::millis(stats.and_then(|s| s.rtt)),
                stats.map_or_else(|| "-".to_owned(), |s| s.retransmits.to_string()),
            ),
            &json!({
                "event": "sent",
                "file": sent,
                "rtt_ms": stats.and_then(|s| s.rtt).map(|d| d.as_secs_f64() * 1e3),
                "retransmits": stats.map(|s| s.retransmits),
            }),
        );
    }
    // Every file is confirmed already; wait for the FIN's acknowledgement so that the receiver
    // sees the end of the session before this process exits.
    let _ = net::finish(&mut conn).await;
    if args.files.len() > 1 {
        let elapsed = started.elapsed();
        ui.result(
            &format!("{} files, {} in {:.2} s, {}", args.files.len(), output::bytes(total), elapsed.as_secs_f64(), output::rate(total, elapsed)),
            &json!({ "event": "done", "files": args.files.len(), "bytes": total, "seconds": elapsed.as_secs_f64() }),
        );
    }
    Ok(())
}

/// `lrp2p relay`: runs until interrupted, then prints its counters.
pub(crate) async fn relay(args: &RelayArgs, ui: &Ui) -> Result<(), CliError> {
    let imp = Impairment {
        loss: args.loss,
        delay: Duration::from_millis(args.delay_ms),
        jitter: Duration::from_millis(args.jitter_ms),
        rate_bps: args.rate_mbit.map(|r| r * 1e6),
        reorder: args.reorder,
        ..Impairment::default()
    };
    let socket = tokio::net::UdpSocket::bind(args.listen)
        .await
        .map_err(|e| CliError::net(format!("cannot listen on {}", args.listen), e))?;
    let running = relay::spawn(socket, args.to, imp, args.seed).map_err(|e| CliError::net("relay", e))?;
    ui.result(
        &format!("relaying {} → {}", running.addr, args.to),
        &json!({ "event": "listening", "addr": running.addr, "to": args.to }),
    );
    tokio::signal::ctrl_c().await.map_err(|e| CliError::net("waiting for Ctrl-C", e))?;
    let c = running.counters.snapshot();
    ui.result(
        &format!(
            "forwarded {} datagrams, lost {}, queue drops {}, idle clients evicted {}",
            c.forwarded, c.lost, c.overflow, c.evicted
        ),
        &json!({ "event": "stopped", "counters": c }),
    );
    Ok(())
}
