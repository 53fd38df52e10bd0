//! What a controller sees at one tick, and what it answers.
//!
//! [`Observation::validate`] checks every field against its physical range
//! (and the bounds below); `scaler replay` and the in-cluster controller
//! refuse what it refuses.

use serde::{Deserialize, Serialize};

/// Most pods one observation may list. A Kubernetes cluster supports at
/// most 150,000 pods in all and a few thousand per workload in practice;
/// beyond this the policies' work (and memory) per tick grows without
/// telling anything new.
pub const MAX_PODS: usize = 10_000;

/// Largest CPU quantity (a pod's request or usage) an observation may
/// carry, millicores: 10^9 m, a million cores, far beyond any pod (a node
/// has at most a few hundred cores). The HPA's utilisation sums these over
/// the pods; the bound keeps that sum and its percentage meaningful.
pub const MAX_CPU_MILLICORES: u64 = 1_000_000_000;

/// Largest `spec_replicas`: Kubernetes' `scale.spec.replicas` is an int32.
pub const MAX_SPEC_REPLICAS: u32 = i32::MAX as u32;

/// Longest pod name, bytes: Kubernetes object names are DNS subdomains of
/// at most 253 characters.
pub const MAX_POD_NAME_BYTES: usize = 253;

/// Longest input line `scaler replay` reads, bytes (without the newline):
/// 8 MiB, room for [`MAX_PODS`] pods of about 800 bytes each, every field
/// set and a maximal name. A longer line is refused before it is parsed.
pub const MAX_LINE_BYTES: usize = 8 << 20;

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

impl Observation {
    /// Checks every field against its physical range: `time` finite;
    /// `spec_replicas` at most [`MAX_SPEC_REPLICAS`]; at most [`MAX_PODS`]
    /// pods (checked first, before any pod); each pod as
    /// [`PodObservation::validate`] checks it, its fields then named
    /// `pods[i].field` (`i` from 0).
    pub fn validate(&self) -> Result<(), InvalidObservation> {
        if self.pods.len() > MAX_PODS {
            return Err(InvalidObservation::new(
                "pods",
                Problem::TooManyPods {
                    count: self.pods.len(),
                    max: MAX_PODS,
                },
            ));
        }
        finite("time", self.time)?;
        at_most(
            "spec_replicas",
            u64::from(self.spec_replicas),
            u64::from(MAX_SPEC_REPLICAS),
        )?;
        for (i, pod) in self.pods.iter().enumerate() {
            pod.validate().map_err(|mut e| {
                e.field = format!("pods[{i}].{}", e.field);
                e
            })?;
        }
        Ok(())
    }
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

impl PodObservation {
    /// Whether it serves: running with its Ready condition true (a pod
    /// being deleted has phase `Terminating` and does not).
    pub fn is_serving(&self) -> bool {
        self.phase == PodPhase::Running && self.ready == Some(true)
    }

    /// A pod of which only the name and phase are known: no Ready
    /// condition, times, requests or metrics yet. Fill in what a source
    /// knows.
    pub fn bare(name: impl Into<String>, phase: PodPhase) -> PodObservation {
        PodObservation {
            name: name.into(),
            phase,
            ready: None,
            ready_transition_time: None,
            start_time: None,
            cpu_request_m: None,
            cpu_usage_m: None,
            metric_timestamp: None,
            metric_window: None,
            gpu_utilization: None,
            in_flight: None,
            avg_latency_ms: None,
        }
    }

    /// Checks every field against its physical range (field names as in
    /// the JSON):
    ///
    /// * `name`: not empty, at most [`MAX_POD_NAME_BYTES`] bytes;
    /// * `ready_transition_time`, `start_time`, `metric_timestamp`: finite
    ///   (any sign: times count from an arbitrary origin);
    /// * `cpu_request_m`, `cpu_usage_m`: at most [`MAX_CPU_MILLICORES`];
    /// * `metric_window`: finite and > 0 seconds;
    /// * `gpu_utilization`: within 0..=100 percent;
    /// * `avg_latency_ms`: finite and >= 0;
    /// * `in_flight`: any `u32` (the type is the bound).
    ///
    /// NaN and infinities are refused wherever a number is.
    pub fn validate(&self) -> Result<(), InvalidObservation> {
        if self.name.is_empty() {
            return Err(InvalidObservation::new("name", Problem::Empty));
        }
        if self.name.len() > MAX_POD_NAME_BYTES {
            return Err(InvalidObservation::new(
                "name",
                Problem::TooLong {
                    len: self.name.len(),
                    max: MAX_POD_NAME_BYTES,
                },
            ));
        }
        if let Some(t) = self.ready_transition_time {
            finite("ready_transition_time", t)?;
        }
        if let Some(t) = self.start_time {
            finite("start_time", t)?;
        }
        if let Some(m) = self.cpu_request_m {
            at_most("cpu_request_m", m, MAX_CPU_MILLICORES)?;
        }
        if let Some(m) = self.cpu_usage_m {
            at_most("cpu_usage_m", m, MAX_CPU_MILLICORES)?;
        }
        if let Some(t) = self.metric_timestamp {
            finite("metric_timestamp", t)?;
        }
        if let Some(w) = self.metric_window {
            finite("metric_window", w)?;
            if !(w > 0.0) {
                return Err(InvalidObservation::new(
                    "metric_window",
                    Problem::NotPositive(w),
                ));
            }
        }
        if let Some(g) = self.gpu_utilization {
            finite("gpu_utilization", g)?;
            if !(0.0..=100.0).contains(&g) {
                return Err(InvalidObservation::new(
                    "gpu_utilization",
                    Problem::OutOfRange {
                        value: g,
                        min: 0.0,
                        max: 100.0,
                    },
                ));
            }
        }
        if let Some(l) = self.avg_latency_ms {
            finite("avg_latency_ms", l)?;
            if !(l >= 0.0) {
                return Err(InvalidObservation::new(
                    "avg_latency_ms",
                    Problem::Negative(l),
                ));
            }
        }
        Ok(())
    }
}

fn finite(field: &str, value: f64) -> Result<(), InvalidObservation> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(InvalidObservation::new(field, Problem::NotFinite(value)))
    }
}

