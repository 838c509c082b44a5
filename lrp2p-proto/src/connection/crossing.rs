//! Simultaneous open (PROTOCOL.md §13.6): two IK initiations crossing between the same two
//! static keys make one connection. Of the two, the initiation of the side with the smaller key
//! wins: the endpoint, holding a valid IK initiation from `peer`, asks whether one of its own
//! initiations to `peer` is outstanding; if so, it drops the peer's (its key is the smaller) or
//! abandons its own (the peer's is) and answers the peer's.

use std::time::Instant;

use super::handshake::Handshake;
use super::{CloseReason, Connection, Phase};
use crate::identity::PublicKey;

impl Connection {
    /// Whether this is an IK initiator to `peer` whose initiation is out (or about to go) and
    /// unanswered.
    pub(crate) fn dials_by_key(&self, peer: &PublicKey) -> bool {
        if !self.initiator || self.phase != Phase::Handshaking {
            return false;
        }
        match &self.handshake {
            Handshake::Start { peer: Some(key), deferred: false } => key == peer,
            Handshake::IkSent { noise, .. } => noise.remote_static() == *peer,
            _ => false,
        }
    }

    /// PROTOCOL.md §13.6: the peer's crossing initiation won; this one sends nothing more.
    pub(crate) fn abandon_crossed(&mut self, now: Instant) {
        self.drain(now, Some(CloseReason::Crossed));
    }
}
