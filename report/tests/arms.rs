//! Campaigns with more than two arms: every arm is compared with the
//! baseline under one Holm family per cell, ranked across all arms, and on
//! the leaderboard; adding arms changes nothing of the others' trials; and
//! an eight-arm page stays light.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

use report::compare::{Comparison, ALPHA};
use report::dataset::CampaignData;
use report::metrics::{trial_metrics, METRICS};
use report::report::{build, CampaignReport, ReportOptions};

fn load(db: &Path) -> CampaignData {
    testkit::block_on(async {
        let mut conn = report::dataset::connect_read_only(db).await.unwrap();
        report::dataset::load_campaign(&mut conn, db, 1)
            .await
            .unwrap()
            .unwrap()
    })
}

fn report_of(data: &CampaignData) -> CampaignReport {
    std::thread::scope(|s| {
        s.spawn(|| {
            build(
                data,
                ReportOptions {
                    slo_ms: 1000.0,
                    charts: true,
                },
            )
            .unwrap()
        })
        .join()
        .unwrap()
    })
}

fn all_rows(r: &CampaignReport) -> Vec<&Comparison> {
    r.sections.iter().flat_map(|s| s.rows.iter()).collect()
}

#[test]
fn every_arm_meets_the_baseline_under_one_holm_family_per_cell() {
    let dir = tempfile::tempdir().unwrap();
    let data = load(&testkit::zoo_dataset(dir.path(), 6));
    let names: Vec<&str> = data.arms.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names[0], "hpa", "baseline first");
    let mut others = names[1..].to_vec();
    others.sort_unstable();
    assert_eq!(others, names[1..], "then by name");
    assert!(names.len() >= 3, "{names:?}");
    assert!(data.arms[0].baseline && data.arms[1..].iter().all(|a| !a.baseline));
    assert_eq!(data.arms[1].kind, "hpa-gpu");
    let k = names.len();
    let r = report_of(&data);
    assert_eq!(r.baseline, "hpa");
    let rows = all_rows(&r);
    // One row per cell × metric × arm other than the baseline.
    assert_eq!(rows.len(), r.cells.len() * METRICS.len() * (k - 1));
    for (scenario, profile) in &r.cells {
        let cell: Vec<&&Comparison> = rows
            .iter()
            .filter(|c| &c.scenario == scenario && &c.load_profile == profile)
            .collect();
        for arm in &names[1..] {
            assert_eq!(
                cell.iter()
                    .filter(|c| c.treatment == *arm && c.baseline == "hpa")
                    .count(),
                METRICS.len()
            );
        }
        // Holm over both arms' primary endpoints together.
        let family: Vec<&&&Comparison> = cell
            .iter()
            .filter(|c| c.primary && c.p_value.is_some_and(f64::is_finite))
            .collect();
        let ps: Vec<f64> = family.iter().map(|c| c.p_value.unwrap()).collect();
        let holm = report::stats::holm(&ps);
        let levels = report::compare::step_down_levels(&ps, ALPHA);
        assert!(
            family.len() > 5,
            "{scenario}/{profile}: every arm in the family"
        );
        for (k, c) in family.iter().enumerate() {
            assert_eq!(c.p_holm, Some(holm[k]), "{scenario}/{profile} {}", c.metric);
            if c.ci_level.is_some() {
                assert_eq!(c.ci_level, Some(levels[k]));
            }
        }
    }
    // Every arm in every section's per-arm table and rank test.
    for s in &r.sections {
        for (scenario, profile) in &r.cells {
            for m in &s.metrics {
                let arms: Vec<&str> = s
                    .summaries
                    .iter()
                    .filter(|a| &a.scenario == scenario && &a.load_profile == profile)
                    .filter(|a| a.metric == m.key)
                    .map(|a| a.arm.as_str())
                    .collect();
                assert_eq!(arms, names, "{scenario}/{profile} {}", m.key);
            }
        }
        assert!(s.rank_tests.iter().all(|t| t.arms.len() == k));
    }
    // The leaderboard of each cell holds every arm once, front first.
    assert_eq!(r.leaderboards.len(), r.cells.len());
    assert_eq!(r.serve_charts.len(), r.cells.len());
    for b in &r.leaderboards {
        let mut arms: Vec<&str> = b.rows.iter().map(|x| x.arm.as_str()).collect();
        arms.sort_unstable();
        let mut all = names.clone();
        all.sort_unstable();
        assert_eq!(arms, all);
        let front = b.rows.iter().take_while(|x| x.pareto).count();
        assert!(front >= 1);
        assert!(b.rows[front..].iter().all(|x| !x.pareto), "front first");
        assert!(b
            .slo_test
            .as_ref()
            .is_some_and(|f| f.blocks == 6 && f.arms == k));
        // No arm on the front is dominated by another's medians.
        for x in &b.rows {
            let (Some(s), Some(c)) = (x.slo.median, x.cost.median) else {
                continue;
            };
            let dominated = b.rows.iter().any(|y| {
                let (Some(ys), Some(yc)) = (y.slo.median, y.cost.median) else {
                    return false;
                };
                ys >= s && yc <= c && (ys > s || yc < c)
            });
            assert_eq!(
                x.pareto, !dominated,
                "{}/{} {}",
                b.scenario, b.load_profile, x.arm
            );
        }
    }
}

