//! The control step every runner of a policy takes: the simulator, the
//! local backend's controller thread and `scaler run` in a cluster.
//!
//! A tick's decision is the policy's, unless a pod that takes traffic gave
//! no usable metrics (it did not answer, or answered values outside their
//! physical range): then the tick holds at the current replica count with
//! the reason `MetricsMissing`, naming the pods, and the policy does not
//! see the observation at all. A runner never scales on a guess. Either
//! way the answer is clamped to the policy's bounds.

use crate::{Decision, Observation, Policy};

/// The decision of one tick on `obs`, where `missing` names the serving
/// pods whose metrics were not usable.
pub fn plan(policy: &mut dyn Policy, obs: &Observation, missing: &[String]) -> Decision {
    let (min, max) = policy.bounds();
    let mut d = if missing.is_empty() {
        policy.decide(obs)
    } else {
        Decision {
            time: obs.time,
            controller: policy.kind(),
            current_replicas: obs.spec_replicas,
            desired_replicas: obs.spec_replicas,
            reason: format!(
                "MetricsMissing: no usable /metrics.json from ready pod(s) {}; holding",
                missing.join(", ")
            ),
            inputs: serde_json::json!({ "missing": missing }),
        }
    };
    let clamped = d.desired_replicas.clamp(min, max.max(min));
    if clamped != d.desired_replicas {
        d.reason = format!("{} (clamped to [{min}, {max}])", d.reason);
        d.desired_replicas = clamped;
    }
    d
}
