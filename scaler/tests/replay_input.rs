//! `scaler replay` on input it must refuse: bytes that are not UTF-8,
//! values outside any physical range, an empty file, too many pods in one
//! observation and a line too long to parse. Each runs the real binary and
//! checks the exit status and the message.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use scaler::observation::{MAX_LINE_BYTES, MAX_PODS};

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

const HPA_POLICY: &str = "data/policies/hpa-original.toml";
const USERSCALE_POLICY: &str = "data/policies/userscale-original.toml";

/// What one run of the binary gave.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `scaler replay --policy POLICY` with `extra` arguments and `stdin`.
fn replay(policy: &str, extra: &[&str], stdin: &[u8]) -> Run {
    let policy = repo_file(policy);
    let mut child = Command::new(env!("CARGO_BIN_EXE_scaler"))
        .args(["replay", "--policy", policy.to_str().unwrap()])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    // Written from a thread: the binary may stop reading (and exit) before
    // the whole input went in.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    Run {
        code: output.status.code().unwrap(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// Replays `file` (a path) with the HPA policy, nothing on stdin.
fn replay_file(file: &Path) -> Run {
    replay(HPA_POLICY, &["--observations", file.to_str().unwrap()], b"")
}

/// One pod with every field set; `overrides` (key, JSON value) replace
/// fields or add them.
fn pod(name: &str, overrides: &[(&str, &str)]) -> String {
    let mut fields: Vec<(String, String)> = [
        ("name", format!("\"{name}\"")),
        ("phase", "\"Running\"".to_owned()),
        ("ready", "true".to_owned()),
        ("ready_transition_time", "-990.0".to_owned()),
        ("start_time", "-1000.0".to_owned()),
        ("cpu_request_m", "200".to_owned()),
        ("cpu_usage_m", "200".to_owned()),
        ("metric_timestamp", "-1.0".to_owned()),
        ("metric_window", "15".to_owned()),
        ("gpu_utilization", "50.0".to_owned()),
        ("in_flight", "2".to_owned()),
        ("avg_latency_ms", "300.0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (key, value) in overrides {
        match fields.iter_mut().find(|(k, _)| k == key) {
            Some(field) => field.1 = (*value).to_owned(),
            None => fields.push(((*key).to_owned(), (*value).to_owned())),
        }
    }
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("\"{k}\": {v}"))
        .collect();
    format!("{{{}}}", body.join(", "))
}

fn observation(time: f64, pods: &[String]) -> String {
    format!(
        "{{\"time\": {time:?}, \"spec_replicas\": {}, \"pods\": [{}]}}",
        pods.len().max(1),
        pods.join(", ")
    )
}

fn good_line(time: f64) -> String {
    observation(time, &[pod("web-a", &[]), pod("web-b", &[])])
}

#[test]
fn invalid_utf8_is_reported_with_its_line() {
    let mut input = Vec::new();
    input.extend_from_slice(good_line(0.0).as_bytes());
    input.push(b'\n');
    input.extend_from_slice(good_line(15.0).as_bytes());
    input.push(b'\n');
    // Line 3: a pod name with a byte that cannot start a UTF-8 sequence.
    let mut bad = good_line(30.0).into_bytes();
    let at = bad.windows(5).position(|w| w == b"web-b").unwrap() + 4;
    bad[at] = 0xFF;
    input.extend_from_slice(&bad);
    input.push(b'\n');

    for run in [replay(HPA_POLICY, &[], &input), {
        let dir = tempfile_dir("utf8");
        let file = dir.join("bad.jsonl");
        std::fs::write(&file, &input).unwrap();
        replay_file(&file)
    }] {
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(
            run.stderr.contains("observation line 3: not valid UTF-8"),
            "{}",
            run.stderr
        );
        // The two lines before it were decided and printed.
        assert_eq!(run.stdout.lines().count(), 2);
    }
}

#[test]
fn values_outside_their_physical_range_are_refused_with_line_and_field() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "gpu_utilization",
            "-50",
            "pods[1].gpu_utilization",
            "within 0..=100",
        ),
        (
            "gpu_utilization",
            "150",
            "pods[1].gpu_utilization",
            "within 0..=100, got 150",
        ),
        (
            "gpu_utilization",
            "1e308",
            "pods[1].gpu_utilization",
            "within 0..=100",
        ),
        (
            "avg_latency_ms",
            "-1e9",
            "pods[1].avg_latency_ms",
            "must be >= 0",
        ),
        ("metric_window", "0", "pods[1].metric_window", "must be > 0"),
        (
            "metric_window",
            "-15",
            "pods[1].metric_window",
            "must be > 0",
        ),
        (
            "cpu_usage_m",
            "9223372036854775808",
            "pods[1].cpu_usage_m",
            "at most 1000000000",
        ),
        (
            "cpu_request_m",
            "18446744073709551615",
            "pods[1].cpu_request_m",
            "at most 1000000000",
        ),
        ("name", "\"\"", "pods[1].name", "must not be empty"),
    ];
    for (key, value, field, problem) in cases {
        let bad = observation(15.0, &[pod("web-a", &[]), pod("web-b", &[(key, value)])]);
        let input = format!("{}\n\n{bad}\n{}\n", good_line(0.0), good_line(30.0));
        for policy in [HPA_POLICY, USERSCALE_POLICY] {
            let run = replay(policy, &[], input.as_bytes());
            assert_eq!(run.code, 2, "{key} = {value}: {}", run.stderr);
            let expected = format!("observation line 3: {field}: ");
            assert!(
                run.stderr.contains(&expected) && run.stderr.contains(problem),
                "{key} = {value}: {}",
                run.stderr
            );
            assert_eq!(run.stdout.lines().count(), 1, "{key} = {value}");
        }
    }

    // The top-level fields too.
    let input = "{\"time\": 0.0, \"spec_replicas\": 4294967295, \"pods\": []}\n";
    let run = replay(HPA_POLICY, &[], input.as_bytes());
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("observation line 1: spec_replicas: "),
        "{}",
        run.stderr
    );
}

