//! The impairment model of one direction of the relay, free of sockets and clocks: given a
//! datagram's arrival time and length it decides whether the datagram is dropped and, if not,
//! when it leaves. Seeded, so runs repeat exactly.
//!
//! In order: random loss; the rate limit (a serialising link: each datagram leaves after the
//! previous one plus `len × 8 / rate`, with tail drop when the backlog exceeds the queue);
//! delay plus uniform jitter. Release times never go backwards, so jitter alone does not
//! reorder; `reorder` holds a datagram back by an extra [`reorder_hold`] outside that rule so
//! that later datagrams overtake it: "2 % of datagrams delayed by +5 ms" is `reorder: 0.02`,
//! `reorder_hold: Some(5 ms)`. A held datagram still occupies the link (its transmission time
//! counts against the rate) and still gets its in-order release time first; the hold comes on
//! top of it.

use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore as _, SeedableRng as _};
use tokio::time::Instant;

/// One direction's impairments.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Impairment {
    /// Probability that a datagram is dropped.
    pub loss: f64,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Uniform jitter: each datagram's delay varies by up to ± this.
    pub jitter: Duration,
    /// Link rate in bits per second; `None` for unlimited.
    pub rate_bps: Option<f64>,
    /// Longest backlog the rate-limited queue holds, in bytes; datagrams beyond it are dropped.
    pub queue_bytes: u64,
    /// Probability that a datagram is held back so later ones overtake it.
    pub reorder: f64,
    /// How long a reordered datagram is held back beyond its in-order release time; `None`
    /// for the default, half the delay and at least 2 ms (see [`reorder_hold`]).
    pub reorder_hold: Option<Duration>,
}

impl Default for Impairment {
    fn default() -> Self {
        Impairment {
            loss: 0.0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            rate_bps: None,
            queue_bytes: 512 * 1024,
            reorder: 0.0,
            reorder_hold: None,
        }
    }
}

/// Extra hold for a reordered datagram: [`Impairment::reorder_hold`] when given, else half the
/// delay and at least 2 ms.
pub fn reorder_hold(imp: &Impairment) -> Duration {
    imp.reorder_hold.unwrap_or_else(|| (imp.delay / 2).max(Duration::from_millis(2)))
}

/// What happens to one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Leaves at this time.
    Deliver(Instant),
    /// Dropped by random loss.
    Lost,
    /// Dropped because the rate-limited queue was full.
    QueueFull,
}

/// The state of one direction: RNG, link busy time, last in-order release, datagrams held.
#[derive(Debug)]
pub struct Shaper {
    /// The impairments applied.
    imp: Impairment,
    /// Seeded randomness.
    rng: ChaCha8Rng,
    /// When the serialising link is free again.
    busy_until: Option<Instant>,
    /// Release time of the last in-order datagram.
    last_release: Option<Instant>,
    /// Datagrams held back for reordering so far.
    held: u64,
}

impl Shaper {
    /// A shaper with its own stream of randomness.
    pub fn new(imp: Impairment, seed: u64) -> Shaper {
        Shaper { imp, rng: ChaCha8Rng::seed_from_u64(seed), busy_until: None, last_release: None, held: 0 }
    }

    /// Datagrams held back for reordering so far (each also counts as delivered).
    pub fn held(&self) -> u64 {
        self.held
    }

