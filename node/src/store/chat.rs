//! Chat and contacts storage (part of the one module that owns sled).
//!
//! Trees and keys (all integers big-endian, so range scans come out in order):
//! - `contacts`:  account(32) → [`Contact`]
//! - `messages`:  conversation account(32) ‖ sent_at_ms(8) ‖ from(32) ‖ seq(8) → [`StoredMessage`]
//!   (a conversation reads oldest-first; each sender's messages keep their order
//!   because senders make `sent_at_ms` strictly increasing)
//! - `msg_index`: message id(32) → its `messages` key (dedup, receipts, recall)
//! - `msg_arrived`: message id(32) → Unix ms (8) by *our* clock when a
//!   received message arrived: recall windows are measured with it, never
//!   with the sender's own claim of when it sent
//! - `outbox`:    recipient(32) ‖ seq(8) → [`OutboxEntry`] (the body, or its sealed bytes before schema 2; sent in order)
//! - `chat_meta`: `seq` ‖ account(32) → last seq / last sent_at for that conversation

use serde::{Deserialize, Serialize};
use weft_protocol::{
    chat::{DeliveryItem, MsgId},
    AccountId, Card,
};

use super::{dec, enc, get_u64, last, Store, StoreError};

/// A contact's relationship to us.
///
/// On disk (postcard) a variant is its index; the snake_case names are what
/// the API shows, so adding a variant goes at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactState {
    /// Both sides accepted.
    Friend,
    /// We asked; waiting for them.
    RequestSent,
    /// They asked; waiting for us.
    RequestReceived,
    /// Everything from them is dropped silently.
    Blocked,
}

/// Someone in the address book.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// Their account.
    pub account: AccountId,
    /// The name from their card.
    pub name: String,
    /// Our local name for them.
    pub remark: Option<String>,
    /// Relationship.
    pub state: ContactState,
    /// Greeting of their pending request.
    pub greeting: Option<String>,
    /// Their latest signed card: device and addresses to reach them.
    pub card: Option<Card>,
}

impl Contact {
    /// Remark if set, else their name.
    pub fn display_name(&self) -> &str {
        self.remark.as_deref().unwrap_or(&self.name)
    }
}

/// Where a message stands.
///
/// On disk (postcard) a variant is its index and the order is meaningful
/// ([`Store::raise_status`] only moves forward); the snake_case names are
/// what the API and events show ([`MsgStatus::as_str`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MsgStatus {
    /// Ours, persisted, not yet acknowledged by anyone.
    Sending,
    /// Ours, left with store-and-forward holders.
    Stored,
    /// Ours, the recipient's node has it.
    Delivered,
    /// Ours, the recipient has read it.
    Read,
    /// Theirs, not yet read by us.
    Received,
    /// Theirs, read by us.
    Seen,
    /// Recalled by its sender.
    Recalled,
    /// Ours, the recipient refused it for good.
    Failed,
}

impl MsgStatus {
    /// Lower-case name for the API.
    pub fn as_str(self) -> &'static str {
        match self {
            MsgStatus::Sending => "sending",
            MsgStatus::Stored => "stored",
            MsgStatus::Delivered => "delivered",
            MsgStatus::Read => "read",
            MsgStatus::Received => "received",
            MsgStatus::Seen => "seen",
            MsgStatus::Recalled => "recalled",
            MsgStatus::Failed => "failed",
        }
    }
}

impl std::fmt::Display for MsgStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl ContactState {
    /// The snake_case name the API shows.
    pub fn as_str(self) -> &'static str {
        match self {
            ContactState::Friend => "friend",
            ContactState::RequestSent => "request_sent",
            ContactState::RequestReceived => "request_received",
            ContactState::Blocked => "blocked",
        }
    }
}

impl std::fmt::Display for ContactState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A message in a conversation log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage {
    /// Message id.
    pub id: MsgId,
    /// Sender.
    pub from: AccountId,
    /// Sender's sequence number.
    pub seq: u64,
    /// Sender's clock, Unix ms.
    pub sent_at_ms: u64,
    /// Text (empty once recalled).
    pub text: String,
    /// Quoted message.
    pub reply_to: Option<MsgId>,
    /// Status.
    pub status: MsgStatus,
    /// A photo, voice note, video or file (`text` is its caption).
    pub attachment: Option<weft_protocol::file::Attachment>,
}

/// A message waiting for its recipient to acknowledge it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// What is delivered: the encoded body, which the session carrying it
    /// encrypts (sealed with Noise X only when left with holders), or,
    /// for entries written before schema 2, the sealed bytes.
    pub item: DeliveryItem,
    /// Id of the message inside.
    pub msg_id: MsgId,
    /// Whether copies were left with holders.
    pub held: bool,
}

