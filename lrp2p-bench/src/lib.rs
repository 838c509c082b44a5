//! # lrp2p-bench: what the benchmark programs share
//!
//! Benchmarks are programs that print figures, never timed tests (`docs/ARCHITECTURE.md`). The
//! programs are `examples/loopback/main.rs` and `examples/impaired/main.rs` (bulk goodput through
//! lrp2p-relay's impaired link); this library holds what their contenders use:
//!
//! - [`Contender`]: the common shape of one transport under test (TCP, quinn, each LRP2P
//!   adapter), with both ends in this process;
//! - [`Pattern`] and [`Verifier`]: the bytes sent and their check at the receiver, so that no
//!   contender can win by dropping, duplicating or reordering data;
//! - [`Meter`] and [`Sample`]: wall-clock and process CPU time (user + system, all threads) of
//!   one bulk transfer;
//! - [`Row`], [`measure`] and [`table`]: medians of several runs and the markdown table.

use std::fmt::Write as _;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cpu_time::ProcessTime;

/// Bytes per write of every sender (the issue asks for 1 MiB writes on TCP; all do the same).
pub const WRITE_SIZE: usize = 1 << 20;

/// Bytes per read of every receiver.
pub const READ_SIZE: usize = 256 << 10;

/// The pattern's period in bytes: a prime, so that it lines up with no datagram or buffer size
/// and a shifted (lost, duplicated, reordered) chunk never compares equal by accident.
pub const PERIOD: usize = 1_048_573;

/// A pseudo-random byte stream of period [`PERIOD`], cheap to send (slices of one buffer) and
/// cheap to check (`memcmp` against the same buffer).
#[derive(Debug)]
pub struct Pattern {
    /// Two periods back to back: any `PERIOD` bytes from any offset are one slice.
    bytes: Vec<u8>,
}

impl Default for Pattern {
    fn default() -> Self {
        Self::new()
    }
}

impl Pattern {
    /// Builds the pattern (SplitMix64, a fixed seed).
    pub fn new() -> Pattern {
        let mut bytes = Vec::with_capacity(2 * PERIOD + 8);
        let mut state: u64 = 0x1a2b_3c4d_5e6f_7081;
        while bytes.len() < PERIOD {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            bytes.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        bytes.truncate(PERIOD);
        bytes.extend_from_within(..);
        Pattern { bytes }
    }

    /// The stream's bytes from `offset` on, at most `len` of them and at most [`PERIOD`].
    pub fn chunk(&self, offset: u64, len: usize) -> &[u8] {
        let start = usize::try_from(offset % PERIOD as u64).unwrap_or(0);
        &self.bytes[start..start + len.min(PERIOD)]
    }

    /// The chunks a sender writes to send `total` bytes, [`WRITE_SIZE`] at most each.
    pub fn chunks(&self, total: u64) -> impl Iterator<Item = &[u8]> + '_ {
        let mut offset = 0u64;
        std::iter::from_fn(move || {
            let left = total - offset;
            if left == 0 {
                return None;
            }
            let len = usize::try_from(left).unwrap_or(usize::MAX).min(WRITE_SIZE);
            let chunk = self.chunk(offset, len);
            offset += chunk.len() as u64;
            Some(chunk)
        })
    }
}

/// Checks received bytes against the [`Pattern`] and counts them.
#[derive(Debug)]
pub struct Verifier<'a> {
    pattern: &'a Pattern,
    received: u64,
}

impl<'a> Verifier<'a> {
    /// A verifier expecting the stream from offset 0.
    pub fn new(pattern: &'a Pattern) -> Verifier<'a> {
        Verifier { pattern, received: 0 }
    }

    /// Checks the next bytes of the stream; an error names the first corrupt offset.
    pub fn check(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let expected = self.pattern.chunk(self.received, data.len());
            let (now, rest) = data.split_at(expected.len());
            if now != expected {
                let at = now.iter().zip(expected).position(|(a, b)| a != b).unwrap_or(0);
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("corrupt data at offset {}", self.received + at as u64),
                ));
            }
            self.received += now.len() as u64;
            data = rest;
        }
        Ok(())
    }

    /// Bytes checked so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Fails unless exactly `total` bytes arrived.
    pub fn finish(&self, total: u64) -> io::Result<()> {
        if self.received == total {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("received {} bytes of {total}", self.received),
            ))
        }
    }
}

