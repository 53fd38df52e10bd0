//! `bench export --format original-json`: the original experiment's three
//! JSON files, one arm per file, aggregated over the complete trials of one
//! campaign × scenario × load profile.
//!
//! Every scalar is the mean over the arm's trials of the per-trial value in
//! the `trial_summary` view (so `min_pods` is the mean of the trials'
//! minima), `success_rate` is a percentage, and the timeline is the mean
//! over trials per second. `trials` and `seeds` say what was averaged.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use sqlx::Row;

use crate::store::Store;
use crate::{Error, Result};

/// What to export.
#[derive(Clone, Debug)]
pub struct ExportSelection {
    /// Campaign id; `None` for the newest campaign in the dataset.
    pub campaign_id: Option<i64>,
    /// Scenario name.
    pub scenario: String,
    /// Load profile name.
    pub load_profile: String,
}

/// One second of the original's timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimelinePoint {
    /// Seconds since the trial start.
    pub time: f64,
    /// Ready replicas.
    pub replicas: f64,
    /// Mean GPU utilisation, percent.
    pub gpu_avg: f64,
    /// Highest GPU utilisation, percent.
    pub gpu_max: f64,
    /// CPU as a percentage of requests.
    pub cpu_avg: f64,
    /// Mean latency of the requests answered OK in this second, ms.
    pub latency_avg: Option<f64>,
    /// Highest latency of those, ms.
    pub latency_max: Option<f64>,
    /// Requests answered (any outcome) up to this second.
    pub total_requests: f64,
}

/// One arm in the original's result shape.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OriginalResult {
    /// Arm name (`hpa`, `userscale`).
    pub experiment: String,
    /// Trial length, seconds.
    pub duration_seconds: f64,
    /// Mean of per-trial minimum ready pods.
    pub min_pods: f64,
    /// Mean of per-trial maximum ready pods.
    pub max_pods: f64,
    /// Mean ready pods.
    pub avg_pods: f64,
    /// Mean GPU utilisation, percent.
    pub gpu_utilization_avg: f64,
    /// Mean of per-trial maximum GPU utilisation, percent.
    pub gpu_utilization_max: f64,
    /// Mean CPU as a percentage of requests.
    pub cpu_utilization_avg: f64,
    /// Mean latency, ms.
    pub latency_avg_ms: f64,
    /// Mean of per-trial minimum latency, ms.
    pub latency_min_ms: f64,
    /// Mean of per-trial maximum latency, ms.
    pub latency_max_ms: f64,
    /// Mean of per-trial p95, ms.
    pub latency_p95_ms: f64,
    /// Mean of per-trial p99, ms.
    pub latency_p99_ms: f64,
    /// Mean requests per trial.
    pub total_requests: f64,
    /// Mean failed requests per trial.
    pub failed_requests: f64,
    /// Mean success rate, percent.
    pub success_rate: f64,
    /// Mean successful requests per second.
    pub throughput_rps: f64,
    /// Mean scaling events per trial.
    pub scaling_events: f64,
    /// Trials averaged.
    pub trials: i64,
    /// Their seeds.
    pub seeds: Vec<i64>,
    /// Mean over trials, per second.
    pub timeline: Vec<TimelinePoint>,
}

/// Computes the original-shaped result of every arm of the selection.
pub async fn original_results(
    store: &mut Store,
    sel: &ExportSelection,
) -> Result<BTreeMap<String, OriginalResult>> {
    let cid = store.campaign_id(sel.campaign_id).await?;
    let rows = sqlx::query(
        "SELECT arm, COUNT(*), AVG(duration_s), AVG(pods_min), AVG(pods_max), AVG(pods_avg),
                AVG(gpu_util_avg), AVG(gpu_util_max), AVG(cpu_util_avg),
                AVG(latency_avg_ms), AVG(latency_min_ms), AVG(latency_max_ms),
                AVG(latency_p95_ms), AVG(latency_p99_ms),
                AVG(total_requests), AVG(failed_requests), AVG(success_rate) * 100.0,
                AVG(throughput_rps), AVG(scaling_events), GROUP_CONCAT(seed)
         FROM (SELECT * FROM trial_summary WHERE campaign_id = ? AND scenario = ? AND load_profile = ? ORDER BY seed)
         GROUP BY arm ORDER BY arm",
    )
    .bind(cid)
    .bind(&sel.scenario)
    .bind(&sel.load_profile)
    .fetch_all(store.conn())
    .await?;
    if rows.is_empty() {
        let names = sqlx::query(
            "SELECT DISTINCT scenario || ' / ' || load_profile FROM trials
             WHERE campaign_id = ? AND status = 'complete' ORDER BY 1",
        )
        .bind(cid)
        .fetch_all(store.conn())
        .await?
        .iter()
        .filter_map(|r| r.try_get::<String, _>(0).ok())
        .collect::<Vec<_>>();
        return Err(Error::NotFound(format!(
            "campaign {cid} has no complete trial for scenario `{}` and profile `{}`; it has: {}",
            sel.scenario,
            sel.load_profile,
            if names.is_empty() {
                "nothing".into()
            } else {
                names.join(", ")
            }
        )));
    }
    let mut out = BTreeMap::new();
    for r in rows {
        let arm: String = r.try_get(0)?;
        let f = |i: usize| -> Result<f64> { Ok(r.try_get::<Option<f64>, _>(i)?.unwrap_or(0.0)) };
        let seeds: String = r.try_get::<Option<String>, _>(19)?.unwrap_or_default();
        let timeline = timeline(store, cid, sel, &arm).await?;
        out.insert(
            arm.clone(),
            OriginalResult {
                experiment: arm,
                duration_seconds: f(2)?,
                min_pods: f(3)?,
                max_pods: f(4)?,
                avg_pods: f(5)?,
                gpu_utilization_avg: f(6)?,
                gpu_utilization_max: f(7)?,
                cpu_utilization_avg: f(8)?,
                latency_avg_ms: f(9)?,
                latency_min_ms: f(10)?,
                latency_max_ms: f(11)?,
                latency_p95_ms: f(12)?,
                latency_p99_ms: f(13)?,
                total_requests: f(14)?,
                failed_requests: f(15)?,
                success_rate: f(16)?,
                throughput_rps: f(17)?,
                scaling_events: f(18)?,
                trials: r.try_get(1)?,
                seeds: seeds.split(',').filter_map(|s| s.parse().ok()).collect(),
                timeline,
            },
        );
    }
    Ok(out)
}

