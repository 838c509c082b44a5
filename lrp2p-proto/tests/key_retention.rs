//! PROTOCOL.md §6.5, key retention: after a key update the previous receive key is kept for
//! `min(3·RTO, 5 s)` (after RFC 9001 §6.5) and then erased, so a straggler of the old phase is
//! accepted shortly after the switch and dropped (and counted) after the bound.

#![allow(clippy::unwrap_used)]

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use common::{Pair, Side};

#[test]
fn previous_key_accepted_shortly_after_the_switch_and_erased_after_the_bound() {
    let mut config = common::fresh_keys();
    config.connection.key_update_interval = Some(Duration::from_secs(2));
    // Frequent keep-alives: the key update rides on one (no DATA is sent in the new phase, so
    // that no second update follows), and virtual time never leaps far ahead.
    config.connection.keep_alive = Some(Duration::from_millis(50));
    let mut p = Pair::with_config(71, config.clone(), config);
    // Held back: the next two transport packets A sends while `hold` is set.
    let held: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let hold = Rc::new(RefCell::new(false));
    let (h, on) = (held.clone(), hold.clone());
    p.filter = Box::new(move |side, d| {
        if side == Side::A && *on.borrow() && d[0] & 0xfe == 0x18 && h.borrow().len() < 2 {
            h.borrow_mut().push(d.to_vec());
            return false;
        }
        true
    });
    let (conn, incoming) = p.connect(true);
    let now = p.now;
    p.a.write(now, conn, b"hello ").unwrap();
    p.drive_for(Duration::from_millis(500));
    // Two phase-0 packets, one DATA segment each, kept from B (A retransmits their data).
    *hold.borrow_mut() = true;
    for chunk in [&b"a1 "[..], b"a2 "] {
        let now = p.now;
        p.a.write(now, conn, chunk).unwrap();
        p.flush();
    }
    *hold.borrow_mut() = false;
    let held: Vec<Vec<u8>> = held.borrow().clone();
    assert_eq!(held.len(), 2, "two packets held back");
    assert!(held.iter().all(|d| d[0] == 0x18), "held packets are of key phase 0");
    // After the interval A's next packet (a keep-alive) starts a key update; B follows at once.
    p.drive_until(Duration::from_secs(5), |p| p.b.connection_stats(incoming).unwrap().key_updates >= 1);
    assert!(p.elapsed() >= Duration::from_secs(2));
    // 20 ms after the switch a straggler of phase 0 still opens.
    p.drive_for(Duration::from_millis(20));
    let stats = p.b.connection_stats(incoming).unwrap();
    assert_eq!(stats.stale_key_drops, 0);
    let (now, from) = (p.now, p.a_addr);
    let mut first = held[0].clone();
    p.b.handle_datagram(now, from, &mut first);
    let after = p.b.connection_stats(incoming).unwrap();
    assert_eq!(after.datagrams_received, stats.datagrams_received + 1, "straggler accepted");
    assert_eq!(after.stale_key_drops, 0);
    // Past the bound (5 s at most, whatever the RTO) the key is gone: dropped and counted.
    p.drive_for(Duration::from_secs(6));
    let before = p.b.connection_stats(incoming).unwrap();
    let (now, from) = (p.now, p.a_addr);
    let mut second = held[1].clone();
    p.b.handle_datagram(now, from, &mut second);
    let after = p.b.connection_stats(incoming).unwrap();
    assert_eq!(after.datagrams_received, before.datagrams_received, "old key still held after the bound");
    assert_eq!(after.stale_key_drops, before.stale_key_drops + 1);
    // The stream is intact and goes on.
    let now = p.now;
    p.a.write(now, conn, b"c").unwrap();
    p.a.shutdown(now, conn).unwrap();
    let mut got = Vec::new();
    p.drive_until(Duration::from_secs(10), |p| p.read_all(Side::B, incoming, &mut got));
    assert_eq!(got, b"hello a1 a2 c");
    assert_eq!(p.b.connection_stats(incoming).unwrap().key_updates, 1, "one key update only");
}
