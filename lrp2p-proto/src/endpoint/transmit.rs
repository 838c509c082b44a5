//! What the [`Endpoint`] sends, in this order: stateless cookie replies, the relay service's
//! queue (PROTOCOL.md §13.8), punches (§13.9), then the connections in turn, one batch each
//! (UDP segmentation offload), batches to one destination extended with the next connections'
//! datagrams to it.

use std::time::Instant;

use rand_core::{CryptoRng, RngCore};

use super::{ConnectionHandle, Endpoint, HandshakeCtx, Transmit, relay};
use crate::connection::Connection;
use crate::identity::PublicKey;

/// Datagrams one connection adds to a batch shared with others to the same peer socket.
const QUANTUM: usize = 8;

impl<R: RngCore + CryptoRng> Endpoint<R> {
    /// Writes the next datagram to send into `buf` (at least the configured datagram size).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.poll_transmit_batch(now, buf, 1)
    }

    /// Writes up to `max_datagrams` datagrams to one destination into `buf`, back to back, all
    /// of [`Transmit::segment_size`] bytes but the last, which may be shorter: one call of UDP
    /// segmentation offload (GSO). Room for `max_datagrams` datagrams of the configured size
    /// gives full batches. Connections take turns, one batch each.
    pub fn poll_transmit_batch(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        max_datagrams: usize,
    ) -> Option<Transmit> {
        if let Some((destination, reply)) = self.stateless.pop_front() {
            let out = buf.get_mut(..reply.len())?;
            out.copy_from_slice(&reply);
            self.stats.datagrams_sent += 1;
            return Some(Transmit { destination, len: reply.len(), segment_size: reply.len() });
        }
        if let Some(transmit) = self.poll_relay_queue(buf, max_datagrams) {
            self.stats.datagrams_sent += transmit.len.div_ceil(transmit.segment_size.max(1)) as u64;
            return Some(transmit);
        }
        if let Some((destination, len)) = self.poll_punch(now, buf) {
            self.stats.datagrams_sent += 1;
            return Some(Transmit { destination, len, segment_size: len });
        }
        while let Some(handle) = self.table.next_dirty() {
            let timestamp_ns = self.unix_now(now).max(self.last_timestamp + 1);
            // A connection whose turn is followed by another's to the same peer socket sends a
            // quantum, and the batch goes on with the next (see `coalesce`).
            let shared_peer =
                self.table.peek_dirty().and_then(|next| self.table.get(next)).map(Connection::remote);
            self.allow(handle);
            let Some(conn) = self.table.get_mut(handle) else { continue };
            if conn.wants_handshake_start() {
                self.last_timestamp = timestamp_ns;
                let ctx = HandshakeCtx { rng: &mut self.rng, identity: &self.identity, timestamp_ns };
                conn.start_handshake(now, ctx);
            }
            let turn =
                if shared_peer == Some(conn.remote()) { max_datagrams.min(QUANTUM) } else { max_datagrams };
            // PROTOCOL.md §13.8: on a relayed path one datagram at a time, written where the
            // hop datagram carries it (then more of the same size: `batch_relayed`).
            let relayed = crate::connection::is_relayed(&conn.remote());
            let (at, turn) = if relayed { (relay::CARRIED_AT, 1) } else { (0, turn) };
            let end = if relayed { buf.len().saturating_sub(crate::wire::TAG_LEN) } else { buf.len() };
            let batch = buf.get_mut(at..end).and_then(|slot| conn.poll_transmit(now, slot, turn, None));
            let peer = conn.relay_peer();
            self.after(handle);
            let Some(batch) = batch else {
                self.table.clear_dirty(handle);
                continue;
            };
            // Keep it dirty: it may have more to send (round-robin with the others).
            self.table.mark_dirty(handle);
            if relayed || crate::connection::is_relayed(&batch.destination) {
                match self.route_relayed(now, buf, at, &batch, peer) {
                    Some(mut transmit) => {
                        let full = batch.len == batch.segment_size;
                        if relayed && full && crate::connection::is_relayed(&batch.destination) {
                            self.batch_relayed(now, buf, handle, max_datagrams, &mut transmit, peer);
                        }
                        self.stats.datagrams_sent +=
                            transmit.len.div_ceil(transmit.segment_size.max(1)) as u64;
                        return Some(transmit);
                    }
                    None => continue,
                }
            }
            let mut transmit =
                Transmit { destination: batch.destination, len: batch.len, segment_size: batch.segment_size };
            self.coalesce(now, buf, max_datagrams, &mut transmit);
            self.stats.datagrams_sent += transmit.len.div_ceil(transmit.segment_size.max(1)) as u64;
            return Some(transmit);
        }
        None
    }

    /// Extends a batch of one hop datagram (a full-size datagram of connection `handle`,
    /// framed for the relay) with the connection's next datagrams of the same size, each framed
    /// in its own slot: one system call for a run of relayed datagrams, as for direct ones.
    fn batch_relayed(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        handle: ConnectionHandle,
        max_datagrams: usize,
        transmit: &mut Transmit,
        peer: Option<PublicKey>,
    ) {
        let hop = transmit.len;
        let Some(carried) = hop.checked_sub(crate::wire::RELAY_OVERHEAD) else { return };
        let mut count = 1;
        while count < max_datagrams && transmit.len == count * hop {
            let base = transmit.len;
            let Some(slot) = buf.get_mut(base + relay::CARRIED_AT..base + relay::CARRIED_AT + carried) else {
                return;
            };
            self.allow(handle);
            let Some(conn) = self.table.get_mut(handle) else { return };
            let batch = conn.poll_transmit(now, slot, 1, Some(carried));
            self.after(handle);
            let Some(batch) = batch else { return };
            let Some(framed) = self.frame_relayed(now, &mut buf[base..], relay::CARRIED_AT, batch.len, peer)
            else {
                self.stats.relay_dropped += 1;
                return;
            };
            transmit.len += framed.len;
            count += 1;
        }
    }

    /// Extends a batch whose datagrams are all full with those of the next connections in turn
    /// that send to the same destination (several connections between two sockets), as long as
    /// theirs fit the batch's size: one system call for all of them. Each connection adds at most
    /// [`QUANTUM`] datagrams, so the peer sees the connections interleaved finely (each gets its
    /// ACKs as often as alone) rather than one long run after another.
    fn coalesce(&mut self, now: Instant, buf: &mut [u8], max_datagrams: usize, transmit: &mut Transmit) {
        let size = transmit.segment_size.max(1);
        let mut count = transmit.len.div_ceil(size);
        while count < max_datagrams && transmit.len == count * size {
            let Some(next) = self.table.peek_dirty() else { return };
            self.allow(next);
            let Some(conn) = self.table.get_mut(next) else { return };
            if conn.remote() != transmit.destination || conn.wants_handshake_start() {
                return;
            }
            let Some(rest) = buf.get_mut(transmit.len..) else { return };
            let more = conn.poll_transmit(now, rest, (max_datagrams - count).min(QUANTUM), Some(size));
            let _ = self.table.next_dirty();
            self.after(next);
            // Dirty again either way: it may have more, or a datagram larger than the batch's
            // (then it goes in a batch of its own, at its turn).
            self.table.mark_dirty(next);
            let Some(more) = more else { return };
            transmit.len += more.len;
            count += more.len.div_ceil(size);
        }
    }
}
