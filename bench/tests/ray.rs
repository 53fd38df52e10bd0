//! A `ray` arm (Ray Serve's queue-length policy, `docs/hpa.md` §15) runs in
//! the simulator like any arm: a decision every 0.1 s, a record of each
//! running replica every second, and every total it decided on is the sum
//! of the replicas' mean ongoing requests over the look-back of what was
//! pushed, as the trial recorded them.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use bench::sim::{run_trial, TrialInput};
use scaler::{ControllerKind, PolicyConfig};

#[test]
fn a_ray_arm_decides_on_the_look_back_of_the_pushed_records() {
    let mut campaign = testkit::campaign_with_seeds("default", 1);
    let policy = PolicyConfig::load(testkit::root().join("data/policies/ray.toml")).unwrap();
    campaign.arms.insert("ray".into(), policy);
    let plan = campaign.plan();
    let trials: Vec<_> = plan.iter().filter(|t| t.arm == "ray").collect();
    assert!(!trials.is_empty());
    let (mut checked, mut scaled_up) = (0, 0);
    for t in trials {
        let out = run_trial(&TrialInput::of(t)).unwrap();
        // Each ready pod's ongoing requests per second.
        let ongoing: HashMap<(u32, i64), f64> = out
            .pod_samples
            .iter()
            .filter(|p| p.ready)
            .map(|p| ((p.pod, p.t_s as i64), f64::from(p.in_flight + p.queued)))
            .collect();
        let (min, max) = (t.spec().min_replicas, t.spec().max_replicas);
        let times: Vec<f64> = out.decisions.iter().map(|d| d.t_s).collect();
        assert!(times.windows(2).all(|w| (w[1] - w[0] - 0.1).abs() < 1e-6));
        for d in out.decisions.iter().step_by(7) {
            assert_eq!(d.controller, ControllerKind::Ray);
            assert!(min <= d.desired && d.desired <= max, "{d:?}");
            let inputs: serde_json::Value = serde_json::from_str(&d.inputs_json).unwrap();
            let pushed = (d.t_s / 10.0).floor() as i64 * 10;
            // The replicas running at the decision: ready, not deleted.
            let want: f64 = out
                .pods
                .iter()
                .filter(|p| {
                    p.ready_s.is_some_and(|r| r <= d.t_s) && p.deleted_s.is_none_or(|e| e > d.t_s)
                })
                .filter_map(|p| {
                    let v: Vec<f64> = ((pushed - 29)..=pushed)
                        .filter_map(|s| ongoing.get(&(p.pod, s)).copied())
                        .collect();
                    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
                })
                .sum();
            let total = inputs["total"].as_f64().unwrap();
            assert!(
                (total - want).abs() < 1e-9,
                "{} at {}: {total} vs {want}",
                d.reason,
                d.t_s
            );
            checked += 1;
            scaled_up += usize::from(d.desired > d.current);
        }
    }
    assert!(checked > 300, "{checked}");
    assert!(scaled_up > 0);
}
