//! One-sentence findings generated from the numbers: direction, size and
//! uncertainty, and a plain statement when there is no significant
//! difference or too few trials to tell.

use crate::compare::{Comparison, Design, KmSummary, Verdict, MIN_PAIRS, MIN_PER_ARM};
use crate::metrics::MetricDef;

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

/// `-0.0 ms` and the like lose their sign: a value that rounds to zero has
/// none.
fn unsign_zero(s: String) -> String {
    match s.strip_prefix('-') {
        Some(rest) if !has_nonzero_digit(rest) => rest.to_string(),
        _ => s,
    }
}

fn has_nonzero_digit(s: &str) -> bool {
    s.chars().any(|c| c.is_ascii_digit() && c != '0')
}

fn fmt_signed(x: f64, unit: &str) -> String {
    let s = unsign_zero(fmt_diff(x, unit));
    if x > 0.0 && has_nonzero_digit(&s) {
        format!("+{s}")
    } else {
        s
    }
}

fn level_text(level: Option<f64>) -> String {
    let pct = level.unwrap_or(0.95) * 100.0;
    if (pct - pct.round()).abs() < 1e-9 {
        format!("{pct:.0} %")
    } else {
        format!("{pct:.1} %")
    }
}

/// The finding for one comparison row; `note` (where the numbers come
/// from) is appended.
pub fn sentence(def: &MetricDef, r: &Comparison, note: &str) -> String {
    let (b, t) = (display_arm(&r.baseline), display_arm(&r.treatment));
    let cell = format!("{} / {}", r.scenario, r.load_profile);
    let label = def.label;
    let margin = match r.margin {
        Some(m) => format!(
            "the smallest difference that matters is ±{}",
            fmt_diff(m, def.unit)
        ),
        None => "no smallest difference that matters can be set (baseline median 0)".into(),
    };
    let body = match r.verdict {
        Verdict::TooFew => format!(
            "Too few trials to compare {label} in {cell}: {}{} (at least {MIN_PAIRS} seed pairs, or {MIN_PER_ARM} trials per arm, are needed).",
            if r.n_pairs > 0 {
                format!("n = {} seed pairs", r.n_pairs)
            } else {
                format!("n = {} {t} and {} {b} trials", r.n_treatment, r.n_baseline)
            },
            match &r.time_to_event {
                Some(e) if e.at_max_baseline + e.at_max_treatment > 0 => format!(
                    "; left out at max replicas when the load changed: {} {t} and {} {b} trials",
                    e.at_max_treatment, e.at_max_baseline
                ),
                _ => String::new(),
            }
        ),
        Verdict::Identical => format!(
            "In {cell}, {label} was identical in every seed pair (n = {} pairs): nothing to test.",
            r.n_pairs
        ),
        verdict => {
            let numbers = numbers(def, r, &t, &b);
            let est = r.estimate.unwrap_or(0.0);
            let dir = if est > 0.0 { "higher" } else { "lower" };
            let size = fmt_diff(est.abs(), def.unit);
            let excludes_zero =
                r.ci_low.is_some_and(|l| l > 0.0) || r.ci_high.is_some_and(|h| h < 0.0);
            match verdict {
                Verdict::Better | Verdict::Worse => format!(
                    "In {cell}, {t} scored {dir} than {b} on {label} by {size} ({numbers}); {margin}: a significant difference beyond it, {} for {t}.",
                    if verdict == Verdict::Better { "better" } else { "worse" }
                ),
                Verdict::Differs => format!(
                    "In {cell}, {t} scored {dir} than {b} on {label} by {size} ({numbers}); {margin}: a significant difference beyond it (this metric has no better direction)."
                ),
                Verdict::Equivalent => format!(
                    "In {cell}, {t} and {b} are equivalent on {label}: the interval lies inside the margin{} ({numbers}); {margin}.",
                    if r.significant() { ", although the difference is significant" } else { "" }
                ),
                _ if r.significant() => format!(
                    "In {cell}, {t} scored {dir} than {b} on {label} by {size} ({numbers}); {margin}: the difference is significant, but the data cannot tell whether it is that large."
                ),
                _ if excludes_zero => format!(
                    "In {cell}, the test of {label} does not reach significance although the interval excludes 0 ({numbers}); {margin}: the data cannot tell."
                ),
                _ if r.ci_low.is_none() => format!(
                    "In {cell}, no significant difference in {label} between {t} and {b} ({numbers}); {margin}: the data cannot tell whether they are equivalent."
                ),
                _ => format!(
                    "In {cell}, no significant difference in {label} between {t} and {b} ({numbers}); {margin}, and the interval is wider than that: the data cannot tell whether they are equivalent."
                ),
            }
        }
    };
    if note.is_empty() {
        body
    } else {
        format!("{body} {note}")
    }
}

