//! Applying a message that passed its checks: the one place an incoming
//! chat message changes the store (friend requests and accepts, texts and
//! files, recalls, receipts, group and payment business handed on), once
//! per id. `inbound.rs` opens and checks; this writes.

use weft_protocol::chat::{ChatBody, ChatKind, RECALL_WINDOW_MS};

use super::{Chat, ChatError, ChatEvent};
use crate::store::chat::{Contact, ContactState, MsgStatus, StoredMessage};

/// Extra time a recall may take to reach us after its window closed on the
/// sender's side (a retry, a short disconnection).
const RECALL_DELIVERY_SLACK_MS: u64 = 5 * 60_000;

/// Whether `recall` may take back `target`, judged by our clock: the target
/// must have arrived here at most [`RECALL_WINDOW_MS`] (plus delivery slack)
/// ago. The sender's own timestamps must agree too, but they alone prove
/// nothing: a sender can write any `sent_at_ms`. A message whose arrival we
/// did not record (stored before we kept it) can no longer be recalled.
fn recall_in_window(recall: &ChatBody, target: &StoredMessage, arrived: Option<u64>) -> bool {
    let claimed = recall.sent_at_ms.saturating_sub(target.sent_at_ms) <= RECALL_WINDOW_MS;
    let now = weft_protocol::unix_now_ms();
    let ours = arrived
        .is_some_and(|a| now.saturating_sub(a) <= RECALL_WINDOW_MS + RECALL_DELIVERY_SLACK_MS);
    claimed && ours
}

