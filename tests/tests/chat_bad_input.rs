//! A hostile peer ("Mallory", a hand-built libp2p swarm that speaks Weft's
//! protocols with its own rules) attacks a node's chat and mailbox: garbage
//! and oversized frames, forged senders, replays, non-friend messages,
//! oversized texts, forged mailbox fetches, and corrupted held mail. Every
//! attack is refused; the node keeps running and its store stays intact.

use std::time::Duration;

use futures::StreamExt;
use libp2p::{
    identity::Keypair,
    noise, request_response,
    swarm::{NetworkBehaviour, SwarmEvent},
    tcp, yamux, Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder,
};
use serde_json::Value;
use weft_protocol::{
    chat::{item_hash, ChatBody, ChatKind, Delivery, DeliveryAck},
    mailbox::{MailboxAuth, MailboxReply, MailboxRequest},
    seal, AccountId, AccountKey, Card, Kind,
};
use weft_tests::hostile::{frame, unframe, RawCodec};
use weft_tests::{wait_for, Weft};

const BIN: &str = env!("CARGO_BIN_EXE_weft-under-test");
const T: Duration = Duration::from_secs(20);

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[derive(NetworkBehaviour)]
struct Mallory {
    card: request_response::Behaviour<weft_node::net::card::CardCodec>,
    chat: request_response::Behaviour<RawCodec>,
    mailbox: request_response::Behaviour<RawCodec>,
}

fn build(key: Keypair) -> Swarm<Mallory> {
    let cfg = || request_response::Config::default().with_request_timeout(Duration::from_secs(10));
    SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| Mallory {
            card: request_response::Behaviour::new(
                [(
                    StreamProtocol::new("/weft/card/1"),
                    request_response::ProtocolSupport::Full,
                )],
                cfg(),
            ),
            chat: request_response::Behaviour::with_codec(
                RawCodec,
                [(
                    StreamProtocol::new("/weft/chat/1"),
                    request_response::ProtocolSupport::Outbound,
                )],
                cfg(),
            ),
            mailbox: request_response::Behaviour::with_codec(
                RawCodec,
                [(
                    StreamProtocol::new("/weft/mailbox/1"),
                    request_response::ProtocolSupport::Full,
                )],
                cfg(),
            ),
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

async fn connect(m: &mut Swarm<Mallory>, addr: &str) -> PeerId {
    m.dial(addr.parse::<Multiaddr>().unwrap()).unwrap();
    loop {
        let ev = tokio::time::timeout(T, m.select_next_some()).await;
        if let SwarmEvent::ConnectionEstablished { peer_id, .. } = ev.expect("connect") {
            return peer_id;
        }
    }
}

/// Sends one chat request; returns the response bytes, or None if the node dropped it.
async fn chat_request(m: &mut Swarm<Mallory>, peer: PeerId, bytes: Vec<u8>) -> Option<Vec<u8>> {
    let id = m.behaviour_mut().chat.send_request(&peer, bytes);
    loop {
        match tokio::time::timeout(T, m.select_next_some())
            .await
            .expect("chat answer")
        {
            SwarmEvent::Behaviour(MalloryEvent::Chat(request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            })) if request_id == id => {
                // A node that drops the stream shows up as an empty answer.
                return (!response.is_empty()).then(|| unframe(&response));
            }
            SwarmEvent::Behaviour(MalloryEvent::Chat(
                request_response::Event::OutboundFailure { request_id, .. },
            )) if request_id == id => return None,
            _ => {}
        }
    }
}

async fn mailbox_request(
    m: &mut Swarm<Mallory>,
    peer: PeerId,
    req: &MailboxRequest,
) -> MailboxReply {
    let bytes = weft_protocol::encode(Kind::MailboxRequest, req).unwrap();
    let id = m.behaviour_mut().mailbox.send_request(&peer, frame(&bytes));
    loop {
        match tokio::time::timeout(T, m.select_next_some())
            .await
            .expect("mailbox answer")
        {
            SwarmEvent::Behaviour(MalloryEvent::Mailbox(request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            })) if request_id == id => {
                return weft_protocol::decode(Kind::MailboxReply, &unframe(&response)).unwrap()
            }
            SwarmEvent::Behaviour(MalloryEvent::Mailbox(
                request_response::Event::OutboundFailure { request_id, .. },
            )) if request_id == id => panic!("mailbox request failed"),
            _ => {}
        }
    }
}

fn sealed(
    from: &AccountKey,
    claimed_from: AccountId,
    to: AccountId,
    seq: u64,
    kind: ChatKind,
) -> Vec<u8> {
    let body = ChatBody {
        from: claimed_from,
        to,
        seq,
        sent_at_ms: seq,
        kind,
    };
    let plain = weft_protocol::encode(Kind::Chat, &body).unwrap();
    seal::seal(from, &to, &plain).unwrap()
}

/// One IK session from `key` to `to` carrying `items`; the node's ack.
async fn deliver(
    m: &mut Swarm<Mallory>,
    peer: PeerId,
    key: &AccountKey,
    session_from: AccountId,
    to: AccountId,
    items: Vec<Vec<u8>>,
) -> Option<DeliveryAck> {
    let payload = weft_protocol::encode(
        Kind::Delivery,
        &Delivery {
            from: session_from,
            items,
        },
    )
    .unwrap();
    let (session, msg1) = seal::initiate(key, &to, &payload).unwrap();
    let msg2 = chat_request(m, peer, frame(&msg1)).await?;
    let ack = session.finish(&msg2).ok()?;
    weft_protocol::decode(Kind::DeliveryAck, &ack).ok()
}

