//! Sending and receiving in batches: every datagram crosses the runtime boundary here, and
//! nowhere else.
//!
//! - [`Sender`] takes the batches the endpoint's `poll_transmit_batch` builds (datagrams of one
//!   connection to one destination, equal in size but the last: one segmentation-offload
//!   call each) and hands them to [`UdpIo::try_send`]. When the socket would block, what is left waits in a
//!   small stash (at most [`STASH_BATCHES`] batches) and nothing more is taken out of the
//!   endpoint until the driver, woken by writability, has sent it: no datagram is dropped
//!   because the socket buffer was momentarily full, and nothing queues without bound (the
//!   endpoint keeps what it has not handed out; its congestion and flow control stay in
//!   charge).
//! - [`RecvBatch`] owns the buffers a receive fills, and walks the datagrams in them (several
//!   per buffer under GRO).

use std::collections::VecDeque;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::Instant;

use lrp2p_proto::Endpoint;
use rand_chacha::ChaCha20Rng;

use crate::io::{IoStats, RecvMeta, Transmit, UdpIo};
use crate::udp::MAX_TRANSMIT_BYTES;

/// Datagrams grouped into one [`Transmit`] at most (Linux's `UDP_MAX_SEGMENTS`; fewer if
/// [`UdpIo::max_transmit_segments`] says so, and no more than [`MAX_TRANSMIT_BYTES`] in all).
pub(crate) const SEND_BATCH: usize = 64;

/// Receive buffers filled per receive call without GRO (one datagram each; quinn-udp's
/// `recvmmsg` takes 32 at most).
pub(crate) const RECV_BATCH: usize = 32;

/// Receive buffers filled per receive call with GRO: each holds up to 64 datagrams of a flow,
/// so 16 buffers take up to 1,024 datagrams (about 1 MiB) per call.
pub(crate) const RECV_BATCH_GRO: usize = 16;

/// The size of each receive buffer: the largest UDP payload, and the most a GRO batch holds
/// (the kernel coalesces no more than 64 KiB). A larger datagram is truncated and fails
/// authentication. Without GRO, a buffer's pages are touched only as far as datagrams fill
/// them: 32 buffers of 2 MiB in all, about 128 KiB of it resident for 1,400-byte datagrams;
/// with GRO, 16 buffers, 1 MiB, resident under load (quinn: 32 of 64 × 1,472 bytes, 3 MiB).
const RECV_SLOT: usize = 65_536;

/// Batches the stash holds at most: the rest of the one that met a full socket buffer (the
/// endpoint builds each batch; nothing beyond it is taken out before the stash is sent).
pub(crate) const STASH_BATCHES: usize = 1;

/// An unsent rest of a [`Transmit`], owned.
#[derive(Debug)]
struct Stashed {
    destination: SocketAddr,
    segment_size: usize,
    contents: Vec<u8>,
}

impl Stashed {
    fn of(transmit: &Transmit<'_>) -> Self {
        Stashed {
            destination: transmit.destination,
            segment_size: transmit.segment_size,
            contents: transmit.contents.to_vec(),
        }
    }

    fn transmit(&self) -> Transmit<'_> {
        Transmit { destination: self.destination, segment_size: self.segment_size, contents: &self.contents }
    }
}

/// Batches the endpoint's datagrams onto the socket; keeps what the socket refused for now.
#[derive(Debug)]
pub(crate) struct Sender {
    buf: Vec<u8>,
    max_datagram: usize,
    stash: VecDeque<Stashed>,
    /// The socket's counters: the sending ones kept here, the receiving ones by the driver
    /// (under the same lock).
    pub(crate) stats: IoStats,
}

