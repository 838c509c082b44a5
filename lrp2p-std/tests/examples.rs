//! The Go README's two examples as tests: hello world, and one socket accepting two peers.

mod common;

use std::io::{Read, Write};

use common::{TIMEOUT, socket};

#[test]
fn hello_world() {
    let (peer1, peer2) = (socket(), socket());
    let mut conn = peer1.connect(peer2.local_addr().unwrap(), peer2.public_key()).unwrap();
    conn.write_all(b"Hello World").unwrap();

    let (mut conn2, who) = peer2.accept_timeout(TIMEOUT).unwrap();
    assert_eq!(who, peer1.public_key());
    conn2.set_read_timeout(Some(TIMEOUT));
    let mut buf = [0u8; 32];
    let n = conn2.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"Hello World");
    // The 0-RTT data was accepted: it came in the first datagram.
    assert_eq!(peer2.stats().early_data_accepted, 1);
}

#[test]
fn hello_world_without_the_key() {
    let (peer1, peer2) = (socket(), socket());
    let mut conn = peer1.connect_unknown(peer2.local_addr().unwrap()).unwrap();
    conn.write_all(b"Hello World").unwrap();
    let (mut conn2, who) = peer2.accept_timeout(TIMEOUT).unwrap();
    assert_eq!(who, peer1.public_key());
    conn2.set_read_timeout(Some(TIMEOUT));
    let mut buf = [0u8; 32];
    let n = conn2.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"Hello World");
    conn.set_read_timeout(Some(TIMEOUT));
    conn.connected().unwrap();
    assert_eq!(conn.peer_public_key(), Some(peer2.public_key()));
}

#[test]
fn one_socket_accepts_two_peers() {
    let (peer1, peer2, peer3) = (socket(), socket(), socket());
    let addr = peer1.local_addr().unwrap();
    let mut c2 = peer2.connect(addr, peer1.public_key()).unwrap();
    c2.write_all(b"Hello from Peer 2").unwrap();
    let mut c3 = peer3.connect(addr, peer1.public_key()).unwrap();
    c3.write_all(b"Hello from Peer 3").unwrap();

    let mut got = Vec::new();
    for _ in 0..2 {
        let (mut conn, who) = peer1.accept_timeout(TIMEOUT).unwrap();
        conn.set_read_timeout(Some(TIMEOUT));
        let mut buf = [0u8; 64];
        let n = conn.read(&mut buf).unwrap();
        let text = String::from_utf8(buf[..n].to_vec()).unwrap();
        let expected = if who == peer2.public_key() { "Hello from Peer 2" } else { "Hello from Peer 3" };
        assert_eq!(text, expected);
        got.push(text);
    }
    got.sort();
    assert_eq!(got, ["Hello from Peer 2", "Hello from Peer 3"]);
}
