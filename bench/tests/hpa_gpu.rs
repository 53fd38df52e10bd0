//! An `hpa-gpu` arm (the HPA on the pods' GPU utilisation, `docs/hpa.md`
//! §12) runs in the simulator like any arm: same scenarios, bounds and
//! load; its decisions are the GPU HPA's, consistent with the inputs they
//! record, and it reads the GPU signal the trial records.
#![allow(clippy::unwrap_used)]

use bench::sim::{run_trial, TrialInput};
use bench::trial::signal::Site;
use scaler::{ControllerKind, PolicyConfig, Signal};

#[test]
fn an_hpa_gpu_arm_scales_on_the_simulated_gpu_utilisation() {
    let mut campaign = testkit::campaign_with_seeds("default", 1);
    let policy = PolicyConfig::load(testkit::root().join("data/policies/hpa-gpu.toml")).unwrap();
    campaign.arms.insert("hpa-gpu".into(), policy);
    let plan = campaign.plan();
    let trials: Vec<_> = plan.iter().filter(|t| t.arm == "hpa-gpu").collect();
    assert!(!trials.is_empty());
    let mut scaled_up = 0;
    for t in trials {
        let stages = t.signal_stages(Site::Sim);
        assert_eq!(stages.len(), 1);
        assert_eq!(stages[0].signal, Signal::GpuUtilization);
        let out = run_trial(&TrialInput::of(t)).unwrap();
        let (min, max) = (t.spec().min_replicas, t.spec().max_replicas);
        assert!(!out.decisions.is_empty());
        for d in &out.decisions {
            assert_eq!(d.controller, ControllerKind::HpaGpu);
            assert!(min <= d.desired && d.desired <= max, "{d:?}");
            let inputs: serde_json::Value = serde_json::from_str(&d.inputs_json).unwrap();
            // A fast-path proposal is ⌈usage / target × counted pods⌉
            // outside the tolerance band (its inputs say which).
            if inputs.get("new_ratio").is_none() {
                if let (Some(usage), Some(target), Some(n), Some(p)) = (
                    inputs["usage_milli"].as_i64(),
                    inputs["target_milli"].as_i64(),
                    inputs["ready_count"].as_u64(),
                    inputs["proposal"].as_u64(),
                ) {
                    let ratio = usage as f64 / target as f64;
                    if ((1.0 - 0.1)..=(1.0 + 0.1)).contains(&ratio) {
                        assert_eq!(p, u64::from(d.current), "{}", d.reason);
                    } else {
                        assert_eq!(p, (ratio * n as f64).ceil() as u64, "{}", d.reason);
                    }
                }
            }
            scaled_up += usize::from(d.desired > d.current);
        }
        assert!(out
            .scaling_events
            .iter()
            .all(|e| e.controller == ControllerKind::HpaGpu));
    }
    // Under the default campaign's loads the GPUs saturate: it scales up.
    assert!(scaled_up > 0);
}
