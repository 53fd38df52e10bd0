//! A faithful emulation of the Kubernetes HorizontalPodAutoscaler
//! (autoscaling/v2) for one `Resource` metric: `cpu` with a `Utilization`
//! target.
//!
//! Section numbers (§) refer to `docs/hpa.md`, the project's account of the
//! controller and the authority for every rule here. One call to
//! [`Policy::decide`] is one sync of `reconcileAutoscaler` (§3):
//!
//! 1. `R = spec_replicas`; on the very first sync the pair `(R, now)` is stored
//!    as a recommendation (`recordInitialRecommendation`).
//! 2. `R = 0` with `min ≠ 0` disables scaling (`ScalingDisabled`); `R > max`
//!    or `R < min` is corrected to the bound in one step, without metrics,
//!    stabilization or rate limits (§3, §9).
//! 3. Otherwise a proposal `P` comes from the CPU metric (§4): pods are
//!    classified as ignored / unready / missing / ready (§4.2), utilization is
//!    a truncating integer percentage (§4.3), the tolerance band is inclusive
//!    (§4.4), and either the fast path (`ceil(ratio × readyCount)`, §4.5) or
//!    the slow path for missing metrics and unready pods on a scale-up (§4.6)
//!    gives `P`. If the metric cannot be computed, the sync fails: nothing is
//!    scaled and nothing is recorded.
//! 4. `P` is normalized: with `behavior` set, by stabilization (§6: the R-
//!    bounded window form, storing the raw `P`) and rate limits (§7: periods
//!    start from both event lists, `selectPolicy`, Percent rounding of §4.7);
//!    without it, by the legacy path (§8: a 300 s max-window and the
//!    `max(2R, 4)` growth cap).
//! 5. If the result `N ≠ R` and behavior is set, the change is stored as a
//!    scale event (§3 step 4).
//!
//! Window membership is strict, `t_entry > now − W` (§2), except in the legacy
//! stabilization of §8 where an entry exactly `W` old still counts. History is
//! kept as "every entry, filtered by time"; entries too old to matter are
//! pruned, which gives identical results while the configuration stays the
//! same (§2).
//!
//! The per-HPA tolerance of `behavior.scaleUp/scaleDown.tolerance` is honoured
//! as with the `HPAConfigurableTolerance` gate on (beta, default on, in v1.35).
//!
//! ```
//! use scaler::hpa::{Hpa, HpaConfig};
//! use scaler::{Observation, PodObservation, PodPhase, Policy};
//!
//! let mut hpa = Hpa::new(HpaConfig::new(1, 6, 40));
//! let pod = |name: &str, usage| PodObservation {
//!     name: name.into(),
//!     phase: PodPhase::Running,
//!     ready: Some(true),
//!     ready_transition_time: Some(-990.0),
//!     start_time: Some(-1000.0),
//!     cpu_request_m: Some(200),
//!     cpu_usage_m: Some(usage),
//!     metric_timestamp: None,
//!     metric_window: None,
//!     gpu_utilization: None,
//!     in_flight: None,
//!     avg_latency_ms: None,
//! };
//! let obs = Observation {
//!     time: 0.0,
//!     spec_replicas: 3,
//!     pods: vec![pod("a", 150), pod("b", 100), pod("c", 110)],
//! };
//! // util = ⌊36000 / 600⌋ = 60 %, ratio 1.5, P = ⌈4.5⌉ = 5; the legacy path
//! // lets it grow to max(2·3, 4) = 6, so N = 5 (the inputs of vector V1 of
//! // §11, which runs them with the seed behavior and also gets 5).
//! let decision = hpa.decide(&obs);
//! assert_eq!(decision.desired_replicas, 5);
//! assert!(decision.reason.starts_with("ReadyForNewScale"));
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{
    ControllerKind, Decision, Error, Observation, PodObservation, PodPhase, Policy, Result, Signal,
};

pub(crate) mod external;
mod pods;
pub use pods::HpaGpuConfig;

/// Default `minReplicas` (§9).
pub const DEFAULT_MIN_REPLICAS: u32 = 1;
/// Default `--horizontal-pod-autoscaler-sync-period`, seconds (§1).
pub const DEFAULT_SYNC_PERIOD_S: u32 = 15;
/// Default `--horizontal-pod-autoscaler-tolerance` (§1).
pub const DEFAULT_TOLERANCE: f64 = 0.1;
/// Default `--horizontal-pod-autoscaler-cpu-initialization-period`, seconds (§1).
pub const DEFAULT_CPU_INITIALIZATION_PERIOD_S: u32 = 300;
/// Default `--horizontal-pod-autoscaler-initial-readiness-delay`, seconds (§1).
pub const DEFAULT_INITIAL_READINESS_DELAY_S: u32 = 30;
/// Default `--horizontal-pod-autoscaler-downscale-stabilization`, seconds (§1).
pub const DEFAULT_DOWNSCALE_STABILIZATION_S: u32 = 300;
/// Default metric window when a pod observation gives none, seconds (§10).
pub const DEFAULT_METRIC_WINDOW_S: f64 = 15.0;
/// Longest allowed policy period, seconds (§5).
pub const MAX_PERIOD_S: u32 = 1800;
/// Longest allowed stabilization window, seconds (§5).
pub const MAX_STABILIZATION_WINDOW_S: u32 = 3600;

