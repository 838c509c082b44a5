//! Serving many peers at once: the accept loop that `recv` and `perf server` share.
//!
//! - Each accepted peer is served in its own task, up to `--max-peers` at once. The limit is
//!   kept by the endpoint's acceptor ([`Gate`]): a peer arriving while every slot is taken is
//!   refused in the handshake (an authenticated REFUSED: its `send` or `perf client` fails
//!   with "refused", exit code 5), so the accept loop never waits for a slot and a full
//!   server costs a newcomer one round trip, not a timeout. The server reports refusals in
//!   one warning line per second at most.
//! - A slot is taken when the acceptor admits the peer and freed when its session ends: a
//!   peer that sends nothing for `--idle-secs` is dropped (the session's own deadline), and
//!   one whose connection ends before sending anything (never confirmed: a forged or replayed
//!   initiation) frees its slot as soon as the transport says so.
//! - `--count N` stops after N sessions completed successfully: new peers are refused from
//!   then on, and the sessions still running are let finish (each is bounded by its idle
//!   deadline).
//! - The endpoint's counters ([`stats`]) are printed every `--stats` seconds and once on
//!   exit, Ctrl-C included: the first SIGINT aborts the running sessions (a receiver's
//!   partial files are deleted), prints the summary and exits with code 130.

pub(crate) mod stats;

use std::future::Future;
use std::io::Write as _;
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

/// How the service runs (from [`crate::cli::ServiceArgs`] and the command's own flags).
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// Most peers served at once.
    pub(crate) max_peers: usize,
    /// Stop after this many successful sessions.
    pub(crate) count: Option<u64>,
    /// Print the counters this often.
    pub(crate) stats_every: Option<Duration>,
    /// Accept only these keys (empty: everyone).
    pub(crate) allow: Vec<PublicKey>,
}

/// How often refusals are reported, at most.
const REFUSAL_REPORT: Duration = Duration::from_secs(1);

/// Peers refused for one reason: how many, and the last one's key.
#[derive(Debug, Default)]
struct Refusals {
    /// Refused so far.
    count: AtomicU64,
    /// The latest refused peer.
    last: Mutex<Option<PublicKey>>,
}

impl Refusals {
    /// Counts a refusal of `peer`.
    fn add(&self, peer: &PublicKey) {
        self.count.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = self.last.lock() {
            *last = Some(*peer);
        }
    }

    /// The count and the latest peer.
    fn get(&self) -> (u64, Option<PublicKey>) {
        let last = self.last.lock().ok().and_then(|l| *l);
        (self.count.load(Ordering::Relaxed), last)
    }
}

/// What the endpoint's acceptor consults (with the socket's lock held, so it only touches
/// atomics): the allow list, and the slots.
#[derive(Debug)]
pub(crate) struct Gate {
    /// Most slots.
    max: usize,
    /// Accept only these keys (empty: everyone).
    allow: Vec<PublicKey>,
    /// Slots taken: peers admitted whose session has not ended (including those admitted but
    /// not yet handed to the accept loop).
    taken: AtomicUsize,
    /// Refuse everyone from now on (`--count` reached, or stopping).
    closing: AtomicBool,
    /// Refused because every slot was taken.
    busy: Refusals,
    /// Refused because not in the allow list.
    not_allowed: Refusals,
}

impl Gate {
    /// A gate of `max` slots for the peers in `allow` (everyone when empty).
    pub(crate) fn new(max: usize, allow: Vec<PublicKey>) -> Gate {
        Gate {
            max,
            allow,
            taken: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
            busy: Refusals::default(),
            not_allowed: Refusals::default(),
        }
    }

    /// Whether `peer` is in the allow list.
    fn allowed(&self, peer: &PublicKey) -> bool {
        self.allow.is_empty() || self.allow.contains(peer)
    }

