//! `workload calibrate`: measures this machine's device and writes a
//! profile in the simulator's format (`data/profiles/*.toml`,
//! `provenance = "measured"`), each number with how it was measured.

use crate::backend::{cpu_model, BackendChoice};
use crate::compute::cpu::median;
use crate::compute::cpu::CpuEngine;
use crate::compute::gpu::{GpuDevice, GpuEngine, WaitMode};
use crate::compute::{ComputeError, Engine, Job, NeverStop};
use crate::nvml::GpuMonitor;
use std::time::{Duration, Instant};

/// What to measure and how.
#[derive(Clone, Debug)]
pub struct CalibrateOptions {
    /// Which device: auto (GPU if usable), gpu or cpu.
    pub backend: BackendChoice,
    /// GEMM sizes to time, increasing.
    pub sizes: Vec<u32>,
    /// Timed repetitions per measurement (the median is kept).
    pub reps: usize,
    /// CUDA wait mode for the measurement context.
    pub wait_mode: WaitMode,
    /// CPU threads for the CPU engine.
    pub cpu_threads: usize,
    /// The command line, recorded in the profile's notes.
    pub command: String,
    /// Board power to record for the CPU backend, which has no sensor.
    pub cpu_power_w: f64,
}

pub use contract::gpu::{GemmPoint, GpuProfile, Provenance, Sourced, SourcedRange};

/// A measured profile as TOML, with a comment header.
pub fn profile_toml(profile: &GpuProfile) -> Result<String, CalibrateError> {
    let body = toml::to_string(profile).map_err(|e| CalibrateError::Write(e.to_string()))?;
    Ok(format!(
        "# Written by `workload calibrate`: MEASURED on the device named below.\n\
         # Fields the calibration cannot measure say so in their `source`.\n{body}"
    ))
}

/// Why calibration failed.
#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    /// The GPU was asked for and is not usable.
    #[error("{0}")]
    Gpu(String),
    /// A measurement failed.
    #[error("measurement failed: {0}")]
    Measure(#[from] ComputeError),
    /// Bad options.
    #[error("{0}")]
    Options(String),
    /// Serialising the profile failed.
    #[error("writing the profile: {0}")]
    Write(String),
}

/// Bytes per element the simulator's work model charges for one
/// iteration's element-wise work: 8 passes of 12 bytes (two float32 reads,
/// one write). The calibration times the real element-wise work of an
/// iteration and reports the bandwidth that would make the model match it,
/// so transcendental functions and fusion are accounted for.
const EW_MODEL_BYTES: f64 = 8.0 * 12.0;
const EW_SOURCE: &str = "measured, effective: the bandwidth at which the simulator's 8 passes x 12 bytes per element take as long as this engine's real element-wise work";

const NOT_MEASURED_CONTAINER: &str = "not measured by calibrate (needs a cluster): Kubernetes pod start ~2 s (knative issue 2484) plus 0-3 s NVIDIA container hook (gvisor PR 9215)";
const NOT_MEASURED_SWITCH: &str = "not measured by calibrate: assumed small loss per extra context; two time-sliced GEMM pods on one T4 each got about half the peak (NVIDIA blog 2022)";

fn check(opts: &CalibrateOptions) -> Result<(), CalibrateError> {
    if opts.sizes.is_empty() {
        return Err(CalibrateError::Options(
            "`--sizes`: give at least one size".into(),
        ));
    }
    if opts.sizes.windows(2).any(|w| w[1] <= w[0]) || opts.sizes[0] == 0 {
        return Err(CalibrateError::Options(
            "`--sizes`: sizes must be positive and increasing".into(),
        ));
    }
    if opts.reps == 0 {
        return Err(CalibrateError::Options(
            "`--reps`: must be at least 1".into(),
        ));
    }
    Ok(())
}

