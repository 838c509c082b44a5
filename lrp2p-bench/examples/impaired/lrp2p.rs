//! LRP2P through lrp2p-std (the blocking adapter): a server socket and a client socket on
//! loopback, fresh for every run, the client connected to the server through the relay (Noise
//! IK, 0-RTT). Defaults everywhere (16 MiB receive buffer, send buffer up to 32 MiB following
//! twice the congestion window, pacing, 1400-byte datagrams) but the congestion controller,
//! which `--cc` picks by name ([`controller`]), and `early_data.start_floor = false` (keys made
//! at start-up, as in the loopback example).

use std::io::{self, Read as _, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use lrp2p_bench::{Pattern, READ_SIZE, Verifier};
use lrp2p_proto::congestion::{Algorithm, ControllerFactory};
use lrp2p_std::{Connection, ConnectionStats, EndpointConfig, Socket, generate_identity};

use crate::Bulk;
use crate::relay_host::RelayHost;
use crate::window::{Window, WindowMeter};

/// How long the server waits for the connection and its first byte.
const FIRST_BYTE: Duration = Duration::from_secs(15);
/// A safety net: a write blocked this long ends the sender (the window is over by then).
const WRITE_TIMEOUT: Duration = Duration::from_secs(120);

/// The congestion controller called `name` on the command line (`--cc`), `None` for an
/// unknown name. The one place that maps names to controllers.
pub(crate) fn controller(name: &str) -> Option<Arc<dyn ControllerFactory>> {
    name.parse::<Algorithm>().ok().map(Algorithm::factory)
}

/// The LRP2P contender with one congestion controller.
pub(crate) struct Lrp2p {
    /// The controller's `--cc` name.
    cc: String,
    /// The controller.
    factory: Arc<dyn ControllerFactory>,
}

impl Lrp2p {
    /// The contender with controller `cc`; `None` if no controller has that name.
    pub(crate) fn new(cc: &str) -> Option<Lrp2p> {
        Some(Lrp2p { cc: cc.to_owned(), factory: controller(cc)? })
    }

    /// The endpoint configuration of both sockets.
    fn config(&self) -> EndpointConfig {
        let mut config = EndpointConfig::default();
        config.early_data.start_floor = false;
        config.connection.congestion = self.factory.clone();
        config
    }
}

impl Bulk for Lrp2p {
    fn key(&self) -> String {
        format!("lrp2p-{}", self.cc)
    }

    fn name(&self) -> String {
        format!("lrp2p-std {} [{}]", self.cc, lrp2p_proto::AEAD_BACKEND)
    }

    fn run(&mut self, host: &mut RelayHost, secs: Duration, pattern: &Arc<Pattern>) -> io::Result<Window> {
        let server = Socket::bind_with_config("127.0.0.1:0", generate_identity(), self.config())?;
        let client = Socket::bind_with_config("127.0.0.1:0", generate_identity(), self.config())?;
        let to = host.open(server.local_addr()?)?;
        let conn = client.connect(to, server.public_key())?;
        conn.set_write_timeout(Some(WRITE_TIMEOUT));
        let stop = AtomicBool::new(false);
        thread::scope(|s| {
            let sender = s.spawn(|| -> io::Result<()> {
                for chunk in pattern.chunks(u64::MAX) {
                    if let Err(e) = (&conn).write_all(chunk) {
                        // Closed at the end of the window: the normal way out.
                        return if stop.load(Ordering::Relaxed) { Ok(()) } else { Err(e) };
                    }
                }
                Ok(())
            });
            let received = receive(&server, secs, pattern);
            let stats = conn.stats();
            // Both ends aborted locally: the blocked writer wakes with an error and returns.
            stop.store(true, Ordering::Relaxed);
            if let Ok((sconn, _)) = &received {
                sconn.close();
            }
            conn.close();
            let sent = sender.join().map_err(|_| io::Error::other("sender panicked"))?;
            let (_sconn, meter) = received?;
            sent?;
            meter
                .finish(stats.map(|st| sender_line(&st)).unwrap_or_default())
                .ok_or_else(|| io::Error::other("no byte arrived"))
        })
    }
}

/// Accepts the connection and reads the window's worth, verifying every byte.
fn receive(server: &Socket, secs: Duration, pattern: &Pattern) -> io::Result<(Connection, WindowMeter)> {
    let (conn, _) = server.accept_timeout(FIRST_BYTE)?;
    let mut meter = WindowMeter::new(secs);
    let mut verifier = Verifier::new(pattern);
    let mut buf = vec![0u8; READ_SIZE];
    loop {
        let now = Instant::now();
        let wait = match meter.deadline() {
            Some(d) if d <= now => return Ok((conn, meter)),
            Some(d) => d - now,
            None => FIRST_BYTE,
        };
        conn.set_read_timeout(Some(wait));
        match (&conn).read(&mut buf) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the stream ended")),
            Ok(n) => {
                verifier.check(&buf[..n])?;
                meter.record(n, Instant::now());
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut && meter.deadline().is_some() => {}
            Err(e) => return Err(e),
        }
    }
}

/// The sender's loss and congestion counters in one line.
fn sender_line(st: &ConnectionStats) -> String {
    format!(
        "{} {} datagrams ({} B), {} retransmits ({} spurious, {} undos), {} B declared lost, {} RTOs, \
         {} TLPs, {} DSACKs, reordering seen {}, cwnd {} B, srtt {:.1?}",
        st.congestion_control,
        st.datagrams_sent,
        st.bytes_sent,
        st.retransmits,
        st.spurious_retransmits,
        st.congestion_undos,
        st.lost_packets_bytes,
        st.timeouts,
        st.tail_loss_probes,
        st.dsack_received,
        st.reordering_seen,
        st.cwnd,
        st.rtt.unwrap_or_default()
    )
}