fn km_text(k: &KmSummary, unit: &str) -> String {
    match k.median {
        Some(m) => format!(
            "Kaplan–Meier median {} (95 % CI {} to {})",
            fmt_value(m, unit),
            k.low.map_or("–".into(), |x| fmt_value(x, unit)),
            k.high.map_or("not reached".into(), |x| fmt_value(x, unit)),
        ),
        None => "median not reached".into(),
    }
}

/// The numbers behind a tested row.
fn numbers(def: &MetricDef, r: &Comparison, t: &str, b: &str) -> String {
    let role = if r.primary {
        "Holm-adjusted across the primary endpoints of every arm in this cell"
    } else {
        "secondary endpoint, unadjusted"
    };
    let p = r
        .judged_p()
        .map(|p| format!("p {}", fmt_p(p)))
        .unwrap_or_else(|| "no p".into());
    let ci = match (r.ci_low, r.ci_high) {
        (Some(lo), Some(hi)) => format!(
            "exact {} CI {} to {}",
            level_text(r.ci_level),
            fmt_signed(lo, def.unit),
            fmt_signed(hi, def.unit)
        ),
        _ => "no interval of the difference".into(),
    };
    let est = fmt_signed(r.estimate.unwrap_or(0.0), def.unit);
    match (&r.time_to_event, r.design) {
        (Some(e), _) => {
            let estimate = match (r.estimate, r.ci_low.is_some()) {
                (Some(_), true) => format!("Hodges–Lehmann estimate {est}, {ci}; "),
                (Some(_), false) => format!("difference of medians {est}, {ci}; "),
                (None, _) => String::new(),
            };
            format!(
                "{t} reacted in {} of {} trials, {}; {b} in {} of {}, {}; left out at max replicas when the load changed: {} {t} and {} {b} trials; {estimate}{t} first in {} seed pairs, {b} first in {}, {} undetermined or tied; Gehan sign test {p}, {role}",
                e.events_treatment,
                e.trials_treatment,
                km_text(&e.km_treatment, def.unit),
                e.events_baseline,
                e.trials_baseline,
                km_text(&e.km_baseline, def.unit),
                e.at_max_treatment,
                e.at_max_baseline,
                e.treatment_first,
                e.baseline_first,
                e.undetermined,
            )
        }
        (None, Design::Paired) => format!(
            "Hodges–Lehmann estimate {est}, {ci}; Wilcoxon signed-rank {p}, {role}; n = {} seed pairs",
            r.n_pairs
        ),
        _ => format!(
            "Hodges–Lehmann shift {est}, {ci}; Mann–Whitney U {p}, {role}; n = {} {t} and {} {b} trials",
            r.n_treatment, r.n_baseline
        ),
    }
}

