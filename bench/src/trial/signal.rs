//! Signal pipelines: the sample-and-hold stages between what a pod does and
//! what a policy reads.
//!
//! A policy declares the per-pod signals it reads ([`scaler::Policy::signals`]).
//! Each signal reaches it through a pipeline of stages, each with a period,
//! a phase and a window ([`pipeline`]); where a backend has no real stage of
//! its own the engine applies the stage itself, the same way on every such
//! backend, and the trial records every stage (table `trial_signals`).
//!
//! | signal | simulator | local | k8s |
//! |---|---|---|---|
//! | CPU usage | [`MetricsServer`], emulated | [`MetricsServer`], emulated over procfs CPU | the cluster's metrics-server |
//! | GPU utilisation | the device's busy share of each whole second, emulated | the replica's `/metrics.json` (NVML or device-busy) | the pod's `/metrics.json` |
//! | in-flight | the pod's queue at the tick, emulated | `/metrics.json` | `/metrics.json` |
//! | mean latency | over `sim.latency_window_s`, emulated | `/metrics.json`, the same window | `/metrics.json`, the deployment's window |
//! | exported GPU utilisation | the device's busy share of each second, then [`ExportChain`], emulated | the replica's per-second `/metrics.json` reading, then [`ExportChain`], emulated | (not run: the k8s base deploys no exporter) |
//!
//! Every value the pod endpoint gives is read when the policy ticks (the
//! controller's clock in `trial_clocks`), so that read is not a stage.
//!
//! [`MetricsServer`] is metrics-server's CPU rule as `docs/hpa.md` §10
//! describes it: a scrape every resolution, from the trial's seeded scrape
//! phase; each container's usage is its mean rate between its last two
//! scrapes, rounded up to a whole millicore; a container between 10 s and
//! one resolution old at its first scrape gets a synthetic (start, 0 CPU)
//! point, so it has a value after one scrape; a new container begins a new
//! series ([`CpuSeries::restart`]).

use scaler::{PodObservation, Signal};
use serde::Serialize;

use crate::campaign::SimParams;
use crate::clocks::{PeriodicClock, TrialClocks};
use crate::trial::timeline::TrialTime;

/// The simulator's clock, integer microseconds.
impl TrialTime for i64 {
    fn secs_from(self, t0: i64) -> f64 {
        (self - t0) as f64 / 1e6
    }
}

/// The youngest container age at a scrape, seconds, for which
/// metrics-server uses a synthetic (start, 0) point.
pub const SYNTHETIC_POINT_MIN_AGE_S: f64 = 10.0;

/// metrics-server's CPU stage.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricsServer {
    /// Its scrapes: every resolution, from the trial's scrape phase.
    pub scrape: PeriodicClock,
}

impl MetricsServer {
    /// The stage of a trial with these clocks.
    pub fn of(clocks: &TrialClocks) -> MetricsServer {
        MetricsServer {
            scrape: clocks.scrape,
        }
    }

    /// How long before the trial's start its first replicas must already
    /// run for two of its scrapes to fall before the start, seconds
    /// (2 × period − phase): what a replica running since before the trial
    /// has on a cluster, and what the simulator's initial pods have.
    pub fn history_s(&self) -> f64 {
        (2.0 * self.scrape.period_s - self.scrape.first_s).max(0.0)
    }

    /// How long a real backend waits from its initial replicas being ready
    /// to the trial's start: at least `at_least_s`, and [`Self::history_s`]
    /// so that the scrapes at t0 − history and one period later fall on
    /// ready replicas.
    pub fn settle_s(&self, at_least_s: f64) -> f64 {
        at_least_s.max(self.history_s())
    }
}

/// What metrics-server serves for one container.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CpuMetric<T> {
    /// Mean usage over the window, whole millicores rounded up.
    pub millicores: u64,
    /// The newer scrape's time.
    pub timestamp: T,
    /// Seconds between the two points.
    pub window_s: f64,
}

