//! The local backend's replica set: `workload serve` processes on loopback
//! ports, started, probed for readiness, replaced when they crash and
//! stopped (SIGTERM, then SIGKILL after the grace period) as a ReplicaSet
//! and the kubelet would.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{http, reaper, LocalOptions};
use crate::campaign::{Routing, Trial};
use crate::clocks::TrialClocks;
use crate::route::Router;
use crate::trial::signal::{CpuSeries, PodSeries};
use crate::trial::timeline::PodTimeline;
use crate::{Error, Result};

/// One replica.
pub(super) struct Pod {
    /// Its life; a replica's process is its container, started when
    /// created, on node `localhost`.
    pub life: PodTimeline<Instant>,
    child: Child,
    pub pid: u32,
    /// Its listening address, once it said.
    pub addr: Option<SocketAddr>,
    addr_rx: mpsc::Receiver<SocketAddr>,
    next_probe: Instant,
    kill_at: Option<Instant>,
    /// (time, process CPU seconds) at the previous one-second sample.
    pub cpu_prev: Option<(Instant, f64)>,
    /// Its process's series at the emulated metrics-server.
    pub cpu_series: CpuSeries<Instant>,
    /// Its per-second GPU utilisation and in-flight readings, for a policy
    /// that reads them through an emulated metrics pipeline
    /// ([`crate::trial::signal::Pipelines`]).
    pub series: PodSeries,
}

impl Pod {
    /// Its address while it takes traffic (ready, not being deleted, not
    /// gone).
    pub fn serving_addr(&self) -> Option<SocketAddr> {
        self.addr.filter(|_| self.life.serving)
    }

    /// Kills the process now (fault injection).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }
}

/// The replicas of one trial and the state the threads share.
pub(super) struct Cluster {
    pub pods: Vec<Pod>,
    pub spec_replicas: u32,
    pub router: Router,
}

/// Everything a trial's replicas need that does not change while it runs.
pub(super) struct Setup {
    bin: PathBuf,
    args: Vec<String>,
    probe_period: Duration,
    grace: Duration,
    registry: Option<PathBuf>,
    probe_initial_delay_s: f64,
    /// The trial's clock phases (the probe ticker's per pod).
    pub clocks: TrialClocks,
}

pub(super) fn lock(c: &Mutex<Cluster>) -> MutexGuard<'_, Cluster> {
    c.lock().unwrap_or_else(|e| e.into_inner())
}

impl Setup {
    /// The replicas of trial `t`: `workload serve` with the scenario's pod
    /// settings. Routing the local backend cannot do is an error.
    pub fn new(t: &Trial<'_>, opts: &LocalOptions) -> Result<Setup> {
        let spec = t.spec();
        if spec.sim.routing == Routing::LeastOutstanding {
            return Err(Error::Local(
                "local: routing `least-outstanding` is not supported; use `random` or `round-robin`"
                    .into(),
            ));
        }
        if !opts.workload_bin.exists() {
            return Err(Error::Local(format!(
                "local: workload binary {} not found; build it with `cargo build --release -p workload` or pass --workload-bin",
                opts.workload_bin.display()
            )));
        }
        let wait_mode = spec.pod.wait_mode.as_str();
        let args = [
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
        .collect();
        Ok(Setup {
            bin: opts.workload_bin.clone(),
            args,
            probe_period: Duration::from_secs_f64(spec.sim.probe_period_s.max(0.05)),
            grace: Duration::from_secs_f64(spec.sim.grace_period_s.max(0.0)),
            registry: opts.replica_registry.clone(),
            probe_initial_delay_s: spec.sim.probe_initial_delay_s,
            clocks: t.clocks.clone(),
        })
    }

    fn probe_offset(&self, pod: u32) -> Duration {
        Duration::try_from_secs_f64(self.probe_initial_delay_s + self.clocks.probe_phase_s(pod))
            .unwrap_or(Duration::ZERO)
    }

    /// Starts replica number `pod`.
    fn spawn(&self, pod: u32) -> Result<Pod> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // The replica's log; the bench does not keep it (a replica
            // that fails to start is named, with the command to rerun).
            .stderr(Stdio::null());
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
        if let Some(stdout) = child.stdout.take() {
            // Reads the listening line (`contract::Listening`), then drains
            // stdout so the child never blocks on a full pipe.
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                    if let Some(l) = contract::Listening::parse(&line) {
                        let _ = tx.send(l.listening);
                    }
                }
            });
        }
        let now = Instant::now();
        let mut life = PodTimeline::new(pod, format!("workload-{pod}"), now);
        life.node = Some("localhost".into());
        life.scheduled = Some(now);
        life.started = Some(now);
        Ok(Pod {
            life,
            pid: child.id(),
            child,
            addr: None,
            addr_rx: rx,
            // The first probe after the initial delay and the pod's own
            // ticker phase, as in the simulator.
            next_probe: now + self.probe_offset(pod),
            kill_at: None,
            cpu_prev: None,
            cpu_series: CpuSeries::default(),
            series: PodSeries::default(),
        })
    }
}

