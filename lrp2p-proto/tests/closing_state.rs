//! Regression: the closing state is bounded (PROTOCOL.md §7.6, after RFC 9000 §10.2.1). A peer
//! that never hears our CLOSE and keeps sending authenticated packets draws only a logarithmic
//! number of CLOSE answers, and cannot keep the connection's state alive past one idle timeout.

#![allow(clippy::unwrap_used)]

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use common::{Pair, Side, fresh_keys};
use lrp2p_proto::close_code;

#[test]
fn a_peer_that_keeps_sending_cannot_hold_the_closing_state_or_draw_a_close_per_packet() {
    let mut a_config = fresh_keys();
    a_config.connection.idle_timeout = Duration::from_secs(30);
    let mut b_config = fresh_keys();
    // B never gives up and PINGs every 200 ms: about 150 packets reach A per idle timeout.
    b_config.connection.idle_timeout = Duration::from_secs(600);
    b_config.connection.keep_alive = Some(Duration::from_millis(200));
    let mut p = Pair::with_config(7, a_config, b_config);
    // Once A has closed, none of its datagrams reach B (so B never learns), and each is counted.
    let closing = Rc::new(Cell::new(false));
    let answers = Rc::new(Cell::new(0u32));
    let (c, n) = (closing.clone(), answers.clone());
    p.filter = Box::new(move |side, _| {
        if side == Side::A && c.get() {
            n.set(n.get() + 1);
            return false;
        }
        true
    });
    let (a, b) = p.connect(true);
    p.drive_for(Duration::from_secs(1));

    closing.set(true);
    let closed_at = p.now;
    p.a.close(closed_at, a, close_code::PROTOCOL_VIOLATION, b"bye").unwrap();
    p.drive_until(Duration::from_secs(90), |p| p.a.connection_count() == 0);
    let lingered = p.now.duration_since(closed_at);
    let b_sent = p.b.connection_stats(b).unwrap().datagrams_sent;

    assert!(b_sent > 100, "B kept sending ({b_sent} datagrams)");
    assert!(lingered <= Duration::from_secs(31), "A's closing state lasted {lingered:?}");
    // The first CLOSE, then answers to the 1st, 2nd, 4th … 128th packet: at most 9.
    assert!(answers.get() <= 9, "A answered {} times to {b_sent} packets", answers.get());
    assert!(answers.get() >= 2, "A still answers a peer that did not hear its CLOSE");

    // And nothing from A once its state is gone, however long B goes on.
    let before = answers.get();
    p.drive_for(Duration::from_secs(10));
    assert_eq!(answers.get(), before);
}
