//! `weft demo`: starts several nodes in this process on 127.0.0.1 (mDNS off:
//! the first node is everyone's bootstrap and the DHT does the rest), walks
//! through what Weft can do, and exits non-zero if any step fails.

use std::collections::HashSet;
use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use serde::{de::DeserializeOwned, Serialize};
use weft_node::api::PeerView as PeerInfo;
use weft_node::api::{
    chat::{AddContact, ContactBody, SendBody},
    moments::{ActionBody, PostBody},
    nearby::{FoundView, HandleBody, HandleClaimed, NearbyBody, RadarView},
    oa::{OaBody, Published},
    Created, Done, IdView, StatusView,
};
use weft_node::chat::{ContactView, MessageView, RequestView};
use weft_node::moments::FeedEntry;
use weft_node::nearby::{NearbyView, RadarOn};
use weft_node::oa::{OaView, PostView};
use weft_node::{NodeConfig, RunningNode};

use crate::client::Client;

/// Prints `✓ <message>` for a step that worked, unless `--json`.
macro_rules! step {
    ($json:expr, $($msg:tt)+) => {
        if !$json {
            println!("✓ {}", format_args!($($msg)+));
        }
    };
}

const NAMES: [&str; 20] = [
    "Ada", "Bao", "Chen", "Dara", "Emeka", "Farah", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lena",
    "Mei", "Nils", "Oona", "Pia", "Quan", "Rui", "Sol", "Tao",
];

/// `weft demo --json`: the one line at the end (fields alphabetical, the
/// order it has always printed in).
#[derive(Serialize)]
struct DemoDone {
    nodes: u16,
    ok: bool,
    seconds: f64,
}

struct DemoNode {
    name: &'static str,
    node: RunningNode,
    client: Client,
    peer_id: String,
    /// The account the node speaks for (a linked device: its account's).
    account_id: String,
}

impl DemoNode {
    /// The node's own card (`/v1/id`).
    async fn card(&self) -> anyhow::Result<IdView> {
        self.client.get("/v1/id").await
    }

    /// Sends a chat message.
    async fn send(&self, body: &SendBody) -> anyhow::Result<Created> {
        self.client.post("/v1/chat/send", body).await
    }
}

/// The API path of the chat log with `with` (a contact or group id, or "me").
fn log_path(with: &str) -> String {
    format!("/v1/chat/log?with={with}")
}

/// Starts a node at `home` on 127.0.0.1 (mDNS off) that joins through
/// `bootstrap` (none for the first node), and waits until it listens.
async fn start_node(
    home: &std::path::Path,
    name: Option<&str>,
    bootstrap: Option<&str>,
) -> anyhow::Result<(RunningNode, Client, StatusView)> {
    let mut cfg = NodeConfig::load(home.to_path_buf())?;
    if let Some(name) = name {
        cfg.name = Some(name.to_string());
    }
    cfg.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    cfg.mdns = false;
    cfg.bootstrap = match bootstrap {
        Some(via) => vec![via.parse()?],
        None => Vec::new(),
    };
    let node = RunningNode::start(cfg).await?;
    let client = Client::new(
        &node.api_addr().to_string(),
        node.token(),
        &home.display().to_string(),
    )?;
    let status = wait_for_listening(&client).await?;
    Ok((node, client, status))
}

/// Polls `check` every `every` until it returns true or `timeout` passes.
/// The demo's waits and the integration tests' harness both poll with it.
pub async fn poll_until<F, Fut>(timeout: Duration, every: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(every).await;
    }
}

/// Polls `check` every 100 ms until it returns true or `timeout` passes.
async fn wait_until<F, Fut>(timeout: Duration, check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    poll_until(timeout, Duration::from_millis(100), check).await
}

/// Polls the list at `path` for up to 30 s until one of its items is `want`.
async fn wait_for_item<T: DeserializeOwned>(
    client: &Client,
    path: &str,
    want: impl Fn(&T) -> bool,
) -> bool {
    wait_until(Duration::from_secs(30), || async {
        get_list::<T>(client, path).await.iter().any(&want)
    })
    .await
}

