//! The event loop: nodes on a [`Network`], driven in simulated time.
//!
//! Each step settles the current instant — deliver the due datagrams, fire the due timeouts,
//! collect every node's transmissions until it has none — and repeats until nothing more happens
//! at that instant. Then time jumps to the next event: the earliest arrival or node deadline.
//! Nothing is ever polled in between, so an idle stretch of simulated time costs nothing.
//!
//! Determinism: nodes are visited in registration order, arrivals in (time, send order), and all
//! randomness comes from the network's seed, so a seed replays the same run exactly.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::Node;
use crate::config::LinkConfig;
use crate::network::Network;

/// The default bound on settle rounds within one instant before a livelock is reported.
pub const DEFAULT_MAX_ROUNDS_PER_INSTANT: usize = 100_000;

/// The default bound on datagrams the nodes may emit within one instant before a livelock is
/// reported (a node whose `poll_transmit` never returns `None`).
pub const DEFAULT_MAX_DATAGRAMS_PER_INSTANT: usize = 1_000_000;

/// Largest datagram a node can emit (the UDP payload limit).
const MAX_DATAGRAM: usize = 65_535;

/// Identifies a node of one [`Simulator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(usize);

impl NodeId {
    /// The node's index, in order of registration.
    pub fn index(self) -> usize {
        self.0
    }
}

/// Why a run ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// Every node reported [`Node::is_done`].
    AllDone,
    /// No datagram in flight and no node deadline: nothing can happen any more.
    Idle,
    /// The time limit came first.
    TimeLimit,
}

/// What can go wrong while building or running a simulation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// Two nodes were registered at the same address.
    #[error("a node is already registered at {0}")]
    DuplicateAddress(SocketAddr),
    /// Nodes kept acting at one instant without time moving on: a deadline that stays in the past,
    /// or a zero-delay exchange that never ends.
    #[error(
        "livelock at {at:?} of simulated time: {rounds} rounds without time advancing (last active node {node:?})"
    )]
    Livelock {
        /// Simulated time since the start.
        at: Duration,
        /// Rounds spent at that instant.
        rounds: usize,
        /// The last node that acted, if any.
        node: Option<SocketAddr>,
    },
}

/// Nodes attached to a [`Network`] at addresses, driven in simulated time.
///
/// `N` is the node type; the default `Box<dyn Node>` mixes kinds, a concrete type (or an enum)
/// keeps them reachable through [`node`](Self::node) after the run.
#[derive(Debug)]
pub struct Simulator<N = Box<dyn Node>> {
    start: Instant,
    now: Instant,
    network: Network,
    nodes: Vec<(SocketAddr, N)>,
    by_addr: BTreeMap<SocketAddr, usize>,
    buf: Vec<u8>,
    max_rounds: usize,
    max_datagrams: usize,
}

impl<N: Node> Simulator<N> {
    /// An empty simulation. Simulated time starts at an `Instant::now()` taken once, here, and
    /// only ever advances by adding durations.
    pub fn new(seed: u64, default_link: LinkConfig) -> Self {
        let start = Instant::now();
        let mut network = Network::new(seed, default_link);
        network.set_epoch(start);
        Self {
            start,
            now: start,
            network,
            nodes: Vec::new(),
            by_addr: BTreeMap::new(),
            buf: vec![0; MAX_DATAGRAM],
            max_rounds: DEFAULT_MAX_ROUNDS_PER_INSTANT,
            max_datagrams: DEFAULT_MAX_DATAGRAMS_PER_INSTANT,
        }
    }

    /// Attaches a node at `addr`.
    pub fn add_node(&mut self, addr: SocketAddr, node: N) -> Result<NodeId, SimError> {
        if self.by_addr.contains_key(&addr) {
            return Err(SimError::DuplicateAddress(addr));
        }
        let id = NodeId(self.nodes.len());
        self.by_addr.insert(addr, id.0);
        self.nodes.push((addr, node));
        Ok(id)
    }

    /// The node with this id (`None` for an id of another simulator).
    pub fn node(&self, id: NodeId) -> Option<&N> {
        self.nodes.get(id.0).map(|(_, n)| n)
    }

    /// The node with this id, mutably.
    pub fn node_mut(&mut self, id: NodeId) -> Option<&mut N> {
        self.nodes.get_mut(id.0).map(|(_, n)| n)
    }

