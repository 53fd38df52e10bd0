//! `report render` and `report serve` given something that is not a
//! dataset they can read: each says what is wrong, once, naming the file,
//! and exits 2; the server's pages say the same.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use report::report::ReportOptions;
use report::server::{app, AppState};
use sqlx::Connection;
use tower::ServiceExt;

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Exit status and stderr of `report ARGS`. A `serve` that starts (prints
/// its address) instead of refusing is stopped and fails the test.
fn report(args: &[&str]) -> (i32, String) {
    use std::io::{BufRead, Read};
    let mut child = Command::new(env!("CARGO_BIN_EXE_report"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Blocks until the first line or the end of the output: a server that
    // started says where; one that refused exits without a word here.
    let mut first = String::new();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut first).unwrap();
    if args[0] == "serve" && !first.is_empty() {
        child.kill().unwrap();
        child.wait().unwrap();
        panic!("{args:?} started serving instead of refusing: {first}");
    }
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    (status.code().unwrap(), stderr)
}

/// Runs `render --format json`, `render` (html) and `serve` on `db`; each
/// must exit 2 with `expected` on stderr exactly once (with the file's
/// name), and say nothing else.
fn refused_everywhere(db: &Path, expected: &str) {
    let out = tempfile::tempdir().unwrap();
    let html_out = out.path().join("html");
    let db_text = db.to_str().unwrap();
    for args in [
        vec!["render", "--format", "json", "--db", db_text],
        vec![
            "render",
            "--db",
            db_text,
            "--out",
            html_out.to_str().unwrap(),
        ],
        vec!["serve", "--db", db_text, "--bind", "127.0.0.1:0"],
    ] {
        let (code, stderr) = report(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(db_text), "{args:?}: {stderr}");
        assert_eq!(
            stderr.matches(expected).count(),
            1,
            "{args:?}: want `{expected}` once: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
    // The server, had it started on a good file that then went bad, says
    // the same on its 500 page.
    let (status, body) = block_on(get(db, "/"));
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains(expected), "{body}");
}

async fn get(db: &Path, uri: &str) -> (StatusCode, String) {
    let state = AppState::new(
        db.to_path_buf(),
        ReportOptions {
            slo_ms: 1000.0,
            charts: false,
        },
    );
    let res = app(state)
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A small real dataset in `dir`.
fn dataset(dir: &Path) -> PathBuf {
    testkit::default_dataset(dir, 1)
}

/// Runs `sql` on the dataset at `db` (a writable connection).
fn alter(db: &Path, sql: &str) {
    block_on(async {
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    });
}

#[test]
fn files_that_are_not_databases_get_one_message_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let good = dataset(dir.path());

    let text = dir.path().join("notes.sqlite");
    std::fs::write(&text, "these are notes, not a database\n".repeat(200)).unwrap();
    refused_everywhere(
        &text,
        &format!(
            "{} is not a readable bench dataset: file is not a database",
            text.display()
        ),
    );

    let zeroed = dir.path().join("zeroed.sqlite");
    let mut bytes = std::fs::read(&good).unwrap();
    bytes[..100].fill(0);
    std::fs::write(&zeroed, &bytes).unwrap();
    refused_everywhere(
        &zeroed,
        &format!(
            "{} is not a readable bench dataset: file is not a database",
            zeroed.display()
        ),
    );

    let truncated = dir.path().join("truncated.sqlite");
    let bytes = std::fs::read(&good).unwrap();
    assert!(bytes.len() > 64 * 1024, "{}", bytes.len());
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    refused_everywhere(
        &truncated,
        &format!(
            "{} is not a readable bench dataset: database disk image is malformed",
            truncated.display()
        ),
    );
}

#[test]
fn the_tables_really_missing_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = dataset(dir.path());
    alter(&db, "DROP TABLE decisions");
    refused_everywhere(
        &db,
        &format!(
            "{} is not a bench dataset: missing table(s) decisions",
            db.display()
        ),
    );
    alter(&db, "DROP TABLE pod_samples; DROP TABLE scaling_events;");
    refused_everywhere(
        &db,
        &format!(
            "{} is not a bench dataset: missing table(s) pod_samples, scaling_events, decisions",
            db.display()
        ),
    );
}

#[test]
fn a_directory_is_called_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("trials.sqlite");
    std::fs::create_dir(&d).unwrap();
    refused_everywhere(
        &d,
        &format!("{} is a directory, not a dataset file", d.display()),
    );
    // A file that is not there is still called that.
    let missing = dir.path().join("missing.sqlite");
    refused_everywhere(
        &missing,
        &format!("{}: no such dataset file", missing.display()),
    );
}

#[test]
fn a_dataset_from_a_newer_bench_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dataset(dir.path());
    let known = report::dataset::known_migration();
    assert!(known >= 2, "{known}");
    let newer = known + 1;
    alter(
        &db,
        &format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES ({newer}, 'from the future', 1, x'00', 1)"
        ),
    );
    refused_everywhere(
        &db,
        &format!(
            "{} was written by a newer bench (migration {newer})",
            db.display()
        ),
    );
}

#[test]
fn a_good_dataset_still_opens() {
    let dir = tempfile::tempdir().unwrap();
    let db = dataset(dir.path());
    let (code, stderr) = report(&["render", "--format", "json", "--db", db.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let (status, body) = block_on(get(&db, "/"));
    assert_eq!(status, StatusCode::OK, "{body}");
}
