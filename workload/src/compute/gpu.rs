//! The GPU engine: cuBLAS SGEMM and NVRTC-compiled element-wise kernels
//! through cudarc, loaded at run time.
//!
//! cudarc panics, rather than returning an error, when a CUDA library is
//! missing, so [`GpuDevice::open`] first checks that the driver, cuBLAS and
//! NVRTC libraries can be loaded and only then calls into them (under
//! `catch_unwind` as a second guard). Every failure becomes a
//! [`GpuUnavailable`] with the reason, and the caller falls back to the CPU.
//!
//! Each element-wise pair after a GEMM is one fused kernel (4 kernels per
//! iteration for 8 operations); the GEMMs separate them, so no further
//! fusion is possible without changing the computation. The inputs are
//! generated on the device by the same hash as the CPU engine's, and the
//! checksum is reduced on the device in float64: per request only a few KiB
//! cross the bus. Buffers are kept per worker and reused while the size
//! stays the same.
//!
//! Launches are asynchronous, so a job's iterations would all be queued on
//! the stream at once and a stop could not reach them. Instead, before it
//! launches iteration i the host waits for iteration i − 2 to finish (an
//! event per slot of two) and checks the stop condition: the device always
//! has the next iteration queued, and a stopped job leaves at most two
//! iterations running.
#![allow(unsafe_code)]

use super::{BackendKind, ComputeError, Engine, Job, Output, StopCheck};
use cudarc::cublas::{sys as blas_sys, CudaBlas, Gemm, GemmConfig};
use cudarc::driver::{
    sys as drv, CudaContext, CudaEvent, CudaFunction, CudaSlice, CudaStream, DriverError,
    LaunchConfig, PushKernelArg,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the host thread waits for the GPU (the CUDA context's scheduling
/// flag). Recorded in `/metrics` because it decides how much CPU a waiting
/// request burns, and so what a CPU-based autoscaler sees.
pub use contract::WaitMode;

/// The context flag of a wait mode.
fn sched_flag(mode: WaitMode) -> drv::CUctx_flags {
    match mode {
        WaitMode::Auto => drv::CUctx_flags::CU_CTX_SCHED_AUTO,
        WaitMode::Spin => drv::CUctx_flags::CU_CTX_SCHED_SPIN,
        WaitMode::Yield => drv::CUctx_flags::CU_CTX_SCHED_YIELD,
        WaitMode::BlockingSync => drv::CUctx_flags::CU_CTX_SCHED_BLOCKING_SYNC,
    }
}

/// Why the GPU engine cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("GPU unavailable: {0}")]
pub struct GpuUnavailable(pub String);

const KERNELS: &str = r#"
typedef unsigned long long u64;

__device__ __forceinline__ float init_value(u64 seed, u64 matrix, u64 index) {
    u64 z = seed + matrix * 0xD1B54A32D192ED03ULL + index * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 8388608.0f) - 1.0f;
}

#define GRID_STRIDE(i, len) \
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < (len); \
         i += (u64)gridDim.x * blockDim.x)

extern "C" __global__ void init_inputs(float* x, float* w, u64 seed, u64 len) {
    GRID_STRIDE(i, len) {
        x[i] = init_value(seed, 0ULL, i);
        w[i] = init_value(seed, 1ULL, i);
    }
}

// Step 1: a = tanh(s * a).
extern "C" __global__ void scale_tanh_inplace(float* a, float s, u64 len) {
    GRID_STRIDE(i, len) { a[i] = tanhf(s * a[i]); }
}

// Step 4: x = tanh(s * d).
extern "C" __global__ void scale_tanh(float* out, const float* in, float s, u64 len) {
    GRID_STRIDE(i, len) { out[i] = tanhf(s * in[i]); }
}

// Step 2: b = s * b + a.
extern "C" __global__ void scale_add(float* b, const float* a, float s, u64 len) {
    GRID_STRIDE(i, len) { b[i] = s * b[i] + a[i]; }
}

// Step 3: c = sigmoid(s * c).
extern "C" __global__ void scale_sigmoid(float* c, float s, u64 len) {
    GRID_STRIDE(i, len) { c[i] = 1.0f / (1.0f + expf(-s * c[i])); }
}

// One float64 partial sum per block (blockDim.x == 256).
extern "C" __global__ void partial_sums(const float* x, double* partial, u64 len) {
    __shared__ double acc[256];
    double sum = 0.0;
    GRID_STRIDE(i, len) { sum += (double)x[i]; }
    acc[threadIdx.x] = sum;
    __syncthreads();
    for (unsigned int half = blockDim.x / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) acc[threadIdx.x] += acc[threadIdx.x + half];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = acc[0];
}

