//! Toy test traffic: an unreliable constant-rate sender and a counting receiver.
//!
//! Not a transport: nothing is acknowledged or retransmitted. They exist so that the emulator and
//! the `lrp2p-sim` binary run end to end before the LRP2P `Endpoint` does, and they stay useful
//! for measuring the emulator itself.
//!
//! A toy datagram is `flow (4 B, big-endian) | seq (8 B) | filler | checksum of the rest (8 B)`,
//! so the receiver detects every corruption of one 8-byte word (every single-bit flip) and counts
//! it instead of the datagram.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::Node;

/// Length of the checksum trailer.
const SUM_LEN: usize = 8;

/// Header plus checksum: the smallest toy datagram.
pub const MIN_TOY_DATAGRAM: usize = 12 + SUM_LEN;

/// A word-wise multiply-xor checksum.
///
/// Each step `h ↦ (h ⊕ w) · K` with odd `K` is a bijection of `h`, so changing any one word
/// (the zero-padded tail included) always changes the result. Eight bytes a step keeps the toy
/// cheap next to the emulator it measures.
fn checksum(data: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut words = data.chunks_exact(8);
    let mut h = (data.len() as u64).wrapping_mul(K);
    for w in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        h = (h ^ u64::from_le_bytes(word)).wrapping_mul(K);
    }
    let mut tail = [0u8; 8];
    tail[..words.remainder().len()].copy_from_slice(words.remainder());
    (h ^ u64::from_le_bytes(tail)).wrapping_mul(K)
}

/// Sends `count` datagrams of `size` bytes to one destination, one every `interval`, starting at
/// `start`; done `linger` after the last one (to let it arrive).
#[derive(Debug, Clone)]
pub struct ToySender {
    flow: u32,
    dst: SocketAddr,
    start: Instant,
    interval: Duration,
    size: usize,
    count: u64,
    sent: u64,
    linger: Duration,
    last_sent: Option<Instant>,
    done: bool,
}

impl ToySender {
    /// A sender for flow `flow`; `size` is raised to [`MIN_TOY_DATAGRAM`] if smaller.
    pub fn new(
        flow: u32,
        dst: SocketAddr,
        start: Instant,
        interval: Duration,
        size: usize,
        count: u64,
        linger: Duration,
    ) -> Self {
        let size = size.max(MIN_TOY_DATAGRAM);
        Self { flow, dst, start, interval, size, count, sent: 0, linger, last_sent: None, done: count == 0 }
    }

    /// Datagrams sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// When datagram number `n` (from 0) is due: `start + n · interval`, without drift.
    fn due(&self, n: u64) -> Instant {
        let nanos = self.interval.as_nanos().saturating_mul(u128::from(n));
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX);
        self.start.checked_add(Duration::from_nanos(nanos)).unwrap_or(self.start)
    }
}

impl Node for ToySender {
    fn handle_datagram(&mut self, _now: Instant, _from: SocketAddr, _data: &mut [u8]) {}

    fn handle_timeout(&mut self, now: Instant) {
        let lingered = self.last_sent.is_some_and(|last| now >= last + self.linger);
        if self.sent == self.count && lingered {
            self.done = true;
        }
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        if self.sent >= self.count || now < self.due(self.sent) || buf.len() < self.size {
            return None;
        }
        let packet = &mut buf[..self.size];
        packet[..4].copy_from_slice(&self.flow.to_be_bytes());
        packet[4..12].copy_from_slice(&self.sent.to_be_bytes());
        let body_end = self.size - SUM_LEN;
        let [seed, ..] = self.sent.to_le_bytes();
        for (i, b) in packet[12..body_end].iter_mut().enumerate() {
            // Any filler will do; vary it so corruption of the filler is not special.
            let [low, ..] = i.to_le_bytes();
            *b = low.wrapping_add(seed);
        }
        let sum = checksum(&packet[..body_end]);
        packet[body_end..].copy_from_slice(&sum.to_be_bytes());
        self.sent += 1;
        self.last_sent = Some(now);
        Some((self.dst, self.size))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.done {
            None
        } else if self.sent < self.count {
            Some(self.due(self.sent))
        } else {
            self.last_sent.map(|last| last + self.linger)
        }
    }

    fn is_done(&self) -> bool {
        self.done
    }
}

