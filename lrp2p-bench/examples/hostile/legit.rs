//! The legitimate peer: an in-process lrp2p-std client speaking the `lrp2p perf` protocol to
//! the server (write the bytes, half-close, read the server's total as a big-endian u64),
//! timing the handshake and the whole test.
//!
//! In-process rather than a `lrp2p perf client` child because it can time the handshake
//! (`Connection::connected`) apart from the transfer, and bound every step. It binds its own
//! socket on 127.0.0.1, a /24 no attack uses, with a fresh identity, and knows the server's key
//! (Noise IK, as `perf client --peer` does). Every step is bounded by the deadline; the
//! handshake also by the client's own `handshake_timeout` (10 s by default, as for any peer).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lrp2p_proto::PublicKey;
use lrp2p_std::{EndpointConfig, Socket, generate_identity};

/// Bytes per write.
const CHUNK: usize = 64 * 1024;

/// One legitimate test: how long the handshake and the whole test took, or what failed.
#[derive(Clone, Debug, Default)]
pub(crate) struct Transfer {
    /// From `connect` to the completed handshake.
    pub(crate) connect: Option<Duration>,
    /// From `connect` to the server's total (every byte counted by the server).
    pub(crate) done: Option<Duration>,
    /// What went wrong, if anything.
    pub(crate) error: Option<String>,
    /// When it started and ended (the total or the failure), for comparison with the attack's
    /// end.
    pub(crate) span: Option<(Instant, Instant)>,
}

impl Transfer {
    /// When it ended, if it ran.
    pub(crate) fn ended(&self) -> Option<Instant> {
        self.span.map(|(_, end)| end)
    }
}

/// Seconds with 2 decimals, or `–`.
fn secs(d: Option<Duration>) -> String {
    d.map_or_else(|| "–".to_owned(), |d| format!("{:.2} s", d.as_secs_f64()))
}

impl fmt::Display for Transfer {
    /// `connect / done`, and the error if any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} / {}", secs(self.connect), secs(self.done))?;
        if let Some(e) = &self.error {
            write!(f, " ({e})")?;
        }
        Ok(())
    }
}

/// Runs one test of `bytes` against `server`, giving up at `timeout`.
pub(crate) fn transfer(server: SocketAddr, key: PublicKey, bytes: u64, timeout: Duration) -> Transfer {
    let started = Instant::now();
    let mut t = Transfer::default();
    if let Err(e) = run(&mut t, started, server, key, bytes, timeout) {
        t.error = Some(match e.kind() {
            io::ErrorKind::TimedOut => format!("timed out after {:.1} s", started.elapsed().as_secs_f64()),
            _ => e.to_string(),
        });
    }
    t.span = Some((started, Instant::now()));
    t
}

fn run(
    t: &mut Transfer,
    started: Instant,
    server: SocketAddr,
    key: PublicKey,
    bytes: u64,
    timeout: Duration,
) -> io::Result<()> {
    let deadline = started + timeout;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| io::Error::from(io::ErrorKind::TimedOut))
    };
    let socket = Socket::bind_with_config("127.0.0.1:0", generate_identity(), EndpointConfig::default())?;
    let mut conn = socket.connect(server, key)?;
    conn.set_read_timeout(Some(left()?));
    conn.connected()?;
    t.connect = Some(started.elapsed());
    let buf = vec![0xa5u8; CHUNK];
    let mut written = 0u64;
    while written < bytes {
        conn.set_write_timeout(Some(left()?));
        let want = usize::try_from(bytes - written).map_or(CHUNK, |l| l.min(CHUNK));
        written += conn.write(&buf[..want])? as u64;
    }
    conn.shutdown()?;
    let mut total = [0u8; 8];
    conn.set_read_timeout(Some(left()?));
    conn.read_exact(&mut total)?;
    let counted = u64::from_be_bytes(total);
    t.done = Some(started.elapsed());
    if counted != bytes {
        return Err(io::Error::other(format!("the server counted {counted} of {bytes} bytes")));
    }
    // The server's end of stream follows its total: take it, so that its last wait (for the
    // acknowledgement of its FIN) ends well, then leave.
    conn.set_read_timeout(Some(left()?.min(Duration::from_secs(2))));
    let mut rest = [0u8; 64];
    while matches!(conn.read(&mut rest), Ok(n) if n > 0) {}
    Ok(())
}
