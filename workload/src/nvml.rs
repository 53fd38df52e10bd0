//! GPU readings from NVML (nvml-wrapper): utilisation, memory, power and
//! energy of the device the service computes on.
//!
//! NVML's figures are device-wide: under time-slicing every pod on a GPU
//! reads the same utilisation. A missing library is an error from
//! [`GpuMonitor::open`], not a panic; readings the product does not support
//! (common on GeForce parts) are `None` and left out of `/metrics`.

use nvml_wrapper::Nvml;

/// One reading of the device.
#[derive(Clone, Debug, PartialEq)]
pub struct GpuReading {
    /// NVML's UUID (`GPU-…`).
    pub uuid: String,
    /// Product name.
    pub name: String,
    /// Percent of the last sample period with a kernel running.
    pub utilization_pct: Option<u32>,
    /// Device memory in use, bytes (all processes).
    pub memory_used_bytes: Option<u64>,
    /// Device memory, bytes.
    pub memory_total_bytes: Option<u64>,
    /// Board power, watts.
    pub power_w: Option<f64>,
    /// Energy since the driver loaded, joules.
    pub energy_j: Option<f64>,
}

/// An open NVML handle on one device.
pub struct GpuMonitor {
    nvml: Nvml,
    uuid: String,
    name: String,
    driver: String,
}

/// Why NVML cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("NVML unavailable: {0}")]
pub struct NvmlUnavailable(pub String);

impl GpuMonitor {
    /// Opens NVML on the device with `uuid` (from CUDA), or on device 0
    /// when `uuid` is `None`.
    pub fn open(uuid: Option<&str>) -> Result<GpuMonitor, NvmlUnavailable> {
        let nvml = Nvml::init().map_err(|e| NvmlUnavailable(e.to_string()))?;
        let (uuid, name) = {
            let dev = match uuid {
                Some(u) => nvml.device_by_uuid(u),
                None => nvml.device_by_index(0),
            }
            .map_err(|e| NvmlUnavailable(format!("device {uuid:?}: {e}")))?;
            (
                dev.uuid().map_err(|e| NvmlUnavailable(e.to_string()))?,
                dev.name().unwrap_or_else(|_| "unknown".into()),
            )
        };
        let driver = nvml
            .sys_driver_version()
            .unwrap_or_else(|_| "unknown".into());
        Ok(GpuMonitor {
            nvml,
            uuid,
            name,
            driver,
        })
    }

    /// The driver version NVML reports.
    pub fn driver_version(&self) -> &str {
        &self.driver
    }

    /// The product name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads the device now; `None` if the device cannot be found any more.
    pub fn read(&self) -> Option<GpuReading> {
        let dev = self.nvml.device_by_uuid(self.uuid.as_str()).ok()?;
        let mem = dev.memory_info().ok();
        Some(GpuReading {
            uuid: self.uuid.clone(),
            name: self.name.clone(),
            utilization_pct: dev.utilization_rates().ok().map(|u| u.gpu),
            memory_used_bytes: mem.as_ref().map(|m| m.used),
            memory_total_bytes: mem.as_ref().map(|m| m.total),
            power_w: dev.power_usage().ok().map(|mw| f64::from(mw) / 1000.0),
            energy_j: dev
                .total_energy_consumption()
                .ok()
                .map(|mj| mj as f64 / 1000.0),
        })
    }

    /// The enforced power limit, watts, if supported.
    pub fn power_limit_w(&self) -> Option<f64> {
        let dev = self.nvml.device_by_uuid(self.uuid.as_str()).ok()?;
        dev.enforced_power_limit()
            .ok()
            .map(|mw| f64::from(mw) / 1000.0)
    }
}
