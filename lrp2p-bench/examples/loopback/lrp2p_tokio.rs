//! lrp2p-tokio: the tokio adapter, two sockets on 127.0.0.1 on one multi-threaded runtime.
//!
//! Same configuration as the lrp2p-std contender ([`crate::lrp2p_std::config`]); the AEAD
//! backend is this binary's (the `ring` feature). `Socket::bind_with_config` spawns the
//! socket's driver task, so the sockets are bound inside the runtime.
//!
//! The bulk transfer never relies on flush: the sender writes and shuts down (a FIN after the
//! data, not waited for); the receiver reads to the end of the stream, verifying every byte,
//! and stops the clock there.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lrp2p_bench::{Contender, Meter, Pattern, READ_SIZE, Sample, Verifier};
use lrp2p_tokio::{Connection, Socket, generate_identity};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::lrp2p_std::{config, lrp2p_bench_stats};

/// Both sockets and the runtime their driver tasks run on (two workers, one per core).
pub(crate) struct Lrp2pTokio {
    runtime: tokio::runtime::Runtime,
    client: Arc<Socket>,
    server: Arc<Socket>,
}

impl Lrp2pTokio {
    /// Builds the runtime and binds both sockets in it.
    pub(crate) fn new() -> io::Result<Lrp2pTokio> {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let (client, server) = runtime.block_on(async {
            let server = Socket::bind_with_config("127.0.0.1:0", generate_identity(), config()).await?;
            let client = Socket::bind_with_config("127.0.0.1:0", generate_identity(), config()).await?;
            io::Result::Ok((Arc::new(client), Arc::new(server)))
        })?;
        Ok(Lrp2pTokio { runtime, client, server })
    }
}

/// Connects `client` to `server` (Noise IK, 0-RTT); the handshake starts at the first call.
async fn connect(client: &Socket, server: &Socket) -> io::Result<Connection> {
    client.connect(server.local_addr()?, server.public_key()).await
}

impl Contender for Lrp2pTokio {
    fn name(&self) -> String {
        format!("lrp2p-tokio [{}]", lrp2p_proto::AEAD_BACKEND)
    }

    fn bulk(&mut self, bytes: u64, pattern: &Arc<Pattern>) -> io::Result<Sample> {
        let (client, server, pattern) = (self.client.clone(), self.server.clone(), pattern.clone());
        self.runtime.block_on(async move {
            let mut conn = connect(&client, &server).await?;
            conn.connected().await?;
            let (mut incoming, _) = server.accept().await?;
            let meter = Meter::start();
            // The receiver is a task of its own (it may run on the other worker); the sender
            // runs on this thread; the driver tasks run on the workers.
            let pattern_rx = pattern.clone();
            let receive = tokio::spawn(async move {
                let mut buf = vec![0u8; READ_SIZE];
                let mut v = Verifier::new(&pattern_rx);
                loop {
                    let n = incoming.read(&mut buf).await?;
                    if n == 0 {
                        v.finish(bytes)?;
                        return io::Result::Ok(meter.stop());
                    }
                    v.check(&buf[..n])?;
                }
            });
            for chunk in pattern.chunks(bytes) {
                conn.write_all(chunk).await?;
            }
            conn.shutdown().await?;
            let sample = receive.await.map_err(io::Error::other)??;
            if let Some(st) = conn.stats() {
                eprintln!("lrp2p-tokio sender: {}", lrp2p_bench_stats(&st));
            }
            Ok(sample)
        })
    }

    fn handshakes(&mut self, n: usize) -> io::Result<f64> {
        let (client, server) = (self.client.clone(), self.server.clone());
        self.runtime.block_on(async move {
            let started = Instant::now();
            let mut byte = [0u8; 1];
            for _ in 0..n {
                let mut conn = connect(&client, &server).await?;
                conn.write_all(b"p").await?;
                let (mut incoming, _) = server.accept().await?;
                incoming.read_exact(&mut byte).await?;
                incoming.write_all(b"q").await?;
                conn.read_exact(&mut byte).await?;
                conn.close();
                incoming.close();
            }
            Ok(n as f64 / started.elapsed().as_secs_f64())
        })
    }

    fn first_byte(&mut self, n: usize) -> io::Result<Vec<Duration>> {
        let (client, server) = (self.client.clone(), self.server.clone());
        self.runtime.block_on(async move {
            // The server accepts and reads in a task of its own, as lrp2p-std's thread does.
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let srv = server.clone();
            let accepting = tokio::spawn(async move {
                let mut byte = [0u8; 1];
                for _ in 0..n {
                    let (mut incoming, _) = srv.accept().await?;
                    incoming.read_exact(&mut byte).await?;
                    if tx.send(Instant::now()).is_err() {
                        break;
                    }
                    incoming.close();
                }
                io::Result::Ok(())
            });
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let t0 = Instant::now();
                let mut conn = connect(&client, &server).await?;
                conn.write_all(b"x").await?;
                let Some(t1) = rx.recv().await else {
                    break;
                };
                out.push(t1 - t0);
                conn.close();
            }
            accepting.await.map_err(io::Error::other)??;
            Ok(out)
        })
    }
}
