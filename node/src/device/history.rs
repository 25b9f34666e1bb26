//! History sync between the devices of one account: a linked device asks
//! another of its devices for the contacts (with their device lists) and,
//! per conversation, the newest messages, page by page. Progress is kept per
//! conversation, so a sync cut short resumes where it stopped; messages keep
//! their ids, so a copy that also arrives by chat is kept once.
//!
//! It runs on `/weft/device/1` over a direct libp2p connection, whose Noise
//! session is between the two devices' own keys (a relay would carry only
//! ciphertext), and only a device on our account's list is answered.

use std::sync::atomic::Ordering;

use libp2p::PeerId;
use weft_protocol::device::{
    DeviceReply, DeviceRequest, SyncContact, SyncGroupMessage, SyncMessage, MAX_CURSOR,
    MAX_SYNC_CONTACTS, MAX_SYNC_GROUPS, MAX_SYNC_MESSAGES,
};
use weft_protocol::{group::GroupId, AccountId};

use super::Devices;
use crate::store::chat::{Contact, ContactState, MsgStatus, StoredMessage};

/// Messages per conversation a new device gets, unless told otherwise.
pub const DEFAULT_HISTORY: u32 = 1000;
/// Bytes of messages per page (the answer's limit is 1 MiB).
const PAGE_BYTES: usize = 768 * 1024;
/// Pages one sync asks for at most (bounds a misbehaving answerer).
const MAX_PAGES: usize = 10_000;

impl Devices {
    /// `Contacts`: ours, with the device lists we hold for them.
    pub(super) fn answer_contacts(&self) -> DeviceReply {
        let contacts = self.store().contacts().unwrap_or_default();
        let mut lists = Vec::new();
        let contacts: Vec<SyncContact> = contacts
            .into_iter()
            .take(MAX_SYNC_CONTACTS)
            .map(|c| {
                if let Ok(Some(l)) = self.store().device_list(&c.account) {
                    lists.push(l);
                }
                SyncContact {
                    account: c.account,
                    name: c.name,
                    remark: c.remark,
                    state: c.state.code(),
                    greeting: c.greeting,
                    card: c.card,
                }
            })
            .collect();
        DeviceReply::Contacts { contacts, lists }
    }

    /// `History`: one page of one conversation.
    pub(super) fn answer_history(
        &self,
        conv: AccountId,
        keep: u32,
        after: Option<Vec<u8>>,
    ) -> DeviceReply {
        answer_page(
            keep,
            after,
            |keep, after| {
                self.store()
                    .history_page(&conv, keep, after, MAX_SYNC_MESSAGES, PAGE_BYTES)
            },
            |messages, next| DeviceReply::History {
                messages: messages
                    .into_iter()
                    .map(|m| SyncMessage {
                        id: m.id,
                        from: m.from,
                        seq: m.seq,
                        sent_at_ms: m.sent_at_ms,
                        text: m.text,
                        reply_to: m.reply_to,
                        status: m.status.code(),
                        attachment: m.attachment,
                    })
                    .collect(),
                next,
            },
        )
    }

    /// `Groups`: the ids of the groups we hold.
    pub(super) fn answer_groups(&self) -> DeviceReply {
        let ids = self
            .store()
            .groups()
            .unwrap_or_default()
            .into_iter()
            .take(MAX_SYNC_GROUPS)
            .map(|(g, _)| g)
            .collect();
        DeviceReply::Groups { ids }
    }

    /// `GroupHistory`: one page of one group.
    pub(super) fn answer_group_history(
        &self,
        group: GroupId,
        keep: u32,
        after: Option<Vec<u8>>,
    ) -> DeviceReply {
        answer_page(
            keep,
            after,
            |keep, after| {
                self.store()
                    .group_history_page(&group, keep, after, MAX_SYNC_MESSAGES, PAGE_BYTES)
            },
            |messages, next| DeviceReply::GroupHistory {
                messages: messages
                    .into_iter()
                    .map(|m| SyncGroupMessage {
                        id: m.id,
                        from: m.from,
                        seq: m.seq,
                        lamport: m.lamport,
                        sent_at_ms: m.sent_at_ms,
                        text: m.text,
                        reply_to: m.reply_to,
                        mentions: m.mentions,
                        all: m.all,
                        recalled: m.recalled,
                        attachment: m.attachment,
                    })
                    .collect(),
                next,
            },
        )
    }

