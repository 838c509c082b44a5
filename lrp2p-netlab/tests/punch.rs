//! Hole punching through the lab's NAT routers (PROTOCOL.md §13.6, §13.9), with the addresses
//! an introduction would give passed by hand: the dialing side sends its IK initiation to the
//! peer's public (NAT) and local addresses at once (`Socket::connect_many`), the other side
//! punches toward the dialer's (`Socket::punch`), and 16 MiB go direct, byte-exact.
//! Cases: easy–easy, a public dialer to a peer behind a hard NAT (whose real port only its
//! PUNCH reveals), a dialer behind a hard NAT to a public peer, and two hosts behind one NAT
//! (hairpin: the NAT does not loop back, the local addresses do).
//!
//! They need root, `ip`, `nft` and `conntrack`; where a namespace cannot be made they print why
//! and pass without running (`.ci/run` installs the tools, so CI runs them). Every child is
//! bounded in time and killed by its handle; the lab deletes its namespaces on every exit path.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use lrp2p_netlab::{Host, Lab, NatKind};

const BIN: &str = env!("CARGO_BIN_EXE_lrp2p-punch");
const BYTES: u64 = 16 << 20;
const DIALER_PORT: u16 = 7100;
const ANSWER_PORT: u16 = 7200;
const DIALER_SEED: &str = "11";
const ANSWER_SEED: &str = "22";

fn lab(name: &str) -> Option<Lab> {
    match Lab::new(name) {
        Ok(lab) => Some(lab),
        Err(why) => {
            eprintln!("skipping the NAT test `{name}`: {why}");
            None
        }
    }
}

fn spawn(lab: &Lab, host: &Host, args: &[&str]) -> Child {
    let mut command = lab.command(host, BIN);
    command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    command.spawn().expect("spawn lrp2p-punch")
}

/// Waits for `child` up to `limit`, killing it past that.
fn finish(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return child.wait_with_output().expect("output");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("output");
    panic!("lrp2p-punch did not finish in {limit:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn key(seed: &str) -> String {
    let out = std::process::Command::new(BIN).args(["key", seed]).output().expect("lrp2p-punch key");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn field<'a>(line: &'a str, name: &str) -> &'a str {
    line.trim()
        .split(' ')
        .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        .unwrap_or("")
}

