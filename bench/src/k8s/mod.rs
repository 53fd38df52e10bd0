//! The Kubernetes backend: trials on a real cluster (k3s with the NVIDIA
//! GPU Operator, or any cluster running `k8s/base`).
//!
//! Each trial:
//!
//! 1. **Reset.** Both controllers stop (the HPA object is deleted, the
//!    scaler Deployment goes to 0), the other arm goes to 0 replicas, and
//!    this arm to the scenario's `min_replicas`. The bench waits until
//!    exactly that many pods are Ready, none is terminating and none has a
//!    request in flight, then `settle_s`.
//! 2. **Controller on.** The HPA arm gets a fresh HorizontalPodAutoscaler
//!    built from the campaign's policy (no stabilisation history carries
//!    over); the UserScale arm gets the campaign's policy in the scaler's
//!    ConfigMap and a freshly started scaler pod.
//! 3. **Load.** The seed's schedule (the same as on every backend) goes to
//!    the arm through per-pod port-forwards or a given Service URL.
//! 4. **Observation.** Watches on the Deployment and its pods; once a
//!    second the pods' CPU from metrics.k8s.io and their `/metrics.json`
//!    through the API server's pod proxy; the HPA's status.
//! 5. **Records.** Replica changes from the Deployment watch, with the
//!    reason from the HPA's or the scaler's Events; the scaler's own
//!    decisions from its `/decisions`; the HPA's status changes as its
//!    decisions. Then the arm's controller stops again.
//!
//! The result is the same [`TrialRecords`] the other backends produce.

pub mod forward;
pub mod manifests;
pub mod observe;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client};
use scaler::cluster::controller::DecisionLog;
use scaler::cluster::kube_api::{self, Backoff};
use scaler::cluster::unix_s;
use scaler::PolicyConfig;
use serde::Serialize;
use serde_json::json;

use crate::campaign::{Campaign, TrialPlan};
use crate::local::loadgen::{self, LiveLatency, Target};
use crate::record::{DecisionRecord, PodRecord, ScalingEvent, TrialRecords};
use crate::trial::sampler::{PodNow, PodReading, Sampler};
use crate::{Error, Result};
use observe::Tracker;

/// Names of the objects in `k8s/base` the backend drives.
pub const HPA_NAME: &str = "hpa-app";
/// The scaler's Deployment.
pub const SCALER_DEPLOYMENT: &str = "userscale-scaler";
/// The scaler's policy ConfigMap.
pub const SCALER_CONFIG_MAP: &str = "userscale-policy";
/// The scaler's Service (port 8080: `/decisions`).
pub const SCALER_SERVICE: &str = "userscale-scaler:8080";
/// The workload's port.
pub const WORKLOAD_PORT: u16 = 8000;

/// How the k8s backend reaches and drives the cluster.
#[derive(Clone, Debug, Serialize)]
pub struct K8sOptions {
    /// Kubeconfig context (default: the current one).
    pub context: Option<String>,
    /// The kustomize base (`k8s/base`).
    pub manifests: PathBuf,
    /// Service URL per arm controller (`hpa`, `userscale`); arms without
    /// one get per-pod port-forwards.
    pub service_urls: BTreeMap<String, String>,
    /// Longest wait for a reset or a rollout, seconds.
    pub ready_timeout_s: f64,
    /// Idle time after the reset, before the controller starts.
    pub settle_s: f64,
    /// Field manager of the bench's writes.
    pub field_manager: String,
}

impl Default for K8sOptions {
    fn default() -> Self {
        K8sOptions {
            context: None,
            manifests: PathBuf::from("k8s/base"),
            service_urls: BTreeMap::new(),
            ready_timeout_s: 300.0,
            settle_s: 5.0,
            field_manager: "userscale-bench".into(),
        }
    }
}

/// A reachable cluster.
#[derive(Clone)]
pub struct Connection {
    /// The client.
    pub client: Client,
    /// Kubeconfig context used (`in-cluster` inside a pod).
    pub context: String,
    /// API server URL.
    pub server: String,
    /// `gitVersion` of the API server.
    pub version: String,
}

fn unreachable_cluster(context: &str, detail: &str) -> Error {
    Error::Cluster(format!(
        "no reachable Kubernetes cluster: {context}: {detail}\n  \
         check it with `kubectl{} get nodes`, or run without a cluster: \
         `--backend sim` (the embedded simulator) or `--backend local` (workload processes on this machine)",
        if context.starts_with("kubeconfig context `") {
            context
                .trim_start_matches("kubeconfig context `")
                .split('`')
                .next()
                .map(|c| format!(" --context {c}"))
                .unwrap_or_default()
        } else {
            String::new()
        }
    ))
}

