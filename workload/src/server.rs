//! The HTTP service (axum): `/compute`, `/healthz`, `/readyz`, `/metrics`,
//! `/metrics.json`, and the drain on shutdown.
//!
//! Life cycle: the listener is bound first and answers `/healthz` at once;
//! `/readyz` answers 503 `initialising` until the backend is open, then 200.
//! On shutdown (SIGTERM in the binary) `/readyz` turns 503 `draining`, new
//! `/compute` requests get 503 with `Retry-After`, queued and running work
//! finishes, and only then does the listener close — within the grace
//! period, or [`serve`] returns an error naming what was abandoned.

use crate::backend::Backend;
use crate::compute::{ComputeError, Job};
use crate::exec::{Executor, Rejected};
use crate::metrics::{Metrics, Outcome, ServiceInfo};
use crate::nvml::GpuMonitor;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Limits and timings of the service.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Largest accepted `size`.
    pub max_size: u32,
    /// Largest accepted `iterations`.
    pub max_iterations: u32,
    /// Largest request body, bytes.
    pub body_limit: usize,
    /// Queue capacity (waiting requests beyond the running ones).
    pub queue_capacity: usize,
    /// Per-request deadline from arrival; 504 after it.
    pub deadline: Duration,
    /// How long a shutdown may wait for queued and running work.
    pub grace: Duration,
    /// Window of `avg_latency_ms` in `/metrics.json`.
    pub latency_window: Duration,
    /// Period of the sampler (NVML and busy-time samples).
    pub sample_interval: Duration,
    /// `Retry-After` seconds on 503.
    pub retry_after_s: u32,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            max_size: 8192,
            max_iterations: 1000,
            body_limit: 4096,
            queue_capacity: 16,
            deadline: Duration::from_secs(120),
            grace: Duration::from_secs(30),
            latency_window: Duration::from_secs(10),
            sample_interval: Duration::from_secs(1),
            retry_after_s: 1,
        }
    }
}

/// The `/compute` request body.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ComputeRequest {
    /// Matrix size n.
    pub size: u32,
    /// Iterations.
    pub iterations: u32,
    /// Input seed; a fresh one is drawn when absent (and returned).
    #[serde(default)]
    pub seed: Option<u64>,
}

/// The `/compute` response body.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ComputeResponse {
    /// Sum of the final state's entries.
    pub checksum: f64,
    /// `gpu` or `cpu`.
    pub backend: String,
    /// Device name.
    pub device: String,
    /// Time waiting for a worker, ms.
    pub queue_ms: f64,
    /// Time computing, ms.
    pub compute_ms: f64,
    /// The request's size.
    pub size: u32,
    /// The request's iterations.
    pub iterations: u32,
    /// The seed used.
    pub seed: u64,
}

/// An error body: what went wrong and, for bad input, which field.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ErrorBody {
    /// Human-readable reason.
    pub error: String,
    /// The offending field, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

struct Ready {
    exec: Executor,
    info: ServiceInfo,
}

struct App {
    config: ServeConfig,
    metrics: Arc<Metrics>,
    ready: OnceLock<Ready>,
    init_error: OnceLock<String>,
    draining: AtomicBool,
    seeds: AtomicU64,
}

type Shared = Arc<App>;

/// What a finished [`serve`] did.
#[derive(Debug, PartialEq, Eq)]
pub struct DrainReport {
    /// Whether everything queued or running at shutdown finished in time.
    pub drained: bool,
    /// Requests still queued or running when the grace period ran out.
    pub abandoned: u64,
}

/// Why the service stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The backend could not be opened.
    #[error("backend: {0}")]
    Backend(String),
    /// The HTTP server failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

fn json_error(status: StatusCode, error: impl Into<String>, field: Option<String>) -> Response {
    (
        status,
        Json(ErrorBody {
            error: error.into(),
            field,
        }),
    )
        .into_response()
}

