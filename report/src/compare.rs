//! Comparisons of each arm with the baseline arm per scenario × load
//! profile × metric.
//!
//! Each trial is one observation. Where both arms ran the same seeds (the
//! bench's common-random-numbers design), the analysis is paired by seed.
//!
//! * **Values**, paired: the per-seed differences (treatment − baseline),
//!   the Wilcoxon signed-rank test, the Hodges–Lehmann estimate and its
//!   exact confidence interval from the Walsh averages (the interval that
//!   inverts the signed-rank test). Unpaired: Mann–Whitney U, the
//!   two-sample Hodges–Lehmann shift and its exact interval, Cliff's delta.
//! * **Times to an event** (responsiveness), censored at the trial's end:
//!   per arm the share of trials that reacted and the Kaplan–Meier median
//!   with its CI; between arms the paired Gehan sign test (which arm's event
//!   is known to come first in each seed pair).
//!
//! Each question declares one primary endpoint ([`MetricDef::primary`]).
//! Holm's step-down correction runs across the primary tests of a
//! scenario × load profile (every arm against the baseline on every primary
//! endpoint); their intervals are at the matching step-down
//! level (see [`step_down_levels`]), so a primary interval excludes zero
//! exactly when its Holm-adjusted p is below [`ALPHA`] (for data without
//! ties). Every other metric is secondary: a 95 % interval and an
//! unadjusted p. Rows whose pairs are all identical are not tests.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::dataset::ArmInfo;
use crate::finding;
use crate::metrics::{Kind, Metric, MetricDef, TrialMetrics, METRICS};
use crate::stats;
use crate::survival::{self, Observation};

/// Fewest pairs for a paired comparison: with fewer, even the most extreme
/// result cannot reach p < 0.05 with the exact Wilcoxon test.
pub const MIN_PAIRS: usize = 6;
/// Fewest trials per arm for an unpaired comparison (Mann–Whitney's smallest
/// two-sided p with 4 and 4 is 0.029).
pub const MIN_PER_ARM: usize = 4;
/// Family-wise significance level of the primary endpoints of a cell, and
/// the level of each secondary test.
pub const ALPHA: f64 = 0.05;

/// Which analysis a row used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Design {
    /// Paired by seed: Wilcoxon signed-rank.
    Paired,
    /// Unpaired: Mann–Whitney U.
    Unpaired,
    /// Paired times to an event with censoring: Gehan sign test.
    Censored,
    /// Every seed pair identical: nothing to test.
    Identical,
    /// Too few trials to test.
    TooFew,
}

/// What a row concludes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Significant, and the interval lies beyond the margin, the good way.
    Better,
    /// Significant, and the interval lies beyond the margin, the bad way.
    Worse,
    /// Significant and beyond the margin for a metric with no preferred
    /// direction.
    Differs,
    /// The interval lies inside ± the margin.
    Equivalent,
    /// Neither: the data cannot tell.
    CannotTell,
    /// Every pair identical.
    Identical,
    /// Too few trials.
    TooFew,
}

/// Kaplan–Meier summary of one arm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct KmSummary {
    /// Median time (`None`: fewer than half reacted).
    pub median: Option<f64>,
    /// Lower end of its CI.
    pub low: Option<f64>,
    /// Upper end (`None`: not reached).
    pub high: Option<f64>,
}

/// The time-to-event part of a responsiveness row.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TimeToEvent {
    /// Baseline trials at max replicas when the load changed (left out).
    pub at_max_baseline: usize,
    /// Treatment trials at max replicas (left out).
    pub at_max_treatment: usize,
    /// Baseline trials left in.
    pub trials_baseline: usize,
    /// Treatment trials left in.
    pub trials_treatment: usize,
    /// Baseline trials whose event came before the trial's end.
    pub events_baseline: usize,
    /// Treatment trials whose event came.
    pub events_treatment: usize,
    /// Kaplan–Meier median of the baseline.
    pub km_baseline: KmSummary,
    /// Kaplan–Meier median of the treatment.
    pub km_treatment: KmSummary,
    /// Seed pairs where the treatment's event is known to come first.
    pub treatment_first: usize,
    /// Seed pairs where the baseline's is.
    pub baseline_first: usize,
    /// Seed pairs whose order cannot be told, or ties.
    pub undetermined: usize,
}

