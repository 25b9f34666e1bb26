//! Group storage (part of the one module that owns sled).
//!
//! - `group_meta`:    group(32) → [`GroupMeta`] (secret, own chain, counters, mute)
//! - `group_changes`: group(32) ‖ change(32) → signed change (postcard)
//! - `group_pending`: group(32) ‖ change(32) → a change whose parents have not come yet
//! - `group_chains`:  group(32) ‖ key id(16) → another member's [`ReceivingChain`]
//! - `group_wires`:   group(32) ‖ key id(16) ‖ iteration(4, BE) → wire bytes
//!   (ciphertext as published: what we serve to members catching up)
//! - `group_held`:    group(32) ‖ key id(16) ‖ iteration(4, BE) → wire bytes
//!   we cannot open yet (its chain's share has not arrived)
//! - `group_bundles`: group(32) ‖ key id(16) ‖ bundle hash(8) → a signed key
//!   bundle ([`weft_protocol::group::GroupKeys`]) of that chain, as published:
//!   served to members catching up that lack the chain
//! - `group_msgs`:    group(32) ‖ lamport(8) ‖ sender(32) ‖ seq(8) ‖ id prefix(8) → [`GroupMessage`]
//!   (so a range scan gives the one display order every member shares)
//! - `group_msg_ids`: message id(32) → the `group_msgs` key
//! - `group_requests`: group(32) ‖ account(32) → [`JoinRequest`]
//! - `group_reads`:   message id(32) ‖ reader(32) → empty (who read our message)
//! - `group_joining`: group(32) → when we asked to join by link (Unix ms, 8 BE):
//!   a log from a non-friend is taken only for a group we asked to join
//! - `group_clock`:   group(32) → highest Lamport time seen (8, BE); its own
//!   tree so that reading a wire never rewrites [`GroupMeta`], which the
//!   sender side owns

use serde::{Deserialize, Serialize};
use weft_protocol::{
    chat::MsgId,
    group::{
        log::{Change, ChangeId, GroupLog},
        sender_key::{ReceivingChain, SendingChain},
        GroupId, KeyId,
    },
    AccountId,
};

use super::{be_u64, by_id, dec, enc, get, get_u64, last, Store, StoreError};

/// Most held (not yet readable) wires per group.
pub const MAX_HELD: usize = 2_000;
/// Most changes waiting for their parents, per group.
pub const MAX_PENDING_CHANGES: usize = 500;
/// Most key bundles kept per chain (a chain gains members when some are
/// added; each addition is a bundle).
pub const MAX_BUNDLES_PER_CHAIN: usize = 8;
/// Most join requests waiting per group.
pub const MAX_REQUESTS: usize = 200;

trees! {
    /// The group trees.
    GroupTrees {
        meta: "group_meta",
        changes: "group_changes",
        pending: "group_pending",
        chains: "group_chains",
        wires: "group_wires",
        held: "group_held",
        bundles: "group_bundles",
        msgs: "group_msgs",
        ids: "group_msg_ids",
        requests: "group_requests",
        reads: "group_reads",
        clock: "group_clock",
        joining: "group_joining",
    }
}

/// What this node keeps about one group it is (or was) in.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroupMeta {
    /// The group secret (topic tags).
    pub secret: [u8; 32],
    /// Our sending chain, once we have sent.
    pub chain: Option<SendingChain>,
    /// Ids of our chains, current and past (newest last, bounded): wires
    /// of ours that come back in a sync are recognised and skipped.
    pub own_keys: Vec<KeyId>,
    /// Members that have our current chain.
    pub shared_with: std::collections::BTreeSet<AccountId>,
    /// Highest Lamport time seen.
    pub lamport: u64,
    /// Our last message counter.
    pub seq: u64,
    /// Muted: no notification except mentions.
    pub muted: bool,
    /// Messages up to this Lamport time have been read.
    pub read_lamport: u64,
}

impl GroupMeta {
    /// A group we just joined or created: nothing sent, nothing read.
    pub fn new(secret: [u8; 32]) -> Self {
        GroupMeta {
            secret,
            chain: None,
            own_keys: Vec::new(),
            shared_with: Default::default(),
            lamport: 0,
            seq: 0,
            muted: false,
            read_lamport: 0,
        }
    }
}

