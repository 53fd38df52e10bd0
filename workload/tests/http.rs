//! The HTTP service end to end on loopback: every documented error, the
//! full queue, the deadline, device out of memory, readiness and drain on
//! shutdown, and `/metrics` through a real Prometheus parser.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;
use workload::backend::Backend;
use workload::compute::cpu::CpuEngine;
use workload::compute::{BackendKind, ComputeError, Engine, Job, NeverStop};
use workload::server::{serve, DrainReport, ServeConfig, ServeError};

struct Service {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<std::thread::JoinHandle<Result<DrainReport, ServeError>>>,
}

/// The backend the tests serve: `engines` on a CPU "device".
fn test_backend(engines: Vec<Box<dyn Engine>>) -> Backend {
    Backend {
        kind: BackendKind::Cpu,
        device: "test device".into(),
        gpu_uuid: None,
        wait_mode: None,
        fallback_reason: Some("no GPU in tests".into()),
        init_s: 0.0,
        engines,
        gpu: None,
    }
}

impl Service {
    /// Serves on a loopback port with the backend `open` returns; does not
    /// wait for readiness.
    fn spawn<O>(config: ServeConfig, open: O) -> Service
    where
        O: FnOnce() -> Result<Backend, String> + Send + 'static,
    {
        let (addr_tx, addr_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(l.local_addr().unwrap()).unwrap();
                serve(l, config, open, async move {
                    let _ = stop_rx.await;
                })
                .await
            })
        });
        Service {
            addr: addr_rx.recv().unwrap(),
            shutdown: Some(stop_tx),
            handle: Some(handle),
        }
    }

    /// Serves `engines` and waits until the service is ready.
    fn start(config: ServeConfig, engines: Vec<Box<dyn Engine>>) -> Service {
        let s = Service::spawn(config, move || Ok(test_backend(engines)));
        wait_until(|| get(s.addr, "/readyz").status == 200, "readiness");
        s
    }

    fn stop(&mut self) -> DrainReport {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.handle.take().unwrap().join().unwrap().unwrap()
    }
}

fn cpu_service(config: ServeConfig) -> Service {
    let engine: Box<dyn Engine> = Box::new(CpuEngine::new(1).unwrap());
    Service::start(config, vec![engine])
}

fn gated_service(config: ServeConfig, gate: &Gate) -> Service {
    let engine: Box<dyn Engine> = Box::new(GatedEngine {
        gate: gate.clone(),
        result: ok_result,
    });
    Service::start(config, vec![engine])
}

fn assert_error(r: &Resp, status: u16, field: Option<&str>, says: &str) {
    assert_eq!(r.status, status, "{r:?}");
    let j = r.json();
    let msg = j["error"].as_str().unwrap_or_default();
    assert!(msg.contains(says), "error {msg:?} should mention {says:?}");
    assert_eq!(j["field"].as_str(), field, "{j}");
}

