//! [`UdpCore`]: the system calls of a UDP socket with segmentation offload, on
//! [quinn-udp](quinn_udp), independent of any runtime. A runtime's [`UdpIo`](crate::UdpIo) is
//! its readiness (writable, readable) around [`UdpCore::try_send`] and [`UdpCore::recv`].
//!
//! On Linux (and Android) a [`Transmit`] leaves in one `sendmsg` with `UDP_SEGMENT` (GSO: the
//! kernel cuts it into datagrams), and a receive is one `recvmmsg` filling up to 32 buffers,
//! each of which may hold up to 64 datagrams of one flow (`UDP_GRO`). FreeBSD: `recvmmsg`,
//! one datagram per send. Windows: GSO through `UDP_SEND_MSG_SIZE` where the stack has it,
//! one datagram per receive. macOS/iOS, OpenBSD, NetBSD, illumos: one datagram per call
//! (quinn-udp's `sendmsg_x` batching on Apple needs its opt-in `fast-apple-datapath`
//! feature, a private API, which we leave off). What the system offers is probed at run time.
//!
//! ## Why quinn-udp
//!
//! quinn-udp (0.5.16, MIT/Apache-2.0; 0.6 needs Rust 1.88, above our 1.85) is quinn's socket
//! layer, released with it by the same maintainers and used in production wherever quinn is;
//! it depends only on libc, socket2 and (on Windows) windows-sys. It encapsulates the `unsafe`
//! we would otherwise have to write, which our crates forbid: `msghdr`/`mmsghdr` set-up,
//! control-message encoding and decoding (`UDP_SEGMENT`, `UDP_GRO`, `IP_TOS`/ECN,
//! `IP_PKTINFO`), `recvmmsg`, `uname`. Per socket it turns GRO on opportunistically, forbids
//! IP fragmentation (`IP_PMTUDISC_PROBE`, `IPV6_DONTFRAG`) and probes GSO (kernel ≥ 4.18 and
//! `setsockopt(UDP_SEGMENT)` on a throwaway socket: 64 segments, else 1); its state is `Sync`
//! (atomics). ECN is read on receive and written on send; we pass none yet. Errors: its
//! `send` swallows all but `WouldBlock` (logging one a minute, with its `tracing` feature,
//! which we turn off), while `try_send`, which we use, returns them, so that the sender counts
//! a refused datagram ([`IoStats::send_errors`](crate::IoStats)) and goes on with the next
//! (the protocol retransmits). On `EIO` or `EINVAL` from a `sendmsg` (a device without UDP
//! segmentation) it drops `max_gso_segments` to 1 for the socket's life, and on `EINVAL` it
//! retries once without `IP_TOS` (kernels before 3.13): we then lose the first datagram of
//! that batch and send the rest one by one. Its gaps, filled here: it does not cut a
//! [`Transmit`] to `max_gso_segments` or to the 64 KiB one `sendmsg` takes, and Windows
//! reports 64 GRO segments even with receive coalescing off (harmless: our buffers are 64 KiB
//! either way). Verdict: the right tool, well kept and narrow; we use it as is.

use std::io::{self, IoSliceMut};
use std::sync::atomic::{AtomicUsize, Ordering};

pub use quinn_udp::UdpSockRef;
use quinn_udp::UdpSocketState;

use crate::io::{RecvMeta, Transmit};

/// The receive buffer asked of the kernel (`SO_RCVBUF`; Linux caps it at `net.core.rmem_max`
/// and counts overhead in it): a loopback or LAN burst of a full congestion window must fit
/// while the driver is not scheduled, or it is lost.
pub const SOCKET_RECV_BUFFER: usize = 4 << 20;

/// The send buffer asked of the kernel (`SO_SNDBUF`, capped at `net.core.wmem_max`): room
/// for several GSO batches in flight through the stack.
pub const SOCKET_SEND_BUFFER: usize = 2 << 20;

/// The most bytes one `sendmsg` carries: the largest UDP payload over IPv4.
pub const MAX_TRANSMIT_BYTES: usize = 65_507;

/// The most datagrams one receive buffer holds under GRO (Linux's `UDP_GRO_CNT_MAX`).
const MAX_GRO_SEGMENTS: usize = 64;

/// A UDP socket's offload state and system calls, without the socket: borrow the socket for
/// each call (`(&socket).into()`), so any runtime's socket type fits.
#[derive(Debug)]
pub struct UdpCore {
    state: UdpSocketState,
    /// A cap on datagrams per send set by [`UdpCore::limit_transmit_segments`].
    segment_limit: AtomicUsize,
}

