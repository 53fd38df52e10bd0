//! The exact Hodges–Lehmann intervals, the Kaplan–Meier estimate and the
//! paired sign test against values recorded from SciPy 1.17.1 and lifelines
//! 0.30.3 by `tests/reference/intervals_and_survival.py`. The intervals
//! there are found independently of the Rust code: as the shifts SciPy's own
//! rank tests do not reject.
#![allow(clippy::unwrap_used)]

use report::stats::{hodges_lehmann_paired_ci, hodges_lehmann_two_sample_ci};
use report::survival::{
    binomial_two_sided_half, kaplan_meier, paired_censored_sign_test, Observation,
};

const PAIRED_N6: [f64; 6] = [0.955, 1.379, 2.655, -0.741, 2.476, 1.641];
const PAIRED_N10: [f64; 10] = [
    0.23, -0.941, -0.226, -0.684, -0.722, 0.124, 1.071, -1.144, -1.61, -0.659,
];
const PAIRED_N20: [f64; 20] = [
    -2.275, -1.703, -0.843, 2.01, -0.493, -0.403, -0.558, 0.569, 1.782, 1.691, 0.801, -2.861,
    0.777, -0.77, 0.18, 2.771, -5.782, -2.135, 0.604, -1.346,
];
const PAIRED_N60: [f64; 60] = [
    0.1683, -0.138, 2.1295, 0.4251, -0.0373, -0.018, 0.7803, 1.7038, 0.1067, 1.4349, 0.3189,
    -1.7697, 1.3906, -1.9371, 0.2926, 1.562, 1.8017, 0.6216, -1.4952, 1.289, 0.0297, -0.6478,
    -0.0782, -0.9097, -0.3067, -0.4265, 0.2815, -0.0583, 0.6943, 1.257, -0.8218, -2.3673, 1.6972,
    -0.2685, 0.3045, -1.1954, 0.9752, 0.3557, 0.1065, 1.8391, 0.0506, -0.519, 0.3943, 0.7353,
    1.1123, 3.1233, 0.4375, 0.8291, -0.8255, -0.8218, 0.4092, -0.7321, 1.0479, 0.375, 0.8261,
    0.0688, 1.5762, 0.154, -0.6519, 0.37,
];
const X7: [f64; 7] = [1.458, 0.29, -0.097, 0.717, 0.295, -0.067, 1.785];
const Y8: [f64; 8] = [0.928, 0.024, 1.017, -0.665, 1.337, -0.001, 1.104, -1.509];
const X20: [f64; 20] = [
    1.663, -0.108, 0.096, -0.226, 1.93, -1.633, 0.399, 2.185, 1.7, 0.597, -0.517, 1.686, -0.424,
    -0.407, 0.536, 0.312, -0.254, 2.68, -0.5, 0.958,
];
const Y20: [f64; 20] = [
    -0.447, 1.569, -0.48, 2.143, -0.826, -0.711, 1.038, -1.685, -0.772, 0.56, 0.146, -1.469, 1.62,
    -1.22, 1.356, -0.358, 2.424, -1.543, 0.172, -1.005,
];

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1.0)
}

#[test]
fn paired_intervals_are_the_shifts_the_signed_rank_test_does_not_reject() {
    for (d, level, want) in [
        (&PAIRED_N6[..], 0.95, (-0.741, 2.655)),
        (&PAIRED_N10[..], 0.95, (-0.941, 0.1745)),
        (&PAIRED_N20[..], 0.99, (-1.559, 0.789)),
        (&PAIRED_N60[..], 0.95, (0.0347, 0.5496)),
    ] {
        let ci = hodges_lehmann_paired_ci(d, level).unwrap();
        assert!(
            close(ci.low, want.0) && close(ci.high, want.1),
            "n = {}: {ci:?}, want {want:?}",
            d.len()
        );
        assert!(ci.level_achieved >= level - 1e-12 || d.len() > 50, "{ci:?}");
    }
    // n = 5 cannot give a 95 % interval (2^-5 > 0.025); n = 6 just can.
    assert!(hodges_lehmann_paired_ci(&PAIRED_N6[..5], 0.95).is_none());
    assert!(hodges_lehmann_paired_ci(&PAIRED_N6, 1.0).is_none());
    assert!(hodges_lehmann_paired_ci(&[1.0, f64::NAN], 0.5).is_none());
}

