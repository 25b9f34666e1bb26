//! Group chats across real nodes: four members agree on 400 concurrent
//! messages and a stranger sees none; a removed member reads nothing sent
//! after; a member that was away catches up from the others; joining by
//! link waits for approval; changes a member may not make are refused on
//! every node, whether its own node or a forged one sends them.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use libp2p::identity::Keypair;
use serde_json::Value;
use weft_node::api::{chat::SendBody, Created};
use weft_protocol::{
    chat::ChatKind,
    group::{
        log::{Change, ChangeBody, ChangeId, Op},
        Direct, GroupId,
    },
    AccountId,
};
use weft_tests::hostile::connect;
use weft_tests::mallory::{self, deliver_own, sealed};
use weft_tests::{chat_send, file_containing, s, wait_for, NodeProc, Weft};

use crate::BIN;

const T: Duration = Duration::from_secs(90);

/// The four members, in the order of their homes.
const MEMBERS: [&str; 4] = ["ada", "bao", "chen", "dana"];

/// Boot + Ada (owner), Bao, Chen, Dana in a group "Climbers"; Ada is
/// friends with the other three, who are not friends with each other.
struct Group {
    w: Weft,
    procs: Vec<NodeProc>,
    homes: Vec<PathBuf>,
    id: String,
}

impl Group {
    async fn new(extra: &[&str]) -> Group {
        let w = Weft::new(BIN);
        let mut names = MEMBERS.to_vec();
        names.extend_from_slice(extra);
        let (procs, homes) = w.network(&names).await;
        for h in &homes[1..4] {
            w.befriend(&homes[0], h).await;
        }
        let id = w
            .group_create(&homes[0], "Climbers", &["bao", "chen", "dana"])
            .await;
        let g = Group {
            w,
            procs,
            homes,
            id,
        };
        for h in &g.homes[..4] {
            assert!(
                g.has_members(h, 4).await,
                "{} never saw the group of four",
                s(h)
            );
        }
        g
    }

    async fn members(&self, home: &Path) -> Vec<Value> {
        let out = self
            .w
            .run(&["--json", "group", "members", "--home", s(home), &self.id])
            .await;
        serde_json::from_slice::<Value>(&out.stdout)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }

    async fn has_members(&self, home: &Path, n: usize) -> bool {
        wait_for(T, || async { self.members(home).await.len() == n }).await
    }

    async fn log(&self, home: &Path) -> Vec<Value> {
        self.w.chat_log(home, &self.id).await
    }

    /// Sends `n` messages from `home` through the API, as fast as it takes them.
    async fn send_many(&self, home: &Path, prefix: &str, n: usize) -> Vec<String> {
        let client = self.w.client(home);
        let mut ids = Vec::new();
        for i in 0..n {
            let body = SendBody {
                all: false,
                mentions: vec![],
                reply_to: None,
                text: format!("{prefix} {i:03}"),
                to: self.id.clone(),
            };
            let c: Created = client
                .post("/v1/chat/send", &body)
                .await
                .expect("group send");
            ids.push(c.id);
        }
        ids
    }

    /// Every member sends one message, "<name> <word> 000"; returns their texts.
    async fn one_each(&self, word: &str) -> BTreeSet<String> {
        let mut sent = BTreeSet::new();
        for (h, n) in self.homes.iter().zip(MEMBERS) {
            let prefix = format!("{n} {word}");
            self.send_many(h, &prefix, 1).await;
            sent.extend(texts(&prefix, 1));
        }
        sent
    }

    async fn wait_texts(&self, home: &Path, want: &BTreeSet<String>) -> bool {
        wait_for(T, || async {
            let got: BTreeSet<String> = self
                .log(home)
                .await
                .iter()
                .filter_map(|m| m["text"].as_str().map(str::to_string))
                .collect();
            want.is_subset(&got)
        })
        .await
    }
}

