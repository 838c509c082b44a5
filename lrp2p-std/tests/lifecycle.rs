//! Ends of connections: half-close, close, drop, a peer that never answers, a peer that is
//! not who we expected, a peer that refuses our key.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::{TIMEOUT, config, socket, socket_with};
use lrp2p_std::Error;

#[test]
fn half_close_then_reply() {
    let (a, b) = (socket(), socket());
    let mut ca = a.connect(b.local_addr().unwrap(), b.public_key()).unwrap();
    ca.set_read_timeout(Some(TIMEOUT));
    ca.write_all(b"question").unwrap();
    ca.shutdown().unwrap();
    // Writing after shutdown is a broken pipe.
    let err = ca.write(b"more").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    assert_eq!(Error::of(&err), Some(&Error::Shutdown));

    let (mut cb, _) = b.accept_timeout(TIMEOUT).unwrap();
    cb.set_read_timeout(Some(TIMEOUT));
    let mut got = Vec::new();
    cb.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"question");
    // The other direction still works after A's half-close.
    cb.write_all(b"answer").unwrap();
    cb.shutdown().unwrap();
    let mut reply = Vec::new();
    ca.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"answer");
    // The end of the stream stays the end.
    assert_eq!(ca.read(&mut [0u8; 8]).unwrap(), 0);
    cb.acknowledged().unwrap();
}

#[test]
fn flush_and_shutdown_do_not_wait_for_the_peer() {
    // A bound UDP port that never answers: nothing written can be acknowledged.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let a = socket();
    let key = lrp2p_std::generate_identity().public_key();
    let mut conn = a.connect(silent.local_addr().unwrap(), key).unwrap();
    conn.set_write_timeout(Some(Duration::from_millis(100)));
    conn.write_all(b"into the void").unwrap();
    // TCP-like: flush and shutdown return at once; `acknowledged` is the one that waits.
    conn.flush().unwrap();
    conn.shutdown().unwrap();
    let err = conn.acknowledged().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "nothing can have been acknowledged: {err}");
}

#[test]
fn close_resets_the_peer() {
    let (a, b) = (socket(), socket());
    let ca = a.connect(b.local_addr().unwrap(), b.public_key()).unwrap();
    ca.set_read_timeout(Some(TIMEOUT));
    ca.connected().unwrap();
    let (mut cb, _) = b.accept_timeout(TIMEOUT).unwrap();
    cb.set_read_timeout(Some(TIMEOUT));
    ca.close();
    let err = cb.read(&mut [0u8; 8]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    assert!(matches!(Error::of(&err), Some(Error::PeerClosed { .. })));
    // And locally the connection is gone.
    let err = (&ca).write(b"x").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotConnected);
}

#[test]
fn drop_finishes_the_stream() {
    let (a, b) = (socket(), socket());
    let mut ca = a.connect(b.local_addr().unwrap(), b.public_key()).unwrap();
    ca.write_all(b"last words").unwrap();
    drop(ca);
    let (mut cb, _) = b.accept_timeout(TIMEOUT).unwrap();
    cb.set_read_timeout(Some(TIMEOUT));
    let mut got = Vec::new();
    cb.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"last words");
}