fn default_min_replicas() -> u32 {
    DEFAULT_MIN_REPLICAS
}
pub(crate) fn default_sync_period_s() -> u32 {
    DEFAULT_SYNC_PERIOD_S
}
pub(crate) fn default_tolerance() -> f64 {
    DEFAULT_TOLERANCE
}
fn default_cpu_initialization_period_s() -> u32 {
    DEFAULT_CPU_INITIALIZATION_PERIOD_S
}
fn default_initial_readiness_delay_s() -> u32 {
    DEFAULT_INITIAL_READINESS_DELAY_S
}
pub(crate) fn default_downscale_stabilization_s() -> u32 {
    DEFAULT_DOWNSCALE_STABILIZATION_S
}

/// Configuration of one emulated HPA: the `HorizontalPodAutoscaler` spec
/// fields that matter for a CPU `Utilization` target, plus the
/// kube-controller-manager flags of §1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HpaConfig {
    /// `spec.minReplicas` (default 1).
    #[serde(default = "default_min_replicas")]
    pub min_replicas: u32,
    /// `spec.maxReplicas`.
    pub max_replicas: u32,
    /// `target.averageUtilization` of the `cpu` resource metric, percent of
    /// the pods' CPU request.
    pub target_cpu_utilization: u32,
    /// `--horizontal-pod-autoscaler-sync-period`, seconds (default 15).
    #[serde(default = "default_sync_period_s")]
    pub sync_period_s: u32,
    /// `--horizontal-pod-autoscaler-tolerance` (default 0.1), used in both
    /// directions unless `behavior` overrides it (§4.4).
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// `--horizontal-pod-autoscaler-cpu-initialization-period`, seconds
    /// (default 300, §4.2).
    #[serde(default = "default_cpu_initialization_period_s")]
    pub cpu_initialization_period_s: u32,
    /// `--horizontal-pod-autoscaler-initial-readiness-delay`, seconds
    /// (default 30, §4.2).
    #[serde(default = "default_initial_readiness_delay_s")]
    pub initial_readiness_delay_s: u32,
    /// `--horizontal-pod-autoscaler-downscale-stabilization`, seconds
    /// (default 300): the scale-down window when `behavior` is present but
    /// gives none (§5), and the window of the legacy path (§8).
    #[serde(default = "default_downscale_stabilization_s")]
    pub downscale_stabilization_s: u32,
    /// `spec.behavior`. `None` selects the legacy path of §8; `Some` (even
    /// empty) selects §5–§7 with API defaulting of every missing field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behavior: Option<Behavior>,
}

/// `spec.behavior`, as written (before API defaulting, §5).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Behavior {
    /// `behavior.scaleUp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_up: Option<Rules>,
    /// `behavior.scaleDown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down: Option<Rules>,
}

/// `HPAScalingRules` as written; every field may be missing and is then
/// defaulted on its own (§5).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// `stabilizationWindowSeconds` (0–3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stabilization_window_s: Option<u32>,
    /// `selectPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select_policy: Option<SelectPolicy>,
    /// `policies`. A list that is given replaces the default list entirely.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<Vec<ScalingPolicy>>,
    /// `tolerance` (KEP-4951), overriding the flag in this direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<f64>,
}

/// `selectPolicy` of a scaling direction (§7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SelectPolicy {
    /// Take the policy allowing the biggest change (the default).
    Max,
    /// Take the policy allowing the smallest change.
    Min,
    /// Never scale in this direction.
    Disabled,
}

/// `HPAScalingPolicyType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScalingPolicyType {
    /// An absolute number of pods per period.
    Pods,
    /// A percentage of the replicas at the start of the period.
    Percent,
}

/// One `HPAScalingPolicy`: at most `value` pods (or percent) per `period_s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalingPolicy {
    /// `type`: `"Pods"` or `"Percent"`.
    #[serde(rename = "type")]
    pub kind: ScalingPolicyType,
    /// `value` (> 0).
    pub value: u32,
    /// `periodSeconds` (1–1800).
    pub period_s: u32,
}

impl ScalingPolicy {
    /// A `Pods` policy.
    pub fn pods(value: u32, period_s: u32) -> Self {
        Self {
            kind: ScalingPolicyType::Pods,
            value,
            period_s,
        }
    }

    /// A `Percent` policy.
    pub fn percent(value: u32, period_s: u32) -> Self {
        Self {
            kind: ScalingPolicyType::Percent,
            value,
            period_s,
        }
    }
}

/// One direction of behavior after API defaulting (§5): every field is set.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalingRules {
    /// Stabilization window, seconds.
    pub stabilization_window_s: u32,
    /// How the policies combine.
    pub select_policy: SelectPolicy,
    /// The rate-limit policies (non-empty after validation).
    pub policies: Vec<ScalingPolicy>,
    /// Tolerance in this direction (the rule's own, or the flag).
    pub tolerance: f64,
}

/// `spec.behavior` after API defaulting (§5) and
/// `maybeInitScaleDownStabilizationWindow`.
#[derive(Clone, Debug, PartialEq)]
pub struct EffectiveBehavior {
    /// Scale-up rules.
    pub scale_up: ScalingRules,
    /// Scale-down rules.
    pub scale_down: ScalingRules,
}

impl HpaConfig {
    /// A configuration with the given bounds and CPU target and every other
    /// field at its Kubernetes default (no `behavior`: the legacy path).
    pub fn new(min_replicas: u32, max_replicas: u32, target_cpu_utilization: u32) -> Self {
        Self {
            min_replicas,
            max_replicas,
            target_cpu_utilization,
            sync_period_s: DEFAULT_SYNC_PERIOD_S,
            tolerance: DEFAULT_TOLERANCE,
            cpu_initialization_period_s: DEFAULT_CPU_INITIALIZATION_PERIOD_S,
            initial_readiness_delay_s: DEFAULT_INITIAL_READINESS_DELAY_S,
            downscale_stabilization_s: DEFAULT_DOWNSCALE_STABILIZATION_S,
            behavior: None,
        }
    }

