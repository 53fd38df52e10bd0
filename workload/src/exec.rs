//! A fixed set of worker threads behind a bounded queue.
//!
//! Each worker owns one [`Engine`] (its buffers, and on the GPU its stream
//! and cuBLAS handle). [`Executor::submit`] never blocks: a full queue is an
//! immediate [`Rejected::QueueFull`], which the server turns into 503 with
//! `Retry-After`. A job whose deadline has passed, or whose client has gone,
//! is stopped before it starts or while it runs (the engine checks between
//! GEMM panels on the CPU, between iterations on the GPU). The client's
//! going is seen through the reply channel: the server's handler holds its
//! receiving end, and dropping the handler (the connection closed) closes
//! it.
//!
//! Working memory is admitted by a [`MemoryBudget`]: a job is queued only
//! with a [`Reservation`] of its matrices' bytes, which is given back when
//! the worker is done with it (the engine has freed its large buffers by
//! then).

use crate::compute::{BackendKind, ComputeError, Engine, Job, Output, StopCheck};
use crate::metrics::{Metrics, Outcome};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A finished job as the worker reports it.
#[derive(Debug)]
pub struct Done {
    /// The engine's result.
    pub result: Result<Output, ComputeError>,
    /// Time spent in the queue.
    pub queue_wait: Duration,
}

/// Why a job was not queued.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// Every worker is busy and the queue is full.
    #[error("queue full")]
    QueueFull,
    /// The executor is shutting down.
    #[error("executor closed")]
    Closed,
}

/// Bytes of working memory a job holds in this process's memory: on the
/// CPU its [`crate::compute::WORKING_SET_MATRICES`] n×n float32 matrices;
/// on the GPU they live on the device and the host holds a few KiB, counted
/// as nothing.
pub fn host_working_bytes(kind: BackendKind, job: &Job) -> u64 {
    match kind {
        BackendKind::Cpu => {
            let n = u64::from(job.size);
            u64::from(crate::compute::WORKING_SET_MATRICES)
                .saturating_mul(n)
                .saturating_mul(n)
                .saturating_mul(std::mem::size_of::<f32>() as u64)
        }
        BackendKind::Gpu => 0,
    }
}

/// Why memory could not be reserved.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoMemory {
    /// More than the whole budget: it can never be admitted.
    #[error("{needed} bytes needed, more than the budget of {budget} bytes")]
    NeverFits {
        /// Bytes asked for.
        needed: u64,
        /// The whole budget.
        budget: u64,
    },
    /// Not now: other requests hold too much of the budget.
    #[error("{needed} bytes needed, {reserved} of {budget} bytes reserved")]
    Busy {
        /// Bytes asked for.
        needed: u64,
        /// Bytes reserved by others.
        reserved: u64,
        /// The whole budget.
        budget: u64,
    },
}

/// A global budget of working memory, bytes.
pub struct MemoryBudget {
    total: u64,
    reserved: Mutex<u64>,
    metrics: Arc<Metrics>,
}

impl MemoryBudget {
    /// A budget of `total` bytes, reported in `metrics`.
    pub fn new(total: u64, metrics: Arc<Metrics>) -> Arc<MemoryBudget> {
        metrics.set_memory(total, 0);
        Arc::new(MemoryBudget {
            total,
            reserved: Mutex::new(0),
            metrics,
        })
    }

    /// Reserves `bytes`, or says why not; never waits.
    pub fn try_reserve(self: &Arc<Self>, bytes: u64) -> Result<Reservation, NoMemory> {
        if bytes > self.total {
            return Err(NoMemory::NeverFits {
                needed: bytes,
                budget: self.total,
            });
        }
        let mut reserved = self.reserved.lock().unwrap_or_else(|e| e.into_inner());
        if *reserved + bytes > self.total {
            return Err(NoMemory::Busy {
                needed: bytes,
                reserved: *reserved,
                budget: self.total,
            });
        }
        *reserved += bytes;
        self.metrics.set_memory(self.total, *reserved);
        Ok(Reservation {
            budget: self.clone(),
            bytes,
        })
    }

    /// The whole budget, bytes.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Bytes reserved now.
    pub fn reserved(&self) -> u64 {
        *self.reserved.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Reserved working memory, given back when dropped.
pub struct Reservation {
    budget: Arc<MemoryBudget>,
    bytes: u64,
}

impl Reservation {
    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let b = &self.budget;
        let mut reserved = b.reserved.lock().unwrap_or_else(|e| e.into_inner());
        *reserved = reserved.saturating_sub(self.bytes);
        b.metrics.set_memory(b.total, *reserved);
    }
}

struct Task {
    job: Job,
    enqueued: Instant,
    deadline: Instant,
    reply: oneshot::Sender<Done>,
    /// Held until the worker is done with the job.
    memory: Reservation,
}

struct TaskStop<'a> {
    deadline: Instant,
    reply: &'a oneshot::Sender<Done>,
}

