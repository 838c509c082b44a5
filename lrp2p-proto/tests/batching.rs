//! `Endpoint::poll_transmit_batch`: the endpoint builds segmentation-offload batches — equal
//! datagrams to one destination, the last possibly shorter — from one connection, and from
//! several connections that send to the same peer socket.

mod common;

use std::time::Duration;

use common::Pair;

/// Splits a batch into its datagrams.
fn datagrams(buf: &[u8], len: usize, segment: usize) -> Vec<usize> {
    buf[..len].chunks(segment).map(<[u8]>::len).collect()
}

#[test]
fn connections_to_one_peer_share_a_batch() {
    let mut p = Pair::new(41);
    let (a1, _) = p.connect(true);
    let (a2, _) = p.connect(true);
    p.drive_for(Duration::from_millis(200));
    let now = p.now;
    // Each connection may send its initial window (10 datagrams) of these 40 KB.
    for conn in [a1, a2] {
        let written = p.a.write(now, conn, &[9u8; 40_000]).unwrap();
        assert_eq!(written, 40_000);
    }
    let mut buf = vec![0u8; 64 * 1500];
    let t = p.a.poll_transmit_batch(now, &mut buf, 64).expect("a batch");
    assert_eq!(t.destination, p.b_addr);
    let sizes = datagrams(&buf, t.len, t.segment_size);
    // More than one connection's window: the second connection's datagrams joined the first's.
    assert!(sizes.len() > 10, "{sizes:?}");
    assert!(sizes[..sizes.len() - 1].iter().all(|&n| n == t.segment_size), "{sizes:?}");
    // Every datagram is a valid packet of one of the two connections: B takes them all.
    let before = p.b.stats().datagrams_received;
    for chunk in buf[..t.len].chunks(t.segment_size) {
        let mut d = chunk.to_vec();
        p.b.handle_datagram(now, p.a_addr, &mut d);
    }
    let stats = p.b.stats();
    assert_eq!(stats.datagrams_received - before, sizes.len() as u64);
    assert_eq!((stats.malformed, stats.unknown_connection), (0, 0));
}

#[test]
fn a_batch_never_mixes_destinations_and_respects_the_limit() {
    let mut p = Pair::new(42);
    let (a1, _) = p.connect(true);
    p.drive_for(Duration::from_millis(200));
    let now = p.now;
    p.a.write(now, a1, &[1u8; 40_000]).unwrap();
    // A second connection to a peer nobody answers at: its initiation is a batch of its own.
    let elsewhere = "10.0.0.9:9".parse().unwrap();
    let a2 = p.a.connect(now, elsewhere, Some(p.b.public_key())).unwrap();
    p.a.write(now, a2, b"hello").unwrap();
    let mut buf = vec![0u8; 64 * 1500];
    let mut seen = Vec::new();
    while let Some(t) = p.a.poll_transmit_batch(now, &mut buf, 4) {
        let sizes = datagrams(&buf, t.len, t.segment_size);
        assert!(sizes.len() <= 4, "{sizes:?}");
        seen.push((t.destination, sizes.len()));
    }
    assert!(seen.iter().any(|&(d, _)| d == elsewhere));
    assert!(seen.iter().filter(|&&(d, _)| d == elsewhere).all(|&(_, n)| n == 1), "{seen:?}");
    assert!(seen.iter().filter(|&&(d, _)| d == p.b_addr).map(|&(_, n)| n).sum::<usize>() >= 8, "{seen:?}");
}
