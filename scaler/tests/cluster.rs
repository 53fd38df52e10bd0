//! The in-cluster controller against a mocked API server (tower-test): the
//! exact calls, in order, with their bodies; retries; holds; dry runs; and
//! the bounds whatever the metrics.
#![cfg(feature = "cluster")]
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use proptest::prelude::*;
use scaler::cluster::controller::{Clock, Controller, ControllerConfig, MetricsSource};
use scaler::cluster::kube_api::Apis;
use scaler::cluster::testing::{self, failure, Seen};
use scaler::cluster::PodMetrics;
use scaler::control::plan;
use scaler::userscale::UserScaleConfig;
use scaler::{Observation, PodObservation, PodPhase, PolicyConfig};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

const NS: &str = "userscale";
const SCALE: &str = "/apis/apps/v1/namespaces/userscale/deployments/userscale-app/scale";
const PODS: &str = "/api/v1/namespaces/userscale/pods";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/userscale/events";

/// One expected API call and the answer it gets.
struct Expect {
    method: &'static str,
    path: &'static str,
    status: u16,
    body: Value,
}

fn expect(method: &'static str, path: &'static str, status: u16, body: Value) -> Expect {
    Expect {
        method,
        path,
        status,
        body,
    }
}

fn scale(replicas: u32) -> Value {
    json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
           "metadata": {"name": "userscale-app", "namespace": NS},
           "spec": {"replicas": replicas}, "status": {"replicas": replicas}})
}

fn pod(name: &str, ip: &str, ready: bool) -> Value {
    json!({
        "metadata": {"name": name, "namespace": NS, "labels": {"app": "userscale-app"}},
        "spec": {"containers": [{"name": "workload", "resources": {"requests": {"cpu": "500m"}}}]},
        "status": {"phase": "Running", "podIP": ip, "startTime": "2026-01-01T00:00:00Z",
                   "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
                                   "lastTransitionTime": "2026-01-01T00:00:05Z"}]}
    })
}

fn pod_list(pods: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"}, "items": pods})
}

/// Answers the expected calls in order; a call that differs in method or
/// path fails the test. Returns what it saw.
fn serve(handle: testing::MockHandle, expects: Vec<Expect>) -> JoinHandle<Vec<Seen>> {
    let n = expects.len();
    testing::serve(handle, n, move |i, call| {
        let e = &expects[i];
        assert_eq!(
            (call.method.as_str(), call.path.as_str()),
            (e.method, e.path),
            "call {i} out of order or wrong: {call:?}"
        );
        (e.status, e.body.clone())
    })
}

/// Metrics by pod name; a pod not in the map does not answer.
struct FakeMetrics(Mutex<HashMap<String, PodMetrics>>);

impl FakeMetrics {
    fn new(entries: &[(&str, f64, f64, u64)]) -> FakeMetrics {
        FakeMetrics(Mutex::new(
            entries
                .iter()
                .map(|(n, gpu, lat, conc)| {
                    (
                        (*n).to_owned(),
                        PodMetrics {
                            gpu_utilization: *gpu,
                            gpu_utilization_source: Some(contract::UtilizationSource::Nvml),
                            avg_latency_ms: *lat,
                            window_requests: 10,
                            concurrent_requests: *conc,
                            in_flight: *conc,
                            queued: 0,
                            ..Default::default()
                        },
                    )
                })
                .collect(),
        ))
    }
}

impl MetricsSource for FakeMetrics {
    async fn fetch(&self, pod: &Pod) -> Option<PodMetrics> {
        let name = pod.metadata.name.clone()?;
        self.0.lock().unwrap().get(&name).cloned()
    }
}

/// A clock that reads a fixed instant plus whatever the test adds.
struct FixedClock(Mutex<Timestamp>);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

fn fixed_clock() -> FixedClock {
    FixedClock(Mutex::new(Timestamp::from_second(1_800_000_000).unwrap()))
}

fn controller(
    client: Client,
    metrics: FakeMetrics,
    dry_run: bool,
) -> Controller<FakeMetrics, FixedClock> {
    let mut cfg = ControllerConfig::new(NS);
    cfg.dry_run = dry_run;
    cfg.instance = "userscale-scaler-abc".into();
    Controller::new(
        Apis::new(client, NS),
        cfg,
        PolicyConfig::original_userscale().build(),
        metrics,
        fixed_clock(),
    )
}

