//! The signed items on each author's Moments topic, exactly as received:
//! what this node serves to others over `/weft/sync/1`, opaque to readers
//! outside an item's audience.
//!
//! - `moments_items`:          author(32) ‖ at(8, BE) ‖ item id(32) → item bytes
//! - `moments_item_ids`:       item id → its `moments_items` key (dedup, lookup)
//! - `moments_reaction_items`: the `moments_items` keys of reactions only
//!
//! Two quotas per author topic, counted apart: what the author signed
//! (posts, tombstones, settings) and reactions, which anyone may sign. A
//! flood of reactions only ever evicts older reactions, never the author's
//! posts, tombstones or settings. Pages are ordered by `(at, id)` and resume
//! after the last item sent, so items sharing one second cannot stall paging.

use std::ops::Bound;

use weft_protocol::moments::{Item, ItemId, Payload, SyncFrom};
use weft_protocol::AccountId;

use crate::store::{Store, StoreError};

/// Items the author signed (posts, tombstones, settings) kept per author
/// topic; the oldest go first.
pub const MAX_AUTHOR_ITEMS: usize = 4000;
/// Reactions kept per author topic, on their own quota; the oldest go first.
pub const MAX_REACTION_ITEMS: usize = 4000;

/// Running counts of one author topic's stored items.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ItemCounts {
    author: usize,
    reactions: usize,
}

fn item_key(author: &AccountId, at: u64, id: &ItemId) -> Vec<u8> {
    let mut k = Vec::with_capacity(72);
    k.extend_from_slice(&author.0);
    k.extend_from_slice(&at.to_be_bytes());
    k.extend_from_slice(id);
    k
}

fn is_reaction(item: &Item) -> bool {
    matches!(item.body.payload, Payload::Reaction { .. })
}

impl Store {
    /// Whether an item is already stored.
    pub fn has_moment_item(&self, id: &ItemId) -> Result<bool, StoreError> {
        Ok(self.moments.item_ids.contains_key(id)?)
    }

    /// Stores a checked item under its author; false if it was already here.
    /// The author's own items and reactions each have their quota
    /// ([`MAX_AUTHOR_ITEMS`], [`MAX_REACTION_ITEMS`]); going over drops the
    /// oldest of the same class only.
    pub fn put_moment_item(&self, item: &Item) -> Result<bool, StoreError> {
        let id = item.id();
        let author = item.body.author;
        let mut counts = self
            .moments
            .counts
            .lock()
            .map_err(|_| StoreError::Corrupt("moments_items", "count lock poisoned".into()))?;
        if self.has_moment_item(&id)? {
            return Ok(false);
        }
        let c = match counts.get(&author) {
            Some(c) => *c,
            None => self.count_moment_items(&author)?,
        };
        let key = item_key(&author, item.body.at, &id);
        self.moments.items.insert(&key, item.to_bytes())?;
        self.moments.item_ids.insert(id, key.as_slice())?;
        let c = if is_reaction(item) {
            self.moments.reaction_items.insert(&key, &[])?;
            let over = (c.reactions + 1).saturating_sub(MAX_REACTION_ITEMS);
            let gone = self.evict_moment_items(&author, over, true)?;
            ItemCounts {
                reactions: c.reactions + 1 - gone,
                ..c
            }
        } else {
            let over = (c.author + 1).saturating_sub(MAX_AUTHOR_ITEMS);
            let gone = self.evict_moment_items(&author, over, false)?;
            ItemCounts {
                author: c.author + 1 - gone,
                ..c
            }
        };
        counts.insert(author, c);
        Ok(true)
    }

    /// Counts an author topic's items (once per author per run).
    fn count_moment_items(&self, author: &AccountId) -> Result<ItemCounts, StoreError> {
        let all = self.moments.items.scan_prefix(author.0).keys().count();
        let reactions = self
            .moments
            .reaction_items
            .scan_prefix(author.0)
            .keys()
            .count();
        Ok(ItemCounts {
            author: all.saturating_sub(reactions),
            reactions,
        })
    }

