//! The simulator against what must hold: conservation, Little's law,
//! queueing formulas, time-slicing, determinism and common random numbers.
#![allow(clippy::unwrap_used)]

mod common;

use bench::profile::{open_schedule, ScheduledRequest};
use bench::record::Outcome;
use bench::sim::{time_slice_rate, ServiceModel};
use common::*;

const H100_NODE: &str = r#"name = "n"
cpu_cores = 64
gpus = 3
gpu_profile = "h100-sxm"
time_slicing_replicas = 1"#;

const QUEUE_POD: &str = r#"cpu_request_m = 1000
cpu_limit_m = 64000
workers = 1
queue_capacity = 100000
wait_mode = "blocking"
pre_cpu_ms = 0
post_cpu_ms = 0"#;

/// Mean response time (scheduled → answered) over several seeds of a
/// one-worker-per-pod queueing set-up with `pods` pods.
fn mean_response(pods: u32, rate: f64, service: ServiceModel, seeds: u64, duration_s: f64) -> f64 {
    let text = single(
        pods,
        pods,
        H100_NODE,
        QUEUE_POD,
        "",
        &format!("{{ loop = \"open\", rate = {{ shape = \"constant\", rps = {rate} }} }}"),
        1e6,
    );
    let c = campaign(&text);
    let mut all = Vec::new();
    for seed in 0..seeds {
        let rec = trial(&c, "hpa", seed, duration_s, service);
        assert!(rec.requests.iter().all(|r| r.outcome == Outcome::Ok));
        all.extend(rec.requests.iter().map(|r| r.latency_ms / 1000.0));
    }
    mean(all)
}

#[test]
fn mm1_mean_response_time_matches_one_over_mu_minus_lambda() {
    // λ = 5/s, μ = 10/s: W = 1 / (μ − λ) = 0.2 s.
    let w = mean_response(1, 5.0, ServiceModel::Exponential(0.1), 8, 2000.0);
    assert!(
        (w - 0.2).abs() / 0.2 < 0.06,
        "M/M/1 mean response {w}, expected 0.2"
    );
}

#[test]
fn md1_mean_response_time_matches_pollaczek_khinchine() {
    // λ = 5/s, s = 0.1 s, ρ = 0.5: Wq = λ s² / (2 (1 − ρ)) = 0.05, W = 0.15.
    let w = mean_response(1, 5.0, ServiceModel::Deterministic(0.1), 8, 2000.0);
    assert!(
        (w - 0.15).abs() / 0.15 < 0.04,
        "M/D/1 mean response {w}, expected 0.15"
    );
}

#[test]
fn random_routing_over_three_pods_behaves_as_independent_mm1_queues() {
    // λ = 15/s split at random over 3 pods with μ = 10/s each: W = 0.2 s.
    let w = mean_response(3, 15.0, ServiceModel::Exponential(0.1), 6, 1500.0);
    assert!(
        (w - 0.2).abs() / 0.2 < 0.06,
        "mean response {w}, expected 0.2"
    );
}

fn slicing_makespan(contexts: u32, eps: f64) -> f64 {
    let node = format!(
        "name = \"n\"\ncpu_cores = 64\ngpus = 1\ngpu_profile = \"h100-sxm\"\ntime_slicing_replicas = {contexts}"
    );
    let text = single(
        contexts,
        contexts,
        &node,
        QUEUE_POD,
        "routing = \"round-robin\"",
        "{ loop = \"open\", rate = { shape = \"constant\", rps = 1.0 } }",
        1e6,
    );
    let mut c = campaign(&text);
    c.scenarios[0]
        .gpu_profiles
        .get_mut("h100-sxm")
        .unwrap()
        .context_switch_overhead
        .value = eps;
    // `contexts` requests of 1 s of device work each, all at t = 1.
    let schedule: Vec<ScheduledRequest> = (0..contexts)
        .map(|i| ScheduledRequest {
            id: i,
            at_s: 1.0,
            size: 1000,
            iterations: 20,
        })
        .collect();
    let rec = trial_with(
        &c.scenarios[0],
        c.profile(0),
        c.policy("hpa", 0).unwrap(),
        1,
        90.0,
        ServiceModel::Deterministic(1.0),
        Some(schedule),
    );
    // Each pod got one request.
    let mut pods: Vec<_> = rec.requests.iter().map(|r| r.pod.unwrap()).collect();
    pods.sort_unstable();
    pods.dedup();
    assert_eq!(pods.len(), contexts as usize);
    rec.requests
        .iter()
        .map(|r| r.finished_s)
        .fold(0.0, f64::max)
        - 1.0
}

