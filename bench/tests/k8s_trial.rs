//! A whole k8s-backend trial against a fake API server: an in-process
//! stand-in for the cluster that keeps Deployments and pods, answers the
//! list/watch, scale, apply, metrics, proxy and Events calls the backend
//! makes, and plays the arm's controller (a rescale with its Event). The
//! load goes to a loopback HTTP server through `--service-url`'s path.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bench::campaign::Campaign;
use bench::k8s::{run_trial, Connection, K8sOptions};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use k8s_openapi::jiff::Timestamp;
use kube::client::Body;
use kube::Client;
use scaler::cluster::controller::DecisionLog;
use scaler::Decision;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NS: &str = "userscale";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn ts(t: f64) -> String {
    Timestamp::from_millisecond((t * 1000.0) as i64)
        .unwrap()
        .to_string()
}

fn now() -> f64 {
    Timestamp::now().as_millisecond() as f64 / 1000.0
}

#[derive(Clone)]
struct FakePod {
    app: String,
    created: f64,
    rv: u64,
    ip: u32,
}

#[derive(Default)]
struct State {
    rv: u64,
    deployments: BTreeMap<String, (u32, u64)>,
    pods: BTreeMap<String, FakePod>,
    gone: Vec<(String, FakePod, u64)>,
    next_pod: u32,
    hpa: Option<Value>,
    config_map: Option<Value>,
    events: Vec<Value>,
    decisions: Vec<DecisionLog>,
    calls: Vec<String>,
    /// Answer 403 to GET of this Deployment (a failure mid-trial).
    forbid_get: Option<String>,
}

impl State {
    fn bump(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    /// The ReplicaSet: pods follow spec.replicas at once (new pods Ready).
    fn scale(&mut self, name: &str, replicas: u32) {
        let rv = self.bump();
        self.deployments.insert(name.to_owned(), (replicas, rv));
        let mine: Vec<String> = self
            .pods
            .iter()
            .filter(|(_, p)| p.app == name)
            .map(|(n, _)| n.clone())
            .collect();
        for n in mine.iter().skip(replicas as usize) {
            let p = self.pods.remove(n).unwrap();
            let rv = self.bump();
            self.gone.push((n.clone(), p, rv));
        }
        for _ in mine.len()..replicas as usize {
            self.next_pod += 1;
            let rv = self.bump();
            let pod_name = format!("{name}-{:05}", self.next_pod);
            self.pods.insert(
                pod_name,
                FakePod {
                    app: name.to_owned(),
                    created: now(),
                    rv,
                    ip: self.next_pod,
                },
            );
        }
    }
}

fn pod_json(name: &str, p: &FakePod) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": p.app},
                     "creationTimestamp": ts(p.created), "resourceVersion": p.rv.to_string()},
        "spec": {"nodeName": "fake-node", "containers": [{"name": "workload", "image": "userscale/workload:0.1.0",
                 "resources": {"requests": {"cpu": "500m"}}}]},
        "status": {"phase": "Running", "podIP": format!("10.42.0.{}", p.ip), "startTime": ts(p.created),
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": ts(p.created)},
                {"type": "Ready", "status": "True", "lastTransitionTime": ts(p.created)}],
            "containerStatuses": [{"name": "workload", "image": "x", "imageID": "", "ready": true,
                "restartCount": 0, "state": {"running": {"startedAt": ts(p.created)}}}]}
    })
}

fn deployment_json(name: &str, replicas: u32, rv: u64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "generation": 1, "resourceVersion": rv.to_string()},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                   "spec": {"containers": [{"name": "workload", "image": "userscale/workload:0.1.0",
                     "resources": {"requests": {"cpu": "500m", "nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "1"}}}]}}},
        "status": {"observedGeneration": 1, "replicas": replicas, "readyReplicas": replicas}
    })
}

fn query(q: &str, key: &str) -> Option<String> {
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.replace("%3D", "=").replace("%2C", ","))
    })
}

fn not_found() -> (u16, Value) {
    (
        404,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}),
    )
}

