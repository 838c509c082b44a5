//! The link model against its specification: loss, burst loss, rate, queue, delay, jitter, FIFO
//! order, reordering, duplication and corruption, each measured over many datagrams; a schedule
//! of rate and delay changes taking effect at its instant.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

mod common;

use std::time::Duration;

use common::{datagram, run_link, sigmas};
use lrp2p_sim::{GilbertElliott, Jitter, LinkChange, LinkConfig, Network};

const N: u64 = 100_000;
const MS: Duration = Duration::from_millis(1);
const US: Duration = Duration::from_micros(1);

#[test]
fn random_loss_rate_within_bounds_over_100k() {
    for p in [0.001, 0.01, 0.05, 0.3] {
        let (arrivals, stats, _) = run_link(LinkConfig::new().loss(p), 11, N, US, 64);
        let expected = N as f64 * p;
        let lost = stats.dropped_loss as f64;
        assert!((lost - expected).abs() < sigmas(5.0, N, p), "p={p}: lost {lost}, expected {expected}");
        assert_eq!(arrivals.len() as u64, N - stats.dropped_loss);
        assert!(stats.is_balanced());
    }
}

#[test]
fn gilbert_elliott_average_loss_and_burst_length() {
    let ge = GilbertElliott::with_average_loss(0.05, 4.0);
    let (arrivals, stats, _) = run_link(LinkConfig::new().burst_loss(ge), 12, N, US, 64);
    let loss = stats.dropped_loss as f64 / N as f64;
    // Bursts correlate losses (about 2.6× the binomial deviation here): allow ±1 point.
    assert!((loss - 0.05).abs() < 0.01, "average loss {loss}");

    // Runs of consecutive lost indices average the mean burst length 1/r = 4.
    let mut received = vec![false; N as usize];
    for a in &arrivals {
        received[a.index as usize] = true;
    }
    let (mut bursts, mut lost_in_bursts, mut run) = (0u64, 0u64, 0u64);
    for r in received.iter().chain([&true]) {
        if *r {
            if run > 0 {
                bursts += 1;
                lost_in_bursts += run;
            }
            run = 0;
        } else {
            run += 1;
        }
    }
    let mean_burst = lost_in_bursts as f64 / bursts as f64;
    assert!((3.4..4.6).contains(&mean_burst), "mean burst length {mean_burst}");
}

#[test]
fn gilbert_elliott_bursts_are_time_on_a_rate_limited_link() {
    // 100 Mbit/s: one 1400-byte slot is 112 us. Datagrams 100 ms apart see the chain hundreds of
    // slots later each time: independent losses at the average rate, no bursts of them (a
    // per-datagram chain would lose runs of 4 on average here too).
    let ge = GilbertElliott::with_average_loss(0.05, 4.0);
    let cfg = LinkConfig::new().rate_bps(100_000_000).burst_loss(ge);
    let n = 20_000;
    let (arrivals, stats, _) = run_link(cfg.clone(), 13, n, Duration::from_millis(100), 64);
    let loss = stats.dropped_loss as f64 / n as f64;
    assert!((loss - 0.05).abs() < sigmas(5.0, n, 0.05) / n as f64, "average loss {loss}");
    let mut received = vec![false; n as usize];
    for a in &arrivals {
        received[a.index as usize] = true;
    }
    let pairs = received.windows(2).filter(|w| !w[0] && !w[1]).count() as f64;
    // Independent: a loss follows a loss 5 % of the time, not 75 %.
    let after_loss = pairs / stats.dropped_loss as f64;
    assert!(after_loss < 0.10, "P(loss | loss) = {after_loss}");
    // Back to back at the line rate, the chain steps once per datagram: bursts of 4 again.
    let (back_to_back, stats, _) = run_link(cfg, 14, N, Duration::from_micros(112), 64);
    let mut received = vec![false; N as usize];
    for a in &back_to_back {
        received[a.index as usize] = true;
    }
    let pairs = received.windows(2).filter(|w| !w[0] && !w[1]).count() as f64;
    let after_loss = pairs / stats.dropped_loss as f64;
    assert!(after_loss > 0.6, "P(loss | loss) = {after_loss}");
}

#[test]
fn bandwidth_limit_holds_within_2_percent() {
    // Odd sizes and rates, so that serialization times are not whole nanoseconds.
    for (rate, size) in [(10_000_000u64, 1250usize), (7_000_000, 1400), (123_456_789, 1337)] {
        let cfg = LinkConfig::new().rate_bps(rate).queue_packets(usize::MAX).delay(10 * MS);
        // Offered all at once: the serializer alone paces the arrivals.
        let (arrivals, stats, _) = run_link(cfg, 13, 20_000, Duration::ZERO, size);
        assert_eq!(stats.delivered, 20_000);
        let first = arrivals.first().unwrap().at;
        let last = arrivals.last().unwrap().at;
        // Bits after the first arrival over the time they took.
        let bits = (stats.bytes_delivered - size as u64) as f64 * 8.0;
        let measured = bits / (last - first).as_secs_f64();
        let error = (measured - rate as f64).abs() / rate as f64;
        assert!(error < 0.02, "rate {rate}: measured {measured:.0} bit/s");
        // The first datagram arrives after its serialization plus the delay.
        let expected_first = Duration::from_secs_f64(size as f64 * 8.0 / rate as f64) + 10 * MS;
        assert!((first - arrivals[0].sent).abs_diff(expected_first) < US);
    }
}

