//! Properties of both policies over random configurations and observations.
//!
//! * Bounds: whatever the inputs, a decision taken from a spec replica count
//!   within `[min, max]` stays within it, and one taken from outside is
//!   corrected to the nearest bound (the HPA holds at `R = 0`, §3).
//! * An HPA whose pods all lack metrics never changes replicas (§4.1, §3).
//! * Missing pod metrics (§4.6): with `P_full` the proposal for the same
//!   observation with the missing pods reporting `max(100, target)` % of their
//!   request, and `P_zero` with them reporting 0, a fresh controller always
//!   has `min(R, P_full) ≤ P ≤ max(R, P_zero)`. Going down, missing pods count
//!   as fully busy (and a direction reversal holds at R); going up, as idle.
//!   The same bounds hold for the written count `N` of a fresh controller,
//!   since `N` is a non-decreasing function of `P` with `N(R) = R` there.
//! * UserScale never scales when no ready pod reports GPU utilisation.
//! * The HPA on the pods' GPU utilisation (`hpa-gpu`, §12) stays within its
//!   bounds, holds when no pod reports a value, and bounds its proposal
//!   with missing pods as the CPU HPA does, the target standing in for a
//!   busy pod.
//! * The KEDA-style policy (`keda`, §13) stays within its bounds (a count
//!   below the minimum is kept or raised to it), and, with a minimum of at
//!   least 1 and empty results taken as errors without a fallback, never
//!   scales when no pod has the queried value, as the HPA then fails.
//! * The KPA-style policy (`kpa`, §14) stays within its bounds whatever it
//!   sampled, and never scales while no ready pod has answered in its
//!   stable window (no data).
//! * The Ray Serve-style policy (`ray`, §15) stays within its bounds, and
//!   with every delay longer than the run never changes the count of
//!   replicas that are running.
#![allow(clippy::unwrap_used)]

mod common;

use common::{obs, pod, PodExt};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use scaler::hpa::{
    Behavior, Hpa, HpaConfig, HpaGpuConfig, Rules, ScalingPolicy, ScalingPolicyType, SelectPolicy,
};
use scaler::keda::{Fallback, Keda, KedaConfig, KedaQuery};
use scaler::kpa::{Kpa, KpaConfig};
use scaler::ray::{Ray, RayConfig};
use scaler::userscale::{UserScale, UserScaleConfig};
use scaler::{Decision, PodObservation, PodPhase, Policy};

fn arb_rules() -> impl Strategy<Value = Rules> {
    let policy = (
        prop_oneof![
            Just(ScalingPolicyType::Pods),
            Just(ScalingPolicyType::Percent)
        ],
        1u32..=200,
        1u32..=120,
    )
        .prop_map(|(kind, value, period_s)| ScalingPolicy {
            kind,
            value,
            period_s,
        });
    (
        option::of(0u32..=120),
        option::of(prop_oneof![
            Just(SelectPolicy::Max),
            Just(SelectPolicy::Min),
            Just(SelectPolicy::Disabled)
        ]),
        option::of(vec(policy, 1..=3)),
        option::of(0.0..0.3f64),
    )
        .prop_map(
            |(stabilization_window_s, select_policy, policies, tolerance)| Rules {
                stabilization_window_s,
                select_policy,
                policies,
                tolerance,
            },
        )
}

fn arb_hpa_config() -> impl Strategy<Value = HpaConfig> {
    (
        (1u32..=4, 0u32..=8, 10u32..=150, 0.0..0.3f64),
        (0u32..=300, 0u32..=300, 0u32..=60),
        option::of((option::of(arb_rules()), option::of(arb_rules()))),
    )
        .prop_map(
            |((min, extra, target, tolerance), (init, delay, down), behavior)| {
                let mut config = HpaConfig::new(min, min + extra, target);
                config.tolerance = tolerance;
                config.cpu_initialization_period_s = init;
                config.initial_readiness_delay_s = delay;
                config.downscale_stabilization_s = down;
                config.behavior = behavior.map(|(scale_up, scale_down)| Behavior {
                    scale_up,
                    scale_down,
                });
                config.validate().unwrap();
                config
            },
        )
}

