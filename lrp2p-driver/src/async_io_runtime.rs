//! The runtime pieces on [async-io](async_io): [`AsyncIoUdp`] (a non-blocking
//! [`std::net::UdpSocket`] registered with async-io's reactor) and [`AsyncIoTimer`]. Both
//! lrp2p-std (which runs the driver with [`run`] on a thread of its own) and lrp2p-async-std
//! (on async-std or smol alike) use them.
//!
//! The I/O is the plain one: a loop of `send_to` / `recv_from`, one system call per datagram.

use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use async_io::{Async, Timer};

use crate::io::{AsyncTimer, RecvMeta, Transmit, UdpIo};
use crate::shared::Shared;

/// A UDP socket on async-io's reactor.
#[derive(Debug)]
pub struct AsyncIoUdp {
    socket: Async<UdpSocket>,
}

impl AsyncIoUdp {
    /// Switches `socket` to non-blocking and registers it with the reactor.
    pub fn new(socket: UdpSocket) -> io::Result<Self> {
        Ok(AsyncIoUdp { socket: Async::new(socket)? })
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

impl UdpIo for AsyncIoUdp {
    fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<usize> {
        let socket = self.socket.get_ref();
        let mut sent = 0;
        for datagram in transmit.datagrams() {
            match retry(|| socket.send_to(datagram, transmit.destination)) {
                Ok(_) => sent += 1,
                Err(e) if sent == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(sent)
    }

    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.socket.poll_writable(cx)
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let socket = self.socket.get_ref();
        let slots = bufs.len().min(meta.len());
        loop {
            let (mut filled, mut error) = (0, None);
            // Errors (ICMP reports on some systems) are skipped; at most `slots` of them.
            for _ in 0..slots {
                let Some(buf) = bufs.get_mut(filled) else { break };
                match retry(|| socket.recv_from(buf)) {
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
            ready!(self.socket.poll_readable(cx))?;
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.get_ref().local_addr()
    }
}

/// An async-io timer.
#[derive(Debug)]
pub struct AsyncIoTimer(Timer);

impl Default for AsyncIoTimer {
    fn default() -> Self {
        AsyncIoTimer(Timer::never())
    }
}

impl AsyncTimer for AsyncIoTimer {
    fn reset(self: Pin<&mut Self>, deadline: Instant) {
        self.get_mut().0.set_at(deadline);
    }

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.get_mut().0).poll(cx).map(|_| ())
    }
}

/// Binds the endpoint to `socket`: the shared state, and the driver future to spawn (or to
/// [`run`]).
pub fn start(
    socket: UdpSocket,
    identity: lrp2p_proto::identity::StaticSecret,
    config: lrp2p_proto::config::EndpointConfig,
) -> io::Result<(Arc<Shared>, impl Future<Output = ()> + Send + 'static)> {
    let shared = Shared::new(Arc::new(AsyncIoUdp::new(socket)?), identity, config);
    let driver = crate::drive(shared.clone(), AsyncIoTimer::default());
    Ok((shared, driver))
}

/// Runs `driver` (from [`start`]) on the current thread until the socket is stopped.
pub fn run(driver: impl Future<Output = ()>) {
    async_io::block_on(driver);
}
