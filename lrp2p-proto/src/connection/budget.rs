//! The connection's side of the endpoint's receive memory budget (PROTOCOL.md §10.6,
//! `endpoint::memory`): before each call the endpoint says how many more bytes this
//! connection's receive stream may hold ([`Connection::set_receive_allowance`]); after it, the
//! endpoint reads what the stream holds and how many DATA segments the budget turned away
//! ([`Connection::memory_report`]).
//!
//! A connection the application has not accepted yet needs no rule of its own here: it has sent
//! no ACK, so its peer may send only the segment `isn` (the implicit window of 1, PROTOCOL.md
//! §8.4), and it has no transport keys to open anything else with (§4.8).

use super::Connection;
use crate::arq::recv::Budget;

/// What the endpoint's budget allowed at the start of the current call.
#[derive(Clone, Copy, Debug)]
pub(super) struct Allowance {
    /// More bytes the receive stream may hold than `held_then`.
    bytes: usize,
    /// What it held when the endpoint computed `bytes`.
    held_then: usize,
}

impl Default for Allowance {
    fn default() -> Self {
        Allowance { bytes: usize::MAX, held_then: 0 }
    }
}

impl Connection {
    /// The endpoint's budget lets this connection hold `bytes` more than it holds now.
    pub(crate) fn set_receive_allowance(&mut self, bytes: usize) {
        self.allowance = Allowance { bytes, held_then: self.receive_held() };
        self.sync_receive_budget();
    }

    /// Hands the allowance to the receive stream (which may have been created during this call,
    /// holding nothing when the endpoint computed it). Call it before the stream takes data or
    /// advertises a window.
    pub(super) fn sync_receive_budget(&mut self) {
        let Allowance { bytes, held_then } = self.allowance;
        if let Some(recv) = self.recv.as_mut() {
            recv.set_budget(Budget { allowance: bytes, held_then });
        }
    }

    /// Bytes the receive stream holds against the budget.
    pub(crate) fn receive_held(&self) -> usize {
        self.recv.as_ref().map_or(0, |r| r.held())
    }

    /// What the receive stream held at the last report and holds now, and how many DATA
    /// segments the budget dropped since the last report.
    pub(crate) fn memory_report(&mut self) -> MemoryReport {
        let (held, drops) = (self.receive_held(), self.stats.receive_budget_drops);
        let report = MemoryReport { before: self.reported.0, held, drops: drops - self.reported.1 };
        self.reported = (held, drops);
        report
    }
}

/// A connection's change in held receive memory since its last report (see
/// [`Connection::memory_report`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MemoryReport {
    /// Bytes held at the last report.
    pub(crate) before: usize,
    /// Bytes held now.
    pub(crate) held: usize,
    /// DATA segments dropped for want of budget since the last report.
    pub(crate) drops: u64,
}
