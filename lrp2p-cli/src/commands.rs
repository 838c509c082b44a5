//! `keygen`, `recv`, `send` and `relay`: argument checks, then the network through
//! [`crate::net`], the protocol in [`crate::transfer`], and reports through [`Ui`].

use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lrp2p_proto::PublicKey;
use lrp2p_relay::{self as relay, Impairment};
use serde_json::json;

use crate::cli::{KeygenArgs, RecvArgs, RelayArgs, RendezvousArgs, SendArgs};
use crate::error::CliError;
use crate::net::{self, Link as _};
use crate::output::{self, Ui};
use crate::plot;
use crate::service::{self, trust::Trust};
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
    let ui = &Ui { stderr_only: args.stdout, ..*ui };
    // Check the output directory before going on the network.
    if !args.stdout {
        DirSink::new(&args.out)?;
    }
    let (fresh, memory) = (args.key.is_none(), Some(args.service.receive_memory));
    let endpoint = net::bind_with_memory(args.listen, identity, fresh, crate::cli::DEFAULT_CC, memory)
        .await
        .map_err(|e| CliError::net(format!("cannot listen on {}", args.listen), e))?;
    let addr = endpoint.local_addr().map_err(|e| CliError::net("local address", e))?;
    let key = endpoint.public_key().to_string();
    let trust = Arc::new(Trust::for_recv(args.allow.clone(), args.yes));
    let config = service::Config {
        max_peers: if args.stdout { 1 } else { args.service.max_peers },
        count: if args.stdout { Some(args.count.unwrap_or(1)) } else { args.count },
        stats_every: args.service.stats_every(),
        trust: trust.clone(),
        service: net::Service::Files,
    };
    let announce = || {
        ui.result(
            &format!("listening on {addr}, public key {key}"),
            &json!({ "event": "listening", "addr": addr, "public_key": key }),
        );
    };
    if let Some(rendezvous) = args.rendezvous {
        let seen = net::register(&endpoint, rendezvous, Duration::from_secs(10)).await?;
        ui.result(
            &format!(
                "registered with the rendezvous at {}: senders reach this receiver by its key \
                 alone (it sees this side at {seen})",
                rendezvous.addr
            ),
            &json!({ "event": "registered", "rendezvous": rendezvous.addr, "observed": seen }),
        );
    }
    let (out, idle, ui_copy) = (args.out.clone(), Duration::from_secs_f64(args.idle_secs), *ui);
    let to_stdout = args.stdout;
    let serving = service::run(&endpoint, &config, ui, announce, move |conn, peer| {
        let (out, trust) = (out.clone(), trust.clone());
        async move {
            // A key never seen, with a terminal: ask before reading anything of the peer's.
            if !trust.ask(&peer, conn.peer_addr()).await {
                conn.close_with(net::app_close::DECLINED, "it does not know our key");
                return Err(CliError::Refused("declined at the prompt".to_owned()));
            }
            session(conn, peer, (!to_stdout).then_some(out.as_path()), idle, &ui_copy).await
        }
    });
    match args.rendezvous {
        // Registered peers must stay able to find this receiver by key: when the link to the
        // rendezvous ends (it restarted, or forgot us), register again.
        Some(rendezvous) => {
            tokio::select! {
                result = serving => result,
                result = net::stay_registered(&endpoint, rendezvous, ui) => result,
            }
        }
        None => serving.await,
    }
}