fn arb_hpa_gpu_config() -> impl Strategy<Value = HpaGpuConfig> {
    (
        (1u32..=4, 0u32..=8, 1.0..=100.0f64, 0.0..0.3f64, 0u32..=60),
        option::of((option::of(arb_rules()), option::of(arb_rules()))),
    )
        .prop_map(|((min, extra, target, tolerance, down), behavior)| {
            let mut config = HpaGpuConfig::new(min, min + extra, target);
            config.tolerance = tolerance;
            config.downscale_stabilization_s = down;
            config.behavior = behavior.map(|(scale_up, scale_down)| Behavior {
                scale_up,
                scale_down,
            });
            config.validate().unwrap();
            config
        })
}

fn arb_keda_config() -> impl Strategy<Value = KedaConfig> {
    (
        (0u32..=3, 0u32..=8, any::<bool>(), 0.5..20.0f64, 0.0..5.0f64),
        (
            15u32..=60,
            0u32..=600,
            any::<bool>(),
            0.0..0.3f64,
            0u32..=60,
        ),
        option::of((0u32..=3, 0.0..1.0f64)),
        option::of((option::of(arb_rules()), option::of(arb_rules()))),
    )
        .prop_map(
            |(
                (min, extra, gpu, threshold, activation),
                (poll, cooldown, ignore, tolerance, down),
                fallback,
                behavior,
            )| {
                let query = if gpu {
                    KedaQuery::GpuUtilization
                } else {
                    KedaQuery::InFlight
                };
                let mut c = KedaConfig::new(min, min.max(1) + extra, query, threshold);
                c.activation_threshold = activation;
                c.polling_interval_s = poll;
                c.cooldown_period_s = cooldown;
                c.ignore_null_values = ignore;
                c.tolerance = tolerance;
                c.downscale_stabilization_s = down;
                c.fallback = fallback.map(|(failure_threshold, f)| Fallback {
                    failure_threshold,
                    replicas: (f * f64::from(c.max_replicas + 1)) as u32 % (c.max_replicas + 1),
                });
                c.behavior = behavior.map(|(scale_up, scale_down)| Behavior {
                    scale_up,
                    scale_down,
                });
                c.validate().unwrap();
                c
            },
        )
}

fn arb_kpa_config() -> impl Strategy<Value = KpaConfig> {
    (
        (1u32..=4, 0u32..=8, 0.5..20.0f64, 0.1..=1.0f64),
        (6u32..=120, 1.0..=100.0f64, 101.0..=1000.0f64),
        (1.1..20.0f64, 1.1..10.0f64),
    )
        .prop_map(
            |((min, extra, target, util), (window, pct, panic), (up, down))| {
                let mut c = KpaConfig::new(min, min + extra, target);
                c.target_utilization = util;
                c.stable_window_s = window;
                c.panic_window_percentage = pct;
                c.panic_threshold_percentage = panic;
                c.max_scale_up_rate = up;
                c.max_scale_down_rate = down;
                c.validate().unwrap();
                c
            },
        )
}

/// Runs a sampling policy over `ticks`: samples every second between the
/// ticks' times, each with the tick's pods, then the decision.
fn drive_sampled(policy: &mut dyn Policy, ticks: &[Tick]) -> Vec<(u32, Decision)> {
    let mut time = 0.0;
    let mut previous: Option<u32> = None;
    let mut second = 1.0;
    ticks
        .iter()
        .map(|(dt, r, pods)| {
            time += f64::from(*dt).max(0.5);
            let r = r.or(previous).unwrap_or(policy.bounds().0);
            while second <= time {
                policy.sample(&obs(second, r, named(pods.clone())));
                second += 1.0;
            }
            let decision = policy.decide(&obs(time, r, named(pods.clone())));
            previous = Some(decision.desired_replicas);
            (r, decision)
        })
        .collect()
}

