//! Charts as inline SVG (plotters). Okabe–Ito colours (colour-blind safe),
//! titles, axis labels with units and legends on every chart. Each chart's
//! data is also kept as CSV so the page can offer it for download.

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::{Error, Result};

/// Okabe–Ito orange: the baseline arm (HPA).
pub const ORANGE: RGBColor = RGBColor(230, 159, 0);
/// Okabe–Ito blue: the treatment arm (UserScale).
pub const BLUE: RGBColor = RGBColor(0, 114, 178);
/// Okabe–Ito bluish green.
pub const GREEN: RGBColor = RGBColor(0, 158, 115);
/// Okabe–Ito vermillion.
pub const VERMILLION: RGBColor = RGBColor(213, 94, 0);
/// Dark grey for load-step markers.
pub const GREY: RGBColor = RGBColor(90, 90, 90);

const W: u32 = 640;
const H: u32 = 360;

/// A chart: its SVG and the CSV of the data it shows.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Chart {
    /// Stable id (file name of the CSV).
    pub id: String,
    /// Title.
    pub title: String,
    /// The SVG document.
    pub svg: String,
    /// The data, as CSV with a header.
    pub csv: String,
}

/// A point of a band chart: (x, mean, lower, upper).
pub type BandPoint = (f64, f64, f64, f64);

/// One named series.
pub struct Series<T> {
    /// Legend label.
    pub label: String,
    /// Colour.
    pub color: RGBColor,
    /// Points.
    pub data: T,
}

fn err<E: std::fmt::Debug>(e: E) -> Error {
    Error::Chart(format!("{e:?}"))
}

fn range(values: impl Iterator<Item = f64>, pad_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if pad_zero && lo > 0.0 {
        lo = 0.0;
    }
    if hi <= lo {
        hi = lo + 1.0;
    }
    let pad = (hi - lo) * 0.05;
    (if pad_zero && lo == 0.0 { 0.0 } else { lo - pad }, hi + pad)
}

/// Box (quartiles, whiskers to min/max) plus every trial as a point, per group.
pub fn box_points(
    id: &str,
    title: &str,
    y_desc: &str,
    groups: &[Series<Vec<f64>>],
) -> Result<Chart> {
    let mut svg = String::new();
    let (y0, y1) = range(groups.iter().flat_map(|g| g.data.iter().copied()), true);
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let labels: Vec<String> = groups.iter().map(|g| g.label.to_string()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..(groups.len() as f64 - 0.5), y0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(groups.len().max(1))
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_desc("arm")
            .y_desc(y_desc)
            .draw()
            .map_err(err)?;
        for (i, g) in groups.iter().enumerate() {
            let x = i as f64;
            let mut v: Vec<f64> = g.data.iter().copied().filter(|x| x.is_finite()).collect();
            v.sort_by(f64::total_cmp);
            if v.is_empty() {
                continue;
            }
            let q = |p: f64| crate::stats::quantile(&v, p);
            let (q1, q2, q3) = (q(0.25), q(0.5), q(0.75));
            let style = ShapeStyle::from(&g.color).stroke_width(2);
            chart
                .draw_series([
                    Rectangle::new([(x - 0.25, q1), (x + 0.25, q3)], g.color.mix(0.15).filled()),
                    Rectangle::new([(x - 0.25, q1), (x + 0.25, q3)], style),
                ])
                .map_err(err)?;
            chart
                .draw_series([
                    PathElement::new(vec![(x - 0.25, q2), (x + 0.25, q2)], style),
                    PathElement::new(vec![(x, v[0]), (x, q1)], style),
                    PathElement::new(vec![(x, q3), (x, v[v.len() - 1])], style),
                ])
                .map_err(err)?
                .label(g.label.as_str())
                .legend(move |(a, b)| {
                    Rectangle::new([(a, b - 5), (a + 12, b + 5)], g.color.filled())
                });
            // Deterministic jitter so that equal values stay visible.
            chart
                .draw_series(
                    g.data
                        .iter()
                        .enumerate()
                        .filter(|(_, y)| y.is_finite())
                        .map(|(k, &y)| {
                            let jitter = ((k * 37) % 17) as f64 / 17.0 * 0.3 - 0.15;
                            Circle::new((x + 0.35 + jitter * 0.3, y), 3, g.color.filled())
                        }),
                )
                .map_err(err)?;
        }
        draw_legend(&mut chart)?;
        root.present().map_err(err)?;
    }
    let mut csv = String::from("arm,value\n");
    for g in groups {
        for v in &g.data {
            csv += &format!("{},{}\n", g.label, v);
        }
    }
    Ok(Chart {
        id: id.into(),
        title: title.into(),
        svg,
        csv,
    })
}

/// The plotting area of an x/y chart.
type Frame<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// An x/y chart: title, axes with their labels, what `body` draws, and the
/// legend; returns the SVG document.
fn xy_chart(
    title: &str,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
    x_desc: &str,
    y_desc: &str,
    body: impl FnOnce(&mut Frame<'_, '_>) -> Result<()>,
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .draw()
            .map_err(err)?;
        body(&mut chart)?;
        draw_legend(&mut chart)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// The legend of every chart.
fn draw_legend<'a, 'b: 'a>(chart: &mut Frame<'a, 'b>) -> Result<()> {
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(err)
}