impl<T: TrialTime> CpuMetric<T> {
    /// Writes the metric into a pod's observation, its timestamp in
    /// seconds from `t0`.
    pub fn fill(&self, obs: &mut PodObservation, t0: T) {
        obs.cpu_usage_m = Some(self.millicores);
        obs.metric_timestamp = Some(self.timestamp.secs_from(t0));
        obs.metric_window = Some(self.window_s);
    }
}

/// One container's series at metrics-server: its last two scrapes of
/// cumulative CPU seconds, and the metric they give.
#[derive(Clone, Debug, PartialEq)]
pub struct CpuSeries<T> {
    prev: Option<(T, f64)>,
    last: Option<(T, f64)>,
    metric: Option<CpuMetric<T>>,
}

impl<T> Default for CpuSeries<T> {
    fn default() -> Self {
        CpuSeries {
            prev: None,
            last: None,
            metric: None,
        }
    }
}

impl<T: TrialTime> CpuSeries<T> {
    /// A series with two scrapes behind it and the metric it serves (the
    /// simulator's pods that ran before the trial began).
    pub fn with_history(prev: (T, f64), last: (T, f64), metric: CpuMetric<T>) -> Self {
        CpuSeries {
            prev: Some(prev),
            last: Some(last),
            metric: Some(metric),
        }
    }

    /// A scrape at `at` reading `cum_cpu_s` CPU seconds since the container
    /// started at `started` (`None`: unknown, no synthetic point).
    pub fn scrape(&mut self, at: T, cum_cpu_s: f64, started: Option<T>, stage: &MetricsServer) {
        self.prev = self.last.replace((at, cum_cpu_s));
        self.metric = match (self.prev, started) {
            (Some((t0, c0)), _) => {
                let window_s = at.secs_from(t0);
                Some(CpuMetric {
                    millicores: millicores(cum_cpu_s - c0, window_s),
                    timestamp: at,
                    window_s,
                })
            }
            (None, Some(start)) => {
                let age_s = at.secs_from(start);
                (age_s >= SYNTHETIC_POINT_MIN_AGE_S && age_s <= stage.scrape.period_s).then(|| {
                    CpuMetric {
                        millicores: millicores(cum_cpu_s, age_s),
                        timestamp: at,
                        window_s: age_s,
                    }
                })
            }
            (None, None) => None,
        };
    }

    /// What metrics-server serves now; `None` until the series has a value.
    pub fn metric(&self) -> Option<CpuMetric<T>> {
        self.metric
    }

    /// A new container (a restart, or a pod starting): a new series.
    pub fn restart(&mut self) {
        *self = CpuSeries::default();
    }
}

/// Mean millicores of `core_seconds` over `window_s`, rounded up to a whole
/// millicore (a hair under an exact integer stays that integer).
pub fn millicores(core_seconds: f64, window_s: f64) -> u64 {
    if window_s <= 0.0 {
        return 0;
    }
    (core_seconds / window_s * 1000.0 - 1e-9).ceil().max(0.0) as u64
}

/// The DCGM exporter → Prometheus → prometheus-adapter chain between a
/// pod's GPU utilisation and a policy that reads it as a custom metric
/// (`docs/hpa.md` §12): the exporter collects every
/// `sim.dcgm_collect_interval_s` and serves its latest collection,
/// Prometheus scrapes it every `sim.prometheus_scrape_interval_s` (phases
/// drawn per seed, [`crate::clocks`]), and the adapter answers each sync
/// with the latest scraped sample. A pod's value at a sync at `t` is so the
/// reading of the last whole second at or before the last collection at or
/// before the last scrape at or before `t` ([`ExportChain::source_s`]); a
/// pod without a reading then (not yet started) has no value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExportChain {
    /// The exporter's collections.
    pub collect: PeriodicClock,
    /// Prometheus' scrapes.
    pub scrape: PeriodicClock,
}

/// The last tick of `c` at or before `t` (ticks continue before 0).
fn last_tick(c: PeriodicClock, t: f64) -> f64 {
    c.first_s + ((t - c.first_s) / c.period_s).floor() * c.period_s
}

