//! `tracing` output over real loopback connections: a subscriber that records every span and
//! event (installed as the global default, since the driver runs on a thread of its own) sees
//! each connection's span with its peer address, connection id and role, the handshake
//! initiated and established (0-RTT accepted), and the close with its reason and counters.
//!
//! One test in this binary: the global subscriber is process-wide.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{TIMEOUT, socket};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Fields by name, values as strings (`Display` for strings, `Debug` otherwise).
type Fields = BTreeMap<String, String>;

#[derive(Debug, Clone)]
struct Recorded {
    target: String,
    message: String,
    fields: Fields,
    /// The fields of the span the event was emitted in.
    span: Option<Fields>,
}

#[derive(Default)]
struct Recorder {
    next_id: AtomicU64,
    spans: Mutex<BTreeMap<u64, (String, Fields)>>,
    events: Mutex<Vec<Recorded>>,
}

struct Visitor<'a>(&'a mut Fields);

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_string(), format!("{value:?}"));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        let mut fields = Fields::new();
        span.record(&mut Visitor(&mut fields));
        self.spans.lock().unwrap().insert(id, (span.metadata().name().to_string(), fields));
        Id::from_u64(id)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::new();
        event.record(&mut Visitor(&mut fields));
        let message = fields.remove("message").unwrap_or_default();
        let span = event.parent().and_then(|id| {
            let spans = self.spans.lock().unwrap();
            spans.get(&id.into_u64()).filter(|(name, _)| name == "connection").map(|(_, f)| f.clone())
        });
        let target = event.metadata().target().to_string();
        self.events.lock().unwrap().push(Recorded { target, message, fields, span });
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// The recorded `lrp2p` events with `message`.
fn find(recorder: &Recorder, message: &str) -> Vec<Recorded> {
    let events = recorder.events.lock().unwrap();
    events.iter().filter(|e| e.target == "lrp2p" && e.message == message).cloned().collect()
}

/// Waits (bounded) until `n` events with `message` were recorded.
fn wait_for(recorder: &Recorder, message: &str, n: usize) -> Vec<Recorded> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let found = find(recorder, message);
        if found.len() >= n || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The event of the connection whose span says `role` and `peer`.
fn of<'a>(events: &'a [Recorded], role: &str, peer: SocketAddr) -> &'a Recorded {
    let peer = peer.to_string();
    events
        .iter()
        .find(|e| e.span.as_ref().is_some_and(|s| s["role"] == role && s["peer"] == peer))
        .unwrap_or_else(|| panic!("no {role} event with peer {peer} in {events:#?}"))
}

#[test]
fn handshake_and_close_are_traced_in_a_span_per_connection() {
    let recorder = Arc::new(Recorder::default());
    tracing::subscriber::set_global_default(recorder.clone()).unwrap();
    let (a, b) = (socket(), socket());
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    assert_eq!(find(&recorder, "socket opened").len(), 2);

    // A graceful exchange: both streams finished.
    let mut ca = a.connect(b_addr, b.public_key()).unwrap();
    ca.set_read_timeout(Some(TIMEOUT));
    ca.write_all(b"hello").unwrap();
    ca.shutdown().unwrap();
    let (mut cb, _) = b.accept_timeout(TIMEOUT).unwrap();
    cb.set_read_timeout(Some(TIMEOUT));
    let mut got = Vec::new();
    cb.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"hello");
    cb.write_all(b"bye").unwrap();
    cb.shutdown().unwrap();
    let mut reply = Vec::new();
    ca.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"bye");

    let initiated = wait_for(&recorder, "handshake initiated", 1);
    let span = of(&initiated, "initiator", b_addr).span.clone().unwrap();
    assert_eq!(span["cid"].len(), 16, "{span:?}");
    assert!(u64::from_str_radix(&span["cid"], 16).is_ok(), "{span:?}");
    assert_eq!(span["pattern"], "IK");

    let established = wait_for(&recorder, "connection established", 2);
    for (role, peer) in [("initiator", b_addr), ("responder", a_addr)] {
        // Fresh keys (the tests' configuration): 0-RTT accepted.
        assert_eq!(of(&established, role, peer).fields["early_data"], "accepted", "{established:#?}");
    }

    let closed = wait_for(&recorder, "connection closed", 2);
    for (role, peer) in [("initiator", b_addr), ("responder", a_addr)] {
        let e = of(&closed, role, peer);
        assert_eq!(e.fields["reason"], "finished", "{e:#?}");
        assert!(e.fields["datagrams_sent"].parse::<u64>().unwrap() >= 2, "{e:#?}");
        assert!(e.fields["bytes_received"].parse::<u64>().unwrap() > 0, "{e:#?}");
        assert!(e.fields["srtt"].starts_with("Some("), "{e:#?}");
    }

    // An abort: the closing side says `local`, the other `remote`, with the code.
    let cc = a.connect(b_addr, b.public_key()).unwrap();
    cc.connected().unwrap();
    let (cd, _) = b.accept_timeout(TIMEOUT).unwrap();
    cc.close();
    let closed = wait_for(&recorder, "connection closed", 4);
    let reasons: Vec<(String, String, String)> = closed[2..]
        .iter()
        .map(|e| {
            let role = e.span.as_ref().map(|s| s["role"].clone()).unwrap_or_default();
            (role, e.fields["reason"].clone(), e.fields["code"].clone())
        })
        .collect();
    let code = |role: &str, reason: &str| {
        reasons.iter().find(|(r, why, _)| r == role && why == reason).map(|(_, _, code)| code.clone())
    };
    let sent = code("initiator", "local").unwrap_or_else(|| panic!("{reasons:?}"));
    assert!(sent.starts_with("Some("), "{reasons:?}");
    assert_eq!(code("responder", "remote"), Some(sent), "the peer hears the code: {reasons:?}");
    drop(cd);

    // Nothing of the per-packet targets at info: they are trace level, and were recorded.
    let events = recorder.events.lock().unwrap();
    assert!(events.iter().any(|e| e.target == "lrp2p::packet" && e.message == "sent"));
    assert!(events.iter().any(|e| e.target == "lrp2p::recovery"));
    drop(events);

    drop((ca, cb, cc, a));
    assert_eq!(wait_for(&recorder, "socket stopped", 1).len(), 1);
}
