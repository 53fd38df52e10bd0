//! The served report in a real browser (headless Chromium): an eight-arm
//! campaign's page with "Which policy serves best?" and the five sections,
//! their charts and numbers, no console errors, and its weight. Needs
//! Chromium, so it is ignored by `cargo test`; `just test-browser` (run by
//! CI after installing Debian's chromium) runs it. The screenshot is kept at
//! `target/report-screenshot.png`.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use report::report::ReportOptions;
use report::server::{serve, AppState};

fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

fn headless(url: &str, extra: &[&str]) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            &format!("--user-data-dir={}", profile.path().display()),
        ])
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium must be installed (apt-get install chromium) or named by $CHROMIUM")
}

#[test]
#[ignore = "needs Chromium: run with `just test-browser`"]
fn served_report_renders_in_chromium_without_console_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = testkit::eight_arm_dataset(dir.path(), 6);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = AppState::new(
        db,
        ReportOptions {
            slo_ms: 1000.0,
            charts: true,
        },
    );
    let server = rt.spawn(serve(listener, state, async {
        let _ = stopped.await;
    }));
    let url = format!("http://{addr}/campaign/1/");

    let dom = headless(&url, &["--dump-dom"]);
    let html = String::from_utf8_lossy(&dom.stdout);
    let log = String::from_utf8_lossy(&dom.stderr);
    assert!(dom.status.success(), "chromium failed: {log}");
    for q in 1..=5 {
        assert!(
            html.contains(&format!("id=\"q{q}\"")),
            "section {q} missing"
        );
    }
    assert!(
        html.matches("<img src=\"svg/").count() >= 30,
        "charts missing"
    );
    assert!(
        html.contains("Wilcoxon (paired)") && html.contains("(6 pairs)"),
        "numbers missing"
    );
    assert!(
        html.contains("id=\"serve\""),
        "Which policy serves best? missing"
    );
    assert!(html.contains("Pareto front") && html.contains("Across all arms"));
    for arm in [
        "hpa-cpu60",
        "hpa-cpu80",
        "Ray Serve-style (emulated)",
        "Knative KPA-style (emulated)",
        "KEDA-style (emulated)",
        "HPA (GPU metric)",
        "UserScale",
    ] {
        assert!(html.contains(arm), "arm {arm} missing");
    }
    // The page as the browser holds it, eight arms: at most 3 MB (the
    // charts are images of their own, fetched as they scroll into view).
    eprintln!("eight-arm page: {} bytes in the browser", html.len());
    assert!(html.len() <= 3_000_000, "{} bytes", html.len());
    let console_errors: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains("CONSOLE") || l.contains("Uncaught") || l.contains("Failed to load resource")
        })
        .collect();
    assert!(
        console_errors.is_empty(),
        "console errors: {console_errors:#?}"
    );

    let target = testkit::root().join("target");
    std::fs::create_dir_all(&target).unwrap();
    let shot = target.join("report-screenshot.png");
    let out = headless(
        &url,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1400,3000",
        ],
    );
    assert!(
        out.status.success() && shot.exists(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let _ = stop.send(());
    rt.block_on(server).unwrap().unwrap();
}
