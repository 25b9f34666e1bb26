//! Moments storage (part of the one module that owns sled).
//!
//! - `moments_items`:     author(32) ‖ at(8, BE) ‖ item id(32) → signed item
//!   bytes, exactly as received: what this node serves to others over
//!   `/weft/sync/1`. Opaque to readers outside an item's audience.
//! - `moments_item_ids`:  item id → its `moments_items` key (dedup, lookup)
//! - `moments_posts`:     post id → [`PostRecord`], the decrypted post, kept
//!   only by readers (the author and the audience)
//! - `moments_reactions`: post id ‖ at(8) ‖ reaction id → [`ReactionRecord`]
//! - `moments_deleted`:   post id → tombstone id; a deleted post is never stored again
//! - `moments_settings`:  author → (at, visible days)
//! - `moments_tags`:      tag name → friends in it
//! - `moments_staged`:    encrypted image blob id → its key, until posted

use serde::{Deserialize, Serialize};
use weft_protocol::moments::{Item, ItemId, PostContent, ReactionContent};
use weft_protocol::AccountId;

use super::{Store, StoreError};

/// Items kept per author topic; the oldest go first.
pub const MAX_ITEMS_PER_AUTHOR: usize = 4000;

/// A post this node can read.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PostRecord {
    /// Author.
    pub author: AccountId,
    /// When the author posted (their clock).
    pub at: u64,
    /// The post key (opens its images).
    pub key: [u8; 32],
    /// Decrypted content.
    pub content: PostContent,
}

/// A reaction this node can read.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReactionRecord {
    /// Reaction id.
    pub id: ItemId,
    /// Who reacted.
    pub from: AccountId,
    /// When.
    pub at: u64,
    /// What.
    pub content: ReactionContent,
}

trees! {
    /// The Moments trees.
    MomentsTrees {
        items: "moments_items",
        item_ids: "moments_item_ids",
        posts: "moments_posts",
        reactions: "moments_reactions",
        deleted: "moments_deleted",
        settings: "moments_settings",
        tags: "moments_tags",
        staged: "moments_staged",
    }
}

fn item_key(author: &AccountId, at: u64, id: &ItemId) -> Vec<u8> {
    let mut k = Vec::with_capacity(72);
    k.extend_from_slice(&author.0);
    k.extend_from_slice(&at.to_be_bytes());
    k.extend_from_slice(id);
    k
}

fn corrupt(tree: &'static str) -> impl Fn(postcard::Error) -> StoreError {
    move |e| StoreError::Corrupt(tree, e.to_string())
}

impl Store {
    /// Whether an item is already stored.
    pub fn has_moment_item(&self, id: &ItemId) -> Result<bool, StoreError> {
        Ok(self.moments.item_ids.contains_key(id)?)
    }

    /// Stores a checked item under its author; false if it was already here.
    /// Keeps at most [`MAX_ITEMS_PER_AUTHOR`] per author (oldest dropped).
    pub fn put_moment_item(&self, item: &Item) -> Result<bool, StoreError> {
        let id = item.id();
        if self.has_moment_item(&id)? {
            return Ok(false);
        }
        let key = item_key(&item.body.author, item.body.at, &id);
        self.moments.items.insert(&key, item.to_bytes())?;
        self.moments.item_ids.insert(id, key)?;
        let prefix = item.body.author.0;
        let count = self.moments.items.scan_prefix(prefix).keys().count();
        if count > MAX_ITEMS_PER_AUTHOR {
            let old: Vec<_> = self
                .moments
                .items
                .scan_prefix(prefix)
                .keys()
                .take(count - MAX_ITEMS_PER_AUTHOR)
                .flatten()
                .collect();
            for k in old {
                self.moments.items.remove(&k)?;
                if let Some(id) = k.get(40..72) {
                    self.moments.item_ids.remove(id)?;
                }
            }
        }
        Ok(true)
    }

