//! Ends of connections: half-close, close, drop (of a connection, of a write half, of a
//! socket), a peer that never answers, a peer that refuses our key.

// clippy's allow-unwrap-in-tests does not see into #[tokio::test] bodies; a panic is a test's
// failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use common::{bounded, config, socket, socket_with};
use lrp2p_tokio::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn half_close_then_reply() {
    let (a, b) = (socket().await, socket().await);
    let mut ca = a.connect(b.local_addr().unwrap(), b.public_key()).await.unwrap();
    bounded(ca.write_all(b"question")).await.unwrap();
    bounded(ca.shutdown()).await.unwrap();
    // Writing after shutdown is a broken pipe.
    let err = bounded(ca.write(b"more")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    assert_eq!(Error::of(&err), Some(&Error::Shutdown));

    let (mut cb, _) = bounded(b.accept()).await.unwrap();
    let mut got = Vec::new();
    bounded(cb.read_to_end(&mut got)).await.unwrap();
    assert_eq!(got, b"question");
    // The other direction still works after A's half-close.
    bounded(cb.write_all(b"answer")).await.unwrap();
    bounded(cb.shutdown()).await.unwrap();
    let mut reply = Vec::new();
    bounded(ca.read_to_end(&mut reply)).await.unwrap();
    assert_eq!(reply, b"answer");
    // The end of the stream stays the end.
    assert_eq!(bounded(ca.read(&mut [0u8; 8])).await.unwrap(), 0);
    bounded(cb.acknowledged()).await.unwrap();
}

#[tokio::test]
async fn flush_and_shutdown_do_not_wait_for_the_peer() {
    // A bound UDP port that never answers: nothing written can be acknowledged.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let a = socket().await;
    let key = lrp2p_tokio::generate_identity().public_key();
    let mut conn = a.connect(silent.local_addr().unwrap(), key).await.unwrap();
    bounded(conn.write_all(b"into the void")).await.unwrap();
    // TCP-like: flush and shutdown are ready at once; `acknowledged` is the one that waits.
    bounded(conn.flush()).await.unwrap();
    bounded(conn.shutdown()).await.unwrap();
    let waiting = tokio::time::timeout(Duration::from_millis(100), conn.acknowledged()).await;
    assert!(waiting.is_err(), "nothing can have been acknowledged: {waiting:?}");
}

#[tokio::test]
async fn close_resets_the_peer() {
    let (a, b) = (socket().await, socket().await);
    let mut ca = a.connect(b.local_addr().unwrap(), b.public_key()).await.unwrap();
    bounded(ca.connected()).await.unwrap();
    let (mut cb, _) = bounded(b.accept()).await.unwrap();
    ca.close();
    let err = bounded(cb.read(&mut [0u8; 8])).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    assert!(matches!(Error::of(&err), Some(Error::PeerClosed { .. })));
    // And locally the connection is gone.
    let err = bounded(ca.write(b"x")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotConnected);
}

#[tokio::test]
async fn drop_finishes_the_stream() {
    let (a, b) = (socket().await, socket().await);
    let mut ca = a.connect(b.local_addr().unwrap(), b.public_key()).await.unwrap();
    bounded(ca.write_all(b"last words")).await.unwrap();
    drop(ca);
    let (mut cb, _) = bounded(b.accept()).await.unwrap();
    let mut got = Vec::new();
    bounded(cb.read_to_end(&mut got)).await.unwrap();
    assert_eq!(got, b"last words");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_halves_and_dropping_the_write_half() {
    let (a, b) = (socket().await, socket().await);
    let ca = a.connect(b.local_addr().unwrap(), b.public_key()).await.unwrap();
    let (mut read, mut write) = ca.into_split();
    bounded(write.write_all(b"ping")).await.unwrap();
    // Dropping the write half shuts the writing side down; the read half goes on.
    drop(write);
    let (cb, _) = bounded(b.accept()).await.unwrap();
    let (mut rb, mut wb) = tokio::io::split(cb);
    let echo = tokio::spawn(async move {
        let mut got = Vec::new();
        bounded(rb.read_to_end(&mut got)).await.unwrap();
        bounded(wb.write_all(&got)).await.unwrap();
        bounded(wb.shutdown()).await.unwrap();
        // Keep the connection until its stream is acknowledged.
        (rb, wb)
    });
    let mut got = Vec::new();
    bounded(read.read_to_end(&mut got)).await.unwrap();
    assert_eq!(got, b"ping");
    drop(bounded(echo).await.unwrap());
}

#[tokio::test]
async fn dropping_the_socket_closes_its_connections() {
    let (a, b) = (socket().await, socket().await);
    let mut ca = a.connect(b.local_addr().unwrap(), b.public_key()).await.unwrap();
    bounded(ca.connected()).await.unwrap();
    let (mut cb, _) = bounded(b.accept()).await.unwrap();
    drop(a);
    let err = bounded(cb.read(&mut [0u8; 8])).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    let err = bounded(ca.write(b"x")).await.unwrap_err();
    assert_eq!(Error::of(&err), Some(&Error::SocketClosed));
}

#[tokio::test]
async fn dropping_the_socket_ends_its_driver_task() {
    let a = socket().await;
    let addr = a.local_addr().unwrap();
    drop(a);
    // The UDP socket belongs to the driver task (no connection holds it): once the task has
    // ended, the port is free again. Nothing lingers, so that is at once.
    let mut rebound = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if let Ok(socket) = std::net::UdpSocket::bind(addr) {
            rebound = Some(socket);
            break;
        }
    }
    assert!(rebound.is_some(), "the driver task still holds {addr}");
}

#[tokio::test]
async fn a_socket_outlived_by_its_runtime_closes_its_connections() {
    let b = socket().await;
    let (addr, key) = (b.local_addr().unwrap(), b.public_key());
    // A's socket and connection live on in this task after their runtime is gone.
    let (a, ca) = tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let a = socket().await;
            let ca = a.connect(addr, key).await.unwrap();
            bounded(ca.connected()).await.unwrap();
            (a, ca)
        })
    })
    .await
    .unwrap();
    let (mut cb, _) = bounded(b.accept()).await.unwrap();
    // Its driver task was dropped with the runtime: the socket stopped and told B.
    let err = bounded(cb.read(&mut [0u8; 8])).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    // And A's calls fail (they do not wait for a driver that is gone).
    let mut ca = ca;
    let err = bounded(ca.write(b"x")).await.unwrap_err();
    assert_eq!(Error::of(&err), Some(&Error::SocketClosed));
    drop((ca, a));
}

