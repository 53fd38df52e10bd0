//! Assembles a campaign's report: per-trial metrics, the five sections with
//! their comparisons, SQL and charts, and the "about" block.

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::Serialize;

use contract::gpu::Provenance;
use contract::BackendKind;

use crate::charts::{self, Chart, ParetoPoint, Series};
use crate::compare::{self, Comparison};
use crate::dataset::{ArmInfo, CampaignData, CampaignInfo, GpuModel};
use crate::finding::display_arm;
use crate::metrics::{self, Metric, MetricDef, TrialMetrics, METRICS};
use crate::question::Question;
use crate::ranking::{self, ArmSummary, Leaderboard, RankTest};
use crate::{sql, stats, Result};

/// Options of a report.
#[derive(Clone, Copy, Debug)]
pub struct ReportOptions {
    /// SLO threshold for SLO attainment, ms.
    pub slo_ms: f64,
    /// Draw charts (off for the JSON output).
    pub charts: bool,
}

/// The question, its text and how it is answered.
#[derive(Clone, Debug, Serialize)]
pub struct Section {
    /// Which question.
    pub question: Question,
    /// Short title.
    pub title: &'static str,
    /// The research question.
    pub text: &'static str,
    /// Method in a sentence or two.
    pub method: &'static str,
    /// Metric definitions of this section.
    pub metrics: Vec<&'static MetricDef>,
    /// SQL reproducing the per-trial table.
    pub sql: String,
    /// Comparison rows: each arm against the baseline (Holm across each
    /// cell's primary tests).
    pub rows: Vec<Comparison>,
    /// Every arm's median and interval of this section's metrics.
    pub summaries: Vec<ArmSummary>,
    /// The Friedman test across every arm of this section's value metrics.
    pub rank_tests: Vec<RankTest>,
    /// Charts.
    #[serde(skip)]
    pub charts: Vec<Chart>,
}

/// About this campaign.
#[derive(Clone, Debug, Serialize)]
pub struct About {
    /// The campaign row.
    pub campaign: CampaignInfo,
    /// GPU models used, with provenance.
    pub gpus: Vec<GpuModel>,
    /// Wait modes of the scenarios.
    pub wait_modes: Vec<String>,
    /// Complete trials per arm.
    pub trials_per_arm: BTreeMap<String, usize>,
}

/// A whole campaign report.
#[derive(Clone, Debug, Serialize)]
pub struct CampaignReport {
    /// About block.
    pub about: About,
    /// SLO threshold used, ms.
    pub slo_ms: f64,
    /// Baseline arm.
    pub baseline: String,
    /// Every arm in display order, the baseline first.
    pub arms: Vec<ArmInfo>,
    /// Scenario × load profile cells.
    pub cells: Vec<(String, String)>,
    /// The five sections.
    pub sections: Vec<Section>,
    /// "Which policy serves best?": the leaderboard of each cell.
    pub leaderboards: Vec<Leaderboard>,
    /// Its charts (one Pareto chart per cell).
    #[serde(skip)]
    pub serve_charts: Vec<Chart>,
    /// Every trial's metrics.
    pub trials: Vec<TrialMetrics>,
}

impl CampaignReport {
    /// Every chart of the campaign page: the sections' in order, then those
    /// of "Which policy serves best?".
    pub fn charts(&self) -> impl Iterator<Item = &Chart> {
        self.sections
            .iter()
            .flat_map(|s| s.charts.iter())
            .chain(&self.serve_charts)
    }
}

/// [`build`] on a thread of its own, outside any async runtime: polars runs
/// parts of its work on its own runtime and must not be called from inside
/// a tokio task.
pub fn build_detached(data: &CampaignData, opts: ReportOptions) -> Result<CampaignReport> {
    std::thread::scope(|s| {
        s.spawn(|| build(data, opts)).join().unwrap_or_else(|_| {
            Err(crate::Error::Dataset(
                "the report computation failed".into(),
            ))
        })
    })
}

