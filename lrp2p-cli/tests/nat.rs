//! The `lrp2p` binary across NAT routers made of network namespaces (`lrp2p-netlab`): a
//! sender behind an easy or a hard NAT reaches a public receiver, which sees the NAT's public
//! address; a receiver behind a NAT is not reachable from outside (the lab's routers filter as
//! real ones do, the precondition of every hole-punching test). Then by key through a
//! rendezvous on a public host, every pair of places (easy NAT, hard NAT, public) and two hosts
//! behind one NAT: direct where a path exists (easy–easy, easy–public, hard–public,
//! public–public, local addresses behind one NAT), relayed where none does (easy–hard,
//! hard–hard). Each prints its path as it went (the sender's `path` events).
//!
//! These need root, `ip`, `nft` and `conntrack`; where a namespace cannot be made they print why
//! and pass without running (`.ci/run` installs the tools, so CI runs them). Every child
//! process is bounded in time and killed by its own handle; the lab deletes its namespaces on
//! every exit path.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::nat::{ByKey, PORT, Place, files, lab, receiver, run_in};
use lrp2p_netlab::NatKind;

/// A 16 MiB file from a host behind a NAT of `kind` to a public receiver: identical, and the
/// receiver saw the NAT's public address (the datagrams really crossed the NAT).
fn send_through(kind: NatKind, name: &str) {
    let Some(mut lab) = lab(name) else { return };
    let server = lab.public_host("server").expect("public host");
    let mut nat = lab.nat("nat", kind).expect("nat");
    let client = lab.host_behind(&mut nat, "client").expect("host behind");
    let (dir, out, data, file) = files();

    let (mut recv, key) = receiver(&lab, &server, dir.path(), &out, None);
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

    let (_recv, key) = receiver(&lab, &inside, dir.path(), &out, None);
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

/// 16 MiB from a sender at `from` to a receiver at `to` that it knows by key alone, through a
/// rendezvous on a public host (`same_nat`: both behind one NAT of the first kind). Returns
/// the receiver's `connected` address, the sender's seconds, the NATs' public addresses and
/// the sender's `sent` event (its path at the end: direct or relayed, and where).
fn by_key(
    name: &str,
    from: Place,
    to: Place,
    same_nat: bool,
) -> Option<(SocketAddr, f64, Vec<std::net::Ipv4Addr>, serde_json::Value)> {
    let peers = ByKey::new(name, from, to, same_nat)?;
    let started = std::time::Instant::now();
    let sent = peers.send(Duration::from_secs(60));
    let seconds = started.elapsed().as_secs_f64();
    assert!(sent.status.success(), "{name}: {}", String::from_utf8_lossy(&sent.stderr));
    let publics = peers.publics();
    let stdout = String::from_utf8_lossy(&sent.stdout);
    let sent_event = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "sent")
        .expect("a sent event");
    // The sender's path as it went (PROTOCOL.md §13.8): its `path` events, ms after the start.
    let paths: Vec<String> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "path")
        .map(|v| {
            format!(
                "{} at {:.1} ms",
                v["path"].as_str().unwrap_or("?"),
                v["after_ms"].as_f64().unwrap_or(f64::NAN)
            )
        })
        .collect();
    assert!(!paths.is_empty(), "{name}: the sender said which path it used");
    eprintln!(
        "{name}: {seconds:.2} s; path {}; ended {} ({}), {} changes, rtt {:.2} ms, {} retransmissions",
        paths.join(", "),
        sent_event["path"],
        sent_event["remote"],
        sent_event["path_changes"],
        sent_event["rtt_ms"].as_f64().unwrap_or(f64::NAN),
        sent_event["retransmits"]
    );
    Some((peers.received(), seconds, publics, sent_event))
}

/// The sender's connection used a direct path: it ended on one, or moved to one and back to the
/// relay once (PROTOCOL.md §13.8: the first retransmission timeout of a direct path that was
/// quiet for 200 ms falls back, and a CI machine running a dozen of these labs on two cores
/// starves a process that long; the re-probe 1 s later returns it, often after a 2 s transfer
/// is over). Known defect (issue 16 note): toward a hard NAT the validated direct path
/// sometimes carries no data, and the connection goes back and forth at the RTO's pace; the
/// bound below still catches a faster ping-pong.
fn went_direct(sent: &serde_json::Value, first_seen: &SocketAddr) {
    let changes = sent["path_changes"].as_u64().unwrap_or(u64::MAX);
    let direct = sent["path"] == "direct" || changes >= 2;
    assert!(direct && changes <= 8, "{sent}; the receiver first saw {first_seen}");
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
fn by_key_through_a_rendezvous_from_a_sender_behind_an_easy_nat_to_a_public_receiver() {
    let Some((from, secs, _, sent)) =
        by_key("rv-easyout", Place::Behind(NatKind::Easy), Place::Public, false)
    else {
        return;
    };
    went_direct(&sent, &from);
    eprintln!("easy-none by key: 16 MiB in {secs:.2} s");
}

#[test]
fn by_key_through_a_rendezvous_between_two_public_hosts_goes_direct() {
    let Some((from, secs, _, sent)) = by_key("rv-public", Place::Public, Place::Public, false) else {
        return;
    };
    went_direct(&sent, &from);
    eprintln!("none-none by key: 16 MiB in {secs:.2} s");
}

#[test]
fn by_key_hard_nat_to_hard_nat_goes_through_the_relay() {
    let Some((from, secs, nats, sent)) =
        by_key("rv-hardhard", Place::Behind(NatKind::Hard), Place::Behind(NatKind::Hard), false)
    else {
        return;
    };
    // Each NAT gives every destination its own port: no probe finds the other's mapping.
    let std::net::IpAddr::V4(ip) = from.ip() else { panic!("{from}") };
    assert!(!nats.contains(&ip), "relayed through the rendezvous: {from}");
    assert_eq!(sent["path"], "relayed", "{sent}");
    eprintln!("hard-hard by key: 16 MiB through the relay in {secs:.2} s");
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
