//! The UserScale rules, table-driven through one helper: [`run`] feeds a
//! fresh controller one observation per tick, `spec_replicas` following the
//! previous decision unless the tick gives it.
#![allow(clippy::unwrap_used)]

mod common;

use common::{obs, pod, PodExt};
use scaler::userscale::{UserScale, UserScaleConfig};
use scaler::{Decision, PodObservation, PodPhase, Policy};

/// One controller tick.
struct Tick {
    t: f64,
    r: Option<u32>,
    pods: Vec<PodObservation>,
}

fn at(t: f64, pods: Vec<PodObservation>) -> Tick {
    Tick { t, r: None, pods }
}

fn at_r(t: f64, r: u32, pods: Vec<PodObservation>) -> Tick {
    Tick {
        t,
        r: Some(r),
        pods,
    }
}

fn run(config: &UserScaleConfig, ticks: &[Tick]) -> Vec<Decision> {
    config.validate().unwrap();
    let mut policy = UserScale::new(config.clone());
    let mut previous = None;
    ticks
        .iter()
        .map(|tick| {
            let r = tick.r.or(previous).expect("the first tick gives R");
            let decision = policy.decide(&obs(tick.t, r, tick.pods.clone()));
            assert_eq!(decision.controller.as_str(), "userscale");
            assert_eq!(decision.current_replicas, r);
            previous = Some(decision.desired_replicas);
            decision
        })
        .collect()
}

fn keyword(decision: &Decision) -> &str {
    decision.reason.split(':').next().unwrap()
}

/// `n` ready pods reporting the same GPU utilisation, latency and in-flight
/// count (`None`: not reported).
fn fleet(n: u32, gpu: f64, latency: Option<f64>, in_flight: u32) -> Vec<PodObservation> {
    (0..n)
        .map(|i| {
            let p = pod(&format!("p{i}")).gpu(gpu).in_flight(in_flight);
            match latency {
                Some(ms) => p.latency(ms),
                None => p,
            }
        })
        .collect()
}

/// One tick from `r` replicas: expected desired count and reason keyword.
#[track_caller]
fn check_one(r: u32, pods: Vec<PodObservation>, desired: u32, expected_keyword: &str) {
    let d = run(&UserScaleConfig::default(), &[at_r(0.0, r, pods)]);
    assert_eq!(
        (d[0].desired_replicas, keyword(&d[0])),
        (desired, expected_keyword),
        "{}",
        d[0].reason
    );
}

#[test]
fn gpu_tiers_with_strict_edges() {
    let cases = [
        (85.0, 5, "GpuHigh"),
        (80.5, 5, "GpuHigh"),
        (80.0, 4, "GpuMid"),
        (60.1, 4, "GpuMid"),
        (60.0, 3, "GpuLow"),
        (50.1, 3, "GpuLow"),
        (50.0, 2, "Hold"),
        (20.0, 2, "Hold"),
        (19.9, 1, "Idle"),
    ];
    for (gpu, desired, kw) in cases {
        check_one(2, fleet(2, gpu, Some(100.0), 0), desired, kw);
    }
}

#[test]
fn latency_rule_and_the_larger_step() {
    // Exactly 1000 ms does not fire; above it adds 3.
    check_one(2, fleet(2, 30.0, Some(1000.0), 0), 2, "Hold");
    check_one(2, fleet(2, 10.0, Some(1000.5), 0), 5, "LatencyHigh");
    // Latency (+3) beats the middle GPU tier (+2).
    check_one(2, fleet(2, 65.0, Some(1500.0), 0), 5, "LatencyHigh");
    // A tie goes to the GPU rule.
    check_one(2, fleet(2, 85.0, Some(1500.0), 0), 5, "GpuHigh");
}

