//! The gated cluster tier: the k8s backend against a real cluster (the
//! current kubeconfig context, or `BENCH_K8S_CONTEXT`), with the workload
//! and scaler images available to it. Run with `just test-cluster`; CI has
//! no cluster, so these are ignored there.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use bench::campaign::Campaign;
use bench::k8s::{self, K8sOptions};
use bench::runner::{run_campaign, Backend, RunOptions, SystemClock};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn options() -> K8sOptions {
    K8sOptions {
        context: std::env::var("BENCH_K8S_CONTEXT").ok(),
        manifests: repo().join("k8s/base"),
        ..K8sOptions::default()
    }
}

/// `bench deploy`, then the smoke campaign (one trial per arm), into a fresh
/// dataset: both trials complete, with a sample every second and answered
/// requests.
#[test]
#[ignore = "needs a Kubernetes cluster with k8s/base's images: run with `just test-cluster`"]
fn deploy_then_a_smoke_campaign_completes() {
    let opts = options();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let conn = k8s::connect(opts.context.as_deref()).await.unwrap();
        eprintln!("cluster: {} {} {}", conn.context, conn.server, conn.version);
        k8s::deploy(&conn, &opts, &|l| eprintln!("{l}"))
            .await
            .unwrap();
    });
    drop(rt);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k8s-smoke.sqlite");
    let campaign = Campaign::load(&repo().join("data/campaigns/k8s-smoke.toml")).unwrap();
    let mut run = RunOptions::new(db.clone(), Backend::K8s(opts));
    run.progress = true;
    run.host = "test-cluster".into();
    let summary = run_campaign(&campaign, &run, &SystemClock).unwrap();
    assert_eq!((summary.total, summary.ran), (2, 2));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Row;
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
            "sqlite://{}?mode=ro",
            db.display()
        ))
        .await
        .unwrap();
        let rows = sqlx::query(
            "SELECT t.arm, (SELECT COUNT(*) FROM samples s WHERE s.trial_id = t.id),
                    (SELECT COUNT(*) FROM requests r WHERE r.trial_id = t.id AND r.outcome = 'ok')
             FROM trials t WHERE t.status = 'complete'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        assert_eq!(rows.len(), 2);
        for r in rows {
            let (arm, samples, ok): (String, i64, i64) = (r.get(0), r.get(1), r.get(2));
            assert_eq!(samples, 30, "{arm}");
            assert!(ok > 0, "{arm}: no request answered");
        }
    });
}
