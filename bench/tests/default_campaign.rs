//! The shipped default campaign holds what the research design needs.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use bench::campaign::{Campaign, WaitMode};
use bench::gpu::Provenance;
use bench::profile::Arrival;

fn default() -> Campaign {
    Campaign::load(&common::root().join("data/campaigns/default.toml")).unwrap()
}

#[test]
fn every_cell_has_both_arms_and_at_least_20_seeds() {
    let c = default();
    let plan = c.plan();
    let mut cells: BTreeMap<(&str, &str), BTreeMap<String, Vec<u64>>> = BTreeMap::new();
    for p in &plan {
        cells
            .entry((p.spec().name.as_str(), p.profile.name.as_str()))
            .or_default()
            .entry(p.arm.to_owned())
            .or_default()
            .push(p.seed);
    }
    assert!(cells.len() >= 6);
    for arms in cells.values() {
        assert_eq!(
            arms.keys().cloned().collect::<Vec<_>>(),
            ["hpa", "userscale"]
        );
        let mut seeds: Vec<_> = arms.values().cloned().collect();
        for s in &mut seeds {
            s.sort_unstable();
        }
        assert!(seeds[0].len() >= 20);
        assert_eq!(seeds[0], seeds[1], "both arms run the same seeds");
    }
    // Run order: every trial once, arms interleaved rather than in blocks.
    let orders: Vec<u32> = plan.iter().map(|p| p.run_order).collect();
    assert_eq!(orders, (0..plan.len() as u32).collect::<Vec<_>>());
    let first_half_hpa = plan[..plan.len() / 2]
        .iter()
        .filter(|p| p.arm == "hpa")
        .count();
    assert!((plan.len() / 4 - 20..=plan.len() / 4 + 20).contains(&first_half_hpa));
    assert_eq!(
        c.plan()
            .iter()
            .map(|p| (p.label(), p.clocks.clone()))
            .collect::<Vec<_>>(),
        plan.iter()
            .map(|p| (p.label(), p.clocks.clone()))
            .collect::<Vec<_>>(),
        "the order is seeded"
    );
}

#[test]
fn a_resolved_trial_is_what_the_simulator_would_resolve_itself() {
    let c = default();
    for t in c.plan().iter().take(40) {
        let i = c.scenarios.iter().position(|s| s == t.scenario).unwrap();
        let policy = c.policy(t.arm, i).unwrap();
        assert_eq!(t.policy, policy);
        assert_eq!(
            t.policy.bounds(),
            (t.spec().min_replicas, t.spec().max_replicas)
        );
        let by_hand = bench::sim::TrialInput::new(
            t.scenario,
            t.profile,
            t.arm,
            policy,
            t.seed,
            c.file.duration_s,
        );
        let resolved = bench::sim::TrialInput::of(t);
        assert_eq!(resolved.clocks, by_hand.clocks, "{}", t.label());
        assert_eq!(
            (resolved.seed, resolved.duration_s),
            (t.seed, c.file.duration_s)
        );
        assert_eq!(t.warmup_s, c.file.warmup_s);
    }
}

#[test]
fn arms_share_bounds_and_the_original_scenario_is_the_laptop() {
    let c = default();
    for (i, s) in c.scenarios.iter().enumerate() {
        let bounds: Vec<_> = c
            .arms
            .keys()
            .map(|a| c.policy(a, i).unwrap().bounds())
            .collect();
        assert!(bounds
            .iter()
            .all(|b| *b == (s.spec.min_replicas, s.spec.max_replicas)));
    }
    let original = c
        .scenarios
        .iter()
        .find(|s| s.spec.name == "original-gtx1650")
        .unwrap();
    let spec = &original.spec;
    assert_eq!((spec.min_replicas, spec.max_replicas), (1, 6));
    assert_eq!(spec.nodes.len(), 1);
    let node = &spec.nodes[0];
    assert_eq!(
        (node.count, node.gpus, node.time_slicing_replicas),
        (1, 1, 6)
    );
    assert_eq!(node.cpu_cores, 12.0);
    assert_eq!(spec.pod.wait_mode, WaitMode::Spin);
    let gpu = &original.gpu_profiles[node.gpu_profile.as_deref().unwrap()];
    assert_eq!(gpu.provenance, Provenance::SpecDerived);
    assert!(gpu.model.contains("GTX 1650"));
    let closed = c
        .file
        .profiles
        .iter()
        .find(|p| p.name == "closed-20")
        .unwrap();
    assert!(matches!(closed.arrival, Arrival::Closed { users: 20, .. }));
    assert_eq!((closed.size.min, closed.size.max), (1000, 2000));
    assert_eq!((closed.iterations.min, closed.iterations.max), (20, 100));
    // The multi-GPU scenario gives each pod a GPU of its own.
    let multi = c
        .scenarios
        .iter()
        .find(|s| s.spec.name == "multi-gpu-t4")
        .unwrap();
    let gpus: u32 = multi.spec.nodes.iter().map(|n| n.count * n.gpus).sum();
    assert!(gpus >= multi.spec.max_replicas);
    assert!(multi
        .spec
        .nodes
        .iter()
        .all(|n| n.time_slicing_replicas == 1));
    // Open-loop step and spike profiles exist.
    let shapes: Vec<String> = c
        .file
        .profiles
        .iter()
        .filter_map(|p| match &p.arrival {
            Arrival::Open { rate } => Some(format!("{rate:?}")),
            Arrival::Closed { .. } => None,
        })
        .collect();
    assert!(shapes.iter().any(|s| s.starts_with("Step")));
    assert!(shapes.iter().any(|s| s.starts_with("Spike")));
}

/// Every campaign file shipped in `data/campaigns/` passes the check, and
/// the scale ladder multiplies cluster, bounds and load alike.
#[test]
fn every_shipped_campaign_passes_the_check_and_the_scale_ladder_scales_alike() {
    let dir = common::root().join("data/campaigns");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "toml") {
            Campaign::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
    }
    assert!(n >= 5, "{n} campaign files");
    for k in [1u32, 10, 100, 1000] {
        let c = Campaign::load(&dir.join(format!("scale-{k}.toml"))).unwrap();
        let s = &c.scenarios[0].spec;
        let gpus: u32 = s.nodes.iter().map(|n| n.count * n.gpus).sum();
        assert_eq!(gpus, 6 * k);
        assert_eq!(s.max_replicas, 6 * k);
        let Arrival::Open { rate } = &c.profile(0).arrival else {
            panic!("scale-{k}: open loop expected")
        };
        assert!(
            (rate.max_rate() - 10.0 * f64::from(k)).abs() < 1e-9,
            "scale-{k}"
        );
    }
}
