//! The transport session: sealing and opening transport datagrams after the handshake.
//!
//! A [`Session`] holds the two direction keys from Noise `Split()` (PROTOCOL.md §5.5), the send
//! counter, the receive [`ReplayWindow`] and the key-update state (PROTOCOL.md §6.3–6.5). It works on
//! caller buffers, in place, and never allocates.
//!
//! Datagram (PROTOCOL.md §6.1): `type(1) | receiver_id(8) | counter(8) | ciphertext(m >= 1) | tag(16)`.
//! The 17 header bytes are the associated data, the counter is the nonce (Noise rev 34 §12.3).
//!
//! # Key update (PROTOCOL.md §6.3–6.5, after RFC 9001 §6)
//! Each direction has a chain of keys `k, REKEY(k), REKEY(REKEY(k)), …` (Noise rev 34 §11.3);
//! the phase bit in the type byte tells which of two consecutive keys sealed a packet, and
//! counters continue across phases.
//! - [`Session::initiate_key_update`] moves the send side to the next key and flips its phase.
//!   A second update must wait until the peer has answered in the new phase.
//! - On receipt, a packet of the *other* phase whose counter is above every counter of the
//!   current phase is opened with the next receive key (computed in advance, so a trial costs one
//!   decryption). If it authenticates, the receive side rotates — the old key is kept as the
//!   *previous* key for stragglers below the new phase's first counter — and the send side
//!   follows into the same phase if it is not there already.
//! - A packet of the other phase below the current phase's first counter is opened with the
//!   previous key, until the connection calls [`Session::discard_previous_key`] (for instance
//!   three PTOs after a rotation, as RFC 9001 §6.5 suggests).
//!
//! Nothing that fails to authenticate changes any state: the window is marked, the phase
//! rotated and the statistics of successes updated only after the tag has verified.

use super::aead::{Aead, AeadError, DefaultAead, KEY_LEN};
use super::replay::{Replay, ReplayWindow};
use crate::wire::{ConnectionId, DecodeError, TAG_LEN, TRANSPORT_HEADER_LEN, TransportHeader};

/// Bytes a transport datagram adds to its plaintext: the 17-byte header and the 16-byte tag.
pub const TRANSPORT_OVERHEAD: usize = TRANSPORT_HEADER_LEN + TAG_LEN;

/// The first counter that is never sent: `2^64 - 2^16`.
///
/// PROTOCOL.md §6.3–6.5: "values >= 2^64 - 2^16 are never sent" (Noise rev 34 §5.1 reserves
/// `2^64 - 1`, the `REKEY` nonce; the margin keeps well clear of it).
pub const COUNTER_LIMIT: u64 = u64::MAX - (1 << 16) + 1;

/// Why [`Session::seal`] refused to produce a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// A transport packet carries at least one plaintext byte (PROTOCOL.md §6.1).
    #[error("empty plaintext")]
    EmptyPlaintext,
    /// `buf` cannot hold header, plaintext and tag.
    #[error("buffer too small: need {needed} bytes, have {had}")]
    BufferTooSmall {
        /// Bytes required: plaintext length + [`TRANSPORT_OVERHEAD`].
        needed: usize,
        /// Length of the buffer given.
        had: usize,
    },
    /// The send counter reached [`COUNTER_LIMIT`]: this session can send nothing more; open a
    /// new connection (a new handshake).
    #[error("send counter exhausted: a new connection is required")]
    CounterExhausted,
    /// The AEAD backend refused the input (only for absurd lengths).
    #[error(transparent)]
    Aead(#[from] AeadError),
}

