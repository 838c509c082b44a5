//! One simulated link: the seeded state machine that turns an offered datagram into zero, one or
//! two scheduled arrivals (see [`crate::config`] for the model).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::config::{DEFAULT_MSS, GilbertElliott, Jitter, LinkConfig};
use crate::stats::LinkStats;

/// State of one link direction (or shared bottleneck).
#[derive(Debug)]
pub(crate) struct Link {
    /// Human-readable name, for tables.
    label: String,
    /// What the link does.
    config: LinkConfig,
    /// The drop-tail limit in force (datagrams, the one in service included).
    queue_limit: usize,
    /// This link's own random stream.
    rng: ChaCha8Rng,
    /// Whether the Gilbert-Elliott chain is in its bad state.
    burst_bad: bool,
    /// When the chain last stepped.
    burst_at: Option<Instant>,
    /// When the serializer finishes the last accepted datagram.
    busy_until: Option<Instant>,
    /// Fraction of a nanosecond carried between serialization times (numerator over the rate),
    /// so that long runs keep the exact rate.
    remainder: u128,
    /// The rate `remainder` is a fraction of (a scheduled change of rate drops the rest).
    remainder_rate: u64,
    /// Departure times of the datagrams in the queue, oldest first.
    departures: VecDeque<Instant>,
    /// Arrival time of the last datagram that keeps FIFO order.
    last_fifo_arrival: Option<Instant>,
    /// Counters.
    stats: LinkStats,
}

/// Whether an event of probability `p` happens. Draws nothing when `p <= 0`.
fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    p > 0.0 && rng.r#gen::<f64>() < p
}

impl Link {
    /// A fresh, idle link.
    pub(crate) fn new(label: String, config: LinkConfig, rng: ChaCha8Rng) -> Self {
        let queue_limit = config.effective_queue_limit();
        Self {
            label,
            config,
            queue_limit,
            rng,
            burst_bad: false,
            burst_at: None,
            busy_until: None,
            remainder: 0,
            remainder_rate: 0,
            departures: VecDeque::new(),
            last_fifo_arrival: None,
            stats: LinkStats::default(),
        }
    }

    /// The link's name.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    /// The link's configuration.
    pub(crate) fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// The link's counters.
    pub(crate) fn stats(&self) -> &LinkStats {
        &self.stats
    }

    /// Counts a datagram that could not be routed (no node at the destination).
    pub(crate) fn count_unknown(&mut self, len: usize) {
        self.stats.offered += 1;
        self.stats.bytes_offered += len as u64;
        self.stats.dropped_unknown += 1;
    }

    /// Counts a delivered datagram of `len` bytes.
    pub(crate) fn count_delivered(&mut self, len: usize) {
        self.stats.delivered += 1;
        self.stats.bytes_delivered += len as u64;
        self.stats.in_flight = self.stats.in_flight.saturating_sub(1);
    }

    /// Offers a datagram at `now`; the [schedule](LinkConfig::schedule) counts from `epoch`.
    /// Each copy that will arrive is pushed onto `out` with its arrival
    /// time; a dropped datagram is handed back for buffer reuse.
    pub(crate) fn offer(
        &mut self,
        now: Instant,
        epoch: Instant,
        mut data: Vec<u8>,
        out: &mut Vec<(Instant, Vec<u8>)>,
    ) -> Option<Vec<u8>> {
        self.stats.offered += 1;
        self.stats.bytes_offered += data.len() as u64;

        if self.lose(now, epoch) {
            self.stats.dropped_loss += 1;
            return Some(data);
        }
        // The copy is taken before corruption: netem corrupts one of the two.
        let copy = chance(&mut self.rng, self.config.duplicate).then(|| data.clone());
        if chance(&mut self.rng, self.config.corrupt) && !data.is_empty() {
            let bit = self.rng.gen_range(0..data.len() * 8);
            data[bit / 8] ^= 1 << (bit % 8);
            self.stats.corrupted += 1;
        }
        let mut spare = self.enqueue(now, epoch, data, out);
        if let Some(copy) = copy {
            self.stats.duplicated += 1;
            spare = self.enqueue(now, epoch, copy, out).or(spare);
        }
        spare
    }

    /// Runs the loss models for one datagram offered at `now`: true if it is lost.
    fn lose(&mut self, now: Instant, epoch: Instant) -> bool {
        let mut lost = false;
        if let Some(ge) = self.config.burst_loss {
            self.idle_burst_steps(now, epoch, &ge);
            let flip = if self.burst_bad { ge.p_bad_to_good } else { ge.p_good_to_bad };
            if chance(&mut self.rng, flip) {
                self.burst_bad = !self.burst_bad;
            }
            lost = chance(&mut self.rng, if self.burst_bad { ge.loss_bad } else { ge.loss_good });
        }
        // Drawn even after a burst loss, so that the two models stay independent streams.
        let random = chance(&mut self.rng, self.config.loss);
        lost || random
    }

