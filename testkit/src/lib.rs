//! Test utilities shared by the workspace's tests and benchmarks: the
//! repository's files, a fixed clock, simulated datasets made from a
//! campaign, and the `promtool` check of Prometheus text. A dev-dependency
//! only; nothing here ships in a binary.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use bench::campaign::Campaign;
use bench::runner::{run_campaign, Backend, Clock, RunOptions, RunSummary};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The instant [`FixedClock`] reads.
pub const FIXED_NOW: &str = "2026-01-01T00:00:00.000Z";

/// A clock that always reads [`FIXED_NOW`], so that a dataset's timestamps
/// do not depend on when a test ran.
pub struct FixedClock;

impl Clock for FixedClock {
    fn now_rfc3339(&self) -> String {
        FIXED_NOW.into()
    }
}

/// `data/campaigns/NAME.toml`, parsed.
#[track_caller]
pub fn campaign(name: &str) -> Campaign {
    Campaign::load(&root().join(format!("data/campaigns/{name}.toml")))
        .unwrap_or_else(|e| panic!("campaign `{name}`: {e}"))
}

/// `data/campaigns/NAME.toml` with `seeds` seeds per cell instead of its
/// own count (the line `seeds = { first = …, count = … }` rewritten).
#[track_caller]
pub fn campaign_with_seeds(name: &str, seeds: u32) -> Campaign {
    let dir = root().join("data/campaigns");
    let path = dir.join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut found = false;
    let text: String = text
        .lines()
        .map(|l| match l.strip_prefix("seeds = {") {
            Some(rest) if !found => {
                found = true;
                let first = rest
                    .split(',')
                    .find_map(|kv| kv.trim().strip_prefix("first = "))
                    .map(|v| v.trim_end_matches('}').trim().to_string())
                    .unwrap_or_else(|| "1".into());
                format!("seeds = {{ first = {first}, count = {seeds} }}\n")
            }
            _ => format!("{l}\n"),
        })
        .collect();
    assert!(found, "{} has no `seeds = {{ … }}` line", path.display());
    Campaign::parse(&text, &path, &dir).unwrap_or_else(|e| panic!("campaign `{name}`: {e}"))
}

/// Runs `campaign` on the simulator into a new dataset at `db` (`jobs`
/// threads, [`FixedClock`], host `test`), then folds the WAL into the file,
/// so that the file stays as it is for readers that open it read-only.
#[track_caller]
pub fn simulate_into(campaign: &Campaign, db: &Path, jobs: usize) -> RunSummary {
    let mut opts = RunOptions::new(db.to_path_buf(), Backend::Sim);
    opts.jobs = jobs;
    opts.host = "test".into();
    let summary = run_campaign(campaign, &opts, &FixedClock).unwrap();
    block_on(async { bench::store::Store::open(db).await?.close().await }).unwrap();
    summary
}

/// The default campaign at `seeds` seeds per cell, simulated on 2 threads
/// into `DIR/trials.sqlite`; its path.
#[track_caller]
pub fn default_dataset(dir: &Path, seeds: u32) -> PathBuf {
    let db = dir.join("trials.sqlite");
    simulate_into(&campaign_with_seeds("default", seeds), &db, 2);
    db
}

/// The zoo campaign (`data/campaigns/zoo.toml`) at `seeds` seeds per cell,
/// simulated on 2 threads into `DIR/zoo.sqlite`; its path.
#[track_caller]
pub fn zoo_dataset(dir: &Path, seeds: u32) -> PathBuf {
    let db = dir.join("zoo.sqlite");
    simulate_into(&campaign_with_seeds("zoo", seeds), &db, 2);
    db
}

/// Arms added to the zoo campaign by [`eight_arm_campaign`]: other settings
/// of the same policies, so that a page shows eight arms.
const MORE_ARMS: &str = r#"
[arms.hpa-cpu60]
kind = "hpa"
target_cpu_utilization = 60

[arms.hpa-cpu80]
kind = "hpa"
target_cpu_utilization = 80

"#;

/// The zoo campaign with two more arms (eight in all) at `seeds` seeds.
#[track_caller]
pub fn eight_arm_campaign(seeds: u32) -> Campaign {
    let zoo = campaign_with_seeds("zoo", seeds);
    let text = format!("{}{MORE_ARMS}", zoo.text);
    let dir = root().join("data/campaigns");
    let c = Campaign::parse(&text, &dir.join("zoo-8.toml"), &dir)
        .unwrap_or_else(|e| panic!("eight-arm campaign: {e}"));
    assert_eq!(c.arms.len(), 8);
    c
}

/// [`eight_arm_campaign`] simulated into `DIR/zoo-8.sqlite`; its path.
#[track_caller]
pub fn eight_arm_dataset(dir: &Path, seeds: u32) -> PathBuf {
    let db = dir.join("zoo-8.sqlite");
    simulate_into(&eight_arm_campaign(seeds), &db, 2);
    db
}

/// Runs `f` to completion on a current-thread runtime (no I/O driver).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

/// `promtool check metrics` on `text`: panics with promtool's complaint
/// when it rejects the text; `false` when promtool is not installed, which
/// fails instead when `REQUIRE_PROMTOOL` is set (as CI sets it).
#[track_caller]
pub fn promtool_check(text: &str) -> bool {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            assert!(
                std::env::var_os("REQUIRE_PROMTOOL").is_none(),
                "promtool is required (REQUIRE_PROMTOOL is set) but could not run: {e}"
            );
            eprintln!("promtool not installed ({e}); skipping the exposition-format check");
            return false;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    true
}