/// What a [`ToyReceiver`] saw of one flow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowCount {
    /// Distinct intact datagrams.
    pub packets: u64,
    /// Bytes of the distinct intact datagrams.
    pub bytes: u64,
    /// Intact datagrams received again.
    pub duplicates: u64,
    /// Intact datagrams with a lower sequence number than one received before.
    pub out_of_order: u64,
    /// The highest sequence number received.
    pub highest: Option<u64>,
    /// Bit set of the sequence numbers received.
    seen: Vec<u64>,
}

impl FlowCount {
    /// Records `seq`; false if it had been seen before.
    fn mark(&mut self, seq: u64) -> bool {
        let Ok(word) = usize::try_from(seq / 64) else { return false };
        if self.seen.len() <= word {
            self.seen.resize(word + 1, 0);
        }
        let bit = 1u64 << (seq % 64);
        let fresh = self.seen[word] & bit == 0;
        self.seen[word] |= bit;
        fresh
    }
}

/// Counts what arrives, per flow; passive, so always done.
#[derive(Debug, Clone, Default)]
pub struct ToyReceiver {
    flows: Vec<FlowCount>,
    corrupted: u64,
    first_at: Option<Instant>,
    last_at: Option<Instant>,
    /// Every arrival in order, as (flow, seq), if recording was asked for.
    log: Option<Vec<(u32, u64)>>,
}

/// Flow ids above this are not tracked (a toy run never has that many flows).
const MAX_FLOWS: usize = 1 << 16;

impl ToyReceiver {
    /// A receiver that counts.
    pub fn new() -> Self {
        Self::default()
    }

    /// A receiver that also records the (flow, seq) of every intact arrival, in order.
    pub fn recording() -> Self {
        Self { log: Some(Vec::new()), ..Self::default() }
    }

    /// Per-flow counts, indexed by flow id.
    pub fn flows(&self) -> &[FlowCount] {
        &self.flows
    }

    /// Distinct intact datagrams over all flows.
    pub fn total_packets(&self) -> u64 {
        self.flows.iter().map(|f| f.packets).sum()
    }

    /// Bytes of distinct intact datagrams over all flows.
    pub fn total_bytes(&self) -> u64 {
        self.flows.iter().map(|f| f.bytes).sum()
    }

    /// Datagrams whose checksum failed.
    pub fn corrupted(&self) -> u64 {
        self.corrupted
    }

    /// When the first intact datagram arrived.
    pub fn first_at(&self) -> Option<Instant> {
        self.first_at
    }

    /// When the last intact, new datagram arrived.
    pub fn last_at(&self) -> Option<Instant> {
        self.last_at
    }

    /// The recorded arrivals (empty unless made with [`recording`](Self::recording)).
    pub fn log(&self) -> &[(u32, u64)] {
        self.log.as_deref().unwrap_or(&[])
    }
}

impl Node for ToyReceiver {
    fn handle_datagram(&mut self, now: Instant, _from: SocketAddr, data: &mut [u8]) {
        let Some(body_end) = data.len().checked_sub(SUM_LEN).filter(|&e| e >= 12) else {
            self.corrupted += 1;
            return;
        };
        let mut sum = [0u8; SUM_LEN];
        sum.copy_from_slice(&data[body_end..]);
        if checksum(&data[..body_end]) != u64::from_be_bytes(sum) {
            self.corrupted += 1;
            return;
        }
        let mut flow = [0u8; 4];
        flow.copy_from_slice(&data[..4]);
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&data[4..12]);
        let (flow, seq) = (u32::from_be_bytes(flow), u64::from_be_bytes(seq));
        let Some(index) = usize::try_from(flow).ok().filter(|&f| f < MAX_FLOWS) else { return };
        if self.flows.len() <= index {
            self.flows.resize_with(index + 1, FlowCount::default);
        }
        if let Some(log) = &mut self.log {
            log.push((flow, seq));
        }
        let f = &mut self.flows[index];
        if f.highest.is_some_and(|h| seq < h) {
            f.out_of_order += 1;
        }
        f.highest = f.highest.max(Some(seq));
        if f.mark(seq) {
            f.packets += 1;
            f.bytes += data.len() as u64;
            self.first_at.get_or_insert(now);
            self.last_at = Some(now);
        } else {
            f.duplicates += 1;
        }
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self, _now: Instant, _buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        None
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn is_done(&self) -> bool {
        true
    }
}

