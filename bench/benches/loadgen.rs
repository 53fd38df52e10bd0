//! `just bench-loadgen`: the local backend's load generator against a
//! trivial HTTP endpoint on loopback.
//!
//! 1. Send accuracy: open loop at 1,000 requests/s for 5 s; the lag between
//!    each request's scheduled instant and its actual send (p50, p99, max).
//! 2. Highest sustained open-loop rate: rising constant rates for 3 s each;
//!    a rate is kept up with when at least 99 % of the scheduled requests are
//!    answered at 95 % of the rate or more; reported with and without the
//!    condition that the send lag p99 stays under 1 ms.
//! 3. The same endpoint driven by `wrk` or `oha` when either is installed
//!    (`apt-get install wrk`, `cargo install oha`), in the same run.

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bench::loadgen::{replay, Fixed};
use bench::profile::LoadProfile;
use bench::record::Outcome;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}";

/// A trivial server: reads the request head (and a body, if announced),
/// answers `{}`, closes. One runtime thread, so the load generator keeps
/// the other core.
fn trivial_server() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(l.local_addr().expect("addr")).expect("send addr");
            loop {
                let Ok((mut s, _)) = l.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut got = 0;
                    loop {
                        let Ok(n) = s.read(&mut buf[got..]).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        got += n;
                        if let Some(end) = buf[..got].windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                            let len = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            if got >= end + 4 + len {
                                break;
                            }
                        }
                        if got == buf.len() {
                            break;
                        }
                    }
                    let _ = s.write_all(RESPONSE).await;
                    let _ = s.shutdown().await;
                });
            }
        });
    });
    rx.recv().expect("server address")
}

fn constant(rps: f64) -> LoadProfile {
    let text = format!(
        r#"name = "bench"
size = {{ min = 1, max = 1 }}
iterations = {{ min = 1, max = 1 }}
timeout_s = 5
arrival = {{ loop = "open", rate = {{ shape = "constant", rps = {rps} }} }}"#
    );
    toml::from_str(&text).expect("profile")
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

struct Run {
    scheduled: usize,
    ok: usize,
    lag_ms: Vec<f64>,
    wall_s: f64,
}

fn run(addr: SocketAddr, rps: f64, seconds: f64) -> Run {
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now() + Duration::from_millis(50);
    let recs = replay(
        &constant(rps),
        1,
        seconds,
        t0,
        Arc::new(Fixed(addr)),
        &stop,
        None,
    )
    .expect("load generator");
    Run {
        scheduled: recs.len(),
        ok: recs.iter().filter(|r| r.outcome == Outcome::Ok).count(),
        lag_ms: recs
            .iter()
            .map(|r| (r.sent_s - r.scheduled_s) * 1e3)
            .collect(),
        wall_s: t0.elapsed().as_secs_f64(),
    }
}

/// Requests/s from the output of `tool args…`, if the tool runs.
fn rate_of(tool: &str, args: &[&str], label: &str) -> Option<String> {
    let out = std::process::Command::new(tool).args(args).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| "?".into());
    Some(rps)
}

/// Runs `wrk` (or `oha`) against `addr`; its requests/s when it ran.
fn external(addr: SocketAddr) -> Option<f64> {
    let url = format!("http://{addr}/");
    let wrk = [
        "-t2",
        "-c64",
        "-d3s",
        "-H",
        "Connection: close",
        url.as_str(),
    ];
    if let Some(rps) = rate_of("wrk", &wrk, "Requests/sec:") {
        println!("wrk -t2 -c64 -d3s (closed loop, a new connection per request): {rps} requests/s");
        return rps.parse().ok();
    }
    let oha = [
        "-z",
        "3s",
        "-c",
        "64",
        "--no-tui",
        "--disable-keepalive",
        url.as_str(),
    ];
    if let Some(rps) = rate_of("oha", &oha, "Requests/sec:") {
        println!("oha -z 3s -c 64 --disable-keepalive: {rps} requests/s");
        return rps.parse().ok();
    }
    println!("neither wrk nor oha is installed (apt-get install wrk, or cargo install oha): no comparison");
    None
}

fn main() {
    let addr = trivial_server();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("load generator vs a trivial endpoint on {addr} ({cpus} CPUs)");

    let mut r = run(addr, 1000.0, 5.0);
    println!(
        "open loop 1000 req/s for 5 s: {} scheduled, {} ok; send lag p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms (goal: p99 < 1 ms)",
        r.scheduled,
        r.ok,
        quantile(&mut r.lag_ms.clone(), 0.5),
        quantile(&mut r.lag_ms, 0.99),
        r.lag_ms.iter().cloned().fold(0.0, f64::max),
    );

    let (mut best_lag, mut best_answered) = (0.0, 0.0);
    for rps in [
        1000.0, 2000.0, 3000.0, 4000.0, 6000.0, 8000.0, 12000.0, 16000.0, 20000.0, 24000.0,
        26000.0, 28000.0, 30000.0, 32000.0, 34000.0, 36000.0, 40000.0, 44000.0, 48000.0,
    ] {
        let mut r = run(addr, rps, 3.0);
        let p99 = quantile(&mut r.lag_ms, 0.99);
        let answered = r.ok as f64 / r.scheduled.max(1) as f64;
        let keeps_up = answered >= 0.99 && r.ok as f64 / r.wall_s >= 0.95 * rps;
        println!(
            "  {rps:>6.0} req/s: {} scheduled, {:.1} % ok, {:.0} answered/s over {:.1} s, lag p99 {p99:.3} ms",
            r.scheduled,
            100.0 * answered,
            r.ok as f64 / r.wall_s,
            r.wall_s,
        );
        if keeps_up {
            best_answered = rps;
            if p99 < 1.0 {
                best_lag = rps;
            }
        } else {
            break;
        }
    }
    println!(
        "highest open-loop rate answered in full: {best_answered:.0} req/s; with send lag p99 < 1 ms: {best_lag:.0} req/s (a new connection per request)"
    );
    if let Some(rps) = external(addr).filter(|r| *r > 0.0) {
        println!(
            "load generator / external tool: {:.2}x (goal: at least 0.5x)",
            best_answered / rps
        );
    }
}