#[test]
fn queue_overflow_drops_when_offered_exceeds_rate() {
    // 1250-byte datagrams on 10 Mbit/s take 1 ms; offering one every 0.5 ms is twice the rate.
    let cfg = LinkConfig::new().rate_bps(10_000_000).queue_packets(50);
    let (arrivals, stats, _) = run_link(cfg, 14, 20_000, MS / 2, 1250);
    assert_eq!(stats.max_queue_depth, 50);
    let drop_share = stats.dropped_queue as f64 / 20_000.0;
    assert!((drop_share - 0.5).abs() < 0.01, "dropped {drop_share}");
    // The link stays busy: deliveries are exactly 1 ms apart once the queue has filled.
    let gaps: Vec<Duration> = arrivals.windows(2).skip(100).map(|w| w[1].at - w[0].at).collect();
    assert!(gaps.iter().all(|&g| g == MS), "the bottleneck went idle");
    // Queueing delay is bounded by the queue: at most 50 datagrams of 1 ms each.
    assert!(arrivals.iter().all(|a| a.at - a.sent <= 50 * MS));
}

#[test]
fn default_queue_is_one_bdp() {
    // 10 Mbit/s × 40 ms RTT = 50,000 bytes = 35.7 → 36 datagrams of 1400 bytes.
    let cfg = LinkConfig::new().rate_bps(10_000_000).delay(20 * MS);
    assert_eq!(cfg.effective_queue_limit(), 36);
    let (_, stats, _) = run_link(cfg, 15, 1_000, Duration::ZERO, 1400);
    assert_eq!(stats.max_queue_depth, 36);
    assert_eq!(stats.delivered, 36);
    assert_eq!(stats.dropped_queue, 1_000 - 36);
}

#[test]
fn delay_and_uniform_jitter_bounds() {
    let cfg = LinkConfig::new().delay(20 * MS).jitter(Jitter::Uniform(5 * MS));
    let one_way = |spacing| -> Vec<Duration> {
        let (arrivals, _, _) = run_link(cfg.clone(), 16, 20_000, spacing, 100);
        arrivals.iter().map(|a| a.at - a.sent).collect()
    };
    let min_max = |d: &[Duration]| (*d.iter().min().unwrap(), *d.iter().max().unwrap());

    // Spaced wider than the jitter range, FIFO order never interferes: uniform in [15, 25] ms.
    let sparse = one_way(10 * MS);
    let (min, max) = min_max(&sparse);
    assert!(min >= 15 * MS && max <= 25 * MS, "one-way delay in [{min:?}, {max:?}]");
    assert!(min < 15 * MS + 10 * US && max > 25 * MS - 10 * US, "range not used: [{min:?}, {max:?}]");
    let mean = sparse.iter().sum::<Duration>() / sparse.len() as u32;
    assert!(mean.abs_diff(20 * MS) < 100 * US, "mean {mean:?}");

    // Dense, FIFO order holds some datagrams back behind late ones, but never past the bound.
    let dense = one_way(MS);
    let (min, max) = min_max(&dense);
    assert!(min >= 15 * MS && max <= 25 * MS, "one-way delay in [{min:?}, {max:?}]");
    let mean = dense.iter().sum::<Duration>() / dense.len() as u32;
    assert!(mean > 20 * MS && mean < 24 * MS, "mean {mean:?}");

    // Without jitter the delay is exact.
    let (arrivals, _, _) = run_link(LinkConfig::new().delay(30 * MS), 16, 1_000, MS, 100);
    assert!(arrivals.iter().all(|a| a.at - a.sent == 30 * MS));
}

#[test]
fn normal_jitter_never_reorders_or_arrives_early() {
    let cfg = LinkConfig::new().delay(10 * MS).jitter(Jitter::Normal(3 * MS));
    let (arrivals, _, _) = run_link(cfg, 17, 20_000, MS, 100);
    assert!(arrivals.iter().all(|a| a.at >= a.sent));
    assert!(arrivals.windows(2).all(|w| w[0].index < w[1].index));
    let one_way: Vec<Duration> = arrivals.iter().map(|a| a.at - a.sent).collect();
    assert!(one_way.iter().any(|&d| d < 7 * MS) && one_way.iter().any(|&d| d > 13 * MS));
}

