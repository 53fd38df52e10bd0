//! Cross-backend conformance: one scripted replica set (fixed readiness,
//! deletions and per-pod `/metrics.json` answers over time) observed the
//! way the local backend observes its replicas (pod timelines through
//! `bench::trial::observe`) and the way `scaler run` observes a cluster's
//! pods (Pod objects through `scaler::cluster::observe_pods`) must give the
//! same observations, the same missing pods and, through the shared control
//! step, the same decisions; and, through the shared sampler, the same
//! `samples`, `pod_samples` and `gpu_samples` rows from the local view and
//! from the k8s backend's own per-second path (Pod objects through its
//! watch `Tracker` into `bench::k8s::sampler::sample`). Requests go to the
//! same pods: the local backend's pick, the k8s backend's port-forwards and
//! the simulator (checked on simulated trials of the default campaign
//! against their own pod records) all choose as the shared `Router` does
//! among the serving pods in pod order. A backend that treated a missing or
//! out-of-range metric, a pod not yet ready or a terminating pod
//! differently, or routed differently, would fail here.
#![allow(clippy::unwrap_used)]

use bench::trial::control::ControlLog;
use bench::trial::observe::{self, PodAtTick};
use bench::trial::timeline::PodTimeline;
use k8s_openapi::api::core::v1::Pod;
use scaler::cluster::{observe_pods, ObserveMetrics, PodMetrics};
use scaler::hpa::HpaConfig;
use scaler::userscale::UserScaleConfig;
use scaler::{Observation, PolicyConfig};

/// 2026-01-01T00:00:00Z, the trial's start.
const ORIGIN_UNIX_S: f64 = 1_767_225_600.0;
const CPU_REQUEST_M: u64 = 500;

/// One scripted replica: whole seconds from the trial's start (a Pod's
/// times have one-second resolution).
struct Scripted {
    name: &'static str,
    created: u32,
    ready: Option<u32>,
    deleted: Option<u32>,
    /// What it answers on `/metrics.json` at a tick (`None`: no answer).
    answer: fn(u32) -> Option<PodMetrics>,
}

fn metrics(gpu: f64, latency_ms: f64, in_flight: u64) -> PodMetrics {
    PodMetrics {
        gpu_utilization: gpu,
        gpu_utilization_source: Some(contract::UtilizationSource::Nvml),
        avg_latency_ms: latency_ms,
        latency_window_s: 10.0,
        window_requests: u64::from(latency_ms > 0.0),
        concurrent_requests: in_flight,
        in_flight,
        ..Default::default()
    }
}

fn script() -> Vec<Scripted> {
    vec![
        // Serving throughout, busy from 30 s.
        Scripted {
            name: "a",
            created: 0,
            ready: Some(2),
            deleted: None,
            answer: |t| {
                Some(if t < 30 {
                    metrics(10.0, 50.0, 0)
                } else {
                    metrics(95.0, 900.0, 6)
                })
            },
        },
        // Serving; gives no answer at 45 s, an out-of-range one at 60 s.
        Scripted {
            name: "b",
            created: 0,
            ready: Some(3),
            deleted: None,
            answer: |t| match t {
                45 => None,
                60 => Some(metrics(140.0, 10.0, 1)),
                _ => Some(metrics(if t < 30 { 5.0 } else { 85.0 }, 40.0, 1)),
            },
        },
        // Created at 31 s, ready at 52 s.
        Scripted {
            name: "c",
            created: 31,
            ready: Some(52),
            deleted: None,
            answer: |_| Some(metrics(70.0, 300.0, 2)),
        },
        // Deleted at 70 s while ready: terminating, no longer read.
        Scripted {
            name: "d",
            created: 0,
            ready: Some(2),
            deleted: Some(70),
            answer: |_| Some(metrics(50.0, 200.0, 1)),
        },
        // Never ready: its answers are not read.
        Scripted {
            name: "e",
            created: 20,
            ready: None,
            deleted: None,
            answer: |_| Some(metrics(99.0, 5000.0, 9)),
        },
    ]
}

fn at(t: Option<u32>, now: u32) -> Option<u32> {
    t.filter(|&x| x <= now)
}