#[test]
fn two_sample_intervals_are_the_shifts_mann_whitney_does_not_reject() {
    let ci = hodges_lehmann_two_sample_ci(&X7, &Y8, 0.95).unwrap();
    assert!(close(ci.low, -0.814) && close(ci.high, 1.442), "{ci:?}");
    let ci = hodges_lehmann_two_sample_ci(&X20, &Y20, 0.95).unwrap();
    assert!(close(ci.low, -0.161) && close(ci.high, 1.308), "{ci:?}");
}

fn obs(times: &[f64], events: &[u8]) -> Vec<Observation> {
    times
        .iter()
        .zip(events)
        .map(|(&time, &e)| Observation {
            time,
            event: e == 1,
        })
        .collect()
}

/// (time, S, lower, upper) at each event time, then median and its CI
/// (`None`: lifelines' inf).
type KmRef = (
    &'static [(f64, f64, f64, f64)],
    Option<f64>,
    (Option<f64>, Option<f64>),
);

fn check_km(name: &str, o: &[Observation], (steps, median, ci): KmRef) {
    let k = kaplan_meier(o).unwrap();
    assert_eq!(k.steps.len(), steps.len(), "{name}");
    for (s, w) in k.steps.iter().zip(steps) {
        assert!(close(s.time, w.0), "{name} {s:?} {w:?}");
        assert!(close(s.survival, w.1), "{name} S {s:?} {w:?}");
        assert!((s.low - w.2).abs() < 1e-9, "{name} lower {s:?} {w:?}");
        assert!((s.high - w.3).abs() < 1e-9, "{name} upper {s:?} {w:?}");
    }
    assert_eq!(k.median, median, "{name}");
    assert_eq!(k.median_ci, ci, "{name}");
}

