//! The CPU engine: faer's GEMM and rayon-parallel element-wise passes, the
//! same operations in the same order as the GPU engine.
//!
//! faer was chosen over `gemm` and `matrixmultiply` on measured numbers;
//! `just bench-workload` prints its GFLOP/s next to numpy's.
//!
//! A job checks its stop condition before every GEMM, and a large GEMM is
//! computed in column panels of at most about [`PANEL_FLOP`] each with a
//! check before every panel, so a stopped job (deadline, or the client
//! left) frees its worker within one panel rather than one iteration.
//! Buffers are kept for the next job only while they are small
//! ([`RETAIN_BYTES`]); larger ones are freed when the job ends, so their
//! memory goes back to the system.

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

/// Floating-point operations per GEMM panel, about: the most work done
/// between two stop checks (a fraction of a second on one core).
pub const PANEL_FLOP: f64 = 17_179_869_184.0; // 2^34

/// Narrowest panel, columns: each panel packs the whole left operand again,
/// and at n = 4096 panels of 512 columns cost about a fifth of the GEMM
/// rate on the 2-core development machine, panels of 1024 nothing
/// measurable.
const MIN_PANEL_COLUMNS: usize = 1024;

/// Working buffers (all four matrices) up to this size stay allocated for
/// the next job; larger ones are freed when their job ends.
pub const RETAIN_BYTES: usize = 64 << 20;

/// Columns per GEMM panel at size `n`: whole multiples of 64 giving about
/// [`PANEL_FLOP`] per panel, at least [`MIN_PANEL_COLUMNS`], at most `n`.
pub fn panel_columns(n: usize) -> usize {
    if n == 0 {
        return 1;
    }
    let per_column = 2.0 * (n as f64) * (n as f64);
    let w = ((PANEL_FLOP / per_column) as usize) / 64 * 64;
    w.max(MIN_PANEL_COLUMNS).min(n)
}

/// A stop check fired: the job stops.
#[derive(Debug)]
struct StopNow;

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

    fn par(&self) -> Par {
        if self.threads > 1 {
            Par::rayon(self.threads)
        } else {
            Par::Seq
        }
    }

    /// C = A·B for column-major n×n slices, on this engine's threads.
    fn gemm(&self, out: &mut [f32], a: &[f32], b: &[f32]) {
        let n = self.n;
        matmul(
            MatMut::from_column_major_slice_mut(out, n, n),
            Accum::Replace,
            MatRef::from_column_major_slice(a, n, n),
            MatRef::from_column_major_slice(b, n, n),
            1.0f32,
            self.par(),
        );
    }

    /// C = A·B like [`CpuEngine::gemm`], in panels of `columns` columns of
    /// C and B (each its own product with the whole of A), checking `stop`
    /// before each panel.
    fn gemm_checked(
        &self,
        out: &mut [f32],
        a: &[f32],
        b: &[f32],
        columns: usize,
        stop: &dyn StopCheck,
    ) -> Result<(), StopNow> {
        let n = self.n;
        let step = columns.max(1) * n;
        if n == 0 {
            return Ok(());
        }
        for (c, bp) in out.chunks_mut(step).zip(b.chunks(step)) {
            if stop.should_stop() {
                return Err(StopNow);
            }
            let w = c.len() / n;
            matmul(
                MatMut::from_column_major_slice_mut(c, n, w),
                Accum::Replace,
                MatRef::from_column_major_slice(a, n, n),
                MatRef::from_column_major_slice(bp, n, w),
                1.0f32,
                self.par(),
            );
        }
        Ok(())
    }

    /// Frees the buffers if they are larger than [`RETAIN_BYTES`].
    fn release_if_large(&mut self) {
        let held: usize = [&self.x, &self.w, &self.a, &self.b]
            .iter()
            .map(|v| v.capacity() * std::mem::size_of::<f32>())
            .sum();
        if held > RETAIN_BYTES {
            for buf in [&mut self.x, &mut self.w, &mut self.a, &mut self.b] {
                *buf = Vec::new();
            }
            self.n = 0;
        }
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
        let stopped = |done| ComputeError::Stopped {
            done,
            total: job.iterations,
        };
        // A job stopped while it waited allocates nothing.
        if stop.should_stop() {
            return Err(stopped(0));
        }
        let result = self.run_inner(job, stop);
        self.release_if_large();
        let checksum = result.map_err(|e| match e {
            Interrupted::Stopped(done) => stopped(done),
            Interrupted::Failed(e) => e,
        })?;
        Ok(Output {
            checksum,
            compute_s: start.elapsed().as_secs_f64(),
        })
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Cpu
    }
}

/// Why [`CpuEngine::run_inner`] did not finish.
enum Interrupted {
    /// Stopped after this many whole iterations.
    Stopped(u32),
    /// The buffers could not be allocated.
    Failed(ComputeError),
}