/// The local backend's view: the replica's timeline at `now`.
fn timeline(num: u32, s: &Scripted, now: u32) -> PodTimeline<f64> {
    let created = f64::from(s.created);
    let mut life = PodTimeline::new(num, s.name.to_string(), created);
    life.node = Some("localhost".into());
    life.scheduled = Some(created);
    life.started = Some(created);
    if let Some(r) = at(s.ready, now) {
        life.mark_ready(f64::from(r));
    }
    if let Some(d) = at(s.deleted, now) {
        life.mark_deleted(f64::from(d));
    }
    life
}

fn rfc3339(t: u32) -> String {
    format!("2026-01-01T00:{:02}:{:02}Z", t / 60, t % 60)
}

/// The cluster's view: the Pod object at `now`, as the API server would
/// give it (Ready condition with its last transition, deletion timestamp).
fn pod_object(s: &Scripted, now: u32) -> Pod {
    let ready = at(s.ready, now);
    let mut metadata = serde_json::json!({"name": s.name, "namespace": "userscale"});
    if let Some(d) = at(s.deleted, now) {
        metadata["deletionTimestamp"] = rfc3339(d).into();
    }
    serde_json::from_value(serde_json::json!({
        "metadata": metadata,
        "spec": {"containers": [{"name": "workload",
                                 "resources": {"requests": {"cpu": format!("{CPU_REQUEST_M}m")}}}]},
        "status": {
            "phase": "Running",
            "startTime": rfc3339(s.created),
            "conditions": [{
                "type": "PodScheduled",
                "status": "True",
                "lastTransitionTime": rfc3339(s.created),
            }, {
                "type": "Ready",
                "status": if ready.is_some() { "True" } else { "False" },
                "lastTransitionTime": rfc3339(ready.unwrap_or(s.created)),
            }],
            "containerStatuses": [{
                "name": "workload",
                "image": "workload",
                "imageID": "",
                "ready": ready.is_some(),
                "restartCount": 0,
                "state": {"running": {"startedAt": rfc3339(s.created)}},
            }],
        },
    }))
    .unwrap()
}

/// Both views of tick `now`.
fn both(script: &[Scripted], now: u32, spec: u32) -> [(Observation, Vec<String>); 2] {
    let live: Vec<(u32, &Scripted)> = script
        .iter()
        .enumerate()
        .filter(|(_, s)| s.created <= now)
        .map(|(i, s)| (i as u32, s))
        .collect();
    let lives: Vec<PodTimeline<f64>> = live.iter().map(|(i, s)| timeline(*i, s, now)).collect();
    // The local controller reads the serving replicas at the tick.
    let answers: Vec<Option<PodMetrics>> = live
        .iter()
        .zip(&lives)
        .map(|((_, s), l)| if l.serving { (s.answer)(now) } else { None })
        .collect();
    let local = observe::observe(
        f64::from(now),
        spec,
        lives.iter().zip(&answers).map(|(life, m)| PodAtTick {
            life,
            cpu: None,
            metrics: m.as_ref(),
        }),
        0.0,
        CPU_REQUEST_M,
    );
    let pods: Vec<Pod> = live.iter().map(|(_, s)| pod_object(s, now)).collect();
    let serving: Vec<Option<PodMetrics>> = pods
        .iter()
        .zip(&live)
        .filter(|(p, _)| scaler::cluster::pod_serving(p))
        .map(|(_, (_, s))| (s.answer)(now))
        .collect();
    let (observed, missing) = observe_pods(&pods, &serving, ORIGIN_UNIX_S);
    let cluster = (
        Observation {
            time: f64::from(now),
            spec_replicas: spec,
            pods: observed,
        },
        missing,
    );
    [local, cluster]
}

fn policies() -> Vec<PolicyConfig> {
    vec![
        PolicyConfig::Userscale(UserScaleConfig {
            interval_s: 15.0,
            ..UserScaleConfig::default()
        }),
        PolicyConfig::Hpa(HpaConfig::new(1, 8, 50)),
        PolicyConfig::HpaGpu(scaler::hpa::HpaGpuConfig::new(1, 8, 50.0)),
        PolicyConfig::Keda(scaler::keda::KedaConfig::new(
            1,
            8,
            scaler::keda::KedaQuery::InFlight,
            2.0,
        )),
    ]
}

