//! Foundation benchmark: node cold start to listening, idle RSS, and the
//! CLI → API round trip. Run with `cargo bench -p weft-tests --bench foundation`;
//! prints a JSON summary (recorded in docs/BENCHMARKS.md).
//!
//! Run by the test runner (`cargo test --all-targets`, which does not pass
//! `--bench`), it takes a quick mode: a few samples of each, every
//! assertion still checked, so a bench that stopped working fails CI.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_weft-under-test");

/// How many samples of each measure.
struct Sizes {
    starts: usize,
    cli_calls: usize,
    api_calls: usize,
    idle_settle: Duration,
}

/// `cargo bench` passes `--bench`; the test runner passes nothing.
fn sizes() -> Sizes {
    if std::env::args().any(|a| a == "--bench") {
        Sizes {
            starts: 15,
            cli_calls: 50,
            api_calls: 1000,
            idle_settle: Duration::from_secs(5),
        }
    } else {
        Sizes {
            starts: 2,
            cli_calls: 3,
            api_calls: 20,
            idle_settle: Duration::from_millis(500),
        }
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

fn rss_mib(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Starts `weft up`, returns (child, ms until it printed its listen address).
async fn start(home: &str) -> (tokio::process::Child, f64) {
    let t = Instant::now();
    let mut child = Command::new(BIN)
        .args([
            "up",
            "--init",
            "--home",
            home,
            "--no-mdns",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
        ])
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("node started in time")
            .expect("read stdout")
            .expect("node printed its banner");
        if line.trim_start().starts_with("listen") {
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            // Keep reading: a node whose stdout pipe is closed dies on its
            // next line (broken pipe), which made the idle-RSS sample find
            // no process now and then.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return (child, ms);
        }
    }
}

async fn stop(mut child: tokio::process::Child) {
    let pid = child.id().expect("pid").to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status().await;
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
}

#[tokio::main]
async fn main() {
    let sz = sizes();
    let dir = tempfile::tempdir().expect("tmp");
    // Cold start of a brand-new home (creates identity and store) and of an existing one.
    let mut first = Vec::new();
    let mut again = Vec::new();
    for i in 0..sz.starts {
        let home = dir.path().join(format!("n{i}")).display().to_string();
        let (c, ms) = start(&home).await;
        first.push(ms);
        stop(c).await;
        let (c, ms) = start(&home).await;
        again.push(ms);
        stop(c).await;
    }

    // Idle RSS after the node has settled.
    let home = dir.path().join("idle").display().to_string();
    let (child, _) = start(&home).await;
    let pid = child.id().expect("pid");
    tokio::time::sleep(sz.idle_settle).await;
    let idle_rss = rss_mib(pid);
    assert!(idle_rss > 0.0, "no RSS for the idle node (pid {pid})");

    // CLI → API: a whole `weft status --json` process, and the HTTP call alone.
    let mut cli = Vec::new();
    for _ in 0..sz.cli_calls {
        let t = Instant::now();
        let out = Command::new(BIN)
            .args(["--json", "status", "--home", &home])
            .output()
            .await
            .expect("status");
        assert!(out.status.success(), "weft status failed: {out:?}");
        cli.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let client = weft_cli::Client::for_home(std::path::Path::new(&home)).expect("client");
    let mut api = Vec::new();
    for _ in 0..sz.api_calls {
        let t = Instant::now();
        let v: serde_json::Value = client.get("/v1/status").await.expect("status");
        assert!(v.is_object(), "status is not an object: {v}");
        api.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    stop(child).await;

    let report = serde_json::json!({
        "cold_start_new_home_ms": {"p50": pct(&mut first, 0.5), "p90": pct(&mut first, 0.9)},
        "cold_start_existing_home_ms": {"p50": pct(&mut again, 0.5), "p90": pct(&mut again, 0.9)},
        "idle_rss_mib": idle_rss,
        "cli_status_round_trip_ms": {"p50": pct(&mut cli, 0.5), "p90": pct(&mut cli, 0.9)},
        "api_status_round_trip_ms": {"p50": pct(&mut api, 0.5), "p99": pct(&mut api, 0.99)},
    });
    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
}
