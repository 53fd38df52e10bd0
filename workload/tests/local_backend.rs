//! The local backend end to end: `data/campaigns/local-smoke.toml` run for
//! real with `workload serve` processes on the CPU backend (what
//! `bench run --backend local` does), then the rows checked for logic, never
//! for speed: every request of the seed's schedule recorded once and sent no
//! earlier than scheduled, latencies that are clock readings, arms that share
//! schedules, every UserScale decision the one its rules give for the inputs
//! it recorded, the HPA's first scale-up after the load step, and new
//! replicas that become ready.
//!
//! How fast a policy reacts and how busy the replicas get depend on the
//! machine; `just smoke-local` prints those figures, no test asserts them.
//! Where a test needs a load level (below the thresholds before the step,
//! far above them after it), the request work and the rates are derived
//! from a calibration of this build's CPU engine on this machine at the
//! start of the test.
#![allow(clippy::unwrap_used)]

use bench::campaign::Campaign;
use bench::local::LocalOptions;
use bench::runner::{run_campaign, Backend, RunOptions, SystemClock};
use scaler::userscale::UserScaleConfig;
use scaler::PolicyConfig;
use serde_json::Value;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

fn query(db: &Path, sql: &str) -> Vec<SqliteRow> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut store = bench::store::Store::open_read_only(db).await.unwrap();
        sqlx::query(sql)
            .fetch_all(store.conn())
            .await
            .unwrap_or_else(|e| panic!("{e}: {sql}"))
    })
}

/// A column that must hold a value: NULL fails the test, naming the column,
/// instead of reading as 0.
fn must<'r, T>(row: &'r SqliteRow, col: &str) -> T
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get::<Option<T>, _>(col)
        .unwrap_or_else(|e| panic!("column `{col}`: {e}"))
        .unwrap_or_else(|| panic!("column `{col}` is NULL"))
}

/// A nullable column.
fn maybe<'r, T>(row: &'r SqliteRow, col: &str) -> Option<T>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get::<Option<T>, _>(col)
        .unwrap_or_else(|e| panic!("column `{col}`: {e}"))
}

/// Options for a local run of this crate's workload binary on the CPU.
fn local_opts(db: &Path, local: LocalOptions) -> RunOptions {
    let mut opts = RunOptions::new(db.to_path_buf(), Backend::Local(local));
    opts.host = "test".into();
    opts
}

fn cpu_workload() -> LocalOptions {
    LocalOptions {
        workload_bin: env!("CARGO_BIN_EXE_workload").into(),
        workload_backend: "cpu".into(),
        ..LocalOptions::default()
    }
}

/// Service time of one request of this build's CPU engine (one thread, as a
/// replica runs it) on this machine: CPU seconds = `fixed_s + per_iter_s ×
/// iterations`, averaged over the smoke profile's sizes. CPU time rather
/// than wall time, so that a machine busy with other work does not inflate
/// it (it stretches wall time, not the work).
struct Calibration {
    fixed_s: f64,
    per_iter_s: f64,
}

