//! What every attack shares: source sockets on many loopback addresses with their byte
//! counters, a pacer that holds a target rate, and what an attack hands back.
//!
//! All of 127.0.0.0/8 is local on Linux, so an attack binds one UDP socket per source address
//! (`127.A.x.y`, spread over several /24s) and the server sees that many hosts. Every socket
//! counts what it sends and what it receives from the server, by datagram type, so that the
//! amplification of each source can be computed (PROTOCOL.md §10.4).

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How long the sockets keep counting answers after the last datagram was sent.
pub(crate) const DRAIN: Duration = Duration::from_millis(400);

/// Largest datagram an attack socket reads.
pub(crate) const RECV_BUF: usize = 2048;

/// Kinds of datagrams received from the server, by first byte (PROTOCOL.md §2).
pub(crate) const KINDS: [&str; 5] = ["IK response", "XX response", "cookie reply", "transport", "other"];

/// The index of XX responses in [`KINDS`].
pub(crate) const XX_RESPONSE: usize = 1;

/// The index in [`KINDS`] of a datagram whose first byte is `first` (PROTOCOL.md §2).
fn kind(first: u8) -> usize {
    match first {
        0x12 => 0,
        0x14 => XX_RESPONSE,
        0x16 => 2,
        0x18 | 0x19 => 3,
        _ => 4,
    }
}

/// What one source sent and received.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counts {
    /// Datagrams sent to the server.
    pub(crate) tx_dgrams: u64,
    /// Bytes sent to the server.
    pub(crate) tx_bytes: u64,
    /// Datagrams received from the server.
    pub(crate) rx_dgrams: u64,
    /// Bytes received from the server.
    pub(crate) rx_bytes: u64,
    /// Datagrams received, by [`KINDS`].
    pub(crate) rx_kinds: [u64; KINDS.len()],
    /// Sends the kernel refused.
    pub(crate) send_errors: u64,
}

impl Counts {
    /// Counts one sent datagram of `len` bytes.
    pub(crate) fn sent(&mut self, len: usize) {
        self.tx_dgrams += 1;
        self.tx_bytes += len as u64;
    }

    /// Counts one received datagram.
    pub(crate) fn received(&mut self, datagram: &[u8]) {
        self.rx_dgrams += 1;
        self.rx_bytes += datagram.len() as u64;
        self.rx_kinds[kind(datagram.first().copied().unwrap_or(0))] += 1;
    }

    /// Adds another source's counts.
    pub(crate) fn add(&mut self, other: &Counts) {
        self.tx_dgrams += other.tx_dgrams;
        self.tx_bytes += other.tx_bytes;
        self.rx_dgrams += other.rx_dgrams;
        self.rx_bytes += other.rx_bytes;
        self.send_errors += other.send_errors;
        for (a, b) in self.rx_kinds.iter_mut().zip(other.rx_kinds) {
            *a += b;
        }
    }
}

/// One source address: a non-blocking UDP socket and its counts.
#[derive(Debug)]
pub(crate) struct Source {
    socket: UdpSocket,
    /// What it sent and received.
    pub(crate) counts: Counts,
}

impl Source {
    /// Binds a non-blocking socket on `ip`, any port.
    pub(crate) fn bind(ip: Ipv4Addr) -> io::Result<Source> {
        let socket = UdpSocket::bind(SocketAddrV4::new(ip, 0))?;
        socket.set_nonblocking(true)?;
        Ok(Source { socket, counts: Counts::default() })
    }

    /// The socket's address.
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Sends one datagram to `to`, counting it (or the refusal).
    pub(crate) fn send(&mut self, datagram: &[u8], to: SocketAddr) {
        match self.socket.send_to(datagram, to) {
            Ok(n) => self.counts.sent(n),
            Err(_) => self.counts.send_errors += 1,
        }
    }

