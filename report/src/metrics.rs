//! Per-trial metrics, one observation per trial, computed with polars from
//! the loaded campaign. Every metric excludes the warm-up its trial recorded.

use std::collections::{BTreeMap, BTreeSet};

use polars::prelude::*;
use serde::Serialize;

use crate::dataset::{CampaignData, Trial};
use crate::Result;

/// Which way is better for a metric, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// Lower values are better (latency, cost).
    Lower,
    /// Higher values are better (utilisation, attainment).
    Higher,
    /// Neither (descriptive): no better/worse verdict.
    Neither,
}

/// What kind of observation a metric gives per trial.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// One number per trial.
    Value,
    /// Time from the load change to an event, censored at the trial's end
    /// when the event never came (see [`TrialMetrics::censored`]).
    TimeToEvent,
}

/// The smallest difference that matters for a metric.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum Margin {
    /// In the metric's unit.
    Absolute(f64),
    /// A share of the baseline's median (0.05: 5 %).
    Relative(f64),
}

impl Margin {
    /// The margin in the metric's unit, given the baseline's median (a
    /// relative margin of a zero or unknown median is undefined).
    pub fn resolve(self, baseline_median: Option<f64>) -> Option<f64> {
        match self {
            Margin::Absolute(x) => Some(x),
            Margin::Relative(f) => baseline_median
                .map(|m| f * m.abs())
                .filter(|x| *x > 0.0 && x.is_finite()),
        }
    }
}

/// A metric the report compares; its key (`Metric::key`) names it in JSON,
/// CSV and the page. Ordered by key, as the report's tables list them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    /// `gpu_util_mean`.
    GpuUtilMean,
    /// `gpu_util_max`.
    GpuUtilMax,
    /// `react_s`.
    ReactS,
    /// `ready_s`.
    ReadyS,
    /// `ticks_before_react`.
    TicksBeforeReact,
    /// `latency_p95_ms`.
    LatencyP95Ms,
    /// `latency_p50_ms`.
    LatencyP50Ms,
    /// `latency_p99_ms`.
    LatencyP99Ms,
    /// `slo_attainment`.
    SloAttainment,
    /// `failure_rate`.
    FailureRate,
    /// `timeout_rate`.
    TimeoutRate,
    /// `slot_s_per_ok`.
    SlotSPerOk,
    /// `pod_seconds`.
    PodSeconds,
    /// `slot_seconds`.
    SlotSeconds,
    /// `served_per_pod_s`.
    ServedPerPodS,
    /// `energy_per_ok_j`.
    EnergyPerOkJ,
    /// `direction_changes`.
    DirectionChanges,
    /// `scaling_events`.
    ScalingEvents,
    /// `overshoot`.
    Overshoot,
    /// `replicas_mean`.
    ReplicasMean,
}

impl Metric {
    /// Every metric, in [`METRICS`] order.
    pub const ALL: [Metric; 20] = [
        Metric::GpuUtilMean,
        Metric::GpuUtilMax,
        Metric::ReactS,
        Metric::ReadyS,
        Metric::TicksBeforeReact,
        Metric::LatencyP95Ms,
        Metric::LatencyP50Ms,
        Metric::LatencyP99Ms,
        Metric::SloAttainment,
        Metric::FailureRate,
        Metric::TimeoutRate,
        Metric::SlotSPerOk,
        Metric::PodSeconds,
        Metric::SlotSeconds,
        Metric::ServedPerPodS,
        Metric::EnergyPerOkJ,
        Metric::DirectionChanges,
        Metric::ScalingEvents,
        Metric::Overshoot,
        Metric::ReplicasMean,
    ];

