//! Moments: posts for chosen friends, likes and comments.
//!
//! - **Posting** encrypts the post under a fresh key wrapped for the chosen
//!   audience (all friends, only some, all except some, or friend tags),
//!   stores it, then publishes it on `weft/moments/<me>`.
//! - **Receiving**: the network task does a relay's checks (size, structure,
//!   signature, signer allowed, freshness) and hands each message here
//!   *unforwarded*; this service decrypts what it can, applies the audience
//!   rule to reactions and the author rule to tombstones, and gives gossipsub
//!   the verdict, so a rejected item is neither kept nor forwarded.
//! - **Backfill** (`/weft/sync/1`): when a friend's device identifies, we ask
//!   it for everything on our friends' topics since the newest item we hold
//!   for each; any holder can answer, since items are signed and encrypted.
//! - **Images** are encrypted before they become blobs; readers fetch them on
//!   demand from the author or any holder, chunk by chunk, verified.
//! - **Visibility**: a reaction is encrypted only to the post's author and
//!   the audience members who are friends of the reactor; the feed applies
//!   the same rule again in case a friendship ended since.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, watch};
use weft_protocol::{
    blob::{blob_hex, parse_blob_hex},
    moments::{
        self, open_post, open_reaction, ImageRef, Item, ItemBody, ItemId, Link, MomentError,
        Payload, PostContent, ReactionContent, SyncReply, SyncRequest,
    },
    AccountId, Kind,
};

use crate::blobs::{BlobFetchError, Blobs};
use crate::chat::{Chat, ChatError, ChatEvent};
use crate::home::Identity;
use crate::net::{card_peer, AppProtocol, GossipMessage, InboundRequest, Net, NetEvent, Topic};
use crate::store::chat::ContactState;
use crate::store::moments::{PostRecord, ReactionRecord};
use crate::store::{Store, StoreError};

/// Backfill asks from this much before the newest item held (late reactions, skew).
const SYNC_SLACK_SECS: u64 = 3600;
/// Least time between two backfills from the same device.
const SYNC_EVERY: Duration = Duration::from_secs(20);
/// Pages one backfill follows at most.
const SYNC_PAGES: usize = 16;
/// Bytes one sync answer carries at most.
const SYNC_REPLY_BYTES: usize = 900 * 1024;
/// Most holders asked for an image.
const MAX_HOLDERS: usize = 12;
/// Sync requests answered per device per minute; more are declined.
const SYNC_SERVED_PER_MINUTE: u32 = 30;
/// Longest friend-tag name.
const MAX_TAG_NAME: usize = 64;