    /// The behavior the controller acts on, with the API defaults of §5
    /// filled in field by field; `None` when `behavior` is absent (legacy
    /// path, §8).
    pub fn effective_behavior(&self) -> Option<EffectiveBehavior> {
        let behavior = self.behavior.as_ref()?;
        let fill = |rules: Option<&Rules>,
                    window: u32,
                    default_policies: Vec<ScalingPolicy>|
         -> ScalingRules {
            let rules = rules.cloned().unwrap_or_default();
            ScalingRules {
                stabilization_window_s: rules.stabilization_window_s.unwrap_or(window),
                select_policy: rules.select_policy.unwrap_or(SelectPolicy::Max),
                policies: rules.policies.unwrap_or(default_policies),
                tolerance: rules.tolerance.unwrap_or(self.tolerance),
            }
        };
        Some(EffectiveBehavior {
            scale_up: fill(
                behavior.scale_up.as_ref(),
                0,
                vec![ScalingPolicy::pods(4, 15), ScalingPolicy::percent(100, 15)],
            ),
            scale_down: fill(
                behavior.scale_down.as_ref(),
                self.downscale_stabilization_s,
                vec![ScalingPolicy::percent(100, 15)],
            ),
        })
    }

    /// Checks what the API server and the controller flags would reject.
    /// The error names the offending field with its dotted path.
    pub fn validate(&self) -> Result<()> {
        if self.min_replicas < 1 {
            return Err(invalid(
                "min_replicas",
                "must be at least 1 (scaling to zero needs the HPAScaleToZero gate and an \
                 Object or External metric, which a CPU target is not)",
            ));
        }
        if self.max_replicas < 1 {
            return Err(invalid("max_replicas", "must be at least 1"));
        }
        if self.max_replicas < self.min_replicas {
            return Err(invalid(
                "max_replicas",
                format!(
                    "must be at least min_replicas ({}), got {}",
                    self.min_replicas, self.max_replicas
                ),
            ));
        }
        if self.target_cpu_utilization == 0 {
            return Err(invalid("target_cpu_utilization", "must be greater than 0"));
        }
        validate_controller(self.sync_period_s, self.tolerance, self.behavior.as_ref())
    }
}

/// The checks every HPA shares whatever its metric: the sync period, the
/// tolerance and `behavior`.
pub(crate) fn validate_controller(
    sync_period_s: u32,
    tolerance: f64,
    behavior: Option<&Behavior>,
) -> Result<()> {
    if sync_period_s == 0 {
        return Err(invalid("sync_period_s", "must be greater than 0"));
    }
    check_tolerance("tolerance", tolerance)?;
    if let Some(behavior) = behavior {
        for (name, rules) in [
            ("scale_up", &behavior.scale_up),
            ("scale_down", &behavior.scale_down),
        ] {
            if let Some(rules) = rules {
                validate_rules(&format!("behavior.{name}"), rules)?;
            }
        }
    }
    Ok(())
}

pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
    Error::InvalidPolicy {
        field: field.into(),
        message: message.into(),
    }
}

fn check_tolerance(field: &str, tolerance: f64) -> Result<()> {
    if !tolerance.is_finite() || tolerance < 0.0 {
        return Err(invalid(
            field,
            format!("must be a finite number ≥ 0, got {tolerance}"),
        ));
    }
    Ok(())
}

fn validate_rules(path: &str, rules: &Rules) -> Result<()> {
    if let Some(window) = rules.stabilization_window_s {
        if window > MAX_STABILIZATION_WINDOW_S {
            return Err(invalid(
                format!("{path}.stabilization_window_s"),
                format!("must be within 0..={MAX_STABILIZATION_WINDOW_S}, got {window}"),
            ));
        }
    }
    if let Some(policies) = &rules.policies {
        if policies.is_empty() {
            return Err(invalid(
                format!("{path}.policies"),
                "must specify at least one policy",
            ));
        }
        for (i, policy) in policies.iter().enumerate() {
            if policy.value == 0 {
                return Err(invalid(
                    format!("{path}.policies[{i}].value"),
                    "must be greater than 0",
                ));
            }
            if !(1..=MAX_PERIOD_S).contains(&policy.period_s) {
                return Err(invalid(
                    format!("{path}.policies[{i}].period_s"),
                    format!("must be within 1..={MAX_PERIOD_S}, got {}", policy.period_s),
                ));
            }
        }
    }
    if let Some(tolerance) = rules.tolerance {
        check_tolerance(&format!("{path}.tolerance"), tolerance)?;
    }
    Ok(())
}

/// A stored value with its time: a recommendation or a scale event (§2).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Stamped {
    value: u32,
    time: f64,
}

/// The emulated HPA controller for one target: configuration plus the
/// in-memory state of §2.
#[derive(Clone, Debug)]
pub struct Hpa {
    config: HpaConfig,
    source: Source,
    behavior: Option<EffectiveBehavior>,
    history: History,
}

/// The metric the HPA scales on.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Source {
    /// `Resource` cpu, `Utilization` target (`config.target_cpu_utilization`).
    Cpu,
    /// `Pods` GPU utilisation, `AverageValue` target, milli-percent (§12).
    GpuAverageValue { target_milli: i64 },
    /// `External` metric, `AverageValue` target, milli-units (§13): the
    /// value comes with each sync ([`Hpa::sync_external`]).
    External {
        metric: &'static str,
        target_milli: i64,
    },
}

