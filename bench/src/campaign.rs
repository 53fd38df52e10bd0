//! Campaign files (TOML, `data/campaigns/`): scenarios × load profiles ×
//! arms × seeds, the trial duration and warm-up.
//!
//! Loading checks everything before anything is run or written: unknown keys
//! and wrong types are TOML errors with line and column; impossible values
//! (max < min replicas, a cluster without GPUs, a profile that does not
//! exist, arms with different bounds) name the field and its line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clocks::TrialClocks;
use crate::gpu::{GpuProfile, WorkModel};
use crate::profile::LoadProfile;
use crate::trial::signal::{pipeline, Site, StageRecord};
use crate::{Error, Result};

/// A campaign file as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignFile {
    /// Campaign name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Length of each trial, seconds (the original: 90).
    pub duration_s: f64,
    /// Leading seconds the statistics leave out.
    #[serde(default)]
    pub warmup_s: f64,
    /// Seeds each cell runs.
    pub seeds: Seeds,
    /// Seed of the randomised, interleaved trial order.
    #[serde(default)]
    pub order_seed: u64,
    /// Directory of the GPU profiles, relative to the campaign file.
    #[serde(default = "default_profiles_dir")]
    pub gpu_profiles_dir: String,
    /// The scaling policies compared, by arm name. Bounds (min/max
    /// replicas) come from each scenario so that every arm shares them.
    pub arms: BTreeMap<String, toml::Table>,
    /// The arm every other arm is compared against. Default: the arm
    /// named `hpa`, or the only arm of a one-arm campaign.
    #[serde(default)]
    pub baseline: Option<String>,
    /// Load profiles.
    pub profiles: Vec<LoadProfile>,
    /// Scenarios.
    pub scenarios: Vec<ScenarioSpec>,
}

fn default_profiles_dir() -> String {
    "../profiles".into()
}

/// Which seeds run: `first`, `first + 1`, … (`count` of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seeds {
    /// First seed.
    pub first: u64,
    /// Number of seeds.
    pub count: u32,
}

/// One cluster set-up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    /// Unique name within the campaign.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Lowest replica count, shared by both arms.
    pub min_replicas: u32,
    /// Highest replica count, shared by both arms.
    pub max_replicas: u32,
    /// Load profiles (by name) this scenario runs.
    pub profiles: Vec<String>,
    /// Node groups.
    pub nodes: Vec<NodeSpec>,
    /// The workload pod.
    pub pod: PodSpec,
    /// Simulator parameters (every one has a sourced default).
    #[serde(default)]
    pub sim: SimParams,
    /// How requests become device work.
    #[serde(default)]
    pub work: WorkModel,
}

/// A group of identical nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Name prefix.
    pub name: String,
    /// How many such nodes.
    #[serde(default = "one")]
    pub count: u32,
    /// Allocatable CPU, cores.
    pub cpu_cores: f64,
    /// Physical GPUs per node.
    #[serde(default)]
    pub gpus: u32,
    /// GPU profile name (file stem in the profiles directory).
    #[serde(default)]
    pub gpu_profile: Option<String>,
    /// Time-slicing replicas per GPU (device plugin `replicas`; 1 = none).
    #[serde(default = "one")]
    pub time_slicing_replicas: u32,
}

fn one() -> u32 {
    1
}

/// How a thread waits for the GPU: decides the CPU a waiting thread burns.
/// A campaign names a definite mode (`spin`, `yield`, `blocking-sync`;
/// `blocking` is read as `blocking-sync`); `auto` is refused.
pub use contract::WaitMode;

/// The workload pod template.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodSpec {
    /// CPU request, millicores (the HPA's denominator).
    pub cpu_request_m: u32,
    /// CPU limit, millicores (CFS quota).
    pub cpu_limit_m: u32,
    /// Worker threads serving requests.
    pub workers: u32,
    /// Bounded FIFO queue; a full queue answers 503.
    pub queue_capacity: u32,
    /// GPU wait mode of the workload.
    pub wait_mode: WaitMode,
    /// Host CPU work per request before the GPU phase (parsing, set-up),
    /// core-milliseconds.
    #[serde(default = "default_pre_cpu_ms")]
    pub pre_cpu_ms: f64,
    /// Host CPU work per request after the GPU phase (checksum, response),
    /// core-milliseconds.
    #[serde(default = "default_post_cpu_ms")]
    pub post_cpu_ms: f64,
    /// CPU the idle server uses, millicores.
    #[serde(default = "default_idle_cpu_m")]
    pub idle_cpu_m: f64,
}

fn default_pre_cpu_ms() -> f64 {
    5.0
}
fn default_post_cpu_ms() -> f64 {
    2.0
}
fn default_idle_cpu_m() -> f64 {
    5.0
}