#[test]
fn time_slicing_conserves_work_without_overhead_and_loses_it_with_overhead() {
    for c in [1u32, 2, 4, 6] {
        let ideal = slicing_makespan(c, 0.0);
        assert!(
            (ideal - f64::from(c)).abs() < 1e-5,
            "{c} contexts, eps 0: {ideal}"
        );
        let lossy = slicing_makespan(c, 0.05);
        let expected = f64::from(c) * (1.0 + 0.05 * f64::from(c - 1));
        assert!(
            (lossy - expected).abs() < 1e-5,
            "{c} contexts, eps 0.05: {lossy} vs {expected}"
        );
        if c > 1 {
            assert!(lossy > ideal);
        }
    }
}

#[test]
fn time_slice_rate_splits_device_between_contexts_then_requests() {
    assert_eq!(time_slice_rate(0, 1, 0.1), 0.0);
    assert_eq!(time_slice_rate(1, 1, 0.1), 1.0);
    assert_eq!(time_slice_rate(2, 1, 0.0), 0.5);
    assert_eq!(time_slice_rate(2, 2, 0.0), 0.25);
    assert!((time_slice_rate(3, 1, 0.1) - 1.0 / 1.2 / 3.0).abs() < 1e-15);
}

fn default_campaign() -> bench::campaign::Campaign {
    bench::campaign::Campaign::load(&root().join("data/campaigns/default.toml")).unwrap()
}

fn cell(
    c: &bench::campaign::Campaign,
    scenario: &str,
    profile: &str,
    arm: &str,
    seed: u64,
) -> bench::record::TrialRecords {
    let plan = c
        .plan()
        .into_iter()
        .find(|p| {
            p.scenario.spec.name == scenario
                && p.profile.name == profile
                && p.arm == arm
                && p.seed == seed
        })
        .unwrap();
    bench::runner::simulate(&plan).unwrap()
}

#[test]
fn every_request_ends_once_and_counts_add_up() {
    let c = default_campaign();
    for (scenario, profile) in [
        ("original-gtx1650", "closed-20"),
        ("original-gtx1650", "laptop-spike"),
        ("multi-gpu-t4", "cluster-step"),
    ] {
        for arm in ["hpa", "userscale"] {
            let rec = cell(&c, scenario, profile, arm, 3);
            let n = rec.requests.len();
            assert!(n > 40, "{scenario}/{profile}/{arm}: only {n} requests");
            // Every request sent during the trial is counted once as offered.
            let offered: u32 = rec.samples.iter().map(|s| s.offered).sum();
            assert_eq!(offered as usize, n, "{scenario}/{profile}/{arm}");
            // Answered ones are counted once as completed or failed; the
            // rest ended during the drain after the last sample.
            let in_samples: u32 = rec.samples.iter().map(|s| s.completed + s.failed).sum();
            let after_end = rec.requests.iter().filter(|r| r.finished_s > 90.0).count();
            assert_eq!(
                in_samples as usize + after_end,
                n,
                "{scenario}/{profile}/{arm}"
            );
            for r in &rec.requests {
                assert!(r.sent_s >= r.scheduled_s && r.finished_s >= r.sent_s);
                if r.outcome == Outcome::Ok {
                    assert!(r.started_s.is_some() && r.pod.is_some());
                }
                assert!(r.latency_ms <= 30_000.0 + 1e-6, "client time-out is 30 s");
            }
            let ids: Vec<u32> = rec.requests.iter().map(|r| r.id).collect();
            assert_eq!(ids, (0..n as u32).collect::<Vec<_>>());
        }
    }
}

