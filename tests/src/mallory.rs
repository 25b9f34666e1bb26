//! Mallory: a hand-built libp2p peer that speaks Weft's card, chat and
//! mailbox protocols by its own rules. Tests use it to deliver sessions the
//! real client would never build (forged senders, replays, garbage) and to
//! pose as a mail holder that serves whatever the test gives it.

use futures::StreamExt;
use libp2p::{
    identity::Keypair,
    request_response::{self, ProtocolSupport},
    swarm::{NetworkBehaviour, SwarmEvent},
    PeerId, Swarm,
};
use weft_protocol::{
    chat::{ChatBody, ChatKind, ChatReply, ChatRequest, Delivery, DeliveryAck, DeliveryItem},
    mailbox::{MailboxReply, MailboxRequest},
    seal, AccountId, AccountKey, Card, Kind,
};

use crate::hostile::{self, frame, raw, raw_answer, tcp_swarm, unframe, RawCodec, HOSTILE_TIMEOUT};

/// Card, chat (outbound) and mailbox (both ways) over raw bytes.
#[derive(NetworkBehaviour)]
pub struct Mallory {
    /// `/weft/card/1`, typed: Mallory may present a valid card.
    pub card: request_response::Behaviour<weft_node::net::card::CardCodec>,
    /// `/weft/chat/1`, raw bytes.
    pub chat: request_response::Behaviour<RawCodec>,
    /// `/weft/mailbox/1`, raw bytes.
    pub mailbox: request_response::Behaviour<RawCodec>,
    /// `/weft/file/1` (answering), raw bytes.
    pub file: request_response::Behaviour<RawCodec>,
}

/// Mallory's swarm with `key` as its device key.
pub fn swarm(key: Keypair) -> Swarm<Mallory> {
    tcp_swarm(key, |_| Mallory {
        card: hostile::card(),
        chat: raw("/weft/chat/1", ProtocolSupport::Outbound),
        mailbox: raw("/weft/mailbox/1", ProtocolSupport::Full),
        file: raw("/weft/file/1", ProtocolSupport::Inbound),
    })
}

/// A card for `account` that certifies `device` (a real one, so the node
/// identifies the peer as `account`).
pub fn card(account: &AccountKey, device: &Keypair, name: &str) -> Card {
    let device_pub = device
        .public()
        .try_into_ed25519()
        .expect("ed25519 device key")
        .to_bytes();
    let now = weft_protocol::unix_now();
    Card::new(
        account,
        account.certify_device(device_pub, now),
        name,
        vec![],
        now,
    )
    .expect("card")
}

/// Sends one chat request; returns the answer's frame body, or None if the
/// node dropped the stream.
pub async fn chat_request(m: &mut Swarm<Mallory>, peer: PeerId, bytes: Vec<u8>) -> Option<Vec<u8>> {
    let id = m.behaviour_mut().chat.send_request(&peer, bytes);
    let response = raw_answer(m, id, HOSTILE_TIMEOUT, "chat answer", |e| match e {
        MalloryEvent::Chat(e) => Some(e),
        _ => None,
    })
    .await?;
    // A node that drops the stream shows up as an empty answer.
    (!response.is_empty()).then(|| unframe(&response))
}

/// Sends one mailbox request and decodes the answer.
pub async fn mailbox_request(
    m: &mut Swarm<Mallory>,
    peer: PeerId,
    req: &MailboxRequest,
) -> MailboxReply {
    let bytes = weft_protocol::encode(Kind::MailboxRequest, req).expect("encode");
    let id = m.behaviour_mut().mailbox.send_request(&peer, frame(&bytes));
    let response = raw_answer(m, id, HOSTILE_TIMEOUT, "mailbox answer", |e| match e {
        MalloryEvent::Mailbox(e) => Some(e),
        _ => None,
    })
    .await
    .expect("mailbox request failed");
    weft_protocol::decode(Kind::MailboxReply, &unframe(&response)).expect("a mailbox reply")
}

/// A chat body; its id is [`ChatBody::id`].
pub fn body(claimed_from: AccountId, to: AccountId, seq: u64, kind: ChatKind) -> ChatBody {
    ChatBody {
        from: claimed_from,
        to,
        seq,
        sent_at_ms: seq,
        kind,
    }
}

/// `body` sealed by `from` (who may not be the account the body claims).
pub fn seal_body(from: &AccountKey, body: &ChatBody) -> Vec<u8> {
    let plain = weft_protocol::encode(Kind::Chat, body).expect("encode");
    seal::seal(from, &body.to, &plain).expect("seal")
}

/// A message sealed by `from` that claims to come from `claimed_from`.
pub fn sealed(
    from: &AccountKey,
    claimed_from: AccountId,
    to: AccountId,
    seq: u64,
    kind: ChatKind,
) -> Vec<u8> {
    seal_body(from, &body(claimed_from, to, seq, kind))
}

/// A plain text.
pub fn text(t: &str) -> ChatKind {
    ChatKind::Text {
        text: t.into(),
        reply_to: None,
    }
}

