//! The relay between the contenders: lrp2p-relay on a Tokio runtime of its own, whose threads
//! are named [`RELAY_THREAD`] so that their CPU time is counted apart; and the check that the
//! relay is not the bottleneck ([`relay_capacity`]).

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use lrp2p_relay::{Impairment, Relay, WaySnapshot};

use crate::window::{RELAY_THREAD, WindowMeter};

/// The relay's runtime: two workers, as `lrp2p relay` has.
const WORKERS: usize = 2;

/// A relay (once opened) and its runtime; dropping it stops both.
pub(crate) struct RelayHost {
    /// The relay's own runtime.
    runtime: tokio::runtime::Runtime,
    /// The running relay.
    relay: Option<Relay>,
    /// What it does, each way.
    impairment: Impairment,
    /// The seed of its randomness.
    seed: u64,
}

impl RelayHost {
    /// A runtime for a relay with `impairment` each way, seeded by `seed`.
    pub(crate) fn new(impairment: Impairment, seed: u64) -> io::Result<RelayHost> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .thread_name(RELAY_THREAD)
            .enable_all()
            .build()?;
        Ok(RelayHost { runtime, relay: None, impairment, seed })
    }

    /// Starts the relay on loopback towards `target`; returns the address clients send to.
    pub(crate) fn open(&mut self, target: SocketAddr) -> io::Result<SocketAddr> {
        let (imp, seed) = (self.impairment, self.seed);
        let relay = self.runtime.block_on(async move {
            let socket = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
            lrp2p_relay::spawn(socket, target, imp, seed)
        })?;
        let addr = relay.addr;
        self.relay = Some(relay);
        Ok(addr)
    }

    /// The counters of each direction: (client → target, target → client).
    pub(crate) fn counters(&self) -> (WaySnapshot, WaySnapshot) {
        match &self.relay {
            Some(r) => (r.counters.upstream.snapshot(), r.counters.downstream.snapshot()),
            None => Default::default(),
        }
    }
}

impl Drop for RelayHost {
    fn drop(&mut self) {
        // Aborts the relay's tasks (and so closes its sockets) before the runtime goes.
        self.relay = None;
    }
}

/// What the relay capacity check measured.
#[derive(Debug)]
pub(crate) struct Capacity {
    /// The rate offered, Mbit/s (UDP payload).
    pub(crate) offered_mbit: f64,
    /// What the relay forwarded within the window (its own counter), Mbit/s.
    pub(crate) mbit: f64,
    /// What the sink read within the window, Mbit/s (less when the sink, starved of CPU,
    /// lets its socket buffer overflow).
    pub(crate) sink_mbit: f64,
    /// Datagrams sent to the relay over the whole check.
    pub(crate) sent: u64,
    /// The relay threads' CPU over the window, in cores, where known.
    pub(crate) cpu_relay: Option<f64>,
    /// Process CPU over the window (sender, relay and sink), in cores.
    pub(crate) cpu_process: f64,
    /// The relay's upstream counters over the whole check.
    pub(crate) up: WaySnapshot,
}

/// Size of the datagrams sent through the relay (LRP2P's and, here, quinn's).
const DATAGRAM: usize = 1400;
/// How often the paced sender wakes to send what is due.
const TICK: Duration = Duration::from_micros(250);

/// Sends 1400-byte datagrams at `mbit` Mbit/s (paced: what is due every 250 µs) through an
/// unimpaired relay, and measures what it forwards over `secs` from the first datagram at the
/// sink. The sender, the relay and the sink share this machine's cores with each other (and
/// other processes).
pub(crate) fn relay_capacity(secs: Duration, mbit: f64) -> io::Result<Capacity> {
    let sink = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    let mut host = RelayHost::new(Impairment::default(), 0)?;
    let relay = host.open(sink.local_addr()?)?;
    let stop = Arc::new(AtomicBool::new(false));
    let per_sec = mbit * 1e6 / (DATAGRAM as f64 * 8.0);
    let sender = {
        let stop = stop.clone();
        thread::spawn(move || -> io::Result<u64> {
            let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
            socket.connect(relay)?;
            let datagram = [0x5a_u8; DATAGRAM];
            let start = Instant::now();
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let due = start.elapsed().as_secs_f64() * per_sec;
                while (sent as f64) < due {
                    // A full socket buffer is the relay falling behind: it shows as a shortfall.
                    let _ = socket.send(&datagram);
                    sent += 1;
                }
                thread::sleep(TICK);
            }
            Ok(sent)
        })
    };
    let mut meter = WindowMeter::new(secs);
    let mut buf = vec![0u8; 65_536];
    let mut forwarded_at_start = None;
    let outcome = loop {
        let now = Instant::now();
        let wait = match meter.deadline() {
            Some(d) if d <= now => break Ok(()),
            Some(d) => d - now,
            None => Duration::from_secs(5),
        };
        sink.set_read_timeout(Some(wait))?;
        match sink.recv(&mut buf) {
            Ok(n) => {
                forwarded_at_start.get_or_insert_with(|| host.counters().0.forwarded_bytes);
                meter.record(n, Instant::now());
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                if meter.deadline().is_none() {
                    break Err(io::Error::other("nothing came through the relay"));
                }
            }
            Err(e) => break Err(e),
        }
    };
    let forwarded = host.counters().0.forwarded_bytes - forwarded_at_start.unwrap_or(0);
    stop.store(true, Ordering::Relaxed);
    let sent = sender.join().map_err(|_| io::Error::other("the sender panicked"))??;
    outcome?;
    let up = host.counters().0;
    let w = meter.finish(String::new()).ok_or_else(|| io::Error::other("no window"))?;
    Ok(Capacity {
        offered_mbit: mbit,
        mbit: forwarded as f64 * 8.0 / w.secs / 1e6,
        sink_mbit: w.mbit(),
        sent,
        cpu_relay: w.cpu_relay.map(|c| c / w.secs),
        cpu_process: w.cpu_process / w.secs,
        up,
    })
}
