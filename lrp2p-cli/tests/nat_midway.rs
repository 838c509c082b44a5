//! The `lrp2p` binary while something happens to the network in the middle of a transfer: two
//! peers behind easy NATs (`lrp2p-netlab`) meet by key through a rendezvous on a public host
//! and go direct; the sender's link is slowed to 20 Mbit/s (`Lab::shape`), so that 16 MiB take
//! about 7 s; about 1 s after the first bytes reach the receiver's disk,
//!
//! - both NATs forget their mappings (`conntrack -F`): the next datagram out of each makes a
//!   new one, on the old public port (it is free again), so the peers' addresses stay; but
//!   until the receiver sends again, its NAT drops what the sender sends (a port-restricted
//!   NAT lets in only replies);
//! - the rendezvous is killed: the peers no longer need it;
//! - the direct path is cut (`Lab::cut`): the relay carries the rest (PROTOCOL.md §13.8).
//!
//! Each time the file must arrive byte-exact; each test prints its figures (seconds, when the
//! event came and how much had arrived, the sender's path at the end and its changes). A test
//! that checks the lab's cut comes first: with the direct path cut before they meet, the peers
//! meet and transfer over the relay.
//!
//! Like `nat.rs`, these need root, `ip`, `nft`, `conntrack` and `tc`; where a namespace cannot
//! be made they print why and pass without running. Every wait is bounded and every child
//! process is killed by its own handle; the lab deletes its namespaces on every exit path.

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::nat::{ByKey, Place};
use common::{Background, Ended};
use lrp2p_netlab::{Lab, Nat, NatKind};

/// The sender's link: 16 MiB take about 7 s.
const RATE_MBIT: u32 = 20;

/// How long after the first bytes arrive the event comes.
const INTO: Duration = Duration::from_secs(1);

/// How long a slowed transfer may take in all (it ends within its idle timeout, 30 s, of a
/// path that carries nothing).
const SEND_LIMIT: Duration = Duration::from_secs(90);

/// The size of the file.
const MIB16: u64 = 16 << 20;

/// Two peers behind easy NATs, by key: the receiver's NAT is `nats[0]`, the sender's `nats[1]`.
fn easy_to_easy(name: &str) -> Option<ByKey> {
    ByKey::new(name, Place::Behind(NatKind::Easy), Place::Behind(NatKind::Easy), false)
}

/// What a transfer with an event in its middle measured.
struct Figures {
    /// From the sender's start to its exit.
    seconds: f64,
    /// The sender's own figure (its `sent` line: from the first byte to the receiver's verdict).
    sender_seconds: f64,
    /// Its `sent` line's retransmissions and last RTT (ms).
    retransmits: u64,
    rtt_ms: f64,
    /// From the sender's start to the event.
    event_at: f64,
    /// Bytes on the receiver's disk at the event.
    on_disk: u64,
    /// How the bytes on the disk grew after it.
    watched: Watched,
    /// The sender's path at the end (`direct` or `relayed`), where it led, and how many times
    /// it changed (its `sent` line).
    path: String,
    remote: String,
    path_changes: u64,
}

impl Figures {
    fn direct(&self) -> bool {
        self.path == "direct"
    }

    fn print(&self, what: &str) {
        eprintln!(
            "{what}: 16 MiB in {:.2} s (the sender's `sent`: {:.2} s, {} retransmissions, rtt \
             {:.1} ms); the event at {:.2} s with {:.1} MiB of 16 on the receiver's disk; after it \
             the longest stall {:.2} s (from {:.2} s after it); the sender's path at the end: \
             {} to {} after {} changes",
            self.seconds,
            self.sender_seconds,
            self.retransmits,
            self.rtt_ms,
            self.event_at,
            self.on_disk as f64 / f64::from(1u32 << 20),
            self.watched.stall.as_secs_f64(),
            self.watched.stall_from.as_secs_f64(),
            self.path,
            self.remote,
            self.path_changes,
        );
    }
}

