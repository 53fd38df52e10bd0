//! The local backend end to end: `data/campaigns/local-smoke.toml` run for
//! real with `workload serve` processes on the CPU backend (what
//! `bench run --backend local` does), then the rows checked for being real:
//! latencies from the clock, replica changes after the load step, decisions
//! with reasons, and UserScale ordering a scale-up within one tick (3 s) of
//! the device-busy share crossing its threshold.
#![allow(clippy::unwrap_used)]

use bench::campaign::Campaign;
use bench::local::LocalOptions;
use bench::runner::{run_campaign, RunOptions, SystemClock};
use sqlx::Row;
use std::path::Path;
use std::sync::Mutex;

/// The tests that run real replicas take turns: on a 2-core machine two
/// trials at once would slow each other's replicas into scaling on the
/// contention rather than on the load.
static REAL_REPLICAS: Mutex<()> = Mutex::new(());

fn take_turn() -> std::sync::MutexGuard<'static, ()> {
    REAL_REPLICAS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The local backend's smoke campaign.
const SMOKE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../data/campaigns/local-smoke.toml"
);

fn query(db: &Path, sql: &str) -> Vec<sqlx::sqlite::SqliteRow> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut store = bench::store::Store::open_read_only(db).await.unwrap();
        sqlx::query(sql).fetch_all(store.conn()).await.unwrap()
    })
}

/// Options for a local run of this crate's workload binary on the CPU.
fn local_opts(db: &Path, local: LocalOptions) -> RunOptions {
    RunOptions {
        db: db.to_path_buf(),
        backend: "local".into(),
        local,
        k8s: Default::default(),
        stop: Default::default(),
        jobs: 1,
        progress: false,
        host: "test".into(),
    }
}

fn cpu_workload() -> LocalOptions {
    LocalOptions {
        workload_bin: env!("CARGO_BIN_EXE_workload").into(),
        workload_backend: "cpu".into(),
        ..LocalOptions::default()
    }
}