#[test]
fn local_and_cluster_observe_the_same_pods_the_same_way_and_decide_alike() {
    let script = script();
    for config in policies() {
        let mut logs = [ControlLog::default(), ControlLog::default()];
        let mut built = [config.build(), config.build()];
        let mut spec = [2u32, 2u32];
        let mut held_for_missing = 0;
        for now in (15..=90).step_by(15) {
            let views = both(&script, now, spec[0]);
            assert_eq!(views[0], views[1], "{} at {now} s", config.name());
            if !views[0].1.is_empty() {
                held_for_missing += 1;
            }
            for k in 0..2 {
                let (obs, missing) = &views[k];
                if let Some(to) = logs[k].step(built[k].as_mut(), obs, missing) {
                    spec[k] = to;
                }
            }
            assert_eq!(spec[0], spec[1], "{} at {now} s", config.name());
        }
        // The script reaches the rules it is meant to: two ticks with a
        // missing pod (no answer at 45 s, out of range at 60 s).
        assert_eq!(held_for_missing, 2, "{}", config.name());
        let [a, b] = logs;
        let mut ra = bench::record::TrialRecords::default();
        let mut rb = bench::record::TrialRecords::default();
        a.finish(&mut ra);
        b.finish(&mut rb);
        assert_eq!(ra.decisions, rb.decisions, "{}", config.name());
        assert_eq!(ra.scaling_events, rb.scaling_events, "{}", config.name());
        // A policy that reads the pods' own endpoints holds on a missing
        // reading; the HPAs (metrics-server, the metrics pipeline) decide
        // by their own rules.
        let reads_pods = config.signals().iter().any(|s| s.from_pod_endpoint());
        assert_eq!(
            ra.decisions
                .iter()
                .any(|d| d.reason.starts_with("MetricsMissing")),
            reads_pods,
            "{}: {:?}",
            config.name(),
            ra.decisions
        );
    }
}

#[test]
fn the_scripted_views_are_the_expected_ones() {
    let script = script();
    // At 75 s: a, b, c serving; d terminating (still Ready, not read); e
    // never ready (not read).
    let [(obs, missing), _] = both(&script, 75, 3);
    assert!(missing.is_empty(), "{missing:?}");
    let by_name = |n: &str| obs.pods.iter().find(|p| p.name == n).unwrap();
    assert_eq!(by_name("c").gpu_utilization, Some(70.0));
    assert_eq!(by_name("c").ready_transition_time, Some(52.0));
    assert_eq!(by_name("d").phase, scaler::PodPhase::Terminating);
    assert_eq!(by_name("d").gpu_utilization, None);
    assert_eq!(by_name("e").ready, Some(false));
    assert_eq!(by_name("e").gpu_utilization, None);
    assert_eq!(by_name("e").ready_transition_time, Some(20.0));
    // At 45 s b did not answer; at 60 s its answer is out of range.
    assert_eq!(both(&script, 45, 3)[0].1, vec!["b".to_string()]);
    assert_eq!(both(&script, 60, 3)[1].1, vec!["b".to_string()]);
    assert_eq!(
        both(&script, 60, 3)[0].0.pods[1].gpu_utilization,
        None,
        "an out-of-range reading is not used"
    );
}

/// The scripted pods in the order both backends number them: by creation
/// (the local backend as it starts them, the watch as it first sees them).
fn by_creation(script: &[Scripted]) -> Vec<&Scripted> {
    let mut v: Vec<&Scripted> = script.iter().collect();
    v.sort_by_key(|s| s.created);
    v
}

/// A pod's CPU in second `t`, cores, `None` for a second without a reading.
fn cpu(i: usize, t: u32) -> Option<f64> {
    (!t.is_multiple_of(17)).then(|| 0.05 * (i as f64 + 1.0) + f64::from(t % 5) / 100.0)
}

