//! The embedded cluster simulator: one trial as a pure function of
//! (scenario, load profile, policy, seed) → [`TrialRecords`].
//!
//! Discrete-event, virtual time in integer microseconds, one thread, no
//! clock. Simultaneous events run in a fixed class order (work completions,
//! pod lifecycle, arrivals, metrics scrapes, samples, controller ticks) and
//! then in the order they were scheduled, so a trial is bit-for-bit
//! reproducible.
//!
//! Work in progress is a fluid: every request in a CPU or GPU phase has a
//! rate and the work it had left when that rate was set. After an event the
//! rates are recomputed; a request whose rate changed books the work done at
//! the old one and its completion event moves to its new finish time,
//! rounded up to the next microsecond. Completions due at the same
//! microsecond run together, in request order. A pod's CPU seconds and a GPU's busy time and energy
//! are integrated the same way: when their rate changes and when they are
//! read (scrapes, samples).
//!
//! The cost of an event is that of what it touches, not of the cluster. A
//! request's rate depends only on its pod's node (CPU shares) or its pod's
//! GPU (time slices), so an event marks the nodes and GPUs of the pods it
//! changed and only those are recomputed. Each pod keeps its requests per
//! phase, the routable endpoints are an ordered index (with a load index
//! for least-outstanding routing), completions are a heap with one entry
//! per request (moved, not duplicated, when its rate changes), time-outs are
//! a queue in due order, the open-loop arrivals and periodic ticks enter the
//! heap one at a time under the sequence numbers they would have had if all
//! were pushed at the start, and the window mean latencies are running sums.
//!
//! * GPU time-slicing: the device is processor-shared across CUDA contexts
//!   (pods with requests in their GPU phase). With `c` active contexts the
//!   device delivers `1 / (1 + eps (c − 1))`, split equally between contexts,
//!   and equally between the requests inside one context.
//! * CPU: a pod's demand is its CPU-phase threads plus what its GPU-waiting
//!   threads burn (wait mode: spin 1 core, yield/blocking a fraction). The
//!   CPU limit (CFS quota) and then the node's capacity scale the demand
//!   down; CPU phases slow down accordingly. GPU phases are not slowed by
//!   CPU throttling (a simplification: the kernel queue is already filled).
//! * Metrics as the controllers see them: NVML-style device-wide utilisation
//!   of the last second, metrics-server CPU (mean over the last scrape
//!   window, rounded up to millicores, with its scrape lag) and each pod's
//!   in-flight count and windowed mean latency.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, VecDeque};

use crate::campaign::{NoEndpoint, Routing, Scenario, Scheduling, Trial, WaitMode};
use crate::clocks::TrialClocks;
use crate::gpu::GpuProfile;
use crate::profile::{self, Arrival, LoadProfile, ScheduledRequest, UserRequest, UserScript};
use crate::record::*;
use crate::rng::{self, Stream};
use crate::route::Router;
use crate::trial::control::ControlLog;
use crate::trial::observe::{self, PodAtTick};
use crate::trial::sampler::{ClientSecond, GpuReading, PodNow, PodReading, Sampler};
use crate::trial::signal::{
    pipeline, CpuMetric, CpuSeries, MetricsServer, Pipelines, PodSeries, Site,
};
use crate::trial::timeline::PodTimeline;
use scaler::cluster::PodMetrics;
use scaler::{Policy, PolicyConfig};

/// Service-time model. `Profile` is the real one; the others replace each
/// request's device work so the simulator can be checked against queueing
/// formulas (M/M/1, M/D/1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ServiceModel {
    /// Device seconds from the GPU profile and the work model.
    Profile,
    /// Exponential device time with this mean, seconds.
    Exponential(f64),
    /// Fixed device time, seconds.
    Deterministic(f64),
}

/// Everything one trial needs.
#[derive(Clone, Debug)]
pub struct TrialInput<'a> {
    /// The cluster, pod and simulator parameters.
    pub scenario: &'a Scenario,
    /// The load.
    pub profile: &'a LoadProfile,
    /// The scaling policy, bounds already set.
    pub policy: PolicyConfig,
    /// Trial seed.
    pub seed: u64,
    /// Trial length, seconds.
    pub duration_s: f64,
    /// Service-time model (normally [`ServiceModel::Profile`]).
    pub service: ServiceModel,
    /// Open-loop schedule to use instead of the profile's (for checks).
    pub schedule: Option<Vec<ScheduledRequest>>,
    /// Event budget to use instead of the one [`trial_bounds`] derives
    /// (for checks).
    pub event_budget: Option<u64>,
    /// The phases of the trial's clocks (drawn by [`TrialInput::new`]).
    pub clocks: TrialClocks,
}

impl<'a> TrialInput<'a> {
    /// The campaign's resolved trial, on the profile's service-time model.
    pub fn of(t: &Trial<'a>) -> Self {
        TrialInput {
            clocks: t.clocks.clone(),
            scenario: t.scenario,
            profile: t.profile,
            policy: t.policy.clone(),
            seed: t.seed,
            duration_s: t.duration_s,
            service: ServiceModel::Profile,
            schedule: None,
            event_budget: None,
        }
    }

    /// A normal trial of the arm named `arm` (the name keys the stream of
    /// its controller's phase, see [`crate::clocks`]).
    pub fn new(
        scenario: &'a Scenario,
        profile: &'a LoadProfile,
        arm: &str,
        policy: PolicyConfig,
        seed: u64,
        duration_s: f64,
    ) -> Self {
        let period = policy.build().interval_s();
        let clocks = TrialClocks::draw(seed, arm, period, &scenario.spec.sim);
        TrialInput {
            clocks,
            scenario,
            profile,
            policy,
            seed,
            duration_s,
            service: ServiceModel::Profile,
            schedule: None,
            event_budget: None,
        }
    }
}

type Time = i64;
const US: f64 = 1e6;

fn us(s: f64) -> Time {
    (s * US).round() as Time
}

fn secs(t: Time) -> f64 {
    t as f64 / US
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    // Class 0: work. A request's phase completes (request, generation of
    // its rate). One whose request was killed, or whose rate has since been
    // set to zero, is skipped.
    Complete(u32, u32),
    // Class 1: pod lifecycle.
    ContainerStarted(u32, u32),
    AppReady(u32, u32),
    ReadyObserved(u32, u32),
    EndpointAdd(u32),
    EndpointRemove(u32),
    Kill(u32),
    // Class 2: load.
    Arrival(u32),
    UserSend(u32),
    ClientTimeout(u32),
    // Class 3..5: observation and control (the tick's number).
    Scrape(u32),
    SampleTick(u32),
    ControllerTick(u32),
}

