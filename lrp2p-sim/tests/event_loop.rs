//! The simulator's event loop: time jumps from event to event, deadlines in the past count as
//! now, livelocks are reported, strays are counted, runs stop and resume at time limits.

#![allow(clippy::unwrap_used)]

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use lrp2p_sim::scenario::{ScenarioParams, toy_traffic};
use lrp2p_sim::{LinkConfig, Node, RunOutcome, SimError, Simulator};

fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([192, 168, 0, i], 7000))
}

/// Sends one ping to `peer` at its first poll and records the round-trip time of the echo.
struct Pinger {
    peer: SocketAddr,
    sent_at: Option<Instant>,
    rtt: Rc<Cell<Option<Duration>>>,
}

impl Node for Pinger {
    fn handle_datagram(&mut self, now: Instant, _from: SocketAddr, data: &mut [u8]) {
        assert_eq!(data, b"pong");
        self.rtt.set(self.sent_at.map(|t| now - t));
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        if self.sent_at.is_some() {
            return None;
        }
        self.sent_at = Some(now);
        buf[..4].copy_from_slice(b"ping");
        Some((self.peer, 4))
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn is_done(&self) -> bool {
        self.rtt.get().is_some()
    }
}

/// Answers every ping with a pong; passive.
#[derive(Default)]
struct Ponger {
    to_answer: Vec<SocketAddr>,
}

impl Node for Ponger {
    fn handle_datagram(&mut self, _now: Instant, from: SocketAddr, data: &mut [u8]) {
        assert_eq!(data, b"ping");
        self.to_answer.push(from);
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        let to = self.to_answer.pop()?;
        buf[..4].copy_from_slice(b"pong");
        Some((to, 4))
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn is_done(&self) -> bool {
        true
    }
}

/// Wakes every `period` from `next` on, `limit` times, recording when; never done.
struct Ticker {
    next: Option<Instant>,
    period: Duration,
    limit: u64,
    ticks: Rc<Cell<u64>>,
    last: Rc<Cell<Option<Instant>>>,
}

impl Node for Ticker {
    fn handle_datagram(&mut self, _now: Instant, _from: SocketAddr, _data: &mut [u8]) {}
    fn handle_timeout(&mut self, now: Instant) {
        let due = self.next.unwrap();
        assert!(now >= due, "fired early");
        self.ticks.set(self.ticks.get() + 1);
        self.last.set(Some(now));
        self.next = (self.ticks.get() < self.limit).then(|| due + self.period);
    }
    fn poll_transmit(&mut self, _now: Instant, _buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }
    fn is_done(&self) -> bool {
        false
    }
}

/// What a test keeps of a [`Ticker`]: its tick count and the time of its last tick.
type TickerProbe = (Rc<Cell<u64>>, Rc<Cell<Option<Instant>>>);

fn ticker(next: Instant, period: Duration, limit: u64) -> (Ticker, TickerProbe) {
    let (ticks, last) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(None)));
    (Ticker { next: Some(next), period, limit, ticks: ticks.clone(), last: last.clone() }, (ticks, last))
}

/// Keeps a deadline in the past and never moves it.
struct Stuck(Instant);

impl Node for Stuck {
    fn handle_datagram(&mut self, _now: Instant, _from: SocketAddr, _data: &mut [u8]) {}
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_transmit(&mut self, _now: Instant, _buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.0)
    }
    fn is_done(&self) -> bool {
        false
    }
}

/// Always has another datagram for `0`.
struct Flooder(SocketAddr);

