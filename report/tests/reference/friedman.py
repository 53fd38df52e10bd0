"""Reference values for report/src/friedman.rs (Friedman test, chi-square
tail, order-statistic interval of the median).

Run with SciPy installed; paste the output between the GENERATED markers of
the tests in report/src/friedman.rs.
"""
import numpy as np
from scipy import stats


def f(x):
    return repr(float(x))


print("// Python", __import__("sys").version.split()[0], "SciPy", __import__("scipy").__version__, "NumPy", np.__version__)
cases = {
    "UNTIED": [[1.0, 2.0, 3.5], [2.0, 2.5, 1.0], [0.5, 3.0, 4.0], [1.5, 1.7, 2.0],
               [3.0, 1.0, 2.0], [0.2, 0.9, 0.4], [1.1, 2.2, 3.3]],
    "TIED": [[1, 1, 2, 3], [2, 2, 2, 1], [1, 3, 2, 4], [4, 3, 2, 1], [1, 2, 3, 4],
             [2, 1, 4, 3], [1, 1, 1, 2], [3, 4, 2, 1]],
    "STRONG": [[k + 0.1 * b for k in range(5)] for b in range(12)],
}
for name, rows in cases.items():
    a = np.array(rows, dtype=float)
    r = stats.friedmanchisquare(*a.T)
    print(f"const {name}_Q: f64 = {f(r.statistic)};")
    print(f"const {name}_P: f64 = {f(r.pvalue)};")
print("const CHI2_SF: &[(f64, f64, f64)] = &[")
for x, df in [(3.841458820694124, 1), (5.991464547107979, 2), (10.0, 3), (0.5, 4),
              (25.0, 7), (1e-3, 2), (60.0, 4)]:
    print(f"    ({f(x)}, {df}.0, {f(stats.chi2.sf(x, df))}),")
print("];")
print("// (n, 1-based rank of the lower end, coverage) of the distribution-free")
print("// 95 % interval of the median: the largest l with P(X <= l - 1) <= 0.025,")
print("// X ~ Binomial(n, 1/2).")
print("const MEDIAN_RANKS: &[(usize, usize, f64)] = &[")
for n in [6, 7, 10, 20, 50, 200]:
    l = 0
    while stats.binom.cdf(l, n, 0.5) <= 0.025:
        l += 1
    print(f"    ({n}, {l}, {f(1 - 2 * stats.binom.cdf(l - 1, n, 0.5))}),")
print("];")
