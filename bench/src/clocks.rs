//! The phases of a trial's periodic clocks.
//!
//! On a real cluster nothing lines the controller's sync loop,
//! metrics-server's scrapes or a pod's readiness-probe ticker up with the
//! moment the load changes: each starts whenever its process or pod worker
//! did. A bench that starts every clock at t = 0 in every seed measures one
//! phase, not a replicated outcome (a step at 30 s lands exactly on a 15 s
//! HPA sync in every trial). So every trial draws its phases, uniform within
//! each clock's period, from seeded streams ([`crate::rng`]), and records
//! them (table `trial_clocks`, column `pods.probe_phase_s`).
//!
//! Which stream a phase comes from follows what it belongs to:
//! - **controller** (`scope = arm`): the arm's own controller process; the
//!   stream is keyed by the arm's name, so two arms of one seed start their
//!   loops at independent phases, as two controllers deployed separately do.
//! - **metrics scrape** (`scope = seed`): metrics-server's scrape loop is
//!   part of the cluster, not of the policy; both arms of a seed see the same
//!   phase (keeping the pairing).
//! - **readiness probe** (`scope = seed`, per pod): the kubelet's probe
//!   worker ticks from when it started, unrelated to the container's start,
//!   so a pod's first probe comes at container start + initial delay + a
//!   phase uniform in one probe period. The k-th pod a trial creates gets the
//!   k-th phase in both arms.
//!
//! A campaign may pin a phase (`sim.controller_offset_s`,
//! `sim.metric_scrape_offset_s`, `sim.probe_phase_s`), for checks that need
//! one fixed alignment; a pinned phase is recorded the same way.

use rand::Rng;
use serde::Serialize;

use crate::campaign::SimParams;
use crate::rng;

/// One periodic clock of a trial: it ticks at `first_s + k * period_s`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PeriodicClock {
    /// Period, seconds.
    pub period_s: f64,
    /// First tick at or after the trial's start, in `[0, period_s)`.
    pub first_s: f64,
}

/// Whose stream a phase comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The same for every arm of a seed (part of the cluster).
    Seed,
    /// The arm's own (part of the arm's controller).
    Arm,
}

impl Scope {
    /// Label stored in `trial_clocks.scope`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Seed => "seed",
            Scope::Arm => "arm",
        }
    }
}

/// One row of table `trial_clocks`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClockRecord {
    /// `controller`, `metrics_scrape` or `readiness_probe`.
    pub clock: &'static str,
    /// Whose stream the phase came from.
    pub scope: Scope,
    /// Period, seconds.
    pub period_s: f64,
    /// First tick in `[0, period_s)`; `None` for a per-pod clock (see
    /// `pods.probe_phase_s`).
    pub first_s: Option<f64>,
}

/// The phases of one trial.
#[derive(Clone, Debug, PartialEq)]
pub struct TrialClocks {
    /// The arm's controller loop.
    pub controller: PeriodicClock,
    /// metrics-server's scrapes.
    pub scrape: PeriodicClock,
    /// The DCGM exporter's collections (`scope = seed`; recorded in
    /// `trial_signals` for the policies that read through it).
    pub dcgm_collect: PeriodicClock,
    /// Prometheus' scrapes of the exporter (`scope = seed`, likewise).
    pub prometheus_scrape: PeriodicClock,
    /// Readiness-probe period, seconds.
    pub probe_period_s: f64,
    probe_pinned: Option<f64>,
    seed: u64,
}

/// A phase in `[0, period)` from `purpose`'s stream.
fn phase(seed: u64, purpose: &str, index: u64, period: f64) -> f64 {
    if period <= 0.0 {
        return 0.0;
    }
    let u: f64 = rng::stream(seed, purpose, index).gen();
    // `u < 1`, but `u * period` can round up to `period`.
    (u * period).min(period * (1.0 - f64::EPSILON))
}