#[tokio::test]
async fn dropping_the_socket_lets_finished_streams_arrive() {
    // The Go examples' writers: write, then the program ends (connection and socket dropped).
    let server = socket().await;
    let addr = server.local_addr().unwrap();
    for text in ["Hello from Peer 2", "Hello from Peer 3"] {
        let client = socket().await;
        let mut conn = client.connect(addr, server.public_key()).await.unwrap();
        bounded(conn.write_all(text.as_bytes())).await.unwrap();
        let started = Instant::now();
        drop(conn);
        drop(client);
        assert!(started.elapsed() < Duration::from_millis(100), "dropping never blocks");
    }
    for _ in 0..2 {
        let (mut conn, _) = bounded(server.accept()).await.unwrap();
        let mut got = String::new();
        bounded(conn.read_to_string(&mut got)).await.unwrap();
        assert!(got.starts_with("Hello from Peer "), "{got:?}");
    }
}

#[tokio::test]
async fn nobody_answering_times_out() {
    // A bound UDP port that never answers.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut config = config();
    config.connection.handshake_timeout = Duration::from_millis(500);
    config.connection.handshake_rto = Duration::from_millis(100);
    let a = socket_with(config).await;
    let key = lrp2p_tokio::generate_identity().public_key();
    let mut conn = a.connect(silent.local_addr().unwrap(), key).await.unwrap();
    let started = Instant::now();
    bounded(conn.write_all(b"anyone?")).await.unwrap();
    let err = bounded(conn.read(&mut [0u8; 8])).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    assert_eq!(Error::of(&err), Some(&Error::HandshakeTimeout));
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    // XX too.
    let conn = a.connect_unknown(silent.local_addr().unwrap()).await.unwrap();
    let err = bounded(conn.connected()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
}

#[tokio::test]
async fn wrong_expected_key_fails() {
    // C expects somebody else's key at B's address: B cannot decrypt C's IK initiation (it
    // is sealed to that other key), drops it unanswered, and C's handshake times out.
    let b = socket().await;
    let mut config = config();
    config.connection.handshake_timeout = Duration::from_millis(500);
    config.connection.handshake_rto = Duration::from_millis(100);
    let c = socket_with(config).await;
    let wrong = lrp2p_tokio::generate_identity().public_key();
    let mut conn = c.connect(b.local_addr().unwrap(), wrong).await.unwrap();
    bounded(conn.write_all(b"who are you?")).await.unwrap();
    let err = bounded(conn.read(&mut [0u8; 8])).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    assert_eq!(Error::of(&err), Some(&Error::HandshakeTimeout));
    // And nothing reached B's application.
    let nothing = tokio::time::timeout(Duration::from_millis(100), b.accept()).await;
    assert!(nothing.is_err(), "B accepted a connection meant for another key");
}

#[tokio::test]
async fn unexpected_key_is_refused() {
    let (server, friend, stranger) = (socket().await, socket().await, socket().await);
    server.allow_only([friend.public_key()]);
    let addr = server.local_addr().unwrap();

    let mut conn = stranger.connect(addr, server.public_key()).await.unwrap();
    bounded(conn.write_all(b"let me in")).await.unwrap();
    let err = bounded(conn.read(&mut [0u8; 8])).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    assert_eq!(Error::of(&err), Some(&Error::Refused));
    // Over XX too (the initiator may complete its side first: the responder learns the key
    // from the third message; the REFUSED then ends the connection).
    let mut conn = stranger.connect_unknown(addr).await.unwrap();
    let refused = async {
        conn.connected().await?;
        conn.read(&mut [0u8; 8]).await
    };
    let err = bounded(refused).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");

    // The friend gets in; the stranger was never handed to `accept`.
    let mut ok = friend.connect(addr, server.public_key()).await.unwrap();
    bounded(ok.write_all(b"hi")).await.unwrap();
    let (mut accepted, who) = bounded(server.accept()).await.unwrap();
    assert_eq!(who, friend.public_key());
    let mut buf = [0u8; 8];
    let n = bounded(accepted.read(&mut buf)).await.unwrap();
    assert_eq!(&buf[..n], b"hi");
}

#[tokio::test]
async fn close_with_carries_the_applications_code_and_reason() {
    let (a, b) = (socket().await, socket().await);
    let ca = a.connect(b.local_addr().unwrap(), b.public_key()).await.unwrap();
    bounded(ca.connected()).await.unwrap();
    let (mut cb, _) = bounded(b.accept()).await.unwrap();
    ca.close_with(0x8001, b"interrupted");
    let err = bounded(cb.read(&mut [0u8; 8])).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    assert_eq!(Error::of(&err), Some(&Error::PeerClosed { code: 0x8001, reason: "interrupted".to_owned() }));
}

#[tokio::test]
async fn close_all_tells_every_peer_the_reason() {
    let (server, c1, c2) = (socket().await, socket().await, socket().await);
    let mut clients = Vec::new();
    for c in [&c1, &c2] {
        let conn = c.connect(server.local_addr().unwrap(), server.public_key()).await.unwrap();
        bounded(conn.connected()).await.unwrap();
        clients.push(conn);
    }
    let accepted = [bounded(server.accept()).await.unwrap(), bounded(server.accept()).await.unwrap()];
    // The accepted side knows where each peer is.
    let mut addrs: Vec<_> = accepted.iter().map(|(conn, _)| conn.peer_addr().unwrap()).collect();
    addrs.sort();
    let mut want = vec![c1.local_addr().unwrap(), c2.local_addr().unwrap()];
    want.sort();
    assert_eq!(addrs, want);
    server.close_all(0x8001, b"stopping");
    for mut conn in clients {
        let err = bounded(conn.read(&mut [0u8; 8])).await.unwrap_err();
        assert_eq!(Error::of(&err), Some(&Error::PeerClosed { code: 0x8001, reason: "stopping".to_owned() }));
    }
}

#[tokio::test]
async fn an_acceptor_with_the_address_sees_where_the_initiation_came_from() {
    let (a, b) = (socket().await, socket().await);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    {
        let seen = seen.clone();
        b.set_acceptor_with_address(move |key, from| {
            *seen.lock().unwrap() = Some((*key, from));
            false
        });
    }
    let mut conn = a.connect(b.local_addr().unwrap(), b.public_key()).await.unwrap();
    let _ = conn.write_all(b"hello").await;
    let err = bounded(conn.connected()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    assert_eq!(*seen.lock().unwrap(), Some((a.public_key(), a.local_addr().unwrap())));
}
