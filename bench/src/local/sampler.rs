//! The local backend's readings, once a second: each live replica's process
//! CPU from procfs, its `/metrics.json` while it serves, and one GPU
//! reading from a replica's `/metrics`; handed to the shared
//! [`Sampler`]. Every `sim.metric_resolution_s` (from the trial's scrape
//! phase, as the simulator places them) the CPU reading is also kept as a
//! metrics-server scrape, which the controller's CPU metric windows.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use scaler::cluster::PodMetrics;

use super::replicas::{lock, process_cpu_s, Cluster};
use super::{http, sleep_until, Span};
use crate::campaign::ScenarioSpec;
use crate::clocks::TrialClocks;
use crate::loadgen::LiveLatency;
use crate::trial::sampler::{GpuReading, PodReading, Sampler};

/// Samples every second of the trial; returns the sampler with its rows.
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
    let resolution = Duration::from_secs_f64(spec.sim.metric_resolution_s.max(1.0));
    let mut next_scrape = t0 + Duration::from_secs_f64(clocks.scrape.first_s);
    let mut k = 1u32;
    while t0 + Duration::from_secs(u64::from(k)) <= end && !stop.load(Ordering::SeqCst) {
        sleep_until(t0 + Duration::from_secs(u64::from(k)), stop);
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
        let scrape = now >= next_scrape;
        if scrape {
            next_scrape += resolution;
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
                now: p.life.now(),
                cpu_cores: cores,
                metrics: m.as_ref(),
            });
        }
        let second = sampler.second(f64::from(k), c.spec_replicas, &readings, gpu);
        drop(c);
        progress(&second.progress_line(live.p95(now, Duration::from_secs(10))));
        k += 1;
    }
    sampler
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
