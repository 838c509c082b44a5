//! [`JsonLines`]: trace events as JSON lines, one object per event (`docs/TRACE.md` is the
//! schema). Times are microseconds since a start instant the caller gives (or the first
//! event's); connection ids are 16 hex digits (a JSON number cannot hold every `u64`).

use std::fmt::{self, Debug};
use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{TraceEvent, TraceSink, reason_name};

/// A [`TraceSink`] that writes each event as one line of JSON to `W` (wrap a file in a
/// `BufWriter`, and [`flush`](Self::flush) at the end). Write errors are counted, not
/// returned: tracing never fails the connection.
pub struct JsonLines<W> {
    out: Mutex<Out<W>>,
}

/// The writer, the trace's time zero once known, and the writes that failed.
struct Out<W> {
    writer: W,
    start: Option<Instant>,
    errors: u64,
}

impl<W> Debug for JsonLines<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLines").finish_non_exhaustive()
    }
}

impl<W: Write + Send> JsonLines<W> {
    /// Writes to `out`, with times counted from the first event's (the trace's `t_us` 0).
    pub fn new(out: W) -> Self {
        JsonLines { out: Mutex::new(Out { writer: out, start: None, errors: 0 }) }
    }

    /// Writes to `out`, with times counted from `start` (an instant the caller took, e.g. the
    /// start of a simulation).
    pub fn with_start(out: W, start: Instant) -> Self {
        JsonLines { out: Mutex::new(Out { writer: out, start: Some(start), errors: 0 }) }
    }

    /// A sink writing into this one with `"ep": label` in every line, to tell several
    /// endpoints apart in one file.
    pub fn labeled(self: &Arc<Self>, label: &'static str) -> Arc<dyn TraceSink>
    where
        W: 'static,
    {
        Arc::new(Labeled { label, inner: self.clone() })
    }

    /// Flushes the writer.
    pub fn flush(&self) -> io::Result<()> {
        self.lock().writer.flush()
    }

    /// Writes that failed so far.
    pub fn errors(&self) -> u64 {
        self.lock().errors
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out.into_inner().unwrap_or_else(|e| e.into_inner()).writer
    }

    fn lock(&self) -> MutexGuard<'_, Out<W>> {
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self, label: Option<&str>, now: Instant, connection: Option<u64>, event: &TraceEvent<'_>) {
        let mut out = self.lock();
        let t = now.saturating_duration_since(*out.start.get_or_insert(now));
        if write_line(&mut out.writer, t, label, connection, event).is_err() {
            out.errors += 1;
        }
    }
}

impl<W: Write + Send> TraceSink for JsonLines<W> {
    fn record(&self, now: Instant, connection: Option<u64>, event: &TraceEvent<'_>) {
        self.write(None, now, connection, event);
    }
}

/// [`JsonLines::labeled`].
struct Labeled<W> {
    label: &'static str,
    inner: Arc<JsonLines<W>>,
}

impl<W> Debug for Labeled<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Labeled").field("label", &self.label).finish_non_exhaustive()
    }
}

