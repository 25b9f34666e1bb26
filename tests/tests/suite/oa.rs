//! Official accounts across real `weft` processes: broadcast to 20
//! followers, quotas, verification badges, auto-replies, backfill after
//! being offline, unfollow.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use weft_tests::{file_containing, wait_for, Weft};

use crate::BIN;
use weft_tests::s;
const T: Duration = Duration::from_secs(30);

async fn feed(w: &Weft, h: &Path, all: bool) -> Vec<Value> {
    let mut args = vec!["oa", "feed", "--home", s(h)];
    if all {
        args.push("--all");
    }
    w.json(&args).await.as_array().cloned().unwrap_or_default()
}

async fn own_subscribers(w: &Weft, owner: &Path, oa: &str) -> u64 {
    let list = w.json(&["oa", "list", "--home", s(owner)]).await;
    list.as_array()
        .and_then(|l| l.iter().find(|a| a["account_id"] == oa))
        .and_then(|a| a["subscribers"].as_u64())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_reaches_20_followers_and_no_one_else() {
    let w = Weft::new(BIN);
    let mut names = vec!["Owner".to_string(), "Relay".to_string()];
    names.extend((1..=20).map(|i| format!("Fan{i}")));
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (mut procs, homes) = w.network(&refs).await;
    let (owner, relay, fans) = (&homes[0], &homes[1], &homes[2..]);

    let created = w
        .json(&[
            "oa",
            "create",
            "--home",
            s(owner),
            "--kind",
            "subscription",
            "Weft Daily",
        ])
        .await;
    let oa = created["account_id"].as_str().unwrap().to_string();
    for f in fans {
        w.json(&["oa", "follow", "--home", s(f), &oa]).await;
    }
    // Wait until the owner's node knows all 20 followers' subscriptions.
    assert!(
        wait_for(T, || async { own_subscribers(&w, owner, &oa).await >= 20 }).await,
        "followers never reached the owner's mesh ({} of 20)",
        own_subscribers(&w, owner, &oa).await
    );
    let p = w
        .json(&[
            "oa",
            "publish",
            "--home",
            s(owner),
            &oa,
            "Morning edition\nAll the news 📰",
        ])
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    for (i, f) in fans.iter().enumerate() {
        let got = wait_for(T, || async {
            feed(&w, f, false)
                .await
                .iter()
                .any(|x| x["id"] == id.as_str())
        })
        .await;
        assert!(got, "follower {} never got the broadcast", i + 1);
    }
    let post = feed(&w, &fans[0], false).await[0].clone();
    assert_eq!(post["title"], "Morning edition");
    assert_eq!(post["account_id"], oa.as_str());
    // A node that follows nothing shows nothing, and keeps nothing: its
    // feed only lists followed accounts, so look in its store (broadcasts
    // are plaintext there; stopped, so sled has written everything).
    assert!(feed(&w, relay, true).await.is_empty());
    let relay_proc = &mut procs[2];
    assert_eq!(relay_proc.home, *relay);
    relay_proc.signal("TERM").await;
    assert!(relay_proc.wait_exit(Duration::from_secs(5)).await.is_some());
    if let Some(f) = file_containing(&relay.join("store"), b"All the news") {
        panic!("a non-follower stored the broadcast: {}", f.display());
    }
    // (The scan would see it: a follower's store holds the same bytes.)
    let fan_proc = &mut procs[3];
    fan_proc.signal("TERM").await;
    assert!(fan_proc.wait_exit(Duration::from_secs(5)).await.is_some());
    assert!(file_containing(&fans[0].join("store"), b"All the news").is_some());

    // The subscription account's second push of the (UTC) day is refused.
    let out = w
        .run(&["oa", "publish", "--home", s(owner), &oa, "again"])
        .await;
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("1 per day (UTC)"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_account_verification_autoreply_backfill_and_unfollow() {
    let w = Weft::new(BIN);
    let (x, owner, verifier, fan1, fan2) = (
        w.home("boot"),
        w.home("owner"),
        w.home("verifier"),
        w.home("fan1"),
        w.home("fan2"),
    );
    for (h, n) in [
        (&x, "Boot"),
        (&owner, "Bank"),
        (&verifier, "Weft Verify"),
        (&fan1, "Fan1"),
        (&fan2, "Fan2"),
    ] {
        w.init(h, n).await;
    }
    let _nx = w.up(&x, &[]).await;
    let boot = w.dial_addr(&x).await;
    let _no = w.up(&owner, &["--bootstrap", &boot]).await;
    let _nv = w.up(&verifier, &["--bootstrap", &boot]).await;
    let v_id = w.account(&verifier).await;
    // Fan1 trusts the verifier (node config); Fan2 trusts nobody.
    std::fs::write(
        fan1.join("weft.toml"),
        format!("trust_roots = [\"{v_id}\"]\n"),
    )
    .unwrap();
    let mut n1 = w.up(&fan1, &["--bootstrap", &boot]).await;
    let mut n2 = w.up(&fan2, &["--bootstrap", &boot]).await;

    let oa = w.oa_create(&owner, "service", "Weft Bank").await;
    let cert = w.json(&["oa", "verify", "--home", s(&verifier), &oa]).await["certificate"]
        .as_str()
        .unwrap()
        .to_string();
    w.json(&["oa", "certify", "--home", s(&owner), &oa, &cert])
        .await;
    // A certificate for another account is refused.
    let other = w.oa_create(&owner, "service", "Other").await;
    let out = w
        .run(&["oa", "certify", "--home", s(&owner), &other, &cert])
        .await;
    assert!(!out.status.success());

    w.json(&[
        "oa",
        "autoreply",
        "--home",
        s(&owner),
        &oa,
        "balance",
        "Check your balance in the app.",
    ])
    .await;
    w.json(&[
        "oa",
        "menu",
        "--home",
        s(&owner),
        &oa,
        "Balance",
        "Cards",
        "Help",
    ])
    .await;
    for f in [&fan1, &fan2] {
        w.json(&["oa", "follow", "--home", s(f), &oa]).await;
    }
    assert!(wait_for(T, || async { own_subscribers(&w, &owner, &oa).await >= 2 }).await);
    // A 1 MB image (4 chunks) travels as a blob.
    let image = w.home("card.png");
    let pixels: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&image, &pixels).unwrap();
    let p1 = w
        .json(&[
            "oa",
            "publish",
            "--home",
            s(&owner),
            &oa,
            "New card designs",
            "--part",
            "zh:新卡面:快来看",
            "--image",
            s(&image),
        ])
        .await;
    let p1 = p1["id"].as_str().unwrap().to_string();
    for f in [&fan1, &fan2] {
        assert!(
            wait_for(T, || async {
                feed(&w, f, true)
                    .await
                    .iter()
                    .any(|x| x["id"] == p1.as_str())
            })
            .await
        );
    }
    // Followers fetch the image chunk by chunk and hold an identical copy.
    let img_local = wait_for(T, || async {
        feed(&w, &fan1, true)
            .await
            .iter()
            .any(|x| x["id"] == p1.as_str() && x["images"][0]["local"] == true)
    })
    .await;
    assert!(img_local, "the image never arrived");
    let img_id = feed(&w, &fan1, true).await[0]["images"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = w.home("fetched.png");
    w.json(&["blob", "get", "--home", s(&fan1), &img_id, "--out", s(&out)])
        .await;
    assert_eq!(std::fs::read(&out).unwrap(), pixels);
    // Service posts are not in the Subscriptions feed, but show as a conversation.
    assert!(feed(&w, &fan1, false).await.is_empty());
    let convs = w.json(&["chat", "list", "--home", s(&fan1)]).await;
    assert!(convs
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["account_id"] == oa.as_str() && c["name"] == "Weft Bank"));

    // Verified only where the verifier is trusted.
    let badge = |list: Value| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|a| a["account_id"] == oa.as_str())
            .cloned()
            .unwrap()
    };
    let b1 = badge(w.json(&["oa", "list", "--home", s(&fan1)]).await);
    assert_eq!(b1["verified"], true);
    assert_eq!(b1["verified_by"], "Weft Verify");
    assert_eq!(
        badge(w.json(&["oa", "list", "--home", s(&fan2)]).await)["verified"],
        false
    );

    // The node answers with nobody at the keyboard.
    let r = w
        .json(&[
            "oa",
            "message",
            "--home",
            s(&fan1),
            &oa,
            "What is my BALANCE?",
        ])
        .await;
    assert_eq!(r["reply"], "Check your balance in the app.");
    let r = w
        .json(&["oa", "message", "--home", s(&fan1), &oa, "menu"])
        .await;
    assert_eq!(r["reply"], "1. Balance\n2. Cards\n3. Help");
    let inbox = w.json(&["oa", "log", "--home", s(&owner), &oa]).await;
    assert!(inbox
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["text"] == "What is my BALANCE?"));

    // Fan2 is offline while the account publishes twice; it catches up on return.
    n2.signal("TERM").await;
    assert!(n2.wait_exit(Duration::from_secs(5)).await.is_some());
    let mut missed = Vec::new();
    for text in ["Maintenance tonight", "Maintenance done"] {
        let p = w
            .json(&["oa", "publish", "--home", s(&owner), &oa, text])
            .await;
        missed.push(p["id"].as_str().unwrap().to_string());
    }
    let mut n2 = w.up(&fan2, &["--bootstrap", &boot]).await;
    let caught_up = wait_for(T, || async {
        let f = feed(&w, &fan2, true).await;
        missed
            .iter()
            .all(|id| f.iter().any(|x| x["id"] == id.as_str()))
    })
    .await;
    assert!(
        caught_up,
        "fan2 did not get the posts it missed; its log:\n{}",
        n2.log()
    );

    // Unfollowed: the account's posts are gone and stay gone.
    w.json(&["oa", "unfollow", "--home", s(&fan1), &oa]).await;
    assert!(feed(&w, &fan1, true).await.is_empty());
    w.json(&["oa", "publish", "--home", s(&owner), &oa, "After unfollow"])
        .await;
    let f2_has_it = wait_for(T, || async {
        feed(&w, &fan2, true)
            .await
            .iter()
            .any(|x| x["title"] == "After unfollow")
    })
    .await;
    assert!(f2_has_it);
    assert!(feed(&w, &fan1, true).await.is_empty());
    // The feed only lists followed accounts; the store shows Fan1 left the
    // topic too: the post published after the unfollow never reached it.
    // (Posts deleted at unfollow may linger in sled's log until it is
    // compacted, so only the later post is looked for in the bytes.)
    n1.signal("TERM").await;
    assert!(n1.wait_exit(Duration::from_secs(5)).await.is_some());
    if let Some(f) = file_containing(&fan1.join("store"), b"After unfollow") {
        panic!(
            "the unfollowed account's new post reached Fan1's store: {}",
            f.display()
        );
    }
    n2.signal("TERM").await;
    assert!(n2.wait_exit(Duration::from_secs(5)).await.is_some());
    assert!(
        file_containing(&fan2.join("store"), b"After unfollow").is_some(),
        "the store scan cannot see a stored post"
    );
}