    /// Its stable key.
    pub fn key(self) -> &'static str {
        match self {
            Metric::GpuUtilMean => "gpu_util_mean",
            Metric::GpuUtilMax => "gpu_util_max",
            Metric::ReactS => "react_s",
            Metric::ReadyS => "ready_s",
            Metric::TicksBeforeReact => "ticks_before_react",
            Metric::LatencyP95Ms => "latency_p95_ms",
            Metric::LatencyP50Ms => "latency_p50_ms",
            Metric::LatencyP99Ms => "latency_p99_ms",
            Metric::SloAttainment => "slo_attainment",
            Metric::FailureRate => "failure_rate",
            Metric::TimeoutRate => "timeout_rate",
            Metric::SlotSPerOk => "slot_s_per_ok",
            Metric::PodSeconds => "pod_seconds",
            Metric::SlotSeconds => "slot_seconds",
            Metric::ServedPerPodS => "served_per_pod_s",
            Metric::EnergyPerOkJ => "energy_per_ok_j",
            Metric::DirectionChanges => "direction_changes",
            Metric::ScalingEvents => "scaling_events",
            Metric::Overshoot => "overshoot",
            Metric::ReplicasMean => "replicas_mean",
        }
    }

    /// The metric whose key is `key`.
    pub fn from_key(key: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.key() == key)
    }

    /// Its definition.
    pub fn def(self) -> &'static MetricDef {
        // Every metric has one (tested); the first stands in otherwise.
        METRICS
            .iter()
            .find(|m| m.key == self)
            .unwrap_or(&METRICS[0])
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

impl Ord for Metric {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(other.key())
    }
}

impl PartialOrd for Metric {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for Metric {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.key())
    }
}

/// A metric's definition.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct MetricDef {
    /// The metric (its key names it in JSON and CSV).
    pub key: Metric,
    /// The research question it answers.
    pub question: Question,
    /// Short label.
    pub label: &'static str,
    /// Unit.
    pub unit: &'static str,
    /// Which way is better.
    pub better: Better,
    /// Value or time to event.
    pub kind: Kind,
    /// The question's declared primary endpoint (one per question).
    pub primary: bool,
    /// Smallest difference that matters.
    pub margin: Margin,
    /// Definition shown in the report.
    pub definition: &'static str,
}

#[allow(clippy::too_many_arguments)]
const fn m(
    key: Metric,
    question: Question,
    label: &'static str,
    unit: &'static str,
    better: Better,
    kind: Kind,
    primary: bool,
    margin: Margin,
    definition: &'static str,
) -> MetricDef {
    MetricDef {
        key,
        question,
        label,
        unit,
        better,
        kind,
        primary,
        margin,
        definition,
    }
}

use crate::question::Question;
use Better::{Higher, Lower, Neither};
use Kind::{TimeToEvent, Value};
use Margin::{Absolute, Relative};
use Question as Q;

