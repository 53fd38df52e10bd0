//! The controller kinds the bench compares: what a policy file's `kind`
//! names, what `decisions.controller` and `scaling_events.controller`
//! store, and how the report names them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A kind of autoscaling controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ControllerKind {
    /// The Kubernetes HorizontalPodAutoscaler (CPU utilisation).
    Hpa,
    /// UserScale, the original experiment's GPU-aware policy.
    Userscale,
    /// The HorizontalPodAutoscaler on the pods' GPU utilisation (a Pods
    /// metric with an AverageValue target).
    HpaGpu,
    /// A KEDA ScaledObject with one Prometheus trigger (its activation
    /// loop and the HPA it generates on an External metric).
    Keda,
    /// Knative's concurrency autoscaler (KPA).
    Kpa,
    /// Ray Serve's queue-length autoscaling policy.
    Ray,
}

/// A name that is no controller kind.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown controller kind `{0}`; the known kinds are `hpa`, `userscale`, `hpa-gpu`, `keda`, `kpa`, `ray`")]
pub struct UnknownKind(pub String);

impl ControllerKind {
    /// Every kind.
    pub const ALL: [ControllerKind; 6] = [
        ControllerKind::Hpa,
        ControllerKind::Userscale,
        ControllerKind::HpaGpu,
        ControllerKind::Keda,
        ControllerKind::Kpa,
        ControllerKind::Ray,
    ];

    /// The stored name (`hpa`, `userscale`, `hpa-gpu`, `keda`, `kpa`,
    /// `ray`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ControllerKind::Hpa => "hpa",
            ControllerKind::Userscale => "userscale",
            ControllerKind::HpaGpu => "hpa-gpu",
            ControllerKind::Keda => "keda",
            ControllerKind::Kpa => "kpa",
            ControllerKind::Ray => "ray",
        }
    }

    /// The name a reader sees (`HPA`, `UserScale`, `HPA (GPU metric)`,
    /// `KEDA-style (emulated)`, `Knative KPA-style (emulated)`, `Ray
    /// Serve-style (emulated)`).
    pub const fn title(self) -> &'static str {
        match self {
            ControllerKind::Hpa => "HPA",
            ControllerKind::Userscale => "UserScale",
            ControllerKind::HpaGpu => "HPA (GPU metric)",
            ControllerKind::Keda => "KEDA-style (emulated)",
            ControllerKind::Kpa => "Knative KPA-style (emulated)",
            ControllerKind::Ray => "Ray Serve-style (emulated)",
        }
    }
}

impl fmt::Display for ControllerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ControllerKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, UnknownKind> {
        ControllerKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_serde() {
        for k in ControllerKind::ALL {
            assert_eq!(k.as_str().parse::<ControllerKind>(), Ok(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        let e = "capacity".parse::<ControllerKind>().unwrap_err();
        assert!(e.to_string().contains("`capacity`"), "{e}");
    }
}