impl Calibration {
    /// This test binary's calibration, measured once (by the first test
    /// that needs it, during its turn).
    fn get() -> &'static Calibration {
        static CAL: std::sync::OnceLock<Calibration> = std::sync::OnceLock::new();
        CAL.get_or_init(Calibration::measure)
    }

    fn measure() -> Calibration {
        let (lo, hi) = (10u32, 30u32);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_workload"))
            .args(["run", "--backend", "cpu", "--cpu-threads", "1"])
            .args(["--sizes", "96,128,160", "--repeat", "3"])
            .args(["--iterations", &format!("{lo},{hi}")])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let mut by_iter: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            let cpu_ms = v["process_cpu_ms"].as_f64().expect("process_cpu_ms");
            let iterations = v["iterations"].as_u64().expect("iterations");
            by_iter.entry(iterations).or_default().push(cpu_ms / 1e3);
        }
        let mean = |k: u32| {
            let v = &by_iter[&u64::from(k)];
            v.iter().sum::<f64>() / v.len() as f64
        };
        let (s_lo, s_hi) = (mean(lo), mean(hi));
        let per_iter_s = ((s_hi - s_lo) / f64::from(hi - lo)).max(s_hi / f64::from(hi) * 0.5);
        Calibration {
            fixed_s: (s_lo - per_iter_s * f64::from(lo)).max(0.0),
            per_iter_s,
        }
    }

    /// Iterations (min, max) whose mean request takes about `target_s`.
    fn iterations_for(&self, target_s: f64) -> (u32, u32) {
        let mean = ((target_s - self.fixed_s) / self.per_iter_s).round();
        let mean = mean.clamp(2.0, 500.0) as u32;
        (mean / 2, mean + mean / 2)
    }

    /// Mean CPU seconds of a request with iterations uniform in `[lo, hi]`.
    fn service_s(&self, (lo, hi): (u32, u32)) -> f64 {
        self.fixed_s + self.per_iter_s * f64::from(lo + hi) / 2.0
    }
}

/// The value at a dotted path of a TOML document (`profiles.0.arrival`).
fn at<'a>(v: &'a mut toml::Value, path: &str) -> &'a mut toml::Value {
    path.split('.').fold(v, |v, k| {
        match k.parse::<usize>() {
            Ok(i) => v.get_mut(i),
            Err(_) => v.get_mut(k),
        }
        .unwrap_or_else(|| panic!("no `{path}` in {SMOKE}"))
    })
}

