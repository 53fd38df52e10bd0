//! Time-to-event analysis for reaction times censored at the trial's end:
//! the Kaplan–Meier estimate with Greenwood's variance, its median and the
//! median's confidence interval, and a paired sign test for censored pairs.
//!
//! A reaction time is time-to-event data: a trial that has not reacted by
//! its end only says that the reaction would have come later. Dropping such
//! trials, or treating the trial length as the reaction time, biases every
//! summary towards the faster arm; these methods use the censored trials for
//! what they do say.
//!
//! # Conventions
//!
//! * **Input.** An [`Observation`] is a time and whether the event happened
//!   at it (`event = false`: censored, i.e. no event by `time`). Times must
//!   be finite and ≥ 0; any NaN, ±∞ or negative time makes the functions
//!   return `None` (rejected, not skipped, as in [`crate::stats`]).
//! * **Ties between events and censorings.** At a time with both, the
//!   events come first: a trial censored at t was still at risk at t (the
//!   usual Kaplan–Meier convention and lifelines', checked in the tests).
//!   The paired score uses the same reading (censored at c means the event
//!   is later than c).
//! * **Reference.** Kaplan–Meier curves, bands, medians and median
//!   intervals were checked against lifelines 0.30.3 (`KaplanMeierFitter`
//!   with its defaults), the sign test against `scipy.stats.binomtest`; the
//!   scripts are in `report/tests/reference/survival.py`.

use serde::Serialize;

use crate::stats::{normal_quantile, sign_test_p_value};

/// One trial's time to the event, or to the censoring.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Observation {
    /// Time from the origin (e.g. the load change), ≥ 0: the event's time if
    /// `event`, otherwise the time the trial stopped being observed.
    pub time: f64,
    /// Whether the event was seen at `time` (false: censored at `time`, the
    /// event would have come later, if ever).
    pub event: bool,
}

/// One step of the Kaplan–Meier curve, at a distinct event time.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Step {
    /// The event time.
    pub time: f64,
    /// n: trials at risk just before `time` (time ≥ this time, censorings at
    /// `time` included).
    pub at_risk: usize,
    /// d: events at `time`.
    pub events: usize,
    /// Ŝ(t) just after `time`: Π (1 − d/n) over the event times ≤ `time`.
    pub survival: f64,
    /// Greenwood's sum Σ d/(n(n − d)) over the event times ≤ `time`; a term
    /// with n = d (the curve drops to 0) counts 0, as in lifelines.
    pub greenwood_sum: f64,
    /// Greenwood's variance of Ŝ(t): Ŝ(t)² · `greenwood_sum` (0 once the
    /// curve is 0).
    pub variance: f64,
    /// Lower end of the pointwise band at the estimate's level (see
    /// [`kaplan_meier_at`]).
    pub low: f64,
    /// Upper end of the pointwise band.
    pub high: f64,
}

/// The Kaplan–Meier estimate of one sample, from [`kaplan_meier`] or
/// [`kaplan_meier_at`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KaplanMeier {
    /// Number of observations.
    pub n: usize,
    /// Number of them that are events.
    pub n_events: usize,
    /// The curve at each distinct event time, in time order (empty when no
    /// event was seen: Ŝ = 1 throughout).
    pub steps: Vec<Step>,
    /// Median time: the first event time at which Ŝ(t) ≤ ½, decided in
    /// exact rational arithmetic (so a curve at exactly ½ counts as
    /// reached). `None`: the curve never reaches ½ within the data (not
    /// reached: the median is beyond the longest follow-up).
    pub median: Option<f64>,
    /// The median's confidence interval (lower, upper) at `level`: the first
    /// event times at which the band's lower and upper curves are ≤ ½.
    /// `None` at an end: that curve never reaches ½ within the data, i.e.
    /// the bound is not reached (infinite; lifelines reports `inf`). The
    /// lower end can exist while the median does not.
    pub median_ci: (Option<f64>, Option<f64>),
    /// Level of the band and of the median's interval.
    pub level: f64,
}

impl KaplanMeier {
    /// Ŝ(t): the estimate at time `t` (right-continuous step function; 1
    /// before the first event time, NaN for NaN).
    pub fn survival_at(&self, t: f64) -> f64 {
        if t.is_nan() {
            return f64::NAN;
        }
        self.steps
            .iter()
            .take_while(|s| s.time <= t)
            .last()
            .map_or(1.0, |s| s.survival)
    }
}

/// A non-negative integer of arbitrary size (little-endian 64-bit limbs),
/// just enough to decide Ŝ(t) ≤ ½ exactly: Π(n − d) · 2 ≤ Π n.
#[derive(Clone, Debug)]
struct Natural(Vec<u64>);

impl Natural {
    fn one() -> Self {
        Natural(vec![1])
    }