/// Either toy, so one [`Simulator`](crate::Simulator) holds both and they stay inspectable.
#[derive(Debug, Clone)]
pub enum ToyNode {
    /// A [`ToySender`].
    Sender(ToySender),
    /// A [`ToyReceiver`].
    Receiver(ToyReceiver),
}

impl Node for ToyNode {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &mut [u8]) {
        match self {
            ToyNode::Sender(n) => n.handle_datagram(now, from, data),
            ToyNode::Receiver(n) => n.handle_datagram(now, from, data),
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        match self {
            ToyNode::Sender(n) => n.handle_timeout(now),
            ToyNode::Receiver(n) => n.handle_timeout(now),
        }
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        match self {
            ToyNode::Sender(n) => n.poll_transmit(now, buf),
            ToyNode::Receiver(n) => n.poll_transmit(now, buf),
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            ToyNode::Sender(n) => n.poll_timeout(),
            ToyNode::Receiver(n) => n.poll_timeout(),
        }
    }
    fn is_done(&self) -> bool {
        match self {
            ToyNode::Sender(n) => n.is_done(),
            ToyNode::Receiver(n) => n.is_done(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagrams(count: u64) -> (Vec<Vec<u8>>, Instant) {
        let t0 = Instant::now();
        let dst = "10.0.0.2:1".parse().unwrap();
        let mut tx = ToySender::new(3, dst, t0, Duration::from_millis(1), 40, count, Duration::ZERO);
        let mut buf = [0u8; 100];
        let mut out = Vec::new();
        for i in 0..count {
            let now = t0 + Duration::from_millis(i);
            assert_eq!(tx.poll_timeout(), Some(now));
            let (to, len) = tx.poll_transmit(now, &mut buf).unwrap();
            assert_eq!(to, dst);
            assert!(tx.poll_transmit(now, &mut buf).is_none(), "one per interval");
            out.push(buf[..len].to_vec());
        }
        (out, t0)
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let (sent, t0) = datagrams(1);
        let from = "10.0.0.1:1".parse().unwrap();
        let mut rx = ToyReceiver::new();
        for bit in 0..sent[0].len() * 8 {
            let mut d = sent[0].clone();
            d[bit / 8] ^= 1 << (bit % 8);
            rx.handle_datagram(t0, from, &mut d);
        }
        assert_eq!(rx.corrupted(), sent[0].len() as u64 * 8);
        assert_eq!(rx.total_packets(), 0);
        rx.handle_datagram(t0, from, &mut [0u8; 5]);
        assert_eq!(rx.corrupted(), sent[0].len() as u64 * 8 + 1);
    }

    #[test]
    fn receiver_counts_duplicates_and_reordering() {
        let (sent, t0) = datagrams(4);
        let from = "10.0.0.1:1".parse().unwrap();
        let mut rx = ToyReceiver::recording();
        for i in [0usize, 2, 1, 2, 3] {
            rx.handle_datagram(t0 + Duration::from_millis(i as u64), from, &mut sent[i].clone());
        }
        let f = &rx.flows()[3];
        assert_eq!((f.packets, f.bytes, f.duplicates, f.out_of_order, f.highest), (4, 160, 1, 1, Some(3)));
        assert_eq!(rx.log(), &[(3, 0), (3, 2), (3, 1), (3, 2), (3, 3)]);
        assert_eq!(rx.first_at(), Some(t0));
        assert_eq!(rx.last_at(), Some(t0 + Duration::from_millis(3)));
    }

    #[test]
    fn sender_lingers_then_is_done() {
        let t0 = Instant::now();
        let dst = "10.0.0.2:1".parse().unwrap();
        let mut tx = ToySender::new(0, dst, t0, Duration::from_millis(1), 20, 1, Duration::from_secs(1));
        let mut buf = [0u8; 20];
        assert!(tx.poll_transmit(t0, &mut buf).is_some());
        assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_secs(1)));
        tx.handle_timeout(t0 + Duration::from_millis(999));
        assert!(!tx.is_done());
        tx.handle_timeout(t0 + Duration::from_secs(1));
        assert!(tx.is_done());
        assert_eq!(tx.poll_timeout(), None);
    }
}
