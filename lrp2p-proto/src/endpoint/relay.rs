//! The relay in the endpoint (PROTOCOL.md §13.8). As a *peer*: what a connection sends on a
//! relayed path is framed, unchanged, in a RELAY packet on the rendezvous link, and what comes
//! in RELAY packets on the link is dispatched as received on the relayed path of the key that
//! sent it. As a *service*: a RELAY packet from one registered peer is passed to the peer its
//! key names, re-sealed on that peer's link in place (one authentication check and one
//! re-authentication; the carried datagram is never opened), within per-peer rate limits.
//!
//! A relayed path is an address of the discard-only prefix `100::/64` inside the endpoint
//! (`connection/relay.rs`); a datagram from the network that claims such a source is dropped.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use rand_core::{CryptoRng, RngCore};

use super::{ConnectionHandle, Endpoint, Transmit};
use crate::connection::{is_relayed, relay_address};
use crate::identity::PublicKey;
use crate::wire::{RELAY_HEADER_LEN, RELAY_OVERHEAD, RelayRepr, TAG_LEN, TRANSPORT_HEADER_LEN};

/// Where a carried datagram starts in a hop datagram: after the transport header, the mark and
/// the key.
pub(super) const CARRIED_AT: usize = TRANSPORT_HEADER_LEN + RELAY_HEADER_LEN;

/// Hop datagrams waiting to leave the service, at most.
const MAX_QUEUED: usize = 1024;

/// The service's relay: per-peer buckets and the datagrams passed on, waiting to be sent.
#[derive(Debug)]
pub(super) struct RelayService {
    bytes_per_second: u64,
    datagrams_per_second: u32,
    /// Allocated for a peer when it first relays; gone with its link.
    buckets: BTreeMap<ConnectionHandle, Bucket>,
    queue: VecDeque<(SocketAddr, Vec<u8>)>,
    /// Spent buffers, reused.
    spare: Vec<Vec<u8>>,
    stats: RelayStats,
}

/// The relay's counters ([`Endpoint::rendezvous_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayStats {
    /// Datagrams passed from one peer to another.
    pub relayed: u64,
    /// Their bytes (the carried datagrams').
    pub relayed_bytes: u64,
    /// Dropped: over the sender's rate limit.
    pub rate_limited: u64,
    /// Dropped: the key named no registered peer, or that peer's link could not carry it.
    pub unknown_destination: u64,
    /// Dropped: the send queue was full.
    pub queue_full: u64,
}

/// Two token buckets: bytes and datagrams, each a quarter second deep, each refilled from the
/// last time it gained a whole token (so that neither loses the fraction the other gained:
/// small datagrams more often than one datagram token's worth would starve the count).
#[derive(Debug)]
struct Bucket {
    bytes: u64,
    bytes_at: Instant,
    datagrams: u32,
    datagrams_at: Instant,
}

/// Whole tokens `per_second` gives in the time since `*at`, moving `*at` on only when it gave
/// some (the fraction stays for the next refill).
fn refill(per_second: u64, at: &mut Instant, now: Instant) -> u64 {
    let nanos = now.saturating_duration_since(*at).as_nanos();
    let tokens = u64::try_from(u128::from(per_second) * nanos / 1_000_000_000).unwrap_or(u64::MAX);
    if tokens > 0 {
        *at = now;
    }
    tokens
}

impl RelayService {
    pub(super) fn new(bytes_per_second: u64, datagrams_per_second: u32) -> Self {
        RelayService {
            bytes_per_second,
            datagrams_per_second,
            buckets: BTreeMap::new(),
            queue: VecDeque::new(),
            spare: Vec::new(),
            stats: RelayStats::default(),
        }
    }

    pub(super) fn stats(&self) -> RelayStats {
        self.stats
    }

    /// The link `handle` ended.
    pub(super) fn forget(&mut self, handle: ConnectionHandle) {
        self.buckets.remove(&handle);
    }

    /// Whether `handle` may send `bytes` more now (PROTOCOL.md §13.8), taking the tokens.
    fn admit(&mut self, now: Instant, handle: ConnectionHandle, bytes: usize) -> bool {
        let (rate, per_second) = (self.bytes_per_second, u64::from(self.datagrams_per_second));
        if rate == 0 {
            return false;
        }
        let (depth, count_depth) = ((rate / 4).max(2048), (per_second / 4).max(4));
        let bucket = self.buckets.entry(handle).or_insert(Bucket {
            bytes: depth,
            bytes_at: now,
            datagrams: u32::try_from(count_depth).unwrap_or(u32::MAX),
            datagrams_at: now,
        });
        let more_bytes = refill(rate, &mut bucket.bytes_at, now);
        bucket.bytes = bucket.bytes.saturating_add(more_bytes).min(depth);
        let more_datagrams = refill(per_second, &mut bucket.datagrams_at, now);
        let datagrams = u64::from(bucket.datagrams).saturating_add(more_datagrams).min(count_depth);
        bucket.datagrams = u32::try_from(datagrams).unwrap_or(u32::MAX);
        let bytes = bytes as u64;
        if bucket.bytes < bytes || bucket.datagrams == 0 {
            return false;
        }
        bucket.bytes -= bytes;
        bucket.datagrams -= 1;
        true
    }
}

