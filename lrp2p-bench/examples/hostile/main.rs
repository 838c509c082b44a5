//! # hostile: hostile peers against a real `lrp2p perf server` on loopback, one row per attack
//!
//! ```text
//! cargo build --release -p lrp2p-cli          # the server: target/release/lrp2p
//! cargo run --release -p lrp2p-bench --example hostile -- [--only NAME,...] [--secs N]
//!     [--rate N] [--bytes N] [--conns N] [--fresh N] [--peer-timeout N] [--server BIN]
//! ```
//!
//! Attacks (names for `--only`), each against a fresh server process:
//!
//! - `ik-flood`: valid IK initiations, each from a fresh identity, to the server's key, at
//!   `--rate` (default 10,000/s) from 1,000 source addresses that never answer (one fresh
//!   initiation per datagram, built before the timed phase; `--fresh N` builds only N, then
//!   repeats them, for quick runs);
//! - `replay`: one captured initiation sent again and again from 1,100 addresses, at `--rate`;
//! - `xx-flood`: 1,500 XX connections from one address:port that answers cookie replies (a
//!   real `Endpoint` driven by hand), their XX finishes withheld;
//! - `silent`: 3,000 IK connections from one address:port, confirmed, then silent;
//! - `ooo-fill`: `--conns` (default 8) authenticated connections each filling the server's
//!   out-of-order buffer (DATA above a gap), at `--rate` packets per second in all;
//! - `optimistic-ack`: `--conns` authenticated connections acknowledging data the server
//!   never sent, at `--rate`.
//!
//! For each: the server's peak resident set and CPU seconds during the attack (from `/proc`),
//! the kernel's drops on its socket, the amplification (bytes received from the server ÷
//! bytes sent, the largest of any source and over all), the server's counters when `perf
//! server` has `--stats`, and a legitimate peer's `--bytes` test (default 10 MB) unattacked,
//! during the attack and right after it: time to connected and to the server's total. Each
//! attack lasts `--secs` (default 10). `--peer-timeout` (default 30 s) bounds each test of the
//! legitimate peer. The server is `target/<profile>/lrp2p` beside this program, or `--server`.
//! `N` takes a `K` or `M` suffix (decimal units). Loopback only.

mod attack;
mod crafted;
mod endpoint;
mod flood;
mod legit;
mod report;
mod server;

use std::io::{self, Write as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use attack::Outcome;
use report::{Row, ServerFigures};
use server::Server;

/// Every attack, in table order.
const ATTACKS: [&str; 6] = ["ik-flood", "replay", "xx-flood", "silent", "ooo-fill", "optimistic-ack"];

/// Parsed command line.
#[derive(Debug, Clone)]
struct Args {
    only: Option<Vec<String>>,
    secs: Duration,
    rate: f64,
    bytes: u64,
    conns: usize,
    fresh: Option<usize>,
    peer_timeout: Duration,
    server: Option<PathBuf>,
}

fn usage(msg: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{msg}\nusage: hostile [--only NAME,...] [--secs N] [--rate N] [--bytes N] [--conns N] \
             [--fresh N] [--peer-timeout N] [--server BIN]\nattacks: {}",
            ATTACKS.join(", ")
        ),
    )
}

fn number(s: &str) -> io::Result<u64> {
    let (digits, mul) = match s.as_bytes().last() {
        Some(b'K' | b'k') => (&s[..s.len() - 1], 1_000),
        Some(b'M' | b'm') => (&s[..s.len() - 1], 1_000_000),
        _ => (s, 1),
    };
    let n: u64 = digits.parse().map_err(|_| usage(&format!("not a number: {s}")))?;
    n.checked_mul(mul).ok_or_else(|| usage("number too large"))
}

fn parse() -> io::Result<Args> {
    let mut args = Args {
        only: None,
        secs: Duration::from_secs(10),
        rate: 10_000.0,
        bytes: 10_000_000,
        conns: 8,
        fresh: None,
        peer_timeout: Duration::from_secs(30),
        server: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--only" => {
                let names: Vec<String> = value()?.split(',').map(str::to_owned).collect();
                if let Some(bad) = names.iter().find(|n| !ATTACKS.contains(&n.as_str())) {
                    return Err(usage(&format!("unknown attack {bad}")));
                }
                args.only = Some(names);
            }
            "--secs" => args.secs = Duration::from_secs(number(&value()?)?.clamp(1, 600)),
            "--rate" => args.rate = number(&value()?)?.clamp(1, 1_000_000) as f64,
            "--bytes" => args.bytes = number(&value()?)?.max(1),
            "--conns" => args.conns = usize::try_from(number(&value()?)?.clamp(1, 1000)).unwrap_or(8),
            "--fresh" => args.fresh = Some(usize::try_from(number(&value()?)?.max(1)).unwrap_or(usize::MAX)),
            "--peer-timeout" => args.peer_timeout = Duration::from_secs(number(&value()?)?.clamp(1, 600)),
            "--server" => args.server = Some(PathBuf::from(value()?)),
            "-h" | "--help" => return Err(usage("")),
            other => return Err(usage(&format!("unknown argument {other}"))),
        }
    }
    Ok(args)
}

/// An attack ready to run on its own thread.
type Attack = Box<dyn FnOnce() -> io::Result<Outcome> + Send>;

