//! A fixed set of worker threads behind a bounded queue.
//!
//! Each worker owns one [`Engine`] (its buffers, and on the GPU its stream
//! and cuBLAS handle). [`Executor::submit`] never blocks: a full queue is an
//! immediate [`Rejected::QueueFull`], which the server turns into 503 with
//! `Retry-After`. A job whose deadline has passed, or whose client has gone,
//! is stopped before it starts or between iterations.

use crate::compute::{ComputeError, Engine, Job, Output, StopCheck};
use crate::metrics::Metrics;
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

struct Task {
    job: Job,
    enqueued: Instant,
    deadline: Instant,
    reply: oneshot::Sender<Done>,
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

    /// Queues `job`, to be stopped if still running at `deadline`.
    pub fn submit(
        &self,
        job: Job,
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
        metrics.finished(Instant::now());
        // The receiver may have gone (deadline or client left): nothing to do.
        let _ = task.reply.send(Done { result, queue_wait });
    }
}
