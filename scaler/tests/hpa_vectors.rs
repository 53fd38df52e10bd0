//! The worked vectors of §11 of `docs/hpa.md`, the readiness truth table
//! of §4.2 and the other rules of §3–§8, all through one helper: [`run`]
//! feeds a fresh controller one observation per tick, `spec_replicas`
//! following the previous decision unless the tick gives it.
#![allow(clippy::unwrap_used)]

mod common;

use common::{obs, pod, PodExt};
use scaler::hpa::{Behavior, Hpa, HpaConfig, Rules, ScalingPolicy, SelectPolicy};
use scaler::{Decision, PodObservation, PodPhase, Policy, PolicyConfig};
use Pods::{List, Uniform};

/// The pods of one tick.
enum Pods {
    /// `R` identical old Ready pods requesting 100 m and each using this
    /// many millicores, `R` being the tick's spec replicas.
    Uniform(u64),
    /// Exactly these pods.
    List(Vec<PodObservation>),
}

/// One controller sync.
struct Tick {
    t: f64,
    /// Spec replicas; `None`: the previous tick's decision.
    r: Option<u32>,
    pods: Pods,
}

/// A sync at `t` where R is the previous decision.
fn at(t: f64, pods: Pods) -> Tick {
    Tick { t, r: None, pods }
}

/// A sync at `t` with R given.
fn at_r(t: f64, r: u32, pods: Pods) -> Tick {
    Tick {
        t,
        r: Some(r),
        pods,
    }
}

/// Runs a fresh controller with `config` over `ticks`.
fn run(config: &HpaConfig, ticks: &[Tick]) -> Vec<Decision> {
    config.validate().unwrap();
    let mut hpa = Hpa::new(config.clone());
    let mut previous: Option<u32> = None;
    let mut decisions = Vec::new();
    for tick in ticks {
        let r = tick.r.or(previous).expect("the first tick gives R");
        let pods = match &tick.pods {
            Uniform(usage) => (0..r)
                .map(|i| pod(&format!("p{i}")).usage(*usage))
                .collect(),
            List(pods) => pods.clone(),
        };
        let decision = hpa.decide(&obs(tick.t, r, pods));
        assert_eq!(decision.current_replicas, r);
        assert_eq!(decision.controller.as_str(), "hpa");
        previous = Some(decision.desired_replicas);
        decisions.push(decision);
    }
    decisions
}

fn replicas(decisions: &[Decision]) -> Vec<u32> {
    decisions.iter().map(|d| d.desired_replicas).collect()
}

fn proposals(decisions: &[Decision]) -> Vec<u64> {
    decisions
        .iter()
        .map(|d| d.inputs["proposal"].as_u64().unwrap())
        .collect()
}

fn keyword(decision: &Decision) -> &str {
    decision.reason.split(':').next().unwrap()
}

/// The seed behavior of §11 (also the original experiment's HPA).
fn seed() -> HpaConfig {
    match PolicyConfig::original_hpa() {
        PolicyConfig::Hpa(config) => config,
        other => unreachable!("{other:?}"),
    }
}

/// Legacy path (no behavior), target 40.
fn legacy(min: u32, max: u32) -> HpaConfig {
    HpaConfig::new(min, max, 40)
}

#[test]
fn v1_formula() {
    let pods = vec![
        pod("a").request(200).usage(150),
        pod("b").request(200).usage(100),
        pod("c").request(200).usage(110),
    ];
    let d = run(&seed(), &[at_r(0.0, 3, List(pods))]);
    assert_eq!(replicas(&d), [5]);
    assert_eq!(d[0].inputs["utilization"], 60);
    assert_eq!(d[0].inputs["ratio"], 1.5);
    assert_eq!(d[0].inputs["ready_count"], 3);
    assert_eq!(proposals(&d), [5]);
    assert_eq!(d[0].inputs["stabilized"], 5);
    assert_eq!(d[0].inputs["limit"], 6);
    assert_eq!(
        d[0].reason,
        "ReadyForNewScale: cpu 60% of request vs target 40% (ratio 1.50, 3 ready pods) \
         -> proposal 5; DesiredWithinRange -> 5"
    );
}

