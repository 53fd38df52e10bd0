//! The local backend's readings, once a second: each live replica's process
//! CPU from procfs, its `/metrics.json` while it serves, and one GPU
//! reading from a replica's `/metrics`; handed to the shared
//! [`Sampler`]. At each metrics-server scrape (every
//! `sim.metric_resolution_s` from the trial's scrape phase, the instants
//! the simulator scrapes at) each replica's process CPU goes into its
//! [`crate::trial::signal::CpuSeries`], which the controller reads.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use scaler::cluster::{ObserveMetrics, PodMetrics};

use super::replicas::{lock, process_cpu_s, Cluster};
use super::{http, sleep_until, Span};
use crate::campaign::ScenarioSpec;
use crate::clocks::TrialClocks;
use crate::loadgen::LiveLatency;
use crate::trial::sampler::{ClientSecond, GpuReading, PodReading, Sampler, Second};
use crate::trial::signal::MetricsServer;

/// Samples every second of the trial, and scrapes every replica's CPU for
/// the emulated metrics-server at the stage's own instants; returns the
/// sampler with its rows.
pub(super) fn run(
    cluster: &Mutex<Cluster>,
    span: &Span<'_>,
    spec: &ScenarioSpec,
    clocks: &TrialClocks,
    live: &LiveLatency,
    progress: &(dyn Fn(&str) + Sync),
) -> Sampler {
    let Span { t0, end, stop } = *span;
    let mut sampler = Sampler::new(f64::from(spec.pod.cpu_request_m));
    let stage = MetricsServer::of(clocks);
    let resolution = Duration::from_secs_f64(stage.scrape.period_s.max(0.1));
    // The scrapes fall at t0 + first + k × period; from k = −2, two before
    // the start (the trial waits that long once its replicas are ready).
    let mut next_scrape = t0
        .checked_sub(Duration::from_secs_f64(stage.history_s()))
        .unwrap_or(t0 + Duration::from_secs_f64(stage.scrape.first_s));
    let mut k = 1u32;
    loop {
        let at = t0 + Duration::from_secs(u64::from(k));
        if at > end || stop.load(Ordering::SeqCst) {
            break;
        }
        if next_scrape < at {
            sleep_until(next_scrape, stop);
            scrape(cluster, &stage);
            next_scrape += resolution;
            continue;
        }
        sleep_until(at, stop);
        let second = sample(cluster, &mut sampler, f64::from(k));
        progress(&second.progress_line(live.p95(Instant::now(), Duration::from_secs(10))));
        k += 1;
    }
    sampler
}

/// One second: every live replica's readings into the sampler.
fn sample(cluster: &Mutex<Cluster>, sampler: &mut Sampler, t_s: f64) -> Second {
    let targets: Vec<(usize, Option<SocketAddr>, u32)> = lock(cluster)
        .pods
        .iter()
        .enumerate()
        .filter(|(_, p)| p.life.live())
        .map(|(i, p)| (i, p.serving_addr(), p.pid))
        .collect();
    let read: Vec<(usize, Option<PodMetrics>, Option<f64>)> = targets
        .iter()
        .map(|(i, a, pid)| (*i, a.and_then(read_metrics), process_cpu_s(*pid)))
        .collect();
    let gpu = targets
        .iter()
        .find_map(|(_, a, _)| a.and_then(read_gpu_families));
    let now = Instant::now();
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
        }
        p.series.record(
            t_s as u32,
            m.as_ref().map(|m| m.gpu_utilization),
            m.as_ref().map(|m| m.in_flight as f64),
        );
        readings.push(PodReading::read(&p.life, cores, m.as_ref()));
    }
    let gpus: Vec<GpuReading> = gpu.into_iter().collect();
    sampler.second(
        t_s,
        c.spec_replicas,
        &readings,
        &gpus,
        ClientSecond::default(),
    )
}

/// One metrics-server scrape: each live replica's process CPU into its
/// series (the process is the container; it started when it was created).
fn scrape(cluster: &Mutex<Cluster>, stage: &MetricsServer) {
    let pids: Vec<(usize, u32)> = lock(cluster)
        .pods
        .iter()
        .enumerate()
        .filter(|(_, p)| p.life.live())
        .map(|(i, p)| (i, p.pid))
        .collect();
    let read: Vec<(usize, f64)> = pids
        .into_iter()
        .filter_map(|(i, pid)| Some((i, process_cpu_s(pid)?)))
        .collect();
    let now = Instant::now();
    let mut c = lock(cluster);
    for (i, cum) in read {
        let p = &mut c.pods[i];
        let started = p.life.started;
        p.cpu_series.scrape(now, cum, started, stage);
    }
}

/// A replica's `/metrics.json`, read as `scaler run` and the k8s backend
/// read it; a reading outside its physical range counts as no reading.
pub(super) fn read_metrics(addr: SocketAddr) -> Option<PodMetrics> {
    let r =
        http::request_blocking(addr, "GET", "/metrics.json", Duration::from_millis(500)).ok()?;
    if r.status != 200 {
        return None;
    }
    let m = PodMetrics::parse(&r.body)?;
    m.check().ok()?;
    Some(m)
}

/// GPU memory, power and energy from a replica's `/metrics`.
fn read_gpu_families(addr: SocketAddr) -> Option<GpuReading> {
    let r = http::request_blocking(addr, "GET", "/metrics", Duration::from_millis(500)).ok()?;
    GpuReading::from_metrics_text(&String::from_utf8(r.body).ok()?)
}
