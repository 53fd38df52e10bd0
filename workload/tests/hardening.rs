//! The service under hostile or careless clients, on loopback: idle and
//! slow-header connections, the connection cap and the open-file limit,
//! announced bodies above the limit, stalled bodies, admission by working
//! memory, a client that leaves during a long request, and JSON on every
//! error answer the service writes. Time-outs are short and set by each
//! test; every bound below only catches a hang.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use workload::backend::Backend;
use workload::compute::cpu::CpuEngine;
use workload::compute::{BackendKind, Engine};
use workload::server::{serve, DrainReport, ServeConfig, ServeError, HEAD_BUFFER_BYTES};

/// Generous bound on anything the server is expected to do soon.
const HANG: Duration = Duration::from_secs(60);

struct Service {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<std::thread::JoinHandle<Result<DrainReport, ServeError>>>,
}

impl Service {
    fn start(config: ServeConfig, engines: Vec<Box<dyn Engine>>) -> Service {
        raise_fd_limit();
        let (addr_tx, addr_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(l.local_addr().unwrap()).unwrap();
                let open = move || {
                    Ok(Backend {
                        kind: BackendKind::Cpu,
                        device: "test device".into(),
                        gpu_uuid: None,
                        wait_mode: None,
                        fallback_reason: None,
                        init_s: 0.0,
                        engines,
                        gpu: None,
                    })
                };
                serve(l, config, open, async move {
                    let _ = stop_rx.await;
                })
                .await
            })
        });
        let s = Service {
            addr: addr_rx.recv().unwrap(),
            shutdown: Some(stop_tx),
            handle: Some(handle),
        };
        wait_until(|| get(s.addr, "/readyz").status == 200, "readiness");
        s
    }

    fn stop(&mut self) -> DrainReport {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.handle.take().unwrap().join().unwrap().unwrap()
    }
}

fn cpu_service(config: ServeConfig) -> Service {
    let engine: Box<dyn Engine> = Box::new(CpuEngine::new(1).unwrap());
    Service::start(config, vec![engine])
}

/// The test process holds both ends of every connection: lift its soft
/// open-file limit to the hard one.
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

/// Long time-outs, so that only what a test shortens can close anything.
fn patient() -> ServeConfig {
    ServeConfig {
        header_timeout: Duration::from_secs(600),
        idle_timeout: Duration::from_secs(600),
        deadline: Duration::from_secs(600),
        ..ServeConfig::default()
    }
}

/// The value of one series in `/metrics`.
fn metric(addr: SocketAddr, series: &str) -> f64 {
    let text = get(addr, "/metrics").body;
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(HANG)).unwrap();
    s
}

/// Whether the server has closed `s` (end of stream or a reset), without
/// waiting.
fn closed_by_server(s: &mut TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut b = [0u8; 256];
    let closed = loop {
        match s.read(&mut b) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break true,
        }
    };
    s.set_nonblocking(false).unwrap();
    closed
}

/// Sends `raw` and reads until the server closes (or `HANG` passes).
fn exchange(addr: SocketAddr, raw: &[u8]) -> (String, Vec<u8>) {
    let mut s = connect(addr);
    // A connection closed on arrival may refuse the write; the read says so.
    let _ = s.write_all(raw);
    read_all(&mut s)
}

/// Everything up to the end of the stream: (head, body).
fn read_all(s: &mut TcpStream) -> (String, Vec<u8>) {
    let mut raw = Vec::new();
    match s.read_to_end(&mut raw) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("no answer: {e}; got {:?}", String::from_utf8_lossy(&raw)),
    }
    split(&raw)
}

fn split(raw: &[u8]) -> (String, Vec<u8>) {
    match raw.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => (
            String::from_utf8_lossy(&raw[..i]).into_owned(),
            raw[i + 4..].to_vec(),
        ),
        None => (String::from_utf8_lossy(raw).into_owned(), Vec::new()),
    }
}

fn status_of(head: &str) -> u16 {
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Checks the error shape: JSON with a string `error` containing `says`.
fn assert_json_error(status: u16, want: u16, body: &[u8], says: &str) -> serde_json::Value {
    assert_eq!(status, want, "{}", String::from_utf8_lossy(body));
    let j: serde_json::Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(body)));
    let msg = j["error"].as_str().unwrap_or_default();
    assert!(msg.contains(says), "error {msg:?} should mention {says:?}");
    j
}