    /// On a rate-limited link the Gilbert-Elliott chain steps once per slot of one
    /// [`DEFAULT_MSS`] datagram on the wire, idle slots included: a burst is a stretch of time on
    /// the link, not of one sender's datagrams (stepping per datagram only, as netem does, makes
    /// a sender that backs off to one datagram per timeout sit in the bad state for minutes).
    /// The idle slots since the last datagram are stepped in closed form:
    /// `P(bad after n) = π + (P(bad now) − π)·(1 − p − r)^n`, with `π = p / (p + r)`.
    fn idle_burst_steps(&mut self, now: Instant, epoch: Instant, ge: &GilbertElliott) {
        let last = self.burst_at.replace(now);
        let rate = self.config.rate_at(now.saturating_duration_since(epoch));
        let Some(last) = last.filter(|_| rate > 0) else { return };
        let slot_secs = (DEFAULT_MSS * 8) as f64 / rate as f64;
        // The datagram's own step follows; idle slots are the ones before it.
        let idle = (now.saturating_duration_since(last).as_secs_f64() / slot_secs - 1.0).floor();
        let (p, r) = (ge.p_good_to_bad, ge.p_bad_to_good);
        if idle < 1.0 || p + r <= 0.0 {
            return;
        }
        let pi = p / (p + r);
        let start = if self.burst_bad { 1.0 } else { 0.0 };
        let p_bad = pi + (start - pi) * (1.0 - p - r).powf(idle);
        self.burst_bad = chance(&mut self.rng, p_bad.clamp(0.0, 1.0));
    }

    /// Puts one copy through the queue, the serializer and the propagation delay.
    fn enqueue(
        &mut self,
        now: Instant,
        epoch: Instant,
        data: Vec<u8>,
        out: &mut Vec<(Instant, Vec<u8>)>,
    ) -> Option<Vec<u8>> {
        let since = |t: Instant| t.saturating_duration_since(epoch);
        let departure = match self.config.rate_at(since(now)) {
            0 => now,
            _ => {
                while self.departures.front().is_some_and(|&d| d <= now) {
                    self.departures.pop_front();
                }
                if self.departures.len() >= self.queue_limit {
                    self.stats.dropped_queue += 1;
                    return Some(data);
                }
                let start = self.busy_until.filter(|&b| b > now).unwrap_or(now);
                // Serialized at the rate in force when its serialization starts (a rate that
                // became unlimited by then sends it at once).
                let rate = self.config.rate_at(since(start));
                if rate != self.remainder_rate {
                    self.remainder = 0;
                    self.remainder_rate = rate;
                }
                // n bytes occupy the link for n·8/rate seconds; the sub-nanosecond rest is carried.
                let nanos = match u128::from(rate) {
                    0 => 0,
                    rate => {
                        let numerator = LinkConfig::serialization_numerator(data.len()) + self.remainder;
                        self.remainder = numerator % rate;
                        u64::try_from(numerator / rate).unwrap_or(u64::MAX)
                    }
                };
                let departure = start.checked_add(Duration::from_nanos(nanos)).unwrap_or(start);
                self.busy_until = Some(departure);
                self.departures.push_back(departure);
                self.stats.max_queue_depth = self.stats.max_queue_depth.max(self.departures.len() as u64);
                departure
            }
        };

        let mut arrival = self.propagate(departure, self.config.delay_at(since(departure)));
        if chance(&mut self.rng, self.config.reorder) {
            // Held back and exempt from FIFO order: later datagrams overtake it.
            self.stats.reordered += 1;
            arrival = arrival.checked_add(self.config.reorder_delay).unwrap_or(arrival);
        } else {
            // Jitter never reorders (netem's FIFO behaviour).
            if let Some(last) = self.last_fifo_arrival {
                arrival = arrival.max(last);
            }
            self.last_fifo_arrival = Some(arrival);
        }
        self.stats.in_flight += 1;
        out.push((arrival, data));
        None
    }

    /// Departure plus `delay` plus jitter, never before the departure.
    fn propagate(&mut self, departure: Instant, delay: Duration) -> Instant {
        let (early, deviation) = match self.config.jitter {
            Jitter::None => (false, Duration::ZERO),
            Jitter::Uniform(j) if j.is_zero() => (false, Duration::ZERO),
            Jitter::Uniform(j) => {
                let bound = u64::try_from(j.as_nanos()).unwrap_or(u64::MAX);
                let offset = self.rng.gen_range(0..=bound.saturating_mul(2));
                match offset.checked_sub(bound) {
                    Some(late) => (false, Duration::from_nanos(late)),
                    None => (true, Duration::from_nanos(bound - offset)),
                }
            }
            Jitter::Normal(sigma) => {
                // Box-Muller: z = √(−2 ln u₁) · cos(2π u₂) is standard normal for u₁ ∈ (0, 1].
                let u1 = 1.0 - self.rng.r#gen::<f64>();
                let u2 = self.rng.r#gen::<f64>();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                let magnitude = Duration::try_from_secs_f64(z.abs() * sigma.as_secs_f64()).unwrap_or(delay);
                (z < 0.0, magnitude)
            }
        };
        let one_way = if early { delay.saturating_sub(deviation) } else { delay.saturating_add(deviation) };
        departure.checked_add(one_way).unwrap_or(departure)
    }
}