/// Moments failures, worded for the user.
#[derive(Debug, thiserror::Error)]
pub enum MomentsError {
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
    /// Bad image reference.
    #[error("{0}")]
    Image(String),
    /// Bad tag.
    #[error("{0}")]
    Tag(String),
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

/// Moments events for the API stream.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MomentsEvent {
    /// A post we can read arrived.
    MomentPost {
        /// Post id.
        id: String,
        /// Author.
        author: String,
    },
    /// A like or comment we can read arrived.
    MomentReaction {
        /// The post.
        post: String,
        /// Who.
        from: String,
        /// `like`, `unlike` or `comment`.
        kind: &'static str,
    },
    /// A post was deleted by its author.
    MomentDeleted {
        /// The post.
        id: String,
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
#[derive(Clone, Debug, Serialize)]
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
    /// When.
    pub at: u64,
}

/// An image as shown.
#[derive(Clone, Debug, Serialize)]
pub struct ImageView {
    /// Encrypted blob id.
    pub blob: String,
    /// Plaintext size.
    pub size: u64,
    /// Already stored here.
    pub local: bool,
}

/// `moments feed` entry.
#[derive(Clone, Debug, Serialize)]
pub struct FeedEntry {
    /// Post id.
    pub id: String,
    /// Author account.
    pub author: String,
    /// Author's name as we know it.
    pub author_name: String,
    /// Posted at (seconds).
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

fn hex(id: &ItemId) -> String {
    blob_hex(id)
}

fn parse_post(s: &str) -> Result<ItemId, MomentsError> {
    parse_blob_hex(s).ok_or_else(|| MomentsError::UnknownPost(s.chars().take(80).collect()))
}

/// What became of an item.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Valid: keep relaying.
    Accept,
    /// Invalid: drop, don't relay, penalise the sender.
    Reject(String),
}

/// The Moments service handle. Cheap to clone.
#[derive(Clone)]
pub struct Moments {
    inner: Arc<Inner>,
}

struct Inner {
    identity: Arc<Identity>,
    store: Store,
    net: Net,
    chat: Chat,
    blobs: Blobs,
    events: broadcast::Sender<MomentsEvent>,
    /// Topics joined (ours and friends').
    joined: std::sync::Mutex<HashSet<AccountId>>,
    /// When we last backfilled from each device.
    synced: std::sync::Mutex<HashMap<PeerId, Instant>>,
    /// Sync requests served per device in the current minute.
    served: std::sync::Mutex<HashMap<PeerId, (Instant, u32)>>,
    /// Serialises ingestion so a post and its reactions are applied in order.
    ingest: tokio::sync::Mutex<()>,
}

impl Moments {
    /// Starts the service: joins topics, consumes gossip, backfills.
    pub fn start(
        chat: Chat,
        blobs: Blobs,
        mut gossip: mpsc::Receiver<GossipMessage>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Self {
        let (events, _) = broadcast::channel(256);
        let m = Moments {
            inner: Arc::new(Inner {
                identity: chat.inner.identity.clone(),
                store: chat.inner.store.clone(),
                net: chat.inner.net.clone(),
                chat: chat.clone(),
                blobs,
                events,
                joined: Default::default(),
                synced: Default::default(),
                served: Default::default(),
                ingest: Default::default(),
            }),
        };
        let me = m.clone();
        let mut net_events = m.inner.net.subscribe();
        let mut chat_events = chat.subscribe();
        tokio::spawn(async move {
            me.reconcile_topics().await;
            let mut tick = tokio::time::interval(Duration::from_secs(30));
            loop {
                tokio::select! {
                    _ = async { let _ = shutdown.wait_for(|s| *s).await; } => return,
                    msg = gossip.recv() => match msg {
                        Some(msg) => me.on_gossip(msg).await,
                        None => return,
                    },
                    ev = net_events.recv() => {
                        if let Ok(NetEvent::PeerIdentified { peer_id, account_id, .. }) = ev {
                            me.on_identified(peer_id, account_id);
                        }
                    }
                    ev = chat_events.recv() => {
                        if let Ok(ChatEvent::FriendAccepted { .. }) = ev {
                            me.reconcile_topics().await;
                        }
                    }
                    _ = tick.tick() => me.reconcile_topics().await,
                }
            }
        });
        m
    }

    /// Subscribes to Moments events.
    pub fn subscribe(&self) -> broadcast::Receiver<MomentsEvent> {
        self.inner.events.subscribe()
    }

    fn me(&self) -> AccountId {
        self.inner.identity.account.account_id()
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

    fn name_of(&self, a: &AccountId) -> String {
        if *a == self.me() {
            return self.inner.store.name().ok().flatten().unwrap_or_default();
        }
        match self.inner.store.contact(a) {
            Ok(Some(c)) => c.display_name().to_string(),
            _ => a.short(),
        }
    }

    /// Joins our topic and our friends' topics; leaves those of ex-friends.
    async fn reconcile_topics(&self) {
        let mut want: HashSet<AccountId> = self.friends().into_iter().collect();
        want.insert(self.me());
        let (join, leave) = {
            let Ok(mut joined) = self.inner.joined.lock() else {
                return;
            };
            let join: Vec<_> = want.difference(&joined).copied().collect();
            let leave: Vec<_> = joined.difference(&want).copied().collect();
            *joined = want;
            (join, leave)
        };
        for a in &join {
            self.inner.net.join_topic(Topic::Moments(*a), true).await;
        }
        for a in leave {
            self.inner.net.join_topic(Topic::Moments(a), false).await;
        }
        // A new friend: catch up on what they posted before.
        if !join.is_empty() {
            for p in self.inner.net.peers().await.unwrap_or_default() {
                if p.account_id
                    .is_some_and(|a| join.contains(&a) && a != self.me())
                {
                    let (me, peer) = (self.clone(), p.peer_id);
                    tokio::spawn(async move { me.backfill_from(peer, true).await });
                }
            }
        }
    }

    /// A device identified itself: if it belongs to a friend (or to us), backfill from it.
    fn on_identified(&self, peer: PeerId, account: AccountId) {
        if account != self.me() && !self.is_friend(&account) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move { me.backfill_from(peer, false).await });
    }

    // ----- posting -----

    /// Encrypts an image and stores it as a blob, ready to be attached to a
    /// post; returns the blob id. The plaintext is never stored.
    pub async fn stage_image(&self, bytes: &[u8]) -> Result<String, MomentsError> {
        if bytes.is_empty() || bytes.len() > moments::MAX_IMAGE_BYTES {
            return Err(MomentsError::Image(format!(
                "an image is 1 to {} bytes; this one is {}",
                moments::MAX_IMAGE_BYTES,
                bytes.len()
            )));
        }
        let key = moments::new_key()?;
        let sealed = moments::encrypt(&key, 0, bytes)?;
        let id = self.inner.blobs.add(&sealed).await?;
        self.inner.store.stage_image(&id, &key)?;
        self.inner.store.flush_async().await?;
        Ok(blob_hex(&id))
    }

    fn resolve_list(&self, list: &[String]) -> Result<HashSet<AccountId>, MomentsError> {
        let tags: HashMap<String, Vec<AccountId>> = self.inner.store.tags()?.into_iter().collect();
        let mut out = HashSet::new();
        for who in list {
            let who = who.trim();
            if who.is_empty() {
                continue;
            }
            if let Some(members) = tags.get(who) {
                out.extend(members.iter().copied());
                continue;
            }
            let a = self.inner.chat.resolve(who)?;
            if !self.is_friend(&a) {
                return Err(MomentsError::NotAFriend(who.to_string()));
            }
            out.insert(a);
        }
        Ok(out)
    }

    fn resolve_audience(&self, audience: &Audience) -> Result<Vec<AccountId>, MomentsError> {
        let friends: HashSet<AccountId> = self.friends().into_iter().collect();
        let mut list: Vec<AccountId> = match audience {
            Audience::All => friends.into_iter().collect(),
            Audience::Only(l) => {
                let chosen = self.resolve_list(l)?;
                if chosen.is_empty() {
                    return Err(MomentsError::EmptyAudience);
                }
                // Tags may hold ex-friends: Moments go to friends only.
                chosen.intersection(&friends).copied().collect()
            }
            Audience::Except(l) => {
                let excluded = self.resolve_list(l)?;
                friends.difference(&excluded).copied().collect()
            }
        };
        list.sort();
        if list.len() > moments::MAX_AUDIENCE {
            return Err(MomentError::Bounds(format!(
                "audience of {}; at most {}",
                list.len(),
                moments::MAX_AUDIENCE
            ))
            .into());
        }
        Ok(list)
    }

    /// `moments post`: returns the post id.
    pub async fn post(
        &self,
        text: &str,
        images: &[String],
        link: Option<Link>,
        audience: &Audience,
    ) -> Result<String, MomentsError> {
        let audience = self.resolve_audience(audience)?;
        let mut refs = Vec::with_capacity(images.len());
        for i in images {
            let blob = parse_blob_hex(i)
                .ok_or_else(|| MomentsError::Image(format!("`{i}` is not an image id")))?;
            let key = self.inner.store.staged_image(&blob)?.ok_or_else(|| {
                MomentsError::Image(format!(
                    "image {i} was not added on this node (POST /v1/moments/images)"
                ))
            })?;
            let size = self
                .inner
                .store
                .manifest(&blob)?
                .map(|m| m.size.saturating_sub(16))
                .unwrap_or(0);
            refs.push(ImageRef { blob, size, key });
        }
        let content = PostContent {
            text: text.to_string(),
            images: refs,
            link,
            audience,
        };
        let key = moments::new_key()?;
        let item = moments::make_post(
            &self.inner.identity.account,
            &content,
            &key,
            weft_protocol::unix_now(),
        )?;
        let id = item.id();
        // Persist before we answer and before anyone can ask us for it.
        self.inner.store.put_moment_item(&item)?;
        self.inner.store.put_post(
            &id,
            &PostRecord {
                author: self.me(),
                at: item.body.at,
                key,
                content,
            },
        )?;
        self.inner.store.flush_async().await?;
        self.publish(&item).await;
        Ok(hex(&id))
    }

    async fn publish(&self, item: &Item) {
        let Ok(bytes) = weft_protocol::encode(Kind::MomentItem, item) else {
            return;
        };
        // No friend online is not an error: they backfill when they return.
        if let Err(e) = self
            .inner
            .net
            .publish(Topic::Moments(item.body.author), bytes)
            .await
        {
            tracing::debug!(error = %e, "moments item not gossiped now; friends will backfill");
        }
    }

    /// `moments delete`: a signed tombstone.
    pub async fn delete(&self, post: &str) -> Result<(), MomentsError> {
        let id = parse_post(post)?;
        let rec = self
            .inner
            .store
            .post(&id)?
            .ok_or_else(|| MomentsError::UnknownPost(post.to_string()))?;
        if rec.author != self.me() {
            return Err(MomentsError::NotYours);
        }
        let item = Item::sign(
            &self.inner.identity.account,
            ItemBody {
                author: self.me(),
                signer: self.me(),
                at: weft_protocol::unix_now(),
                payload: Payload::Tombstone { post: id },
            },
        )?;
        self.inner.store.delete_post(&id, &item.id())?;
        self.inner.store.put_moment_item(&item)?;
        self.inner.store.flush_async().await?;
        self.publish(&item).await;
        let _ = self
            .inner
            .events
            .send(MomentsEvent::MomentDeleted { id: hex(&id) });
        Ok(())
    }

    /// `moments like` / `unlike` / `comment`: returns the reaction id.
    pub async fn react(
        &self,
        post: &str,
        content: ReactionContent,
    ) -> Result<String, MomentsError> {
        let id = parse_post(post)?;
        let rec = self
            .inner
            .store
            .post(&id)?
            .ok_or_else(|| MomentsError::UnknownPost(post.to_string()))?;
        if let ReactionContent::Comment {
            reply_to: Some(r), ..
        } = &content
        {
            let known = self.inner.store.reactions(&id)?.iter().any(|x| x.id == *r);
            if !known {
                return Err(MomentsError::UnknownPost(format!("comment {}", hex(r))));
            }
        }
        // Readers: the author, and those in the audience who are our friends
        // (the author's audience are all the author's friends).
        let readers: Vec<AccountId> = if rec.author == self.me() {
            rec.content.audience.clone()
        } else {
            rec.content
                .audience
                .iter()
                .filter(|a| self.is_friend(a))
                .copied()
                .collect()
        };
        let item = moments::make_reaction(
            &self.inner.identity.account,
            rec.author,
            id,
            &content,
            &readers,
            weft_protocol::unix_now(),
        )?;
        let rid = item.id();
        self.inner.store.put_moment_item(&item)?;
        self.inner.store.put_reaction(
            &id,
            &ReactionRecord {
                id: rid,
                from: self.me(),
                at: item.body.at,
                content,
            },
        )?;
        self.inner.store.flush_async().await?;
        self.publish(&item).await;
        Ok(hex(&rid))
    }

    /// Sets how many days back friends may see our posts (0 = everything).
    pub async fn set_visible_days(&self, days: u32) -> Result<(), MomentsError> {
        let item = Item::sign(
            &self.inner.identity.account,
            ItemBody {
                author: self.me(),
                signer: self.me(),
                at: weft_protocol::unix_now(),
                payload: Payload::Settings { visible_days: days },
            },
        )?;
        self.inner.store.put_moment_item(&item)?;
        self.inner
            .store
            .put_moment_settings(&self.me(), item.body.at, days)?;
        self.inner.store.flush_async().await?;
        self.publish(&item).await;
        Ok(())
    }

    /// Our "only show the last N days" setting (0 = everything).
    pub fn visible_days(&self) -> u32 {
        self.days_of(&self.me())
    }

    fn days_of(&self, a: &AccountId) -> u32 {
        self.inner
            .store
            .moment_settings(a)
            .ok()
            .flatten()
            .map(|(_, d)| d)
            .unwrap_or(0)
    }

    /// Creates, replaces or (with no members) removes a friend tag.
    pub async fn set_tag(&self, name: &str, members: &[String]) -> Result<(), MomentsError> {
        let name = name.trim();
        if name.is_empty() || name.len() > MAX_TAG_NAME {
            return Err(MomentsError::Tag(format!(
                "a tag name is 1 to {MAX_TAG_NAME} bytes"
            )));
        }
        let mut list = Vec::new();
        for m in members {
            let a = self.inner.chat.resolve(m)?;
            if !self.is_friend(&a) {
                return Err(MomentsError::NotAFriend(m.clone()));
            }
            list.push(a);
        }
        list.sort();
        list.dedup();
        self.inner.store.set_tag(name, &list)?;
        self.inner.store.flush_async().await?;
        Ok(())
    }

    /// Friend tags: name → account ids.
    pub fn tags(&self) -> Result<Vec<(String, Vec<String>)>, MomentsError> {
        Ok(self
            .inner
            .store
            .tags()?
            .into_iter()
            .map(|(n, m)| (n, m.iter().map(|a| a.to_string()).collect()))
            .collect())
    }

    // ----- reading -----

    fn cutoff(&self, author: &AccountId, now: u64) -> u64 {
        match self.days_of(author) {
            0 => 0,
            d => now.saturating_sub(u64::from(d) * 86_400),
        }
    }

    /// `moments feed`: friends' and our posts, newest first, with the likes
    /// and comments we may see.
    pub fn feed(&self, limit: usize) -> Result<Vec<FeedEntry>, MomentsError> {
        let me = self.me();
        let now = weft_protocol::unix_now();
        let mut posts: Vec<(ItemId, PostRecord)> = self
            .inner
            .store
            .posts()?
            .into_iter()
            .filter(|(_, p)| p.author == me || self.is_friend(&p.author))
            .filter(|(_, p)| p.author == me || p.at >= self.cutoff(&p.author, now))
            .collect();
        posts.sort_by(|a, b| b.1.at.cmp(&a.1.at).then(b.0.cmp(&a.0)));
        posts.truncate(limit);
        let mut out = Vec::with_capacity(posts.len());
        for (id, p) in posts {
            out.push(self.entry(&id, p)?);
        }
        Ok(out)
    }

    /// One post as the feed shows it.
    pub fn get(&self, post: &str) -> Result<FeedEntry, MomentsError> {
        let id = parse_post(post)?;
        let p = self
            .inner
            .store
            .post(&id)?
            .ok_or_else(|| MomentsError::UnknownPost(post.to_string()))?;
        self.entry(&id, p)
    }

    fn entry(&self, id: &ItemId, p: PostRecord) -> Result<FeedEntry, MomentsError> {
        let me = self.me();
        let visible = |from: &AccountId| p.author == me || *from == me || self.is_friend(from);
        let mut liked: HashMap<AccountId, (u64, bool)> = HashMap::new();
        let mut comments = Vec::new();
        for r in self.inner.store.reactions(id)? {
            if !visible(&r.from) {
                continue;
            }
            match r.content {
                ReactionContent::Like | ReactionContent::Unlike => {
                    let on = r.content == ReactionContent::Like;
                    let e = liked.entry(r.from).or_insert((0, false));
                    if r.at >= e.0 {
                        *e = (r.at, on);
                    }
                }
                ReactionContent::Comment { text, reply_to } => comments.push(CommentView {
                    id: hex(&r.id),
                    author: r.from.to_string(),
                    author_name: self.name_of(&r.from),
                    text,
                    reply_to: reply_to.as_ref().map(hex),
                    at: r.at,
                }),
            }
        }
        let mut likes: Vec<String> = liked
            .into_iter()
            .filter(|(_, (_, on))| *on)
            .map(|(a, _)| a.to_string())
            .collect();
        likes.sort();
        let images = p
            .content
            .images
            .iter()
            .map(|i| ImageView {
                blob: blob_hex(&i.blob),
                size: i.size,
                local: matches!(self.inner.blobs.get(&i.blob), Ok(Some(_))),
            })
            .collect();
        Ok(FeedEntry {
            id: hex(id),
            author: p.author.to_string(),
            author_name: self.name_of(&p.author),
            at: p.at,
            text: p.content.text,
            images,
            link: p.content.link,
            likes,
            comments,
            audience: (p.author == me)
                .then(|| p.content.audience.iter().map(|a| a.to_string()).collect()),
        })
    }

    /// A post's image `index`, decrypted: fetched first (from `from`, then the
    /// author's device, then connected peers) if not stored here.
    pub async fn image(
        &self,
        post: &str,
        index: usize,
        from: &[PeerId],
    ) -> Result<Vec<u8>, MomentsError> {
        let id = parse_post(post)?;
        let p = self
            .inner
            .store
            .post(&id)?
            .ok_or_else(|| MomentsError::UnknownPost(post.to_string()))?;
        let img = p.content.images.get(index).ok_or_else(|| {
            MomentsError::Image(format!(
                "post has {} images; index {index} is out of range",
                p.content.images.len()
            ))
        })?;
        if self.inner.blobs.get(&img.blob)?.is_none() {
            let mut holders: Vec<PeerId> = from.to_vec();
            if let Some(peer) = self
                .inner
                .store
                .contact(&p.author)?
                .and_then(|c| c.card)
                .and_then(|c| card_peer(&c))
            {
                holders.push(peer);
            }
            for peer in self.inner.net.peers().await.unwrap_or_default() {
                holders.push(peer.peer_id);
            }
            let mut seen = HashSet::new();
            holders.retain(|h| seen.insert(*h));
            holders.truncate(MAX_HOLDERS);
            self.inner.blobs.fetch(&img.blob, &holders).await?;
        }
        let sealed = self
            .inner
            .blobs
            .get(&img.blob)?
            .ok_or_else(|| MomentsError::Image("image blob incomplete".into()))?;
        let plain = moments::decrypt(&img.key, 0, &sealed)
            .map_err(|_| MomentsError::Image("image does not decrypt with its key".into()))?;
        Ok(plain)
    }

    // ----- receiving -----

    async fn on_gossip(&self, msg: GossipMessage) {
        let verdict = match moments::relay::decode_item(&msg.data) {
            Ok(item) => self.ingest(item).await,
            Err(e) => Verdict::Reject(e.to_string()),
        };
        if verdict == Verdict::Accept {
            let _ = self.inner.store.flush_async().await;
        }
        if let Verdict::Reject(reason) = &verdict {
            tracing::info!(topic = %msg.topic, %reason, "rejected moments item");
        }
        if let Some(p) = msg.pending {
            self.inner.net.validate(p, verdict == Verdict::Accept).await;
        }
    }

    /// Applies a checked item from gossip or backfill (the caller flushes).
    async fn ingest(&self, item: Item) -> Verdict {
        let _order = self.inner.ingest.lock().await;
        let author = item.body.author;
        if author != self.me() && !self.is_friend(&author) {
            // Not a topic we read; a relay's checks passed.
            return Verdict::Accept;
        }
        let id = item.id();
        match self.inner.store.has_moment_item(&id) {
            Ok(true) => return Verdict::Accept,
            Ok(false) => {}
            Err(e) => return Verdict::Reject(e.to_string()),
        }
        let r = match &item.body.payload {
            Payload::Post { .. } => self.ingest_post(&item, id),
            Payload::Tombstone { post } => self.ingest_tombstone(&item, id, *post),
            Payload::Reaction { post, .. } => self.ingest_reaction(&item, *post, true),
            Payload::Settings { visible_days } => self
                .inner
                .store
                .put_moment_item(&item)
                .and_then(|_| {
                    self.inner
                        .store
                        .put_moment_settings(&author, item.body.at, *visible_days)
                })
                .map(|_| Verdict::Accept),
        };
        r.unwrap_or_else(|e| Verdict::Reject(e.to_string()))
    }

    fn ingest_post(&self, item: &Item, id: ItemId) -> Result<Verdict, StoreError> {
        let store = &self.inner.store;
        if store.is_post_deleted(&id)? {
            return Ok(Verdict::Reject("post was deleted by its author".into()));
        }
        let opened = match open_post(&self.inner.identity.account, item) {
            Ok(o) => Some(o),
            Err(MomentError::NotForUs) => None,
            Err(e) => return Ok(Verdict::Reject(format!("unreadable post: {e}"))),
        };
        store.put_moment_item(item)?;
        let Some((key, content)) = opened else {
            return Ok(Verdict::Accept); // kept, encrypted, to serve others
        };
        store.put_post(
            &id,
            &PostRecord {
                author: item.body.author,
                at: item.body.at,
                key,
                content,
            },
        )?;
        let _ = self.inner.events.send(MomentsEvent::MomentPost {
            id: hex(&id),
            author: item.body.author.to_string(),
        });
        // Reactions (and a tombstone) that arrived before the post.
        for other in store.moment_items_about(&item.body.author, &id)? {
            match other.body.payload {
                Payload::Reaction { .. } => {
                    if let Ok(Verdict::Reject(_)) = self.ingest_reaction(&other, id, false) {
                        store.remove_moment_item(&other.id())?;
                    }
                }
                Payload::Tombstone { .. } => {
                    store.delete_post(&id, &other.id())?;
                }
                _ => {}
            }
        }
        Ok(Verdict::Accept)
    }

    fn ingest_tombstone(
        &self,
        item: &Item,
        id: ItemId,
        post: ItemId,
    ) -> Result<Verdict, StoreError> {
        let store = &self.inner.store;
        if let Some(p) = store.moment_item(&post)? {
            if p.body.author != item.body.signer || !matches!(p.body.payload, Payload::Post { .. })
            {
                return Ok(Verdict::Reject(
                    "tombstone for a post the signer did not write".into(),
                ));
            }
        }
        store.put_moment_item(item)?;
        let had = store.post(&post)?.is_some();
        store.delete_post(&post, &id)?;
        if had {
            let _ = self
                .inner
                .events
                .send(MomentsEvent::MomentDeleted { id: hex(&post) });
        }
        Ok(Verdict::Accept)
    }

    /// `fresh`: the item is new (store it); false when re-applying a stored one.
    fn ingest_reaction(
        &self,
        item: &Item,
        post: ItemId,
        fresh: bool,
    ) -> Result<Verdict, StoreError> {
        let store = &self.inner.store;
        if store.is_post_deleted(&post)? {
            return Ok(Verdict::Accept); // nothing to attach it to any more
        }
        let Some(rec) = store.post(&post)? else {
            if let Some(p) = store.moment_item(&post)? {
                if p.body.author != item.body.author {
                    return Ok(Verdict::Reject(
                        "reaction filed under the wrong author".into(),
                    ));
                }
            }
            // Post not readable here (or not arrived yet): keep it encrypted.
            if fresh {
                store.put_moment_item(item)?;
            }
            return Ok(Verdict::Accept);
        };
        if rec.author != item.body.author {
            return Ok(Verdict::Reject(
                "reaction filed under the wrong author".into(),
            ));
        }
        let content = match open_reaction(&self.inner.identity.account, item) {
            Ok(c) => c,
            Err(MomentError::NotForUs) => {
                if fresh {
                    store.put_moment_item(item)?;
                }
                return Ok(Verdict::Accept);
            }
            Err(e) => return Ok(Verdict::Reject(format!("unreadable reaction: {e}"))),
        };
        let from = item.body.signer;
        if from != rec.author && !rec.content.audience.contains(&from) {
            return Ok(Verdict::Reject(
                "reaction from someone outside the post's audience".into(),
            ));
        }
        if fresh {
            store.put_moment_item(item)?;
        }
        let kind = match &content {
            ReactionContent::Like => "like",
            ReactionContent::Unlike => "unlike",
            ReactionContent::Comment { .. } => "comment",
        };
        store.put_reaction(
            &post,
            &ReactionRecord {
                id: item.id(),
                from,
                at: item.body.at,
                content,
            },
        )?;
        let _ = self.inner.events.send(MomentsEvent::MomentReaction {
            post: hex(&post),
            from: from.to_string(),
            kind,
        });
        Ok(Verdict::Accept)
    }

    // ----- backfill -----

    /// Asks `peer` for everything on our friends' (and our) topics since the
    /// newest item we hold for each. `force` skips the rate limit.
    pub async fn backfill_from(&self, peer: PeerId, force: bool) -> usize {
        {
            let Ok(mut synced) = self.inner.synced.lock() else {
                return 0;
            };
            if !force && synced.get(&peer).is_some_and(|t| t.elapsed() < SYNC_EVERY) {
                return 0;
            }
            synced.insert(peer, Instant::now());
            if synced.len() > 1024 {
                synced.retain(|_, t| t.elapsed() < SYNC_EVERY);
            }
        }
        let mut authors = self.friends();
        authors.push(self.me());
        let mut got = 0;
        for chunk in authors.chunks(moments::MAX_SYNC_AUTHORS) {
            let mut since: Vec<(AccountId, u64)> = chunk
                .iter()
                .map(|a| {
                    let latest = self.inner.store.latest_moment_at(a).unwrap_or(0);
                    (*a, latest.saturating_sub(SYNC_SLACK_SECS))
                })
                .collect();
            for _ in 0..SYNC_PAGES {
                let Some(reply) = self.ask_sync(peer, &since).await else {
                    break;
                };
                let mut last: HashMap<AccountId, u64> = HashMap::new();
                for bytes in reply.items.iter().take(moments::MAX_SYNC_ITEMS) {
                    let Ok(item) = Item::from_bytes(bytes) else {
                        tracing::warn!(%peer, "backfill peer sent an invalid item");
                        continue;
                    };
                    if !since.iter().any(|(a, _)| *a == item.body.author) {
                        continue; // not asked for
                    }
                    last.insert(item.body.author, item.body.at);
                    let fresh = !self.inner.store.has_moment_item(&item.id()).unwrap_or(true);
                    if let Verdict::Reject(r) = self.ingest(item).await {
                        tracing::warn!(%peer, reason = %r, "backfill peer sent a rejected item");
                    } else if fresh {
                        got += 1;
                    }
                }
                if !reply.more || last.is_empty() {
                    break;
                }
                // Continue from where each author's page ended.
                since = since
                    .into_iter()
                    .filter_map(|(a, s)| last.get(&a).map(|t| (a, (*t).max(s))))
                    .collect();
            }
        }
        if got > 0 {
            let _ = self.inner.store.flush_async().await;
            tracing::info!(%peer, got, "backfilled moments items");
        }
        got
    }

    /// Rate limit for `/weft/sync/1` answers, per device.
    fn may_serve(&self, peer: PeerId) -> bool {
        let Ok(mut served) = self.inner.served.lock() else {
            return false;
        };
        if served.len() > 4096 {
            served.retain(|_, (t, _)| t.elapsed() < Duration::from_secs(60));
        }
        let e = served.entry(peer).or_insert((Instant::now(), 0));
        if e.0.elapsed() >= Duration::from_secs(60) {
            *e = (Instant::now(), 0);
        }
        e.1 += 1;
        e.1 <= SYNC_SERVED_PER_MINUTE
    }

    async fn ask_sync(&self, peer: PeerId, since: &[(AccountId, u64)]) -> Option<SyncReply> {
        let req = SyncRequest {
            authors: since.to_vec(),
        };
        let bytes = weft_protocol::encode(Kind::SyncRequest, &req).ok()?;
        let r = tokio::time::timeout(
            Duration::from_secs(15),
            self.inner.net.request(AppProtocol::Sync, peer, bytes),
        )
        .await;
        weft_protocol::decode(Kind::SyncReply, &r.ok()?.ok()?).ok()
    }

    /// Answers `/weft/sync/1`: items are signed and encrypted, so any peer
    /// may have them; the author's "last N days" setting is honoured.
    pub fn handle_inbound(&self, req: &InboundRequest) -> Option<Vec<u8>> {
        if !self.may_serve(req.peer) {
            tracing::warn!(peer = %req.peer, "too many sync requests; declining");
            return None;
        }
        let r: SyncRequest = match weft_protocol::decode(Kind::SyncRequest, &req.data) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(peer = %req.peer, error = %e, "bad sync request");
                return None;
            }
        };
        if r.authors.len() > moments::MAX_SYNC_AUTHORS {
            tracing::warn!(peer = %req.peer, "sync request for too many authors");
            return None;
        }
        let now = weft_protocol::unix_now();
        let mut items = Vec::new();
        let mut bytes = 0;
        let mut more = false;
        for (author, since) in &r.authors {
            let since = (*since).max(self.cutoff(author, now));
            let room = moments::MAX_SYNC_ITEMS.saturating_sub(items.len());
            let (got, m) = self
                .inner
                .store
                .moment_items_since(author, since, room, SYNC_REPLY_BYTES.saturating_sub(bytes))
                .ok()?;
            more |= m;
            bytes += got.iter().map(Vec::len).sum::<usize>();
            items.extend(got);
        }
        weft_protocol::encode(Kind::SyncReply, &SyncReply { items, more }).ok()
    }
}
