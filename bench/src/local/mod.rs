//! The local backend: a trial for real on this machine.
//!
//! Replicas are `workload serve` processes on loopback ports; a request goes
//! to a ready replica picked as the scenario's routing says (random, as
//! kube-proxy's iptables mode, or round-robin). The load generator replays
//! the seed's schedule from [`crate::profile`] — the same function the
//! simulator uses — and measures latency from the scheduled instant.
//!
//! * [`replicas`]: the replica set (start, readiness probes every
//!   `sim.probe_period_s`, replacement, SIGTERM then SIGKILL after
//!   `sim.grace_period_s`);
//! * [`sampler`]: every replica's `/metrics.json` and process CPU once a
//!   second into the shared [`crate::trial::sampler`], and the process CPU
//!   at each metrics-server scrape (from the trial's scrape phase) into the
//!   shared [`crate::trial::signal`] stage the HPA reads;
//! * [`controller`]: the arm's policy from `scaler` on its own period,
//!   through the shared control step.
//!
//! The result is the same [`TrialRecords`] the simulator produces.
//!
//! Each trial starts from fresh processes at `min_replicas`, waits until
//! they are ready, idle and scraped twice by the emulated metrics-server
//! (so a policy reading CPU has a value from its first tick, as on a
//! cluster and in the simulator), and stops every process at the end, so
//! nothing carries over between trials or arms.

pub use scaler::cluster::http;
pub mod reaper;

mod controller;
mod replicas;
mod sampler;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::campaign::Trial;
use crate::loadgen::{self, LiveLatency, Target};
use crate::record::TrialRecords;
use crate::route::Router;
use crate::trial::signal::{MetricsServer, PodSeries, Site};
use crate::trial::timeline::TrialTime;
use crate::{Error, Result};
use replicas::{lock, Cluster, Setup};

/// How the local backend runs replicas.
#[derive(Clone, Debug, Serialize)]
pub struct LocalOptions {
    /// The `workload` binary.
    pub workload_bin: PathBuf,
    /// The workload's backend: `auto`, `gpu` or `cpu`.
    pub workload_backend: String,
    /// CPU threads per replica on the CPU backend.
    pub cpu_threads: u32,
    /// Longest wait for the initial replicas to become ready, seconds.
    pub startup_timeout_s: f64,
    /// Least idle time after the initial replicas are ready, before the
    /// trial; the trial also waits for two metrics-server scrapes of them.
    pub settle_s: f64,
    /// Fault injection: kill (SIGKILL) one ready replica this many seconds
    /// into each trial; the replica set replaces it.
    pub kill_replica_at_s: Option<f64>,
    /// Where every replica's pid is registered (see [`reaper`]); the run
    /// sets it beside the dataset.
    #[serde(skip)]
    pub replica_registry: Option<PathBuf>,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            workload_bin: default_workload_bin(),
            workload_backend: "auto".into(),
            cpu_threads: 1,
            startup_timeout_s: 60.0,
            settle_s: 1.0,
            kill_replica_at_s: None,
            replica_registry: None,
        }
    }
}

/// The `workload` binary next to the running executable (both are built
/// into the same target directory).
pub fn default_workload_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("workload")))
        .unwrap_or_else(|| PathBuf::from("workload"))
}

/// The running part of a trial: its start, its end and the stop flag.
#[derive(Clone, Copy)]
struct Span<'a> {
    t0: Instant,
    end: Instant,
    stop: &'a AtomicBool,
}

/// Facts about a local trial stored in its `params_json` under `local`.
#[derive(Clone, Debug, Serialize)]
pub struct LocalFacts {
    /// Options the trial ran with.
    pub options: LocalOptions,
    /// Where `gpu_util` comes from: `nvml` (a GPU) or `device-busy` (the
    /// workload's own busy share, standing in when there is no GPU).
    pub gpu_utilization_source: String,
    /// Whether a per-replica CPU limit was applied (not yet supported:
    /// always false; replicas share the machine's CPUs).
    pub cpu_limit_applied: bool,
    /// Injected faults: (seconds into the trial, pod killed).
    pub faults: Vec<(f64, u32)>,
}

