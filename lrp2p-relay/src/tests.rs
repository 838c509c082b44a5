//! Relay tests with plain UDP sockets on loopback.

use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::{Instant, timeout};

use super::*;

/// Every receive gives up after this.
const WAIT: Duration = Duration::from_secs(5);

async fn loopback() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.expect("bind")
}

async fn relay_to(target: SocketAddr, imp: Impairment, seed: u64) -> Relay {
    spawn(loopback().await, target, imp, seed).expect("relay")
}

/// Echoes every datagram back to its sender, forever.
fn echo(socket: UdpSocket) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let _ = socket.send_to(&buf[..n], from).await;
        }
    })
}

/// Receives numbered datagrams in a task (so that the socket buffer never overflows) until
/// `quiet` passes without one after the first.
fn collect(socket: UdpSocket, quiet: Duration) -> JoinHandle<Vec<u32>> {
    tokio::spawn(async move {
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        let mut wait = WAIT;
        while let Ok(Ok(n)) = timeout(wait, socket.recv(&mut buf)).await {
            if n >= 4 {
                got.push(u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]));
            }
            wait = quiet;
        }
        got
    })
}

/// Sends `count` numbered 100-byte datagrams, pausing 1 ms every `gap_every`.
async fn send_numbered(socket: &UdpSocket, to: SocketAddr, count: u32, gap_every: u32) {
    for i in 0..count {
        let mut d = [0u8; 100];
        d[..4].copy_from_slice(&i.to_be_bytes());
        socket.send_to(&d, to).await.expect("send");
        if gap_every > 0 && i % gap_every == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_fraction_is_roughly_right_and_seeded() {
    let target = loopback().await;
    let relay =
        relay_to(target.local_addr().expect("addr"), Impairment { loss: 0.2, ..Impairment::default() }, 7)
            .await;
    let collector = collect(target, Duration::from_millis(300));
    let client = loopback().await;
    send_numbered(&client, relay.addr, 2000, 10).await;
    let got = collector.await.expect("join");
    let fraction = 1.0 - got.len() as f64 / 2000.0;
    assert!((0.15..0.25).contains(&fraction), "loss {fraction}");
    let c = relay.counters.snapshot();
    assert_eq!(c.lost + c.forwarded, 2000, "{c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_is_applied_both_ways() {
    let target = loopback().await;
    let addr = target.local_addr().expect("addr");
    let _echo = echo(target);
    let imp = Impairment { delay: Duration::from_millis(30), ..Impairment::default() };
    let relay = relay_to(addr, imp, 1).await;
    let client = loopback().await;
    let start = Instant::now();
    client.send_to(&[0, 0, 0, 1], relay.addr).await.expect("send");
    let mut buf = [0u8; 16];
    let n = timeout(WAIT, client.recv(&mut buf)).await.expect("echo in time").expect("recv");
    let rtt = start.elapsed();
    assert_eq!(&buf[..n], &[0, 0, 0, 1]);
    assert!(rtt >= Duration::from_millis(60), "{rtt:?}");
    assert!(rtt < Duration::from_millis(1000), "{rtt:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_is_kept_with_jitter_and_without_reorder() {
    let target = loopback().await;
    let imp = Impairment {
        delay: Duration::from_millis(5),
        jitter: Duration::from_millis(4),
        ..Impairment::default()
    };
    let relay = relay_to(target.local_addr().expect("addr"), imp, 3).await;
    let collector = collect(target, Duration::from_millis(300));
    let client = loopback().await;
    send_numbered(&client, relay.addr, 500, 10).await;
    let got = collector.await.expect("join");
    assert_eq!(got, (0..500).collect::<Vec<u32>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorder_reorders() {
    let target = loopback().await;
    let imp = Impairment { reorder: 0.3, delay: Duration::from_millis(5), ..Impairment::default() };
    let relay = relay_to(target.local_addr().expect("addr"), imp, 3).await;
    let collector = collect(target, Duration::from_millis(300));
    let client = loopback().await;
    send_numbered(&client, relay.addr, 300, 10).await;
    let got = collector.await.expect("join");
    assert_eq!(got.len(), 300);
    assert!(got.windows(2).any(|w| w[1] < w[0]), "no reordering seen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_clients_get_their_own_replies() {
    let target = loopback().await;
    let addr = target.local_addr().expect("addr");
    let _echo = echo(target);
    let relay = relay_to(addr, Impairment::default(), 1).await;
    let (a, b) = (loopback().await, loopback().await);
    a.send_to(b"from-a", relay.addr).await.expect("a");
    b.send_to(b"from-b", relay.addr).await.expect("b");
    let mut buf = [0u8; 16];
    let n = timeout(WAIT, a.recv(&mut buf)).await.expect("a in time").expect("a");
    assert_eq!(&buf[..n], b"from-a");
    let n = timeout(WAIT, b.recv(&mut buf)).await.expect("b in time").expect("b");
    assert_eq!(&buf[..n], b"from-b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_paces_delivery() {
    let target = loopback().await;
    // 800 kbit/s: 100 datagrams of 100 bytes take at least 100 ms.
    let imp = Impairment { rate_bps: Some(8e5), queue_bytes: 1 << 20, ..Impairment::default() };
    let relay = relay_to(target.local_addr().expect("addr"), imp, 1).await;
    let collector = collect(target, Duration::from_millis(300));
    let client = loopback().await;
    let start = Instant::now();
    send_numbered(&client, relay.addr, 100, 10).await;
    let got = collector.await.expect("join");
    // The collector waited 300 ms of silence after the last datagram.
    let took = start.elapsed().saturating_sub(Duration::from_millis(300));
    assert_eq!(got.len(), 100);
    assert!(took >= Duration::from_millis(95), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_clients_are_evicted_when_the_table_is_full() {
    let target = loopback().await;
    let addr = target.local_addr().expect("addr");
    let _echo = echo(target);
    let limits = Limits { max_clients: 2, idle: Duration::from_millis(1000) };
    let relay = spawn_with(loopback().await, addr, Impairment::default(), 1, limits).expect("relay");
    let (a, b, c) = (loopback().await, loopback().await, loopback().await);
    let mut buf = [0u8; 16];
    for (s, msg) in [(&a, b"a"), (&b, b"b")] {
        s.send_to(msg, relay.addr).await.expect("send");
        let n = timeout(WAIT, s.recv(&mut buf)).await.expect("echo in time").expect("recv");
        assert_eq!(&buf[..n], msg);
    }
    // The table is full of active clients: a third is dropped.
    c.send_to(b"c", relay.addr).await.expect("send");
    assert!(timeout(Duration::from_millis(300), c.recv(&mut buf)).await.is_err(), "c served");
    assert_eq!(relay.counters.snapshot().overflow, 1);
    // Once the first two have been idle long enough, they make room.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    c.send_to(b"c", relay.addr).await.expect("send");
    let n = timeout(WAIT, c.recv(&mut buf)).await.expect("c served in time").expect("recv");
    assert_eq!(&buf[..n], b"c");
    assert_eq!(relay.counters.snapshot().evicted, 2);
    // An evicted client that comes back is a new client.
    a.send_to(b"a", relay.addr).await.expect("send");
    let n = timeout(WAIT, a.recv(&mut buf)).await.expect("a served again").expect("recv");
    assert_eq!(&buf[..n], b"a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_direction_is_counted_on_its_own() {
    let target = loopback().await;
    let addr = target.local_addr().expect("addr");
    let _echo = echo(target);
    let imp = Impairment {
        loss: 0.1,
        reorder: 0.2,
        reorder_hold: Some(Duration::from_millis(2)),
        ..Impairment::default()
    };
    let relay = relay_to(addr, imp, 5).await;
    let client = Arc::new(loopback().await);
    let sender = {
        let (client, to) = (client.clone(), relay.addr);
        tokio::spawn(async move { send_numbered(&client, to, 1000, 10).await })
    };
    let mut echoed = 0u64;
    let mut buf = [0u8; 2048];
    let mut wait = WAIT;
    while let Ok(Ok(_)) = timeout(wait, client.recv(&mut buf)).await {
        echoed += 1;
        wait = Duration::from_millis(300);
    }
    sender.await.expect("sender");
    let (up, down) = (relay.counters.upstream.snapshot(), relay.counters.downstream.snapshot());
    assert_eq!(up.forwarded + up.lost, 1000, "{up:?}");
    assert_eq!(down.forwarded + down.lost, up.forwarded, "{down:?}");
    assert_eq!(down.forwarded, echoed);
    assert_eq!(up.forwarded_bytes, 100 * up.forwarded);
    assert!((50..150).contains(&up.lost), "{up:?}");
    assert!(up.held > 100 && down.held > 100, "{up:?} {down:?}");
    assert_eq!((up.queue_full, up.backlog, down.queue_full, down.backlog), (0, 0, 0, 0));
    let total = relay.counters.snapshot();
    assert_eq!(total.forwarded, up.forwarded + down.forwarded);
    assert_eq!(total.lost, up.lost + down.lost);
    assert_eq!(total.overflow, 0);
}
