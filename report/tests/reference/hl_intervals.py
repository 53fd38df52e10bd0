"""Reference values for the Hodges-Lehmann interval tests in report/src/stats.rs.

Regenerate (prints Rust literals for the GENERATED block of the
`hl_interval_tests` module in stats.rs; paste, then `cargo fmt --all`):

    python3 -m venv /tmp/refenv && /tmp/refenv/bin/pip install scipy numpy
    /tmp/refenv/bin/python report/tests/reference/hl_intervals.py > /tmp/hl.rs.txt

Recorded with Python 3.11.7, SciPy 1.17.1, NumPy 2.4.6.

This is an implementation independent of the Rust code. It finds each
interval in two ways and asserts they agree:

1. Order statistics with a critical value taken from SciPy's own null
   distributions: P(T+ <= k) is read from `scipy.stats.wilcoxon(...,
   method="exact", alternative="less")` on a sample built to have T+ = k, and
   P(U <= k) from `scipy.stats.mannwhitneyu(..., method="exact",
   alternative="less")` on samples built to have U = k. The normal branches
   use `scipy.stats.norm.cdf`.
2. For tie-free data only: test inversion. The interval is the set of shifts
   theta that SciPy's two-sided test (same method as the Rust rule) does not
   reject at alpha = 1 - level; it is probed at the midpoints between
   consecutive distinct Walsh averages / pairwise differences, where the
   shifted data have no ties and no zeros.

Rules reproduced (see the doc comments of `hodges_lehmann_paired_ci` and
`hodges_lehmann_two_sample_ci`):
* paired: n <= 50 exact, else normal without continuity correction
  (scipy.stats.wilcoxon's defaults);
* two-sample: min(m, n) <= 8 exact, else normal with continuity correction
  (scipy.stats.mannwhitneyu's defaults);
* k = largest integer with P(T <= k) <= alpha/2; interval
  [W_(k+1), W_(M-k)] (1-based order statistics); level_achieved =
  1 - 2 P(T <= k); None when no k >= 0 qualifies.
"""
import sys

import numpy as np
import scipy
import scipy.stats as st


def f(v):
    """Rust f64 literal that round-trips exactly."""
    v = float(v)
    r = repr(v)
    if "e" not in r and "." not in r and "inf" not in r and "nan" not in r:
        r += ".0"
    return r


def arr(a):
    return "&[" + ", ".join(f(v) for v in a) + "]"


def out(s=""):
    sys.stdout.write(s + "\n")


# ----------------------------------------------------------------- null CDFs
def signed_rank_cdf(n, k):
    """P(T+ <= k) for n untied ranks, from SciPy's exact distribution."""
    if k < 0:
        return 0.0
    total = n * (n + 1) // 2
    if k >= total:
        return 1.0
    # A sample whose positive ranks sum to k: greedy from the largest rank.
    pos, rem = set(), k
    for r in range(n, 0, -1):
        if r <= rem:
            pos.add(r)
            rem -= r
    assert rem == 0
    d = [float(r) if r in pos else -float(r) for r in range(1, n + 1)]
    res = st.wilcoxon(d, method="exact", alternative="less")
    assert res.statistic == k, (res.statistic, k)
    return float(res.pvalue)


def mann_whitney_cdf(m, n, k):
    """P(U <= k) for samples of sizes m and n (no ties), from SciPy."""
    if k < 0:
        return 0.0
    if k >= m * n:
        return 1.0
    y = np.arange(n) * 2.0
    counts, rem = [], k
    for _ in range(m):
        c = min(n, rem)
        counts.append(c)
        rem -= c
    # x_i exceeds exactly counts[i] of the y's; offsets keep the x's distinct.
    x = [2.0 * c - 1.0 + 0.001 * (i + 1) for i, c in enumerate(counts)]
    res = st.mannwhitneyu(x, y, method="exact", alternative="less")
    assert res.statistic == k, (res.statistic, k)
    return float(res.pvalue)


# --------------------------------------------------------- order statistics
def critical(cdf, tail, top):
    """Largest k in [0, top] with cdf(k) <= tail, or None."""
    if cdf(0) > tail:
        return None
    k = 0
    while k + 1 <= top and cdf(k + 1) <= tail:
        k += 1
    return k


