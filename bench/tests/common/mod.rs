//! Shared builders for the bench's integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;

use bench::campaign::{Campaign, Scenario};
use bench::profile::LoadProfile;
use bench::record::TrialRecords;
use bench::sim::{run_trial, ServiceModel, TrialInput};
use scaler::PolicyConfig;

pub use testkit::root;

/// Parses campaign text as if it lived in `data/campaigns/`.
#[track_caller]
pub fn campaign(text: &str) -> Campaign {
    let dir = root().join("data/campaigns");
    Campaign::parse(text, &dir.join("test.toml"), &dir).unwrap()
}

/// A one-scenario campaign: `nodes` and `pod` are TOML bodies, `arrival` an
/// inline table.
pub fn single(
    min: u32,
    max: u32,
    nodes: &str,
    pod: &str,
    sim: &str,
    arrival: &str,
    timeout_s: f64,
) -> String {
    format!(
        r#"
name = "t"
duration_s = 90
warmup_s = 0
seeds = {{ first = 1, count = 1 }}
[arms.hpa]
kind = "hpa"
target_cpu_utilization = 40
[arms.userscale]
kind = "userscale"
[[profiles]]
name = "p"
size = {{ min = 1000, max = 2000 }}
iterations = {{ min = 20, max = 100 }}
timeout_s = {timeout_s}
arrival = {arrival}
[[scenarios]]
name = "s"
min_replicas = {min}
max_replicas = {max}
profiles = ["p"]
[[scenarios.nodes]]
{nodes}
[scenarios.pod]
{pod}
[scenarios.sim]
{sim}
"#
    )
}

/// Runs one trial of a single-scenario campaign.
pub fn trial(
    c: &Campaign,
    arm: &str,
    seed: u64,
    duration_s: f64,
    service: ServiceModel,
) -> TrialRecords {
    let mut input = TrialInput::new(
        &c.scenarios[0],
        c.profile(0),
        arm,
        c.policy(arm, 0).unwrap(),
        seed,
        duration_s,
    );
    input.service = service;
    run_trial(&input).expect("the trial stays within its event budget")
}

/// Runs one trial with an explicit scenario (e.g. an edited GPU profile).
pub fn trial_with(
    scenario: &Scenario,
    profile: &LoadProfile,
    policy: PolicyConfig,
    seed: u64,
    duration_s: f64,
    service: ServiceModel,
    schedule: Option<Vec<bench::profile::ScheduledRequest>>,
) -> TrialRecords {
    let arm = policy.name();
    let mut input = TrialInput::new(scenario, profile, arm, policy, seed, duration_s);
    input.service = service;
    input.schedule = schedule;
    run_trial(&input).expect("the trial stays within its event budget")
}

/// Mean of `xs`.
pub fn mean(xs: impl IntoIterator<Item = f64>) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for x in xs {
        s += x;
        n += 1;
    }
    s / n as f64
}

/// Path of the `bench` binary.
pub fn bench_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_bench"))
}