fn unavailable(app: &App, error: impl Into<String>) -> Response {
    let mut r = json_error(StatusCode::SERVICE_UNAVAILABLE, error, None);
    if let Ok(v) = HeaderValue::from_str(&app.config.retry_after_s.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Bad input: the status, the reason and the offending field.
#[derive(Debug)]
struct InputError {
    status: StatusCode,
    error: String,
    field: Option<String>,
}

impl InputError {
    fn unprocessable(error: impl Into<String>, field: Option<String>) -> InputError {
        InputError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            error: error.into(),
            field,
        }
    }

    fn into_response(self) -> Response {
        json_error(self.status, self.error, self.field)
    }
}

/// Parses and checks a `/compute` body; the error names the field.
fn parse_request(body: &[u8], config: &ServeConfig) -> Result<ComputeRequest, InputError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| InputError {
        status: StatusCode::BAD_REQUEST,
        error: format!("malformed JSON: {e}"),
        field: None,
    })?;
    if !value.is_object() {
        return Err(InputError::unprocessable(
            "expected a JSON object with `size`, `iterations` and optionally `seed`",
            None,
        ));
    }
    let req: ComputeRequest = serde_path_to_error::deserialize(value).map_err(|e| {
        let msg = e.inner().to_string();
        let path = e.path().to_string();
        let field = if path != "." {
            Some(path)
        } else {
            // Unknown and missing fields are reported at the root; the
            // field's name is the first back-quoted word of the message.
            msg.split('`').nth(1).map(str::to_string)
        };
        InputError::unprocessable(msg, field)
    })?;
    let check = |name: &str, v: u32, max: u32| {
        if v == 0 || v > max {
            Err(InputError::unprocessable(
                format!("`{name}` must be between 1 and {max}, got {v}"),
                Some(name.to_string()),
            ))
        } else {
            Ok(())
        }
    };
    check("size", req.size, config.max_size)?;
    check("iterations", req.iterations, config.max_iterations)?;
    Ok(req)
}

async fn compute(State(app): State<Shared>, body: Result<Bytes, BytesRejection>) -> Response {
    let arrived = Instant::now();
    let (status, response) = compute_inner(&app, arrived, body).await;
    app.metrics.count(status);
    if status == Outcome::Ok {
        app.metrics.completed(Instant::now(), arrived.elapsed());
    }
    response
}

async fn compute_inner(
    app: &App,
    arrived: Instant,
    body: Result<Bytes, BytesRejection>,
) -> (Outcome, Response) {
    let body = match body {
        Ok(b) => b,
        Err(rej) => {
            let status = rej.status();
            let msg = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("request body larger than {} bytes", app.config.body_limit)
            } else {
                rej.body_text()
            };
            return (Outcome::Invalid, json_error(status, msg, None));
        }
    };
    let req = match parse_request(&body, &app.config) {
        Ok(r) => r,
        Err(e) => return (Outcome::Invalid, e.into_response()),
    };
    if app.draining.load(Ordering::SeqCst) {
        return (Outcome::Draining, unavailable(app, "shutting down"));
    }
    let Some(ready) = app.ready.get() else {
        return (Outcome::NotReady, unavailable(app, "initialising"));
    };
    let seed = req.seed.unwrap_or_else(|| fresh_seed(&app.seeds));
    let job = Job {
        size: req.size,
        iterations: req.iterations,
        seed,
    };
    let deadline = arrived + app.config.deadline;
    let rx = match ready.exec.submit(job, arrived, deadline) {
        Ok(rx) => rx,
        Err(Rejected::QueueFull) => {
            return (
                Outcome::QueueFull,
                unavailable(
                    app,
                    format!(
                        "queue full ({} waiting, {} running)",
                        ready.exec.capacity(),
                        ready.exec.workers()
                    ),
                ),
            );
        }
        Err(Rejected::Closed) => return (Outcome::Draining, unavailable(app, "shutting down")),
    };
    let timeout = || {
        (
            Outcome::Timeout,
            json_error(
                StatusCode::GATEWAY_TIMEOUT,
                format!("deadline of {} ms passed", app.config.deadline.as_millis()),
                None,
            ),
        )
    };
    let done = match tokio::time::timeout_at(deadline.into(), rx).await {
        Ok(Ok(done)) => done,
        Ok(Err(_)) => {
            return (
                Outcome::DeviceError,
                json_error(StatusCode::INTERNAL_SERVER_ERROR, "worker stopped", None),
            );
        }
        Err(_) => return timeout(),
    };
    match done.result {
        Ok(out) => (
            Outcome::Ok,
            Json(ComputeResponse {
                checksum: out.checksum,
                backend: ready.info.backend.to_string(),
                device: ready.info.device.clone(),
                queue_ms: done.queue_wait.as_secs_f64() * 1e3,
                compute_ms: out.compute_s * 1e3,
                size: job.size,
                iterations: job.iterations,
                seed,
            })
            .into_response(),
        ),
        Err(ComputeError::Stopped { .. }) => timeout(),
        Err(e @ ComputeError::OutOfMemory(_)) => {
            (Outcome::OutOfMemory, unavailable(app, e.to_string()))
        }
        Err(e @ ComputeError::Device(_)) => (
            Outcome::DeviceError,
            json_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None),
        ),
    }
}

