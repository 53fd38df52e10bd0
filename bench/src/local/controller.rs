//! The local backend's controller: the arm's policy on its own period and
//! phase, through the shared control step. Each tick reads every serving
//! replica's `/metrics.json` afresh, as `scaler run` reads its pods when it
//! decides, and acts by reconciling the replica set.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use scaler::cluster::{ObserveMetrics, PodMetrics};
use scaler::{Observation, PodObservation, PodPhase, Policy};

use super::replicas::{lock, reconcile, Cluster, Setup};
use super::sampler::read_metrics;
use super::{sleep_until, Span};
use crate::trial::control::ControlLog;
use crate::trial::timeline::TrialTime;
use crate::Result;

/// Runs the policy until the end of the trial; returns its records.
pub(super) fn run(
    cluster: &Mutex<Cluster>,
    setup: &Setup,
    span: &Span<'_>,
    policy: &mut dyn Policy,
    cpu_request_m: u64,
) -> Result<ControlLog> {
    let Span { t0, end, stop } = *span;
    let interval = policy.interval_s().max(0.1);
    let first = setup.clocks.controller.first_s;
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
        let targets: Vec<(usize, std::net::SocketAddr)> = lock(cluster)
            .pods
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.serving_addr().map(|a| (i, a)))
            .collect();
        let fresh: HashMap<usize, PodMetrics> = targets
            .into_iter()
            .filter_map(|(i, a)| Some((i, read_metrics(a)?)))
            .collect();
        let now = Instant::now();
        let mut c = lock(cluster);
        let (obs, missing) = observe(&c, &fresh, now, t0, cpu_request_m);
        if let Some(to) = control.step(policy, &obs, &missing) {
            c.spec_replicas = to;
            reconcile(&mut c, setup, now)?;
        }
        k += 1;
    }
    Ok(control)
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
        .filter(|(_, p)| p.life.live())
        .map(|(i, p)| {
            let life = &p.life;
            let mut obs = PodObservation {
                name: life.name.clone(),
                phase: if life.deleted.is_some() {
                    PodPhase::Terminating
                } else {
                    PodPhase::Running
                },
                ready: Some(life.ready.is_some() && life.deleted.is_none()),
                ready_transition_time: Some(life.ready.unwrap_or(life.created).secs_from(t0)),
                start_time: Some(life.created.secs_from(t0)),
                cpu_request_m: Some(cpu_request_m),
                cpu_usage_m: None,
                metric_timestamp: None,
                metric_window: None,
                gpu_utilization: None,
                in_flight: None,
                avg_latency_ms: None,
            };
            if let Some(m) = p.cpu_series.metric() {
                m.fill(&mut obs, t0);
            }
            // The pod's metrics as `scaler run` reads them.
            if life.serving {
                match fresh.get(&i) {
                    Some(m) => m.fill(&mut obs),
                    None => missing.push(life.name.clone()),
                }
            }
            obs
        })
        .collect();
    let obs = Observation {
        time: now.secs_from(t0),
        spec_replicas: c.spec_replicas,
        pods,
    };
    (obs, missing)
}