/// Two posts published at the same moment take two slots (the second is
/// not refused by followers as a reused slot): both arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_published_at_once_both_arrive() {
    let w = Weft::new(BIN);
    let (owner, _no) = w.started("owner", "Shop", &[]).await;
    let boot = w.dial_addr(&owner).await;
    let (fan, _nf) = w.started("fan", "Fan", &["--bootstrap", &boot]).await;
    let created = w
        .json(&[
            "oa",
            "create",
            "--home",
            s(&owner),
            "--kind",
            "service",
            "Shop",
        ])
        .await;
    let oa = created["account_id"].as_str().unwrap().to_string();
    w.json(&["oa", "follow", "--home", s(&fan), &oa]).await;
    assert!(wait_for(T, || async { own_subscribers(&w, &owner, &oa).await >= 1 }).await);
    let (w_ref, owner, oa) = (&w, s(&owner), oa.as_str());
    let runs = ["Open late today", "New stock in", "Sale ends Friday"].map(|t| async move {
        let post = w_ref.json(&["oa", "publish", "--home", owner, oa, t]).await;
        post["id"].as_str().unwrap().to_string()
    });
    let ids = futures::future::join_all(runs).await;
    let distinct: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), 3);
    assert!(
        wait_for(T, || async {
            let f = feed(&w, &fan, true).await;
            ids.iter()
                .all(|id| f.iter().any(|x| x["id"] == id.as_str()))
        })
        .await,
        "a post published alongside others was lost: {:?}",
        feed(&w, &fan, true).await
    );
}

/// A post that reaches a follower late (here: published before it
/// followed, brought by the follow's catch-up rather than by gossip) shows
/// in its event stream like any other: a screen that updates on
/// `oa_post` must not miss it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_brought_by_catch_up_is_an_event() {
    let w = Weft::new(BIN);
    let (_procs, homes) = w.network(&["Owner", "Fan"]).await;
    let (owner, fan) = (&homes[0], &homes[1]);
    let oa = w.oa_create(owner, "service", "Late News").await;
    w.json(&[
        "oa",
        "publish",
        "--home",
        s(owner),
        &oa,
        "Before you followed",
    ])
    .await;
    let mut events = w.events(fan);
    assert!(events.open(T).await, "the event stream never opened");
    w.json(&["oa", "follow", "--home", s(fan), &oa]).await;
    let shown = events
        .until(T, |seen| {
            seen.iter()
                .any(|e| e["type"] == "oa_post" && e["title"] == "Before you followed")
        })
        .await;
    assert!(shown, "no oa_post event; events: {:?}", events.seen);
    let f = feed(&w, fan, true).await;
    assert!(f.iter().any(|x| x["title"] == "Before you followed"));
}
