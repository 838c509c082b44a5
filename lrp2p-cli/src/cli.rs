//! The command line: subcommands and flags (clap derive). Parsing only; `main.rs` dispatches.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use lrp2p_proto::{Algorithm, PublicKey};

/// The congestion controller of `send`, `perf` and `demo` unless `--cc` says otherwise (the
/// README's benchmark section says why).
pub(crate) const DEFAULT_CC: Algorithm = Algorithm::Bbr;

/// LRP2P: an encrypted, reliable transport over UDP with 0-RTT.
#[derive(Debug, Parser)]
#[command(name = "lrp2p", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// Print one machine-readable JSON line instead of progress bars and summaries.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Move data between two in-process peers through an impaired loopback relay.
    Demo(DemoArgs),
    /// Generate a static keypair and print its public key.
    Keygen(KeygenArgs),
    /// Accept peers and save the files they send.
    Recv(RecvArgs),
    /// Send files to a peer.
    Send(SendArgs),
    /// Measure goodput, RTT and congestion window (like iperf).
    Perf(PerfArgs),
    /// Run a userspace UDP impairment relay (loss, delay, jitter, rate, reorder).
    Relay(RelayArgs),
    /// Run a rendezvous: peers register with it and find each other by key, through NATs.
    Rendezvous(RendezvousArgs),
}

/// A rendezvous service, `HOST:PORT=KEY` (its address and public key).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RendezvousAt {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// Its public key.
    pub(crate) key: PublicKey,
}

/// Parses `HOST:PORT=KEY`.
fn parse_rendezvous(text: &str) -> Result<RendezvousAt, String> {
    let (addr, key) = text
        .rsplit_once('=')
        .filter(|(_, key)| !key.is_empty())
        .or_else(|| {
            // A base64 key may end in `=`: split at the `=` after the port.
            let colon = text.rfind(':')?;
            let eq = colon + text[colon..].find('=')?;
            Some((&text[..eq], &text[eq + 1..]))
        })
        .ok_or_else(|| format!("`{text}` is not HOST:PORT=KEY"))?;
    Ok(RendezvousAt { addr: parse_host_port(addr)?, key: parse_public_key(key)? })
}

/// `lrp2p rendezvous`.
#[derive(Debug, Args)]
pub(crate) struct RendezvousArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:7400")]
    pub(crate) listen: SocketAddr,
    /// Secret key file; without it a fresh key is used (and printed: peers need it).
    #[arg(long)]
    pub(crate) key: Option<PathBuf>,
    /// Print the registered peers and introductions every this many seconds (0: never).
    #[arg(long, default_value_t = 10)]
    pub(crate) stats_secs: u64,
    /// What each peer may send through the relay, in Mbit/s (its datagrams per second scale
    /// with it: 20,000 at 100); 0 relays nothing.
    #[arg(long, default_value_t = 100)]
    pub(crate) relay_mbit: u32,
}

/// `lrp2p demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Bytes to move (suffixes K, M, G, Ki, Mi, Gi accepted).
    #[arg(long, default_value = "64Mi", value_parser = parse_size)]
    pub(crate) bytes: u64,
    /// Round-trip time added by the relay, in milliseconds.
    #[arg(long, default_value_t = 20)]
    pub(crate) rtt_ms: u64,
    /// Loss probability of the relay, in each direction.
    #[arg(long, default_value_t = 0.01, value_parser = parse_probability)]
    pub(crate) loss: f64,
    /// Seed of the relay's impairments.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Congestion controller of what this side sends: bbr (model-based, for lossy and
    /// long paths) or cubic (loss-based, RFC 9438).
    #[arg(long, default_value_t = DEFAULT_CC)]
    pub(crate) cc: Algorithm,
}

/// `lrp2p keygen`.
#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// Where to write the secret key (created with mode 0600). Without it, the key file's
    /// text goes to standard output.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Overwrite an existing key file.
    #[arg(long)]
    pub(crate) force: bool,
}