fn toml_table(entries: &[(&str, toml::Value)]) -> toml::Value {
    toml::Value::Table(
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

/// `local-smoke.toml` sized to this machine for a test. The request work
/// comes from `cal`, so that a request costs about 50 ms of CPU; the rates
/// are fractions of one replica's capacity: a base of 6 % (far under the
/// HPA's 40 % CPU target and UserScale's 50 % tier, also when the machine is
/// busy) and a step to 3× (every replica saturated up to the bound). The
/// scenario's bound is 5 replicas, so that each of UserScale's steps from
/// one replica (+1, +2, +3) lands inside the bounds and shows. `edit` makes
/// a test's own changes. The rewritten text is what the dataset records.
fn sized_smoke(cal: &Calibration, edit: impl FnOnce(&mut toml::Value, f64)) -> Campaign {
    let mut doc: toml::Value = toml::from_str(&std::fs::read_to_string(SMOKE).unwrap()).unwrap();
    let iterations = cal.iterations_for(0.05);
    let service_s = cal.service_s(iterations);
    *at(&mut doc, "profiles.0.iterations") = toml_table(&[
        ("min", i64::from(iterations.0).into()),
        ("max", i64::from(iterations.1).into()),
    ]);
    let rate = at(&mut doc, "profiles.0.arrival.rate");
    let step_at = rate.get("at_s").cloned().expect("the smoke profile steps");
    *rate = toml_table(&[
        ("shape", "step".into()),
        ("from_rps", (0.06 / service_s).into()),
        ("to_rps", (3.0 / service_s).into()),
        ("at_s", step_at),
    ]);
    *at(&mut doc, "scenarios.0.max_replicas") = 5.into();
    *at(&mut doc, "scenarios.0.nodes.0.time_slicing_replicas") = 5.into();
    eprintln!(
        "calibration: {:.2} ms + {:.3} ms/iteration of CPU; iterations {}-{}, {:.1} ms a request",
        cal.fixed_s * 1e3,
        cal.per_iter_s * 1e3,
        iterations.0,
        iterations.1,
        service_s * 1e3
    );
    edit(&mut doc, service_s);
    let text = toml::to_string(&doc).unwrap();
    let file = Path::new(SMOKE);
    Campaign::parse(&text, file, file.parent().unwrap()).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// UserScale's rules, written again from its documentation, to check the
/// decisions the real runs recorded. It tracks its own cooldown clocks from
/// the decisions it expects.
struct UserScaleOracle {
    c: UserScaleConfig,
    last_up: Option<f64>,
    last_down: Option<f64>,
}

impl UserScaleOracle {
    /// The replicas and the reason's keyword UserScale must give at `t_s`
    /// with `r` spec replicas and the recorded `inputs`.
    fn expect(&mut self, t_s: f64, r: u32, inputs: &Value) -> (u32, &'static str) {
        let c = &self.c;
        let (min, max) = (c.min_replicas, c.max_replicas);
        if r < min || r > max {
            // A correction is a change too: it moves that direction's clock.
            let n = r.clamp(min, max);
            self.changed(t_s, r, n);
            return (n, "OutOfBounds");
        }
        let Some(gpu) = inputs["gpu_utilization"].as_f64() else {
            return (r, "NoMetrics");
        };
        let latency = inputs["avg_latency_ms"].as_f64();
        let concurrent = inputs["concurrent_requests"].as_f64().unwrap();
        let ready = inputs["ready_pods"].as_f64().unwrap();
        let tiers = [
            ("GpuHigh", c.gpu_high_pct, c.step_high),
            ("GpuMid", c.gpu_mid_pct, c.step_mid),
            ("GpuLow", c.gpu_low_pct, c.step_low),
        ];
        let gpu_rule = tiers
            .into_iter()
            .find(|&(_, threshold, _)| gpu > threshold)
            .map(|(rule, _, step)| (rule, i64::from(step)));
        let latency_rule = latency
            .filter(|&l| l > c.latency_high_ms)
            .map(|_| ("LatencyHigh", i64::from(c.latency_step)));
        let idle = gpu < c.scale_down_gpu_below_pct
            && latency.is_none_or(|l| l < c.scale_down_latency_below_ms)
            && concurrent / ready.max(1.0) < c.scale_down_max_concurrent_per_pod;
        let fired = match (gpu_rule, latency_rule) {
            (Some(g), Some(l)) => Some(if l.1 > g.1 { l } else { g }),
            (g, l) => g.or(l),
        }
        .or(idle.then_some(("Idle", -i64::from(c.scale_down_step))));
        let Some((rule, step)) = fired else {
            return (r, "Hold");
        };
        let n = (i64::from(r) + step).clamp(i64::from(min), i64::from(max)) as u32;
        let (last, cooldown, blocked) = if step > 0 {
            (self.last_up, c.scale_up_cooldown_s, "CooldownUp")
        } else {
            (self.last_down, c.scale_down_cooldown_s, "CooldownDown")
        };
        if n == r {
            (r, rule)
        } else if last.is_some_and(|l| t_s - l < cooldown) {
            (r, blocked)
        } else {
            self.changed(t_s, r, n);
            (n, rule)
        }
    }

    /// A change from `r` to `n` replicas at `t_s` restarts the clock of its
    /// direction.
    fn changed(&mut self, t_s: f64, r: u32, n: u32) {
        if n > r {
            self.last_up = Some(t_s);
        } else {
            self.last_down = Some(t_s);
        }
    }
}

/// Every decision of one trial, in order: consistent with the replica
/// changes it made, and for UserScale the one its rules give.
fn check_decisions(db: &Path, trial: i64, arm: &str, policy: &PolicyConfig) {
    let decisions = query(
        db,
        &format!(
            "SELECT seq, t_s, controller, current_replicas, desired_replicas, reason, inputs_json
             FROM decisions WHERE trial_id = {trial} ORDER BY seq"
        ),
    );
    assert!(
        !decisions.is_empty(),
        "{arm}: trial {trial} decided nothing"
    );
    let events = query(
        db,
        &format!(
            "SELECT t_s, from_replicas, to_replicas, controller, reason
             FROM scaling_events WHERE trial_id = {trial} ORDER BY seq"
        ),
    );
    let mut oracle = match policy {
        PolicyConfig::Userscale(c) => Some(UserScaleOracle {
            c: c.clone(),
            last_up: None,
            last_down: None,
        }),
        PolicyConfig::Hpa(_)
        | PolicyConfig::HpaGpu(_)
        | PolicyConfig::Keda(_)
        | PolicyConfig::Kpa(_)
        | PolicyConfig::Ray(_) => None,
    };
    let kind = policy.name();
    let mut changes = Vec::new();
    let mut spec: Option<i64> = None;
    let mut last_t = f64::NEG_INFINITY;
    for d in &decisions {
        let t: f64 = must(d, "t_s");
        let current: i64 = must(d, "current_replicas");
        let desired: i64 = must(d, "desired_replicas");
        let reason: String = must(d, "reason");
        let inputs: Value = serde_json::from_str(&must::<String>(d, "inputs_json")).unwrap();
        let at = format!("{arm}, trial {trial}, decision at {t:.3} s ({reason}; inputs {inputs})");
        assert_eq!(must::<String>(d, "controller"), kind, "{at}");
        assert!(t > last_t, "{at}: decisions out of order");
        last_t = t;
        // Only this controller writes the spec.
        if let Some(s) = spec {
            assert_eq!(current, s, "{at}: spec was {s}");
        }
        spec = Some(desired);
        if desired != current {
            changes.push((t, current, desired, reason.clone()));
        }
        if let Some(o) = oracle.as_mut() {
            let (n, keyword) = o.expect(t, current as u32, &inputs);
            assert_eq!(
                (desired, reason.split(':').next().unwrap()),
                (i64::from(n), keyword),
                "{at}: UserScale's rules give {n} ({keyword})"
            );
        }
    }
    // Every change is a scaling event at the decision's time, and nothing else is.
    let recorded: Vec<(f64, i64, i64, String)> = events
        .iter()
        .map(|e| {
            assert_eq!(must::<String>(e, "controller"), kind);
            (
                must(e, "t_s"),
                must(e, "from_replicas"),
                must(e, "to_replicas"),
                must(e, "reason"),
            )
        })
        .collect();
    assert_eq!(recorded, changes, "{arm}, trial {trial}: scaling events");
}

#[test]
fn the_smoke_campaign_runs_for_real_and_its_rows_follow_the_rules() {
    let _turn = take_turn();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("local.sqlite");
    let cal = Calibration::get();
    // After the step every replica is saturated, so the GPU input is near
    // 100 %. One UserScale arm per rule puts that saturation into the rule
    // under test by lifting the tiers above it to 100 % (utilisation never
    // exceeds 100 %): `userscale` (the file's tiers) fires GpuHigh,
    // `userscale-mid` GpuMid, `userscale-low` GpuLow. In these three the
    // latency step is the smallest step, so the GPU tier decides whenever it
    // fires. `userscale-latency` has no GPU tier at all: its latency trigger
    // is six requests' work, which a saturated replica's queue passes and an
    // idle one does not, with a step of its own (2). One seed: every arm
    // replays the same schedule.
    let campaign = sized_smoke(cal, |doc, service_s| {
        *at(doc, "seeds.count") = 1.into();
        *at(doc, "arms.userscale.latency_step") = 1.into();
        // A scale-up cooldown longer than one tick (3 s) and shorter than
        // two, so that the oracle checks the cooldown clock as well.
        *at(doc, "arms.userscale.scale_up_cooldown_s") = 4.0.into();
        let base = at(doc, "arms.userscale").clone();
        let variant = |lifted: &[&str]| {
            let mut arm = base.clone();
            for tier in lifted {
                *at(&mut arm, tier) = 100.0.into();
            }
            arm
        };
        let mut latency_led = variant(&["gpu_high_pct", "gpu_mid_pct", "gpu_low_pct"]);
        *at(&mut latency_led, "latency_high_ms") = (6.0 * service_s * 1e3).into();
        *at(&mut latency_led, "latency_step") = 2.into();
        let arms = at(doc, "arms").as_table_mut().unwrap();
        arms.insert("userscale-mid".into(), variant(&["gpu_high_pct"]));
        arms.insert(
            "userscale-low".into(),
            variant(&["gpu_high_pct", "gpu_mid_pct"]),
        );
        arms.insert("userscale-latency".into(), latency_led);
    });
    let profile = campaign.profile(0).clone();
    let step_at = profile.load_steps()[0];
    let opts = local_opts(&db, cpu_workload());
    let summary = run_campaign(&campaign, &opts, &SystemClock).unwrap();
    let arms = campaign.arms.len();
    assert_eq!(arms, 5);
    assert_eq!((summary.total, summary.ran), (arms, arms));

    let trials = query(
        &db,
        "SELECT id, arm, seed, status, params_json FROM trials ORDER BY id",
    );
    assert_eq!(trials.len(), arms);
    for t in &trials {
        let (id, arm, seed): (i64, String, i64) = (must(t, "id"), must(t, "arm"), must(t, "seed"));
        assert_eq!(must::<String>(t, "status"), "complete");
        let params: Value = serde_json::from_str(&must::<String>(t, "params_json")).unwrap();
        assert_eq!(params["backend"], "local");
        assert_eq!(params["local"]["gpu_utilization_source"], "device-busy");

        // Requests: exactly the seed's schedule, each sent no earlier than
        // scheduled, answered after it was sent, its latency the clock's.
        let schedule =
            bench::profile::open_schedule(&profile, seed as u64, campaign.file.duration_s);
        let rows = query(
            &db,
            &format!(
                "SELECT id, scheduled_s, sent_s, started_s, finished_s, pod, size, iterations,
                        outcome, latency_ms
                 FROM requests WHERE trial_id = {id} ORDER BY id"
            ),
        );
        assert_eq!(rows.len(), schedule.len(), "{arm} seed {seed}: requests");
        let mut ok = 0;
        let mut latencies = std::collections::BTreeSet::new();
        for (r, s) in rows.iter().zip(&schedule) {
            let id: i64 = must(r, "id");
            let at = format!("{arm} seed {seed} request {id}");
            assert_eq!(id, i64::from(s.id), "{at}");
            let (scheduled, sent, finished): (f64, f64, f64) = (
                must(r, "scheduled_s"),
                must(r, "sent_s"),
                must(r, "finished_s"),
            );
            assert!(
                (scheduled - s.at_s).abs() < 1e-6,
                "{at}: scheduled {scheduled} s, not {}",
                s.at_s
            );
            assert_eq!(
                (must::<i64>(r, "size"), must::<i64>(r, "iterations")),
                (i64::from(s.size), i64::from(s.iterations)),
                "{at}"
            );
            assert!(
                sent >= scheduled,
                "{at}: sent at {sent} s before its schedule {scheduled} s"
            );
            assert!(
                finished >= sent,
                "{at}: finished at {finished} s before it was sent at {sent} s"
            );
            if let Some(started) = maybe::<f64>(r, "started_s") {
                assert!(
                    (sent..=finished).contains(&started),
                    "{at}: started at {started} s"
                );
            }
            let latency: f64 = must(r, "latency_ms");
            assert!(
                (latency - (finished - scheduled) * 1e3).abs() < 1e-6,
                "{at}: latency {latency} ms"
            );
            latencies.insert((latency * 1e3).round() as i64);
            if must::<String>(r, "outcome") == "ok" {
                ok += 1;
                assert!(maybe::<i64>(r, "pod").is_some(), "{at}: ok without a pod");
            }
        }
        assert!(ok > 0, "{arm} seed {seed}: no request was answered");
        assert!(
            latencies.len() > rows.len() / 2,
            "{arm} seed {seed}: latencies look synthetic"
        );

        // Decisions, the replica changes they made, and UserScale's rules.
        let policy = campaign.policy(&arm, 0).unwrap();
        check_signals(&db, id, &arm, &policy);
        check_decisions(&db, id, &arm, &policy);
        let ups = query(
            &db,
            &format!(
                "SELECT t_s FROM scaling_events WHERE trial_id = {id} AND to_replicas > from_replicas
                 ORDER BY seq"
            ),
        );
        // After the step every replica is saturated: every arm scales up.
        let first_up: f64 = ups
            .first()
            .map(|u| must(u, "t_s"))
            .unwrap_or_else(|| panic!("{arm} seed {seed} never scaled up"));
        if let PolicyConfig::Hpa(_) = policy {
            // Before the step a replica's CPU is a few percent of a core.
            assert!(
                first_up > step_at,
                "{arm} seed {seed} scaled up at {first_up} s, before the load step at {step_at} s"
            );
        }
        // New replicas were started and became ready.
        let pods = query(
            &db,
            &format!("SELECT pod, created_s, ready_s FROM pods WHERE trial_id = {id} AND created_s >= {first_up} - 1e-6"),
        );
        assert!(
            !pods.is_empty(),
            "{arm} seed {seed}: no pod started for the scale-up at {first_up} s"
        );
        // A bound, not a speed claim: the first scale-up comes by the HPA's
        // third sync (15 s) at the latest, and a replica is ready in well
        // under the 5 s left.
        assert!(
            pods.iter().any(|p| maybe::<f64>(p, "ready_s").is_some()),
            "{arm} seed {seed}: no new pod became ready"
        );
        for p in &pods {
            if let Some(r) = maybe::<f64>(p, "ready_s") {
                assert!(
                    r >= must::<f64>(p, "created_s"),
                    "{arm} seed {seed}: pod ready before it was created"
                );
            }
        }
    }
    // Both arms saw the same schedule per seed (also row by row).
    let same = query(
        &db,
        "SELECT count(*) AS n FROM requests a JOIN trials ta ON ta.id = a.trial_id
         JOIN trials tb ON tb.seed = ta.seed AND tb.arm <> ta.arm
         JOIN requests b ON b.trial_id = tb.id AND b.id = a.id
         WHERE a.scheduled_s <> b.scheduled_s OR a.size <> b.size OR a.iterations <> b.iterations",
    );
    assert_eq!(must::<i64>(&same[0], "n"), 0);
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
    // One HPA trial of 12 s at a steady 1.5x one replica's capacity: the
    // replica is busy, its queue full, when it is killed, so requests are
    // certainly lost with it, whatever the machine's speed.
    let cal = Calibration::get();
    let campaign = sized_smoke(cal, |doc, service_s| {
        *at(doc, "duration_s") = 12.into();
        *at(doc, "seeds.count") = 1.into();
        *at(doc, "profiles.0.arrival.rate") = toml_table(&[
            ("shape", "constant".into()),
            ("rps", (1.5 / service_s).into()),
        ]);
        at(doc, "arms").as_table_mut().unwrap().remove("userscale");
    });
    assert_eq!(campaign.plan().len(), 1);
    let kill_at = 4.0;
    let opts = local_opts(
        &db,
        LocalOptions {
            kill_replica_at_s: Some(kill_at),
            ..cpu_workload()
        },
    );
    run_campaign(&campaign, &opts, &SystemClock).unwrap();

    let t = query(&db, "SELECT params_json FROM trials");
    let params: Value = serde_json::from_str(&must::<String>(&t[0], "params_json")).unwrap();
    let fault = &params["local"]["faults"][0];
    let (at, pod) = (fault[0].as_f64().unwrap(), fault[1].as_u64().unwrap());
    // Not before its time, and before the trial's end.
    assert!((kill_at..12.0).contains(&at), "fault at {at}");
    // The killed pod exited without being deleted; a replacement started after
    // it and became ready.
    let pods = query(
        &db,
        "SELECT pod, created_s, ready_s, deleted_s, exited_s FROM pods ORDER BY pod",
    );
    let killed = &pods[pod as usize];
    assert_eq!(
        maybe::<f64>(killed, "deleted_s"),
        None,
        "it died, nobody deleted it"
    );
    let exited: f64 = must(killed, "exited_s");
    assert!(
        exited >= at,
        "exited at {exited} s, before the kill at {at} s"
    );
    let replacement = pods
        .iter()
        .find(|p| must::<f64>(p, "created_s") >= exited)
        .expect("a replacement pod created after the exit");
    let ready: f64 = must(replacement, "ready_s");
    // Requests in the gap fail visibly; requests sent after it succeed.
    let r = query(
        &db,
        &format!(
            "SELECT count(*) AS n, sum(outcome IN ('no_endpoint', 'killed')) AS lost,
                    sum(outcome = 'ok' AND sent_s > {ready}) AS after,
                    sum(sent_s > {ready}) AS sent_after
             FROM requests"
        ),
    );
    assert!(
        must::<i64>(&r[0], "lost") >= 1,
        "no request failed with the replica"
    );
    let (after, sent_after) = (
        must::<i64>(&r[0], "after"),
        must::<i64>(&r[0], "sent_after"),
    );
    assert!(
        sent_after == 0 || after >= 1,
        "none of the {sent_after} requests sent after the replacement was ready succeeded"
    );
}

/// Starts `bench run --backend local` on the smoke campaign into `db` and
/// returns once its first trial is under way: the live status file appears
/// once the trial's replicas are up and its load has started. The bound
/// only catches a hang.
fn start_local_run(db: &Path) -> std::process::Child {
    // `cargo test --workspace` builds the bench binary beside this one.
    let bench = Path::new(env!("CARGO_BIN_EXE_workload")).with_file_name("bench");
    assert!(
        bench.exists(),
        "{} is missing: run the workspace's tests (`just test` builds it)",
        bench.display()
    );
    let mut child = std::process::Command::new(&bench)
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
            SMOKE,
        ])
        .arg("--db")
        .arg(db)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let live = bench::watch::live_path(db);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !live.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "bench exited before its first trial"
        );
        assert!(Instant::now() < deadline, "no trial started in 120 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// `/proc/PID/stat`: (parent pid, state), None once the pid is gone.
fn proc_stat(pid: u32) -> Option<(u32, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    Some((f.next()?.parse().ok()?, state))
}

/// Live (not zombie) processes whose parent is `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| proc_stat(pid).is_some_and(|(pp, st)| pp == parent && st != 'Z'))
        .collect()
}

/// True while `pid` runs (a zombie waiting to be reaped has exited).
fn running(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|(_, st)| st != 'Z')
}