    /// A uniform sample in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Decides the fate of a datagram of `len` bytes arriving at `now`.
    pub fn admit(&mut self, now: Instant, len: usize) -> Fate {
        if self.imp.loss > 0.0 && self.uniform() < self.imp.loss {
            return Fate::Lost;
        }
        let mut departure = now;
        if let Some(rate) = self.imp.rate_bps.filter(|r| *r > 0.0) {
            let start = self.busy_until.map_or(now, |b| b.max(now));
            let backlog_bytes = (start - now).as_secs_f64() * rate / 8.0;
            if backlog_bytes + len as f64 > self.imp.queue_bytes as f64 {
                return Fate::QueueFull;
            }
            // Checked: a rate too small for its datagram must not panic the relay.
            let Some(end) =
                Duration::try_from_secs_f64(len as f64 * 8.0 / rate).ok().and_then(|t| start.checked_add(t))
            else {
                return Fate::QueueFull;
            };
            departure = end;
            self.busy_until = Some(departure);
        }
        let mut release = departure + self.imp.delay;
        if !self.imp.jitter.is_zero() {
            let offset = self.imp.jitter.mul_f64(self.uniform() * 2.0);
            // delay - jitter + [0, 2·jitter), never before the departure.
            release = (release + offset).checked_sub(self.imp.jitter).unwrap_or(departure).max(departure);
        }
        if self.imp.reorder > 0.0 && self.uniform() < self.imp.reorder {
            self.held += 1;
            return Fate::Deliver(
                release.max(self.last_release.unwrap_or(release)) + reorder_hold(&self.imp),
            );
        }
        let release = self.last_release.map_or(release, |l| l.max(release));
        self.last_release = Some(release);
        Fate::Deliver(release)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_fraction_is_close_and_repeatable() {
        let imp = Impairment { loss: 0.1, ..Impairment::default() };
        let now = Instant::now();
        let run = |seed| {
            let mut s = Shaper::new(imp, seed);
            (0..10_000).filter(|_| s.admit(now, 1000) == Fate::Lost).count()
        };
        let lost = run(3);
        assert!((900..1100).contains(&lost), "{lost}");
        assert_eq!(run(3), lost);
        assert_ne!(run(4), lost);
    }

    #[test]
    fn delay_and_jitter_keep_order() {
        let imp = Impairment {
            delay: Duration::from_millis(10),
            jitter: Duration::from_millis(5),
            ..Impairment::default()
        };
        let mut s = Shaper::new(imp, 1);
        let t0 = Instant::now();
        let mut last = t0;
        for i in 0..1000u64 {
            let now = t0 + Duration::from_micros(i * 100);
            let Fate::Deliver(at) = s.admit(now, 100) else { panic!("no loss configured") };
            assert!(at >= last, "reordered");
            assert!(at >= now + Duration::from_millis(5));
            last = at;
        }
    }

    #[test]
    fn rate_limit_serialises_and_tail_drops() {
        // 8 Mbit/s = 1 byte/µs: a 1000-byte datagram takes 1 ms; the queue holds 10 of them.
        let imp = Impairment { rate_bps: Some(8e6), queue_bytes: 10_000, ..Impairment::default() };
        let mut s = Shaper::new(imp, 1);
        let t0 = Instant::now();
        let fates: Vec<Fate> = (0..20).map(|_| s.admit(t0, 1000)).collect();
        assert_eq!(fates[0], Fate::Deliver(t0 + Duration::from_millis(1)));
        assert_eq!(fates[9], Fate::Deliver(t0 + Duration::from_millis(10)));
        assert!(fates[10..].iter().all(|f| *f == Fate::QueueFull), "{fates:?}");
    }

    #[test]
    fn absurdly_slow_rate_drops_instead_of_panicking() {
        let imp = Impairment { rate_bps: Some(1e-300), queue_bytes: u64::MAX, ..Impairment::default() };
        let mut s = Shaper::new(imp, 1);
        assert_eq!(s.admit(Instant::now(), 1000), Fate::QueueFull);
    }

    #[test]
    fn reorder_lets_later_datagrams_overtake() {
        let imp = Impairment { reorder: 0.2, delay: Duration::from_millis(10), ..Impairment::default() };
        let mut s = Shaper::new(imp, 9);
        let t0 = Instant::now();
        let times: Vec<Instant> = (0..200u64)
            .map(|i| match s.admit(t0 + Duration::from_micros(i * 100), 100) {
                Fate::Deliver(at) => at,
                other => panic!("{other:?}"),
            })
            .collect();
        let inversions = times.windows(2).filter(|w| w[1] < w[0]).count();
        assert!(inversions > 10, "{inversions}");
    }

    #[test]
    fn reorder_hold_is_configurable_and_comes_on_top_of_the_in_order_time() {
        let delay = Duration::from_millis(20);
        let t0 = Instant::now();
        // Every datagram held: each leaves its hold after its in-order release time.
        let release = |hold| {
            let imp = Impairment { reorder: 1.0, reorder_hold: hold, delay, ..Impairment::default() };
            match Shaper::new(imp, 5).admit(t0, 100) {
                Fate::Deliver(at) => at - t0,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(release(Some(Duration::from_millis(5))), Duration::from_millis(25));
        assert_eq!(release(Some(Duration::ZERO)), delay);
        // The default: half the delay.
        assert_eq!(release(None), Duration::from_millis(30));
        let tiny = Impairment { delay: Duration::from_millis(1), ..Impairment::default() };
        assert_eq!(reorder_hold(&tiny), Duration::from_millis(2));
    }

    #[test]
    fn held_datagrams_are_counted_and_overtaken_by_a_hold_s_worth() {
        // 100 Mbit/s (1400 bytes take 112 µs), 20 ms delay, 2 % held for 5 ms; arrivals back
        // to back at the link rate, so in-order releases are 112 µs apart and a held datagram
        // is overtaken by the in-order ones among the next 5 ms / 112 µs = 44.
        let imp = Impairment {
            rate_bps: Some(100e6),
            queue_bytes: u64::MAX,
            delay: Duration::from_millis(20),
            reorder: 0.02,
            reorder_hold: Some(Duration::from_millis(5)),
            ..Impairment::default()
        };
        let (counted, tail) = (10_000, 100);
        let run = |seed| {
            let mut s = Shaper::new(imp, seed);
            let t0 = Instant::now();
            let mut times = Vec::new();
            let mut held = 0;
            for i in 0..(counted + tail) as u64 {
                match s.admit(t0 + Duration::from_micros(i * 112), 1400) {
                    Fate::Deliver(at) => times.push(at - t0),
                    other => panic!("{other:?}"),
                }
                if i + 1 == counted as u64 {
                    held = s.held();
                }
            }
            (held, times)
        };
        let (held, times) = run(11);
        assert!((150..250).contains(&held), "{held}");
        assert!(run(11) == (held, times.clone()), "seeded");
        assert_ne!(run(12).0, held);
        // Nothing more than a hold's worth later can overtake (in-order releases only grow).
        let overtakers = |i: usize| times[i + 1..].iter().take(tail).filter(|t| **t < times[i]).count();
        let held_at: Vec<usize> = (0..counted).filter(|&i| overtakers(i) > 0).collect();
        assert_eq!(held_at.len() as u64, held);
        for &i in &held_at {
            let in_order_next = (i + 1..=i + 44).filter(|j| held_at.binary_search(j).is_err()).count();
            if i + 44 < counted {
                assert_eq!(overtakers(i), in_order_next, "datagram {i}");
            }
        }
    }
}
