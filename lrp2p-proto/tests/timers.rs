//! Timers on long paths (issue 9): the retransmission timeout leaves room for the peer's
//! delayed ACK, so a lone segment — the tail of a write, a request, a keep-alive's reply — is
//! not resent while its ACK is still held at the receiver.

mod common;

use std::time::Duration;

use common::{Pair, Side};

#[test]
fn lone_segments_on_a_long_path_wait_for_the_delayed_ack() {
    let mut p = Pair::new(31);
    // 300 ms round trip: above the 200 ms floor the RTO used to be, so only SRTT + 4·RTTVAR
    // stood between a lone segment and a timeout, and RTTVAR decays to nothing on a steady path.
    p.latency = Duration::from_millis(150);
    let (a, b) = p.connect(true);
    let mut got = Vec::new();
    for i in 0..30u8 {
        let now = p.now;
        // One small write each second: one DATA segment, which the receiver acknowledges only
        // after its 25 ms delayed-ACK timer (PROTOCOL.md §8.5).
        assert_eq!(p.a.write(now, a, &[i; 10]).unwrap(), 10);
        p.drive_for(Duration::from_secs(1));
        p.read_all(Side::B, b, &mut got);
    }
    assert_eq!(got.len(), 300);
    let stats = p.a.connection_stats(a).unwrap();
    assert_eq!(stats.timeouts, 0, "{stats:?}");
    assert_eq!(stats.retransmits, 0, "{stats:?}");
    let rtt = stats.rtt.unwrap();
    assert!(rtt >= Duration::from_millis(300) && rtt < Duration::from_millis(330), "{rtt:?}");
}
