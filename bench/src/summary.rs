//! `bench summary`: per-trial reaction and utilisation figures of one
//! campaign, for reading a run by eye (`just smoke-local` prints it).
//!
//! These figures depend on the machine a real backend ran on (how busy the
//! replicas got, how soon a policy saw its threshold crossed): they are
//! measured and printed here, and no test asserts their levels.

use sqlx::Row;

use crate::store::Store;
use crate::Result;

/// One complete trial's figures. Times are seconds since the trial start;
/// "before"/"after" are relative to the profile's first load step (all of
/// the trial counts as "after" when the profile has none).
#[derive(Clone, Debug, PartialEq)]
pub struct TrialFigures {
    /// Scenario.
    pub scenario: String,
    /// Load profile.
    pub load_profile: String,
    /// Arm.
    pub arm: String,
    /// Seed.
    pub seed: i64,
    /// The first load step, if the profile has one.
    pub step_s: Option<f64>,
    /// Mean GPU utilisation (percent) of the samples up to the step.
    pub util_before: Option<f64>,
    /// Mean GPU utilisation (percent) of the samples after the step.
    pub util_after: Option<f64>,
    /// Mean CPU, percent of the request, up to the step.
    pub cpu_before: Option<f64>,
    /// Mean CPU, percent of the request, after the step.
    pub cpu_after: Option<f64>,
    /// The first scale-up at or before the step.
    pub first_up_before: Option<f64>,
    /// The first scale-up after the step.
    pub first_up_after: Option<f64>,
    /// The first sample after the step whose GPU utilisation is above the
    /// lowest scale-up tier of a UserScale arm (`gpu_low_pct`).
    pub crossed_s: Option<f64>,
    /// Most ready replicas in a sample.
    pub peak_ready: Option<i64>,
    /// p95 latency of successful requests after the warm-up, ms.
    pub p95_ms: Option<f64>,
    /// Share of requests answered OK.
    pub ok_share: Option<f64>,
}

