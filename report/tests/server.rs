//! The report server in-process: pages, 404s, CSV, JSON, escaping, errors,
//! and that it cannot write the dataset.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use report::report::ReportOptions;
use report::server::{app, AppState};
use tower::ServiceExt;

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

async fn get(db: &Path, uri: &str) -> (StatusCode, String, String) {
    let state = AppState::new(
        db.to_path_buf(),
        ReportOptions {
            slo_ms: 1000.0,
            charts: true,
        },
    );
    let res = app(state)
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let ctype = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, ctype, String::from_utf8_lossy(&body).into_owned())
}

/// A digest of the dataset file and its WAL, if any.
fn hash(path: &Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::fs::read(path).unwrap().hash(&mut h);
    std::fs::read(path.with_extension("sqlite-wal"))
        .unwrap_or_default()
        .hash(&mut h);
    h.finish()
}

struct Fixture {
    _dir: tempfile::TempDir,
    db: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = testkit::default_dataset(dir.path(), 6);
    Fixture { _dir: dir, db }
}

#[test]
fn campaign_page_has_five_sections_with_charts_numbers_and_findings() {
    let f = fixture();
    let before = hash(&f.db);
    block_on(async {
        let (s, _, index) = get(&f.db, "/").await;
        assert_eq!(s, StatusCode::OK);
        assert!(index.contains("href=\"/campaign/1/\""), "{index}");

        let (s, ctype, page) = get(&f.db, "/campaign/1/").await;
        assert_eq!(s, StatusCode::OK);
        assert!(ctype.starts_with("text/html"));
        for q in 1..=5 {
            assert!(page.contains(&format!("id=\"q{q}\"")), "section {q}");
        }
        assert!(
            page.matches("<img src=\"svg/").count() >= 5 * 6,
            "charts for every section and cell"
        );
        assert!(page.contains("id=\"serve\""), "Which policy serves best?");
        assert!(page.contains("href=\"csv/c0-pareto.csv\""));
        // Every chart the page shows is served, as SVG.
        for src in page.split("<img src=\"").skip(1) {
            let file = src.split('"').next().unwrap();
            let (s, ctype, svg) = get(&f.db, &format!("/campaign/1/{file}")).await;
            assert_eq!(s, StatusCode::OK, "{file}");
            assert_eq!(ctype, "image/svg+xml", "{file}");
            assert!(svg.starts_with("<svg"), "{file}");
        }
        let (s, _, csv) = get(&f.db, "/campaign/1/csv/c0-pareto.csv").await;
        assert_eq!(s, StatusCode::OK);
        assert!(csv.lines().count() >= 3, "{csv}");
        assert!(page.contains("Wilcoxon (paired)"));
        assert!(page.contains("6 / 6 (6 pairs)"));
        assert!(page.contains("SELECT t.scenario"));
        assert!(page.contains("class=\"finding"));
        assert!(page.contains("spec-derived: estimated from data sheets"));
        assert!(page.contains("href=\"csv/c0-gpu_util_mean.csv\""));

        let (s, ctype, csv) = get(&f.db, "/campaign/1/csv/c0-gpu_util_mean.csv").await;
        assert_eq!(s, StatusCode::OK);
        assert!(ctype.starts_with("text/csv"));
        assert!(csv.starts_with("arm,value\n"));
        assert_eq!(csv.lines().count(), 1 + 12);

        let (s, ctype, json) = get(&f.db, "/campaign/1/report.json").await;
        assert_eq!(s, StatusCode::OK);
        assert!(ctype.starts_with("application/json"));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["sections"].as_array().unwrap().len(), 5);

        let (s, _, trial) = get(&f.db, "/campaign/1/trial/1").await;
        assert_eq!(s, StatusCode::OK);
        assert!(trial.contains("Controller decisions"));
        assert!(trial.contains("<svg"));
    });
    assert_eq!(hash(&f.db), before, "serving must not change the dataset");
}

