//! Read-only access to the dataset and loading one campaign into polars.
//!
//! The report depends only on the schema in `migrations/` (the dataset
//! contract), never on the bench's code. The connection is opened with
//! `SQLITE_OPEN_READONLY`, so nothing the report does can change the file.
//! [`connect_read_only`] checks the file first (a database, from a bench
//! no newer than this build, with the tables the report reads) and says
//! what is wrong, naming the file.

use std::path::Path;
use std::str::FromStr;

use polars::prelude::*;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Row, SqliteConnection};

use crate::{Error, Result};
use contract::BackendKind;

/// The migrations of `migrations/`, as this build knows them.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// The newest migration this build knows.
pub fn known_migration() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// The tables the report reads. A dataset without one of them is refused
/// at once, naming the missing ones.
pub const REQUIRED_TABLES: [&str; 8] = [
    "campaigns",
    "trials",
    "requests",
    "samples",
    "pod_samples",
    "scaling_events",
    "decisions",
    "pods",
];

/// Opens the dataset read-only, after checking that it is one this build
/// can read. Each failure names the file: [`Error::NoDataset`],
/// [`Error::IsDirectory`], [`Error::Unreadable`] (not an SQLite database,
/// truncated, or not readable; SQLite's reason), [`Error::NewerSchema`] or
/// [`Error::UnknownMigration`] (its `_sqlx_migrations` records a migration
/// not in this build's `migrations/`), [`Error::MissingTables`] (lacks some
/// of [`REQUIRED_TABLES`]).
pub async fn connect_read_only(path: &Path) -> Result<SqliteConnection> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NoDataset {
                path: path.to_path_buf(),
            })
        }
        Err(e) => {
            return Err(Error::Unreadable {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
        }
        Ok(m) if m.is_dir() => {
            return Err(Error::IsDirectory {
                path: path.to_path_buf(),
            })
        }
        Ok(m) if !m.is_file() => {
            return Err(Error::Unreadable {
                path: path.to_path_buf(),
                reason: "not a regular file".into(),
            })
        }
        Ok(_) => {}
    }
    let unreadable = |e: sqlx::Error| Error::Unreadable {
        path: path.to_path_buf(),
        reason: match &e {
            sqlx::Error::Database(db) => db.message().to_owned(),
            other => other.to_string(),
        },
    };
    let mut conn = SqliteConnectOptions::from_str("sqlite:")
        .map_err(unreadable)?
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .map_err(unreadable)?;
    // The first read of the file: SQLite finds here that it is not a
    // database, or that it is shorter than its header says.
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut conn)
            .await
            .map_err(unreadable)?;
    if tables.iter().any(|t| t == "_sqlx_migrations") {
        let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations")
            .fetch_all(&mut conn)
            .await
            .map_err(unreadable)?;
        check_migrations(path, &versions)?;
    }
    let missing: Vec<String> = REQUIRED_TABLES
        .iter()
        .filter(|r| !tables.iter().any(|t| t == *r))
        .map(|r| (*r).to_owned())
        .collect();
    if !missing.is_empty() {
        return Err(Error::MissingTables {
            path: path.to_path_buf(),
            tables: missing,
        });
    }
    Ok(conn)
}