/// Per scenario, where the campaign's numbers come from: simulated with
/// GPU profiles measured or derived from data sheets, or measured on a real
/// backend. Every finding ends with it.
fn provenance(data: &CampaignData) -> compare::Provenance {
    let mut out = compare::Provenance::new();
    for t in &data.trials {
        if out.contains_key(&t.scenario) {
            continue;
        }
        let note = if data.info.backend == BackendKind::Sim {
            let mut gpus: Vec<String> = t
                .gpus
                .iter()
                .map(|g| {
                    let how = match g.provenance {
                        Provenance::SpecDerived => "derived from data sheets, not measured",
                        Provenance::Measured => "measured",
                    };
                    format!("{} ({how})", g.name)
                })
                .collect();
            gpus.sort();
            gpus.dedup();
            format!("Simulated; GPU profile {}.", gpus.join(", "))
        } else {
            format!("Measured on the {} backend.", data.info.backend)
        };
        out.insert(t.scenario.clone(), note);
    }
    out
}

/// Builds the report of a loaded campaign. Call it outside async code (see
/// [`build_detached`]).
pub fn build(data: &CampaignData, opts: ReportOptions) -> Result<CampaignReport> {
    let trials = metrics::trial_metrics(data, opts.slo_ms)?;
    let arms = &data.arms;
    let rows = compare::compare_all(&trials, arms, &provenance(data));
    let summaries = ranking::summaries(&trials, arms);
    let rank_tests = ranking::rank_tests(&trials, arms);
    let leaderboards = ranking::leaderboards(&summaries, &rank_tests, arms, &rows);
    let baseline = arms.first().map(|a| a.name.clone()).unwrap_or_default();
    let mut cells: Vec<(String, String)> = data
        .trials
        .iter()
        .map(|t| (t.scenario.clone(), t.load_profile.clone()))
        .collect();
    cells.sort();
    cells.dedup();

    let series = if opts.charts {
        Some(TimeSeries::load(data)?)
    } else {
        None
    };
    let mut sections = Vec::new();
    for q in Question::ALL {
        let mut section = Section {
            question: q,
            title: q.title(),
            text: q.text(),
            method: q.method(),
            metrics: METRICS.iter().filter(|m| m.question == q).collect(),
            sql: sql::per_trial(q, data.info.id, opts.slo_ms),
            rows: rows.iter().filter(|r| r.question == q).cloned().collect(),
            summaries: summaries
                .iter()
                .filter(|r| r.metric.def().question == q)
                .cloned()
                .collect(),
            rank_tests: rank_tests
                .iter()
                .filter(|r| r.metric.def().question == q)
                .cloned()
                .collect(),
            charts: Vec::new(),
        };
        if let Some(ts) = &series {
            for (k, (scenario, profile)) in cells.iter().enumerate() {
                let ctx = ChartCtx {
                    cell: k,
                    scenario,
                    profile,
                    arms,
                    trials: &trials,
                    data,
                    ts,
                };
                section.charts.extend(ctx.charts_for(q)?);
            }
        }
        sections.push(section);
    }
    let serve_charts = if opts.charts {
        leaderboards
            .iter()
            .enumerate()
            .map(|(k, b)| pareto_chart(k, b, arms))
            .collect::<Result<Vec<_>>>()?
    } else {
        Vec::new()
    };
    let mut gpus: Vec<GpuModel> = data.trials.iter().flat_map(|t| t.gpus.clone()).collect();
    gpus.sort_by(|a, b| a.name.cmp(&b.name));
    gpus.dedup();
    let mut wait_modes: Vec<String> = data
        .trials
        .iter()
        .map(|t| format!("{}: {}", t.scenario, t.wait_mode))
        .collect();
    wait_modes.sort();
    wait_modes.dedup();
    let mut trials_per_arm = BTreeMap::new();
    for t in &data.trials {
        *trials_per_arm.entry(t.arm.clone()).or_insert(0) += 1;
    }
    Ok(CampaignReport {
        about: About {
            campaign: data.info.clone(),
            gpus,
            wait_modes,
            trials_per_arm,
        },
        slo_ms: opts.slo_ms,
        baseline,
        arms: arms.clone(),
        cells,
        sections,
        leaderboards,
        serve_charts,
        trials,
    })
}

