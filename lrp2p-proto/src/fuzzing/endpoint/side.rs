//! What the harness knows and checks of one endpoint: its connections' handles, the stream
//! each writes (a pattern that names the stream and the offset, so that every byte read can be
//! traced to the connection of the other side that wrote it), its wire and its clock.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use super::ops::{Call, SIZE_UNIT};
use super::{MAX_CONNECTIONS, QUIET, UNIX_NS, addr};
use crate::config::EndpointConfig;
use crate::endpoint::{ConnectionHandle, Endpoint, Event};
use crate::fuzzing::FuzzRng;
use crate::identity::{PublicKey, StaticSecret};
use crate::wire::IK_INITIATION_MIN_LEN;

/// The stream byte at `offset` of the stream named `stream`: what every write sends, so that a
/// read identifies the stream it came from and its position in it.
fn pattern(stream: u32, offset: u64) -> u8 {
    let mut z = ((u64::from(stream) << 40) ^ (offset >> 3)).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z = z ^ (z >> 31);
    z.to_le_bytes()[usize::from(offset.to_le_bytes()[0] & 7)]
}

/// What one side knows of one of its connections.
pub(super) struct Conn {
    handle: ConnectionHandle,
    /// Names the stream pattern this connection writes.
    stream: u32,
    /// Bytes the endpoint took from `write`.
    pub(super) written: u64,
    /// `shutdown` was called.
    shut: bool,
    /// Bytes read so far.
    pub(super) read: u64,
    /// Once something was read: the other side's connections (indices) whose stream it can be.
    pub(super) sources: Option<Vec<usize>>,
    /// `read` reported the end of the stream.
    pub(super) eof: bool,
    /// The events `Connected` and `Closed` came.
    connected: bool,
    pub(super) closed: bool,
    /// The application released it: calls on the handle are still made, but what they answer
    /// is not checked (a released connection drops what arrives; `read` may answer `Ok(0)`
    /// while the peer's stream goes on).
    released: bool,
}

/// One endpoint and what the harness tracks about it.
pub(super) struct Side {
    pub(super) endpoint: Endpoint<FuzzRng>,
    /// Where it sends from.
    pub(super) addr: SocketAddr,
    /// Where it appears to send from after a NAT rebinding ([`Fate::Roam`](super::ops::Fate::Roam)).
    pub(super) alt: SocketAddr,
    /// Every handle it ever held, in order of appearance.
    pub(super) conns: Vec<Conn>,
    /// Datagrams it sent, waiting on the wire to the other side.
    pub(super) wire: VecDeque<Vec<u8>>,
    /// The `now` of the last `handle_timeout`.
    handled_at: Option<Instant>,
    /// When it last received a datagram or the application acted on a connection (or started).
    active_at: Instant,
    /// Tags the stream patterns of this side's connections.
    tag: u32,
    /// More than the 0-RTT data of one IK initiation.
    early_limit: u64,
}

impl Side {
    pub(super) fn new(config: EndpointConfig, key: u8, seed: u64, now: Instant, last: u8, tag: u32) -> Self {
        let identity = StaticSecret::from_bytes([key; 32]);
        let early_limit = config.connection.max_datagram_size.saturating_sub(IK_INITIATION_MIN_LEN) as u64;
        Side {
            early_limit,
            endpoint: Endpoint::new(config, identity, FuzzRng(seed), now, UNIX_NS),
            addr: addr(last, 4000),
            alt: addr(last, 4001),
            conns: Vec::new(),
            wire: VecDeque::new(),
            handled_at: None,
            active_at: now,
            tag,
        }
    }

    pub(super) fn is_at(&self, address: SocketAddr) -> bool {
        address == self.addr || address == self.alt
    }

    /// Notes a handle (from `connect` or an `Incoming` event); returns its index.
    pub(super) fn register(&mut self, handle: ConnectionHandle) -> usize {
        if let Some(i) = self.conns.iter().position(|c| c.handle == handle) {
            return i;
        }
        let stream = self.tag | u32::try_from(self.conns.len()).unwrap_or(u32::MAX >> 1);
        self.conns.push(Conn {
            handle,
            stream,
            written: 0,
            shut: false,
            read: 0,
            sources: None,
            eof: false,
            connected: false,
            closed: false,
            released: false,
        });
        self.conns.len() - 1
    }