/// The arm's name as the report writes it: an arm named after a
/// controller kind gets the kind's title.
pub fn display_arm(arm: &str) -> String {
    match arm.parse::<contract::ControllerKind>() {
        Ok(kind) => kind.title().into(),
        Err(_) => arm.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metric;

    fn row(verdict: Verdict, est: f64, ci: (f64, f64), p: f64) -> Comparison {
        Comparison {
            scenario: "s".into(),
            load_profile: "p".into(),
            metric: Metric::LatencyP95Ms,
            question: crate::question::Question::Latency,
            primary: true,
            baseline: "hpa".into(),
            treatment: "userscale".into(),
            design: Design::Paired,
            n_baseline: 20,
            n_treatment: 20,
            n_pairs: 20,
            median_baseline: Some(2000.0),
            median_treatment: None,
            mean_baseline: None,
            mean_treatment: None,
            estimate: Some(est),
            ci_low: Some(ci.0),
            ci_high: Some(ci.1),
            ci_level: Some(0.99),
            p_value: Some(p),
            p_holm: Some(p),
            effect: None,
            margin: Some(100.0),
            time_to_event: None,
            verdict,
            finding: String::new(),
        }
    }

    fn def() -> &'static MetricDef {
        Metric::LatencyP95Ms.def()
    }

    #[test]
    fn a_difference_beyond_the_margin_gets_a_verdict_with_its_numbers() {
        let s = sentence(
            def(),
            &row(Verdict::Better, -1234.0, (-1334.0, -1184.0), 0.0004),
            "Simulated; GPU profile t4 (measured).",
        );
        assert_eq!(
            s,
            "In s / p, UserScale scored lower than HPA on p95 latency by 1234 ms (Hodges–Lehmann estimate -1234 ms, \
             exact 99 % CI -1334 ms to -1184 ms; Wilcoxon signed-rank p < 0.001, Holm-adjusted across the primary \
             endpoints of every arm in this cell; n = 20 seed pairs); the smallest difference that matters is ±100 ms: a significant \
             difference beyond it, better for UserScale. Simulated; GPU profile t4 (measured)."
        );
    }

    #[test]
    fn worse_results_for_the_treatment_are_stated_as_plainly() {
        let s = sentence(def(), &row(Verdict::Worse, 500.0, (300.0, 700.0), 0.01), "");
        assert!(
            s.contains("UserScale scored higher than HPA on p95 latency"),
            "{s}"
        );
        assert!(s.ends_with("worse for UserScale."), "{s}");
    }

    #[test]
    fn inside_the_margin_is_equivalent_and_otherwise_the_data_cannot_tell() {
        let s = sentence(
            def(),
            &row(Verdict::Equivalent, 10.0, (-50.0, 60.0), 0.6),
            "",
        );
        assert!(s.contains("are equivalent on p95 latency"), "{s}");
        let s = sentence(
            def(),
            &row(Verdict::CannotTell, 40.0, (-300.0, 400.0), 0.41),
            "",
        );
        assert!(
            s.contains("no significant difference in p95 latency"),
            "{s}"
        );
        assert!(s.contains("cannot tell"), "{s}");
        // Significant, but the interval reaches inside the margin.
        let s = sentence(
            def(),
            &row(Verdict::CannotTell, 150.0, (20.0, 300.0), 0.01),
            "",
        );
        assert!(s.contains("significant, but the data cannot tell"), "{s}");
        // Never "no significant difference" beside an interval without 0.
        let s = sentence(
            def(),
            &row(Verdict::CannotTell, 150.0, (20.0, 300.0), 0.2),
            "",
        );
        assert!(!s.contains("no significant difference"), "{s}");
        assert!(s.contains("although the interval excludes 0"), "{s}");
    }

    #[test]
    fn identical_and_too_few_rows_are_not_tests() {
        let mut r = row(Verdict::Identical, 0.0, (0.0, 0.0), 1.0);
        r.design = Design::Identical;
        let s = sentence(def(), &r, "");
        assert_eq!(s, "In s / p, p95 latency was identical in every seed pair (n = 20 pairs): nothing to test.");
        let mut r = row(Verdict::TooFew, 0.0, (0.0, 0.0), 1.0);
        r.n_pairs = 3;
        let s = sentence(def(), &r, "");
        assert!(
            s.starts_with("Too few trials to compare p95 latency in s / p: n = 3 seed pairs"),
            "{s}"
        );
    }

    #[test]
    fn zero_has_no_sign() {
        assert_eq!(fmt_signed(-0.01, "s"), "0.0 s");
        assert_eq!(fmt_signed(0.01, "s"), "0.0 s");
        assert_eq!(fmt_signed(-0.0004, "share"), "0.0 percentage points");
        assert_eq!(fmt_signed(0.2, "s"), "+0.2 s");
        assert_eq!(fmt_signed(-1.5, "ms"), "-2 ms");
    }
}
