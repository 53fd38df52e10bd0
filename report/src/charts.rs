//! Charts as inline SVG (plotters). Okabe–Ito colours (colour-blind safe),
//! titles, axis labels with units and legends on every chart. Each chart's
//! data is also kept as CSV so the page can offer it for download.

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::{Error, Result};

/// Okabe–Ito orange: the baseline arm (the first in display order).
pub const ORANGE: RGBColor = RGBColor(230, 159, 0);
/// Okabe–Ito blue: the second arm.
pub const BLUE: RGBColor = RGBColor(0, 114, 178);
/// Okabe–Ito bluish green.
pub const GREEN: RGBColor = RGBColor(0, 158, 115);
/// Okabe–Ito vermillion.
pub const VERMILLION: RGBColor = RGBColor(213, 94, 0);
/// Okabe–Ito sky blue.
pub const SKY_BLUE: RGBColor = RGBColor(86, 180, 233);
/// Okabe–Ito reddish purple.
pub const PURPLE: RGBColor = RGBColor(204, 121, 167);
/// Okabe–Ito yellow.
pub const YELLOW: RGBColor = RGBColor(240, 228, 66);

/// The arms' colours by display position: the eight Okabe–Ito colours,
/// the baseline orange, then the darker ones first so that two or three
/// arms stay high in contrast; a ninth arm repeats the first colour.
pub const PALETTE: [RGBColor; 8] = [
    ORANGE, BLUE, GREEN, VERMILLION, SKY_BLUE, PURPLE, BLACK, YELLOW,
];

/// The colour of the arm at display position `k`.
pub fn arm_color(k: usize) -> RGBColor {
    PALETTE[k % PALETTE.len()]
}
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
    /// Its width in pixels.
    pub width: u32,
    /// Its height in pixels.
    pub height: u32,
    /// The SVG document.
    pub svg: String,
    /// The data, as CSV with a header.
    pub csv: String,
}