/// Why [`Session::open`] dropped a datagram. The connection counts these; none is fatal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The datagram is not a well-formed transport packet.
    #[error("malformed transport packet: {0}")]
    Malformed(#[from] DecodeError),
    /// The counter is one a peer never sends (at or above [`COUNTER_LIMIT`]).
    #[error("counter {0} is beyond the counter limit")]
    CounterOutOfRange(u64),
    /// The replay window refused the counter (checked before decryption).
    #[error("replayed packet: {0}")]
    Replay(#[from] Replay),
    /// The packet is of the other key phase but no key held fits it: below the current
    /// phase's first counter after the previous key was discarded, or inside the current phase.
    #[error("no key for this key phase and counter")]
    KeyPhase,
    /// The tag did not verify: forged, corrupted, or sealed under another key.
    #[error("authentication failed")]
    Authentication,
}

/// Why [`Session::initiate_key_update`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyUpdateError {
    /// The previous update is not confirmed yet: no packet of the new phase has been received
    /// from the peer (RFC 9001 §6.1). Two updates in a row would make the phase bit ambiguous.
    #[error("previous key update not yet confirmed by the peer")]
    InProgress,
    /// The AEAD backend failed to derive the next key.
    #[error(transparent)]
    Aead(#[from] AeadError),
}

/// Counters of a session's traffic, for the connection's statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionStats {
    /// Datagrams sealed.
    pub sealed: u64,
    /// Datagrams opened (authenticated and fresh).
    pub opened: u64,
    /// Datagrams dropped by the replay window (duplicate or too old).
    pub replays_dropped: u64,
    /// Datagrams whose tag did not verify.
    pub auth_failures: u64,
    /// Datagrams dropped before decryption as malformed, out of counter range, or without a key.
    pub malformed: u64,
    /// Key updates this side initiated.
    pub key_updates_initiated: u64,
    /// Receive-key rotations (each completes a key update, whichever side began it).
    pub recv_key_rotations: u64,
}

/// Which receive key a datagram is for.
#[derive(Clone, Copy)]
enum RecvKey {
    Current,
    Previous,
    Next,
}

/// One connection's transport encryption: two direction keys, counters, replay window and
/// key-update state.
///
/// Size (`size_of`, printed and bounded by the tests): two built keys (send, receive: 32 bytes
/// each with RustCrypto, ~560 with ring), the next receive key as its 32 bytes (built only when
/// a packet of the next phase arrives), the previous receive key boxed (on the heap only for a
/// while after a key update), the 272-byte [`ReplayWindow`], 56 bytes of [`SessionStats`] and
/// the counters: ≤ 512 bytes with RustCrypto, ≤ 1,536 with ring. An idle connection holds no
/// heap here.
///
/// [`RustCryptoAead`]: super::aead::RustCryptoAead
pub struct Session<A: Aead = DefaultAead> {
    /// The peer's connection id, written as `receiver_id` into every datagram sent.
    peer_id: ConnectionId,
    /// The current send key and its phase bit.
    send: A,
    send_phase: bool,
    /// The next counter to send; every value below it has been used.
    send_counter: u64,
    /// The current receive key, `REKEY` of it (precomputed), and the one before it.
    recv: A,
    recv_next: zeroize::Zeroizing<[u8; KEY_LEN]>,
    recv_prev: Option<Box<A>>,
    /// Phase bit of `recv`.
    recv_phase: bool,
    /// Lowest counter authenticated under `recv` (0 in the first phase): other-phase packets
    /// below it belong to `recv_prev`.
    recv_phase_first: u64,
    /// Highest counter authenticated under `recv` (`None` before the first in the first phase):
    /// other-phase packets above it belong to `recv_next`.
    recv_phase_highest: Option<u64>,
    replay: ReplayWindow,
    stats: SessionStats,
}

