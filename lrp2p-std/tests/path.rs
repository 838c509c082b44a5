//! `Connection::path` on real sockets (PROTOCOL.md §13.1): each side of a connection reports a
//! direct path to the other's address, validated once the peers exchanged data, and nothing
//! being validated.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};

use common::{TIMEOUT, socket};
use lrp2p_std::PathKind;

#[test]
fn both_sides_report_a_direct_validated_path_to_each_other() {
    let server = socket();
    let client = socket();
    let mut conn = client.connect(server.local_addr().unwrap(), server.public_key()).unwrap();
    conn.write_all(b"ping").unwrap();
    let (mut accepted, _) = server.accept_timeout(TIMEOUT).unwrap();
    accepted.set_read_timeout(Some(TIMEOUT));
    let mut got = [0u8; 4];
    accepted.read_exact(&mut got).unwrap();
    accepted.write_all(b"pong").unwrap();
    conn.set_read_timeout(Some(TIMEOUT));
    conn.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"pong");
    // "ping" rode in the IK initiation; this rides in a transport packet, which validates the
    // initiator's address for the responder (PROTOCOL.md §10.4).
    conn.write_all(b"more").unwrap();
    accepted.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"more");

    let outgoing = conn.path().unwrap();
    assert_eq!(outgoing.kind, PathKind::Direct);
    assert_eq!(outgoing.remote, server.local_addr().unwrap());
    assert!(outgoing.validated, "the initiator chose the address itself");
    assert_eq!(outgoing.candidate, None);

    let incoming = accepted.path().unwrap();
    assert_eq!(incoming.kind, PathKind::Direct);
    assert_eq!(incoming.remote, client.local_addr().unwrap());
    assert!(incoming.validated, "the initiator's transport packet proved its address");
    assert_eq!(incoming.candidate, None);
}
