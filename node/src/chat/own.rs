//! What another device of our own account tells this one through chat:
//! copies of the messages it sent (so they show as sent here too), the
//! recalls it made and the read receipts it sent (read on one device is
//! read on all), and what it sent to our own account ("File Transfer").

use weft_protocol::chat::{ChatBody, ChatKind};
use weft_protocol::AccountId;

use super::{Chat, ChatError, ChatEvent};
use crate::store::chat::{Contact, ContactState, MsgStatus};

impl Chat {
    /// Applies a message our own other device sent (checked by the caller:
    /// sealed by one of our endpoints, `from` is us). Once per id.
    pub(super) fn apply_own(&self, body: ChatBody) -> Result<(), ChatError> {
        let store = self.store();
        let id = body.id();
        if store.has_message(&id)? {
            return Ok(());
        }
        let me = self.me();
        let conv = body.to;
        let to_self = conv == me;
        match body.kind {
            ChatKind::Text { .. } | ChatKind::File { .. } => {
                // To "File Transfer" it arrived here; to a friend it is on
                // its way from the device that sent it.
                let status = if to_self {
                    MsgStatus::Received
                } else {
                    MsgStatus::Stored
                };
                let Some(m) = super::apply::logged(&body, status) else {
                    return Ok(());
                };
                let text = m.text.clone();
                if store.insert_incoming(&conv, &m, weft_protocol::unix_now_ms())? {
                    self.emit(ChatEvent::Message {
                        with: conv.to_string(),
                        id: id.to_string(),
                        from: me.to_string(),
                        text,
                    });
                }
            }
            ChatKind::Recall { target } => {
                store.mark_seen_id(&id)?;
                if store.message(&target)?.is_some_and(|t| t.from == me) {
                    store.update_message(&target, |m| {
                        m.status = MsgStatus::Recalled;
                        m.text.clear();
                        m.attachment = None;
                    })?;
                    if let Some(with) = store.message_conversation(&target)? {
                        self.emit(ChatEvent::Recalled {
                            with: with.to_string(),
                            id: target.to_string(),
                        });
                    }
                }
            }
            ChatKind::Receipt { read: true, ids } => {
                // We read these on another device: read here too.
                store.mark_seen_id(&id)?;
                for mid in ids {
                    if store.message_conversation(&mid)? == Some(conv) {
                        store.update_message(&mid, |m| {
                            if m.from == conv && m.status == MsgStatus::Received {
                                m.status = MsgStatus::Seen;
                            }
                        })?;
                    }
                }
            }
            ChatKind::FriendRequest { .. } => {
                store.mark_seen_id(&id)?;
                if store.contact(&conv)?.is_none() {
                    store.put_contact(&Contact {
                        account: conv,
                        name: conv.short(),
                        remark: None,
                        state: ContactState::RequestSent,
                        greeting: None,
                        card: None,
                    })?;
                }
            }
            ChatKind::FriendAccept { .. } => {
                // Accepted on another device: a friend here too.
                store.mark_seen_id(&id)?;
                let mut c = store.contact(&conv)?.unwrap_or(Contact {
                    account: conv,
                    name: conv.short(),
                    remark: None,
                    state: ContactState::Friend,
                    greeting: None,
                    card: None,
                });
                if c.state != ContactState::Blocked {
                    c.state = ContactState::Friend;
                    store.put_contact(&c)?;
                }
            }
            ChatKind::Group(direct) => {
                // Group business for our own account (a group made, a
                // chain started, messages read on another device): applied
                // as coming from us; the group service checks the rest.
                if to_self {
                    if let Some(inbox) = self.inner.group_inbox.get() {
                        inbox.deliver(me, direct)?;
                    }
                }
                store.mark_seen_id(&id)?;
            }
            ChatKind::MomentsKey { key } => {
                // Our account's Moments topic key, which the first device
                // gives friends (a copy) or gave us (to ourselves): read our
                // own topic with it. Newest by the first device's clock.
                store.mark_seen_id(&id)?;
                if !self.inner.ctx.identity.primary {
                    store.put_topic_key(&me, &key, body.sent_at_ms)?;
                    self.inner.moments_keys.notify_one();
                }
            }
            ChatKind::ContactSettings {
                account,
                remark,
                blocked,
                deleted,
            } => {
                store.mark_seen_id(&id)?;
                self.take_contact_settings(account, remark, blocked, deleted)?;
            }
            ChatKind::Receipt { read: false, .. } | ChatKind::Devices { .. } | ChatKind::Pay(_) => {
                store.mark_seen_id(&id)?
            }
        }
        Ok(())
    }
}

impl Chat {
    /// Tells our other devices what we now hold for `account` (after a
    /// remark, a block, an unblock or a deletion here), through the durable
    /// outbox. Best effort: the change stands here whatever happens.
    pub(super) async fn tell_own_devices(&self, account: AccountId) {
        if self.own_other_endpoints().is_empty() || self.revoked() {
            return;
        }
        let kind = match self.store().contact(&account) {
            Ok(Some(c)) => ChatKind::ContactSettings {
                account,
                remark: c.remark,
                blocked: c.state == ContactState::Blocked,
                deleted: false,
            },
            Ok(None) => ChatKind::ContactSettings {
                account,
                remark: None,
                blocked: false,
                deleted: true,
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a contact to tell our other devices");
                return;
            }
        };
        if let Err(e) = self.enqueue(self.me(), kind).await {
            tracing::warn!(error = %e, "cannot tell our other devices of a contact change");
        }
    }

    /// What another of our devices set for `account`.
    fn take_contact_settings(
        &self,
        account: AccountId,
        remark: Option<String>,
        blocked: bool,
        deleted: bool,
    ) -> Result<(), ChatError> {
        let store = self.store();
        if account == self.me() {
            return Ok(());
        }
        let local = store.contact(&account)?;
        if deleted {
            if local.is_some() {
                store.delete_contact(&account)?;
            }
            return Ok(());
        }
        let c = match local {
            Some(mut c) => {
                c.remark = remark;
                if blocked {
                    c.state = ContactState::Blocked;
                }
                c
            }
            None if blocked => Contact {
                account,
                name: account.short(),
                remark,
                state: ContactState::Blocked,
                greeting: None,
                card: None,
            },
            None => return Ok(()),
        };
        store.put_contact(&c)?;
        Ok(())
    }
}