impl UdpCore {
    /// Makes `socket` non-blocking and enables what the platform offers (GRO, packet info, no
    /// fragmentation). See [`UdpCore::configure`] for the socket buffers too.
    pub fn new(socket: UdpSockRef<'_>) -> io::Result<Self> {
        let state = UdpSocketState::new(socket)?;
        Ok(UdpCore { state, segment_limit: AtomicUsize::new(usize::MAX) })
    }

    /// [`UdpCore::new`], then asks for [`SOCKET_RECV_BUFFER`] and [`SOCKET_SEND_BUFFER`]
    /// (best effort: a system that grants less still works, with more loss under bursts).
    pub fn configure<S>(socket: &S) -> io::Result<Self>
    where
        for<'s> UdpSockRef<'s>: From<&'s S>,
    {
        let core = UdpCore::new(socket.into())?;
        // Best effort: the kernel may cap or refuse them.
        let _ = core.state.set_recv_buffer_size(socket.into(), SOCKET_RECV_BUFFER);
        let _ = core.state.set_send_buffer_size(socket.into(), SOCKET_SEND_BUFFER);
        Ok(core)
    }

    /// The socket's buffer sizes as the kernel keeps them (receive, send; Linux reports twice
    /// what was granted, overhead included).
    pub fn buffer_sizes<S>(&self, socket: &S) -> io::Result<(usize, usize)>
    where
        for<'s> UdpSockRef<'s>: From<&'s S>,
    {
        Ok((self.state.recv_buffer_size(socket.into())?, self.state.send_buffer_size(socket.into())?))
    }

    /// Sends datagrams from the front of `transmit` in one system call (several only when
    /// segmentation offload is off); returns how many left (at least one). As
    /// [`UdpIo::try_send`](crate::UdpIo::try_send): `WouldBlock` means none could; any other
    /// error is about the first datagram (the caller counts it as lost and goes on).
    pub fn try_send(&self, socket: UdpSockRef<'_>, transmit: &Transmit<'_>) -> io::Result<usize> {
        let segment = transmit.segment_size.max(1);
        let count =
            transmit.count().min(self.max_transmit_segments()).min(MAX_TRANSMIT_BYTES / segment).max(1);
        let end = (count * segment).min(transmit.contents.len());
        let contents = &transmit.contents[..end];
        let out = quinn_udp::Transmit {
            destination: transmit.destination,
            ecn: None,
            contents,
            segment_size: (contents.len() > segment).then_some(segment),
            src_ip: None,
        };
        self.state.try_send(socket, &out)?;
        Ok(count)
    }

