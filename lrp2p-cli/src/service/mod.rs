//! Serving many peers at once: the accept loop that `recv` and `perf server` share.
//!
//! - Each accepted peer is served in its own task, up to `--max-peers` at once. The limit is
//!   kept by the endpoint's acceptor ([`Gate`]): a peer arriving while every slot is taken is
//!   refused in the handshake (an authenticated REFUSED: its `send` or `perf client` fails
//!   with "refused", exit code 5), so the accept loop never waits for a slot and a full
//!   server costs a newcomer one round trip, not a timeout. The server reports refusals in
//!   one warning line per second at most.
//! - A slot is taken only once the initiator has confirmed the handshake (it proved that it
//!   holds its keys and receives at its address, PROTOCOL.md §10.5), and freed when its
//!   session ends; a peer that sends nothing for `--idle-secs` is dropped (the session's own
//!   deadline). Until confirmed, an admitted connection waits without a slot (at most
//!   [`MAX_PENDING`] of them, above the endpoint's cookie threshold so that its cookies switch
//!   on first): a forged or replayed IK initiation, which never confirms and ends as
//!   unconfirmed at the handshake timeout, never takes a slot from a real peer. The acceptor
//!   refuses in the handshake only when every slot is held by a confirmed peer.
//! - Each source holds at most its share of the slots ([`share`]): a confirmed peer beyond it
//!   is closed at once, and so is one whose application protocol id names another service
//!   (`net::app`: code WRONG_SERVICE, the reason its client prints; logged here).
//! - `--count N` stops after N sessions completed successfully: new peers are refused from
//!   then on, and the sessions still running are let finish (each is bounded by its idle
//!   deadline).
//! - The endpoint's counters ([`stats`]) are printed every `--stats` seconds and once on
//!   exit, Ctrl-C included: the first SIGINT closes every connection with a CLOSE carrying
//!   the reason `interrupted` (so each peer says "the receiver closed the connection
//!   (interrupted)" at once, exit code 7), aborts the running sessions (a receiver's partial
//!   files are deleted), prints the summary and exits with code 130.

pub(crate) mod share;
pub(crate) mod stats;
pub(crate) mod trust;

use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lrp2p_proto::PublicKey;
use serde_json::json;
use tokio::task::{JoinError, JoinSet};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::error::CliError;
use crate::net;
use crate::output::Ui;
use stats::{PeerCounts, Snapshot};
use trust::{Decision, Trust};

/// How the service runs (from [`crate::cli::ServiceArgs`] and the command's own flags).
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// Most peers served at once.
    pub(crate) max_peers: usize,
    /// Stop after this many successful sessions.
    pub(crate) count: Option<u64>,
    /// Print the counters this often.
    pub(crate) stats_every: Option<Duration>,
    /// Whom to accept.
    pub(crate) trust: Arc<Trust>,
    /// The service offered: a session whose application protocol id names another is closed
    /// before it gets a slot (PROTOCOL.md §7.7; `net::app`).
    pub(crate) service: net::Service,
}

/// Most admitted connections waiting for their confirmation at once: above the endpoint's
/// cookie threshold (256 half-open connections, PROTOCOL.md §10.2), so that under a flood of
/// forged initiations the endpoint asks for cookies before the service refuses anyone.
pub(crate) const MAX_PENDING: usize = 512;

/// How long an admitted connection may wait for its confirmation: beyond the endpoint's
/// handshake timeout (10 s), which ends an unconfirmed connection first.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(15);

/// How often refusals are reported, at most.
const REFUSAL_REPORT: Duration = Duration::from_secs(1);

/// A refused peer: its key, and where its initiation came from.
type Refused = (PublicKey, Option<SocketAddr>);

/// Peers refused for one reason: how many, and the last one's key and address.
#[derive(Debug, Default)]
struct Refusals {
    /// Refused so far.
    count: AtomicU64,
    /// The latest refused peer.
    last: Mutex<Option<Refused>>,
}

impl Refusals {
    /// Counts a refusal of `peer` from `from`.
    fn add(&self, peer: &PublicKey, from: Option<SocketAddr>) {
        self.count.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = self.last.lock() {
            *last = Some((*peer, from));
        }
    }

