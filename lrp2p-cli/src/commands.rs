//! `keygen`, `recv`, `send` and `relay`: argument checks, then the network through
//! [`crate::net`], the protocol in [`crate::transfer`], and reports through [`Ui`].

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lrp2p_proto::PublicKey;
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::cli::{KeygenArgs, RecvArgs, RelayArgs, SendArgs};
use crate::error::CliError;
use crate::net::{self, Link as _};
use crate::output::{self, Ui};
use crate::relay::{self, Impairment};
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

/// Most sessions `recv` serves at once; further peers wait to be accepted.
const MAX_SESSIONS: usize = 16;

/// `lrp2p recv`: accepts peers and saves their files, several sessions at once. Ctrl-C stops
/// it; sessions cut short leave no partial file.
pub(crate) async fn recv(args: &RecvArgs, ui: &Ui) -> Result<(), CliError> {
    let identity = crate::keyfile::load_or_generate(args.key.as_deref())?;
    // Check the output directory before going on the network.
    DirSink::new(&args.out)?;
    let endpoint = net::bind(args.listen, identity, args.key.is_none())
        .await
        .map_err(|e| CliError::net(format!("cannot listen on {}", args.listen), e))?;
    if !args.allow.is_empty() {
        endpoint.allow_only(args.allow.clone());
    }
    let addr = endpoint.local_addr().map_err(|e| CliError::net("local address", e))?;
    let key = endpoint.public_key().to_string();
    ui.result(
        &format!("listening on {addr}, public key {key}"),
        &json!({ "event": "listening", "addr": addr, "public_key": key }),
    );
    let slots = Arc::new(Semaphore::new(MAX_SESSIONS));
    let mut sessions = JoinSet::new();
    let mut accepted = 0u64;
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    let outcome = loop {
        if args.count.is_some_and(|c| accepted >= c) {
            break Ok(());
        }
        tokio::select! {
            _ = &mut interrupt => break Err(CliError::Interrupted),
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            next = accept_in_slot(&endpoint, &slots) => {
                let (conn, peer, slot) = match next {
                    Ok(x) => x,
                    Err(e) => break Err(e),
                };
                accepted += 1;
                // The transport refuses these already; never serve one regardless.
                if !args.allow.is_empty() && !args.allow.contains(&peer) {
                    ui.note(&format!("lrp2p: warning: refused peer {peer}"));
                    continue;
                }
                let (out, ui, idle) = (args.out.clone(), *ui, Duration::from_secs_f64(args.idle_secs));
                sessions.spawn(async move {
                    session(conn, peer, &out, idle, &ui).await;
                    drop(slot);
                });
            }
        }
    };
    if outcome.is_ok() {
        // Let the last sessions finish, unless interrupted.
        tokio::select! {
            _ = &mut interrupt => sessions.abort_all(),
            () = async { while sessions.join_next().await.is_some() {} } => {}
        }
    } else {
        sessions.abort_all();
    }
    // Aborted sessions drop their sinks, which delete partial files.
    while sessions.join_next().await.is_some() {}
    outcome
}

/// Waits for a free session slot, then for a peer.
async fn accept_in_slot(
    endpoint: &net::Endpoint,
    slots: &Arc<Semaphore>,
) -> Result<(net::Conn, PublicKey, OwnedSemaphorePermit), CliError> {
    let slot = slots.clone().acquire_owned().await.map_err(|e| CliError::Transfer(e.to_string()))?;
    let (conn, peer) = endpoint.accept().await.map_err(|e| CliError::net("accept", e))?;
    Ok((conn, peer, slot))
}

/// Serves one peer; its failure is reported and does not stop the receiver.
async fn session(mut conn: net::Conn, peer: PublicKey, out: &Path, idle: Duration, ui: &Ui) {
    let peer_text = peer.to_string();
    let result = match DirSink::new(out) {
        Ok(mut sink) => {
            let report = |r: &Received| report_received(ui, r, &peer_text);
            transfer::serve(&mut conn, &mut sink, transfer::MAX_SIZE, idle, ui, report).await.map(|_| ())
        }
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        let _ = writeln!(std::io::stderr(), "lrp2p: warning: peer {peer_text}: {e}");
        ui.json_only(&json!({ "event": "failed", "peer": peer_text, "error": e.to_string() }));
    }
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
    let endpoint = net::bind(net::any_addr_for(args.to), identity, args.key.is_none())
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
