//! The `lrp2p` binary across NAT routers made of network namespaces (`lrp2p-netlab`): a
//! sender behind an easy or a hard NAT reaches a public receiver, which sees the NAT's public
//! address; a receiver behind a NAT is not reachable from outside (the lab's routers filter as
//! real ones do, the precondition of every hole-punching test).
//!
//! These need root, `ip`, `nft` and `conntrack`; where a namespace cannot be made they print why
//! and pass without running (`.ci/run` installs the tools, so CI runs them). Every child
//! process is bounded in time and killed by its own handle; the lab deletes its namespaces on
//! every exit path.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{BIN, Background, output_within};
use lrp2p_netlab::{Host, Lab, NatKind};

/// The receiver's port.
const PORT: u16 = 7000;

/// The lab, or `None` (with the reason on stderr) where namespaces cannot be made.
fn lab(name: &str) -> Option<Lab> {
    match Lab::new(name) {
        Ok(lab) => Some(lab),
        Err(why) => {
            eprintln!("skipping the NAT test `{name}`: {why}");
            None
        }
    }
}

/// `lrp2p args…` in `host`'s namespace, with a config directory of its own under `dir`.
fn lrp2p(lab: &Lab, host: &Host, dir: &Path, args: &[&str]) -> Command {
    let mut command = lab.command(host, BIN);
    command.env("LRP2P_CONFIG_DIR", dir.join(format!("config-{}", host.namespace)));
    command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    command
}

/// Runs `lrp2p args…` in `host` to completion within `limit`.
fn run_in(lab: &Lab, host: &Host, dir: &Path, args: &[&str], limit: Duration) -> Output {
    output_within(lrp2p(lab, host, dir, args).spawn().expect("spawn lrp2p"), args, limit)
}

/// Starts `lrp2p args…` in `host` in the background.
fn start_in(lab: &Lab, host: &Host, dir: &Path, args: &[&str]) -> Background {
    Background::of(lrp2p(lab, host, dir, args).spawn().expect("spawn lrp2p"))
}

/// 16 MiB that no two offsets repeat in a short period.
fn payload() -> Vec<u8> {
    (0..16u32 << 20).map(|i| i.wrapping_mul(2_654_435_761).to_be_bytes()[1]).collect()
}

/// Starts `recv` in `host` on [`PORT`]; its public key.
fn receiver(lab: &Lab, host: &Host, dir: &Path, out: &Path) -> (Background, String) {
    let key = dir.join(format!("{}.key", host.namespace));
    let keygen =
        run_in(lab, host, dir, &["keygen", "--out", key.to_str().expect("path")], Duration::from_secs(10));
    assert!(keygen.status.success(), "{}", String::from_utf8_lossy(&keygen.stderr));
    let listen = format!("0.0.0.0:{PORT}");
    let args = [
        "recv",
        "--json",
        "--yes",
        "--count",
        "1",
        "--listen",
        &listen,
        "--key",
        key.to_str().expect("path"),
        "--out",
        out.to_str().expect("path"),
    ];
    let mut recv = start_in(lab, host, dir, &args);
    let public_key = recv.event("listening")["public_key"].as_str().expect("key").to_owned();
    (recv, public_key)
}

