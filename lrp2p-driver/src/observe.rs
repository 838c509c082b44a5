//! `tracing` output: the core's trace events ([`lrp2p_proto::trace`]) as `tracing` events, in
//! a span per connection.
//!
//! [`Shared::new`](crate::Shared::new) installs [`TracingSink`] as the endpoint's trace sink
//! only when a `tracing` subscriber is in place (the global default, or the calling thread's):
//! with none, the core records nothing and pays one branch where an event could be. Targets:
//!
//! - `lrp2p` (info, debug): the socket opened (info) and stopped (debug); per connection, in its
//!   `connection` span (fields `cid`, `peer`, `role`, `pattern`): the handshake initiated,
//!   cookie replies, established (with `early_data`: accepted, refused, none), path changes
//!   (roaming), losses summarised (at most one event per smoothed RTT, and the totals at
//!   close), and the close with its reason and final counters.
//! - `lrp2p::packet` (trace): every datagram sent and received.
//! - `lrp2p::recovery` (trace): RTT samples and congestion-window updates.
//!
//! The user's own sink (`ConnectionConfig::trace`, e.g. a JSON-lines file) still gets every
//! event: this one forwards them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use lrp2p_proto::trace::{PacketKind, Role, TraceEvent, TraceSink, reason_name};
use tracing::{Level, Span, debug, info, trace};

/// Connections with a span at once; beyond, events go out without one (a connection that
/// ends without a `closed` event would otherwise hold its entry forever).
const MAX_SPANS: usize = 1 << 16;

/// Losses are summarised at most this often before the first RTT sample.
const LOSS_SUMMARY_FLOOR: Duration = Duration::from_millis(100);

/// Whether a `tracing` subscriber would hear anything from this thread.
pub(crate) fn subscriber_present() -> bool {
    tracing::dispatcher::get_default(|d| !d.is::<tracing::subscriber::NoSubscriber>())
}

/// The sink [`Shared::new`](crate::Shared::new) installs when a subscriber is present.
#[derive(Debug)]
pub(crate) struct TracingSink {
    conns: Mutex<HashMap<u64, Conn>>,
    /// The user's own sink, forwarded every event.
    user: Option<Arc<dyn TraceSink>>,
}

/// One connection's span and loss tally.
#[derive(Debug)]
struct Conn {
    span: Span,
    initiator: bool,
    initiated: bool,
    /// Lost since the last summary: segments, bytes.
    lost: (u64, u64),
    summarised: Instant,
    srtt: Option<Duration>,
}

