//! Shared helpers of the endpoint scenario tests: configurations, impaired paths, figures.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use lrp2p_proto::EndpointConfig;
use lrp2p_sim::LinkConfig;
use lrp2p_sim::scenario::ScenarioParams;
use lrp2p_sim::transfer::{Transfer, TransferOptions};

/// The endpoint configuration of every test: defaults, with 0-RTT accepted from the start
/// (every key is generated for the run, so no start-up quiet period is needed).
pub fn config() -> EndpointConfig {
    let mut config = EndpointConfig::default();
    config.early_data.start_floor = false;
    config
}

/// The impairments of the robustness tests, each direction: 5% random loss, 5% reordering,
/// 1% duplication, 1% corruption, on top of `link`'s rate and delay.
pub fn hostile(link: LinkConfig) -> LinkConfig {
    link.loss(0.05).reorder(0.05).duplicate(0.01).corrupt(0.01)
}

/// A clean path of `rate_mbit` and `rtt_ms` moving `bytes` (all of it over `flows` flows).
pub fn params(seed: u64, rate_mbit: u64, rtt_ms: u64, bytes: u64) -> ScenarioParams {
    ScenarioParams::new(seed, rate_mbit * 1_000_000, Duration::from_millis(rtt_ms), bytes)
}

/// Builds and runs a transfer to the end, returning it for inspection.
pub fn run(params: &ScenarioParams, config: EndpointConfig, options: TransferOptions) -> Transfer {
    let mut transfer = Transfer::new(params, config, options).expect("scenario builds");
    transfer.run().expect("no livelock");
    transfer
}

/// Milliseconds, for messages.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