/// The per-HPA in-memory state of §2.
#[derive(Clone, Debug, Default)]
struct History {
    /// Whether `recordInitialRecommendation` already ran.
    started: bool,
    /// Unstabilized proposals, `(P, t)`.
    recommendations: Vec<Stamped>,
    /// Replicas this controller added, `(N − R, t)`.
    scale_up_events: Vec<Stamped>,
    /// Replicas this controller removed, `(R − N, t)`.
    scale_down_events: Vec<Stamped>,
}

impl Hpa {
    /// A fresh controller with empty history. The configuration is taken as
    /// is: call [`HpaConfig::validate`] first. An invalid configuration never
    /// makes `decide` panic, but its answers mean nothing.
    pub fn new(config: HpaConfig) -> Self {
        let behavior = config.effective_behavior();
        Self {
            config,
            source: Source::Cpu,
            behavior,
            history: History::default(),
        }
    }

    /// A fresh controller on the pods' GPU utilisation (`kind = "hpa-gpu"`,
    /// §12); call [`HpaGpuConfig::validate`] first.
    pub fn gpu(config: &HpaGpuConfig) -> Self {
        let core = config.core();
        Self {
            behavior: core.effective_behavior(),
            config: core,
            source: Source::GpuAverageValue {
                target_milli: config.target_milli(),
            },
            history: History::default(),
        }
    }

    /// A fresh controller on an external metric (§13) with these settings
    /// (validated by the caller); its value comes with each sync.
    pub(crate) fn external(core: HpaConfig, metric: &'static str, target_milli: i64) -> Self {
        Self {
            behavior: core.effective_behavior(),
            config: core,
            source: Source::External {
                metric,
                target_milli,
            },
            history: History::default(),
        }
    }

    /// One sync of an HPA on an external metric whose value at this sync
    /// is `usage` milli-units (`Err`: the metrics API failed, with why).
    pub(crate) fn sync_external(
        &mut self,
        obs: &Observation,
        usage: std::result::Result<i64, String>,
    ) -> Decision {
        self.sync(obs, Some(usage))
    }

    /// The controller settings this controller runs (for `hpa-gpu`, the
    /// ones it shares with the CPU HPA; its `target_cpu_utilization` is
    /// unused and 0).
    pub fn config(&self) -> &HpaConfig {
        &self.config
    }

    /// The behavior after API defaulting; `None` on the legacy path.
    pub fn effective_behavior(&self) -> Option<&EffectiveBehavior> {
        self.behavior.as_ref()
    }

    /// Tolerances of §4.4.
    fn tolerances(&self) -> Tolerances {
        match &self.behavior {
            Some(b) => Tolerances {
                up: b.scale_up.tolerance,
                down: b.scale_down.tolerance,
            },
            None => Tolerances {
                up: self.config.tolerance,
                down: self.config.tolerance,
            },
        }
    }

    fn decision(&self, obs: &Observation, desired: u32, reason: String, inputs: Value) -> Decision {
        Decision {
            time: obs.time,
            controller: self.kind(),
            current_replicas: obs.spec_replicas,
            desired_replicas: desired,
            reason,
            inputs,
        }
    }
}

impl History {
    /// `normalizeDesiredReplicasWithBehaviors` (§6, §7).
    fn normalize_with_behavior(
        &mut self,
        behavior: &EffectiveBehavior,
        (min, max): (u32, u32),
        now: f64,
        r: u32,
        p: u32,
    ) -> Normalized {
        // §6: stabilization, R-bounded, strict windows.
        let up_cutoff = now - f64::from(behavior.scale_up.stabilization_window_s);
        let down_cutoff = now - f64::from(behavior.scale_down.stabilization_window_s);
        let mut up_rec = p;
        let mut down_rec = p;
        for rec in &self.recommendations {
            if rec.time > up_cutoff {
                up_rec = up_rec.min(rec.value);
            }
            if rec.time > down_cutoff {
                down_rec = down_rec.max(rec.value);
            }
        }
        let mut stabilized = r;
        if stabilized < up_rec {
            stabilized = up_rec;
        }
        if stabilized > down_rec {
            stabilized = down_rec;
        }
        // The raw proposal is stored, before stabilization and min/max.
        self.recommendations.push(Stamped {
            value: p,
            time: now,
        });
        let stabilization_reason = if stabilized == p {
            "ReadyForNewScale"
        } else if p >= r {
            "ScaleUpStabilized"
        } else {
            "ScaleDownStabilized"
        };

        // §7: rate limits; min and max apply only in the direction of travel.
        let (desired, limit_reason, limit) = if stabilized > r {
            let limit = self
                .scale_limit(&behavior.scale_up, now, r, Direction::Up)
                .max(i64::from(r));
            let (allowed, reason) = if i64::from(max) > limit {
                (to_u32(limit), "ScaleUpLimit")
            } else {
                (max, "TooManyReplicas")
            };
            if stabilized > allowed {
                (allowed, reason, Some(allowed))
            } else {
                (stabilized, "DesiredWithinRange", Some(allowed))
            }
        } else if stabilized < r {
            let limit = self
                .scale_limit(&behavior.scale_down, now, r, Direction::Down)
                .min(i64::from(r));
            let (allowed, reason) = if i64::from(min) < limit {
                (to_u32(limit), "ScaleDownLimit")
            } else {
                (min, "TooFewReplicas")
            };
            if stabilized < allowed {
                (allowed, reason, Some(allowed))
            } else {
                (stabilized, "DesiredWithinRange", Some(allowed))
            }
        } else {
            (stabilized, "DesiredWithinRange", None)
        };
        Normalized {
            stabilized,
            stabilization_reason,
            desired,
            limit_reason,
            limit,
        }
    }

