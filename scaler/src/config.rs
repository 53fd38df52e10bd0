//! Policy files: one TOML document per policy, tagged by `kind`.
//!
//! ```toml
//! kind = "hpa"
//! min_replicas = 1
//! max_replicas = 6
//! target_cpu_utilization = 40
//!
//! [behavior.scale_up]
//! stabilization_window_s = 0
//! select_policy = "Max"
//! policies = [
//!   { type = "Percent", value = 100, period_s = 10 },
//!   { type = "Pods", value = 5, period_s = 10 },
//! ]
//! ```
//!
//! The other keys are those of [`HpaConfig`] (`kind = "hpa"`),
//! [`UserScaleConfig`] (`kind = "userscale"`) or [`HpaGpuConfig`] (`kind =
//! "hpa-gpu"`); unknown keys are errors.
//! [`PolicyConfig::from_toml_str`] parses and validates in one step.

use std::path::Path;
use std::str::FromStr;

use serde::de::{
    DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, IntoDeserializer, MapAccess,
    Visitor,
};
use serde::{Deserialize, Serialize};

use crate::hpa::{
    Behavior, Hpa, HpaConfig, HpaGpuConfig, Rules, ScalingPolicy, SelectPolicy,
    DEFAULT_CPU_INITIALIZATION_PERIOD_S, DEFAULT_DOWNSCALE_STABILIZATION_S,
    DEFAULT_INITIAL_READINESS_DELAY_S, DEFAULT_SYNC_PERIOD_S, DEFAULT_TOLERANCE,
};
use crate::keda::{Keda, KedaConfig};
use crate::kpa::{Kpa, KpaConfig};
use crate::ray::{Ray, RayConfig};
use crate::userscale::{UserScale, UserScaleConfig};
use crate::{ControllerKind, Error, Policy, Result};

/// The configuration of one policy, as read from a policy file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PolicyConfig {
    /// The Kubernetes HPA emulation (`kind = "hpa"`).
    Hpa(HpaConfig),
    /// The GPU-aware UserScale (`kind = "userscale"`).
    Userscale(UserScaleConfig),
    /// The HPA on the pods' GPU utilisation (`kind = "hpa-gpu"`).
    HpaGpu(HpaGpuConfig),
    /// A KEDA ScaledObject with a Prometheus trigger (`kind = "keda"`).
    Keda(KedaConfig),
    /// Knative's concurrency autoscaler (`kind = "kpa"`).
    Kpa(KpaConfig),
    /// Ray Serve's queue-length policy (`kind = "ray"`).
    Ray(RayConfig),
}

impl PolicyConfig {
    /// Parses a policy file and validates it. TOML errors keep their line
    /// and column; validation errors name the dotted field.
    pub fn from_toml_str(s: &str) -> Result<PolicyConfig> {
        // Deserializing the tagged enum directly would buffer the document
        // and lose every position, so read `kind` first, then the body.
        let probe: KindProbe = toml::from_str(s)?;
        let config = match probe.kind {
            ControllerKind::Hpa => PolicyConfig::Hpa(without_kind(s)?),
            ControllerKind::Userscale => PolicyConfig::Userscale(without_kind(s)?),
            ControllerKind::HpaGpu => PolicyConfig::HpaGpu(without_kind(s)?),
            ControllerKind::Keda => PolicyConfig::Keda(without_kind(s)?),
            ControllerKind::Kpa => PolicyConfig::Kpa(without_kind(s)?),
            ControllerKind::Ray => PolicyConfig::Ray(without_kind(s)?),
        };
        config.validate()?;
        Ok(config)
    }