fn at_most(field: &str, value: u64, max: u64) -> Result<(), InvalidObservation> {
    if value <= max {
        Ok(())
    } else {
        Err(InvalidObservation::new(
            field,
            Problem::TooLarge { value, max },
        ))
    }
}

/// An observation field outside its range: which field, and why.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct InvalidObservation {
    /// The field, as named in the JSON: `time`, `pods`, `pods[3].gpu_utilization`
    /// (from [`PodObservation::validate`] alone, without the `pods[i].`).
    pub field: String,
    /// What is wrong with its value.
    pub problem: Problem,
}

impl InvalidObservation {
    fn new(field: &str, problem: Problem) -> Self {
        InvalidObservation {
            field: field.to_owned(),
            problem,
        }
    }
}

/// What is wrong with an observation field's value.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Problem {
    /// NaN or an infinity.
    #[error("must be a finite number, got {}", show(.0))]
    NotFinite(f64),
    /// Outside a closed range.
    #[error("must be within {min}..={max}, got {}", show(.value))]
    OutOfRange {
        /// The value.
        value: f64,
        /// Lowest allowed.
        min: f64,
        /// Highest allowed.
        max: f64,
    },
    /// Zero or negative where only a positive value makes sense.
    #[error("must be > 0, got {}", show(.0))]
    NotPositive(f64),
    /// Negative where only zero or more makes sense.
    #[error("must be >= 0, got {}", show(.0))]
    Negative(f64),
    /// An integer above its bound.
    #[error("must be at most {max}, got {value}")]
    TooLarge {
        /// The value.
        value: u64,
        /// The bound.
        max: u64,
    },
    /// More pods than [`MAX_PODS`].
    #[error("{count} pods, more than the {max} one observation may hold")]
    TooManyPods {
        /// Pods in the observation.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// An empty string.
    #[error("must not be empty")]
    Empty,
    /// A string longer than its bound.
    #[error("is {len} bytes long, more than {max}")]
    TooLong {
        /// Its length, bytes.
        len: usize,
        /// The bound, bytes.
        max: usize,
    },
}