fn mock_client() -> (Client, testing::MockHandle) {
    testing::mock_client(NS)
}

#[tokio::test]
async fn scale_up_patches_the_scale_subresource_then_records_an_event() {
    let (client, handle) = mock_client();
    let server = serve(
        handle,
        vec![
            expect("GET", SCALE, 200, scale(2)),
            expect(
                "GET",
                PODS,
                200,
                pod_list(vec![pod("a", "10.0.0.1", true), pod("b", "10.0.0.2", true)]),
            ),
            expect("PATCH", SCALE, 200, scale(5)),
            expect(
                "POST",
                EVENTS,
                201,
                json!({"metadata": {"name": "userscale-app.1"}}),
            ),
        ],
    );
    let metrics = FakeMetrics::new(&[("a", 95.0, 100.0, 4), ("b", 85.0, 120.0, 4)]);
    let mut c = controller(client, metrics, false);
    let log = c.tick().await.unwrap();
    let seen = server.await.unwrap();

    assert_eq!(log.decision.current_replicas, 2);
    assert_eq!(log.decision.desired_replicas, 5, "{}", log.decision.reason);
    assert!(log.patched);
    assert!(
        seen[1].query.contains("labelSelector=app%3Duserscale-app"),
        "{}",
        seen[1].query
    );
    // The patch: a merge patch of spec.replicas alone, with our field manager.
    let patch = &seen[2];
    assert_eq!(patch.content_type, "application/merge-patch+json");
    assert_eq!(patch.body, json!({"spec": {"replicas": 5}}));
    assert!(
        patch.query.contains("fieldManager=userscale-scaler"),
        "{}",
        patch.query
    );
    // The Event: about the Deployment, with the decision's keyword and note.
    let ev = &seen[3].body;
    assert_eq!(ev["apiVersion"], "events.k8s.io/v1");
    assert_eq!(ev["kind"], "Event");
    assert_eq!(ev["reason"], "GpuHigh");
    assert_eq!(ev["action"], "Scale");
    assert_eq!(ev["type"], "Normal");
    assert_eq!(ev["regarding"]["kind"], "Deployment");
    assert_eq!(ev["regarding"]["name"], "userscale-app");
    assert_eq!(ev["reportingController"], "userscale.io/scaler");
    assert_eq!(ev["reportingInstance"], "userscale-scaler-abc");
    assert_eq!(ev["metadata"]["generateName"], "userscale-app.");
    assert!(ev["eventTime"].is_string());
    assert!(ev["note"]
        .as_str()
        .unwrap()
        .starts_with("2 -> 5 replicas: GpuHigh"));
}

#[tokio::test]
async fn missing_metrics_hold_without_patching() {
    let (client, handle) = mock_client();
    let server = serve(
        handle,
        vec![
            expect("GET", SCALE, 200, scale(2)),
            expect(
                "GET",
                PODS,
                200,
                pod_list(vec![
                    pod("a", "10.0.0.1", true),
                    pod("b", "10.0.0.2", true),
                    pod("c", "10.0.0.3", false),
                ]),
            ),
            // No PATCH: straight to the Event.
            expect("POST", EVENTS, 201, json!({})),
        ],
    );
    // b is ready but silent; c is not ready, so its silence does not count.
    let metrics = FakeMetrics::new(&[("a", 99.0, 5000.0, 20)]);
    let mut c = controller(client, metrics, false);
    let log = c.tick().await.unwrap();
    let seen = server.await.unwrap();
    assert_eq!(log.decision.desired_replicas, 2);
    assert!(!log.patched);
    assert!(
        log.decision.reason.starts_with("MetricsMissing"),
        "{}",
        log.decision.reason
    );
    assert!(log.decision.reason.contains('b') && !log.decision.reason.contains(" c"));
    assert_eq!(seen[2].body["reason"], "MetricsMissing");
    assert_eq!(seen[2].body["type"], "Warning");
    assert_eq!(seen[2].body["action"], "Hold");
}