async fn handle(state: Arc<Mutex<State>>, req: Request<Body>) -> (u16, Value) {
    let (parts, body) = req.into_parts();
    let body: Value =
        serde_json::from_slice(&body.collect_bytes().await.unwrap()).unwrap_or(Value::Null);
    let path = parts.uri.path().to_owned();
    let q = parts.uri.query().unwrap_or("").to_owned();
    let method = parts.method.as_str().to_owned();
    state
        .lock()
        .unwrap()
        .calls
        .push(format!("{method} {path}?{q}"));
    let base_pods = format!("/api/v1/namespaces/{NS}/pods");
    let base_deps = format!("/apis/apps/v1/namespaces/{NS}/deployments");

    // Watches: long-poll (up to 100 ms) for changes after the given version.
    if query(&q, "watch").as_deref() == Some("true") {
        let since: u64 = query(&q, "resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        for _ in 0..10 {
            if state.lock().unwrap().rv > since {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let st = state.lock().unwrap();
        let mut lines = Vec::new();
        if path == base_pods {
            let app = query(&q, "labelSelector")
                .unwrap_or_default()
                .trim_start_matches("app=")
                .to_owned();
            for (n, p) in st.pods.iter().filter(|(_, p)| p.app == app && p.rv > since) {
                lines.push(json!({"type": "MODIFIED", "object": pod_json(n, p)}));
            }
            for (n, p, rv) in st
                .gone
                .iter()
                .filter(|(_, p, rv)| p.app == app && *rv > since)
            {
                let mut o = pod_json(n, p);
                o["metadata"]["resourceVersion"] = json!(rv.to_string());
                lines.push(json!({"type": "DELETED", "object": o}));
            }
        } else if path == base_deps {
            let name = query(&q, "fieldSelector")
                .unwrap_or_default()
                .trim_start_matches("metadata.name=")
                .to_owned();
            if let Some((r, rv)) = st.deployments.get(&name).filter(|(_, rv)| *rv > since) {
                lines.push(json!({"type": "MODIFIED", "object": deployment_json(&name, *r, *rv)}));
            }
        }
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        return (200, Value::String(text));
    }

    let mut st = state.lock().unwrap();
    let rv = st.rv.to_string();
    match (method.as_str(), path.as_str()) {
        ("DELETE", p) if p.ends_with("/horizontalpodautoscalers/hpa-app") => match st.hpa.take() {
            Some(_) => (200, json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})),
            None => not_found(),
        },
        ("PATCH", p) if p.ends_with("/horizontalpodautoscalers/hpa-app") => {
            st.hpa = Some(body.clone());
            (200, body)
        }
        ("GET", p) if p.ends_with("/horizontalpodautoscalers/hpa-app") => match &st.hpa {
            Some(h) => {
                let mut h = h.clone();
                let (r, _) = st.deployments.get("hpa-app").copied().unwrap_or((1, 0));
                h["status"] = json!({"currentReplicas": r, "desiredReplicas": r,
                    "conditions": [{"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale", "message": "ok"}]});
                (200, h)
            }
            None => not_found(),
        },
        ("PATCH", p) if p.ends_with("/configmaps/userscale-policy") => {
            st.config_map = Some(body.clone());
            (200, body)
        }
        ("PATCH", p) if p.starts_with(&base_deps) && p.ends_with("/scale") => {
            let name = p.trim_start_matches(&format!("{base_deps}/")).trim_end_matches("/scale").to_owned();
            let r = body["spec"]["replicas"].as_u64().unwrap() as u32;
            st.scale(&name, r);
            (200, json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": name}, "spec": {"replicas": r}}))
        }
        ("GET", p) if p == base_deps => {
            let name = query(&q, "fieldSelector").unwrap_or_default().trim_start_matches("metadata.name=").to_owned();
            let items: Vec<Value> = st.deployments.get(&name).map(|(r, v)| deployment_json(&name, *r, *v)).into_iter().collect();
            (200, json!({"apiVersion": "apps/v1", "kind": "DeploymentList", "metadata": {"resourceVersion": rv}, "items": items}))
        }
        ("GET", p)
            if p.starts_with(&base_deps)
                && st.forbid_get.as_deref() == p.rsplit('/').next() =>
        {
            (
                403,
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "reason": "Forbidden", "code": 403, "message": "forbidden"}),
            )
        }
        ("GET", p) if p.starts_with(&base_deps) => {
            let name = p.trim_start_matches(&format!("{base_deps}/"));
            match st.deployments.get(name) {
                Some((r, v)) => (200, deployment_json(name, *r, *v)),
                None => not_found(),
            }
        }
        ("GET", p) if p == base_pods => {
            let app = query(&q, "labelSelector").unwrap_or_default().trim_start_matches("app=").to_owned();
            let items: Vec<Value> = st.pods.iter().filter(|(_, p)| p.app == app).map(|(n, p)| pod_json(n, p)).collect();
            (200, json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": rv}, "items": items}))
        }
        ("GET", p) if p.starts_with(&format!("{base_pods}/")) && p.ends_with("/proxy/metrics.json") => (
            200,
            json!({"gpu_utilization": 70.0, "gpu_utilization_source": "fake", "avg_latency_ms": 12.0,
                   "window_requests": 3, "concurrent_requests": 0, "in_flight": 0, "queued": 0}),
        ),
        ("GET", p) if p.starts_with(&format!("{base_pods}/")) && p.ends_with("/proxy/metrics") => (
            200,
            Value::String("workload_gpu_memory_used_bytes{gpu=\"0\"} 2097152000\nworkload_gpu_power_watts{gpu=\"0\"} 80\nworkload_gpu_energy_joules_total{gpu=\"0\"} 1000\n".into()),
        ),
        ("GET", p) if p.starts_with("/apis/metrics.k8s.io/v1beta1/") => {
            let app = query(&q, "labelSelector").unwrap_or_default().trim_start_matches("app=").to_owned();
            let items: Vec<Value> = st.pods.iter().filter(|(_, p)| p.app == app).map(|(n, _)| json!({
                "metadata": {"name": n}, "timestamp": ts(now()), "window": "500ms",
                "containers": [{"name": "workload", "usage": {"cpu": "250m", "memory": "10Mi"}}]})).collect();
            (200, json!({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": items}))
        }
        ("GET", p) if p == format!("/apis/events.k8s.io/v1/namespaces/{NS}/events") => (
            200,
            json!({"apiVersion": "events.k8s.io/v1", "kind": "EventList", "metadata": {"resourceVersion": rv}, "items": st.events}),
        ),
        ("GET", p) if p.ends_with("/services/userscale-scaler:8080/proxy/metrics") => (
            200,
            Value::String("userscale_scaler_tick_failures_total 0\n".into()),
        ),
        ("GET", p) if p.ends_with("/services/userscale-scaler:8080/proxy/decisions") => {
            let since: f64 = query(&q, "since").and_then(|s| s.parse().ok()).unwrap_or(0.0);
            let list: Vec<&DecisionLog> = st.decisions.iter().filter(|d| d.unix_s > since).collect();
            (200, serde_json::to_value(list).unwrap())
        }
        _ => panic!("unexpected call {method} {path}?{q}"),
    }
}

fn fake_client(state: Arc<Mutex<State>>) -> Client {
    let service = tower::service_fn(move |req: Request<Body>| {
        let state = Arc::clone(&state);
        async move {
            let (status, body) = handle(state, req).await;
            let bytes = match body {
                Value::String(s) => s.into_bytes(),
                v => serde_json::to_vec(&v).unwrap(),
            };
            Ok::<_, Infallible>(
                Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(bytes)))
                    .unwrap(),
            )
        }
    });
    Client::new(service, NS)
}

/// A loopback stand-in for the Service: every POST /compute answers 200.
async fn fake_service() -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                let body = r#"{"checksum":1.0,"queue_ms":1.0,"compute_ms":19.0}"#;
                let resp = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    addr
}

