//! lrp2p-std: the blocking adapter, two sockets on 127.0.0.1 in this process.
//!
//! The AEAD backend is fixed at build time (lrp2p-proto's `ring` feature, switched on through
//! this crate's `ring` feature); the name in the table says which one this binary has. The
//! other adapters' contenders use the same [`config`].

use std::io::{self, Read, Write};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use lrp2p_bench::{Contender, Meter, Pattern, READ_SIZE, Sample, Verifier};
use lrp2p_std::{Connection, EndpointConfig, IoStats, Socket, generate_identity};

/// Send and receive buffers per connection. The defaults (8 MiB each) already cover loopback's
/// bandwidth-delay product many times over; this only makes sure they never limit.
pub(crate) const BUFFER: usize = 16 << 20;

/// The endpoint configuration of both sockets (of every LRP2P contender).
pub(crate) fn config() -> EndpointConfig {
    let mut config = EndpointConfig::default();
    // Keys made at start-up: nothing can have been captured before, so 0-RTT data may be
    // accepted at once (as in lrp2p-std's doc example).
    config.early_data.start_floor = false;
    config.connection.send_buffer = BUFFER;
    config.connection.recv_buffer = BUFFER;
    config
}

/// A client socket and a server socket; each measurement opens fresh connections.
pub(crate) struct Lrp2pStd {
    client: Socket,
    server: Socket,
}

impl Lrp2pStd {
    /// Binds both sockets.
    pub(crate) fn new() -> io::Result<Lrp2pStd> {
        let server = Socket::bind_with_config("127.0.0.1:0", generate_identity(), config())?;
        let client = Socket::bind_with_config("127.0.0.1:0", generate_identity(), config())?;
        Ok(Lrp2pStd { client, server })
    }

    /// Connects (Noise IK: the server's key is known, so 0-RTT); the handshake starts at the
    /// connection's first read, write or `connected`.
    pub(crate) fn connect(&self) -> io::Result<Connection> {
        self.client.connect(self.server.local_addr()?, self.server.public_key())
    }

    /// The client socket (the many-connection contender shares it).
    pub(crate) fn client(&self) -> &Socket {
        &self.client
    }

    /// The server socket (the many-connection contender shares it).
    pub(crate) fn server(&self) -> &Socket {
        &self.server
    }
}

/// The AEAD backend of this build, for the contenders' names.
pub(crate) fn backend() -> &'static str {
    lrp2p_proto::AEAD_BACKEND
}

impl Contender for Lrp2pStd {
    fn name(&self) -> String {
        format!("lrp2p-std [{}]", backend())
    }

    fn bulk(&mut self, bytes: u64, pattern: &Arc<Pattern>) -> io::Result<Sample> {
        let client = self.connect()?;
        client.connected()?;
        let (server, _) = self.server.accept()?;
        let (c0, s0) = (self.client.io_stats(), self.server.io_stats());
        let meter = Meter::start();
        // The sender writes and half-closes (no flush: nothing waits for acknowledgements);
        // the receiver reads to the end of the stream and stops the clock there.
        let sample = thread::scope(|s| {
            let rx = s.spawn(|| -> io::Result<Sample> {
                let mut buf = vec![0u8; READ_SIZE];
                let mut v = Verifier::new(pattern);
                loop {
                    let n = (&server).read(&mut buf)?;
                    if n == 0 {
                        v.finish(bytes)?;
                        return Ok(meter.stop());
                    }
                    v.check(&buf[..n])?;
                }
            });
            for chunk in pattern.chunks(bytes) {
                (&client).write_all(chunk)?;
            }
            client.shutdown()?;
            rx.join().map_err(|_| io::Error::other("receiver panicked"))?
        })?;
        let (c1, s1) = (self.client.io_stats(), self.server.io_stats());
        eprintln!("{}", io_line("lrp2p-std", (c0, c1), (s0, s1)));
        if let Some(st) = client.stats() {
            eprintln!("lrp2p-std sender: {}", lrp2p_bench_stats(&st));
        }
        Ok(sample)
    }

    fn handshakes(&mut self, n: usize) -> io::Result<f64> {
        let started = Instant::now();
        let mut byte = [0u8; 1];
        for _ in 0..n {
            let client = self.connect()?;
            (&client).write_all(b"p")?;
            let (server, _) = self.server.accept()?;
            (&server).read_exact(&mut byte)?;
            (&server).write_all(b"q")?;
            (&client).read_exact(&mut byte)?;
            client.close();
            server.close();
        }
        Ok(n as f64 / started.elapsed().as_secs_f64())
    }

    fn first_byte(&mut self, n: usize) -> io::Result<Vec<Duration>> {
        let (tx, rx) = mpsc::channel();
        let server = &self.server;
        thread::scope(|s| {
            s.spawn(move || -> io::Result<()> {
                let mut byte = [0u8; 1];
                for _ in 0..n {
                    let (conn, _) = server.accept()?;
                    (&conn).read_exact(&mut byte)?;
                    if tx.send(Instant::now()).is_err() {
                        break;
                    }
                    conn.close();
                }
                Ok(())
            });
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let t0 = Instant::now();
                let client = self.connect()?;
                (&client).write_all(b"x")?;
                let t1 = rx.recv().map_err(|_| io::Error::other("server thread failed"))?;
                out.push(t1 - t0);
                client.close();
            }
            Ok(out)
        })
    }
}

/// The sender's loss and congestion counters in one line (stderr, beside each bulk run).
pub(crate) fn lrp2p_bench_stats(st: &lrp2p_std::ConnectionStats) -> String {
    format!(
        "{} datagrams, {} retransmits, {} bytes lost, {} timeouts, cwnd {} B, rtt {:?}",
        st.datagrams_sent, st.retransmits, st.lost_packets_bytes, st.timeouts, st.cwnd, st.rtt
    )
}

/// Datagrams per system call (GSO/GRO and recvmmsg batches) of both sockets over one run, from
/// lrp2p-driver's counters (`before`, `after` of each socket), in one line for stderr.
pub(crate) fn io_line(label: &str, client: (IoStats, IoStats), server: (IoStats, IoStats)) -> String {
    let per = |d: u64, calls: u64| d as f64 / calls.max(1) as f64;
    let way = |(a, b): (IoStats, IoStats)| {
        let (sent, send_calls) = (b.datagrams_sent - a.datagrams_sent, b.send_calls - a.send_calls);
        let (recv, recv_calls) = (b.datagrams_received - a.datagrams_received, b.recv_calls - a.recv_calls);
        (sent, send_calls, per(sent, send_calls), recv, recv_calls, per(recv, recv_calls))
    };
    let (c, s) = (way(client), way(server));
    format!(
        "{label} io: client sent {} datagrams in {} calls ({:.1}/call), received {} in {} \
         ({:.1}/call); server sent {} in {} ({:.1}/call), received {} in {} ({:.1}/call)",
        c.0, c.1, c.2, c.3, c.4, c.5, s.0, s.1, s.2, s.3, s.4, s.5
    )
}