#[tokio::test]
async fn a_repeated_hold_makes_no_second_event() {
    let (client, handle) = mock_client();
    let list = || pod_list(vec![pod("a", "10.0.0.1", true)]);
    let server = serve(
        handle,
        vec![
            expect("GET", SCALE, 200, scale(1)),
            expect("GET", PODS, 200, list()),
            expect("POST", EVENTS, 201, json!({})),
            expect("GET", SCALE, 200, scale(1)),
            expect("GET", PODS, 200, list()),
        ],
    );
    // 30 % with requests in flight: neither a scale-up nor `Idle`.
    let metrics = FakeMetrics::new(&[("a", 30.0, 100.0, 2)]);
    let mut c = controller(client, metrics, false);
    let first = c.tick().await.unwrap();
    let second = c.tick().await.unwrap();
    let seen = server.await.unwrap();
    assert_eq!(seen.len(), 5);
    assert_eq!(first.decision.desired_replicas, 1);
    assert_eq!(second.decision.desired_replicas, 1);
}

#[tokio::test(start_paused = true)]
async fn transient_errors_are_retried() {
    let (client, handle) = mock_client();
    let server = serve(
        handle,
        vec![
            expect("GET", SCALE, 500, failure(500, "InternalError")),
            expect("GET", SCALE, 429, failure(429, "TooManyRequests")),
            expect("GET", SCALE, 200, scale(1)),
            expect("GET", PODS, 200, pod_list(vec![pod("a", "10.0.0.1", true)])),
            expect("PATCH", SCALE, 409, failure(409, "Conflict")),
            expect("PATCH", SCALE, 200, scale(4)),
            expect("POST", EVENTS, 503, failure(503, "ServiceUnavailable")),
            expect("POST", EVENTS, 201, json!({})),
        ],
    );
    let metrics = FakeMetrics::new(&[("a", 90.0, 100.0, 3)]);
    let mut c = controller(client, metrics, false);
    let log = c.tick().await.unwrap();
    let seen = server.await.unwrap();
    assert_eq!(seen.len(), 8);
    assert_eq!(log.decision.desired_replicas, 4);
    assert!(log.patched);
    let st = c.status();
    let st = scaler::cluster::controller::lock(&st);
    assert_eq!((st.ticks_ok, st.patches, st.events), (1, 1, 1));
}

#[tokio::test]
async fn a_permanent_error_ends_the_tick_before_acting() {
    let (client, handle) = mock_client();
    let server = serve(
        handle,
        vec![expect("GET", SCALE, 403, failure(403, "Forbidden"))],
    );
    let metrics = FakeMetrics::new(&[("a", 90.0, 100.0, 3)]);
    let mut c = controller(client, metrics, false);
    let err = c.tick().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("get deployments/userscale-app/scale"),
        "{err}"
    );
    assert_eq!(server.await.unwrap().len(), 1);
}

#[tokio::test]
async fn dry_run_reads_but_writes_nothing() {
    let (client, handle) = mock_client();
    let server = serve(
        handle,
        vec![
            expect("GET", SCALE, 200, scale(1)),
            expect("GET", PODS, 200, pod_list(vec![pod("a", "10.0.0.1", true)])),
        ],
    );
    let metrics = FakeMetrics::new(&[("a", 90.0, 100.0, 3)]);
    let mut c = controller(client, metrics, true);
    let log = c.tick().await.unwrap();
    assert_eq!(server.await.unwrap().len(), 2);
    assert_eq!(log.decision.desired_replicas, 4);
    assert!(!log.patched);
}

fn arb_pod() -> impl Strategy<Value = PodObservation> {
    (
        prop::option::of(0.0f64..150.0),
        prop::option::of(0u32..500),
        prop::option::of(0.0f64..20_000.0),
        any::<bool>(),
        0u8..5,
    )
        .prop_map(|(gpu, conc, lat, ready, phase)| PodObservation {
            name: "p".into(),
            phase: match phase {
                0 => PodPhase::Pending,
                1 | 2 => PodPhase::Running,
                3 => PodPhase::Terminating,
                _ => PodPhase::Failed,
            },
            ready: Some(ready),
            ready_transition_time: Some(0.0),
            start_time: Some(0.0),
            cpu_request_m: Some(500),
            cpu_usage_m: None,
            metric_timestamp: None,
            metric_window: None,
            gpu_utilization: gpu,
            in_flight: conc,
            avg_latency_ms: lat,
        })
}

