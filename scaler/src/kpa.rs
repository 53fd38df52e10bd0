//! A Knative-style concurrency autoscaler (KPA), emulated (`kind = "kpa"`,
//! `docs/hpa.md` §14): the decision of knative/serving
//! `pkg/autoscaler/scaling/autoscaler.go` (`Scale`) on the revision's
//! concurrency, with the metric windows of `pkg/autoscaler/aggregation`
//! and the defaults of `pkg/autoscaler/config`.
//!
//! * **Buckets.** Every second ([`Policy::sample`]) the policy records the
//!   revision's concurrency: the requests in its ready pods, queued or
//!   running, summed (Knative scrapes each pod's queue-proxy every second;
//!   it extrapolates from a sample of pods when more than three are ready,
//!   which this emulation does not: every ready pod is counted).
//! * **Windows.** The stable window (`stable_window_s`, 60 s) and the panic
//!   window (`panic_window_percentage` of it, 10 %: 6 s) average the
//!   buckets they cover; until a window has been filled since the first
//!   sample it averages the seconds since that sample (a second without a
//!   sample counts as 0). A second in which no ready pod answered records
//!   no sample; with no sample in the stable window there is no data and
//!   the tick holds.
//! * **Decision**, every `tick_interval_s` (2 s), with `ready = max(1,
//!   ready pods)`: `max_up = ceil(max_scale_up_rate × ready)`, `max_down =
//!   floor(ready / max_scale_down_rate)`; the stable and panic proposals are
//!   `ceil(window average / target)` clamped to `[max_down, max_up]`, where
//!   `target = target_concurrency × target_utilization`; the tick is over
//!   the panic threshold when `ceil(panic average / target) / ready ≥
//!   panic_threshold_percentage / 100`. Over it, panic begins or is
//!   extended to now; not over it, a panic whose last extension is more than
//!   a stable window ago ends. Outside panic the stable proposal is wanted;
//!   in panic the largest of both proposals and every count wanted since the
//!   panic began (no scale-down in panic). The result is clamped to the
//!   bounds (the min/max-scale annotations).
//! * A fresh autoscaler that sees more than one ready pod starts in panic,
//!   holding that count.
//!
//! Not emulated: scale to zero and the activator (the bench's scenarios
//! keep at least one replica), the scale-down delay (default 0), the
//! activation scale (default 1), requests-per-second scaling and the
//! weighted window algorithm (default linear).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::hpa::invalid;
use crate::{ControllerKind, Decision, Observation, Policy, Result, Signal};

/// Knative's `container-concurrency-target-default`.
pub const DEFAULT_TARGET: f64 = 100.0;
/// `container-concurrency-target-percentage` 70, as a share.
pub const DEFAULT_TARGET_UTILIZATION: f64 = 0.7;
/// `stable-window`, seconds.
pub const DEFAULT_STABLE_WINDOW_S: u32 = 60;
/// `panic-window-percentage`.
pub const DEFAULT_PANIC_WINDOW_PERCENTAGE: f64 = 10.0;
/// `panic-threshold-percentage`.
pub const DEFAULT_PANIC_THRESHOLD_PERCENTAGE: f64 = 200.0;
/// `max-scale-up-rate`.
pub const DEFAULT_MAX_SCALE_UP_RATE: f64 = 1000.0;
/// `max-scale-down-rate`.
pub const DEFAULT_MAX_SCALE_DOWN_RATE: f64 = 2.0;
/// The autoscaler's tick (`tickInterval`, fixed in Knative), seconds.
pub const DEFAULT_TICK_INTERVAL_S: f64 = 2.0;