/// Runs the calibration, reporting each step on `progress`.
pub fn calibrate(
    opts: &CalibrateOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<GpuProfile, CalibrateError> {
    check(opts)?;
    if opts.backend != BackendChoice::Cpu {
        // NVML before the context exists, for the per-context memory.
        let monitor = GpuMonitor::open(None).ok();
        let before = monitor.as_ref().and_then(GpuMonitor::read);
        match GpuDevice::open(0, opts.wait_mode) {
            Ok(dev) => return calibrate_gpu(opts, &dev, monitor, before, progress),
            Err(e) if opts.backend == BackendChoice::Gpu => {
                return Err(CalibrateError::Gpu(e.to_string()))
            }
            Err(e) => progress(&format!("{e}; calibrating the CPU instead")),
        }
    }
    calibrate_cpu(opts, progress)
}

fn calibrate_gpu(
    opts: &CalibrateOptions,
    dev: &GpuDevice,
    monitor: Option<GpuMonitor>,
    before: Option<crate::nvml::GpuReading>,
    progress: &mut dyn FnMut(&str),
) -> Result<GpuProfile, CalibrateError> {
    let mut eng: GpuEngine = dev
        .engine()
        .map_err(|e| CalibrateError::Gpu(e.to_string()))?;
    let (cc_major, cc_minor) = dev.compute_capability();
    let driver = monitor
        .as_ref()
        .map_or("unknown (NVML unavailable)".to_string(), |m| {
            m.driver_version().to_string()
        });
    // Per-context memory: NVML's used memory after the context, kernels and
    // one cuBLAS handle exist, minus before (device-wide: other processes'
    // changes would show too).
    let after = monitor.as_ref().and_then(GpuMonitor::read);
    let context = match (
        before.and_then(|r| r.memory_used_bytes),
        after.as_ref().and_then(|r| r.memory_used_bytes),
    ) {
        (Some(b), Some(a)) if a >= b => Sourced {
            value: round((a - b) as f64 / 1048576.0, 1),
            source: "measured: NVML memory used after opening the context, loading the kernels and creating a cuBLAS handle, minus before".into(),
        },
        _ => Sourced {
            value: 300.0,
            source: "not measured (NVML memory reading unavailable): assumed ~300 MB context (pytorch issue 107667)".into(),
        },
    };
    // Idle power: the lowest of 2 s of readings once the device is idle
    // (power is averaged over about a second on recent GPUs, so a reading
    // right after earlier work is still high).
    let idle_power = monitor.as_ref().and_then(|m| {
        let until = Instant::now() + Duration::from_secs(2);
        let mut lowest: Option<f64> = None;
        while Instant::now() < until {
            if let Some(w) = m.read().and_then(|r| r.power_w) {
                lowest = Some(lowest.map_or(w, |l| l.min(w)));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        lowest
    });

    let mut gemm = Vec::new();
    for &n in &opts.sizes {
        // Enough back-to-back products for ~50 ms of device time.
        let single = eng.gemm_rate(n, 2)?;
        let batch = ((0.05 * single) / (2.0 * f64::from(n).powi(3)))
            .ceil()
            .clamp(1.0, 2000.0) as usize;
        let isolated = eng.gemm_rate_batched(n, batch, opts.reps)?;
        let t_ew = eng.elementwise_iteration_time(n, opts.reps)?;
        let t_iter = iteration_time(&mut eng, n, opts.reps)?;
        let (rate, source) = effective_gemm(
            n,
            t_iter,
            t_ew,
            isolated,
            "cuBLAS SGEMM (default math mode, no TF32)",
        );
        progress(&format!(
            "n={n}: iteration {:.1} µs, element-wise {:.1} µs, SGEMM {:.2} TFLOP/s in requests ({:.2} isolated)",
            t_iter * 1e6,
            t_ew * 1e6,
            rate / 1e12,
            isolated / 1e12
        ));
        gemm.push(GemmPoint {
            n,
            tflops: round(rate / 1e12, 3),
            source,
        });
    }
    let ew_n = opts.sizes[opts.sizes.len() / 2];
    let ew_t = eng.elementwise_iteration_time(ew_n, opts.reps)?;
    let ew = EW_MODEL_BYTES * f64::from(ew_n).powi(2) / ew_t;
    progress(&format!(
        "element-wise: one iteration's 4 fused kernels at n={ew_n}: {:.1} µs, {:.0} GB/s effective",
        ew_t * 1e6,
        ew / 1e9
    ));
    let launch = eng.launch_overhead(2000)?;
    progress(&format!(
        "launch overhead: {:.2} µs",
        launch.as_secs_f64() * 1e6
    ));

    // Power under load: sustained GEMMs for ~1.5 s, then read NVML.
    let mut max_power = None;
    if let Some(m) = monitor.as_ref() {
        let n = *opts.sizes.last().unwrap_or(&2048);
        let until = Instant::now() + Duration::from_millis(1500);
        while Instant::now() < until {
            eng.gemm_rate_batched(n, 10, 1)?;
        }
        max_power = m.read().and_then(|r| r.power_w);
    }
    let limit = monitor.as_ref().and_then(GpuMonitor::power_limit_w);
    let (free, total) = dev.memory()?;
    let _ = free;
    let (idle_power_w, max_power_w) = power_fields(idle_power, max_power, limit);
    let model = dev.name().to_string();
    Ok(GpuProfile {
        model: model.clone(),
        provenance: Provenance::Measured,
        notes: format!(
            "{model} (compute capability {cc_major}.{cc_minor}, {}), driver {driver}, wait mode {}; measured {} with `{}`",
            dev.uuid(),
            dev.wait_mode().as_str(),
            today(),
            opts.command
        ),
        gemm,
        elementwise_gbps: Sourced {
            value: round(ew / 1e9, 1),
            source: format!("{EW_SOURCE}: the 4 fused kernels of one iteration at n={ew_n} took {:.1} µs (median of {} batches of 20 iterations)", ew_t * 1e6, opts.reps),
        },
        launch_overhead_us: Sourced {
            value: round(launch.as_secs_f64() * 1e6, 3),
            source: "measured: mean wall time per launch of an empty kernel, 2000 launches, then one synchronise".into(),
        },
        memory_mib: Sourced {
            value: round(total as f64 / 1048576.0, 0),
            source: "measured: cuMemGetInfo total".into(),
        },
        context_mib: context,
        context_switch_overhead: switch_overhead(progress),
        idle_power_w,
        max_power_w,
        container_start: SourcedRange {
            min_s: 2.0,
            max_s: 5.0,
            source: NOT_MEASURED_CONTAINER.into(),
        },
        cuda_init: SourcedRange {
            min_s: round(dev.init_seconds(), 3),
            max_s: round(dev.init_seconds(), 3),
            source: "measured once: CUDA context, NVRTC compile of the kernels, module load and a cuBLAS handle".into(),
        },
    })
}

/// The time-slicing probe: SGEMM n=2000 throughput of one process alone,
/// then of two processes sharing the GPU over the same wall-clock window.
/// With c contexts the simulator gives the device 1/(1 + eps(c-1)) of its
/// throughput, so eps = alone / (sum of the two) - 1.
fn switch_overhead(progress: &mut dyn FnMut(&str)) -> Sourced {
    let probe = |procs: usize| -> Result<f64, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_millis() as u64;
        // Start after every child has opened its context; measure 2 s.
        let window = format!("{},{}", now + 2500, now + 4500);
        let children: Vec<_> = (0..procs)
            .map(|_| {
                std::process::Command::new(&exe)
                    .args([
                        "gemm",
                        "--backend",
                        "gpu",
                        "--sizes",
                        "2000",
                        "--window-ms",
                        &window,
                    ])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::null())
                    .spawn()
            })
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        let mut total = 0.0;
        for c in children {
            let out = c.wait_with_output().map_err(|e| e.to_string())?;
            let v: serde_json::Value =
                serde_json::from_slice(&out.stdout).map_err(|e| format!("probe output: {e}"))?;
            total += v["gflops"].as_f64().ok_or("probe output lacks gflops")?;
        }
        Ok(total)
    };
    match probe(1).and_then(|one| Ok((one, probe(2)?))) {
        Ok((one, two)) if one > 0.0 && two > 0.0 => {
            let eps = (one / two - 1.0).max(0.0);
            progress(&format!(
                "time-slicing: one process {:.1} TFLOP/s, two together {:.1} TFLOP/s, eps {eps:.3}",
                one / 1e3,
                two / 1e3
            ));
            Sourced {
                value: round(eps, 4),
                source: format!(
                    "measured: SGEMM n=2000 by one process alone ({:.1} TFLOP/s) and by two processes time-sharing the GPU over the same 2 s window ({:.1} TFLOP/s together); eps = alone/together - 1, floored at 0",
                    one / 1e3,
                    two / 1e3
                ),
            }
        }
        Ok((one, two)) => {
            progress(&format!(
                "time-slicing probe measured nothing ({one} and {two} GFLOP/s); eps not measured"
            ));
            Sourced {
                value: 0.02,
                source: format!("{NOT_MEASURED_SWITCH} (the two-process probe measured nothing)"),
            }
        }
        Err(e) => {
            progress(&format!("time-slicing probe failed: {e}; eps not measured"));
            Sourced {
                value: 0.02,
                source: format!("{NOT_MEASURED_SWITCH} (the two-process probe failed: {e})"),
            }
        }
    }
}

/// Seconds per iteration of the real computation at size `n`: the
/// difference between jobs of 1 and 1 + k iterations divided by k (k chosen
/// for about 0.1 s), medians of `reps`; job set-up (inputs, checksum) and
/// per-request overhead cancel out.
fn iteration_time(eng: &mut dyn Engine, n: u32, reps: usize) -> Result<f64, ComputeError> {
    let job = |iterations: u32| Job {
        size: n,
        iterations,
        seed: 7,
    };
    eng.run(&job(1), &NeverStop)?;
    let one = eng.run(&job(1), &NeverStop)?.compute_s;
    let three = eng.run(&job(3), &NeverStop)?.compute_s;
    let per = ((three - one) / 2.0).max(1e-7);
    let k = ((0.1 / per).ceil() as u32).clamp(2, 500);
    let (mut short, mut long) = (Vec::new(), Vec::new());
    for _ in 0..reps.max(1) {
        short.push(eng.run(&job(1), &NeverStop)?.compute_s);
        long.push(eng.run(&job(1 + k), &NeverStop)?.compute_s);
    }
    Ok(((median(&mut long) - median(&mut short)) / f64::from(k)).max(1e-9))
}

/// The SGEMM rate that makes the simulator's iteration (4 GEMMs plus the
/// measured element-wise time) as long as the measured one, with its source.
fn effective_gemm(n: u32, t_iter: f64, t_ew: f64, isolated: f64, engine: &str) -> (f64, String) {
    let flop = 4.0 * 2.0 * f64::from(n).powi(3);
    // Never let the GEMM share fall below a tenth of the iteration.
    let t_gemm = (t_iter - t_ew).max(0.1 * t_iter);
    let rate = flop / t_gemm;
    (
        rate,
        format!(
            "measured, effective in requests: {engine}; one iteration took {:.1} µs (jobs of 1 and 1+k iterations), its element-wise work {:.1} µs, leaving {:.1} µs for 4 SGEMMs; isolated back-to-back SGEMM ran at {:.3} TFLOP/s",
            t_iter * 1e6,
            t_ew * 1e6,
            t_gemm * 1e6,
            isolated / 1e12
        ),
    )
}

fn power_fields(idle: Option<f64>, max: Option<f64>, limit: Option<f64>) -> (Sourced, Sourced) {
    let idle = match idle {
        Some(w) => Sourced {
            value: round(w, 1),
            source:
                "measured: lowest NVML power over 2 s with the device idle, before the benchmark"
                    .into(),
        },
        None => Sourced {
            value: 0.0,
            source: "not measured: NVML power reading unsupported on this device".into(),
        },
    };
    let max = match (max, limit) {
        (Some(w), Some(l)) if l >= w => Sourced {
            value: round(l, 1),
            source: format!(
                "measured: NVML enforced power limit; {:.0} W read after 1.5 s of sustained SGEMM",
                w
            ),
        },
        (Some(w), _) => Sourced {
            value: round(w, 1),
            source: "measured: NVML power after 1.5 s of sustained SGEMM".into(),
        },
        (None, Some(l)) => Sourced {
            value: round(l, 1),
            source: "measured: NVML enforced power limit".into(),
        },
        (None, None) => Sourced {
            value: 1.0,
            source: "not measured: no NVML power readings on this device; 1 W recorded so the profile parses — do not use for energy".into(),
        },
    };
    let idle = if idle.value > max.value {
        Sourced {
            value: max.value,
            source: format!("{} (capped at max_power_w)", idle.source),
        }
    } else {
        idle
    };
    (idle, max)
}

fn calibrate_cpu(
    opts: &CalibrateOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<GpuProfile, CalibrateError> {
    let start = Instant::now();
    let mut eng = CpuEngine::new(opts.cpu_threads)?;
    let init = start.elapsed().as_secs_f64();
    let threads = eng.threads();
    let mut gemm = Vec::new();
    for &n in &opts.sizes {
        let isolated = eng.gemm_rate(n, opts.reps)?;
        let t_ew = eng.elementwise_iteration_time(n, opts.reps)?;
        let t_iter = iteration_time(&mut eng, n, opts.reps)?;
        let engine = format!("faer SGEMM on {threads} threads");
        let (rate, source) = effective_gemm(n, t_iter, t_ew, isolated, &engine);
        progress(&format!(
            "n={n}: iteration {:.1} µs, element-wise {:.1} µs, SGEMM {:.1} GFLOP/s in requests ({:.1} isolated)",
            t_iter * 1e6,
            t_ew * 1e6,
            rate / 1e9,
            isolated / 1e9
        ));
        gemm.push(GemmPoint {
            n,
            tflops: round(rate / 1e12, 5),
            source,
        });
    }
    let ew_n = opts.sizes[opts.sizes.len() / 2];
    let ew_t = eng.elementwise_iteration_time(ew_n, opts.reps)?;
    let ew = EW_MODEL_BYTES * f64::from(ew_n).powi(2) / ew_t;
    progress(&format!(
        "element-wise: one iteration's 4 passes at n={ew_n}: {:.1} µs, {:.2} GB/s effective",
        ew_t * 1e6,
        ew / 1e9
    ));
    // The fixed cost of one element-wise pass: a 1x1 pass through the pool.
    let tiny = eng.elementwise_rate(1, opts.reps.max(50))?;
    let per_pass_s = 12.0 / tiny;
    progress(&format!("per-pass overhead: {:.2} µs", per_pass_s * 1e6));
    let mem_total = meminfo_mib("MemTotal:").unwrap_or(0.0);
    let rss = status_mib("VmRSS:").unwrap_or(0.0);
    let model = cpu_model();
    Ok(GpuProfile {
        model: model.clone(),
        provenance: Provenance::Measured,
        notes: format!(
            "CPU backend: {model}, faer on {threads} threads; measured {} with `{}`. Power has no sensor here: see max_power_w",
            today(),
            opts.command
        ),
        gemm,
        elementwise_gbps: Sourced {
            value: round(ew / 1e9, 3),
            source: format!("{EW_SOURCE}: the 4 passes of one iteration at n={ew_n} took {:.1} µs on {threads} threads (median of {})", ew_t * 1e6, opts.reps),
        },
        launch_overhead_us: Sourced {
            value: round(per_pass_s * 1e6, 3),
            source: "measured: time of one element-wise pass over a single element (thread-pool dispatch), the CPU's per-operation fixed cost".into(),
        },
        memory_mib: Sourced {
            value: round(mem_total, 0),
            source: "measured: MemTotal from /proc/meminfo".into(),
        },
        context_mib: Sourced {
            value: round(rss.min(mem_total * 0.5), 1),
            source: "measured: resident memory (VmRSS) of the calibrating process after the measurements".into(),
        },
        context_switch_overhead: Sourced {
            value: 0.02,
            source: NOT_MEASURED_SWITCH.into(),
        },
        idle_power_w: Sourced {
            value: 0.0,
            source: "not measured: the CPU backend reads no power sensor".into(),
        },
        max_power_w: Sourced {
            value: round(opts.cpu_power_w, 1),
            source: "not measured: value of --cpu-power-w (the CPU backend reads no power sensor)".into(),
        },
        container_start: SourcedRange {
            min_s: 2.0,
            max_s: 5.0,
            source: NOT_MEASURED_CONTAINER.into(),
        },
        cuda_init: SourcedRange {
            min_s: round(init, 4),
            max_s: round(init, 4),
            source: "measured once: creating the CPU engine's thread pool (no CUDA on this backend)".into(),
        },
    })
}

fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

fn proc_field_mib(path: &str, key: &str) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kib: f64 = line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

fn meminfo_mib(key: &str) -> Option<f64> {
    proc_field_mib("/proc/meminfo", key)
}

fn status_mib(key: &str) -> Option<f64> {
    proc_field_mib("/proc/self/status", key)
}

/// Today's date (UTC) as YYYY-MM-DD.
pub fn today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_420), (2025, 11, 28));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn rejects_bad_sizes() {
        let mut o = CalibrateOptions {
            backend: BackendChoice::Cpu,
            sizes: vec![512, 256],
            reps: 1,
            wait_mode: WaitMode::Auto,
            cpu_threads: 1,
            command: String::new(),
            cpu_power_w: 65.0,
        };
        assert!(
            matches!(calibrate(&o, &mut |_| {}), Err(CalibrateError::Options(m)) if m.contains("--sizes"))
        );
        o.sizes.clear();
        assert!(calibrate(&o, &mut |_| {}).is_err());
    }
}
