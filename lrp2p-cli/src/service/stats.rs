//! The counters a service prints: the endpoint's (`EndpointStats`: every datagram received,
//! by outcome) and the service's own (peers served, dropped, refused).
//!
//! Human form, one line on standard error:
//!
//! ```text
//! stats [12.0 s]: datagrams in 5230 (accepted 5190, answered 2: duplicate_initiations 2, dropped 38: unknown_connection 3, auth_failures 35), out 4102; peers 2 of 64 active, 5 served, 1 failed, 1 dropped, refused 0 busy, 0 not allowed
//! ```
//!
//! With `--json`, one object on standard output: `{"event": "stats"|"summary", "uptime_s",
//! "datagrams": {"received", "sent", "accepted", "accounted"}, "answered": {…},
//! "dropped": {"total", each reason…}, "early_data": {"accepted", "refused"}, "peers": {…},
//! "accounted_ok"}`. Every datagram received is `accepted`, answered (a cookie reply or a
//! duplicate initiation's stored response) or dropped for one reason, so `accounted` (their
//! sum) equals `received`; a mismatch is reported as a warning.

use std::io::Write as _;
use std::time::Duration;

use lrp2p_tokio::EndpointStats;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::output::Ui;

/// The service's own counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct PeerCounts {
    /// Peers being served (slots taken).
    pub(crate) active: usize,
    /// `--max-peers`.
    pub(crate) max: usize,
    /// Sessions completed successfully.
    pub(crate) served: u64,
    /// Sessions that ended with an error.
    pub(crate) failed: u64,
    /// Peers dropped: silent past the idle deadline, or never confirmed.
    pub(crate) timed_out: u64,
    /// Peers refused because every slot was taken.
    pub(crate) refused_busy: u64,
    /// Peers refused because they are not in `--allow`.
    pub(crate) refused_not_allowed: u64,
}

/// The counters at one moment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Snapshot {
    /// The endpoint's counters.
    endpoint: EndpointStats,
    /// The service's.
    peers: PeerCounts,
    /// Since the service started.
    uptime: Duration,
}

impl Snapshot {
    /// The counters `endpoint` and `peers` after `uptime`.
    pub(crate) fn new(endpoint: EndpointStats, peers: PeerCounts, uptime: Duration) -> Snapshot {
        Snapshot { endpoint, peers, uptime }
    }