/// Serves one peer: receives its files into `out` (each under a temporary name, renamed
/// once verified; a name taken already, or by a concurrent session, gets a number), or to
/// standard output without `out`. Its failure is returned for the service to report; it
/// does not stop the receiver.
async fn session(
    mut conn: net::Conn,
    peer: PublicKey,
    out: Option<&Path>,
    idle: Duration,
    ui: &Ui,
) -> Result<(), CliError> {
    let peer_text = peer.to_string();
    let report = |r: &Received| report_received(ui, r, &peer_text);
    match out {
        Some(out) => {
            let mut sink = DirSink::new(out)?;
            transfer::serve(&mut conn, &mut sink, transfer::MAX_SIZE, idle, ui, report).await.map(|_| ())
        }
        None => {
            let mut sink = transfer::StdoutSink::new();
            transfer::serve(&mut conn, &mut sink, transfer::MAX_SIZE, idle, ui, report).await.map(|_| ())
        }
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
    if args.files.iter().filter(|p| is_stdin(p)).count() > 1 {
        return Err(CliError::Input { path: "-".into(), source: std::io::Error::other("given twice") });
    }
    for path in args.files.iter().filter(|p| !is_stdin(p)) {
        let meta =
            std::fs::metadata(path).map_err(|source| CliError::Input { path: path.clone(), source })?;
        if !meta.is_file() && !meta.is_dir() {
            return Err(CliError::Input {
                path: path.clone(),
                source: std::io::Error::other("not a regular file or directory"),
            });
        }
        if meta.is_dir() {
            // Every name in the tree is checked before anything goes on the wire.
            transfer::tree::walk(path)?;
        }
    }
    if let Some(path) = &args.plot {
        plot::check_writable(path)?;
    }
    let identity = crate::keyfile::load_or_generate(args.key.as_deref())?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    let (_endpoint, mut conn, peer) = match (args.rendezvous, args.to, args.peer) {
        (Some(rendezvous), _, Some(peer)) => {
            let endpoint =
                net::bind(net::any_addr_for(rendezvous.addr), identity, args.key.is_none(), args.cc)
                    .await
                    .map_err(|e| CliError::net("cannot bind a local socket", e))?;
            let conn = net::by_key(&endpoint, rendezvous, peer, ui, timeout).await?;
            (endpoint, conn, Some(peer))
        }
        (_, Some(to), _) => {
            let endpoint = net::bind(net::any_addr_for(to), identity, args.key.is_none(), args.cc)
                .await
                .map_err(|e| CliError::net("cannot bind a local socket", e))?;
            let peer = known_key(to, args.peer, ui);
            let conn = tokio::time::timeout(timeout, endpoint.dial(to, peer, net::Service::Files))
                .await
                .map_err(|_| CliError::Timeout(net::NO_ANSWER.to_owned()))?
                .map_err(|e| net::lost_server(&format!("cannot connect to {to}"), e))?;
            (endpoint, conn, peer)
        }
        // clap requires one of them (and --peer with --rendezvous).
        _ => {
            return Err(CliError::Input {
                path: "--to".into(),
                source: std::io::Error::other("give --to HOST:PORT, or --peer KEY with --rendezvous"),
            });
        }
    };
    // With `--plot`, the connection's polls record the transfer.
    let recorder = args
        .plot
        .as_ref()
        .map(|_| Arc::new(Mutex::new(plot::Recorder::new(tokio::time::Instant::now(), true))));
    if let Some(recorder) = &recorder {
        conn = Box::new(plot::Recorded::new(conn, Arc::clone(recorder)));
    }
    // Ctrl-C closes the connection, so that the receiver learns it at once.
    let sending = send_all(args, peer, &mut conn, ui, timeout);
    let result = tokio::select! {
        result = sending => result,
        _ = tokio::signal::ctrl_c() => Err(CliError::Interrupted),
    };
    if matches!(result, Err(CliError::Interrupted)) {
        conn.close_with(net::app_close::INTERRUPTED, "interrupted");
        // Let the CLOSE leave before the runtime stops.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let total = result.map_err(|e| match e {
        CliError::Timeout(why) if why == net::NO_ANSWER && args.rendezvous.is_some() => {
            CliError::Timeout(net::NO_DIRECT_PATH.to_owned())
        }
        other => other,
    })?;
    if let (Some(path), Some(recorder)) = (&args.plot, recorder) {
        let stats = conn.link_stats();
        drop(conn);
        let mut recorder = Arc::try_unwrap(recorder)
            .map_err(|_| CliError::Transfer("the plot's recorder is still in use".to_owned()))?
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        recorder.finish(tokio::time::Instant::now(), plot::acknowledged(stats), stats);
        let points = recorder.into_points();
        plot::write(path, &send_plot(args, peer.is_some(), total, stats, &points))?;
    }
    Ok(())
}

