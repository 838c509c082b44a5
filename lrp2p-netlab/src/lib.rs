//! A small internet inside Linux network namespaces, for tests of peers behind NATs.
//!
//! A [`Lab`] owns every namespace it creates and deletes them when dropped, on every exit path
//! of a test (a panic included), so traffic never leaves the namespaces the test made. The
//! shape, as the NAT-traversal tests need it:
//!
//! ```text
//!            public hosts 198.51.100.k                 NAT routers' WAN 198.51.100.k
//!                   |                                        |
//!   [internet: bridge 198.51.100.254/24] ---------------------+
//!                                                            | masquerade (easy or hard)
//!                                              hosts behind 10.n.0.k/24, gateway 10.n.0.1
//! ```
//!
//! NAT kinds are what Linux nftables gives ([`NatKind`]): `masquerade` keeps a free source port
//! (endpoint-independent mapping) and, with the forward filter below, admits only replies from
//! the address and port a host sent to (a port-restricted NAT); `masquerade random` maps each
//! new destination to a new port (symmetric, "hard"). Every router drops unsolicited datagrams
//! on its WAN side: one answered by the router itself would make Linux pick a new external
//! port for a later mapping. Masquerade does not hairpin.
//!
//! While traffic flows a test can slow a host's link ([`Lab::shape`]), cut the direct path
//! between two public addresses and restore it ([`Lab::cut`], [`Lab::restore`]), and forget or
//! read a NAT's mappings ([`Lab::flush_mappings`], [`Lab::mappings`]); see the `impair` module.
//!
//! Creating namespaces needs root and `ip`, `nft` and `conntrack` (`.ci/run` installs
//! `iproute2`, `nftables` and `conntrack`; [`Lab::shape`] needs `tc` too, part of `iproute2`).
//! [`Lab::new`] says why it cannot, so a test can skip with a clear message where namespaces
//! are unavailable.

mod impair;
mod nat;

use std::io;
use std::net::Ipv4Addr;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

pub use impair::Cut;
pub use nat::NatKind;

/// The internet's prefix: documentation addresses (RFC 5737), never routed outside.
const PUBLIC_PREFIX: [u8; 3] = [198, 51, 100];

/// The internet's own address on its bridge.
const INTERNET_ADDR: u8 = 254;

/// Labs made by this process, for unique namespace names.
static LABS: AtomicU32 = AtomicU32::new(0);

/// A host: a namespace with one address.
#[derive(Clone, Debug)]
pub struct Host {
    /// The namespace's name.
    pub namespace: String,
    /// The host's address: public, or private behind its NAT.
    pub addr: Ipv4Addr,
}

/// A NAT router: a namespace between the internet and its private subnet.
#[derive(Clone, Debug)]
pub struct Nat {
    /// The router's namespace.
    pub namespace: String,
    /// The router's public (WAN) address: what the internet sees of the hosts behind it.
    pub public: Ipv4Addr,
    /// Its kind.
    pub kind: NatKind,
    /// The private subnet's third octet (10.n.0.0/24).
    subnet: u8,
    /// Hosts behind it so far.
    hosts: u8,
}

/// The namespaces of one test, deleted on drop.
#[derive(Debug)]
pub struct Lab {
    /// Prefix of every namespace name of this lab.
    prefix: String,
    /// The internet's namespace.
    internet: String,
    /// Every namespace created, to delete on drop.
    namespaces: Vec<String>,
    /// Next public host number on the bridge.
    next_public: u8,
    /// Next private subnet.
    next_subnet: u8,
    /// Cuts made so far ([`Lab::cut`]), for unique table names.
    next_cut: AtomicU32,
}

impl Lab {
    /// Creates the internet namespace, or says why namespaces cannot be made here (not root,
    /// a tool missing): the caller skips with that message.
    pub fn new(name: &str) -> Result<Lab, String> {
        for tool in ["ip", "nft", "conntrack"] {
            let found = Command::new(tool).arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status();
            if found.is_err() {
                return Err(format!(
                    "`{tool}` is not installed (apt-get install iproute2 nftables conntrack)"
                ));
            }
        }
        let n = LABS.fetch_add(1, Ordering::Relaxed);
        // Interface and namespace names stay short; the pid keeps parallel test binaries apart.
        let prefix = format!("l{}{}-{}", std::process::id(), n, short(name));
        let mut lab = Lab {
            internet: format!("{prefix}-inet"),
            prefix,
            namespaces: Vec::new(),
            next_public: 1,
            next_subnet: 1,
            next_cut: AtomicU32::new(0),
        };
        let internet = lab.internet.clone();
        lab.namespace(&internet).map_err(|e| format!("cannot create a network namespace: {e}"))?;
        lab.ip(&internet, &["link", "add", "br0", "type", "bridge"])?;
        lab.ip(&internet, &["addr", "add", &cidr(public(INTERNET_ADDR), 24), "dev", "br0"])?;
        lab.ip(&internet, &["link", "set", "br0", "up"])?;
        Ok(lab)
    }

    /// A host with a public address on the internet.
    pub fn public_host(&mut self, name: &str) -> Result<Host, String> {
        let namespace = format!("{}-{}", self.prefix, short(name));
        self.namespace(&namespace)?;
        let addr = self.attach(&namespace)?;
        Ok(Host { namespace, addr })
    }