/// One IK session keyed by `key`, claiming `session_from`, carrying `items`;
/// the node's ack, or None if it dropped the session.
pub async fn deliver(
    m: &mut Swarm<Mallory>,
    peer: PeerId,
    key: &AccountKey,
    session_from: AccountId,
    to: AccountId,
    items: Vec<Vec<u8>>,
) -> Option<DeliveryAck> {
    let items = items.into_iter().map(DeliveryItem::Sealed).collect();
    deliver_items(m, peer, key, session_from, to, items).await
}

/// [`deliver`] with items of either kind: sealed, or plain bodies that only
/// the session protects.
pub async fn deliver_items(
    m: &mut Swarm<Mallory>,
    peer: PeerId,
    key: &AccountKey,
    session_from: AccountId,
    to: AccountId,
    items: Vec<DeliveryItem>,
) -> Option<DeliveryAck> {
    let payload = weft_protocol::encode(
        Kind::Delivery,
        &Delivery {
            from: session_from,
            items,
            devices: None,
        },
    )
    .expect("encode");
    let (session, msg1) = seal::initiate(key, &to, &payload).expect("initiate");
    let req = weft_protocol::encode(Kind::ChatRequest, &ChatRequest::Open(msg1)).expect("encode");
    let reply = chat_request(m, peer, frame(&req)).await?;
    let ChatReply::Open(msg2) = weft_protocol::decode(Kind::ChatReply, &reply).ok()? else {
        return None;
    };
    let ack = session.finish(&msg2).ok()?;
    weft_protocol::decode(Kind::DeliveryAck, &ack).ok()
}

/// [`deliver`] in a session of `key`'s own account.
pub async fn deliver_own(
    m: &mut Swarm<Mallory>,
    peer: PeerId,
    key: &AccountKey,
    to: AccountId,
    items: Vec<Vec<u8>>,
) -> Option<DeliveryAck> {
    deliver(m, peer, key, key.account_id(), to, items).await
}

/// Plays a mail holder until the node asks to delete: answers its first
/// fetch with `items` and later ones with nothing, checks every request is
/// signed for this holder, and returns the hashes the node asked to delete
/// (the items it is done with: stored, or refused for good).
pub async fn serve_mail(m: &mut Swarm<Mallory>, items: Vec<Vec<u8>>) -> Vec<[u8; 32]> {
    let mut to_serve = Some(items);
    let deadline = tokio::time::Instant::now() + HOSTILE_TIMEOUT;
    loop {
        let ev = tokio::time::timeout_at(deadline, m.select_next_some())
            .await
            .expect("the node never fetched its mail");
        let SwarmEvent::Behaviour(MalloryEvent::Mailbox(request_response::Event::Message {
            message:
                request_response::Message::Request {
                    request, channel, ..
                },
            ..
        })) = ev
        else {
            continue;
        };
        let req: MailboxRequest =
            weft_protocol::decode(Kind::MailboxRequest, &unframe(&request)).expect("request");
        let me = m.local_peer_id().to_bytes();
        let now = weft_protocol::unix_now();
        let (reply, deleted) = match req {
            MailboxRequest::Fetch { auth, .. } => {
                assert!(auth.verify(&me, 0, now).is_ok(), "unsigned fetch");
                let items = to_serve.take().unwrap_or_default();
                (MailboxReply::Items { items, more: false }, None)
            }
            MailboxRequest::Delete { auth, items } => {
                assert!(auth.verify(&me, 1, now).is_ok(), "unsigned delete");
                (MailboxReply::Deleted { count: 0 }, Some(items))
            }
            MailboxRequest::Deposit { .. } => (
                MailboxReply::Refused {
                    reason: "no".into(),
                },
                None,
            ),
        };
        let bytes = weft_protocol::encode(Kind::MailboxReply, &reply).expect("encode");
        let _ = m
            .behaviour_mut()
            .mailbox
            .send_response(channel, frame(&bytes));
        if let Some(items) = deleted {
            return items;
        }
    }
}

/// Plays a file source until `done` resolves: answers every `/weft/file/1`
/// request with what `answer` makes of it (`None`: close the stream).
/// Returns `done`'s output.
pub async fn serve_files<T>(
    m: &mut Swarm<Mallory>,
    mut answer: impl FnMut(weft_protocol::file::FileRequest) -> Option<weft_protocol::file::FileReply>,
    done: impl std::future::Future<Output = T>,
) -> T {
    let mut done = std::pin::pin!(done);
    loop {
        tokio::select! {
            out = &mut done => return out,
            ev = m.select_next_some() => {
                let SwarmEvent::Behaviour(MalloryEvent::File(request_response::Event::Message {
                    message: request_response::Message::Request { request, channel, .. },
                    ..
                })) = ev
                else {
                    continue;
                };
                let Ok(req) = weft_protocol::decode(Kind::FileRequest, &unframe(&request)) else {
                    continue;
                };
                if let Some(reply) = answer(req) {
                    let bytes = weft_protocol::encode(Kind::FileReply, &reply).expect("encode");
                    let _ = m.behaviour_mut().file.send_response(channel, frame(&bytes));
                }
            }
        }
    }
}
