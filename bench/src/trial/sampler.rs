//! The per-second sampler of the real backends (local and k8s).
//!
//! Each second a backend reads what it can (each pod's state, its CPU and
//! its `/metrics.json`, and one GPU reading) and hands the readings to
//! [`Sampler::second`], which writes the `samples`, `pod_samples` and
//! `gpu_samples` rows and returns the figures of the live progress line. The
//! backends differ only in how they read: the local backend from its own
//! processes, the k8s backend from the API server and the pods' proxies.
//!
//! Rules, the same on both backends:
//! * a pod's GPU utilisation, in-flight and queued requests and latency
//!   come from its `/metrics.json` only while it is serving (ready and not
//!   being deleted); a pod without a reading counts 0 requests;
//! * CPU without a reading counts 0 cores; every pod in the readings counts
//!   its CPU request towards the requested total;
//! * GPU contexts are the pods whose container has started and not exited
//!   (starting, serving, terminating);
//! * energy is counted from the first GPU reading of the trial; a second
//!   without a GPU reading keeps the last value (the counter did not go
//!   back), and writes no GPU row.

use scaler::cluster::PodMetrics;

use crate::record::{GpuSample, PodSample, Sample, TrialRecords};

/// Where a pod stands in the second it is sampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodNow {
    /// Created, its container not started.
    Pending,
    /// Container started, not ready yet.
    Starting,
    /// Ready and not being deleted: it takes traffic.
    Serving,
    /// Being deleted, not exited yet.
    Terminating,
}

impl PodNow {
    /// A pod's state from what a backend knows of it: being deleted, ready
    /// (and so serving unless being deleted), its container started.
    pub fn of(deleted: bool, ready: bool, started: bool) -> PodNow {
        if deleted {
            PodNow::Terminating
        } else if ready {
            PodNow::Serving
        } else if started {
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
            PodNow::Serving => "running",
            PodNow::Terminating => "terminating",
        }
    }
}

/// One pod's readings in one second.
#[derive(Clone, Copy, Debug)]
pub struct PodReading<'a> {
    /// Pod number within the trial.
    pub pod: u32,
    /// Its state.
    pub now: PodNow,
    /// CPU use over the last second, cores; `None` when not read.
    pub cpu_cores: Option<f64>,
    /// Its `/metrics.json`, when it answered (used only while serving).
    pub metrics: Option<&'a PodMetrics>,
}

/// The GPU's readings in one second (`workload_gpu_*` families).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GpuReading {
    /// Memory used, MiB.
    pub mem_used_mib: f64,
    /// Power draw, W.
    pub power_w: f64,
    /// The device's energy counter, J (since the driver loaded).
    pub energy_j: f64,
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
            mem_used_mib: value("workload_gpu_memory_used_bytes")? / 1048576.0,
            power_w: value("workload_gpu_power_watts").unwrap_or(0.0),
            energy_j: value("workload_gpu_energy_joules_total").unwrap_or(0.0),
        })
    }
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
    /// Mean GPU utilisation over the serving pods that reported one, %.
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

/// Rows of one trial, a second at a time.
#[derive(Debug)]
pub struct Sampler {
    cpu_request_m: f64,
    energy0: Option<f64>,
    energy_j: f64,
    gpu_source: Option<contract::UtilizationSource>,
    samples: Vec<Sample>,
    pod_samples: Vec<PodSample>,
    gpu_samples: Vec<GpuSample>,
}

impl Sampler {
    /// A sampler for pods that each request `cpu_request_m` millicores.
    pub fn new(cpu_request_m: f64) -> Sampler {
        Sampler {
            cpu_request_m,
            energy0: None,
            energy_j: 0.0,
            gpu_source: None,
            samples: Vec::new(),
            pod_samples: Vec::new(),
            gpu_samples: Vec::new(),
        }
    }