impl Event {
    /// What the event is, for the event-budget message.
    fn name(self) -> &'static str {
        match self {
            Event::Complete(..) => "work completions",
            Event::ContainerStarted(..) | Event::AppReady(..) | Event::ReadyObserved(..) => {
                "pod start-ups"
            }
            Event::EndpointAdd(_) | Event::EndpointRemove(_) | Event::Kill(_) => "endpoint changes",
            Event::Arrival(_) => "open-loop arrivals",
            Event::UserSend(_) => "closed-loop sends",
            Event::ClientTimeout(_) => "client time-outs",
            Event::Scrape(_) => "metrics scrapes",
            Event::SampleTick(_) => "samples",
            Event::ControllerTick(_) => "controller ticks",
        }
    }

    fn class(self) -> u8 {
        match self {
            Event::Complete(..) => 0,
            Event::ContainerStarted(..)
            | Event::AppReady(..)
            | Event::ReadyObserved(..)
            | Event::EndpointAdd(_)
            | Event::EndpointRemove(_)
            | Event::Kill(_) => 1,
            Event::Arrival(_) | Event::UserSend(_) | Event::ClientTimeout(_) => 2,
            Event::Scrape(_) => 3,
            Event::SampleTick(_) => 4,
            Event::ControllerTick(_) => 5,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PodState {
    Unscheduled,
    Starting,
    Initializing,
    BackOff,
    Running,
    Exited,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    New,
    Waiting,
    Queued,
    CpuPre,
    Gpu,
    CpuPost,
    Done,
}

struct Gpu {
    profile: usize,
    slots: u32,
    used_slots: u32,
    mem_used: f64,
    busy_s: f64,
    energy_j: f64,
    energy_at_last_sample: f64,
    /// When `busy_s` and `energy_j` were last brought up to date.
    since: Time,
    /// Whether the device was busy (some context had work) since `since`.
    powered: bool,
    last_util: f64,
    contexts: u32,
    /// Pods with requests in their GPU phase (CUDA contexts with work).
    active: u32,
    /// Pods bound to the device.
    pods: Vec<u32>,
    dirty: bool,
}

struct Node {
    name: String,
    cpu_cores: f64,
    requested_m: u64,
    gpus: Vec<usize>,
    /// Pods bound to the node and not exited, in pod order.
    pods: Vec<u32>,
    dirty: bool,
}

struct Pod {
    name: String,
    node: Option<usize>,
    gpu: Option<usize>,
    state: PodState,
    incarnation: u32,
    restarts: u32,
    created: Time,
    scheduled: Option<Time>,
    container_started: Option<Time>,
    ready_at: Option<Time>,
    in_endpoints: bool,
    terminating: bool,
    deleted: Option<Time>,
    exited: Option<Time>,
    context: bool,
    busy: u32,
    queue: VecDeque<u32>,
    n_cpu: u32,
    n_gpu: u32,
    /// The requests in a CPU phase and in the GPU phase.
    cpu_reqs: Vec<u32>,
    gpu_reqs: Vec<u32>,
    /// The rate of each of its CPU phases (its share of a core).
    cpu_factor: f64,
    cpu_rate: f64,
    /// CPU seconds used up to `cpu_since`.
    cpu_cum: f64,
    cpu_since: Time,
    cpu_at_sample: f64,
    container_cpu_base: f64,
    /// Its container's series at metrics-server.
    cpu_series: CpuSeries<Time>,
    /// (finished, latency) of the successful requests of the latency
    /// window, microseconds.
    latencies: VecDeque<(Time, Time)>,
    /// Sum of the latencies in `latencies`.
    latency_sum: Time,
    completed_in_second: u32,
    /// Its GPU's utilisation and in-flight count each second, kept when
    /// the policy reads them through a metrics pipeline ([`Pipelines`]).
    series: PodSeries,
}

impl Pod {
    /// A pod created at `at`, not yet scheduled.
    fn new(name: String, at: Time) -> Pod {
        Pod {
            name,
            node: None,
            gpu: None,
            state: PodState::Unscheduled,
            incarnation: 0,
            restarts: 0,
            created: at,
            scheduled: None,
            container_started: None,
            ready_at: None,
            in_endpoints: false,
            terminating: false,
            deleted: None,
            exited: None,
            context: false,
            busy: 0,
            queue: VecDeque::new(),
            n_cpu: 0,
            n_gpu: 0,
            cpu_reqs: Vec::new(),
            gpu_reqs: Vec::new(),
            cpu_factor: 0.0,
            cpu_rate: 0.0,
            cpu_cum: 0.0,
            cpu_since: at,
            cpu_at_sample: 0.0,
            container_cpu_base: 0.0,
            cpu_series: CpuSeries::default(),
            latencies: VecDeque::new(),
            latency_sum: 0,
            completed_in_second: 0,
            series: PodSeries::default(),
        }
    }

    /// Its life as a real backend would have recorded it by now, for the
    /// shared observation (`trial::observe`): started once its container
    /// runs (Kubernetes' `Running` phase, also while the app loads or backs
    /// off), ready while the app is up and its readiness was observed, and
    /// serving while ready and not being deleted.
    fn timeline(&self, num: u32) -> PodTimeline<Time> {
        let mut life = PodTimeline::new(num, self.name.clone(), self.created);
        life.scheduled = self.scheduled;
        life.started = (!matches!(self.state, PodState::Unscheduled | PodState::Starting))
            .then_some(self.container_started.unwrap_or(self.created));
        life.ready = self.ready_at.filter(|_| self.state == PodState::Running);
        life.deleted = self
            .terminating
            .then_some(self.deleted.unwrap_or(self.created));
        life.restarts = self.restarts;
        life.serving = self.ready();
        life
    }

    /// What it answers on `/metrics.json` when read at a tick, which
    /// happens only while it serves (`None` otherwise): the utilisation of
    /// its GPU at the last sample, its requests in flight and the mean
    /// latency of its latency window.
    fn metrics(&self, gpu_util: Option<f64>, latency_window_s: f64) -> Option<PodMetrics> {
        if !self.ready() {
            return None;
        }
        let in_flight = u64::from(self.busy) + self.queue.len() as u64;
        Some(PodMetrics {
            gpu_utilization: gpu_util?,
            avg_latency_ms: self.mean_latency_ms().unwrap_or(0.0),
            latency_window_s,
            window_requests: self.latencies.len() as u64,
            concurrent_requests: in_flight,
            in_flight,
            ready: true,
            ..PodMetrics::default()
        })
    }

    fn live(&self) -> bool {
        !self.terminating && self.state != PodState::Exited
    }
    fn ready(&self) -> bool {
        self.ready_at.is_some() && !self.terminating && self.state == PodState::Running
    }
    /// Its state for the sampler: being deleted until it has gone.
    fn now(&self) -> PodNow {
        match self.state {
            PodState::Exited => PodNow::Exited,
            _ if self.terminating => PodNow::Terminating,
            PodState::Unscheduled => PodNow::Pending,
            PodState::Starting => PodNow::Starting,
            PodState::Initializing => PodNow::Initializing,
            PodState::BackOff => PodNow::BackOff,
            PodState::Running => PodNow::Running,
        }
    }
    /// Its requests in the GPU phase, or in a CPU phase.
    fn phase_list(&mut self, gpu: bool) -> &mut Vec<u32> {
        if gpu {
            &mut self.gpu_reqs
        } else {
            &mut self.cpu_reqs
        }
    }
    /// Drops the latencies of requests that finished at or before `from`.
    fn expire_latencies(&mut self, from: Time) {
        while let Some(&(t, l)) = self.latencies.front() {
            if t > from {
                break;
            }
            self.latencies.pop_front();
            self.latency_sum -= l;
        }
    }
    /// Mean latency of the window's successful requests, milliseconds.
    fn mean_latency_ms(&self) -> Option<f64> {
        let n = self.latencies.len();
        (n > 0).then(|| self.latency_sum as f64 / 1e3 / n as f64)
    }
}

/// What the event loop reads and writes of a request; what only its record
/// needs is in [`ReqLog`], so that the requests in flight share cache lines.
struct Req {
    user: Option<u32>,
    sent: Time,
    pod: Option<u32>,
    phase: Phase,
    /// Work left in the current phase at `since`, at `rate` per second.
    remaining: f64,
    since: Time,
    rate: f64,
    /// Counts the rate changes; it names the current completion event.
    gen: u32,
    /// Its index in its pod's `cpu_reqs` or `gpu_reqs`.
    slot: u32,
    mem_mib: f64,
    outcome: Option<Outcome>,
}

/// What a request's record needs beyond [`Req`].
struct ReqLog {
    user_seq: Option<u32>,
    scheduled: Time,
    started: Option<Time>,
    finished: Option<Time>,
    size: u32,
    iterations: u32,
}

impl Req {
    /// Starts a phase with `work` to do, at no rate until the next
    /// recomputation gives it one.
    fn enter(&mut self, phase: Phase, work: f64, now: Time) {
        self.phase = phase;
        self.remaining = work;
        self.since = now;
        self.rate = 0.0;
        self.gen = self.gen.wrapping_add(1);
    }
}

/// Brings a pod's CPU seconds up to `now` at its current rate.
fn settle_cpu(pod: &mut Pod, now: Time) {
    pod.cpu_cum += pod.cpu_rate * secs(now - pod.cpu_since);
    pod.cpu_since = now;
}

/// Brings a GPU's busy time and energy up to `now`.
fn settle_gpu(g: &mut Gpu, profile: &GpuProfile, now: Time) {
    let dt = secs(now - g.since);
    if g.powered {
        g.busy_s += dt;
        g.energy_j += profile.max_power_w.value * dt;
    } else {
        g.energy_j += profile.idle_power_w.value * dt;
    }
    g.since = now;
}

/// The pending completions, at most one per request (a new one replaces
/// the old): a binary min-heap of (key, rate generation) that knows where
/// each request's entry is, so that it holds what is in flight and no
/// stale entries. The key's low 32 bits are the request.
#[derive(Default)]
struct Completions {
    heap: Vec<(u128, u32)>,
    /// Per request: its index in `heap` plus one, or 0.
    pos: Vec<u32>,
}

impl Completions {
    fn peek(&self) -> Option<(u128, u32)> {
        self.heap.first().copied()
    }

    fn set(&mut self, r: u32, key: u128, gen: u32) {
        let r = r as usize;
        if self.pos.len() <= r {
            self.pos.resize(r + 1, 0);
        }
        let i = match self.pos[r] {
            0 => {
                self.heap.push((key, gen));
                self.heap.len() - 1
            }
            p => {
                let i = p as usize - 1;
                self.heap[i] = (key, gen);
                self.sift_down(i)
            }
        };
        self.place(i);
        self.sift_up(i);
    }

    fn pop(&mut self) -> Option<(u128, u32)> {
        let top = *self.heap.first()?;
        let last = self.heap.len() - 1;
        self.heap.swap(0, last);
        self.heap.pop();
        self.pos[top.0 as u32 as usize] = 0;
        if !self.heap.is_empty() {
            self.place(0);
            self.sift_down(0);
        }
        Some(top)
    }

    fn place(&mut self, i: usize) {
        let r = self.heap[i].0 as u32 as usize;
        self.pos[r] = i as u32 + 1;
    }

    fn sift_up(&mut self, mut i: usize) -> usize {
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.heap[parent].0 <= self.heap[i].0 {
                break;
            }
            self.heap.swap(parent, i);
            self.place(i);
            self.place(parent);
            i = parent;
        }
        i
    }

    fn sift_down(&mut self, mut i: usize) -> usize {
        let n = self.heap.len();
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut m = i;
            if l < n && self.heap[l].0 < self.heap[m].0 {
                m = l;
            }
            if r < n && self.heap[r].0 < self.heap[m].0 {
                m = r;
            }
            if m == i {
                return i;
            }
            self.heap.swap(m, i);
            self.place(i);
            self.place(m);
            i = m;
        }
    }
}

/// A periodic series of events.
#[derive(Clone, Copy, Debug, Default)]
struct Periodic {
    first: Time,
    step: Time,
    /// Sequence number of the first tick.
    seq0: u64,
    count: u64,
}

impl Periodic {
    fn at(&self, k: u64) -> Time {
        self.first + k as Time * self.step
    }
}

