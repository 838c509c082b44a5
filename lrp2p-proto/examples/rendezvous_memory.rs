//! Memory per rendezvous registration: a `Registry` takes N registrations (N = 10,000 by
//! default, or the first argument), each with `L` local addresses (the second argument, 0 to 8,
//! default 2: one IPv4 and one IPv6 address alternately), and a counting allocator reports the
//! heap bytes it holds per registered peer.
//!
//! `cargo run --release -p lrp2p-proto --example rendezvous_memory [N] [L]`

// A program, not the core: it owns the clock and prints.
#![allow(clippy::disallowed_methods, clippy::print_stdout)]

use std::error::Error;
use std::net::SocketAddr;
use std::time::Instant;

use lrp2p_proto::PublicKey;
use lrp2p_proto::rendezvous::{Registry, RegistryConfig};

// dhat's allocator counts live heap bytes (no unsafe code here).
#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn live_bytes() -> usize {
    dhat::HeapStats::get().curr_bytes
}

fn main() -> Result<(), Box<dyn Error>> {
    let _profiler = dhat::Profiler::builder().testing().build();
    let n: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(10_000);
    let l: usize = std::env::args().nth(2).map(|s| s.parse()).transpose()?.unwrap_or(2);
    let now = Instant::now();
    let mut locals: Vec<SocketAddr> = (0..l)
        .map(|i| if i % 2 == 0 { "10.0.0.1:4000".parse() } else { "[fd00::1]:4000".parse() })
        .collect::<Result<_, _>>()?;
    for (i, addr) in locals.iter_mut().enumerate() {
        addr.set_port(4000 + u16::try_from(i)?); // distinct, so none is dropped as a repeat
    }
    let before = live_bytes();
    let mut config = RegistryConfig::default();
    config.max_peers = n;
    let mut registry = Registry::new(config);
    for i in 0..n {
        // Spread keys over the key space as random keys would be: a multiplicative hash.
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&(u64::try_from(i)?.wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_be_bytes());
        let observed = SocketAddr::new([198, 51, 100, 1].into(), 1 + u16::try_from(i % 60_000)?);
        registry.register(now, PublicKey::from_bytes(key), observed, &locals)?;
    }
    let held = live_bytes() - before;
    println!("{} registrations with {l} local addresses each", registry.len());
    println!("heap held by the registry: {held} bytes = {} bytes per registered peer", held / n.max(1));
    Ok(())
}
