//! `scaler run`: the UserScale control loop against a real API server.
//!
//! Every `interval_s` the controller
//!
//! 1. reads the Deployment's scale subresource (`spec.replicas`);
//! 2. lists the arm's pods by label;
//! 3. reads `/metrics.json` from every pod that is Running and Ready;
//! 4. runs the policy — the same code the simulator and the local backend
//!    run — on that observation, through [`crate::control::plan`];
//! 5. patches the scale subresource when the answer differs;
//! 6. creates an Event with the decision when it scaled or when the
//!    decision's keyword changed since the last Event (a steady hold is
//!    logged, not repeated as Events).
//!
//! When a ready pod does not answer its metrics, or answers values outside
//! their physical range (a GPU utilisation of 150 %, a negative latency:
//! [`PodObservation::validate`](crate::PodObservation::validate)), the tick
//! holds (`MetricsMissing`, the pod named on stderr): the controller never
//! scales on a guess. API calls are
//! retried with back-off ([`super::kube_api`]); a tick that still fails is
//! counted and logged, and the loop goes on at the next interval, so a
//! transient outage never crash-loops the pod.

use std::collections::VecDeque;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::future::join_all;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

use super::kube_api::{self, Apis, Backoff, EventSpec};
use super::{observe_pods, pod_serving, unix_s, ClusterError, PodMetrics};
use crate::control::plan;
use crate::{Decision, Observation, Policy};

/// Where the controller acts and how.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// Namespace of the Deployment and its pods.
    pub namespace: String,
    /// The scaled Deployment.
    pub deployment: String,
    /// Label selector of its pods.
    pub selector: String,
    /// Port of the pods' `/metrics.json`.
    pub pod_port: u16,
    /// Time-out of one pod's metrics read.
    pub metrics_timeout: Duration,
    /// Log decisions only: no patch, no Event.
    pub dry_run: bool,
    /// Field manager recorded on the scale patch.
    pub field_manager: String,
    /// `reportingController` of the Events.
    pub reporting_controller: String,
    /// `reportingInstance` of the Events (the pod's name).
    pub instance: String,
    /// Retries of each API call.
    pub backoff: Backoff,
}

impl ControllerConfig {
    /// Defaults for the bench's `userscale-app` in `namespace`.
    pub fn new(namespace: &str) -> ControllerConfig {
        ControllerConfig {
            namespace: namespace.to_owned(),
            deployment: "userscale-app".into(),
            selector: "app=userscale-app".into(),
            pod_port: 8000,
            metrics_timeout: Duration::from_secs(1),
            dry_run: false,
            field_manager: "userscale-scaler".into(),
            reporting_controller: "userscale.io/scaler".into(),
            instance: "scaler".into(),
            backoff: Backoff::default(),
        }
    }
}

/// Reads the time (injectable for tests).
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Reads one pod's metrics (a fake in tests).
pub trait MetricsSource: Send + Sync {
    /// The pod's `/metrics.json`, or `None` when it does not answer in time
    /// or answers something unreadable.
    fn fetch(&self, pod: &Pod) -> impl Future<Output = Option<PodMetrics>> + Send;
}

/// `GET http://<pod IP>:<port>/metrics.json`.
pub struct PodHttp {
    /// Port.
    pub port: u16,
    /// Time-out of the whole request.
    pub timeout: Duration,
}

impl MetricsSource for PodHttp {
    async fn fetch(&self, pod: &Pod) -> Option<PodMetrics> {
        let ip: IpAddr = pod.status.as_ref()?.pod_ip.as_deref()?.parse().ok()?;
        let call =
            super::http::request(SocketAddr::new(ip, self.port), "GET", "/metrics.json", b"");
        let r = tokio::time::timeout(self.timeout, call).await.ok()?.ok()?;
        (r.status == 200)
            .then(|| PodMetrics::parse(&r.body))
            .flatten()
    }
}

/// The stable keyword a reason begins with (`GpuHigh`, `Idle`, …).
pub fn keyword(reason: &str) -> &str {
    let end = reason
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(reason.len());
    &reason[..end]
}

/// One decision as logged and served on `/decisions`.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct DecisionLog {
    /// Unix time of the tick, seconds.
    pub unix_s: f64,
    /// Whether the scale was patched.
    pub patched: bool,
    /// The decision (its `time` counts from the controller's start).
    pub decision: Decision,
}

/// Counters and the recent decisions, shared with the HTTP server.
#[derive(Debug, Default)]
pub struct Status {
    /// Unix time the controller started.
    pub started_unix_s: f64,
    /// Unix time the loop last finished a tick (ok or not).
    pub last_tick_unix_s: Option<f64>,
    /// Ticks that decided.
    pub ticks_ok: u64,
    /// Ticks that failed (an API call failed after its retries).
    pub ticks_failed: u64,
    /// Ticks that held for missing metrics.
    pub holds_missing_metrics: u64,
    /// Scale patches made.
    pub patches: u64,
    /// Events created.
    pub events: u64,
    /// Events that could not be created.
    pub event_errors: u64,
    /// Last seen `spec.replicas`.
    pub current_replicas: Option<u32>,
    /// Last desired count.
    pub desired_replicas: Option<u32>,
    /// The most recent decisions, oldest first.
    pub decisions: VecDeque<DecisionLog>,
    /// The policy's bounds.
    pub bounds: (u32, u32),
    /// Seconds between ticks.
    pub interval_s: f64,
    /// Whether the controller only logs.
    pub dry_run: bool,
}