/// The key to dial `to` with: `given`, else the one remembered for it in `known_peers`; a
/// given key that differs from the remembered one is warned about loudly and remembered.
fn known_key(to: std::net::SocketAddr, given: Option<PublicKey>, ui: &Ui) -> Option<PublicKey> {
    let remembered = crate::known_peers::lookup(to);
    if let (Some(given), Some(old)) = (given, remembered) {
        if given != old {
            ui.warn_always(&format!(
                "WARNING: the key of {to} CHANGED: remembered {old}, given {given}; if you did not expect \
                 this, someone may be impersonating the receiver. The new key is remembered."
            ));
            let _ = crate::known_peers::remember(to, &given);
        }
    }
    if given.is_none() && remembered.is_some() {
        ui.note(&format!("using the key remembered for {to} in known_peers (0-RTT)"));
    }
    given.or(remembered)
}

/// The picture of a `send`: what was sent where in the title, the outcome under it.
fn send_plot<'a>(
    args: &SendArgs,
    ik: bool,
    total: u64,
    stats: Option<lrp2p_proto::ConnectionStats>,
    points: &'a [plot::Point],
) -> plot::Plot<'a> {
    let what = match args.files.as_slice() {
        [one] if is_stdin(one) => format!("standard input as {}", args.name),
        [one] => {
            one.file_name().map_or_else(|| one.display().to_string(), |n| n.to_string_lossy().into_owned())
        }
        many => format!("{} files and folders", many.len()),
    };
    let handshake = if ik { "IK handshake (0-RTT)" } else { "XX handshake (the key learned)" };
    let title = match (args.to, args.peer) {
        (Some(to), _) => format!("lrp2p send to {to}"),
        (None, Some(peer)) => format!("lrp2p send to {peer} (by key, via rendezvous)"),
        (None, None) => "lrp2p send".to_owned(),
    };
    let seconds = points.last().map_or(0.0, |p| p.t);
    let details = vec![
        format!("{what} · {} · --cc {} · {handshake}", output::bytes(total), args.cc),
        format!(
            "confirmed in {seconds:.2} s: {}, rtt {}, {} retransmissions",
            output::rate(total, Duration::from_secs_f64(seconds)),
            output::millis(stats.and_then(|s| s.rtt)),
            stats.map_or_else(|| "-".to_owned(), |s| s.retransmits.to_string()),
        ),
    ];
    plot::Plot { title, details, series: vec![("acknowledged", points)], note: None }
}