#[test]
fn v2a_truncated_utilization_is_within_tolerance() {
    let pods = [45, 45, 45, 44]
        .iter()
        .enumerate()
        .map(|(i, &u)| pod(&format!("p{i}")).usage(u))
        .collect();
    let d = run(&seed(), &[at_r(0.0, 4, List(pods))]);
    assert_eq!(d[0].inputs["utilization"], 44);
    assert_eq!(proposals(&d), [4]);
    assert_eq!(replicas(&d), [4]);
}

#[test]
fn v2b_just_outside_tolerance_scales() {
    let d = run(&seed(), &[at_r(0.0, 4, Uniform(45))]);
    assert_eq!(d[0].inputs["ratio"], 1.125);
    assert_eq!(proposals(&d), [5]);
    assert_eq!(replicas(&d), [5]);
}

#[test]
fn v3_max_clamp() {
    let pods = vec![
        pod("a").request(200).usage(400),
        pod("b").request(200).usage(400),
    ];
    let d = run(&seed(), &[at_r(0.0, 2, List(pods))]);
    assert_eq!(proposals(&d), [10]);
    assert_eq!(replicas(&d), [6]);
    assert_eq!(keyword(&d[0]), "TooManyReplicas");
}

#[test]
fn v4_not_yet_ready_pods_dampen_a_scale_up() {
    let young = |name: &str| {
        pod(name)
            .request(200)
            .usage(300)
            .started(Some(2.0))
            .ready_since(10.0)
            .metric(14.0, 15.0)
    };
    let pods = vec![pod("a").request(200).usage(240), young("b"), young("c")];
    let d = run(&seed(), &[at_r(15.0, 3, List(pods))]);
    assert_eq!(d[0].inputs["utilization"], 120);
    assert_eq!(d[0].inputs["unready"], 2);
    assert_eq!(d[0].inputs["new_utilization"], 40);
    assert_eq!(proposals(&d), [3]);
    assert_eq!(replicas(&d), [3]);
}

#[test]
fn v5_unready_pods_on_a_scale_down_are_dropped() {
    let mut pods: Vec<_> = (0..4).map(|i| pod(&format!("p{i}")).usage(20)).collect();
    pods.push(pod("pending").phase(PodPhase::Pending).started(None));
    let d = run(&seed(), &[at_r(0.0, 5, List(pods))]);
    assert_eq!(d[0].inputs["ratio"], 0.5);
    assert_eq!(proposals(&d), [2]);
    // The initial recommendation (5, 0) holds the first sync at 5.
    assert_eq!(replicas(&d), [5]);
    assert_eq!(keyword(&d[0]), "ScaleDownStabilized");
}

/// Three pods at `usage` and one without a metric (V6–V8).
fn three_and_one_missing(usage: u64) -> Pods {
    let mut pods: Vec<_> = (0..3).map(|i| pod(&format!("p{i}")).usage(usage)).collect();
    pods.push(pod("missing"));
    List(pods)
}

#[test]
fn v6_a_missing_metric_blocks_a_scale_down() {
    let d = run(&seed(), &[at_r(0.0, 4, three_and_one_missing(20))]);
    assert_eq!(d[0].inputs["missing"], 1);
    assert_eq!(d[0].inputs["new_utilization"], 40);
    assert_eq!(proposals(&d), [4]);
    assert_eq!(replicas(&d), [4]);
}

#[test]
fn v7_a_missing_metric_on_a_scale_up() {
    let d = run(&seed(), &[at_r(0.0, 4, three_and_one_missing(80))]);
    assert_eq!(d[0].inputs["utilization"], 80);
    assert_eq!(d[0].inputs["new_utilization"], 60);
    assert_eq!(proposals(&d), [6]);
    assert_eq!(replicas(&d), [6]);
}

