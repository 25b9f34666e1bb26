//! Contacts and 1:1 chat: the service behind `weft contacts` and `weft chat`.
//!
//! One promise shapes everything here: whatever the user is told was "sent"
//! is in the outbox on disk first (persist, flush, then answer), and whatever
//! we acknowledge to a peer is on disk first too, because the peer deletes
//! its copy on our acknowledgement.
//!
//! [`Chat`] is one handle; its `impl` is spread over this folder by concern:
//!
//! | file | what of `impl Chat` it holds |
//! |---|---|
//! | `mod.rs` | the handle, [`ChatError`], [`ChatEvent`], the views, and the small accessors every file uses (`subscribe`, `my_card`) |
//! | `service.rs` | `start`: resume a delivery worker per queued recipient, then the background loop (peers coming online, mail checks, publishing our account record) |
//! | `contacts.rs` | friend requests, `accept` / `reject` / `block` / `remark` / `delete`, listing, and `resolve` (name, id or link to an account) |
//! | `send.rs` | `send`, `recall`, and `enqueue` (seal, persist in log + outbox, wake delivery) that every outgoing kind goes through |
//! | `log.rs` | `log` (which also sends read receipts) and `conversations` |
//! | `inbound.rs` | the `/weft/chat/1` responder: open and check what a peer delivers, have it applied, then acknowledge |
//! | `apply.rs` | applying a checked message to the store, once per id (and the log lines for payments) |
//! | `mailbox.rs` | the `/weft/mailbox/1` holder side (quotas, deposit, fetch, delete) and fetching our own mail from holders |
//! | `delivery.rs` | the per-recipient worker: reach a device, one round trip in the session kept with it (or a Noise IK handshake that opens one), or leave copies with holders and back off; also the card helpers (`dial_card`, `lookup_card`) other services use |
//! | `session.rs` | the kept sessions, both directions: lifetime, caps, which device a session is with |
//!
//! Storage is in `crate::store::chat` and `crate::store::mailbox`; the HTTP
//! routes are in `crate::api`; `crate::inbound` routes peers' requests here.

mod apply;
mod contacts;
mod delivery;
mod endpoints;
mod inbound;
mod log;
mod mailbox;
mod names;
mod own;
mod send;
mod service;
mod session;
mod stream;

pub(crate) use apply::pay_line;

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, Notify};
use weft_protocol::{chat::MAX_GREETING_BYTES, seal::SealError, AccountId, AccountKey, Card};

use crate::context::Context;
use crate::events::{EventFeed, EventRx};
use crate::net::Net;
use crate::store::chat::{ContactState, MsgStatus};
use crate::store::{Store, StoreError};

pub(crate) use delivery::{dial_card, lookup_card};
pub use names::{Among, MIN_PREFIX};

