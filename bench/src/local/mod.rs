//! The local backend: a trial for real on this machine.
//!
//! Replicas are `workload serve` processes on loopback ports; a request goes
//! to a ready replica picked as the scenario's routing says (random, as
//! kube-proxy's iptables mode, or round-robin). The load generator replays
//! the seed's schedule from [`crate::profile`] — the same function the
//! simulator uses — and measures latency from the scheduled instant. A
//! sampler reads every replica's `/metrics.json` and its process CPU from
//! procfs once a second; CPU for the HPA is windowed like metrics-server
//! (`sim.metric_resolution_s`). The arm's policy from `scaler` runs on its
//! own period and acts by starting replicas (counted once `/readyz`
//! answers, polled every `sim.probe_period_s`) and stopping them (SIGTERM,
//! then SIGKILL after `sim.grace_period_s`). The result is the same
//! [`TrialRecords`] the simulator produces.
//!
//! Each trial starts from fresh processes at `min_replicas`, waits until
//! they are ready and idle, and stops every process at the end, so nothing
//! carries over between trials or arms.

pub use scaler::cluster::http;
pub mod loadgen;
pub mod reaper;

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use scaler::{Observation, PodObservation, PodPhase};
use serde::Serialize;

use crate::campaign::{Campaign, Routing, TrialPlan, WaitMode};
use crate::clocks::TrialClocks;
use crate::record::{Outcome, PodRecord, TrialRecords};
use crate::route::Router;
use crate::trial::control::ControlLog;
use crate::trial::sampler::{GpuReading, PodNow, PodReading, Sampler};
use crate::{Error, Result};
use scaler::cluster::PodMetrics;

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
    /// Idle time after the initial replicas are ready, before the trial.
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

struct Pod {
    name: String,
    child: Child,
    pid: u32,
    addr: Option<SocketAddr>,
    addr_rx: mpsc::Receiver<SocketAddr>,
    created: Instant,
    ready: Option<Instant>,
    next_probe: Instant,
    deleted: Option<Instant>,
    exited: Option<Instant>,
    kill_at: Option<Instant>,
    /// (time, process CPU seconds) at the previous one-second sample.
    cpu_prev: Option<(Instant, f64)>,
    /// metrics-server scrapes: (time, process CPU seconds), last two.
    scrapes: VecDeque<(Instant, f64)>,
}

impl Pod {
    fn live(&self) -> bool {
        self.exited.is_none()
    }
    fn routable(&self) -> bool {
        self.ready.is_some() && self.deleted.is_none() && self.exited.is_none()
    }
}

/// The replicas of one trial and the state the threads share.
struct Cluster {
    pods: Vec<Pod>,
    spec_replicas: u32,
    router: Router,
}

/// Everything a trial needs that does not change while it runs.
struct Setup {
    bin: PathBuf,
    args: Vec<String>,
    probe_period: Duration,
    grace: Duration,
    registry: Option<PathBuf>,
    probe_initial_delay_s: f64,
    /// The trial's clock phases (the probe ticker's per pod).
    clocks: TrialClocks,
}

fn lock(c: &Mutex<Cluster>) -> MutexGuard<'_, Cluster> {
    c.lock().unwrap_or_else(|e| e.into_inner())
}

fn secs(t: Instant, t0: Instant) -> f64 {
    if t >= t0 {
        t.duration_since(t0).as_secs_f64()
    } else {
        -t0.duration_since(t).as_secs_f64()
    }
}

impl Setup {
    fn probe_offset(&self, pod: u32) -> Duration {
        Duration::try_from_secs_f64(self.probe_initial_delay_s + self.clocks.probe_phase_s(pod))
            .unwrap_or(Duration::ZERO)
    }

