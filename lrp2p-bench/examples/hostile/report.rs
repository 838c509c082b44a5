//! One row per attack, the targets each is held to, and the markdown table with its notes.

use std::fmt::Write as _;
use std::time::Duration;

use crate::attack::Outcome;
use crate::legit::Transfer;

/// The targets (issue 11), printed under the table.
pub(crate) const TARGETS: &[&str] = &[
    "connect: a legitimate peer connects within 1 s during a sustained IK flood at 10k/s (ik-flood) and during a replay fan-out (replay)",
    "2×: its 10 MB test finishes within 2× its unattacked time, during the attack and right after it",
    "RSS: server peak resident set ≤ 64 MB during the attack",
    "amp: amplification ≤ 3× for every unvalidated address (ik-flood, replay: sources that never answer)",
];

/// Connect within this long during `ik-flood` and `replay`.
const CONNECT_TARGET: Duration = Duration::from_secs(1);

/// Peak resident set target, bytes.
const RSS_TARGET: f64 = 64e6;

/// Amplification target for unvalidated addresses.
const AMP_TARGET: f64 = 3.0;

/// What was measured of the server during one attack.
#[derive(Clone, Debug, Default)]
pub(crate) struct ServerFigures {
    /// Peak resident set during the attack, kB.
    pub(crate) rss_peak_kb: u64,
    /// How the peak was taken.
    pub(crate) rss_how: &'static str,
    /// Resident set after the unattacked test, before the attack, kB.
    pub(crate) rss_before_kb: u64,
    /// CPU seconds (user + system) from the start of the attack to its end.
    pub(crate) cpu_secs: f64,
    /// Datagrams the kernel dropped on the server's socket during the attack.
    pub(crate) drops: Option<u64>,
    /// Endpoint counters from `--stats`, if the server has it.
    pub(crate) counters: Option<Vec<(String, u64)>>,
    /// Tests the server reported done over its life (unattacked, during, after).
    pub(crate) tests_done: usize,
}

/// One attack's row.
#[derive(Debug)]
pub(crate) struct Row {
    /// The attack's name (`--only`).
    pub(crate) name: &'static str,
    /// `Err`: not run (why) — a failure, or a placeholder not yet implemented.
    pub(crate) ran: Result<(), String>,
    /// The target rate, datagrams per second (`None` where the rate is one of connections
    /// opened, not of datagrams: `xx-flood`, `silent`).
    pub(crate) target_rate: Option<f64>,
    /// What the attack did.
    pub(crate) outcome: Outcome,
    /// The server's figures.
    pub(crate) server: ServerFigures,
    /// The legitimate peer unattacked, during the attack and right after it.
    pub(crate) base: Transfer,
    /// During.
    pub(crate) during: Transfer,
    /// Right after.
    pub(crate) after: Transfer,
    /// Whether the test during the attack ended after the attack did.
    pub(crate) during_outlived: bool,
    /// Whether the amplification target applies (unvalidated sources).
    pub(crate) unvalidated: bool,
    /// Whether the connect target applies.
    pub(crate) connect_target: bool,
}

impl Row {
    /// A row for an attack that did not run.
    pub(crate) fn not_run(name: &'static str, why: String) -> Row {
        Row {
            name,
            ran: Err(why),
            target_rate: None,
            outcome: Outcome::default(),
            server: ServerFigures::default(),
            base: Transfer::default(),
            during: Transfer::default(),
            after: Transfer::default(),
            during_outlived: false,
            unvalidated: false,
            connect_target: false,
        }
    }

    /// Which targets this row meets: `✓`/`✗` per target that applies.
    fn verdict(&self) -> String {
        let mark = |ok: bool| if ok { "✓" } else { "✗" };
        let mut v = Vec::new();
        if self.connect_target {
            v.push(format!("connect {}", mark(self.during.connect.is_some_and(|c| c <= CONNECT_TARGET))));
        }
        let within = |t: &Transfer| match (t.done, self.base.done) {
            (Some(d), Some(b)) => d <= 2 * b && t.error.is_none(),
            _ => false,
        };
        v.push(format!("2× {}", mark(within(&self.during) && within(&self.after))));
        v.push(format!("RSS {}", mark(self.server.rss_peak_kb as f64 * 1024.0 <= RSS_TARGET)));
        if self.unvalidated {
            let amp = self.outcome.max_amplification().map_or(0.0, |(a, _)| a);
            v.push(format!("amp {}", mark(amp <= AMP_TARGET)));
        }
        v.join(" · ")
    }
}

/// `12.3 MB` from kB.
fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 * 1024.0 / 1e6)
}

/// The table, the targets and every row's notes.
pub(crate) fn table(rows: &[Row], secs: Duration, bytes: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Each attack: {:.0} s against a fresh `lrp2p perf server`; the legitimate peer's {:.0} MB test runs unattacked, during the attack (from 30 % of it on) and right after it.\n",
        secs.as_secs_f64(),
        bytes as f64 / 1e6
    );
    out.push_str("| attack | sent (rate, target) | server RSS peak | server CPU | socket drops | amplification max (total) | peer unattacked: connect / done | during | right after | targets |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---|---|---|---|\n");
    for r in rows {
        if let Err(why) = &r.ran {
            let _ = writeln!(out, "| {} | {why} | | | | | | | | |", r.name);
            continue;
        }
        let t = r.outcome.total();
        let amp = match (r.outcome.max_amplification(), r.outcome.total_amplification()) {
            (Some((max, _)), Some(total)) => format!("{max:.2}× ({total:.2}×)"),
            _ => "–".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | {} ({:.0}/s, {}) | {} | {:.2} s | {} | {} | {} | {}{} | {} | {} |",
            r.name,
            t.tx_dgrams,
            r.outcome.rate(),
            r.target_rate.map_or_else(|| "–".to_owned(), |t| format!("{t:.0}/s")),
            mb(r.server.rss_peak_kb),
            r.server.cpu_secs,
            r.server.drops.map_or_else(|| "–".to_owned(), |d| d.to_string()),
            amp,
            r.base,
            r.during,
            if r.during_outlived { " †" } else { "" },
            r.after,
            r.verdict(),
        );
    }
    out.push_str(
        "\n† the test ended after the attack did. Target rate –: the attack opens connections at up to the target rate and sends what its endpoint sends.\n\nTargets:\n",
    );
    for t in TARGETS {
        let _ = writeln!(out, "- {t}");
    }
    out.push_str("\nNotes:\n");
    for r in rows {
        if r.ran.is_err() {
            continue;
        }
        let _ = writeln!(out, "\n{}:", r.name);
        for n in &r.outcome.notes {
            let _ = writeln!(out, "- {n}");
        }
        let s = &r.server;
        let _ = writeln!(
            out,
            "- server: RSS {} before the attack (after the unattacked test), peak {} during it ({}); {} tests reported done",
            mb(s.rss_before_kb),
            mb(s.rss_peak_kb),
            s.rss_how,
            s.tests_done
        );
        match &s.counters {
            Some(c) => {
                let list: Vec<String> =
                    c.iter().filter(|(_, v)| *v > 0).map(|(k, v)| format!("{k} {v}")).collect();
                let _ = writeln!(out, "- server counters: {}", list.join(", "));
            }
            None => out.push_str("- server counters: not available (`perf server` has no `--stats`)\n"),
        }
    }
    out
}
