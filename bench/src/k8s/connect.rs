//! Reaching the cluster and putting the base on it (`bench deploy`).

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use scaler::cluster::kube_api::{self, Backoff};

use super::reset::cluster_err;
use super::{manifests, K8sOptions};
use crate::{Error, Result};

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
