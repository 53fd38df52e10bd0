//! The control step of a trial, the same on every backend that runs the
//! arm's policy itself (the simulator and the local backend; `scaler run`
//! in a cluster takes the same [`scaler::control::plan`]): the decision on
//! the tick's observation (a hold when a serving pod's metrics are
//! missing, clamped to the bounds), its `decisions` row, and a
//! `scaling_events` row when it changes the replica count.

use scaler::{Observation, Policy};

use crate::record::{DecisionRecord, ScalingEvent, TrialRecords};

/// Whether a runner sampling every second owes `policy` a sample at `t_s`
/// seconds from the trial's start: at each whole multiple of its
/// [`Policy::sample_period_s`] (a period below a second samples every
/// second).
pub fn sample_due(policy: &dyn Policy, t_s: f64) -> bool {
    policy.sample_period_s().is_some_and(|p| {
        let p = p.max(1.0);
        let k = (t_s / p).round();
        k >= 1.0 && (t_s - k * p).abs() < 1e-6
    })
}

/// The decisions and replica changes of one trial.
#[derive(Debug, Default)]
pub struct ControlLog {
    decisions: Vec<DecisionRecord>,
    events: Vec<ScalingEvent>,
}

impl ControlLog {
    /// One tick of `policy` on `obs`, `missing` naming the serving pods
    /// whose metrics were not usable; the new replica count when the
    /// decision changes it.
    pub fn step(
        &mut self,
        policy: &mut dyn Policy,
        obs: &Observation,
        missing: &[String],
    ) -> Option<u32> {
        let d = scaler::control::plan(policy, obs, missing);
        self.decisions
            .push(DecisionRecord::from_decision(obs.time, &d));
        if d.desired_replicas == obs.spec_replicas {
            return None;
        }
        self.events.push(ScalingEvent {
            t_s: obs.time,
            from: obs.spec_replicas,
            to: d.desired_replicas,
            controller: d.controller,
            reason: d.reason,
        });
        Some(d.desired_replicas)
    }

    /// Moves the rows into `out`.
    pub fn finish(self, out: &mut TrialRecords) {
        out.decisions = self.decisions;
        out.scaling_events = self.events;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scaler::PolicyConfig;

    fn policy() -> Box<dyn Policy> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../data/policies/userscale-original.toml"
        );
        match PolicyConfig::load(path) {
            Ok(c) => c.build(),
            Err(e) => panic!("userscale-original.toml: {e}"),
        }
    }

    #[test]
    fn missing_metrics_hold_and_are_recorded_without_an_event() {
        let mut log = ControlLog::default();
        let mut p = policy();
        let obs = Observation {
            time: 12.5,
            spec_replicas: 2,
            pods: Vec::new(),
        };
        assert_eq!(log.step(p.as_mut(), &obs, &["pod-1".into()]), None);
        let mut out = TrialRecords::default();
        log.finish(&mut out);
        assert_eq!(out.decisions.len(), 1);
        assert!(out.scaling_events.is_empty());
        let d = &out.decisions[0];
        assert_eq!((d.t_s, d.current, d.desired), (12.5, 2, 2));
        assert!(d.reason.starts_with("MetricsMissing"), "{}", d.reason);
    }
}