    fn mul_small(&mut self, factor: u64) {
        let mut carry: u128 = 0;
        for limb in &mut self.0 {
            let v = u128::from(*limb) * u128::from(factor) + carry;
            *limb = v as u64; // low 64 bits
            carry = v >> 64;
        }
        if carry > 0 {
            self.0.push(carry as u64);
        }
        while self.0.len() > 1 && self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn le(&self, other: &Natural) -> bool {
        if self.0.len() != other.0.len() {
            return self.0.len() < other.0.len();
        }
        for (a, b) in self.0.iter().rev().zip(other.0.iter().rev()) {
            if a != b {
                return a < b;
            }
        }
        true
    }
}

/// [`kaplan_meier_at`] at the 95 % level (lifelines' default `alpha=0.05`).
pub fn kaplan_meier(obs: &[Observation]) -> Option<KaplanMeier> {
    kaplan_meier_at(obs, 0.95)
}

/// The Kaplan–Meier product-limit estimate (Kaplan & Meier, 1958) with
/// Greenwood's variance, the pointwise log(−log) band, the median and the
/// median's confidence interval, computed the way lifelines'
/// `KaplanMeierFitter` does by default.
///
/// **Curve.** At each distinct event time t with n at risk and d events,
/// Ŝ(t) = Ŝ(t⁻)·(1 − d/n). Censorings at t are counted in n (events before
/// censorings).
///
/// **Variance.** Greenwood's formula, Var Ŝ(t) = Ŝ(t)² Σ d/(n(n − d))
/// (Kalbfleisch & Prentice, 2002, §1.4); a step with n = d, where the curve
/// reaches 0, adds nothing (lifelines drops the infinite term), so the
/// variance is 0 there.
///
/// **Band.** Pointwise, on the log(−log) scale ("exponential Greenwood",
/// Kalbfleisch & Prentice §1.4; lifelines' only band): with
/// v = ln Ŝ(t), c = z·√(Σ d/(n(n − d)))/|v| and z = Φ⁻¹(1 − α/2), α =
/// 1 − `level`, the band is [Ŝ^exp(c), Ŝ^exp(−c)], evaluated as lifelines
/// does, exp(−exp(ln(−v) ± c)). It always lies inside [0, 1]; where Ŝ = 0
/// it is [0, 0].
///
/// **Median and its interval.** lifelines' rule (`qth_survival_times` on
/// `survival_function_` and on `confidence_interval_`): the median is the
/// first time Ŝ(t) ≤ ½; the interval's lower end is the first time the
/// band's *lower* curve is ≤ ½, its upper end the first time the band's
/// *upper* curve is ≤ ½ — the set of t whose pointwise interval covers ½,
/// the idea of Brookmeyer & Crowley (1982), here with the log(−log) band
/// rather than their test. Either end that is never reached is `None`
/// (lifelines: `inf`); the curves are steps, so each end is an event time.
/// One deliberate difference: Ŝ(t) ≤ ½ is decided exactly (integer
/// arithmetic on Π(n − d) and Π n), whereas lifelines compares
/// exp(Σ ln(1 − d/n)) in floating point and can miss a curve that is
/// exactly ½ (e.g. 4 of 8 at risk reacting at once after a censoring,
/// where lifelines computes 0.5000000000000001 and reports the next event
/// time; see the tests).
///
/// `None` for an empty sample, any non-finite or negative time, or `level`
/// not strictly inside (0, 1). A sample with no events gives `Some` with
/// no steps and everything not reached.
pub fn kaplan_meier_at(obs: &[Observation], level: f64) -> Option<KaplanMeier> {
    if obs.is_empty() || !(level > 0.0 && level < 1.0) || obs.iter().any(|o| !valid_time(o.time)) {
        return None;
    }
    let alpha = 1.0 - level;
    let z = normal_quantile(1.0 - alpha / 2.0);
    if !z.is_finite() {
        return None;
    }
    let mut sorted = obs.to_vec();
    sorted.sort_by(|a, b| a.time.total_cmp(&b.time));

    let mut steps = Vec::new();
    let mut at_risk = sorted.len();
    let mut survival = 1.0f64;
    let mut greenwood_sum = 0.0f64;
    let mut median = None;
    let mut i = 0;
    while i < sorted.len() {
        let t = sorted[i].time;
        let (mut d, mut c) = (0usize, 0usize);
        while i < sorted.len() && sorted[i].time == t {
            if sorted[i].event {
                d += 1;
            } else {
                c += 1;
            }
            i += 1;
        }
        if d > 0 {
            let (nf, df) = (at_risk as f64, d as f64);
            survival *= (nf - df) / nf;
            if at_risk > d {
                greenwood_sum += df / (nf * (nf - df));
            }
            let (low, high) = log_log_band(survival, greenwood_sum, z);
            steps.push(Step {
                time: t,
                at_risk,
                events: d,
                survival,
                greenwood_sum,
                variance: survival * survival * greenwood_sum,
                low,
                high,
            });
            if median.is_none() && at_or_below_half(survival, &steps) {
                median = Some(t);
            }
        }
        at_risk -= d + c;
    }
    let first_at_or_below_half =
        |curve: fn(&Step) -> f64| steps.iter().find(|s| curve(s) <= 0.5).map(|s| s.time);
    let median_ci = (
        first_at_or_below_half(|s| s.low),
        first_at_or_below_half(|s| s.high),
    );
    Some(KaplanMeier {
        n: obs.len(),
        n_events: obs.iter().filter(|o| o.event).count(),
        steps,
        median,
        median_ci,
        level,
    })
}

/// Whether the curve whose steps so far are `steps` is at or below ½ after
/// the last of them, given its floating-point value `survival`. The
/// product of k factors carries a relative rounding error below k·2⁻⁵²,
/// far inside the 1e-9 margin for any realistic k (up to ~4·10⁶ steps),
/// so outside the margin the float decides; inside it the exact rational
/// value Π(n − d) / Π n is compared with ½ (rarely: only the one or two
/// steps where the curve passes ½, so the big products never make this
/// quadratic).
fn at_or_below_half(survival: f64, steps: &[Step]) -> bool {
    const MARGIN: f64 = 1e-9;
    if survival < 0.5 - MARGIN {
        return true;
    }
    if survival > 0.5 + MARGIN {
        return false;
    }
    let mut twice_numerator = Natural::one();
    twice_numerator.mul_small(2);
    let mut denominator = Natural::one();
    for s in steps {
        twice_numerator.mul_small((s.at_risk - s.events) as u64);
        denominator.mul_small(s.at_risk as u64);
    }
    twice_numerator.le(&denominator)
}

/// The pointwise log(−log) band at Ŝ = `s` with Greenwood sum `sum`, as
/// lifelines' `KaplanMeierFitter._bounds` evaluates it: with v = ln Ŝ < 0
/// and c = z·√sum / v, (exp(−exp(ln(−v) − c)), exp(−exp(ln(−v) + c))).
fn log_log_band(s: f64, sum: f64, z: f64) -> (f64, f64) {
    if s <= 0.0 {
        return (0.0, 0.0);
    }
    if s >= 1.0 {
        return (1.0, 1.0);
    }
    let v = s.ln();
    let c = z * sum.sqrt() / v;
    let low = (-((-v).ln() - c).exp()).exp();
    let high = (-((-v).ln() + c).exp()).exp();
    (low, high)
}

/// Share of observations that are events (not censored), in [0, 1]: how
/// many trials of an arm reacted before the trial's end. `None` for an
/// empty slice or any non-finite or negative time.
pub fn event_share(obs: &[Observation]) -> Option<f64> {
    if obs.is_empty() || obs.iter().any(|o| !valid_time(o.time)) {
        return None;
    }
    Some(obs.iter().filter(|o| o.event).count() as f64 / obs.len() as f64)
}

fn valid_time(t: f64) -> bool {
    t.is_finite() && t >= 0.0
}

/// The result of [`paired_censored_sign_test`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PairedCensored {
    /// Number of pairs.
    pub n_pairs: usize,
    /// Pairs scoring +1: the treatment's event is known to come first.
    pub treatment_first: usize,
    /// Pairs scoring −1: the baseline's event is known to come first.
    pub baseline_first: usize,
    /// Pairs scoring 0: the order cannot be told (both censored, or one
    /// censored before the other's event) or the events tie.
    pub undetermined: usize,
    /// Exact two-sided sign-test p-value over the `treatment_first +
    /// baseline_first` scored pairs (1 when there are none).
    pub p_value: f64,
    /// Share of the pairs whose baseline trial had an event.
    pub baseline_event_share: f64,
    /// Share of the pairs whose treatment trial had an event.
    pub treatment_event_share: f64,
}

/// Gehan's score of one (baseline, treatment) pair (Gehan, 1965, the
/// paired form of his generalised Wilcoxon score): +1 when the
/// treatment's event is known to come first, −1 when the baseline's is, 0
/// when the order cannot be told or the events tie.
///
/// A censoring at c says the event is later than c, so:
/// * both events: +1 if the treatment's time is smaller, −1 if the
///   baseline's is, 0 for equal times;
/// * one event at e, the other censored at c: the event comes first when
///   e ≤ c (in particular an event at exactly the other trial's censoring
///   time, e.g. a reaction in the last instant of a trial whose twin never
///   reacted, counts as first — the same convention as Kaplan–Meier's
///   events-before-censorings); when e > c the order is unknown (0);
/// * both censored: 0.
///
/// Times are not validated here (NaN compares false everywhere and gives
/// 0); [`paired_censored_sign_test`] rejects them.
pub fn gehan_pair_score(baseline: &Observation, treatment: &Observation) -> i8 {
    let (b, t) = (baseline, treatment);
    match (b.event, t.event) {
        (true, true) if t.time < b.time => 1,
        (true, true) if b.time < t.time => -1,
        (false, true) if t.time <= b.time => 1,
        (true, false) if b.time <= t.time => -1,
        _ => 0,
    }
}