/// Refuses a dataset that records a migration this build does not have.
fn check_migrations(path: &Path, versions: &[i64]) -> Result<()> {
    let known: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
    let newest = known_migration();
    let unknown = versions.iter().copied().filter(|v| !known.contains(v));
    match unknown.max() {
        None => Ok(()),
        Some(version) if version > newest => Err(Error::NewerSchema {
            path: path.to_path_buf(),
            version,
            known: newest,
        }),
        Some(version) => Err(Error::UnknownMigration {
            path: path.to_path_buf(),
            version,
            known: known
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// One campaign row with its trial counts.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CampaignInfo {
    /// Campaign id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Where its trials ran.
    pub backend: BackendKind,
    /// SHA-256 of the campaign and its GPU profiles.
    pub config_sha256: String,
    /// The campaign file.
    pub config_toml: String,
    /// Bench version that ran it.
    pub tool_version: String,
    /// Host description.
    pub host: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Trials in the campaign.
    pub trials: i64,
    /// Complete trials.
    pub complete: i64,
}

/// Every campaign in the dataset, newest first.
pub async fn campaigns(conn: &mut SqliteConnection) -> Result<Vec<CampaignInfo>> {
    let rows = sqlx::query(
        "SELECT c.id, c.name, c.backend, c.config_sha256, c.config_toml, c.tool_version, c.host, c.created_at,
                COUNT(t.id), COALESCE(SUM(t.status = 'complete'), 0)
         FROM campaigns c LEFT JOIN trials t ON t.campaign_id = c.id
         GROUP BY c.id ORDER BY c.id DESC",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let id: i64 = r.try_get(0)?;
            let backend: String = r.try_get(2)?;
            Ok(CampaignInfo {
                id,
                name: r.try_get(1)?,
                backend: backend
                    .parse()
                    .map_err(|e| Error::Dataset(format!("campaign {id}: {e}")))?,
                config_sha256: r.try_get(3)?,
                config_toml: r.try_get(4)?,
                tool_version: r.try_get(5)?,
                host: r.try_get(6)?,
                created_at: r.try_get(7)?,
                trials: r.try_get(8)?,
                complete: r.try_get(9)?,
            })
        })
        .collect()
}

/// A GPU model a scenario uses, with where its numbers come from.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct GpuModel {
    /// Profile name.
    pub name: String,
    /// Model.
    pub model: String,
    /// Spec-derived or measured (serialized `spec-derived`, `measured`).
    pub provenance: contract::gpu::Provenance,
    /// Notes of the profile.
    pub notes: String,
}

/// One complete trial.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Trial {
    /// Trial id.
    pub id: i64,
    /// Scenario.
    pub scenario: String,
    /// Arm.
    pub arm: String,
    /// Load profile.
    pub load_profile: String,
    /// Seed.
    pub seed: i64,
    /// Length, seconds.
    pub duration_s: f64,
    /// Warm-up left out, seconds.
    pub warmup_s: f64,
    /// GPU wait mode.
    pub wait_mode: String,
    /// Load-step times of the profile (from `params_json`).
    pub load_steps_s: Vec<f64>,
    /// GPU models of the scenario (from `params_json`).
    pub gpus: Vec<GpuModel>,
    /// The scenario's replica bounds (from `params_json`).
    pub min_replicas: Option<i64>,
    /// Upper bound.
    pub max_replicas: Option<i64>,
    /// The trial's parameters as stored.
    pub params_json: String,
}

/// An arm of a campaign (table `arms`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ArmInfo {
    /// Arm name, as in the trials.
    pub name: String,
    /// Its policy's kind (`hpa`, `userscale`, `hpa-gpu`, …), as stored.
    pub kind: String,
    /// Whether the other arms are compared against it.
    pub baseline: bool,
}

/// The arms of campaign `id` in display order (the baseline first). From
/// table `arms` where the dataset has it; a dataset from a bench before
/// migration `0005` (never reopened by a newer bench) gets them as that
/// migration would: the arms of its trials by name, `hpa` (else the first)
/// as baseline, kind from the policy each recorded.
async fn load_arms(conn: &mut SqliteConnection, id: i64) -> Result<Vec<ArmInfo>> {
    let has_table: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'arms')",
    )
    .fetch_one(&mut *conn)
    .await?;
    if has_table {
        let rows: Vec<(String, String, bool)> = sqlx::query_as(
            "SELECT name, kind, baseline FROM arms WHERE campaign_id = ? ORDER BY position",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        if !rows.is_empty() {
            return Ok(rows
                .into_iter()
                .map(|(name, kind, baseline)| ArmInfo {
                    name,
                    kind,
                    baseline,
                })
                .collect());
        }
    }
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT arm, MIN(json_extract(params_json, '$.policy.kind')) FROM trials
         WHERE campaign_id = ? GROUP BY arm ORDER BY arm",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let base = rows.iter().position(|r| r.0 == "hpa").unwrap_or_default();
    let mut arms: Vec<ArmInfo> = rows
        .into_iter()
        .enumerate()
        .map(|(k, (name, kind))| ArmInfo {
            kind: kind.unwrap_or_else(|| name.clone()),
            name,
            baseline: k == base,
        })
        .collect();
    arms.sort_by_key(|a| !a.baseline);
    Ok(arms)
}

