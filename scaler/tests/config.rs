//! Policy files: parsing, API defaulting of `behavior` (§5 of
//! `docs/hpa.md`), validation and the files under `data/policies/`.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use scaler::hpa::{HpaConfig, ScalingPolicy, ScalingRules, SelectPolicy};
use scaler::userscale::UserScaleConfig;
use scaler::{Error, PolicyConfig};

fn data_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../data/policies")
        .join(name)
}

fn hpa(config: PolicyConfig) -> HpaConfig {
    match config {
        PolicyConfig::Hpa(config) => config,
        other => panic!("not an HPA: {other:?}"),
    }
}

/// The field an invalid policy names.
#[track_caller]
fn invalid_field(toml: &str) -> String {
    match PolicyConfig::from_toml_str(toml) {
        Err(Error::InvalidPolicy { field, .. }) => field,
        other => panic!("expected InvalidPolicy, got {other:?}"),
    }
}

const MINIMAL_HPA: &str = "kind = \"hpa\"\nmax_replicas = 6\ntarget_cpu_utilization = 40\n";

#[test]
fn the_policy_files_match_the_constructors() {
    let hpa_file = PolicyConfig::load(data_file("hpa-original.toml")).unwrap();
    assert_eq!(hpa_file, PolicyConfig::original_hpa());
    let userscale_file = PolicyConfig::load(data_file("userscale-original.toml")).unwrap();
    assert_eq!(userscale_file, PolicyConfig::original_userscale());
    assert_eq!(
        PolicyConfig::original_userscale(),
        PolicyConfig::Userscale(UserScaleConfig::default())
    );
}

#[test]
fn constructors_are_valid_and_build_named_policies() {
    for (config, name) in [
        (PolicyConfig::original_hpa(), "hpa"),
        (PolicyConfig::original_userscale(), "userscale"),
    ] {
        config.validate().unwrap();
        assert_eq!(config.name(), name);
        assert_eq!(config.bounds(), (1, 6));
        let policy = config.build();
        assert_eq!(policy.name(), name);
        assert_eq!(policy.bounds(), (1, 6));
    }
    assert_eq!(PolicyConfig::original_hpa().build().interval_s(), 15.0);
    assert_eq!(PolicyConfig::original_userscale().build().interval_s(), 3.0);
}

#[test]
fn set_bounds_changes_both_kinds() {
    for mut config in [
        PolicyConfig::original_hpa(),
        PolicyConfig::original_userscale(),
    ] {
        config.set_bounds(2, 9);
        assert_eq!(config.bounds(), (2, 9));
        assert_eq!(config.build().bounds(), (2, 9));
    }
}

#[test]
fn minimal_hpa_takes_kubernetes_defaults_and_the_legacy_path() {
    let config = hpa(PolicyConfig::from_toml_str(MINIMAL_HPA).unwrap());
    assert_eq!(config, HpaConfig::new(1, 6, 40));
    assert_eq!(config.sync_period_s, 15);
    assert_eq!(config.tolerance, 0.1);
    assert_eq!(config.cpu_initialization_period_s, 300);
    assert_eq!(config.initial_readiness_delay_s, 30);
    assert_eq!(config.downscale_stabilization_s, 300);
    assert_eq!(config.effective_behavior(), None);
}

#[test]
fn empty_behavior_gets_every_default() {
    let config = hpa(PolicyConfig::from_toml_str(&format!("{MINIMAL_HPA}[behavior]\n")).unwrap());
    let behavior = config.effective_behavior().unwrap();
    assert_eq!(
        behavior.scale_up,
        ScalingRules {
            stabilization_window_s: 0,
            select_policy: SelectPolicy::Max,
            policies: vec![ScalingPolicy::pods(4, 15), ScalingPolicy::percent(100, 15)],
            tolerance: 0.1,
        }
    );
    assert_eq!(
        behavior.scale_down,
        ScalingRules {
            stabilization_window_s: 300,
            select_policy: SelectPolicy::Max,
            policies: vec![ScalingPolicy::percent(100, 15)],
            tolerance: 0.1,
        }
    );
}

