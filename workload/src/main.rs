//! `workload`: serve, calibrate, run single jobs and compare the engines.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::time::Duration;
use workload::backend::{self, BackendChoice, BackendOptions};
use workload::calibrate::{calibrate, CalibrateOptions};
use workload::compute::cpu::CpuEngine;
use workload::compute::gpu::{GpuDevice, WaitMode};
use workload::compute::{checksums_agree, Engine, Job, NeverStop};
use workload::server::{serve, ServeConfig};

#[derive(Parser)]
#[command(
    name = "workload",
    version,
    about = "GPU matrix workload service (cuBLAS via cudarc, CPU fallback)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve POST /compute, /healthz, /readyz, /metrics and /metrics.json.
    Serve(ServeArgs),
    /// Measure this machine's device and write a simulator profile (TOML).
    Calibrate(CalibrateArgs),
    /// Run jobs in-process and print one JSON line per job (timings, checksum).
    Run(RunArgs),
    /// Run the same jobs on the GPU and the CPU and check the checksums agree.
    Compare(CompareArgs),
    /// Time n×n SGEMMs and print GFLOP/s per size as JSON lines.
    Gemm(GemmArgs),
}

#[derive(Args, Clone)]
struct DeviceArgs {
    /// auto (GPU if usable, else CPU), gpu, or cpu.
    #[arg(long, env = "WORKLOAD_BACKEND", default_value = "auto")]
    backend: BackendChoice,
    /// How the host waits for the GPU: auto, spin, yield, blocking-sync.
    #[arg(long, env = "WORKLOAD_WAIT_MODE", default_value = "auto")]
    wait_mode: WaitMode,
    /// CPU threads per CPU engine [default: logical CPUs / workers].
    #[arg(long, env = "WORKLOAD_CPU_THREADS")]
    cpu_threads: Option<usize>,
    /// CUDA device ordinal.
    #[arg(long, env = "WORKLOAD_GPU", default_value_t = 0)]
    gpu: usize,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on (the container passes 0.0.0.0:8000).
    #[arg(long, env = "WORKLOAD_BIND", default_value = "127.0.0.1:8000")]
    bind: String,
    #[command(flatten)]
    device: DeviceArgs,
    /// Requests computed at once (worker threads, one engine each).
    #[arg(long, env = "WORKLOAD_WORKERS", default_value_t = 1)]
    workers: usize,
    /// Requests that may wait for a worker; beyond it, 503 at once.
    #[arg(long, env = "WORKLOAD_QUEUE", default_value_t = 16)]
    queue: usize,
    /// Largest accepted matrix size.
    #[arg(long, env = "WORKLOAD_MAX_SIZE", default_value_t = 8192)]
    max_size: u32,
    /// Largest accepted iteration count.
    #[arg(long, env = "WORKLOAD_MAX_ITERATIONS", default_value_t = 1000)]
    max_iterations: u32,
    /// Largest request body, bytes.
    #[arg(long, env = "WORKLOAD_BODY_LIMIT", default_value_t = 4096)]
    body_limit: usize,
    /// Per-request deadline from arrival, seconds (504 after it).
    #[arg(long, env = "WORKLOAD_DEADLINE_S", default_value_t = 120.0)]
    deadline_s: f64,
    /// Shutdown grace period for queued and running work, seconds.
    #[arg(long, env = "WORKLOAD_GRACE_S", default_value_t = 30.0)]
    grace_s: f64,
    /// Window of avg_latency_ms in /metrics.json, seconds.
    #[arg(long, env = "WORKLOAD_LATENCY_WINDOW_S", default_value_t = 10.0)]
    latency_window_s: f64,
    /// A request head must be complete this long after its first byte
    /// (else the connection is closed), and a /compute body this long after
    /// its head (else 408), seconds.
    #[arg(long, env = "WORKLOAD_HEADER_TIMEOUT_S", default_value_t = 10.0)]
    header_timeout_s: f64,
    /// A connection receiving no byte for this long, since it opened or
    /// since its last response, is closed, seconds.
    #[arg(long, env = "WORKLOAD_IDLE_TIMEOUT_S", default_value_t = 20.0)]
    idle_timeout_s: f64,
    /// Most connections open at once; one more is closed on arrival (lowered
    /// to fit the open-file limit, which is raised to its hard limit first).
    #[arg(long, env = "WORKLOAD_MAX_CONNECTIONS", default_value_t = 4096)]
    max_connections: usize,
    /// Working memory the requests' matrices may hold at once, MiB (CPU
    /// backend: 4 n×n float32 matrices per request; GPU backend: none).
    #[arg(long, env = "WORKLOAD_MEMORY_BUDGET_MIB", default_value_t = 3072)]
    memory_budget_mib: u64,
}

