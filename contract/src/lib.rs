//! Typed contracts between the workspace's crates: the shapes one crate
//! writes and another reads, defined once. It depends only on serde,
//! serde_json and thiserror (and, with feature `logging`, on
//! tracing-subscriber), so `workload` can use it and still depend on
//! neither `bench` nor `scaler`.
//!
//! * [`Listening`]: the line `workload serve` writes on stdout once it
//!   listens, which the local backend reads to find a replica.
//! * [`ControllerKind`]: the controller kinds (`hpa`, `userscale`) that
//!   policy files name, the dataset stores and the report titles.
//! * [`gpu`]: GPU model profiles, read by the bench's simulator and written
//!   by `workload calibrate`.
//! * [`PodMetrics`]: the `/metrics.json` document `workload serve` writes
//!   and `scaler run` and the bench's real backends read.
//! * `logging` (feature `logging`): the binaries' one logging start-up.
//! * [`params`]: [`TrialParams`], the `trials.params_json` document the
//!   bench writes and the report reads, and [`BackendKind`].
//! * [`WaitMode`]: how a worker waits for the GPU, one spelling for the
//!   workload's flag and a campaign's `pod.wait_mode`.

pub mod controller;
pub mod gpu;
#[cfg(feature = "logging")]
pub mod logging;
pub mod metrics;
pub mod params;
pub mod wait;

pub use controller::{ControllerKind, UnknownKind};
pub use metrics::{PodMetrics, UtilizationSource};
pub use params::{BackendKind, TrialParams, UnknownBackend};
pub use wait::{UnknownWaitMode, WaitMode};

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// What `workload serve` writes on stdout, as one JSON line, once it
/// listens: `{"listening":"127.0.0.1:41234"}`. Logs go to stderr, so this
/// is the only line on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listening {
    /// The bound address.
    pub listening: SocketAddr,
}

impl Listening {
    /// The JSON line (without its newline).
    pub fn line(&self) -> String {
        // A struct of one address always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads the line back; `None` for any other line.
    pub fn parse(line: &str) -> Option<Listening> {
        serde_json::from_str(line.trim()).ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_listening_line_round_trips() {
        let l = Listening {
            listening: "127.0.0.1:41234".parse().unwrap(),
        };
        assert_eq!(l.line(), r#"{"listening":"127.0.0.1:41234"}"#);
        assert_eq!(Listening::parse(&format!("{}\n", l.line())), Some(l));
        assert_eq!(Listening::parse("workload: ready"), None);
    }
}
