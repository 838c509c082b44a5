//! Delivery-rate estimation on the sender's scoreboard (draft-cheng-iccrg-delivery-rate-
//! estimation-02): every transmission records what the connection had delivered when it left,
//! and the ACK of the most recently sent packet turns that into a rate sample, how many bytes
//! the path delivered over how long. O(1) per packet sent and per packet acknowledged.
//!
//! Names follow the draft: `C.*` are [`RateEstimator`] fields, `P.*` a packet's [`TxState`],
//! `rs.*` the sample being built for the current ACK ([`Building`]).

use std::time::{Duration, Instant};

use crate::congestion::RateSample;

/// What the connection knew when a packet left (the draft's per-packet state, §3.2).
#[derive(Clone, Copy, Debug)]
pub(super) struct TxState {
    /// `P.delivered`: `C.delivered` when the packet was sent.
    delivered: u64,
    /// `P.delivered_time`: `C.delivered_time` when the packet was sent.
    delivered_time: Instant,
    /// `P.first_sent_time`: `C.first_sent_time` when the packet was sent.
    first_sent_time: Instant,
    /// `P.tx_in_flight`: bytes in flight just after it was sent (BBR draft §4.5.8.1).
    pub(super) tx_in_flight: u64,
    /// `P.lost`: `C.lost` when the packet was sent.
    pub(super) lost: u64,
    /// `P.is_app_limited`: `C.app_limited` was set when it was sent.
    pub(super) app_limited: bool,
}

/// The sample being built from the packets one ACK newly acknowledges (`rs`, §3.3).
#[derive(Clone, Copy, Debug)]
struct Building {
    prior_delivered: u64,
    send_elapsed: Duration,
    ack_elapsed: Duration,
    is_app_limited: bool,
    tx_in_flight: u64,
    prior_lost: u64,
    /// Send time and sequence number of the packet the sample is taken from (IsNewestPacket).
    sent: Instant,
    seq: u64,
}

/// The connection's side of the estimator (`C.*`).
#[derive(Clone, Debug, Default)]
pub(super) struct RateEstimator {
    /// `C.delivered`: bytes delivered (acknowledged) so far.
    delivered: u64,
    /// `C.delivered_time`: when `delivered` last grew.
    delivered_time: Option<Instant>,
    /// `C.first_sent_time`: send time of the newest packet acknowledged, or of the first packet
    /// of a flight that started from idle.
    first_sent_time: Option<Instant>,
    /// `C.app_limited`: the `delivered` count at which the current application-limited phase
    /// ends; 0 when not application limited (§3.4).
    app_limited_until: u64,
    /// `C.lost`: bytes declared lost so far.
    lost: u64,
    /// Packets sent before this instant give no samples (the path changed since).
    valid_from: Option<Instant>,
    /// The sample of the ACK being processed.
    building: Option<Building>,
}

impl RateEstimator {
    /// A packet of `bytes` leaves at `now` with `prior_in_flight` bytes already in flight:
    /// its [`TxState`] (§3.2 "Upon transmitting a data packet").
    pub(super) fn on_sent(&mut self, now: Instant, prior_in_flight: u64, bytes: u64) -> TxState {
        // §3.2: a flight that starts from idle starts the send and ACK intervals afresh.
        if prior_in_flight == 0 {
            self.first_sent_time = Some(now);
            self.delivered_time = Some(now);
        }
        TxState {
            delivered: self.delivered,
            delivered_time: self.delivered_time.unwrap_or(now),
            first_sent_time: self.first_sent_time.unwrap_or(now),
            tx_in_flight: prior_in_flight.saturating_add(bytes),
            lost: self.lost,
            app_limited: self.app_limited_until != 0,
        }
    }

    /// The packet `seq` of `bytes`, sent at `sent` with `tx`, is acknowledged for the first
    /// time at `now` (§3.3 UpdateRateSample). The caller never reports a packet twice.
    pub(super) fn on_delivered(&mut self, now: Instant, seq: u64, sent: Instant, tx: &TxState, bytes: u64) {
        self.delivered = self.delivered.saturating_add(bytes);
        self.delivered_time = Some(now);
        // IsNewestPacket: the sample comes from the most recently sent packet acknowledged.
        let newest = self.building.is_none_or(|rs| sent > rs.sent || (sent == rs.sent && seq > rs.seq));
        if newest && self.valid_from.is_none_or(|from| sent >= from) {
            self.building = Some(Building {
                prior_delivered: tx.delivered,
                send_elapsed: sent.saturating_duration_since(tx.first_sent_time),
                ack_elapsed: now.saturating_duration_since(tx.delivered_time),
                is_app_limited: tx.app_limited,
                tx_in_flight: tx.tx_in_flight,
                prior_lost: tx.lost,
                sent,
                seq,
            });
            self.first_sent_time = Some(sent);
        }
    }

    /// `bytes` were declared lost; returns `C.lost` afterwards.
    pub(super) fn on_lost(&mut self, bytes: u64) -> u64 {
        self.lost = self.lost.saturating_add(bytes);
        self.lost
    }

    /// Ends the current ACK: its rate sample, if valid (§3.3 GenerateRateSample). Samples over
    /// an interval shorter than `min_rtt` are dropped: ACK compression makes them too high.
    pub(super) fn take_sample(&mut self, now: Instant, min_rtt: Option<Duration>) -> Option<RateSample> {
        // §3.4: the application-limited phase ends once its data has been delivered.
        if self.app_limited_until != 0 && self.delivered > self.app_limited_until {
            self.app_limited_until = 0;
        }
        let rs = self.building.take()?;
        let interval = rs.send_elapsed.max(rs.ack_elapsed);
        if min_rtt.is_some_and(|min| interval < min) || interval.is_zero() {
            return None;
        }
        let delivered = self.delivered.saturating_sub(rs.prior_delivered);
        let rate = u128::from(delivered) * 1_000_000_000 / interval.as_nanos().max(1);
        Some(RateSample {
            delivered,
            interval,
            delivery_rate: u64::try_from(rate).unwrap_or(u64::MAX),
            prior_delivered: rs.prior_delivered,
            is_app_limited: rs.is_app_limited,
            tx_in_flight: rs.tx_in_flight,
            lost: self.lost.saturating_sub(rs.prior_lost),
            rtt: now.saturating_duration_since(rs.sent),
        })
    }

    /// The sender has nothing to send although the window would allow it (§3.4
    /// CheckIfApplicationLimited): samples until what is in flight now is delivered are
    /// application limited.
    pub(super) fn mark_app_limited(&mut self, bytes_in_flight: u64) {
        self.app_limited_until = self.delivered.saturating_add(bytes_in_flight).max(1);
    }

    /// The path changed at `now`: packets sent before give no more samples (RFC 9000 §9.4 resets
    /// congestion state for a new path).
    pub(super) fn reset_path(&mut self, now: Instant) {
        self.valid_from = Some(now);
        self.building = None;
        self.first_sent_time = Some(now);
        self.delivered_time = Some(now);
    }

    /// `C.delivered`.
    pub(super) fn delivered(&self) -> u64 {
        self.delivered
    }

    /// `C.app_limited != 0`.
    pub(super) fn is_app_limited(&self) -> bool {
        self.app_limited_until != 0
    }
}

#[cfg(test)]
#[path = "rate_tests.rs"]
mod tests;
