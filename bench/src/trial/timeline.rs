//! The neutral per-pod timeline every real backend fills: when a pod was
//! created, scheduled, started, ready, deleted and gone, in the backend's
//! own clock (`Instant` on this machine, Unix seconds on a cluster). Pod
//! records and the per-second pod states come from it, the same way on
//! every backend.

use std::time::Instant;

use crate::record::PodRecord;
use crate::trial::sampler::PodNow;

/// A backend's clock: seconds between two of its readings.
pub trait TrialTime: Copy {
    /// Seconds from `t0` to `self` (negative before `t0`).
    fn secs_from(self, t0: Self) -> f64;
}

impl TrialTime for Instant {
    fn secs_from(self, t0: Instant) -> f64 {
        if self >= t0 {
            self.duration_since(t0).as_secs_f64()
        } else {
            -t0.duration_since(self).as_secs_f64()
        }
    }
}

/// Unix seconds.
impl TrialTime for f64 {
    fn secs_from(self, t0: f64) -> f64 {
        self - t0
    }
}

/// One pod's life as a backend saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct PodTimeline<T> {
    /// Number within the trial, in order of first sight.
    pub num: u32,
    /// Pod name.
    pub name: String,
    /// Node, once scheduled.
    pub node: Option<String>,
    /// Created.
    pub created: T,
    /// Bound to a node.
    pub scheduled: Option<T>,
    /// Its container (the latest incarnation) started.
    pub started: Option<T>,
    /// Ready first observed.
    pub ready: Option<T>,
    /// Deletion requested.
    pub deleted: Option<T>,
    /// Gone: the process exited, or the pod object went away or finished.
    pub exited: Option<T>,
    /// Container restarts.
    pub restarts: u32,
    /// Takes traffic now: ready, not being deleted, not gone.
    pub serving: bool,
}

impl<T: TrialTime> PodTimeline<T> {
    /// A pod first seen (or created) at `created`.
    pub fn new(num: u32, name: String, created: T) -> Self {
        PodTimeline {
            num,
            name,
            node: None,
            created,
            scheduled: None,
            started: None,
            ready: None,
            deleted: None,
            exited: None,
            restarts: 0,
            serving: false,
        }
    }

    /// Not gone yet.
    pub fn live(&self) -> bool {
        self.exited.is_none()
    }

    /// Where it stands now, for the sampler.
    pub fn now(&self) -> PodNow {
        PodNow::of(self)
    }

    /// Ready observed at `t` (the first time counts); serving unless being
    /// deleted or gone.
    pub fn mark_ready(&mut self, t: T) {
        self.ready.get_or_insert(t);
        self.serving = self.deleted.is_none() && self.exited.is_none();
    }

    /// Deletion requested at `t` (the first request counts).
    pub fn mark_deleted(&mut self, t: T) {
        self.deleted.get_or_insert(t);
        self.serving = false;
    }

    /// Gone at `t` (the first sighting counts).
    pub fn mark_exited(&mut self, t: T) {
        self.exited.get_or_insert(t);
        self.serving = false;
    }

    /// The pod's row in `pods`, seconds from the trial's start `t0`.
    pub fn record(&self, t0: T, gpu: Option<u32>, probe_phase_s: Option<f64>) -> PodRecord {
        let s = |t: Option<T>| t.map(|t| t.secs_from(t0));
        PodRecord {
            pod: self.num,
            name: self.name.clone(),
            node: self.node.clone(),
            gpu,
            created_s: self.created.secs_from(t0),
            scheduled_s: s(self.scheduled),
            started_s: s(self.started),
            ready_s: s(self.ready),
            deleted_s: s(self.deleted),
            exited_s: s(self.exited),
            restarts: self.restarts,
            probe_phase_s,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn states_follow_the_marks() {
        let mut p = PodTimeline::new(3, "p".into(), 10.0);
        assert_eq!(p.now(), PodNow::Pending);
        p.scheduled = Some(10.5);
        assert_eq!(p.now(), PodNow::Starting);
        p.started = Some(11.0);
        assert_eq!(p.now(), PodNow::Initializing);
        p.mark_ready(12.0);
        assert_eq!(p.now(), PodNow::Running);
        p.mark_ready(13.0);
        assert_eq!(p.ready, Some(12.0), "the first ready counts");
        p.mark_deleted(14.0);
        assert_eq!(p.now(), PodNow::Terminating);
        p.mark_ready(15.0);
        assert!(!p.serving, "a pod being deleted takes no traffic");
        p.mark_exited(16.0);
        assert!(!p.live());
        assert_eq!(p.now(), PodNow::Exited);
        let r = p.record(12.5, Some(1), Some(0.25));
        assert_eq!((r.pod, r.gpu, r.probe_phase_s), (3, Some(1), Some(0.25)));
        assert_eq!(r.created_s, -2.5);
        assert_eq!(r.scheduled_s, Some(-2.0));
        assert_eq!(
            (r.started_s, r.ready_s, r.deleted_s, r.exited_s),
            (Some(-1.5), Some(-0.5), Some(1.5), Some(3.5))
        );
    }

    #[test]
    fn instants_count_both_ways_from_the_start() {
        let t0 = Instant::now();
        let later = t0 + std::time::Duration::from_millis(1500);
        assert_eq!(later.secs_from(t0), 1.5);
        assert_eq!(t0.secs_from(later), -1.5);
    }
}