#[test]
fn every_rule_takes_its_own_step() {
    // Five different steps, so that a rule taking another rule's step shows
    // (with the defaults the latency step equals the high tier's).
    let config = UserScaleConfig {
        max_replicas: 20,
        step_high: 4,
        step_mid: 3,
        step_low: 2,
        latency_step: 5,
        scale_down_step: 2,
        ..UserScaleConfig::default()
    };
    let cases = [
        (fleet(2, 85.0, Some(100.0), 0), 14, "GpuHigh"),
        (fleet(2, 70.0, Some(100.0), 0), 13, "GpuMid"),
        (fleet(2, 55.0, Some(100.0), 0), 12, "GpuLow"),
        (fleet(2, 30.0, Some(1500.0), 0), 15, "LatencyHigh"),
        (fleet(2, 85.0, Some(1500.0), 0), 15, "LatencyHigh"),
        (fleet(2, 10.0, Some(100.0), 0), 8, "Idle"),
    ];
    for (pods, desired, kw) in cases {
        let d = run(&config, &[at_r(0.0, 10, pods)]);
        assert_eq!(
            (d[0].desired_replicas, keyword(&d[0])),
            (desired, kw),
            "{}",
            d[0].reason
        );
    }
}

#[test]
fn scale_down_needs_all_three_conditions_strictly() {
    check_one(2, fleet(2, 10.0, Some(499.9), 0), 1, "Idle");
    check_one(2, fleet(2, 10.0, Some(500.0), 0), 2, "Hold");
    // One request per ready pod is not below 1.0.
    check_one(2, fleet(2, 10.0, Some(100.0), 1), 2, "Hold");
    // 1 request over 2 ready pods is 0.5.
    let pods = vec![
        pod("a").gpu(10.0).latency(100.0).in_flight(1),
        pod("b").gpu(10.0).latency(100.0).in_flight(0),
    ];
    check_one(2, pods, 1, "Idle");
    // No pod reports a latency: the latency test holds.
    check_one(2, fleet(2, 10.0, None, 0), 1, "Idle");
}

#[test]
fn results_are_clamped_to_the_bounds() {
    check_one(5, fleet(5, 85.0, None, 0), 6, "GpuHigh");
    check_one(6, fleet(6, 85.0, None, 0), 6, "GpuHigh");
    check_one(1, fleet(1, 10.0, None, 0), 1, "Idle");
    let d = run(
        &UserScaleConfig::default(),
        &[at_r(0.0, 6, fleet(6, 85.0, None, 0))],
    );
    assert!(d[0].reason.contains("already at max 6"), "{}", d[0].reason);
}

#[test]
fn out_of_bounds_is_corrected_first() {
    check_one(8, fleet(8, 85.0, None, 0), 6, "OutOfBounds");
    check_one(0, vec![], 1, "OutOfBounds");
    check_one(9, vec![], 6, "OutOfBounds");
}

#[test]
fn no_gpu_metric_from_a_ready_pod_holds() {
    check_one(2, vec![pod("a").latency(2000.0), pod("b")], 2, "NoMetrics");
    let not_ready = vec![
        pod("pending").gpu(95.0).phase(PodPhase::Pending),
        pod("terminating").gpu(95.0).phase(PodPhase::Terminating),
        pod("not-ready").gpu(95.0).not_ready_since(-5.0),
        pod("no-condition").gpu(95.0).no_ready_condition(),
    ];
    check_one(2, not_ready, 2, "NoMetrics");
}

#[test]
fn only_ready_running_pods_count() {
    let pods = vec![
        pod("ready").gpu(10.0).latency(100.0).in_flight(0),
        pod("terminating")
            .gpu(100.0)
            .latency(5000.0)
            .in_flight(9)
            .phase(PodPhase::Terminating),
        pod("not-ready")
            .gpu(100.0)
            .in_flight(9)
            .not_ready_since(-5.0),
    ];
    let d = run(&UserScaleConfig::default(), &[at_r(0.0, 2, pods)]);
    assert_eq!(d[0].desired_replicas, 1);
    assert_eq!(d[0].inputs["ready_pods"], 1);
    assert_eq!(d[0].inputs["gpu_utilization"], 10.0);
    assert_eq!(d[0].inputs["concurrent_requests"], 0);
}