fn arb_userscale_config() -> impl Strategy<Value = UserScaleConfig> {
    (
        (0u32..=3, 0u32..=8, 0.5..10.0f64),
        (vec(0.0..100.0f64, 3), vec(1u32..=4, 5)),
        (100.0..3000.0f64, 0.0..60.0f64, 0.0..1000.0f64, 0.0..3.0f64),
        (0.0..60.0f64, 0.0..60.0f64),
    )
        .prop_map(
            |(
                (min, extra, interval_s),
                (mut gpu, steps),
                (lat, down_gpu, down_lat, conc),
                (up_cd, down_cd),
            )| {
                gpu.sort_by(f64::total_cmp);
                let config = UserScaleConfig {
                    min_replicas: min,
                    max_replicas: (min + extra).max(1),
                    interval_s,
                    gpu_low_pct: gpu[0],
                    gpu_mid_pct: gpu[1],
                    gpu_high_pct: gpu[2],
                    step_low: steps[0],
                    step_mid: steps[1],
                    step_high: steps[2],
                    latency_step: steps[3],
                    scale_down_step: steps[4],
                    latency_high_ms: lat,
                    scale_down_gpu_below_pct: down_gpu,
                    scale_down_latency_below_ms: down_lat,
                    scale_down_max_concurrent_per_pod: conc,
                    scale_up_cooldown_s: up_cd,
                    scale_down_cooldown_s: down_cd,
                };
                config.validate().unwrap();
                config
            },
        )
}

/// Any pod at all: every phase, readiness, age and metric combination.
fn arb_pod() -> impl Strategy<Value = PodObservation> {
    let phase = prop_oneof![
        6 => Just(PodPhase::Running),
        1 => Just(PodPhase::Pending),
        1 => Just(PodPhase::Terminating),
        1 => Just(PodPhase::Failed),
        1 => Just(PodPhase::Succeeded),
    ];
    (
        (
            phase,
            option::weighted(0.9, any::<bool>()),
            option::weighted(0.9, (-600i32..600).prop_map(f64::from)),
            option::weighted(0.9, (-1000i32..600).prop_map(f64::from)),
        ),
        (
            option::weighted(0.97, 0u64..2000),
            option::weighted(0.8, 0u64..5000),
            option::of((-600i32..600).prop_map(f64::from)),
            option::of(1.0..60.0f64),
        ),
        (
            option::of(0.0..100.0f64),
            option::of(0u32..10),
            option::of(0.0..3000.0f64),
        ),
    )
        .prop_map(
            |(
                (phase, ready, ready_transition_time, start_time),
                (cpu_request_m, cpu_usage_m, metric_timestamp, metric_window),
                (gpu_utilization, in_flight, avg_latency_ms),
            )| PodObservation {
                name: String::new(),
                phase,
                ready,
                ready_transition_time,
                start_time,
                cpu_request_m,
                cpu_usage_m,
                metric_timestamp,
                metric_window,
                gpu_utilization,
                in_flight,
                avg_latency_ms,
            },
        )
}

/// A running, Ready pod with this GPU reading ([`pod`]).
fn gpu_pod(gpu_utilization: Option<f64>) -> PodObservation {
    PodObservation {
        gpu_utilization,
        ..pod("")
    }
}

fn named(mut pods: Vec<PodObservation>) -> Vec<PodObservation> {
    for (i, pod) in pods.iter_mut().enumerate() {
        pod.name = format!("p{i}");
    }
    pods
}

/// One tick: seconds since the previous one (whole seconds, so window edges
/// are hit exactly), the spec replicas (`None`: the previous decision) and
/// the pods.
type Tick = (u32, Option<u32>, Vec<PodObservation>);

