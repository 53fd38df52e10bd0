//! What a controller sees at one tick, and what it answers.

use serde::{Deserialize, Serialize};

/// The state of the scaled workload at one controller tick.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    /// Seconds since an arbitrary fixed origin (the trial start in the bench).
    pub time: f64,
    /// The target's `scale.spec.replicas`: the desired count currently
    /// written on the Deployment, not the number of running pods.
    pub spec_replicas: u32,
    /// Every pod the target's selector matches, in any phase.
    pub pods: Vec<PodObservation>,
}

/// Pod phase as the HPA classifies it. `Terminating` stands for a pod whose
/// deletion timestamp is set, whatever its phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PodPhase {
    /// Accepted but not running (unscheduled, or containers not started).
    Pending,
    /// Containers started.
    Running,
    /// Terminated successfully.
    Succeeded,
    /// Terminated with failure.
    Failed,
    /// Deletion timestamp set.
    Terminating,
}

/// One pod at one tick: what the kube API and the metrics pipelines report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodObservation {
    /// Pod name.
    pub name: String,
    /// Phase (see [`PodPhase`]).
    pub phase: PodPhase,
    /// The pod's Ready condition. `None`: the pod has no Ready condition yet.
    pub ready: Option<bool>,
    /// `lastTransitionTime` of the Ready condition, seconds.
    #[serde(default)]
    pub ready_transition_time: Option<f64>,
    /// `status.startTime`, seconds. `None` while unscheduled.
    #[serde(default)]
    pub start_time: Option<f64>,
    /// Sum of the containers' CPU requests, millicores. `None`: some container
    /// has no CPU request (the HPA then fails the sync).
    #[serde(default)]
    pub cpu_request_m: Option<u64>,
    /// CPU usage from metrics.k8s.io, millicores (already rounded up per
    /// container). `None`: no metric for this pod.
    #[serde(default)]
    pub cpu_usage_m: Option<u64>,
    /// Timestamp of the CPU metric sample, seconds. Defaults to the
    /// observation time.
    #[serde(default)]
    pub metric_timestamp: Option<f64>,
    /// Window of the CPU metric sample, seconds. Defaults to 15.
    #[serde(default)]
    pub metric_window: Option<f64>,
    /// Device-wide GPU utilisation the pod reports, percent (0–100).
    #[serde(default)]
    pub gpu_utilization: Option<f64>,
    /// Requests being served or queued in the pod.
    #[serde(default)]
    pub in_flight: Option<u32>,
    /// Average request latency the pod reports, milliseconds.
    #[serde(default)]
    pub avg_latency_ms: Option<f64>,
}

/// What a policy decided at one tick.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Observation time, seconds.
    pub time: f64,
    /// Controller name (`"hpa"`, `"userscale"`).
    pub controller: String,
    /// `spec_replicas` of the observation.
    pub current_replicas: u32,
    /// Replica count the policy wants written; equal to `current_replicas`
    /// when it holds.
    pub desired_replicas: u32,
    /// Human-readable reason, beginning with a stable keyword
    /// (for the HPA, the condition reason such as `ScaleDownStabilized`).
    pub reason: String,
    /// The inputs the policy used (policy-specific JSON object).
    pub inputs: serde_json::Value,
}
