//! The signals a policy reads from its pods. Each policy declares them
//! ([`crate::Policy::signals`]), so that a runner knows which pipelines
//! stand between the pods and the policy and can record them with the
//! trial.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One per-pod signal a policy reads, with the [`crate::PodObservation`]
/// field that carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// CPU usage in millicores as metrics-server reports it
    /// (`cpu_usage_m`, with `metric_timestamp` and `metric_window`).
    CpuUsage,
    /// Device-wide GPU utilisation, percent (`gpu_utilization`).
    GpuUtilization,
    /// Requests in the pod now, queued or running (`in_flight`).
    InFlight,
    /// The pod's mean latency over its latency window (`avg_latency_ms`).
    AvgLatency,
    /// Device-wide GPU utilisation as a cluster's metrics pipeline holds
    /// it: the DCGM exporter's latest collection, as Prometheus last
    /// scraped it, served by prometheus-adapter at each sync
    /// (`gpu_utilization`).
    ExportedGpuUtilization,
    /// Requests in the pod as Prometheus last scraped the pod's gauge,
    /// for a query at each sync (`in_flight`).
    ScrapedInFlight,
}

impl Signal {
    /// Every signal, in a fixed order.
    pub const ALL: [Signal; 6] = [
        Signal::CpuUsage,
        Signal::GpuUtilization,
        Signal::InFlight,
        Signal::AvgLatency,
        Signal::ExportedGpuUtilization,
        Signal::ScrapedInFlight,
    ];

    /// Whether a runner reads it from the pod's own `/metrics.json` at the
    /// tick (a pod that gives no usable answer then holds the tick, see
    /// [`crate::control::plan`]); CPU comes from metrics-server, the
    /// exported GPU utilisation and the scraped in-flight count from the
    /// cluster's metrics pipeline.
    pub const fn from_pod_endpoint(self) -> bool {
        matches!(
            self,
            Signal::GpuUtilization | Signal::InFlight | Signal::AvgLatency
        )
    }

    /// The name stored in the dataset (`trial_signals.signal`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Signal::CpuUsage => "cpu_usage",
            Signal::GpuUtilization => "gpu_utilization",
            Signal::InFlight => "in_flight",
            Signal::AvgLatency => "avg_latency",
            Signal::ExportedGpuUtilization => "exported_gpu_utilization",
            Signal::ScrapedInFlight => "scraped_in_flight",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn stored_names_are_the_serde_names() {
        for s in Signal::ALL {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
    }
}
