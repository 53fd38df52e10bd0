//! `just bench-sim`: simulator and dataset throughput.
//!
//! Prints
//! 1. simulated seconds per wall second for one trial of the original's
//!    scenario (closed loop of 20 users on the GTX 1650 Mobile, both arms);
//! 2. trials per second for the whole default campaign, SQLite writes
//!    included (all cores, fresh dataset);
//! 3. SQLite rows per second of the bench's writer next to `sqlite3`'s
//!    `.import` of the same rows as CSV, into the same schema, in the same
//!    run (skipped with a note when `sqlite3` is not installed);
//! 4. the scale ladder of `data/campaigns/scale-*.toml`: per scale, requests
//!    per trial, simulator time per trial, nanoseconds per request,
//!    simulated seconds per wall second, rows per second into SQLite and
//!    peak RSS (`BENCH_SIM_SCALES=1,10,100,1000` adds the 6,000-GPU step).
//!
//! Goals: ≥ 50,000× real time per trial of the original's scenario; the
//! default campaign in ≤ 10 s on 2 cores; rows per second at least those of
//! `.import`; nanoseconds per request at 600 and 6,000 pods within 2× of 6
//! pods; a 600-pod trial simulated in ≤ 0.2 s, a 6,000-pod one in ≤ 2.5 s.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use bench::campaign::Campaign;
use bench::record::TrialRecords;
use bench::runner::{self, Backend, RunOptions, SystemClock};
use bench::store::{CampaignMeta, NewTrial, Store, TrialTiming, TRIAL_TABLES};

fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let campaign = Campaign::load(&root.join("data/campaigns/default.toml"))?;
    let tmp = tempfile::tempdir()?;

    // 1. One trial of the original scenario.
    let plan = campaign.plan();
    for arm in ["hpa", "userscale"] {
        let p = plan
            .iter()
            .find(|p| {
                p.scenario.spec.name == "original-gtx1650"
                    && p.profile.name == "closed-20"
                    && p.arm == arm
            })
            .ok_or_else(|| anyhow::anyhow!("default campaign lacks the original cell"))?;
        let reps = 200;
        let t0 = Instant::now();
        let mut requests = 0;
        for _ in 0..reps {
            requests += runner::simulate(p)?.requests.len();
        }
        let wall = t0.elapsed().as_secs_f64() / f64::from(reps);
        println!(
            "one trial, original-gtx1650 / closed-20 / {arm}: {:.3} ms wall for {} simulated s -> {:.0}x real time ({} requests/trial)",
            wall * 1e3,
            campaign.file.duration_s,
            campaign.file.duration_s / wall,
            requests / reps as usize
        );
    }

    // 2. The whole default campaign, SQLite included.
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let db = tmp.path().join("campaign.sqlite");
    let mut opts = RunOptions::new(db.clone(), Backend::Sim);
    opts.jobs = jobs;
    let s = runner::run_campaign(&campaign, &opts, &SystemClock)?;
    println!(
        "default campaign: {} trials, {} rows in {:.2} s on {jobs} threads -> {:.1} trials/s",
        s.ran,
        s.rows,
        s.wall_s,
        s.ran as f64 / s.wall_s
    );

    // 3. Rows per second: the bench's writer vs sqlite3 .import.
    let records: Vec<TrialRecords> = plan
        .iter()
        .map(|p| runner::simulate(p))
        .collect::<Result<_, _>>()?;
    let rows: usize = records.iter().map(TrialRecords::row_count).sum();
    let ours = write_with_store(&tmp.path().join("ours.sqlite"), &campaign, &records)?;
    println!(
        "bench writer: {rows} rows in {ours:.3} s -> {:.0} rows/s (one transaction per trial)",
        rows as f64 / ours
    );
    match import_with_sqlite3(tmp.path(), &db) {
        Ok((n, secs)) => {
            println!(
                "sqlite3 .import: {n} rows in {secs:.3} s -> {:.0} rows/s (same schema, CSV export of the same rows)",
                n as f64 / secs
            );
            let ratio = (rows as f64 / ours) / (n as f64 / secs);
            println!(
                "bench writer / .import: {ratio:.2}x rows/s ({})",
                if ratio >= 1.0 {
                    "goal met"
                } else {
                    "goal: >= 1.00x"
                }
            );
        }
        Err(e) => println!("sqlite3 .import: skipped ({e})"),
    }

    // 4. The scale ladder (data/campaigns/scale-*.toml).
    scale_ladder(&root, tmp.path())?;
    Ok(())
}

