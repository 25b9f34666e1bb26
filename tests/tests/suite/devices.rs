//! Linked devices (issue 20): a second device joins an account with a
//! one-use code from the first, both keep the account's signed device list,
//! and the list follows a rename and a revocation. Codes that are reused,
//! guessed or expired are refused.

use std::time::Duration;

use serde_json::Value;
use weft_protocol::device::LinkCode;
use weft_tests::{chat_send, moments_post, s, wait_for, Weft};

use crate::BIN;

const WAIT: Duration = Duration::from_secs(30);

async fn devices(w: &Weft, home: &std::path::Path) -> Vec<Value> {
    w.json(&["device", "list", "--home", s(home)])
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn names(list: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = list
        .iter()
        .map(|d| d["name"].as_str().unwrap_or_default().to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_links_a_device_once_and_the_list_follows_rename_and_revoke() {
    let w = Weft::new(BIN);
    let (a, _na) = w.started("a", "Ada", &[]).await;
    let account = w.account(&a).await;
    let a_peer = w.status(&a).await["peer_id"].as_str().unwrap().to_string();

    let offer = w.json(&["device", "link", "--home", s(&a)]).await;
    let code = offer["code"].as_str().unwrap().to_string();
    assert!(offer["link"]
        .as_str()
        .unwrap()
        .starts_with("weft://device/"));
    assert!(offer["expires_at"].as_u64().unwrap() > 0);

    // The second device joins with the link form of the code.
    let a2 = w.home("a2");
    let joined = w
        .json(&[
            "device",
            "join",
            offer["link"].as_str().unwrap(),
            "--name",
            "Laptop",
            "--home",
            s(&a2),
        ])
        .await;
    assert_eq!(joined["account_id"], account.as_str());
    assert!(
        !a2.join("account.key").exists(),
        "a linked device never holds the account key"
    );

    // The same code a second time: refused, and the home is left empty.
    let a3 = w.home("a3");
    let e = w
        .refused(&["device", "join", &code, "--home", s(&a3)])
        .await;
    assert_eq!(e["kind"], "forbidden", "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("already used"),
        "{e}"
    );
    assert!(!weft_node::Home::new(&a3).has_identity());
    assert!(
        !a3.join("device.key").exists(),
        "a failed join leaves no key"
    );

    // A guessed code (right device, made-up secret) is refused.
    let real = LinkCode::parse(&code).unwrap();
    let guess = LinkCode::generate(real.device, real.addrs.clone()).unwrap();
    let e = w
        .refused(&["device", "join", &guess.to_text(), "--home", s(&a3)])
        .await;
    assert!(e["message"].as_str().unwrap().contains("unknown"), "{e}");

    // The new device runs, speaks for the account and reaches the first.
    let _na2 = w.up(&a2, &[]).await;
    let st2 = w.status(&a2).await;
    assert_eq!(st2["account_id"], account.as_str());
    let a2_peer = st2["peer_id"].as_str().unwrap().to_string();
    assert_ne!(a2_peer, a_peer);
    assert!(w.wait_connected(&a2, &a_peer, WAIT).await);

    let list = devices(&w, &a).await;
    assert_eq!(list.len(), 2, "{list:?}");
    let laptop = list
        .iter()
        .find(|d| d["peer_id"] == a2_peer.as_str())
        .unwrap();
    assert_eq!(laptop["name"], "Laptop");
    assert_eq!(laptop["primary"], false);
    assert_eq!(laptop["this"], false);
    let first = list
        .iter()
        .find(|d| d["peer_id"] == a_peer.as_str())
        .unwrap();
    assert_eq!(first["primary"], true);
    assert_eq!(first["this"], true);
    let seen_by_a2 = devices(&w, &a2).await;
    assert_eq!(names(&seen_by_a2), names(&list));

    // Only the first device makes codes; a linked one is told so.
    let e = w.refused(&["device", "link", "--home", s(&a2)]).await;
    assert_eq!(e["kind"], "conflict");

    // A rename on the linked device goes through the first one.
    w.json(&["device", "rename", "Work laptop", "--home", s(&a2)])
        .await;
    let renamed = wait_for(WAIT, || async {
        names(&devices(&w, &a).await).contains(&"Work laptop".to_string())
    })
    .await;
    assert!(renamed, "the first device never saw the rename");

    // The first device cannot be revoked; the laptop can, by a prefix of
    // its peer id, and it learns that it was.
    let e = w
        .refused(&["device", "revoke", &a_peer, "--home", s(&a)])
        .await;
    assert_eq!(e["kind"], "conflict");
    w.json(&["device", "revoke", &a2_peer[..16], "--home", s(&a)])
        .await;
    assert_eq!(devices(&w, &a).await.len(), 1);
    let told = wait_for(WAIT, || async {
        let l = devices(&w, &a2).await;
        !l.is_empty() && !l.iter().any(|d| d["peer_id"] == a2_peer.as_str())
    })
    .await;
    assert!(told, "the revoked device never got the new list");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_code_is_refused() {
    let w = Weft::new(BIN);
    let (a, mut na) = w.started("a", "Ada", &[]).await;
    let offer = w.json(&["device", "link", "--home", s(&a)]).await;
    let code = LinkCode::parse(offer["code"].as_str().unwrap()).unwrap();
    let listen = code.addrs[0].clone();

    // Five minutes pass: the node is stopped and the code's expiry moved
    // into the past in its store, then the node starts on the same address.
    na.signal("TERM").await;
    assert!(na.wait_exit(WAIT).await.is_some());
    {
        let store = weft_node::store::Store::open(&a.join("store")).unwrap();
        let mut state = store.link_code(&code.id()).unwrap().unwrap();
        let now = weft_protocol::unix_now();
        state.expires_at = now - 1;
        store.put_link_code(&code.id(), &state, 0).unwrap();
        store.flush().unwrap();
    }
    let _na = w.up(&a, &["--listen", &listen]).await;
    let a2 = w.home("a2");
    let e = w
        .refused(&["device", "join", &code.to_text(), "--home", s(&a2)])
        .await;
    assert!(e["message"].as_str().unwrap().contains("expired"), "{e}");
    assert!(!weft_node::Home::new(&a2).has_identity());
}

/// Sends `n` texts from `home` to `to` through the API.
async fn send_many(w: &Weft, home: &std::path::Path, to: &str, prefix: &str, n: usize) {
    let client = w.client(home);
    for i in 0..n {
        let body = weft_node::api::chat::SendBody {
            all: false,
            mentions: vec![],
            reply_to: None,
            text: format!("{prefix} {i:03}"),
            to: to.to_string(),
        };
        let _: weft_node::api::Created = client.post("/v1/chat/send", &body).await.expect("send");
    }
}

fn texts(log: &[Value]) -> Vec<String> {
    log.iter()
        .map(|m| m["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Acceptance 1 and 2: a device linked after 500 messages shows them in
/// order; afterwards every message reaches both devices, and what the new
/// device sends reaches the friend from the account and shows as sent on
/// the first device.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_device_gets_the_history_and_every_new_message() {
    let w = Weft::new(BIN);
    let (a, _na, b, _nb) = ada_and_bao(&w).await;
    let a_id = w.account(&a).await;
    let b_id = w.account(&b).await;

    // 500 messages between A1 and B before the second device exists.
    send_many(&w, &a, &b_id, "from ada", 250).await;
    send_many(&w, &b, &a_id, "from bao", 250).await;
    let all_there = wait_for(Duration::from_secs(60), || async {
        w.chat_log(&a, &b_id).await.len() >= 500
    })
    .await;
    assert!(all_there, "A1 does not hold the 500 messages");
    let before = texts(&w.chat_log(&a, &b_id).await);

    let (a2, _na2) = link_second(&w, &a, &b, None).await;
    let synced = wait_for(WAIT, || async {
        texts(&w.chat_log(&a2, &b_id).await) == before
    })
    .await;
    assert!(
        synced,
        "A2 did not show the 500 messages in order: {} of them",
        w.chat_log(&a2, &b_id).await.len()
    );

    // B learns of the new device (A announces its list) and sends 10: both
    // of A's devices show all 10.
    assert!(
        devices_known(&w, &b, &a_id, 2).await,
        "B never learned that A has two devices"
    );
    send_many(&w, &b, &a_id, "new", 10).await;
    for home in [&a, &a2] {
        let got = wait_for(WAIT, || async {
            let t = texts(&w.chat_log(home, &b_id).await);
            (0..10).all(|i| t.contains(&format!("new {i:03}")))
        })
        .await;
        assert!(
            got,
            "{} did not get all 10 new messages; B's log:\n{}\nA2's log:\n{}",
            home.display(),
            _nb.log(),
            _na2.log()
        );
    }

    // A2 writes to B: B sees it from A; A1 shows it as sent by A.
    let sent = w
        .json(&["chat", "send", "--home", s(&a2), "Bao", "from the laptop"])
        .await;
    let id = sent["id"].as_str().unwrap().to_string();
    let at_b = w
        .log_shows(&b, &a_id, WAIT, |m| {
            m["id"] == id.as_str() && m["from"] == a_id.as_str()
        })
        .await;
    assert!(at_b, "B never got the laptop's message from A");
    let at_a1 = w
        .log_shows(&a, &b_id, WAIT, |m| {
            m["id"] == id.as_str() && m["from"] == a_id.as_str()
        })
        .await;
    assert!(at_a1, "A1 does not show the laptop's message as sent");
}

/// Ada and Bao, running and friends.
async fn ada_and_bao(
    w: &Weft,
) -> (
    std::path::PathBuf,
    weft_tests::NodeProc,
    std::path::PathBuf,
    weft_tests::NodeProc,
) {
    let (a, na) = w.started("a", "Ada", &[]).await;
    let (b, nb) = w.started("b", "Bao", &[]).await;
    w.befriend(&a, &b).await;
    (a, na, b, nb)
}

/// Links a second device to `a` (bootstrapping from `via`) and waits until
/// `friend` knows the account has two devices.
async fn link_second(
    w: &Weft,
    a: &std::path::Path,
    via: &std::path::Path,
    friend: Option<&std::path::Path>,
) -> (std::path::PathBuf, weft_tests::NodeProc) {
    let code = w.json(&["device", "link", "--home", s(a)]).await["code"]
        .as_str()
        .unwrap()
        .to_string();
    let a2 = w.home("a2");
    w.json(&[
        "device",
        "join",
        &code,
        "--name",
        "Laptop",
        "--home",
        s(&a2),
    ])
    .await;
    let addr = w.dial_addr(via).await;
    let node = w.up(&a2, &["--bootstrap", &addr]).await;
    if let Some(b) = friend {
        let a_id = w.account(a).await;
        assert!(
            devices_known(w, b, &a_id, 2).await,
            "the friend never learned of the new device"
        );
    }
    (a2, node)
}

/// Whether `home` comes to see `account` with `n` devices.
async fn devices_known(w: &Weft, home: &std::path::Path, account: &str, n: u64) -> bool {
    wait_for(WAIT, || async {
        let list = w.json(&["contacts", "list", "--home", s(home)]).await;
        list.as_array().is_some_and(|l| {
            l.iter()
                .any(|c| c["account_id"] == account && c["devices"] == n)
        })
    })
    .await
}

/// Acceptance 4: after A revokes A2, what B sends reaches A1 only, A2's
/// home holds none of it, and A2 can no longer send for A.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_gets_nothing_new_and_cannot_send_for_the_account() {
    let w = Weft::new(BIN);
    let (a, _na, b, _nb) = ada_and_bao(&w).await;
    let a_id = w.account(&a).await;
    let b_id = w.account(&b).await;
    let (a2, _na2) = link_second(&w, &a, &b, Some(&b)).await;
    let a2_peer = w.status(&a2).await["peer_id"].as_str().unwrap().to_string();

    w.json(&["chat", "send", "--home", s(&b), "Ada", "before"])
        .await;
    for home in [&a, &a2] {
        let got = wait_for(WAIT, || async {
            texts(&w.chat_log(home, &b_id).await).contains(&"before".to_string())
        })
        .await;
        assert!(got, "{} never got the message sent before", home.display());
    }

    w.json(&["device", "revoke", &a2_peer, "--home", s(&a)])
        .await;
    assert!(
        devices_known(&w, &b, &a_id, 1).await,
        "B never learned of the revocation"
    );
    let secret = "after the revocation: the door code is 4711";
    w.json(&["chat", "send", "--home", s(&b), "Ada", secret])
        .await;
    let at_a1 = wait_for(WAIT, || async {
        texts(&w.chat_log(&a, &b_id).await).contains(&secret.to_string())
    })
    .await;
    assert!(at_a1, "A1 never got the message sent after the revocation");
    assert!(
        !texts(&w.chat_log(&a2, &b_id).await).contains(&secret.to_string()),
        "the revoked device shows the new message"
    );
    assert!(
        weft_tests::file_containing(&a2, secret.as_bytes()).is_none(),
        "the revoked device's home holds the new message's plaintext"
    );

    // It cannot send for the account any more.
    let e = w.refused(&chat_send(&a2, "Bao", &["still me?"])).await;
    assert_eq!(e["kind"], "forbidden", "{e}");
    assert!(!texts(&w.chat_log(&b, &a_id).await).contains(&"still me?".to_string()));
}

/// Acceptance 3 (on loopback): a 50 MiB file sent to "me" on A1 is saved
/// on A2 byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_transfer_moves_a_file_between_ones_own_devices() {
    let w = Weft::new(BIN);
    let (a, _na) = w.started("a", "Ada", &[]).await;
    // With one device there is no one to send to.
    let e = w.refused(&chat_send(&a, "me", &["hello?"])).await;
    assert_eq!(e["kind"], "conflict");

    let (a2, _na2) = link_second(&w, &a, &a, None).await;
    let a_id = w.account(&a).await;
    let tmp = tempfile::tempdir().unwrap();
    let big = weft_tests::noise(50 * 1024 * 1024, 0x9e37_79b9);
    let path = tmp.path().join("holiday.mkv.bin");
    std::fs::write(&path, &big).unwrap();
    let sent = w
        .json(&chat_send(
            &a,
            "File Transfer",
            &["for the laptop", "--file", s(&path)],
        ))
        .await;
    let id = sent["id"].as_str().unwrap().to_string();
    let arrived = w
        .log_shows(&a2, "me", Duration::from_secs(60), |m| {
            m["id"] == id.as_str() && m["from"] == a_id.as_str() && m.get("attachment").is_some()
        })
        .await;
    assert!(arrived, "A2 never got the message in File Transfer");
    let list = w.json(&["chat", "list", "--home", s(&a2)]).await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "File Transfer"),
        "{list}"
    );
    let saved = tmp.path().join("saved.bin");
    w.json(&["chat", "save", "--home", s(&a2), &id, "--out", s(&saved)])
        .await;
    assert!(
        std::fs::read(&saved).unwrap() == big,
        "the saved file differs"
    );
}

/// Sends `text` to group `g` from `home` (CLI) and returns its id.
async fn group_send(w: &Weft, home: &std::path::Path, g: &str, text: &str) -> String {
    w.json(&["chat", "send", "--home", s(home), g, text]).await["id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Whether `home` comes to show a message of group `g` with `text` from
/// `from` (an account id).
async fn group_shows(w: &Weft, home: &std::path::Path, g: &str, text: &str, from: &str) -> bool {
    w.log_shows(home, g, WAIT, |m| m["text"] == text && m["from"] == from)
        .await
}

/// Groups on an account with two devices: a device linked after the group
/// was made learns the group and its earlier messages, reads what members
/// send from then on, and
/// sends as its account (every member and the first device show it); after
/// it is revoked, what members send is not readable on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_device_reads_and_writes_in_groups_until_it_is_revoked() {
    let w = Weft::new(BIN);
    let (procs, homes) = w.network(&["ada", "bao", "chen"]).await;
    let _procs = procs;
    let (a, b, c) = (&homes[0], &homes[1], &homes[2]);
    w.befriend(a, b).await;
    w.befriend(a, c).await;
    let a_id = w.account(a).await;
    let b_id = w.account(b).await;
    let g = w.group_create(a, "Ropes", &["Bao", "Chen"]).await;
    let before_link = group_send(&w, b, &g, "before the laptop").await;
    assert!(!before_link.is_empty());
    assert!(group_shows(&w, a, &g, "before the laptop", &b_id).await);

    // A2 is linked after the group exists: it learns the group from A1.
    let (a2, _na2) = link_second(&w, a, b, Some(b)).await;
    let knows = wait_for(WAIT, || async {
        let list = w.json(&["group", "list", "--home", s(&a2)]).await;
        list.as_array()
            .is_some_and(|l| l.iter().any(|x| x["id"] == g.as_str() && x["members"] == 3))
    })
    .await;
    assert!(knows, "the linked device never learned the group");
    // What was said before it was linked comes with history sync.
    assert!(
        group_shows(&w, &a2, &g, "before the laptop", &b_id).await,
        "the linked device did not get the group's earlier messages"
    );

    // Bao writes: both of Ada's devices read it.
    group_send(&w, b, &g, "ropes at eight").await;
    for home in [a, &a2] {
        assert!(
            group_shows(&w, home, &g, "ropes at eight", &b_id).await,
            "{} did not get Bao's group message; A2's log:\n{}",
            home.display(),
            _na2.log()
        );
    }

    // The laptop writes: Bao, Chen and the first device show it from Ada.
    let id = group_send(&w, &a2, &g, "I bring the chalk").await;
    assert!(!id.is_empty());
    for home in [b, c, a] {
        assert!(
            group_shows(&w, home, &g, "I bring the chalk", &a_id).await,
            "{} did not get the laptop's group message",
            home.display()
        );
    }
    let at_a1 = w.chat_log(a, &g).await;
    let mine = at_a1.iter().find(|m| m["id"] == id.as_str());
    assert_eq!(
        mine.map(|m| m["status"].clone()),
        Some(Value::from("sent")),
        "the first device does not show the laptop's message as sent"
    );

    // Revoked, the laptop reads nothing members send afterwards.
    let a2_peer = w.status(&a2).await["peer_id"].as_str().unwrap().to_string();
    w.json(&["device", "revoke", &a2_peer, "--home", s(a)])
        .await;
    assert!(
        devices_known(&w, b, &a_id, 1).await,
        "Bao never learned of the revocation"
    );
    let secret = "after the revocation: meet at the north wall";
    group_send(&w, b, &g, secret).await;
    assert!(group_shows(&w, a, &g, secret, &b_id).await);
    assert!(
        !w.chat_log(&a2, &g)
            .await
            .iter()
            .any(|m| m["text"] == secret),
        "the revoked device shows a group message sent after"
    );
    assert!(
        weft_tests::file_containing(&a2, secret.as_bytes()).is_none(),
        "the revoked device's home holds the plaintext of a group message sent after"
    );
    let e = w.refused(&chat_send(&a2, &g, &["still in?"])).await;
    assert_eq!(e["kind"], "forbidden");
}

/// Whether `home`'s Moments feed comes to show a post with `text`.
async fn feed_shows(w: &Weft, home: &std::path::Path, text: &str) -> bool {
    w.feed_shows(home, WAIT, |p| p["text"] == text).await
}

/// Moments on an account with two devices: a device linked after its
/// friend gave the account a Moments key reads that friend's next post, and
/// the account's own posts (made on the first device) show on it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_device_reads_friends_moments_and_its_own() {
    let w = Weft::new(BIN);
    let (a, _na, b, _nb) = ada_and_bao(&w).await;
    // Both have given each other their keys: a post reaches the other.
    w.moments_post(&b, "first light", &[]).await;
    assert!(feed_shows(&w, &a, "first light").await);

    let (a2, _na2) = link_second(&w, &a, &b, Some(&b)).await;
    w.moments_post(&b, "the summit at noon", &[]).await;
    assert!(
        feed_shows(&w, &a, "the summit at noon").await,
        "the first device lost Bao's Moments"
    );
    assert!(
        feed_shows(&w, &a2, "the summit at noon").await,
        "the linked device never showed Bao's post; its log:\n{}",
        _na2.log()
    );
    w.moments_post(&a, "packing the tent", &[]).await;
    assert!(
        feed_shows(&w, &a2, "packing the tent").await,
        "the linked device never showed the account's own post"
    );
    assert!(feed_shows(&w, &b, "packing the tent").await);
    // A post is signed by the account key, which stays on the first device.
    let e = w.refused(&moments_post(&a2, "from the laptop", &[])).await;
    assert!(
        e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("first device"),
        "{e}"
    );
}

/// The contact row `home` holds for `account` (from `contacts list`).
async fn contact_row(w: &Weft, home: &std::path::Path, account: &str) -> Option<Value> {
    w.json(&["contacts", "list", "--home", s(home)])
        .await
        .as_array()
        .and_then(|l| l.iter().find(|c| c["account_id"] == account).cloned())
}

/// A remark set on one device and a block made on the other show on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remark_and_a_block_made_on_one_device_show_on_the_other() {
    let w = Weft::new(BIN);
    let (a, _na, b, _nb) = ada_and_bao(&w).await;
    let b_id = w.account(&b).await;
    let (a2, _na2) = link_second(&w, &a, &b, Some(&b)).await;
    let synced = wait_for(WAIT, || async {
        contact_row(&w, &a2, &b_id).await.is_some()
    })
    .await;
    assert!(synced, "the linked device never got the contact");

    w.json(&[
        "contacts",
        "remark",
        "--home",
        s(&a2),
        "Bao",
        "Bao (climbing)",
    ])
    .await;
    let remarked = wait_for(WAIT, || async {
        contact_row(&w, &a, &b_id)
            .await
            .is_some_and(|c| c["name"] == "Bao (climbing)")
    })
    .await;
    assert!(
        remarked,
        "the first device does not show the remark made on the laptop"
    );

    w.json(&["contacts", "block", "--home", s(&a), &b_id]).await;
    let blocked = wait_for(WAIT, || async {
        contact_row(&w, &a2, &b_id)
            .await
            .is_some_and(|c| c["state"] == "blocked")
    })
    .await;
    assert!(
        blocked,
        "the laptop does not show the block made on the first device"
    );
}
