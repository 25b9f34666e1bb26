//! Moments: posts for chosen friends, likes and comments.
//!
//! - **Posting** (`post.rs`) encrypts the post under a fresh key wrapped for
//!   the chosen audience (`audience.rs`: all friends, only some, all except
//!   some, or friend tags), stores it, then publishes it on
//!   `weft/moments/<me>`.
//! - **Receiving** (`service.rs`, `ingest.rs`): the network task does a
//!   relay's checks (size, structure, signature, signer allowed, freshness)
//!   and hands each message here *unforwarded*; this service decrypts what it
//!   can, applies the audience rule to reactions and the author rule to
//!   tombstones, and gives gossipsub the verdict, so a rejected item is
//!   neither kept nor forwarded.
//! - **Backfill** (`sync.rs`, answered by `inbound.rs` on `/weft/sync/1`):
//!   when a friend's device identifies, we ask it for everything on our
//!   friends' topics since the newest item we hold for each; any holder can
//!   answer, since items are signed and encrypted.
//! - **Images** (`image.rs`) are encrypted before they become blobs; readers
//!   fetch them on demand from the author or any holder, chunk by chunk,
//!   verified.
//! - **Visibility** (`feed.rs`): a reaction is encrypted only to the post's
//!   author and the audience members who are friends of the reactor; the
//!   feed applies the same rule again in case a friendship ended since.
//!
//! This file holds what the rest of the node sees: the [`Moments`] handle,
//! its error, its events and the views the API returns.

mod audience;
mod feed;
mod image;
mod inbound;
mod ingest;
mod post;
mod service;
mod sync;
mod topics;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use libp2p::PeerId;
use serde::{Deserialize, Serialize};
use weft_protocol::{
    blob::parse_blob_hex,
    moments::{ItemId, Link, MomentError},
    AccountId,
};

use crate::blobs::{BlobFetchError, Blobs};
use crate::chat::{Chat, ChatError};
use crate::events::{EventFeed, EventRx};
use crate::home::Identity;
use crate::net::Net;
use crate::store::chat::ContactState;
use crate::store::{Store, StoreError};

/// Moments failures, worded for the user.
#[derive(Debug, thiserror::Error)]
pub enum MomentsError {
    /// Needs the account key, and this is a linked device.
    #[error(transparent)]
    NotPrimary(#[from] crate::home::NotPrimary),
    /// Bounds or crypto.
    #[error(transparent)]
    Invalid(#[from] MomentError),
    /// Audience member is not a friend.
    #[error("{0} is not your friend; Moments go to friends only")]
    NotAFriend(String),
    /// Empty ONLY list.
    #[error("`--to only` needs at least one friend or tag")]
    EmptyAudience,
    /// Unknown post id.
    #[error("no post {0} that you can see")]
    UnknownPost(String),
    /// Deleting someone else's post.
    #[error("only the author can delete a post")]
    NotYours,
    /// An image to stage is empty or larger than a post may carry.
    #[error("an image is 1 to {max} bytes; this one is {0}", max = weft_protocol::moments::MAX_IMAGE_BYTES)]
    ImageSize(usize),
    /// A post named an image by something that is not a blob id.
    #[error("`{0}` is not an image id")]
    NotAnImageId(String),
    /// A post named an image that was not staged here, so we hold no key for it.
    #[error("image {0} was not added on this node (POST /v1/moments/images)")]
    ImageNotStaged(String),
    /// The image index is past the post's images.
    #[error("post has {count} images; index {index} is out of range")]
    NoSuchImage {
        /// Images the post has.
        count: usize,
        /// The index asked for.
        index: usize,
    },
    /// The fetch ended without the whole blob (should not happen: a fetch
    /// that misses a chunk fails with [`MomentsError::Blob`]).
    #[error("image blob incomplete")]
    ImageIncomplete,
    /// The blob is not the image the post's key encrypted.
    #[error("image does not decrypt with its key")]
    ImageUndecryptable,
    /// A friend-tag name is empty or too long.
    #[error("a tag name is 1 to {max} bytes", max = audience::MAX_TAG_NAME)]
    TagName,
    /// Resolving a friend failed.
    #[error(transparent)]
    Chat(#[from] ChatError),
    /// Blob fetch failed.
    #[error(transparent)]
    Blob(#[from] BlobFetchError),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What kind of reaction arrived, as the event stream names it
/// (`like`, `unlike`, `comment`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReactionKind {
    /// A like.
    Like,
    /// A like taken back.
    Unlike,
    /// A comment (or a reply to one).
    Comment,
}

/// Moments events for the API stream. Ids stay typed inside the node; their
/// JSON is the same text the API uses everywhere (hex post ids, base58
/// account ids).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MomentsEvent {
    /// A post we can read arrived.
    MomentPost {
        /// Post id.
        #[serde(with = "id_text")]
        id: ItemId,
        /// Author.
        #[serde(with = "account_text")]
        author: AccountId,
    },
    /// A like or comment we can read arrived.
    MomentReaction {
        /// The post.
        #[serde(with = "id_text")]
        post: ItemId,
        /// Who.
        #[serde(with = "account_text")]
        from: AccountId,
        /// Like, unlike or comment.
        kind: ReactionKind,
    },
    /// A post was deleted by its author.
    MomentDeleted {
        /// The post.
        #[serde(with = "id_text")]
        id: ItemId,
    },
}

/// Who a post is for.
#[derive(Clone, Debug)]
pub enum Audience {
    /// Every friend.
    All,
    /// Only these friends or tags.
    Only(Vec<String>),
    /// Every friend except these friends or tags.
    Except(Vec<String>),
}

/// A comment as shown.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CommentView {
    /// Comment id.
    pub id: String,
    /// Who wrote it.
    pub author: String,
    /// Their name as we know it.
    pub author_name: String,
    /// Text.
    pub text: String,
    /// The comment it replies to.
    pub reply_to: Option<String>,
    /// When (Unix seconds; the API sends milliseconds).
    pub at: u64,
}

/// An image as shown.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImageView {
    /// Encrypted blob id.
    pub blob: String,
    /// Plaintext size.
    pub size: u64,
    /// Already stored here.
    pub local: bool,
}

/// `moments feed` entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FeedEntry {
    /// Post id.
    pub id: String,
    /// Author account.
    pub author: String,
    /// Author's name as we know it.
    pub author_name: String,
    /// Posted at (Unix seconds; the API sends milliseconds).
    pub at: u64,
    /// Text.
    pub text: String,
    /// Images.
    pub images: Vec<ImageView>,
    /// Link.
    pub link: Option<Link>,
    /// Accounts that like it (that we may see).
    pub likes: Vec<String>,
    /// Comments (that we may see), oldest first.
    pub comments: Vec<CommentView>,
    /// For our own posts: who may see it.
    pub audience: Option<Vec<String>>,
}

