//! GPU model profiles: data files in `data/profiles/`, every number with its
//! source.
//!
//! A profile gives what the simulator needs to turn a request into exclusive
//! device seconds (sustained SGEMM rate by size, element-wise bandwidth,
//! launch overhead), memory (device size, per-context reservation), the
//! time-slicing loss per extra context, power, and the start-up delays of a
//! pod on that GPU. `provenance = "spec-derived"` marks a profile built from
//! data sheets and stated assumptions; `"measured"` one written by
//! `workload calibrate`.

use serde::{Deserialize, Serialize};

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
    /// Parses a profile file and checks its numbers.
    pub fn from_toml_str(text: &str) -> Result<GpuProfile, String> {
        let p: GpuProfile = toml::from_str(text).map_err(|e| e.to_string())?;
        p.check()?;
        Ok(p)
    }

    /// Checks the numbers; returns what is wrong, naming the field.
    pub fn check(&self) -> Result<(), String> {
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

/// How a request turns into device work (the original's computation).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkModel {
    /// GEMMs per iteration (the original: 4).
    pub gemms_per_iteration: u32,
    /// Element-wise passes per iteration (the original: 8).
    pub elementwise_per_iteration: u32,
    /// Bytes moved per element by one element-wise pass (float32, two
    /// reads and one write: 12).
    pub elementwise_bytes_per_element: f64,
    /// n×n float32 matrices resident per request while it is on the GPU
    /// (inputs, output and temporaries).
    pub working_set_matrices: f64,
}

impl Default for WorkModel {
    fn default() -> Self {
        WorkModel {
            gemms_per_iteration: 4,
            elementwise_per_iteration: 8,
            elementwise_bytes_per_element: 12.0,
            working_set_matrices: 5.0,
        }
    }
}

impl WorkModel {
    /// Exclusive device seconds one request of size `n` with `iterations`
    /// takes on `gpu`.
    pub fn device_seconds(&self, gpu: &GpuProfile, n: u32, iterations: u32) -> f64 {
        let nf = f64::from(n);
        let gemm = f64::from(self.gemms_per_iteration) * 2.0 * nf * nf * nf / gpu.gemm_flops(n);
        let ew = f64::from(self.elementwise_per_iteration)
            * nf
            * nf
            * self.elementwise_bytes_per_element
            / (gpu.elementwise_gbps.value * 1e9);
        let launches = f64::from(self.gemms_per_iteration + self.elementwise_per_iteration)
            * gpu.launch_overhead_us.value
            * 1e-6;
        f64::from(iterations) * (gemm + ew + launches)
    }

    /// Device memory one request holds while on the GPU, MiB.
    pub fn working_set_mib(&self, n: u32) -> f64 {
        let nf = f64::from(n);
        self.working_set_matrices * nf * nf * 4.0 / (1024.0 * 1024.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn load(name: &str) -> GpuProfile {
        let path = format!(
            "{}/../data/profiles/{name}.toml",
            env!("CARGO_MANIFEST_DIR")
        );
        GpuProfile::from_toml_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn shipped_profiles_parse_and_are_spec_derived() {
        for name in ["gtx1650-mobile", "t4", "h100-sxm"] {
            let p = load(name);
            assert_eq!(p.provenance, Provenance::SpecDerived, "{name}");
        }
    }

    #[test]
    fn gemm_rate_interpolates_and_clamps() {
        let p = load("gtx1650-mobile");
        let lo = p.gemm[0].tflops * 1e12;
        assert_eq!(p.gemm_flops(1), lo);
        let last = p.gemm.last().unwrap();
        assert_eq!(p.gemm_flops(last.n * 4), last.tflops * 1e12);
        let (a, b) = (&p.gemm[0], &p.gemm[1]);
        let mid = p.gemm_flops((a.n + b.n) / 2);
        assert!(mid >= a.tflops.min(b.tflops) * 1e12 && mid <= a.tflops.max(b.tflops) * 1e12);
    }

    #[test]
    fn original_request_takes_most_of_a_second_on_the_laptop_gpu() {
        // n=1500, 60 iterations: 4*2*1500^3*60 = 1.62e12 flop at ~2.2 TFLOP/s.
        let p = load("gtx1650-mobile");
        let s = WorkModel::default().device_seconds(&p, 1500, 60);
        assert!(s > 0.5 && s < 1.5, "{s}");
        let h = load("h100-sxm");
        let sh = WorkModel::default().device_seconds(&h, 1500, 60);
        assert!(sh < s / 10.0, "{sh}");
    }
}
