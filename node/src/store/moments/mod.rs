//! Moments storage (part of the one module that owns sled).
//!
//! - `moments_items`, `moments_item_ids`, `moments_reaction_items`: the
//!   signed items as received, served over `/weft/sync/1` (see [`items`])
//! - `moments_posts`:     post id → [`PostRecord`], the decrypted post, kept
//!   only by readers (the author and the audience)
//! - `moments_reactions`: post id ‖ at(8) ‖ reaction id → [`ReactionRecord`]
//! - `moments_deleted`:   post id(32) ‖ author(32) → tombstone id; a post its
//!   author deleted is never stored again. Keyed by the author too: a
//!   tombstone can only ever delete a post of whoever signed it, even when
//!   it arrives before the post (anyone can sign a tombstone on their own
//!   topic naming any post id). Keys of 32 bytes (before the author was part
//!   of the key) are honoured only if the tombstone item is still stored and
//!   names the same author.
//! - `moments_settings`:  author → (at, visible days)
//! - `moments_tags`:      tag name → friends in it
//! - `moments_staged`:    encrypted image blob id → its key, until posted
//! - `moments_topic_keys`: friend's account → (their topic key, number of
//!   the message that brought it); `own` → [`OwnTopicKey`] (our key and
//!   the friends it was given to)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use weft_protocol::moments::{ItemId, PostContent, ReactionContent};
use weft_protocol::AccountId;

use super::{Store, StoreError};

pub mod items;

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
    MomentsTreeSet {
        items: "moments_items",
        item_ids: "moments_item_ids",
        reaction_items: "moments_reaction_items",
        posts: "moments_posts",
        reactions: "moments_reactions",
        deleted: "moments_deleted",
        settings: "moments_settings",
        tags: "moments_tags",
        staged: "moments_staged",
        topic_keys: "moments_topic_keys",
    }
}

/// The Moments trees and the running item counts per author topic.
#[derive(Clone)]
pub(crate) struct MomentsTrees {
    trees: MomentsTreeSet,
    /// Per author: (items the author signed, reactions), counted once from
    /// the trees on first use and kept current by every write, so a quota
    /// check is not a scan. The lock also orders the writes that change them.
    counts: Arc<Mutex<HashMap<AccountId, items::ItemCounts>>>,
}

impl MomentsTrees {
    pub(crate) fn open(db: &sled::Db) -> Result<Self, sled::Error> {
        Ok(Self {
            trees: MomentsTreeSet::open(db)?,
            counts: Default::default(),
        })
    }
}

impl std::ops::Deref for MomentsTrees {
    type Target = MomentsTreeSet;

    fn deref(&self) -> &MomentsTreeSet {
        &self.trees
    }
}

/// Our own Moments topic key and the friends we have given it to: when one
/// of them is no longer a friend, the key is replaced (see the Moments
/// service).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnTopicKey {
    /// The key.
    pub key: weft_protocol::moments::TopicKey,
    /// Friends it was queued for (durably, in the chat outbox).
    pub given_to: Vec<AccountId>,
}

/// Where our own topic key is kept in `moments_topic_keys` (friends' are
/// under their 32-byte account ids).
const OWN_TOPIC_KEY: &[u8] = b"own";

fn deleted_key(post: &ItemId, author: &AccountId) -> Vec<u8> {
    let mut k = post.to_vec();
    k.extend_from_slice(&author.0);
    k
}

fn corrupt(tree: &'static str) -> impl Fn(postcard::Error) -> StoreError {
    move |e| StoreError::Corrupt(tree, e.to_string())
}

impl Store {
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