#[test]
fn v8_direction_reversal_holds() {
    let d = run(&seed(), &[at_r(0.0, 4, three_and_one_missing(50))]);
    assert_eq!(d[0].inputs["new_utilization"], 37);
    assert_eq!(proposals(&d), [4]);
    assert_eq!(replicas(&d), [4]);
}

#[test]
fn v9_seed_scale_down_with_carry_over_between_periods() {
    // P = 6 at R = 6 (usage 40), then P = 1: usage 6 at R = 6, 10 at R = 4,
    // 20 at R = 2.
    let d = run(
        &seed(),
        &[
            at_r(-60.0, 6, Uniform(40)),
            at(-45.0, Uniform(40)),
            at(-30.0, Uniform(40)),
            at(-15.0, Uniform(6)),
            at(0.0, Uniform(6)),
            at(15.0, Uniform(10)),
            at(30.0, Uniform(10)),
            at(45.0, Uniform(20)),
            at(60.0, Uniform(20)),
        ],
    );
    assert_eq!(proposals(&d), [6, 6, 6, 1, 1, 1, 1, 1, 1]);
    assert_eq!(replicas(&d), [6, 6, 6, 6, 4, 4, 2, 2, 1]);
    assert_eq!(keyword(&d[3]), "ScaleDownStabilized");
    assert_eq!(keyword(&d[4]), "ScaleDownLimit");
}

#[test]
fn v10_the_seed_window_absorbs_alternating_proposals() {
    let d = run(
        &seed(),
        &[
            at_r(0.0, 4, Uniform(40)),
            at(15.0, Uniform(20)),
            at(30.0, Uniform(40)),
            at(45.0, Uniform(20)),
            at(60.0, Uniform(20)),
        ],
    );
    assert_eq!(proposals(&d), [4, 2, 4, 2, 2]);
    assert_eq!(replicas(&d), [4, 4, 4, 4, 2]);
    assert_eq!(keyword(&d[1]), "ScaleDownStabilized");
}

#[test]
fn v11_a_long_scale_up_period() {
    let mut config = legacy(1, 20);
    config.behavior = Some(Behavior {
        scale_up: Some(Rules {
            stabilization_window_s: Some(0),
            select_policy: Some(SelectPolicy::Max),
            policies: Some(vec![ScalingPolicy::percent(100, 60)]),
            tolerance: None,
        }),
        scale_down: None,
    });
    // P = 10: usage 200 at R = 2, 100 at R = 4, 50 at R = 8.
    let mut ticks = vec![at_r(0.0, 2, Uniform(200))];
    ticks.extend([15.0, 30.0, 45.0, 60.0].map(|t| at(t, Uniform(100))));
    ticks.extend([75.0, 90.0, 105.0, 120.0].map(|t| at(t, Uniform(50))));
    let d = run(&config, &ticks);
    assert_eq!(proposals(&d), [10; 9]);
    assert_eq!(replicas(&d), [4, 4, 4, 4, 8, 8, 8, 8, 10]);
    assert_eq!(keyword(&d[1]), "ScaleUpLimit");
}

#[test]
fn v12_empty_behavior_is_defaulted() {
    let mut config = legacy(1, 20);
    config.behavior = Some(Behavior::default());
    let d = run(
        &config,
        &[at_r(0.0, 1, Uniform(400)), at(15.0, Uniform(80))],
    );
    assert_eq!(proposals(&d), [10, 10]);
    assert_eq!(replicas(&d), [5, 10]);
}

#[test]
fn v12_no_behavior_takes_the_legacy_path() {
    let d = run(
        &legacy(1, 20),
        &[
            at_r(0.0, 1, Uniform(400)),
            at(15.0, Uniform(100)),
            at(30.0, Uniform(50)),
        ],
    );
    assert_eq!(proposals(&d), [10, 10, 10]);
    assert_eq!(replicas(&d), [4, 8, 10]);
    assert_eq!(keyword(&d[0]), "ScaleUpLimit");
}