#[derive(Args)]
struct CalibrateArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// GEMM sizes to time, increasing [default: 256,512,1000,1500,2000 and 4096 on a GPU].
    #[arg(long, value_delimiter = ',')]
    sizes: Option<Vec<u32>>,
    /// Timed repetitions per measurement (medians are kept).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Where to write the profile; stdout when absent.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Board power to record for the CPU backend, which reads no sensor, W.
    #[arg(long, default_value_t = 65.0)]
    cpu_power_w: f64,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// Matrix sizes.
    #[arg(long, value_delimiter = ',', default_value = "1000")]
    sizes: Vec<u32>,
    /// Iteration counts.
    #[arg(long, value_delimiter = ',', default_value = "20")]
    iterations: Vec<u32>,
    /// Seed of the first job (each repetition adds one).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Jobs per size and iteration count (after one warm-up job).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

#[derive(Args)]
struct CompareArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// Matrix sizes.
    #[arg(long, value_delimiter = ',', default_value = "16,100,256,1000")]
    sizes: Vec<u32>,
    /// Iteration counts.
    #[arg(long, value_delimiter = ',', default_value = "1,20,100")]
    iterations: Vec<u32>,
    /// Seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

#[derive(Args)]
struct GemmArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// Matrix sizes.
    #[arg(long, value_delimiter = ',', default_value = "512,1000,2000")]
    sizes: Vec<u32>,
    /// Timed products per size (median kept).
    #[arg(long, default_value_t = 10)]
    reps: usize,
    /// GPU only: instead, run until END and report the rate inside the
    /// wall-clock window START,END (Unix ms), for concurrent processes.
    #[arg(long, value_delimiter = ',')]
    window_ms: Option<Vec<u64>>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    contract::logging::init("warn,workload=info");
    match cli.command {
        Command::Serve(a) => cmd_serve(a),
        Command::Calibrate(a) => cmd_calibrate(a),
        Command::Run(a) => cmd_run(a),
        Command::Compare(a) => cmd_compare(a),
        Command::Gemm(a) => cmd_gemm(a),
    }
}

fn seconds(name: &str, v: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(v)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("`--{name}` must be a positive number of seconds, got {v}"))
}

fn backend_options(d: &DeviceArgs, workers: usize) -> BackendOptions {
    BackendOptions {
        choice: d.backend,
        workers,
        cpu_threads: d
            .cpu_threads
            .unwrap_or_else(|| backend::default_cpu_threads(workers)),
        wait_mode: d.wait_mode,
        gpu_ordinal: d.gpu,
    }
}

/// File descriptors kept free of connections: the listener, the standard
/// streams, the GPU libraries' and the runtime's own.
const RESERVED_FDS: u64 = 64;

/// Raises the soft open-file limit to the hard one and returns the soft
/// limit then in force (`None` if it cannot be read).
fn raise_open_file_limit() -> Option<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return Some(hard);
    }
    Some(soft)
}

