//! `workload calibrate` writes a profile the simulator accepts as is, and
//! the measured H200 profile in `data/profiles/` runs in a campaign.
#![allow(clippy::unwrap_used)]

use bench::campaign::Campaign;
use bench::gpu::Provenance;
use std::path::Path;
use workload::backend::BackendChoice;
use workload::calibrate::{calibrate, CalibrateOptions};
use workload::compute::gpu::WaitMode;

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn a_cpu_calibration_parses_as_a_simulator_profile() {
    let opts = CalibrateOptions {
        backend: BackendChoice::Cpu,
        sizes: vec![16, 48],
        reps: 2,
        wait_mode: WaitMode::Auto,
        cpu_threads: 1,
        command: "workload calibrate --backend cpu (test)".into(),
        cpu_power_w: 65.0,
    };
    let mut steps = Vec::new();
    let profile = calibrate(&opts, &mut |m| steps.push(m.to_string())).unwrap();
    assert!(
        steps.iter().any(|s| s.starts_with("n=48: iteration")),
        "{steps:?}"
    );
    let text = workload::calibrate::profile_toml(&profile).unwrap();
    let parsed = bench::gpu::parse_profile(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(parsed.provenance, Provenance::Measured);
    assert_eq!(
        parsed.gemm.iter().map(|p| p.n).collect::<Vec<_>>(),
        [16, 48]
    );
    assert!(parsed
        .gemm
        .iter()
        .all(|p| p.tflops > 0.0 && p.source.starts_with("measured")));
    assert!(parsed.elementwise_gbps.value > 0.0);
    assert!(parsed.notes.contains("(test)"), "the command is recorded");
    // What could not be measured says so.
    assert!(parsed.max_power_w.source.starts_with("not measured"));
    assert!(parsed.container_start.source.starts_with("not measured"));
}

#[test]
fn the_measured_h200_profile_runs_in_the_simulator() {
    let path = repo().join("data/profiles/h200-measured.toml");
    let p = bench::gpu::parse_profile(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(p.provenance, Provenance::Measured);
    assert!(p.model.contains("H200"));

    // The default campaign with the T4 nodes swapped for the measured H200.
    let file = repo().join("data/campaigns/default.toml");
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("gpu_profile = \"t4\"", "gpu_profile = \"h200-measured\"");
    let c = Campaign::parse(&text, &file, file.parent().unwrap()).unwrap();
    let plan = c
        .plan()
        .into_iter()
        .find(|t| t.scenario.spec.name == "multi-gpu-t4")
        .unwrap();
    let scenario = plan.scenario;
    assert_eq!(
        scenario.gpu_profiles["h200-measured"].provenance,
        Provenance::Measured
    );
    let records = bench::runner::simulate(&plan).unwrap();
    assert!(!records.requests.is_empty());
    assert!(records
        .requests
        .iter()
        .any(|r| r.outcome == bench::record::Outcome::Ok));
}
