//! lrp2p-std x8: [`CONNECTIONS`] bulk connections at once from one client socket, either to one
//! server socket (`lrp2p-std-8`, row `lrp2p-std x8`) or to [`CONNECTIONS`] server sockets, one
//! peer each (`lrp2p-std-8p`, row `lrp2p-std x8 peers`): the blocking adapter, the same
//! [`config`](crate::lrp2p_std::config) as the lrp2p-std contender, whose sockets this one uses.
//!
//! The point is batching with several busy connections on one socket: the datagrams per send
//! and receive system call (GSO/GRO, recvmmsg) are logged to stderr beside each run. With
//! several peers, every segmentation-offload batch is one peer's.
//!
//! Bulk: the N bytes are split in [`CONNECTIONS`] shares (N / 8 each, the remainder spread over
//! the first ones); each connection carries the pattern from offset 0 for its share, every byte
//! verified by its receiver. All connections are established and accepted first; then the
//! senders start together (a barrier released right after the clock starts), and the clock
//! stops when the last receiver reaches its end of stream. Goodput counts the N bytes in all.
//!
//! Handshakes and connect→first byte: the table's row needs numbers, and with one connection at
//! a time they are lrp2p-std's measurements, so they are delegated to its contender (on the same
//! two sockets).

use std::io::{self, Read, Write};
use std::sync::{Arc, Barrier, OnceLock};
use std::thread;
use std::time::Duration;

use lrp2p_bench::{Contender, Meter, Pattern, READ_SIZE, Sample, Verifier};
use lrp2p_std::{Connection, Socket, generate_identity};

use crate::lrp2p_std::{Lrp2pStd, backend, config, io_line};

/// Concurrent connections of one bulk run.
pub(crate) const CONNECTIONS: usize = 8;

/// The lrp2p-std contender's two sockets (and, with several peers, [`CONNECTIONS`] server
/// sockets more); each bulk run opens [`CONNECTIONS`] fresh connections.
pub(crate) struct Lrp2pStdMany {
    single: Lrp2pStd,
    /// One server socket per connection; empty: all connections go to `single`'s server.
    peers: Vec<Socket>,
}

impl Lrp2pStdMany {
    /// Binds both sockets: every connection goes to one server socket.
    pub(crate) fn new() -> io::Result<Lrp2pStdMany> {
        Ok(Lrp2pStdMany { single: Lrp2pStd::new()?, peers: Vec::new() })
    }

    /// Binds the two sockets and [`CONNECTIONS`] server sockets: one peer per connection.
    pub(crate) fn with_peers() -> io::Result<Lrp2pStdMany> {
        let peers = (0..CONNECTIONS)
            .map(|_| Socket::bind_with_config("127.0.0.1:0", generate_identity(), config()))
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Lrp2pStdMany { single: Lrp2pStd::new()?, peers })
    }

    /// Connection `i`'s client end and the socket that accepts it.
    fn open(&self, i: usize) -> io::Result<(Connection, &Socket)> {
        match self.peers.get(i) {
            Some(peer) => Ok((self.single.client().connect(peer.local_addr()?, peer.public_key())?, peer)),
            None => Ok((self.single.connect()?, self.single.server())),
        }
    }

    /// The row's label.
    fn label(&self) -> String {
        if self.peers.is_empty() {
            format!("lrp2p-std x{CONNECTIONS}")
        } else {
            format!("lrp2p-std x{CONNECTIONS} peers")
        }
    }
}

/// `total` split in [`CONNECTIONS`] shares that differ by one byte at most.
fn shares(total: u64) -> Vec<u64> {
    let n = CONNECTIONS as u64;
    (0..n).map(|i| total / n + u64::from(i < total % n)).collect()
}

/// A joined thread's result, a panic as an error.
fn joined<T>(r: thread::Result<io::Result<T>>) -> io::Result<T> {
    r.unwrap_or_else(|_| Err(io::Error::other("thread panicked")))
}

/// One sender: `share` bytes of the pattern in [`lrp2p_bench::WRITE_SIZE`] writes, then the
/// half-close (no flush: nothing waits for acknowledgements). On an error the connection is
/// closed, so that its receiver does not wait for ever.
fn send(client: &Connection, pattern: &Pattern, share: u64) -> io::Result<()> {
    let sent = (|| {
        for chunk in pattern.chunks(share) {
            (&*client).write_all(chunk)?;
        }
        client.shutdown()
    })();
    if sent.is_err() {
        client.close();
    }
    sent
}