fn default_min() -> u32 {
    1
}
fn default_target() -> f64 {
    DEFAULT_TARGET
}
fn default_target_utilization() -> f64 {
    DEFAULT_TARGET_UTILIZATION
}
fn default_stable_window_s() -> u32 {
    DEFAULT_STABLE_WINDOW_S
}
fn default_panic_window_percentage() -> f64 {
    DEFAULT_PANIC_WINDOW_PERCENTAGE
}
fn default_panic_threshold_percentage() -> f64 {
    DEFAULT_PANIC_THRESHOLD_PERCENTAGE
}
fn default_max_scale_up_rate() -> f64 {
    DEFAULT_MAX_SCALE_UP_RATE
}
fn default_max_scale_down_rate() -> f64 {
    DEFAULT_MAX_SCALE_DOWN_RATE
}
fn default_tick_interval_s() -> f64 {
    DEFAULT_TICK_INTERVAL_S
}

/// Configuration of a KPA (`kind = "kpa"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpaConfig {
    /// `min-scale` (default 1; this emulation does not scale to zero).
    #[serde(default = "default_min")]
    pub min_replicas: u32,
    /// `max-scale`.
    pub max_replicas: u32,
    /// Concurrency target per pod (`autoscaling.knative.dev/target`;
    /// default 100).
    #[serde(default = "default_target")]
    pub target_concurrency: f64,
    /// Share of the target to aim at (`target-utilization-percentage` / 100;
    /// default 0.7).
    #[serde(default = "default_target_utilization")]
    pub target_utilization: f64,
    /// Stable window, whole seconds (default 60; Knative allows 6–3600).
    #[serde(default = "default_stable_window_s")]
    pub stable_window_s: u32,
    /// Panic window as a percentage of the stable one (default 10).
    #[serde(default = "default_panic_window_percentage")]
    pub panic_window_percentage: f64,
    /// Panic threshold, percent of the ready pods (default 200).
    #[serde(default = "default_panic_threshold_percentage")]
    pub panic_threshold_percentage: f64,
    /// Most growth per tick, a factor of the ready pods (default 1000).
    #[serde(default = "default_max_scale_up_rate")]
    pub max_scale_up_rate: f64,
    /// Most shrinkage per tick, a divisor of the ready pods (default 2).
    #[serde(default = "default_max_scale_down_rate")]
    pub max_scale_down_rate: f64,
    /// Seconds between decisions (default 2).
    #[serde(default = "default_tick_interval_s")]
    pub tick_interval_s: f64,
}

impl KpaConfig {
    /// A configuration with these bounds and per-pod target and Knative's
    /// defaults otherwise.
    pub fn new(min_replicas: u32, max_replicas: u32, target_concurrency: f64) -> Self {
        KpaConfig {
            min_replicas,
            max_replicas,
            target_concurrency,
            target_utilization: DEFAULT_TARGET_UTILIZATION,
            stable_window_s: DEFAULT_STABLE_WINDOW_S,
            panic_window_percentage: DEFAULT_PANIC_WINDOW_PERCENTAGE,
            panic_threshold_percentage: DEFAULT_PANIC_THRESHOLD_PERCENTAGE,
            max_scale_up_rate: DEFAULT_MAX_SCALE_UP_RATE,
            max_scale_down_rate: DEFAULT_MAX_SCALE_DOWN_RATE,
            tick_interval_s: DEFAULT_TICK_INTERVAL_S,
        }
    }

    /// The concurrency per pod aimed at.
    pub fn target(&self) -> f64 {
        self.target_concurrency * self.target_utilization
    }

    /// The panic window in whole seconds (at least one bucket).
    pub fn panic_window_s(&self) -> u32 {
        ((f64::from(self.stable_window_s) * self.panic_window_percentage / 100.0).round() as u32)
            .max(1)
    }

