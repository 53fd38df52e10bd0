//! Load a campaign check accepts must never make the simulator livelock or
//! grow without bound: closed-loop users refused at once pause before they
//! send again, a pod without a queue is a defined case, and a trial that
//! handles more events than its inputs explain is stopped with a clear
//! error instead of eating memory. The campaign row and its trial rows are
//! written together or not at all.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use bench::record::{Outcome, RequestRecord};
use bench::sim::{run_trial, SimError, TrialInput};
use common::{campaign, single};

const NODES: &str = "name = \"n\"\ncpu_cores = 16\ngpus = 1\ngpu_profile = \"gtx1650-mobile\"";
const SIM: &str = "";

fn pod(queue: u32) -> String {
    format!(
        "cpu_request_m = 500\ncpu_limit_m = 2000\nworkers = 4\nqueue_capacity = {queue}\nwait_mode = \"spin\""
    )
}

/// A user's requests in send order.
fn by_user(requests: &[RequestRecord]) -> BTreeMap<u32, Vec<&RequestRecord>> {
    let mut users: BTreeMap<u32, Vec<&RequestRecord>> = BTreeMap::new();
    for r in requests {
        if let Some(u) = r.user {
            users.entry(u).or_default().push(r);
        }
    }
    for reqs in users.values_mut() {
        reqs.sort_by_key(|r| r.user_seq);
    }
    users
}

/// Every refused request is followed by the user's next one no sooner than
/// the back-off; every other answer by the next request at once (no think
/// time), and the sequence numbers have no gap.
fn check_pauses(requests: &[RequestRecord], backoff_s: f64) -> usize {
    let mut refused = 0;
    for (u, reqs) in by_user(requests) {
        for (k, pair) in reqs.windows(2).enumerate() {
            let (a, b) = (pair[0], pair[1]);
            assert_eq!(a.user_seq, Some(k as u32), "user {u}");
            assert_eq!(b.user_seq, Some(k as u32 + 1), "user {u}");
            let gap = b.sent_s - a.finished_s;
            match a.outcome {
                Outcome::Rejected | Outcome::NoEndpoint | Outcome::Oom | Outcome::Killed => {
                    refused += 1;
                    assert!(
                        gap >= backoff_s - 1e-6,
                        "user {u} sent again {gap} s after a refusal"
                    );
                }
                Outcome::Ok | Outcome::Timeout => {
                    assert!(
                        gap.abs() < 1e-6,
                        "user {u} waited {gap} s with no think time"
                    )
                }
            }
        }
    }
    refused
}

#[test]
fn more_zero_think_users_than_workers_and_queue_complete_with_their_refusals_recorded() {
    // 69 users against one pod of 4 workers and a queue of 64: one user is
    // always refused. Without a pause it was re-sent at the same instant,
    // forever.
    let text = single(
        1,
        1,
        NODES,
        &pod(64),
        SIM,
        "{ loop = \"closed\", users = 69, think_mean_s = 0.0 }",
        30.0,
    );
    let c = campaign(&text);
    for arm in ["hpa", "userscale"] {
        let input = TrialInput::new(
            &c.scenarios[0],
            c.profile(0),
            arm,
            c.policy(arm, 0).unwrap(),
            1,
            c.file.duration_s,
        );
        let rec = run_trial(&input).unwrap();
        let refused = check_pauses(&rec.requests, 0.025);
        assert!(refused > 0, "{arm}: the 69th user must be refused");
        assert!(
            rec.requests.iter().any(|r| r.outcome == Outcome::Ok),
            "{arm}: the others are served"
        );
        // Each refusal costs the user at least the back-off, so the
        // refusals are bounded by users x duration / back-off.
        let rejected = rec
            .requests
            .iter()
            .filter(|r| r.outcome == Outcome::Rejected)
            .count();
        assert!(rejected as f64 <= 69.0 * (1.0 + 90.0 / 0.025), "{arm}");
        // Identical on a second run.
        assert_eq!(run_trial(&input).unwrap(), rec, "{arm}");
    }
}

