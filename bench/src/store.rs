//! The SQLite dataset through sqlx. The schema is owned by the ordered
//! migrations in `migrations/` (embedded at build time and applied on open);
//! WAL journal. Each trial is written in one transaction that also marks it
//! complete, so a killed run leaves every trial either complete or without
//! rows.

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, Row, SqliteConnection};

use crate::record::{
    DecisionRecord, GpuSample, PodRecord, PodSample, RequestRecord, Sample, ScalingEvent,
    TrialRecords,
};
use crate::{Error, Result};

mod bulk;

/// The tables holding a trial's records (each keyed by `trial_id`).
pub const TRIAL_TABLES: [&str; 9] = [
    "requests",
    "samples",
    "pod_samples",
    "gpu_samples",
    "pods",
    "scaling_events",
    "decisions",
    "trial_clocks",
    "trial_signals",
];

/// The digest of one table's rows ([`Store::table_hashes`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableHash {
    /// Table name.
    pub table: String,
    /// Rows hashed.
    pub rows: u64,
    /// SHA-256 of the rows, hex.
    pub sha256: String,
}

/// An open dataset.
pub struct Store {
    conn: SqliteConnection,
}

/// A campaign row's identity and provenance.
#[derive(Clone, Debug)]
pub struct CampaignMeta<'a> {
    /// Campaign name.
    pub name: &'a str,
    /// Campaign file text.
    pub config_toml: &'a str,
    /// Hash over the campaign and its GPU profiles.
    pub config_sha256: &'a str,
    /// Where its trials run.
    pub backend: contract::BackendKind,
    /// Tool version.
    pub tool_version: &'a str,
    /// Host description.
    pub host: &'a str,
    /// Creation time, RFC 3339.
    pub created_at: &'a str,
    /// The campaign's arms in display order, the baseline first.
    pub arms: &'a [NewArm<'a>],
}

/// An arm of a campaign (a row of `arms`).
#[derive(Clone, Debug)]
pub struct NewArm<'a> {
    /// Arm name, as in the trials.
    pub name: &'a str,
    /// Its policy's kind.
    pub kind: contract::ControllerKind,
    /// Whether the others are compared against it.
    pub baseline: bool,
    /// Its policy without the replica bounds, JSON.
    pub policy_json: String,
}

/// A trial row to create (pending) if it does not exist.
#[derive(Clone, Debug)]
pub struct NewTrial<'a> {
    /// Scenario name.
    pub scenario: &'a str,
    /// Arm name.
    pub arm: &'a str,
    /// Load profile name.
    pub load_profile: &'a str,
    /// Seed.
    pub seed: u64,
    /// Position in the run order.
    pub run_order: u32,
    /// Trial length, seconds.
    pub duration_s: f64,
    /// Warm-up, seconds.
    pub warmup_s: f64,
    /// GPU wait mode label.
    pub wait_mode: &'a str,
    /// Parameters, JSON.
    pub params_json: String,
}

/// Wall-clock facts of one trial run.
#[derive(Clone, Debug)]
pub struct TrialTiming {
    /// Start, RFC 3339.
    pub started_at: String,
    /// End, RFC 3339.
    pub finished_at: String,
    /// Wall milliseconds.
    pub wall_ms: f64,
}

