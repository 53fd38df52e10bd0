//! The SQL each section shows reproduces the per-trial values the report
//! computes with polars, and the static render writes a complete copy.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use report::metrics::{trial_metrics, Metric, METRICS};
use sqlx::{Column, Row};

#[test]
fn section_sql_reproduces_the_per_trial_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let db = testkit::default_dataset(dir.path(), 3);
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async {
            let mut conn = report::dataset::connect_read_only(&db).await.unwrap();
            let data = report::dataset::load_campaign(&mut conn, &db, 1)
                .await
                .unwrap()
                .unwrap();
            let metrics = std::thread::scope(|s| {
                s.spawn(|| trial_metrics(&data, 1000.0).unwrap())
                    .join()
                    .unwrap()
            });
            let by_key: BTreeMap<(String, String, String, i64), _> = metrics
                .iter()
                .map(|m| {
                    (
                        (
                            m.scenario.clone(),
                            m.load_profile.clone(),
                            m.arm.clone(),
                            m.seed,
                        ),
                        m,
                    )
                })
                .collect();
            let mut checked = 0;
            for q in report::question::Question::ALL {
                let sql = report::sql::per_trial(q, 1, 1000.0);
                let rows = sqlx::query(&sql).fetch_all(&mut conn).await.unwrap();
                assert_eq!(rows.len(), metrics.len(), "question {q}");
                for r in &rows {
                    let key = (
                        r.get::<String, _>(0),
                        r.get::<String, _>(1),
                        r.get::<String, _>(2),
                        r.get::<i64, _>(3),
                    );
                    let m = by_key[&key];
                    for (i, c) in r.columns().iter().enumerate().skip(4) {
                        let name = c.name();
                        let flag: Option<i64> = r.try_get(i).ok().flatten();
                        if name == "at_max_at_change" {
                            assert_eq!(flag.map(|f| f != 0), m.at_max_at_change, "{name} {key:?}");
                            continue;
                        }
                        if let Some(metric) = name.strip_suffix("_censored") {
                            let metric = Metric::from_key(metric).unwrap();
                            let want = m.get(metric).map(|_| m.is_censored(metric));
                            assert_eq!(flag.map(|f| f != 0), want, "{name} {key:?}");
                            continue;
                        }
                        let metric = Metric::from_key(name);
                        assert!(
                            metric.is_some_and(|k| METRICS.iter().any(|d| d.key == k)),
                            "unknown column {name}"
                        );
                        let sql_value: Option<f64> = r
                            .try_get::<Option<f64>, _>(i)
                            .or_else(|_| {
                                r.try_get::<Option<i64>, _>(i).map(|v| v.map(|x| x as f64))
                            })
                            .unwrap();
                        let ours = metric.and_then(|k| m.get(k));
                        match (sql_value, ours) {
                            (Some(a), Some(b)) => assert!(
                                (a - b).abs() <= 1e-9 * a.abs().max(1.0),
                                "{name} {key:?}: sql {a}, report {b}"
                            ),
                            (None, None) => {}
                            (a, b) => panic!("{name} {key:?}: sql {a:?}, report {b:?}"),
                        }
                        checked += 1;
                    }
                }
            }
            assert_eq!(checked, metrics.len() * METRICS.len());
        });
}

#[test]
fn static_render_writes_pages_charts_csv_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let db = testkit::default_dataset(dir.path(), 2);
    let out = dir.path().join("site");
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async {
            let opts = report::report::ReportOptions {
                slo_ms: 1000.0,
                charts: true,
            };
            let index = report::render::html(&db, &out, opts).await.unwrap();
            assert!(index.exists());
            let page = std::fs::read_to_string(out.join("campaign-1/index.html")).unwrap();
            assert!(page.contains("id=\"q5\""));
            assert!(page.contains("Too few trials"), "2 seeds cannot be tested");
            assert!(out.join("campaign-1/csv/c0-cdf.csv").exists());
            assert!(out.join("campaign-1/trial-1.html").exists());
            let json = report::render::json(&db, opts, None).await.unwrap();
            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(v["campaigns"][0]["sections"].as_array().unwrap().len(), 5);
        });
}