fn cmd_serve(a: ServeArgs) -> Result<()> {
    if a.workers == 0 {
        bail!("`--workers` must be at least 1");
    }
    if a.max_connections == 0 {
        bail!("`--max-connections` must be at least 1");
    }
    if a.memory_budget_mib == 0 {
        bail!("`--memory-budget-mib` must be at least 1");
    }
    let mut max_connections = a.max_connections;
    if let Some(files) = raise_open_file_limit() {
        let room = files.saturating_sub(RESERVED_FDS).max(1);
        if (max_connections as u64) > room {
            tracing::warn!(
                "the open-file limit is {files}: at most {room} connections (not {max_connections}); raise it with `ulimit -n`"
            );
            max_connections = usize::try_from(room).unwrap_or(usize::MAX);
        }
    }
    let config = ServeConfig {
        max_size: a.max_size,
        max_iterations: a.max_iterations,
        body_limit: a.body_limit,
        queue_capacity: a.queue,
        deadline: seconds("deadline-s", a.deadline_s)?,
        grace: seconds("grace-s", a.grace_s)?,
        latency_window: seconds("latency-window-s", a.latency_window_s)?,
        header_timeout: seconds("header-timeout-s", a.header_timeout_s)?,
        idle_timeout: seconds("idle-timeout-s", a.idle_timeout_s)?,
        max_connections,
        memory_budget: a
            .memory_budget_mib
            .checked_mul(1 << 20)
            .context("`--memory-budget-mib` is too large")?,
        ..ServeConfig::default()
    };
    let opts = backend_options(&a.device, a.workers);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&a.bind)
            .await
            .with_context(|| format!("binding {}", a.bind))?;
        let listening = contract::Listening {
            listening: listener.local_addr()?,
        };
        tracing::info!("listening on {}", listening.listening);
        // The one line on stdout: how the local backend finds a replica.
        println!("{}", listening.line());
        let open = move || {
            let b = backend::open(&opts).map_err(|e| e.to_string())?;
            match &b.fallback_reason {
                Some(why) => tracing::warn!("{why}; using the CPU backend ({})", b.device),
                None => tracing::info!(
                    "{} backend on {} ready in {:.3} s (wait mode {})",
                    b.kind.as_str(),
                    b.device,
                    b.init_s,
                    b.wait_mode.map_or("none", |w| w.as_str())
                ),
            }
            Ok(b)
        };
        let report = serve(listener, config, open, shutdown_signal()).await?;
        anyhow::Ok(report)
    })?;
    if report.drained {
        tracing::info!("drained, exiting");
        Ok(())
    } else {
        bail!(
            "grace period ran out with {} request(s) unfinished",
            report.abandoned
        )
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot listen for SIGTERM ({e}); Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM, draining"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted, draining"),
    }
}

