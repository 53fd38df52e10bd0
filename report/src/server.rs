//! `report serve`: the report over HTTP (axum). The dataset is opened
//! read-only for every request; campaign reports are cached until the
//! campaign's complete-trial count changes. No handler panics on a request:
//! unknown campaigns or trials are 404 pages, a bad dataset a 500 page with
//! the reason (and a line on stderr).

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use crate::charts::Chart;
use crate::dataset::{self, connect_read_only};
use crate::pages::{self, CampaignPage, ErrorPage, IndexPage, Links};
use crate::report::{self, CampaignReport, ReportOptions};
use crate::Error;

/// Campaign id → (complete trials when built, the report).
type ReportCache = HashMap<i64, (i64, Arc<CampaignReport>)>;

/// Server state.
#[derive(Clone)]
pub struct AppState {
    db: PathBuf,
    opts: ReportOptions,
    cache: Arc<Mutex<ReportCache>>,
}

impl AppState {
    /// State for the dataset at `db`.
    pub fn new(db: PathBuf, opts: ReportOptions) -> AppState {
        AppState {
            db,
            opts,
            cache: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

/// The `Content-Security-Policy` of every response. The pages load only
/// images: a campaign page's charts are SVG files of this server
/// (`img-src 'self'`), a trial page's inline SVG; their only style is the
/// `<style>` element of `templates/base.html` (hence `style-src
/// 'unsafe-inline'`), their favicon a `data:` URL, and they have no script
/// at all, so scripts, frames, plugins, fonts, connections and forms fall
/// to `'none'`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The router. Every response, pages, files, redirects, 404s and errors
/// alike, carries [`CONTENT_SECURITY_POLICY`], `X-Content-Type-Options:
/// nosniff`, `Referrer-Policy: no-referrer` and `X-Frame-Options: DENY`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/campaign/{id}", get(campaign_redirect))
        .route("/campaign/{id}/", get(campaign))
        .route("/campaign/{id}/report.json", get(campaign_json))
        .route("/campaign/{id}/csv/{file}", get(chart_csv))
        .route("/campaign/{id}/svg/{file}", get(chart_svg))
        .route("/campaign/{id}/trial/{trial}", get(trial))
        .fallback(not_found)
        .with_state(state)
        .layer(axum::middleware::map_response(security_headers))
}

async fn security_headers(mut res: Response) -> Response {
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

/// Serves `app` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// A request that could not be answered with the page asked for.
enum AppError {
    NotFound(String),
    Internal(Error),
}

impl From<Error> for AppError {
    fn from(e: Error) -> Self {
        AppError::Internal(e)
    }
}

fn error_page(status: StatusCode, message: &str) -> Response {
    let label = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let html = ErrorPage {
        status: &label,
        message,
    }
    .render()
    .unwrap_or_else(|_| "error".to_string());
    (status, Html(html)).into_response()
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::NotFound(m) => error_page(StatusCode::NOT_FOUND, &m),
            AppError::Internal(e) => {
                tracing::warn!("request failed: {e}");
                error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("The dataset could not be read: {e}"),
                )
            }
        }
    }
}

type AppResult<T> = std::result::Result<T, AppError>;

fn parse_id(s: &str, what: &str) -> AppResult<i64> {
    s.parse::<i64>()
        .map_err(|_| AppError::NotFound(format!("There is no {what} `{s}`.")))
}

async fn index(State(st): State<AppState>) -> AppResult<Html<String>> {
    let mut conn = connect_read_only(&st.db).await?;
    let campaigns = dataset::campaigns(&mut conn).await?;
    let db = st.db.display().to_string();
    let page = IndexPage {
        db: &db,
        campaigns: &campaigns,
        links: Links::Server,
    };
    Ok(Html(page.render().map_err(Error::from)?))
}

async fn campaign_redirect(Path(id): Path<String>) -> AppResult<Redirect> {
    let id = parse_id(&id, "campaign")?;
    Ok(Redirect::permanent(&format!("/campaign/{id}/")))
}

/// The report of campaign `id`, from the cache when it is current.
async fn load_report(st: &AppState, id: i64) -> AppResult<Arc<CampaignReport>> {
    let mut conn = connect_read_only(&st.db).await?;
    let info = dataset::campaigns(&mut conn)
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| AppError::NotFound(format!("There is no campaign {id} in this dataset.")))?;
    if let Ok(cache) = st.cache.lock() {
        if let Some((complete, r)) = cache.get(&id) {
            if *complete == info.complete {
                return Ok(r.clone());
            }
        }
    }
    let data = dataset::load_campaign(&mut conn, &st.db, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("There is no campaign {id} in this dataset.")))?;
    let opts = st.opts;
    let r = Arc::new(
        tokio::task::spawn_blocking(move || report::build_detached(&data, opts))
            .await
            .map_err(|e| Error::Dataset(format!("report task failed: {e}")))??,
    );
    if let Ok(mut cache) = st.cache.lock() {
        cache.insert(id, (info.complete, r.clone()));
    }
    Ok(r)
}

async fn campaign(State(st): State<AppState>, Path(id): Path<String>) -> AppResult<Html<String>> {
    let id = parse_id(&id, "campaign")?;
    let r = load_report(&st, id).await?;
    let page = CampaignPage {
        r: &r,
        links: Links::Server,
        index_href: "/",
        json_href: "report.json",
    };
    Ok(Html(page.render().map_err(Error::from)?))
}

async fn campaign_json(State(st): State<AppState>, Path(id): Path<String>) -> AppResult<Response> {
    let id = parse_id(&id, "campaign")?;
    let r = load_report(&st, id).await?;
    let body = serde_json::to_string_pretty(&*r).map_err(|e| Error::Dataset(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn chart_csv(
    State(st): State<AppState>,
    Path((id, file)): Path<(String, String)>,
) -> AppResult<Response> {
    chart_file(&st, &id, &file, "csv", "text/csv; charset=utf-8", |c| {
        c.csv.clone()
    })
    .await
}

async fn chart_svg(
    State(st): State<AppState>,
    Path((id, file)): Path<(String, String)>,
) -> AppResult<Response> {
    chart_file(&st, &id, &file, "svg", "image/svg+xml", |c| c.svg.clone()).await
}

/// One chart of campaign `id` as a file: `file` is the chart's id with
/// extension `ext`.
async fn chart_file(
    st: &AppState,
    id: &str,
    file: &str,
    ext: &str,
    content_type: &'static str,
    body: impl Fn(&Chart) -> String,
) -> AppResult<Response> {
    let id = parse_id(id, "campaign")?;
    let chart_id = file
        .strip_suffix(ext)
        .and_then(|f| f.strip_suffix('.'))
        .ok_or_else(|| AppError::NotFound(format!("There is no file `{file}`.")))?;
    let r = load_report(st, id).await?;
    let chart = r
        .charts()
        .find(|c| c.id == chart_id)
        .ok_or_else(|| AppError::NotFound(format!("Campaign {id} has no chart `{chart_id}`.")))?;
    Ok(([(header::CONTENT_TYPE, content_type)], body(chart)).into_response())
}

async fn trial(
    State(st): State<AppState>,
    Path((id, trial)): Path<(String, String)>,
) -> AppResult<Html<String>> {
    let id = parse_id(&id, "campaign")?;
    let tid = parse_id(&trial, "trial")?;
    let mut conn = connect_read_only(&st.db).await?;
    let page = pages::trial_page(&mut conn, id, tid, Links::Server)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("Campaign {id} has no complete trial {tid}.")))?;
    Ok(Html(page.render().map_err(Error::from)?))
}

async fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "There is no such page.")
}
