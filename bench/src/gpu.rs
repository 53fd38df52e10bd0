//! GPU model profiles: data files in `data/profiles/`, every number with its
//! source.
//!
//! A profile gives what the simulator needs to turn a request into exclusive
//! device seconds (sustained SGEMM rate by size, element-wise bandwidth,
//! launch overhead), memory (device size, per-context reservation), the
//! time-slicing loss per extra context, power, and the start-up delays of a
//! pod on that GPU. `provenance = "spec-derived"` marks a profile built from
//! data sheets and stated assumptions; `"measured"` one written by
//! `workload calibrate`. The types are `contract::gpu`'s, shared with the
//! workload that writes measured profiles; the simulator's work model
//! ([`WorkModel`]) is the bench's own.

use serde::{Deserialize, Serialize};

pub use contract::gpu::{GemmPoint, GpuProfile, InvalidProfile, Provenance, Sourced, SourcedRange};

/// Parses a profile file and checks its numbers; the error says what is
/// wrong (the TOML error with its position, or the field).
pub fn parse_profile(text: &str) -> Result<GpuProfile, String> {
    let p: GpuProfile = toml::from_str(text).map_err(|e| e.to_string())?;
    p.check().map_err(|e| e.to_string())?;
    Ok(p)
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
        parse_profile(&std::fs::read_to_string(path).unwrap()).unwrap()
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