#[test]
fn unknown_things_are_404_pages_and_a_bad_dataset_is_a_500_page() {
    let f = fixture();
    block_on(async {
        for uri in [
            "/campaign/99/",
            "/campaign/abc/",
            "/campaign/1/trial/99999",
            "/campaign/1/trial/x",
            "/campaign/1/csv/nope.csv",
            "/campaign/1/csv/nope.txt",
            "/campaign/1/svg/nope.svg",
            "/campaign/1/svg/c0-pareto.csv",
            "/campaign/1/svg/c0-paretosvg",
            "/nothing",
        ] {
            let (s, ctype, body) = get(&f.db, uri).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{uri}");
            assert!(ctype.starts_with("text/html"), "{uri}");
            assert!(body.contains("404"), "{uri}");
        }
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.sqlite");
        std::fs::write(&junk, b"this is not a database").unwrap();
        let (s, _, body) = get(&junk, "/").await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body.contains("The dataset could not be read"), "{body}");
        let (s, _, body) = get(&dir.path().join("missing.sqlite"), "/campaign/1/").await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body.contains("no such dataset file"), "{body}");
    });
}

#[test]
fn everything_printed_is_escaped() {
    let f = fixture();
    block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", f.db.display()))
            .await
            .unwrap();
        sqlx::query("UPDATE campaigns SET name = '<script>alert(1)</script>'")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let (_, _, index) = get(&f.db, "/").await;
        // Printed, but as text: the tag's angle brackets are escaped.
        assert!(index.contains("alert(1)"));
        assert!(!index.contains("<script>"), "unescaped tag");
        assert!(index.contains("&lt;script&gt;") || index.contains("&#60;script&#62;"));
        let (_, _, page) = get(&f.db, "/campaign/1/").await;
        assert!(page.contains("alert(1)"));
        assert!(!page.contains("<script>"), "unescaped tag");
    });
}

#[test]
fn the_report_connection_cannot_write() {
    let f = fixture();
    block_on(async {
        let mut conn = report::dataset::connect_read_only(&f.db).await.unwrap();
        let err = sqlx::query("DELETE FROM requests")
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("readonly"), "{err}");
        let err = sqlx::query("CREATE TABLE x (a)")
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("readonly"), "{err}");
    });
}

