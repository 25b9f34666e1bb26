//! `weft init` and `weft up`: the two commands that run in-process rather
//! than through the API.

use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;
use weft_node::{config::parse_addrs, Home, NodeConfig, RunningNode};

use crate::args::UpArgs;
use crate::error::{CliError, Kind};

// The `--json` lines below list their fields alphabetically: the order they
// have always printed in (they were `serde_json::Value`s, which sort keys).

/// `weft init --json`.
#[derive(Serialize)]
struct Initialised<'a> {
    account_id: &'a str,
    home: String,
    peer_id: &'a str,
}

/// `weft up --json`: the banner, one line.
#[derive(Serialize)]
struct Up<'a> {
    account_id: String,
    api: String,
    listen_addrs: &'a [String],
    name: &'a str,
    peer_id: String,
}

/// `weft init`.
pub fn init(home: &std::path::Path, name: Option<&str>, json: bool) -> anyhow::Result<()> {
    let h = Home::new(home);
    let id = weft_node::init_home(&h, name)?;
    let account = id.account_id.to_string();
    let peer = id.peer_id().to_string();
    if json {
        let v = Initialised {
            account_id: &account,
            home: home.display().to_string(),
            peer_id: &peer,
        };
        println!("{}", serde_json::to_string(&v)?);
    } else {
        println!("created identity in {}", home.display());
        println!("account  {account}");
        println!("peer     {peer}");
        println!("next: weft up --home {}", home.display());
    }
    Ok(())
}

/// Applies `weft up` flags on top of the home's config.
pub fn config_from(home: PathBuf, a: &UpArgs) -> anyhow::Result<NodeConfig> {
    let mut cfg = NodeConfig::load(home)?;
    if !a.listen.is_empty() {
        cfg.listen = parse_addrs(&a.listen)?;
    }
    cfg.bootstrap.extend(parse_addrs(&a.bootstrap)?);
    if let Some(api) = &a.api {
        cfg.api = Some(
            api.parse()
                .with_context(|| format!("`{api}` is not an address like 127.0.0.1:5050"))?,
        );
    }
    if a.no_mdns {
        cfg.mdns = false;
    }
    if a.relay_server {
        cfg.relay_server = true;
    }
    Ok(cfg)
}

/// `weft up`: runs until SIGINT or SIGTERM, then shuts down cleanly.
pub async fn up(home: PathBuf, a: UpArgs, json: bool) -> anyhow::Result<()> {
    let h = Home::new(&home);
    if !h.has_identity() {
        if !a.init {
            // Starting would silently make a new, unnamed account (a typo in
            // `--home` would give the user a stranger's identity).
            let shown = home.display();
            return Err(CliError::new(
                Kind::NotRunning,
                format!("{shown} has no Weft identity yet"),
            )
            .hint(format!(
                "create one with `weft init --home {shown} --name NAME` (or start with `weft up --init`)"
            ))
            .into());
        }
        let id = weft_node::init_home(&h, a.name.as_deref())?;
        if !json {
            println!("created identity {} in {}", id.account_id, home.display());
        }
    }
    let cfg = config_from(home.clone(), &a)?;
    let node = RunningNode::start(cfg).await?;
    let h = node.handle().clone();
    // Listening addresses arrive as events; wait briefly so the banner shows them.
    let mut events = h.net.subscribe();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    while h
        .net
        .listen_addrs()
        .await
        .map(|a| a.is_empty())
        .unwrap_or(false)
    {
        if tokio::time::timeout_at(deadline, events.recv())
            .await
            .is_err()
        {
            break;
        }
    }
    let addrs: Vec<String> = h
        .net
        .listen_addrs()
        .await
        .unwrap_or_default()
        .iter()
        .map(|a| a.to_string())
        .collect();
    if json {
        let v = Up {
            account_id: h.identity.account_id.to_string(),
            api: node.api_addr().to_string(),
            listen_addrs: &addrs,
            name: &h.name,
            peer_id: h.net.peer_id().to_string(),
        };
        println!("{}", serde_json::to_string(&v)?);
    } else {
        println!("weft node up ({})", home.display());
        println!("  name     {}", h.name);
        println!("  account  {}", h.identity.account_id);
        println!("  peer     {}", h.net.peer_id());
        println!("  api      {}", node.api_addr());
        for a in &addrs {
            println!("  listen   {a}/p2p/{}", h.net.peer_id());
        }
        println!("Ctrl-C to stop");
    }
    wait_for_signal().await?;
    tracing::info!("shutting down");
    node.shutdown().await?;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
