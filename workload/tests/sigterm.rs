//! The real binary: SIGTERM during a request turns the service not ready,
//! finishes the request, and exits 0. Also: bad flags exit non-zero with a
//! message naming the flag.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::process::{Command, Stdio};

#[test]
fn sigterm_drains_in_flight_work_and_exits_0() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_workload"))
        .args([
            "serve",
            "--backend",
            "cpu",
            "--cpu-threads",
            "1",
            "--bind",
            "127.0.0.1:0",
            // However slow the machine, the drain outlasts the request.
            "--grace-s",
            "600",
            "--deadline-s",
            "600",
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (addr, log) = common::listening(&mut child);
    wait_until(|| get(addr, "/readyz").status == 200, "readiness");

    // A request long enough to still be running when SIGTERM arrives.
    let running =
        std::thread::spawn(move || post(addr, r#"{"size": 160, "iterations": 400, "seed": 3}"#));
    wait_until(
        || get(addr, "/metrics.json").json()["in_flight"] == 1,
        "request running",
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    wait_until(
        || get(addr, "/readyz").status == 503,
        "not ready after SIGTERM",
    );
    let r = running.join().unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.json()["checksum"].as_f64().is_some());
    let status = child.wait().unwrap();
    let log = log.join();
    assert!(status.success(), "exit {status:?}\n{log}");
    assert!(log.contains("SIGTERM, draining"), "{log}");
    assert!(log.contains("drained, exiting"), "{log}");
}

#[test]
fn bad_flags_are_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_workload"))
        .args(["serve", "--backend", "tpu"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--backend") && err.contains("tpu"), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_workload"))
        .args([
            "serve",
            "--backend",
            "cpu",
            "--grace-s",
            "0",
            "--bind",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--grace-s"), "{err}");
}

#[test]
fn gpu_required_without_a_gpu_fails_clearly() {
    // Only meaningful where no CUDA driver is installed (CI, this tier).
    if workload::compute::gpu::missing_library().is_none() {
        eprintln!("a CUDA driver is present; skipping");
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_workload"))
        .args([
            "run",
            "--backend",
            "gpu",
            "--sizes",
            "8",
            "--iterations",
            "1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("GPU unavailable") && err.contains("libcuda"),
        "{err}"
    );
    // Auto falls back to the CPU and says so once.
    let out = Command::new(env!("CARGO_BIN_EXE_workload"))
        .args(["run", "--sizes", "8", "--iterations", "1", "--repeat", "1"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("using the CPU backend").count(), 1, "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("(cpu)"));
}
