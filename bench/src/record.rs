//! What a trial produces: the same records for every backend, one type per
//! dataset table (see `migrations/`).

use contract::ControllerKind;
use serde::Serialize;

/// How a request ended, as the client saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Answered successfully.
    Ok,
    /// The pod's queue was full: 503.
    Rejected,
    /// No ready endpoint: connection refused.
    NoEndpoint,
    /// Not answered within the client time-out.
    Timeout,
    /// The GPU had no memory for the request's working set.
    Oom,
    /// The pod was killed (grace period over) while holding the request.
    Killed,
}

impl Outcome {
    /// Stable label stored in the dataset.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Rejected => "rejected",
            Outcome::NoEndpoint => "no_endpoint",
            Outcome::Timeout => "timeout",
            Outcome::Oom => "oom",
            Outcome::Killed => "killed",
        }
    }
}

/// One request (table `requests`). Times are seconds since the trial start.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RequestRecord {
    /// Sequence number within the trial.
    pub id: u32,
    /// Closed-loop user, if any.
    pub user: Option<u32>,
    /// Position in that user's sequence.
    pub user_seq: Option<u32>,
    /// When the schedule said to send it.
    pub scheduled_s: f64,
    /// When it was sent.
    pub sent_s: f64,
    /// When a worker started it (None: never started).
    pub started_s: Option<f64>,
    /// When the client had its answer (or gave up).
    pub finished_s: f64,
    /// Pod that received it.
    pub pod: Option<u32>,
    /// Matrix size n.
    pub size: u32,
    /// Iterations.
    pub iterations: u32,
    /// Outcome.
    pub outcome: Outcome,
    /// `finished_s − scheduled_s`, milliseconds (no coordinated omission).
    pub latency_ms: f64,
}

/// The whole system once a second (table `samples`), at the end of second `t_s`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sample {
    /// Sample time, seconds.
    pub t_s: f64,
    /// Deployment spec replicas.
    pub desired: u32,
    /// Ready pods (not terminating).
    pub ready: u32,
    /// Live pods not yet ready (unscheduled, starting, crash-looping).
    pub pending: u32,
    /// Pods terminating.
    pub terminating: u32,
    /// Mean NVML utilisation over the cluster's GPUs, percent.
    pub gpu_util_mean: f64,
    /// Highest GPU utilisation, percent.
    pub gpu_util_max: f64,
    /// GPU memory in use, MiB (all GPUs).
    pub gpu_mem_used_mib: f64,
    /// GPU board power, W (all GPUs, mean over the second).
    pub gpu_power_w: f64,
    /// GPU energy since the trial start, J (all GPUs).
    pub gpu_energy_j: f64,
    /// CPU used by the workload pods, cores (mean over the second).
    pub cpu_cores: f64,
    /// CPU used as a percentage of the live pods' CPU requests.
    pub cpu_pct_request: f64,
    /// Requests being served.
    pub in_flight: u32,
    /// Requests waiting in pod queues (and at the service, if it waits).
    pub queued: u32,
    /// Requests sent during the second.
    pub offered: u32,
    /// Requests answered OK during the second.
    pub completed: u32,
    /// Requests failed during the second (any non-OK outcome).
    pub failed: u32,
}

/// One pod once a second (table `pod_samples`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PodSample {
    /// Sample time, seconds.
    pub t_s: f64,
    /// Pod number within the trial.
    pub pod: u32,
    /// Lifecycle state (`pending`, `starting`, `initializing`, `backoff`,
    /// `running`, `terminating`).
    pub state: &'static str,
    /// Ready condition.
    pub ready: bool,
    /// CPU used, cores (mean over the second).
    pub cpu_cores: f64,
    /// CPU as a percentage of the pod's request.
    pub cpu_pct_request: f64,
    /// Device-wide utilisation of the pod's GPU, percent (NVML view).
    pub gpu_util: Option<f64>,
    /// Requests in service.
    pub in_flight: u32,
    /// Requests in the pod's queue.
    pub queued: u32,
    /// The pod's reported mean latency over its window, ms.
    pub avg_latency_ms: Option<f64>,
    /// Requests the pod completed during the second.
    pub completed: u32,
}

