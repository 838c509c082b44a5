//! Shared harness: offer numbered datagrams to one link of a bare [`Network`] and collect the
//! arrivals in order.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lrp2p_sim::{LinkConfig, LinkStats, Network};

/// The sending address of the harness.
pub fn a() -> SocketAddr {
    "10.0.0.1:1000".parse().unwrap()
}

/// The receiving address of the harness.
pub fn b() -> SocketAddr {
    "10.0.0.2:2000".parse().unwrap()
}

/// One arrival: which datagram (its index), when it was sent and arrived, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    pub index: u64,
    pub sent: Instant,
    pub at: Instant,
    pub data: Vec<u8>,
}

/// The datagram number `i` of `size` bytes: the index, then a filler that depends on it.
pub fn datagram(i: u64, size: usize) -> Vec<u8> {
    let mut d = vec![0u8; size.max(8)];
    d[..8].copy_from_slice(&i.to_be_bytes());
    for (k, b) in d[8..].iter_mut().enumerate() {
        *b = (k as u8) ^ (i as u8);
    }
    d
}

/// Reads the index of a (possibly corrupted) datagram.
pub fn index_of(data: &[u8]) -> u64 {
    u64::from_be_bytes(data[..8].try_into().unwrap())
}

/// Offers `n` datagrams of `size` bytes from [`a`] to [`b`], one every `spacing`, and returns the
/// arrivals in arrival order with the link's counters.
pub fn run_link(
    cfg: LinkConfig,
    seed: u64,
    n: u64,
    spacing: Duration,
    size: usize,
) -> (Vec<Arrival>, LinkStats, Instant) {
    let t0 = Instant::now();
    let mut net = Network::new(seed, LinkConfig::new());
    let link = net.set_link(a(), b(), cfg);
    let mut sent_at = Vec::with_capacity(n as usize);
    let mut arrivals = Vec::new();
    let mut collect = |net: &mut Network, now: Instant, sent_at: &[Instant]| {
        while let Some(d) = net.poll_delivery(now) {
            let index = index_of(&d.data);
            // A corrupted index is looked up leniently (corruption tests check the payload).
            let sent = sent_at.get(index as usize).copied().unwrap_or(t0);
            arrivals.push(Arrival { index, sent, at: d.at, data: d.data });
        }
    };
    for i in 0..n {
        let now = t0 + spacing * (i as u32);
        collect(&mut net, now, &sent_at);
        sent_at.push(now);
        net.send(now, a(), b(), &datagram(i, size));
    }
    collect(&mut net, t0 + Duration::from_secs(1_000_000), &sent_at);
    let stats = net.link_stats(link).unwrap().clone();
    (arrivals, stats, t0)
}

/// `k` standard deviations of a binomial count of `n` trials with probability `p`.
pub fn sigmas(k: f64, n: u64, p: f64) -> f64 {
    k * (n as f64 * p * (1.0 - p)).sqrt()
}
