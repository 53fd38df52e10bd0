//! The real load generator of the local and k8s backends: replays the
//! seed's schedule against the replicas.
//!
//! Open loop: a dispatcher thread sleeps until shortly before each
//! scheduled instant (timer slack 1 µs), yields its core until the instant,
//! and hands the request to the async runtime, whatever earlier requests
//! are doing; `sent_s` is when the request task actually started, and
//! latency runs from the scheduled instant (no coordinated omission). Closed loop: one task per user sends,
//! waits for the answer, thinks, and sends the next request of its script.
//! Every request gets an outcome: the client time-out bounds each one.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scaler::cluster::http;

use crate::trial::timeline::TrialTime;

/// Where a request goes: the replica picked at send time (its number, when
/// the bench knows it, and address), or `None` when no replica is ready.
pub trait Target: Send + Sync + 'static {
    /// Picks the endpoint for the next request.
    fn pick(&self) -> Option<(Option<u32>, SocketAddr)>;
}

/// Latencies of requests answered OK, for the live progress line.
#[derive(Default)]
pub struct LiveLatency(Mutex<std::collections::VecDeque<(Instant, f64)>>);

impl LiveLatency {
    fn record(&self, at: Instant, latency_ms: f64) {
        let mut q = self.0.lock().unwrap_or_else(|e| e.into_inner());
        q.push_back((at, latency_ms));
        while q.len() > 100_000 {
            q.pop_front();
        }
    }

    /// Nearest-rank p95 of the requests answered in the last `window`.
    pub fn p95(&self, now: Instant, window: Duration) -> Option<f64> {
        let mut q = self.0.lock().unwrap_or_else(|e| e.into_inner());
        while q
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > window)
        {
            q.pop_front();
        }
        let mut v: Vec<f64> = q.iter().map(|(_, l)| *l).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let rank = ((0.95 * v.len() as f64).ceil() as usize).clamp(1, v.len());
        Some(v[rank - 1])
    }
}

/// One fixed endpoint (benchmarks, tests).
pub struct Fixed(pub SocketAddr);

impl Target for Fixed {
    fn pick(&self) -> Option<(Option<u32>, SocketAddr)> {
        Some((Some(0), self.0))
    }
}
use crate::profile::{open_schedule, user_start, Arrival, LoadProfile, UserScript};
use crate::record::{Outcome, RequestRecord};
use crate::{Error, Result};

/// How far ahead of an instant the dispatcher stops sleeping and waits by
/// yielding. Short, because at high rates (a request every 30–50 µs) the
/// dispatcher would otherwise never sleep and hold a core the request tasks
/// need: raising it from 20 µs to 100 µs cut the highest rate `just
/// bench-loadgen` answered in full from 30,000–32,000 to 24,000–28,000
/// req/s on 2 cores. A sleep with 1 µs of timer slack ends within tens of
/// microseconds of its deadline on an idle core.
const SPIN: Duration = Duration::from_micros(20);

struct Req {
    id: u32,
    user: Option<u32>,
    user_seq: Option<u32>,
    scheduled: Instant,
    size: u32,
    iterations: u32,
}

