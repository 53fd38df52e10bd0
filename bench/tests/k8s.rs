//! The Kubernetes backend without a cluster: the manifests as rendered,
//! the reset and sampling calls against a mocked API server, and the clear
//! failure when no cluster is reachable.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use bench::k8s::manifests::{self, Rendered};
use bench::k8s::{observe, reset, ArmTarget};
use scaler::cluster::kube_api::Backoff;
use scaler::cluster::testing::{self, Seen};
use scaler::PolicyConfig;
use serde_json::{json, Value};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn base() -> Rendered {
    manifests::render(&repo().join("k8s/base")).unwrap()
}

fn containers(o: &Value) -> Vec<Value> {
    o["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn the_base_renders_every_object_into_the_namespace() {
    let r = base();
    assert_eq!(r.namespace, "userscale");
    let mut names: Vec<String> = r
        .objects
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "ConfigMap/userscale-policy",
            "Deployment/hpa-app",
            "Deployment/userscale-app",
            "Deployment/userscale-scaler",
            "HorizontalPodAutoscaler/hpa-app",
            "Namespace/userscale",
            "NetworkPolicy/default-deny-ingress",
            "NetworkPolicy/scaler-from-api-server",
            "NetworkPolicy/userscale-app-from-scaler",
            "Role/userscale-scaler",
            "RoleBinding/userscale-scaler",
            "Service/hpa-app",
            "Service/userscale-app",
            "Service/userscale-scaler",
            "ServiceAccount/userscale-scaler",
        ]
    );
    for o in &r.objects {
        let ns = &o["metadata"]["namespace"];
        if o["kind"] == "Namespace" {
            assert!(ns.is_null());
        } else {
            assert_eq!(ns, "userscale", "{}", o["metadata"]["name"]);
        }
        assert_eq!(
            o["metadata"]["labels"]["app.kubernetes.io/part-of"],
            "userscale-bench"
        );
    }
}

/// The two arms' workloads differ only in their names and labels.
#[test]
fn the_arms_are_identical_but_for_names_and_labels() {
    let r = base();
    for kind in ["Deployment", "Service"] {
        let strip = |name: &str| {
            let text = serde_json::to_string(r.find(kind, name).unwrap()).unwrap();
            let text = text
                .replace(name, "ARM")
                .replace("\"bench.userscale.io/arm\":\"hpa\"", "X");
            text.replace("\"bench.userscale.io/arm\":\"userscale\"", "X")
        };
        assert_eq!(strip("hpa-app"), strip("userscale-app"), "{kind}");
    }
    let d = r.find("Deployment", "hpa-app").unwrap();
    let c = &containers(d)[0];
    assert_eq!(c["resources"]["requests"]["nvidia.com/gpu"], "1");
    assert_eq!(c["resources"]["limits"]["nvidia.com/gpu"], "1");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert!(
        d["spec"]["replicas"].is_null(),
        "the controller owns replicas"
    );
}

/// Every pod: non-root, read-only root, no privilege escalation.
#[test]
fn every_pod_is_locked_down() {
    for d in base().objects.iter().filter(|o| o["kind"] == "Deployment") {
        let name = d["metadata"]["name"].as_str().unwrap();
        assert_eq!(
            d["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"], true,
            "{name}"
        );
        for c in containers(d) {
            let sc = &c["securityContext"];
            assert_eq!(sc["readOnlyRootFilesystem"], true, "{name}");
            assert_eq!(sc["allowPrivilegeEscalation"], false, "{name}");
            assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{name}");
            assert!(
                c["livenessProbe"]["httpGet"]["path"] == "/healthz",
                "{name}"
            );
        }
    }
}

