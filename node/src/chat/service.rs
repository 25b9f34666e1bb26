//! The chat service handle: the operations behind `weft contacts` and `weft chat`.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, Mutex, Notify};
use weft_protocol::{
    chat::{ChatBody, ChatKind, MsgId, MAX_GREETING_BYTES, MAX_TEXT_BYTES, RECALL_WINDOW_MS},
    seal, AccountId, Card, WeftLink,
};

use crate::context::Context;
use crate::home::Identity;
use crate::net::Net;
use crate::store::chat::{Contact, ContactState, MsgStatus, Outgoing, StoredMessage};
use crate::store::{Store, StoreError};

/// Chat failures, each with what the user can do.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// Not a friend.
    #[error("{0} is not in your contacts; add them with `weft contacts add <id or link>`")]
    NotAFriend(String),
    /// Unknown contact name or id.
    #[error("no contact matches `{0}`; use an account id, a weft:// link, or a contact's name")]
    UnknownContact(String),
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
    #[error("that is your own account")]
    SelfContact,
    /// Recall refused.
    #[error("cannot recall: {0}")]
    Recall(&'static str),
    /// Unknown message.
    #[error("no message {0}")]
    NoMessage(String),
    /// Sealing failed.
    #[error("cannot encrypt the message: {0}")]
    Seal(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Events for `weft chat watch` / the API event stream.
#[derive(Clone, Debug, Serialize)]
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
        status: &'static str,
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
    pub state: String,
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
    pub status: String,
    /// Quoted message id.
    pub reply_to: Option<String>,
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

pub(crate) struct Inner {
    pub(crate) identity: Arc<Identity>,
    pub(crate) store: Store,
    pub(crate) net: Net,
    pub(crate) name: String,
    pub(crate) events: broadcast::Sender<ChatEvent>,
    /// Serialises sequence allocation and enqueueing.
    pub(crate) send_lock: Mutex<()>,
    /// Delivery workers by recipient; the Notify wakes one early.
    pub(crate) workers: std::sync::Mutex<HashMap<AccountId, Arc<Notify>>>,
    /// Flips to `true` when the node stops: delivery workers end (the
    /// outbox keeps their work for the next start).
    pub(crate) shutdown: tokio::sync::watch::Receiver<bool>,
}

/// The chat service handle. Cheap to clone.
#[derive(Clone)]
pub struct Chat {
    pub(crate) inner: Arc<Inner>,
}

fn state_name(s: ContactState) -> &'static str {
    match s {
        ContactState::Friend => "friend",
        ContactState::RequestSent => "request_sent",
        ContactState::RequestReceived => "request_received",
        ContactState::Blocked => "blocked",
    }
}

pub(crate) fn now_ms() -> u64 {
    weft_protocol::unix_now_ms()
}

impl Chat {
    /// Starts the service: delivery for whatever the outbox holds, inbound
    /// request handling, mailbox checks.
    pub fn start(ctx: Context, name: String) -> Result<Self, ChatError> {
        let (events, _) = broadcast::channel(1024);
        let shutdown = ctx.shutdown.clone();
        let chat = Chat {
            inner: Arc::new(Inner {
                identity: ctx.identity,
                store: ctx.store,
                net: ctx.net,
                name,
                events,
                send_lock: Mutex::new(()),
                workers: std::sync::Mutex::new(HashMap::new()),
                shutdown: shutdown.clone(),
            }),
        };
        // Restarts resume work: every recipient with queued mail gets a worker.
        for to in chat.inner.store.outbox_recipients()? {
            chat.kick(to);
        }
        chat.spawn_background(shutdown);
        Ok(chat)
    }

    /// The network handle the service uses.
    pub fn inner_net(&self) -> Net {
        self.inner.net.clone()
    }

    /// Subscribes to chat events.
    pub fn subscribe(&self) -> broadcast::Receiver<ChatEvent> {
        self.inner.events.subscribe()
    }

    pub(crate) fn me(&self) -> AccountId {
        self.inner.identity.account.account_id()
    }

    pub(crate) fn emit(&self, ev: ChatEvent) {
        let _ = self.inner.events.send(ev);
    }

    /// Our current signed card.
    pub(crate) async fn my_card(&self) -> Option<Card> {
        let addrs = self
            .inner
            .net
            .listen_addrs()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|a| !a.to_string().contains("/0.0.0.0/"))
            .map(|a| a.to_string())
            .collect();
        Card::new(
            &self.inner.identity.account,
            self.inner.identity.cert.clone(),
            &self.inner.name,
            addrs,
            weft_protocol::unix_now(),
        )
        .ok()
    }

    /// Finds a contact by account id, `weft://` link, remark or name.
    pub fn resolve(&self, who: &str) -> Result<AccountId, ChatError> {
        let who = who.trim();
        if let Ok(id) = who.parse::<AccountId>() {
            return Ok(id);
        }
        if let Ok(link) = who.parse::<WeftLink>() {
            return Ok(link.account);
        }
        let lower = who.to_lowercase();
        self.inner
            .store
            .contacts()?
            .into_iter()
            .find(|c| {
                c.remark.as_deref().map(str::to_lowercase) == Some(lower.clone())
                    || c.name.to_lowercase() == lower
            })
            .map(|c| c.account)
            .ok_or_else(|| ChatError::UnknownContact(who.chars().take(80).collect()))
    }

    /// Seals `kind` to `to`, persists it (log + outbox) durably, wakes delivery.
    pub(crate) async fn enqueue(&self, to: AccountId, kind: ChatKind) -> Result<MsgId, ChatError> {
        let me = self.me();
        let _guard = self.inner.send_lock.lock().await;
        let (seq, sent_at_ms) = self.inner.store.next_seq(&to, now_ms())?;
        let body = ChatBody {
            from: me,
            to,
            seq,
            sent_at_ms,
            kind,
        };
        body.validate()?;
        let id = body.id();
        let plain = body.encode()?;
        let sealed = seal::seal(&self.inner.identity.account, &to, &plain)
            .map_err(|e| ChatError::Seal(e.to_string()))?;
        let log = match &body.kind {
            ChatKind::Text { text, reply_to } => Some(StoredMessage {
                id,
                from: me,
                seq,
                sent_at_ms,
                text: text.clone(),
                reply_to: *reply_to,
                status: MsgStatus::Sending,
            }),
            _ => None,
        };
        self.inner.store.enqueue(&Outgoing {
            to,
            seq,
            sent_at_ms,
            sealed,
            id,
            log,
        })?;
        // Sequence numbers are taken; concurrent senders may now share one flush.
        drop(_guard);
        // Persist before acknowledging: once we answer, the message must survive a crash.
        self.inner.store.flush_async().await?;
        self.kick(to);
        Ok(id)
    }

    /// `contacts add`: records the contact and sends a friend request.
    pub async fn add_contact(
        &self,
        target: &str,
        greeting: &str,
        hint: Option<Card>,
    ) -> Result<ContactView, ChatError> {
        if greeting.len() > MAX_GREETING_BYTES {
            return Err(ChatError::GreetingTooLong(greeting.len()));
        }
        let (account, link) = match target.trim().parse::<WeftLink>() {
            Ok(l) => (l.account, Some(l)),
            Err(_) => (
                target
                    .trim()
                    .parse::<AccountId>()
                    .map_err(|_| ChatError::UnknownContact(target.chars().take(80).collect()))?,
                None,
            ),
        };
        if account == self.me() {
            return Err(ChatError::SelfContact);
        }
        let existing = self.inner.store.contact(&account)?;
        let mut c = existing.unwrap_or(Contact {
            account,
            name: link
                .as_ref()
                .and_then(|l| l.name.clone())
                .unwrap_or_else(|| account.short()),
            remark: None,
            state: ContactState::RequestSent,
            greeting: None,
            card: None,
        });
        if let Some(card) = hint.filter(|h| h.account() == account && h.verify().is_ok()) {
            if c.card.is_none() {
                c.name = card.body.name.clone();
            }
            c.card = Some(card);
        }
        if let Some(l) = &link {
            // A link's peer and addresses are hints; dial so delivery is quick.
            if let Some(peer) = l.peer.as_deref().and_then(|p| p.parse().ok()) {
                let addrs = l.addrs.iter().filter_map(|a| a.parse().ok()).collect();
                let net = self.inner.net.clone();
                tokio::spawn(async move {
                    let _ = net.dial_peer(peer, addrs).await;
                });
            }
        }
        let card = self
            .my_card()
            .await
            .ok_or(ChatError::Seal("cannot make our card".into()))?;
        match c.state {
            ContactState::Friend => {}
            // They asked us already: adding them back is accepting.
            ContactState::RequestReceived => {
                c.state = ContactState::Friend;
                self.inner.store.put_contact(&c)?;
                self.enqueue(account, ChatKind::FriendAccept { card })
                    .await?;
                return Ok(view(&c));
            }
            _ => c.state = ContactState::RequestSent,
        }
        self.inner.store.put_contact(&c)?;
        self.enqueue(
            account,
            ChatKind::FriendRequest {
                card,
                greeting: greeting.to_string(),
            },
        )
        .await?;
        Ok(view(&c))
    }

    /// `contacts accept`.
    pub async fn accept(&self, who: &str) -> Result<ContactView, ChatError> {
        let account = self.resolve(who)?;
        let mut c = self
            .inner
            .store
            .contact(&account)?
            .filter(|c| c.state == ContactState::RequestReceived)
            .ok_or_else(|| ChatError::NoRequest(who.chars().take(80).collect()))?;
        c.state = ContactState::Friend;
        c.greeting = None;
        self.inner.store.put_contact(&c)?;
        self.emit(ChatEvent::FriendAccepted {
            account_id: account.to_string(),
            name: c.name.clone(),
        });
        let card = self
            .my_card()
            .await
            .ok_or(ChatError::Seal("cannot make our card".into()))?;
        self.enqueue(account, ChatKind::FriendAccept { card })
            .await?;
        Ok(view(&c))
    }

    /// `contacts reject`: forgets the request (the requester is not told, as WeChat).
    pub async fn reject(&self, who: &str) -> Result<(), ChatError> {
        let account = self.resolve(who)?;
        match self.inner.store.contact(&account)? {
            Some(c) if c.state == ContactState::RequestReceived => {
                self.inner.store.delete_contact(&account)?;
                self.inner.store.flush_async().await?;
                Ok(())
            }
            _ => Err(ChatError::NoRequest(who.chars().take(80).collect())),
        }
    }

    /// `contacts block`.
    pub async fn block(&self, who: &str) -> Result<ContactView, ChatError> {
        let account = self.resolve(who)?;
        let c = Contact {
            state: ContactState::Blocked,
            ..self.inner.store.contact(&account)?.unwrap_or(Contact {
                account,
                name: account.short(),
                remark: None,
                state: ContactState::Blocked,
                greeting: None,
                card: None,
            })
        };
        self.inner.store.put_contact(&c)?;
        self.inner.store.flush_async().await?;
        Ok(view(&c))
    }

    /// `contacts remark`.
    pub async fn remark(&self, who: &str, remark: &str) -> Result<ContactView, ChatError> {
        weft_protocol::validate_name(remark)
            .map_err(|e| ChatError::UnknownContact(e.to_string()))?;
        let account = self.resolve(who)?;
        let mut c = self
            .inner
            .store
            .contact(&account)?
            .ok_or_else(|| ChatError::UnknownContact(who.chars().take(80).collect()))?;
        c.remark = Some(remark.to_string());
        self.inner.store.put_contact(&c)?;
        self.inner.store.flush_async().await?;
        Ok(view(&c))
    }

    /// `contacts delete`.
    pub async fn delete(&self, who: &str) -> Result<(), ChatError> {
        let account = self.resolve(who)?;
        if !self.inner.store.delete_contact(&account)? {
            return Err(ChatError::UnknownContact(who.chars().take(80).collect()));
        }
        self.inner.store.flush_async().await?;
        Ok(())
    }

    /// `contacts list`: everyone but pending incoming requests.
    pub fn contacts(&self) -> Result<Vec<ContactView>, ChatError> {
        Ok(self
            .inner
            .store
            .contacts()?
            .iter()
            .filter(|c| c.state != ContactState::RequestReceived)
            .map(view)
            .collect())
    }

    /// `contacts requests`.
    pub fn requests(&self) -> Result<Vec<RequestView>, ChatError> {
        Ok(self
            .inner
            .store
            .contacts()?
            .into_iter()
            .filter(|c| c.state == ContactState::RequestReceived)
            .map(|c| RequestView {
                account_id: c.account.to_string(),
                name: c.name.clone(),
                greeting: c.greeting.clone().unwrap_or_default(),
            })
            .collect())
    }

    /// `chat send`: returns once the message is durably in the outbox.
    pub async fn send(
        &self,
        to: &str,
        text: &str,
        reply_to: Option<&str>,
    ) -> Result<MsgId, ChatError> {
        let account = self.resolve(to)?;
        self.require_friend(&account, to)?;
        if text.len() > MAX_TEXT_BYTES {
            return Err(weft_protocol::chat::ChatError::TooLarge {
                size: text.len(),
                limit: MAX_TEXT_BYTES,
            }
            .into());
        }
        let reply_to = match reply_to {
            Some(r) => {
                let id: MsgId = r.parse()?;
                if self.inner.store.message_conversation(&id)? != Some(account) {
                    return Err(ChatError::NoMessage(r.to_string()));
                }
                Some(id)
            }
            None => None,
        };
        self.enqueue(
            account,
            ChatKind::Text {
                text: text.to_string(),
                reply_to,
            },
        )
        .await
    }

    fn require_friend(&self, account: &AccountId, shown: &str) -> Result<(), ChatError> {
        match self.inner.store.contact(account)? {
            Some(c) if c.state == ContactState::Friend => Ok(()),
            _ => Err(ChatError::NotAFriend(shown.chars().take(80).collect())),
        }
    }

    /// `chat recall`: within two minutes of sending, as WeChat.
    pub async fn recall(&self, id: &str) -> Result<(), ChatError> {
        let msg_id: MsgId = id.parse()?;
        let m = self
            .inner
            .store
            .message(&msg_id)?
            .ok_or_else(|| ChatError::NoMessage(id.to_string()))?;
        if m.from != self.me() {
            return Err(ChatError::Recall("only your own messages can be recalled"));
        }
        if now_ms().saturating_sub(m.sent_at_ms) > RECALL_WINDOW_MS {
            return Err(ChatError::Recall(
                "messages can be recalled within 2 minutes of sending",
            ));
        }
        let conv = self
            .inner
            .store
            .message_conversation(&msg_id)?
            .ok_or_else(|| ChatError::NoMessage(id.to_string()))?;
        self.inner.store.update_message(&msg_id, |m| {
            m.status = MsgStatus::Recalled;
            m.text.clear();
        })?;
        self.enqueue(conv, ChatKind::Recall { target: msg_id })
            .await?;
        Ok(())
    }

    /// `chat log`: the last `limit` messages, oldest first. Reading marks
    /// incoming messages read and tells the sender (read receipts).
    pub async fn log(&self, with: &str, limit: usize) -> Result<Vec<MessageView>, ChatError> {
        let account = self.resolve(with)?;
        let msgs = self
            .inner
            .store
            .conversation(&account, limit.clamp(1, 100_000))?;
        let unread: Vec<MsgId> = msgs
            .iter()
            .filter(|m| m.status == MsgStatus::Received)
            .map(|m| m.id)
            .collect();
        let out = msgs.iter().map(message_view).collect();
        if !unread.is_empty() {
            for id in &unread {
                self.inner.store.update_message(id, |m| {
                    if m.status == MsgStatus::Received {
                        m.status = MsgStatus::Seen;
                    }
                })?;
            }
            for chunk in unread.chunks(weft_protocol::chat::MAX_RECEIPT_IDS) {
                self.enqueue(
                    account,
                    ChatKind::Receipt {
                        read: true,
                        ids: chunk.to_vec(),
                    },
                )
                .await?;
            }
        }
        Ok(out)
    }

    /// `chat list`.
    pub fn conversations(&self) -> Result<Vec<ConversationView>, ChatError> {
        let contacts: HashMap<AccountId, Contact> = self
            .inner
            .store
            .contacts()?
            .into_iter()
            .map(|c| (c.account, c))
            .collect();
        let mut out: Vec<ConversationView> = self
            .inner
            .store
            .conversations()?
            .into_iter()
            .map(|(acct, last, unread)| ConversationView {
                account_id: acct.to_string(),
                name: contacts
                    .get(&acct)
                    .map(|c| c.display_name().to_string())
                    .unwrap_or_else(|| acct.short()),
                last_text: last.text,
                last_at: last.sent_at_ms,
                unread,
            })
            .collect();
        out.sort_by_key(|c| std::cmp::Reverse(c.last_at));
        Ok(out)
    }
}

pub(crate) fn view(c: &Contact) -> ContactView {
    ContactView {
        account_id: c.account.to_string(),
        name: c.display_name().to_string(),
        their_name: c.name.clone(),
        state: state_name(c.state).into(),
    }
}

fn message_view(m: &StoredMessage) -> MessageView {
    MessageView {
        id: m.id.to_string(),
        from: m.from.to_string(),
        text: m.text.clone(),
        sent_at: m.sent_at_ms,
        seq: m.seq,
        status: m.status.as_str().into(),
        reply_to: m.reply_to.map(|r| r.to_string()),
    }
}