/// Binds the sockets and builds the datagrams of attack `name` (untimed), and returns it.
fn prepare(name: &str, server: &Server, args: &Args, seed: u64) -> io::Result<Attack> {
    let (to, key, rate, secs, conns) = (server.addr, server.key, args.rate, args.secs, args.conns);
    Ok(match name {
        "ik-flood" => {
            let p = flood::prepare_ik_flood(to, key, rate, secs, args.fresh, seed)?;
            Box::new(move || p.run(to, rate, secs))
        }
        "replay" => {
            let p = flood::prepare_replay(to, key, seed)?;
            Box::new(move || p.run(to, rate, secs))
        }
        "xx-flood" => Box::new(move || endpoint::run(endpoint::Kind::XxFlood, to, key, rate, secs, seed)),
        "silent" => Box::new(move || endpoint::run(endpoint::Kind::Silent, to, key, rate, secs, seed)),
        "ooo-fill" => {
            Box::new(move || crafted::run(crafted::Kind::OooFill, to, key, rate, secs, conns, seed))
        }
        "optimistic-ack" => {
            Box::new(move || crafted::run(crafted::Kind::OptimisticAck, to, key, rate, secs, conns, seed))
        }
        other => return Err(usage(&format!("unknown attack {other}"))),
    })
}

/// What the attack thread hands back: the outcome, the server sampled at the attack's end,
/// the largest `VmRSS` seen meanwhile (kB), and when the attack ended.
type Finished = (io::Result<Outcome>, server::Sample, u64, Instant);

/// Runs one attack against a fresh server and measures everything.
fn run_row(
    name: &'static str,
    args: &Args,
    bin: &std::path::Path,
    stats: Option<&[String]>,
    seed: u64,
) -> io::Result<Row> {
    let server = Server::spawn(bin, stats)?;
    eprintln!("{name}: server {} (pid {})", server.addr, server.probe().pid());
    let (addr, key) = (server.addr, server.key);
    let base = legit::transfer(addr, key, args.bytes, args.peer_timeout);
    eprintln!("{name}: unattacked: {base}");
    let attack = prepare(name, &server, args, seed)?;
    let before = server.sample();
    let reset = server.reset_peak();
    // The attack and a VmRSS sampler run on their own threads; this one runs the peer.
    let peak = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        let probe = server.probe();
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(probe.sample().rss_kb, Ordering::Relaxed);
                thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let started = Instant::now();
    let runner = {
        let probe = server.probe();
        let (peak, stop) = (peak.clone(), stop.clone());
        thread::spawn(move || -> Finished {
            let outcome = attack();
            let at_end = probe.sample();
            stop.store(true, Ordering::Relaxed);
            (outcome, at_end, peak.load(Ordering::Relaxed), Instant::now())
        })
    };
    let during_at = (args.secs.mul_f64(0.3)).max(Duration::from_secs(1).min(args.secs / 2));
    thread::sleep(during_at);
    let during = legit::transfer(addr, key, args.bytes, args.peer_timeout);
    eprintln!("{name}: during: {during}");
    let (outcome, at_end, sampled_peak, ended) =
        runner.join().map_err(|_| io::Error::other("the attack thread panicked"))?;
    let _ = sampler.join();
    let outcome = outcome?;
    eprintln!(
        "{name}: attack done in {:.1} s, {:.0} datagrams/s",
        (ended - started).as_secs_f64(),
        outcome.rate()
    );
    let after = legit::transfer(addr, key, args.bytes, args.peer_timeout);
    eprintln!("{name}: after: {after}");
    let (rss_peak_kb, rss_how) = if reset {
        (at_end.hwm_kb.max(sampled_peak), "VmHWM reset at the attack's start, and VmRSS sampled every 50 ms")
    } else {
        (sampled_peak, "VmRSS sampled every 50 ms (VmHWM could not be reset)")
    };
    let figures = ServerFigures {
        rss_peak_kb,
        rss_how,
        rss_before_kb: before.rss_kb,
        cpu_secs: at_end.cpu_secs - before.cpu_secs,
        drops: at_end.drops.zip(before.drops).map(|(a, b)| a.saturating_sub(b)),
        tests_done: server.done_count(),
        counters: server.stop(),
    };
    Ok(Row {
        name,
        ran: Ok(()),
        target_rate: (!matches!(name, "xx-flood" | "silent")).then_some(args.rate),
        unvalidated: matches!(name, "ik-flood" | "replay"),
        connect_target: matches!(name, "ik-flood" | "replay"),
        during_outlived: during.ended().is_some_and(|e| e > ended),
        outcome,
        server: figures,
        base,
        during,
        after,
    })
}

fn run() -> io::Result<()> {
    let args = parse()?;
    let bin = server::locate(args.server.as_deref())?;
    let stats = server::stats_args(&bin);
    eprintln!(
        "server {} ({}); {:.0} s per attack at {:.0}/s",
        bin.display(),
        stats.as_ref().map_or_else(|| "no --stats: no server counters".to_owned(), |a| a.join(" ")),
        args.secs.as_secs_f64(),
        args.rate
    );
    let seed = flood::unix_ns();
    let mut rows = Vec::new();
    for (i, name) in ATTACKS.into_iter().enumerate() {
        if args.only.as_ref().is_some_and(|only| !only.iter().any(|o| o == name)) {
            continue;
        }
        let row = run_row(name, &args, &bin, stats.as_deref(), seed.wrapping_add(i as u64 * 1_000_000))
            .unwrap_or_else(|e| Row::not_run(name, format!("failed: {e}")));
        rows.push(row);
    }
    let mut out = io::stdout().lock();
    write!(out, "{}", report::table(&rows, args.secs, args.bytes))?;
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
                eprintln!("hostile: {}", e.to_string().trim_start());
                std::process::exit(2);
            }
        }
        Err(e) => {
            eprintln!("hostile: {e}");
            std::process::exit(1);
        }
    }
}