/// A group message as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMessage {
    /// Id (of the wire).
    pub id: MsgId,
    /// Sender.
    pub from: AccountId,
    /// Sender's counter.
    pub seq: u64,
    /// Lamport time.
    pub lamport: u64,
    /// Sender's clock.
    pub sent_at_ms: u64,
    /// Text ("" once recalled).
    pub text: String,
    /// Quoted message.
    pub reply_to: Option<MsgId>,
    /// Mentioned accounts.
    pub mentions: Vec<AccountId>,
    /// `@all`.
    pub all: bool,
    /// Recalled by its sender.
    pub recalled: bool,
    /// When it arrived here (our clock).
    pub arrived_ms: u64,
    /// A photo, voice note, video or file (`text` is its caption).
    pub attachment: Option<weft_protocol::file::Attachment>,
}

/// Someone asking to join through a link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    /// Their name.
    pub name: String,
    /// When (our clock).
    pub at_ms: u64,
}

fn k2(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(a.len() + b.len());
    k.extend_from_slice(a);
    k.extend_from_slice(b);
    k
}

fn wire_key(g: &GroupId, key: &KeyId, iteration: u32) -> Vec<u8> {
    let mut k = k2(&g.0, &key.0);
    k.extend_from_slice(&iteration.to_be_bytes());
    k
}

fn msg_key(g: &GroupId, m: &GroupMessage) -> Vec<u8> {
    let mut k = k2(&g.0, &m.lamport.to_be_bytes());
    k.extend_from_slice(&m.from.0);
    k.extend_from_slice(&m.seq.to_be_bytes());
    // Two devices of one account count their messages apart: the id keeps
    // two messages with the same time and counter from taking one place.
    k.extend_from_slice(&m.id.0[..8]);
    k
}

impl Store {
    /// The groups we hold a record of.
    pub fn groups(&self) -> Result<Vec<(GroupId, GroupMeta)>, StoreError> {
        let all = by_id(&self.group.meta, "group_meta")?;
        Ok(all.into_iter().map(|(id, m)| (GroupId(id), m)).collect())
    }

    /// One group's record.
    pub fn group_meta(&self, g: &GroupId) -> Result<Option<GroupMeta>, StoreError> {
        get(&self.group.meta, "group_meta", g.0)
    }

    /// Writes one group's record.
    pub fn put_group_meta(&self, g: &GroupId, m: &GroupMeta) -> Result<(), StoreError> {
        self.group.meta.insert(g.0, enc(m))?;
        Ok(())
    }

    /// Loads a group's log (`None` if we hold no changes of it).
    pub fn group_log(&self, g: &GroupId) -> Result<Option<GroupLog>, StoreError> {
        let mut all: Vec<Change> = Vec::new();
        for r in self.group.changes.scan_prefix(g.0) {
            let (_, v) = r?;
            all.push(dec("group_changes", &v)?);
        }
        if all.is_empty() {
            return Ok(None);
        }
        let (log, rejected) = GroupLog::from_changes(*g, all)
            .ok_or_else(|| StoreError::Corrupt("group_changes", "no valid root".into()))?;
        if !rejected.is_empty() {
            tracing::warn!(group = %g, count = rejected.len(), "stored group changes that no longer fit the log");
        }
        Ok(Some(log))
    }

    /// Stores a change that joined the log.
    pub fn put_group_change(&self, g: &GroupId, c: &Change) -> Result<(), StoreError> {
        self.group.changes.insert(k2(&g.0, &c.id().0), enc(c))?;
        self.group.pending.remove(k2(&g.0, &c.id().0))?;
        Ok(())
    }

    /// Keeps a change whose parents are missing (bounded; `false` if full).
    pub fn hold_group_change(&self, g: &GroupId, c: &Change) -> Result<bool, StoreError> {
        if self.group.pending.scan_prefix(g.0).count() >= MAX_PENDING_CHANGES {
            return Ok(false);
        }
        self.group.pending.insert(k2(&g.0, &c.id().0), enc(c))?;
        Ok(true)
    }

    /// The changes waiting for parents.
    pub fn pending_group_changes(&self, g: &GroupId) -> Result<Vec<Change>, StoreError> {
        let mut v = Vec::new();
        for r in self.group.pending.scan_prefix(g.0) {
            v.push(dec("group_pending", &r?.1)?);
        }
        Ok(v)
    }

    /// Ids of the changes held for a group.
    pub fn group_change_count(&self, g: &GroupId) -> usize {
        self.group.changes.scan_prefix(g.0).count()
    }

