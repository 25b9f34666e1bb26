//! Answering peers: `/weft/chat/1` deliveries to us, `/weft/mailbox/1`
//! deposits and fetches, and fetching our own mail from holders.
//!
//! Every incoming sealed message goes through [`Chat::accept_sealed`]:
//! open (Noise X: confidential, sender-authenticated), check it is for us
//! and from the account whose key sealed it, deduplicate by id, apply, and
//! only after the store is flushed acknowledge it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use tokio::sync::watch;
use weft_protocol::{
    chat::{item_hash, ChatBody, ChatKind, Delivery, DeliveryAck, RECALL_WINDOW_MS},
    mailbox::{
        mailbox_key, MailboxAuth, MailboxReply, MailboxRequest, MAX_ITEMS_PER_MESSAGE,
        MAX_ITEM_BYTES,
    },
    seal, AccountId, Kind,
};

use super::service::{Chat, ChatEvent};
use crate::net::{records, AppProtocol, InboundRequest, NetEvent};
use crate::store::chat::{Contact, ContactState, HeldItem, MsgStatus, StoredMessage};

/// Held mail expires after this long.
pub(crate) const HOLD_SECS: u64 = 7 * 24 * 3600;
/// Per depositing peer: items and bytes we hold for it.
const QUOTA_ITEMS_PER_DEPOSITOR: usize = 2000;
const QUOTA_BYTES_PER_DEPOSITOR: usize = 16 * 1024 * 1024;
/// Per recipient: items we hold.
const QUOTA_ITEMS_PER_RECIPIENT: usize = 5000;
/// Everything we hold for others.
const QUOTA_BYTES_TOTAL: usize = 64 * 1024 * 1024;
/// Bytes of mail in one fetch answer.
const FETCH_BYTES: usize = 900 * 1024;
/// How often we look for our mail at the holders closest to our mailbox key
/// (a DHT query). Senders retry us directly meanwhile, and holders we
/// connect to are asked at once, so this is a backstop.
const MAIL_CHECK: Duration = Duration::from_secs(300);
/// How often we republish our account record in the DHT.
const PUBLISH_EVERY: Duration = Duration::from_secs(30 * 60);

/// What happened to one incoming sealed message.
enum Outcome {
    /// Persisted (or already had): acknowledge.
    Accepted,
    /// Never acceptable: tell the sender to stop.
    Rejected(String),
}

impl Chat {
    /// Answers a `/weft/chat/1` or `/weft/mailbox/1` request; `None` drops it.
    pub async fn handle_inbound(&self, req: &InboundRequest) -> Option<Vec<u8>> {
        match req.protocol {
            AppProtocol::Chat => self.on_delivery(req.peer, &req.data).await,
            AppProtocol::Mailbox => Some(self.on_mailbox(req.peer, &req.data).await),
            AppProtocol::Profile | AppProtocol::Oa | AppProtocol::Blob | AppProtocol::Sync => None,
        }
    }