/// Sends the file of `peers` with the sender's link slowed; [`INTO`] after the first bytes
/// reach the receiver's disk (the transfer still running) runs `event`; then waits for the
/// sender. Its success and the file's arrival are checked; a failure says what both sides
/// printed and what the NATs hold.
fn midway(mut peers: ByKey, event: impl FnOnce(&mut ByKey)) -> Figures {
    peers.lab.shape(&peers.sender, RATE_MBIT).expect("tc tbf on the sender's link");
    let started = Instant::now();
    let mut send = peers.start_send();
    let deadline = started + Duration::from_secs(30);
    while peers.on_disk() == 0 {
        let running = send.child.try_wait().expect("wait").is_none();
        if !running || Instant::now() > deadline {
            let sent = send.end(Duration::ZERO);
            panic!("no byte arrived (the sender ran {:?}):\n{}", started.elapsed(), evidence(peers, &sent));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(INTO);
    let on_disk = peers.on_disk();
    assert!(send.child.try_wait().expect("wait").is_none(), "the transfer ended before the event");
    assert!(on_disk < MIB16, "the whole file arrived before the event");
    let event_at = started.elapsed().as_secs_f64();
    event(&mut peers);
    let watched = watch(&peers, &mut send, SEND_LIMIT);
    let sent = send.end(Duration::ZERO);
    let seconds = started.elapsed().as_secs_f64();
    if sent.code != Some(0) {
        panic!("the sender failed after {seconds:.2} s ({watched}):\n{}", evidence(peers, &sent));
    }
    let line = sent.events("sent").pop().expect("a `sent` line");
    let sender_seconds = line["file"]["elapsed"].as_f64().expect("elapsed");
    let retransmits = line["retransmits"].as_u64().expect("retransmits");
    let rtt_ms = line["rtt_ms"].as_f64().unwrap_or(f64::NAN);
    let path = line["path"].as_str().unwrap_or("?").to_owned();
    let remote = line["remote"].as_str().unwrap_or("?").to_owned();
    let path_changes = line["path_changes"].as_u64().unwrap_or(u64::MAX);
    Figures {
        seconds,
        sender_seconds,
        retransmits,
        rtt_ms,
        event_at,
        on_disk,
        watched,
        path,
        remote,
        path_changes,
    }
}

/// What the receiver's disk showed while the sender ran.
struct Watched {
    /// The bytes last seen (a failed file is deleted: they go back to 0).
    bytes: u64,
    /// The longest time they did not change, and when that began (s since the watch began).
    stall: Duration,
    stall_from: Duration,
}

impl std::fmt::Display for Watched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bytes last seen on the receiver's disk; the longest stall {:.2} s, from {:.2} s after the event",
            self.bytes,
            self.stall.as_secs_f64(),
            self.stall_from.as_secs_f64()
        )
    }
}

/// Watches the receiver's disk every 20 ms until `send` exits or `limit` passes.
fn watch(peers: &ByKey, send: &mut Background, limit: Duration) -> Watched {
    let start = Instant::now();
    let mut watched = Watched { bytes: peers.on_disk(), stall: Duration::ZERO, stall_from: Duration::ZERO };
    let mut since = start;
    while send.child.try_wait().expect("wait").is_none() && start.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(20));
        let bytes = peers.on_disk();
        // The quiet time before the exit counts only if the sender is still running (a stall
        // it never came out of), not the verdict's wait after the last byte.
        let running = send.child.try_wait().expect("wait").is_none();
        if bytes != watched.bytes || running && start.elapsed() >= limit {
            if since.elapsed() > watched.stall {
                (watched.stall, watched.stall_from) = (since.elapsed(), since - start);
            }
            (watched.bytes, since) = (bytes, Instant::now());
        }
    }
    watched
}

/// What a failed transfer leaves to go on: both sides' exit codes and output, the bytes that
/// arrived, and the NATs' mappings now.
fn evidence(peers: ByKey, sent: &Ended) -> String {
    let on_disk = peers.on_disk();
    let mappings: Vec<String> = peers
        .nats
        .iter()
        .map(|nat| format!("{}: {}", nat.public, peers.lab.mappings(nat).unwrap_or_else(|e| e)))
        .collect();
    let recv = peers.recv.end(Duration::from_secs(5));
    format!(
        "sender: exit {:?}\n  stdout: {}\n  stderr: {}\nreceiver: exit {:?}\n  stdout: {}\n  stderr: {}\n\
         {on_disk} bytes of {MIB16} on the receiver's disk\nmappings:\n{}",
        sent.code,
        sent.stdout.trim(),
        sent.stderr.trim(),
        recv.code,
        recv.stdout.trim(),
        recv.stderr.trim(),
        mappings.join("\n"),
    )
}

