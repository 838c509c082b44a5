//! What a run of the benchmark prints: the Markdown tables (goodput medians with their range,
//! CPU, and every run's relay counters) or, with `--json`, one JSON document.

use std::fmt::Write as _;

use lrp2p_bench::median;
use lrp2p_relay::WaySnapshot;
use serde_json::{Value, json};

use crate::conditions::{self, Condition};
use crate::relay_host::Capacity;
use crate::window::Window;

/// One (run, condition, contender) measurement.
pub(crate) struct Run {
    /// The round, from 1.
    pub(crate) round: usize,
    /// The link condition.
    pub(crate) condition: Condition,
    /// The contender's key.
    pub(crate) key: String,
    /// The contender's name in the tables.
    pub(crate) name: String,
    /// The figures, or why there are none.
    pub(crate) result: Result<Window, String>,
    /// The relay's counters, client → server (the data).
    pub(crate) up: WaySnapshot,
    /// The relay's counters, server → client (the acknowledgements).
    pub(crate) down: WaySnapshot,
}

/// What the relay did to one direction, in a few words.
pub(crate) fn way_line(w: &WaySnapshot) -> String {
    let offered = w.forwarded + w.lost + w.queue_full + w.backlog;
    let pct = |n: u64| if offered == 0 { 0.0 } else { n as f64 * 100.0 / offered as f64 };
    format!(
        "{} fwd, {} lost ({:.2} %), {} queue drops, {} held, {} backlog drops",
        w.forwarded,
        w.lost,
        pct(w.lost),
        w.queue_full,
        w.held,
        w.backlog
    )
}

/// One run on one line, for stderr as it happens.
pub(crate) fn run_line(r: &Run, rounds: usize) -> String {
    let head = format!("[round {}/{rounds}] {} · {}", r.round, r.condition.key, r.key);
    match &r.result {
        Ok(w) => {
            let slowest = w.per_second.iter().min().copied().unwrap_or(0) as f64 * 8.0 / 1e6;
            format!(
                "{head}: {:.1} Mbit/s (slowest second {slowest:.1}); CPU {} | data way: {} | ack way: {} | sender: {}",
                w.mbit(),
                cpu_cell(w),
                way_line(&r.up),
                way_line(&r.down),
                w.sender
            )
        }
        Err(e) => format!("{head}: FAILED: {e} | data way: {}", way_line(&r.up)),
    }
}

/// CPU over the window in cores: the process's, and the relay's share of it.
fn cpu_cell(w: &Window) -> String {
    let process = w.cpu_process / w.secs;
    match w.cpu_relay {
        Some(relay) => format!("{process:.2} ({:.2} relay)", relay / w.secs),
        None => format!("{process:.2}"),
    }
}

/// Median, least and most of `values`.
fn spread(values: &[f64]) -> Option<(f64, f64, f64)> {
    let m = median(values)?;
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((m, lo, hi))
}

/// The runs of one (condition, contender) pair that produced figures.
fn windows<'a>(runs: &'a [Run], condition: &str, key: &str) -> Vec<&'a Window> {
    runs.iter()
        .filter(|r| r.condition.key == condition && r.key == key)
        .filter_map(|r| r.result.as_ref().ok())
        .collect()
}

/// Failed runs of one pair.
fn failures(runs: &[Run], condition: &str, key: &str) -> usize {
    runs.iter().filter(|r| r.condition.key == condition && r.key == key && r.result.is_err()).count()
}

/// The contenders (key, name) and conditions in the order they ran.
fn axes(runs: &[Run]) -> (Vec<(String, String)>, Vec<Condition>) {
    let mut contenders: Vec<(String, String)> = Vec::new();
    let mut conds: Vec<Condition> = Vec::new();
    for r in runs {
        if !contenders.iter().any(|(k, _)| *k == r.key) {
            contenders.push((r.key.clone(), r.name.clone()));
        }
        if !conds.iter().any(|c| c.key == r.condition.key) {
            conds.push(r.condition);
        }
    }
    (contenders, conds)
}