    /// Checks an event against the connection's earlier ones; returns the index of a new
    /// incoming connection.
    pub(super) fn on_event(&mut self, event: &Event) -> Option<usize> {
        let (connection, kind) = match *event {
            Event::Incoming { connection, .. } => {
                assert!(self.conns.iter().all(|c| c.handle != connection), "a second Incoming");
                return Some(self.register(connection));
            }
            Event::Connected { connection, .. } => (connection, "Connected"),
            Event::Closed { connection, .. } => (connection, "Closed"),
            _ => return None,
        };
        // (A connection may close before the application heard of it: a half-open handshake
        // that timed out. Its events are not checked.)
        let conn = self.conns.iter_mut().find(|c| c.handle == connection)?;
        assert!(!conn.closed, "{kind} after Closed: {event:?}");
        assert!(!(conn.connected && kind == "Connected"), "a second Connected");
        conn.connected |= kind == "Connected";
        conn.closed |= kind == "Closed";
        None
    }

    pub(super) fn connect(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        key: Option<PublicKey>,
        deferred: bool,
    ) -> Option<usize> {
        self.active_at = now;
        let opened = if deferred {
            self.endpoint.connect_deferred(now, remote, key)
        } else {
            self.endpoint.connect(now, remote, key)
        };
        match opened {
            Ok(handle) => Some(self.register(handle)),
            Err(_) => {
                let count = self.endpoint.connection_count();
                assert!(count >= MAX_CONNECTIONS, "connect refused with only {count} connections");
                None
            }
        }
    }

    pub(super) fn call(&mut self, now: Instant, i: usize, call: Call, other: &Side) {
        self.active_at = now;
        let handle = self.conns[i].handle;
        // A call on a handle the endpoint no longer holds answers UnknownConnection, like any
        // other: nothing to check beyond not panicking.
        match call {
            Call::Accept => {
                let _ = self.endpoint.accept(now, handle);
            }
            Call::Refuse => {
                let _ = self.endpoint.refuse(now, handle);
            }
            Call::Write(units) => self.write(now, i, usize::from(units) * SIZE_UNIT),
            Call::Read(units) => {
                self.read(now, i, usize::from(units) * SIZE_UNIT, other);
            }
            Call::Shutdown => {
                if self.endpoint.shutdown(now, handle).is_ok() {
                    self.conns[i].shut = true;
                }
            }
            Call::Close { code, reason } => {
                let _ = self.endpoint.close(now, handle, code, &[b'x'; 255][..usize::from(reason)]);
            }
            Call::Release => {
                // Released: the application no longer hears of it, and its stream ends with a
                // FIN after what was written (or a CLOSE, after `release_linger`).
                if self.endpoint.release(now, handle).is_ok() {
                    let conn = &mut self.conns[i];
                    (conn.closed, conn.shut, conn.released) = (true, true, true);
                }
            }
            Call::Start => {
                let _ = self.endpoint.start(now, handle);
            }
        }
    }

    /// Writes the next `len` bytes of connection `i`'s stream pattern.
    pub(super) fn write(&mut self, now: Instant, i: usize, len: usize) {
        let conn = &mut self.conns[i];
        let data: Vec<u8> = (conn.written..).take(len).map(|offset| pattern(conn.stream, offset)).collect();
        if let Ok(n) = self.endpoint.write(now, conn.handle, &data) {
            assert!(n <= len, "write took {n} of {len} bytes");
            conn.written += n as u64;
        }
    }

    /// Reads once into a buffer of `len` bytes and checks what came; returns the bytes read.
    pub(super) fn read(&mut self, now: Instant, i: usize, len: usize, other: &Side) -> usize {
        let mut buf = vec![0u8; len];
        let read = self.endpoint.read(now, self.conns[i].handle, &mut buf);
        if self.conns[i].released {
            return 0;
        }
        match read {
            Ok(0) if len > 0 => {
                self.end_of_stream(i, other);
                0
            }
            Ok(n) => {
                self.received(i, &buf[..n], other);
                n
            }
            Err(_) => 0,
        }
    }

    /// Reads connection `i` until nothing more comes.
    pub(super) fn read_all(&mut self, now: Instant, i: usize, other: &Side) {
        // Bounded: the receive buffer is finite, and a read that takes nothing stops the loop.
        for _ in 0..64 {
            if self.read(now, i, 4096, other) == 0 {
                break;
            }
        }
    }