impl TracingSink {
    pub(crate) fn new(user: Option<Arc<dyn TraceSink>>) -> Self {
        TracingSink { conns: Mutex::new(HashMap::new()), user }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Conn>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `cid` as the trace writes it.
struct Cid(u64);

impl std::fmt::Display for Cid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

fn started(now: Instant, cid: u64, role: Role, pattern: &'static str, remote: SocketAddr) -> Conn {
    let span = tracing::span!(
        target: "lrp2p",
        parent: None,
        Level::INFO,
        "connection",
        cid = %Cid(cid),
        peer = %remote,
        role = role.as_str(),
        pattern,
    );
    debug!(target: "lrp2p", parent: &span, "connection created");
    Conn {
        span,
        initiator: role == Role::Initiator,
        initiated: false,
        lost: (0, 0),
        summarised: now,
        srtt: None,
    }
}

impl Conn {
    /// Reports the losses tallied, if a smoothed RTT passed since the last report (or `force`).
    fn summarise_losses(&mut self, now: Instant, force: bool) {
        let every = self.srtt.unwrap_or(LOSS_SUMMARY_FLOOR).max(Duration::from_millis(1));
        if self.lost.0 == 0 || !force && now.saturating_duration_since(self.summarised) < every {
            return;
        }
        let (packets, bytes) = std::mem::take(&mut self.lost);
        let over_ms =
            u64::try_from(now.saturating_duration_since(self.summarised).as_millis()).unwrap_or(u64::MAX);
        debug!(target: "lrp2p", parent: &self.span, packets, bytes, over_ms, "packets lost");
        self.summarised = now;
    }
}

impl TraceSink for TracingSink {
    fn record(&self, now: Instant, connection: Option<u64>, event: &TraceEvent<'_>) {
        if let Some(user) = &self.user {
            user.record(now, connection, event);
        }
        let Some(cid) = connection else {
            if let TraceEvent::CookieSent { remote } = event {
                debug!(target: "lrp2p", %remote, "under load: cookie reply sent");
            }
            return;
        };
        // Per-packet events need no state: with their target off, not even the lock.
        let per_packet = matches!(
            event,
            TraceEvent::PacketSent { kind: PacketKind::Transport, .. } | TraceEvent::PacketReceived { .. }
        );
        if per_packet && !tracing::enabled!(target: "lrp2p::packet", Level::TRACE) {
            return;
        }
        let mut conns = self.lock();
        if let TraceEvent::Started { role, pattern, remote } = event {
            if conns.len() < MAX_SPANS {
                conns.insert(cid, started(now, cid, *role, pattern.as_str(), *remote));
            }
            return;
        }
        let closing = matches!(event, TraceEvent::Closed { .. });
        let conn = if closing { conns.remove(&cid) } else { None };
        let mut none = None;
        let conn = match conn {
            Some(c) => none.insert(c),
            None => match conns.get_mut(&cid) {
                Some(c) => c,
                None => return emit_without_span(event),
            },
        };
        let span = conn.span.clone();
        match event {
            TraceEvent::PacketSent { kind, counter, size, seq, retransmit, .. } => {
                if *kind == PacketKind::Handshake && conn.initiator && !conn.initiated {
                    conn.initiated = true;
                    info!(target: "lrp2p", parent: &span, "handshake initiated");
                }
                trace!(target: "lrp2p::packet", parent: &span, kind = kind.as_str(), ?counter, size, ?seq, retransmit, "sent");
            }
            TraceEvent::PacketReceived { kind, counter, size, seq, ack } => {
                trace!(target: "lrp2p::packet", parent: &span, kind = kind.as_str(), ?counter, size, ?seq, ?ack, "received");
            }
            TraceEvent::CookieReceived => {
                debug!(target: "lrp2p", parent: &span, "cookie reply received: initiation sent again with the cookie");
            }
            TraceEvent::Established { early_data } => {
                info!(target: "lrp2p", parent: &span, early_data = early_data.as_str(), "connection established");
            }
            TraceEvent::PathChanged { from, to } => {
                info!(target: "lrp2p", parent: &span, %from, %to, "peer moved to a new address");
            }
            TraceEvent::PacketLost { packets, bytes, .. } => {
                conn.lost.0 += packets;
                conn.lost.1 += bytes;
                conn.summarise_losses(now, false);
            }
            TraceEvent::Metrics { cwnd, bytes_in_flight, .. } => {
                trace!(target: "lrp2p::recovery", parent: &span, cwnd, bytes_in_flight, "congestion window");
                conn.summarise_losses(now, false);
            }
            TraceEvent::RttSample { latest, smoothed, .. } => {
                conn.srtt = Some(*smoothed);
                trace!(target: "lrp2p::recovery", parent: &span, ?latest, ?smoothed, "rtt sample");
            }
            TraceEvent::Closed { reason, stats } => {
                conn.summarise_losses(now, true);
                let (reason, code) = reason_name(reason);
                info!(
                    target: "lrp2p",
                    parent: &span,
                    reason,
                    ?code,
                    datagrams_sent = stats.datagrams_sent,
                    datagrams_received = stats.datagrams_received,
                    bytes_sent = stats.bytes_sent,
                    bytes_received = stats.bytes_received,
                    retransmits = stats.retransmits,
                    lost_bytes = stats.lost_packets_bytes,
                    timeouts = stats.timeouts,
                    srtt = ?stats.rtt,
                    "connection closed"
                );
            }
            _ => {}
        }
    }
}

/// A connection beyond [`MAX_SPANS`]: its steps without a span.
fn emit_without_span(event: &TraceEvent<'_>) {
    match event {
        TraceEvent::Established { early_data } => {
            info!(target: "lrp2p", early_data = early_data.as_str(), "connection established");
        }
        TraceEvent::Closed { reason, .. } => {
            info!(target: "lrp2p", reason = reason_name(reason).0, "connection closed");
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    use super::*;

    /// Counts events.
    #[derive(Default)]
    struct Counting(std::sync::atomic::AtomicUsize);

    impl Subscriber for Counting {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &Event<'_>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[test]
    fn installed_only_with_a_subscriber() {
        assert!(!subscriber_present(), "no subscriber: the core's trace stays off");
        let counting = Arc::new(Counting::default());
        tracing::subscriber::with_default(counting.clone(), || {
            assert!(subscriber_present());
            let sink = TracingSink::new(None);
            let now = Instant::now();
            let remote = SocketAddr::from(([127, 0, 0, 1], 9));
            let started = TraceEvent::Started {
                role: Role::Initiator,
                pattern: lrp2p_proto::trace::Pattern::Ik,
                remote,
            };
            sink.record(now, Some(7), &started);
            // Losses are summarised: ten in one round trip make no event until it passes.
            let lost = TraceEvent::PacketLost {
                first: 1,
                last: 1,
                packets: 1,
                bytes: 1400,
                trigger: lrp2p_proto::trace::LossTrigger::Rack,
            };
            let before = counting.0.load(std::sync::atomic::Ordering::SeqCst);
            for i in 0..10 {
                sink.record(now + Duration::from_millis(i), Some(7), &lost);
            }
            assert_eq!(counting.0.load(std::sync::atomic::Ordering::SeqCst), before);
            sink.record(now + LOSS_SUMMARY_FLOOR, Some(7), &lost);
            assert_eq!(counting.0.load(std::sync::atomic::Ordering::SeqCst), before + 1);
            assert_eq!(sink.lock()[&7].lost, (0, 0));
        });
    }
}