/// Paired sign test for censored pairs (baseline, treatment) run with the
/// same seed: each pair gets [`gehan_pair_score`] (+1 treatment known
/// first, −1 baseline known first, 0 undetermined or tied), and the
/// non-zero scores are tested with the exact two-sided binomial sign test at
/// ½ ([`crate::stats::sign_test_p_value`], = `scipy.stats.binomtest`),
/// ignoring the zeros as the sign test does (Hollander, Wolfe & Chicken,
/// 3rd ed., §3.4). Without censoring it is the ordinary sign test on the
/// paired differences; with censoring it uses every pair whose order is
/// known, which a test on the uncensored pairs alone would not.
///
/// p = 1 when no pair is scored. `None` for no pairs, or any non-finite or
/// negative time.
pub fn paired_censored_sign_test(pairs: &[(Observation, Observation)]) -> Option<PairedCensored> {
    if pairs.is_empty()
        || pairs
            .iter()
            .any(|(b, t)| !valid_time(b.time) || !valid_time(t.time))
    {
        return None;
    }
    let (mut plus, mut minus) = (0usize, 0usize);
    for (b, t) in pairs {
        match gehan_pair_score(b, t) {
            1 => plus += 1,
            -1 => minus += 1,
            _ => {}
        }
    }
    let n = pairs.len() as f64;
    Some(PairedCensored {
        n_pairs: pairs.len(),
        treatment_first: plus,
        baseline_first: minus,
        undetermined: pairs.len() - plus - minus,
        p_value: sign_test_p_value(plus, plus + minus),
        baseline_event_share: pairs.iter().filter(|(b, _)| b.event).count() as f64 / n,
        treatment_event_share: pairs.iter().filter(|(_, t)| t.event).count() as f64 / n,
    })
}

#[cfg(test)]
mod tests {
    //! Reference values: `report/tests/reference/survival.py` (lifelines
    //! 0.30.3, SciPy 1.17.1, NumPy 2.4.6, pandas 2.3.3, Python 3.11.7); its
    //! output is pasted between the GENERATED markers below. Floats are
    //! printed with `repr`, so they round-trip exactly.
    #![allow(clippy::unwrap_used)]

    use super::*;

    struct KmCase {
        name: &'static str,
        times: &'static [f64],
        events: &'static [bool],
        level: f64,
        /// (time, at_risk, events, survival, greenwood_variance, low, high)
        steps: &'static [(f64, usize, usize, f64, f64, f64, f64)],
        median: Option<f64>,
        median_ci: (Option<f64>, Option<f64>),
    }

    /// ((baseline time, event), (treatment time, event))
    type RefPair = ((f64, bool), (f64, bool));

    struct SignCase {
        name: &'static str,
        pairs: &'static [RefPair],
        scores: &'static [i8],
        treatment_first: usize,
        baseline_first: usize,
        undetermined: usize,
        p_value: f64,
    }

    /// Where this module deliberately differs from lifelines: lifelines
    /// decides Ŝ ≤ ½ on exp(Σ ln(1 − d/n)), which is 0.5000000000000001
    /// for a curve that is exactly ½ here (4 of the 8 at risk react at
    /// t = 2), so it reports the next event time (4) as the median. The
    /// exact median is 2.
    const EXACT_MEDIAN_OVERRIDES: &[(&str, Option<f64>)] =
        &[("exact_half_after_censoring", Some(2.0))];

    fn obs(times: &[f64], events: &[bool]) -> Vec<Observation> {
        assert_eq!(times.len(), events.len());
        times
            .iter()
            .zip(events)
            .map(|(&time, &event)| Observation { time, event })
            .collect()
    }

    fn close(actual: f64, expected: f64, rel: f64) -> bool {
        let err = (actual - expected).abs();
        err == 0.0 || err <= rel * expected.abs()
    }

    #[test]
    fn kaplan_meier_matches_lifelines() {
        for c in KM_CASES {
            let km = kaplan_meier_at(&obs(c.times, c.events), c.level).unwrap();
            assert_eq!(km.n, c.times.len(), "{}", c.name);
            assert_eq!(
                km.n_events,
                c.events.iter().filter(|e| **e).count(),
                "{}",
                c.name
            );
            assert_eq!(km.level, c.level);
            assert_eq!(km.steps.len(), c.steps.len(), "{}", c.name);
            for (s, &(time, at_risk, events, surv, var, low, high)) in km.steps.iter().zip(c.steps)
            {
                let what = format!("{} at t = {time}", c.name);
                assert_eq!(s.time, time, "{what}");
                assert_eq!(s.at_risk, at_risk, "{what}");
                assert_eq!(s.events, events, "{what}");
                assert!(
                    close(s.survival, surv, 1e-13),
                    "{what}: S {} vs {surv}",
                    s.survival
                );
                assert!(
                    close(s.variance, var, 1e-12),
                    "{what}: var {} vs {var}",
                    s.variance
                );
                assert!(close(s.low, low, 1e-12), "{what}: low {} vs {low}", s.low);
                assert!(
                    close(s.high, high, 1e-12),
                    "{what}: high {} vs {high}",
                    s.high
                );
                assert!(s.low <= s.survival && s.survival <= s.high, "{what}");
            }
            let expected_median = EXACT_MEDIAN_OVERRIDES
                .iter()
                .find(|(name, _)| *name == c.name)
                .map_or(c.median, |(_, m)| *m);
            assert_eq!(km.median, expected_median, "{}", c.name);
            assert_eq!(km.median_ci, c.median_ci, "{}", c.name);
        }
    }

    #[test]
    fn lifelines_override_is_really_an_exact_half() {
        let c = KM_CASES
            .iter()
            .find(|c| c.name == "exact_half_after_censoring")
            .unwrap();
        // lifelines' own value, recorded above, is just over ½ ...
        assert!(c.steps[0].3 > 0.5 && c.median == Some(4.0));
        // ... while 4 of 8 at risk leave exactly half.
        let km = kaplan_meier(&obs(c.times, c.events)).unwrap();
        assert_eq!((km.steps[0].at_risk, km.steps[0].events), (8, 4));
        assert_eq!(km.median, Some(2.0));
    }

    #[test]
    fn six_mp_arm_matches_the_published_table() {
        // Freireich et al. (1963) 6-MP arm: product-limit estimate and
        // Greenwood standard errors to 3 decimals as printed in the survival
        // texts (e.g. Klein & Moeschberger, Survival Analysis, 2nd ed.,
        // §4.2), and the median of 23 weeks (Kleinbaum & Klein).
        const PUBLISHED: &[(f64, f64, f64)] = &[
            (6.0, 0.857, 0.076),
            (7.0, 0.807, 0.087),
            (10.0, 0.753, 0.096),
            (13.0, 0.690, 0.107),
            (16.0, 0.627, 0.114),
            (22.0, 0.538, 0.128),
            (23.0, 0.448, 0.135),
        ];
        let c = KM_CASES.iter().find(|c| c.name == "six_mp").unwrap();
        let km = kaplan_meier(&obs(c.times, c.events)).unwrap();
        assert_eq!(km.steps.len(), PUBLISHED.len());
        for (s, &(t, surv, se)) in km.steps.iter().zip(PUBLISHED) {
            assert_eq!(s.time, t);
            assert!((s.survival - surv).abs() < 5e-4, "S({t}) = {}", s.survival);
            assert!(
                (s.variance.sqrt() - se).abs() < 5e-4,
                "se({t}) = {}",
                s.variance.sqrt()
            );
        }
        assert_eq!(km.median, Some(23.0));
        let placebo = KM_CASES.iter().find(|c| c.name == "placebo").unwrap();
        assert_eq!(
            kaplan_meier(&obs(placebo.times, placebo.events))
                .unwrap()
                .median,
            Some(8.0)
        );
    }

