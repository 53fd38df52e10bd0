//! The HPA on an `External` metric with an `AverageValue` target, as KEDA
//! generates it for a trigger (`docs/hpa.md` §13). The metric is one
//! number for the whole workload (KEDA's answer to the trigger's query);
//! the proposal is the replica calculator's
//! `GetExternalPerPodMetricReplicas`:
//!
//! 1. `usage` is the metric's value as a milli-quantity (KEDA writes a
//!    value `v` as `NewMilliQuantity(int64(v × 1000))`), the target
//!    likewise;
//! 2. the count it divides by is the target's `status.replicas`: every pod
//!    that is neither being deleted nor finished, whether Ready or not (no
//!    pod is classified and no readiness rule applies);
//! 3. `ratio = usage / (target × status.replicas)`; inside the tolerance
//!    band the proposal is `status.replicas`, else `ceil(usage / target)`.
//!
//! Everything after the proposal is the CPU HPA's.

use serde_json::json;

use super::{MetricFailure, Proposal, Tolerances};
use crate::{Observation, PodPhase};

/// A value as a milli-quantity, truncated toward zero as `int64(v × 1000)`
/// (saturating; NaN is 0).
pub(crate) fn milli(v: f64) -> i64 {
    (v * 1000.0).trunc() as i64
}

/// `status.replicas` of the scale target: the pods neither being deleted
/// nor in a terminal phase.
pub(crate) fn status_replicas(obs: &Observation) -> usize {
    obs.pods
        .iter()
        .filter(|p| {
            !matches!(
                p.phase,
                PodPhase::Terminating | PodPhase::Failed | PodPhase::Succeeded
            )
        })
        .count()
}

/// `GetExternalPerPodMetricReplicas` for `usage` milli-units of metric
/// `metric` against `target` milli-units per pod.
pub(super) fn proposal(
    metric: &str,
    target: i64,
    tolerances: Tolerances,
    obs: &Observation,
    usage: std::result::Result<i64, String>,
) -> std::result::Result<Proposal, MetricFailure> {
    let status = status_replicas(obs);
    let usage = usage.map_err(|message| MetricFailure {
        message: format!("unable to get external metric {metric}: {message}"),
        inputs: json!({ "metric": metric, "target_milli": target, "status_replicas": status }),
    })?;
    let ratio = usage as f64 / (target as f64 * status as f64);
    let head = format!(
        "{metric} {usage}m vs target {target}m per pod over {status} pods (ratio {ratio:.2})"
    );
    // Go's comparison with NaN (0 over 0 pods) is false: no change.
    let (replicas, explanation) = if ratio.is_nan() || tolerances.within(ratio) {
        let r = u32::try_from(status).unwrap_or(u32::MAX);
        (
            r,
            format!(
                "{head} within tolerance [{:.2}, {:.2}] -> proposal {r}",
                1.0 - tolerances.down,
                1.0 + tolerances.up
            ),
        )
    } else {
        let p = (usage as f64 / target as f64).ceil() as u32;
        (p, format!("{head} -> proposal {p}"))
    };
    Ok(Proposal {
        replicas,
        explanation,
        inputs: json!({
            "metric": metric,
            "usage_milli": usage,
            "target_milli": target,
            "status_replicas": status,
            "ratio": if ratio.is_finite() { json!(ratio) } else { json!(null) },
        }),
    })
}