    /// `calculateScaleUpLimitWithScalingRules` and
    /// `calculateScaleDownLimitWithBehaviors` (§7).
    fn scale_limit(&self, rules: &ScalingRules, now: f64, r: u32, direction: Direction) -> i64 {
        if rules.select_policy == SelectPolicy::Disabled {
            return i64::from(r);
        }
        // Max picks the biggest change: the largest limit going up, the
        // smallest going down. Min picks the smallest change.
        let take_largest =
            (rules.select_policy == SelectPolicy::Max) == (direction == Direction::Up);
        let proposals = rules.policies.iter().map(|policy| {
            let start = self.period_start(now, r, policy.period_s);
            let fraction = f64::from(policy.value) / 100.0;
            match (direction, policy.kind) {
                (Direction::Up, ScalingPolicyType::Pods) => start + i64::from(policy.value),
                // §4.7: (1 + v/100) first, then × start, then ceil.
                (Direction::Up, ScalingPolicyType::Percent) => {
                    (start as f64 * (1.0 + fraction)).ceil() as i64
                }
                (Direction::Down, ScalingPolicyType::Pods) => start - i64::from(policy.value),
                // Go's int32() conversion truncates toward zero, as `as` does.
                (Direction::Down, ScalingPolicyType::Percent) => {
                    (start as f64 * (1.0 - fraction)) as i64
                }
            }
        });
        let selected = if take_largest {
            proposals.max()
        } else {
            proposals.min()
        };
        // No policy at all (rejected by validation) means no limit.
        selected.unwrap_or(match direction {
            Direction::Up => i64::MAX,
            Direction::Down => i64::MIN,
        })
    }

    /// `start(p)` of §7 (`getReplicasChangePerPeriod`): the replicas at the
    /// start of a period, undoing this controller's changes of both
    /// directions made strictly within the last `period_s` seconds.
    fn period_start(&self, now: f64, r: u32, period_s: u32) -> i64 {
        let cutoff = now - f64::from(period_s);
        let within = |events: &[Stamped]| -> i64 {
            events
                .iter()
                .filter(|e| e.time > cutoff)
                .map(|e| i64::from(e.value))
                .sum()
        };
        i64::from(r) - within(&self.scale_up_events) + within(&self.scale_down_events)
    }

    /// `normalizeDesiredReplicas`, the legacy path of §8.
    fn normalize_legacy(
        &mut self,
        window_s: u32,
        (min, max): (u32, u32),
        now: f64,
        r: u32,
        p: u32,
    ) -> Normalized {
        // `stabilizeRecommendation`: an entry exactly W old still counts.
        let cutoff = now - f64::from(window_s);
        let stabilized = self
            .recommendations
            .iter()
            .filter(|rec| rec.time >= cutoff)
            .map(|rec| rec.value)
            .fold(p, u32::max);
        self.recommendations.push(Stamped {
            value: p,
            time: now,
        });
        let stabilization_reason = if stabilized == p {
            "ReadyForNewScale"
        } else {
            "ScaleDownStabilized"
        };

        // `convertDesiredReplicasWithRules`: clamp to [min, min(max, max(2R, 4))].
        let growth_cap = (2.0 * f64::from(r)).max(4.0) as u32;
        let (max_allowed, up_reason) = if max > growth_cap {
            (growth_cap, "ScaleUpLimit")
        } else {
            (max, "TooManyReplicas")
        };
        let (desired, limit_reason) = if stabilized < min {
            (min, "TooFewReplicas")
        } else if stabilized > max_allowed {
            (max_allowed, up_reason)
        } else {
            (stabilized, "DesiredWithinRange")
        };
        let limit = match stabilized.cmp(&r) {
            std::cmp::Ordering::Greater => Some(max_allowed),
            std::cmp::Ordering::Less => Some(min),
            std::cmp::Ordering::Equal => None,
        };
        Normalized {
            stabilized,
            stabilization_reason,
            desired,
            limit_reason,
            limit,
        }
    }

    /// `storeScaleEvent` (§3 step 4); the caller checks that behavior is set.
    fn store_scale_event(&mut self, now: f64, r: u32, n: u32) {
        if n > r {
            self.scale_up_events.push(Stamped {
                value: n - r,
                time: now,
            });
        } else if n < r {
            self.scale_down_events.push(Stamped {
                value: r - n,
                time: now,
            });
        }
    }

    /// Drops entries that no later read can see, since time never goes
    /// back: recommendations older than `rec_horizon_s` and events older
    /// than `event_horizon_s`. Entries exactly at the horizon are kept.
    fn prune(&mut self, now: f64, rec_horizon_s: u32, event_horizon_s: u32) {
        let rec_cutoff = now - f64::from(rec_horizon_s);
        self.recommendations.retain(|e| e.time >= rec_cutoff);
        let event_cutoff = now - f64::from(event_horizon_s);
        self.scale_up_events.retain(|e| e.time >= event_cutoff);
        self.scale_down_events.retain(|e| e.time >= event_cutoff);
    }
}

impl Hpa {
    /// Records a replica change made by this controller (only with behavior,
    /// §3 step 4) and prunes the history.
    fn finish_sync(&mut self, now: f64, r: u32, n: u32) {
        let (rec_horizon, event_horizon) = match &self.behavior {
            Some(b) => {
                self.history.store_scale_event(now, r, n);
                let longest_period = b
                    .scale_up
                    .policies
                    .iter()
                    .chain(&b.scale_down.policies)
                    .map(|p| p.period_s)
                    .max()
                    .unwrap_or(0);
                (
                    b.scale_up
                        .stabilization_window_s
                        .max(b.scale_down.stabilization_window_s),
                    longest_period,
                )
            }
            None => (self.config.downscale_stabilization_s, 0),
        };
        self.history.prune(now, rec_horizon, event_horizon);
    }
}

