//! The per-second sampler of every backend.
//!
//! Each second a backend hands [`Sampler::second`] what it read or modelled
//! of each pod and each GPU, and the client side's counts; the sampler
//! writes the `samples`, `pod_samples` and `gpu_samples` rows and returns
//! the figures of the live progress line. The backends differ only in what
//! they measure instead of model: the local backend reads its own
//! processes, the k8s backend the API server and the pods' proxies (both
//! through [`PodReading::read`]), the simulator hands over its model's
//! state.
//!
//! Rules, the same on every backend:
//! * a pod's state ([`PodNow`]) decides where it counts: ready pods in
//!   `ready`, pods being deleted in `terminating`, the pods gone within the
//!   last second (they still show their last CPU) nowhere, every other one
//!   in `pending`; a pod counts its CPU request towards the requested total
//!   while it is on a node and not gone;
//! * CPU without a reading counts 0 cores;
//! * a real backend uses a pod's `/metrics.json` (GPU utilisation,
//!   in-flight and queued requests, latency) only while it is serving
//!   (ready and not being deleted); a pod without a reading counts 0
//!   requests;
//! * a GPU's utilisation is its own reading where the backend has one (the
//!   simulator), else the mean of what the serving pods report of it (each
//!   pod reads the device-wide NVML figure at its own instant); `samples`
//!   takes the mean and the maximum over the GPUs, or over the pods'
//!   reports in a second without a GPU reading;
//! * a GPU's CUDA contexts are its own count where the backend has one,
//!   else the pods whose container runs;
//! * energy is counted per GPU from its reading at the trial's start where
//!   the backend has one ([`Sampler::energy_from`]), else from its first
//!   reading; a second without a reading of a GPU keeps its last value
//!   (the counter did not go back) and writes no GPU row for it.

use contract::UtilizationSource;
use scaler::cluster::PodMetrics;

use crate::record::{GpuSample, PodSample, Sample, TrialRecords};
use crate::trial::timeline::{PodTimeline, TrialTime};

/// Where a pod stands in the second it is sampled (`pod_samples.state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodNow {
    /// Created, not on a node yet.
    Pending,
    /// On a node, its container not started.
    Starting,
    /// Its container started, the app not up yet.
    Initializing,
    /// Its container exited; waiting to be restarted.
    BackOff,
    /// The app is up (ready once its readiness was observed).
    Running,
    /// Being deleted, not gone yet.
    Terminating,
    /// Gone within the last second.
    Exited,
}

impl PodNow {
    /// A pod's state from a timeline: gone, being deleted, serving (and so
    /// running), its container started, on a node.
    pub fn of<T: TrialTime>(life: &PodTimeline<T>) -> PodNow {
        if life.exited.is_some() {
            PodNow::Exited
        } else if life.deleted.is_some() {
            PodNow::Terminating
        } else if life.serving {
            PodNow::Running
        } else if life.started.is_some() {
            PodNow::Initializing
        } else if life.scheduled.is_some() {
            PodNow::Starting
        } else {
            PodNow::Pending
        }
    }

    /// The label stored in `pod_samples.state`.
    pub fn label(self) -> &'static str {
        match self {
            PodNow::Pending => "pending",
            PodNow::Starting => "starting",
            PodNow::Initializing => "initializing",
            PodNow::BackOff => "backoff",
            PodNow::Running => "running",
            PodNow::Terminating => "terminating",
            PodNow::Exited => "exited",
        }
    }
}

/// One pod's readings in one second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PodReading {
    /// Pod number within the trial.
    pub pod: u32,
    /// Its state.
    pub now: PodNow,
    /// Ready and not being deleted: it takes traffic.
    pub ready: bool,
    /// Bound to a node (its CPU request counts).
    pub on_node: bool,
    /// Holds a CUDA context: its container runs.
    pub context: bool,
    /// CPU use over the last second, cores; `None` when not read.
    pub cpu_cores: Option<f64>,
    /// The GPU utilisation it reports, %.
    pub gpu_util: Option<f64>,
    /// Where that utilisation comes from, when the pod says.
    pub gpu_source: Option<UtilizationSource>,
    /// Requests computing.
    pub in_flight: u32,
    /// Requests queued.
    pub queued: u32,
    /// Mean latency of its own window, ms, when the window holds requests.
    pub avg_latency_ms: Option<f64>,
    /// Requests it finished in the second (the real backends fill this in
    /// from the request records at the end: [`crate::trial::fill_counts`]).
    pub completed: u32,
}

