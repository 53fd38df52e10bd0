//! The `bench` binary end to end: resume after a kill, redo of partial
//! trials, `--jobs` equivalence, bad campaign files, export.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{bench_bin, root};
use sqlx::{Connection, Row, SqliteConnection};

/// The default campaign with `seeds` seeds per cell, written into `dir`.
fn small_campaign(dir: &Path, seeds: u32) -> PathBuf {
    let text = std::fs::read_to_string(root().join("data/campaigns/default.toml")).unwrap();
    let profiles = root().join("data/profiles");
    let text = text.replace(
        "seeds = { first = 1, count = 20 }",
        &format!(
            "seeds = {{ first = 1, count = {seeds} }}\ngpu_profiles_dir = {:?}",
            profiles.display().to_string()
        ),
    );
    assert!(text.contains(&format!("count = {seeds} }}")));
    let path = dir.join("campaign.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn bench(args: &[&str]) -> Output {
    Command::new(bench_bin()).args(args).output().unwrap()
}

fn export(out_dir: &Path, db: &Path, scenario: &str, profile: &str) -> Output {
    let (out_dir, db) = (out_dir.to_str().unwrap(), db.to_str().unwrap());
    bench(&[
        "export",
        "--format",
        "original-json",
        "--out",
        out_dir,
        "--db",
        db,
        "--scenario",
        scenario,
        "--profile",
        profile,
    ])
}

#[track_caller]
fn run_ok(campaign: &Path, db: &Path, jobs: &str) -> String {
    let out = bench(&[
        "run",
        "--quiet",
        "--campaign",
        campaign.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
        "--jobs",
        jobs,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

async fn connect(db: &Path) -> SqliteConnection {
    SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap()
}

/// Every data row of the dataset as text, in a stable order; wall-clock
/// columns (campaign creation, trial start/end/wall time) left out.
fn dump(db: &Path) -> Vec<String> {
    block_on(async {
        let mut conn = connect(db).await;
        let mut out = Vec::new();
        for (table, skip) in [
            ("campaigns", &["created_at", "host"][..]),
            ("trials", &["started_at", "finished_at", "wall_ms"][..]),
            ("requests", &[][..]),
            ("samples", &[][..]),
            ("pod_samples", &[][..]),
            ("gpu_samples", &[][..]),
            ("pods", &[][..]),
            ("scaling_events", &[][..]),
            ("decisions", &[][..]),
        ] {
            let cols: Vec<String> =
                sqlx::query(&format!("SELECT name FROM pragma_table_info('{table}')"))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.get::<String, _>(0))
                    .filter(|c| !skip.contains(&c.as_str()))
                    .collect();
            let expr = cols
                .iter()
                .map(|c| format!("quote({c})"))
                .collect::<Vec<_>>()
                .join(" || '|' || ");
            let rows = sqlx::query(&format!(
                "SELECT '{table}|' || {expr} FROM {table} ORDER BY 1"
            ))
            .fetch_all(&mut conn)
            .await
            .unwrap();
            out.extend(rows.iter().map(|r| r.get::<String, _>(0)));
        }
        out
    })
}

fn complete_trials(db: &Path) -> i64 {
    block_on(async {
        let Ok(mut conn) =
            SqliteConnection::connect(&format!("sqlite://{}?mode=ro", db.display())).await
        else {
            return 0;
        };
        sqlx::query("SELECT COUNT(*) FROM trials WHERE status = 'complete'")
            .fetch_one(&mut conn)
            .await
            .map(|r| r.get::<i64, _>(0))
            .unwrap_or(0)
    })
}

#[test]
fn killed_run_resumes_without_loss_or_duplicates_and_jobs_do_not_change_results() {
    let dir = tempfile::tempdir().unwrap();
    let campaign = small_campaign(dir.path(), 6);
    let reference = dir.path().join("reference.sqlite");
    let first = run_ok(&campaign, &reference, "1");
    assert!(
        first.contains("72 trials complete (72 run now, 0 already done)"),
        "{first}"
    );
    let rows = dump(&reference);
    assert!(rows.len() > 10_000);

    // The same campaign again adds nothing.
    let again = run_ok(&campaign, &reference, "1");
    assert!(again.contains("(0 run now, 72 already done)"), "{again}");
    assert_eq!(dump(&reference), rows);

    // Parallel trials give the identical dataset.
    let parallel = dir.path().join("parallel.sqlite");
    run_ok(&campaign, &parallel, "2");
    assert_eq!(dump(&parallel), rows);

    // Kill a run part-way (SIGKILL), then start it again.
    let killed = dir.path().join("killed.sqlite");
    let mut child = Command::new(bench_bin())
        .args([
            "run",
            "--quiet",
            "--jobs",
            "1",
            "--campaign",
            campaign.to_str().unwrap(),
            "--db",
            killed.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    // The bound only catches a run that never gets going.
    while complete_trials(&killed) < 5 && t0.elapsed() < Duration::from_secs(300) {
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done_at_kill = complete_trials(&killed);
    assert!(
        (5..72).contains(&done_at_kill),
        "kill came at {done_at_kill} complete trials"
    );
    let resumed = run_ok(&campaign, &killed, "1");
    assert!(
        resumed.contains(&format!(
            "({} run now, {done_at_kill} already done)",
            72 - done_at_kill
        )),
        "{resumed}"
    );
    assert_eq!(dump(&killed), rows);

    // A trial left pending with stray rows (an interrupted older writer) is
    // redone from scratch.
    block_on(async {
        let mut conn = connect(&killed).await;
        sqlx::query("UPDATE trials SET status = 'pending' WHERE id IN (3, 7, 11)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("DELETE FROM requests WHERE trial_id = 3 AND id % 2 = 0")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("DELETE FROM samples WHERE trial_id = 7")
            .execute(&mut conn)
            .await
            .unwrap();
    });
    let redo = run_ok(&campaign, &killed, "2");
    assert!(redo.contains("(3 run now, 69 already done)"), "{redo}");
    assert_eq!(dump(&killed), rows);

    // Export in the original's shape.
    let out_dir = dir.path().join("results");
    let out = export(&out_dir, &reference, "original-gtx1650", "closed-20");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(out_dir.join(name)).unwrap()).unwrap()
    };
    let hpa = read("hpa_results.json");
    let us = read("userscale_results.json");
    let both = read("comparison.json");
    assert_eq!(both["hpa"], hpa);
    assert_eq!(both["userscale"], us);
    for (arm, v) in [("hpa", &hpa), ("userscale", &us)] {
        assert_eq!(v["experiment"], arm);
        assert_eq!(v["trials"], 6);
        assert_eq!(v["duration_seconds"], 90.0);
        for key in [
            "min_pods",
            "max_pods",
            "avg_pods",
            "gpu_utilization_avg",
            "gpu_utilization_max",
            "cpu_utilization_avg",
            "latency_avg_ms",
            "latency_min_ms",
            "latency_max_ms",
            "latency_p95_ms",
            "latency_p99_ms",
            "total_requests",
            "failed_requests",
            "success_rate",
            "throughput_rps",
            "scaling_events",
        ] {
            assert!(v[key].is_number(), "{arm}.{key} = {}", v[key]);
        }
        let (min, avg, max) = (
            v["min_pods"].as_f64().unwrap(),
            v["avg_pods"].as_f64().unwrap(),
            v["max_pods"].as_f64().unwrap(),
        );
        assert!(min <= avg && avg <= max && max <= 6.0);
        let timeline = v["timeline"].as_array().unwrap();
        assert_eq!(timeline.len(), 90);
        assert_eq!(timeline[0]["time"], 1.0);
        for k in [
            "replicas",
            "gpu_avg",
            "gpu_max",
            "cpu_avg",
            "latency_avg",
            "latency_max",
            "total_requests",
        ] {
            assert!(timeline[0].get(k).is_some(), "timeline.{k}");
        }
    }
    // An unknown selection is the user's error, with the choices named.
    let out = export(&out_dir, &reference, "nope", "closed-20");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("original-gtx1650 / closed-20"), "{err}");
}

#[track_caller]
fn rejects(dir: &Path, edit: impl Fn(String) -> String, expect: &[&str]) {
    let campaign = small_campaign(dir, 1);
    let text = edit(std::fs::read_to_string(&campaign).unwrap());
    std::fs::write(&campaign, text).unwrap();
    let db = dir.join("never.sqlite");
    let out = bench(&[
        "run",
        "--quiet",
        "--campaign",
        campaign.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for e in expect {
        assert!(err.contains(e), "expected {e:?} in: {err}");
    }
    assert!(!db.exists(), "a rejected campaign must write nothing");
}

#[test]
fn bad_campaign_files_are_rejected_with_field_and_line_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let line_of = |pattern: &str| {
        let text = std::fs::read_to_string(small_campaign(d, 1)).unwrap();
        format!(
            "line {}",
            text.lines().position(|l| l.starts_with(pattern)).unwrap() + 1
        )
    };
    // Unknown key (reported on the line after warmup_s, where it is added).
    let warmup = line_of("warmup_s");
    let next = format!("line {}", warmup[5..].parse::<usize>().unwrap() + 1);
    rejects(
        d,
        |t| t.replace("warmup_s = 10", "warmup_s = 10\nwarm_up = 5"),
        &["unknown field `warm_up`", &next],
    );
    // Wrong type.
    rejects(
        d,
        |t| t.replace("duration_s = 90", "duration_s = \"ninety\""),
        &["duration_s", &line_of("duration_s")],
    );
    // max < min.
    rejects(
        d,
        |t| {
            t.replacen(
                "min_replicas = 1\nmax_replicas = 6",
                "min_replicas = 4\nmax_replicas = 2",
                1,
            )
        },
        &[
            "scenarios[0].max_replicas",
            "below min_replicas",
            "campaign.toml:",
        ],
    );
    // Zero GPUs.
    rejects(
        d,
        |t| t.replacen("gpus = 1\n", "gpus = 0\n", 1),
        &["scenarios[0].nodes[0].gpus", "zero GPUs"],
    );
    // Bounds on an arm.
    rejects(
        d,
        |t| {
            t.replace(
                "[arms.userscale]\nkind = \"userscale\"",
                "[arms.userscale]\nkind = \"userscale\"\nmax_replicas = 4",
            )
        },
        &["arms.userscale.max_replicas"],
    );
    // A policy value the policy rejects.
    rejects(
        d,
        |t| t.replace("gpu_high_pct = 80", "gpu_high_pct = 10"),
        &["arms.userscale"],
    );
    // A profile that does not exist.
    rejects(
        d,
        |t| t.replacen("gpu_profile = \"t4\"", "gpu_profile = \"a100\"", 1),
        &["gpu_profile", "a100.toml"],
    );
    // An unknown load profile name.
    rejects(
        d,
        |t| t.replacen("\"laptop-spike\"]", "\"laptop-spiek\"]", 1),
        &["no load profile named `laptop-spiek`"],
    );
    // A baseline that is no arm.
    rejects(
        d,
        |t| t.replacen("[arms.hpa]", "baseline = \"hpa-gpu\"\n\n[arms.hpa]", 1),
        &[
            "`baseline`",
            "`hpa-gpu` is not an arm",
            "`hpa`, `userscale`",
        ],
    );
    // Without an `hpa` arm the baseline must be named.
    rejects(
        d,
        |t| t.replace("[arms.hpa", "[arms.cpu"),
        &["`baseline`", "no arm is named `hpa`", "`cpu`, `userscale`"],
    );
    // A backend this build lacks.
    let campaign = small_campaign(d, 1);
    let db = d.join("never.sqlite");
    let out = bench(&[
        "run",
        "--quiet",
        "--backend",
        "k3s",
        "--campaign",
        campaign.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!db.exists());
}

#[test]
fn max_below_min_line_number_points_at_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let campaign = small_campaign(dir.path(), 1);
    let text = std::fs::read_to_string(&campaign).unwrap().replacen(
        "max_replicas = 6",
        "max_replicas = 0",
        2,
    );
    let line = text.lines().position(|l| l == "max_replicas = 0").unwrap() + 1;
    std::fs::write(&campaign, &text).unwrap();
    let out = bench(&["check", "--campaign", campaign.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "campaign.toml:{line}: `scenarios[0].max_replicas`"
        )),
        "{err}"
    );
}

#[test]
fn watch_shows_progress_the_last_trial_and_the_live_line() {
    let dir = tempfile::tempdir().unwrap();
    let campaign = small_campaign(dir.path(), 1);
    let db = dir.path().join("w.sqlite");
    run_ok(&campaign, &db, "2");
    let watch = |db: &Path| {
        let out = bench(&["watch", "--once", "--db", db.to_str().unwrap()]);
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let text = watch(&db);
    assert!(text.contains("campaign `default`"), "{text}");
    assert!(text.contains("12/12 trials complete, 0 aborted"), "{text}");
    assert!(
        text.contains("last complete:") && text.contains("p95"),
        "{text}"
    );
    assert!(!text.contains("running:"), "{text}");
    // A run in progress writes its live line beside the dataset.
    bench::watch::write_live(
        &db,
        &bench::watch::Live {
            trial: "local-cpu / smoke-step / hpa / seed 1".into(),
            line:
                "t= 12s replicas 2/3 util  71% cpu 1.02 cores in-flight 2 queued 5 p95(10 s) 812 ms"
                    .into(),
            updated_at: "2026-11-28T04:00:00.000Z".into(),
        },
    );
    let text = watch(&db);
    assert!(
        text.contains("running: local-cpu / smoke-step / hpa / seed 1: t= 12s replicas 2/3"),
        "{text}"
    );
    bench::watch::clear_live(&db);
    assert!(!bench::watch::live_path(&db).exists());
    // A missing dataset is named.
    let out = bench(&[
        "watch",
        "--once",
        "--db",
        dir.path().join("none.sqlite").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such dataset"));
}

#[test]
fn summary_prints_each_trial_around_its_load_step() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("smoke.sqlite");
    // The local backend's smoke campaign, on the simulator: a step at 6 s.
    let campaign = root().join("data/campaigns/local-smoke.toml");
    run_ok(&campaign, &db, "1");

    let (id, figures) = block_on(async {
        let mut store = bench::store::Store::open_read_only(&db).await.unwrap();
        bench::summary::trial_figures(&mut store, None)
            .await
            .unwrap()
    });
    assert_eq!(figures.len(), 4);
    for f in &figures {
        assert_eq!(f.step_s, Some(6.0), "{f:?}");
        assert!(f.util_before.is_some() && f.util_after.is_some(), "{f:?}");
        assert!(f.first_up_before.is_none_or(|t| t <= 6.0), "{f:?}");
        assert!(f.first_up_after.is_none_or(|t| t > 6.0), "{f:?}");
        // Only UserScale has a lowest GPU tier to cross.
        if f.arm == "hpa" {
            assert_eq!(f.crossed_s, None, "{f:?}");
        }
        assert!(f.peak_ready.is_some_and(|p| p >= 1), "{f:?}");
    }
    // The same through the binary: a header, a line per trial, a legend.
    let out = bench(&["summary", "--db", db.to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(&format!("campaign {id}: 4 complete trial(s)")),
        "{text}"
    );
    assert_eq!(text.matches("local-cpu/smoke-step/").count(), 4, "{text}");

    // A campaign that is not there is the user's error: exit 2, named.
    let out = bench(&[
        "summary",
        "--db",
        db.to_str().unwrap(),
        "--campaign-id",
        "99",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no campaign with id 99"), "{err}");
}

#[test]
fn absurd_sizes_and_bad_arm_values_are_rejected_with_line_and_field_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = std::fs::read_to_string(small_campaign(d, 1)).unwrap();
    let line = |pattern: &str| {
        format!(
            ":{}:",
            text.lines().position(|l| l.starts_with(pattern)).unwrap() + 1
        )
    };
    // A trial of 31 years.
    rejects(
        d,
        |t| t.replace("duration_s = 90", "duration_s = 1e9"),
        &[&line("duration_s"), "`duration_s`", "at most 86400"],
    );
    // A billion seeds: refused before the plan is built.
    rejects(
        d,
        |t| t.replace("count = 1 }", "count = 1000000000 }"),
        &[&line("seeds"), "`seeds.count`", "1..=100000"],
    );
    // Allowed seeds, too many trials in all.
    rejects(
        d,
        |t| t.replace("count = 1 }", "count = 100000 }"),
        &["`seeds.count`", "trials, more than the limit of 1000000"],
    );
    // An open loop that would send about 9e10 requests per trial.
    rejects(
        d,
        |t| t.replacen("to_rps = 1.0", "to_rps = 1e9", 1),
        &["`profiles[1].arrival`", "rows", "per trial"],
    );
    // An unknown key inside an arm's table, on its own line.
    let add_key = |t: String| {
        t.replace(
            "sync_period_s = 15\n",
            "sync_period_s = 15\nsync_periods = 15\n",
        )
    };
    let at = add_key(text.clone())
        .lines()
        .position(|l| l == "sync_periods = 15")
        .unwrap()
        + 1;
    rejects(
        d,
        add_key,
        &[
            &format!(":{at}:"),
            "`arms.hpa.sync_periods`",
            "unknown field",
        ],
    );
    // An unknown kind names the field and the known kinds.
    rejects(
        d,
        |t| t.replacen("kind = \"hpa\"", "kind = \"magic\"", 1),
        &[
            &line("kind = \"hpa\""),
            "`arms.hpa.kind`",
            "unknown kind `magic`",
            "`hpa`, `userscale`",
        ],
    );
    // A value the policy refuses, on its line.
    rejects(
        d,
        |t| t.replace("target_cpu_utilization = 40", "target_cpu_utilization = 0"),
        &[
            &line("target_cpu_utilization"),
            "`arms.hpa.target_cpu_utilization`",
        ],
    );
    // A nested value, on its line inside the sub-table.
    rejects(
        d,
        |t| {
            t.replacen(
                "stabilization_window_s = 0",
                "stabilization_window_s = -5",
                1,
            )
        },
        &[
            &line("stabilization_window_s = 0"),
            "`arms.hpa.behavior.scale_up.stabilization_window_s`",
        ],
    );
    // A closed loop must pause after a refusal.
    rejects(
        d,
        |t| {
            t.replace(
                "think_mean_s = 0.0, ramp_s = 0.0 }",
                "think_mean_s = 0.0, ramp_s = 0.0, retry_backoff_s = 0 }",
            )
        },
        &["`profiles[0].arrival.retry_backoff_s`", "must be within"],
    );
    // Users beyond the stated limit.
    rejects(
        d,
        |t| t.replace("users = 20,", "users = 2000000,"),
        &["`profiles[0].arrival.users`", "1..=1000000"],
    );
}
