//! What every backend shares in running a trial. `control`: the control
//! step and its records; `observe`: a tick's observation from pod
//! timelines, by the rules `scaler run` applies to a cluster's pods;
//! `sampler`: the real backends' per-second rows and progress line; `signal`: the signal pipelines between the pods and the
//! policy (metrics-server's CPU stage); `timeline`: the per-pod timeline
//! pod records and states come from.

pub mod control;
pub mod observe;
pub mod sampler;
pub mod signal;
pub mod timeline;

use crate::record::{Outcome, RequestRecord, TrialRecords};

/// Per-second offered/completed/failed counts and per-pod completions,
/// from the request records (the real backends count them after the load
/// has ended).
pub fn fill_counts(out: &mut TrialRecords, requests: &[RequestRecord]) {
    let second = |t: f64| t.ceil().max(1.0) as usize;
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
            if let Some(ps) = out
                .pod_samples
                .iter_mut()
                .find(|ps| Some(ps.pod) == r.pod && ps.t_s == fin as f64)
            {
                ps.completed += 1;
            }
        }
    }
}