impl PodReading {
    /// A pod as a real backend reads it: its timeline, its CPU and its
    /// `/metrics.json` answer, used only while it serves.
    pub fn read<T: TrialTime>(
        life: &PodTimeline<T>,
        cpu_cores: Option<f64>,
        metrics: Option<&PodMetrics>,
    ) -> PodReading {
        let m = metrics.filter(|_| life.serving);
        let count = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        PodReading {
            pod: life.num,
            now: PodNow::of(life),
            ready: life.serving,
            on_node: life.scheduled.is_some(),
            context: life.started.is_some() && life.exited.is_none(),
            cpu_cores,
            gpu_util: m.map(|m| m.gpu_utilization),
            gpu_source: m.and_then(|m| m.gpu_utilization_source),
            in_flight: m.map_or(0, |m| count(m.in_flight)),
            queued: m.map_or(0, |m| count(m.queued)),
            avg_latency_ms: m.and_then(|m| (m.window_requests > 0).then_some(m.avg_latency_ms)),
            completed: 0,
        }
    }
}

/// One GPU's readings in one second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GpuReading {
    /// Its utilisation, %, where the backend reads the device itself.
    pub util_pct: Option<f64>,
    /// Memory used, MiB.
    pub mem_used_mib: f64,
    /// Power draw, W.
    pub power_w: f64,
    /// The device's energy counter, J.
    pub energy_j: f64,
    /// CUDA contexts on it, where the backend knows them per device.
    pub contexts: Option<u32>,
}

impl GpuReading {
    /// GPU memory (MiB), power (W) and energy (J) from a workload's
    /// `/metrics` text (Prometheus exposition format, read with the
    /// `prometheus-parse` crate): the `workload_gpu_*` families, `None`
    /// without a memory reading (no GPU) or when the text does not parse.
    pub fn from_metrics_text(text: &str) -> Option<GpuReading> {
        let scrape =
            prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).ok()?;
        let value = |family: &str| -> Option<f64> {
            scrape
                .samples
                .iter()
                .find(|s| s.metric == family)
                .and_then(|s| match s.value {
                    prometheus_parse::Value::Gauge(v)
                    | prometheus_parse::Value::Counter(v)
                    | prometheus_parse::Value::Untyped(v) => Some(v),
                    _ => None,
                })
        };
        Some(GpuReading {
            util_pct: None,
            mem_used_mib: value("workload_gpu_memory_used_bytes")? / 1048576.0,
            power_w: value("workload_gpu_power_watts").unwrap_or(0.0),
            energy_j: value("workload_gpu_energy_joules_total").unwrap_or(0.0),
            contexts: None,
        })
    }
}

/// What the client side saw in one second: requests waiting for a ready
/// endpoint, and the requests sent, finished and failed in the second.
/// The real backends leave the counts at 0 and fill them in from the
/// request records at the end ([`crate::trial::fill_counts`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientSecond {
    /// Requests waiting for an endpoint (counted as queued).
    pub waiting: u32,
    /// Requests sent.
    pub offered: u32,
    /// Requests answered.
    pub completed: u32,
    /// Requests failed.
    pub failed: u32,
}

/// The figures of one second, for the live progress line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Second {
    /// End of the second, seconds since the trial start.
    pub t_s: f64,
    /// Replicas the controller asks for.
    pub desired: u32,
    /// Serving pods.
    pub ready: u32,
    /// Mean GPU utilisation, % (`samples.gpu_util_mean`).
    pub util_mean: f64,
    /// CPU use of all pods, cores.
    pub cpu_cores: f64,
    /// Requests computing.
    pub in_flight: u32,
    /// Requests queued.
    pub queued: u32,
}

