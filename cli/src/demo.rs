//! `weft demo`: starts several nodes in this process on 127.0.0.1 (mDNS off:
//! the first node is everyone's bootstrap and the DHT does the rest), walks
//! through what Weft can do, and exits non-zero if any step fails.

use std::collections::HashSet;
use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use weft_node::{api::StatusView, NodeConfig, RunningNode};

use crate::client::Client;

const NAMES: [&str; 20] = [
    "Ada", "Bao", "Chen", "Dara", "Emeka", "Farah", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lena",
    "Mei", "Nils", "Oona", "Pia", "Quan", "Rui", "Sol", "Tao",
];

struct DemoNode {
    name: &'static str,
    node: RunningNode,
    client: Client,
    peer_id: String,
}

/// Polls `check` until it returns true or `timeout` passes.
pub async fn wait_until<F, Fut>(timeout: Duration, mut check: F) -> bool
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
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn step(json: bool, msg: &str) {
    if !json {
        println!("✓ {msg}");
    }
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
        println!(
            "{}",
            serde_json::json!({"ok": true, "nodes": n, "seconds": started.elapsed().as_secs_f64()})
        );
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
    let mut bootstrap = Vec::new();
    for (i, name) in NAMES.iter().take(n).enumerate() {
        let home = tmp.join(name.to_lowercase());
        let mut cfg = NodeConfig::load(home.clone())?;
        cfg.name = Some(name.to_string());
        cfg.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
        cfg.mdns = false;
        cfg.bootstrap = bootstrap.clone();
        let node = RunningNode::start(cfg).await?;
        let client = Client::new(
            &node.api_addr().to_string(),
            node.token(),
            &home.display().to_string(),
        )?;
        let status = wait_for_listening(&client).await?;
        if i == 0 {
            let addr = format!("{}/p2p/{}", status.listen_addrs[0], status.peer_id);
            bootstrap.push(addr.parse()?);
            step(json, &format!("{name} is up: {addr}"));
        } else {
            step(
                json,
                &format!("{name} is up and joins through {}", NAMES[0]),
            );
        }
        nodes.push(DemoNode {
            name,
            node,
            client,
            peer_id: status.peer_id,
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
                let peers: Vec<serde_json::Value> =
                    client.get("/v1/peers").await.unwrap_or_default();
                let names: HashSet<String> = peers
                    .iter()
                    .filter(|p| p.get("name").and_then(|n| n.as_str()).is_some())
                    .filter_map(|p| {
                        p.get("peer_id")
                            .and_then(|x| x.as_str())
                            .map(str::to_string)
                    })
                    .collect();
                want.is_subset(&names)
            }
        })
        .await;
        if !ok {
            bail!("{} did not find all other nodes within 30 s", d.name);
        }
        let peers: Vec<serde_json::Value> = d.client.get("/v1/peers").await?;
        let names: Vec<&str> = peers
            .iter()
            .filter_map(|p| p.get("name").and_then(|n| n.as_str()))
            .collect();
        step(
            json,
            &format!(
                "{} is connected to {} (cards verified)",
                d.name,
                names.join(", ")
            ),
        );
    }
    friends_and_chat(&nodes[0], &nodes[1], json).await?;
    moments(&nodes[0], &nodes[1], &nodes[2], json).await?;
    radar_and_handles(&nodes[0], &nodes[2], json).await?;
    official_account(&nodes[1], &[&nodes[0], &nodes[2]], json).await
}

/// One node runs a subscription account; the others follow it and get its post.
async fn official_account(owner: &DemoNode, fans: &[&DemoNode], json: bool) -> anyhow::Result<()> {
    use serde_json::json;
    let created: serde_json::Value = owner
        .client
        .post("/v1/oa/create", &json!({"kind": "subscription", "name": "Bao's Daily", "description": "one story a day"}))
        .await?;
    let oa = created["account_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    step(
        json,
        &format!(
            "{} creates the subscription account \"Bao's Daily\" (its own key)",
            owner.name
        ),
    );
    for f in fans {
        let _: serde_json::Value = f.client.post("/v1/oa/follow", &json!({ "oa": oa })).await?;
    }
    let names: Vec<&str> = fans.iter().map(|f| f.name).collect();
    let want = fans.len() as u64;
    let ok = wait_until(Duration::from_secs(30), || async {
        get_json(&owner.client, "/v1/oa").await.iter().any(|a| {
            a["account_id"] == oa.as_str() && a["subscribers"].as_u64().unwrap_or(0) >= want
        })
    })
    .await;
    if !ok {
        bail!("the followers never joined the account's topic");
    }
    step(
        json,
        &format!(
            "{} follow it (gossipsub topic weft/oa/<id>)",
            names.join(" and ")
        ),
    );
    let _: serde_json::Value = owner
        .client
        .post(
            "/v1/oa/publish",
            &json!({"oa": oa, "text": "Weft launches 🚀\nNo servers were harmed."}),
        )
        .await?;
    for f in fans {
        let ok = wait_until(Duration::from_secs(30), || async {
            get_json(&f.client, "/v1/oa/feed")
                .await
                .iter()
                .any(|p| p["title"] == "Weft launches 🚀")
        })
        .await;
        if !ok {
            bail!("{} never got the broadcast", f.name);
        }
    }
    step(
        json,
        &format!(
            "{} publishes; {} both see it in Subscriptions",
            owner.name,
            names.join(" and ")
        ),
    );
    let again: anyhow::Result<serde_json::Value> = owner
        .client
        .post("/v1/oa/publish", &json!({"oa": oa, "text": "one more"}))
        .await;
    match again {
        Err(e) if e.to_string().contains("per day") => step(
            json,
            "a second push the same day is refused: 1 per day (UTC) for subscription accounts",
        ),
        _ => bail!("the quota did not hold"),
    }
    Ok(())
}

