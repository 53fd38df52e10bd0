//! The HTTP service (axum): `/compute`, `/healthz`, `/readyz`, `/metrics`,
//! `/metrics.json`, and the drain on shutdown.
//!
//! Life cycle: the listener is bound first and answers `/healthz` at once;
//! `/readyz` answers 503 `initialising` until the backend is open, then 200.
//! On shutdown (SIGTERM in the binary) `/readyz` turns 503 `draining`, new
//! `/compute` requests get 503 with `Retry-After`, queued and running work
//! finishes, and only then does the listener close — within the grace
//! period, or [`serve`] returns an error naming what was abandoned.
//!
//! Connections are served by hyper's HTTP/1 connection directly (not
//! `axum::serve`), so that each one can be bounded: at most
//! [`ServeConfig::max_connections`] are open (one more is closed as soon as
//! it is accepted), one that receives no byte for
//! [`ServeConfig::idle_timeout`] (since it opened or since its last
//! response) is closed, and so is one whose request head is not complete
//! [`ServeConfig::header_timeout`] after its first byte.
//!
//! Every error answer written by this service is JSON of one shape,
//! [`ErrorBody`]; the answers hyper writes itself for a head it cannot
//! parse (400, and 431 for a head over [`HEAD_BUFFER_BYTES`] or with more
//! than 100 header fields) have an empty body, since hyper writes them
//! before any of this service's code runs and offers no hook for a body.

use crate::backend::Backend;
use crate::compute::{BackendKind, ComputeError, Job};
use crate::exec::{host_working_bytes, Executor, MemoryBudget, NoMemory, Rejected};
use crate::metrics::{ConnectionClose, Metrics, Outcome, ServiceInfo};
use crate::nvml::GpuMonitor;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};

/// Longest request target (path and query) answered; longer ones get a
/// JSON 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Largest header block (names, values and separators) answered; larger
/// ones get a JSON 431.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Most header fields answered; more get a JSON 431 (above hyper's own
/// limit of 100, hyper answers 431 with an empty body).
pub const MAX_HEADERS: usize = 64;
/// hyper's read buffer per connection, bytes: a request head that does not
/// fit gets hyper's own 431 with an empty body. It also bounds what a
/// connection sending a head slowly can make the server hold.
pub const HEAD_BUFFER_BYTES: usize = 32 * 1024;

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
    /// A request head must be complete this long after its first byte, and
    /// a `/compute` body this long after its head; otherwise the
    /// connection is closed (head) or answered 408 (body).
    pub header_timeout: Duration,
    /// A connection that receives no byte for this long, since it opened
    /// or since its last response, is closed.
    pub idle_timeout: Duration,
    /// Most connections open at once; one more is closed on arrival.
    pub max_connections: usize,
    /// Working memory that queued and running requests may hold, bytes
    /// (CPU backend: 4 n×n float32 matrices per request).
    pub memory_budget: u64,
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
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(20),
            max_connections: 4096,
            memory_budget: 3 << 30,
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
    kind: BackendKind,
}

struct App {
    config: ServeConfig,
    metrics: Arc<Metrics>,
    memory: Arc<MemoryBudget>,
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

/// Walks a JSON document and fails at the first key that appears twice in
/// one object, leaving that key in the cell (serde_json's own parsers keep
/// the last value of a repeated key without a word).
#[derive(Clone, Copy)]
struct NoDuplicateKeys<'a>(&'a RefCell<Option<String>>);

impl<'de> DeserializeSeed<'de> for NoDuplicateKeys<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NoDuplicateKeys<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                let msg = format!("duplicate key `{key}`");
                *self.0.borrow_mut() = Some(key);
                return Err(A::Error::custom(msg));
            }
            map.next_value_seed(self)?;
            seen.insert(key);
        }
        Ok(())
    }
}

/// Parses and checks a `/compute` body; the error names the field.
fn parse_request(body: &[u8], config: &ServeConfig) -> Result<ComputeRequest, InputError> {
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(body);
    let scanned = NoDuplicateKeys(&duplicate)
        .deserialize(&mut de)
        .and_then(|()| de.end());
    if let Err(e) = scanned {
        let (error, field) = match duplicate.into_inner() {
            Some(key) => (format!("duplicate key `{key}` in the JSON body"), Some(key)),
            None => (format!("malformed JSON: {e}"), None),
        };
        return Err(InputError {
            status: StatusCode::BAD_REQUEST,
            error,
            field,
        });
    }
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

async fn compute(State(app): State<Shared>, req: Request) -> Response {
    let arrived = Instant::now();
    let (status, response) = compute_inner(&app, arrived, req).await;
    app.metrics.count(status);
    if status == Outcome::Ok {
        app.metrics.completed(Instant::now(), arrived.elapsed());
    }
    response
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1u64 << 20) as f64)
}