/// The Moments service handle. Cheap to clone.
#[derive(Clone)]
pub struct Moments {
    inner: Arc<Inner>,
}

/// The service's state, shared by the handle and its background task.
struct Inner {
    identity: Arc<Identity>,
    store: Store,
    net: Net,
    /// Resolves the names users type for friends.
    chat: Chat,
    blobs: Blobs,
    events: EventFeed<MomentsEvent>,
    /// Topics joined (ours and friends'), by tag, with their authors.
    joined: std::sync::Mutex<HashMap<[u8; 16], AccountId>>,
    /// When we last backfilled from each device.
    synced: std::sync::Mutex<HashMap<PeerId, Instant>>,
    /// Sync answers served per device: requests, and bytes uploaded.
    served: inbound::SyncBudgets,
    /// Serialises ingestion so a post and its reactions are applied in order.
    ingest: tokio::sync::Mutex<()>,
}

impl Moments {
    /// Subscribes to Moments events.
    pub fn subscribe(&self) -> EventRx<MomentsEvent> {
        self.inner.events.subscribe()
    }

    /// Tells the event stream; nobody listening is fine.
    fn emit(&self, ev: MomentsEvent) {
        let _ = self.inner.events.send(ev);
    }

    fn me(&self) -> AccountId {
        self.inner.identity.account_id
    }

    fn friends(&self) -> Vec<AccountId> {
        self.inner
            .store
            .contacts()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.state == ContactState::Friend)
            .map(|c| c.account)
            .collect()
    }

    fn is_friend(&self, a: &AccountId) -> bool {
        matches!(self.inner.store.contact(a), Ok(Some(c)) if c.state == ContactState::Friend)
    }

    /// The stored post a user named by id (or a unique prefix resolved by
    /// the API), or `UnknownPost`.
    fn stored_post(
        &self,
        post: &str,
    ) -> Result<(ItemId, crate::store::moments::PostRecord), MomentsError> {
        let id = parse_post(post)?;
        let rec = self
            .inner
            .store
            .post(&id)?
            .ok_or_else(|| MomentsError::UnknownPost(post.to_string()))?;
        Ok((id, rec))
    }

    fn name_of(&self, a: &AccountId) -> String {
        if *a == self.me() {
            return self.inner.store.name().ok().flatten().unwrap_or_default();
        }
        match self.inner.store.contact(a) {
            Ok(Some(c)) => c.display_name().to_string(),
            _ => a.short(),
        }
    }
}

/// Parses a post (or comment) id the user gave; a bad one is reported as
/// unknown, cut short so a pasted essay does not fill the error.
fn parse_post(s: &str) -> Result<ItemId, MomentsError> {
    parse_blob_hex(s).ok_or_else(|| MomentsError::UnknownPost(s.chars().take(80).collect()))
}

/// A post, reaction or comment id in JSON: lower-case hex, as the API prints it.
mod id_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use weft_protocol::moments::ItemId;

    pub fn serialize<S: Serializer>(id: &ItemId, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&weft_protocol::hex::encode(id))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ItemId, D::Error> {
        let s = String::deserialize(d)?;
        weft_protocol::hex::decode_array(&s)
            .ok_or_else(|| serde::de::Error::custom("not a 32-byte hex id"))
    }
}

/// An account id in JSON: its base58 text, as the API prints it.
mod account_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use weft_protocol::AccountId;

    pub fn serialize<S: Serializer>(a: &AccountId, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(a)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<AccountId, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_protocol::AccountKey;

    #[test]
    fn events_keep_their_json() {
        let a = AccountKey::generate().unwrap().account_id();
        let id = [0xab; 32];
        let ev = MomentsEvent::MomentReaction {
            post: id,
            from: a,
            kind: ReactionKind::Comment,
        };
        let json = serde_json::to_value(&ev).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "type": "moment_reaction",
                "post": "ab".repeat(32),
                "from": a.to_string(),
                "kind": "comment",
            })
        );
        assert_eq!(serde_json::from_value::<MomentsEvent>(json).unwrap(), ev);
        let json = serde_json::to_value(MomentsEvent::MomentPost { id, author: a }).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "type": "moment_post", "id": "ab".repeat(32), "author": a.to_string() })
        );
        let json = serde_json::to_value(MomentsEvent::MomentDeleted { id }).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "type": "moment_deleted", "id": "ab".repeat(32) })
        );
    }
}