#[test]
fn healthz_answers_beside_many_idle_and_slow_header_connections() {
    let mut s = cpu_service(patient());
    let a = s.addr;
    let idle: Vec<TcpStream> = (0..200).map(|_| connect(a)).collect();
    let mut slow: Vec<TcpStream> = (0..20).map(|_| connect(a)).collect();
    for c in &mut slow {
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ")
            .unwrap();
    }
    wait_until(
        || metric(a, "workload_open_connections") >= 220.0,
        "all connections open",
    );
    for _ in 0..5 {
        for c in &mut slow {
            c.write_all(b"a").unwrap();
        }
        let h = get(a, "/healthz");
        assert_eq!(
            (h.status, h.json()["status"].as_str()),
            (200, Some("alive"))
        );
    }
    drop((idle, slow));
    s.stop();
}

#[test]
fn slow_header_connections_are_closed_at_the_header_timeout() {
    // One byte every 100 ms never lets the 600 s idle time-out start; only
    // the 1 s header time-out can close these.
    let mut s = cpu_service(ServeConfig {
        header_timeout: Duration::from_secs(1),
        ..patient()
    });
    let a = s.addr;
    let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ";
    let mut slow: Vec<(TcpStream, bool)> = (0..30).map(|_| (connect(a), false)).collect();
    let end = Instant::now() + HANG;
    let mut sent = 0;
    while slow.iter().any(|(_, closed)| !closed) {
        assert!(Instant::now() < end, "slow-header connections still open");
        let byte = if sent < head.len() { head[sent] } else { b'a' };
        sent += 1;
        for (c, closed) in &mut slow {
            if !*closed && (c.write_all(&[byte]).is_err() || closed_by_server(c)) {
                *closed = true;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        metric(
            a,
            "workload_connections_closed_total{reason=\"header_timeout\"}"
        ) >= 30.0
    );
    assert_eq!(
        metric(a, "workload_connections_closed_total{reason=\"idle\"}"),
        0.0
    );
    assert_eq!(get(a, "/healthz").status, 200);
    s.stop();
}

#[test]
fn idle_connections_are_closed_at_the_idle_timeout() {
    let mut s = cpu_service(ServeConfig {
        idle_timeout: Duration::from_secs(1),
        ..patient()
    });
    let a = s.addr;
    let mut idle: Vec<TcpStream> = (0..100).map(|_| connect(a)).collect();
    // And one kept alive after an answer: idle from its last response.
    let mut kept = connect(a);
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 1024];
    while !got.ends_with(b"}") {
        let n = kept.read(&mut b).unwrap();
        assert!(n > 0, "closed before answering");
        got.extend_from_slice(&b[..n]);
    }
    assert_eq!(status_of(&split(&got).0), 200);
    idle.push(kept);
    let end = Instant::now() + HANG;
    for c in &mut idle {
        while !closed_by_server(c) {
            assert!(Instant::now() < end, "idle connection still open");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert!(metric(a, "workload_connections_closed_total{reason=\"idle\"}") >= 101.0);
    s.stop();
}

/// A keep-alive connection that has been answered once, so is surely
/// open and counted by the server.
fn held(addr: SocketAddr) -> TcpStream {
    let end = Instant::now() + HANG;
    loop {
        assert!(Instant::now() < end, "no connection was served");
        let mut c = connect(addr);
        if c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .is_err()
        {
            continue;
        }
        let mut got = Vec::new();
        let mut b = [0u8; 1024];
        while !got.ends_with(b"}") {
            match c.read(&mut b) {
                Ok(n) if n > 0 => got.extend_from_slice(&b[..n]),
                _ => break,
            }
        }
        if status_of(&split(&got).0) == 200 {
            return c;
        }
    }
}

const HEALTHZ_CLOSE: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

#[test]
fn connections_beyond_the_cap_are_closed_at_once_and_the_cap_frees_up() {
    let mut s = cpu_service(ServeConfig {
        max_connections: 8,
        ..patient()
    });
    let a = s.addr;
    let mut kept: Vec<TcpStream> = (0..8).map(|_| held(a)).collect();
    // Eight are open and idle (for 600 s): a ninth is closed unanswered.
    let (head, _) = exchange(a, HEALTHZ_CLOSE);
    assert_eq!(head, "", "a connection over the cap was answered");
    drop(kept.pop());
    wait_until(
        || status_of(&exchange(a, HEALTHZ_CLOSE).0) == 200,
        "a freed slot",
    );
    drop(kept);
    assert!(
        metric(
            a,
            "workload_connections_closed_total{reason=\"over_limit\"}"
        ) >= 1.0
    );
    s.stop();
}

/// Kills the child process when dropped, so a failed test leaves none.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_connection_cap_fits_the_open_file_limit() {
    raise_fd_limit();
    // The shell lowers both limits to 256 before the service starts; it
    // cannot raise them, so it must lower its cap instead of running out
    // of descriptors.
    let mut child = Child(
        std::process::Command::new("sh")
            .args([
                "-c",
                "ulimit -n 256 && exec \"$0\" \"$@\"",
                env!("CARGO_BIN_EXE_workload"),
                "serve",
                "--backend",
                "cpu",
                "--cpu-threads",
                "1",
                "--bind",
                "127.0.0.1:0",
                "--idle-timeout-s",
                "1",
            ])
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (addr, log) = common::listening(&mut child.0);
    log.wait_for(|l| l.contains("at most 192 connections"))
        .unwrap_or_else(|lines| panic!("no connection-limit warning: {lines:?}"));
    // More idle connections than the process has descriptors.
    let idle: Vec<TcpStream> = (0..300).map(|_| connect(addr)).collect();
    // Answered once the idle time-out has freed slots.
    wait_until(
        || status_of(&exchange(addr, HEALTHZ_CLOSE).0) == 200,
        "/healthz beside 300 idle connections at 256 open files",
    );
    drop(idle);
    drop(child);
    let _ = log.join();
}

#[test]
fn an_announced_body_above_the_limit_is_refused_before_it_is_read() {
    let mut s = cpu_service(ServeConfig {
        body_limit: 256,
        ..patient()
    });
    let a = s.addr;
    // 10 bytes of an announced 10 MB: answered without waiting for more.
    let (head, body) = exchange(
        a,
        b"POST /compute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{\"size\": 1",
    );
    assert_json_error(status_of(&head), 413, &body, "larger than 256 bytes");
    // With `Expect: 100-continue`: 413 instead of `100 Continue`.
    let (head, body) = exchange(
        a,
        b"POST /compute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\nExpect: 100-continue\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert_json_error(status_of(&head), 413, &body, "1000000000 bytes announced");
    // Within the limit, 100 Continue and then the answer.
    let mut c = connect(a);
    let json = br#"{"size": 4, "iterations": 1}"#;
    write!(
        c,
        "POST /compute HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        json.len()
    )
    .unwrap();
    let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
    let mut got = Vec::new();
    let mut b = [0u8; 256];
    while got.len() < interim.len() {
        let n = c.read(&mut b).unwrap();
        assert!(n > 0, "closed before 100 Continue: {got:?}");
        got.extend_from_slice(&b[..n]);
    }
    assert!(
        got.starts_with(interim),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    c.write_all(json).unwrap();
    c.read_to_end(&mut got).unwrap();
    let (head, _) = split(&got[interim.len()..]);
    assert_eq!(status_of(&head), 200, "{head}");
    s.stop();
}

#[test]
fn a_stalled_body_is_answered_408() {
    let mut s = cpu_service(ServeConfig {
        header_timeout: Duration::from_secs(1),
        ..patient()
    });
    let (head, body) = exchange(
        s.addr,
        b"POST /compute HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"size\"",
    );
    assert_json_error(status_of(&head), 408, &body, "request body not received");
    s.stop();
}

#[test]
fn a_request_that_can_never_fit_the_memory_budget_is_422() {
    // 1 MiB: exactly the 4 matrices of n = 256.
    let mut s = cpu_service(ServeConfig {
        memory_budget: 1 << 20,
        ..patient()
    });
    let r = post(s.addr, r#"{"size": 257, "iterations": 1}"#);
    assert_eq!(r.status, 422, "{r:?}");
    let j = r.json();
    assert_eq!(j["field"], "size");
    let msg = j["error"].as_str().unwrap();
    assert!(msg.contains("memory budget of 1.0 MiB"), "{msg}");
    assert_eq!(
        post(s.addr, r#"{"size": 256, "iterations": 1}"#).status,
        200
    );
    s.stop();
}

#[test]
fn a_request_that_fits_later_is_503_while_the_budget_is_held() {
    let gate = Gate::default();
    let engine: Box<dyn Engine> = Box::new(GatedEngine {
        gate: gate.clone(),
        result: ok_result,
    });
    let mut s = Service::start(
        ServeConfig {
            memory_budget: 1 << 20,
            ..patient()
        },
        vec![engine],
    );
    let a = s.addr;
    let first = std::thread::spawn(move || post(a, r#"{"size": 256, "iterations": 1}"#));
    wait_until(
        || get(a, "/metrics.json").json()["in_flight"] == 1,
        "first request running",
    );
    assert_eq!(metric(a, "workload_memory_reserved_bytes"), 1048576.0);
    // Even a tiny request waits for nothing: 503 at once, like a full queue.
    let r = post(a, r#"{"size": 8, "iterations": 1}"#);
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("memory budget busy"));
    gate.open();
    assert_eq!(first.join().unwrap().status, 200);
    wait_until(
        || metric(a, "workload_memory_reserved_bytes") == 0.0,
        "memory given back",
    );
    assert_eq!(post(a, r#"{"size": 256, "iterations": 1}"#).status, 200);
    assert_eq!(
        metric(a, "workload_requests_total{outcome=\"memory_busy\"}"),
        1.0
    );
    s.stop();
}

#[test]
fn a_client_that_leaves_stops_its_job_mid_iteration() {
    let mut s = cpu_service(patient());
    let a = s.addr;
    // One iteration of n = 4096 is 550 GFLOP: seconds on any one core. The
    // job is checked before each GEMM panel, so it stops inside its only
    // iteration; a job checked only between iterations would finish it.
    let mut c = connect(a);
    let json = br#"{"size": 4096, "iterations": 1, "seed": 1}"#;
    write!(
        c,
        "POST /compute HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        json.len()
    )
    .unwrap();
    c.write_all(json).unwrap();
    wait_until(
        || get(a, "/metrics.json").json()["in_flight"] == 1,
        "request running",
    );
    drop(c);
    wait_until(
        || get(a, "/metrics.json").json()["in_flight"] == 0,
        "worker free",
    );
    assert_eq!(
        metric(a, "workload_requests_total{outcome=\"cancelled\"}"),
        1.0,
        "the job finished instead of stopping"
    );
    assert_eq!(metric(a, "workload_memory_reserved_bytes"), 0.0);
    assert_eq!(post(a, r#"{"size": 8, "iterations": 1}"#).status, 200);
    s.stop();
}

#[test]
fn every_error_the_service_writes_is_json() {
    let mut s = cpu_service(patient());
    let a = s.addr;
    // Wrong method: axum's 405, rewritten, with its Allow header kept.
    let r = get(a, "/compute");
    assert_eq!(r.header("allow"), Some("POST"));
    assert_json_error(
        r.status,
        405,
        r.body.as_bytes(),
        "method not allowed (allowed: POST)",
    );
    let r = request(a, "DELETE", "/healthz", None);
    assert_json_error(r.status, 405, r.body.as_bytes(), "method not allowed");
    // A long request target.
    let long = format!("/healthz?{}", "q".repeat(9000));
    let r = get(a, &long);
    assert_json_error(r.status, 414, r.body.as_bytes(), "request target of");
    // Too many header fields, and too large a header block.
    let many: String = (0..70).map(|i| format!("X-H{i}: v\r\n")).collect();
    let (head, body) = exchange(
        a,
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}Connection: close\r\n\r\n").as_bytes(),
    );
    assert_json_error(status_of(&head), 431, &body, "header fields, more than 64");
    let big = "b".repeat(20 * 1024);
    let (head, body) = exchange(
        a,
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert_json_error(status_of(&head), 431, &body, "bytes of header fields");
    // Bad JSON and a duplicated key.
    let r = post(a, r#"{"size": 8,"#);
    assert_json_error(r.status, 400, r.body.as_bytes(), "malformed JSON");
    let r = post(a, r#"{"size": 8, "iterations": 1, "size": 9}"#);
    let j = assert_json_error(r.status, 400, r.body.as_bytes(), "duplicate key `size`");
    assert_eq!(j["field"], "size");
    // The same key spelled with an escape is the same key.
    let r = post(a, r#"{"iterations": 1, "size": 8, "s\u0069ze": 9}"#);
    let j = assert_json_error(r.status, 400, r.body.as_bytes(), "duplicate key `size`");
    assert_eq!(j["field"], "size");
    let r = post(
        a,
        r#"{"size": 8, "iterations": 1, "seed": 1, "x": {"k": 1, "k": 2}}"#,
    );
    assert_json_error(r.status, 400, r.body.as_bytes(), "duplicate key `k`");
    // Distinct keys are still fine.
    assert_eq!(
        post(a, r#"{"size": 8, "iterations": 1, "seed": 1}"#).status,
        200
    );

    // What hyper answers itself, before any of the service's code runs,
    // has no body (documented): a head it cannot parse, and one larger
    // than its read buffer.
    let (head, body) = exchange(a, b"NOT HTTP AT ALL\r\n\r\n");
    assert_eq!((status_of(&head), body.len()), (400, 0), "{head}");
    // (hyper parses what it has read before it checks the size, so a head
    // only a little over the buffer can still reach the service.)
    let huge = "h".repeat(4 * HEAD_BUFFER_BYTES);
    let (head, body) = exchange(
        a,
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Huge: {huge}\r\n\r\n").as_bytes(),
    );
    assert_eq!((status_of(&head), body.len()), (431, 0), "{head}");
    s.stop();
}
