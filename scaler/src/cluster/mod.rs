//! Kubernetes glue shared by the in-cluster controller (`scaler run`) and
//! the bench's k8s backend (feature `cluster`, on by default).
//!
//! * [`kube_api`]: the few API calls both make (the Deployment's scale
//!   subresource, pods by label, Events), each retried with back-off on a
//!   transient error.
//! * [`controller`]: the UserScale control loop.
//! * [`server`]: the controller's `/healthz`, `/metrics` and `/decisions`.
//! * [`http`]: a minimal HTTP/1.1 client for the pods' `/metrics.json`.
//! * `testing` (feature `test-support`): a mocked API server for tests.
//!
//! Everything here converts Kubernetes objects into the policies'
//! [`Observation`](crate::Observation); the policies themselves never see a
//! Kubernetes type.

pub mod controller;
pub mod http;
pub mod kube_api;
pub mod server;
#[cfg(feature = "test-support")]
pub mod testing;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

use crate::{PodObservation, PodPhase};

/// Errors of the cluster code.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A Kubernetes API call failed (after its retries, for a transient one).
    #[error("{what}: {source}")]
    Api {
        /// The call, for example `patch deployments/userscale-app/scale`.
        what: String,
        /// kube's error.
        #[source]
        source: kube::Error,
    },
    /// The configuration cannot work (names what is wrong).
    #[error("{0}")]
    Config(String),
    /// Reading the policy failed.
    #[error(transparent)]
    Policy(#[from] crate::Error),
    /// Binding or serving the controller's HTTP port failed.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Seconds since the Unix epoch of a Kubernetes timestamp.
pub fn unix_s(t: &Timestamp) -> f64 {
    t.as_millisecond() as f64 / 1e3
}

/// A CPU quantity (`"500m"`, `"2"`, `"0.5"`, `"1234567n"`, `"12u"`) in
/// millicores; `None` when it does not parse.
pub fn cpu_millicores(q: &str) -> Option<f64> {
    let q = q.trim();
    let (num, scale) = if let Some(n) = q.strip_suffix('n') {
        (n, 1e-6)
    } else if let Some(n) = q.strip_suffix('u') {
        (n, 1e-3)
    } else if let Some(n) = q.strip_suffix('m') {
        (n, 1.0)
    } else if let Some(n) = q.strip_suffix('k') {
        (n, 1e6)
    } else {
        (q, 1e3)
    };
    let v: f64 = num.parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v * scale)
}

/// Whether the pod's `Ready` condition is `True`, and when it last changed.
pub fn pod_ready(pod: &Pod) -> (Option<bool>, Option<f64>) {
    let cond = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
    match cond {
        None => (None, None),
        Some(c) => (
            Some(c.status == "True"),
            c.last_transition_time.as_ref().map(|t| unix_s(&t.0)),
        ),
    }
}

/// The pod's phase as the policies classify it (deletion wins).
pub fn pod_phase(pod: &Pod) -> PodPhase {
    if pod.metadata.deletion_timestamp.is_some() {
        return PodPhase::Terminating;
    }
    match pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
    {
        "Running" => PodPhase::Running,
        "Succeeded" => PodPhase::Succeeded,
        "Failed" => PodPhase::Failed,
        _ => PodPhase::Pending,
    }
}

