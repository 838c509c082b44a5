//! The measurement window at the receiver, and the CPU clocks read at its ends.
//!
//! Goodput is the application bytes the receiver read (every one verified against the
//! pattern) in a fixed window of `--secs` that opens at the receiver's first byte, divided by
//! the window: handshake time is left out, slow start is in. A read that returns after the
//! window has closed is not counted. Bytes are also counted per second of the window, to show
//! stalls that a mean hides.

use std::time::{Duration, Instant};

use cpu_time::ProcessTime;

/// Thread name prefix of the relay's runtime (see `relay_host`), by which its CPU time is told
/// apart from the contenders'.
pub(crate) const RELAY_THREAD: &str = "lrp2p-relay";

/// CPU seconds so far: the whole process, and the relay's threads (Linux only: summed from
/// `/proc/self/task/*/schedstat`; `None` elsewhere).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CpuTimes {
    /// The whole process (user + system, every thread).
    process: ProcessTime,
    /// The relay's threads alive now, nanoseconds on CPU.
    relay_ns: Option<u64>,
}

impl CpuTimes {
    /// Reads both clocks.
    pub(crate) fn now() -> CpuTimes {
        CpuTimes { process: ProcessTime::now(), relay_ns: relay_cpu_ns() }
    }
}

/// Nanoseconds on CPU of this process's threads named [`RELAY_THREAD`]….
fn relay_cpu_ns() -> Option<u64> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = task.ok()?.path();
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else { continue };
        if !comm.starts_with(RELAY_THREAD) {
            continue;
        }
        // schedstat: time on CPU (ns), time waiting to run (ns), timeslices.
        let Ok(stat) = std::fs::read_to_string(dir.join("schedstat")) else { continue };
        total += stat.split_whitespace().next().and_then(|t| t.parse::<u64>().ok()).unwrap_or(0);
    }
    Some(total)
}

/// One run's figures at the receiver.
#[derive(Clone, Debug)]
pub(crate) struct Window {
    /// Bytes read within the window.
    pub(crate) bytes: u64,
    /// The window, seconds.
    pub(crate) secs: f64,
    /// Bytes read in each second of the window.
    pub(crate) per_second: Vec<u64>,
    /// Process CPU seconds over the window (relay, sender and receiver together).
    pub(crate) cpu_process: f64,
    /// The relay threads' CPU seconds over the window, where known.
    pub(crate) cpu_relay: Option<f64>,
    /// The sender's own counters at the end of the window, one line.
    pub(crate) sender: String,
}

impl Window {
    /// Goodput in Mbit/s.
    pub(crate) fn mbit(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.secs / 1e6
    }
}

/// Counts the receiver's bytes into the window.
#[derive(Debug)]
pub(crate) struct WindowMeter {
    /// The window's length.
    len: Duration,
    /// When it opened (the first byte) and the CPU clocks then.
    start: Option<(Instant, CpuTimes)>,
    /// Bytes so far.
    bytes: u64,
    /// Bytes in each second so far.
    per_second: Vec<u64>,
}

impl WindowMeter {
    /// A meter for a window of `len`, not yet open.
    pub(crate) fn new(len: Duration) -> WindowMeter {
        let slots = usize::try_from(len.as_secs()).unwrap_or(0).max(1);
        WindowMeter { len, start: None, bytes: 0, per_second: vec![0; slots] }
    }

    /// When the window closes, once it has opened.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.start.map(|(t, _)| t + self.len)
    }

    /// Whether the window has opened and closed by `now`.
    pub(crate) fn closed(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|d| now >= d)
    }

    /// Counts `n` bytes read at `now` (opening the window at the first); bytes read after the
    /// window closed are not counted.
    pub(crate) fn record(&mut self, n: usize, now: Instant) {
        let (start, _) = *self.start.get_or_insert_with(|| (now, CpuTimes::now()));
        if n == 0 || self.closed(now) {
            return;
        }
        self.bytes += n as u64;
        let last = self.per_second.len().saturating_sub(1);
        let slot = usize::try_from((now - start).as_secs()).unwrap_or(usize::MAX).min(last);
        if let Some(s) = self.per_second.get_mut(slot) {
            *s += n as u64;
        }
    }

    /// The figures, with the sender's counters; `None` if no byte ever arrived.
    pub(crate) fn finish(self, sender: String) -> Option<Window> {
        let (start, cpu0) = self.start?;
        let cpu1 = CpuTimes::now();
        let cpu_relay = match (cpu0.relay_ns, cpu1.relay_ns) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / 1e9),
            _ => None,
        };
        // The CPU clocks ran from the first byte to now, a little past the window's end.
        let wall = start.elapsed().as_secs_f64().max(1e-9);
        let scale = self.len.as_secs_f64() / wall;
        Some(Window {
            bytes: self.bytes,
            secs: self.len.as_secs_f64(),
            per_second: self.per_second,
            cpu_process: cpu1.process.duration_since(cpu0.process).as_secs_f64() * scale,
            cpu_relay: cpu_relay.map(|c| c * scale),
            sender,
        })
    }
}