    /// Reads and counts everything waiting; calls `each` with every datagram. Returns how many.
    pub(crate) fn drain(&mut self, buf: &mut [u8], mut each: impl FnMut(SocketAddr, &mut [u8])) -> usize {
        let mut n = 0;
        // Bounded: at most this many per call, so that one busy socket cannot starve the rest.
        while n < 256 {
            match self.socket.recv_from(buf) {
                Ok((len, from)) => {
                    self.counts.received(&buf[..len]);
                    each(from, &mut buf[..len]);
                    n += 1;
                }
                Err(_) => break,
            }
        }
        n
    }
}

/// The `i`-th source address of an attack whose addresses start with `127.first`: 250 per /24
/// (`127.first.(i / 250).(i % 250 + 1)`).
pub(crate) fn source_ip(first: u8, i: usize) -> Ipv4Addr {
    let block = u8::try_from(i / 250).unwrap_or(u8::MAX);
    let host = u8::try_from(i % 250 + 1).unwrap_or(u8::MAX);
    Ipv4Addr::new(127, first, block, host)
}

/// Binds `n` sources on `127.first.*.*` (see [`source_ip`]).
pub(crate) fn bind_sources(first: u8, n: usize) -> io::Result<Vec<Source>> {
    (0..n)
        .map(|i| {
            Source::bind(source_ip(first, i))
                .map_err(|e| io::Error::new(e.kind(), format!("binding {}: {e}", source_ip(first, i))))
        })
        .collect()
}

/// `x` rounded down to a count: `as` saturates (negative and NaN give 0), which is what a
/// count of datagrams due wants.
#[allow(clippy::cast_possible_truncation, reason = "saturating on purpose")]
pub(crate) fn count(x: f64) -> u64 {
    x as u64
}

/// Holds a rate: how many datagrams are due since the start, never more than a burst behind.
#[derive(Debug)]
pub(crate) struct Pacer {
    start: Instant,
    per_sec: f64,
    done: u64,
}

impl Pacer {
    /// Most datagrams sent at once when behind (50 ms at the rate, at least 8).
    fn burst(&self) -> u64 {
        count(self.per_sec * 0.05).max(8)
    }

    /// A pacer at `per_sec` datagrams per second from now.
    pub(crate) fn new(per_sec: f64) -> Pacer {
        Pacer { start: Instant::now(), per_sec: per_sec.max(1.0), done: 0 }
    }

    /// How many datagrams to send now (the caller sends them, then calls again).
    pub(crate) fn due(&mut self) -> u64 {
        let target = count(self.start.elapsed().as_secs_f64() * self.per_sec);
        // Far behind (a stall): give up the backlog beyond one burst instead of flooding.
        if target > self.done + self.burst() {
            self.done = target - self.burst();
        }
        let n = target.saturating_sub(self.done);
        self.done += n;
        n
    }
}

/// What an attack did: the datagrams it sent, over how long, what each source saw, and notes
/// on the attack's own view (what it was answered).
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// From the first datagram sent to the last.
    pub(crate) elapsed: Duration,
    /// Per source, whether its address was validated (a cookie echoed, a handshake
    /// confirmed): the amplification limit binds only unvalidated ones.
    pub(crate) sources: Vec<(Counts, bool)>,
    /// Lines for the table's notes.
    pub(crate) notes: Vec<String>,
}

impl Outcome {
    /// Every source's counts summed.
    pub(crate) fn total(&self) -> Counts {
        let mut total = Counts::default();
        for (c, _) in &self.sources {
            total.add(c);
        }
        total
    }

    /// Datagrams per second achieved.
    pub(crate) fn rate(&self) -> f64 {
        self.total().tx_dgrams as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The largest bytes received ÷ bytes sent of any source that sent something, and whether
    /// that source was validated.
    pub(crate) fn max_amplification(&self) -> Option<(f64, bool)> {
        self.sources
            .iter()
            .filter(|(c, _)| c.tx_bytes > 0)
            .map(|(c, v)| (c.rx_bytes as f64 / c.tx_bytes as f64, *v))
            .max_by(|a, b| a.0.total_cmp(&b.0))
    }

    /// Bytes received ÷ bytes sent over all sources.
    pub(crate) fn total_amplification(&self) -> Option<f64> {
        let t = self.total();
        (t.tx_bytes > 0).then(|| t.rx_bytes as f64 / t.tx_bytes as f64)
    }

    /// A note listing what the sources received, by kind.
    pub(crate) fn received_note(&self) -> String {
        let t = self.total();
        let kinds: Vec<String> = KINDS
            .iter()
            .zip(t.rx_kinds)
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| format!("{n} {name}"))
            .collect();
        format!(
            "sent {} datagrams ({} B, {} send errors) from {} sources; received {} datagrams ({} B){}",
            t.tx_dgrams,
            t.tx_bytes,
            t.send_errors,
            self.sources.len(),
            t.rx_dgrams,
            t.rx_bytes,
            if kinds.is_empty() { String::new() } else { format!(": {}", kinds.join(", ")) }
        )
    }
}