    /// Removes a stored item (a deleted post is no longer served).
    pub fn remove_moment_item(&self, id: &ItemId) -> Result<(), StoreError> {
        if let Some(k) = self.moments.item_ids.remove(id)? {
            self.moments.items.remove(k)?;
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

    /// Items on `author`'s topic at or after `since`, oldest first, up to
    /// `limit` items and `max_bytes` bytes; the bool says whether more remain.
    pub fn moment_items_since(
        &self,
        author: &AccountId,
        since: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<(Vec<Vec<u8>>, bool), StoreError> {
        let start = item_key(author, since, &[0; 32]);
        let end = item_key(author, u64::MAX, &[0xff; 32]);
        let mut out = Vec::new();
        let mut bytes = 0;
        for kv in self.moments.items.range(start..=end) {
            let (_, v) = kv?;
            if out.len() >= limit || bytes + v.len() > max_bytes {
                return Ok((out, true));
            }
            bytes += v.len();
            out.push(v.to_vec());
        }
        Ok((out, false))
    }

    /// Items on `author`'s topic that react to or delete `post`.
    pub fn moment_items_about(
        &self,
        author: &AccountId,
        post: &ItemId,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        for kv in self.moments.items.scan_prefix(author.0) {
            let (_, v) = kv?;
            if let Ok(item) = Item::from_bytes(&v) {
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

    /// Stores a decrypted post.
    pub fn put_post(&self, id: &ItemId, p: &PostRecord) -> Result<(), StoreError> {
        let v = postcard::to_stdvec(p).map_err(corrupt("moments_posts"))?;
        self.moments.posts.insert(id, v)?;
        Ok(())
    }

    /// A decrypted post.
    pub fn post(&self, id: &ItemId) -> Result<Option<PostRecord>, StoreError> {
        self.moments
            .posts
            .get(id)?
            .map(|v| postcard::from_bytes(&v).map_err(corrupt("moments_posts")))
            .transpose()
    }

    /// Ids of decrypted posts starting with a hex prefix (short ids).
    pub fn post_ids_with_prefix(&self, prefix: &str) -> Result<Vec<ItemId>, StoreError> {
        super::short_id::with_hex_prefix(&self.moments.posts, prefix)
    }

    /// Every decrypted post.
    pub fn posts(&self) -> Result<Vec<(ItemId, PostRecord)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.moments.posts.iter() {
            let (k, v) = kv?;
            let (Ok(id), Ok(p)) = (
                <ItemId>::try_from(k.as_ref()),
                postcard::from_bytes::<PostRecord>(&v),
            ) else {
                continue;
            };
            out.push((id, p));
        }
        Ok(out)
    }

    /// Records a post as deleted: its content, reactions and item are erased.
    pub fn delete_post(&self, post: &ItemId, tombstone: &ItemId) -> Result<(), StoreError> {
        self.moments.deleted.insert(post, tombstone.as_slice())?;
        self.moments.posts.remove(post)?;
        let keys: Vec<_> = self
            .moments
            .reactions
            .scan_prefix(post)
            .keys()
            .flatten()
            .collect();
        for k in keys {
            self.moments.reactions.remove(k)?;
        }
        self.remove_moment_item(post)
    }

    /// Whether a post was deleted.
    pub fn is_post_deleted(&self, post: &ItemId) -> Result<bool, StoreError> {
        Ok(self.moments.deleted.contains_key(post)?)
    }

    /// Stores a decrypted reaction.
    pub fn put_reaction(&self, post: &ItemId, r: &ReactionRecord) -> Result<(), StoreError> {
        let mut k = post.to_vec();
        k.extend_from_slice(&r.at.to_be_bytes());
        k.extend_from_slice(&r.id);
        let v = postcard::to_stdvec(r).map_err(corrupt("moments_reactions"))?;
        self.moments.reactions.insert(k, v)?;
        Ok(())
    }

    /// A post's reactions, oldest first.
    pub fn reactions(&self, post: &ItemId) -> Result<Vec<ReactionRecord>, StoreError> {
        let mut out = Vec::new();
        for kv in self.moments.reactions.scan_prefix(post) {
            let (_, v) = kv?;
            if let Ok(r) = postcard::from_bytes(&v) {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Records an author's settings if newer than what we have.
    pub fn put_moment_settings(
        &self,
        author: &AccountId,
        at: u64,
        visible_days: u32,
    ) -> Result<(), StoreError> {
        if let Some((old_at, _)) = self.moment_settings(author)? {
            if old_at >= at {
                return Ok(());
            }
        }
        let v = postcard::to_stdvec(&(at, visible_days)).map_err(corrupt("moments_settings"))?;
        self.moments.settings.insert(author.0, v)?;
        Ok(())
    }

    /// An author's (time, visible days), if known.
    pub fn moment_settings(&self, author: &AccountId) -> Result<Option<(u64, u32)>, StoreError> {
        self.moments
            .settings
            .get(author.0)?
            .map(|v| postcard::from_bytes(&v).map_err(corrupt("moments_settings")))
            .transpose()
    }

    /// Sets (or with an empty list, removes) a friend tag.
    pub fn set_tag(&self, name: &str, members: &[AccountId]) -> Result<(), StoreError> {
        if members.is_empty() {
            self.moments.tags.remove(name.as_bytes())?;
        } else {
            let v = postcard::to_stdvec(members).map_err(corrupt("moments_tags"))?;
            self.moments.tags.insert(name.as_bytes(), v)?;
        }
        Ok(())
    }

    /// Every tag.
    pub fn tags(&self) -> Result<Vec<(String, Vec<AccountId>)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.moments.tags.iter() {
            let (k, v) = kv?;
            if let Ok(m) = postcard::from_bytes(&v) {
                out.push((String::from_utf8_lossy(&k).into_owned(), m));
            }
        }
        Ok(out)
    }

    /// Remembers the key of an encrypted image not yet posted.
    pub fn stage_image(&self, blob: &[u8; 32], key: &[u8; 32]) -> Result<(), StoreError> {
        self.moments.staged.insert(blob, key.as_slice())?;
        Ok(())
    }

    /// The key of a staged image.
    pub fn staged_image(&self, blob: &[u8; 32]) -> Result<Option<[u8; 32]>, StoreError> {
        Ok(self
            .moments
            .staged
            .get(blob)?
            .and_then(|v| <[u8; 32]>::try_from(v.as_ref()).ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_protocol::moments::{make_post, new_key, PostContent};
    use weft_protocol::AccountKey;

    #[test]
    fn items_are_deduplicated_ranged_and_capped() {
        let s = Store::temporary().unwrap();
        let a = AccountKey::generate().unwrap();
        let post = |at: u64, text: &str| {
            make_post(
                &a,
                &PostContent {
                    text: text.into(),
                    images: vec![],
                    link: None,
                    audience: vec![],
                },
                &new_key().unwrap(),
                at,
            )
            .unwrap()
        };
        let p1 = post(10, "one");
        assert!(s.put_moment_item(&p1).unwrap());
        assert!(!s.put_moment_item(&p1).unwrap());
        let p2 = post(20, "two");
        s.put_moment_item(&p2).unwrap();
        assert_eq!(s.latest_moment_at(&a.account_id()).unwrap(), 20);
        let (items, more) = s
            .moment_items_since(&a.account_id(), 15, 10, 1 << 20)
            .unwrap();
        assert_eq!((items.len(), more), (1, false));
        let (items, more) = s
            .moment_items_since(&a.account_id(), 0, 1, 1 << 20)
            .unwrap();
        assert_eq!((items.len(), more), (1, true));
        s.delete_post(&p1.id(), &[9; 32]).unwrap();
        assert!(s.is_post_deleted(&p1.id()).unwrap());
        assert!(s.moment_item(&p1.id()).unwrap().is_none());
        assert!(s.moment_item(&p2.id()).unwrap().is_some());
    }
}