/// One campaign, loaded: its trials and their records as polars frames.
pub struct CampaignData {
    /// The campaign row.
    pub info: CampaignInfo,
    /// Its arms in display order, the baseline first.
    pub arms: Vec<ArmInfo>,
    /// Complete trials, by id.
    pub trials: Vec<Trial>,
    /// `requests`: trial_id, latency_ms, sec, ok, timeout, warm (see
    /// [`load_requests`]).
    pub requests: DataFrame,
    /// `samples`: trial_id, t_s, desired, ready, pending, terminating,
    /// gpu_util_mean, gpu_util_max, gpu_energy_j, cpu_pct_request.
    pub samples: DataFrame,
    /// `scaling_events`: trial_id, t_s, from_replicas, to_replicas.
    pub events: DataFrame,
    /// `decisions`: trial_id, t_s.
    pub decisions: DataFrame,
    /// GPU-slot-seconds per trial after warm-up (from `pod_samples`).
    pub slot_seconds: Vec<(i64, f64)>,
    /// Every pod's life, in trial order.
    pub pods: Vec<PodLife>,
}

/// When a pod was created and when its readiness probe first saw it ready
/// (table `pods`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PodLife {
    /// Trial id.
    pub trial_id: i64,
    /// Created, seconds.
    pub created_s: f64,
    /// Ready observed, seconds.
    pub ready_s: Option<f64>,
}

/// What the report reads from a trial's `params_json`
/// ([`contract::TrialParams`]).
#[derive(Default)]
struct Params {
    load_steps_s: Vec<f64>,
    gpus: Vec<GpuModel>,
    min_replicas: Option<i64>,
    max_replicas: Option<i64>,
}

/// The parts of trial `id`'s stored parameters the report uses. A document
/// that is not the bench's (edited by hand, or from a bench that wrote
/// another shape) leaves them empty, with a warning that names the trial:
/// the trial's own rows are still reported.
fn parse_params(id: i64, params: &str) -> Params {
    let p = match contract::TrialParams::parse(params) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!("trial {id}: params_json is not the bench's trial parameters ({e}); its load steps, replica bounds and GPU models are left out");
            return Params::default();
        }
    };
    Params {
        load_steps_s: p.load_steps_s,
        gpus: p
            .scenario
            .gpu_profiles
            .into_iter()
            .map(|(name, g)| GpuModel {
                name,
                model: g.model,
                provenance: g.provenance,
                notes: g.notes,
            })
            .collect(),
        min_replicas: Some(i64::from(p.scenario.min_replicas)),
        max_replicas: Some(i64::from(p.scenario.max_replicas)),
    }
}

/// The columns [`trial_from_row`] reads, in its order.
pub(crate) const TRIAL_COLUMNS: &str =
    "id, scenario, arm, load_profile, seed, duration_s, warmup_s, wait_mode, params_json";

/// A [`Trial`] from a row selecting [`TRIAL_COLUMNS`].
pub(crate) fn trial_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<Trial> {
    let id: i64 = r.try_get(0)?;
    let params: String = r.try_get(8)?;
    let p = parse_params(id, &params);
    Ok(Trial {
        id,
        scenario: r.try_get(1)?,
        arm: r.try_get(2)?,
        load_profile: r.try_get(3)?,
        seed: r.try_get(4)?,
        duration_s: r.try_get(5)?,
        warmup_s: r.try_get(6)?,
        wait_mode: r.try_get(7)?,
        load_steps_s: p.load_steps_s,
        gpus: p.gpus,
        min_replicas: p.min_replicas,
        max_replicas: p.max_replicas,
        params_json: params,
    })
}

