//! A miniature path for BBR's tests, in virtual time: a sender with unlimited data, windowed
//! and paced by the controller, through a drop-tail bottleneck (rate, base RTT, buffer, random
//! loss) to a receiver that acknowledges every packet at once, over a clean return path.
//!
//! The sender keeps the connection's books as `arq/send` does: delivery-rate samples after
//! draft-cheng-iccrg-delivery-rate-estimation-02 (one packet per ACK, so `P` is the packet
//! acknowledged), a loss once three packets sent after it are acknowledged (RFC 6675's
//! DupThresh), a retransmission timeout when nothing is left to acknowledge. Lost data is not
//! resent: for the controller only the volumes matter.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use super::{Bbr, BbrConfig, BbrState};
use crate::congestion::{Ack, Controller, LostPacket, RateSample, RttEstimator, SentPacket, f64_to_u64};

/// Bytes per packet (`C.SMSS`).
pub(super) const MSS: u64 = 1400;

/// The bottleneck.
#[derive(Clone, Copy, Debug)]
pub(super) struct Path {
    /// Bytes per second.
    pub(super) rate: u64,
    /// Round-trip propagation delay.
    pub(super) rtt: Duration,
    /// Drop-tail buffer in bytes.
    pub(super) buffer: u64,
    /// Random loss probability per packet, before the queue.
    pub(super) loss: f64,
}

impl Path {
    /// `mbit` Mbit/s, `rtt_ms` ms, a buffer of `bdps` bandwidth-delay products, `loss`.
    pub(super) fn new(mbit: u64, rtt_ms: u64, bdps: f64, loss: f64) -> Self {
        let rate = mbit * 1_000_000 / 8;
        let rtt = Duration::from_millis(rtt_ms);
        let bdp = rate as f64 * rtt.as_secs_f64();
        Self { rate, rtt, buffer: f64_to_u64(bdp * bdps), loss }
    }

    /// One BDP in bytes.
    pub(super) fn bdp(&self) -> u64 {
        f64_to_u64(self.rate as f64 * self.rtt.as_secs_f64())
    }
}

/// The sender's record of a packet in flight.
#[derive(Clone, Copy, Debug)]
struct Packet {
    seq: u64,
    sent: Instant,
    delivered: u64,
    delivered_time: Instant,
    first_sent_time: Instant,
    tx_in_flight: u64,
    lost: u64,
    /// When its ACK arrives; `None`: dropped.
    ack_at: Option<Instant>,
}

/// What the controller looked like after an ACK.
#[derive(Clone, Copy, Debug)]
pub(super) struct Snapshot {
    pub(super) at: Duration,
    pub(super) state: BbrState,
    pub(super) cwnd: u64,
    pub(super) max_bw: u64,
    pub(super) inflight_longterm: u64,
    pub(super) cycle_count: u64,
}

/// The path, the sender and its controller.
pub(super) struct Testbed {
    pub(super) cc: Bbr,
    pub(super) path: Path,
    rng: ChaCha8Rng,
    start: Instant,
    now: Instant,
    rtt: RttEstimator,
    next_seq: u64,
    next_send: Instant,
    inflight: u64,
    outstanding: VecDeque<Packet>,
    /// `C.delivered`, `C.delivered_time`, `C.first_sent_time`, `C.lost`.
    delivered: u64,
    delivered_time: Instant,
    first_sent_time: Instant,
    lost: u64,
    link_free_at: Instant,
    /// Every state change, with its time since the start.
    pub(super) transitions: Vec<(Duration, BbrState)>,
    /// The controller after every ACK.
    pub(super) snapshots: Vec<Snapshot>,
    pub(super) timeouts: u64,
}

impl Testbed {
    /// A sender starting at `start` on `path`, losing packets with a generator from `seed`.
    pub(super) fn new(start: Instant, path: Path, seed: u64) -> Self {
        let cc = Bbr::new(&BbrConfig::default(), start, MSS);
        Self {
            transitions: vec![(Duration::ZERO, cc.state())],
            cc,
            path,
            rng: ChaCha8Rng::seed_from_u64(seed),
            start,
            now: start,
            rtt: RttEstimator::default(),
            next_seq: 0,
            next_send: start,
            inflight: 0,
            outstanding: VecDeque::new(),
            delivered: 0,
            delivered_time: start,
            first_sent_time: start,
            lost: 0,
            link_free_at: start,
            snapshots: Vec::new(),
            timeouts: 0,
        }
    }

    /// Time since the start.
    pub(super) fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Bytes delivered so far.
    pub(super) fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Runs until `elapsed` since the start.
    pub(super) fn run_until(&mut self, elapsed: Duration) {
        let end = self.start + elapsed;
        loop {
            let next_ack = self.outstanding.iter().find_map(|p| p.ack_at);
            let may_send = self.inflight + MSS <= self.cc.window();
            let next_send = may_send.then(|| self.next_send.max(self.now));
            let next = match (next_ack, next_send) {
                (Some(a), Some(s)) => a.min(s),
                (Some(a), None) => a,
                (None, Some(s)) => s,
                (None, None) => {
                    // Nothing will be acknowledged: the retransmission timer fires.
                    self.now += self.path.rtt * 3;
                    self.timeout();
                    continue;
                }
            };
            if next > end {
                self.now = end;
                return;
            }
            self.now = next;
            if next_ack == Some(next) {
                self.ack();
            } else {
                self.send();
            }
        }
    }