impl StopCheck for TaskStop<'_> {
    fn should_stop(&self) -> bool {
        Instant::now() >= self.deadline || self.reply.is_closed()
    }
}

/// The worker pool.
pub struct Executor {
    tx: Mutex<Option<SyncSender<Task>>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    metrics: Arc<Metrics>,
    capacity: usize,
    worker_count: usize,
}

impl Executor {
    /// Starts one worker thread per engine behind a queue holding at most
    /// `capacity` waiting jobs.
    pub fn start(
        engines: Vec<Box<dyn Engine>>,
        capacity: usize,
        metrics: Arc<Metrics>,
    ) -> Executor {
        let (tx, rx) = sync_channel::<Task>(capacity);
        let rx = Arc::new(Mutex::new(rx));
        let worker_count = engines.len();
        let workers = engines
            .into_iter()
            .enumerate()
            .map(|(i, engine)| {
                let rx = rx.clone();
                let metrics = metrics.clone();
                std::thread::Builder::new()
                    .name(format!("worker-{i}"))
                    .spawn(move || worker(engine, &rx, &metrics))
            })
            .filter_map(Result::ok)
            .collect();
        Executor {
            tx: Mutex::new(Some(tx)),
            workers: Mutex::new(workers),
            metrics,
            capacity,
            worker_count,
        }
    }

    /// Queues `job` with its memory reservation, to be stopped if still
    /// running at `deadline` or when the returned receiver is dropped.
    pub fn submit(
        &self,
        job: Job,
        memory: Reservation,
        now: Instant,
        deadline: Instant,
    ) -> Result<oneshot::Receiver<Done>, Rejected> {
        let (reply, rx) = oneshot::channel();
        let guard = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        let tx = guard.as_ref().ok_or(Rejected::Closed)?;
        self.metrics.enqueued();
        let task = Task {
            job,
            enqueued: now,
            deadline,
            reply,
            memory,
        };
        match tx.try_send(task) {
            Ok(()) => Ok(rx),
            Err(e) => {
                self.metrics.unqueued();
                Err(match e {
                    TrySendError::Full(_) => Rejected::QueueFull,
                    TrySendError::Disconnected(_) => Rejected::Closed,
                })
            }
        }
    }

    /// Stops taking jobs; workers finish what is queued, then exit.
    pub fn close(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// Waits for the workers to exit (after [`Executor::close`]).
    pub fn join(&self) {
        let handles: Vec<_> = self
            .workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        for h in handles {
            let _ = h.join();
        }
    }

    /// Queue capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Worker threads.
    pub fn workers(&self) -> usize {
        self.worker_count
    }
}

fn worker(mut engine: Box<dyn Engine>, rx: &Mutex<Receiver<Task>>, metrics: &Metrics) {
    loop {
        let task = {
            let rx = rx.lock().unwrap_or_else(|e| e.into_inner());
            match rx.recv() {
                Ok(t) => t,
                Err(_) => return,
            }
        };
        let start = Instant::now();
        let queue_wait = start.saturating_duration_since(task.enqueued);
        metrics.started(start, queue_wait);
        let stop = TaskStop {
            deadline: task.deadline,
            reply: &task.reply,
        };
        let result = engine.run(&task.job, &stop);
        drop(task.memory);
        let now = Instant::now();
        // Stopped because the client left (the handler counts deadlines).
        if matches!(result, Err(ComputeError::Stopped { .. }))
            && task.reply.is_closed()
            && now < task.deadline
        {
            metrics.count(Outcome::Cancelled);
        }
        // Last, so that a free worker means all of the above is visible.
        metrics.finished(now);
        // The receiver may have gone (deadline or client left): nothing to do.
        let _ = task.reply.send(Done { result, queue_wait });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_budget_admits_what_fits_and_takes_it_back() {
        let metrics = Arc::new(Metrics::new(Duration::from_secs(10)));
        let b = MemoryBudget::new(100, metrics);
        assert_eq!(
            b.try_reserve(101).err(),
            Some(NoMemory::NeverFits {
                needed: 101,
                budget: 100
            })
        );
        let r1 = b.try_reserve(60).unwrap();
        assert_eq!(
            b.try_reserve(41).err(),
            Some(NoMemory::Busy {
                needed: 41,
                reserved: 60,
                budget: 100
            })
        );
        let r2 = b.try_reserve(40).unwrap();
        assert_eq!((b.reserved(), r1.bytes() + r2.bytes()), (100, 100));
        drop(r1);
        assert_eq!(b.reserved(), 40);
        drop(r2);
        assert_eq!(b.reserved(), 0);
        assert!(b.try_reserve(100).is_ok());
    }

    #[test]
    fn cpu_jobs_hold_four_matrices_and_gpu_jobs_none() {
        let job = Job {
            size: 8192,
            iterations: 1,
            seed: 0,
        };
        assert_eq!(host_working_bytes(BackendKind::Cpu, &job), 1 << 30);
        assert_eq!(host_working_bytes(BackendKind::Gpu, &job), 0);
    }
}