    /// Reads a policy from a TOML table that is part of a larger document
    /// (a campaign's `[arms.NAME]`) and validates it. Errors are
    /// [`Error::InvalidPolicy`] with the dotted path of the offending field
    /// inside the table (`kind`, `behavior.scale_up.policies[0].value`,
    /// an unknown key's own name), for the caller to place in its file.
    pub fn from_table(mut table: toml::Table) -> Result<PolicyConfig> {
        let known = ControllerKind::ALL
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let kind = match table.remove("kind") {
            Some(toml::Value::String(k)) => k,
            Some(v) => {
                return Err(invalid(
                    "kind",
                    format!("must be a string, one of {known}; got {v}"),
                ))
            }
            None => return Err(invalid("kind", format!("missing; one of {known}"))),
        };
        let body = toml::Value::Table(table);
        let config = match kind.parse::<ControllerKind>() {
            Ok(ControllerKind::Hpa) => PolicyConfig::Hpa(from_value(body)?),
            Ok(ControllerKind::Userscale) => PolicyConfig::Userscale(from_value(body)?),
            Ok(ControllerKind::HpaGpu) => PolicyConfig::HpaGpu(from_value(body)?),
            Ok(ControllerKind::Keda) => PolicyConfig::Keda(from_value(body)?),
            Ok(ControllerKind::Kpa) => PolicyConfig::Kpa(from_value(body)?),
            Ok(ControllerKind::Ray) => PolicyConfig::Ray(from_value(body)?),
            Err(_) => {
                return Err(invalid(
                    "kind",
                    format!("unknown kind `{kind}`; the known kinds are {known}"),
                ))
            }
        };
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and validates a policy file.
    pub fn load(path: impl AsRef<Path>) -> Result<PolicyConfig> {
        Self::from_toml_str(&std::fs::read_to_string(path)?)
    }

    /// Checks every value; the error names the offending field.
    pub fn validate(&self) -> Result<()> {
        match self {
            PolicyConfig::Hpa(config) => config.validate(),
            PolicyConfig::Userscale(config) => config.validate(),
            PolicyConfig::HpaGpu(config) => config.validate(),
            PolicyConfig::Keda(config) => config.validate(),
            PolicyConfig::Kpa(config) => config.validate(),
            PolicyConfig::Ray(config) => config.validate(),
        }
    }

    /// A fresh policy (empty history) running this configuration. Validate
    /// first: an invalid configuration gives meaningless, though never
    /// panicking, decisions.
    pub fn build(&self) -> Box<dyn Policy> {
        match self {
            PolicyConfig::Hpa(config) => Box::new(Hpa::new(config.clone())),
            PolicyConfig::Userscale(config) => Box::new(UserScale::new(config.clone())),
            PolicyConfig::HpaGpu(config) => Box::new(Hpa::gpu(config)),
            PolicyConfig::Keda(config) => Box::new(Keda::new(config.clone())),
            PolicyConfig::Kpa(config) => Box::new(Kpa::new(config.clone())),
            PolicyConfig::Ray(config) => Box::new(Ray::new(config.clone())),
        }
    }

    /// Its controller kind.
    pub fn kind(&self) -> ControllerKind {
        match self {
            PolicyConfig::Hpa(_) => ControllerKind::Hpa,
            PolicyConfig::Userscale(_) => ControllerKind::Userscale,
            PolicyConfig::HpaGpu(_) => ControllerKind::HpaGpu,
            PolicyConfig::Keda(_) => ControllerKind::Keda,
            PolicyConfig::Kpa(_) => ControllerKind::Kpa,
            PolicyConfig::Ray(_) => ControllerKind::Ray,
        }
    }

    /// The controller name its policy reports (`"hpa"`, `"userscale"`,
    /// `"hpa-gpu"`, `"keda"`, `"kpa"`, `"ray"`).
    pub fn name(&self) -> &'static str {
        self.kind().as_str()
    }

    /// The per-pod signals its policy reads ([`Policy::signals`]).
    pub fn signals(&self) -> &'static [crate::Signal] {
        self.build().signals()
    }

    /// `(min_replicas, max_replicas)`.
    pub fn bounds(&self) -> (u32, u32) {
        match self {
            PolicyConfig::Hpa(c) => (c.min_replicas, c.max_replicas),
            PolicyConfig::Userscale(c) => (c.min_replicas, c.max_replicas),
            PolicyConfig::HpaGpu(c) => (c.min_replicas, c.max_replicas),
            PolicyConfig::Keda(c) => (c.min_replicas, c.max_replicas),
            PolicyConfig::Kpa(c) => (c.min_replicas, c.max_replicas),
            PolicyConfig::Ray(c) => (c.min_replicas, c.max_replicas),
        }
    }

    /// Overrides the replica bounds (for example from a campaign file).
    /// Call [`validate`](Self::validate) afterwards.
    pub fn set_bounds(&mut self, min: u32, max: u32) {
        match self {
            PolicyConfig::Hpa(c) => {
                c.min_replicas = min;
                c.max_replicas = max;
            }
            PolicyConfig::Userscale(c) => {
                c.min_replicas = min;
                c.max_replicas = max;
            }
            PolicyConfig::HpaGpu(c) => {
                c.min_replicas = min;
                c.max_replicas = max;
            }
            PolicyConfig::Keda(c) => {
                c.min_replicas = min;
                c.max_replicas = max;
            }
            PolicyConfig::Kpa(c) => {
                c.min_replicas = min;
                c.max_replicas = max;
            }
            PolicyConfig::Ray(c) => {
                c.min_replicas = min;
                c.max_replicas = max;
            }
        }
    }

    /// The HPA of the original experiment: CPU target 40 %, 1–6 replicas,
    /// 15 s syncs, and the seed behavior of §11 of `docs/hpa.md`:
    /// scale-up {window 0, Max, Percent 100 / 10 s, Pods 5 / 10 s},
    /// scale-down {window 30 s, Min, Percent 50 / 30 s, Pods 2 / 30 s}.
    pub fn original_hpa() -> PolicyConfig {
        PolicyConfig::Hpa(HpaConfig {
            min_replicas: 1,
            max_replicas: 6,
            target_cpu_utilization: 40,
            sync_period_s: DEFAULT_SYNC_PERIOD_S,
            tolerance: DEFAULT_TOLERANCE,
            cpu_initialization_period_s: DEFAULT_CPU_INITIALIZATION_PERIOD_S,
            initial_readiness_delay_s: DEFAULT_INITIAL_READINESS_DELAY_S,
            downscale_stabilization_s: DEFAULT_DOWNSCALE_STABILIZATION_S,
            behavior: Some(Behavior {
                scale_up: Some(Rules {
                    stabilization_window_s: Some(0),
                    select_policy: Some(SelectPolicy::Max),
                    policies: Some(vec![
                        ScalingPolicy::percent(100, 10),
                        ScalingPolicy::pods(5, 10),
                    ]),
                    tolerance: None,
                }),
                scale_down: Some(Rules {
                    stabilization_window_s: Some(30),
                    select_policy: Some(SelectPolicy::Min),
                    policies: Some(vec![
                        ScalingPolicy::percent(50, 30),
                        ScalingPolicy::pods(2, 30),
                    ]),
                    tolerance: None,
                }),
            }),
        })
    }

    /// UserScale with the rules of the original experiment (every default).
    pub fn original_userscale() -> PolicyConfig {
        PolicyConfig::Userscale(UserScaleConfig::default())
    }
}

