//! # impaired: bulk goodput through an impaired link, LRP2P against quinn
//!
//! ```text
//! cargo run --release -p lrp2p-bench --example impaired -- [--secs N] [--runs K]
//!     [--only CONDITION,...] [--contenders NAME,...] [--cc NAME,...] [--seed S]
//!     [--capacity-secs N] [--capacity-mbit R] [--json FILE]
//! ```
//!
//! Every run sends one bulk stream client → server over real UDP sockets on loopback, through
//! lrp2p-relay (the userspace relay behind `lrp2p relay`) on a Tokio runtime of its own. The
//! link: 100 Mbit/s each way, 20 ms each way (40 ms RTT), a one-BDP queue (500 kB), tail drop;
//! the conditions (`--only`, see `conditions.rs`): `clean`, `0.1%` and `1%` loss, `reorder-5ms`
//! (2 % of datagrams held back 5 ms), and, only when named, `reorder-20ms` and `unlimited`
//! (no impairment at all: the relay alone). Impairments apply to both directions.
//!
//! Contenders (`--contenders`): `lrp2p` (lrp2p-std, one contender per `--cc` controller,
//! default `cubic`; or name one, `lrp2p-cubic`), `quinn-cubic` and `quinn-bbr` (or `quinn`
//! for both). Goodput: application bytes, every one verified, read by the receiver in a
//! window of `--secs` (default 20) that opens at its first byte (`window.rs`). Each
//! (condition, contender) runs `--runs` times (default 3), interleaved: round by round, every
//! condition, every contender, each with a fresh relay seeded by `--seed` + round (the same
//! loss pattern for every contender of a round) and fresh sockets.
//!
//! First, unless `--capacity-secs 0`, a check that the relay is not the bottleneck: 1400-byte
//! datagrams offered at `--capacity-mbit` (default 500) to an unimpaired relay for
//! `--capacity-secs` (default 3), and what comes out.
//!
//! Prints Markdown tables (goodput median and range per condition, CPU, and every run's relay
//! counters: forwarded, lost, queue drops, held back, relay backlog drops, each way); `--json
//! FILE` also writes everything (every run, with its goodput second by second, and the
//! medians) as one JSON document to FILE, or to stdout instead of the tables when FILE is `-`.
//! Every run is also logged to stderr as it ends.

mod conditions;
mod lrp2p;
mod quinn;
#[path = "../shared/quinn_tls.rs"]
mod quinn_tls;
mod relay_host;
mod report;
mod window;

use std::io::{self, Write as _};
use std::sync::Arc;
use std::time::Duration;

use lrp2p_bench::Pattern;

use crate::relay_host::RelayHost;
use crate::report::Run;
use crate::window::Window;

/// One transport under test: a bulk transfer through the relay for a window.
pub(crate) trait Bulk {
    /// Its name for `--contenders` and the JSON.
    fn key(&self) -> String;

    /// Its name in the tables.
    fn name(&self) -> String;

    /// Binds a server, opens `host`'s relay towards it, connects a client through the relay
    /// and sends `pattern` until the receiver's window of `secs` is over.
    fn run(&mut self, host: &mut RelayHost, secs: Duration, pattern: &Arc<Pattern>) -> io::Result<Window>;
}

/// Parsed command line.
struct Args {
    secs: u64,
    runs: usize,
    only: Option<Vec<String>>,
    contenders: Option<Vec<String>>,
    cc: Vec<String>,
    seed: u64,
    capacity_secs: u64,
    capacity_mbit: f64,
    json: Option<String>,
}

fn usage(msg: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{msg}\nusage: impaired [--secs N] [--runs K] [--only CONDITION,...] [--contenders NAME,...] \
             [--cc NAME,...] [--seed S] [--capacity-secs N] [--capacity-mbit R] [--json FILE]\n\
             conditions: {}\ncontenders: lrp2p, lrp2p-<cc>, quinn, quinn-cubic, quinn-bbr",
            conditions::all().iter().map(|c| c.key).collect::<Vec<_>>().join(", ")
        ),
    )
}