#[test]
fn kill_9_of_a_local_run_leaves_no_replica_and_a_resumed_run_stops_leftovers() {
    let _turn = take_turn();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kill9.sqlite");
    let registry = bench::local::reaper::registry_path(&db);
    let mut child = start_local_run(&db);
    let replicas = children_of(child.id());
    assert!(!replicas.is_empty(), "the trial runs replicas");
    // Every replica is registered beside the dataset.
    let text = std::fs::read_to_string(&registry).unwrap();
    let registered: Vec<u32> = text
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    for pid in &replicas {
        assert!(registered.contains(pid), "replica {pid} not in {text}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The kernel kills them with the bench; the bound only catches a hang.
    let deadline = Instant::now() + Duration::from_secs(60);
    while registered.iter().any(|&p| running(p)) {
        assert!(
            Instant::now() < deadline,
            "replicas outlived a kill -9 of the bench: {:?}",
            registered
                .iter()
                .filter(|&&p| running(p))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // A leftover the kernel could not have killed (here: a replica whose
    // parent is this test), registered as a crashed run would have left it.
    let mut leftover = std::process::Command::new(env!("CARGO_BIN_EXE_workload"))
        .args(["serve", "--bind", "127.0.0.1:0", "--backend", "cpu"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ticks = bench::local::reaper::start_ticks(leftover.id()).unwrap();
    std::fs::write(&registry, format!("{} {ticks}\n", leftover.id())).unwrap();
    let resumed = start_local_run(&db);
    // The sweep ran before the first trial: the leftover is gone.
    let status = leftover.wait().unwrap();
    assert!(status.code().is_none(), "killed by a signal: {status}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(resumed.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = resumed.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "stopped 1 workload replica(s) an earlier run left behind (pids [{}])",
            leftover.id()
        )),
        "{stderr}"
    );
    assert!(!registry.exists(), "the registry goes with the run");
}

#[test]
fn ctrl_c_stops_the_replicas_and_records_the_aborted_trial() {
    let _turn = take_turn();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ctrlc.sqlite");
    let child = start_local_run(&db);
    let live = bench::watch::live_path(&db);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let interrupted = Instant::now();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // A bound for a hang (the smoke campaign's grace is 5 s and its client
    // time-out 10 s), not a claim about speed.
    assert!(
        interrupted.elapsed() < Duration::from_secs(120),
        "bench took {:?} to stop",
        interrupted.elapsed()
    );
    assert!(stderr.contains("interrupted"), "{stderr}");
    let aborts = query(&db, "SELECT trial_id, reason FROM trial_aborts");
    assert_eq!(aborts.len(), 1);
    assert_eq!(must::<String>(&aborts[0], "reason"), "interrupted");
    let t = query(
        &db,
        "SELECT sum(status = 'complete') AS c, sum(status = 'pending') AS p FROM trials",
    );
    assert_eq!((must::<i64>(&t[0], "c"), must::<i64>(&t[0], "p")), (0, 4));
    let rows = query(&db, "SELECT count(*) AS n FROM requests");
    assert_eq!(
        must::<i64>(&rows[0], "n"),
        0,
        "an aborted trial leaves no rows"
    );
    assert!(!live.exists(), "live file removed");
}

/// The trial's signal pipelines: the policy's own signals; metrics-server
/// emulated on the trial's recorded scrape clock, the pods' endpoints real.
fn check_signals(db: &Path, id: i64, arm: &str, policy: &PolicyConfig) {
    let rows = query(
        db,
        &format!(
            "SELECT s.signal, s.name, s.period_s, s.first_s, s.emulated,
                    c.period_s AS clock_period_s, c.first_s AS clock_first_s
             FROM trial_signals s
             JOIN trial_clocks c ON c.trial_id = s.trial_id AND c.clock = 'metrics_scrape'
             WHERE s.trial_id = {id} ORDER BY s.signal"
        ),
    );
    let mut got: Vec<String> = rows.iter().map(|r| must::<String>(r, "signal")).collect();
    got.sort();
    let mut want: Vec<String> = policy
        .signals()
        .iter()
        .map(|s| s.as_str().to_string())
        .collect();
    want.sort();
    assert_eq!(got, want, "{arm}: signals");
    for r in &rows {
        let name: String = must(r, "name");
        let emulated: i64 = must(r, "emulated");
        if name == "metrics_server" {
            assert_eq!(emulated, 1, "{arm}: metrics-server is emulated locally");
            assert_eq!(
                maybe::<f64>(r, "first_s"),
                maybe::<f64>(r, "clock_first_s"),
                "{arm}: the scrape phase"
            );
            assert_eq!(
                maybe::<f64>(r, "period_s"),
                maybe::<f64>(r, "clock_period_s"),
                "{arm}: the scrape period"
            );
        } else {
            assert_eq!(name, "pod_endpoint", "{arm}");
            assert_eq!(emulated, 0, "{arm}: {name} is the replica's own");
        }
    }
    // The trial starts after two scrapes of its initial replicas, so a
    // policy reading CPU has it from its first tick.
    if rows
        .iter()
        .any(|r| must::<String>(r, "name") == "metrics_server")
    {
        let first = query(
            db,
            &format!("SELECT reason FROM decisions WHERE trial_id = {id} ORDER BY t_s LIMIT 1"),
        );
        let reason: String = must(&first[0], "reason");
        assert!(
            !reason.contains("no metrics returned"),
            "{arm}: the first tick had no CPU: {reason}"
        );
    }
}