    /// Drops the `n` oldest reactions (or author items) of `author`'s topic;
    /// returns how many went.
    fn evict_moment_items(
        &self,
        author: &AccountId,
        n: usize,
        reactions: bool,
    ) -> Result<usize, StoreError> {
        if n == 0 {
            return Ok(0);
        }
        let old: Vec<sled::IVec> = if reactions {
            self.moments
                .reaction_items
                .scan_prefix(author.0)
                .keys()
                .take(n)
                .collect::<Result<_, _>>()?
        } else {
            let mut old = Vec::with_capacity(n);
            for k in self.moments.items.scan_prefix(author.0).keys() {
                let k = k?;
                if !self.moments.reaction_items.contains_key(&k)? {
                    old.push(k);
                    if old.len() == n {
                        break;
                    }
                }
            }
            old
        };
        for k in &old {
            self.drop_item_key(k)?;
        }
        Ok(old.len())
    }

    /// Removes one item by its `moments_items` key from every index.
    fn drop_item_key(&self, k: &[u8]) -> Result<(), StoreError> {
        self.moments.items.remove(k)?;
        self.moments.reaction_items.remove(k)?;
        if let Some(id) = k.get(40..72) {
            self.moments.item_ids.remove(id)?;
        }
        Ok(())
    }

    /// Removes a stored item (a deleted post is no longer served).
    pub fn remove_moment_item(&self, id: &ItemId) -> Result<(), StoreError> {
        let mut counts = self
            .moments
            .counts
            .lock()
            .map_err(|_| StoreError::Corrupt("moments_items", "count lock poisoned".into()))?;
        let Some(k) = self.moments.item_ids.get(id)? else {
            return Ok(());
        };
        let reaction = self.moments.reaction_items.contains_key(&k)?;
        self.drop_item_key(&k)?;
        let author = k.get(..32).and_then(|a| <[u8; 32]>::try_from(a).ok());
        if let Some(c) = author.and_then(|a| counts.get_mut(&AccountId(a))) {
            if reaction {
                c.reactions = c.reactions.saturating_sub(1);
            } else {
                c.author = c.author.saturating_sub(1);
            }
        }
        Ok(())
    }

    /// A stored item by id.
    pub fn moment_item(&self, id: &ItemId) -> Result<Option<Item>, StoreError> {
        let Some(k) = self.moments.item_ids.get(id)? else {
            return Ok(None);
        };
        let Some(v) = self.moments.items.get(k)? else {
            return Ok(None);
        };
        Ok(Item::from_bytes(&v).ok())
    }

    /// Items on `from.author`'s topic from the cursor `from` (at or after
    /// `from.at`, and after `from.after` among those dated `from.at`),
    /// ordered by `(at, id)`, up to `limit` items and `max_bytes` bytes; the
    /// bool says whether more remain.
    pub fn moment_items_from(
        &self,
        from: &SyncFrom,
        limit: usize,
        max_bytes: usize,
    ) -> Result<(Vec<Vec<u8>>, bool), StoreError> {
        let start = match &from.after {
            Some(id) => Bound::Excluded(item_key(&from.author, from.at, id)),
            None => Bound::Included(item_key(&from.author, from.at, &[0; 32])),
        };
        let end = Bound::Included(item_key(&from.author, u64::MAX, &[0xff; 32]));
        let mut out = Vec::new();
        let mut bytes = 0;
        for kv in self.moments.items.range::<Vec<u8>, _>((start, end)) {
            let (_, v) = kv?;
            if out.len() >= limit || bytes + v.len() > max_bytes {
                return Ok((out, true));
            }
            bytes += v.len();
            out.push(v.to_vec());
        }
        Ok((out, false))
    }

    /// Reactions and tombstones on `author`'s topic about `post`.
    pub fn moment_items_about(
        &self,
        author: &AccountId,
        post: &ItemId,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        for kv in self.moments.items.scan_prefix(author.0) {
            let (_, v) = kv?;
            // Checked (signature included) when it was stored: decode only.
            if let Ok(item) = postcard::from_bytes::<Item>(&v) {
                if item.target().as_ref() == Some(post) {
                    out.push(item);
                }
            }
        }
        Ok(out)
    }

