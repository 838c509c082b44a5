//! # lrp2p-relay: a userspace UDP impairment relay
//!
//! This machine has no netem, so impairments are applied in userspace, on Tokio: the relay
//! behind `lrp2p relay`, the one `lrp2p demo` runs in-process, and the one between the
//! contenders of lrp2p-bench's `impaired` benchmark. [`spawn`] starts one on a bound socket;
//! the [`impair`] module is its model (loss, rate limit with a bounded queue, delay, jitter,
//! reordering), free of sockets and clocks.
//!
//! Clients send to the relay's address; each client address gets its own upstream socket
//! connected to the target, so replies find their way back to the right client and several
//! clients work at once. Both directions pass through their own seeded [`impair::Shaper`].
//!
//! [`Counters`] count what happened, in total (what `lrp2p relay` prints) and per direction
//! ([`WayCounters`]: forwarded, lost, queue drops, reordered, and drops because the relay
//! itself fell behind), so that a benchmark can show the impairment it applied.
//!
//! Source addresses are cheap to spoof, so the client table is bounded ([`MAX_CLIENTS`]) and
//! a client silent in both directions for [`CLIENT_IDLE`] is evicted (its tasks end and its
//! upstream socket closes): on a periodic sweep, and at once when the table is full.

pub mod impair;

use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use impair::Impairment;
use impair::{Fate, Shaper};

/// Largest datagram relayed.
const MAX_DATAGRAM: usize = 65_535;
/// Datagrams waiting to enter one direction's shaper; more are dropped as queue overflow.
const CHANNEL: usize = 8192;
/// Most clients served at once; datagrams from more are dropped (once idle ones are evicted).
pub const MAX_CLIENTS: usize = 1024;
/// A client that neither sent nor received anything for this long is evicted.
pub const CLIENT_IDLE: Duration = Duration::from_secs(60);

/// The client table's bounds (parameters so that tests can use small ones).
#[derive(Clone, Copy, Debug)]
struct Limits {
    /// Most clients at once.
    max_clients: usize,
    /// Idle time after which a client is evicted.
    idle: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_clients: MAX_CLIENTS, idle: CLIENT_IDLE }
    }
}

/// What the relay did, for summaries and tests.
#[derive(Debug, Default)]
pub struct Counters {
    /// Datagrams delivered.
    pub forwarded: AtomicU64,
    /// Datagrams dropped by random loss.
    pub lost: AtomicU64,
    /// Datagrams dropped by a full queue (or too many clients).
    pub overflow: AtomicU64,
    /// Idle clients evicted.
    pub evicted: AtomicU64,
    /// Client → target, all clients together.
    pub upstream: WayCounters,
    /// Target → client, all clients together.
    pub downstream: WayCounters,
}

/// One direction's counts (the totals of [`Counters`] add both directions up).
#[derive(Debug, Default)]
pub struct WayCounters {
    /// Datagrams delivered.
    pub forwarded: AtomicU64,
    /// Bytes (UDP payload) delivered.
    pub forwarded_bytes: AtomicU64,
    /// Datagrams dropped by random loss.
    pub lost: AtomicU64,
    /// Datagrams dropped by the rate-limited queue (tail drop).
    pub queue_full: AtomicU64,
    /// Datagrams dropped because the shaper task had not taken the earlier ones yet: the relay
    /// itself did not keep up. Any of these means the figures measured the relay.
    pub backlog: AtomicU64,
    /// Datagrams held back for reordering (delivered, and counted in `forwarded` too).
    pub held: AtomicU64,
}

/// A snapshot of [`WayCounters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct WaySnapshot {
    /// Datagrams delivered.
    pub forwarded: u64,
    /// Bytes (UDP payload) delivered.
    pub forwarded_bytes: u64,
    /// Datagrams dropped by random loss.
    pub lost: u64,
    /// Datagrams dropped by the rate-limited queue.
    pub queue_full: u64,
    /// Datagrams dropped because the relay did not keep up.
    pub backlog: u64,
    /// Datagrams held back for reordering.
    pub held: u64,
}

impl WayCounters {
    /// The counts now.
    pub fn snapshot(&self) -> WaySnapshot {
        WaySnapshot {
            forwarded: self.forwarded.load(Ordering::Relaxed),
            forwarded_bytes: self.forwarded_bytes.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            queue_full: self.queue_full.load(Ordering::Relaxed),
            backlog: self.backlog.load(Ordering::Relaxed),
            held: self.held.load(Ordering::Relaxed),
        }
    }
}

/// A direction through the relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Way {
    /// From the clients to the target.
    Up,
    /// From the target back to the clients.
    Down,
}

/// A snapshot of [`Counters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CounterSnapshot {
    /// Datagrams delivered.
    pub forwarded: u64,
    /// Datagrams dropped by random loss.
    pub lost: u64,
    /// Datagrams dropped by a full queue.
    pub overflow: u64,
    /// Idle clients evicted.
    pub evicted: u64,
}

