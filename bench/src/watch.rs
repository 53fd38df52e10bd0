//! Following a local-backend run from another terminal.
//!
//! The dataset only ever holds complete trials (one transaction each), so a
//! running trial is visible through a small status file beside the dataset,
//! `<db>.live`, which the runner rewrites (atomically) every second with the
//! progress line: replicas, utilisation, CPU, in-flight, queued and p95
//! latency. [`status`] combines it with the dataset's counts, read through
//! a read-only connection (WAL lets it read while the runner writes).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::store::Store;
use crate::Result;

/// The live status of the trial being run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Live {
    /// Scenario / profile / arm / seed of the running trial.
    pub trial: String,
    /// The latest progress line.
    pub line: String,
    /// When it was written (RFC 3339 UTC).
    pub updated_at: String,
}

/// The status file of dataset `db`.
pub fn live_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".live");
    PathBuf::from(p)
}

/// Writes the status file (to a temporary name, then renamed).
pub fn write_live(db: &Path, live: &Live) {
    let path = live_path(db);
    let tmp = path.with_extension("live.tmp");
    if let Ok(text) = serde_json::to_string(live) {
        if std::fs::write(&tmp, text).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }
}

/// Removes the status file (the run ended).
pub fn clear_live(db: &Path) {
    let _ = std::fs::remove_file(live_path(db));
}

/// One look at a dataset: the newest campaign's progress, the last
/// completed trial and the running trial, as lines of text.
pub async fn status(db: &Path) -> Result<(Vec<String>, bool)> {
    let mut store = Store::open_read_only(db).await?;
    let mut lines = Vec::new();
    let row = sqlx::query(
        "SELECT c.id, c.name, c.backend, COUNT(t.id), COALESCE(SUM(t.status = 'complete'), 0),
                (SELECT COUNT(*) FROM trial_aborts a JOIN trials x ON x.id = a.trial_id WHERE x.campaign_id = c.id)
         FROM campaigns c LEFT JOIN trials t ON t.campaign_id = c.id
         GROUP BY c.id ORDER BY c.id DESC LIMIT 1",
    )
    .fetch_optional(store.conn())
    .await?;
    let mut running = false;
    if let Some(r) = row {
        let (id, name, backend): (i64, String, String) = (r.get(0), r.get(1), r.get(2));
        let (total, complete, aborts): (i64, i64, i64) = (r.get(3), r.get(4), r.get(5));
        lines.push(format!(
            "campaign `{name}` (id {id}, {backend}): {complete}/{total} trials complete, {aborts} aborted attempt(s)"
        ));
        let last = sqlx::query(
            "SELECT t.scenario, t.load_profile, t.arm, t.seed, s.latency_p95_ms, s.success_rate, s.pods_max
             FROM trials t JOIN trial_summary s ON s.trial_id = t.id
             WHERE t.campaign_id = ? ORDER BY t.finished_at DESC, t.id DESC LIMIT 1",
        )
        .bind(id)
        .fetch_optional(store.conn())
        .await?;
        if let Some(l) = last {
            lines.push(format!(
                "last complete: {} / {} / {} / seed {}: p95 {:.0} ms, success {:.1} %, up to {} pods",
                l.get::<String, _>(0),
                l.get::<String, _>(1),
                l.get::<String, _>(2),
                l.get::<i64, _>(3),
                l.get::<Option<f64>, _>(4).unwrap_or(f64::NAN),
                100.0 * l.get::<Option<f64>, _>(5).unwrap_or(f64::NAN),
                l.get::<Option<i64>, _>(6).unwrap_or_default(),
            ));
        }
        running = complete < total;
    }
    store.close().await?;
    match std::fs::read_to_string(live_path(db))
        .ok()
        .and_then(|t| serde_json::from_str::<Live>(&t).ok())
    {
        Some(live) => lines.push(format!(
            "running: {}: {} ({})",
            live.trial, live.line, live.updated_at
        )),
        None if running => {
            lines.push("no trial running now (the run stopped or is between trials)".into())
        }
        None => {}
    }
    Ok((lines, running))
}
