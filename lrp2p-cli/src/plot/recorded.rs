//! `send --plot`: a [`Link`] that records a [`Point`](super::Point) of the connection it
//! wraps every [`STEP`](super::STEP) while the transfer runs. The points are taken when the
//! transfer polls the link (each write, each acknowledgement that frees buffer space, and the
//! bar's 100 ms refresh while the sender waits for the verdict), so the transfer's code does
//! not change; the goodput is that of the bytes the receiver acknowledged.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use lrp2p_proto::{ConnectionStats, PublicKey};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use super::Recorder;
use crate::net::{Link, Pending};

/// Stream bytes the peer has acknowledged, by the transport's statistics.
pub(crate) fn acknowledged(stats: Option<ConnectionStats>) -> u64 {
    stats.map_or(0, |s| s.stream_bytes_written.saturating_sub(s.send_buffered))
}

/// A link whose polls feed a shared [`Recorder`].
pub(crate) struct Recorded<L> {
    /// The connection.
    inner: L,
    /// Where its points go (the caller keeps the other handle).
    recorder: Arc<Mutex<Recorder>>,
}

impl<L: Link> Recorded<L> {
    /// Wraps `inner`, recording into `recorder`.
    pub(crate) fn new(inner: L, recorder: Arc<Mutex<Recorder>>) -> Recorded<L> {
        Recorded { inner, recorder }
    }

    /// Takes a point if one is due.
    fn sample(&self) {
        let now = Instant::now();
        let stats = self.inner.link_stats();
        let mut recorder = self.recorder.lock().unwrap_or_else(PoisonError::into_inner);
        if now >= recorder.next_at() {
            recorder.poll(now, acknowledged(stats), stats);
        } else {
            // The last figures seen: the final point uses them when the connection is gone by
            // then (a transfer shorter than a step has no other).
            recorder.remember(stats);
        }
    }
}

impl<L: Link> AsyncRead for Recorded<L> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.sample();
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<L: Link> AsyncWrite for Recorded<L> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.sample();
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.sample();
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<L: Link> Link for Recorded<L> {
    fn link_stats(&self) -> Option<ConnectionStats> {
        self.inner.link_stats()
    }
    fn link_path(&self) -> Option<lrp2p_proto::PathInfo> {
        self.inner.link_path()
    }
    fn peer_key(&self) -> Option<PublicKey> {
        self.inner.peer_key()
    }
    fn acknowledged(&self) -> Pending<'_> {
        self.inner.acknowledged()
    }
    fn close(&self) {
        self.inner.close();
    }
    fn close_with(&self, code: u16, reason: &str) {
        self.inner.close_with(code, reason);
    }
    fn peer_addr(&self) -> Option<SocketAddr> {
        self.inner.peer_addr()
    }
    fn confirmed(&self) -> Pending<'_> {
        self.inner.confirmed()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    #[tokio::test]
    async fn polls_a_step_apart_take_points() {
        let (a, mut b) = tokio::io::duplex(1024);
        let recorder = Arc::new(Mutex::new(Recorder::new(Instant::now(), true)));
        let mut link = Recorded::new(a, Arc::clone(&recorder));
        for _ in 0..5 {
            link.write_all(b"x").await.expect("write");
            let mut byte = [0u8; 1];
            b.read_exact(&mut byte).await.expect("read");
            // Real time: a sleep lasts at least its duration, so each write finds a point due.
            tokio::time::sleep(super::super::STEP).await;
        }
        link.write_all(b"x").await.expect("write");
        drop(link);
        let points = Arc::try_unwrap(recorder).expect("one owner").into_inner().expect("lock").into_points();
        assert_eq!(points.len(), 5, "{points:?}");
    }
}