/// Sends every file of `args` over `conn`, then finishes the stream.
async fn send_all(
    args: &SendArgs,
    peer: Option<PublicKey>,
    conn: &mut net::Conn,
    ui: &Ui,
    timeout: Duration,
) -> Result<u64, CliError> {
    let started = Instant::now();
    let mut total = 0u64;
    for (i, path) in args.files.iter().enumerate() {
        if path.is_dir() {
            total += send_tree(conn, path, ui, timeout).await?;
            continue;
        }
        let sent = if is_stdin(path) {
            let spooled = Spooled::from_stdin().await?;
            let file = tokio::fs::File::open(&spooled.0)
                .await
                .map_err(|source| CliError::Input { path: "standard input".into(), source })?;
            let size =
                file.metadata().await.map_err(|source| CliError::Input { path: "-".into(), source })?.len();
            transfer::check_name(&args.name)
                .map_err(|e| CliError::Input { path: "--name".into(), source: std::io::Error::other(e) })?;
            transfer::send_one(conn, &args.name, size, file, ui, timeout).await?
        } else {
            transfer::send_file(conn, path, ui, timeout, args.resume).await?
        };
        total += sent.bytes;
        if let (0, None, Some(key), Some(to)) = (i, peer, conn.peer_key(), args.to) {
            // Trust on first use: the next `send` to this address is IK, 0-RTT.
            match crate::known_peers::remember(to, &key) {
                Ok(path) => ui
                    .note(&format!("the receiver's key is {key}: remembered for {to} in {}", path.display())),
                Err(e) => ui.note(&format!(
                    "the receiver's key is {key} (not remembered: {e}); pass `--peer {key}` for 0-RTT"
                )),
            }
        }
        let stats = conn.link_stats();
        let path = conn.link_path();
        let (kind, remote) = match path {
            Some(p) if p.kind == lrp2p_proto::PathKind::Relayed => ("relayed", Some(p.remote)),
            Some(p) => ("direct", Some(p.remote)),
            None => ("-", None),
        };
        ui.result(
            &format!(
                "sent {} ({}) in {:.2} s, {}, rtt {}, {} retransmissions, hash confirmed, {kind}{}",
                sent.name,
                output::bytes(sent.bytes),
                sent.elapsed.as_secs_f64(),
                output::rate(sent.bytes, sent.elapsed),
                output::millis(stats.and_then(|s| s.rtt)),
                stats.map_or_else(|| "-".to_owned(), |s| s.retransmits.to_string()),
                remote.map_or_else(String::new, |r| format!(" ({r})")),
            ),
            &json!({
                "event": "sent",
                "file": sent,
                "rtt_ms": stats.and_then(|s| s.rtt).map(|d| d.as_secs_f64() * 1e3),
                "retransmits": stats.map(|s| s.retransmits),
                "path": kind,
                "remote": remote.map(|r| r.to_string()),
                "path_changes": stats.map(|s| s.migrations),
            }),
        );
    }
    // Every file is confirmed already; wait for the FIN's acknowledgement so that the receiver
    // sees the end of the session before this process exits.
    let _ = net::finish(conn).await;
    if args.files.len() > 1 {
        let elapsed = started.elapsed();
        ui.result(
            &format!("{} files, {} in {:.2} s, {}", args.files.len(), output::bytes(total), elapsed.as_secs_f64(), output::rate(total, elapsed)),
            &json!({ "event": "done", "files": args.files.len(), "bytes": total, "seconds": elapsed.as_secs_f64() }),
        );
    }
    Ok(total)
}

/// Sends the tree at `root` (see [`transfer::tree`]); returns the bytes of its files.
async fn send_tree(conn: &mut net::Conn, root: &Path, ui: &Ui, timeout: Duration) -> Result<u64, CliError> {
    let (entries, skipped) = transfer::tree::walk(root)?;
    if skipped > 0 {
        ui.note(&format!(
            "lrp2p: warning: {skipped} symbolic links or special files in {} not sent",
            root.display()
        ));
    }
    let (mut bytes, mut files) = (0, 0);
    for entry in &entries {
        let input = |source| CliError::Input { path: entry.path.clone(), source };
        let sent = if entry.dir {
            let header = transfer::Header { name: entry.rel.clone(), size: 0, dir: true, resume: None };
            transfer::send_entry(conn, header, tokio::io::empty(), ui, timeout).await?
        } else {
            let file = tokio::fs::File::open(&entry.path).await.map_err(input)?;
            let size = file.metadata().await.map_err(input)?.len();
            let header = transfer::Header { name: entry.rel.clone(), size, dir: false, resume: None };
            files += 1;
            transfer::send_entry(conn, header, file, ui, timeout).await?
        };
        bytes += sent.bytes;
    }
    ui.result(
        &format!("sent {} ({files} files, {} entries, {}), hashes confirmed", root.display(), entries.len(), output::bytes(bytes)),
        &json!({ "event": "sent_tree", "root": root, "files": files, "entries": entries.len(), "bytes": bytes }),
    );
    Ok(bytes)
}