#[test]
fn the_smoke_campaign_runs_for_real_and_records_real_rows() {
    let _turn = take_turn();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("local.sqlite");
    let file = Path::new(SMOKE);
    let campaign = Campaign::load(file).unwrap();
    let opts = local_opts(&db, cpu_workload());
    let summary = run_campaign(&campaign, &opts, &SystemClock).unwrap();
    assert_eq!((summary.total, summary.ran), (4, 4));

    // Every trial complete, with the local facts recorded.
    let trials = query(
        &db,
        "SELECT id, arm, status, params_json FROM trials ORDER BY id",
    );
    assert_eq!(trials.len(), 4);
    for t in &trials {
        assert_eq!(t.get::<String, _>("status"), "complete");
        let params: serde_json::Value =
            serde_json::from_str(&t.get::<String, _>("params_json")).unwrap();
        assert_eq!(params["backend"], "local");
        assert_eq!(params["local"]["gpu_utilization_source"], "device-busy");
    }

    // Requests: latencies are clock readings from the scheduled instant.
    let r = query(
        &db,
        "SELECT trial_id, count(*) AS n, sum(outcome = 'ok') AS ok,
                max(abs(latency_ms - (finished_s - scheduled_s) * 1000.0)) AS err,
                min(sent_s - scheduled_s) AS lag_min,
                count(DISTINCT round(latency_ms, 3)) AS distinct_lat
         FROM requests GROUP BY trial_id",
    );
    assert_eq!(r.len(), 4);
    for row in &r {
        let n: i64 = row.get("n");
        let ok: i64 = row.get("ok");
        assert!(n > 100, "{n} requests");
        assert!(ok > n / 2, "{ok} of {n} ok");
        assert!(row.get::<f64, _>("err") < 1e-6);
        assert!(
            row.get::<f64, _>("lag_min") >= 0.0,
            "sent before its schedule"
        );
        assert!(
            row.get::<i64, _>("distinct_lat") > n / 2,
            "latencies look synthetic"
        );
    }
    // Both arms saw the same schedule per seed.
    let same = query(
        &db,
        "SELECT count(*) AS n FROM requests a JOIN trials ta ON ta.id = a.trial_id
         JOIN trials tb ON tb.seed = ta.seed AND tb.arm <> ta.arm
         JOIN requests b ON b.trial_id = tb.id AND b.id = a.id
         WHERE a.scheduled_s <> b.scheduled_s OR a.size <> b.size OR a.iterations <> b.iterations",
    );
    assert_eq!(same[0].get::<i64, _>("n"), 0);

    // Decisions with reasons; replicas change after the load step at 6 s.
    let d = query(
        &db,
        "SELECT count(*) AS n, sum(reason = '') AS empty FROM decisions",
    );
    assert!(d[0].get::<i64, _>("n") > 10);
    assert_eq!(d[0].get::<i64, _>("empty"), 0);
    let ups = query(
        &db,
        r#"SELECT t.arm, min(e.t_s) AS first_up FROM scaling_events e JOIN trials t ON t.id = e.trial_id
           WHERE e.to_replicas > e.from_replicas GROUP BY e.trial_id"#,
    );
    assert!(
        ups.iter()
            .filter(|u| u.get::<String, _>("arm") == "userscale")
            .count()
            == 2,
        "every UserScale trial scales up"
    );
    for u in &ups {
        assert!(
            u.get::<f64, _>("first_up") > 6.0,
            "{} scaled up at {} s, before the load step at 6 s",
            u.get::<String, _>("arm"),
            u.get::<f64, _>("first_up")
        );
    }
    // New replicas were started and became ready.
    let pods = query(
        &db,
        "SELECT count(*) AS n, sum(ready_s IS NOT NULL) AS ready FROM pods WHERE created_s > 0",
    );
    assert!(pods[0].get::<i64, _>("n") >= 2);
    assert!(pods[0].get::<i64, _>("ready") >= 2);

    // UserScale's order follows the crossing of its lowest threshold (50 %)
    // within one tick (3 s). The crossing is the first sample from which the
    // utilisation stays above 50 % for three seconds, so that a one-second
    // blip that has passed by the next tick does not count.
    let lag = query(
        &db,
        r#"SELECT t.id,
             (SELECT min(s.t_s) FROM samples s WHERE s.trial_id = t.id AND s.gpu_util_mean > 50
                AND (SELECT count(*) FROM samples n WHERE n.trial_id = t.id
                     AND n.t_s > s.t_s AND n.t_s <= s.t_s + 2 AND n.gpu_util_mean > 50) = 2) AS crossed,
             (SELECT min(e.t_s) FROM scaling_events e WHERE e.trial_id = t.id AND e.to_replicas > e.from_replicas) AS ordered
           FROM trials t WHERE t.arm = 'userscale'"#,
    );
    for row in &lag {
        let crossed: f64 = row.get("crossed");
        let ordered: f64 = row.get("ordered");
        assert!(
            ordered - crossed <= 3.0 + 0.05,
            "threshold crossed at {crossed} s, scale order at {ordered} s"
        );
    }
}

#[test]
fn a_missing_workload_binary_is_named_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("local.sqlite");
    let file = Path::new(SMOKE);
    let campaign = Campaign::load(file).unwrap();
    let opts = local_opts(
        &db,
        LocalOptions {
            workload_bin: dir.path().join("no-such-workload"),
            ..LocalOptions::default()
        },
    );
    let err = run_campaign(&campaign, &opts, &SystemClock)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no-such-workload") && err.contains("--workload-bin"),
        "{err}"
    );
    assert!(!db.exists(), "nothing written");
}