/// People Nearby through the DHT (the LAN radar needs mDNS, which the demo
/// keeps off on this machine's network), then a handle looked up by another node.
async fn radar_and_handles(a: &DemoNode, c: &DemoNode, json: bool) -> anyhow::Result<()> {
    use serde_json::json;
    let _: serde_json::Value = a
        .client
        .post(
            "/v1/nearby",
            &json!({"on": true, "lat": 31.2304, "lon": 121.4737, "whats_up": "new in town 🌆"}),
        )
        .await?;
    let _: serde_json::Value = c
        .client
        .post("/v1/nearby", &json!({"on": true, "lat": 31.2394, "lon": 121.4737, "whats_up": "dumplings anyone? 🥟"}))
        .await?;
    step(
        json,
        &format!(
            "{} and {} turn their radar on, about 1 km apart (only ~5 km cells leave their nodes)",
            a.name, c.name
        ),
    );
    let c_card: weft_node::api::IdView = c.client.get("/v1/id").await?;
    let c_id = c_card.account_id.clone();
    let ok = wait_until(Duration::from_secs(30), || async {
        get_json(&a.client, "/v1/nearby")
            .await
            .iter()
            .any(|p| p["account_id"] == c_id.as_str())
    })
    .await;
    if !ok {
        bail!("{}'s radar never showed {}", a.name, c.name);
    }
    let list = get_json(&a.client, "/v1/nearby").await;
    let whats_up = list
        .iter()
        .find(|p| p["account_id"] == c_id.as_str())
        .and_then(|p| p["whats_up"].as_str())
        .unwrap_or_default()
        .to_string();
    step(
        json,
        &format!(
            "{}'s People Nearby shows {} (\"{whats_up}\"), found through the DHT",
            a.name, c.name
        ),
    );
    let _: serde_json::Value = c
        .client
        .post("/v1/handle", &json!({"handle": "chen_dumplings"}))
        .await?;
    let found: serde_json::Value = a.client.get("/v1/find?handle=chen_dumplings").await?;
    if found["account_id"] != c_id.as_str() {
        bail!("handle lookup returned the wrong account: {found}");
    }
    step(
        json,
        &format!(
            "{} claims the handle chen_dumplings; {} finds it (fingerprint {})",
            c.name,
            a.name,
            found["fingerprint"].as_str().unwrap_or_default()
        ),
    );
    Ok(())
}

async fn get_json(c: &Client, path: &str) -> Vec<serde_json::Value> {
    c.get(path).await.unwrap_or_default()
}

