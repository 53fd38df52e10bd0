//! Step 2 and 5 of a trial: the arm's controller on and off, and what it
//! recorded (the HPA's status changes, the scaler's `/decisions`, the
//! Events that name a rescale's reason).

use contract::ControllerKind;
use std::sync::atomic::AtomicBool;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::events::v1::Event;
use kube::api::DeleteParams;
use kube::{Api, Client};
use scaler::cluster::controller::DecisionLog;
use scaler::cluster::kube_api::{self, Backoff};
use scaler::cluster::unix_s;
use scaler::PolicyConfig;
use serde_json::json;

use super::reset::{cluster_err, live_pods, poll_until, ArmTarget};
use super::{manifests, HPA_NAME, SCALER_CONFIG_MAP, SCALER_DEPLOYMENT, SCALER_SERVICE};
use crate::record::DecisionRecord;
use crate::{Error, Result};

/// Deletes the HPA object; one already gone is fine.
pub(super) async fn delete_hpa(client: &Client, ns: &str) -> Result<()> {
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
        // `prepare_k8s` refuses such arms before a trial starts.
        PolicyConfig::HpaGpu(_)
        | PolicyConfig::Keda(_)
        | PolicyConfig::Kpa(_)
        | PolicyConfig::Ray(_) => Err(Error::Cluster(format!(
            "k8s backend: the base deploys no `{}` controller",
            policy.name()
        ))),
    }
}

/// Waits for one Ready scaler pod (none terminating: the old one is gone,
/// so the new one read the new policy).
pub(super) async fn wait_scaler(
    client: &Client,
    ns: &str,
    timeout_s: f64,
    stop: &AtomicBool,
) -> Result<()> {
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
pub(super) async fn stop_controller(
    client: &Client,
    ns: &str,
    arm: &ArmTarget,
    fm: &str,
    backoff: &Backoff,
) -> Result<()> {
    if arm.controller == ControllerKind::Hpa {
        delete_hpa(client, ns).await
    } else {
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
        kube_api::patch_scale(&deployments, SCALER_DEPLOYMENT, 0, fm, backoff)
            .await
            .map_err(cluster_err)
    }
}

/// The scaler's decisions within the trial, from its `/decisions`, and its
/// failed ticks (its `/metrics`; it started with the trial). A scaler that
/// decided nothing fails the trial: a UserScale arm without its controller
/// is not a UserScale trial.
pub(super) async fn scaler_record(
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
pub(super) fn hpa_decision(
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
        controller: ControllerKind::Hpa,
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
pub(super) fn rescale_reasons(
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
                .is_some_and(|n| {
                    n == arm.deployment || (arm.controller == ControllerKind::Hpa && n == HPA_NAME)
                })
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
pub(super) fn nearest_reason(
    reasons: &[(f64, String, String)],
    at: f64,
    to: u32,
) -> Option<String> {
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

/// The HPA's status, read each second: a decision record whenever it
/// changed.
pub(super) struct HpaStatus {
    api: Api<HorizontalPodAutoscaler>,
    last: Option<serde_json::Value>,
}

impl HpaStatus {
    pub(super) fn new(client: &Client, ns: &str) -> HpaStatus {
        HpaStatus {
            api: Api::namespaced(client.clone(), ns),
            last: None,
        }
    }

    /// Reads the status (within 0.8 s) at `t_s` into the trial.
    pub(super) async fn poll(&mut self, t_s: f64) -> Option<DecisionRecord> {
        let read = std::time::Duration::from_millis(800);
        let Ok(Ok(h)) = tokio::time::timeout(read, self.api.get(HPA_NAME)).await else {
            return None;
        };
        let (d, status) = hpa_decision(&h, t_s, self.last.as_ref())?;
        self.last = Some(status);
        Some(d)
    }
}

/// What the arm's controller recorded between Unix seconds `t0` and `end`,
/// read before it stops (the scaler's decisions live in its memory): the
/// scaler's decisions (UserScale arm) and every replica change of the
/// Deployment with its reason, from the scaler's log or the nearest Event.
/// Returns the scaler's failed ticks.
pub(super) async fn records(
    client: &Client,
    ns: &str,
    arm: &ArmTarget,
    replica_changes: &[(f64, u32, u32)],
    (t0, end): (f64, f64),
    out: &mut crate::record::TrialRecords,
) -> Result<Option<f64>> {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let evs = events
        .list(&kube::api::ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    let reasons = rescale_reasons(&evs, arm, t0, end);
    let (scaler_log, failures) = if arm.controller == ControllerKind::Userscale {
        scaler_record(client, ns, t0, end).await?
    } else {
        (Vec::new(), None)
    };
    for d in &scaler_log {
        out.decisions
            .push(DecisionRecord::from_decision(d.unix_s - t0, &d.decision));
    }
    for &(at, from, to) in replica_changes {
        if at < t0 || at > end {
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
        out.scaling_events.push(crate::record::ScalingEvent {
            t_s: at - t0,
            from,
            to,
            controller: arm.controller,
            reason,
        });
    }
    Ok(failures)
}

/// The workload container of the arm's Deployment as deployed (image,
/// resources, env), for the trial's facts and its CPU request.
pub(super) async fn workload_container(
    client: &Client,
    ns: &str,
    deployment: &str,
) -> Result<serde_json::Value> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let live = deployments
        .get(deployment)
        .await
        .map_err(|e| Error::Cluster(format!("get deployment {deployment}: {e}")))?;
    Ok(live
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.containers.first())
        .map(|ctr| json!({"image": ctr.image, "resources": ctr.resources, "env": ctr.env}))
        .unwrap_or_default())
}
