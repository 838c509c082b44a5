//! `lrp2p rendezvous`, `recv --rendezvous` and `send --peer KEY --rendezvous` on loopback
//! (PROTOCOL.md §13.7): a sender that knows only the receiver's key and the rendezvous finds
//! it; a key nobody registered is refused with a clear message. Through real NATs:
//! `tests/nat.rs`.

mod common;

use std::time::Duration;

use common::{Background, keygen, run, stderr};

/// A rendezvous on loopback: the process and its `ADDR=KEY`.
fn rendezvous() -> (Background, String) {
    let mut service =
        Background::start(&["rendezvous", "--json", "--listen", "127.0.0.1:0", "--stats-secs", "1"]);
    let ready = service.event("listening");
    let at =
        format!("{}={}", ready["addr"].as_str().expect("addr"), ready["public_key"].as_str().expect("key"));
    (service, at)
}

/// `recv --count 1 --rendezvous AT` on loopback with a new key, saving into `dir/out`: it, its
/// public key and the output directory.
fn receiver(dir: &std::path::Path, at: &str) -> (Background, String, std::path::PathBuf) {
    let key = dir.join("recv.key");
    let recv_key = keygen(&key);
    let out = dir.join("out");
    std::fs::create_dir(&out).expect("out");
    let key = key.to_str().expect("path");
    let out_arg = out.to_str().expect("path");
    let args = ["recv", "--json", "--yes", "--count", "1", "--listen", "127.0.0.1:0"];
    let recv =
        Background::start(&[&args[..], &["--key", key, "--out", out_arg, "--rendezvous", at]].concat());
    (recv, recv_key, out)
}

#[test]
fn a_sender_finds_a_receiver_by_key_through_the_rendezvous() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut service, at) = rendezvous();
    let (mut recv, recv_key, out) = receiver(dir.path(), &at);
    let registered = recv.event("registered");
    assert!(registered["observed"].as_str().expect("observed").starts_with("127.0.0.1:"), "{registered}");
    let file = dir.path().join("f.bin");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &data).expect("write");
    let sent = run(&["send", file.to_str().expect("path"), "--peer", &recv_key, "--rendezvous", &at]);
    assert!(sent.status.success(), "{}", stderr(&sent));
    assert!(stderr(&sent).contains("registered with the rendezvous"), "{}", stderr(&sent));
    let (code, err) = recv.finish(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(std::fs::read(out.join("f.bin")).expect("received"), data);
    // A line a second: the introduction shows in one of the next few.
    let introduced = (0..20).any(|_| service.event("stats")["introductions"] == 1);
    assert!(introduced, "the rendezvous never counted the introduction");
}

#[test]
fn a_key_nobody_registered_is_refused_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_service, at) = rendezvous();
    let stranger = keygen(&dir.path().join("stranger.key"));
    let file = dir.path().join("f.bin");
    std::fs::write(&file, b"hello").expect("write");
    let sent = run(&["send", file.to_str().expect("path"), "--peer", &stranger, "--rendezvous", &at]);
    assert_eq!(sent.status.code(), Some(5), "{}", stderr(&sent));
    assert!(stderr(&sent).contains("does not know that key"), "{}", stderr(&sent));
}

#[test]
fn an_unreachable_rendezvous_fails_in_bounded_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let someone = keygen(&dir.path().join("k.key"));
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let at = format!("{}={someone}", silent.local_addr().expect("addr"));
    let file = dir.path().join("f.bin");
    std::fs::write(&file, b"hello").expect("write");
    let started = std::time::Instant::now();
    let sent = run(&[
        "send",
        file.to_str().expect("path"),
        "--peer",
        &someone,
        "--rendezvous",
        &at,
        "--timeout",
        "2",
    ]);
    assert_eq!(sent.status.code(), Some(6), "{}", stderr(&sent));
    assert!(stderr(&sent).contains("rendezvous"), "{}", stderr(&sent));
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
}

#[test]
fn send_needs_an_address_or_a_rendezvous_with_a_key() {
    let out = run(&["send", "x", "--rendezvous", "127.0.0.1:1=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--peer"), "{}", stderr(&out));
    let out = run(&["send", "x"]);
    assert!(stderr(&out).contains("--to"), "{}", stderr(&out));
}

#[test]
fn a_receiver_registers_again_when_the_rendezvous_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let service_key = dir.path().join("rv.key");
    keygen(&service_key);
    let start_service = |listen: &str| {
        let key = service_key.to_str().expect("path");
        let mut service = Background::start(&["rendezvous", "--json", "--listen", listen, "--key", key]);
        let ready = service.event("listening");
        let at = format!(
            "{}={}",
            ready["addr"].as_str().expect("addr"),
            ready["public_key"].as_str().expect("key")
        );
        (service, at)
    };
    let (service, at) = start_service("127.0.0.1:0");
    let listen = at.split('=').next().expect("addr").to_owned();
    let (mut recv, recv_key, out) = receiver(dir.path(), &at);
    recv.event("registered");
    // The rendezvous stops (Ctrl-C: it closes its links) and comes back on the same address
    // with the same key: the receiver's registration is gone with it.
    service.interrupt();
    let (code, err) = service.finish(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{err}");
    let (_service, again_at) = start_service(&listen);
    assert_eq!(again_at, at);
    let again = recv.event_within("registered", Duration::from_secs(20));
    assert_eq!(again["again"], true, "{again}");
    // A sender that knows only the key finds the receiver through the new rendezvous.
    let file = dir.path().join("f.bin");
    std::fs::write(&file, b"after the restart").expect("write");
    let sent = run(&["send", file.to_str().expect("path"), "--peer", &recv_key, "--rendezvous", &at]);
    assert!(sent.status.success(), "{}", stderr(&sent));
    let (code, err) = recv.finish(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(std::fs::read(out.join("f.bin")).expect("received"), b"after the restart");
}