// A kernel that does nothing, to time launch overhead.
extern "C" __global__ void empty() {}
"#;

const THREADS: u32 = 256;
const REDUCE_BLOCKS: u32 = 1024;

/// The opened device, shared by the workers.
pub struct GpuDevice {
    ctx: Arc<CudaContext>,
    functions: Functions,
    name: String,
    uuid: String,
    compute_capability: (i32, i32),
    sm_count: u32,
    wait_mode: WaitMode,
    init_s: f64,
}

#[derive(Clone)]
struct Functions {
    init_inputs: CudaFunction,
    scale_tanh_inplace: CudaFunction,
    scale_tanh: CudaFunction,
    scale_add: CudaFunction,
    scale_sigmoid: CudaFunction,
    partial_sums: CudaFunction,
    empty: CudaFunction,
}

fn driver(what: &str) -> impl Fn(DriverError) -> GpuUnavailable + '_ {
    move |e| GpuUnavailable(format!("{what}: {e:?}"))
}

/// Whether the driver, cuBLAS and NVRTC libraries can be loaded; the name
/// of the first missing one otherwise.
pub fn missing_library() -> Option<&'static str> {
    // SAFETY: these only try to dlopen the library under its candidate
    // names; nothing is called in it.
    unsafe {
        if !cudarc::driver::sys::is_culib_present() {
            return Some("libcuda (the NVIDIA driver)");
        }
        if !cudarc::cublas::sys::is_culib_present() {
            return Some("libcublas");
        }
        if !cudarc::nvrtc::sys::is_culib_present() {
            return Some("libnvrtc");
        }
    }
    None
}