impl Chart {
    /// A chart of `svg`, its size read from the document's root element.
    fn new(id: &str, title: &str, svg: String, csv: String) -> Chart {
        let attr = |name: &str| -> u32 {
            svg.split_once(&format!(" {name}=\""))
                .and_then(|(_, rest)| rest.split('"').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Chart {
            id: id.into(),
            title: title.into(),
            width: attr("width"),
            height: attr("height"),
            svg,
            csv,
        }
    }
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
    // With many arms the axis labels name them and the box plot widens to
    // keep them apart; a legend would only hide boxes.
    let many = groups.len() > LEGEND_INSIDE_MAX;
    let width = if many {
        W.max(90 * groups.len() as u32)
    } else {
        W
    };
    {
        let root = SVGBackend::with_string(&mut svg, (width, H)).into_drawing_area();
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
        if !many {
            draw_legend(&mut chart)?;
        }
        root.present().map_err(err)?;
    }
    let mut csv = String::from("arm,value\n");
    for g in groups {
        for v in &g.data {
            csv += &format!("{},{}\n", g.label, v);
        }
    }
    Ok(Chart::new(id, title, svg, csv))
}

/// The plotting area of an x/y chart.
type Frame<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Where a chart's legend goes.
enum Legend {
    /// Inside the plot, at this corner (a few series).
    Inside(SeriesLabelPosition),
    /// In a column of its own right of the plot, these entries in order
    /// (many series, which a legend inside would hide).
    Beside(Vec<(String, RGBColor)>),
}

/// Series up to which the legend fits inside the plot.
const LEGEND_INSIDE_MAX: usize = 3;
/// Width of the legend column beside the plot.
const LEGEND_W: u32 = 180;

impl Legend {
    /// The legend with the grey load-step markers' entry, when there are
    /// markers (inside, [`draw_markers`] labels them itself).
    fn with_markers(self, markers: &[f64]) -> Legend {
        match self {
            Legend::Beside(mut entries) if !markers.is_empty() => {
                entries.push(("load step".into(), GREY));
                Legend::Beside(entries)
            }
            other => other,
        }
    }

    /// Inside at `corner` for a few series, else beside the plot.
    fn of<T>(series: &[Series<T>], corner: SeriesLabelPosition) -> Legend {
        if series.len() <= LEGEND_INSIDE_MAX {
            Legend::Inside(corner)
        } else {
            Legend::Beside(series.iter().map(|s| (s.label.clone(), s.color)).collect())
        }
    }
}

/// An x/y chart: title, axes with their labels, what `body` draws, and the
/// legend; returns the SVG document.
fn xy_chart(
    title: &str,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
    x_desc: &str,
    y_desc: &str,
    legend: Legend,
    body: impl FnOnce(&mut Frame<'_, '_>) -> Result<()>,
) -> Result<String> {
    let mut svg = String::new();
    {
        let side = if matches!(legend, Legend::Beside(_)) {
            LEGEND_W
        } else {
            0
        };
        let whole = SVGBackend::with_string(&mut svg, (W + side, H)).into_drawing_area();
        whole.fill(&WHITE).map_err(err)?;
        let (root, column) = whole.split_horizontally(W);
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
        match legend {
            Legend::Inside(corner) => draw_legend_at(&mut chart, corner)?,
            Legend::Beside(entries) => {
                for (k, (label, color)) in entries.iter().enumerate() {
                    let y = 40 + 22 * k as i32;
                    column
                        .draw(&Rectangle::new([(8, y - 6), (22, y + 6)], color.filled()))
                        .map_err(err)?;
                    column
                        .draw(&Text::new(
                            label.as_str(),
                            (30, y - 7),
                            ("sans-serif", 13).into_font(),
                        ))
                        .map_err(err)?;
                }
            }
        }
        whole.present().map_err(err)?;
    }
    Ok(svg)
}

/// The legend of every chart.
fn draw_legend<'a, 'b: 'a>(chart: &mut Frame<'a, 'b>) -> Result<()> {
    draw_legend_at(chart, SeriesLabelPosition::UpperRight)
}

/// The legend at `position`.
fn draw_legend_at<'a, 'b: 'a>(
    chart: &mut Frame<'a, 'b>,
    position: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(position)
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
    let legend = Legend::of(series, SeriesLabelPosition::UpperRight).with_markers(markers);
    let svg = xy_chart(title, x, y, "trial time (s)", y_desc, legend, |chart| {
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
    Ok(Chart::new(id, title, svg, csv))
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
    let legend = Legend::of(series, SeriesLabelPosition::UpperRight).with_markers(markers);
    let svg = xy_chart(title, x, y, x_desc, y_desc, legend, |chart| {
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
    Ok(Chart::new(id, title, svg, points_csv("series,x,y", series)))
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
    let legend = Legend::of(groups, SeriesLabelPosition::UpperRight);
    let svg = xy_chart(title, x, y, x_desc, y_desc, legend, |chart| {
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
    Ok(Chart::new(id, title, svg, points_csv(&header, groups)))
}

/// One arm on a Pareto chart: its medians with their intervals.
pub struct ParetoPoint {
    /// Legend label.
    pub label: String,
    /// Colour.
    pub color: RGBColor,
    /// Median cost.
    pub x: f64,
    /// Its interval.
    pub x_ci: Option<(f64, f64)>,
    /// Median of what is served.
    pub y: f64,
    /// Its interval.
    pub y_ci: Option<(f64, f64)>,
    /// On the front: no other point is at least as good on both axes.
    pub front: bool,
}

/// Each arm's median cost (x) against what it serves (y) with interval
/// whiskers on both axes; the front's points filled and joined by a grey
/// staircase, the dominated ones hollow; the legend in the points' order.
pub fn pareto(
    id: &str,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    points: &[ParetoPoint],
) -> Result<Chart> {
    let xs = points.iter().flat_map(|p| {
        let (lo, hi) = p.x_ci.unwrap_or((p.x, p.x));
        [p.x, lo, hi]
    });
    let ys = points.iter().flat_map(|p| {
        let (lo, hi) = p.y_ci.unwrap_or((p.y, p.y));
        [p.y, lo, hi]
    });
    let (x, y) = (range(xs, true), range(ys, false));
    // Inside, lower right: high cost and little served, where no front
    // point lies.
    let legend = if points.len() <= LEGEND_INSIDE_MAX {
        Legend::Inside(SeriesLabelPosition::LowerRight)
    } else {
        let mut entries = vec![("Pareto front".to_string(), GREY)];
        entries.extend(points.iter().map(|p| (p.label.clone(), p.color)));
        Legend::Beside(entries)
    };
    let svg = xy_chart(title, x, y, x_desc, y_desc, legend, |chart| {
        let mut front: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.front)
            .map(|p| (p.x, p.y))
            .collect();
        front.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut stairs = Vec::new();
        for (i, p) in front.iter().enumerate() {
            if i > 0 {
                stairs.push((p.0, front[i - 1].1));
            }
            stairs.push(*p);
        }
        if stairs.len() > 1 {
            chart
                .draw_series(LineSeries::new(stairs, GREY))
                .map_err(err)?
                .label("Pareto front")
                .legend(|(a, b)| PathElement::new(vec![(a, b), (a + 12, b)], GREY));
        }
        for p in points {
            let style = ShapeStyle::from(&p.color).stroke_width(2);
            let mut whiskers = Vec::new();
            if let Some((lo, hi)) = p.x_ci {
                whiskers.push(PathElement::new(vec![(lo, p.y), (hi, p.y)], style));
            }
            if let Some((lo, hi)) = p.y_ci {
                whiskers.push(PathElement::new(vec![(p.x, lo), (p.x, hi)], style));
            }
            chart.draw_series(whiskers).map_err(err)?;
            let color = p.color;
            let marker = if p.front {
                color.filled()
            } else {
                ShapeStyle::from(&color).stroke_width(2)
            };
            chart
                .draw_series([Circle::new((p.x, p.y), 6, marker)])
                .map_err(err)?
                .label(p.label.as_str())
                .legend(move |(a, b)| Circle::new((a + 6, b), 4, color.filled()));
        }
        Ok(())
    })?;
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let mut csv = format!(
        "arm,{x},{x}_low,{x}_high,{y},{y}_low,{y}_high,front\n",
        x = csv_name(x_desc),
        y = csv_name(y_desc)
    );
    for p in points {
        csv += &format!(
            "{},{},{},{},{},{},{},{}\n",
            p.label,
            p.x,
            opt(p.x_ci.map(|c| c.0)),
            opt(p.x_ci.map(|c| c.1)),
            p.y,
            opt(p.y_ci.map(|c| c.0)),
            opt(p.y_ci.map(|c| c.1)),
            p.front
        );
    }
    Ok(Chart::new(id, title, svg, csv))
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
