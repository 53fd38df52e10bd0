//! A KEDA-style policy (emulated): a ScaledObject with one Prometheus
//! trigger (`kind = "keda"`). It reproduces the decision rules, not the
//! operator around them (`docs/hpa.md` §13). Two loops act on the same
//! Deployment:
//!
//! * **Activation** (the scale executor's `RequestScale`), every
//!   `polling_interval_s`: the trigger is active when the query's value is
//!   strictly above `activation_threshold`. At 0 replicas an active
//!   trigger scales to `max(min_replicas, 1)`; with `min_replicas = 0` an
//!   inactive one scales to 0 once the last active time is older than
//!   `cooldown_period_s` (at once if it was never active); below a
//!   non-zero minimum it restores the minimum; an active trigger with
//!   replicas records the time as last active.
//! * **The generated HPA**, every `sync_period_s`, on an `External` metric
//!   with `AverageValue = threshold` and `minReplicas = max(min, 1)`: the
//!   proposal of `GetExternalPerPodMetricReplicas` (`hpa::external`), then
//!   the HPA's stabilisation and rate limits (its `behavior`, or the legacy
//!   path without one, as for the CPU HPA). At 0 replicas it does nothing
//!   (`ScalingDisabled`).
//!
//! The query is one of two sums over the pods (the bench's choice of
//! PromQL): `sum(in_flight)`, the requests in the pods as Prometheus last
//! scraped them, or `sum(gpu_utilization)`, each pod's device-wide GPU
//! utilisation as the DCGM exporter → Prometheus chain holds it (pods on one
//! time-sliced GPU each report the whole device). A query that finds no
//! series is 0 with `ignore_null_values` (KEDA's default) and an error
//! otherwise; after more than `fallback.failure_threshold` consecutive
//! errors the metric becomes `trunc(threshold) × fallback.replicas`
//! (KEDA's `doFallback`), so the HPA proposes about `fallback.replicas`; a
//! success resets the count. An erroring query makes the trigger inactive.
//!
//! Checked against kedacore/keda `pkg/scaling/executor/scale_scaledobjects.go`,
//! `pkg/scalers/prometheus_scaler.go` (`ExecutePromQuery`,
//! `GetMetricsAndActivity`), `pkg/fallback/fallback.go` and kubernetes'
//! `replica_calculator.go` (`GetExternalPerPodMetricReplicas`).
//! Differences, all in the clocks: both loops run on this policy's ticks,
//! every `sync_period_s`; an activation poll falls on the first tick at or
//! after each `polling_interval_s` since the first tick (with the defaults,
//! 30 s and 15 s, exactly every other tick); on a tick where both run, the
//! poll goes first and a poll that changes the replicas ends the tick.
//! Each HPA sync runs the query afresh, as KEDA does by default.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::hpa::{
    default_downscale_stabilization_s, default_sync_period_s, default_tolerance,
    external::{milli, status_replicas},
    invalid, validate_controller, Behavior, Hpa, HpaConfig,
};
use crate::{ControllerKind, Decision, Observation, Policy, Result, Signal};

/// KEDA's default `pollingInterval`, seconds.
pub const DEFAULT_POLLING_INTERVAL_S: u32 = 30;
/// KEDA's default `cooldownPeriod`, seconds.
pub const DEFAULT_COOLDOWN_PERIOD_S: u32 = 300;

/// What the trigger's query sums over the pods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KedaQuery {
    /// `sum(in_flight)`: requests queued or running, as scraped.
    InFlight,
    /// `sum(gpu_utilization)`: GPU utilisation, percent, as exported.
    GpuUtilization,
}

impl KedaQuery {
    /// The query as the decisions name it.
    pub const fn promql(self) -> &'static str {
        match self {
            KedaQuery::InFlight => "sum(in_flight)",
            KedaQuery::GpuUtilization => "sum(gpu_utilization)",
        }
    }

    /// The value of each pod the query sums, if Prometheus has it.
    fn value(self, pod: &crate::PodObservation) -> Option<f64> {
        match self {
            KedaQuery::InFlight => pod.in_flight.map(f64::from),
            KedaQuery::GpuUtilization => pod.gpu_utilization,
        }
    }
}