/// Connects with the kubeconfig (`KUBECONFIG` or `~/.kube/config`) and
/// `context` (default: its current context), or the in-cluster service
/// account when there is no kubeconfig, and checks that the API server
/// answers within 10 s.
pub async fn connect(context: Option<&str>) -> Result<Connection> {
    let (config, name) = match Kubeconfig::read() {
        Ok(kc) => {
            let name = context
                .map(str::to_owned)
                .or_else(|| kc.current_context.clone())
                .unwrap_or_default();
            let label = format!("kubeconfig context `{name}`");
            if name.is_empty() {
                return Err(unreachable_cluster(
                    "kubeconfig",
                    "no current context and no --context given",
                ));
            }
            let options = KubeConfigOptions {
                context: Some(name.clone()),
                ..KubeConfigOptions::default()
            };
            let config = kube::Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| unreachable_cluster(&label, &e.to_string()))?;
            (config, name)
        }
        Err(read_error) => {
            if context.is_some() || std::env::var_os("KUBERNETES_SERVICE_HOST").is_none() {
                let which = std::env::var("KUBECONFIG").unwrap_or_else(|_| "~/.kube/config".into());
                return Err(unreachable_cluster(
                    &format!("kubeconfig context `{}`", context.unwrap_or("(current)")),
                    &format!("cannot read the kubeconfig {which}: {read_error}"),
                ));
            }
            let config = kube::Config::incluster()
                .map_err(|e| unreachable_cluster("in-cluster config", &e.to_string()))?;
            (config, "in-cluster".to_owned())
        }
    };
    let label = format!("kubeconfig context `{name}` ({})", config.cluster_url);
    let server = config.cluster_url.to_string();
    let client =
        Client::try_from(config).map_err(|e| unreachable_cluster(&label, &e.to_string()))?;
    let version =
        match tokio::time::timeout(Duration::from_secs(10), client.apiserver_version()).await {
            Ok(Ok(v)) => v.git_version,
            Ok(Err(e)) => return Err(unreachable_cluster(&label, &e.to_string())),
            Err(_) => return Err(unreachable_cluster(&label, "no answer within 10 s")),
        };
    Ok(Connection {
        client,
        context: name,
        server,
        version,
    })
}

/// `bench deploy`: applies every object of the base server-side, then waits
/// until each Deployment has rolled out.
pub async fn deploy(
    conn: &Connection,
    opts: &K8sOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<()> {
    let rendered = manifests::render(&opts.manifests)?;
    for o in &rendered.objects {
        manifests::apply(&conn.client, o, &opts.field_manager).await?;
        progress(&format!(
            "applied {}/{}",
            o["kind"].as_str().unwrap_or_default(),
            o["metadata"]["name"].as_str().unwrap_or_default()
        ));
    }
    let deployments: Api<Deployment> = Api::namespaced(conn.client.clone(), &rendered.namespace);
    let deadline = Instant::now() + Duration::from_secs_f64(opts.ready_timeout_s);
    for o in rendered
        .objects
        .iter()
        .filter(|o| o["kind"] == "Deployment")
    {
        let name = o["metadata"]["name"].as_str().unwrap_or_default();
        // The arms leave `replicas` to their controllers; a campaign leaves
        // the arm it ran last on and the other at 0. Back to the base's 1.
        if o["spec"]["replicas"].is_null() {
            let now = kube_api::get_scale(&deployments, name, &Backoff::default())
                .await
                .map_err(cluster_err)?;
            if now == 0 {
                kube_api::patch_scale(
                    &deployments,
                    name,
                    1,
                    &opts.field_manager,
                    &Backoff::default(),
                )
                .await
                .map_err(cluster_err)?;
                progress(&format!("deployment {name}: scaled from 0 to 1"));
            }
        }
        loop {
            let d = deployments
                .get(name)
                .await
                .map_err(|e| Error::Cluster(format!("get deployment {name}: {e}")))?;
            let (done, line) = rollout_status(&d);
            if done {
                progress(&format!("deployment {name}: {line}"));
                break;
            }
            if Instant::now() > deadline {
                return Err(Error::Cluster(format!(
                    "deployment {name} not rolled out within {} s: {line} (see `kubectl -n {} describe deployment {name}`)",
                    opts.ready_timeout_s, rendered.namespace
                )));
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    Ok(())
}

/// Checks that the base is on the cluster: every Deployment it names
/// exists (`bench deploy` puts them there).
pub async fn check_deployed(conn: &Connection, manifests: &std::path::Path) -> Result<()> {
    let rendered = manifests::render(manifests)?;
    let deployments: Api<Deployment> = Api::namespaced(conn.client.clone(), &rendered.namespace);
    for o in rendered
        .objects
        .iter()
        .filter(|o| o["kind"] == "Deployment")
    {
        let name = o["metadata"]["name"].as_str().unwrap_or_default();
        match deployments.get_opt(name).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(Error::Cluster(format!(
                    "deployment {}/{name} is not on the cluster (context `{}`): run `bench deploy` (`just deploy`) first",
                    rendered.namespace, conn.context
                )))
            }
            Err(e) => {
                return Err(Error::Cluster(format!(
                    "get deployment {}/{name}: {e}",
                    rendered.namespace
                )))
            }
        }
    }
    Ok(())
}

/// Whether a Deployment has rolled out, and a line saying how far it is.
pub fn rollout_status(d: &Deployment) -> (bool, String) {
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let st = d.status.clone().unwrap_or_default();
    let observed = st.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0);
    let updated = st.updated_replicas.unwrap_or(0);
    let available = st.available_replicas.unwrap_or(0);
    let total = st.replicas.unwrap_or(0);
    let done = observed && updated == want && available == want && total == want;
    (
        done,
        format!("{available}/{want} available, {updated} updated, {total} in all"),
    )
}

/// The objects one arm's trials act on.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ArmTarget {
    /// `hpa` or `userscale`.
    pub controller: &'static str,
    /// The workload Deployment.
    pub deployment: String,
    /// Its pods' label selector.
    pub selector: String,
}

