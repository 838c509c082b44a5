//! Long round trips (issue 9): a lossless 600 ms path is used at the rate slow start allows,
//! without a spurious retransmission; a 200 ms path with 1% loss delivers within a bound; a
//! queue that doubles the RTT while a loss is repaired does not fire the retransmission timer.
//!
//! Before the fix, a lossless 20 Mbit/s × 200 ms path took 327 s for 2 MB (about every datagram
//! sent twice: the RTO had no room for the peer's delayed ACK), and 600 ms paths delivered
//! nothing in 300 s.
//!
//! BBR (the `lrp2p` tool's default) on a lossless 100 Mbit/s × 600 ms path: its Startup puts
//! the whole 16 MiB receive window in flight, and the queue drops part of it. The receiver
//! counted its window in segments of 1318 bytes (the payload beside an ACK) while segments
//! without an ACK carry 1361, so the out-of-order segments above the first drop filled its
//! buffer and the segment that filled the gap was refused as beyond the window, every time it
//! was resent: 37 of 100 MB arrived and the transfer stalled for good.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use lrp2p_sim::cc::Cc;
use lrp2p_sim::scenario::ScenarioParams;
use lrp2p_sim::sweep::{Row, run_grid, slow_start_bound};

fn run(params: ScenarioParams) -> Row {
    let row = run_grid(&[params], 1).unwrap().remove(0);
    eprintln!("{row:?}");
    row
}

fn path(seed: u64, rate_mbit: u64, rtt_ms: u64, bytes: u64) -> ScenarioParams {
    ScenarioParams::new(seed, rate_mbit * 1_000_000, Duration::from_millis(rtt_ms), bytes)
}

#[test]
fn a_lossless_600_ms_path_runs_near_the_slow_start_bound_without_spurious_retransmissions() {
    let params = path(1, 20, 600, 12_000_000);
    let bound = slow_start_bound(params.rate_bps, params.rtt, params.bytes);
    let row = run(params);
    assert!(row.ok, "not delivered");
    // 12 MB at 20 Mbit/s is 4.8 s on the wire; slow start to the 1.5 MB window adds ~4 s.
    assert!(row.sim_secs < 12.0, "took {:.1} s of simulated time", row.sim_secs);
    assert!(row.efficiency > 0.85 * bound, "efficiency {:.3}, bound {bound:.3}", row.efficiency);
    assert_eq!(row.spurious, 0, "spurious retransmissions");
    assert_eq!(row.duplicates_received, 0, "the receiver got a segment twice");
    assert_eq!(row.timeouts, 0, "retransmission timeouts on a lossless path");
    assert!(row.retransmit_ratio <= 0.001, "retransmit ratio {}", row.retransmit_ratio);
}

#[test]
fn a_200_ms_path_with_one_percent_loss_delivers_within_a_bound() {
    for seed in 1..=3 {
        let mut params = path(seed, 20, 200, 1_000_000);
        params.link = params.link.clone().loss(0.01);
        let row = run(params);
        assert!(row.ok, "seed {seed}: not delivered");
        // CUBIC's response to 1% random loss at 200 ms is about 0.8 Mbit/s (RFC 9438 §5.1):
        // 10 s for 1 MB. Before the fix the RTO diverged and 1 MB never arrived.
        assert!(row.sim_secs < 30.0, "seed {seed}: took {:.1} s", row.sim_secs);
        assert!(row.retransmits > 0, "seed {seed}: the loss did not happen");
    }
}

#[test]
fn a_loss_repaired_behind_a_full_queue_does_not_time_out() {
    // 20 Mbit/s × 150 ms behind a one-BDP queue: when the queue is full the RTT is 300 ms, so a
    // segment lost there is detected ~300 ms after it was sent and its resend is acknowledged
    // ~300 ms after that. A retransmission timer left running from the first transmission (RTO
    // ~ 300 + 200 + 25 ms) fired before that ACK: a spurious timeout that resent the whole
    // window and collapsed it to two packets (issue 9's collapse at 80–160 ms).
    let mut timeouts = 0;
    let mut losses = 0;
    for seed in 1..=6 {
        let mut params = path(seed, 20, 150, 4_000_000);
        params.link = params.link.clone().loss(0.002);
        let row = run(params);
        assert!(row.ok, "seed {seed}: not delivered");
        assert_eq!(row.duplicates_received, 0, "seed {seed}: a resend was not needed");
        timeouts += row.timeouts;
        losses += row.retransmits;
    }
    assert!(losses >= 6, "too few losses to show anything: {losses}");
    assert_eq!(timeouts, 0);
}

#[test]
fn bbr_fills_a_lossless_100_mbit_600_ms_path_and_delivers_everything() {
    let mut params = path(1, 100, 600, 100_000_000);
    params.controllers = vec![Cc::Bbr];
    params.time_limit = std::time::Duration::from_secs(120);
    let bound = slow_start_bound(params.rate_bps, params.rtt, params.bytes);
    let row = run(params);
    assert!(row.ok, "not delivered: efficiency {:.3} in {:.1} s", row.efficiency, row.sim_secs);
    // 100 MB at 100 Mbit/s is 8 s on the wire; Startup to the 7.5 MB BDP adds ~5 s. Before the
    // fix the transfer never finished.
    assert!(row.sim_secs < 20.0, "took {:.1} s of simulated time", row.sim_secs);
    assert!(row.efficiency > 0.75 * bound, "efficiency {:.3}, bound {bound:.3}", row.efficiency);
    assert_eq!(row.timeouts, 0, "retransmission timeouts on a lossless path");
    // What Startup's overshoot costs at the one-BDP queue, and no more.
    assert!(row.retransmit_ratio <= 0.02, "retransmit ratio {}", row.retransmit_ratio);
}