    #[test]
    fn events_come_before_censorings_at_a_tied_time() {
        // At t = 3 one event and one censoring among 3: the censored trial is
        // still at risk, so S(3) = 2/3, and 1 is left at t = 5.
        let km = kaplan_meier(&obs(&[3.0, 3.0, 5.0], &[true, false, true])).unwrap();
        assert_eq!(km.steps.len(), 2);
        assert_eq!((km.steps[0].at_risk, km.steps[0].events), (3, 1));
        assert!(close(km.steps[0].survival, 2.0 / 3.0, 1e-15));
        assert_eq!((km.steps[1].at_risk, km.steps[1].events), (1, 1));
        assert_eq!(km.steps[1].survival, 0.0);
        assert_eq!(km.steps[1].variance, 0.0);
        assert_eq!((km.steps[1].low, km.steps[1].high), (0.0, 0.0));
        assert_eq!(km.median, Some(5.0));
    }

    #[test]
    fn median_not_reached_and_no_events() {
        let km =
            kaplan_meier(&obs(&[1.0, 60.0, 60.0, 60.0], &[true, false, false, false])).unwrap();
        assert_eq!(km.median, None);
        assert_eq!(km.median_ci.1, None);
        let none = kaplan_meier(&obs(&[60.0, 60.0], &[false, false])).unwrap();
        assert!(none.steps.is_empty());
        assert_eq!((none.median, none.median_ci), (None, (None, None)));
        assert_eq!(none.survival_at(100.0), 1.0);
    }

    #[test]
    fn survival_at_is_the_right_continuous_step_function() {
        let km = kaplan_meier(&obs(&[1.0, 2.0, 3.0, 4.0], &[true; 4])).unwrap();
        assert_eq!(km.survival_at(0.5), 1.0);
        assert_eq!(km.survival_at(1.0), 0.75);
        assert_eq!(km.survival_at(1.5), 0.75);
        assert_eq!(km.survival_at(2.0), 0.5);
        assert_eq!(km.survival_at(9.0), 0.0);
        assert!(km.survival_at(f64::NAN).is_nan());
        // S = 1/2 exactly at 2: reached.
        assert_eq!(km.median, Some(2.0));
    }

    #[test]
    fn kaplan_meier_rejects_bad_input() {
        let ok = Observation {
            time: 1.0,
            event: true,
        };
        let bad = |time| Observation { time, event: true };
        assert_eq!(kaplan_meier(&[]), None);
        for t in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0] {
            assert_eq!(kaplan_meier(&[ok, bad(t)]), None, "{t}");
        }
        for level in [0.0, 1.0, -0.5, 1.5, f64::NAN] {
            assert_eq!(kaplan_meier_at(&[ok], level), None, "{level}");
        }
        // Order of the input does not matter.
        let a = kaplan_meier(&obs(&[3.0, 1.0, 2.0], &[true, false, true])).unwrap();
        let b = kaplan_meier(&obs(&[1.0, 2.0, 3.0], &[false, true, true])).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn exact_comparison_with_half_handles_large_products() {
        // 400 trials, one event each at distinct times: S(k) = (400 − k)/400,
        // exactly ½ at the 200th event; the exact products have ~3000 bits.
        let times: Vec<f64> = (1..=400).map(f64::from).collect();
        let km = kaplan_meier(&obs(&times, &[true; 400])).unwrap();
        assert_eq!(km.median, Some(200.0));
        let mut a = Natural::one();
        a.mul_small(u64::MAX);
        a.mul_small(u64::MAX);
        let mut b = a.clone();
        assert!(a.le(&b) && b.le(&a));
        b.mul_small(2);
        assert!(a.le(&b) && !b.le(&a));
        a.mul_small(0);
        assert!(a.le(&Natural::one()));
    }

    #[test]
    fn paired_sign_test_matches_scipy() {
        for c in SIGN_CASES {
            let pairs: Vec<(Observation, Observation)> = c
                .pairs
                .iter()
                .map(|&((bt, be), (tt, te))| {
                    (
                        Observation {
                            time: bt,
                            event: be,
                        },
                        Observation {
                            time: tt,
                            event: te,
                        },
                    )
                })
                .collect();
            for ((b, t), &score) in pairs.iter().zip(c.scores) {
                assert_eq!(gehan_pair_score(b, t), score, "{}: {b:?} {t:?}", c.name);
                // Swapping the arms flips the score.
                assert_eq!(gehan_pair_score(t, b), -score, "{}", c.name);
            }
            let r = paired_censored_sign_test(&pairs).unwrap();
            assert_eq!(r.n_pairs, pairs.len());
            assert_eq!(r.treatment_first, c.treatment_first, "{}", c.name);
            assert_eq!(r.baseline_first, c.baseline_first, "{}", c.name);
            assert_eq!(r.undetermined, c.undetermined, "{}", c.name);
            assert!(
                close(r.p_value, c.p_value, 1e-13),
                "{}: {} vs {}",
                c.name,
                r.p_value,
                c.p_value
            );
            let be = pairs.iter().filter(|(b, _)| b.event).count() as f64 / pairs.len() as f64;
            assert_eq!(r.baseline_event_share, be);
        }
    }

    #[test]
    fn sign_test_without_censoring_is_the_ordinary_sign_test() {
        let b = [5.0, 7.5, 3.2, 9.9, 4.4, 6.1, 2.0, 8.8];
        let t = [4.0, 7.0, 3.9, 5.5, 4.4, 2.2, 1.0, 8.0];
        let pairs: Vec<_> = b
            .iter()
            .zip(&t)
            .map(|(&b, &t)| {
                (
                    Observation {
                        time: b,
                        event: true,
                    },
                    Observation {
                        time: t,
                        event: true,
                    },
                )
            })
            .collect();
        let r = paired_censored_sign_test(&pairs).unwrap();
        let faster = b.iter().zip(&t).filter(|(b, t)| t < b).count();
        let slower = b.iter().zip(&t).filter(|(b, t)| t > b).count();
        assert_eq!(
            (r.treatment_first, r.baseline_first, r.undetermined),
            (faster, slower, 1)
        );
        assert_eq!(r.p_value, sign_test_p_value(faster, faster + slower));
        assert_eq!(
            (r.baseline_event_share, r.treatment_event_share),
            (1.0, 1.0)
        );
    }

    #[test]
    fn sign_test_p_value_matches_binomtest() {
        for &(k, n, p) in BINOM_CASES {
            let got = sign_test_p_value(k, n);
            let rel = if n > 120 { 2e-10 } else { 1e-14 };
            assert!(close(got, p, rel), "binomtest({k}, {n}): {got:e} vs {p:e}");
            // Symmetric in successes and failures.
            assert_eq!(sign_test_p_value(n - k, n), got);
        }
        assert_eq!(sign_test_p_value(0, 0), 1.0);
        assert_eq!(sign_test_p_value(5, 3), sign_test_p_value(3, 3));
    }