impl ArmTarget {
    /// The base's Deployment for a policy's controller kind.
    pub fn for_policy(p: &PolicyConfig) -> ArmTarget {
        let controller = p.name();
        ArmTarget {
            controller,
            deployment: format!("{controller}-app"),
            selector: format!("app={controller}-app"),
        }
    }

    /// The other arm's target.
    pub fn other(&self) -> ArmTarget {
        let p = if self.controller == "hpa" {
            PolicyConfig::original_userscale()
        } else {
            PolicyConfig::original_hpa()
        };
        ArmTarget::for_policy(&p)
    }
}

fn cluster_err(e: scaler::cluster::ClusterError) -> Error {
    Error::Cluster(e.to_string())
}

/// Step 1's writes: both controllers off, the other arm at 0, this arm at
/// `min`. Reading back the state is [`wait_reset`]'s.
pub async fn reset(
    client: &Client,
    ns: &str,
    arm: &ArmTarget,
    min: u32,
    field_manager: &str,
    backoff: &Backoff,
) -> Result<()> {
    delete_hpa(client, ns).await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let other = arm.other();
    for (name, n) in [
        (SCALER_DEPLOYMENT, 0),
        (other.deployment.as_str(), 0),
        (arm.deployment.as_str(), min),
    ] {
        kube_api::patch_scale(&deployments, name, n, field_manager, backoff)
            .await
            .map_err(cluster_err)?;
    }
    Ok(())
}

/// Waits until the arm has exactly `min` pods, all Ready, none
/// terminating, and none with a request in flight, and the other arm's
/// pods are gone (they would hold GPU time-slices).
pub async fn wait_reset(
    client: &Client,
    ns: &str,
    arm: &ArmTarget,
    min: u32,
    timeout_s: f64,
    stop: &AtomicBool,
) -> Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let other = arm.other();
    let what = format!("{}: not reset", arm.deployment);
    let hint = format!("see `kubectl -n {ns} get pods -l {}`", arm.selector);
    poll_until(&what, &hint, timeout_s, stop, || async {
        // Failed and Succeeded pods (evicted, rejected at admission) hold
        // nothing and wait for garbage collection.
        let live = live_pods(&pods, &arm.selector).await?;
        let serving: Vec<String> = live
            .iter()
            .filter(|p| scaler::cluster::pod_serving(p))
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        let others = live_pods(&pods, &other.selector).await?.len();
        let status = format!(
            "{} pods, {} ready, want {min} ready and no other; {others} {} pods left",
            live.len(),
            serving.len(),
            other.deployment
        );
        if live.len() != min as usize || serving.len() != min as usize || others != 0 {
            return Ok(Some(status));
        }
        let reading = observe::read_once(client, ns, &arm.selector, &serving, WORKLOAD_PORT).await;
        let busy: u64 = reading
            .metrics
            .values()
            .map(|m| m.concurrent_requests)
            .sum();
        if reading.metrics.len() == serving.len() && busy == 0 {
            return Ok(None);
        }
        Ok(Some(format!(
            "{status}; /metrics.json from {} of {} pods, {busy} requests in them",
            reading.metrics.len(),
            serving.len()
        )))
    })
    .await
}

/// The selector's pods that have not ended (phase Failed or Succeeded).
async fn live_pods(pods: &Api<Pod>, selector: &str) -> Result<Vec<Pod>> {
    let list = pods
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(|e| Error::Cluster(format!("list pods -l {selector}: {e}")))?;
    Ok(list
        .items
        .into_iter()
        .filter(|p| !scaler::cluster::pod_finished(p))
        .collect())
}

