//! What the k8s backend observes: the arm's pods and Deployment through
//! watches, and once a second the pods' CPU (metrics.k8s.io) and their own
//! `/metrics.json` and `/metrics` through the API server's pod proxy.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::future::join_all;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use scaler::cluster::{cpu_millicores, pod_ready, pod_serving, unix_s, ObserveMetrics, PodMetrics};

use crate::trial::timeline::PodTimeline;

/// One pod's life as the watch saw it (Unix seconds): `ready` is when
/// `Ready` first became true, `deleted` the `deletionTimestamp` less the
/// grace period, `exited` when the object went away or reached
/// Succeeded/Failed, `serving` Running, Ready and not deleted.
pub type PodTrack = PodTimeline<f64>;

/// The arm's pods and replica count, kept current by the watches.
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    /// Every pod seen, by number.
    pub pods: Vec<PodTrack>,
    index: HashMap<String, usize>,
    /// The Deployment's `spec.replicas`.
    pub spec_replicas: Option<u32>,
    /// Changes of `spec.replicas`: (Unix seconds seen, from, to).
    pub replica_changes: Vec<(f64, u32, u32)>,
    /// Pods seen during a (re-)list, while one is under way.
    relisting: Option<std::collections::HashSet<String>>,
}

impl Tracker {
    /// A pod was added or changed.
    pub fn pod(&mut self, pod: &Pod, now: f64) {
        let Some(name) = pod.metadata.name.clone() else {
            return;
        };
        let i = match self.index.get(&name) {
            Some(&i) => i,
            None => {
                let i = self.pods.len();
                let created = pod
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .map_or(now, |t| unix_s(&t.0));
                self.pods
                    .push(PodTimeline::new(i as u32, name.clone(), created));
                self.index.insert(name, i);
                i
            }
        };
        let t = &mut self.pods[i];
        t.node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .or(t.node.take());
        let status = pod.status.as_ref();
        if let Some(c) = status.and_then(|s| s.conditions.as_ref()).and_then(|cs| {
            cs.iter()
                .find(|c| c.type_ == "PodScheduled" && c.status == "True")
        }) {
            t.scheduled = c
                .last_transition_time
                .as_ref()
                .map(|x| unix_s(&x.0))
                .or(Some(now));
        }
        let containers = status.and_then(|s| s.container_statuses.as_ref());
        if let Some(started) = containers
            .into_iter()
            .flatten()
            .filter_map(|c| c.state.as_ref()?.running.as_ref()?.started_at.as_ref())
            .map(|x| unix_s(&x.0))
            .reduce(f64::max)
        {
            t.started = Some(started);
        }
        t.restarts = containers
            .into_iter()
            .flatten()
            .map(|c| u32::try_from(c.restart_count).unwrap_or(0))
            .sum();
        if let (Some(true), at) = pod_ready(pod) {
            if t.ready.is_none() {
                // `lastTransitionTime` has whole seconds; when the watch saw
                // the change as it happened, its own reading is finer.
                t.ready = Some(match at {
                    Some(at) if now - at < 2.0 => now,
                    Some(at) => at,
                    None => now,
                });
            }
        }
        if let Some(d) = &pod.metadata.deletion_timestamp {
            let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or(0) as f64;
            t.deleted.get_or_insert(unix_s(&d.0) - grace);
        }
        if scaler::cluster::pod_finished(pod) {
            t.exited.get_or_insert(now);
        }
        t.serving = pod_serving(pod);
    }

    /// A watch (re-)list begins: pods it does not list again are gone.
    pub fn relist_begin(&mut self) {
        self.relisting = Some(std::collections::HashSet::new());
    }

    /// A pod listed during the (re-)list.
    pub fn relist_pod(&mut self, pod: &Pod, now: f64) {
        if let (Some(seen), Some(name)) = (self.relisting.as_mut(), pod.metadata.name.as_ref()) {
            seen.insert(name.clone());
        }
        self.pod(pod, now);
    }

    /// The (re-)list is complete: pods it did not list went away while the
    /// watch was down.
    pub fn relist_done(&mut self, now: f64) {
        if let Some(seen) = self.relisting.take() {
            let gone: Vec<String> = self
                .pods
                .iter()
                .filter(|p| p.exited.is_none() && !seen.contains(&p.name))
                .map(|p| p.name.clone())
                .collect();
            for name in gone {
                self.pod_gone(&name, now);
            }
        }
    }

    /// A pod object was deleted.
    pub fn pod_gone(&mut self, name: &str, now: f64) {
        if let Some(&i) = self.index.get(name) {
            let t = &mut self.pods[i];
            t.exited.get_or_insert(now);
            t.deleted.get_or_insert(now);
            t.serving = false;
        }
    }

    /// The Deployment changed.
    pub fn deployment(&mut self, d: &Deployment, now: f64) {
        let replicas = d
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .map(|r| u32::try_from(r).unwrap_or(0));
        if let (Some(old), Some(new)) = (self.spec_replicas, replicas) {
            if old != new {
                self.replica_changes.push((now, old, new));
            }
        }
        if replicas.is_some() {
            self.spec_replicas = replicas;
        }
    }

