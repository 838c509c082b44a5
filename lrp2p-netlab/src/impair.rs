//! What a test does to the lab while traffic flows: slow a host's link, cut the direct path
//! between two public addresses and restore it, read a NAT's mappings.
//!
//! Everything here lives inside the lab's namespaces (a `tc` qdisc on a host's `eth0`, an
//! nftables table in the internet's namespace), so it goes when the [`Lab`] is dropped; nothing
//! needs undoing by hand.

use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;

use crate::{Host, Lab, Nat, run_output};

/// A cut made by [`Lab::cut`]: UDP between two public addresses is dropped until
/// [`Lab::restore`] is given it back (or the lab is dropped).
#[derive(Debug)]
#[must_use = "a cut lasts until `Lab::restore` or the lab's drop; keep it to restore it"]
pub struct Cut {
    /// The nftables table that holds the rule, in the internet's namespace.
    table: String,
}

impl Lab {
    /// Limits what `host` sends to `mbit` Mbit/s: a token bucket (`tc qdisc replace … tbf`) on
    /// the host's `eth0` inside its namespace, 50 ms of queue behind it. One direction only:
    /// what reaches the host is not slowed (shape the other host too for that). A 16 MiB file
    /// takes about 7 s at 20 Mbit/s. Needs `tc` (`iproute2`).
    pub fn shape(&self, host: &Host, mbit: u32) -> Result<(), String> {
        let rate = format!("{mbit}mbit");
        // The bucket holds a few datagrams (more than one at any rate), the queue 50 ms.
        let args = [
            "qdisc", "replace", "dev", "eth0", "root", "tbf", "rate", &rate, "burst", "32kb", "latency",
            "50ms",
        ];
        self.run(&host.namespace, "tc", &args, None)
    }

    /// Cuts the direct path between the public addresses `a` and `b` (two NAT routers' or
    /// public hosts'): the internet's bridge drops every UDP datagram from one to the other,
    /// both ways, while each still reaches every other address (a rendezvous on a public
    /// host, say). Mappings and connections already made stay; they just stop carrying
    /// anything. An nftables `bridge` table in the internet's namespace; [`Lab::restore`]
    /// deletes it.
    pub fn cut(&self, a: Ipv4Addr, b: Ipv4Addr) -> Result<Cut, String> {
        let table = format!("cut{}", self.next_cut.fetch_add(1, Ordering::Relaxed));
        let ruleset = format!(
            "table bridge {table} {{
    chain forward {{
        type filter hook forward priority filter; policy accept;
        ip saddr {a} ip daddr {b} meta l4proto udp counter drop
        ip saddr {b} ip daddr {a} meta l4proto udp counter drop
    }}
}}
"
        );
        self.run(&self.internet, "nft", &["-f", "-"], Some(&ruleset))?;
        Ok(Cut { table })
    }

    /// Lifts `cut`: datagrams between its two addresses pass again (through the mappings the
    /// NATs still hold, if they have not expired).
    pub fn restore(&self, cut: Cut) -> Result<(), String> {
        self.run(&self.internet, "nft", &["delete", "table", "bridge", &cut.table], None)
    }

    /// Datagrams `cut` has dropped so far (both ways), from its rules' counters.
    pub fn dropped(&self, cut: &Cut) -> Result<u64, String> {
        let listing = run_output(
            "ip",
            &["netns", "exec", &self.internet, "nft", "list", "table", "bridge", &cut.table],
        )?;
        // Each rule prints `… counter packets N bytes M drop`.
        let counts = listing.lines().filter_map(|line| {
            let mut words = line.split_whitespace().skip_while(|w| *w != "packets");
            words.nth(1).and_then(|n| n.parse::<u64>().ok())
        });
        Ok(counts.sum())
    }

    /// `nat`'s UDP mappings as `conntrack -L -p udp` prints them, one a line: what a test
    /// shows to tell whether a flush (see [`Lab::flush_mappings`]) changed a public port.
    pub fn mappings(&self, nat: &Nat) -> Result<String, String> {
        run_output("ip", &["netns", "exec", &nat.namespace, "conntrack", "-L", "-p", "udp"])
    }
}
