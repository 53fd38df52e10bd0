"""Reference values for report/tests/reference_intervals.rs.

Independent of the Rust code: the Hodges-Lehmann intervals are found by
inverting SciPy's own rank tests (the set of shifts theta that the test does
not reject at 1 - level), the Kaplan-Meier numbers come from lifelines, the
sign-test p-values from scipy.stats.binomtest.

    python -m venv /tmp/refenv && /tmp/refenv/bin/pip install scipy lifelines numpy
    /tmp/refenv/bin/python report/tests/reference/intervals_and_survival.py

Recorded with SciPy 1.17.1, lifelines 0.30.3, NumPy 2.4.6.
"""
import numpy as np
from scipy import stats
from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times


def paired_ci(d, level, method):
    d = np.asarray(d, float)
    n = len(d)
    walsh = np.sort([(d[i] + d[j]) / 2 for i in range(n) for j in range(i, n)])
    alpha = 1 - level
    accepted = []
    for j in range(len(walsh) - 1):
        if walsh[j] == walsh[j + 1]:
            continue
        theta = (walsh[j] + walsh[j + 1]) / 2
        if method == "exact":
            p = stats.wilcoxon(d - theta, method="exact").pvalue
        else:
            p = stats.wilcoxon(d - theta, method="approx", correction=True).pvalue
        if p > alpha:
            accepted.append(j)
    return walsh[min(accepted)], walsh[max(accepted) + 1]


def two_sample_ci(x, y, level, method):
    x, y = np.asarray(x, float), np.asarray(y, float)
    diffs = np.sort([a - b for a in x for b in y])
    alpha = 1 - level
    accepted = []
    for j in range(len(diffs) - 1):
        if diffs[j] == diffs[j + 1]:
            continue
        theta = (diffs[j] + diffs[j + 1]) / 2
        if method == "exact":
            p = stats.mannwhitneyu(x - theta, y, method="exact").pvalue
        else:
            p = stats.mannwhitneyu(x - theta, y, method="asymptotic", use_continuity=True).pvalue
        if p > alpha:
            accepted.append(j)
    return diffs[min(accepted)], diffs[max(accepted) + 1]


rng = np.random.default_rng(20261202)
cases = {
    "paired_n6": (np.round(rng.normal(1.0, 1.0, 6), 3), 0.95, "exact"),
    "paired_n10": (np.round(rng.normal(0.3, 1.0, 10), 3), 0.95, "exact"),
    "paired_n20": (np.round(rng.normal(-0.5, 2.0, 20), 3), 0.99, "exact"),
    "paired_n60": (np.round(rng.normal(0.2, 1.0, 60), 4), 0.95, "approx"),
}
for name, (d, level, method) in cases.items():
    lo, hi = paired_ci(d, level, method)
    print(f"// {name}: level {level}, {method}")
    print(f"const {name.upper()}: [f64; {len(d)}] = {list(map(float, d))};")
    print(f"// -> ({lo!r}, {hi!r})")

x = np.round(rng.normal(1.0, 1.0, 7), 3)
y = np.round(rng.normal(0.0, 1.0, 8), 3)
print("// two-sample exact 7 x 8, level 0.95")
print(f"const X7: [f64; 7] = {list(map(float, x))};")
print(f"const Y8: [f64; 8] = {list(map(float, y))};")
print("// ->", two_sample_ci(x, y, 0.95, "exact"))
x = np.round(rng.normal(0.5, 1.0, 20), 3)
y = np.round(rng.normal(0.0, 1.0, 20), 3)
print("// two-sample asymptotic 20 x 20, level 0.95")
print(f"const X20: [f64; 20] = {list(map(float, x))};")
print(f"const Y20: [f64; 20] = {list(map(float, y))};")
print("// ->", two_sample_ci(x, y, 0.95, "asymptotic"))

# Kaplan-Meier. 6-MP arm of Freireich et al. (1963), as in Kalbfleisch &
# Prentice (2002) table 1.1 and lifelines' datasets: remission weeks,
# 0 = censored.
km_sets = {
    "sixmp": ([6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35],
              [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]),
    "ties": ([3, 3, 3, 5, 5, 8, 8, 8, 12, 12, 15, 20],
             [1, 0, 1, 1, 0, 1, 1, 0, 0, 1, 0, 0]),
    "heavy": ([1.5, 2.0, 2.0, 4.5, 6.0, 60.0, 60.0, 60.0, 60.0, 60.0],
              [1, 1, 0, 1, 1, 0, 0, 0, 0, 0]),
    "early": ([0.8, 1.1, 1.1, 2.4, 3.0, 3.0, 4.2, 5.9, 7.7, 9.5],
              [1, 1, 1, 1, 0, 1, 1, 1, 0, 1]),
}
for name, (t, e) in km_sets.items():
    k = KaplanMeierFitter().fit(t, e)
    sf = k.survival_function_["KM_estimate"]
    ci = k.confidence_interval_
    times = [float(x) for x, d in zip(k.event_table.index, k.event_table["observed"]) if d > 0]
    print(f"// KM {name}: time, S, lower, upper at event times")
    for tt in times:
        print(f"//   {tt!r}, {float(sf.loc[tt])!r}, {float(ci.iloc[:, 0].loc[tt])!r}, {float(ci.iloc[:, 1].loc[tt])!r}")
    m = median_survival_times(k)
    mci = median_survival_times(ci)
    print(f"//   median {float(m)!r}, ci {mci.values.tolist()}")

for k, n in [(14, 18), (3, 12), (9, 9), (0, 7), (20, 20)]:
    print(f"// binomtest({k}, {n}) = {stats.binomtest(k, n, 0.5).pvalue!r}")
