//! Moments benchmark: how long a post takes to reach 100 friends.
//!
//! 101 real nodes (the `weft-node` code, each with its own store and control
//! API) run in this process on 127.0.0.1 TCP. The author befriends the
//! other 100 (friend requests over the chat layer), every friend joins the
//! author's topic, then the author posts to all friends several times; each
//! post's latency per friend is measured from just before the post call to
//! the friend's node emitting `moment_post` for it (decrypted and stored).
//! Run with `cargo bench -p weft-tests --bench moments`; prints JSON.
//!
//! Run by the test runner (`cargo test --all-targets`, which does not pass
//! `--bench`), it takes a quick mode: 5 friends, 2 posts, and every post
//! must reach every friend, so a bench that stopped working fails CI.

use std::time::{Duration, Instant};

use weft_node::moments::{Audience, MomentsEvent};
use weft_node::{NodeConfig, RunningNode};
use weft_protocol::WeftLink;

/// Friends of the author and posts measured: (100, 10) under `cargo
/// bench` (which passes `--bench`), (5, 2) in the test runner's quick mode.
fn sizes() -> (usize, usize, bool) {
    if std::env::args().any(|a| a == "--bench") {
        (100, 10, false)
    } else {
        (5, 2, true)
    }
}
/// Deadline for any wait.
const DEADLINE: Duration = Duration::from_secs(120);

fn pct(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map(|k| k / 1024.0)
        .unwrap_or(f64::NAN)
}

async fn wait<F: FnMut() -> bool>(what: &str, mut f: F) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let (friends, posts, quick) = sizes();
    let dir = tempfile::tempdir().expect("temp dir");
    let setup = Instant::now();
    let mut nodes: Vec<RunningNode> = Vec::with_capacity(friends + 1);
    let mut boot = Vec::new();
    for i in 0..=friends {
        let mut cfg = NodeConfig::load(dir.path().join(format!("n{i}"))).expect("config");
        cfg.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")];
        cfg.mdns = false;
        cfg.bootstrap = boot.clone();
        cfg.name = Some(format!("friend{i}"));
        let node = RunningNode::start(cfg).await.expect("node starts");
        if i == 0 {
            let net = &node.handle().net;
            let mut addrs = Vec::new();
            let start = Instant::now();
            while addrs.is_empty() && start.elapsed() < DEADLINE {
                addrs = net.listen_addrs().await.unwrap_or_default();
                if addrs.is_empty() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            boot.push(
                addrs[0]
                    .clone()
                    .with(libp2p::multiaddr::Protocol::P2p(net.peer_id())),
            );
        }
        nodes.push(node);
    }
    let author = nodes[0].handle().clone();
    let author_id = author.identity.account_id;
    let link = WeftLink {
        account: author_id,
        peer: Some(author.net.peer_id().to_string()),
        addrs: vec![boot[0].to_string()],
        name: Some("author".into()),
    }
    .to_string();
    for n in &nodes[1..] {
        n.handle()
            .chat
            .add_contact(&link, "hi", None)
            .await
            .expect("friend request");
    }
    eprintln!(
        "{:.1}s: {} nodes up, requests sent",
        setup.elapsed().as_secs_f64(),
        friends + 1
    );
    let start = Instant::now();
    loop {
        let reqs = author.chat.requests().expect("requests");
        if reqs.len() >= friends {
            for r in reqs {
                author.chat.accept(&r.account_id).await.expect("accept");
            }
            break;
        }
        assert!(start.elapsed() < DEADLINE, "requests did not all arrive");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let friends_of = |n: &RunningNode| {
        n.handle()
            .chat
            .contacts()
            .map(|c| {
                c.iter()
                    .any(|c| c.state == weft_node::store::chat::ContactState::Friend)
            })
            .unwrap_or(false)
    };
    eprintln!("{:.1}s: requests accepted", setup.elapsed().as_secs_f64());
    wait("acceptances", || nodes[1..].iter().all(friends_of)).await;
    eprintln!("{:.1}s: acceptances arrived", setup.elapsed().as_secs_f64());
    // Every friend subscribed to the author's topic (as the author sees it).
    let start = Instant::now();
    loop {
        let n = match author.moments.own_topic() {
            Some(topic) => author.net.topic_peers(topic).await.unwrap_or(0),
            None => 0,
        };
        if n >= friends {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "only {n} friends joined the topic"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let setup_s = setup.elapsed().as_secs_f64();

    let mut lat = Vec::new();
    let mut delivered = 0usize;
    for k in 0..posts {
        let receivers: Vec<_> = nodes[1..]
            .iter()
            .map(|n| n.handle().moments.subscribe())
            .collect();
        let t0 = Instant::now();
        let id = author
            .moments
            .post(
                &format!("post {k} for {friends} friends"),
                &[],
                None,
                &Audience::All,
            )
            .await
            .expect("post");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let waits: Vec<_> = receivers
            .into_iter()
            .map(|mut rx| {
                let id = id.clone();
                tokio::spawn(async move {
                    loop {
                        match tokio::time::timeout_at(deadline, rx.recv()).await {
                            Ok(Ok(MomentsEvent::MomentPost { id: got, .. }))
                                if weft_protocol::hex::encode(&got) == id =>
                            {
                                return Some(t0.elapsed().as_secs_f64() * 1000.0)
                            }
                            Ok(Ok(_))
                            | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                            _ => return None,
                        }
                    }
                })
            })
            .collect();
        for w in waits {
            if let Ok(Some(ms)) = w.await {
                lat.push(ms);
                delivered += 1;
            }
        }
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    let report = serde_json::json!({
        "friends": friends,
        "posts": posts,
        "delivery_ratio": delivered as f64 / (friends * posts) as f64,
        "latency_ms_p50": pct(&lat, 0.5),
        "latency_ms_p90": pct(&lat, 0.9),
        "latency_ms_p99": pct(&lat, 0.99),
        "latency_ms_max": lat.last().copied().unwrap_or(f64::NAN),
        "setup_s": setup_s,
        "rss_mib_per_node": rss_mib() / (friends + 1) as f64,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&report).unwrap_or_default()
    );
    for n in nodes {
        let _ = n.shutdown().await;
    }
    // A small run on an idle network has no excuse to lose a post.
    if quick {
        assert_eq!(delivered, friends * posts, "posts lost: {report}");
    }
    assert!(delivered > 0, "no post reached any friend: {report}");
}