    /// Another member's chain.
    pub fn group_chain(
        &self,
        g: &GroupId,
        key: &KeyId,
    ) -> Result<Option<ReceivingChain>, StoreError> {
        get(&self.group.chains, "group_chains", k2(&g.0, &key.0))
    }

    /// Stores another member's chain.
    pub fn put_group_chain(
        &self,
        g: &GroupId,
        key: &KeyId,
        c: &ReceivingChain,
    ) -> Result<(), StoreError> {
        self.group.chains.insert(k2(&g.0, &key.0), enc(c))?;
        Ok(())
    }

    /// All chains of a group (for sync marks).
    pub fn group_chains(&self, g: &GroupId) -> Result<Vec<(KeyId, ReceivingChain)>, StoreError> {
        let mut v = Vec::new();
        for r in self.group.chains.scan_prefix(g.0) {
            let (k, val) = r?;
            if let Ok(id) = <[u8; 16]>::try_from(&k[32..]) {
                v.push((KeyId(id), dec("group_chains", &val)?));
            }
        }
        Ok(v)
    }

    /// Keeps a chain's key bundle as published (for members catching up);
    /// a bundle we have, or one past [`MAX_BUNDLES_PER_CHAIN`], is not kept.
    pub fn put_group_bundle(
        &self,
        g: &GroupId,
        key: &KeyId,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        let prefix = k2(&g.0, &key.0);
        let mut k = prefix.clone();
        k.extend_from_slice(&weft_protocol::content_id(bytes)[..8]);
        if self.group.bundles.contains_key(&k)?
            || self.group.bundles.scan_prefix(&prefix).count() >= MAX_BUNDLES_PER_CHAIN
        {
            return Ok(());
        }
        self.group.bundles.insert(k, bytes)?;
        Ok(())
    }

    /// A group's key bundles of the chains `wanted` picks: (chain, encoded
    /// bundle); the others are not copied out.
    pub fn group_bundles(
        &self,
        g: &GroupId,
        wanted: impl Fn(&KeyId) -> bool,
    ) -> impl Iterator<Item = (KeyId, Vec<u8>)> {
        self.group.bundles.scan_prefix(g.0).filter_map(move |r| {
            let (k, v) = r.ok()?;
            let key = KeyId(k.get(32..48)?.try_into().ok()?);
            wanted(&key).then(|| (key, v.to_vec()))
        })
    }

    /// Keeps a wire as published (for members catching up).
    pub fn put_group_wire(
        &self,
        g: &GroupId,
        key: &KeyId,
        iteration: u32,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        self.group
            .wires
            .insert(wire_key(g, key, iteration), bytes)?;
        Ok(())
    }

    /// Whether we hold a wire.
    pub fn has_group_wire(&self, g: &GroupId, key: &KeyId, iteration: u32) -> bool {
        matches!(
            self.group.wires.contains_key(wire_key(g, key, iteration)),
            Ok(true)
        )
    }

    /// Wires of a group in key order: (key id, iteration, bytes).
    pub fn group_wires(&self, g: &GroupId) -> impl Iterator<Item = (KeyId, u32, Vec<u8>)> {
        self.group.wires.scan_prefix(g.0).filter_map(|r| {
            let (k, v) = r.ok()?;
            let key = KeyId(k.get(32..48)?.try_into().ok()?);
            let it = u32::from_be_bytes(k.get(48..52)?.try_into().ok()?);
            Some((key, it, v.to_vec()))
        })
    }

    /// Holds a wire we cannot open yet (`false` if the group's hold is full).
    pub fn hold_group_wire(
        &self,
        g: &GroupId,
        key: &KeyId,
        iteration: u32,
        bytes: &[u8],
    ) -> Result<bool, StoreError> {
        if self.group.held.scan_prefix(g.0).count() >= MAX_HELD {
            return Ok(false);
        }
        self.group.held.insert(wire_key(g, key, iteration), bytes)?;
        Ok(true)
    }

    /// Ids of the wires held for a group (at most `max`).
    pub fn held_wire_ids(&self, g: &GroupId, max: usize) -> Vec<MsgId> {
        self.group
            .held
            .scan_prefix(g.0)
            .filter_map(|r| r.ok())
            .filter_map(|(_, v)| weft_protocol::group::GroupWire::decode(&v).ok())
            .map(|w| w.id())
            .take(max)
            .collect()
    }

