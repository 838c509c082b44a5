//! Per-connection statistics, for applications, benchmarks and tests.

use std::time::Duration;

/// A snapshot of one connection's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionStats {
    /// Smoothed round-trip time (RFC 6298), once measured.
    pub rtt: Option<Duration>,
    /// The latest round-trip time sample.
    pub latest_rtt: Option<Duration>,
    /// The least round-trip time sample over the estimator's window.
    pub min_rtt: Option<Duration>,
    /// Congestion window in bytes.
    pub cwnd: u64,
    /// Slow-start threshold in bytes (`u64::MAX` until the first congestion event).
    pub ssthresh: u64,
    /// The congestion controller's pacing rate in bytes per second, when it sets one (BBR).
    pub pacing_rate: Option<u64>,
    /// The congestion controller's name (`"cubic"`, `"bbr"`, `"fixed"`).
    pub congestion_control: &'static str,
    /// Times the congestion state was reset because the path changed (RFC 9000 §9.4).
    pub congestion_resets: u64,
    /// Bytes sent and not yet acknowledged or declared lost.
    pub bytes_in_flight: u64,
    /// Bytes written by the application and not yet acknowledged by the peer.
    pub send_buffered: u64,
    /// Our FIN was cumulatively acknowledged: our stream is finished (PROTOCOL.md §8.7).
    pub fin_acked: bool,
    /// Datagrams sent (handshake and transport).
    pub datagrams_sent: u64,
    /// Datagrams received and authenticated.
    pub datagrams_received: u64,
    /// UDP payload bytes sent.
    pub bytes_sent: u64,
    /// UDP payload bytes received and authenticated.
    pub bytes_received: u64,
    /// Stream bytes delivered to the application (read).
    pub stream_bytes_read: u64,
    /// Stream bytes accepted from the application (written).
    pub stream_bytes_written: u64,
    /// DATA segments sent, retransmissions included (each rides in a datagram of its own).
    pub segments_sent: u64,
    /// DATA segments retransmitted.
    pub retransmits: u64,
    /// Retransmissions found unnecessary: reported twice by the peer's DSACK (RFC 3708), or
    /// acknowledged sooner than the minimum RTT after they were sent, so an earlier transmission
    /// had arrived.
    pub spurious_retransmits: u64,
    /// Congestion responses undone because every retransmission they led to proved spurious
    /// (RFC 3708 through DSACK or timing; RFC 9438 §4.9).
    pub congestion_undos: u64,
    /// Whether the sender has seen the path reorder (RFC 8985 `RACK.reordering_seen`).
    pub reordering_seen: bool,
    /// Bytes declared lost (by SACK/RACK or timeout).
    pub lost_packets_bytes: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Tail loss probes sent (RFC 8985 §7).
    pub tail_loss_probes: u64,
    /// Sequence numbers the peer reported receiving twice (DSACK, PROTOCOL.md §7.7).
    pub dsack_received: u64,
    /// Handshake messages retransmitted.
    pub handshake_retransmits: u64,
    /// Dropped: replayed transport packets.
    pub replays_dropped: u64,
    /// Dropped: transport packets that failed authentication.
    pub auth_failures: u64,
    /// Dropped: transport packets of a key phase for which no key is held any more, chiefly
    /// stragglers of the previous phase after its key was erased (PROTOCOL.md §6.5).
    pub stale_key_drops: u64,
    /// Dropped: authenticated packets with malformed or invalid segments.
    pub protocol_violations: u64,
    /// ACKs whose ACK_ECHO was missing or contradicted what was sent (PROTOCOL.md §8.8).
    pub echo_violations: u64,
    /// Dropped: DATA beyond the receive window or buffer.
    pub beyond_window: u64,
    /// Dropped without acknowledgement: DATA inside the window that the endpoint's receive
    /// memory budget had no room for (`EndpointConfig::receive_memory`, PROTOCOL.md §10.6).
    pub receive_budget_drops: u64,
    /// Out-of-order segments discarded after they were SACKed, to make room for the next
    /// segment in order under the receive memory budget (PROTOCOL.md §8.3, §10.6).
    pub reneged: u64,
    /// Bytes the receive stream holds now against the receive memory budget: received, not
    /// yet read, in order or not (an out-of-order segment counts a little more than its
    /// payload).
    pub receive_held: u64,
    /// The receive window the next ACK advertises, in packets (PROTOCOL.md §8.4).
    pub receive_window: u32,
    /// Duplicate DATA segments received.
    pub duplicates: u64,
    /// Datagrams held back by the 3× amplification limit (PROTOCOL.md §10.4).
    pub amplification_limited: u64,
    /// Key updates initiated by either side (PROTOCOL.md §6.5).
    pub key_updates: u64,
    /// Times the connection moved to a new, validated path (PROTOCOL.md §13.4).
    pub migrations: u64,
    /// Challenge packets sent to validate a new address of the peer (PROTOCOL.md §13.3).
    pub path_challenges: u64,
    /// Keep-alives sent: PINGs after `keep_alive` without sending (PROTOCOL.md §13.5).
    pub keep_alives: u64,
}