    /// Receives what is queued, without blocking: fills `bufs` and `meta` from the front and
    /// returns how many buffers it filled; `WouldBlock` when nothing is queued. A buffer may
    /// hold several datagrams of `stride` bytes (GRO), the last one possibly shorter: make
    /// each 64 KiB long (the largest UDP payload, and the most Linux coalesces); at most 32
    /// are filled per call.
    pub fn recv(
        &self,
        socket: UdpSockRef<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> io::Result<usize> {
        let mut quinn_meta = [quinn_udp::RecvMeta::default(); quinn_udp::BATCH_SIZE];
        let slots = bufs.len().min(meta.len()).min(quinn_meta.len());
        let filled = self.state.recv(socket, &mut bufs[..slots], &mut quinn_meta[..slots])?;
        for (ours, theirs) in meta.iter_mut().zip(&quinn_meta[..filled]) {
            *ours = RecvMeta { addr: theirs.addr, len: theirs.len, stride: theirs.stride };
        }
        Ok(filled)
    }

    /// The most datagrams one [`Transmit`] may hold: 1 without GSO (or once the kernel
    /// refused it), up to 64 with.
    pub fn max_transmit_segments(&self) -> usize {
        self.state.max_gso_segments().min(self.segment_limit.load(Ordering::Relaxed)).max(1)
    }

    /// Sends at most `segments` datagrams per system call from now on (1: no GSO, as on a
    /// system without it).
    pub fn limit_transmit_segments(&self, segments: usize) {
        self.segment_limit.store(segments.max(1), Ordering::Relaxed);
    }

    /// The most datagrams the kernel puts in one receive buffer: 1 without GRO, 64 with.
    pub fn gro_segments(&self) -> usize {
        self.state.gro_segments().clamp(1, MAX_GRO_SEGMENTS)
    }
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;
    use std::time::{Duration, Instant};

    use super::*;

    /// Receives on `core` until `want` datagrams came (or 5 s passed); returns them with
    /// the largest number of datagrams one buffer held.
    fn receive(core: &UdpCore, socket: &UdpSocket, want: usize) -> (Vec<Vec<u8>>, usize) {
        let mut storage = vec![0u8; 65_536 * 4];
        let (mut datagrams, mut most) = (Vec::new(), 0);
        let deadline = Instant::now() + Duration::from_secs(5);
        while datagrams.len() < want && Instant::now() < deadline {
            let mut bufs: Vec<IoSliceMut<'_>> = storage.chunks_mut(65_536).map(IoSliceMut::new).collect();
            let mut meta = [RecvMeta::default(); 4];
            match core.recv(socket.into(), &mut bufs, &mut meta) {
                Ok(filled) => {
                    for (m, buf) in meta.iter().zip(storage.chunks(65_536)).take(filled) {
                        let in_buf: Vec<Vec<u8>> =
                            buf[..m.len].chunks(m.stride.max(1)).map(<[u8]>::to_vec).collect();
                        most = most.max(in_buf.len());
                        datagrams.extend(in_buf);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("recv: {e}"),
            }
        }
        (datagrams, most)
    }

    /// Five 1,000-byte datagrams and a 300-byte one, each filled with its index.
    fn contents() -> Vec<u8> {
        (0..6u8).flat_map(|i| vec![i; if i < 5 { 1000 } else { 300 }]).collect()
    }

    fn pair() -> (UdpSocket, UdpCore, UdpSocket, UdpCore) {
        let a = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let b = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let (core_a, core_b) = (UdpCore::configure(&a).expect("core"), UdpCore::configure(&b).expect("core"));
        (a, core_a, b, core_b)
    }

    fn check(datagrams: &[Vec<u8>]) {
        let lens: Vec<usize> = datagrams.iter().map(Vec::len).collect();
        assert_eq!(lens, [1000, 1000, 1000, 1000, 1000, 300]);
        for (i, d) in datagrams.iter().enumerate() {
            assert!(d.iter().all(|&b| usize::from(b) == i), "datagram {i} mixed up");
        }
    }

    #[test]
    fn segmented_send_arrives_as_datagrams() {
        let (a, core_a, b, core_b) = pair();
        let contents = contents();
        let to = b.local_addr().expect("addr");
        let transmit = Transmit { destination: to, segment_size: 1000, contents: &contents };
        let mut sent = 0;
        while sent < 6 {
            sent += core_a.try_send((&a).into(), &transmit.skip(sent)).expect("send");
        }
        let (datagrams, most) = receive(&core_b, &b, 6);
        check(&datagrams);
        if core_a.max_transmit_segments() > 1 && core_b.gro_segments() > 1 {
            // Linux loopback keeps a GSO batch whole for a GRO socket: one buffer, stride 1000.
            assert_eq!(most, 6);
        }
    }

    #[test]
    fn without_offload_one_datagram_per_call() {
        let (a, core_a, b, core_b) = pair();
        core_a.limit_transmit_segments(1);
        assert_eq!(core_a.max_transmit_segments(), 1);
        let contents = contents();
        let to = b.local_addr().expect("addr");
        let transmit = Transmit { destination: to, segment_size: 1000, contents: &contents };
        for i in 0..6 {
            assert_eq!(core_a.try_send((&a).into(), &transmit.skip(i)).expect("send"), 1);
        }
        let (datagrams, most) = receive(&core_b, &b, 6);
        check(&datagrams);
        assert_eq!(most, 1);
    }

    #[test]
    fn a_transmit_is_cut_at_64_kib() {
        let (a, core_a, b, core_b) = pair();
        let contents = vec![7u8; 1400 * 60];
        let to = b.local_addr().expect("addr");
        let transmit = Transmit { destination: to, segment_size: 1400, contents: &contents };
        let first = core_a.try_send((&a).into(), &transmit).expect("send");
        assert!(first * 1400 <= MAX_TRANSMIT_BYTES && first >= 1);
        let mut sent = first;
        while sent < 60 {
            sent += core_a.try_send((&a).into(), &transmit.skip(sent)).expect("send");
        }
        let (datagrams, _) = receive(&core_b, &b, 60);
        assert_eq!(datagrams.len(), 60);
        assert!(datagrams.iter().all(|d| d.len() == 1400));
    }
}