impl GpuDevice {
    /// Opens GPU `ordinal` with `wait_mode`, compiles the kernels for it and
    /// checks that cuBLAS initialises.
    pub fn open(ordinal: usize, wait_mode: WaitMode) -> Result<GpuDevice, GpuUnavailable> {
        if let Some(lib) = missing_library() {
            return Err(GpuUnavailable(format!("{lib} could not be loaded")));
        }
        match std::panic::catch_unwind(|| GpuDevice::open_unguarded(ordinal, wait_mode)) {
            Ok(r) => r,
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".into());
                Err(GpuUnavailable(format!(
                    "CUDA initialisation panicked: {msg}"
                )))
            }
        }
    }

    fn open_unguarded(ordinal: usize, wait_mode: WaitMode) -> Result<GpuDevice, GpuUnavailable> {
        let start = Instant::now();
        let count = CudaContext::device_count().map_err(driver("cuDeviceGetCount"))?;
        if count <= ordinal as i32 {
            return Err(GpuUnavailable(format!(
                "no GPU with ordinal {ordinal} ({count} visible)"
            )));
        }
        let ctx = CudaContext::new(ordinal).map_err(driver("creating the CUDA context"))?;
        if wait_mode != WaitMode::Auto {
            ctx.set_flags(sched_flag(wait_mode))
                .map_err(driver("setting the wait mode"))?;
        }
        // Each worker uses only its own stream and buffers, so cudarc's
        // cross-stream event tracking is not needed.
        // SAFETY: no buffer is shared between streams (see above).
        unsafe { ctx.disable_event_tracking() };
        let name = ctx.name().map_err(driver("device name"))?;
        let uuid = format_uuid(&ctx.uuid().map_err(driver("device UUID"))?.bytes);
        let compute_capability = ctx
            .compute_capability()
            .map_err(driver("compute capability"))?;
        let sm_count = ctx
            .attribute(drv::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
            .map_err(driver("multiprocessor count"))?;
        let arch = format!(
            "--gpu-architecture=compute_{}{}",
            compute_capability.0, compute_capability.1
        );
        let ptx = cudarc::nvrtc::compile_ptx_with_opts(
            KERNELS,
            cudarc::nvrtc::CompileOptions {
                options: vec![arch],
                ..Default::default()
            },
        )
        .map_err(|e| GpuUnavailable(format!("NVRTC compile: {e:?}")))?;
        let module = ctx
            .load_module(ptx)
            .map_err(driver("loading the kernels"))?;
        let f = |name: &str| {
            module
                .load_function(name)
                .map_err(|e| GpuUnavailable(format!("kernel `{name}`: {e:?}")))
        };
        let functions = Functions {
            init_inputs: f("init_inputs")?,
            scale_tanh_inplace: f("scale_tanh_inplace")?,
            scale_tanh: f("scale_tanh")?,
            scale_add: f("scale_add")?,
            scale_sigmoid: f("scale_sigmoid")?,
            partial_sums: f("partial_sums")?,
            empty: f("empty")?,
        };
        let dev = GpuDevice {
            ctx,
            functions,
            name,
            uuid,
            compute_capability,
            sm_count: u32::try_from(sm_count).unwrap_or(1).max(1),
            wait_mode,
            init_s: 0.0,
        };
        // cuBLAS initialises lazily and cudarc loads each library symbol
        // on first use: run one tiny job now, so that readiness means the
        // whole path works and start-up time includes it.
        let mut probe = dev.engine()?;
        let job = Job {
            size: 8,
            iterations: 1,
            seed: 0,
        };
        probe
            .run(&job, &super::NeverStop)
            .map_err(|e| GpuUnavailable(format!("first job: {e}")))?;
        Ok(GpuDevice {
            init_s: start.elapsed().as_secs_f64(),
            ..dev
        })
    }

    /// A worker's engine with its own stream and cuBLAS handle.
    pub fn engine(&self) -> Result<GpuEngine, GpuUnavailable> {
        let stream = self.ctx.new_stream().map_err(driver("creating a stream"))?;
        let blas = CudaBlas::new(stream.clone())
            .map_err(|e| GpuUnavailable(format!("cuBLAS initialisation: {e:?}")))?;
        // Waiting on an event sleeps only if the event says so; in the
        // other modes it polls, as the context's own waits do.
        let flags = match self.wait_mode {
            WaitMode::BlockingSync => drv::CUevent_flags::CU_EVENT_BLOCKING_SYNC,
            _ => drv::CUevent_flags::CU_EVENT_DISABLE_TIMING,
        };
        let event = || {
            self.ctx
                .new_event(Some(flags))
                .map_err(driver("creating an event"))
        };
        Ok(GpuEngine {
            stream,
            blas,
            functions: self.functions.clone(),
            grid: self.sm_count * 8,
            bufs: None,
            done: [event()?, event()?],
        })
    }

    /// The device's name, as the driver reports it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device's UUID in NVML's format (`GPU-…`).
    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    /// Compute capability (major, minor).
    pub fn compute_capability(&self) -> (i32, i32) {
        self.compute_capability
    }

    /// The wait mode the context was set to.
    pub fn wait_mode(&self) -> WaitMode {
        self.wait_mode
    }

    /// Seconds from the start of [`GpuDevice::open`] to a working cuBLAS
    /// handle and loaded kernels.
    pub fn init_seconds(&self) -> f64 {
        self.init_s
    }

    /// Free and total device memory, bytes.
    pub fn memory(&self) -> Result<(usize, usize), ComputeError> {
        self.ctx.mem_get_info().map_err(device_error)
    }
}

/// Formats a CUDA UUID the way NVML does: `GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
pub fn format_uuid(bytes: &[std::ffi::c_char; 16]) -> String {
    let hex: Vec<String> = bytes.iter().map(|b| format!("{:02x}", *b as u8)).collect();
    format!(
        "GPU-{}-{}-{}-{}-{}",
        hex[0..4].concat(),
        hex[4..6].concat(),
        hex[6..8].concat(),
        hex[8..10].concat(),
        hex[10..16].concat()
    )
}

struct Buffers {
    len: usize,
    x: CudaSlice<f32>,
    w: CudaSlice<f32>,
    a: CudaSlice<f32>,
    b: CudaSlice<f32>,
    partial: CudaSlice<f64>,
}

/// A GPU worker: its stream, cuBLAS handle and reused device buffers.
pub struct GpuEngine {
    stream: Arc<CudaStream>,
    blas: CudaBlas,
    functions: Functions,
    grid: u32,
    bufs: Option<Buffers>,
    /// Recorded after iterations of even and odd index, for the stop check.
    done: [CudaEvent; 2],
}

fn device_error(e: DriverError) -> ComputeError {
    if e.0 == drv::cudaError_enum::CUDA_ERROR_OUT_OF_MEMORY {
        ComputeError::OutOfMemory(format!("{e:?}"))
    } else {
        ComputeError::Device(format!("{e:?}"))
    }
}