/// The checksum `lrp2p-punch answer` prints for the stream `dial` writes.
fn expected_sum() -> String {
    let mut sum = 0xcbf2_9ce4_8422_2325u64;
    for i in 0..BYTES {
        let b = i.wrapping_mul(2_654_435_761).to_be_bytes()[5];
        sum = (sum ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{sum:016x}")
}

fn list(addrs: &[(Ipv4Addr, u16)]) -> String {
    addrs.iter().map(|a| SocketAddr::from(*a).to_string()).collect::<Vec<_>>().join(",")
}

/// The dialer at `dialer` dials `answer_addrs`; the answering side at `answer` punches
/// `dialer_addrs`. Both succeed, the stream arrives whole; returns (the dialer's path, the
/// address the answering side saw, the dialer's milliseconds to the last ACK).
fn punch(
    lab: &Lab,
    dialer: &Host,
    dialer_addrs: &[(Ipv4Addr, u16)],
    answer: &Host,
    answer_addrs: &[(Ipv4Addr, u16)],
) -> (String, String, String) {
    let (dialer_key, answer_key) = (key(DIALER_SEED), key(ANSWER_SEED));
    let answering = spawn(
        lab,
        answer,
        &["answer", ANSWER_SEED, &ANSWER_PORT.to_string(), &dialer_key, &list(dialer_addrs)],
    );
    let bytes = BYTES.to_string();
    let dialing = spawn(
        lab,
        dialer,
        &["dial", DIALER_SEED, &DIALER_PORT.to_string(), &answer_key, &list(answer_addrs), &bytes],
    );
    let dialed = finish(dialing, Duration::from_secs(40));
    let answered = finish(answering, Duration::from_secs(40));
    let (d, a) = (String::from_utf8_lossy(&dialed.stdout), String::from_utf8_lossy(&answered.stdout));
    assert!(dialed.status.success(), "dial: {}", String::from_utf8_lossy(&dialed.stderr));
    assert!(answered.status.success(), "answer: {}", String::from_utf8_lossy(&answered.stderr));
    assert_eq!(field(&a, "bytes"), bytes, "{a}");
    assert_eq!(field(&a, "sum"), expected_sum(), "{a}");
    (field(&d, "path").to_owned(), field(&a, "from").to_owned(), field(&d, "ms").to_owned())
}

#[test]
fn easy_nat_to_easy_nat_goes_direct() {
    let Some(mut lab) = lab("p-easy") else { return };
    let mut nat_a = lab.nat("nata", NatKind::Easy).expect("nat");
    let mut nat_b = lab.nat("natb", NatKind::Easy).expect("nat");
    let a = lab.host_behind(&mut nat_a, "a").expect("host");
    let b = lab.host_behind(&mut nat_b, "b").expect("host");
    // What a rendezvous would report: the NAT's address (an easy NAT keeps the port), the
    // local one.
    let a_addrs = [(nat_a.public, DIALER_PORT), (a.addr, DIALER_PORT)];
    let b_addrs = [(nat_b.public, ANSWER_PORT), (b.addr, ANSWER_PORT)];
    let (path, seen, ms) = punch(&lab, &a, &a_addrs, &b, &b_addrs);
    assert_eq!(path, SocketAddr::from((nat_b.public, ANSWER_PORT)).to_string(), "direct to B's NAT");
    assert!(seen.starts_with(&nat_a.public.to_string()), "B saw {seen}");
    eprintln!("easy-easy: 16 MiB in {ms} ms, path {path}");
}

#[test]
fn a_public_dialer_reaches_a_peer_behind_a_hard_nat_by_its_punch() {
    let Some(mut lab) = lab("p-hard") else { return };
    let a = lab.public_host("a").expect("host");
    let mut nat_b = lab.nat("natb", NatKind::Hard).expect("nat");
    let b = lab.host_behind(&mut nat_b, "b").expect("host");
    let a_addrs = [(a.addr, DIALER_PORT)];
    // A hard NAT gives the way to A a port of its own: the one a rendezvous saw is no use.
    let b_addrs = [(nat_b.public, ANSWER_PORT), (b.addr, ANSWER_PORT)];
    let (path, seen, ms) = punch(&lab, &a, &a_addrs, &b, &b_addrs);
    let path: SocketAddr = path.parse().unwrap_or_else(|e| panic!("path {path:?}: {e}"));
    assert_eq!(path.ip(), nat_b.public, "direct to B's NAT");
    assert_eq!(seen, SocketAddr::from((a.addr, DIALER_PORT)).to_string());
    eprintln!("none-hard: 16 MiB in {ms} ms, path {path} (B's NAT port learnt from its punch)");
}

#[test]
fn a_dialer_behind_a_hard_nat_reaches_a_public_peer() {
    let Some(mut lab) = lab("p-hard-out") else { return };
    let mut nat_a = lab.nat("nata", NatKind::Hard).expect("nat");
    let a = lab.host_behind(&mut nat_a, "a").expect("host");
    let b = lab.public_host("b").expect("host");
    let a_addrs = [(nat_a.public, DIALER_PORT), (a.addr, DIALER_PORT)];
    let b_addrs = [(b.addr, ANSWER_PORT)];
    let (path, seen, ms) = punch(&lab, &a, &a_addrs, &b, &b_addrs);
    assert_eq!(path, SocketAddr::from((b.addr, ANSWER_PORT)).to_string());
    assert!(seen.starts_with(&nat_a.public.to_string()), "B saw {seen}");
    eprintln!("hard-none: 16 MiB in {ms} ms");
}

#[test]
fn two_hosts_behind_one_nat_meet_on_their_local_addresses() {
    let Some(mut lab) = lab("p-hairpin") else { return };
    let mut nat = lab.nat("nat", NatKind::Easy).expect("nat");
    let a = lab.host_behind(&mut nat, "a").expect("host");
    let b = lab.host_behind(&mut nat, "b").expect("host");
    let a_addrs = [(nat.public, DIALER_PORT), (a.addr, DIALER_PORT)];
    let b_addrs = [(nat.public, ANSWER_PORT), (b.addr, ANSWER_PORT)];
    let (path, seen, ms) = punch(&lab, &a, &a_addrs, &b, &b_addrs);
    assert_eq!(path, SocketAddr::from((b.addr, ANSWER_PORT)).to_string(), "the local address answered");
    assert_eq!(seen, SocketAddr::from((a.addr, DIALER_PORT)).to_string());
    eprintln!("hairpin: 16 MiB in {ms} ms, path {path}");
}
