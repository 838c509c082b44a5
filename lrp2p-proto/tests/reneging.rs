//! A receiver whose buffer fills above a gap (PROTOCOL.md §10.6 *Reneging*): it discards
//! SACKed segments to take the one that fills the gap, and the sender, whose scoreboard still
//! shows them SACKed with nothing in flight, resends them after its retransmission timeout.
//!
//! The receiver here counts its window in segments of its own (smaller) datagrams, so a sender
//! with larger datagrams fills its buffer before its window. Before the fix the segment that
//! filled the gap was refused as beyond the window every time it came (the buffer, unlike the
//! budget, never made room by reneging), and once room was made, the sender stopped its
//! retransmission timer as soon as nothing was in flight, SACKed data left unacknowledged:
//! both stalled the transfer for good (found on a 100 Mbit/s × 600 ms path).

#![allow(clippy::unwrap_used)]

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use common::{Pair, Side, fresh_keys};
use lrp2p_proto::ConnectionStats;

/// Which of A's full DATA datagrams is dropped.
const DROPPED: u32 = 200;

/// A sends 2 MB to B, whose buffer is 64 KiB and whose datagrams are at most `b_datagram`
/// bytes; one full DATA datagram is dropped once A's window is larger than B's buffer, so
/// everything after it waits above the gap. Returns A's and B's statistics once B has read it
/// all, intact.
fn transfer_with_one_gap(b_datagram: usize) -> (ConnectionStats, ConnectionStats) {
    let a_config = fresh_keys();
    let mut b_config = fresh_keys();
    b_config.connection.max_datagram_size = b_datagram;
    b_config.connection.recv_buffer = 64 << 10;
    let mut p = Pair::with_config(7, a_config, b_config);
    let (a, b) = p.connect(true);
    p.drive_for(Duration::from_millis(50));
    let bulk = Rc::new(Cell::new(0u32));
    let count = Rc::clone(&bulk);
    p.filter = Box::new(move |side, datagram| {
        if side == Side::A && datagram.len() > 1300 {
            count.set(count.get() + 1);
            return count.get() != DROPPED;
        }
        true
    });
    let len = 2_000_000;
    let data: Vec<u8> = (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect();
    let mut written = 0;
    let mut got = Vec::new();
    p.drive_until(Duration::from_secs(60), |p| {
        let now = p.now;
        if written < len {
            written += p.a.write(now, a, &data[written..]).unwrap();
        }
        p.read_all(Side::B, b, &mut got);
        got.len() >= len
    });
    assert!(bulk.get() > DROPPED);
    assert_eq!(got, data);
    (p.a.connection_stats(a).unwrap(), p.b.connection_stats(b).unwrap())
}

#[test]
fn a_receiver_that_reneges_on_sacked_data_still_gets_everything() {
    let (sa, sb) = transfer_with_one_gap(1200);
    assert!(sb.reneged > 0, "the receiver never had to renege: {sb:?}");
    assert!(sa.timeouts > 0, "reneged data comes back only with the timeout: {sa:?}");
}

#[test]
fn a_window_counted_in_the_largest_payload_never_overcommits_the_buffer() {
    // Both sides send datagrams of 1400 bytes: a DATA segment alone carries 1361 bytes (less
    // the transport header, 17, the tag, 16, and the DATA header, 6), one beside an ACK 1318.
    // A window counted in the smaller unit (49 segments of a 64 KiB buffer) promised more
    // than the buffer holds, and the segments above a gap could fill it.
    let (sa, sb) = transfer_with_one_gap(1400);
    assert_eq!(sb.receive_held, 0, "all read");
    assert!(u64::from(sb.receive_window) * 1361 <= 64 << 10, "window {} segments", sb.receive_window);
    assert_eq!(sb.receive_window, (64 << 10) / 1361);
    assert_eq!((sb.reneged, sb.beyond_window, sa.timeouts), (0, 0, 0), "{sb:?} {sa:?}");
}