/// `spec.fallback` of the ScaledObject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fallback {
    /// Consecutive query failures tolerated; the next one falls back.
    pub failure_threshold: u32,
    /// Replicas the fallback metric asks for.
    pub replicas: u32,
}

/// Configuration of a KEDA ScaledObject with one Prometheus trigger
/// (`kind = "keda"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KedaConfig {
    /// `minReplicaCount` (default 0: scale to zero).
    #[serde(default)]
    pub min_replicas: u32,
    /// `maxReplicaCount`.
    pub max_replicas: u32,
    /// The trigger's query.
    pub query: KedaQuery,
    /// The trigger's `threshold`: the `AverageValue` target per pod, in the
    /// query's unit (requests, or percent).
    pub threshold: f64,
    /// `activationThreshold` (default 0).
    #[serde(default)]
    pub activation_threshold: f64,
    /// `ignoreNullValues` (default true): an empty result is 0, not an
    /// error.
    #[serde(default = "yes")]
    pub ignore_null_values: bool,
    /// `pollingInterval`, seconds (default 30).
    #[serde(default = "default_polling_interval_s")]
    pub polling_interval_s: u32,
    /// `cooldownPeriod`, seconds (default 300).
    #[serde(default = "default_cooldown_period_s")]
    pub cooldown_period_s: u32,
    /// `fallback` (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
    /// The HPA's sync period, seconds (default 15).
    #[serde(default = "default_sync_period_s")]
    pub sync_period_s: u32,
    /// The HPA's tolerance (default 0.1).
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// The HPA's downscale stabilisation on the legacy path, seconds
    /// (default 300).
    #[serde(default = "default_downscale_stabilization_s")]
    pub downscale_stabilization_s: u32,
    /// `advanced.horizontalPodAutoscalerConfig.behavior` (default none: the
    /// HPA's legacy path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behavior: Option<Behavior>,
}

fn yes() -> bool {
    true
}
fn default_polling_interval_s() -> u32 {
    DEFAULT_POLLING_INTERVAL_S
}
fn default_cooldown_period_s() -> u32 {
    DEFAULT_COOLDOWN_PERIOD_S
}

impl KedaConfig {
    /// A configuration with these bounds, query and threshold and every
    /// other field at KEDA's and Kubernetes' defaults.
    pub fn new(min_replicas: u32, max_replicas: u32, query: KedaQuery, threshold: f64) -> Self {
        KedaConfig {
            min_replicas,
            max_replicas,
            query,
            threshold,
            activation_threshold: 0.0,
            ignore_null_values: true,
            polling_interval_s: DEFAULT_POLLING_INTERVAL_S,
            cooldown_period_s: DEFAULT_COOLDOWN_PERIOD_S,
            fallback: None,
            sync_period_s: crate::hpa::DEFAULT_SYNC_PERIOD_S,
            tolerance: crate::hpa::DEFAULT_TOLERANCE,
            downscale_stabilization_s: crate::hpa::DEFAULT_DOWNSCALE_STABILIZATION_S,
            behavior: None,
        }
    }

    /// Checks what KEDA's admission webhook and the HPA would refuse; the
    /// error names the field.
    pub fn validate(&self) -> Result<()> {
        if self.max_replicas < self.min_replicas.max(1) {
            return Err(invalid(
                "max_replicas",
                format!(
                    "must be at least min_replicas ({}) and 1, got {}",
                    self.min_replicas, self.max_replicas
                ),
            ));
        }
        let t = self.threshold;
        if !(t.is_finite() && t > 0.0) || milli(t) == 0 {
            return Err(invalid(
                "threshold",
                format!("must be a number of at least 0.001, got {t}"),
            ));
        }
        let a = self.activation_threshold;
        if !(a.is_finite() && a >= 0.0) {
            return Err(invalid(
                "activation_threshold",
                format!("must be a finite number ≥ 0, got {a}"),
            ));
        }
        if self.polling_interval_s == 0 {
            return Err(invalid("polling_interval_s", "must be greater than 0"));
        }
        if let Some(f) = &self.fallback {
            if f.replicas > self.max_replicas {
                return Err(invalid(
                    "fallback.replicas",
                    format!(
                        "must be at most max_replicas ({}), got {}",
                        self.max_replicas, f.replicas
                    ),
                ));
            }
        }
        validate_controller(self.sync_period_s, self.tolerance, self.behavior.as_ref())
    }

