//! Nonparametric statistics for comparing the two autoscaler arms ("hpa" and
//! "userscale"), where each trial is one observation.
//!
//! The normal distribution and the binomial tail come from `statrs`; the rank
//! statistics, their exact null distributions and the Hodges–Lehmann
//! intervals are written here because `statrs` has none of them. Everything
//! was checked against SciPy 1.17.1, statsmodels 0.15.0 and NumPy 2.4.6 (see
//! the tests).
//!
//! # Conventions
//!
//! * **Non-finite input is rejected, never skipped.** Every function that
//!   takes samples returns `None` when any value is NaN or ±∞, or when the
//!   sample is too small for the statistic. The only values ever left out of
//!   a computation are the ones a method defines as left out: zero paired
//!   differences in the Wilcoxon test (`zero_method="wilcox"`, reported as
//!   [`WilcoxonResult::n_zero`]) and NaN entries ("no test") in [`holm`].
//! * **Two-sided tests only**, with SciPy's default `method="auto"` rules
//!   reproduced exactly; the rule that was applied is reported in the
//!   result's `method` field ([`METHOD_EXACT`], [`METHOD_PERMUTATION`] or
//!   [`METHOD_NORMAL`]).
//! * **Quantiles** use NumPy's default (`method="linear"`) definition, see
//!   [`quantile`].
//! * **Normal tail probabilities** come from `statrs`' `erfc`, whose relative
//!   error against mpmath is at most 1.1e-10 over the tested range (worst
//!   near x = 0.5; the tests hold it to 2e-10), so p-values agree with SciPy
//!   to about ten significant digits, far beyond the three the report prints.
//! * **Confidence intervals for the Hodges–Lehmann estimates**
//!   ([`hodges_lehmann_paired_ci`], [`hodges_lehmann_two_sample_ci`])
//!   invert the rank tests with the same exact/normal cut-offs as
//!   [`wilcoxon_signed_rank`] and [`mann_whitney_u`], so for untied data an
//!   interval excludes 0 exactly when the test next to it rejects.

#[cfg(test)]
use rand::{Rng, SeedableRng};
#[cfg(test)]
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// `method` value: the exact null distribution of the statistic (no ties,
/// no zero differences), computed by dynamic programming.
pub const METHOD_EXACT: &str = "exact";
/// `method` value (Wilcoxon only): exact permutation (sign-flip) test over
/// all 2^n sign assignments, used by SciPy's `auto` rule for n ≤ 13 when
/// there are ties or zero differences. It is exact conditional on the
/// observed tie pattern.
pub const METHOD_PERMUTATION: &str = "permutation";
/// `method` value: normal approximation with the tie-corrected variance.
pub const METHOD_NORMAL: &str = "normal";

/// Result of [`wilcoxon_signed_rank`] (two-sided, paired).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WilcoxonResult {
    /// Number of non-zero differences (the ones that were ranked).
    pub n_nonzero: usize,
    /// Number of zero differences that were dropped (`zero_method="wilcox"`).
    pub n_zero: usize,
    /// Sum of the (average) ranks of |d| over the positive differences.
    pub w_plus: f64,
    /// Sum of the (average) ranks of |d| over the negative differences.
    pub w_minus: f64,
    /// `min(w_plus, w_minus)`, the statistic SciPy reports for a two-sided test.
    pub statistic: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// Which null distribution gave `p_value`: [`METHOD_EXACT`],
    /// [`METHOD_PERMUTATION`] or [`METHOD_NORMAL`].
    pub method: &'static str,
}

/// Result of [`mann_whitney_u`] (two-sided, independent samples).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MannWhitneyResult {
    /// Size of the first sample `x`.
    pub n_x: usize,
    /// Size of the second sample `y`.
    pub n_y: usize,
    /// U statistic of `x` (number of pairs with x > y, ties counting ½), the
    /// value `scipy.stats.mannwhitneyu(x, y).statistic` returns. The U of `y`
    /// is `n_x * n_y - u_x`.
    pub u_x: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// Which null distribution gave `p_value`: [`METHOD_EXACT`] or
    /// [`METHOD_NORMAL`].
    pub method: &'static str,
}

fn all_finite(values: &[f64]) -> bool {
    values.iter().all(|v| v.is_finite())
}

// ------------------------------------------------------------------------
// Descriptive helpers
// ------------------------------------------------------------------------

/// Arithmetic mean. `None` for an empty slice or any non-finite value.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() || !all_finite(values) {
        return None;
    }
    Some(values.iter().sum::<f64>() / values.len() as f64)
}

/// Median (mean of the two middle values for an even count, as
/// `numpy.median`). `None` for an empty slice or any non-finite value.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() || !all_finite(values) {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(median_of_sorted(&sorted))
}

/// Sample standard deviation (denominator n − 1, `numpy.std(v, ddof=1)`),
/// computed in two passes. `None` for fewer than two values or any
/// non-finite value.
pub fn std_dev(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let m = mean(values)?;
    let ss: f64 = values.iter().map(|v| (v - m) * (v - m)).sum();
    Some((ss / (values.len() - 1) as f64).sqrt())
}

/// Median of a non-empty sorted slice.
/// The median of unsorted, non-empty `v` by selection (O(n)), reordering
/// `v`; the same value as [`median_of_sorted`] of the sorted slice.
fn median_in_place(v: &mut [f64]) -> f64 {
    let n = v.len();
    let k = n / 2;
    let (lower, upper, _) = v.select_nth_unstable_by(k, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        upper
    } else {
        let lower = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lower + upper) / 2.0
    }
}

fn median_of_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Quantile `q` of an ascending `sorted` slice with NumPy's default
/// `method="linear"` (type 7 of Hyndman & Fan): with `h = (n − 1)·q`,
/// the result interpolates linearly between `sorted[floor(h)]` and
/// `sorted[floor(h) + 1]`, using the same two-sided lerp NumPy uses so the
/// value is bit-for-bit NumPy's for the same input.
///
/// Returns NaN (never panics) when `sorted` is empty or `q` is not in
/// `[0, 1]`; the caller is responsible for passing sorted, finite data.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() || !(0.0..=1.0).contains(&q) {
        return f64::NAN;
    }
    let n = sorted.len();
    let virtual_index = (n - 1) as f64 * q;
    let previous = virtual_index.floor();
    let gamma = virtual_index - previous;
    let i = (previous as usize).min(n - 1);
    let j = (i + 1).min(n - 1);
    let (a, b) = (sorted[i], sorted[j]);
    let diff = b - a;
    if gamma >= 0.5 {
        b - diff * (1.0 - gamma)
    } else {
        a + diff * gamma
    }
}

// ------------------------------------------------------------------------
// Normal distribution
// ------------------------------------------------------------------------

/// Standard normal CDF Φ(x) = ½·erfc(−x/√2), from `statrs`' `erfc` (about
/// 1e-10 relative, in the lower tail too, down to Φ ≈ 1e-300). NaN for NaN.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * statrs::function::erf::erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
}

/// Standard normal survival function 1 − Φ(x) = ½·erfc(x/√2), accurate in
/// the upper tail. NaN for NaN.
pub fn normal_sf(x: f64) -> f64 {
    0.5 * statrs::function::erf::erfc(x * std::f64::consts::FRAC_1_SQRT_2)
}

// ------------------------------------------------------------------------
// Ranks and exact null distributions
// ------------------------------------------------------------------------

/// Average (mid) ranks, 1-based, of finite `values`, in input order, and
/// the size of every tie group (1 for an untied value). Equal values by
/// `==`, so −0.0 and 0.0 tie, as in SciPy.
pub(crate) fn average_ranks(values: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let n = values.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; n];
    let mut ties = Vec::new();
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let count = j - i + 1;
        let rank = (i + 1) as f64 + (count - 1) as f64 / 2.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        ties.push(count);
        i = j + 1;
    }
    (ranks, ties)
}

/// Σ (t³ − t) over tie groups, as SciPy computes it (in f64).
pub(crate) fn tie_term(ties: &[usize]) -> f64 {
    ties.iter()
        .map(|&t| {
            let t = t as f64;
            t * t * t - t
        })
        .sum()
}

/// Two-sided sign-flip p-value for the sum of the `doubled_ranks` that carry
/// a positive sign, observed value `doubled_observed`:
/// `min(1, 2·min(P(S ≤ obs), P(S ≥ obs)))` over all 2^m equally likely sign
/// assignments, by subset-sum dynamic programming with exact integer
/// counts. With untied ranks 1..n (doubled) this is exactly SciPy's exact
/// Wilcoxon p-value `2·min(cdf(ceil(r+)), sf(floor(r+)))`; with mid-ranks it
/// is SciPy's exhaustive `permutation_test` p-value. Requires m ≤ 120.
fn sign_flip_p_value(doubled_ranks: &[usize], doubled_observed: usize) -> f64 {
    let total: usize = doubled_ranks.iter().sum();
    let mut counts = vec![0u128; total + 1];
    counts[0] = 1;
    let mut reach = 0;
    for &r in doubled_ranks {
        reach += r;
        for s in (r..=reach).rev() {
            counts[s] += counts[s - r];
        }
    }
    let obs = doubled_observed.min(total);
    let less: u128 = counts[..=obs].iter().sum();
    let greater: u128 = counts[obs..].iter().sum();
    let scale = 0.5f64.powi(i32::try_from(doubled_ranks.len()).unwrap_or(i32::MAX));
    let p_less = less as f64 * scale;
    let p_greater = greater as f64 * scale;
    (2.0 * p_less.min(p_greater)).min(1.0)
}

/// P(U ≤ k) under H0 for the Mann–Whitney U of samples of sizes `m` and `n`
/// (no ties): coefficients of the Gaussian binomial
/// [m+n choose m]_q = Π_{i=1..m} (1 − q^(n+i)) / (1 − q^i), truncated at
/// degree k, divided by C(m+n, m). Exact integer arithmetic (i128) while the
/// counts fit, f64 beyond that.
fn mann_whitney_exact_cdf(m: usize, n: usize, k: usize) -> f64 {
    let (m, n) = (m.min(n), m.max(n));
    mann_whitney_exact_cdf_i128(m, n, k).unwrap_or_else(|| mann_whitney_exact_cdf_f64(m, n, k))
}

fn mann_whitney_exact_cdf_i128(m: usize, n: usize, k: usize) -> Option<f64> {
    let mut total: i128 = 1;
    for i in 1..=m {
        // C(n+i, i) = C(n+i-1, i-1) * (n+i) / i, exact at every step.
        total = total.checked_mul(i128::try_from(n + i).ok()?)? / i128::try_from(i).ok()?;
    }
    let mut c = vec![0i128; k + 1];
    c[0] = 1;
    for i in 1..=m {
        let shift = n + i;
        for s in (shift..=k).rev() {
            c[s] = c[s].checked_sub(c[s - shift])?;
        }
        for s in i..=k {
            c[s] = c[s].checked_add(c[s - i])?;
        }
    }
    let mut below: i128 = 0;
    for v in &c {
        below = below.checked_add(*v)?;
    }
    Some(below as f64 / total as f64)
}

fn mann_whitney_exact_cdf_f64(m: usize, n: usize, k: usize) -> f64 {
    let mut total = 1.0;
    for i in 1..=m {
        total = total * (n + i) as f64 / i as f64;
    }
    let mut c = vec![0.0f64; k + 1];
    c[0] = 1.0;
    for i in 1..=m {
        let shift = n + i;
        for s in (shift..=k).rev() {
            c[s] -= c[s - shift];
        }
        for s in i..=k {
            c[s] += c[s - i];
        }
    }
    c.iter().sum::<f64>() / total
}

// ------------------------------------------------------------------------
// Wilcoxon signed-rank
// ------------------------------------------------------------------------

/// Two-sided Wilcoxon signed-rank test on paired differences, matching
/// `scipy.stats.wilcoxon(diffs)` with its defaults in SciPy 1.17.1
/// (`zero_method="wilcox"`, `correction=False`, `method="auto"`).
///
/// Zero differences are dropped before ranking (counted in `n_zero`);
/// |d| are ranked with average ranks for ties. SciPy 1.17's `auto` rule,
/// reproduced exactly (note that `n` is the length of `diffs` **including**
/// zeros):
///
/// * `n > 50` → normal approximation;
/// * otherwise, no ties among |d| and no zeros → exact distribution
///   ([`METHOD_EXACT`]), p = min(1, 2·P(W ≤ min(w+, w−)));
/// * otherwise, `n ≤ 13` → exhaustive sign-flip permutation test
///   ([`METHOD_PERMUTATION`]; SciPy runs `permutation_test`, which is
///   exhaustive for 2^13 < 9999 resamples, so the p-value is deterministic);
/// * otherwise → normal approximation ([`METHOD_NORMAL`]): mean n'(n'+1)/4,
///   variance (n'(n'+1)(2n'+1) − Σ(t³−t)/2)/24 over the n' non-zero
///   differences, **no** continuity correction (SciPy's default; see
///   [`wilcoxon_signed_rank_with`] to apply one).
///
/// `None` if `diffs` holds any non-finite value or has no non-zero
/// difference (SciPy would return p = 1 or NaN there).
pub fn wilcoxon_signed_rank(diffs: &[f64]) -> Option<WilcoxonResult> {
    wilcoxon_signed_rank_with(diffs, false)
}

/// [`wilcoxon_signed_rank`] with SciPy's `correction` argument:
/// `continuity_correction = true` matches
/// `scipy.stats.wilcoxon(diffs, correction=True)`, i.e. z is moved ½/σ
/// towards zero in the normal approximation. It has no effect on the exact
/// or permutation p-values.
pub fn wilcoxon_signed_rank_with(
    diffs: &[f64],
    continuity_correction: bool,
) -> Option<WilcoxonResult> {
    if !all_finite(diffs) {
        return None;
    }
    let nonzero: Vec<f64> = diffs.iter().copied().filter(|&d| d != 0.0).collect();
    if nonzero.is_empty() {
        return None;
    }
    let n_zero = diffs.len() - nonzero.len();
    let abs: Vec<f64> = nonzero.iter().map(|d| d.abs()).collect();
    let (ranks, ties) = average_ranks(&abs);
    let mut w_plus = 0.0;
    let mut w_minus = 0.0;
    for (d, r) in nonzero.iter().zip(&ranks) {
        if *d > 0.0 {
            w_plus += r;
        } else {
            w_minus += r;
        }
    }
    let has_ties = ties.iter().any(|&t| t > 1);

    let method = if diffs.len() > 50 {
        METHOD_NORMAL
    } else if !has_ties && n_zero == 0 {
        METHOD_EXACT
    } else if diffs.len() <= 13 {
        METHOD_PERMUTATION
    } else {
        METHOD_NORMAL
    };

    let p_value = if method == METHOD_NORMAL {
        let count = nonzero.len() as f64;
        let mn = count * (count + 1.0) * 0.25;
        let var24 = count * (count + 1.0) * (2.0 * count + 1.0) - tie_term(&ties) / 2.0;
        let se = (var24 / 24.0).sqrt();
        let mut z = (w_plus - mn) / se;
        if continuity_correction {
            // numpy.sign: 0 at 0 (f64::signum would give 1).
            let sign = if z > 0.0 {
                1.0
            } else if z < 0.0 {
                -1.0
            } else {
                0.0
            };
            z -= sign * 0.5 / se;
        }
        2.0 * normal_sf(z.abs())
    } else {
        // Mid-ranks are multiples of ½, so doubled ranks are exact integers.
        let doubled: Vec<usize> = ranks.iter().map(|r| (2.0 * r).round() as usize).collect();
        sign_flip_p_value(&doubled, (2.0 * w_plus).round() as usize)
    };

    Some(WilcoxonResult {
        n_nonzero: nonzero.len(),
        n_zero,
        w_plus,
        w_minus,
        statistic: w_plus.min(w_minus),
        p_value,
        method,
    })
}

// ------------------------------------------------------------------------
// Mann-Whitney U
// ------------------------------------------------------------------------