/// The Pareto chart of cell `k`: each arm's median GPU-slot-seconds against
/// its median SLO attainment, with their 95 % intervals.
fn pareto_chart(k: usize, board: &Leaderboard, arms: &[ArmInfo]) -> Result<Chart> {
    // In the arms' display order, as every other chart.
    let points: Vec<ParetoPoint> = arms
        .iter()
        .enumerate()
        .filter_map(|(position, a)| {
            let r = board.rows.iter().find(|r| r.arm == a.name)?;
            Some(ParetoPoint {
                label: display_arm(&r.arm),
                color: charts::arm_color(position),
                x: r.cost.median?,
                x_ci: r.cost.low.zip(r.cost.high),
                y: r.slo.median?,
                y_ci: r.slo.low.zip(r.slo.high),
                front: r.pareto,
            })
        })
        .collect();
    charts::pareto(
        &format!("c{k}-pareto"),
        &format!(
            "SLO attainment vs GPU-slot-seconds (median, 95 % CI) — {} / {}",
            board.scenario, board.load_profile
        ),
        "GPU-slot-seconds (slot·s)",
        "SLO attainment (share)",
        &points,
    )
}

/// One second of a trial: (t, ready, desired, GPU %, CPU % of request).
type SecondSample = (f64, f64, f64, f64, f64);

/// Per-trial, per-second series for the time-series charts.
struct TimeSeries {
    /// trial → (t, ready, desired, gpu, cpu)
    samples: BTreeMap<i64, Vec<SecondSample>>,
    /// trial → (second, p95 latency of requests answered OK in it)
    p95: BTreeMap<i64, Vec<(f64, f64)>>,
    /// trial → sorted OK latencies after warm-up
    latencies: BTreeMap<i64, Vec<f64>>,
}

impl TimeSeries {
    fn load(data: &CampaignData) -> Result<TimeSeries> {
        let col = |df: &DataFrame, name: &str| -> Result<Vec<f64>> {
            let c = df.column(name)?.cast(&DataType::Float64)?;
            Ok(c.f64()?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
        };
        let ids: Vec<i64> = data
            .samples
            .column("trial_id")?
            .i64()?
            .iter()
            .map(|v| v.unwrap_or_default())
            .collect();
        let (t, ready, desired, gpu, cpu) = (
            col(&data.samples, "t_s")?,
            col(&data.samples, "ready")?,
            col(&data.samples, "desired")?,
            col(&data.samples, "gpu_util_mean")?,
            col(&data.samples, "cpu_pct_request")?,
        );
        let mut samples: BTreeMap<i64, Vec<_>> = BTreeMap::new();
        for i in 0..ids.len() {
            samples
                .entry(ids[i])
                .or_default()
                .push((t[i], ready[i], desired[i], gpu[i], cpu[i]));
        }
        for v in samples.values_mut() {
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        let per_second = data
            .requests
            .clone()
            .lazy()
            .filter(col_expr("ok"))
            .group_by([col_expr("trial_id"), col_expr("sec")])
            .agg([col_expr("latency_ms")
                .quantile(lit(0.95), QuantileMethod::Equiprobable)
                .alias("p95")])
            .sort(["trial_id", "sec"], SortMultipleOptions::default())
            .collect()?;
        let pid: Vec<i64> = per_second
            .column("trial_id")?
            .i64()?
            .iter()
            .map(|v| v.unwrap_or_default())
            .collect();
        let (sec, p95v) = (col(&per_second, "sec")?, col(&per_second, "p95")?);
        let mut p95: BTreeMap<i64, Vec<(f64, f64)>> = BTreeMap::new();
        for i in 0..pid.len() {
            p95.entry(pid[i]).or_default().push((sec[i], p95v[i]));
        }
        let rid: Vec<i64> = data
            .requests
            .column("trial_id")?
            .i64()?
            .iter()
            .map(|v| v.unwrap_or_default())
            .collect();
        let flag = |name: &str| -> Result<Vec<bool>> {
            Ok(data
                .requests
                .column(name)?
                .bool()?
                .iter()
                .map(|v| v.unwrap_or(false))
                .collect())
        };
        let (ok, warm) = (flag("ok")?, flag("warm")?);
        let lat = col(&data.requests, "latency_ms")?;
        let mut latencies: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
        for i in 0..rid.len() {
            if ok[i] && warm[i] {
                latencies.entry(rid[i]).or_default().push(lat[i]);
            }
        }
        for v in latencies.values_mut() {
            v.sort_by(f64::total_cmp);
        }
        Ok(TimeSeries {
            samples,
            p95,
            latencies,
        })
    }
}

fn col_expr(name: &str) -> Expr {
    polars::prelude::col(name)
}

struct ChartCtx<'a> {
    cell: usize,
    scenario: &'a str,
    profile: &'a str,
    arms: &'a [ArmInfo],
    trials: &'a [TrialMetrics],
    data: &'a CampaignData,
    ts: &'a TimeSeries,
}

impl ChartCtx<'_> {
    /// The arms with their colours, in display order.
    fn arms(&self) -> Vec<(&str, plotters::style::RGBColor)> {
        self.arms
            .iter()
            .enumerate()
            .map(|(k, a)| (a.name.as_str(), charts::arm_color(k)))
            .collect()
    }