impl FromStr for PolicyConfig {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::from_toml_str(s)
    }
}

/// The `kind` key alone (every other key is ignored here).
#[derive(Deserialize)]
struct KindProbe {
    kind: ControllerKind,
}

fn invalid(field: &str, message: String) -> Error {
    Error::InvalidPolicy {
        field: field.into(),
        message,
    }
}

/// Deserializes a TOML value into `T`; an error names the field's dotted
/// path (for an unknown key, the key itself).
fn from_value<T: DeserializeOwned>(v: toml::Value) -> Result<T> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.message().to_string();
        // An unknown key is reported at its table; name the key itself.
        let unknown = message
            .strip_prefix("unknown field `")
            .and_then(|m| m.split('`').next())
            .map(str::to_string);
        let field = match (path.as_str(), unknown) {
            (".", Some(k)) => k,
            (p, Some(k)) if !p.ends_with(&k) => format!("{p}.{k}"),
            (p, _) => p.to_string(),
        };
        invalid(&field, message)
    })
}

/// Deserializes a TOML document into `T`, skipping its top-level `kind` key,
/// while keeping toml's positions in every error.
fn without_kind<T: DeserializeOwned>(s: &str) -> std::result::Result<T, toml::de::Error> {
    T::deserialize(SkipKind(toml::Deserializer::new(s)))
}

/// A deserializer that hides the top-level `kind` key of the inner one.
struct SkipKind<D>(D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for SkipKind<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, D::Error> {
        self.0.deserialize_any(SkipKindVisitor(visitor))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct SkipKindVisitor<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for SkipKindVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<V::Value, A::Error> {
        self.0.visit_map(SkipKindMap(map))
    }
}

struct SkipKindMap<A>(A);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for SkipKindMap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> std::result::Result<Option<K::Value>, A::Error> {
        let mut seed = Some(seed);
        loop {
            // The key goes through the inner map's own seed call, so an
            // unknown key is reported at its position.
            match self.0.next_key_seed(KeySeed(&mut seed))? {
                None => return Ok(None),
                Some(Some(key)) => return Ok(Some(key)),
                Some(None) => {
                    self.0.next_value::<IgnoredAny>()?;
                }
            }
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> std::result::Result<S::Value, A::Error> {
        self.0.next_value_seed(seed)
    }
}

/// Reads a key; `None` for `kind`, otherwise the wrapped seed's value.
struct KeySeed<'a, K>(&'a mut Option<K>);

impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for KeySeed<'_, K> {
    type Value = Option<K::Value>;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<Self::Value, D::Error> {
        let key = String::deserialize(deserializer)?;
        if key == "kind" {
            return Ok(None);
        }
        match self.0.take() {
            Some(seed) => seed
                .deserialize(IntoDeserializer::<D::Error>::into_deserializer(key))
                .map(Some),
            None => Err(serde::de::Error::custom("key seed used twice")),
        }
    }
}