/// `lrp2p recv`.
#[derive(Debug, Args)]
pub(crate) struct RecvArgs {
    /// Address to listen on, e.g. 0.0.0.0:7000.
    #[arg(long)]
    pub(crate) listen: SocketAddr,
    /// Secret key file (from `lrp2p keygen`); without it a fresh key is used for this run.
    #[arg(long)]
    pub(crate) key: Option<PathBuf>,
    /// Directory to save files in.
    #[arg(long, default_value = ".")]
    pub(crate) out: PathBuf,
    /// Write the received bytes to standard output instead (reports go to standard error);
    /// serves one sender (`--count 1` unless given), whose bytes are written as they arrive
    /// (a hash mismatch is reported after them, exit code 7).
    #[arg(long)]
    pub(crate) stdout: bool,
    /// Accept only these peers' public keys (repeatable). Without it, the senders remembered
    /// in `known_peers` are accepted, and a key never seen is asked about on a terminal
    /// ("accept files from KEY at ADDR? [y/N]"), accepted with `--yes`, else refused.
    #[arg(long, num_args = 1.., value_parser = parse_public_key)]
    pub(crate) allow: Vec<PublicKey>,
    /// Accept files from keys never seen without asking, and remember them in `known_peers`
    /// (for scripts).
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,
    /// Stop after this many sessions completed successfully (failed, dropped and refused
    /// peers do not count); by default serve forever.
    #[arg(long)]
    pub(crate) count: Option<u64>,
    /// Drop a sender that sends nothing for this many seconds (decimals accepted); its slot
    /// is freed at once.
    #[arg(long, default_value_t = 30.0, value_parser = parse_seconds)]
    pub(crate) idle_secs: f64,
    /// Register with this rendezvous (`HOST:PORT=KEY`): senders then reach this receiver by
    /// its key alone, also behind NATs (`send --peer KEY --rendezvous …`).
    #[arg(long, value_parser = parse_rendezvous, value_name = "HOST:PORT=KEY")]
    pub(crate) rendezvous: Option<RendezvousAt>,
    /// How the receiver serves several peers at once.
    #[command(flatten)]
    pub(crate) service: ServiceArgs,
}

/// `lrp2p send`.
#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// Files to send; `-` reads standard input (stored in a temporary file first, as the
    /// size goes in the header) and sends it as `--name`.
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// Resumable files: the receiver keeps what it got of an interrupted transfer, and the
    /// next `send --resume` of the same file (name, size, hash) sends only the rest.
    #[arg(long)]
    pub(crate) resume: bool,
    /// The name the receiver is given for standard input (`-`).
    #[arg(long, default_value = "stdin")]
    pub(crate) name: String,
    /// The receiver's address, HOST:PORT (a name such as `localhost:7000` is resolved).
    #[arg(long, value_parser = parse_host_port, required_unless_present = "rendezvous")]
    pub(crate) to: Option<SocketAddr>,
    /// The receiver's public key: enables 0-RTT and authenticates the receiver.
    #[arg(long, value_parser = parse_public_key)]
    pub(crate) peer: Option<PublicKey>,
    /// Find the receiver by its key (`--peer`) through this rendezvous (`HOST:PORT=KEY`), with
    /// which it registered: no address needed, NATs on either side punched through.
    #[arg(long, value_parser = parse_rendezvous, value_name = "HOST:PORT=KEY", conflicts_with = "to", requires = "peer")]
    pub(crate) rendezvous: Option<RendezvousAt>,
    /// Secret key file; without it a fresh key is used.
    #[arg(long)]
    pub(crate) key: Option<PathBuf>,
    /// Give up when the peer is silent this long, in seconds.
    #[arg(long, default_value_t = 30)]
    pub(crate) timeout: u64,
    /// Draw the transfer into this SVG file: goodput of the bytes the receiver acknowledged,
    /// congestion window, RTT and retransmissions, a point every 100 ms.
    #[arg(long, value_name = "FILE.svg")]
    pub(crate) plot: Option<PathBuf>,
    /// Congestion controller of what this side sends: bbr (model-based, for lossy and
    /// long paths) or cubic (loss-based, RFC 9438).
    #[arg(long, default_value_t = DEFAULT_CC)]
    pub(crate) cc: Algorithm,
}