/// Runs one trial for real on this machine.
pub fn run_trial(
    t: &Trial<'_>,
    opts: &LocalOptions,
    stop: &Arc<AtomicBool>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(TrialRecords, LocalFacts)> {
    let spec = t.spec();
    let setup = Setup::new(t, opts)?;
    let mut policy = t.policy.build();
    // Fresh replicas at min, ready and idle before the trial starts.
    let cluster = Arc::new(Mutex::new(Cluster {
        pods: Vec::new(),
        spec_replicas: spec.min_replicas,
        router: Router::new(spec.sim.routing, t.seed),
    }));
    replicas::start(&cluster, &setup, spec.min_replicas, opts, stop)?;
    // Idle before the trial: to a metrics pipeline nothing was in flight
    // and their devices read 0 %.
    for p in &mut lock(&cluster).pods {
        p.series = PodSeries::idle_before(true);
    }
    // The trial starts once metrics-server has scraped the idle replicas
    // twice (the sampler scrapes from then), as it has the pods of a
    // cluster and the simulator's initial pods; at least `settle_s`.
    let settle_s = MetricsServer::of(&setup.clocks).settle_s(opts.settle_s);
    let settle = Duration::try_from_secs_f64(settle_s)
        .map_err(|e| Error::Local(format!("local: settle time {settle_s} s: {e}")))?;
    let t0 = Instant::now() + settle;
    let span = Span {
        t0,
        end: t0 + Duration::from_secs_f64(t.duration_s),
        stop,
    };
    let done = AtomicBool::new(false);
    let live = Arc::new(LiveLatency::default());
    let mut out = TrialRecords::default();
    let (cluster_ref, setup_ref, span_ref, done_ref) = (&*cluster, &setup, &span, &done);
    let ran = std::thread::scope(|scope| {
        // Housekeeping every 20 ms until the end of the trial's teardown.
        let hk = scope.spawn(move || {
            while !done_ref.load(Ordering::SeqCst) {
                replicas::housekeeping(cluster_ref, setup_ref);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let live_ref = &*live;
        let sampler = scope.spawn(move || {
            sampler::run(
                cluster_ref,
                span_ref,
                spec,
                &setup_ref.clocks,
                live_ref,
                progress,
            )
        });
        let cpu_request_m = u64::from(spec.pod.cpu_request_m);
        let policy = policy.as_mut();
        let controller = scope.spawn(move || {
            controller::run(cluster_ref, setup_ref, span_ref, policy, cpu_request_m)
        });
        let fault = opts
            .kill_replica_at_s
            .map(|at_s| scope.spawn(move || kill_one_at(cluster_ref, span_ref, at_s)));
        // The load: runs until the end and until every request has an
        // outcome (each has the profile's client time-out).
        let target = Arc::clone(&cluster) as Arc<dyn Target>;
        let requests = loadgen::replay(
            t.profile,
            t.seed,
            t.duration_s,
            t0,
            target,
            stop,
            Some(Arc::clone(&live)),
        );
        let fault = fault.and_then(|h| h.join().ok()).flatten();
        let sampler = sampler.join();
        let control = controller.join();
        replicas::stop_all(cluster_ref, setup_ref);
        done_ref.store(true, Ordering::SeqCst);
        let _ = hk.join();
        let panicked = |what: &str| Error::Local(format!("local: {what} thread panicked"));
        let sampler = sampler.map_err(|_| panicked("sampler"))?;
        let control = control.map_err(|_| panicked("controller"))??;
        Ok::<_, Error>((requests?, sampler, control, fault))
    });
    let (requests, sampler, control, fault) = ran?;
    if stop.load(Ordering::SeqCst) {
        return Err(Error::Interrupted);
    }
    let gpu_utilization_source = sampler.gpu_source().to_string();
    sampler.finish(&mut out);
    control.finish(&mut out);
    crate::trial::fill_counts(&mut out, &requests);
    out.requests = requests;
    out.pods = lock(&cluster)
        .pods
        .iter()
        .map(|p| {
            let phase = setup.clocks.probe_phase_s(p.life.num);
            p.life.record(t0, None, Some(phase))
        })
        .collect();
    out.clocks = setup.clocks.records();
    out.signals = t.signal_stages(Site::Local);
    let facts = LocalFacts {
        options: opts.clone(),
        gpu_utilization_source,
        cpu_limit_applied: false,
        faults: fault.into_iter().collect(),
    };
    Ok((out, facts))
}

/// Fault injection: kills one serving replica `at_s` into the trial; the
/// replica set replaces it. Returns when and which.
fn kill_one_at(cluster: &Mutex<Cluster>, span: &Span<'_>, at_s: f64) -> Option<(f64, u32)> {
    sleep_until(span.t0 + Duration::from_secs_f64(at_s), span.stop);
    if span.stop.load(Ordering::SeqCst) {
        return None;
    }
    let mut c = lock(cluster);
    let i = c.pods.iter().position(|p| p.life.serving)?;
    c.pods[i].kill();
    Some((Instant::now().secs_from(span.t0), i as u32))
}

/// Sleeps until `t`, waking early when `stop` is set.
fn sleep_until(t: Instant, stop: &AtomicBool) {
    loop {
        let now = Instant::now();
        if now >= t || stop.load(Ordering::SeqCst) {
            return;
        }
        std::thread::sleep((t - now).min(Duration::from_millis(20)));
    }
}