#[test]
fn littles_law_holds_on_the_output() {
    // Light open load without time-outs: L = λ W, where L is the time
    // average of requests in the system (sampled each second), λ the
    // arrival rate and W the mean time in system.
    let text = single(
        2,
        2,
        H100_NODE,
        "cpu_request_m = 1000\ncpu_limit_m = 4000\nworkers = 2\nqueue_capacity = 1000\nwait_mode = \"spin\"",
        "",
        "{ loop = \"open\", rate = { shape = \"constant\", rps = 20.0 } }",
        1e6,
    );
    let c = campaign(&text);
    let duration = 3000.0;
    let rec = trial(&c, "hpa", 11, duration, ServiceModel::Profile);
    let l = mean(
        rec.samples
            .iter()
            .map(|s| f64::from(s.in_flight + s.queued)),
    );
    let lambda = rec.requests.len() as f64 / duration;
    let w = mean(rec.requests.iter().map(|r| r.latency_ms / 1000.0));
    assert!(l > 0.3, "load too light to test: L = {l}");
    assert!(
        (l - lambda * w).abs() / (lambda * w) < 0.05,
        "L = {l}, λW = {}",
        lambda * w
    );
}

#[test]
fn same_seed_gives_identical_records_and_other_seeds_differ() {
    let c = default_campaign();
    for (scenario, profile) in [
        ("original-gtx1650", "closed-20"),
        ("multi-gpu-t4", "cluster-spike"),
    ] {
        let a = cell(&c, scenario, profile, "userscale", 5);
        let b = cell(&c, scenario, profile, "userscale", 5);
        assert_eq!(a, b);
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
        let other = cell(&c, scenario, profile, "userscale", 6);
        assert_ne!(a.requests, other.requests);
    }
}

