//! The service's measurements: request outcomes and durations, queue and
//! in-flight gauges, device-busy time, a latency window for the GPU-aware
//! scaler, GPU readings, and their Prometheus text and JSON forms.
//!
//! Every time-dependent method takes `now`, so tests drive the clock.

use crate::nvml::GpuReading;
use contract::UtilizationSource;
use serde::Serialize;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How a request ended; the `outcome` label of `workload_requests_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Computed and answered 200.
    Ok,
    /// Rejected by validation (4xx).
    Invalid,
    /// The queue was full (503).
    QueueFull,
    /// The service was shutting down (503).
    Draining,
    /// The backend was still initialising (503).
    NotReady,
    /// The deadline passed (504).
    Timeout,
    /// The device ran out of memory (503).
    OutOfMemory,
    /// Any other device failure (500).
    DeviceError,
    /// The memory budget had no room for the request's matrices yet (503).
    MemoryBusy,
    /// The client went away and its job was stopped (no answer).
    Cancelled,
}

impl Outcome {
    /// Every outcome, in label order.
    pub const ALL: [Outcome; 10] = [
        Outcome::Ok,
        Outcome::Invalid,
        Outcome::QueueFull,
        Outcome::Draining,
        Outcome::NotReady,
        Outcome::Timeout,
        Outcome::OutOfMemory,
        Outcome::DeviceError,
        Outcome::MemoryBusy,
        Outcome::Cancelled,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Invalid => "invalid",
            Outcome::QueueFull => "queue_full",
            Outcome::Draining => "draining",
            Outcome::NotReady => "not_ready",
            Outcome::Timeout => "timeout",
            Outcome::OutOfMemory => "out_of_memory",
            Outcome::DeviceError => "device_error",
            Outcome::MemoryBusy => "memory_busy",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// Upper bounds of the request-duration histogram, seconds.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; DURATION_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        for (b, c) in DURATION_BUCKETS.iter().zip(self.counts.iter_mut()) {
            if v <= *b {
                *c += 1;
            }
        }
        self.count += 1;
        self.sum += v;
    }
}

#[derive(Default)]
struct Busy {
    active: u32,
    since: Option<Instant>,
    total: Duration,
}

impl Busy {
    fn total_at(&self, now: Instant) -> Duration {
        self.total
            + self
                .since
                .map(|s| now.saturating_duration_since(s))
                .unwrap_or_default()
    }
}

/// Static facts about the service shown in `/metrics` and `/metrics.json`.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceInfo {
    /// `gpu` or `cpu`.
    pub backend: &'static str,
    /// Device name (GPU model, or the CPU's description).
    pub device: String,
    /// GPU UUID, if on a GPU.
    pub gpu_uuid: Option<String>,
    /// The CUDA wait mode (`none` on the CPU backend).
    pub wait_mode: &'static str,
    /// Worker threads (requests computed at once).
    pub workers: usize,
    /// Queue capacity.
    pub queue_capacity: usize,
    /// Why the GPU backend is not in use, if it is not.
    pub gpu_fallback_reason: Option<String>,
}

/// The `/metrics.json` document: what the GPU-aware scaler reads (the
/// readers' own type).
pub use contract::PodMetrics;

/// Why the server closed a connection without an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionClose {
    /// More connections were open than allowed; closed on arrival.
    OverLimit,
    /// No byte arrived within the idle time-out.
    Idle,
    /// A request head was not complete within the header time-out.
    HeaderTimeout,
}

impl ConnectionClose {
    /// Every reason, in label order.
    pub const ALL: [ConnectionClose; 3] = [
        ConnectionClose::OverLimit,
        ConnectionClose::Idle,
        ConnectionClose::HeaderTimeout,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionClose::OverLimit => "over_limit",
            ConnectionClose::Idle => "idle",
            ConnectionClose::HeaderTimeout => "header_timeout",
        }
    }
}

/// Shared measurement state.
pub struct Metrics {
    requests: [AtomicU64; Outcome::ALL.len()],
    in_flight: AtomicU64,
    queued: AtomicU64,
    open_connections: AtomicU64,
    closed_connections: [AtomicU64; ConnectionClose::ALL.len()],
    memory_budget: AtomicU64,
    memory_reserved: AtomicU64,
    inner: Mutex<Inner>,
    latency_window: Duration,
}

struct Inner {
    duration: Histogram,
    queue_wait: Histogram,
    busy: Busy,
    /// (completion time, end-to-end latency s)
    window: VecDeque<(Instant, f64)>,
    /// (sample time, busy total) every sampler tick, for the busy ratio.
    busy_samples: VecDeque<(Instant, Duration)>,
    gpu: Option<GpuReading>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Metrics {
    /// Empty metrics with a latency window of `latency_window`.
    pub fn new(latency_window: Duration) -> Metrics {
        Metrics {
            requests: Default::default(),
            in_flight: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            open_connections: AtomicU64::new(0),
            closed_connections: Default::default(),
            memory_budget: AtomicU64::new(0),
            memory_reserved: AtomicU64::new(0),
            inner: Mutex::new(Inner {
                duration: Histogram::default(),
                queue_wait: Histogram::default(),
                busy: Busy::default(),
                window: VecDeque::new(),
                busy_samples: VecDeque::new(),
                gpu: None,
            }),
            latency_window,
        }
    }

    /// Counts a request's outcome.
    pub fn count(&self, outcome: Outcome) {
        let i = Outcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or_default();
        self.requests[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Requests counted with `outcome` so far.
    pub fn requests(&self, outcome: Outcome) -> u64 {
        let i = Outcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or_default();
        self.requests[i].load(Ordering::Relaxed)
    }

    /// A connection was accepted (and is served).
    pub fn connection_opened(&self) {
        self.open_connections.fetch_add(1, Ordering::SeqCst);
    }

    /// A served connection ended.
    pub fn connection_ended(&self) {
        self.open_connections.fetch_sub(1, Ordering::SeqCst);
    }

    /// The server closed a connection without an answer, for `why`.
    pub fn connection_closed(&self, why: ConnectionClose) {
        let i = ConnectionClose::ALL
            .iter()
            .position(|c| *c == why)
            .unwrap_or_default();
        self.closed_connections[i].fetch_add(1, Ordering::SeqCst);
    }

    /// Connections open and served now.
    pub fn open_connections(&self) -> u64 {
        self.open_connections.load(Ordering::SeqCst)
    }

    /// Connections the server closed without an answer, for `why`.
    pub fn closed_connections(&self, why: ConnectionClose) -> u64 {
        let i = ConnectionClose::ALL
            .iter()
            .position(|c| *c == why)
            .unwrap_or_default();
        self.closed_connections[i].load(Ordering::SeqCst)
    }

    /// Records the memory budget and how much of it is reserved, bytes.
    pub fn set_memory(&self, budget: u64, reserved: u64) {
        self.memory_budget.store(budget, Ordering::SeqCst);
        self.memory_reserved.store(reserved, Ordering::SeqCst);
    }

    /// A request entered the queue.
    pub fn enqueued(&self) {
        self.queued.fetch_add(1, Ordering::SeqCst);
    }

    /// A request left the queue without being started (rejected).
    pub fn unqueued(&self) {
        self.queued.fetch_sub(1, Ordering::SeqCst);
    }

    /// A worker took a request from the queue and starts computing.
    pub fn started(&self, now: Instant, queue_wait: Duration) {
        self.queued.fetch_sub(1, Ordering::SeqCst);
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let mut g = lock(&self.inner);
        g.queue_wait.observe(queue_wait.as_secs_f64());
        if g.busy.active == 0 {
            g.busy.since = Some(now);
        }
        g.busy.active += 1;
    }

    /// A worker finished computing (successfully or not).
    pub fn finished(&self, now: Instant) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let mut g = lock(&self.inner);
        g.busy.active = g.busy.active.saturating_sub(1);
        if g.busy.active == 0 {
            if let Some(s) = g.busy.since.take() {
                g.busy.total += now.saturating_duration_since(s);
            }
        }
    }

    /// A request completed with 200 after `latency` end to end.
    pub fn completed(&self, now: Instant, latency: Duration) {
        let mut g = lock(&self.inner);
        g.duration.observe(latency.as_secs_f64());
        g.window.push_back((now, latency.as_secs_f64()));
        let cutoff = now.checked_sub(self.latency_window);
        while g
            .window
            .front()
            .is_some_and(|(t, _)| cutoff.is_some_and(|c| *t < c))
        {
            g.window.pop_front();
        }
    }

    /// Requests being computed.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Requests waiting in the queue.
    pub fn queued(&self) -> u64 {
        self.queued.load(Ordering::SeqCst)
    }

    /// The sampler's tick: records the busy total and the latest GPU
    /// reading (if any).
    pub fn sample(&self, now: Instant, gpu: Option<GpuReading>) {
        let mut g = lock(&self.inner);
        let total = g.busy.total_at(now);
        g.busy_samples.push_back((now, total));
        let keep = Duration::from_secs(3);
        while g.busy_samples.len() > 2
            && g.busy_samples
                .front()
                .is_some_and(|(t, _)| now.saturating_duration_since(*t) > keep)
        {
            g.busy_samples.pop_front();
        }
        if gpu.is_some() {
            g.gpu = gpu;
        }
    }

    /// Seconds during which at least one request was being computed.
    pub fn busy_seconds(&self, now: Instant) -> f64 {
        lock(&self.inner).busy.total_at(now).as_secs_f64()
    }

    /// The scaler's view at `now`.
    pub fn scaler_view(&self, now: Instant, info: &ServiceInfo, ready: bool) -> PodMetrics {
        let g = lock(&self.inner);
        let cutoff = now.checked_sub(self.latency_window);
        let recent: Vec<f64> = g
            .window
            .iter()
            .filter(|(t, _)| cutoff.is_none_or(|c| *t >= c))
            .map(|(_, l)| *l)
            .collect();
        let avg_latency_ms = if recent.is_empty() {
            0.0
        } else {
            1000.0 * recent.iter().sum::<f64>() / recent.len() as f64
        };
        let busy_now = g.busy.total_at(now);
        // Over the last second, like NVML's sample period: from the newest
        // sampler tick at least a second old (or the oldest there is).
        let reference = g
            .busy_samples
            .iter()
            .rev()
            .find(|(t, _)| now.saturating_duration_since(*t) >= Duration::from_secs(1))
            .or(g.busy_samples.front());
        let busy_ratio = match reference {
            Some((t0, b0)) if now > *t0 => {
                let dt = now.saturating_duration_since(*t0).as_secs_f64();
                ((busy_now.saturating_sub(*b0)).as_secs_f64() / dt).clamp(0.0, 1.0)
            }
            _ => {
                if g.busy.active > 0 {
                    1.0
                } else {
                    0.0
                }
            }
        };
        let (gpu_utilization, source) = match g.gpu.as_ref().and_then(|r| r.utilization_pct) {
            Some(u) => (f64::from(u), UtilizationSource::Nvml),
            None => (100.0 * busy_ratio, UtilizationSource::DeviceBusy),
        };
        let in_flight = self.in_flight();
        let queued = self.queued();
        PodMetrics {
            gpu_utilization,
            gpu_utilization_source: Some(source),
            avg_latency_ms,
            latency_window_s: self.latency_window.as_secs_f64(),
            window_requests: recent.len() as u64,
            concurrent_requests: in_flight + queued,
            in_flight,
            queued,
            device_busy_ratio: busy_ratio,
            backend: info.backend.to_string(),
            ready,
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn prometheus(&self, now: Instant, info: &ServiceInfo, ready: bool, cpu_s: f64) -> String {
        let mut o = String::with_capacity(4096);
        let g = lock(&self.inner);
        header(
            &mut o,
            "workload_info",
            "gauge",
            "Backend, device and CUDA wait mode of this service (always 1).",
        );
        let _ = writeln!(
            o,
            "workload_info{{backend=\"{}\",device=\"{}\",wait_mode=\"{}\",workers=\"{}\"}} 1",
            info.backend,
            escape(&info.device),
            info.wait_mode,
            info.workers
        );
        scalar(
            &mut o,
            ("workload_ready", "gauge"),
            "1 when the device is initialised and the service accepts work.",
            u8::from(ready),
        );
        header(
            &mut o,
            "workload_requests_total",
            "counter",
            "Compute requests by outcome.",
        );
        for (i, outcome) in Outcome::ALL.iter().enumerate() {
            let _ = writeln!(
                o,
                "workload_requests_total{{outcome=\"{}\"}} {}",
                outcome.as_str(),
                self.requests[i].load(Ordering::Relaxed)
            );
        }
        histogram(
            &mut o,
            "workload_request_duration_seconds",
            "End-to-end time of successful compute requests (queue + compute).",
            &g.duration,
        );
        histogram(
            &mut o,
            "workload_queue_wait_seconds",
            "Time requests waited for a worker.",
            &g.queue_wait,
        );
        scalar(
            &mut o,
            ("workload_in_flight_requests", "gauge"),
            "Requests being computed.",
            self.in_flight(),
        );
        scalar(
            &mut o,
            ("workload_queued_requests", "gauge"),
            "Requests waiting for a worker.",
            self.queued(),
        );
        scalar(
            &mut o,
            ("workload_queue_capacity", "gauge"),
            "Most requests that may wait.",
            info.queue_capacity,
        );
        scalar(
            &mut o,
            ("workload_memory_budget_bytes", "gauge"),
            "Working memory that requests' matrices may hold in this process.",
            self.memory_budget.load(Ordering::SeqCst),
        );
        scalar(
            &mut o,
            ("workload_memory_reserved_bytes", "gauge"),
            "Working memory reserved by queued and running requests (GPU backend: none).",
            self.memory_reserved.load(Ordering::SeqCst),
        );
        scalar(
            &mut o,
            ("workload_open_connections", "gauge"),
            "HTTP connections open and served.",
            self.open_connections(),
        );
        header(
            &mut o,
            "workload_connections_closed_total",
            "counter",
            "Connections the server closed without an answer, by reason.",
        );
        for (i, why) in ConnectionClose::ALL.iter().enumerate() {
            let _ = writeln!(
                o,
                "workload_connections_closed_total{{reason=\"{}\"}} {}",
                why.as_str(),
                self.closed_connections[i].load(Ordering::SeqCst)
            );
        }
        scalar(
            &mut o,
            ("workload_device_busy_seconds_total", "counter"),
            "Seconds during which at least one request was being computed.",
            float(g.busy.total_at(now).as_secs_f64()),
        );
        scalar(
            &mut o,
            ("process_cpu_seconds_total", "counter"),
            "User and system CPU time of this process.",
            float(cpu_s),
        );
        if let Some(r) = &g.gpu {
            gpu_families(&mut o, r);
        }
        o
    }
}

/// The NVML families of the service's GPU, labelled with its UUID and name.
fn gpu_families(o: &mut String, r: &GpuReading) {
    let l = format!(
        "gpu_uuid=\"{}\",gpu_name=\"{}\"",
        escape(&r.uuid),
        escape(&r.name)
    );
    let gauges: [(&str, &str, Option<f64>); 4] = [
        ("workload_gpu_utilization_ratio", "NVML GPU utilisation: share of the last sample period with a kernel running (device-wide).", r.utilization_pct.map(|u| f64::from(u) / 100.0)),
        ("workload_gpu_memory_used_bytes", "NVML device memory used (device-wide).", r.memory_used_bytes.map(|v| v as f64)),
        ("workload_gpu_memory_total_bytes", "NVML device memory total.", r.memory_total_bytes.map(|v| v as f64)),
        ("workload_gpu_power_watts", "NVML board power draw.", r.power_w),
    ];
    for (name, help, v) in gauges {
        if let Some(v) = v {
            header(o, name, "gauge", help);
            let _ = writeln!(o, "{name}{{{l}}} {}", float(v));
        }
    }
    if let Some(e) = r.energy_j {
        header(
            o,
            "workload_gpu_energy_joules_total",
            "counter",
            "NVML energy since the driver loaded.",
        );
        let _ = writeln!(o, "workload_gpu_energy_joules_total{{{l}}} {}", float(e));
    }
}

/// One family with one unlabelled sample: `(name, kind)`, help, value.
fn scalar(o: &mut String, (name, kind): (&str, &str), help: &str, value: impl std::fmt::Display) {
    header(o, name, kind, help);
    let _ = writeln!(o, "{name} {value}");
}

fn header(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {help}");
    let _ = writeln!(o, "# TYPE {name} {kind}");
}

fn histogram(o: &mut String, name: &str, help: &str, h: &Histogram) {
    header(o, name, "histogram", help);
    for (b, c) in DURATION_BUCKETS.iter().zip(h.counts.iter()) {
        let _ = writeln!(o, "{name}_bucket{{le=\"{}\"}} {c}", float(*b));
    }
    let _ = writeln!(o, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(o, "{name}_sum {}", float(h.sum));
    let _ = writeln!(o, "{name}_count {}", h.count);
}

/// A float as Prometheus writes it (Go's shortest form; non-finite as
/// `NaN`, `+Inf`, `-Inf`).
fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

/// Escapes a label value: backslash, double quote and newline.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> ServiceInfo {
        ServiceInfo {
            backend: "cpu",
            device: "test \"cpu\"".into(),
            gpu_uuid: None,
            wait_mode: "none",
            workers: 1,
            queue_capacity: 4,
            gpu_fallback_reason: None,
        }
    }

    #[test]
    fn latency_window_drops_old_requests() {
        let m = Metrics::new(Duration::from_secs(10));
        let t0 = Instant::now();
        m.completed(t0, Duration::from_millis(100));
        m.completed(t0 + Duration::from_secs(5), Duration::from_millis(300));
        let v = m.scaler_view(t0 + Duration::from_secs(6), &info(), true);
        assert_eq!(v.window_requests, 2);
        assert!((v.avg_latency_ms - 200.0).abs() < 1e-9);
        let v = m.scaler_view(t0 + Duration::from_secs(12), &info(), true);
        assert_eq!(v.window_requests, 1);
        assert!((v.avg_latency_ms - 300.0).abs() < 1e-9);
        let v = m.scaler_view(t0 + Duration::from_secs(30), &info(), true);
        assert_eq!((v.window_requests, v.avg_latency_ms), (0, 0.0));
    }

    #[test]
    fn busy_ratio_counts_overlapping_work_once() {
        let m = Metrics::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let s = |x: f64| t0 + Duration::from_secs_f64(x);
        m.sample(t0, None);
        m.enqueued();
        m.enqueued();
        m.started(s(1.0), Duration::ZERO);
        m.started(s(2.0), Duration::ZERO);
        m.finished(s(3.0));
        m.finished(s(5.0));
        // Busy from 1 to 5: 4 s of the 10 s since the first sample.
        assert!((m.busy_seconds(s(10.0)) - 4.0).abs() < 1e-9);
        let v = m.scaler_view(s(10.0), &info(), true);
        assert!((v.device_busy_ratio - 0.4).abs() < 1e-9);
        assert_eq!(
            v.gpu_utilization_source,
            Some(UtilizationSource::DeviceBusy)
        );
        assert!((v.gpu_utilization - 40.0).abs() < 1e-9);
    }

    #[test]
    fn prometheus_text_has_every_family_and_escapes_labels() {
        let m = Metrics::new(Duration::from_secs(10));
        let t0 = Instant::now();
        m.count(Outcome::Ok);
        m.count(Outcome::Cancelled);
        m.completed(t0, Duration::from_millis(30));
        m.set_memory(3 << 30, 1 << 30);
        m.connection_opened();
        m.connection_closed(ConnectionClose::Idle);
        let text = m.prometheus(t0, &info(), true, 1.5);
        for family in [
            "workload_info{",
            "workload_requests_total{outcome=\"ok\"} 1",
            "workload_request_duration_seconds_bucket{le=\"0.05\"} 1",
            "workload_request_duration_seconds_bucket{le=\"0.025\"} 0",
            "workload_request_duration_seconds_count 1",
            "workload_in_flight_requests 0",
            "workload_queued_requests 0",
            "process_cpu_seconds_total 1.5",
            "workload_requests_total{outcome=\"cancelled\"} 1",
            "workload_requests_total{outcome=\"memory_busy\"} 0",
            "workload_memory_budget_bytes 3221225472",
            "workload_memory_reserved_bytes 1073741824",
            "workload_open_connections 1",
            "workload_connections_closed_total{reason=\"idle\"} 1",
            "workload_connections_closed_total{reason=\"header_timeout\"} 0",
            "device=\"test \\\"cpu\\\"\"",
        ] {
            assert!(text.contains(family), "missing {family} in\n{text}");
        }
    }
}
