//! The local backend's controller: the arm's policy on its own period and
//! phase, through the shared control step. Each tick reads every serving
//! replica's `/metrics.json` afresh, as `scaler run` reads its pods when it
//! decides, and acts by reconciling the replica set. A policy that samples
//! between decisions (the KPA's buckets) is handed an observation read the
//! same way at each whole second.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use scaler::cluster::PodMetrics;
use scaler::{Observation, Policy};

use super::replicas::{lock, reconcile, Cluster, Setup};
use super::sampler::read_metrics;
use super::{sleep_until, Span};
use crate::trial::control::{sample_due, ControlLog};
use crate::trial::observe::{self, PodAtTick};
use crate::trial::signal::Pipelines;
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
    let pipelines = Pipelines::for_signals(policy.signals(), &setup.clocks);
    // Decision ticks k, and for a policy that samples between them the
    // whole seconds n (`trial::control::sample_due`).
    let samples = policy.sample_period_s().is_some();
    let (mut k, mut n) = (0u32, 1u32);
    loop {
        let tick_s = first + interval * f64::from(k);
        let sample = samples && f64::from(n) < tick_s;
        let at_s = if sample { f64::from(n) } else { tick_s };
        let at = t0 + Duration::from_secs_f64(at_s);
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
        let (mut obs, missing) = observe(&c, &fresh, now, t0, cpu_request_m);
        if pipelines.records() {
            // The observation lists the replicas not gone, in order.
            let series = c.pods.iter().filter(|p| p.life.live());
            pipelines.fill(&mut obs, series.map(|p| &p.series));
        }
        if sample {
            if sample_due(policy, at_s) {
                policy.sample(&obs);
            }
            n += 1;
            continue;
        }
        if let Some(to) = control.step(policy, &obs, &missing) {
            c.spec_replicas = to;
            reconcile(&mut c, setup, now)?;
        }
        k += 1;
    }
    Ok(control)
}

/// What the policy sees: every live replica through the shared
/// [`crate::trial::observe`], with the metrics read at the tick (`fresh`,
/// by pod index).
fn observe(
    c: &Cluster,
    fresh: &HashMap<usize, PodMetrics>,
    now: Instant,
    t0: Instant,
    cpu_request_m: u64,
) -> (Observation, Vec<String>) {
    let pods = c.pods.iter().enumerate().map(|(i, p)| PodAtTick {
        life: &p.life,
        cpu: p.cpu_series.metric(),
        metrics: fresh.get(&i),
    });
    observe::observe(now.secs_from(t0), c.spec_replicas, pods, t0, cpu_request_m)
}