    /// The count and the latest peer.
    fn get(&self) -> (u64, Option<Refused>) {
        let last = self.last.lock().ok().and_then(|l| *l);
        (self.count.load(Ordering::Relaxed), last)
    }
}

/// What the endpoint's acceptor consults (with the socket's lock held, so it only touches
/// atomics and short lists): the trust policy, and the slots.
#[derive(Debug)]
pub(crate) struct Gate {
    /// Most slots.
    max: usize,
    /// Whom to accept.
    trust: Arc<Trust>,
    /// Admitted by the acceptor and not yet confirmed (or not yet given a slot).
    pending: AtomicUsize,
    /// Slots taken: confirmed peers whose session has not ended.
    taken: AtomicUsize,
    /// Slots held per source.
    shares: share::Shares,
    /// Refuse everyone from now on (`--count` reached, or stopping).
    closing: AtomicBool,
    /// Refused because every slot was taken.
    busy: Refusals,
    /// Refused because not in the allow list.
    not_allowed: Refusals,
    /// Refused because never seen, with nobody to ask.
    unknown: Refusals,
    /// Closed because their source held its share of the slots.
    over_share: Refusals,
}

impl Gate {
    /// A gate of `max` slots for the peers `trust` accepts.
    pub(crate) fn new(max: usize, trust: Arc<Trust>) -> Gate {
        Gate {
            max,
            trust,
            pending: AtomicUsize::new(0),
            taken: AtomicUsize::new(0),
            shares: share::Shares::default(),
            closing: AtomicBool::new(false),
            busy: Refusals::default(),
            not_allowed: Refusals::default(),
            unknown: Refusals::default(),
            over_share: Refusals::default(),
        }
    }

    /// Whether `peer` may be served (perhaps after asking).
    fn allowed(&self, peer: &PublicKey) -> bool {
        matches!(self.trust.decide(peer), Decision::Admit | Decision::AdmitAndAsk)
    }

    /// The acceptor's decision: admit `peer`, whose initiation came from `from`, to wait for
    /// its confirmation, or refuse it (every slot held by a confirmed peer, or [`MAX_PENDING`]
    /// waiting already).
    pub(crate) fn admit(&self, peer: &PublicKey, from: Option<SocketAddr>) -> bool {
        match self.trust.decide(peer) {
            Decision::Admit | Decision::AdmitAndAsk => {}
            Decision::NotAllowed => {
                self.not_allowed.add(peer, from);
                return false;
            }
            Decision::Unknown => {
                self.unknown.add(peer, from);
                return false;
            }
        }
        if self.closing.load(Ordering::Relaxed) {
            return false;
        }
        let waiting = self
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| (p < MAX_PENDING).then_some(p + 1));
        if self.taken() >= self.max || waiting.is_err() {
            if waiting.is_ok() {
                self.confirmed_or_gone();
            }
            self.busy.add(peer, from);
            return false;
        }
        true
    }

    /// One admitted connection stopped waiting (confirmed or not).
    fn confirmed_or_gone(&self) {
        // Saturating: a peer admitted before the acceptor was installed was never counted.
        let _ = self.pending.fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| p.checked_sub(1));
    }

    /// A slot for the confirmed `peer` from `from`, if one is free and its source is within
    /// its share; the refusal is counted otherwise.
    fn take(self: &Arc<Self>, peer: &PublicKey, from: Option<SocketAddr>) -> Option<Slot> {
        let max = self.max;
        if self.closing.load(Ordering::Relaxed)
            || self
                .taken
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| (t < max).then_some(t + 1))
                .is_err()
        {
            self.busy.add(peer, from);
            return None;
        }
        let keys = from.map(share::source_keys);
        if let Some(keys) = &keys
            && !self.shares.try_add(keys, max)
        {
            self.release(None);
            self.over_share.add(peer, from);
            return None;
        }
        Some(Slot(self.clone(), keys))
    }

    /// Frees a slot and its source's share.
    fn release(&self, keys: Option<share::Keys>) {
        let _ = self.taken.fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| t.checked_sub(1));
        if let Some(keys) = &keys {
            self.shares.remove(keys);
        }
    }

    /// Admitted connections waiting for their confirmation now.
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// Slots taken now.
    pub(crate) fn taken(&self) -> usize {
        self.taken.load(Ordering::Acquire)
    }

    /// Refuses everyone from now on.
    fn close(&self) {
        self.closing.store(true, Ordering::Relaxed);
    }
}