#[test]
fn local_and_cluster_sample_the_same_rows() {
    let script = script();
    let order = by_creation(&script);
    let gpu = |t: u32| {
        (!t.is_multiple_of(13)).then_some(bench::trial::sampler::GpuReading {
            util_pct: None,
            mem_used_mib: 1000.0 + f64::from(t),
            power_w: 60.0,
            energy_j: 5_000.0 + 61.0 * f64::from(t),
            contexts: None,
        })
    };
    let none = bench::trial::sampler::ClientSecond::default();
    let mut local = bench::trial::sampler::Sampler::new(CPU_REQUEST_M as f64);
    let mut cluster = bench::trial::sampler::Sampler::new(CPU_REQUEST_M as f64);
    let mut tracker = bench::k8s::observe::Tracker::default();
    for now in 1..=90u32 {
        let spec = if now < 40 { 2 } else { 3 };
        let live: Vec<(usize, &Scripted)> = order
            .iter()
            .enumerate()
            .filter(|(_, s)| s.created <= now)
            .map(|(i, s)| (i, *s))
            .collect();
        // The local backend: its replicas' timelines, their procfs CPU and
        // the `/metrics.json` of the serving ones.
        let readings: Vec<_> = live
            .iter()
            .map(|(i, s)| {
                let life = timeline(*i as u32, s, now);
                let answer = if life.serving { (s.answer)(now) } else { None };
                let m = answer.filter(|m| m.check().is_ok());
                bench::trial::sampler::PodReading::read(&life, cpu(*i, now), m.as_ref())
            })
            .collect();
        let gpus: Vec<_> = gpu(now).into_iter().collect();
        let a = local.second(f64::from(now), spec, &readings, &gpus, none);
        // The k8s backend: the watch's Pod objects, metrics.k8s.io's CPU by
        // name and the serving pods' answers through the pod proxy.
        let unix = ORIGIN_UNIX_S + f64::from(now);
        tracker.spec_replicas = Some(spec);
        for (_, s) in &live {
            tracker.pod(&pod_object(s, now), unix);
        }
        let mut reading = bench::k8s::observe::Reading {
            cpu_m: Some(Default::default()),
            gpu: gpu(now),
            ..Default::default()
        };
        for (i, s) in &live {
            if let (Some(c), Some(m)) = (cpu(*i, now), reading.cpu_m.as_mut()) {
                m.insert(s.name.to_string(), c * 1000.0);
            }
        }
        for (name, _) in tracker.serving() {
            let s = live.iter().find(|(_, s)| s.name == name).unwrap().1;
            if let Some(m) = (s.answer)(now).filter(|m| m.check().is_ok()) {
                reading.metrics.insert(name, m);
            }
        }
        let b = bench::k8s::sampler::sample(&mut cluster, f64::from(now), &tracker, &reading);
        assert_eq!(a, b, "at {now} s");
    }
    let (mut ra, mut rb) = (
        bench::record::TrialRecords::default(),
        bench::record::TrialRecords::default(),
    );
    local.finish(&mut ra);
    cluster.finish(&mut rb);
    assert_eq!(ra.samples.len(), 90);
    assert_eq!(ra.samples, rb.samples);
    assert_eq!(ra.pod_samples, rb.pod_samples);
    assert_eq!(ra.gpu_samples, rb.gpu_samples);
    // The script reaches the rules: a terminating pod, one never ready, a
    // second without a GPU reading, one without CPU.
    let states: std::collections::BTreeSet<&str> = ra.pod_samples.iter().map(|p| p.state).collect();
    assert_eq!(
        states.into_iter().collect::<Vec<_>>(),
        ["initializing", "running", "terminating"]
    );
    assert_eq!(ra.gpu_samples.len(), 90 - 6);
    assert!(ra
        .samples
        .iter()
        .any(|r| r.terminating == 1 && r.pending == 1));
}

/// The requests the scripted load sends in second `t` (0 to 6).
fn sends(t: u32) -> u32 {
    (t * 5 + 3) % 7
}

