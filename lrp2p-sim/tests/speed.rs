//! How fast the emulator runs: simulated datagrams per wall-clock second, printed (run with
//! `--nocapture`, ideally `--release`). A figure, not a timed assertion.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use lrp2p_sim::scenario::{ScenarioParams, toy_traffic};
use lrp2p_sim::{Jitter, LinkConfig, Network};

#[test]
fn emulator_speed() {
    // The whole simulator: toy senders and receiver, event loop, one impaired bottleneck.
    let mut params = ScenarioParams::new(1, 100_000_000, Duration::from_millis(50), 50_000_000);
    params.flows = 2;
    params.link = params.link.clone().loss(0.01).jitter(Jitter::Uniform(Duration::from_millis(1)));
    let report = toy_traffic(&params).unwrap();
    assert!(report.summary.ok);
    eprintln!(
        "emulator_speed: simulator with toy nodes: {} datagrams in {:.3} s wall = {:.0} datagrams/s",
        report.datagrams(),
        report.wall_time.as_secs_f64(),
        report.datagrams_per_wall_sec()
    );

    // The bare network: send and deliver 1400-byte datagrams over an impaired link.
    let n = 200_000u32;
    let wall = Instant::now();
    let t0 = Instant::now();
    let cfg = LinkConfig::new().delay(Duration::from_millis(20)).loss(0.01).rate_bps(1_000_000_000);
    let mut net = Network::new(2, cfg);
    let (a, b) = ("10.0.0.1:1".parse().unwrap(), "10.0.0.2:1".parse().unwrap());
    let datagram = [0xa5u8; 1400];
    let mut delivered = 0u64;
    for i in 0..n {
        let now = t0 + Duration::from_micros(12) * i;
        net.send(now, a, b, &datagram);
        while let Some(d) = net.poll_delivery(now) {
            delivered += 1;
            net.recycle(d.data);
        }
    }
    let secs = wall.elapsed().as_secs_f64();
    assert!(delivered > 0);
    eprintln!(
        "emulator_speed: bare network: {n} datagrams in {secs:.3} s wall = {:.0} datagrams/s",
        f64::from(n) / secs
    );
}