/// Every metric the report compares, in display order. The first of each
/// question is its declared primary endpoint (`docs/report.md` says why).
pub const METRICS: &[MetricDef] = &[
    m(Metric::GpuUtilMean, Q::Utilization, "mean GPU utilisation", "%", Higher, Value, true, Absolute(1.0),
      "Mean over the trial's seconds after warm-up of samples.gpu_util_mean (NVML-style busy share, averaged over the cluster's GPUs)."),
    m(Metric::GpuUtilMax, Q::Utilization, "max GPU utilisation", "%", Neither, Value, false, Absolute(1.0),
      "Highest samples.gpu_util_max after warm-up."),
    m(Metric::ReactS, Q::Responsiveness, "time to first scale-up", "s", Lower, TimeToEvent, true, Absolute(1.0),
      "Seconds from the load change (the profile's first load step; t = 0, when the users start, for a closed loop) to the first scale-up order issued after it; censored at the trial's end if none came. Trials already at max replicas when the load changed are left out and counted."),
    m(Metric::ReadyS, Q::Responsiveness, "time to ready capacity", "s", Lower, TimeToEvent, false, Absolute(1.0),
      "Seconds from the load change to the first moment a pod created after it was seen ready by its readiness probe; censored at the trial's end. Left out at max replicas."),
    m(Metric::TicksBeforeReact, Q::Responsiveness, "controller ticks before reacting", "ticks", Lower, TimeToEvent, false, Absolute(0.5),
      "Controller decisions after the load change and before the first scale-up order; censored (all decisions to the trial's end) if none came. Left out at max replicas."),
    m(Metric::LatencyP95Ms, Q::Latency, "p95 latency", "ms", Lower, Value, true, Relative(0.05),
      "Nearest-rank 95th percentile of latency_ms over requests answered OK and scheduled after warm-up."),
    m(Metric::LatencyP50Ms, Q::Latency, "p50 latency", "ms", Lower, Value, false, Relative(0.05),
      "Nearest-rank median of the same latencies."),
    m(Metric::LatencyP99Ms, Q::Latency, "p99 latency", "ms", Lower, Value, false, Relative(0.05),
      "Nearest-rank 99th percentile of the same latencies."),
    m(Metric::SloAttainment, Q::Latency, "SLO attainment", "share", Higher, Value, false, Absolute(0.01),
      "Share of requests scheduled after warm-up that were answered OK within the SLO threshold."),
    m(Metric::FailureRate, Q::Latency, "failure rate", "share", Lower, Value, false, Absolute(0.01),
      "Share of requests scheduled after warm-up whose outcome is not ok (any failure, time-outs included)."),
    m(Metric::TimeoutRate, Q::Latency, "time-out rate", "share", Lower, Value, false, Absolute(0.01),
      "Share of requests scheduled after warm-up that hit the client time-out."),
    m(Metric::SlotSPerOk, Q::Efficiency, "GPU-slot-seconds per successful request", "slot·s", Lower, Value, true, Relative(0.05),
      "GPU-slot-seconds after warm-up divided by the requests answered OK in the same seconds (answers after the trial's end are not counted)."),
    m(Metric::PodSeconds, Q::Efficiency, "pod-seconds", "pod·s", Lower, Value, false, Relative(0.05),
      "Sum over seconds after warm-up of the pods that exist (ready + pending + terminating)."),
    m(Metric::SlotSeconds, Q::Efficiency, "GPU-slot-seconds", "slot·s", Lower, Value, false, Relative(0.05),
      "Sum over seconds after warm-up of the pods holding a GPU slot (scheduled and not yet gone)."),
    m(Metric::ServedPerPodS, Q::Efficiency, "requests served per pod-second", "req/(pod·s)", Higher, Value, false, Relative(0.05),
      "Requests answered OK in the seconds after warm-up up to the trial's end divided by pod-seconds."),
    m(Metric::EnergyPerOkJ, Q::Efficiency, "GPU energy per successful request", "J", Lower, Value, false, Relative(0.05),
      "GPU energy from the warm-up's end to the trial's end divided by the requests answered OK in those seconds."),
    m(Metric::DirectionChanges, Q::Patterns, "direction changes", "changes", Lower, Value, true, Absolute(0.5),
      "Times a replica change at or after warm-up went the other way than the previous one (oscillation)."),
    m(Metric::ScalingEvents, Q::Patterns, "scaling events", "events", Neither, Value, false, Absolute(0.5),
      "Replica changes at or after warm-up."),
    m(Metric::Overshoot, Q::Patterns, "overshoot", "replicas", Lower, Value, false, Absolute(0.5),
      "Highest desired replicas after warm-up minus the final desired replicas."),
    m(Metric::ReplicasMean, Q::Patterns, "mean ready replicas", "pods", Neither, Value, false, Absolute(0.5),
      "Mean over seconds after warm-up of samples.ready."),
];

/// The metrics of one trial.
#[derive(Clone, Debug, Serialize)]
pub struct TrialMetrics {
    /// Trial id.
    pub trial_id: i64,
    /// Scenario.
    pub scenario: String,
    /// Load profile.
    pub load_profile: String,
    /// Arm.
    pub arm: String,
    /// Seed.
    pub seed: i64,
    /// Metric values by key (`None`: not defined for this trial).
    pub values: BTreeMap<Metric, Option<f64>>,
    /// Time-to-event metrics whose value is the censoring time: the event
    /// had not come by the trial's end.
    pub censored: BTreeSet<Metric>,
    /// Whether the replicas were already at the maximum when the load
    /// changed (`None`: unknown bounds); such a trial has no
    /// responsiveness values.
    pub at_max_at_change: Option<bool>,
}

impl TrialMetrics {
    /// Value of metric `key`.
    pub fn get(&self, key: Metric) -> Option<f64> {
        self.values.get(&key).copied().flatten()
    }

    /// Whether the value of time-to-event metric `key` is a censoring time.
    pub fn is_censored(&self, key: Metric) -> bool {
        self.censored.contains(&key)
    }
}