    /// Checks what Knative's configuration validation would refuse; the
    /// error names the field.
    pub fn validate(&self) -> Result<()> {
        if self.min_replicas < 1 {
            return Err(invalid(
                "min_replicas",
                "must be at least 1 (scale to zero and the activator are not emulated)",
            ));
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
        let positive = |field: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(invalid(field, format!("must be a number above 0, got {v}")))
            }
        };
        positive("target_concurrency", self.target_concurrency)?;
        if !(self.target_utilization > 0.0 && self.target_utilization <= 1.0) {
            return Err(invalid(
                "target_utilization",
                format!(
                    "must be above 0 and at most 1, got {}",
                    self.target_utilization
                ),
            ));
        }
        if !(6..=3600).contains(&self.stable_window_s) {
            return Err(invalid(
                "stable_window_s",
                format!("must be within 6..=3600 s, got {}", self.stable_window_s),
            ));
        }
        if !(self.panic_window_percentage >= 1.0 && self.panic_window_percentage <= 100.0) {
            return Err(invalid(
                "panic_window_percentage",
                format!(
                    "must be within 1..=100, got {}",
                    self.panic_window_percentage
                ),
            ));
        }
        if !(self.panic_threshold_percentage > 100.0 && self.panic_threshold_percentage <= 1000.0) {
            return Err(invalid(
                "panic_threshold_percentage",
                format!(
                    "must be above 100 and at most 1000, got {}",
                    self.panic_threshold_percentage
                ),
            ));
        }
        if !(self.max_scale_up_rate.is_finite() && self.max_scale_up_rate > 1.0) {
            return Err(invalid(
                "max_scale_up_rate",
                format!("must be above 1, got {}", self.max_scale_up_rate),
            ));
        }
        if !(self.max_scale_down_rate.is_finite() && self.max_scale_down_rate > 1.0) {
            return Err(invalid(
                "max_scale_down_rate",
                format!("must be above 1, got {}", self.max_scale_down_rate),
            ));
        }
        positive("tick_interval_s", self.tick_interval_s)
    }
}

/// Ready pods: running, Ready, not being deleted.
fn ready_pods(obs: &Observation) -> usize {
    obs.pods.iter().filter(|p| p.is_serving()).count()
}