/// One physical GPU once a second (table `gpu_samples`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GpuSample {
    /// Sample time, seconds.
    pub t_s: f64,
    /// GPU number within the cluster.
    pub gpu: u32,
    /// NVML utilisation: share of the second with a kernel running, percent.
    pub util_pct: f64,
    /// Memory in use, MiB.
    pub mem_used_mib: f64,
    /// Mean board power over the second, W.
    pub power_w: f64,
    /// Pods holding a context on the GPU.
    pub contexts: u32,
}

/// One pod's life (table `pods`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PodRecord {
    /// Pod number within the trial.
    pub pod: u32,
    /// Pod name.
    pub name: String,
    /// Node name, once scheduled.
    pub node: Option<String>,
    /// GPU number, once scheduled.
    pub gpu: Option<u32>,
    /// Created (negative for the pods that exist before the trial).
    pub created_s: f64,
    /// Bound to a node.
    pub scheduled_s: Option<f64>,
    /// Container (last incarnation) started.
    pub started_s: Option<f64>,
    /// Ready observed by the readiness probe.
    pub ready_s: Option<f64>,
    /// Deletion requested.
    pub deleted_s: Option<f64>,
    /// Process gone.
    pub exited_s: Option<f64>,
    /// Container restarts (failed CUDA context creation).
    pub restarts: u32,
    /// Phase of the pod's readiness-probe ticker (see [`crate::clocks`]);
    /// `None` where the backend does not set it.
    pub probe_phase_s: Option<f64>,
}

/// A change of the replica count (table `scaling_events`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScalingEvent {
    /// Time, seconds.
    pub t_s: f64,
    /// Replicas before.
    pub from: u32,
    /// Replicas after.
    pub to: u32,
    /// Controller.
    pub controller: ControllerKind,
    /// Its reason.
    pub reason: String,
}

/// One controller tick (table `decisions`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DecisionRecord {
    /// Time, seconds.
    pub t_s: f64,
    /// Controller.
    pub controller: ControllerKind,
    /// Spec replicas seen.
    pub current: u32,
    /// Replicas asked for.
    pub desired: u32,
    /// Reason.
    pub reason: String,
    /// Inputs the policy used, JSON.
    pub inputs_json: String,
}

impl DecisionRecord {
    /// A policy's decision at `t_s` seconds into the trial.
    pub fn from_decision(t_s: f64, d: &scaler::Decision) -> DecisionRecord {
        DecisionRecord {
            t_s,
            controller: d.controller,
            current: d.current_replicas,
            desired: d.desired_replicas,
            reason: d.reason.clone(),
            inputs_json: d.inputs.to_string(),
        }
    }
}

/// Everything one trial recorded.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TrialRecords {
    /// Every request.
    pub requests: Vec<RequestRecord>,
    /// One system sample a second.
    pub samples: Vec<Sample>,
    /// One sample per pod per second.
    pub pod_samples: Vec<PodSample>,
    /// One sample per GPU per second.
    pub gpu_samples: Vec<GpuSample>,
    /// Every pod's life.
    pub pods: Vec<PodRecord>,
    /// Every replica change.
    pub scaling_events: Vec<ScalingEvent>,
    /// Every controller decision.
    pub decisions: Vec<DecisionRecord>,
    /// The phases of the trial's clocks (none where the backend cannot set
    /// them).
    pub clocks: Vec<crate::clocks::ClockRecord>,
    /// The stages of the signal pipelines its policy reads through.
    pub signals: Vec<crate::trial::signal::StageRecord>,
}

impl TrialRecords {
    /// Number of rows these records make in the dataset.
    pub fn row_count(&self) -> usize {
        self.requests.len()
            + self.samples.len()
            + self.pod_samples.len()
            + self.gpu_samples.len()
            + self.pods.len()
            + self.scaling_events.len()
            + self.decisions.len()
            + self.clocks.len()
            + self.signals.len()
    }
}
