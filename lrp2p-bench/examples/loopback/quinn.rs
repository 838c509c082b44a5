//! quinn 0.11 over loopback: one stream, TLS 1.3 with only TLS13_CHACHA20_POLY1305_SHA256 (ring
//! provider), a self-signed certificate from rcgen (`../shared/quinn_tls.rs`), quinn's default
//! transport settings.
//!
//! Both endpoints live on one multi-threaded Tokio runtime (a worker per core).

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lrp2p_bench::{Contender, Meter, Pattern, READ_SIZE, Sample, Verifier};
use quinn::Endpoint;

use crate::quinn_tls::{configs, err};

/// Client and server endpoints on their own runtime.
pub(crate) struct Quinn {
    runtime: tokio::runtime::Runtime,
    client: Endpoint,
    server: Endpoint,
}

impl Quinn {
    /// Builds the runtime and binds both endpoints.
    pub(crate) fn new() -> io::Result<Quinn> {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let (server_config, client_config) = configs()?;
        let localhost = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let (client, server) = runtime.block_on(async {
            let server = Endpoint::server(server_config, localhost)?;
            let mut client = Endpoint::client(localhost)?;
            client.set_default_client_config(client_config);
            io::Result::Ok((client, server))
        })?;
        Ok(Quinn { runtime, client, server })
    }

    async fn connect(client: &Endpoint, to: SocketAddr) -> io::Result<quinn::Connection> {
        client.connect(to, "localhost").map_err(err)?.await.map_err(err)
    }

    async fn accept(server: &Endpoint) -> io::Result<quinn::Connection> {
        let incoming = server.accept().await.ok_or_else(|| err("server endpoint closed"))?;
        incoming.await.map_err(err)
    }
}

impl Contender for Quinn {
    fn name(&self) -> String {
        "quinn (ChaCha20)".into()
    }

    fn bulk(&mut self, bytes: u64, pattern: &Arc<Pattern>) -> io::Result<Sample> {
        let (client, server) = (self.client.clone(), self.server.clone());
        let to = server.local_addr()?;
        let pattern = pattern.clone();
        self.runtime.block_on(async move {
            let (conn, sconn) = tokio::try_join!(Self::connect(&client, to), Self::accept(&server))?;
            let meter = Meter::start();
            // The receiver is a task of its own (it may run on the other worker); the sender
            // runs on this thread; quinn's endpoint drivers are tasks on the workers.
            let (pattern_rx, sconn) = (pattern.clone(), sconn);
            let receive = tokio::spawn(async move {
                let mut recv = sconn.accept_uni().await.map_err(err)?;
                let mut buf = vec![0u8; READ_SIZE];
                let mut v = Verifier::new(&pattern_rx);
                while let Some(n) = recv.read(&mut buf).await.map_err(err)? {
                    v.check(&buf[..n])?;
                }
                v.finish(bytes)
            });
            let mut send = conn.open_uni().await.map_err(err)?;
            for chunk in pattern.chunks(bytes) {
                send.write_all(chunk).await.map_err(err)?;
            }
            send.finish().map_err(err)?;
            receive.await.map_err(err)??;
            let sample = meter.stop();
            conn.close(0u32.into(), b"done");
            Ok(sample)
        })
    }

    fn handshakes(&mut self, n: usize) -> io::Result<f64> {
        let (client, server) = (self.client.clone(), self.server.clone());
        let to = server.local_addr()?;
        self.runtime.block_on(async move {
            let started = Instant::now();
            for _ in 0..n {
                let client_side = async {
                    let conn = Self::connect(&client, to).await?;
                    let (mut send, mut recv) = conn.open_bi().await.map_err(err)?;
                    send.write_all(b"p").await.map_err(err)?;
                    let mut byte = [0u8; 1];
                    recv.read_exact(&mut byte).await.map_err(err)?;
                    io::Result::Ok(conn)
                };
                let server_side = async {
                    let conn = Self::accept(&server).await?;
                    let (mut send, mut recv) = conn.accept_bi().await.map_err(err)?;
                    let mut byte = [0u8; 1];
                    recv.read_exact(&mut byte).await.map_err(err)?;
                    send.write_all(b"q").await.map_err(err)?;
                    io::Result::Ok((conn, send))
                };
                let (conn, (sconn, _send)) = tokio::try_join!(client_side, server_side)?;
                conn.close(0u32.into(), b"");
                sconn.close(0u32.into(), b"");
            }
            Ok(n as f64 / started.elapsed().as_secs_f64())
        })
    }

    fn first_byte(&mut self, n: usize) -> io::Result<Vec<Duration>> {
        let (client, server) = (self.client.clone(), self.server.clone());
        let to = server.local_addr()?;
        self.runtime.block_on(async move {
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let t0 = Instant::now();
                let client_side = async {
                    let conn = Self::connect(&client, to).await?;
                    let mut send = conn.open_uni().await.map_err(err)?;
                    send.write_all(b"x").await.map_err(err)?;
                    io::Result::Ok((conn, send))
                };
                let server_side = async {
                    let conn = Self::accept(&server).await?;
                    let mut recv = conn.accept_uni().await.map_err(err)?;
                    let mut byte = [0u8; 1];
                    recv.read_exact(&mut byte).await.map_err(err)?;
                    io::Result::Ok((conn, Instant::now()))
                };
                let ((conn, _send), (sconn, t1)) = tokio::try_join!(client_side, server_side)?;
                out.push(t1 - t0);
                conn.close(0u32.into(), b"");
                sconn.close(0u32.into(), b"");
            }
            Ok(out)
        })
    }
}

impl Drop for Quinn {
    fn drop(&mut self) {
        self.client.close(0u32.into(), b"");
        self.server.close(0u32.into(), b"");
        let client = self.client.clone();
        self.runtime.block_on(async move {
            let _ = tokio::time::timeout(Duration::from_secs(1), client.wait_idle()).await;
        });
    }
}
