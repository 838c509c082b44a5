//! The application protocol id on real sockets (PROTOCOL.md §7.7): the id a client connects
//! with is the one the server's acceptor sees and its accepted connection reads, for IK and
//! XX; none when none is sent; an acceptor that refuses an id refuses that client.

// clippy's allow-unwrap-in-tests does not see into #[tokio::test] bodies.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::ErrorKind;
use std::sync::{Arc, Mutex};

use common::{bounded, socket};
use lrp2p_tokio::{AppProtocol, Socket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn id(text: &str) -> AppProtocol {
    AppProtocol::try_from(text).unwrap()
}

/// A server that serves "svc-a" and clients without an id, and records what its acceptor saw.
async fn server() -> (Socket, Arc<Mutex<Vec<Option<AppProtocol>>>>) {
    let server = socket().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    server.set_acceptor_with_info(move |peer| {
        log.lock().unwrap().push(peer.app_protocol);
        peer.app_protocol.is_none_or(|p| p == id("svc-a"))
    });
    (server, seen)
}

#[tokio::test]
async fn id_sent_is_id_read() {
    for ik in [true, false] {
        let (server, seen) = server().await;
        let client = socket().await;
        let key = ik.then(|| server.public_key());
        let mut conn = client.connect_with(server.local_addr().unwrap(), key, id("svc-a")).await.unwrap();
        bounded(conn.write_all(b"hello")).await.unwrap();
        bounded(conn.shutdown()).await.unwrap();
        let (mut accepted, _) = bounded(server.accept()).await.unwrap();
        assert_eq!(seen.lock().unwrap().as_slice(), [Some(id("svc-a"))], "ik {ik}");
        assert_eq!(accepted.app_protocol(), Some(id("svc-a")));
        assert_eq!(conn.app_protocol(), Some(id("svc-a")));
        let mut got = Vec::new();
        bounded(accepted.read_to_end(&mut got)).await.unwrap();
        assert_eq!(got, b"hello");
    }
}

#[tokio::test]
async fn none_when_none_is_sent() {
    let (server, seen) = server().await;
    let client = socket().await;
    let mut conn = client.connect(server.local_addr().unwrap(), server.public_key()).await.unwrap();
    bounded(conn.write_all(b"hi")).await.unwrap();
    let (accepted, _) = bounded(server.accept()).await.unwrap();
    assert_eq!(seen.lock().unwrap().as_slice(), [None]);
    assert_eq!((accepted.app_protocol(), conn.app_protocol()), (None, None));
}

#[tokio::test]
async fn another_service_is_refused() {
    let (server, seen) = server().await;
    let client = socket().await;
    let addr = server.local_addr().unwrap();
    let mut conn = client.connect_with(addr, Some(server.public_key()), id("svc-b")).await.unwrap();
    bounded(conn.write_all(b"hello")).await.unwrap();
    let err = bounded(conn.read(&mut [0u8; 8])).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    assert_eq!(seen.lock().unwrap().as_slice(), [Some(id("svc-b"))]);
}
