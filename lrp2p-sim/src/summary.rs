//! The figures a scenario reports: goodput, efficiency, fairness, and the one-line JSON
//! [`Summary`] that benchmark scripts read.

use std::time::Duration;

use serde::Serialize;

/// Jain's fairness index of `shares`: `(Σx)² / (n · Σx²)`.
///
/// 1.0 when all shares are equal, `1/n` when one flow takes everything. An empty slice and an
/// all-zero slice count as perfectly fair (1.0).
pub fn jain_fairness(shares: &[f64]) -> f64 {
    let sum: f64 = shares.iter().sum();
    let sum_sq: f64 = shares.iter().map(|x| x * x).sum();
    if shares.is_empty() || sum_sq <= 0.0 {
        return 1.0;
    }
    sum * sum / (shares.len() as f64 * sum_sq)
}

/// Goodput in Mbit/s: application bytes delivered over `elapsed` (0 for a zero duration).
pub fn goodput_mbit(bytes: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return 0.0;
    }
    bytes as f64 * 8.0 / secs / 1e6
}

/// Goodput as a fraction of the link rate (0 for an unlimited link).
pub fn efficiency(goodput_mbit: f64, rate_bps: u64) -> f64 {
    if rate_bps == 0 {
        return 0.0;
    }
    goodput_mbit * 1e6 / rate_bps as f64
}

/// The result of one scenario run, serialized as exactly
/// `{"ok":…,"bytes":…,"sim_secs":…,"goodput_mbit":…,"efficiency":…,"retransmits":…,"first_byte_ms":…,"jain_fairness":…,"spurious_retransmits":…,"retransmit_ratio":…}`
/// (fields in this order).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Whether the scenario met its goal (for a reliable transfer: every byte delivered intact).
    pub ok: bool,
    /// Application bytes delivered.
    pub bytes: u64,
    /// Simulated seconds the transfer took.
    pub sim_secs: f64,
    /// `bytes` over `sim_secs`, in Mbit/s.
    pub goodput_mbit: f64,
    /// Goodput as a fraction of the bottleneck rate.
    pub efficiency: f64,
    /// Datagrams sent again by the transport.
    pub retransmits: u64,
    /// Milliseconds from the start until the first application byte arrived (`null` if none did).
    pub first_byte_ms: Option<f64>,
    /// Jain's fairness index over the flows' goodputs.
    pub jain_fairness: f64,
    /// Retransmissions the senders found unnecessary (acknowledged sooner than the minimum RTT
    /// after they were sent; a lower bound).
    pub spurious_retransmits: u64,
    /// Retransmitted DATA datagrams over all DATA datagrams sent (0 without any).
    pub retransmit_ratio: f64,
}

impl Summary {
    /// Builds a summary from the raw figures, computing goodput, efficiency and fairness.
    pub fn new(
        ok: bool,
        bytes: u64,
        elapsed: Duration,
        rate_bps: u64,
        retransmits: u64,
        first_byte: Option<Duration>,
        flow_bytes: &[u64],
    ) -> Self {
        let goodput = goodput_mbit(bytes, elapsed);
        let shares: Vec<f64> = flow_bytes.iter().map(|&b| b as f64).collect();
        Self {
            ok,
            bytes,
            sim_secs: elapsed.as_secs_f64(),
            goodput_mbit: goodput,
            efficiency: efficiency(goodput, rate_bps),
            retransmits,
            first_byte_ms: first_byte.map(|d| d.as_secs_f64() * 1e3),
            jain_fairness: jain_fairness(&shares),
            spurious_retransmits: 0,
            retransmit_ratio: 0.0,
        }
    }

    /// The same summary with the senders' spurious retransmissions and the DATA datagrams they
    /// sent (retransmissions included), from which `retransmit_ratio` follows.
    pub fn with_retransmissions(mut self, spurious: u64, data_datagrams: u64) -> Self {
        self.spurious_retransmits = spurious;
        self.retransmit_ratio =
            if data_datagrams == 0 { 0.0 } else { self.retransmits as f64 / data_datagrams as f64 };
        self
    }

    /// The summary as one line of JSON.
    pub fn to_json(&self) -> String {
        // Serializing plain numbers and booleans cannot fail; NaN and infinities become null.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{\"ok\":false}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jain_fairness_values() {
        assert_eq!(jain_fairness(&[1.0, 1.0, 1.0, 1.0]), 1.0);
        assert_eq!(jain_fairness(&[1.0, 0.0]), 0.5);
        assert_eq!(jain_fairness(&[5.0, 0.0, 0.0, 0.0]), 0.25);
        assert_eq!(jain_fairness(&[]), 1.0);
        assert_eq!(jain_fairness(&[0.0, 0.0]), 1.0);
        // (1+2+3)² / (3 · 14) = 36/42.
        assert!((jain_fairness(&[1.0, 2.0, 3.0]) - 36.0 / 42.0).abs() < 1e-12);
    }

    #[test]
    fn goodput_and_efficiency() {
        // 12.5 MB in 1 s = 100 Mbit/s = half of a 200 Mbit/s link.
        let g = goodput_mbit(12_500_000, Duration::from_secs(1));
        assert!((g - 100.0).abs() < 1e-9);
        assert!((efficiency(g, 200_000_000) - 0.5).abs() < 1e-12);
        assert_eq!(goodput_mbit(1, Duration::ZERO), 0.0);
        assert_eq!(efficiency(g, 0), 0.0);
    }

    #[test]
    fn summary_json_has_the_exact_shape() {
        let s = Summary::new(
            true,
            1000,
            Duration::from_secs(2),
            8000,
            3,
            Some(Duration::from_millis(25)),
            &[1, 1],
        );
        assert_eq!(
            s.to_json(),
            r#"{"ok":true,"bytes":1000,"sim_secs":2.0,"goodput_mbit":0.004,"efficiency":0.5,"retransmits":3,"first_byte_ms":25.0,"jain_fairness":1.0,"spurious_retransmits":0,"retransmit_ratio":0.0}"#
        );
    }
}
