//! `perf --plot FILE.svg` and `send --plot FILE.svg`: goodput, congestion window, RTT and
//! retransmissions over time, one [`Point`] per 100 ms ([`record`]), in stacked panels under
//! a title that says what ran. Drawn with plotters' SVG backend (no fonts or C libraries).
//!
//! The goodput panel shows each 100 ms step (thin) and its one-second moving average (bold),
//! with a red tick on the time axis at every step that retransmitted; the last panel counts
//! the retransmissions per step. A panel whose figure this side does not know (a receiver has
//! no window or RTT) is left out, and the picture says why.

mod record;
mod recorded;
#[cfg(test)]
mod tests;

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

pub(crate) use record::{Point, Recorder, STEP, sum};
pub(crate) use recorded::{Recorded, acknowledged};

use crate::error::CliError;

/// Width of the picture, in pixels.
const WIDTH: u32 = 1000;
/// Height of the title line, and of each line of details under it.
const TITLE_HEIGHTS: (u32, u32) = (44, 24);
/// Height of the goodput panel, and of each other panel.
const PANEL_HEIGHTS: (u32, u32) = (330, 230);
/// Height of the closing note, when there is one.
const NOTE_HEIGHT: u32 = 34;

/// Line colours (a colour-blind-safe palette): goodput lines, window, RTT, retransmissions.
const GOODPUT: [RGBColor; 2] = [RGBColor(0, 114, 178), RGBColor(230, 159, 0)];
/// The window's colour.
const CWND: RGBColor = RGBColor(117, 72, 160);
/// The RTT's colour.
const RTT: RGBColor = RGBColor(0, 140, 100);
/// The retransmissions' colour.
const RETRANS: RGBColor = RGBColor(213, 64, 50);

/// What to draw.
#[derive(Debug)]
pub(crate) struct Plot<'a> {
    /// The first line: the command and the peer.
    pub(crate) title: String,
    /// The lines under it: the parameters (direction, controller, streams, limit), the
    /// outcome.
    pub(crate) details: Vec<String>,
    /// Goodput series with their legend labels; the window, RTT and retransmissions panels
    /// show every series that has those figures.
    pub(crate) series: Vec<(&'a str, &'a [Point])>,
    /// Why panels are missing, when they are.
    pub(crate) note: Option<String>,
}

/// The panels below the goodput's.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Panel {
    /// Congestion window.
    Cwnd,
    /// Smoothed RTT.
    Rtt,
    /// Retransmissions per step.
    Retransmits,
}

impl Panel {
    /// The panel's value of a point, when known.
    fn value(self, p: &Point, cwnd_unit: f64) -> Option<f64> {
        match self {
            Panel::Cwnd => p.cwnd.map(|c| c as f64 / cwnd_unit),
            Panel::Rtt => p.rtt_ms,
            Panel::Retransmits => p.retransmits.map(|r| r as f64),
        }
    }
}

/// Fails early (before a run) if `path` cannot be written, leaving nothing behind.
pub(crate) fn check_writable(path: &Path) -> Result<(), CliError> {
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|source| CliError::Output { path: path.to_owned(), source })?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Draws `plot` into `path`, as a [`CliError::Output`] on failure.
pub(crate) fn write(path: &Path, plot: &Plot<'_>) -> Result<(), CliError> {
    write_svg(path, plot)
        .map_err(|e| CliError::Output { path: path.to_owned(), source: std::io::Error::other(e) })
}