/// Status and headers of `method uri`.
async fn head_of(db: &Path, method: &str, uri: &str) -> (StatusCode, axum::http::HeaderMap) {
    let state = AppState::new(
        db.to_path_buf(),
        ReportOptions {
            slo_ms: 1000.0,
            charts: true,
        },
    );
    let res = app(state)
        .oneshot(
            Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    (res.status(), res.headers().clone())
}

/// The security headers every response must carry, as (name, value).
const SECURITY_HEADERS: [(&str, &str); 4] = [
    (
        "content-security-policy",
        report::server::CONTENT_SECURITY_POLICY,
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
];

fn assert_security_headers(what: &str, headers: &axum::http::HeaderMap) {
    for (name, value) in SECURITY_HEADERS {
        assert_eq!(
            headers.get(name).map(|v| v.to_str().unwrap()),
            Some(value),
            "{what}: {name}"
        );
    }
}

#[test]
fn every_response_carries_the_security_headers() {
    let f = fixture();
    block_on(async {
        for (method, uri, status) in [
            ("GET", "/", StatusCode::OK),
            ("GET", "/campaign/1/", StatusCode::OK),
            ("GET", "/campaign/1/report.json", StatusCode::OK),
            (
                "GET",
                "/campaign/1/csv/c0-gpu_util_mean.csv",
                StatusCode::OK,
            ),
            ("GET", "/campaign/1/trial/1", StatusCode::OK),
            ("GET", "/campaign/1", StatusCode::PERMANENT_REDIRECT),
            ("GET", "/campaign/99/", StatusCode::NOT_FOUND),
            ("GET", "/campaign/1/csv/nope.csv", StatusCode::NOT_FOUND),
            ("GET", "/campaign/1/svg/c0-pareto.svg", StatusCode::OK),
            ("GET", "/nothing", StatusCode::NOT_FOUND),
            ("POST", "/", StatusCode::METHOD_NOT_ALLOWED),
        ] {
            let (s, headers) = head_of(&f.db, method, uri).await;
            assert_eq!(s, status, "{method} {uri}");
            assert_security_headers(&format!("{method} {uri}"), &headers);
        }
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.sqlite");
        std::fs::write(&junk, b"this is not a database").unwrap();
        let (s, headers) = head_of(&junk, "GET", "/").await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
        assert_security_headers("500", &headers);
    });
}

#[test]
fn the_pages_use_nothing_the_content_security_policy_forbids() {
    // The policy allows inline style elements, data: images, the server's
    // own images (the charts) and nothing else. A page that gained a script, a style attribute or anything
    // loaded from elsewhere needs the policy changed with it.
    let csp = report::server::CONTENT_SECURITY_POLICY;
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("script-src"), "{csp}");
    assert!(csp.contains("img-src 'self' data:;"), "{csp}");
    let f = fixture();
    block_on(async {
        for uri in [
            "/",
            "/campaign/1/",
            "/campaign/1/trial/1",
            "/campaign/99/",
            "/nothing",
        ] {
            let (_, ctype, page) = get(&f.db, uri).await;
            assert!(ctype.starts_with("text/html"), "{uri}");
            let lower = page.to_ascii_lowercase();
            assert!(!lower.contains("<script"), "{uri}: a script");
            for attr in [
                " style=",
                " onload=",
                " onclick=",
                " onerror=",
                "javascript:",
            ] {
                assert!(!lower.contains(attr), "{uri}: {attr}");
            }
            for tag in [
                "<iframe", "<object", "<embed", "<form", "<image", "@import", "url(",
            ] {
                assert!(!lower.contains(tag), "{uri}: {tag}");
            }
            // Only same-page or relative links; what is loaded is the data:
            // favicon and the campaign's own chart files.
            for src in lower.split("src=\"").skip(1) {
                let file = src.split('"').next().unwrap();
                assert!(
                    file.starts_with("svg/")
                        && file.ends_with(".svg")
                        && !file.contains("..")
                        && !file.contains(':'),
                    "{uri}: loads {file}"
                );
            }
            assert_eq!(
                lower.matches("src=\"").count(),
                lower.matches("<img src=\"svg/").count(),
                "{uri}: something other than an image loaded by src"
            );
            for link in lower.split("<link").skip(1) {
                assert!(link.contains("href=\"data:"), "{uri}: <link{link}");
            }
            assert_eq!(lower.matches("<style").count(), 1, "{uri}");
        }
    });
}

#[test]
fn the_loopback_server_sends_the_security_headers() {
    let f = fixture();
    block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = AppState::new(
            f.db.clone(),
            ReportOptions {
                slo_ms: 1000.0,
                charts: true,
            },
        );
        let server = tokio::spawn(report::server::serve(listener, state, async {
            let _ = stopped.await;
        }));
        for path in ["/", "/nothing"] {
            let head = tokio::task::spawn_blocking(move || {
                use std::io::{Read, Write};
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                let request =
                    format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
                s.write_all(request.as_bytes()).unwrap();
                let mut raw = Vec::new();
                s.read_to_end(&mut raw).unwrap();
                let text = String::from_utf8_lossy(&raw).to_ascii_lowercase();
                text.split("\r\n\r\n").next().unwrap().to_owned()
            })
            .await
            .unwrap();
            for (name, value) in SECURITY_HEADERS {
                let line = format!("{name}: {}", value.to_ascii_lowercase());
                assert!(head.lines().any(|l| l == line), "{path}: {line}\n{head}");
            }
        }
        let _ = stop.send(());
        server.await.unwrap().unwrap();
    });
}