impl Store {
    /// Opens (creating if needed) the dataset at `path` and applies pending
    /// migrations.
    pub async fn open(path: &Path) -> Result<Store> {
        let opts = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true);
        let mut conn = SqliteConnection::connect_with(&opts).await?;
        sqlx::migrate!("../migrations").run(&mut conn).await?;
        Ok(Store { conn })
    }

    /// Opens an existing dataset read-only (no migration).
    pub async fn open_read_only(path: &Path) -> Result<Store> {
        if !path.exists() {
            return Err(crate::Error::NotFound(format!(
                "{}: no such dataset (run `bench run` first)",
                path.display()
            )));
        }
        let opts = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .read_only(true);
        let conn = SqliteConnection::connect_with(&opts).await?;
        Ok(Store { conn })
    }

    /// Closes the connection cleanly (SQLite folds the WAL into the file).
    pub async fn close(self) -> Result<()> {
        Ok(self.conn.close().await?)
    }

    /// A SHA-256 of each result table's rows, for proving that a change
    /// leaves results as they were: every table a trial writes, `trials`
    /// without its wall-clock columns (`started_at`, `finished_at`,
    /// `wall_ms`) and `campaigns` without `tool_version`, `host` and
    /// `created_at`. Rows are taken in the order of their printed values;
    /// a REAL prints with 17 significant digits (`%!.17g`, exact), anything
    /// else as SQLite's `quote()`. Returns (table, rows, hex digest) in
    /// table-name order.
    pub async fn table_hashes(&mut self) -> Result<Vec<TableHash>> {
        use sha2::{Digest, Sha256};
        let volatile = [
            ("trials", "started_at"),
            ("trials", "finished_at"),
            ("trials", "wall_ms"),
            ("campaigns", "tool_version"),
            ("campaigns", "host"),
            ("campaigns", "created_at"),
        ];
        let mut tables: Vec<&str> = TRIAL_TABLES.to_vec();
        tables.extend(["trials", "campaigns", "trial_aborts", "arms"]);
        tables.sort_unstable();
        let mut out = Vec::new();
        for table in tables {
            let cols = sqlx::query(&format!("PRAGMA table_info({table})"))
                .fetch_all(&mut self.conn)
                .await?;
            let mut exprs = Vec::new();
            for c in &cols {
                let name: String = c.try_get("name")?;
                let ty: String = c.try_get("type")?;
                if volatile.contains(&(table, name.as_str())) {
                    continue;
                }
                exprs.push(if ty.eq_ignore_ascii_case("REAL") {
                    format!("ifnull(printf('%!.17g', \"{name}\"), 'NULL')")
                } else {
                    format!("quote(\"{name}\")")
                });
            }
            let row = exprs.join(" || char(31) || ");
            let rows: Vec<String> =
                sqlx::query_scalar(&format!("SELECT {row} AS r FROM {table} ORDER BY r"))
                    .fetch_all(&mut self.conn)
                    .await?;
            let mut h = Sha256::new();
            for r in &rows {
                h.update(r.as_bytes());
                h.update([b'\n']);
            }
            let digest = h.finalize();
            out.push(TableHash {
                table: table.to_string(),
                rows: rows.len() as u64,
                sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
            });
        }
        Ok(out)
    }

    /// The connection, for queries of other modules.
    pub fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }

    /// The campaign a reader asked for: `id` if the dataset holds it, the
    /// newest campaign when `None`; [`Error::NotFound`] otherwise.
    pub async fn campaign_id(&mut self, id: Option<i64>) -> Result<i64> {
        let found: Option<i64> = match id {
            Some(id) => sqlx::query("SELECT id FROM campaigns WHERE id = ?")
                .bind(id)
                .fetch_optional(&mut self.conn)
                .await?
                .map(|r| r.try_get(0))
                .transpose()?,
            None => sqlx::query("SELECT MAX(id) FROM campaigns")
                .fetch_one(&mut self.conn)
                .await?
                .try_get(0)?,
        };
        found.ok_or_else(|| {
            Error::NotFound(match id {
                Some(id) => format!("the dataset holds no campaign with id {id}"),
                None => "the dataset holds no campaign".into(),
            })
        })
    }

    /// The campaign's id (its row inserted if this (hash, backend) is new)
    /// and its missing trial rows (status `pending`), all in one
    /// transaction: a run killed at any point leaves either both or
    /// neither. Returns, in the order given, each trial's id and whether it
    /// is already complete.
    pub async fn ensure_campaign(
        &mut self,
        m: &CampaignMeta<'_>,
        trials: &[NewTrial<'_>],
    ) -> Result<(i64, Vec<(i64, bool)>)> {
        let mut tx = self.conn.begin().await?;
        let existing =
            sqlx::query("SELECT id FROM campaigns WHERE config_sha256 = ? AND backend = ?")
                .bind(m.config_sha256)
                .bind(m.backend.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let campaign_id: i64 = match existing {
            Some(row) => row.try_get(0)?,
            None => sqlx::query(
                "INSERT INTO campaigns (name, config_toml, config_sha256, backend, tool_version, host, created_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(m.name)
            .bind(m.config_toml)
            .bind(m.config_sha256)
            .bind(m.backend.as_str())
            .bind(m.tool_version)
            .bind(m.host)
            .bind(m.created_at)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?,
        };
        if m.arms.iter().filter(|a| a.baseline).count() != 1 {
            return Err(Error::Dataset(format!(
                "campaign `{}`: exactly one arm must be the baseline",
                m.name
            )));
        }
        for (position, a) in m.arms.iter().enumerate() {
            sqlx::query(
                "INSERT INTO arms (campaign_id, name, kind, position, baseline, policy_json)
                 VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (campaign_id, name) DO NOTHING",
            )
            .bind(campaign_id)
            .bind(a.name)
            .bind(a.kind.as_str())
            .bind(position as i64)
            .bind(a.baseline)
            .bind(&a.policy_json)
            .execute(&mut *tx)
            .await?;
        }
        let mut out = Vec::with_capacity(trials.len());
        for t in trials {
            if !m.arms.iter().any(|a| a.name == t.arm) {
                return Err(Error::Dataset(format!(
                    "trial {} / {} / seed {}: arm `{}` is not an arm of campaign `{}`",
                    t.scenario, t.load_profile, t.seed, t.arm, m.name
                )));
            }
            sqlx::query(
                "INSERT INTO trials (campaign_id, scenario, arm, load_profile, seed, run_order, status,
                                     duration_s, warmup_s, wait_mode, params_json)
                 VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)
                 ON CONFLICT (campaign_id, scenario, arm, load_profile, seed) DO NOTHING",
            )
            .bind(campaign_id)
            .bind(t.scenario)
            .bind(t.arm)
            .bind(t.load_profile)
            .bind(t.seed as i64)
            .bind(i64::from(t.run_order))
            .bind(t.duration_s)
            .bind(t.warmup_s)
            .bind(t.wait_mode)
            .bind(&t.params_json)
            .execute(&mut *tx)
            .await?;
            let row = sqlx::query(
                "SELECT id, status FROM trials
                 WHERE campaign_id = ? AND scenario = ? AND arm = ? AND load_profile = ? AND seed = ?",
            )
            .bind(campaign_id)
            .bind(t.scenario)
            .bind(t.arm)
            .bind(t.load_profile)
            .bind(t.seed as i64)
            .fetch_one(&mut *tx)
            .await?;
            let status: String = row.try_get(1)?;
            out.push((row.try_get(0)?, status == "complete"));
        }
        tx.commit().await?;
        Ok((campaign_id, out))
    }

    /// Writes every row of one trial and marks it complete, in one
    /// transaction. Rows a previous, interrupted attempt might have left are
    /// removed first.
    pub async fn write_trial(
        &mut self,
        trial_id: i64,
        rec: &TrialRecords,
        timing: &TrialTiming,
    ) -> Result<()> {
        self.write_trial_inner(trial_id, rec, timing, None).await
    }

    /// [`Store::write_trial`], also replacing the trial's `params_json`
    /// (the local backend adds what it measured about its set-up).
    pub async fn write_trial_with_params(
        &mut self,
        trial_id: i64,
        rec: &TrialRecords,
        timing: &TrialTiming,
        params_json: &str,
    ) -> Result<()> {
        self.write_trial_inner(trial_id, rec, timing, Some(params_json))
            .await
    }

    /// Records that a trial was aborted (it stays `pending`, so a rerun
    /// redoes it).
    pub async fn record_abort(&mut self, trial_id: i64, at: &str, reason: &str) -> Result<()> {
        sqlx::query("INSERT INTO trial_aborts (trial_id, aborted_at, reason) VALUES (?, ?, ?)")
            .bind(trial_id)
            .bind(at)
            .bind(reason)
            .execute(&mut self.conn)
            .await?;
        Ok(())
    }

    async fn write_trial_inner(
        &mut self,
        trial_id: i64,
        rec: &TrialRecords,
        timing: &TrialTiming,
        params_json: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.conn.begin().await?;
        if let Some(params) = params_json {
            sqlx::query("UPDATE trials SET params_json = ? WHERE id = ?")
                .bind(params)
                .bind(trial_id)
                .execute(&mut *tx)
                .await?;
        }
        {
            let mut lock = tx.lock_handle().await?;
            let db = bulk::Db::new(&mut lock);
            for table in TRIAL_TABLES {
                db.prepare(&format!("DELETE FROM {table} WHERE trial_id = ?"))?
                    .bind(trial_id)
                    .run()?;
            }
            insert_rows(&db, trial_id, &rec.requests)?;
            insert_rows(&db, trial_id, &rec.samples)?;
            insert_rows(&db, trial_id, &rec.pod_samples)?;
            insert_rows(&db, trial_id, &rec.gpu_samples)?;
            insert_rows(&db, trial_id, &rec.pods)?;
            insert_rows(&db, trial_id, &rec.clocks)?;
            insert_rows(&db, trial_id, &rec.signals)?;
            let events: Vec<_> = rec.scaling_events.iter().enumerate().collect();
            insert_rows(&db, trial_id, &events)?;
            let decisions: Vec<_> = rec.decisions.iter().enumerate().collect();
            insert_rows(&db, trial_id, &decisions)?;
            db.prepare(
                "UPDATE trials SET status = 'complete', started_at = ?, finished_at = ?, wall_ms = ? WHERE id = ?",
            )?
            .bind(timing.started_at.as_str())
            .bind(timing.finished_at.as_str())
            .bind(timing.wall_ms)
            .bind(trial_id)
            .run()?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// A record with its table: the INSERT's target and how one row binds
/// after the `trial_id` that [`insert_rows`] binds first.
trait TableRow {
    /// `table (trial_id, columns…)`.
    const TARGET: &'static str;
    /// Columns, `trial_id` included.
    const COLUMNS: usize;
    /// Binds the row's own columns.
    fn bind(&self, s: &mut bulk::Stmt<'_>);
}

impl TableRow for RequestRecord {
    const TARGET: &'static str = "requests (trial_id, id, user, user_seq, scheduled_s, sent_s, started_s, finished_s, pod, size, iterations, outcome, latency_ms)";
    const COLUMNS: usize = 13;
    fn bind(&self, s: &mut bulk::Stmt<'_>) {
        s.bind(self.id)
            .bind(self.user)
            .bind(self.user_seq)
            .bind(self.scheduled_s)
            .bind(self.sent_s)
            .bind(self.started_s)
            .bind(self.finished_s)
            .bind(self.pod)
            .bind(self.size)
            .bind(self.iterations)
            .bind(self.outcome.as_str())
            .bind(self.latency_ms);
    }
}

impl TableRow for Sample {
    const TARGET: &'static str = "samples (trial_id, t_s, desired, ready, pending, terminating, gpu_util_mean, gpu_util_max, gpu_mem_used_mib, gpu_power_w, gpu_energy_j, cpu_cores, cpu_pct_request, in_flight, queued, offered, completed, failed)";
    const COLUMNS: usize = 18;
    fn bind(&self, s: &mut bulk::Stmt<'_>) {
        s.bind(self.t_s)
            .bind(self.desired)
            .bind(self.ready)
            .bind(self.pending)
            .bind(self.terminating)
            .bind(self.gpu_util_mean)
            .bind(self.gpu_util_max)
            .bind(self.gpu_mem_used_mib)
            .bind(self.gpu_power_w)
            .bind(self.gpu_energy_j)
            .bind(self.cpu_cores)
            .bind(self.cpu_pct_request)
            .bind(self.in_flight)
            .bind(self.queued)
            .bind(self.offered)
            .bind(self.completed)
            .bind(self.failed);
    }
}

impl TableRow for PodSample {
    const TARGET: &'static str = "pod_samples (trial_id, t_s, pod, state, ready, cpu_cores, cpu_pct_request, gpu_util, in_flight, queued, avg_latency_ms, completed)";
    const COLUMNS: usize = 12;
    fn bind(&self, s: &mut bulk::Stmt<'_>) {
        s.bind(self.t_s)
            .bind(self.pod)
            .bind(self.state)
            .bind(self.ready)
            .bind(self.cpu_cores)
            .bind(self.cpu_pct_request)
            .bind(self.gpu_util)
            .bind(self.in_flight)
            .bind(self.queued)
            .bind(self.avg_latency_ms)
            .bind(self.completed);
    }
}

impl TableRow for GpuSample {
    const TARGET: &'static str =
        "gpu_samples (trial_id, t_s, gpu, util_pct, mem_used_mib, power_w, contexts)";
    const COLUMNS: usize = 7;
    fn bind(&self, s: &mut bulk::Stmt<'_>) {
        s.bind(self.t_s)
            .bind(self.gpu)
            .bind(self.util_pct)
            .bind(self.mem_used_mib)
            .bind(self.power_w)
            .bind(self.contexts);
    }
}

impl TableRow for PodRecord {
    const TARGET: &'static str = "pods (trial_id, pod, name, node, gpu, created_s, scheduled_s, started_s, ready_s, deleted_s, exited_s, restarts, probe_phase_s)";
    const COLUMNS: usize = 13;
    fn bind(&self, s: &mut bulk::Stmt<'_>) {
        s.bind(self.pod)
            .bind(&self.name)
            .bind(&self.node)
            .bind(self.gpu)
            .bind(self.created_s)
            .bind(self.scheduled_s)
            .bind(self.started_s)
            .bind(self.ready_s)
            .bind(self.deleted_s)
            .bind(self.exited_s)
            .bind(self.restarts)
            .bind(self.probe_phase_s);
    }
}

impl TableRow for crate::clocks::ClockRecord {
    const TARGET: &'static str = "trial_clocks (trial_id, clock, scope, period_s, first_s)";
    const COLUMNS: usize = 5;
    fn bind(&self, s: &mut bulk::Stmt<'_>) {
        s.bind(self.clock)
            .bind(self.scope.as_str())
            .bind(self.period_s)
            .bind(self.first_s);
    }
}

impl TableRow for crate::trial::signal::StageRecord {
    const TARGET: &'static str =
        "trial_signals (trial_id, signal, stage, name, period_s, first_s, window_s, emulated)";
    const COLUMNS: usize = 8;
    fn bind(&self, s: &mut bulk::Stmt<'_>) {
        s.bind(self.signal.as_str())
            .bind(self.stage)
            .bind(self.name)
            .bind(self.period_s)
            .bind(self.first_s)
            .bind(self.window_s)
            .bind(self.emulated);
    }
}

impl TableRow for (usize, &ScalingEvent) {
    const TARGET: &'static str =
        "scaling_events (trial_id, seq, t_s, from_replicas, to_replicas, controller, reason)";
    const COLUMNS: usize = 7;
    fn bind(&self, s: &mut bulk::Stmt<'_>) {
        let (i, e) = self;
        s.bind(*i as i64)
            .bind(e.t_s)
            .bind(e.from)
            .bind(e.to)
            .bind(e.controller.as_str())
            .bind(&e.reason);
    }
}

impl TableRow for (usize, &DecisionRecord) {
    const TARGET: &'static str = "decisions (trial_id, seq, t_s, controller, current_replicas, desired_replicas, reason, inputs_json)";
    const COLUMNS: usize = 8;
    fn bind(&self, s: &mut bulk::Stmt<'_>) {
        let (i, d) = self;
        s.bind(*i as i64)
            .bind(d.t_s)
            .bind(d.controller.as_str())
            .bind(d.current)
            .bind(d.desired)
            .bind(&d.reason)
            .bind(&d.inputs_json);
    }
}

/// Inserts `rows` of trial `trial_id`, one prepared one-row INSERT stepped
/// per row.
fn insert_rows<T: TableRow>(db: &bulk::Db<'_>, trial_id: i64, rows: &[T]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let params = vec!["?"; T::COLUMNS].join(", ");
    let mut stmt = db.prepare(&format!("INSERT INTO {} VALUES ({params})", T::TARGET))?;
    for row in rows {
        stmt.bind(trial_id);
        row.bind(&mut stmt);
        stmt.run()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::record::Outcome;

    fn request(id: u32) -> RequestRecord {
        RequestRecord {
            id,
            user: None,
            user_seq: Some(id),
            scheduled_s: 0.5,
            sent_s: 0.5,
            started_s: None,
            finished_s: 1.25,
            pod: Some(3),
            size: 256,
            iterations: 2,
            outcome: Outcome::Timeout,
            latency_ms: 750.0,
        }
    }

    /// A store holding one pending trial; its id.
    async fn one_trial(path: &Path) -> (Store, i64) {
        let mut store = Store::open(path).await.unwrap();
        let meta = CampaignMeta {
            name: "t",
            config_toml: "",
            config_sha256: "x",
            backend: contract::BackendKind::Sim,
            tool_version: "v",
            host: "h",
            created_at: "1970-01-01T00:00:00.000Z",
            arms: &[NewArm {
                name: "a",
                kind: contract::ControllerKind::Hpa,
                baseline: true,
                policy_json: "{}".into(),
            }],
        };
        let trial = NewTrial {
            scenario: "s",
            arm: "a",
            load_profile: "p",
            seed: 1,
            run_order: 0,
            duration_s: 10.0,
            warmup_s: 0.0,
            wait_mode: "spin",
            params_json: String::new(),
        };
        let (_, ids) = store.ensure_campaign(&meta, &[trial]).await.unwrap();
        (store, ids[0].0)
    }

    fn timing() -> TrialTiming {
        TrialTiming {
            started_at: "a".into(),
            finished_at: "b".into(),
            wall_ms: 1.5,
        }
    }

    async fn count(store: &mut Store, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&mut store.conn)
            .await
            .unwrap()
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn migration_0005_gives_older_campaigns_their_arms() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        block_on(async {
            // A dataset as the bench wrote it before `arms` existed.
            let opts = SqliteConnectOptions::from_str("sqlite:")
                .unwrap()
                .filename(&path)
                .create_if_missing(true);
            let mut conn = SqliteConnection::connect_with(&opts).await.unwrap();
            let mut old = sqlx::migrate!("../migrations");
            let before: Vec<_> = old
                .migrations
                .iter()
                .filter(|m| m.version < 5)
                .cloned()
                .collect();
            assert_eq!(before.len(), 4);
            old.migrations = before.into();
            old.run(&mut conn).await.unwrap();
            for (cid, arm, kind) in [
                (1, "userscale", "userscale"),
                (1, "hpa", "hpa"),
                (1, "gpu", "hpa-gpu"),
                (2, "b", "userscale"),
                (2, "a", "hpa"),
            ] {
                sqlx::query(
                    "INSERT OR IGNORE INTO campaigns (id, name, config_toml, config_sha256, backend, tool_version, host, created_at)
                     VALUES (?, 'c', '', ?, 'sim', 'v', 'h', 't')",
                )
                .bind(cid)
                .bind(format!("sha{cid}"))
                .execute(&mut conn)
                .await
                .unwrap();
                for seed in [1, 2] {
                    let params = serde_json::json!({
                        "policy": { "kind": kind, "min_replicas": 1, "max_replicas": 6, "step": seed },
                    });
                    sqlx::query(
                        "INSERT INTO trials (campaign_id, scenario, arm, load_profile, seed, run_order, status,
                                             duration_s, warmup_s, wait_mode, params_json)
                         VALUES (?, 's', ?, 'p', ?, 0, 'complete', 90, 10, 'spin', ?)",
                    )
                    .bind(cid)
                    .bind(arm)
                    .bind(seed)
                    .bind(params.to_string())
                    .execute(&mut conn)
                    .await
                    .unwrap();
                }
            }
            conn.close().await.unwrap();
            // Opening it applies 0005.
            let mut store = Store::open(&path).await.unwrap();
            let rows: Vec<(i64, String, String, i64, bool, String)> = sqlx::query_as(
                "SELECT campaign_id, name, kind, position, baseline, policy_json FROM arms
                 ORDER BY campaign_id, position",
            )
            .fetch_all(&mut store.conn)
            .await
            .unwrap();
            let got: Vec<(i64, &str, &str, i64, bool)> = rows
                .iter()
                .map(|r| (r.0, r.1.as_str(), r.2.as_str(), r.3, r.4))
                .collect();
            assert_eq!(
                got,
                [
                    (1, "hpa", "hpa", 0, true),
                    (1, "gpu", "hpa-gpu", 1, false),
                    (1, "userscale", "userscale", 2, false),
                    (2, "a", "hpa", 0, true),
                    (2, "b", "userscale", 1, false),
                ]
            );
            for r in &rows {
                let policy: serde_json::Value = serde_json::from_str(&r.5).unwrap();
                assert_eq!(policy["kind"], r.2.as_str());
                assert!(policy.get("min_replicas").is_none(), "{policy}");
                assert!(policy.get("max_replicas").is_none(), "{policy}");
            }
        });
    }

    #[test]
    fn a_rewritten_trial_holds_its_rows_once_with_their_values_and_types() {
        let dir = tempfile::tempdir().unwrap();
        block_on(async {
            let (mut store, id) = one_trial(&dir.path().join("d.sqlite")).await;
            let rec = TrialRecords {
                requests: (0..1000).map(request).collect(),
                ..TrialRecords::default()
            };
            store.write_trial(id, &rec, &timing()).await.unwrap();
            store.write_trial(id, &rec, &timing()).await.unwrap();
            assert_eq!(
                count(&mut store, "SELECT count(*) FROM requests").await,
                1000
            );
            let row: (String, String, String, String, String, f64) = sqlx::query_as(
                "SELECT typeof(user), typeof(user_seq), typeof(started_s), typeof(latency_ms), outcome, finished_s
                 FROM requests WHERE id = 7",
            )
            .fetch_one(&mut store.conn)
            .await
            .unwrap();
            assert_eq!(
                row,
                (
                    "null".into(),
                    "integer".into(),
                    "null".into(),
                    "real".into(),
                    "timeout".into(),
                    1.25
                )
            );
            let status: (String, f64) =
                sqlx::query_as("SELECT status, wall_ms FROM trials WHERE id = ?")
                    .bind(id)
                    .fetch_one(&mut store.conn)
                    .await
                    .unwrap();
            assert_eq!(status, ("complete".into(), 1.5));
        });
    }

    #[test]
    fn a_write_that_fails_part_way_leaves_nothing_and_names_the_statement() {
        let dir = tempfile::tempdir().unwrap();
        block_on(async {
            let (mut store, id) = one_trial(&dir.path().join("d.sqlite")).await;
            // Request 5 twice: the second breaks the primary key.
            let rec = TrialRecords {
                requests: (0..10).chain([5]).map(request).collect(),
                ..TrialRecords::default()
            };
            let err = store.write_trial(id, &rec, &timing()).await.unwrap_err();
            match &err {
                Error::Sqlite { statement, .. } => {
                    assert!(statement.starts_with("INSERT INTO requests"), "{err}")
                }
                other => panic!("expected a SQLite error, got {other}"),
            }
            assert_eq!(count(&mut store, "SELECT count(*) FROM requests").await, 0);
            assert_eq!(
                count(
                    &mut store,
                    "SELECT count(*) FROM trials WHERE status = 'pending'"
                )
                .await,
                1
            );
            // The connection is still usable afterwards.
            let rec = TrialRecords {
                requests: (0..10).map(request).collect(),
                ..TrialRecords::default()
            };
            store.write_trial(id, &rec, &timing()).await.unwrap();
            assert_eq!(count(&mut store, "SELECT count(*) FROM requests").await, 10);
        });
    }
}