fn campaign() -> Campaign {
    let text = std::fs::read_to_string(repo().join("data/campaigns/k8s-smoke.toml"))
        .unwrap()
        .replace("duration_s = 30", "duration_s = 4")
        .replace("warmup_s = 5", "warmup_s = 1")
        .replace("users = 20", "users = 3");
    let dir = repo().join("data/campaigns");
    Campaign::parse(&text, &dir.join("k8s-smoke.toml"), &dir).unwrap()
}

/// Plays the arm's controller once the trial's second sample has begun:
/// 1 -> 3 replicas, with the Event (and, for UserScale, the decision) that
/// says why.
fn play_controller(state: Arc<Mutex<State>>, arm: &'static str) {
    tokio::spawn(async move {
        // The rescale follows the trial's own progress, not the clock: it
        // comes once the second per-second sample after the deployment
        // watch began has asked for CPU metrics, so the first sample always
        // sees one replica however slow the machine.
        loop {
            let samples_since_watch = {
                let st = state.lock().unwrap();
                st.calls
                    .iter()
                    .position(|c| c.contains("deployments?") && c.contains("watch=true"))
                    .map(|w| {
                        st.calls[w..]
                            .iter()
                            .filter(|c| c.starts_with("GET /apis/metrics.k8s.io/"))
                            .count()
                    })
            };
            if samples_since_watch.is_some_and(|n| n >= 2) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut st = state.lock().unwrap();
        let deployment = format!("{arm}-app");
        st.scale(&deployment, 3);
        let at = now();
        if arm == "userscale" {
            let reason = "GpuMid: mean GPU 70.0 % > 60 %: +2".to_owned();
            st.events.push(json!({"metadata": {"name": "e1", "namespace": NS, "creationTimestamp": ts(at)},
                "eventTime": ts(at), "reason": "GpuMid", "note": format!("1 -> 3 replicas: {reason}"), "action": "Scale",
                "type": "Normal", "reportingController": "userscale.io/scaler", "reportingInstance": "s",
                "regarding": {"kind": "Deployment", "name": deployment}}));
            st.decisions.push(DecisionLog {
                unix_s: at,
                patched: true,
                decision: Decision {
                    time: 2.0,
                    controller: scaler::ControllerKind::Userscale,
                    current_replicas: 1,
                    desired_replicas: 3,
                    reason,
                    inputs: json!({"gpu": 70.0}),
                },
            });
        } else {
            st.events.push(json!({"metadata": {"name": "e2", "namespace": NS, "creationTimestamp": ts(at)},
                "deprecatedLastTimestamp": ts(at), "reason": "SuccessfulRescale",
                "note": "New size: 3; reason: cpu resource utilization (percentage of request) above target",
                "type": "Normal", "regarding": {"kind": "HorizontalPodAutoscaler", "name": "hpa-app"}}));
        }
    });
}

async fn one_trial(
    arm: &'static str,
) -> (
    bench::record::TrialRecords,
    bench::k8s::K8sFacts,
    Vec<String>,
) {
    let state = Arc::new(Mutex::new(State::default()));
    let (rec, facts) = trial_on(Arc::clone(&state), arm).await.unwrap();
    let calls = state.lock().unwrap().calls.clone();
    (rec, facts, calls)
}

async fn trial_on(
    state: Arc<Mutex<State>>,
    arm: &'static str,
) -> bench::Result<(bench::record::TrialRecords, bench::k8s::K8sFacts)> {
    {
        let mut st = state.lock().unwrap();
        // What `bench deploy` left: both arms at 1, the scaler at 1, the HPA.
        st.scale("hpa-app", 1);
        st.scale("userscale-app", 1);
        st.scale("userscale-scaler", 1);
        st.hpa = Some(json!({}));
    }
    let conn = Connection {
        client: fake_client(Arc::clone(&state)),
        context: "fake".into(),
        server: "fake".into(),
        version: "v1.33.0".into(),
    };
    let c = campaign();
    let plan = c.plan().into_iter().find(|p| p.arm == arm).unwrap();
    let addr = fake_service().await;
    let opts = K8sOptions {
        manifests: repo().join("k8s/base"),
        service_urls: [(plan.policy.kind(), format!("http://{addr}"))]
            .into_iter()
            .collect(),
        ready_timeout_s: 10.0,
        settle_s: 0.0,
        ..K8sOptions::default()
    };
    play_controller(Arc::clone(&state), arm);
    let stop = Arc::new(AtomicBool::new(false));
    run_trial(&conn, &plan, &opts, &stop, &|_| {}).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_after_the_controller_started_stops_it() {
    let state = Arc::new(Mutex::new(State {
        forbid_get: Some("userscale-app".into()),
        ..State::default()
    }));
    let err = trial_on(Arc::clone(&state), "userscale").await.unwrap_err();
    assert!(
        err.to_string().contains("get deployment userscale-app"),
        "{err}"
    );
    let st = state.lock().unwrap();
    // The scaler was started (1) and is off again (0).
    assert_eq!(st.deployments["userscale-scaler"].0, 0, "{:#?}", st.calls);
    assert!(st.config_map.is_some());
}

fn first(calls: &[String], prefix: &str) -> usize {
    calls
        .iter()
        .position(|c| c.starts_with(prefix))
        .unwrap_or_else(|| panic!("no call {prefix}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_userscale_trial_on_a_fake_cluster() {
    let (rec, facts, calls) = one_trial("userscale").await;
    let scale = |d: &str| format!("PATCH /apis/apps/v1/namespaces/{NS}/deployments/{d}/scale");
    // Reset, then the controller: policy, then a fresh scaler; it stops after.
    let order = [
        first(
            &calls,
            &format!(
                "DELETE /apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers/hpa-app"
            ),
        ),
        first(&calls, &scale("userscale-scaler")),
        first(&calls, &scale("hpa-app")),
        first(&calls, &scale("userscale-app")),
        first(
            &calls,
            &format!("PATCH /api/v1/namespaces/{NS}/configmaps/userscale-policy"),
        ),
    ];
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "{order:?}\n{calls:#?}"
    );
    let scaler_scales: Vec<&String> = calls
        .iter()
        .filter(|c| c.starts_with(&scale("userscale-scaler")))
        .collect();
    assert_eq!(scaler_scales.len(), 3, "off, on, off: {scaler_scales:?}");
    let decisions_read = first(
        &calls,
        "GET /api/v1/namespaces/userscale/services/userscale-scaler:8080/proxy/decisions",
    );
    let last_scaler_scale = calls
        .iter()
        .rposition(|c| c.starts_with(&scale("userscale-scaler")))
        .unwrap();
    assert!(
        decisions_read < last_scaler_scale,
        "decisions must be read before the scaler stops"
    );

    // Records: 4 samples, the rescale with the scaler's reason, its decision.
    assert_eq!(rec.samples.len(), 4);
    assert_eq!(rec.samples[0].desired, 1);
    assert_eq!(rec.samples[3].desired, 3);
    assert_eq!(rec.samples[3].ready, 3);
    assert!(
        (rec.samples[0].cpu_cores - 0.25).abs() < 1e-9,
        "{:?}",
        rec.samples[0]
    );
    assert!((rec.samples[0].gpu_util_mean - 70.0).abs() < 1e-9);
    assert_eq!(rec.samples[0].gpu_mem_used_mib, 2000.0);
    assert_eq!(rec.scaling_events.len(), 1, "{:?}", rec.scaling_events);
    let ev = &rec.scaling_events[0];
    assert_eq!(
        (ev.from, ev.to, ev.controller.as_str()),
        (1, 3, "userscale")
    );
    assert!(ev.reason.starts_with("GpuMid"), "{}", ev.reason);
    assert!(ev.t_s > 0.5 && ev.t_s < 4.0, "{}", ev.t_s);
    assert_eq!(rec.decisions.len(), 1);
    assert_eq!(rec.decisions[0].desired, 3);
    assert_eq!(rec.pods.len(), 3);
    assert!(rec.pods[0].created_s < 0.0, "the min pod existed before t0");
    assert!(rec.pods[1].created_s > 0.0 && rec.pods[1].ready_s.is_some());
    assert_eq!(rec.pods[1].node.as_deref(), Some("fake-node"));
    assert!(!rec.requests.is_empty());
    assert!(
        rec.requests
            .iter()
            .all(|r| r.outcome == bench::record::Outcome::Ok),
        "{:?}",
        rec.requests.first()
    );
    let offered: u32 = rec.samples.iter().map(|s| s.offered).sum();
    assert_eq!(
        offered as usize,
        rec.requests.iter().filter(|r| r.sent_s <= 4.0).count()
    );
    assert_eq!(facts.cpu_source, "metrics.k8s.io");
    assert_eq!(facts.scaler_tick_failures, Some(0.0));
    assert_eq!(facts.arm.deployment, "userscale-app");
    assert_eq!(
        facts.workload_container["image"],
        "userscale/workload:0.1.0"
    );
    assert!(facts.load_target.starts_with("http://127.0.0.1:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hpa_trial_on_a_fake_cluster() {
    let (rec, facts, calls) = one_trial("hpa").await;
    // A fresh HPA from the campaign, deleted again after the trial.
    let hpa = format!("/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers/hpa-app");
    let created = first(&calls, &format!("PATCH {hpa}"));
    let deletes: Vec<usize> = calls
        .iter()
        .enumerate()
        .filter(|(_, c)| c.starts_with(&format!("DELETE {hpa}")))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(deletes.len(), 2, "{calls:#?}");
    assert!(deletes[0] < created && created < deletes[1]);
    assert!(
        calls.iter().all(|c| !c.contains("configmaps")),
        "the HPA arm leaves the scaler's policy alone"
    );
    assert_eq!(facts.controller_object["spec"]["maxReplicas"], 6);
    assert_eq!(rec.scaling_events.len(), 1, "{:?}", rec.scaling_events);
    let ev = &rec.scaling_events[0];
    assert_eq!((ev.from, ev.to, ev.controller.as_str()), (1, 3, "hpa"));
    assert!(
        ev.reason.starts_with("SuccessfulRescale: New size: 3"),
        "{}",
        ev.reason
    );
    // The HPA's status as its decisions: one when first seen, one after the rescale.
    assert!(!rec.decisions.is_empty());
    assert!(rec
        .decisions
        .iter()
        .all(|d| d.controller == scaler::ControllerKind::Hpa));
    assert_eq!(rec.decisions.last().unwrap().desired, 3);
}
