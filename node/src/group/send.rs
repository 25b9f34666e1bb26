//! Sending: one encryption per message under our sender chain, published
//! once on the group's topic. Before that, every member without our
//! current chain gets it 1:1 (sealed, durable), and a new epoch (someone
//! removed or gone) or a worn chain makes us start a fresh chain, so a
//! removed member holds nothing that opens what we send next.

use weft_protocol::{
    chat::{MsgId, RECALL_WINDOW_MS},
    group::{
        sender_key::SendingChain, topic_tag, Direct, GroupId, GroupKeys, GroupKind, GroupPlain,
        MAX_TEXT,
    },
    AccountId,
};

use super::{Groups, GroupsError};
use crate::chat::RecallRefused;
use crate::net::Topic;
use crate::store::group::GroupMessage;

/// How many of our old chain ids we remember.
const OWN_KEYS_KEPT: usize = 64;

/// What the user asked to send.
pub struct Outgoing<'a> {
    /// Text.
    pub text: &'a str,
    /// Quoted message.
    pub reply_to: Option<MsgId>,
    /// Members to mention (as typed).
    pub mentions: &'a [String],
    /// `@all` (admins only).
    pub all: bool,
}

impl Groups {
    /// `chat send <g> TEXT [--mention C]... [--all]`.
    pub async fn send(&self, g: &str, out: Outgoing<'_>) -> Result<MsgId, GroupsError> {
        let g = self.resolve(g)?;
        if out.text.is_empty() {
            return Err(weft_protocol::group::GroupError::Malformed("empty text").into());
        }
        if out.text.len() > MAX_TEXT {
            return Err(weft_protocol::group::GroupError::TooLong { limit: MAX_TEXT }.into());
        }
        let l = self.member_state(&g)?;
        if out.all
            && !matches!(
                l.state.role(&self.me()),
                Some(
                    weft_protocol::group::log::Role::Owner | weft_protocol::group::log::Role::Admin
                )
            )
        {
            return Err(weft_protocol::group::log::Refusal::NotAllowed("admins (@all)").into());
        }
        let mut mentions = Vec::new();
        for m in out.mentions {
            let a = self.member_named(&l.state, m)?;
            if !l.state.members.contains_key(&a) {
                return Err(GroupsError::NotInGroup(m.chars().take(80).collect()));
            }
            if !mentions.contains(&a) {
                mentions.push(a);
            }
        }
        if let Some(r) = out.reply_to {
            if !matches!(self.store().group_message(&r)?, Some((rg, _)) if rg == g) {
                return Err(GroupsError::Unknown(format!("message {r} in this group")));
            }
        }
        self.publish(
            g,
            GroupKind::Text {
                text: out.text.to_string(),
                reply_to: out.reply_to,
                mentions,
                all: out.all,
            },
        )
        .await
    }

    /// `chat send <group> --file/--image/...`: a staged attachment (see
    /// [`crate::files`]) with a caption, encrypted once for every member.
    pub async fn send_file(
        &self,
        group: &str,
        attachment: weft_protocol::file::Attachment,
        caption: &str,
        reply_to: Option<MsgId>,
    ) -> Result<MsgId, GroupsError> {
        let g = self.resolve(group)?;
        if let Some(r) = reply_to {
            if !matches!(self.store().group_message(&r)?, Some((rg, _)) if rg == g) {
                return Err(GroupsError::Unknown(format!("message {r} in this group")));
            }
        }
        self.publish(
            g,
            GroupKind::File {
                attachment,
                caption: caption.to_string(),
                reply_to,
            },
        )
        .await
    }

    /// `chat recall <id>` for a group message: within 2 minutes.
    pub async fn recall(&self, id: &MsgId) -> Result<(), GroupsError> {
        let Some((g, mut m)) = self.store().group_message(id)? else {
            return Err(GroupsError::Unknown(id.to_string()));
        };
        if m.from != self.me() {
            return Err(crate::chat::ChatError::Recall(RecallRefused::NotYours).into());
        }
        if m.recalled {
            return Err(crate::chat::ChatError::Recall(RecallRefused::AlreadyRecalled).into());
        }
        if weft_protocol::unix_now_ms().saturating_sub(m.sent_at_ms) > RECALL_WINDOW_MS {
            return Err(crate::chat::ChatError::Recall(RecallRefused::TooLate).into());
        }
        m.recalled = true;
        m.text.clear();
        m.attachment = None;
        self.store().update_group_message(&g, &m)?;
        self.publish(g, GroupKind::Recall { target: *id }).await?;
        Ok(())
    }