/// Every backend spreads requests over the serving pods alike: the local
/// backend's pick (`Router::pick_serving` over its replicas in pod order)
/// and the k8s backend's port-forwards (the watch `Tracker`'s serving pods
/// through `PortForwards`) send each request of the scripted load to the
/// same pod, and that pod is the shared `Router`'s choice among the
/// serving pods in pod order.
#[test]
fn local_and_cluster_route_each_request_to_the_same_pod() {
    use bench::campaign::Routing;
    use bench::loadgen::Target;
    use bench::route::Router;
    let script = script();
    let order = by_creation(&script);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _runtime = rt.enter();
    for routing in [Routing::RoundRobin, Routing::Random] {
        let seed = 11;
        // No request reaches the API server: the test only picks.
        let api: kube::Api<Pod> = kube::Api::namespaced(
            kube::Client::new(
                tower::service_fn(|_req: http::Request<kube::client::Body>| async {
                    Err::<http::Response<http_body_util::Full<bytes::Bytes>>, _>(
                        std::io::Error::other("no cluster in this test"),
                    )
                }),
                "userscale",
            ),
            "userscale",
        );
        let forwards =
            bench::k8s::forward::PortForwards::new(api, 8000, Router::new(routing, seed));
        let mut local = Router::new(routing, seed);
        let mut reference = Router::new(routing, seed);
        let mut tracker = bench::k8s::observe::Tracker::default();
        let mut picked = 0;
        for now in 1..=90u32 {
            let lives: Vec<PodTimeline<f64>> = order
                .iter()
                .enumerate()
                .filter(|(_, s)| s.created <= now)
                .map(|(i, s)| timeline(i as u32, s, now))
                .collect();
            for s in order.iter().filter(|s| s.created <= now) {
                tracker.pod(&pod_object(s, now), ORIGIN_UNIX_S + f64::from(now));
            }
            rt.block_on(forwards.set_ready(&tracker.serving())).unwrap();
            let serving: Vec<u32> = lives.iter().filter(|l| l.serving).map(|l| l.num).collect();
            for _ in 0..sends(now) {
                let want = reference.pick(&serving, || None);
                let a = local
                    .pick_serving(lives.iter().map(|l| (l.num, l.serving.then_some(()))))
                    .map(|(pod, ())| pod);
                let b = forwards.pick().and_then(|(pod, _)| pod);
                assert_eq!((a, b), (want, want), "{routing:?} at {now} s");
                picked += u32::from(want.is_some());
            }
        }
        forwards.close();
        assert!(picked > 200, "{picked}");
    }
}

/// The simulator routes the same way: in a simulated trial every request
/// went to the pod the shared `Router` picks among the pods in the
/// endpoints when it was sent, in pod order. The endpoints are rebuilt from
/// the trial's own pod records: an initial pod from the start, a new one
/// `endpoint_delay_s` after it was seen ready, until `endpoint_delay_s`
/// after its deletion or its exit.
#[test]
fn the_simulator_routes_each_request_as_the_shared_router_does() {
    use bench::campaign::Routing;
    use bench::route::Router;
    let us = |s: f64| (s * 1e6).round() as i64;
    for routing in [Routing::RoundRobin, Routing::Random] {
        let mut campaign = testkit::campaign_with_seeds("default", 1);
        for s in &mut campaign.scenarios {
            s.spec.sim.routing = routing;
        }
        let mut checked = 0;
        for t in campaign.plan() {
            let out = bench::sim::run_trial(&bench::sim::TrialInput::of(&t)).unwrap();
            assert!(out.pods.iter().all(|p| p.restarts == 0), "{}", t.arm);
            let d = us(t.scenario.spec.sim.endpoint_delay_s);
            let spans: Vec<(i64, i64)> = out
                .pods
                .iter()
                .map(|p| {
                    let on = if p.created_s < 0.0 {
                        i64::MIN
                    } else {
                        p.ready_s.map_or(i64::MAX, |r| us(r) + d)
                    };
                    let off = p
                        .deleted_s
                        .map(|x| us(x) + d)
                        .into_iter()
                        .chain(p.exited_s.map(us))
                        .min()
                        .unwrap_or(i64::MAX);
                    // A pod deleted before its endpoint was added never had one.
                    let added = p.deleted_s.is_none_or(|x| us(x) > on);
                    if added {
                        (on, off)
                    } else {
                        (i64::MAX, i64::MAX)
                    }
                })
                .collect();
            let mut reqs: Vec<_> = out.requests.iter().collect();
            reqs.sort_by_key(|r| (us(r.sent_s), r.id));
            let mut router = Router::new(routing, t.seed);
            for r in reqs {
                let at = us(r.sent_s);
                let ready: Vec<u32> = (0..spans.len() as u32)
                    .filter(|&p| spans[p as usize].0 <= at && at < spans[p as usize].1)
                    .collect();
                assert!(!ready.is_empty(), "{} request {} at {at} µs", t.arm, r.id);
                let want = router.pick(&ready, || None);
                assert_eq!(r.pod, want, "{routing:?} {} request {}", t.arm, r.id);
                checked += 1;
            }
        }
        assert!(checked > 1000, "{checked}");
    }
}
