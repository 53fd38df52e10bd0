//! `just bench-report`: time to build and render the campaign report
//! (load from SQLite into polars, per-trial metrics, statistics, charts,
//! HTML) for the default campaign and for a synthetic dataset with
//! 1,000,000 request rows. Goals: ≤ 1 s and ≤ 3 s on 2 cores.

use std::path::Path;
use std::time::Instant;

use askama::Template;
use report::pages::{CampaignPage, Links};
use report::report::ReportOptions;
use sqlx::{Connection, Row};

async fn render(db: &Path) -> anyhow::Result<(f64, usize, i64)> {
    let t0 = Instant::now();
    let mut conn = report::dataset::connect_read_only(db).await?;
    let data = report::dataset::load_campaign(&mut conn, db, 1)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no campaign 1"))?;
    let loaded = t0.elapsed().as_secs_f64();
    let rows = data.requests.height() as i64;
    let r = report::report::build_detached(
        &data,
        ReportOptions {
            slo_ms: 1000.0,
            charts: true,
        },
    )?;
    let built = t0.elapsed().as_secs_f64();
    let html = CampaignPage {
        r: &r,
        links: Links::Server,
        index_href: "/",
        json_href: "report.json",
    }
    .render()?;
    let total = t0.elapsed().as_secs_f64();
    println!(
        "  load {loaded:.3} s, metrics + statistics + charts {:.3} s, HTML {:.3} s",
        built - loaded,
        total - built
    );
    Ok((total, html.len(), rows))
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("default.sqlite");
    let campaign = testkit::campaign("default");
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    testkit::simulate_into(&campaign, &db, jobs);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        // Warm the page cache once, then measure.
        render(&db).await?;
        let (secs, bytes, rows) = render(&db).await?;
        println!("default campaign: {rows} request rows -> report in {secs:.3} s ({} KiB of HTML)", bytes / 1024);

        // Synthetic: the same campaign with its requests copied until there
        // are 1,000,000 request rows (ids shifted, everything else equal).
        let big = dir.path().join("synthetic.sqlite");
        std::fs::copy(&db, &big)?;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", big.display())).await?;
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM requests").fetch_one(&mut conn).await?.try_get(0)?;
        let max_id: i64 = sqlx::query("SELECT MAX(id) + 1 FROM requests").fetch_one(&mut conn).await?.try_get(0)?;
        let mut copy = 1;
        let mut total = n;
        while total < 1_000_000 {
            let take = (1_000_000 - total).min(n);
            sqlx::query(
                "INSERT INTO requests SELECT trial_id, id + ? * ?, user, user_seq, scheduled_s, sent_s, started_s,
                        finished_s, pod, size, iterations, outcome, latency_ms
                 FROM requests WHERE id < ? ORDER BY trial_id, id LIMIT ?",
            )
            .bind(copy)
            .bind(max_id)
            .bind(max_id)
            .bind(take)
            .execute(&mut conn)
            .await?;
            total += take;
            copy += 1;
        }
        conn.close().await?;
        render(&big).await?;
        let (secs, bytes, rows) = render(&big).await?;
        println!("synthetic dataset: {rows} request rows -> report in {secs:.3} s ({} KiB of HTML)", bytes / 1024);
        Ok(())
    })
}