#[test]
fn v13_seed_end_to_end() {
    // A is old; B and C start at 2, Ready at 10; D starts at 32, Ready at 40.
    // Requests 200; samples stamped now − 1 over 15 s.
    let a = |t: f64, u| pod("a").request(200).usage(u).metric(t - 1.0, 15.0);
    let young = |name: &str, start: f64, ready: f64, t: f64, u| {
        pod(name)
            .request(200)
            .usage(u)
            .started(Some(start))
            .ready_since(ready)
            .metric(t - 1.0, 15.0)
    };
    let b = |t, u| young("b", 2.0, 10.0, t, u);
    let c = |t, u| young("c", 2.0, 10.0, t, u);
    let dd = |t, u| young("d", 32.0, 40.0, t, u);
    let d = run(
        &seed(),
        &[
            at_r(0.0, 1, List(vec![a(0.0, 200)])),
            at(15.0, List(vec![a(15.0, 240), b(15.0, 300), c(15.0, 300)])),
            at(30.0, List(vec![a(30.0, 100), b(30.0, 100), c(30.0, 100)])),
            at(
                45.0,
                List(vec![a(45.0, 60), b(45.0, 60), c(45.0, 60), dd(45.0, 150)]),
            ),
            at(
                60.0,
                List(vec![a(60.0, 60), b(60.0, 60), c(60.0, 60), dd(60.0, 60)]),
            ),
            at(
                75.0,
                List(vec![
                    a(75.0, 20),
                    b(75.0, 20),
                    c(75.0, 20),
                    dd(75.0, 20).phase(PodPhase::Terminating),
                ]),
            ),
            at(90.0, List(vec![a(90.0, 20), b(90.0, 20), c(90.0, 20)])),
        ],
    );
    assert_eq!(proposals(&d), [3, 3, 4, 3, 3, 1, 1]);
    assert_eq!(replicas(&d), [3, 3, 4, 4, 3, 3, 1]);
    assert_eq!(d[1].inputs["unready"], 2);
    assert_eq!(d[3].inputs["unready"], 1);
    assert_eq!(d[3].inputs["utilization"], 30);
    // t = 60: the scale-down limit is 2 and does not bind (N = max(3, 2)).
    assert_eq!(d[4].inputs["limit"], 2);
    assert_eq!(keyword(&d[4]), "ReadyForNewScale");
    assert_eq!(d[5].inputs["ignored"], 1);
    assert_eq!(keyword(&d[5]), "ScaleDownStabilized");
    assert_eq!(d[6].inputs["limit"], 1);
}

#[test]
fn float_order_of_operations_matches_go() {
    // §4.7: util 290, target 70, 7 ready pods → ceil(29.000000000000004) = 30.
    let d = run(&HpaConfig::new(1, 40, 70), &[at_r(0.0, 7, Uniform(290))]);
    assert_eq!(proposals(&d), [30]);

    // §4.7: a Percent 10 scale-up from 50 allows ceil(55.00000000000001) = 56.
    let mut config = legacy(1, 100);
    config.behavior = Some(Behavior {
        scale_up: Some(Rules {
            policies: Some(vec![ScalingPolicy::percent(10, 15)]),
            ..Rules::default()
        }),
        scale_down: None,
    });
    let d = run(&config, &[at_r(0.0, 50, Uniform(80))]);
    assert_eq!(proposals(&d), [100]);
    assert_eq!(replicas(&d), [56]);
    assert_eq!(keyword(&d[0]), "ScaleUpLimit");
}

