//! The CPU engine: faer's GEMM and rayon-parallel element-wise passes, the
//! same operations in the same order as the GPU engine.
//!
//! faer was chosen over `gemm` and `matrixmultiply` on measured numbers;
//! `just bench-workload` prints its GFLOP/s next to numpy's.

use super::{
    init_value, scale, sigmoid, BackendKind, ComputeError, Engine, Job, Output, StopCheck,
    MATRIX_W, MATRIX_X,
};
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;
use std::time::Instant;

/// Elements per rayon task in the element-wise passes.
const CHUNK: usize = 1 << 14;

/// A CPU worker: its thread pool and its reused buffers.
pub struct CpuEngine {
    pool: rayon::ThreadPool,
    threads: usize,
    n: usize,
    x: Vec<f32>,
    w: Vec<f32>,
    a: Vec<f32>,
    b: Vec<f32>,
}

impl CpuEngine {
    /// An engine computing on `threads` threads (at least 1).
    pub fn new(threads: usize) -> Result<CpuEngine, ComputeError> {
        let threads = threads.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("cpu-engine-{i}"))
            .build()
            .map_err(|e| ComputeError::Device(format!("thread pool: {e}")))?;
        Ok(CpuEngine {
            pool,
            threads,
            n: 0,
            x: Vec::new(),
            w: Vec::new(),
            a: Vec::new(),
            b: Vec::new(),
        })
    }

    /// Threads this engine computes on.
    pub fn threads(&self) -> usize {
        self.threads
    }

    fn ensure(&mut self, n: usize) -> Result<(), ComputeError> {
        if self.n == n {
            return Ok(());
        }
        let len = n
            .checked_mul(n)
            .ok_or_else(|| ComputeError::OutOfMemory(format!("{n}×{n} overflows")))?;
        for buf in [&mut self.x, &mut self.w, &mut self.a, &mut self.b] {
            buf.clear();
            buf.try_reserve_exact(len).map_err(|e| {
                ComputeError::OutOfMemory(format!("{len} floats for a {n}×{n} matrix: {e}"))
            })?;
            buf.resize(len, 0.0);
        }
        self.n = n;
        Ok(())
    }

    /// C = A·B for column-major n×n slices, on this engine's threads.
    fn gemm(&self, out: &mut [f32], a: &[f32], b: &[f32]) {
        let n = self.n;
        let par = if self.threads > 1 {
            Par::rayon(self.threads)
        } else {
            Par::Seq
        };
        matmul(
            MatMut::from_column_major_slice_mut(out, n, n),
            Accum::Replace,
            MatRef::from_column_major_slice(a, n, n),
            MatRef::from_column_major_slice(b, n, n),
            1.0f32,
            par,
        );
    }

    /// Throughput of one n×n SGEMM on this engine, flop/s (for calibration
    /// and the benchmark): the median of `reps` timed products after one
    /// warm-up.
    pub fn gemm_rate(&mut self, n: u32, reps: usize) -> Result<f64, ComputeError> {
        self.ensure(n as usize)?;
        fill(&mut self.x, 1, MATRIX_X);
        fill(&mut self.w, 1, MATRIX_W);
        let (x, w) = (std::mem::take(&mut self.x), std::mem::take(&mut self.w));
        let mut a = std::mem::take(&mut self.a);
        let mut times = Vec::with_capacity(reps);
        self.pool.install(|| {
            self.gemm(&mut a, &x, &w);
            for _ in 0..reps.max(1) {
                let t = Instant::now();
                self.gemm(&mut a, &x, &w);
                times.push(t.elapsed().as_secs_f64());
            }
        });
        (self.x, self.w, self.a) = (x, w, a);
        let flop = 2.0 * f64::from(n).powi(3);
        Ok(flop / median(&mut times))
    }

    /// Seconds of one iteration's element-wise work (the 4 passes, 8
    /// operations) at size `n`, median of `reps` after a warm-up.
    pub fn elementwise_iteration_time(&mut self, n: u32, reps: usize) -> Result<f64, ComputeError> {
        self.ensure(n as usize)?;
        fill(&mut self.x, 1, MATRIX_X);
        fill(&mut self.a, 2, MATRIX_X);
        fill(&mut self.b, 3, MATRIX_X);
        let s = scale(n);
        let (mut x, mut a, mut b) = (
            std::mem::take(&mut self.x),
            std::mem::take(&mut self.a),
            std::mem::take(&mut self.b),
        );
        let mut times = Vec::with_capacity(reps + 1);
        self.pool.install(|| {
            for _ in 0..=reps.max(1) {
                let t = Instant::now();
                map_in_place(&mut a, |v| (s * v).tanh());
                scale_add(&mut b, &a, s);
                map_in_place(&mut a, |v| sigmoid(s * v));
                x.par_chunks_mut(CHUNK)
                    .zip(b.par_chunks(CHUNK))
                    .for_each(|(x, d)| {
                        for (x, d) in x.iter_mut().zip(d) {
                            *x = (s * d).tanh();
                        }
                    });
                times.push(t.elapsed().as_secs_f64());
            }
        });
        times.remove(0);
        (self.x, self.a, self.b) = (x, a, b);
        Ok(median(&mut times))
    }

    /// Bandwidth of the fused element-wise pass B ← s·B + A over `len`
    /// floats (two reads, one write), bytes/s; median of `reps`.
    pub fn elementwise_rate(&mut self, n: u32, reps: usize) -> Result<f64, ComputeError> {
        self.ensure(n as usize)?;
        let s = scale(n);
        let (a, mut b) = (std::mem::take(&mut self.a), std::mem::take(&mut self.b));
        let mut times = Vec::with_capacity(reps);
        self.pool.install(|| {
            for _ in 0..=reps.max(1) {
                let t = Instant::now();
                scale_add(&mut b, &a, s);
                times.push(t.elapsed().as_secs_f64());
            }
        });
        times.remove(0);
        (self.a, self.b) = (a, b);
        let bytes = 12.0 * f64::from(n) * f64::from(n);
        Ok(bytes / median(&mut times))
    }
}