def paired_ci(d, level):
    d = [float(v) for v in d]
    n = len(d)
    m = n * (n + 1) // 2
    tail = (1.0 - level) / 2.0
    if n <= 50:
        method = "exact"
        cdf = lambda k: signed_rank_cdf(n, k)
    else:
        method = "normal"
        mu = n * (n + 1) / 4.0
        sd = np.sqrt(n * (n + 1) * (2 * n + 1) / 24.0)
        cdf = lambda k: float(st.norm.cdf((k - mu) / sd))
    k = critical(cdf, tail, m // 2)
    if k is None:
        return None
    walsh = np.sort([(d[i] + d[j]) / 2 for i in range(n) for j in range(i, n)])
    return dict(low=walsh[k], high=walsh[m - 1 - k], level_achieved=1.0 - 2.0 * cdf(k),
                lower_rank=k + 1, method=method)


def two_sample_ci(x, y, level):
    x = [float(v) for v in x]
    y = [float(v) for v in y]
    m, n = len(x), len(y)
    tail = (1.0 - level) / 2.0
    if min(m, n) <= 8:
        method = "exact"
        cdf = lambda k: mann_whitney_cdf(m, n, k)
    else:
        method = "normal"
        mu = m * n / 2.0
        sd = np.sqrt(m * n * (m + n + 1) / 12.0)
        cdf = lambda k: float(st.norm.cdf((k + 0.5 - mu) / sd))
    k = critical(cdf, tail, (m * n) // 2)
    if k is None:
        return None
    diffs = np.sort([a - b for a in x for b in y])
    return dict(low=diffs[k], high=diffs[m * n - 1 - k], level_achieved=1.0 - 2.0 * cdf(k),
                lower_rank=k + 1, method=method)


# ------------------------------------------------------------ test inversion
def inverted(points, pvalue, alpha):
    """Closure of {theta : pvalue(theta) > alpha}, probed between points."""
    points = np.sort(points)
    probes = [j for j in range(len(points) - 1) if points[j] != points[j + 1]]
    accepted = [j for j in probes if pvalue((points[j] + points[j + 1]) / 2) > alpha]
    inside = [j for j in probes if accepted[0] <= j <= accepted[-1]]
    assert accepted == inside, "the accepted shifts do not form an interval"
    return points[accepted[0]], points[accepted[-1] + 1]


def paired_by_inversion(d, level):
    d = np.asarray(d, float)
    n = len(d)
    method = "exact" if n <= 50 else "asymptotic"
    walsh = [(d[i] + d[j]) / 2 for i in range(n) for j in range(i, n)]
    return inverted(walsh, lambda t: st.wilcoxon(d - t, method=method).pvalue, 1.0 - level)


def two_sample_by_inversion(x, y, level):
    x, y = np.asarray(x, float), np.asarray(y, float)
    method = "exact" if min(len(x), len(y)) <= 8 else "asymptotic"
    diffs = [a - b for a in x for b in y]
    return inverted(diffs, lambda t: st.mannwhitneyu(x - t, y, method=method).pvalue, 1.0 - level)


def tie_free_paired(d):
    a = np.abs(np.asarray(d, float))
    walsh = [(d[i] + d[j]) for i in range(len(d)) for j in range(i, len(d))]
    return len(np.unique(a)) == len(a) and 0.0 not in walsh


def tie_free_two_sample(x, y):
    pooled = np.concatenate([x, y])
    return len(np.unique(pooled)) == len(pooled)


# -------------------------------------------------------------------- cases
rng = np.random.default_rng(20261202)
R = lambda a, k: [round(float(v), k) for v in a]

n6 = R(rng.normal(1.0, 1.0, 6), 6)
n10 = R(rng.normal(0.3, 1.0, 10), 6)
n20 = R(rng.normal(-0.5, 2.0, 20), 6)
n50 = R(rng.normal(0.2, 1.0, 51), 6)
n60 = R(rng.normal(0.2, 1.0, 60), 6)
# Hollander, Wolfe & Chicken, Table 3.1 (Hamilton depression scale factor IV,
# n = 9 patients): d = y - x (second visit minus first).
hwc_x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
hwc_y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]
hwc_d = [round(b - a, 3) for a, b in zip(hwc_x, hwc_y)]

paired_cases = [
    ("exact_n6", n6, 0.95),
    ("exact_n6_level_0_99_none", n6, 0.99),
    ("exact_n5_level_0_95_none", n6[:5], 0.95),
    ("exact_n5_level_0_90", n6[:5], 0.90),
    ("exact_n10", n10, 0.95),
    ("exact_n10_level_0_80", n10, 0.80),
    ("exact_n20", n20, 0.95),
    ("exact_n20_level_0_99", n20, 0.99),
    ("exact_n50_boundary", n50[:50], 0.95),
    ("normal_n51_boundary", n50, 0.95),
    ("normal_n60", n60, 0.95),
    ("normal_n60_level_0_90", n60, 0.90),
    ("exact_ties_n10", R(rng.normal(0.5, 1.0, 10), 1), 0.95),
    ("exact_ties_zeros_n20", [0.0, 0.0] + R(rng.normal(0.4, 1.0, 18), 1), 0.90),
    ("exact_all_equal_n8", [2.0] * 8, 0.95),
    ("exact_hwc_table_3_1", hwc_d, 0.95),
]
two_cases = [
    ("exact_6_6", R(rng.normal(1.0, 1.0, 6), 6), R(rng.normal(0.0, 1.0, 6), 6), 0.95),
    ("exact_3_3_none", [1.0, 2.0, 3.0], [0.5, 1.5, 2.5], 0.95),
    ("exact_3_3_level_0_90", [1.0, 2.0, 3.0], [0.5, 1.5, 2.5], 0.90),
    ("exact_8_20_boundary", R(rng.normal(0.5, 1.0, 8), 6), R(rng.normal(0.0, 1.0, 20), 6), 0.95),
    ("exact_20_6_swapped", R(rng.normal(0.0, 1.0, 20), 6), R(rng.normal(0.7, 1.0, 6), 6), 0.99),
    ("normal_9_9_boundary", R(rng.normal(0.5, 1.0, 9), 6), R(rng.normal(0.0, 1.0, 9), 6), 0.95),
    ("normal_10_10", R(rng.normal(0.3, 1.0, 10), 6), R(rng.normal(0.0, 1.0, 10), 6), 0.90),
    ("normal_20_20", R(rng.normal(0.5, 1.0, 20), 6), R(rng.normal(0.0, 1.0, 20), 6), 0.95),
    ("normal_60_60", R(rng.normal(0.2, 1.0, 60), 6), R(rng.normal(0.0, 1.0, 60), 6), 0.95),
    ("exact_ties_6_7", R(rng.normal(1.0, 1.0, 6), 0), R(rng.normal(0.0, 1.0, 7), 0), 0.95),
    ("normal_ties_20_15", R(rng.normal(0.4, 1.0, 20), 1), R(rng.normal(0.0, 1.0, 15), 1), 0.95),
    # SAS/STAT User's Guide, PROC NPAR1WAY, "Hodges-Lehmann Estimation"
    # example (data set React): Stim 2 (x, 6 subjects) against Stim 1 (y, 13).
    ("exact_ties_sas_react", [3.27, 3.27, 3.27, 3.70, 3.70, 3.74],
     [1.94, 1.94, 2.92, 2.92, 2.92, 2.92, 3.27, 3.27, 3.27, 3.27, 3.70, 3.70, 3.74], 0.98),
]


def emit(r):
    if r is None:
        return "None"
    return (f"Some(Ref {{ low: {f(r['low'])}, high: {f(r['high'])}, "
            f"level_achieved: {f(r['level_achieved'])}, lower_rank: {r['lower_rank']}, "
            f"method: {r['method']!r} }})").replace("'", '"')


out(f"// ---- generated by report/tests/reference/hl_intervals.py (SciPy {scipy.__version__}, NumPy {np.__version__})")
out("// ---- Paired: (name, diffs, level, expected); expected None = no interval at that level.")
out("const PAIRED_CI_CASES: &[PairedCase] = &[")
for name, d, level in paired_cases:
    r = paired_ci(d, level)
    if r is not None and tie_free_paired(d):
        lo, hi = paired_by_inversion(d, level)
        assert (lo, hi) == (r["low"], r["high"]), (name, lo, hi, r)
    out(f'    ("{name}", {arr(d)}, {f(level)},')
    out(f"        {emit(r)}),")
out("];")
out()
out("// ---- Two-sample x - y: (name, x, y, level, expected).")
out("const TWO_SAMPLE_CI_CASES: &[TwoSampleCase] = &[")
for name, x, y, level in two_cases:
    r = two_sample_ci(x, y, level)
    if r is not None and tie_free_two_sample(x, y):
        lo, hi = two_sample_by_inversion(x, y, level)
        assert (lo, hi) == (r["low"], r["high"]), (name, lo, hi, r)
    out(f'    ("{name}", {arr(x)},')
    out(f"        {arr(y)}, {f(level)},")
    out(f"        {emit(r)}),")
out("];")
out()

# Standard normal quantiles (the Rust `normal_quantile`).
qs = [1e-16, 1e-10, 1e-5, 0.001, 0.005, 0.025, 0.05, 0.1, 0.3, 0.5, 0.7, 0.95, 0.975, 0.995, 0.999999]
out("// ---- scipy.stats.norm.ppf(p)")
out("const NORMAL_QUANTILE_CASES: &[(f64, f64)] = &[")
for p in qs:
    out(f"    ({f(p)}, {f(st.norm.ppf(p))}),")
out("];")