/// Pod placement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheduling {
    /// Least-allocated node first (kube-scheduler's default scoring).
    Spread,
    /// Most-allocated node first.
    BinPack,
}

/// How the service picks an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Routing {
    /// Uniformly random ready endpoint (kube-proxy iptables mode).
    Random,
    /// Round-robin over ready endpoints (IPVS rr).
    RoundRobin,
    /// Fewest outstanding requests.
    LeastOutstanding,
}

/// What a request does when no endpoint is ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoEndpoint {
    /// Connection refused at once.
    Fail,
    /// Wait (until an endpoint appears or the client times out).
    Wait,
}

/// Simulator parameters; defaults carry their source in the doc comment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimParams {
    /// Pod placement (kube-scheduler default: spread).
    pub scheduling: Scheduling,
    /// Service routing (k3s default kube-proxy iptables: random).
    pub routing: Routing,
    /// No ready endpoint: fail (connection refused) or wait.
    pub no_endpoint: NoEndpoint,
    /// Endpoint propagation delay, seconds (assumption: ~1 s for
    /// EndpointSlice → kube-proxy). A terminating pod keeps serving until
    /// it leaves the endpoints (as with a preStop sleep of this length).
    pub endpoint_delay_s: f64,
    /// terminationGracePeriodSeconds (Kubernetes default 30).
    pub grace_period_s: f64,
    /// Readiness probe initialDelaySeconds (Kubernetes default 0).
    pub probe_initial_delay_s: f64,
    /// Readiness probe periodSeconds (Kubernetes default 10).
    pub probe_period_s: f64,
    /// metrics-server `--metric-resolution` (k3s: 15 s).
    pub metric_resolution_s: f64,
    /// Offset of the first metrics-server scrape after the trial start;
    /// unset (the default): drawn per seed, uniform within one resolution
    /// (see [`crate::clocks`]).
    pub metric_scrape_offset_s: Option<f64>,
    /// Offset of the controller's first tick after the trial start; unset
    /// (the default): drawn per trial from the arm's stream, uniform within
    /// the controller's period.
    pub controller_offset_s: Option<f64>,
    /// Delay of each pod's first readiness probe after its container start
    /// plus the initial delay (the phase of the kubelet's probe ticker);
    /// unset (the default): drawn per pod, uniform within one probe period.
    pub probe_phase_s: Option<f64>,
    /// CPU a thread burns while yielding to the GPU, cores (0.997 s/s
    /// measured on Linux; source in docs/simulator.md).
    pub yield_cpu_fraction: f64,
    /// CPU a thread burns while blocked on the GPU, cores (measured 0.000).
    pub blocking_cpu_fraction: f64,
    /// Window of the pods' reported average latency, seconds.
    pub latency_window_s: f64,
    /// First back-off after a failed start (kubelet: 10 s, doubling, 300 s cap).
    pub restart_backoff_s: f64,
    /// The DCGM exporter's collect interval, seconds, for policies that read
    /// GPU utilisation through the metrics pipeline; unset: 30 s
    /// (dcgm-exporter's `--collect-interval`, 30000 ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dcgm_collect_interval_s: Option<f64>,
    /// Prometheus' scrape interval of the exporter, seconds; unset: 15 s (a
    /// usual ServiceMonitor interval; Prometheus' own default is 60 s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prometheus_scrape_interval_s: Option<f64>,
}

impl SimParams {
    /// The exporter's collect interval, seconds.
    pub fn dcgm_collect_s(&self) -> f64 {
        self.dcgm_collect_interval_s.unwrap_or(30.0)
    }

    /// Prometheus' scrape interval, seconds.
    pub fn prometheus_scrape_s(&self) -> f64 {
        self.prometheus_scrape_interval_s.unwrap_or(15.0)
    }
}

impl Default for SimParams {
    fn default() -> Self {
        SimParams {
            scheduling: Scheduling::Spread,
            routing: Routing::Random,
            no_endpoint: NoEndpoint::Fail,
            endpoint_delay_s: 1.0,
            grace_period_s: 30.0,
            probe_initial_delay_s: 0.0,
            probe_period_s: 10.0,
            metric_resolution_s: 15.0,
            metric_scrape_offset_s: None,
            controller_offset_s: None,
            probe_phase_s: None,
            yield_cpu_fraction: 0.997,
            blocking_cpu_fraction: 0.0,
            latency_window_s: 10.0,
            restart_backoff_s: 10.0,
            dcgm_collect_interval_s: None,
            prometheus_scrape_interval_s: None,
        }
    }
}