    /// Datagrams answered without new state, by reason.
    fn answered(&self) -> [(&'static str, u64); 2] {
        let s = &self.endpoint;
        [("cookie_replies", s.cookie_replies), ("duplicate_initiations", s.duplicate_initiations)]
    }

    /// Datagrams dropped, by reason.
    fn dropped(&self) -> [(&'static str, u64); 10] {
        let s = &self.endpoint;
        [
            ("malformed", s.malformed),
            ("unknown_connection", s.unknown_connection),
            ("handshake_failures", s.handshake_failures),
            ("refused_by_limits", s.refused_by_limits),
            ("refused_by_address", s.refused_by_address),
            ("cookie_replies_dropped", s.cookie_replies_dropped),
            ("replayed_initiations", s.replayed_initiations),
            ("auth_failures", s.auth_failures),
            ("replays", s.replays),
            ("unexpected", s.unexpected),
        ]
    }

    /// Whether every datagram received is counted in exactly one outcome.
    pub(crate) fn accounted_ok(&self) -> bool {
        self.endpoint.accounted() == self.endpoint.datagrams_received
    }

    /// The one-line human form (see the module documentation); `label` starts it.
    pub(crate) fn line(&self, label: &str) -> String {
        let s = &self.endpoint;
        let group = |name: &str, counts: &[(&str, u64)]| {
            let total: u64 = counts.iter().map(|(_, n)| n).sum();
            let nonzero: Vec<String> =
                counts.iter().filter(|(_, n)| *n > 0).map(|(k, n)| format!("{k} {n}")).collect();
            if nonzero.is_empty() {
                format!("{name} 0")
            } else {
                format!("{name} {total}: {}", nonzero.join(", "))
            }
        };
        let p = &self.peers;
        format!(
            "{label} [{:.1} s]: datagrams in {} (accepted {}, {}, {}), out {}; peers {} of {} active, \
             {} served, {} failed, {} dropped, refused {} busy, {} not allowed",
            self.uptime.as_secs_f64(),
            s.datagrams_received,
            s.accepted,
            group("answered", &self.answered()),
            group("dropped", &self.dropped()),
            s.datagrams_sent,
            p.active,
            p.max,
            p.served,
            p.failed,
            p.timed_out,
            p.refused_busy,
            p.refused_not_allowed,
        )
    }

    /// The JSON form (see the module documentation), as event `event`.
    pub(crate) fn json(&self, event: &str) -> Value {
        let s = &self.endpoint;
        let object = |counts: &[(&str, u64)]| {
            let mut map: Map<String, Value> =
                counts.iter().map(|(k, n)| ((*k).to_owned(), json!(n))).collect();
            map.insert("total".to_owned(), json!(counts.iter().map(|(_, n)| n).sum::<u64>()));
            Value::Object(map)
        };
        json!({
            "event": event,
            "uptime_s": self.uptime.as_secs_f64(),
            "datagrams": {
                "received": s.datagrams_received,
                "sent": s.datagrams_sent,
                "accepted": s.accepted,
                "accounted": s.accounted(),
            },
            "answered": object(&self.answered()),
            "dropped": object(&self.dropped()),
            "early_data": { "accepted": s.early_data_accepted, "refused": s.early_data_refused },
            "peers": self.peers,
            "accounted_ok": self.accounted_ok(),
        })
    }

    /// Prints the counters as event `event` (`stats` or `summary`): a line on standard error,
    /// or a JSON object with `--json`; and a warning if they do not add up.
    pub(crate) fn print(&self, ui: &Ui, event: &str) {
        if ui.quiet {
            return;
        }
        if ui.json {
            ui.json_only(&self.json(event));
        } else {
            let _ = writeln!(std::io::stderr(), "{}", self.line(event));
        }
        if !self.accounted_ok() {
            let _ = writeln!(
                std::io::stderr(),
                "lrp2p: warning: the endpoint's counters do not add up: {} datagrams received, {} accounted for",
                self.endpoint.datagrams_received,
                self.endpoint.accounted()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Snapshot {
        let mut s = EndpointStats::default();
        s.datagrams_received = 10;
        s.datagrams_sent = 4;
        s.accepted = 6;
        s.duplicate_initiations = 1;
        s.unknown_connection = 2;
        s.auth_failures = 1;
        let peers = PeerCounts { active: 1, max: 64, served: 2, refused_busy: 3, ..PeerCounts::default() };
        Snapshot::new(s, peers, Duration::from_secs(3))
    }

    #[test]
    fn the_line_names_every_nonzero_reason() {
        let line = sample().line("stats");
        assert!(line.starts_with("stats [3.0 s]: datagrams in 10 (accepted 6, "), "{line}");
        assert!(line.contains("answered 1: duplicate_initiations 1"), "{line}");
        assert!(line.contains("dropped 3: unknown_connection 2, auth_failures 1"), "{line}");
        assert!(line.contains("out 4; peers 1 of 64 active, 2 served"), "{line}");
        assert!(line.contains("refused 3 busy"), "{line}");
        assert!(sample().accounted_ok());
    }

    #[test]
    fn the_json_has_every_counter() {
        let v = sample().json("summary");
        assert_eq!(v["event"], "summary");
        assert_eq!(v["datagrams"]["received"], 10);
        assert_eq!(v["datagrams"]["accounted"], 10);
        assert_eq!(v["dropped"]["total"], 3);
        assert_eq!(v["dropped"]["replayed_initiations"], 0);
        assert_eq!(v["answered"]["duplicate_initiations"], 1);
        assert_eq!(v["peers"]["refused_busy"], 3);
        assert_eq!(v["accounted_ok"], true);
    }

    #[test]
    fn a_mismatch_is_noticed() {
        let mut s = sample();
        s.endpoint.datagrams_received += 1;
        assert!(!s.accounted_ok());
        assert_eq!(s.json("stats")["accounted_ok"], false);
    }
}
