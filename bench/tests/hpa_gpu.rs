//! An `hpa-gpu` arm (the HPA on the pods' GPU utilisation, `docs/hpa.md`
//! §12) runs in the simulator like any arm: same scenarios, bounds and
//! load; its decisions are the GPU HPA's, consistent with the inputs they
//! record, and every value it used is what the emulated DCGM exporter →
//! Prometheus → adapter chain served at that sync: the pod's reading of an
//! earlier second.
#![allow(clippy::unwrap_used)]

use bench::sim::{run_trial, TrialInput};
use std::collections::HashMap;

use bench::trial::signal::{ExportChain, Site};
use scaler::{ControllerKind, PolicyConfig, Signal};

#[test]
fn an_hpa_gpu_arm_scales_on_the_simulated_gpu_utilisation() {
    let mut campaign = testkit::campaign_with_seeds("default", 1);
    let policy = PolicyConfig::load(testkit::root().join("data/policies/hpa-gpu.toml")).unwrap();
    campaign.arms.insert("hpa-gpu".into(), policy);
    let plan = campaign.plan();
    let trials: Vec<_> = plan.iter().filter(|t| t.arm == "hpa-gpu").collect();
    assert!(!trials.is_empty());
    let (mut scaled_up, mut checked) = (0, 0);
    for t in trials {
        let stages = t.signal_stages(Site::Sim);
        let names: Vec<_> = stages.iter().map(|s| (s.signal, s.name)).collect();
        let exported = Signal::ExportedGpuUtilization;
        assert_eq!(
            names,
            [
                (exported, "device_sampler"),
                (exported, "dcgm_exporter"),
                (exported, "prometheus"),
                (exported, "prometheus_adapter")
            ]
        );
        let chain = ExportChain::of(&t.clocks);
        let out = run_trial(&TrialInput::of(t)).unwrap();
        // Each pod's GPU utilisation per second, as the trial sampled it.
        let gpu: HashMap<(String, u64), Option<f64>> = out
            .pod_samples
            .iter()
            .map(|p| {
                (
                    (out.pods[p.pod as usize].name.clone(), p.t_s as u64),
                    p.gpu_util,
                )
            })
            .collect();
        let (min, max) = (t.spec().min_replicas, t.spec().max_replicas);
        assert!(!out.decisions.is_empty());
        for d in &out.decisions {
            assert_eq!(d.controller, ControllerKind::HpaGpu);
            assert!(min <= d.desired && d.desired <= max, "{d:?}");
            let inputs: serde_json::Value = serde_json::from_str(&d.inputs_json).unwrap();
            // Every value the HPA used is the reading of the second the
            // metrics pipeline served at this sync (0 before the trial).
            let source = chain.source_s(d.t_s);
            for pod in inputs["pods"].as_array().into_iter().flatten() {
                let Some(value) = pod["value_milli"].as_i64() else {
                    continue;
                };
                let name = pod["name"].as_str().unwrap().to_string();
                let want = if source < 1.0 {
                    Some(0.0)
                } else {
                    gpu[&(name, source.floor() as u64)]
                };
                let want = want.map(|u| (u * 1000.0).trunc() as i64);
                assert_eq!(
                    Some(value),
                    want,
                    "{} at {} s (source {source} s)",
                    d.reason,
                    d.t_s
                );
                checked += 1;
            }
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
    assert!(checked > 20, "{checked}");
}