#[test]
fn behavior_fields_are_defaulted_one_by_one() {
    let toml = format!(
        "{MINIMAL_HPA}downscale_stabilization_s = 120\ntolerance = 0.05\n\
         [behavior.scale_up]\npolicies = [{{ type = \"Pods\", value = 1, period_s = 60 }}]\n\
         [behavior.scale_down]\nselect_policy = \"Disabled\"\ntolerance = 0.2\n"
    );
    let behavior = hpa(PolicyConfig::from_toml_str(&toml).unwrap())
        .effective_behavior()
        .unwrap();
    // A given list replaces the default list entirely.
    assert_eq!(behavior.scale_up.policies, [ScalingPolicy::pods(1, 60)]);
    assert_eq!(behavior.scale_up.stabilization_window_s, 0);
    assert_eq!(behavior.scale_up.select_policy, SelectPolicy::Max);
    assert_eq!(behavior.scale_up.tolerance, 0.05);
    // The unset scale-down window falls back on the flag.
    assert_eq!(behavior.scale_down.stabilization_window_s, 120);
    assert_eq!(behavior.scale_down.select_policy, SelectPolicy::Disabled);
    assert_eq!(
        behavior.scale_down.policies,
        [ScalingPolicy::percent(100, 15)]
    );
    assert_eq!(behavior.scale_down.tolerance, 0.2);
}

#[test]
fn userscale_keys_are_all_optional() {
    let config = PolicyConfig::from_toml_str("kind = \"userscale\"\nmax_replicas = 4\n").unwrap();
    assert_eq!(
        config,
        PolicyConfig::Userscale(UserScaleConfig {
            max_replicas: 4,
            ..UserScaleConfig::default()
        })
    );
}

#[test]
fn validation_names_the_field() {
    let cases = [
        (
            "kind = \"hpa\"\nmin_replicas = 3\nmax_replicas = 2\ntarget_cpu_utilization = 40\n",
            "max_replicas",
        ),
        (
            "kind = \"hpa\"\nmax_replicas = 0\ntarget_cpu_utilization = 40\n",
            "max_replicas",
        ),
        (
            "kind = \"hpa\"\nmin_replicas = 0\nmax_replicas = 3\ntarget_cpu_utilization = 40\n",
            "min_replicas",
        ),
        (
            "kind = \"hpa\"\nmax_replicas = 3\ntarget_cpu_utilization = 0\n",
            "target_cpu_utilization",
        ),
        (
            "kind = \"hpa\"\nmax_replicas = 3\ntarget_cpu_utilization = 40\nsync_period_s = 0\n",
            "sync_period_s",
        ),
        (
            "kind = \"hpa\"\nmax_replicas = 3\ntarget_cpu_utilization = 40\ntolerance = -0.1\n",
            "tolerance",
        ),
    ];
    for (toml, field) in cases {
        assert_eq!(invalid_field(toml), field, "{toml}");
    }
    let behavior_cases = [
        (
            "[behavior.scale_up]\npolicies = [{ type = \"Pods\", value = 1, period_s = 1801 }]\n",
            "behavior.scale_up.policies[0].period_s",
        ),
        (
            "[behavior.scale_down]\npolicies = [{ type = \"Pods\", value = 1, period_s = 15 }, \
             { type = \"Percent\", value = 10, period_s = 0 }]\n",
            "behavior.scale_down.policies[1].period_s",
        ),
        (
            "[behavior.scale_down]\npolicies = [{ type = \"Pods\", value = 0, period_s = 15 }]\n",
            "behavior.scale_down.policies[0].value",
        ),
        (
            "[behavior.scale_up]\npolicies = []\n",
            "behavior.scale_up.policies",
        ),
        (
            "[behavior.scale_down]\nstabilization_window_s = 3601\n",
            "behavior.scale_down.stabilization_window_s",
        ),
        (
            "[behavior.scale_up]\ntolerance = -1.0\n",
            "behavior.scale_up.tolerance",
        ),
    ];
    for (tail, field) in behavior_cases {
        assert_eq!(
            invalid_field(&format!("{MINIMAL_HPA}{tail}")),
            field,
            "{tail}"
        );
    }
    // The edges are allowed.
    PolicyConfig::from_toml_str(&format!(
        "{MINIMAL_HPA}[behavior.scale_up]\nstabilization_window_s = 3600\n\
         policies = [{{ type = \"Pods\", value = 1, period_s = 1800 }}, \
         {{ type = \"Pods\", value = 1, period_s = 1 }}]\ntolerance = 0.0\n"
    ))
    .unwrap();

    let userscale_cases = [
        ("min_replicas = 4\nmax_replicas = 3\n", "max_replicas"),
        ("max_replicas = 0\nmin_replicas = 0\n", "max_replicas"),
        ("interval_s = 0\n", "interval_s"),
        ("gpu_mid_pct = 90\n", "gpu_mid_pct"),
        ("gpu_low_pct = 70\n", "gpu_low_pct"),
        ("step_mid = 0\n", "step_mid"),
        ("scale_down_step = 0\n", "scale_down_step"),
        ("scale_down_cooldown_s = -1\n", "scale_down_cooldown_s"),
    ];
    for (tail, field) in userscale_cases {
        assert_eq!(
            invalid_field(&format!("kind = \"userscale\"\n{tail}")),
            field,
            "{tail}"
        );
    }
}

