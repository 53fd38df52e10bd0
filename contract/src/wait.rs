//! How a worker thread waits for the GPU: the CUDA context's scheduling
//! flag `workload serve --wait-mode` sets, and what a campaign's
//! `pod.wait_mode` asks of every backend (the simulator models the CPU a
//! waiting thread burns from it; the local backend passes it on).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A CUDA context's scheduling flag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WaitMode {
    /// CUDA's own choice: spin while there are fewer active contexts than
    /// CPUs (always, for one service), otherwise yield.
    #[default]
    Auto,
    /// Busy-wait: lowest latency, one full core per waiting thread.
    Spin,
    /// Busy-wait, yielding the CPU between polls (still a busy core on
    /// Linux).
    Yield,
    /// Sleep on a synchronisation primitive: almost no CPU while waiting.
    /// Campaigns written before this name existed say `blocking`.
    #[serde(alias = "blocking")]
    BlockingSync,
}

/// A name that is no wait mode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown wait mode `{0}` (expected auto, spin, yield or blocking-sync)")]
pub struct UnknownWaitMode(pub String);

impl WaitMode {
    /// Every mode.
    pub const ALL: [WaitMode; 4] = [
        WaitMode::Auto,
        WaitMode::Spin,
        WaitMode::Yield,
        WaitMode::BlockingSync,
    ];

    /// The name on the command line, in `/metrics` and in
    /// `trials.wait_mode`.
    pub const fn as_str(self) -> &'static str {
        match self {
            WaitMode::Auto => "auto",
            WaitMode::Spin => "spin",
            WaitMode::Yield => "yield",
            WaitMode::BlockingSync => "blocking-sync",
        }
    }
}

impl fmt::Display for WaitMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WaitMode {
    type Err = UnknownWaitMode;
    fn from_str(s: &str) -> Result<Self, UnknownWaitMode> {
        WaitMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownWaitMode(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn one_spelling_everywhere_and_the_old_campaign_name_still_reads() {
        for m in WaitMode::ALL {
            assert_eq!(m.as_str().parse::<WaitMode>(), Ok(m));
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
        let old: WaitMode = serde_json::from_str("\"blocking\"").unwrap();
        assert_eq!(old, WaitMode::BlockingSync);
        assert!("sleep".parse::<WaitMode>().is_err());
    }
}
