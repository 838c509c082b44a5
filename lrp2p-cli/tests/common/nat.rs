//! What the tests across the lab's NAT routers (`nat.rs`, `nat_midway.rs`) share: a lab or the
//! reason to skip, `lrp2p` run inside a host's namespace with a config directory of its own, a
//! 16 MiB payload, a receiver and a rendezvous on lab hosts, and [`ByKey`]: a sender and a
//! receiver placed as a test asks, the receiver registered with a rendezvous on a public host,
//! ready for `send --peer KEY --rendezvous ADDR=KEY`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use lrp2p_netlab::{Host, Lab, Nat, NatKind};

use super::{BIN, Background, output_within};

/// The receiver's port.
pub(crate) const PORT: u16 = 7000;

/// The rendezvous' port.
pub(crate) const RENDEZVOUS_PORT: u16 = 7400;

/// How long a background `lrp2p` may take to print a line a test waits for.
const EVENT_LIMIT: Duration = Duration::from_secs(30);

/// The lab, or `None` (with the reason on stderr) where namespaces cannot be made.
pub(crate) fn lab(name: &str) -> Option<Lab> {
    match Lab::new(name) {
        Ok(lab) => Some(lab),
        Err(why) => {
            eprintln!("skipping the NAT test `{name}`: {why}");
            None
        }
    }
}

/// `lrp2p args…` in `host`'s namespace, with a config directory of its own under `dir`.
pub(crate) fn lrp2p(lab: &Lab, host: &Host, dir: &Path, args: &[&str]) -> Command {
    let mut command = lab.command(host, BIN);
    command.env("LRP2P_CONFIG_DIR", dir.join(format!("config-{}", host.namespace)));
    command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    command
}

/// Runs `lrp2p args…` in `host` to completion within `limit`.
pub(crate) fn run_in(lab: &Lab, host: &Host, dir: &Path, args: &[&str], limit: Duration) -> Output {
    output_within(lrp2p(lab, host, dir, args).spawn().expect("spawn lrp2p"), args, limit)
}

/// Starts `lrp2p args…` in `host` in the background.
pub(crate) fn start_in(lab: &Lab, host: &Host, dir: &Path, args: &[&str]) -> Background {
    Background::of(lrp2p(lab, host, dir, args).spawn().expect("spawn lrp2p"))
}

/// 16 MiB that no two offsets repeat in a short period.
pub(crate) fn payload() -> Vec<u8> {
    (0..16u32 << 20).map(|i| i.wrapping_mul(2_654_435_761).to_be_bytes()[1]).collect()
}

/// A temporary directory with an empty `out/` and the 16 MiB [`payload`] in `payload.bin`:
/// the directory, `out`, the payload and its file.
pub(crate) fn files() -> (tempfile::TempDir, PathBuf, Vec<u8>, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("out dir");
    let data = payload();
    let file = dir.path().join("payload.bin");
    std::fs::write(&file, &data).expect("payload");
    (dir, out, data, file)
}