    fn trials_of(&self, arm: &str) -> Vec<&TrialMetrics> {
        self.trials
            .iter()
            .filter(|t| {
                t.scenario == self.scenario && t.load_profile == self.profile && t.arm == arm
            })
            .collect()
    }

    /// One series per arm, in the arms' colours, with `data(arm)`.
    fn arm_series<T>(&self, data: impl Fn(&str) -> T) -> Vec<Series<T>> {
        self.arms()
            .iter()
            .map(|(arm, color)| Series {
                label: display_arm(arm),
                color: *color,
                data: data(arm),
            })
            .collect()
    }

    fn markers(&self) -> Vec<f64> {
        self.data
            .trials
            .iter()
            .find(|t| t.scenario == self.scenario && t.load_profile == self.profile)
            .map(|t| t.load_steps_s.clone())
            .unwrap_or_default()
    }

    fn id(&self, name: &str) -> String {
        format!("c{}-{name}", self.cell)
    }

    fn title(&self, what: &str) -> String {
        format!("{what} — {} / {}", self.scenario, self.profile)
    }

    fn boxplot(&self, key: Metric) -> Result<Chart> {
        let def = key.def();
        let groups = self.arm_series(|arm| {
            self.trials_of(arm)
                .iter()
                .filter_map(|t| t.get(key))
                .collect::<Vec<_>>()
        });
        charts::box_points(
            &self.id(key.key()),
            &self.title(&format!("{} per trial", def.label)),
            &format!("{} ({})", def.label, def.unit),
            &groups,
        )
    }

    /// Mean over the arm's seeds per second with a normal 95 % band.
    fn band(
        &self,
        name: &str,
        what: &str,
        unit: &str,
        pick: impl Fn(i64) -> Vec<(f64, f64)>,
    ) -> Result<Chart> {
        let series = self.arm_series(|arm| {
            let mut by_t: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
            for t in self.trials_of(arm) {
                for (x, y) in pick(t.trial_id) {
                    if y.is_finite() {
                        by_t.entry((x * 1000.0).round() as i64).or_default().push(y);
                    }
                }
            }
            by_t.into_iter()
                .map(|(x, ys)| {
                    let m = stats::mean(&ys).unwrap_or(f64::NAN);
                    let half = if ys.len() > 1 {
                        1.96 * stats::std_dev(&ys).unwrap_or(0.0) / (ys.len() as f64).sqrt()
                    } else {
                        0.0
                    };
                    (x as f64 / 1000.0, m, m - half, m + half)
                })
                .collect::<Vec<_>>()
        });
        charts::band_series(
            &self.id(name),
            &self.title(&format!("{what} over time (mean of seeds, 95 % band)")),
            &format!("{what} ({unit})"),
            &series,
            &self.markers(),
        )
    }

    fn sample_band(&self, name: &str, what: &str, unit: &str, k: usize) -> Result<Chart> {
        self.band(name, what, unit, |id| {
            self.ts
                .samples
                .get(&id)
                .map(|v| v.iter().map(|s| (s.0, [s.1, s.2, s.3, s.4][k])).collect())
                .unwrap_or_default()
        })
    }

