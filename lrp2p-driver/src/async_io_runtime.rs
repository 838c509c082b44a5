//! The runtime pieces on [async-io](async_io): [`AsyncIoUdp`] (a non-blocking
//! [`std::net::UdpSocket`] registered with async-io's reactor) and [`AsyncIoTimer`]. Both
//! lrp2p-std (which runs the driver with [`run`] on a thread of its own) and lrp2p-async-std
//! (on async-std or smol alike) use them.
//!
//! The system calls are [`UdpCore`]'s (GSO/GRO, `recvmmsg`, with their fallbacks); this module
//! adds async-io's readiness around them.

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
use crate::udp::UdpCore;

/// A UDP socket on async-io's reactor.
#[derive(Debug)]
pub struct AsyncIoUdp {
    socket: Async<UdpSocket>,
    core: UdpCore,
}

impl AsyncIoUdp {
    /// Switches `socket` to non-blocking, enables segmentation offload where the system offers
    /// it, asks for large socket buffers ([`UdpCore::configure`]), and registers it with the
    /// reactor.
    pub fn new(socket: UdpSocket) -> io::Result<Self> {
        let core = UdpCore::configure(&socket)?;
        Ok(AsyncIoUdp { socket: Async::new(socket)?, core })
    }

    /// The offload state and system calls.
    pub fn core(&self) -> &UdpCore {
        &self.core
    }
}

impl UdpIo for AsyncIoUdp {
    fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<usize> {
        self.core.try_send(self.socket.get_ref().into(), transmit)
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
        loop {
            match self.core.recv(self.socket.get_ref().into(), bufs, meta) {
                Ok(0) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                result => return Poll::Ready(result),
            }
            ready!(self.socket.poll_readable(cx))?;
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.get_ref().local_addr()
    }

    fn max_transmit_segments(&self) -> usize {
        self.core.max_transmit_segments()
    }

    fn max_receive_segments(&self) -> usize {
        self.core.gro_segments()
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
    identity: lrp2p_proto::StaticSecret,
    config: lrp2p_proto::EndpointConfig,
) -> io::Result<(Arc<Shared>, impl Future<Output = ()> + Send + 'static)> {
    let shared = Shared::new(Arc::new(AsyncIoUdp::new(socket)?), identity, config);
    let driver = crate::drive(shared.clone(), AsyncIoTimer::default());
    Ok((shared, driver))
}

/// Runs `driver` (from [`start`]) on the current thread until the socket is stopped.
pub fn run(driver: impl Future<Output = ()>) {
    async_io::block_on(driver);
}