impl Second {
    /// The live progress line, with the client's p95 latency over its last
    /// 10 s when there is one.
    pub fn progress_line(&self, p95_ms: Option<f64>) -> String {
        let p95 = p95_ms.map_or("-".to_string(), |p| format!("{p:.0} ms"));
        format!(
            "t={:>3}s replicas {}/{} util {:>3.0}% cpu {:.2} cores in-flight {} queued {} p95(10 s) {p95}",
            self.t_s, self.ready, self.desired, self.util_mean, self.cpu_cores, self.in_flight, self.queued
        )
    }
}

/// One GPU's energy counter: its reading at the origin, and its latest.
#[derive(Clone, Copy, Debug)]
struct Energy {
    origin: f64,
    last: f64,
}

/// Rows of one trial, a second at a time.
#[derive(Debug)]
pub struct Sampler {
    cpu_request_m: f64,
    /// Per GPU, once read (or given an origin).
    energy: Vec<Option<Energy>>,
    gpu_source: Option<UtilizationSource>,
    samples: Vec<Sample>,
    pod_samples: Vec<PodSample>,
    gpu_samples: Vec<GpuSample>,
}

impl Sampler {
    /// A sampler for pods that each request `cpu_request_m` millicores.
    pub fn new(cpu_request_m: f64) -> Sampler {
        Sampler {
            cpu_request_m,
            energy: Vec::new(),
            gpu_source: None,
            samples: Vec::new(),
            pod_samples: Vec::new(),
            gpu_samples: Vec::new(),
        }
    }

    /// Counts each GPU's energy from `origin` (its counter at the trial's
    /// start, in GPU order) instead of from its first reading.
    pub fn energy_from(mut self, origin: &[f64]) -> Sampler {
        self.energy = origin
            .iter()
            .map(|&e| Some(Energy { origin: e, last: e }))
            .collect();
        self
    }

