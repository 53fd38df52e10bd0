//! Watches on the arm's pods and Deployment, from before the trial starts,
//! feeding the [`Tracker`].

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client};

use super::now_unix;
use super::observe::Tracker;
use super::reset::ArmTarget;

/// The tracker, locked (a panicked holder leaves it usable).
pub(super) fn lock(t: &Mutex<Tracker>) -> MutexGuard<'_, Tracker> {
    t.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts the pod and Deployment watches; they run until aborted.
pub(super) fn spawn(
    client: &Client,
    ns: &str,
    arm: &ArmTarget,
    tracker: &Arc<Mutex<Tracker>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let watch_pods = {
        let tracker = Arc::clone(tracker);
        let cfg = watcher::Config::default().labels(&arm.selector);
        let stream = watcher(pods, cfg).default_backoff();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(ev) = stream.next().await {
                let now = now_unix();
                let mut t = lock(&tracker);
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
                    Err(e) => tracing::warn!("pod watch: {e} (retrying)"),
                }
            }
        })
    };
    let watch_deploy = {
        let tracker = Arc::clone(tracker);
        let cfg = watcher::Config::default().fields(&format!("metadata.name={}", arm.deployment));
        let stream = watcher(deployments, cfg).default_backoff();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(ev) = stream.next().await {
                let now = now_unix();
                match ev {
                    Ok(watcher::Event::Apply(d) | watcher::Event::InitApply(d)) => {
                        lock(&tracker).deployment(&d, now)
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("deployment watch: {e} (retrying)"),
                }
            }
        })
    };
    vec![watch_pods, watch_deploy]
}

/// Waits (at most 10 s) for the watches' initial lists: `min` serving pods
/// and the Deployment's replica count.
pub(super) async fn initial_lists(tracker: &Mutex<Tracker>, min: u32) {
    let settle = Instant::now() + Duration::from_secs(10);
    loop {
        let (known, replicas) = {
            let t = lock(tracker);
            (t.serving().len(), t.spec_replicas)
        };
        if (known >= min as usize && replicas.is_some()) || Instant::now() > settle {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
