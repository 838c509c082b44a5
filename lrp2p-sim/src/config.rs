//! Link configuration: what one direction of a simulated path does to the datagrams it carries.
//!
//! The model follows Linux netem with a token-bucket-free bottleneck in front of it:
//!
//! 1. **Loss** — independent random loss ([`LinkConfig::loss`]) and/or bursty loss from a
//!    Gilbert-Elliott two-state Markov chain ([`LinkConfig::burst_loss`]).
//! 2. **Duplication** — a surviving datagram is sent twice with probability
//!    [`LinkConfig::duplicate`]; the copy takes its own way through the queue.
//! 3. **Corruption** — one random bit of the original is flipped with probability
//!    [`LinkConfig::corrupt`].
//! 4. **Bottleneck** — a drop-tail FIFO queue of [`LinkConfig::queue_packets`] datagrams in front
//!    of a serializer of [`LinkConfig::rate_bps`]: `n` bytes occupy the link for `n·8 / rate`.
//! 5. **Propagation** — [`LinkConfig::delay`] plus [`Jitter`]. Jitter never reorders: a datagram
//!    never arrives before one that left earlier (netem's FIFO behaviour). Only a datagram picked
//!    for **reordering** (probability [`LinkConfig::reorder`]) is held back by an extra
//!    [`LinkConfig::reorder_delay`] and lets later datagrams overtake it.
//!
//! A **schedule** ([`LinkConfig::change`], [`LinkChange`]) changes the rate and the delay at
//! given moments of simulated time, counted from the network's epoch (see
//! [`Network::set_epoch`](crate::Network::set_epoch)). It is applied per datagram, at the
//! datagram's own times: a datagram is serialized at the rate in force when its serialization
//! starts and propagated with the delay in force when it leaves the serializer. So a rate change
//! at `T` is exact to one datagram's serialization time, whatever the queue holds at `T`.

use std::time::Duration;

/// The datagram size assumed when the default queue limit is derived from the bandwidth-delay
/// product (LRP2P's default datagram size, DESIGN "Wire format").
pub const DEFAULT_MSS: usize = 1400;

/// The default extra hold-back of a reordered datagram.
pub const DEFAULT_REORDER_DELAY: Duration = Duration::from_millis(5);

/// Random variation of the one-way delay.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Jitter {
    /// Constant delay.
    #[default]
    None,
    /// Uniformly distributed in `[-j, +j]` around the delay.
    Uniform(Duration),
    /// Normally distributed around the delay with this standard deviation.
    Normal(Duration),
}

impl Jitter {
    /// The largest deviation the distribution can produce (`None` for the unbounded normal).
    pub fn bound(&self) -> Option<Duration> {
        match *self {
            Jitter::None => Some(Duration::ZERO),
            Jitter::Uniform(j) => Some(j),
            Jitter::Normal(_) => None,
        }
    }
}

/// Gilbert-Elliott two-state burst-loss model.
///
/// Before each datagram the chain moves (on a rate-limited link once per datagram-sized slot of
/// time, idle slots included: see `Link`): from *good* to *bad* with probability
/// [`p_good_to_bad`](Self::p_good_to_bad), from *bad* back to *good* with
/// [`p_bad_to_good`](Self::p_bad_to_good). The datagram is then lost with the loss probability of
/// the state it is in. The stationary probability of *bad* is `p / (p + r)`, so the average loss
/// is `(r·loss_good + p·loss_bad) / (p + r)` and bursts in *bad* last `1 / r` datagrams on average.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GilbertElliott {
    /// Probability of moving from the good to the bad state (`p`).
    pub p_good_to_bad: f64,
    /// Probability of moving from the bad to the good state (`r`).
    pub p_bad_to_good: f64,
    /// Loss probability while in the bad state (`1 - h` in the literature).
    pub loss_bad: f64,
    /// Loss probability while in the good state (`1 - k`; usually 0).
    pub loss_good: f64,
}

impl GilbertElliott {
    /// The model with the given average loss, in bursts of `mean_burst` datagrams on average
    /// (everything is lost in the bad state, nothing in the good one).
    ///
    /// `average` is clamped to `[0, 0.99]` and `mean_burst` to at least 1.
    pub fn with_average_loss(average: f64, mean_burst: f64) -> Self {
        let average = average.clamp(0.0, 0.99);
        let r = 1.0 / mean_burst.max(1.0);
        // Stationary π_bad = p / (p + r) = average  ⇒  p = average · r / (1 − average).
        let p = average * r / (1.0 - average);
        Self { p_good_to_bad: p.min(1.0), p_bad_to_good: r, loss_bad: 1.0, loss_good: 0.0 }
    }

    /// The long-run fraction of datagrams this model loses.
    pub fn average_loss(&self) -> f64 {
        let (p, r) = (self.p_good_to_bad, self.p_bad_to_good);
        if p + r <= 0.0 {
            return self.loss_good;
        }
        (r * self.loss_good + p * self.loss_bad) / (p + r)
    }
}