    fn spawn(&self, pod: u32) -> Result<Pod> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = reaper::spawn_tied(cmd).map_err(|e| {
                Error::Local(format!(
                    "local: cannot start {} ({e}); build it with `cargo build --release -p workload` or pass --workload-bin",
                    self.bin.display()
                ))
            })?;
        if let Some(registry) = &self.registry {
            if let Err(e) = reaper::register(registry, child.id()) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::Local(format!(
                    "local: cannot register replica {} in {}: {e}",
                    child.id(),
                    registry.display()
                )));
            }
        }
        let (tx, rx) = mpsc::channel();
        if let Some(stderr) = child.stderr.take() {
            // Reads the listening address, then drains the log so the
            // child never blocks on a full pipe.
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                    if let Some(a) = line.strip_prefix("workload: listening on ") {
                        if let Ok(addr) = a.trim().parse() {
                            let _ = tx.send(addr);
                        }
                    }
                }
            });
        }
        let now = Instant::now();
        Ok(Pod {
            name: format!("workload-{pod}"),
            pid: child.id(),
            child,
            addr: None,
            addr_rx: rx,
            created: now,
            ready: None,
            // The first probe after the initial delay and the pod's own
            // ticker phase, as in the simulator.
            next_probe: now + self.probe_offset(pod),
            deleted: None,
            exited: None,
            kill_at: None,
            cpu_prev: None,
            scrapes: VecDeque::new(),
        })
    }
}

fn terminate(p: &mut Pod, now: Instant, grace: Duration) {
    if p.deleted.is_some() || p.exited.is_some() {
        return;
    }
    p.deleted = Some(now);
    p.kill_at = Some(now + grace);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(p.pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
}

/// Process CPU seconds (user + system) of `pid` from /proc.
fn process_cpu_s(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at ") ".
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

fn clock_ticks() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100.0, |t| t as f64)
}

/// Housekeeping: addresses, exits, forced kills after the grace period and
/// readiness probes.
fn housekeeping(cluster: &Mutex<Cluster>, setup: &Setup) {
    let mut probes = Vec::new();
    {
        let mut c = lock(cluster);
        // The clock is read under the lock, so an exit is never stamped
        // before a kill that another thread recorded while holding it.
        let now = Instant::now();
        for (i, p) in c.pods.iter_mut().enumerate() {
            if p.addr.is_none() {
                p.addr = p.addr_rx.try_recv().ok();
            }
            if p.exited.is_none() {
                if let Ok(Some(_)) = p.child.try_wait() {
                    p.exited = Some(now);
                } else if p.kill_at.is_some_and(|k| now >= k) {
                    let _ = p.child.kill();
                }
            }
            if p.ready.is_none() && p.deleted.is_none() && p.exited.is_none() && now >= p.next_probe
            {
                if let Some(a) = p.addr {
                    probes.push((i, a));
                }
                p.next_probe = now + setup.probe_period;
            }
        }
    }
    // A replica set keeps `spec_replicas` live: replace replicas that
    // exited without being asked to (a crash or an injected fault).
    {
        let mut c = lock(cluster);
        let active = c
            .pods
            .iter()
            .filter(|p| p.live() && p.deleted.is_none())
            .count();
        let want = c.spec_replicas as usize;
        for _ in active..want {
            let n = c.pods.len() as u32;
            match setup.spawn(n) {
                Ok(p) => c.pods.push(p),
                Err(_) => break,
            }
        }
    }
    for (i, addr) in probes {
        let ok = http::request_blocking(addr, "GET", "/readyz", Duration::from_millis(500))
            .is_ok_and(|r| r.status == 200);
        if ok {
            let mut c = lock(cluster);
            if let Some(p) = c.pods.get_mut(i) {
                if p.deleted.is_none() && p.ready.is_none() {
                    p.ready = Some(Instant::now());
                }
            }
        }
    }
}

fn read_metrics(addr: SocketAddr) -> Option<PodMetrics> {
    let r =
        http::request_blocking(addr, "GET", "/metrics.json", Duration::from_millis(500)).ok()?;
    if r.status != 200 {
        return None;
    }
    // The reader `scaler run` and the k8s backend use; a reading outside
    // its physical range counts as no reading.
    let m = PodMetrics::parse(&r.body)?;
    m.check().ok()?;
    Some(m)
}

/// GPU memory, power and energy from a replica's `/metrics`.
fn read_gpu_families(addr: SocketAddr) -> Option<GpuReading> {
    let r = http::request_blocking(addr, "GET", "/metrics", Duration::from_millis(500)).ok()?;
    gpu_families(&String::from_utf8(r.body).ok()?)
}

/// GPU memory (MiB), power (W) and energy (J) from a `/metrics` text.
pub(crate) fn gpu_families(text: &str) -> Option<GpuReading> {
    let value = |family: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(family) && l[family.len()..].starts_with('{'))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    Some(GpuReading {
        mem_used_mib: value("workload_gpu_memory_used_bytes")? / 1048576.0,
        power_w: value("workload_gpu_power_watts").unwrap_or(0.0),
        energy_j: value("workload_gpu_energy_joules_total").unwrap_or(0.0),
    })
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

