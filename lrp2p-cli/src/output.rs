//! What the tool prints: progress bars and summaries for people, one JSON line for programs.
//!
//! Results go to standard output; bars and notes go to standard error, so that
//! `lrp2p … --json | jq` sees only JSON.

use std::io::Write as _;
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

/// The first failure to write standard output (e.g. `> /dev/full`): the command then fails
/// with exit code 8 even though its work succeeded (see [`stdout_failure`]).
static STDOUT_FAILED: OnceLock<std::io::ErrorKind> = OnceLock::new();

/// Writes `text` and a newline to standard error (`to_stderr`) or output, remembering a
/// failure of standard output.
fn print_to(text: &str, to_stderr: bool) {
    if to_stderr {
        let _ = writeln!(std::io::stderr(), "{text}");
    } else {
        print_line(text);
    }
}

/// Writes `text` and a newline to standard output and flushes, remembering a failure.
fn print_line(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{text}").and_then(|()| out.flush()) {
        let _ = STDOUT_FAILED.set(e.kind());
    }
}

/// Why standard output could not be written, if it could not.
pub(crate) fn stdout_failure() -> Option<std::io::Error> {
    STDOUT_FAILED.get().map(|kind| std::io::Error::from(*kind))
}

/// How the command reports: bars and human lines, or JSON only.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ui {
    /// `--json`: no bars, no notes, one JSON line per result.
    pub(crate) json: bool,
    /// No output at all (tests and in-process peers that the user does not watch).
    pub(crate) quiet: bool,
    /// Reports go to standard error: standard output carries data (`recv --stdout`).
    pub(crate) stderr_only: bool,
}

impl Ui {
    /// A reporter for `--json` or not.
    pub(crate) fn new(json: bool) -> Ui {
        Ui { json, quiet: false, stderr_only: false }
    }

    /// A reporter that shows nothing.
    pub(crate) fn quiet() -> Ui {
        Ui { json: true, quiet: true, stderr_only: false }
    }

    /// A byte progress bar for `len` bytes labelled `label` (hidden with `--json`), erased
    /// from the screen when dropped, so that a transfer cut short leaves no frozen bar.
    pub(crate) fn bar(&self, label: &str, len: u64) -> Bar {
        if self.json || self.quiet {
            return Bar(ProgressBar::hidden());
        }
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr_with_hz(10));
        let style = ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} eta {eta} {msg}",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(truncate(label, 12));
        Bar(bar)
    }

    /// A warning line on standard error, shown with `--json` too (unless quiet).
    pub(crate) fn warn_always(&self, text: &str) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr(), "lrp2p: warning: {text}");
        }
    }

    /// A human note on standard error (not shown with `--json`).
    pub(crate) fn note(&self, text: &str) {
        if !self.json && !self.quiet {
            let _ = writeln!(std::io::stderr(), "{text}");
        }
    }

    /// A human report line on standard output (not shown with `--json`).
    pub(crate) fn line(&self, text: &str) {
        if !self.json && !self.quiet {
            print_to(text, self.stderr_only);
        }
    }

    /// A JSON line only with `--json` (events a person reads elsewhere, e.g. on stderr).
    pub(crate) fn json_only<T: Serialize>(&self, value: &T) {
        if self.json {
            self.result("", value);
        }
    }

    /// A result: `human` for people, `value` as one JSON line with `--json`.
    pub(crate) fn result<T: Serialize>(&self, human: &str, value: &T) {
        if self.quiet {
            return;
        }
        if self.json {
            let line = serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
            print_to(&line, self.stderr_only);
        } else {
            print_to(human, self.stderr_only);
        }
    }
}

/// A progress bar that clears itself when dropped.
#[derive(Debug)]
pub(crate) struct Bar(ProgressBar);

impl std::ops::Deref for Bar {
    type Target = ProgressBar;
    fn deref(&self) -> &ProgressBar {
        &self.0
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// Shortens `s` to at most `n` characters, marking the cut.
fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let head: String = s.chars().take(n.saturating_sub(1)).collect();
        format!("{head}…")
    }
}

/// Human bytes: `64.00 MiB`.
pub(crate) fn bytes(n: u64) -> String {
    HumanBytes(n).to_string()
}

/// Human bit rate: `94.3 Mbit/s`.
pub(crate) fn rate(bytes: u64, elapsed: Duration) -> String {
    bitrate(bits_per_second(bytes, elapsed))
}

/// Human form of a rate in bits per second.
pub(crate) fn bitrate(bits: f64) -> String {
    let (value, unit) = if bits >= 1e9 {
        (bits / 1e9, "Gbit/s")
    } else if bits >= 1e6 {
        (bits / 1e6, "Mbit/s")
    } else if bits >= 1e3 {
        (bits / 1e3, "kbit/s")
    } else {
        (bits, "bit/s")
    };
    format!("{value:.1} {unit}")
}

/// Bits per second over `elapsed` (0 when no time passed).
pub(crate) fn bits_per_second(bytes: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { bytes as f64 * 8.0 / secs } else { 0.0 }
}

/// Milliseconds with one decimal, or `-` when unknown.
pub(crate) fn millis(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".to_owned(), |d| format!("{:.1} ms", d.as_secs_f64() * 1e3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units() {
        assert_eq!(bytes(64 << 20), "64.00 MiB");
        assert_eq!(rate(12_500_000, Duration::from_secs(1)), "100.0 Mbit/s");
        assert_eq!(rate(1, Duration::ZERO), "0.0 bit/s");
        assert_eq!(millis(Some(Duration::from_micros(20_500))), "20.5 ms");
        assert_eq!(millis(None), "-");
        assert_eq!(truncate("abcdefghijklmnop", 5), "abcd…");
    }
}