    /// Encrypts `kind` once, stores it, hands our chain to members that
    /// lack it, and publishes. Returns the message id once it is stored.
    async fn publish(&self, g: GroupId, kind: GroupKind) -> Result<MsgId, GroupsError> {
        if self.inner.chat.revoked() {
            return Err(crate::chat::ChatError::Revoked.into());
        }
        let (wire, bytes, tag, epoch_change, share_to, share) = {
            let _guard = self.inner.lock.lock().await;
            // A device list that changed since the last send is applied
            // first (a revoked device must not get this message's chain).
            self.spawn_send_logs(self.apply_device_changes());
            let l = self.member_state(&g)?;
            let mut meta = self.meta(&g)?;
            let fresh = match &meta.chain {
                Some(c) => c.epoch != l.state.epoch || c.worn(),
                None => true,
            };
            if fresh {
                let chain = SendingChain::generate(l.state.epoch)?;
                meta.own_keys.push(chain.key_id());
                if meta.own_keys.len() > OWN_KEYS_KEPT {
                    meta.own_keys.remove(0);
                }
                meta.chain = Some(chain);
                meta.shared_with.clear();
            }
            let me = self.me();
            // Our own other devices read our messages too: "us" is in the
            // list while we have another device.
            let own_others = !self.inner.chat.own_other_endpoints().is_empty();
            let share_to: Vec<AccountId> = l
                .state
                .members
                .keys()
                .filter(|a| (**a != me || own_others) && !meta.shared_with.contains(a))
                .copied()
                .collect();
            meta.shared_with.retain(|a| l.state.members.contains_key(a));
            let Some(chain) = meta.chain.as_mut() else {
                return Err(GroupsError::NotMember);
            };
            let share = chain.share()?;
            meta.lamport = meta.lamport.max(self.store().group_clock(&g)) + 1;
            self.store().raise_group_clock(&g, meta.lamport)?;
            meta.seq += 1;
            let plain = GroupPlain {
                group: g,
                sender: me,
                lamport: meta.lamport,
                seq: meta.seq,
                sent_at_ms: weft_protocol::unix_now_ms(),
                kind: kind.clone(),
            };
            let wire = chain.encrypt(&plain.to_bytes()?)?;
            let bytes = wire.encode()?;
            meta.shared_with.extend(share_to.iter().copied());
            let shown = match kind {
                GroupKind::Text {
                    text,
                    reply_to,
                    mentions,
                    all,
                } => Some((text, reply_to, mentions, all, None)),
                GroupKind::File {
                    attachment,
                    caption,
                    reply_to,
                } => Some((caption, reply_to, Vec::new(), false, Some(attachment))),
                GroupKind::Recall { .. } => None,
            };
            if let Some((text, reply_to, mentions, all, attachment)) = shown {
                self.store().put_group_message(
                    &g,
                    &GroupMessage {
                        id: wire.id(),
                        from: me,
                        seq: plain.seq,
                        lamport: plain.lamport,
                        sent_at_ms: plain.sent_at_ms,
                        text,
                        reply_to,
                        mentions,
                        all,
                        recalled: false,
                        arrived_ms: plain.sent_at_ms,
                        attachment,
                    },
                )?;
            }
            self.store()
                .put_group_wire(&g, &wire.key_id, wire.iteration, &bytes)?;
            self.store().put_group_meta(&g, &meta)?;
            // The shares go into the durable outbox before the message is
            // out, so every member can eventually read it.
            let tag = topic_tag(&meta.secret, &l.state.epoch_change);
            (wire, bytes, tag, l.state.epoch_change, share_to, share)
        };
        if !share_to.is_empty() {
            // Fast path: one bundle on the topic, a box per device of each
            // member. It is signed by the account key, so only the first
            // device makes one; a linked device's chain goes 1:1 only.
            if let Ok(key) = self.inner.ctx.identity.account_key() {
                let endpoints = self.endpoints_of(&share_to);
                let keys = GroupKeys::new(key, g, &share, &endpoints)?;
                // Kept, so members that miss it on the topic get it in catch-up.
                self.store()
                    .put_group_bundle(&g, &share.key_id, &keys.encode()?)?;
                if let Err(e) = self
                    .inner
                    .ctx
                    .net
                    .publish(Topic::Group(tag), keys.encode()?)
                    .await
                {
                    tracing::debug!(group = %g, error = %e, "key bundle not published now");
                }
            }
            // Durable path, for members offline now: 1:1 through the outbox
            // (to every device of each member; ours get one copy).
            let d = Direct::SenderKey {
                group: g,
                epoch_change,
                share: share.clone(),
            };
            let me = self.me();
            let items = share_to
                .iter()
                .filter(|a| **a != me)
                .map(|a| (*a, d.clone()))
                .collect();
            self.inner.chat.send_direct_many(items).await?;
            if share_to.contains(&me) {
                self.inner.chat.send_direct_own(vec![d]).await?;
            }
        }
        self.store().flush_async().await?;
        if let Err(e) = self.inner.ctx.net.publish(Topic::Group(tag), bytes).await {
            // Stored: members get it by sync when they next meet us.
            tracing::debug!(group = %g, error = %e, "group message not published now; members will sync it");
        }
        Ok(wire.id())
    }

    /// Tells the senders of messages we have now read (1:1, counts only).
    pub(super) async fn send_reads(&self, g: GroupId, read: Vec<(AccountId, MsgId)>) {
        let mut by: std::collections::BTreeMap<AccountId, Vec<MsgId>> = Default::default();
        let all: Vec<MsgId> = read.iter().map(|(_, id)| *id).collect();
        for (a, id) in read {
            by.entry(a).or_default().push(id);
        }
        // Read here is read on our other devices too.
        let own = all
            .chunks(weft_protocol::chat::MAX_RECEIPT_IDS)
            .map(|part| Direct::Read {
                group: g,
                ids: part.to_vec(),
            })
            .collect();
        if let Err(e) = self.inner.chat.send_direct_own(own).await {
            tracing::debug!(error = %e, "cannot tell our other devices what we read");
        }
        for (a, ids) in by {
            for part in ids.chunks(weft_protocol::chat::MAX_RECEIPT_IDS) {
                let d = Direct::Read {
                    group: g,
                    ids: part.to_vec(),
                };
                if let Err(e) = self.inner.chat.send_direct(a, d).await {
                    tracing::debug!(error = %e, "cannot queue a group read receipt");
                }
            }
        }
    }

    /// Every device of `accounts` (ours other than this one for us), for
    /// the boxes of a key bundle; the accounts alone if that is too many.
    fn endpoints_of(&self, accounts: &[AccountId]) -> Vec<AccountId> {
        let v = self.inner.chat.endpoints_for(accounts);
        if v.len() > 2 * weft_protocol::group::MAX_MEMBERS {
            let me = self.me();
            return accounts.iter().filter(|a| **a != me).copied().collect();
        }
        v
    }
}