fn parse() -> io::Result<Args> {
    let mut args = Args {
        secs: 20,
        runs: 3,
        only: None,
        contenders: None,
        cc: vec!["bbr".to_owned(), "cubic".to_owned()],
        seed: 1,
        capacity_secs: 3,
        capacity_mbit: 500.0,
        json: None,
    };
    let mut it = std::env::args().skip(1);
    let list = |v: String| v.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect::<Vec<_>>();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| usage(&format!("{flag} needs a value")));
        let number = |v: String| v.parse::<u64>().map_err(|_| usage(&format!("not a number: {v}")));
        match flag.as_str() {
            "--secs" => args.secs = number(value()?)?.max(1),
            "--runs" => args.runs = usize::try_from(number(value()?)?).map_err(|_| usage("too many"))?.max(1),
            "--only" => args.only = Some(list(value()?)),
            "--contenders" => args.contenders = Some(list(value()?)),
            "--cc" => args.cc = list(value()?),
            "--seed" => args.seed = number(value()?)?,
            "--capacity-secs" => args.capacity_secs = number(value()?)?,
            "--capacity-mbit" => args.capacity_mbit = number(value()?)?.max(1) as f64,
            "--json" => args.json = Some(value()?),
            "-h" | "--help" => return Err(usage("")),
            other => return Err(usage(&format!("unknown argument {other}"))),
        }
    }
    Ok(args)
}

/// The contenders the command line selects, in table order.
fn contenders(args: &Args) -> io::Result<Vec<Box<dyn Bulk>>> {
    let mut all: Vec<Box<dyn Bulk>> = Vec::new();
    for cc in &args.cc {
        let c = lrp2p::Lrp2p::new(cc).ok_or_else(|| usage(&format!("unknown LRP2P controller {cc}")))?;
        all.push(Box::new(c));
    }
    all.push(Box::new(quinn::Quinn::new(quinn::Cc::Cubic)));
    all.push(Box::new(quinn::Quinn::new(quinn::Cc::Bbr)));
    let Some(names) = &args.contenders else { return Ok(all) };
    if let Some(n) = names.iter().find(|n| !all.iter().any(|c| selects(n, &c.key()))) {
        return Err(usage(&format!("unknown contender {n}")));
    }
    Ok(all.into_iter().filter(|c| names.iter().any(|n| selects(n, &c.key()))).collect())
}

/// Whether `--contenders` name `name` selects the contender `key`: its own key, or `lrp2p` /
/// `quinn` for every contender of that family.
fn selects(name: &str, key: &str) -> bool {
    name == key
        || (matches!(name, "lrp2p" | "quinn") && key.strip_prefix(name).is_some_and(|r| r.starts_with('-')))
}

fn main() {
    match run() {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
            let help = std::env::args().any(|a| a == "-h" || a == "--help");
            if help {
                let _ = writeln!(io::stdout(), "{}", e.to_string().trim_start());
            } else {
                eprintln!("impaired: {}", e.to_string().trim_start());
                std::process::exit(2);
            }
        }
        Err(e) => {
            eprintln!("impaired: {e}");
            std::process::exit(1);
        }
    }
}

fn run() -> io::Result<()> {
    let args = parse()?;
    let conds = conditions::select(args.only.as_deref()).map_err(|e| usage(&e))?;
    let mut contenders = contenders(&args)?;
    let secs = Duration::from_secs(args.secs);
    let capacity = match args.capacity_secs {
        0 => None,
        s => {
            let c = relay_host::relay_capacity(Duration::from_secs(s), args.capacity_mbit)?;
            eprintln!("{}", report::capacity_line(&c));
            Some(c)
        }
    };
    let pattern = Arc::new(Pattern::new());
    let mut runs = Vec::new();
    for round in 1..=args.runs {
        for condition in &conds {
            for contender in contenders.iter_mut() {
                let mut host = RelayHost::new(condition.impairment, args.seed.wrapping_add(round as u64))?;
                let result = contender.run(&mut host, secs, &pattern).map_err(|e| e.to_string());
                let (up, down) = host.counters();
                // The relay and its runtime stop before the next run starts.
                drop(host);
                let run = Run {
                    round,
                    condition: *condition,
                    key: contender.key(),
                    name: contender.name(),
                    result,
                    up,
                    down,
                };
                eprintln!("{}", report::run_line(&run, args.runs));
                runs.push(run);
            }
        }
    }
    let json = args.json.as_ref().map(|_| report::json(&runs, args.secs, args.runs, capacity.as_ref()));
    let mut out = io::stdout().lock();
    match (&args.json, json) {
        (Some(path), Some(json)) if path == "-" => writeln!(out, "{json:#}")?,
        (Some(path), Some(json)) => {
            std::fs::write(path, format!("{json:#}\n"))?;
            write!(out, "{}", report::markdown(&runs, args.secs, args.runs, capacity.as_ref()))?;
        }
        _ => write!(out, "{}", report::markdown(&runs, args.secs, args.runs, capacity.as_ref()))?,
    }
    Ok(())
}