fn blas_error(e: cudarc::cublas::result::CublasError) -> ComputeError {
    if e.0 == blas_sys::cublasStatus_t::CUBLAS_STATUS_ALLOC_FAILED {
        ComputeError::OutOfMemory(format!("cuBLAS: {e:?}"))
    } else {
        ComputeError::Device(format!("cuBLAS: {e:?}"))
    }
}

impl GpuEngine {
    fn ensure(&mut self, n: usize) -> Result<(), ComputeError> {
        let len = n * n;
        if self.bufs.as_ref().is_some_and(|b| b.len == len) {
            return Ok(());
        }
        // Free the old set before asking for the new one.
        self.bufs = None;
        // SAFETY: every buffer is fully written before it is read: x and w
        // by `init_inputs`, a and b by GEMMs with beta = 0, partial by
        // `partial_sums`.
        let alloc = |len: usize| unsafe { self.stream.alloc::<f32>(len) };
        let x = alloc(len).map_err(device_error)?;
        let w = alloc(len).map_err(device_error)?;
        let a = alloc(len).map_err(device_error)?;
        let b = alloc(len).map_err(device_error)?;
        // SAFETY: as above.
        let partial =
            unsafe { self.stream.alloc::<f64>(REDUCE_BLOCKS as usize) }.map_err(device_error)?;
        self.bufs = Some(Buffers {
            len,
            x,
            w,
            a,
            b,
            partial,
        });
        Ok(())
    }