/// The public port `nat` maps its host's flow toward `peer` to (the reply's destination port
/// in `conntrack -L`), if it holds one.
fn public_port(lab: &Lab, nat: &Nat, peer: Ipv4Addr) -> Option<u16> {
    let listing = lab.mappings(nat).ok()?;
    let toward = format!("dst={peer} ");
    let line = listing.lines().find(|l| l.contains(&toward))?;
    let port = line.split_whitespace().filter_map(|w| w.strip_prefix("dport=")).next_back()?;
    port.parse().ok()
}

#[test]
fn with_the_direct_path_cut_before_they_meet_the_peers_transfer_over_the_relay() {
    let Some(peers) = easy_to_easy("mw-cut") else { return };
    let (receiver_nat, sender_nat) = (peers.nats[0].public, peers.nats[1].public);
    let cut = peers.lab.cut(receiver_nat, sender_nat).expect("cut");
    let started = Instant::now();
    let sent = peers.send(Duration::from_secs(60));
    let seconds = started.elapsed().as_secs_f64();
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    let line = sent_line(&sent);
    assert_eq!(line["path"], "relayed", "with the direct path cut: {line}");
    let dropped = peers.lab.dropped(&cut).expect("counters");
    assert!(dropped > 0, "the cut dropped nothing: the peers never tried the direct path");
    peers.lab.restore(cut).expect("restore");
    peers.received();
    eprintln!("cut: 16 MiB over the relay in {seconds:.2} s ({dropped} direct datagrams dropped by the cut)");
}

/// The sender's `sent` line.
fn sent_line(sent: &std::process::Output) -> serde_json::Value {
    String::from_utf8_lossy(&sent.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "sent")
        .expect("a `sent` line")
}

/// Both NATs forget their mappings: the receiver, with nothing to send while nothing arrives,
/// would make its NAT's mapping again only with its keep-alive, 25 s later (PROTOCOL.md §13.5;
/// measured before the relay: a 29 s stall). With the relay, the sender's first retransmission
/// timeout moves both sides there (§13.8), their probes of the direct path make new mappings,
/// and the connection goes direct again. Bounds that a regression to the keep-alive's stall
/// breaks by far (measured: under 0.1 s), not a speed target.
#[test]
fn both_nats_forget_their_mappings_mid_transfer_and_the_transfer_completes() {
    let Some(peers) = easy_to_easy("mw-flush") else { return };
    let receiver_nat = peers.nats[0].public;
    let mut ports = (None, None);
    let figures = midway(peers, |peers| {
        ports.0 = public_port(&peers.lab, &peers.nats[1], receiver_nat);
        for nat in &peers.nats {
            peers.lab.flush_mappings(nat).expect("conntrack -F");
        }
        // The first datagram each way after the flush makes the new mapping.
        std::thread::sleep(Duration::from_millis(500));
        ports.1 = public_port(&peers.lab, &peers.nats[1], receiver_nat);
    });
    figures.print("conntrack -F on both NATs");
    eprintln!(
        "the sender's NAT's public port toward the receiver's NAT: {:?} before the flush, {:?} after",
        ports.0, ports.1
    );
    assert!(figures.direct(), "back on the direct path: {}", figures.path);
    assert!(figures.watched.stall < Duration::from_secs(10), "stalled {:?}", figures.watched.stall);
}

#[test]
fn the_rendezvous_killed_mid_transfer_the_direct_transfer_completes() {
    let Some(peers) = easy_to_easy("mw-rvkill") else { return };
    let figures = midway(peers, |peers| peers.rendezvous.kill());
    figures.print("rendezvous killed");
    assert!(figures.direct(), "still direct: {} to {}", figures.path, figures.remote);
}

#[test]
fn the_direct_path_cut_mid_transfer_the_transfer_completes_over_the_relay() {
    let Some(peers) = easy_to_easy("mw-cutmid") else { return };
    let (receiver_nat, sender_nat) = (peers.nats[0].public, peers.nats[1].public);
    let figures = midway(peers, |peers| {
        // For the rest of the transfer: a cut lasts until it is restored or the lab dropped.
        let _cut = peers.lab.cut(receiver_nat, sender_nat).expect("cut");
    });
    figures.print("direct path cut");
    // PROTOCOL.md §13.8: the first retransmission timeout of the dead direct path moves the
    // sender to the relay; the probes of the direct path go on failing while the cut lasts.
    assert_eq!(figures.path, "relayed", "the relay carried the rest");
    assert!(figures.path_changes >= 1, "direct → relay: {}", figures.path_changes);
}