/// The scaler may list pods (it never gets or watches one: see the calls
/// `scaler/tests/cluster.rs` records), read and patch its Deployment's
/// scale, and create Events: nothing more.
#[test]
fn the_scaler_role_is_least_privilege() {
    let r = base();
    let role = r.find("Role", "userscale-scaler").unwrap();
    assert_eq!(
        role["rules"],
        json!([
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
            {"apiGroups": ["apps"], "resources": ["deployments/scale"],
             "resourceNames": ["userscale-app"], "verbs": ["get", "patch"]},
            {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create"]},
        ])
    );
    let d = r.find("Deployment", "userscale-scaler").unwrap();
    assert_eq!(
        d["spec"]["template"]["spec"]["serviceAccountName"],
        "userscale-scaler"
    );
}

/// The manifests' policies are the original experiment's, as the bench
/// would write them, and share the same replica bounds.
#[test]
fn the_manifest_policies_are_the_originals() {
    let r = base();
    let cm = r.find("ConfigMap", "userscale-policy").unwrap();
    let text = cm["data"]["policy.toml"].as_str().unwrap();
    let policy = PolicyConfig::from_toml_str(text).unwrap();
    assert_eq!(policy, PolicyConfig::original_userscale());
    let PolicyConfig::Hpa(hpa) = PolicyConfig::original_hpa() else {
        unreachable!()
    };
    let built = manifests::hpa_object("userscale", "hpa-app", "hpa-app", &hpa);
    assert_eq!(
        r.find("HorizontalPodAutoscaler", "hpa-app").unwrap()["spec"],
        built["spec"]
    );
    assert_eq!(policy.bounds(), (hpa.min_replicas, hpa.max_replicas));
    // What the bench writes into the ConfigMap reads back as the same policy.
    let written = manifests::policy_config_map("userscale", "userscale-policy", &policy).unwrap();
    let back =
        PolicyConfig::from_toml_str(written["data"]["policy.toml"].as_str().unwrap()).unwrap();
    assert_eq!(back, policy);
}

#[test]
fn a_bad_kustomization_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "namespace: x\nresources: [missing.yaml]\n",
    )
    .unwrap();
    let err = manifests::render(dir.path()).unwrap_err().to_string();
    assert!(err.contains("missing.yaml"), "{err}");
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "namespace: x\npatches: []\nresources: []\n",
    )
    .unwrap();
    let err = manifests::render(dir.path()).unwrap_err().to_string();
    assert!(err.contains("`patches`"), "{err}");
}

// ---- mocked API server ----

/// Answers each call with `answer(method, path)`, recording the calls,
/// until `n` calls were made.
fn serve(
    handle: testing::MockHandle,
    n: usize,
    answer: impl Fn(&str, &str) -> (u16, Value) + Send + 'static,
) -> tokio::task::JoinHandle<Vec<Seen>> {
    testing::serve(handle, n, move |_, call| answer(&call.method, &call.path))
}

fn scale(n: u32) -> Value {
    json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "x"}, "spec": {"replicas": n}})
}

fn not_found() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"})
}

#[tokio::test]
async fn reset_stops_both_controllers_then_sets_the_arms() {
    let (client, handle) = testing::mock_client("userscale");
    let server = serve(handle, 4, |method, _| match method {
        "DELETE" => (404, not_found()),
        _ => (200, scale(0)),
    });
    let arm = ArmTarget::for_policy(&PolicyConfig::original_hpa());
    reset(
        &client,
        "userscale",
        &arm,
        2,
        "userscale-bench",
        &Backoff::default(),
    )
    .await
    .unwrap();
    let seen = server.await.unwrap();
    let calls: Vec<(String, String, Value)> = seen
        .iter()
        .map(|s| (s.method.clone(), s.path.clone(), s.body.clone()))
        .collect();
    let scale_path = |d: &str| format!("/apis/apps/v1/namespaces/userscale/deployments/{d}/scale");
    assert_eq!(
        calls,
        vec![
            (
                "DELETE".into(),
                "/apis/autoscaling/v2/namespaces/userscale/horizontalpodautoscalers/hpa-app".into(),
                seen[0].body.clone()
            ),
            (
                "PATCH".into(),
                scale_path("userscale-scaler"),
                json!({"spec": {"replicas": 0}})
            ),
            (
                "PATCH".into(),
                scale_path("userscale-app"),
                json!({"spec": {"replicas": 0}})
            ),
            (
                "PATCH".into(),
                scale_path("hpa-app"),
                json!({"spec": {"replicas": 2}})
            ),
        ]
    );
    for s in &seen[1..] {
        assert_eq!(s.content_type, "application/merge-patch+json");
        assert!(
            s.query.contains("fieldManager=userscale-bench"),
            "{}",
            s.query
        );
    }
}