/// A change of a link's rate and/or one-way delay at a moment of simulated time (see the
/// [module](self) on how a schedule is applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkChange {
    /// When the change takes effect, counted from the network's epoch.
    pub at: Duration,
    /// The bottleneck rate from then on, in bit/s (0 = unlimited); `None` leaves it.
    pub rate_bps: Option<u64>,
    /// The one-way delay from then on; `None` leaves it.
    pub delay: Option<Duration>,
}

impl LinkChange {
    /// The rate becomes `rate_bps` at `at`.
    pub fn rate(at: Duration, rate_bps: u64) -> Self {
        Self { at, rate_bps: Some(rate_bps), delay: None }
    }

    /// The one-way delay becomes `delay` at `at`.
    pub fn delay(at: Duration, delay: Duration) -> Self {
        Self { at, rate_bps: None, delay: Some(delay) }
    }
}

/// What one direction of a simulated path does to the datagrams it carries.
///
/// All probabilities are per datagram in `[0, 1]`. The [`Default`] is a perfect link: no delay,
/// no impairment, unlimited rate.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkConfig {
    /// One-way propagation delay.
    pub delay: Duration,
    /// Variation of the propagation delay (never reorders by itself).
    pub jitter: Jitter,
    /// Independent random loss probability.
    pub loss: f64,
    /// Bursty loss, applied in addition to [`loss`](Self::loss).
    pub burst_loss: Option<GilbertElliott>,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
    /// Probability that a datagram is held back by [`reorder_delay`](Self::reorder_delay) and
    /// overtaken by the datagrams after it.
    pub reorder: f64,
    /// Extra delay of a reordered datagram.
    pub reorder_delay: Duration,
    /// Probability that one random bit of a datagram is flipped.
    pub corrupt: f64,
    /// Bottleneck rate in bit/s; 0 means unlimited (no serialization delay, no queue).
    pub rate_bps: u64,
    /// Drop-tail queue limit in datagrams, counting the one being serialized. `None` means one
    /// bandwidth-delay product at this rate and an RTT of twice [`delay`](Self::delay), in
    /// datagrams of [`DEFAULT_MSS`] bytes (see [`effective_queue_limit`](Self::effective_queue_limit)).
    pub queue_packets: Option<usize>,
    /// Changes of rate and delay over time, in order of [`LinkChange::at`]. The queue limit
    /// stays what the initial configuration makes it.
    pub schedule: Vec<LinkChange>,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            delay: Duration::ZERO,
            jitter: Jitter::None,
            loss: 0.0,
            burst_loss: None,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: DEFAULT_REORDER_DELAY,
            corrupt: 0.0,
            rate_bps: 0,
            queue_packets: None,
            schedule: Vec::new(),
        }
    }
}

impl LinkConfig {
    /// A perfect link (same as [`Default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the one-way delay.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Sets the jitter.
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the independent random loss probability.
    pub fn loss(mut self, p: f64) -> Self {
        self.loss = p;
        self
    }

    /// Sets the Gilbert-Elliott burst-loss model.
    pub fn burst_loss(mut self, model: GilbertElliott) -> Self {
        self.burst_loss = Some(model);
        self
    }

    /// Sets the duplication probability.
    pub fn duplicate(mut self, p: f64) -> Self {
        self.duplicate = p;
        self
    }

    /// Sets the reordering probability (the hold-back stays [`reorder_delay`](Self::reorder_delay)).
    pub fn reorder(mut self, p: f64) -> Self {
        self.reorder = p;
        self
    }

    /// Sets the extra delay of a reordered datagram.
    pub fn reorder_delay(mut self, extra: Duration) -> Self {
        self.reorder_delay = extra;
        self
    }

    /// Sets the bit-corruption probability.
    pub fn corrupt(mut self, p: f64) -> Self {
        self.corrupt = p;
        self
    }

    /// Sets the bottleneck rate in bit/s (0 = unlimited).
    pub fn rate_bps(mut self, rate: u64) -> Self {
        self.rate_bps = rate;
        self
    }

    /// Sets the drop-tail queue limit in datagrams.
    pub fn queue_packets(mut self, limit: usize) -> Self {
        self.queue_packets = Some(limit);
        self
    }

    /// Adds a change to the [schedule](Self::schedule), after every change at the same time or
    /// earlier (so a later call wins over an earlier one at the same instant).
    pub fn change(mut self, change: LinkChange) -> Self {
        let index = self.schedule.partition_point(|c| c.at <= change.at);
        self.schedule.insert(index, change);
        self
    }

    /// The rate in force at `t` after the epoch: the last scheduled rate at or before `t`, else
    /// [`rate_bps`](Self::rate_bps).
    pub fn rate_at(&self, t: Duration) -> u64 {
        self.schedule
            .iter()
            .take_while(|c| c.at <= t)
            .filter_map(|c| c.rate_bps)
            .last()
            .unwrap_or(self.rate_bps)
    }

    /// The one-way delay in force at `t` after the epoch: the last scheduled delay at or before
    /// `t`, else [`delay`](Self::delay).
    pub fn delay_at(&self, t: Duration) -> Duration {
        self.schedule.iter().take_while(|c| c.at <= t).filter_map(|c| c.delay).last().unwrap_or(self.delay)
    }

