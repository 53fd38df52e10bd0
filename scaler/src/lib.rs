//! Autoscaling policies shared by every backend of the bench.
//!
//! A policy is a pure, clock-free state machine: the caller hands it the
//! current time (seconds, any fixed origin) and an [`Observation`] of the
//! scaled workload, and it answers with a [`Decision`]: the desired replica
//! count, a human-readable reason and the inputs it used. The same code runs
//! inside the embedded simulator, the local backend, the in-cluster scaler and
//! `scaler replay`.
//!
//! * [`hpa`] emulates the Kubernetes HorizontalPodAutoscaler (autoscaling/v2,
//!   CPU `Utilization` target) rule by rule.
//! * [`userscale`] is the GPU-aware policy of the original experiment.
//! * [`keda`] emulates a KEDA ScaledObject with a Prometheus trigger: its
//!   activation loop and the HPA it generates on an External metric.
//! * [`kpa`] emulates Knative's concurrency autoscaler (stable and panic
//!   windows over 1 s buckets).
//! * [`ray`] emulates Ray Serve's queue-length policy (look-back averages,
//!   delays counted in control-loop ticks).
//! * [`config`] holds the TOML policy files and builds policies from them.
//! * [`control`] is the control step around a policy (hold on missing
//!   metrics, clamp to bounds) that every runner takes.
//! * [`signal`] names the per-pod signals a policy declares it reads.
//! * [`replay`] feeds a JSON-lines file of observations through a policy.
//! * [`cluster`] (feature `cluster`, default) runs UserScale against a real
//!   Kubernetes API server and holds the helpers the bench's k8s backend
//!   shares.

#[cfg(feature = "cluster")]
pub mod cluster;
pub mod config;
pub mod control;
pub mod error;
pub mod hpa;
pub mod keda;
pub mod kpa;
pub mod observation;
pub mod ray;
pub mod replay;
pub mod signal;
pub mod userscale;

pub use config::PolicyConfig;
pub use contract::ControllerKind;
pub use error::{Error, Result};
pub use observation::{Decision, Observation, PodObservation, PodPhase};
pub use signal::Signal;

/// A scaling policy. Implementations keep whatever history they need
/// (the HPA keeps recommendations and scale events) but never read a clock:
/// time only enters through [`Observation::time`].
pub trait Policy: Send {
    /// Its controller kind, as the dataset stores it.
    fn kind(&self) -> ControllerKind;

    /// Short stable name of the controller (`"hpa"` or `"userscale"`).
    fn name(&self) -> &'static str {
        self.kind().as_str()
    }

    /// Seconds between two evaluations (HPA sync period, UserScale interval).
    fn interval_s(&self) -> f64;

    /// Lowest and highest replica count this policy may ask for.
    fn bounds(&self) -> (u32, u32);

    /// The per-pod signals its decisions read. A runner places each
    /// signal's pipeline (metrics-server for CPU, the pod's own endpoint
    /// for the others) between the pods and the policy, and records it.
    fn signals(&self) -> &'static [Signal];

    /// Evaluates one controller tick. Observations must come in
    /// non-decreasing time order.
    fn decide(&mut self, obs: &Observation) -> Decision;

    /// Seconds between the samples it takes between its decisions (the
    /// KPA's 1 s metric buckets); `None`: it takes none.
    fn sample_period_s(&self) -> Option<f64> {
        None
    }

    /// One sample of the workload between decisions, at each whole multiple
    /// of [`Policy::sample_period_s`] from t = 0; a runner records nothing
    /// of it. Samples and decisions come in non-decreasing time order.
    fn sample(&mut self, _obs: &Observation) {}
}