async fn compute_inner(app: &App, arrived: Instant, req: Request) -> (Outcome, Response) {
    let limit = app.config.header_timeout;
    let body = match tokio::time::timeout(limit, Bytes::from_request(req, &())).await {
        Ok(Ok(b)) => b,
        Ok(Err(rej)) => {
            let status = rej.status();
            let msg = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("request body larger than {} bytes", app.config.body_limit)
            } else {
                rej.body_text()
            };
            return (Outcome::Invalid, json_error(status, msg, None));
        }
        Err(_) => {
            let mut r = json_error(
                StatusCode::REQUEST_TIMEOUT,
                format!("request body not received within {} ms", limit.as_millis()),
                None,
            );
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return (Outcome::Invalid, r);
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
    let memory = match app.memory.try_reserve(host_working_bytes(ready.kind, &job)) {
        Ok(r) => r,
        Err(NoMemory::NeverFits { needed, budget }) => {
            return (
                Outcome::Invalid,
                json_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!(
                        "`size` {} needs {} MiB of working memory, more than the memory budget of {} MiB",
                        job.size,
                        mib(needed),
                        mib(budget)
                    ),
                    Some("size".into()),
                ),
            );
        }
        Err(NoMemory::Busy {
            needed,
            reserved,
            budget,
        }) => {
            return (
                Outcome::MemoryBusy,
                unavailable(
                    app,
                    format!(
                        "memory budget busy: {} MiB needed, {} of {} MiB reserved by other requests",
                        mib(needed),
                        mib(reserved),
                        mib(budget)
                    ),
                ),
            );
        }
    };
    let deadline = arrived + app.config.deadline;
    let rx = match ready.exec.submit(job, memory, arrived, deadline) {
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

/// Header bytes as they stood in the request: names, values, ": " and CRLF.
fn header_bytes(headers: &axum::http::HeaderMap) -> usize {
    headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum()
}

/// Checks what hyper let through before any handler runs: the request
/// target and header sizes, and an announced body above the limit.
async fn guard(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    let too_large = if target > MAX_URI_BYTES {
        Some((
            StatusCode::URI_TOO_LONG,
            format!("request target of {target} bytes, more than {MAX_URI_BYTES}"),
        ))
    } else if req.headers().len() > MAX_HEADERS {
        Some((
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "{} header fields, more than {MAX_HEADERS}",
                req.headers().len()
            ),
        ))
    } else if header_bytes(req.headers()) > MAX_HEADER_BYTES {
        Some((
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "{} bytes of header fields, more than {MAX_HEADER_BYTES}",
                header_bytes(req.headers())
            ),
        ))
    } else {
        // An announced length above the limit is refused before any of the
        // body is read, and so before hyper sends `100 Continue`.
        let announced = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        announced
            .filter(|n| *n > app.config.body_limit as u64)
            .map(|n| {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "request body of {n} bytes announced, larger than {} bytes",
                        app.config.body_limit
                    ),
                )
            })
    };
    if let Some((status, msg)) = too_large {
        if req.uri().path() == "/compute" {
            app.metrics.count(Outcome::Invalid);
        }
        let mut r = json_error(status, msg, None);
        // The body, if any, is left unread: the connection cannot be reused.
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return r;
    }
    next.run(req).await
}

/// An error answer whose body is not JSON (axum's own, such as 405, whose
/// `Allow` header the router adds outside any layer), rewritten as
/// [`ErrorBody`] with the old body (or the status's reason) as `error`;
/// other answers as they are.
async fn json_errors(r: Response) -> Response {
    let status = r.status();
    let is_json = r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return r;
    }
    let (mut parts, body) = r.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let mut error = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase()
    } else {
        text
    };
    if status == StatusCode::METHOD_NOT_ALLOWED {
        if let Some(allow) = parts
            .headers
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok())
        {
            error = format!("{error} (allowed: {allow})");
        }
    }
    let body = serde_json::to_vec(&ErrorBody { error, field: None }).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
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
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

/// What one connection has been doing, for its time-outs. Updated by its
/// reader (bytes in), its service (requests begin and end) and read by its
/// task, all on the connection's own task.
struct Activity {
    state: Mutex<ConnState>,
    changed: Notify,
}

struct ConnState {
    /// Requests being answered.
    active: usize,
    /// When the connection opened or its last request was answered.
    idle_since: Instant,
    /// The first byte of a request head after `idle_since`.
    head_started: Option<Instant>,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            state: Mutex::new(ConnState {
                active: 0,
                idle_since: Instant::now(),
                head_started: None,
            }),
            changed: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ConnState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bytes_in(&self) {
        let mut s = self.state();
        if s.active == 0 && s.head_started.is_none() {
            s.head_started = Some(Instant::now());
            drop(s);
            self.changed.notify_one();
        }
    }

    fn begin(&self) {
        let mut s = self.state();
        s.active += 1;
        s.head_started = None;
        drop(s);
        self.changed.notify_one();
    }