#[tokio::test]
async fn a_fresh_controller_for_each_arm() {
    // UserScale: the campaign's policy into the ConfigMap (server-side
    // apply), then the scaler to 1.
    let (client, handle) = testing::mock_client("userscale");
    let server = serve(handle, 2, |_, path| {
        if path.ends_with("/scale") {
            (200, scale(1))
        } else {
            (
                200,
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),
            )
        }
    });
    let mut policy = PolicyConfig::original_userscale();
    policy.set_bounds(2, 5);
    let arm = ArmTarget::for_policy(&policy);
    bench::k8s::start_controller(
        &client,
        "userscale",
        &policy,
        &arm,
        "userscale-bench",
        &Backoff::default(),
    )
    .await
    .unwrap();
    let seen = server.await.unwrap();
    assert_eq!(seen[0].method, "PATCH");
    assert_eq!(
        seen[0].path,
        "/api/v1/namespaces/userscale/configmaps/userscale-policy"
    );
    assert_eq!(seen[0].content_type, "application/apply-patch+yaml");
    assert!(
        seen[0].query.contains("fieldManager=userscale-bench")
            && seen[0].query.contains("force=true")
    );
    let written =
        PolicyConfig::from_toml_str(seen[0].body["data"]["policy.toml"].as_str().unwrap()).unwrap();
    assert_eq!(written.bounds(), (2, 5));
    assert_eq!(
        seen[1].path,
        "/apis/apps/v1/namespaces/userscale/deployments/userscale-scaler/scale"
    );
    assert_eq!(seen[1].body, json!({"spec": {"replicas": 1}}));

    // HPA: a new object from the campaign's policy.
    let (client, handle) = testing::mock_client("userscale");
    let server = serve(handle, 1, |_, _| {
        (
            200,
            json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "hpa-app"}}),
        )
    });
    let mut policy = PolicyConfig::original_hpa();
    policy.set_bounds(2, 5);
    let arm = ArmTarget::for_policy(&policy);
    bench::k8s::start_controller(
        &client,
        "userscale",
        &policy,
        &arm,
        "userscale-bench",
        &Backoff::default(),
    )
    .await
    .unwrap();
    let seen = server.await.unwrap();
    assert_eq!(
        seen[0].path,
        "/apis/autoscaling/v2/namespaces/userscale/horizontalpodautoscalers/hpa-app"
    );
    assert_eq!(seen[0].body["spec"]["minReplicas"], 2);
    assert_eq!(seen[0].body["spec"]["maxReplicas"], 5);
    assert_eq!(seen[0].body["spec"]["scaleTargetRef"]["name"], "hpa-app");
    assert_eq!(
        seen[0].body["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"],
        30
    );
}

