//! Memory per idle connection: one endpoint opens N connections to another (N = 10,000 by
//! default, or the first argument), every handshake completes over a perfect in-memory link,
//! and a counting allocator reports the heap bytes each side holds per connection.
//!
//! `cargo run --release -p lrp2p-proto --example idle_connections [N]`

// A program, not the core: it owns the clock and prints.
#![allow(clippy::disallowed_methods, clippy::print_stdout)]

use std::error::Error;
use std::time::{Duration, Instant};

use lrp2p_proto::EndpointConfig;
use lrp2p_proto::StaticSecret;
use lrp2p_proto::{Endpoint, Event};
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
    let mut now = Instant::now();
    let unix = 1_800_000_000_000_000_000;
    // All n come from one address at once: no load signal, no per-address share.
    let config = EndpointConfig {
        max_half_open: n + 1,
        cookie_threshold: n + 1,
        handshake_budget: u32::try_from(n + 1).unwrap_or(u32::MAX),
        address_limits: lrp2p_proto::AddressLimits::UNLIMITED,
        ..Default::default()
    };
    let (ka, kb) = (StaticSecret::generate(&mut rng), StaticSecret::generate(&mut rng));
    let b_public = kb.public_key();
    let mut a = Endpoint::new(config.clone(), ka, ChaCha20Rng::seed_from_u64(2), now, unix);
    let mut b = Endpoint::new(config, kb, ChaCha20Rng::seed_from_u64(3), now, unix);
    let (a_addr, b_addr) = ("10.0.0.1:1".parse()?, "10.0.0.2:2".parse()?);

    let before = live_bytes();
    let started = Instant::now();
    for _ in 0..n {
        a.connect(now, b_addr, Some(b_public))?;
    }
    let mut buf = [0u8; 1500];
    let mut connected = 0;
    for _ in 0..200 {
        now += Duration::from_millis(5);
        while let Some(t) = a.poll_transmit(now, &mut buf) {
            b.handle_datagram(now, a_addr, &mut buf[..t.len]);
        }
        while let Some(event) = b.poll_event() {
            if let Event::Incoming { connection, .. } = event {
                let _ = b.accept(now, connection);
            }
        }
        while let Some(t) = b.poll_transmit(now, &mut buf) {
            a.handle_datagram(now, b_addr, &mut buf[..t.len]);
        }
        while let Some(event) = a.poll_event() {
            connected += usize::from(matches!(event, Event::Connected { .. }));
        }
        a.handle_timeout(now);
        b.handle_timeout(now);
        if connected == n && a.poll_transmit(now, &mut buf).is_none() {
            break;
        }
    }
    let elapsed = started.elapsed();
    let held = live_bytes() - before;
    println!("{connected} of {n} connections established in {elapsed:.2?} (both sides on one core)");
    println!("connections held: initiator {}, responder {}", a.connection_count(), b.connection_count());
    println!(
        "heap held by both endpoints: {:.1} MiB = {} bytes per idle connection per side",
        held as f64 / (1 << 20) as f64,
        held / (2 * n as isize)
    );
    Ok(())
}
