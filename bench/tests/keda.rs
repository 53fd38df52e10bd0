//! A `keda` arm (a KEDA-style ScaledObject on `sum(in_flight)`,
//! `docs/hpa.md` §13) runs in the simulator like any arm: its decisions are
//! the generated HPA's on the external metric, consistent with the inputs
//! they record, and every value it used is the sum of the pods' in-flight
//! gauges at Prometheus' last scrape before the sync.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use bench::sim::{run_trial, TrialInput};
use bench::trial::signal::Site;
use scaler::{ControllerKind, PolicyConfig, Signal};

#[test]
fn a_keda_arm_scales_on_the_scraped_in_flight_requests() {
    let mut campaign = testkit::campaign_with_seeds("default", 1);
    let policy = PolicyConfig::load(testkit::root().join("data/policies/keda.toml")).unwrap();
    campaign.arms.insert("keda".into(), policy);
    let plan = campaign.plan();
    let trials: Vec<_> = plan.iter().filter(|t| t.arm == "keda").collect();
    assert!(!trials.is_empty());
    let (mut scaled_up, mut checked) = (0, 0);
    for t in trials {
        let stages = t.signal_stages(Site::Sim);
        let names: Vec<_> = stages.iter().map(|s| (s.signal, s.name)).collect();
        let s = Signal::ScrapedInFlight;
        assert_eq!(
            names,
            [
                (s, "pod_endpoint"),
                (s, "prometheus"),
                (s, "keda_metrics_server")
            ]
        );
        let scrape = t.clocks.prometheus_scrape;
        assert_eq!(stages[1].period_s, Some(scrape.period_s));
        assert_eq!(stages[1].first_s, Some(scrape.first_s));
        let out = run_trial(&TrialInput::of(t)).unwrap();
        // Requests in each ready pod per second, as the trial sampled them.
        let gauge: HashMap<(u32, u64), u32> = out
            .pod_samples
            .iter()
            .filter(|p| p.ready)
            .map(|p| ((p.pod, p.t_s as u64), p.in_flight + p.queued))
            .collect();
        let (min, max) = (t.spec().min_replicas, t.spec().max_replicas);
        assert!(!out.decisions.is_empty());
        for d in &out.decisions {
            assert_eq!(d.controller, ControllerKind::Keda);
            assert!(min <= d.desired && d.desired <= max, "{d:?}");
            let inputs: serde_json::Value = serde_json::from_str(&d.inputs_json).unwrap();
            // The last scrape at or before the sync.
            let k = ((d.t_s - scrape.first_s) / scrape.period_s).floor();
            let scraped = scrape.first_s + k * scrape.period_s;
            // The pods the sync saw: created, not yet gone.
            let seen = out
                .pods
                .iter()
                .filter(|p| p.created_s <= d.t_s && p.exited_s.is_none_or(|e| e > d.t_s));
            let want: u32 = seen
                .map(|p| {
                    if scraped < 1.0 {
                        0
                    } else {
                        gauge
                            .get(&(p.pod, scraped.floor() as u64))
                            .copied()
                            .unwrap_or(0)
                    }
                })
                .sum();
            assert_eq!(
                inputs["value"].as_f64(),
                Some(f64::from(want)),
                "{} at {} s (scrape {scraped} s)",
                d.reason,
                d.t_s
            );
            checked += 1;
            // Outside the band the proposal is ⌈value / threshold⌉.
            if let (Some(usage), Some(status), Some(p)) = (
                inputs["usage_milli"].as_i64(),
                inputs["status_replicas"].as_u64(),
                inputs["proposal"].as_u64(),
            ) {
                let ratio = usage as f64 / (4000.0 * status as f64);
                if (0.9..=1.1).contains(&ratio) {
                    assert_eq!(p, status, "{}", d.reason);
                } else {
                    assert_eq!(p, (usage as f64 / 4000.0).ceil() as u64, "{}", d.reason);
                }
            }
            scaled_up += usize::from(d.desired > d.current);
        }
    }
    assert!(scaled_up > 0);
    assert!(checked > 20, "{checked}");
}
