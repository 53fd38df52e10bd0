//! A small dataset made by the bench, shared by the report's tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use bench::campaign::Campaign;
use bench::runner::{run_campaign, Clock, RunOptions};

struct FixedClock;

impl Clock for FixedClock {
    fn now_rfc3339(&self) -> String {
        "2026-01-01T00:00:00.000Z".into()
    }
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs the default campaign with `seeds` seeds per cell into `dir`.
pub fn dataset(dir: &Path, seeds: u32) -> PathBuf {
    let text = std::fs::read_to_string(root().join("data/campaigns/default.toml"))
        .unwrap()
        .replace("count = 20", &format!("count = {seeds}"));
    let cdir = root().join("data/campaigns");
    let c = Campaign::parse(&text, &cdir.join("default.toml"), &cdir).unwrap();
    let db = dir.join("trials.sqlite");
    let opts = RunOptions {
        local: Default::default(),
        k8s: Default::default(),
        stop: Default::default(),
        db: db.clone(),
        backend: "sim".into(),
        jobs: 2,
        progress: false,
        host: "test".into(),
    };
    run_campaign(&c, &opts, &FixedClock).unwrap();
    // Fold the WAL into the file and close, so that the file stays as it is.
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
                .await
                .unwrap();
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
        });
    db
}