    fn end(&self) {
        let mut s = self.state();
        s.active = s.active.saturating_sub(1);
        if s.active == 0 {
            s.idle_since = Instant::now();
            s.head_started = None;
        }
        drop(s);
        self.changed.notify_one();
    }

    /// When the connection is to be closed, and why, if nothing happens
    /// before; `None` while a request is being answered.
    fn expiry(&self, limits: &ConnLimits) -> Option<(Instant, ConnectionClose)> {
        let s = self.state();
        if s.active > 0 {
            return None;
        }
        match s.head_started {
            Some(t) => t
                .checked_add(limits.header)
                .map(|at| (at, ConnectionClose::HeaderTimeout)),
            None => s
                .idle_since
                .checked_add(limits.idle)
                .map(|at| (at, ConnectionClose::Idle)),
        }
    }
}

/// Marks a request as being answered while it lives.
struct InRequest(Arc<Activity>);

impl InRequest {
    fn begin(a: Arc<Activity>) -> InRequest {
        a.begin();
        InRequest(a)
    }
}

impl Drop for InRequest {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// A TCP stream that tells its [`Activity`] when bytes arrive.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.bytes_in();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[derive(Clone, Copy)]
struct ConnLimits {
    header: Duration,
    idle: Duration,
}

/// Counts a served connection in the metrics while it lives.
struct Open(Arc<Metrics>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.connection_ended();
    }
}

/// Serves one connection until it ends, times out, or (after `closing`
/// turns true) finishes the request in progress.
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    limits: ConnLimits,
    mut closing: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
    _slot: OwnedSemaphorePermit,
) {
    metrics.connection_opened();
    let _open = Open(metrics.clone());
    let activity = Arc::new(Activity::new());
    let io = hyper_util::rt::TokioIo::new(Tracked {
        inner: stream,
        activity: activity.clone(),
    });
    let tower = hyper_util::service::TowerToHyperService::new(router);
    let svc_activity = activity.clone();
    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let busy = InRequest::begin(svc_activity.clone());
        let answer = hyper::service::Service::call(&tower, req);
        async move {
            let r = match answer.await {
                Ok(r) => json_errors(r).await,
                Err(never) => match never {},
            };
            drop(busy);
            Ok::<_, std::convert::Infallible>(r)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .max_buf_size(HEAD_BUFFER_BYTES)
        .header_read_timeout(None::<Duration>);
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    let mut shutting_down = false;
    loop {
        let expiry = activity.expiry(&limits);
        let wait = async move {
            match expiry {
                Some((at, _)) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = conn.as_mut() => return,
            () = activity.changed.notified() => {}
            _ = closing.changed(), if !shutting_down => {
                shutting_down = true;
                conn.as_mut().graceful_shutdown();
            }
            () = wait => {
                let now = Instant::now();
                if let Some((at, why)) = activity.expiry(&limits) {
                    if now >= at {
                        // Nothing is being answered: closing loses nothing.
                        metrics.connection_closed(why);
                        return;
                    }
                }
            }
        }
    }
}

/// Accepts connections until `stop` is notified, then stops listening,
/// lets every connection finish its request in progress, and returns once
/// all have closed.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    router: Router,
    config: ServeConfig,
    metrics: Arc<Metrics>,
    stop: Arc<Notify>,
) {
    let limits = ConnLimits {
        header: config.header_timeout,
        idle: config.idle_timeout,
    };
    let max = config
        .max_connections
        .clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
    let slots = Arc::new(Semaphore::new(max));
    let (closing_tx, closing_rx) = watch::channel(false);
    loop {
        let accepted = tokio::select! {
            () = stop.notified() => break,
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                use std::io::ErrorKind::*;
                if !matches!(
                    e.kind(),
                    ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
                ) {
                    // Out of file descriptors, most likely: wait for some
                    // to close rather than spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics.connection_closed(ConnectionClose::OverLimit);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(
            stream,
            router.clone(),
            limits,
            closing_rx.clone(),
            metrics.clone(),
            slot,
        ));
    }
    drop(listener);
    let _ = closing_tx.send(true);
    // Every connection holds a slot until it ends.
    let _ = slots.acquire_many(max as u32).await;
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
        memory: MemoryBudget::new(config.memory_budget, metrics.clone()),
        ready: OnceLock::new(),
        init_error: OnceLock::new(),
        draining: AtomicBool::new(false),
        seeds: AtomicU64::new(0),
    });
    let stop_server = Arc::new(tokio::sync::Notify::new());
    let server = tokio::spawn(accept_loop(
        listener,
        router(app.clone()),
        config.clone(),
        metrics.clone(),
        stop_server.clone(),
    ));

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
                tracing::warn!("{e}; GPU utilisation falls back to the device-busy share");
                None
            }
        },
        None => None,
    };
    let kind = backend.kind;
    let exec = Executor::start(backend.engines, config.queue_capacity, metrics.clone());
    let _gpu_device = backend.gpu;
    let _ = app.ready.set(Ready { exec, info, kind });

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