proptest! {
    /// Whatever the metrics, the spec, the missing pods and the history,
    /// the controller never asks for fewer than min or more than max.
    #[test]
    fn plan_stays_within_bounds(
        min in 1u32..4,
        extra in 0u32..6,
        ticks in prop::collection::vec(
            (0u32..20, prop::collection::vec(arb_pod(), 0..8), any::<bool>()), 1..20),
    ) {
        let max = min + extra;
        let config = UserScaleConfig { min_replicas: min, max_replicas: max, ..UserScaleConfig::default() };
        let mut policy = PolicyConfig::Userscale(config).build();
        for (k, (spec, pods, miss)) in ticks.into_iter().enumerate() {
            let obs = Observation { time: 3.0 * k as f64, spec_replicas: spec, pods };
            let missing = if miss { vec!["p".to_owned()] } else { vec![] };
            let d = plan(policy.as_mut(), &obs, &missing);
            prop_assert!(d.desired_replicas >= min && d.desired_replicas <= max,
                "{} not in [{min}, {max}]: {}", d.desired_replicas, d.reason);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_loop_survives_a_failed_tick_and_stops_on_shutdown() {
    let (client, handle) = mock_client();
    let server = serve(
        handle,
        vec![
            // Tick 1: forbidden (after no retries: not transient).
            expect("GET", SCALE, 403, failure(403, "Forbidden")),
            // Tick 2: fine, and holds.
            expect("GET", SCALE, 200, scale(1)),
            expect("GET", PODS, 200, pod_list(vec![pod("a", "10.0.0.1", true)])),
            expect("POST", EVENTS, 201, json!({})),
        ],
    );
    let metrics = FakeMetrics::new(&[("a", 30.0, 100.0, 2)]);
    let c = controller(client, metrics, false);
    let status = c.status();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(c.run(async {
        let _ = rx.await;
    }));
    let seen = server.await.unwrap();
    assert_eq!(seen.len(), 4);
    // Let the second tick finish its bookkeeping, then stop.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    tx.send(()).unwrap();
    run.await.unwrap();
    let st = scaler::cluster::controller::lock(&status);
    assert_eq!((st.ticks_failed, st.ticks_ok), (1, 1));
    assert!(st.last_tick_unix_s.is_some());
}

#[tokio::test]
async fn the_controller_serves_health_metrics_and_decisions() {
    use scaler::cluster::controller::{DecisionLog, Status};
    use scaler::cluster::http::request;
    let mut st = Status {
        started_unix_s: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64(),
        ticks_ok: 3,
        patches: 1,
        bounds: (1, 6),
        interval_s: 3.0,
        current_replicas: Some(2),
        desired_replicas: Some(3),
        ..Status::default()
    };
    for (i, t) in [100.0, 103.0, 106.0].into_iter().enumerate() {
        st.decisions.push_back(DecisionLog {
            unix_s: t,
            patched: i == 2,
            decision: scaler::Decision {
                time: t - 100.0,
                controller: scaler::ControllerKind::Userscale,
                current_replicas: 2,
                desired_replicas: 2 + u32::from(i == 2),
                reason: "Hold".into(),
                inputs: json!({}),
            },
        });
    }
    let status = std::sync::Arc::new(Mutex::new(st));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, scaler::cluster::server::router(status))
            .await
            .unwrap()
    });
    let get = |path: &'static str| async move { request(addr, "GET", path, b"").await.unwrap() };
    let r = get("/healthz").await;
    assert_eq!(r.status, 200);
    let r = get("/decisions?since=101").await;
    let list: Vec<DecisionLog> = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(list.len(), 2);
    assert!(list[1].patched);
    assert_eq!(get("/decisions?since=soon").await.status, 400);
    let text = String::from_utf8(get("/metrics").await.body).unwrap();
    assert!(text.contains("userscale_scaler_ticks_total 3"), "{text}");
    assert!(
        text.contains("userscale_scaler_desired_replicas 3"),
        "{text}"
    );
    testkit::promtool_check(&text);
}

/// `scaler run` refuses an HPA policy (2) and says when it has no cluster
/// configuration (1), before binding anything.
#[test]
fn scaler_run_bad_input_and_no_cluster() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::temp_dir().join(format!("scaler-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |policy: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_scaler"))
            .args(["run", "--listen", "127.0.0.1:0", "--policy"])
            .arg(repo.join(policy))
            .env("KUBECONFIG", dir.join("none"))
            .env("HOME", &dir)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("SCALER_CONTEXT")
            .output()
            .unwrap()
    };
    let out = run("data/policies/hpa-original.toml");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("drives UserScale"), "{err}");
    let out = run("data/policies/userscale-original.toml");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("configuring the Kubernetes client"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
