//! The request's computation, defined once and run by two engines.
//!
//! Per request: two seeded n×n float32 matrices, X (the state) and W (the
//! weights), then `iterations` rounds of 4 GEMMs and 8 element-wise
//! operations, with s = 1/√n:
//!
//! | step | operation | element-wise ops |
//! |---|---|---|
//! | 1 | A = X·W, then A ← tanh(s·A) | scale, tanh |
//! | 2 | B = A·W, then B ← s·B + A | scale, residual add |
//! | 3 | C = B·W, then C ← sigmoid(s·C) | scale, logistic |
//! | 4 | D = C·W, then X ← tanh(s·D) | scale, tanh |
//!
//! The scale by 1/√n keeps a product of [-1, 1] entries at unit order, and
//! step 4's tanh returns the state to (-1, 1), so values stay bounded
//! however many iterations run. The checksum is the sum of X's entries in
//! float64. Matrices are column-major on both engines (cuBLAS's layout).
//!
//! The inputs come from a counter-based hash of (seed, matrix, index), so
//! the CPU engine, the GPU kernel and the CuPy comparison script build
//! bit-identical inputs without moving them between host and device.

pub mod cpu;
pub mod gpu;

use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Element-wise operations per iteration (the original's 8).
pub const ELEMENTWISE_PER_ITERATION: u32 = 8;
/// GEMMs per iteration (the original's 4).
pub const GEMMS_PER_ITERATION: u32 = 4;
/// n×n float32 matrices a request keeps on the device: X, W, A and B
/// (C reuses A's storage, D reuses B's).
pub const WORKING_SET_MATRICES: u32 = 4;

/// Matrix index of the state X in [`init_value`].
pub const MATRIX_X: u64 = 0;
/// Matrix index of the weights W in [`init_value`].
pub const MATRIX_W: u64 = 1;

/// One request's work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Matrix size n.
    pub size: u32,
    /// Iterations of 4 GEMMs and 8 element-wise operations.
    pub iterations: u32,
    /// Seed of the inputs.
    pub seed: u64,
}

impl Job {
    /// Floating-point operations the job performs (GEMMs at 2n³ each plus
    /// one per element-wise operation and element).
    pub fn flops(&self) -> f64 {
        let n = f64::from(self.size);
        f64::from(self.iterations)
            * (f64::from(GEMMS_PER_ITERATION) * 2.0 * n * n * n
                + f64::from(ELEMENTWISE_PER_ITERATION) * n * n)
    }
}

/// What a finished job returns.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Output {
    /// Sum of the final state's entries (float64 accumulation).
    pub checksum: f64,
    /// Seconds the engine spent on the job, input generation included.
    pub compute_s: f64,
}

/// Why a job did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ComputeError {
    /// The device could not hold the job's matrices.
    #[error("device out of memory: {0}")]
    OutOfMemory(String),
    /// Any other failure of the device or its libraries.
    #[error("device error: {0}")]
    Device(String),
    /// The job was stopped (deadline or the client left).
    #[error("stopped after {done} of {total} iterations")]
    Stopped {
        /// Whole iterations completed (on the GPU: launched).
        done: u32,
        /// Iterations asked for.
        total: u32,
    },
}

/// Which engine a service or calibration runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// cuBLAS and NVRTC kernels through cudarc.
    Gpu,
    /// faer GEMM and rayon element-wise loops.
    Cpu,
}

impl BackendKind {
    /// Lower-case name, as in `/metrics` and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Gpu => "gpu",
            BackendKind::Cpu => "cpu",
        }
    }
}

/// Tells a running job whether to stop: checked before a job starts, and
/// while it runs before every GEMM panel (CPU) or iteration (GPU).
pub trait StopCheck: Sync {
    /// True when the job should stop.
    fn should_stop(&self) -> bool;
}

/// Never stops.
pub struct NeverStop;

impl StopCheck for NeverStop {
    fn should_stop(&self) -> bool {
        false
    }
}

/// Stops at a deadline.
pub struct Deadline(pub Instant);

impl StopCheck for Deadline {
    fn should_stop(&self) -> bool {
        Instant::now() >= self.0
    }
}

/// One worker's engine: owns its buffers (reused across jobs) and, on the
/// GPU, its stream and cuBLAS handle.
pub trait Engine: Send {
    /// Runs one job.
    fn run(&mut self, job: &Job, stop: &dyn StopCheck) -> Result<Output, ComputeError>;
    /// Which backend this is.
    fn kind(&self) -> BackendKind;
}

