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

mod connect;
mod controller;
pub mod forward;
pub mod manifests;
pub mod observe;
mod reset;
pub mod sampler;
mod watch;

pub use connect::{check_deployed, connect, deploy, rollout_status, Connection};
pub use controller::start_controller;
pub use reset::{reset, wait_reset, ArmTarget};

use contract::ControllerKind;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use scaler::cluster::kube_api::Backoff;
use scaler::cluster::unix_s;
use serde::Serialize;

use crate::campaign::Trial;
use crate::loadgen::{self, LiveLatency, Target};
use crate::record::TrialRecords;
use crate::trial::signal::Site;
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
    pub service_urls: BTreeMap<ControllerKind, String>,
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

impl K8sFacts {
    /// What every k8s trial's facts say of the cluster's own settings.
    pub const NOTES: [&'static str; 3] = [
        "pod resources, workers, queue and probes come from the deployed manifests (workload_container), not the scenario's pod settings",
        "the HPA's sync period, tolerance, CPU initialisation period and readiness delay are kube-controller-manager flags of the cluster",
        "cpu_cores is metrics.k8s.io's windowed usage (what the HPA reads), not a per-second rate",
    ];
}

fn now_unix() -> f64 {
    unix_s(&Timestamp::now())
}

/// Runs one trial on the cluster: reset, then the trial with the arm's
/// controller on, which is stopped again however the trial ends.
pub async fn run_trial(
    conn: &Connection,
    t: &Trial<'_>,
    opts: &K8sOptions,
    stop: &Arc<AtomicBool>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(TrialRecords, K8sFacts)> {
    let client = &conn.client;
    let ns = manifests::render(&opts.manifests)?.namespace;
    let min = t.spec().min_replicas;
    let arm = ArmTarget::for_policy(&t.policy);
    let (fm, backoff) = (opts.field_manager.as_str(), Backoff::default());

    progress("reset: controllers off, arm to min");
    reset(client, &ns, &arm, min, fm, &backoff).await?;
    wait_reset(client, &ns, &arm, min, opts.ready_timeout_s, stop).await?;
    let idle_at = now_unix();
    progress("idle: waiting for metrics-server's CPU window to start after the idle point");
    reset::wait_cpu_window(client, &ns, &arm, idle_at, opts.ready_timeout_s, stop).await?;
    tokio::time::sleep(Duration::from_secs_f64(opts.settle_s)).await;
    progress("controller on");
    let result = with_controller(conn, t, opts, (&ns, &arm), stop, progress).await;
    if let Err(e) = controller::stop_controller(client, &ns, &arm, fm, &backoff).await {
        if result.is_err() {
            tracing::warn!("could not stop the {} controller: {e}", arm.controller);
        } else {
            return Err(e);
        }
    }
    result
}

/// Steps 2 to 5: the controller on, the load, the samples and the records.
async fn with_controller(
    conn: &Connection,
    t: &Trial<'_>,
    opts: &K8sOptions,
    (ns, arm): (&str, &ArmTarget),
    stop: &Arc<AtomicBool>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(TrialRecords, K8sFacts)> {
    let client = &conn.client;
    let backoff = Backoff::default();
    let controller_object =
        start_controller(client, ns, &t.policy, arm, &opts.field_manager, &backoff).await?;
    if arm.controller == ControllerKind::Userscale {
        controller::wait_scaler(client, ns, opts.ready_timeout_s, stop).await?;
    }
    let workload_container = controller::workload_container(client, ns, &arm.deployment).await?;
    // Watches from before t0, so the pods already there are known.
    let tracker = Arc::new(Mutex::new(Tracker::default()));
    let mut guard = TrialGuard {
        load_stop: Arc::new(AtomicBool::new(false)),
        tasks: watch::spawn(client, ns, arm, &tracker),
        forwards: None,
    };
    watch::initial_lists(&tracker, t.spec().min_replicas).await;
    let (target, load_target) = load_target(conn, t, opts, ns, arm, &tracker, &mut guard).await?;

    let t0 = Instant::now();
    let t0_unix = now_unix();
    let live = Arc::new(LiveLatency::default());
    let load = {
        let (profile, seed, duration) = (t.profile.clone(), t.seed, t.duration_s);
        let (load_stop, live) = (Arc::clone(&guard.load_stop), Arc::clone(&live));
        std::thread::spawn(move || {
            loadgen::replay(&profile, seed, duration, t0, target, &load_stop, Some(live))
        })
    };
    let cpu_request_m = workload_container["resources"]["requests"]["cpu"]
        .as_str()
        .and_then(scaler::cluster::cpu_millicores)
        .unwrap_or(f64::from(t.spec().pod.cpu_request_m));
    let mut out = TrialRecords::default();
    let sampling = sampler::Sampling {
        client,
        ns,
        arm,
        tracker: &tracker,
        forwards: guard.forwards.as_deref(),
        live: &live,
        stop,
        progress,
    };
    let (sampler, cpu_seen) =
        sampler::run(&sampling, t0, t.duration_s, cpu_request_m, &mut out).await?;
    if stop.load(Ordering::SeqCst) {
        guard.load_stop.store(true, Ordering::SeqCst);
    }
    let gpu_utilization_source = sampler.gpu_source().to_string();
    sampler.finish(&mut out);
    let requests = tokio::task::spawn_blocking(move || load.join())
        .await
        .map_err(|_| Error::Cluster("load generator task failed".into()))?
        .map_err(|_| Error::Cluster("load generator thread panicked".into()))??;
    // Decisions and replica changes count up to the trial's end, as on the
    // other backends (the load may run on for its last answers).
    let end_unix = (t0_unix + t.duration_s).min(now_unix());
    drop(guard);
    if stop.load(Ordering::SeqCst) {
        return Err(Error::Interrupted);
    }
    let snapshot = watch::lock(&tracker).clone();
    let scaler_tick_failures = controller::records(
        client,
        ns,
        arm,
        &snapshot.replica_changes,
        (t0_unix, end_unix),
        &mut out,
    )
    .await?;
    crate::trial::fill_counts(&mut out, &requests);
    out.requests = requests;
    out.signals = t.signal_stages(Site::Cluster);
    // Time-slices do not say which physical GPU a pod got, and the
    // kubelet's probe ticker is the cluster's: neither is observed.
    out.pods = snapshot
        .pods
        .iter()
        .map(|p| p.record(t0_unix, None, None))
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
        namespace: ns.to_owned(),
        arm: arm.clone(),
        load_target,
        controller_object,
        workload_container,
        nodes,
        cpu_source: if cpu_seen {
            "metrics.k8s.io"
        } else {
            "unavailable"
        }
        .into(),
        gpu_utilization_source,
        scaler_tick_failures,
        notes: K8sFacts::NOTES.iter().map(|s| s.to_string()).collect(),
    };
    Ok((out, facts))
}

/// Where the load goes: the arm's Service URL when one is given, otherwise
/// per-pod port-forwards routed as the scenario says (kept in `guard`).
/// Returns the target and how the facts name it.
async fn load_target(
    conn: &Connection,
    t: &Trial<'_>,
    opts: &K8sOptions,
    ns: &str,
    arm: &ArmTarget,
    tracker: &Mutex<Tracker>,
    guard: &mut TrialGuard,
) -> Result<(Arc<dyn Target>, String)> {
    if let Some(url) = opts.service_urls.get(&arm.controller) {
        let target = Arc::new(forward::ServiceUrl(forward::parse_service_url(url)?));
        return Ok((target, url.clone()));
    }
    let pods: Api<Pod> = Api::namespaced(conn.client.clone(), ns);
    let router = crate::route::Router::new(t.spec().sim.routing, t.seed);
    let f = Arc::new(forward::PortForwards::new(pods, WORKLOAD_PORT, router));
    let serving = watch::lock(tracker).serving();
    guard.forwards = Some(Arc::clone(&f));
    f.set_ready(&serving).await?;
    Ok((f, "port-forward".into()))
}