/// Runs the demo with `n` nodes.
pub async fn run(n: u16, json: bool) -> anyhow::Result<()> {
    let tmp = tempfile_dir()?;
    let started = Instant::now();
    let mut nodes: Vec<DemoNode> = Vec::new();
    let result = walk(&tmp, n as usize, json, &mut nodes).await;
    for d in nodes {
        let _ = d.node.shutdown().await;
    }
    let _ = std::fs::remove_dir_all(&tmp);
    result?;
    if json {
        let done = DemoDone {
            nodes: n,
            ok: true,
            seconds: started.elapsed().as_secs_f64(),
        };
        println!("{}", serde_json::to_string(&done)?);
    } else {
        println!(
            "demo finished in {:.1}s: every step worked",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("weft-demo-{}-{nanos}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).context("cannot create a temporary directory")?;
    Ok(dir)
}

async fn walk(
    tmp: &std::path::Path,
    n: usize,
    json: bool,
    nodes: &mut Vec<DemoNode>,
) -> anyhow::Result<()> {
    let mut bootstrap: Option<String> = None;
    for (i, name) in NAMES.iter().take(n).enumerate() {
        let home = tmp.join(name.to_lowercase());
        let (node, client, status) = start_node(&home, Some(name), bootstrap.as_deref()).await?;
        if i == 0 {
            let addr = format!("{}/p2p/{}", status.listen_addrs[0], status.peer_id);
            step!(json, "{name} is up: {addr}");
            bootstrap = Some(addr);
        } else {
            step!(json, "{name} is up and joins through {}", NAMES[0]);
        }
        nodes.push(DemoNode {
            name,
            node,
            client,
            peer_id: status.peer_id,
            account_id: status.account_id,
        });
    }

    // Everyone should reach everyone: the first directly, the rest through the DHT.
    let all: HashSet<String> = nodes.iter().map(|d| d.peer_id.clone()).collect();
    for d in nodes.iter() {
        let want: HashSet<String> = all.iter().filter(|p| **p != d.peer_id).cloned().collect();
        let client = d.client.clone();
        let ok = wait_until(Duration::from_secs(30), || {
            let client = client.clone();
            let want = want.clone();
            async move {
                // A peer counts once its card (and so its name) arrived.
                let peers: Vec<PeerInfo> = get_list(&client, "/v1/peers").await;
                let named: HashSet<String> = peers
                    .into_iter()
                    .filter(|p| p.name.is_some())
                    .map(|p| p.peer_id)
                    .collect();
                want.is_subset(&named)
            }
        })
        .await;
        ensure!(ok, "{} did not find all other nodes within 30 s", d.name);
        let peers: Vec<PeerInfo> = d.client.get("/v1/peers").await?;
        let names: Vec<&str> = peers.iter().filter_map(|p| p.name.as_deref()).collect();
        step!(
            json,
            "{} is connected to {} (cards verified)",
            d.name,
            names.join(", ")
        );
    }
    friends_and_chat(&nodes[0], &nodes[1], json).await?;
    attachments(&nodes[0], &nodes[1], json).await?;
    moments(&nodes[0], &nodes[1], &nodes[2], json).await?;
    radar_and_handles(&nodes[0], &nodes[2], json).await?;
    official_account(&nodes[1], &[&nodes[0], &nodes[2]], json).await?;
    group_chat(&nodes[0], &nodes[1], &nodes[2], json).await?;
    pay(&nodes[0], &nodes[1], &nodes[2], json).await?;
    let laptop = linked_device(tmp, &nodes[0], &nodes[1], json).await?;
    nodes.push(laptop);
    let (ada, laptop, bao) = (&nodes[0], &nodes[nodes.len() - 1], &nodes[1]);
    both_devices(ada, laptop, bao, json).await?;
    laptop_in_group(ada, laptop, bao, &nodes[2], json).await
}

/// A text with no reply, mention or @all, to `to` (a contact or group id,
/// or "me").
fn plain_text(to: impl Into<String>, text: &str) -> SendBody {
    SendBody {
        all: false,
        mentions: Vec::new(),
        reply_to: None,
        text: text.into(),
        to: to.into(),
    }
}

/// A second device joins the first node's account by a one-use code and
/// starts; its history comes over.
async fn linked_device(
    tmp: &std::path::Path,
    a: &DemoNode,
    b: &DemoNode,
    json: bool,
) -> anyhow::Result<DemoNode> {
    let offer: weft_node::device::LinkOffer = a.client.post("/v1/devices/link", &()).await?;
    let home = tmp.join("ada-laptop");
    let joined = weft_node::device::join(
        &weft_node::Home::new(&home),
        &offer.code,
        "Laptop",
        weft_node::device::DEFAULT_HISTORY,
    )
    .await?;
    let b_status: StatusView = b.client.get("/v1/status").await?;
    let via = format!("{}/p2p/{}", b_status.listen_addrs[0], b_status.peer_id);
    let (node, client, status) = start_node(&home, None, Some(&via)).await?;
    step!(
        json,
        "{}'s laptop joins the account with a one-use code ({} devices, no account key on the laptop)",
        a.name,
        joined.list.body.devices.len()
    );
    let path = log_path(&b.account_id);
    let before: Vec<MessageView> = get_list(&a.client, &path).await;
    let ok = wait_until(Duration::from_secs(30), || async {
        let log: Vec<MessageView> = get_list(&client, &path).await;
        log.len() >= before.len()
    })
    .await;
    ensure!(ok, "the laptop never got the history with {}", b.name);
    step!(
        json,
        "the laptop shows the {} messages {} and {} exchanged before it joined",
        before.len(),
        a.name,
        b.name
    );
    Ok(DemoNode {
        name: "Ada's laptop",
        node,
        client,
        peer_id: status.peer_id,
        account_id: status.account_id,
    })
}

/// A friend's message reaches both devices; the laptop writes back as the
/// account; a note to "File Transfer" goes from one device to the other.
async fn both_devices(
    a: &DemoNode,
    laptop: &DemoNode,
    b: &DemoNode,
    json: bool,
) -> anyhow::Result<()> {
    let ok = wait_until(Duration::from_secs(30), || async {
        let contacts: Vec<weft_node::chat::ContactView> = get_list(&b.client, "/v1/contacts").await;
        contacts
            .iter()
            .any(|c| c.account_id == a.account_id && c.devices == 2)
    })
    .await;
    ensure!(
        ok,
        "{} never learned that {} has two devices",
        b.name,
        a.name
    );
    let text = "Are you on your laptop?";
    let sent = b.send(&plain_text(a.account_id.clone(), text)).await?;
    let path = log_path(&b.account_id);
    for d in [a, laptop] {
        let ok = wait_for_item(&d.client, &path, |m: &MessageView| m.id == sent.id).await;
        ensure!(ok, "{}'s message never reached {}", b.name, d.name);
    }
    step!(
        json,
        "{} → {}: \"{text}\" shows on both of {}'s devices",
        b.name,
        a.name,
        a.name
    );
    let reply = "Yes, typing on it now";
    let sent = laptop
        .send(&plain_text(b.account_id.clone(), reply))
        .await?;
    let b_path = log_path(&a.account_id);
    let ok = wait_for_item(&b.client, &b_path, |m: &MessageView| {
        m.id == sent.id && m.from == a.account_id
    })
    .await;
    ensure!(
        ok,
        "the laptop's message never reached {} from {}",
        b.name,
        a.name
    );
    let ok = wait_for_item(&a.client, &path, |m: &MessageView| m.id == sent.id).await;
    ensure!(ok, "{}'s phone does not show what the laptop sent", a.name);
    step!(
        json,
        "laptop → {}: \"{reply}\" (from {}; shown as sent on the first device too)",
        b.name,
        a.name
    );
    let note = "boarding pass: seat 14C";
    let sent = a.send(&plain_text("me", note)).await?;
    let ok = wait_for_item(&laptop.client, &log_path("me"), |m: &MessageView| {
        m.id == sent.id
    })
    .await;
    ensure!(ok, "the note to File Transfer never reached the laptop");
    step!(
        json,
        "{} → File Transfer: \"{note}\" arrives on the laptop",
        a.name
    );
    Ok(())
}

/// The laptop joined after "Climbers" was made: it shows the group and
/// what was said in it, and writes in it as the account.
async fn laptop_in_group(
    a: &DemoNode,
    laptop: &DemoNode,
    b: &DemoNode,
    c: &DemoNode,
    json: bool,
) -> anyhow::Result<()> {
    let groups: Vec<weft_node::group::GroupView> = get_list(&a.client, "/v1/groups").await;
    let g = groups
        .into_iter()
        .find(|g| g.name == "Climbers")
        .context("Ada's group is gone")?;
    let a_id = a.account_id.clone();
    let b_id = b.account_id.clone();
    let group_log = log_path(&g.id);
    let ok = wait_for_item(
        &laptop.client,
        &group_log,
        |m: &weft_node::group::GroupMessageView| m.from == b_id,
    )
    .await;
    ensure!(
        ok,
        "the laptop never showed Climbers with {}'s message",
        b.name
    );
    step!(
        json,
        "the laptop shows Climbers and what {} said there before it joined",
        b.name
    );
    let text = "I'll bring the rope";
    let sent = laptop.send(&plain_text(g.id.clone(), text)).await?;
    for d in [b, c, a] {
        let ok = wait_for_item(
            &d.client,
            &group_log,
            |m: &weft_node::group::GroupMessageView| m.id == sent.id && m.from == a_id,
        )
        .await;
        ensure!(ok, "the laptop's group message never reached {}", d.name);
    }
    step!(
        json,
        "laptop → Climbers: \"{text}\" reaches {} and {} from {}; {}'s phone shows it as sent",
        b.name,
        c.name,
        a.name,
        a.name
    );
    Ok(())
}

/// `a` adds `b` by its link and `b` accepts; waits until `a` sees it.
/// With `narrate` (the demo's `--json` flag), each step is printed.
async fn befriend(a: &DemoNode, b: &DemoNode, narrate: Option<bool>) -> anyhow::Result<()> {
    let quiet = narrate.unwrap_or(true);
    let b_card = b.card().await?;
    let greeting = format!("Hi, it's {}!", a.name);
    let add = AddContact {
        greeting: greeting.clone(),
        target: b_card.link.clone(),
    };
    let _: ContactView = a.client.post("/v1/contacts/add", &add).await?;
    step!(
        quiet,
        "{} sends {} a friend request from their weft:// link",
        a.name,
        b.name
    );
    let a_id = a.account_id.clone();
    let ok = wait_for_item(&b.client, "/v1/contacts/requests", |r: &RequestView| {
        r.account_id == a_id
    })
    .await;
    ensure!(ok, "{} never received {}'s friend request", b.name, a.name);
    step!(
        quiet,
        "{} sees the request with its greeting \"{greeting}\"",
        b.name
    );
    let accept = ContactBody {
        contact: a.account_id.clone(),
        remark: None,
        clear: false,
    };
    let _: ContactView = b.client.post("/v1/contacts/accept", &accept).await?;
    let b_id = b.account_id.clone();
    let ok = wait_for_item(&a.client, "/v1/contacts", |c: &ContactView| {
        c.account_id == b_id && c.state == weft_node::store::chat::ContactState::Friend
    })
    .await;
    ensure!(ok, "{} never learned that {} accepted", a.name, b.name);
    step!(quiet, "{} accepts; they are friends on both sides", b.name);
    Ok(())
}

/// A group of three: `a` creates it with friends `b` and `c`; `b` writes
/// with a mention of `c`; everyone reads it, `c` sees it mentions them.
async fn group_chat(a: &DemoNode, b: &DemoNode, c: &DemoNode, json: bool) -> anyhow::Result<()> {
    befriend(a, c, None).await?;
    let b_id = b.account_id.clone();
    let c_id = c.account_id.clone();
    let create = weft_node::api::group::CreateGroup {
        members: vec![b_id.clone(), c_id.clone()],
        name: "Climbers".into(),
    };
    let g: Created = a.client.post("/v1/groups/create", &create).await?;
    for d in [b, c] {
        let ok = wait_for_item(
            &d.client,
            "/v1/groups",
            |v: &weft_node::group::GroupView| v.id == g.id && v.members == 3,
        )
        .await;
        ensure!(ok, "{} never joined the group", d.name);
    }
    step!(
        json,
        "{} creates the group \"Climbers\" with {} and {} (sender keys, one ciphertext per message)",
        a.name,
        b.name,
        c.name
    );
    let text = "Saturday 9am at the crag?";
    let send = SendBody {
        mentions: vec![c_id.clone()],
        ..plain_text(g.id.clone(), text)
    };
    let sent = b.send(&send).await?;
    let group_log = log_path(&g.id);
    for d in [a, c] {
        let ok = wait_for_item(
            &d.client,
            &group_log,
            |m: &weft_node::group::GroupMessageView| m.id == sent.id && m.mentions.contains(&c_id),
        )
        .await;
        ensure!(ok, "{}'s group message never reached {}", b.name, d.name);
    }
    step!(
        json,
        "{} → Climbers: \"@{} {text}\"; {} and {} read it, {} is notified by the mention",
        b.name,
        c.name,
        a.name,
        c.name,
        c.name
    );
    Ok(())
}

/// The amount of `currency` in a node's wallet, in cents.
async fn wallet_cents(d: &DemoNode, currency: &str) -> u64 {
    let v: Vec<weft_node::pay::BalanceView> = get_list(&d.client, "/v1/wallet").await;
    v.iter()
        .filter(|b| b.currency == currency)
        .filter_map(|b| weft_protocol::pay::parse_amount(&b.amount).ok())
        .sum()
}

/// Bao runs a mint and tops up Ada; Ada pays Chen, then sends a red
/// envelope to the group, which Bao and Chen grab.
async fn pay(a: &DemoNode, b: &DemoNode, c: &DemoNode, json: bool) -> anyhow::Result<()> {
    use weft_node::api::pay::{MintCreate, MintIssue, PacketId, PacketSend, PaySend};
    use weft_node::pay::{MintView, PacketView, SendResult};
    let mint: MintView = b
        .client
        .post(
            "/v1/mint/create",
            &MintCreate {
                name: "Harbour Bank".into(),
                currencies: vec!["CNY".into(), "EUR".into()],
            },
        )
        .await?;
    let a_id = a.account_id.clone();
    let _: SendResult = b
        .client
        .post(
            "/v1/mint/issue",
            &MintIssue {
                mint: mint.account_id.clone(),
                contact: a_id,
                amount: "100.00".into(),
                currency: "CNY".into(),
            },
        )
        .await?;
    let topped = wait_until(Duration::from_secs(30), || async {
        wallet_cents(a, "CNY").await == 10_000
    })
    .await;
    ensure!(topped, "{}'s top-up never arrived", a.name);
    step!(
        json,
        "{} runs the mint \"Harbour Bank\" (CNY, EUR) and tops up {}'s wallet with 100.00 CNY",
        b.name,
        a.name
    );
    let c_id = c.account_id.clone();
    let sent: SendResult = a
        .client
        .post(
            "/v1/pay/send",
            &PaySend {
                to: c_id,
                amount: "12.50".into(),
                currency: "CNY".into(),
                note: "lunch".into(),
                mint: None,
                refund_after: None,
                coupon: None,
            },
        )
        .await?;
    let got = wait_until(Duration::from_secs(30), || async {
        wallet_cents(c, "CNY").await == 1250
    })
    .await;
    ensure!(got, "{}'s payment never reached {}", a.name, c.name);
    step!(
        json,
        "{} pays {} {} CNY (tokens locked to {}'s devices, inside the encrypted chat); {} claims them at the mint",
        a.name,
        c.name,
        sent.amount,
        c.name,
        c.name
    );
    let groups: Vec<weft_node::group::GroupView> = get_list(&a.client, "/v1/groups").await;
    let g = groups
        .iter()
        .find(|g| g.name == "Climbers")
        .context("the group is gone")?;
    let packet: PacketView = a
        .client
        .post(
            "/v1/redpacket/send",
            &PacketSend {
                to: g.id.clone(),
                total: "6.00".into(),
                currency: "CNY".into(),
                count: 2,
                lucky: true,
                note: "Happy new year".into(),
                mint: None,
                expires_in: None,
            },
        )
        .await?;
    for d in [b, c] {
        let ok = wait_for_item(&d.client, "/v1/redpackets", |p: &PacketView| {
            p.id == packet.id
        })
        .await;
        ensure!(ok, "the red envelope never reached {}", d.name);
        let _: PacketView = d
            .client
            .post(
                "/v1/redpacket/grab",
                &PacketId {
                    id: packet.id.clone(),
                },
            )
            .await?;
    }
    let shown: PacketView = a
        .client
        .get(&format!("/v1/redpacket/show?id={}", packet.id))
        .await?;
    let shares: Vec<String> = shown
        .shares
        .iter()
        .map(|s| format!("{} {}", s.name, s.amount))
        .collect();
    step!(
        json,
        "{} sends a lucky red envelope of 6.00 CNY in 2 shares to Climbers: {}",
        a.name,
        shares.join(", ")
    );
    Ok(())
}

/// One node runs a subscription account; the others follow it and get its post.
async fn official_account(owner: &DemoNode, fans: &[&DemoNode], json: bool) -> anyhow::Result<()> {
    let create = OaBody {
        kind: Some("subscription".into()),
        name: Some("Bao's Daily".into()),
        description: Some("one story a day".into()),
        ..OaBody::default()
    };
    let created: OaView = owner.client.post("/v1/oa/create", &create).await?;
    let oa = created.account_id;
    step!(
        json,
        "{} creates the subscription account \"Bao's Daily\" (its own key)",
        owner.name
    );
    for f in fans {
        let follow = OaBody {
            oa: Some(oa.clone()),
            ..OaBody::default()
        };
        let _: Done = f.client.post("/v1/oa/follow", &follow).await?;
    }
    let names: Vec<&str> = fans.iter().map(|f| f.name).collect();
    let want = fans.len();
    let ok = wait_for_item(&owner.client, "/v1/oa", |a: &OaView| {
        a.account_id == oa && a.subscribers.unwrap_or(0) >= want
    })
    .await;
    ensure!(ok, "the followers never joined the account's topic");
    step!(
        json,
        "{} follow it (gossipsub topic weft/oa/<id>)",
        names.join(" and ")
    );
    let publish = |text: &str| OaBody {
        oa: Some(oa.clone()),
        text: Some(text.to_string()),
        ..OaBody::default()
    };
    let _: Published = owner
        .client
        .post(
            "/v1/oa/publish",
            &publish("Weft launches 🚀\nNo servers were harmed."),
        )
        .await?;
    for f in fans {
        let ok = wait_for_item(&f.client, "/v1/oa/feed", |p: &PostView| {
            p.title == "Weft launches 🚀"
        })
        .await;
        ensure!(ok, "{} never got the broadcast", f.name);
    }
    step!(
        json,
        "{} publishes; {} both see it in Subscriptions",
        owner.name,
        names.join(" and ")
    );
    let again: anyhow::Result<Published> = owner
        .client
        .post("/v1/oa/publish", &publish("one more"))
        .await;
    match again {
        Err(e) if e.to_string().contains("per day") => step!(
            json,
            "a second push the same day is refused: 1 per day (UTC) for subscription accounts"
        ),
        _ => bail!("the quota did not hold"),
    }
    Ok(())
}

/// People Nearby through the DHT (the LAN radar needs mDNS, which the demo
/// keeps off on this machine's network), then a handle looked up by another node.
async fn radar_and_handles(a: &DemoNode, c: &DemoNode, json: bool) -> anyhow::Result<()> {
    let radar_on = |lat: f64, lon: f64, whats_up: &str| NearbyBody {
        on: true,
        settings: RadarOn {
            lat: Some(lat),
            lon: Some(lon),
            whats_up: Some(whats_up.to_string()),
            ..RadarOn::default()
        },
    };
    let _: RadarView = a
        .client
        .post("/v1/nearby", &radar_on(31.2304, 121.4737, "new in town 🌆"))
        .await?;
    let _: RadarView = c
        .client
        .post(
            "/v1/nearby",
            &radar_on(31.2394, 121.4737, "dumplings anyone? 🥟"),
        )
        .await?;
    step!(
        json,
        "{} and {} turn their radar on, about 1 km apart (only ~5 km cells leave their nodes)",
        a.name,
        c.name
    );
    let c_id = c.account_id.clone();
    let ok = wait_for_item(&a.client, "/v1/nearby", |p: &NearbyView| {
        p.account_id == c_id
    })
    .await;
    ensure!(ok, "{}'s radar never showed {}", a.name, c.name);
    let list: Vec<NearbyView> = get_list(&a.client, "/v1/nearby").await;
    let whats_up = list
        .into_iter()
        .find(|p| p.account_id == c_id)
        .map(|p| p.whats_up)
        .unwrap_or_default();
    step!(
        json,
        "{}'s People Nearby shows {} (\"{whats_up}\"), found through the DHT",
        a.name,
        c.name
    );
    let claim = HandleBody {
        handle: "chen_dumplings".into(),
    };
    let _: HandleClaimed = c.client.post("/v1/handle", &claim).await?;
    let found: FoundView = a.client.get("/v1/find?handle=chen_dumplings").await?;
    if found.account_id != c_id {
        bail!(
            "handle lookup returned the wrong account: {}",
            found.account_id
        );
    }
    step!(
        json,
        "{} claims the handle chen_dumplings; {} finds it (fingerprint {})",
        c.name,
        a.name,
        found.fingerprint
    );
    Ok(())
}

/// A list from the API, or an empty one while the node cannot answer yet
/// (the callers poll until what they wait for shows up).
async fn get_list<T: DeserializeOwned>(c: &Client, path: &str) -> Vec<T> {
    c.get(path).await.unwrap_or_default()
}

/// The first two nodes become friends and talk.
async fn friends_and_chat(a: &DemoNode, b: &DemoNode, json: bool) -> anyhow::Result<()> {
    befriend(a, b, Some(json)).await?;
    let text = "Hi Bao 👋 coffee later?";
    let sent = a.send(&plain_text(b.account_id.clone(), text)).await?;
    let msg_id = sent.id;
    let b_log = log_path(&a.account_id);
    let ok = wait_for_item(&b.client, &b_log, |m: &MessageView| m.id == msg_id).await;
    ensure!(ok, "{}'s message never reached {}", a.name, b.name);
    step!(
        json,
        "{} → {}: \"{text}\" (end-to-end encrypted)",
        a.name,
        b.name
    );
    let reply = "Sure! ☕ 3pm?";
    let send = SendBody {
        reply_to: Some(msg_id.clone()),
        ..plain_text(a.account_id.clone(), reply)
    };
    b.send(&send).await?;
    let a_log = log_path(&b.account_id);
    let ok = wait_until(Duration::from_secs(30), || async {
        let log: Vec<MessageView> = get_list(&a.client, &a_log).await;
        let replied = log
            .iter()
            .any(|m| m.reply_to.as_deref() == Some(msg_id.as_str()));
        let read = log
            .iter()
            .any(|m| m.id == msg_id && m.status == weft_node::store::chat::MsgStatus::Read);
        replied && read
    })
    .await;
    ensure!(
        ok,
        "{}'s reply or read receipt never reached {}",
        b.name,
        a.name
    );
    step!(
        json,
        "{} → {}: \"{reply}\" (quoting it); {} sees its message as read",
        b.name,
        a.name,
        a.name
    );
    Ok(())
}

/// The first node sends its friend a photo (re-encoded: no location) and a
/// voice note; the friend's node downloads them by itself and shows the
/// voice note's length.
async fn attachments(a: &DemoNode, b: &DemoNode, json: bool) -> anyhow::Result<()> {
    use weft_node::api::files::SentFile;
    let photo = weft_node::media::samples::jpeg_with_gps(1200, 800);
    let path = format!(
        "/v1/chat/send-file?to={}&kind=image&name=summit.jpg&caption=top%20of%20the%20hill&wait=10",
        b.account_id
    );
    let sent: SentFile = a.client.post_bytes(&path, photo.clone()).await?;
    let b_log = log_path(&a.account_id);
    let ok = wait_for_item(&b.client, &b_log, |m: &MessageView| {
        m.id == sent.id && m.attachment.as_ref().is_some_and(|x| x.local)
    })
    .await;
    ensure!(ok, "{}'s photo never reached {}", a.name, b.name);
    let saved = b
        .client
        .get_bytes(&format!("/v1/chat/file/{}", sent.id))
        .await?;
    ensure!(
        !saved.windows(4).any(|w| w == b"Exif"),
        "the photo kept its EXIF (location) data"
    );
    step!(
        json,
        "{} → {}: a photo, re-encoded without its GPS tag ({} KiB, thumbnail inline, encrypted under its own key)",
        a.name,
        b.name,
        saved.len() / 1024
    );
    let note = weft_node::media::samples::ogg_opus(3_200);
    let path = format!(
        "/v1/chat/send-file?to={}&kind=voice&name=note.ogg&wait=10",
        b.account_id
    );
    let sent: SentFile = a.client.post_bytes(&path, note).await?;
    let ok = wait_for_item(&b.client, &b_log, |m: &MessageView| {
        m.id == sent.id
            && m.attachment
                .as_ref()
                .is_some_and(|x| x.local && x.duration_ms == Some(3_200))
    })
    .await;
    ensure!(ok, "{}'s voice note never reached {}", a.name, b.name);
    step!(
        json,
        "{} → {}: a voice note, shown as 0:03 (downloaded by itself: it is small)",
        a.name,
        b.name
    );
    Ok(())
}

/// The first node posts a Moment; its friend likes and comments; a
/// stranger on the same network sees nothing.
async fn moments(a: &DemoNode, b: &DemoNode, c: &DemoNode, json: bool) -> anyhow::Result<()> {
    let text = "First Moment: sunrise over the harbour 🌅";
    let post = PostBody {
        text: Some(text.into()),
        to: Some("all".into()),
        ..PostBody::default()
    };
    let posted: Created = a.client.post("/v1/moments/post", &post).await?;
    let id = posted.id;
    let find = |feed: Vec<FeedEntry>| feed.into_iter().find(|p| p.id == id);
    let ok = wait_for_item(&b.client, "/v1/moments/feed", |p: &FeedEntry| p.id == id).await;
    ensure!(ok, "{}'s Moment never reached {}", a.name, b.name);
    step!(
        json,
        "{} posts a Moment for friends; {} sees \"{text}\" (encrypted to friends, signed)",
        a.name,
        b.name
    );
    let like = ActionBody {
        post: id.clone(),
        text: None,
        reply_to: None,
    };
    let _: Created = b.client.post("/v1/moments/like", &like).await?;
    let comment = "Gorgeous! Where is this?";
    let remark = ActionBody {
        post: id.clone(),
        text: Some(comment.into()),
        reply_to: None,
    };
    let _: Created = b.client.post("/v1/moments/comment", &remark).await?;
    let ok = wait_until(Duration::from_secs(30), || async {
        find(get_list(&a.client, "/v1/moments/feed").await)
            .is_some_and(|p| !p.likes.is_empty() && p.comments.iter().any(|x| x.text == comment))
    })
    .await;
    ensure!(ok, "{}'s like and comment never reached {}", b.name, a.name);
    step!(
        json,
        "{} likes it and comments \"{comment}\"; {} sees both",
        b.name,
        a.name
    );
    // The request itself must succeed: an error is a failed step, not an
    // empty feed.
    let stranger_feed: Vec<FeedEntry> = c.client.get("/v1/moments/feed").await?;
    if !stranger_feed.is_empty() {
        bail!("{}, not a friend, can see Moments", c.name);
    }
    step!(json, "{} (not a friend) sees no Moments at all", c.name);
    Ok(())
}

async fn wait_for_listening(client: &Client) -> anyhow::Result<StatusView> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s: StatusView = client.get("/v1/status").await?;
        if !s.listen_addrs.is_empty() {
            return Ok(s);
        }
        if Instant::now() >= deadline {
            bail!("node did not start listening within 10 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