    /// The address of a node.
    pub fn addr(&self, id: NodeId) -> Option<SocketAddr> {
        self.nodes.get(id.0).map(|(a, _)| *a)
    }

    /// All nodes with their addresses, in registration order.
    pub fn nodes(&self) -> impl Iterator<Item = (SocketAddr, &N)> {
        self.nodes.iter().map(|(a, n)| (*a, n))
    }

    /// The network, for its statistics.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// The network, to configure links and routes.
    pub fn network_mut(&mut self) -> &mut Network {
        &mut self.network
    }

    /// The instant simulated time started at.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// The current simulated instant.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Simulated time elapsed since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Sets how many settle rounds, and how many emitted datagrams, one instant may take before
    /// [`SimError::Livelock`] (defaults: [`DEFAULT_MAX_ROUNDS_PER_INSTANT`],
    /// [`DEFAULT_MAX_DATAGRAMS_PER_INSTANT`]).
    pub fn set_livelock_limits(&mut self, rounds: usize, datagrams: usize) {
        self.max_rounds = rounds.max(1);
        self.max_datagrams = datagrams.max(1);
    }

    /// Whether every node is done.
    pub fn all_done(&self) -> bool {
        self.nodes.iter().all(|(_, n)| n.is_done())
    }

    /// Runs until every node is done, nothing is pending, or `limit` of simulated time since the
    /// start has passed (calling again with a larger limit continues the same run).
    pub fn run_until(&mut self, limit: Duration) -> Result<RunOutcome, SimError> {
        // A century of simulated time is "no limit" and keeps the addition from overflowing.
        let end = self.start + limit.min(Duration::from_secs(100 * 365 * 86_400));
        loop {
            if self.all_done() {
                return Ok(RunOutcome::AllDone);
            }
            if self.now > end {
                return Ok(RunOutcome::TimeLimit);
            }
            self.settle()?;
            if self.all_done() {
                return Ok(RunOutcome::AllDone);
            }
            let next = [self.network.next_delivery(), self.next_deadline()].into_iter().flatten().min();
            match next {
                None => return Ok(RunOutcome::Idle),
                Some(t) if t > end => {
                    self.now = end.max(self.now);
                    return Ok(RunOutcome::TimeLimit);
                }
                // A deadline in the past counts as now; settle() has fired everything due, so
                // `t > now` here unless a node keeps its deadline in the past (caught by settle).
                Some(t) => self.now = t.max(self.now),
            }
        }
    }

    /// The earliest node deadline.
    fn next_deadline(&self) -> Option<Instant> {
        self.nodes.iter().filter_map(|(_, n)| n.poll_timeout()).min()
    }

    /// Processes everything due at the current instant, in rounds, until a round does nothing.
    fn settle(&mut self) -> Result<(), SimError> {
        let now = self.now;
        let mut last_active = None;
        let mut emitted = 0usize;
        for round in 1..=self.max_rounds {
            let mut active = false;

            while let Some(d) = self.network.poll_delivery(now) {
                let mut data = d.data;
                // Sends to unregistered addresses are dropped at the sender and nodes are never
                // removed, so the destination always exists.
                if let Some(&i) = self.by_addr.get(&d.to) {
                    let (addr, node) = &mut self.nodes[i];
                    node.handle_datagram(now, d.from, &mut data);
                    last_active = Some(*addr);
                }
                self.network.recycle(data);
                active = true;
            }

            for (addr, node) in &mut self.nodes {
                if node.poll_timeout().is_some_and(|t| t <= now) {
                    node.handle_timeout(now);
                    last_active = Some(*addr);
                    active = true;
                }
            }

            for (from, node) in &mut self.nodes {
                while let Some((to, len)) = node.poll_transmit(now, &mut self.buf) {
                    let len = len.min(self.buf.len());
                    if self.by_addr.contains_key(&to) {
                        self.network.send(now, *from, to, &self.buf[..len]);
                    } else {
                        self.network.drop_unknown(*from, to, len);
                    }
                    last_active = Some(*from);
                    active = true;
                    emitted += 1;
                    if emitted > self.max_datagrams {
                        return Err(SimError::Livelock {
                            at: now - self.start,
                            rounds: round,
                            node: last_active,
                        });
                    }
                }
            }

            if !active {
                return Ok(());
            }
        }
        Err(SimError::Livelock { at: self.elapsed(), rounds: self.max_rounds, node: last_active })
    }
}
