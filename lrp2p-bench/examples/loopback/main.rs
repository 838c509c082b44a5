//! # loopback: 1 GiB over one loopback connection, LRP2P against TCP and quinn
//!
//! ```text
//! cargo run --release -p lrp2p-bench --example loopback -- [--bytes N] [--runs K] [--only NAME,...]
//!     [--handshakes N] [--samples N] [--with BIN] [--rows]
//! ```
//!
//! Contenders (names for `--only`): `tcp`, `quinn`, `lrp2p-std`, `lrp2p-std-8`, `lrp2p-std-8p`, `lrp2p-tokio`
//! and `lrp2p-async-std` (under smol). They run one after the other, never
//! concurrently, each with both ends in this process. For each: goodput (MB/s, 10^6 bytes) and
//! process CPU seconds (user + system, both ends) per GB, medians of K bulk transfers of N bytes
//! (default 1 GiB, 3 runs), every byte verified by the receiver; sequential handshakes per
//! second (median of K rounds of `--handshakes` connections, each to established plus a one-byte
//! exchange each way); connect-to-first-byte latency (median of `--samples`).
//!
//! `lrp2p-std-8` (row `lrp2p-std x8`) moves the N bytes over 8 connections at once between one
//! client socket and one server socket (N / 8 each, every byte verified, all started together,
//! the clock stopped at the last receiver's end of stream): the driver's batching with several
//! busy connections, with datagrams per system call on stderr; `lrp2p-std-8p` (row
//! `lrp2p-std x8 peers`) the same from one client socket to 8 server sockets, one peer each.
//! Their handshake and first-byte figures are lrp2p-std's (one connection at a time), measured
//! again on their own sockets.
//!
//! lrp2p's AEAD backend is picked at build time (`--features ring`, for all three adapters).
//! `--with BIN` runs another build of this program (`BIN --rows --only lrp2p-…`, same options)
//! right after each of this one's lrp2p contenders and merges its row into the table:
//! `examples/loopback.sh` builds both and does that. `--rows` prints machine-readable rows instead of the table.
//! `N` takes a `K`, `M` or `G` suffix (binary units).

mod lrp2p_async_std;
mod lrp2p_std;
mod lrp2p_std_many;
mod lrp2p_tokio;
mod quinn;
#[path = "../shared/quinn_tls.rs"]
mod quinn_tls;
mod tcp;

use std::io::{self, Write};
use std::process::Command;
use std::sync::Arc;

use lrp2p_bench::{Contender, Options, Pattern, Row, measure, table};

/// Builds one contender (its sockets, runtime, …).
type Make = fn() -> io::Result<Box<dyn Contender>>;

/// Every contender this build has, in table order, with its `--only` name.
fn contenders() -> Vec<(&'static str, Make)> {
    vec![
        ("tcp", || Ok(Box::new(tcp::Tcp::new()?))),
        ("quinn", || Ok(Box::new(quinn::Quinn::new()?))),
        ("lrp2p-std", || Ok(Box::new(lrp2p_std::Lrp2pStd::new()?))),
        ("lrp2p-std-8", || Ok(Box::new(lrp2p_std_many::Lrp2pStdMany::new()?))),
        ("lrp2p-std-8p", || Ok(Box::new(lrp2p_std_many::Lrp2pStdMany::with_peers()?))),
        ("lrp2p-tokio", || Ok(Box::new(lrp2p_tokio::Lrp2pTokio::new()?))),
        ("lrp2p-async-std", || Ok(Box::new(lrp2p_async_std::Lrp2pAsyncStd::new()?))),
    ]
}

/// Parsed command line.
struct Args {
    opts: Options,
    only: Option<Vec<String>>,
    with: Vec<String>,
    rows: bool,
}

fn usage(msg: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{msg}\nusage: loopback [--bytes N] [--runs K] [--only NAME,...] [--handshakes N] \
             [--samples N] [--with BIN] [--rows]"
        ),
    )
}

fn number(s: &str) -> io::Result<u64> {
    let (digits, shift) = match s.as_bytes().last() {
        Some(b'K' | b'k') => (&s[..s.len() - 1], 10),
        Some(b'M' | b'm') => (&s[..s.len() - 1], 20),
        Some(b'G' | b'g') => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    let n: u64 = digits.parse().map_err(|_| usage(&format!("not a number: {s}")))?;
    n.checked_shl(shift).filter(|v| v >> shift == n).ok_or_else(|| usage("number too large"))
}

fn parse() -> io::Result<Args> {
    let mut args = Args { opts: Options::default(), only: None, with: Vec::new(), rows: false };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| usage(&format!("{flag} needs a value")));
        let count = |v: String| number(&v).and_then(|n| usize::try_from(n).map_err(|_| usage("too large")));
        match flag.as_str() {
            "--bytes" => args.opts.bytes = number(&value()?)?,
            "--runs" => args.opts.runs = count(value()?)?.max(1),
            "--handshakes" => args.opts.handshakes = count(value()?)?.max(1),
            "--samples" => args.opts.samples = count(value()?)?.max(1),
            "--only" => args.only = Some(value()?.split(',').map(str::to_owned).collect()),
            "--with" => args.with.push(value()?),
            "--rows" => args.rows = true,
            "-h" | "--help" => return Err(usage("")),
            other => return Err(usage(&format!("unknown argument {other}"))),
        }
    }
    Ok(args)
}

/// Runs another build of this program for its row of contender `key` (its other AEAD backend).
fn run_other(bin: &str, key: &str, opts: &Options) -> io::Result<Vec<Row>> {
    let out = Command::new(bin)
        .args(["--rows", "--only", key])
        .args(["--bytes", &opts.bytes.to_string(), "--runs", &opts.runs.to_string()])
        .args(["--handshakes", &opts.handshakes.to_string(), "--samples", &opts.samples.to_string()])
        .stderr(std::process::Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!("{bin} failed: {}", out.status)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).lines().filter_map(Row::from_line).collect())
}

fn run() -> io::Result<()> {
    let args = parse()?;
    let pattern = Arc::new(Pattern::new());
    let mut rows = Vec::new();
    for (key, make) in contenders() {
        if args.only.as_ref().is_some_and(|only| !only.iter().any(|o| o == key)) {
            continue;
        }
        // Built right before its turn and dropped right after: no idle threads of one
        // contender share the CPU clock of the next.
        let mut contender = make()?;
        rows.push(measure(contender.as_mut(), &args.opts, &pattern)?);
        drop(contender);
        if key.starts_with("lrp2p-") {
            for bin in &args.with {
                rows.extend(run_other(bin, key, &args.opts)?);
            }
        }
    }
    let mut out = io::stdout().lock();
    if args.rows {
        for row in &rows {
            writeln!(out, "{}", row.to_line())?;
        }
    } else {
        let o = &args.opts;
        writeln!(
            out,
            "\n{} bytes per transfer, median of {} runs; {} sequential handshakes per round; \
             connect→first byte median of {}.\n",
            o.bytes, o.runs, o.handshakes, o.samples
        )?;
        write!(out, "{}", table(&rows, "quinn"))?;
    }
    Ok(())
}

/// Runs the benchmark; `--help` prints the usage on stdout and succeeds, bad arguments exit 2.
fn main() {
    match run() {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
            if std::env::args().any(|a| a == "-h" || a == "--help") {
                let _ = writeln!(io::stdout(), "{}", e.to_string().trim_start());
            } else {
                eprintln!("loopback: {}", e.to_string().trim_start());
                std::process::exit(2);
            }
        }
        Err(e) => {
            eprintln!("loopback: {e}");
            std::process::exit(1);
        }
    }
}