/// One bulk transfer: wall-clock seconds and process CPU seconds (user + system).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Wall-clock seconds from the first byte written to the last byte verified (the
    /// receiver's end of stream).
    pub secs: f64,
    /// CPU seconds of the whole process (both ends, every thread) over the same interval.
    pub cpu_secs: f64,
}

/// Wall clock and process CPU clock started together; `Copy`, so that the receiving task can
/// stop it at the end of the stream.
#[derive(Clone, Copy, Debug)]
pub struct Meter {
    wall: Instant,
    cpu: ProcessTime,
}

impl Meter {
    /// Starts both clocks.
    pub fn start() -> Meter {
        Meter { wall: Instant::now(), cpu: ProcessTime::now() }
    }

    /// Reads both clocks.
    pub fn stop(&self) -> Sample {
        Sample { secs: self.wall.elapsed().as_secs_f64(), cpu_secs: self.cpu.elapsed().as_secs_f64() }
    }
}

/// One transport under test, with both of its ends in this process.
///
/// Every method runs to completion before the next starts: contenders never run concurrently.
pub trait Contender {
    /// The name in the table (with the AEAD backend where there is a choice).
    fn name(&self) -> String;

    /// Moves `bytes` of `pattern` over a fresh connection, verified by the receiver.
    fn bulk(&mut self, bytes: u64, pattern: &Arc<Pattern>) -> io::Result<Sample>;

    /// Opens `n` connections one after the other, each to established plus a one-byte
    /// exchange each way, and closes each; returns connections per second.
    fn handshakes(&mut self, n: usize) -> io::Result<f64>;

    /// `n` times: from the client's connect call to the server reading the first byte.
    fn first_byte(&mut self, n: usize) -> io::Result<Vec<Duration>>;
}

/// What to measure, from the command line.
#[derive(Clone, Debug)]
pub struct Options {
    /// Bytes per bulk transfer.
    pub bytes: u64,
    /// Bulk transfers and handshake rounds per contender (the median is reported).
    pub runs: usize,
    /// Connections per handshake round.
    pub handshakes: usize,
    /// Connect-to-first-byte samples.
    pub samples: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { bytes: 1 << 30, runs: 3, handshakes: 300, samples: 50 }
    }
}

/// The figures of one contender: medians over the runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The contender's name.
    pub name: String,
    /// Goodput in MB/s (10^6 bytes per second).
    pub goodput_mbs: f64,
    /// Process CPU seconds per GB (10^9 bytes) moved.
    pub cpu_per_gb: f64,
    /// Sequential handshakes (to established plus a one-byte exchange) per second.
    pub handshakes_per_sec: f64,
    /// Connect to first byte at the server.
    pub first_byte: Duration,
}

impl Row {
    /// One tab-separated line, for a child process to hand its row to the parent.
    pub fn to_line(&self) -> String {
        format!(
            "ROW\t{}\t{}\t{}\t{}\t{}",
            self.name,
            self.goodput_mbs,
            self.cpu_per_gb,
            self.handshakes_per_sec,
            self.first_byte.as_secs_f64()
        )
    }

    /// Parses [`Row::to_line`]'s output; `None` for any other line.
    pub fn from_line(line: &str) -> Option<Row> {
        let mut f = line.strip_prefix("ROW\t")?.split('\t');
        let name = f.next()?.to_owned();
        let mut num = || f.next()?.parse::<f64>().ok();
        Some(Row {
            name,
            goodput_mbs: num()?,
            cpu_per_gb: num()?,
            handshakes_per_sec: num()?,
            first_byte: Duration::try_from_secs_f64(num()?).ok()?,
        })
    }
}

/// The median (upper median for an even count); `None` when empty.
pub fn median<T: Copy + PartialOrd>(values: &[T]) -> Option<T> {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v.get(v.len() / 2).copied()
}