/// Sends one request to a ready replica and records it.
async fn send(
    req: Req,
    t0: Instant,
    timeout: Duration,
    target: Arc<dyn Target>,
    live: Option<Arc<LiveLatency>>,
) -> RequestRecord {
    let sent = Instant::now();
    let target: Option<(Option<u32>, SocketAddr)> = target.pick();
    let s = |t: Instant| t.secs_from(t0);
    let record = |pod, started: Option<f64>, finished: Instant, outcome| RequestRecord {
        id: req.id,
        user: req.user,
        user_seq: req.user_seq,
        scheduled_s: s(req.scheduled),
        sent_s: s(sent),
        started_s: started,
        finished_s: s(finished),
        pod,
        size: req.size,
        iterations: req.iterations,
        outcome,
        latency_ms: finished
            .saturating_duration_since(req.scheduled)
            .as_secs_f64()
            * 1e3,
    };
    let Some((pod, addr)) = target else {
        return record(None, None, Instant::now(), Outcome::NoEndpoint);
    };
    let body = format!(
        r#"{{"size":{},"iterations":{},"seed":{}}}"#,
        req.size,
        req.iterations,
        u64::from(req.id)
    );
    let call = http::request(addr, "POST", "/compute", body.as_bytes());
    let result = tokio::time::timeout(timeout, call).await;
    let finished = Instant::now();
    match result {
        Err(_) => record(pod, None, finished, Outcome::Timeout),
        Ok(Err(http::HttpError::Connect(_))) => record(pod, None, finished, Outcome::NoEndpoint),
        Ok(Err(_)) => record(pod, None, finished, Outcome::Killed),
        Ok(Ok(r)) => {
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
            let outcome = match r.status {
                200 => Outcome::Ok,
                504 => Outcome::Timeout,
                503 if v["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("out of memory")) =>
                {
                    Outcome::Oom
                }
                _ => Outcome::Rejected,
            };
            let started = v["queue_ms"]
                .as_f64()
                .filter(|_| outcome == Outcome::Ok)
                .map(|q| s(sent) + q / 1e3);
            let rec = record(pod, started, finished, outcome);
            if let (Some(live), Outcome::Ok) = (&live, outcome) {
                live.record(finished, rec.latency_ms);
            }
            rec
        }
    }
}

/// Replays `profile`'s load for `seed` from `t0` for `duration_s` against
/// `target`; returns every request, ordered by id, once each has an outcome.
pub fn replay(
    profile: &LoadProfile,
    seed: u64,
    duration_s: f64,
    t0: Instant,
    target: Arc<dyn Target>,
    stop: &Arc<AtomicBool>,
    live: Option<Arc<LiveLatency>>,
) -> Result<Vec<RequestRecord>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Local(format!("local: load generator runtime: {e}")))?;
    let timeout = Duration::from_secs_f64(profile.timeout_s);
    let end = t0 + Duration::from_secs_f64(duration_s);
    let mut out: Vec<RequestRecord> = match &profile.arrival {
        Arrival::Open { .. } => {
            let schedule = open_schedule(profile, seed, duration_s);
            // The kernel's default slack (50 µs) would make each sleep end
            // up to that much late, past the 20 µs of yielding; best
            // effort: where it cannot be set, sends are that much later.
            let _ = nix::sys::prctl::set_timerslack(1_000);
            let mut handles = Vec::with_capacity(schedule.len());
            for r in schedule {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let at = t0 + Duration::from_secs_f64(r.at_s);
                let now = Instant::now();
                if at > now + SPIN {
                    std::thread::sleep(at - now - SPIN);
                }
                // Wait out the last stretch without sleeping, but give the
                // core to the request tasks (and, locally, the replicas)
                // whenever they can run: at high rates the dispatcher is
                // always in this loop, and a pure spin would hold a core.
                while Instant::now() < at {
                    std::thread::yield_now();
                }
                let req = Req {
                    id: r.id,
                    user: None,
                    user_seq: None,
                    scheduled: at,
                    size: r.size,
                    iterations: r.iterations,
                };
                handles.push(rt.spawn(send(req, t0, timeout, Arc::clone(&target), live.clone())));
            }
            rt.block_on(async {
                let mut out = Vec::with_capacity(handles.len());
                for h in handles {
                    if let Ok(r) = h.await {
                        out.push(r);
                    }
                }
                out
            })
        }
        Arrival::Closed { users, ramp_s, .. } => {
            let users = *users;
            let next_id = Arc::new(std::sync::atomic::AtomicU32::new(0));
            let handles: Vec<_> = (0..users)
                .map(|u| {
                    let mut script = UserScript::new(profile, seed, u);
                    let start = t0 + Duration::from_secs_f64(user_start(u, users, *ramp_s));
                    let target = Arc::clone(&target);
                    let live = live.clone();
                    let stop = Arc::clone(stop);
                    let next_id = Arc::clone(&next_id);
                    rt.spawn(async move {
                        let mut done = Vec::new();
                        tokio::time::sleep_until(start.into()).await;
                        let mut seq = 0u32;
                        while Instant::now() < end && !stop.load(Ordering::SeqCst) {
                            let r = script.next_request();
                            let req = Req {
                                id: next_id.fetch_add(1, Ordering::Relaxed),
                                user: Some(u),
                                user_seq: Some(seq),
                                scheduled: Instant::now(),
                                size: r.size,
                                iterations: r.iterations,
                            };
                            let rec =
                                send(req, t0, timeout, Arc::clone(&target), live.clone()).await;
                            let pause = script.pause_s(&r, rec.outcome);
                            done.push(rec);
                            seq += 1;
                            if pause > 0.0 {
                                tokio::time::sleep(Duration::from_secs_f64(pause)).await;
                            }
                        }
                        done
                    })
                })
                .collect();
            rt.block_on(async {
                let mut out = Vec::new();
                for h in handles {
                    if let Ok(mut r) = h.await {
                        out.append(&mut r);
                    }
                }
                out
            })
        }
    };
    rt.shutdown_timeout(Duration::from_secs(1));
    out.sort_by_key(|r| r.id);
    Ok(out)
}
