//! The rendezvous records (PROTOCOL.md §13.7.2): their encoding, and [`RecordReader`], the
//! incremental decoder for the connection's byte stream.
//!
//! A record is `type u8 | len u16 | body`, `len` the body's length in bytes, big-endian. The
//! reader never buffers more than the largest legal record ([`MAX_RECORD_LEN`]): a `len` above
//! its type's largest body is rejected as soon as the 3-byte header is in, before the body
//! arrives. A body must match its type's layout exactly (rustls's rule: no trailing bytes).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::MAX_LOCALS;
use crate::identity::{KEY_LEN, PublicKey};

/// REGISTER: a peer's local addresses (peer → service).
const REGISTER: u8 = 0x01;
/// REGISTERED: the peer's observed address and the registration's lifetime (service → peer).
const REGISTERED: u8 = 0x02;
/// LOOKUP: the key of the peer wanted (peer → service).
const LOOKUP: u8 = 0x03;
/// INTRODUCE: the other peer's key and addresses (service → both peers).
const INTRODUCE: u8 = 0x04;
/// NOT_FOUND: the key looked up is not registered (service → peer).
const NOT_FOUND: u8 = 0x05;

/// Length of a record header: `type u8 | len u16`.
const HEADER_LEN: usize = 3;
/// Longest address: `family u8 | IPv6 (16 bytes) | port u16`.
const MAX_ADDR_LEN: usize = 1 + 16 + 2;
/// Longest REGISTER body: `count u8` and 8 IPv6 addresses.
const MAX_REGISTER_BODY: usize = 1 + MAX_LOCALS * MAX_ADDR_LEN;
/// Longest REGISTERED body: an IPv6 address and `ttl_s u16`.
const MAX_REGISTERED_BODY: usize = MAX_ADDR_LEN + 2;
/// Longest INTRODUCE body: key, IPv6 observed address, `count u8`, 8 IPv6 addresses, `rtt_ms`.
const MAX_INTRODUCE_BODY: usize = KEY_LEN + MAX_ADDR_LEN + 1 + MAX_LOCALS * MAX_ADDR_LEN + 2;

/// Longest legal record, header included (an INTRODUCE with nine IPv6 addresses): 209 bytes.
pub const MAX_RECORD_LEN: usize = HEADER_LEN + MAX_INTRODUCE_BODY;

/// What a service tells each of two peers about the other (an INTRODUCE record).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Introduction {
    /// The other peer's static key: the key to dial (IK).
    pub key: PublicKey,
    /// The other peer's address as the service sees it (its NAT's public mapping).
    pub observed: SocketAddr,
    /// The local addresses the other peer registered (at most [`MAX_LOCALS`] are encoded).
    pub locals: Vec<SocketAddr>,
    /// The service's RTT estimate to the other peer, in milliseconds (0: unknown).
    pub rtt_ms: u16,
}

/// One rendezvous record (PROTOCOL.md §13.7.2).
///
/// [`Record::encode`] writes at most [`MAX_LOCALS`] addresses of a list; addresses with port 0
/// are written as they are and make the record malformed for its receiver, so callers build
/// records from checked addresses ([`super::Client::register`] and the [`super::Registry`] do).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// REGISTER (0x01), peer → service: the peer's local addresses.
    Register {
        /// The addresses the peer's socket is bound to, as the peer sees them.
        locals: Vec<SocketAddr>,
    },
    /// REGISTERED (0x02), service → peer: the registration is in place.
    Registered {
        /// The peer's address as the service sees it (a STUN-like reflexive address).
        observed: SocketAddr,
        /// How long the registration lives after the last datagram from the peer, in seconds.
        ttl_s: u16,
    },
    /// LOOKUP (0x03), peer → service: introduce me to this peer.
    Lookup {
        /// The static key of the peer wanted.
        key: PublicKey,
    },
    /// INTRODUCE (0x04), service → both peers of a lookup.
    Introduce(Introduction),
    /// NOT_FOUND (0x05), service → peer: the key looked up has no registration.
    NotFound {
        /// The key looked up.
        key: PublicKey,
    },
}

/// A malformed record: the service (or peer) that reads one closes the connection with
/// PROTOCOL_VIOLATION (PROTOCOL.md §13.7.3); the stream cannot be resynchronised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The record type is none of 0x01 to 0x05.
    #[error("unknown rendezvous record type {0:#04x}")]
    UnknownType(u8),
    /// The header's `len` is above the largest body of its type.
    #[error("rendezvous record type {kind:#04x} with len {len}, above its largest body")]
    TooLong {
        /// The record type.
        kind: u8,
        /// The `len` of the header.
        len: u16,
    },
    /// The body ends before its type's layout does.
    #[error("rendezvous record body shorter than its layout")]
    Truncated,
    /// Bytes follow the end of the body's layout.
    #[error("{0} bytes after the end of a rendezvous record's layout")]
    TrailingBytes(usize),
    /// An address count above 8.
    #[error("{0} addresses in a rendezvous record, more than 8")]
    TooManyAddresses(u8),
    /// An address family other than 4 or 6.
    #[error("address family {0} in a rendezvous record, not 4 or 6")]
    BadFamily(u8),
    /// An address with port 0.
    #[error("address with port 0 in a rendezvous record")]
    ZeroPort,
}