impl Policy for Hpa {
    fn kind(&self) -> ControllerKind {
        match self.source {
            Source::Cpu => ControllerKind::Hpa,
            Source::GpuAverageValue { .. } => ControllerKind::HpaGpu,
            Source::External { .. } => ControllerKind::Keda,
        }
    }

    fn interval_s(&self) -> f64 {
        f64::from(self.config.sync_period_s)
    }

    fn bounds(&self) -> (u32, u32) {
        (self.config.min_replicas, self.config.max_replicas)
    }

    /// CPU `Utilization`: metrics-server's CPU (docs/hpa.md §10); the
    /// `Pods` metric: the pods' GPU utilisation (§12).
    fn signals(&self) -> &'static [Signal] {
        match self.source {
            Source::Cpu => &[Signal::CpuUsage],
            Source::GpuAverageValue { .. } => &[Signal::ExportedGpuUtilization],
            // The external metric's owner reads the pods.
            Source::External { .. } => &[],
        }
    }

    fn decide(&mut self, obs: &Observation) -> Decision {
        self.sync(obs, None)
    }
}

impl Hpa {
    /// One sync (§3); `external` is the external metric's value at it
    /// (`None` for the other sources).
    fn sync(
        &mut self,
        obs: &Observation,
        external: Option<std::result::Result<i64, String>>,
    ) -> Decision {
        let now = obs.time;
        let r = obs.spec_replicas;
        let (min, max) = (self.config.min_replicas, self.config.max_replicas);

        // §3 step 2: recordInitialRecommendation.
        if !self.history.started {
            self.history.started = true;
            self.history.recommendations.push(Stamped {
                value: r,
                time: now,
            });
        }

        // §3 step 3: the replica-count guards.
        if r == 0 && min != 0 {
            return self.decision(
                obs,
                0,
                "ScalingDisabled: scaling is disabled since the replica count of the target \
                 is zero"
                    .to_owned(),
                json!({ "spec_replicas": r, "min_replicas": min }),
            );
        }
        if r > max || r < min {
            let (n, reason) = if r > max {
                (
                    max,
                    format!(
                        "AboveMaxReplicas: current replicas {r} above maxReplicas {max} -> {max}"
                    ),
                )
            } else {
                (
                    min,
                    format!(
                        "BelowMinReplicas: current replicas {r} below minReplicas {min} -> {min}"
                    ),
                )
            };
            self.finish_sync(now, r, n);
            return self.decision(
                obs,
                n,
                reason,
                json!({ "spec_replicas": r, "min_replicas": min, "max_replicas": max }),
            );
        }

        // §4: the CPU proposal. A failure stops the sync: no scaling and no
        // recommendation recorded.
        let (proposal, failed) = match self.source {
            Source::Cpu => (
                cpu_proposal(&self.config, self.tolerances(), obs),
                "FailedGetResourceMetric",
            ),
            Source::GpuAverageValue { target_milli } => (
                pods::proposal(target_milli, self.tolerances(), obs),
                "FailedGetPodsMetric",
            ),
            Source::External {
                metric,
                target_milli,
            } => (
                external::proposal(
                    metric,
                    target_milli,
                    self.tolerances(),
                    obs,
                    external.unwrap_or_else(|| Err("no value was given to the sync".into())),
                ),
                "FailedGetExternalMetric",
            ),
        };
        let proposal = match proposal {
            Ok(proposal) => proposal,
            Err(failure) => {
                let reason = format!(
                    "{failed}: the HPA was unable to compute the replica count: {}; holding {r}",
                    failure.message
                );
                let mut inputs = failure.inputs;
                inputs["error"] = Value::String(failure.message);
                return self.decision(obs, r, reason, inputs);
            }
        };
        let p = proposal.replicas;

        // §5–§8: normalization.
        let normalized = match &self.behavior {
            Some(behavior) => self
                .history
                .normalize_with_behavior(behavior, (min, max), now, r, p),
            None => self.history.normalize_legacy(
                self.config.downscale_stabilization_s,
                (min, max),
                now,
                r,
                p,
            ),
        };
        let n = normalized.desired;

        // §3 step 4.
        self.finish_sync(now, r, n);

        let limited = n != normalized.stabilized;
        let keyword = if limited {
            normalized.limit_reason
        } else {
            normalized.stabilization_reason
        };
        let mut reason = format!("{keyword}: {}", proposal.explanation);
        if normalized.stabilized != p {
            reason.push_str(&format!(
                "; stabilized to {} ({})",
                normalized.stabilized, normalized.stabilization_reason
            ));
        }
        if limited {
            reason.push_str(&format!("; limited ({})", normalized.limit_reason));
        } else {
            reason.push_str(&format!("; {}", normalized.limit_reason));
        }
        reason.push_str(&format!(" -> {n}"));

        let mut inputs = proposal.inputs;
        inputs["proposal"] = json!(p);
        inputs["stabilized"] = json!(normalized.stabilized);
        inputs["limit"] = json!(normalized.limit);
        inputs["normalization"] = json!(if self.behavior.is_some() {
            "behavior"
        } else {
            "legacy"
        });
        self.decision(obs, n, reason, inputs)
    }
}

/// Direction of travel of a rate limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

/// Result of one normalization (§6–§8).
struct Normalized {
    stabilized: u32,
    stabilization_reason: &'static str,
    desired: u32,
    limit_reason: &'static str,
    /// The bound in the direction of travel (maxAllowed or minAllowed).
    limit: Option<u32>,
}

