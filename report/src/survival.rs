//! Times to an event, censored at the trial's end: the Kaplan–Meier
//! estimate with its median and confidence interval, and a paired sign test
//! for censored pairs.
//!
//! A reaction time is time-to-event data: a trial that has not reacted by
//! its end only says the reaction would have come later. Dropping such
//! trials conditions on the outcome; these methods keep them.

use serde::Serialize;

use crate::stats::normal_cdf;

/// One trial's time: the event's, or the censoring time (`event = false`:
/// no event by then).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Observation {
    /// Time, from the origin (the load change).
    pub time: f64,
    /// Whether the event came at `time` (false: censored at `time`).
    pub event: bool,
}

/// One step of the Kaplan–Meier curve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Step {
    /// Event time.
    pub time: f64,
    /// Trials still at risk just before it.
    pub at_risk: usize,
    /// Events at it.
    pub events: usize,
    /// Survival just after it.
    pub survival: f64,
    /// Greenwood's sum Σ d/(n(n − d)) up to it.
    pub greenwood: f64,
    /// Lower end of the pointwise band.
    pub low: f64,
    /// Upper end of the pointwise band.
    pub high: f64,
}

/// The Kaplan–Meier estimate of one sample.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KaplanMeier {
    /// The curve at each distinct event time.
    pub steps: Vec<Step>,
    /// Median: the first time the curve is at or below ½ (`None`: never).
    pub median: Option<f64>,
    /// The median's interval: where the band's lower and upper curves first
    /// reach ½ (`None` at either end: not reached in the data).
    pub median_ci: (Option<f64>, Option<f64>),
    /// Level of the band and the median's interval.
    pub level: f64,
}

/// Two-sided standard normal quantile of `level` (e.g. 1.96 for 0.95), by
/// bisection on [`normal_cdf`].
fn z_of(level: f64) -> f64 {
    let target = 1.0 - (1.0 - level) / 2.0;
    let (mut lo, mut hi) = (0.0f64, 40.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if normal_cdf(mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// [`kaplan_meier_at`] at the 95 % level.
pub fn kaplan_meier(obs: &[Observation]) -> Option<KaplanMeier> {
    kaplan_meier_at(obs, 0.95)
}

/// The Kaplan–Meier product-limit estimate (Kaplan & Meier, 1958) with
/// Greenwood's variance and the pointwise band on the log(−log) scale,
/// S^exp(±z·√G / log S) — the band lifelines' `KaplanMeierFitter` draws by
/// default. At a time with both events and censorings, the events come
/// first (a trial censored at t was still at risk at t). The median is the
/// first event time at which S ≤ ½, and its interval is read where the
/// band's lower and upper curves first reach ½, as lifelines'
/// `median_survival_times` does on `confidence_interval_` (after Brookmeyer
/// & Crowley, 1982, who invert a test of S(t) = ½). Where S reaches 0 the
/// band is 0.
///
/// `None` for an empty sample, a non-finite or negative time, or a level
/// outside (0, 1).
pub fn kaplan_meier_at(obs: &[Observation], level: f64) -> Option<KaplanMeier> {
    if obs.is_empty()
        || !(level > 0.0 && level < 1.0)
        || obs.iter().any(|o| !o.time.is_finite() || o.time < 0.0)
    {
        return None;
    }
    let mut sorted = obs.to_vec();
    sorted.sort_by(|a, b| a.time.total_cmp(&b.time));
    let z = z_of(level);
    let mut steps = Vec::new();
    let (mut at_risk, mut s, mut g) = (sorted.len(), 1.0f64, 0.0f64);
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
            let n = at_risk as f64;
            let df = d as f64;
            s *= 1.0 - df / n;
            if at_risk > d {
                g += df / (n * (n - df));
            }
            let (low, high) = if s > 0.0 && s < 1.0 {
                let ls = s.ln();
                let w = z * g.sqrt() / ls;
                // ls < 0: exp(w) < 1 raises S towards 1 (upper end).
                (s.powf((-w).exp()), s.powf(w.exp()))
            } else if s <= 0.0 {
                (0.0, 0.0)
            } else {
                (1.0, 1.0)
            };
            steps.push(Step {
                time: t,
                at_risk,
                events: d,
                survival: s,
                greenwood: g,
                low: low.min(high),
                high: low.max(high),
            });
        }
        at_risk -= d + c;
    }
    // S = ½ exactly counts as reached; the product of the steps can land a
    // rounding error either side of it.
    let first_at_or_below = |f: fn(&Step) -> f64| {
        steps
            .iter()
            .find(|st| f(st) <= 0.5 + 1e-12)
            .map(|st| st.time)
    };
    let median = first_at_or_below(|st| st.survival);
    // The lower band reaches ½ first: the interval's lower end.
    let ci = (
        first_at_or_below(|st| st.low),
        first_at_or_below(|st| st.high),
    );
    Some(KaplanMeier {
        steps,
        median,
        median_ci: ci,
        level,
    })
}

/// The result of [`paired_censored_sign_test`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PairedCensored {
    /// Pairs where the treatment's event is known to come first.
    pub treatment_first: usize,
    /// Pairs where the baseline's is.
    pub baseline_first: usize,
    /// Pairs whose order cannot be told (both censored, or one censored
    /// before the other's event) or that tie.
    pub undetermined: usize,
    /// Exact two-sided binomial p over the determined pairs (1 when none).
    pub p_value: f64,
}