impl Record {
    /// Appends the encoded record (header and body) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[self.kind(), 0, 0]);
        match self {
            Record::Register { locals } => put_addrs(out, locals),
            Record::Registered { observed, ttl_s } => {
                put_addr(out, observed);
                out.extend_from_slice(&ttl_s.to_be_bytes());
            }
            Record::Lookup { key } | Record::NotFound { key } => out.extend_from_slice(key.as_bytes()),
            Record::Introduce(intro) => {
                out.extend_from_slice(intro.key.as_bytes());
                put_addr(out, &intro.observed);
                put_addrs(out, &intro.locals);
                out.extend_from_slice(&intro.rtt_ms.to_be_bytes());
            }
        }
        // At most MAX_INTRODUCE_BODY (206) bytes: the lists are cut at MAX_LOCALS.
        let len = u16::try_from(out.len() - start - HEADER_LEN).unwrap_or(u16::MAX);
        out[start + 1..start + HEADER_LEN].copy_from_slice(&len.to_be_bytes());
    }

    /// Decodes exactly one whole record (header and body): `bytes` must hold nothing else.
    pub fn decode(bytes: &[u8]) -> Result<Record, RecordError> {
        let [kind, hi, lo, body @ ..] = bytes else { return Err(RecordError::Truncated) };
        let len = u16::from_be_bytes([*hi, *lo]);
        check_header(*kind, len)?;
        match body.len().checked_sub(usize::from(len)) {
            None => Err(RecordError::Truncated),
            Some(0) => parse_body(*kind, body),
            Some(extra) => Err(RecordError::TrailingBytes(extra)),
        }
    }

    /// The record's type byte.
    fn kind(&self) -> u8 {
        match self {
            Record::Register { .. } => REGISTER,
            Record::Registered { .. } => REGISTERED,
            Record::Lookup { .. } => LOOKUP,
            Record::Introduce(_) => INTRODUCE,
            Record::NotFound { .. } => NOT_FOUND,
        }
    }
}

/// Checks a header: a known type, and a `len` no greater than that type's largest body.
fn check_header(kind: u8, len: u16) -> Result<(), RecordError> {
    let max = match kind {
        REGISTER => MAX_REGISTER_BODY,
        REGISTERED => MAX_REGISTERED_BODY,
        LOOKUP | NOT_FOUND => KEY_LEN,
        INTRODUCE => MAX_INTRODUCE_BODY,
        _ => return Err(RecordError::UnknownType(kind)),
    };
    if usize::from(len) > max {
        return Err(RecordError::TooLong { kind, len });
    }
    Ok(())
}

/// Parses the body of a record whose header passed [`check_header`].
fn parse_body(kind: u8, body: &[u8]) -> Result<Record, RecordError> {
    let mut r = Cursor(body);
    let record = match kind {
        REGISTER => Record::Register { locals: r.addrs()? },
        REGISTERED => Record::Registered { observed: r.addr()?, ttl_s: r.u16()? },
        LOOKUP => Record::Lookup { key: r.key()? },
        INTRODUCE => Record::Introduce(Introduction {
            key: r.key()?,
            observed: r.addr()?,
            locals: r.addrs()?,
            rtt_ms: r.u16()?,
        }),
        NOT_FOUND => Record::NotFound { key: r.key()? },
        _ => return Err(RecordError::UnknownType(kind)),
    };
    match r.0.len() {
        0 => Ok(record),
        extra => Err(RecordError::TrailingBytes(extra)),
    }
}

/// Appends `family | IP | port`.
pub(super) fn put_addr(out: &mut Vec<u8>, addr: &SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => {
            out.push(4);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(6);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}

/// Appends `count u8` and the first `count` (at most [`MAX_LOCALS`]) addresses.
fn put_addrs(out: &mut Vec<u8>, addrs: &[SocketAddr]) {
    let addrs = &addrs[..addrs.len().min(MAX_LOCALS)];
    out.push(u8::try_from(addrs.len()).unwrap_or(0));
    for addr in addrs {
        put_addr(out, addr);
    }
}

/// A reader over a body: every read checks the length before it indexes.
pub(super) struct Cursor<'a>(pub(super) &'a [u8]);

