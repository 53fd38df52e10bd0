//! The SQL shown in each section: run in `sqlite3 data/trials.sqlite`, it
//! reproduces the per-trial table that the section's statistics are computed
//! from (one row per trial, the same definitions as [`crate::metrics`]).

use crate::question::Question;

/// The per-trial SQL of question `q` for campaign `campaign` and SLO
/// threshold `slo_ms`.
pub fn per_trial(q: Question, campaign: i64, slo_ms: f64) -> String {
    let body = match q {
        Question::Utilization => Q1,
        Question::Responsiveness => Q2,
        Question::Latency => Q3,
        Question::Efficiency => Q4,
        Question::Patterns => Q5,
    };
    body.replace("{campaign}", &campaign.to_string())
        .replace("{slo_ms}", &format!("{slo_ms}"))
}

const Q1: &str = "SELECT t.scenario, t.load_profile, t.arm, t.seed,
       AVG(s.gpu_util_mean) AS gpu_util_mean,
       MAX(s.gpu_util_max)  AS gpu_util_max
FROM trials t
JOIN samples s ON s.trial_id = t.id AND s.t_s > t.warmup_s
WHERE t.campaign_id = {campaign} AND t.status = 'complete'
GROUP BY t.id
ORDER BY t.scenario, t.load_profile, t.arm, t.seed;";

const Q2: &str = "WITH st AS (
  SELECT t.id, t.scenario, t.load_profile, t.arm, t.seed, t.duration_s AS dur,
         COALESCE(json_extract(t.params_json, '$.load_steps_s[0]'), 0.0) AS change,
         json_extract(t.params_json, '$.scenario.min_replicas') AS min_r,
         json_extract(t.params_json, '$.scenario.max_replicas') AS max_r
  FROM trials t WHERE t.campaign_id = {campaign} AND t.status = 'complete'),
r AS (
  SELECT st.*,
    COALESCE((SELECT e.to_replicas FROM scaling_events e WHERE e.trial_id = st.id AND e.t_s <= st.change
              ORDER BY e.seq DESC LIMIT 1), st.min_r) >= st.max_r AS at_max,
    (SELECT MIN(e.t_s) FROM scaling_events e WHERE e.trial_id = st.id AND e.t_s > st.change
       AND e.to_replicas > e.from_replicas) AS t_up,
    (SELECT MIN(p.ready_s) FROM pods p WHERE p.trial_id = st.id AND p.created_s > st.change
       AND p.ready_s <= st.dur) AS t_ready
  FROM st)
SELECT scenario, load_profile, arm, seed, at_max AS at_max_at_change,
       CASE WHEN at_max THEN NULL ELSE COALESCE(t_up, dur) - change END AS react_s,
       CASE WHEN at_max THEN NULL ELSE t_up IS NULL END AS react_s_censored,
       CASE WHEN at_max THEN NULL ELSE COALESCE(t_ready, dur) - change END AS ready_s,
       CASE WHEN at_max THEN NULL ELSE t_ready IS NULL END AS ready_s_censored,
       CASE WHEN at_max THEN NULL ELSE
         (SELECT COUNT(*) FROM decisions d WHERE d.trial_id = r.id AND d.t_s > r.change
            AND d.t_s <= r.dur AND (r.t_up IS NULL OR d.t_s < r.t_up)) END AS ticks_before_react,
       CASE WHEN at_max THEN NULL ELSE t_up IS NULL END AS ticks_before_react_censored
FROM r
ORDER BY scenario, load_profile, arm, seed;";

const Q3: &str = "SELECT t.scenario, t.load_profile, t.arm, t.seed,
       l.latency_p50_ms, l.latency_p95_ms, l.latency_p99_ms,
       AVG(r.outcome = 'ok' AND r.latency_ms <= {slo_ms}) AS slo_attainment,
       AVG(r.outcome <> 'ok')                          AS failure_rate,
       AVG(r.outcome = 'timeout')                      AS timeout_rate