fn arb_ticks() -> impl Strategy<Value = Vec<Tick>> {
    vec(
        (
            prop_oneof![Just(15u32), 0u32..=40],
            prop_oneof![3 => Just(None), 1 => (0u32..=14).prop_map(Some)],
            vec(arb_pod(), 0..8),
        ),
        1..24,
    )
}

/// Runs `policy` over `ticks` from t = −60; returns (R, decision) pairs.
fn drive(policy: &mut dyn Policy, ticks: &[Tick]) -> Vec<(u32, Decision)> {
    let mut time = -60.0;
    let mut previous: Option<u32> = None;
    ticks
        .iter()
        .map(|(dt, r, pods)| {
            time += f64::from(*dt);
            let r = r.or(previous).unwrap_or(policy.bounds().0);
            let decision = policy.decide(&obs(time, r, named(pods.clone())));
            previous = Some(decision.desired_replicas);
            (r, decision)
        })
        .collect()
}

fn check_bounds(
    r: u32,
    n: u32,
    (min, max): (u32, u32),
    zero_disables: bool,
) -> Result<(), TestCaseError> {
    if r == 0 && zero_disables && min != 0 {
        prop_assert_eq!(n, 0);
    } else if r < min {
        prop_assert_eq!(n, min);
    } else if r > max {
        prop_assert_eq!(n, max);
    } else {
        prop_assert!(
            min <= n && n <= max,
            "R {} -> N {} outside [{}, {}]",
            r,
            n,
            min,
            max
        );
    }
    Ok(())
}

/// `ticks` with one metric stripped from every pod (`strip`) and R pinned
/// inside `(min, max)` by the fractions `spec`.
fn without_metric(
    ticks: Vec<Tick>,
    spec: &[f64],
    (min, max): (u32, u32),
    strip: fn(&mut PodObservation),
) -> Vec<Tick> {
    ticks
        .into_iter()
        .zip(spec)
        .map(|((dt, _, mut pods), f)| {
            let r = min + ((f * f64::from(max - min + 1)) as u32).min(max - min);
            pods.iter_mut().for_each(strip);
            (dt, Some(r), pods)
        })
        .collect()
}

/// The proposal of a decision, `None` when the metric failed.
fn proposal(decision: &Decision) -> Option<u32> {
    decision.inputs["proposal"]
        .as_u64()
        .map(|p| u32::try_from(p).unwrap())
}