/// [`OutboxEntry`] as schema 1 wrote it (always sealed); read once by the
/// migration to schema 2.
#[derive(Deserialize)]
pub(super) struct OutboxEntryV1 {
    sealed: Vec<u8>,
    msg_id: MsgId,
    held: bool,
}

impl From<OutboxEntryV1> for OutboxEntry {
    fn from(v1: OutboxEntryV1) -> Self {
        OutboxEntry {
            item: DeliveryItem::Sealed(v1.sealed),
            msg_id: v1.msg_id,
            held: v1.held,
        }
    }
}

trees! {
    /// The chat trees.
    ChatTrees {
        contacts: "contacts",
        messages: "messages",
        msg_index: "msg_index",
        arrived: "msg_arrived",
        outbox: "outbox",
        meta: "chat_meta",
    }
}

impl ChatTrees {
    /// The message log (history sync pages through it).
    pub(super) fn messages_tree(&self) -> &sled::Tree {
        &self.messages
    }
}

/// A field-less enum's stored code: its variant index, the one byte
/// postcard writes (history sync sends statuses and states this way).
fn variant_code<T: Serialize>(v: &T) -> u8 {
    postcard::to_stdvec(v)
        .ok()
        .and_then(|b| b.first().copied())
        .unwrap_or(0)
}

impl MsgStatus {
    /// Its stored code (the variant index).
    pub fn code(self) -> u8 {
        variant_code(&self)
    }

    /// The status with this code.
    pub fn from_code(c: u8) -> Option<Self> {
        postcard::from_bytes(&[c]).ok()
    }
}

impl ContactState {
    /// Its stored code (the variant index).
    pub fn code(self) -> u8 {
        variant_code(&self)
    }

    /// The state with this code.
    pub fn from_code(c: u8) -> Option<Self> {
        postcard::from_bytes(&[c]).ok()
    }
}

