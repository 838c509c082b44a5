//! The poll API on its own, as an async adapter uses it: two endpoints on loopback, each
//! driven by `drive` on a thread of its own (async-io), the application in `async_io::block_on`;
//! and what stopping a socket sends.

use std::future::poll_fn;
use std::net::UdpSocket;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use lrp2p_driver::{EndpointConfig, Error, Shared, UdpCore, async_io_runtime, generate_identity};

/// An endpoint on 127.0.0.1 and its driver thread.
fn endpoint() -> (Arc<Shared>, JoinHandle<()>) {
    let mut config = EndpointConfig::default();
    config.early_data.start_floor = false;
    config.connection.handshake_timeout = Duration::from_secs(5);
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let (shared, driver) = async_io_runtime::start(socket, generate_identity(), config).expect("start");
    (shared, std::thread::spawn(move || async_io_runtime::run(driver)))
}

/// Bounds a test that would otherwise hang on a bug.
fn with_deadline<T>(future: impl std::future::Future<Output = T>) -> T {
    async_io::block_on(async {
        futures_or(future, async {
            async_io::Timer::after(Duration::from_secs(20)).await;
            panic!("test timed out");
        })
        .await
    })
}

/// The first of two futures to complete (no combinator crate needed).
async fn futures_or<T>(
    a: impl std::future::Future<Output = T>,
    b: impl std::future::Future<Output = T>,
) -> T {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    poll_fn(|cx| match a.as_mut().poll(cx) {
        std::task::Poll::Ready(v) => std::task::Poll::Ready(v),
        std::task::Poll::Pending => b.as_mut().poll(cx),
    })
    .await
}

#[test]
fn write_accept_read_shutdown_acknowledged() {
    let ((a, driver_a), (b, driver_b)) = (endpoint(), endpoint());
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let id = a.open(b.local_addr().expect("addr"), Some(b.public_key())).expect("open");
    // The writer runs beside the reader: the send buffer may be smaller than the data.
    let writer = {
        let (a, data) = (a.clone(), data.clone());
        std::thread::spawn(move || {
            with_deadline(async {
                let mut written = 0;
                while written < data.len() {
                    written += poll_fn(|cx| a.poll_write(id, cx, &data[written..])).await.expect("write");
                }
                poll_fn(|cx| a.poll_shutdown(id, cx)).await.expect("shutdown");
                poll_fn(|cx| a.poll_acknowledged(id, cx)).await.expect("acknowledged");
                // After shutdown, writing is a broken pipe.
                assert_eq!(poll_fn(|cx| a.poll_write(id, cx, b"x")).await, Err(Error::Shutdown));
            })
        })
    };
    with_deadline(async {
        let (incoming, peer) = poll_fn(|cx| b.poll_accept(cx)).await.expect("accept");
        assert_eq!(peer, a.public_key());
        let mut got = Vec::new();
        let mut buf = [0u8; 65_536];
        loop {
            let n = poll_fn(|cx| b.poll_read(incoming, cx, &mut buf)).await.expect("read");
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, data);
    });
    writer.join().expect("writer");
    a.stop(Duration::ZERO);
    b.stop(Duration::ZERO);
    assert!(a.is_stopped());
    assert_eq!(with_deadline(poll_fn(|cx| a.poll_accept(cx))), Err(Error::SocketClosed));
    driver_a.join().expect("driver a");
    driver_b.join().expect("driver b");
}

/// A bulk transfer leaves in segmentation-offload batches where the system offers them, and
/// arrives in GRO buffers: many datagrams per system call each way.
#[test]
fn bulk_moves_many_datagrams_per_call() {
    let ((a, driver_a), (b, driver_b)) = (endpoint(), endpoint());
    let total = 8 << 20;
    let id = a.open(b.local_addr().expect("addr"), Some(b.public_key())).expect("open");
    let writer = {
        let a = a.clone();
        std::thread::spawn(move || {
            with_deadline(async {
                let data = vec![0x5a; 65_536];
                let mut written = 0;
                while written < total {
                    let end = data.len().min(total - written);
                    written += poll_fn(|cx| a.poll_write(id, cx, &data[..end])).await.expect("write");
                }
                poll_fn(|cx| a.poll_shutdown(id, cx)).await.expect("shutdown");
                poll_fn(|cx| a.poll_acknowledged(id, cx)).await.expect("acknowledged");
            })
        })
    };
    with_deadline(async {
        let (incoming, _) = poll_fn(|cx| b.poll_accept(cx)).await.expect("accept");
        let (mut got, mut buf) = (0, vec![0u8; 65_536]);
        loop {
            match poll_fn(|cx| b.poll_read(incoming, cx, &mut buf)).await.expect("read") {
                0 => break,
                n => got += n,
            }
        }
        assert_eq!(got, total);
    });
    writer.join().expect("writer");
    let (sent, received) = (a.io_stats(), b.io_stats());
    assert!(sent.datagrams_sent >= (total / 1400) as u64);
    assert!(received.datagrams_received >= (total / 1400) as u64);
    let probe = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let core = UdpCore::configure(&probe).expect("core");
    if core.max_transmit_segments() > 1 {
        let per_call = sent.datagrams_sent / sent.send_calls.max(1);
        assert!(per_call >= 4, "{per_call} datagrams per send: {sent:?}");
    }
    if core.gro_segments() > 1 {
        let per_call = received.datagrams_received / received.recv_calls.max(1);
        assert!(per_call >= 4, "{per_call} datagrams per receive: {received:?}");
    }
    a.stop(Duration::ZERO);
    b.stop(Duration::ZERO);
    driver_a.join().expect("driver a");
    driver_b.join().expect("driver b");
}

/// Regression: stopping a socket tells the peer of a connection finished both ways with a
/// CLOSE NO_ERROR (PROTOCOL.md §8.7), which carries the final ACK; without it, a peer whose
/// last ACKs were lost retransmitted its FIN into a closed port until its idle timeout. (The
/// proto's `close_after_finish` test shows what the peer does with it.)
#[test]
fn stop_sends_a_close_for_connections_finished_both_ways() {
    let ((a, driver_a), (b, driver_b)) = (endpoint(), endpoint());
    let id = a.open(b.local_addr().expect("addr"), Some(b.public_key())).expect("open");
    with_deadline(async {
        poll_fn(|cx| a.poll_write(id, cx, b"from a")).await.expect("write");
        poll_fn(|cx| a.poll_shutdown(id, cx)).await.expect("shutdown");
        let (incoming, _) = poll_fn(|cx| b.poll_accept(cx)).await.expect("accept");
        poll_fn(|cx| b.poll_write(incoming, cx, b"from b")).await.expect("write");
        poll_fn(|cx| b.poll_shutdown(incoming, cx)).await.expect("shutdown");
        let mut buf = [0u8; 64];
        while poll_fn(|cx| a.poll_read(id, cx, &mut buf)).await.expect("read") > 0 {}
        while poll_fn(|cx| b.poll_read(incoming, cx, &mut buf)).await.expect("read") > 0 {}
        poll_fn(|cx| a.poll_acknowledged(id, cx)).await.expect("acknowledged");
        poll_fn(|cx| b.poll_acknowledged(incoming, cx)).await.expect("acknowledged");
    });
    // Both streams finished at A: nothing is left to send, but the CLOSE.
    let before = a.io_stats().datagrams_sent;
    a.stop(Duration::ZERO);
    assert!(a.io_stats().datagrams_sent > before, "no CLOSE sent at stop");
    b.stop(Duration::ZERO);
    driver_a.join().expect("driver a");
    driver_b.join().expect("driver b");
}