/// Decisions kept for `/decisions` (about 100 minutes at 3 s).
pub const DECISIONS_KEPT: usize = 2000;

/// The status behind a lock that survives a panicked holder.
pub fn lock(s: &Mutex<Status>) -> MutexGuard<'_, Status> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// The control loop's state.
pub struct Controller<M: MetricsSource, C: Clock> {
    apis: Apis,
    config: ControllerConfig,
    policy: Box<dyn Policy>,
    metrics: M,
    clock: C,
    origin_unix_s: f64,
    last_time: f64,
    last_event_keyword: Option<String>,
    status: Arc<Mutex<Status>>,
}

impl<M: MetricsSource, C: Clock> Controller<M, C> {
    /// A controller that starts counting time now.
    pub fn new(
        apis: Apis,
        config: ControllerConfig,
        policy: Box<dyn Policy>,
        metrics: M,
        clock: C,
    ) -> Self {
        let origin_unix_s = unix_s(&clock.now());
        let status = Status {
            started_unix_s: origin_unix_s,
            bounds: policy.bounds(),
            interval_s: policy.interval_s(),
            dry_run: config.dry_run,
            ..Status::default()
        };
        Controller {
            apis,
            config,
            policy,
            metrics,
            clock,
            origin_unix_s,
            last_time: 0.0,
            last_event_keyword: None,
            status: Arc::new(Mutex::new(status)),
        }
    }

    /// The shared status (for the HTTP server).
    pub fn status(&self) -> Arc<Mutex<Status>> {
        Arc::clone(&self.status)
    }

    /// One tick: observe, decide, act. An error means an API call failed
    /// for good; nothing after it was done.
    pub async fn tick(&mut self) -> Result<DecisionLog, ClusterError> {
        let cfg = &self.config;
        let now = unix_s(&self.clock.now());
        let current =
            kube_api::get_scale(&self.apis.deployments, &cfg.deployment, &cfg.backoff).await?;
        let pods = kube_api::list_pods(&self.apis.pods, &cfg.selector, &cfg.backoff).await?;
        let serving: Vec<&Pod> = pods.iter().filter(|p| pod_serving(p)).collect();
        let read = join_all(serving.iter().map(|p| self.metrics.fetch(p))).await;
        let (observed, missing) = observe_pods(&pods, &read, self.origin_unix_s);
        // The policy needs times that never go back, whatever the wall
        // clock does.
        let time = (now - self.origin_unix_s).max(self.last_time);
        self.last_time = time;
        let obs = Observation {
            time,
            spec_replicas: current,
            pods: observed,
        };
        let decision = plan(self.policy.as_mut(), &obs, &missing);
        let scale = decision.desired_replicas != current;
        let mut patched = false;
        if scale && !cfg.dry_run {
            kube_api::patch_scale(
                &self.apis.deployments,
                &cfg.deployment,
                decision.desired_replicas,
                &cfg.field_manager,
                &cfg.backoff,
            )
            .await?;
            patched = true;
        }
        let kw = keyword(&decision.reason).to_owned();
        let mut event_made = None;
        if !cfg.dry_run && (scale || self.last_event_keyword.as_deref() != Some(kw.as_str())) {
            let spec = EventSpec {
                type_: if missing.is_empty() {
                    "Normal"
                } else {
                    "Warning"
                },
                reason: kw.clone(),
                action: if scale { "Scale" } else { "Hold" },
                note: format!(
                    "{} -> {} replicas: {}",
                    current, decision.desired_replicas, decision.reason
                ),
            };
            let event = kube_api::event_object(
                &cfg.namespace,
                &kube_api::deployment_ref(&cfg.namespace, &cfg.deployment),
                &spec,
                &cfg.reporting_controller,
                &cfg.instance,
                self.clock.now(),
            );
            let made = kube_api::create_event(&self.apis.events, &event, &cfg.backoff).await;
            if let Err(e) = &made {
                tracing::warn!("event not recorded: {e}");
            } else {
                self.last_event_keyword = Some(kw);
            }
            event_made = Some(made.is_ok());
        }
        let log = DecisionLog {
            unix_s: now,
            patched,
            decision,
        };
        let mut st = lock(&self.status);
        st.ticks_ok += 1;
        st.holds_missing_metrics += u64::from(!missing.is_empty());
        st.patches += u64::from(patched);
        match event_made {
            Some(true) => st.events += 1,
            Some(false) => st.event_errors += 1,
            None => {}
        }
        st.current_replicas = Some(current);
        st.desired_replicas = Some(log.decision.desired_replicas);
        st.decisions.push_back(log.clone());
        while st.decisions.len() > DECISIONS_KEPT {
            st.decisions.pop_front();
        }
        Ok(log)
    }