    fn cfg(&self, len: usize) -> LaunchConfig {
        let blocks = (len as u64).div_ceil(u64::from(THREADS)).max(1);
        LaunchConfig {
            grid_dim: (blocks.min(u64::from(self.grid)) as u32, 1, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        }
    }

    /// Times `reps` n×n SGEMMs after a warm-up; flop/s of the median.
    pub fn gemm_rate(&mut self, n: u32, reps: usize) -> Result<f64, ComputeError> {
        self.ensure(n as usize)?;
        self.init(n as usize, 1)?;
        let mut times = Vec::with_capacity(reps);
        for i in 0..=reps.max(1) {
            let t = Instant::now();
            self.gemm_ab(n as usize)?;
            self.stream.synchronize().map_err(device_error)?;
            if i > 0 {
                times.push(t.elapsed().as_secs_f64());
            }
        }
        Ok(2.0 * f64::from(n).powi(3) / super::cpu::median(&mut times))
    }

    /// Times `reps` batches of `batch` back-to-back n×n SGEMMs, the rate a
    /// saturated device sustains (launch gaps hidden); flop/s of the median.
    pub fn gemm_rate_batched(
        &mut self,
        n: u32,
        batch: usize,
        reps: usize,
    ) -> Result<f64, ComputeError> {
        self.ensure(n as usize)?;
        self.init(n as usize, 1)?;
        let mut times = Vec::with_capacity(reps);
        for i in 0..=reps.max(1) {
            let t = Instant::now();
            for _ in 0..batch.max(1) {
                self.gemm_ab(n as usize)?;
            }
            self.stream.synchronize().map_err(device_error)?;
            if i > 0 {
                times.push(t.elapsed().as_secs_f64());
            }
        }
        let flop = batch.max(1) as f64 * 2.0 * f64::from(n).powi(3);
        Ok(flop / super::cpu::median(&mut times))
    }

    /// Runs batches of 10 back-to-back n×n SGEMMs until `end` and returns
    /// the rate (flop/s) of the batches that ran wholly inside
    /// [`start`, `end`]. Several processes given the same wall-clock window
    /// measure the device while they share it (the time-slicing probe of
    /// `workload calibrate`).
    pub fn gemm_window(
        &mut self,
        n: u32,
        start: std::time::SystemTime,
        end: std::time::SystemTime,
    ) -> Result<f64, ComputeError> {
        self.ensure(n as usize)?;
        self.init(n as usize, 1)?;
        let per_batch = 10.0 * 2.0 * f64::from(n).powi(3);
        let mut flop = 0.0;
        loop {
            let t0 = std::time::SystemTime::now();
            if t0 >= end {
                break;
            }
            for _ in 0..10 {
                self.gemm_ab(n as usize)?;
            }
            self.stream.synchronize().map_err(device_error)?;
            let t1 = std::time::SystemTime::now();
            if t0 >= start && t1 <= end {
                flop += per_batch;
            }
        }
        let window = end.duration_since(start).map_or(0.0, |d| d.as_secs_f64());
        Ok(if window > 0.0 { flop / window } else { 0.0 })
    }

    /// Seconds of one iteration's element-wise work (the 4 fused kernels,
    /// 8 operations) at size `n`: median of `reps` batches of 20 iterations'
    /// kernels, divided by 20.
    pub fn elementwise_iteration_time(&mut self, n: u32, reps: usize) -> Result<f64, ComputeError> {
        let len = (n as usize) * (n as usize);
        self.ensure(n as usize)?;
        self.init(n as usize, 1)?;
        let cfg = self.cfg(len);
        let fns = self.functions.clone();
        let stream = self.stream.clone();
        let s = super::scale(n);
        const BATCH: usize = 20;
        let mut times = Vec::with_capacity(reps);
        for i in 0..=reps.max(1) {
            let t = Instant::now();
            let bufs = self.bufs()?;
            for _ in 0..BATCH {
                for step in Step::ALL {
                    launch_step(&stream, &fns, bufs, cfg, step, s)?;
                }
            }
            stream.synchronize().map_err(device_error)?;
            if i > 0 {
                times.push(t.elapsed().as_secs_f64() / BATCH as f64);
            }
        }
        Ok(super::cpu::median(&mut times))
    }

    /// Mean wall time per launch of an empty kernel over `count` launches,
    /// after a warm-up: the launch overhead a request pays per kernel.
    pub fn launch_overhead(&mut self, count: usize) -> Result<Duration, ComputeError> {
        let cfg = LaunchConfig {
            grid_dim: (1, 1, 1),
            block_dim: (1, 1, 1),
            shared_mem_bytes: 0,
        };
        let run = |count: usize| -> Result<Duration, ComputeError> {
            let t = Instant::now();
            for _ in 0..count {
                // SAFETY: `empty` takes no arguments and touches no memory.
                unsafe {
                    self.stream
                        .launch_builder(&self.functions.empty)
                        .launch(cfg)
                }
                .map_err(device_error)?;
            }
            self.stream.synchronize().map_err(device_error)?;
            Ok(t.elapsed())
        };
        run(100)?;
        Ok(run(count.max(1))? / count.max(1) as u32)
    }

    fn bufs(&mut self) -> Result<&mut Buffers, ComputeError> {
        self.bufs
            .as_mut()
            .ok_or_else(|| ComputeError::Device("buffers not allocated".into()))
    }

    fn init(&mut self, n: usize, seed: u64) -> Result<(), ComputeError> {
        let len = n * n;
        let cfg = self.cfg(len);
        let f = self.functions.init_inputs.clone();
        let stream = self.stream.clone();
        let bufs = self.bufs()?;
        let len64 = len as u64;
        // SAFETY: x and w hold `len` floats; the kernel writes indices < len.
        unsafe {
            stream
                .launch_builder(&f)
                .arg(&mut bufs.x)
                .arg(&mut bufs.w)
                .arg(&seed)
                .arg(&len64)
                .launch(cfg)
        }
        .map_err(device_error)?;
        Ok(())
    }

    /// A = X·W (used by the rate measurements).
    fn gemm_ab(&mut self, n: usize) -> Result<(), ComputeError> {
        let bufs = self
            .bufs
            .as_mut()
            .ok_or_else(|| ComputeError::Device("buffers not allocated".into()))?;
        gemm(&self.blas, n, &bufs.x, &bufs.w, &mut bufs.a)
    }
}

/// The fused element-wise kernel after each of an iteration's 4 GEMMs.
#[derive(Clone, Copy)]
enum Step {
    /// A ← tanh(s·A).
    TanhA,
    /// B ← s·B + A.
    ScaleAddB,
    /// A ← sigmoid(s·A) (A holds C).
    SigmoidA,
    /// X ← tanh(s·B) (B holds D).
    TanhIntoX,
}

impl Step {
    const ALL: [Step; 4] = [
        Step::TanhA,
        Step::ScaleAddB,
        Step::SigmoidA,
        Step::TanhIntoX,
    ];
}

/// Launches `step`'s kernel over the buffers on `stream`.
fn launch_step(
    stream: &CudaStream,
    fns: &Functions,
    bufs: &mut Buffers,
    cfg: LaunchConfig,
    step: Step,
    s: f32,
) -> Result<(), ComputeError> {
    let len = bufs.len as u64;
    // SAFETY: every buffer holds `bufs.len` floats and the kernels index
    // only below `len`.
    let launched = unsafe {
        match step {
            Step::TanhA => stream
                .launch_builder(&fns.scale_tanh_inplace)
                .arg(&mut bufs.a)
                .arg(&s)
                .arg(&len)
                .launch(cfg),
            Step::ScaleAddB => stream
                .launch_builder(&fns.scale_add)
                .arg(&mut bufs.b)
                .arg(&bufs.a)
                .arg(&s)
                .arg(&len)
                .launch(cfg),
            Step::SigmoidA => stream
                .launch_builder(&fns.scale_sigmoid)
                .arg(&mut bufs.a)
                .arg(&s)
                .arg(&len)
                .launch(cfg),
            Step::TanhIntoX => stream
                .launch_builder(&fns.scale_tanh)
                .arg(&mut bufs.x)
                .arg(&bufs.b)
                .arg(&s)
                .arg(&len)
                .launch(cfg),
        }
    };
    launched.map(|_| ()).map_err(device_error)
}

/// C = A·B, column-major n×n, on the handle's stream.
fn gemm(
    blas: &CudaBlas,
    n: usize,
    a: &CudaSlice<f32>,
    b: &CudaSlice<f32>,
    c: &mut CudaSlice<f32>,
) -> Result<(), ComputeError> {
    let n = i32::try_from(n).map_err(|_| ComputeError::Device(format!("size {n} too large")))?;
    let cfg = GemmConfig {
        transa: blas_sys::cublasOperation_t::CUBLAS_OP_N,
        transb: blas_sys::cublasOperation_t::CUBLAS_OP_N,
        m: n,
        n,
        k: n,
        alpha: 1.0f32,
        lda: n,
        ldb: n,
        beta: 0.0f32,
        ldc: n,
    };
    // SAFETY: all three buffers hold n*n floats, matching m, n, k and the
    // leading dimensions; beta = 0 so c's old contents are not read.
    unsafe { blas.gemm(cfg, a, b, c) }.map_err(blas_error)
}

impl Engine for GpuEngine {
    fn run(&mut self, job: &Job, stop: &dyn StopCheck) -> Result<Output, ComputeError> {
        let start = Instant::now();
        if stop.should_stop() {
            return Err(ComputeError::Stopped {
                done: 0,
                total: job.iterations,
            });
        }
        let n = job.size as usize;
        let len = n * n;
        let len64 = len as u64;
        let s = super::scale(job.size);
        self.ensure(n)?;
        self.init(n, job.seed)?;
        let cfg = self.cfg(len);
        let fns = self.functions.clone();
        let stream = self.stream.clone();
        let bufs = self
            .bufs
            .as_mut()
            .ok_or_else(|| ComputeError::Device("buffers not allocated".into()))?;
        for i in 0..job.iterations {
            let slot = &self.done[(i % 2) as usize];
            if i >= 2 {
                // Iteration i − 2 is finished; i − 1 keeps the device busy.
                slot.synchronize().map_err(device_error)?;
            }
            if stop.should_stop() {
                return Err(ComputeError::Stopped {
                    done: i,
                    total: job.iterations,
                });
            }
            gemm(&self.blas, n, &bufs.x, &bufs.w, &mut bufs.a)?;
            launch_step(&stream, &fns, bufs, cfg, Step::TanhA, s)?;
            gemm(&self.blas, n, &bufs.a, &bufs.w, &mut bufs.b)?;
            launch_step(&stream, &fns, bufs, cfg, Step::ScaleAddB, s)?;
            // C = B·W into A's storage, D = C·W into B's.
            gemm(&self.blas, n, &bufs.b, &bufs.w, &mut bufs.a)?;
            launch_step(&stream, &fns, bufs, cfg, Step::SigmoidA, s)?;
            gemm(&self.blas, n, &bufs.a, &bufs.w, &mut bufs.b)?;
            launch_step(&stream, &fns, bufs, cfg, Step::TanhIntoX, s)?;
            slot.record(&stream).map_err(device_error)?;
        }
        let reduce = LaunchConfig {
            grid_dim: (REDUCE_BLOCKS, 1, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: partial holds REDUCE_BLOCKS doubles, one per block.
        unsafe {
            stream
                .launch_builder(&fns.partial_sums)
                .arg(&bufs.x)
                .arg(&mut bufs.partial)
                .arg(&len64)
                .launch(reduce)
        }
        .map_err(device_error)?;
        // Copies back and synchronises the stream (sleeping, spinning or
        // yielding as the wait mode says).
        let partial = stream.clone_dtoh(&bufs.partial).map_err(device_error)?;
        Ok(Output {
            checksum: partial.iter().sum(),
            compute_s: start.elapsed().as_secs_f64(),
        })
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Gpu
    }
}
