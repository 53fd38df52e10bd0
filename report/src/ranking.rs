//! Every arm at once: each arm's median and interval per metric, the
//! Friedman test across the arms (paired by seed) with Kendall's W and the
//! mean ranks, and the leaderboard of "Which policy serves best?" (SLO
//! attainment against GPU-slot-seconds, the Pareto front of the arms).
//!
//! The comparisons of each arm with the baseline are `compare`'s; this
//! module adds what no pairwise row shows: where every arm stands.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::compare::{self, Comparison, Verdict, MIN_PAIRS};
use crate::dataset::ArmInfo;
use crate::finding::{display_arm, fmt_number};
use crate::friedman::{self, Friedman};
use crate::metrics::{Better, Kind, Metric, TrialMetrics, METRICS};

/// Confidence level of the per-arm intervals.
pub const LEVEL: f64 = 0.95;

/// One arm's median of one metric, with its interval.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Estimate {
    /// Trials with a value.
    pub n: usize,
    /// Median of the trials' values; for a time to an event the
    /// Kaplan–Meier median (`None`: fewer than half reacted).
    pub median: Option<f64>,
    /// Lower end of its 95 % interval (order statistics; Kaplan–Meier's for
    /// a time to an event).
    pub low: Option<f64>,
    /// Upper end (`None` for a time to an event: not reached).
    pub high: Option<f64>,
    /// Trials whose event came (times to an event only).
    pub events: Option<usize>,
}

impl Estimate {
    /// The arm's estimate of `key` over `trials` (already one arm's, one
    /// cell's).
    pub fn of(trials: &[&TrialMetrics], key: Metric) -> Estimate {
        if key.def().kind == Kind::TimeToEvent {
            let obs: Vec<_> = trials
                .iter()
                .filter_map(|t| compare::observation(t, key))
                .collect();
            let k = compare::km(&obs);
            return Estimate {
                n: obs.len(),
                median: k.median,
                low: k.low,
                high: k.high,
                events: Some(obs.iter().filter(|o| o.event).count()),
            };
        }
        let values: Vec<f64> = trials
            .iter()
            .filter_map(|t| t.get(key))
            .filter(|v| v.is_finite())
            .collect();
        let ci = friedman::median_ci(&values, LEVEL);
        Estimate {
            n: values.len(),
            median: crate::stats::median(&values),
            low: ci.map(|c| c.low),
            high: ci.map(|c| c.high),
            events: None,
        }
    }
}

/// One arm's estimate of one metric in one cell.
#[derive(Clone, Debug, Serialize)]
pub struct ArmSummary {
    /// Scenario.
    pub scenario: String,
    /// Load profile.
    pub load_profile: String,
    /// Metric.
    pub metric: Metric,
    /// Arm.
    pub arm: String,
    /// Its estimate.
    pub estimate: Estimate,
}

/// The Friedman test of one metric in one cell across every arm.
#[derive(Clone, Debug, Serialize)]
pub struct RankTest {
    /// Scenario.
    pub scenario: String,
    /// Load profile.
    pub load_profile: String,
    /// Metric (values only: censored times are not ranked).
    pub metric: Metric,
    /// The arms ranked, in display order.
    pub arms: Vec<String>,
    /// Seeds with a value in every arm (the blocks).
    pub seeds: usize,
    /// Seeds left out because some arm has no value for them.
    pub seeds_left_out: usize,
    /// The test, with each arm's mean rank (1 = best: the highest value of
    /// a block for a higher-is-better metric, the lowest otherwise); `None`
    /// with fewer than [`MIN_PAIRS`] seeds or nothing to rank.
    pub friedman: Option<Friedman>,
}

/// The trials of one cell by arm.
type Cell<'a> = BTreeMap<&'a str, Vec<&'a TrialMetrics>>;

fn cells(trials: &[TrialMetrics]) -> BTreeMap<(&str, &str), Cell<'_>> {
    let mut out: BTreeMap<(&str, &str), Cell<'_>> = BTreeMap::new();
    for t in trials {
        out.entry((t.scenario.as_str(), t.load_profile.as_str()))
            .or_default()
            .entry(t.arm.as_str())
            .or_default()
            .push(t);
    }
    out
}

