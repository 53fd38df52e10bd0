//! Runs a campaign on a backend into the dataset.
//!
//! One code path for every backend: the campaign's trials in their
//! randomised, interleaved order; trials already complete in the dataset are
//! skipped, the rest run (the simulator in parallel on `jobs` threads) and
//! each is committed in its own transaction as it finishes. A run that is
//! killed and started again therefore redoes only the trials it had not
//! committed.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::campaign::{Campaign, Trial};
use crate::record::TrialRecords;
use crate::sim::{run_trial, TrialInput};
use crate::store::{CampaignMeta, NewArm, NewTrial, Store, TrialTiming};
use crate::{Error, Result};
use contract::{BackendKind, ControllerKind, TrialParams};

/// Wall-clock source for the timestamps stored with campaigns and trials.
pub trait Clock: Send + Sync {
    /// Current UTC time, RFC 3339.
    fn now_rfc3339(&self) -> String;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_rfc3339(&self) -> String {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        rfc3339(d.as_secs() as i64, d.subsec_millis())
    }
}

/// Formats Unix seconds as RFC 3339 UTC with milliseconds.
pub fn rfc3339(secs: i64, millis: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The dataset file.
    pub db: PathBuf,
    /// Where the trials run, with that backend's options.
    pub backend: Backend,
    /// Set to stop: the running trial is aborted and left pending.
    pub stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Parallel trials (simulator only).
    pub jobs: usize,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Host description stored with the campaign.
    pub host: String,
}

impl RunOptions {
    /// A run into `db` on `backend`: one trial at a time, no progress bar,
    /// this machine's description, not stopped.
    pub fn new(db: PathBuf, backend: Backend) -> RunOptions {
        RunOptions {
            db,
            backend,
            stop: Default::default(),
            jobs: 1,
            progress: false,
            host: host_description(),
        }
    }
}

/// Where a campaign's trials run.
#[derive(Clone, Debug)]
pub enum Backend {
    /// The embedded discrete-event simulator.
    Sim,
    /// Real workload processes on this machine.
    Local(crate::local::LocalOptions),
    /// The cluster of the kubeconfig.
    K8s(crate::k8s::K8sOptions),
}

