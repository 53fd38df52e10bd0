//! The controller's own HTTP endpoints.
//!
//! * `GET /healthz`: 200 while the loop is alive (a tick, ok or failed,
//!   finished within the last max(10 intervals, 30 s), counting from the
//!   start before the first), else 503. API outages do not
//!   fail it: the loop is alive and retrying, and a restart would not help.
//! * `GET /metrics`: Prometheus text (counters and replica gauges).
//! * `GET /decisions[?since=UNIX_S]`: the recent decisions as JSON, oldest
//!   first, optionally only those after `since` (the bench reads them).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use k8s_openapi::jiff::Timestamp;

use super::controller::{lock, Status};
use super::unix_s;

/// The router over a controller's status.
pub fn router(status: Arc<Mutex<Status>>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/decisions", get(decisions))
        .with_state(status)
}

async fn healthz(State(status): State<Arc<Mutex<Status>>>) -> Response {
    let st = lock(&status);
    let allowed = (st.interval_s * 10.0).max(30.0);
    let now = unix_s(&Timestamp::now());
    // Before the first tick ends, the start counts: a first tick that hangs
    // fails the probe too.
    let t = st.last_tick_unix_s.unwrap_or(st.started_unix_s);
    if now - t > allowed {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("no tick finished for {:.0} s\n", now - t),
        )
            .into_response()
    } else {
        (StatusCode::OK, "ok\n").into_response()
    }
}

/// Prometheus text exposition of the status.
pub fn render_metrics(st: &Status) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, value: f64| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "{name} {value}");
    };
    family(
        "userscale_scaler_ticks_total",
        "counter",
        "Control-loop ticks that decided.",
        st.ticks_ok as f64,
    );
    family(
        "userscale_scaler_tick_failures_total",
        "counter",
        "Ticks abandoned because an API call failed after its retries.",
        st.ticks_failed as f64,
    );
    family(
        "userscale_scaler_metrics_missing_holds_total",
        "counter",
        "Ticks that held because a ready pod did not report its metrics.",
        st.holds_missing_metrics as f64,
    );
    family(
        "userscale_scaler_scale_patches_total",
        "counter",
        "Patches of the Deployment's scale subresource.",
        st.patches as f64,
    );
    family(
        "userscale_scaler_events_total",
        "counter",
        "Events created.",
        st.events as f64,
    );
    family(
        "userscale_scaler_event_failures_total",
        "counter",
        "Events that could not be created.",
        st.event_errors as f64,
    );
    if let Some(c) = st.current_replicas {
        family(
            "userscale_scaler_current_replicas",
            "gauge",
            "spec.replicas seen at the last tick.",
            f64::from(c),
        );
    }
    if let Some(d) = st.desired_replicas {
        family(
            "userscale_scaler_desired_replicas",
            "gauge",
            "Replicas the last tick asked for.",
            f64::from(d),
        );
    }
    family(
        "userscale_scaler_min_replicas",
        "gauge",
        "The policy's lowest replica count.",
        f64::from(st.bounds.0),
    );
    family(
        "userscale_scaler_max_replicas",
        "gauge",
        "The policy's highest replica count.",
        f64::from(st.bounds.1),
    );
    family(
        "userscale_scaler_dry_run",
        "gauge",
        "1 when decisions are only logged.",
        if st.dry_run { 1.0 } else { 0.0 },
    );
    out
}

async fn metrics(State(status): State<Arc<Mutex<Status>>>) -> Response {
    let body = render_metrics(&lock(&status));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn decisions(
    State(status): State<Arc<Mutex<Status>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let since = match q.get("since").map(|s| s.parse::<f64>()) {
        None => f64::NEG_INFINITY,
        Some(Ok(v)) if v.is_finite() => v,
        Some(_) => {
            return (
                StatusCode::BAD_REQUEST,
                "`since` must be a number of seconds since the Unix epoch\n",
            )
                .into_response()
        }
    };
    let list: Vec<_> = lock(&status)
        .decisions
        .iter()
        .filter(|d| d.unix_s > since)
        .cloned()
        .collect();
    match serde_json::to_vec(&list) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