    /// A NAT router of `kind` on the internet, with an empty private subnet.
    pub fn nat(&mut self, name: &str, kind: NatKind) -> Result<Nat, String> {
        let namespace = format!("{}-{}", self.prefix, short(name));
        self.namespace(&namespace)?;
        let public = self.attach(&namespace)?;
        let subnet = self.next_subnet;
        self.next_subnet += 1;
        self.ip(&namespace, &["link", "add", "lan", "type", "bridge"])?;
        self.ip(&namespace, &["addr", "add", &cidr(private(subnet, 1), 24), "dev", "lan"])?;
        self.ip(&namespace, &["link", "set", "lan", "up"])?;
        self.sysctl(&namespace, "net.ipv4.ip_forward=1")?;
        self.run(&namespace, "nft", &["-f", "-"], Some(&nat::ruleset(kind)))?;
        Ok(Nat { namespace, public, kind, subnet, hosts: 1 })
    }

    /// A host on `nat`'s private subnet, its default route through the router.
    pub fn host_behind(&mut self, nat: &mut Nat, name: &str) -> Result<Host, String> {
        let namespace = format!("{}-{}", self.prefix, short(name));
        self.namespace(&namespace)?;
        nat.hosts += 1;
        let addr = private(nat.subnet, nat.hosts);
        self.veth(&nat.namespace, "lan", &namespace, &cidr(addr, 24))?;
        self.ip(&namespace, &["route", "add", "default", "via", &private(nat.subnet, 1).to_string()])?;
        Ok(Host { namespace, addr })
    }

    /// A command that runs `program` inside `host`'s namespace.
    pub fn command(&self, host: &Host, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &host.namespace, program]);
        command
    }

    /// Forgets every mapping of `nat` (`conntrack -F`): the next datagram out gets a new one.
    pub fn flush_mappings(&self, nat: &Nat) -> Result<(), String> {
        self.run(&nat.namespace, "conntrack", &["-F"], None)
    }

    /// A new namespace with its loopback up, deleted with the lab.
    fn namespace(&mut self, name: &str) -> Result<(), String> {
        run_tool("ip", &["netns", "add", name], None)?;
        self.namespaces.push(name.to_owned());
        self.ip(name, &["link", "set", "lo", "up"])?;
        // Bridged frames must not pass through the netfilter of an enclosing bridge hook.
        for key in ["net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables"] {
            let _ = self.sysctl(name, &format!("{key}=0"));
        }
        Ok(())
    }

    /// Connects `namespace` to the internet's bridge; returns its public address.
    fn attach(&mut self, namespace: &str) -> Result<Ipv4Addr, String> {
        let addr = public(self.next_public);
        self.next_public += 1;
        let internet = self.internet.clone();
        self.veth(&internet, "br0", namespace, &cidr(addr, 24))?;
        self.ip(namespace, &["route", "add", "default", "via", &public(INTERNET_ADDR).to_string()])?;
        Ok(addr)
    }

    /// A veth pair: one end enslaved to `bridge` in `bridge_ns`, the other `eth0` in `namespace`
    /// with `address`. Both ends are created inside their namespaces, so no name is taken in
    /// the host's own namespace.
    fn veth(&self, bridge_ns: &str, bridge: &str, namespace: &str, address: &str) -> Result<(), String> {
        let port = format!("p{}", self.namespaces.len());
        self.ip(
            bridge_ns,
            &["link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", namespace],
        )?;
        self.ip(bridge_ns, &["link", "set", &port, "master", bridge, "up"])?;
        self.ip(namespace, &["addr", "add", address, "dev", "eth0"])?;
        self.ip(namespace, &["link", "set", "eth0", "up"])?;
        Ok(())
    }

    fn ip(&self, namespace: &str, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["-n", namespace];
        all.extend_from_slice(args);
        run_tool("ip", &all, None)
    }

    fn sysctl(&self, namespace: &str, setting: &str) -> Result<(), String> {
        self.run(namespace, "sysctl", &["-q", "-w", setting], None)
    }

    fn run(&self, namespace: &str, program: &str, args: &[&str], stdin: Option<&str>) -> Result<(), String> {
        let mut all = vec!["netns", "exec", namespace, program];
        all.extend_from_slice(args);
        run_tool("ip", &all, stdin)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for namespace in self.namespaces.iter().rev() {
            let _ = run_tool("ip", &["netns", "del", namespace], None);
        }
    }
}

/// Runs a set-up command; its stderr is the error.
fn run_tool(program: &str, args: &[&str], stdin: Option<&str>) -> Result<(), String> {
    let output = spawn(program, args, stdin).map_err(|e| format!("{program}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(format!("{program} {}: {}", args.join(" "), stderr.trim()))
    }
}

/// Runs a command and returns its standard output; its stderr is the error.
fn run_output(program: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(format!("{program} {}: {}", args.join(" "), stderr.trim()))
    }
}

fn spawn(program: &str, args: &[&str], stdin: Option<&str>) -> io::Result<Output> {
    let mut command = Command::new(program);
    command.args(args).stdout(Stdio::null()).stderr(Stdio::piped());
    let Some(text) = stdin else { return command.stdin(Stdio::null()).output() };
    let mut child = command.stdin(Stdio::piped()).spawn()?;
    if let Some(mut input) = child.stdin.take() {
        io::Write::write_all(&mut input, text.as_bytes())?;
    }
    child.wait_with_output()
}

fn public(host: u8) -> Ipv4Addr {
    Ipv4Addr::new(PUBLIC_PREFIX[0], PUBLIC_PREFIX[1], PUBLIC_PREFIX[2], host)
}

fn private(subnet: u8, host: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, subnet, 0, host)
}

fn cidr(addr: Ipv4Addr, bits: u8) -> String {
    format!("{addr}/{bits}")
}

/// The first characters of a name, safe in a namespace name.
fn short(name: &str) -> String {
    name.chars().filter(char::is_ascii_alphanumeric).take(8).collect()
}
