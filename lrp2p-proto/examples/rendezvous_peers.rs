//! Memory per registered peer, end to end: a rendezvous service (an [`Endpoint`] serving
//! [`Endpoint::serve_rendezvous`]) takes N registrations (N = 10,000 by default, or the first
//! argument), each from its own peer endpoint over a perfect in-memory link, with two local
//! addresses (one IPv4, one IPv6), and a counting allocator reports the heap the service holds
//! per registered peer: the peer's link connection, its registration and its relay state. Each
//! peer endpoint is dropped once registered, so that only the service's heap remains counted.
//!
//! `cargo run --release -p lrp2p-proto --example rendezvous_peers [N]`

// A program, not the core: it owns the clock and prints.
#![allow(clippy::disallowed_methods, clippy::print_stdout)]

use std::error::Error;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lrp2p_proto::rendezvous::RegistryConfig;
use lrp2p_proto::{Endpoint, EndpointConfig, Event, StaticSecret};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

// dhat's allocator counts live heap bytes (no unsafe code here).
#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn live_bytes() -> isize {
    dhat::HeapStats::get().curr_bytes as isize
}

fn main() -> Result<(), Box<dyn Error>> {
    let _profiler = dhat::Profiler::builder().testing().build();
    let n: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(10_000);
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let start = Instant::now();
    let mut now = start;
    let unix = 1_800_000_000_000_000_000;
    // All n come at once from one test program: no load signal, no per-address share.
    let config = EndpointConfig {
        max_half_open: n + 1,
        cookie_threshold: n + 1,
        handshake_budget: u32::try_from(n + 1).unwrap_or(u32::MAX),
        address_limits: lrp2p_proto::AddressLimits::UNLIMITED,
        ..Default::default()
    };
    let service_secret = StaticSecret::generate(&mut rng);
    let service_key = service_secret.public_key();
    let service_addr: SocketAddr = "198.51.100.1:7400".parse()?;

    let before = live_bytes();
    let mut service = Endpoint::new(config.clone(), service_secret, ChaCha20Rng::seed_from_u64(2), now, unix);
    let mut registry = RegistryConfig::default();
    registry.max_peers = n;
    service.serve_rendezvous(registry);
    let empty = live_bytes() - before;

    let started = Instant::now();
    let mut buf = [0u8; 1500];
    let mut registered = 0;
    for i in 0..n {
        let key = StaticSecret::generate(&mut rng);
        let seed = 3 + u64::try_from(i)?;
        let mut peer = Endpoint::new(config.clone(), key, ChaCha20Rng::seed_from_u64(seed), now, unix);
        let i = u16::try_from(i % 60_000)?;
        let addr = SocketAddr::new([203, 0, 113, 1].into(), 1 + i);
        let locals = [SocketAddr::new([10, 0, 0, 1].into(), 4000), SocketAddr::new("fd00::1".parse()?, 4000)];
        peer.register(now, service_addr, service_key, &locals)?;
        let mut done = false;
        let mut progress = true;
        for round in 0..50 {
            // Time moves only when nothing else does (a pacing or ACK timer): the service's
            // clock must not run so far that its first links idle out (30 s) before the last
            // peer registers.
            if round > 0 && !progress {
                now += Duration::from_millis(1);
            }
            let mut sent = false;
            while let Some(t) = peer.poll_transmit(now, &mut buf) {
                service.handle_datagram(now, addr, &mut buf[..t.len]);
                sent = true;
            }
            while let Some(t) = service.poll_transmit(now, &mut buf) {
                peer.handle_datagram(now, service_addr, &mut buf[..t.len]);
                sent = true;
            }
            while service.poll_event().is_some() {}
            while let Some(event) = peer.poll_event() {
                done |= matches!(event, Event::Registered { .. });
            }
            peer.handle_timeout(now);
            service.handle_timeout(now);
            // Registered, and every datagram delivered: the link is idle on both sides.
            if done && !sent {
                break;
            }
            progress = sent;
        }
        registered += usize::from(done);
    }
    let elapsed = started.elapsed();
    let virtual_time = now.saturating_duration_since(start);
    let held = live_bytes() - before - empty;
    let stats = service.rendezvous_stats().ok_or("no rendezvous")?;
    println!(
        "{registered} of {n} peers registered in {elapsed:.2?} (service and peers on one core; \
         {virtual_time:.2?} of virtual time)"
    );
    println!(
        "the service holds {} registrations and {} connections",
        stats.registered,
        service.connection_count()
    );
    println!(
        "heap held by the service: {held} bytes = {} bytes per registered peer (target ≤ 4,096); \
         the empty service: {empty} bytes",
        held / isize::try_from(n.max(1))?
    );
    Ok(())
}