/// Chat failures, each with what the user can do.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// "File Transfer" with no other device to send to.
    #[error("that is your own account (File Transfer), and you have no other device to send to; link one with `weft device link`")]
    NoOtherDevice,
    /// This device was removed from the account.
    #[error("this device was removed from the account's devices; it can no longer send for it")]
    Revoked,
    /// Not a friend.
    #[error("{0} is not in your contacts; add them with `weft contacts add <id or link>`")]
    NotAFriend(String),
    /// Unknown contact name or id.
    #[error(
        "no contact matches `{0}`; use an account id, a weft:// link, or a friend's name or remark"
    )]
    UnknownContact(String),
    /// A name or short id that could mean several contacts: never guessed.
    #[error("`{typed}` could be {}; use the account id (or give one a remark: `weft contacts remark <id> NAME`)", candidates.join(", "))]
    Ambiguous {
        /// What the user typed.
        typed: String,
        /// Each candidate as `short-id name [relationship]`.
        candidates: Vec<String>,
    },
    /// A name or remark out of bounds (empty, too long, control characters).
    #[error("{0}; to remove a remark use `weft contacts remark <contact> --clear`")]
    BadName(&'static str),
    /// Not blocked, so nothing to unblock.
    #[error("{0} is not blocked")]
    NotBlocked(String),
    /// No pending request from them.
    #[error("no friend request from {0}")]
    NoRequest(String),
    /// Too large or empty.
    #[error(transparent)]
    Invalid(#[from] weft_protocol::chat::ChatError),
    /// Greeting too long.
    #[error("greeting is {0} bytes; the limit is {MAX_GREETING_BYTES}")]
    GreetingTooLong(usize),
    /// Adding ourselves.
    #[error("that is your own account; name a friend (`weft contacts list`)")]
    SelfContact,
    /// Recall refused.
    #[error("cannot recall: {0}")]
    Recall(RecallRefused),
    /// Unknown message.
    #[error("no message {0}")]
    NoMessage(String),
    /// Sealing the message to the recipient failed.
    #[error("cannot encrypt the message: {0}")]
    Seal(#[from] SealError),
    /// Our own card (sent with friend requests and accepts) could not be
    /// signed, so the request cannot be made.
    #[error("cannot encrypt the message: cannot make our card")]
    NoCard,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a recall was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecallRefused {
    /// The message was sent by the other side.
    #[error("only your own messages can be recalled")]
    NotYours,
    /// The message was recalled already.
    #[error("that message was recalled already")]
    AlreadyRecalled,
    /// The recall window (as WeChat: two minutes) has passed.
    #[error("messages can be recalled within 2 minutes of sending")]
    TooLate,
}

/// Events for `weft chat watch` / the API event stream.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChatEvent {
    /// A new message arrived.
    Message {
        /// Conversation (the other account).
        with: String,
        /// Message id.
        id: String,
        /// Sender.
        from: String,
        /// Text.
        text: String,
    },
    /// Our messages' status changed.
    Receipt {
        /// Conversation.
        with: String,
        /// Messages.
        ids: Vec<String>,
        /// New status.
        status: MsgStatus,
    },
    /// Someone asked to be friends.
    FriendRequest {
        /// Who.
        account_id: String,
        /// Their name.
        name: String,
        /// Greeting.
        greeting: String,
    },
    /// A request was accepted; we are friends now.
    FriendAccepted {
        /// Who.
        account_id: String,
        /// Their name.
        name: String,
    },
    /// A message was recalled by its sender.
    Recalled {
        /// Conversation.
        with: String,
        /// Message.
        id: String,
    },
}

/// `contacts list` entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ContactView {
    /// Account id.
    pub account_id: String,
    /// Remark or name.
    pub name: String,
    /// Their own name.
    pub their_name: String,
    /// Relationship: friend, request_sent, request_received, blocked.
    pub state: ContactState,
    /// How many devices their account has (from its signed device list).
    #[serde(default = "one")]
    pub devices: usize,
}

fn one() -> usize {
    1
}

/// `contacts requests` entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RequestView {
    /// Account id.
    pub account_id: String,
    /// Their name.
    pub name: String,
    /// Greeting.
    pub greeting: String,
}

/// `chat log` entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MessageView {
    /// Message id.
    pub id: String,
    /// Sender account id.
    pub from: String,
    /// Text ("" once recalled).
    pub text: String,
    /// Sender clock, Unix ms.
    pub sent_at: u64,
    /// Sender's sequence number.
    pub seq: u64,
    /// Status.
    pub status: MsgStatus,
    /// Quoted message id.
    pub reply_to: Option<String>,
    /// A photo, voice note, video or file (`text` is its caption).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<crate::files::AttachmentView>,
}

/// `chat list` entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConversationView {
    /// The other account.
    pub account_id: String,
    /// Their display name.
    pub name: String,
    /// Last message text.
    pub last_text: String,
    /// Last message time.
    pub last_at: u64,
    /// Unread count.
    pub unread: usize,
}

/// The service's state; only this folder sees it.
struct Inner {
    /// Keys, store, network and the shutdown signal.
    ctx: Context,
    /// Our display name, put on our card.
    name: String,
    events: EventFeed<ChatEvent>,
    /// Serialises sequence allocation and enqueueing.
    send_lock: Mutex<()>,
    /// Delivery workers by recipient; the Notify wakes one early.
    workers: std::sync::Mutex<HashMap<AccountId, Arc<Notify>>>,
    /// Where group business that arrives 1:1 goes (the group service).
    group_inbox: std::sync::OnceLock<Arc<dyn GroupInbox>>,
    pay_inbox: std::sync::OnceLock<Arc<dyn PayInbox>>,
    /// Friend requests from strangers, all together (`inbound.rs`).
    stranger_requests: crate::budget::RateLimit,
    /// Notified when a friend's Moments topic key is stored.
    moments_keys: Arc<Notify>,
    /// Kept Noise sessions with the devices we deliver to and that deliver to us.
    sessions: session::Sessions,
    /// Accounts' Noise static keys, worked out once ([`Chat::noise_key`]).
    noise_keys: std::sync::Mutex<HashMap<AccountId, Option<[u8; 32]>>>,
}

