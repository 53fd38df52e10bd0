//! GPU model profiles (`data/profiles/*.toml`): what the bench's simulator
//! reads and what `workload calibrate` writes, every number with its
//! source. The bench parses a file ([`GpuProfile::check`] after the TOML);
//! the workload serialises a measured one.

use serde::{Deserialize, Serialize};

/// What is wrong with a profile, naming the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidProfile(pub String);

/// A number and where it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sourced {
    /// The value, in the unit the field name gives.
    pub value: f64,
    /// Where the value came from: a spec sheet, a measurement with its
    /// command, or a stated assumption.
    pub source: String,
}

/// Sustained SGEMM throughput at one matrix size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GemmPoint {
    /// Matrix size n (n×n by n×n).
    pub n: u32,
    /// Sustained throughput, TFLOP/s (2n³ flop per GEMM).
    pub tflops: f64,
    /// Where the figure came from.
    pub source: String,
}

/// A uniform range of seconds with its source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcedRange {
    /// Shortest, seconds.
    pub min_s: f64,
    /// Longest, seconds.
    pub max_s: f64,
    /// Where the range came from.
    pub source: String,
}

/// Where a profile's numbers come from as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provenance {
    /// Built from data sheets and stated assumptions.
    SpecDerived,
    /// Measured on the device by `workload calibrate`.
    Measured,
}

impl Provenance {
    /// The name profiles spell it with (`spec-derived`, `measured`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Provenance::SpecDerived => "spec-derived",
            Provenance::Measured => "measured",
        }
    }
}

/// One GPU model, as the simulator sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuProfile {
    /// Model name.
    pub model: String,
    /// Spec-derived or measured.
    pub provenance: Provenance,
    /// Free text: how the profile was made (device, driver, date, command
    /// for a measured profile).
    #[serde(default)]
    pub notes: String,
    /// Sustained SGEMM throughput by size; linearly interpolated, clamped
    /// outside the table. At least one point.
    pub gemm: Vec<GemmPoint>,
    /// Sustained bandwidth of element-wise kernels, GB/s.
    pub elementwise_gbps: Sourced,
    /// Device time per kernel launch, microseconds.
    pub launch_overhead_us: Sourced,
    /// Device memory, MiB.
    pub memory_mib: Sourced,
    /// Memory each CUDA context (one per pod) reserves, MiB.
    pub context_mib: Sourced,
    /// Throughput lost per extra active context under time-slicing (eps):
    /// device throughput with c active contexts is 1 / (1 + eps (c − 1)).
    pub context_switch_overhead: Sourced,
    /// Board power when idle, W.
    pub idle_power_w: Sourced,
    /// Board power at 100 % utilisation, W.
    pub max_power_w: Sourced,
    /// Container start (creation to process running, GPU hook included).
    pub container_start: SourcedRange,
    /// CUDA context creation plus library initialisation.
    pub cuda_init: SourcedRange,
}

impl GpuProfile {
    /// Checks the numbers; the error names the field that is wrong.
    pub fn check(&self) -> Result<(), InvalidProfile> {
        self.check_fields().map_err(InvalidProfile)
    }

    fn check_fields(&self) -> Result<(), String> {
        if self.gemm.is_empty() {
            return Err("`gemm`: needs at least one point".into());
        }
        for w in self.gemm.windows(2) {
            if w[1].n <= w[0].n {
                return Err("`gemm`: points must have increasing n".into());
            }
        }
        if let Some(p) = self.gemm.iter().find(|p| !(p.tflops > 0.0)) {
            return Err(format!("`gemm`: tflops at n={} must be > 0", p.n));
        }
        let positive = [
            ("elementwise_gbps", &self.elementwise_gbps),
            ("memory_mib", &self.memory_mib),
            ("max_power_w", &self.max_power_w),
        ];
        for (name, s) in positive {
            if !(s.value > 0.0 && s.value.is_finite()) {
                return Err(format!("`{name}`: must be > 0, got {}", s.value));
            }
        }
        let non_negative = [
            ("launch_overhead_us", &self.launch_overhead_us),
            ("context_mib", &self.context_mib),
            ("context_switch_overhead", &self.context_switch_overhead),
            ("idle_power_w", &self.idle_power_w),
        ];
        for (name, s) in non_negative {
            if !(s.value >= 0.0 && s.value.is_finite()) {
                return Err(format!("`{name}`: must be >= 0, got {}", s.value));
            }
        }
        if self.idle_power_w.value > self.max_power_w.value {
            return Err("`idle_power_w`: must not exceed max_power_w".into());
        }
        if self.context_mib.value >= self.memory_mib.value {
            return Err("`context_mib`: must be below memory_mib".into());
        }
        for (name, r) in [
            ("container_start", &self.container_start),
            ("cuda_init", &self.cuda_init),
        ] {
            if !(r.min_s >= 0.0 && r.max_s >= r.min_s) {
                return Err(format!("`{name}`: need 0 <= min_s <= max_s"));
            }
        }
        Ok(())
    }

    /// Sustained SGEMM rate at size `n`, flop/s.
    pub fn gemm_flops(&self, n: u32) -> f64 {
        let pts = &self.gemm;
        let tflops = match pts.iter().position(|p| p.n >= n) {
            None => pts[pts.len() - 1].tflops,
            Some(0) => pts[0].tflops,
            Some(i) => {
                let (a, b) = (&pts[i - 1], &pts[i]);
                let f = f64::from(n - a.n) / f64::from(b.n - a.n);
                a.tflops + (b.tflops - a.tflops) * f
            }
        };
        tflops * 1e12
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sourced(value: f64) -> Sourced {
        Sourced {
            value,
            source: "test".into(),
        }
    }

    fn profile() -> GpuProfile {
        let range = SourcedRange {
            min_s: 1.0,
            max_s: 2.0,
            source: "test".into(),
        };
        GpuProfile {
            model: "test".into(),
            provenance: Provenance::Measured,
            notes: String::new(),
            gemm: vec![
                GemmPoint {
                    n: 500,
                    tflops: 1.0,
                    source: "test".into(),
                },
                GemmPoint {
                    n: 1500,
                    tflops: 3.0,
                    source: "test".into(),
                },
            ],
            elementwise_gbps: sourced(100.0),
            launch_overhead_us: sourced(5.0),
            memory_mib: sourced(4096.0),
            context_mib: sourced(300.0),
            context_switch_overhead: sourced(0.05),
            idle_power_w: sourced(10.0),
            max_power_w: sourced(50.0),
            container_start: range.clone(),
            cuda_init: range,
        }
    }

    #[test]
    fn the_gemm_rate_interpolates_between_points_and_clamps_outside() {
        let p = profile();
        assert_eq!(p.gemm_flops(100), 1e12);
        assert_eq!(p.gemm_flops(1000), 2e12);
        assert_eq!(p.gemm_flops(4000), 3e12);
    }

    #[test]
    fn a_wrong_number_is_named() {
        assert_eq!(profile().check(), Ok(()));
        let mut p = profile();
        p.context_mib = sourced(5000.0);
        assert_eq!(
            p.check().unwrap_err().to_string(),
            "`context_mib`: must be below memory_mib"
        );
        let mut p = profile();
        p.gemm.reverse();
        assert!(p.check().unwrap_err().0.contains("increasing n"));
    }

    #[test]
    fn provenance_is_written_in_kebab_case() {
        let v = serde_json::to_value(Provenance::SpecDerived).unwrap();
        assert_eq!(v, "spec-derived");
    }
}