/// `lrp2p perf`.
#[derive(Debug, Args)]
pub(crate) struct PerfArgs {
    /// Which side to run.
    #[command(subcommand)]
    pub(crate) role: PerfRole,
}

/// The two sides of `lrp2p perf`.
#[derive(Debug, Subcommand)]
pub(crate) enum PerfRole {
    /// Accept connections and sink their data, reporting each second.
    Server(PerfServerArgs),
    /// Connect and send as fast as allowed, reporting each second.
    Client(PerfClientArgs),
}

/// `lrp2p perf server`.
#[derive(Debug, Args)]
pub(crate) struct PerfServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:7001")]
    pub(crate) listen: SocketAddr,
    /// Secret key file; without it a fresh key is used (and printed).
    #[arg(long)]
    pub(crate) key: Option<PathBuf>,
    /// Stop after this many tests completed successfully (failed, dropped and refused peers
    /// do not count); by default serve forever.
    #[arg(long)]
    pub(crate) count: Option<u64>,
    /// Drop a client that sends nothing for this many seconds (decimals accepted); its slot
    /// is freed at once.
    #[arg(long, default_value_t = 10.0, value_parser = parse_seconds)]
    pub(crate) idle_secs: f64,
    /// Seconds between reports (decimals accepted, e.g. 0.1).
    #[arg(short = 'i', long, default_value_t = 1.0, value_parser = parse_seconds)]
    pub(crate) interval: f64,
    /// How the server serves several peers at once.
    #[command(flatten)]
    pub(crate) service: ServiceArgs,
    /// Congestion controller of what this side sends: bbr (model-based, for lossy and
    /// long paths) or cubic (loss-based, RFC 9438).
    #[arg(long, default_value_t = DEFAULT_CC)]
    pub(crate) cc: Algorithm,
    /// Write the connections' event trace (packets sent, received and lost, congestion
    /// window, RTT samples, handshake, close) to this file as JSON lines (docs/TRACE.md).
    #[arg(long, value_name = "FILE")]
    pub(crate) trace: Option<PathBuf>,
}

/// The options `recv` and `perf server` share: how many peers at once, and the endpoint's
/// counters. (Each has its own `--idle-secs`, whose defaults differ.)
#[derive(Debug, Args)]
pub(crate) struct ServiceArgs {
    /// Serve at most this many peers at once; further peers are refused in the handshake
    /// (their `send` or `perf client` exits with code 5) until a slot is free.
    #[arg(long, default_value_t = 64, value_parser = parse_max_peers)]
    pub(crate) max_peers: usize,
    /// Print the endpoint's counters every SECS seconds (default 5): a line on standard
    /// error, or with `--json` a JSON object on standard output. A summary is always printed
    /// once on exit.
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "5", value_parser = parse_seconds)]
    pub(crate) stats: Option<f64>,
    /// The endpoint's receive memory budget, shared by all peers: what their connections hold
    /// received and not yet read, in order or not (BYTES, e.g. 8Mi or 500M; at least 64Ki).
    /// DATA beyond it is dropped unacknowledged and retransmitted by the sender, and the
    /// windows advertised shrink as it fills (PROTOCOL.md §10.6). The default, 32Mi (the
    /// library's is 256Mi), keeps a server within ~50 MB however many peers fill their windows
    /// with out-of-order data; it holds many BDPs of in-order data, which is read at once.
    #[arg(long, value_name = "BYTES", value_parser = parse_receive_memory, default_value = "32Mi")]
    pub(crate) receive_memory: usize,
}

impl ServiceArgs {
    /// `--stats` as a duration.
    pub(crate) fn stats_every(&self) -> Option<Duration> {
        self.stats.map(Duration::from_secs_f64)
    }
}