impl ExportChain {
    /// The chain of a trial with these clocks.
    pub fn of(clocks: &TrialClocks) -> ExportChain {
        ExportChain {
            collect: clocks.dcgm_collect,
            scrape: clocks.prometheus_scrape,
        }
    }

    /// The chain when the policy reads through it (`signals` holds
    /// [`Signal::ExportedGpuUtilization`]).
    pub fn for_signals(signals: &[Signal], clocks: &TrialClocks) -> Option<ExportChain> {
        signals
            .contains(&Signal::ExportedGpuUtilization)
            .then(|| ExportChain::of(clocks))
    }

    /// The instant, seconds from the trial's start, whose reading a sync
    /// at `t_s` gets: the last collection before the last scrape.
    pub fn source_s(&self, t_s: f64) -> f64 {
        last_tick(self.collect, last_tick(self.scrape, t_s))
    }
}

/// A pod's per-second readings of what a cluster's metrics pipeline
/// samples from it: its GPU's utilisation (for the DCGM exporter) and its
/// in-flight gauge (for Prometheus).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodSeries {
    /// GPU utilisation, percent.
    pub gpu: SecondSeries,
    /// Requests in the pod, queued or running.
    pub in_flight: SecondSeries,
}

impl PodSeries {
    /// A pod that ran before the trial, idle: nothing in flight and, with a
    /// GPU, its device at 0 %.
    pub fn idle_before(has_gpu: bool) -> PodSeries {
        PodSeries {
            gpu: if has_gpu {
                SecondSeries::running_before(0.0)
            } else {
                SecondSeries::default()
            },
            in_flight: SecondSeries::running_before(0.0),
        }
    }

    /// The readings of second `k` (from 1).
    pub fn record(&mut self, k: u32, gpu: Option<f64>, in_flight: Option<f64>) {
        self.gpu.record(k, gpu);
        self.in_flight.record(k, in_flight);
    }
}

/// The emulated metrics pipelines a trial's policy reads through, between
/// the pods' per-second readings ([`PodSeries`]) and the observation.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Pipelines {
    /// The exported GPU utilisation, when the policy reads it.
    pub export: Option<ExportChain>,
    /// Prometheus' scrapes of the pods' in-flight gauge, when the policy
    /// reads it ([`Signal::ScrapedInFlight`]).
    pub scrape: Option<PeriodicClock>,
}

impl Pipelines {
    /// The pipelines of a policy reading `signals` in a trial with these
    /// clocks.
    pub fn for_signals(signals: &[Signal], clocks: &TrialClocks) -> Pipelines {
        Pipelines {
            export: ExportChain::for_signals(signals, clocks),
            scrape: signals
                .contains(&Signal::ScrapedInFlight)
                .then_some(clocks.prometheus_scrape),
        }
    }

    /// Whether the pods' per-second readings are needed.
    pub fn records(&self) -> bool {
        self.export.is_some() || self.scrape.is_some()
    }

    /// Puts what the pipelines hold at the observation's time into each
    /// pod: the exported GPU utilisation into `gpu_utilization`, and the
    /// in-flight count Prometheus last scraped into `in_flight`; `series`
    /// are the pods' readings in the observation's pod order.
    pub fn fill<'a>(
        &self,
        obs: &mut scaler::Observation,
        series: impl IntoIterator<Item = &'a PodSeries>,
    ) {
        let gpu_at = self.export.map(|c| c.source_s(obs.time));
        let scraped_at = self.scrape.map(|c| last_tick(c, obs.time));
        for (pod, s) in obs.pods.iter_mut().zip(series) {
            if let Some(at) = gpu_at {
                pod.gpu_utilization = s.gpu.at(at);
            }
            if let Some(at) = scraped_at {
                pod.in_flight = s.in_flight.at(at).map(|v| v.max(0.0) as u32);
            }
        }
    }
}