impl Node for Flooder {
    fn handle_datagram(&mut self, _now: Instant, _from: SocketAddr, _data: &mut [u8]) {}
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_transmit(&mut self, _now: Instant, _buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        Some((self.0, 10))
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn is_done(&self) -> bool {
        false
    }
}

#[test]
fn ping_pong_round_trip_time() {
    let mut sim: Simulator = Simulator::new(1, LinkConfig::new().delay(Duration::from_millis(25)));
    let rtt = Rc::new(Cell::new(None));
    sim.add_node(addr(1), Box::new(Pinger { peer: addr(2), sent_at: None, rtt: rtt.clone() })).unwrap();
    sim.add_node(addr(2), Box::new(Ponger::default())).unwrap();
    assert_eq!(sim.run_until(Duration::from_secs(10)), Ok(RunOutcome::AllDone));
    assert_eq!(rtt.get(), Some(Duration::from_millis(50)));
    assert_eq!(sim.elapsed(), Duration::from_millis(50));
}

#[test]
fn time_jumps_to_the_next_event() {
    let mut sim: Simulator = Simulator::new(1, LinkConfig::new());
    let first = sim.start() + Duration::from_millis(100);
    let (t, (ticks, last)) = ticker(first, Duration::from_millis(100), 50);
    sim.add_node(addr(1), Box::new(t)).unwrap();
    // A week of simulated time, yet exactly 50 wake-ups: nothing happens between events.
    assert_eq!(sim.run_until(Duration::from_secs(7 * 86_400)), Ok(RunOutcome::Idle));
    assert_eq!(ticks.get(), 50);
    assert_eq!(last.get(), Some(sim.start() + Duration::from_secs(5)));
    assert_eq!(sim.elapsed(), Duration::from_secs(5));
}

#[test]
fn past_deadline_is_treated_as_now() {
    let mut sim: Simulator = Simulator::new(1, LinkConfig::new());
    let past = sim.start().checked_sub(Duration::from_secs(1)).unwrap_or(sim.start());
    let (t, (ticks, last)) = ticker(past, Duration::from_secs(2), 2);
    sim.add_node(addr(1), Box::new(t)).unwrap();
    assert_eq!(sim.run_until(Duration::from_secs(10)), Ok(RunOutcome::Idle));
    assert_eq!(ticks.get(), 2);
    // Fired at the start (not in the past), then 2 s after the stale deadline.
    assert_eq!(last.get(), Some(past + Duration::from_secs(2)));
}

#[test]
fn stuck_deadline_is_reported_as_livelock() {
    let mut sim: Simulator = Simulator::new(1, LinkConfig::new());
    sim.set_livelock_limits(1_000, 1_000);
    let (t, _) = ticker(sim.start() + Duration::from_secs(1), Duration::from_secs(1), 10);
    sim.add_node(addr(1), Box::new(t)).unwrap();
    sim.add_node(addr(2), Box::new(Stuck(sim.start() + Duration::from_millis(300)))).unwrap();
    let err = sim.run_until(Duration::from_secs(10)).unwrap_err();
    assert_eq!(
        err,
        SimError::Livelock { at: Duration::from_millis(300), rounds: 1_000, node: Some(addr(2)) }
    );
}

#[test]
fn endless_transmit_is_reported_as_livelock() {
    let mut sim: Simulator = Simulator::new(1, LinkConfig::new());
    sim.set_livelock_limits(1_000, 5_000);
    sim.add_node(addr(1), Box::new(Flooder(addr(2)))).unwrap();
    sim.add_node(addr(2), Box::new(Ponger::default())).unwrap();
    let err = sim.run_until(Duration::from_secs(1)).unwrap_err();
    assert!(matches!(err, SimError::Livelock { at: Duration::ZERO, node: Some(a), .. } if a == addr(1)));
}

#[test]
fn unknown_destination_is_dropped_and_counted() {
    let mut sim: Simulator = Simulator::new(1, LinkConfig::new());
    let rtt = Rc::new(Cell::new(None));
    sim.add_node(addr(1), Box::new(Pinger { peer: addr(9), sent_at: None, rtt: rtt.clone() })).unwrap();
    assert_eq!(sim.run_until(Duration::from_secs(1)), Ok(RunOutcome::Idle));
    let total = sim.network().total_stats();
    assert_eq!((total.offered, total.dropped_unknown, total.delivered), (1, 1, 0));
    assert!(total.is_balanced());
    assert_eq!(rtt.get(), None);
}

#[test]
fn time_limit_stops_the_run_and_resumes() {
    let mut sim: Simulator = Simulator::new(1, LinkConfig::new());
    let (t, (ticks, _)) = ticker(sim.start() + Duration::from_millis(100), Duration::from_millis(100), 1_000);
    sim.add_node(addr(1), Box::new(t)).unwrap();
    assert_eq!(sim.run_until(Duration::from_secs(1)), Ok(RunOutcome::TimeLimit));
    assert_eq!(ticks.get(), 10);
    assert_eq!(sim.elapsed(), Duration::from_secs(1));
    assert_eq!(sim.run_until(Duration::from_millis(2_050)), Ok(RunOutcome::TimeLimit));
    assert_eq!(ticks.get(), 20);
    assert_eq!(sim.elapsed(), Duration::from_millis(2_050));
}

#[test]
fn duplicate_address_is_refused() {
    let mut sim: Simulator = Simulator::new(1, LinkConfig::new());
    sim.add_node(addr(1), Box::new(Ponger::default())).unwrap();
    assert_eq!(
        sim.add_node(addr(1), Box::new(Ponger::default())).unwrap_err(),
        SimError::DuplicateAddress(addr(1))
    );
}

#[test]
fn shared_bottleneck_divides_the_rate_fairly() {
    let mut params = ScenarioParams::new(5, 40_000_000, Duration::from_millis(30), 8_000_000);
    params.flows = 4;
    params.link = params.link.clone().loss(0.01);
    let report = toy_traffic(&params).unwrap();
    let s = &report.summary;
    assert!(s.ok);
    assert!(s.jain_fairness > 0.99, "fairness {}", s.jain_fairness);
    // Everything offered fits the bottleneck, so only random loss takes its share.
    assert!((s.efficiency - 0.99).abs() < 0.03, "efficiency {}", s.efficiency);
    let forward = &report.links[0].1;
    assert_eq!(forward.dropped_queue, 0);
    assert!(forward.max_queue_depth <= 4);
    assert!(s.first_byte_ms.is_some_and(|ms| (ms - 15.0).abs() < 1.0));
}