impl<W: Write + Send> TraceSink for Labeled<W> {
    fn record(&self, now: Instant, connection: Option<u64>, event: &TraceEvent<'_>) {
        self.inner.write(Some(self.label), now, connection, event);
    }
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A JSON string: quoted, with `"`, `\` and control characters escaped.
struct Str<'a>(&'a str);

impl fmt::Display for Str<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if u32::from(c) < 0x20 => write!(f, "\\u{:04x}", u32::from(c))?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    }
}

/// `value` as JSON: the number, or `null`.
struct Opt<T>(Option<T>);

impl<T: fmt::Display> fmt::Display for Opt<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(v) => write!(f, "{v}"),
            None => f.write_str("null"),
        }
    }
}

/// Writes one event as one line of JSON (`docs/TRACE.md`).
pub(super) fn write_line(
    out: &mut dyn Write,
    t: Duration,
    label: Option<&str>,
    connection: Option<u64>,
    event: &TraceEvent<'_>,
) -> io::Result<()> {
    write!(out, "{{\"t_us\":{}", us(t))?;
    if let Some(label) = label {
        write!(out, ",\"ep\":{}", Str(label))?;
    }
    match connection {
        Some(cid) => write!(out, ",\"cid\":\"{cid:016x}\"")?,
        None => write!(out, ",\"cid\":null")?,
    }
    write!(out, ",\"event\":\"{}\"", event.name())?;
    match event {
        TraceEvent::Started { role, pattern, remote } => write!(
            out,
            ",\"role\":\"{}\",\"pattern\":\"{}\",\"remote\":{}",
            role.as_str(),
            pattern.as_str(),
            Str(&remote.to_string())
        )?,
        TraceEvent::CookieSent { remote } => write!(out, ",\"remote\":{}", Str(&remote.to_string()))?,
        TraceEvent::CookieReceived => {}
        TraceEvent::Established { early_data } => write!(out, ",\"early_data\":\"{}\"", early_data.as_str())?,
        TraceEvent::PathChanged { from, to } => {
            write!(out, ",\"from\":{},\"to\":{}", Str(&from.to_string()), Str(&to.to_string()))?
        }
        TraceEvent::PacketSent { kind, counter, size, seq, retransmit, ack, bytes_in_flight } => write!(
            out,
            ",\"kind\":\"{}\",\"counter\":{},\"size\":{size},\"seq\":{},\"retransmit\":{retransmit},\
             \"ack\":{ack},\"bytes_in_flight\":{bytes_in_flight}",
            kind.as_str(),
            Opt(*counter),
            Opt(*seq)
        )?,
        TraceEvent::PacketReceived { kind, counter, size, seq, ack } => write!(
            out,
            ",\"kind\":\"{}\",\"counter\":{},\"size\":{size},\"seq\":{},\"ack\":{}",
            kind.as_str(),
            Opt(*counter),
            Opt(*seq),
            Opt(*ack)
        )?,
        TraceEvent::PacketLost { first, last, packets, bytes, trigger } => write!(
            out,
            ",\"first\":{first},\"last\":{last},\"packets\":{packets},\"bytes\":{bytes},\"trigger\":\"{}\"",
            trigger.as_str()
        )?,
        TraceEvent::Metrics { cwnd, bytes_in_flight, ssthresh, pacing_rate } => write!(
            out,
            ",\"cwnd\":{cwnd},\"bytes_in_flight\":{bytes_in_flight},\"ssthresh\":{},\"pacing_rate\":{}",
            Opt(*ssthresh),
            Opt(*pacing_rate)
        )?,
        TraceEvent::RttSample { latest, smoothed, variance, min, ack_delay } => write!(
            out,
            ",\"latest_us\":{},\"smoothed_us\":{},\"variance_us\":{},\"min_us\":{},\"ack_delay_us\":{}",
            us(*latest),
            us(*smoothed),
            us(*variance),
            us(*min),
            us(*ack_delay)
        )?,
        TraceEvent::Closed { reason, stats } => {
            let (name, code) = reason_name(reason);
            write!(out, ",\"reason\":\"{name}\",\"code\":{}", Opt(code))?;
            if let crate::CloseReason::Remote { reason: text, .. } = reason {
                write!(out, ",\"text\":{}", Str(text))?;
            }
            write!(
                out,
                ",\"datagrams_sent\":{},\"datagrams_received\":{},\"bytes_sent\":{},\
                 \"bytes_received\":{},\"segments_sent\":{},\"retransmits\":{},\"lost_bytes\":{},\
                 \"timeouts\":{},\"srtt_us\":{}",
                stats.datagrams_sent,
                stats.datagrams_received,
                stats.bytes_sent,
                stats.bytes_received,
                stats.segments_sent,
                stats.retransmits,
                stats.lost_packets_bytes,
                stats.timeouts,
                Opt(stats.rtt.map(us))
            )?;
        }
    }
    writeln!(out, "}}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{LossTrigger, PacketKind};
    use crate::{CloseReason, ConnectionStats};

    fn line(event: &TraceEvent<'_>) -> String {
        let mut out = Vec::new();
        write_line(&mut out, Duration::from_micros(1500), Some("a"), Some(0xab), event).expect("write");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn lines_are_json_objects() {
        let sent = TraceEvent::PacketSent {
            kind: PacketKind::Transport,
            counter: Some(7),
            size: 1400,
            seq: None,
            retransmit: false,
            ack: true,
            bytes_in_flight: 0,
        };
        assert_eq!(
            line(&sent),
            "{\"t_us\":1500,\"ep\":\"a\",\"cid\":\"00000000000000ab\",\"event\":\"packet_sent\",\
             \"kind\":\"transport\",\"counter\":7,\"size\":1400,\"seq\":null,\"retransmit\":false,\
             \"ack\":true,\"bytes_in_flight\":0}\n"
        );
        let lost = TraceEvent::PacketLost {
            first: 1,
            last: 3,
            packets: 3,
            bytes: 4200,
            trigger: LossTrigger::Timeout,
        };
        assert!(
            line(&lost)
                .ends_with("\"first\":1,\"last\":3,\"packets\":3,\"bytes\":4200,\"trigger\":\"timeout\"}\n")
        );
        let reason = CloseReason::Remote { code: 0x8001, reason: "a \"quoted\"\n\u{1}".into() };
        let stats = ConnectionStats::default();
        let closed = line(&TraceEvent::Closed { reason: &reason, stats: &stats });
        assert!(
            closed.contains("\"reason\":\"remote\",\"code\":32769,\"text\":\"a \\\"quoted\\\"\\n\\u0001\"")
        );
        assert!(closed.ends_with("\"srtt_us\":null}\n"), "{closed}");
    }
}