    #[test]
    fn paired_test_and_event_share_reject_bad_input() {
        let ok = Observation {
            time: 1.0,
            event: true,
        };
        let bad = Observation {
            time: f64::NAN,
            event: true,
        };
        let neg = Observation {
            time: -2.0,
            event: false,
        };
        assert_eq!(paired_censored_sign_test(&[]), None);
        assert_eq!(paired_censored_sign_test(&[(ok, bad)]), None);
        assert_eq!(paired_censored_sign_test(&[(neg, ok)]), None);
        assert_eq!(event_share(&[]), None);
        assert_eq!(event_share(&[ok, bad]), None);
        let c = Observation {
            time: 60.0,
            event: false,
        };
        assert_eq!(event_share(&[ok, c, c, ok]), Some(0.5));
        let r = paired_censored_sign_test(&[(c, c), (c, ok)]).unwrap();
        assert_eq!((r.treatment_first, r.undetermined, r.p_value), (1, 1, 1.0));
        assert_eq!(
            (r.baseline_event_share, r.treatment_event_share),
            (0.0, 0.5)
        );
    }

    #[test]
    fn results_serialize() {
        fn is_serialize<T: Serialize>(_: &T) {}
        let o = Observation {
            time: 1.0,
            event: true,
        };
        is_serialize(&kaplan_meier(&[o]).unwrap());
        is_serialize(&paired_censored_sign_test(&[(o, o)]).unwrap());
    }