/// The receiver of group business carried in 1:1 messages
/// ([`weft_protocol::group::Direct`]). Chat stays ignorant of groups: it
/// opens, checks the sender and deduplicates, then hands the payload here
/// and acknowledges only if this returns `Ok` (the receiver has stored it).
pub trait GroupInbox: Send + Sync {
    /// Applies one payload from `from`. `Err` only when it could not be
    /// stored (the sender will retry); refusals are logged and `Ok`.
    fn deliver(
        &self,
        from: AccountId,
        direct: weft_protocol::group::Direct,
    ) -> Result<(), StoreError>;

    /// `account`'s device list changed (a device linked or revoked): what
    /// was handed to its devices one by one (sender chains) is handed again.
    fn devices_changed(&self, account: &AccountId, removed: bool);

    /// Whether `account` is in one of our groups (its device list is then
    /// worth keeping even if it is not a contact).
    fn shares_group(&self, account: &AccountId) -> bool;

    /// Every account we share a group with (told when our devices change).
    fn group_peers(&self) -> Vec<AccountId>;
}

/// The receiver of Weft Pay business carried in 1:1 messages
/// ([`weft_protocol::pay::PayMsg`]): chat opens and checks the sender, the
/// pay service stores it (idempotently: a replay changes nothing) and
/// chat acknowledges only if this returns `Ok`.
pub trait PayInbox: Send + Sync {
    /// Takes one message from `from` (the chat message `id` carried it).
    fn deliver(
        &self,
        from: AccountId,
        id: weft_protocol::chat::MsgId,
        msg: weft_protocol::pay::PayMsg,
    ) -> Result<(), StoreError>;
}

/// The chat service handle. Cheap to clone.
#[derive(Clone)]
pub struct Chat {
    inner: Arc<Inner>,
}

impl Chat {
    /// Registers the receiver of Pay business (once, at start).
    pub fn set_pay_inbox(&self, inbox: Arc<dyn PayInbox>) {
        let _ = self.inner.pay_inbox.set(inbox);
    }

    /// Sends Pay business to `to` through the durable outbox (sealed,
    /// retried, left with holders while it is offline); returns once it is
    /// durable. Whom money may go to is the pay service's decision.
    pub async fn send_pay(
        &self,
        to: AccountId,
        msg: weft_protocol::pay::PayMsg,
    ) -> Result<weft_protocol::chat::MsgId, ChatError> {
        self.enqueue(to, weft_protocol::chat::ChatKind::Pay(msg))
            .await
    }

    /// Rewrites the text a payment's message shows in the log ("received").
    pub fn annotate(&self, id: &weft_protocol::chat::MsgId, text: &str) -> Result<(), ChatError> {
        self.store()
            .update_message(id, |m| m.text = text.to_string())?;
        Ok(())
    }

    /// Registers the receiver of group business (once, at start).
    pub fn set_group_inbox(&self, inbox: Arc<dyn GroupInbox>) {
        let _ = self.inner.group_inbox.set(inbox);
    }

    /// Sends group business to one account, through the durable outbox
    /// (sealed, retried, left with holders while it is offline).
    pub async fn send_direct(
        &self,
        to: AccountId,
        direct: weft_protocol::group::Direct,
    ) -> Result<(), ChatError> {
        if to == self.me() {
            return Ok(());
        }
        self.enqueue(to, weft_protocol::chat::ChatKind::Group(direct))
            .await
            .map(|_| ())
    }

    /// Sends group business to this account's other devices (one copy
    /// each, through the durable outbox, with one flush); nothing with one
    /// device.
    pub async fn send_direct_own(
        &self,
        directs: Vec<weft_protocol::group::Direct>,
    ) -> Result<(), ChatError> {
        if directs.is_empty() || self.own_other_endpoints().is_empty() {
            return Ok(());
        }
        let me = self.me();
        let items = directs
            .into_iter()
            .map(|d| (me, weft_protocol::chat::ChatKind::Group(d)))
            .collect();
        self.enqueue_many(items).await
    }

    /// Gives friends our Moments topic key (the Moments service decides
    /// who and when), through the durable outbox, with one flush.
    pub async fn send_moments_key(
        &self,
        to: &[AccountId],
        key: weft_protocol::moments::TopicKey,
    ) -> Result<(), ChatError> {
        let me = self.me();
        let items: Vec<_> = to
            .iter()
            .filter(|a| **a != me)
            .map(|a| (*a, weft_protocol::chat::ChatKind::MomentsKey { key }))
            .collect();
        self.enqueue_many(items).await
    }

    /// Woken when a friend's Moments topic key arrives (already stored).
    pub fn moments_key_arrived(&self) -> Arc<Notify> {
        self.inner.moments_keys.clone()
    }