/// A scenario with its GPU profiles resolved: what one trial needs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scenario {
    /// The scenario as written.
    #[serde(flatten)]
    pub spec: ScenarioSpec,
    /// GPU profiles by name.
    pub gpu_profiles: BTreeMap<String, GpuProfile>,
}

/// One trial to run, resolved once from the campaign: every backend takes
/// this and nothing re-resolves a scenario, profile or arm.
#[derive(Clone, Debug)]
pub struct Trial<'a> {
    /// Position in the randomised run order, from 0.
    pub run_order: u32,
    /// The scenario, GPU profiles resolved.
    pub scenario: &'a Scenario,
    /// The load profile.
    pub profile: &'a LoadProfile,
    /// Arm name.
    pub arm: &'a str,
    /// The arm's policy with the scenario's replica bounds set.
    pub policy: scaler::PolicyConfig,
    /// Seed.
    pub seed: u64,
    /// Trial length, seconds.
    pub duration_s: f64,
    /// Seconds at the start that the report leaves out.
    pub warmup_s: f64,
    /// The phases of the trial's clocks (controller, scrapes, probes),
    /// drawn from the seed and the arm's name.
    pub clocks: TrialClocks,
}

impl Trial<'_> {
    /// The pipelines of the signals its policy reads, as they run at
    /// `site` (rows of `trial_signals`).
    pub fn signal_stages(&self, site: Site) -> Vec<StageRecord> {
        pipeline(self.policy.signals(), site, &self.clocks, &self.spec().sim)
    }

    /// `scenario / profile / arm / seed N`, as progress and errors name it.
    pub fn label(&self) -> String {
        format!(
            "{} / {} / {} / seed {}",
            self.scenario.spec.name, self.profile.name, self.arm, self.seed
        )
    }

    /// The scenario as written.
    pub fn spec(&self) -> &ScenarioSpec {
        &self.scenario.spec
    }
}

/// A loaded, checked campaign.
#[derive(Clone, Debug)]
pub struct Campaign {
    /// The file's text, as read.
    pub text: String,
    /// SHA-256 (hex) over the file's text and every GPU profile's text, in
    /// profile-name order.
    pub sha256: String,
    /// The parsed file.
    pub file: CampaignFile,
    /// Scenarios with profiles resolved.
    pub scenarios: Vec<Scenario>,
    /// Arms: name → policy (bounds not yet set; see [`Campaign::policy`]).
    pub arms: BTreeMap<String, scaler::PolicyConfig>,
    /// The arm the others are compared against (one of `arms`).
    pub baseline: String,
}

