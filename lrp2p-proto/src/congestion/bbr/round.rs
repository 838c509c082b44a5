//! Packet-timed round trips (draft-ietf-ccwg-bbr-06 §5.5.1): a round starts when a sentinel
//! packet is sent and ends when any packet sent after it is acknowledged. The sentinel is
//! "everything delivered so far": a round ends on the ACK of a packet `P` whose `P.delivered`
//! (the rate sample's `prior_delivered`) reaches `C.delivered` as it was when the round began.

/// The round-trip counter (`BBR.round_count`, `BBR.round_start`, `BBR.next_round_delivered`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Rounds {
    /// `BBR.next_round_delivered`: the `P.delivered` that ends the current round.
    next_round_delivered: u64,
    /// `BBR.round_start`: this ACK ended a round.
    pub(super) round_start: bool,
    /// `BBR.round_count`: rounds elapsed.
    pub(super) count: u64,
}

impl Rounds {
    /// §5.5.1 UpdateRound: whether the ACK of a packet sent when `prior_delivered` bytes had
    /// been delivered ends the round; `delivered` is `C.delivered` after the ACK.
    pub(super) fn update(&mut self, prior_delivered: u64, delivered: u64) -> bool {
        if prior_delivered >= self.next_round_delivered {
            self.start(delivered);
            self.count = self.count.saturating_add(1);
            self.round_start = true;
        } else {
            self.round_start = false;
        }
        self.round_start
    }

    /// §5.5.1 StartRound: the current round ends once data sent from now on is acknowledged.
    pub(super) fn start(&mut self, delivered: u64) {
        self.next_round_delivered = delivered;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_ends_on_the_ack_of_a_packet_sent_after_it_began() {
        let mut rounds = Rounds::default();
        // The very first ACK ends round 0 (nothing was delivered when it began).
        assert!(rounds.update(0, 1000));
        assert_eq!(rounds.count, 1);
        // Packets sent before 1000 bytes were delivered belong to the round that just ended.
        assert!(!rounds.update(500, 2000));
        assert!(!rounds.update(999, 3000));
        assert!(rounds.update(1000, 4000));
        assert_eq!(rounds.count, 2);
        // StartRound moves the boundary forward without counting a round.
        rounds.start(10_000);
        assert!(!rounds.update(4000, 11_000));
        assert!(rounds.update(10_000, 12_000));
        assert_eq!(rounds.count, 3);
    }
}
