//! Comparisons between the two arms per scenario × load profile × metric.
//!
//! Each trial is one observation. Where both arms ran the same seeds (the
//! bench's common-random-numbers design), the analysis is paired: the
//! per-seed differences (treatment − baseline), the Wilcoxon signed-rank
//! test, and the Hodges–Lehmann estimate of the difference with a seeded
//! percentile-bootstrap 95 % CI. Otherwise Mann–Whitney U with Cliff's delta
//! and the two-sample Hodges–Lehmann shift. p-values are Holm-adjusted
//! across each research question's table.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::finding;
use crate::metrics::{MetricDef, TrialMetrics, METRICS};
use crate::stats;

/// Bootstrap resamples for every CI.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;
/// Seed of the bootstrap (fixed: the report is reproducible).
pub const BOOTSTRAP_SEED: u64 = 20_261_128;
/// Fewest pairs for a paired comparison: with fewer, even the most extreme
/// result cannot reach p < 0.05 with the exact Wilcoxon test.
pub const MIN_PAIRS: usize = 6;
/// Fewest trials per arm for an unpaired comparison (Mann–Whitney's smallest
/// two-sided p with 4 and 4 is 0.029).
pub const MIN_PER_ARM: usize = 4;
/// Significance level after Holm correction.
pub const ALPHA: f64 = 0.05;

/// Which test a row used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Design {
    /// Paired by seed: Wilcoxon signed-rank.
    Paired,
    /// Unpaired: Mann–Whitney U.
    Unpaired,
    /// Too few trials to test.
    TooFew,
}

/// One row of a question's table.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// Scenario.
    pub scenario: String,
    /// Load profile.
    pub load_profile: String,
    /// Metric key.
    pub metric: &'static str,
    /// Research question (1–5).
    pub question: u8,
    /// Baseline arm (the difference is treatment − baseline).
    pub baseline: String,
    /// Treatment arm.
    pub treatment: String,
    /// Test design.
    pub design: Design,
    /// Trials of the baseline with a value.
    pub n_baseline: usize,
    /// Trials of the treatment with a value.
    pub n_treatment: usize,
    /// Seeds with a value in both arms.
    pub n_pairs: usize,
    /// Median of the baseline's trials.
    pub median_baseline: Option<f64>,
    /// Median of the treatment's trials.
    pub median_treatment: Option<f64>,
    /// Mean of the baseline's trials.
    pub mean_baseline: Option<f64>,
    /// Mean of the treatment's trials.
    pub mean_treatment: Option<f64>,
    /// Hodges–Lehmann estimate of treatment − baseline.
    pub estimate: Option<f64>,
    /// Bootstrap 95 % CI of the estimate.
    pub ci_low: Option<f64>,
    /// Upper end of the CI.
    pub ci_high: Option<f64>,
    /// Raw two-sided p-value.
    pub p_value: Option<f64>,
    /// Holm-adjusted p-value (within the question's table).
    pub p_holm: Option<f64>,
    /// Cliff's delta (unpaired) or the share of seeds where the treatment
    /// was higher minus the share where it was lower (paired).
    pub effect: Option<f64>,
    /// The generated one-sentence finding.
    pub finding: String,
}

/// The two arms compared: `userscale` against `hpa` when present, else the
/// first two arms in name order.
pub fn arms(trials: &[TrialMetrics]) -> Option<(String, String)> {
    let mut names: Vec<&str> = trials.iter().map(|t| t.arm.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    if names.contains(&"hpa") && names.contains(&"userscale") {
        return Some(("hpa".into(), "userscale".into()));
    }
    match names.as_slice() {
        [a, b, ..] => Some(((*a).to_string(), (*b).to_string())),
        _ => None,
    }
}

/// Every comparison of the campaign: cells in name order, metrics in
/// [`METRICS`] order, Holm applied per question.
pub fn compare_all(trials: &[TrialMetrics]) -> Vec<Comparison> {
    let Some((base, treat)) = arms(trials) else {
        return Vec::new();
    };
    let mut cells: BTreeMap<(&str, &str), Vec<&TrialMetrics>> = BTreeMap::new();
    for t in trials {
        cells
            .entry((t.scenario.as_str(), t.load_profile.as_str()))
            .or_default()
            .push(t);
    }
    let mut rows = Vec::new();
    for ((scenario, profile), ts) in &cells {
        for def in METRICS {
            rows.push(compare_metric(scenario, profile, def, ts, &base, &treat));
        }
    }
    for q in 1..=5u8 {
        let idx: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].question == q).collect();
        let ps: Vec<f64> = idx
            .iter()
            .map(|&i| rows[i].p_value.unwrap_or(f64::NAN))
            .collect();
        let adj = stats::holm(&ps);
        for (k, &i) in idx.iter().enumerate() {
            rows[i].p_holm = adj.get(k).copied().filter(|p| !p.is_nan());
        }
    }
    for r in &mut rows {
        if let Some(def) = crate::metrics::metric(r.metric) {
            r.finding = finding::sentence(def, r);
        }
    }
    rows
}