/// One receiver: verifies every byte up to the end of the stream and reads the clock there;
/// returns that reading and the bytes received. On an error the connection is closed, so that
/// its sender does not block for ever on a full send buffer.
fn receive(server: &Connection, pattern: &Pattern, meter: &OnceLock<Meter>) -> io::Result<(Sample, u64)> {
    let received = (|| {
        let mut buf = vec![0u8; READ_SIZE];
        let mut v = Verifier::new(pattern);
        loop {
            let n = (&*server).read(&mut buf)?;
            if n == 0 {
                let meter = meter.get().ok_or_else(|| io::Error::other("end of stream before the start"))?;
                return Ok((meter.stop(), v.received()));
            }
            v.check(&buf[..n])?;
        }
    })();
    if received.is_err() {
        server.close();
    }
    received
}

impl Contender for Lrp2pStdMany {
    fn name(&self) -> String {
        format!("{} [{}]", self.label(), backend())
    }

    fn bulk(&mut self, bytes: u64, pattern: &Arc<Pattern>) -> io::Result<Sample> {
        let (client_socket, server_socket) = (self.single.client(), self.single.server());
        let opened = (0..CONNECTIONS).map(|i| self.open(i)).collect::<io::Result<Vec<_>>>()?;
        for (client, _) in &opened {
            client.connected()?;
        }
        let servers = opened
            .iter()
            .map(|(_, socket)| socket.accept().map(|(conn, _)| conn))
            .collect::<io::Result<Vec<_>>>()?;
        let clients: Vec<Connection> = opened.into_iter().map(|(client, _)| client).collect();
        let shares = shares(bytes);
        let (c0, s0) = (client_socket.io_stats(), server_socket.io_stats());
        let meter = OnceLock::new();
        let barrier = Barrier::new(CONNECTIONS + 1);
        let pattern: &Pattern = pattern;
        let (sent, ends) = thread::scope(|s| {
            let receivers: Vec<_> =
                servers.iter().map(|server| s.spawn(|| receive(server, pattern, &meter))).collect();
            let senders: Vec<_> = clients
                .iter()
                .zip(&shares)
                .map(|(client, &share)| {
                    let barrier = &barrier;
                    s.spawn(move || {
                        barrier.wait();
                        send(client, pattern, share)
                    })
                })
                .collect();
            // Every thread is up; the clock starts, then all senders at once.
            let _ = meter.set(Meter::start());
            barrier.wait();
            let sent: Vec<io::Result<()>> = senders.into_iter().map(|h| joined(h.join())).collect();
            let ends: Vec<io::Result<(Sample, u64)>> =
                receivers.into_iter().map(|h| joined(h.join())).collect();
            (sent, ends)
        });
        // A receiver's error (corrupt data) says more than the sender's that follows from it.
        let ends = ends.into_iter().collect::<io::Result<Vec<_>>>()?;
        sent.into_iter().collect::<io::Result<Vec<()>>>()?;
        // Receivers are in accept order, not connect order: compare the sorted counts.
        let mut got: Vec<u64> = ends.iter().map(|&(_, n)| n).collect();
        let mut want = shares.clone();
        got.sort_unstable();
        want.sort_unstable();
        if got != want {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("received {got:?} bytes per connection, sent {want:?}"),
            ));
        }
        let first = ends.iter().map(|(s, _)| s.secs).fold(f64::INFINITY, f64::min);
        let sample = ends
            .iter()
            .map(|&(s, _)| s)
            .max_by(|a, b| a.secs.total_cmp(&b.secs))
            .ok_or_else(|| io::Error::other("no connection"))?;
        let (c1, s1) = (client_socket.io_stats(), server_socket.io_stats());
        let label = self.label();
        eprintln!("{}", io_line(&label, (c0, c1), (s0, s1)));
        eprintln!(
            "{label}: receivers reached end of stream between {:.3} s and {:.3} s; senders: {}",
            first,
            sample.secs,
            senders_stats(&clients)
        );
        Ok(sample)
    }

    fn handshakes(&mut self, n: usize) -> io::Result<f64> {
        self.single.handshakes(n)
    }

    fn first_byte(&mut self, n: usize) -> io::Result<Vec<Duration>> {
        self.single.first_byte(n)
    }
}

/// The senders' loss and congestion counters, summed (cwnd as the range), in one line.
fn senders_stats(clients: &[Connection]) -> String {
    let all: Vec<_> = clients.iter().filter_map(Connection::stats).collect();
    let sum = |f: fn(&lrp2p_std::ConnectionStats) -> u64| all.iter().map(f).sum::<u64>();
    let cwnd = |pick: fn(u64, u64) -> u64| all.iter().map(|st| st.cwnd).reduce(pick).unwrap_or(0);
    format!(
        "{} datagrams, {} retransmits, {} bytes lost, {} timeouts, cwnd {}–{} B ({} of {} reporting)",
        sum(|st| st.datagrams_sent),
        sum(|st| st.retransmits),
        sum(|st| st.lost_packets_bytes),
        sum(|st| st.timeouts),
        cwnd(u64::min),
        cwnd(u64::max),
        all.len(),
        clients.len()
    )
}