#[test]
fn toml_errors_keep_their_position() {
    let cases = [
        // Unknown key.
        format!("{MINIMAL_HPA}target_cpu = 50\n"),
        // Unknown kind.
        "kind = \"vpa\"\n".to_owned(),
        // Wrong type.
        "kind = \"hpa\"\nmax_replicas = \"six\"\ntarget_cpu_utilization = 40\n".to_owned(),
        // Not TOML at all.
        "kind = \"hpa\"\nmax_replicas = = 6\n".to_owned(),
        // Missing required key.
        "kind = \"hpa\"\nmax_replicas = 6\n".to_owned(),
        // Unknown key inside behavior.
        format!("{MINIMAL_HPA}[behavior.scale_up]\nwindow = 3\n"),
    ];
    for toml in cases {
        let error = PolicyConfig::from_toml_str(&toml).unwrap_err();
        assert!(matches!(error, Error::PolicyToml(_)), "{toml}: {error:?}");
        let message = error.to_string();
        assert!(
            message.contains("line") && message.contains("column"),
            "{toml}: {message}"
        );
    }
}

#[test]
fn from_str_parses_and_validates() {
    let config: PolicyConfig = MINIMAL_HPA.parse().unwrap();
    assert_eq!(config.name(), "hpa");
    assert!("kind = \"userscale\"\nstep_low = 0\n"
        .parse::<PolicyConfig>()
        .is_err());
}

#[test]
fn the_gpu_metric_hpa_file_is_the_original_hpa_on_a_pods_metric() {
    let file = PolicyConfig::load(data_file("hpa-gpu.toml")).unwrap();
    let PolicyConfig::HpaGpu(gpu) = &file else {
        panic!("not hpa-gpu: {file:?}");
    };
    assert_eq!(file.name(), "hpa-gpu");
    assert_eq!(file.bounds(), (1, 6));
    assert_eq!(gpu.target_gpu_utilization, 60.0);
    assert_eq!(gpu.target_milli(), 60_000);
    assert_eq!(gpu.behavior, hpa(PolicyConfig::original_hpa()).behavior);
    let policy = file.build();
    assert_eq!(policy.name(), "hpa-gpu");
    assert_eq!(policy.signals(), [scaler::Signal::ExportedGpuUtilization]);
    assert_eq!(policy.interval_s(), 15.0);
    // Keys of the CPU HPA that a Pods metric has no use for are refused.
    let e = PolicyConfig::from_toml_str(
        "kind = \"hpa-gpu\"\nmax_replicas = 6\ntarget_gpu_utilization = 60\ntarget_cpu_utilization = 40\n",
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("unknown field `target_cpu_utilization`"),
        "{e}"
    );
    let e = invalid_field("kind = \"hpa-gpu\"\nmax_replicas = 6\ntarget_gpu_utilization = 0\n");
    assert_eq!(e, "target_gpu_utilization");
    // A kind that does not exist names the known ones.
    let e = PolicyConfig::from_toml_str("kind = \"capacity\"\n").unwrap_err();
    assert!(e.to_string().contains("hpa-gpu"), "{e}");
    assert!(e.to_string().contains("keda"), "{e}");
}

#[test]
fn the_kpa_file_is_knatives_defaults_with_a_target_of_four() {
    let file = PolicyConfig::load(data_file("kpa.toml")).unwrap();
    let PolicyConfig::Kpa(k) = &file else {
        panic!("{file:?}")
    };
    assert_eq!(k, &scaler::kpa::KpaConfig::new(1, 6, 4.0));
    assert!((k.target() - 2.8).abs() < 1e-12);
    assert_eq!(k.panic_window_s(), 6);
    let policy = file.build();
    assert_eq!(policy.name(), "kpa");
    assert_eq!(policy.interval_s(), 2.0);
    assert_eq!(policy.sample_period_s(), Some(1.0));
    assert_eq!(policy.signals(), [scaler::Signal::InFlight]);
    // Knative's own defaults when the keys are left out.
    let bare = PolicyConfig::from_toml_str("kind = \"kpa\"\nmax_replicas = 6\n").unwrap();
    let PolicyConfig::Kpa(b) = &bare else {
        panic!("{bare:?}")
    };
    assert_eq!((b.target_concurrency, b.target_utilization), (100.0, 0.7));
    assert_eq!(
        invalid_field("kind = \"kpa\"\nmax_replicas = 6\nmin_replicas = 0\n"),
        "min_replicas"
    );
}