/// One row of a question's table.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// Scenario.
    pub scenario: String,
    /// Load profile.
    pub load_profile: String,
    /// Metric key.
    pub metric: Metric,
    /// The research question it answers.
    pub question: crate::question::Question,
    /// The question's declared primary endpoint.
    pub primary: bool,
    /// Baseline arm (the difference is treatment − baseline).
    pub baseline: String,
    /// Treatment arm.
    pub treatment: String,
    /// Analysis used.
    pub design: Design,
    /// Trials of the baseline with a value.
    pub n_baseline: usize,
    /// Trials of the treatment with a value.
    pub n_treatment: usize,
    /// Seeds with a value in both arms.
    pub n_pairs: usize,
    /// Median of the baseline's trials (Kaplan–Meier for times to an event).
    pub median_baseline: Option<f64>,
    /// Median of the treatment's trials.
    pub median_treatment: Option<f64>,
    /// Mean of the baseline's trials (values only).
    pub mean_baseline: Option<f64>,
    /// Mean of the treatment's trials.
    pub mean_treatment: Option<f64>,
    /// Estimate of treatment − baseline: Hodges–Lehmann, or the difference
    /// of Kaplan–Meier medians.
    pub estimate: Option<f64>,
    /// Lower end of the interval of the estimate (exact Hodges–Lehmann).
    pub ci_low: Option<f64>,
    /// Upper end of the interval.
    pub ci_high: Option<f64>,
    /// Requested confidence level of the interval.
    pub ci_level: Option<f64>,
    /// Raw two-sided p-value.
    pub p_value: Option<f64>,
    /// Holm-adjusted p-value across the cell's primary endpoints (primary
    /// rows only).
    pub p_holm: Option<f64>,
    /// Cliff's delta (unpaired) or the share of seeds where the treatment
    /// was higher minus the share where it was lower (paired).
    pub effect: Option<f64>,
    /// Smallest difference that matters, in the metric's unit.
    pub margin: Option<f64>,
    /// Times to an event: shares, Kaplan–Meier medians, sign-test counts.
    pub time_to_event: Option<TimeToEvent>,
    /// What the row concludes.
    pub verdict: Verdict,
    /// The generated one-sentence finding.
    pub finding: String,
}

impl Comparison {
    /// The p-value the verdict is judged on: Holm-adjusted for a primary
    /// endpoint, raw for a secondary one.
    pub fn judged_p(&self) -> Option<f64> {
        if self.primary {
            self.p_holm
        } else {
            self.p_value
        }
    }

    /// Significant at [`ALPHA`] (Holm-adjusted for primary endpoints).
    pub fn significant(&self) -> bool {
        self.judged_p().is_some_and(|p| p < ALPHA)
    }
}

/// What a finding says about where its numbers come from, per scenario.
pub type Provenance = BTreeMap<String, String>;

/// The confidence level of each of `p`'s intervals under Holm's step-down
/// procedure at family level `alpha`: sorted ascending, the j-th of m
/// (1-based) is tested at `alpha / (m − j + 1)` while every earlier one was
/// rejected; from the first that is not, every later one keeps that step's
/// level. An interval at these levels excludes the null exactly when the
/// Holm-adjusted p is below `alpha` (for tests the intervals invert).
pub fn step_down_levels(p: &[f64], alpha: f64) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut levels = vec![1.0 - alpha; m];
    let mut stopped: Option<f64> = None;
    for (j, &i) in order.iter().enumerate() {
        let step = alpha / (m - j) as f64;
        let a = match stopped {
            Some(a) => a,
            None => {
                if !(p[i] < step) {
                    stopped = Some(step);
                }
                step
            }
        };
        levels[i] = 1.0 - a;
    }
    levels
}

