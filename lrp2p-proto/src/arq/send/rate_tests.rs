//! Tests of the delivery-rate estimator through the scoreboard: steady flows, ACK compression,
//! application-limited phases, losses and path changes.
use std::time::{Duration, Instant};

use crate::arq::initial;
use crate::arq::send::SendStream;

const MSS: usize = 1000;
const OVERHEAD: u64 = 0;

// An `Instant` can only be had from the clock; only differences from it matter here.
#[allow(clippy::disallowed_methods)]
fn origin() -> Instant {
    Instant::now()
}

fn stream() -> SendStream {
    let mut s = SendStream::new(0, 64 << 20, OVERHEAD);
    assert_eq!(s.write(&vec![0u8; 16 << 20]), 16 << 20);
    s
}

/// Sends one segment at `at`; returns its sequence number.
fn send(s: &mut SendStream, at: Instant) -> u64 {
    s.next_segment(at, MSS, u64::MAX).expect("data to send").seq
}

/// Cumulatively acknowledges up to `seq` at `at`.
fn ack(s: &mut SendStream, at: Instant, seq: u64) {
    s.on_ack(at, seq, &[], &[], None).expect("a valid ACK");
}

#[test]
fn an_ack_clocked_flow_measures_its_sending_rate() {
    // One packet per millisecond (1 MB/s), 50 ms round trip, each acknowledged alone.
    let t0 = origin();
    let mut s = stream();
    let rtt = Duration::from_millis(50);
    let mut rates = Vec::new();
    for i in 0..400u32 {
        let now = t0 + Duration::from_millis(u64::from(i));
        send(&mut s, now);
        if i >= 50 {
            let seq = initial(0) + u64::from(i - 50);
            ack(&mut s, now, seq);
            let sample = s.take_rate_sample(now, Some(rtt)).expect("a sample");
            assert_eq!(sample.rtt, rtt);
            assert!(!sample.is_app_limited);
            rates.push(sample.delivery_rate);
        }
    }
    // After the first round trip every sample spans a round of 50 packets.
    for &rate in &rates[60..] {
        assert!(rate.abs_diff(1_000_000) <= 20_000, "{rate} B/s");
    }
}

#[test]
fn compressed_acks_do_not_inflate_the_rate() {
    // 100 packets sent at 1 per ms, all acknowledged at once 50 ms after the last: the ACK
    // interval is tiny, but the send interval bounds the sample.
    let t0 = origin();
    let mut s = stream();
    for i in 0..100 {
        send(&mut s, t0 + Duration::from_millis(i));
    }
    let at = t0 + Duration::from_millis(150);
    ack(&mut s, at, initial(0) + 99);
    let sample = s.take_rate_sample(at, Some(Duration::from_millis(50))).expect("a sample");
    // 100 kB over max(send 99 ms, ack 150 ms) = 150 ms.
    assert_eq!(sample.delivered, 100 * MSS as u64);
    assert_eq!(sample.interval, Duration::from_millis(150));
    assert!(sample.delivery_rate < 700_000, "{}", sample.delivery_rate);
}

#[test]
fn samples_shorter_than_the_minimum_rtt_are_dropped() {
    let t0 = origin();
    let mut s = stream();
    send(&mut s, t0);
    let at = t0 + Duration::from_millis(10);
    ack(&mut s, at, initial(0));
    assert!(s.take_rate_sample(at, Some(Duration::from_millis(20))).is_none());
    // A sample is taken once per ACK: the next ACK starts afresh.
    assert!(s.take_rate_sample(at, None).is_none());
}

#[test]
fn an_application_limited_phase_marks_its_samples_until_delivered() {
    let t0 = origin();
    let mut s = SendStream::new(0, 1 << 20, OVERHEAD);
    s.write(&[0u8; 3 * MSS]);
    for i in 0..3 {
        send(&mut s, t0 + Duration::from_millis(i));
    }
    s.mark_app_limited(); // nothing more to send, 3 kB in flight
    assert!(s.is_app_limited());
    s.write(&[0u8; MSS]);
    let late = send(&mut s, t0 + Duration::from_millis(5)); // sent while app limited
    let at = t0 + Duration::from_millis(60);
    ack(&mut s, at, late);
    let sample = s.take_rate_sample(at, Some(Duration::from_millis(50))).expect("a sample");
    assert!(sample.is_app_limited, "sent in the app-limited phase");
    // Everything that was in flight at the mark has been delivered: the phase is over.
    assert!(!s.is_app_limited());
}

#[test]
fn losses_between_sending_and_the_ack_are_counted() {
    let t0 = origin();
    let mut s = stream();
    let rtt = crate::recovery::RttEstimator::default();
    for i in 0..10 {
        send(&mut s, t0 + Duration::from_millis(i));
    }
    // SACK 3..=9: 0, 1 and 2 have DupThresh SACKed segments above them.
    let base = initial(0);
    s.on_ack(t0 + Duration::from_millis(60), base - 1, &[(base + 3, base + 9)], &[], None).expect("valid");
    let mut lost = Vec::new();
    s.detect_losses(t0 + Duration::from_millis(60), &rtt, &mut |l| lost.push(*l));
    assert_eq!(lost.len(), 3);
    // Each lost packet saw the losses declared before it in this pass, itself included.
    let counted: Vec<u64> = lost.iter().map(|l| l.lost_since_sent).collect();
    assert!(counted.contains(&(MSS as u64)) && counted.contains(&(3 * MSS as u64)), "{counted:?}");
    assert!(lost.iter().all(|l| l.tx_in_flight >= MSS as u64));
    let sample = s.take_rate_sample(t0 + Duration::from_millis(60), None).expect("a sample");
    assert_eq!(sample.lost, 3 * MSS as u64);
    assert_eq!(sample.delivered, 7 * MSS as u64);
}

#[test]
fn no_samples_from_packets_sent_before_a_path_change() {
    let t0 = origin();
    let mut s = stream();
    let first = send(&mut s, t0);
    s.reset_rate_path(t0 + Duration::from_millis(1));
    let second = send(&mut s, t0 + Duration::from_millis(2));
    let at = t0 + Duration::from_millis(60);
    ack(&mut s, at, first);
    assert!(s.take_rate_sample(at, None).is_none(), "sent on the old path");
    ack(&mut s, at + Duration::from_millis(1), second);
    assert!(s.take_rate_sample(at + Duration::from_millis(1), None).is_some());
}