proptest! {
    #[test]
    fn kpa_decisions_stay_within_bounds(config in arb_kpa_config(), ticks in arb_ticks()) {
        let mut kpa = Kpa::new(config.clone());
        let (min, max) = (config.min_replicas, config.max_replicas);
        for (r, d) in drive_sampled(&mut kpa, &ticks) {
            if d.reason.starts_with("NoData") {
                prop_assert_eq!(d.desired_replicas, r);
            } else {
                prop_assert!(min <= d.desired_replicas && d.desired_replicas <= max,
                    "R {} -> {} outside [{}, {}]: {}", r, d.desired_replicas, min, max, d.reason);
            }
        }
    }

    /// No ready pod ever answers: every bucket is missing, every tick
    /// holds.
    #[test]
    fn kpa_without_any_answer_never_scales(config in arb_kpa_config(), ticks in arb_ticks()) {
        let ticks: Vec<Tick> = ticks
            .into_iter()
            .map(|(dt, r, mut pods)| {
                pods.iter_mut().for_each(|p| p.in_flight = None);
                (dt, r, pods)
            })
            .collect();
        let mut kpa = Kpa::new(config);
        for (r, d) in drive_sampled(&mut kpa, &ticks) {
            prop_assert_eq!(d.desired_replicas, r, "{}", d.reason);
            prop_assert!(d.reason.starts_with("NoData"), "{}", d.reason);
        }
    }

    #[test]
    fn ray_decisions_stay_within_bounds(
        (min, extra) in (1u32..=4, 0u32..=8),
        (target, up, down) in (0.5..8.0f64, 0.0..20.0f64, 0.0..20.0f64),
        (fu, fd, look, push) in (0.1..2.0f64, 0.1..2.0f64, 1.0..60.0f64, 1.0..20.0f64),
        ticks in arb_ticks(),
    ) {
        let mut c = RayConfig::new(min, min + extra);
        c.target_ongoing_requests = target;
        c.upscale_delay_s = up;
        c.downscale_delay_s = down;
        c.upscaling_factor = fu;
        c.downscaling_factor = fd;
        c.look_back_period_s = look;
        c.metrics_interval_s = push;
        c.control_loop_interval_s = 1.0;
        c.validate().unwrap();
        let mut ray = Ray::new(c);
        for (r, d) in drive_sampled(&mut ray, &ticks) {
            let running = d.inputs["running"].as_u64().unwrap_or(0);
            if running == 0 {
                // The cold start answers with the target or a scale-up.
                prop_assert!(d.desired_replicas >= r, "{}", d.reason);
            } else if (min..=min + extra).contains(&r) {
                prop_assert!(min <= d.desired_replicas && d.desired_replicas <= min + extra,
                    "R {} -> {}: {}", r, d.desired_replicas, d.reason);
            }
        }
    }

    /// Delays longer than any run: whatever the records say, a deployment
    /// with running replicas keeps its count.
    #[test]
    fn ray_with_long_delays_holds_while_replicas_run(ticks in arb_ticks()) {
        let mut c = RayConfig::new(1, 20);
        c.upscale_delay_s = 10_000.0;
        c.downscale_delay_s = 10_000.0;
        c.control_loop_interval_s = 1.0;
        let mut ray = Ray::new(c);
        for (r, d) in drive_sampled(&mut ray, &ticks) {
            if d.inputs["running"].as_u64().unwrap_or(0) > 0 {
                prop_assert_eq!(d.desired_replicas, r, "{}", d.reason);
            }
        }
    }

    #[test]
    fn keda_decisions_stay_within_bounds(config in arb_keda_config(), ticks in arb_ticks()) {
        let mut keda = Keda::new(config.clone());
        let (min, max) = (config.min_replicas, config.max_replicas);
        for (r, d) in drive(&mut keda, &ticks) {
            let n = d.desired_replicas;
            if n == 0 && min == 0 {
                // The executor's scale to zero, from any count.
                prop_assert!(d.reason.starts_with("ScaleToZero") || r == 0, "{}", d.reason);
            } else if r > max {
                prop_assert_eq!(n, max, "{}", d.reason);
            } else if r < min {
                prop_assert!(n == r || n == min, "R {} -> {}: {}", r, n, d.reason);
            } else {
                prop_assert!(min <= n && n <= max, "R {} -> {} outside [{}, {}]: {}", r, n, min, max, d.reason);
            }
        }
    }

    /// No pod has the value: each query is an error, the trigger is
    /// inactive (with a minimum of 1 the executor leaves the count to the
    /// HPA), and the HPA's sync fails and holds.
    #[test]
    fn keda_without_any_value_never_scales(
        config in arb_keda_config(),
        ticks in arb_ticks(),
        spec in vec(0.0..1.0f64, 24),
    ) {
        let mut config = config;
        config.min_replicas = config.min_replicas.max(1);
        config.ignore_null_values = false;
        config.fallback = None;
        let bounds = (config.min_replicas, config.max_replicas);
        let strip = match config.query {
            KedaQuery::InFlight => |p: &mut PodObservation| p.in_flight = None,
            KedaQuery::GpuUtilization => |p: &mut PodObservation| p.gpu_utilization = None,
        };
        let ticks = without_metric(ticks, &spec, bounds, strip);
        let mut keda = Keda::new(config);
        for (r, d) in drive(&mut keda, &ticks) {
            prop_assert_eq!(d.desired_replicas, r, "{}", d.reason);
            prop_assert!(d.reason.starts_with("FailedGetExternalMetric"), "{}", d.reason);
        }
    }

    #[test]
    fn hpa_gpu_decisions_stay_within_bounds(config in arb_hpa_gpu_config(), ticks in arb_ticks()) {
        let mut hpa = Hpa::gpu(&config);
        let bounds = (config.min_replicas, config.max_replicas);
        for (r, decision) in drive(&mut hpa, &ticks) {
            check_bounds(r, decision.desired_replicas, bounds, true)?;
        }
    }

    /// Without any GPU reading the sync fails and holds, as the HPA does
    /// when the custom metrics API returns nothing.
    #[test]
    fn hpa_gpu_without_any_metric_never_scales(
        config in arb_hpa_gpu_config(),
        ticks in arb_ticks(),
        spec in vec(0.0..1.0f64, 24),
    ) {
        let bounds = (config.min_replicas, config.max_replicas);
        let ticks = without_metric(ticks, &spec, bounds, |p| p.gpu_utilization = None);
        let mut hpa = Hpa::gpu(&config);
        for (r, decision) in drive(&mut hpa, &ticks) {
            prop_assert_eq!(decision.desired_replicas, r);
            prop_assert!(decision.reason.starts_with("FailedGetPodsMetric"), "{}", decision.reason);
        }
    }

    /// Missing pods (§12): with `P_target` the proposal for the same pods
    /// with the missing ones reporting exactly the target and `P_zero` with
    /// them reporting 0, a fresh controller has
    /// `min(R, P_target) ≤ P ≤ max(R, P_zero)`: going down a missing pod
    /// counts as at the target, going up as idle, and a reversal holds R.
    #[test]
    fn hpa_gpu_missing_pods_count_as_the_target_going_down_and_idle_going_up(
        target in 10u32..=90,
        counted in vec(0.0..=100.0f64, 1..6),
        missing in 0usize..4,
        r in 1u32..10,
    ) {
        let config = HpaGpuConfig::new(1, 20, f64::from(target));
        let propose = |fill: Option<f64>| {
            let pods: Vec<PodObservation> = counted
                .iter()
                .map(|&u| gpu_pod(Some(u)))
                .chain((0..missing).map(|_| gpu_pod(fill)))
                .collect();
            proposal(&Hpa::gpu(&config).decide(&obs(0.0, r, named(pods))))
        };
        let (Some(p), Some(p_target), Some(p_zero)) =
            (propose(None), propose(Some(f64::from(target))), propose(Some(0.0)))
        else {
            return Err(TestCaseError::fail("a proposal failed"));
        };
        prop_assert!(
            r.min(p_target) <= p && p <= r.max(p_zero),
            "R {} P {} P_target {} P_zero {}",
            r,
            p,
            p_target,
            p_zero
        );
    }

    #[test]
    fn hpa_decisions_stay_within_bounds(config in arb_hpa_config(), ticks in arb_ticks()) {
        let mut hpa = Hpa::new(config.clone());
        let bounds = (config.min_replicas, config.max_replicas);
        for (r, decision) in drive(&mut hpa, &ticks) {
            check_bounds(r, decision.desired_replicas, bounds, true)?;
        }
    }

    #[test]
    fn userscale_decisions_stay_within_bounds(
        config in arb_userscale_config(),
        ticks in arb_ticks(),
    ) {
        let mut policy = UserScale::new(config.clone());
        let bounds = (config.min_replicas, config.max_replicas);
        for (r, decision) in drive(&mut policy, &ticks) {
            check_bounds(r, decision.desired_replicas, bounds, false)?;
        }
    }

    #[test]
    fn hpa_without_any_metric_never_scales(
        config in arb_hpa_config(),
        ticks in arb_ticks(),
        spec in vec(0.0..1.0f64, 24),
    ) {
        let bounds = (config.min_replicas, config.max_replicas);
        let ticks = without_metric(ticks, &spec, bounds, |p| p.cpu_usage_m = None);
        let mut hpa = Hpa::new(config);
        for (r, decision) in drive(&mut hpa, &ticks) {
            prop_assert_eq!(decision.desired_replicas, r);
            prop_assert!(decision.reason.starts_with("FailedGetResourceMetric"));
        }
    }

    #[test]
    fn missing_metrics_count_as_busy_going_down_and_idle_going_up(
        (config, r) in arb_hpa_config()
            .prop_flat_map(|c| {
                let (min, max) = (c.min_replicas, c.max_replicas);
                (Just(c), min..=max)
            }),
        ready in vec((1u64..=1000, 0u64..=3000), 1..=6),
        missing in vec(1u64..=1000, 1..=4),
        unready in vec((1u64..=1000, 0u64..=3000, 0u8..3), 0..=3),
        ignored in vec((1u64..=1000, 0u64..=3000, any::<bool>()), 0..=2),
    ) {
        let target = u64::from(config.target_cpu_utilization);
        let build = |fill: Option<&dyn Fn(u64) -> u64>| -> Vec<PodObservation> {
            let mut pods = Vec::new();
            for &(request, usage) in &ready {
                pods.push(pod("ready").request(request).usage(usage));
            }
            for &request in &missing {
                let p = pod("missing").request(request);
                pods.push(match fill {
                    Some(f) => p.usage(f(request)),
                    None => p,
                });
            }
            for &(request, usage, kind) in &unready {
                let p = pod("unready").request(request).usage(usage);
                pods.push(match kind {
                    0 => p.phase(PodPhase::Pending).started(None),
                    1 => p.started(Some(-10.0)).not_ready_since(-5.0),
                    _ => p.no_ready_condition(),
                });
            }
            for &(request, usage, terminating) in &ignored {
                let phase = if terminating { PodPhase::Terminating } else { PodPhase::Failed };
                pods.push(pod("ignored").request(request).usage(usage).phase(phase));
            }
            named(pods)
        };
        let busy = move |request: u64| request * target.max(100) / 100;
        let idle = |_: u64| 0;
        let decide = |pods: Vec<PodObservation>| Hpa::new(config.clone()).decide(&obs(0.0, r, pods));

        let with_missing = decide(build(None));
        let full = decide(build(Some(&busy)));
        let zero = decide(build(Some(&idle)));

        if let (Some(p), Some(p_full), Some(p_zero)) =
            (proposal(&with_missing), proposal(&full), proposal(&zero))
        {
            prop_assert!(r.min(p_full) <= p, "P {} below min(R {}, P_full {})", p, r, p_full);
            prop_assert!(p <= r.max(p_zero), "P {} above max(R {}, P_zero {})", p, r, p_zero);
        }
        let n = with_missing.desired_replicas;
        prop_assert!(r.min(full.desired_replicas) <= n);
        prop_assert!(n <= r.max(zero.desired_replicas));
    }

    #[test]
    fn userscale_without_ready_gpu_metrics_never_scales(
        config in arb_userscale_config(),
        ticks in arb_ticks(),
        spec in vec(0.0..1.0f64, 24),
    ) {
        let (min, max) = (config.min_replicas, config.max_replicas);
        let ticks: Vec<Tick> = ticks
            .into_iter()
            .zip(spec)
            .map(|((dt, _, pods), f)| {
                let r = min + ((f * f64::from(max - min + 1)) as u32).min(max - min);
                let pods = pods
                    .into_iter()
                    .map(|mut p| {
                        if p.phase == PodPhase::Running && p.ready == Some(true) {
                            p.gpu_utilization = None;
                        }
                        p
                    })
                    .collect();
                (dt, Some(r), pods)
            })
            .collect();
        let mut policy = UserScale::new(config);
        for (r, decision) in drive(&mut policy, &ticks) {
            prop_assert_eq!(decision.desired_replicas, r);
            prop_assert!(decision.reason.starts_with("NoMetrics"), "{}", decision.reason);
        }
    }
}
