//! A Ray Serve-style queue-length autoscaler, emulated (`kind = "ray"`,
//! `docs/hpa.md` §15): the default policy of ray-project/ray
//! `python/ray/serve/autoscaling_policy.py`
//! (`replica_queue_length_autoscaling_policy` wrapped by
//! `_apply_autoscaling_config`), with the defaults of
//! `python/ray/serve/config.py` (`AutoscalingConfig`) and
//! `_private/constants.py`.
//!
//! * **Metrics.** Each replica records its ongoing requests (queued or
//!   running) once a second ([`Policy::sample`]; Ray records every 0.5 s)
//!   and pushes them to the controller every `metrics_interval_s` (10 s;
//!   here at whole multiples of it from t = 0 for every replica). At a
//!   decision the controller averages each running replica's records of
//!   the last `look_back_period_s` (30 s) it has received and sums the
//!   averages: `total`.
//! * **Decision**, every `control_loop_interval_s` (0.1 s), with
//!   `running` the ready replicas and `target` the Deployment's replica
//!   count: at 0 running replicas the cold-start path answers at once,
//!   `max(ceil(upscaling_factor), target)` when any request is ongoing and
//!   `target` otherwise. Else `desired = total / target_ongoing_requests`;
//!   `scaled = ceil(running + factor × (desired − running))` with the
//!   upscaling or downscaling factor, minus one when it would otherwise
//!   stay at `running` although `ceil(desired) < running` (the don't-get-
//!   stuck step); clamped to the bounds; then the delay: a signed counter
//!   of consecutive ticks wanting more (or fewer) than `target`, reset on a
//!   change of direction or a tick wanting `target`; the count changes once
//!   the counter passes `int(upscale_delay_s / control_loop_interval_s)`
//!   (or `int(downscale_delay_s / …)` below zero), never below 1 except
//!   from 1 to 0.
//!
//! Differences, in what the bench can observe: the look-back is a plain
//! mean of whole-second records (Ray's controller merges the pushed time
//! series time-weighted); the requests queued at handles and async
//! inference queues are not modelled (the bench's requests queue in the
//! pods); scale to zero is not emulated (min_replicas ≥ 1).

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::hpa::invalid;
use crate::{ControllerKind, Decision, Observation, Policy, Result, Signal};

/// `target_ongoing_requests` default (Ray 2.32 and later; 1 before).
pub const DEFAULT_TARGET_ONGOING_REQUESTS: f64 = 2.0;
/// `upscale_delay_s` default.
pub const DEFAULT_UPSCALE_DELAY_S: f64 = 30.0;
/// `downscale_delay_s` default.
pub const DEFAULT_DOWNSCALE_DELAY_S: f64 = 600.0;
/// `look_back_period_s` default.
pub const DEFAULT_LOOK_BACK_PERIOD_S: f64 = 30.0;
/// `metrics_interval_s` default.
pub const DEFAULT_METRICS_INTERVAL_S: f64 = 10.0;
/// `CONTROL_LOOP_INTERVAL_S`.
pub const DEFAULT_CONTROL_LOOP_INTERVAL_S: f64 = 0.1;

fn one() -> u32 {
    1
}
fn one_f() -> f64 {
    1.0
}
fn default_target() -> f64 {
    DEFAULT_TARGET_ONGOING_REQUESTS
}
fn default_up() -> f64 {
    DEFAULT_UPSCALE_DELAY_S
}
fn default_down() -> f64 {
    DEFAULT_DOWNSCALE_DELAY_S
}
fn default_look_back() -> f64 {
    DEFAULT_LOOK_BACK_PERIOD_S
}
fn default_metrics_interval() -> f64 {
    DEFAULT_METRICS_INTERVAL_S
}
fn default_loop() -> f64 {
    DEFAULT_CONTROL_LOOP_INTERVAL_S
}

/// Configuration of a Ray Serve deployment's autoscaling (`kind = "ray"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RayConfig {
    /// `min_replicas` (default 1; scale to zero is not emulated).
    #[serde(default = "one")]
    pub min_replicas: u32,
    /// `max_replicas`.
    pub max_replicas: u32,
    /// `target_ongoing_requests` per replica (default 2).
    #[serde(default = "default_target")]
    pub target_ongoing_requests: f64,
    /// `upscale_delay_s` (default 30).
    #[serde(default = "default_up")]
    pub upscale_delay_s: f64,
    /// `downscale_delay_s` (default 600).
    #[serde(default = "default_down")]
    pub downscale_delay_s: f64,
    /// `upscaling_factor` (default 1; Ray's `smoothing_factor` when unset).
    #[serde(default = "one_f")]
    pub upscaling_factor: f64,
    /// `downscaling_factor` (default 1).
    #[serde(default = "one_f")]
    pub downscaling_factor: f64,
    /// `look_back_period_s` (default 30).
    #[serde(default = "default_look_back")]
    pub look_back_period_s: f64,
    /// `metrics_interval_s` (default 10).
    #[serde(default = "default_metrics_interval")]
    pub metrics_interval_s: f64,
    /// The controller loop's period (Ray's constant 0.1 s).
    #[serde(default = "default_loop")]
    pub control_loop_interval_s: f64,
}

