//! The endpoint-wide receive memory budget (PROTOCOL.md §10.6, `EndpointConfig::receive_memory`):
//! what all connections' receive streams hold together — in-order bytes not yet read and
//! out-of-order segments — stays within `B` bytes, however many peers send and however few of
//! their applications read.
//!
//! With `T` the total held, `n` the number of connections and `h` what one of them holds, a
//! connection may store a segment of `c` bytes when
//!
//! ```text
//!   (T + c <= B/2  or  h + c <= B/(2n))  and  T + c <= B
//! ```
//!
//! The first half of the budget is a pool anyone may draw from; the second is a reserve of
//! `B/(2n)` per connection. While `n` holds still, the last condition never binds: at most
//! `B/2` was stored through the pool and at most `B/(2n)` per connection through the reserves,
//! so `T <= B/2 + n·B/(2n) = B`, and each connection can always fill its own reserve, whatever
//! the others do (when the pool is full, the others hold at most `B/2 + (n-1)·B/(2n)`). The
//! reserves shrink as connections arrive, and what a connection stored under a larger reserve
//! stays: the hard cap `T + c <= B` keeps the bound then too.
//!
//! The accounting is O(1) per call: the endpoint hands a connection its allowance (the largest
//! `c` it may store now) before each call, and reads back what its stream holds after it
//! (`Connection::memory_report`); the stream keeps its allowance exact between the two by
//! counting its own changes, which move every term above one for one.

/// The endpoint's receive budget and what is held against it (see the module documentation).
#[derive(Debug)]
pub(super) struct ReceiveMemory {
    /// `B`, in bytes.
    budget: usize,
    /// `T`: bytes held by all connections, as they last reported.
    held: usize,
}

impl ReceiveMemory {
    pub(super) fn new(budget: usize) -> Self {
        ReceiveMemory { budget, held: 0 }
    }

    /// Bytes held by all connections together.
    pub(super) fn held(&self) -> usize {
        self.held
    }

    /// The most bytes a connection holding `own`, one of `connections`, may add now.
    pub(super) fn allowance(&self, own: usize, connections: usize) -> usize {
        let half = self.budget / 2;
        let pool = half.saturating_sub(self.held);
        let reserve = (half / connections.max(1)).saturating_sub(own);
        pool.max(reserve).min(self.budget.saturating_sub(self.held))
    }

    /// A connection's holding went from `before` to `now` bytes.
    pub(super) fn update(&mut self, before: usize, now: usize) {
        self.held = self.held.saturating_sub(before).saturating_add(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stores `size`-byte segments for connection `i` while the rule allows.
    fn fill(memory: &mut ReceiveMemory, holdings: &mut [usize], i: usize, size: usize) {
        while memory.allowance(holdings[i], holdings.len()) >= size {
            memory.update(holdings[i], holdings[i] + size);
            holdings[i] += size;
        }
    }

    #[test]
    fn the_pool_then_the_reserves_fill_to_the_budget() {
        let mut memory = ReceiveMemory::new(1 << 20);
        let mut holdings = vec![0usize; 8];
        // The first connection takes the pool (which covers its own reserve).
        fill(&mut memory, &mut holdings, 0, 1024);
        assert_eq!(holdings[0], 512 << 10);
        // Every other still gets its reserve, B/(2n) = 64 KiB.
        for i in 1..8 {
            fill(&mut memory, &mut holdings, i, 1024);
            assert_eq!(holdings[i], 64 << 10, "connection {i}");
        }
        assert!(memory.held() <= 1 << 20);
        assert_eq!(memory.held(), holdings.iter().sum::<usize>());
        // Reading frees room one for one.
        memory.update(holdings[3], 0);
        holdings[3] = 0;
        assert_eq!(memory.allowance(0, 8), 64 << 10);
    }

    #[test]
    fn growing_numbers_of_connections_never_exceed_the_budget() {
        // Each newcomer fills its (shrinking) reserve after the pool is gone: without the hard
        // cap, the total would grow like the harmonic series.
        let budget = 1 << 20;
        let mut memory = ReceiveMemory::new(budget);
        let mut holdings = vec![0usize];
        fill(&mut memory, &mut holdings, 0, 100);
        for n in 2..2000 {
            holdings.push(0);
            fill(&mut memory, &mut holdings, n - 1, 100);
            assert!(memory.held() <= budget, "{} > {budget} with {n} connections", memory.held());
        }
    }
}
