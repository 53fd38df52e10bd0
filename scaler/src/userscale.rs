//! UserScale, the GPU-aware policy of the original experiment.
//!
//! Every `interval_s` seconds it reads, over the pods that are `Running`,
//! Ready (`ready == Some(true)`) and report the field:
//!
//! * `gpu`: the mean of `gpu_utilization` (percent);
//! * `latency`: the mean of `avg_latency_ms`;
//! * `concurrent`: the sum of `in_flight`, divided by the number of ready
//!   pods for the scale-down test.
//!
//! and applies these rules, all comparisons strict:
//!
//! | rule | condition | change |
//! |---|---|---|
//! | `GpuHigh` | gpu > `gpu_high_pct` (80) | + `step_high` (3) |
//! | `GpuMid` | gpu > `gpu_mid_pct` (60) | + `step_mid` (2) |
//! | `GpuLow` | gpu > `gpu_low_pct` (50) | + `step_low` (1) |
//! | `LatencyHigh` | latency > `latency_high_ms` (1000) | + `latency_step` (3) |
//! | `Idle` | gpu < `scale_down_gpu_below_pct` (20) **and** latency < `scale_down_latency_below_ms` (500) **and** concurrent per ready pod < `scale_down_max_concurrent_per_pod` (1.0) | − `scale_down_step` (1) |
//!
//! Only the highest GPU tier that matches fires. When a GPU rule and the
//! latency rule both fire, the larger step wins (the GPU rule on a tie). A
//! scale-down is considered only when no scale-up rule fires. When no ready
//! pod reports a latency, the latency rule does not fire and the latency test
//! of `Idle` holds (an idle pod has served no request to time).
//!
//! The result is clamped to `[min_replicas, max_replicas]`; a rule that fires
//! at the bound keeps its keyword and the reason says "already at max/min". A change in a
//! direction is allowed only when at least the cooldown of that direction has
//! passed since this policy last changed replicas in that direction
//! (`now − last ≥ cooldown`). When `spec_replicas` is outside the bounds it is
//! corrected to the nearest bound first (`OutOfBounds`), whatever the metrics
//! and cooldowns. With no ready pod reporting GPU utilisation the policy
//! holds (`NoMetrics`).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{ControllerKind, Decision, Error, Observation, Policy, Result, Signal};

/// Thresholds, steps and cooldowns of UserScale. The GPU tiers, the 1000 ms
/// latency trigger, the 20 % scale-down trigger and the 3 s interval are the
/// original experiment's rules; values the original does not state (marked
/// "our reading" below) are this bench's choices, and every one can be set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UserScaleConfig {
    /// Lowest replica count (default 1).
    pub min_replicas: u32,
    /// Highest replica count (default 6, the GPU's time-slicing replicas).
    pub max_replicas: u32,
    /// Seconds between two evaluations (default 3).
    pub interval_s: f64,
    /// GPU utilisation above which `step_high` is added, percent (default 80).
    pub gpu_high_pct: f64,
    /// Step of the high GPU tier (default 3).
    pub step_high: u32,
    /// GPU utilisation above which `step_mid` is added, percent (default 60).
    pub gpu_mid_pct: f64,
    /// Step of the middle GPU tier (default 2).
    pub step_mid: u32,
    /// GPU utilisation above which `step_low` is added, percent (default 50).
    pub gpu_low_pct: f64,
    /// Step of the low GPU tier (default 1).
    pub step_low: u32,
    /// Mean latency above which `latency_step` is added, ms (default 1000).
    pub latency_high_ms: f64,
    /// Step of the aggressive latency scale-up (default 3; our reading of
    /// "aggressive": the largest GPU step).
    pub latency_step: u32,
    /// Replicas removed by one scale-down (default 1).
    pub scale_down_step: u32,
    /// Scale down only below this GPU utilisation, percent (default 20).
    pub scale_down_gpu_below_pct: f64,
    /// Scale down only below this mean latency, ms (default 500; our reading
    /// of "low latency").
    pub scale_down_latency_below_ms: f64,
    /// Scale down only below this many in-flight requests per ready pod
    /// (default 1.0; our reading of how the original used concurrency).
    pub scale_down_max_concurrent_per_pod: f64,
    /// Seconds after a scale-up before the next one (default 0; the original
    /// states none).
    pub scale_up_cooldown_s: f64,
    /// Seconds after a scale-down before the next one (default 30; our
    /// reading: the original states none).
    pub scale_down_cooldown_s: f64,
}

impl Default for UserScaleConfig {
    fn default() -> Self {
        Self {
            min_replicas: 1,
            max_replicas: 6,
            interval_s: 3.0,
            gpu_high_pct: 80.0,
            step_high: 3,
            gpu_mid_pct: 60.0,
            step_mid: 2,
            gpu_low_pct: 50.0,
            step_low: 1,
            latency_high_ms: 1000.0,
            latency_step: 3,
            scale_down_step: 1,
            scale_down_gpu_below_pct: 20.0,
            scale_down_latency_below_ms: 500.0,
            scale_down_max_concurrent_per_pod: 1.0,
            scale_up_cooldown_s: 0.0,
            scale_down_cooldown_s: 30.0,
        }
    }
}

fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error::InvalidPolicy {
        field: field.to_owned(),
        message: message.into(),
    }
}

impl UserScaleConfig {
    /// Checks the configuration; the error names the offending field.
    pub fn validate(&self) -> Result<()> {
        if self.max_replicas < 1 {
            return Err(invalid("max_replicas", "must be at least 1"));
        }
        if self.min_replicas > self.max_replicas {
            return Err(invalid(
                "max_replicas",
                format!(
                    "must be at least min_replicas ({}), got {}",
                    self.min_replicas, self.max_replicas
                ),
            ));
        }
        if !(self.interval_s.is_finite() && self.interval_s > 0.0) {
            return Err(invalid(
                "interval_s",
                format!("must be a finite number > 0, got {}", self.interval_s),
            ));
        }
        for (field, value) in [
            ("gpu_high_pct", self.gpu_high_pct),
            ("gpu_mid_pct", self.gpu_mid_pct),
            ("gpu_low_pct", self.gpu_low_pct),
            ("latency_high_ms", self.latency_high_ms),
            ("scale_down_gpu_below_pct", self.scale_down_gpu_below_pct),
            (
                "scale_down_latency_below_ms",
                self.scale_down_latency_below_ms,
            ),
            (
                "scale_down_max_concurrent_per_pod",
                self.scale_down_max_concurrent_per_pod,
            ),
            ("scale_up_cooldown_s", self.scale_up_cooldown_s),
            ("scale_down_cooldown_s", self.scale_down_cooldown_s),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(invalid(
                    field,
                    format!("must be a finite number ≥ 0, got {value}"),
                ));
            }
        }
        if self.gpu_mid_pct > self.gpu_high_pct {
            return Err(invalid(
                "gpu_mid_pct",
                format!(
                    "must not exceed gpu_high_pct ({}), got {}",
                    self.gpu_high_pct, self.gpu_mid_pct
                ),
            ));
        }
        if self.gpu_low_pct > self.gpu_mid_pct {
            return Err(invalid(
                "gpu_low_pct",
                format!(
                    "must not exceed gpu_mid_pct ({}), got {}",
                    self.gpu_mid_pct, self.gpu_low_pct
                ),
            ));
        }
        for (field, step) in [
            ("step_high", self.step_high),
            ("step_mid", self.step_mid),
            ("step_low", self.step_low),
            ("latency_step", self.latency_step),
            ("scale_down_step", self.scale_down_step),
        ] {
            if step < 1 {
                return Err(invalid(field, "must be at least 1"));
            }
        }
        Ok(())
    }
}

/// The UserScale controller: configuration plus the times of its last
/// changes in each direction.
#[derive(Clone, Debug)]
pub struct UserScale {
    config: UserScaleConfig,
    last_scale_up: Option<f64>,
    last_scale_down: Option<f64>,
}

/// What UserScale reads from the pods at one tick.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Inputs {
    gpu: Option<f64>,
    latency: Option<f64>,
    concurrent: u64,
    ready_pods: usize,
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, count) = values.fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
    (count > 0).then(|| sum / count as f64)
}

impl Inputs {
    fn read(obs: &Observation) -> Self {
        let ready: Vec<_> = obs.pods.iter().filter(|p| p.is_serving()).collect();
        Self {
            gpu: mean(ready.iter().filter_map(|p| p.gpu_utilization)),
            latency: mean(ready.iter().filter_map(|p| p.avg_latency_ms)),
            concurrent: ready
                .iter()
                .filter_map(|p| p.in_flight)
                .map(u64::from)
                .sum(),
            ready_pods: ready.len(),
        }
    }
}

/// A rule that fired: its keyword, signed step and explanation.
struct Fired {
    rule: &'static str,
    step: i64,
    why: String,
}

impl UserScale {
    /// A fresh controller. The configuration is taken as is: call
    /// [`UserScaleConfig::validate`] first. An invalid configuration never
    /// makes `decide` panic.
    pub fn new(config: UserScaleConfig) -> Self {
        Self {
            config,
            last_scale_up: None,
            last_scale_down: None,
        }
    }

    /// The configuration this controller runs.
    pub fn config(&self) -> &UserScaleConfig {
        &self.config
    }

