//! `cargo run -p weft-simnet --release -- [join] [NODES]`: starts NODES real
//! nodes in this process, joins them through the first, and prints how long
//! until every node had 3 peers, plus the process RSS per node, as JSON.
//!
//! `cargo run -p weft-simnet --release -- oa [NODES]`: the same network, then
//! one official account broadcasts to NODES - 2 followers; prints delivery
//! ratio and latency percentiles.

use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let scenario = match args.first().map(String::as_str) {
        Some("oa") | Some("join") => args.remove(0),
        _ => "join".to_string(),
    };
    let n: usize = match args.first().map(|a| a.parse()) {
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
    if scenario == "oa" {
        let report = sim.oa_broadcast(Duration::from_secs(120)).await;
        let rss = rss_mib();
        sim.shutdown().await;
        return match report {
            Ok(r) => {
                let mut v = serde_json::to_value(&r).unwrap_or_default();
                v["nodes"] = n.into();
                v["rss_mib_per_node"] = (rss / n as f64).into();
                println!("{v}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let rss_kib = rss_mib() * 1024.0;
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

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}
