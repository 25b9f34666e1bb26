//! Sending: texts, recalls, and the one path every outgoing chat message
//! takes, [`Chat::enqueue`]: number it, write it to the log and the outbox
//! (one copy per endpoint) in one transaction, wake delivery, flush, and
//! only then tell the caller it was sent. Delivery (`delivery.rs`) takes it from the outbox.

use weft_protocol::{
    chat::{ChatBody, ChatKind, DeliveryItem, MsgId, MAX_TEXT_BYTES, RECALL_WINDOW_MS},
    file::Attachment,
    AccountId,
};

use super::{now_ms, Chat, ChatError, RecallRefused};
use crate::store::chat::{MsgStatus, Outgoing, StoredMessage};

impl Chat {
    /// `chat send`: returns once the message is durably in the outbox.
    pub async fn send(
        &self,
        to: &str,
        text: &str,
        reply_to: Option<&str>,
    ) -> Result<MsgId, ChatError> {
        let (account, reply_to) = self.addressee(to, reply_to)?;
        if text.len() > MAX_TEXT_BYTES {
            return Err(weft_protocol::chat::ChatError::TooLarge {
                size: text.len(),
                limit: MAX_TEXT_BYTES,
            }
            .into());
        }
        self.enqueue(
            account,
            ChatKind::Text {
                text: text.to_string(),
                reply_to,
            },
        )
        .await
    }

    /// `chat send --file/--image/--voice/--video`: a staged attachment
    /// (see [`crate::files`]) with a caption; returns once it is durably in
    /// the outbox.
    pub async fn send_file(
        &self,
        to: &str,
        attachment: Attachment,
        caption: &str,
        reply_to: Option<&str>,
    ) -> Result<MsgId, ChatError> {
        let (account, reply_to) = self.addressee(to, reply_to)?;
        self.enqueue(
            account,
            ChatKind::File {
                attachment,
                caption: caption.to_string(),
                reply_to,
            },
        )
        .await
    }

    /// The friend `to` names and the message of that conversation
    /// `reply_to` names.
    fn addressee(
        &self,
        to: &str,
        reply_to: Option<&str>,
    ) -> Result<(AccountId, Option<MsgId>), ChatError> {
        let account = self.resolve(to)?;
        self.require_addressable(&account, to)?;
        let reply_to = match reply_to {
            Some(r) => {
                let id: MsgId = r.parse()?;
                if self.store().message_conversation(&id)? != Some(account) {
                    return Err(ChatError::NoMessage(r.to_string()));
                }
                Some(id)
            }
            None => None,
        };
        Ok((account, reply_to))
    }

    /// `chat recall`: within two minutes of sending, as WeChat.
    pub async fn recall(&self, id: &str) -> Result<(), ChatError> {
        let msg_id: MsgId = id.parse()?;
        let m = self
            .store()
            .message(&msg_id)?
            .ok_or_else(|| ChatError::NoMessage(id.to_string()))?;
        if m.from != self.me() {
            return Err(ChatError::Recall(RecallRefused::NotYours));
        }
        if m.status == MsgStatus::Recalled {
            return Err(ChatError::Recall(RecallRefused::AlreadyRecalled));
        }
        if now_ms().saturating_sub(m.sent_at_ms) > RECALL_WINDOW_MS {
            return Err(ChatError::Recall(RecallRefused::TooLate));
        }
        let conv = self
            .store()
            .message_conversation(&msg_id)?
            .ok_or_else(|| ChatError::NoMessage(id.to_string()))?;
        self.store().update_message(&msg_id, |m| {
            m.status = MsgStatus::Recalled;
            m.text.clear();
            m.attachment = None;
        })?;
        self.enqueue(conv, ChatKind::Recall { target: msg_id })
            .await?;
        Ok(())
    }

