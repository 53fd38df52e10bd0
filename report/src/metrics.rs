//! Per-trial metrics, one observation per trial, computed with polars from
//! the loaded campaign. Every metric excludes the warm-up its trial recorded.

use std::collections::BTreeMap;

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
    /// Neither (descriptive).
    Neither,
}

/// A metric's definition.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct MetricDef {
    /// Stable key (JSON, CSV).
    pub key: &'static str,
    /// Research question (1–5).
    pub question: u8,
    /// Short label.
    pub label: &'static str,
    /// Unit.
    pub unit: &'static str,
    /// Which way is better.
    pub better: Better,
    /// Definition shown in the report.
    pub definition: &'static str,
}

const fn m(
    key: &'static str,
    question: u8,
    label: &'static str,
    unit: &'static str,
    better: Better,
    definition: &'static str,
) -> MetricDef {
    MetricDef {
        key,
        question,
        label,
        unit,
        better,
        definition,
    }
}

/// Every metric the report compares, in display order.
pub const METRICS: &[MetricDef] = &[
    m("gpu_util_mean", 1, "mean GPU utilisation", "%", Better::Higher,
      "Mean over the trial's seconds after warm-up of samples.gpu_util_mean (NVML-style busy share, averaged over the cluster's GPUs)."),
    m("gpu_util_max", 1, "max GPU utilisation", "%", Better::Neither,
      "Highest samples.gpu_util_max after warm-up."),
    m("react_s", 2, "time to first scale-up", "s", Better::Lower,
      "Seconds from the profile's first load step to the first scaling event that adds replicas (trials that never scale up are left out)."),
    m("ready_s", 2, "time to ready capacity", "s", Better::Lower,
      "Seconds from the first load step to the first sample with more ready pods than at the step (left out if never)."),
    m("ticks_before_react", 2, "controller ticks before reacting", "ticks", Better::Lower,
      "Controller decisions from the load step up to, not including, the first scale-up (left out if none)."),
    m("latency_p50_ms", 3, "p50 latency", "ms", Better::Lower,
      "Nearest-rank median of latency_ms over requests answered OK and scheduled after warm-up."),
    m("latency_p95_ms", 3, "p95 latency", "ms", Better::Lower,
      "Nearest-rank 95th percentile of the same latencies."),
    m("latency_p99_ms", 3, "p99 latency", "ms", Better::Lower,
      "Nearest-rank 99th percentile of the same latencies."),
    m("slo_attainment", 3, "SLO attainment", "share", Better::Higher,
      "Share of requests scheduled after warm-up that were answered OK within the SLO threshold."),
    m("failure_rate", 3, "failure rate", "share", Better::Lower,
      "Share of requests scheduled after warm-up whose outcome is not ok (any failure, time-outs included)."),
    m("timeout_rate", 3, "time-out rate", "share", Better::Lower,
      "Share of requests scheduled after warm-up that hit the client time-out."),
    m("pod_seconds", 4, "pod-seconds", "pod·s", Better::Lower,
      "Sum over seconds after warm-up of the pods that exist (ready + pending + terminating)."),
    m("slot_seconds", 4, "GPU-slot-seconds", "slot·s", Better::Lower,
      "Sum over seconds after warm-up of the pods holding a GPU slot (scheduled and not yet gone)."),
    m("served_per_pod_s", 4, "requests served per pod-second", "req/(pod·s)", Better::Higher,
      "Requests answered OK (scheduled after warm-up) divided by pod-seconds."),
    m("energy_per_ok_j", 4, "GPU energy per successful request", "J", Better::Lower,
      "GPU energy from the warm-up's end to the trial's end divided by the requests answered OK."),
    m("scaling_events", 5, "scaling events", "events", Better::Neither,
      "Replica changes at or after warm-up."),
    m("direction_changes", 5, "direction changes", "changes", Better::Lower,
      "Times a replica change went the other way than the previous one (oscillation)."),
    m("overshoot", 5, "overshoot", "replicas", Better::Lower,
      "Highest desired replicas after warm-up minus the final desired replicas."),
    m("replicas_mean", 5, "mean ready replicas", "pods", Better::Neither,
      "Mean over seconds after warm-up of samples.ready."),
];

/// The definition of metric `key`.
pub fn metric(key: &str) -> Option<&'static MetricDef> {
    METRICS.iter().find(|m| m.key == key)
}

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
    pub values: BTreeMap<&'static str, Option<f64>>,
}

