//! The example queries of docs/dataset.md run as written against a fresh
//! dataset and return rows.
#![allow(clippy::unwrap_used)]

use sqlx::{Connection, SqliteConnection};

#[test]
fn documented_queries_run_and_return_rows() {
    let docs = std::fs::read_to_string(testkit::root().join("docs/dataset.md")).unwrap();
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
    let db = dir.path().join("d.sqlite");
    let s = testkit::simulate_into(&testkit::campaign_with_seeds("default", 2), &db, 2);
    assert_eq!(s.ran, 24);

    testkit::block_on(async {
        let mut conn = SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        for q in queries {
            let rows = sqlx::query(q).fetch_all(&mut conn).await.unwrap();
            assert!(!rows.is_empty(), "no rows from:\n{q}");
        }
    });
}