impl<R: RngCore + CryptoRng> Endpoint<R> {
    /// A connection wrote a datagram for a relayed path (PROTOCOL.md §13.8): `len` bytes at
    /// `buf[at..]` (`at` is [`CARRIED_AT`] when the connection's path is relayed, else 0, for a
    /// challenge or response alone toward the relay). Frames it on the rendezvous link, for
    /// `peer`: the hop datagram, from the start of `buf`. `None`: dropped (no link that can
    /// carry it yet, no room); the connection recovers it as a loss.
    pub(super) fn frame_relayed(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        at: usize,
        len: usize,
        peer: Option<PublicKey>,
    ) -> Option<Transmit> {
        let link = self.peer_role.as_ref().map(|p| p.link())?;
        let peer = peer?;
        if len + RELAY_OVERHEAD > buf.len() {
            return None;
        }
        if at != CARRIED_AT {
            buf.copy_within(at..at + len, CARRIED_AT);
        }
        RelayRepr::emit_header(&peer, &mut buf[TRANSPORT_HEADER_LEN..]).ok()?;
        let conn = self.table.get_mut(link)?;
        let hop = conn.seal_relay(now, &mut buf[..len + RELAY_OVERHEAD], RELAY_HEADER_LEN + len)?;
        let destination = conn.remote();
        self.after(link);
        self.stats.relayed_sent += 1;
        Some(Transmit { destination, len: hop, segment_size: hop })
    }

    /// A connection's `batch` written at `buf[at..]`, of which the path or the destination is
    /// relayed: a direct datagram moved to the start of `buf`, or one datagram framed on the
    /// link ([`Self::frame_relayed`]). `None`: dropped (counted).
    pub(super) fn route_relayed(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        at: usize,
        batch: &crate::connection::Batch,
        peer: Option<PublicKey>,
    ) -> Option<Transmit> {
        let len = batch.len;
        if !is_relayed(&batch.destination) {
            // A probe of a direct address from a relayed connection.
            buf.copy_within(at..at + len, 0);
            return Some(Transmit { destination: batch.destination, len, segment_size: batch.segment_size });
        }
        let framed =
            if len <= batch.segment_size { self.frame_relayed(now, buf, at, len, peer) } else { None };
        if framed.is_none() {
            self.stats.relay_dropped += 1;
        }
        framed
    }

    /// Hop datagrams the service passed on, waiting to be sent: the first, and up to
    /// `max_datagrams` in all that follow it to the same peer with the same size (the last
    /// may be shorter), in one batch.
    pub(super) fn poll_relay_queue(&mut self, buf: &mut [u8], max_datagrams: usize) -> Option<Transmit> {
        let relay = self.relay_service.as_mut()?;
        let (destination, datagram) = relay.queue.pop_front()?;
        let size = datagram.len();
        let sent = buf.get_mut(..size).map(|out| out.copy_from_slice(&datagram));
        relay.spare.push(datagram);
        sent?;
        let mut len = size;
        while len < max_datagrams.saturating_mul(size) && len % size == 0 {
            let Some((to, next)) = relay.queue.front() else { break };
            let Some(out) = buf.get_mut(len..len + next.len()) else { break };
            if *to != destination || next.len() > size {
                break;
            }
            out.copy_from_slice(next);
            len += next.len();
            if let Some((_, next)) = relay.queue.pop_front() {
                relay.spare.push(next);
            }
        }
        Some(Transmit { destination, len, segment_size: size })
    }

