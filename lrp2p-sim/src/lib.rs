//! # lrp2p-sim: a deterministic, seeded network emulator for LRP2P
//!
//! Sans-IO protocol code can run on simulated time. This crate provides that time and a network
//! between the nodes: links with delay, jitter, random and burst loss, duplication, reordering,
//! corruption, a rate limit and a drop-tail queue, all driven by one seed, so that a run replays
//! exactly. It is the integration test bed (everything delivered intact, exactly once, in order)
//! and the congestion-control benchmark (goodput as a fraction of link capacity) of the project
//! (`docs/ARCHITECTURE.md`, "Testing").
//!
//! - [`Node`]: what the emulator drives (an LRP2P `Endpoint` is adapted to it).
//! - [`LinkConfig`]: what a link does to datagrams ([`config`] describes the model), including a
//!   schedule of rate and delay changes ([`LinkChange`]) applied in simulated time.
//! - [`Network`]: links, routes and datagrams in flight (usable on its own, also in real time).
//! - [`Simulator`]: nodes on a network, driven by an event loop in simulated time.
//! - [`LinkStats`]: what happened on each link.
//! - [`Summary`], [`jain_fairness`], [`goodput_mbit`], [`percentile`]: the figures a scenario
//!   reports (RTT percentiles as the senders measured them, fairness while flows competed, the
//!   response to a link change: [`AfterChange`]); [`series`]: each flow's counters every 100 ms
//!   and the windowed figures computed from them.
//! - [`Cc`] and [`controller`]: the congestion controller of each flow by name, the one place
//!   that maps a name to an `lrp2p-proto` controller.
//! - [`scenario`]: the parameters (per-flow controllers and start times included), topology
//!   helpers and report of a benchmark scenario; [`transfer`]: real `lrp2p-proto` endpoints
//!   moving verified data (the benchmark); [`toy`]: simple test traffic for the emulator
//!   itself; [`sweep`]: a scenario over a grid of paths, one row of figures per run (the
//!   long-RTT grid of issue 9, the lossy grid of issue 12 judged against its targets).
//!
//! ```
//! use std::time::Duration;
//! use lrp2p_sim::{LinkConfig, Simulator, toy::{ToyNode, ToyReceiver, ToySender}};
//!
//! let mut sim = Simulator::<ToyNode>::new(7, LinkConfig::new().delay(Duration::from_millis(10)));
//! let (a, b) = ("10.0.0.1:1".parse().unwrap(), "10.0.0.2:1".parse().unwrap());
//! let sender = ToySender::new(0, b, sim.start(), Duration::from_millis(1), 100, 10, Duration::from_secs(1));
//! sim.add_node(a, ToyNode::Sender(sender)).unwrap();
//! let rx = sim.add_node(b, ToyNode::Receiver(ToyReceiver::new())).unwrap();
//! sim.run_until(Duration::from_secs(10)).unwrap();
//! let Some(ToyNode::Receiver(r)) = sim.node(rx) else { panic!() };
//! assert_eq!(r.total_packets(), 10);
//! ```

use std::net::SocketAddr;
use std::time::Instant;

pub mod cc;
pub mod config;
mod link;
pub mod network;
pub mod scenario;
pub mod series;
pub mod sim;
pub mod stats;
pub mod summary;
pub mod sweep;
pub mod toy;
pub mod transfer;

pub use cc::{Cc, controller};
pub use config::{GilbertElliott, Jitter, LinkChange, LinkConfig};
pub use network::{Delivery, LinkId, LinkView, Network};
pub use sim::{NodeId, RunOutcome, SimError, Simulator};
pub use stats::LinkStats;
pub use summary::{AfterChange, Summary, efficiency, goodput_mbit, jain_fairness, percentile};

/// Something attached to the simulated network at one address, driven in simulated time.
///
/// The shape is the sans-IO contract of `lrp2p-proto`: input through `handle_*`, output through
/// `poll_*`, and `now` passed into every call.
pub trait Node {
    /// A datagram from `from` has arrived (it may be corrupted, duplicated or out of order).
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &mut [u8]);
    /// The deadline returned by [`poll_timeout`](Self::poll_timeout) has been reached.
    fn handle_timeout(&mut self, now: Instant);
    /// Next datagram to send, written into `buf`; returns (destination, length).
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(SocketAddr, usize)>;
    /// When [`handle_timeout`](Self::handle_timeout) should be called next (a deadline in the past
    /// counts as now).
    fn poll_timeout(&self) -> Option<Instant>;
    /// True once the node has finished its job (the run stops when all nodes are done or a time
    /// limit passes).
    fn is_done(&self) -> bool;
}

impl<T: Node + ?Sized> Node for Box<T> {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &mut [u8]) {
        (**self).handle_datagram(now, from, data);
    }
    fn handle_timeout(&mut self, now: Instant) {
        (**self).handle_timeout(now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        (**self).poll_transmit(now, buf)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        (**self).poll_timeout()
    }
    fn is_done(&self) -> bool {
        (**self).is_done()
    }
}

impl std::fmt::Debug for dyn Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn Node")
    }
}