    /// Takes the held wires of one chain.
    pub fn take_held_wires(&self, g: &GroupId, key: &KeyId) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut v = Vec::new();
        for r in self.group.held.scan_prefix(k2(&g.0, &key.0)) {
            let (k, val) = r?;
            self.group.held.remove(k)?;
            v.push(val.to_vec());
        }
        Ok(v)
    }

    /// Stores a received or sent message; `false` if we had it.
    pub fn put_group_message(&self, g: &GroupId, m: &GroupMessage) -> Result<bool, StoreError> {
        if self.group.ids.contains_key(m.id.0)? {
            return Ok(false);
        }
        let key = msg_key(g, m);
        self.group.msgs.insert(key.clone(), enc(m))?;
        self.group.ids.insert(m.id.0, key)?;
        Ok(true)
    }

    /// A message by id, with its group.
    pub fn group_message(&self, id: &MsgId) -> Result<Option<(GroupId, GroupMessage)>, StoreError> {
        let Some(key) = self.group.ids.get(id.0)? else {
            return Ok(None);
        };
        let Some(v) = self.group.msgs.get(&key)? else {
            return Ok(None);
        };
        let g = GroupId(
            key.get(..32)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(|| StoreError::Corrupt("group_msg_ids", "short key".into()))?,
        );
        Ok(Some((g, dec("group_msgs", &v)?)))
    }

    /// Rewrites a stored message (recall).
    pub fn update_group_message(&self, g: &GroupId, m: &GroupMessage) -> Result<(), StoreError> {
        // Where it was stored (keys made before the id suffix included).
        let key = match self.group.ids.get(m.id.0)? {
            Some(k) if k.starts_with(&g.0) => k.to_vec(),
            _ => msg_key(g, m),
        };
        self.group.msgs.insert(key, enc(m))?;
        Ok(())
    }

    /// A group's messages in display order; the last `limit`.
    pub fn group_messages(
        &self,
        g: &GroupId,
        limit: usize,
    ) -> Result<Vec<GroupMessage>, StoreError> {
        last(&self.group.msgs, "group_msgs", g.0, limit)
    }

    /// Group history for another of our devices: as
    /// [`Store::history_page`], over `g`'s messages in display order.
    pub fn group_history_page(
        &self,
        g: &GroupId,
        keep: usize,
        after: Option<&[u8]>,
        max: usize,
        max_bytes: usize,
    ) -> Result<(Vec<GroupMessage>, Option<Vec<u8>>), StoreError> {
        let (values, next) =
            super::device::page(&self.group.msgs, &g.0, keep, after, max, max_bytes)?;
        let messages = values
            .iter()
            .map(|v| dec("group_msgs", v))
            .collect::<Result<_, _>>()?;
        Ok((messages, next))
    }

    /// Messages after `lamport` not from `me` (unread count).
    pub fn group_unread(&self, g: &GroupId, after: u64, me: &AccountId) -> usize {
        let start = k2(&g.0, &(after.saturating_add(1)).to_be_bytes());
        let mut end = g.0.to_vec();
        end.extend_from_slice(&[0xff; 8]);
        self.group
            .msgs
            .range(start..=end)
            .filter_map(|r| r.ok())
            .filter_map(|(_, v)| dec::<GroupMessage>("group_msgs", &v).ok())
            .filter(|m| m.from != *me)
            .count()
    }

    /// Records a join request (`false` when too many are waiting).
    pub fn put_join_request(
        &self,
        g: &GroupId,
        who: &AccountId,
        r: &JoinRequest,
    ) -> Result<bool, StoreError> {
        let key = k2(&g.0, &who.0);
        if !self.group.requests.contains_key(&key)?
            && self.group.requests.scan_prefix(g.0).count() >= MAX_REQUESTS
        {
            return Ok(false);
        }
        self.group.requests.insert(key, enc(r))?;
        Ok(true)
    }

    /// Waiting join requests.
    pub fn join_requests(&self, g: &GroupId) -> Result<Vec<(AccountId, JoinRequest)>, StoreError> {
        let mut v = Vec::new();
        for r in self.group.requests.scan_prefix(g.0) {
            let (k, val) = r?;
            if let Ok(a) = <[u8; 32]>::try_from(&k[32..]) {
                v.push((AccountId(a), dec("group_requests", &val)?));
            }
        }
        Ok(v)
    }

    /// Drops a join request.
    pub fn drop_join_request(&self, g: &GroupId, who: &AccountId) -> Result<(), StoreError> {
        self.group.requests.remove(k2(&g.0, &who.0))?;
        Ok(())
    }

    /// Records that `reader` read our message `id`; the number of readers.
    pub fn mark_group_read(&self, id: &MsgId, reader: &AccountId) -> Result<usize, StoreError> {
        self.group.reads.insert(k2(&id.0, &reader.0), &[])?;
        Ok(self.group.reads.scan_prefix(id.0).count())
    }

    /// How many members read our message `id`.
    pub fn group_read_count(&self, id: &MsgId) -> usize {
        self.group.reads.scan_prefix(id.0).count()
    }

    /// Group message ids starting with the hex `prefix`.
    pub fn group_message_ids_with_prefix(&self, prefix: &str) -> Result<Vec<[u8; 32]>, StoreError> {
        super::short_id::with_hex_prefix(&self.group.ids, prefix)
    }

    /// Remembers that we asked to join `g` (bounded like join requests).
    pub fn mark_asked_to_join(&self, g: &GroupId) -> Result<(), StoreError> {
        if self.group.joining.len() >= MAX_REQUESTS {
            if let Some((k, _)) = self.group.joining.first()? {
                self.group.joining.remove(k)?;
            }
        }
        self.group
            .joining
            .insert(g.0, &weft_protocol::unix_now_ms().to_be_bytes())?;
        Ok(())
    }

    /// Whether we asked to join `g`.
    pub fn asked_to_join(&self, g: &GroupId) -> bool {
        matches!(self.group.joining.contains_key(g.0), Ok(true))
    }

    /// Forgets that we asked to join `g` (we are in).
    pub fn forget_join(&self, g: &GroupId) -> Result<(), StoreError> {
        self.group.joining.remove(g.0)?;
        Ok(())
    }

    /// The highest Lamport time seen in group `g`.
    pub fn group_clock(&self, g: &GroupId) -> u64 {
        get_u64(&self.group.clock, g.0).ok().flatten().unwrap_or(0)
    }

    /// Raises the clock of group `g` to at least `t` (atomically).
    pub fn raise_group_clock(&self, g: &GroupId, t: u64) -> Result<(), StoreError> {
        self.group.clock.fetch_and_update(g.0, |old| {
            let cur = old.and_then(be_u64).unwrap_or(0);
            Some(cur.max(t).to_be_bytes().to_vec())
        })?;
        Ok(())
    }

    /// Whether change `id` of group `g` is stored.
    pub fn has_group_change(&self, g: &GroupId, id: &ChangeId) -> bool {
        matches!(self.group.changes.contains_key(k2(&g.0, &id.0)), Ok(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 14: a chain's bundles are kept once each, at most
    /// [`MAX_BUNDLES_PER_CHAIN`] per chain, and listed by chain.
    #[test]
    fn bundles_are_kept_once_and_capped_per_chain() {
        let s = Store::temporary().unwrap();
        let (g, other) = (GroupId([1; 32]), GroupId([2; 32]));
        let (k1, k2) = (KeyId([3; 16]), KeyId([4; 16]));
        s.put_group_bundle(&g, &k1, b"first").unwrap();
        s.put_group_bundle(&g, &k1, b"first").unwrap();
        assert_eq!(
            s.group_bundles(&g, |_| true).count(),
            1,
            "a copy is not kept twice"
        );
        for i in 0..2 * MAX_BUNDLES_PER_CHAIN {
            s.put_group_bundle(&g, &k2, format!("b{i}").as_bytes())
                .unwrap();
        }
        let all: Vec<_> = s.group_bundles(&g, |_| true).collect();
        assert_eq!(all.iter().filter(|(k, _)| *k == k1).count(), 1);
        assert_eq!(
            all.iter().filter(|(k, _)| *k == k2).count(),
            MAX_BUNDLES_PER_CHAIN
        );
        assert!(all.iter().any(|(k, b)| *k == k1 && b == b"first"));
        assert_eq!(s.group_bundles(&other, |_| true).count(), 0);
        let only: Vec<_> = s.group_bundles(&g, |k| *k == k1).collect();
        assert_eq!(
            only,
            vec![(k1, b"first".to_vec())],
            "only the chains asked for"
        );
    }
}