/// Whether `path` is `-`, standard input.
fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Standard input stored in a private temporary file (the header needs the size first),
/// removed when dropped.
struct Spooled(std::path::PathBuf);

impl Spooled {
    /// Reads all of standard input into a new temporary file.
    async fn from_stdin() -> Result<Spooled, CliError> {
        use rand_core::RngCore as _;
        let path = std::env::temp_dir().join(format!(".lrp2p-stdin-{:016x}", rand_core::OsRng.next_u64()));
        let output = |source| CliError::Output { path: path.clone(), source };
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options.open(&path).await.map_err(output)?;
        let spooled = Spooled(path.clone());
        tokio::io::copy(&mut tokio::io::stdin(), &mut file).await.map_err(output)?;
        tokio::io::AsyncWriteExt::flush(&mut file).await.map_err(output)?;
        Ok(spooled)
    }
}

impl Drop for Spooled {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `lrp2p rendezvous`: serves registrations and introductions (PROTOCOL.md §13.7) until
/// Ctrl-C, printing its key first (peers need it) and its counters every `--stats-secs`.
pub(crate) async fn rendezvous(args: &RendezvousArgs, ui: &Ui) -> Result<(), CliError> {
    let identity = crate::keyfile::load_or_generate(args.key.as_deref())?;
    let endpoint = net::bind(args.listen, identity, args.key.is_none(), crate::cli::DEFAULT_CC)
        .await
        .map_err(|e| CliError::net(format!("cannot listen on {}", args.listen), e))?;
    endpoint.serve_rendezvous(args.relay_mbit);
    // Nothing but rendezvous sessions is served here.
    endpoint.set_acceptor(|_, _| false);
    let addr = endpoint.local_addr().map_err(|e| CliError::net("local address", e))?;
    let key = endpoint.public_key().to_string();
    ui.result(
        &format!("rendezvous on {addr}, public key {key} (peers use --rendezvous {addr}={key})"),
        &json!({ "event": "listening", "addr": addr, "public_key": key }),
    );
    let every = Duration::from_secs(args.stats_secs.max(1));
    let report = |stats: lrp2p_tokio::RendezvousStats| {
        let relay = stats.relay;
        let dropped = relay.rate_limited + relay.queue_full + relay.unknown_destination;
        ui.result(
            &format!(
                "{} peers registered, {} introductions; relayed {} datagrams ({}), {dropped} dropped \
                 ({} over a peer's rate, {} queue full, {} to no registered peer)",
                stats.registered,
                stats.introductions,
                relay.relayed,
                crate::output::bytes(relay.relayed_bytes),
                relay.rate_limited,
                relay.queue_full,
                relay.unknown_destination,
            ),
            &json!({
                "event": "stats",
                "registered": stats.registered,
                "introductions": stats.introductions,
                "relayed": relay.relayed,
                "relayed_bytes": relay.relayed_bytes,
                "rate_limited": relay.rate_limited,
                "queue_full": relay.queue_full,
                "unknown_destination": relay.unknown_destination,
            }),
        );
    };
    loop {
        tokio::select! {
            () = tokio::time::sleep(every), if args.stats_secs > 0 => {
                if let Some(stats) = endpoint.rendezvous_stats() {
                    report(stats);
                }
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    if let Some(stats) = endpoint.rendezvous_stats() {
        report(stats);
    }
    // Every registered peer learns at once that its registration is gone (and registers
    // again when a rendezvous is back), instead of at its link's idle timeout.
    endpoint.close_all(net::app_close::INTERRUPTED, "the rendezvous stopped");
    tokio::time::sleep(Duration::from_millis(200)).await;
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