/// Every comparison of the campaign: each arm against the baseline (the
/// first of `arms`, which are in display order), cells in name order, then
/// metrics in [`METRICS`] order, then the arms in their order. Holm runs
/// across each cell's family of primary tests: every arm against the
/// baseline on every primary endpoint (with two arms, the five primary
/// endpoints). `provenance` says, per scenario, where the numbers come from
/// (appended to each finding).
pub fn compare_all(
    trials: &[TrialMetrics],
    arms: &[ArmInfo],
    provenance: &Provenance,
) -> Vec<Comparison> {
    let Some((base, treatments)) = arms.split_first() else {
        return Vec::new();
    };
    let base = base.name.as_str();
    let mut cells: BTreeMap<(&str, &str), Vec<&TrialMetrics>> = BTreeMap::new();
    for t in trials {
        cells
            .entry((t.scenario.as_str(), t.load_profile.as_str()))
            .or_default()
            .push(t);
    }
    let mut rows = Vec::new();
    for ((scenario, profile), ts) in &cells {
        let first = rows.len();
        // Primary endpoints first, to know their family and levels.
        let mut family: Vec<(&str, Metric, f64)> = Vec::new();
        for treat in treatments {
            for d in METRICS.iter().filter(|d| d.primary) {
                let probe = compare_metric(scenario, profile, d, ts, base, &treat.name, 0.95);
                if let Some(p) = probe.p_value.filter(|p| p.is_finite()) {
                    family.push((treat.name.as_str(), d.key, p));
                }
            }
        }
        let ps: Vec<f64> = family.iter().map(|f| f.2).collect();
        let levels = step_down_levels(&ps, ALPHA);
        let adjusted = stats::holm(&ps);
        for def in METRICS {
            for treat in treatments {
                let k = family
                    .iter()
                    .position(|f| f.0 == treat.name && f.1 == def.key);
                let level = k.map_or(1.0 - ALPHA, |k| levels[k]);
                let mut row = compare_metric(scenario, profile, def, ts, base, &treat.name, level);
                if let Some(k) = k {
                    row.p_holm = adjusted.get(k).copied();
                }
                rows.push(row);
            }
        }
        let note = provenance.get(*scenario).cloned().unwrap_or_default();
        for r in &mut rows[first..] {
            r.verdict = verdict(r);
            r.finding = finding::sentence(r.metric.def(), r, &note);
        }
    }
    rows
}

/// The verdict of a finished row: better or worse only when significant
/// and the interval lies beyond the margin; equivalent when it lies inside
/// the margin; otherwise the data cannot tell.
fn verdict(r: &Comparison) -> Verdict {
    let def = r.metric.def();
    match r.design {
        Design::TooFew => return Verdict::TooFew,
        Design::Identical => return Verdict::Identical,
        _ => {}
    }
    let margin = r.margin.unwrap_or(0.0);
    let directed = |up: bool| match (def.better, up) {
        (crate::metrics::Better::Neither, _) => Verdict::Differs,
        (crate::metrics::Better::Higher, true) | (crate::metrics::Better::Lower, false) => {
            Verdict::Better
        }
        _ => Verdict::Worse,
    };
    let (lo, hi) = match (r.ci_low, r.ci_high, &r.time_to_event) {
        (Some(lo), Some(hi), _) => (lo, hi),
        // Censored pairs have no interval of the difference: the arms'
        // Kaplan–Meier median intervals must lie apart by more than the
        // margin.
        (_, _, Some(tte)) if r.significant() => {
            let (b, t) = (tte.km_baseline, tte.km_treatment);
            if let (Some(tl), Some(bh)) = (t.low, b.high) {
                if tl - bh > margin {
                    return directed(true);
                }
            }
            if let (Some(th), Some(bl)) = (t.high, b.low) {
                if bl - th > margin {
                    return directed(false);
                }
            }
            return Verdict::CannotTell;
        }
        _ => return Verdict::CannotTell,
    };
    // The interval must agree with the test: significant and excluding 0.
    let beyond_up = lo > margin && lo > 0.0;
    let beyond_down = hi < -margin && hi < 0.0;
    if r.significant() && (beyond_up || beyond_down) {
        return directed(beyond_up);
    }
    if margin > 0.0 && lo > -margin && hi < margin {
        return Verdict::Equivalent;
    }
    Verdict::CannotTell
}

fn values_by_seed<'a>(
    trials: &[&'a TrialMetrics],
    arm: &str,
    key: Metric,
) -> BTreeMap<i64, &'a TrialMetrics> {
    trials
        .iter()
        .filter(|t| t.arm == arm)
        .filter(|t| t.get(key).is_some_and(f64::is_finite))
        .map(|t| (t.seed, *t))
        .collect()
}

