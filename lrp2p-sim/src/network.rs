//! The emulated network: links, the routes that map `(from, to)` onto them, and the datagrams in
//! flight, ordered by arrival time.
//!
//! [`Network`] is itself sans-IO: [`send`](Network::send) datagrams at a time, then
//! [`poll_delivery`](Network::poll_delivery) those that are due. The [`Simulator`](crate::Simulator)
//! drives it in simulated time; a userspace relay could drive it with a real clock.
//!
//! Routing: a pair without an explicit route gets its own link with the default configuration,
//! created on first use. Several pairs may share one link (a bottleneck): see
//! [`add_link`](Network::add_link) and [`route`](Network::route).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::SocketAddr;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::config::LinkConfig;
use crate::link::Link;
use crate::stats::LinkStats;

/// Identifies a link of one [`Network`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(usize);

impl LinkId {
    /// The link's index, in order of creation.
    pub fn index(self) -> usize {
        self.0
    }
}

/// A datagram that has arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// When it arrived.
    pub at: Instant,
    /// The sender's address.
    pub from: SocketAddr,
    /// The destination address.
    pub to: SocketAddr,
    /// The link that carried it.
    pub link: LinkId,
    /// Its bytes (possibly corrupted).
    pub data: Vec<u8>,
}

/// A read-only look at one link.
#[derive(Debug, Clone, Copy)]
pub struct LinkView<'a> {
    /// Its id.
    pub id: LinkId,
    /// Its name (`"from -> to"` unless given by [`Network::add_link`]).
    pub label: &'a str,
    /// Its configuration.
    pub config: &'a LinkConfig,
    /// Its counters.
    pub stats: &'a LinkStats,
}

/// A datagram on its way; the heap orders these by earliest arrival, then by send order.
#[derive(Debug)]
struct InFlight {
    at: Instant,
    seq: u64,
    link: LinkId,
    from: SocketAddr,
    to: SocketAddr,
    data: Vec<u8>,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap and we want the earliest (then the oldest) first.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Links, routes and datagrams in flight; every random choice comes from `seed`.
#[derive(Debug)]
pub struct Network {
    seed: u64,
    /// The instant link schedules count from (see [`set_epoch`](Network::set_epoch)).
    epoch: Option<Instant>,
    default_link: LinkConfig,
    links: Vec<Link>,
    routes: BTreeMap<(SocketAddr, SocketAddr), LinkId>,
    in_flight: BinaryHeap<InFlight>,
    next_seq: u64,
    /// Arrivals produced by the last offer (reused to avoid allocation).
    scratch: Vec<(Instant, Vec<u8>)>,
    /// Datagram buffers ready for reuse.
    spare: Vec<Vec<u8>>,
}

/// At most this many spare buffers are kept.
const MAX_SPARE: usize = 1024;

impl Network {
    /// An empty network; pairs without a route get a link configured as `default_link`.
    pub fn new(seed: u64, default_link: LinkConfig) -> Self {
        Self {
            seed,
            epoch: None,
            default_link,
            links: Vec::new(),
            routes: BTreeMap::new(),
            in_flight: BinaryHeap::new(),
            next_seq: 0,
            scratch: Vec::with_capacity(2),
            spare: Vec::new(),
        }
    }

    /// The seed every link's random stream derives from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Sets the instant every link's [schedule](LinkConfig::schedule) counts from. Without it,
    /// the epoch is the time of the first datagram sent. The [`Simulator`](crate::Simulator)
    /// sets it to the start of simulated time.
    pub fn set_epoch(&mut self, epoch: Instant) {
        self.epoch = Some(epoch);
    }

    /// The instant link schedules count from, once set or once a datagram was sent.
    pub fn epoch(&self) -> Option<Instant> {
        self.epoch
    }

    /// Creates a link that no route uses yet. Its random stream is the ChaCha8 stream numbered by
    /// its index under the network's seed, so adding a link never changes what the others do.
    pub fn add_link(&mut self, label: impl Into<String>, config: LinkConfig) -> LinkId {
        let id = LinkId(self.links.len());
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(id.0 as u64);
        self.links.push(Link::new(label.into(), config, rng));
        id
    }

    /// Sends what `from` sends to `to` over `link` (several routes may share a link).
    pub fn route(&mut self, from: SocketAddr, to: SocketAddr, link: LinkId) {
        self.routes.insert((from, to), link);
    }

    /// Creates a link for the direction `from → to` and routes it.
    pub fn set_link(&mut self, from: SocketAddr, to: SocketAddr, config: LinkConfig) -> LinkId {
        let id = self.add_link(format!("{from} -> {to}"), config);
        self.route(from, to, id);
        id
    }