/// One pod's per-second readings of a signal: second `k` is the reading
/// taken at the end of `(k − 1, k]` seconds from the trial's start.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SecondSeries {
    /// The reading before the trial (a pod that ran before it).
    before: Option<f64>,
    values: Vec<Option<f64>>,
}

impl SecondSeries {
    /// A pod that ran, reading `v`, before the trial began.
    pub fn running_before(v: f64) -> SecondSeries {
        SecondSeries {
            before: Some(v),
            values: Vec::new(),
        }
    }

    /// The reading of second `k` (from 1).
    pub fn record(&mut self, k: u32, v: Option<f64>) {
        let i = k.max(1) as usize - 1;
        if self.values.len() <= i {
            self.values.resize(i + 1, None);
        }
        self.values[i] = v;
    }

    /// The reading of the last whole second ending at or before `t_s`.
    pub fn at(&self, t_s: f64) -> Option<f64> {
        let k = t_s.floor();
        if k < 1.0 {
            return self.before;
        }
        self.values.get(k as usize - 1).copied().flatten()
    }
}

/// Where a trial runs, as far as its signal pipelines go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    /// The embedded simulator: every stage emulated.
    Sim,
    /// Replicas on this machine: the pods measure themselves, metrics-server
    /// is emulated.
    Local,
    /// A cluster: every stage real.
    Cluster,
}

/// One stage of one signal's pipeline: a row of table `trial_signals`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StageRecord {
    /// The signal.
    pub signal: Signal,
    /// Position in the pipeline, 0 nearest the pod.
    pub stage: u32,
    /// `metrics_server`, `device_sampler`, `pod_endpoint`, `dcgm_exporter`,
    /// `prometheus`, `prometheus_adapter` or `keda_metrics_server`.
    pub name: &'static str,
    /// Seconds between its samples; `None`: read when asked.
    pub period_s: Option<f64>,
    /// Its samples fall at `first_s + k * period_s`; `None` where not
    /// known (a cluster's own metrics-server) or without a period.
    pub first_s: Option<f64>,
    /// Seconds each value covers; `None` for an instantaneous value or
    /// where not known.
    pub window_s: Option<f64>,
    /// The bench applies this stage itself (`false`: a real one).
    pub emulated: bool,
}

/// The pipelines of `signals` in a trial with these clocks and parameters.
pub fn pipeline(
    signals: &[Signal],
    site: Site,
    clocks: &TrialClocks,
    sim: &SimParams,
) -> Vec<StageRecord> {
    let endpoint = |signal, window_s| StageRecord {
        signal,
        stage: 0,
        name: "pod_endpoint",
        period_s: None,
        first_s: None,
        window_s,
        emulated: site == Site::Sim,
    };
    signals
        .iter()
        .flat_map(|&signal| match signal {
            Signal::CpuUsage => {
                let emulated = site != Site::Cluster;
                vec![StageRecord {
                    signal,
                    stage: 0,
                    name: "metrics_server",
                    period_s: emulated.then_some(clocks.scrape.period_s),
                    first_s: emulated.then_some(clocks.scrape.first_s),
                    window_s: emulated.then_some(clocks.scrape.period_s),
                    emulated,
                }]
            }
            Signal::GpuUtilization if site == Site::Sim => vec![device_sampler(signal)],
            Signal::GpuUtilization | Signal::InFlight => vec![endpoint(signal, None)],
            // A cluster's workload has its own deployment's window.
            Signal::AvgLatency => vec![endpoint(
                signal,
                (site != Site::Cluster).then_some(sim.latency_window_s),
            )],
            Signal::ExportedGpuUtilization => export_stages(site, clocks),
            Signal::ScrapedInFlight => scrape_stages(site, clocks),
        })
        .collect()
}