/// Runs every measurement of `contender`, logging each run to stderr.
pub fn measure(contender: &mut dyn Contender, opts: &Options, pattern: &Arc<Pattern>) -> io::Result<Row> {
    let name = contender.name();
    let bytes = opts.bytes as f64;
    let mut goodput = Vec::new();
    let mut cpu = Vec::new();
    for run in 1..=opts.runs {
        let s = contender.bulk(opts.bytes, pattern)?;
        eprintln!(
            "{name}: bulk run {run}: {:.1} MB/s, {:.2} CPU s/GB",
            bytes / s.secs / 1e6,
            s.cpu_secs / bytes * 1e9
        );
        goodput.push(bytes / s.secs / 1e6);
        cpu.push(s.cpu_secs / bytes * 1e9);
    }
    let mut hs = Vec::new();
    for run in 1..=opts.runs {
        let r = contender.handshakes(opts.handshakes)?;
        eprintln!("{name}: handshakes run {run}: {r:.0}/s");
        hs.push(r);
    }
    let fb = contender.first_byte(opts.samples)?;
    let first_byte = median(&fb).unwrap_or_default();
    eprintln!("{name}: connect->first byte median {first_byte:?} of {}", fb.len());
    Ok(Row {
        name,
        goodput_mbs: median(&goodput).unwrap_or(0.0),
        cpu_per_gb: median(&cpu).unwrap_or(0.0),
        handshakes_per_sec: median(&hs).unwrap_or(0.0),
        first_byte,
    })
}

/// The markdown table, with each row's goodput and handshake rate as a multiple of the row
/// whose name starts with `baseline` (quinn).
pub fn table(rows: &[Row], baseline: &str) -> String {
    let base = rows.iter().find(|r| r.name.starts_with(baseline));
    let ratio = |x: f64, b: Option<f64>| match b {
        Some(b) if b > 0.0 => format!("{:.2}×", x / b),
        _ => "–".to_owned(),
    };
    let mut out = String::new();
    out.push_str("| contender | goodput MB/s | CPU s/GB | handshakes/s | connect→first byte |");
    let _ = writeln!(out, " goodput ÷ {baseline} | handshakes ÷ {baseline} |");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.2} | {:.0} | {:.0} µs | {} | {} |",
            r.name,
            r.goodput_mbs,
            r.cpu_per_gb,
            r.handshakes_per_sec,
            r.first_byte.as_secs_f64() * 1e6,
            ratio(r.goodput_mbs, base.map(|b| b.goodput_mbs)),
            ratio(r.handshakes_per_sec, base.map(|b| b.handshakes_per_sec)),
        );
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn pattern_round_trips_and_catches_shifts() {
        let p = Pattern::new();
        let total = 3 * PERIOD as u64 + 12_345;
        let sent: Vec<u8> = p.chunks(total).flatten().copied().collect();
        assert_eq!(sent.len() as u64, total);
        let mut v = Verifier::new(&p);
        for piece in sent.chunks(77_777) {
            v.check(piece).unwrap();
        }
        v.finish(total).unwrap();
        // One byte lost: the rest is shifted and must not verify.
        let mut v = Verifier::new(&p);
        assert!(v.check(&sent[..1000]).is_ok());
        assert!(v.check(&sent[1001..2000]).is_err());
    }

    #[test]
    fn row_line_round_trips() {
        let row = Row {
            name: "lrp2p-std (ring)".into(),
            goodput_mbs: 512.5,
            cpu_per_gb: 3.25,
            handshakes_per_sec: 1234.0,
            first_byte: Duration::from_micros(321),
        };
        let back = Row::from_line(&row.to_line()).unwrap();
        assert_eq!(back.name, row.name);
        assert!((back.first_byte.as_secs_f64() - 321e-6).abs() < 1e-9);
        assert!(table(&[row], "quinn").contains("lrp2p-std (ring)"));
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4, 1, 3, 2]), Some(3));
        assert_eq!(median::<f64>(&[]), None);
    }
}