/// The requests of a campaign's complete trials as a frame: trial_id,
/// latency_ms, sec (the second of the trial in which the answer came: the
/// sample at `t_s = sec` covers it), ok, timeout, warm (scheduled at or after
/// the trial's warm-up).
///
/// A million request rows decoded one by one cost seconds, so SQLite packs
/// each trial's requests into one row with `group_concat` (in request order):
/// the latencies printed with `%!.17g`, which round-trips every double
/// exactly, and the rest as one small integer per request. Two connections
/// load the odd and the even trials at the same time.
async fn load_requests(path: &Path, id: i64) -> Result<DataFrame> {
    let (a, b) = tokio::try_join!(
        load_requests_part(path, id, 0),
        load_requests_part(path, id, 1)
    )?;
    let mut df = a;
    df.vstack_mut(&b)?;
    Ok(df)
}

async fn load_requests_part(path: &Path, id: i64, parity: i64) -> Result<DataFrame> {
    let mut conn = connect_read_only(path).await?;
    let rows = sqlx::query(
        "SELECT r.trial_id, COUNT(*),
                group_concat(printf('%!.17g', r.latency_ms), ',' ORDER BY r.id),
                group_concat((CAST(r.finished_s AS INTEGER) + 1) * 8
                             + CASE r.outcome WHEN 'ok' THEN 0 WHEN 'timeout' THEN 2 ELSE 4 END
                             + (r.scheduled_s >= t.warmup_s), ',' ORDER BY r.id)
         FROM requests r JOIN trials t ON t.id = r.trial_id
         WHERE t.campaign_id = ? AND t.status = 'complete' AND t.id % 2 = ?
         GROUP BY r.trial_id ORDER BY r.trial_id",
    )
    .bind(id)
    .bind(parity)
    .fetch_all(&mut conn)
    .await?;
    let mut total = 0usize;
    for r in &rows {
        total += r.try_get::<i64, _>(1)? as usize;
    }
    let mut tid = Vec::with_capacity(total);
    let mut lat = Vec::with_capacity(total);
    let mut sec = Vec::with_capacity(total);
    let mut ok = Vec::with_capacity(total);
    let mut timeout = Vec::with_capacity(total);
    let mut warm = Vec::with_capacity(total);
    for r in &rows {
        let trial: i64 = r.try_get(0)?;
        let n = r.try_get::<i64, _>(1)? as usize;
        let bad = |v: &str| Error::Dataset(format!("trial {trial}: bad request value `{v}`"));
        let text: String = r.try_get(2)?;
        for v in text.split(',') {
            lat.push(v.parse::<f64>().map_err(|_| bad(v))?);
        }
        let codes: String = r.try_get(3)?;
        for v in codes.split(',') {
            let c = v.parse::<i64>().map_err(|_| bad(v))?;
            sec.push(c >> 3);
            ok.push(c & 6 == 0);
            timeout.push(c & 6 == 2);
            warm.push(c & 1 == 1);
        }
        tid.extend(std::iter::repeat_n(trial, n));
        if lat.len() != tid.len() || sec.len() != tid.len() {
            return Err(Error::Dataset(format!(
                "trial {trial}: request columns of unequal length"
            )));
        }
    }
    Ok(df!(
        "trial_id" => tid,
        "latency_ms" => lat,
        "sec" => sec,
        "ok" => ok,
        "timeout" => timeout,
        "warm" => warm,
    )?)
}