fn compare_metric(
    scenario: &str,
    profile: &str,
    def: &MetricDef,
    trials: &[&TrialMetrics],
    base: &str,
    treat: &str,
) -> Comparison {
    let by_seed = |arm: &str| -> BTreeMap<i64, f64> {
        trials
            .iter()
            .filter(|t| t.arm == arm)
            .filter_map(|t| {
                t.get(def.key)
                    .filter(|v| v.is_finite())
                    .map(|v| (t.seed, v))
            })
            .collect()
    };
    let (b, t) = (by_seed(base), by_seed(treat));
    let bv: Vec<f64> = b.values().copied().collect();
    let tv: Vec<f64> = t.values().copied().collect();
    let seeds_b: Vec<i64> = trials
        .iter()
        .filter(|x| x.arm == base)
        .map(|x| x.seed)
        .collect();
    let seeds_t: Vec<i64> = trials
        .iter()
        .filter(|x| x.arm == treat)
        .map(|x| x.seed)
        .collect();
    let shared_design = {
        let (mut a, mut c) = (seeds_b.clone(), seeds_t.clone());
        a.sort_unstable();
        c.sort_unstable();
        a == c
    };
    let diffs: Vec<f64> = b
        .iter()
        .filter_map(|(s, x)| t.get(s).map(|y| y - x))
        .collect();
    let mut row = Comparison {
        scenario: scenario.to_string(),
        load_profile: profile.to_string(),
        metric: def.key,
        question: def.question,
        baseline: base.to_string(),
        treatment: treat.to_string(),
        design: Design::TooFew,
        n_baseline: bv.len(),
        n_treatment: tv.len(),
        n_pairs: diffs.len(),
        median_baseline: stats::median(&bv),
        median_treatment: stats::median(&tv),
        mean_baseline: stats::mean(&bv),
        mean_treatment: stats::mean(&tv),
        estimate: None,
        ci_low: None,
        ci_high: None,
        p_value: None,
        p_holm: None,
        effect: None,
        finding: String::new(),
    };
    if shared_design {
        if diffs.len() < MIN_PAIRS {
            return row;
        }
        row.design = Design::Paired;
        row.estimate = stats::hodges_lehmann_paired(&diffs);
        let ci = stats::bootstrap_ci(
            &diffs,
            |x| stats::hodges_lehmann_paired(x).unwrap_or(f64::NAN),
            BOOTSTRAP_RESAMPLES,
            0.95,
            BOOTSTRAP_SEED,
        );
        row.ci_low = ci.map(|c| c.0);
        row.ci_high = ci.map(|c| c.1);
        // All differences zero: no evidence of any difference.
        row.p_value = if diffs.iter().all(|d| *d == 0.0) {
            Some(1.0)
        } else {
            stats::wilcoxon_signed_rank(&diffs).map(|w| w.p_value)
        };
        let n = diffs.len() as f64;
        let up = diffs.iter().filter(|d| **d > 0.0).count() as f64;
        let down = diffs.iter().filter(|d| **d < 0.0).count() as f64;
        row.effect = Some((up - down) / n);
    } else {
        if bv.len() < MIN_PER_ARM || tv.len() < MIN_PER_ARM {
            return row;
        }
        row.design = Design::Unpaired;
        row.estimate = stats::hodges_lehmann_two_sample(&tv, &bv);
        let ci = stats::bootstrap_ci_two_sample(
            &tv,
            &bv,
            |x, y| stats::hodges_lehmann_two_sample(x, y).unwrap_or(f64::NAN),
            BOOTSTRAP_RESAMPLES,
            0.95,
            BOOTSTRAP_SEED,
        );
        row.ci_low = ci.map(|c| c.0);
        row.ci_high = ci.map(|c| c.1);
        row.p_value = stats::mann_whitney_u(&tv, &bv).map(|m| m.p_value);
        row.effect = stats::cliffs_delta(&tv, &bv);
    }
    row
}