    /// A `/weft/chat/1` session: returns message 2 (with the ack), or None
    /// to drop the stream (garbage, or a sender that isn't who it says).
    async fn on_delivery(&self, peer: PeerId, msg1: &[u8]) -> Option<Vec<u8>> {
        let me = &self.inner.identity.account;
        let (responder, payload, initiator_static) = match seal::respond(me, msg1) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "dropping chat session: bad handshake");
                return None;
            }
        };
        let delivery: Delivery = match weft_protocol::decode(Kind::Delivery, &payload) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "dropping chat session: bad delivery");
                return None;
            }
        };
        if !seal::sender_matches(&delivery.from, &initiator_static) {
            tracing::warn!(%peer, "dropping chat session: sender does not own its account key");
            return None;
        }
        let mut ack = DeliveryAck::default();
        for item in &delivery.items {
            let h = item_hash(item);
            match self.accept_sealed(item, Some(&delivery.from), false).await {
                Outcome::Accepted => ack.accepted.push(h),
                Outcome::Rejected(reason) => {
                    tracing::warn!(%peer, %reason, "rejecting message");
                    ack.rejected.push(h);
                }
            }
        }
        // Persist before acknowledging: the sender deletes its copy on our ack.
        if let Err(e) = self.inner.store.flush_async().await {
            tracing::error!(error = %e, "cannot flush the store; not acknowledging");
            return None;
        }
        let bytes = weft_protocol::encode(Kind::DeliveryAck, &ack).ok()?;
        responder.reply(&bytes).ok()
    }

    /// Opens, checks and applies one sealed message. Not flushed: callers
    /// flush once per batch before acknowledging.
    async fn accept_sealed(
        &self,
        sealed: &[u8],
        session_from: Option<&AccountId>,
        via_holder: bool,
    ) -> Outcome {
        let me = self.me();
        let (plain, sender_static) = match seal::open(&self.inner.identity.account, sealed) {
            Ok(x) => x,
            Err(e) => return Outcome::Rejected(format!("cannot open: {e}")),
        };
        let body = match ChatBody::decode(&plain) {
            Ok(b) => b,
            Err(e) => return Outcome::Rejected(format!("malformed: {e}")),
        };
        if body.to != me {
            return Outcome::Rejected("addressed to another account".into());
        }
        if !seal::sender_matches(&body.from, &sender_static) {
            return Outcome::Rejected("forged sender".into());
        }
        if session_from.is_some_and(|f| *f != body.from) {
            return Outcome::Rejected("relayed inside another account's session".into());
        }
        match self.apply(body, via_holder).await {
            Ok(()) => Outcome::Accepted,
            Err(e) => {
                tracing::error!(error = %e, "cannot store an incoming message");
                Outcome::Rejected(format!("store error: {e}"))
            }
        }
    }

    async fn apply(&self, body: ChatBody, via_holder: bool) -> Result<(), super::ChatError> {
        let store = &self.inner.store;
        let id = body.id();
        if store.has_message(&id)? {
            return Ok(()); // a retry or a second holder's copy: already done
        }
        let from = body.from;
        let contact = store.contact(&from)?;
        let state = contact.as_ref().map(|c| c.state);
        if state == Some(ContactState::Blocked) {
            tracing::debug!(%from, "dropping message from a blocked account");
            store.mark_seen_id(&id)?;
            return Ok(());
        }
        match body.kind {
            ChatKind::FriendRequest { card, greeting } => {
                let name = card.body.name.clone();
                let mut c = contact.unwrap_or(Contact {
                    account: from,
                    name: name.clone(),
                    remark: None,
                    state: ContactState::RequestReceived,
                    greeting: None,
                    card: None,
                });
                c.name = name.clone();
                c.card = Some(card);
                match c.state {
                    // We asked them too, or we were friends (they re-added us): friends now.
                    ContactState::RequestSent | ContactState::Friend => {
                        c.state = ContactState::Friend;
                        store.put_contact(&c)?;
                        store.mark_seen_id(&id)?;
                        if let Some(card) = self.my_card().await {
                            let chat = self.clone();
                            tokio::spawn(async move {
                                let _ = chat.enqueue(from, ChatKind::FriendAccept { card }).await;
                            });
                        }
                        self.emit(ChatEvent::FriendAccepted {
                            account_id: from.to_string(),
                            name,
                        });
                    }
                    _ => {
                        c.state = ContactState::RequestReceived;
                        c.greeting = Some(greeting.clone());
                        store.put_contact(&c)?;
                        store.mark_seen_id(&id)?;
                        self.emit(ChatEvent::FriendRequest {
                            account_id: from.to_string(),
                            name,
                            greeting,
                        });
                    }
                }
            }
            ChatKind::FriendAccept { card } => {
                store.mark_seen_id(&id)?;
                if let Some(mut c) = contact {
                    if matches!(c.state, ContactState::RequestSent | ContactState::Friend) {
                        c.name = card.body.name.clone();
                        c.card = Some(card);
                        let newly = c.state == ContactState::RequestSent;
                        c.state = ContactState::Friend;
                        store.put_contact(&c)?;
                        if newly {
                            self.emit(ChatEvent::FriendAccepted {
                                account_id: from.to_string(),
                                name: c.name.clone(),
                            });
                        }
                    }
                }
            }
            ChatKind::Text { text, reply_to } => {
                if state != Some(ContactState::Friend) {
                    tracing::info!(%from, "dropping chat message from a non-friend");
                    store.mark_seen_id(&id)?;
                    return Ok(());
                }
                let m = StoredMessage {
                    id,
                    from,
                    seq: body.seq,
                    sent_at_ms: body.sent_at_ms,
                    text: text.clone(),
                    reply_to,
                    status: MsgStatus::Received,
                };
                if store.insert_incoming(&from, &m)? {
                    self.emit(ChatEvent::Message {
                        with: from.to_string(),
                        id: id.to_string(),
                        from: from.to_string(),
                        text,
                    });
                    if via_holder {
                        // The sender got no ack from us; tell it we have it.
                        let chat = self.clone();
                        tokio::spawn(async move {
                            let kind = ChatKind::Receipt {
                                read: false,
                                ids: vec![id],
                            };
                            let _ = chat.enqueue(from, kind).await;
                        });
                    }
                }
            }
            ChatKind::Recall { target } => {
                store.mark_seen_id(&id)?;
                if let Some(t) = store.message(&target)? {
                    let in_window =
                        body.sent_at_ms.saturating_sub(t.sent_at_ms) <= RECALL_WINDOW_MS;
                    if t.from == from && in_window {
                        store.update_message(&target, |m| {
                            m.status = MsgStatus::Recalled;
                            m.text.clear();
                        })?;
                        self.emit(ChatEvent::Recalled {
                            with: from.to_string(),
                            id: target.to_string(),
                        });
                    } else {
                        tracing::warn!(%from, "refusing a recall of someone else's or an old message");
                    }
                }
            }
            ChatKind::Receipt { read, ids } => {
                store.mark_seen_id(&id)?;
                let status = if read {
                    MsgStatus::Read
                } else {
                    MsgStatus::Delivered
                };
                let mut changed = Vec::new();
                for mid in ids {
                    // Only receipts for our messages in the conversation with the receipt's sender.
                    if store.message_conversation(&mid)? == Some(from) {
                        if let Some(m) = store.message(&mid)? {
                            if m.from == self.me() {
                                store.raise_status(&mid, status)?;
                                changed.push(mid.to_string());
                            }
                        }
                    }
                }
                if !changed.is_empty() {
                    self.emit(ChatEvent::Receipt {
                        with: from.to_string(),
                        ids: changed,
                        status: status.as_str(),
                    });
                }
            }
        }
        Ok(())
    }

    /// A `/weft/mailbox/1` request: we are (or are asked to be) a holder.
    async fn on_mailbox(&self, peer: PeerId, data: &[u8]) -> Vec<u8> {
        let reply = match weft_protocol::decode::<MailboxRequest>(Kind::MailboxRequest, data) {
            Ok(req) => self.holder(peer, req).await,
            Err(e) => MailboxReply::Refused {
                reason: e.to_string(),
            },
        };
        weft_protocol::encode(Kind::MailboxReply, &reply).unwrap_or_default()
    }

    async fn holder(&self, peer: PeerId, req: MailboxRequest) -> MailboxReply {
        let refuse = |r: &str| MailboxReply::Refused {
            reason: r.to_string(),
        };
        let store = &self.inner.store;
        let now = weft_protocol::unix_now();
        let me = peer_bytes(self.inner.net.peer_id());
        match req {
            MailboxRequest::Deposit { to, items } => {
                if items.len() > MAX_ITEMS_PER_MESSAGE
                    || items
                        .iter()
                        .any(|i| i.len() > MAX_ITEM_BYTES || i.is_empty())
                {
                    return refuse("too many or too large items");
                }
                let depositor = peer_bytes(peer);
                let Ok(summary) = store.held_summary() else {
                    return refuse("store error");
                };
                let (mut dep_items, mut dep_bytes, mut rcpt_items, mut total) = (0, 0, 0, 0);
                for h in &summary {
                    if h.expires_at < now {
                        let _ = store.drop_held_key(&h.key);
                        continue;
                    }
                    total += h.len;
                    if h.depositor == depositor {
                        dep_items += 1;
                        dep_bytes += h.len;
                    }
                    if h.key.starts_with(&to.0) {
                        rcpt_items += 1;
                    }
                }
                let add: usize = items.iter().map(Vec::len).sum();
                if dep_items + items.len() > QUOTA_ITEMS_PER_DEPOSITOR
                    || dep_bytes + add > QUOTA_BYTES_PER_DEPOSITOR
                    || rcpt_items + items.len() > QUOTA_ITEMS_PER_RECIPIENT
                    || total + add > QUOTA_BYTES_TOTAL
                {
                    tracing::info!(%peer, "refusing a deposit over quota");
                    return refuse("over quota");
                }
                for item in &items {
                    let held = HeldItem {
                        sealed: item.clone(),
                        expires_at: now + HOLD_SECS,
                        depositor: depositor.clone(),
                    };
                    if store.hold(&to, &item_hash(item), &held).is_err() {
                        return refuse("store error");
                    }
                }
                if store.flush_async().await.is_err() {
                    return refuse("store error");
                }
                MailboxReply::Deposited {
                    accepted: items.len() as u32,
                }
            }
            MailboxRequest::Fetch { auth } => {
                if auth.verify(&me, 0, now).is_err() {
                    return refuse("fetch is not signed by the mailbox owner");
                }
                match store.held_for(&auth.account, MAX_ITEMS_PER_MESSAGE, FETCH_BYTES, now) {
                    Ok((items, more)) => MailboxReply::Items { items, more },
                    Err(_) => refuse("store error"),
                }
            }
            MailboxRequest::Delete { auth, items } => {
                if auth.verify(&me, 1, now).is_err() || items.len() > 4 * MAX_ITEMS_PER_MESSAGE {
                    return refuse("delete is not signed by the mailbox owner");
                }
                match store.unhold(&auth.account, &items) {
                    Ok(n) => {
                        let _ = store.flush_async().await;
                        MailboxReply::Deleted { count: n as u32 }
                    }
                    Err(_) => refuse("store error"),
                }
            }
        }
    }

    /// Fetches our mail from one holder, applies it, then lets the holder delete it.
    pub(crate) async fn fetch_mail(&self, holder: PeerId) {
        let key = &self.inner.identity.account;
        for _round in 0..50 {
            let auth = MailboxAuth::new(key, peer_bytes(holder), weft_protocol::unix_now(), 0);
            let Ok(req) =
                weft_protocol::encode(Kind::MailboxRequest, &MailboxRequest::Fetch { auth })
            else {
                return;
            };
            let reply = tokio::time::timeout(
                Duration::from_secs(15),
                self.inner.net.request(AppProtocol::Mailbox, holder, req),
            )
            .await;
            let Ok(Ok(bytes)) = reply else { return };
            let (items, more) =
                match weft_protocol::decode::<MailboxReply>(Kind::MailboxReply, &bytes) {
                    Ok(MailboxReply::Items { items, more }) => (items, more),
                    Ok(MailboxReply::Refused { reason }) => {
                        tracing::debug!(%holder, %reason, "holder refused fetch");
                        return;
                    }
                    _ => {
                        tracing::warn!(%holder, "holder sent a malformed mailbox reply");
                        return;
                    }
                };
            if items.is_empty() {
                return;
            }
            let mut done = Vec::new();
            for item in &items {
                match self.accept_sealed(item, None, true).await {
                    Outcome::Accepted => done.push(item_hash(item)),
                    // A corrupted copy from a bad holder: skip it; another holder's copy will do.
                    Outcome::Rejected(reason) => {
                        tracing::warn!(%holder, %reason, "bad held message")
                    }
                }
            }
            tracing::info!(%holder, fetched = items.len(), accepted = done.len(), "fetched mail");
            // Durable before we let the holder forget them.
            if self.inner.store.flush_async().await.is_err() {
                return;
            }
            let auth = MailboxAuth::new(key, peer_bytes(holder), weft_protocol::unix_now(), 1);
            if let Ok(req) = weft_protocol::encode(
                Kind::MailboxRequest,
                &MailboxRequest::Delete { auth, items: done },
            ) {
                let _ = tokio::time::timeout(
                    Duration::from_secs(15),
                    self.inner.net.request(AppProtocol::Mailbox, holder, req),
                )
                .await;
            }
            if !more {
                return;
            }
        }
    }

    /// Reacts to peers coming and going; checks mail and publishes our record periodically.
    pub(crate) fn spawn_background(&self, mut shutdown: watch::Receiver<bool>) {
        let chat = self.clone();
        let mut events = self.inner.net.subscribe();
        tokio::spawn(async move {
            let mut last_fetch: HashMap<PeerId, Instant> = HashMap::new();
            let mut check =
                tokio::time::interval_at(tokio::time::Instant::now() + MAIL_CHECK, MAIL_CHECK);
            let mut last_publish: Option<Instant> = None;
            // The first check waits for a peer to ask the DHT through.
            let mut checked = false;
            let holders: Arc<Mutex<HashSet<PeerId>>> = Arc::default();
            loop {
                tokio::select! {
                    _ = shutdown.wait_for(|s| *s) => return,
                    ev = events.recv() => match ev {
                        Ok(NetEvent::PeerIdentified { peer_id: peer, account_id: acct, .. }) => {
                            // Our friend is back: deliver now rather than at the next backoff.
                            chat.wake(&acct);
                            if chat.inner.store.outbox_has(&acct).unwrap_or(false) {
                                chat.kick(acct);
                            }
                            // A holder of our mail (a peer near our mailbox key, found by
                            // the last check) is back: ask it, once in a while. Until the
                            // DHT named any, ask whoever we meet.
                            let holder = holders.lock().is_ok_and(|h| h.is_empty() || h.contains(&peer));
                            let recent = last_fetch.get(&peer).is_some_and(|t| t.elapsed() < Duration::from_secs(10));
                            if holder && !recent {
                                if last_fetch.len() > 4096 {
                                    last_fetch.clear();
                                }
                                last_fetch.insert(peer, Instant::now());
                                let c = chat.clone();
                                tokio::spawn(async move { c.fetch_mail(peer).await });
                            }
                            if !checked {
                                checked = true;
                                let (c, h) = (chat.clone(), holders.clone());
                                tokio::spawn(async move { c.check_mailbox_holders(&h).await });
                            }
                            if last_publish.is_none_or(|t| t.elapsed() > PUBLISH_EVERY) {
                                last_publish = Some(Instant::now());
                                let c = chat.clone();
                                tokio::spawn(async move { c.publish_record().await });
                            }
                        }
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => return,
                    },
                    _ = check.tick() => {
                        let (c, h) = (chat.clone(), holders.clone());
                        tokio::spawn(async move { c.check_mailbox_holders(&h).await });
                    }
                }
            }
        });
    }

    /// Asks the peers closest to our mailbox key (where senders leave mail
    /// for us) for our mail; remembers them in `holders`.
    async fn check_mailbox_holders(&self, holders: &Mutex<HashSet<PeerId>>) {
        let key = mailbox_key(&self.me());
        let Ok(Ok(peers)) =
            tokio::time::timeout(Duration::from_secs(20), self.inner.net.closest_peers(key)).await
        else {
            return;
        };
        let near: Vec<PeerId> = peers
            .into_iter()
            .map(|(p, _)| p)
            .take(super::delivery::HOLDERS + 2)
            .collect();
        if let Ok(mut h) = holders.lock() {
            *h = near.iter().copied().collect();
        }
        for peer in near {
            self.fetch_mail(peer).await;
        }
    }

    async fn publish_record(&self) {
        let Some(card) = self.my_card().await else {
            return;
        };
        let Ok(value) = weft_protocol::encode(Kind::Card, &card) else {
            return;
        };
        let key = records::account_key(&self.me());
        match tokio::time::timeout(
            Duration::from_secs(30),
            self.inner.net.put_record(key, value),
        )
        .await
        {
            Ok(Ok(())) => tracing::debug!("published our account record"),
            Ok(Err(e)) => tracing::debug!(error = %e, "could not publish our account record"),
            Err(_) => tracing::debug!("publishing our account record timed out"),
        }
    }
}

fn peer_bytes(p: PeerId) -> Vec<u8> {
    p.to_bytes()
}