#[test]
fn adding_arms_changes_nothing_of_the_other_arms_trials() {
    let dir = tempfile::tempdir().unwrap();
    let two = load(&testkit::default_dataset(dir.path(), 4));
    let three = load(&testkit::zoo_dataset(dir.path(), 4));
    let metrics = |d: &CampaignData| {
        let m = std::thread::scope(|s| {
            s.spawn(|| trial_metrics(d, 1000.0).unwrap())
                .join()
                .unwrap()
        });
        m.into_iter()
            .filter(|t| t.arm == "hpa" || t.arm == "userscale")
            .map(|t| {
                (
                    (
                        t.scenario.clone(),
                        t.load_profile.clone(),
                        t.arm.clone(),
                        t.seed,
                    ),
                    format!("{:?}", t.values),
                )
            })
            .collect::<BTreeMap<_, _>>()
    };
    let (a, b) = (metrics(&two), metrics(&three));
    assert_eq!(a.len(), 2 * 6 * 4);
    assert_eq!(a, b);
}

#[test]
fn an_eight_arm_page_stays_light_and_shows_every_arm() {
    let dir = tempfile::tempdir().unwrap();
    let db = testkit::eight_arm_dataset(dir.path(), 6);
    let data = load(&db);
    assert_eq!(data.arms.len(), 8);
    let r = report_of(&data);
    let page = report::pages::CampaignPage {
        r: &r,
        links: report::pages::Links::Server,
        index_href: "/",
        json_href: "report.json",
    };
    let html = askama::Template::render(&page).unwrap();
    let svg: usize = r.charts().map(|c| c.svg.len()).sum();
    eprintln!(
        "eight arms, {} trials: page {} bytes, its {} charts {} bytes",
        r.trials.len(),
        html.len(),
        r.charts().count(),
        svg
    );
    assert!(html.len() <= 3_000_000, "page {} bytes", html.len());
    assert!(!html.contains("<svg"), "charts are files of their own");
    for a in &data.arms {
        assert!(html.contains(&report::finding::display_arm(&a.name)));
    }
    assert!(html.contains("Across all arms"));
    for b in &r.leaderboards {
        assert_eq!(b.rows.len(), 8);
    }
    // Eight colours, one per arm, in every chart with a legend per arm.
    let pareto = r.serve_charts.first().unwrap();
    let colours: std::collections::BTreeSet<String> = report::charts::PALETTE
        .iter()
        .map(|c| format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2))
        .filter(|hex| pareto.svg.contains(hex.as_str()))
        .collect();
    assert_eq!(colours.len(), 8, "{colours:?}");
}
