//! The example queries of docs/dataset.md run as written against a fresh
//! dataset and return rows.
#![allow(clippy::unwrap_used)]

mod common;

use bench::campaign::Campaign;
use bench::runner::{run_campaign, Clock, RunOptions};
use sqlx::{Connection, SqliteConnection};

struct FixedClock;

impl Clock for FixedClock {
    fn now_rfc3339(&self) -> String {
        "2026-01-01T00:00:00.000Z".into()
    }
}

#[test]
fn documented_queries_run_and_return_rows() {
    let docs = std::fs::read_to_string(common::root().join("docs/dataset.md")).unwrap();
    let queries: Vec<&str> = docs
        .split("```sql\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert_eq!(
        queries.len(),
        3,
        "docs/dataset.md promises three example queries"
    );

    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(common::root().join("data/campaigns/default.toml"))
        .unwrap()
        .replace("count = 20", "count = 2");
    let cdir = common::root().join("data/campaigns");
    let c = Campaign::parse(&text, &cdir.join("default.toml"), &cdir).unwrap();
    let db = dir.path().join("d.sqlite");
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
    let s = run_campaign(&c, &opts, &FixedClock).unwrap();
    assert_eq!(s.ran, 24);

    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async {
            let mut conn = SqliteConnection::connect(&format!("sqlite://{}", db.display()))
                .await
                .unwrap();
            for q in queries {
                let rows = sqlx::query(q).fetch_all(&mut conn).await.unwrap();
                assert!(!rows.is_empty(), "no rows from:\n{q}");
            }
        });
}