/// Checks once a second until `check` answers `None` (done); `Some(status)`
/// says how far it is. Past `timeout_s` the error is `what`, the last
/// status and `hint`.
async fn poll_until<F, Fut>(
    what: &str,
    hint: &str,
    timeout_s: f64,
    stop: &AtomicBool,
    mut check: F,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<String>>>,
{
    let deadline = Instant::now() + Duration::from_secs_f64(timeout_s);
    loop {
        if stop.load(Ordering::SeqCst) {
            return Err(Error::Interrupted);
        }
        let Some(status) = check().await? else {
            return Ok(());
        };
        if Instant::now() > deadline {
            return Err(Error::Cluster(format!(
                "{what} within {timeout_s} s ({status}); {hint}"
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Waits until metrics.k8s.io's CPU reading of every pod of the arm covers
/// only time after `idle_at`, so a fresh HPA cannot act on the previous
/// trial's load. Without a metrics API it returns at once (the trial then
/// records `cpu_source = "unavailable"`).
async fn wait_cpu_window(
    client: &Client,
    ns: &str,
    arm: &ArmTarget,
    idle_at: f64,
    timeout_s: f64,
    stop: &AtomicBool,
) -> Result<()> {
    let what = format!(
        "{}: metrics.k8s.io reported no CPU window after the idle point",
        arm.deployment
    );
    let hint = format!("see `kubectl -n {ns} top pods`");
    poll_until(&what, &hint, timeout_s, stop, || async {
        Ok(
            match observe::pod_cpu_windows(client, ns, &arm.selector).await {
                None => None,
                Some(w) if !w.is_empty() && w.values().all(|start| *start >= idle_at) => None,
                Some(w) => Some(format!(
                    "{} of {} windows after it",
                    w.values().filter(|start| **start >= idle_at).count(),
                    w.len()
                )),
            },
        )
    })
    .await
}

/// Deletes the HPA object; one already gone is fine.
async fn delete_hpa(client: &Client, ns: &str) -> Result<()> {
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), ns);
    match hpas.delete(HPA_NAME, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(Error::Cluster(format!(
            "delete horizontalpodautoscaler/{HPA_NAME}: {e}"
        ))),
    }
}

/// Step 2: the arm's controller, fresh. Returns what it runs (for the
/// trial's facts).
pub async fn start_controller(
    client: &Client,
    ns: &str,
    policy: &PolicyConfig,
    arm: &ArmTarget,
    field_manager: &str,
    backoff: &Backoff,
) -> Result<serde_json::Value> {
    match policy {
        PolicyConfig::Hpa(c) => {
            let obj = manifests::hpa_object(ns, HPA_NAME, &arm.deployment, c);
            manifests::apply(client, &obj, field_manager).await?;
            Ok(obj)
        }
        PolicyConfig::Userscale(_) => {
            let cm = manifests::policy_config_map(ns, SCALER_CONFIG_MAP, policy)?;
            manifests::apply(client, &cm, field_manager).await?;
            let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
            kube_api::patch_scale(&deployments, SCALER_DEPLOYMENT, 1, field_manager, backoff)
                .await
                .map_err(cluster_err)?;
            Ok(cm)
        }
    }
}

/// Waits for one Ready scaler pod (none terminating: the old one is gone,
/// so the new one read the new policy).
async fn wait_scaler(client: &Client, ns: &str, timeout_s: f64, stop: &AtomicBool) -> Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let hint = format!("see `kubectl -n {ns} logs deploy/{SCALER_DEPLOYMENT}`");
    poll_until(
        "the scaler is not ready",
        &hint,
        timeout_s,
        stop,
        || async {
            let live = live_pods(&pods, "app=userscale-scaler").await?;
            let ready = live
                .iter()
                .filter(|p| scaler::cluster::pod_serving(p))
                .count();
            Ok((live.len() != 1 || ready != 1)
                .then(|| format!("{} scaler pods, {ready} ready, want exactly 1", live.len())))
        },
    )
    .await
}

/// Stops the arm's controller after a trial (HPA deleted, scaler at 0).
async fn stop_controller(
    client: &Client,
    ns: &str,
    arm: &ArmTarget,
    fm: &str,
    backoff: &Backoff,
) -> Result<()> {
    if arm.controller == "hpa" {
        delete_hpa(client, ns).await
    } else {
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
        kube_api::patch_scale(&deployments, SCALER_DEPLOYMENT, 0, fm, backoff)
            .await
            .map_err(cluster_err)
    }
}

/// Stops a trial's background work however the trial ends: the load
/// generator's flag, the watches and the port-forward listeners.
struct TrialGuard {
    load_stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    forwards: Option<Arc<forward::PortForwards>>,
}

impl Drop for TrialGuard {
    fn drop(&mut self) {
        self.load_stop.store(true, Ordering::SeqCst);
        for t in &self.tasks {
            t.abort();
        }
        if let Some(f) = &self.forwards {
            f.close();
        }
    }
}

/// Facts about a k8s trial stored in its `params_json` under `k8s`.
#[derive(Clone, Debug, Serialize)]
pub struct K8sFacts {
    /// Kubeconfig context.
    pub context: String,
    /// API server.
    pub server: String,
    /// Its version.
    pub server_version: String,
    /// Namespace.
    pub namespace: String,
    /// Arm objects.
    pub arm: ArmTarget,
    /// `port-forward` or the Service URL.
    pub load_target: String,
    /// The controller object the trial ran (HPA or the scaler's ConfigMap).
    pub controller_object: serde_json::Value,
    /// The workload container as deployed (image, resources, env).
    pub workload_container: serde_json::Value,
    /// Nodes the arm's pods ran on.
    pub nodes: Vec<String>,
    /// Where `cpu_cores` came from: `metrics.k8s.io`, or `unavailable`
    /// when the metrics API never answered (then CPU reads 0).
    pub cpu_source: String,
    /// Where `gpu_util` came from (the pods' `gpu_utilization_source`).
    pub gpu_utilization_source: String,
    /// The scaler's failed ticks during the trial (UserScale arm; `None`
    /// for the HPA or when its `/metrics` did not answer).
    pub scaler_tick_failures: Option<f64>,
    /// What the campaign's scenario sets that the cluster decides instead.
    pub notes: Vec<String>,
}

fn now_unix() -> f64 {
    unix_s(&Timestamp::now())
}

/// Runs one planned trial on the cluster.
pub async fn run_trial(
    conn: &Connection,
    c: &Campaign,
    plan: &TrialPlan,
    opts: &K8sOptions,
    stop: &Arc<AtomicBool>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(TrialRecords, K8sFacts)> {
    let client = &conn.client;
    let rendered = manifests::render(&opts.manifests)?;
    let ns = rendered.namespace.clone();
    let spec = &c.scenarios[plan.scenario].spec;
    let profile = c.profile(plan.profile);
    let policy = c
        .policy(&plan.arm, plan.scenario)
        .ok_or_else(|| Error::Dataset(format!("no arm `{}`", plan.arm)))?;
    let arm = ArmTarget::for_policy(&policy);
    let backoff = Backoff::default();
    let fm = opts.field_manager.as_str();
    let duration = c.file.duration_s;

    progress("reset: controllers off, arm to min");
    reset(client, &ns, &arm, spec.min_replicas, fm, &backoff).await?;
    wait_reset(
        client,
        &ns,
        &arm,
        spec.min_replicas,
        opts.ready_timeout_s,
        stop,
    )
    .await?;
    let idle_at = now_unix();
    progress("idle: waiting for metrics-server's CPU window to start after the idle point");
    wait_cpu_window(client, &ns, &arm, idle_at, opts.ready_timeout_s, stop).await?;
    tokio::time::sleep(Duration::from_secs_f64(opts.settle_s)).await;
    progress("controller on");
    // From here on the controller may be running: whatever happens, it is
    // stopped before the trial returns.
    let result: Result<(TrialRecords, K8sFacts)> = async {
        let controller_object = start_controller(client, &ns, &policy, &arm, fm, &backoff).await?;
        if arm.controller == "userscale" {
            wait_scaler(client, &ns, opts.ready_timeout_s, stop).await?;
        }
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
        let live = deployments
            .get(&arm.deployment)
            .await
            .map_err(|e| Error::Cluster(format!("get deployment {}: {e}", arm.deployment)))?;
        let workload_container = live
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|s| s.containers.first())
            .map(|ctr| json!({"image": ctr.image, "resources": ctr.resources, "env": ctr.env}))
            .unwrap_or_default();

        // Watches from before t0, so the pods already there are known.
        let tracker = Arc::new(Mutex::new(Tracker::default()));
        let pods_api: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let watch_pods = {
            let tracker = Arc::clone(&tracker);
            let cfg = watcher::Config::default().labels(&arm.selector);
            let stream = watcher(pods_api.clone(), cfg).default_backoff();
            tokio::spawn(async move {
                let mut stream = std::pin::pin!(stream);
                while let Some(ev) = stream.next().await {
                    let now = now_unix();
                    let mut t = tracker.lock().unwrap_or_else(|e| e.into_inner());
                    match ev {
                        Ok(watcher::Event::Init) => t.relist_begin(),
                        Ok(watcher::Event::InitApply(p)) => t.relist_pod(&p, now),
                        Ok(watcher::Event::InitDone) => t.relist_done(now),
                        Ok(watcher::Event::Apply(p)) => t.pod(&p, now),
                        Ok(watcher::Event::Delete(p)) => {
                            if let Some(n) = &p.metadata.name {
                                t.pod_gone(n, now);
                            }
                        }
                        Err(e) => eprintln!("bench: pod watch: {e} (retrying)"),
                    }
                }
            })
        };
        let watch_deploy = {
            let tracker = Arc::clone(&tracker);
            let cfg = watcher::Config::default().fields(&format!("metadata.name={}", arm.deployment));
            let stream = watcher(deployments.clone(), cfg).default_backoff();
            tokio::spawn(async move {
                let mut stream = std::pin::pin!(stream);
                while let Some(ev) = stream.next().await {
                    let now = now_unix();
                    match ev {
                        Ok(watcher::Event::Apply(d) | watcher::Event::InitApply(d)) => tracker
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .deployment(&d, now),
                        Ok(_) => {}
                        Err(e) => eprintln!("bench: deployment watch: {e} (retrying)"),
                    }
                }
            })
        };
        let mut guard = TrialGuard {
            load_stop: Arc::new(AtomicBool::new(false)),
            tasks: vec![watch_pods, watch_deploy],
            forwards: None,
        };
        // The watches' initial lists.
        let settle = Instant::now() + Duration::from_secs(10);
        loop {
            let (known, replicas) = {
                let t = tracker.lock().unwrap_or_else(|e| e.into_inner());
                (t.serving().len(), t.spec_replicas)
            };
            if (known >= spec.min_replicas as usize && replicas.is_some()) || Instant::now() > settle {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        let load_target_desc;
        let forwards: Option<Arc<forward::PortForwards>>;
        let target: Arc<dyn Target> = match opts.service_urls.get(arm.controller) {
            Some(url) => {
                load_target_desc = url.clone();
                forwards = None;
                Arc::new(forward::ServiceUrl(forward::parse_service_url(url)?))
            }
            None => {
                load_target_desc = "port-forward".into();
                let f = Arc::new(forward::PortForwards::new(
                    pods_api.clone(),
                    WORKLOAD_PORT,
                    crate::route::Router::new(spec.sim.routing, plan.seed),
                ));
                let serving = tracker.lock().unwrap_or_else(|e| e.into_inner()).serving();
                f.set_ready(&serving).await?;
                forwards = Some(Arc::clone(&f));
                f
            }
        };

        guard.forwards.clone_from(&forwards);
        let t0 = Instant::now();
        let t0_unix = now_unix();
        let live_lat = Arc::new(LiveLatency::default());
        let load = {
            let (profile, seed, stop, live_lat) = (
                profile.clone(),
                plan.seed,
                Arc::clone(&guard.load_stop),
                Arc::clone(&live_lat),
            );
            std::thread::spawn(move || {
                loadgen::replay(&profile, seed, duration, t0, target, &stop, Some(live_lat))
            })
        };

        // The sampler, once a second, in this task.
        let mut out = TrialRecords::default();
        let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), &ns);
        let mut last_hpa: Option<serde_json::Value> = None;
        let mut cpu_seen = false;
        let cpu_request_m = workload_container["resources"]["requests"]["cpu"]
            .as_str()
            .and_then(scaler::cluster::cpu_millicores)
            .unwrap_or(f64::from(spec.pod.cpu_request_m));
        let mut sampler = Sampler::new(cpu_request_m);
        let mut k = 1u32;
        while f64::from(k) <= duration && !stop.load(Ordering::SeqCst) {
            tokio::time::sleep_until((t0 + Duration::from_secs(u64::from(k))).into()).await;
            if stop.load(Ordering::SeqCst) {
                guard.load_stop.store(true, Ordering::SeqCst);
                break;
            }
            let t_s = f64::from(k);
            let snapshot = tracker.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let serving = snapshot.serving();
            if let Some(f) = &forwards {
                f.set_ready(&serving).await?;
            }
            let names: Vec<String> = serving.iter().map(|(n, _)| n.clone()).collect();
            let reading = observe::read_once(client, &ns, &arm.selector, &names, WORKLOAD_PORT).await;
            cpu_seen |= reading.cpu_m.is_some();
            let readings: Vec<PodReading<'_>> = snapshot
                .pods
                .iter()
                .filter(|p| p.exited.is_none())
                .map(|p| PodReading {
                    pod: p.num,
                    now: PodNow::of(p.deleted.is_some(), p.serving, p.started.is_some()),
                    cpu_cores: reading
                        .cpu_m
                        .as_ref()
                        .and_then(|m| m.get(&p.name))
                        .map(|m| m / 1000.0),
                    metrics: reading.metrics.get(&p.name),
                })
                .collect();
            let desired = snapshot.spec_replicas.unwrap_or(0);
            let second = sampler.second(t_s, desired, &readings, reading.gpu);
            progress(&second.progress_line(live_lat.p95(Instant::now(), Duration::from_secs(10))));
            if arm.controller == "hpa" {
                let read = Duration::from_millis(800);
                if let Ok(Ok(h)) = tokio::time::timeout(read, hpas.get(HPA_NAME)).await {
                    if let Some((d, status)) = hpa_decision(&h, t_s, last_hpa.as_ref()) {
                        last_hpa = Some(status);
                        out.decisions.push(d);
                    }
                }
            }
            k += 1;
        }
        if stop.load(Ordering::SeqCst) {
            guard.load_stop.store(true, Ordering::SeqCst);
        }
        let gpu_source = sampler.gpu_source().to_string();
        sampler.finish(&mut out);

        let requests = tokio::task::spawn_blocking(move || load.join())
            .await
            .map_err(|_| Error::Cluster("load generator task failed".into()))?
            .map_err(|_| Error::Cluster("load generator thread panicked".into()))??;
        // Decisions and replica changes count up to the trial's end, as on
        // the other backends (the load may run on for its last answers).
        let end_unix = (t0_unix + duration).min(now_unix());
        drop(guard);
        if stop.load(Ordering::SeqCst) {
            let _ = stop_controller(client, &ns, &arm, fm, &backoff).await;
            return Err(Error::Interrupted);
        }

        // Decisions and reasons recorded by the controllers (before the
        // scaler stops: its decisions live in its memory).
        let events: Api<Event> = Api::namespaced(client.clone(), &ns);
        let evs = events
            .list(&ListParams::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        let reasons = rescale_reasons(&evs, &arm, t0_unix, end_unix);
        let (scaler_log, scaler_failures) = if arm.controller == "userscale" {
            scaler_record(client, &ns, t0_unix, end_unix).await?
        } else {
            (Vec::new(), None)
        };
        for d in &scaler_log {
            out.decisions.push(DecisionRecord::from_decision(
                d.unix_s - t0_unix,
                &d.decision,
            ));
        }
        stop_controller(client, &ns, &arm, fm, &backoff).await?;
        let snapshot = tracker.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for &(at, from, to) in &snapshot.replica_changes {
            if at < t0_unix || at > end_unix {
                continue;
            }
            let reason = scaler_log
                .iter()
                .filter(|d| {
                    d.patched && d.decision.desired_replicas == to && (d.unix_s - at).abs() < 5.0
                })
                .map(|d| d.decision.reason.clone())
                .next()
                .or_else(|| nearest_reason(&reasons, at, to))
                .unwrap_or_else(|| "Observed: spec.replicas changed (no matching Event found)".into());
            out.scaling_events.push(ScalingEvent {
                t_s: at - t0_unix,
                from,
                to,
                controller: arm.controller.to_owned(),
                reason,
            });
        }
        crate::local::fill_counts(&mut out, &requests);
        out.requests = requests;
        out.pods = snapshot
            .pods
            .iter()
            .map(|p| PodRecord {
                pod: p.num,
                name: p.name.clone(),
                node: p.node.clone(),
                // Time-slices do not say which physical GPU a pod got.
                gpu: None,
                created_s: p.created - t0_unix,
                scheduled_s: p.scheduled.map(|x| x - t0_unix),
                started_s: p.started.map(|x| x - t0_unix),
                ready_s: p.ready.map(|x| x - t0_unix),
                deleted_s: p.deleted.map(|x| x - t0_unix),
                exited_s: p.exited.map(|x| x - t0_unix),
                restarts: p.restarts,
                // The kubelet's probe ticker is the cluster's; not observed.
                probe_phase_s: None,
            })
            .collect();
        let mut nodes: Vec<String> = snapshot
            .pods
            .iter()
            .filter_map(|p| p.node.clone())
            .collect();
        nodes.sort();
        nodes.dedup();
        let facts = K8sFacts {
            context: conn.context.clone(),
            server: conn.server.clone(),
            server_version: conn.version.clone(),
            namespace: ns.clone(),
            arm: arm.clone(),
            load_target: load_target_desc,
            controller_object,
            workload_container,
            nodes,
            cpu_source: if cpu_seen { "metrics.k8s.io" } else { "unavailable" }.into(),
            gpu_utilization_source: gpu_source,
            scaler_tick_failures: scaler_failures,
            notes: vec![
                "pod resources, workers, queue and probes come from the deployed manifests (workload_container), not the scenario's pod settings".into(),
                "the HPA's sync period, tolerance, CPU initialisation period and readiness delay are kube-controller-manager flags of the cluster".into(),
                "cpu_cores is metrics.k8s.io's windowed usage (what the HPA reads), not a per-second rate".into(),
            ],
        };
        Ok((out, facts))
    }
    .await;
    if result.is_err() {
        if let Err(e) = stop_controller(client, &ns, &arm, fm, &backoff).await {
            eprintln!(
                "bench: could not stop the {} controller: {e}",
                arm.controller
            );
        }
    }
    result
}

/// The scaler's decisions within the trial, from its `/decisions`, and its
/// failed ticks (its `/metrics`; it started with the trial). A scaler that
/// decided nothing fails the trial: a UserScale arm without its controller
/// is not a UserScale trial.
async fn scaler_record(
    client: &Client,
    ns: &str,
    from: f64,
    to: f64,
) -> Result<(Vec<DecisionLog>, Option<f64>)> {
    let base = format!("/api/v1/namespaces/{ns}/services/{SCALER_SERVICE}/proxy");
    let get = |path: String| {
        http::Request::get(format!("{base}{path}"))
            .body(Vec::new())
            .map_err(|e| Error::Cluster(format!("scaler request: {e}")))
    };
    let log: Vec<DecisionLog> = client
        .request(get(format!("/decisions?since={from}"))?)
        .await
        .map_err(|e| Error::Cluster(format!("reading the scaler's /decisions: {e}")))?;
    let log: Vec<DecisionLog> = log.into_iter().filter(|d| d.unix_s <= to).collect();
    let failures = match client.request_text(get("/metrics".into())?).await {
        Ok(text) => text
            .lines()
            .find_map(|l| l.strip_prefix("userscale_scaler_tick_failures_total "))
            .and_then(|v| v.trim().parse().ok()),
        Err(_) => None,
    };
    if log.is_empty() {
        return Err(Error::Cluster(format!(
            "the scaler made no decision during the trial ({} failed ticks); see `kubectl -n {ns} logs deploy/{SCALER_DEPLOYMENT}`",
            failures.map_or("?".to_string(), |f: f64| f.to_string())
        )));
    }
    Ok((log, failures))
}

/// A DecisionRecord for the HPA when its status changed since `last`, with
/// the status (as JSON) to compare the next one with.
fn hpa_decision(
    h: &HorizontalPodAutoscaler,
    t_s: f64,
    last: Option<&serde_json::Value>,
) -> Option<(DecisionRecord, serde_json::Value)> {
    let st = h.status.as_ref()?;
    let v = serde_json::to_value(st).ok()?;
    if last == Some(&v) {
        return None;
    }
    let reason = st
        .conditions
        .iter()
        .flatten()
        .filter(|c| {
            c.type_ == "AbleToScale" || c.type_ == "ScalingActive" || c.type_ == "ScalingLimited"
        })
        .map(|c| {
            format!(
                "{}={} {}: {}",
                c.type_,
                c.status,
                c.reason.as_deref().unwrap_or(""),
                c.message.as_deref().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let record = DecisionRecord {
        t_s,
        controller: "hpa".into(),
        current: u32::try_from(st.current_replicas.unwrap_or(0)).unwrap_or(0),
        desired: u32::try_from(st.desired_replicas).unwrap_or(0),
        reason: if reason.is_empty() {
            "HpaStatus".into()
        } else {
            reason
        },
        inputs_json:
            json!({"current_metrics": st.current_metrics, "last_scale_time": st.last_scale_time})
                .to_string(),
    };
    Some((record, v))
}

/// (Unix seconds, reason, note) of the Events about the arm's Deployment or
/// its HPA within the trial.
fn rescale_reasons(
    evs: &[Event],
    arm: &ArmTarget,
    from: f64,
    to: f64,
) -> Vec<(f64, String, String)> {
    evs.iter()
        .filter(|e| {
            e.regarding
                .as_ref()
                .and_then(|r| r.name.as_deref())
                .is_some_and(|n| n == arm.deployment || (arm.controller == "hpa" && n == HPA_NAME))
        })
        .filter_map(|e| {
            let at = e
                .event_time
                .as_ref()
                .map(|t| unix_s(&t.0))
                .or_else(|| e.deprecated_last_timestamp.as_ref().map(|t| unix_s(&t.0)))
                .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| unix_s(&t.0)))?;
            (at >= from - 1.0 && at <= to + 1.0).then(|| {
                (
                    at,
                    e.reason.clone().unwrap_or_default(),
                    e.note.clone().unwrap_or_default(),
                )
            })
        })
        .collect()
}

/// The reason of the Event nearest to `at` (within 5 s) that announces a
/// rescale to `to` ("New size: N" from the HPA, "-> N replicas" from the
/// scaler).
fn nearest_reason(reasons: &[(f64, String, String)], at: f64, to: u32) -> Option<String> {
    reasons
        .iter()
        .filter(|(t, reason, note)| {
            (t - at).abs() < 5.0
                && (note.contains(&format!("New size: {to};"))
                    || note.contains(&format!("-> {to} replicas"))
                    || reason == "SuccessfulRescale")
        })
        .min_by(|a, b| (a.0 - at).abs().total_cmp(&(b.0 - at).abs()))
        .map(|(_, reason, note)| format!("{reason}: {note}"))
}
