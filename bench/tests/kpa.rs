//! A `kpa` arm (Knative's concurrency autoscaler, `docs/hpa.md` §14) runs in
//! the simulator like any arm: the engine hands it a sample every second
//! between its 2 s decisions, and every window average a decision used is
//! the mean of the revision's concurrency in those seconds, as the trial
//! recorded it (the requests in the ready pods, queued or running).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use bench::sim::{run_trial, TrialInput};
use scaler::{ControllerKind, PolicyConfig};

#[test]
fn a_kpa_arm_decides_on_the_windows_of_its_per_second_samples() {
    let mut campaign = testkit::campaign_with_seeds("default", 1);
    let policy = PolicyConfig::load(testkit::root().join("data/policies/kpa.toml")).unwrap();
    campaign.arms.insert("kpa".into(), policy);
    let plan = campaign.plan();
    let trials: Vec<_> = plan.iter().filter(|t| t.arm == "kpa").collect();
    assert!(!trials.is_empty());
    let (mut checked, mut panics, mut scaled_up) = (0, 0, 0);
    for t in trials {
        let out = run_trial(&TrialInput::of(t)).unwrap();
        // The revision's concurrency in each second, from the pod rows.
        let mut per_second: BTreeMap<i64, f64> = BTreeMap::new();
        for p in out.pod_samples.iter().filter(|p| p.ready) {
            *per_second.entry(p.t_s as i64).or_default() += f64::from(p.in_flight + p.queued);
        }
        let first = out.samples.first().map(|s| s.t_s as i64).unwrap();
        let mean = |from: i64, to: i64| -> f64 {
            let from = from.max(first);
            let total: f64 = (from..=to)
                .map(|s| per_second.get(&s).copied().unwrap_or(0.0))
                .sum();
            total / (to - from + 1) as f64
        };
        let (min, max) = (t.spec().min_replicas, t.spec().max_replicas);
        // Decisions every 2 s.
        let times: Vec<f64> = out.decisions.iter().map(|d| d.t_s).collect();
        assert!(
            times.windows(2).all(|w| (w[1] - w[0] - 2.0).abs() < 1e-9),
            "{times:?}"
        );
        for d in &out.decisions {
            assert_eq!(d.controller, ControllerKind::Kpa);
            assert!(min <= d.desired && d.desired <= max, "{d:?}");
            let inputs: serde_json::Value = serde_json::from_str(&d.inputs_json).unwrap();
            let Some(stable) = inputs["stable_concurrency"].as_f64() else {
                assert!(d.reason.starts_with("NoData"), "{}", d.reason);
                continue;
            };
            let n = d.t_s.floor() as i64;
            let want_stable = mean(n - 59, n);
            let want_panic = mean(n - 5, n);
            let panic = inputs["panic_concurrency"].as_f64().unwrap();
            assert!(
                (stable - want_stable).abs() < 1e-9,
                "{} at {}: stable {stable} vs {want_stable}",
                d.reason,
                d.t_s
            );
            assert!(
                (panic - want_panic).abs() < 1e-9,
                "{} at {}: panic {panic} vs {want_panic}",
                d.reason,
                d.t_s
            );
            checked += 1;
            panics += usize::from(inputs["panicking"] == true);
            scaled_up += usize::from(d.desired > d.current);
        }
    }
    assert!(checked > 100, "{checked}");
    assert!(panics > 0, "the default loads make it panic");
    assert!(scaled_up > 0);
}
