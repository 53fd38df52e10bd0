//! The HPA on a `Pods` metric with an `AverageValue` target: the GPU
//! utilisation the pods report (`kind = "hpa-gpu"`), as a cluster gets it
//! from the DCGM exporter through Prometheus and prometheus-adapter's
//! custom metrics API. Everything after the proposal (stabilisation, rate
//! limits, the legacy path, the replica-count guards) is the CPU HPA's.
//!
//! The proposal is `calcPlainMetricReplicas` of the replica calculator
//! (`docs/hpa.md` §12):
//!
//! 1. each pod's value is its utilisation as a milli-quantity,
//!    `trunc(percent × 1000)` (prometheus-adapter writes a sample `v` as
//!    `NewMilliQuantity(int64(v × 1000))`), the target likewise;
//! 2. pods are grouped as for any metric other than CPU: deleted or failed
//!    pods are ignored, `Pending` pods are unready, a pod without a value
//!    is missing, every other pod counts, Ready or not (the CPU readiness
//!    rule of §4.2 does not apply);
//! 3. usage is the truncating integer mean of the counted pods' values,
//!    `ratio = usage / target`;
//! 4. without missing pods, and unless the ratio is above 1 with unready
//!    pods, the tolerance band decides, else `ceil(ratio × counted)`;
//! 5. otherwise missing pods count as the target on a scale-down, as 0 on
//!    a scale-up (and are left out at a ratio of exactly 1), unready pods
//!    as 0 on a scale-up; the recomputed ratio keeps the current count if
//!    it is within tolerance or reverses the direction, and so does a new
//!    count that moves against it.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{
    assumed, default_downscale_stabilization_s, default_min_replicas, default_sync_period_s,
    default_tolerance, fast_path, invalid, slow_path, validate_controller, Behavior, HpaConfig,
    MetricFailure, Proposal, Tolerances,
};
use crate::{Observation, PodObservation, PodPhase, Result};

/// The custom metric's name, as the adapter would serve it.
pub const METRIC: &str = "gpu_utilization";

/// Configuration of an HPA on the pods' GPU utilisation (`kind =
/// "hpa-gpu"`): a `Pods` metric with an `AverageValue` target, and the
/// controller flags that apply to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HpaGpuConfig {
    /// `spec.minReplicas` (default 1).
    #[serde(default = "default_min_replicas")]
    pub min_replicas: u32,
    /// `spec.maxReplicas`.
    pub max_replicas: u32,
    /// `target.averageValue` of the metric: GPU utilisation, percent (a
    /// quantity, so `60` is 60000m; finer than a milli-percent is lost).
    pub target_gpu_utilization: f64,
    /// `--horizontal-pod-autoscaler-sync-period`, seconds (default 15).
    #[serde(default = "default_sync_period_s")]
    pub sync_period_s: u32,
    /// `--horizontal-pod-autoscaler-tolerance` (default 0.1), both
    /// directions unless `behavior` overrides it.
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// `--horizontal-pod-autoscaler-downscale-stabilization`, seconds
    /// (default 300; see [`HpaConfig::downscale_stabilization_s`]).
    #[serde(default = "default_downscale_stabilization_s")]
    pub downscale_stabilization_s: u32,
    /// `spec.behavior`, as for the CPU HPA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behavior: Option<Behavior>,
}

impl HpaGpuConfig {
    /// A configuration with the given bounds and target and every other
    /// field at its Kubernetes default (no `behavior`: the legacy path).
    pub fn new(min_replicas: u32, max_replicas: u32, target_gpu_utilization: f64) -> Self {
        HpaGpuConfig {
            min_replicas,
            max_replicas,
            target_gpu_utilization,
            sync_period_s: super::DEFAULT_SYNC_PERIOD_S,
            tolerance: super::DEFAULT_TOLERANCE,
            downscale_stabilization_s: super::DEFAULT_DOWNSCALE_STABILIZATION_S,
            behavior: None,
        }
    }

    /// The target as the controller reads it, milli-percent.
    pub fn target_milli(&self) -> i64 {
        milli(self.target_gpu_utilization)
    }