    /// Creates both directions between `a` and `b` with the same configuration (each direction
    /// is its own link with its own queue); returns `(a → b, b → a)`.
    pub fn set_path(&mut self, a: SocketAddr, b: SocketAddr, config: LinkConfig) -> (LinkId, LinkId) {
        (self.set_link(a, b, config.clone()), self.set_link(b, a, config))
    }

    /// The link that carries `from → to`, created with the default configuration if none does.
    pub fn link_between(&mut self, from: SocketAddr, to: SocketAddr) -> LinkId {
        match self.routes.get(&(from, to)) {
            Some(&id) => id,
            None => self.set_link(from, to, self.default_link.clone()),
        }
    }

    /// Offers a datagram from `from` to `to` at `now`; returns the link it went on.
    pub fn send(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) -> LinkId {
        let id = self.link_between(from, to);
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(data);
        let mut arrivals = std::mem::take(&mut self.scratch);
        let epoch = *self.epoch.get_or_insert(now);
        let dropped = self.links[id.0].offer(now, epoch, buf, &mut arrivals);
        for (at, data) in arrivals.drain(..) {
            let seq = self.next_seq;
            self.next_seq += 1;
            self.in_flight.push(InFlight { at, seq, link: id, from, to, data });
        }
        self.scratch = arrivals;
        if let Some(buf) = dropped {
            self.recycle(buf);
        }
        id
    }

    /// Counts a datagram of `len` bytes that `from` sent to an address where nothing listens.
    pub fn drop_unknown(&mut self, from: SocketAddr, to: SocketAddr, len: usize) -> LinkId {
        let id = self.link_between(from, to);
        self.links[id.0].count_unknown(len);
        id
    }

    /// When the next datagram arrives, if any is in flight.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.in_flight.peek().map(|p| p.at)
    }

    /// The next datagram due at or before `now`, earliest first (ties in send order).
    pub fn poll_delivery(&mut self, now: Instant) -> Option<Delivery> {
        if self.in_flight.peek()?.at > now {
            return None;
        }
        let p = self.in_flight.pop()?;
        self.links[p.link.0].count_delivered(p.data.len());
        Some(Delivery { at: p.at, from: p.from, to: p.to, link: p.link, data: p.data })
    }

    /// Returns a delivered datagram's buffer for reuse.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        if self.spare.len() < MAX_SPARE {
            self.spare.push(buf);
        }
    }

    /// Number of datagrams in flight on all links.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// One link's counters (`None` for an id of another network).
    pub fn link_stats(&self, id: LinkId) -> Option<&LinkStats> {
        self.links.get(id.0).map(Link::stats)
    }

    /// All links, in order of creation.
    pub fn links(&self) -> impl Iterator<Item = LinkView<'_>> {
        self.links.iter().enumerate().map(|(i, l)| LinkView {
            id: LinkId(i),
            label: l.label(),
            config: l.config(),
            stats: l.stats(),
        })
    }

    /// The counters of all links added up.
    pub fn total_stats(&self) -> LinkStats {
        let mut total = LinkStats::default();
        for link in &self.links {
            total.accumulate(link.stats());
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    #[test]
    fn delivers_after_the_delay_in_send_order() {
        let t0 = Instant::now();
        let mut net = Network::new(1, LinkConfig::new().delay(Duration::from_millis(10)));
        net.send(t0, addr(1), addr(2), b"one");
        net.send(t0, addr(1), addr(2), b"two");
        assert_eq!(net.next_delivery(), Some(t0 + Duration::from_millis(10)));
        assert!(net.poll_delivery(t0 + Duration::from_millis(9)).is_none());
        let later = t0 + Duration::from_millis(10);
        assert_eq!(net.poll_delivery(later).map(|d| d.data), Some(b"one".to_vec()));
        assert_eq!(net.poll_delivery(later).map(|d| d.data), Some(b"two".to_vec()));
        assert!(net.poll_delivery(later).is_none());
        let stats = net.total_stats();
        assert_eq!((stats.offered, stats.delivered, stats.bytes_delivered), (2, 2, 6));
        assert!(stats.is_balanced());
    }

    #[test]
    fn shared_bottleneck_counts_every_route() {
        let t0 = Instant::now();
        let mut net = Network::new(1, LinkConfig::new());
        let shared = net.add_link("bottleneck", LinkConfig::new());
        net.route(addr(1), addr(9), shared);
        net.route(addr(2), addr(9), shared);
        net.send(t0, addr(1), addr(9), b"a");
        net.send(t0, addr(2), addr(9), b"b");
        net.send(t0, addr(9), addr(1), b"back");
        assert_eq!(net.link_stats(shared).map(|s| s.offered), Some(2));
        assert_eq!(net.links().count(), 2);
        assert_eq!(
            net.links().nth(1).map(|l| l.label.to_owned()),
            Some(format!("{} -> {}", addr(9), addr(1)))
        );
    }
}