    /// Runs history sync from `peer` (one of our devices) unless one runs.
    pub(super) fn spawn_history_sync(&self, peer: PeerId) {
        if self.inner.syncing.swap(true, Ordering::AcqRel) {
            return;
        }
        let d = self.clone();
        tokio::spawn(async move {
            match d.sync_history(peer).await {
                Ok(n) => tracing::info!(%peer, messages = n, "history synced from another device"),
                Err(e) => {
                    tracing::info!(%peer, error = %e, "history sync stopped; it resumes later")
                }
            }
            d.inner.syncing.store(false, Ordering::Release);
        });
    }

    /// Contacts first, then each conversation page by page; returns the
    /// messages added.
    async fn sync_history(&self, peer: PeerId) -> Result<usize, super::DevicesError> {
        let (contacts, lists) = match self.ask(peer, &DeviceRequest::Contacts).await? {
            DeviceReply::Contacts { contacts, lists } => (contacts, lists),
            other => return Err(unexpected(other)),
        };
        let me = self.inner.ctx.me();
        let mut convs = vec![me];
        for c in contacts.iter().take(MAX_SYNC_CONTACTS) {
            if c.check().is_err() || c.account == me {
                continue;
            }
            self.take_contact(c)?;
            convs.push(c.account);
        }
        for l in &lists {
            if convs.contains(&l.account()) && l.verify().is_ok() {
                self.store().put_device_list(l)?;
            }
        }
        let mut added = 0;
        for conv in convs {
            added += self.sync_conversation(peer, conv).await?;
        }
        // Then the groups' messages (their logs and secrets come through
        // chat from the first device; the messages keep their place).
        let groups = match self.ask(peer, &DeviceRequest::Groups).await? {
            DeviceReply::Groups { ids } => ids,
            other => return Err(unexpected(other)),
        };
        for g in groups.into_iter().take(MAX_SYNC_GROUPS) {
            added += self.sync_group(peer, g).await?;
        }
        self.store().flush_async().await?;
        Ok(added)
    }

    /// One group's newest messages, page by page, resumable.
    async fn sync_group(&self, peer: PeerId, g: GroupId) -> Result<usize, super::DevicesError> {
        let progress = self.store().group_history_progress(&g)?;
        let keep = self.inner.history_keep;
        self.sync_pages(
            peer,
            progress,
            |after| DeviceRequest::GroupHistory {
                group: g,
                keep,
                after,
            },
            |reply| match reply {
                DeviceReply::GroupHistory { messages, next } => Ok((messages, next)),
                other => Err(unexpected(other)),
            },
            |messages, now| {
                let mut added = 0;
                for m in messages {
                    if m.check().is_err() {
                        continue;
                    }
                    let stored = crate::store::group::GroupMessage {
                        id: m.id,
                        from: m.from,
                        seq: m.seq,
                        lamport: m.lamport,
                        sent_at_ms: m.sent_at_ms,
                        text: m.text,
                        reply_to: m.reply_to,
                        mentions: m.mentions,
                        all: m.all,
                        recalled: m.recalled,
                        arrived_ms: now,
                        attachment: m.attachment,
                    };
                    if self.store().put_group_message(&g, &stored)? {
                        self.store().raise_group_clock(&g, stored.lamport)?;
                        added += 1;
                    }
                }
                Ok(added)
            },
            |next| self.store().set_group_history_progress(&g, next),
        )
        .await
    }

    /// A contact from another device: new ones are taken; a known one takes
    /// the other device's friendship (never over a block made here).
    fn take_contact(&self, c: &SyncContact) -> Result<(), super::DevicesError> {
        let Some(state) = ContactState::from_code(c.state) else {
            return Ok(());
        };
        let store = self.store();
        match store.contact(&c.account)? {
            Some(mut local) => {
                if local.state != ContactState::Blocked && local.state != state {
                    local.state = state;
                    if local.card.is_none() {
                        local.card = c.card.clone();
                    }
                    store.put_contact(&local)?;
                }
            }
            None => store.put_contact(&Contact {
                account: c.account,
                name: c.name.clone(),
                remark: c.remark.clone(),
                state,
                greeting: c.greeting.clone(),
                card: c.card.clone(),
            })?,
        }
        Ok(())
    }

