//! A [`SendStream`] and a [`RecvStream`] joined by a seeded network that loses, delays,
//! reorders and duplicates packets in both directions, in virtual time: whatever the network
//! does, the receiver reads the sender's bytes exactly once, in order, and both ends finish.
//!
//! The glue is a miniature connection: DATA carries `truncate(seq)`, ACKs carry the wire
//! cumulative ack, window and SACK ranges and are expanded on arrival; the RTO runs from the
//! oldest segment in flight (RFC 6298 §5), RACK's timer re-runs loss detection, and a fixed
//! window of bytes in flight stands in for congestion control.
// Test data: byte patterns from indices.
#![allow(clippy::cast_possible_truncation)]

use std::time::{Duration, Instant};

use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use super::recv::RecvStream;
use super::send::SendStream;
use super::{expand, initial, truncate};
use crate::recovery::RttEstimator;
use crate::wire::{SackRanges, Seq};

/// Per-packet overhead counted by the sender.
const OVERHEAD: u64 = 40;

/// A DATA segment on the wire.
#[derive(Debug, Clone)]
struct Data {
    seq: Seq,
    payload: Vec<u8>,
    fin: bool,
}

/// An ACK segment on the wire.
#[derive(Debug, Clone, Copy)]
struct Ack {
    cumulative: Seq,
    window: u32,
    sack: SackRanges,
}

/// Network behaviour, percentages and milliseconds.
#[derive(Debug, Clone, Copy)]
struct Net {
    loss: u32,
    duplicate: u32,
    delay: u64,
    jitter: u64,
}

/// Packets in the air, each with its arrival time; reordering comes from the jitter.
struct Wire<P> {
    rng: ChaCha8Rng,
    net: Net,
    in_air: Vec<(Instant, P)>,
}

impl<P: Clone> Wire<P> {
    fn percent(&mut self, p: u32) -> bool {
        self.rng.next_u32() % 100 < p
    }

    fn send(&mut self, now: Instant, packet: P) {
        if self.percent(self.net.loss) {
            return;
        }
        let copies = if self.percent(self.net.duplicate) { 2 } else { 1 };
        for _ in 0..copies {
            let jitter = u64::from(self.rng.next_u32()) % (self.net.jitter + 1);
            let at = now + Duration::from_millis(self.net.delay + jitter);
            self.in_air.push((at, packet.clone()));
        }
    }

    fn next_arrival(&self) -> Option<Instant> {
        self.in_air.iter().map(|(t, _)| *t).min()
    }

    fn take_arrived(&mut self, now: Instant) -> Option<P> {
        let index = self.in_air.iter().position(|(t, _)| *t <= now)?;
        Some(self.in_air.swap_remove(index).1)
    }
}

fn send_ack(r: &mut RecvStream, wire: &mut Wire<Ack>, now: Instant) {
    let (cumulative, window, sack) = r.ack(crate::wire::MAX_SACK_RANGES - 1);
    r.mark_ack_sent();
    wire.send(now, Ack { cumulative, window, sack });
}

// An `Instant` can only be had from the clock; only differences from it matter here.
#[allow(clippy::disallowed_methods)]
fn origin() -> Instant {
    Instant::now()
}