impl Counters {
    /// The counts now.
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            forwarded: self.forwarded.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            overflow: self.overflow.load(Ordering::Relaxed),
            evicted: self.evicted.load(Ordering::Relaxed),
        }
    }

    /// One direction's counters.
    fn way(&self, way: Way) -> &WayCounters {
        match way {
            Way::Up => &self.upstream,
            Way::Down => &self.downstream,
        }
    }

    /// Counts a datagram that found `way`'s shaper channel full.
    fn backlog(&self, way: Way) {
        self.overflow.fetch_add(1, Ordering::Relaxed);
        self.way(way).backlog.fetch_add(1, Ordering::Relaxed);
    }
}

/// A running relay; dropping it stops every task.
#[derive(Debug)]
pub struct Relay {
    /// The address clients send to.
    pub addr: SocketAddr,
    /// Its counters.
    pub counters: Arc<Counters>,
    /// The accepting loop (it owns the per-client tasks).
    task: JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Socket buffer size asked for (the kernel caps it at `net.core.rmem_max`/`wmem_max`): a
/// relay that reads late must not add kernel drops to the loss it was asked for.
const SOCKET_BUFFER: usize = 4 << 20;

/// Enlarges `socket`'s kernel buffers, best effort.
fn enlarge_buffers(socket: &UdpSocket) {
    let s = socket2::SockRef::from(socket);
    let _ = s.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = s.set_send_buffer_size(SOCKET_BUFFER);
}

/// The wildcard address of `peer`'s family to bind a socket that talks to `peer` (loopback
/// stays loopback, so that a relay on 127.0.0.1 never listens on other interfaces).
fn any_addr_for(peer: SocketAddr) -> SocketAddr {
    let ip: IpAddr = match peer.ip() {
        ip if ip.is_loopback() => ip,
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    SocketAddr::new(ip, 0)
}

/// Starts a relay on `listen` forwarding to `target` with `imp` in each direction, seeded by
/// `seed`. Returns once it is ready to relay.
pub fn spawn(listen: UdpSocket, target: SocketAddr, imp: Impairment, seed: u64) -> io::Result<Relay> {
    spawn_with(listen, target, imp, seed, Limits::default())
}

/// [`spawn`] with explicit client-table limits.
fn spawn_with(
    listen: UdpSocket,
    target: SocketAddr,
    imp: Impairment,
    seed: u64,
    limits: Limits,
) -> io::Result<Relay> {
    let addr = listen.local_addr()?;
    enlarge_buffers(&listen);
    let counters = Arc::new(Counters::default());
    let task = tokio::spawn(accept_loop(Arc::new(listen), target, imp, seed, limits, counters.clone()));
    Ok(Relay { addr, counters, task })
}

/// When a client was last heard from or answered, in milliseconds since a relay's epoch
/// (shared with the client's upstream reader).
#[derive(Debug)]
struct LastSeen {
    /// The relay's epoch.
    epoch: Instant,
    /// Milliseconds since `epoch`.
    millis: AtomicU64,
}

impl LastSeen {
    /// Seen now.
    fn new(epoch: Instant) -> LastSeen {
        let seen = LastSeen { epoch, millis: AtomicU64::new(0) };
        seen.touch();
        seen
    }

    /// Records activity now.
    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.millis.fetch_max(ms, Ordering::Relaxed);
    }

    /// Whether nothing happened for longer than `idle`.
    fn idle_for(&self, idle: Duration) -> bool {
        let seen = self.epoch + Duration::from_millis(self.millis.load(Ordering::Relaxed));
        seen.elapsed() > idle
    }
}

/// One client's state: the channel into its upstream direction and its tasks.
struct Client {
    /// Datagrams from the client, towards the target.
    up: mpsc::Sender<Vec<u8>>,
    /// Its last activity, either way.
    seen: Arc<LastSeen>,
    /// Upstream shaper, upstream reader and downstream shaper tasks.
    tasks: [JoinHandle<()>; 3],
}

impl Drop for Client {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Receives from clients, creating each client's path on its first datagram.
async fn accept_loop(
    listen: Arc<UdpSocket>,
    target: SocketAddr,
    imp: Impairment,
    seed: u64,
    limits: Limits,
    counters: Arc<Counters>,
) {
    let mut clients: HashMap<SocketAddr, Client> = HashMap::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut next_index = 0u64;
    let epoch = Instant::now();
    let mut sweep = tokio::time::interval(limits.idle / 2);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Dropping a client aborts its tasks, which closes its upstream socket.
    let evict_idle = |clients: &mut HashMap<SocketAddr, Client>| {
        let before = clients.len();
        clients.retain(|_, c| !c.seen.idle_for(limits.idle));
        counters.evicted.fetch_add((before - clients.len()) as u64, Ordering::Relaxed);
    };
    loop {
        let received = tokio::select! {
            // `recv_from` is cancel-safe.
            r = listen.recv_from(&mut buf) => r,
            _ = sweep.tick() => {
                evict_idle(&mut clients);
                continue;
            }
        };
        let (n, from) = match received {
            Ok(x) => x,
            // ICMP errors (a port unreachable from an earlier send) surface here: ignore them.
            Err(_) => continue,
        };
        if !clients.contains_key(&from) {
            if clients.len() >= limits.max_clients {
                evict_idle(&mut clients);
            }
            if clients.len() >= limits.max_clients {
                counters.overflow.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            // Distinct, reproducible randomness per client and direction.
            let seed_up = seed ^ next_index.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let seeds = (seed_up, seed_up ^ 0x5555_5555_5555_5555);
            next_index += 1;
            let seen = Arc::new(LastSeen::new(epoch));
            match open_client(&listen, from, target, imp, seeds, seen, &counters).await {
                Ok(c) => {
                    clients.insert(from, c);
                }
                Err(_) => continue,
            }
        }
        if let Some(client) = clients.get(&from) {
            client.seen.touch();
            if client.up.try_send(buf[..n].to_vec()).is_err() {
                counters.backlog(Way::Up);
            }
        }
    }
}

/// Opens `client`'s upstream socket and starts its three tasks, seeded `(up, down)`.
async fn open_client(
    listen: &Arc<UdpSocket>,
    client: SocketAddr,
    target: SocketAddr,
    imp: Impairment,
    (seed_up, seed_down): (u64, u64),
    seen: Arc<LastSeen>,
    counters: &Arc<Counters>,
) -> io::Result<Client> {
    let upstream = UdpSocket::bind(any_addr_for(target)).await?;
    enlarge_buffers(&upstream);
    let upstream = Arc::new(upstream);
    upstream.connect(target).await?;
    let (up_tx, up_rx) = mpsc::channel(CHANNEL);
    let (down_tx, down_rx) = mpsc::channel(CHANNEL);
    let up = tokio::spawn(shape(
        up_rx,
        Shaper::new(imp, seed_up),
        upstream.clone(),
        None,
        counters.clone(),
        Way::Up,
    ));
    let down = tokio::spawn(shape(
        down_rx,
        Shaper::new(imp, seed_down),
        listen.clone(),
        Some(client),
        counters.clone(),
        Way::Down,
    ));
    let reader_counters = counters.clone();
    let reader_seen = seen.clone();
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            match upstream.recv(&mut buf).await {
                Ok(n) => {
                    reader_seen.touch();
                    if down_tx.try_send(buf[..n].to_vec()).is_err() {
                        reader_counters.backlog(Way::Down);
                    }
                }
                Err(_) => continue,
            }
        }
    });
    Ok(Client { up: up_tx, seen, tasks: [up, reader, down] })
}

