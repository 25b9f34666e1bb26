//! `cargo run -p weft-simnet --release -- [NODES]`: starts NODES real nodes in
//! this process, joins them through the first, and prints how long until
//! every node had 3 peers, plus the process RSS per node, as JSON.

use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let n: usize = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 50,
        Some(Ok(n)) if (4..=5000).contains(&n) => n,
        Some(_) => {
            eprintln!("error: NODES must be a number from 4 to 5000");
            return std::process::ExitCode::FAILURE;
        }
    };
    let t = Instant::now();
    let sim = match weft_simnet::Sim::spawn(n).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let started_ms = t.elapsed().as_millis();
    let mesh = sim.wait_mesh(3, Duration::from_secs(300)).await;
    let rss_kib = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .unwrap_or(f64::NAN);
    sim.shutdown().await;
    match mesh {
        Ok(d) => {
            println!(
                "{}",
                serde_json::json!({
                    "nodes": n,
                    "start_all_ms": started_ms,
                    "every_node_3_peers_ms": d.as_millis(),
                    "rss_mib_per_node": rss_kib / 1024.0 / n as f64,
                })
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