    /// Checks what the API server and the controller flags would reject;
    /// the error names the field.
    pub fn validate(&self) -> Result<()> {
        if self.min_replicas < 1 {
            return Err(invalid(
                "min_replicas",
                "must be at least 1 (scaling to zero needs the HPAScaleToZero gate and an \
                 Object or External metric, which a Pods metric is not)",
            ));
        }
        if self.max_replicas < self.min_replicas.max(1) {
            return Err(invalid(
                "max_replicas",
                format!(
                    "must be at least min_replicas ({}) and 1, got {}",
                    self.min_replicas, self.max_replicas
                ),
            ));
        }
        let t = self.target_gpu_utilization;
        if !(t.is_finite() && t > 0.0 && t <= 100.0) || self.target_milli() == 0 {
            return Err(invalid(
                "target_gpu_utilization",
                format!("must be a utilisation above 0 and at most 100 %, got {t}"),
            ));
        }
        validate_controller(self.sync_period_s, self.tolerance, self.behavior.as_ref())
    }

    /// The controller settings it shares with the CPU HPA (the CPU target
    /// and the CPU readiness periods are not used by a Pods metric).
    pub(super) fn core(&self) -> HpaConfig {
        HpaConfig {
            min_replicas: self.min_replicas,
            max_replicas: self.max_replicas,
            target_cpu_utilization: 0,
            sync_period_s: self.sync_period_s,
            tolerance: self.tolerance,
            cpu_initialization_period_s: super::DEFAULT_CPU_INITIALIZATION_PERIOD_S,
            initial_readiness_delay_s: super::DEFAULT_INITIAL_READINESS_DELAY_S,
            downscale_stabilization_s: self.downscale_stabilization_s,
            behavior: self.behavior.clone(),
        }
    }
}

/// A percentage as a milli-quantity, truncated (as prometheus-adapter
/// converts a sample); saturating at the bounds of `i64`.
fn milli(percent: f64) -> i64 {
    // `as` saturates and maps NaN to 0, as the adapter maps NaN to 0.
    (percent * 1000.0).trunc() as i64
}

/// `groupPods` for a metric other than CPU (step 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Ignored,
    Unready,
    Missing,
    Counted,
}

impl Class {
    fn of(pod: &PodObservation) -> Class {
        match pod.phase {
            PodPhase::Terminating | PodPhase::Failed => Class::Ignored,
            PodPhase::Pending => Class::Unready,
            PodPhase::Running | PodPhase::Succeeded => match pod.gpu_utilization {
                None => Class::Missing,
                Some(_) => Class::Counted,
            },
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Class::Ignored => "ignored",
            Class::Unready => "unready",
            Class::Missing => "missing",
            Class::Counted => "ready",
        }
    }
}

/// `GetMetricUsageRatio`: the truncating integer mean of `values` and its
/// ratio to `target`; `None` without values.
fn usage_ratio(values: &[i64], target: i64) -> Option<(i64, f64)> {
    let n = i64::try_from(values.len()).ok().filter(|&n| n > 0)?;
    let total = values.iter().fold(0i128, |s, &v| s + i128::from(v));
    let usage = i64::try_from(total / i128::from(n)).unwrap_or(i64::MAX);
    Some((usage, usage as f64 / target as f64))
}