    /// The bits the link can carry between `from` and `to` after the epoch: the rate integrated
    /// over the schedule (0 for a stretch of unlimited rate, and for `to <= from`).
    pub fn capacity_bits(&self, from: Duration, to: Duration) -> f64 {
        if to <= from {
            return 0.0;
        }
        // The rate is constant between consecutive change times.
        let mut edges: Vec<Duration> =
            self.schedule.iter().map(|c| c.at).filter(|&at| at > from && at < to).collect();
        edges.push(to);
        let mut bits = 0.0;
        let mut at = from;
        for edge in edges {
            bits += self.rate_at(at) as f64 * (edge - at).as_secs_f64();
            at = edge;
        }
        bits
    }

    /// The average rate between `from` and `to` in bit/s (the rate at `from` for an empty span).
    pub fn mean_rate_bps(&self, from: Duration, to: Duration) -> f64 {
        if to <= from {
            return self.rate_at(from) as f64;
        }
        self.capacity_bits(from, to) / (to - from).as_secs_f64()
    }

    /// The bandwidth-delay product at this link's rate and the given RTT, in datagrams of `mss`
    /// bytes, rounded up and at least 1: `⌈rate · rtt / (8 · mss)⌉`.
    ///
    /// An unlimited rate (0) has an unlimited BDP: `usize::MAX`.
    pub fn bdp_packets(&self, rtt: Duration, mss: usize) -> usize {
        if self.rate_bps == 0 {
            return usize::MAX;
        }
        let bits = u128::from(self.rate_bps) * rtt.as_nanos();
        let per_packet = 8 * 1_000_000_000 * (mss.max(1) as u128);
        let packets = bits.div_ceil(per_packet).max(1);
        usize::try_from(packets).unwrap_or(usize::MAX)
    }

    /// The queue limit in force: [`queue_packets`](Self::queue_packets) if set, otherwise
    /// [`bdp_packets`](Self::bdp_packets)`(2 · delay, DEFAULT_MSS)`.
    pub fn effective_queue_limit(&self) -> usize {
        self.queue_packets.unwrap_or_else(|| self.bdp_packets(self.delay.saturating_mul(2), DEFAULT_MSS))
    }

    /// The time `bytes` occupy the link, in nanoseconds, as an exact fraction: returns
    /// `(bytes · 8 · 10⁹)` — divide by [`rate_bps`](Self::rate_bps) for nanoseconds.
    pub(crate) fn serialization_numerator(bytes: usize) -> u128 {
        (bytes as u128) * 8 * 1_000_000_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bdp_of_100_mbit_and_50_ms() {
        // 100 Mbit/s × 50 ms = 625,000 bytes = 446.4 datagrams of 1400 bytes → 447.
        let cfg = LinkConfig::new().rate_bps(100_000_000);
        assert_eq!(cfg.bdp_packets(Duration::from_millis(50), 1400), 447);
        assert_eq!(cfg.bdp_packets(Duration::ZERO, 1400), 1);
        assert_eq!(LinkConfig::new().bdp_packets(Duration::from_millis(50), 1400), usize::MAX);
    }

    #[test]
    fn default_queue_is_one_bdp_at_twice_the_delay() {
        let cfg = LinkConfig::new().rate_bps(10_000_000).delay(Duration::from_millis(20));
        assert_eq!(cfg.effective_queue_limit(), cfg.bdp_packets(Duration::from_millis(40), DEFAULT_MSS));
        assert_eq!(cfg.clone().queue_packets(7).effective_queue_limit(), 7);
    }

    #[test]
    fn schedule_sets_rate_and_delay_from_each_change_on() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        let cfg = LinkConfig::new()
            .rate_bps(100)
            .delay(ms(20))
            .change(LinkChange::rate(s(3), 50))
            .change(LinkChange::delay(s(1), ms(40)))
            .change(LinkChange::rate(s(3), 25));
        // Kept in order of time; the later of two changes at one instant wins.
        assert_eq!(cfg.schedule.iter().map(|c| c.at).collect::<Vec<_>>(), [s(1), s(3), s(3)]);
        assert_eq!((cfg.rate_at(Duration::ZERO), cfg.rate_at(s(3) - ms(1))), (100, 100));
        assert_eq!((cfg.rate_at(s(3)), cfg.rate_at(s(100))), (25, 25));
        assert_eq!((cfg.delay_at(ms(999)), cfg.delay_at(s(1)), cfg.delay_at(s(9))), (ms(20), ms(40), ms(40)));
        // 2 s at 100 and 2 s at 25 bit/s.
        assert!((cfg.capacity_bits(s(1), s(5)) - 250.0).abs() < 1e-9);
        assert!((cfg.mean_rate_bps(s(1), s(5)) - 62.5).abs() < 1e-9);
        assert_eq!(cfg.capacity_bits(s(5), s(1)), 0.0);
    }

    #[test]
    fn gilbert_elliott_average() {
        let ge = GilbertElliott::with_average_loss(0.05, 4.0);
        assert!((ge.average_loss() - 0.05).abs() < 1e-12);
        assert!((ge.p_bad_to_good - 0.25).abs() < 1e-12);
    }
}