    /// Records that `author` deleted `post` with `tombstone`; if we hold
    /// that post *by that author*, its content, reactions and item are
    /// erased. A tombstone for someone else's post id changes nothing but
    /// its own signer's record.
    pub fn delete_post(
        &self,
        post: &ItemId,
        author: &AccountId,
        tombstone: &ItemId,
    ) -> Result<(), StoreError> {
        self.moments
            .deleted
            .insert(deleted_key(post, author), tombstone.as_slice())?;
        let ours = match self.moment_item(post)? {
            Some(item) => item.body.author == *author,
            None => self.post(post)?.is_none_or(|p| p.author == *author),
        };
        if !ours {
            return Ok(());
        }
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

    /// Whether `author` deleted their post `post`.
    pub fn is_post_deleted(&self, post: &ItemId, author: &AccountId) -> Result<bool, StoreError> {
        if self
            .moments
            .deleted
            .contains_key(deleted_key(post, author))?
        {
            return Ok(true);
        }
        // A record from before the author was part of the key.
        let Some(t) = self.moments.deleted.get(post)? else {
            return Ok(false);
        };
        let Ok(tombstone) = <ItemId>::try_from(t.as_ref()) else {
            return Ok(false);
        };
        Ok(self
            .moment_item(&tombstone)?
            .is_some_and(|t| t.body.author == *author && t.target() == Some(*post)))
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

    /// The topic key `author` gave us, if any.
    pub fn topic_key(
        &self,
        author: &AccountId,
    ) -> Result<Option<weft_protocol::moments::TopicKey>, StoreError> {
        Ok(self.friend_topic_key(author)?.map(|(k, _)| k))
    }

    fn friend_topic_key(
        &self,
        author: &AccountId,
    ) -> Result<Option<(weft_protocol::moments::TopicKey, u64)>, StoreError> {
        self.moments
            .topic_keys
            .get(author.0)?
            .map(|v| postcard::from_bytes(&v).map_err(corrupt("moments_topic_keys")))
            .transpose()
    }

    /// Records the topic key a friend gave us in its message number `seq`;
    /// one from an earlier message than the key held is ignored (a late
    /// copy from a holder must not bring back a replaced key).
    pub fn put_topic_key(
        &self,
        author: &AccountId,
        key: &weft_protocol::moments::TopicKey,
        seq: u64,
    ) -> Result<(), StoreError> {
        if self
            .friend_topic_key(author)?
            .is_some_and(|(_, s)| s >= seq)
        {
            return Ok(());
        }
        let v = postcard::to_stdvec(&(key, seq)).map_err(corrupt("moments_topic_keys"))?;
        self.moments.topic_keys.insert(author.0, v)?;
        Ok(())
    }

    /// Our own topic key, if we made one.
    pub fn own_topic_key(&self) -> Result<Option<OwnTopicKey>, StoreError> {
        self.moments
            .topic_keys
            .get(OWN_TOPIC_KEY)?
            .map(|v| postcard::from_bytes(&v).map_err(corrupt("moments_topic_keys")))
            .transpose()
    }

    /// Writes our own topic key.
    pub fn put_own_topic_key(&self, own: &OwnTopicKey) -> Result<(), StoreError> {
        let v = postcard::to_stdvec(own).map_err(corrupt("moments_topic_keys"))?;
        self.moments.topic_keys.insert(OWN_TOPIC_KEY, v)?;
        Ok(())
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
    use weft_protocol::moments::{make_post, new_key, Item, ItemBody, Payload};
    use weft_protocol::AccountKey;

    fn post(a: &AccountKey) -> Item {
        let content = PostContent {
            text: "mine".into(),
            images: vec![],
            link: None,
            audience: vec![],
        };
        make_post(a, &content, &new_key().unwrap(), 10, &[]).unwrap()
    }

    /// Defect 8: a friend's tombstone for a post id it did not write, seen
    /// before the post, marks that post deleted only for its own signer:
    /// the real author's post is still welcome, and the author's own
    /// tombstone still deletes it.
    #[test]
    fn a_tombstone_deletes_only_a_post_of_its_signer() {
        let s = Store::temporary().unwrap();
        let (ann, eve) = (
            AccountKey::generate().unwrap(),
            AccountKey::generate().unwrap(),
        );
        let p = post(&ann);
        let id = p.id();
        s.delete_post(&id, &eve.account_id(), &[9; 32]).unwrap();
        assert!(s.is_post_deleted(&id, &eve.account_id()).unwrap());
        assert!(!s.is_post_deleted(&id, &ann.account_id()).unwrap());
        s.put_moment_item(&p).unwrap();
        // Eve's tombstone arriving after the post changes nothing either.
        s.delete_post(&id, &eve.account_id(), &[9; 32]).unwrap();
        assert!(s.moment_item(&id).unwrap().is_some());
        s.delete_post(&id, &ann.account_id(), &[8; 32]).unwrap();
        assert!(s.is_post_deleted(&id, &ann.account_id()).unwrap());
        assert!(s.moment_item(&id).unwrap().is_none());
    }

    /// A record written before the author was part of the key counts only
    /// if its tombstone is still here and was signed by the post's author.
    #[test]
    fn an_old_deletion_record_is_checked_against_its_tombstone() {
        let s = Store::temporary().unwrap();
        let (ann, eve) = (
            AccountKey::generate().unwrap(),
            AccountKey::generate().unwrap(),
        );
        let id = post(&ann).id();
        let tomb = |k: &AccountKey| {
            let body = ItemBody {
                author: k.account_id(),
                signer: k.account_id(),
                at: 11,
                payload: Payload::Tombstone { post: id },
            };
            Item::sign(k, body).unwrap()
        };
        let by_eve = tomb(&eve);
        s.put_moment_item(&by_eve).unwrap();
        s.moments
            .deleted
            .insert(id, by_eve.id().as_slice())
            .unwrap();
        assert!(!s.is_post_deleted(&id, &ann.account_id()).unwrap());
        let by_ann = tomb(&ann);
        s.put_moment_item(&by_ann).unwrap();
        s.moments
            .deleted
            .insert(id, by_ann.id().as_slice())
            .unwrap();
        assert!(s.is_post_deleted(&id, &ann.account_id()).unwrap());
    }
}