/// A 16 MiB file from a host behind a NAT of `kind` to a public receiver: identical, and the
/// receiver saw the NAT's public address (the datagrams really crossed the NAT).
fn send_through(kind: NatKind, name: &str) {
    let Some(mut lab) = lab(name) else { return };
    let server = lab.public_host("server").expect("public host");
    let mut nat = lab.nat("nat", kind).expect("nat");
    let client = lab.host_behind(&mut nat, "client").expect("host behind");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("out dir");
    let data = payload();
    let file = dir.path().join("payload.bin");
    std::fs::write(&file, &data).expect("payload");

    let (mut recv, key) = receiver(&lab, &server, dir.path(), &out);
    let to = SocketAddr::from((server.addr, PORT)).to_string();
    let args = ["send", "--json", file.to_str().expect("path"), "--to", &to, "--peer", &key];
    let sent = run_in(&lab, &client, dir.path(), &args, Duration::from_secs(60));
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    let connected = recv.event("connected");
    let from: SocketAddr = connected["addr"].as_str().expect("addr").parse().expect("address");
    assert_eq!(from.ip(), nat.public, "the receiver saw {from}, not the NAT's public address");
    let (code, stderr) = recv.finish(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(std::fs::read(out.join("payload.bin")).expect("received") == data, "the file differs");
}

#[test]
fn a_sender_behind_an_easy_nat_reaches_a_public_receiver() {
    send_through(NatKind::Easy, "easy");
}

#[test]
fn a_sender_behind_a_hard_nat_reaches_a_public_receiver() {
    send_through(NatKind::Hard, "hard");
}

#[test]
fn a_receiver_behind_a_nat_is_not_reachable_from_outside() {
    let Some(mut lab) = lab("inbound") else { return };
    let outside = lab.public_host("outside").expect("public host");
    let mut nat = lab.nat("nat", NatKind::Easy).expect("nat");
    let inside = lab.host_behind(&mut nat, "inside").expect("host behind");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("out dir");
    let file = dir.path().join("small.bin");
    std::fs::write(&file, b"unsolicited").expect("payload");

    let (_recv, key) = receiver(&lab, &inside, dir.path(), &out);
    for to in [SocketAddr::from((nat.public, PORT)), SocketAddr::from((inside.addr, PORT))] {
        let to = to.to_string();
        let args = ["send", file.to_str().expect("path"), "--to", &to, "--peer", &key, "--timeout", "2"];
        let sent = run_in(&lab, &outside, dir.path(), &args, Duration::from_secs(20));
        let stderr = String::from_utf8_lossy(&sent.stderr);
        assert_eq!(sent.status.code(), Some(6), "sending to {to} from outside: {stderr}");
        assert!(stderr.contains("no answer"), "{stderr}");
    }
    assert!(std::fs::read_dir(&out).expect("out").next().is_none(), "nothing may arrive");
}

/// `lrp2p rendezvous` on a public host: its `ADDR=KEY`.
fn rendezvous(lab: &Lab, host: &Host, dir: &Path) -> (Background, String) {
    let listen = format!("0.0.0.0:{RENDEZVOUS_PORT}");
    let mut service =
        start_in(lab, host, dir, &["rendezvous", "--json", "--listen", &listen, "--stats-secs", "1"]);
    let key = service.event("listening")["public_key"].as_str().expect("key").to_owned();
    (service, format!("{}={key}", SocketAddr::from((host.addr, RENDEZVOUS_PORT))))
}

/// The rendezvous' port.
const RENDEZVOUS_PORT: u16 = 7400;

/// Where the receiver and the sender sit.
enum Place {
    Public,
    Behind(NatKind),
}

/// 16 MiB from a sender at `from` to a receiver at `to` that it knows by key alone, through a
/// rendezvous on a public host (`same_nat`: both behind one NAT of the first kind). Returns
/// the address the sender's connection used (from its `sent` line is not printed: the
/// receiver's `connected` address) and the sender's seconds.
fn by_key(
    name: &str,
    from: Place,
    to: Place,
    same_nat: bool,
) -> Option<(SocketAddr, f64, Vec<std::net::Ipv4Addr>, serde_json::Value)> {
    let mut lab = lab(name)?;
    let service_host = lab.public_host("rv").expect("public host");
    let mut nats = Vec::new();
    let place = |lab: &mut Lab, place: &Place, name: &str, nats: &mut Vec<lrp2p_netlab::Nat>| match place {
        Place::Public => lab.public_host(name).expect("public host"),
        Place::Behind(kind) => {
            if !same_nat || nats.is_empty() {
                nats.push(lab.nat(&format!("n{name}"), *kind).expect("nat"));
            }
            let nat = nats.last_mut().expect("nat");
            lab.host_behind(nat, name).expect("host behind")
        }
    };
    let receiver_host = place(&mut lab, &to, "r", &mut nats);
    let sender_host = place(&mut lab, &from, "s", &mut nats);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("out dir");
    let data = payload();
    let file = dir.path().join("payload.bin");
    std::fs::write(&file, &data).expect("payload");
    let (_service, at) = rendezvous(&lab, &service_host, dir.path());

    let key = dir.path().join("recv.key");
    let keygen = run_in(
        &lab,
        &receiver_host,
        dir.path(),
        &["keygen", "--out", key.to_str().expect("path")],
        Duration::from_secs(10),
    );
    assert!(keygen.status.success(), "{}", String::from_utf8_lossy(&keygen.stderr));
    let listen = format!("0.0.0.0:{PORT}");
    let args = [
        "recv",
        "--json",
        "--yes",
        "--count",
        "1",
        "--listen",
        &listen,
        "--key",
        key.to_str().expect("path"),
        "--out",
        out.to_str().expect("path"),
        "--rendezvous",
        &at,
    ];
    let mut recv = start_in(&lab, &receiver_host, dir.path(), &args);
    let recv_key = recv.event("listening")["public_key"].as_str().expect("key").to_owned();
    let args = ["send", "--json", file.to_str().expect("path"), "--peer", &recv_key, "--rendezvous", &at];
    let started = std::time::Instant::now();
    let sent = run_in(&lab, &sender_host, dir.path(), &args, Duration::from_secs(60));
    let seconds = started.elapsed().as_secs_f64();
    assert!(sent.status.success(), "{name}: {}", String::from_utf8_lossy(&sent.stderr));
    let from: SocketAddr = recv.event("connected")["addr"].as_str().expect("addr").parse().expect("address");
    let (code, stderr) = recv.finish(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(std::fs::read(out.join("payload.bin")).expect("received") == data, "the file differs");
    let publics = nats.iter().map(|n| n.public).collect();
    // The sender's `sent` event: its path at the end (direct or relayed, and where).
    let stdout = String::from_utf8_lossy(&sent.stdout);
    let sent_event = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "sent")
        .expect("a sent event");
    eprintln!("{name}: {seconds:.2} s, {sent_event}");
    Some((from, seconds, publics, sent_event))
}

/// The sender's connection ended on a direct path, having moved there from the relay at most
/// once (no flapping back and forth under load).
fn went_direct(sent: &serde_json::Value, first_seen: &SocketAddr) {
    let changes = sent["path_changes"].as_u64().unwrap_or(u64::MAX);
    assert!(sent["path"] == "direct" && changes <= 1, "{sent}; the receiver first saw {first_seen}");
}

#[test]
fn by_key_through_a_rendezvous_easy_nat_to_easy_nat_goes_direct() {
    let Some((from, secs, nats, sent)) =
        by_key("rv-easy", Place::Behind(NatKind::Easy), Place::Behind(NatKind::Easy), false)
    else {
        return;
    };
    // The sender ends on the receiver's NAT (the first NAT made), whether the first datagrams
    // went direct or through the relay (PROTOCOL.md §13.8: whichever answers first).
    let remote: SocketAddr = sent["remote"].as_str().expect("remote").parse().expect("address");
    went_direct(&sent, &from);
    if sent["path"] == "direct" {
        assert_eq!(remote.ip(), nats[0], "direct to the receiver's NAT: {sent}");
    }
    eprintln!("easy-easy by key: 16 MiB in {secs:.2} s");
}

#[test]
fn by_key_through_a_rendezvous_to_a_receiver_behind_a_hard_nat() {
    let Some((from, secs, _, sent)) = by_key("rv-hard", Place::Public, Place::Behind(NatKind::Hard), false)
    else {
        return;
    };
    assert!(from.ip().is_ipv4());
    went_direct(&sent, &from);
    eprintln!("none-hard by key: 16 MiB in {secs:.2} s");
}

#[test]
fn by_key_through_a_rendezvous_from_a_sender_behind_a_hard_nat() {
    let Some((from, secs, _, sent)) =
        by_key("rv-hardout", Place::Behind(NatKind::Hard), Place::Public, false)
    else {
        return;
    };
    went_direct(&sent, &from);
    eprintln!("hard-none by key: 16 MiB in {secs:.2} s");
}

#[test]
fn by_key_through_a_rendezvous_behind_one_nat_meets_on_local_addresses() {
    let Some((from, secs, _, sent)) =
        by_key("rv-hairpin", Place::Behind(NatKind::Easy), Place::Behind(NatKind::Easy), true)
    else {
        return;
    };
    // The sender's connection ends on the receiver's local address (it may start on the relay
    // and move there once a probe of that address is answered, PROTOCOL.md §13.8).
    let remote = sent["remote"].as_str().unwrap_or_default().to_owned();
    went_direct(&sent, &from);
    if sent["path"] == "direct" {
        assert!(remote.starts_with("10."), "the local address: {remote}");
    }
    eprintln!("hairpin by key: 16 MiB in {secs:.2} s");
}

/// Easy NAT to hard NAT has no direct path (the easy side filters by port, the hard side's
/// port toward it is unknown): the whole transfer runs through the rendezvous' relay
/// (PROTOCOL.md §13.8), and the receiver sees it come from the rendezvous.
#[test]
fn by_key_easy_nat_to_hard_nat_goes_through_the_relay() {
    let Some((from, secs, nats, sent)) =
        by_key("rv-easyhard", Place::Behind(NatKind::Easy), Place::Behind(NatKind::Hard), false)
    else {
        return;
    };
    // Relayed: the receiver's connection goes to the rendezvous host, not to a NAT.
    let std::net::IpAddr::V4(ip) = from.ip() else { panic!("{from}") };
    assert!(
        !nats.contains(&ip) && ip.octets()[..3] == [198, 51, 100],
        "relayed through the rendezvous: {from}"
    );
    assert_eq!(sent["path"], "relayed", "{sent}");
    eprintln!("easy-hard by key: 16 MiB through the relay in {secs:.2} s");
}
