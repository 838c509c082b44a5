//! Keep-alives (PROTOCOL.md §13.5): an idle connection sends a PING every `keep_alive` (25 s
//! by default), which holds NAT mappings and the peer's idle timer; a connection whose data
//! flows sends none; zero turns them off.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

mod common;

use std::time::Duration;

use common::{Pair, fresh_keys};
use lrp2p_proto::{CloseReason, ConnectionHandle, Event};

/// A connected pair, settled (handshake and first ACKs done).
fn settled(seed: u64, keep_alive: Option<Duration>) -> (Pair, ConnectionHandle, ConnectionHandle) {
    let mut config = fresh_keys();
    config.connection.keep_alive = keep_alive;
    let mut p = Pair::with_config(seed, config.clone(), config);
    let (a, b) = p.connect(true);
    p.advance(Duration::from_secs(1));
    (p, a, b)
}

/// The times (since `p.start`) at which either side sent a datagram during `span`.
fn send_times(p: &mut Pair, span: Duration) -> Vec<Duration> {
    let end = p.now + span;
    let mut times = Vec::new();
    let mut sent = p.sent;
    while p.now < end {
        p.advance(Duration::from_millis(1));
        if p.sent != sent {
            times.push(p.now - p.start);
            sent = p.sent;
        }
    }
    times
}

fn closed(p: &Pair) -> Option<CloseReason> {
    p.a_events.iter().chain(&p.b_events).find_map(|e| match e {
        Event::Closed { reason, .. } => Some(reason.clone()),
        _ => None,
    })
}

#[test]
fn an_idle_connection_sends_a_keep_alive_every_25_seconds() {
    let (mut p, a, b) = settled(40, Some(Duration::from_secs(25)));
    let times = send_times(&mut p, Duration::from_secs(110));
    assert_eq!(closed(&p), None, "the keep-alives hold the connection past its 30 s idle timeout");
    let (ka, kb) =
        (p.a.connection_stats(a).unwrap().keep_alives, p.b.connection_stats(b).unwrap().keep_alives);
    // Each side's interval runs from its own last datagram: the two sides' PINGs come 25 s
    // apart, each with its answers right behind it (a few ms at 10 ms one way), nothing between.
    assert!((4..=10).contains(&(ka + kb)) && ka > 0 || kb > 0, "{ka} + {kb} keep-alives: {times:?}");
    let bursts: Vec<Duration> = times
        .iter()
        .enumerate()
        .filter(|&(i, t)| i == 0 || *t - times[i - 1] > Duration::from_secs(1))
        .map(|(_, t)| *t)
        .collect();
    assert_eq!(bursts.len(), 4, "one burst per 25 s in 110 s: {times:?}");
    for w in bursts.windows(2) {
        let gap = w[1] - w[0];
        assert!(gap >= Duration::from_secs(25) && gap < Duration::from_millis(25_100), "{times:?}");
    }
}

#[test]
fn no_keep_alive_while_data_flows() {
    let (mut p, a, b) = settled(41, Some(Duration::from_secs(25)));
    for _ in 0..24 {
        let now = p.now;
        p.a.write(now, a, &[5u8; 1000]).unwrap();
        p.advance(Duration::from_secs(5));
        let mut sink = Vec::new();
        p.read_all(common::Side::B, b, &mut sink);
    }
    let (ka, kb) =
        (p.a.connection_stats(a).unwrap().keep_alives, p.b.connection_stats(b).unwrap().keep_alives);
    assert_eq!((ka, kb), (0, 0), "data every 5 s (and its ACKs) leaves no 25 s silence");
    assert_eq!(closed(&p), None);
}

#[test]
fn keep_alive_zero_or_none_is_off() {
    for (seed, keep_alive) in [(42, Some(Duration::ZERO)), (43, None)] {
        let (mut p, _, _) = settled(seed, keep_alive);
        let times = send_times(&mut p, Duration::from_secs(60));
        assert!(times.is_empty(), "{keep_alive:?}: sent at {times:?}");
        assert_eq!(closed(&p), Some(CloseReason::IdleTimeout), "{keep_alive:?}");
    }
}