/// Runs the transfer; returns what the receiver read, or panics on a protocol error.
#[allow(clippy::too_many_arguments)]
fn transfer(
    data: &[u8],
    isn: u32,
    mss: usize,
    send_cap: usize,
    recv_cap: usize,
    net: Net,
    seed: u64,
) -> Vec<u8> {
    const TICK: Duration = Duration::from_millis(50);
    let cwnd = 16 * (mss as u64 + OVERHEAD);
    let mut now = origin();
    let mut wire_to_recv = Wire { rng: ChaCha8Rng::seed_from_u64(seed), net, in_air: Vec::new() };
    let mut wire_to_send = Wire { rng: ChaCha8Rng::seed_from_u64(!seed), net, in_air: Vec::new() };
    let mut app = ChaCha8Rng::seed_from_u64(seed ^ 0x5555);
    let mut s = SendStream::new(isn, send_cap, OVERHEAD);
    let mut r = RecvStream::new(isn, recv_cap, mss);
    let mut rtt = RttEstimator::default();
    // PROTOCOL §8.4: before any ACK, A = isn - 1 and window = 1.
    let mut right_edge = initial(isn);
    let mut rto_at: Option<Instant> = None;
    let mut rack_at: Option<Instant> = None;
    let mut tick_at = now + TICK;
    let mut written = 0;
    let mut output = Vec::with_capacity(data.len());
    let mut buf = vec![0u8; mss.max(1)];

    for _ in 0..1_000_000 {
        // Sender application: write what fits, then finish.
        written += s.write(&data[written..]);
        if written == data.len() {
            s.finish();
        }
        // Sender: retransmissions first, then new data, within the fixed window in flight.
        while s.bytes_in_flight() < cwnd {
            let Some(out) = s.next_segment(now, mss, right_edge) else { break };
            assert_eq!(s.payload(out.offset, out.len, &mut buf), out.len);
            let payload = buf[..out.len].to_vec();
            wire_to_recv.send(now, Data { seq: truncate(out.seq), payload, fin: out.fin });
            // RFC 6298 §5.1: start the timer when sending with none running.
            rto_at.get_or_insert(now + rtt.rto());
        }
        s.check_invariants();
        if r.is_finished() && s.is_fin_acked() {
            return output;
        }

        // Advance virtual time to the next event.
        let next = [wire_to_recv.next_arrival(), wire_to_send.next_arrival(), rto_at, rack_at, Some(tick_at)]
            .into_iter()
            .flatten()
            .min()
            .unwrap();
        now = now.max(next);

        while let Some(Data { seq, payload, fin }) = wire_to_recv.take_arrived(now) {
            // A sender within the advertised window never hits the receiver's limits.
            r.on_data(seq, &payload, fin).unwrap();
            r.check_invariants();
            send_ack(&mut r, &mut wire_to_send, now);
        }
        while let Some(Ack { cumulative, window, sack }) = wire_to_send.take_arrived(now) {
            let una = s.una();
            let cumulative = expand(una - 1, cumulative);
            let ranges: Vec<(u64, u64)> =
                sack.as_slice().iter().map(|&(a, b)| (expand(una, a), expand(una, b))).collect();
            let outcome = s.on_ack(now, cumulative, &ranges, &[], None).unwrap();
            if let Some(sample) = outcome.rtt_sample {
                rtt.update(sample, Duration::ZERO);
            }
            // The right edge only grows (PROTOCOL §8.4; receivers never move it back).
            right_edge = right_edge.max(cumulative + u64::from(window));
            // RFC 6298 §5.2/§5.3: stop the timer when all is acked, restart it on new acks.
            if !s.has_in_flight() {
                rto_at = None;
            } else if outcome.new_cumulative {
                rtt.reset_backoff();
                rto_at = s.oldest_in_flight_sent().map(|t| t + rtt.rto());
            }
            rack_at = s.detect_losses(now, &rtt, &mut |_| {}).next_timer;
        }
        if rack_at.is_some_and(|t| t <= now) {
            rack_at = s.detect_losses(now, &rtt, &mut |_| {}).next_timer;
        }
        if rto_at.is_some_and(|t| t <= now) {
            rto_at = None;
            if s.has_in_flight() {
                s.on_retransmission_timeout(origin());
                rtt.backoff();
            }
        }
        if tick_at <= now {
            tick_at = now + TICK;
            // Receiver application: read a random amount, then tell the sender about the
            // window if it opened (and now and then anyway, as a lost update must be repeated).
            let mut chunk = vec![0u8; (app.next_u32() as usize) % (recv_cap + 1)];
            let n = r.read(&mut chunk);
            output.extend_from_slice(&chunk[..n]);
            if r.window_opened_since_last_ack() || app.next_u32() % 4 == 0 {
                send_ack(&mut r, &mut wire_to_send, now);
            }
        }
        if r.fin_received() {
            let mut rest = vec![0u8; r.readable()];
            let n = r.read(&mut rest);
            output.extend_from_slice(&rest[..n]);
        }
    }
    panic!("transfer did not finish: {} of {} bytes read", output.len(), data.len());
}

fn net() -> impl Strategy<Value = Net> {
    (0u32..=30, 0u32..=10, 1u64..50, 0u64..60).prop_map(|(loss, duplicate, delay, jitter)| Net {
        loss,
        duplicate,
        delay,
        jitter,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn lossy_network_delivers_exactly_once_in_order(
        data in prop::collection::vec(any::<u8>(), 0..12_000),
        isn in prop_oneof![any::<u32>(), u32::MAX - 40..=u32::MAX],
        mss in prop_oneof![1usize..8, 8usize..400],
        send_cap in 1usize..6000,
        recv_segments in 1usize..24,
        net in net(),
        seed in any::<u64>(),
    ) {
        let out = transfer(&data, isn, mss, send_cap, recv_segments * mss, net, seed);
        prop_assert_eq!(out, data);
    }
}

#[test]
fn crosses_the_wrap_under_heavy_loss() {
    let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    let net = Net { loss: 25, duplicate: 5, delay: 20, jitter: 40 };
    let out = transfer(&data, u32::MAX - 100, 100, 3000, 2000, net, 7);
    assert_eq!(out, data);
}