/// One peer's slot (and its source's share), freed when dropped (its session ended, or was
/// aborted).
struct Slot(Arc<Gate>, Option<share::Keys>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.release(self.1);
    }
}

/// How the sessions ended so far.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    /// Completed successfully (what `--count` counts).
    served: u64,
    /// Ended with an error.
    failed: u64,
    /// Dropped: silent past the idle deadline.
    timed_out: u64,
    /// Accepted but never confirmed (they held no slot).
    unconfirmed: u64,
}

impl Tally {
    /// Records how one session ended, with a warning line for a failure.
    fn record(&mut self, joined: Result<(PublicKey, Result<(), CliError>), JoinError>, ui: &Ui) {
        match joined {
            Ok((_, Ok(()))) => self.served += 1,
            Ok((peer, Err(e))) => {
                let (verb, event) = if matches!(e, CliError::Timeout(_)) {
                    self.timed_out += 1;
                    ("dropped", "dropped")
                } else {
                    self.failed += 1;
                    ("failed", "failed")
                };
                warn(
                    ui,
                    &format!("peer {peer} {verb}: {e}"),
                    &json!({ "event": event, "peer": peer.to_string(), "error": e.to_string() }),
                );
            }
            // Aborted at Ctrl-C: not an outcome of the peer's.
            Err(e) if e.is_cancelled() => {}
            Err(e) => {
                self.failed += 1;
                warn(
                    ui,
                    &format!("a session failed: {e}"),
                    &json!({ "event": "failed", "error": e.to_string() }),
                );
            }
        }
    }
}

/// A warning: one line on standard error (always), and a JSON event with `--json`.
fn warn(ui: &Ui, text: &str, value: &serde_json::Value) {
    if !ui.quiet {
        let _ = writeln!(std::io::stderr(), "lrp2p: warning: {text}");
    }
    ui.json_only(value);
}

/// SIGINT (Ctrl-C), listened for from creation on, so that a signal sent as soon as the
/// service says it listens is not lost.
struct Interrupt {
    /// The signal stream (Unix).
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
    /// `ctrl_c` (elsewhere), until it fired.
    #[cfg(not(unix))]
    signal: Option<std::pin::Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>>,
}

impl Interrupt {
    /// Starts listening for SIGINT.
    fn new() -> Result<Interrupt, CliError> {
        #[cfg(unix)]
        let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            .map_err(|e| CliError::net("cannot listen for Ctrl-C", e))?;
        #[cfg(not(unix))]
        let signal = Some(Box::pin(tokio::signal::ctrl_c()) as _);
        Ok(Interrupt { signal })
    }

    /// Resolves at the next SIGINT (never, if signals cannot be received).
    async fn recv(&mut self) {
        #[cfg(unix)]
        if self.signal.recv().await.is_some() {
            return;
        }
        #[cfg(not(unix))]
        if let Some(signal) = &mut self.signal {
            let fired = signal.await.is_ok();
            self.signal = None;
            if fired {
                return;
            }
        }
        std::future::pending::<()>().await;
    }
}

/// The next tick of an optional interval (never, without one).
async fn tick(interval: &mut Option<Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// An interval of `every`, first ticking one period from now.
fn every(period: Duration) -> Interval {
    let mut i = tokio::time::interval_at(Instant::now() + period, period);
    i.set_missed_tick_behavior(MissedTickBehavior::Delay);
    i
}

/// Everything the loop reports from.
struct Reporter<'a> {
    /// The endpoint whose counters are printed.
    endpoint: &'a net::Endpoint,
    /// The slots and refusals.
    gate: &'a Gate,
    /// Where to print.
    ui: &'a Ui,
    /// When the service started.
    started: Instant,
    /// Refusals already reported: busy, not allowed, unknown.
    reported: (u64, u64, u64, u64),
    /// Initiations that failed Noise processing already reported.
    undecryptable: u64,
}