impl Backend {
    /// Which backend it is: its name is stored in `campaigns.backend` (and
    /// is the key of the backend's facts in `trials.params_json`).
    pub fn kind(&self) -> BackendKind {
        match self {
            Backend::Sim => BackendKind::Sim,
            Backend::Local(_) => BackendKind::Local,
            Backend::K8s(_) => BackendKind::K8s,
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    /// Campaign id in the dataset.
    pub campaign_id: i64,
    /// Trials in the campaign.
    pub total: usize,
    /// Trials already complete before this run.
    pub skipped: usize,
    /// Trials run now.
    pub ran: usize,
    /// Rows written.
    pub rows: usize,
    /// Wall seconds.
    pub wall_s: f64,
}

/// A description of this machine for the campaign row.
pub fn host_description() -> String {
    let name = std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "{name} ({}-{}, {cpus} CPUs)",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// The parameters stored with a trial (`trials.params_json`), with what a
/// real backend recorded about it (`facts`, stored under its name).
pub fn trial_params(
    t: &Trial<'_>,
    backend: BackendKind,
    facts: Option<serde_json::Value>,
) -> Result<String> {
    let params = TrialParams {
        scenario: t.scenario,
        policy: &t.policy,
        load_profile: t.profile,
        load_steps_s: t.profile.load_steps(),
        seed: t.seed,
        duration_s: t.duration_s,
        warmup_s: t.warmup_s,
        backend,
        facts: facts
            .map(|f| (backend.as_str().to_string(), f))
            .into_iter()
            .collect(),
    };
    // Through a `Value`, whose keys are sorted, as the stored documents'
    // have always been.
    serde_json::to_value(&params)
        .map(|v| v.to_string())
        .map_err(|e| Error::Dataset(format!("{}: its parameters as JSON: {e}", t.label())))
}

/// Runs one trial on the simulator.
pub fn simulate(t: &Trial<'_>) -> Result<TrialRecords> {
    run_trial(&TrialInput::of(t)).map_err(|e| Error::Simulation {
        trial: t.label(),
        source: e,
    })
}

/// Runs `campaign` into the dataset, skipping complete trials.
pub fn run_campaign(
    campaign: &Campaign,
    opts: &RunOptions,
    clock: &dyn Clock,
) -> Result<RunSummary> {
    // The cluster first: with none reachable, nothing is written.
    let cluster = match &opts.backend {
        Backend::K8s(k8s) => Some(prepare_k8s(campaign, k8s)?),
        Backend::Local(local) if !local.workload_bin.exists() => {
            return Err(Error::Local(format!(
                "local backend: workload binary {} not found; build it with `cargo build --release -p workload` or pass --workload-bin",
                local.workload_bin.display()
            )));
        }
        _ => None,
    };
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| Error::Io {
            path: opts.db.clone(),
            source: e,
        })?;
    if let Some(dir) = opts.db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io {
            path: dir.to_path_buf(),
            source: e,
        })?;
    }
    let plan = campaign.plan();
    let new_trials: Vec<NewTrial<'_>> = plan
        .iter()
        .map(|t| {
            Ok(NewTrial {
                scenario: &t.spec().name,
                arm: t.arm,
                load_profile: &t.profile.name,
                seed: t.seed,
                run_order: t.run_order,
                duration_s: t.duration_s,
                warmup_s: t.warmup_s,
                wait_mode: t.spec().pod.wait_mode.as_str(),
                params_json: trial_params(t, opts.backend.kind(), None)?,
            })
        })
        .collect::<Result<_>>()?;
    let arms = new_arms(campaign)?;
    let mut store = rt.block_on(Store::open(&opts.db))?;
    let created_at = clock.now_rfc3339();
    let (campaign_id, ids) = rt.block_on(store.ensure_campaign(
        &CampaignMeta {
            name: &campaign.file.name,
            config_toml: &campaign.text,
            config_sha256: &campaign.sha256,
            backend: opts.backend.kind(),
            tool_version: env!("CARGO_PKG_VERSION"),
            host: &opts.host,
            created_at: &created_at,
            arms: &arms,
        },
        &new_trials,
    ))?;
    let todo: Vec<(usize, i64)> = ids
        .iter()
        .enumerate()
        .filter(|(_, (_, done))| !done)
        .map(|(i, (id, _))| (i, *id))
        .collect();
    let skipped = plan.len() - todo.len();

    let bar = if opts.progress {
        ProgressBar::with_draw_target(Some(todo.len() as u64), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed:>4} [{bar:30}] {pos}/{len} trials  ETA {eta}  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    if skipped > 0 {
        bar.set_message(format!("({skipped} already complete)"));
    }

    let result = match (&opts.backend, &cluster) {
        (Backend::K8s(k8s), Some((krt, conn))) => {
            let mut trial = |t: &Trial<'_>, show: &(dyn Fn(&str) + Sync)| {
                krt.block_on(crate::k8s::run_trial(conn, t, k8s, &opts.stop, show))
                    .map(|(rec, facts)| (rec, json!(facts)))
            };
            run_sequential(opts, clock, &rt, &mut store, &plan, &todo, &bar, &mut trial)
        }
        (Backend::Local(local), _) => {
            // Replicas an earlier, crashed run left behind go first.
            let registry = crate::local::reaper::registry_path(&opts.db);
            let leftovers = crate::local::reaper::sweep(&registry).map_err(|e| Error::Io {
                path: registry.clone(),
                source: e,
            })?;
            if !leftovers.is_empty() {
                bar.suspend(|| {
                    tracing::warn!(
                        "stopped {} workload replica(s) an earlier run left behind (pids {leftovers:?})",
                        leftovers.len()
                    )
                });
            }
            let local = crate::local::LocalOptions {
                replica_registry: Some(registry.clone()),
                ..local.clone()
            };
            let mut trial = |t: &Trial<'_>, show: &(dyn Fn(&str) + Sync)| {
                crate::local::run_trial(t, &local, &opts.stop, show)
                    .map(|(rec, facts)| (rec, json!(facts)))
            };
            let result =
                run_sequential(opts, clock, &rt, &mut store, &plan, &todo, &bar, &mut trial);
            // Every trial stops its replicas before it returns.
            let _ = crate::local::reaper::remove(&registry);
            result
        }
        (Backend::K8s(_), None) => Err(Error::Cluster(
            "k8s backend: no connection to the cluster".into(),
        )),
        (Backend::Sim, _) => run_simulated(opts, clock, &rt, &mut store, &plan, &todo, &bar),
    };
    let counts = finish(result, rt, store, bar);
    let (ran, rows) = counts?;
    Ok(RunSummary {
        campaign_id,
        total: plan.len(),
        skipped,
        ran,
        rows,
        wall_s: started.elapsed().as_secs_f64(),
    })
}