fn texts(prefix: &str, n: usize) -> BTreeSet<String> {
    (0..n).map(|i| format!("{prefix} {i:03}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_members_agree_on_400_messages_and_a_stranger_sees_none() {
    let g = Group::new(&["eve"]).await;
    let eve = g.homes[4].clone();
    for h in &g.homes[..4] {
        let addr = g.w.dial_addr(h).await;
        g.w.json(&["dial", "--home", s(&eve), &addr]).await;
    }
    let sends = g
        .homes
        .iter()
        .zip(MEMBERS)
        .map(|(h, n)| g.send_many(h, n, 100));
    futures::future::join_all(sends).await;
    let mut want = BTreeSet::new();
    for n in MEMBERS {
        want.extend(texts(n, 100));
    }
    let mut orders = Vec::new();
    for h in &g.homes[..4] {
        if !g.wait_texts(h, &want).await {
            let log = g.log(h).await;
            let mut per: HashMap<String, usize> = HashMap::new();
            for m in &log {
                let t = m["text"]
                    .as_str()
                    .unwrap_or("")
                    .split(' ')
                    .next()
                    .unwrap_or("")
                    .to_string();
                *per.entry(t).or_default() += 1;
            }
            let got: BTreeSet<String> = log
                .iter()
                .filter_map(|m| m["text"].as_str().map(str::to_string))
                .collect();
            let missing: Vec<_> = want.difference(&got).collect();
            panic!(
                "{} is missing {missing:?}: has {per:?}; log:\n{}",
                s(h),
                std::fs::read_to_string(h.with_extension("log")).unwrap_or_default()
            );
        }
        let log = g.log(h).await;
        assert_eq!(log.len(), 400, "{}: every message exactly once", s(h));
        let ids: BTreeSet<_> = log.iter().map(|m| m["id"].clone().to_string()).collect();
        assert_eq!(ids.len(), 400, "{}: no duplicate ids", s(h));
        // Each sender's messages in the order they were sent.
        let mut last: HashMap<String, String> = HashMap::new();
        for m in &log {
            let from = m["from"].as_str().unwrap().to_string();
            let text = m["text"].as_str().unwrap().to_string();
            if let Some(prev) = last.insert(from, text.clone()) {
                assert!(prev < text, "{}: {prev} shown after {text}", s(h));
            }
        }
        orders.push(log.iter().map(|m| m["id"].clone()).collect::<Vec<_>>());
    }
    assert!(
        orders.windows(2).all(|w| w[0] == w[1]),
        "members show different orders"
    );
    // Eve, connected to all four, is in no group and holds no plaintext.
    let list = g.w.json(&["group", "list", "--home", s(&eve)]).await;
    assert_eq!(list.as_array().map(Vec::len), Some(0));
    for t in ["ada 000", "bao 050", "chen 099", "dana 042"] {
        assert!(
            file_containing(&eve, t.as_bytes()).is_none(),
            "Eve's home holds the plaintext {t:?}"
        );
    }
    // A member's home does hold it: the scan finds plaintext where there is some.
    assert!(file_containing(&g.homes[1], b"chen 099").is_some());
    drop(g.procs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_reads_nothing_sent_after_and_cannot_send() {
    let g = Group::new(&[]).await;
    let (ada, dana) = (&g.homes[0], &g.homes[3]);
    // Everyone has sent once, so every member holds every chain.
    let before = g.one_each("before").await;
    assert!(
        g.wait_texts(dana, &before).await,
        "Dana never got the first messages"
    );
    g.w.json(&["group", "remove", "--home", s(ada), &g.id, "dana"])
        .await;
    for h in &g.homes[..3] {
        assert!(g.has_members(h, 3).await, "{} never saw Dana removed", s(h));
    }
    // Dana's node learns it is out and refuses to send.
    g.w.refused(&chat_send(dana, &g.id, &["still here?"])).await;
    for (h, n) in g.homes.iter().take(3).zip(["ada", "bao", "chen"]) {
        g.send_many(h, &format!("{n} after"), 5).await;
    }
    let mut after = BTreeSet::new();
    for n in ["ada", "bao", "chen"] {
        after.extend(texts(&format!("{n} after"), 5));
    }
    for h in &g.homes[..3] {
        assert!(
            g.wait_texts(h, &after).await,
            "{} is missing messages",
            s(h)
        );
    }
    let dana_log: Vec<String> = g
        .log(dana)
        .await
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_string))
        .collect();
    assert!(
        dana_log.iter().all(|t| !t.contains("after")),
        "Dana read {dana_log:?}"
    );
    for t in &after {
        assert!(
            file_containing(dana, t.as_bytes()).is_none(),
            "Dana's home holds {t:?}"
        );
    }
    drop(g.procs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_was_away_gets_what_it_missed_from_the_others() {
    let mut g = Group::new(&[]).await;
    let hellos = g.one_each("hello").await;
    for h in &g.homes[..4] {
        assert!(g.wait_texts(h, &hellos).await, "{} missed a hello", s(h));
    }
    // Chen (procs[3]; procs[0] is the bootstrap node) goes away.
    let chen = g.homes[2].clone();
    let mut chen_proc = g.procs.remove(3);
    chen_proc.signal("TERM").await;
    assert!(chen_proc.wait_exit(T).await.is_some());
    let mut while_away = g.send_many(&g.homes[0], "ada away", 25).await;
    while_away.extend(g.send_many(&g.homes[1], "bao away", 25).await);
    let mut want = texts("ada away", 25);
    want.extend(texts("bao away", 25));
    assert!(
        g.wait_texts(&g.homes[3], &want).await,
        "Dana missed messages"
    );
    // The senders go away too; only Dana holds the 50 now.
    for idx in [1, 1] {
        let mut p = g.procs.remove(idx);
        p.signal("TERM").await;
        assert!(p.wait_exit(T).await.is_some());
    }
    let boot = g.w.dial_addr(&g.homes[3]).await;
    let _chen_back = g.w.up(&chen, &["--bootstrap", &boot]).await;
    assert!(
        g.wait_texts(&chen, &want).await,
        "Chen did not catch up; log:\n{}",
        std::fs::read_to_string(chen.with_extension("log")).unwrap_or_default()
    );
    assert_eq!(g.log(&chen).await.len(), 54, "every message exactly once");
    drop(g.procs);
}

/// A member that loses a sender's *first* message on its way in (gossip
/// may drop one; here `WEFT_FAIL=group-wire-in` drops it) and then reads
/// the second still gets the first: the hole is in the sender's chain, not
/// between wires it holds, and catching up asks from the hole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_first_message_is_caught_up() {
    let mut g = Group::new(&[]).await;
    // Chen (procs[3]) comes back with the fault armed.
    let chen = g.homes[2].clone();
    let mut p = g.procs.remove(3);
    p.signal("TERM").await;
    assert!(p.wait_exit(T).await.is_some());
    let boot = g.w.dial_addr(&g.homes[0]).await;
    let chen_proc =
        g.w.up_with_env(
            &chen,
            &["--bootstrap", &boot],
            &[("WEFT_FAIL", "group-wire-in")],
        )
        .await;
    g.send_many(&g.homes[0], "ada first", 1).await;
    assert!(
        wait_for(T, || async {
            chen_proc.log().contains("WEFT_FAIL: failing group-wire-in")
        })
        .await,
        "Ada's first message never reached Chen's node"
    );
    g.send_many(&g.homes[0], "ada second", 1).await;
    let want: BTreeSet<String> = ["ada first 000", "ada second 000"]
        .iter()
        .map(|t| t.to_string())
        .collect();
    assert!(
        g.wait_texts(&chen, &want).await,
        "Chen never got Ada's first message back; log: {:?}",
        g.log(&chen).await
    );
    assert_eq!(g.log(&chen).await.len(), 2, "each exactly once");
    drop(chen_proc);
    drop(g.procs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_by_link_waits_for_approval_and_brings_no_history() {
    let g = Group::new(&["finn"]).await;
    let (ada, bao, finn) = (&g.homes[0], &g.homes[1], &g.homes[4]);
    g.send_many(bao, "history", 3).await;
    g.w.json(&[
        "group",
        "settings",
        "--home",
        s(ada),
        &g.id,
        "--approval",
        "on",
    ])
    .await;
    let link = g.w.json(&["group", "link", "--home", s(ada), &g.id]).await["link"]
        .as_str()
        .expect("link")
        .to_string();
    assert!(link.starts_with("weft://group/"));
    let finn_id = g.w.account(finn).await;
    g.w.json(&["group", "join", "--home", s(finn), &link]).await;
    let asked = wait_for(T, || async {
        let r =
            g.w.json(&["group", "requests", "--home", s(ada), &g.id])
                .await;
        r.as_array()
            .is_some_and(|r| r.iter().any(|x| x["account_id"] == finn_id.as_str()))
    })
    .await;
    assert!(asked, "Finn's request never reached Ada");
    // Nothing before approval.
    let list = g.w.json(&["group", "list", "--home", s(finn)]).await;
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(0),
        "Finn is in before approval"
    );
    g.w.json(&["group", "approve", "--home", s(ada), &g.id, &finn_id])
        .await;
    assert!(g.has_members(finn, 5).await, "Finn never got in");
    for h in &g.homes[..4] {
        assert!(g.has_members(h, 5).await, "{} never saw Finn join", s(h));
    }
    g.send_many(bao, "welcome", 2).await;
    assert!(
        g.wait_texts(finn, &texts("welcome", 2)).await,
        "Finn missed new messages"
    );
    let finn_log = g.log(finn).await;
    assert!(
        finn_log
            .iter()
            .all(|m| !m["text"].as_str().unwrap_or("").starts_with("history")),
        "Finn got history from before he joined"
    );
    // A link past revocation lets nobody in.
    g.w.json(&["group", "link", "--home", s(ada), &g.id, "--revoke", &link])
        .await;
    drop(g.procs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_a_member_may_not_make_are_refused_on_every_node() {
    let g = Group::new(&[]).await;
    let (bao, chen) = (&g.homes[1], &g.homes[2]);
    // Bao's own node refuses.
    for args in [
        vec!["--json", "group", "remove", "--home", s(bao), &g.id, "chen"],
        vec![
            "--json",
            "group",
            "rename",
            "--home",
            s(bao),
            &g.id,
            "Bao's",
        ],
    ] {
        let out = g.w.run(&args).await;
        assert!(
            !out.status.success(),
            "Bao's node made a change it may not: {args:?}"
        );
        let err = weft_tests::json_error(&out);
        assert_eq!(err["kind"], "forbidden", "{err}");
    }
    // A node that does not refuse: Bao's key signs the changes anyway and
    // they are delivered, sealed by Bao's key, to every other member.
    let bao_key = weft_node::Home::new(bao).load_identity().unwrap().key;
    let group: GroupId = g.id.parse().unwrap();
    let chen_id: AccountId = g.w.account(chen).await.parse().unwrap();
    let forged: Vec<Change> = [
        Op::Remove { member: chen_id },
        Op::Rename {
            name: "Bao's".into(),
        },
    ]
    .into_iter()
    .map(|op| {
        Change::sign(
            &bao_key,
            ChangeBody {
                group,
                parents: vec![ChangeId(group.0)],
                author: bao_key.account_id(),
                at_ms: weft_protocol::unix_now_ms(),
                op,
            },
        )
        .unwrap()
    })
    .collect();
    let direct = Direct::Changes {
        group,
        changes: forged,
        secret: None,
    };
    for (i, h) in [&g.homes[0], &g.homes[2], &g.homes[3]]
        .into_iter()
        .enumerate()
    {
        let to: AccountId = g.w.account(h).await.parse().unwrap();
        let mut m = mallory::swarm(Keypair::generate_ed25519());
        let node = connect(&mut m, &g.w.dial_addr(h).await).await;
        let item = sealed(
            &bao_key,
            bao_key.account_id(),
            to,
            1_000 + i as u64,
            ChatKind::Group(direct.clone()),
        );
        let ack = deliver_own(&mut m, node, &bao_key, to, vec![item])
            .await
            .expect("the node answers");
        assert_eq!(
            ack.accepted.len(),
            1,
            "{}: the delivery was processed",
            s(h)
        );
        let members = g.members(h).await;
        assert_eq!(
            members.len(),
            4,
            "{}: Chen was removed by a non-admin",
            s(h)
        );
        let list = g.w.json(&["group", "list", "--home", s(h)]).await;
        assert_eq!(
            list[0]["name"],
            "Climbers",
            "{}: renamed by a non-admin",
            s(h)
        );
    }
    drop(g.procs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mentions_reach_a_muted_member_and_recall_and_read_counts_work() {
    let g = Group::new(&[]).await;
    let (ada, bao, chen) = (&g.homes[0], &g.homes[1], &g.homes[2]);
    let chen_id = g.w.account(chen).await;
    let mut events = g.w.events(chen);
    // The stream is live once Chen sees a message sent after it started.
    let mut live = false;
    for n in 0..20 {
        g.send_many(bao, &format!("warm-up {n}"), 1).await;
        let seen = events
            .until(Duration::from_secs(3), |seen| {
                seen.iter().any(|e| e["type"] == "group_message")
            })
            .await;
        if seen {
            live = true;
            break;
        }
    }
    assert!(live, "Chen's event stream never showed a group message");
    g.w.json(&["group", "mute", "--home", s(chen), &g.id]).await;
    let plain = g.send_many(bao, "plain", 1).await.remove(0);
    let mention =
        g.w.json(&chat_send(bao, &g.id, &["hey Chen", "--mention", &chen_id]))
            .await["id"]
            .as_str()
            .expect("id")
            .to_string();
    let seen = events
        .until(T, |seen| {
            seen.iter().any(|e| e["id"] == plain.as_str())
                && seen.iter().any(|e| e["id"] == mention.as_str())
        })
        .await;
    assert!(seen, "Chen's events: {:?}", events.seen);
    let ev = |id: &str| events.seen.iter().find(|e| e["id"] == id).cloned().unwrap();
    assert_eq!(
        ev(&plain)["notify"],
        false,
        "a muted group notified without a mention"
    );
    assert_eq!(
        ev(&mention)["notify"],
        true,
        "a mention did not notify a muted member"
    );
    assert_eq!(ev(&mention)["mentioned"], true);
    // @all is for admins: Bao's node refuses it.
    let e =
        g.w.refused(&chat_send(bao, &g.id, &["everyone!", "--all"]))
            .await;
    assert_eq!(e["kind"], "forbidden");
    // Bao takes back the plain message; Chen's log shows it recalled.
    g.w.json(&["chat", "recall", "--home", s(bao), &plain])
        .await;
    let recalled = wait_for(T, || async {
        g.log(chen)
            .await
            .iter()
            .any(|m| m["id"] == plain.as_str() && m["status"] == "recalled" && m["text"] == "")
    })
    .await;
    assert!(recalled, "the recall never reached Chen");
    // Ada and Chen read the log: Bao sees "read by 2" on the mention.
    for h in [ada, chen] {
        g.log(h).await;
    }
    let read = wait_for(T, || async {
        g.log(bao)
            .await
            .iter()
            .any(|m| m["id"] == mention.as_str() && m["read_by"] == 2)
    })
    .await;
    assert!(read, "Bao never saw that two members read the message");
    drop(g.procs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_group_log_is_not_an_invitation() {
    let w = Weft::new(BIN);
    let (ada, _na) = w.started("ada", "Ada", &[]).await;
    let ada_id: AccountId = w.account(&ada).await.parse().unwrap();
    let mallory = weft_protocol::AccountKey::generate().unwrap();
    let create = Change::sign(
        &mallory,
        ChangeBody {
            group: GroupId([0; 32]),
            parents: vec![],
            author: mallory.account_id(),
            at_ms: 1,
            op: Op::Create {
                name: "Free crypto".into(),
                owner_name: "Mallory".into(),
                nonce: [1; 16],
                approval: false,
            },
        },
    )
    .unwrap();
    let group = create.group();
    let add = Change::sign(
        &mallory,
        ChangeBody {
            group,
            parents: vec![create.id()],
            author: mallory.account_id(),
            at_ms: 2,
            op: Op::Add {
                members: vec![weft_protocol::group::log::Invitee {
                    account: ada_id,
                    name: "Ada".into(),
                }],
            },
        },
    )
    .unwrap();
    let direct = Direct::Changes {
        group,
        changes: vec![create, add],
        secret: Some([9; 32]),
    };
    let mut m = mallory::swarm(Keypair::generate_ed25519());
    let node = connect(&mut m, &w.dial_addr(&ada).await).await;
    let item = sealed(
        &mallory,
        mallory.account_id(),
        ada_id,
        1,
        ChatKind::Group(direct),
    );
    let ack = deliver_own(&mut m, node, &mallory, ada_id, vec![item])
        .await
        .expect("Ada's node answers");
    assert_eq!(ack.accepted.len(), 1, "the delivery was processed");
    let list = w.json(&["group", "list", "--home", s(&ada)]).await;
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(0),
        "a stranger put Ada in a group: {list}"
    );
}
