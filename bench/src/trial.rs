//! What every backend shares in running a trial. `control`: the control
//! step and its records; `observe`: a tick's observation from pod
//! timelines, by the rules `scaler run` applies to a cluster's pods;
//! `sampler`: the real backends' per-second rows and progress line;
//! `signal`: the signal pipelines between the pods and the policy
//! (metrics-server's CPU stage); `timeline`: the per-pod timeline pod
//! records and states come from.

pub mod control;
pub mod observe;
pub mod sampler;
pub mod signal;
pub mod timeline;

use std::collections::HashMap;

use crate::record::{Outcome, RequestRecord, TrialRecords};

/// Per-second offered/completed/failed counts and per-pod completions,
/// from the request records (the real backends count them after the load
/// has ended).
pub fn fill_counts(out: &mut TrialRecords, requests: &[RequestRecord]) {
    let second = |t: f64| t.ceil().max(1.0) as usize;
    // Each pod's row of each second, found once (the first, should a
    // second appear twice).
    let mut pod_rows: HashMap<(u32, u64), usize> = HashMap::with_capacity(out.pod_samples.len());
    for (i, ps) in out.pod_samples.iter().enumerate() {
        pod_rows.entry((ps.pod, ps.t_s.to_bits())).or_insert(i);
    }
    for r in requests {
        let sent = second(r.sent_s);
        if let Some(s) = out.samples.get_mut(sent - 1) {
            s.offered += 1;
        }
        let fin = second(r.finished_s);
        if let Some(s) = out.samples.get_mut(fin - 1) {
            if r.outcome == Outcome::Ok {
                s.completed += 1;
            } else {
                s.failed += 1;
            }
        }
        if r.outcome == Outcome::Ok {
            let row = r
                .pod
                .and_then(|pod| pod_rows.get(&(pod, (fin as f64).to_bits())));
            if let Some(&i) = row {
                out.pod_samples[i].completed += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::record::{PodSample, Sample};

    fn sample(t_s: f64) -> Sample {
        Sample {
            t_s,
            desired: 1,
            ready: 1,
            pending: 0,
            terminating: 0,
            gpu_util_mean: 0.0,
            gpu_util_max: 0.0,
            gpu_mem_used_mib: 0.0,
            gpu_power_w: 0.0,
            gpu_energy_j: 0.0,
            cpu_cores: 0.0,
            cpu_pct_request: 0.0,
            in_flight: 0,
            queued: 0,
            offered: 0,
            completed: 0,
            failed: 0,
        }
    }

    fn pod_sample(t_s: f64, pod: u32) -> PodSample {
        PodSample {
            t_s,
            pod,
            state: "running",
            ready: true,
            cpu_cores: 0.0,
            cpu_pct_request: 0.0,
            gpu_util: None,
            in_flight: 0,
            queued: 0,
            avg_latency_ms: None,
            completed: 0,
        }
    }

    fn request(sent_s: f64, finished_s: f64, pod: Option<u32>, outcome: Outcome) -> RequestRecord {
        RequestRecord {
            id: 0,
            user: None,
            user_seq: None,
            scheduled_s: sent_s,
            sent_s,
            started_s: None,
            finished_s,
            pod,
            size: 1,
            iterations: 1,
            outcome,
            latency_ms: (finished_s - sent_s) * 1e3,
        }
    }

    #[test]
    fn counts_land_in_the_second_they_happened_and_on_the_pod_that_answered() {
        let mut out = TrialRecords {
            samples: (1..=3).map(|t| sample(f64::from(t))).collect(),
            pod_samples: (1..=3)
                .flat_map(|t| [pod_sample(f64::from(t), 0), pod_sample(f64::from(t), 1)])
                .collect(),
            ..TrialRecords::default()
        };
        let requests = [
            // Sent in second 1 (t in (0, 1]), answered by pod 1 in second 2.
            request(0.2, 1.5, Some(1), Outcome::Ok),
            // Sent at exactly 1.0: second 1; answered by pod 0 in second 3.
            request(1.0, 2.7, Some(0), Outcome::Ok),
            // Failed in second 3: counted there, on no pod.
            request(2.1, 2.9, Some(0), Outcome::Timeout),
            // No endpoint: offered and failed, on no pod.
            request(2.5, 2.5, None, Outcome::NoEndpoint),
            // Answered after the last second: offered only.
            request(2.8, 3.4, Some(1), Outcome::Ok),
        ];
        fill_counts(&mut out, &requests);
        let per_second: Vec<(u32, u32, u32)> = out
            .samples
            .iter()
            .map(|s| (s.offered, s.completed, s.failed))
            .collect();
        assert_eq!(per_second, vec![(2, 0, 0), (0, 1, 0), (3, 1, 2)]);
        let per_pod: Vec<(f64, u32, u32)> = out
            .pod_samples
            .iter()
            .filter(|p| p.completed > 0)
            .map(|p| (p.t_s, p.pod, p.completed))
            .collect();
        assert_eq!(per_pod, vec![(2.0, 1, 1), (3.0, 0, 1)]);
    }
}
