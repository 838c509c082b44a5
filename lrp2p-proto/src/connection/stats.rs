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
    /// Times the peer moved to a new address.
    pub migrations: u64,
}
