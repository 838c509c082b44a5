//! `Socket::connect_many` and `Socket::punch` on real loopback sockets (PROTOCOL.md §13.6,
//! §13.9): the initiation goes to every address and the one that answers becomes the path; a
//! PUNCH from the peer shows the dialing side an address it did not know.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, UdpSocket};

use common::{TIMEOUT, socket};

/// A loopback address where nothing answers (a bound socket nobody reads).
fn silent() -> (UdpSocket, SocketAddr) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = s.local_addr().unwrap();
    (s, addr)
}

#[test]
fn the_answering_address_becomes_the_path() {
    let server = socket();
    let client = socket();
    let (_hold, dead) = silent();
    let mut conn =
        client.connect_many(&[dead, server.local_addr().unwrap()], server.public_key(), None).unwrap();
    conn.write_all(b"hello").unwrap();
    let (mut accepted, _) = server.accept_timeout(TIMEOUT).unwrap();
    accepted.set_read_timeout(Some(TIMEOUT));
    let mut got = [0u8; 5];
    accepted.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello");
    accepted.write_all(b"back!").unwrap();
    conn.set_read_timeout(Some(TIMEOUT));
    conn.read_exact(&mut got).unwrap();
    assert_eq!(conn.path().unwrap().remote, server.local_addr().unwrap());
}

#[test]
fn a_punch_shows_the_dialing_side_where_the_peer_is() {
    let server = socket();
    let client = socket();
    let (_hold, wrong) = silent();
    let mut conn = client.connect_many(&[wrong], server.public_key(), None).unwrap();
    conn.write_all(b"hello").unwrap();
    assert_eq!(server.punch(client.public_key(), &[client.local_addr().unwrap()]), 1);
    let (mut accepted, _) = server.accept_timeout(TIMEOUT).unwrap();
    accepted.set_read_timeout(Some(TIMEOUT));
    let mut got = [0u8; 5];
    accepted.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello");
    // The client learns the path from the response: wait for data that came after it.
    accepted.write_all(b"back!").unwrap();
    conn.set_read_timeout(Some(TIMEOUT));
    conn.read_exact(&mut got).unwrap();
    assert_eq!(conn.path().unwrap().remote, server.local_addr().unwrap());
    assert!(client.stats().punches_received >= 1);
}

#[test]
fn no_usable_address_is_invalid_input() {
    let client = socket();
    let key = socket().public_key();
    let err = client.connect_many(&["0.0.0.0:9".parse().unwrap()], key, None).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}