/// Two-sided Mann–Whitney U test, matching `scipy.stats.mannwhitneyu(x, y)`
/// with its defaults in SciPy 1.17.1 (`use_continuity=True`,
/// `method="auto"`).
///
/// SciPy's `auto` rule (`_mwu_choose_method`), reproduced exactly: normal
/// approximation if both samples have more than 8 values or if there are any
/// ties in the pooled sample; otherwise the exact distribution
/// ([`METHOD_EXACT`]), p = min(1, 2·P(U ≥ max(U_x, U_y))).
/// The normal approximation ([`METHOD_NORMAL`]) uses
/// z = (max(U_x, U_y) − n_x·n_y/2 − ½) / σ with the tie-corrected
/// σ² = n_x·n_y/12 · ((n+1) − Σ(t³−t)/(n(n−1))) and p = min(1, 2·(1 − Φ(z)))
/// (p = 1 when every value is tied and σ = 0).
///
/// `None` if either sample is empty or holds a non-finite value.
pub fn mann_whitney_u(x: &[f64], y: &[f64]) -> Option<MannWhitneyResult> {
    if x.is_empty() || y.is_empty() || !all_finite(x) || !all_finite(y) {
        return None;
    }
    let (n1, n2) = (x.len(), y.len());
    let pooled: Vec<f64> = x.iter().chain(y).copied().collect();
    let (ranks, ties) = average_ranks(&pooled);
    let r1: f64 = ranks[..n1].iter().sum();
    let n1f = n1 as f64;
    let n2f = n2 as f64;
    let u1 = r1 - n1f * (n1f + 1.0) / 2.0;
    let u2 = n1f * n2f - u1;
    let u = u1.max(u2);
    let has_ties = ties.iter().any(|&t| t > 1);

    let method = if (n1 > 8 && n2 > 8) || has_ties {
        METHOD_NORMAL
    } else {
        METHOD_EXACT
    };

    let p_value = if method == METHOD_EXACT {
        // P(U ≥ u) = P(U ≤ n1·n2 − u) by symmetry; u is an integer here.
        let k = (n1f * n2f - u).round() as usize;
        (2.0 * mann_whitney_exact_cdf(n1, n2, k)).min(1.0)
    } else {
        let n = n1f + n2f;
        let mu = n1f * n2f / 2.0;
        let s = (n1f * n2f / 12.0 * ((n + 1.0) - tie_term(&ties) / (n * (n - 1.0)))).sqrt();
        let z = (u - mu - 0.5) / s;
        if s > 0.0 {
            (2.0 * normal_sf(z)).min(1.0)
        } else {
            1.0
        }
    };

    Some(MannWhitneyResult {
        n_x: n1,
        n_y: n2,
        u_x: u1,
        p_value,
        method,
    })
}

// ------------------------------------------------------------------------
// Effect sizes
// ------------------------------------------------------------------------

/// Hodges–Lehmann location estimate for paired differences: the median of
/// the n(n+1)/2 Walsh averages (d_i + d_j)/2 with i ≤ j. Uses O(n²) memory
/// and O(n² log n) time. `None` for an empty slice or any non-finite value.
pub fn hodges_lehmann_paired(diffs: &[f64]) -> Option<f64> {
    if diffs.is_empty() || !all_finite(diffs) {
        return None;
    }
    let n = diffs.len();
    let mut walsh = Vec::with_capacity(n * (n + 1) / 2);
    for i in 0..n {
        for j in i..n {
            walsh.push((diffs[i] + diffs[j]) / 2.0);
        }
    }
    Some(median_in_place(&mut walsh))
}

/// Hodges–Lehmann shift estimate for two independent samples: the median of
/// all n_x·n_y differences x_i − y_j (positive when `x` tends to be larger).
/// O(n_x·n_y) memory. `None` if either sample is empty or holds a
/// non-finite value.
pub fn hodges_lehmann_two_sample(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.is_empty() || y.is_empty() || !all_finite(x) || !all_finite(y) {
        return None;
    }
    let mut diffs = Vec::with_capacity(x.len() * y.len());
    for a in x {
        for b in y {
            diffs.push(a - b);
        }
    }
    Some(median_in_place(&mut diffs))
}

/// Cliff's delta: (#(x_i > y_j) − #(x_i < y_j)) / (n_x·n_y), in [−1, 1];
/// positive when `x` tends to be larger. `None` if either sample is empty or
/// holds a non-finite value.
pub fn cliffs_delta(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.is_empty() || y.is_empty() || !all_finite(x) || !all_finite(y) {
        return None;
    }
    let mut greater: u64 = 0;
    let mut less: u64 = 0;
    for a in x {
        for b in y {
            if a > b {
                greater += 1;
            } else if a < b {
                less += 1;
            }
        }
    }
    Some((greater as f64 - less as f64) / (x.len() as f64 * y.len() as f64))
}

/// Verbal magnitude of a Cliff's delta with the thresholds of Romano et al.
/// (2006): |d| < 0.147 "negligible", < 0.33 "small", < 0.474 "medium",
/// otherwise "large". Returns "undefined" for NaN.
pub fn cliffs_magnitude(d: f64) -> &'static str {
    let a = d.abs();
    if a.is_nan() {
        "undefined"
    } else if a < 0.147 {
        "negligible"
    } else if a < 0.33 {
        "small"
    } else if a < 0.474 {
        "medium"
    } else {
        "large"
    }
}

// ------------------------------------------------------------------------
// Multiple comparisons
// ------------------------------------------------------------------------

/// Holm–Bonferroni step-down adjusted p-values, in input order, matching
/// `statsmodels.stats.multitest.multipletests(p, method="holm")[1]`:
/// sort the m valid p-values ascending, multiply the k-th smallest (k from
/// 0) by m − k, take the running maximum, cap at 1.
///
/// NaN means "no test": it stays NaN in the output and is not counted in m.
/// Any other entry that is not a probability (negative, above 1, or
/// infinite) is treated the same way, so it shows up as NaN in the output
/// rather than being adjusted.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let mut adjusted = vec![f64::NAN; p_values.len()];
    let mut order: Vec<usize> = (0..p_values.len())
        .filter(|&i| (0.0..=1.0).contains(&p_values[i]))
        .collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let m = order.len();
    let mut running = f64::NEG_INFINITY;
    for (k, &i) in order.iter().enumerate() {
        running = running.max(p_values[i] * (m - k) as f64);
        adjusted[i] = running.min(1.0);
    }
    adjusted
}

// ------------------------------------------------------------------------
// Normal quantile and the exact sign test
// ------------------------------------------------------------------------

/// Standard normal quantile Φ⁻¹(p) = −√2·erfc⁻¹(2p) (what
/// `scipy.stats.norm.ppf` computes), from `statrs`' `erfc_inv`: within
/// 1e-15 of SciPy in the tests, down to p = 1e-16.
///
/// −∞ for p = 0, +∞ for p = 1, NaN for NaN or p outside [0, 1] (where
/// `statrs`' own `Normal::inverse_cdf` would panic).
pub fn normal_quantile(p: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    -std::f64::consts::SQRT_2 * statrs::function::erf::erfc_inv(2.0 * p)
}

/// Two-sided exact sign test: the p-value of `successes` out of `trials`
/// under Binomial(`trials`, ½), i.e. `min(1, 2·P(X ≤ min(k, n − k)))`,
/// which for p = ½ is the same as `scipy.stats.binomtest(k, n, 0.5).pvalue`
/// (SciPy sums the probabilities of all outcomes no likelier than the one
/// observed; at ½ those are the two mirror-image tails).
///
/// Exact integer arithmetic up to 120 trials; beyond that the binomial tail
/// as a regularised incomplete beta function, P(X ≤ j) = I_½(n − j, j + 1),
/// from `statrs` (within 2e-10 relative of SciPy's `binomtest` and of the
/// exact tail in the tests, up to n = 10 000). Returns 1 for `trials == 0` (nothing to test) and treats
/// `successes > trials` as `successes == trials`.
pub fn sign_test_p_value(successes: usize, trials: usize) -> f64 {
    let n = trials;
    let k = successes.min(n);
    let j = k.min(n - k);
    if n == 0 || 2 * j == n {
        return 1.0;
    }
    if let Some(p) = sign_test_exact(j, n) {
        return p;
    }
    let tail = statrs::function::beta::beta_reg((n - j) as f64, (j + 1) as f64, 0.5);
    (2.0 * tail).min(1.0)
}

/// `2·P(X ≤ j)` for X ~ Binomial(n, ½) in exact integer arithmetic, `None`
/// when n > 120 or an intermediate overflows.
fn sign_test_exact(j: usize, n: usize) -> Option<f64> {
    if n > 120 {
        return None;
    }
    let nn = u128::try_from(n).ok()?;
    let mut c: u128 = 1;
    let mut cum: u128 = 1;
    for i in 1..=j {
        let ii = u128::try_from(i).ok()?;
        c = c.checked_mul(nn - ii + 1)? / ii;
        cum = cum.checked_add(c)?;
    }
    let scale = 0.5f64.powi(i32::try_from(n).ok()?);
    Some((2.0 * cum as f64 * scale).min(1.0))
}

// ------------------------------------------------------------------------
// Exact Hodges–Lehmann intervals
// ------------------------------------------------------------------------

/// A distribution-free confidence interval for a location (paired) or shift
/// (two-sample) parameter, obtained by inverting a rank test: returned by
/// [`hodges_lehmann_paired_ci`] and [`hodges_lehmann_two_sample_ci`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RankInterval {
    /// Lower end: the `lower_rank`-th smallest Walsh average / difference.
    pub low: f64,
    /// Upper end: the `lower_rank`-th largest Walsh average / difference.
    pub high: f64,
    /// The coverage the null distribution of the test statistic gives the
    /// interval, 1 − 2·P(T ≤ `lower_rank` − 1). Rank statistics are
    /// discrete, so not every level is attainable: the interval is the
    /// shortest of this form whose coverage is **at least** the requested
    /// level, and this is the coverage it actually has (e.g. 0.9609 for a
    /// requested 0.95 with n = 9 paired differences). In the exact branch it
    /// is exact for continuous data; in the normal branch it is the normal
    /// approximation's value (still ≥ the requested level by construction);
    /// with ties or zeros in the data it is approximate in either branch.
    pub level_achieved: f64,
    /// C, the 1-based rank of the lower end among the sorted averages /
    /// differences; the upper end has rank M + 1 − C (M of them in all).
    pub lower_rank: usize,
    /// The null distribution the critical value came from: [`METHOD_EXACT`]
    /// or [`METHOD_NORMAL`].
    pub method: &'static str,
}

/// Largest number of paired differences for which
/// [`hodges_lehmann_paired_ci`] uses the exact signed-rank distribution
/// (SciPy's and [`wilcoxon_signed_rank`]'s cut-off for the exact p-value).
pub const SIGNED_RANK_EXACT_MAX: usize = 50;

/// [`hodges_lehmann_two_sample_ci`] uses the exact Mann–Whitney
/// distribution when the smaller sample has at most this many values
/// (SciPy's and [`mann_whitney_u`]'s cut-off for the exact p-value).
pub const MANN_WHITNEY_EXACT_MAX: usize = 8;

fn level_ok(level: f64) -> bool {
    level > 0.0 && level < 1.0
}

/// Cumulative null counts of the signed-rank statistic T+ for n untied
/// ranks: entry w is the number of the 2^n sign assignments whose positive
/// ranks sum to at most w, for w = 0..=n(n+1)/2 (subset-sum dynamic
/// programming). Exact for n ≤ 127 (the counts are below 2^127); used for
/// n ≤ [`SIGNED_RANK_EXACT_MAX`].
fn signed_rank_cumulative_counts(n: usize) -> Vec<u128> {
    let top = n * (n + 1) / 2;
    let mut counts = vec![0u128; top + 1];
    counts[0] = 1;
    let mut reach = 0;
    for r in 1..=n {
        reach += r;
        for s in (r..=reach).rev() {
            counts[s] += counts[s - r];
        }
    }
    let mut acc = 0u128;
    for c in counts.iter_mut() {
        acc += *c;
        *c = acc;
    }
    counts
}

