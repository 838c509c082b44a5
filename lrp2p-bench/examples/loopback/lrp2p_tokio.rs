//! Slot for lrp2p-tokio (cargo feature `tokio`, off by default), written against its announced
//! API: `Socket::bind(addr, identity).await`, `connect(addr, peer_key).await -> Connection`
//! (tokio `AsyncRead + AsyncWrite`), `accept().await -> (Connection, PublicKey)`.
//!
//! Not compiled until the crate lands. Then: add `lrp2p-tokio = { path = "../lrp2p-tokio",
//! optional = true }` under `[dependencies]` of lrp2p-bench, make the feature
//! `tokio = ["dep:lrp2p-tokio"]`, fix what the real API differs in, and prefer its
//! `bind_with_config(addr, identity, lrp2p_std::config())` if it has one (0-RTT at once).

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lrp2p_bench::{Contender, Meter, Pattern, READ_SIZE, Sample, Verifier};
use lrp2p_proto::crypto::{Aead, DefaultAead};
use lrp2p_tokio::Socket;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Both sockets on one multi-threaded runtime.
pub(crate) struct Lrp2pTokio {
    runtime: tokio::runtime::Runtime,
    client: Arc<Socket>,
    server: Arc<Socket>,
}

impl Lrp2pTokio {
    /// Builds the runtime and binds both sockets.
    pub(crate) fn new() -> io::Result<Lrp2pTokio> {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let (client, server) = runtime.block_on(async {
            let server = Socket::bind("127.0.0.1:0", lrp2p_std::generate_identity()).await?;
            let client = Socket::bind("127.0.0.1:0", lrp2p_std::generate_identity()).await?;
            io::Result::Ok((Arc::new(client), Arc::new(server)))
        })?;
        Ok(Lrp2pTokio { runtime, client, server })
    }
}

impl Contender for Lrp2pTokio {
    fn name(&self) -> String {
        format!("lrp2p-tokio [{}]", DefaultAead::NAME)
    }

    fn bulk(&mut self, bytes: u64, pattern: &Arc<Pattern>) -> io::Result<Sample> {
        let (client, server, pattern) = (self.client.clone(), self.server.clone(), pattern.clone());
        self.runtime.block_on(async move {
            let mut conn = client.connect(server.local_addr()?, server.public_key()).await?;
            conn.write_all(b"").await?;
            let (mut incoming, _) = server.accept().await?;
            let meter = Meter::start();
            let pattern_rx = pattern.clone();
            let receive = tokio::spawn(async move {
                let mut buf = vec![0u8; READ_SIZE];
                let mut v = Verifier::new(&pattern_rx);
                loop {
                    let n = incoming.read(&mut buf).await?;
                    if n == 0 {
                        return v.finish(bytes);
                    }
                    v.check(&buf[..n])?;
                }
            });
            for chunk in pattern.chunks(bytes) {
                conn.write_all(chunk).await?;
            }
            conn.shutdown().await?;
            receive.await.map_err(io::Error::other)??;
            Ok(meter.stop())
        })
    }

    fn handshakes(&mut self, n: usize) -> io::Result<f64> {
        let (client, server) = (self.client.clone(), self.server.clone());
        self.runtime.block_on(async move {
            let started = Instant::now();
            let mut byte = [0u8; 1];
            for _ in 0..n {
                let mut conn = client.connect(server.local_addr()?, server.public_key()).await?;
                conn.write_all(b"p").await?;
                let (mut incoming, _) = server.accept().await?;
                incoming.read_exact(&mut byte).await?;
                incoming.write_all(b"q").await?;
                conn.read_exact(&mut byte).await?;
            }
            Ok(n as f64 / started.elapsed().as_secs_f64())
        })
    }

    fn first_byte(&mut self, n: usize) -> io::Result<Vec<Duration>> {
        let (client, server) = (self.client.clone(), self.server.clone());
        self.runtime.block_on(async move {
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let server_side = async {
                    let (mut incoming, _) = server.accept().await?;
                    let mut byte = [0u8; 1];
                    incoming.read_exact(&mut byte).await?;
                    io::Result::Ok((incoming, Instant::now()))
                };
                let t0 = Instant::now();
                let client_side = async {
                    let mut conn = client.connect(server.local_addr()?, server.public_key()).await?;
                    conn.write_all(b"x").await?;
                    io::Result::Ok(conn)
                };
                let (_conn, (_incoming, t1)) = tokio::try_join!(client_side, server_side)?;
                out.push(t1 - t0);
            }
            Ok(out)
        })
    }
}