impl Cursor<'_> {
    /// The next `N` bytes.
    fn take<const N: usize>(&mut self) -> Result<[u8; N], RecordError> {
        let (head, rest) = self.0.split_first_chunk::<N>().ok_or(RecordError::Truncated)?;
        self.0 = rest;
        Ok(*head)
    }

    /// A big-endian `u16`.
    fn u16(&mut self) -> Result<u16, RecordError> {
        self.take::<2>().map(u16::from_be_bytes)
    }

    /// A 32-byte static key.
    fn key(&mut self) -> Result<PublicKey, RecordError> {
        self.take::<KEY_LEN>().map(PublicKey::from_bytes)
    }

    /// An address: `family u8 (4 or 6) | IP | port u16`, the port not 0.
    pub(super) fn addr(&mut self) -> Result<SocketAddr, RecordError> {
        let [family] = self.take::<1>()?;
        let ip = match family {
            4 => IpAddr::V4(Ipv4Addr::from(self.take::<4>()?)),
            6 => IpAddr::V6(Ipv6Addr::from(self.take::<16>()?)),
            other => return Err(RecordError::BadFamily(other)),
        };
        let port = self.u16()?;
        if port == 0 {
            return Err(RecordError::ZeroPort);
        }
        Ok(SocketAddr::new(ip, port))
    }

    /// `count u8` (at most 8), then `count` addresses.
    fn addrs(&mut self) -> Result<Vec<SocketAddr>, RecordError> {
        let [count] = self.take::<1>()?;
        if usize::from(count) > MAX_LOCALS {
            return Err(RecordError::TooManyAddresses(count));
        }
        (0..count).map(|_| self.addr()).collect()
    }
}

/// The incremental decoder of a rendezvous stream: feed it the bytes read from the connection,
/// split anywhere, and it returns each record once its last byte is in.
///
/// It holds at most one record ([`MAX_RECORD_LEN`] bytes, inline: no allocation). After an error
/// it is *failed*: it takes no more bytes and returns `None`, since the stream cannot be
/// resynchronised; the reader's owner closes the connection with PROTOCOL_VIOLATION.
///
/// ```
/// use lrp2p_proto::rendezvous::{Record, RecordReader};
/// use lrp2p_proto::PublicKey;
///
/// let mut stream = Vec::new();
/// Record::Lookup { key: PublicKey::from_bytes([7; 32]) }.encode(&mut stream);
/// let mut reader = RecordReader::new();
/// let (first, rest) = stream.split_at(10);
/// assert_eq!(reader.push(&mut &first[..]), None); // not complete yet
/// let mut rest = rest;
/// let record = reader.push(&mut rest);
/// assert_eq!(record, Some(Ok(Record::Lookup { key: PublicKey::from_bytes([7; 32]) })));
/// assert!(rest.is_empty() && reader.is_idle());
/// ```
#[derive(Clone, Debug)]
pub struct RecordReader {
    /// The start of a record that an earlier push did not complete: empty (no heap) between
    /// records, at most [`MAX_RECORD_LEN`] bytes while one is split across pushes. A record
    /// that arrives whole is parsed where it lies.
    partial: Vec<u8>,
    failed: bool,
}

impl Default for RecordReader {
    fn default() -> Self {
        RecordReader::new()
    }
}

impl RecordReader {
    /// An empty reader, at the start of a stream.
    pub const fn new() -> Self {
        RecordReader { partial: Vec::new(), failed: false }
    }

    /// Takes bytes from the front of `input` (advancing it) up to the end of the next record,
    /// and returns that record or its error; `None` when `input` ran out first (every byte of
    /// it was taken) or the reader has failed (nothing was taken). Call it again while `input`
    /// is not empty: each call returns at most one record.
    pub fn push(&mut self, input: &mut &[u8]) -> Option<Result<Record, RecordError>> {
        if self.failed {
            return None;
        }
        if self.partial.is_empty() && input.len() >= HEADER_LEN {
            let (kind, len) = (input[0], u16::from_be_bytes([input[1], input[2]]));
            if let Err(e) = check_header(kind, len) {
                *input = &input[HEADER_LEN..];
                self.failed = true;
                return Some(Err(e));
            }
            let end = HEADER_LEN + usize::from(len);
            if let Some((record, rest)) = input.split_at_checked(end) {
                *input = rest;
                let result = parse_body(kind, &record[HEADER_LEN..]);
                self.failed = result.is_err();
                return Some(result);
            }
        }
        if self.partial.len() < HEADER_LEN {
            self.fill(input, HEADER_LEN);
            if self.partial.len() < HEADER_LEN {
                return None;
            }
            if let Err(e) = check_header(self.partial[0], self.body_len_u16()) {
                self.partial = Vec::new();
                self.failed = true;
                return Some(Err(e));
            }
        }
        let end = HEADER_LEN + usize::from(self.body_len_u16());
        self.fill(input, end);
        if self.partial.len() < end {
            return None;
        }
        let result = parse_body(self.partial[0], &self.partial[HEADER_LEN..end]);
        self.partial = Vec::new();
        self.failed = result.is_err();
        Some(result)
    }

    /// Whether the reader holds no partial record: a stream that ends while this is false ends
    /// inside a record, which is malformed too.
    pub fn is_idle(&self) -> bool {
        self.partial.is_empty() && !self.failed
    }

    /// Whether the reader has returned an error (and takes nothing more).
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// The partial record's header `len` (once its header is in).
    fn body_len_u16(&self) -> u16 {
        u16::from_be_bytes([self.partial[1], self.partial[2]])
    }

    /// Moves bytes from `input` into the partial record until it holds `upto` bytes or `input`
    /// is empty.
    fn fill(&mut self, input: &mut &[u8], upto: usize) {
        let n = upto.saturating_sub(self.partial.len()).min(input.len());
        let (taken, rest) = input.split_at(n);
        self.partial.extend_from_slice(taken);
        *input = rest;
    }
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