/// `lrp2p perf client`.
#[derive(Debug, Args)]
pub(crate) struct PerfClientArgs {
    /// The server's address, HOST:PORT (a name is resolved).
    #[arg(long, value_parser = parse_host_port)]
    pub(crate) to: SocketAddr,
    /// The server's public key (0-RTT).
    #[arg(long, value_parser = parse_public_key)]
    pub(crate) peer: Option<PublicKey>,
    /// Secret key file; without it a fresh key is used.
    #[arg(long)]
    pub(crate) key: Option<PathBuf>,
    /// Send this many bytes (suffixes accepted) instead of running for `--duration`.
    #[arg(long, value_parser = parse_size, conflicts_with = "duration")]
    pub(crate) bytes: Option<u64>,
    /// Seconds to send for.
    #[arg(long, default_value_t = 10)]
    pub(crate) duration: u64,
    /// Seconds between reports (decimals accepted, e.g. 0.1).
    #[arg(short = 'i', long, default_value_t = 1.0, value_parser = parse_seconds)]
    pub(crate) interval: f64,
    /// Reverse: the server sends and this side counts (iperf's `-R`).
    #[arg(short = 'R', long, conflicts_with = "bidir")]
    pub(crate) reverse: bool,
    /// Both ends send at once, each for `--duration` or `--bytes` (iperf's `--bidir`); lines
    /// are labelled `[TX]` and `[RX]`.
    #[arg(long)]
    pub(crate) bidir: bool,
    /// Run this many connections at once (iperf's `-P`); their lines are labelled `[1]`…
    /// and a `[SUM]` follows.
    #[arg(short = 'P', long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=64))]
    pub(crate) parallel: u8,
    /// Draw the run into this SVG file: goodput, congestion window, RTT and retransmissions,
    /// a point every 100 ms whatever `-i`, under a title with the test's parameters.
    #[arg(long, value_name = "FILE.svg")]
    pub(crate) plot: Option<PathBuf>,
    /// Congestion controller of what this side sends: bbr (model-based, for lossy and
    /// long paths) or cubic (loss-based, RFC 9438).
    #[arg(long, default_value_t = DEFAULT_CC)]
    pub(crate) cc: Algorithm,
    /// Write the connections' event trace (packets sent, received and lost, congestion
    /// window, RTT samples, handshake, close) to this file as JSON lines (docs/TRACE.md).
    #[arg(long, value_name = "FILE")]
    pub(crate) trace: Option<PathBuf>,
}

/// `lrp2p relay`.
#[derive(Debug, Args)]
pub(crate) struct RelayArgs {
    /// Address clients send to.
    #[arg(long)]
    pub(crate) listen: SocketAddr,
    /// Address datagrams are forwarded to, HOST:PORT (a name is resolved).
    #[arg(long, value_parser = parse_host_port)]
    pub(crate) to: SocketAddr,
    /// Loss probability, in each direction.
    #[arg(long, default_value_t = 0.0, value_parser = parse_probability)]
    pub(crate) loss: f64,
    /// One-way delay in milliseconds, in each direction.
    #[arg(long, default_value_t = 0)]
    pub(crate) delay_ms: u64,
    /// Uniform jitter (±) in milliseconds; order is kept unless `--reorder` is given.
    #[arg(long, default_value_t = 0)]
    pub(crate) jitter_ms: u64,
    /// Rate limit in Mbit/s, in each direction (bounded queue, tail drop); 0.001 to 1000000.
    #[arg(long, value_parser = parse_rate_mbit)]
    pub(crate) rate_mbit: Option<f64>,
    /// Probability that a datagram is held back so later ones overtake it.
    #[arg(long, default_value_t = 0.0, value_parser = parse_probability)]
    pub(crate) reorder: f64,
    /// Seed of the impairments (for reproducible runs).
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
}

/// Most `--max-peers`: far beyond what one process serves well, small enough to be sane.
const MAX_PEERS: usize = 100_000;