    /// Ticks every `interval_s` until `shutdown` completes. Failed ticks
    /// are logged and counted; the loop never ends on an error.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        let period = Duration::from_secs_f64(self.policy.interval_s().max(0.1));
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = ticker.tick() => {}
            }
            let result = self.tick().await;
            let now = unix_s(&self.clock.now());
            match result {
                Ok(log) => {
                    if let Ok(line) = serde_json::to_string(&log) {
                        println!("{line}");
                    }
                }
                Err(e) => {
                    tracing::warn!("tick failed: {e}");
                    lock(&self.status).ticks_failed += 1;
                }
            }
            lock(&self.status).last_tick_unix_s = Some(now);
        }
    }
}

#[cfg(all(test, feature = "test-support"))]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;

    use serde_json::{json, Value};

    use super::*;
    use crate::cluster::testing;
    use crate::PolicyConfig;

    const NS: &str = "userscale";

    /// Metrics by pod name; a pod not in the map does not answer.
    struct Fake(HashMap<String, PodMetrics>);

    impl MetricsSource for Fake {
        async fn fetch(&self, pod: &Pod) -> Option<PodMetrics> {
            self.0.get(pod.metadata.name.as_deref()?).cloned()
        }
    }

    struct Fixed;

    impl Clock for Fixed {
        fn now(&self) -> Timestamp {
            Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH)
        }
    }

    fn metrics(gpu: f64, latency: f64) -> PodMetrics {
        PodMetrics {
            gpu_utilization: gpu,
            gpu_utilization_source: Some(contract::UtilizationSource::Nvml),
            avg_latency_ms: latency,
            window_requests: 10,
            concurrent_requests: 4,
            in_flight: 4,
            queued: 0,
            ..Default::default()
        }
    }

    fn pod(name: &str) -> Value {
        json!({
            "metadata": {"name": name, "namespace": NS},
            "spec": {"containers": [{"name": "w", "resources": {"requests": {"cpu": "500m"}}}]},
            "status": {"phase": "Running", "podIP": "10.0.0.1", "startTime": "2026-01-01T00:00:00Z",
                       "conditions": [{"type": "Ready", "status": "True",
                                       "lastTransitionTime": "2026-01-01T00:00:05Z"}]}
        })
    }

    /// One tick with pods `a` and `b` answering `a` and `b`; what the
    /// controller decided and the API calls it made.
    async fn tick(a: PodMetrics, b: PodMetrics) -> (DecisionLog, Vec<testing::Seen>) {
        let (client, handle) = testing::mock_client(NS);
        let answers = [
            json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
                   "metadata": {"name": "userscale-app", "namespace": NS},
                   "spec": {"replicas": 2}, "status": {"replicas": 2}}),
            json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"},
                   "items": [pod("a"), pod("b")]}),
            json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
                   "metadata": {"name": "userscale-app", "namespace": NS},
                   "spec": {"replicas": 5}, "status": {"replicas": 2}}),
            json!({}),
        ];
        let server = testing::serve(handle, answers.len(), move |i, _| (200, answers[i].clone()));
        let fake = Fake(HashMap::from([("a".to_owned(), a), ("b".to_owned(), b)]));
        let mut c = Controller::new(
            Apis::new(client, NS),
            ControllerConfig::new(NS),
            PolicyConfig::original_userscale().build(),
            fake,
            Fixed,
        );
        let log = c.tick().await.unwrap();
        drop(c);
        (log, server.await.unwrap())
    }

    #[tokio::test]
    async fn an_out_of_range_reading_holds_like_a_missing_one() {
        // Both in range and high: a scale-up, patched.
        let (log, seen) = tick(metrics(95.0, 100.0), metrics(90.0, 100.0)).await;
        assert!(log.patched, "{}", log.decision.reason);
        assert_eq!(seen[2].method, "PATCH");

        for bad in [
            metrics(150.0, 100.0),
            metrics(-50.0, 100.0),
            metrics(1e308, 100.0),
            metrics(90.0, -1e9),
        ] {
            let (log, seen) = tick(metrics(95.0, 100.0), bad.clone()).await;
            assert!(!log.patched, "{bad:?}: {}", log.decision.reason);
            assert_eq!(log.decision.desired_replicas, 2, "{bad:?}");
            assert!(
                log.decision
                    .reason
                    .starts_with("MetricsMissing: no usable /metrics.json from ready pod(s) b;"),
                "{bad:?}: {}",
                log.decision.reason
            );
            assert_eq!(log.decision.inputs, json!({"missing": ["b"]}));
            // No patch: the third call is the Event, a warning.
            assert_eq!(seen[2].method, "POST", "{bad:?}");
            assert_eq!(seen[2].body["reason"], "MetricsMissing");
            assert_eq!(seen[2].body["type"], "Warning");
        }
    }
}