    /// The connection `handle` opened a RELAY packet whose plaintext is the `len` bytes after
    /// the transport header of `data` (PROTOCOL.md §13.8).
    pub(super) fn on_relay_packet(
        &mut self,
        now: Instant,
        handle: ConnectionHandle,
        data: &mut [u8],
        len: usize,
    ) {
        let end = TRANSPORT_HEADER_LEN + len;
        let is_link = self.peer_role.as_ref().is_some_and(|p| p.link_is(handle));
        let serves = self.service_role.as_ref().is_some_and(|s| s.serves(handle));
        if self.relayed_from.is_none() && is_link && data.len() >= end {
            let Ok(repr) = RelayRepr::parse(&data[TRANSPORT_HEADER_LEN..end]) else {
                self.stats.malformed += 1;
                return;
            };
            let key = repr.key;
            self.stats.relayed_received += 1;
            self.relayed_from = Some(key);
            self.dispatch(now, relay_address(&key), &mut data[CARRIED_AT..end]);
            self.relayed_from = None;
        } else if self.relayed_from.is_none() && serves && data.len() >= end + TAG_LEN {
            self.forward(now, handle, &mut data[..end + TAG_LEN], len);
        } else if let Some(conn) = self.table.get_mut(handle) {
            // PROTOCOL.md §13.8: only a rendezvous link carries RELAY packets, and never one
            // inside another.
            conn.refuse_relay(now);
            self.touched(handle);
        }
    }

    /// The service: `hop` is a RELAY packet from the peer on link `from`, opened in place (its
    /// plaintext of `len` bytes after the header). Passes the carried datagram to the peer its
    /// key names, re-sealed on that peer's link in the same buffer.
    fn forward(&mut self, now: Instant, from: ConnectionHandle, hop: &mut [u8], len: usize) {
        let plain = TRANSPORT_HEADER_LEN..TRANSPORT_HEADER_LEN + len;
        let (Some(service), Some(relay)) = (self.service_role.as_ref(), self.relay_service.as_mut()) else {
            return;
        };
        let Ok(repr) = RelayRepr::parse(&hop[plain.clone()]) else {
            self.stats.malformed += 1;
            return;
        };
        let carried = repr.datagram.len();
        let source = self.table.get(from).and_then(|c| c.peer_key()).filter(|_| service.serves(from));
        let (Some(source), Some(to)) = (source, service.link_of(&repr.key)) else {
            relay.stats.unknown_destination += 1;
            return;
        };
        if to == from {
            relay.stats.unknown_destination += 1;
            return;
        }
        if !relay.admit(now, from, carried) {
            relay.stats.rate_limited += 1;
            return;
        }
        if relay.queue.len() >= MAX_QUEUED {
            relay.stats.queue_full += 1;
            return;
        }
        // The key now names the source (PROTOCOL.md §13.8); the service cannot read or change
        // the carried datagram, sealed end to end.
        RelayRepr::emit_header(&source, &mut hop[TRANSPORT_HEADER_LEN..]).ok();
        let Some(conn) = self.table.get_mut(to) else { return };
        let Some(n) = conn.seal_relay(now, hop, len) else {
            if let Some(relay) = self.relay_service.as_mut() {
                relay.stats.unknown_destination += 1;
            }
            return;
        };
        let destination = conn.remote();
        self.after(to);
        let Some(relay) = self.relay_service.as_mut() else { return };
        let mut out = relay.spare.pop().unwrap_or_default();
        out.clear();
        out.extend_from_slice(&hop[..n]);
        relay.queue.push_back((destination, out));
        relay.stats.relayed += 1;
        relay.stats.relayed_bytes += carried as u64;
    }

    /// The relayed path to `peer`, if the rendezvous can carry this endpoint's datagrams to it:
    /// this endpoint is registered and was introduced to `peer` (PROTOCOL.md §13.8).
    pub(super) fn relay_for(&self, peer: &PublicKey) -> Option<SocketAddr> {
        let role = self.peer_role.as_ref()?;
        role.was_introduced(peer).then(|| relay_address(peer))
    }

    /// What the application is shown for `addr`: for a relayed path the service's address.
    pub(super) fn shown(&self, addr: SocketAddr) -> SocketAddr {
        if !is_relayed(&addr) {
            return addr;
        }
        let link = self.peer_role.as_ref().map(|p| p.link());
        link.and_then(|l| self.table.get(l)).map_or(addr, |c| c.remote())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // An `Instant` can only be had from the clock; only differences from it matter here.
    #[allow(clippy::disallowed_methods)]
    fn origin() -> Instant {
        Instant::now()
    }

    /// Small datagrams every 10 µs for 2 s against 20,000 datagrams/s: a quarter second's
    /// bucket (5,000) and then the rate (40,000 more), not the bucket alone (the count once
    /// lost the fraction whenever the byte bucket refilled first).
    #[test]
    fn both_buckets_refill_at_their_rates_under_small_frequent_datagrams() {
        let mut relay = RelayService::new(12_500_000, 20_000);
        let handle = ConnectionHandle { index: 0, generation: 1 };
        let start = origin();
        let admitted = (0..200_000u64)
            .filter(|i| relay.admit(start + std::time::Duration::from_micros(10 * i), handle, 40))
            .count();
        assert!((44_000..=45_100).contains(&admitted), "{admitted}");
    }
}
