//! `scaler::replay` and the `scaler replay` binary on the example file.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use scaler::replay::replay;
use scaler::{Decision, Error, PolicyConfig};

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

const EXAMPLE: &str = "data/replay/example-observations.jsonl";
const HPA_POLICY: &str = "data/policies/hpa-original.toml";

fn replay_str(config: &PolicyConfig, input: &str) -> (Result<usize, Error>, Vec<Decision>) {
    let mut policy = config.build();
    let mut output = Vec::new();
    let result = replay(policy.as_mut(), input.as_bytes(), &mut output);
    let decisions = String::from_utf8(output)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    (result, decisions)
}

fn example() -> String {
    std::fs::read_to_string(repo_file(EXAMPLE)).unwrap()
}

#[test]
fn the_example_replays_through_the_original_hpa() {
    // The example is vector V13 of docs/hpa.md §11.
    let (result, decisions) = replay_str(&PolicyConfig::original_hpa(), &example());
    assert_eq!(result.unwrap(), 7);
    let n: Vec<_> = decisions.iter().map(|d| d.desired_replicas).collect();
    assert_eq!(n, [3, 3, 4, 4, 3, 3, 1]);
    let last = &decisions[6];
    assert_eq!(last.time, 90.0);
    assert_eq!(last.controller.as_str(), "hpa");
    assert_eq!(last.current_replicas, 3);
    assert_eq!(
        last.reason,
        "ReadyForNewScale: cpu 10% of request vs target 40% (ratio 0.25, 3 ready pods) \
         -> proposal 1; DesiredWithinRange -> 1"
    );
}

#[test]
fn the_example_replays_through_userscale() {
    let (result, decisions) = replay_str(&PolicyConfig::original_userscale(), &example());
    assert_eq!(result.unwrap(), 7);
    assert_eq!(decisions[0].desired_replicas, 4);
    assert!(decisions[0].reason.starts_with("GpuHigh: gpu 92.0% > 80%"));
}

#[test]
fn the_example_replays_through_keda() {
    let config = PolicyConfig::load(repo_file("data/policies/keda.toml")).unwrap();
    let (result, decisions) = replay_str(&config, &example());
    assert_eq!(result.unwrap(), 7);
    // t = 0: 4 in flight over 1 pod at 4 per pod, ratio 1: hold at 1.
    assert_eq!(decisions[0].desired_replicas, 1, "{}", decisions[0].reason);
    assert_eq!(decisions[0].inputs["value"], 4.0);
    assert_eq!(decisions[0].inputs["loop"], "hpa");
    for d in &decisions {
        assert_eq!(d.controller.as_str(), "keda");
        assert!((1..=6).contains(&d.desired_replicas), "{}", d.reason);
    }
}

#[test]
fn the_example_replays_through_the_kpa_each_line_a_sample() {
    let config = PolicyConfig::load(repo_file("data/policies/kpa.toml")).unwrap();
    let (result, decisions) = replay_str(&config, &example());
    assert_eq!(result.unwrap(), 7);
    // The first line is the only sample so far: 4 in flight on one pod,
    // target 2.8 -> 2 pods; 4 / 2.8 rounds up to 2, under 2 × 1 ready:
    // no panic.
    let d = &decisions[0];
    assert_eq!(d.inputs["stable_concurrency"], 4.0, "{}", d.reason);
    assert_eq!(d.desired_replicas, 2, "{}", d.reason);
    for d in &decisions {
        assert_eq!(d.controller.as_str(), "kpa");
        assert!((1..=6).contains(&d.desired_replicas), "{}", d.reason);
    }
}

#[test]
fn the_example_replays_through_ray() {
    let config = PolicyConfig::load(repo_file("data/policies/ray.toml")).unwrap();
    let (result, decisions) = replay_str(&config, &example());
    assert_eq!(result.unwrap(), 7);
    for d in &decisions {
        assert_eq!(d.controller.as_str(), "ray");
        assert!((1..=6).contains(&d.desired_replicas), "{}", d.reason);
    }
    // Lines 15 s apart are 150 control-loop ticks but one decision each:
    // the 30 s delay (300 ticks) is never reached, the count stays.
    assert!(decisions
        .iter()
        .all(|d| d.desired_replicas == d.current_replicas));
}