impl Reporter<'_> {
    /// The counters now.
    fn snapshot(&self, tally: Tally) -> Snapshot {
        let peers = PeerCounts {
            active: self.gate.taken(),
            max: self.gate.max,
            served: tally.served,
            failed: tally.failed,
            timed_out: tally.timed_out,
            refused_busy: self.gate.busy.get().0,
            refused_not_allowed: self.gate.not_allowed.get().0,
            refused_unknown: self.gate.unknown.get().0,
            pending: self.gate.pending(),
            unconfirmed: tally.unconfirmed,
            refused_share: self.gate.over_share.get().0,
        };
        Snapshot::new(self.endpoint.stats(), peers, self.started.elapsed())
    }

    /// Prints the counters: `event` is `stats` (periodic) or `summary` (on exit).
    fn stats(&self, tally: Tally, event: &str) {
        let snapshot = self.snapshot(tally);
        snapshot.print(self.ui, event);
    }

    /// Reports the refusals since the last report, one line per reason.
    fn refusals(&mut self) {
        let max = self.gate.max;
        let busy = format!("already serving {max} peers (--max-peers {max})");
        let kinds = [
            (&self.gate.busy, &mut self.reported.0, "busy", busy.as_str()),
            (&self.gate.not_allowed, &mut self.reported.1, "not_allowed", "not in --allow"),
            (&self.gate.unknown, &mut self.reported.2, "unknown", "unknown key; run with --yes or --allow"),
            (
                &self.gate.over_share,
                &mut self.reported.3,
                "share",
                "its address or network holds its share of the slots",
            ),
        ];
        for (refusals, reported, reason, why) in kinds {
            let (count, last) = refusals.get();
            let new = count.saturating_sub(*reported);
            *reported = count;
            if new == 0 {
                continue;
            }
            let key = last.map_or_else(|| "?".to_owned(), |(k, _)| k.to_string());
            let from = last.and_then(|(_, a)| a).map_or_else(|| "?".to_owned(), |a| a.to_string());
            // The unknown key is named again where the user would type it.
            let why = if reason == "unknown" { format!("{why} {key}") } else { why.to_owned() };
            let text = if new == 1 {
                format!("refused peer {key} from {from}: {why}")
            } else {
                format!("refused {new} peers since the last report (the last {key} from {from}): {why}")
            };
            let value = json!({
                "event": "refused", "reason": reason, "peers": new, "last_peer": key, "last_addr": from,
            });
            warn(self.ui, &text, &value);
        }
        // An IK initiation sealed for another key cannot be decrypted: count it, no more.
        let failures = self.endpoint.stats().handshake_failures;
        let new = failures.saturating_sub(self.undecryptable);
        if new > 0 {
            self.undecryptable = failures;
            let text = format!(
                "undecryptable initiations: {failures} ({new} new; a sender with a wrong --peer key?)"
            );
            warn(self.ui, &text, &json!({ "event": "undecryptable", "initiations": failures }));
        }
    }
}