fn terminate(p: &mut Pod, now: Instant, grace: Duration) {
    if p.life.deleted.is_some() || p.life.exited.is_some() {
        return;
    }
    p.life.mark_deleted(now);
    p.kill_at = Some(now + grace);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(p.pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
}

/// Process CPU seconds (user + system) of `pid` from /proc.
pub(super) fn process_cpu_s(pid: u32) -> Option<f64> {
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

/// Housekeeping: addresses, exits, forced kills after the grace period,
/// replacements and readiness probes.
pub(super) fn housekeeping(cluster: &Mutex<Cluster>, setup: &Setup) {
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
            if p.life.live() {
                if let Ok(Some(_)) = p.child.try_wait() {
                    p.life.mark_exited(now);
                } else if p.kill_at.is_some_and(|k| now >= k) {
                    let _ = p.child.kill();
                }
            }
            let waiting = p.life.ready.is_none() && p.life.deleted.is_none() && p.life.live();
            if waiting && now >= p.next_probe {
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
            .filter(|p| p.life.live() && p.life.deleted.is_none())
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
                if p.life.deleted.is_none() && p.life.live() {
                    p.life.mark_ready(Instant::now());
                }
            }
        }
    }
}

/// Starts `n` replicas and waits until every one is ready. On an error or
/// a stop, every replica is stopped again.
pub(super) fn start(
    cluster: &Mutex<Cluster>,
    setup: &Setup,
    n: u32,
    opts: &LocalOptions,
    stop: &AtomicBool,
) -> Result<()> {
    for i in 0..n {
        let p = setup.spawn(i)?;
        lock(cluster).pods.push(p);
    }
    let deadline = Instant::now() + Duration::from_secs_f64(opts.startup_timeout_s);
    loop {
        housekeeping(cluster, setup);
        let failure = {
            let c = lock(cluster);
            if c.pods.iter().all(|p| p.life.ready.is_some()) {
                return Ok(());
            }
            if let Some(p) = c.pods.iter().find(|p| !p.life.live()) {
                Some(Error::Local(format!(
                    "local: replica {} exited during start-up (try `{} serve --backend {}` by hand)",
                    p.life.name,
                    setup.bin.display(),
                    opts.workload_backend
                )))
            } else if stop.load(Ordering::SeqCst) {
                Some(Error::Interrupted)
            } else if Instant::now() > deadline {
                Some(Error::Local(format!(
                    "local: replicas not ready within {} s",
                    opts.startup_timeout_s
                )))
            } else {
                None
            }
        };
        if let Some(e) = failure {
            stop_all(cluster, setup);
            return Err(e);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts or stops replicas until the live, non-terminating ones match the
/// spec: stops not-ready replicas first, then the newest (as a ReplicaSet
/// does).
pub(super) fn reconcile(c: &mut Cluster, setup: &Setup, now: Instant) -> Result<()> {
    let active: Vec<usize> = (0..c.pods.len())
        .filter(|&i| c.pods[i].life.live() && c.pods[i].life.deleted.is_none())
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
                c.pods[i].life.ready.is_some(),
                std::cmp::Reverse(c.pods[i].life.created),
            )
        });
        for &i in order.iter().take(order.len() - want) {
            terminate(&mut c.pods[i], now, setup.grace);
        }
    }
    Ok(())
}

/// Stops every replica: SIGTERM, then SIGKILL after the grace period.
pub(super) fn stop_all(cluster: &Mutex<Cluster>, setup: &Setup) {
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
        for p in c.pods.iter_mut().filter(|p| p.life.live()) {
            match p.child.try_wait() {
                Ok(Some(_)) | Err(_) => p.life.mark_exited(t),
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
pub(super) fn pick(c: &mut Cluster) -> Option<(u32, SocketAddr)> {
    let Cluster { pods, router, .. } = c;
    router.pick_serving(
        pods.iter()
            .enumerate()
            .map(|(i, p)| (i as u32, p.serving_addr())),
    )
}

impl crate::loadgen::Target for Mutex<Cluster> {
    fn pick(&self) -> Option<(Option<u32>, SocketAddr)> {
        pick(&mut lock(self)).map(|(pod, addr)| (Some(pod), addr))
    }
}