/// Sends every datagram of `transmit`, counting (and skipping) those that fail. `Err` with
/// the number sent when the socket would block.
fn ship(io: &dyn UdpIo, stats: &mut IoStats, transmit: &Transmit<'_>) -> Result<(), usize> {
    let total = transmit.count();
    let mut sent = 0;
    while sent < total {
        stats.send_calls += 1;
        match io.try_send(&transmit.skip(sent)) {
            Ok(n) => {
                let n = n.clamp(1, total - sent);
                sent += n;
                stats.datagrams_sent += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(sent),
            Err(_) => {
                stats.send_errors += 1;
                sent += 1;
            }
        }
    }
    Ok(())
}

impl Sender {
    /// A sender for datagrams of at most `max_datagram` bytes.
    pub(crate) fn new(max_datagram: usize) -> Self {
        let max_datagram = max_datagram.max(1500);
        Sender {
            buf: vec![0; (max_datagram * SEND_BATCH).min(MAX_TRANSMIT_BYTES).max(max_datagram)],
            max_datagram,
            stash: VecDeque::new(),
            stats: IoStats::default(),
        }
    }

    /// Whether datagrams wait for the socket to become writable.
    pub(crate) fn is_stashed(&self) -> bool {
        !self.stash.is_empty()
    }

    /// Sends the stash, then everything the endpoint has to send, in the batches the endpoint
    /// builds (one connection's datagrams to one destination each). `false` when the socket
    /// would block: the rest of that batch is stashed, and the rest stays in the endpoint.
    pub(crate) fn flush(
        &mut self,
        io: &dyn UdpIo,
        endpoint: &mut Endpoint<ChaCha20Rng>,
        now: Instant,
    ) -> bool {
        while let Some(front) = self.stash.front_mut() {
            match ship(io, &mut self.stats, &front.transmit()) {
                Ok(()) => {
                    self.stash.pop_front();
                }
                Err(sent) => {
                    let start = sent.saturating_mul(front.segment_size).min(front.contents.len());
                    front.contents.drain(..start);
                    return false;
                }
            }
        }
        // As many full datagrams as the buffer and the socket take per call.
        let limit =
            io.max_transmit_segments().clamp(1, SEND_BATCH).min(self.buf.len() / self.max_datagram).max(1);
        while let Some(t) = endpoint.poll_transmit_batch(now, &mut self.buf, limit) {
            if t.len == 0 {
                continue;
            }
            let transmit = Transmit {
                destination: t.destination,
                segment_size: t.segment_size,
                contents: &self.buf[..t.len],
            };
            if let Err(sent) = ship(io, &mut self.stats, &transmit) {
                self.stash.push_back(Stashed::of(&transmit.skip(sent)));
                debug_assert!(self.stash.len() <= STASH_BATCHES);
                return false;
            }
        }
        true
    }
}

/// The buffers one receive fills, and the datagrams in them.
#[derive(Debug)]
pub(crate) struct RecvBatch {
    storage: Vec<u8>,
    meta: Vec<RecvMeta>,
}

impl RecvBatch {
    /// Buffers for a socket that puts up to `gro_segments` datagrams in one (see
    /// [`UdpIo::max_receive_segments`]).
    pub(crate) fn new(gro_segments: usize) -> Self {
        let slots = if gro_segments > 1 { RECV_BATCH_GRO } else { RECV_BATCH };
        RecvBatch { storage: vec![0; RECV_SLOT * slots], meta: vec![RecvMeta::default(); slots] }
    }

    /// Receives what is queued (see [`UdpIo::poll_recv`]); returns how many buffers it filled.
    pub(crate) fn poll_recv(&mut self, io: &dyn UdpIo, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut bufs: Vec<IoSliceMut<'_>> = self.storage.chunks_mut(RECV_SLOT).map(IoSliceMut::new).collect();
        io.poll_recv(cx, &mut bufs, &mut self.meta)
    }

    /// Calls `f` with each datagram of the first `filled` buffers and its sender; returns
    /// how many datagrams there were.
    pub(crate) fn for_each(&mut self, filled: usize, mut f: impl FnMut(SocketAddr, &mut [u8])) -> usize {
        let mut count = 0;
        for (meta, slot) in self.meta.iter().zip(self.storage.chunks_mut(RECV_SLOT)).take(filled) {
            let data = &mut slot[..meta.len.min(RECV_SLOT)];
            let stride = if meta.stride == 0 { meta.len } else { meta.stride };
            for datagram in data.chunks_mut(stride.max(1)) {
                count += 1;
                f(meta.addr, datagram);
            }
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use lrp2p_proto::congestion::FixedWindowConfig;
    use lrp2p_proto::{EndpointConfig, Event, StaticSecret};
    use rand_core::SeedableRng;

    use super::*;

    /// A socket that takes `budget` datagrams, then would block; records what it sent.
    #[derive(Debug)]
    struct FakeIo {
        budget: Mutex<usize>,
        segments: usize,
        sent: Mutex<Vec<(SocketAddr, Vec<u8>)>>,
        /// (destination, segment size, datagrams) of each `try_send`.
        calls: Mutex<Vec<(SocketAddr, usize, usize)>>,
    }

    impl FakeIo {
        fn new(budget: usize) -> Self {
            FakeIo {
                budget: Mutex::new(budget),
                segments: usize::MAX,
                sent: Mutex::default(),
                calls: Mutex::default(),
            }
        }

        fn set_budget(&self, budget: usize) {
            *self.budget.lock().expect("lock") = budget;
        }

        fn sent(&self) -> Vec<(SocketAddr, Vec<u8>)> {
            self.sent.lock().expect("lock").clone()
        }
    }

    impl UdpIo for FakeIo {
        fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<usize> {
            let mut budget = self.budget.lock().expect("lock");
            let n = transmit.count().min(*budget);
            if n == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            *budget -= n;
            self.calls.lock().expect("lock").push((
                transmit.destination,
                transmit.segment_size,
                transmit.count(),
            ));
            let mut sent = self.sent.lock().expect("lock");
            sent.extend(transmit.datagrams().take(n).map(|d| (transmit.destination, d.to_vec())));
            Ok(n)
        }

        fn poll_writable(&self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_recv(
            &self,
            _: &mut Context<'_>,
            _: &mut [IoSliceMut<'_>],
            _: &mut [RecvMeta],
        ) -> Poll<io::Result<usize>> {
            Poll::Pending
        }

        fn local_addr(&self) -> io::Result<SocketAddr> {
            Ok(SocketAddr::from(([127, 0, 0, 1], 1)))
        }

        fn max_transmit_segments(&self) -> usize {
            self.segments
        }
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// An endpoint (seeded: two calls give identical datagrams) holding one connection, to
    /// port 20, with 40 KB written and nothing limiting it: 30 datagrams to send (1361 payload
    /// bytes fit a 1400-byte datagram with no ACK beside them), 29 full and a shorter last one.
    fn endpoint(now: Instant) -> Endpoint<ChaCha20Rng> {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let (key_a, key_b) = (StaticSecret::generate(&mut rng), StaticSecret::generate(&mut rng));
        let peer = key_b.public_key();
        let mut config = EndpointConfig::default();
        config.early_data.start_floor = false;
        config.connection.congestion = std::sync::Arc::new(FixedWindowConfig { window: 1 << 20 });
        config.connection.pacing = false;
        let unix = 1_700_000_000_000_000_000;
        let mut a = Endpoint::new(config.clone(), key_a, ChaCha20Rng::seed_from_u64(8), now, unix);
        let mut b = Endpoint::new(config, key_b, ChaCha20Rng::seed_from_u64(9), now, unix);
        let conn = a.connect(now, addr(20), Some(peer)).expect("connect");
        let mut buf = vec![0u8; 2048];
        // The handshake, and B's first ACK (which opens A's window).
        for _ in 0..3 {
            while let Some(t) = a.poll_transmit(now, &mut buf) {
                b.handle_datagram(now, addr(10), &mut buf[..t.len]);
            }
            while let Some(event) = b.poll_event() {
                if let Event::Incoming { connection, .. } = event {
                    b.accept(now, connection).expect("accept");
                }
            }
            while let Some(t) = b.poll_transmit(now, &mut buf) {
                a.handle_datagram(now, addr(20), &mut buf[..t.len]);
            }
        }
        assert_eq!(a.write(now, conn, &[7u8; DATA]).expect("write"), DATA);
        a
    }

    /// Bytes the connection of [`endpoint`] has to send.
    const DATA: usize = 40_000;

    #[test]
    fn one_connection_sends_in_batches_of_equal_datagrams() {
        let now = Instant::now();
        let io = FakeIo::new(usize::MAX);
        let mut sender = Sender::new(1400);
        assert!(sender.flush(&io, &mut endpoint(now), now));
        let calls = io.calls.lock().expect("lock").clone();
        // The endpoint builds the batch: all of it in one call, to one destination.
        assert_eq!(calls.len(), 1, "{calls:?}");
        let (destination, segment, count) = calls[0];
        assert_eq!((destination, count), (addr(20), 30));
        let sent = io.sent();
        assert!(sent[..29].iter().all(|(_, d)| d.len() == segment));
        assert!(sent[29].1.len() < segment);

        // A socket that takes eight datagrams per call gets batches of eight at most.
        let io = FakeIo { segments: 8, ..FakeIo::new(usize::MAX) };
        assert!(Sender::new(1400).flush(&io, &mut endpoint(now), now));
        let calls: Vec<usize> = io.calls.lock().expect("lock").iter().map(|c| c.2).collect();
        assert_eq!(calls, [8, 8, 8, 6]);
    }

    #[test]
    fn stash_keeps_what_the_socket_refused() {
        let now = Instant::now();
        let reference = FakeIo::new(usize::MAX);
        assert!(Sender::new(1400).flush(&reference, &mut endpoint(now), now));

        let io = FakeIo::new(1);
        let mut sender = Sender::new(1400);
        let mut endpoint = endpoint(now);
        // One datagram goes; the rest of the batch waits in the stash.
        assert!(!sender.flush(&io, &mut endpoint, now));
        assert!(sender.is_stashed());
        assert_eq!(io.sent().len(), 1);
        // Still blocked: nothing moves, nothing more leaves the endpoint.
        io.set_budget(0);
        assert!(!sender.flush(&io, &mut endpoint, now));
        assert_eq!(io.sent().len(), 1);
        // A little room, then all of it: everything arrives once, in order.
        io.set_budget(3);
        assert!(!sender.flush(&io, &mut endpoint, now));
        io.set_budget(usize::MAX);
        assert!(sender.flush(&io, &mut endpoint, now));
        assert!(!sender.is_stashed());
        assert_eq!(io.sent(), reference.sent());
        assert_eq!(sender.stats.send_errors, 0);
    }

    /// A socket whose one receive fills two buffers: a GRO batch from port 1 (stride 4, a
    /// short last datagram) and a single datagram from port 2.
    #[derive(Debug)]
    struct GroIo;

    impl UdpIo for GroIo {
        fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<usize> {
            Ok(transmit.count())
        }

        fn poll_writable(&self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_recv(
            &self,
            _: &mut Context<'_>,
            bufs: &mut [IoSliceMut<'_>],
            meta: &mut [RecvMeta],
        ) -> Poll<io::Result<usize>> {
            bufs[0][..10].copy_from_slice(&[1, 1, 1, 1, 2, 2, 2, 2, 3, 3]);
            meta[0] = RecvMeta { addr: addr(1), len: 10, stride: 4 };
            bufs[1][..5].copy_from_slice(&[4; 5]);
            meta[1] = RecvMeta { addr: addr(2), len: 5, stride: 5 };
            Poll::Ready(Ok(2))
        }

        fn local_addr(&self) -> io::Result<SocketAddr> {
            Ok(addr(3))
        }

        fn max_receive_segments(&self) -> usize {
            64
        }
    }

    #[test]
    fn gro_buffers_split_into_datagrams() {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut batch = RecvBatch::new(GroIo.max_receive_segments());
        assert_eq!(batch.meta.len(), RECV_BATCH_GRO);
        let Poll::Ready(Ok(filled)) = batch.poll_recv(&GroIo, &mut cx) else { panic!("no receive") };
        let mut got = Vec::new();
        let count = batch.for_each(filled, |from, datagram| got.push((from.port(), datagram.to_vec())));
        assert_eq!(count, 4);
        assert_eq!(
            got,
            [(1, vec![1, 1, 1, 1]), (1, vec![2, 2, 2, 2]), (1, vec![3, 3]), (2, vec![4, 4, 4, 4, 4])]
        );
        // Without GRO: more, smaller batches of buffers.
        assert_eq!(RecvBatch::new(1).meta.len(), RECV_BATCH);
    }

    #[test]
    fn no_offload_sends_one_datagram_per_call() {
        let now = Instant::now();
        let reference = FakeIo::new(usize::MAX);
        assert!(Sender::new(1400).flush(&reference, &mut endpoint(now), now));
        let io = FakeIo { segments: 1, ..FakeIo::new(usize::MAX) };
        let mut sender = Sender::new(1400);
        assert!(sender.flush(&io, &mut endpoint(now), now));
        let calls = io.calls.lock().expect("lock").clone();
        assert_eq!(calls.len(), 30);
        assert!(calls.iter().all(|c| c.2 == 1));
        assert_eq!(io.sent(), reference.sent());
        assert_eq!((sender.stats.send_calls, sender.stats.datagrams_sent), (30, 30));
    }
}