    async fn sync_conversation(
        &self,
        peer: PeerId,
        conv: AccountId,
    ) -> Result<usize, super::DevicesError> {
        let progress = self.store().history_progress(&conv)?;
        let keep = self.inner.history_keep;
        let me = self.inner.ctx.me();
        self.sync_pages(
            peer,
            progress,
            |after| DeviceRequest::History { conv, keep, after },
            |reply| match reply {
                DeviceReply::History { messages, next } => Ok((messages, next)),
                other => Err(unexpected(other)),
            },
            |messages, now| {
                let mut added = 0;
                for m in messages {
                    // Only the two sides of this conversation write in it.
                    if m.check().is_err() || (m.from != conv && m.from != me) {
                        continue;
                    }
                    let Some(status) = MsgStatus::from_code(m.status) else {
                        continue;
                    };
                    let stored = StoredMessage {
                        id: m.id,
                        from: m.from,
                        seq: m.seq,
                        sent_at_ms: m.sent_at_ms,
                        text: m.text,
                        reply_to: m.reply_to,
                        status,
                        attachment: m.attachment,
                    };
                    if self.store().insert_incoming(&conv, &stored, now)? {
                        added += 1;
                    }
                }
                Ok(added)
            },
            |next| self.store().set_history_progress(&conv, next),
        )
        .await
    }

    /// Asks `peer` for one history page after another from where
    /// `progress` says we stopped, keeps each page (`keep`, given the
    /// arrival time) durably, then records how far we got (`mark`).
    /// Returns the messages added.
    async fn sync_pages<T>(
        &self,
        peer: PeerId,
        progress: Option<Option<Vec<u8>>>,
        ask: impl Fn(Option<Vec<u8>>) -> DeviceRequest,
        read: impl Fn(DeviceReply) -> Result<(Vec<T>, Option<Vec<u8>>), super::DevicesError>,
        keep: impl Fn(Vec<T>, u64) -> Result<usize, crate::store::StoreError>,
        mark: impl Fn(Option<&[u8]>) -> Result<(), crate::store::StoreError>,
    ) -> Result<usize, super::DevicesError> {
        let mut after = match progress {
            Some(None) => return Ok(0), // done before
            Some(Some(cursor)) => Some(cursor),
            None => None,
        };
        let mut added = 0;
        for _ in 0..MAX_PAGES {
            let (messages, next) = read(self.ask(peer, &ask(after.clone())).await?)?;
            if messages.len() > MAX_SYNC_MESSAGES
                || next.as_ref().is_some_and(|n| n.len() > MAX_CURSOR)
            {
                return Err(super::DevicesError::Refused(
                    "oversized history page".into(),
                ));
            }
            added += keep(messages, weft_protocol::unix_now_ms())?;
            // Durable before the progress that says we have it.
            self.store().flush_async().await?;
            mark(next.as_deref())?;
            match next {
                Some(n) => after = Some(n),
                None => return Ok(added),
            }
        }
        Ok(added)
    }
}

/// An answer that is not the one asked for: a refusal says why.
fn unexpected(reply: DeviceReply) -> super::DevicesError {
    match reply {
        DeviceReply::Refused { reason } => super::DevicesError::Refused(reason),
        _ => super::DevicesError::Unreachable("unexpected answer".into()),
    }
}

/// One page of a history for another of our devices: the cursor checked,
/// `page` read with `keep` bounded, and `wrap`ped as the answer.
fn answer_page<M>(
    keep: u32,
    after: Option<Vec<u8>>,
    page: impl FnOnce(
        usize,
        Option<&[u8]>,
    ) -> Result<(Vec<M>, Option<Vec<u8>>), crate::store::StoreError>,
    wrap: impl FnOnce(Vec<M>, Option<Vec<u8>>) -> DeviceReply,
) -> DeviceReply {
    if after.as_ref().is_some_and(|a| a.len() > MAX_CURSOR) {
        return DeviceReply::Refused {
            reason: "cursor too long".into(),
        };
    }
    match page(keep.min(100_000) as usize, after.as_deref()) {
        Ok((messages, next)) => wrap(messages, next),
        Err(e) => DeviceReply::Refused {
            reason: format!("cannot read the history: {e}"),
        },
    }
}
