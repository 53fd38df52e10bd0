//! The workload service: the original experiment's GPU matrix work as an
//! HTTP service, on cuBLAS through cudarc when a GPU is usable and on the
//! CPU otherwise.
//!
//! - [`compute`] defines the per-request computation once and runs it on
//!   the CPU ([`compute::cpu`]) or the GPU ([`compute::gpu`]);
//! - [`backend`] picks and opens one, falling back to the CPU with a reason;
//! - [`exec`] is the fixed worker pool behind a bounded queue, and the
//!   budget of working memory that admits requests to it;
//! - [`metrics`] and [`nvml`] measure; [`server`] serves (with time-outs
//!   and a cap on connections) and drains;
//! - [`calibrate`] writes a simulator profile from measurements.

pub mod backend;
pub mod calibrate;
pub mod compute;
pub mod exec;
pub mod metrics;
pub mod nvml;
pub mod server;