fn fresh_seed(counter: &AtomicU64) -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    crate::compute::init_value(t, 2, counter.fetch_add(1, Ordering::Relaxed)).to_bits() as u64
        ^ t.rotate_left(17)
}

async fn healthz() -> Response {
    Json(serde_json::json!({"status": "alive"})).into_response()
}

async fn readyz(State(app): State<Shared>) -> Response {
    if let Some(e) = app.init_error.get() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "failed", "reason": e})),
        )
            .into_response();
    }
    let Some(ready) = app.ready.get() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "initialising"})),
        )
            .into_response();
    };
    let body = serde_json::json!({
        "status": if app.draining.load(Ordering::SeqCst) { "draining" } else { "ready" },
        "backend": ready.info.backend,
        "device": ready.info.device,
        "wait_mode": ready.info.wait_mode,
        "gpu_fallback_reason": ready.info.gpu_fallback_reason,
    });
    if app.draining.load(Ordering::SeqCst) {
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    } else {
        Json(body).into_response()
    }
}

fn is_ready(app: &App) -> bool {
    app.ready.get().is_some() && !app.draining.load(Ordering::SeqCst)
}

fn pending_info(app: &App) -> ServiceInfo {
    ServiceInfo {
        backend: "none",
        device: "initialising".into(),
        gpu_uuid: None,
        wait_mode: "none",
        workers: 0,
        queue_capacity: app.config.queue_capacity,
        gpu_fallback_reason: None,
    }
}

async fn metrics_text(State(app): State<Shared>) -> Response {
    let info = app
        .ready
        .get()
        .map(|r| r.info.clone())
        .unwrap_or_else(|| pending_info(&app));
    let text = app
        .metrics
        .prometheus(Instant::now(), &info, is_ready(&app), process_cpu_seconds());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn metrics_json(State(app): State<Shared>) -> Response {
    let info = app
        .ready
        .get()
        .map(|r| r.info.clone())
        .unwrap_or_else(|| pending_info(&app));
    Json(
        app.metrics
            .scaler_view(Instant::now(), &info, is_ready(&app)),
    )
    .into_response()
}

async fn not_found() -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        "no such endpoint (try POST /compute, GET /healthz, /readyz, /metrics, /metrics.json)",
        None,
    )
}

/// User plus system CPU seconds of this process.
pub fn process_cpu_seconds() -> f64 {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_SELF).map_or(0.0, |u| {
        let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 * 1e-6;
        t(u.user_time()) + t(u.system_time())
    })
}

