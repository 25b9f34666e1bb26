//! SVG plots of a report: the latency CDF and delivery over time, one line
//! per kind of traffic. SVG only (plotters' svg backend), so no font or
//! image libraries are needed.

use std::path::Path;

use plotters::prelude::*;

use crate::metrics::Report;
use crate::SimError;

const COLOURS: [RGBColor; 3] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
];

fn err(e: impl std::fmt::Display) -> SimError {
    SimError::Output(e.to_string())
}

/// Writes `latency_cdf.svg` and `delivery_over_time.svg` into `dir`.
pub fn write_plots(report: &Report, dir: &Path) -> Result<(), SimError> {
    let cdfs: Vec<(String, Vec<(f64, f64)>)> = report
        .latencies
        .iter()
        .filter(|(_, l)| !l.is_empty())
        .map(|(k, l)| {
            let expected = report.kinds.get(k).map(|r| r.expected).unwrap_or(1).max(1) as f64;
            let pts = l
                .iter()
                .enumerate()
                .map(|(i, ms)| (*ms, (i + 1) as f64 / expected))
                .collect();
            (k.clone(), pts)
        })
        .collect();
    chart(
        &dir.join("latency_cdf.svg"),
        &format!(
            "{}: latency CDF (share of expected deliveries)",
            report.scenario
        ),
        "latency (ms)",
        &cdfs,
    )?;
    let over: Vec<(String, Vec<(f64, f64)>)> = report
        .delivery_over_time
        .iter()
        .map(|(k, v)| (k.clone(), v.iter().map(|(t, s)| (t / 1000.0, *s)).collect()))
        .collect();
    chart(
        &dir.join("delivery_over_time.svg"),
        &format!("{}: delivered share over time", report.scenario),
        "seconds since traffic start",
        &over,
    )
}

fn chart(
    path: &Path,
    title: &str,
    x_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<(), SimError> {
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let x_max = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(x, _)| *x))
        .fold(1.0f64, f64::max)
        * 1.05;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..x_max, 0.0..1.05f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc("share delivered")
        .draw()
        .map_err(err)?;
    for (i, (name, pts)) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        // A step line: start at zero, so a kind with one arrival still shows.
        let mut line = vec![(0.0, 0.0)];
        let mut prev = 0.0;
        for &(x, y) in pts {
            line.push((x, prev));
            line.push((x, y));
            prev = y;
        }
        chart
            .draw_series(LineSeries::new(line, colour.stroke_width(2)))
            .map_err(err)?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
