//! Loss recovery: the timing half of reliable delivery.
//!
//! - [`rtt`]: the round-trip time estimator and retransmission timeout (RFC 6298, with the
//!   ack-delay correction of RFC 9002 §5.3).
//! - `backoff`: the exponential backoff of every retransmission timer (RFC 6298 §5.5).
//!
//! Deciding *which* packets are lost (duplicate-ACK threshold, RACK-style time threshold) and
//! which packets may be sampled at all (Karn's algorithm, RFC 6298 §3) belongs to the caller that
//! tracks packets in flight; this module only turns samples into timers.

mod backoff;
pub(crate) mod rtt;

pub(crate) use backoff::backed_off;

pub use rtt::{RttConfig, RttEstimator};