#[test]
fn fifo_order_without_reorder() {
    // Heavy jitter relative to the spacing, duplication and a rate limit: still FIFO.
    let cfg = LinkConfig::new()
        .delay(5 * MS)
        .jitter(Jitter::Uniform(4 * MS))
        .duplicate(0.1)
        .loss(0.05)
        .rate_bps(50_000_000);
    let (arrivals, stats, _) = run_link(cfg, 18, N, 100 * US, 200);
    assert_eq!(stats.reordered, 0);
    assert!(arrivals.windows(2).all(|w| w[0].index <= w[1].index && w[0].at <= w[1].at));
}

#[test]
fn reordering_rate_and_overtaking() {
    let cfg = LinkConfig::new().delay(10 * MS).reorder(0.1).reorder_delay(5 * MS);
    let (arrivals, stats, _) = run_link(cfg, 19, N, MS, 100);
    assert!((stats.reordered as f64 - 0.1 * N as f64).abs() < sigmas(5.0, N, 0.1));
    // A held-back datagram arrives after the ones sent in the 5 ms behind it.
    let late = arrivals.windows(2).filter(|w| w[1].index < w[0].index).count() as u64;
    // (Neighbouring held-back datagrams keep their mutual order, so not every one shows.)
    assert!(late * 3 > stats.reordered * 2, "{late} visible reorderings of {}", stats.reordered);
    // Every datagram arrives exactly once, after delay, or delay plus the hold-back.
    assert_eq!(arrivals.len() as u64, N);
    assert!(arrivals.iter().all(|a| a.at - a.sent == 10 * MS || a.at - a.sent == 15 * MS));
    // The others keep their order.
    let on_time: Vec<u64> = arrivals.iter().filter(|a| a.at - a.sent == 10 * MS).map(|a| a.index).collect();
    assert!(on_time.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn duplication_rate() {
    let (arrivals, stats, _) = run_link(LinkConfig::new().duplicate(0.1), 20, N, US, 64);
    assert!((stats.duplicated as f64 - 0.1 * N as f64).abs() < sigmas(5.0, N, 0.1));
    assert_eq!(stats.delivered, N + stats.duplicated);
    assert_eq!(arrivals.len() as u64, N + stats.duplicated);
    // A copy is intact and follows its original directly (same departure, FIFO).
    let copies = arrivals.windows(2).filter(|w| w[0].index == w[1].index).count() as u64;
    assert_eq!(copies, stats.duplicated);
    assert!(arrivals.iter().all(|a| a.data == datagram(a.index, 64)));
}

#[test]
fn corruption_flips_exactly_one_bit() {
    let size = 64;
    let (arrivals, stats, _) = run_link(LinkConfig::new().corrupt(0.1), 21, N, US, size);
    assert!((stats.corrupted as f64 - 0.1 * N as f64).abs() < sigmas(5.0, N, 0.1));
    // FIFO order and no loss, so arrival i is datagram i even if its index bytes were hit.
    let mut damaged = 0;
    for (i, a) in arrivals.iter().enumerate() {
        let original = datagram(i as u64, size);
        let flipped: u32 = a.data.iter().zip(&original).map(|(x, y)| (x ^ y).count_ones()).sum();
        assert!(flipped <= 1);
        damaged += u64::from(flipped);
    }
    assert_eq!(damaged, stats.corrupted);
}

#[test]
fn every_datagram_is_accounted_for() {
    let cfg = LinkConfig::new()
        .delay(3 * MS)
        .jitter(Jitter::Uniform(MS))
        .loss(0.02)
        .burst_loss(GilbertElliott::with_average_loss(0.01, 3.0))
        .duplicate(0.05)
        .reorder(0.05)
        .corrupt(0.05)
        .rate_bps(20_000_000)
        .queue_packets(20);
    let (arrivals, stats, _) = run_link(cfg, 22, N, 50 * US, 150);
    assert!(stats.is_balanced());
    assert_eq!(stats.in_flight, 0);
    assert_eq!(arrivals.len() as u64, stats.delivered);
    assert_eq!(stats.offered, N);
    assert!(stats.dropped_queue > 0 && stats.dropped_loss > 0);
}

#[test]
fn scheduled_rate_change_takes_effect_at_its_instant() {
    // 1250-byte datagrams take 1 ms at 10 Mbit/s and 2 ms at 5 Mbit/s. Offered at twice the
    // first rate into a deep queue, the serializer never idles, so arrivals are its departures.
    let t = Duration::from_secs(1);
    let cfg = LinkConfig::new()
        .rate_bps(10_000_000)
        .delay(10 * MS)
        .queue_packets(usize::MAX)
        .change(LinkChange::rate(t, 5_000_000));
    let (arrivals, stats, t0) = run_link(cfg, 23, 6_000, MS / 2, 1250);
    assert_eq!(stats.delivered, 6_000);
    // The serializer never idles: the next datagram starts when one leaves (arrival − delay),
    // and the gap to its own arrival is its serialization time.
    let gaps: Vec<(Duration, Duration)> =
        arrivals.windows(2).map(|w| (w[0].at - 10 * MS - t0, w[1].at - w[0].at)).collect();
    let before: Vec<_> = gaps.iter().filter(|(start, _)| *start < t).collect();
    let after: Vec<_> = gaps.iter().filter(|(start, _)| *start >= t).collect();
    assert!(before.len() > 900 && after.len() > 2_000);
    assert!(before.iter().all(|(_, gap)| *gap == MS), "1 ms per datagram before the change");
    assert!(after.iter().all(|(_, gap)| *gap == 2 * MS), "2 ms per datagram from the change on");
    // About a second's worth of datagrams (1000 at 1 ms) was queued at the change: it does not
    // wait for them to drain.
    let queued_at_t = arrivals.iter().filter(|a| a.sent - t0 < t && a.at - 10 * MS - t0 > t).count();
    assert!(queued_at_t > 900, "{queued_at_t} queued at the change");
}

#[test]
fn scheduled_rate_change_under_a_drop_tail_queue() {
    // Offered at 10 Mbit/s into a 50-datagram queue: nothing is dropped until the rate halves
    // at 2 s, then half the datagrams are, and the measured rate halves.
    let t = Duration::from_secs(2);
    let cfg = LinkConfig::new().rate_bps(10_000_000).queue_packets(50).change(LinkChange::rate(t, 5_000_000));
    let (arrivals, stats, t0) = run_link(cfg, 24, 6_000, MS, 1250);
    let rate = |from: Duration, to: Duration| {
        let n = arrivals.iter().filter(|a| a.at - t0 >= from && a.at - t0 < to).count();
        n as f64 * 1250.0 * 8.0 / (to - from).as_secs_f64()
    };
    let (early, late) =
        (rate(Duration::ZERO, t), rate(t + Duration::from_millis(200), Duration::from_secs(6)));
    assert!((early - 10e6).abs() < 0.01 * 10e6, "before: {early:.0} bit/s");
    assert!((late - 5e6).abs() < 0.01 * 5e6, "after: {late:.0} bit/s");
    assert!(arrivals.iter().all(|a| a.sent - t0 >= t || a.at - a.sent <= 2 * MS), "no queue before");
    let dropped = stats.dropped_queue as f64;
    assert!((dropped - 2_000.0).abs() < 60.0, "dropped {dropped}");
}

#[test]
fn scheduled_delay_changes_keep_fifo_order() {
    // One-way delay 10 ms, 30 ms from 1 s, 5 ms from 2 s; no rate limit, one datagram per ms.
    let s = Duration::from_secs;
    let cfg = LinkConfig::new()
        .delay(10 * MS)
        .change(LinkChange::delay(s(1), 30 * MS))
        .change(LinkChange::delay(s(2), 5 * MS));
    let (arrivals, _, t0) = run_link(cfg, 25, 3_000, MS, 100);
    assert!(arrivals.windows(2).all(|w| w[0].index < w[1].index && w[0].at <= w[1].at));
    for a in &arrivals {
        let (sent, one_way) = (a.sent - t0, a.at - a.sent);
        if sent < s(1) {
            assert_eq!(one_way, 10 * MS);
        } else if sent < s(2) {
            assert_eq!(one_way, 30 * MS);
        } else {
            // The shorter path waits behind the datagrams still on the longer one (FIFO), then
            // takes its own 5 ms.
            let last_long = s(2) - MS + 30 * MS;
            assert_eq!(a.at - t0, (sent + 5 * MS).max(last_long), "sent at {sent:?}");
        }
    }
}

#[test]
fn the_schedule_counts_from_the_epoch() {
    // An epoch set half a second before the first datagram moves the change that much earlier.
    let t0 = std::time::Instant::now();
    let mut net = Network::new(1, LinkConfig::new());
    net.set_epoch(t0);
    let cfg = LinkConfig::new().delay(10 * MS).change(LinkChange::delay(Duration::from_secs(1), 20 * MS));
    net.set_link(common::a(), common::b(), cfg);
    let first = t0 + Duration::from_millis(500);
    net.send(first, common::a(), common::b(), b"early");
    net.send(t0 + Duration::from_secs(1), common::a(), common::b(), b"late");
    assert_eq!(net.epoch(), Some(t0));
    let end = t0 + Duration::from_secs(10);
    let at: Vec<_> = std::iter::from_fn(|| net.poll_delivery(end)).map(|d| d.at - t0).collect();
    assert_eq!(at, [Duration::from_millis(510), Duration::from_millis(1_020)]);
}
