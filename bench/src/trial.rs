//! What every backend shares in running a trial. `control`: the control
//! step and its records; `sampler`: the real backends' per-second rows and
//! progress line.

pub mod control;
pub mod sampler;