fn compare_metric(
    scenario: &str,
    profile: &str,
    def: &MetricDef,
    trials: &[&TrialMetrics],
    base: &str,
    treat: &str,
    level: f64,
) -> Comparison {
    let (b, t) = (
        values_by_seed(trials, base, def.key),
        values_by_seed(trials, treat, def.key),
    );
    let value = |m: &&TrialMetrics| m.get(def.key).unwrap_or(f64::NAN);
    let bv: Vec<f64> = b.values().map(value).collect();
    let tv: Vec<f64> = t.values().map(value).collect();
    let seeds = |arm: &str| {
        let mut s: Vec<i64> = trials
            .iter()
            .filter(|x| x.arm == arm)
            .map(|x| x.seed)
            .collect();
        s.sort_unstable();
        s
    };
    let shared_design = seeds(base) == seeds(treat);
    let pairs: Vec<(&TrialMetrics, &TrialMetrics)> = b
        .iter()
        .filter_map(|(s, x)| t.get(s).map(|y| (*x, *y)))
        .collect();
    let diffs: Vec<f64> = pairs.iter().map(|(x, y)| value(y) - value(x)).collect();
    let mut row = Comparison {
        scenario: scenario.to_string(),
        load_profile: profile.to_string(),
        metric: def.key,
        question: def.question,
        primary: def.primary,
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
        ci_level: None,
        p_value: None,
        p_holm: None,
        effect: None,
        margin: None,
        time_to_event: None,
        verdict: Verdict::TooFew,
        finding: String::new(),
    };
    if def.kind == Kind::TimeToEvent {
        time_to_event(&mut row, def, trials, base, treat, &pairs, level);
        row.margin = def.margin.resolve(row.median_baseline);
        return row;
    }
    row.margin = def.margin.resolve(row.median_baseline);
    if shared_design {
        if diffs.len() < MIN_PAIRS {
            return row;
        }
        if diffs.iter().all(|d| *d == 0.0) {
            row.design = Design::Identical;
            row.estimate = Some(0.0);
            return row;
        }
        row.design = Design::Paired;
        row.estimate = stats::hodges_lehmann_paired(&diffs);
        if let Some(ci) = stats::hodges_lehmann_paired_ci(&diffs, level) {
            row.ci_low = Some(ci.low);
            row.ci_high = Some(ci.high);
            row.ci_level = Some(level);
        }
        row.p_value = stats::wilcoxon_signed_rank(&diffs).map(|w| w.p_value);
        let n = diffs.len() as f64;
        let up = diffs.iter().filter(|d| **d > 0.0).count() as f64;
        let down = diffs.iter().filter(|d| **d < 0.0).count() as f64;
        row.effect = Some((up - down) / n);
    } else {
        if bv.len() < MIN_PER_ARM || tv.len() < MIN_PER_ARM {
            return row;
        }
        let all_same = bv.iter().chain(&tv).all(|v| *v == bv[0]);
        if all_same {
            row.design = Design::Identical;
            row.estimate = Some(0.0);
            return row;
        }
        row.design = Design::Unpaired;
        row.estimate = stats::hodges_lehmann_two_sample(&tv, &bv);
        if let Some(ci) = stats::hodges_lehmann_two_sample_ci(&tv, &bv, level) {
            row.ci_low = Some(ci.low);
            row.ci_high = Some(ci.high);
            row.ci_level = Some(level);
        }
        row.p_value = stats::mann_whitney_u(&tv, &bv).map(|m| m.p_value);
        row.effect = stats::cliffs_delta(&tv, &bv);
    }
    row
}

pub(crate) fn observation(t: &TrialMetrics, key: Metric) -> Option<Observation> {
    t.get(key)
        .filter(|v| v.is_finite())
        .map(|time| Observation {
            time,
            event: !t.is_censored(key),
        })
}

pub(crate) fn km(obs: &[Observation]) -> KmSummary {
    match survival::kaplan_meier(obs) {
        Some(k) => KmSummary {
            median: k.median,
            low: k.median_ci.0,
            high: k.median_ci.1,
        },
        None => KmSummary::default(),
    }
}

