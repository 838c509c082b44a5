//! The runtime boundary: what a runtime provides so that the driver can send, receive and
//! sleep — a UDP socket ([`UdpIo`]) and a resettable timer ([`AsyncTimer`]) — and the two
//! batch shapes that cross it ([`Transmit`] out, [`RecvMeta`] in).
//!
//! The shapes are those of segmentation offload, so that an implementation on quinn-udp
//! (GSO/GRO, `sendmmsg`/`recvmmsg`) fits without touching the rest of the crate:
//! a [`Transmit`] is several datagrams to one destination, all of `segment_size` bytes except
//! possibly a shorter last one; a receive fills several buffers, each of which may hold
//! several datagrams of `stride` bytes from one source.

use std::fmt;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

/// Datagrams to one destination, back to back: every one `segment_size` bytes long except
/// possibly the last, which may be shorter (the GSO shape).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Transmit<'a> {
    /// Where every datagram goes.
    pub destination: SocketAddr,
    /// The size of each datagram but the last (never 0 when `contents` is not empty).
    pub segment_size: usize,
    /// The datagrams, concatenated.
    pub contents: &'a [u8],
}

impl<'a> Transmit<'a> {
    /// The datagrams one by one.
    pub fn datagrams(&self) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        self.contents.chunks(self.segment_size.max(1))
    }

    /// How many datagrams it holds.
    pub fn count(&self) -> usize {
        self.contents.len().div_ceil(self.segment_size.max(1))
    }

    /// The datagrams after the first `sent`.
    pub(crate) fn skip(&self, sent: usize) -> Transmit<'a> {
        let start = sent.saturating_mul(self.segment_size).min(self.contents.len());
        Transmit { contents: &self.contents[start..], ..*self }
    }
}

/// Where one receive buffer's datagrams came from.
#[derive(Clone, Copy, Debug)]
pub struct RecvMeta {
    /// The sender.
    pub addr: SocketAddr,
    /// How many bytes of the buffer were filled.
    pub len: usize,
    /// The size of each datagram in the buffer (GRO); `len` when it holds one datagram.
    pub stride: usize,
}

impl Default for RecvMeta {
    fn default() -> Self {
        RecvMeta { addr: SocketAddr::from(([0, 0, 0, 0], 0)), len: 0, stride: 0 }
    }
}

/// A non-blocking UDP socket, as a runtime provides it. Every method takes `&self`: the
/// application's threads or tasks send through it while the driver receives.
pub trait UdpIo: Send + Sync + fmt::Debug + 'static {
    /// Sends datagrams from the front of `transmit` without blocking; returns how many were
    /// sent (at least one). [`io::ErrorKind::WouldBlock`] means none could be, for now:
    /// wait with [`UdpIo::poll_writable`]. Any other error is about the first unsent datagram.
    fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<usize>;

    /// Ready when the socket may accept datagrams again; otherwise registers `cx`'s waker.
    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// Receives what is queued, without blocking: fills `bufs` and `meta` from the front and
    /// returns how many buffers it filled (at least one). `Pending` when nothing is queued,
    /// with `cx`'s waker registered for readability.
    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>>;

    /// The address the socket is bound to.
    fn local_addr(&self) -> io::Result<SocketAddr>;

    /// The most datagrams one [`Transmit`] may hold (what segmentation offload allows; the
    /// driver caps it at a small batch of its own). By default, any number.
    fn max_transmit_segments(&self) -> usize {
        usize::MAX
    }
}

/// A timer the driver sleeps on until the endpoint's next deadline.
pub trait AsyncTimer: Send + fmt::Debug + 'static {
    /// Makes the timer fire at `deadline` instead.
    fn reset(self: Pin<&mut Self>, deadline: Instant);

    /// Ready once the deadline has passed; otherwise registers `cx`'s waker.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transmit_shape() {
        let contents = [1u8; 10];
        let t = Transmit {
            destination: SocketAddr::from(([127, 0, 0, 1], 9)),
            segment_size: 4,
            contents: &contents,
        };
        assert_eq!(t.count(), 3);
        assert_eq!(t.datagrams().map(<[u8]>::len).collect::<Vec<_>>(), [4, 4, 2]);
        assert_eq!(t.skip(2).count(), 1);
        assert_eq!(t.skip(5).count(), 0);
    }
}
