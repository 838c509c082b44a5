//! `perf --plot FILE.svg`: goodput, congestion window and RTT over time, three stacked panels
//! drawn with plotters' SVG backend (no fonts or C libraries needed).

use std::path::Path;

use plotters::prelude::*;

use crate::perf::Sample;

/// Width and height of the picture, in pixels.
const SIZE: (u32, u32) = (900, 900);

/// One panel: a title, a unit and the value per sample (`None` where unknown).
struct Panel {
    /// Panel caption.
    title: &'static str,
    /// Colour of the line.
    color: RGBColor,
    /// The series, as (seconds, value) points.
    points: Vec<(f64, f64)>,
}

/// Draws `samples` into an SVG file at `path`.
pub(crate) fn write_svg(path: &Path, samples: &[Sample]) -> Result<(), String> {
    let panels = [
        Panel {
            title: "goodput (Mbit/s)",
            color: BLUE,
            points: samples.iter().map(|s| (s.t, s.goodput_bps / 1e6)).collect(),
        },
        Panel {
            title: "congestion window (KiB)",
            color: RED,
            points: samples.iter().filter_map(|s| s.cwnd.map(|c| (s.t, c as f64 / 1024.0))).collect(),
        },
        Panel {
            title: "smoothed RTT (ms)",
            color: GREEN,
            points: samples.iter().filter_map(|s| s.rtt_ms.map(|r| (s.t, r))).collect(),
        },
    ];
    let t_max = samples.iter().map(|s| s.t).fold(1.0_f64, f64::max);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    for (area, panel) in root.split_evenly((3, 1)).iter().zip(&panels) {
        let y_max = panel.points.iter().map(|p| p.1).fold(0.0_f64, f64::max).max(1e-9) * 1.1;
        let mut chart = ChartBuilder::on(area)
            .caption(panel.title, ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..t_max, 0.0..y_max)
            .map_err(|e| e.to_string())?;
        chart.configure_mesh().x_desc("time (s)").draw().map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(panel.points.iter().copied(), panel.color.stroke_width(2)))
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_valid_svg_from_synthetic_samples() {
        let samples: Vec<Sample> = (1..=20u32)
            .map(|i| {
                let t = f64::from(i);
                Sample {
                    t,
                    goodput_bps: 80e6 + 10e6 * (t / 3.0).sin(),
                    bytes: 10_000_000,
                    rtt_ms: (i > 1).then_some(20.0 + t),
                    cwnd: Some(100_000 + 5_000 * u64::from(i)),
                    retransmits: Some(u64::from(i)),
                    interval_retransmits: Some(1),
                }
            })
            .collect();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("perf.svg");
        write_svg(&path, &samples).expect("plot");
        let svg = std::fs::read_to_string(&path).expect("read");
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("goodput (Mbit/s)"));
        assert!(svg.contains("congestion window"));
        assert!(svg.contains("RTT"));
        assert!(svg.matches("<polyline").count() >= 3, "three series");
        // Well formed enough for any XML reader: tags balance.
        assert_eq!(svg.matches("<svg").count(), svg.matches("</svg>").count());
    }

    #[test]
    fn empty_samples_still_draw() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("empty.svg");
        write_svg(&path, &[]).expect("plot");
        assert!(std::fs::read_to_string(&path).expect("read").contains("</svg>"));
    }

    #[test]
    fn unwritable_path_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(write_svg(&dir.path().join("no/such/dir.svg"), &[]).is_err());
    }
}
