//! What a connection tells its trace sink ([`ConnectionConfig::trace`]), if it has one: the
//! helpers that build each [`TraceEvent`] from the connection's state. Every one starts with
//! the one branch on the sink, so a connection without a trace pays nothing else.
//!
//! [`ConnectionConfig::trace`]: crate::ConnectionConfig::trace

use std::time::{Duration, Instant};

use super::handshake::Handshake;
use super::{CloseReason, Connection};
use crate::arq::truncate;
use crate::trace::{EarlyData, LossTrigger, PacketKind, Pattern, Role, TraceEvent};

impl Connection {
    /// Records `event`, if tracing.
    #[inline]
    pub(super) fn trace(&self, now: Instant, event: impl FnOnce() -> TraceEvent<'static>) {
        if let Some(sink) = &self.config.trace {
            sink.record(now, Some(self.local_id.0), &event());
        }
    }

    /// Whether a trace sink listens (to skip work done only for it).
    #[inline]
    pub(super) fn tracing(&self) -> bool {
        self.config.trace.is_some()
    }

    /// The connection was created.
    pub(super) fn trace_started(&self, now: Instant) {
        self.trace(now, || {
            let pattern = match &self.handshake {
                Handshake::Start { peer: Some(_), .. }
                | Handshake::IkSent { .. }
                | Handshake::IkReceived { .. } => Pattern::Ik,
                _ => Pattern::Xx,
            };
            let role = if self.initiator { Role::Initiator } else { Role::Responder };
            TraceEvent::Started { role, pattern, remote: self.path.remote }
        });
    }

    /// The handshake completed.
    #[inline]
    pub(super) fn trace_established(&self, now: Instant, early_data: EarlyData) {
        self.trace(now, || TraceEvent::Established { early_data });
    }

    /// The connection ended, telling the application `reason`.
    pub(super) fn trace_closed(&self, now: Instant, reason: &CloseReason) {
        if let Some(sink) = &self.config.trace {
            let stats = self.stats();
            sink.record(now, Some(self.local_id.0), &TraceEvent::Closed { reason, stats: &stats });
        }
    }

    /// A datagram of `size` bytes left; `data`: the DATA segment it carries (sequence number,
    /// retransmission).
    #[inline]
    pub(super) fn trace_sent(
        &self,
        now: Instant,
        kind: PacketKind,
        size: usize,
        data: Option<(u64, bool)>,
        ack: bool,
    ) {
        self.trace(now, || TraceEvent::PacketSent {
            kind,
            counter: match kind {
                PacketKind::Transport => {
                    self.session.as_ref().map(|s| s.next_send_counter().saturating_sub(1))
                }
                _ => None,
            },
            size,
            seq: data.map(|(seq, _)| truncate(seq).0),
            retransmit: data.is_some_and(|(_, rtx)| rtx),
            ack,
            bytes_in_flight: self.send.bytes_in_flight(),
        });
    }

    /// Segments `first..=last` were declared lost.
    #[inline]
    pub(super) fn trace_lost(
        &self,
        now: Instant,
        first: u64,
        last: u64,
        packets: u64,
        bytes: u64,
        trigger: LossTrigger,
    ) {
        self.trace(now, || TraceEvent::PacketLost {
            first: truncate(first).0,
            last: truncate(last).0,
            packets,
            bytes,
            trigger,
        });
    }

    /// The congestion state after an ACK or a timeout.
    #[inline]
    pub(super) fn trace_metrics(&self, now: Instant) {
        self.trace(now, || {
            let ssthresh = self.cc.ssthresh();
            TraceEvent::Metrics {
                cwnd: self.cc.window(),
                bytes_in_flight: self.send.bytes_in_flight(),
                ssthresh: (ssthresh != u64::MAX).then_some(ssthresh),
                pacing_rate: self.cc.pacing_rate(),
            }
        });
    }

    /// An RTT sample was taken.
    #[inline]
    pub(super) fn trace_rtt(&self, now: Instant, ack_delay: Duration) {
        self.trace(now, || TraceEvent::RttSample {
            latest: self.rtt.latest().unwrap_or_default(),
            smoothed: self.rtt.smoothed().unwrap_or_default(),
            variance: self.rtt.rttvar().unwrap_or_default(),
            min: self.rtt.min_rtt().unwrap_or_default(),
            ack_delay,
        });
    }
}
