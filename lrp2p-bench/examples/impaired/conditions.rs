//! The link conditions: one path of 100 Mbit/s each way, 20 ms each way (40 ms RTT) and a
//! one-BDP queue (100 Mbit/s × 40 ms = 500 kB), clean or with one impairment on top, applied
//! the same in both directions (data and acknowledgements) by the relay.

use std::time::Duration;

use lrp2p_relay::Impairment;

/// Link rate each way, bits per second (UDP payload: the relay counts no IP or UDP headers).
pub(crate) const RATE_BPS: f64 = 100e6;
/// One-way delay.
pub(crate) const ONE_WAY: Duration = Duration::from_millis(20);
/// The rate-limited queue: one bandwidth-delay product, 100 Mbit/s × 40 ms.
pub(crate) const QUEUE_BYTES: u64 = 500_000;

/// One link condition.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Condition {
    /// Its name for `--only` and the JSON.
    pub(crate) key: &'static str,
    /// Its column heading.
    pub(crate) title: &'static str,
    /// Run by default (others only when named).
    pub(crate) default: bool,
    /// What the relay does, each way.
    pub(crate) impairment: Impairment,
}

/// The shared path: rate, delay and queue.
fn path() -> Impairment {
    Impairment { rate_bps: Some(RATE_BPS), delay: ONE_WAY, queue_bytes: QUEUE_BYTES, ..Impairment::default() }
}

/// Every condition, in table order.
pub(crate) fn all() -> Vec<Condition> {
    let reorder = |ms| Impairment { reorder: 0.02, reorder_hold: Some(Duration::from_millis(ms)), ..path() };
    vec![
        Condition { key: "clean", title: "clean", default: true, impairment: path() },
        Condition {
            key: "0.1%",
            title: "0.1 % loss",
            default: true,
            impairment: Impairment { loss: 0.001, ..path() },
        },
        Condition {
            key: "1%",
            title: "1 % loss",
            default: true,
            impairment: Impairment { loss: 0.01, ..path() },
        },
        Condition { key: "reorder-5ms", title: "2 % reordered +5 ms", default: true, impairment: reorder(5) },
        Condition {
            key: "reorder-20ms",
            title: "2 % reordered +20 ms",
            default: false,
            impairment: reorder(20),
        },
        // No rate limit, delay or queue: how fast the contenders go through the relay itself.
        Condition {
            key: "unlimited",
            title: "no impairment",
            default: false,
            impairment: Impairment::default(),
        },
    ]
}

/// The conditions `only` names (each by key), or the default ones; an unknown name is an error.
pub(crate) fn select(only: Option<&[String]>) -> Result<Vec<Condition>, String> {
    let all = all();
    match only {
        None => Ok(all.into_iter().filter(|c| c.default).collect()),
        Some(names) => names
            .iter()
            .map(|n| {
                all.iter().find(|c| c.key == n.as_str()).copied().ok_or_else(|| {
                    let keys: Vec<&str> = all.iter().map(|c| c.key).collect();
                    format!("unknown condition {n} (one of {})", keys.join(", "))
                })
            })
            .collect(),
    }
}
