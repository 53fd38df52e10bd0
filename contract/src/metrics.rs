//! `/metrics.json`: the document a workload pod serves for the GPU-aware
//! policy, written by `workload serve` and read by `scaler run`, the local
//! backend and the k8s backend.

use serde::{Deserialize, Serialize};

/// Where a pod's `gpu_utilization` comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UtilizationSource {
    /// NVML's device-wide utilisation.
    Nvml,
    /// The service's own share of the last second with a request computing
    /// (no GPU, or NVML unavailable).
    DeviceBusy,
    /// A name this version does not know (a newer or another exporter):
    /// the value is still read, its source recorded as `other`.
    #[serde(other)]
    Other,
}

impl UtilizationSource {
    /// The serialised name (`nvml`, `device-busy`).
    pub const fn as_str(self) -> &'static str {
        match self {
            UtilizationSource::Nvml => "nvml",
            UtilizationSource::DeviceBusy => "device-busy",
            UtilizationSource::Other => "other",
        }
    }
}

/// The `/metrics.json` document. A reader takes the fields an older
/// workload did not write at their defaults; the required ones are those
/// every policy needs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PodMetrics {
    /// Device-wide GPU utilisation over the last sample, percent.
    pub gpu_utilization: f64,
    /// Where `gpu_utilization` comes from.
    #[serde(default)]
    pub gpu_utilization_source: Option<UtilizationSource>,
    /// Mean end-to-end latency (queue + compute) of the requests completed
    /// in the last `latency_window_s`, ms; 0 when none completed.
    pub avg_latency_ms: f64,
    /// The latency window, seconds.
    #[serde(default)]
    pub latency_window_s: f64,
    /// Requests completed in the window.
    #[serde(default)]
    pub window_requests: u64,
    /// Requests in the service: being computed plus queued.
    pub concurrent_requests: u64,
    /// Requests being computed.
    #[serde(default)]
    pub in_flight: u64,
    /// Requests waiting for a worker.
    #[serde(default)]
    pub queued: u64,
    /// Share of the last second with at least one request computing, 0–1.
    #[serde(default)]
    pub device_busy_ratio: f64,
    /// The compute backend: `gpu`, `cpu`, or `none` before one is open.
    #[serde(default)]
    pub backend: String,
    /// Whether the service accepts work.
    #[serde(default)]
    pub ready: bool,
}

impl PodMetrics {
    /// Parses a body; `None` when it is not JSON, a required field is
    /// missing, or the GPU utilisation or latency is not a finite number.
    pub fn parse(body: &[u8]) -> Option<PodMetrics> {
        let m: PodMetrics = serde_json::from_slice(body).ok()?;
        (m.gpu_utilization.is_finite() && m.avg_latency_ms.is_finite()).then_some(m)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn what_the_workload_writes_reads_back_and_an_older_document_still_reads() {
        let m = PodMetrics {
            gpu_utilization: 42.5,
            gpu_utilization_source: Some(UtilizationSource::DeviceBusy),
            avg_latency_ms: 120.0,
            latency_window_s: 10.0,
            window_requests: 7,
            concurrent_requests: 3,
            in_flight: 2,
            queued: 1,
            device_busy_ratio: 0.425,
            backend: "cpu".into(),
            ready: true,
        };
        let body = serde_json::to_vec(&m).unwrap();
        assert_eq!(PodMetrics::parse(&body), Some(m));
        let text = String::from_utf8(body).unwrap();
        assert!(
            text.contains(r#""gpu_utilization_source":"device-busy""#),
            "{text}"
        );
        let old = br#"{"gpu_utilization": 10, "avg_latency_ms": 5, "concurrent_requests": 1}"#;
        let m = PodMetrics::parse(old).unwrap();
        assert_eq!((m.gpu_utilization_source, m.window_requests), (None, 0));
        let other = br#"{"gpu_utilization": 10, "gpu_utilization_source": "dcgm", "avg_latency_ms": 5, "concurrent_requests": 1}"#;
        let m = PodMetrics::parse(other).unwrap();
        assert_eq!(m.gpu_utilization_source, Some(UtilizationSource::Other));
        assert_eq!(PodMetrics::parse(br#"{"gpu_utilization": 10}"#), None);
        assert_eq!(PodMetrics::parse(b"not json"), None);
    }
}