fn to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

/// Tolerance band of §4.4.
#[derive(Clone, Copy, Debug)]
struct Tolerances {
    up: f64,
    down: f64,
}

impl Tolerances {
    /// `(1 − down) ≤ ratio ≤ (1 + up)`, both ends inclusive.
    fn within(self, ratio: f64) -> bool {
        (1.0 - self.down) <= ratio && ratio <= (1.0 + self.up)
    }
}

/// Classification of a pod by `groupPods` (§4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PodClass {
    Ignored,
    Unready,
    Missing,
    Ready,
}

impl PodClass {
    fn as_str(self) -> &'static str {
        match self {
            PodClass::Ignored => "ignored",
            PodClass::Unready => "unready",
            PodClass::Missing => "missing",
            PodClass::Ready => "ready",
        }
    }
}

/// `groupPods` for the CPU resource (§4.2).
fn classify(config: &HpaConfig, now: f64, pod: &PodObservation) -> PodClass {
    match pod.phase {
        PodPhase::Terminating | PodPhase::Failed => return PodClass::Ignored,
        PodPhase::Pending => return PodClass::Unready,
        PodPhase::Running | PodPhase::Succeeded => {}
    }
    if pod.cpu_usage_m.is_none() {
        return PodClass::Missing;
    }
    let (Some(ready), Some(start)) = (pod.ready, pod.start_time) else {
        return PodClass::Unready;
    };
    // A Ready condition without lastTransitionTime carries Go's zero time,
    // which is earlier than anything: model it as −∞.
    let transition = pod.ready_transition_time.unwrap_or(f64::NEG_INFINITY);
    let unready = if start + f64::from(config.cpu_initialization_period_s) > now {
        // Still initializing: unready if NotReady, or if the sample window
        // began before the pod became Ready.
        let timestamp = pod.metric_timestamp.unwrap_or(now);
        let window = pod.metric_window.unwrap_or(DEFAULT_METRIC_WINDOW_S);
        !ready || timestamp < transition + window
    } else {
        // Unready only if it went NotReady at start-up and was never Ready.
        !ready && start + f64::from(config.initial_readiness_delay_s) > transition
    };
    if unready {
        PodClass::Unready
    } else {
        PodClass::Ready
    }
}

/// A successful CPU proposal with what went into it.
struct Proposal {
    replicas: u32,
    explanation: String,
    inputs: Value,
}

/// A failed CPU metric: the sync stops (§3).
struct MetricFailure {
    message: String,
    inputs: Value,
}

/// `GetResourceUtilizationRatio` (§4.3): truncating integer percentage over
/// `(usage, request)` pairs, `None` when the requests sum to zero.
fn utilization(values: impl Iterator<Item = (u64, u64)>) -> Option<u64> {
    let (usage, request) = values.fold((0u128, 0u128), |(u, r), (pu, pr)| {
        (u + u128::from(pu), r + u128::from(pr))
    });
    (request != 0).then(|| u64::try_from(usage * 100 / request).unwrap_or(u64::MAX))
}

fn ratio_of(util: u64, target: u32) -> f64 {
    util as f64 / f64::from(target)
}

/// `ceil(ratio × count)` as Go's `int32(math.Ceil(..))`, saturating.
fn ceil_replicas(ratio: f64, count: usize) -> u32 {
    (ratio * count as f64).ceil() as u32
}

/// §4.5: `R` inside the tolerance band, else `⌈ratio × count⌉`, with the
/// explanation after `head`.
fn fast_path(
    r: u32,
    ratio: f64,
    count: usize,
    tolerances: Tolerances,
    head: &str,
) -> (u32, String) {
    if tolerances.within(ratio) {
        (
            r,
            format!(
                "{head} within tolerance [{:.2}, {:.2}] -> proposal {r}",
                1.0 - tolerances.down,
                1.0 + tolerances.up
            ),
        )
    } else {
        let p = ceil_replicas(ratio, count);
        (p, format!("{head} -> proposal {p}"))
    }
}

/// §4.6 (and §12), once the values are filled in: `R` when the recomputed
/// ratio is inside the band or across 1 from the first, or when the new
/// count moves against it; else `⌈new_ratio × count⌉`.
fn slow_path(
    r: u32,
    (ratio, new_ratio): (f64, f64),
    count: usize,
    tolerances: Tolerances,
    recomputed: &str,
) -> (u32, String) {
    if tolerances.within(new_ratio) {
        (r, format!("{recomputed} within tolerance -> proposal {r}"))
    } else if (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0) {
        (
            r,
            format!("{recomputed} reverses direction -> proposal {r}"),
        )
    } else {
        let n = ceil_replicas(new_ratio, count);
        if (new_ratio < 1.0 && n > r) || (new_ratio > 1.0 && n < r) {
            (
                r,
                format!("{recomputed} -> {n} against direction -> proposal {r}"),
            )
        } else {
            (n, format!("{recomputed} -> proposal {n}"))
        }
    }
}

/// What the slow path assumed: `(missing, ratio, value going down, value
/// going up)` of the missing pods, and `(unready, value)` when unready pods
/// count on a scale-up.
fn assumed(
    (missing, ratio, down, up): (usize, f64, &str, &str),
    unready: Option<(usize, &str)>,
) -> String {
    let mut out = Vec::new();
    if missing > 0 {
        out.push(if ratio < 1.0 {
            format!("{missing} missing at {down}")
        } else if ratio > 1.0 {
            format!("{missing} missing at {up}")
        } else {
            format!("{missing} missing left out")
        });
    }
    if let Some((n, value)) = unready {
        out.push(format!("{n} unready at {value}"));
    }
    out.join(", ")
}