/// Every arm's estimate of every metric, cells in name order, then metrics
/// in [`METRICS`] order, then the arms in display order.
pub fn summaries(trials: &[TrialMetrics], arms: &[ArmInfo]) -> Vec<ArmSummary> {
    let mut out = Vec::new();
    for ((scenario, profile), by_arm) in cells(trials) {
        for def in METRICS {
            for arm in arms {
                let ts = by_arm.get(arm.name.as_str()).cloned().unwrap_or_default();
                out.push(ArmSummary {
                    scenario: scenario.to_string(),
                    load_profile: profile.to_string(),
                    metric: def.key,
                    arm: arm.name.clone(),
                    estimate: Estimate::of(&ts, def.key),
                });
            }
        }
    }
    out
}

/// The Friedman test of `key` in one cell over the seeds every arm has a
/// value for.
fn rank_test(
    scenario: &str,
    profile: &str,
    by_arm: &Cell<'_>,
    arms: &[ArmInfo],
    key: Metric,
) -> RankTest {
    let sign = if key.def().better == Better::Higher {
        -1.0
    } else {
        1.0
    };
    let per_arm: Vec<BTreeMap<i64, f64>> = arms
        .iter()
        .map(|a| {
            by_arm
                .get(a.name.as_str())
                .map(|ts| {
                    ts.iter()
                        .filter_map(|t| Some((t.seed, t.get(key).filter(|v| v.is_finite())?)))
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    let mut all_seeds: Vec<i64> = per_arm.iter().flat_map(|m| m.keys().copied()).collect();
    all_seeds.sort_unstable();
    all_seeds.dedup();
    let blocks: Vec<Vec<f64>> = all_seeds
        .iter()
        .filter_map(|s| {
            per_arm
                .iter()
                .map(|m| m.get(s).map(|v| sign * v))
                .collect::<Option<Vec<f64>>>()
        })
        .collect();
    let test = if blocks.len() >= MIN_PAIRS {
        friedman::friedman(&blocks)
    } else {
        None
    };
    RankTest {
        scenario: scenario.to_string(),
        load_profile: profile.to_string(),
        metric: key,
        arms: arms.iter().map(|a| a.name.clone()).collect(),
        seeds: blocks.len(),
        seeds_left_out: all_seeds.len() - blocks.len(),
        friedman: test,
    }
}

/// The Friedman test of every value metric in every cell across all arms.
pub fn rank_tests(trials: &[TrialMetrics], arms: &[ArmInfo]) -> Vec<RankTest> {
    let mut out = Vec::new();
    for ((scenario, profile), by_arm) in cells(trials) {
        for def in METRICS.iter().filter(|d| d.kind == Kind::Value) {
            out.push(rank_test(scenario, profile, &by_arm, arms, def.key));
        }
    }
    out
}

/// The metrics of "Which policy serves best?": what is served, what it
/// costs, and the tail.
pub const SERVE: Metric = Metric::SloAttainment;
/// The cost axis: GPU-slot-seconds.
pub const COST: Metric = Metric::SlotSeconds;

/// One arm on the leaderboard of a cell.
#[derive(Clone, Debug, Serialize)]
pub struct LeaderRow {
    /// Arm.
    pub arm: String,
    /// Its policy's kind.
    pub kind: String,
    /// Whether it is the baseline.
    pub baseline: bool,
    /// SLO attainment (share of requests answered OK within the SLO).
    pub slo: Estimate,
    /// GPU-slot-seconds after warm-up.
    pub cost: Estimate,
    /// GPU energy per successful request, J.
    pub energy: Estimate,
    /// p95 latency, ms.
    pub p95: Estimate,
    /// No other arm has at least its median SLO attainment at no more
    /// median GPU-slot-seconds, better in one of the two.
    pub pareto: bool,
    /// Mean rank on SLO attainment over the seeds (Friedman; 1 = best).
    pub slo_rank: Option<f64>,
    /// Verdict of its paired comparison with the baseline on SLO attainment.
    pub slo_verdict: Option<Verdict>,
    /// Verdict on GPU-slot-seconds.
    pub cost_verdict: Option<Verdict>,
}

/// The leaderboard of one cell.
#[derive(Clone, Debug, Serialize)]
pub struct Leaderboard {
    /// Scenario.
    pub scenario: String,
    /// Load profile.
    pub load_profile: String,
    /// Arms: the Pareto front first, then the others; each group by SLO
    /// attainment (highest first), then GPU-slot-seconds (fewest first).
    pub rows: Vec<LeaderRow>,
    /// Friedman across the arms on SLO attainment.
    pub slo_test: Option<Friedman>,
    /// Friedman across the arms on GPU-slot-seconds.
    pub cost_test: Option<Friedman>,
    /// The cell in plain words.
    pub summary: String,
}

/// Whether `a` dominates `b`: at least `b`'s SLO attainment at no more
/// cost, strictly better in one.
fn dominates(a: (f64, f64), b: (f64, f64)) -> bool {
    a.0 >= b.0 && a.1 <= b.1 && (a.0 > b.0 || a.1 < b.1)
}

/// The leaderboard of every cell, from the arms' estimates
/// ([`summaries`]), the rank tests ([`rank_tests`]) and the comparisons
/// with the baseline (`rows`).
pub fn leaderboards(
    summaries: &[ArmSummary],
    tests: &[RankTest],
    arms: &[ArmInfo],
    rows: &[Comparison],
) -> Vec<Leaderboard> {
    let mut cells: Vec<(&str, &str)> = summaries
        .iter()
        .map(|a| (a.scenario.as_str(), a.load_profile.as_str()))
        .collect();
    cells.dedup();
    let mut out = Vec::new();
    for (scenario, profile) in cells {
        let est = |arm: &str, key: Metric| {
            summaries
                .iter()
                .find(|a| {
                    a.scenario == scenario
                        && a.load_profile == profile
                        && a.arm == arm
                        && a.metric == key
                })
                .map(|a| a.estimate.clone())
                .unwrap_or_default()
        };
        let test = |key: Metric| {
            tests
                .iter()
                .find(|t| t.scenario == scenario && t.load_profile == profile && t.metric == key)
                .and_then(|t| t.friedman.clone())
        };
        let (slo_test, cost_test) = (test(SERVE), test(COST));
        let verdict = |arm: &str, key: Metric| {
            rows.iter()
                .find(|r| {
                    r.scenario == scenario
                        && r.load_profile == profile
                        && r.treatment == arm
                        && r.metric == key
                })
                .map(|r| r.verdict)
        };
        let mut board: Vec<LeaderRow> = arms
            .iter()
            .enumerate()
            .map(|(k, a)| LeaderRow {
                arm: a.name.clone(),
                kind: a.kind.clone(),
                baseline: a.baseline,
                slo: est(&a.name, SERVE),
                cost: est(&a.name, COST),
                energy: est(&a.name, Metric::EnergyPerOkJ),
                p95: est(&a.name, Metric::LatencyP95Ms),
                pareto: false,
                slo_rank: slo_test.as_ref().and_then(|f| f.mean_ranks.get(k).copied()),
                slo_verdict: verdict(&a.name, SERVE),
                cost_verdict: verdict(&a.name, COST),
            })
            .collect();
        let points: Vec<Option<(f64, f64)>> = board
            .iter()
            .map(|r| r.slo.median.zip(r.cost.median))
            .collect();
        for (i, r) in board.iter_mut().enumerate() {
            r.pareto = points[i].is_some_and(|p| {
                !points
                    .iter()
                    .enumerate()
                    .any(|(j, q)| j != i && q.is_some_and(|q| dominates(q, p)))
            });
        }
        board.sort_by(|a, b| {
            b.pareto
                .cmp(&a.pareto)
                .then(desc(a.slo.median, b.slo.median))
                .then(desc(b.cost.median, a.cost.median))
        });
        let summary = summary(&board);
        out.push(Leaderboard {
            scenario: scenario.to_string(),
            load_profile: profile.to_string(),
            rows: board,
            slo_test,
            cost_test,
            summary,
        });
    }
    out
}

/// `b` before `a` when `b` is larger; missing values last.
fn desc(a: Option<f64>, b: Option<f64>) -> std::cmp::Ordering {
    match (a, b) {
        (Some(a), Some(b)) => b.total_cmp(&a),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    }
}

fn interval(e: &Estimate) -> String {
    match (e.median, e.low, e.high) {
        (Some(m), Some(l), Some(h)) => format!(
            "median {}, 95 % CI {} to {}",
            fmt_number(m),
            fmt_number(l),
            fmt_number(h)
        ),
        (Some(m), _, _) => format!("median {}, too few trials for an interval", fmt_number(m)),
        _ => "no value".into(),
    }
}

/// Whether the best arm's interval lies apart from every other arm's.
fn apart(best: &Estimate, others: &[&Estimate], higher: bool) -> bool {
    others
        .iter()
        .all(|o| match (best.low, best.high, o.low, o.high) {
            (Some(bl), _, _, Some(oh)) if higher => bl > oh,
            (_, Some(bh), Some(ol), _) if !higher => bh < ol,
            _ => false,
        })
}

/// The cell in plain words: who serves most, who costs least, who is on
/// the front, and whether the intervals separate them.
fn summary(board: &[LeaderRow]) -> String {
    let best = |key: fn(&LeaderRow) -> &Estimate, higher: bool| -> Option<(usize, f64)> {
        board
            .iter()
            .enumerate()
            .filter_map(|(i, r)| key(r).median.map(|m| (i, m)))
            .max_by(|a, b| {
                if higher {
                    a.1.total_cmp(&b.1)
                } else {
                    b.1.total_cmp(&a.1)
                }
            })
    };
    let name = |i: usize| display_arm(&board[i].arm);
    let mut parts = Vec::new();
    for (what, key, higher) in [
        (
            "Highest SLO attainment",
            (|r: &LeaderRow| &r.slo) as fn(&LeaderRow) -> &Estimate,
            true,
        ),
        ("fewest GPU-slot-seconds", |r: &LeaderRow| &r.cost, false),
    ] {
        if let Some((i, _)) = best(key, higher) {
            let others: Vec<&Estimate> = board
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, r)| key(r))
                .collect();
            let sep = if others.is_empty() {
                ""
            } else if apart(key(&board[i]), &others, higher) {
                "; its interval lies apart from every other arm's"
            } else {
                "; its interval overlaps another arm's"
            };
            parts.push(format!(
                "{what}: {} ({}{sep})",
                name(i),
                interval(key(&board[i]))
            ));
        }
    }
    let front: Vec<String> = board
        .iter()
        .filter(|r| r.pareto)
        .map(|r| display_arm(&r.arm))
        .collect();
    if !front.is_empty() {
        parts.push(format!(
            "on the Pareto front of median SLO attainment against median GPU-slot-seconds: {}",
            front.join(", ")
        ));
    }
    if parts.is_empty() {
        return "No arm has values in this cell.".into();
    }
    let mut s = parts.join("; ");
    s.push('.');
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::BTreeSet;

    fn trial(arm: &str, seed: i64, slo: f64, cost: f64) -> TrialMetrics {
        let mut values = BTreeMap::new();
        values.insert(Metric::SloAttainment, Some(slo));
        values.insert(Metric::SlotSeconds, Some(cost));
        TrialMetrics {
            trial_id: seed,
            scenario: "s".into(),
            load_profile: "p".into(),
            arm: arm.into(),
            seed,
            values,
            censored: BTreeSet::new(),
            at_max_at_change: None,
        }
    }

    fn arms(names: &[&str]) -> Vec<ArmInfo> {
        names
            .iter()
            .enumerate()
            .map(|(k, n)| ArmInfo {
                name: (*n).into(),
                kind: (*n).into(),
                baseline: k == 0,
            })
            .collect()
    }

    /// Three arms over 8 seeds: `good` serves most at less cost than
    /// `base`, `cheap` serves least at the least cost.
    fn campaign() -> Vec<TrialMetrics> {
        let mut ts = Vec::new();
        for seed in 1..=8 {
            let s = seed as f64 / 100.0;
            ts.push(trial("base", seed, 0.80 + s, 100.0 + seed as f64));
            ts.push(trial("good", seed, 0.95 + s / 10.0, 90.0 + seed as f64));
            ts.push(trial("cheap", seed, 0.60 + s, 50.0 + seed as f64));
        }
        ts
    }

    #[test]
    fn the_front_holds_the_arms_no_other_dominates_and_ranks_follow_the_better_side() {
        let ts = campaign();
        let a = arms(&["base", "cheap", "good"]);
        let boards = leaderboards(&summaries(&ts, &a), &rank_tests(&ts, &a), &a, &[]);
        assert_eq!(boards.len(), 1);
        let b = &boards[0];
        let order: Vec<(&str, bool)> = b.rows.iter().map(|r| (r.arm.as_str(), r.pareto)).collect();
        // `good` serves more than `base` at less cost: `base` is dominated.
        assert_eq!(order, [("good", true), ("cheap", true), ("base", false)]);
        // Every seed ranks good > base > cheap on SLO attainment.
        let f = b.slo_test.as_ref().unwrap();
        assert_eq!(f.blocks, 8);
        assert_eq!(f.mean_ranks, vec![2.0, 3.0, 1.0]);
        assert!((f.kendall_w - 1.0).abs() < 1e-12);
        let good = b.rows.iter().find(|r| r.arm == "good").unwrap();
        assert_eq!(good.slo_rank, Some(1.0));
        // On cost, fewest first: cheap < good < base.
        assert_eq!(
            b.cost_test.as_ref().unwrap().mean_ranks,
            vec![3.0, 1.0, 2.0]
        );
        assert!(
            b.summary.contains("Highest SLO attainment: good"),
            "{}",
            b.summary
        );
        assert!(
            b.summary.contains("fewest GPU-slot-seconds: cheap"),
            "{}",
            b.summary
        );
        assert!(
            b.summary.contains("lies apart from every other arm's"),
            "{}",
            b.summary
        );
        assert!(b.summary.contains("Pareto front of median SLO attainment against median GPU-slot-seconds: good, cheap"), "{}", b.summary);
    }

    #[test]
    fn arms_with_the_same_medians_do_not_push_each_other_off_the_front() {
        let mut ts = campaign();
        let twins: Vec<TrialMetrics> = ts
            .iter()
            .filter(|t| t.arm == "good")
            .map(|t| TrialMetrics {
                arm: "twin".into(),
                ..t.clone()
            })
            .collect();
        ts.extend(twins);
        let a = arms(&["base", "cheap", "good", "twin"]);
        let b = &leaderboards(&summaries(&ts, &a), &rank_tests(&ts, &a), &a, &[])[0];
        let front: Vec<&str> = b
            .rows
            .iter()
            .filter(|r| r.pareto)
            .map(|r| r.arm.as_str())
            .collect();
        assert_eq!(front, ["good", "twin", "cheap"]);
    }

    #[test]
    fn rank_tests_leave_out_seeds_an_arm_lacks_and_need_enough_seeds() {
        let mut ts = campaign();
        ts.retain(|t| !(t.arm == "good" && t.seed == 3));
        let a = arms(&["base", "cheap", "good"]);
        let tests = rank_tests(&ts, &a);
        let slo = tests
            .iter()
            .find(|t| t.metric == Metric::SloAttainment)
            .unwrap();
        assert_eq!((slo.seeds, slo.seeds_left_out), (7, 1));
        assert!(slo.friedman.is_some());
        ts.retain(|t| t.seed <= 5);
        let tests = rank_tests(&ts, &a);
        let slo = tests
            .iter()
            .find(|t| t.metric == Metric::SloAttainment)
            .unwrap();
        assert!(slo.friedman.is_none(), "fewer than {MIN_PAIRS} seeds");
        // A metric no trial has: no blocks, no test.
        let p95 = tests
            .iter()
            .find(|t| t.metric == Metric::LatencyP95Ms)
            .unwrap();
        assert_eq!(p95.seeds, 0);
        assert!(p95.friedman.is_none());
    }

    #[test]
    fn summaries_give_every_arm_its_median_and_order_statistic_interval() {
        let ts = campaign();
        let a = arms(&["base", "cheap", "good"]);
        let s = summaries(&ts, &a);
        let cheap = s
            .iter()
            .find(|x| x.arm == "cheap" && x.metric == Metric::SlotSeconds)
            .unwrap();
        // 51..=58: median 54.5; n = 8 gives ranks 1 and 8 at 95 %.
        assert_eq!(cheap.estimate.n, 8);
        assert_eq!(cheap.estimate.median, Some(54.5));
        assert_eq!(
            (cheap.estimate.low, cheap.estimate.high),
            (Some(51.0), Some(58.0))
        );
        let none = s
            .iter()
            .find(|x| x.arm == "cheap" && x.metric == Metric::LatencyP95Ms)
            .unwrap();
        assert_eq!(none.estimate, Estimate::default());
    }
}