#[test]
fn the_edges_of_each_range_are_accepted() {
    let edges = observation(
        0.0,
        &[
            pod(
                "web-a",
                &[
                    ("gpu_utilization", "0"),
                    ("avg_latency_ms", "0"),
                    ("cpu_usage_m", "1000000000"),
                    ("metric_window", "0.001"),
                ],
            ),
            pod(
                "web-b",
                &[("gpu_utilization", "100"), ("cpu_request_m", "0")],
            ),
        ],
    );
    let run = replay(USERSCALE_POLICY, &[], format!("{edges}\n").as_bytes());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 1);
}

#[test]
fn an_empty_input_is_an_error_that_says_so() {
    let dir = tempfile_dir("empty");
    for (name, content) in [("empty.jsonl", ""), ("blank.jsonl", "\n  \n\n")] {
        let file = dir.join(name);
        std::fs::write(&file, content).unwrap();
        let run = replay_file(&file);
        assert_eq!(run.code, 2, "{name}: {}", run.stderr);
        let expected = format!("no observations in {}", file.display());
        assert!(run.stderr.contains(&expected), "{name}: {}", run.stderr);
        assert!(run.stdout.is_empty());
    }
    let run = replay(HPA_POLICY, &[], b"");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("no observations in stdin"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_observation_with_too_many_pods_is_refused_before_the_policy_runs() {
    let small =
        |i: usize| format!("{{\"name\": \"p{i}\", \"phase\": \"Pending\", \"ready\": null}}");
    let at_limit: Vec<String> = (0..MAX_PODS).map(small).collect();
    let over: Vec<String> = (0..=MAX_PODS).map(small).collect();
    let input = format!(
        "{}\n{}\n",
        observation(0.0, &at_limit),
        observation(15.0, &over)
    );
    let run = replay(HPA_POLICY, &[], input.as_bytes());
    assert_eq!(run.code, 2, "{}", run.stderr);
    let expected = format!(
        "observation line 2: pods: {} pods, more than the {MAX_PODS}",
        MAX_PODS + 1
    );
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
    // The observation at the limit was decided.
    assert_eq!(run.stdout.lines().count(), 1);
}

#[test]
fn a_line_longer_than_the_limit_is_refused_unparsed() {
    // A line of spaces inside a JSON object: valid JSON, but longer than
    // the limit. It is refused by its length, not parsed.
    let mut long = b"{\"time\": 15.0, \"spec_replicas\": 1, \"pods\": [".to_vec();
    long.resize(MAX_LINE_BYTES + 10, b' ');
    long.extend_from_slice(b"]}\n");
    let mut input = format!("{}\n", good_line(0.0)).into_bytes();
    input.extend_from_slice(&long);
    input.extend_from_slice(format!("{}\n", good_line(30.0)).as_bytes());
    let run = replay(HPA_POLICY, &[], &input);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let expected = format!("observation line 2: longer than {MAX_LINE_BYTES} bytes");
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 1);

    // A line exactly at the limit is read (and here parses).
    let mut exact = b"{\"time\": 15.0, \"spec_replicas\": 1, \"pods\": [".to_vec();
    exact.resize(MAX_LINE_BYTES - 2, b' ');
    exact.extend_from_slice(b"]}\n");
    assert_eq!(exact.len(), MAX_LINE_BYTES + 1);
    let mut input = format!("{}\n", good_line(0.0)).into_bytes();
    input.extend_from_slice(&exact);
    let run = replay(HPA_POLICY, &[], &input);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 2);
}

/// A fresh directory under the system's temporary directory, removed when
/// dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempfile_dir(tag: &str) -> TempDir {
    let dir =
        std::env::temp_dir().join(format!("scaler-replay-input-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}