    // ======== GENERATED by report/tests/reference/survival.py (begin) ========
    // ---- generated by report/tests/reference/survival.py (lifelines 0.30.3,
    // ---- SciPy 1.17.1, NumPy 2.4.6, pandas 2.3.3)
    // ---- Kaplan-Meier: (name, times, events, level, steps, median, median_ci).
    // ---- steps: (time, at_risk, events, survival, greenwood_variance, band_low, band_high).
    const KM_CASES: &[KmCase] = &[
        KmCase {
            name: "six_mp",
            times: &[
                35.0, 34.0, 32.0, 32.0, 25.0, 23.0, 22.0, 20.0, 19.0, 17.0, 16.0, 13.0, 11.0, 10.0,
                10.0, 9.0, 7.0, 6.0, 6.0, 6.0, 6.0,
            ],
            events: &[
                false, false, false, false, false, true, true, false, false, false, true, true,
                false, false, true, false, true, false, true, true, true,
            ],
            level: 0.95,
            steps: &[
                (
                    6.0,
                    21,
                    3,
                    0.857142857142857,
                    0.005830903790087461,
                    0.6197179552659838,
                    0.9515517476469969,
                ),
                (
                    7.0,
                    17,
                    1,
                    0.8067226890756299,
                    0.007557743809337867,
                    0.5631465646222333,
                    0.9228090192028802,
                ),
                (
                    10.0,
                    15,
                    1,
                    0.7529411764705878,
                    0.009283255632125965,
                    0.5031995107999564,
                    0.8893618351692651,
                ),
                (
                    13.0,
                    12,
                    1,
                    0.6901960784313722,
                    0.011409381797060733,
                    0.4316102224861839,
                    0.8490659633494505,
                ),
                (
                    16.0,
                    11,
                    1,
                    0.6274509803921566,
                    0.013008284180005455,
                    0.36751085598750194,
                    0.8049121894718411,
                ),
                (
                    22.0,
                    7,
                    1,
                    0.5378151260504199,
                    0.01644389507327068,
                    0.26777893676713493,
                    0.7467907176353943,
                ),
                (
                    23.0,
                    6,
                    1,
                    0.44817927170868327,
                    0.018114860231637723,
                    0.18805200595923233,
                    0.6801426284952412,
                ),
            ],
            median: Some(23.0),
            median_ci: (Some(13.0), None),
        },
        KmCase {
            name: "placebo",
            times: &[
                23.0, 22.0, 17.0, 15.0, 12.0, 12.0, 11.0, 11.0, 8.0, 8.0, 8.0, 8.0, 5.0, 5.0, 4.0,
                4.0, 3.0, 2.0, 2.0, 1.0, 1.0,
            ],
            events: &[
                true, true, true, true, true, true, true, true, true, true, true, true, true, true,
                true, true, true, true, true, true, true,
            ],
            level: 0.95,
            steps: &[
                (
                    1.0,
                    21,
                    2,
                    0.9047619047619045,
                    0.004103228593024509,
                    0.6700458822350337,
                    0.9752941490381123,
                ),
                (
                    2.0,
                    19,
                    2,
                    0.8095238095238095,
                    0.007342619587517547,
                    0.5689050599241725,
                    0.9238888285592949,
                ),
                (
                    3.0,
                    17,
                    1,
                    0.7619047619047619,
                    0.008638375985314759,
                    0.5193914153284287,
                    0.8932571097824872,
                ),
                (
                    4.0,
                    16,
                    2,
                    0.6666666666666665,
                    0.010582010582010576,
                    0.42535043556524715,
                    0.82504400879734,
                ),
                (
                    5.0,
                    14,
                    2,
                    0.5714285714285714,
                    0.011661807580174925,
                    0.33797695385949306,
                    0.7492407099432165,
                ),
                (
                    8.0,
                    12,
                    4,
                    0.3809523809523809,
                    0.011229888780909185,
                    0.1830665488203943,
                    0.5777886777458309,
                ),
                (
                    11.0,
                    8,
                    2,
                    0.2857142857142857,
                    0.009718172983479104,
                    0.11656132643676466,
                    0.4818196480090255,
                ),
                (
                    12.0,
                    6,
                    2,
                    0.19047619047619047,
                    0.007342619587517546,
                    0.059481701361175233,
                    0.37743489058515,
                ),
                (
                    15.0,
                    4,
                    1,
                    0.14285714285714288,
                    0.005830903790087464,
                    0.0356573551906667,
                    0.3211615746808693,
                ),
                (
                    17.0,
                    3,
                    1,
                    0.09523809523809525,
                    0.004103228593024512,
                    0.01625926021224702,
                    0.2612499819686869,
                ),
                (
                    22.0,
                    2,
                    1,
                    0.047619047619047616,
                    0.0021595939963286897,
                    0.003324463042531178,
                    0.1970449056989461,
                ),
                (23.0, 1, 1, 0.0, 0.0, 0.0, 0.0),
            ],
            median: Some(8.0),
            median_ci: (Some(4.0), Some(11.0)),
        },
        KmCase {
            name: "six_mp_level_0_90",
            times: &[
                35.0, 34.0, 32.0, 32.0, 25.0, 23.0, 22.0, 20.0, 19.0, 17.0, 16.0, 13.0, 11.0, 10.0,
                10.0, 9.0, 7.0, 6.0, 6.0, 6.0, 6.0,
            ],
            events: &[
                false, false, false, false, false, true, true, false, false, false, true, true,
                false, false, true, false, true, false, true, true, true,
            ],
            level: 0.9,
            steps: &[
                (
                    6.0,
                    21,
                    3,
                    0.857142857142857,
                    0.005830903790087461,
                    0.6711067805921728,
                    0.9421594057201212,
                ),
                (
                    7.0,
                    17,
                    1,
                    0.8067226890756299,
                    0.007557743809337867,
                    0.6124785439855792,
                    0.9101978328466832,
                ),
                (
                    10.0,
                    15,
                    1,
                    0.7529411764705878,
                    0.009283255632125965,
                    0.5511233819278842,
                    0.8735812432744228,
                ),
                (
                    13.0,
                    12,
                    1,
                    0.6901960784313722,
                    0.011409381797060733,
                    0.47870030967424376,
                    0.8297610650198315,
                ),
                (
                    16.0,
                    11,
                    1,
                    0.6274509803921566,
                    0.013008284180005455,
                    0.4126127680057049,
                    0.7823912244425656,
                ),
                (
                    22.0,
                    7,
                    1,
                    0.5378151260504199,
                    0.01644389507327068,
                    0.3112140805818494,
                    0.7192331872249723,
                ),
                (
                    23.0,
                    6,
                    1,
                    0.44817927170868327,
                    0.018114860231637723,
                    0.2264620882450107,
                    0.6481135841402932,
                ),
            ],
            median: Some(23.0),
            median_ci: (Some(13.0), None),
        },
        KmCase {
            name: "ties_event_censor",
            times: &[
                3.0, 3.0, 3.0, 5.0, 5.0, 8.0, 8.0, 8.0, 12.0, 12.0, 15.0, 20.0,
            ],
            events: &[
                true, false, true, true, false, true, true, false, false, true, false, false,
            ],
            level: 0.95,
            steps: &[
                (
                    3.0,
                    12,
                    2,
                    0.8333333333333335,
                    0.011574074074074077,
                    0.48171494219537864,
                    0.955509365728065,
                ),
                (
                    5.0,
                    9,
                    1,
                    0.7407407407407406,
                    0.016765736930345977,
                    0.39067612760778186,
                    0.9086238694040617,
                ),
                (
                    8.0,
                    7,
                    2,
                    0.529100529100529,
                    0.024550939978839517,
                    0.20509338256378892,
                    0.774312106149214,
                ),
                (
                    12.0,
                    4,
                    1,
                    0.3968253968253968,
                    0.02693243670190004,
                    0.10843653257001402,
                    0.6807746827971746,
                ),
            ],
            median: Some(12.0),
            median_ci: (Some(3.0), None),
        },
        KmCase {
            name: "heavy_censoring_not_reached",
            times: &[
                60.0, 60.0, 25.22, 60.0, 60.0, 0.63, 7.16, 60.0, 60.0, 60.0, 60.0, 60.0, 60.0,
                48.51, 60.0, 60.0, 13.85, 60.0, 52.5, 60.0, 10.34, 60.0, 60.0, 60.0, 60.0,
            ],
            events: &[
                false, false, true, false, false, true, true, false, false, false, false, false,
                false, true, false, false, true, false, true, false, true, false, false, false,
                false,
            ],
            level: 0.95,
            steps: &[
                (
                    0.63,
                    25,
                    1,
                    0.9600000000000003,
                    0.001536000000000001,
                    0.7483850241947562,
                    0.9942669507488379,
                ),
                (
                    7.16,
                    24,
                    1,
                    0.9200000000000002,
                    0.002944000000000001,
                    0.7163903372580633,
                    0.9793705854280497,
                ),
                (
                    10.34,
                    23,
                    1,
                    0.8800000000000003,
                    0.004224000000000004,
                    0.6725614528633592,
                    0.9596398323320328,
                ),
                (
                    13.85,
                    22,
                    1,
                    0.8400000000000002,
                    0.005376000000000002,
                    0.628056081556178,
                    0.9367332402513401,
                ),
                (
                    25.22,
                    21,
                    1,
                    0.8,
                    0.006400000000000001,
                    0.5844490882029532,
                    0.911458059564583,
                ),
                (
                    48.51,
                    20,
                    1,
                    0.76,
                    0.0072959999999999995,
                    0.5420481224667527,
                    0.8842776378415351,
                ),
                (
                    52.5,
                    19,
                    1,
                    0.72,
                    0.008064,
                    0.50088720143207,
                    0.8554842973879195,
                ),
            ],
            median: None,
            median_ci: (None, None),
        },
        KmCase {
            name: "moderate_censoring",
            times: &[
                1.2, 15.1, 3.1, 5.5, 21.3, 25.6, 7.1, 17.8, 30.0, 5.8, 3.2, 3.9, 10.7, 30.0, 13.5,
                5.2, 4.7, 2.8, 29.8, 10.8, 6.4, 26.2, 4.9, 10.2, 30.0, 0.7, 22.7, 15.5, 12.5, 26.1,
                15.7, 3.3, 16.8, 15.4, 19.2, 22.9, 0.9, 2.7, 11.3, 5.2,
            ],
            events: &[
                true, true, true, true, true, true, true, true, false, true, true, true, true,
                false, true, true, true, true, true, true, true, true, true, true, false, true,
                true, true, true, true, true, true, true, true, true, true, true, true, true, true,
            ],
            level: 0.95,
            steps: &[
                (
                    0.7,
                    40,
                    1,
                    0.9749999999999999,
                    0.0006093749999999998,
                    0.8354854591115066,
                    0.9964401830137299,
                ),
                (
                    0.9,
                    39,
                    1,
                    0.95,
                    0.0011875,
                    0.8145461201445269,
                    0.9872555238603086,
                ),
                (
                    1.2,
                    38,
                    1,
                    0.9249999999999999,
                    0.0017343749999999998,
                    0.7852175639574516,
                    0.9751762435999295,
                ),
                (
                    2.7,
                    37,
                    1,
                    0.8999999999999999,
                    0.00225,
                    0.7551410544979972,
                    0.9612451916402064,
                ),
                (
                    2.8,
                    36,
                    1,
                    0.8749999999999999,
                    0.0027343749999999994,
                    0.7254070970835974,
                    0.9459710721071551,
                ),
                (
                    3.1,
                    35,
                    1,
                    0.8500000000000002,
                    0.0031875000000000015,
                    0.6962362165791645,
                    0.9296481662866037,
                ),
                (
                    3.2,
                    34,
                    1,
                    0.8250000000000001,
                    0.0036093750000000006,
                    0.6676562263551092,
                    0.9124650822198503,
                ),
                (
                    3.3,
                    33,
                    1,
                    0.8,
                    0.004,
                    0.639644761459237,
                    0.8945511950323938,
                ),
                (
                    3.9,
                    32,
                    1,
                    0.775,
                    0.004359375,
                    0.612167867476106,
                    0.875999586606951,
                ),
                (
                    4.7,
                    31,
                    1,
                    0.7500000000000001,
                    0.0046875000000000016,
                    0.5851916835991766,
                    0.856879584741089,
                ),
                (
                    4.9,
                    30,
                    1,
                    0.7250000000000001,
                    0.004984375000000001,
                    0.5586859420040741,
                    0.837244148024754,
                ),
                (
                    5.2,
                    29,
                    2,
                    0.675,
                    0.0054843750000000005,
                    0.5069865271315857,
                    0.7965829801382198,
                ),
                (
                    5.5,
                    27,
                    1,
                    0.6500000000000001,
                    0.0056875000000000024,
                    0.48175352583586606,
                    0.7756153681176604,
                ),
                (
                    5.8,
                    26,
                    1,
                    0.6249999999999999,
                    0.005859374999999999,
                    0.4569115141599061,
                    0.7542519868356815,
                ),
                (
                    6.4,
                    25,
                    1,
                    0.6000000000000001,
                    0.006000000000000002,
                    0.4324493549097904,
                    0.7325088419941683,
                ),
                (
                    7.1,
                    24,
                    1,
                    0.5750000000000001,
                    0.006109375000000001,
                    0.40835871455919354,
                    0.7103982974220389,
                ),
                (
                    10.2,
                    23,
                    1,
                    0.5500000000000002,
                    0.006187500000000003,
                    0.3846338366100483,
                    0.6879295767327454,
                ),
                (
                    10.7,
                    22,
                    1,
                    0.525,
                    0.006234375,
                    0.3612713868574616,
                    0.6651091131665352,
                ),
                (
                    10.8,
                    21,
                    1,
                    0.49999999999999994,
                    0.006249999999999999,
                    0.338270367323897,
                    0.6419407807686232,
                ),
                (
                    11.3,
                    20,
                    1,
                    0.4749999999999999,
                    0.006234374999999999,
                    0.3156320973717217,
                    0.6184260274040444,
                ),
                (
                    12.5,
                    19,
                    1,
                    0.44999999999999996,
                    0.006187499999999999,
                    0.2933602635158707,
                    0.5945639208839912,
                ),
                (
                    13.5,
                    18,
                    1,
                    0.42500000000000004,
                    0.006109375000000002,
                    0.27146104342778987,
                    0.5703511120358098,
                ),
                (
                    15.1,
                    17,
                    1,
                    0.39999999999999997,
                    0.006,
                    0.24994331473055462,
                    0.5457817117078232,
                ),
                (
                    15.4,
                    16,
                    1,
                    0.375,
                    0.005859375000000001,
                    0.2288189659924795,
                    0.5208470714328753,
                ),
                (
                    15.5,
                    15,
                    1,
                    0.3499999999999999,
                    0.005687499999999997,
                    0.20810333683410975,
                    0.4955354486603875,
                ),
                (
                    15.7,
                    14,
                    1,
                    0.325,
                    0.0054843750000000005,
                    0.18781582795215526,
                    0.4698315256180204,
                ),
                (
                    16.8,
                    13,
                    1,
                    0.30000000000000004,
                    0.005250000000000001,
                    0.16798074298724433,
                    0.4437157337255532,
                ),
                (
                    17.8,
                    12,
                    1,
                    0.275,
                    0.004984375000000001,
                    0.1486284575163862,
                    0.4171633093527311,
                ),
                (
                    19.2,
                    11,
                    1,
                    0.25000000000000006,
                    0.004687500000000002,
                    0.129797065120817,
                    0.39014296519045316,
                ),
                (
                    21.3,
                    10,
                    1,
                    0.22500000000000006,
                    0.004359375000000003,
                    0.11153474371314134,
                    0.36261499310535633,
                ),
                (
                    22.7,
                    9,
                    1,
                    0.19999999999999998,
                    0.003999999999999999,
                    0.09390325149423095,
                    0.33452849783684646,
                ),
                (
                    22.9,
                    8,
                    1,
                    0.175,
                    0.0036093749999999993,
                    0.07698327362723706,
                    0.3058172563120886,
                ),
                (
                    25.6,
                    7,
                    1,
                    0.15,
                    0.0031875,
                    0.060882961730711116,
                    0.2763933306235934,
                ),
                (
                    26.1,
                    6,
                    1,
                    0.12499999999999997,
                    0.0027343749999999985,
                    0.04575233896708667,
                    0.24613691460060858,
                ),
                (
                    26.2,
                    5,
                    1,
                    0.09999999999999998,
                    0.0022499999999999985,
                    0.03180936270947561,
                    0.21487993027873895,
                ),
                (
                    29.8,
                    4,
                    1,
                    0.075,
                    0.0017343749999999998,
                    0.019391619415471656,
                    0.18238124028566355,
                ),
            ],
            median: Some(10.8),
            median_ci: (Some(5.5), Some(15.5)),
        },
        KmCase {
            name: "exact_half",
            times: &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
            events: &[true, true, true, true, true, true, true, true, true, true],
            level: 0.95,
            steps: &[
                (
                    1.0,
                    10,
                    1,
                    0.8999999999999999,
                    0.009,
                    0.47300927136205084,
                    0.985281393367343,
                ),
                (
                    2.0,
                    9,
                    1,
                    0.7999999999999997,
                    0.01599999999999999,
                    0.40869078163340444,
                    0.9458726458389115,
                ),
                (
                    3.0,
                    8,
                    1,
                    0.6999999999999998,
                    0.02099999999999999,
                    0.3287165932797348,
                    0.8919490412248441,
                ),
                (
                    4.0,
                    7,
                    1,
                    0.5999999999999999,
                    0.023999999999999987,
                    0.2526688970038936,
                    0.8272209670285114,
                ),
                (
                    5.0,
                    6,
                    1,
                    0.49999999999999983,
                    0.024999999999999984,
                    0.18360559061901463,
                    0.7531740769982297,
                ),
                (
                    6.0,
                    5,
                    1,
                    0.3999999999999999,
                    0.02399999999999999,
                    0.1226931657823541,
                    0.6702046374234797,
                ),
                (
                    7.0,
                    4,
                    1,
                    0.3,
                    0.020999999999999998,
                    0.07113449232300492,
                    0.5778673306252358,
                ),
                (
                    8.0,
                    3,
                    1,
                    0.19999999999999998,
                    0.015999999999999997,
                    0.030909024308019593,
                    0.47471469044054654,
                ),
                (
                    9.0,
                    2,
                    1,
                    0.09999999999999998,
                    0.008999999999999996,
                    0.005723456374334736,
                    0.35812746050806976,
                ),
                (10.0, 1, 1, 0.0, 0.0, 0.0, 0.0),
            ],
            median: Some(5.0),
            median_ci: (Some(1.0), Some(8.0)),
        },
        KmCase {
            name: "unsorted_with_censoring",
            times: &[4.0, 1.0, 3.0, 2.0, 6.0, 5.0],
            events: &[true, true, false, true, false, true],
            level: 0.95,
            steps: &[
                (
                    1.0,
                    6,
                    1,
                    0.8333333333333333,
                    0.023148148148148143,
                    0.27312284992835606,
                    0.9747124266908934,
                ),
                (
                    2.0,
                    5,
                    1,
                    0.6666666666666666,
                    0.03703703703703704,
                    0.19461663680623478,
                    0.9044341643225163,
                ),
                (
                    4.0,
                    3,
                    1,
                    0.44444444444444436,
                    0.0493827160493827,
                    0.06618675314641247,
                    0.7849083671479584,
                ),
                (
                    5.0,
                    2,
                    1,
                    0.2222222222222222,
                    0.037037037037037035,
                    0.009569136539037279,
                    0.6147205232876238,
                ),
            ],
            median: Some(4.0),
            median_ci: (Some(1.0), None),
        },
        KmCase {
            name: "exact_half_after_censoring",
            times: &[6.0, 2.0, 1.0, 2.0, 5.0, 2.0, 3.0, 4.0, 2.0],
            events: &[true, true, false, true, false, true, false, true, true],
            level: 0.95,
            steps: &[
                (
                    2.0,
                    8,
                    4,
                    0.5000000000000001,
                    0.031250000000000014,
                    0.1520358902990239,
                    0.774865012066889,
                ),
                (
                    4.0,
                    3,
                    1,
                    0.33333333333333337,
                    0.03240740740740741,
                    0.05617565071000072,
                    0.6575822163251641,
                ),
                (6.0, 1, 1, 0.0, 0.0, 0.0, 0.0),
            ],
            median: Some(4.0),
            median_ci: (Some(2.0), Some(6.0)),
        },
        KmCase {
            name: "single_event",
            times: &[2.5],
            events: &[true],
            level: 0.95,
            steps: &[(2.5, 1, 1, 0.0, 0.0, 0.0, 0.0)],
            median: Some(2.5),
            median_ci: (Some(2.5), Some(2.5)),
        },
        KmCase {
            name: "all_censored",
            times: &[1.0, 2.0, 3.0],
            events: &[false, false, false],
            level: 0.95,
            steps: &[],
            median: None,
            median_ci: (None, None),
        },
        KmCase {
            name: "median_not_reached_lower_bound_reached",
            times: &[1.0, 2.0, 3.0, 4.0, 5.0, 5.0, 5.0, 5.0],
            events: &[true, true, true, false, false, false, false, false],
            level: 0.95,
            steps: &[
                (
                    1.0,
                    8,
                    1,
                    0.8750000000000001,
                    0.013671875000000003,
                    0.38700001403202483,
                    0.9813929658789661,
                ),
                (
                    2.0,
                    7,
                    1,
                    0.7500000000000001,
                    0.023437500000000007,
                    0.314807113705519,
                    0.9308983170906276,
                ),
                (
                    3.0,
                    6,
                    1,
                    0.625,
                    0.029296875,
                    0.22933332242913165,
                    0.8606982769135387,
                ),
            ],
            median: None,
            median_ci: (Some(1.0), None),
        },
        KmCase {
            name: "zero_time_event",
            times: &[0.0, 0.0, 1.0, 2.0, 3.0],
            events: &[true, false, true, true, false],
            level: 0.95,
            steps: &[
                (
                    0.0,
                    5,
                    1,
                    0.8,
                    0.03200000000000001,
                    0.20380926326763904,
                    0.9691797888667427,
                ),
                (
                    1.0,
                    3,
                    1,
                    0.5333333333333333,
                    0.06162962962962963,
                    0.06833208784720282,
                    0.8630711827387925,
                ),
                (
                    2.0,
                    2,
                    1,
                    0.26666666666666666,
                    0.05096296296296297,
                    0.00967700057888134,
                    0.686136279157012,
                ),
            ],
            median: Some(2.0),
            median_ci: (Some(0.0), None),
        },
    ];