impl Engine for CpuEngine {
    fn run(&mut self, job: &Job, stop: &dyn StopCheck) -> Result<Output, ComputeError> {
        let start = Instant::now();
        self.ensure(job.size as usize)?;
        let s = scale(job.size);
        let (mut x, mut w) = (std::mem::take(&mut self.x), std::mem::take(&mut self.w));
        let (mut a, mut b) = (std::mem::take(&mut self.a), std::mem::take(&mut self.b));
        let result = self.pool.install(|| {
            fill(&mut x, job.seed, MATRIX_X);
            fill(&mut w, job.seed, MATRIX_W);
            for done in 0..job.iterations {
                if stop.should_stop() {
                    return Err(ComputeError::Stopped {
                        done,
                        total: job.iterations,
                    });
                }
                self.gemm(&mut a, &x, &w);
                map_in_place(&mut a, |v| (s * v).tanh());
                self.gemm(&mut b, &a, &w);
                scale_add(&mut b, &a, s);
                // C = B·W into A's storage, D = C·W into B's.
                self.gemm(&mut a, &b, &w);
                map_in_place(&mut a, |v| sigmoid(s * v));
                self.gemm(&mut b, &a, &w);
                x.par_chunks_mut(CHUNK)
                    .zip(b.par_chunks(CHUNK))
                    .for_each(|(x, d)| {
                        for (x, d) in x.iter_mut().zip(d) {
                            *x = (s * d).tanh();
                        }
                    });
            }
            Ok(x.par_chunks(CHUNK)
                .map(|c| c.iter().map(|v| f64::from(*v)).sum::<f64>())
                .collect::<Vec<f64>>()
                .iter()
                .sum::<f64>())
        });
        (self.x, self.w, self.a, self.b) = (x, w, a, b);
        let checksum = result?;
        Ok(Output {
            checksum,
            compute_s: start.elapsed().as_secs_f64(),
        })
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Cpu
    }
}

fn fill(buf: &mut [f32], seed: u64, matrix: u64) {
    buf.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(c, chunk)| {
            let base = (c * CHUNK) as u64;
            for (i, v) in chunk.iter_mut().enumerate() {
                *v = init_value(seed, matrix, base + i as u64);
            }
        });
}

fn map_in_place(buf: &mut [f32], f: impl Fn(f32) -> f32 + Sync) {
    buf.par_chunks_mut(CHUNK).for_each(|c| {
        for v in c {
            *v = f(*v);
        }
    });
}

fn scale_add(b: &mut [f32], a: &[f32], s: f32) {
    b.par_chunks_mut(CHUNK)
        .zip(a.par_chunks(CHUNK))
        .for_each(|(b, a)| {
            for (b, a) in b.iter_mut().zip(a) {
                *b = s * *b + a;
            }
        });
}

/// Median of a sample (sorts it); NaN when empty.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.is_empty() {
        f64::NAN
    } else if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::compute::{reference, NeverStop};

    #[test]
    fn matches_the_naive_reference_at_small_sizes() {
        let mut e = CpuEngine::new(2).unwrap();
        for (size, iterations, seed) in [(1, 1, 0), (7, 3, 1), (33, 5, 2), (64, 10, 3), (100, 2, 4)]
        {
            let job = Job {
                size,
                iterations,
                seed,
            };
            let got = e.run(&job, &NeverStop).unwrap().checksum;
            let want = reference(&job);
            let tol = 1e-5 * f64::from(size * size);
            assert!(
                (got - want).abs() <= tol,
                "n={size} it={iterations}: cpu {got} vs reference {want}"
            );
        }
    }

    #[test]
    fn is_deterministic_and_reuses_buffers_across_sizes() {
        let mut e = CpuEngine::new(2).unwrap();
        let j1 = Job {
            size: 50,
            iterations: 4,
            seed: 9,
        };
        let j2 = Job { size: 20, ..j1 };
        let first = e.run(&j1, &NeverStop).unwrap().checksum;
        e.run(&j2, &NeverStop).unwrap();
        let again = e.run(&j1, &NeverStop).unwrap().checksum;
        assert_eq!(first.to_bits(), again.to_bits());
    }

    #[test]
    fn values_stay_bounded_over_many_iterations() {
        let mut e = CpuEngine::new(2).unwrap();
        let job = Job {
            size: 32,
            iterations: 1000,
            seed: 5,
        };
        let out = e.run(&job, &NeverStop).unwrap();
        assert!(out.checksum.is_finite());
        assert!(out.checksum.abs() <= 32.0 * 32.0);
    }

    #[test]
    fn stops_between_iterations() {
        struct AfterCalls(std::sync::atomic::AtomicU32);
        impl StopCheck for AfterCalls {
            fn should_stop(&self) -> bool {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 2
            }
        }
        let mut e = CpuEngine::new(1).unwrap();
        let job = Job {
            size: 8,
            iterations: 10,
            seed: 0,
        };
        match e.run(&job, &AfterCalls(0.into())) {
            Err(ComputeError::Stopped { done: 2, total: 10 }) => {}
            other => panic!("{other:?}"),
        }
    }
}
