//! The Kubernetes API calls of the controller and the bench, with retries.
//!
//! A call that fails with a conflict (409), throttling (429), a server
//! error (5xx) or a broken connection is retried with exponential back-off
//! and jitter; any other error (404, 403, 422 …) is returned at once, since
//! retrying cannot fix it.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};

use super::ClusterError;

/// Back-off between the attempts of one call.
#[derive(Clone, Debug, PartialEq)]
pub struct Backoff {
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// Wait before the second attempt.
    pub initial: Duration,
    /// Longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            attempts: 5,
            initial: Duration::from_millis(200),
            max: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// The wait after failed attempt `k` (0-based): `initial · 2^k`, capped
    /// at `max`, then between half and all of it (jitter).
    pub fn delay(&self, k: u32) -> Duration {
        let base = self.initial.saturating_mul(1u32 << k.min(20)).min(self.max);
        // Jitter from the clock's nanoseconds: enough to spread retries of
        // several clients, and no random-number state to carry.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        base.mul_f64(0.5 + 0.5 * f64::from(nanos % 1_000_001) / 1_000_000.0)
    }
}

/// Whether retrying `e` can help: 409, 429, 5xx, or no answer at all.
pub fn is_transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(status) => {
            matches!(status.code, 409 | 429) || (500..600).contains(&status.code)
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Runs `call` until it succeeds, fails for good, or runs out of attempts.
pub async fn with_retry<T, F, Fut>(
    what: &str,
    backoff: &Backoff,
    mut call: F,
) -> Result<T, ClusterError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let attempts = backoff.attempts.max(1);
    let mut k = 0;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if is_transient(&e) && k + 1 < attempts => {
                let wait = backoff.delay(k);
                tracing::warn!(
                    "{what}: {e}; retrying in {} ms (attempt {} of {attempts})",
                    wait.as_millis(),
                    k + 2
                );
                tokio::time::sleep(wait).await;
                k += 1;
            }
            Err(source) => {
                return Err(ClusterError::Api {
                    what: what.to_owned(),
                    source,
                })
            }
        }
    }
}

/// The body of a scale change: a JSON merge patch of the scale
/// subresource that sets `spec.replicas` and nothing else.
pub fn scale_patch(replicas: u32) -> serde_json::Value {
    serde_json::json!({ "spec": { "replicas": replicas } })
}

/// `spec.replicas` of the Deployment's scale subresource.
pub async fn get_scale(
    api: &Api<Deployment>,
    name: &str,
    backoff: &Backoff,
) -> Result<u32, ClusterError> {
    let scale = with_retry(&format!("get deployments/{name}/scale"), backoff, || {
        api.get_scale(name)
    })
    .await?;
    Ok(scale
        .spec
        .and_then(|s| s.replicas)
        .map_or(0, |r| u32::try_from(r).unwrap_or(0)))
}

/// Sets the Deployment's replicas through its scale subresource (a merge
/// patch, as `kubectl scale` makes), recording `field_manager`.
pub async fn patch_scale(
    api: &Api<Deployment>,
    name: &str,
    replicas: u32,
    field_manager: &str,
    backoff: &Backoff,
) -> Result<(), ClusterError> {
    let params = PatchParams {
        field_manager: Some(field_manager.to_owned()),
        ..PatchParams::default()
    };
    let body = scale_patch(replicas);
    with_retry(&format!("patch deployments/{name}/scale"), backoff, || {
        let patch = Patch::Merge(&body);
        let params = &params;
        async move { api.patch_scale(name, params, &patch).await }
    })
    .await?;
    Ok(())
}

/// The pods a label selector matches.
pub async fn list_pods(
    api: &Api<Pod>,
    selector: &str,
    backoff: &Backoff,
) -> Result<Vec<Pod>, ClusterError> {
    let params = ListParams::default().labels(selector);
    let list = with_retry(&format!("list pods -l {selector}"), backoff, || {
        api.list(&params)
    })
    .await?;
    Ok(list.items)
}

/// What an Event says.
#[derive(Clone, Debug, PartialEq)]
pub struct EventSpec {
    /// `Normal` or `Warning`.
    pub type_: &'static str,
    /// Machine-readable reason (the decision's keyword, `CamelCase`).
    pub reason: String,
    /// What happened: `Scale` or `Hold`.
    pub action: &'static str,
    /// Human-readable note (the decision's reason), cut to 1 kB.
    pub note: String,
}

/// The `events.k8s.io/v1` Event about `regarding`, as created.
pub fn event_object(
    namespace: &str,
    regarding: &ObjectReference,
    spec: &EventSpec,
    controller: &str,
    instance: &str,
    now: Timestamp,
) -> Event {
    let mut note = spec.note.clone();
    if note.len() > 1024 {
        let mut cut = 1021;
        while !note.is_char_boundary(cut) {
            cut -= 1;
        }
        note.truncate(cut);
        note.push_str("...");
    }
    Event {
        metadata: ObjectMeta {
            generate_name: Some(format!(
                "{}.",
                regarding.name.as_deref().unwrap_or("userscale")
            )),
            namespace: Some(namespace.to_owned()),
            ..ObjectMeta::default()
        },
        event_time: Some(MicroTime(now)),
        action: Some(spec.action.to_owned()),
        reason: Some(spec.reason.clone()),
        note: Some(note),
        type_: Some(spec.type_.to_owned()),
        regarding: Some(regarding.clone()),
        reporting_controller: Some(controller.to_owned()),
        reporting_instance: Some(instance.to_owned()),
        ..Event::default()
    }
}

/// Creates an Event (create only: each one gets a generated name).
pub async fn create_event(
    api: &Api<Event>,
    event: &Event,
    backoff: &Backoff,
) -> Result<(), ClusterError> {
    with_retry("create events", backoff, || async move {
        api.create(&PostParams::default(), event).await
    })
    .await?;
    Ok(())
}

/// A reference to a Deployment, for Events.
pub fn deployment_ref(namespace: &str, name: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("apps/v1".into()),
        kind: Some("Deployment".into()),
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        ..ObjectReference::default()
    }
}

/// Typed APIs of one namespace.
#[derive(Clone)]
pub struct Apis {
    /// Deployments.
    pub deployments: Api<Deployment>,
    /// Pods.
    pub pods: Api<Pod>,
    /// events.k8s.io Events.
    pub events: Api<Event>,
}

impl Apis {
    /// The APIs of `namespace`.
    pub fn new(client: Client, namespace: &str) -> Apis {
        Apis {
            deployments: Api::namespaced(client.clone(), namespace),
            pods: Api::namespaced(client.clone(), namespace),
            events: Api::namespaced(client, namespace),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let b = Backoff::default();
        for k in 0..10 {
            let d = b.delay(k);
            let base = Duration::from_millis(200 * (1 << k)).min(Duration::from_secs(5));
            assert!(d <= base && d >= base / 2, "k={k}: {d:?} vs {base:?}");
        }
    }

    #[test]
    fn transient_errors() {
        let status = |code| {
            kube::Error::Api(Box::new(kube::core::Status {
                code,
                ..kube::core::Status::default()
            }))
        };
        for code in [409, 429, 500, 503] {
            assert!(is_transient(&status(code)), "{code}");
        }
        for code in [400, 403, 404, 422] {
            assert!(!is_transient(&status(code)), "{code}");
        }
    }
}