/// Ends a run on any backend: the progress bar cleared and the dataset
/// closed, whether the trials succeeded or not.
fn finish(
    result: Result<(usize, usize)>,
    rt: tokio::runtime::Runtime,
    store: Store,
    bar: ProgressBar,
) -> Result<(usize, usize)> {
    bar.finish_and_clear();
    match result {
        Ok(v) => {
            rt.block_on(store.close())?;
            Ok(v)
        }
        Err(e) => {
            let _ = rt.block_on(store.close());
            Err(e)
        }
    }
}

/// The simulator: trials on `opts.jobs` threads, each committed as it
/// arrives.
#[allow(clippy::too_many_arguments)]
fn run_simulated(
    opts: &RunOptions,
    clock: &dyn Clock,
    rt: &tokio::runtime::Runtime,
    store: &mut Store,
    plan: &[Trial<'_>],
    todo: &[(usize, i64)],
    bar: &ProgressBar,
) -> Result<(usize, usize)> {
    let jobs = opts.jobs.max(1).min(todo.len().max(1));
    let next = AtomicUsize::new(0);
    let mut rows = 0usize;
    let mut ran = 0usize;
    let result: Result<()> = std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<(i64, Result<TrialRecords>, TrialTiming)>(jobs * 2);
        for _ in 0..jobs {
            let tx = tx.clone();
            let (todo, next, plan) = (&todo, &next, &plan);
            scope.spawn(move || loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(i, id)) = todo.get(k) else { break };
                let started_at = clock.now_rfc3339();
                let t0 = Instant::now();
                let rec = simulate(&plan[i]);
                let timing = TrialTiming {
                    started_at,
                    finished_at: clock.now_rfc3339(),
                    wall_ms: t0.elapsed().as_secs_f64() * 1000.0,
                };
                if tx.send((id, rec, timing)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for (id, rec, timing) in rx {
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    // Stop the workers: nothing more is taken. The trial
                    // stays pending, its abort recorded with the reason.
                    next.store(usize::MAX / 2, Ordering::Relaxed);
                    rt.block_on(store.record_abort(id, &clock.now_rfc3339(), &e.to_string()))?;
                    return Err(e);
                }
            };
            if let Err(e) = rt.block_on(store.write_trial(id, &rec, &timing)) {
                next.store(usize::MAX / 2, Ordering::Relaxed);
                return Err(e);
            }
            rows += rec.row_count();
            ran += 1;
            bar.inc(1);
        }
        Ok(())
    });
    result.map(|()| (ran, rows))
}

/// Connects to the cluster (a runtime of its own, with I/O and timers) and
/// checks that the campaign's arms map onto the base's objects: one arm per
/// controller kind.
/// The campaign's `arms` rows, in display order.
pub fn new_arms(campaign: &Campaign) -> Result<Vec<NewArm<'_>>> {
    campaign
        .arm_order()
        .into_iter()
        .filter_map(|name| campaign.arms.get(name).map(|p| (name, p)))
        .map(|(name, policy)| {
            let mut json = serde_json::to_value(policy).map_err(|e| {
                Error::Dataset(format!("arm `{name}`: its policy cannot be written: {e}"))
            })?;
            if let Some(fields) = json.as_object_mut() {
                fields.remove("min_replicas");
                fields.remove("max_replicas");
            }
            Ok(NewArm {
                name,
                kind: policy.kind(),
                baseline: name == campaign.baseline,
                policy_json: json.to_string(),
            })
        })
        .collect()
}