async fn timeline(
    store: &mut Store,
    cid: i64,
    sel: &ExportSelection,
    arm: &str,
) -> Result<Vec<TimelinePoint>> {
    let rows = sqlx::query(
        "WITH tr AS (SELECT id FROM trials WHERE campaign_id = ? AND scenario = ? AND load_profile = ?
                                          AND arm = ? AND status = 'complete'),
              lat AS (SELECT r.trial_id, CAST(r.finished_s AS INTEGER) + 1 AS sec,
                             AVG(r.latency_ms) AS avg_ms, MAX(r.latency_ms) AS max_ms
                      FROM requests r JOIN tr ON tr.id = r.trial_id
                      WHERE r.outcome = 'ok' GROUP BY r.trial_id, sec),
              done AS (SELECT s.trial_id, s.t_s,
                              SUM(s.completed + s.failed) OVER (PARTITION BY s.trial_id ORDER BY s.t_s) AS total
                       FROM samples s JOIN tr ON tr.id = s.trial_id)
         SELECT s.t_s, AVG(s.ready), AVG(s.gpu_util_mean), AVG(s.gpu_util_max), AVG(s.cpu_pct_request),
                AVG(lat.avg_ms), AVG(lat.max_ms), AVG(done.total)
         FROM samples s JOIN tr ON tr.id = s.trial_id
         LEFT JOIN lat ON lat.trial_id = s.trial_id AND lat.sec = CAST(s.t_s AS INTEGER)
         JOIN done ON done.trial_id = s.trial_id AND done.t_s = s.t_s
         GROUP BY s.t_s ORDER BY s.t_s",
    )
    .bind(cid)
    .bind(&sel.scenario)
    .bind(&sel.load_profile)
    .bind(arm)
    .fetch_all(store.conn())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(TimelinePoint {
                time: r.try_get(0)?,
                replicas: r.try_get(1)?,
                gpu_avg: r.try_get(2)?,
                gpu_max: r.try_get(3)?,
                cpu_avg: r.try_get(4)?,
                latency_avg: r.try_get(5)?,
                latency_max: r.try_get(6)?,
                total_requests: r.try_get(7)?,
            })
        })
        .collect()
}

/// Writes `hpa_results.json`, `userscale_results.json` and
/// `comparison.json` into `dir`; returns the paths written.
pub fn write_original_json(
    dir: &Path,
    results: &BTreeMap<String, OriginalResult>,
) -> Result<Vec<std::path::PathBuf>> {
    let hpa = results
        .get("hpa")
        .ok_or_else(|| Error::NotFound("no `hpa` arm in this selection".into()))?;
    let us = results
        .get("userscale")
        .ok_or_else(|| Error::NotFound("no `userscale` arm in this selection".into()))?;
    std::fs::create_dir_all(dir).map_err(|e| Error::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let comparison = serde_json::json!({ "hpa": hpa, "userscale": us });
    let files = [
        ("hpa_results.json", serde_json::to_value(hpa)),
        ("userscale_results.json", serde_json::to_value(us)),
        ("comparison.json", Ok(comparison)),
    ];
    let mut written = Vec::new();
    for (name, value) in files {
        let value = value.map_err(|e| Error::Dataset(e.to_string()))?;
        let path = dir.join(name);
        // Write to a temporary file and rename, so no half-written file is left.
        let tmp = dir.join(format!(".{name}.tmp"));
        let text =
            serde_json::to_string_pretty(&value).map_err(|e| Error::Dataset(e.to_string()))?;
        std::fs::write(&tmp, text + "\n")
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| Error::Io {
                path: path.clone(),
                source: e,
            })?;
        written.push(path);
    }
    Ok(written)
}
