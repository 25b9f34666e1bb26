//! The `weft` command line: parses arguments, runs the node (`weft up`) or
//! talks to a running node through its control API, and prints results for
//! humans or, with `--json`, as one JSON document.

mod args;
mod client;
mod demo;
mod device;
mod error;
mod files;
mod group;
mod moments;
mod pay;
mod print;
mod text;
mod up;
mod usage;

use std::process::ExitCode;

use clap::Parser;

pub use args::{BlobCommand, ChatCommand, Cli, Command, ContactsCommand, OaCommand};
pub use client::Client;
pub use demo::poll_until;
pub use error::{CliError, Kind};
use weft_node::api::PeerView as PeerInfo;
use weft_node::api::{
    chat::{AddContact, ContactBody, RecallBody, SendBody},
    nearby::{FoundView, HandleBody, HandleClaimed, NearbyBody, RadarView},
    oa::{IssuedCertificate, OaAnswer, OaBody, OaMessageView, OaReplied, Published},
    Created, DialReply, DialRequest, Done, IdView, ProfileBody, ProfileView, StatusView, Stored,
};
use weft_node::chat::{ContactView, ConversationView, MessageView, RequestView};
use weft_node::nearby::{NearbyView, RadarOn};
use weft_node::oa::{OaView, PostView};
use weft_protocol::oa::Part;

/// Runs the CLI with the process arguments; returns the exit code.
pub fn main() -> ExitCode {
    // Before any thread exists: the only time the local offset can be read.
    text::init_local_offset();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage::refused(e),
    };
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
    let json = cli.json;
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => error::report(&e, json),
    }
}