    // ---- Paired Gehan sign test: (name, pairs ((b_time, b_event), (t_time, t_event)),
    // ---- treatment_first, baseline_first, undetermined, p_value = binomtest(tf, tf + bf).pvalue).
    const SIGN_CASES: &[SignCase] = &[
        SignCase {
            name: "branches",
            pairs: &[
                ((5.0, true), (3.0, true)),
                ((3.0, true), (5.0, true)),
                ((4.0, true), (4.0, true)),
                ((60.0, false), (12.0, true)),
                ((60.0, false), (60.0, true)),
                ((10.0, false), (12.0, true)),
                ((12.0, true), (60.0, false)),
                ((60.0, true), (60.0, false)),
                ((12.0, true), (10.0, false)),
                ((60.0, false), (60.0, false)),
                ((20.0, false), (60.0, false)),
            ],
            scores: &[1, -1, 0, 1, 1, 0, -1, -1, 0, 0, 0],
            treatment_first: 3,
            baseline_first: 3,
            undetermined: 5,
            p_value: 1.0,
        },
        SignCase {
            name: "trial_end_60",
            pairs: &[
                ((6.9, true), (4.5, true)),
                ((24.5, true), (13.6, true)),
                ((60.0, false), (5.4, true)),
                ((16.9, true), (5.0, true)),
                ((60.0, false), (10.5, true)),
                ((6.6, true), (14.1, true)),
                ((24.3, true), (1.3, true)),
                ((60.0, false), (31.9, true)),
                ((16.0, true), (23.0, true)),
                ((1.1, true), (20.3, true)),
                ((23.2, true), (2.7, true)),
                ((16.9, true), (54.7, true)),
                ((18.7, true), (4.3, true)),
                ((7.3, true), (7.8, true)),
                ((14.7, true), (42.8, true)),
                ((30.8, true), (59.8, true)),
                ((9.2, true), (13.7, true)),
                ((50.4, true), (15.2, true)),
                ((41.7, true), (60.0, false)),
                ((52.2, true), (4.7, true)),
                ((60.0, false), (12.9, true)),
                ((23.0, true), (0.7, true)),
                ((6.3, true), (30.0, true)),
                ((30.5, true), (40.5, true)),
                ((11.6, true), (7.6, true)),
                ((19.6, true), (37.7, true)),
                ((60.0, false), (15.1, true)),
                ((60.0, false), (13.4, true)),
                ((33.5, true), (9.6, true)),
                ((9.1, true), (9.2, true)),
            ],
            scores: &[
                1, 1, 1, 1, 1, -1, 1, 1, -1, -1, 1, -1, 1, -1, -1, -1, -1, 1, -1, 1, 1, 1, -1, -1,
                1, -1, 1, 1, 1, -1,
            ],
            treatment_first: 17,
            baseline_first: 13,
            undetermined: 0,
            p_value: 0.5846647117286922,
        },
        SignCase {
            name: "all_undetermined",
            pairs: &[
                ((60.0, false), (60.0, false)),
                ((60.0, false), (60.0, false)),
                ((60.0, false), (60.0, false)),
                ((60.0, false), (60.0, false)),
            ],
            scores: &[0, 0, 0, 0],
            treatment_first: 0,
            baseline_first: 0,
            undetermined: 4,
            p_value: 1.0,
        },
    ];

    // ---- scipy.stats.binomtest(k, n, 0.5).pvalue (two-sided): (k, n, p)
    const BINOM_CASES: &[(usize, usize, f64)] = &[
        (0, 1, 1.0),
        (1, 1, 1.0),
        (0, 5, 0.0625),
        (2, 5, 1.0),
        (3, 6, 1.0),
        (14, 18, 0.0308837890625),
        (3, 12, 0.14599609375),
        (9, 9, 0.00390625),
        (0, 7, 0.015625),
        (20, 20, 1.9073486328125e-06),
        (10, 20, 1.0),
        (7, 20, 0.26317596435546875),
        (50, 120, 0.08240747932752648),
        (60, 121, 1.0),
        (55, 130, 0.09525341143251803),
        (70, 200, 2.6528755595268727e-05),
        (430, 1000, 1.0709737664959605e-05),
        (500, 1000, 1.0),
        (499, 1000, 0.9747749818216395),
        (0, 1000, 1.8665272370064378e-301),
        (4800, 10000, 6.593515598672343e-05),
    ];
    // ======== GENERATED (end) ========
}
