//! A seed replays a run exactly; another seed gives another run.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use lrp2p_sim::scenario::{ScenarioParams, dumbbell, toy_traffic};
use lrp2p_sim::toy::{ToyNode, ToyReceiver, ToySender};
use lrp2p_sim::{GilbertElliott, Jitter, LinkConfig, LinkStats, Simulator};

/// Everything observable about a run: every link's counters, the receiver's arrival order, and
/// the simulated times of the first and last arrival.
#[derive(Debug, PartialEq, Eq)]
struct Trace {
    links: Vec<(String, LinkStats)>,
    order: Vec<(u32, u64)>,
    first: Option<Duration>,
    last: Option<Duration>,
    corrupted: u64,
}

fn impaired() -> LinkConfig {
    LinkConfig::new()
        .delay(Duration::from_millis(15))
        .jitter(Jitter::Normal(Duration::from_millis(2)))
        .loss(0.02)
        .burst_loss(GilbertElliott::with_average_loss(0.02, 3.0))
        .duplicate(0.03)
        .reorder(0.03)
        .corrupt(0.02)
        .rate_bps(20_000_000)
        .queue_packets(30)
}

fn run(seed: u64) -> Trace {
    let mut sim = Simulator::<ToyNode>::new(seed, LinkConfig::new());
    let topo = dumbbell(&mut sim, 3, &impaired());
    let rx = sim.add_node(topo.server, ToyNode::Receiver(ToyReceiver::recording())).unwrap();
    for (i, &c) in topo.clients.iter().enumerate() {
        // Together 1.2× the bottleneck, so the queue overflows too.
        let interval = Duration::from_micros(1400);
        let start = sim.start() + Duration::from_micros(100 * i as u64);
        let tx = ToySender::new(
            u32::try_from(i).unwrap(),
            topo.server,
            start,
            interval,
            1400,
            3_000,
            Duration::from_secs(1),
        );
        sim.add_node(c, ToyNode::Sender(tx)).unwrap();
    }
    sim.run_until(Duration::from_secs(60)).unwrap();
    let Some(ToyNode::Receiver(r)) = sim.node(rx) else { panic!("receiver missing") };
    let start = sim.start();
    Trace {
        links: sim.network().links().map(|l| (l.label.to_owned(), l.stats.clone())).collect(),
        order: r.log().to_vec(),
        first: r.first_at().map(|t| t - start),
        last: r.last_at().map(|t| t - start),
        corrupted: r.corrupted(),
    }
}

#[test]
fn same_seed_same_stats_and_delivery_order() {
    let one = run(42);
    let two = run(42);
    assert!(one.order.len() > 5_000, "too little traffic: {}", one.order.len());
    let forward = &one.links[0].1;
    assert!(forward.dropped_queue > 0 && forward.dropped_loss > 0 && forward.reordered > 0);
    assert!(forward.duplicated > 0 && forward.corrupted > 0);
    assert_eq!(one, two);
}

#[test]
fn different_seed_different_run() {
    let one = run(42);
    let other = run(43);
    assert_ne!(one.links, other.links);
    assert_ne!(one.order, other.order);
}

#[test]
fn scenario_report_is_reproducible() {
    let mut params = ScenarioParams::new(9, 50_000_000, Duration::from_millis(40), 2_000_000);
    params.flows = 2;
    params.link =
        params.link.clone().loss(0.01).reorder(0.01).jitter(Jitter::Uniform(Duration::from_millis(1)));
    let a = toy_traffic(&params).unwrap();
    let b = toy_traffic(&params).unwrap();
    assert_eq!(a.summary, b.summary);
    assert_eq!(a.links, b.links);
    assert_eq!(a.sim_time, b.sim_time);
    params.seed = 10;
    let c = toy_traffic(&params).unwrap();
    assert_ne!(a.links, c.links);
}
