//! The `weft` command line: parses arguments, runs the node (`weft up`) or
//! talks to a running node through its control API, and prints results for
//! humans or, with `--json`, as one JSON document.

mod args;
mod client;
mod demo;
mod moments;
mod print;
mod up;

use std::process::ExitCode;

use clap::Parser;

pub use args::{BlobCommand, ChatCommand, Cli, Command, ContactsCommand, OaCommand};
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
        Command::Up(_) => "warn,libp2p_kad=error,weft_node=info,weft_cli=info",
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
            let client = Client::for_home(&home)?;
            if let Some(h) = &a.handle {
                let r: serde_json::Value = client
                    .post("/v1/handle", &serde_json::json!({ "handle": h }))
                    .await?;
                if !json && r["published"] != true {
                    eprintln!("note: no DHT peer stored the claim yet; it is republished when peers connect");
                }
            }
            let v: weft_node::api::IdView = client.get("/v1/id").await?;
            print::id(&v, a.qr, json)
        }
        Command::Nearby(a) => nearby(&Client::for_home(&home)?, a, json).await,
        Command::Find { handle } => {
            let path = format!("/v1/find?handle={}", client::query_escape(&handle));
            let v: serde_json::Value = Client::for_home(&home)?.get(&path).await?;
            print::found(&v, json)
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
        Command::Contacts(c) => contacts(&Client::for_home(&home)?, c, json).await,
        Command::Chat(c) => chat(&Client::for_home(&home)?, c, json).await,
        Command::Oa(c) => oa(&Client::for_home(&home)?, c, json).await,
        Command::Moments(c) => moments::run(&Client::for_home(&home)?, c, json).await,
        Command::Blob(c) => blob(&Client::for_home(&home)?, c, json).await,
    }
}

/// Uploads a file as a blob; returns its id.
async fn add_blob(client: &Client, path: &std::path::Path) -> anyhow::Result<String> {
    let meta = std::fs::metadata(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    if meta.len() > 16 * 1024 * 1024 {
        anyhow::bail!(
            "{} is {} bytes; the limit is 16 MiB",
            path.display(),
            meta.len()
        );
    }
    let bytes = std::fs::read(path)?;
    let v: serde_json::Value = client.post_bytes("/v1/blobs", bytes).await?;
    Ok(v["id"].as_str().unwrap_or_default().to_string())
}

async fn blob(client: &Client, cmd: BlobCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        BlobCommand::Add { file } => {
            let id = add_blob(client, &file).await?;
            if json {
                println!("{}", serde_json::json!({ "id": id }));
            } else {
                println!("{id}");
            }
        }
        BlobCommand::Get { id, out } => {
            let bytes = client
                .get_bytes(&format!("/v1/blobs/{}", client::query_escape(&id)))
                .await?;
            std::fs::write(&out, &bytes)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
            if json {
                println!("{}", serde_json::json!({ "id": id, "size": bytes.len() }));
            } else {
                println!("wrote {} bytes to {}", bytes.len(), out.display());
            }
        }
    }
    Ok(())
}

async fn oa(client: &Client, cmd: OaCommand, json: bool) -> anyhow::Result<()> {
    use serde_json::{json as j, Value};
    let (action, body) = match cmd {
        OaCommand::List => {
            let v: Vec<Value> = client.get("/v1/oa").await?;
            return print::oa_list(&v, json);
        }
        OaCommand::Search { query } => {
            let v: Vec<Value> = client
                .get(&format!("/v1/oa/search?q={}", client::query_escape(&query)))
                .await?;
            return print::oa_list(&v, json);
        }
        OaCommand::Feed { all } => {
            let v: Vec<Value> = client.get(&format!("/v1/oa/feed?all={all}")).await?;
            return print::oa_feed(&v, json);
        }
        OaCommand::Log { oa } => {
            let v: Vec<Value> = client
                .get(&format!(
                    "/v1/oa/conversation?oa={}",
                    client::query_escape(&oa)
                ))
                .await?;
            return print::oa_log(&v, json);
        }
        OaCommand::Create {
            kind,
            name,
            description,
        } => (
            "create",
            j!({"kind": kind, "name": name, "description": description}),
        ),
        OaCommand::Follow { oa } => ("follow", j!({ "oa": oa })),
        OaCommand::Unfollow { oa } => ("unfollow", j!({ "oa": oa })),
        OaCommand::Publish {
            oa,
            text,
            title,
            link,
            part,
            image,
        } => {
            let mut images = Vec::new();
            for f in &image {
                images.push(add_blob(client, f).await?);
            }
            let parts: Vec<Value> = part
                .iter()
                .map(|p| {
                    let mut it = p.splitn(3, ':');
                    match (it.next(), it.next(), it.next()) {
                        (Some(l), Some(t), Some(b)) => Ok(j!({"lang": l, "title": t, "body": b})),
                        _ => Err(anyhow::anyhow!("--part must be LANG:TITLE:BODY, got `{p}`")),
                    }
                })
                .collect::<anyhow::Result<_>>()?;
            (
                "publish",
                j!({"oa": oa, "text": text, "title": title, "link": link, "parts": parts, "images": images}),
            )
        }
        OaCommand::Message { oa, text } => ("message", j!({"oa": oa, "text": text})),
        OaCommand::Autoreply { oa, keyword, reply } => (
            "autoreply",
            j!({"oa": oa, "keyword": keyword, "reply": reply}),
        ),
        OaCommand::Menu { oa, items } => ("menu", j!({"oa": oa, "items": items})),
        OaCommand::Verify { oa, name } => ("verify", j!({"oa": oa, "name": name})),
        OaCommand::Certify { oa, certificate } => {
            ("certify", j!({"oa": oa, "certificate": certificate}))
        }
    };
    let v: Value = client.post(&format!("/v1/oa/{action}"), &body).await?;
    print::oa_done(action, &v, json)
}