impl TrialClocks {
    /// Draws the phases of the trial of `seed` and `arm`, whose controller
    /// runs every `controller_period_s`.
    pub fn draw(seed: u64, arm: &str, controller_period_s: f64, sim: &SimParams) -> TrialClocks {
        let controller_first = match sim.controller_offset_s {
            Some(x) => x,
            None => phase(
                seed,
                &format!("controller-phase/{arm}"),
                0,
                controller_period_s,
            ),
        };
        let scrape_first = match sim.metric_scrape_offset_s {
            Some(x) => x,
            None => phase(seed, "metrics-scrape-phase", 0, sim.metric_resolution_s),
        };
        let cluster_clock = |purpose: &str, period_s: f64| PeriodicClock {
            period_s,
            first_s: phase(seed, purpose, 0, period_s),
        };
        TrialClocks {
            controller: PeriodicClock {
                period_s: controller_period_s,
                first_s: controller_first,
            },
            scrape: PeriodicClock {
                period_s: sim.metric_resolution_s,
                first_s: scrape_first,
            },
            dcgm_collect: cluster_clock("dcgm-collect-phase", sim.dcgm_collect_s()),
            prometheus_scrape: cluster_clock("prometheus-scrape-phase", sim.prometheus_scrape_s()),
            probe_period_s: sim.probe_period_s,
            probe_pinned: sim.probe_phase_s,
            seed,
        }
    }

    /// The readiness-probe phase of the trial's `pod`-th pod (creation
    /// order), in `[0, probe_period_s)`.
    pub fn probe_phase_s(&self, pod: u32) -> f64 {
        match self.probe_pinned {
            Some(x) => x,
            None => phase(
                self.seed,
                "probe-phase",
                u64::from(pod),
                self.probe_period_s,
            ),
        }
    }

    /// The rows of table `trial_clocks`.
    pub fn records(&self) -> Vec<ClockRecord> {
        vec![
            ClockRecord {
                clock: "controller",
                scope: Scope::Arm,
                period_s: self.controller.period_s,
                first_s: Some(self.controller.first_s),
            },
            ClockRecord {
                clock: "metrics_scrape",
                scope: Scope::Seed,
                period_s: self.scrape.period_s,
                first_s: Some(self.scrape.first_s),
            },
            ClockRecord {
                clock: "readiness_probe",
                scope: Scope::Seed,
                period_s: self.probe_period_s,
                first_s: None,
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_lie_in_their_period_differ_by_seed_and_share_what_the_cluster_owns() {
        let sim = SimParams::default();
        let mut controller = Vec::new();
        for seed in 0..200u64 {
            let a = TrialClocks::draw(seed, "hpa", 15.0, &sim);
            let b = TrialClocks::draw(seed, "userscale", 3.0, &sim);
            assert!((0.0..15.0).contains(&a.controller.first_s));
            assert!((0.0..3.0).contains(&b.controller.first_s));
            assert!((0.0..sim.metric_resolution_s).contains(&a.scrape.first_s));
            assert_eq!(a.scrape, b.scrape, "the scrape phase is the cluster's");
            for k in 0..5 {
                let p = a.probe_phase_s(k);
                assert!((0.0..sim.probe_period_s).contains(&p));
                assert_eq!(p, b.probe_phase_s(k), "pod {k}'s probe phase");
            }
            assert_ne!(a.probe_phase_s(0), a.probe_phase_s(1));
            assert_eq!(a, TrialClocks::draw(seed, "hpa", 15.0, &sim));
            controller.push(a.controller.first_s / 15.0);
        }
        // Uniform: each fifth of the period gets roughly a fifth of 200 seeds.
        for bin in 0..5 {
            let n = controller
                .iter()
                .filter(|u| (bin as f64 / 5.0..(bin + 1) as f64 / 5.0).contains(*u))
                .count();
            assert!((20..=60).contains(&n), "bin {bin}: {n} of 200");
        }
    }

    #[test]
    fn a_pinned_phase_is_used_as_given() {
        let sim = SimParams {
            controller_offset_s: Some(0.0),
            metric_scrape_offset_s: Some(5.0),
            probe_phase_s: Some(1.5),
            ..SimParams::default()
        };
        let c = TrialClocks::draw(9, "hpa", 15.0, &sim);
        assert_eq!(c.controller.first_s, 0.0);
        assert_eq!(c.scrape.first_s, 5.0);
        assert_eq!(c.probe_phase_s(3), 1.5);
    }
}