/// `GetResourceReplicas` (§4.1–§4.6).
fn cpu_proposal(
    config: &HpaConfig,
    tolerances: Tolerances,
    obs: &Observation,
) -> std::result::Result<Proposal, MetricFailure> {
    let now = obs.time;
    let r = obs.spec_replicas;
    let target = config.target_cpu_utilization;
    let classes: Vec<PodClass> = obs.pods.iter().map(|p| classify(config, now, p)).collect();
    let classes = classes.as_slice();
    let count = |class: PodClass| classes.iter().filter(|&&c| c == class).count();
    let (ready_count, unready, missing, ignored) = (
        count(PodClass::Ready),
        count(PodClass::Unready),
        count(PodClass::Missing),
        count(PodClass::Ignored),
    );
    let base_inputs = |pods: Value| {
        json!({
            "target": target,
            "ready_count": ready_count,
            "unready": unready,
            "missing": missing,
            "ignored": ignored,
            "pods": pods,
        })
    };
    let pod_rows = |used: &dyn Fn(usize) -> Option<u64>| -> Value {
        Value::Array(
            obs.pods
                .iter()
                .zip(classes)
                .enumerate()
                .map(|(i, (pod, class))| {
                    json!({
                        "name": pod.name,
                        "class": class.as_str(),
                        "usage_m": pod.cpu_usage_m,
                        "request_m": pod.cpu_request_m,
                        "used_m": used(i),
                    })
                })
                .collect(),
        )
    };
    let fail = |message: String| MetricFailure {
        message,
        inputs: base_inputs(pod_rows(&|_| None)),
    };

    // §4.1: pods, metrics and requests; any failure stops the sync.
    if obs.pods.is_empty() {
        return Err(fail(
            "no pods returned by selector while calculating replica count".to_owned(),
        ));
    }
    if obs.pods.iter().all(|p| p.cpu_usage_m.is_none()) {
        return Err(fail(
            "unable to get metrics for resource cpu: no metrics returned from resource metrics API"
                .to_owned(),
        ));
    }
    if ready_count == 0 {
        return Err(fail(
            "did not receive metrics for targeted pods (pods might be unready)".to_owned(),
        ));
    }
    let mut requests = Vec::with_capacity(obs.pods.len());
    for pod in &obs.pods {
        match pod.cpu_request_m {
            Some(request) => requests.push(request),
            None => {
                return Err(fail(format!(
                    "missing request for cpu in a container of pod {}",
                    pod.name
                )))
            }
        }
    }
    let usage = |i: usize| obs.pods[i].cpu_usage_m.unwrap_or(0);
    let indices = |class: PodClass| (0..obs.pods.len()).filter(move |&i| classes[i] == class);

    // §4.3: over the pods that still have a metric (the ready ones).
    let Some(util) = utilization(indices(PodClass::Ready).map(|i| (usage(i), requests[i]))) else {
        return Err(fail("no metrics returned matched known pods".to_owned()));
    };
    let ratio = ratio_of(util, target);
    let head = format!(
        "cpu {util}% of request vs target {target}% (ratio {ratio:.2}, {ready_count} ready pods)"
    );

    // §4.5: the fast path.
    let scale_up_with_unready = unready > 0 && ratio > 1.0;
    if !scale_up_with_unready && missing == 0 {
        let (replicas, explanation) = fast_path(r, ratio, ready_count, tolerances, &head);
        let mut inputs = base_inputs(pod_rows(&|i| {
            (classes[i] == PodClass::Ready).then(|| usage(i))
        }));
        inputs["utilization"] = json!(util);
        inputs["ratio"] = json!(ratio);
        return Ok(Proposal {
            replicas,
            explanation,
            inputs,
        });
    }

    // §4.6: the slow path. Decide the value each pod contributes.
    let missing_fill = |i: usize| -> Option<u64> {
        if ratio < 1.0 {
            // 100 % of the request, or the target when that is above 100 %.
            Some(requests[i].saturating_mul(u64::from(target.max(100))) / 100)
        } else if ratio > 1.0 {
            Some(0)
        } else {
            None
        }
    };
    let used = |i: usize| -> Option<u64> {
        match classes[i] {
            PodClass::Ready => Some(usage(i)),
            PodClass::Missing => missing_fill(i),
            PodClass::Unready if scale_up_with_unready => Some(0),
            PodClass::Unready | PodClass::Ignored => None,
        }
    };
    let with_value: Vec<(u64, u64)> = (0..obs.pods.len())
        .filter_map(|i| used(i).map(|u| (u, requests[i])))
        .collect();
    let new_count = with_value.len();
    let Some(new_util) = utilization(with_value.into_iter()) else {
        return Err(fail("no metrics returned matched known pods".to_owned()));
    };
    let new_ratio = ratio_of(new_util, target);
    let assumed = assumed(
        (missing, ratio, &format!("{}%", target.max(100)), "0%"),
        scale_up_with_unready.then_some((unready, "0%")),
    );
    let recomputed =
        format!("{head}; {assumed} -> {new_util}% (ratio {new_ratio:.2} over {new_count} pods)");
    let (replicas, explanation) =
        slow_path(r, (ratio, new_ratio), new_count, tolerances, &recomputed);
    let mut inputs = base_inputs(pod_rows(&used));
    inputs["utilization"] = json!(util);
    inputs["ratio"] = json!(ratio);
    inputs["new_utilization"] = json!(new_util);
    inputs["new_ratio"] = json!(new_ratio);
    Ok(Proposal {
        replicas,
        explanation,
        inputs,
    })
}