#[test]
fn blank_lines_are_skipped_but_counted() {
    let example = example();
    let lines: Vec<&str> = example.lines().collect();
    let input = format!("\n{}\n   \n{}\n", lines[0], lines[1]);
    let (result, decisions) = replay_str(&PolicyConfig::original_hpa(), &input);
    assert_eq!(result.unwrap(), 2);
    assert_eq!(decisions.len(), 2);

    // A bad line is reported with its number in the file, blank lines included.
    let input = format!("\n{}\n\n{{\"time\": 1.0}}\n", lines[0]);
    let (result, decisions) = replay_str(&PolicyConfig::original_hpa(), &input);
    match result {
        Err(Error::Observation { line, .. }) => assert_eq!(line, 4),
        other => panic!("expected an observation error, got {other:?}"),
    }
    // What came before the error was written.
    assert_eq!(decisions.len(), 1);
}

#[test]
fn time_must_not_go_back() {
    let input = "{\"time\": 10.0, \"spec_replicas\": 2, \"pods\": []}\n\
                 {\"time\": 10.0, \"spec_replicas\": 2, \"pods\": []}\n\
                 {\"time\": 9.5, \"spec_replicas\": 2, \"pods\": []}\n";
    let (result, decisions) = replay_str(&PolicyConfig::original_hpa(), input);
    match result {
        Err(Error::TimeWentBack {
            line,
            time,
            previous,
        }) => assert_eq!((line, time, previous), (3, 9.5, 10.0)),
        other => panic!("expected TimeWentBack, got {other:?}"),
    }
    assert_eq!(decisions.len(), 2);
}

#[test]
fn unknown_observation_fields_are_rejected() {
    let input = "{\"time\": 0.0, \"spec_replicas\": 2, \"pods\": [], \"replicas\": 3}\n";
    let (result, _) = replay_str(&PolicyConfig::original_hpa(), input);
    assert!(matches!(result, Err(Error::Observation { line: 1, .. })));
}

/// Runs the binary with `args`, `stdin` as input; returns (status, stdout, stderr).
fn scaler(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scaler"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn the_binary_prints_one_decision_per_line() {
    let policy = repo_file(HPA_POLICY);
    let observations = repo_file(EXAMPLE);
    let (code, stdout, _) = scaler(
        &[
            "replay",
            "--policy",
            policy.to_str().unwrap(),
            "--observations",
            observations.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(code, 0);
    assert_eq!(stdout.lines().count(), 7);

    // `-` and no flag both read stdin.
    for args in [vec!["--observations", "-"], vec![]] {
        let mut full = vec!["replay", "--policy", policy.to_str().unwrap()];
        full.extend(args);
        let (code, stdout_stdin, _) = scaler(&full, &example());
        assert_eq!(code, 0);
        assert_eq!(stdout_stdin, stdout);
    }
}

#[test]
fn the_binary_exits_2_on_bad_input_and_1_on_other_failures() {
    let policy = repo_file(HPA_POLICY);
    let policy = policy.to_str().unwrap();

    let (code, _, stderr) = scaler(&["replay", "--policy", policy], "not json\n");
    assert_eq!(code, 2);
    assert!(stderr.contains("observation line 1"), "{stderr}");

    let dir = std::env::temp_dir().join(format!("scaler-replay-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad_policy = dir.join("bad.toml");
    std::fs::write(
        &bad_policy,
        "kind = \"hpa\"\nmax_replicas = 6\ntarget = 40\n",
    )
    .unwrap();
    let (code, _, stderr) = scaler(&["replay", "--policy", bad_policy.to_str().unwrap()], "");
    assert_eq!(code, 2);
    assert!(stderr.contains("line 3, column 1"), "{stderr}");

    let missing = dir.join("missing.toml");
    let (code, _, _) = scaler(&["replay", "--policy", missing.to_str().unwrap()], "");
    assert_eq!(code, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}