/// The largest k in `0..=max` with `cdf(k) ≤ tail`, for a non-decreasing
/// `cdf`; `None` when even `cdf(0)` exceeds `tail`.
fn largest_k_at_most(tail: f64, max: usize, cdf: impl Fn(usize) -> f64) -> Option<usize> {
    if !(cdf(0) <= tail) {
        return None;
    }
    let (mut lo, mut hi) = (0usize, max);
    // Invariant: cdf(lo) ≤ tail, and nothing above hi qualifies.
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if cdf(mid) <= tail {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Some(lo)
}

/// The `i`-th and `j`-th smallest values of `v` (0-based, i ≤ j < len) by
/// two selections, O(len), reordering `v`.
fn two_order_statistics(v: &mut [f64], i: usize, j: usize) -> (f64, f64) {
    let (_, low, above) = v.select_nth_unstable_by(i, f64::total_cmp);
    let low = *low;
    if j == i {
        return (low, low);
    }
    let (_, high, _) = above.select_nth_unstable_by(j - i - 1, f64::total_cmp);
    (low, *high)
}

/// Exact Hodges–Lehmann confidence interval for the centre of symmetry of
/// paired differences (the pseudo-median that [`hodges_lehmann_paired`]
/// estimates), by inverting the two-sided Wilcoxon signed-rank test
/// (Hollander, Wolfe & Chicken, *Nonparametric Statistical Methods*, 3rd
/// ed., §3.3; Tukey's construction).
///
/// **Method.** Sort the M = n(n+1)/2 Walsh averages (d_i + d_j)/2, i ≤ j.
/// With α = 1 − `level`, let k be the largest integer with
/// P₀(T+ ≤ k) ≤ α/2 under the null distribution of the signed-rank
/// statistic T+; the interval is [W₍C₎, W₍M+1−C₎] with C = k + 1
/// ([`RankInterval::lower_rank`]) and its coverage is 1 − 2·P₀(T+ ≤ k)
/// ([`RankInterval::level_achieved`], ≥ `level`). Because T+ equals the
/// number of positive Walsh averages, a shift θ lies outside the closed
/// interval exactly when the test applied to d − θ has p ≤ α.
///
/// **Null distribution and cut-off.** For n ≤ [`SIGNED_RANK_EXACT_MAX`]
/// (50) the exact distribution (2^n equally likely sign assignments,
/// counted exactly); above, the normal approximation P₀(T+ ≤ k) ≈
/// Φ((k − μ)/σ), μ = n(n+1)/4, σ² = n(n+1)(2n+1)/24, **without** continuity
/// correction. Those are exactly the choices of [`wilcoxon_signed_rank`]
/// (SciPy's defaults) for data without ties or zeros, so for such data
/// 0 ∉ [`low`, `high`] ⇔ `wilcoxon_signed_rank(diffs).p_value ≤ 1 − level`
/// at every n (checked over random samples in the tests). "Outside" is
/// `p ≤ α`, the usual rejection rule; with continuous data p = α does not
/// occur.
///
/// **Zeros and ties.** `n` counts every difference, zeros included, and
/// the interval is computed the same way from all M Walsh averages with the
/// untied critical value. With zeros or tied |d| the test's own null
/// distribution changes ([`wilcoxon_signed_rank`] then drops the zeros and
/// uses a permutation or tie-corrected normal p), so the inversion and
/// `level_achieved` hold only approximately; the interval stays a valid
/// description of the Walsh averages' spread and is usually conservative.
///
/// **Cost.** O(n²) memory and time (selection, not a full sort).
///
/// `None` (never a panic) for an empty slice, any non-finite value (NaN or
/// ±∞ are rejected, not skipped), `level` not strictly inside (0, 1), or too
/// few differences for any interval at that level (P₀(T+ = 0) = 2⁻ⁿ already
/// exceeds α/2: n ≤ 5 at 95 %, n ≤ 7 at 99 %).
pub fn hodges_lehmann_paired_ci(diffs: &[f64], level: f64) -> Option<RankInterval> {
    if diffs.is_empty() || !all_finite(diffs) || !level_ok(level) {
        return None;
    }
    let n = diffs.len();
    let total = n.checked_mul(n.checked_add(1)?)? / 2;
    let tail = (1.0 - level) / 2.0;
    let (k, level_achieved, method) = if n <= SIGNED_RANK_EXACT_MAX {
        let cumulative = signed_rank_cumulative_counts(n);
        let scale = 0.5f64.powi(i32::try_from(n).ok()?);
        // Counts < 2^51 here, so `as f64` and the scaling are exact.
        let cdf = |w: usize| cumulative[w] as f64 * scale;
        let k = largest_k_at_most(tail, total / 2, cdf)?;
        (k, 1.0 - 2.0 * cdf(k), METHOD_EXACT)
    } else {
        let nf = n as f64;
        let mu = nf * (nf + 1.0) / 4.0;
        let sd = (nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0).sqrt();
        let cdf = |w: usize| normal_cdf((w as f64 - mu) / sd);
        let k = largest_k_at_most(tail, total / 2, cdf)?;
        (k, 1.0 - 2.0 * cdf(k), METHOD_NORMAL)
    };
    let mut walsh = Vec::with_capacity(total);
    for i in 0..n {
        for j in i..n {
            walsh.push((diffs[i] + diffs[j]) / 2.0);
        }
    }
    // k < M/2 because P₀(T+ ≤ k) ≤ α/2 < ½, so k < M − 1 − k; checked
    // anyway so that no rounding can make the selection panic.
    if 2 * k >= total {
        return None;
    }
    let (low, high) = two_order_statistics(&mut walsh, k, total - 1 - k);
    Some(RankInterval {
        low,
        high,
        level_achieved,
        lower_rank: k + 1,
        method,
    })
}

/// Exact Hodges–Lehmann confidence interval for the shift Δ of `x` against
/// `y` (x − y; the parameter [`hodges_lehmann_two_sample`] estimates), by
/// inverting the two-sided Mann–Whitney–Wilcoxon test (Hollander, Wolfe &
/// Chicken, 3rd ed., §4.3; Moses' construction).
///
/// **Method.** Sort the m·n differences D = x_i − y_j. With α = 1 − `level`,
/// let k be the largest integer with P₀(U ≤ k) ≤ α/2 under the null
/// distribution of U = #{x_i > y_j}; the interval is [D₍C₎, D₍mn+1−C₎] with
/// C = k + 1 and coverage 1 − 2·P₀(U ≤ k) (≥ `level`). Since U counts the
/// positive differences, Δ lies outside the interval exactly when the test
/// of x − Δ against y has p ≤ α.
///
/// **Null distribution and cut-off.** When the smaller sample has at most
/// [`MANN_WHITNEY_EXACT_MAX`] (8) values, the exact distribution (the
/// Gaussian-binomial coefficients [`mann_whitney_u`] uses); otherwise the
/// normal approximation with continuity correction,
/// P₀(U ≤ k) ≈ Φ((k + ½ − mn/2)/σ), σ² = mn(m+n+1)/12. Those are exactly
/// the choices of [`mann_whitney_u`] (SciPy's `auto` rule) for data without
/// ties, so for such data 0 ∉ [`low`, `high`] ⇔
/// `mann_whitney_u(x, y).p_value ≤ 1 − level` at every size (checked in
/// the tests), and the interval never contradicts the p-value reported next
/// to it. (An exact interval would be cheap for, say, 20 × 20 samples too;
/// the cut-off is SciPy's so that the two agree.)
///
/// **Ties.** Tied values (within or across the samples) are allowed: the
/// interval is computed the same way with the untied critical value, and
/// its inversion of the test and `level_achieved` are then approximate.
/// Exact intervals conditional on the tie pattern (e.g. SAS's `EXACT HL`)
/// can be wider.
///
/// **Cost.** O(m·n) memory and time.
///
/// `None` (never a panic) if either sample is empty or holds a non-finite
/// value, `level` is not strictly inside (0, 1), or the samples are too
/// small for any interval at that level (P₀(U = 0) = 1/C(m+n, m) exceeds
/// α/2, e.g. 3 and 3 at 95 %).
pub fn hodges_lehmann_two_sample_ci(x: &[f64], y: &[f64], level: f64) -> Option<RankInterval> {
    if x.is_empty() || y.is_empty() || !all_finite(x) || !all_finite(y) || !level_ok(level) {
        return None;
    }
    let (m, n) = (x.len(), y.len());
    let total = m.checked_mul(n)?;
    let tail = (1.0 - level) / 2.0;
    let (k, level_achieved, method) = if m.min(n) <= MANN_WHITNEY_EXACT_MAX {
        let cdf = |u: usize| mann_whitney_exact_cdf(m, n, u);
        let k = largest_k_at_most(tail, total / 2, cdf)?;
        (k, 1.0 - 2.0 * cdf(k), METHOD_EXACT)
    } else {
        let (mf, nf) = (m as f64, n as f64);
        let mu = mf * nf / 2.0;
        let sd = (mf * nf * (mf + nf + 1.0) / 12.0).sqrt();
        let cdf = |u: usize| normal_cdf((u as f64 + 0.5 - mu) / sd);
        let k = largest_k_at_most(tail, total / 2, cdf)?;
        (k, 1.0 - 2.0 * cdf(k), METHOD_NORMAL)
    };
    let mut d = Vec::with_capacity(total);
    for a in x {
        for b in y {
            d.push(a - b);
        }
    }
    if 2 * k >= total {
        return None;
    }
    let (low, high) = two_order_statistics(&mut d, k, total - 1 - k);
    Some(RankInterval {
        low,
        high,
        level_achieved,
        lower_rank: k + 1,
        method,
    })
}

#[cfg(test)]
mod tests {
    //! Reference values were produced on 2026-11-28 with Python 3.11.7,
    //! SciPy 1.17.1, statsmodels 0.15.0, NumPy 2.4.6 and mpmath 1.3.0 by the
    //! script reproduced verbatim at the end of this module (each block of
    //! constants is preceded by the exact Python call that produced it; the
    //! script also asserts that SciPy's `auto` choice equals the method
    //! recorded in each case by re-running SciPy with that method named
    //! explicitly). Floats are printed with `repr`, so they round-trip
    //! exactly. These packages are used to regenerate the numbers only; they
    //! are not a dependency of the crate or of its tests.
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Relative tolerance for exact p-values and statistics against SciPy.
    const REL_TOL: f64 = 1e-13;

    /// Relative tolerance for p-values from the normal distribution
    /// (`statrs`' erfc, see [`ERFC_REL_TOL`]).
    const NORMAL_REL_TOL: f64 = 2e-10;

    /// The tolerance for a case's p-value by the method that gave it.
    fn p_tol(method: &str) -> f64 {
        if method == METHOD_NORMAL {
            NORMAL_REL_TOL
        } else {
            REL_TOL
        }
    }

    fn assert_close(actual: f64, expected: f64, rel: f64, what: &str) {
        if expected.is_nan() {
            assert!(actual.is_nan(), "{what}: expected NaN, got {actual}");
            return;
        }
        let err = (actual - expected).abs();
        assert!(
            err <= rel * expected.abs() || err == 0.0,
            "{what}: got {actual:e}, expected {expected:e} (rel err {:e})",
            err / expected.abs()
        );
    }

    struct WilcoxonCase {
        name: &'static str,
        correction: bool,
        diffs: &'static [f64],
        n_nonzero: usize,
        w_plus: f64,
        w_minus: f64,
        statistic: f64,
        p_value: f64,
        method: &'static str,
    }

    struct MwuCase {
        name: &'static str,
        x: &'static [f64],
        y: &'static [f64],
        u_x: f64,
        p_value: f64,
        method: &'static str,
        cliffs_delta: f64,
        hl_two_sample: f64,
    }

    #[test]
    fn wilcoxon_matches_scipy() {
        for c in WILCOXON_CASES {
            let r = wilcoxon_signed_rank_with(c.diffs, c.correction).unwrap();
            assert_eq!(r.method, c.method, "{}", c.name);
            assert_eq!(r.n_nonzero, c.n_nonzero, "{}", c.name);
            assert_eq!(r.n_zero, c.diffs.len() - c.n_nonzero, "{}", c.name);
            // Rank sums are multiples of 1/2: exact equality.
            assert_eq!(r.w_plus, c.w_plus, "{}", c.name);
            assert_eq!(r.w_minus, c.w_minus, "{}", c.name);
            assert_eq!(r.statistic, c.statistic, "{}", c.name);
            assert_close(r.p_value, c.p_value, p_tol(r.method), c.name);
            if !c.correction {
                assert_eq!(wilcoxon_signed_rank(c.diffs).unwrap(), r, "{}", c.name);
            }
        }
    }

    #[test]
    fn wilcoxon_is_antisymmetric_in_sign() {
        for c in WILCOXON_CASES {
            let neg: Vec<f64> = c.diffs.iter().map(|d| -d).collect();
            let a = wilcoxon_signed_rank_with(c.diffs, c.correction).unwrap();
            let b = wilcoxon_signed_rank_with(&neg, c.correction).unwrap();
            assert_eq!(a.w_plus, b.w_minus, "{}", c.name);
            assert_eq!(a.statistic, b.statistic, "{}", c.name);
            assert_close(a.p_value, b.p_value, 1e-15, c.name);
        }
    }

    #[test]
    fn wilcoxon_rejects_degenerate_and_non_finite_input() {
        assert_eq!(wilcoxon_signed_rank(&[]), None);
        assert_eq!(wilcoxon_signed_rank(&[0.0, -0.0, 0.0]), None);
        assert_eq!(wilcoxon_signed_rank(&[1.0, f64::NAN, 2.0]), None);
        assert_eq!(wilcoxon_signed_rank(&[1.0, f64::INFINITY]), None);
        assert_eq!(wilcoxon_signed_rank(&[f64::NEG_INFINITY]), None);
    }

    #[test]
    fn wilcoxon_exact_distribution_is_a_distribution() {
        // Doubled ranks 2, 4, ..., 2n; an observation at the extreme has
        // p = 2 / 2^n, at the centre p = 1.
        for n in 1..=20usize {
            let doubled: Vec<usize> = (1..=n).map(|r| 2 * r).collect();
            let p = sign_flip_p_value(&doubled, 0);
            assert_close(p, (2.0 * 0.5f64.powi(n as i32)).min(1.0), 0.0, "extreme");
            let centre = n * (n + 1) / 2; // doubled mean rank sum
            assert_eq!(sign_flip_p_value(&doubled, centre), 1.0);
        }
    }

    #[test]
    fn mann_whitney_matches_scipy() {
        for c in MWU_CASES {
            let r = mann_whitney_u(c.x, c.y).unwrap();
            assert_eq!(r.method, c.method, "{}", c.name);
            assert_eq!((r.n_x, r.n_y), (c.x.len(), c.y.len()), "{}", c.name);
            assert_eq!(r.u_x, c.u_x, "{}", c.name);
            assert_close(r.p_value, c.p_value, p_tol(r.method), c.name);
        }
    }

    #[test]
    fn mann_whitney_is_symmetric_in_the_samples() {
        for c in MWU_CASES {
            let a = mann_whitney_u(c.x, c.y).unwrap();
            let b = mann_whitney_u(c.y, c.x).unwrap();
            assert_eq!(a.u_x + b.u_x, (c.x.len() * c.y.len()) as f64, "{}", c.name);
            assert_eq!(a.p_value, b.p_value, "{}", c.name);
            assert_eq!(a.method, b.method, "{}", c.name);
        }
    }

    #[test]
    fn mann_whitney_rejects_empty_and_non_finite_input() {
        assert_eq!(mann_whitney_u(&[], &[1.0]), None);
        assert_eq!(mann_whitney_u(&[1.0], &[]), None);
        assert_eq!(mann_whitney_u(&[1.0, f64::NAN], &[2.0]), None);
        assert_eq!(mann_whitney_u(&[1.0], &[f64::INFINITY]), None);
    }

    #[test]
    fn mann_whitney_exact_integer_and_float_paths_agree() {
        // Sizes where C(m+n, m) still fits i128 so both paths run; also the
        // full CDF must reach 1 and be symmetric.
        for &(m, n) in &[(1usize, 1usize), (3, 4), (8, 8), (5, 40), (8, 300)] {
            let top = m * n;
            for k in [0, 1, top / 3, top / 2, top] {
                let exact = mann_whitney_exact_cdf_i128(m, n, k).unwrap();
                let float = mann_whitney_exact_cdf_f64(m, n, k);
                assert_close(float, exact, 1e-12, "f64 vs i128");
            }
            assert_close(mann_whitney_exact_cdf(m, n, top), 1.0, 1e-15, "total");
            // P(U <= k) + P(U <= mn - k - 1) = 1 by symmetry.
            let k = top / 3;
            let s = mann_whitney_exact_cdf(m, n, k) + mann_whitney_exact_cdf(m, n, top - k - 1);
            assert_close(s, 1.0, 1e-14, "symmetry");
        }
        // Too large for i128: the f64 path takes over.
        assert!(mann_whitney_exact_cdf_i128(8, 1_000_000, 10).is_none());
        let p = mann_whitney_exact_cdf(8, 1_000_000, 10);
        assert!(p > 0.0 && p < 1e-30, "{p}");
    }

    #[test]
    fn hodges_lehmann_matches_numpy() {
        assert_eq!(
            HL_PAIRED.len(),
            WILCOXON_CASES.iter().filter(|c| !c.correction).count()
        );
        for (c, &expected) in WILCOXON_CASES.iter().zip(HL_PAIRED) {
            let got = hodges_lehmann_paired(c.diffs).unwrap();
            assert_close(got, expected, 1e-15, c.name);
        }
        for c in MWU_CASES {
            let got = hodges_lehmann_two_sample(c.x, c.y).unwrap();
            assert_close(got, c.hl_two_sample, 1e-15, c.name);
        }
        assert_eq!(hodges_lehmann_paired(&[]), None);
        assert_eq!(hodges_lehmann_paired(&[1.0, f64::NAN]), None);
        assert_eq!(hodges_lehmann_two_sample(&[1.0], &[]), None);
        assert_eq!(hodges_lehmann_two_sample(&[1.0], &[f64::INFINITY]), None);
        assert_eq!(hodges_lehmann_paired(&[3.0]), Some(3.0));
        assert_eq!(hodges_lehmann_two_sample(&[3.0], &[1.0]), Some(2.0));
    }

    #[test]
    fn cliffs_delta_matches_numpy() {
        for c in MWU_CASES {
            let got = cliffs_delta(c.x, c.y).unwrap();
            assert_close(got, c.cliffs_delta, 1e-15, c.name);
            // Cliff's delta is the rescaled U statistic.
            let u = mann_whitney_u(c.x, c.y).unwrap().u_x;
            let n = (c.x.len() * c.y.len()) as f64;
            assert_close(got, 2.0 * u / n - 1.0, 1e-12, c.name);
        }
        assert_eq!(cliffs_delta(&[], &[1.0]), None);
        assert_eq!(cliffs_delta(&[f64::NAN], &[1.0]), None);
    }

    #[test]
    fn cliffs_magnitude_thresholds() {
        let cases = [
            (0.0, "negligible"),
            (0.1469, "negligible"),
            (-0.147, "small"),
            (0.3299, "small"),
            (0.33, "medium"),
            (-0.4739, "medium"),
            (0.474, "large"),
            (-1.0, "large"),
            (f64::NAN, "undefined"),
        ];
        for (d, expected) in cases {
            assert_eq!(cliffs_magnitude(d), expected, "{d}");
        }
    }

    #[test]
    fn holm_matches_statsmodels() {
        for (name, p, expected) in HOLM_CASES {
            let got = holm(p);
            assert_eq!(got.len(), expected.len(), "{name}");
            for (g, e) in got.iter().zip(expected.iter()) {
                assert_close(*g, *e, 1e-15, name);
            }
        }
        assert!(holm(&[]).is_empty());
        assert!(holm(&[f64::NAN, f64::NAN]).iter().all(|v| v.is_nan()));
        // Invalid probabilities are "no test" as well: m = 2 here.
        let got = holm(&[0.01, 1.5, -0.1, f64::INFINITY, 0.02]);
        assert_eq!(got[0], 0.02);
        assert_eq!(got[4], 0.02);
        assert!(got[1].is_nan() && got[2].is_nan() && got[3].is_nan());
    }

    #[test]
    fn quantile_matches_numpy() {
        for &(q, expected) in QUANTILE_CASES {
            assert_eq!(quantile(QUANTILE_DATA, q), expected, "q = {q}");
        }
        for &(data, q, expected) in QUANTILE_SMALL {
            assert_eq!(quantile(data, q), expected, "q = {q}");
        }
        assert!(quantile(&[], 0.5).is_nan());
        assert!(quantile(&[1.0, 2.0], 1.5).is_nan());
        assert!(quantile(&[1.0, 2.0], -0.1).is_nan());
        assert!(quantile(&[1.0, 2.0], f64::NAN).is_nan());
    }

    #[test]
    fn descriptive_helpers_match_numpy() {
        assert_close(mean(DESC_DATA).unwrap(), DESC_MEAN, 1e-15, "mean");
        assert_eq!(median(DESC_DATA).unwrap(), DESC_MEDIAN);
        assert_eq!(median(&DESC_DATA[..24]).unwrap(), DESC_MEDIAN_EVEN);
        assert_close(std_dev(DESC_DATA).unwrap(), DESC_STD, 1e-14, "std");
        assert_eq!(mean(&[]), None);
        assert_eq!(median(&[]), None);
        assert_eq!(std_dev(&[1.0]), None);
        assert_eq!(mean(&[1.0, f64::NAN]), None);
        assert_eq!(median(&[f64::INFINITY]), None);
        assert_eq!(std_dev(&[1.0, f64::NAN, 2.0]), None);
        assert_eq!(std_dev(&[2.0, 2.0, 2.0]), Some(0.0));
    }

    /// The accuracy the normal-approximation p-values rest on: `statrs`'
    /// erfc against mpmath, over the whole range down to its underflow.
    const ERFC_REL_TOL: f64 = 2e-10;

    #[test]
    fn statrs_erfc_matches_mpmath() {
        use statrs::function::erf::erfc;
        for &(x, expected) in ERFC_CASES {
            assert_close(erfc(x), expected, ERFC_REL_TOL, &format!("erfc({x})"));
        }
        assert!(erfc(f64::NAN).is_nan());
        assert_eq!(erfc(f64::INFINITY), 0.0);
        assert_eq!(erfc(f64::NEG_INFINITY), 2.0);
        assert!(erfc(30.0) < 1e-300);
    }

    #[test]
    fn normal_cdf_matches_mpmath() {
        for &(x, expected) in NCDF_CASES {
            assert_close(normal_cdf(x), expected, ERFC_REL_TOL, &format!("ncdf({x})"));
            assert_close(
                normal_sf(-x),
                expected,
                ERFC_REL_TOL,
                &format!("sf({})", -x),
            );
        }
        assert!(normal_cdf(f64::NAN).is_nan());
        assert_eq!(normal_cdf(f64::INFINITY), 1.0);
        assert_eq!(normal_cdf(f64::NEG_INFINITY), 0.0);
    }

    /// The large-n sign test (`statrs`' incomplete beta) against the exact
    /// binomial tail, computed here in arbitrary precision from integer
    /// binomial coefficients: 2·Σ_{i ≤ j} C(n, i) / 2^n.
    #[test]
    fn sign_test_beyond_the_exact_branch_matches_the_binomial_tail() {
        fn exact_tail(j: usize, n: usize) -> f64 {
            // Σ C(n, i) / 2^n by ratios to C(n, j), summed from the small end
            // in f64 (terms fall off geometrically, so this is accurate to a
            // few ulps), times C(n, j)/2^n from its logarithm in Kahan sums.
            let mut ratio = 1.0;
            let mut sum = 1.0;
            for i in (1..=j).rev() {
                ratio *= i as f64 / (n - i + 1) as f64;
                sum += ratio;
            }
            let ln_c: f64 = (1..=j).map(|i| ((n - j + i) as f64 / i as f64).ln()).sum();
            (2.0 * sum * (ln_c - n as f64 * std::f64::consts::LN_2).exp()).min(1.0)
        }
        for n in [121usize, 500, 2000, 10_000] {
            for j in [0, 1, n / 10, n / 3, n / 2 - 1] {
                let got = sign_test_p_value(j, n);
                let want = exact_tail(j, n);
                assert!(
                    got == want || ((got - want) / want).abs() < 2e-10,
                    "n {n} j {j}: {got:e} vs {want:e}"
                );
                assert_eq!(sign_test_p_value(n - j, n), got, "symmetry n {n} j {j}");
            }
        }
    }

    #[test]
    fn results_serialize() {
        fn is_serialize<T: Serialize>(_: &T) {}
        is_serialize(&wilcoxon_signed_rank(&[1.0, 2.0]).unwrap());
        is_serialize(&mann_whitney_u(&[1.0], &[2.0]).unwrap());
    }

    // ======== GENERATED by the script below (begin) ========
    // ---- Wilcoxon signed-rank: scipy.stats.wilcoxon(d) (defaults: zero_method='wilcox',
    // ---- correction=False, method='auto', alternative='two-sided'); cases with
    // ---- `correction: true` are scipy.stats.wilcoxon(d, correction=True).
    const WILCOXON_CASES: &[WilcoxonCase] = &[
        WilcoxonCase {
            name: "exact_n15_darwin",
            correction: false,
            diffs: &[
                6.0, 8.0, 14.0, 16.0, 23.0, 24.0, 28.0, 29.0, 41.0, -48.0, 49.0, 56.0, 60.0, -67.0,
                75.0,
            ],
            n_nonzero: 15,
            w_plus: 96.0,
            w_minus: 24.0,
            statistic: 24.0,
            p_value: 0.041259765625,
            method: "exact",
        },
        WilcoxonCase {
            name: "exact_all_positive_n8",
            correction: false,
            diffs: &[0.3, 1.1, 2.5, 0.7, 1.9, 0.2, 3.3, 0.9],
            n_nonzero: 8,
            w_plus: 36.0,
            w_minus: 0.0,
            statistic: 0.0,
            p_value: 0.0078125,
            method: "exact",
        },
        WilcoxonCase {
            name: "exact_all_negative_n12",
            correction: false,
            diffs: &[
                -0.85, -1.6, -2.35, -3.1, -3.85, -4.6, -5.35, -6.1, -6.85, -7.6, -8.35, -9.1,
            ],
            n_nonzero: 12,
            w_plus: 0.0,
            w_minus: 78.0,
            statistic: 0.0,
            p_value: 0.00048828125,
            method: "exact",
        },
        WilcoxonCase {
            name: "exact_n1",
            correction: false,
            diffs: &[2.5],
            n_nonzero: 1,
            w_plus: 1.0,
            w_minus: 0.0,
            statistic: 0.0,
            p_value: 1.0,
            method: "exact",
        },
        WilcoxonCase {
            name: "exact_n2",
            correction: false,
            diffs: &[1.0, -3.0],
            n_nonzero: 2,
            w_plus: 1.0,
            w_minus: 2.0,
            statistic: 1.0,
            p_value: 1.0,
            method: "exact",
        },
        WilcoxonCase {
            name: "exact_n3",
            correction: false,
            diffs: &[0.5, 1.5, 2.5],
            n_nonzero: 3,
            w_plus: 6.0,
            w_minus: 0.0,
            statistic: 0.0,
            p_value: 0.25,
            method: "exact",
        },
        WilcoxonCase {
            name: "exact_n50_boundary",
            correction: false,
            diffs: &[
                -1.321024, -0.304189, 0.19603, 0.164442, 1.075566, 0.984274, 0.532831, 1.113433,
                1.139726, -0.909162, 2.385262, 0.151073, -0.405942, 0.800149, -0.288577, 0.827157,
                -1.001399, 0.925358, -1.063874, 0.575733, -0.013225, -0.301483, 0.353073,
                -0.375308, -0.571943, 0.594906, 2.131207, -0.797757, 1.355167, 1.281558, -0.92008,
                0.390235, 0.724039, -0.710856, 1.279218, 1.07791, 1.898438, 0.589834, 1.14603,
                2.012117, 0.402991, -0.300223, -1.250914, 0.486455, -1.067217, 1.297693, 0.347165,
                1.011057, 0.362714, 1.438331,
            ],
            n_nonzero: 50,
            w_plus: 920.0,
            w_minus: 355.0,
            statistic: 355.0,
            p_value: 0.005758302166270823,
            method: "exact",
        },
        WilcoxonCase {
            name: "normal_n51_boundary",
            correction: false,
            diffs: &[
                -1.321024, -0.304189, 0.19603, 0.164442, 1.075566, 0.984274, 0.532831, 1.113433,
                1.139726, -0.909162, 2.385262, 0.151073, -0.405942, 0.800149, -0.288577, 0.827157,
                -1.001399, 0.925358, -1.063874, 0.575733, -0.013225, -0.301483, 0.353073,
                -0.375308, -0.571943, 0.594906, 2.131207, -0.797757, 1.355167, 1.281558, -0.92008,
                0.390235, 0.724039, -0.710856, 1.279218, 1.07791, 1.898438, 0.589834, 1.14603,
                2.012117, 0.402991, -0.300223, -1.250914, 0.486455, -1.067217, 1.297693, 0.347165,
                1.011057, 0.362714, 1.438331, -0.256355,
            ],
            n_nonzero: 51,
            w_plus: 950.0,
            w_minus: 376.0,
            statistic: 376.0,
            p_value: 0.007141242010136917,
            method: "normal",
        },
        WilcoxonCase {
            name: "normal_n60_no_ties",
            correction: false,
            diffs: &[
                0.088811, -0.217733, 0.449596, -1.489897, 0.584452, -0.021696, -0.42605, 0.398537,
                -1.651474, 0.141587, -0.431285, 0.709695, 0.742442, -0.627863, -0.633168,
                -1.170037, -0.487689, 0.619414, 1.15727, 0.5288, 0.334799, -0.567447, 0.49577,
                -0.51569, 0.539629, 0.097407, 1.156018, 0.50247, 1.668825, -0.108214, 1.055945,
                0.525161, 1.996556, -1.662054, 1.174258, -0.723652, -0.568647, 0.281637, -1.210559,
                -0.894581, -0.205542, -0.022484, -1.603679, -0.573631, 0.154086, 0.168072,
                -0.362308, 0.295911, -0.213374, 1.473499, -0.509135, 0.359104, -0.189595, 1.154562,
                -0.671549, 1.176603, -0.895302, -1.066997, -0.24847, 0.392127,
            ],
            n_nonzero: 60,
            w_plus: 911.0,
            w_minus: 919.0,
            statistic: 911.0,
            p_value: 0.9765085574084649,
            method: "normal",
        },
        WilcoxonCase {
            name: "normal_n60_all_positive",
            correction: false,
            diffs: &[
                0.098811, 0.227733, 0.459596, 1.499897, 0.594452, 0.031696, 0.43605, 0.408537,
                1.661474, 0.151587, 0.441285, 0.719695, 0.752442, 0.637863, 0.643168, 1.180037,
                0.497689, 0.629414, 1.16727, 0.5388, 0.344799, 0.577447, 0.50577, 0.52569,
                0.549629, 0.107407, 1.166018, 0.51247, 1.678825, 0.118214, 1.065945, 0.535161,
                2.006556, 1.672054, 1.184258, 0.733652, 0.578647, 0.291637, 1.220559, 0.904581,
                0.215542, 0.032484, 1.613679, 0.583631, 0.164086, 0.178072, 0.372308, 0.305911,
                0.223374, 1.483499, 0.519135, 0.369104, 0.199595, 1.164562, 0.681549, 1.186603,
                0.905302, 1.076997, 0.25847, 0.402127,
            ],
            n_nonzero: 60,
            w_plus: 1830.0,
            w_minus: 0.0,
            statistic: 0.0,
            p_value: 1.6295557943119345e-11,
            method: "normal",
        },
        WilcoxonCase {
            name: "permutation_ties_n10",
            correction: false,
            diffs: &[1.0, -2.0, 2.0, 3.0, 3.0, 3.0, -4.0, 5.0, 6.0, 6.0],
            n_nonzero: 10,
            w_plus: 45.5,
            w_minus: 9.5,
            statistic: 9.5,
            p_value: 0.06640625,
            method: "permutation",
        },
        WilcoxonCase {
            name: "permutation_zeros_n8",
            correction: false,
            diffs: &[0.0, 1.2, -0.4, 2.2, 0.0, 3.1, 1.7, -0.9],
            n_nonzero: 6,
            w_plus: 18.0,
            w_minus: 3.0,
            statistic: 3.0,
            p_value: 0.15625,
            method: "permutation",
        },
        WilcoxonCase {
            name: "permutation_ties_n13_boundary",
            correction: false,
            diffs: &[
                0.5, -0.5, 1.0, 1.5, 1.5, -2.0, 2.5, 3.0, 3.0, 3.5, 4.0, -4.5, 5.0,
            ],
            n_nonzero: 13,
            w_plus: 71.5,
            w_minus: 19.5,
            statistic: 19.5,
            p_value: 0.070068359375,
            method: "permutation",
        },
        WilcoxonCase {
            name: "normal_ties_n14_boundary",
            correction: false,
            diffs: &[
                0.5, -0.5, 1.0, 1.5, 1.5, -2.0, 2.5, 3.0, 3.0, 3.5, 4.0, -4.5, 5.0, 5.5,
            ],
            n_nonzero: 14,
            w_plus: 85.5,
            w_minus: 19.5,
            statistic: 19.5,
            p_value: 0.03815772996248578,
            method: "normal",
        },
        WilcoxonCase {
            name: "normal_ties_n20",
            correction: false,
            diffs: &[
                0.5, 1.8, -0.9, 0.6, 1.4, -0.7, -0.3, -0.8, 1.6, 0.2, 0.1, -1.0, -0.7, 1.3, 0.2,
                -0.0, 1.2, -0.5, 2.0, 0.0,
            ],
            n_nonzero: 18,
            w_plus: 111.5,
            w_minus: 59.5,
            statistic: 59.5,
            p_value: 0.2573351613353031,
            method: "normal",
        },
        WilcoxonCase {
            name: "normal_zeros_n30",
            correction: false,
            diffs: &[
                0.0, 0.0, 0.0, -0.713043, -0.465165, -0.162658, 0.501169, -0.898836, -1.024027,
                -0.161843, 0.138946, 0.677255, -0.676753, 0.767012, -1.219893, 1.185778, -1.292072,
                -0.286264, -0.004706, 0.813168, 1.260168, -0.150769, 1.695644, -1.019525, 0.127086,
                -0.436901, 0.372427, -1.151858, -1.297837, 1.083161,
            ],
            n_nonzero: 27,
            w_plus: 161.0,
            w_minus: 217.0,
            statistic: 161.0,
            p_value: 0.5011381853247657,
            method: "normal",
        },
        WilcoxonCase {
            name: "normal_zeros_total_gt50_nonzero_le50",
            correction: false,
            diffs: &[
                0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.321024, -0.304189, 0.19603, 0.164442, 1.075566,
                0.984274, 0.532831, 1.113433, 1.139726, -0.909162, 2.385262, 0.151073, -0.405942,
                0.800149, -0.288577, 0.827157, -1.001399, 0.925358, -1.063874, 0.575733, -0.013225,
                -0.301483, 0.353073, -0.375308, -0.571943, 0.594906, 2.131207, -0.797757, 1.355167,
                1.281558, -0.92008, 0.390235, 0.724039, -0.710856, 1.279218, 1.07791, 1.898438,
                0.589834, 1.14603, 2.012117, 0.402991, -0.300223, -1.250914, 0.486455, -1.067217,
                1.297693, 0.347165, 1.011057,
            ],
            n_nonzero: 48,
            w_plus: 833.0,
            w_minus: 343.0,
            statistic: 343.0,
            p_value: 0.011975903676808506,
            method: "normal",
        },
        WilcoxonCase {
            name: "normal_ties_zeros_n80",
            correction: false,
            diffs: &[
                1.2, 0.7, -0.6, 0.7, 0.5, 1.3, 0.3, -1.5, -0.1, 0.1, 0.9, -0.1, -1.0, 1.3, 0.5,
                -1.0, -0.6, 1.0, -1.2, 1.1, 0.1, -0.1, 1.0, -0.3, 0.2, 1.7, -0.7, 1.9, -1.6, -0.8,
                1.0, -0.6, -0.2, 0.9, 1.1, 0.6, -0.4, 0.7, 0.3, 1.3, 0.5, -0.7, -0.0, -1.5, 0.7,
                0.5, 0.1, -1.2, -0.3, 0.8, -0.1, 0.2, 1.2, 0.7, -1.5, 0.5, -0.8, -2.1, 1.3, -1.4,
                -0.2, 1.3, 0.8, 0.0, -0.8, 0.4, 0.0, 0.9, 0.5, 0.8, -1.4, -0.8, 0.3, 0.5, -0.5,
                -0.6, 0.1, 0.2, 2.1, -0.3,
            ],
            n_nonzero: 77,
            w_plus: 1755.0,
            w_minus: 1248.0,
            statistic: 1248.0,
            p_value: 0.19774471299622498,
            method: "normal",
        },
        WilcoxonCase {
            name: "permutation_all_tied_n4",
            correction: false,
            diffs: &[1.0, 1.0, -1.0, 1.0],
            n_nonzero: 4,
            w_plus: 7.5,
            w_minus: 2.5,
            statistic: 2.5,
            p_value: 0.625,
            method: "permutation",
        },
        WilcoxonCase {
            name: "exact_n15_darwin_correction",
            correction: true,
            diffs: &[
                6.0, 8.0, 14.0, 16.0, 23.0, 24.0, 28.0, 29.0, 41.0, -48.0, 49.0, 56.0, 60.0, -67.0,
                75.0,
            ],
            n_nonzero: 15,
            w_plus: 96.0,
            w_minus: 24.0,
            statistic: 24.0,
            p_value: 0.041259765625,
            method: "exact",
        },
        WilcoxonCase {
            name: "normal_n60_no_ties_correction",
            correction: true,
            diffs: &[
                0.088811, -0.217733, 0.449596, -1.489897, 0.584452, -0.021696, -0.42605, 0.398537,
                -1.651474, 0.141587, -0.431285, 0.709695, 0.742442, -0.627863, -0.633168,
                -1.170037, -0.487689, 0.619414, 1.15727, 0.5288, 0.334799, -0.567447, 0.49577,
                -0.51569, 0.539629, 0.097407, 1.156018, 0.50247, 1.668825, -0.108214, 1.055945,
                0.525161, 1.996556, -1.662054, 1.174258, -0.723652, -0.568647, 0.281637, -1.210559,
                -0.894581, -0.205542, -0.022484, -1.603679, -0.573631, 0.154086, 0.168072,
                -0.362308, 0.295911, -0.213374, 1.473499, -0.509135, 0.359104, -0.189595, 1.154562,
                -0.671549, 1.176603, -0.895302, -1.066997, -0.24847, 0.392127,
            ],
            n_nonzero: 60,
            w_plus: 911.0,
            w_minus: 919.0,
            statistic: 911.0,
            p_value: 0.9794442915780084,
            method: "normal",
        },
        WilcoxonCase {
            name: "normal_n60_all_positive_correction",
            correction: true,
            diffs: &[
                0.098811, 0.227733, 0.459596, 1.499897, 0.594452, 0.031696, 0.43605, 0.408537,
                1.661474, 0.151587, 0.441285, 0.719695, 0.752442, 0.637863, 0.643168, 1.180037,
                0.497689, 0.629414, 1.16727, 0.5388, 0.344799, 0.577447, 0.50577, 0.52569,
                0.549629, 0.107407, 1.166018, 0.51247, 1.678825, 0.118214, 1.065945, 0.535161,
                2.006556, 1.672054, 1.184258, 0.733652, 0.578647, 0.291637, 1.220559, 0.904581,
                0.215542, 0.032484, 1.613679, 0.583631, 0.164086, 0.178072, 0.372308, 0.305911,
                0.223374, 1.483499, 0.519135, 0.369104, 0.199595, 1.164562, 0.681549, 1.186603,
                0.905302, 1.076997, 0.25847, 0.402127,
            ],
            n_nonzero: 60,
            w_plus: 1830.0,
            w_minus: 0.0,
            statistic: 0.0,
            p_value: 1.671328569652654e-11,
            method: "normal",
        },
        WilcoxonCase {
            name: "normal_ties_n20_correction",
            correction: true,
            diffs: &[
                0.5, 1.8, -0.9, 0.6, 1.4, -0.7, -0.3, -0.8, 1.6, 0.2, 0.1, -1.0, -0.7, 1.3, 0.2,
                -0.0, 1.2, -0.5, 2.0, 0.0,
            ],
            n_nonzero: 18,
            w_plus: 111.5,
            w_minus: 59.5,
            statistic: 59.5,
            p_value: 0.2665988228712135,
            method: "normal",
        },
    ];

    // ---- Mann-Whitney U: scipy.stats.mannwhitneyu(x, y) (defaults: use_continuity=True,
    // ---- alternative='two-sided', method='auto'); u_x is the returned statistic.
    const MWU_CASES: &[MwuCase] = &[
        MwuCase {
            name: "exact_5_7",
            x: &[1.1, 2.3, 0.4, 3.8, 2.9],
            y: &[0.2, 1.7, 0.9, 1.5, 0.1, 2.0, 0.6],
            u_x: 27.0,
            p_value: 0.148989898989899,
            method: "exact",
            cliffs_delta: 0.5428571428571428,
            hl_two_sample: 1.0,
        },
        MwuCase {
            name: "exact_8_20_boundary",
            x: &[
                1.037464, -1.212829, 0.3996, 0.178758, -0.788442, -0.470611, -0.145344, -0.28195,
            ],
            y: &[
                -1.897873, -0.32371, -0.098926, -0.306152, 0.814339, -0.171036, 0.099283,
                -0.035902, 0.116886, -1.059699, -0.287042, 1.79206, 0.326368, -0.163892, -0.450059,
                0.37837, 0.005672, 0.216306, 0.875159, 0.144388,
            ],
            u_x: 69.0,
            p_value: 0.6005099570316963,
            method: "exact",
            cliffs_delta: -0.1375,
            hl_two_sample: -0.1737415,
        },
        MwuCase {
            name: "normal_9_9_boundary",
            x: &[
                0.409877, -0.113738, -0.825872, 0.926741, 0.858125, -0.159844, -0.058617,
                -0.593405, -0.48942,
            ],
            y: &[
                -0.347979, -0.06012, 0.873217, 0.56133, -0.545781, 0.809753, -1.948636, -0.392987,
                0.482686,
            ],
            u_x: 39.0,
            p_value: 0.9296365245070707,
            method: "normal",
            cliffs_delta: -0.037037037037037035,
            hl_two_sample: -0.047624,
        },
        MwuCase {
            name: "normal_ties_small",
            x: &[1.0, 2.0, 2.0, 3.0],
            y: &[2.0, 3.0, 4.0, 4.0, 5.0],
            u_x: 2.5,
            p_value: 0.07854585095119067,
            method: "normal",
            cliffs_delta: -0.75,
            hl_two_sample: -2.0,
        },
        MwuCase {
            name: "normal_all_equal",
            x: &[1.0, 1.0, 1.0],
            y: &[1.0, 1.0],
            u_x: 3.0,
            p_value: 1.0,
            method: "normal",
            cliffs_delta: 0.0,
            hl_two_sample: 0.0,
        },
        MwuCase {
            name: "exact_separated_6_5",
            x: &[10.0, 11.0, 12.0, 13.0, 14.0, 15.0],
            y: &[1.0, 2.0, 3.0, 4.0, 5.0],
            u_x: 30.0,
            p_value: 0.004329004329004329,
            method: "exact",
            cliffs_delta: 1.0,
            hl_two_sample: 9.5,
        },
        MwuCase {
            name: "exact_1_1",
            x: &[1.0],
            y: &[2.0],
            u_x: 0.0,
            p_value: 1.0,
            method: "exact",
            cliffs_delta: -1.0,
            hl_two_sample: -1.0,
        },
        MwuCase {
            name: "exact_1_3",
            x: &[2.5],
            y: &[1.0, 2.0, 3.0],
            u_x: 2.0,
            p_value: 1.0,
            method: "exact",
            cliffs_delta: 0.3333333333333333,
            hl_two_sample: 0.5,
        },
        MwuCase {
            name: "exact_2_2",
            x: &[3.0, 4.0],
            y: &[1.0, 2.0],
            u_x: 4.0,
            p_value: 0.3333333333333333,
            method: "exact",
            cliffs_delta: 1.0,
            hl_two_sample: 2.0,
        },
        MwuCase {
            name: "normal_separated_30_30",
            x: &[
                16.474121, 13.355477, 13.792094, 14.500859, 13.428674, 14.952548, 15.25963,
                14.73097, 14.116214, 16.875184, 16.575058, 15.304668, 16.466477, 14.206873,
                13.670021, 15.252625, 16.803245, 14.77159, 15.753965, 16.25877, 15.044465,
                15.841013, 14.339194, 16.290076, 15.421093, 15.067503, 14.370243, 12.144479,
                15.318864, 15.002958,
            ],
            y: &[
                4.883847, 4.602745, 6.884582, 4.913272, 4.918361, 4.996562, 3.927922, 4.46358,
                4.65574, 5.316764, 5.598286, 4.244696, 6.056818, 2.609912, 6.51391, 5.658266,
                5.826274, 5.139279, 5.413582, 5.331261, 4.652718, 4.091276, 5.418662, 5.26963,
                4.327428, 5.058685, 4.273358, 7.394722, 5.547017, 5.645809,
            ],
            u_x: 900.0,
            p_value: 3.019859359162157e-11,
            method: "normal",
            cliffs_delta: 1.0,
            hl_two_sample: 9.934688,
        },
        MwuCase {
            name: "normal_ties_40_35",
            x: &[
                1.2, -3.2, 0.3, 1.4, -0.8, 0.7, 0.9, -0.9, 3.4, 0.4, 0.3, 0.4, 1.6, 2.9, -0.1,
                -1.5, 1.0, 0.6, 1.7, -1.1, 0.0, 0.3, 0.1, -0.1, -0.2, 2.0, -0.0, 1.5, 0.2, 1.0,
                1.5, 0.8, -1.8, -0.8, -0.4, 0.9, -0.5, -0.7, 1.6, 2.4,
            ],
            y: &[
                -1.0, -0.3, 0.1, -1.2, -0.5, -1.7, 0.4, -0.3, -1.4, -2.3, 1.2, -0.0, -2.3, 0.0,
                2.1, -0.1, 1.2, -1.4, 1.1, -1.4, 0.6, -0.4, 0.3, 0.7, -0.8, -1.4, 1.8, 0.7, 0.6,
                0.1, 2.2, 0.8, -2.0, -0.1, 0.1,
            ],
            u_x: 879.5,
            p_value: 0.05716744167816008,
            method: "normal",
            cliffs_delta: 0.25642857142857145,
            hl_two_sample: 0.5999999999999999,
        },
        MwuCase {
            name: "normal_60_55",
            x: &[
                -2.337341, -1.37824, 1.014337, -0.350618, 1.325552, -0.488666, -1.367575, 2.847105,
                0.7776, -0.207279, 1.259579, 0.002068, -0.772205, 0.810286, 0.368271, -0.647772,
                0.228675, -0.539661, 1.946305, 0.764146, -0.028659, -0.696907, -0.90826, 1.689799,
                -0.05217, 1.151533, 0.984068, 2.19178, 0.217155, -0.072993, -0.059407, -0.370479,
                0.750806, 0.88092, 1.071936, -3.305385, -0.622218, -0.475429, -0.701544, 1.280528,
                -0.426971, -0.758141, 0.413927, -0.384093, 0.106131, -0.620447, -0.76968, 0.756471,
                0.07766, -0.55417, -0.036218, 0.247902, -1.266716, 0.363388, 0.65998, -0.518523,
                0.342738, -1.883966, -0.443227, 0.733863,
            ],
            y: &[
                -0.343046, 1.020916, 0.115067, 0.163129, -1.984321, -1.486958, -0.336396,
                -0.113204, 1.036622, -0.019572, 1.058338, -1.236588, 1.959669, -0.563081,
                -0.966777, -1.158187, -1.596523, 0.323027, -0.644061, -1.129518, -0.432522,
                -0.712724, 1.365666, -0.399606, 0.186262, -0.446354, 1.423266, -0.540458,
                -0.389683, -1.282432, 0.270307, 0.162972, 1.375252, 1.356472, 2.304748, 0.493139,
                0.525332, -0.259965, 0.324325, -0.775316, -0.200146, -0.015089, 0.679834, 0.923631,
                -1.130462, -0.916653, -0.29124, -0.411027, -0.403743, -1.506159, -0.073903,
                -0.542074, 0.200733, 0.143639, -0.965528,
            ],
            u_x: 1814.0,
            p_value: 0.35996894969805604,
            method: "normal",
            cliffs_delta: 0.0993939393939394,
            hl_two_sample: 0.18468800000000002,
        },
    ];

    // ---- Paired HL: numpy.median([(d[i] + d[j]) / 2 for i in range(n) for j in range(i, n)])
    // ---- on the Wilcoxon inputs above, in the same order.
    const HL_PAIRED: &[f64] = &[
        25.0,                  // exact_n15_darwin
        1.325,                 // exact_all_positive_n8
        -4.975,                // exact_all_negative_n12
        2.5,                   // exact_n1
        -1.0,                  // exact_n2
        1.5,                   // exact_n3
        0.392932,              // exact_n50_boundary
        0.38253075000000003,   // normal_n51_boundary
        -0.005464750000000018, // normal_n60_no_ties
        0.6320505000000001,    // normal_n60_all_positive
        2.5,                   // permutation_ties_n10
        0.85,                  // permutation_zeros_n8
        1.75,                  // permutation_ties_n13_boundary
        2.0,                   // normal_ties_n14_boundary
        0.29999999999999993,   // normal_ties_n20
        -0.081329,             // normal_zeros_n30
        0.31787450000000006,   // normal_zeros_total_gt50_nonzero_le50
        0.15000000000000002,   // normal_ties_zeros_n80
        1.0,                   // permutation_all_tied_n4
    ];

    // ---- Holm: statsmodels.stats.multitest.multipletests(p[~isnan(p)], method='holm')[1],
    // ---- re-inserted at the non-NaN positions (statsmodels does not accept NaN itself).
    const HOLM_CASES: &[(&str, &[f64], &[f64])] = &[
        (
            "mixed_with_nan",
            &[0.01, 0.04, f64::NAN, 0.03, 0.005, 0.5, f64::NAN, 0.04],
            &[0.05, 0.12, f64::NAN, 0.12, 0.03, 0.5, f64::NAN, 0.12],
        ),
        ("caps_at_one", &[0.3, 0.6, 0.45, 0.9], &[1.0, 1.0, 1.0, 1.0]),
        ("single", &[0.02], &[0.02]),
        (
            "tied_and_zero",
            &[0.0, 0.02, 0.02, 0.02, 1.0],
            &[0.0, 0.08, 0.08, 0.08, 1.0],
        ),
        (
            "twelve",
            &[
                0.015493, 0.01672, 0.001407, 0.016456, 0.010851, 0.017806, 0.017547, 0.018096,
                0.019556, 0.015047, 0.014724, 0.017789,
            ],
            &[
                0.14723999999999998,
                0.14723999999999998,
                0.016884,
                0.14723999999999998,
                0.119361,
                0.14723999999999998,
                0.14723999999999998,
                0.14723999999999998,
                0.14723999999999998,
                0.14723999999999998,
                0.14723999999999998,
                0.14723999999999998,
            ],
        ),
    ];

    // ---- numpy.quantile(sorted_data, q) (default method='linear')
    const QUANTILE_DATA: &[f64] = &[
        4.808672, 5.651517, 7.841772, 8.262091, 8.642727, 9.332302, 12.118177, 14.267514,
        14.573807, 15.089818, 15.693153,
    ];
    const QUANTILE_CASES: &[(f64, f64)] = &[
        (0.0, 4.808672),
        (0.025, 5.01938325),
        (0.1, 5.651517),
        (0.25, 8.0519315),
        (0.5, 9.332302),
        (0.55, 10.7252395),
        (0.75, 14.4206605),
        (0.975, 15.54231925),
        (1.0, 15.693153),
    ];
    // numpy.quantile([4.0, 1.0][sorted], 0.3); numpy.quantile([7.5], 0.9)
    const QUANTILE_SMALL: &[(&[f64], f64, f64)] = &[(&[1.0, 4.0], 0.3, 1.9), (&[7.5], 0.9, 7.5)];
    // ---- numpy.mean(v), numpy.median(v), numpy.std(v, ddof=1); also on v[:24] (even n)
    const DESC_DATA: &[f64] = &[
        7.513324, 7.576116, 2.624492, 1.216903, 3.129091, 4.913977, 1.652468, 4.034224, 3.199801,
        2.942732, 5.004222, 0.062569, 0.314118, 1.592606, 4.668308, 4.325221, 2.654349, 4.211907,
        0.451457, 1.832824, 4.33764, 6.001638, 1.97196, 3.004108, 1.11277,
    ];
    const DESC_MEAN: f64 = 3.2139529999999996;
    const DESC_MEDIAN: f64 = 3.004108;
    const DESC_STD: f64 = 2.05485598152186;
    const DESC_MEDIAN_EVEN: f64 = 3.0665994999999997;

    // ---- erfc: float(mpmath.erfc(x)) with mpmath.mp.dps = 50
    const ERFC_CASES: &[(f64, f64)] = &[
        (0.0, 1.0),
        (1e-10, 0.999999999887162),
        (0.001, 0.9988716212090307),
        (0.3, 0.6713732405408726),
        (0.5, 0.4795001221869535),
        (0.9, 0.20309178757716786),
        (1.0, 0.15729920705028513),
        (1.2499, 0.07712352681246806),
        (1.25, 0.07709987174354177),
        (1.7, 0.01620954140922544),
        (2.0, 0.004677734981047266),
        (2.5, 0.0004069520174449589),
        (3.5, 7.430983723414128e-07),
        (5.0, 1.537459794428035e-12),
        (8.0, 1.1224297172982926e-29),
        (12.0, 1.3562611692059042e-64),
        (20.0, 5.395865611607901e-176),
        (26.5, 2.2109076642637343e-307),
        (-0.7, 1.6778011938374184),
        (-2.2, 1.998137153702018),
        (-6.0, 2.0),
    ];
    // ---- normal CDF: float(mpmath.ncdf(x)) with mpmath.mp.dps = 50 (scipy.special.ndtr agrees
    // ---- with these to 5.7e-14 relative at worst)
    const NCDF_CASES: &[(f64, f64)] = &[
        (-30.0, 4.906713927148187e-198),
        (-20.0, 2.7536241186062337e-89),
        (-10.0, 7.619853024160525e-24),
        (-7.0, 1.279812543885835e-12),
        (-5.0, 2.866515718791939e-07),
        (-3.0, 0.0013498980316300946),
        (-1.96, 0.024997895148220435),
        (-1.0, 0.15865525393145705),
        (-0.5, 0.3085375387259869),
        (0.0, 0.5),
        (0.3, 0.6179114221889527),
        (1.0, 0.8413447460685429),
        (2.5, 0.9937903346742238),
        (6.0, 0.9999999990134123),
    ];
    // ======== GENERATED (end) ========

    // ---------------------------------------------------------------------
    // Generating script, verbatim (python3 gen_refs.py > refs.rs.txt):
    // ---------------------------------------------------------------------
    // # Generates the reference values for the tests in report/src/stats.rs.
    // # Run: python3 gen_refs.py > refs.rs.txt, then paste the output into the
    // # `mod tests` block of stats.rs (between the GENERATED markers) and run
    // # `cargo fmt`.
    // # Needs: numpy, scipy, statsmodels, mpmath (reference only, never a runtime dep).
    // import sys
    // import numpy as np
    // import scipy
    // import scipy.special
    // import scipy.stats as st
    // import statsmodels
    // from statsmodels.stats.multitest import multipletests
    // import mpmath
    //
    // mpmath.mp.dps = 50
    //
    //
    // def f(v):
    //     """Rust f64 literal that round-trips exactly."""
    //     v = float(v)
    //     if np.isnan(v):
    //         return "f64::NAN"
    //     if np.isinf(v):
    //         return "f64::INFINITY" if v > 0 else "f64::NEG_INFINITY"
    //     r = repr(v)
    //     if "e" not in r and "." not in r and "inf" not in r:
    //         r += ".0"
    //     return r
    //
    //
    // def arr(a):
    //     return "&[" + ", ".join(f(v) for v in a) + "]"
    //
    //
    // def out(s=""):
    //     sys.stdout.write(s + "\n")
    //
    //
    // rng = np.random.default_rng(20240611)
    // R = lambda a, k: [round(float(v), k) for v in a]
    //
    // # ---------------------------------------------------------------- Wilcoxon
    // darwin = [6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75]
    // n60 = R(rng.normal(0.3, 1.0, 60), 6)
    // n51 = R(rng.normal(0.2, 1.0, 51), 6)
    // wcases = [
    //     ("exact_n15_darwin", darwin),
    //     ("exact_all_positive_n8", [0.3, 1.1, 2.5, 0.7, 1.9, 0.2, 3.3, 0.9]),
    //     ("exact_all_negative_n12", R(-np.arange(1, 13) * 0.75 - 0.1, 6)),
    //     ("exact_n1", [2.5]),
    //     ("exact_n2", [1.0, -3.0]),
    //     ("exact_n3", [0.5, 1.5, 2.5]),
    //     ("exact_n50_boundary", n51[:50]),
    //     ("normal_n51_boundary", n51),
    //     ("normal_n60_no_ties", n60),
    //     ("normal_n60_all_positive", R(np.abs(n60) + 0.01, 6)),
    //     ("permutation_ties_n10", [1.0, -2.0, 2.0, 3.0, 3.0, 3.0, -4.0, 5.0, 6.0, 6.0]),
    //     ("permutation_zeros_n8", [0.0, 1.2, -0.4, 2.2, 0.0, 3.1, 1.7, -0.9]),
    //     ("permutation_ties_n13_boundary", [0.5, -0.5, 1.0, 1.5, 1.5, -2.0, 2.5, 3.0, 3.0, 3.5, 4.0, -4.5, 5.0]),
    //     ("normal_ties_n14_boundary", [0.5, -0.5, 1.0, 1.5, 1.5, -2.0, 2.5, 3.0, 3.0, 3.5, 4.0, -4.5, 5.0, 5.5]),
    //     ("normal_ties_n20", R(rng.normal(0.4, 1.0, 20), 1)),
    //     ("normal_zeros_n30", [0.0, 0.0, 0.0] + R(rng.normal(-0.2, 1.0, 27), 6)),
    //     ("normal_zeros_total_gt50_nonzero_le50", [0.0] * 6 + n51[:48]),
    //     ("normal_ties_zeros_n80", R(rng.normal(0.1, 1.0, 80), 1)),
    //     ("permutation_all_tied_n4", [1.0, 1.0, -1.0, 1.0]),
    // ]
    // out("// ---- Wilcoxon signed-rank: scipy.stats.wilcoxon(d) (defaults: zero_method='wilcox',")
    // out("// ---- correction=False, method='auto', alternative='two-sided'); cases with")
    // out("// ---- `correction: true` are scipy.stats.wilcoxon(d, correction=True).")
    // out("const WILCOXON_CASES: &[WilcoxonCase] = &[")
    // corr_names = ["normal_n60_no_ties", "normal_n60_all_positive", "normal_ties_n20", "exact_n15_darwin"]
    // wcases_all = [(n, d, False) for n, d in wcases] + [
    //     (n + "_correction", d, True) for n, d in wcases if n in corr_names]
    // for name, d, corr in wcases_all:
    //     d = [float(v) for v in d]
    //     a = np.asarray(d)
    //     res = st.wilcoxon(a, correction=corr)
    //     wp = st.wilcoxon(a, alternative="greater").statistic
    //     wm = st.wilcoxon(-a, alternative="greater").statistic
    //     nz = int(np.count_nonzero(a))
    //     absnz = np.abs(a[a != 0])
    //     ties = len(np.unique(absnz)) < len(absnz)
    //     zeros = nz < len(a)
    //     # scipy 1.17 `auto` rule (scipy/stats/_wilcoxon.py):
    //     if len(a) > 50:
    //         method = "normal"
    //     elif not (ties or zeros):
    //         method = "exact"
    //     elif len(a) <= 13:
    //         method = "permutation"
    //     else:
    //         method = "normal"
    //     # cross-check the rule against the explicitly requested method
    //     explicit = {"exact": dict(method="exact"), "normal": dict(method="asymptotic"),
    //                 "permutation": dict(method=st.PermutationMethod())}[method]
    //     assert st.wilcoxon(a, correction=corr, **explicit).pvalue == res.pvalue, name
    //     assert float(res.statistic) == min(wp, wm), name
    //     out(f"    WilcoxonCase {{ name: {name!r}, correction: {str(corr).lower()}, diffs: {arr(d)},".replace("'", '"'))
    //     out(f"        n_nonzero: {nz}, w_plus: {f(wp)}, w_minus: {f(wm)}, statistic: {f(res.statistic)},")
    //     out(f"        p_value: {f(res.pvalue)}, method: {method!r} }},".replace("'", '"'))
    // out("];")
    // out()
    //
    // # ---------------------------------------------------------------- Mann-Whitney
    // mcases = [
    //     ("exact_5_7", [1.1, 2.3, 0.4, 3.8, 2.9], [0.2, 1.7, 0.9, 1.5, 0.1, 2.0, 0.6]),
    //     ("exact_8_20_boundary", R(rng.normal(0.5, 1, 8), 6), R(rng.normal(0, 1, 20), 6)),
    //     ("normal_9_9_boundary", R(rng.normal(0.5, 1, 9), 6), R(rng.normal(0, 1, 9), 6)),
    //     ("normal_ties_small", [1.0, 2.0, 2.0, 3.0], [2.0, 3.0, 4.0, 4.0, 5.0]),
    //     ("normal_all_equal", [1.0, 1.0, 1.0], [1.0, 1.0]),
    //     ("exact_separated_6_5", [10.0, 11.0, 12.0, 13.0, 14.0, 15.0], [1.0, 2.0, 3.0, 4.0, 5.0]),
    //     ("exact_1_1", [1.0], [2.0]),
    //     ("exact_1_3", [2.5], [1.0, 2.0, 3.0]),
    //     ("exact_2_2", [3.0, 4.0], [1.0, 2.0]),
    //     ("normal_separated_30_30", R(rng.normal(5, 1, 30) + 10, 6), R(rng.normal(5, 1, 30), 6)),
    //     ("normal_ties_40_35", R(rng.normal(0.3, 1, 40), 1), R(rng.normal(0, 1, 35), 1)),
    //     ("normal_60_55", R(rng.normal(0.1, 1, 60), 6), R(rng.normal(0, 1, 55), 6)),
    // ]
    // out("// ---- Mann-Whitney U: scipy.stats.mannwhitneyu(x, y) (defaults: use_continuity=True,")
    // out("// ---- alternative='two-sided', method='auto'); u_x is the returned statistic.")
    // out("const MWU_CASES: &[MwuCase] = &[")
    // for name, x, y in mcases:
    //     x = [float(v) for v in x]
    //     y = [float(v) for v in y]
    //     res = st.mannwhitneyu(x, y)
    //     allv = np.concatenate([x, y])
    //     ties = len(np.unique(allv)) < len(allv)
    //     # scipy 1.17 `_mwu_choose_method`
    //     if len(x) > 8 and len(y) > 8:
    //         method = "normal"
    //     elif ties:
    //         method = "normal"
    //     else:
    //         method = "exact"
    //     explicit = {"exact": "exact", "normal": "asymptotic"}[method]
    //     assert st.mannwhitneyu(x, y, method=explicit).pvalue == res.pvalue, name
    //     xa, ya = np.asarray(x), np.asarray(y)
    //     gt = int(np.sum(xa[:, None] > ya[None, :]))
    //     lt = int(np.sum(xa[:, None] < ya[None, :]))
    //     cliff = (gt - lt) / (len(x) * len(y))
    //     hl2 = np.median(np.subtract.outer(xa, ya))
    //     out(f"    MwuCase {{ name: {name!r}, x: {arr(x)},".replace("'", '"'))
    //     out(f"        y: {arr(y)},")
    //     out(f"        u_x: {f(res.statistic)}, p_value: {f(res.pvalue)}, method: {method!r},".replace("'", '"'))
    //     out(f"        cliffs_delta: {f(cliff)}, hl_two_sample: {f(hl2)} }},")
    // out("];")
    // out()
    //
    // # ---------------------------------------------------------------- Hodges-Lehmann paired
    // out("// ---- Paired HL: numpy.median([(d[i] + d[j]) / 2 for i in range(n) for j in range(i, n)])")
    // out("// ---- on the Wilcoxon inputs above, in the same order.")
    // out("const HL_PAIRED: &[f64] = &[")
    // for name, d in wcases:
    //     d = [float(v) for v in d]
    //     n = len(d)
    //     walsh = [(d[i] + d[j]) / 2 for i in range(n) for j in range(i, n)]
    //     out(f"    {f(np.median(walsh))}, // {name}")
    // out("];")
    // out()
    //
    // # ---------------------------------------------------------------- Holm
    // holm_inputs = [
    //     ("mixed_with_nan", [0.01, 0.04, float("nan"), 0.03, 0.005, 0.5, float("nan"), 0.04]),
    //     ("caps_at_one", [0.3, 0.6, 0.45, 0.9]),
    //     ("single", [0.02]),
    //     ("tied_and_zero", [0.0, 0.02, 0.02, 0.02, 1.0]),
    //     ("twelve", R(rng.uniform(0, 0.02, 12), 6)),
    // ]
    // out("// ---- Holm: statsmodels.stats.multitest.multipletests(p[~isnan(p)], method='holm')[1],")
    // out("// ---- re-inserted at the non-NaN positions (statsmodels does not accept NaN itself).")
    // out("const HOLM_CASES: &[(&str, &[f64], &[f64])] = &[")
    // for name, p in holm_inputs:
    //     p = np.asarray(p, dtype=float)
    //     ok = ~np.isnan(p)
    //     adj = np.full_like(p, np.nan)
    //     adj[ok] = multipletests(p[ok], method="holm")[1]
    //     out(f"    ({name!r}, {arr(p)},".replace("'", '"'))
    //     out(f"        {arr(adj)}),")
    // out("];")
    // out()
    //
    // # ---------------------------------------------------------------- quantile / descriptive
    // qdata = sorted(R(rng.normal(10, 3, 11), 6))
    // qs = [0.0, 0.025, 0.1, 0.25, 0.5, 0.55, 0.75, 0.975, 1.0]
    // out("// ---- numpy.quantile(sorted_data, q) (default method='linear')")
    // out(f"const QUANTILE_DATA: &[f64] = {arr(qdata)};")
    // out("const QUANTILE_CASES: &[(f64, f64)] = &[")
    // for q in qs:
    //     out(f"    ({f(q)}, {f(np.quantile(qdata, q))}),")
    // out("];")
    // out(f"// numpy.quantile([4.0, 1.0][sorted], 0.3); numpy.quantile([7.5], 0.9)")
    // out(f"const QUANTILE_SMALL: &[(&[f64], f64, f64)] = &[(&[1.0, 4.0], 0.3, {f(np.quantile([1.0, 4.0], 0.3))}), (&[7.5], 0.9, {f(np.quantile([7.5], 0.9))})];")
    // desc = R(rng.normal(3, 2, 25), 6)
    // out("// ---- numpy.mean(v), numpy.median(v), numpy.std(v, ddof=1); also on v[:24] (even n)")
    // out(f"const DESC_DATA: &[f64] = {arr(desc)};")
    // out(f"const DESC_MEAN: f64 = {f(np.mean(desc))};")
    // out(f"const DESC_MEDIAN: f64 = {f(np.median(desc))};")
    // out(f"const DESC_STD: f64 = {f(np.std(desc, ddof=1))};")
    // out(f"const DESC_MEDIAN_EVEN: f64 = {f(np.median(desc[:24]))};")
    // out()
    //
    // # ---------------------------------------------------------------- erfc / normal cdf
    // ex = [0.0, 1e-10, 0.001, 0.3, 0.5, 0.9, 1.0, 1.2499, 1.25, 1.7, 2.0, 2.5, 3.5, 5.0,
    //       8.0, 12.0, 20.0, 26.5, -0.7, -2.2, -6.0]
    // out("// ---- erfc: float(mpmath.erfc(x)) with mpmath.mp.dps = 50")
    // out("const ERFC_CASES: &[(f64, f64)] = &[")
    // for x in ex:
    //     out(f"    ({f(x)}, {f(mpmath.erfc(x))}),")
    // out("];")
    // nx = [-30.0, -20.0, -10.0, -7.0, -5.0, -3.0, -1.96, -1.0, -0.5, 0.0, 0.3, 1.0, 2.5, 6.0]
    // worst = max(abs(scipy.special.ndtr(x) - float(mpmath.ncdf(x))) / float(mpmath.ncdf(x)) for x in nx)
    // assert worst < 1e-12
    // out(f"// ---- normal CDF: float(mpmath.ncdf(x)) with mpmath.mp.dps = 50 (scipy.special.ndtr agrees")
    // out(f"// ---- with these to {worst:.1e} relative at worst)")
    // out("const NCDF_CASES: &[(f64, f64)] = &[")
    // for x in nx:
    //     out(f"    ({f(x)}, {f(mpmath.ncdf(x))}),")
    // out("];")
}

#[cfg(test)]
mod hl_interval_tests {
    //! Hodges–Lehmann intervals, the normal quantile and the sign test.
    //! Reference values: `report/tests/reference/hl_intervals.py` (SciPy
    //! 1.17.1, NumPy 2.4.6, Python 3.11.7), pasted between the GENERATED
    //! markers below; that script computes each interval from SciPy's exact
    //! null distributions and, for tie-free data, again by inverting SciPy's
    //! tests, and asserts the two agree.
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// An expected interval.
    struct Ref {
        low: f64,
        high: f64,
        level_achieved: f64,
        lower_rank: usize,
        method: &'static str,
    }

    /// (name, diffs, level, expected; `None`: no interval at that level)
    type PairedCase = (&'static str, &'static [f64], f64, Option<Ref>);
    /// (name, x, y, level, expected) for the shift x − y
    type TwoSampleCase = (
        &'static str,
        &'static [f64],
        &'static [f64],
        f64,
        Option<Ref>,
    );

    fn check(name: &str, got: Option<RankInterval>, expected: &Option<Ref>) {
        match (got, expected) {
            (None, None) => {}
            (Some(g), Some(e)) => {
                // Same floating-point operations as NumPy: bit-for-bit.
                assert_eq!((g.low, g.high), (e.low, e.high), "{name}");
                assert_eq!(g.lower_rank, e.lower_rank, "{name}");
                assert_eq!(g.method, e.method, "{name}");
                // Normal-branch levels carry erfc's ~1e-10 relative error.
                let err = (g.level_achieved - e.level_achieved).abs();
                assert!(
                    err <= 1e-11,
                    "{name}: level {} vs {}",
                    g.level_achieved,
                    e.level_achieved
                );
            }
            (g, _) => panic!(
                "{name}: got {g:?}, expected {}",
                if expected.is_some() { "Some" } else { "None" }
            ),
        }
    }

    #[test]
    fn paired_intervals_match_scipy() {
        for (name, d, level, expected) in PAIRED_CI_CASES {
            check(name, hodges_lehmann_paired_ci(d, *level), expected);
        }
    }

    #[test]
    fn two_sample_intervals_match_scipy() {
        for (name, x, y, level, expected) in TWO_SAMPLE_CI_CASES {
            check(name, hodges_lehmann_two_sample_ci(x, y, *level), expected);
        }
    }

    #[test]
    fn hollander_wolfe_depression_example() {
        // Hollander, Wolfe & Chicken, Table 3.1 (Hamilton depression scale
        // factor IV, 9 patients, second visit minus first). With n = 9 the
        // closest attainable level above 95 % is 1 − 2·10/512 = 0.961 (P₀(T+ ≤ 5) = 10/512), and the
        // textbook's interval at that level is (−0.786, −0.010).
        let (_, d, _, _) = PAIRED_CI_CASES
            .iter()
            .find(|c| c.0 == "exact_hwc_table_3_1")
            .unwrap();
        let ci = hodges_lehmann_paired_ci(d, 0.95).unwrap();
        assert_eq!((ci.low, ci.high), (-0.786, -0.01));
        assert_eq!(ci.level_achieved, 1.0 - 20.0 / 512.0);
        assert_eq!(ci.lower_rank, 6);
        // The point estimate, the median of the 45 Walsh averages: −0.46.
        let est = hodges_lehmann_paired(d).unwrap();
        assert!((est + 0.46).abs() < 1e-12, "{est}");
        // The signed-rank test on the same data: p = 0.039 ≤ 0.05, so 0 is out.
        let p = wilcoxon_signed_rank(d).unwrap().p_value;
        assert!(p <= 0.05 && ci.high < 0.0, "{p}");
    }

    #[test]
    fn sas_react_example_and_ties() {
        // SAS/STAT User's Guide, PROC NPAR1WAY, Hodges–Lehmann estimation of
        // the React data (Stim 2 − Stim 1, 98 %): published estimate 0.35,
        // asymptotic (Moses) limits (0.00, 0.82), exact limits (0.00, 1.33).
        // The heavily tied data make the untied critical value used here give
        // the asymptotic limits; SAS's exact limits condition on the ties.
        let (_, x, y, level, _) = TWO_SAMPLE_CI_CASES
            .iter()
            .find(|c| c.0 == "exact_ties_sas_react")
            .unwrap();
        let est = hodges_lehmann_two_sample(x, y).unwrap();
        assert!((est - 0.35).abs() < 1e-12, "{est}");
        let ci = hodges_lehmann_two_sample_ci(x, y, *level).unwrap();
        assert!(
            ci.low.abs() < 1e-12 && (ci.high - 0.82).abs() < 1e-12,
            "{ci:?}"
        );
    }

    /// Deterministic N(mu, 1) draws (Box–Muller on ChaCha8): continuous, so
    /// ties and zeros have probability 0.
    fn draws(rng: &mut ChaCha8Rng, n: usize, mu: f64) -> Vec<f64> {
        (0..n)
            .map(|_| {
                let u1: f64 = 1.0 - rng.gen::<f64>();
                let u2: f64 = rng.gen();
                mu + (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
            })
            .collect()
    }

    #[test]
    fn paired_interval_inverts_the_signed_rank_test() {
        let mut rng = ChaCha8Rng::seed_from_u64(0x484c_2026);
        let (mut rejected, mut kept, mut none, mut normal) = (0, 0, 0, 0);
        for _ in 0..4000 {
            let n = rng.gen_range(1..=70usize);
            let mu = rng.gen_range(-1.2..1.2);
            let level = rng.gen_range(0.5..0.999);
            let d = draws(&mut rng, n, mu);
            let test = wilcoxon_signed_rank(&d).unwrap();
            assert_ne!(test.method, METHOD_PERMUTATION, "continuous data tied");
            let alpha = 1.0 - level;
            match hodges_lehmann_paired_ci(&d, level) {
                None => {
                    // No interval: not even the most extreme sample rejects.
                    assert!(2.0 * 0.5f64.powi(n as i32) > alpha, "n {n} level {level}");
                    assert!(test.p_value > alpha);
                    none += 1;
                }
                Some(ci) => {
                    let excludes_zero = ci.low > 0.0 || ci.high < 0.0;
                    assert_eq!(
                        excludes_zero,
                        test.p_value <= alpha,
                        "n {n} level {level} p {} ci {ci:?}",
                        test.p_value
                    );
                    assert_eq!(ci.method, test.method);
                    assert!(ci.level_achieved >= level, "{ci:?} {level}");
                    assert!(ci.low <= ci.high);
                    let hl = hodges_lehmann_paired(&d).unwrap();
                    assert!(ci.low <= hl && hl <= ci.high);
                    if excludes_zero {
                        rejected += 1;
                    } else {
                        kept += 1;
                    }
                    if ci.method == METHOD_NORMAL {
                        normal += 1;
                    }
                }
            }
        }
        assert!(
            rejected > 500 && kept > 500 && none > 20 && normal > 300,
            "{rejected} {kept} {none} {normal}"
        );
    }

    #[test]
    fn two_sample_interval_inverts_the_mann_whitney_test() {
        let mut rng = ChaCha8Rng::seed_from_u64(0x4d57_2026);
        let (mut rejected, mut kept, mut none, mut normal) = (0, 0, 0, 0);
        for _ in 0..3000 {
            let m = rng.gen_range(1..=30usize);
            let n = rng.gen_range(1..=30usize);
            let shift = rng.gen_range(-1.5..1.5);
            let level = rng.gen_range(0.5..0.999);
            let x = draws(&mut rng, m, shift);
            let y = draws(&mut rng, n, 0.0);
            let test = mann_whitney_u(&x, &y).unwrap();
            let alpha = 1.0 - level;
            match hodges_lehmann_two_sample_ci(&x, &y, level) {
                None => {
                    assert!(test.p_value > alpha, "m {m} n {n} level {level}");
                    none += 1;
                }
                Some(ci) => {
                    let excludes_zero = ci.low > 0.0 || ci.high < 0.0;
                    assert_eq!(
                        excludes_zero,
                        test.p_value <= alpha,
                        "m {m} n {n} level {level} p {} ci {ci:?}",
                        test.p_value
                    );
                    assert_eq!(ci.method, test.method);
                    assert!(ci.level_achieved >= level, "{ci:?} {level}");
                    let hl = hodges_lehmann_two_sample(&x, &y).unwrap();
                    assert!(ci.low <= hl && hl <= ci.high);
                    if excludes_zero {
                        rejected += 1;
                    } else {
                        kept += 1;
                    }
                    if ci.method == METHOD_NORMAL {
                        normal += 1;
                    }
                }
            }
        }
        assert!(
            rejected > 400 && kept > 400 && none > 20 && normal > 300,
            "{rejected} {kept} {none} {normal}"
        );
    }

    #[test]
    fn intervals_reject_bad_arguments() {
        let d = [0.3, -1.2, 2.2, 0.8, 1.9, -0.4, 1.1, 0.6, 2.7, 1.4];
        assert!(hodges_lehmann_paired_ci(&d, 0.95).is_some());
        assert_eq!(hodges_lehmann_paired_ci(&[], 0.95), None);
        assert_eq!(hodges_lehmann_paired_ci(&[1.0, f64::NAN, 2.0], 0.5), None);
        assert_eq!(hodges_lehmann_paired_ci(&[1.0, f64::INFINITY], 0.5), None);
        for level in [0.0, 1.0, -0.1, 1.1, f64::NAN, f64::INFINITY] {
            assert_eq!(hodges_lehmann_paired_ci(&d, level), None, "{level}");
            assert_eq!(hodges_lehmann_two_sample_ci(&d, &d, level), None, "{level}");
        }
        assert_eq!(hodges_lehmann_two_sample_ci(&[], &d, 0.95), None);
        assert_eq!(hodges_lehmann_two_sample_ci(&d, &[f64::NAN], 0.95), None);
        // Too few values for the level: n = 5 paired (2/32 > 5 %), 3 and 3.
        assert_eq!(hodges_lehmann_paired_ci(&d[..5], 0.95), None);
        assert!(hodges_lehmann_paired_ci(&d[..5], 0.9).is_some());
        assert_eq!(hodges_lehmann_paired_ci(&d[..1], 0.5), None);
        assert_eq!(hodges_lehmann_two_sample_ci(&d[..1], &d[..1], 0.5), None);
        assert!(hodges_lehmann_two_sample_ci(&d[..2], &d[2..4], 0.5).is_some());
        // A level just below 1 needs more data but never panics.
        assert_eq!(hodges_lehmann_paired_ci(&d, 1.0 - 1e-15), None);
        let big: Vec<f64> = (0..200).map(|i| f64::from(i) * 0.37 - 20.0).collect();
        let ci = hodges_lehmann_paired_ci(&big, 1.0 - 1e-15).unwrap();
        assert!(ci.low <= ci.high);
    }

    #[test]
    fn interval_widens_with_the_level_and_shifts_with_the_data() {
        let d = [
            0.3, -1.2, 2.2, 0.8, 1.9, -0.4, 1.1, 0.6, 2.7, 1.4, 0.05, -0.7,
        ];
        let mut last: Option<RankInterval> = None;
        for level in [0.5, 0.8, 0.9, 0.95, 0.99] {
            let ci = hodges_lehmann_paired_ci(&d, level).unwrap();
            if let Some(prev) = last {
                assert!(ci.low <= prev.low && ci.high >= prev.high);
                assert!(ci.lower_rank <= prev.lower_rank);
            }
            last = Some(ci);
        }
        // Equivariance: shifting every difference by c shifts the interval.
        let shifted: Vec<f64> = d.iter().map(|v| v + 10.0).collect();
        let a = hodges_lehmann_paired_ci(&d, 0.9).unwrap();
        let b = hodges_lehmann_paired_ci(&shifted, 0.9).unwrap();
        assert!((b.low - a.low - 10.0).abs() < 1e-12 && (b.high - a.high - 10.0).abs() < 1e-12);
        assert_eq!(a.level_achieved, b.level_achieved);
        // Swapping the samples negates the two-sample interval.
        let (x, y) = (&d[..5], &d[5..]);
        let xy = hodges_lehmann_two_sample_ci(x, y, 0.9).unwrap();
        let yx = hodges_lehmann_two_sample_ci(y, x, 0.9).unwrap();
        assert_eq!((xy.low, xy.high), (-yx.high, -yx.low));
        assert_eq!(xy.level_achieved, yx.level_achieved);
    }

    #[test]
    fn exact_signed_rank_counts_are_a_distribution() {
        for n in [1usize, 2, 5, 13, 50] {
            let c = signed_rank_cumulative_counts(n);
            assert_eq!(c.len(), n * (n + 1) / 2 + 1);
            assert_eq!(*c.last().unwrap(), 1u128 << n);
            assert_eq!(c[0], 1);
            // Symmetry: P(T ≤ k) + P(T ≤ M − k − 1) = 1.
            let m = c.len() - 1;
            for k in 0..m {
                assert_eq!(c[k] + c[m - k - 1], 1u128 << n, "n {n} k {k}");
            }
        }
    }

    #[test]
    fn normal_quantile_matches_scipy() {
        for &(p, expected) in NORMAL_QUANTILE_CASES {
            let got = normal_quantile(p);
            let err = (got - expected).abs();
            assert!(
                err <= 1e-15 * expected.abs().max(1.0),
                "ppf({p}) = {got:e}, scipy {expected:e}"
            );
            if p > 0.0 && p < 1.0 {
                // Round trip through the CDF (as accurate as erfc).
                let back = normal_cdf(got);
                assert!(
                    (back - p).abs() <= 2e-10 * p.min(1.0 - p).max(1e-300) + 1e-16,
                    "{p}"
                );
            }
        }
        assert_eq!(normal_quantile(0.0), f64::NEG_INFINITY);
        assert_eq!(normal_quantile(1.0), f64::INFINITY);
        assert!(normal_quantile(f64::NAN).is_nan());
        assert!(normal_quantile(-0.1).is_nan() && normal_quantile(1.1).is_nan());
        for p in [1e-300, 1e-200, 1e-50] {
            let x = normal_quantile(p);
            assert!(((normal_cdf(x) - p) / p).abs() < 2e-10, "{p} -> {x}");
        }
    }

    // ======== GENERATED by report/tests/reference/hl_intervals.py (begin) ========
    // ---- generated by report/tests/reference/hl_intervals.py (SciPy 1.17.1, NumPy 2.4.6)
    // ---- Paired: (name, diffs, level, expected); expected None = no interval at that level.
    const PAIRED_CI_CASES: &[PairedCase] = &[
        (
            "exact_n6",
            &[0.954909, 1.379095, 2.654721, -0.741471, 2.476237, 1.640727],
            0.95,
            Some(Ref {
                low: -0.741471,
                high: 2.654721,
                level_achieved: 0.96875,
                lower_rank: 1,
                method: "exact",
            }),
        ),
        (
            "exact_n6_level_0_99_none",
            &[0.954909, 1.379095, 2.654721, -0.741471, 2.476237, 1.640727],
            0.99,
            None,
        ),
        (
            "exact_n5_level_0_95_none",
            &[0.954909, 1.379095, 2.654721, -0.741471, 2.476237],
            0.95,
            None,
        ),
        (
            "exact_n5_level_0_90",
            &[0.954909, 1.379095, 2.654721, -0.741471, 2.476237],
            0.9,
            Some(Ref {
                low: -0.741471,
                high: 2.654721,
                level_achieved: 0.9375,
                lower_rank: 1,
                method: "exact",
            }),
        ),
        (
            "exact_n10",
            &[
                0.229622, -0.941176, -0.225513, -0.683662, -0.722019, 0.12425, 1.070687, -1.144459,
                -1.609679, -0.658703,
            ],
            0.95,
            Some(Ref {
                low: -0.941176,
                high: 0.174334,
                level_achieved: 0.951171875,
                lower_rank: 9,
                method: "exact",
            }),
        ),
        (
            "exact_n10_level_0_80",
            &[
                0.229622, -0.941176, -0.225513, -0.683662, -0.722019, 0.12425, 1.070687, -1.144459,
                -1.609679, -0.658703,
            ],
            0.8,
            Some(Ref {
                low: -0.812419,
                high: -0.21454050000000002,
                level_achieved: 0.806640625,
                lower_rank: 15,
                method: "exact",
            }),
        ),
        (
            "exact_n20",
            &[
                -2.274973, -1.702869, -0.843405, 2.010092, -0.492872, -0.402639, -0.557921,
                0.568597, 1.781952, 1.691015, 0.800512, -2.860882, 0.777236, -0.77005, 0.179788,
                2.770511, -5.781734, -2.135159, 0.603702, -1.346263,
            ],
            0.95,
            Some(Ref {
                low: -1.2364595,
                high: 0.5990715,
                level_achieved: 0.9515590667724609,
                lower_rank: 53,
                method: "exact",
            }),
        ),
        (
            "exact_n20_level_0_99",
            &[
                -2.274973, -1.702869, -0.843405, 2.010092, -0.492872, -0.402639, -0.557921,
                0.568597, 1.781952, 1.691015, 0.800512, -2.860882, 0.777236, -0.77005, 0.179788,
                2.770511, -5.781734, -2.135159, 0.603702, -1.346263,
            ],
            0.99,
            Some(Ref {
                low: -1.559189,
                high: 0.7888740000000001,
                level_achieved: 0.9905643463134766,
                lower_rank: 38,
                method: "exact",
            }),
        ),
        (
            "exact_n50_boundary",
            &[
                0.16834, -0.137984, 2.129538, 0.425127, -0.037311, -0.01804, 0.780265, 1.703784,
                0.106742, 1.434933, 0.318867, -1.769659, 1.390555, -1.937081, 0.292553, 1.562009,
                1.801671, 0.621556, -1.495188, 1.289011, 0.029742, -0.647764, -0.078197, -0.909727,
                -0.306683, -0.426512, 0.28153, -0.058275, 0.694313, 1.25702, -0.821843, -2.367282,
                1.697173, -0.268524, 0.304454, -1.195387, 0.975233, 0.35573, 0.106459, 1.839087,
                0.05059, -0.518979, 0.394303, 0.735261, 1.112321, 3.123264, 0.437543, 0.829052,
                -0.825539, -0.821754,
            ],
            0.95,
            Some(Ref {
                low: -0.022637000000000018,
                high: 0.5864020000000001,
                level_achieved: 0.9505535931993983,
                lower_rank: 435,
                method: "exact",
            }),
        ),
        (
            "normal_n51_boundary",
            &[
                0.16834, -0.137984, 2.129538, 0.425127, -0.037311, -0.01804, 0.780265, 1.703784,
                0.106742, 1.434933, 0.318867, -1.769659, 1.390555, -1.937081, 0.292553, 1.562009,
                1.801671, 0.621556, -1.495188, 1.289011, 0.029742, -0.647764, -0.078197, -0.909727,
                -0.306683, -0.426512, 0.28153, -0.058275, 0.694313, 1.25702, -0.821843, -2.367282,
                1.697173, -0.268524, 0.304454, -1.195387, 0.975233, 0.35573, 0.106459, 1.839087,
                0.05059, -0.518979, 0.394303, 0.735261, 1.112321, 3.123264, 0.437543, 0.829052,
                -0.825539, -0.821754, 0.409241,
            ],
            0.95,
            Some(Ref {
                low: -0.0138035,
                high: 0.5769535,
                level_achieved: 0.9509811920024646,
                lower_rank: 454,
                method: "normal",
            }),
        ),
        (
            "normal_n60",
            &[
                -0.732101, 1.047912, 0.374951, 0.826051, 0.068773, 1.576177, 0.154001, -0.651945,
                0.370018, 0.658007, -0.509665, -0.896929, -0.083249, -0.505449, -0.867482,
                0.984994, 1.127921, 0.223551, 1.217353, -0.464637, 1.537373, 0.199187, 1.304332,
                -1.308897, 1.362752, -0.407522, -0.204161, -0.525574, 1.630184, -1.932894,
                0.098574, 1.88493, 1.399739, 0.296961, -0.816689, 1.385503, -0.72405, -0.706855,
                0.235578, 0.011619, -0.553743, 2.379901, -0.79957, 0.658059, -0.246687, 1.769046,
                -0.279505, 2.34282, -0.625875, -0.510752, 1.237598, -1.485041, -0.572162, 0.759521,
                0.345633, -1.268803, 1.819935, -1.019596, 1.555534, -0.158331,
            ],
            0.95,
            Some(Ref {
                low: -0.0904655,
                high: 0.5020074999999999,
                level_achieved: 0.9506491543261765,
                lower_rank: 649,
                method: "normal",
            }),
        ),
        (
            "normal_n60_level_0_90",
            &[
                -0.732101, 1.047912, 0.374951, 0.826051, 0.068773, 1.576177, 0.154001, -0.651945,
                0.370018, 0.658007, -0.509665, -0.896929, -0.083249, -0.505449, -0.867482,
                0.984994, 1.127921, 0.223551, 1.217353, -0.464637, 1.537373, 0.199187, 1.304332,
                -1.308897, 1.362752, -0.407522, -0.204161, -0.525574, 1.630184, -1.932894,
                0.098574, 1.88493, 1.399739, 0.296961, -0.816689, 1.385503, -0.72405, -0.706855,
                0.235578, 0.011619, -0.553743, 2.379901, -0.79957, 0.658059, -0.246687, 1.769046,
                -0.279505, 2.34282, -0.625875, -0.510752, 1.237598, -1.485041, -0.572162, 0.759521,
                0.345633, -1.268803, 1.819935, -1.019596, 1.555534, -0.158331,
            ],
            0.9,
            Some(Ref {
                low: -0.040159,
                high: 0.45078199999999996,
                level_achieved: 0.9008521752451933,
                lower_rank: 692,
                method: "normal",
            }),
        ),
        (
            "exact_ties_n10",
            &[2.9, -1.0, 0.7, -0.5, 0.4, 1.0, 1.2, -0.3, -1.0, 0.2],
            0.95,
            Some(Ref {
                low: -0.4,
                high: 1.2,
                level_achieved: 0.951171875,
                lower_rank: 9,
                method: "exact",
            }),
        ),
        (
            "exact_ties_zeros_n20",
            &[
                0.0, 0.0, -1.0, -0.3, 0.7, -0.6, 0.6, 0.3, -0.3, -0.9, 0.5, 0.6, 0.8, -0.5, 1.7,
                2.6, -1.3, -0.1, -0.4, -0.2,
            ],
            0.9,
            Some(Ref {
                low: -0.3,
                high: 0.35,
                level_achieved: 0.9026927947998047,
                lower_rank: 61,
                method: "exact",
            }),
        ),
        (
            "exact_all_equal_n8",
            &[2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0],
            0.95,
            Some(Ref {
                low: 2.0,
                high: 2.0,
                level_achieved: 0.9609375,
                lower_rank: 4,
                method: "exact",
            }),
        ),
        (
            "exact_hwc_table_3_1",
            &[
                -0.952, 0.147, -1.022, -0.43, -0.62, -0.59, -0.49, 0.08, -0.01,
            ],
            0.95,
            Some(Ref {
                low: -0.786,
                high: -0.01,
                level_achieved: 0.9609375,
                lower_rank: 6,
                method: "exact",
            }),
        ),
    ];

    // ---- Two-sample x - y: (name, x, y, level, expected).
    const TWO_SAMPLE_CI_CASES: &[TwoSampleCase] = &[
        (
            "exact_6_6",
            &[1.439714, 1.045623, 1.969077, 1.153359, 1.540247, 0.869746],
            &[
                -0.199218, -2.384495, -0.429198, -1.064236, -2.130539, 1.03187,
            ],
            0.95,
            Some(Ref {
                low: 0.9372069999999999,
                high: 3.570253,
                level_achieved: 0.9588744588744589,
                lower_rank: 6,
                method: "exact",
            }),
        ),
        (
            "exact_3_3_none",
            &[1.0, 2.0, 3.0],
            &[0.5, 1.5, 2.5],
            0.95,
            None,
        ),
        (
            "exact_3_3_level_0_90",
            &[1.0, 2.0, 3.0],
            &[0.5, 1.5, 2.5],
            0.9,
            None,
        ),
        (
            "exact_8_20_boundary",
            &[
                0.317574, 2.211481, 0.6196, 0.610119, 1.315845, 0.382717, -1.248726, 0.849134,
            ],
            &[
                0.153288, -0.275499, -1.192072, 1.204195, -0.204008, -0.131459, -0.746568,
                0.704695, 0.802164, -2.024839, 0.292738, -0.031063, 1.362966, 0.194923, 0.722284,
                -0.225355, -0.367669, 1.763338, -0.354607, 0.397256,
            ],
            0.95,
            Some(Ref {
                low: -0.18256399999999995,
                high: 1.203741,
                level_achieved: 0.9512513251643686,
                lower_rank: 42,
                method: "exact",
            }),
        ),
        (
            "exact_20_6_swapped",
            &[
                -0.706026, 1.27268, 1.232773, -1.739327, 1.129835, -0.831335, 0.85773, -1.998537,
                0.173261, 0.857584, -0.361451, -1.064026, 0.293787, -1.380725, -1.912388, 0.297195,
                -0.618901, 0.658954, 0.173011, 0.245331,
            ],
            &[0.726497, 2.427826, 0.463208, 1.668766, -0.76257, 0.456233],
            0.99,
            Some(Ref {
                low: -2.461745,
                high: 0.506276,
                level_achieved: 0.9913477826521305,
                lower_rank: 19,
                method: "exact",
            }),
        ),
        (
            "normal_9_9_boundary",
            &[
                1.77512, 0.272826, 0.764649, -1.054957, 1.786755, 1.922299, 0.277904, -0.048891,
                0.407104,
            ],
            &[
                0.706898, 0.530994, -1.165417, -1.692023, 0.694115, 1.188547, 0.155607, -2.224392,
                1.368206,
            ],
            0.95,
            Some(Ref {
                low: -0.579885,
                high: 1.964849,
                level_achieved: 0.9577398939160433,
                lower_rank: 18,
                method: "normal",
            }),
        ),
        (
            "normal_10_10",
            &[
                -0.879867, 0.948819, 0.056289, -1.06686, 1.760747, 1.070325, 0.025487, 0.448611,
                0.620873, 1.156077,
            ],
            &[
                -1.039731, -1.980888, 1.644446, -0.279712, 0.885615, -0.083075, 0.360359,
                -0.925881, 1.16496, 0.7137,
            ],
            0.9,
            Some(Ref {
                low: -0.544087,
                high: 1.1534,
                level_achieved: 0.9110269882981867,
                lower_rank: 28,
                method: "normal",
            }),
        ),
        (
            "normal_20_20",
            &[
                1.49024, 0.056076, 0.975938, 0.688108, 1.238933, 0.253433, -0.256729, 0.321937,
                1.219562, -0.230108, 1.198708, 1.057304, 1.333441, -0.419608, -1.31684, -0.408366,
                0.702698, 0.545946, -0.778036, 0.779585,
            ],
            &[
                -2.111973, 1.794729, -0.301451, -0.131829, -1.061392, 0.397024, -0.482593,
                -0.967203, -1.226955, -1.417762, -0.709928, 0.726314, 0.736282, 0.743965,
                -1.200705, -0.467041, -0.658059, 0.157562, 0.826213, -0.59349,
            ],
            0.95,
            Some(Ref {
                low: 0.210312,
                high: 1.373075,
                level_achieved: 0.9501363097894595,
                lower_rank: 128,
                method: "normal",
            }),
        ),
        (
            "normal_60_60",
            &[
                -0.61596, -0.945537, -0.83833, 0.277586, -1.152429, -0.263623, 0.906777, 0.279316,
                0.391858, -0.501964, 0.59581, -0.833486, 1.490621, -0.043028, 0.485407, 1.339506,
                0.387037, -1.410252, 0.445294, -1.061783, -0.254702, -1.290662, 2.029984,
                -0.563002, 0.192023, -0.458809, 0.388299, -0.889048, -0.575534, -0.60976,
                -0.308514, -0.236353, -0.097323, -0.19067, 0.353833, 1.837898, -0.746747,
                -0.235691, 2.402579, -0.208875, 0.583489, -0.390026, 0.404877, 0.362776, -0.967854,
                -0.566977, 0.113009, 0.364315, -0.648606, -0.430098, 0.632495, 0.409375, -0.748709,
                -0.173941, -1.080238, -0.425343, 1.587451, 0.868905, 2.676652, 0.38307,
            ],
            &[
                -1.053862, -1.425451, -0.382734, 1.751703, -0.410293, -2.973041, -0.44341,
                1.136457, 1.387693, -1.100708, 0.171422, -0.284025, -0.493566, 0.462058, -2.005317,
                1.828231, -1.810821, 0.517476, -0.335886, -0.117936, -1.711819, -0.182198,
                -0.621395, 0.124809, 0.419075, -1.494842, -0.224448, -1.024839, 0.311464, 0.525965,
                1.263693, 0.53274, 0.574769, 0.035006, -0.047892, -1.693098, -0.837327, -0.584471,
                0.509565, -2.134779, 0.389775, 2.245159, -2.542803, -1.39589, -2.063303, -0.569133,
                1.416365, -0.750729, -1.03527, -0.124289, 0.040423, -1.682285, -1.292333,
                -0.324411, -1.030454, 0.522558, -0.42069, 0.962242, 1.108669, 0.792376,
            ],
            0.95,
            Some(Ref {
                low: -0.11715900000000001,
                high: 0.663386,
                level_achieved: 0.9500470427264741,
                lower_rank: 1427,
                method: "normal",
            }),
        ),
        (
            "exact_ties_6_7",
            &[2.0, -1.0, 0.0, 0.0, 1.0, 1.0],
            &[1.0, 1.0, 1.0, 2.0, -0.0, -0.0, -2.0],
            0.95,
            Some(Ref {
                low: -1.0,
                high: 2.0,
                level_achieved: 0.965034965034965,
                lower_rank: 7,
                method: "exact",
            }),
        ),
        (
            "normal_ties_20_15",
            &[
                -1.1, 0.2, -0.3, 0.2, -0.2, 1.4, -0.9, 2.7, 1.2, 1.1, -1.4, 1.8, 1.0, 0.6, 2.0,
                -0.5, 0.8, 1.0, -0.6, 0.8,
            ],
            &[
                -0.5, 1.4, -0.6, -1.6, -0.5, 1.5, -1.3, -0.5, 0.6, 0.6, -1.5, 2.1, -0.9, -1.0, 0.9,
            ],
            0.95,
            Some(Ref {
                low: -0.2999999999999998,
                high: 1.5,
                level_achieved: 0.9526697915918099,
                lower_rank: 91,
                method: "normal",
            }),
        ),
        (
            "exact_ties_sas_react",
            &[3.27, 3.27, 3.27, 3.7, 3.7, 3.74],
            &[
                1.94, 1.94, 2.92, 2.92, 2.92, 2.92, 3.27, 3.27, 3.27, 3.27, 3.7, 3.7, 3.74,
            ],
            0.98,
            Some(Ref {
                low: 0.0,
                high: 0.8200000000000003,
                level_achieved: 0.983266991006929,
                lower_rank: 13,
                method: "exact",
            }),
        ),
    ];

    // ---- scipy.stats.norm.ppf(p)
    const NORMAL_QUANTILE_CASES: &[(f64, f64)] = &[
        (1e-16, -8.222082216130435),
        (1e-10, -6.361340902404056),
        (1e-05, -4.264890793922825),
        (0.001, -3.090232306167813),
        (0.005, -2.575829303548901),
        (0.025, -1.9599639845400545),
        (0.05, -1.6448536269514729),
        (0.1, -1.2815515655446004),
        (0.3, -0.5244005127080409),
        (0.5, 0.0),
        (0.7, 0.5244005127080407),
        (0.95, 1.6448536269514722),
        (0.975, 1.959963984540054),
        (0.995, 2.5758293035489004),
        (0.999999, 4.753424308817087),
    ];
    // ======== GENERATED (end) ========
}