/// The process's peak resident set so far (VmHWM), MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// For each scale of `BENCH_SIM_SCALES` (default `1,10,100`; `1000` is the
/// 6,000-GPU step): requests per trial, simulator wall time per trial,
/// nanoseconds per request, simulated seconds per wall second, rows per
/// second into SQLite and the process's peak RSS so far.
fn scale_ladder(root: &Path, dir: &Path) -> anyhow::Result<()> {
    let scales = std::env::var("BENCH_SIM_SCALES").unwrap_or_else(|_| "1,10,100".into());
    println!("scale ladder (one thread; BENCH_SIM_SCALES={scales}):");
    println!(
        "  {:<11} {:>10} {:>12} {:>9} {:>12} {:>12} {:>10}",
        "campaign", "req/trial", "sim ms/trial", "ns/req", "x real time", "rows/s", "peak MiB"
    );
    for k in scales.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let c = Campaign::load(&root.join(format!("data/campaigns/scale-{k}.toml")))?;
        let plan = c.plan();
        // One trial at a time, as `bench run --jobs 1` holds them: simulate,
        // write, drop.
        let (mut sim, mut write, mut requests, mut rows) = (0.0, 0.0, 0usize, 0usize);
        for (i, p) in plan.iter().enumerate() {
            let t0 = Instant::now();
            let records = runner::simulate(p)?;
            sim += t0.elapsed().as_secs_f64();
            requests += records.requests.len();
            rows += records.row_count();
            let db = dir.join(format!("scale-{k}-{i}.sqlite"));
            write += write_with_store(&db, &c, std::slice::from_ref(&records))?;
        }
        let sim = sim / plan.len() as f64;
        let requests = requests / plan.len();
        println!(
            "  {:<11} {:>10} {:>12.1} {:>9.0} {:>12.0} {:>12.0} {:>10}",
            format!("scale-{k}"),
            requests,
            sim * 1e3,
            sim * 1e9 / requests.max(1) as f64,
            c.file.duration_s / sim,
            rows as f64 / write,
            peak_rss_mib().map_or("-".into(), |m| format!("{m:.0}")),
        );
    }
    Ok(())
}

fn write_with_store(path: &Path, c: &Campaign, records: &[TrialRecords]) -> anyhow::Result<f64> {
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    rt.block_on(async {
        let mut store = Store::open(path).await?;
        let plan = c.plan();
        let trials: Vec<NewTrial<'_>> = plan
            .iter()
            .map(|p| NewTrial {
                scenario: &p.scenario.spec.name,
                arm: p.arm,
                load_profile: &p.profile.name,
                seed: p.seed,
                run_order: p.run_order,
                duration_s: c.file.duration_s,
                warmup_s: c.file.warmup_s,
                wait_mode: "spin",
                params_json: String::new(),
            })
            .collect();
        let (_, ids) = store
            .ensure_campaign(
                &CampaignMeta {
                    name: "bench",
                    config_toml: &c.text,
                    config_sha256: &c.sha256,
                    backend: contract::BackendKind::Sim,
                    tool_version: "bench",
                    host: "bench",
                    created_at: "1970-01-01T00:00:00.000Z",
                    arms: &bench::runner::new_arms(c)?,
                },
                &trials,
            )
            .await?;
        let timing = TrialTiming {
            started_at: String::new(),
            finished_at: String::new(),
            wall_ms: 0.0,
        };
        let t0 = Instant::now();
        for ((id, _), rec) in ids.iter().zip(records) {
            store.write_trial(*id, rec, &timing).await?;
        }
        Ok(t0.elapsed().as_secs_f64())
    })
}

/// Exports the campaign's rows to CSV with sqlite3, then times `.import` of
/// them into an empty database with the same schema.
fn import_with_sqlite3(dir: &Path, source: &Path) -> anyhow::Result<(usize, f64)> {
    let sqlite3 = |db: &Path, script: &str| -> anyhow::Result<String> {
        let out = Command::new("sqlite3")
            .arg(db)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                if let Some(mut stdin) = child.stdin.take() {
                    stdin.write_all(script.as_bytes())?;
                }
                child.wait_with_output()
            })
            .map_err(|e| anyhow::anyhow!("cannot run sqlite3: {e}"))?;
        anyhow::ensure!(
            out.status.success(),
            "sqlite3 failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let mut export = String::from(".mode csv\n.headers off\n");
    for t in TRIAL_TABLES {
        export += &format!(
            ".once {}\nSELECT * FROM {t};\n",
            dir.join(format!("{t}.csv")).display()
        );
    }
    sqlite3(source, &export)?;
    let schema = sqlite3(source, ".schema --nosys")?;
    let target = dir.join("import.sqlite");
    let mut setup = String::from("PRAGMA journal_mode=WAL;\nPRAGMA foreign_keys=OFF;\n");
    setup += &schema;
    sqlite3(&target, &setup)?;
    let mut import = String::from("PRAGMA synchronous=NORMAL;\n");
    for t in TRIAL_TABLES {
        import += &format!(
            ".import --csv {} {t}\n",
            dir.join(format!("{t}.csv")).display()
        );
    }
    let t0 = Instant::now();
    sqlite3(&target, &import)?;
    let secs = t0.elapsed().as_secs_f64();
    let mut count = String::new();
    for t in TRIAL_TABLES {
        count += &format!("SELECT COUNT(*) FROM {t};\n");
    }
    let n = sqlite3(&target, &count)?
        .lines()
        .filter_map(|l| l.trim().parse::<usize>().ok())
        .sum();
    Ok((n, secs))
}