    /// `data` was read from connection `i`: it must continue a stream of the other side.
    pub(super) fn received(&mut self, i: usize, data: &[u8], other: &Side) {
        if data.is_empty() {
            return;
        }
        let conn = &mut self.conns[i];
        assert!(!conn.eof, "{} bytes read after the end of the stream", data.len());
        let start = conn.read;
        let end = start + data.len() as u64;
        let sources = conn.sources.get_or_insert_with(|| (0..other.conns.len()).collect());
        sources.retain(|&w| {
            let source = &other.conns[w];
            source.written >= end
                && data.iter().zip(start..).all(|(&byte, offset)| byte == pattern(source.stream, offset))
        });
        assert!(!sources.is_empty(), "read {start}..{end}: bytes no connection of the other side wrote");
        conn.read = end;
        if let [only] = sources[..] {
            // A second connection may hold a copy of the stream's 0-RTT data: its initiation,
            // replayed from elsewhere, reached the victim first and passed the replay guard, and
            // the genuine one was refused and its data resent as 1-RTT. The protocol allows it
            // (PROTOCOL.md §9.4; TLS 1.3 has the same, RFC 8446 §E.5). Beyond the 0-RTT data, a
            // stream is delivered on one connection only.
            let twice = self.conns.iter().enumerate().any(|(j, c)| {
                j != i && c.sources.as_deref() == Some(&[only]) && c.read.min(end) > self.early_limit
            });
            assert!(!twice, "one stream of the other side delivered on two connections");
        }
    }

    /// `read` reported the end of connection `i`'s stream: a source must have finished there.
    pub(super) fn end_of_stream(&mut self, i: usize, other: &Side) {
        let conn = &mut self.conns[i];
        let finished_here = |w: &usize| other.conns[*w].shut && other.conns[*w].written == conn.read;
        let found = match &conn.sources {
            Some(sources) => sources.iter().any(finished_here),
            None => (0..other.conns.len()).any(|w| finished_here(&w)),
        };
        assert!(found, "end of stream after {} bytes, where no source finished", conn.read);
        conn.eof = true;
    }

    pub(super) fn receive(&mut self, now: Instant, from: SocketAddr, mut bytes: Vec<u8>) {
        self.active_at = now;
        self.endpoint.handle_datagram(now, from, &mut bytes);
    }

    /// Handles due deadlines at `now`; afterwards none may be due, and if nothing happened for
    /// [`QUIET`], every connection has ended (each one has a handshake, idle or linger timer):
    /// once the application releases its handles, none may be left. (One that ended with data
    /// the application had not read is kept for it until then.)
    pub(super) fn handle_timeout(&mut self, now: Instant) {
        self.endpoint.handle_timeout(now);
        self.handled_at = Some(now);
        if let Some(deadline) = self.endpoint.poll_timeout() {
            assert!(deadline > now, "a deadline is still due after handle_timeout");
        }
        if now.saturating_duration_since(self.active_at) >= QUIET {
            for conn in &mut self.conns {
                // Released: no event names it any more (a stale handle may still have its
                // `Closed` queued).
                if self.endpoint.release(now, conn.handle).is_ok() {
                    conn.closed = true;
                }
            }
            let count = self.endpoint.connection_count();
            assert_eq!(count, 0, "{count} connections left after {QUIET:?} of silence");
        }
    }

    /// After the epilogue: each stream read here from a known connection of the other side
    /// has arrived in full, unless either connection closed.
    pub(super) fn check_delivered(&self, other: &Side) {
        for conn in self.conns.iter().filter(|c| !c.closed) {
            let Some(&[w]) = conn.sources.as_deref() else { continue };
            let source = &other.conns[w];
            if !source.closed {
                let (read, written) = (conn.read, source.written);
                assert_eq!(read, written, "stuck: {read} of {written} bytes arrived on open connections");
            }
        }
    }

    /// The invariants that hold between operations.
    pub(super) fn check(&self) {
        let count = self.endpoint.connection_count();
        assert!(count <= MAX_CONNECTIONS, "{count} connections");
        if let (Some(handled), Some(deadline)) = (self.handled_at, self.endpoint.poll_timeout()) {
            assert!(deadline >= handled, "poll_timeout is earlier than the last handle_timeout");
        }
    }
}
