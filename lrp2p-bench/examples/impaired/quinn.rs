//! quinn 0.11 through the relay: one uni stream, TLS 1.3 with only
//! TLS13_CHACHA20_POLY1305_SHA256 (`../shared/quinn_tls.rs`, as in the loopback example), with
//! quinn's CUBIC or its BBR. Fresh endpoints on a fresh two-worker runtime for every run.
//!
//! Transport settings that differ from quinn's defaults, so that quinn and LRP2P run alike:
//! 1400-byte datagrams without path MTU discovery (LRP2P's size; quinn would grow to 1452),
//! and flow-control windows as large as LRP2P's buffers (16 MiB receive, 32 MiB send; quinn's
//! 1.25 MB stream window would otherwise cap the window at 2.5 BDPs of this path).

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lrp2p_bench::{Pattern, READ_SIZE, Verifier};
use quinn::congestion::{BbrConfig, CubicConfig};
use quinn::{Endpoint, TransportConfig, VarInt};

use crate::Bulk;
use crate::quinn_tls::{configs, err};
use crate::relay_host::RelayHost;
use crate::window::{Window, WindowMeter};

/// How long the server waits for the connection and its first byte.
const FIRST_BYTE: Duration = Duration::from_secs(15);
/// The datagram size (LRP2P's default).
const DATAGRAM: u16 = 1400;
/// Stream and connection receive windows (LRP2P's receive buffer).
const RECEIVE_WINDOW: u32 = 16 << 20;
/// Send window (LRP2P's send buffer bound).
const SEND_WINDOW: u64 = 32 << 20;

/// quinn's congestion controllers.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Cc {
    /// `quinn::congestion::CubicConfig`.
    Cubic,
    /// `quinn::congestion::BbrConfig`.
    Bbr,
}

/// The quinn contender with one congestion controller.
pub(crate) struct Quinn {
    /// Its controller.
    cc: Cc,
}

impl Quinn {
    /// The contender with `cc`.
    pub(crate) fn new(cc: Cc) -> Quinn {
        Quinn { cc }
    }

    /// The transport settings of both endpoints.
    fn transport(&self) -> TransportConfig {
        let mut t = TransportConfig::default();
        t.initial_mtu(DATAGRAM).mtu_discovery_config(None);
        t.stream_receive_window(VarInt::from_u32(RECEIVE_WINDOW))
            .receive_window(VarInt::from_u32(RECEIVE_WINDOW))
            .send_window(SEND_WINDOW);
        match self.cc {
            Cc::Cubic => t.congestion_controller_factory(Arc::new(CubicConfig::default())),
            Cc::Bbr => t.congestion_controller_factory(Arc::new(BbrConfig::default())),
        };
        t
    }
}

impl Bulk for Quinn {
    fn key(&self) -> String {
        match self.cc {
            Cc::Cubic => "quinn-cubic".into(),
            Cc::Bbr => "quinn-bbr".into(),
        }
    }

    fn name(&self) -> String {
        match self.cc {
            Cc::Cubic => "quinn cubic (ChaCha20)".into(),
            Cc::Bbr => "quinn bbr (ChaCha20)".into(),
        }
    }

    fn run(&mut self, host: &mut RelayHost, secs: Duration, pattern: &Arc<Pattern>) -> io::Result<Window> {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let (mut server_config, mut client_config) = configs()?;
        let transport = Arc::new(self.transport());
        server_config.transport_config(transport.clone());
        client_config.transport_config(transport);
        let localhost = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let (client, server) = runtime.block_on(async {
            let server = Endpoint::server(server_config, localhost)?;
            let mut client = Endpoint::client(localhost)?;
            client.set_default_client_config(client_config);
            io::Result::Ok((client, server))
        })?;
        // Outside the quinn runtime: the relay's runtime blocks on its own start.
        let to = host.open(server.local_addr()?)?;
        let pattern = pattern.clone();
        let result = runtime.block_on(async move {
            let connect = async { client.connect(to, "localhost").map_err(err)?.await.map_err(err) };
            let accept = async {
                let incoming = server.accept().await.ok_or_else(|| err("server endpoint closed"))?;
                incoming.await.map_err(err)
            };
            let (conn, sconn) = tokio::time::timeout(FIRST_BYTE, async { tokio::try_join!(connect, accept) })
                .await
                .map_err(|_| err("no connection"))??;
            let stop = Arc::new(AtomicBool::new(false));
            let sender = {
                let (conn, stop, pattern) = (conn.clone(), stop.clone(), pattern.clone());
                tokio::spawn(async move {
                    let mut send = conn.open_uni().await.map_err(err)?;
                    for chunk in pattern.chunks(u64::MAX) {
                        if let Err(e) = send.write_all(chunk).await {
                            return if stop.load(Ordering::Relaxed) { Ok(()) } else { Err(err(e)) };
                        }
                    }
                    io::Result::Ok(())
                })
            };
            let received = receive(&sconn, secs, &pattern).await;
            let stats = conn.stats();
            stop.store(true, Ordering::Relaxed);
            sconn.close(0u32.into(), b"done");
            conn.close(0u32.into(), b"done");
            let sent = sender.await.map_err(err)?;
            let meter = received?;
            sent?;
            client.close(0u32.into(), b"");
            server.close(0u32.into(), b"");
            let p = &stats.path;
            let line = format!(
                "{} packets, {} lost ({} B), {} congestion events, cwnd {} B, rtt {:.1?}, mtu {}",
                p.sent_packets,
                p.lost_packets,
                p.lost_bytes,
                p.congestion_events,
                p.cwnd,
                p.rtt,
                p.current_mtu
            );
            meter.finish(line).ok_or_else(|| err("no byte arrived"))
        });
        runtime.shutdown_timeout(Duration::from_secs(1));
        result
    }
}

/// Accepts the stream and reads the window's worth, verifying every byte.
async fn receive(conn: &quinn::Connection, secs: Duration, pattern: &Pattern) -> io::Result<WindowMeter> {
    let mut recv = tokio::time::timeout(FIRST_BYTE, conn.accept_uni())
        .await
        .map_err(|_| err("no stream"))?
        .map_err(err)?;
    let mut meter = WindowMeter::new(secs);
    let mut verifier = Verifier::new(pattern);
    let mut buf = vec![0u8; READ_SIZE];
    loop {
        let now = std::time::Instant::now();
        let wait = match meter.deadline() {
            Some(d) if d <= now => return Ok(meter),
            Some(d) => d - now,
            None => FIRST_BYTE,
        };
        match tokio::time::timeout(wait, recv.read(&mut buf)).await {
            Ok(Ok(Some(n))) => {
                verifier.check(&buf[..n])?;
                meter.record(n, std::time::Instant::now());
            }
            Ok(Ok(None)) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the stream ended")),
            Ok(Err(e)) => return Err(err(e)),
            Err(_) if meter.deadline().is_some() => {}
            Err(_) => return Err(err("no first byte")),
        }
    }
}