#[test]
fn kaplan_meier_matches_lifelines() {
    // Freireich et al. (1963), 6-MP arm: the published median is 23 weeks.
    let sixmp = obs(
        &[
            6., 6., 6., 6., 7., 9., 10., 10., 11., 13., 16., 17., 19., 20., 22., 23., 25., 32.,
            32., 34., 35.,
        ],
        &[
            1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0,
        ],
    );
    check_km(
        "6-MP",
        &sixmp,
        (
            &[
                (
                    6.0,
                    0.857142857142857,
                    0.6197179552659838,
                    0.9515517476469969,
                ),
                (
                    7.0,
                    0.8067226890756299,
                    0.5631465646222333,
                    0.9228090192028802,
                ),
                (
                    10.0,
                    0.7529411764705878,
                    0.5031995107999564,
                    0.8893618351692651,
                ),
                (
                    13.0,
                    0.6901960784313722,
                    0.4316102224861839,
                    0.8490659633494505,
                ),
                (
                    16.0,
                    0.6274509803921566,
                    0.36751085598750194,
                    0.8049121894718411,
                ),
                (
                    22.0,
                    0.5378151260504199,
                    0.26777893676713493,
                    0.7467907176353943,
                ),
                (
                    23.0,
                    0.44817927170868327,
                    0.18805200595923233,
                    0.6801426284952412,
                ),
            ],
            Some(23.0),
            (Some(13.0), None),
        ),
    );
    // Events and censorings at the same times: events first.
    let ties = obs(
        &[3., 3., 3., 5., 5., 8., 8., 8., 12., 12., 15., 20.],
        &[1, 0, 1, 1, 0, 1, 1, 0, 0, 1, 0, 0],
    );
    check_km(
        "ties",
        &ties,
        (
            &[
                (
                    3.0,
                    0.8333333333333335,
                    0.48171494219537864,
                    0.955509365728065,
                ),
                (
                    5.0,
                    0.7407407407407406,
                    0.39067612760778186,
                    0.9086238694040617,
                ),
                (
                    8.0,
                    0.529100529100529,
                    0.20509338256378892,
                    0.774312106149214,
                ),
                (
                    12.0,
                    0.3968253968253968,
                    0.10843653257001402,
                    0.6807746827971746,
                ),
            ],
            Some(12.0),
            (Some(3.0), None),
        ),
    );
    // Heavy censoring at the trial's end: the median is not reached.
    let heavy = obs(
        &[1.5, 2.0, 2.0, 4.5, 6.0, 60.0, 60.0, 60.0, 60.0, 60.0],
        &[1, 1, 0, 1, 1, 0, 0, 0, 0, 0],
    );
    check_km(
        "heavy",
        &heavy,
        (
            &[
                (
                    1.5,
                    0.8999999999999999,
                    0.47300927136205084,
                    0.985281393367343,
                ),
                (
                    2.0,
                    0.7999999999999997,
                    0.40869078163340444,
                    0.9458726458389115,
                ),
                (
                    4.5,
                    0.6857142857142855,
                    0.3045850742018473,
                    0.8871484950277073,
                ),
                (
                    6.0,
                    0.5714285714285712,
                    0.21719270238228386,
                    0.8145721379207792,
                ),
            ],
            None,
            (Some(1.5), None),
        ),
    );
    // The curve reaches 0: the band is 0 there and the CI closes.
    let early = obs(
        &[0.8, 1.1, 1.1, 2.4, 3.0, 3.0, 4.2, 5.9, 7.7, 9.5],
        &[1, 1, 1, 1, 0, 1, 1, 1, 0, 1],
    );
    check_km(
        "early",
        &early,
        (
            &[
                (
                    0.8,
                    0.8999999999999999,
                    0.47300927136205084,
                    0.985281393367343,
                ),
                (
                    1.1,
                    0.6999999999999998,
                    0.3287165932797348,
                    0.8919490412248441,
                ),
                (
                    2.4,
                    0.5999999999999999,
                    0.2526688970038936,
                    0.8272209670285114,
                ),
                (
                    3.0,
                    0.49999999999999983,
                    0.18360559061901463,
                    0.7531740769982297,
                ),
                (
                    4.2,
                    0.37499999999999994,
                    0.09948961762075474,
                    0.6591025149266403,
                ),
                (
                    5.9,
                    0.24999999999999994,
                    0.04077423442823536,
                    0.5484705707197509,
                ),
                (9.5, 0.0, 0.0, 0.0),
            ],
            Some(3.0),
            (Some(0.8), Some(9.5)),
        ),
    );
}

#[test]
fn the_sign_test_matches_scipy_binomtest() {
    for (k, n, p) in [
        (14, 18, 0.0308837890625),
        (3, 12, 0.14599609375),
        (9, 9, 0.00390625),
        (0, 7, 0.015625),
        (20, 20, 1.9073486328125e-06),
    ] {
        assert!(close(binomial_two_sided_half(k, n), p), "{k} of {n}");
    }
}

#[test]
fn censored_pairs_score_only_when_the_order_is_known() {
    let e = |time| Observation { time, event: true };
    let c = |time| Observation { time, event: false };
    // (baseline, treatment)
    let pairs = [
        (e(10.0), e(4.0)),  // treatment first
        (e(3.0), e(9.0)),   // baseline first
        (c(60.0), e(12.0)), // treatment reacted, baseline never: treatment first
        (e(20.0), c(60.0)), // baseline first
        (c(60.0), c(60.0)), // neither: unknown
        (c(5.0), e(30.0)),  // baseline censored early: unknown
        (e(7.0), e(7.0)),   // tie
    ];
    let s = paired_censored_sign_test(&pairs).unwrap();
    assert_eq!(
        (s.treatment_first, s.baseline_first, s.undetermined),
        (2, 2, 3)
    );
    assert!(close(s.p_value, 1.0));
    let all_first: Vec<_> = (0..9).map(|i| (c(60.0), e(f64::from(i)))).collect();
    let s = paired_censored_sign_test(&all_first).unwrap();
    assert!(close(s.p_value, 0.00390625), "{s:?}");
    assert!(paired_censored_sign_test(&[]).is_none());
}