#[test]
fn computes_and_reports_probes() {
    // A latency window no slow machine outlasts: both requests stay in it.
    let mut s = cpu_service(ServeConfig {
        latency_window: Duration::from_secs(600),
        ..ServeConfig::default()
    });
    let h = get(s.addr, "/healthz");
    assert_eq!(
        (h.status, h.json()["status"].as_str()),
        (200, Some("alive"))
    );
    let r = get(s.addr, "/readyz").json();
    assert_eq!(r["status"], "ready");
    assert_eq!(r["backend"], "cpu");
    assert_eq!(r["gpu_fallback_reason"], "no GPU in tests");

    let resp = post(s.addr, r#"{"size": 24, "iterations": 3, "seed": 11}"#);
    assert_eq!(resp.status, 200, "{resp:?}");
    let j = resp.json();
    let want = CpuEngine::new(1)
        .unwrap()
        .run(
            &Job {
                size: 24,
                iterations: 3,
                seed: 11,
            },
            &NeverStop,
        )
        .unwrap()
        .checksum;
    assert_eq!(j["checksum"].as_f64(), Some(want));
    assert_eq!(
        (
            j["size"].as_u64(),
            j["iterations"].as_u64(),
            j["seed"].as_u64()
        ),
        (Some(24), Some(3), Some(11))
    );
    assert_eq!(j["backend"], "cpu");
    assert!(j["compute_ms"].as_f64().unwrap() > 0.0);
    assert!(j["queue_ms"].as_f64().unwrap() >= 0.0);
    // Without a seed the service draws one and says which.
    let j = post(s.addr, r#"{"size": 4, "iterations": 1}"#).json();
    assert!(j["seed"].as_u64().is_some());

    let m = get(s.addr, "/metrics.json").json();
    assert_eq!(m["window_requests"], 2);
    assert!(m["avg_latency_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(m["gpu_utilization_source"], "device-busy");
    assert_eq!(m["backend"], "cpu");
    assert_eq!(
        s.stop(),
        DrainReport {
            drained: true,
            abandoned: 0
        }
    );
}

#[test]
fn every_input_error_names_its_field() {
    let config = ServeConfig {
        max_size: 512,
        max_iterations: 50,
        body_limit: 256,
        ..ServeConfig::default()
    };
    let mut s = cpu_service(config);
    let a = s.addr;
    assert_error(
        &post(a, r#"{"size": 0, "iterations": 1}"#),
        422,
        Some("size"),
        "between 1 and 512",
    );
    assert_error(
        &post(a, r#"{"size": 513, "iterations": 1}"#),
        422,
        Some("size"),
        "got 513",
    );
    assert_error(
        &post(a, r#"{"size": 8, "iterations": 51}"#),
        422,
        Some("iterations"),
        "between 1 and 50",
    );
    assert_error(
        &post(a, r#"{"size": 8, "iterations": 0}"#),
        422,
        Some("iterations"),
        "between 1 and 50",
    );
    assert_error(
        &post(a, r#"{"size": 8, "iterations": 1, "batch": 2}"#),
        422,
        Some("batch"),
        "unknown field",
    );
    assert_error(
        &post(a, r#"{"size": 8}"#),
        422,
        Some("iterations"),
        "missing field",
    );
    assert_error(
        &post(a, r#"{"size": "big", "iterations": 1}"#),
        422,
        Some("size"),
        "invalid type",
    );
    assert_error(
        &post(a, r#"{"size": -3, "iterations": 1}"#),
        422,
        Some("size"),
        "invalid value",
    );
    assert_error(
        &post(a, r#"{"size": 8, "iterations": 1, "seed": 1.5}"#),
        422,
        Some("seed"),
        "invalid type",
    );
    assert_error(
        &post(a, r#"{"size": 8, "iterations": "#),
        400,
        None,
        "malformed JSON",
    );
    assert_error(&post(a, "[1, 2]"), 422, None, "expected a JSON object");
    let big = format!(
        r#"{{"size": 8, "iterations": 1, "seed": 1{}}}"#,
        " ".repeat(300)
    );
    assert_error(&post(a, &big), 413, None, "larger than 256 bytes");
    assert_error(&get(a, "/nope"), 404, None, "no such endpoint");
    let m = get(a, "/metrics").body;
    assert!(
        m.contains("workload_requests_total{outcome=\"invalid\"} 12"),
        "{m}"
    );
    assert_eq!(
        s.stop(),
        DrainReport {
            drained: true,
            abandoned: 0
        }
    );
}

#[test]
fn a_full_queue_answers_503_at_once() {
    let gate = Gate::default();
    let config = ServeConfig {
        queue_capacity: 1,
        ..ServeConfig::default()
    };
    let mut s = gated_service(config, &gate);
    let a = s.addr;
    let first = std::thread::spawn(move || post(a, r#"{"size": 1, "iterations": 1}"#));
    wait_until(
        || get(a, "/metrics.json").json()["in_flight"] == 1,
        "first request running",
    );
    let second = std::thread::spawn(move || post(a, r#"{"size": 2, "iterations": 1}"#));
    wait_until(
        || get(a, "/metrics.json").json()["queued"] == 1,
        "second request queued",
    );
    let m = get(a, "/metrics.json").json();
    assert_eq!(m["concurrent_requests"], 2);

    // Answered while the gate is still closed: a request that waited for a
    // worker would get 504 at the deadline, not 503.
    let third = post(a, r#"{"size": 3, "iterations": 1}"#);
    assert_error(&third, 503, None, "queue full");
    assert_eq!(third.header("retry-after"), Some("1"));

    gate.open();
    assert_eq!(first.join().unwrap().json()["checksum"], 1.0);
    assert_eq!(second.join().unwrap().json()["checksum"], 2.0);
    let text = get(a, "/metrics").body;
    assert!(
        text.contains("workload_requests_total{outcome=\"queue_full\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("workload_requests_total{outcome=\"ok\"} 2"),
        "{text}"
    );
    s.stop();
}

#[test]
fn the_deadline_answers_504_and_frees_the_worker() {
    let gate = Gate::default();
    let config = ServeConfig {
        // Long enough for the second request's whole round trip on a busy
        // machine; the first is held by the gate, so its 504 is certain.
        deadline: Duration::from_secs(2),
        ..ServeConfig::default()
    };
    let mut s = gated_service(config, &gate);
    let r = post(s.addr, r#"{"size": 1, "iterations": 1}"#);
    assert_error(&r, 504, None, "deadline of 2000 ms");
    // The stopped job freed the worker.
    wait_until(
        || get(s.addr, "/metrics.json").json()["in_flight"] == 0,
        "worker free",
    );
    gate.open();
    assert_eq!(post(s.addr, r#"{"size": 5, "iterations": 1}"#).status, 200);
    s.stop();
}

#[test]
fn device_out_of_memory_is_a_503_and_the_service_stays_up() {
    let gate = Gate::default();
    gate.open();
    let engine: Box<dyn Engine> = Box::new(GatedEngine {
        gate: gate.clone(),
        result: |job| {
            if job.size > 100 {
                Err(ComputeError::OutOfMemory("CUDA_ERROR_OUT_OF_MEMORY".into()))
            } else {
                ok_result(job)
            }
        },
    });
    let mut s = Service::start(ServeConfig::default(), vec![engine]);
    let r = post(s.addr, r#"{"size": 4096, "iterations": 1}"#);
    assert_error(&r, 503, None, "device out of memory");
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(post(s.addr, r#"{"size": 8, "iterations": 1}"#).status, 200);
    assert_eq!(get(s.addr, "/readyz").status, 200);
    s.stop();
}

#[test]
fn shutdown_turns_not_ready_and_drains_running_work() {
    let gate = Gate::default();
    let mut s = gated_service(ServeConfig::default(), &gate);
    let a = s.addr;
    let running = std::thread::spawn(move || post(a, r#"{"size": 7, "iterations": 1}"#));
    wait_until(
        || get(a, "/metrics.json").json()["in_flight"] == 1,
        "request running",
    );

    let _ = s.shutdown.take().unwrap().send(());
    wait_until(
        || get(a, "/readyz").status == 503,
        "not ready while draining",
    );
    assert_eq!(get(a, "/readyz").json()["status"], "draining");
    assert_error(
        &post(a, r#"{"size": 1, "iterations": 1}"#),
        503,
        None,
        "shutting down",
    );
    assert_eq!(get(a, "/metrics.json").json()["ready"], false);

    gate.open();
    let r = running.join().unwrap();
    assert_eq!((r.status, r.json()["checksum"].as_f64()), (200, Some(7.0)));
    let report = s.handle.take().unwrap().join().unwrap().unwrap();
    assert_eq!(
        report,
        DrainReport {
            drained: true,
            abandoned: 0
        }
    );
    assert!(
        std::net::TcpStream::connect(a).is_err(),
        "listener closed after the drain"
    );
}

#[test]
fn the_grace_period_bounds_the_drain() {
    let gate = Gate::default();
    let config = ServeConfig {
        grace: Duration::from_millis(200),
        ..ServeConfig::default()
    };
    let mut s = gated_service(config, &gate);
    let a = s.addr;
    let _stuck = std::thread::spawn(move || {
        let _ = std::panic::catch_unwind(|| post(a, r#"{"size": 1, "iterations": 1}"#));
    });
    wait_until(
        || get(a, "/metrics.json").json()["in_flight"] == 1,
        "request running",
    );
    let report = s.stop();
    assert_eq!(
        report,
        DrainReport {
            drained: false,
            abandoned: 1
        }
    );
    gate.open();
}

#[test]
fn metrics_pass_promtool() {
    let mut s = cpu_service(ServeConfig::default());
    post(s.addr, r#"{"size": 8, "iterations": 2}"#);
    post(s.addr, r#"{"size": 0, "iterations": 2}"#);
    let r = get(s.addr, "/metrics");
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    s.stop();
    testkit::promtool_check(&r.body);
}

#[test]
fn gpu_metric_families_pass_promtool() {
    use workload::metrics::{Metrics, ServiceInfo};
    use workload::nvml::GpuReading;
    // The text a GPU service renders, with every NVML family present.
    let m = Metrics::new(Duration::from_secs(10));
    let now = std::time::Instant::now();
    m.sample(
        now,
        Some(GpuReading {
            uuid: "GPU-b1eac696-3270-e620-b013-b9d33d1ae348".into(),
            name: "NVIDIA H200".into(),
            utilization_pct: Some(87),
            memory_used_bytes: Some(827_129_856),
            memory_total_bytes: Some(150_754_820_096),
            power_w: Some(378.8),
            energy_j: Some(10_994.1),
        }),
    );
    let info = ServiceInfo {
        backend: "gpu",
        device: "NVIDIA H200".into(),
        gpu_uuid: Some("GPU-b1eac696-3270-e620-b013-b9d33d1ae348".into()),
        wait_mode: "blocking-sync",
        workers: 2,
        queue_capacity: 16,
        gpu_fallback_reason: None,
    };
    let text = m.prometheus(now, &info, true, 2.5);
    for family in [
        "workload_gpu_utilization_ratio{gpu_uuid=\"GPU-b1eac696-3270-e620-b013-b9d33d1ae348\",gpu_name=\"NVIDIA H200\"} 0.87",
        "workload_gpu_memory_used_bytes{",
        "workload_gpu_memory_total_bytes{",
        "workload_gpu_power_watts{",
        "workload_gpu_energy_joules_total{",
        "wait_mode=\"blocking-sync\"",
    ] {
        assert!(text.contains(family), "missing {family}\n{text}");
    }
    let view = m.scaler_view(now, &info, true);
    assert_eq!(
        (view.gpu_utilization, view.gpu_utilization_source),
        (87.0, Some(contract::UtilizationSource::Nvml))
    );
    testkit::promtool_check(&text);
}

#[test]
fn while_the_backend_opens_the_service_is_alive_but_not_ready() {
    let (open_tx, open_rx) = mpsc::channel::<()>();
    let mut s = Service::spawn(ServeConfig::default(), move || {
        // Opening the device takes until the test says so.
        open_rx.recv().map_err(|e| e.to_string())?;
        let engine: Box<dyn Engine> = Box::new(CpuEngine::new(1).unwrap());
        Ok(test_backend(vec![engine]))
    });
    let a = s.addr;
    wait_until(|| std::net::TcpStream::connect(a).is_ok(), "listening");
    assert_eq!(get(a, "/healthz").status, 200);
    let r = get(a, "/readyz");
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (503, Some("initialising"))
    );
    assert_error(
        &post(a, r#"{"size": 4, "iterations": 1}"#),
        503,
        None,
        "initialising",
    );
    let m = get(a, "/metrics").body;
    assert!(m.contains("workload_ready 0"), "{m}");
    assert!(
        m.contains("workload_requests_total{outcome=\"not_ready\"} 1"),
        "{m}"
    );

    open_tx.send(()).unwrap();
    wait_until(
        || get(a, "/readyz").status == 200,
        "ready once the backend is open",
    );
    assert_eq!(post(a, r#"{"size": 4, "iterations": 1}"#).status, 200);
    assert!(s.stop().drained);
}