/// The scale factor s = 1/√n.
pub fn scale(n: u32) -> f32 {
    1.0 / (n as f32).sqrt()
}

/// The input value of entry `index` of matrix `matrix` (0 = X, 1 = W) for
/// `seed`: uniform on [-1, 1) with 24 random bits, from a SplitMix64
/// finaliser over the three counters. The GPU kernel and the CuPy script
/// implement the same integer arithmetic.
pub fn init_value(seed: u64, matrix: u64, index: u64) -> f32 {
    let mut z = seed
        .wrapping_add(matrix.wrapping_mul(0xD1B5_4A32_D192_ED03))
        .wrapping_add(index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    // 24 bits → k/2^23 − 1, exact in float32.
    ((z >> 40) as f32) * (1.0 / 8_388_608.0) - 1.0
}

/// The logistic function as both engines compute it.
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Relative agreement expected between the CPU and GPU checksums: the
/// engines sum GEMM products in different orders and use different tanh
/// and exp implementations (each within a few ulp), so the final states
/// differ in the last bits of float32. The checksum of n² entries bounded
/// by 1 is compared against this tolerance times n² (see
/// [`checksums_agree`]).
pub const CHECKSUM_TOLERANCE_PER_ENTRY: f64 = 1e-4;

/// Whether two checksums of the same size-`n` job agree within
/// [`CHECKSUM_TOLERANCE_PER_ENTRY`] per entry.
pub fn checksums_agree(n: u32, a: f64, b: f64) -> bool {
    let entries = f64::from(n) * f64::from(n);
    (a - b).abs() <= CHECKSUM_TOLERANCE_PER_ENTRY * entries
}

/// A naive, single-threaded reference implementation of the job in
/// float64 (inputs as float32), for tests of both engines at small sizes.
pub fn reference(job: &Job) -> f64 {
    let n = job.size as usize;
    let s = 1.0 / (n as f64).sqrt();
    let init = |m: u64| -> Vec<f64> {
        (0..n * n)
            .map(|i| f64::from(init_value(job.seed, m, i as u64)))
            .collect()
    };
    let mut x = init(MATRIX_X);
    let w = init(MATRIX_W);
    // Column-major: element (r, c) at c*n + r.
    let matmul = |a: &[f64], b: &[f64]| -> Vec<f64> {
        let mut out = vec![0.0; n * n];
        for c in 0..n {
            for k in 0..n {
                let bkc = b[c * n + k];
                for r in 0..n {
                    out[c * n + r] += a[k * n + r] * bkc;
                }
            }
        }
        out
    };
    for _ in 0..job.iterations {
        let mut a = matmul(&x, &w);
        a.iter_mut().for_each(|v| *v = (s * *v).tanh());
        let mut b = matmul(&a, &w);
        b.iter_mut().zip(&a).for_each(|(v, a)| *v = s * *v + a);
        let mut c = matmul(&b, &w);
        c.iter_mut()
            .for_each(|v| *v = 1.0 / (1.0 + (-s * *v).exp()));
        let d = matmul(&c, &w);
        x = d.iter().map(|v| (s * v).tanh()).collect();
    }
    x.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_values_are_in_range_and_spread() {
        let vals: Vec<f32> = (0..10_000).map(|i| init_value(7, MATRIX_X, i)).collect();
        assert!(vals.iter().all(|v| (-1.0..1.0).contains(v)));
        let mean = vals.iter().map(|v| f64::from(*v)).sum::<f64>() / vals.len() as f64;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert_ne!(init_value(7, MATRIX_X, 3), init_value(7, MATRIX_W, 3));
        assert_ne!(init_value(7, MATRIX_X, 3), init_value(8, MATRIX_X, 3));
    }

    #[test]
    fn init_value_is_pinned() {
        // Values computed independently (Python integers) from the formula
        // in the doc comment; the GPU kernel and bench/cupy_workload.py
        // implement the same formula, and the GPU check compares their
        // checksums against this engine's.
        let got: Vec<f32> = (0..4).map(|i| init_value(42, MATRIX_W, i)).collect();
        assert_eq!(got, [-0.911_717_65, 0.687_381_15, -0.926_386_95, 0.582_072]);
        assert_eq!(init_value(0, MATRIX_X, 0), -1.0);
        assert_eq!(init_value(0, MATRIX_X, 1), 0.766_621_6);
    }

    #[test]
    fn flops_count() {
        let j = Job {
            size: 1000,
            iterations: 20,
            seed: 0,
        };
        assert_eq!(j.flops(), 20.0 * (4.0 * 2e9 + 8.0 * 1e6));
    }
}