#[tokio::test]
async fn one_sample_reads_cpu_then_each_pods_metrics() {
    let (client, handle) = testing::mock_client("userscale");
    let server = serve(handle, 4, |_, path| {
        if path.starts_with("/apis/metrics.k8s.io/") {
            (
                200,
                json!({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": [
                    {"metadata": {"name": "a"}, "timestamp": "2026-01-01T00:00:00Z", "window": "15s",
                     "containers": [{"name": "workload", "usage": {"cpu": "250000000n", "memory": "1Mi"}}]},
                    {"metadata": {"name": "b"}, "timestamp": "2026-01-01T00:00:00Z", "window": "15s",
                     "containers": [{"name": "workload", "usage": {"cpu": "750m", "memory": "1Mi"}}]}
                ]}),
            )
        } else if path.ends_with("/proxy/metrics.json") {
            let util = if path.contains("/pods/a:") {
                40.0
            } else {
                60.0
            };
            (
                200,
                json!({"gpu_utilization": util, "gpu_utilization_source": "nvml", "avg_latency_ms": 120.0,
                         "window_requests": 5, "concurrent_requests": 3, "in_flight": 2, "queued": 1}),
            )
        } else {
            (200, Value::String("workload_gpu_memory_used_bytes{gpu=\"0\"} 1048576000\nworkload_gpu_power_watts{gpu=\"0\"} 150\n".into()))
        }
    });
    let serving = vec!["a".to_owned(), "b".to_owned()];
    let r = observe::read_once(&client, "userscale", "app=hpa-app", &serving, 8000).await;
    let seen = server.await.unwrap();
    // Issued together: any order.
    let mut paths: Vec<(&str, &str)> = seen
        .iter()
        .map(|s| (s.path.as_str(), s.query.as_str()))
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            ("/api/v1/namespaces/userscale/pods/a:8000/proxy/metrics", ""),
            (
                "/api/v1/namespaces/userscale/pods/a:8000/proxy/metrics.json",
                ""
            ),
            (
                "/api/v1/namespaces/userscale/pods/b:8000/proxy/metrics.json",
                ""
            ),
            (
                "/apis/metrics.k8s.io/v1beta1/namespaces/userscale/pods",
                "labelSelector=app%3Dhpa-app"
            ),
        ]
    );
    let cpu = r.cpu_m.unwrap();
    assert_eq!((cpu["a"], cpu["b"]), (250.0, 750.0));
    assert_eq!(r.metrics["a"].gpu_utilization, 40.0);
    assert_eq!(r.metrics["b"].concurrent_requests, 3);
    let gpu = r.gpu.unwrap();
    assert_eq!((gpu.mem_used_mib, gpu.power_w), (1000.0, 150.0));
}

#[test]
fn go_durations() {
    assert_eq!(observe::go_duration_s("15s"), Some(15.0));
    assert_eq!(observe::go_duration_s("1m0.5s"), Some(60.5));
    assert_eq!(observe::go_duration_s("500ms"), Some(0.5));
    assert_eq!(observe::go_duration_s("15"), None);
    assert_eq!(observe::go_duration_s(""), None);
}

#[test]
fn a_relist_forgets_pods_deleted_while_the_watch_was_down() {
    use k8s_openapi::api::core::v1::Pod;
    let pod = |name: &str| -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "creationTimestamp": "2026-01-01T00:00:00Z"},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap()
    };
    let mut t = observe::Tracker::default();
    t.pod(&pod("a"), 1.0);
    t.pod(&pod("b"), 1.0);
    t.relist_begin();
    t.relist_pod(&pod("b"), 5.0);
    t.relist_done(5.0);
    assert_eq!(t.serving(), vec![("b".to_owned(), 1)]);
    assert_eq!(t.pods[0].exited, Some(5.0));
}

