//! Contacts and chat between real `weft` processes: exactly-once in-order
//! delivery under load, offline delivery, store-and-forward through a
//! third node, and no loss when the sender is killed mid-burst.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use libp2p::identity::Keypair;
use serde_json::{json, Value};
use weft_protocol::{
    chat::{item_hash, ChatBody},
    AccountId,
};
use weft_tests::hostile::connect;
use weft_tests::mallory::{self, deliver};
use weft_tests::{file_containing, wait_for, Weft};

use crate::BIN;
use weft_tests::s;

const T: Duration = Duration::from_secs(30);

/// Ids of messages from `from` in a log, in log order, with their seq.
fn from_sender(log: &[Value], from: &str) -> Vec<(String, u64)> {
    log.iter()
        .filter(|m| m["from"] == from)
        .map(|m| {
            (
                m["id"].as_str().unwrap().to_string(),
                m["seq"].as_u64().unwrap(),
            )
        })
        .collect()
}

async fn send_many(
    client: weft_cli::Client,
    to: String,
    prefix: &'static str,
    n: usize,
) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let v: Value = client
            .post(
                "/v1/chat/send",
                &json!({"to": to, "text": format!("{prefix} {i} 🧵")}),
            )
            .await
            .expect("send");
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friends_exchange_2000_messages_exactly_once_in_order() {
    let w = Weft::new(BIN);
    let (a, _na) = w.started("a", "Ada", &[]).await;
    let (b, _nb) = w.started("b", "Bao", &[]).await;
    // Both event streams connect before the friendship; its events prove it.
    let mut events = [w.events(&a), w.events(&b)];
    w.befriend(&a, &b).await;
    let (a_id, b_id) = (w.account(&a).await, w.account(&b).await);
    for (ev, kind) in events.iter_mut().zip(["friend_accepted", "friend_request"]) {
        assert!(
            ev.until(T, |seen| seen.iter().any(|e| e["type"] == kind))
                .await,
            "no {kind} event: the event stream is not live"
        );
    }

    // Acceptance 1: both contact lists show each other.
    for (h, other) in [(&a, &b_id), (&b, &a_id)] {
        let list = w.json(&["contacts", "list", "--home", s(h)]).await;
        assert!(list
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["account_id"] == other.as_str()));
    }

    const N: usize = 1000;
    let ta = tokio::spawn(send_many(w.client(&a), b_id.clone(), "from Ada", N));
    let tb = tokio::spawn(send_many(w.client(&b), a_id.clone(), "from Bao", N));
    let sent_a = ta.await.unwrap();
    let sent_b = tb.await.unwrap();

    for (h, other) in [(&a, &b_id), (&b, &a_id)] {
        let complete = wait_for(Duration::from_secs(120), || async {
            let log = w.chat_log(h, other).await;
            log.len() >= 2 * N
                && log
                    .iter()
                    .filter(|m| m["from"] != other.as_str())
                    .all(|m| m["status"] == "delivered" || m["status"] == "read")
        })
        .await;
        let log = w.chat_log(h, other).await;
        assert!(
            complete,
            "only {} of {} messages (or receipts missing)",
            log.len(),
            2 * N
        );
        assert_eq!(log.len(), 2 * N, "duplicates in the log");
        let ids: HashSet<&str> = log.iter().map(|m| m["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 2 * N, "a message appears twice");
        for (sender, sent) in [(&a_id, &sent_a), (&b_id, &sent_b)] {
            let got = from_sender(&log, sender);
            let got_ids: Vec<&String> = got.iter().map(|(id, _)| id).collect();
            let want: Vec<&String> = sent.iter().collect();
            assert_eq!(got_ids, want, "sender's messages out of order or missing");
            assert!(got.windows(2).all(|w| w[0].1 < w[1].1));
        }
    }
    // The log is keyed by the sender's clock and overwrites a re-delivered
    // message in place, so it cannot show a duplicate delivery; the event
    // stream can: each message is announced exactly once.
    for (ev, (from, sent)) in events.iter_mut().zip([(&b_id, &sent_b), (&a_id, &sent_a)]) {
        let all = ev
            .until(Duration::from_secs(60), |seen| {
                seen.iter()
                    .filter(|e| e["type"] == "message" && e["from"] == from.as_str())
                    .count()
                    >= N
            })
            .await;
        assert!(all, "fewer than {N} message events from {from}");
        let mut per_id: HashMap<&str, usize> = HashMap::new();
        for e in ev.seen.iter().filter(|e| e["type"] == "message") {
            *per_id.entry(e["id"].as_str().unwrap()).or_default() += 1;
        }
        for id in sent.iter() {
            assert_eq!(
                per_id.get(id.as_str()),
                Some(&1),
                "message {id} announced wrongly"
            );
        }
        assert_eq!(per_id.len(), N, "events for messages that were not sent");
    }
}

/// A message delivered again (a retry, or a second holder's copy) is
/// recognised by its id: not announced again, and a message already read
/// does not turn unread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_message_is_announced_once_and_stays_read() {
    let w = Weft::new(BIN);
    let (a, _na) = w.started("a", "Ada", &[]).await;
    let (b, _nb) = w.started("b", "Bao", &[]).await;
    let mut events = w.events(&b);
    w.befriend(&a, &b).await;
    assert!(
        events
            .until(T, |seen| seen.iter().any(|e| e["type"] == "friend_request"))
            .await,
        "Bao's event stream is not live"
    );
    let a_id: AccountId = w.account(&a).await.parse().unwrap();
    let b_id: AccountId = w.account(&b).await.parse().unwrap();
    // Deliveries as Ada would send them, from a peer holding her key (so
    // the test decides when a message is delivered again).
    let ada = weft_node::Home::new(&a).load_identity().unwrap().key;
    let mut m = mallory::swarm(Keypair::generate_ed25519());
    let node = connect(&mut m, &w.dial_addr(&b).await).await;
    let now = weft_protocol::unix_now_ms();
    let once = ChatBody {
        sent_at_ms: now,
        ..mallory::body(a_id, b_id, 1_000_000, mallory::text("say it once"))
    };
    let id = once.id().to_string();
    let first = mallory::seal_body(&ada, &once);
    let ack = deliver(&mut m, node, &ada, a_id, b_id, vec![first.clone()])
        .await
        .expect("Bao answered");
    assert_eq!(ack.accepted, vec![item_hash(&first)]);
    assert!(
        events
            .until(T, |seen| seen.iter().any(|e| e["id"] == id.as_str()))
            .await,
        "the message was never announced"
    );
    // Bao reads it (reading the log marks it seen).
    let status = |log: Vec<Value>| {
        log.iter()
            .find(|m| m["id"] == id.as_str())
            .map(|m| m["status"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(
        status(w.chat_log(&b, &a_id.to_string()).await).as_deref(),
        Some("received")
    );
    assert_eq!(
        status(w.chat_log(&b, &a_id.to_string()).await).as_deref(),
        Some("seen")
    );

    // Delivered again: the same bytes, then a fresh sealing of the same message.
    for copy in [first.clone(), mallory::seal_body(&ada, &once)] {
        let ack = deliver(&mut m, node, &ada, a_id, b_id, vec![copy.clone()])
            .await
            .expect("Bao answered");
        assert_eq!(
            ack.accepted,
            vec![item_hash(&copy)],
            "a re-delivery was not acknowledged"
        );
    }
    // A new message as a barrier: anything the copies caused was emitted before it.
    let next = ChatBody {
        sent_at_ms: now + 1,
        ..mallory::body(a_id, b_id, 1_000_001, mallory::text("and then this"))
    };
    let next_id = next.id().to_string();
    deliver(
        &mut m,
        node,
        &ada,
        a_id,
        b_id,
        vec![mallory::seal_body(&ada, &next)],
    )
    .await
    .expect("Bao answered");
    assert!(
        events
            .until(T, |seen| seen.iter().any(|e| e["id"] == next_id.as_str()))
            .await,
        "the barrier message was never announced"
    );
    let announced = events.count("message", |e| e["id"] == id.as_str());
    assert_eq!(
        announced, 1,
        "a re-delivered message was announced {announced} times"
    );
    // Still read: the conversation has one unread message (the new one)...
    let convs = w.json(&["chat", "list", "--home", s(&b)]).await;
    let unread = convs
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["account_id"] == a_id.to_string().as_str())
        .map(|c| c["unread"].clone());
    assert_eq!(
        unread,
        Some(json!(1)),
        "a read message turned unread: {convs}"
    );
    // ...and the log shows it seen, once.
    let log = w.chat_log(&b, &a_id.to_string()).await;
    assert_eq!(status(log.clone()).as_deref(), Some("seen"), "{log:?}");
    assert_eq!(log.iter().filter(|m| m["id"] == id.as_str()).count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sent_while_the_friend_is_offline_arrive_when_it_returns() {
    let w = Weft::new(BIN);
    let (a, _na) = w.started("a", "Ada", &[]).await;
    let (b, mut nb) = w.started("b", "Bao", &[]).await;
    w.befriend(&a, &b).await;
    let (a_id, b_id) = (w.account(&a).await, w.account(&b).await);
    // B knows A's address (address book) before it goes away.
    assert!(
        wait_for(Duration::from_secs(20), || async {
            w.status(&b).await["known_peers"] == 1
        })
        .await
    );

    nb.signal("TERM").await;
    assert!(nb.wait_exit(Duration::from_secs(5)).await.is_some());
    let sent = send_many(w.client(&a), b_id.clone(), "while away", 50).await;

    let _nb = w.up(&b, &[]).await;
    let arrived = wait_for(Duration::from_secs(10), || async {
        from_sender(&w.chat_log(&b, &a_id).await, &a_id).len() >= 50
    })
    .await;
    assert!(arrived, "messages did not arrive within 10 s of B's return");
    let got: Vec<String> = from_sender(&w.chat_log(&b, &a_id).await, &a_id)
        .into_iter()
        .map(|x| x.0)
        .collect();
    assert_eq!(got, sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_node_holds_sealed_mail_while_both_friends_are_offline() {
    let w = Weft::new(BIN);
    let (a, b, c) = (w.home("a"), w.home("b"), w.home("c"));
    for (h, n) in [(&a, "Ada"), (&b, "Bao"), (&c, "Chen")] {
        w.init(h, n).await;
    }
    let mut nc = w.up(&c, &[]).await;
    let c_addr = w.dial_addr(&c).await;
    let mut na = w.up(&a, &["--bootstrap", &c_addr]).await;
    let mut nb = w.up(&b, &["--bootstrap", &c_addr]).await;
    w.befriend(&a, &b).await;
    let (a_id, b_id) = (w.account(&a).await, w.account(&b).await);

    nb.signal("TERM").await;
    assert!(nb.wait_exit(Duration::from_secs(5)).await.is_some());
    const MARK: &str = "plaintext-marker-7c1e";
    let mut sent = Vec::new();
    let client = w.client(&a);
    for i in 0..20 {
        let v: Value = client
            .post(
                "/v1/chat/send",
                &json!({"to": b_id, "text": format!("{MARK} {i}")}),
            )
            .await
            .unwrap();
        sent.push(v["id"].as_str().unwrap().to_string());
    }
    // A shows them as stored with holders once C has taken them.
    let stored = wait_for(Duration::from_secs(30), || async {
        let log = w.chat_log(&a, &b_id).await;
        log.len() == 20 && log.iter().all(|m| m["status"] == "stored")
    })
    .await;
    assert!(
        stored,
        "messages were not left with a holder: {:?}",
        w.chat_log(&a, &b_id).await
    );
    na.signal("TERM").await;
    assert!(na.wait_exit(Duration::from_secs(5)).await.is_some());

    // C holds the mail now and never had the plaintext: scan its store
    // files while the mail is still in them (stopped, so sled has written
    // everything), before B fetches it and C deletes it.
    nc.signal("TERM").await;
    assert!(nc.wait_exit(Duration::from_secs(5)).await.is_some());
    if let Some(f) = file_containing(&c.join("store"), MARK.as_bytes()) {
        panic!("plaintext found in the holder's store file {}", f.display());
    }
    let mut nc = w.up(&c, &[]).await;
    let c_addr = w.dial_addr(&c).await;

    let _nb = w.up(&b, &["--bootstrap", &c_addr]).await;
    let arrived = wait_for(Duration::from_secs(30), || async {
        from_sender(&w.chat_log(&b, &a_id).await, &a_id).len() >= 20
    })
    .await;
    assert!(
        arrived,
        "B did not get the held messages; C log:\n{}",
        nc.log()
    );
    let got: Vec<String> = from_sender(&w.chat_log(&b, &a_id).await, &a_id)
        .into_iter()
        .map(|x| x.0)
        .collect();
    assert_eq!(got, sent);

    // Nor after serving and deleting it.
    nc.signal("TERM").await;
    assert!(nc.wait_exit(Duration::from_secs(5)).await.is_some());
    if let Some(f) = file_containing(&c.join("store"), MARK.as_bytes()) {
        panic!("plaintext found in C's store file {}", f.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_killed_mid_burst_loses_nothing_and_duplicates_nothing() {
    let w = Weft::new(BIN);
    let (a, mut na) = w.started("a", "Ada", &[]).await;
    let (b, _nb) = w.started("b", "Bao", &[]).await;
    w.befriend(&a, &b).await;
    let (a_id, b_id) = (w.account(&a).await, w.account(&b).await);
    assert!(
        wait_for(Duration::from_secs(20), || async {
            w.status(&a).await["known_peers"] == 1
        })
        .await
    );

    // Send until the node dies under us; keep every id it confirmed.
    let client = w.client(&a);
    let to = b_id.clone();
    let sender = tokio::spawn(async move {
        let mut ok = Vec::new();
        for i in 0..100_000 {
            let r: anyhow::Result<Value> = client
                .post(
                    "/v1/chat/send",
                    &json!({"to": to, "text": format!("burst {i}")}),
                )
                .await;
            match r {
                Ok(v) => ok.push(v["id"].as_str().unwrap().to_string()),
                Err(_) => break,
            }
        }
        ok
    });
    // Kill once a good part of the burst is confirmed. A message is in the
    // log before its send is answered (it is written, then flushed, then
    // confirmed) and the sender has one send in flight at a time, so 201
    // in the log means at least 200 confirmed.
    let client = w.client(&a);
    let started = wait_for(Duration::from_secs(60), || async {
        let log: Vec<Value> = client
            .get(&format!("/v1/chat/log?with={b_id}&limit=100000"))
            .await
            .unwrap_or_default();
        log.len() > 200
    })
    .await;
    assert!(started);
    na.signal("KILL").await;
    assert!(na.wait_exit(Duration::from_secs(5)).await.is_some());
    let confirmed = sender.await.unwrap();
    assert!(confirmed.len() >= 200);

    let _na = w.up(&a, &[]).await;
    let all = wait_for(Duration::from_secs(60), || async {
        let got: HashSet<String> = from_sender(&w.chat_log(&b, &a_id).await, &a_id)
            .into_iter()
            .map(|x| x.0)
            .collect();
        confirmed.iter().all(|id| got.contains(id))
    })
    .await;
    assert!(all, "some confirmed messages never arrived");
    let log = from_sender(&w.chat_log(&b, &a_id).await, &a_id);
    let unique: HashSet<&String> = log.iter().map(|x| &x.0).collect();
    assert_eq!(unique.len(), log.len(), "a message arrived twice");
    assert!(log.windows(2).all(|w| w[0].1 < w[1].1), "out of order");
}

/// Issue #17: the receiver dies after storing and flushing a batch that
/// came in a kept session, before acknowledging it (the debug build's crash
/// point `chat.session.before_ack`, `node/src/fault.rs`). The sender never
/// got the ack, so it sends the batch again (in a new session: the old one
/// died with the receiver), and the receiver recognises every id: all
/// messages once, in order, each announced once, all delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_killed_between_storing_and_acknowledging_a_session_batch_loses_and_duplicates_nothing(
) {
    let w = Weft::new(BIN);
    let (a, na) = w.started("a", "Ada", &[]).await;
    let (b, mut nb) = w.started("b", "Bao", &[]).await;
    w.befriend(&a, &b).await;
    let (a_id, b_id) = (w.account(&a).await, w.account(&b).await);
    // From his restart on, Bao dies at the third delivery in a kept session.
    nb.signal("KILL").await;
    assert!(nb.wait_exit(Duration::from_secs(5)).await.is_some());
    let mut nb = w
        .up_with_env(&b, &[], &[("WEFT_FAULT", "chat.session.before_ack@3")])
        .await;
    let mut first_life = w.events(&b);
    assert!(first_life.open(T).await);

    const N: usize = 300;
    let sent = send_many(w.client(&a), b_id.clone(), "kept", N).await;
    assert!(
        nb.wait_exit(Duration::from_secs(60)).await.is_some(),
        "Bao never reached the crash point"
    );
    assert!(
        nb.log()
            .contains("WEFT_FAULT: aborting at chat.session.before_ack"),
        "Bao died elsewhere; log:\n{}",
        nb.log()
    );
    // What Bao stored before dying it had announced.
    assert!(first_life.until_end(T).await);
    let before: HashSet<String> = first_life
        .seen
        .iter()
        .filter(|e| e["type"] == "message")
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!before.is_empty() && before.len() < N);

    // Bao comes back on a new port, so Ada cannot reach him until she is
    // told where he is: his new event stream is open before anything can
    // arrive. Ada still holds the session Bao lost; he answers that he does
    // not know it, and she opens a new one.
    // Ada is paused meanwhile, so what Bao has stored when he is back is
    // exactly what he stored before he died (he would dial her at once).
    na.signal("STOP").await;
    let nb = w.up(&b, &[]).await;
    let mut second_life = w.events(&b);
    assert!(second_life.open(T).await);
    // All Bao announced is on disk, and more: the batch he died on.
    let stored: HashSet<String> = from_sender(&w.chat_log(&b, &a_id).await, &a_id)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert!(
        before.iter().all(|id| stored.contains(id)),
        "announced but lost"
    );
    assert!(stored.len() < N);
    na.signal("CONT").await;
    w.json(&["dial", "--home", s(&a), &w.dial_addr(&b).await])
        .await;

    let complete = wait_for(Duration::from_secs(60), || async {
        let log = w.chat_log(&a, &b_id).await;
        log.len() == N
            && log
                .iter()
                .all(|m| m["status"] == "delivered" || m["status"] == "read")
    })
    .await;
    if !complete {
        let log = w.chat_log(&a, &b_id).await;
        let undelivered = log
            .iter()
            .filter(|m| m["status"] != "delivered" && m["status"] != "read")
            .count();
        panic!(
            "Ada does not see all {N} delivered ({} in her log, {undelivered} not delivered, {} in Bao's); Ada's log:\n{}\nBao's log:\n{}",
            log.len(),
            w.chat_log(&b, &a_id).await.len(),
            na.log(),
            nb.log()
        );
    }
    let log = from_sender(&w.chat_log(&b, &a_id).await, &a_id);
    let got: Vec<&String> = log.iter().map(|(id, _)| id).collect();
    assert_eq!(
        got,
        sent.iter().collect::<Vec<_>>(),
        "lost, doubled or out of order"
    );
    // Every message announced once: what Bao had not stored is announced
    // now; what he had stored (the batch he never acknowledged among it)
    // came again and was recognised, not announced a second time.
    let want: HashSet<&str> = sent
        .iter()
        .map(String::as_str)
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(
        second_life
            .until(T, |seen| {
                seen.iter().filter(|e| e["type"] == "message").count() >= want.len()
            })
            .await
    );
    let after: Vec<&str> = second_life
        .seen
        .iter()
        .filter(|e| e["type"] == "message")
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    let again = after.iter().filter(|id| !want.contains(*id)).count();
    assert_eq!(
        again, 0,
        "{again} messages Bao had stored were announced again"
    );
    assert_eq!(after.len(), want.len(), "a message was announced twice");
}