/// `GetMetricReplicas` for the pods' GPU utilisation (steps 1–5).
pub(super) fn proposal(
    target: i64,
    tolerances: Tolerances,
    obs: &Observation,
) -> std::result::Result<Proposal, MetricFailure> {
    let r = obs.spec_replicas;
    let classes: Vec<Class> = obs.pods.iter().map(Class::of).collect();
    let classes = classes.as_slice();
    let count = |c: Class| classes.iter().filter(|&&x| x == c).count();
    let (counted, unready, missing, ignored) = (
        count(Class::Counted),
        count(Class::Unready),
        count(Class::Missing),
        count(Class::Ignored),
    );
    let value = |i: usize| obs.pods[i].gpu_utilization.map(milli);
    let rows = |used: &dyn Fn(usize) -> Option<i64>| -> Value {
        Value::Array(
            obs.pods
                .iter()
                .zip(classes)
                .enumerate()
                .map(|(i, (pod, class))| {
                    json!({
                        "name": pod.name,
                        "class": class.as_str(),
                        "value_milli": value(i),
                        "used_milli": used(i),
                    })
                })
                .collect(),
        )
    };
    let inputs = |pods: Value| {
        json!({
            "metric": METRIC,
            "target_milli": target,
            "ready_count": counted,
            "unready": unready,
            "missing": missing,
            "ignored": ignored,
            "pods": pods,
        })
    };
    let fail = |message: String| MetricFailure {
        message,
        inputs: inputs(rows(&|_| None)),
    };
    if obs.pods.is_empty() {
        return Err(fail(
            "no pods returned by selector while calculating replica count".to_owned(),
        ));
    }
    if obs.pods.iter().all(|p| p.gpu_utilization.is_none()) {
        return Err(fail(format!(
            "unable to get metric {METRIC}: no metrics returned from custom metrics API"
        )));
    }
    let of = |c: Class| (0..obs.pods.len()).filter(move |&i| classes[i] == c);
    let values: Vec<i64> = of(Class::Counted).filter_map(value).collect();
    let Some((usage, ratio)) = usage_ratio(&values, target) else {
        return Err(fail(
            "did not receive metrics for targeted pods (pods might be unready)".to_owned(),
        ));
    };
    let head =
        format!("{METRIC} average {usage}m vs target {target}m (ratio {ratio:.2}, {counted} pods)");
    let scale_up_with_unready = unready > 0 && ratio > 1.0;
    if !scale_up_with_unready && missing == 0 {
        let (replicas, explanation) = fast_path(r, ratio, counted, tolerances, &head);
        let mut inputs = inputs(rows(&|i| value(i).filter(|_| classes[i] == Class::Counted)));
        inputs["usage_milli"] = json!(usage);
        inputs["ratio"] = json!(ratio);
        return Ok(Proposal {
            replicas,
            explanation,
            inputs,
        });
    }

    // Step 5: what missing and unready pods contribute.
    let used = |i: usize| -> Option<i64> {
        match classes[i] {
            Class::Counted => value(i),
            Class::Missing if ratio < 1.0 => Some(target),
            Class::Missing if ratio > 1.0 => Some(0),
            Class::Unready if scale_up_with_unready => Some(0),
            Class::Missing | Class::Unready | Class::Ignored => None,
        }
    };
    let with_value: Vec<i64> = (0..obs.pods.len()).filter_map(used).collect();
    let new_count = with_value.len();
    let Some((new_usage, new_ratio)) = usage_ratio(&with_value, target) else {
        return Err(fail(
            "did not receive metrics for targeted pods (pods might be unready)".to_owned(),
        ));
    };
    let assumed = assumed(
        (missing, ratio, "the target", "0"),
        scale_up_with_unready.then_some((unready, "0")),
    );
    let recomputed =
        format!("{head}; {assumed} -> {new_usage}m (ratio {new_ratio:.2} over {new_count} pods)");
    let (replicas, explanation) =
        slow_path(r, (ratio, new_ratio), new_count, tolerances, &recomputed);
    let mut inputs = inputs(rows(&used));
    inputs["usage_milli"] = json!(usage);
    inputs["ratio"] = json!(ratio);
    inputs["new_usage_milli"] = json!(new_usage);
    inputs["new_ratio"] = json!(new_ratio);
    Ok(Proposal {
        replicas,
        explanation,
        inputs,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const TOL: Tolerances = Tolerances { up: 0.1, down: 0.1 };

    fn pod(name: &str, phase: PodPhase, ready: bool, util: Option<f64>) -> PodObservation {
        PodObservation {
            ready: Some(ready),
            ready_transition_time: Some(-100.0),
            start_time: Some(-200.0),
            gpu_utilization: util,
            ..PodObservation::bare(name, phase)
        }
    }

    fn running(name: &str, util: f64) -> PodObservation {
        pod(name, PodPhase::Running, true, Some(util))
    }

    fn propose(r: u32, target: f64, pods: Vec<PodObservation>) -> u32 {
        let obs = Observation {
            time: 0.0,
            spec_replicas: r,
            pods,
        };
        match proposal(milli(target), TOL, &obs) {
            Ok(p) => p.replicas,
            Err(e) => panic!("{}", e.message),
        }
    }

    /// The replica calculator's own custom-metric cases (its test names),
    /// with utilisation standing in for `qps`: 20, 10, 30 against 15 is the
    /// upstream 20000m, 10000m, 30000m against 15000m.
    #[test]
    fn upstream_pods_metric_vectors() {
        // TestReplicaCalcScaleUpCM: mean 20 / 15 = 1.33, ⌈1.33 × 3⌉ = 4.
        let p = vec![running("a", 20.0), running("b", 10.0), running("c", 30.0)];
        assert_eq!(propose(3, 15.0, p), 4);
        // TestReplicaCalcScaleUpCMUnreadyHotCpuNoLessScale: a NotReady
        // running pod still counts for a metric other than CPU: mean 30,
        // ratio 2, 6.
        let p = vec![
            running("a", 50.0),
            running("b", 10.0),
            pod("c", PodPhase::Running, false, Some(30.0)),
        ];
        assert_eq!(propose(3, 15.0, p), 6);
        // TestReplicaCalcScaleUpCMUnreadyHotCpuScaleWouldScaleDown: mean
        // ⌊95000 / 3⌋ = 31666m, ratio 2.11, ⌈6.33⌉ = 7.
        let p = vec![
            pod("a", PodPhase::Running, false, Some(50.0)),
            running("b", 15.0),
            pod("c", PodPhase::Running, false, Some(30.0)),
        ];
        assert_eq!(propose(3, 15.0, p), 7);
    }

    /// Vectors derived from the rules in the module comment.
    #[test]
    fn missing_unready_and_ignored_pods_follow_the_slow_path() {
        // Scale-down with a missing pod: it counts as the target. Mean 20 of
        // three, ratio 0.4; with d at 50: ⌊110000 / 4⌋ = 27500m, ratio 0.55,
        // ⌈0.55 × 4⌉ = 3.
        let p = vec![
            running("a", 20.0),
            running("b", 20.0),
            running("c", 20.0),
            pod("d", PodPhase::Running, true, None),
        ];
        assert_eq!(propose(4, 50.0, p), 3);
        // Scale-up with a missing pod: it counts as 0; 90 and 0 average 45,
        // ratio 0.9 reverses the direction: hold 2.
        let p = vec![running("a", 90.0), pod("b", PodPhase::Running, true, None)];
        assert_eq!(propose(2, 50.0, p), 2);
        // Scale-up with a Pending pod: it counts as 0; ⌊160000 / 3⌋ = 53333m,
        // ratio 1.07, within tolerance: hold 3.
        let p = vec![
            running("a", 80.0),
            running("b", 80.0),
            pod("c", PodPhase::Pending, false, None),
        ];
        assert_eq!(propose(3, 50.0, p), 3);
        // A terminating pod is ignored, whatever it reports: ratio 0.6 over
        // two pods, ⌈1.2⌉ = 2.
        let p = vec![
            running("a", 30.0),
            running("b", 30.0),
            pod("c", PodPhase::Terminating, true, Some(99.0)),
        ];
        assert_eq!(propose(3, 50.0, p), 2);
        // Inside the band: 55 and 52 average 53500m, ratio 1.07.
        assert_eq!(
            propose(2, 50.0, vec![running("a", 55.0), running("b", 52.0)]),
            2
        );
    }

    #[test]
    fn values_are_truncated_milli_quantities_and_no_metric_fails_the_sync() {
        assert_eq!(milli(33.3339), 33333);
        assert_eq!(milli(f64::NAN), 0);
        // 60.0009 and 59.9999 are 60000m and 59999m: mean 59999m.
        let obs = Observation {
            time: 0.0,
            spec_replicas: 2,
            pods: vec![running("a", 60.0009), running("b", 59.9999)],
        };
        let p = proposal(milli(60.0), TOL, &obs)
            .map_err(|e| e.message)
            .unwrap();
        assert_eq!(p.inputs["usage_milli"], 59999);
        let none = Observation {
            time: 0.0,
            spec_replicas: 2,
            pods: vec![pod("a", PodPhase::Running, true, None)],
        };
        let e = proposal(60000, TOL, &none).err().unwrap();
        assert!(
            e.message
                .contains("no metrics returned from custom metrics API"),
            "{}",
            e.message
        );
        let pending = Observation {
            time: 0.0,
            spec_replicas: 1,
            pods: vec![pod("a", PodPhase::Pending, false, Some(50.0))],
        };
        let e = proposal(60000, TOL, &pending).err().unwrap();
        assert!(e.message.contains("pods might be unready"), "{}", e.message);
    }

    #[test]
    fn the_target_must_be_a_utilisation() {
        for bad in [0.0, -1.0, 100.5, f64::NAN, 0.0001] {
            let e = HpaGpuConfig::new(1, 4, bad).validate().unwrap_err();
            assert!(e.to_string().contains("target_gpu_utilization"), "{e}");
        }
        HpaGpuConfig::new(1, 4, 60.0).validate().unwrap();
        let e = HpaGpuConfig::new(0, 4, 60.0).validate().unwrap_err();
        assert!(e.to_string().contains("min_replicas"), "{e}");
    }
}