#[test]
fn the_tracker_follows_pods_and_replicas() {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Pod;
    let mut t = observe::Tracker::default();
    let pod = |ready: &str, deleting: bool| -> Pod {
        let mut v = json!({
            "metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"nodeName": "gpu-node", "containers": []},
            "status": {"phase": "Running",
                "conditions": [
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-01-01T00:00:01Z"},
                    {"type": "Ready", "status": ready, "lastTransitionTime": "2026-01-01T00:00:04Z"}],
                "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": true, "restartCount": 1,
                    "state": {"running": {"startedAt": "2026-01-01T00:00:02Z"}}}]}
        });
        if deleting {
            v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:01:00Z");
            v["metadata"]["deletionGracePeriodSeconds"] = json!(30);
        }
        serde_json::from_value(v).unwrap()
    };
    let t0 = 1_767_225_600.0;
    t.pod(&pod("False", false), t0 + 3.0);
    assert!(t.serving().is_empty());
    t.pod(&pod("True", false), t0 + 4.5);
    assert_eq!(t.serving(), vec![("p".to_owned(), 0)]);
    t.pod(&pod("True", true), t0 + 30.0);
    assert!(t.serving().is_empty());
    t.pod_gone("p", t0 + 40.0);
    let p = &t.pods[0];
    assert_eq!(p.node.as_deref(), Some("gpu-node"));
    assert_eq!(
        (
            p.created - t0,
            p.scheduled.unwrap() - t0,
            p.started.unwrap() - t0,
            p.ready.unwrap() - t0
        ),
        (0.0, 1.0, 2.0, 4.5),
        "ready: the watch's reading (4.5 s), finer than the condition's whole seconds"
    );
    assert_eq!(
        (p.deleted.unwrap() - t0, p.exited.unwrap() - t0, p.restarts),
        (30.0, 40.0, 1)
    );

    let dep = |n: i32| -> Deployment {
        serde_json::from_value(json!({"metadata": {"name": "d"}, "spec": {"replicas": n, "selector": {}, "template": {}}})).unwrap()
    };
    t.deployment(&dep(1), 1.0);
    t.deployment(&dep(1), 2.0);
    t.deployment(&dep(4), 3.0);
    t.deployment(&dep(2), 9.0);
    assert_eq!(t.replica_changes, vec![(3.0, 1, 4), (9.0, 4, 2)]);
}

// ---- no cluster ----

fn bench_bin() -> &'static str {
    env!("CARGO_BIN_EXE_bench")
}

/// A kubeconfig whose only context points at a closed loopback port.
fn dead_kubeconfig(dir: &Path) -> PathBuf {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: bench-test-ctx\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: bench-test-ctx\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user: {{}}\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn no_reachable_cluster_is_a_clear_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dead_kubeconfig(dir.path());
    let db = dir.path().join("out/trials.sqlite");
    let campaign = repo().join("data/campaigns/k8s-original.toml");
    let out = Command::new(bench_bin())
        .current_dir(repo())
        .env("KUBECONFIG", &kubeconfig)
        .env("HOME", dir.path())
        .env_remove("KUBERNETES_SERVICE_HOST")
        .args(["run", "--backend", "k8s", "--quiet", "--campaign"])
        .arg(&campaign)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("no reachable Kubernetes cluster"),
        "{stderr}"
    );
    assert!(stderr.contains("bench-test-ctx"), "{stderr}");
    assert!(
        stderr.contains("--backend sim") && stderr.contains("--backend local"),
        "{stderr}"
    );
    assert!(
        !db.exists() && !db.parent().unwrap().exists(),
        "something was written"
    );

    // `bench deploy` and a missing kubeconfig say the same.
    let out = Command::new(bench_bin())
        .current_dir(repo())
        .env("KUBECONFIG", &kubeconfig)
        .args(["deploy", "--context", "bench-test-ctx"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("bench-test-ctx"),
        "{stderr}"
    );
    let missing = dir.path().join("no-such-kubeconfig");
    let out = Command::new(bench_bin())
        .current_dir(repo())
        .env("KUBECONFIG", &missing)
        .env("HOME", dir.path())
        .env_remove("KUBERNETES_SERVICE_HOST")
        .args(["run", "--backend", "k8s", "--quiet", "--campaign"])
        .arg(&campaign)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("no-such-kubeconfig") && stderr.contains("--backend sim"),
        "{stderr}"
    );
    assert!(!db.exists());
}

