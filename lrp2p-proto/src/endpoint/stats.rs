//! [`EndpointStats`]: what became of every datagram the endpoint was handed, by cause.
//!
//! Every datagram passed to `handle_datagram` is counted exactly once: either `accepted` (a
//! connection processed it, or it made one) or in one of the drop counters, so that
//! `datagrams_received == accounted()`. Per-connection detail (retransmissions, protocol
//! violations inside authenticated packets) is in `ConnectionStats`.

/// Endpoint-wide counters (see the module documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStats {
    /// Datagrams handed to `handle_datagram`.
    pub datagrams_received: u64,
    /// Datagrams written by `poll_transmit`.
    pub datagrams_sent: u64,
    /// Processed: a connection took it (a handshake step, or an authenticated transport
    /// packet), or an initiation made a new connection.
    pub accepted: u64,
    /// Dropped: not a well-formed LRP2P v1 datagram of its type (PROTOCOL.md §2, §4, §6).
    pub malformed: u64,
    /// Dropped: addressed to no connection we have (PROTOCOL.md §3).
    pub unknown_connection: u64,
    /// Dropped: initiations that failed Noise processing (PROTOCOL.md §4.1), among them IK
    /// initiations sealed for another static key, which cannot be decrypted.
    pub handshake_failures: u64,
    /// Dropped: initiations beyond the half-open or connection cap (PROTOCOL.md §10.5).
    pub refused_by_limits: u64,
    /// Dropped: initiations beyond the share of one source address or prefix
    /// (`EndpointConfig::address_limits`, PROTOCOL.md §10.5).
    pub refused_by_address: u64,
    /// Initiations answered with a stateless cookie reply instead of state (under load,
    /// PROTOCOL.md §10.1–10.2).
    pub cookie_replies: u64,
    /// Initiations that needed a cookie reply when the queue of replies was full: dropped.
    pub cookie_replies_dropped: u64,
    /// Duplicate initiations, answered with the stored response (PROTOCOL.md §4.8).
    pub duplicate_initiations: u64,
    /// Dropped: IK initiations whose timestamp the replay guard holds already (a replayed
    /// capture, PROTOCOL.md §9.3, §10.2): no state, no answer.
    pub replayed_initiations: u64,
    /// Valid IK initiations dropped because this side's own initiation to the same peer
    /// crossed them and wins (PROTOCOL.md §13.6: its static key is the smaller).
    pub crossed_initiations: u64,
    /// Dropped: datagrams for a connection that failed authentication (AEAD, Noise, a cookie
    /// reply that does not echo our initiation).
    pub auth_failures: u64,
    /// Dropped: transport packets whose counter was already received (PROTOCOL.md §9.1).
    pub replays: u64,
    /// Dropped: datagrams a connection did not expect in its state (a response nobody waits
    /// for, a packet before the keys or after the end).
    pub unexpected: u64,
    /// Authentic PUNCH datagrams taken by a dial by key (PROTOCOL.md §13.7; also counted in
    /// `accepted`).
    pub punches_received: u64,
    /// PUNCH datagrams sent ([`Endpoint::punch`](crate::Endpoint::punch); also counted in
    /// `datagrams_sent`).
    pub punches_sent: u64,
    /// Datagrams of this endpoint's connections sent through the rendezvous relay (PROTOCOL.md
    /// §13.8; also counted in `datagrams_sent`).
    pub relayed_sent: u64,
    /// Datagrams that came through the relay. Each is counted twice in `datagrams_received`
    /// and the outcomes: the hop datagram from the service (accepted), then the carried one.
    pub relayed_received: u64,
    /// Datagrams for a relayed path dropped: no registration, a link that cannot carry them
    /// yet, or no room in the caller's buffer for the hop's 66 bytes.
    pub relay_dropped: u64,
    /// IK initiations whose early data was delivered (not a datagram outcome: an attribute of
    /// accepted ones).
    pub early_data_accepted: u64,
    /// IK initiations whose early data was refused (stale, before the start-up floor, table
    /// full, no room in the receive budget, disabled; also an attribute of accepted ones).
    pub early_data_refused: u64,
    /// Bytes all connections' receive streams hold now (received, not yet read, in order or
    /// not), within `EndpointConfig::receive_memory` (PROTOCOL.md §10.6). A gauge, not a count.
    pub receive_held: u64,
    /// The most `receive_held` has been.
    pub receive_held_peak: u64,
    /// DATA segments dropped unacknowledged because the receive budget had no room for them
    /// (early data refused for it included). Not a datagram outcome: the datagrams were
    /// accepted.
    pub receive_budget_drops: u64,
}

impl EndpointStats {
    /// The datagrams counted in an outcome: `accepted` plus every drop. Equal to
    /// `datagrams_received` at all times.
    pub fn accounted(&self) -> u64 {
        self.accepted
            + self.malformed
            + self.unknown_connection
            + self.handshake_failures
            + self.refused_by_limits
            + self.refused_by_address
            + self.cookie_replies
            + self.cookie_replies_dropped
            + self.duplicate_initiations
            + self.replayed_initiations
            + self.crossed_initiations
            + self.auth_failures
            + self.replays
            + self.unexpected
    }
}