struct Sim<'a> {
    input: &'a TrialInput<'a>,
    profiles: Vec<&'a GpuProfile>,
    now: Time,
    end: Time,
    seq: u64,
    /// Events by (time, class, sequence), packed into one key, except the
    /// completions and the time-outs.
    queue: BinaryHeap<Reverse<(u128, Event)>>,
    completions: Completions,
    nodes: Vec<Node>,
    gpus: Vec<Gpu>,
    pods: Vec<Pod>,
    reqs: Vec<Req>,
    logs: Vec<ReqLog>,
    /// Nodes and GPUs whose rates may have changed during this event.
    dirty_nodes: Vec<usize>,
    dirty_gpus: Vec<usize>,
    /// Pods in the endpoints, in pod order (what routing picks from).
    endpoints: Vec<u32>,
    /// (in-flight + queued, pod) of each endpoint, kept for
    /// least-outstanding routing only (`by_load`).
    endpoint_load: BTreeSet<(u32, u32)>,
    by_load: bool,
    /// Unscheduled pods that are not deleted, in pod order.
    pending: BTreeSet<u32>,
    /// Requests that wait for an endpoint, and entries of ones that have
    /// since timed out (skipped); `n_waiting` counts the former.
    waiting: VecDeque<u32>,
    n_waiting: u32,
    /// (due, sequence number, request) of the client time-outs.
    timeouts: VecDeque<(Time, u64, u32)>,
    /// (sequence number of the first, count) of the open-loop arrivals,
    /// which are requests 0..count.
    arrivals: (u64, u32),
    arrivals_chained: bool,
    scrapes: Periodic,
    samples: Periodic,
    ticks: Periodic,
    users: Vec<UserScript>,
    user_seq: Vec<u32>,
    user_next: Vec<UserRequest>,
    router: Router,
    service_rng: Stream,
    policy: Box<dyn Policy>,
    control: ControlLog,
    spec_replicas: u32,
    outstanding: u32,
    offered_in_second: u32,
    completed_in_second: u32,
    failed_in_second: u32,
    /// The metrics pipelines the policy reads through.
    pipelines: Pipelines,
    /// The shared sampler, and its readings' buffers (kept between seconds).
    sampler: Sampler,
    gpu_readings: Vec<GpuReading>,
    pod_readings: Vec<PodReading>,
    out: TrialRecords,
}

/// A trial the simulator could not finish.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    /// The trial handled more events than its inputs can explain: it was
    /// stopped before it could eat the machine's memory.
    #[error(
        "the trial was stopped after {events} simulator events at simulated t = {at_s:.3} s: \
         its budget is {budget} ({EVENTS_PER_UNIT} events for each request its load can send \
         (at most {requests:.0}), each periodic tick and each pod change); {busiest_pct:.0} % \
         of the events were {busiest}"
    )]
    EventBudget {
        /// Events handled.
        events: u64,
        /// The trial's budget.
        budget: u64,
        /// Simulated time reached, seconds.
        at_s: f64,
        /// The bound on requests the budget was derived from.
        requests: f64,
        /// The most frequent kind of event.
        busiest: &'static str,
        /// Its share of the events, percent.
        busiest_pct: f64,
    },
}

/// Events the budget allows per request, periodic tick and pod change: a
/// request needs about five (send, time-out, three phase completions; a
/// rate change moves its completion rather than adding one), so this is
/// slack, not a tight fit.
pub const EVENTS_PER_UNIT: u64 = 32;

/// Upper bounds on what one trial can produce, from its inputs alone.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrialBounds {
    /// Requests the load can send.
    pub requests: f64,
    /// Rows the trial can write (requests, samples, decisions, pods).
    pub rows: f64,
    /// Events the simulator may handle before it stops the trial.
    pub events: f64,
}

/// The bounds of a trial of `profile` on `scenario` under a policy that
/// runs every `interval_s`. `open_requests` is the length of the open-loop
/// schedule when it is known; otherwise the rate's maximum over the trial
/// (with six standard deviations of Poisson slack) stands in for it. A
/// closed loop's users cannot send faster than their shortest cycle: the
/// shortest service (pre- and post-request CPU at one core, the smallest
/// request on the fastest GPU), the retry back-off, or the time-out.
pub fn trial_bounds(
    scenario: &Scenario,
    profile: &LoadProfile,
    duration_s: f64,
    interval_s: f64,
    open_requests: Option<usize>,
) -> TrialBounds {
    let spec = &scenario.spec;
    let requests = match &profile.arrival {
        Arrival::Open { rate } => match open_requests {
            Some(n) => n as f64,
            None => {
                let mean = rate.max_rate() * duration_s;
                mean + 6.0 * mean.sqrt() + 1.0
            }
        },
        Arrival::Closed {
            users,
            retry_backoff_s,
            ..
        } => {
            let fastest_device = scenario
                .gpu_profiles
                .values()
                .map(|g| {
                    spec.work
                        .device_seconds(g, profile.size.min, profile.iterations.min)
                })
                .fold(f64::INFINITY, f64::min);
            let cpu = (spec.pod.pre_cpu_ms + spec.pod.post_cpu_ms) / 1000.0;
            // Three phases of at least one microsecond each.
            let service = (cpu + fastest_device.min(1e9)).max(3e-6);
            let cycle = service.min(*retry_backoff_s).min(profile.timeout_s);
            f64::from(*users) * (1.0 + duration_s / cycle)
        }
    };
    let gpus: f64 = spec
        .nodes
        .iter()
        .map(|n| f64::from(n.count) * f64::from(n.gpus))
        .sum();
    let pods = f64::from(spec.max_replicas);
    let ticks = duration_s / interval_s.max(1e-3) + 1.0;
    // Pods a controller can create: all of them at every tick, at worst.
    let pod_changes = pods * ticks;
    let seconds = duration_s.ceil() + 1.0;
    let rows = requests + seconds * (1.0 + pods + gpus) + ticks + pod_changes;
    let periodic = seconds + ticks + duration_s / spec.sim.metric_resolution_s + 1.0;
    let events = EVENTS_PER_UNIT as f64 * (requests + periodic + 8.0 * pod_changes);
    TrialBounds {
        requests,
        rows,
        events,
    }
}

/// Runs one trial to completion: arrivals stop at the trial's duration, then
/// the requests still out are allowed to finish or time out, so every request
/// has a terminal outcome. A trial that handles more events than
/// [`trial_bounds`] allows is stopped with [`SimError::EventBudget`].
pub fn run_trial(input: &TrialInput<'_>) -> Result<TrialRecords, SimError> {
    let mut sim = Sim::new(input);
    sim.run()?;
    Ok(sim.finish())
}