    /// Records second `t_s` from the pods' readings (in pod order), the
    /// GPUs' (in GPU order; the first GPU alone where a backend reads one)
    /// and the client side's, with `desired` replicas asked for.
    pub fn second(
        &mut self,
        t_s: f64,
        desired: u32,
        pods: &[PodReading],
        gpus: &[GpuReading],
        client: ClientSecond,
    ) -> Second {
        // The pods' own reports of GPU utilisation, and their contexts.
        let (mut pod_util_sum, mut pod_util_max, mut pod_util_n) = (0.0, 0.0f64, 0u32);
        let mut contexts = 0u32;
        for p in pods {
            if let Some(u) = p.gpu_util {
                pod_util_sum += u;
                pod_util_max = pod_util_max.max(u);
                pod_util_n += 1;
                if let Some(source) = p.gpu_source {
                    self.gpu_source = Some(source);
                }
            }
            contexts += u32::from(p.context);
        }
        let pod_util_mean = if pod_util_n > 0 {
            pod_util_sum / f64::from(pod_util_n)
        } else {
            0.0
        };

        let (mut util_sum, mut util_max, mut mem, mut power) = (0.0, 0.0f64, 0.0, 0.0);
        if self.energy.len() < gpus.len() {
            self.energy.resize(gpus.len(), None);
        }
        for (i, g) in gpus.iter().enumerate() {
            let util = g.util_pct.unwrap_or(pod_util_mean);
            util_sum += util;
            util_max = util_max.max(util);
            mem += g.mem_used_mib;
            power += g.power_w;
            let e = self.energy[i].get_or_insert(Energy {
                origin: g.energy_j,
                last: g.energy_j,
            });
            e.last = g.energy_j;
            self.gpu_samples.push(GpuSample {
                t_s,
                gpu: i as u32,
                util_pct: util,
                mem_used_mib: g.mem_used_mib,
                power_w: g.power_w,
                contexts: g.contexts.unwrap_or(contexts),
            });
        }
        let energy = self
            .energy
            .iter()
            .flatten()
            .fold(0.0, |sum, e| sum + (e.last - e.origin));
        let (util_mean, util_max) = if gpus.is_empty() {
            (pod_util_mean, pod_util_max)
        } else {
            (util_sum / gpus.len() as f64, util_max)
        };

        let req_m = self.cpu_request_m;
        let pct_of = |cores: f64, requested_m: f64| {
            if requested_m > 0.0 {
                cores * 1000.0 / requested_m * 100.0
            } else {
                0.0
            }
        };
        let (mut cpu, mut requested) = (0.0, 0.0);
        let (mut in_flight, mut queued) = (0u32, client.waiting);
        let (mut ready, mut pending, mut terminating) = (0u32, 0u32, 0u32);
        for p in pods {
            if p.ready {
                ready += 1;
            } else {
                match p.now {
                    PodNow::Terminating => terminating += 1,
                    PodNow::Exited => {}
                    _ => pending += 1,
                }
            }
            if p.now != PodNow::Exited && p.on_node {
                requested += req_m;
            }
            let cores = p.cpu_cores.unwrap_or(0.0);
            cpu += cores;
            in_flight += p.in_flight;
            queued += p.queued;
            self.pod_samples.push(PodSample {
                t_s,
                pod: p.pod,
                state: p.now.label(),
                ready: p.ready,
                cpu_cores: cores,
                cpu_pct_request: pct_of(cores, req_m),
                gpu_util: p.gpu_util,
                in_flight: p.in_flight,
                queued: p.queued,
                avg_latency_ms: p.avg_latency_ms,
                completed: p.completed,
            });
        }
        self.samples.push(Sample {
            t_s,
            desired,
            ready,
            pending,
            terminating,
            gpu_util_mean: util_mean,
            gpu_util_max: util_max,
            gpu_mem_used_mib: mem,
            gpu_power_w: power,
            gpu_energy_j: energy,
            cpu_cores: cpu,
            cpu_pct_request: pct_of(cpu, requested),
            in_flight,
            queued,
            offered: client.offered,
            completed: client.completed,
            failed: client.failed,
        });
        Second {
            t_s,
            desired,
            ready,
            util_mean,
            cpu_cores: cpu,
            in_flight,
            queued,
        }
    }

    /// The GPU utilisation source the pods reported last (`nvml`,
    /// `device-busy`), `unknown` when none did.
    pub fn gpu_source(&self) -> &str {
        self.gpu_source.map_or("unknown", |s| s.as_str())
    }

