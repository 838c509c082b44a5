//! The figures a scenario reports: goodput, efficiency, fairness, RTT percentiles, and the
//! one-line JSON [`Summary`] that benchmark scripts read.

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

/// The `q`-th percentile (`q` in `[0, 100]`) of `samples` by the nearest-rank method: the
/// smallest sample with at least `q` % of all samples at or below it. `None` for no samples.
pub fn percentile(samples: &[f64], q: f64) -> Option<f64> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    // rank = ⌈q/100 · n⌉, at least 1; n is far below 2^52, so the float is exact.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rank = ((q.clamp(0.0, 100.0) / 100.0 * n as f64).ceil() as usize).max(1);
    sorted.get(rank.min(n).checked_sub(1)?).copied()
}

/// How the flows followed the link's first scheduled change (see [`Summary::after_change`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AfterChange {
    /// When the link changed, in simulated seconds since the start.
    pub at_s: f64,
    /// The bottleneck rate from then on, in Mbit/s.
    pub rate_mbit: f64,
    /// Seconds after the change until a 500 ms window (starting at the change or a multiple of
    /// 100 ms after it) had carried 0.85 of the new rate: the end of the first such window
    /// (`null`: none did before the last byte).
    pub recovery_s: Option<f64>,
    /// Retransmitted over all DATA segments sent in the 2 s after the change.
    pub retransmit_ratio_2s: f64,
    /// Goodput from 2 s after the change to the last byte, over the new rate (`null` if the
    /// transfer ended sooner).
    pub efficiency_after_2s: Option<f64>,
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
/// `{"ok":…,"bytes":…,"sim_secs":…,"goodput_mbit":…,"efficiency":…,"retransmits":…,"first_byte_ms":…,"jain_fairness":…,"spurious_retransmits":…,"retransmit_ratio":…,"rtt_p50_ms":…,"rtt_p95_ms":…,"jain_tail":…,"after_change":…}`
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
    /// Median of the RTT samples the senders took (the latest RTT every 10 ms of simulated
    /// time while data was in flight), in milliseconds; `null` without samples.
    pub rtt_p50_ms: Option<f64>,
    /// The 95th percentile of those samples, in milliseconds.
    pub rtt_p95_ms: Option<f64>,
    /// Jain's fairness index over the flows' goodputs in the last 80 % of the time they all
    /// delivered data (1.0 for one flow, or flows that never overlapped).
    pub jain_tail: f64,
    /// After the link's first scheduled change, how the flows followed it (`null` without one).
    pub after_change: Option<AfterChange>,
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
            rtt_p50_ms: None,
            rtt_p95_ms: None,
            jain_tail: 1.0,
            after_change: None,
        }
    }

    /// The same summary with the percentiles of the senders' RTT samples.
    pub fn with_rtt_samples(mut self, samples: &[std::time::Duration]) -> Self {
        let ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        self.rtt_p50_ms = percentile(&ms, 50.0);
        self.rtt_p95_ms = percentile(&ms, 95.0);
        self
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
            r#"{"ok":true,"bytes":1000,"sim_secs":2.0,"goodput_mbit":0.004,"efficiency":0.5,"retransmits":3,"first_byte_ms":25.0,"jain_fairness":1.0,"spurious_retransmits":0,"retransmit_ratio":0.0,"rtt_p50_ms":null,"rtt_p95_ms":null,"jain_tail":1.0,"after_change":null}"#
        );
        let ms = Duration::from_millis;
        let s = s.with_rtt_samples(&[ms(40), ms(41), ms(60), ms(42)]);
        assert_eq!((s.rtt_p50_ms, s.rtt_p95_ms), (Some(41.0), Some(60.0)));
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&hundred, 50.0), Some(50.0));
        assert_eq!(percentile(&hundred, 95.0), Some(95.0));
        assert_eq!(percentile(&hundred, 100.0), Some(100.0));
        assert_eq!(percentile(&hundred, 0.0), Some(1.0));
        // Order does not matter; one sample is every percentile.
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 50.0), Some(2.0));
        assert_eq!(percentile(&[7.0], 95.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
        // 20 samples: the 95th percentile is the 19th.
        let twenty: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&twenty, 95.0), Some(19.0));
    }
}