impl<'a> Sim<'a> {
    fn new(input: &'a TrialInput<'a>) -> Sim<'a> {
        let spec = &input.scenario.spec;
        let mut profiles: Vec<&GpuProfile> = Vec::new();
        let mut profile_names: Vec<&str> = Vec::new();
        let mut nodes = Vec::new();
        let mut gpus = Vec::new();
        for group in &spec.nodes {
            for k in 0..group.count {
                let mut node_gpus = Vec::new();
                if let Some(pname) = &group.gpu_profile {
                    if let Some(p) = input.scenario.gpu_profiles.get(pname) {
                        let pi = match profile_names.iter().position(|n| n == pname) {
                            Some(i) => i,
                            None => {
                                profile_names.push(pname);
                                profiles.push(p);
                                profiles.len() - 1
                            }
                        };
                        for _ in 0..group.gpus {
                            node_gpus.push(gpus.len());
                            gpus.push(Gpu {
                                profile: pi,
                                slots: group.time_slicing_replicas,
                                used_slots: 0,
                                mem_used: 0.0,
                                busy_s: 0.0,
                                energy_j: 0.0,
                                energy_at_last_sample: 0.0,
                                since: 0,
                                powered: false,
                                last_util: 0.0,
                                contexts: 0,
                                active: 0,
                                pods: Vec::new(),
                                dirty: false,
                            });
                        }
                    }
                }
                let name = if group.count == 1 {
                    group.name.clone()
                } else {
                    format!("{}-{k}", group.name)
                };
                nodes.push(Node {
                    name,
                    cpu_cores: group.cpu_cores,
                    requested_m: 0,
                    gpus: node_gpus,
                    pods: Vec::new(),
                    dirty: false,
                });
            }
        }
        let policy = input.policy.build();
        let policy_signals = policy.signals();
        let seed = input.seed;
        // The simulated devices' energy counters start at 0 with the trial.
        let sampler =
            Sampler::new(f64::from(spec.pod.cpu_request_m)).energy_from(&vec![0.0; gpus.len()]);
        let mut sim = Sim {
            input,
            profiles,
            now: 0,
            end: us(input.duration_s),
            seq: 0,
            queue: BinaryHeap::new(),
            completions: Completions::default(),
            nodes,
            gpus,
            pods: Vec::new(),
            reqs: Vec::new(),
            logs: Vec::new(),
            dirty_nodes: Vec::new(),
            dirty_gpus: Vec::new(),
            endpoints: Vec::new(),
            endpoint_load: BTreeSet::new(),
            by_load: spec.sim.routing == Routing::LeastOutstanding,
            pending: BTreeSet::new(),
            waiting: VecDeque::new(),
            n_waiting: 0,
            timeouts: VecDeque::new(),
            arrivals: (0, 0),
            arrivals_chained: false,
            scrapes: Periodic::default(),
            samples: Periodic::default(),
            ticks: Periodic::default(),
            users: Vec::new(),
            user_seq: Vec::new(),
            user_next: Vec::new(),
            router: Router::new(spec.sim.routing, seed),
            service_rng: rng::stream(seed, "service", 0),
            policy,
            control: ControlLog::default(),
            spec_replicas: spec.min_replicas,
            outstanding: 0,
            offered_in_second: 0,
            completed_in_second: 0,
            failed_in_second: 0,
            pipelines: Pipelines::for_signals(policy_signals, &input.clocks),
            sampler,
            gpu_readings: Vec::new(),
            pod_readings: Vec::new(),
            out: TrialRecords::default(),
        };
        sim.setup();
        sim
    }

    fn push(&mut self, at: Time, ev: Event) {
        self.seq += 1;
        self.push_keyed(at, ev, self.seq);
    }

    /// The next event: the heap's first or the first time-out, whichever
    /// comes first in (time, class, sequence) order.
    fn pop_event(&mut self) -> Option<(Time, Event)> {
        let heap = self.queue.peek().map(|Reverse((k, _))| *k);
        let work = self.completions.peek().map(|(k, _)| k);
        let timeout = self
            .timeouts
            .front()
            .map(|&(t, seq, _)| key(t, Event::ClientTimeout(0).class(), seq));
        let first = [heap, work, timeout].into_iter().flatten().min()?;
        if Some(first) == work {
            let (k, gen) = self.completions.pop()?;
            Some((key_time(k), Event::Complete(k as u32, gen)))
        } else if Some(first) == timeout {
            self.timeouts
                .pop_front()
                .map(|(t, _, r)| (t, Event::ClientTimeout(r)))
        } else {
            self.queue.pop().map(|Reverse((k, ev))| (key_time(k), ev))
        }
    }

    /// Pushes an event under a sequence number reserved for it.
    fn push_keyed(&mut self, at: Time, ev: Event, seq: u64) {
        self.queue.push(Reverse((key(at, ev.class(), seq), ev)));
    }

    fn push_arrival(&mut self, r: u32) {
        let at = self.reqs[r as usize].sent;
        self.push_keyed(at, Event::Arrival(r), self.arrivals.0 + u64::from(r));
    }

    /// A periodic series from `first` every `step` until the end (included
    /// or not), its sequence numbers reserved.
    fn periodic(&mut self, first: Time, step: Time, end_included: bool) -> Periodic {
        let step = step.max(1);
        let span = self.end - first;
        let count = if span < 0 || (span == 0 && !end_included) {
            0
        } else if end_included {
            span / step + 1
        } else {
            (span - 1) / step + 1
        };
        let series = Periodic {
            first,
            step,
            seq0: self.seq + 1,
            count: count as u64,
        };
        self.seq += series.count;
        series
    }

    /// Puts the tick after tick `k` of `series` into the heap.
    fn push_next(&mut self, series: Periodic, k: u32, ev: Event) {
        let next = u64::from(k) + 1;
        if next < series.count {
            self.push_keyed(series.at(next), ev, series.seq0 + next);
        }
    }

    /// Schedules the completion of request `r`'s phase. Completions due at
    /// the same microsecond run in request order, whatever order they were
    /// scheduled in.
    fn push_completion(&mut self, at: Time, r: u32, gen: u32) {
        self.completions.set(r, key(at, 0, u64::from(r)), gen);
    }

    /// Whether a popped completion is still the request's current one.
    fn completion_valid(&self, r: u32, gen: u32) -> bool {
        let req = &self.reqs[r as usize];
        req.gen == gen && matches!(req.phase, Phase::CpuPre | Phase::Gpu | Phase::CpuPost)
    }

    /// Sets request `r`'s rate. A change books the work done at the old
    /// rate and schedules the completion at the new one (rounded up to the
    /// next microsecond, at least one ahead).
    fn set_req_rate(&mut self, r: u32, rate: f64) {
        let now = self.now;
        let req = &mut self.reqs[r as usize];
        if req.rate == rate {
            return;
        }
        req.remaining -= req.rate * secs(now - req.since);
        req.since = now;
        req.rate = rate;
        req.gen = req.gen.wrapping_add(1);
        if rate > 0.0 {
            let dt = ((req.remaining.max(0.0) / rate * US).ceil() as Time).max(1);
            let gen = req.gen;
            self.push_completion(now + dt, r, gen);
        }
    }

    fn setup(&mut self) {
        let spec = &self.input.scenario.spec;
        let sim = &spec.sim;
        // The trial starts with min_replicas pods that have been running and
        // Ready for ten minutes (older than the HPA's CPU initialisation
        // period), with two metrics-server scrapes of idle CPU behind them.
        let before = us(-600.0);
        for _ in 0..spec.min_replicas {
            let p = self.create_pod(before);
            if !self.bind(p, before) {
                continue;
            }
            let pod = &mut self.pods[p as usize];
            pod.state = PodState::Running;
            pod.container_started = Some(before);
            pod.ready_at = Some(before + us(10.0));
            pod.context = true;
            // Idle before the trial: nothing in flight, its device at 0 %.
            pod.series = PodSeries::idle_before(pod.gpu.is_some());
            let g = pod.gpu;
            let idle = spec.pod.idle_cpu_m / 1000.0;
            let res = us(sim.metric_resolution_s);
            let s1 = us(self.input.clocks.scrape.first_s) - res;
            let s0 = s1 - res;
            pod.cpu_series = CpuSeries::with_history(
                (s0, idle * secs(s0 - before)),
                (s1, idle * secs(s1 - before)),
                CpuMetric {
                    millicores: (idle * 1000.0).ceil() as u64,
                    timestamp: s1,
                    window_s: secs(s1 - s0),
                },
            );
            pod.cpu_rate = idle;
            pod.cpu_cum = idle * secs(-before);
            pod.cpu_since = 0;
            pod.cpu_at_sample = pod.cpu_cum;
            self.set_endpoint(p, true);
            if let Some(g) = g {
                let ctx = self.profiles[self.gpus[g].profile].context_mib.value;
                self.gpus[g].mem_used += ctx;
                self.gpus[g].contexts += 1;
            }
        }
        // Load.
        match &self.input.profile.arrival {
            Arrival::Open { .. } => {
                let schedule = match &self.input.schedule {
                    Some(s) => s.clone(),
                    None => profile::open_schedule(
                        self.input.profile,
                        self.input.seed,
                        self.input.duration_s,
                    ),
                };
                for r in schedule {
                    let at = us(r.at_s);
                    if at >= self.end {
                        continue;
                    }
                    self.new_req(None, None, at, r.size, r.iterations);
                }
                // Arrival i has sequence number seq0 + i. In time order only
                // the next one needs to be in the heap; otherwise all are.
                let n = self.reqs.len() as u32;
                self.arrivals = (self.seq + 1, n);
                self.seq += u64::from(n);
                self.arrivals_chained = self.reqs.windows(2).all(|w| w[0].sent <= w[1].sent);
                let upto = if self.arrivals_chained { n.min(1) } else { n };
                for r in 0..upto {
                    self.push_arrival(r);
                }
            }
            Arrival::Closed { users, ramp_s, .. } => {
                for u in 0..*users {
                    self.users
                        .push(UserScript::new(self.input.profile, self.input.seed, u));
                    self.user_seq.push(0);
                    self.user_next.push(UserRequest {
                        size: 0,
                        iterations: 0,
                        think_s: 0.0,
                    });
                    let at = us(profile::user_start(u, *users, *ramp_s));
                    if at < self.end {
                        self.push(at, Event::UserSend(u));
                    }
                }
            }
        }
        // Observation and control: each series has its sequence numbers
        // reserved here and only its next tick in the heap.
        let interval = us(self.policy.interval_s()).max(1);
        let first_scrape = us(self.input.clocks.scrape.first_s);
        let first_tick = us(self.input.clocks.controller.first_s);
        self.scrapes = self.periodic(first_scrape, us(sim.metric_resolution_s), false);
        self.samples = self.periodic(us(1.0), us(1.0), true);
        self.ticks = self.periodic(first_tick, interval, false);
        for (series, ev) in [
            (self.scrapes, Event::Scrape(0)),
            (self.samples, Event::SampleTick(0)),
            (self.ticks, Event::ControllerTick(0)),
        ] {
            if series.count > 0 {
                self.push_keyed(series.at(0), ev, series.seq0);
            }
        }
        // Rates of the initial pods.
        for n in 0..self.nodes.len() {
            self.mark_node(n);
        }
        for g in 0..self.gpus.len() {
            self.mark_gpu(g);
        }
        self.recompute();
    }

    fn new_req(
        &mut self,
        user: Option<u32>,
        user_seq: Option<u32>,
        at: Time,
        size: u32,
        iterations: u32,
    ) -> u32 {
        let id = self.reqs.len() as u32;
        self.logs.push(ReqLog {
            user_seq,
            scheduled: at,
            started: None,
            finished: None,
            size,
            iterations,
        });
        self.reqs.push(Req {
            user,
            sent: at,
            pod: None,
            phase: Phase::New,
            remaining: 0.0,
            since: at,
            rate: 0.0,
            gen: 0,
            slot: 0,
            mem_mib: 0.0,
            outcome: None,
        });
        id
    }

    fn run(&mut self) -> Result<(), SimError> {
        let open = match self.input.profile.arrival {
            Arrival::Open { .. } => Some(self.reqs.len()),
            Arrival::Closed { .. } => None,
        };
        let bounds = trial_bounds(
            self.input.scenario,
            self.input.profile,
            self.input.duration_s,
            self.policy.interval_s(),
            open,
        );
        let budget = self
            .input
            .event_budget
            .unwrap_or(bounds.events.min(u64::MAX as f64) as u64);
        let mut events = 0u64;
        let mut by_kind: Vec<(&'static str, u64)> = Vec::new();
        let mut due: Vec<u32> = Vec::new();
        while let Some((t, ev)) = self.pop_event() {
            // Past the end nobody sends again; stop once nobody waits.
            if t > self.end && self.outstanding == 0 {
                break;
            }
            if let Event::Complete(r, gen) = ev {
                // Stale completions (the rate changed since) cost nothing;
                // the valid ones due now are taken together.
                if !self.completion_valid(r, gen) {
                    continue;
                }
                due.clear();
                due.push(r);
                while let Some((k2, gen2)) = self.completions.peek() {
                    if key_time(k2) != t {
                        break;
                    }
                    self.completions.pop();
                    let r2 = k2 as u32;
                    if self.completion_valid(r2, gen2) {
                        due.push(r2);
                    }
                }
            }
            events += 1;
            // Counting by kind costs a little; only the last stretch before
            // the budget runs out is counted, to name the cause.
            if events + (budget / 10) > budget {
                let name = ev.name();
                match by_kind.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, c)) => *c += 1,
                    None => by_kind.push((name, 1)),
                }
            }
            if events > budget {
                let counted: u64 = by_kind.iter().map(|(_, c)| c).sum();
                let (busiest, n) = by_kind
                    .iter()
                    .copied()
                    .max_by_key(|(_, c)| *c)
                    .unwrap_or(("events", 0));
                return Err(SimError::EventBudget {
                    events,
                    budget,
                    at_s: secs(t),
                    requests: bounds.requests,
                    busiest,
                    busiest_pct: 100.0 * n as f64 / counted.max(1) as f64,
                });
            }
            self.now = t;
            let dirty = match ev {
                Event::Complete(..) => {
                    for &r in &due {
                        self.phase_done(r);
                    }
                    true
                }
                _ => self.handle(ev),
            };
            if dirty {
                self.recompute();
            }
        }
        Ok(())
    }

    fn mark_node(&mut self, n: usize) {
        if !self.nodes[n].dirty {
            self.nodes[n].dirty = true;
            self.dirty_nodes.push(n);
        }
    }

    fn mark_gpu(&mut self, g: usize) {
        if !self.gpus[g].dirty {
            self.gpus[g].dirty = true;
            self.dirty_gpus.push(g);
        }
    }

    /// Pod `p`'s demand or its requests' phases changed: its node's CPU
    /// shares and its GPU's time slices are recomputed after the event.
    fn touch(&mut self, p: u32) {
        let pod = &self.pods[p as usize];
        let (node, gpu) = (pod.node, pod.gpu);
        if let Some(n) = node {
            self.mark_node(n);
        }
        if let Some(g) = gpu {
            self.mark_gpu(g);
        }
    }

    /// Recomputes the rates of the nodes and GPUs the event touched; a rate
    /// that changes books what was done at the old one and reschedules the
    /// request's completion. Nothing else can have changed, so the cost is
    /// that of the touched domains, whatever the size of the cluster.
    fn recompute(&mut self) {
        let now = self.now;
        let mut dirty = std::mem::take(&mut self.dirty_gpus);
        for &g in &dirty {
            let gpu = &mut self.gpus[g];
            gpu.dirty = false;
            gpu.active = gpu
                .pods
                .iter()
                .filter(|&&p| self.pods[p as usize].n_gpu > 0)
                .count() as u32;
            if gpu.powered != (gpu.active > 0) {
                settle_gpu(gpu, self.profiles[gpu.profile], now);
                gpu.powered = gpu.active > 0;
            }
        }
        for &g in &dirty {
            let (active, profile) = (self.gpus[g].active, self.gpus[g].profile);
            let eps = self.profiles[profile].context_switch_overhead.value;
            for k in 0..self.gpus[g].pods.len() {
                let p = self.gpus[g].pods[k] as usize;
                let rate = time_slice_rate(active, self.pods[p].n_gpu, eps);
                for j in 0..self.pods[p].gpu_reqs.len() {
                    let r = self.pods[p].gpu_reqs[j];
                    self.set_req_rate(r, rate);
                }
            }
        }
        dirty.clear();
        self.dirty_gpus = dirty;
        let mut dirty = std::mem::take(&mut self.dirty_nodes);
        for &n in &dirty {
            self.nodes[n].dirty = false;
            self.node_rates(n);
        }
        dirty.clear();
        self.dirty_nodes = dirty;
    }

    /// CPU demand of each pod of node `n`, then CFS quota, then the node's
    /// capacity: the pods' CPU rates and their CPU phases' rates.
    fn node_rates(&mut self, n: usize) {
        let now = self.now;
        let spec = &self.input.scenario.spec;
        let wait_burn = match spec.pod.wait_mode {
            // A campaign refuses `auto`; CUDA's auto spins with one
            // context per process.
            WaitMode::Spin | WaitMode::Auto => 1.0,
            WaitMode::Yield => spec.sim.yield_cpu_fraction,
            WaitMode::BlockingSync => spec.sim.blocking_cpu_fraction,
        };
        let limit = f64::from(spec.pod.cpu_limit_m) / 1000.0;
        let idle = spec.pod.idle_cpu_m / 1000.0;
        // (rate, share of a core per CPU phase) under the pod's own quota.
        let quota = |pod: &Pod| {
            if !matches!(pod.state, PodState::Running | PodState::Initializing) {
                return None;
            }
            let demand = idle + f64::from(pod.n_cpu) + wait_burn * f64::from(pod.n_gpu);
            let f = if demand > limit { limit / demand } else { 1.0 };
            Some((demand * f, f))
        };
        let node = &self.nodes[n];
        let mut node_use = 0.0f64;
        for &p in &node.pods {
            if let Some((rate, _)) = quota(&self.pods[p as usize]) {
                node_use += rate;
            }
        }
        let cap = node.cpu_cores;
        let scale = (node_use > cap).then(|| cap / node_use);
        for k in 0..self.nodes[n].pods.len() {
            let p = self.nodes[n].pods[k] as usize;
            let pod = &mut self.pods[p];
            let (mut rate, mut factor) = quota(pod).unwrap_or((0.0, 0.0));
            if let Some(g) = scale {
                rate *= g;
                factor *= g;
            }
            if pod.cpu_rate != rate {
                settle_cpu(pod, now);
                pod.cpu_rate = rate;
            }
            pod.cpu_factor = factor;
            let n_reqs = pod.cpu_reqs.len();
            for j in 0..n_reqs {
                let r = self.pods[p].cpu_reqs[j];
                self.set_req_rate(r, factor);
            }
        }
    }

    fn handle(&mut self, ev: Event) -> bool {
        match ev {
            // Taken in `run`, with the other completions due at once.
            Event::Complete(..) => false,
            Event::ContainerStarted(p, inc) => self.container_started(p, inc),
            Event::AppReady(p, inc) => self.app_ready(p, inc),
            Event::ReadyObserved(p, inc) => {
                let pod = &mut self.pods[p as usize];
                if pod.incarnation != inc || pod.terminating || pod.state != PodState::Running {
                    return false;
                }
                pod.ready_at = Some(self.now);
                let at = self.now + us(self.input.scenario.spec.sim.endpoint_delay_s);
                self.push(at, Event::EndpointAdd(p));
                false
            }
            Event::EndpointAdd(p) => {
                let pod = &mut self.pods[p as usize];
                if pod.terminating || pod.state != PodState::Running {
                    return false;
                }
                self.set_endpoint(p, true);
                let waiting: Vec<u32> = self.waiting.drain(..).collect();
                for r in waiting {
                    if self.reqs[r as usize].phase == Phase::Waiting {
                        self.n_waiting -= 1;
                        self.route(r);
                    }
                }
                true
            }
            Event::EndpointRemove(p) => {
                self.set_endpoint(p, false);
                self.exit_if_drained(p);
                true
            }
            Event::Kill(p) => {
                if self.pods[p as usize].state == PodState::Exited {
                    return false;
                }
                self.exit_pod(p);
                true
            }
            Event::Arrival(r) => {
                if self.arrivals_chained && r + 1 < self.arrivals.1 {
                    self.push_arrival(r + 1);
                }
                self.send(r);
                true
            }
            Event::UserSend(u) => {
                if self.now >= self.end {
                    return false;
                }
                let next = self.users[u as usize].next_request();
                self.user_next[u as usize] = next;
                let k = self.user_seq[u as usize];
                self.user_seq[u as usize] += 1;
                let r = self.new_req(Some(u), Some(k), self.now, next.size, next.iterations);
                self.send(r);
                true
            }
            Event::ClientTimeout(r) => {
                if self.reqs[r as usize].outcome.is_some() {
                    return false;
                }
                if self.reqs[r as usize].phase == Phase::Waiting {
                    // Its entry in `waiting` is skipped when it comes up.
                    self.n_waiting -= 1;
                    self.reqs[r as usize].phase = Phase::Done;
                }
                self.client_done(r, Outcome::Timeout);
                false
            }
            Event::Scrape(k) => {
                self.push_next(self.scrapes, k, Event::Scrape(k + 1));
                self.scrape();
                false
            }
            Event::SampleTick(k) => {
                self.push_next(self.samples, k, Event::SampleTick(k + 1));
                self.sample();
                false
            }
            Event::ControllerTick(k) => {
                self.push_next(self.ticks, k, Event::ControllerTick(k + 1));
                self.controller_tick()
            }
        }
    }

    // ---- load ----------------------------------------------------------

    fn send(&mut self, r: u32) {
        self.reqs[r as usize].sent = self.now;
        self.outstanding += 1;
        self.offered_in_second += 1;
        let timeout = us(self.input.profile.timeout_s);
        // Time-outs are due in the order they are set: a queue, not the heap.
        self.seq += 1;
        self.timeouts.push_back((self.now + timeout, self.seq, r));
        self.route(r);
    }

    fn route(&mut self, r: u32) {
        // Least-outstanding: the least loaded endpoint, the first in pod
        // order of those.
        let load = &self.endpoint_load;
        let Some(p) = self
            .router
            .pick(&self.endpoints, || load.first().map(|&(_, p)| p))
        else {
            match self.input.scenario.spec.sim.no_endpoint {
                NoEndpoint::Fail => {
                    self.reqs[r as usize].phase = Phase::Done;
                    self.client_done(r, Outcome::NoEndpoint);
                }
                NoEndpoint::Wait => {
                    self.reqs[r as usize].phase = Phase::Waiting;
                    self.waiting.push_back(r);
                    self.n_waiting += 1;
                }
            }
            return;
        };
        self.reqs[r as usize].pod = Some(p);
        let workers = self.input.scenario.spec.pod.workers;
        let cap = self.input.scenario.spec.pod.queue_capacity as usize;
        let pod = &self.pods[p as usize];
        if pod.busy < workers {
            self.start_req(r);
        } else if pod.queue.len() < cap {
            let load = self.load(p);
            self.pods[p as usize].queue.push_back(r);
            self.load_changed(p, load);
            self.reqs[r as usize].phase = Phase::Queued;
        } else {
            self.reqs[r as usize].phase = Phase::Done;
            self.client_done(r, Outcome::Rejected);
        }
    }

    fn start_req(&mut self, r: u32) {
        let pre = self.input.scenario.spec.pod.pre_cpu_ms / 1000.0;
        let Some(p) = self.reqs[r as usize].pod else {
            return;
        };
        self.logs[r as usize].started = Some(self.now);
        let load = self.load(p);
        self.pods[p as usize].busy += 1;
        self.load_changed(p, load);
        self.enter_cpu(r, Phase::CpuPre, pre);
    }

    /// Puts a request into a CPU phase (from a worker start or from its
    /// GPU phase) with `work` core-seconds to do.
    fn enter_cpu(&mut self, r: u32, phase: Phase, work: f64) {
        let req = &mut self.reqs[r as usize];
        let Some(p) = req.pod else { return };
        let from_gpu = req.phase == Phase::Gpu;
        req.enter(phase, work, self.now);
        if from_gpu {
            self.pods[p as usize].n_gpu -= 1;
            self.leave_list(r, true);
        }
        self.join_list(r, false);
        self.pods[p as usize].n_cpu += 1;
        self.touch(p);
    }

    fn phase_done(&mut self, r: u32) {
        let phase = self.reqs[r as usize].phase;
        let Some(p) = self.reqs[r as usize].pod else {
            return;
        };
        match phase {
            Phase::CpuPre => {
                self.pods[p as usize].n_cpu -= 1;
                self.leave_list(r, false);
                self.touch(p);
                let Some(g) = self.pods[p as usize].gpu else {
                    return;
                };
                let (size, iters) = (self.logs[r as usize].size, self.logs[r as usize].iterations);
                let gpu_profile = self.profiles[self.gpus[g].profile];
                let work_model = &self.input.scenario.spec.work;
                let mem = match self.input.service {
                    ServiceModel::Profile => work_model.working_set_mib(size),
                    _ => 0.0,
                };
                if self.gpus[g].mem_used + mem > gpu_profile.memory_mib.value {
                    self.reqs[r as usize].phase = Phase::Done;
                    self.server_done(r, Outcome::Oom);
                    return;
                }
                self.gpus[g].mem_used += mem;
                let work = match self.input.service {
                    ServiceModel::Profile => work_model.device_seconds(gpu_profile, size, iters),
                    ServiceModel::Exponential(mean) => {
                        rng::exponential(&mut self.service_rng, mean)
                    }
                    ServiceModel::Deterministic(s) => s,
                };
                let req = &mut self.reqs[r as usize];
                req.mem_mib = mem;
                req.enter(Phase::Gpu, work, self.now);
                self.join_list(r, true);
                self.pods[p as usize].n_gpu += 1;
            }
            Phase::Gpu => {
                if let Some(g) = self.pods[p as usize].gpu {
                    self.gpus[g].mem_used -= self.reqs[r as usize].mem_mib;
                }
                self.reqs[r as usize].mem_mib = 0.0;
                let post = self.input.scenario.spec.pod.post_cpu_ms / 1000.0;
                self.enter_cpu(r, Phase::CpuPost, post);
            }
            Phase::CpuPost => {
                self.pods[p as usize].n_cpu -= 1;
                self.leave_list(r, false);
                self.touch(p);
                self.reqs[r as usize].phase = Phase::Done;
                self.server_done(r, Outcome::Ok);
            }
            _ => {}
        }
    }

    /// Adds request `r` to its pod's requests in a GPU (or CPU) phase.
    fn join_list(&mut self, r: u32, gpu: bool) {
        let Some(p) = self.reqs[r as usize].pod else {
            return;
        };
        let list = self.pods[p as usize].phase_list(gpu);
        self.reqs[r as usize].slot = list.len() as u32;
        list.push(r);
    }

    /// Removes request `r` from its pod's requests in a GPU (or CPU) phase.
    fn leave_list(&mut self, r: u32, gpu: bool) {
        let Some(p) = self.reqs[r as usize].pod else {
            return;
        };
        let list = self.pods[p as usize].phase_list(gpu);
        let slot = self.reqs[r as usize].slot as usize;
        debug_assert_eq!(list.get(slot), Some(&r));
        list.swap_remove(slot);
        if let Some(&moved) = list.get(slot) {
            self.reqs[moved as usize].slot = slot as u32;
        }
    }

    /// Work in flight and queued at pod `p` (what least-outstanding
    /// routing compares).
    fn load(&self, p: u32) -> u32 {
        let pod = &self.pods[p as usize];
        pod.busy + pod.queue.len() as u32
    }

    /// Keeps the least-outstanding index in step after pod `p`'s load was
    /// `before`.
    fn load_changed(&mut self, p: u32, before: u32) {
        let now = self.load(p);
        if self.by_load && now != before && self.pods[p as usize].in_endpoints {
            self.endpoint_load.remove(&(before, p));
            self.endpoint_load.insert((now, p));
        }
    }

    /// Adds pod `p` to the endpoints or removes it.
    fn set_endpoint(&mut self, p: u32, on: bool) {
        if self.pods[p as usize].in_endpoints == on {
            return;
        }
        self.pods[p as usize].in_endpoints = on;
        let load = self.load(p);
        match self.endpoints.binary_search(&p) {
            Ok(i) if !on => {
                self.endpoints.remove(i);
                if self.by_load {
                    self.endpoint_load.remove(&(load, p));
                }
            }
            Err(i) if on => {
                self.endpoints.insert(i, p);
                if self.by_load {
                    self.endpoint_load.insert((load, p));
                }
            }
            _ => {}
        }
    }

    /// The pod finished (or failed) a request it was serving: free the
    /// worker, answer the client, start the next queued request.
    fn server_done(&mut self, r: u32, outcome: Outcome) {
        let Some(p) = self.reqs[r as usize].pod else {
            return;
        };
        let now = self.now;
        let sent = self.reqs[r as usize].sent;
        let load = self.load(p);
        {
            let pod = &mut self.pods[p as usize];
            pod.busy -= 1;
            if outcome == Outcome::Ok {
                pod.latencies.push_back((now, now - sent));
                pod.latency_sum += now - sent;
                pod.completed_in_second += 1;
            }
        }
        if self.reqs[r as usize].outcome.is_none() {
            self.client_done(r, outcome);
        }
        let next = self.pods[p as usize].queue.pop_front();
        self.load_changed(p, load);
        if let Some(n) = next {
            self.start_req(n);
        }
        self.exit_if_drained(p);
    }

    fn client_done(&mut self, r: u32, outcome: Outcome) {
        let now = self.now;
        let req = &mut self.reqs[r as usize];
        if req.outcome.is_some() {
            return;
        }
        req.outcome = Some(outcome);
        self.logs[r as usize].finished = Some(now);
        self.outstanding -= 1;
        if outcome == Outcome::Ok {
            self.completed_in_second += 1;
        } else {
            self.failed_in_second += 1;
        }
        if let Some(u) = req.user {
            let pause = self.users[u as usize].pause_s(&self.user_next[u as usize], outcome);
            let at = now + us(pause);
            if at < self.end {
                self.push(at, Event::UserSend(u));
            }
        }
    }

    // ---- pods ----------------------------------------------------------

    fn create_pod(&mut self, at: Time) -> u32 {
        let i = self.pods.len() as u32;
        self.pods.push(Pod::new(format!("workload-{i}"), at));
        self.pending.insert(i);
        i
    }

    /// Places a pod on a node and GPU slot; false if nothing fits.
    fn bind(&mut self, p: u32, at: Time) -> bool {
        let spec = &self.input.scenario.spec;
        let req_m = u64::from(spec.pod.cpu_request_m);
        let mut best: Option<(f64, u32, usize, usize)> = None;
        for (ni, node) in self.nodes.iter().enumerate() {
            let cap_m = (node.cpu_cores * 1000.0) as u64;
            if node.requested_m + req_m > cap_m {
                continue;
            }
            // GPU slot: least used first (spread), most used first (bin-pack).
            let mut gbest: Option<(u32, usize)> = None;
            for &g in &node.gpus {
                let gpu = &self.gpus[g];
                if gpu.used_slots >= gpu.slots {
                    continue;
                }
                let key = match spec.sim.scheduling {
                    Scheduling::Spread => gpu.used_slots,
                    Scheduling::BinPack => u32::MAX - gpu.used_slots,
                };
                if gbest.is_none_or(|(k, _)| key < k) {
                    gbest = Some((key, g));
                }
            }
            let Some((gkey, g)) = gbest else { continue };
            let alloc = node.requested_m as f64 / cap_m.max(1) as f64;
            let score = match spec.sim.scheduling {
                Scheduling::Spread => alloc,
                Scheduling::BinPack => -alloc,
            };
            if best.is_none_or(|(s, k, _, _)| score < s || (score == s && gkey < k)) {
                best = Some((score, gkey, ni, g));
            }
        }
        let Some((_, _, ni, g)) = best else {
            return false;
        };
        self.nodes[ni].requested_m += req_m;
        self.gpus[g].used_slots += 1;
        let on_node = &mut self.nodes[ni].pods;
        if let Err(i) = on_node.binary_search(&p) {
            on_node.insert(i, p);
        }
        self.gpus[g].pods.push(p);
        self.pending.remove(&p);
        let pod = &mut self.pods[p as usize];
        pod.node = Some(ni);
        pod.gpu = Some(g);
        pod.scheduled = Some(at);
        pod.state = PodState::Starting;
        self.touch(p);
        true
    }

    /// A start-up delay of pod `p` (incarnation `inc`) drawn from `range`;
    /// one stream per (purpose, pod, incarnation), so the k-th pod starts
    /// equally fast in both arms of a seed.
    fn startup_delay(
        &self,
        purpose: &str,
        p: u32,
        inc: u32,
        range: &crate::gpu::SourcedRange,
    ) -> Time {
        let mut s = rng::stream(
            self.input.seed,
            purpose,
            (u64::from(p) << 16) | u64::from(inc),
        );
        us(rng::uniform(&mut s, range.min_s, range.max_s))
    }

    fn schedule_pending(&mut self) {
        while let Some(&p) = self.pending.first() {
            if !self.bind(p, self.now) {
                break;
            }
            let g = self.pods[p as usize].gpu.unwrap_or_default();
            let range = &self.profiles[self.gpus[g].profile].container_start;
            let d = self.startup_delay("container-start", p, 0, range);
            self.push(self.now + d, Event::ContainerStarted(p, 0));
        }
    }

    fn container_started(&mut self, p: u32, inc: u32) -> bool {
        let now = self.now;
        let pod = &self.pods[p as usize];
        if pod.incarnation != inc || pod.state == PodState::Exited || pod.terminating {
            return false;
        }
        let Some(g) = pod.gpu else { return false };
        let profile = self.profiles[self.gpus[g].profile];
        let ctx = profile.context_mib.value;
        settle_cpu(&mut self.pods[p as usize], now);
        let cpu_cum = self.pods[p as usize].cpu_cum;
        if self.gpus[g].mem_used + ctx > profile.memory_mib.value {
            // CUDA context creation fails: the container exits and the
            // kubelet restarts it with exponential back-off.
            let pod = &mut self.pods[p as usize];
            pod.restarts += 1;
            pod.incarnation += 1;
            pod.state = PodState::BackOff;
            let backoff = self.input.scenario.spec.sim.restart_backoff_s
                * 2f64.powi(pod.restarts.saturating_sub(1).min(16) as i32);
            let inc = pod.incarnation;
            self.push(
                now + us(backoff.min(300.0)),
                Event::ContainerStarted(p, inc),
            );
            self.touch(p);
            return true;
        }
        self.gpus[g].mem_used += ctx;
        self.gpus[g].contexts += 1;
        let pod = &mut self.pods[p as usize];
        pod.context = true;
        pod.state = PodState::Initializing;
        pod.container_started = Some(now);
        pod.container_cpu_base = cpu_cum;
        pod.cpu_series.restart();
        let d = self.startup_delay("cuda-init", p, inc, &profile.cuda_init);
        self.push(now + d, Event::AppReady(p, inc));
        self.touch(p);
        true
    }

    fn app_ready(&mut self, p: u32, inc: u32) -> bool {
        let sim = &self.input.scenario.spec.sim;
        let pod = &mut self.pods[p as usize];
        if pod.incarnation != inc || pod.state != PodState::Initializing || pod.terminating {
            return false;
        }
        pod.state = PodState::Running;
        // The kubelet probes on a fixed ticker whose phase is the pod's own
        // (see `crate::clocks`); probes before the initial delay are skipped.
        let first = pod.container_started.unwrap_or(self.now)
            + us(sim.probe_initial_delay_s)
            + us(self.input.clocks.probe_phase_s(p));
        let period = us(sim.probe_period_s).max(1);
        let k = if self.now <= first {
            0
        } else {
            (self.now - first + period - 1) / period
        };
        let at = first + k * period;
        self.push(at, Event::ReadyObserved(p, inc));
        self.touch(p);
        true
    }

    fn delete_pod(&mut self, p: u32) {
        let now = self.now;
        let sim = &self.input.scenario.spec.sim;
        let (endpoint_delay, grace) = (us(sim.endpoint_delay_s), us(sim.grace_period_s));
        let pod = &mut self.pods[p as usize];
        pod.terminating = true;
        pod.deleted = Some(now);
        if pod.state == PodState::Unscheduled {
            pod.state = PodState::Exited;
            pod.exited = Some(now);
            self.pending.remove(&p);
            return;
        }
        if pod.in_endpoints {
            self.push(now + endpoint_delay, Event::EndpointRemove(p));
            self.push(now + grace, Event::Kill(p));
        } else {
            self.exit_pod(p);
        }
    }

    fn exit_if_drained(&mut self, p: u32) {
        let pod = &self.pods[p as usize];
        if pod.terminating
            && !pod.in_endpoints
            && pod.state != PodState::Exited
            && pod.busy == 0
            && pod.queue.is_empty()
        {
            self.exit_pod(p);
        }
    }

    /// The pod's process is gone: fail what it still holds, free its slot,
    /// context memory and CPU request, and schedule pending pods.
    fn exit_pod(&mut self, p: u32) {
        let now = self.now;
        self.set_endpoint(p, false);
        self.touch(p);
        let pod = &mut self.pods[p as usize];
        let mut held: Vec<u32> = pod.queue.drain(..).collect();
        held.append(&mut pod.cpu_reqs);
        held.append(&mut pod.gpu_reqs);
        held.sort_unstable();
        for r in held {
            let phase = self.reqs[r as usize].phase;
            if phase == Phase::Gpu {
                if let Some(g) = self.pods[p as usize].gpu {
                    self.gpus[g].mem_used -= self.reqs[r as usize].mem_mib;
                }
            }
            self.reqs[r as usize].phase = Phase::Done;
            self.client_done(r, Outcome::Killed);
        }
        let spec = &self.input.scenario.spec;
        let pod = &mut self.pods[p as usize];
        pod.busy = 0;
        pod.n_cpu = 0;
        pod.n_gpu = 0;
        pod.state = PodState::Exited;
        pod.exited = Some(now);
        // Its CPU use ends here; the node's pods no longer include it.
        settle_cpu(pod, now);
        pod.cpu_rate = 0.0;
        pod.cpu_factor = 0.0;
        let (node, gpu, context) = (pod.node, pod.gpu, pod.context);
        pod.context = false;
        if let Some(n) = node {
            self.nodes[n].requested_m -= u64::from(spec.pod.cpu_request_m);
            self.nodes[n].pods.retain(|&q| q != p);
        }
        if let Some(g) = gpu {
            self.gpus[g].pods.retain(|&q| q != p);
            self.gpus[g].used_slots -= 1;
            if context {
                self.gpus[g].mem_used -= self.profiles[self.gpus[g].profile].context_mib.value;
                self.gpus[g].contexts -= 1;
            }
        }
        self.schedule_pending();
    }

    /// ReplicaSet-style reconciliation towards `spec_replicas`.
    fn reconcile(&mut self) {
        let live: Vec<u32> = (0..self.pods.len() as u32)
            .filter(|&p| self.pods[p as usize].live())
            .collect();
        let want = self.spec_replicas as usize;
        if live.len() < want {
            for _ in live.len()..want {
                self.create_pod(self.now);
            }
            self.schedule_pending();
        } else if live.len() > want {
            // Victims: unscheduled first, then not started, then not ready,
            // then the most recently ready, then the newest.
            let mut ranked = live;
            ranked.sort_by_key(|&p| {
                let pod = &self.pods[p as usize];
                let scheduled = pod.state != PodState::Unscheduled;
                let running = matches!(pod.state, PodState::Running | PodState::Initializing);
                (
                    scheduled,
                    running,
                    pod.ready(),
                    Reverse(pod.ready_at.unwrap_or(Time::MIN)),
                    Reverse(pod.created),
                    Reverse(p),
                )
            });
            let n = ranked.len() - want;
            for &p in ranked.iter().take(n) {
                self.delete_pod(p);
            }
        }
    }

    // ---- metrics and control ------------------------------------------

    fn scrape(&mut self) {
        let now = self.now;
        let stage = MetricsServer::of(&self.input.clocks);
        for pod in &mut self.pods {
            if !matches!(pod.state, PodState::Running | PodState::Initializing) {
                continue;
            }
            settle_cpu(pod, now);
            let cum = pod.cpu_cum - pod.container_cpu_base;
            pod.cpu_series
                .scrape(now, cum, pod.container_started, &stage);
        }
    }

    fn controller_tick(&mut self) -> bool {
        let (obs, missing) = self.observe_now();
        // A serving pod always answers here, so `missing` stays empty
        // unless an answer is out of range.
        match self.control.step(self.policy.as_mut(), &obs, &missing) {
            Some(to) => {
                self.spec_replicas = to;
                self.reconcile();
                true
            }
            None => false,
        }
    }

    /// What the policy sees now: every pod not yet gone, through the
    /// shared observation rules and the metrics pipelines.
    fn observe_now(&mut self) -> (scaler::Observation, Vec<String>) {
        let now = self.now;
        let spec = &self.input.scenario.spec;
        let from = now - us(spec.sim.latency_window_s);
        let mut views = Vec::with_capacity(self.pods.len());
        for (i, pod) in self.pods.iter_mut().enumerate() {
            if pod.state == PodState::Exited {
                continue;
            }
            pod.expire_latencies(from);
            let pod = &*pod;
            let metrics = pod.metrics(
                pod.gpu.map(|g| self.gpus[g].last_util),
                spec.sim.latency_window_s,
            );
            views.push((pod.timeline(i as u32), pod.cpu_series.metric(), metrics));
        }
        let (mut obs, missing) = observe::observe(
            secs(now),
            self.spec_replicas,
            views.iter().map(|(life, cpu, metrics)| PodAtTick {
                life,
                cpu: *cpu,
                metrics: metrics.as_ref(),
            }),
            0,
            u64::from(spec.pod.cpu_request_m),
        );
        if self.pipelines.records() {
            // The observation lists the pods that have not exited, in order.
            let series = self.pods.iter().filter(|p| p.state != PodState::Exited);
            self.pipelines.fill(&mut obs, series.map(|p| &p.series));
        }
        (obs, missing)
    }

    fn sample(&mut self) {
        let now = self.now;
        let t_s = secs(now);
        let window = us(self.input.scenario.spec.sim.latency_window_s);
        let mut gpus = std::mem::take(&mut self.gpu_readings);
        gpus.clear();
        for g in self.gpus.iter_mut() {
            settle_gpu(g, self.profiles[g.profile], now);
            let util = (g.busy_s.min(1.0)) * 100.0;
            g.busy_s = 0.0;
            g.last_util = util;
            let power = g.energy_j - g.energy_at_last_sample;
            g.energy_at_last_sample = g.energy_j;
            gpus.push(GpuReading {
                util_pct: Some(util),
                mem_used_mib: g.mem_used,
                power_w: power,
                energy_j: g.energy_j,
                contexts: Some(g.contexts),
            });
        }
        let mut pods = std::mem::take(&mut self.pod_readings);
        pods.clear();
        for (i, pod) in self.pods.iter_mut().enumerate() {
            // A pod shows for one more second after it has gone.
            if pod.state == PodState::Exited && pod.exited.is_some_and(|e| e <= now - us(1.0)) {
                continue;
            }
            pod.expire_latencies(now - window);
            settle_cpu(pod, now);
            let cores = pod.cpu_cum - pod.cpu_at_sample;
            pod.cpu_at_sample = pod.cpu_cum;
            let gpu_util = pod
                .gpu
                .filter(|_| pod.context)
                .map(|g| self.gpus[g].last_util);
            if self.pipelines.records() {
                // Prometheus scrapes the app's gauge once it serves.
                let in_flight = pod
                    .ready()
                    .then(|| f64::from(pod.busy) + pod.queue.len() as f64);
                pod.series.record(t_s.round() as u32, gpu_util, in_flight);
            }
            pods.push(PodReading {
                pod: i as u32,
                now: pod.now(),
                ready: pod.ready(),
                on_node: pod.node.is_some(),
                context: pod.context,
                cpu_cores: Some(cores),
                gpu_util,
                gpu_source: None,
                in_flight: pod.busy,
                queued: pod.queue.len() as u32,
                avg_latency_ms: pod.mean_latency_ms(),
                completed: pod.completed_in_second,
            });
            pod.completed_in_second = 0;
        }
        let client = ClientSecond {
            waiting: self.n_waiting,
            offered: self.offered_in_second,
            completed: self.completed_in_second,
            failed: self.failed_in_second,
        };
        self.sampler
            .second(t_s, self.spec_replicas, &pods, &gpus, client);
        self.gpu_readings = gpus;
        self.pod_readings = pods;
        self.offered_in_second = 0;
        self.completed_in_second = 0;
        self.failed_in_second = 0;
        if crate::trial::control::sample_due(self.policy.as_ref(), t_s) {
            let (obs, _) = self.observe_now();
            self.policy.sample(&obs);
        }
    }

    fn finish(mut self) -> TrialRecords {
        std::mem::take(&mut self.control).finish(&mut self.out);
        std::mem::replace(&mut self.sampler, Sampler::new(0.0)).finish(&mut self.out);
        self.out.requests.reserve(self.reqs.len());
        for (i, (r, log)) in self.reqs.iter().zip(&self.logs).enumerate() {
            // Every sent request has a client time-out event, so the run only
            // ends once each has an outcome.
            debug_assert!(r.outcome.is_some(), "request {i} has no outcome");
            let outcome = r.outcome.unwrap_or(Outcome::Timeout);
            let finished = log.finished.unwrap_or(self.now);
            self.out.requests.push(RequestRecord {
                id: i as u32,
                user: r.user,
                user_seq: log.user_seq,
                scheduled_s: secs(log.scheduled),
                sent_s: secs(r.sent),
                started_s: log.started.map(secs),
                finished_s: secs(finished),
                pod: r.pod,
                size: log.size,
                iterations: log.iterations,
                outcome,
                latency_ms: secs(finished - log.scheduled) * 1000.0,
            });
        }
        for (i, p) in self.pods.iter().enumerate() {
            self.out.pods.push(PodRecord {
                pod: i as u32,
                name: p.name.clone(),
                node: p.node.map(|n| self.nodes[n].name.clone()),
                gpu: p.gpu.map(|g| g as u32),
                created_s: secs(p.created),
                scheduled_s: p.scheduled.map(secs),
                started_s: p.container_started.map(secs),
                ready_s: p.ready_at.map(secs),
                deleted_s: p.deleted.map(secs),
                exited_s: p.exited.map(secs),
                restarts: p.restarts,
                probe_phase_s: Some(self.input.clocks.probe_phase_s(i as u32)),
            });
        }
        self.out.clocks = self.input.clocks.records();
        self.out.signals = pipeline(
            self.policy.signals(),
            Site::Sim,
            &self.input.clocks,
            &self.input.scenario.spec.sim,
        );
        self.out
    }
}