async fn nearby(client: &Client, a: args::NearbyArgs, json: bool) -> anyhow::Result<()> {
    use serde_json::json as j;
    let body = match a.toggle {
        None => {
            let v: Vec<serde_json::Value> = client.get("/v1/nearby").await?;
            return print::nearby(&v, json);
        }
        Some(args::Toggle::Off) => j!({ "on": false }),
        Some(args::Toggle::On {
            lat,
            lon,
            geohash,
            whats_up,
            region,
            avatar,
            minutes,
        }) => {
            let avatar_hex = match avatar {
                Some(path) => {
                    let meta = std::fs::metadata(&path)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
                    if meta.len() > 32 * 1024 {
                        anyhow::bail!(
                            "avatar {} is {} bytes; the limit is 32 KiB",
                            path.display(),
                            meta.len()
                        );
                    }
                    let bytes = std::fs::read(&path)?;
                    Some(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
                }
                None => None,
            };
            j!({ "on": true, "lat": lat, "lon": lon, "geohash": geohash, "whats_up": whats_up,
                 "region": region, "avatar_hex": avatar_hex, "minutes": minutes })
        }
    };
    let v: serde_json::Value = client.post("/v1/nearby", &body).await?;
    print::radar(&v, json)
}

async fn contacts(client: &Client, cmd: ContactsCommand, json: bool) -> anyhow::Result<()> {
    use serde_json::{json as j, Value};
    let action =
        |name: &str, contact: String| (format!("/v1/contacts/{name}"), j!({ "contact": contact }));
    let (path, body) = match cmd {
        ContactsCommand::List => {
            let v: Vec<Value> = client.get("/v1/contacts").await?;
            return print::contacts(&v, json);
        }
        ContactsCommand::Requests => {
            let v: Vec<Value> = client.get("/v1/contacts/requests").await?;
            return print::requests(&v, json);
        }
        ContactsCommand::Add { target, greeting } => (
            "/v1/contacts/add".to_string(),
            j!({ "target": target, "greeting": greeting }),
        ),
        ContactsCommand::Accept { contact } => action("accept", contact),
        ContactsCommand::Reject { contact } => action("reject", contact),
        ContactsCommand::Block { contact } => action("block", contact),
        ContactsCommand::Delete { contact } => action("delete", contact),
        ContactsCommand::Remark { contact, name } => (
            "/v1/contacts/remark".to_string(),
            j!({ "contact": contact, "remark": name }),
        ),
    };
    let v: Value = client.post(&path, &body).await?;
    print::done(&v, json)
}

async fn chat(client: &Client, cmd: ChatCommand, json: bool) -> anyhow::Result<()> {
    use serde_json::{json as j, Value};
    match cmd {
        ChatCommand::Send {
            contact,
            text,
            reply_to,
        } => {
            let v: Value = client
                .post(
                    "/v1/chat/send",
                    &j!({ "to": contact, "text": text, "reply_to": reply_to }),
                )
                .await?;
            print::done(&v, json)
        }
        ChatCommand::Log { contact, limit } => {
            let path = format!(
                "/v1/chat/log?with={}&limit={limit}",
                client::query_escape(&contact)
            );
            let v: Vec<Value> = client.get(&path).await?;
            print::chat_log(&v, json)
        }
        ChatCommand::List => {
            let v: Vec<Value> = client.get("/v1/chat/list").await?;
            print::conversations(&v, json)
        }
        ChatCommand::Recall { id } => {
            let v: Value = client.post("/v1/chat/recall", &j!({ "id": id })).await?;
            print::done(&v, json)
        }
        ChatCommand::Watch => client.stream_events(json).await,
    }
}