impl RayConfig {
    /// These bounds and Ray's defaults.
    pub fn new(min_replicas: u32, max_replicas: u32) -> Self {
        RayConfig {
            min_replicas,
            max_replicas,
            target_ongoing_requests: DEFAULT_TARGET_ONGOING_REQUESTS,
            upscale_delay_s: DEFAULT_UPSCALE_DELAY_S,
            downscale_delay_s: DEFAULT_DOWNSCALE_DELAY_S,
            upscaling_factor: 1.0,
            downscaling_factor: 1.0,
            look_back_period_s: DEFAULT_LOOK_BACK_PERIOD_S,
            metrics_interval_s: DEFAULT_METRICS_INTERVAL_S,
            control_loop_interval_s: DEFAULT_CONTROL_LOOP_INTERVAL_S,
        }
    }

    /// Checks what Ray's `AutoscalingConfig` validation refuses; the error
    /// names the field.
    pub fn validate(&self) -> Result<()> {
        if self.min_replicas < 1 {
            return Err(invalid(
                "min_replicas",
                "must be at least 1 (scale to zero is not emulated)",
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
        for (field, v, zero_ok) in [
            (
                "target_ongoing_requests",
                self.target_ongoing_requests,
                false,
            ),
            ("upscale_delay_s", self.upscale_delay_s, true),
            ("downscale_delay_s", self.downscale_delay_s, true),
            ("upscaling_factor", self.upscaling_factor, false),
            ("downscaling_factor", self.downscaling_factor, false),
            ("look_back_period_s", self.look_back_period_s, false),
            ("metrics_interval_s", self.metrics_interval_s, false),
            (
                "control_loop_interval_s",
                self.control_loop_interval_s,
                false,
            ),
        ] {
            let ok = v.is_finite() && (v > 0.0 || (zero_ok && v == 0.0));
            if !ok {
                let bound = if zero_ok { "≥ 0" } else { "above 0" };
                return Err(invalid(field, format!("must be a number {bound}, got {v}")));
            }
        }
        Ok(())
    }
}

/// Ready replicas, by name.
fn running(obs: &Observation) -> impl Iterator<Item = &crate::PodObservation> {
    obs.pods.iter().filter(|p| p.is_serving())
}

/// A Ray Serve deployment's autoscaling state.
#[derive(Clone, Debug)]
pub struct Ray {
    config: RayConfig,
    /// Each replica's records `(t, ongoing)`, oldest first.
    records: BTreeMap<String, VecDeque<(f64, f64)>>,
    /// The delay counter (`SERVE_AUTOSCALING_DECISION_COUNTERS_KEY`).
    counter: i64,
}

impl Ray {
    /// A fresh deployment; call [`RayConfig::validate`] first.
    pub fn new(config: RayConfig) -> Self {
        Ray {
            config,
            records: BTreeMap::new(),
            counter: 0,
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &RayConfig {
        &self.config
    }

    /// The sum over running replicas of their mean ongoing requests over the
    /// look-back, from the records pushed by `now`; and how many replicas
    /// had records.
    fn total(&self, obs: &Observation) -> (f64, usize) {
        let c = &self.config;
        let pushed = (obs.time / c.metrics_interval_s).floor() * c.metrics_interval_s;
        let from = pushed - c.look_back_period_s;
        let mut total = 0.0;
        let mut with = 0;
        for p in running(obs) {
            let Some(rec) = self.records.get(&p.name) else {
                continue;
            };
            let values: Vec<f64> = rec
                .iter()
                .filter(|(t, _)| *t > from && *t <= pushed)
                .map(|(_, v)| *v)
                .collect();
            if !values.is_empty() {
                total += values.iter().sum::<f64>() / values.len() as f64;
                with += 1;
            }
        }
        (total, with)
    }

    /// `_apply_delay_logic`: the count to write given the bounded
    /// `desired` and the current `target`.
    fn delay(&mut self, desired: u32, target: u32) -> u32 {
        let c = &self.config;
        let ticks = |delay_s: f64| (delay_s / c.control_loop_interval_s) as i64;
        if desired > target {
            self.counter = self.counter.max(0) + 1;
            if self.counter > ticks(c.upscale_delay_s) {
                self.counter = 0;
                return desired;
            }
        } else if desired < target {
            self.counter = self.counter.min(0) - 1;
            let desired = desired.max(1);
            if self.counter < -ticks(c.downscale_delay_s) {
                self.counter = 0;
                return desired;
            }
        } else {
            self.counter = 0;
        }
        target
    }
}

impl Policy for Ray {
    fn kind(&self) -> ControllerKind {
        ControllerKind::Ray
    }

    fn interval_s(&self) -> f64 {
        self.config.control_loop_interval_s
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
        let keep = self.config.look_back_period_s + self.config.metrics_interval_s;
        for p in running(obs) {
            if let Some(v) = p.in_flight {
                self.records
                    .entry(p.name.clone())
                    .or_default()
                    .push_back((obs.time, f64::from(v)));
            }
        }
        let live: Vec<&str> = obs.pods.iter().map(|p| p.name.as_str()).collect();
        self.records.retain(|name, rec| {
            while rec.front().is_some_and(|(t, _)| *t < obs.time - keep) {
                rec.pop_front();
            }
            live.contains(&name.as_str())
        });
    }

    fn decide(&mut self, obs: &Observation) -> Decision {
        let c = self.config.clone();
        let target = obs.spec_replicas;
        let n_running = running(obs).count();
        let (total, with) = self.total(obs);
        let decision = |desired: u32, reason: String, inputs: serde_json::Value| Decision {
            time: obs.time,
            controller: ControllerKind::Ray,
            current_replicas: target,
            desired_replicas: desired,
            reason,
            inputs,
        };
        if n_running == 0 {
            let ongoing = obs.pods.iter().filter_map(|p| p.in_flight).sum::<u32>() > 0;
            let to = if ongoing {
                (c.upscaling_factor.ceil() as u32).max(target)
            } else {
                target
            };
            return decision(
                to,
                format!("ColdStart: no running replica, requests ongoing: {ongoing} -> {to}"),
                json!({ "running": 0, "total": total, "target": target }),
            );
        }
        let running_f = n_running as f64;
        let desired = total / c.target_ongoing_requests;
        let delta = desired - running_f;
        let factor = if delta > 0.0 {
            c.upscaling_factor
        } else {
            c.downscaling_factor
        };
        let mut scaled = (running_f + factor * delta).ceil() as i64;
        let stuck = desired.ceil() < running_f && scaled == n_running as i64;
        if stuck {
            scaled -= 1;
        }
        let bounded = (scaled.max(0) as u32).clamp(c.min_replicas, c.max_replicas);
        let before = self.counter;
        let to = self.delay(bounded, target);
        let reason = format!(
            "{}: total ongoing {total:.2} over {n_running} running (target {} each) -> desired \
             {desired:.2}, scaled {scaled}{}, bounded {bounded}; counter {before} -> {} -> {to}",
            if to > target {
                "ScaleUp"
            } else if to < target {
                "ScaleDown"
            } else if bounded != target {
                "Delayed"
            } else {
                "Steady"
            },
            c.target_ongoing_requests,
            if stuck { " (stuck step)" } else { "" },
            self.counter,
        );
        decision(
            to,
            reason,
            json!({
                "running": n_running,
                "replicas_with_metrics": with,
                "total": total,
                "desired": desired,
                "scaled": scaled,
                "bounded": bounded,
                "counter": self.counter,
                "target": target,
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{PodObservation, PodPhase};

    fn obs(t: f64, r: u32, each: &[u32]) -> Observation {
        Observation {
            time: t,
            spec_replicas: r,
            pods: each
                .iter()
                .enumerate()
                .map(|(i, v)| PodObservation {
                    ready: Some(true),
                    in_flight: Some(*v),
                    ..PodObservation::bare(format!("r{i}"), PodPhase::Running)
                })
                .collect(),
        }
    }

    /// Ray with 1 s ticks and delays of `up` and `down` seconds.
    fn ray(up: f64, down: f64) -> Ray {
        let mut c = RayConfig::new(1, 10);
        c.control_loop_interval_s = 1.0;
        c.upscale_delay_s = up;
        c.downscale_delay_s = down;
        c.metrics_interval_s = 1.0;
        c.look_back_period_s = 1.0;
        c.validate().unwrap();
        Ray::new(c)
    }

    /// A sample then a decision at each whole second.
    fn step(k: &mut Ray, t: f64, r: u32, each: &[u32]) -> Decision {
        let o = obs(t, r, each);
        k.sample(&o);
        k.decide(&o)
    }

    #[test]
    fn upscaling_waits_for_more_than_the_delay_in_consecutive_ticks() {
        // 2 replicas with 4 each: total 8, desired 8 / 2 = 4 replicas.
        let mut k = ray(3.0, 600.0);
        let mut r = 2;
        let mut at = Vec::new();
        for t in 1..=6 {
            let d = step(&mut k, f64::from(t), r, &[4, 4]);
            if d.desired_replicas != r {
                at.push((t, d.desired_replicas));
                r = d.desired_replicas;
            }
        }
        // int(3 / 1) = 3: the 4th consecutive tick acts.
        assert_eq!(at, [(4, 4)]);
        // A tick wanting the target resets the count.
        let mut k = ray(3.0, 600.0);
        for t in 1..=3 {
            step(&mut k, f64::from(t), 2, &[4, 4]);
        }
        let d = step(&mut k, 4.0, 2, &[2, 2]);
        assert_eq!(d.inputs["counter"], 0, "{}", d.reason);
        let d = step(&mut k, 5.0, 2, &[4, 4]);
        assert_eq!(d.inputs["counter"], 1, "{}", d.reason);
        assert_eq!(d.desired_replicas, 2);
    }

    #[test]
    fn a_change_of_direction_restarts_the_count() {
        let mut k = ray(5.0, 5.0);
        for t in 1..=3 {
            step(&mut k, f64::from(t), 4, &[4, 4, 4, 4]);
        }
        // Now fewer: counter from +3 to -1.
        let d = step(&mut k, 4.0, 4, &[0, 0, 0, 0]);
        assert_eq!(d.inputs["counter"], -1, "{}", d.reason);
    }

    #[test]
    fn downscaling_does_not_get_stuck_and_never_goes_below_one() {
        // Downscaling factor 0.1: 4 running, desired 3 (6 ongoing / 2):
        // ceil(4 + 0.1 × -1) = 4 would stay; the stuck step gives 3.
        let mut c = RayConfig::new(1, 10);
        c.control_loop_interval_s = 1.0;
        c.downscale_delay_s = 0.0;
        c.downscaling_factor = 0.1;
        c.metrics_interval_s = 1.0;
        c.look_back_period_s = 1.0;
        let mut k = Ray::new(c);
        let d = step(&mut k, 1.0, 4, &[2, 2, 1, 1]);
        assert_eq!(d.inputs["scaled"], 3, "{}", d.reason);
        assert!(d.reason.contains("stuck step"), "{}", d.reason);
        assert_eq!(d.desired_replicas, 3);
        // Idle: desired 0, bounded to the minimum 1.
        let mut k = ray(0.0, 0.0);
        let d = step(&mut k, 1.0, 3, &[0, 0, 0]);
        assert_eq!(d.desired_replicas, 1, "{}", d.reason);
    }

    #[test]
    fn the_look_back_averages_what_was_pushed() {
        let mut c = RayConfig::new(1, 10);
        c.control_loop_interval_s = 1.0;
        let mut k = Ray::new(c);
        // Records 1..=20 s: replica r0 at 2, then 6 from 11 s on.
        for t in 1..=20 {
            let v = if t <= 10 { 2 } else { 6 };
            k.sample(&obs(f64::from(t), 1, &[v]));
        }
        // At 19.5 s the last push was at 10 s: look-back (-20, 10]: mean 2.
        let d = k.decide(&obs(19.5, 1, &[6]));
        assert_eq!(d.inputs["total"], 2.0, "{}", d.reason);
        // At 20 s the push at 20 s brings 11..=20: mean over (-10, 20] = (10×2 + 10×6) / 20 = 4.
        let d = k.decide(&obs(20.0, 1, &[6]));
        assert_eq!(d.inputs["total"], 4.0, "{}", d.reason);
    }

    #[test]
    fn cold_start_answers_at_once() {
        let mut k = ray(30.0, 600.0);
        let mut o = obs(1.0, 0, &[3]);
        o.pods[0].ready = Some(false);
        o.pods[0].phase = PodPhase::Pending;
        let d = k.decide(&o);
        assert_eq!(d.desired_replicas, 1, "{}", d.reason);
        assert!(d.reason.starts_with("ColdStart"), "{}", d.reason);
        o.pods[0].in_flight = Some(0);
        let d = k.decide(&o);
        assert_eq!(
            d.desired_replicas, 0,
            "nothing ongoing: the target: {}",
            d.reason
        );
    }

    #[test]
    fn delays_count_control_loop_ticks_at_the_default_period() {
        // 0.1 s ticks: int(30 / 0.1) = 300 (as in Ray's Python); the count
        // acts on the 301st consecutive tick, 30.1 s after the first.
        let mut k = Ray::new(RayConfig::new(1, 10));
        let mut acted = None;
        // One replica holding 10 requests: desired 5. A record each second,
        // a decision every 0.1 s from 10 s on (data pushed at 10 s).
        for i in 0..1000 {
            let t = f64::from(i) * 0.1;
            let o = obs(t, 1, &[10]);
            if i % 10 == 0 && i > 0 {
                k.sample(&o);
            }
            if t < 10.0 {
                continue;
            }
            if k.decide(&o).desired_replicas != 1 {
                acted = Some(i - 99);
                break;
            }
        }
        assert_eq!((30.0f64 / 0.1) as i64, 300);
        assert_eq!(acted, Some(301));
    }
}