#[test]
fn both_arms_of_a_seed_see_the_identical_request_sequence() {
    let c = default_campaign();
    // Open loop: the same schedule, request by request.
    let h = cell(&c, "multi-gpu-t4", "cluster-step", "hpa", 4);
    let u = cell(&c, "multi-gpu-t4", "cluster-step", "userscale", 4);
    let key =
        |r: &bench::record::RequestRecord| (r.id, r.scheduled_s.to_bits(), r.size, r.iterations);
    assert_eq!(
        h.requests.iter().map(key).collect::<Vec<_>>(),
        u.requests.iter().map(key).collect::<Vec<_>>()
    );
    let profile = c
        .file
        .profiles
        .iter()
        .find(|p| p.name == "cluster-step")
        .unwrap();
    assert_eq!(open_schedule(profile, 4, 90.0).len(), h.requests.len());
    // Closed loop: the k-th request of each user is the same in both arms.
    let h = cell(&c, "original-gtx1650", "closed-20", "hpa", 4);
    let u = cell(&c, "original-gtx1650", "closed-20", "userscale", 4);
    let by_user = |rec: &bench::record::TrialRecords| {
        rec.requests
            .iter()
            .map(|r| {
                (
                    (r.user.unwrap(), r.user_seq.unwrap()),
                    (r.size, r.iterations),
                )
            })
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let (bh, bu) = (by_user(&h), by_user(&u));
    let mut shared = 0;
    for (key, what) in &bh {
        if let Some(other) = bu.get(key) {
            assert_eq!(what, other, "user {} request {}", key.0, key.1);
            shared += 1;
        }
    }
    // Users progress at different speeds in the two arms, so only a prefix
    // of each user's sequence is shared; it must be most of it.
    assert!(
        shared >= bh.len().min(bu.len()) * 3 / 4,
        "{shared} shared of {} / {}",
        bh.len(),
        bu.len()
    );
}

#[test]
fn scale_out_on_one_time_sliced_gpu_adds_no_throughput_but_on_separate_gpus_it_does() {
    // The heart of the research question comes out of the model.
    let throughput = |gpus: u32, replicas: u32, pods: u32| {
        let node = format!(
            "name = \"n\"\ncpu_cores = 64\ngpus = {gpus}\ngpu_profile = \"t4\"\ntime_slicing_replicas = {replicas}"
        );
        let text = single(
            pods,
            pods,
            &node,
            "cpu_request_m = 1000\ncpu_limit_m = 4000\nworkers = 2\nqueue_capacity = 1000\nwait_mode = \"blocking\"",
            "",
            "{ loop = \"closed\", users = 24 }",
            1e6,
        );
        let c = campaign(&text);
        let rec = trial(&c, "hpa", 2, 300.0, ServiceModel::Profile);
        rec.requests
            .iter()
            .filter(|r| r.outcome == Outcome::Ok && r.finished_s <= 300.0)
            .count() as f64
            / 300.0
    };
    let one_pod = throughput(1, 4, 1);
    let four_pods_one_gpu = throughput(1, 4, 4);
    let four_pods_four_gpus = throughput(4, 1, 4);
    assert!(
        four_pods_one_gpu <= one_pod * 1.001,
        "{four_pods_one_gpu} vs {one_pod}"
    );
    assert!(
        four_pods_one_gpu >= one_pod * 0.9,
        "{four_pods_one_gpu} vs {one_pod}"
    );
    assert!(
        four_pods_four_gpus > one_pod * 3.5,
        "{four_pods_four_gpus} vs {one_pod}"
    );
}

#[test]
fn spin_waiting_shows_as_cpu_and_blocking_does_not() {
    let cpu = |mode: &str| {
        let text = single(
            1,
            1,
            H100_NODE,
            &format!("cpu_request_m = 500\ncpu_limit_m = 4000\nworkers = 2\nqueue_capacity = 1000\nwait_mode = \"{mode}\""),
            "",
            "{ loop = \"closed\", users = 4 }",
            1e6,
        );
        let c = campaign(&text);
        let rec = trial(&c, "hpa", 1, 60.0, ServiceModel::Profile);
        mean(rec.samples.iter().map(|s| s.cpu_cores))
    };
    let spin = cpu("spin");
    let blocking = cpu("blocking");
    assert!(
        spin > 1.9 && spin <= 2.0 + 0.1,
        "2 busy workers spinning: {spin} cores"
    );
    assert!(blocking < 0.2, "blocking wait: {blocking} cores");
}

#[test]
fn cpu_limit_throttles_the_pod() {
    let text = single(
        1,
        1,
        H100_NODE,
        "cpu_request_m = 500\ncpu_limit_m = 1000\nworkers = 4\nqueue_capacity = 1000\nwait_mode = \"spin\"",
        "",
        "{ loop = \"closed\", users = 8 }",
        1e6,
    );
    let c = campaign(&text);
    let rec = trial(&c, "hpa", 1, 60.0, ServiceModel::Profile);
    let max = rec.samples.iter().map(|s| s.cpu_cores).fold(0.0, f64::max);
    assert!(max <= 1.0 + 1e-9 && max > 0.99, "limit 1 core, saw {max}");
}

#[test]
fn gpu_memory_exhaustion_fails_requests_with_oom() {
    // 6 contexts of 300 MiB on a 4 GiB GPU leave ~2.3 GiB; 24 requests of
    // n = 2000 (5 × 15.3 MiB... = 76 MiB each) fit, but n = 8000 (1.2 GiB
    // each) do not.
    let text = single(
        6,
        6,
        "name = \"n\"\ncpu_cores = 64\ngpus = 1\ngpu_profile = \"gtx1650-mobile\"\ntime_slicing_replicas = 6",
        "cpu_request_m = 500\ncpu_limit_m = 4000\nworkers = 4\nqueue_capacity = 100\nwait_mode = \"blocking\"",
        "",
        "{ loop = \"closed\", users = 24 }",
        1e6,
    )
    .replace("size = { min = 1000, max = 2000 }", "size = { min = 8000, max = 8000 }")
    .replace("iterations = { min = 20, max = 100 }", "iterations = { min = 1, max = 1 }");
    let c = campaign(&text);
    let rec = trial(&c, "hpa", 1, 60.0, ServiceModel::Profile);
    let oom = rec
        .requests
        .iter()
        .filter(|r| r.outcome == Outcome::Oom)
        .count();
    let ok = rec
        .requests
        .iter()
        .filter(|r| r.outcome == Outcome::Ok)
        .count();
    assert!(oom > 0 && ok > 0, "oom {oom}, ok {ok}");
    let mem_max = rec
        .gpu_samples
        .iter()
        .map(|g| g.mem_used_mib)
        .fold(0.0, f64::max);
    assert!(mem_max <= 4096.0, "{mem_max}");
}

#[test]
fn scale_up_starts_pods_that_become_ready_on_probe_ticks_and_scale_down_drains() {
    let c = default_campaign();
    let rec = cell(&c, "multi-gpu-t4", "cluster-spike", "userscale", 2);
    assert!(rec.scaling_events.iter().any(|e| e.to > e.from));
    for p in rec
        .pods
        .iter()
        .filter(|p| p.created_s >= 0.0 && p.ready_s.is_some())
    {
        let started = p.started_s.unwrap();
        let ready = p.ready_s.unwrap();
        // Probes tick every 10 s from container start (initial delay 0)
        // plus the pod's recorded phase.
        let phase = p.probe_phase_s.unwrap();
        assert!((0.0..10.0).contains(&phase), "{phase}");
        let k = (ready - started - phase) / 10.0;
        assert!(
            (k - k.round()).abs() < 1e-6,
            "pod {} ready at {ready}, started {started}",
            p.pod
        );
        assert!(p.scheduled_s.unwrap() >= p.created_s);
    }
    // Deleted pods exit no later than the grace period.
    for p in rec.pods.iter().filter(|p| p.deleted_s.is_some()) {
        if let Some(exit) = p.exited_s {
            assert!(exit - p.deleted_s.unwrap() <= 30.0 + 1e-6);
        }
    }
}

#[test]
fn hpa_sees_cpu_only_through_metrics_server_scrapes() {
    let mut c = default_campaign();
    // One pinned alignment: the controller at 0, the scrapes at 5 s.
    for s in &mut c.scenarios {
        s.spec.sim.controller_offset_s = Some(0.0);
        s.spec.sim.metric_scrape_offset_s = Some(5.0);
    }
    let rec = cell(&c, "original-gtx1650", "closed-20", "hpa", 1);
    let first = |clock: &str| {
        rec.clocks
            .iter()
            .find(|k| k.clock == clock)
            .and_then(|k| k.first_s)
    };
    assert_eq!(first("controller"), Some(0.0));
    assert_eq!(first("metrics_scrape"), Some(5.0));
    // Ticks every 15 s from t = 0.
    let times: Vec<f64> = rec.decisions.iter().map(|d| d.t_s).collect();
    assert_eq!(
        times,
        (0..6).map(|k| f64::from(k) * 15.0).collect::<Vec<_>>()
    );
    // The first tick sees the idle pre-trial metric and holds.
    assert_eq!(rec.decisions[0].desired, 1);
    // Load arrives at t = 0 and the first scrape at 5 s sees it: scale up at 15 s.
    assert!(rec.decisions[1].desired > 1, "{:?}", rec.decisions[1]);
}

/// Unpinned, every trial draws its clock phases: they differ across seeds,
/// are recorded, and the cluster's (scrapes, probes) are the same in both
/// arms of a seed while each controller has its own; the controller ticks
/// at its recorded phase.
#[test]
fn clock_phases_differ_by_seed_are_recorded_and_shared_where_the_cluster_owns_them() {
    let c = default_campaign();
    let clocks = |rec: &bench::record::TrialRecords, clock: &str| {
        rec.clocks
            .iter()
            .find(|k| k.clock == clock)
            .cloned()
            .unwrap_or_else(|| panic!("no {clock} clock recorded"))
    };
    let mut controller_phases = Vec::new();
    let mut scrape_phases = Vec::new();
    for seed in 1..=4 {
        let hpa = cell(&c, "multi-gpu-t4", "cluster-spike", "hpa", seed);
        let us = cell(&c, "multi-gpu-t4", "cluster-spike", "userscale", seed);
        for rec in [&hpa, &us] {
            let ctl = clocks(rec, "controller");
            let first = ctl.first_s.unwrap();
            assert!((0.0..ctl.period_s).contains(&first), "{ctl:?}");
            assert_eq!(ctl.scope, bench::clocks::Scope::Arm);
            for (k, d) in rec.decisions.iter().enumerate() {
                let want = first + k as f64 * ctl.period_s;
                assert!(
                    (d.t_s - want).abs() < 1e-6,
                    "tick {k} at {}, want {want}",
                    d.t_s
                );
            }
        }
        assert_eq!(
            clocks(&hpa, "metrics_scrape"),
            clocks(&us, "metrics_scrape")
        );
        assert_eq!(
            clocks(&hpa, "metrics_scrape").scope,
            bench::clocks::Scope::Seed
        );
        assert_ne!(clocks(&hpa, "controller"), clocks(&us, "controller"));
        // The k-th pod has the same probe phase in both arms.
        for (a, b) in hpa.pods.iter().zip(&us.pods) {
            assert_eq!(a.probe_phase_s, b.probe_phase_s, "pod {}", a.pod);
        }
        controller_phases.push(clocks(&hpa, "controller").first_s.unwrap());
        scrape_phases.push(clocks(&hpa, "metrics_scrape").first_s.unwrap());
    }
    controller_phases.dedup();
    scrape_phases.dedup();
    assert_eq!(controller_phases.len(), 4, "{controller_phases:?}");
    assert_eq!(scrape_phases.len(), 4, "{scrape_phases:?}");
}