    /// The rule that fires for these inputs, if any (`gpu` is known).
    fn rule(&self, gpu: f64, inputs: &Inputs) -> Option<Fired> {
        let c = &self.config;
        let gpu_rule = if gpu > c.gpu_high_pct {
            Some(("GpuHigh", c.step_high, c.gpu_high_pct))
        } else if gpu > c.gpu_mid_pct {
            Some(("GpuMid", c.step_mid, c.gpu_mid_pct))
        } else if gpu > c.gpu_low_pct {
            Some(("GpuLow", c.step_low, c.gpu_low_pct))
        } else {
            None
        }
        .map(|(rule, step, threshold)| Fired {
            rule,
            step: i64::from(step),
            why: format!("gpu {gpu:.1}% > {threshold}%"),
        });
        let latency_rule = inputs
            .latency
            .filter(|&l| l > c.latency_high_ms)
            .map(|l| Fired {
                rule: "LatencyHigh",
                step: i64::from(c.latency_step),
                why: format!("latency {l:.0} ms > {} ms", c.latency_high_ms),
            });
        match (gpu_rule, latency_rule) {
            (Some(g), Some(l)) => Some(if l.step > g.step {
                Fired {
                    why: format!("{} (also {})", l.why, g.why),
                    ..l
                }
            } else {
                Fired {
                    why: format!("{} (also {})", g.why, l.why),
                    ..g
                }
            }),
            (Some(fired), None) | (None, Some(fired)) => Some(fired),
            (None, None) => {
                let per_pod = inputs.concurrent as f64 / inputs.ready_pods.max(1) as f64;
                // No latency reported: no evidence against idleness.
                let latency_ok = match inputs.latency {
                    Some(l) => l < c.scale_down_latency_below_ms,
                    None => true,
                };
                (gpu < c.scale_down_gpu_below_pct
                    && latency_ok
                    && per_pod < c.scale_down_max_concurrent_per_pod)
                    .then(|| Fired {
                        rule: "Idle",
                        step: -i64::from(c.scale_down_step),
                        why: format!(
                            "gpu {gpu:.1}% < {}%, latency {} < {} ms, {per_pod:.2} in flight \
                             per ready pod < {}",
                            c.scale_down_gpu_below_pct,
                            inputs
                                .latency
                                .map_or("n/a".to_owned(), |l| format!("{l:.0} ms")),
                            c.scale_down_latency_below_ms,
                            c.scale_down_max_concurrent_per_pod
                        ),
                    })
            }
        }
    }
}

impl Policy for UserScale {
    fn kind(&self) -> ControllerKind {
        ControllerKind::Userscale
    }

    fn interval_s(&self) -> f64 {
        self.config.interval_s
    }

    fn bounds(&self) -> (u32, u32) {
        (self.config.min_replicas, self.config.max_replicas)
    }

    fn signals(&self) -> &'static [Signal] {
        &[Signal::GpuUtilization, Signal::InFlight, Signal::AvgLatency]
    }

    fn decide(&mut self, obs: &Observation) -> Decision {
        let now = obs.time;
        let r = obs.spec_replicas;
        let (min, max) = (self.config.min_replicas, self.config.max_replicas);
        let inputs = Inputs::read(obs);
        let mut fired_rule: Option<&'static str> = None;
        let mut step: Option<i64> = None;

        let (desired, reason) = if r < min || r > max {
            let n = if r < min { min } else { max };
            (
                n,
                format!("OutOfBounds: spec replicas {r} outside [{min}, {max}] -> {n}"),
            )
        } else if let Some(gpu) = inputs.gpu {
            match self.rule(gpu, &inputs) {
                None => (
                    r,
                    format!(
                        "Hold: gpu {gpu:.1}%, no rule fired ({} ready pods) -> {r}",
                        inputs.ready_pods
                    ),
                ),
                Some(fired) => {
                    fired_rule = Some(fired.rule);
                    step = Some(fired.step);
                    let wanted = (i64::from(r) + fired.step).max(i64::from(min));
                    let n = u32::try_from(wanted.min(i64::from(max))).unwrap_or(max);
                    let sign = if fired.step > 0 { "+" } else { "" };
                    let head = format!("{}: {} -> {sign}{}", fired.rule, fired.why, fired.step);
                    let (last, cooldown, keyword) = if fired.step > 0 {
                        (
                            self.last_scale_up,
                            self.config.scale_up_cooldown_s,
                            "CooldownUp",
                        )
                    } else {
                        (
                            self.last_scale_down,
                            self.config.scale_down_cooldown_s,
                            "CooldownDown",
                        )
                    };
                    if n == r {
                        let bound = if fired.step > 0 { "max" } else { "min" };
                        (r, format!("{head}, already at {bound} {r} -> {r}"))
                    } else if let Some(last) = last.filter(|&t| now - t < cooldown) {
                        (
                            r,
                            format!(
                                "{keyword}: {} -> {sign}{} blocked, last change {:.1} s ago < \
                                 cooldown {cooldown} s -> {r}",
                                fired.why,
                                fired.step,
                                now - last
                            ),
                        )
                    } else {
                        (n, format!("{head} -> {n}"))
                    }
                }
            }
        } else {
            (
                r,
                format!(
                    "NoMetrics: no ready pod reports GPU utilisation ({} ready pods) -> {r}",
                    inputs.ready_pods
                ),
            )
        };

        if desired > r {
            self.last_scale_up = Some(now);
        } else if desired < r {
            self.last_scale_down = Some(now);
        }
        Decision {
            time: now,
            controller: self.kind(),
            current_replicas: r,
            desired_replicas: desired,
            reason,
            inputs: json!({
                "gpu_utilization": inputs.gpu,
                "avg_latency_ms": inputs.latency,
                "concurrent_requests": inputs.concurrent,
                "ready_pods": inputs.ready_pods,
                "rule": fired_rule,
                "step": step,
            }),
        }
    }
}