/// Serves peers on `endpoint` with `session` until `--count` is reached, Ctrl-C, or the
/// socket fails; see the module documentation. `announce` prints that the service is ready
/// (called once the acceptor and the Ctrl-C handler are in place). The counters' summary is
/// printed on every way out.
pub(crate) async fn run<F, Fut>(
    endpoint: &net::Endpoint,
    config: &Config,
    ui: &Ui,
    announce: impl FnOnce(),
    session: F,
) -> Result<(), CliError>
where
    F: Fn(net::Conn, PublicKey) -> Fut,
    Fut: Future<Output = Result<(), CliError>> + Send + 'static,
{
    let gate = Arc::new(Gate::new(config.max_peers, config.trust.clone()));
    {
        let gate = gate.clone();
        endpoint.set_acceptor(move |peer, from| gate.admit(peer, Some(from)));
    }
    let mut interrupt = Interrupt::new()?;
    let mut report = Reporter {
        endpoint,
        gate: &gate,
        ui,
        started: Instant::now(),
        reported: (0, 0, 0, 0),
        undecryptable: 0,
    };
    let mut stats_tick = config.stats_every.map(every);
    let mut refusal_tick = every(REFUSAL_REPORT);
    let mut sessions: JoinSet<(PublicKey, Result<(), CliError>)> = JoinSet::new();
    // Admitted connections waiting for the initiator's confirmation, without a slot.
    let mut confirming: JoinSet<(net::Conn, PublicKey, bool)> = JoinSet::new();
    let mut tally = Tally::default();
    announce();
    let mut outcome = loop {
        if config.count.is_some_and(|c| tally.served >= c) {
            break Ok(());
        }
        tokio::select! {
            () = interrupt.recv() => break Err(CliError::Interrupted),
            Some(joined) = sessions.join_next(), if !sessions.is_empty() => tally.record(joined, ui),
            accepted = endpoint.accept() => {
                let (conn, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => break Err(CliError::net("accept", e)),
                };
                // The acceptor refused these already (and counted none); never serve one.
                if !gate.allowed(&peer) {
                    drop(conn);
                    continue;
                }
                confirming.spawn(async move {
                    let confirmed = tokio::time::timeout(CONFIRM_TIMEOUT, conn.confirmed()).await;
                    (conn, peer, matches!(confirmed, Ok(Ok(()))))
                });
            }
            Some(joined) = confirming.join_next(), if !confirming.is_empty() => {
                gate.confirmed_or_gone();
                let Ok((conn, peer, confirmed)) = joined else { continue };
                if !confirmed {
                    // Forged, replayed, or gone at once: it never held a slot. (JSON only: a
                    // flood of forged initiations would otherwise fill the terminal.)
                    tally.unconfirmed += 1;
                    ui.json_only(&json!({ "event": "unconfirmed", "peer": peer.to_string() }));
                    continue;
                }
                if let Some(why) = config.service.refusal(conn.app_protocol().as_ref()) {
                    // Another service's client (the wrong port): told why, never served.
                    conn.close_with(net::app_close::WRONG_SERVICE, &why);
                    let asked = conn.app_protocol().map(|id| id.to_string()).unwrap_or_default();
                    let from = conn.peer_addr().map(|a| a.to_string()).unwrap_or_default();
                    let what = conn.app_protocol().map(|id| config.service.refused_line(&id)).unwrap_or_default();
                    warn(ui, &format!("refused peer {peer} from {from}: {what}"), &json!({
                        "event": "wrong_service", "peer": peer.to_string(), "from": from, "app_protocol": asked,
                    }));
                    continue;
                }
                let Some(slot) = gate.take(&peer, conn.peer_addr()) else {
                    conn.close();
                    continue;
                };
                if config.trust.to_remember(&peer) {
                    // `--yes`: accepted, and known from now on.
                    let from = conn.peer_addr();
                    match config.trust.learn(&peer, from) {
                        Ok(path) => {
                            ui.note(&format!("new peer {peer}: remembered in {}", path.display()));
                            ui.json_only(&json!({ "event": "remembered", "peer": peer.to_string(), "file": path }));
                        }
                        Err(e) => ui.note(&format!("new peer {peer} accepted (not remembered: {e})")),
                    }
                }
                let active = gate.taken();
                ui.note(&format!("peer {peer} connected ({active} of {} slots taken)", gate.max));
                ui.json_only(&json!({
                    "event": "connected", "peer": peer.to_string(), "addr": conn.peer_addr(), "active": active,
                }));
                let serving = session(conn, peer);
                sessions.spawn(async move {
                    let result = serving.await;
                    drop(slot);
                    (peer, result)
                });
            }
            () = tick(&mut stats_tick) => report.stats(tally, "stats"),
            _ = refusal_tick.tick() => report.refusals(),
        }
    };
    gate.close();
    if outcome.is_ok() {
        // `--count` reached: let the sessions still running finish, unless interrupted.
        loop {
            tokio::select! {
                () = interrupt.recv() => {
                    outcome = Err(CliError::Interrupted);
                    break;
                }
                joined = sessions.join_next() => match joined {
                    Some(joined) => tally.record(joined, ui),
                    None => break,
                },
                () = tick(&mut stats_tick) => report.stats(tally, "stats"),
                _ = refusal_tick.tick() => report.refusals(),
            }
        }
    }
    if matches!(outcome, Err(CliError::Interrupted)) && !sessions.is_empty() {
        // Ctrl-C: every peer is told at once, with the reason, rather than left to time out.
        endpoint.close_all(net::app_close::INTERRUPTED, "interrupted");
        // Let the CLOSEs leave before the runtime stops.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Aborted sessions drop their sinks, which delete partial files.
    confirming.abort_all();
    sessions.abort_all();
    while let Some(joined) = sessions.join_next().await {
        tally.record(joined, ui);
    }
    report.refusals();
    report.stats(tally, "summary");
    outcome
}

#[cfg(test)]
mod tests;
