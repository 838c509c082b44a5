//! Sending and receiving in batches: every datagram crosses the runtime boundary here, and
//! nowhere else.
//!
//! - [`Sender`] takes what the endpoint's `poll_transmit` produces, groups it into
//!   [`Transmit`]s (consecutive datagrams to one destination, equal in size but the last), and
//!   hands them to [`UdpIo::try_send`]. When the socket would block, what is left waits in a
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

use lrp2p_proto::endpoint::Endpoint;
use rand_chacha::ChaCha20Rng;

use crate::io::{RecvMeta, Transmit, UdpIo};

/// Datagrams grouped into one [`Transmit`] at most (fewer if [`UdpIo::max_transmit_segments`]
/// says so).
pub(crate) const SEND_BATCH: usize = 16;

/// Receive buffers filled per wake-up of the driver at most.
pub(crate) const RECV_BATCH: usize = 64;

/// The size of each receive buffer: the largest UDP payload (anything larger is truncated and
/// fails authentication). Pages are touched only as datagrams fill them.
const RECV_SLOT: usize = 65_536;

/// Batches the stash holds at most: the rest of the one that met a full socket buffer, and
/// the datagram that had already been taken out of the endpoint for the next one.
pub(crate) const STASH_BATCHES: usize = 2;

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
    /// Datagrams the OS refused to send for good (the protocol retransmits them).
    pub(crate) send_errors: u64,
}