#[test]
fn inputs_are_means_and_a_sum() {
    let pods = vec![
        pod("a").gpu(90.0).latency(300.0).in_flight(2),
        pod("b").gpu(30.0).latency(100.0).in_flight(3),
    ];
    let d = run(&UserScaleConfig::default(), &[at_r(0.0, 2, pods)]);
    assert_eq!(d[0].inputs["gpu_utilization"], 60.0);
    assert_eq!(d[0].inputs["avg_latency_ms"], 200.0);
    assert_eq!(d[0].inputs["concurrent_requests"], 5);
    assert_eq!(d[0].inputs["ready_pods"], 2);
    assert_eq!(d[0].inputs["rule"], "GpuLow");
    assert_eq!(d[0].inputs["step"], 1);
    assert_eq!(d[0].desired_replicas, 3);
    assert_eq!(d[0].reason, "GpuLow: gpu 60.0% > 50% -> +1 -> 3");
}

#[test]
fn scale_down_cooldown_counts_from_the_last_scale_down() {
    let idle = || fleet(3, 5.0, Some(50.0), 0);
    let d = run(
        &UserScaleConfig::default(),
        &[
            at_r(0.0, 3, idle()),
            at(3.0, idle()),
            at(29.9, idle()),
            at(30.0, idle()),
            at(33.0, idle()),
        ],
    );
    let n: Vec<_> = d.iter().map(|d| d.desired_replicas).collect();
    let kw: Vec<_> = d.iter().map(keyword).collect();
    assert_eq!(n, [2, 2, 2, 1, 1]);
    assert_eq!(kw, ["Idle", "CooldownDown", "CooldownDown", "Idle", "Idle"]);
}

#[test]
fn scale_up_cooldown() {
    // Default 0 s: consecutive scale-ups.
    let hot = |n| fleet(n, 85.0, None, 0);
    let d = run(
        &UserScaleConfig::default(),
        &[at_r(0.0, 1, hot(1)), at(3.0, hot(4)), at(6.0, hot(6))],
    );
    let n: Vec<_> = d.iter().map(|d| d.desired_replicas).collect();
    assert_eq!(n, [4, 6, 6]);

    let config = UserScaleConfig {
        scale_up_cooldown_s: 10.0,
        ..UserScaleConfig::default()
    };
    let warm = || fleet(2, 55.0, None, 0);
    let d = run(
        &config,
        &[at_r(0.0, 1, warm()), at(5.0, warm()), at(10.0, warm())],
    );
    let n: Vec<_> = d.iter().map(|d| d.desired_replicas).collect();
    let kw: Vec<_> = d.iter().map(keyword).collect();
    assert_eq!(n, [2, 2, 3]);
    assert_eq!(kw, ["GpuLow", "CooldownUp", "GpuLow"]);
}

#[test]
fn cooldowns_are_per_direction() {
    // A scale-up does not start the scale-down cooldown.
    let d = run(
        &UserScaleConfig::default(),
        &[
            at_r(0.0, 2, fleet(2, 85.0, None, 0)),
            at(3.0, fleet(5, 5.0, None, 0)),
        ],
    );
    let n: Vec<_> = d.iter().map(|d| d.desired_replicas).collect();
    assert_eq!(n, [5, 4]);

    // A correction down to max is a scale-down: the cooldown follows it.
    let d = run(
        &UserScaleConfig::default(),
        &[
            at_r(0.0, 8, fleet(8, 5.0, None, 0)),
            at(3.0, fleet(6, 5.0, None, 0)),
        ],
    );
    let kw: Vec<_> = d.iter().map(keyword).collect();
    assert_eq!(kw, ["OutOfBounds", "CooldownDown"]);
}

#[test]
fn the_policy_trait_reports_the_configuration() {
    let policy = UserScale::new(UserScaleConfig::default());
    assert_eq!(policy.name(), "userscale");
    assert_eq!(policy.interval_s(), 3.0);
    assert_eq!(policy.bounds(), (1, 6));
}