fn text(t: &str) -> ChatKind {
    ChatKind::Text {
        text: t.into(),
        reply_to: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_chat_and_mailbox_traffic_is_refused() {
    let w = Weft::new(BIN);
    let (a, b) = (w.home("a"), w.home("b"));
    w.init(&a, "Ada").await;
    w.init(&b, "Bao").await;
    let _na = w.up(&a, &[]).await;
    let _nb = w.up(&b, &[]).await;
    w.befriend(&a, &b).await;
    let a_id: AccountId = w.account(&a).await.parse().unwrap();
    let b_id: AccountId = w.account(&b).await.parse().unwrap();

    let mallory = AccountKey::generate().unwrap();
    let mut m = build(Keypair::generate_ed25519());
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
    let ack = deliver(
        &mut m,
        node,
        &mallory,
        mallory.account_id(),
        a_id,
        vec![forged.clone(), truncated.clone(), oversized.clone()],
    )
    .await
    .expect("ack");
    for bad in [&forged, &truncated, &oversized] {
        assert!(
            ack.rejected.contains(&item_hash(bad)),
            "bad item not rejected"
        );
    }

    // ...a text from a non-friend is taken (so Mallory stops retrying) but never shown...
    let spam = sealed(&mallory, mallory.account_id(), a_id, 5, text("buy now"));
    let ack = deliver(
        &mut m,
        node,
        &mallory,
        mallory.account_id(),
        a_id,
        vec![spam.clone()],
    )
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
        let ack = deliver(
            &mut m,
            node,
            &mallory,
            mallory.account_id(),
            a_id,
            vec![req.clone()],
        )
        .await
        .unwrap();
        assert!(ack.accepted.contains(&item_hash(&req)));
    }
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

    // Mailbox: deposits over the item size limit and fetches not signed by the owner.
    let big = MailboxRequest::Deposit {
        to: b_id,
        items: vec![vec![0u8; 30 * 1024]],
    };
    assert!(matches!(
        mailbox_request(&mut m, node, &big).await,
        MailboxReply::Refused { .. }
    ));
    let mut auth = MailboxAuth::new(&mallory, node.to_bytes(), weft_protocol::unix_now(), 0);
    auth.account = b_id;
    let steal = MailboxRequest::Fetch { auth };
    assert!(matches!(
        mailbox_request(&mut m, node, &steal).await,
        MailboxReply::Refused { .. }
    ));

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
        wait_for(T, || async {
            w.chat_log(&a, &b_id.to_string())
                .await
                .iter()
                .any(|m| m["id"] == id.as_str())
        })
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_mail_from_a_holder_is_rejected() {
    let w = Weft::new(BIN);
    let b = w.home("b");
    w.init(&b, "Bao").await;
    let _nb = w.up(&b, &[]).await;
    let b_id: AccountId = w.account(&b).await.parse().unwrap();

    // Mallory poses as a holder: it identifies itself with a valid card so Bao
    // asks it for mail, then serves corrupted sealed messages.
    let mallory = AccountKey::generate().unwrap();
    let device = Keypair::generate_ed25519();
    let device_pub = device.public().try_into_ed25519().unwrap().to_bytes();
    let now = weft_protocol::unix_now();
    let card = Card::new(
        &mallory,
        mallory.certify_device(device_pub, now),
        "Holder",
        vec![],
        now,
    )
    .unwrap();
    let mut m = build(device);
    let node = connect(&mut m, &w.dial_addr(&b).await).await;
    m.behaviour_mut().card.send_request(&node, card);

    let mut corrupted = sealed(&mallory, mallory.account_id(), b_id, 1, text("tampered"));
    let mid = corrupted.len() / 2;
    corrupted[mid] ^= 0xff;
    let mut served = false;
    let mut deletes = None;
    let deadline = tokio::time::Instant::now() + T;
    while deletes.is_none() {
        let ev = tokio::time::timeout_at(deadline, m.select_next_some())
            .await
            .expect("Bao never fetched mail");
        if let SwarmEvent::Behaviour(MalloryEvent::Mailbox(request_response::Event::Message {
            message:
                request_response::Message::Request {
                    request, channel, ..
                },
            ..
        })) = ev
        {
            let req: MailboxRequest =
                weft_protocol::decode(Kind::MailboxRequest, &unframe(&request)).unwrap();
            let reply = match req {
                MailboxRequest::Fetch { auth } => {
                    assert!(auth
                        .verify(&m.local_peer_id().to_bytes(), 0, weft_protocol::unix_now())
                        .is_ok());
                    let items = if served {
                        vec![]
                    } else {
                        vec![corrupted.clone()]
                    };
                    served = true;
                    MailboxReply::Items { items, more: false }
                }
                MailboxRequest::Delete { items, .. } => {
                    deletes = Some(items);
                    MailboxReply::Deleted { count: 0 }
                }
                MailboxRequest::Deposit { .. } => MailboxReply::Refused {
                    reason: "no".into(),
                },
            };
            let bytes = weft_protocol::encode(Kind::MailboxReply, &reply).unwrap();
            let _ = m
                .behaviour_mut()
                .mailbox
                .send_response(channel, frame(&bytes));
        }
    }
    // The corrupted item was not accepted, so Bao does not ask to delete it.
    assert_eq!(deletes.unwrap(), Vec::<[u8; 32]>::new());
    let convs = w.json(&["chat", "list", "--home", s(&b)]).await;
    assert!(convs.as_array().unwrap().is_empty());
    assert_eq!(w.status(&b).await["name"], "Bao");
}