#[test]
fn the_ray_file_is_rays_defaults() {
    let file = PolicyConfig::load(data_file("ray.toml")).unwrap();
    let PolicyConfig::Ray(r) = &file else {
        panic!("{file:?}")
    };
    assert_eq!(r, &scaler::ray::RayConfig::new(1, 6));
    let policy = file.build();
    assert_eq!(policy.name(), "ray");
    assert_eq!(policy.interval_s(), 0.1);
    assert_eq!(policy.sample_period_s(), Some(1.0));
    let bare = PolicyConfig::from_toml_str("kind = \"ray\"\nmax_replicas = 6\n").unwrap();
    assert_eq!(bare, file);
    assert_eq!(
        invalid_field("kind = \"ray\"\nmax_replicas = 6\nupscale_delay_s = -1\n"),
        "upscale_delay_s"
    );
}

#[test]
fn the_keda_file_is_a_prometheus_trigger_at_keda_defaults() {
    let file = PolicyConfig::load(data_file("keda.toml")).unwrap();
    let PolicyConfig::Keda(k) = &file else {
        panic!("{file:?}")
    };
    let defaults = scaler::keda::KedaConfig::new(
        k.min_replicas,
        k.max_replicas,
        scaler::keda::KedaQuery::InFlight,
        4.0,
    );
    assert_eq!(k, &defaults, "every value the file sets is the default");
    assert_eq!((k.min_replicas, k.max_replicas), (1, 6));
    let policy = file.build();
    assert_eq!(policy.name(), "keda");
    assert_eq!(policy.signals(), [scaler::Signal::ScrapedInFlight]);
    assert_eq!(policy.interval_s(), 15.0);
    // Defaults when the keys are left out: min 0, polling 30 s, cooldown 300 s.
    let bare = PolicyConfig::from_toml_str(
        "kind = \"keda\"\nmax_replicas = 6\nquery = \"gpu-utilization\"\nthreshold = 60\n",
    )
    .unwrap();
    let PolicyConfig::Keda(b) = &bare else {
        panic!("{bare:?}")
    };
    assert_eq!(
        (b.min_replicas, b.polling_interval_s, b.cooldown_period_s),
        (0, 30, 300)
    );
    assert!(b.ignore_null_values && b.fallback.is_none());
    assert_eq!(
        bare.build().signals(),
        [scaler::Signal::ExportedGpuUtilization]
    );
    // A trigger needs a threshold; the field is named.
    let e =
        PolicyConfig::from_toml_str("kind = \"keda\"\nmax_replicas = 6\nquery = \"in-flight\"\n")
            .unwrap_err();
    assert!(e.to_string().contains("threshold"), "{e}");
    let e = invalid_field(
        "kind = \"keda\"\nmax_replicas = 6\nquery = \"in-flight\"\nthreshold = 4\n[fallback]\nfailure_threshold = 3\nreplicas = 9\n",
    );
    assert_eq!(e, "fallback.replicas");
}

#[test]
fn the_gpu_metric_hpa_decides_on_the_pods_mean_and_fails_without_metrics() {
    use scaler::{Observation, PodObservation, PodPhase};
    let pod = |name: &str, util: Option<f64>| PodObservation {
        ready: Some(true),
        ready_transition_time: Some(-90.0),
        start_time: Some(-100.0),
        gpu_utilization: util,
        ..PodObservation::bare(name, PodPhase::Running)
    };
    let mut hpa = PolicyConfig::load(data_file("hpa-gpu.toml"))
        .unwrap()
        .build();
    // Mean 90 against 60: ratio 1.5, ⌈3⌉ = 3; the scale-up policies allow
    // up to max(2 × 2, 2 + 5) = 7.
    let d = hpa.decide(&Observation {
        time: 0.0,
        spec_replicas: 2,
        pods: vec![pod("a", Some(95.0)), pod("b", Some(85.0))],
    });
    assert_eq!(d.desired_replicas, 3, "{}", d.reason);
    assert_eq!(d.controller, scaler::ControllerKind::HpaGpu);
    assert_eq!(d.inputs["usage_milli"], 90_000);
    let d = hpa.decide(&Observation {
        time: 15.0,
        spec_replicas: 3,
        pods: vec![pod("a", None), pod("b", None), pod("c", None)],
    });
    assert_eq!(d.desired_replicas, 3);
    assert!(d.reason.starts_with("FailedGetPodsMetric"), "{}", d.reason);
}