/// The heap's key of an event: time, then class, then sequence number (or
/// request, for completions), packed so that integer order is that order.
fn key(at: Time, class: u8, seq: u64) -> u128 {
    debug_assert!(seq < 1 << 56);
    let time = (at as u64) ^ (1 << 63);
    (u128::from(time) << 64) | (u128::from(class) << 56) | u128::from(seq)
}

fn key_time(key: u128) -> Time {
    (((key >> 64) as u64) ^ (1 << 63)) as Time
}

/// Rate at which one request in its GPU phase progresses (device seconds per
/// second) when `contexts` pods share the GPU and its own pod has
/// `in_context` requests on the GPU; `eps` is the context-switch overhead.
pub fn time_slice_rate(contexts: u32, in_context: u32, eps: f64) -> f64 {
    if contexts == 0 || in_context == 0 {
        return 0.0;
    }
    let c = f64::from(contexts);
    let device = 1.0 / (1.0 + eps * (c - 1.0));
    device / c / f64::from(in_context)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use scaler::PodPhase;

    fn pod(name: &str, state: PodState) -> Pod {
        let mut p = Pod::new(name.into(), us(1.0));
        p.state = state;
        if state != PodState::Unscheduled {
            p.scheduled = Some(us(2.0));
        }
        if !matches!(state, PodState::Unscheduled | PodState::Starting) {
            p.container_started = Some(us(3.0));
        }
        p
    }

    /// The simulator's pods in each of its states, observed through the
    /// shared `trial::observe`, look as a cluster shows such a pod to
    /// `scaler run` (`tests/conformance.rs` holds the local and cluster
    /// paths to the same rules): phase from the container, Ready with its
    /// last transition, `/metrics.json` read only while serving, a deleted
    /// pod `Terminating` with the Ready it had, and an out-of-range answer
    /// counted as missing.
    #[test]
    fn simulated_pods_are_observed_as_a_cluster_shows_them() {
        let unscheduled = pod("unscheduled", PodState::Unscheduled);
        let starting = pod("starting", PodState::Starting);
        let loading = pod("loading", PodState::Initializing);
        let backoff = pod("backoff", PodState::BackOff);
        let mut up_not_ready = pod("up-not-ready", PodState::Running);
        up_not_ready.busy = 2;
        let mut serving = pod("serving", PodState::Running);
        serving.ready_at = Some(us(5.0));
        serving.busy = 1;
        serving.queue.extend([7, 8]);
        serving
            .latencies
            .extend([(us(9.0), 300_000), (us(9.5), 500_000)]);
        serving.latency_sum = 800_000;
        let mut deleted = pod("deleted", PodState::Running);
        deleted.ready_at = Some(us(5.0));
        deleted.terminating = true;
        deleted.deleted = Some(us(8.0));
        let mut overloaded = pod("overloaded", PodState::Running);
        overloaded.ready_at = Some(us(6.0));
        let pods = [
            (&unscheduled, None),
            (&starting, None),
            (&loading, None),
            (&backoff, None),
            (&up_not_ready, Some(40.0)),
            (&serving, Some(80.0)),
            (&deleted, Some(60.0)),
            (&overloaded, Some(140.0)),
        ];
        let views: Vec<_> = pods
            .iter()
            .enumerate()
            .map(|(i, (p, util))| (p.timeline(i as u32), p.metrics(*util, 10.0)))
            .collect();
        let (obs, missing) = observe::observe(
            10.0,
            8,
            views.iter().map(|(life, metrics)| PodAtTick {
                life,
                cpu: None,
                metrics: metrics.as_ref(),
            }),
            0,
            500,
        );
        assert_eq!(missing, vec!["overloaded".to_string()]);
        let by = |n: &str| obs.pods.iter().find(|p| p.name == n).unwrap();
        let row = |n: &str| {
            let p = by(n);
            (p.phase, p.ready, p.ready_transition_time, p.start_time)
        };
        use PodPhase::{Pending, Running, Terminating};
        assert_eq!(row("unscheduled"), (Pending, None, None, None));
        assert_eq!(
            row("starting"),
            (Pending, Some(false), Some(2.0), Some(2.0))
        );
        assert_eq!(row("loading"), (Running, Some(false), Some(2.0), Some(2.0)));
        assert_eq!(row("backoff"), (Running, Some(false), Some(2.0), Some(2.0)));
        assert_eq!(
            row("up-not-ready"),
            (Running, Some(false), Some(2.0), Some(2.0))
        );
        assert_eq!(row("serving"), (Running, Some(true), Some(5.0), Some(2.0)));
        assert_eq!(
            row("deleted"),
            (Terminating, Some(true), Some(5.0), Some(2.0))
        );
        // Only the serving pod's answer is read, and read whole.
        for p in &obs.pods {
            let read = p.name == "serving";
            assert_eq!(p.gpu_utilization.is_some(), read, "{}", p.name);
            assert_eq!(p.in_flight.is_some(), read, "{}", p.name);
            assert_eq!(p.cpu_request_m, Some(500), "{}", p.name);
        }
        let s = by("serving");
        assert_eq!(s.gpu_utilization, Some(80.0));
        assert_eq!(s.in_flight, Some(3));
        assert_eq!(s.avg_latency_ms, Some(400.0));
    }
}