/// Which of a (baseline, treatment) pair's events is known to come first:
/// +1 the treatment's, −1 the baseline's, 0 unknown or tied. A trial
/// censored at c has its event after c, so an event at t ≤ c comes first.
fn gehan_score(b: &Observation, t: &Observation) -> i8 {
    match (b.event, t.event) {
        (true, true) if t.time < b.time => 1,
        (true, true) if b.time < t.time => -1,
        (false, true) if t.time <= b.time => 1,
        (true, false) if b.time <= t.time => -1,
        _ => 0,
    }
}

/// The paired Gehan sign test: each (baseline, treatment) pair of one seed
/// scores +1 when the treatment's event is known to come first, −1 when the
/// baseline's is, and 0 when the order cannot be told or they tie (Gehan's
/// scoring of censored pairs, 1965); the non-zero scores are tested with the
/// exact two-sided binomial test at ½ (as `scipy.stats.binomtest`). With
/// every trial uncensored it is the ordinary sign test. `None` for no pairs
/// or a non-finite time.
pub fn paired_censored_sign_test(pairs: &[(Observation, Observation)]) -> Option<PairedCensored> {
    if pairs.is_empty()
        || pairs
            .iter()
            .any(|(b, t)| !b.time.is_finite() || !t.time.is_finite())
    {
        return None;
    }
    let (mut plus, mut minus) = (0usize, 0usize);
    for (b, t) in pairs {
        match gehan_score(b, t) {
            1 => plus += 1,
            -1 => minus += 1,
            _ => {}
        }
    }
    Some(PairedCensored {
        treatment_first: plus,
        baseline_first: minus,
        undetermined: pairs.len() - plus - minus,
        p_value: binomial_two_sided_half(plus, plus + minus),
    })
}

/// Two-sided exact binomial p of `k` successes in `n` trials at p = ½:
/// 2·min(P(X ≤ k), P(X ≥ k)), at most 1 (for p = ½ the same as SciPy's
/// sum of outcomes no likelier than `k`).
pub fn binomial_two_sided_half(k: usize, n: usize) -> f64 {
    if n == 0 {
        return 1.0;
    }
    // log C(n, i) − n log 2, summed in probability space.
    let ln_half_n = -(n as f64) * std::f64::consts::LN_2;
    let mut ln_c = 0.0f64;
    let mut pmf = Vec::with_capacity(n + 1);
    for i in 0..=n {
        if i > 0 {
            ln_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        pmf.push((ln_c + ln_half_n).exp());
    }
    let low: f64 = pmf[..=k.min(n)].iter().sum();
    let high: f64 = pmf[k.min(n)..].iter().sum();
    (2.0 * low.min(high)).min(1.0)
}