/// A number as a message shows it: plain, or in exponent form when that
/// would be long (`1e308`, not 309 digits).
fn show(v: &f64) -> String {
    let v = *v;
    let a = v.abs();
    if a != 0.0 && a.is_finite() && !(1e-6..1e15).contains(&a) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// What a policy decided at one tick.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Observation time, seconds.
    pub time: f64,
    /// The controller that decided (serialised `"hpa"`, `"userscale"`).
    pub controller: contract::ControllerKind,
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pod() -> PodObservation {
        PodObservation {
            name: "web-a".into(),
            phase: PodPhase::Running,
            ready: Some(true),
            ready_transition_time: Some(-990.0),
            start_time: Some(-1000.0),
            cpu_request_m: Some(200),
            cpu_usage_m: Some(240),
            metric_timestamp: Some(-1.0),
            metric_window: Some(15.0),
            gpu_utilization: Some(92.0),
            in_flight: Some(4),
            avg_latency_ms: Some(1350.0),
        }
    }

    fn obs(pods: Vec<PodObservation>) -> Observation {
        Observation {
            time: 0.0,
            spec_replicas: 3,
            pods,
        }
    }

    /// The field and the message of `pod` as the second pod of an observation.
    fn refused(pod: PodObservation) -> (String, String) {
        let e = obs(vec![self::pod(), pod]).validate().unwrap_err();
        (e.field.clone(), e.to_string())
    }

    #[test]
    fn a_plausible_observation_and_the_range_edges_pass() {
        obs(vec![pod(), pod()]).validate().unwrap();
        obs(Vec::new()).validate().unwrap();
        let mut p = pod();
        (p.gpu_utilization, p.avg_latency_ms) = (Some(0.0), Some(0.0));
        (p.cpu_request_m, p.cpu_usage_m) = (Some(0), Some(MAX_CPU_MILLICORES));
        p.name = "x".repeat(MAX_POD_NAME_BYTES);
        p.validate().unwrap();
        p.gpu_utilization = Some(100.0);
        p.metric_window = Some(f64::MIN_POSITIVE);
        p.validate().unwrap();
        // Everything optional may be absent.
        let bare = PodObservation::bare("p", PodPhase::Pending);
        bare.validate().unwrap();
        let mut o = obs(vec![bare]);
        o.spec_replicas = MAX_SPEC_REPLICAS;
        o.validate().unwrap();
    }

    #[test]
    fn each_field_out_of_range_is_named() {
        /// A change to a good pod, the field named and part of the message.
        type Case = (fn(&mut PodObservation), &'static str, &'static str);
        let cases: Vec<Case> = vec![
            (
                |p| p.gpu_utilization = Some(150.0),
                "pods[1].gpu_utilization",
                "pods[1].gpu_utilization: must be within 0..=100, got 150",
            ),
            (
                |p| p.gpu_utilization = Some(-50.0),
                "pods[1].gpu_utilization",
                "must be within 0..=100, got -50",
            ),
            (
                |p| p.gpu_utilization = Some(1e308),
                "pods[1].gpu_utilization",
                "must be within 0..=100, got 1e308",
            ),
            (
                |p| p.gpu_utilization = Some(f64::NAN),
                "pods[1].gpu_utilization",
                "must be a finite number, got NaN",
            ),
            (
                |p| p.avg_latency_ms = Some(-1e9),
                "pods[1].avg_latency_ms",
                "must be >= 0, got -1000000000",
            ),
            (
                |p| p.avg_latency_ms = Some(f64::INFINITY),
                "pods[1].avg_latency_ms",
                "must be a finite number, got inf",
            ),
            (
                |p| p.metric_window = Some(0.0),
                "pods[1].metric_window",
                "must be > 0, got 0",
            ),
            (
                |p| p.metric_window = Some(-15.0),
                "pods[1].metric_window",
                "must be > 0, got -15",
            ),
            (
                |p| p.metric_window = Some(f64::NAN),
                "pods[1].metric_window",
                "finite",
            ),
            (
                |p| p.cpu_usage_m = Some(1 << 63),
                "pods[1].cpu_usage_m",
                "must be at most 1000000000, got 9223372036854775808",
            ),
            (
                |p| p.cpu_request_m = Some(MAX_CPU_MILLICORES + 1),
                "pods[1].cpu_request_m",
                "must be at most 1000000000",
            ),
            (
                |p| p.start_time = Some(f64::NEG_INFINITY),
                "pods[1].start_time",
                "finite",
            ),
            (
                |p| p.ready_transition_time = Some(f64::NAN),
                "pods[1].ready_transition_time",
                "finite",
            ),
            (
                |p| p.metric_timestamp = Some(f64::INFINITY),
                "pods[1].metric_timestamp",
                "finite",
            ),
            (|p| p.name.clear(), "pods[1].name", "must not be empty"),
            (
                |p| p.name = "x".repeat(MAX_POD_NAME_BYTES + 1),
                "pods[1].name",
                "is 254 bytes long, more than 253",
            ),
        ];
        for (change, field, message) in cases {
            let mut p = pod();
            change(&mut p);
            let (f, m) = refused(p);
            assert_eq!(f, field);
            assert!(m.contains(message), "{m}");
        }
    }

    #[test]
    fn the_observation_itself_is_checked() {
        let mut o = obs(vec![pod()]);
        o.time = f64::NAN;
        assert_eq!(o.validate().unwrap_err().field, "time");
        let mut o = obs(vec![pod()]);
        o.spec_replicas = MAX_SPEC_REPLICAS + 1;
        assert_eq!(o.validate().unwrap_err().field, "spec_replicas");
    }

    #[test]
    fn too_many_pods_are_refused_before_any_pod_is_looked_at() {
        let mut bad = pod();
        bad.gpu_utilization = Some(150.0);
        let o = obs(vec![bad; MAX_PODS + 1]);
        let e = o.validate().unwrap_err();
        assert_eq!(
            e,
            InvalidObservation {
                field: "pods".into(),
                problem: Problem::TooManyPods {
                    count: MAX_PODS + 1,
                    max: MAX_PODS
                }
            }
        );
        assert_eq!(
            e.to_string(),
            "pods: 10001 pods, more than the 10000 one observation may hold"
        );
        obs(vec![pod(); MAX_PODS]).validate().unwrap();
    }
}