/// The stages of [`Signal::ScrapedInFlight`]: the pod's in-flight gauge
/// read each second (the simulator's count, a replica's `/metrics.json`),
/// Prometheus' scrape, and KEDA's metrics server answering each sync with
/// the query over the latest scrape.
fn scrape_stages(site: Site, clocks: &TrialClocks) -> Vec<StageRecord> {
    let signal = Signal::ScrapedInFlight;
    let emulated = site != Site::Cluster;
    let clock = emulated.then_some(clocks.prometheus_scrape);
    vec![
        StageRecord {
            signal,
            stage: 0,
            name: "pod_endpoint",
            period_s: Some(1.0).filter(|_| emulated),
            first_s: Some(0.0).filter(|_| emulated),
            window_s: None,
            emulated: site == Site::Sim,
        },
        StageRecord {
            signal,
            stage: 1,
            name: "prometheus",
            period_s: clock.map(|c| c.period_s),
            first_s: clock.map(|c| c.first_s),
            window_s: None,
            emulated,
        },
        StageRecord {
            signal,
            stage: 2,
            name: "keda_metrics_server",
            period_s: None,
            first_s: None,
            window_s: None,
            emulated,
        },
    ]
}

/// The simulator's GPU stage: the device's busy share of each whole second.
fn device_sampler(signal: Signal) -> StageRecord {
    StageRecord {
        signal,
        stage: 0,
        name: "device_sampler",
        period_s: Some(1.0),
        first_s: Some(0.0),
        window_s: Some(1.0),
        emulated: true,
    }
}