/// The first two nodes become friends and talk.
async fn friends_and_chat(a: &DemoNode, b: &DemoNode, json: bool) -> anyhow::Result<()> {
    use serde_json::json;
    let a_card: weft_node::api::IdView = a.client.get("/v1/id").await?;
    let b_card: weft_node::api::IdView = b.client.get("/v1/id").await?;
    let _: serde_json::Value = a
        .client
        .post(
            "/v1/contacts/add",
            &json!({"target": b_card.link, "greeting": "Hi, it's Ada!"}),
        )
        .await?;
    step(
        json,
        &format!(
            "{} sends {} a friend request from their weft:// link",
            a.name, b.name
        ),
    );
    let a_id = a_card.account_id.clone();
    let ok = wait_until(Duration::from_secs(30), || async {
        get_json(&b.client, "/v1/contacts/requests")
            .await
            .iter()
            .any(|r| r["account_id"] == a_id.as_str())
    })
    .await;
    if !ok {
        bail!("{} never received the friend request", b.name);
    }
    step(
        json,
        &format!(
            "{} sees the request with its greeting \"Hi, it's Ada!\"",
            b.name
        ),
    );
    let _: serde_json::Value = b
        .client
        .post(
            "/v1/contacts/accept",
            &json!({"contact": a_card.account_id}),
        )
        .await?;
    let b_id = b_card.account_id.clone();
    let ok = wait_until(Duration::from_secs(30), || async {
        get_json(&a.client, "/v1/contacts")
            .await
            .iter()
            .any(|c| c["account_id"] == b_id.as_str() && c["state"] == "friend")
    })
    .await;
    if !ok {
        bail!("{} never learned that {} accepted", a.name, b.name);
    }
    step(
        json,
        &format!("{} accepts; they are friends on both sides", b.name),
    );

    let text = "Hi Bao 👋 coffee later?";
    let sent: serde_json::Value = a
        .client
        .post(
            "/v1/chat/send",
            &json!({"to": b_card.account_id, "text": text}),
        )
        .await?;
    let msg_id = sent["id"].as_str().unwrap_or_default().to_string();
    let log_path = format!("/v1/chat/log?with={}", a_card.account_id);
    let ok = wait_until(Duration::from_secs(30), || async {
        get_json(&b.client, &log_path)
            .await
            .iter()
            .any(|m| m["id"] == msg_id.as_str())
    })
    .await;
    if !ok {
        bail!("{}'s message never reached {}", a.name, b.name);
    }
    step(
        json,
        &format!("{} → {}: \"{text}\" (end-to-end encrypted)", a.name, b.name),
    );
    let reply = "Sure! ☕ 3pm?";
    let _: serde_json::Value = b
        .client
        .post(
            "/v1/chat/send",
            &json!({"to": a_card.account_id, "text": reply, "reply_to": msg_id}),
        )
        .await?;
    let a_log = format!("/v1/chat/log?with={}", b_card.account_id);
    let ok = wait_until(Duration::from_secs(30), || async {
        let log = get_json(&a.client, &a_log).await;
        let replied = log.iter().any(|m| m["reply_to"] == msg_id.as_str());
        let read = log
            .iter()
            .any(|m| m["id"] == msg_id.as_str() && m["status"] == "read");
        replied && read
    })
    .await;
    if !ok {
        bail!(
            "{}'s reply or read receipt never reached {}",
            b.name,
            a.name
        );
    }
    step(
        json,
        &format!(
            "{} → {}: \"{reply}\" (quoting it); {} sees its message as read",
            b.name, a.name, a.name
        ),
    );
    Ok(())
}

/// The first node posts a Moment; its friend likes and comments; a
/// stranger on the same network sees nothing.
async fn moments(a: &DemoNode, b: &DemoNode, c: &DemoNode, json: bool) -> anyhow::Result<()> {
    use serde_json::json;
    let text = "First Moment: sunrise over the harbour 🌅";
    let posted: serde_json::Value = a
        .client
        .post("/v1/moments/post", &json!({"text": text, "to": "all"}))
        .await?;
    let id = posted["id"].as_str().unwrap_or_default().to_string();
    let find = |feed: Vec<serde_json::Value>| feed.into_iter().find(|p| p["id"] == id.as_str());
    let ok = wait_until(Duration::from_secs(30), || async {
        find(get_json(&b.client, "/v1/moments/feed").await).is_some()
    })
    .await;
    if !ok {
        bail!("{}'s Moment never reached {}", a.name, b.name);
    }
    step(
        json,
        &format!(
            "{} posts a Moment for friends; {} sees \"{text}\" (encrypted to friends, signed)",
            a.name, b.name
        ),
    );
    let _: serde_json::Value = b
        .client
        .post("/v1/moments/like", &json!({ "post": id }))
        .await?;
    let comment = "Gorgeous! Where is this?";
    let _: serde_json::Value = b
        .client
        .post(
            "/v1/moments/comment",
            &json!({ "post": id, "text": comment }),
        )
        .await?;
    let ok = wait_until(Duration::from_secs(30), || async {
        find(get_json(&a.client, "/v1/moments/feed").await).is_some_and(|p| {
            p["likes"].as_array().is_some_and(|l| !l.is_empty())
                && p["comments"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|x| x["text"] == comment))
        })
    })
    .await;
    if !ok {
        bail!("{}'s like and comment never reached {}", b.name, a.name);
    }
    step(
        json,
        &format!(
            "{} likes it and comments \"{comment}\"; {} sees both",
            b.name, a.name
        ),
    );
    if !get_json(&c.client, "/v1/moments/feed").await.is_empty() {
        bail!("{}, not a friend, can see Moments", c.name);
    }
    step(
        json,
        &format!("{} (not a friend) sees no Moments at all", c.name),
    );
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