impl TrialMetrics {
    /// Value of metric `key`.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.values.get(key).copied().flatten()
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

/// Per-trial metrics of every complete trial; `slo_ms` is the SLO threshold.
pub fn trial_metrics(data: &CampaignData, slo_ms: f64) -> Result<Vec<TrialMetrics>> {
    let warm = df!(
        "trial_id" => data.trials.iter().map(|t| t.id).collect::<Vec<_>>(),
        "warmup_s" => data.trials.iter().map(|t| t.warmup_s).collect::<Vec<_>>(),
    )?;

    let req = data
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
        .collect()?;

    let smp = data
        .samples
        .clone()
        .lazy()
        .join(
            warm.lazy(),
            [col("trial_id")],
            [col("trial_id")],
            JoinArgs::new(JoinType::Inner),
        )
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
        .collect()?;

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
    let slots: BTreeMap<i64, f64> = data.slot_seconds.iter().copied().collect();

    // Events, decisions and samples per trial for the time-based metrics.
    let ev_tid = i64_vec(&data.events, "trial_id")?;
    let ev_t = f64_vec(&data.events, "t_s")?;
    let ev_from = i64_vec(&data.events, "from_replicas")?;
    let ev_to = i64_vec(&data.events, "to_replicas")?;
    let dec_tid = i64_vec(&data.decisions, "trial_id")?;
    let dec_t = f64_vec(&data.decisions, "t_s")?;
    let s_tid = i64_vec(&data.samples, "trial_id")?;
    let s_t = f64_vec(&data.samples, "t_s")?;
    let s_ready = f64_vec(&data.samples, "ready")?;

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
        let ready: Vec<(f64, f64)> = (0..s_tid.len())
            .filter(|&i| s_tid[i] == t.id)
            .map(|i| (s_t[i], s_ready[i]))
            .collect();
        let resp = responsiveness(t, &events, &decisions, &ready);
        let after: Vec<&(f64, i64, i64)> = events.iter().filter(|e| e.0 >= t.warmup_s).collect();
        let mut changes = 0.0;
        for w in after.windows(2) {
            if (w[0].2 - w[0].1).signum() != (w[1].2 - w[1].1).signum() {
                changes += 1.0;
            }
        }
        let total = v(&n).unwrap_or(0.0);
        let ok = v(&n_ok).unwrap_or(0.0);
        let share = |x: Option<f64>| (total > 0.0).then(|| x.unwrap_or(0.0) / total);
        let pod_seconds = v(&pod_s);
        let mut values = BTreeMap::new();
        values.insert("gpu_util_mean", v(&gpu_mean));
        values.insert("gpu_util_max", v(&gpu_max));
        values.insert("react_s", resp.0);
        values.insert("ready_s", resp.1);
        values.insert("ticks_before_react", resp.2);
        values.insert("latency_p50_ms", v(&p50));
        values.insert("latency_p95_ms", v(&p95));
        values.insert("latency_p99_ms", v(&p99));
        values.insert("slo_attainment", share(v(&n_slo)));
        values.insert("failure_rate", share(Some(total - ok)));
        values.insert("timeout_rate", share(v(&n_timeout)));
        values.insert("pod_seconds", pod_seconds);
        values.insert(
            "slot_seconds",
            Some(slots.get(&t.id).copied().unwrap_or(0.0)),
        );
        values.insert(
            "served_per_pod_s",
            pod_seconds.filter(|p| *p > 0.0).map(|p| ok / p),
        );
        values.insert(
            "energy_per_ok_j",
            v(&energy).filter(|_| ok > 0.0).map(|e| e / ok),
        );
        values.insert("scaling_events", Some(after.len() as f64));
        values.insert("direction_changes", Some(changes));
        values.insert(
            "overshoot",
            v(&desired_max)
                .zip(v(&desired_final))
                .map(|(a, b)| (a - b).max(0.0)),
        );
        values.insert("replicas_mean", v(&replicas));
        out.push(TrialMetrics {
            trial_id: t.id,
            scenario: t.scenario.clone(),
            load_profile: t.load_profile.clone(),
            arm: t.arm.clone(),
            seed: t.seed,
            values,
        });
    }
    Ok(out)
}

/// (time to first scale-up, time to more ready pods, ticks before the
/// scale-up), measured from the first load step.
fn responsiveness(
    t: &Trial,
    events: &[(f64, i64, i64)],
    decisions: &[f64],
    ready: &[(f64, f64)],
) -> (Option<f64>, Option<f64>, Option<f64>) {
    let step = t.load_steps_s.first().copied().unwrap_or(0.0);
    let first_up = events
        .iter()
        .find(|e| e.0 >= step && e.2 > e.1)
        .map(|e| e.0);
    let react = first_up.map(|u| u - step);
    let ticks = first_up.map(|u| decisions.iter().filter(|&&d| d >= step && d < u).count() as f64);
    let base = ready
        .iter()
        .rev()
        .find(|(s, _)| *s <= step)
        .map(|r| r.1)
        .or_else(|| ready.first().map(|r| r.1));
    let ready_at = base.and_then(|b| {
        ready
            .iter()
            .find(|(s, r)| *s > step && *r > b)
            .map(|(s, _)| s - step)
    });
    (react, ready_at, ticks)
}
