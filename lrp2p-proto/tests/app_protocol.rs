//! The application protocol id (PROTOCOL.md §7.7, APP_PROTOCOL): what the initiator sets in
//! `ConnectOptions` is what the responder sees at `Event::Incoming` and through
//! `Endpoint::app_protocol`, for IK and XX, with early data accepted or refused; nothing when
//! none is sent; and the first segment is sized so that its datagram stays within
//! `max_datagram_size`.

#![allow(clippy::unwrap_used)]

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use common::{Pair, Side};
use lrp2p_proto::{AppProtocol, ConnectOptions, ConnectionHandle, Event};

fn id(text: &str) -> AppProtocol {
    AppProtocol::try_from(text).unwrap()
}

/// The id B's application saw in its `Incoming` event.
fn incoming_id(p: &Pair) -> Option<Option<AppProtocol>> {
    p.b_events.iter().find_map(|e| match e {
        Event::Incoming { app_protocol, .. } => Some(*app_protocol),
        _ => None,
    })
}

/// A connects to B with `options`, writing `data` first (so it rides the first DATA segment),
/// until B sees the connection; returns both handles, B's not yet accepted.
fn dial(
    p: &mut Pair,
    ik: bool,
    options: ConnectOptions,
    data: &[u8],
) -> (ConnectionHandle, ConnectionHandle) {
    let (now, b_addr, b_key) = (p.now, p.b_addr, p.b.public_key());
    let conn = p.a.connect_with(now, b_addr, ik.then_some(b_key), options).unwrap();
    if !data.is_empty() {
        assert_eq!(p.a.write(now, conn, data).unwrap(), data.len());
    }
    p.connected.push(conn);
    p.drive_until(Duration::from_secs(5), |p| p.incoming().is_some());
    (conn, p.incoming().unwrap())
}

#[test]
fn ik_id_sent_is_id_seen_at_admission() {
    let mut p = Pair::new(1);
    let perf = id("lrp2p-perf");
    let (a, b) = dial(&mut p, true, ConnectOptions::default().with_app_protocol(perf), b"hello");
    assert_eq!(incoming_id(&p), Some(Some(perf)));
    assert_eq!(p.b.app_protocol(b), Some(perf));
    assert_eq!(p.a.app_protocol(a), Some(perf));
    p.accept_all();
    let mut got = Vec::new();
    p.drive_until(Duration::from_secs(5), |p| {
        p.read_all(Side::B, b, &mut got);
        got.len() == 5
    });
    assert_eq!(got, b"hello");
}

#[test]
fn xx_id_rides_the_finish() {
    let mut p = Pair::new(2);
    let send = id("lrp2p-send");
    let (_, b) = dial(&mut p, false, ConnectOptions::default().with_app_protocol(send), b"x");
    assert_eq!(incoming_id(&p), Some(Some(send)));
    assert_eq!(p.b.app_protocol(b), Some(send));
}

#[test]
fn no_id_when_none_is_sent() {
    for ik in [true, false] {
        let mut p = Pair::new(3);
        let (a, b) = dial(&mut p, ik, ConnectOptions::default(), b"data");
        assert_eq!(incoming_id(&p), Some(None), "ik {ik}");
        assert_eq!(p.b.app_protocol(b), None);
        assert_eq!(p.a.app_protocol(a), None);
        p.accept_all();
        p.drive_for(Duration::from_secs(1));
        assert_eq!(p.b.app_protocol(b), None);
    }
}

#[test]
fn id_survives_refused_early_data() {
    // PROTOCOL.md §7.7: the id on the initiation counts even when its 0-RTT data is refused
    // (§9.3); the DATA segment then goes again as 1-RTT data, with the id.
    let mut b_config = common::fresh_keys();
    b_config.accept_early_data = false;
    let mut p = Pair::with_config(4, common::fresh_keys(), b_config);
    let perf = id("lrp2p-perf");
    let (_, b) = dial(&mut p, true, ConnectOptions::default().with_app_protocol(perf), b"early");
    assert_eq!(incoming_id(&p), Some(Some(perf)));
    p.accept_all();
    let mut got = Vec::new();
    p.drive_until(Duration::from_secs(5), |p| {
        p.read_all(Side::B, b, &mut got);
        got.len() == 5
    });
    assert_eq!((got.as_slice(), p.b.app_protocol(b)), (&b"early"[..], Some(perf)));
}

#[test]
fn silent_initiator_is_known_once_its_first_segment_arrives() {
    // Nothing written before the initiation: no DATA in it, so no id at admission; the id
    // rides the first DATA segment when it goes (PROTOCOL.md §7.7).
    let mut p = Pair::new(5);
    let perf = id("lrp2p-perf");
    let (a, b) = dial(&mut p, true, ConnectOptions::default().with_app_protocol(perf), b"");
    assert_eq!(incoming_id(&p), Some(None));
    p.accept_all();
    p.drive_for(Duration::from_millis(100));
    assert_eq!(p.b.app_protocol(b), None);
    let now = p.now;
    p.a.write(now, a, b"late").unwrap();
    p.drive_until(Duration::from_secs(5), |p| p.b.app_protocol(b).is_some());
    assert_eq!(p.b.app_protocol(b), Some(perf));
}

#[test]
fn first_segment_leaves_room_for_the_id() {
    // A full first flight with the longest id: every datagram within max_datagram_size, every
    // byte delivered.
    for ik in [true, false] {
        let mut p = Pair::new(6);
        let largest = Rc::new(RefCell::new(0usize));
        let seen = largest.clone();
        p.filter = Box::new(move |_, data| {
            let mut largest = seen.borrow_mut();
            *largest = (*largest).max(data.len());
            true
        });
        let long = AppProtocol::new(&[b'z'; 32]).unwrap();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let (now, b_addr, b_key) = (p.now, p.b_addr, p.b.public_key());
        let options = ConnectOptions::default().with_app_protocol(long);
        let a = p.a.connect_with(now, b_addr, ik.then_some(b_key), options).unwrap();
        let mut written = p.a.write(now, a, &data).unwrap();
        p.drive_until(Duration::from_secs(5), |p| p.incoming().is_some());
        assert_eq!(incoming_id(&p), Some(Some(long)), "ik {ik}");
        p.accept_all();
        let b = p.accepted[0];
        let mut got = Vec::new();
        p.drive_until(Duration::from_secs(30), |p| {
            if written < data.len() {
                let now = p.now;
                written += p.a.write(now, a, &data[written..]).unwrap_or(0);
            }
            p.read_all(Side::B, b, &mut got);
            got.len() == data.len()
        });
        assert!(got == data, "ik {ik}: stream intact");
        assert!(*largest.borrow() <= 1400, "ik {ik}: a datagram of {} bytes", largest.borrow());
    }
}