/// Starts `recv --count 1` in `host` on [`PORT`] with a new key, saving into `out`, registered
/// with the rendezvous `ADDR=KEY` if given; it and its public key.
pub(crate) fn receiver(
    lab: &Lab,
    host: &Host,
    dir: &Path,
    out: &Path,
    rendezvous: Option<&str>,
) -> (Background, String) {
    let key = dir.join(format!("{}.key", host.namespace));
    let keygen =
        run_in(lab, host, dir, &["keygen", "--out", key.to_str().expect("path")], Duration::from_secs(10));
    assert!(keygen.status.success(), "{}", String::from_utf8_lossy(&keygen.stderr));
    let listen = format!("0.0.0.0:{PORT}");
    let mut args = vec![
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
    if let Some(at) = rendezvous {
        args.extend(["--rendezvous", at]);
    }
    let mut recv = start_in(lab, host, dir, &args);
    let public_key =
        recv.event_within("listening", EVENT_LIMIT)["public_key"].as_str().expect("key").to_owned();
    (recv, public_key)
}

/// `lrp2p rendezvous` on a public host: it and its `ADDR=KEY`.
pub(crate) fn rendezvous(lab: &Lab, host: &Host, dir: &Path) -> (Background, String) {
    let listen = format!("0.0.0.0:{RENDEZVOUS_PORT}");
    let mut service =
        start_in(lab, host, dir, &["rendezvous", "--json", "--listen", &listen, "--stats-secs", "1"]);
    let key = service.event_within("listening", EVENT_LIMIT)["public_key"].as_str().expect("key").to_owned();
    (service, format!("{}={key}", SocketAddr::from((host.addr, RENDEZVOUS_PORT))))
}

/// Where the receiver and the sender sit.
pub(crate) enum Place {
    Public,
    Behind(NatKind),
}

/// A sender and a receiver that it knows by key alone, and a rendezvous on a public host with
/// which the receiver (`recv --count 1`) has registered; the sender holds a 16 MiB file.
///
/// Fields drop in order: the processes are killed before the lab deletes the namespaces.
pub(crate) struct ByKey {
    /// The receiver, registered; `listening` read.
    pub(crate) recv: Background,
    /// The rendezvous; `listening` read.
    pub(crate) rendezvous: Background,
    /// The receiver's public key.
    pub(crate) recv_key: String,
    /// The rendezvous' `ADDR=KEY`.
    pub(crate) at: String,
    /// What the file holds.
    pub(crate) data: Vec<u8>,
    /// The file to send.
    pub(crate) file: PathBuf,
    /// The receiver's output directory.
    pub(crate) out: PathBuf,
    /// The sender's host.
    pub(crate) sender: Host,
    /// The receiver's host.
    pub(crate) receiver: Host,
    /// The NATs, in the order made: the receiver's first (unless it is public).
    pub(crate) nats: Vec<Nat>,
    /// Files and config directories.
    pub(crate) dir: tempfile::TempDir,
    /// The lab; dropped last.
    pub(crate) lab: Lab,
}

impl ByKey {
    /// The sender at `from` and the receiver at `to` in a new lab (`same_nat`: both behind one
    /// NAT of the first kind), or `None` where namespaces cannot be made.
    pub(crate) fn new(name: &str, from: Place, to: Place, same_nat: bool) -> Option<ByKey> {
        let mut lab = lab(name)?;
        let service_host = lab.public_host("rv").expect("public host");
        let mut nats = Vec::new();
        let place = |lab: &mut Lab, place: &Place, name: &str, nats: &mut Vec<Nat>| match place {
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
        let sender = place(&mut lab, &from, "s", &mut nats);
        let (dir, out, data, file) = files();
        let (rendezvous, at) = rendezvous(&lab, &service_host, dir.path());
        let (recv, recv_key) = receiver(&lab, &receiver_host, dir.path(), &out, Some(&at));
        Some(ByKey {
            recv,
            rendezvous,
            recv_key,
            at,
            data,
            file,
            out,
            sender,
            receiver: receiver_host,
            nats,
            dir,
            lab,
        })
    }

    /// Runs `send --json FILE --peer KEY --rendezvous ADDR=KEY` to completion within `limit`.
    pub(crate) fn send(&self, limit: Duration) -> Output {
        self.send_with(&[], limit)
    }

    /// [`send`](ByKey::send) with `extra` flags.
    pub(crate) fn send_with(&self, extra: &[&str], limit: Duration) -> Output {
        run_in(&self.lab, &self.sender, self.dir.path(), &self.send_args(extra), limit)
    }

    /// Starts [`send`](ByKey::send) in the background.
    pub(crate) fn start_send(&self) -> Background {
        start_in(&self.lab, &self.sender, self.dir.path(), &self.send_args(&[]))
    }

    fn send_args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let file = self.file.to_str().expect("path");
        let args = ["send", "--json", file, "--peer", &self.recv_key, "--rendezvous", &self.at];
        [&args[..], extra].concat()
    }

    /// The NATs' public addresses, in the order made.
    pub(crate) fn publics(&self) -> Vec<Ipv4Addr> {
        self.nats.iter().map(|n| n.public).collect()
    }

    /// Bytes in the receiver's output directory (a file being received included).
    pub(crate) fn on_disk(&self) -> u64 {
        let entries = std::fs::read_dir(&self.out).expect("out dir");
        entries.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum()
    }

    /// After a successful send: the address the receiver's `connected` line says the sender
    /// came from. The receiver exits 0 and the file arrived identical.
    pub(crate) fn received(mut self) -> SocketAddr {
        let connected = self.recv.event_within("connected", EVENT_LIMIT);
        let from = connected["addr"].as_str().expect("addr").parse().expect("address");
        let (code, stderr) = self.recv.finish(Duration::from_secs(30));
        assert_eq!(code, Some(0), "{stderr}");
        let file = std::fs::read(self.out.join("payload.bin")).expect("received");
        assert!(file == self.data, "the file differs");
        from
    }
}