/// Sends prepared datagrams from `sources` to `to` at `rate` per second for `secs`, from
/// `threads` threads (each owns a share of the sources and of the rate), each source in turn;
/// `pick(n)` is the `n`-th datagram of the whole attack. Every socket's answers are counted
/// as it goes and for [`DRAIN`] after the end. No source is validated.
pub(crate) fn blast(
    sources: Vec<Source>,
    datagrams: Arc<Vec<Vec<u8>>>,
    to: SocketAddr,
    rate: f64,
    secs: Duration,
    threads: usize,
) -> io::Result<Outcome> {
    let threads = threads.clamp(1, sources.len().max(1));
    let mut shares: Vec<Vec<Source>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, s) in sources.into_iter().enumerate() {
        shares[i % threads].push(s);
    }
    let start = Instant::now();
    let handles: Vec<_> = shares
        .into_iter()
        .enumerate()
        .map(|(t, mut share)| {
            let datagrams = datagrams.clone();
            thread::Builder::new().name(format!("hostile-blast-{t}")).spawn(move || {
                let mut buf = vec![0u8; RECV_BUF];
                let mut pacer = Pacer::new(rate / threads as f64);
                let deadline = start + secs;
                let (mut k, mut last) = (0usize, Instant::now());
                while Instant::now() < deadline && !share.is_empty() {
                    for _ in 0..pacer.due() {
                        let n = k * threads + t;
                        let len = share.len();
                        let source = &mut share[k % len];
                        // Each pass over the datagrams shifted by one: a repeat leaves in
                        // general from another source than its first copy.
                        let p = datagrams.len();
                        source.send(&datagrams[(n + n / p) % p], to);
                        source.drain(&mut buf, |_, _| {});
                        k += 1;
                        last = Instant::now();
                    }
                    thread::sleep(Duration::from_micros(200));
                }
                let drain_until = Instant::now() + DRAIN;
                while Instant::now() < drain_until {
                    for s in share.iter_mut() {
                        s.drain(&mut buf, |_, _| {});
                    }
                    thread::sleep(Duration::from_millis(10));
                }
                (share.into_iter().map(|s| (s.counts, false)).collect::<Vec<_>>(), last)
            })
        })
        .collect::<io::Result<_>>()?;
    let mut outcome = Outcome::default();
    let mut last_sent = start;
    for h in handles {
        let (sources, last) = h.join().map_err(|_| io::Error::other("a sender thread panicked"))?;
        outcome.sources.extend(sources);
        last_sent = last_sent.max(last);
    }
    outcome.elapsed = last_sent - start;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacer_gives_the_rate_and_drops_a_long_backlog() {
        let mut p = Pacer::new(1000.0);
        p.start -= Duration::from_millis(20);
        let n = p.due();
        assert!((19..=21).contains(&n), "{n}");
        assert_eq!(p.due(), 0);
        p.start -= Duration::from_secs(10);
        assert_eq!(p.due(), 50);
    }

    #[test]
    fn source_addresses_spread_over_prefixes() {
        assert_eq!(source_ip(77, 0), Ipv4Addr::new(127, 77, 0, 1));
        assert_eq!(source_ip(77, 249), Ipv4Addr::new(127, 77, 0, 250));
        assert_eq!(source_ip(77, 250), Ipv4Addr::new(127, 77, 1, 1));
    }
}
