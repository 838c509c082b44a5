//! How fast the rendezvous relays (PROTOCOL.md §13.8) beside a direct path on the same machine:
//! in `lrp2p-netlab` namespaces (veth pairs and nftables NATs, no delay), `lrp2p send` moves a
//! file by key to a receiver registered with `lrp2p rendezvous` on a public host. Direct: both
//! peers behind easy NATs (they punch through). Relayed: the receiver behind a hard NAT (no
//! direct path; everything goes through the rendezvous), whose per-peer relay limit is raised
//! (`--relay-mbit`) so that the relay itself, not its limit, is measured. All three processes
//! share this machine's cores. Runs alternate (direct, relayed, direct, …); the figures are the
//! sender's own (`sent`: from the first byte to the receiver's verdict), medians of the runs.
//!
//! Needs root, `ip`, `nft` and `conntrack`, and a release build of the tool first:
//!
//! `cargo build --release -p lrp2p-cli && cargo run --release -p lrp2p-cli --example relay_throughput [MiB] [runs]`

// A program, not a library: it prints.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::error::Error;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use lrp2p_netlab::{Host, Lab, NatKind};

/// How long one transfer may take at most.
const LIMIT: Duration = Duration::from_secs(120);

fn main() -> Result<(), Box<dyn Error>> {
    let mib: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(256);
    let runs: usize = std::env::args().nth(2).map(|s| s.parse()).transpose()?.unwrap_or(3);
    let exe = std::env::current_exe()?;
    let bin = exe.parent().and_then(Path::parent).map(|d| d.join("lrp2p")).ok_or("no target dir")?;
    if !bin.exists() {
        return Err(format!("{} is missing: cargo build --release -p lrp2p-cli first", bin.display()).into());
    }
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("payload.bin");
    let data: Vec<u8> =
        (0..u32::try_from(mib << 20)?).map(|i| i.wrapping_mul(2_654_435_761).to_be_bytes()[1]).collect();
    std::fs::write(&file, &data)?;
    drop(data);
    println!("{mib} MiB by key through a rendezvous, {runs} runs each, alternating");
    let mut figures: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for run in 0..runs {
        for (i, relayed) in [false, true].into_iter().enumerate() {
            let (seconds, path) = transfer(&bin, dir.path(), &file, relayed, run)?;
            let mbyte_s = (mib << 20) as f64 / seconds / 1e6;
            println!(
                "  run {}: {:<8} {seconds:6.3} s  {mbyte_s:7.1} MB/s  (path: {path})",
                run + 1,
                name(relayed)
            );
            figures[i].push(mbyte_s);
        }
    }
    let [direct, relayed] = figures.map(|mut f| {
        f.sort_by(f64::total_cmp);
        f
    });
    for (label, f) in [("direct", &direct), ("relayed", &relayed)] {
        println!(
            "{label:<8} median {:7.1} MB/s  (min {:.1}, max {:.1})",
            median(f),
            f.first().copied().unwrap_or(f64::NAN),
            f.last().copied().unwrap_or(f64::NAN)
        );
    }
    println!("relayed ÷ direct (medians): {:.2} (target ≥ 0.50)", median(&relayed) / median(&direct));
    Ok(())
}

fn name(relayed: bool) -> &'static str {
    if relayed { "relayed" } else { "direct" }
}

