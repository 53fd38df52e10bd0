//! The simulator's twin: one campaign file run on the local backend and on
//! the simulator, side by side per metric with the relative error.
//!
//! Trials pair by scenario × load profile × arm × seed (the same schedule on
//! both backends). For each scenario × profile × arm and each metric the
//! table gives the mean over the paired trials on each backend and the
//! relative error of the simulator, (sim − local) / |local|. This is how far
//! to trust the simulator for a campaign: it says nothing about which arm is
//! better.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use contract::BackendKind;

use crate::dataset::{self, CampaignData, CampaignInfo};
use crate::metrics::{trial_metrics, Metric, METRICS};
use crate::{Error, Result};

/// One metric of one scenario × profile × arm on both backends.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TwinRow {
    /// Scenario.
    pub scenario: String,
    /// Load profile.
    pub load_profile: String,
    /// Arm.
    pub arm: String,
    /// Metric key (see `METRICS`).
    pub metric: Metric,
    /// Its unit.
    pub unit: &'static str,
    /// Trials paired by seed with a value on both backends.
    pub n: usize,
    /// Mean on the local backend.
    pub local: Option<f64>,
    /// Mean on the simulator.
    pub sim: Option<f64>,
    /// (sim − local) / |local|; `None` when local is 0 or missing.
    pub rel_error: Option<f64>,
}

/// The twin comparison of two campaigns.
#[derive(Clone, Debug, Serialize)]
pub struct Twin {
    /// The local-backend campaign.
    pub local_campaign: i64,
    /// The simulator campaign.
    pub sim_campaign: i64,
    /// Campaign name.
    pub name: String,
    /// One row per scenario × profile × arm × metric.
    pub rows: Vec<TwinRow>,
}

/// The newest measured (local or k8s) and sim campaigns of the same file
/// (same hash), if any.
pub fn find_pair(campaigns: &[CampaignInfo]) -> Option<(i64, i64)> {
    // `campaigns` is newest first.
    campaigns.iter().find_map(|l| {
        l.backend.is_real().then_some(())?;
        let s = campaigns
            .iter()
            .find(|s| s.backend == BackendKind::Sim && s.config_sha256 == l.config_sha256)?;
        Some((l.id, s.id))
    })
}

/// Compares two loaded campaigns.
pub fn compare(local: &CampaignData, sim: &CampaignData, slo_ms: f64) -> Result<Twin> {
    let lm = trial_metrics(local, slo_ms)?;
    let sm = trial_metrics(sim, slo_ms)?;
    type Key = (String, String, String);
    let mut sim_by: BTreeMap<(Key, i64), &crate::metrics::TrialMetrics> = BTreeMap::new();
    for t in &sm {
        sim_by.insert(
            (
                (t.scenario.clone(), t.load_profile.clone(), t.arm.clone()),
                t.seed,
            ),
            t,
        );
    }
    let mut cells: BTreeMap<
        Key,
        Vec<(&crate::metrics::TrialMetrics, &crate::metrics::TrialMetrics)>,
    > = BTreeMap::new();
    for t in &lm {
        let key = (t.scenario.clone(), t.load_profile.clone(), t.arm.clone());
        if let Some(s) = sim_by.get(&(key.clone(), t.seed)) {
            cells.entry(key).or_default().push((t, s));
        }
    }
    let mut rows = Vec::new();
    for ((scenario, load_profile, arm), pairs) in cells {
        for def in METRICS {
            let both: Vec<(f64, f64)> = pairs
                .iter()
                .filter_map(|(l, s)| Some((l.get(def.key)?, s.get(def.key)?)))
                .collect();
            let mean = |v: &mut dyn Iterator<Item = f64>| {
                let (sum, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
                (n > 0).then(|| sum / n as f64)
            };
            let local = mean(&mut both.iter().map(|p| p.0));
            let sim = mean(&mut both.iter().map(|p| p.1));
            let rel_error = match (local, sim) {
                (Some(l), Some(s)) if l != 0.0 => Some((s - l) / l.abs()),
                _ => None,
            };
            rows.push(TwinRow {
                scenario: scenario.clone(),
                load_profile: load_profile.clone(),
                arm: arm.clone(),
                metric: def.key,
                unit: def.unit,
                n: both.len(),
                local,
                sim,
                rel_error,
            });
        }
    }
    Ok(Twin {
        local_campaign: local.info.id,
        sim_campaign: sim.info.id,
        name: local.info.name.clone(),
        rows,
    })
}

/// Loads the two campaigns to compare from the dataset at `path`: the given
/// (local, sim) ids, or the newest local/sim pair of the same campaign file.
/// Run [`compare`] on the result outside the async runtime (polars must not
/// run inside it).
pub async fn load_pair(
    path: &Path,
    ids: Option<(i64, i64)>,
) -> Result<(CampaignData, CampaignData)> {
    let mut conn = dataset::connect_read_only(path).await?;
    let all = dataset::campaigns(&mut conn).await?;
    let (l, s) = match ids {
        Some(p) => p,
        None => find_pair(&all).ok_or_else(|| {
            Error::Dataset(format!(
                "{}: no campaign was run on both the local backend and the simulator (run the same campaign file with `bench run --backend local` and `--backend sim` into this dataset)",
                path.display()
            ))
        })?,
    };
    let local = dataset::load_campaign(&mut conn, path, l)
        .await?
        .ok_or_else(|| Error::Dataset(format!("no campaign {l} in {}", path.display())))?;
    let sim = dataset::load_campaign(&mut conn, path, s)
        .await?
        .ok_or_else(|| Error::Dataset(format!("no campaign {s} in {}", path.display())))?;
    for (c, real) in [(&local.info, true), (&sim.info, false)] {
        if c.backend.is_real() != real {
            return Err(Error::Dataset(format!(
                "campaign {} ran on `{}`, expected {}",
                c.id,
                c.backend,
                if real { "`local` or `k8s`" } else { "`sim`" }
            )));
        }
    }
    Ok((local, sim))
}

/// A plain-text table of the comparison.
pub fn text(t: &Twin) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Campaign `{}`: local backend (campaign {}) vs simulator (campaign {}); rel. error = (sim - local) / |local|",
        t.name, t.local_campaign, t.sim_campaign
    );
    let mut last = None;
    for r in &t.rows {
        let cell = (&r.scenario, &r.load_profile, &r.arm);
        if last != Some(cell) {
            let _ = writeln!(
                o,
                "\n{} / {} / {} (n = {} seed pairs)",
                r.scenario, r.load_profile, r.arm, r.n
            );
            let _ = writeln!(
                o,
                "  {:<22} {:>12} {:>12} {:>10}  unit",
                "metric", "local", "sim", "rel.err"
            );
            last = Some(cell);
        }
        let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
        let e = r
            .rel_error
            .map_or("-".to_string(), |e| format!("{:+.1}%", 100.0 * e));
        let _ = writeln!(
            o,
            "  {:<22} {:>12} {:>12} {:>10}  {}",
            r.metric,
            f(r.local),
            f(r.sim),
            e,
            r.unit
        );
    }
    o
}