impl<A: Aead> core::fmt::Debug for Session<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("backend", &A::NAME)
            .field("peer_id", &self.peer_id)
            .field("send_phase", &self.send_phase)
            .field("send_counter", &self.send_counter)
            .field("recv_phase", &self.recv_phase)
            .field("has_previous_key", &self.recv_prev.is_some())
            .field("replay", &self.replay)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<A: Aead> Session<A> {
    /// A session from the two keys of Noise `Split()` and the peer's connection id.
    ///
    /// `send_key` seals what this side sends, `recv_key` opens what it receives (for the
    /// initiator `k1` and `k2`, for the responder the reverse: PROTOCOL.md §5.5). `peer_id` is the
    /// non-zero id the peer chose; it goes into every datagram's `receiver_id`. The backend
    /// copies the keys; the caller should zeroize its own copies.
    pub fn new(
        send_key: &[u8; KEY_LEN],
        recv_key: &[u8; KEY_LEN],
        peer_id: ConnectionId,
    ) -> Result<Self, AeadError> {
        debug_assert_ne!(peer_id, ConnectionId::NONE, "connection id 0 is reserved");
        let recv = A::new(recv_key)?;
        let recv_next = recv.rekey_bytes()?;
        Ok(Session {
            peer_id,
            send: A::new(send_key)?,
            send_phase: false,
            send_counter: 0,
            recv,
            recv_next,
            recv_prev: None,
            recv_phase: false,
            recv_phase_first: 0,
            recv_phase_highest: None,
            replay: ReplayWindow::new(),
            stats: SessionStats::default(),
        })
    }

    /// Seals the plaintext at `buf[17..17 + plaintext_len]` into a transport datagram in place.
    ///
    /// Writes the header (current send phase, next counter), encrypts with the header as
    /// associated data, writes the tag after the ciphertext and returns the datagram's length,
    /// `plaintext_len + 33`. Each call uses a new counter; on error nothing is consumed.
    pub fn seal(&mut self, buf: &mut [u8], plaintext_len: usize) -> Result<usize, SealError> {
        if plaintext_len == 0 {
            return Err(SealError::EmptyPlaintext);
        }
        let had = buf.len();
        let needed = plaintext_len.saturating_add(TRANSPORT_OVERHEAD);
        if had < needed {
            return Err(SealError::BufferTooSmall { needed, had });
        }
        // PROTOCOL.md §6.3–6.5: counters >= 2^64 - 2^16 are never sent; the limit asks for a new connection.
        let counter = self.send_counter;
        if counter >= COUNTER_LIMIT {
            return Err(SealError::CounterExhausted);
        }
        let header = TransportHeader { key_phase: self.send_phase, receiver_id: self.peer_id, counter };
        // Lengths checked above: needed = 17 + plaintext_len + 16 <= buf.len().
        let (head, rest) = buf.split_at_mut(TRANSPORT_HEADER_LEN);
        header.emit(head).map_err(|_| SealError::BufferTooSmall { needed, had })?;
        let (body, rest) = rest.split_at_mut(plaintext_len);
        // PROTOCOL.md §6.3–6.5: AD = the 17 header bytes; nonce = counter (Noise rev 34 §12.3).
        let tag = self.send.seal_in_place(counter, head, body)?;
        rest[..TAG_LEN].copy_from_slice(&tag);
        // counter < COUNTER_LIMIT, so this cannot overflow; it is never decremented.
        self.send_counter = counter + 1;
        self.stats.sealed = self.stats.sealed.saturating_add(1);
        Ok(needed)
    }

    /// Opens a transport datagram in place and returns its plaintext (a slice of `datagram`).
    ///
    /// Order (PROTOCOL.md §9.1, after boringtun): parse the header; refuse the counter if the
    /// replay window has seen it or it is too old — before any decryption; choose the key by
    /// phase and counter; decrypt and verify; only then mark the window and, if the packet
    /// completes a key update, rotate keys. On error the datagram's bytes are unspecified and
    /// no state but the statistics has changed.
    pub fn open<'a>(&mut self, datagram: &'a mut [u8]) -> Result<&'a [u8], OpenError> {
        let header = match TransportHeader::parse(datagram) {
            Ok(header) => header,
            Err(e) => return Err(self.drop_malformed(e.into())),
        };
        let datagram_len = datagram.len();
        let counter = header.counter;
        if counter >= COUNTER_LIMIT {
            return Err(self.drop_malformed(OpenError::CounterOutOfRange(counter)));
        }
        // RFC 6479 §2.3 / PROTOCOL.md §9.1: check before decryption, mark after.
        if let Err(replay) = self.replay.check(counter) {
            self.stats.replays_dropped = self.stats.replays_dropped.saturating_add(1);
            return Err(replay.into());
        }
        let which = if header.key_phase == self.recv_phase {
            RecvKey::Current
        } else if counter < self.recv_phase_first {
            if self.recv_prev.is_none() {
                return Err(self.drop_malformed(OpenError::KeyPhase));
            }
            RecvKey::Previous
        } else if self.recv_phase_highest.is_none_or(|highest| counter > highest) {
            // PROTOCOL.md §6.3–6.5: the other phase above every counter of the current one.
            RecvKey::Next
        } else {
            return Err(self.drop_malformed(OpenError::KeyPhase));
        };
        // TransportHeader::parse guaranteed at least 17 + 1 + 16 bytes.
        let (head, rest) = datagram.split_at_mut(TRANSPORT_HEADER_LEN);
        let Some((body, tag)) = rest.split_last_chunk_mut::<TAG_LEN>() else {
            let truncated = DecodeError::Truncated { needed: TRANSPORT_OVERHEAD + 1, had: datagram_len };
            return Err(self.drop_malformed(truncated.into()));
        };
        // The next key is built for the packet that claims it (and kept if it authenticates).
        let mut next = None;
        let key = match which {
            RecvKey::Current => Some(&self.recv),
            RecvKey::Next => {
                next = A::new(&self.recv_next).ok();
                next.as_ref()
            }
            RecvKey::Previous => self.recv_prev.as_deref(),
        };
        let opened = key.is_some_and(|key| key.open_in_place(counter, head, body, tag).is_ok());
        let next = next.filter(|_| opened);
        if !opened {
            self.stats.auth_failures = self.stats.auth_failures.saturating_add(1);
            return Err(OpenError::Authentication);
        }
        match which {
            RecvKey::Current => self.note_current_phase(counter),
            RecvKey::Previous => {}
            RecvKey::Next => {
                // `next` is Some: the key was built and the packet opened under it.
                if next.is_none_or(|next| self.rotate_recv(next, counter).is_err()) {
                    // Unreachable with either backend (REKEY of 32 bytes cannot fail); treated
                    // as a failed packet, with no state changed.
                    self.stats.auth_failures = self.stats.auth_failures.saturating_add(1);
                    return Err(OpenError::Authentication);
                }
            }
        }
        self.replay.mark(counter);
        self.stats.opened = self.stats.opened.saturating_add(1);
        Ok(body)
    }

    /// Starts a key update: the next datagrams are sealed under `REKEY(send key)` with the other
    /// phase bit (PROTOCOL.md §6.3–6.5). Refused until the peer has confirmed the previous update.
    pub fn initiate_key_update(&mut self) -> Result<(), KeyUpdateError> {
        // RFC 9001 §6.1: no new update before a packet of the current phase has been received.
        if self.send_phase != self.recv_phase {
            return Err(KeyUpdateError::InProgress);
        }
        // Noise rev 34 §11.3: k = REKEY(k).
        self.send = self.send.rekey()?;
        self.send_phase = !self.send_phase;
        self.stats.key_updates_initiated = self.stats.key_updates_initiated.saturating_add(1);
        Ok(())
    }

    /// Forgets the previous receive key; late packets of the old phase then fail with
    /// [`OpenError::KeyPhase`]. The connection calls this a while after a rotation.
    pub fn discard_previous_key(&mut self) {
        self.recv_prev = None;
    }

    /// Moves the send counter forward to `counter`, skipping the values in between.
    ///
    /// Counters need only be unique, so skipping is always safe; a value at or below the next
    /// counter changes nothing (counters never go back). Tests and fuzzing use it to reach far
    /// counters and the [`COUNTER_LIMIT`].
    pub fn skip_send_counter_to(&mut self, counter: u64) {
        self.send_counter = self.send_counter.max(counter);
    }

    /// The peer's connection id (the `receiver_id` of every datagram sealed).
    pub const fn peer_id(&self) -> ConnectionId {
        self.peer_id
    }

    /// The counter the next sealed datagram will carry.
    pub const fn next_send_counter(&self) -> u64 {
        self.send_counter
    }

    /// The phase bit datagrams are currently sealed with.
    pub const fn send_key_phase(&self) -> bool {
        self.send_phase
    }

    /// The phase bit of the current receive key.
    pub const fn recv_key_phase(&self) -> bool {
        self.recv_phase
    }

    /// Whether the previous receive key is still held (after a rotation, until discarded).
    pub const fn has_previous_key(&self) -> bool {
        self.recv_prev.is_some()
    }

    /// Whether a key update is under way: sent in the new phase, none yet received in it.
    pub const fn key_update_pending(&self) -> bool {
        self.send_phase != self.recv_phase
    }

    /// The receive replay window.
    pub const fn replay_window(&self) -> &ReplayWindow {
        &self.replay
    }

    /// Traffic counters.
    pub const fn stats(&self) -> SessionStats {
        self.stats
    }

    /// Counts a datagram dropped before decryption and hands its error back.
    fn drop_malformed(&mut self, error: OpenError) -> OpenError {
        self.stats.malformed = self.stats.malformed.saturating_add(1);
        error
    }

    /// Widens the current phase's counter range after an authenticated packet in it.
    fn note_current_phase(&mut self, counter: u64) {
        self.recv_phase_first = self.recv_phase_first.min(counter);
        self.recv_phase_highest = Some(self.recv_phase_highest.map_or(counter, |h| h.max(counter)));
    }

    /// A packet authenticated under the next receive key: rotate the receive keys and, if it
    /// is not there already, move the send side into the new phase too (PROTOCOL.md §6.3–6.5).
    ///
    /// All fallible derivations happen before any state changes.
    fn rotate_recv(&mut self, new_current: A, counter: u64) -> Result<(), AeadError> {
        let after_next = new_current.rekey_bytes()?;
        let new_phase = !self.recv_phase;
        let new_send = if self.send_phase != new_phase { Some(self.send.rekey()?) } else { None };

        self.recv_next = after_next;
        let old = core::mem::replace(&mut self.recv, new_current);
        // The key two phases back (if any) is dropped here, and zeroized if the backend can.
        self.recv_prev = Some(Box::new(old));
        self.recv_phase = new_phase;
        self.recv_phase_first = counter;
        self.recv_phase_highest = Some(counter);
        if let Some(send) = new_send {
            self.send = send;
            self.send_phase = new_phase;
        }
        self.stats.recv_key_rotations = self.stats.recv_key_rotations.saturating_add(1);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
mod tests {
    use super::*;
    use crate::crypto::aead::RustCryptoAead;

    const A_ID: ConnectionId = ConnectionId(0x0a0a);
    const B_ID: ConnectionId = ConnectionId(0x0b0b);

    fn pair<A: Aead>() -> (Session<A>, Session<A>) {
        let (k1, k2) = ([1u8; 32], [2u8; 32]);
        // a is the initiator: sends with k1 to b (whose id it writes), receives with k2.
        (Session::new(&k1, &k2, B_ID).unwrap(), Session::new(&k2, &k1, A_ID).unwrap())
    }

    /// Seals `msg` from `s` into a fresh buffer; returns the datagram.
    fn seal<A: Aead>(s: &mut Session<A>, msg: &[u8]) -> Vec<u8> {
        let mut buf = vec![0xa5u8; TRANSPORT_OVERHEAD + msg.len() + 7];
        buf[TRANSPORT_HEADER_LEN..][..msg.len()].copy_from_slice(msg);
        let n = s.seal(&mut buf, msg.len()).unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn seal_layout_and_round_trip() {
        let (mut a, mut b) = pair::<RustCryptoAead>();
        let d = seal(&mut a, b"hello");
        assert_eq!(d.len(), 5 + TRANSPORT_OVERHEAD);
        assert_eq!(d[0], 0x18);
        assert_eq!(&d[1..9], &B_ID.to_bytes());
        assert_eq!(&d[9..17], &0u64.to_be_bytes());
        assert_ne!(&d[17..22], b"hello");
        let mut d2 = d.clone();
        assert_eq!(b.open(&mut d2).unwrap(), b"hello");
        assert_eq!(a.next_send_counter(), 1);
        assert_eq!((a.stats().sealed, b.stats().opened), (1, 1));
    }

    #[test]
    fn seal_errors_consume_no_counter() {
        let (mut a, _) = pair::<RustCryptoAead>();
        let mut buf = [0u8; 40];
        assert_eq!(a.seal(&mut buf, 0), Err(SealError::EmptyPlaintext));
        assert_eq!(a.seal(&mut buf, 8), Err(SealError::BufferTooSmall { needed: 41, had: 40 }));
        assert_eq!(
            a.seal(&mut buf, usize::MAX),
            Err(SealError::BufferTooSmall { needed: usize::MAX, had: 40 })
        );
        assert_eq!(a.next_send_counter(), 0);
        assert_eq!(a.seal(&mut buf, 7), Ok(40));
        assert_eq!(a.next_send_counter(), 1);
    }

    #[test]
    fn counter_exhaustion() {
        let (mut a, mut b) = pair::<RustCryptoAead>();
        a.skip_send_counter_to(COUNTER_LIMIT - 1);
        let mut last = seal(&mut a, b"last");
        assert_eq!(b.open(&mut last).unwrap(), b"last");
        let mut buf = [0u8; 64];
        assert_eq!(a.seal(&mut buf, 4), Err(SealError::CounterExhausted));
        assert_eq!(a.seal(&mut buf, 4), Err(SealError::CounterExhausted));
        // Skipping never goes back.
        a.skip_send_counter_to(3);
        assert_eq!(a.next_send_counter(), COUNTER_LIMIT);
    }

    #[test]
    fn counter_beyond_limit_is_dropped_unopened() {
        let (mut a, mut b) = pair::<RustCryptoAead>();
        let mut d = seal(&mut a, b"x");
        d[9..17].copy_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(b.open(&mut d), Err(OpenError::CounterOutOfRange(u64::MAX)));
        assert_eq!(b.stats().malformed, 1);
        assert_eq!(b.stats().auth_failures, 0);
    }

    #[test]
    fn replay_state_untouched_by_forgeries() {
        let (mut a, mut b) = pair::<RustCryptoAead>();
        let mut d = seal(&mut a, b"ok");
        let window = b.replay_window().clone();
        let mut forged = d.clone();
        forged[9..17].copy_from_slice(&(1u64 << 40).to_be_bytes());
        assert_eq!(b.open(&mut forged), Err(OpenError::Authentication));
        assert_eq!(b.replay_window(), &window);
        assert_eq!(b.open(&mut d).unwrap(), b"ok");
    }

    #[test]
    fn key_update_requires_confirmation() {
        let (mut a, mut b) = pair::<RustCryptoAead>();
        a.initiate_key_update().unwrap();
        assert!(a.key_update_pending());
        assert_eq!(a.initiate_key_update(), Err(KeyUpdateError::InProgress));
        let mut d = seal(&mut a, b"new phase");
        assert_eq!(d[0], 0x19);
        assert_eq!(b.open(&mut d).unwrap(), b"new phase");
        assert!(b.send_key_phase() && b.recv_key_phase() && !b.key_update_pending());
        let mut r = seal(&mut b, b"reply");
        assert_eq!(a.open(&mut r).unwrap(), b"reply");
        assert!(!a.key_update_pending());
        a.initiate_key_update().unwrap();
        assert!(!a.send_key_phase());
    }

    #[test]
    #[allow(clippy::print_stdout)]
    fn session_sizes() {
        let rc = core::mem::size_of::<Session<RustCryptoAead>>();
        std::println!("size_of Session<RustCryptoAead> = {rc} bytes");
        assert!(rc <= 512, "{rc}");
        #[cfg(feature = "ring")]
        {
            let ring = core::mem::size_of::<Session<crate::crypto::aead::RingAead>>();
            std::println!("size_of Session<RingAead> = {ring} bytes");
            assert!(ring <= 1536, "{ring}");
        }
    }
}