    /// The newest item time stored for `author` (0 if none).
    pub fn latest_moment_at(&self, author: &AccountId) -> Result<u64, StoreError> {
        Ok(self
            .moments
            .items
            .scan_prefix(author.0)
            .keys()
            .next_back()
            .transpose()?
            .and_then(|k| k.get(32..40).and_then(|b| b.try_into().ok()))
            .map(u64::from_be_bytes)
            .unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_protocol::moments::{make_post, make_reaction, new_key, PostContent, ReactionContent};
    use weft_protocol::AccountKey;

    fn post(a: &AccountKey, at: u64, text: &str) -> Item {
        let content = PostContent {
            text: text.into(),
            images: vec![],
            link: None,
            audience: vec![],
        };
        make_post(a, &content, &new_key().unwrap(), at, &[]).unwrap()
    }

    fn like(author: &AccountId, post: ItemId, at: u64) -> Item {
        let x = AccountKey::generate().unwrap();
        let reader = AccountKey::generate().unwrap().account_id();
        make_reaction(&x, *author, post, &ReactionContent::Like, &[reader], at).unwrap()
    }

    fn from(author: &AccountId, at: u64, after: Option<ItemId>) -> SyncFrom {
        SyncFrom {
            author: *author,
            at,
            after,
            proof: [0; 16],
        }
    }

    #[test]
    fn items_are_deduplicated_ranged_and_removed() {
        let s = Store::temporary().unwrap();
        let a = AccountKey::generate().unwrap();
        let me = a.account_id();
        let p1 = post(&a, 10, "one");
        assert!(s.put_moment_item(&p1).unwrap());
        assert!(!s.put_moment_item(&p1).unwrap());
        let p2 = post(&a, 20, "two");
        s.put_moment_item(&p2).unwrap();
        assert_eq!(s.latest_moment_at(&me).unwrap(), 20);
        let (items, more) = s
            .moment_items_from(&from(&me, 15, None), 10, 1 << 20)
            .unwrap();
        assert_eq!((items.len(), more), (1, false));
        let (items, more) = s
            .moment_items_from(&from(&me, 0, None), 1, 1 << 20)
            .unwrap();
        assert_eq!((items.len(), more), (1, true));
        s.remove_moment_item(&p1.id()).unwrap();
        assert!(s.moment_item(&p1.id()).unwrap().is_none());
        assert!(s.moment_item(&p2.id()).unwrap().is_some());
    }

    /// Defect 1: strangers' reactions never evict the author's own items.
    #[test]
    fn a_flood_of_reactions_evicts_only_reactions() {
        let s = Store::temporary().unwrap();
        let a = AccountKey::generate().unwrap();
        let me = a.account_id();
        let p = post(&a, 100, "keep me");
        s.put_moment_item(&p).unwrap();
        let first = like(&me, [7; 32], 1);
        s.put_moment_item(&first).unwrap();
        for i in 0..MAX_REACTION_ITEMS + 10 {
            s.put_moment_item(&like(&me, [7; 32], 200 + i as u64))
                .unwrap();
        }
        assert!(
            s.moment_item(&p.id()).unwrap().is_some(),
            "the post was evicted"
        );
        assert!(s.moment_item(&first.id()).unwrap().is_none());
        let stored = s.moments.items.scan_prefix(me.0).count();
        assert_eq!(stored, MAX_REACTION_ITEMS + 1);
    }

    /// Defect 1: more items than fit a page share one `at`; the cursor walks
    /// past them instead of repeating the first page.
    #[test]
    fn paging_resumes_after_the_last_item_of_a_crowded_second() {
        let s = Store::temporary().unwrap();
        let a = AccountKey::generate().unwrap();
        let me = a.account_id();
        for _ in 0..300 {
            s.put_moment_item(&like(&me, [1; 32], 50)).unwrap();
        }
        let p = post(&a, 51, "after the crowd");
        s.put_moment_item(&p).unwrap();
        let mut cursor = from(&me, 0, None);
        let mut seen = Vec::new();
        for _ in 0..10 {
            let (page, more) = s.moment_items_from(&cursor, 256, 1 << 20).unwrap();
            let items: Vec<Item> = page.iter().map(|b| Item::from_bytes(b).unwrap()).collect();
            if let Some(last) = items.last() {
                cursor = from(&me, last.body.at, Some(last.id()));
            }
            seen.extend(items.into_iter().map(|i| i.id()));
            if !more {
                break;
            }
        }
        assert_eq!(seen.len(), 301);
        assert!(seen.contains(&p.id()));
    }
}