#[test]
fn a_killed_replica_is_replaced_and_its_requests_fail_visibly() {
    let _turn = take_turn();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fault.sqlite");
    let file = Path::new(SMOKE);
    // One HPA trial of 12 s at a steady 8 req/s.
    let text = std::fs::read_to_string(file)
        .unwrap()
        .replace("duration_s = 20", "duration_s = 12")
        .replace("count = 2 }", "count = 1 }")
        .replace(
            r#"rate = { shape = "step", from_rps = 1.5, to_rps = 25.0, at_s = 6 }"#,
            r#"rate = { shape = "constant", rps = 8.0 }"#,
        );
    let text = text[..text.find("[arms.userscale]").unwrap()].to_string()
        + &text[text.find("[[profiles]]").unwrap()..];
    let campaign = Campaign::parse(&text, file, file.parent().unwrap()).unwrap();
    assert_eq!(campaign.plan().len(), 1);
    let opts = local_opts(
        &db,
        LocalOptions {
            kill_replica_at_s: Some(4.0),
            ..cpu_workload()
        },
    );
    run_campaign(&campaign, &opts, &SystemClock).unwrap();

    let t = query(&db, "SELECT params_json FROM trials");
    let params: serde_json::Value =
        serde_json::from_str(&t[0].get::<String, _>("params_json")).unwrap();
    let fault = &params["local"]["faults"][0];
    let (at, pod) = (fault[0].as_f64().unwrap(), fault[1].as_u64().unwrap());
    assert!((4.0..4.5).contains(&at), "fault at {at}");
    // The killed pod exited without being deleted; a replacement started after
    // it and became ready.
    let pods = query(
        &db,
        "SELECT pod, created_s, ready_s, deleted_s, exited_s FROM pods ORDER BY pod",
    );
    let killed = &pods[pod as usize];
    assert_eq!(
        killed.get::<Option<f64>, _>("deleted_s"),
        None,
        "it died, nobody deleted it"
    );
    let exited: f64 = killed.get::<Option<f64>, _>("exited_s").unwrap();
    assert!(exited >= at && exited < at + 1.0, "exited at {exited}");
    let replacement = pods
        .iter()
        .find(|p| p.get::<f64, _>("created_s") > at)
        .expect("a replacement pod");
    let ready: f64 = replacement
        .get::<Option<f64>, _>("ready_s")
        .expect("replacement ready");
    // Requests in the gap fail visibly; requests after it succeed.
    let r = query(
        &db,
        &format!(
            "SELECT sum(outcome IN ('no_endpoint', 'killed')) AS lost,
                    sum(outcome = 'ok' AND sent_s > {ready}) AS after
             FROM requests"
        ),
    );
    assert!(r[0].get::<i64, _>("lost") >= 1);
    assert!(r[0].get::<i64, _>("after") >= 5);
}

#[test]
fn ctrl_c_stops_the_replicas_and_records_the_aborted_trial() {
    let _turn = take_turn();
    // `cargo test --workspace` builds the bench binary beside this one.
    let bench = Path::new(env!("CARGO_BIN_EXE_workload")).with_file_name("bench");
    assert!(
        bench.exists(),
        "{} is missing: run the workspace's tests (`just test` builds it)",
        bench.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ctrlc.sqlite");
    let file = SMOKE;
    let child = std::process::Command::new(&bench)
        .args([
            "run",
            "--backend",
            "local",
            "--workload-backend",
            "cpu",
            "--quiet",
        ])
        .args([
            "--workload-bin",
            env!("CARGO_BIN_EXE_workload"),
            "--campaign",
            file,
        ])
        .arg("--db")
        .arg(&db)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Into the first trial (replicas start in well under a second).
    std::thread::sleep(std::time::Duration::from_secs(6));
    let t = std::time::Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    // Out within the smoke campaign's grace (5 s) and client time-out (10 s).
    assert!(t.elapsed() < std::time::Duration::from_secs(20));
    let aborts = query(&db, "SELECT trial_id, reason FROM trial_aborts");
    assert_eq!(aborts.len(), 1);
    assert_eq!(aborts[0].get::<String, _>("reason"), "interrupted");
    let t = query(
        &db,
        "SELECT sum(status = 'complete') AS c, sum(status = 'pending') AS p FROM trials",
    );
    assert_eq!((t[0].get::<i64, _>("c"), t[0].get::<i64, _>("p")), (0, 4));
    let rows = query(&db, "SELECT count(*) AS n FROM requests");
    assert_eq!(
        rows[0].get::<i64, _>("n"),
        0,
        "an aborted trial leaves no rows"
    );
    assert!(!bench::watch::live_path(&db).exists(), "live file removed");
}