/// A CPU quantity in whole millicores, rounded up, exactly as Kubernetes'
/// `Quantity.MilliValue` gives it: decimal arithmetic, no floating point
/// (`"0.1"` is 100, `"1500000n"` is 2). Plain decimals with the SI
/// suffixes n, u, m, k, M, G, T, P, E or a decimal exponent (`"1e3"`);
/// `None` for anything else (binary suffixes make no sense for CPU).
pub fn cpu_milli_value(q: &str) -> Option<u64> {
    let q = q.trim();
    let (num, mut exp10) = match q.char_indices().last()? {
        (i, 'n') => (&q[..i], -9),
        (i, 'u') => (&q[..i], -6),
        (i, 'm') => (&q[..i], -3),
        (i, 'k') => (&q[..i], 3),
        (i, 'M') => (&q[..i], 6),
        (i, 'G') => (&q[..i], 9),
        (i, 'T') => (&q[..i], 12),
        (i, 'P') => (&q[..i], 15),
        (i, 'E') => (&q[..i], 18),
        _ => match q.split_once(['e', 'E']) {
            Some((m, e)) => (m, e.parse::<i32>().ok()?),
            None => (q, 0),
        },
    };
    let num = num.strip_prefix('+').unwrap_or(num);
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // The value in cores is digits × 10^exp10; in millicores one more 10^3.
    let digits = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0');
    exp10 += 3 - i32::try_from(frac.len()).ok()?;
    let mut mantissa: u128 = 0;
    for b in digits.bytes() {
        mantissa = mantissa
            .checked_mul(10)?
            .checked_add(u128::from(b - b'0'))?;
    }
    let milli = if exp10 >= 0 {
        mantissa.checked_mul(10u128.checked_pow(u32::try_from(exp10).ok()?)?)?
    } else {
        match 10u128.checked_pow(exp10.unsigned_abs()) {
            Some(d) => mantissa.div_ceil(d),
            // More than 38 decimal places below a millicore: any non-zero
            // value still rounds up to one.
            None => u128::from(mantissa > 0),
        }
    };
    u64::try_from(milli).ok()
}

/// The pod's CPU request as the HPA sums it (`calculatePodRequestsFromContainers`
/// in Kubernetes' `replica_calculator.go`, docs/hpa.md §4.1): the regular
/// containers and the restartable init containers (sidecars, `restartPolicy:
/// Always`), each rounded up to a whole millicore; `None` when one of them
/// has no CPU request (the HPA then fails the sync) or it does not parse.
pub fn pod_cpu_request_m(pod: &Pod) -> Option<u64> {
    let spec = pod.spec.as_ref()?;
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    let mut sum = 0u64;
    for c in spec.containers.iter().chain(sidecars) {
        let q = c.resources.as_ref()?.requests.as_ref()?.get("cpu")?;
        sum = sum.checked_add(cpu_milli_value(&q.0)?)?;
    }
    Some(sum)
}

/// A pod as the policies see it, times in seconds since `origin_unix_s`.
/// The metrics fields are left empty for the caller to fill.
pub fn pod_observation(pod: &Pod, origin_unix_s: f64) -> PodObservation {
    let (ready, ready_at) = pod_ready(pod);
    PodObservation {
        phase: pod_phase(pod),
        ready,
        ready_transition_time: ready_at.map(|t| t - origin_unix_s),
        start_time: pod
            .status
            .as_ref()
            .and_then(|s| s.start_time.as_ref())
            .map(|t| unix_s(&t.0) - origin_unix_s),
        cpu_request_m: pod_cpu_request_m(pod),
        ..PodObservation::bare(
            pod.metadata.name.clone().unwrap_or_default(),
            PodPhase::Pending,
        )
    }
}

/// Every pod's observation at a tick, and the serving pods whose metrics
/// are missing. `serving_metrics[k]` is what the `k`-th serving pod (in
/// `pods` order, [`pod_serving`]) answered on `/metrics.json`; a serving
/// pod without an answer, or with a value out of range, is missing and its
/// metric fields stay empty. Only serving pods' metrics are read.
pub fn observe_pods(
    pods: &[Pod],
    serving_metrics: &[Option<PodMetrics>],
    origin_unix_s: f64,
) -> (Vec<PodObservation>, Vec<String>) {
    let mut missing = Vec::new();
    let mut serving = serving_metrics.iter();
    let observed = pods
        .iter()
        .map(|pod| {
            let mut o = pod_observation(pod, origin_unix_s);
            if pod_serving(pod) {
                match serving.next().and_then(Option::as_ref) {
                    Some(m) => {
                        if let Err(e) = m.fill_checked(&mut o) {
                            tracing::warn!(
                                "pod {}: metrics treated as missing, out of range: {e}",
                                o.name
                            );
                            missing.push(o.name.clone());
                        }
                    }
                    None => missing.push(o.name.clone()),
                }
            }
            o
        })
        .collect();
    (observed, missing)
}

