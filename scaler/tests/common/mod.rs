//! Builders shared by the integration tests.
#![allow(dead_code)]

use scaler::{Observation, PodObservation, PodPhase};

/// A Running pod, started at t = −1000 and Ready since t = −990 (so older
/// than the CPU initialization period at any t ≥ −700), requesting 100 m of
/// CPU, with no metric of any kind.
pub fn pod(name: &str) -> PodObservation {
    PodObservation {
        ready: Some(true),
        ready_transition_time: Some(-990.0),
        start_time: Some(-1000.0),
        cpu_request_m: Some(100),
        ..PodObservation::bare(name, PodPhase::Running)
    }
}

/// Chained setters on a pod.
pub trait PodExt: Sized {
    /// CPU usage, millicores.
    fn usage(self, m: u64) -> Self;
    /// CPU request, millicores.
    fn request(self, m: u64) -> Self;
    /// Some container has no CPU request.
    fn no_request(self) -> Self;
    /// `status.startTime`; `None`: unscheduled.
    fn started(self, t: Option<f64>) -> Self;
    /// Ready condition True since `t`.
    fn ready_since(self, t: f64) -> Self;
    /// Ready condition False since `t`.
    fn not_ready_since(self, t: f64) -> Self;
    /// No Ready condition at all.
    fn no_ready_condition(self) -> Self;
    /// Pod phase.
    fn phase(self, phase: PodPhase) -> Self;
    /// Timestamp and window of the CPU sample.
    fn metric(self, timestamp: f64, window: f64) -> Self;
    /// GPU utilisation, percent.
    fn gpu(self, pct: f64) -> Self;
    /// Mean latency, ms.
    fn latency(self, ms: f64) -> Self;
    /// Requests in flight.
    fn in_flight(self, n: u32) -> Self;
}

impl PodExt for PodObservation {
    fn usage(mut self, m: u64) -> Self {
        self.cpu_usage_m = Some(m);
        self
    }
    fn request(mut self, m: u64) -> Self {
        self.cpu_request_m = Some(m);
        self
    }
    fn no_request(mut self) -> Self {
        self.cpu_request_m = None;
        self
    }
    fn started(mut self, t: Option<f64>) -> Self {
        self.start_time = t;
        self
    }
    fn ready_since(mut self, t: f64) -> Self {
        self.ready = Some(true);
        self.ready_transition_time = Some(t);
        self
    }
    fn not_ready_since(mut self, t: f64) -> Self {
        self.ready = Some(false);
        self.ready_transition_time = Some(t);
        self
    }
    fn no_ready_condition(mut self) -> Self {
        self.ready = None;
        self.ready_transition_time = None;
        self
    }
    fn phase(mut self, phase: PodPhase) -> Self {
        self.phase = phase;
        self
    }
    fn metric(mut self, timestamp: f64, window: f64) -> Self {
        self.metric_timestamp = Some(timestamp);
        self.metric_window = Some(window);
        self
    }
    fn gpu(mut self, pct: f64) -> Self {
        self.gpu_utilization = Some(pct);
        self
    }
    fn latency(mut self, ms: f64) -> Self {
        self.avg_latency_ms = Some(ms);
        self
    }
    fn in_flight(mut self, n: u32) -> Self {
        self.in_flight = Some(n);
        self
    }
}

/// An observation.
pub fn obs(time: f64, spec_replicas: u32, pods: Vec<PodObservation>) -> Observation {
    Observation {
        time,
        spec_replicas,
        pods,
    }
}
