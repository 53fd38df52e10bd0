//! `trials.params_json`: the resolved trial as the bench stores it with
//! each trial and the report (or a user's query) reads it back.
//!
//! [`TrialParams`] names the document's keys once. The bench writes it with
//! its own scenario, policy and load-profile types in the generic slots;
//! a reader takes the defaults, which keep those parts as JSON except what
//! a reader needs of the scenario ([`ScenarioParams`]).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::gpu::GpuProfile;

/// Where a campaign's trials ran: `campaigns.backend`, and the key under
/// which a real backend stores its facts about a trial in `params_json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// The embedded discrete-event simulator.
    Sim,
    /// Real `workload serve` processes on this machine.
    Local,
    /// A real Kubernetes cluster.
    K8s,
}

/// A name that is no backend.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown backend `{0}`; the backends are `sim`, `local`, `k8s`")]
pub struct UnknownBackend(pub String);

impl BackendKind {
    /// Every backend.
    pub const ALL: [BackendKind; 3] = [BackendKind::Sim, BackendKind::Local, BackendKind::K8s];

    /// The stored name (`sim`, `local`, `k8s`).
    pub const fn as_str(self) -> &'static str {
        match self {
            BackendKind::Sim => "sim",
            BackendKind::Local => "local",
            BackendKind::K8s => "k8s",
        }
    }

    /// Whether it measures rather than models (local, k8s).
    pub const fn is_real(self) -> bool {
        !matches!(self, BackendKind::Sim)
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BackendKind {
    type Err = UnknownBackend;
    fn from_str(s: &str) -> Result<Self, UnknownBackend> {
        BackendKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownBackend(s.to_string()))
    }
}

/// The document in `trials.params_json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialParams<S = ScenarioParams, P = serde_json::Value, L = serde_json::Value> {
    /// The scenario, in full.
    pub scenario: S,
    /// The arm's policy configuration, in full.
    pub policy: P,
    /// The load profile, in full.
    pub load_profile: L,
    /// When the profile's load changes, seconds from the trial's start.
    pub load_steps_s: Vec<f64>,
    /// The trial's seed.
    pub seed: u64,
    /// Trial length, seconds.
    pub duration_s: f64,
    /// Warm-up excluded from the statistics, seconds.
    pub warmup_s: f64,
    /// Where it ran.
    pub backend: BackendKind,
    /// What a real backend recorded about the trial, under the backend's
    /// name (`local`, `k8s`); empty for the simulator.
    #[serde(flatten)]
    pub facts: BTreeMap<String, serde_json::Value>,
}

/// What a reader needs of the scenario; the rest stays JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioParams {
    /// Fewest replicas either arm may run.
    pub min_replicas: u32,
    /// Most replicas either arm may run.
    pub max_replicas: u32,
    /// The GPU models of its nodes, by profile name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub gpu_profiles: BTreeMap<String, GpuProfile>,
    /// Everything else the bench stored.
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

impl TrialParams {
    /// Reads a stored document.
    pub fn parse(json: &str) -> Result<TrialParams, serde_json::Error> {
        serde_json::from_str(json)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn backend_names_round_trip_and_unknown_ones_are_named() {
        for b in BackendKind::ALL {
            assert_eq!(b.as_str().parse::<BackendKind>(), Ok(b));
            assert_eq!(
                serde_json::to_value(b).unwrap(),
                serde_json::json!(b.as_str())
            );
        }
        let e = "cluster".parse::<BackendKind>().unwrap_err();
        assert!(e.to_string().contains("`cluster`"), "{e}");
        assert!(BackendKind::K8s.is_real() && !BackendKind::Sim.is_real());
    }

    #[test]
    fn a_stored_document_reads_back_with_its_facts_and_the_rest_of_the_scenario() {
        let doc = serde_json::json!({
            "backend": "local",
            "duration_s": 120.0,
            "load_profile": {"name": "step"},
            "load_steps_s": [40.0],
            "local": {"probe_period_s": 1.0},
            "policy": {"kind": "hpa"},
            "scenario": {"name": "original", "min_replicas": 1, "max_replicas": 6},
            "seed": 3,
            "warmup_s": 10.0,
        });
        let p = TrialParams::parse(&doc.to_string()).unwrap();
        assert_eq!(p.backend, BackendKind::Local);
        assert_eq!(p.load_steps_s, vec![40.0]);
        assert_eq!((p.scenario.min_replicas, p.scenario.max_replicas), (1, 6));
        assert!(p.scenario.gpu_profiles.is_empty());
        assert_eq!(p.scenario.rest["name"], "original");
        assert_eq!(p.facts["local"]["probe_period_s"], 1.0);
        // Written back, it is the same document.
        assert_eq!(serde_json::to_value(&p).unwrap(), doc);
        // A document without a required key is refused, naming it.
        let mut bad = doc.clone();
        bad.as_object_mut().unwrap().remove("seed");
        let e = TrialParams::parse(&bad.to_string()).unwrap_err();
        assert!(e.to_string().contains("seed"), "{e}");
    }
}
