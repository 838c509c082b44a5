//! Regression: a CLOSE NO_ERROR after both streams finished (PROTOCOL.md §8.7, §7.6) ends the
//! peer's side as finished, even when our last ACKs (of its FIN) were lost. The adapters send
//! it when a socket goes away right after reading its peer's FIN: without the ACK the CLOSE
//! carries, the peer saw its FIN unacknowledged and either retransmitted into a closed port
//! until its idle timeout or ended as closed by us.

#![allow(clippy::unwrap_used)]

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use common::{Pair, Side};
use lrp2p_proto::CloseReason;
use lrp2p_proto::Event;
use lrp2p_proto::close_code;

fn closed(events: &[Event]) -> Option<CloseReason> {
    events.iter().find_map(|e| if let Event::Closed { reason, .. } = e { Some(reason.clone()) } else { None })
}

#[test]
fn close_after_both_finished_ends_the_peer_finished_despite_lost_acks() {
    let mut p = Pair::new(41);
    // How many more of A's datagrams reach B (`None`: all).
    let a_passes: Rc<Cell<Option<u32>>> = Rc::new(Cell::new(None));
    let passes = a_passes.clone();
    p.filter = Box::new(move |side, _| {
        if side == Side::B {
            return true;
        }
        match passes.get() {
            None => true,
            Some(0) => false,
            Some(n) => {
                passes.set(Some(n - 1));
                true
            }
        }
    });
    let (a, b) = p.connect(true);

    // A's stream: written, finished, acknowledged; B's application does not read it yet.
    let now = p.now;
    p.a.write(now, a, b"from a").unwrap();
    p.a.shutdown(now, a).unwrap();
    p.drive_until(Duration::from_secs(5), |p| p.a.connection_stats(a).is_some_and(|s| s.fin_acked));

    // B's stream: A receives it whole, but none of A's ACKs reach B any more.
    a_passes.set(Some(0));
    let now = p.now;
    p.b.write(now, b, b"from b").unwrap();
    p.b.shutdown(now, b).unwrap();
    let mut got_a = Vec::new();
    p.drive_until(Duration::from_secs(5), |p| p.read_all(Side::A, a, &mut got_a));
    assert_eq!(got_a, b"from b");
    p.drive_until(Duration::from_secs(5), |p| closed(&p.a_events).is_some());
    assert_eq!(closed(&p.a_events), Some(CloseReason::Finished), "both streams finished at A");
    assert!(!p.b.connection_stats(b).unwrap().fin_acked, "B never saw its FIN acknowledged");

    // A's socket goes: its CLOSE NO_ERROR leaves, then nothing more from A.
    let now = p.now;
    p.a.close(now, a, close_code::NO_ERROR, b"finished").unwrap();
    a_passes.set(Some(1));
    p.drive_until(Duration::from_secs(1), |p| closed(&p.b_events).is_some());
    assert_eq!(closed(&p.b_events), Some(CloseReason::Finished), "B ends finished, not closed by A");

    // B's unread data survived; the state goes once it is read.
    let mut got_b = Vec::new();
    assert!(p.read_all(Side::B, b, &mut got_b), "the stream ends cleanly");
    assert_eq!(got_b, b"from a");
    p.drive_for(Duration::from_secs(1));
    assert_eq!(p.b.connection_count(), 0, "read to the end: state freed");
}