#[test]
fn dropping_the_socket_closes_its_connections() {
    let (a, b) = (socket(), socket());
    let ca = a.connect(b.local_addr().unwrap(), b.public_key()).unwrap();
    ca.connected().unwrap();
    let (mut cb, _) = b.accept_timeout(TIMEOUT).unwrap();
    cb.set_read_timeout(Some(TIMEOUT));
    let started = Instant::now();
    drop(a);
    assert!(started.elapsed() < Duration::from_secs(1), "the driver thread stops promptly");
    let err = cb.read(&mut [0u8; 8]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    let err = (&ca).write(b"x").unwrap_err();
    assert_eq!(Error::of(&err), Some(&Error::SocketClosed));
}

#[test]
fn nobody_answering_times_out() {
    // A bound UDP port that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut config = config();
    config.connection.handshake_timeout = Duration::from_millis(500);
    config.connection.handshake_rto = Duration::from_millis(100);
    let a = socket_with(config);
    let key = lrp2p_std::generate_identity().public_key();
    let mut conn = a.connect(silent.local_addr().unwrap(), key).unwrap();
    conn.set_read_timeout(Some(TIMEOUT));
    let started = Instant::now();
    conn.write_all(b"anyone?").unwrap();
    let err = conn.read(&mut [0u8; 8]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    assert_eq!(Error::of(&err), Some(&Error::HandshakeTimeout));
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    // XX too.
    let conn = a.connect_unknown(silent.local_addr().unwrap()).unwrap();
    let err = conn.connected().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
}

#[test]
fn wrong_expected_key_fails() {
    // The server is not who the dialer expects: it cannot complete an IK handshake addressed
    // to another key, and the dialer's data never reaches the application.
    let mut config = config();
    config.connection.handshake_timeout = Duration::from_millis(500);
    config.connection.handshake_rto = Duration::from_millis(100);
    let (server, dialer) = (socket(), socket_with(config));
    let impostor_key = lrp2p_std::generate_identity().public_key();
    let mut conn = dialer.connect(server.local_addr().unwrap(), impostor_key).unwrap();
    conn.set_read_timeout(Some(TIMEOUT));
    conn.write_all(b"secret").unwrap();
    let err = conn.connected().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    assert_eq!(Error::of(&err), Some(&Error::HandshakeTimeout));
    assert!(!conn.is_connected());
    // Nothing was accepted.
    let err = server.accept_timeout(Duration::from_millis(100)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
}

#[test]
fn unexpected_key_is_refused() {
    let (server, friend, stranger) = (socket(), socket(), socket());
    server.allow_only([friend.public_key()]);
    let addr = server.local_addr().unwrap();

    let mut conn = stranger.connect(addr, server.public_key()).unwrap();
    conn.set_read_timeout(Some(TIMEOUT));
    conn.write_all(b"let me in").unwrap();
    let err = conn.read(&mut [0u8; 8]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    assert_eq!(Error::of(&err), Some(&Error::Refused));
    // Over XX too.
    let conn = stranger.connect_unknown(addr).unwrap();
    conn.set_read_timeout(Some(TIMEOUT));
    let err = conn.connected().and_then(|()| (&conn).read(&mut [0u8; 8])).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");

    // The friend gets in; the stranger was never handed to `accept`.
    let mut ok = friend.connect(addr, server.public_key()).unwrap();
    ok.write_all(b"hi").unwrap();
    let (mut accepted, who) = server.accept_timeout(TIMEOUT).unwrap();
    assert_eq!(who, friend.public_key());
    accepted.set_read_timeout(Some(TIMEOUT));
    let mut buf = [0u8; 8];
    let n = accepted.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"hi");
}

#[test]
fn close_before_the_first_write_never_connects() {
    // Regression: `close` on a lazy connection, then `flush`, started the handshake anyway.
    let (a, b) = (socket(), socket());
    let mut conn = a.connect(b.local_addr().unwrap(), b.public_key()).unwrap();
    conn.close();
    assert!(conn.flush().is_err());
    assert!(conn.write(b"x").is_err());
    assert!(conn.connected().is_err());
    assert!(!conn.is_connected());
    let err = b.accept_timeout(Duration::from_millis(300)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "nobody may arrive: {err}");
    assert_eq!(a.stats().datagrams_sent, 0, "nothing may leave: {:?}", a.stats());
}

#[test]
fn accept_times_out_when_nobody_comes() {
    let a = socket();
    let err = a.accept_timeout(Duration::from_millis(50)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
}

#[test]
fn write_then_drop_everything_still_delivers() {
    // The Go examples' writers: write, then the program ends (connection and socket dropped).
    let server = socket();
    let addr = server.local_addr().unwrap();
    for text in ["Hello from Peer 2", "Hello from Peer 3"] {
        let client = socket();
        let mut conn = client.connect(addr, server.public_key()).unwrap();
        conn.write_all(text.as_bytes()).unwrap();
        let started = Instant::now();
        drop(conn);
        drop(client);
        assert!(started.elapsed() < Duration::from_secs(3));
    }
    for _ in 0..2 {
        let (mut conn, _) = server.accept_timeout(TIMEOUT).unwrap();
        conn.set_read_timeout(Some(TIMEOUT));
        let mut got = String::new();
        conn.read_to_string(&mut got).unwrap();
        assert!(got.starts_with("Hello from Peer "), "{got:?}");
    }
}