fn init_logging(cli: &Cli) {
    let default = match cli.command {
        Command::Up(_) => "warn,libp2p_kad=error,weft_node=info,weft_cli=info",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour only for a person at a terminal: a log file gets plain text.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(usage::colour_on_stderr())
        .try_init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let home = cli.home();
    let json = cli.json;
    match cli.command {
        Command::Init(a) => up::init(&home, a.name.as_deref(), json),
        Command::Completions { shell } => {
            usage::completions(shell);
            Ok(())
        }
        Command::Man => usage::man(),
        Command::Profile(a) => profile(&Client::for_home(&home)?, a, json).await,
        Command::Up(a) => up::up(home, a, json).await,
        Command::Demo(a) => demo::run(a.nodes, json).await,
        Command::Status => {
            let v: StatusView = Client::for_home(&home)?.get("/v1/status").await?;
            print::status(&v, json)
        }
        Command::Id(a) => {
            let client = Client::for_home(&home)?;
            if let Some(handle) = a.handle {
                let r: HandleClaimed = client.post("/v1/handle", &HandleBody { handle }).await?;
                if !json && !r.published {
                    eprintln!("note: no DHT peer stored the claim yet; it is republished when peers connect");
                }
            }
            let v: IdView = client.get("/v1/id").await?;
            print::id(&v, a.qr, json)
        }
        Command::Nearby(a) => nearby(&Client::for_home(&home)?, a, json).await,
        Command::Find { handle } => {
            let path = format!("/v1/find?handle={}", client::query_escape(&handle));
            let v: FoundView = Client::for_home(&home)?.get(&path).await?;
            print::found(&v, json)
        }
        Command::Peers => {
            let v: Vec<PeerInfo> = Client::for_home(&home)?.get("/v1/peers").await?;
            print::peers(&v, json)
        }
        Command::Dial(a) => {
            let v: DialReply = Client::for_home(&home)?
                .post("/v1/dial", &DialRequest { addr: a.addr })
                .await?;
            print::dialed(&v, json)
        }
        Command::Events => Client::for_home(&home)?.stream_events(json, None).await,
        Command::Open(a) => {
            let v: weft_node::web::OpenView =
                Client::for_home(&home)?.post("/v1/web/open", &()).await?;
            print::opened(&v, json, !a.no_browser)
        }
        Command::Contacts(c) => contacts(&Client::for_home(&home)?, c, json).await,
        Command::Chat(c) => chat(&Client::for_home(&home)?, c, json).await,
        Command::Oa(c) => oa(&Client::for_home(&home)?, c, json).await,
        Command::Moments(c) => moments::run(&Client::for_home(&home)?, c, json).await,
        Command::Group(c) => group::run(&Client::for_home(&home)?, c, json).await,
        Command::Device(c) => device::run(&home, c, json).await,
        Command::Mint(c) => pay::mint(&Client::for_home(&home)?, c, json).await,
        Command::Wallet(a) => pay::wallet(&Client::for_home(&home)?, a, json).await,
        Command::Pay(c) => pay::pay(&Client::for_home(&home)?, c, json).await,
        Command::Redpacket(c) => pay::redpacket(&Client::for_home(&home)?, c, json).await,
        Command::Coupon(c) => pay::coupon(&Client::for_home(&home)?, c, json).await,
        Command::Blob(c) => blob(&Client::for_home(&home)?, c, json).await,
    }
}

/// Uploads a file as a blob; returns its id.
async fn add_blob(client: &Client, path: &std::path::Path) -> anyhow::Result<String> {
    let meta = std::fs::metadata(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let limit = 16 * 1024 * 1024;
    if meta.len() > limit {
        return Err(CliError::invalid(format!(
            "{} is {}; a file is at most {}",
            path.display(),
            text::size(meta.len()),
            text::size(limit)
        )));
    }
    let bytes = std::fs::read(path)?;
    let v: Stored = client.post_bytes("/v1/blobs", bytes).await?;
    Ok(v.id)
}

async fn blob(client: &Client, cmd: BlobCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        BlobCommand::Add { file } => {
            let id = add_blob(client, &file).await?;
            if json {
                println!("{}", serde_json::to_string(&Created { id })?);
            } else {
                println!("{id}");
            }
        }
        BlobCommand::Get { id, out } => {
            let bytes = client
                .get_bytes(&format!("/v1/blobs/{}", client::query_escape(&id)))
                .await?;
            write_download(&out, &bytes, json, |size| Stored { id, size })?;
        }
    }
    Ok(())
}

/// Writes downloaded `bytes` to `out`, then says so: `wrote N bytes to OUT`,
/// or with `--json` the one line `saved(size)`.
fn write_download<T: serde::Serialize>(
    out: &std::path::Path,
    bytes: &[u8],
    json: bool,
    saved: impl FnOnce(usize) -> T,
) -> anyhow::Result<()> {
    std::fs::write(out, bytes)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
    if json {
        println!("{}", serde_json::to_string(&saved(bytes.len()))?);
    } else {
        println!("wrote {} bytes to {}", bytes.len(), out.display());
    }
    Ok(())
}

/// Parses `--part LANG:TITLE:BODY`.
fn parse_part(p: &str) -> anyhow::Result<Part> {
    let mut it = p.splitn(3, ':');
    match (it.next(), it.next(), it.next()) {
        (Some(lang), Some(title), Some(body)) => Ok(Part {
            lang: lang.to_string(),
            title: title.to_string(),
            body: body.to_string(),
        }),
        _ => Err(CliError::invalid(format!(
            "--part must be LANG:TITLE:BODY, got `{p}`"
        ))),
    }
}

async fn oa(client: &Client, cmd: OaCommand, json: bool) -> anyhow::Result<()> {
    let action = |name: &str| format!("/v1/oa/{name}");
    // The body of every action on one account: `oa` plus what the action adds.
    let on = |oa: String| OaBody {
        oa: Some(oa),
        ..OaBody::default()
    };
    match cmd {
        OaCommand::List => {
            let v: Vec<OaView> = client.get("/v1/oa").await?;
            print::oa_list(&v, json)
        }
        OaCommand::Search { query } => {
            let query = query.join(" ");
            let v: Vec<OaView> = client
                .get(&format!("/v1/oa/search?q={}", client::query_escape(&query)))
                .await?;
            print::oa_search(&v, &query, json)
        }
        OaCommand::Feed { all } => {
            let v: Vec<PostView> = client.get(&format!("/v1/oa/feed?all={all}")).await?;
            print::oa_feed(&v, json)
        }
        OaCommand::Log { oa } => {
            let v: Vec<OaMessageView> = client
                .get(&format!(
                    "/v1/oa/conversation?oa={}",
                    client::query_escape(&oa)
                ))
                .await?;
            print::oa_log(&v, json)
        }
        OaCommand::Create {
            kind,
            name,
            description,
        } => {
            let body = OaBody {
                kind: Some(kind),
                name: Some(name),
                description: Some(description),
                ..OaBody::default()
            };
            let v: OaView = client.post(&action("create"), &body).await?;
            print::oa_created(&v, json)
        }
        OaCommand::Follow { oa } => {
            let body = on(oa);
            print::done(&client.post(&action("follow"), &body).await?, json)
        }
        OaCommand::Unfollow { oa } => {
            let body = on(oa);
            print::done(&client.post(&action("unfollow"), &body).await?, json)
        }
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
            let parts = part
                .iter()
                .map(|p| parse_part(p))
                .collect::<anyhow::Result<_>>()?;
            let body = OaBody {
                text: Some(text),
                title,
                link,
                parts,
                images,
                ..on(oa)
            };
            let v: Published = client.post(&action("publish"), &body).await?;
            print::published(&v, json)
        }
        OaCommand::Message { oa, text } => {
            let body = OaBody {
                text: Some(text),
                ..on(oa)
            };
            let v: OaAnswer = client.post(&action("message"), &body).await?;
            print::oa_answer(&v, json)
        }
        OaCommand::Reply { oa, follower, text } => {
            let body = OaBody {
                follower: Some(follower),
                text: Some(text),
                ..on(oa)
            };
            let v: OaReplied = client.post(&action("reply"), &body).await?;
            print::oa_replied(&v, json)
        }
        OaCommand::Autoreply { oa, keyword, reply } => {
            let body = OaBody {
                keyword: Some(keyword),
                reply: Some(reply),
                ..on(oa)
            };
            print::done(&client.post(&action("autoreply"), &body).await?, json)
        }
        OaCommand::Menu { oa, items } => {
            let body = OaBody {
                items: Some(items),
                ..on(oa)
            };
            print::done(&client.post(&action("menu"), &body).await?, json)
        }
        OaCommand::Verify { oa, name } => {
            let body = OaBody { name, ..on(oa) };
            let v: IssuedCertificate = client.post(&action("verify"), &body).await?;
            print::certificate(&v, json)
        }
        OaCommand::Certify { oa, certificate } => {
            let body = OaBody {
                certificate: Some(certificate),
                ..on(oa)
            };
            print::done(&client.post(&action("certify"), &body).await?, json)
        }
    }
}

