//! Choosing and opening the compute backend: the GPU when one is usable,
//! the CPU otherwise (or when asked).

use crate::compute::cpu::CpuEngine;
use crate::compute::gpu::{GpuDevice, WaitMode};
use crate::compute::{BackendKind, Engine};
use serde::{Deserialize, Serialize};

/// Which backend to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// The GPU if one is usable, else the CPU (said once in the log).
    #[default]
    Auto,
    /// The GPU or an error.
    Gpu,
    /// The CPU.
    Cpu,
}

impl std::str::FromStr for BackendChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(BackendChoice::Auto),
            "gpu" => Ok(BackendChoice::Gpu),
            "cpu" => Ok(BackendChoice::Cpu),
            other => Err(format!(
                "unknown backend `{other}` (expected auto, gpu or cpu)"
            )),
        }
    }
}

/// Options for opening a backend.
#[derive(Clone, Debug)]
pub struct BackendOptions {
    /// Which backend.
    pub choice: BackendChoice,
    /// Engines to create (one per worker).
    pub workers: usize,
    /// CPU threads per CPU engine.
    pub cpu_threads: usize,
    /// CUDA wait mode.
    pub wait_mode: WaitMode,
    /// CUDA device ordinal.
    pub gpu_ordinal: usize,
}

/// An opened backend: its engines and what to say about it.
pub struct Backend {
    /// GPU or CPU.
    pub kind: BackendKind,
    /// Device name.
    pub device: String,
    /// GPU UUID when on a GPU.
    pub gpu_uuid: Option<String>,
    /// Wait mode (GPU only).
    pub wait_mode: Option<WaitMode>,
    /// Why the GPU is not used, when `choice` was auto and it is not.
    pub fallback_reason: Option<String>,
    /// Seconds spent initialising the device and the engines.
    pub init_s: f64,
    /// One engine per worker.
    pub engines: Vec<Box<dyn Engine>>,
    /// The GPU device, kept open while the engines live.
    pub gpu: Option<GpuDevice>,
}

/// Why no backend could be opened.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// `--backend gpu` and the GPU is not usable.
    #[error("{0}")]
    GpuRequired(String),
    /// The CPU engine could not be built.
    #[error("CPU backend: {0}")]
    Cpu(String),
}

/// Opens the backend `opts` asks for.
pub fn open(opts: &BackendOptions) -> Result<Backend, BackendError> {
    let workers = opts.workers.max(1);
    let mut fallback_reason = None;
    if opts.choice != BackendChoice::Cpu {
        match open_gpu(opts, workers) {
            Ok(b) => return Ok(b),
            Err(e) if opts.choice == BackendChoice::Gpu => {
                return Err(BackendError::GpuRequired(e));
            }
            Err(e) => fallback_reason = Some(e),
        }
    }
    let start = std::time::Instant::now();
    let mut engines: Vec<Box<dyn Engine>> = Vec::with_capacity(workers);
    for _ in 0..workers {
        let e = CpuEngine::new(opts.cpu_threads).map_err(|e| BackendError::Cpu(e.to_string()))?;
        engines.push(Box::new(e));
    }
    Ok(Backend {
        kind: BackendKind::Cpu,
        device: cpu_model(),
        gpu_uuid: None,
        wait_mode: None,
        fallback_reason,
        init_s: start.elapsed().as_secs_f64(),
        engines,
        gpu: None,
    })
}

fn open_gpu(opts: &BackendOptions, workers: usize) -> Result<Backend, String> {
    let start = std::time::Instant::now();
    let dev = GpuDevice::open(opts.gpu_ordinal, opts.wait_mode).map_err(|e| e.to_string())?;
    let mut engines: Vec<Box<dyn Engine>> = Vec::with_capacity(workers);
    for _ in 0..workers {
        engines.push(Box::new(dev.engine().map_err(|e| e.to_string())?));
    }
    Ok(Backend {
        kind: BackendKind::Gpu,
        device: dev.name().to_string(),
        gpu_uuid: Some(dev.uuid().to_string()),
        wait_mode: Some(dev.wait_mode()),
        fallback_reason: None,
        init_s: start.elapsed().as_secs_f64(),
        engines,
        gpu: Some(dev),
    })
}

/// The CPU's model name from /proc/cpuinfo, with the logical CPU count.
pub fn cpu_model() -> String {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "CPU".into());
    format!("{model} ({cpus} logical CPUs)")
}

/// CPU threads per engine when not given: the logical CPUs shared out
/// among the workers, at least one each.
pub fn default_cpu_threads(workers: usize) -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cpus / workers.max(1)).max(1)
}
