//! A hostile peer ("Mallory", a hand-built libp2p swarm that speaks Weft's
//! protocols with its own rules) attacks a node's chat and mailbox: garbage
//! and oversized frames, forged senders (in a session and in held mail),
//! replays, non-friend messages, oversized texts, forged mailbox fetches, and
//! corrupted held mail. Every attack is refused; the node keeps running and
//! its store stays intact.

use std::time::Duration;

use libp2p::identity::Keypair;
use serde_json::Value;
use weft_protocol::{
    chat::{item_hash, ChatKind, DeliveryItem},
    mailbox::{MailboxAuth, MailboxReply, MailboxRequest},
    AccountId, AccountKey, Card,
};
use weft_tests::hostile::{connect, frame};
use weft_tests::mallory::{
    self, chat_request, deliver, deliver_items, deliver_own, mailbox_request, sealed, serve_mail,
    text,
};
use weft_tests::{s, Weft};

use crate::BIN;

const T: Duration = Duration::from_secs(20);

/// Mallory posing as a holder: connected to the node at `home` and
/// identified by a valid card, so that the node asks it for mail.
async fn holder(w: &Weft, home: &std::path::Path) -> (AccountKey, libp2p::Swarm<mallory::Mallory>) {
    let mallory = AccountKey::generate().unwrap();
    let device = Keypair::generate_ed25519();
    let card = mallory::card(&mallory, &device, "Holder");
    let mut m = mallory::swarm(device);
    let node = connect(&mut m, &w.dial_addr(home).await).await;
    m.behaviour_mut().card.send_request(&node, card);
    (mallory, m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_chat_and_mailbox_traffic_is_refused() {
    let w = Weft::new(BIN);
    let (a, _na) = w.started("a", "Ada", &[]).await;
    let (b, _nb) = w.started("b", "Bao", &[]).await;
    // Ada's event stream, connected before the friendship so that Bao's
    // acceptance (a `friend_accepted` event) proves it is live.
    let mut events = w.events(&a);
    w.befriend(&a, &b).await;
    let a_id: AccountId = w.account(&a).await.parse().unwrap();
    let b_id: AccountId = w.account(&b).await.parse().unwrap();
    assert!(
        events
            .until(T, |seen| seen
                .iter()
                .any(|e| e["type"] == "friend_accepted"))
            .await,
        "Ada's event stream never showed the friendship: {:?}",
        events.seen
    );

    let mallory = AccountKey::generate().unwrap();
    let mut m = mallory::swarm(Keypair::generate_ed25519());
    let node = connect(&mut m, &w.dial_addr(&a).await).await;

    // Garbage, oversized and truncated frames: the stream is dropped.
    assert!(chat_request(&mut m, node, vec![1, 2, 3]).await.is_none());
    assert!(chat_request(&mut m, node, frame(&vec![7u8; 70_000]))
        .await
        .is_none());
    assert!(chat_request(&mut m, node, frame(&[0u8; 200]))
        .await
        .is_none());

    // A session that claims to come from Bao but is keyed by Mallory: dropped.
    let fake = sealed(&mallory, b_id, a_id, 1, text("I am Bao"));
    assert!(deliver(&mut m, node, &mallory, b_id, a_id, vec![fake])
        .await
        .is_none());

    // Inside Mallory's own session: a message claiming to be from Bao is rejected...
    let forged = sealed(&mallory, b_id, a_id, 2, text("forged: pay me"));
    let truncated = {
        let mut x = sealed(&mallory, mallory.account_id(), a_id, 3, text("cut"));
        x.truncate(x.len() - 5);
        x
    };
    let oversized = sealed(
        &mallory,
        mallory.account_id(),
        a_id,
        4,
        text(&"x".repeat(17 * 1024)),
    );
    // (One session each: a node stops reading a session at its first bad item.)
    for bad in [&forged, &truncated, &oversized] {
        let ack = deliver_own(&mut m, node, &mallory, a_id, vec![bad.clone()])
            .await
            .expect("ack");
        assert!(
            ack.rejected.contains(&item_hash(bad)),
            "bad item not rejected"
        );
    }

    // The same in plain items (a body a session carries without a seal
    // of its own): the session's key must speak for the body's sender, the
    // body must be for Ada, and it must decode.
    let plain = |from: AccountId, to: AccountId, seq: u64, t: &str| {
        mallory::body(from, to, seq, text(t)).encode().unwrap()
    };
    for bad in [
        plain(b_id, a_id, 8, "plain forged: pay me"),
        plain(mallory.account_id(), b_id, 9, "plain, for someone else"),
        vec![0xff; 300],
    ] {
        let ack = deliver_items(
            &mut m,
            node,
            &mallory,
            mallory.account_id(),
            a_id,
            vec![DeliveryItem::Plain(bad.clone())],
        )
        .await
        .expect("ack");
        assert!(
            ack.rejected.contains(&item_hash(&bad)),
            "bad plain item not rejected"
        );
    }

    // ...a text from a non-friend is taken (so Mallory stops retrying) but never shown...
    let spam = sealed(&mallory, mallory.account_id(), a_id, 5, text("buy now"));
    let ack = deliver_own(&mut m, node, &mallory, a_id, vec![spam.clone()])
        .await
        .unwrap();
    assert!(ack.accepted.contains(&item_hash(&spam)));

    // ...and a replayed friend request is one request.
    let card = Card::new(
        &mallory,
        mallory.certify_device([5; 32], 1),
        "Mallory",
        vec![],
        1,
    )
    .unwrap();
    let req = sealed(
        &mallory,
        mallory.account_id(),
        a_id,
        6,
        ChatKind::FriendRequest {
            card,
            greeting: "hi".into(),
        },
    );
    for _ in 0..3 {
        let ack = deliver_own(&mut m, node, &mallory, a_id, vec![req.clone()])
            .await
            .unwrap();
        assert!(ack.accepted.contains(&item_hash(&req)));
    }
    // One `friend_request` event (the replays are recognised by id, not
    // merely stored under the same contact key); the barrier is Bao's
    // message below, which Ada's node emits after anything the replays caused.
    let mallory_id = mallory.account_id().to_string();
    let requests = w.json(&["contacts", "requests", "--home", s(&a)]).await;
    let from_mallory = requests
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"] == "Mallory")
        .count();
    assert_eq!(from_mallory, 1);
    let convs = w.json(&["chat", "list", "--home", s(&a)]).await;
    assert!(
        convs.as_array().unwrap().is_empty(),
        "non-friend or forged text shown: {convs}"
    );

    // Mailbox: an honest deposit is held...
    let ok = MailboxRequest::Deposit {
        to: b_id,
        items: vec![sealed(
            &mallory,
            mallory.account_id(),
            b_id,
            7,
            text("hold me"),
        )],
    };
    let reply = mailbox_request(&mut m, node, &ok).await;
    assert!(
        matches!(reply, MailboxReply::Deposited { accepted: 1 }),
        "an honest deposit was not held: {reply:?}"
    );
    // ...deposits over the item size limit and fetches not signed by the
    // owner are refused, each for its own reason.
    let big = MailboxRequest::Deposit {
        to: b_id,
        items: vec![vec![0u8; 30 * 1024]],
    };
    match mailbox_request(&mut m, node, &big).await {
        MailboxReply::Refused { reason } => {
            assert_eq!(reason, "too many or too large items", "wrong refusal")
        }
        other => panic!("an oversized deposit was not refused: {other:?}"),
    }
    let mut auth = MailboxAuth::new(&mallory, node.to_bytes(), weft_protocol::unix_now(), 0);
    auth.account = b_id;
    let steal = MailboxRequest::Fetch { auth, after: None };
    match mailbox_request(&mut m, node, &steal).await {
        MailboxReply::Refused { reason } => assert_eq!(
            reason, "fetch is not signed by the mailbox owner",
            "wrong refusal"
        ),
        other => panic!("a forged fetch was not refused: {other:?}"),
    }

    // Ada is unhurt: same identity, her friend still gets through.
    assert_eq!(w.status(&a).await["name"], "Ada");
    let sent: Value = w
        .client(&b)
        .post(
            "/v1/chat/send",
            &serde_json::json!({"to": a_id.to_string(), "text": "still here?"}),
        )
        .await
        .unwrap();
    let id = sent["id"].as_str().unwrap().to_string();
    assert!(
        w.log_shows(&a, &b_id.to_string(), T, |m| m["id"] == id.as_str())
            .await
    );
    assert!(
        events
            .until(T, |seen| seen
                .iter()
                .any(|e| e["type"] == "message" && e["id"] == id.as_str()))
            .await,
        "Bao's message never showed on Ada's event stream"
    );
    let announced = events.count("friend_request", |e| e["account_id"] == mallory_id.as_str());
    assert_eq!(
        announced, 1,
        "a replayed friend request was announced {announced} times"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_mail_from_a_holder_is_rejected() {
    let w = Weft::new(BIN);
    let (b, _nb) = w.started("b", "Bao", &[]).await;
    let b_id: AccountId = w.account(&b).await.parse().unwrap();

    // Mallory poses as a holder and serves corrupted sealed messages.
    let (mallory, mut m) = holder(&w, &b).await;

    let mut corrupted = sealed(&mallory, mallory.account_id(), b_id, 1, text("tampered"));
    let mid = corrupted.len() / 2;
    corrupted[mid] ^= 0xff;
    let deletes = serve_mail(&mut m, vec![corrupted.clone()]).await;
    // The corrupted item can never be opened: Bao refuses it and asks the
    // holder to drop it rather than keep it in his mailbox.
    assert_eq!(deletes, vec![item_hash(&corrupted)]);
    let convs = w.json(&["chat", "list", "--home", s(&b)]).await;
    assert!(convs.as_array().unwrap().is_empty());
    assert_eq!(w.status(&b).await["name"], "Bao");
}

/// Mail fetched from a holder comes with no session, so the check that the
/// account a message claims is the one whose key sealed it is the only
/// thing between a holder and a forged message from a friend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_sender_in_held_mail_is_refused() {
    let w = Weft::new(BIN);
    let (a, mut na) = w.started("a", "Ada", &[]).await;
    let (b, mut nb) = w.started("b", "Bao", &[]).await;
    w.befriend(&a, &b).await;
    let a_id: AccountId = w.account(&a).await.parse().unwrap();
    let b_id: AccountId = w.account(&b).await.parse().unwrap();
    // Ada's real key, to seal an honest control message as she would.
    let ada = weft_node::Home::new(&a).load_identity().unwrap().key;
    // Both go away; Bao comes back alone, so the first peer it meets (and
    // asks for mail) is Mallory.
    for n in [&mut na, &mut nb] {
        n.signal("TERM").await;
        assert!(n.wait_exit(Duration::from_secs(5)).await.is_some());
    }
    let _nb = w.up(&b, &[]).await;
    let (mallory, mut m) = holder(&w, &b).await;

    // Sealed by Mallory, claiming to be from Ada (Bao's friend).
    let forged = sealed(&mallory, a_id, b_id, 1, text("forged: pay me"));
    // Sealed by Ada: the holder path works, so the refusal above means something.
    let honest = sealed(&ada, a_id, b_id, 2, text("honest held mail"));
    let deletes = serve_mail(&mut m, vec![forged.clone(), honest.clone()]).await;
    // Both are done with: the honest one stored, the forged one refused
    // for good (the log below shows which was which).
    assert_eq!(
        deletes,
        vec![item_hash(&forged), item_hash(&honest)],
        "Bao did not finish with both held items"
    );
    let log = w.chat_log(&b, &a_id.to_string()).await;
    let texts: Vec<&str> = log.iter().filter_map(|m| m["text"].as_str()).collect();
    assert!(
        !texts.iter().any(|t| t.contains("forged")),
        "a forged message is in Bao's log: {texts:?}"
    );
    assert!(texts.contains(&"honest held mail"), "{texts:?}");
}

/// `/weft/chat-stream/1`, where kept chat sessions deliver: a well-formed
/// request is answered on the stream (here: the node holds no such
/// session), and the stream stays open for the next; garbage, or a frame
/// declaring more than the limit, closes it; the node goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_chat_streams_are_answered_or_closed() {
    use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
    use weft_protocol::chat::{ChatReply, ChatRequest};
    use weft_protocol::Kind;

    let w = Weft::new(BIN);
    let (a, _na) = w.started("a", "Ada", &[]).await;
    let mut sw = weft_tests::hostile::tcp_swarm(Keypair::generate_ed25519(), |_| {
        libp2p_stream::Behaviour::new()
    });
    let control = sw.behaviour().new_control();
    let node = connect(&mut sw, &w.dial_addr(&a).await).await;
    let driver = tokio::spawn(async move {
        loop {
            sw.select_next_some().await;
        }
    });
    let proto = libp2p::StreamProtocol::new("/weft/chat-stream/1");
    let open = || {
        let mut c = control.clone();
        let p = proto.clone();
        async move {
            tokio::time::timeout(T, c.open_stream(node, p))
                .await
                .expect("opening a chat stream timed out")
                .expect("the node accepts chat streams")
        }
    };
    async fn answer(s: &mut libp2p::Stream) -> Vec<u8> {
        tokio::time::timeout(T, weft_node::net::frame::read_frame(s, 1 << 20))
            .await
            .expect("no answer in time")
            .expect("a whole framed answer")
    }
    async fn closed(s: &mut libp2p::Stream) -> bool {
        let mut rest = Vec::new();
        // Ends (EOF or reset) once the node drops the stream; the wait is
        // shorter than the 20 s after which the node closes idle streams.
        tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest))
            .await
            .is_ok()
            && rest.is_empty()
    }

    let mut cs = open().await;
    for nonce in 1..=2u64 {
        let req = weft_protocol::encode(
            Kind::ChatRequest,
            &ChatRequest::Resume {
                session: [7; 16],
                nonce,
                sealed: vec![0; 64],
            },
        )
        .unwrap();
        cs.write_all(&frame(&req)).await.unwrap();
        cs.flush().await.unwrap();
        let reply: ChatReply =
            weft_protocol::decode(Kind::ChatReply, &answer(&mut cs).await).unwrap();
        assert_eq!(reply, ChatReply::UnknownSession, "request {nonce}");
    }
    cs.write_all(&frame(b"not a chat request")).await.unwrap();
    cs.flush().await.unwrap();
    assert!(closed(&mut cs).await, "garbage did not close the stream");

    let mut cs = open().await;
    cs.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    cs.flush().await.unwrap();
    assert!(
        closed(&mut cs).await,
        "an oversized frame did not close the stream"
    );

    // The node goes on.
    let status = w.json(&["status", "--home", s(&a)]).await;
    assert!(status["peer_id"].is_string(), "{status}");
    driver.abort();
}