fn column_map(df: &DataFrame, key: &str, name: &str) -> Result<BTreeMap<i64, Option<f64>>> {
    let ids = df.column(key)?.i64()?;
    let vals = df.column(name)?.cast(&DataType::Float64)?;
    let vals = vals.f64()?;
    Ok(ids
        .iter()
        .zip(vals.iter())
        .filter_map(|(id, v)| id.map(|id| (id, v)))
        .collect())
}

fn f64_vec(df: &DataFrame, name: &str) -> Result<Vec<f64>> {
    let c = df.column(name)?.cast(&DataType::Float64)?;
    Ok(c.f64()?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

fn i64_vec(df: &DataFrame, name: &str) -> Result<Vec<i64>> {
    Ok(df
        .column(name)?
        .i64()?
        .iter()
        .map(|v| v.unwrap_or_default())
        .collect())
}

/// Each trial's warm-up and length.
fn windows(data: &CampaignData) -> Result<DataFrame> {
    Ok(df!(
        "trial_id" => data.trials.iter().map(|t| t.id).collect::<Vec<_>>(),
        "warmup_s" => data.trials.iter().map(|t| t.warmup_s).collect::<Vec<_>>(),
        "duration_s" => data.trials.iter().map(|t| t.duration_s).collect::<Vec<_>>(),
    )?)
}

/// `frame`'s rows with their trial's warm-up and length.
fn with_windows(frame: &DataFrame, warm: &DataFrame) -> LazyFrame {
    frame.clone().lazy().join(
        warm.clone().lazy(),
        [col("trial_id")],
        [col("trial_id")],
        JoinArgs::new(JoinType::Inner),
    )
}

/// Answers OK in the seconds the samples cover after warm-up, per trial:
/// the sample at t_s = sec covers an answer (see `dataset::load_requests`).
fn served_in_window(data: &CampaignData, warm: &DataFrame) -> Result<DataFrame> {
    Ok(with_windows(&data.requests, warm)
        .filter(
            col("ok")
                .and(col("sec").cast(DataType::Float64).gt(col("warmup_s")))
                .and(col("sec").cast(DataType::Float64).lt_eq(col("duration_s"))),
        )
        .group_by([col("trial_id")])
        .agg([len().cast(DataType::Float64).alias("n_ok_window")])
        .collect()?)
}

/// Per trial, over the requests scheduled after warm-up: counts, SLO
/// attainment and nearest-rank latency percentiles.
fn request_aggregates(data: &CampaignData, slo_ms: f64) -> Result<DataFrame> {
    Ok(data
        .requests
        .clone()
        .lazy()
        .filter(col("warm"))
        .group_by([col("trial_id")])
        .agg([
            len().cast(DataType::Float64).alias("n"),
            col("ok").cast(DataType::Float64).sum().alias("n_ok"),
            col("timeout")
                .cast(DataType::Float64)
                .sum()
                .alias("n_timeout"),
            col("ok")
                .and(col("latency_ms").lt_eq(lit(slo_ms)))
                .cast(DataType::Float64)
                .sum()
                .alias("n_slo"),
            col("latency_ms")
                .filter(col("ok"))
                .quantile(lit(0.5), QuantileMethod::Equiprobable)
                .alias("p50"),
            col("latency_ms")
                .filter(col("ok"))
                .quantile(lit(0.95), QuantileMethod::Equiprobable)
                .alias("p95"),
            col("latency_ms")
                .filter(col("ok"))
                .quantile(lit(0.99), QuantileMethod::Equiprobable)
                .alias("p99"),
        ])
        .collect()?)
}

/// Per trial, over the samples after warm-up: utilisation, pod-seconds,
/// replicas, desired replicas and energy.
fn sample_aggregates(data: &CampaignData, warm: &DataFrame) -> Result<DataFrame> {
    Ok(with_windows(&data.samples, warm)
        .sort(["trial_id", "t_s"], SortMultipleOptions::default())
        .group_by([col("trial_id")])
        .agg([
            col("gpu_util_mean")
                .filter(col("t_s").gt(col("warmup_s")))
                .mean()
                .alias("gpu_util_mean"),
            col("gpu_util_max")
                .filter(col("t_s").gt(col("warmup_s")))
                .max()
                .alias("gpu_util_max"),
            (col("ready") + col("pending") + col("terminating"))
                .filter(col("t_s").gt(col("warmup_s")))
                .sum()
                .alias("pod_seconds"),
            col("ready")
                .filter(col("t_s").gt(col("warmup_s")))
                .mean()
                .alias("replicas_mean"),
            col("desired")
                .filter(col("t_s").gt(col("warmup_s")))
                .max()
                .alias("desired_max"),
            col("desired").last().alias("desired_final"),
            (col("gpu_energy_j")
                .filter(col("t_s").gt_eq(col("warmup_s")))
                .max()
                - col("gpu_energy_j")
                    .filter(col("t_s").gt_eq(col("warmup_s")))
                    .min())
            .alias("energy_j"),
        ])
        .collect()?)
}

/// Per-trial metrics of every complete trial; `slo_ms` is the SLO threshold.
pub fn trial_metrics(data: &CampaignData, slo_ms: f64) -> Result<Vec<TrialMetrics>> {
    let warm = windows(data)?;
    let served = served_in_window(data, &warm)?;
    let req = request_aggregates(data, slo_ms)?;
    let smp = sample_aggregates(data, &warm)?;

    let get = |df: &DataFrame, name: &str| column_map(df, "trial_id", name);
    let (n, n_ok, n_timeout, n_slo) = (
        get(&req, "n")?,
        get(&req, "n_ok")?,
        get(&req, "n_timeout")?,
        get(&req, "n_slo")?,
    );
    let (p50, p95, p99) = (get(&req, "p50")?, get(&req, "p95")?, get(&req, "p99")?);
    let gpu_mean = get(&smp, "gpu_util_mean")?;
    let gpu_max = get(&smp, "gpu_util_max")?;
    let pod_s = get(&smp, "pod_seconds")?;
    let replicas = get(&smp, "replicas_mean")?;
    let desired_max = get(&smp, "desired_max")?;
    let desired_final = get(&smp, "desired_final")?;
    let energy = get(&smp, "energy_j")?;
    let ok_window = get(&served, "n_ok_window")?;
    let slots: BTreeMap<i64, f64> = data.slot_seconds.iter().copied().collect();

    // Events, decisions and samples per trial for the time-based metrics.
    let ev_tid = i64_vec(&data.events, "trial_id")?;
    let ev_t = f64_vec(&data.events, "t_s")?;
    let ev_from = i64_vec(&data.events, "from_replicas")?;
    let ev_to = i64_vec(&data.events, "to_replicas")?;
    let dec_tid = i64_vec(&data.decisions, "trial_id")?;
    let dec_t = f64_vec(&data.decisions, "t_s")?;
    let mut pods: BTreeMap<i64, Vec<(f64, Option<f64>)>> = BTreeMap::new();
    for p in &data.pods {
        pods.entry(p.trial_id)
            .or_default()
            .push((p.created_s, p.ready_s));
    }

    let mut out = Vec::with_capacity(data.trials.len());
    for t in &data.trials {
        let v = |m: &BTreeMap<i64, Option<f64>>| m.get(&t.id).copied().flatten();
        let events: Vec<(f64, i64, i64)> = (0..ev_tid.len())
            .filter(|&i| ev_tid[i] == t.id)
            .map(|i| (ev_t[i], ev_from[i], ev_to[i]))
            .collect();
        let decisions: Vec<f64> = (0..dec_tid.len())
            .filter(|&i| dec_tid[i] == t.id)
            .map(|i| dec_t[i])
            .collect();
        let no_pods = Vec::new();
        let resp = responsiveness(t, &events, &decisions, pods.get(&t.id).unwrap_or(&no_pods));
        let after: Vec<&(f64, i64, i64)> = events.iter().filter(|e| e.0 >= t.warmup_s).collect();
        let mut changes = 0.0;
        for w in after.windows(2) {
            if (w[0].2 - w[0].1).signum() != (w[1].2 - w[1].1).signum() {
                changes += 1.0;
            }
        }
        let total = v(&n).unwrap_or(0.0);
        let ok = v(&n_ok).unwrap_or(0.0);
        let ok_in_window = v(&ok_window).unwrap_or(0.0);
        let slot_seconds = slots.get(&t.id).copied().unwrap_or(0.0);
        let share = |x: Option<f64>| (total > 0.0).then(|| x.unwrap_or(0.0) / total);
        let pod_seconds = v(&pod_s);
        let mut values = BTreeMap::new();
        values.insert(Metric::GpuUtilMean, v(&gpu_mean));
        values.insert(Metric::GpuUtilMax, v(&gpu_max));
        let mut censored = BTreeSet::new();
        for (key, obs) in [
            (Metric::ReactS, resp.react),
            (Metric::ReadyS, resp.ready),
            (Metric::TicksBeforeReact, resp.ticks),
        ] {
            values.insert(key, obs.map(|o| o.0));
            if obs.is_some_and(|o| !o.1) {
                censored.insert(key);
            }
        }
        values.insert(Metric::LatencyP50Ms, v(&p50));
        values.insert(Metric::LatencyP95Ms, v(&p95));
        values.insert(Metric::LatencyP99Ms, v(&p99));
        values.insert(Metric::SloAttainment, share(v(&n_slo)));
        values.insert(Metric::FailureRate, share(Some(total - ok)));
        values.insert(Metric::TimeoutRate, share(v(&n_timeout)));
        values.insert(Metric::PodSeconds, pod_seconds);
        values.insert(Metric::SlotSeconds, Some(slot_seconds));
        values.insert(
            Metric::SlotSPerOk,
            (ok_in_window > 0.0).then(|| slot_seconds / ok_in_window),
        );
        values.insert(
            Metric::ServedPerPodS,
            pod_seconds.filter(|p| *p > 0.0).map(|p| ok_in_window / p),
        );
        values.insert(
            Metric::EnergyPerOkJ,
            v(&energy)
                .filter(|_| ok_in_window > 0.0)
                .map(|e| e / ok_in_window),
        );
        values.insert(Metric::ScalingEvents, Some(after.len() as f64));
        values.insert(Metric::DirectionChanges, Some(changes));
        values.insert(
            Metric::Overshoot,
            v(&desired_max)
                .zip(v(&desired_final))
                .map(|(a, b)| (a - b).max(0.0)),
        );
        values.insert(Metric::ReplicasMean, v(&replicas));
        out.push(TrialMetrics {
            trial_id: t.id,
            scenario: t.scenario.clone(),
            load_profile: t.load_profile.clone(),
            arm: t.arm.clone(),
            seed: t.seed,
            values,
            censored,
            at_max_at_change: resp.at_max,
        });
    }
    Ok(out)
}

/// A time-to-event observation: (time, whether the event came; false: the
/// time is the censoring time, the trial's end).
type Observed = Option<(f64, bool)>;

/// Responsiveness of one trial, measured from its load change.
struct Responsiveness {
    at_max: Option<bool>,
    react: Observed,
    ready: Observed,
    ticks: Observed,
}

/// The load change: the profile's first load step, or t = 0 (the users
/// start) for a profile without steps.
pub fn load_change_s(t: &Trial) -> f64 {
    t.load_steps_s.first().copied().unwrap_or(0.0)
}

/// Responsiveness from the load change: only orders issued after it count,
/// and only pods created after it; a trial already at max replicas then has
/// none; one that never reacts is censored at its end.
fn responsiveness(
    t: &Trial,
    events: &[(f64, i64, i64)],
    decisions: &[f64],
    pods: &[(f64, Option<f64>)],
) -> Responsiveness {
    let change = load_change_s(t);
    let end = t.duration_s;
    let replicas = events
        .iter()
        .rev()
        .find(|e| e.0 <= change)
        .map(|e| e.2)
        .or(t.min_replicas);
    let at_max = t.max_replicas.zip(replicas).map(|(max, r)| r >= max);
    if at_max == Some(true) || change >= end {
        return Responsiveness {
            at_max,
            react: None,
            ready: None,
            ticks: None,
        };
    }
    let first_up = events
        .iter()
        .find(|e| e.0 > change && e.2 > e.1)
        .map(|e| e.0);
    let react = Some(match first_up {
        Some(u) => (u - change, true),
        None => (end - change, false),
    });
    let ready_at = pods
        .iter()
        .filter(|p| p.0 > change)
        .filter_map(|p| p.1)
        .filter(|r| *r <= end)
        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.min(r))));
    let ready = Some(match ready_at {
        Some(r) => (r - change, true),
        None => (end - change, false),
    });
    let until = first_up.unwrap_or(f64::INFINITY);
    let n = decisions
        .iter()
        .filter(|&&d| d > change && d < until && d <= end)
        .count() as f64;
    Responsiveness {
        at_max,
        react,
        ready,
        ticks: Some((n, first_up.is_some())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_has_one_definition_in_order() {
        let keys: Vec<Metric> = METRICS.iter().map(|m| m.key).collect();
        assert_eq!(keys, Metric::ALL);
        for m in Metric::ALL {
            assert_eq!(m.def().key, m);
            assert_eq!(Metric::from_key(m.key()), Some(m));
            assert_eq!(serde_json::to_value(m).expect("a key serializes"), m.key());
        }
    }

    fn trial(steps: &[f64], max: i64) -> Trial {
        Trial {
            id: 1,
            scenario: "s".into(),
            arm: "a".into(),
            load_profile: "p".into(),
            seed: 1,
            duration_s: 90.0,
            warmup_s: 10.0,
            wait_mode: "blocking".into(),
            load_steps_s: steps.to_vec(),
            gpus: Vec::new(),
            min_replicas: Some(1),
            max_replicas: Some(max),
            params_json: String::new(),
        }
    }

    #[test]
    fn only_orders_and_pods_after_the_change_count() {
        let t = trial(&[30.0], 6);
        // An order at 15 s (before the change) and its pod, ready at 25 s;
        // the order at exactly 30 s was made on pre-change data; the first
        // order after the change comes at 33 s, its pod ready at 41 s.
        let events = [(15.0, 1, 2), (30.0, 2, 3), (33.0, 3, 5)];
        let decisions = [15.0, 18.0, 30.0, 31.5, 33.0, 36.0];
        let pods = [
            (-600.0, Some(-590.0)),
            (15.0, Some(25.0)),
            (30.0, Some(39.0)),
            (33.0, Some(41.0)),
            (33.0, None),
        ];
        let r = responsiveness(&t, &events, &decisions, &pods);
        assert_eq!(r.at_max, Some(false));
        assert_eq!(r.react, Some((3.0, true)));
        assert_eq!(r.ready, Some((11.0, true)));
        assert_eq!(r.ticks, Some((1.0, true)), "31.5 s, not 30 s or 33 s");
    }

    #[test]
    fn a_trial_that_never_reacts_is_censored_at_its_end() {
        let t = trial(&[30.0], 6);
        let events = [(12.0, 1, 2), (60.0, 2, 1)];
        let decisions = [30.0, 45.0, 60.0, 75.0, 90.0];
        let r = responsiveness(&t, &events, &decisions, &[(12.0, Some(20.0))]);
        assert_eq!(r.react, Some((60.0, false)));
        assert_eq!(r.ready, Some((60.0, false)));
        assert_eq!(r.ticks, Some((4.0, false)));
    }

    #[test]
    fn a_trial_at_max_when_the_load_changes_has_no_responsiveness() {
        let t = trial(&[30.0], 3);
        let events = [(3.0, 1, 3), (40.0, 3, 2), (50.0, 2, 3)];
        let r = responsiveness(&t, &events, &[3.0, 40.0, 50.0], &[]);
        assert_eq!(r.at_max, Some(true));
        assert_eq!((r.react, r.ready, r.ticks), (None, None, None));
        // A closed loop (no steps) changes at t = 0, at min replicas.
        let closed = trial(&[], 3);
        let r = responsiveness(&closed, &events, &[3.0], &[(3.0, Some(9.0))]);
        assert_eq!(r.at_max, Some(false));
        assert_eq!(r.react, Some((3.0, true)));
        assert_eq!(r.ready, Some((9.0, true)));
        assert_eq!(r.ticks, Some((0.0, true)));
    }
}