FROM trials t
JOIN requests r ON r.trial_id = t.id AND r.scheduled_s >= t.warmup_s
LEFT JOIN trial_latency l ON l.trial_id = t.id
WHERE t.campaign_id = {campaign} AND t.status = 'complete'
GROUP BY t.id
ORDER BY t.scenario, t.load_profile, t.arm, t.seed;";

const Q4: &str = "WITH ok AS (
  SELECT r.trial_id, SUM(r.outcome = 'ok') AS n_ok FROM requests r
  JOIN trials t ON t.id = r.trial_id
  WHERE CAST(r.finished_s AS INTEGER) + 1 > t.warmup_s AND CAST(r.finished_s AS INTEGER) + 1 <= t.duration_s
  GROUP BY r.trial_id),
pods AS (
  SELECT s.trial_id, SUM(s.ready + s.pending + s.terminating) AS pod_seconds FROM samples s
  JOIN trials t ON t.id = s.trial_id AND s.t_s > t.warmup_s GROUP BY s.trial_id),
slots AS (
  SELECT p.trial_id, SUM(p.state NOT IN ('pending', 'exited')) AS slot_seconds FROM pod_samples p
  JOIN trials t ON t.id = p.trial_id AND p.t_s > t.warmup_s GROUP BY p.trial_id),
energy AS (
  SELECT s.trial_id, MAX(s.gpu_energy_j) - MIN(s.gpu_energy_j) AS energy_j FROM samples s
  JOIN trials t ON t.id = s.trial_id AND s.t_s >= t.warmup_s GROUP BY s.trial_id)
SELECT t.scenario, t.load_profile, t.arm, t.seed,
       1.0 * COALESCE(slots.slot_seconds, 0) / NULLIF(ok.n_ok, 0) AS slot_s_per_ok,
       pods.pod_seconds, COALESCE(slots.slot_seconds, 0) AS slot_seconds,
       1.0 * COALESCE(ok.n_ok, 0) / NULLIF(pods.pod_seconds, 0) AS served_per_pod_s,
       energy.energy_j / NULLIF(ok.n_ok, 0) AS energy_per_ok_j
FROM trials t
LEFT JOIN ok ON ok.trial_id = t.id LEFT JOIN pods ON pods.trial_id = t.id
LEFT JOIN slots ON slots.trial_id = t.id LEFT JOIN energy ON energy.trial_id = t.id
WHERE t.campaign_id = {campaign} AND t.status = 'complete'
ORDER BY t.scenario, t.load_profile, t.arm, t.seed;";

const Q5: &str = "WITH ev AS (
  SELECT e.trial_id, e.to_replicas - e.from_replicas AS d,
         LAG(e.to_replicas - e.from_replicas) OVER (PARTITION BY e.trial_id ORDER BY e.seq) AS prev
  FROM scaling_events e JOIN trials t ON t.id = e.trial_id WHERE e.t_s >= t.warmup_s)
SELECT t.scenario, t.load_profile, t.arm, t.seed,
       (SELECT COUNT(*) FROM ev WHERE ev.trial_id = t.id) AS scaling_events,
       (SELECT COUNT(*) FROM ev WHERE ev.trial_id = t.id AND ev.prev IS NOT NULL
          AND (ev.d > 0) <> (ev.prev > 0)) AS direction_changes,
       (SELECT MAX(s.desired) FROM samples s WHERE s.trial_id = t.id AND s.t_s > t.warmup_s)
         - (SELECT s.desired FROM samples s WHERE s.trial_id = t.id ORDER BY s.t_s DESC LIMIT 1) AS overshoot,
       (SELECT AVG(s.ready) FROM samples s WHERE s.trial_id = t.id AND s.t_s > t.warmup_s) AS replicas_mean
FROM trials t
WHERE t.campaign_id = {campaign} AND t.status = 'complete'
ORDER BY t.scenario, t.load_profile, t.arm, t.seed;";