/// The Markdown report.
pub(crate) fn markdown(runs: &[Run], secs: u64, rounds: usize, capacity: Option<&Capacity>) -> String {
    let (contenders, conds) = axes(runs);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nGoodput in Mbit/s: median (min–max) of {rounds} runs; {} Mbit/s each way, {} ms each way \
         ({} ms RTT), {} kB queue; application bytes read in {secs} s from the receiver's first byte.\n",
        conditions::RATE_BPS / 1e6,
        conditions::ONE_WAY.as_millis(),
        2 * conditions::ONE_WAY.as_millis(),
        conditions::QUEUE_BYTES / 1000,
    );
    if let Some(c) = capacity {
        let _ = writeln!(out, "{}\n", capacity_line(c));
    }
    let header = |out: &mut String, first: &str| {
        let _ = write!(out, "| {first} |");
        for c in &conds {
            let _ = write!(out, " {} |", c.title);
        }
        out.push_str("\n|---|");
        out.push_str(&"---:|".repeat(conds.len()));
        out.push('\n');
    };
    header(&mut out, "contender");
    for (key, name) in &contenders {
        let _ = write!(out, "| {name} |");
        for c in &conds {
            let w = windows(runs, c.key, key);
            let mbit: Vec<f64> = w.iter().map(|w| w.mbit()).collect();
            let failed = failures(runs, c.key, key);
            let cell = match spread(&mbit) {
                Some((m, lo, hi)) if mbit.len() > 1 => format!("{m:.1} ({lo:.1}–{hi:.1})"),
                Some((m, _, _)) => format!("{m:.1}"),
                None => "–".to_owned(),
            };
            let note = if failed > 0 { format!(", {failed} failed") } else { String::new() };
            let _ = write!(out, " {cell}{note} |");
        }
        out.push('\n');
    }
    out.push_str("\nCPU over the window, in cores (of 2), median: the whole process (relay, sender and receiver), and the relay's threads.\n\n");
    header(&mut out, "contender");
    for (key, name) in &contenders {
        let _ = write!(out, "| {name} |");
        for c in &conds {
            let w = windows(runs, c.key, key);
            let cores: Vec<f64> = w.iter().map(|w| w.cpu_process / w.secs).collect();
            let relay: Vec<f64> = w.iter().filter_map(|w| w.cpu_relay.map(|r| r / w.secs)).collect();
            let cell = match (median(&cores), median(&relay)) {
                (Some(p), Some(r)) => format!("{p:.2} ({r:.2} relay)"),
                (Some(p), None) => format!("{p:.2}"),
                _ => "–".to_owned(),
            };
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    out.push_str(
        "\nThe relay's counters, every run (data way: client → server; ack way: server → client). \
         The seed is the round's, the same for every contender of a round.\n\n\
         | round | condition | contender | Mbit/s | data: forwarded | lost | queue drops | held | ack: forwarded | lost | queue drops | held | relay backlog drops |\n\
         |---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in runs {
        let mbit = r.result.as_ref().map_or("failed".to_owned(), |w| format!("{:.1}", w.mbit()));
        let (u, d) = (&r.up, &r.down);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {mbit} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.round,
            r.condition.key,
            r.key,
            u.forwarded,
            u.lost,
            u.queue_full,
            u.held,
            d.forwarded,
            d.lost,
            d.queue_full,
            d.held,
            u.backlog + d.backlog
        );
    }
    out
}

/// The relay capacity check in one sentence.
pub(crate) fn capacity_line(c: &Capacity) -> String {
    let relay = c.cpu_relay.map_or(String::new(), |r| format!(", the relay's threads {r:.2}"));
    format!(
        "Relay check (unimpaired relay, 1400-byte datagrams offered at {:.0} Mbit/s): the relay \
         forwarded {:.0} Mbit/s (the sink read {:.0}); {} sent, {} forwarded, {} relay backlog \
         drops; CPU in cores: process {:.2}{relay}.",
        c.offered_mbit, c.mbit, c.sink_mbit, c.sent, c.up.forwarded, c.up.backlog, c.cpu_process
    )
}

/// Milliseconds, for the JSON.
fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One direction's counters as JSON.
fn way_json(w: &WaySnapshot) -> Value {
    json!({
        "forwarded": w.forwarded, "forwarded_bytes": w.forwarded_bytes, "lost": w.lost,
        "queue_full": w.queue_full, "held": w.held, "backlog": w.backlog,
    })
}

/// The whole report as JSON: settings, the capacity check, every run, and the medians.
pub(crate) fn json(runs: &[Run], secs: u64, rounds: usize, capacity: Option<&Capacity>) -> Value {
    let (contenders, conds) = axes(runs);
    let runs_json: Vec<Value> = runs
        .iter()
        .map(|r| {
            let mut v = json!({
                "round": r.round, "condition": r.condition.key, "contender": r.key, "name": r.name,
                "relay_up": way_json(&r.up), "relay_down": way_json(&r.down),
            });
            match &r.result {
                Ok(w) => {
                    v["goodput_mbit"] = json!(w.mbit());
                    v["bytes"] = json!(w.bytes);
                    v["secs"] = json!(w.secs);
                    v["per_second_mbit"] =
                        json!(w.per_second.iter().map(|b| *b as f64 * 8.0 / 1e6).collect::<Vec<_>>());
                    v["cpu_process_s"] = json!(w.cpu_process);
                    v["cpu_relay_s"] = json!(w.cpu_relay);
                    v["sender"] = json!(w.sender);
                }
                Err(e) => v["error"] = json!(e),
            }
            v
        })
        .collect();
    let mut summary = Vec::new();
    for c in &conds {
        for (key, name) in &contenders {
            let mbit: Vec<f64> = windows(runs, c.key, key).iter().map(|w| w.mbit()).collect();
            let (m, lo, hi) =
                spread(&mbit).map_or((None, None, None), |(m, lo, hi)| (Some(m), Some(lo), Some(hi)));
            summary.push(json!({
                "condition": c.key, "contender": key, "name": name, "runs": mbit.len(),
                "failed": failures(runs, c.key, key),
                "median_mbit": m, "min_mbit": lo, "max_mbit": hi,
            }));
        }
    }
    json!({
        "link": {
            "rate_mbit_each_way": conditions::RATE_BPS / 1e6,
            "one_way_delay_ms": ms(conditions::ONE_WAY),
            "queue_bytes": conditions::QUEUE_BYTES,
        },
        "conditions": conds.iter().map(|c| json!({
            "key": c.key, "title": c.title, "loss": c.impairment.loss, "reorder": c.impairment.reorder,
            "reorder_hold_ms": c.impairment.reorder_hold.map(ms),
            "rate_bps": c.impairment.rate_bps, "delay_ms": ms(c.impairment.delay),
            "queue_bytes": c.impairment.queue_bytes,
        })).collect::<Vec<_>>(),
        "secs": secs,
        "rounds": rounds,
        "relay_capacity": capacity.map(|c| json!({
            "offered_mbit": c.offered_mbit, "mbit": c.mbit, "sink_mbit": c.sink_mbit,
            "sent": c.sent, "cpu_process_cores": c.cpu_process,
            "cpu_relay_cores": c.cpu_relay, "up": way_json(&c.up),
        })),
        "runs": runs_json,
        "summary": summary,
    })
}
