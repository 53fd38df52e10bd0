//! Step 1 of a trial: both controllers off, the other arm at 0, this arm
//! at `min_replicas`, ready, idle, and metrics-server's CPU window past the
//! idle point.

use contract::ControllerKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::{Api, Client};
use scaler::cluster::kube_api::{self, Backoff};
use scaler::PolicyConfig;
use serde::Serialize;

use super::controller::delete_hpa;
use super::{observe, SCALER_DEPLOYMENT, WORKLOAD_PORT};
use crate::{Error, Result};

/// The objects one arm's trials act on.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ArmTarget {
    /// Its controller.
    pub controller: ControllerKind,
    /// The workload Deployment.
    pub deployment: String,
    /// Its pods' label selector.
    pub selector: String,
}

impl ArmTarget {
    /// The base's Deployment for a policy's controller kind.
    pub fn for_policy(p: &PolicyConfig) -> ArmTarget {
        let controller = p.kind();
        ArmTarget {
            controller,
            deployment: format!("{controller}-app"),
            selector: format!("app={controller}-app"),
        }
    }

    /// The other arm's target.
    pub fn other(&self) -> ArmTarget {
        let p = if self.controller == ControllerKind::Hpa {
            PolicyConfig::original_userscale()
        } else {
            PolicyConfig::original_hpa()
        };
        ArmTarget::for_policy(&p)
    }
}

pub(super) fn cluster_err(e: scaler::cluster::ClusterError) -> Error {
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
pub(super) async fn live_pods(pods: &Api<Pod>, selector: &str) -> Result<Vec<Pod>> {
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
pub(super) async fn poll_until<F, Fut>(
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
pub(super) async fn wait_cpu_window(
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