/// Whether a pod has ended: phase Succeeded or Failed (evicted, rejected
/// at admission, or done); it holds nothing and waits for garbage collection.
pub fn pod_finished(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// Whether a pod takes traffic: running, Ready and not being deleted.
pub fn pod_serving(pod: &Pod) -> bool {
    pod_phase(pod) == PodPhase::Running && pod_ready(pod).0 == Some(true)
}

/// What a workload pod reports on `/metrics.json` (the workload writes the
/// same type).
pub use contract::PodMetrics;

/// How a pod's `/metrics.json` enters its observation, the same way in
/// `scaler run` and the bench's real backends.
pub trait ObserveMetrics {
    /// Fills a pod observation's metric fields. A pod that completed no
    /// request in its window reports no latency.
    fn fill(&self, obs: &mut PodObservation);

    /// Whether every value is within its physical range (the rules of
    /// [`PodObservation::validate`]); the error names the field.
    fn check(&self) -> Result<(), crate::observation::InvalidObservation>;

    /// [`fill`](Self::fill), then [`PodObservation::validate`]. When a value
    /// is out of range the metric fields are left empty again, as for a pod
    /// that did not answer, and the error names the field.
    fn fill_checked(
        &self,
        obs: &mut PodObservation,
    ) -> Result<(), crate::observation::InvalidObservation>;
}

impl ObserveMetrics for PodMetrics {
    fn fill(&self, obs: &mut PodObservation) {
        obs.gpu_utilization = Some(self.gpu_utilization);
        obs.in_flight = Some(u32::try_from(self.concurrent_requests).unwrap_or(u32::MAX));
        obs.avg_latency_ms =
            (self.window_requests > 0 || self.avg_latency_ms > 0.0).then_some(self.avg_latency_ms);
    }

    fn check(&self) -> Result<(), crate::observation::InvalidObservation> {
        let mut probe = PodObservation {
            ready: Some(true),
            ..PodObservation::bare("pod", PodPhase::Running)
        };
        self.fill(&mut probe);
        probe.validate()
    }

    fn fill_checked(
        &self,
        obs: &mut PodObservation,
    ) -> Result<(), crate::observation::InvalidObservation> {
        self.fill(obs);
        let checked = obs.validate();
        if checked.is_err() {
            obs.gpu_utilization = None;
            obs.in_flight = None;
            obs.avg_latency_ms = None;
        }
        checked
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quantities() {
        assert_eq!(cpu_millicores("500m"), Some(500.0));
        assert_eq!(cpu_millicores("2"), Some(2000.0));
        assert_eq!(cpu_millicores("0.25"), Some(250.0));
        assert_eq!(cpu_millicores("1500000n"), Some(1.5));
        assert_eq!(cpu_millicores("250u"), Some(0.25));
        assert_eq!(cpu_millicores("abc"), None);
        assert_eq!(cpu_millicores("-1"), None);
    }

    #[test]
    fn milli_values_round_up_in_decimal() {
        assert_eq!(cpu_milli_value("500m"), Some(500));
        assert_eq!(cpu_milli_value("2"), Some(2000));
        assert_eq!(cpu_milli_value("0.1"), Some(100));
        assert_eq!(cpu_milli_value(".25"), Some(250));
        assert_eq!(cpu_milli_value("1500000n"), Some(2));
        assert_eq!(cpu_milli_value("1000000n"), Some(1));
        assert_eq!(cpu_milli_value("1u"), Some(1));
        assert_eq!(cpu_milli_value("0m"), Some(0));
        assert_eq!(cpu_milli_value("0.0001"), Some(1));
        assert_eq!(cpu_milli_value("2k"), Some(2_000_000));
        assert_eq!(cpu_milli_value("1e3"), Some(1_000_000));
        assert_eq!(cpu_milli_value("15e-4"), Some(2));
        for bad in ["", "m", "abc", "-1", "1Ki", "1.2.3", "1e", "1 m"] {
            assert_eq!(cpu_milli_value(bad), None, "{bad:?}");
        }
    }

    fn pod_with(init: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {
                "containers": [
                    {"name": "a", "resources": {"requests": {"cpu": "1500000n"}}},
                    {"name": "b", "resources": {"requests": {"cpu": "0.1"}}}
                ],
                "initContainers": init
            }
        }))
        .unwrap()
    }

    #[test]
    fn requests_sum_regular_and_sidecar_containers_each_rounded_up() {
        // Each container rounds up on its own (2 + 100), as MilliValue does.
        assert_eq!(
            pod_cpu_request_m(&pod_with(serde_json::json!([]))),
            Some(102)
        );
        // A restartable init container (sidecar) counts; a plain init
        // container does not, with or without a request.
        let init = serde_json::json!([
            {"name": "setup", "resources": {"requests": {"cpu": "4"}}},
            {"name": "nocpu"},
            {"name": "proxy", "restartPolicy": "Always",
             "resources": {"requests": {"cpu": "250m"}}}
        ]);
        assert_eq!(pod_cpu_request_m(&pod_with(init)), Some(352));
        // A sidecar without a CPU request fails the sum, as it fails the
        // HPA's sync.
        let init = serde_json::json!([{"name": "proxy", "restartPolicy": "Always"}]);
        assert_eq!(pod_cpu_request_m(&pod_with(init)), None);
    }

    #[test]
    fn pod_conversion() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "500m"}}}]},
            "status": {
                "phase": "Running",
                "startTime": "2026-01-01T00:00:10Z",
                "conditions": [{"type": "Ready", "status": "True",
                                "lastTransitionTime": "2026-01-01T00:00:12Z"}]
            }
        }))
        .unwrap();
        let origin = 1_767_225_600.0; // 2026-01-01T00:00:00Z
        let o = pod_observation(&pod, origin);
        assert_eq!(o.phase, PodPhase::Running);
        assert_eq!(o.ready, Some(true));
        assert_eq!(o.start_time, Some(10.0));
        assert_eq!(o.ready_transition_time, Some(12.0));
        assert_eq!(o.cpu_request_m, Some(500));
        assert!(pod_serving(&pod));
    }

    #[test]
    fn metrics_json() {
        let m = PodMetrics::parse(br#"{"gpu_utilization": 42.5, "avg_latency_ms": 0, "window_requests": 0, "concurrent_requests": 3, "extra": 1}"#).unwrap();
        let pod: Pod =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}})).unwrap();
        let mut o = pod_observation(&pod, 0.0);
        m.fill(&mut o);
        assert_eq!(
            (o.gpu_utilization, o.in_flight, o.avg_latency_ms),
            (Some(42.5), Some(3), None)
        );
        assert!(PodMetrics::parse(br#"{"gpu_utilization": 1}"#).is_none());
        assert!(PodMetrics::parse(b"not json").is_none());
    }

    #[test]
    fn check_names_the_field_out_of_range() {
        let m = |gpu: f64, latency: f64| PodMetrics {
            gpu_utilization: gpu,
            gpu_utilization_source: None,
            avg_latency_ms: latency,
            window_requests: 1,
            concurrent_requests: 0,
            in_flight: 0,
            queued: 0,
            ..Default::default()
        };
        assert!(m(100.0, 0.0).check().is_ok());
        assert_eq!(m(100.5, 0.0).check().unwrap_err().field, "gpu_utilization");
        assert_eq!(m(50.0, -1.0).check().unwrap_err().field, "avg_latency_ms");
    }

    #[test]
    fn out_of_range_metrics_are_refused_and_left_empty() {
        let pod: Pod =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}})).unwrap();
        let body = |gpu: &str, latency: &str| {
            format!(
                r#"{{"gpu_utilization": {gpu}, "avg_latency_ms": {latency}, "window_requests": 3, "concurrent_requests": 2}}"#
            )
        };
        let m = PodMetrics::parse(body("100", "0").as_bytes()).unwrap();
        let mut o = pod_observation(&pod, 0.0);
        m.fill_checked(&mut o).unwrap();
        assert_eq!(
            (o.gpu_utilization, o.in_flight, o.avg_latency_ms),
            (Some(100.0), Some(2), Some(0.0))
        );
        for (gpu, latency, field) in [
            ("150", "10", "gpu_utilization"),
            ("-50", "10", "gpu_utilization"),
            ("1e308", "10", "gpu_utilization"),
            ("50", "-1e9", "avg_latency_ms"),
        ] {
            let m = PodMetrics::parse(body(gpu, latency).as_bytes()).unwrap();
            let mut o = pod_observation(&pod, 0.0);
            let e = m.fill_checked(&mut o).unwrap_err();
            assert_eq!(e.field, field, "{gpu} {latency}");
            assert_eq!(
                (o.gpu_utilization, o.in_flight, o.avg_latency_ms),
                (None, None, None)
            );
        }
    }
}