/// Parses `--max-peers`: 1 to [`MAX_PEERS`].
fn parse_max_peers(text: &str) -> Result<usize, String> {
    let n: usize = text.parse().map_err(|_| format!("`{text}` is not a number of peers"))?;
    if (1..=MAX_PEERS).contains(&n) { Ok(n) } else { Err(format!("{n} is not between 1 and {MAX_PEERS}")) }
}

/// Longest duration in seconds an option takes: a year.
const MAX_SECONDS: f64 = 365.0 * 86_400.0;

/// Parses a positive number of seconds (decimals accepted), at least a millisecond and at
/// most [`MAX_SECONDS`].
fn parse_seconds(text: &str) -> Result<f64, String> {
    let s: f64 = text.parse().map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if (0.001..=MAX_SECONDS).contains(&s) {
        Ok(s)
    } else {
        Err(format!("{text} s is out of range: between 0.001 and {MAX_SECONDS} seconds"))
    }
}

/// Parses HOST:PORT: a socket address, or a host name resolved now (its first IPv4 address,
/// else its first address), so that `localhost:7000` reaches a receiver on 127.0.0.1.
pub(crate) fn parse_host_port(text: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs as _;
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if !text.contains(':') {
        return Err(format!("`{text}` is not HOST:PORT (the port is missing)"));
    }
    let addrs: Vec<SocketAddr> =
        text.to_socket_addrs().map_err(|e| format!("`{text}` is not a usable HOST:PORT: {e}"))?.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| format!("`{text}` resolves to no address"))
}

/// Parses a public key in its 44-character base64 form.
fn parse_public_key(text: &str) -> Result<PublicKey, String> {
    text.parse::<PublicKey>().map_err(|e| e.to_string())
}

/// Parses a probability in [0, 1].
fn parse_probability(text: &str) -> Result<f64, String> {
    let p: f64 = text.parse().map_err(|_| format!("`{text}` is not a number"))?;
    if (0.0..=1.0).contains(&p) { Ok(p) } else { Err(format!("{p} is not a probability in [0, 1]")) }
}

/// Slowest `--rate-mbit`: 1 kbit/s (a 64 KiB datagram then takes about 9 minutes).
const MIN_RATE_MBIT: f64 = 0.001;
/// Fastest `--rate-mbit`: 1 Tbit/s.
const MAX_RATE_MBIT: f64 = 1e6;

/// Parses a rate in Mbit/s within [`MIN_RATE_MBIT`, `MAX_RATE_MBIT`], so that every
/// datagram's transmission time is a sane duration.
fn parse_rate_mbit(text: &str) -> Result<f64, String> {
    let r: f64 = text.parse().map_err(|_| format!("`{text}` is not a number"))?;
    if (MIN_RATE_MBIT..=MAX_RATE_MBIT).contains(&r) {
        Ok(r)
    } else {
        Err(format!(
            "{text} Mbit/s is out of range: the rate must be between {MIN_RATE_MBIT} and {MAX_RATE_MBIT}"
        ))
    }
}

/// Parses a byte count: a number with an optional suffix K/M/G/T (powers of 1000) or
/// Ki/Mi/Gi/Ti (powers of 1024), an optional trailing `B`.
/// The smallest `--receive-memory`: a few segments for each of a few peers.
pub(crate) const MIN_RECEIVE_MEMORY: usize = 64 << 10;

/// `--receive-memory BYTES`: a size (see [`parse_size`]) of at least [`MIN_RECEIVE_MEMORY`].
pub(crate) fn parse_receive_memory(text: &str) -> Result<usize, String> {
    let bytes = usize::try_from(parse_size(text)?).map_err(|_| format!("`{text}` is too large"))?;
    if bytes < MIN_RECEIVE_MEMORY {
        return Err(format!("`{text}`: the receive memory budget must be at least 64Ki"));
    }
    Ok(bytes)
}

pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let t = t.strip_suffix(['B', 'b']).unwrap_or(t);
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, suffix) = t.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("`{text}` is not a byte count"))?;
    let mult: u64 = match suffix {
        "" => 1,
        "K" | "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        _ => return Err(format!("`{text}`: unknown size suffix `{suffix}`")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64Mi"), Ok(64 << 20));
        assert_eq!(parse_size("10M"), Ok(10_000_000));
        assert_eq!(parse_size("12"), Ok(12));
        assert_eq!(parse_size("1KiB"), Ok(1024));
        assert!(parse_size("x").is_err());
        assert!(parse_size("1Q").is_err());
        assert!(parse_size("99999999999Ti").is_err());
    }

    #[test]
    fn host_names_resolve() {
        assert_eq!(parse_host_port("127.0.0.1:7000"), Ok("127.0.0.1:7000".parse().expect("addr")));
        assert_eq!(parse_host_port("localhost:7000"), Ok("127.0.0.1:7000".parse().expect("addr")));
        assert!(parse_host_port("localhost").expect_err("no port").contains("port is missing"));
        assert!(parse_host_port("999.1.1.1:5").is_err());
    }

    #[test]
    fn probabilities() {
        assert_eq!(parse_probability("0.25"), Ok(0.25));
        assert!(parse_probability("1.5").is_err());
        assert!(parse_probability("nan").is_err());
    }

    #[test]
    fn service_options() {
        assert_eq!(parse_max_peers("64"), Ok(64));
        assert!(parse_max_peers("0").is_err());
        assert!(parse_max_peers("many").is_err());
        assert_eq!(parse_seconds("1.5"), Ok(1.5));
        for bad in ["0", "-1", "nan", "inf", "1e9", "soon"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
        let cli = Cli::try_parse_from(["lrp2p", "perf", "server", "--stats"]).expect("parse");
        let Command::Perf(PerfArgs { role: PerfRole::Server(args) }) = cli.command else {
            panic!("not perf server")
        };
        assert_eq!(args.service.stats_every(), Some(Duration::from_secs(5)));
        assert_eq!(args.idle_secs, 10.0);
        assert_eq!(args.service.max_peers, 64);
        let cli = Cli::try_parse_from(["lrp2p", "recv", "--listen", "127.0.0.1:0", "--stats", "0.5"])
            .expect("parse");
        let Command::Recv(args) = cli.command else { panic!("not recv") };
        assert_eq!(args.service.stats_every(), Some(Duration::from_millis(500)));
        assert_eq!(args.idle_secs, 30.0);
        assert_eq!(args.service.receive_memory, 32 << 20);
    }

    #[test]
    fn receive_memory_option() {
        let cli = Cli::try_parse_from(["lrp2p", "perf", "server", "--receive-memory", "8Mi"]).expect("parse");
        let Command::Perf(PerfArgs { role: PerfRole::Server(args) }) = cli.command else {
            panic!("not perf server")
        };
        assert_eq!(args.service.receive_memory, 8 << 20);
        let cli =
            Cli::try_parse_from(["lrp2p", "recv", "--listen", "127.0.0.1:0", "--receive-memory", "500M"])
                .expect("parse");
        let Command::Recv(args) = cli.command else { panic!("not recv") };
        assert_eq!(args.service.receive_memory, 500_000_000);
        assert_eq!(parse_receive_memory("64Ki"), Ok(65536));
        for bad in ["0", "1K", "65535", "lots", "99999999999Ti"] {
            assert!(parse_receive_memory(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rates_are_bounded() {
        assert_eq!(parse_rate_mbit("10"), Ok(10.0));
        assert_eq!(parse_rate_mbit("0.001"), Ok(0.001));
        assert_eq!(parse_rate_mbit("1e6"), Ok(1e6));
        for bad in ["1e-300", "0", "-5", "nan", "inf", "1e7", "fast"] {
            assert!(parse_rate_mbit(bad).is_err(), "{bad}");
        }
        assert!(parse_rate_mbit("1e-300").expect_err("tiny").contains("between 0.001 and 1000000"));
    }
}