/// A responsiveness row: Kaplan–Meier per arm, the Gehan sign test between
/// the arms of each seed pair. The interval, where there is one, is the
/// exact Hodges–Lehmann interval of the paired differences, computed only
/// when no trial of a pair is censored (then the times are ordinary values).
fn time_to_event(
    row: &mut Comparison,
    def: &MetricDef,
    trials: &[&TrialMetrics],
    base: &str,
    treat: &str,
    pairs: &[(&TrialMetrics, &TrialMetrics)],
    level: f64,
) {
    let at_max = |arm: &str| {
        trials
            .iter()
            .filter(|t| t.arm == arm && t.at_max_at_change == Some(true))
            .count()
    };
    let obs = |arm: &str| -> Vec<Observation> {
        trials
            .iter()
            .filter(|t| t.arm == arm)
            .filter_map(|t| observation(t, def.key))
            .collect()
    };
    let (ob, ot) = (obs(base), obs(treat));
    let (kb, kt) = (km(&ob), km(&ot));
    let paired: Vec<(Observation, Observation)> = pairs
        .iter()
        .filter_map(|(x, y)| Some((observation(x, def.key)?, observation(y, def.key)?)))
        .collect();
    let mut tte = TimeToEvent {
        at_max_baseline: at_max(base),
        at_max_treatment: at_max(treat),
        trials_baseline: ob.len(),
        trials_treatment: ot.len(),
        events_baseline: ob.iter().filter(|o| o.event).count(),
        events_treatment: ot.iter().filter(|o| o.event).count(),
        km_baseline: kb,
        km_treatment: kt,
        ..TimeToEvent::default()
    };
    row.median_baseline = kb.median;
    row.median_treatment = kt.median;
    row.mean_baseline = None;
    row.mean_treatment = None;
    if paired.len() >= MIN_PAIRS {
        let identical = paired
            .iter()
            .all(|(x, y)| x.event == y.event && x.time == y.time);
        if identical {
            row.design = Design::Identical;
            row.estimate = Some(0.0);
        } else if let Some(s) = survival::paired_censored_sign_test(&paired) {
            row.design = Design::Censored;
            tte.treatment_first = s.treatment_first;
            tte.baseline_first = s.baseline_first;
            tte.undetermined = s.undetermined;
            row.p_value = Some(s.p_value);
            let n = paired.len() as f64;
            row.effect = Some((s.baseline_first as f64 - s.treatment_first as f64) / n);
            row.estimate = kt.median.zip(kb.median).map(|(t, b)| t - b);
            if paired.iter().all(|(x, y)| x.event && y.event) {
                let diffs: Vec<f64> = paired.iter().map(|(x, y)| y.time - x.time).collect();
                row.estimate = stats::hodges_lehmann_paired(&diffs);
                if let Some(ci) = stats::hodges_lehmann_paired_ci(&diffs, level) {
                    row.ci_low = Some(ci.low);
                    row.ci_high = Some(ci.high);
                    row.ci_level = Some(level);
                }
            }
        }
    }
    row.time_to_event = Some(tte);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_down_levels_follow_holm() {
        // m = 3: 0.01 < 0.05/3 rejected; 0.02 < 0.05/2 rejected; 0.2 stops.
        let l = step_down_levels(&[0.2, 0.01, 0.02], 0.05);
        assert!((l[1] - (1.0 - 0.05 / 3.0)).abs() < 1e-12);
        assert!((l[2] - (1.0 - 0.05 / 2.0)).abs() < 1e-12);
        assert!((l[0] - 0.95).abs() < 1e-12);
        // 0.02 > 0.05/3 stops at the first step: every later row keeps it.
        let l = step_down_levels(&[0.02, 0.03, 0.04], 0.05);
        for x in l {
            assert!((x - (1.0 - 0.05 / 3.0)).abs() < 1e-12);
        }
    }

    #[test]
    fn step_down_intervals_agree_with_holm_on_random_families() {
        // For exact signed-rank intervals (no ties), 0 lies outside the
        // interval at its step-down level exactly when Holm rejects.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..300 {
            let shift: Vec<f64> = (0..4).map(|_| next() * 1.5 - 0.3).collect();
            let samples: Vec<Vec<f64>> = shift
                .iter()
                .map(|s| (0..12).map(|_| next() - 0.5 + s).collect())
                .collect();
            let ps: Vec<f64> = samples
                .iter()
                .map(|d| stats::wilcoxon_signed_rank(d).map_or(f64::NAN, |w| w.p_value))
                .collect();
            let holm = stats::holm(&ps);
            let levels = step_down_levels(&ps, ALPHA);
            for k in 0..4 {
                let ci = stats::hodges_lehmann_paired_ci(&samples[k], levels[k])
                    .expect("n = 12 gives an interval");
                let excludes = ci.low > 0.0 || ci.high < 0.0;
                assert_eq!(
                    excludes,
                    holm[k] < ALPHA,
                    "p {ps:?} holm {holm:?} level {} ci {ci:?}",
                    levels[k]
                );
            }
        }
    }
}