    /// The generated HPA's settings: `minReplicas = max(min, 1)`.
    fn hpa(&self) -> HpaConfig {
        HpaConfig {
            min_replicas: self.min_replicas.max(1),
            max_replicas: self.max_replicas,
            target_cpu_utilization: 0,
            sync_period_s: self.sync_period_s,
            tolerance: self.tolerance,
            cpu_initialization_period_s: crate::hpa::DEFAULT_CPU_INITIALIZATION_PERIOD_S,
            initial_readiness_delay_s: crate::hpa::DEFAULT_INITIAL_READINESS_DELAY_S,
            downscale_stabilization_s: self.downscale_stabilization_s,
            behavior: self.behavior.clone(),
        }
    }
}

/// The query's answer at one tick.
#[derive(Clone, Debug, PartialEq)]
enum Answer {
    /// A value (an empty result read as 0 when nulls are ignored).
    Value { value: f64, series: usize },
    /// An error: the result is empty and nulls are not ignored.
    Empty,
}

/// A KEDA ScaledObject: the activation loop and the generated HPA.
#[derive(Clone, Debug)]
pub struct Keda {
    config: KedaConfig,
    hpa: Hpa,
    /// When the next activation poll is due (`None` before the first tick).
    next_poll: Option<f64>,
    /// `status.lastActiveTime`.
    last_active: Option<f64>,
    /// Consecutive failed queries of the metrics server (`NumberOfFailures`).
    failures: u32,
}