#[test]
fn readiness_truth_table() {
    // now = 600. "old" pods started at 0; "young" ones at 400 (age 200 s).
    let old = |name: &str| pod(name).started(Some(0.0)).usage(50);
    let young = |name: &str| pod(name).started(Some(400.0)).usage(50);
    let table: Vec<(PodObservation, &str)> = vec![
        // §11: the three rows of the spec.
        (old("was-ready").not_ready_since(480.0), "ready"),
        (old("never-ready").not_ready_since(5.0), "unready"),
        (old("ready").ready_since(5.0), "ready"),
        // §4.2 rule 4, old pods: NotReady since start + delay is not "never Ready".
        (old("not-ready-at-delay").not_ready_since(30.0), "ready"),
        (
            old("not-ready-before-delay").not_ready_since(29.9),
            "unready",
        ),
        (old("no-condition").no_ready_condition(), "unready"),
        (old("no-start").started(None).ready_since(5.0), "unready"),
        // Exactly 300 s old is past the initialization period.
        (
            pod("age-300")
                .started(Some(300.0))
                .usage(50)
                .ready_since(590.0)
                .metric(600.0, 15.0),
            "ready",
        ),
        // Young pods: the sample window must start after Ready.
        (
            young("young-window-after")
                .ready_since(500.0)
                .metric(515.0, 15.0),
            "ready",
        ),
        (
            young("young-window-before")
                .ready_since(500.0)
                .metric(514.0, 15.0),
            "unready",
        ),
        (young("young-not-ready").not_ready_since(500.0), "unready"),
        (young("young-default-sample").ready_since(590.0), "unready"),
        // Rules 1–3.
        (old("pending").phase(PodPhase::Pending), "unready"),
        (old("terminating").phase(PodPhase::Terminating), "ignored"),
        (old("failed").phase(PodPhase::Failed), "ignored"),
        (pod("no-metric").started(Some(0.0)), "missing"),
        (old("succeeded").phase(PodPhase::Succeeded), "ready"),
    ];
    let pods: Vec<_> = table.iter().map(|(pod, _)| pod.clone()).collect();
    let d = run(&seed(), &[at_r(600.0, 3, List(pods))]);
    let rows = d[0].inputs["pods"].as_array().unwrap();
    assert_eq!(rows.len(), table.len());
    for ((pod, expected), row) in table.iter().zip(rows) {
        assert_eq!(row["name"], pod.name.as_str());
        assert_eq!(row["class"], *expected, "pod {}", pod.name);
    }
}

#[test]
fn failed_metrics_hold_without_scaling() {
    let cases: Vec<(&str, Vec<PodObservation>)> = vec![
        ("no pods", vec![]),
        ("no metrics", vec![pod("a"), pod("b")]),
        (
            "missing request",
            vec![pod("a").usage(100), pod("b").usage(100).no_request()],
        ),
        (
            "only unready metrics",
            vec![
                pod("a").usage(100).phase(PodPhase::Pending),
                pod("b").usage(100).no_ready_condition(),
                pod("c").usage(100).phase(PodPhase::Terminating),
            ],
        ),
        ("zero requests", vec![pod("a").usage(100).request(0)]),
    ];
    for (name, pods) in cases {
        let d = run(&seed(), &[at_r(0.0, 3, List(pods))]);
        assert_eq!(replicas(&d), [3], "{name}");
        assert!(
            d[0].reason.starts_with("FailedGetResourceMetric: "),
            "{name}: {}",
            d[0].reason
        );
        assert!(d[0].inputs["error"].is_string(), "{name}");
    }
}

#[test]
fn a_failed_sync_records_no_recommendation() {
    // t = 0: P = 1 is held at 4 by the initial entry. t = 15 fails. At t = 30
    // the entries of t = 0 are exactly 30 s old and out of the window, so
    // only the t = 15 sync could hold R; it recorded nothing.
    let d = run(
        &seed(),
        &[
            at_r(0.0, 4, Uniform(10)),
            at(15.0, List(vec![pod("a"), pod("b")])),
            at(30.0, Uniform(10)),
        ],
    );
    assert_eq!(replicas(&d), [4, 4, 2]);
}

#[test]
fn the_initial_recommendation_is_recorded_even_when_the_sync_fails() {
    let d = run(
        &seed(),
        &[at_r(0.0, 4, List(vec![])), at(15.0, Uniform(10))],
    );
    assert_eq!(proposals(&d[1..]), [1]);
    assert_eq!(replicas(&d), [4, 4]);
    assert_eq!(keyword(&d[1]), "ScaleDownStabilized");
}

