//! Reading: one conversation's log, and the list of conversations. Reading
//! a conversation is what makes its messages "read", so `log` also sends the
//! read receipts.

use std::collections::HashMap;

use weft_protocol::{
    chat::{ChatKind, MsgId, MAX_RECEIPT_IDS},
    AccountId,
};

use super::{Chat, ChatError, ConversationView, MessageView};
use crate::store::chat::{Contact, MsgStatus, StoredMessage};

/// Most messages one `chat log` returns, whatever the caller asks for.
/// What the conversation with our own other devices is called (as WeChat).
pub(crate) const FILE_TRANSFER: &str = "File Transfer";

const MAX_LOG: usize = 100_000;

impl Chat {
    /// `chat log`: the last `limit` messages, oldest first. Reading marks
    /// incoming messages read and tells the sender (read receipts).
    pub async fn log(&self, with: &str, limit: usize) -> Result<Vec<MessageView>, ChatError> {
        let account = self.resolve(with)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let msgs = self.store().conversation(&account, limit.min(MAX_LOG))?;
        let unread: Vec<MsgId> = msgs
            .iter()
            .filter(|m| m.status == MsgStatus::Received)
            .map(|m| m.id)
            .collect();
        let out = msgs.iter().map(message_view).collect();
        if !unread.is_empty() {
            for id in &unread {
                self.store().update_message(id, |m| {
                    if m.status == MsgStatus::Received {
                        m.status = MsgStatus::Seen;
                    }
                })?;
            }
            // A removed device sends nothing for the account, receipts included.
            let chunks = if self.revoked() {
                [].chunks(1)
            } else {
                unread.chunks(MAX_RECEIPT_IDS)
            };
            for chunk in chunks {
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

    /// `chat list`: newest conversation first.
    pub fn conversations(&self) -> Result<Vec<ConversationView>, ChatError> {
        let contacts: HashMap<AccountId, Contact> = self
            .store()
            .contacts()?
            .into_iter()
            .map(|c| (c.account, c))
            .collect();
        let mut out: Vec<ConversationView> = self
            .store()
            .conversations()?
            .into_iter()
            .map(|(acct, last, unread)| ConversationView {
                account_id: acct.to_string(),
                name: if acct == self.me() {
                    FILE_TRANSFER.to_string()
                } else {
                    contacts
                        .get(&acct)
                        .map(|c| c.display_name().to_string())
                        .unwrap_or_else(|| acct.short())
                },
                last_text: match &last.attachment {
                    Some(a) if last.text.is_empty() => crate::files::summary(a),
                    _ => last.text,
                },
                last_at: last.sent_at_ms,
                unread,
            })
            .collect();
        out.sort_by_key(|c| std::cmp::Reverse(c.last_at));
        Ok(out)
    }

    /// The attachment of message `id` (full hex) and where to fetch it: the
    /// sender's device. `None` for a message without one.
    pub fn attachment(
        &self,
        id: &str,
    ) -> Result<Option<(weft_protocol::file::Attachment, Vec<libp2p::PeerId>)>, ChatError> {
        let id: weft_protocol::chat::MsgId = id.parse()?;
        let Some(m) = self.store().message(&id)? else {
            return Ok(None);
        };
        let Some(att) = m.attachment else {
            return Ok(None);
        };
        let sources = self.devices_of(&m.from)?;
        Ok(Some((att, sources)))
    }

    /// The devices of an account other than this one: the one its card
    /// names first, then every device on its list.
    pub fn devices_of(&self, account: &AccountId) -> Result<Vec<libp2p::PeerId>, ChatError> {
        let mut out: Vec<libp2p::PeerId> = self
            .store()
            .contact(account)?
            .and_then(|c| c.card)
            .and_then(|c| crate::net::card_peer(&c))
            .into_iter()
            .collect();
        if let Some(list) = self.store().device_list(account)? {
            for d in &list.body.devices {
                if let Some(p) = crate::device::peer_of(&d.device_key) {
                    if !out.contains(&p) && p != self.net().peer_id() {
                        out.push(p);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// A logged message as the API shows it.
fn message_view(m: &StoredMessage) -> MessageView {
    MessageView {
        id: m.id.to_string(),
        from: m.from.to_string(),
        text: m.text.clone(),
        sent_at: m.sent_at_ms,
        seq: m.seq,
        status: m.status,
        reply_to: m.reply_to.map(|r| r.to_string()),
        attachment: m.attachment.as_ref().map(crate::files::AttachmentView::of),
    }
}