impl Campaign {
    /// Reads and checks a campaign file; GPU profiles are read from the
    /// file's `gpu_profiles_dir`.
    pub fn load(path: &Path) -> Result<Campaign> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Campaign::parse(&text, path, &dir)
    }

    /// Parses and checks campaign text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path, dir: &Path) -> Result<Campaign> {
        let file: CampaignFile = toml::from_str(text).map_err(|e| Error::CampaignToml {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let invalid = |field: String, message: String| Error::Campaign {
            path: path.to_path_buf(),
            line: locate(text, &field),
            field,
            message,
        };
        check_file(&file).map_err(|(f, m)| invalid(f, m))?;

        // Arms: policy tables without bounds; bounds come from the scenario.
        let mut arms = BTreeMap::new();
        for (name, table) in &file.arms {
            for key in ["min_replicas", "max_replicas"] {
                if table.contains_key(key) {
                    return Err(invalid(
                        format!("arms.{name}.{key}"),
                        "set replica bounds on the scenario, so that every arm shares them".into(),
                    ));
                }
            }
            let mut t = table.clone();
            t.insert("min_replicas".into(), toml::Value::Integer(1));
            t.insert("max_replicas".into(), toml::Value::Integer(1));
            let policy = scaler::PolicyConfig::from_table(t).map_err(|e| match e {
                scaler::Error::InvalidPolicy { field, message } => {
                    invalid(format!("arms.{name}.{field}"), message)
                }
                other => invalid(format!("arms.{name}"), other.to_string()),
            })?;
            arms.insert(name.clone(), policy);
        }

        // GPU profiles.
        let profiles_dir = dir.join(&file.gpu_profiles_dir);
        let mut gpu_texts: BTreeMap<String, String> = BTreeMap::new();
        let mut scenarios = Vec::new();
        for (si, s) in file.scenarios.iter().enumerate() {
            let mut gpu_profiles = BTreeMap::new();
            for (ni, n) in s.nodes.iter().enumerate() {
                let Some(name) = &n.gpu_profile else { continue };
                let field = format!("scenarios[{si}].nodes[{ni}].gpu_profile");
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(invalid(field, format!("`{name}` is not a profile name")));
                }
                let file_path: PathBuf = profiles_dir.join(format!("{name}.toml"));
                let gtext = std::fs::read_to_string(&file_path).map_err(|e| {
                    invalid(
                        field.clone(),
                        format!("cannot read {}: {e}", file_path.display()),
                    )
                })?;
                let profile = crate::gpu::parse_profile(&gtext)
                    .map_err(|m| invalid(field.clone(), format!("{}: {m}", file_path.display())))?;
                gpu_texts.insert(name.clone(), gtext);
                gpu_profiles.insert(name.clone(), profile);
            }
            scenarios.push(Scenario {
                spec: s.clone(),
                gpu_profiles,
            });
        }

        check_sizes(&file, &scenarios, &arms).map_err(|(f, m)| invalid(f, m))?;
        let baseline = baseline(&file).map_err(|(f, m)| invalid(f, m))?;

        let mut h = Sha256::new();
        h.update(text.as_bytes());
        for (name, t) in &gpu_texts {
            h.update(b"\0profile\0");
            h.update(name.as_bytes());
            h.update(b"\0");
            h.update(t.as_bytes());
        }
        let sha256 = hex(&h.finalize());
        Ok(Campaign {
            text: text.to_string(),
            sha256,
            file,
            scenarios,
            arms,
            baseline,
        })
    }

    /// The arms in their fixed display order: the baseline first, then the
    /// others by name (the report's colours and tables follow it).
    pub fn arm_order(&self) -> Vec<&str> {
        let mut order = vec![self.baseline.as_str()];
        order.extend(
            self.arms
                .keys()
                .map(String::as_str)
                .filter(|a| *a != self.baseline),
        );
        order
    }

    /// The load profile with this index.
    pub fn profile(&self, i: usize) -> &LoadProfile {
        &self.file.profiles[i]
    }

    /// The policy of `arm` with the bounds of scenario `scenario`.
    pub fn policy(&self, arm: &str, scenario: usize) -> Option<scaler::PolicyConfig> {
        Some(bounded(self.arms.get(arm)?, &self.scenarios[scenario].spec))
    }

    /// Every trial, resolved, in the randomised, interleaved run order (a
    /// seeded shuffle of scenario × profile × arm × seed).
    pub fn plan(&self) -> Vec<Trial<'_>> {
        let mut cells = Vec::new();
        for s in &self.scenarios {
            for pname in &s.spec.profiles {
                let Some(profile) = self.file.profiles.iter().find(|p| &p.name == pname) else {
                    continue;
                };
                for seed in 0..u64::from(self.file.seeds.count) {
                    for (arm, policy) in &self.arms {
                        cells.push((s, profile, arm, policy, self.file.seeds.first + seed));
                    }
                }
            }
        }
        let mut rng = crate::rng::stream(self.file.order_seed, "trial-order", 0);
        cells.shuffle(&mut rng);
        cells
            .into_iter()
            .enumerate()
            .map(|(i, (scenario, profile, arm, policy, seed))| {
                let policy = bounded(policy, &scenario.spec);
                let clocks =
                    TrialClocks::draw(seed, arm, policy.build().interval_s(), &scenario.spec.sim);
                Trial {
                    run_order: i as u32,
                    scenario,
                    profile,
                    arm,
                    policy,
                    seed,
                    duration_s: self.file.duration_s,
                    warmup_s: self.file.warmup_s,
                    clocks,
                }
            })
            .collect()
    }
}

/// `policy` with the replica bounds of `spec`.
fn bounded(policy: &scaler::PolicyConfig, spec: &ScenarioSpec) -> scaler::PolicyConfig {
    let mut p = policy.clone();
    p.set_bounds(spec.min_replicas, spec.max_replicas);
    p
}

/// The largest campaigns `bench check` accepts. Each keeps one campaign's
/// plan, or one trial's records, to a size that fits in memory on an
/// ordinary machine; a larger study is several campaigns.
pub mod limits {
    /// Longest trial, seconds (one day).
    pub const MAX_DURATION_S: f64 = 86_400.0;
    /// Most seeds per cell.
    pub const MAX_SEEDS: u32 = 100_000;
    /// Most trials per campaign (scenario × profile × arm × seed).
    pub const MAX_TRIALS: u64 = 1_000_000;
    /// Most rows one trial can write, at worst (see
    /// [`crate::sim::trial_bounds`]): requests, samples, decisions, pods.
    pub const MAX_TRIAL_ROWS: f64 = 50_000_000.0;
    /// Most nodes per scenario.
    pub const MAX_NODES: u64 = 10_000;
    /// Most GPUs per node.
    pub const MAX_GPUS_PER_NODE: u32 = 64;
    /// Most time-slicing replicas per GPU.
    pub const MAX_TIME_SLICING_REPLICAS: u32 = 1_024;
    /// Highest `max_replicas`.
    pub const MAX_REPLICAS: u32 = 10_000;
    /// Most worker threads per pod.
    pub const MAX_WORKERS: u32 = 10_000;
    /// Longest pod queue.
    pub const MAX_QUEUE: u32 = 1_000_000;
    /// Most closed-loop users.
    pub const MAX_USERS: u32 = 1_000_000;
}

