//! A structured, qlog-like event trace of the core, sans-IO: what each connection sent,
//! received and lost, its congestion window and bytes in flight, its RTT samples and the steps
//! of its life (handshake, path changes, close), each stamped with the `now` the core was
//! given (it never reads a clock).
//!
//! Off by default: [`ConnectionConfig::trace`](crate::ConnectionConfig::trace) is `None` and
//! each place that could record costs one branch on it. Set it to a [`TraceSink`] to receive
//! every [`TraceEvent`]; [`JsonLines`] writes them as JSON lines (the schema is
//! `docs/TRACE.md`). The adapters' driver turns the same events into `tracing` events.

mod json;

use std::fmt::Debug;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use self::json::JsonLines;
use crate::connection::{CloseReason, ConnectionStats};

/// Receives the core's trace events. Called with the endpoint borrowed mutably, from whichever
/// thread drives it: keep it quick (format into a buffer, count, forward).
pub trait TraceSink: Send + Sync + Debug {
    /// One event at `now` (the time the core was given with the call that caused it), about
    /// the connection whose own (receiving) connection id is `connection`, or about the whole
    /// endpoint (`None`).
    fn record(&self, now: Instant, connection: Option<u64>, event: &TraceEvent<'_>);
}

/// Which side of the handshake a connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// It connected.
    Initiator,
    /// It was connected to.
    Responder,
}

impl Role {
    /// `"initiator"` or `"responder"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Initiator => "initiator",
            Role::Responder => "responder",
        }
    }
}

/// The Noise handshake pattern (PROTOCOL.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// `Noise_IK`: the initiator knows the responder's key (0-RTT).
    Ik,
    /// `Noise_XX`: it does not.
    Xx,
}

impl Pattern {
    /// `"IK"` or `"XX"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Pattern::Ik => "IK",
            Pattern::Xx => "XX",
        }
    }
}

/// What became of 0-RTT early data when the handshake completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EarlyData {
    /// No 0-RTT in this pattern (XX).
    None,
    /// Accepted by the responder.
    Accepted,
    /// Refused (or replayed): it is sent again after the handshake (PROTOCOL.md §9.3).
    Refused,
}

impl EarlyData {
    /// IK: accepted or refused.
    pub(crate) fn of(accepted: bool) -> Self {
        if accepted { EarlyData::Accepted } else { EarlyData::Refused }
    }

    /// `"none"`, `"accepted"` or `"refused"`.
    pub fn as_str(self) -> &'static str {
        match self {
            EarlyData::None => "none",
            EarlyData::Accepted => "accepted",
            EarlyData::Refused => "refused",
        }
    }
}

/// What a datagram was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketKind {
    /// A handshake message (initiation, response, XX finish).
    Handshake,
    /// A cookie reply (PROTOCOL.md §4.7).
    CookieReply,
    /// A transport packet (ACK and/or DATA, PING, CLOSE).
    Transport,
}

impl PacketKind {
    /// `"handshake"`, `"cookie_reply"` or `"transport"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PacketKind::Handshake => "handshake",
            PacketKind::CookieReply => "cookie_reply",
            PacketKind::Transport => "transport",
        }
    }
}

/// What declared packets lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossTrigger {
    /// RACK's time threshold after later packets were acknowledged (RFC 8985 §6).
    Rack,
    /// The retransmission timeout (RFC 6298 §5): everything in flight.
    Timeout,
}

impl LossTrigger {
    /// `"rack"` or `"timeout"`.
    pub fn as_str(self) -> &'static str {
        match self {
            LossTrigger::Rack => "rack",
            LossTrigger::Timeout => "timeout",
        }
    }
}

