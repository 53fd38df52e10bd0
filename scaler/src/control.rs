//! The control step every runner of a policy takes: the simulator, the
//! local backend's controller thread and `scaler run` in a cluster.
//!
//! A tick's decision is the policy's, unless the policy reads a signal from
//! the pods' own `/metrics.json` ([`crate::Signal::from_pod_endpoint`]) and
//! a pod that takes traffic gave no usable metrics (it did not answer, or
//! answered values outside their physical range): then the tick holds at
//! the current replica count with the reason `MetricsMissing`, naming the
//! pods, and the policy does not see the observation at all. A runner never
//! scales on a guess. A policy that reads nothing from the pods themselves
//! (the HPA: metrics-server's CPU, or GPU utilisation through the metrics
//! pipeline) decides as its own controller would, with its own rules for
//! pods without a value. Either way the answer is clamped to the policy's
//! bounds.

use crate::{Decision, Observation, Policy};

/// The decision of one tick on `obs`, where `missing` names the serving
/// pods whose metrics were not usable.
pub fn plan(policy: &mut dyn Policy, obs: &Observation, missing: &[String]) -> Decision {
    let (min, max) = policy.bounds();
    let reads_pods = policy.signals().iter().any(|s| s.from_pod_endpoint());
    let mut d = if missing.is_empty() || !reads_pods {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{PodObservation, PodPhase, PolicyConfig};

    fn obs() -> Observation {
        let pod = |name: &str| PodObservation {
            ready: Some(true),
            ready_transition_time: Some(-500.0),
            start_time: Some(-600.0),
            cpu_request_m: Some(500),
            cpu_usage_m: Some(450),
            gpu_utilization: Some(95.0),
            in_flight: Some(3),
            avg_latency_ms: Some(1500.0),
            ..PodObservation::bare(name, PodPhase::Running)
        };
        Observation {
            time: 0.0,
            spec_replicas: 2,
            pods: vec![pod("a"), pod("b")],
        }
    }

    #[test]
    fn only_a_policy_that_reads_the_pods_endpoints_holds_on_a_missing_answer() {
        let missing = ["b".to_string()];
        let mut userscale = PolicyConfig::original_userscale().build();
        let d = plan(userscale.as_mut(), &obs(), &missing);
        assert_eq!(d.desired_replicas, 2);
        assert!(d.reason.starts_with("MetricsMissing"), "{}", d.reason);
        // The HPAs read metrics-server or the metrics pipeline, not the
        // pods: they decide (CPU 90 % of request against 40 %: up).
        for config in [
            PolicyConfig::original_hpa(),
            PolicyConfig::HpaGpu(crate::hpa::HpaGpuConfig::new(1, 6, 60.0)),
        ] {
            let d = plan(config.build().as_mut(), &obs(), &missing);
            assert!(d.desired_replicas > 2, "{}: {}", config.name(), d.reason);
            assert!(!d.reason.starts_with("MetricsMissing"), "{}", d.reason);
        }
    }
}