fn median(sorted: &[f64]) -> f64 {
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// One transfer in a fresh lab: its seconds and the path the sender ended on.
fn transfer(
    bin: &Path,
    dir: &Path,
    file: &Path,
    relayed: bool,
    run: usize,
) -> Result<(f64, String), Box<dyn Error>> {
    let mut lab = Lab::new(&format!("rt{run}{}", u8::from(relayed)))?;
    let service = lab.public_host("rv")?;
    let mut receiver_nat = lab.nat("nr", if relayed { NatKind::Hard } else { NatKind::Easy })?;
    let receiver = lab.host_behind(&mut receiver_nat, "r")?;
    let mut sender_nat = lab.nat("ns", NatKind::Easy)?;
    let sender = lab.host_behind(&mut sender_nat, "s")?;
    let out = dir.join(format!("out-{run}-{relayed}"));
    std::fs::create_dir_all(&out)?;
    let mut rendezvous = spawn(
        &lab,
        &service,
        bin,
        dir,
        &["rendezvous", "--json", "--listen", "0.0.0.0:7400", "--relay-mbit", "100000", "--stats-secs", "1"],
    )?;
    let key = event(&mut rendezvous, "listening")?["public_key"].as_str().ok_or("key")?.to_owned();
    let at = format!("{}:7400={key}", service.addr);
    let recv_args = [
        "recv",
        "--json",
        "--yes",
        "--count",
        "1",
        "--listen",
        "0.0.0.0:7000",
        "--out",
        path(&out)?,
        "--rendezvous",
        &at,
    ];
    let mut recv = spawn(&lab, &receiver, bin, dir, &recv_args)?;
    // `registered` comes first, then `listening`: the receiver is known to the rendezvous.
    let recv_key = event(&mut recv, "listening")?["public_key"].as_str().ok_or("key")?.to_owned();
    let mut send = spawn(
        &lab,
        &sender,
        bin,
        dir,
        &["send", "--json", path(file)?, "--peer", &recv_key, "--rendezvous", &at],
    )?;
    let sent = event(&mut send, "sent");
    // The service's counters (printed every second): what it relayed and dropped.
    let stats = event(&mut rendezvous, "stats").ok();
    // The kernel's UDP receive-buffer drops in each namespace.
    let drops: Vec<String> = [(&service, "rendezvous"), (&sender, "sender"), (&receiver, "receiver")]
        .iter()
        .map(|(host, name)| format!("{name} {}", udp_rcvbuf_errors(&lab, host)))
        .collect();
    for child in [&mut send.0, &mut recv.0, &mut rendezvous.0] {
        let _ = child.kill();
        let _ = child.wait();
    }
    std::fs::remove_dir_all(&out)?;
    let sent = sent?;
    let seconds = sent["file"]["elapsed"].as_f64().ok_or("elapsed")?;
    let mut path = format!(
        "{}, {} retransmissions, rtt {:.1} ms",
        sent["path"].as_str().unwrap_or("?"),
        sent["retransmits"],
        sent["rtt_ms"].as_f64().unwrap_or(f64::NAN)
    );
    path += &format!("; UDP receive-buffer drops: {}", drops.join(", "));
    if let Some(s) = stats.filter(|_| relayed) {
        path += &format!(
            "; the rendezvous relayed {} datagrams, dropped {} (queue full {})",
            s["relayed"],
            s["rate_limited"].as_u64().unwrap_or(0) + s["queue_full"].as_u64().unwrap_or(0),
            s["queue_full"]
        );
    }
    Ok((seconds, path))
}

/// `RcvbufErrors` of `Udp:` in the namespace's `/proc/net/snmp`.
fn udp_rcvbuf_errors(lab: &Lab, host: &Host) -> String {
    let Ok(out) = lab.command(host, "cat").arg("/proc/net/snmp").output() else { return "?".into() };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else { return "?".into() };
    let at = names.split_whitespace().position(|n| n == "RcvbufErrors");
    at.and_then(|i| values.split_whitespace().nth(i)).unwrap_or("?").to_owned()
}

fn path(p: &Path) -> Result<&str, Box<dyn Error>> {
    Ok(p.to_str().ok_or("path")?)
}

/// A child process and the lines of its standard output (read on a thread of their own).
struct Running(Child, std::sync::mpsc::Receiver<String>);

fn spawn(lab: &Lab, host: &Host, bin: &Path, dir: &Path, args: &[&str]) -> Result<Running, Box<dyn Error>> {
    let mut command = lab.command(host, path(bin)?);
    let config: PathBuf = dir.join(format!("config-{}", host.namespace));
    command.env("LRP2P_CONFIG_DIR", config).args(args);
    let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
    let stdout = BufReader::new(child.stdout.take().ok_or("stdout")?);
    let (lines, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    Ok(Running(child, rx))
}

/// The next JSON line whose `event` is `name`, within [`LIMIT`].
fn event(running: &mut Running, name: &str) -> Result<serde_json::Value, Box<dyn Error>> {
    let deadline = Instant::now() + LIMIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = running.1.recv_timeout(left).map_err(|_| format!("no `{name}` within {LIMIT:?}"))?;
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) {
            if value["event"] == name {
                return Ok(value);
            }
        }
    }
}
