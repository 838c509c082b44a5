//! Simultaneous open (PROTOCOL.md §13.6): two peers that dial each other by key at the same
//! moment get one connection, the initiation of the side with the smaller static key winning,
//! also when both are under load and answer each other with cookie replies first.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Pair, Side, fresh_keys};
use lrp2p_proto::{CloseReason, ConnectionHandle, EndpointConfig, Event};

fn incoming(events: &[Event]) -> Vec<ConnectionHandle> {
    events
        .iter()
        .filter_map(|e| if let Event::Incoming { connection, .. } = e { Some(*connection) } else { None })
        .collect()
}

fn closed(events: &[Event], conn: ConnectionHandle) -> Option<CloseReason> {
    events.iter().find_map(|e| match e {
        Event::Closed { connection, reason } if *connection == conn => Some(reason.clone()),
        _ => None,
    })
}

/// Both dial at once, with 0-RTT data; returns the pair and each side's handle.
fn cross(seed: u64, config: &EndpointConfig) -> (Pair, ConnectionHandle, ConnectionHandle) {
    let mut p = Pair::with_config(seed, config.clone(), config.clone());
    let (now, a_key, b_key) = (p.now, p.a.public_key(), p.b.public_key());
    let (a_addr, b_addr) = (p.a_addr, p.b_addr);
    let a = p.a.connect(now, b_addr, Some(b_key)).unwrap();
    let b = p.b.connect(now, a_addr, Some(a_key)).unwrap();
    p.a.write(now, a, b"from A").unwrap();
    p.b.write(now, b, b"from B").unwrap();
    // Both initiations are on the wire before either arrives.
    p.flush();
    (p, a, b)
}

/// The side with the smaller key keeps its connection; the other's is abandoned (`Crossed`)
/// and it answers the peer's initiation: one connection, and data flows both ways.
fn check_one_connection(seed: u64, config: &EndpointConfig) {
    let (mut p, a, b) = cross(seed, config);
    let a_wins = p.a.public_key() < p.b.public_key();
    let (winner, loser, won, lost) = if a_wins { (Side::A, Side::B, a, b) } else { (Side::B, Side::A, b, a) };
    let mut accepted = None;
    p.drive_until(Duration::from_secs(10), |p| {
        let events = if loser == Side::A { &p.a_events } else { &p.b_events };
        if let (None, Some(&c)) = (accepted, incoming(events).first()) {
            let now = p.now;
            p.endpoint(loser).accept(now, c).unwrap();
            accepted = Some(c);
        }
        let winner_events = if winner == Side::A { &p.a_events } else { &p.b_events };
        accepted.is_some()
            && winner_events
                .iter()
                .any(|e| matches!(e, Event::Connected { connection, .. } if *connection == won))
    });
    let answered = accepted.unwrap();
    let now = p.now;
    p.endpoint(loser).write(now, answered, b"answer").unwrap();
    let (mut at_winner, mut at_loser) = (Vec::new(), Vec::new());
    p.drive_until(Duration::from_secs(10), |p| {
        p.read_all(winner, won, &mut at_winner);
        p.read_all(loser, answered, &mut at_loser);
        !at_winner.is_empty() && !at_loser.is_empty()
    });
    let winner_name = if a_wins { "A" } else { "B" };
    assert_eq!(at_loser, format!("from {winner_name}").as_bytes(), "the winner's 0-RTT data");
    assert_eq!(at_winner, b"answer");
    let (loser_events, winner_events) = if a_wins {
        (p.b_events.clone(), p.a_events.clone())
    } else {
        (p.a_events.clone(), p.b_events.clone())
    };
    assert_eq!(closed(&loser_events, lost), Some(CloseReason::Crossed), "{loser_events:?}");
    assert!(incoming(&winner_events).is_empty(), "the winner answered nothing: {winner_events:?}");
    assert_eq!(incoming(&loser_events).len(), 1, "{loser_events:?}");
    let winner_stats = p.endpoint(winner).stats();
    assert!(winner_stats.crossed_initiations >= 1, "{winner_stats:?}");
    assert_eq!(winner_stats.datagrams_received, winner_stats.accounted());
}

#[test]
fn crossing_initiations_make_one_connection() {
    for seed in [60, 61, 62, 63] {
        check_one_connection(seed, &fresh_keys());
    }
}

/// PROTOCOL.md §13.6 with §10: both sides under load answer the other's first initiation with
/// a cookie reply (the static key is not known before it); neither gives up its own attempt,
/// and the retransmissions with cookies meet the same rule: still one connection.
#[test]
fn crossing_initiations_under_load_make_one_connection() {
    let mut config = fresh_keys();
    config.cookie_threshold = 0;
    for seed in [64, 65] {
        check_one_connection(seed, &config);
        let (mut p, _, _) = cross(seed, &config);
        p.drive_for(Duration::from_millis(30));
        assert!(p.a.stats().cookie_replies >= 1 && p.b.stats().cookie_replies >= 1, "both under load");
    }
}