    /// [`Chat::send_direct`] to many accounts with one flush (a group's
    /// membership changes and chain shares go to hundreds at once).
    pub async fn send_direct_many(
        &self,
        items: Vec<(AccountId, weft_protocol::group::Direct)>,
    ) -> Result<(), ChatError> {
        let me = self.me();
        let items: Vec<_> = items
            .into_iter()
            .filter(|(to, _)| *to != me)
            .map(|(to, d)| (to, weft_protocol::chat::ChatKind::Group(d)))
            .collect();
        self.enqueue_many(items).await
    }

    /// A friend named by `who`, with the name we show for them.
    pub fn friend(&self, who: &str) -> Result<(AccountId, String), ChatError> {
        let a = self.resolve(who)?;
        self.require_friend(&a, who)?;
        let name = self
            .store()
            .contact(&a)?
            .map(|c| c.name)
            .unwrap_or_else(|| a.short());
        Ok((a, name))
    }

    /// Subscribes to chat events.
    pub fn subscribe(&self) -> EventRx<ChatEvent> {
        self.inner.events.subscribe()
    }

    /// Our current signed card: the addresses others can dial us on. `None`
    /// if the network actor is gone or the card cannot be signed.
    pub(crate) async fn my_card(&self) -> Option<Card> {
        let addrs = crate::net::dialable(&self.net().listen_addrs().await.unwrap_or_default());
        self.inner
            .ctx
            .identity
            .card(&self.inner.name, addrs, weft_protocol::unix_now())
            .ok()
    }

    /// The account this node speaks for.
    fn me(&self) -> AccountId {
        self.inner.ctx.me()
    }

    /// This device's end-to-end key (the account key on the primary): it
    /// seals and opens everything chat sends.
    fn key(&self) -> &AccountKey {
        &self.inner.ctx.identity.key
    }

    fn store(&self) -> &Store {
        &self.inner.ctx.store
    }

    fn net(&self) -> &Net {
        &self.inner.ctx.net
    }

    /// Tells subscribers; nobody listening is fine.
    fn emit(&self, ev: ChatEvent) {
        let _ = self.inner.events.send(ev);
    }
}

/// Now, in the Unix milliseconds that messages carry.
fn now_ms() -> u64 {
    weft_protocol::unix_now_ms()
}

/// User input echoed in an error, cut so a pasted essay does not fill the screen.
fn shown(who: &str) -> String {
    who.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The API and SSE JSON are a contract with the CLI and scripts: the
    /// typed status and state must print the same words the old strings did.
    #[test]
    fn views_and_events_keep_their_json() {
        let c = ContactView {
            account_id: "a".into(),
            name: "n".into(),
            their_name: "t".into(),
            state: ContactState::RequestSent,
            devices: 1,
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"account_id": "a", "name": "n", "their_name": "t", "state": "request_sent", "devices": 1})
        );
        let back: ContactView = serde_json::from_value(v).unwrap();
        assert_eq!(back.state, ContactState::RequestSent);

        for s in [
            MsgStatus::Sending,
            MsgStatus::Stored,
            MsgStatus::Delivered,
            MsgStatus::Read,
            MsgStatus::Received,
            MsgStatus::Seen,
            MsgStatus::Recalled,
            MsgStatus::Failed,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for (s, name) in [
            (ContactState::Friend, "friend"),
            (ContactState::RequestSent, "request_sent"),
            (ContactState::RequestReceived, "request_received"),
            (ContactState::Blocked, "blocked"),
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), name);
        }

        let ev = ChatEvent::Receipt {
            with: "w".into(),
            ids: vec!["i".into()],
            status: MsgStatus::Delivered,
        };
        let text = serde_json::to_string(&ev).unwrap();
        assert_eq!(
            text,
            r#"{"type":"receipt","with":"w","ids":["i"],"status":"delivered"}"#
        );
        let back: ChatEvent = serde_json::from_str(&text).unwrap();
        assert!(matches!(
            back,
            ChatEvent::Receipt {
                status: MsgStatus::Delivered,
                ..
            }
        ));
    }

    /// Wording is part of the interface: the CLI prints these to the user.
    #[test]
    fn error_wording_is_unchanged() {
        assert_eq!(
            ChatError::Recall(RecallRefused::TooLate).to_string(),
            "cannot recall: messages can be recalled within 2 minutes of sending"
        );
        assert_eq!(
            ChatError::Recall(RecallRefused::NotYours).to_string(),
            "cannot recall: only your own messages can be recalled"
        );
        assert_eq!(
            ChatError::NoCard.to_string(),
            "cannot encrypt the message: cannot make our card"
        );
        assert_eq!(
            ChatError::Seal(SealError::BadKey).to_string(),
            format!("cannot encrypt the message: {}", SealError::BadKey)
        );
    }
}