impl Chat {
    /// Applies one checked message once: a retry or a second holder's copy
    /// of a known id is a no-op.
    pub(super) async fn apply(&self, body: ChatBody, via_holder: bool) -> Result<(), ChatError> {
        if body.from == self.me() {
            return self.apply_own(body);
        }
        let store = self.store();
        let id = body.id();
        if store.has_message(&id)? {
            return Ok(()); // a retry or a second holder's copy: already done
        }
        let from = body.from;
        let contact = store.contact(&from)?;
        let state = contact.as_ref().map(|c| c.state);
        // Ids are remembered only for accounts we keep a row for: what a
        // stranger sends is dropped again if replayed, and never grows the
        // id index (fresh keys are free).
        let known = contact.is_some();
        if state == Some(ContactState::Blocked) {
            tracing::debug!(%from, "dropping message from a blocked account");
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
                if known {
                    store.mark_seen_id(&id)?;
                }
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
            ChatKind::Text { .. } | ChatKind::File { .. } => {
                let Some(m) = logged(&body, MsgStatus::Received) else {
                    return Ok(());
                };
                if state != Some(ContactState::Friend) {
                    tracing::debug!(%from, "dropping chat message from a non-friend");
                    return Ok(());
                }
                let text = m.text.clone();
                if store.insert_incoming(&from, &m, weft_protocol::unix_now_ms())? {
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
                if known {
                    store.mark_seen_id(&id)?;
                }
                if let Some(t) = store.message(&target)? {
                    let arrived = store.message_arrived(&target)?;
                    if t.from == from && recall_in_window(&body, &t, arrived) {
                        store.update_message(&target, |m| {
                            m.status = MsgStatus::Recalled;
                            m.text.clear();
                            m.attachment = None;
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
            ChatKind::MomentsKey { key } => {
                if known {
                    store.mark_seen_id(&id)?;
                }
                // Only a friend's key names a topic we read. A friend who
                // just accepted our request may send it before the accept
                // (the accept is queued after it): keep it then too.
                if matches!(
                    state,
                    Some(ContactState::Friend | ContactState::RequestSent)
                ) {
                    store.put_topic_key(&from, &key, body.seq)?;
                    self.inner.moments_keys.notify_one();
                }
            }
            ChatKind::Devices { list } => {
                // Kept from contacts and from those we share a group with
                // (it is self-certifying; the row limit is what matters).
                let in_group = self
                    .inner
                    .group_inbox
                    .get()
                    .is_some_and(|i| i.shares_group(&from));
                if known || in_group {
                    store.mark_seen_id(&id)?;
                    if self.take_device_list(&from, &list) {
                        tracing::info!(%from, version = list.version(), "a contact's devices changed");
                    }
                }
            }
            ChatKind::Group(direct) => {
                // Group business: the group service checks membership and
                // applies it idempotently, so replays are harmless.
                if let Some(inbox) = self.inner.group_inbox.get() {
                    inbox.deliver(from, direct)?;
                }
            }
            ChatKind::Receipt { read, ids } => {
                if known {
                    store.mark_seen_id(&id)?;
                }
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
                        status,
                    });
                }
            }
            ChatKind::Pay(ref pm) => {
                let m = pm.clone();
                // Money is logged in the conversation with a friend (a
                // stranger's payment for our request shows in history).
                if state == Some(ContactState::Friend) {
                    if let Some(line) = logged(&body, MsgStatus::Received) {
                        let text = line.text.clone();
                        if store.insert_incoming(&from, &line, weft_protocol::unix_now_ms())? {
                            self.emit(ChatEvent::Message {
                                with: from.to_string(),
                                id: id.to_string(),
                                from: from.to_string(),
                                text,
                            });
                        }
                    }
                }
                // The pay service stores it idempotently (by sender and
                // payment id), so a replay is harmless.
                if let Some(inbox) = self.inner.pay_inbox.get() {
                    inbox.deliver(from, id, m)?;
                }
            }
            // Only our own devices tell us these (`own.rs`); validation
            // already refuses one addressed to someone else.
            ChatKind::ContactSettings { .. } => {}
        }
        Ok(())
    }
}

/// The log entry of a text or a file message (`None` for other kinds).
/// The line a payment shows in the conversation ("[transfer] 12.50 CNY:
/// lunch"); `None` for Pay business that is not shown.
pub(crate) fn pay_line(m: &weft_protocol::pay::PayMsg) -> Option<String> {
    use weft_protocol::pay::{format_amount, PayMsg, Purpose};
    match m {
        PayMsg::Transfer(t) => {
            let what = match t.purpose {
                Purpose::Packet(_) => "red envelope share",
                Purpose::Request(_) => "payment",
                Purpose::Issue => "top-up",
                Purpose::Coupon => "coupon",
                Purpose::Gift | Purpose::Token => "transfer",
            };
            if t.purpose == Purpose::Coupon {
                return Some(format!("[{what}] {}", t.note));
            }
            let mut s = format!("[{what}] {} {}", format_amount(t.amount), t.currency);
            if !t.note.is_empty() {
                s.push_str(": ");
                s.push_str(&t.note);
            }
            Some(s)
        }
        PayMsg::Packet(p) if p.group.is_none() => Some(format!(
            "[red envelope] {} {}: {}",
            format_amount(p.total),
            p.currency,
            p.note
        )),
        _ => None,
    }
}

pub(super) fn logged(body: &ChatBody, status: MsgStatus) -> Option<StoredMessage> {
    let (text, reply_to, attachment) = match &body.kind {
        ChatKind::Text { text, reply_to } => (text.clone(), *reply_to, None),
        ChatKind::File {
            attachment,
            caption,
            reply_to,
        } => (caption.clone(), *reply_to, Some(attachment.clone())),
        ChatKind::Pay(m) => (pay_line(m)?, None, None),
        _ => return None,
    };
    Some(StoredMessage {
        id: body.id(),
        from: body.from,
        seq: body.seq,
        sent_at_ms: body.sent_at_ms,
        text,
        reply_to,
        status,
        attachment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_protocol::chat::MsgId;
    use weft_protocol::AccountKey;

    /// Defect 7: a friend who claims the recall was sent a second after the
    /// message cannot take back a message that arrived here an hour ago.
    #[test]
    fn recall_windows_run_on_our_clock_of_arrival() {
        let from = AccountKey::generate().unwrap().account_id();
        let now = weft_protocol::unix_now_ms();
        let target = StoredMessage {
            id: MsgId([1; 32]),
            from,
            seq: 1,
            sent_at_ms: now - 3_600_000,
            text: "said an hour ago".into(),
            reply_to: None,
            status: MsgStatus::Received,
            attachment: None,
        };
        let recall = ChatBody {
            from,
            to: AccountKey::generate().unwrap().account_id(),
            seq: 2,
            sent_at_ms: target.sent_at_ms + 1_000,
            kind: ChatKind::Recall { target: target.id },
        };
        assert!(!recall_in_window(&recall, &target, Some(now - 3_600_000)));
        assert!(!recall_in_window(&recall, &target, None));
        assert!(recall_in_window(&recall, &target, Some(now - 1_000)));
    }
}