/// Sends every datagram of `transmit`, counting (and skipping) those that fail. `Err` with
/// the number sent when the socket would block.
fn ship(io: &dyn UdpIo, errors: &mut u64, transmit: &Transmit<'_>) -> Result<(), usize> {
    let total = transmit.count();
    let mut sent = 0;
    while sent < total {
        match io.try_send(&transmit.skip(sent)) {
            Ok(n) => sent += n.max(1),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(sent),
            Err(_) => {
                *errors += 1;
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
            buf: vec![0; max_datagram * SEND_BATCH],
            max_datagram,
            stash: VecDeque::new(),
            send_errors: 0,
        }
    }

    /// Whether datagrams wait for the socket to become writable.
    pub(crate) fn is_stashed(&self) -> bool {
        !self.stash.is_empty()
    }

    /// Sends the stash, then everything the endpoint has to send. `false` when the socket
    /// would block: the rest is stashed (or left in the endpoint) for the driver.
    pub(crate) fn flush(
        &mut self,
        io: &dyn UdpIo,
        endpoint: &mut Endpoint<ChaCha20Rng>,
        now: Instant,
    ) -> bool {
        while let Some(front) = self.stash.front_mut() {
            match ship(io, &mut self.send_errors, &front.transmit()) {
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
        let max = self.max_datagram;
        let limit = io.max_transmit_segments().clamp(1, SEND_BATCH);
        // The batch being assembled: `buf[..len]`, `count` datagrams to `destination`.
        let (mut len, mut count, mut segment) = (0, 0, 0);
        let mut destination: Option<SocketAddr> = None;
        loop {
            let next =
                if count < limit { endpoint.poll_transmit(now, &mut self.buf[len..len + max]) } else { None };
            match next {
                Some(t) if t.len == 0 => {}
                Some(t) if destination.is_none() => {
                    (len, count, segment, destination) = (t.len, 1, t.len, Some(t.destination));
                }
                Some(t) if destination == Some(t.destination) && t.len <= segment => {
                    len += t.len;
                    count += 1;
                    if t.len < segment {
                        // A shorter datagram ends a batch.
                        if !self.ship_batch(io, destination, segment, len, None) {
                            return false;
                        }
                        (len, count, destination) = (0, 0, None);
                    }
                }
                Some(t) => {
                    // Another destination or a larger datagram: send the batch, and start the
                    // next one with this datagram.
                    if !self.ship_batch(io, destination, segment, len, Some((t.destination, t.len))) {
                        return false;
                    }
                    self.buf.copy_within(len..len + t.len, 0);
                    (len, count, segment, destination) = (t.len, 1, t.len, Some(t.destination));
                }
                None => {
                    let full = count == limit;
                    if count > 0 && !self.ship_batch(io, destination, segment, len, None) {
                        return false;
                    }
                    if !full {
                        return true;
                    }
                    (len, count, destination) = (0, 0, None);
                }
            }
        }
    }

    /// Ships `buf[..len]`; if the socket would block, stashes its rest and the `carried`
    /// datagram after it (already taken out of the endpoint, for the next batch).
    fn ship_batch(
        &mut self,
        io: &dyn UdpIo,
        destination: Option<SocketAddr>,
        segment_size: usize,
        len: usize,
        carried: Option<(SocketAddr, usize)>,
    ) -> bool {
        let Some(destination) = destination else { return true };
        let transmit = Transmit { destination, segment_size, contents: &self.buf[..len] };
        let Err(sent) = ship(io, &mut self.send_errors, &transmit) else { return true };
        self.stash.push_back(Stashed::of(&transmit.skip(sent)));
        if let Some((destination, n)) = carried {
            let contents = &self.buf[len..len + n];
            self.stash.push_back(Stashed::of(&Transmit { destination, segment_size: n, contents }));
        }
        debug_assert!(self.stash.len() <= STASH_BATCHES);
        false
    }
}

/// The buffers one receive fills, and the datagrams in them.
#[derive(Debug)]
pub(crate) struct RecvBatch {
    storage: Vec<u8>,
    meta: Vec<RecvMeta>,
}

impl Default for RecvBatch {
    fn default() -> Self {
        RecvBatch { storage: vec![0; RECV_SLOT * RECV_BATCH], meta: vec![RecvMeta::default(); RECV_BATCH] }
    }
}

impl RecvBatch {
    /// Receives what is queued (see [`UdpIo::poll_recv`]); returns how many buffers it filled.
    pub(crate) fn poll_recv(&mut self, io: &dyn UdpIo, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut bufs: Vec<IoSliceMut<'_>> = self.storage.chunks_mut(RECV_SLOT).map(IoSliceMut::new).collect();
        io.poll_recv(cx, &mut bufs, &mut self.meta)
    }

    /// Calls `f` with each datagram of the first `filled` buffers and its sender.
    pub(crate) fn for_each(&mut self, filled: usize, mut f: impl FnMut(SocketAddr, &mut [u8])) {
        for (meta, slot) in self.meta.iter().zip(self.storage.chunks_mut(RECV_SLOT)).take(filled) {
            let data = &mut slot[..meta.len.min(RECV_SLOT)];
            let stride = if meta.stride == 0 { meta.len } else { meta.stride };
            for datagram in data.chunks_mut(stride.max(1)) {
                f(meta.addr, datagram);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use lrp2p_proto::config::EndpointConfig;
    use lrp2p_proto::identity::StaticSecret;
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

    /// An endpoint (seeded: two calls give identical datagrams) with handshakes queued: three
    /// to port 10, two to port 20, one to port 10.
    fn endpoint(now: Instant) -> Endpoint<ChaCha20Rng> {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let identity = StaticSecret::generate(&mut rng);
        let peer = StaticSecret::generate(&mut rng).public_key();
        let mut endpoint =
            Endpoint::new(EndpointConfig::default(), identity, rng, now, 1_700_000_000_000_000_000);
        for port in [10, 10, 10, 20, 20, 10] {
            endpoint.connect(now, addr(port), Some(peer)).expect("connect");
        }
        endpoint
    }

    #[test]
    fn batches_by_destination_and_size() {
        let now = Instant::now();
        let io = FakeIo::new(usize::MAX);
        let mut sender = Sender::new(1400);
        assert!(sender.flush(&io, &mut endpoint(now), now));
        let calls = io.calls.lock().expect("lock").clone();
        let segment = calls[0].1;
        assert_eq!(calls, [(addr(10), segment, 3), (addr(20), segment, 2), (addr(10), segment, 1)]);
        assert_eq!(io.sent().len(), 6);

        // A socket that takes two datagrams per call gets batches of two at most.
        let io = FakeIo { segments: 2, ..FakeIo::new(usize::MAX) };
        assert!(Sender::new(1400).flush(&io, &mut endpoint(now), now));
        let calls: Vec<usize> = io.calls.lock().expect("lock").iter().map(|c| c.2).collect();
        assert_eq!(calls, [2, 1, 2, 1]);
    }

    #[test]
    fn stash_keeps_what_the_socket_refused() {
        let now = Instant::now();
        let reference = FakeIo::new(usize::MAX);
        assert!(Sender::new(1400).flush(&reference, &mut endpoint(now), now));

        let io = FakeIo::new(1);
        let mut sender = Sender::new(1400);
        let mut endpoint = endpoint(now);
        // One datagram goes; the rest of the first batch and the datagram carried into the
        // second wait in the stash.
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
        assert_eq!(sender.send_errors, 0);
    }
}