    fn charts_for(&self, q: Question) -> Result<Vec<Chart>> {
        match q {
            Question::Utilization => Ok(vec![
                self.boxplot(Metric::GpuUtilMean)?,
                self.sample_band("gpu-ts", "GPU utilisation", "%", 2)?,
                self.sample_band("cpu-ts", "CPU utilisation", "% of request", 3)?,
            ]),
            Question::Responsiveness => Ok(vec![self.boxplot(Metric::ReactS)?, self.timelines()?]),
            Question::Latency => Ok(vec![
                self.boxplot(Metric::LatencyP95Ms)?,
                self.cdf()?,
                self.band("p95-ts", "p95 latency", "ms", |id| {
                    self.ts.p95.get(&id).cloned().unwrap_or_default()
                })?,
            ]),
            Question::Efficiency => Ok(vec![
                self.boxplot(Metric::PodSeconds)?,
                self.cost_scatter()?,
            ]),
            Question::Patterns => Ok(vec![
                self.boxplot(Metric::DirectionChanges)?,
                self.sample_band("replicas-ts", "ready replicas", "pods", 0)?,
            ]),
        }
    }

    /// Desired replicas over time for the first two seeds of each arm (the
    /// first seed only with more than three arms).
    fn timelines(&self) -> Result<Chart> {
        let mut labels = Vec::new();
        let mut data = Vec::new();
        let seeds = if self.arms.len() > 3 { 1 } else { 2 };
        for (arm, color) in self.arms() {
            let mut ts = self.trials_of(arm);
            ts.sort_by_key(|t| t.seed);
            for (k, t) in ts.iter().take(seeds).enumerate() {
                labels.push((format!("{} seed {}", display_arm(arm), t.seed), color, k));
                data.push(
                    self.ts
                        .samples
                        .get(&t.trial_id)
                        .map(|v| v.iter().map(|s| (s.0, s.2)).collect::<Vec<_>>())
                        .unwrap_or_default(),
                );
            }
        }
        let series: Vec<Series<Vec<(f64, f64)>>> = labels
            .into_iter()
            .zip(data)
            .map(|((label, color, k), data)| Series {
                label,
                color: if k == 0 { color } else { mix(color) },
                data,
            })
            .collect();
        charts::lines(
            &self.id("timeline"),
            &self.title("desired replicas, representative seeds"),
            "trial time (s)",
            "desired replicas (pods)",
            &series,
            true,
            &self.markers(),
        )
    }

    fn cdf(&self) -> Result<Chart> {
        let series = self.arm_series(|arm| {
            let mut all: Vec<f64> = self
                .trials_of(arm)
                .iter()
                .flat_map(|t| {
                    self.ts
                        .latencies
                        .get(&t.trial_id)
                        .cloned()
                        .unwrap_or_default()
                })
                .collect();
            all.sort_by(f64::total_cmp);
            let n = all.len();
            // At most ~400 points per curve: the CDF at evenly spaced ranks.
            let step = (n / 400).max(1);
            let mut data: Vec<(f64, f64)> = (0..n)
                .step_by(step)
                .map(|i| (all[i], (i + 1) as f64 / n as f64))
                .collect();
            if let Some(&last) = all.last() {
                data.push((last, 1.0));
            }
            data
        });
        charts::lines(
            &self.id("cdf"),
            &self.title("latency CDF, successful requests after warm-up"),
            "latency (ms)",
            "share of requests",
            &series,
            false,
            &[],
        )
    }

    fn cost_scatter(&self) -> Result<Chart> {
        let groups = self.arm_series(|arm| {
            self.trials_of(arm)
                .iter()
                .filter_map(|t| t.get(Metric::PodSeconds).zip(t.get(Metric::LatencyP95Ms)))
                .collect::<Vec<_>>()
        });
        charts::scatter(
            &self.id("cost"),
            &self.title("p95 latency vs cost per trial"),
            "pod-seconds (pod·s)",
            "p95 latency (ms)",
            &groups,
        )
    }
}

fn mix(c: plotters::style::RGBColor) -> plotters::style::RGBColor {
    let f = |x: u8| ((u16::from(x) + 255) / 2) as u8;
    plotters::style::RGBColor(f(c.0), f(c.1), f(c.2))
}
