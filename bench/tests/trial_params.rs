//! The document the bench stores in `trials.params_json` is the contract's
//! `TrialParams`: every trial of the shipped campaigns reads back through
//! it, on every backend, with the trial's own values.
#![allow(clippy::unwrap_used)]

use bench::runner::trial_params;
use contract::{BackendKind, TrialParams};

#[test]
fn every_shipped_trial_s_parameters_read_back_as_the_contract_says() {
    let mut checked = 0;
    for name in [
        "default",
        "local-smoke",
        "local-gpu",
        "k8s-original",
        "scale-10",
    ] {
        let campaign = testkit::campaign(name);
        for t in campaign.plan() {
            for backend in BackendKind::ALL {
                let facts = backend
                    .is_real()
                    .then(|| serde_json::json!({"replicas_started": 3}));
                let doc = trial_params(&t, backend, facts.clone()).unwrap();
                let p = TrialParams::parse(&doc).unwrap_or_else(|e| panic!("{name}: {e}"));
                let what = format!("{name} {}", t.label());
                assert_eq!(p.backend, backend, "{what}");
                assert_eq!(
                    (p.seed, p.duration_s, p.warmup_s),
                    (t.seed, t.duration_s, t.warmup_s),
                    "{what}"
                );
                assert_eq!(p.load_steps_s, t.profile.load_steps(), "{what}");
                assert_eq!(
                    (p.scenario.min_replicas, p.scenario.max_replicas),
                    (t.spec().min_replicas, t.spec().max_replicas),
                    "{what}"
                );
                assert_eq!(p.scenario.gpu_profiles, t.scenario.gpu_profiles, "{what}");
                assert_eq!(p.scenario.rest["name"], t.spec().name.as_str(), "{what}");
                assert_eq!(p.policy, serde_json::to_value(&t.policy).unwrap(), "{what}");
                assert_eq!(p.load_profile["name"], t.profile.name.as_str(), "{what}");
                assert_eq!(p.facts.get(backend.as_str()), facts.as_ref(), "{what}");
                assert_eq!(p.facts.len(), usize::from(backend.is_real()), "{what}");
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "{checked}");
}
