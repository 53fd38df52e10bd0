//! What every backend shares in running a trial. `sampler`: the real
//! backends' per-second rows and progress line.

pub mod sampler;