/// Reads a small avatar file as hex, refusing one over the radar's limit.
fn avatar_hex(path: &std::path::Path) -> anyhow::Result<String> {
    let limit = 32 * 1024;
    let meta = std::fs::metadata(path)
        .map_err(|e| CliError::invalid(format!("cannot read {}: {e}", path.display())))?;
    if meta.len() > limit {
        return Err(CliError::invalid(format!(
            "avatar {} is {}; an avatar is at most {}",
            path.display(),
            text::size(meta.len()),
            text::size(limit)
        )));
    }
    let bytes = std::fs::read(path)?;
    Ok(weft_protocol::hex::encode(&bytes))
}

async fn profile(client: &Client, a: args::ProfileArgs, json: bool) -> anyhow::Result<()> {
    let v: ProfileView = if a.name.is_none() && a.whats_up.is_none() && a.avatar.is_none() {
        client.get("/v1/profile").await?
    } else {
        let body = ProfileBody {
            name: a.name,
            whats_up: a.whats_up,
            avatar_hex: a.avatar.as_deref().map(avatar_hex).transpose()?,
        };
        client.post("/v1/profile", &body).await?
    };
    print::profile(&v, json)
}

async fn nearby(client: &Client, a: args::NearbyArgs, json: bool) -> anyhow::Result<()> {
    let body = match a.toggle {
        None => {
            let v: Vec<NearbyView> = client.get("/v1/nearby").await?;
            return print::nearby(&v, json);
        }
        Some(args::Toggle::Off) => NearbyBody {
            on: false,
            settings: RadarOn::default(),
        },
        Some(args::Toggle::On {
            lat,
            lon,
            geohash,
            whats_up,
            region,
            avatar,
            minutes,
        }) => {
            let avatar_hex = avatar.as_deref().map(avatar_hex).transpose()?;
            NearbyBody {
                on: true,
                settings: RadarOn {
                    lat,
                    lon,
                    geohash,
                    whats_up,
                    region,
                    avatar_hex,
                    minutes,
                },
            }
        }
    };
    let v: RadarView = client.post("/v1/nearby", &body).await?;
    print::radar(&v, json)
}

