//! The `weft` command line: parses arguments, runs the node (`weft up`) or
//! talks to a running node through its control API, and prints results for
//! humans or, with `--json`, as one JSON document.

mod args;
mod client;
mod demo;
mod print;
mod up;

use std::process::ExitCode;

use clap::Parser;

pub use args::{Cli, Command};
pub use client::Client;

/// Runs the CLI with the process arguments; returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line that says what went wrong (and usually what to do).
            let mut msg = e.to_string();
            for cause in e.chain().skip(1) {
                msg.push_str(&format!(": {cause}"));
            }
            let one_line = msg.split_whitespace().collect::<Vec<_>>().join(" ");
            eprintln!("error: {one_line}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(cli: &Cli) {
    let default = match cli.command {
        Command::Up(_) => "warn,weft_node=info,weft_cli=info",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let home = cli.home();
    let json = cli.json;
    match cli.command {
        Command::Init(a) => up::init(&home, a.name.as_deref(), json),
        Command::Up(a) => up::up(home, a, json).await,
        Command::Demo(a) => demo::run(a.nodes, json).await,
        Command::Status => {
            let v: weft_node::api::StatusView = Client::for_home(&home)?.get("/v1/status").await?;
            print::status(&v, json)
        }
        Command::Id(a) => {
            let v: weft_node::api::IdView = Client::for_home(&home)?.get("/v1/id").await?;
            print::id(&v, a.qr, json)
        }
        Command::Peers => {
            let v: Vec<serde_json::Value> = Client::for_home(&home)?.get("/v1/peers").await?;
            print::peers(&v, json)
        }
        Command::Dial(a) => {
            let v: weft_node::api::DialReply = Client::for_home(&home)?
                .post("/v1/dial", &serde_json::json!({ "addr": a.addr }))
                .await?;
            print::dialed(&v, json)
        }
        Command::Events => Client::for_home(&home)?.stream_events(json).await,
    }
}