/// The stages of [`Signal::ExportedGpuUtilization`]: the per-second
/// reading (the simulator's device sampler, a replica's `/metrics.json`),
/// the exporter's collection, Prometheus' scrape and the adapter's answer
/// at each sync. A cluster's would be real, their phases unknown.
fn export_stages(site: Site, clocks: &TrialClocks) -> Vec<StageRecord> {
    let signal = Signal::ExportedGpuUtilization;
    let emulated = site != Site::Cluster;
    let stage = |stage, name, clock: Option<PeriodicClock>| StageRecord {
        signal,
        stage,
        name,
        period_s: clock.filter(|_| emulated).map(|c| c.period_s),
        first_s: clock.filter(|_| emulated).map(|c| c.first_s),
        window_s: None,
        emulated,
    };
    let reading = if site == Site::Sim {
        device_sampler(signal)
    } else {
        StageRecord {
            name: "pod_endpoint",
            window_s: None,
            emulated: false,
            ..device_sampler(signal)
        }
    };
    vec![
        reading,
        stage(1, "dcgm_exporter", Some(clocks.dcgm_collect)),
        stage(2, "prometheus", Some(clocks.prometheus_scrape)),
        stage(3, "prometheus_adapter", None),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn stage() -> MetricsServer {
        MetricsServer {
            scrape: PeriodicClock {
                period_s: 15.0,
                first_s: 4.0,
            },
        }
    }

    #[test]
    fn a_real_trial_waits_for_two_scrapes_of_its_ready_replicas() {
        for (period_s, first_s, at_least_s) in [
            (15.0, 0.0, 1.0),
            (15.0, 14.9, 1.0),
            (5.0, 4.84, 1.0),
            (5.0, 2.0, 30.0),
        ] {
            let stage = MetricsServer {
                scrape: crate::clocks::PeriodicClock { period_s, first_s },
            };
            let settle = stage.settle_s(at_least_s);
            assert!(settle >= at_least_s);
            // From the replicas being ready (0) to t0 (settle): the scrapes
            // at t0 − history and one period later, both after 0 and
            // before the first scrape of the trial itself (t0 + first).
            let first = settle - stage.history_s();
            let second = first + period_s;
            assert!(first >= 0.0, "{period_s} {first_s}: {first}");
            assert!(second <= settle + first_s, "{period_s} {first_s}");
            assert!((settle + first_s - second - period_s).abs() < 1e-9);
        }
    }

    #[test]
    fn the_metric_is_the_mean_between_the_last_two_scrapes_rounded_up() {
        let s = stage();
        let mut c = CpuSeries::<f64>::default();
        // Started long before: no synthetic point, no value after one scrape.
        c.scrape(4.0, 100.0, Some(-600.0), &s);
        assert_eq!(c.metric(), None);
        c.scrape(19.0, 103.0, Some(-600.0), &s);
        let m = c.metric().unwrap();
        assert_eq!((m.millicores, m.timestamp, m.window_s), (200, 19.0, 15.0));
        // 0.0015 cores rounds up to 2 m; an exact 3 m stays 3.
        c.scrape(34.0, 103.0225, None, &s);
        assert_eq!(c.metric().unwrap().millicores, 2);
        c.scrape(49.0, 103.0675, None, &s);
        assert_eq!(c.metric().unwrap().millicores, 3);
    }

    #[test]
    fn a_young_container_gets_a_synthetic_start_point_between_10_s_and_one_resolution() {
        let s = stage();
        for (age, want) in [
            (9.9, None),
            (10.0, Some(100)),
            (15.0, Some(100)),
            (15.1, None),
        ] {
            let mut c = CpuSeries::<f64>::default();
            c.scrape(100.0, age * 0.1, Some(100.0 - age), &s);
            assert_eq!(c.metric().map(|m| m.millicores), want, "age {age}");
            if let Some(m) = c.metric() {
                assert_eq!(m.window_s, age);
            }
        }
        // Unknown start: none.
        let mut c = CpuSeries::<f64>::default();
        c.scrape(100.0, 1.0, None, &s);
        assert_eq!(c.metric(), None);
    }

    #[test]
    fn a_restart_begins_a_new_series() {
        let s = stage();
        let mut c = CpuSeries::<f64>::default();
        c.scrape(4.0, 1.0, None, &s);
        c.scrape(19.0, 2.0, None, &s);
        assert!(c.metric().is_some());
        c.restart();
        assert_eq!(c, CpuSeries::default());
    }

    #[test]
    fn microseconds_and_seconds_give_the_same_metric() {
        let s = stage();
        let mut a = CpuSeries::<i64>::default();
        let mut b = CpuSeries::<f64>::default();
        for (k, cum) in [(0, 0.0), (1, 1.7), (2, 3.1)] {
            a.scrape(4_000_000 + k * 15_000_000, cum, None, &s);
            b.scrape(4.0 + k as f64 * 15.0, cum, None, &s);
        }
        let (ma, mb) = (a.metric().unwrap(), b.metric().unwrap());
        assert_eq!(ma.millicores, mb.millicores);
        assert_eq!(ma.window_s, mb.window_s);
        let mut o = PodObservation::bare("p", scaler::PodPhase::Running);
        ma.fill(&mut o, 0);
        assert_eq!(o.metric_timestamp, Some(34.0));
        assert_eq!(o.cpu_usage_m, Some(94));
    }

    #[test]
    fn each_declared_signal_has_its_pipeline_and_only_the_cluster_has_a_real_metrics_server() {
        let sim = SimParams::default();
        let clocks = TrialClocks::draw(3, "hpa", 15.0, &sim);
        let hpa = scaler::PolicyConfig::Hpa(scaler::hpa::HpaConfig::new(1, 6, 40)).build();
        for site in [Site::Sim, Site::Local, Site::Cluster] {
            let p = pipeline(hpa.signals(), site, &clocks, &sim);
            assert_eq!(p.len(), 1);
            assert_eq!(p[0].name, "metrics_server");
            assert_eq!(p[0].emulated, site != Site::Cluster);
            if site != Site::Cluster {
                assert_eq!(p[0].first_s, Some(clocks.scrape.first_s));
                assert_eq!(p[0].period_s, Some(sim.metric_resolution_s));
            }
        }
        let all = pipeline(&Signal::ALL, Site::Local, &clocks, &sim);
        let names: Vec<_> = all.iter().map(|r| (r.signal, r.name, r.emulated)).collect();
        assert_eq!(
            names,
            [
                (Signal::CpuUsage, "metrics_server", true),
                (Signal::GpuUtilization, "pod_endpoint", false),
                (Signal::InFlight, "pod_endpoint", false),
                (Signal::AvgLatency, "pod_endpoint", false),
                (Signal::ExportedGpuUtilization, "pod_endpoint", false),
                (Signal::ExportedGpuUtilization, "dcgm_exporter", true),
                (Signal::ExportedGpuUtilization, "prometheus", true),
                (Signal::ExportedGpuUtilization, "prometheus_adapter", true),
                (Signal::ScrapedInFlight, "pod_endpoint", false),
                (Signal::ScrapedInFlight, "prometheus", true),
                (Signal::ScrapedInFlight, "keda_metrics_server", true),
            ]
        );
        assert_eq!(all[3].window_s, Some(sim.latency_window_s));
        // The in-flight gauge is read each second, scraped at the seeded phase.
        let scraped: Vec<_> = all[8..]
            .iter()
            .map(|r| (r.stage, r.period_s, r.first_s))
            .collect();
        assert_eq!(
            scraped,
            [
                (0, Some(1.0), Some(0.0)),
                (1, Some(15.0), Some(clocks.prometheus_scrape.first_s)),
                (2, None, None),
            ]
        );
        let stages: Vec<_> = all[5..8]
            .iter()
            .map(|r| (r.stage, r.period_s, r.first_s))
            .collect();
        assert_eq!(
            stages,
            [
                (1, Some(30.0), Some(clocks.dcgm_collect.first_s)),
                (2, Some(15.0), Some(clocks.prometheus_scrape.first_s)),
                (3, None, None),
            ]
        );
        // On a cluster the stages would be real, their phases unknown.
        let real = pipeline(
            &[Signal::ExportedGpuUtilization],
            Site::Cluster,
            &clocks,
            &sim,
        );
        assert!(real
            .iter()
            .all(|r| !r.emulated && r.first_s.is_none() || r.stage == 0));
    }

    #[test]
    fn the_export_chain_serves_the_collection_before_the_last_scrape() {
        let chain = ExportChain {
            collect: PeriodicClock {
                period_s: 30.0,
                first_s: 7.0,
            },
            scrape: PeriodicClock {
                period_s: 15.0,
                first_s: 4.0,
            },
        };
        // Scrapes at 4, 19, 34, 49, …; collections at 7, 37, 67, … (and −23).
        for (t, want) in [
            (3.9, -23.0), // last scrape −11: collection −23
            (4.0, -23.0), // scrape 4 sees the collection of −23
            (18.9, -23.0),
            (19.0, 7.0), // scrape 19 sees 7
            (36.9, 7.0), // scrape 34 still sees 7
            (49.0, 37.0),
            (64.0, 37.0),
            (79.0, 67.0),
        ] {
            assert_eq!(chain.source_s(t), want, "t = {t}");
        }
        // Mean staleness over a long run: t − scrape averages 7.5 s, and
        // with these phases scrape − collection alternates 27 s and 12 s:
        // 7.5 + 19.5 = 27 s.
        let n = 100_000;
        let lag: f64 = (0..n)
            .map(|i| {
                let t = 100.0 + f64::from(i) * 0.0137;
                t - chain.source_s(t)
            })
            .sum::<f64>()
            / f64::from(n);
        assert!((lag - 27.0).abs() < 0.1, "{lag}");
    }

    #[test]
    fn a_second_series_gives_the_last_whole_second_and_nothing_before_a_pod_ran() {
        let mut s = SecondSeries::default();
        s.record(3, Some(40.0));
        s.record(4, None);
        s.record(5, Some(90.0));
        assert_eq!(s.at(0.5), None);
        assert_eq!(s.at(2.9), None);
        assert_eq!(s.at(3.0), Some(40.0));
        assert_eq!(s.at(3.99), Some(40.0));
        assert_eq!(s.at(4.5), None);
        assert_eq!(s.at(5.2), Some(90.0));
        assert_eq!(s.at(60.0), None, "beyond the readings");
        let before = SecondSeries::running_before(0.0);
        assert_eq!(before.at(-20.0), Some(0.0));
        assert_eq!(before.at(0.99), Some(0.0));
    }
}
