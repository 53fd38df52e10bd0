//! Step 4 of a trial, once a second: the arm's pods from the watches, their
//! CPU from metrics.k8s.io, their `/metrics.json` and one GPU reading
//! through the API server's pod proxy, handed to the shared [`Sampler`];
//! the port-forwards follow the serving pods; the HPA's status changes
//! become its decision records.

use contract::ControllerKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kube::Client;

use super::controller::HpaStatus;
use super::forward::PortForwards;
use super::observe::{self, Reading, Tracker};
use super::reset::ArmTarget;
use super::watch::lock;
use super::WORKLOAD_PORT;
use crate::loadgen::LiveLatency;
use crate::record::TrialRecords;
use crate::trial::sampler::{ClientSecond, GpuReading, PodReading, Sampler, Second};
use crate::Result;

/// What the sampler reads from and reports to.
pub(super) struct Sampling<'a> {
    pub client: &'a Client,
    pub ns: &'a str,
    pub arm: &'a ArmTarget,
    pub tracker: &'a Mutex<Tracker>,
    pub forwards: Option<&'a PortForwards>,
    pub live: &'a LiveLatency,
    pub stop: &'a AtomicBool,
    pub progress: &'a (dyn Fn(&str) + Sync),
}

/// Samples every second from `t0` for `duration_s` (the HPA's decisions go
/// into `out`); returns the sampler and whether metrics.k8s.io ever
/// answered.
pub(super) async fn run(
    s: &Sampling<'_>,
    t0: Instant,
    duration_s: f64,
    cpu_request_m: f64,
    out: &mut TrialRecords,
) -> Result<(Sampler, bool)> {
    let mut hpa = (s.arm.controller == ControllerKind::Hpa).then(|| HpaStatus::new(s.client, s.ns));
    let mut cpu_seen = false;
    let mut sampler = Sampler::new(cpu_request_m);
    let mut k = 1u32;
    while f64::from(k) <= duration_s && !s.stop.load(Ordering::SeqCst) {
        tokio::time::sleep_until((t0 + Duration::from_secs(u64::from(k))).into()).await;
        if s.stop.load(Ordering::SeqCst) {
            break;
        }
        let t_s = f64::from(k);
        let snapshot = lock(s.tracker).clone();
        let serving = snapshot.serving();
        if let Some(f) = s.forwards {
            f.set_ready(&serving).await?;
        }
        let names: Vec<String> = serving.iter().map(|(n, _)| n.clone()).collect();
        let reading =
            observe::read_once(s.client, s.ns, &s.arm.selector, &names, WORKLOAD_PORT).await;
        cpu_seen |= reading.cpu_m.is_some();
        let second = sample(&mut sampler, t_s, &snapshot, &reading);
        (s.progress)(&second.progress_line(s.live.p95(Instant::now(), Duration::from_secs(10))));
        if let Some(h) = hpa.as_mut() {
            if let Some(d) = h.poll(t_s).await {
                out.decisions.push(d);
            }
        }
        k += 1;
    }
    Ok((sampler, cpu_seen))
}

/// One second's rows from the watches' view of the arm's pods and that
/// second's reading: every pod not gone, its CPU from metrics.k8s.io, its
/// `/metrics.json` while it serves, the first serving pod's GPU reading.
pub fn sample(sampler: &mut Sampler, t_s: f64, pods: &Tracker, reading: &Reading) -> Second {
    let readings: Vec<PodReading> = pods
        .pods
        .iter()
        .filter(|p| p.live())
        .map(|p| {
            let cpu = reading
                .cpu_m
                .as_ref()
                .and_then(|m| m.get(&p.name))
                .map(|m| m / 1000.0);
            PodReading::read(p, cpu, reading.metrics.get(&p.name))
        })
        .collect();
    let desired = pods.spec_replicas.unwrap_or(0);
    let gpus: Vec<GpuReading> = reading.gpu.into_iter().collect();
    sampler.second(t_s, desired, &readings, &gpus, ClientSecond::default())
}