/// Checks what only the resolved campaign can tell: the size of its plan and
/// the most rows one trial can write.
fn check_sizes(
    file: &CampaignFile,
    scenarios: &[Scenario],
    arms: &BTreeMap<String, scaler::PolicyConfig>,
) -> std::result::Result<(), Invalid> {
    let cells: u64 = file
        .scenarios
        .iter()
        .map(|s| s.profiles.len() as u64)
        .sum::<u64>()
        * arms.len() as u64;
    let trials = cells.saturating_mul(u64::from(file.seeds.count));
    if trials > limits::MAX_TRIALS {
        return Err((
            "seeds.count".into(),
            format!(
                "{} seeds × {cells} scenario-profile-arm cells is {trials} trials, more than the limit of {} per campaign; split the study into several campaigns",
                file.seeds.count,
                limits::MAX_TRIALS
            ),
        ));
    }
    // The shortest controller period makes the most decisions.
    let interval = arms
        .values()
        .map(|p| p.build().interval_s())
        .fold(f64::INFINITY, f64::min);
    for (si, sc) in scenarios.iter().enumerate() {
        for pname in &sc.spec.profiles {
            let Some(pi) = file.profiles.iter().position(|p| &p.name == pname) else {
                continue;
            };
            let profile = &file.profiles[pi];
            let b = crate::sim::trial_bounds(sc, profile, file.duration_s, interval, None);
            if b.rows > limits::MAX_TRIAL_ROWS {
                return Err((
                    format!("profiles[{pi}].arrival"),
                    format!(
                        "a trial of profile `{}` on scenario `{}` (scenarios[{si}]) can write up to {:.3e} rows ({:.3e} requests), more than the limit of {:.0e} per trial; shorten duration_s, lower the rate or the users, or lengthen retry_backoff_s",
                        profile.name, sc.spec.name, b.rows, b.requests, limits::MAX_TRIAL_ROWS
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

type Invalid = (String, String);

/// The campaign's baseline arm: the one named, else `hpa`, else the only
/// arm.
fn baseline(f: &CampaignFile) -> std::result::Result<String, Invalid> {
    let names = || {
        f.arms
            .keys()
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match &f.baseline {
        Some(b) if f.arms.contains_key(b) => Ok(b.clone()),
        Some(b) => Err((
            "baseline".into(),
            format!("`{b}` is not an arm of this campaign (its arms: {})", names()),
        )),
        None if f.arms.contains_key("hpa") => Ok("hpa".into()),
        None => match f.arms.keys().next() {
            Some(only) if f.arms.len() == 1 => Ok(only.clone()),
            _ => Err((
                "baseline".into(),
                format!(
                    "no arm is named `hpa`: name the arm the others are compared against (its arms: {})",
                    names()
                ),
            )),
        },
    }
}

fn check_file(f: &CampaignFile) -> std::result::Result<(), Invalid> {
    let bad = |field: &str, m: String| Err((field.to_string(), m));
    if !(f.duration_s > 0.0 && f.duration_s <= limits::MAX_DURATION_S) {
        return bad(
            "duration_s",
            format!(
                "must be > 0 and at most {} s (one day), got {}",
                limits::MAX_DURATION_S,
                f.duration_s
            ),
        );
    }
    if !(f.warmup_s >= 0.0 && f.warmup_s < f.duration_s) {
        return bad(
            "warmup_s",
            format!(
                "must be >= 0 and below duration_s ({}), got {}",
                f.duration_s, f.warmup_s
            ),
        );
    }
    if f.seeds.count == 0 || f.seeds.count > limits::MAX_SEEDS {
        return bad(
            "seeds.count",
            format!(
                "must be within 1..={}, got {}",
                limits::MAX_SEEDS,
                f.seeds.count
            ),
        );
    }
    if f.seeds
        .first
        .checked_add(u64::from(f.seeds.count))
        .is_none()
    {
        return bad(
            "seeds.first",
            format!(
                "{} + {} seeds runs past the largest seed",
                f.seeds.first, f.seeds.count
            ),
        );
    }
    if f.arms.is_empty() {
        return bad("arms", "at least one arm is needed".into());
    }
    for (i, p) in f.profiles.iter().enumerate() {
        if f.profiles[..i].iter().any(|q| q.name == p.name) {
            return bad(
                &format!("profiles[{i}].name"),
                format!("duplicate profile `{}`", p.name),
            );
        }
        p.check()
            .or_else(|(field, m)| bad(&format!("profiles[{i}].{field}"), m))?;
    }
    if f.scenarios.is_empty() {
        return bad("scenarios", "at least one scenario is needed".into());
    }
    for (i, s) in f.scenarios.iter().enumerate() {
        if f.scenarios[..i].iter().any(|q| q.name == s.name) {
            return bad(
                &format!("scenarios[{i}].name"),
                format!("duplicate scenario `{}`", s.name),
            );
        }
        check_scenario(f, s).or_else(|(field, m)| bad(&format!("scenarios[{i}].{field}"), m))?;
    }
    Ok(())
}

/// One scenario's checks; fields relative to the scenario.
fn check_scenario(f: &CampaignFile, s: &ScenarioSpec) -> std::result::Result<(), Invalid> {
    let bad = |field: &str, m: String| Err((field.to_string(), m));
    if s.max_replicas == 0 || s.max_replicas > limits::MAX_REPLICAS {
        return bad(
            "max_replicas",
            format!(
                "must be within 1..={}, got {}",
                limits::MAX_REPLICAS,
                s.max_replicas
            ),
        );
    }
    if s.max_replicas < s.min_replicas {
        return bad(
            "max_replicas",
            format!(
                "({}) is below min_replicas ({})",
                s.max_replicas, s.min_replicas
            ),
        );
    }
    if s.min_replicas == 0 {
        return bad(
            "min_replicas",
            "must be at least 1 (the HPA cannot scale from zero on CPU)".into(),
        );
    }
    if s.profiles.is_empty() {
        return bad("profiles", "list at least one load profile".into());
    }
    for p in &s.profiles {
        if !f.profiles.iter().any(|q| &q.name == p) {
            return bad("profiles", format!("no load profile named `{p}`"));
        }
    }
    if s.nodes.is_empty() {
        return bad("nodes", "at least one node group is needed".into());
    }
    let mut slots = 0u64;
    let mut node_count = 0u64;
    for (ni, n) in s.nodes.iter().enumerate() {
        let nat = |k: &str| format!("nodes[{ni}].{k}");
        node_count += u64::from(n.count);
        if n.count == 0 || node_count > limits::MAX_NODES {
            return bad(
                &nat("count"),
                format!(
                    "must be at least 1, and the scenario at most {} nodes in all, got {} ({node_count} so far)",
                    limits::MAX_NODES,
                    n.count
                ),
            );
        }
        if n.gpus > limits::MAX_GPUS_PER_NODE {
            return bad(
                &nat("gpus"),
                format!(
                    "must be at most {}, got {}",
                    limits::MAX_GPUS_PER_NODE,
                    n.gpus
                ),
            );
        }
        if n.time_slicing_replicas > limits::MAX_TIME_SLICING_REPLICAS {
            return bad(
                &nat("time_slicing_replicas"),
                format!(
                    "must be at most {}, got {}",
                    limits::MAX_TIME_SLICING_REPLICAS,
                    n.time_slicing_replicas
                ),
            );
        }
        if !(n.cpu_cores > 0.0 && n.cpu_cores.is_finite()) {
            return bad(
                &nat("cpu_cores"),
                format!("must be > 0, got {}", n.cpu_cores),
            );
        }
        if n.time_slicing_replicas == 0 {
            return bad(&nat("time_slicing_replicas"), "must be at least 1".into());
        }
        if n.gpus > 0 && n.gpu_profile.is_none() {
            return bad(
                &nat("gpu_profile"),
                "nodes with GPUs need a GPU profile".into(),
            );
        }
        slots += u64::from(n.count) * u64::from(n.gpus) * u64::from(n.time_slicing_replicas);
    }
    if slots == 0 {
        return bad(
            "nodes[0].gpus",
            "the cluster has zero GPUs; the workload needs one GPU slot per pod".into(),
        );
    }
    check_pod(&s.pod)?;
    check_sim(&s.sim)?;
    let w = &s.work;
    if w.gemms_per_iteration + w.elementwise_per_iteration == 0 {
        return bad("work", "a request must do some work".into());
    }
    if !(w.elementwise_bytes_per_element >= 0.0 && w.working_set_matrices >= 0.0) {
        return bad("work", "sizes must be >= 0".into());
    }
    Ok(())
}

/// The pod table's checks; fields relative to the scenario.
fn check_pod(pod: &PodSpec) -> std::result::Result<(), Invalid> {
    let bad = |field: &str, m: String| Err((field.to_string(), m));
    if pod.cpu_request_m == 0 {
        return bad(
            "pod.cpu_request_m",
            "must be > 0 (the HPA divides by it)".into(),
        );
    }
    if pod.cpu_limit_m < pod.cpu_request_m {
        return bad(
            "pod.cpu_limit_m",
            format!(
                "({}) is below cpu_request_m ({})",
                pod.cpu_limit_m, pod.cpu_request_m
            ),
        );
    }
    if pod.workers == 0 || pod.workers > limits::MAX_WORKERS {
        return bad(
            "pod.workers",
            format!(
                "must be within 1..={}, got {}",
                limits::MAX_WORKERS,
                pod.workers
            ),
        );
    }
    // 0 is a pod with no waiting room: a request that finds every worker
    // busy is answered 503 at once (`workload serve --queue 0`).
    if pod.queue_capacity > limits::MAX_QUEUE {
        return bad(
            "pod.queue_capacity",
            format!(
                "must be at most {}, got {}",
                limits::MAX_QUEUE,
                pod.queue_capacity
            ),
        );
    }
    if pod.wait_mode == WaitMode::Auto {
        return bad(
            "pod.wait_mode",
            "`auto` leaves the mode to CUDA, so the CPU a waiting thread burns is not known; \
             give spin (CUDA's choice with one context per process), yield or blocking-sync"
                .into(),
        );
    }
    for (k, v) in [
        ("pre_cpu_ms", pod.pre_cpu_ms),
        ("post_cpu_ms", pod.post_cpu_ms),
        ("idle_cpu_m", pod.idle_cpu_m),
    ] {
        if !(v >= 0.0 && v.is_finite()) {
            return bad(&format!("pod.{k}"), format!("must be >= 0, got {v}"));
        }
    }
    Ok(())
}

/// The simulator table's checks; fields relative to the scenario.
fn check_sim(sim: &SimParams) -> std::result::Result<(), Invalid> {
    let bad = |field: &str, m: String| Err((field.to_string(), m));
    for (k, v, strictly) in [
        ("endpoint_delay_s", sim.endpoint_delay_s, false),
        ("grace_period_s", sim.grace_period_s, false),
        ("probe_initial_delay_s", sim.probe_initial_delay_s, false),
        ("probe_period_s", sim.probe_period_s, true),
        ("metric_resolution_s", sim.metric_resolution_s, true),
        (
            "metric_scrape_offset_s",
            sim.metric_scrape_offset_s.unwrap_or(0.0),
            false,
        ),
        (
            "controller_offset_s",
            sim.controller_offset_s.unwrap_or(0.0),
            false,
        ),
        ("probe_phase_s", sim.probe_phase_s.unwrap_or(0.0), false),
        ("latency_window_s", sim.latency_window_s, true),
        ("restart_backoff_s", sim.restart_backoff_s, true),
        ("dcgm_collect_interval_s", sim.dcgm_collect_s(), true),
        (
            "prometheus_scrape_interval_s",
            sim.prometheus_scrape_s(),
            true,
        ),
    ] {
        if !(v.is_finite() && v >= 0.0 && (!strictly || v > 0.0)) {
            let need = if strictly { "> 0" } else { ">= 0" };
            return bad(&format!("sim.{k}"), format!("must be {need}, got {v}"));
        }
    }
    for (k, v) in [
        ("yield_cpu_fraction", sim.yield_cpu_fraction),
        ("blocking_cpu_fraction", sim.blocking_cpu_fraction),
    ] {
        if !(0.0..=1.0).contains(&v) {
            return bad(
                &format!("sim.{k}"),
                format!("must be within 0..=1, got {v}"),
            );
        }
    }
    Ok(())
}

/// Best-effort line (1-based) of a dotted field path such as
/// `scenarios[1].nodes[0].gpus` in campaign text: the key's own line, or the
/// line of its table header when the key is absent (a default was used).
pub fn locate(text: &str, field: &str) -> Option<usize> {
    // Split "a[1].b[0].c" into [("a", Some(1)), ("b", Some(0)), ("c", None)].
    let mut segs: Vec<(String, Option<usize>)> = Vec::new();
    for part in field.split('.') {
        match part.split_once('[') {
            Some((name, rest)) => {
                let idx = rest.trim_end_matches(']').parse().ok();
                segs.push((name.to_string(), idx));
            }
            None => segs.push((part.to_string(), None)),
        }
    }
    let lines: Vec<&str> = text.lines().collect();
    let header_of = |l: &str| -> Option<String> {
        let t = l.trim();
        let t = t
            .strip_prefix("[[")
            .and_then(|x| x.split("]]").next())
            .or_else(|| t.strip_prefix('[').and_then(|x| x.split(']').next()))?;
        Some(t.trim().to_string())
    };
    // Walk the array-of-table segments to find the section start.
    let mut start = 0usize;
    let mut end = lines.len();
    let mut prefix = String::new();
    let mut key_path: Vec<String> = Vec::new();
    for (name, idx) in &segs {
        let full = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        if let Some(idx) = idx {
            let mut seen = 0usize;
            let mut found = None;
            for (i, l) in lines.iter().enumerate().take(end).skip(start) {
                if header_of(l).as_deref() == Some(full.as_str()) && l.trim().starts_with("[[") {
                    if seen == *idx {
                        found = Some(i);
                        break;
                    }
                    seen += 1;
                }
            }
            let f = found?;
            // The element ends at the next header of the same array or of a
            // shorter (enclosing) path.
            let mut e = end;
            for (i, l) in lines.iter().enumerate().take(end).skip(f + 1) {
                if let Some(h) = header_of(l) {
                    if h == full || !h.starts_with(&format!("{full}.")) {
                        e = i;
                        break;
                    }
                }
            }
            start = f;
            end = e;
            prefix = full;
            key_path.clear();
        } else {
            key_path.push(name.clone());
        }
    }
    // Look for the key: `key =` directly in the section, or a sub-table
    // header `[prefix.a.b]` followed by the last key.
    let last = key_path.last()?.clone();
    let table_path = if key_path.len() > 1 {
        let sub = key_path[..key_path.len() - 1].join(".");
        if prefix.is_empty() {
            sub
        } else {
            format!("{prefix}.{sub}")
        }
    } else {
        prefix.clone()
    };
    let mut in_table = table_path == prefix;
    let mut table_line = None;
    for (i, l) in lines.iter().enumerate().take(end).skip(start) {
        if let Some(h) = header_of(l) {
            in_table = h == table_path;
            if in_table {
                table_line = Some(i);
            }
            continue;
        }
        let t = l.trim_start();
        if in_table && t.starts_with(last.as_str()) && t[last.len()..].trim_start().starts_with('=')
        {
            return Some(i + 1);
        }
        // Inline form: `sub = { ..., key = ... }`.
        if key_path.len() > 1 && t.starts_with(&key_path[key_path.len() - 2]) && t.contains(&last) {
            return Some(i + 1);
        }
    }
    table_line
        .or(if start > 0 || !prefix.is_empty() {
            Some(start)
        } else {
            None
        })
        .map(|i| i + 1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TEXT: &str = "name = \"x\"\n[[scenarios]]\nname = \"a\"\nmax_replicas = 3\n[[scenarios.nodes]]\ngpus = 1\n[[scenarios]]\nname = \"b\"\nmax_replicas = 1\n[scenarios.pod]\nworkers = 0\n[[scenarios.nodes]]\nname = \"n\"\n[[scenarios.nodes]]\ngpus = 0\n";

    #[test]
    fn a_campaign_needs_a_definite_wait_mode_and_reads_the_old_blocking_name() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../data/campaigns/default.toml"
        ));
        let text = std::fs::read_to_string(path).unwrap();
        let dir = path.parent().unwrap();
        let with = |mode: &str| {
            text.replacen(
                "wait_mode = \"spin\"",
                &format!("wait_mode = \"{mode}\""),
                1,
            )
        };
        let e = Campaign::parse(&with("auto"), path, dir)
            .unwrap_err()
            .to_string();
        assert!(e.contains("pod.wait_mode") && e.contains("`auto`"), "{e}");
        for name in ["blocking", "blocking-sync"] {
            let c = Campaign::parse(&with(name), path, dir).unwrap();
            assert_eq!(
                c.scenarios[0].spec.pod.wait_mode,
                WaitMode::BlockingSync,
                "{name}"
            );
        }
    }

    #[test]
    fn locate_finds_keys_inside_arrays_of_tables() {
        assert_eq!(locate(TEXT, "name"), Some(1));
        assert_eq!(locate(TEXT, "scenarios[0].max_replicas"), Some(4));
        assert_eq!(locate(TEXT, "scenarios[1].max_replicas"), Some(9));
        assert_eq!(locate(TEXT, "scenarios[1].pod.workers"), Some(11));
        assert_eq!(locate(TEXT, "scenarios[1].nodes[1].gpus"), Some(15));
        // Absent key: the table header's line.
        assert_eq!(locate(TEXT, "scenarios[1].nodes[0].cpu_cores"), Some(12));
    }
}