impl CpuEngine {
    fn run_inner(&mut self, job: &Job, stop: &dyn StopCheck) -> Result<f64, Interrupted> {
        self.ensure(job.size as usize)
            .map_err(Interrupted::Failed)?;
        let s = scale(job.size);
        let columns = panel_columns(self.n);
        let (mut x, mut w) = (std::mem::take(&mut self.x), std::mem::take(&mut self.w));
        let (mut a, mut b) = (std::mem::take(&mut self.a), std::mem::take(&mut self.b));
        let result = self.pool.install(|| {
            fill(&mut x, job.seed, MATRIX_X);
            fill(&mut w, job.seed, MATRIX_W);
            for done in 0..job.iterations {
                let at = |_: StopNow| Interrupted::Stopped(done);
                self.gemm_checked(&mut a, &x, &w, columns, stop)
                    .map_err(at)?;
                map_in_place(&mut a, |v| (s * v).tanh());
                self.gemm_checked(&mut b, &a, &w, columns, stop)
                    .map_err(at)?;
                scale_add(&mut b, &a, s);
                // C = B·W into A's storage, D = C·W into B's.
                self.gemm_checked(&mut a, &b, &w, columns, stop)
                    .map_err(at)?;
                map_in_place(&mut a, |v| sigmoid(s * v));
                self.gemm_checked(&mut b, &a, &w, columns, stop)
                    .map_err(at)?;
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
        result
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

    /// Stops at its `k`-th check (0-based) and counts the checks.
    struct AfterCalls(std::sync::atomic::AtomicU32, u32);
    impl StopCheck for AfterCalls {
        fn should_stop(&self) -> bool {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= self.1
        }
    }

    #[test]
    fn stops_between_iterations() {
        let mut e = CpuEngine::new(1).unwrap();
        let job = Job {
            size: 8,
            iterations: 10,
            seed: 0,
        };
        // One check before the job, then one before each of the 4 GEMMs
        // (a single panel at this size): the 9th check opens iteration 2.
        match e.run(&job, &AfterCalls(0.into(), 9)) {
            Err(ComputeError::Stopped { done: 2, total: 10 }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stops_inside_an_iteration() {
        let mut e = CpuEngine::new(1).unwrap();
        let job = Job {
            size: 8,
            iterations: 1,
            seed: 0,
        };
        // Checked before the job and before the first GEMM; stopped before
        // the second, in the middle of the only iteration.
        match e.run(&job, &AfterCalls(0.into(), 2)) {
            Err(ComputeError::Stopped { done: 0, total: 1 }) => {}
            other => panic!("{other:?}"),
        }
        // A job stopped before it starts allocates nothing.
        let mut fresh = CpuEngine::new(1).unwrap();
        assert!(matches!(
            fresh.run(&job, &AfterCalls(0.into(), 0)),
            Err(ComputeError::Stopped { done: 0, total: 1 })
        ));
        assert_eq!(fresh.x.capacity(), 0);
    }

    #[test]
    fn panels_split_large_products_and_check_before_each() {
        assert_eq!(panel_columns(1000), 1000);
        assert_eq!(panel_columns(2048), 2048);
        assert_eq!(panel_columns(3000), 1024);
        assert_eq!(panel_columns(4096), 1024);
        assert_eq!(panel_columns(8192), 1024);
        // Panelled products equal the whole one, with a ragged last panel.
        let mut e = CpuEngine::new(2).unwrap();
        let n = 100;
        e.ensure(n).unwrap();
        fill(&mut e.x, 3, MATRIX_X);
        fill(&mut e.w, 3, MATRIX_W);
        let (x, w) = (e.x.clone(), e.w.clone());
        let mut whole = vec![0.0f32; n * n];
        let mut panels = vec![0.0f32; n * n];
        e.gemm(&mut whole, &x, &w);
        let checks = AfterCalls(0.into(), u32::MAX);
        e.gemm_checked(&mut panels, &x, &w, 32, &checks).unwrap();
        assert_eq!(
            checks.0.into_inner(),
            4,
            "one check per panel of 32, 32, 32, 4"
        );
        for (p, q) in whole.iter().zip(&panels) {
            assert!((p - q).abs() <= 1e-4 * (1.0 + p.abs()), "{p} vs {q}");
        }
        // A stop between panels leaves the rest of the product undone.
        let mut part = vec![0.0f32; n * n];
        assert!(e
            .gemm_checked(&mut part, &x, &w, 32, &AfterCalls(0.into(), 1))
            .is_err());
        assert!(part[..32 * n].iter().any(|v| *v != 0.0));
        assert!(part[32 * n..].iter().all(|v| *v == 0.0));
    }

    #[test]
    fn large_buffers_are_freed_after_the_job_and_small_ones_kept() {
        let mut e = CpuEngine::new(2).unwrap();
        let small = Job {
            size: 64,
            iterations: 1,
            seed: 1,
        };
        e.run(&small, &NeverStop).unwrap();
        assert_eq!(e.x.capacity(), 64 * 64);
        // 4 matrices of 2100² floats: above RETAIN_BYTES.
        let large = Job {
            size: 2100,
            iterations: 1,
            seed: 1,
        };
        const { assert!(4 * 2100 * 2100 * 4 > RETAIN_BYTES) };
        e.run(&large, &AfterCalls(0.into(), 1)).unwrap_err();
        assert_eq!(
            (
                e.x.capacity(),
                e.w.capacity(),
                e.a.capacity(),
                e.b.capacity()
            ),
            (0, 0, 0, 0)
        );
        // And the engine still computes afterwards.
        let again = e.run(&small, &NeverStop).unwrap().checksum;
        let want = CpuEngine::new(2).unwrap().run(&small, &NeverStop).unwrap();
        assert_eq!(again.to_bits(), want.checksum.to_bits());
    }
}