/// The counters a connection keeps itself: the [`ConnectionStats`] fields it increments.
/// The others (RTT, window, buffers, …) are read from their owners when a snapshot is taken,
/// so they take no room in every connection (idle memory per connection is measured:
/// `examples/idle_connections.rs`).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Counters {
    pub(super) amplification_limited: u64,
    pub(super) auth_failures: u64,
    pub(super) beyond_window: u64,
    pub(super) bytes_received: u64,
    pub(super) bytes_sent: u64,
    pub(super) datagrams_received: u64,
    pub(super) datagrams_sent: u64,
    pub(super) dsack_received: u64,
    pub(super) duplicates: u64,
    pub(super) echo_violations: u64,
    pub(super) lost_packets_bytes: u64,
    pub(super) protocol_violations: u64,
    pub(super) receive_budget_drops: u64,
    pub(super) replays_dropped: u64,
    pub(super) segments_sent: u64,
    pub(super) stream_bytes_read: u64,
    pub(super) stream_bytes_written: u64,
    /// Counts of rare events (bounded by timers and round trips, or by what this side
    /// sends), packed: they saturate.
    pub(super) congestion_resets: u32,
    pub(super) congestion_undos: u32,
    pub(super) handshake_retransmits: u32,
    pub(super) key_updates: u32,
    pub(super) migrations: u32,
    pub(super) tail_loss_probes: u32,
    pub(super) timeouts: u32,
    pub(super) path_challenges: u32,
    pub(super) keep_alives: u32,
}

impl Counters {
    /// These counters as a snapshot; the caller fills in the rest.
    pub(super) fn snapshot(&self) -> ConnectionStats {
        ConnectionStats {
            amplification_limited: self.amplification_limited,
            auth_failures: self.auth_failures,
            beyond_window: self.beyond_window,
            bytes_received: self.bytes_received,
            bytes_sent: self.bytes_sent,
            congestion_resets: u64::from(self.congestion_resets),
            congestion_undos: u64::from(self.congestion_undos),
            datagrams_received: self.datagrams_received,
            datagrams_sent: self.datagrams_sent,
            dsack_received: self.dsack_received,
            duplicates: self.duplicates,
            echo_violations: self.echo_violations,
            handshake_retransmits: u64::from(self.handshake_retransmits),
            key_updates: u64::from(self.key_updates),
            lost_packets_bytes: self.lost_packets_bytes,
            migrations: u64::from(self.migrations),
            protocol_violations: self.protocol_violations,
            receive_budget_drops: self.receive_budget_drops,
            replays_dropped: self.replays_dropped,
            segments_sent: self.segments_sent,
            stream_bytes_read: self.stream_bytes_read,
            stream_bytes_written: self.stream_bytes_written,
            tail_loss_probes: u64::from(self.tail_loss_probes),
            timeouts: u64::from(self.timeouts),
            path_challenges: u64::from(self.path_challenges),
            keep_alives: u64::from(self.keep_alives),
            ..ConnectionStats::default()
        }
    }
}
