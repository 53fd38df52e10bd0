//! Test helpers: a minimal HTTP/1.1 client over loopback TCP and a gated
//! engine whose jobs finish only when the test says so.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use workload::compute::{BackendKind, ComputeError, Engine, Job, Output, StopCheck};

/// A parsed response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Sends one request (Connection: close) and reads the whole response.
pub fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse(&String::from_utf8_lossy(&raw))
}

pub fn get(addr: SocketAddr, path: &str) -> Resp {
    request(addr, "GET", path, None)
}

pub fn post(addr: SocketAddr, body: &str) -> Resp {
    request(addr, "POST", "/compute", Some(body))
}

fn parse(raw: &str) -> Resp {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Releases gated jobs.
#[derive(Clone, Default)]
pub struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    pub fn open(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }
}

/// An engine whose jobs wait for the gate (or their stop check), then
/// return `result`.
pub struct GatedEngine {
    pub gate: Gate,
    pub result: fn(&Job) -> Result<Output, ComputeError>,
}

impl Engine for GatedEngine {
    fn run(&mut self, job: &Job, stop: &dyn StopCheck) -> Result<Output, ComputeError> {
        let (lock, cv) = &*self.gate.0;
        let mut open = lock.lock().unwrap();
        while !*open {
            if stop.should_stop() {
                return Err(ComputeError::Stopped {
                    done: 0,
                    total: job.iterations,
                });
            }
            open = cv.wait_timeout(open, Duration::from_millis(5)).unwrap().0;
        }
        (self.result)(job)
    }
    fn kind(&self) -> BackendKind {
        BackendKind::Cpu
    }
}

pub fn ok_result(job: &Job) -> Result<Output, ComputeError> {
    Ok(Output {
        checksum: f64::from(job.size),
        compute_s: 0.001,
    })
}

/// Polls `cond` every 5 ms. The 120 s bound only catches a hang; nothing
/// is asserted about how soon `cond` holds.
pub fn wait_until(mut cond: impl FnMut() -> bool, what: &str) {
    let end = std::time::Instant::now() + Duration::from_secs(120);
    while !cond() {
        assert!(
            std::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A child's stderr, read line by line in the background so it never
/// blocks on a full pipe.
pub struct Log(Arc<Mutex<Vec<String>>>, std::thread::JoinHandle<()>);

impl Log {
    /// Waits (at most 60 s) for a line that `pred` accepts; the log so far.
    pub fn wait_for(&self, pred: impl Fn(&str) -> bool) -> Result<(), Vec<String>> {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let lines = self.0.lock().unwrap().clone();
            if lines.iter().any(|l| pred(l)) {
                return Ok(());
            }
            if self.1.is_finished() || std::time::Instant::now() > deadline {
                return Err(lines);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every line, once the child has closed its stderr.
    pub fn join(self) -> String {
        let _ = self.1.join();
        self.0.lock().unwrap().join("\n")
    }
}

/// The address `workload serve` announces on stdout (its one line there)
/// and its stderr log; the child must have both piped.
pub fn listening(child: &mut std::process::Child) -> (SocketAddr, Log) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let stderr = child.stderr.take().expect("stderr piped");
    let sink = Arc::clone(&lines);
    let drain = std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(l);
        }
    });
    let log = Log(lines, drain);
    let mut out = BufReader::new(child.stdout.take().expect("stdout piped"));
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let Some(l) = contract::Listening::parse(&line) else {
        panic!("no listening line on stdout: {line:?}; log: {}", log.join());
    };
    (l.listening, log)
}