    /// The serving pods: (name, number).
    pub fn serving(&self) -> Vec<(String, u32)> {
        self.pods
            .iter()
            .filter(|p| p.serving && p.exited.is_none())
            .map(|p| (p.name.clone(), p.num))
            .collect()
    }
}

/// `key=value` selectors in a query string.
pub fn encode_query(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One second's readings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reading {
    /// CPU use per pod name from metrics.k8s.io, millicores; `None` when
    /// the metrics API did not answer.
    pub cpu_m: Option<HashMap<String, f64>>,
    /// `/metrics.json` per serving pod that answered.
    pub metrics: HashMap<String, PodMetrics>,
    /// GPU memory, power and energy from one pod's `/metrics`.
    pub gpu: Option<crate::trial::sampler::GpuReading>,
}

fn get(uri: &str) -> Option<http::Request<Vec<u8>>> {
    http::Request::get(uri).body(Vec::new()).ok()
}

/// The selector's `PodMetricsList` from metrics.k8s.io, within `limit`.
async fn pod_metrics_list(
    client: &Client,
    ns: &str,
    selector: &str,
    limit: Duration,
) -> Option<serde_json::Value> {
    let uri = format!(
        "/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods?labelSelector={}",
        encode_query(selector)
    );
    tokio::time::timeout(limit, client.request(get(&uri)?))
        .await
        .ok()?
        .ok()
}

/// CPU use of the selector's pods from metrics.k8s.io, millicores.
pub async fn pod_cpu(client: &Client, ns: &str, selector: &str) -> Option<HashMap<String, f64>> {
    let v = pod_metrics_list(client, ns, selector, Duration::from_millis(800)).await?;
    let mut out = HashMap::new();
    for item in v["items"].as_array()? {
        let Some(name) = item["metadata"]["name"].as_str() else {
            continue;
        };
        let m: f64 = item["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| cpu_millicores(c["usage"]["cpu"].as_str()?))
            .sum();
        out.insert(name.to_owned(), m);
    }
    Some(out)
}

/// Start of each pod's CPU window in metrics.k8s.io (`timestamp − window`,
/// Unix seconds); `None` when the metrics API does not answer.
pub async fn pod_cpu_windows(
    client: &Client,
    ns: &str,
    selector: &str,
) -> Option<HashMap<String, f64>> {
    let v = pod_metrics_list(client, ns, selector, Duration::from_secs(5)).await?;
    let mut out = HashMap::new();
    for item in v["items"].as_array()? {
        let (Some(name), Some(ts), Some(window)) = (
            item["metadata"]["name"].as_str(),
            item["timestamp"].as_str(),
            item["window"].as_str().and_then(go_duration_s),
        ) else {
            continue;
        };
        let Ok(t) = ts.parse::<k8s_openapi::jiff::Timestamp>() else {
            continue;
        };
        out.insert(name.to_owned(), unix_s(&t) - window);
    }
    Some(out)
}

/// Seconds of a Go duration string as metrics-server writes them
/// (`"15s"`, `"14.997s"`, `"1m0.5s"`, `"500ms"`).
pub fn go_duration_s(d: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut rest = d.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..end].parse().ok()?;
        rest = &rest[end..];
        let (unit, scale) = [
            ("ms", 1e-3),
            ("us", 1e-6),
            ("ns", 1e-9),
            ("h", 3600.0),
            ("m", 60.0),
            ("s", 1.0),
        ]
        .into_iter()
        .find(|(u, _)| rest.starts_with(u))?;
        rest = &rest[unit.len()..];
        total += value * scale;
    }
    Some(total)
}

/// A pod's endpoint through the API server's proxy.
pub async fn pod_proxy(
    client: &Client,
    ns: &str,
    pod: &str,
    port: u16,
    path: &str,
) -> Option<String> {
    let uri = format!("/api/v1/namespaces/{ns}/pods/{pod}:{port}/proxy{path}");
    tokio::time::timeout(Duration::from_millis(800), client.request_text(get(&uri)?))
        .await
        .ok()?
        .ok()
}

/// The second's readings, all at once and each within 800 ms: CPU of every
/// pod, each serving pod's `/metrics.json`, and the first one's GPU
/// families.
pub async fn read_once(
    client: &Client,
    ns: &str,
    selector: &str,
    serving: &[String],
    port: u16,
) -> Reading {
    let gpu_text = async {
        match serving.first() {
            Some(first) => pod_proxy(client, ns, first, port, "/metrics").await,
            None => None,
        }
    };
    let bodies = join_all(
        serving
            .iter()
            .map(|p| pod_proxy(client, ns, p, port, "/metrics.json")),
    );
    let (cpu_m, bodies, gpu_text) =
        futures_util::join!(pod_cpu(client, ns, selector), bodies, gpu_text);
    let metrics = serving
        .iter()
        .zip(bodies)
        // A reading outside its physical range counts as no reading.
        .filter_map(|(p, b)| {
            let m = PodMetrics::parse(b?.as_bytes())?;
            m.check().is_ok().then(|| (p.clone(), m))
        })
        .collect();
    let gpu = gpu_text.and_then(|t| crate::trial::sampler::GpuReading::from_metrics_text(&t));
    Reading {
        cpu_m,
        metrics,
        gpu,
    }
}