#[test]
fn replica_guards_run_before_metrics() {
    // R = 0 with min ≥ 1: scaling disabled.
    let d = run(&seed(), &[at_r(0.0, 0, Uniform(100))]);
    assert_eq!(replicas(&d), [0]);
    assert_eq!(keyword(&d[0]), "ScalingDisabled");

    // R > max: straight to max, no metrics needed, no rate limit.
    let d = run(&seed(), &[at_r(0.0, 9, List(vec![]))]);
    assert_eq!(replicas(&d), [6]);
    assert_eq!(keyword(&d[0]), "AboveMaxReplicas");

    // R < min: straight to min.
    let mut config = seed();
    config.min_replicas = 3;
    let d = run(&config, &[at_r(0.0, 1, List(vec![]))]);
    assert_eq!(replicas(&d), [3]);
    assert_eq!(keyword(&d[0]), "BelowMinReplicas");
}

#[test]
fn a_guard_correction_is_a_scale_event() {
    // 9 → 6 at t = 0 is a down event of 3. At t = 15 (P = 2), start(30) =
    // 6 + 3 = 9: Percent 50 → 4, Pods 2 → 7, Min (the larger) → 7, capped at
    // R = 6: no scale-down yet. A scale-down window of 0 keeps stabilization
    // out of the way.
    let mut config = seed();
    if let Some(rules) = config.behavior.as_mut().and_then(|b| b.scale_down.as_mut()) {
        rules.stabilization_window_s = Some(0);
    }
    let d = run(
        &config,
        &[at_r(0.0, 9, List(vec![])), at(15.0, Uniform(10))],
    );
    assert_eq!(replicas(&d), [6, 6]);
    assert_eq!(keyword(&d[1]), "ScaleDownLimit");
}

#[test]
fn legacy_window_counts_an_entry_exactly_300_s_old() {
    let mut ticks = vec![at_r(0.0, 4, Uniform(40))];
    ticks.extend((1..=21).map(|k| at(f64::from(k) * 15.0, Uniform(10))));
    let d = run(&legacy(1, 6), &ticks);
    let n = replicas(&d);
    // t = 300 (index 20): the t = 0 entries are exactly 300 s old and count.
    assert!(n[..21].iter().all(|&n| n == 4), "{n:?}");
    // t = 315: only proposals of 1 remain; legacy has no scale-down rate.
    assert_eq!(n[21], 1);
}

#[test]
fn disabled_select_policy_never_scales_that_way() {
    let mut config = seed();
    if let Some(rules) = config.behavior.as_mut().and_then(|b| b.scale_up.as_mut()) {
        rules.select_policy = Some(SelectPolicy::Disabled);
    }
    let d = run(
        &config,
        &[at_r(0.0, 2, Uniform(200)), at(15.0, Uniform(200))],
    );
    assert_eq!(proposals(&d), [10, 10]);
    assert_eq!(replicas(&d), [2, 2]);
    assert_eq!(keyword(&d[0]), "ScaleUpLimit");
}

#[test]
fn per_direction_tolerance_overrides_the_flag() {
    let mut config = seed();
    if let Some(rules) = config.behavior.as_mut().and_then(|b| b.scale_up.as_mut()) {
        rules.tolerance = Some(0.5);
    }
    // Ratio 1.4 is within the widened upper band.
    let d = run(&config, &[at_r(0.0, 4, Uniform(56))]);
    assert_eq!(proposals(&d), [4]);
    // The lower band keeps the flag's 0.1: ratio 0.75 proposes 3.
    let d = run(&config, &[at_r(0.0, 4, Uniform(30))]);
    assert_eq!(proposals(&d), [3]);
}

#[test]
fn the_policy_trait_reports_the_configuration() {
    let hpa = Hpa::new(seed());
    assert_eq!(hpa.name(), "hpa");
    assert_eq!(hpa.interval_s(), 15.0);
    assert_eq!(hpa.bounds(), (1, 6));
}