    /// Numbers `kind` for `to` and writes it to the outbox (and,
    /// for a text, to the log). Not flushed. Callers hold the send lock.
    /// Returns the id and the endpoints it was queued for.
    fn stage(&self, to: AccountId, kind: ChatKind) -> Result<(MsgId, Vec<AccountId>), ChatError> {
        let me = self.me();
        if self.revoked() {
            return Err(ChatError::Revoked);
        }
        let (seq, sent_at_ms) = self.store().next_seq(&to, now_ms())?;
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
        // One copy per device of the recipient, and one per other device of
        // ours (so it shows as sent there too); "me" is our other devices.
        let mut endpoints = if to == me {
            Vec::new()
        } else {
            self.endpoints_of(&to)
        };
        // What only the other side needs skips our own devices (group
        // business reaches them as one copy of its own: `send_direct_own`).
        let only_theirs = matches!(
            body.kind,
            ChatKind::Devices { .. }
                | ChatKind::Receipt { read: false, .. }
                | ChatKind::Group(_)
                | ChatKind::Pay(_)
        );
        if !only_theirs || to == me {
            endpoints.extend(self.own_other_endpoints());
        }
        endpoints.dedup();
        // The body as it is: the session that carries it encrypts it, and
        // it is sealed to the endpoint (Noise X) only if it must be left
        // with holders (`delivery.rs`).
        let items = endpoints
            .iter()
            .map(|e| (*e, DeliveryItem::Plain(plain.clone())))
            .collect();
        let log = match &body.kind {
            ChatKind::Text { text, reply_to } => Some(StoredMessage {
                id,
                from: me,
                seq,
                sent_at_ms,
                text: text.clone(),
                reply_to: *reply_to,
                status: MsgStatus::Sending,
                attachment: None,
            }),
            ChatKind::File {
                attachment,
                caption,
                reply_to,
            } => Some(StoredMessage {
                id,
                from: me,
                seq,
                sent_at_ms,
                text: caption.clone(),
                reply_to: *reply_to,
                status: MsgStatus::Sending,
                attachment: Some(attachment.clone()),
            }),
            ChatKind::Pay(m) => super::apply::pay_line(m).map(|text| StoredMessage {
                id,
                from: me,
                seq,
                sent_at_ms,
                text,
                reply_to: None,
                status: MsgStatus::Sending,
                attachment: None,
            }),
            _ => None,
        };
        self.store().enqueue(&Outgoing {
            to,
            seq,
            sent_at_ms,
            items,
            id,
            log,
        })?;
        Ok((id, endpoints))
    }

    /// Queues each message for its recipient with one flush (group
    /// business goes to hundreds at once), then wakes delivery.
    pub(super) async fn enqueue_many(
        &self,
        items: Vec<(AccountId, ChatKind)>,
    ) -> Result<(), ChatError> {
        let mut kick = Vec::new();
        {
            let _guard = self.inner.send_lock.lock().await;
            for (to, kind) in items {
                let (_, endpoints) = self.stage(to, kind)?;
                kick.extend(endpoints);
            }
        }
        // Delivery starts while the batch is made durable (see `enqueue`).
        for to in kick {
            self.kick(to);
        }
        // Persist before acknowledging, once for the whole batch.
        self.store().flush_async().await?;
        Ok(())
    }

    /// Seals `kind` to `to`, persists it (log + outbox) durably, wakes delivery.
    pub(super) async fn enqueue(&self, to: AccountId, kind: ChatKind) -> Result<MsgId, ChatError> {
        let guard = self.inner.send_lock.lock().await;
        let (id, endpoints) = self.stage(to, kind)?;
        // Sequence numbers are taken; concurrent senders may now share one flush.
        drop(guard);
        // Send without waiting: delivery starts while the write is made
        // durable. If this node dies before the flush, the peer may hold a
        // message our log lost, but the caller was never told it was sent
        // (and a later message never overwrites it: the peer files by time,
        // sender and counter, beside whatever already stands there).
        for e in endpoints {
            self.kick(e);
        }
        // Persist before acknowledging: once we answer, the message must survive a crash.
        self.store().flush_async().await?;
        Ok(id)
    }
}