impl Keda {
    /// A fresh ScaledObject; call [`KedaConfig::validate`] first.
    pub fn new(config: KedaConfig) -> Self {
        let hpa = Hpa::external(config.hpa(), config.query.promql(), milli(config.threshold));
        Keda {
            config,
            hpa,
            next_poll: None,
            last_active: None,
            failures: 0,
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &KedaConfig {
        &self.config
    }

    /// The query over the pods Prometheus has a value for.
    fn query(&self, obs: &Observation) -> Answer {
        let values: Vec<f64> = obs
            .pods
            .iter()
            .filter_map(|p| self.config.query.value(p))
            .collect();
        if values.is_empty() && !self.config.ignore_null_values {
            return Answer::Empty;
        }
        Answer::Value {
            value: values.iter().sum(),
            series: values.len(),
        }
    }

    /// The scale executor's `RequestScale` at a poll: the replicas it
    /// writes, if any, and why.
    fn poll(&mut self, now: f64, r: u32, answer: &Answer) -> Option<(u32, String)> {
        let min = self.config.min_replicas;
        let active = match answer {
            Answer::Value { value, .. } => *value > self.config.activation_threshold,
            Answer::Empty => false,
        };
        let value = match answer {
            Answer::Value { value, .. } => format!("{value}"),
            Answer::Empty => "an error (empty result)".into(),
        };
        let act = self.config.activation_threshold;
        if r == 0 && active {
            let to = min.max(1);
            self.last_active = Some(now);
            return Some((
                to,
                format!(
                    "ScaleFromZero: {} = {value} > activation {act} -> {to}",
                    self.config.query.promql()
                ),
            ));
        }
        if !active && r > 0 && min == 0 {
            let cooldown = f64::from(self.config.cooldown_period_s);
            return match self.last_active {
                Some(t) if t + cooldown >= now => None,
                last => Some((
                    0,
                    format!(
                        "ScaleToZero: {} = {value}, not above activation {act}; last active {} -> 0",
                        self.config.query.promql(),
                        last.map_or("never".into(), |t| format!(
                            "at {t:.1} s, more than the cooldown {cooldown} s ago"
                        ))
                    ),
                )),
            };
        }
        if !active && r < min {
            return Some((
                min,
                format!("BelowMinReplicaCount: {r} below minReplicaCount {min} -> {min}"),
            ));
        }
        if active {
            self.last_active = Some(now);
        }
        None
    }

    /// What the metrics server hands the HPA: the value in milli-units, the
    /// fallback metric, or the error.
    fn metric(&mut self, answer: &Answer) -> (std::result::Result<i64, String>, bool) {
        match answer {
            Answer::Value { value, .. } => {
                self.failures = 0;
                (Ok(milli(*value)), false)
            }
            Answer::Empty => {
                self.failures = self.failures.saturating_add(1);
                match self.config.fallback {
                    Some(f) if self.failures > f.failure_threshold => {
                        let per_pod = self.config.threshold.trunc() as i64;
                        (Ok(per_pod * 1000 * i64::from(f.replicas)), true)
                    }
                    _ => (
                        Err(format!(
                            "the result of {} is empty (target may be lost)",
                            self.config.query.promql()
                        )),
                        false,
                    ),
                }
            }
        }
    }
}

impl Policy for Keda {
    fn kind(&self) -> ControllerKind {
        ControllerKind::Keda
    }

    fn interval_s(&self) -> f64 {
        f64::from(self.config.sync_period_s)
    }

    fn bounds(&self) -> (u32, u32) {
        (self.config.min_replicas, self.config.max_replicas)
    }

    fn signals(&self) -> &'static [Signal] {
        match self.config.query {
            KedaQuery::InFlight => &[Signal::ScrapedInFlight],
            KedaQuery::GpuUtilization => &[Signal::ExportedGpuUtilization],
        }
    }

    fn decide(&mut self, obs: &Observation) -> Decision {
        let now = obs.time;
        let r = obs.spec_replicas;
        let answer = self.query(obs);
        let (value, series) = match &answer {
            Answer::Value { value, series } => (Some(*value), *series),
            Answer::Empty => (None, 0),
        };
        let polled = self.next_poll.is_none_or(|t| now >= t);
        if polled {
            let period = f64::from(self.config.polling_interval_s);
            let mut next = self.next_poll.unwrap_or(now);
            while next <= now {
                next += period;
            }
            self.next_poll = Some(next);
            if let Some((to, reason)) = self.poll(now, r, &answer) {
                return Decision {
                    time: now,
                    controller: ControllerKind::Keda,
                    current_replicas: r,
                    desired_replicas: to,
                    reason,
                    inputs: json!({
                        "loop": "activation",
                        "query": self.config.query.promql(),
                        "value": value,
                        "series": series,
                        "activation_threshold": self.config.activation_threshold,
                        "last_active": self.last_active,
                        "status_replicas": status_replicas(obs),
                    }),
                };
            }
        }
        let (metric, fell_back) = if r == 0 {
            // The HPA does nothing at 0 and asks for no metric.
            (Err("not queried at 0 replicas".into()), false)
        } else {
            self.metric(&answer)
        };
        let mut d = self.hpa.sync_external(obs, metric);
        d.controller = ControllerKind::Keda;
        if fell_back {
            d.reason = format!(
                "Fallback: {} failures over the threshold, metric {} per pod × {} replicas; {}",
                self.failures,
                self.config.threshold.trunc(),
                self.config.fallback.map_or(0, |f| f.replicas),
                d.reason
            );
        }
        d.inputs["loop"] = json!("hpa");
        d.inputs["polled"] = json!(polled);
        d.inputs["query"] = json!(self.config.query.promql());
        d.inputs["value"] = json!(value);
        d.inputs["series"] = json!(series);
        d.inputs["failures"] = json!(self.failures);
        d.inputs["fallback"] = json!(fell_back);
        d.inputs["last_active"] = json!(self.last_active);
        d
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{PodObservation, PodPhase};

    fn pod(i: usize, in_flight: Option<u32>) -> PodObservation {
        PodObservation {
            in_flight,
            ready: Some(true),
            ..PodObservation::bare(format!("p{i}"), PodPhase::Running)
        }
    }

    fn obs(t: f64, r: u32, in_flight: &[Option<u32>]) -> Observation {
        Observation {
            time: t,
            spec_replicas: r,
            pods: in_flight
                .iter()
                .enumerate()
                .map(|(i, v)| pod(i, *v))
                .collect(),
        }
    }

    fn keda(min: u32, threshold: f64) -> Keda {
        let c = KedaConfig::new(min, 10, KedaQuery::InFlight, threshold);
        c.validate().unwrap();
        Keda::new(c)
    }

    #[test]
    fn average_value_arithmetic_divides_the_total_by_the_threshold() {
        // 3 pods, 25 in flight, threshold 4: ratio 25 / 12 = 2.08 -> ceil(25 / 4) = 7.
        let mut k = keda(1, 4.0);
        let d = k.decide(&obs(0.0, 3, &[Some(10), Some(10), Some(5)]));
        assert_eq!(
            d.desired_replicas, 6,
            "legacy scale-up limit max(2 × 3, 4): {}",
            d.reason
        );
        assert_eq!(d.inputs["proposal"], 7, "{}", d.inputs);
        assert_eq!(d.inputs["usage_milli"], 25_000);
        assert_eq!(d.inputs["status_replicas"], 3);
        // 13 in flight over 3 pods at 4: ratio 1.083, inside 0.1 -> 3.
        let mut k = keda(1, 4.0);
        let d = k.decide(&obs(0.0, 3, &[Some(5), Some(4), Some(4)]));
        assert_eq!(d.desired_replicas, 3, "{}", d.reason);
        // 14: ratio 1.167 -> ceil(14 / 4) = 4.
        let mut k = keda(1, 4.0);
        let d = k.decide(&obs(0.0, 3, &[Some(6), Some(4), Some(4)]));
        assert_eq!(d.desired_replicas, 4, "{}", d.reason);
        // Unready pods count in status.replicas: ratio over all 4 pods.
        let mut k = keda(1, 4.0);
        let mut o = obs(0.0, 4, &[Some(8), Some(8), None, None]);
        o.pods[2].ready = Some(false);
        o.pods[3].phase = PodPhase::Pending;
        let d = k.decide(&o);
        assert_eq!(d.inputs["status_replicas"], 4);
        assert_eq!(d.inputs["proposal"], 4, "16 / (4 × 4) = 1: no change");
        // A terminating pod does not count.
        o.pods[3].phase = PodPhase::Terminating;
        let mut k = keda(1, 4.0);
        let d = k.decide(&o);
        assert_eq!(d.inputs["status_replicas"], 3);
    }

    #[test]
    fn activation_is_strictly_above_the_threshold() {
        let mut c = KedaConfig::new(0, 10, KedaQuery::InFlight, 4.0);
        c.activation_threshold = 2.0;
        let mut k = Keda::new(c.clone());
        // At 0 replicas Prometheus still has the value (the activator's).
        let at = |v| Observation {
            time: 0.0,
            spec_replicas: 0,
            pods: vec![pod(0, Some(v))],
        };
        let d = k.decide(&at(2));
        assert_eq!(d.desired_replicas, 0, "2 is not above 2: {}", d.reason);
        let mut k = Keda::new(c);
        let d = k.decide(&at(3));
        assert_eq!(d.desired_replicas, 1, "{}", d.reason);
        assert!(d.reason.starts_with("ScaleFromZero"), "{}", d.reason);
    }

    #[test]
    fn scale_to_zero_waits_for_the_cooldown_after_the_last_active_poll() {
        let mut k = keda(0, 4.0);
        // Active at t = 0 with 2 replicas: last active 0.
        let d = k.decide(&obs(0.0, 2, &[Some(4), Some(4)]));
        assert_eq!(d.inputs["last_active"], 0.0);
        // Idle from then on; polls every 30 s on the 15 s ticks.
        let mut r = 2;
        let mut zero_at = None;
        let mut t = 15.0;
        while t <= 400.0 {
            let d = k.decide(&obs(t, r, &vec![Some(0); r as usize]));
            r = d.desired_replicas;
            if r == 0 && zero_at.is_none() {
                zero_at = Some(t);
                assert!(d.reason.starts_with("ScaleToZero"), "{}", d.reason);
            }
            t += 15.0;
        }
        // The first poll more than 300 s after 0 is at 330 s (polls at 0, 30, …).
        assert_eq!(zero_at, Some(330.0));
        // Never active: to zero at the first poll.
        let mut k = keda(0, 4.0);
        let d = k.decide(&obs(0.0, 1, &[Some(0)]));
        assert_eq!(d.desired_replicas, 0, "{}", d.reason);
        // With a minimum of 1 the executor never goes to zero.
        let mut k = keda(1, 4.0);
        let d = k.decide(&obs(0.0, 1, &[Some(0)]));
        assert_eq!(d.desired_replicas, 1, "{}", d.reason);
    }

    #[test]
    fn the_hpa_does_nothing_at_zero_and_polls_fall_every_polling_interval() {
        let mut k = keda(0, 4.0);
        // Idle at 0: the poll finds nothing to do, the HPA is disabled.
        let d = k.decide(&obs(0.0, 0, &[]));
        assert_eq!(d.desired_replicas, 0);
        assert!(d.reason.starts_with("ScalingDisabled"), "{}", d.reason);
        assert_eq!(d.inputs["polled"], true);
        let d = k.decide(&obs(15.0, 0, &[Some(1)]));
        assert_eq!(d.inputs["polled"], false, "no poll 15 s after one");
        assert_eq!(d.desired_replicas, 0, "the HPA cannot leave zero");
        let d = k.decide(&obs(30.0, 0, &[Some(1)]));
        assert_eq!(
            d.desired_replicas, 1,
            "the poll at 30 s activates: {}",
            d.reason
        );
    }

    #[test]
    fn empty_results_are_zero_or_errors_and_fallback_follows_the_threshold() {
        // Nulls ignored: no series -> 0 -> scale down toward the minimum.
        let mut k = keda(1, 4.0);
        let d = k.decide(&obs(0.0, 3, &[None, None, None]));
        assert_eq!(d.inputs["value"], 0.0);
        // Not ignored: an error holds the replicas (FailedGetExternalMetric).
        let mut c = KedaConfig::new(1, 10, KedaQuery::InFlight, 4.5);
        c.ignore_null_values = false;
        c.fallback = Some(Fallback {
            failure_threshold: 2,
            replicas: 5,
        });
        c.validate().unwrap();
        let mut k = Keda::new(c);
        for (i, t) in [0.0, 15.0].into_iter().enumerate() {
            let d = k.decide(&obs(t, 3, &[None, None, None]));
            assert_eq!(d.desired_replicas, 3, "failure {}: {}", i + 1, d.reason);
            assert!(
                d.reason.starts_with("FailedGetExternalMetric"),
                "{}",
                d.reason
            );
        }
        // The third failure is more than 2: trunc(4.5) × 5 = 20 -> ceil(20 / 4.5) = 5.
        let d = k.decide(&obs(30.0, 3, &[None, None, None]));
        assert!(d.reason.starts_with("Fallback"), "{}", d.reason);
        assert_eq!(d.inputs["usage_milli"], 20_000);
        assert_eq!(d.desired_replicas, 5, "{}", d.reason);
        // A success resets the count: the next failure holds again.
        let d = k.decide(&obs(
            45.0,
            5,
            &[Some(4), Some(4), Some(4), Some(4), Some(4)],
        ));
        assert_eq!(d.inputs["failures"], 0);
        let d = k.decide(&obs(60.0, 5, &[None; 5]));
        assert!(
            d.reason.starts_with("FailedGetExternalMetric"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn validation_names_the_field() {
        let bad = |edit: &dyn Fn(&mut KedaConfig), field: &str| {
            let mut c = KedaConfig::new(0, 10, KedaQuery::InFlight, 4.0);
            edit(&mut c);
            match c.validate() {
                Err(crate::Error::InvalidPolicy { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        };
        bad(&|c| c.threshold = 0.0, "threshold");
        bad(&|c| c.threshold = 0.0004, "threshold");
        bad(&|c| c.activation_threshold = -1.0, "activation_threshold");
        bad(&|c| c.polling_interval_s = 0, "polling_interval_s");
        bad(&|c| c.max_replicas = 0, "max_replicas");
        bad(
            &|c| {
                c.fallback = Some(Fallback {
                    failure_threshold: 3,
                    replicas: 11,
                })
            },
            "fallback.replicas",
        );
        bad(&|c| c.sync_period_s = 0, "sync_period_s");
    }
}
