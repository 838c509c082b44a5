//! The application protocol id on real sockets (PROTOCOL.md §7.7): the id a client connects
//! with is the one the server's acceptor sees and its accepted connection reads, for IK and
//! XX; none when none is sent; an acceptor that refuses an id refuses that client.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::sync::{Arc, Mutex};

use common::{TIMEOUT, socket};
use lrp2p_std::{AppProtocol, Socket};

fn id(text: &str) -> AppProtocol {
    AppProtocol::try_from(text).unwrap()
}

/// A server that serves "svc-a" and clients without an id, and records what its acceptor saw.
fn server() -> (Socket, Arc<Mutex<Vec<Option<AppProtocol>>>>) {
    let server = socket();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    server.set_acceptor_with_info(move |peer| {
        log.lock().unwrap().push(peer.app_protocol);
        peer.app_protocol.is_none_or(|p| p == id("svc-a"))
    });
    (server, seen)
}

#[test]
fn id_sent_is_id_read() {
    for ik in [true, false] {
        let (server, seen) = server();
        let client = socket();
        let key = ik.then(|| server.public_key());
        let mut conn = client.connect_with(server.local_addr().unwrap(), key, id("svc-a")).unwrap();
        conn.write_all(b"hello").unwrap();
        conn.shutdown().unwrap();
        let (mut accepted, _) = server.accept_timeout(TIMEOUT).unwrap();
        assert_eq!(seen.lock().unwrap().as_slice(), [Some(id("svc-a"))], "ik {ik}");
        assert_eq!(accepted.app_protocol(), Some(id("svc-a")));
        assert_eq!(conn.app_protocol(), Some(id("svc-a")));
        accepted.set_read_timeout(Some(TIMEOUT));
        let mut got = Vec::new();
        accepted.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"hello");
    }
}

#[test]
fn none_when_none_is_sent() {
    let (server, seen) = server();
    let client = socket();
    let mut conn = client.connect(server.local_addr().unwrap(), server.public_key()).unwrap();
    conn.write_all(b"hi").unwrap();
    let (accepted, _) = server.accept_timeout(TIMEOUT).unwrap();
    assert_eq!(seen.lock().unwrap().as_slice(), [None]);
    assert_eq!((accepted.app_protocol(), conn.app_protocol()), (None, None));
}

#[test]
fn another_service_is_refused() {
    let (server, seen) = server();
    let client = socket();
    let mut conn =
        client.connect_with(server.local_addr().unwrap(), Some(server.public_key()), id("svc-b")).unwrap();
    conn.set_read_timeout(Some(TIMEOUT));
    conn.write_all(b"hello").unwrap();
    let err = conn.read(&mut [0u8; 8]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    assert_eq!(seen.lock().unwrap().as_slice(), [Some(id("svc-b"))]);
}