/// A count of lines or panels as pixels' factor.
fn px(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A plotters error as text.
fn text<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Draws `plot` into an SVG file at `path`.
pub(crate) fn write_svg(path: &Path, plot: &Plot<'_>) -> Result<(), String> {
    let has = |f: fn(&Point) -> bool| plot.series.iter().any(|(_, s)| s.iter().any(f));
    let mut panels = Vec::new();
    if has(|p| p.cwnd.is_some()) {
        panels.push(Panel::Cwnd);
    }
    if has(|p| p.rtt_ms.is_some()) {
        panels.push(Panel::Rtt);
    }
    if has(|p| p.retransmits.is_some()) {
        panels.push(Panel::Retransmits);
    }
    let note_height = if plot.note.is_some() { NOTE_HEIGHT } else { 0 };
    let title_height = TITLE_HEIGHTS.0 + TITLE_HEIGHTS.1 * px(plot.details.len()) + 10;
    let height = title_height + PANEL_HEIGHTS.0 + PANEL_HEIGHTS.1 * px(panels.len()) + note_height;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(text)?;
    let mut breaks = vec![title_height, title_height + PANEL_HEIGHTS.0];
    for _ in &panels {
        breaks.push(breaks[breaks.len() - 1] + PANEL_HEIGHTS.1);
    }
    let breaks: Vec<i32> = breaks.into_iter().map(|b| i32::try_from(b).unwrap_or(i32::MAX)).collect();
    let areas = root.split_by_breakpoints(Vec::<i32>::new(), breaks);
    let title_font = ("sans-serif", 22).into_font().style(FontStyle::Bold).color(&BLACK);
    areas[0].draw(&Text::new(plot.title.as_str(), (24, 14), title_font)).map_err(text)?;
    for (i, line) in plot.details.iter().enumerate() {
        let font = ("sans-serif", 16).into_font().color(&RGBColor(60, 60, 60));
        let y = i32::try_from(TITLE_HEIGHTS.0 + TITLE_HEIGHTS.1 * px(i)).unwrap_or(i32::MAX);
        areas[0].draw(&Text::new(line.as_str(), (24, y), font)).map_err(text)?;
    }
    let t_max = plot.series.iter().filter_map(|(_, s)| s.last()).map(|p| p.t).fold(0.1_f64, f64::max);
    goodput_panel(&areas[1], plot, t_max)?;
    for (area, panel) in areas[2..].iter().zip(&panels) {
        other_panel(area, plot, *panel, t_max)?;
    }
    if let (Some(note), Some(area)) = (&plot.note, areas.last()) {
        let font = ("sans-serif", 15).into_font().style(FontStyle::Italic).color(&RGBColor(80, 80, 80));
        area.draw(&Text::new(note.as_str(), (24, 8), font)).map_err(text)?;
    }
    root.present().map_err(text)?;
    Ok(())
}

/// The largest value, with headroom, and the tick format that suits it.
fn y_range(values: impl Iterator<Item = f64>) -> f64 {
    let max = values.fold(0.0_f64, f64::max);
    if max > 0.0 { max * 1.15 } else { 1.0 }
}

/// Tick labels: whole numbers, or decimals for small ranges (`whole`: always whole numbers,
/// for counts).
fn tick(v: &f64, y_max: f64, whole: bool) -> String {
    if y_max >= 20.0 || whole { format!("{v:.0}") } else { format!("{v:.1}") }
}

/// A chart in `area` with the common style: `caption`, time from 0 to `t_max`, values from
/// 0 to `y_max` in `unit`.
macro_rules! chart {
    ($area:expr, $caption:expr, $unit:expr, $t_max:expr, $y_max:expr, $whole:expr) => {{
        let (y_max, whole): (f64, bool) = ($y_max, $whole);
        // Counts get a tick per whole number when they are few.
        let y_ticks = if whole { (1..6).filter(|k| f64::from(*k) <= y_max).count() + 1 } else { 6 };
        let mut chart = ChartBuilder::on($area)
            .caption($caption, ("sans-serif", 17).into_font().color(&BLACK))
            .margin_left(12)
            .margin_right(28)
            .margin_top(4)
            .margin_bottom(6)
            .x_label_area_size(42)
            .y_label_area_size(78)
            .build_cartesian_2d(0.0..$t_max, 0.0..y_max)
            .map_err(text)?;
        chart
            .configure_mesh()
            .x_desc("time since the start (s)")
            .y_desc($unit)
            .x_labels(12)
            .y_labels(y_ticks)
            .x_label_formatter(&|t| format!("{t:.1}"))
            .y_label_formatter(&|v| tick(v, y_max, whole))
            .label_style(("sans-serif", 13).into_font().color(&RGBColor(40, 40, 40)))
            .axis_desc_style(("sans-serif", 14).into_font().color(&BLACK))
            .bold_line_style(RGBColor(215, 215, 215))
            .light_line_style(RGBColor(243, 243, 243))
            .draw()
            .map_err(text)?;
        chart
    }};
}

/// The one-second moving average of `points`' goodput (the trailing ten steps).
fn moving_average(points: &[Point]) -> Vec<(f64, f64)> {
    let window =
        usize::try_from(std::time::Duration::from_secs(1).as_millis() / STEP.as_millis()).unwrap_or(10);
    (0..points.len())
        .map(|i| {
            let from = (i + 1).saturating_sub(window);
            let slice = &points[from..=i];
            (points[i].t, slice.iter().map(|p| p.goodput_bps).sum::<f64>() / slice.len() as f64 / 1e6)
        })
        .collect()
}

/// Goodput: each step thin, its moving average bold, and a red tick at each step that
/// retransmitted.
fn goodput_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    plot: &Plot<'_>,
    t_max: f64,
) -> Result<(), String> {
    // Headroom above the highest step for the legend.
    let y_max = 1.2 * y_range(plot.series.iter().flat_map(|(_, s)| s.iter().map(|p| p.goodput_bps / 1e6)));
    let mut chart = chart!(area, "goodput", "Mbit/s", t_max, y_max, false);
    for (i, (label, points)) in plot.series.iter().enumerate() {
        let color = GOODPUT[i % GOODPUT.len()];
        let raw = points.iter().map(|p| (p.t, p.goodput_bps / 1e6));
        chart
            .draw_series(LineSeries::new(raw, color.mix(0.5).stroke_width(1)))
            .map_err(text)?
            .label(format!("{label}, per 100 ms"))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 22, y)], color.mix(0.5).stroke_width(1))
            });
        chart
            .draw_series(LineSeries::new(moving_average(points), color.stroke_width(3)))
            .map_err(text)?
            .label(format!("{label}, 1 s average"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(3)));
    }
    let marks: Vec<f64> = plot
        .series
        .iter()
        .flat_map(|(_, s)| s.iter())
        .filter(|p| p.retransmits.unwrap_or(0) > 0)
        .map(|p| p.t)
        .collect();
    if !marks.is_empty() {
        let h = y_max * 0.05;
        chart
            .draw_series(
                marks.iter().map(|t| PathElement::new(vec![(*t, 0.0), (*t, h)], RETRANS.stroke_width(2))),
            )
            .map_err(text)?
            .label("a step with retransmissions")
            .legend(|(x, y)| {
                PathElement::new(vec![(x + 11, y - 6), (x + 11, y + 6)], RETRANS.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .margin(12)
        .label_font(("sans-serif", 13))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()
        .map_err(text)?;
    Ok(())
}

/// The window, RTT or retransmissions panel.
fn other_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    plot: &Plot<'_>,
    panel: Panel,
    t_max: f64,
) -> Result<(), String> {
    let max_cwnd = plot.series.iter().flat_map(|(_, s)| s.iter().filter_map(|p| p.cwnd)).max().unwrap_or(0);
    let (cwnd_unit, cwnd_name) = if max_cwnd >= 4 << 20 { (1048576.0, "MiB") } else { (1024.0, "KiB") };
    let (caption, unit, color) = match panel {
        Panel::Cwnd => ("congestion window", cwnd_name, CWND),
        Panel::Rtt => ("smoothed round-trip time", "ms", RTT),
        Panel::Retransmits => ("retransmitted DATA segments, per 100 ms step", "segments", RETRANS),
    };
    let values = |s: &'_ [Point]| -> Vec<(f64, f64)> {
        s.iter().filter_map(|p| panel.value(p, cwnd_unit).map(|v| (p.t, v))).collect()
    };
    let y_max = y_range(plot.series.iter().flat_map(|(_, s)| values(s)).map(|p| p.1));
    let mut chart = chart!(area, caption, unit, t_max, y_max, panel == Panel::Retransmits);
    let mut retransmitted = false;
    for (_, points) in &plot.series {
        let series = values(points);
        if panel == Panel::Retransmits {
            // A bar spans its step: from the point before (the last one may be shorter).
            let starts = std::iter::once(0.0).chain(series.iter().map(|(t, _)| *t));
            let bars = series
                .iter()
                .zip(starts)
                .filter(|((_, v), _)| *v > 0.0)
                .map(|((t, v), from)| Rectangle::new([(from, 0.0), (*t, *v)], color.mix(0.8).filled()));
            chart.draw_series(bars).map_err(text)?;
            retransmitted |= series.iter().any(|(_, v)| *v > 0.0);
        } else {
            chart.draw_series(LineSeries::new(series, color.stroke_width(2))).map_err(text)?;
        }
    }
    if panel == Panel::Retransmits && !retransmitted {
        let font = ("sans-serif", 16).into_font().color(&RGBColor(80, 80, 80));
        let none = Text::new("none: no segment was retransmitted", (t_max * 0.35, 0.6), font);
        chart.draw_series(std::iter::once(none)).map_err(text)?;
    }
    Ok(())
}