    /// Moves the rows into `out`.
    pub fn finish(self, out: &mut TrialRecords) {
        out.samples = self.samples;
        out.pod_samples = self.pod_samples;
        out.gpu_samples = self.gpu_samples;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn metrics(util: f64, in_flight: u64, queued: u64, window: u64) -> PodMetrics {
        PodMetrics {
            gpu_utilization: util,
            gpu_utilization_source: Some(contract::UtilizationSource::Nvml),
            avg_latency_ms: 40.0,
            window_requests: window,
            concurrent_requests: in_flight + queued,
            in_flight,
            queued,
            ..Default::default()
        }
    }

    /// A pod on a node since 0 s, started at 1 s.
    fn life(num: u32) -> PodTimeline<f64> {
        let mut l = PodTimeline::new(num, format!("p{num}"), 0.0);
        l.scheduled = Some(0.0);
        l.started = Some(1.0);
        l
    }

    fn gpu(energy_j: f64) -> GpuReading {
        GpuReading {
            util_pct: None,
            mem_used_mib: 1.0,
            power_w: 2.0,
            energy_j,
            contexts: None,
        }
    }

    #[test]
    fn gpu_families_are_read_from_the_exposition_text() {
        let text = "# HELP workload_gpu_memory_used_bytes NVML device memory used (device-wide).\n\
            # TYPE workload_gpu_memory_used_bytes gauge\n\
            workload_gpu_memory_used_bytes{gpu=\"GPU-1\",model=\"NVIDIA H200\"} 2097152\n\
            # HELP workload_gpu_memory_total_bytes NVML device memory total.\n\
            # TYPE workload_gpu_memory_total_bytes gauge\n\
            workload_gpu_memory_total_bytes{gpu=\"GPU-1\",model=\"NVIDIA H200\"} 9.9e10\n\
            # TYPE workload_gpu_power_watts gauge\n\
            workload_gpu_power_watts{gpu=\"GPU-1\",model=\"NVIDIA H200\"} 123.5\n\
            # TYPE workload_gpu_energy_joules_total counter\n\
            workload_gpu_energy_joules_total{gpu=\"GPU-1\",model=\"NVIDIA H200\"} 4567.25\n";
        let r = GpuReading::from_metrics_text(text).unwrap();
        assert_eq!(
            (
                r.mem_used_mib,
                r.power_w,
                r.energy_j,
                r.util_pct,
                r.contexts
            ),
            (2.0, 123.5, 4567.25, None, None)
        );
        // The CPU backend writes no GPU families.
        let cpu =
            "# TYPE workload_requests_total counter\nworkload_requests_total{outcome=\"ok\"} 3\n";
        assert_eq!(GpuReading::from_metrics_text(cpu), None);
    }

    #[test]
    fn a_real_backend_counts_serving_pods_metrics_only_and_every_pods_cpu() {
        let (a, b, c) = (
            metrics(60.0, 2, 1, 3),
            metrics(80.0, 4, 0, 0),
            metrics(99.0, 9, 9, 9),
        );
        let mut s = Sampler::new(500.0);
        let (mut la, mut lb, mut lc) = (life(0), life(1), life(2));
        la.mark_ready(2.0);
        lb.mark_ready(2.0);
        lc.mark_ready(2.0);
        lc.mark_deleted(3.0);
        let ld = PodTimeline::new(3, "p3".into(), 0.5);
        let pods = [
            PodReading::read(&la, Some(0.5), Some(&a)),
            PodReading::read(&lb, None, Some(&b)),
            // A terminating pod's metrics are not counted, its CPU is.
            PodReading::read(&lc, Some(0.25), Some(&c)),
            // Not on a node: no CPU request counted.
            PodReading::read(&ld, None, None),
        ];
        let sec = s.second(1.0, 4, &pods, &[gpu(1000.0)], ClientSecond::default());
        assert_eq!(
            sec,
            Second {
                t_s: 1.0,
                desired: 4,
                ready: 2,
                util_mean: 70.0,
                cpu_cores: 0.75,
                in_flight: 6,
                queued: 1
            }
        );
        assert_eq!(
            sec.progress_line(Some(123.4)),
            "t=  1s replicas 2/4 util  70% cpu 0.75 cores in-flight 6 queued 1 p95(10 s) 123 ms"
        );
        let mut out = TrialRecords::default();
        let source = s.gpu_source().to_string();
        s.finish(&mut out);
        assert_eq!(source, "nvml");
        let row = &out.samples[0];
        assert_eq!((row.ready, row.pending, row.terminating), (2, 1, 1));
        assert_eq!(row.cpu_pct_request, 0.75 * 1000.0 / 1500.0 * 100.0);
        // The one GPU's utilisation is the mean of the serving pods' reports.
        assert_eq!((row.gpu_util_mean, row.gpu_util_max), (70.0, 70.0));
        assert_eq!(row.gpu_energy_j, 0.0);
        assert_eq!(out.gpu_samples[0].util_pct, 70.0);
        assert_eq!(out.gpu_samples[0].contexts, 3);
        let states: Vec<_> = out
            .pod_samples
            .iter()
            .map(|p| (p.state, p.ready, p.in_flight, p.avg_latency_ms))
            .collect();
        assert_eq!(
            states,
            [
                ("running", true, 2, Some(40.0)),
                ("running", true, 4, None),
                ("terminating", false, 0, None),
                ("pending", false, 0, None)
            ]
        );
    }

    #[test]
    fn without_a_gpu_reading_the_pods_reports_give_mean_and_max() {
        let (a, b) = (metrics(60.0, 0, 0, 0), metrics(80.0, 0, 0, 0));
        let (mut la, mut lb) = (life(0), life(1));
        la.mark_ready(1.0);
        lb.mark_ready(1.0);
        let mut s = Sampler::new(1000.0);
        let pods = [
            PodReading::read(&la, None, Some(&a)),
            PodReading::read(&lb, None, Some(&b)),
        ];
        s.second(1.0, 2, &pods, &[], ClientSecond::default());
        let mut out = TrialRecords::default();
        s.finish(&mut out);
        assert_eq!(
            (out.samples[0].gpu_util_mean, out.samples[0].gpu_util_max),
            (70.0, 80.0)
        );
        assert!(out.gpu_samples.is_empty());
    }

    #[test]
    fn energy_counts_from_the_first_reading_and_holds_without_one() {
        let mut s = Sampler::new(1000.0);
        let none = ClientSecond::default();
        s.second(1.0, 1, &[], &[gpu(5000.0)], none);
        s.second(2.0, 1, &[], &[gpu(5070.0)], none);
        s.second(3.0, 1, &[], &[], none);
        s.second(4.0, 1, &[], &[gpu(5200.0)], none);
        let mut out = TrialRecords::default();
        assert_eq!(s.gpu_source(), "unknown");
        s.finish(&mut out);
        let e: Vec<f64> = out.samples.iter().map(|r| r.gpu_energy_j).collect();
        assert_eq!(e, [0.0, 70.0, 70.0, 200.0]);
        assert_eq!(out.gpu_samples.len(), 3);
        assert_eq!(out.samples[2].gpu_power_w, 0.0);
        assert_eq!(out.samples[0].cpu_pct_request, 0.0);
    }

    #[test]
    fn modelled_devices_give_their_own_utilisation_contexts_and_energy_origin() {
        // Two GPUs whose counters started at 0 with the trial; a pod that
        // waits for an endpoint counts as queued; the client's counts pass
        // through; a pod gone within the second counts nowhere.
        let mut s = Sampler::new(250.0).energy_from(&[0.0, 0.0]);
        let dev = |util, energy_j, contexts| GpuReading {
            util_pct: Some(util),
            mem_used_mib: 10.0,
            power_w: 5.0,
            energy_j,
            contexts: Some(contexts),
        };
        let pod = |pod, now, ready| PodReading {
            pod,
            now,
            ready,
            on_node: true,
            context: true,
            cpu_cores: Some(0.5),
            gpu_util: None,
            gpu_source: None,
            in_flight: 1,
            queued: 2,
            avg_latency_ms: None,
            completed: 3,
        };
        let pods = [
            pod(0, PodNow::Running, true),
            // Up, its readiness not observed yet.
            pod(1, PodNow::Running, false),
            pod(2, PodNow::BackOff, false),
            pod(3, PodNow::Exited, false),
        ];
        let client = ClientSecond {
            waiting: 4,
            offered: 9,
            completed: 8,
            failed: 1,
        };
        let sec = s.second(
            1.0,
            3,
            &pods,
            &[dev(30.0, 12.0, 2), dev(90.0, 20.0, 1)],
            client,
        );
        assert_eq!((sec.ready, sec.util_mean, sec.queued), (1, 60.0, 4 + 4 * 2));
        let mut out = TrialRecords::default();
        s.finish(&mut out);
        let row = &out.samples[0];
        assert_eq!((row.ready, row.pending, row.terminating), (1, 2, 0));
        assert_eq!((row.offered, row.completed, row.failed), (9, 8, 1));
        assert_eq!((row.gpu_util_max, row.gpu_energy_j), (90.0, 32.0));
        assert_eq!((row.gpu_mem_used_mib, row.gpu_power_w), (20.0, 10.0));
        assert_eq!(row.cpu_pct_request, 2.0 * 1000.0 / 750.0 * 100.0);
        let g: Vec<_> = out
            .gpu_samples
            .iter()
            .map(|g| (g.gpu, g.contexts))
            .collect();
        assert_eq!(g, [(0, 2), (1, 1)]);
        assert_eq!(out.pod_samples[3].state, "exited");
        assert_eq!(out.pod_samples[2].completed, 3);
    }
}