/// A datagram waiting for its release time (ordered by time, then arrival).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    /// When it leaves.
    at: Instant,
    /// Arrival order, breaking ties.
    seq: u64,
    /// The datagram.
    data: Vec<u8>,
}

/// One direction (`way`, counted there and in the totals): admits datagrams through `shaper`
/// and sends each at its release time, to `dest` or, when `None`, on the connected `socket`.
async fn shape(
    mut rx: mpsc::Receiver<Vec<u8>>,
    mut shaper: Shaper,
    socket: Arc<UdpSocket>,
    dest: Option<SocketAddr>,
    counters: Arc<Counters>,
    way: Way,
) {
    let counts = counters.way(way);
    let mut heap: BinaryHeap<std::cmp::Reverse<Pending>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut held_before = 0;
    loop {
        let next = heap.peek().map(|p| p.0.at);
        tokio::select! {
            received = rx.recv() => {
                let Some(data) = received else { return };
                match shaper.admit(Instant::now(), data.len()) {
                    Fate::Deliver(at) => {
                        seq += 1;
                        heap.push(std::cmp::Reverse(Pending { at, seq, data }));
                        // Several clients' shapers add to one count: each adds its own news.
                        let held = shaper.held();
                        if held > held_before {
                            counts.held.fetch_add(held - held_before, Ordering::Relaxed);
                            held_before = held;
                        }
                    }
                    Fate::Lost => {
                        counters.lost.fetch_add(1, Ordering::Relaxed);
                        counts.lost.fetch_add(1, Ordering::Relaxed);
                    }
                    Fate::QueueFull => {
                        counters.overflow.fetch_add(1, Ordering::Relaxed);
                        counts.queue_full.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            () = sleep_until(next), if next.is_some() => {
                let now = Instant::now();
                while heap.peek().is_some_and(|p| p.0.at <= now) {
                    let Some(std::cmp::Reverse(p)) = heap.pop() else { break };
                    let sent = match dest {
                        Some(d) => socket.send_to(&p.data, d).await,
                        None => socket.send(&p.data).await,
                    };
                    if sent.is_ok() {
                        counters.forwarded.fetch_add(1, Ordering::Relaxed);
                        counts.forwarded.fetch_add(1, Ordering::Relaxed);
                        counts.forwarded_bytes.fetch_add(p.data.len() as u64, Ordering::Relaxed);
                    }
                }
            }
        }
    }
}

/// Sleeps until `at` (forever when `None`; the select guard keeps that branch off).
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