async fn contacts(client: &Client, cmd: ContactsCommand, json: bool) -> anyhow::Result<()> {
    let named = |contact: String| ContactBody {
        contact,
        remark: None,
        clear: false,
    };
    let (path, body, said) = match cmd {
        ContactsCommand::List => {
            let v: Vec<ContactView> = client.get("/v1/contacts").await?;
            return print::contacts(&v, json);
        }
        ContactsCommand::Requests => {
            let v: Vec<RequestView> = client.get("/v1/contacts/requests").await?;
            return print::requests(&v, json);
        }
        ContactsCommand::Add { target, greeting } => {
            let v: ContactView = client
                .post("/v1/contacts/add", &AddContact { greeting, target })
                .await?;
            return print::contact(&v, "friend request sent to", json);
        }
        // These answer `{}`: the contact is gone.
        ContactsCommand::Reject { contact } => {
            let v: Done = client
                .post("/v1/contacts/reject", &named(contact.clone()))
                .await?;
            return print::done_saying(&format!("request from {contact} rejected"), &v, json);
        }
        ContactsCommand::Delete { contact } => {
            let v: Done = client
                .post("/v1/contacts/delete", &named(contact.clone()))
                .await?;
            return print::done_saying(&format!("{contact} deleted"), &v, json);
        }
        ContactsCommand::Unblock { contact } => {
            let v: Done = client
                .post("/v1/contacts/unblock", &named(contact.clone()))
                .await?;
            return print::done_saying(&format!("{contact} unblocked"), &v, json);
        }
        ContactsCommand::Accept { contact } => (
            "/v1/contacts/accept",
            named(contact),
            "you are now friends with",
        ),
        ContactsCommand::Block { contact } => ("/v1/contacts/block", named(contact), "blocked"),
        ContactsCommand::Remark {
            contact,
            name,
            clear,
        } => (
            "/v1/contacts/remark",
            ContactBody {
                contact,
                remark: name.filter(|_| !clear),
                clear,
            },
            "remark set:",
        ),
    };
    let v: ContactView = client.post(path, &body).await?;
    print::contact(&v, said, json)
}

async fn chat(client: &Client, cmd: ChatCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        ChatCommand::Save { id, out } => files::save(client, &id, &out, json).await,
        ChatCommand::AutoDownload { size } => {
            files::auto_download(client, size.as_deref(), json).await
        }
        ChatCommand::Send {
            contact,
            text,
            file,
            image,
            voice,
            video,
            original,
            no_wait,
            reply_to,
            mention,
            all,
        } => {
            let attached = [
                ("file", file),
                ("image", image),
                ("voice", voice),
                ("video", video),
            ]
            .into_iter()
            .find_map(|(k, p)| p.map(|p| (k, p)));
            if let Some((kind, path)) = attached {
                let send = files::Send {
                    to: contact,
                    caption: text.unwrap_or_default(),
                    kind,
                    path,
                    original,
                    wait: !no_wait,
                    reply_to,
                };
                return files::send(client, send, json).await;
            }
            let body = SendBody {
                all,
                mentions: mention,
                reply_to,
                text: text.unwrap_or_default(),
                to: contact,
            };
            let v: Created = client.post("/v1/chat/send", &body).await?;
            print::sent(&v, json)
        }
        ChatCommand::Log {
            contact,
            limit,
            ids,
        } => {
            let path = format!(
                "/v1/chat/log?with={}&limit={limit}",
                client::query_escape(&contact)
            );
            // A contact's log or a group's: group entries name their sender.
            let raw: serde_json::Value = client.get(&path).await?;
            if json {
                return print::json_sorted(&raw);
            }
            let names = print::Names::load(client).await?;
            let is_group = raw
                .as_array()
                .and_then(|a| a.first())
                .is_some_and(|m| m.get("mentions").is_some());
            if is_group {
                let v: Vec<weft_node::group::GroupMessageView> = serde_json::from_value(raw)?;
                print!("{}", group::log(&v, names.me(), ids));
                return Ok(());
            }
            let v: Vec<MessageView> = serde_json::from_value(raw)?;
            print!("{}", print::chat_log(&v, &names, ids));
            Ok(())
        }
        ChatCommand::List => {
            let v: Vec<ConversationView> = client.get("/v1/chat/list").await?;
            print::conversations(&v, json)
        }
        ChatCommand::Recall { id } => {
            let v: Done = client.post("/v1/chat/recall", &RecallBody { id }).await?;
            print::done(&v, json)
        }
        ChatCommand::Watch => {
            let names = if json {
                None
            } else {
                Some(print::Names::load(client).await?)
            };
            client.stream_events(json, names).await
        }
    }
}