    /// The acceptor's decision: admit `peer` and take a slot for it, or refuse it.
    pub(crate) fn admit(&self, peer: &PublicKey) -> bool {
        if !self.allowed(peer) {
            self.not_allowed.add(peer);
            return false;
        }
        if self.closing.load(Ordering::Relaxed) {
            return false;
        }
        let max = self.max;
        let took =
            self.taken.fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| (t < max).then_some(t + 1));
        if took.is_err() {
            self.busy.add(peer);
        }
        took.is_ok()
    }

    /// Frees a slot.
    fn release(&self) {
        // Saturating: a peer admitted before the acceptor was installed holds no slot.
        let _ = self.taken.fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| t.checked_sub(1));
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

/// One peer's slot, freed when dropped (its session ended, or was aborted).
struct Slot(Arc<Gate>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// How the sessions ended so far.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    /// Completed successfully (what `--count` counts).
    served: u64,
    /// Ended with an error.
    failed: u64,
    /// Dropped: silent past the idle deadline, or never confirmed.
    timed_out: u64,
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
    /// Refusals already reported: busy, not allowed.
    reported: (u64, u64),
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
        ];
        for (refusals, reported, reason, why) in kinds {
            let (count, last) = refusals.get();
            let new = count.saturating_sub(*reported);
            *reported = count;
            if new == 0 {
                continue;
            }
            let last = last.map_or_else(|| "?".to_owned(), |k| k.to_string());
            let text = if new == 1 {
                format!("refused peer {last}: {why}")
            } else {
                format!("refused {new} peers since the last report (the last {last}): {why}")
            };
            let value = json!({ "event": "refused", "reason": reason, "peers": new, "last_peer": last });
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
    let gate = Arc::new(Gate::new(config.max_peers, config.allow.clone()));
    {
        let gate = gate.clone();
        endpoint.set_acceptor(move |peer| gate.admit(peer));
    }
    let mut interrupt = Interrupt::new()?;
    let mut report =
        Reporter { endpoint, gate: &gate, ui, started: Instant::now(), reported: (0, 0), undecryptable: 0 };
    let mut stats_tick = config.stats_every.map(every);
    let mut refusal_tick = every(REFUSAL_REPORT);
    let mut sessions: JoinSet<(PublicKey, Result<(), CliError>)> = JoinSet::new();
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
                // The acceptor refused these already (and took no slot); never serve one.
                if !gate.allowed(&peer) {
                    drop(conn);
                    continue;
                }
                let slot = Slot(gate.clone());
                let active = gate.taken();
                ui.note(&format!("peer {peer} connected ({active} of {} slots taken)", gate.max));
                ui.json_only(&json!({ "event": "connected", "peer": peer.to_string(), "active": active }));
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
    // Aborted sessions drop their sinks, which delete partial files.
    sessions.abort_all();
    while let Some(joined) = sessions.join_next().await {
        tally.record(joined, ui);
    }
    report.refusals();
    report.stats(tally, "summary");
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> PublicKey {
        lrp2p_proto::StaticSecret::from_bytes([b; 32]).public_key()
    }

    #[test]
    fn the_gate_keeps_its_slots() {
        let gate = Arc::new(Gate::new(2, Vec::new()));
        assert!(gate.admit(&key(1)));
        assert!(gate.admit(&key(2)));
        assert!(!gate.admit(&key(3)), "full");
        assert_eq!(gate.busy.get(), (1, Some(key(3))));
        drop(Slot(gate.clone()));
        assert_eq!(gate.taken(), 1);
        assert!(gate.admit(&key(3)), "a slot was freed");
        gate.close();
        drop(Slot(gate.clone()));
        assert!(!gate.admit(&key(4)), "closing");
        // More releases than slots never wrap.
        for _ in 0..3 {
            drop(Slot(gate.clone()));
        }
        assert_eq!(gate.taken(), 0);
    }

    #[test]
    fn the_gate_applies_the_allow_list() {
        let gate = Gate::new(4, vec![key(1)]);
        assert!(gate.admit(&key(1)));
        assert!(!gate.admit(&key(2)));
        assert_eq!(gate.not_allowed.get(), (1, Some(key(2))));
        assert_eq!(gate.taken(), 1, "a refused peer takes no slot");
    }
}
