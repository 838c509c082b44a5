//! The runtime pieces on tokio: [`TokioUdp`], the driver's [`UdpIo`] on a
//! [`tokio::net::UdpSocket`], and [`TokioTimer`], its [`AsyncTimer`] on [`tokio::time::Sleep`].
//!
//! The I/O is the plain one: a loop of `try_send_to` / `try_recv_from`, one system call per
//! datagram. Both go through tokio's `try_io`, which clears the socket's readiness when the
//! kernel says `WouldBlock`, so the following `poll_send_ready` / `poll_recv_ready` registers
//! the waker instead of reporting stale readiness. (GSO/GRO through quinn-udp is to replace
//! this module's body; nothing else in the crate depends on how it sends and receives.)

use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use lrp2p_driver::{AsyncTimer, RecvMeta, Transmit, UdpIo};
use tokio::net::UdpSocket;
use tokio::time::Sleep;

/// A UDP socket on tokio's reactor.
#[derive(Debug)]
pub(crate) struct TokioUdp {
    socket: UdpSocket,
}

impl TokioUdp {
    pub(crate) fn new(socket: UdpSocket) -> Self {
        TokioUdp { socket }
    }
}

/// Retries a system call interrupted by a signal.
fn retry<T>(mut call: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}

impl UdpIo for TokioUdp {
    fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<usize> {
        let mut sent = 0;
        for datagram in transmit.datagrams() {
            match retry(|| self.socket.try_send_to(datagram, transmit.destination)) {
                Ok(_) => sent += 1,
                Err(e) if sent == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(sent)
    }

    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.socket.poll_send_ready(cx)
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let slots = bufs.len().min(meta.len());
        loop {
            let (mut filled, mut error) = (0, None);
            // Errors (ICMP reports on some systems) are skipped; at most `slots` of them.
            for _ in 0..slots {
                let Some(buf) = bufs.get_mut(filled) else { break };
                match retry(|| self.socket.try_recv_from(buf)) {
                    Ok((len, addr)) => {
                        if let Some(m) = meta.get_mut(filled) {
                            *m = RecvMeta { addr, len, stride: len };
                        }
                        filled += 1;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => error = Some(e),
                }
            }
            if filled > 0 {
                return Poll::Ready(Ok(filled));
            }
            if let Some(error) = error {
                return Poll::Ready(Err(error));
            }
            // The WouldBlock above cleared the readiness: this registers `cx` (or finds new data).
            ready!(self.socket.poll_recv_ready(cx))?;
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }
}

/// A tokio timer (boxed: [`Sleep`] is not `Unpin`, and the driver resets it in place).
#[derive(Debug)]
pub(crate) struct TokioTimer(Pin<Box<Sleep>>);

impl TokioTimer {
    /// A timer that fires in a day, until the driver resets it. Needs tokio's time driver.
    pub(crate) fn new() -> Self {
        TokioTimer(Box::pin(tokio::time::sleep(Duration::from_secs(86_400))))
    }
}

impl AsyncTimer for TokioTimer {
    fn reset(self: Pin<&mut Self>, deadline: Instant) {
        self.get_mut().0.as_mut().reset(tokio::time::Instant::from_std(deadline));
    }

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().0.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use super::*;

    async fn bound() -> TokioUdp {
        TokioUdp::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"))
    }

    #[tokio::test]
    async fn receives_a_batch() {
        // (`Transmit` cannot be built outside lrp2p-driver: sending is covered by the
        // integration tests.)
        let (a, b) = (bound().await, bound().await);
        let to = b.local_addr().expect("addr");
        for datagram in [&[0u8, 1, 2, 3][..], &[4, 5, 6, 7], &[8, 9]] {
            a.socket.send_to(datagram, to).await.expect("send");
        }

        let mut storage = [[0u8; 16]; 4];
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while got.len() < 3 && tokio::time::Instant::now() < deadline {
            let mut bufs: Vec<IoSliceMut<'_>> = storage.iter_mut().map(|b| IoSliceMut::new(b)).collect();
            let mut meta = [RecvMeta::default(); 4];
            let n = tokio::time::timeout(
                Duration::from_secs(5),
                poll_fn(|cx| b.poll_recv(cx, &mut bufs, &mut meta)),
            )
            .await
            .expect("receive timed out")
            .expect("receive");
            for (buf, m) in bufs.iter().zip(&meta).take(n) {
                assert_eq!(m.addr, a.local_addr().expect("addr"));
                assert_eq!(m.stride, m.len);
                got.push(buf[..m.len].to_vec());
            }
        }
        assert_eq!(got, [vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
        // Nothing more queued: pending, with readiness cleared and the waker registered.
        let mut bufs = [IoSliceMut::new(&mut storage[0])];
        let mut meta = [RecvMeta::default()];
        let waker = std::task::Waker::noop();
        assert!(b.poll_recv(&mut Context::from_waker(waker), &mut bufs, &mut meta).is_pending());
    }

    #[tokio::test]
    async fn timer_fires_at_its_reset_deadline() {
        let mut timer = Box::pin(TokioTimer::new());
        let started = Instant::now();
        timer.as_mut().reset(started + Duration::from_millis(20));
        tokio::time::timeout(Duration::from_secs(5), poll_fn(|cx| timer.as_mut().poll(cx)))
            .await
            .expect("timer never fired");
        assert!(started.elapsed() >= Duration::from_millis(20));
    }
}