/// The figures of every complete trial of campaign `campaign_id` (the
/// newest when `None`).
pub async fn trial_figures(
    store: &mut Store,
    campaign_id: Option<i64>,
) -> Result<(i64, Vec<TrialFigures>)> {
    let id = store.campaign_id(campaign_id).await?;
    let rows = sqlx::query(
        "WITH t AS (
           SELECT id, scenario, load_profile, arm, seed,
                  json_extract(params_json, '$.load_steps_s[0]') AS step_s,
                  json_extract(params_json, '$.policy.gpu_low_pct') AS gpu_low
           FROM trials WHERE campaign_id = ? AND status = 'complete')
         SELECT t.scenario, t.load_profile, t.arm, t.seed, t.step_s,
           (SELECT avg(gpu_util_mean) FROM samples s WHERE s.trial_id = t.id AND s.t_s <= t.step_s) AS util_before,
           (SELECT avg(gpu_util_mean) FROM samples s WHERE s.trial_id = t.id AND (t.step_s IS NULL OR s.t_s > t.step_s)) AS util_after,
           (SELECT avg(cpu_pct_request) FROM samples s WHERE s.trial_id = t.id AND s.t_s <= t.step_s) AS cpu_before,
           (SELECT avg(cpu_pct_request) FROM samples s WHERE s.trial_id = t.id AND (t.step_s IS NULL OR s.t_s > t.step_s)) AS cpu_after,
           (SELECT min(e.t_s) FROM scaling_events e WHERE e.trial_id = t.id
              AND e.to_replicas > e.from_replicas AND e.t_s <= t.step_s) AS first_up_before,
           (SELECT min(e.t_s) FROM scaling_events e WHERE e.trial_id = t.id
              AND e.to_replicas > e.from_replicas AND (t.step_s IS NULL OR e.t_s > t.step_s)) AS first_up_after,
           (SELECT min(s.t_s) FROM samples s WHERE s.trial_id = t.id AND (t.step_s IS NULL OR s.t_s > t.step_s)
              AND t.gpu_low IS NOT NULL AND s.gpu_util_mean > t.gpu_low) AS crossed_s,
           (SELECT max(ready) FROM samples s WHERE s.trial_id = t.id) AS peak_ready,
           l.latency_p95_ms AS p95_ms,
           (SELECT 1.0 * sum(outcome = 'ok') / count(*) FROM requests r WHERE r.trial_id = t.id) AS ok_share
         FROM t LEFT JOIN trial_latency l ON l.trial_id = t.id
         ORDER BY t.scenario, t.load_profile, t.arm, t.seed",
    )
    .bind(id)
    .fetch_all(store.conn())
    .await?;
    let figures = rows
        .iter()
        .map(|r| -> Result<TrialFigures> {
            Ok(TrialFigures {
                scenario: r.try_get("scenario")?,
                load_profile: r.try_get("load_profile")?,
                arm: r.try_get("arm")?,
                seed: r.try_get("seed")?,
                step_s: r.try_get("step_s")?,
                util_before: r.try_get("util_before")?,
                util_after: r.try_get("util_after")?,
                cpu_before: r.try_get("cpu_before")?,
                cpu_after: r.try_get("cpu_after")?,
                first_up_before: r.try_get("first_up_before")?,
                first_up_after: r.try_get("first_up_after")?,
                crossed_s: r.try_get("crossed_s")?,
                peak_ready: r.try_get("peak_ready")?,
                p95_ms: r.try_get("p95_ms")?,
                ok_share: r.try_get("ok_share")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((id, figures))
}

fn cell(v: Option<f64>, decimals: usize) -> String {
    v.map_or("-".to_owned(), |v| format!("{v:.decimals$}"))
}

/// The figures as a text table, one line per trial, with a header and a
/// legend.
pub fn format(campaign_id: i64, figures: &[TrialFigures]) -> Vec<String> {
    let names: Vec<String> = figures
        .iter()
        .map(|f| format!("{}/{}/{}", f.scenario, f.load_profile, f.arm))
        .collect();
    let w = names.iter().map(String::len).max().unwrap_or(0).max(20);
    let mut out = vec![format!(
        "campaign {campaign_id}: {} complete trial(s); utilisation and CPU are means of the per-second samples",
        figures.len()
    )];
    out.push(format!(
        "{:<w$} {:>4} {:>6} {:>13} {:>13} {:>9} {:>9} {:>7} {:>5} {:>9} {:>5}",
        "scenario/profile/arm",
        "seed",
        "step",
        "util %",
        "cpu %",
        "up<=step",
        "up>step",
        "react",
        "peak",
        "p95 ms",
        "ok %"
    ));
    for (f, name) in figures.iter().zip(&names) {
        let react = match (f.first_up_after, f.step_s) {
            (Some(up), Some(step)) => Some(up - step),
            _ => None,
        };
        out.push(format!(
            "{:<w$} {:>4} {:>6} {:>13} {:>13} {:>9} {:>9} {:>7} {:>5} {:>9} {:>5}",
            name,
            f.seed,
            cell(f.step_s, 1),
            format!("{} -> {}", cell(f.util_before, 0), cell(f.util_after, 0)),
            format!("{} -> {}", cell(f.cpu_before, 0), cell(f.cpu_after, 0)),
            cell(f.first_up_before, 1),
            cell(f.first_up_after, 1),
            cell(react, 1),
            f.peak_ready.map_or("-".to_owned(), |p| p.to_string()),
            cell(f.p95_ms, 0),
            cell(f.ok_share.map(|s| 100.0 * s), 1),
        ));
        if let (Some(crossed), Some(up)) = (f.crossed_s, f.first_up_after) {
            out.push(format!(
                "{:<w$}      utilisation above the lowest tier from {crossed:.1} s, first scale-up {:+.1} s later",
                "",
                up - crossed
            ));
        }
    }
    out.push(
        "step: the first load step (s); up<=step / up>step: first scale-up at or before / after it (s); react: up>step - step; peak: most ready replicas"
            .into(),
    );
    out
}
