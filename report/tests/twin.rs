//! `report twin`: a campaign "run" on both backends pairs by seed; identical
//! data gives zero error, and a known distortion of the local side shows up
//! as the relative error it must be.
#![allow(clippy::unwrap_used)]

use report::metrics::Metric;
use report::twin::{compare, load_pair};
use sqlx::Connection;

/// Copies campaign 1 as a `local` campaign (new ids), optionally scaling its
/// request latencies by `latency_factor`.
async fn add_local_copy(db: &std::path::Path, latency_factor: f64) {
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let q = |s: &'static str| sqlx::query(s);
    q("INSERT INTO campaigns (id, name, config_toml, config_sha256, backend, tool_version, host, created_at)
       SELECT 2, name, config_toml, config_sha256, 'local', tool_version, host, created_at FROM campaigns WHERE id = 1")
        .execute(&mut c).await.unwrap();
    q("CREATE TEMP TABLE idmap AS SELECT id AS old, id + 100000 AS new FROM trials WHERE campaign_id = 1")
        .execute(&mut c).await.unwrap();
    q("INSERT INTO trials (id, campaign_id, scenario, arm, load_profile, seed, run_order, status, duration_s, warmup_s, wait_mode, params_json, started_at, finished_at, wall_ms)
       SELECT id + 100000, 2, scenario, arm, load_profile, seed, run_order, status, duration_s, warmup_s, wait_mode, params_json, started_at, finished_at, wall_ms FROM trials WHERE campaign_id = 1")
        .execute(&mut c).await.unwrap();
    for table in [
        "requests",
        "samples",
        "pod_samples",
        "gpu_samples",
        "pods",
        "scaling_events",
        "decisions",
    ] {
        let cols: Vec<String> =
            sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .fetch_all(&mut c)
                .await
                .unwrap();
        let select: Vec<String> = cols
            .iter()
            .map(|n| {
                if n == "trial_id" {
                    "trial_id + 100000".to_string()
                } else {
                    n.clone()
                }
            })
            .collect();
        sqlx::query(&format!(
            "INSERT INTO {table} ({}) SELECT {} FROM {table} WHERE trial_id IN (SELECT old FROM idmap)",
            cols.join(", "),
            select.join(", ")
        ))
        .execute(&mut c)
        .await
        .unwrap();
    }
    sqlx::query("UPDATE requests SET latency_ms = latency_ms * ? WHERE trial_id > 100000")
        .bind(latency_factor)
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
}

#[test]
fn identical_backends_agree_and_a_distortion_is_measured() {
    let dir = tempfile::tempdir().unwrap();
    let db = testkit::default_dataset(dir.path(), 2);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // No local campaign yet: a clear error.
    let err = match rt.block_on(load_pair(&db, None)) {
        Ok(_) => panic!("no local campaign yet, but a pair was found"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("no campaign was run on both"), "{err}");

    rt.block_on(add_local_copy(&db, 2.0));
    let (local, sim) = rt.block_on(load_pair(&db, None)).unwrap();
    let t = compare(&local, &sim, 1000.0).unwrap();
    assert_eq!((t.local_campaign, t.sim_campaign), (2, 1));
    assert!(!t.rows.is_empty());
    for r in &t.rows {
        assert_eq!(r.n > 0, r.local.is_some(), "{r:?}");
        if r.metric.key().starts_with("latency_") {
            // Local latencies doubled: the simulator reads half, -50 %.
            let e = r.rel_error.unwrap();
            assert!((e + 0.5).abs() < 1e-9, "{r:?}");
        } else if r.metric == Metric::GpuUtilMean || r.metric == Metric::ReplicasMean {
            assert_eq!(r.rel_error, Some(0.0), "{r:?}");
            assert_eq!(r.n, 2);
        }
    }
    // Every arm of every cell is there.
    let cells: std::collections::BTreeSet<_> = t
        .rows
        .iter()
        .map(|r| (r.scenario.clone(), r.load_profile.clone(), r.arm.clone()))
        .collect();
    assert_eq!(cells.len(), 12);
    let text = report::twin::text(&t);
    assert!(text.contains("rel.err") && text.contains("-50.0%"));
}