fn router(app: Shared) -> Router {
    let limit = app.config.body_limit;
    Router::new()
        .route("/compute", post(compute))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/metrics.json", get(metrics_json))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}

/// Serves on `listener`: opens the backend with `open_backend` (on a
/// blocking thread, while `/healthz` already answers), then computes until
/// `shutdown` resolves, drains, and returns.
pub async fn serve<O, S>(
    listener: tokio::net::TcpListener,
    config: ServeConfig,
    open_backend: O,
    shutdown: S,
) -> Result<DrainReport, ServeError>
where
    O: FnOnce() -> Result<Backend, String> + Send + 'static,
    S: Future<Output = ()> + Send + 'static,
{
    let metrics = Arc::new(Metrics::new(config.latency_window));
    let app = Arc::new(App {
        config: config.clone(),
        metrics: metrics.clone(),
        ready: OnceLock::new(),
        init_error: OnceLock::new(),
        draining: AtomicBool::new(false),
        seeds: AtomicU64::new(0),
    });
    let stop_server = Arc::new(tokio::sync::Notify::new());
    let server = {
        let stop = stop_server.clone();
        let app = app.clone();
        tokio::spawn(async move {
            axum::serve(listener, router(app))
                .with_graceful_shutdown(async move { stop.notified().await })
                .await
        })
    };

    // Open the backend without blocking the server.
    let opened = tokio::task::spawn_blocking(open_backend)
        .await
        .map_err(|e| ServeError::Backend(format!("backend thread: {e}")))?;
    let backend = match opened {
        Ok(b) => b,
        Err(e) => {
            let _ = app.init_error.set(e.clone());
            stop_server.notify_one();
            let _ = server.await;
            return Err(ServeError::Backend(e));
        }
    };
    let info = ServiceInfo {
        backend: backend.kind.as_str(),
        device: backend.device.clone(),
        gpu_uuid: backend.gpu_uuid.clone(),
        wait_mode: backend.wait_mode.map_or("none", |w| w.as_str()),
        workers: backend.engines.len(),
        queue_capacity: config.queue_capacity,
        gpu_fallback_reason: backend.fallback_reason.clone(),
    };
    let monitor = match backend.gpu_uuid.as_deref() {
        Some(uuid) => match GpuMonitor::open(Some(uuid)) {
            Ok(m) => Some(m),
            Err(e) => {
                eprintln!("workload: {e}; GPU utilisation falls back to the device-busy share");
                None
            }
        },
        None => None,
    };
    let exec = Executor::start(backend.engines, config.queue_capacity, metrics.clone());
    let _gpu_device = backend.gpu;
    let _ = app.ready.set(Ready { exec, info });

    // The sampler: NVML and busy time every `sample_interval`.
    let sampler_stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = sampler_stop.clone();
        let metrics = metrics.clone();
        let every = config.sample_interval;
        std::thread::Builder::new()
            .name("sampler".into())
            .spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let reading = monitor.as_ref().and_then(GpuMonitor::read);
                    metrics.sample(Instant::now(), reading);
                    let until = Instant::now() + every;
                    while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(20).min(every));
                    }
                }
            })?
    };

    shutdown.await;
    app.draining.store(true, Ordering::SeqCst);
    let grace_end = Instant::now() + config.grace;
    while metrics.queued() + metrics.in_flight() > 0 && Instant::now() < grace_end {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let abandoned = metrics.queued() + metrics.in_flight();
    stop_server.notify_one();
    // Open connections get what is left of the grace period to finish.
    let left = grace_end.saturating_duration_since(Instant::now()) + Duration::from_millis(100);
    let _ = tokio::time::timeout(left, server).await;
    sampler_stop.store(true, Ordering::SeqCst);
    let _ = sampler.join();
    if let Some(ready) = app.ready.get() {
        ready.exec.close();
        if abandoned == 0 {
            ready.exec.join();
        }
    }
    Ok(DrainReport {
        drained: abandoned == 0,
        abandoned,
    })
}