/// The cluster-wide GPU Operator files agree: 6 time-slices of
/// `nvidia.com/gpu`, and the ClusterPolicy names that ConfigMap and key.
#[test]
fn the_time_slicing_config_and_its_reference_agree() {
    let dir = repo().join("k8s/gpu-operator");
    let cm: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(dir.join("time-slicing-config.yaml")).unwrap(),
    )
    .unwrap();
    let cp: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(dir.join("cluster-policy.yaml")).unwrap())
            .unwrap();
    assert_eq!(cp["kind"], "ClusterPolicy");
    let config = &cp["spec"]["devicePlugin"]["config"];
    assert_eq!(config["name"], cm["metadata"]["name"]);
    let key = config["default"].as_str().unwrap();
    let plugin: Value = serde_saphyr::from_str(cm["data"][key].as_str().unwrap()).unwrap();
    let ts = &plugin["sharing"]["timeSlicing"];
    assert_eq!(
        ts["resources"],
        json!([{"name": "nvidia.com/gpu", "replicas": 6}])
    );
    assert_eq!(
        ts["renameByDefault"], false,
        "the workload requests nvidia.com/gpu"
    );
    // The arms may not ask for more pods than there are slices.
    let PolicyConfig::Hpa(hpa) = PolicyConfig::original_hpa() else {
        unreachable!()
    };
    assert!(hpa.max_replicas <= 6);
}

/// Ingress is denied by default; the one opening lets the scaler's pods
/// reach its arm's workload on the workload's port, and nothing reaches the
/// scaler's endpoints from a pod.
#[test]
fn network_policies_admit_only_the_scaler_to_its_workload() {
    let r = base();
    let deny = r.find("NetworkPolicy", "default-deny-ingress").unwrap();
    assert_eq!(deny["spec"]["podSelector"], json!({}));
    assert_eq!(deny["spec"]["policyTypes"], json!(["Ingress"]));
    assert!(deny["spec"]["ingress"].is_null());
    let app = r
        .find("NetworkPolicy", "userscale-app-from-scaler")
        .unwrap();
    let scaler = r.find("Deployment", "userscale-scaler").unwrap();
    let workload = r.find("Deployment", "userscale-app").unwrap();
    assert_eq!(
        app["spec"]["podSelector"]["matchLabels"],
        workload["spec"]["selector"]["matchLabels"]
    );
    assert_eq!(
        app["spec"]["ingress"],
        json!([{
            "from": [{"podSelector": {"matchLabels": scaler["spec"]["selector"]["matchLabels"]}}],
            "ports": [{"protocol": "TCP", "port": bench::k8s::WORKLOAD_PORT}],
        }])
    );
    let s = r.find("NetworkPolicy", "scaler-from-api-server").unwrap();
    assert_eq!(
        s["spec"]["podSelector"]["matchLabels"],
        scaler["spec"]["selector"]["matchLabels"]
    );
    assert_eq!(s["spec"]["ingress"], json!([]));
    // The hpa arm's pods are reached by port-forward only: no policy opens them.
    for o in r.objects.iter().filter(|o| o["kind"] == "NetworkPolicy") {
        assert_ne!(o["spec"]["podSelector"]["matchLabels"]["app"], "hpa-app");
    }
}

/// An `images` entry pins a container's image by digest (or retags it), as
/// kustomize's image transformer does; a malformed digest is refused.
#[test]
fn images_in_the_kustomization_pin_containers_by_digest() {
    let dir = tempfile::tempdir().unwrap();
    let src = repo().join("k8s/base");
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
    }
    let k = dir.path().join("kustomization.yaml");
    let text = std::fs::read_to_string(&k).unwrap();
    let digest = format!("sha256:{}", "ab".repeat(32));
    std::fs::write(
        &k,
        format!("{text}images:\n  - name: userscale/workload\n    digest: {digest}\n  - name: userscale/scaler\n    newName: images.test/scaler\n    newTag: \"0.2.0\"\n"),
    )
    .unwrap();
    let r = manifests::render(dir.path()).unwrap();
    let image = |name: &str| {
        r.find("Deployment", name).unwrap()["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(image("hpa-app"), format!("userscale/workload@{digest}"));
    assert_eq!(
        image("userscale-app"),
        format!("userscale/workload@{digest}")
    );
    assert_eq!(image("userscale-scaler"), "images.test/scaler:0.2.0");
    std::fs::write(
        &k,
        format!("{text}images:\n  - name: userscale/workload\n    digest: sha256:123\n"),
    )
    .unwrap();
    let err = manifests::render(dir.path()).unwrap_err().to_string();
    assert!(err.contains("images[0].digest"), "{err}");
}