    fn send(&mut self) {
        let now = self.now;
        let prior_in_flight = self.inflight;
        if prior_in_flight == 0 {
            self.first_sent_time = now;
            self.delivered_time = now;
        }
        self.cc.on_sent(&SentPacket { now, bytes: MSS, prior_in_flight, app_limited: false });
        self.inflight += MSS;
        let rate = self.cc.pacing_rate().unwrap_or(u64::MAX).max(1);
        let gap = Duration::from_nanos(
            u64::try_from(u128::from(MSS) * 1_000_000_000 / u128::from(rate)).unwrap_or(u64::MAX),
        );
        self.next_send = self.next_send.max(now) + gap;

        // The bottleneck: random loss, then the drop-tail queue, then the wire.
        let random_loss = (self.rng.next_u64() as f64 / u64::MAX as f64) < self.path.loss;
        let queued = self.link_free_at.saturating_duration_since(now).as_secs_f64() * self.path.rate as f64;
        let ack_at = if random_loss || queued + MSS as f64 > self.path.buffer.max(MSS) as f64 {
            None
        } else {
            let serialization = Duration::from_secs_f64(MSS as f64 / self.path.rate.max(1) as f64);
            self.link_free_at = self.link_free_at.max(now) + serialization;
            Some(self.link_free_at + self.path.rtt)
        };
        self.outstanding.push_back(Packet {
            seq: self.next_seq,
            sent: now,
            delivered: self.delivered,
            delivered_time: self.delivered_time,
            first_sent_time: self.first_sent_time,
            tx_in_flight: self.inflight,
            lost: self.lost,
            ack_at,
        });
        self.next_seq += 1;
    }

    fn ack(&mut self) {
        let now = self.now;
        let Some(index) = self.outstanding.iter().position(|p| p.ack_at.is_some()) else { return };
        let Some(p) = self.outstanding.remove(index) else { return };
        self.delivered += MSS;
        self.delivered_time = now;
        self.inflight -= MSS;
        self.rtt.update(now - p.sent, Duration::ZERO);
        // DupThresh: packets three or more below the one acknowledged are lost.
        let mut lost_bytes = 0;
        while self.outstanding.front().is_some_and(|q| q.ack_at.is_none() && q.seq + 3 <= p.seq) {
            let Some(q) = self.outstanding.pop_front() else { break };
            self.lost += MSS;
            self.inflight -= MSS;
            lost_bytes += MSS;
            self.cc.on_lost(&LostPacket {
                now,
                sent: q.sent,
                bytes: MSS,
                tx_in_flight: q.tx_in_flight,
                lost_since_sent: self.lost - q.lost,
                is_app_limited: false,
            });
        }
        // draft-cheng §3.3: the sample from P, the packet acknowledged.
        let send_elapsed = p.sent - p.first_sent_time;
        let ack_elapsed = now - p.delivered_time;
        self.first_sent_time = p.sent;
        let interval = send_elapsed.max(ack_elapsed);
        let rate = (interval >= self.rtt.min_rtt().unwrap_or_default() && !interval.is_zero()).then(|| {
            let delivered = self.delivered - p.delivered;
            RateSample {
                delivered,
                interval,
                delivery_rate: u64::try_from(u128::from(delivered) * 1_000_000_000 / interval.as_nanos())
                    .unwrap_or(u64::MAX),
                prior_delivered: p.delivered,
                is_app_limited: false,
                tx_in_flight: p.tx_in_flight,
                lost: self.lost - p.lost,
                rtt: now - p.sent,
            }
        });
        self.cc.on_ack(&Ack {
            now,
            acked_bytes: MSS,
            lost_bytes,
            largest_acked_sent: Some(p.sent),
            bytes_in_flight: self.inflight,
            delivered: self.delivered,
            app_limited: false,
            rate,
            rtt: &self.rtt,
        });
        self.record();
    }

    /// Every packet in flight is lost and the controller hears of the timeout.
    fn timeout(&mut self) {
        for p in self.outstanding.drain(..) {
            if p.ack_at.is_none() {
                self.lost += MSS;
            }
        }
        self.inflight = 0;
        self.timeouts += 1;
        self.cc.on_retransmission_timeout(self.now);
        self.record();
    }

    fn record(&mut self) {
        let at = self.elapsed();
        let state = self.cc.state();
        if self.transitions.last().is_none_or(|&(_, last)| last != state) {
            self.transitions.push((at, state));
        }
        self.snapshots.push(Snapshot {
            at,
            state,
            cwnd: self.cc.window(),
            max_bw: self.cc.max_bw(),
            inflight_longterm: self.cc.inflight_longterm(),
            cycle_count: self.cc.model.cycle_count(),
        });
    }
}