fn cmd_calibrate(a: CalibrateArgs) -> Result<()> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let gpu_usable = a.device.backend != BackendChoice::Cpu
        && workload::compute::gpu::missing_library().is_none();
    let sizes = a.sizes.clone().unwrap_or_else(|| {
        let mut s = vec![256, 512, 1000, 1500, 2000];
        if gpu_usable {
            s.push(4096);
        }
        s
    });
    let opts = CalibrateOptions {
        backend: a.device.backend,
        sizes,
        reps: a.reps,
        wait_mode: a.device.wait_mode,
        cpu_threads: a
            .device
            .cpu_threads
            .unwrap_or_else(|| backend::default_cpu_threads(1)),
        command,
        cpu_power_w: a.cpu_power_w,
    };
    let profile = calibrate(&opts, &mut |msg| eprintln!("calibrate: {msg}"))?;
    let text = workload::calibrate::profile_toml(&profile)?;
    match &a.out {
        Some(path) => {
            // Write beside, then rename: no half-written profile.
            let tmp = path.with_extension("toml.partial");
            std::fs::write(&tmp, &text).with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("calibrate: wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

fn one_engine(d: &DeviceArgs) -> Result<(Box<dyn Engine>, String)> {
    let b = backend::open(&backend_options(d, 1))?;
    if let Some(why) = &b.fallback_reason {
        tracing::warn!("{why}; using the CPU backend");
    }
    let device = format!("{} ({})", b.device, b.kind.as_str());
    // The engine holds its own references to the CUDA context and kernels,
    // so the device handle may go.
    let engine = b
        .engines
        .into_iter()
        .next()
        .context("backend opened no engine")?;
    Ok((engine, device))
}

fn cmd_run(a: RunArgs) -> Result<()> {
    let (mut engine, device) = one_engine(&a.device)?;
    let wait_mode = if device.ends_with("(gpu)") {
        a.device.wait_mode.as_str()
    } else {
        "none"
    };
    let out = std::io::stdout();
    let mut out = out.lock();
    for &size in &a.sizes {
        for &iterations in &a.iterations {
            let mut job = Job {
                size,
                iterations,
                seed: a.seed,
            };
            engine.run(&job, &NeverStop)?; // warm-up (allocation, first launch)
            for r in 0..a.repeat.max(1) {
                job.seed = a.seed + r as u64;
                let cpu0 = workload::server::process_cpu_seconds();
                let o = engine.run(&job, &NeverStop)?;
                let cpu_ms = (workload::server::process_cpu_seconds() - cpu0) * 1e3;
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({
                        "device": device, "size": size, "iterations": iterations,
                        "wait_mode": wait_mode, "seed": job.seed, "checksum": o.checksum,
                        "compute_ms": o.compute_s * 1e3,
                        "process_cpu_ms": cpu_ms,
                        "gflops": job.flops() / o.compute_s / 1e9,
                    })
                )?;
            }
        }
    }
    Ok(())
}

fn cmd_compare(a: CompareArgs) -> Result<()> {
    let dev = GpuDevice::open(a.device.gpu, a.device.wait_mode)?;
    let mut gpu = dev.engine()?;
    let mut cpu = CpuEngine::new(
        a.device
            .cpu_threads
            .unwrap_or_else(|| backend::default_cpu_threads(1)),
    )?;
    let mut failures = 0;
    for &size in &a.sizes {
        for &iterations in &a.iterations {
            let job = Job {
                size,
                iterations,
                seed: a.seed,
            };
            let g = gpu.run(&job, &NeverStop)?.checksum;
            let c = cpu.run(&job, &NeverStop)?.checksum;
            let agree = checksums_agree(size, g, c);
            failures += usize::from(!agree);
            println!(
                "{}",
                serde_json::json!({
                    "device": dev.name(), "size": size, "iterations": iterations,
                    "gpu_checksum": g, "cpu_checksum": c,
                    "abs_diff": (g - c).abs(),
                    "per_entry_diff": (g - c).abs() / f64::from(size).powi(2),
                    "agree": agree,
                })
            );
        }
    }
    if failures > 0 {
        bail!("{failures} job(s) disagree beyond the documented tolerance");
    }
    Ok(())
}

fn cmd_gemm(a: GemmArgs) -> Result<()> {
    let b = backend::open(&backend_options(&a.device, 1))?;
    let device = b.device.clone();
    match b.gpu {
        Some(dev) => {
            let mut e = dev.engine()?;
            if let Some(w) = &a.window_ms {
                if w.len() != 2 || w[0] >= w[1] {
                    bail!("`--window-ms` takes START,END in Unix milliseconds with START < END");
                }
                let at = |ms: u64| std::time::UNIX_EPOCH + Duration::from_millis(ms);
                for &n in &a.sizes {
                    let rate = e.gemm_window(n, at(w[0]), at(w[1]))?;
                    println!(
                        "{}",
                        serde_json::json!({"engine": "cublas", "device": device, "n": n, "gflops": rate / 1e9, "window_ms": w})
                    );
                }
                return Ok(());
            }
            for &n in &a.sizes {
                let rate = e.gemm_rate_batched(n, 20, a.reps)?;
                println!(
                    "{}",
                    serde_json::json!({"engine": "cublas", "device": device, "n": n, "gflops": rate / 1e9})
                );
            }
        }
        None => {
            let mut e = CpuEngine::new(
                a.device
                    .cpu_threads
                    .unwrap_or_else(|| backend::default_cpu_threads(1)),
            )?;
            for &n in &a.sizes {
                let rate = e.gemm_rate(n, a.reps)?;
                println!(
                    "{}",
                    serde_json::json!({"engine": "faer", "device": device, "threads": e.threads(), "n": n, "gflops": rate / 1e9})
                );
            }
        }
    }
    Ok(())
}