/// Loads campaign `id` of the dataset at `path` (`conn` is a read-only
/// connection to it); `Ok(None)` when there is no such campaign.
pub async fn load_campaign(
    conn: &mut SqliteConnection,
    path: &Path,
    id: i64,
) -> Result<Option<CampaignData>> {
    let Some(info) = campaigns(conn).await?.into_iter().find(|c| c.id == id) else {
        return Ok(None);
    };
    let rows = sqlx::query(&format!(
        "SELECT {TRIAL_COLUMNS} FROM trials WHERE campaign_id = ? AND status = 'complete' ORDER BY id"
    ))
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let trials = rows
        .iter()
        .map(trial_from_row)
        .collect::<Result<Vec<_>>>()?;

    let arms = load_arms(conn, id).await?;
    let requests = load_requests(path, id).await?;

    let samples = {
        let rows = sqlx::query(
            "SELECT s.trial_id, s.t_s, s.desired, s.ready, s.pending, s.terminating,
                    s.gpu_util_mean, s.gpu_util_max, s.gpu_energy_j, s.cpu_pct_request
             FROM samples s JOIN trials t ON t.id = s.trial_id
             WHERE t.campaign_id = ? AND t.status = 'complete'",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        let mut cols: Vec<Vec<f64>> = (0..9).map(|_| Vec::with_capacity(rows.len())).collect();
        let mut tid = Vec::with_capacity(rows.len());
        for r in &rows {
            tid.push(r.try_get::<i64, _>(0)?);
            cols[0].push(r.try_get::<f64, _>(1)?);
            for (k, col) in cols.iter_mut().enumerate().skip(1).take(4) {
                col.push(r.try_get::<i64, _>(k + 1)? as f64);
            }
            for (k, col) in cols.iter_mut().enumerate().skip(5) {
                col.push(r.try_get::<f64, _>(k + 1)?);
            }
        }
        let mut it = cols.into_iter();
        let mut next = || it.next().unwrap_or_default();
        df!(
            "trial_id" => tid,
            "t_s" => next(),
            "desired" => next(),
            "ready" => next(),
            "pending" => next(),
            "terminating" => next(),
            "gpu_util_mean" => next(),
            "gpu_util_max" => next(),
            "gpu_energy_j" => next(),
            "cpu_pct_request" => next(),
        )?
    };

    let events = {
        let rows = sqlx::query(
            "SELECT e.trial_id, e.t_s, e.from_replicas, e.to_replicas
             FROM scaling_events e JOIN trials t ON t.id = e.trial_id
             WHERE t.campaign_id = ? AND t.status = 'complete' ORDER BY e.trial_id, e.seq",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        let (mut tid, mut t, mut from, mut to) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for r in &rows {
            tid.push(r.try_get::<i64, _>(0)?);
            t.push(r.try_get::<f64, _>(1)?);
            from.push(r.try_get::<i64, _>(2)?);
            to.push(r.try_get::<i64, _>(3)?);
        }
        df!("trial_id" => tid, "t_s" => t, "from_replicas" => from, "to_replicas" => to)?
    };

    let decisions = {
        let rows = sqlx::query(
            "SELECT d.trial_id, d.t_s FROM decisions d JOIN trials t ON t.id = d.trial_id
             WHERE t.campaign_id = ? AND t.status = 'complete' ORDER BY d.trial_id, d.seq",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        let (mut tid, mut t) = (Vec::new(), Vec::new());
        for r in &rows {
            tid.push(r.try_get::<i64, _>(0)?);
            t.push(r.try_get::<f64, _>(1)?);
        }
        df!("trial_id" => tid, "t_s" => t)?
    };

    let slot_seconds = sqlx::query(
        "SELECT p.trial_id, SUM(p.state NOT IN ('pending', 'exited'))
         FROM pod_samples p JOIN trials t ON t.id = p.trial_id
         WHERE t.campaign_id = ? AND t.status = 'complete' AND p.t_s > t.warmup_s
         GROUP BY p.trial_id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| Ok((r.try_get::<i64, _>(0)?, r.try_get::<i64, _>(1)? as f64)))
    .collect::<Result<Vec<_>>>()?;

    let pods = sqlx::query(
        "SELECT p.trial_id, p.created_s, p.ready_s
         FROM pods p JOIN trials t ON t.id = p.trial_id
         WHERE t.campaign_id = ? AND t.status = 'complete' ORDER BY p.trial_id, p.pod",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(PodLife {
            trial_id: r.try_get(0)?,
            created_s: r.try_get(1)?,
            ready_s: r.try_get(2)?,
        })
    })
    .collect::<Result<Vec<_>>>()?;

    Ok(Some(CampaignData {
        info,
        arms,
        trials,
        requests,
        samples,
        events,
        decisions,
        slot_seconds,
        pods,
    }))
}