/// Key of a message in `messages`.
pub fn message_key(conv: &AccountId, sent_at_ms: u64, from: &AccountId, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(80);
    k.extend_from_slice(&conv.0);
    k.extend_from_slice(&sent_at_ms.to_be_bytes());
    k.extend_from_slice(&from.0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Where a message with id `id` goes in the log, `get` reading it: `base`
/// if free or if it already holds this very message (the row of a write
/// that a crash cut short: see [`Store::insert_incoming`]), else `base`
/// followed by the first 8 bytes of the id (same place in the order);
/// `None` if that is taken too.
fn free_place<E>(
    get: impl Fn(&[u8]) -> Result<Option<sled::IVec>, E>,
    base: Vec<u8>,
    id: &MsgId,
) -> Result<Option<Vec<u8>>, E> {
    let free = |v: Option<sled::IVec>| {
        v.is_none_or(|v| postcard::from_bytes::<StoredMessage>(&v).is_ok_and(|m| m.id == *id))
    };
    if free(get(&base)?) {
        return Ok(Some(base));
    }
    let mut beside = base;
    beside.extend_from_slice(&id.0[..8]);
    Ok(free(get(&beside)?).then_some(beside))
}

/// Key of an outbox entry: the endpoint it goes to (an account key or a
/// linked device's key), the conversation and the sequence number. Entries
/// written before linked devices existed are `to ‖ seq`; both start with the
/// endpoint, which is all the delivery worker scans by.
fn outbox_key(endpoint: &AccountId, conv: &AccountId, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(72);
    k.extend_from_slice(&endpoint.0);
    k.extend_from_slice(&conv.0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn seq_key(to: &AccountId) -> Vec<u8> {
    let mut k = b"seq".to_vec();
    k.extend_from_slice(&to.0);
    k
}

/// What to add to the log when a message is queued.
pub struct Outgoing {
    /// Recipient (the conversation).
    pub to: AccountId,
    /// Sequence number (from [`Store::next_seq`]).
    pub seq: u64,
    /// Sender clock.
    pub sent_at_ms: u64,
    /// One copy per endpoint: the recipient's devices and our own other
    /// devices.
    pub items: Vec<(AccountId, DeliveryItem)>,
    /// Id.
    pub id: MsgId,
    /// For texts: the log entry to show.
    pub log: Option<StoredMessage>,
}

impl Store {
    // ----- contacts -----

    /// A contact, if known.
    pub fn contact(&self, account: &AccountId) -> Result<Option<Contact>, StoreError> {
        match self.chat.contacts.get(account.0)? {
            None => Ok(None),
            Some(v) => dec("contacts", &v).map(Some),
        }
    }

    /// Adds or replaces a contact (not flushed: callers flush before acknowledging).
    pub fn put_contact(&self, c: &Contact) -> Result<(), StoreError> {
        self.chat.contacts.insert(c.account.0, enc(c))?;
        Ok(())
    }

    /// Removes a contact (their messages stay in the log).
    pub fn delete_contact(&self, account: &AccountId) -> Result<bool, StoreError> {
        Ok(self.chat.contacts.remove(account.0)?.is_some())
    }

    /// Every contact.
    pub fn contacts(&self) -> Result<Vec<Contact>, StoreError> {
        let mut out = Vec::new();
        for item in self.chat.contacts.iter() {
            let (_, v) = item?;
            match dec::<Contact>("contacts", &v) {
                Ok(c) => out.push(c),
                Err(e) => tracing::warn!(error = %e, "skipping unreadable contact"),
            }
        }
        Ok(out)
    }

    // ----- sending -----

    /// Next (seq, sent_at_ms) for a conversation: seq +1, time strictly increasing.
    /// Callers serialise (one sender lock), then persist with [`Store::enqueue`].
    pub fn next_seq(&self, to: &AccountId, now_ms: u64) -> Result<(u64, u64), StoreError> {
        let (seq, last_ms) = match self.chat.meta.get(seq_key(to))? {
            Some(v) => dec::<(u64, u64)>("chat_meta", &v)?,
            None => (0, 0),
        };
        Ok((seq + 1, now_ms.max(last_ms + 1)))
    }

    /// Conversation counters, the outbox entries, and for texts the id
    /// index and the log entry. Flush afterwards to make it durable.
    ///
    /// Plain writes, not a sled transaction (see [`Store::insert_incoming`]
    /// for why), in this order, under the log's turn ([`Store::log_turn`]):
    /// the delivery worker reads the outbox in the same turn
    /// ([`Store::outbox_batch`]), so it never sees part of an enqueue. A
    /// crash before the flush keeps a prefix: the counter alone (a number
    /// skipped), or entries that go out with no line in our log for them
    /// (which a transaction did not prevent either: delivery starts before
    /// the flush, and the caller was never told the message was sent).
    /// Never a line that says "sending" for a message nothing will send.
    pub fn enqueue(&self, out: &Outgoing) -> Result<(), StoreError> {
        let t = &self.chat;
        let _turn = self.log_turn();
        // The place first: nothing is written if there is none.
        let place = match &out.log {
            Some(log) => {
                let base = message_key(&out.to, out.sent_at_ms, &log.from, out.seq);
                // Our other device may have sent with this counter in this
                // millisecond: never over its copy.
                let key = free_place(|k| t.messages.get(k), base, &out.id)?.ok_or(
                    StoreError::Corrupt("chat_messages", "no free place for a message".into()),
                )?;
                Some((key, log))
            }
            None => None,
        };
        t.meta
            .insert(seq_key(&out.to), enc(&(out.seq, out.sent_at_ms)))?;
        for (endpoint, item) in &out.items {
            let entry = OutboxEntry {
                item: item.clone(),
                msg_id: out.id,
                held: false,
            };
            t.outbox
                .insert(outbox_key(endpoint, &out.to, out.seq), enc(&entry))?;
        }
        if let Some((key, log)) = place {
            t.msg_index.insert(out.id.0, key.as_slice())?;
            t.messages.insert(key, enc(log))?;
        }
        Ok(())
    }

    /// Recipients with something in the outbox.
    pub fn outbox_recipients(&self) -> Result<Vec<AccountId>, StoreError> {
        let mut out: Vec<AccountId> = Vec::new();
        for item in self.chat.outbox.iter() {
            let (k, _) = item?;
            if let Ok(arr) = <[u8; 32]>::try_from(&k[..32.min(k.len())]) {
                if out.last().map(|a| a.0) != Some(arr) {
                    out.push(AccountId(arr));
                }
            }
        }
        Ok(out)
    }

    /// Schema 1 → 2: outbox entries written before sessions become
    /// [`DeliveryItem::Sealed`] entries (their bytes are sealed to the
    /// recipient; we cannot read them back, and need not).
    pub(super) fn migrate_outbox_v2(&self) -> Result<usize, StoreError> {
        let mut n = 0;
        for item in self.chat.outbox.iter() {
            let (k, v) = item?;
            let old: OutboxEntryV1 = dec("outbox", &v)?;
            self.chat.outbox.insert(k, enc(&OutboxEntry::from(old)))?;
            n += 1;
        }
        Ok(n)
    }

    /// The oldest outbox entries for `to`, up to `max_items` and `max_bytes` of data.
    pub fn outbox_batch(
        &self,
        to: &AccountId,
        max_items: usize,
        max_bytes: usize,
    ) -> Result<Vec<(Vec<u8>, OutboxEntry)>, StoreError> {
        let mut out = Vec::new();
        let mut bytes = 0;
        // No enqueue is half written while we read (`enqueue`).
        let _turn = self.log_turn();
        for item in self.chat.outbox.scan_prefix(to.0) {
            let (k, v) = item?;
            let e: OutboxEntry = dec("outbox", &v)?;
            let len = e.item.bytes().len();
            if !out.is_empty() && (out.len() >= max_items || bytes + len > max_bytes) {
                break;
            }
            bytes += len;
            out.push((k.to_vec(), e));
        }
        Ok(out)
    }

    /// Whether anything waits for `to`.
    pub fn outbox_has(&self, to: &AccountId) -> Result<bool, StoreError> {
        Ok(self
            .chat
            .outbox
            .scan_prefix(to.0)
            .next()
            .transpose()?
            .is_some())
    }

    /// Drops everything queued for `endpoint` (a device taken off its
    /// account's list).
    pub fn outbox_drop_endpoint(&self, endpoint: &AccountId) -> Result<usize, StoreError> {
        let mut n = 0;
        for item in self.chat.outbox.scan_prefix(endpoint.0) {
            let (k, _) = item?;
            self.chat.outbox.remove(k)?;
            n += 1;
        }
        Ok(n)
    }

    /// Removes outbox entries without touching their messages' status (the
    /// copies our own other devices took).
    pub fn outbox_remove(&self, keys: &[(Vec<u8>, MsgId)]) -> Result<(), StoreError> {
        for (k, _) in keys {
            self.chat.outbox.remove(k.as_slice())?;
        }
        Ok(())
    }

    /// Removes acknowledged outbox entries and sets their messages' status.
    pub fn outbox_done(
        &self,
        keys: &[(Vec<u8>, MsgId)],
        status: MsgStatus,
    ) -> Result<(), StoreError> {
        for (k, id) in keys {
            self.chat.outbox.remove(k.as_slice())?;
            self.raise_status(id, status)?;
        }
        Ok(())
    }

    /// Marks outbox entries as left with holders.
    pub fn outbox_mark_held(&self, keys: &[(Vec<u8>, MsgId)]) -> Result<(), StoreError> {
        for (k, id) in keys {
            if let Some(v) = self.chat.outbox.get(k.as_slice())? {
                let mut e: OutboxEntry = dec("outbox", &v)?;
                e.held = true;
                self.chat.outbox.insert(k.as_slice(), enc(&e))?;
                self.raise_status(id, MsgStatus::Stored)?;
            }
        }
        Ok(())
    }

    /// Raises an outgoing message's status (never downgrades, never revives a recall).
    pub fn raise_status(&self, id: &MsgId, status: MsgStatus) -> Result<(), StoreError> {
        self.update_message(id, |m| {
            if m.status < status && m.status <= MsgStatus::Read && status <= MsgStatus::Read
                || status == MsgStatus::Failed && m.status == MsgStatus::Sending
            {
                m.status = status;
            }
        })
    }

    // ----- receiving -----

    /// Whether a message id is already known.
    pub fn has_message(&self, id: &MsgId) -> Result<bool, StoreError> {
        Ok(self.chat.msg_index.contains_key(id.0)?)
    }

    /// Records an id as seen without a log entry (requests, receipts...).
    pub fn mark_seen_id(&self, id: &MsgId) -> Result<(), StoreError> {
        self.chat.msg_index.insert(id.0, &[][..])?;
        Ok(())
    }

    /// Stores an incoming message in conversation `conv`, once.
    ///
    /// Three plain writes, not a sled transaction: a transaction seals and
    /// writes sled's log buffer twice (`pin_log`), on sled's I/O threads,
    /// which cost more than the rest of taking a message in. What a
    /// transaction gave is kept another way. Writers of the log take turns
    /// ([`Store::log_turn`]), so no other write comes between the checks
    /// and the writes. And the writes go in an order whose every prefix is
    /// safe, because a crash keeps a prefix of them: sled recovers a
    /// contiguous prefix of its log. The row comes first, then its arrival
    /// time, and the id index last. A crash before the flush can leave the
    /// row without its index; the sender, never acknowledged, sends again,
    /// and the retry finds the row in its place ([`free_place`]) and
    /// completes it. A crash never leaves an index entry without its row,
    /// which would make the retry look like a duplicate and drop it.
    pub fn insert_incoming(
        &self,
        conv: &AccountId,
        m: &StoredMessage,
        arrived_ms: u64,
    ) -> Result<bool, StoreError> {
        let t = &self.chat;
        let _turn = self.log_turn();
        if t.msg_index.get(m.id.0)?.is_some() {
            return Ok(false); // known id: once
        }
        // Another message already in this place (two devices of one
        // account with the same counter in the same millisecond, or a
        // resend with other words) is never overwritten: this one goes
        // beside it.
        let base = message_key(conv, m.sent_at_ms, &m.from, m.seq);
        let Some(key) = free_place(|k| t.messages.get(k), base, &m.id)? else {
            return Ok(false);
        };
        t.messages.insert(key.as_slice(), enc(m))?;
        t.arrived.insert(m.id.0, &arrived_ms.to_be_bytes())?;
        t.msg_index.insert(m.id.0, key)?;
        Ok(true)
    }

    /// When a received message arrived here (Unix ms, our clock); `None`
    /// for our own messages and for messages stored before this was kept.
    pub fn message_arrived(&self, id: &MsgId) -> Result<Option<u64>, StoreError> {
        get_u64(&self.chat.arrived, id.0)
    }

    /// A message by id.
    pub fn message(&self, id: &MsgId) -> Result<Option<StoredMessage>, StoreError> {
        let Some(key) = self.chat.msg_index.get(id.0)? else {
            return Ok(None);
        };
        if key.is_empty() {
            return Ok(None);
        }
        match self.chat.messages.get(&key)? {
            Some(v) => dec("messages", &v).map(Some),
            None => Ok(None),
        }
    }

    /// The conversation a logged message belongs to.
    pub fn message_conversation(&self, id: &MsgId) -> Result<Option<AccountId>, StoreError> {
        Ok(self
            .chat
            .msg_index
            .get(id.0)?
            .filter(|k| k.len() >= 32)
            .and_then(|k| <[u8; 32]>::try_from(&k[..32]).ok())
            .map(AccountId))
    }

    /// Applies `f` to a logged message.
    pub fn update_message(
        &self,
        id: &MsgId,
        f: impl Fn(&mut StoredMessage),
    ) -> Result<(), StoreError> {
        let Some(key) = self.chat.msg_index.get(id.0)? else {
            return Ok(());
        };
        if key.is_empty() {
            return Ok(());
        }
        self.chat.messages.fetch_and_update(&key, |old| {
            let old = old?;
            let mut m: StoredMessage = postcard::from_bytes(old).ok()?;
            f(&mut m);
            Some(enc(&m))
        })?;
        Ok(())
    }

    /// The last `limit` messages of a conversation, oldest first.
    pub fn conversation(
        &self,
        conv: &AccountId,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        last(&self.chat.messages, "messages", conv.0, limit)
    }

    /// Ids of logged messages starting with a hex prefix (short ids).
    pub fn message_ids_with_prefix(&self, prefix: &str) -> Result<Vec<MsgId>, StoreError> {
        // Seen-only ids (non-friends' messages) have empty values and are skipped.
        Ok(
            super::short_id::with_hex_prefix(&self.chat.msg_index, prefix)?
                .into_iter()
                .map(MsgId)
                .collect(),
        )
    }

    /// Conversations: (peer account, last message, unread count).
    pub fn conversations(&self) -> Result<Vec<(AccountId, StoredMessage, usize)>, StoreError> {
        let mut out = Vec::new();
        let mut cursor: Option<[u8; 32]> = None;
        loop {
            let next = match cursor {
                None => self.chat.messages.iter().next(),
                Some(c) => {
                    // Smallest key after every key of conversation `c`.
                    let mut after = c.to_vec();
                    after.extend_from_slice(&[0xff; 81]);
                    self.chat.messages.range(after..).next()
                }
            };
            let Some(item) = next else { break };
            let (k, _) = item?;
            let Ok(conv) = <[u8; 32]>::try_from(&k[..32.min(k.len())]) else {
                break;
            };
            let conv_id = AccountId(conv);
            let mut unread = 0;
            let mut last = None;
            for item in self.chat.messages.scan_prefix(conv) {
                let (_, v) = item?;
                let m: StoredMessage = dec("messages", &v)?;
                if m.status == MsgStatus::Received {
                    unread += 1;
                }
                last = Some(m);
            }
            if let Some(last) = last {
                out.push((conv_id, last, unread));
            }
            cursor = Some(conv);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