/// Runs one planned trial for real on this machine.
pub fn run_trial(
    c: &Campaign,
    plan: &TrialPlan,
    opts: &LocalOptions,
    stop: &Arc<AtomicBool>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(TrialRecords, LocalFacts)> {
    let scenario = &c.scenarios[plan.scenario];
    let spec = &scenario.spec;
    let profile = c.profile(plan.profile);
    let policy_cfg = c
        .policy(&plan.arm, plan.scenario)
        .ok_or_else(|| Error::Dataset(format!("no arm `{}`", plan.arm)))?;
    let mut policy = policy_cfg.build();
    let clocks = TrialClocks::draw(plan.seed, &plan.arm, policy.interval_s(), &spec.sim);
    let duration = c.file.duration_s;
    let wait_mode = match spec.pod.wait_mode {
        WaitMode::Spin => "spin",
        WaitMode::Yield => "yield",
        WaitMode::Blocking => "blocking-sync",
    };
    let setup = Setup {
        bin: opts.workload_bin.clone(),
        args: [
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--backend",
            &opts.workload_backend,
            "--workers",
            &spec.pod.workers.to_string(),
            "--queue",
            &spec.pod.queue_capacity.to_string(),
            "--wait-mode",
            wait_mode,
            "--cpu-threads",
            &opts.cpu_threads.to_string(),
            "--latency-window-s",
            &spec.sim.latency_window_s.to_string(),
            "--grace-s",
            &spec.sim.grace_period_s.max(0.1).to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        probe_period: Duration::from_secs_f64(spec.sim.probe_period_s.max(0.05)),
        grace: Duration::from_secs_f64(spec.sim.grace_period_s.max(0.0)),
        registry: opts.replica_registry.clone(),
        probe_initial_delay_s: spec.sim.probe_initial_delay_s,
        clocks,
    };
    if spec.sim.routing == Routing::LeastOutstanding {
        return Err(Error::Local(
            "local: routing `least-outstanding` is not supported; use `random` or `round-robin`"
                .into(),
        ));
    }
    if !setup.bin.exists() {
        return Err(Error::Local(format!(
            "local: workload binary {} not found; build it with `cargo build --release -p workload` or pass --workload-bin",
            setup.bin.display()
        )));
    }

    // Fresh replicas at min, ready and idle before the trial starts.
    let cluster = Arc::new(Mutex::new(Cluster {
        pods: Vec::new(),
        spec_replicas: spec.min_replicas,
        router: Router::new(spec.sim.routing, plan.seed),
    }));
    for i in 0..spec.min_replicas {
        let p = setup.spawn(i)?;
        lock(&cluster).pods.push(p);
    }
    let deadline = Instant::now() + Duration::from_secs_f64(opts.startup_timeout_s);
    loop {
        housekeeping(&cluster, &setup);
        let c = lock(&cluster);
        if c.pods.iter().all(|p| p.ready.is_some()) {
            break;
        }
        if let Some(p) = c.pods.iter().find(|p| p.exited.is_some()) {
            let name = p.name.clone();
            drop(c);
            stop_all(&cluster, &setup);
            return Err(Error::Local(format!(
                "local: replica {name} exited during start-up (try `{} serve --backend {}` by hand)",
                setup.bin.display(),
                opts.workload_backend
            )));
        }
        drop(c);
        if stop.load(Ordering::SeqCst) {
            stop_all(&cluster, &setup);
            return Err(Error::Interrupted);
        }
        if Instant::now() > deadline {
            stop_all(&cluster, &setup);
            return Err(Error::Local(format!(
                "local: replicas not ready within {} s",
                opts.startup_timeout_s
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs_f64(opts.settle_s));

    let t0 = Instant::now();
    let end = t0 + Duration::from_secs_f64(duration);
    let done = Arc::new(AtomicBool::new(false));
    let mut out = TrialRecords::default();
    let mut gpu_source = String::from("unknown");
    let mut faults_seen: Vec<(f64, u32)> = Vec::new();
    let live = Arc::new(loadgen::LiveLatency::default());

    let result = std::thread::scope(|scope| -> Result<Vec<crate::record::RequestRecord>> {
        // Housekeeping every 20 ms until the end of the trial's teardown.
        let hk = {
            let (cluster, setup, done) = (&cluster, &setup, &done);
            scope.spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    housekeeping(cluster, setup);
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        // Sampler: one sample a second.
        let sampler = {
            let (cluster, live) = (&cluster, &live);
            let resolution = spec.sim.metric_resolution_s.max(1.0);
            // metrics-server's scrapes: at the trial's phase, then every
            // resolution (as the simulator places them).
            let scrape_offset = setup.clocks.scrape.first_s;
            let cpu_request_m = f64::from(spec.pod.cpu_request_m);
            scope.spawn(move || {
                let mut sampler = Sampler::new(cpu_request_m);
                let mut k = 1u32;
                let mut next_scrape = t0 + Duration::from_secs_f64(scrape_offset);
                while t0 + Duration::from_secs(u64::from(k)) <= end && !stop.load(Ordering::SeqCst)
                {
                    let at = t0 + Duration::from_secs(u64::from(k));
                    sleep_until(at, stop);
                    let targets: Vec<(usize, Option<SocketAddr>, u32)> = lock(cluster)
                        .pods
                        .iter()
                        .enumerate()
                        .filter(|(_, p)| p.live())
                        .map(|(i, p)| (i, p.addr.filter(|_| p.routable()), p.pid))
                        .collect();
                    let read: Vec<(usize, Option<PodMetrics>, Option<f64>)> = targets
                        .iter()
                        .map(|(i, a, pid)| (*i, a.and_then(read_metrics), process_cpu_s(*pid)))
                        .collect();
                    let gpu = targets
                        .iter()
                        .find_map(|(_, a, _)| a.and_then(read_gpu_families));
                    let now = Instant::now();
                    let scrape = now >= next_scrape;
                    if scrape {
                        next_scrape += Duration::from_secs_f64(resolution);
                    }
                    let mut c = lock(cluster);
                    let mut readings = Vec::with_capacity(read.len());
                    for (i, m, cpu_s) in &read {
                        let p = &mut c.pods[*i];
                        let cores = match (p.cpu_prev, cpu_s) {
                            (Some((t, prev)), Some(cur)) => {
                                Some((cur - prev) / now.duration_since(t).as_secs_f64().max(1e-3))
                            }
                            _ => None,
                        };
                        if let Some(cur) = *cpu_s {
                            p.cpu_prev = Some((now, cur));
                            if scrape {
                                p.scrapes.push_back((now, cur));
                                while p.scrapes.len() > 2 {
                                    p.scrapes.pop_front();
                                }
                            }
                        }
                        readings.push(PodReading {
                            pod: *i as u32,
                            // A replica's process is its container: started.
                            now: PodNow::of(p.deleted.is_some(), p.ready.is_some(), true),
                            cpu_cores: cores,
                            metrics: m.as_ref(),
                        });
                    }
                    let second = sampler.second(f64::from(k), c.spec_replicas, &readings, gpu);
                    drop(c);
                    let p95 = live.p95(now, Duration::from_secs(10));
                    progress(&second.progress_line(p95));
                    k += 1;
                }
                sampler
            })
        };
        // The controller: the arm's policy on its own period.
        let controller = {
            let (cluster, setup) = (&cluster, &setup);
            let interval = policy.interval_s().max(0.1);
            let first = setup.clocks.controller.first_s;
            let cpu_request_m = u64::from(spec.pod.cpu_request_m);
            let policy = &mut policy;
            scope.spawn(move || -> Result<ControlLog> {
                let mut control = ControlLog::default();
                let mut k = 0u32;
                loop {
                    let at = t0 + Duration::from_secs_f64(first + interval * f64::from(k));
                    if at > end || stop.load(Ordering::SeqCst) {
                        break;
                    }
                    sleep_until(at, stop);
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    // Fresh readings at the tick, as the in-cluster scaler
                    // reads each pod's /metrics.json when it decides.
                    let targets: Vec<(usize, SocketAddr)> = lock(cluster)
                        .pods
                        .iter()
                        .enumerate()
                        .filter(|(_, p)| p.routable())
                        .filter_map(|(i, p)| p.addr.map(|a| (i, a)))
                        .collect();
                    let fresh: HashMap<usize, PodMetrics> = targets
                        .into_iter()
                        .filter_map(|(i, a)| Some((i, read_metrics(a)?)))
                        .collect();
                    let now = Instant::now();
                    let mut c = lock(cluster);
                    let (obs, missing) = observe(&c, &fresh, now, t0, cpu_request_m);
                    if let Some(to) = control.step(policy.as_mut(), &obs, &missing) {
                        c.spec_replicas = to;
                        reconcile(&mut c, setup, now)?;
                    }
                    k += 1;
                }
                Ok(control)
            })
        };
        // Fault injection: kill one ready replica at the given time.
        let fault = opts.kill_replica_at_s.map(|at_s| {
            let cluster = &cluster;
            scope.spawn(move || -> Option<(f64, u32)> {
                let at = t0 + Duration::from_secs_f64(at_s);
                while Instant::now() < at {
                    if stop.load(Ordering::SeqCst) {
                        return None;
                    }
                    std::thread::sleep(Duration::from_millis(10).min(at - Instant::now()));
                }
                let mut c = lock(cluster);
                let i = c.pods.iter().position(Pod::routable)?;
                let _ = c.pods[i].child.kill();
                Some((secs(Instant::now(), t0), i as u32))
            })
        });
        // The load: runs until the end and until every request has an
        // outcome (each has the profile's client time-out).
        let target: Arc<dyn loadgen::Target> = Arc::clone(&cluster) as Arc<dyn loadgen::Target>;
        let requests = loadgen::replay(
            profile,
            plan.seed,
            duration,
            t0,
            target,
            stop,
            Some(Arc::clone(&live)),
        );
        if let Some(f) = fault.and_then(|h| h.join().ok()).flatten() {
            faults_seen.push(f);
        }
        let sampler = sampler
            .join()
            .map_err(|_| Error::Local("local: sampler thread panicked".into()))?;
        let ctl = controller
            .join()
            .map_err(|_| Error::Local("local: controller thread panicked".into()))?;
        stop_all(&cluster, &setup);
        done.store(true, Ordering::SeqCst);
        let _ = hk.join();
        let control = ctl?;
        gpu_source = sampler.gpu_source().to_string();
        sampler.finish(&mut out);
        control.finish(&mut out);
        requests
    });
    let requests = match result {
        Ok(r) => r,
        Err(e) => {
            stop_all(&cluster, &setup);
            return Err(e);
        }
    };
    if stop.load(Ordering::SeqCst) {
        return Err(Error::Interrupted);
    }
    fill_counts(&mut out, &requests);
    out.requests = requests;
    let c = lock(&cluster);
    out.pods = c
        .pods
        .iter()
        .enumerate()
        .map(|(i, p)| PodRecord {
            pod: i as u32,
            name: p.name.clone(),
            node: Some("localhost".into()),
            gpu: None,
            created_s: secs(p.created, t0),
            scheduled_s: Some(secs(p.created, t0)),
            started_s: Some(secs(p.created, t0)),
            ready_s: p.ready.map(|r| secs(r, t0)),
            deleted_s: p.deleted.map(|d| secs(d, t0)),
            exited_s: p.exited.map(|e| secs(e, t0)),
            restarts: 0,
            probe_phase_s: Some(setup.clocks.probe_phase_s(i as u32)),
        })
        .collect();
    out.clocks = setup.clocks.records();
    let faults = faults_seen;
    let source = gpu_source;
    Ok((
        out,
        LocalFacts {
            options: opts.clone(),
            gpu_utilization_source: source,
            cpu_limit_applied: false,
            faults,
        },
    ))
}

/// Per-second offered/completed/failed counts and per-pod completions,
/// from the request records.
pub(crate) fn fill_counts(out: &mut TrialRecords, requests: &[crate::record::RequestRecord]) {
    let second = |t: f64| t.ceil().max(1.0) as usize;
    for r in requests {
        let sent = second(r.sent_s);
        if let Some(s) = out.samples.get_mut(sent - 1) {
            s.offered += 1;
        }
        let fin = second(r.finished_s);
        if let Some(s) = out.samples.get_mut(fin - 1) {
            if r.outcome == Outcome::Ok {
                s.completed += 1;
            } else {
                s.failed += 1;
            }
        }
        if r.outcome == Outcome::Ok {
            if let Some(ps) = out
                .pod_samples
                .iter_mut()
                .find(|ps| Some(ps.pod) == r.pod && ps.t_s == fin as f64)
            {
                ps.completed += 1;
            }
        }
    }
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

/// What the policy sees, built like the simulator's observation, with the
/// metrics read at the tick (`fresh`, by pod index), and the serving pods
/// without a usable reading: as `scaler run` counts them, those are
/// missing and the tick holds rather than decide on an older reading.
fn observe(
    c: &Cluster,
    fresh: &HashMap<usize, PodMetrics>,
    now: Instant,
    t0: Instant,
    cpu_request_m: u64,
) -> (Observation, Vec<String>) {
    let mut missing = Vec::new();
    let pods = c
        .pods
        .iter()
        .enumerate()
        .filter(|(_, p)| p.live())
        .map(|(i, p)| {
            let routable = p.routable();
            let metric = (p.scrapes.len() == 2).then(|| {
                let (ta, ca) = p.scrapes[0];
                let (tb, cb) = p.scrapes[1];
                let window = tb.duration_since(ta).as_secs_f64().max(1e-3);
                let m = ((cb - ca) / window * 1000.0 - 1e-9).ceil().max(0.0) as u64;
                (m, secs(tb, t0), window)
            });
            let mut obs = PodObservation {
                name: p.name.clone(),
                phase: if p.deleted.is_some() {
                    PodPhase::Terminating
                } else {
                    PodPhase::Running
                },
                ready: Some(p.ready.is_some() && p.deleted.is_none()),
                ready_transition_time: Some(secs(p.ready.unwrap_or(p.created), t0)),
                start_time: Some(secs(p.created, t0)),
                cpu_request_m: Some(cpu_request_m),
                cpu_usage_m: metric.map(|m| m.0),
                metric_timestamp: metric.map(|m| m.1),
                metric_window: metric.map(|m| m.2),
                gpu_utilization: None,
                in_flight: None,
                avg_latency_ms: None,
            };
            // The pod's metrics as `scaler run` reads them.
            if routable {
                match fresh.get(&i) {
                    Some(m) => m.fill(&mut obs),
                    None => missing.push(p.name.clone()),
                }
            }
            obs
        })
        .collect();
    let obs = Observation {
        time: secs(now, t0),
        spec_replicas: c.spec_replicas,
        pods,
    };
    (obs, missing)
}

/// Starts or stops replicas until the live, non-terminating ones match the
/// spec: stops not-ready replicas first, then the newest (as a ReplicaSet
/// does).
fn reconcile(c: &mut Cluster, setup: &Setup, now: Instant) -> Result<()> {
    let active: Vec<usize> = (0..c.pods.len())
        .filter(|&i| c.pods[i].live() && c.pods[i].deleted.is_none())
        .collect();
    let want = c.spec_replicas as usize;
    if active.len() < want {
        for _ in active.len()..want {
            let n = c.pods.len() as u32;
            let p = setup.spawn(n)?;
            c.pods.push(p);
        }
    } else if active.len() > want {
        let mut order = active;
        order.sort_by_key(|&i| {
            (
                c.pods[i].ready.is_some(),
                std::cmp::Reverse(c.pods[i].created),
            )
        });
        for &i in order.iter().take(order.len() - want) {
            terminate(&mut c.pods[i], now, setup.grace);
        }
    }
    Ok(())
}

/// Stops every replica: SIGTERM, then SIGKILL after the grace period.
fn stop_all(cluster: &Mutex<Cluster>, setup: &Setup) {
    let now = Instant::now();
    {
        let mut c = lock(cluster);
        // Nothing is to be replaced any more.
        c.spec_replicas = 0;
        for p in c.pods.iter_mut() {
            terminate(p, now, setup.grace);
        }
    }
    let deadline = now + setup.grace + Duration::from_secs(5);
    loop {
        let mut c = lock(cluster);
        let t = Instant::now();
        let mut all = true;
        for p in c.pods.iter_mut() {
            if p.exited.is_some() {
                continue;
            }
            match p.child.try_wait() {
                Ok(Some(_)) | Err(_) => p.exited = Some(t),
                Ok(None) => {
                    all = false;
                    if p.kill_at.is_some_and(|k| t >= k) || t >= deadline {
                        let _ = p.child.kill();
                    }
                }
            }
        }
        if all {
            return;
        }
        drop(c);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Picks a ready replica as the scenario's routing says; `None` when no
/// replica is ready.
fn pick(c: &mut Cluster) -> Option<(u32, SocketAddr)> {
    let ready: Vec<(u32, SocketAddr)> = c
        .pods
        .iter()
        .enumerate()
        .filter(|(_, p)| p.routable())
        .filter_map(|(i, p)| p.addr.map(|a| (i as u32, a)))
        .collect();
    c.router.pick(&ready, || None)
}
