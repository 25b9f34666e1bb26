//! `weft-simnet run scenarios/NAME.toml --out DIR`: runs a scenario with real
//! nodes in this process and writes `report.json`, `latency_cdf.svg` and
//! `delivery_over_time.svg` into DIR; progress lines go to stderr, the
//! report also to stdout.

use std::path::PathBuf;

use anyhow::{bail, Context};

fn usage() -> &'static str {
    "usage: weft-simnet run SCENARIO.toml [--out DIR] [--nodes N]"
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some("run"), Some(file)) = (args.first().map(String::as_str), args.get(1)) else {
        bail!(usage());
    };
    let mut out = PathBuf::from("simnet-out");
    let mut nodes = None;
    let mut rest = args[2..].iter();
    while let Some(flag) = rest.next() {
        match (flag.as_str(), rest.next()) {
            ("--out", Some(dir)) => out = PathBuf::from(dir),
            ("--nodes", Some(n)) => {
                nodes = Some(n.parse::<usize>().context("--nodes takes a number")?)
            }
            _ => bail!(usage()),
        }
    }
    let mut scenario = weft_simnet::Scenario::load(std::path::Path::new(file))?;
    if let Some(n) = nodes {
        // Same seed and figures, another size: for finding how many nodes fit.
        // A group keeps its share of the nodes (500 of 1,000 stays half).
        if let Some(g) = scenario.group.as_mut() {
            let scaled = (g.members * n).div_ceil(scenario.nodes.max(1));
            g.members = scaled.clamp(2, n);
        }
        scenario.nodes = n;
        scenario.name = format!("{}-{n}", scenario.name);
        scenario.check()?;
    }
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = rt.block_on(weft_simnet::run(&scenario))?;
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(out.join("report.json"), &json)
        .with_context(|| format!("cannot write {}", out.join("report.json").display()))?;
    weft_simnet::plot::write_plots(&report, &out)?;
    println!("{json}");
    eprintln!("[simnet] wrote {}", out.display());
    Ok(())
}