/// Vertical grey lines at the load steps, with one legend entry.
fn draw_markers(chart: &mut Frame<'_, '_>, markers: &[f64], (y0, y1): (f64, f64)) -> Result<()> {
    for (k, &m) in markers.iter().enumerate() {
        let line = chart
            .draw_series([PathElement::new(vec![(m, y0), (m, y1)], GREY)])
            .map_err(err)?;
        if k == 0 {
            line.label("load step")
                .legend(|(a, b)| PathElement::new(vec![(a, b), (a + 12, b)], GREY));
        }
    }
    Ok(())
}

/// Mean over seeds with a 95 % band per arm, over time, with load steps marked.
pub fn band_series(
    id: &str,
    title: &str,
    y_desc: &str,
    series: &[Series<Vec<BandPoint>>],
    markers: &[f64],
) -> Result<Chart> {
    let x = range(series.iter().flat_map(|s| s.data.iter().map(|p| p.0)), true);
    let y = range(
        series
            .iter()
            .flat_map(|s| s.data.iter().flat_map(|p| [p.2, p.3])),
        true,
    );
    let svg = xy_chart(title, x, y, "trial time (s)", y_desc, |chart| {
        draw_markers(chart, markers, y)?;
        for s in series {
            let mut poly: Vec<(f64, f64)> = s.data.iter().map(|p| (p.0, p.3)).collect();
            poly.extend(s.data.iter().rev().map(|p| (p.0, p.2)));
            chart
                .draw_series([Polygon::new(poly, s.color.mix(0.2).filled())])
                .map_err(err)?;
            let style = ShapeStyle::from(&s.color).stroke_width(2);
            chart
                .draw_series(LineSeries::new(s.data.iter().map(|p| (p.0, p.1)), style))
                .map_err(err)?
                .label(s.label.as_str())
                .legend(move |(a, b)| PathElement::new(vec![(a, b), (a + 12, b)], style));
        }
        Ok(())
    })?;
    let mut csv = String::from("arm,t_s,mean,ci_low,ci_high\n");
    for s in series {
        for p in &s.data {
            csv += &format!("{},{},{},{},{}\n", s.label, p.0, p.1, p.2, p.3);
        }
    }
    Ok(Chart {
        id: id.into(),
        title: title.into(),
        svg,
        csv,
    })
}

/// Lines (CDFs, step plots): `step` draws each series as a staircase.
pub fn lines(
    id: &str,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[Series<Vec<(f64, f64)>>],
    step: bool,
    markers: &[f64],
) -> Result<Chart> {
    let x = range(series.iter().flat_map(|s| s.data.iter().map(|p| p.0)), true);
    let y = range(series.iter().flat_map(|s| s.data.iter().map(|p| p.1)), true);
    let shaped: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| {
            if !step {
                return s.data.clone();
            }
            let mut v = Vec::with_capacity(s.data.len() * 2);
            for (i, p) in s.data.iter().enumerate() {
                if i > 0 {
                    v.push((p.0, s.data[i - 1].1));
                }
                v.push(*p);
            }
            v
        })
        .collect();
    let svg = xy_chart(title, x, y, x_desc, y_desc, |chart| {
        draw_markers(chart, markers, y)?;
        for (s, points) in series.iter().zip(&shaped) {
            let style = ShapeStyle::from(&s.color).stroke_width(2);
            chart
                .draw_series(LineSeries::new(points.iter().copied(), style))
                .map_err(err)?
                .label(s.label.as_str())
                .legend(move |(a, b)| PathElement::new(vec![(a, b), (a + 12, b)], style));
        }
        Ok(())
    })?;
    Ok(Chart {
        id: id.into(),
        title: title.into(),
        svg,
        csv: points_csv("series,x,y", series),
    })
}

/// One point per trial, per arm.
pub fn scatter(
    id: &str,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    groups: &[Series<Vec<(f64, f64)>>],
) -> Result<Chart> {
    let x = range(groups.iter().flat_map(|s| s.data.iter().map(|p| p.0)), true);
    let y = range(groups.iter().flat_map(|s| s.data.iter().map(|p| p.1)), true);
    let svg = xy_chart(title, x, y, x_desc, y_desc, |chart| {
        for g in groups {
            let color = g.color;
            chart
                .draw_series(
                    g.data
                        .iter()
                        .filter(|p| p.0.is_finite() && p.1.is_finite())
                        .map(|&p| Circle::new(p, 4, color.filled())),
                )
                .map_err(err)?
                .label(g.label.as_str())
                .legend(move |(a, b)| Circle::new((a + 6, b), 4, color.filled()));
        }
        Ok(())
    })?;
    let header = format!("arm,{},{}", csv_name(x_desc), csv_name(y_desc));
    Ok(Chart {
        id: id.into(),
        title: title.into(),
        svg,
        csv: points_csv(&header, groups),
    })
}

/// CSV of (x, y) series: `header`, then one `label,x,y` line per point.
fn points_csv(header: &str, series: &[Series<Vec<(f64, f64)>>]) -> String {
    let mut csv = format!("{header}\n");
    for s in series {
        for p in &s.data {
            csv += &format!("{},{},{}\n", s.label, p.0, p.1);
        }
    }
    csv
}

fn csv_name(desc: &str) -> String {
    desc.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_matches('_')
        .to_string()
}
