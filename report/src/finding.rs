//! One-sentence findings generated from the numbers: direction, size and
//! uncertainty, and a plain statement when there is no significant
//! difference or too few trials to tell.

use crate::compare::{Comparison, Design, ALPHA, MIN_PAIRS, MIN_PER_ARM};
use crate::metrics::{Better, MetricDef};

/// Formats a value of `unit` for prose and tables.
pub fn fmt_value(x: f64, unit: &str) -> String {
    match unit {
        "share" => format!("{:.1} %", x * 100.0),
        "ms" => format!("{x:.0} ms"),
        "%" => format!("{x:.1} %"),
        "s" => format!("{x:.1} s"),
        "J" => format!("{x:.1} J"),
        "" => format!("{x:.3}"),
        u => format!("{} {u}", fmt_number(x)),
    }
}

/// Formats a difference of `unit` (shares become percentage points).
pub fn fmt_diff(x: f64, unit: &str) -> String {
    match unit {
        "share" => format!("{:.1} percentage points", x * 100.0),
        "%" => format!("{x:.1} percentage points"),
        _ => fmt_value(x, unit),
    }
}

/// A plain number with 3 significant digits at most.
pub fn fmt_number(x: f64) -> String {
    let a = x.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

/// Formats a p-value.
pub fn fmt_p(p: f64) -> String {
    if p < 0.001 {
        "< 0.001".into()
    } else {
        format!("= {p:.3}")
    }
}

/// The finding for one comparison row.
pub fn sentence(def: &MetricDef, r: &Comparison) -> String {
    let (b, t) = (display_arm(&r.baseline), display_arm(&r.treatment));
    let cell = format!("{} / {}", r.scenario, r.load_profile);
    let n_text = match r.design {
        Design::Paired => format!("n = {} seed pairs", r.n_pairs),
        _ => format!("n = {} {t} and {} {b} trials", r.n_treatment, r.n_baseline),
    };
    let (Some(est), Some(p)) = (r.estimate, r.p_holm.or(r.p_value)) else {
        return format!(
            "Too few trials to compare {} in {cell}: {} (at least {MIN_PAIRS} seed pairs, or {MIN_PER_ARM} trials per arm, are needed).",
            def.label,
            if r.n_pairs > 0 { format!("n = {} seed pairs", r.n_pairs) } else { n_text.clone() }
        );
    };
    let ci = match (r.ci_low, r.ci_high) {
        (Some(lo), Some(hi)) => format!(
            "95 % CI {} to {}",
            fmt_signed(lo, def.unit),
            fmt_signed(hi, def.unit)
        ),
        _ => "no CI".into(),
    };
    let test = match r.design {
        Design::Paired => "Wilcoxon signed-rank",
        _ => "Mann–Whitney U",
    };
    let stats = format!(
        "Hodges–Lehmann estimate {}, {ci}; {test} p {} after Holm; {n_text}",
        fmt_signed(est, def.unit),
        fmt_p(p)
    );
    if p < ALPHA && est != 0.0 {
        let dir = if est > 0.0 { "higher" } else { "lower" };
        let verdict = match (def.better, est > 0.0) {
            (Better::Neither, _) => String::new(),
            (Better::Higher, true) | (Better::Lower, false) => format!(", better for {t}"),
            _ => format!(", worse for {t}"),
        };
        format!(
            "In {cell}, {t} had a {dir} {} than {b} by {} ({stats}): a significant difference{verdict}.",
            def.label,
            fmt_diff(est.abs(), def.unit)
        )
    } else {
        format!(
            "In {cell}, no significant difference in {} between {t} and {b} ({stats}).",
            def.label
        )
    }
}

fn fmt_signed(x: f64, unit: &str) -> String {
    let s = fmt_diff(x, unit);
    if x > 0.0 {
        format!("+{s}")
    } else {
        s
    }
}

/// The arm's name as the report writes it.
pub fn display_arm(arm: &str) -> String {
    match arm {
        "hpa" => "HPA".into(),
        "userscale" => "UserScale".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::metric;

    fn row(design: Design, est: Option<f64>, p: Option<f64>, n: usize) -> Comparison {
        Comparison {
            scenario: "s".into(),
            load_profile: "p".into(),
            metric: "latency_p95_ms",
            question: 3,
            baseline: "hpa".into(),
            treatment: "userscale".into(),
            design,
            n_baseline: n,
            n_treatment: n,
            n_pairs: n,
            median_baseline: None,
            median_treatment: None,
            mean_baseline: None,
            mean_treatment: None,
            estimate: est,
            ci_low: est.map(|e| e - 100.0),
            ci_high: est.map(|e| e + 50.0),
            p_value: p,
            p_holm: p,
            effect: None,
            finding: String::new(),
        }
    }

    fn def() -> &'static MetricDef {
        metric("latency_p95_ms").expect("metric exists")
    }

    #[test]
    fn significant_finding_states_direction_size_uncertainty_and_verdict() {
        let s = sentence(def(), &row(Design::Paired, Some(-1234.0), Some(0.0004), 20));
        assert_eq!(
            s,
            "In s / p, UserScale had a lower p95 latency than HPA by 1234 ms (Hodges–Lehmann estimate -1234 ms, \
             95 % CI -1334 ms to -1184 ms; Wilcoxon signed-rank p < 0.001 after Holm; n = 20 seed pairs): \
             a significant difference, better for UserScale."
        );
    }

    #[test]
    fn non_significant_finding_says_so_plainly() {
        let s = sentence(def(), &row(Design::Paired, Some(40.0), Some(0.41), 20));
        assert!(
            s.starts_with(
                "In s / p, no significant difference in p95 latency between UserScale and HPA"
            ),
            "{s}"
        );
        assert!(s.contains("p = 0.410 after Holm"), "{s}");
        assert!(s.contains("+40 ms"), "{s}");
    }

    #[test]
    fn too_few_trials_is_reported_as_such() {
        let s = sentence(def(), &row(Design::TooFew, None, None, 3));
        assert!(
            s.starts_with("Too few trials to compare p95 latency in s / p: n = 3 seed pairs"),
            "{s}"
        );
    }

    #[test]
    fn worse_results_for_the_treatment_are_stated_as_plainly() {
        let s = sentence(def(), &row(Design::Paired, Some(500.0), Some(0.01), 20));
        assert!(s.contains("higher p95 latency than HPA"), "{s}");
        assert!(s.ends_with("worse for UserScale."), "{s}");
    }
}