#[test]
fn a_pod_without_a_queue_refuses_what_its_workers_cannot_take() {
    let text = single(
        1,
        1,
        NODES,
        &pod(0),
        SIM,
        "{ loop = \"closed\", users = 10, think_mean_s = 0.0, retry_backoff_s = 0.1 }",
        30.0,
    );
    let c = campaign(&text);
    let input = TrialInput::new(
        &c.scenarios[0],
        c.profile(0),
        "hpa",
        c.policy("hpa", 0).unwrap(),
        1,
        c.file.duration_s,
    );
    let rec = run_trial(&input).unwrap();
    assert!(check_pauses(&rec.requests, 0.1) > 0);
    // Nothing waits: a served request starts when it is sent.
    for r in rec.requests.iter().filter(|r| r.outcome == Outcome::Ok) {
        let started = r.started_s.unwrap();
        assert!((started - r.sent_s).abs() < 1e-6, "{r:?} waited in a queue");
    }
    // Never more than the 4 workers in service at once.
    let mut edges: Vec<(f64, i32)> = Vec::new();
    for r in rec.requests.iter().filter(|r| r.outcome == Outcome::Ok) {
        edges.push((r.started_s.unwrap(), 1));
        edges.push((r.finished_s, -1));
    }
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut busy = 0;
    for (_, d) in edges {
        busy += d;
        assert!(busy <= 4, "{busy} requests in service on 4 workers");
    }
}

#[test]
fn a_trial_over_its_event_budget_stops_with_an_error_naming_the_cause() {
    let text = single(
        1,
        1,
        NODES,
        &pod(64),
        SIM,
        "{ loop = \"closed\", users = 69, think_mean_s = 0.0 }",
        30.0,
    );
    let c = campaign(&text);
    let mut input = TrialInput::new(
        &c.scenarios[0],
        c.profile(0),
        "hpa",
        c.policy("hpa", 0).unwrap(),
        1,
        c.file.duration_s,
    );
    input.event_budget = Some(2_000);
    let err = run_trial(&input).unwrap_err();
    let SimError::EventBudget {
        events,
        budget,
        at_s,
        ..
    } = &err;
    assert_eq!((*events, *budget), (2_001, 2_000));
    assert!(*at_s >= 0.0 && *at_s < 90.0, "{at_s}");
    let msg = err.to_string();
    assert!(msg.contains("2001 simulator events"), "{msg}");
    assert!(msg.contains("% of the events were"), "{msg}");
    // The derived budget lets the same trial finish.
    input.event_budget = None;
    run_trial(&input).unwrap();
}

#[test]
fn the_campaign_row_and_its_trial_rows_are_written_together_or_not_at_all() {
    use bench::store::{CampaignMeta, NewArm, NewTrial, Store};
    use sqlx::{Connection, Row, SqliteConnection};

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.sqlite");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        Store::open(&db).await.unwrap().close().await.unwrap();
        // A trial row that cannot be written, after the campaign row was.
        let url = format!("sqlite://{}", db.display());
        let mut conn = SqliteConnection::connect(&url).await.unwrap();
        sqlx::query(
            "CREATE TRIGGER poison BEFORE INSERT ON trials WHEN NEW.arm = 'poison'
             BEGIN SELECT RAISE(ABORT, 'poisoned trial'); END",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        let arms: Vec<NewArm> = ["a", "b", "poison"]
            .iter()
            .map(|name| NewArm {
                name,
                kind: contract::ControllerKind::Hpa,
                baseline: *name == "a",
                policy_json: "{}".into(),
            })
            .collect();
        let meta = CampaignMeta {
            name: "c",
            config_toml: "",
            config_sha256: "abc",
            backend: contract::BackendKind::Sim,
            tool_version: "t",
            host: "h",
            created_at: "1970-01-01T00:00:00.000Z",
            arms: &arms,
        };
        let trial = |arm| NewTrial {
            scenario: "s",
            arm,
            load_profile: "p",
            seed: 1,
            run_order: 0,
            duration_s: 1.0,
            warmup_s: 0.0,
            wait_mode: "spin",
            params_json: "{}".into(),
        };
        let mut store = Store::open(&db).await.unwrap();
        let err = store
            .ensure_campaign(&meta, &[trial("a"), trial("poison")])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("poisoned trial"), "{err}");
        for table in ["campaigns", "trials", "arms"] {
            let q = format!("SELECT count(*) FROM {table}");
            let n: i64 = sqlx::query(&q)
                .fetch_one(&mut conn)
                .await
                .unwrap()
                .try_get(0)
                .unwrap();
            assert_eq!(n, 0, "{table}: a failed write must leave nothing");
        }
        // Without the poison both land.
        let (id, ids) = store
            .ensure_campaign(&meta, &[trial("a"), trial("b")])
            .await
            .unwrap();
        assert_eq!(ids.len(), 2);
        assert!(ids.iter().all(|(_, done)| !done));
        let (again, _) = store
            .ensure_campaign(&meta, &[trial("a"), trial("b")])
            .await
            .unwrap();
        assert_eq!(again, id);
        store.close().await.unwrap();
    });
}