    /// Records second `t_s` from the pods' readings (in pod order) and the
    /// GPU's, with `desired` replicas asked for.
    pub fn second(
        &mut self,
        t_s: f64,
        desired: u32,
        pods: &[PodReading<'_>],
        gpu: Option<GpuReading>,
    ) -> Second {
        let (mut ready, mut pending, mut terminating, mut contexts) = (0u32, 0u32, 0u32, 0u32);
        let (mut cpu, mut requested) = (0.0, 0.0);
        let (mut util_sum, mut util_max, mut util_n) = (0.0, 0.0f64, 0u32);
        let (mut in_flight, mut queued) = (0u32, 0u32);
        for p in pods {
            match p.now {
                PodNow::Serving => ready += 1,
                PodNow::Pending | PodNow::Starting => pending += 1,
                PodNow::Terminating => terminating += 1,
            }
            if p.now != PodNow::Pending {
                contexts += 1;
            }
            let cores = p.cpu_cores.unwrap_or(0.0);
            cpu += cores;
            requested += self.cpu_request_m / 1000.0;
            let m = p.metrics.filter(|_| p.now == PodNow::Serving);
            let (fl, q) = m.map_or((0, 0), |m| {
                (
                    u32::try_from(m.in_flight).unwrap_or(u32::MAX),
                    u32::try_from(m.queued).unwrap_or(u32::MAX),
                )
            });
            if let Some(m) = m {
                util_sum += m.gpu_utilization;
                util_max = util_max.max(m.gpu_utilization);
                util_n += 1;
                if let Some(source) = m.gpu_utilization_source {
                    self.gpu_source = Some(source);
                }
            }
            in_flight += fl;
            queued += q;
            self.pod_samples.push(PodSample {
                t_s,
                pod: p.pod,
                state: p.now.label(),
                ready: p.now == PodNow::Serving,
                cpu_cores: cores,
                cpu_pct_request: 100.0 * cores * 1000.0 / self.cpu_request_m.max(1.0),
                gpu_util: m.map(|m| m.gpu_utilization),
                in_flight: fl,
                queued: q,
                avg_latency_ms: m.and_then(|m| (m.window_requests > 0).then_some(m.avg_latency_ms)),
                completed: 0,
            });
        }
        if let Some(g) = gpu {
            // NVML counts energy since the driver loaded; the dataset
            // wants it since the trial's first reading.
            let e0 = *self.energy0.get_or_insert(g.energy_j);
            self.energy_j = g.energy_j - e0;
            self.gpu_samples.push(GpuSample {
                t_s,
                gpu: 0,
                util_pct: util_max,
                mem_used_mib: g.mem_used_mib,
                power_w: g.power_w,
                contexts,
            });
        }
        let util_mean = if util_n > 0 {
            util_sum / f64::from(util_n)
        } else {
            0.0
        };
        self.samples.push(Sample {
            t_s,
            desired,
            ready,
            pending,
            terminating,
            gpu_util_mean: util_mean,
            gpu_util_max: util_max,
            gpu_mem_used_mib: gpu.map_or(0.0, |g| g.mem_used_mib),
            gpu_power_w: gpu.map_or(0.0, |g| g.power_w),
            gpu_energy_j: self.energy_j,
            cpu_cores: cpu,
            cpu_pct_request: if requested > 0.0 {
                100.0 * cpu / requested
            } else {
                0.0
            },
            in_flight,
            queued,
            // From the request records at the end (`fill_counts`).
            offered: 0,
            completed: 0,
            failed: 0,
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
            (r.mem_used_mib, r.power_w, r.energy_j),
            (2.0, 123.5, 4567.25)
        );
        // The CPU backend writes no GPU families.
        let cpu =
            "# TYPE workload_requests_total counter\nworkload_requests_total{outcome=\"ok\"} 3\n";
        assert_eq!(GpuReading::from_metrics_text(cpu), None);
    }

    #[test]
    fn a_second_counts_serving_pods_metrics_only_and_every_pods_cpu() {
        let (a, b, c) = (
            metrics(60.0, 2, 1, 3),
            metrics(80.0, 4, 0, 0),
            metrics(99.0, 9, 9, 9),
        );
        let mut s = Sampler::new(500.0);
        let pods = [
            PodReading {
                pod: 0,
                now: PodNow::Serving,
                cpu_cores: Some(0.5),
                metrics: Some(&a),
            },
            PodReading {
                pod: 1,
                now: PodNow::Serving,
                cpu_cores: None,
                metrics: Some(&b),
            },
            // A terminating pod's metrics are not counted, its CPU is.
            PodReading {
                pod: 2,
                now: PodNow::Terminating,
                cpu_cores: Some(0.25),
                metrics: Some(&c),
            },
            PodReading {
                pod: 3,
                now: PodNow::Pending,
                cpu_cores: None,
                metrics: None,
            },
        ];
        let gpu = GpuReading {
            mem_used_mib: 100.0,
            power_w: 50.0,
            energy_j: 1000.0,
        };
        let sec = s.second(1.0, 4, &pods, Some(gpu));
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
        assert_eq!(row.cpu_pct_request, 100.0 * 0.75 / 2.0);
        assert_eq!((row.gpu_util_max, row.gpu_energy_j), (80.0, 0.0));
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
    fn a_pods_state_puts_deletion_before_readiness_before_start() {
        assert_eq!(PodNow::of(true, true, true), PodNow::Terminating);
        assert_eq!(PodNow::of(false, true, true), PodNow::Serving);
        assert_eq!(PodNow::of(false, false, true), PodNow::Starting);
        assert_eq!(PodNow::of(false, false, false), PodNow::Pending);
    }

    #[test]
    fn energy_counts_from_the_first_reading_and_holds_without_one() {
        let mut s = Sampler::new(1000.0);
        let gpu = |e| {
            Some(GpuReading {
                mem_used_mib: 1.0,
                power_w: 2.0,
                energy_j: e,
            })
        };
        s.second(1.0, 1, &[], gpu(5000.0));
        s.second(2.0, 1, &[], gpu(5070.0));
        s.second(3.0, 1, &[], None);
        s.second(4.0, 1, &[], gpu(5200.0));
        let mut out = TrialRecords::default();
        assert_eq!(s.gpu_source(), "unknown");
        s.finish(&mut out);
        let e: Vec<f64> = out.samples.iter().map(|r| r.gpu_energy_j).collect();
        assert_eq!(e, [0.0, 70.0, 70.0, 200.0]);
        assert_eq!(out.gpu_samples.len(), 3);
        assert_eq!(out.samples[2].gpu_power_w, 0.0);
        assert_eq!(out.samples[0].cpu_pct_request, 0.0);
    }
}
