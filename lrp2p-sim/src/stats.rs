//! Per-link counters and their rendering as a table.
//!
//! Every datagram offered to a link ends in exactly one bucket, and duplication adds one copy, so
//! at any time `offered + duplicated = delivered + dropped + in_flight`
//! ([`LinkStats::is_balanced`]).

use std::fmt::Write as _;

use serde::Serialize;

/// Counters of one link (one direction of a path, or a bottleneck shared by several).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LinkStats {
    /// Datagrams handed to the link by senders.
    pub offered: u64,
    /// Bytes handed to the link by senders.
    pub bytes_offered: u64,
    /// Datagrams (copies included) handed to the receiving node.
    pub delivered: u64,
    /// Bytes handed to the receiving node.
    pub bytes_delivered: u64,
    /// Datagrams dropped by random or burst loss.
    pub dropped_loss: u64,
    /// Datagrams (copies included) dropped because the queue was full.
    pub dropped_queue: u64,
    /// Datagrams dropped because no node is registered at the destination address.
    pub dropped_unknown: u64,
    /// Extra copies made by duplication.
    pub duplicated: u64,
    /// Datagrams held back so that later ones overtake them.
    pub reordered: u64,
    /// Datagrams with a bit flipped.
    pub corrupted: u64,
    /// Datagrams (copies included) accepted by the link and not yet delivered.
    pub in_flight: u64,
    /// The largest number of datagrams waiting in (or being serialized by) the queue.
    pub max_queue_depth: u64,
}

impl LinkStats {
    /// All drops together.
    pub fn dropped(&self) -> u64 {
        self.dropped_loss + self.dropped_queue + self.dropped_unknown
    }

    /// Whether every datagram is accounted for: `offered + duplicated = delivered + dropped +
    /// in_flight`.
    pub fn is_balanced(&self) -> bool {
        self.offered + self.duplicated == self.delivered + self.dropped() + self.in_flight
    }

    /// Adds another link's counters to these (the maximum for `max_queue_depth`).
    pub fn accumulate(&mut self, other: &LinkStats) {
        self.offered += other.offered;
        self.bytes_offered += other.bytes_offered;
        self.delivered += other.delivered;
        self.bytes_delivered += other.bytes_delivered;
        self.dropped_loss += other.dropped_loss;
        self.dropped_queue += other.dropped_queue;
        self.dropped_unknown += other.dropped_unknown;
        self.duplicated += other.duplicated;
        self.reordered += other.reordered;
        self.corrupted += other.corrupted;
        self.in_flight += other.in_flight;
        self.max_queue_depth = self.max_queue_depth.max(other.max_queue_depth);
    }
}

/// Renders `(label, stats)` rows as an aligned plain-text table, one line per link.
pub fn format_table<'a>(rows: impl IntoIterator<Item = (&'a str, &'a LinkStats)>) -> String {
    const HEADERS: [&str; 12] = [
        "link",
        "offered",
        "delivered",
        "bytes",
        "lost",
        "q-drop",
        "unknown",
        "dup",
        "reord",
        "corrupt",
        "inflight",
        "max-q",
    ];
    let mut cells: Vec<[String; 12]> = vec![HEADERS.map(str::to_owned)];
    for (label, s) in rows {
        cells.push([
            label.to_owned(),
            s.offered.to_string(),
            s.delivered.to_string(),
            s.bytes_delivered.to_string(),
            s.dropped_loss.to_string(),
            s.dropped_queue.to_string(),
            s.dropped_unknown.to_string(),
            s.duplicated.to_string(),
            s.reordered.to_string(),
            s.corrupted.to_string(),
            s.in_flight.to_string(),
            s.max_queue_depth.to_string(),
        ]);
    }
    let mut widths = [0usize; 12];
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &cells {
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            // Writing into a String cannot fail.
            let _ = if i == 0 { write!(out, "{cell:<w$}") } else { write!(out, "  {cell:>w$}") };
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_a_header_and_a_row_per_link() {
        let s = LinkStats { offered: 10, delivered: 9, dropped_loss: 1, ..Default::default() };
        assert!(s.is_balanced());
        let table = format_table([("a -> b", &s), ("b -> a", &LinkStats::default())]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("link"));
        assert!(lines[1].starts_with("a -> b"));
        // Columns are aligned: every line has the same length.
        assert!(lines.iter().all(|l| l.len() == lines[0].len()));
    }
}