fn prepare_k8s(
    campaign: &Campaign,
    k8s: &crate::k8s::K8sOptions,
) -> Result<(tokio::runtime::Runtime, crate::k8s::Connection)> {
    let mut kinds: Vec<&str> = Vec::new();
    for (arm, p) in &campaign.arms {
        if !matches!(p.kind(), ControllerKind::Hpa | ControllerKind::Userscale) {
            return Err(Error::Cluster(format!(
                "k8s backend: arm `{arm}` is of kind `{}`, which the cluster's base does not deploy (it runs the `hpa` and `userscale` arms; an `hpa-gpu` arm needs the DCGM exporter, Prometheus and prometheus-adapter, a `keda` arm KEDA and Prometheus, a `kpa` arm Knative, a `ray` arm Ray Serve); run it with --backend sim or local",
                p.name()
            )));
        }
        if kinds.contains(&p.name()) {
            return Err(Error::Cluster(format!(
                "k8s backend: arm `{arm}` is a second `{}` arm; the cluster has one Deployment per controller kind (hpa-app, userscale-app)",
                p.name()
            )));
        }
        kinds.push(p.name());
    }
    for s in &campaign.scenarios {
        if s.spec.sim.routing == crate::campaign::Routing::LeastOutstanding {
            return Err(Error::Cluster(format!(
                "k8s backend: scenario `{}`: routing `least-outstanding` is not supported; use `random` or `round-robin`",
                s.spec.name
            )));
        }
    }
    crate::k8s::manifests::render(&k8s.manifests)?;
    let krt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Cluster(format!("starting the Kubernetes client runtime: {e}")))?;
    let conn = krt.block_on(crate::k8s::connect(k8s.context.as_deref()))?;
    krt.block_on(crate::k8s::check_deployed(&conn, &k8s.manifests))?;
    Ok((krt, conn))
}

/// A trial of a real backend: its records and the facts stored under the
/// backend's name in `params_json`.
type RealTrial<'a> =
    dyn FnMut(&Trial<'_>, &(dyn Fn(&str) + Sync)) -> Result<(TrialRecords, serde_json::Value)> + 'a;

/// The real backends (local, k8s): trials one after another. An interrupted
/// or failed trial is recorded in `trial_aborts` and stays pending, so a
/// rerun redoes it; completed trials are already committed.
#[allow(clippy::too_many_arguments)]
fn run_sequential(
    opts: &RunOptions,
    clock: &dyn Clock,
    rt: &tokio::runtime::Runtime,
    store: &mut Store,
    plan: &[Trial<'_>],
    todo: &[(usize, i64)],
    bar: &ProgressBar,
    trial: &mut RealTrial<'_>,
) -> Result<(usize, usize)> {
    let (mut ran, mut rows) = (0, 0);
    for &(i, id) in todo {
        let p = &plan[i];
        let label = p.label();
        let started_at = clock.now_rfc3339();
        let t0 = Instant::now();
        let show = |msg: &str| {
            bar.set_message(format!("{label}: {msg}"));
            crate::watch::write_live(
                &opts.db,
                &crate::watch::Live {
                    trial: label.clone(),
                    line: msg.to_string(),
                    updated_at: clock.now_rfc3339(),
                },
            );
        };
        let result = trial(p, &show);
        crate::watch::clear_live(&opts.db);
        let (rec, facts) = match result {
            Ok(v) => v,
            Err(e) => {
                let reason = e.to_string();
                rt.block_on(store.record_abort(id, &clock.now_rfc3339(), &reason))?;
                return Err(e);
            }
        };
        let timing = TrialTiming {
            started_at,
            finished_at: clock.now_rfc3339(),
            wall_ms: t0.elapsed().as_secs_f64() * 1000.0,
        };
        let params = trial_params(p, opts.backend.kind(), Some(facts))?;
        rt.block_on(store.write_trial_with_params(id, &rec, &timing, &params))?;
        rows += rec.row_count();
        ran += 1;
        bar.inc(1);
    }
    Ok((ran, rows))
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(rfc3339(1_795_825_275, 0), "2026-11-28T00:21:15.000Z");
    }
}
