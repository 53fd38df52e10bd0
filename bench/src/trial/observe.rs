//! What a policy sees at a tick on the local backend and in the simulator
//! (both describe their pods as timelines): the observation of every live
//! pod, and the serving pods whose metrics are
//! missing. It follows the rules `scaler run` applies to the pods of a
//! cluster (`scaler::cluster::observe_pods`): a pod is `Terminating` once
//! deleted, its Ready condition is what its probes last said, its
//! `/metrics.json` is read at the tick only while it serves, and a serving
//! pod without a usable reading is missing, so the tick holds
//! (`MetricsMissing`) rather than decide on an older reading.
//! `tests/conformance.rs` holds the two side by side.

use scaler::cluster::{ObserveMetrics, PodMetrics};
use scaler::{Observation, PodObservation, PodPhase};

use crate::trial::signal::CpuMetric;
use crate::trial::timeline::{PodTimeline, TrialTime};

/// One live pod at a tick: its timeline, what metrics-server serves for
/// it, and its `/metrics.json` as read at the tick (`None`: no usable
/// answer, or not read).
pub struct PodAtTick<'a, T> {
    /// Its life so far.
    pub life: &'a PodTimeline<T>,
    /// metrics-server's CPU value.
    pub cpu: Option<CpuMetric<T>>,
    /// Its `/metrics.json`, checked.
    pub metrics: Option<&'a PodMetrics>,
}

/// The pod's observation, times in seconds from `t0`.
pub fn pod_observation<T: TrialTime>(
    pod: &PodAtTick<'_, T>,
    t0: T,
    cpu_request_m: u64,
) -> PodObservation {
    let life = pod.life;
    let mut obs = PodObservation {
        phase: if life.deleted.is_some() {
            PodPhase::Terminating
        } else if life.started.is_some() {
            PodPhase::Running
        } else {
            PodPhase::Pending
        },
        // A Ready condition exists once the pod is scheduled; it turns
        // True at the first successful probe.
        ready: life.scheduled.map(|_| life.ready.is_some()),
        ready_transition_time: life
            .scheduled
            .map(|s| life.ready.unwrap_or(s).secs_from(t0)),
        start_time: life.scheduled.map(|s| s.secs_from(t0)),
        cpu_request_m: Some(cpu_request_m),
        ..PodObservation::bare(life.name.clone(), PodPhase::Pending)
    };
    if let Some(m) = pod.cpu {
        m.fill(&mut obs, t0);
    }
    if life.serving {
        if let Some(m) = pod.metrics {
            m.fill(&mut obs);
        }
    }
    obs
}

/// The tick's observation at `time_s` and the serving pods whose metrics
/// are missing.
pub fn observe<'a, T: TrialTime + 'a>(
    time_s: f64,
    spec_replicas: u32,
    pods: impl IntoIterator<Item = PodAtTick<'a, T>>,
    t0: T,
    cpu_request_m: u64,
) -> (Observation, Vec<String>) {
    let mut missing = Vec::new();
    let pods = pods
        .into_iter()
        .filter(|p| p.life.live())
        .map(|mut p| {
            // A reading out of range counts as none, as in `scaler run`.
            p.metrics = p.metrics.filter(|m| m.check().is_ok());
            if p.life.serving && p.metrics.is_none() {
                missing.push(p.life.name.clone());
            }
            pod_observation(&p, t0, cpu_request_m)
        })
        .collect();
    let obs = Observation {
        time: time_s,
        spec_replicas,
        pods,
    };
    (obs, missing)
}