/// The revision's concurrency now: the requests in its ready pods that
/// answered; `None` when none did (a failed scrape records nothing).
fn concurrency(obs: &Observation) -> Option<f64> {
    let values: Vec<f64> = obs
        .pods
        .iter()
        .filter(|p| p.is_serving())
        .filter_map(|p| p.in_flight)
        .map(f64::from)
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// A KPA: its buckets and its panic state.
#[derive(Clone, Debug)]
pub struct Kpa {
    config: KpaConfig,
    /// `(second, total)` of the last stable window, oldest first.
    buckets: VecDeque<(i64, f64)>,
    /// The second of the first sample.
    first: Option<i64>,
    /// Whether the autoscaler has been created (the first decision).
    created: bool,
    /// When panic began or was last extended (`None`: not panicking).
    panic_time: Option<f64>,
    /// The most pods wanted since panic began.
    max_panic_pods: u32,
}

impl Kpa {
    /// A fresh autoscaler; call [`KpaConfig::validate`] first.
    pub fn new(config: KpaConfig) -> Self {
        Kpa {
            config,
            buckets: VecDeque::new(),
            first: None,
            created: false,
            panic_time: None,
            max_panic_pods: 0,
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &KpaConfig {
        &self.config
    }

    /// The average over the `window` seconds ending with second `now`, or
    /// over the seconds since the first sample when fewer; `None` when the
    /// stable window holds no sample (Knative's `ErrNoData`).
    fn window_average(&self, now: i64, window: u32) -> Option<f64> {
        let first = self.first?;
        let stable_from = now - i64::from(self.config.stable_window_s);
        if !self
            .buckets
            .iter()
            .any(|(s, _)| *s > stable_from && *s <= now)
        {
            return None;
        }
        let start = (now - i64::from(window) + 1).max(first);
        if start > now {
            return Some(0.0);
        }
        let total: f64 = self
            .buckets
            .iter()
            .filter(|(s, _)| *s >= start && *s <= now)
            .map(|(_, v)| v)
            .sum();
        Some(total / (now - start + 1) as f64)
    }
}

impl Policy for Kpa {
    fn kind(&self) -> ControllerKind {
        ControllerKind::Kpa
    }

    fn interval_s(&self) -> f64 {
        self.config.tick_interval_s
    }

    fn bounds(&self) -> (u32, u32) {
        (self.config.min_replicas, self.config.max_replicas)
    }

    fn signals(&self) -> &'static [Signal] {
        &[Signal::InFlight]
    }

    fn sample_period_s(&self) -> Option<f64> {
        Some(1.0)
    }

    fn sample(&mut self, obs: &Observation) {
        let second = obs.time.floor() as i64;
        let Some(value) = concurrency(obs) else {
            return;
        };
        self.first.get_or_insert(second);
        match self.buckets.back_mut() {
            Some((s, v)) if *s == second => *v += value,
            _ => self.buckets.push_back((second, value)),
        }
        let horizon = second - i64::from(self.config.stable_window_s);
        while self.buckets.front().is_some_and(|(s, _)| *s <= horizon) {
            self.buckets.pop_front();
        }
    }

    fn decide(&mut self, obs: &Observation) -> Decision {
        let now = obs.time;
        let r = obs.spec_replicas;
        let c = &self.config;
        let ready_count = ready_pods(obs);
        if !self.created {
            self.created = true;
            // A new autoscaler over more than one ready pod starts in panic.
            if ready_count > 1 {
                self.panic_time = Some(now);
                self.max_panic_pods = u32::try_from(ready_count).unwrap_or(u32::MAX);
            }
        }
        let decision = |desired: u32, reason: String, inputs: serde_json::Value| Decision {
            time: now,
            controller: ControllerKind::Kpa,
            current_replicas: r,
            desired_replicas: desired,
            reason,
            inputs,
        };
        let second = now.floor() as i64;
        let (Some(stable), Some(panic)) = (
            self.window_average(second, c.stable_window_s),
            self.window_average(second, c.panic_window_s()),
        ) else {
            return decision(
                r,
                format!("NoData: no concurrency sample in the stable window; holding {r}"),
                json!({ "ready_pods": ready_count }),
            );
        };
        let ready = (ready_count as f64).max(1.0);
        let target = c.target();
        let max_up = (c.max_scale_up_rate * ready).ceil();
        let max_down = (ready / c.max_scale_down_rate).floor();
        let dspc = (stable / target).ceil();
        let dppc = (panic / target).ceil();
        let want_stable = dspc.max(max_down).min(max_up) as u32;
        let want_panic = dppc.max(max_down).min(max_up) as u32;
        let threshold = c.panic_threshold_percentage / 100.0;
        let over = dppc / ready >= threshold;
        let was_panicking = self.panic_time.is_some();
        let stable_window = f64::from(c.stable_window_s);
        if over {
            self.panic_time = Some(now);
        } else if self.panic_time.is_some_and(|t| t + stable_window < now) {
            self.panic_time = None;
            self.max_panic_pods = 0;
        }
        let (mode, wanted) = if self.panic_time.is_some() {
            let want = want_stable.max(want_panic);
            self.max_panic_pods = self.max_panic_pods.max(want);
            let mode = if was_panicking {
                "Panic"
            } else {
                "PanicBegins"
            };
            (mode, self.max_panic_pods)
        } else {
            let mode = if was_panicking { "PanicEnds" } else { "Stable" };
            (mode, want_stable)
        };
        let desired = wanted.clamp(c.min_replicas, c.max_replicas);
        let reason = format!(
            "{mode}: concurrency stable {stable:.2} / panic {panic:.2} over {ready_count} ready vs \
             target {target:.2} per pod -> stable {want_stable}, panic {want_panic} \
             (limits {max_down}..{max_up}); panic ratio {:.2} {} {threshold:.2}; wanted {wanted} -> {desired}",
            dppc / ready,
            if over { "≥" } else { "<" },
        );
        decision(
            desired,
            reason,
            json!({
                "stable_concurrency": stable,
                "panic_concurrency": panic,
                "target": target,
                "ready_pods": ready_count,
                "max_scale_up": max_up,
                "max_scale_down": max_down,
                "stable_proposal": want_stable,
                "panic_proposal": want_panic,
                "over_panic_threshold": over,
                "panicking": self.panic_time.is_some(),
                "panic_time": self.panic_time,
                "max_panic_pods": self.max_panic_pods,
                "wanted": wanted,
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{PodObservation, PodPhase};

    /// `ready` ready pods holding `total` requests between them.
    fn obs(t: f64, r: u32, ready: usize, total: u32) -> Observation {
        let n = ready.max(1) as u32;
        Observation {
            time: t,
            spec_replicas: r,
            pods: (0..ready)
                .map(|i| PodObservation {
                    ready: Some(true),
                    in_flight: Some(total / n + u32::from((i as u32) < total % n)),
                    ..PodObservation::bare(format!("p{i}"), PodPhase::Running)
                })
                .collect(),
        }
    }

    /// Target 1 request per pod (10 × 0.1), 1–100 pods.
    fn kpa() -> Kpa {
        let mut c = KpaConfig::new(1, 100, 10.0);
        c.target_utilization = 0.1;
        c.validate().unwrap();
        Kpa::new(c)
    }

    /// Samples every second from `from` to `to` (inclusive) at `total`.
    fn feed(k: &mut Kpa, from: i64, to: i64, ready: usize, total: u32) {
        for s in from..=to {
            k.sample(&obs(s as f64, ready as u32, ready, total));
        }
    }

    /// Created over one ready pod (not panicking), then 6 s with two ready
    /// pods holding `total` requests; the decision at 11.5 s.
    fn two_pods_holding(total: u32) -> Decision {
        let mut k = kpa();
        feed(&mut k, 0, 5, 1, 1);
        let d = k.decide(&obs(5.5, 1, 1, 1));
        assert_eq!(d.inputs["panicking"], false, "{}", d.reason);
        feed(&mut k, 6, 11, 2, total);
        k.decide(&obs(11.5, 2, 2, total))
    }

    #[test]
    fn panic_begins_at_exactly_twice_the_ready_pods() {
        // The panic window (6..=11) averages 4: ceil(4 / 1) / 2 ready = 2.0.
        let d = two_pods_holding(4);
        assert_eq!(d.inputs["over_panic_threshold"], true, "{}", d.reason);
        assert!(d.reason.starts_with("PanicBegins"), "{}", d.reason);
        // 3 in flight: 1.5, under the threshold.
        let d = two_pods_holding(3);
        assert_eq!(d.inputs["over_panic_threshold"], false, "{}", d.reason);
        assert!(d.reason.starts_with("Stable"), "{}", d.reason);
    }

    #[test]
    fn panic_never_scales_down_and_ends_only_after_a_whole_stable_window() {
        let mut k = kpa();
        feed(&mut k, 0, 9, 1, 1);
        k.decide(&obs(9.5, 1, 1, 1));
        // A burst: 10 in flight on 1 pod -> panic, 10 pods.
        feed(&mut k, 10, 15, 1, 10);
        let d = k.decide(&obs(15.5, 1, 1, 10));
        assert!(d.reason.starts_with("PanicBegins"), "{}", d.reason);
        assert_eq!(d.desired_replicas, 10);
        let began = 15.5;
        // The load drops at once: the panic window empties, but in panic the
        // count never goes down.
        let mut t = 16.0;
        let mut ended = None;
        while t < 120.0 {
            feed(&mut k, t as i64, t as i64 + 1, 10, 1);
            t += 2.0;
            let d = k.decide(&obs(t + 0.5, 10, 10, 1));
            if d.inputs["panicking"] == true {
                assert_eq!(
                    d.desired_replicas, 10,
                    "no scale-down in panic at {t}: {}",
                    d.reason
                );
            } else if ended.is_none() {
                ended = Some(t + 0.5);
                assert!(d.reason.starts_with("PanicEnds"), "{}", d.reason);
                // Out of panic, at most halving per tick: 10 ready -> 5.
                assert_eq!(d.desired_replicas, 5, "{}", d.reason);
            }
        }
        // Last extension at 15.5 s (over the threshold then): panic ends at
        // the first tick more than 60 s later.
        let ended = ended.unwrap();
        assert!(
            ended > began + 60.0 && ended <= began + 62.0,
            "ended at {ended}"
        );
    }

    #[test]
    fn scale_down_at_most_halves_and_scale_up_at_most_the_rate() {
        // Growth per tick is at most ceil(rate × ready): rate 2 on 1 pod.
        let mut c = KpaConfig::new(1, 100, 10.0);
        c.target_utilization = 0.1;
        c.max_scale_up_rate = 2.0;
        let mut k = Kpa::new(c);
        feed(&mut k, 0, 5, 1, 10);
        let d = k.decide(&obs(5.5, 1, 1, 10));
        assert_eq!(d.desired_replicas, 2, "{}", d.reason);
        assert_eq!(d.inputs["max_scale_up"], 2.0);
        // Created over 1 pod, then 8 ready with 1 request: want 1, but at
        // most halving: floor(8 / 2) = 4.
        let mut k = kpa();
        feed(&mut k, 0, 1, 1, 1);
        k.decide(&obs(1.5, 1, 1, 1));
        feed(&mut k, 2, 59, 8, 1);
        let d = k.decide(&obs(59.5, 8, 8, 1));
        assert_eq!(d.inputs["panicking"], false, "{}", d.reason);
        assert_eq!(d.desired_replicas, 4, "{}", d.reason);
        assert_eq!(d.inputs["max_scale_down"], 4.0);
    }

    #[test]
    fn windows_average_the_seconds_since_the_first_sample() {
        let mut k = kpa();
        assert_eq!(k.window_average(10, 60), None, "no data");
        feed(&mut k, 10, 12, 1, 3);
        // Three seconds of 3: 3.0 in both windows.
        assert_eq!(k.window_average(12, 60), Some(3.0));
        assert_eq!(k.window_average(12, 6), Some(3.0));
        // Two silent seconds count as 0 in the window: 9 / 5.
        assert_eq!(k.window_average(14, 60), Some(9.0 / 5.0));
        // A full panic window of 6 s ending at 20: seconds 15..=20, nothing.
        assert_eq!(k.window_average(20, 6), Some(0.0));
        // Nothing in the stable window: no data.
        assert_eq!(k.window_average(72, 6), None);
        // Seconds 12..=71: only the sample of 12 is left.
        assert_eq!(k.window_average(71, 60), Some(3.0 / 60.0));
        // A second where no ready pod answers records no sample.
        let mut quiet = kpa();
        let mut o = obs(5.0, 1, 1, 3);
        o.pods[0].in_flight = None;
        quiet.sample(&o);
        assert_eq!(quiet.window_average(5, 60), None);
        // No data: hold.
        let mut fresh = kpa();
        let d = fresh.decide(&obs(3.0, 2, 1, 5));
        assert_eq!(d.desired_replicas, 2);
        assert!(d.reason.starts_with("NoData"), "{}", d.reason);
    }

    #[test]
    fn a_fresh_autoscaler_over_several_ready_pods_starts_in_panic() {
        let mut k = kpa();
        feed(&mut k, 0, 1, 3, 0);
        let d = k.decide(&obs(1.5, 3, 3, 0));
        assert_eq!(d.inputs["panicking"], true, "{}", d.reason);
        assert_eq!(d.desired_replicas, 3, "holds the ready count: {}", d.reason);
    }

    #[test]
    fn validation_names_the_field() {
        let bad = |edit: &dyn Fn(&mut KpaConfig), field: &str| {
            let mut c = KpaConfig::new(1, 10, 10.0);
            edit(&mut c);
            match c.validate() {
                Err(crate::Error::InvalidPolicy { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        };
        bad(&|c| c.min_replicas = 0, "min_replicas");
        bad(&|c| c.max_replicas = 0, "max_replicas");
        bad(&|c| c.target_concurrency = 0.0, "target_concurrency");
        bad(&|c| c.target_utilization = 1.5, "target_utilization");
        bad(&|c| c.stable_window_s = 5, "stable_window_s");
        bad(
            &|c| c.panic_threshold_percentage = 100.0,
            "panic_threshold_percentage",
        );
        bad(&|c| c.max_scale_down_rate = 1.0, "max_scale_down_rate");
        bad(&|c| c.tick_interval_s = 0.0, "tick_interval_s");
    }
}