/// One event of the trace. Sequence numbers are the 32-bit ones of the wire (PROTOCOL.md §7);
/// counters are the 64-bit packet counters (the AEAD nonces, §6.3).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum TraceEvent<'a> {
    /// A connection was created: an initiator's `connect`, or a responder admitting an
    /// initiation.
    Started {
        /// Its side.
        role: Role,
        /// The handshake pattern.
        pattern: Pattern,
        /// The peer's address.
        remote: SocketAddr,
    },
    /// The endpoint, under load, answered an initiation with a cookie reply instead of a
    /// handshake (PROTOCOL.md §10.1); endpoint-wide, no connection.
    CookieSent {
        /// Where the initiation came from.
        remote: SocketAddr,
    },
    /// An initiator received a cookie reply and sends its initiation again with the cookie.
    CookieReceived,
    /// The handshake completed (keys established, the application told).
    Established {
        /// What became of 0-RTT data.
        early_data: EarlyData,
    },
    /// The connection moved to a validated path: the peer answered, from its new address, a
    /// challenge sent there (PROTOCOL.md §13.4).
    PathChanged {
        /// The old address.
        from: SocketAddr,
        /// The new one.
        to: SocketAddr,
    },
    /// A datagram left.
    PacketSent {
        /// What it was.
        kind: PacketKind,
        /// Its packet counter (transport packets).
        counter: Option<u64>,
        /// Its UDP payload size in bytes.
        size: usize,
        /// The sequence number of the DATA segment it carries, if any.
        seq: Option<u32>,
        /// That segment is a retransmission.
        retransmit: bool,
        /// It carries an ACK segment.
        ack: bool,
        /// Bytes in flight after it left.
        bytes_in_flight: u64,
    },
    /// A datagram arrived and was processed (transport packets: authenticated).
    PacketReceived {
        /// What it was.
        kind: PacketKind,
        /// Its packet counter (transport packets).
        counter: Option<u64>,
        /// Its UDP payload size in bytes.
        size: usize,
        /// The sequence number of the DATA segment it carries, if any.
        seq: Option<u32>,
        /// The cumulative acknowledgement of the ACK segment it carries, if any.
        ack: Option<u32>,
    },
    /// DATA segments were declared lost, `first..=last` (one segment for RACK, everything in
    /// flight on a timeout).
    PacketLost {
        /// Lowest sequence number declared lost.
        first: u32,
        /// Highest one.
        last: u32,
        /// How many segments.
        packets: u64,
        /// Their bytes, with per-packet overhead.
        bytes: u64,
        /// What declared them lost.
        trigger: LossTrigger,
    },
    /// Congestion state after an ACK or a timeout.
    Metrics {
        /// Congestion window in bytes.
        cwnd: u64,
        /// Bytes in flight.
        bytes_in_flight: u64,
        /// Slow-start threshold, once set.
        ssthresh: Option<u64>,
        /// Pacing rate in bytes per second, when the controller sets one.
        pacing_rate: Option<u64>,
    },
    /// An RTT sample was taken from an ACK (never from a retransmission: Karn).
    RttSample {
        /// This sample.
        latest: Duration,
        /// Smoothed RTT after it (RFC 6298).
        smoothed: Duration,
        /// RTT variation after it.
        variance: Duration,
        /// Least RTT over the estimator's window.
        min: Duration,
        /// The ACK delay the peer reported.
        ack_delay: Duration,
    },
    /// The connection ended (the application's `Closed` event), with its final counters.
    Closed {
        /// Why.
        reason: &'a CloseReason,
        /// Its statistics at that moment.
        stats: &'a ConnectionStats,
    },
}

impl TraceEvent<'_> {
    /// The event's name in the JSON lines (`docs/TRACE.md`): `"packet_sent"`, ….
    pub fn name(&self) -> &'static str {
        match self {
            TraceEvent::Started { .. } => "started",
            TraceEvent::CookieSent { .. } => "cookie_sent",
            TraceEvent::CookieReceived => "cookie_received",
            TraceEvent::Established { .. } => "established",
            TraceEvent::PathChanged { .. } => "path_changed",
            TraceEvent::PacketSent { .. } => "packet_sent",
            TraceEvent::PacketReceived { .. } => "packet_received",
            TraceEvent::PacketLost { .. } => "packet_lost",
            TraceEvent::Metrics { .. } => "metrics",
            TraceEvent::RttSample { .. } => "rtt_sample",
            TraceEvent::Closed { .. } => "closed",
        }
    }
}

/// A close reason's short name in traces: `"finished"`, `"local"`, `"remote"`, `"refused"`,
/// `"idle_timeout"`, `"handshake_timeout"`, `"unconfirmed"`, `"protocol_violation"`,
/// `"endpoint_closed"`, `"crossed"`, `"not_found"`; and its code, where it has one.
pub fn reason_name(reason: &CloseReason) -> (&'static str, Option<u16>) {
    match reason {
        CloseReason::Finished => ("finished", None),
        CloseReason::Local { code } => ("local", Some(*code)),
        CloseReason::Remote { code, .. } => ("remote", Some(*code)),
        CloseReason::Refused => ("refused", None),
        CloseReason::IdleTimeout => ("idle_timeout", None),
        CloseReason::HandshakeTimeout => ("handshake_timeout", None),
        CloseReason::Unconfirmed => ("unconfirmed", None),
        CloseReason::ProtocolViolation => ("protocol_violation", None),
        CloseReason::EndpointClosed => ("endpoint_closed", None),
        CloseReason::Crossed => ("crossed", None),
        CloseReason::NotFound => ("not_found", None),
    }
}
