//! Official accounts: creating and running them, following them, their
//! broadcasts on gossipsub, backfill, verification, and follower questions
//! answered by keyword auto-replies.
//!
//! - **Gossip validation** (`weft_protocol::oa::relay::check_broadcast`,
//!   called by `net::gossip`) runs in the swarm task for
//!   every message on a `weft/oa/<account>` topic, at followers and relays
//!   alike: envelope, signature, topic = signer, size, kind quota and period,
//!   freshness (±36 h), and slot reuse (two different broadcasts in one
//!   quota slot: the second is rejected). Rejected messages are not
//!   forwarded and lower the sender's gossipsub score.
//! - **Publishing** refuses over-quota posts before signing.
//! - **Backfill** (`/weft/oa/1` `Recent`): a new or returning follower asks
//!   the OA's device and its connected peers for the last posts; each is
//!   checked like gossip (except freshness) before it is stored.
//! - **Questions** (`/weft/oa/1` `Ask`): one Noise IK round trip from the
//!   follower's account key to the OA's key, answered by the OA's node with
//!   the first keyword reply that matches (or the menu), so it works with
//!   nobody at the keyboard. Both sides log the exchange.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, watch};
use weft_protocol::{
    oa::{
        over_quota, Broadcast, BroadcastBody, OaKind, OaProfile, OaProfileBody, Part, Verification,
    },
    seal, AccountId, AccountKey, Card, Kind,
};

use crate::chat::Chat;
use crate::home::{Home, Identity};
use crate::net::{card_peer, AppProtocol, GossipMessage, InboundRequest, Net, Topic};
use crate::store::oa::OwnedOa;
use crate::store::{Store, StoreError};

/// Posts a backfill asks for.
const BACKFILL: usize = 20;
/// Longest follower question, bytes.
const MAX_QUESTION: usize = 2048;

/// Official-account failures.
#[derive(Debug, thiserror::Error)]
pub enum OaServiceError {
    /// Protocol-level refusal (quota, bounds, signature).
    #[error(transparent)]
    Oa(#[from] weft_protocol::oa::OaError),
    /// Not an account this node runs.
    #[error("{0} is not an official account on this node (see `weft oa list`)")]
    NotOwned(String),
    /// Unknown id.
    #[error("`{0}` is not an account id")]
    BadId(String),
    /// Not followed / unknown.
    #[error("you don't follow {0}; `weft oa follow {0}` first")]
    NotFollowed(String),
    /// Could not reach the account's node.
    #[error("the account's node is not reachable right now: {0}")]
    Unreachable(String),
    /// Bad certificate.
    #[error("invalid verification certificate: {0}")]
    BadCertificate(String),
    /// Too long.
    #[error("message over {MAX_QUESTION} bytes")]
    TooLong,
    /// An image that is not stored locally.
    #[error("{0}")]
    MissingImage(String),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Key files.
    #[error(transparent)]
    Node(#[from] Box<crate::error::NodeError>),
}

/// `oa list` entry.
#[derive(Clone, Debug, Serialize)]
pub struct OaView {
    /// Account id.
    pub account_id: String,
    /// Name.
    pub name: String,
    /// `subscription` or `service`.
    pub kind: &'static str,
    /// Whether a trusted verifier vouches for it.
    pub verified: bool,
    /// Which verifier.
    pub verified_by: Option<String>,
    /// This node runs it.
    pub own: bool,
    /// We follow it.
    pub following: bool,
    /// For accounts we run: peers subscribed to its topic right now.
    pub subscribers: Option<usize>,
}

/// `oa feed` entry.
#[derive(Clone, Debug, Serialize)]
pub struct PostView {
    /// Broadcast id (hex).
    pub id: String,
    /// OA account.
    pub account_id: String,
    /// OA name.
    pub name: String,
    /// Kind.
    pub kind: &'static str,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Link.
    pub link: Option<String>,
    /// Other languages.
    pub parts: Vec<Part>,
    /// Unix seconds.
    pub published_at: u64,
    /// Images: blob id (hex) and whether it is fully here yet.
    pub images: Vec<ImageView>,
}

/// An image of a post.
#[derive(Clone, Debug, Serialize)]
pub struct ImageView {
    /// Blob id (hex); `weft blob get ID --out FILE` exports it.
    pub id: String,
    /// Whether every chunk is stored here.
    pub local: bool,
}

/// `/weft/oa/1` requests.
#[derive(Debug, Serialize, Deserialize)]
pub enum OaRequest {
    /// The last `limit` posts of `account` you hold.
    Recent {
        /// The OA.
        account: AccountId,
        /// How many.
        limit: u32,
    },
    /// The profiles of the official accounts you run (for name search).
    Accounts,
    /// A follower's question: Noise IK message 1 to the OA's key.
    Ask {
        /// The OA.
        account: AccountId,
        /// IK message 1; its payload is postcard `Question`.
        msg1: Vec<u8>,
    },
}

/// `/weft/oa/1` answers.
#[derive(Debug, Serialize, Deserialize)]
pub enum OaReply {
    /// Broadcasts, newest first (postcard each).
    Posts(Vec<Vec<u8>>),
    /// IK message 2; payload is the reply text.
    Answer(Vec<u8>),
    /// Refused.
    Refused(String),
    /// Signed profiles of the accounts this node runs (postcard each).
    Accounts(Vec<Vec<u8>>),
}

#[derive(Serialize, Deserialize)]
struct Question {
    from: AccountId,
    text: String,
}

/// Events for the API stream.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OaEvent {
    /// A followed account published.
    OaPost {
        /// Account.
        account_id: String,
        /// Title.
        title: String,
    },
}

struct Inner {
    identity: Arc<Identity>,
    home: Home,
    store: Store,
    net: Net,
    chat: Chat,
    trust_roots: Vec<AccountId>,
    events: broadcast::Sender<OaEvent>,
    blobs: crate::blobs::Blobs,
    /// Held from counting this period's posts to storing the new one, so
    /// two posts published at once never take the same slot (followers
    /// would refuse the second as a slot reused).
    publishing: tokio::sync::Mutex<()>,
}

/// The official-accounts service handle. Cheap to clone.
#[derive(Clone)]
pub struct Oa {
    inner: Arc<Inner>,
}

fn parse_id(s: &str) -> Result<AccountId, OaServiceError> {
    s.trim()
        .parse()
        .map_err(|_| OaServiceError::BadId(s.chars().take(80).collect()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) || s.len() > 8192 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Oa {
    /// Starts the service: resubscribes followed topics, consumes valid gossip.
    pub fn start(
        home: Home,
        chat: Chat,
        blobs: crate::blobs::Blobs,
        trust_roots: Vec<AccountId>,
        mut gossip: mpsc::Receiver<GossipMessage>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<Self, OaServiceError> {
        let (events, _) = broadcast::channel(256);
        let identity = chat.inner.identity.clone();
        let store = chat.inner.store.clone();
        let net = chat.inner.net.clone();
        let oa = Oa {
            inner: Arc::new(Inner {
                identity,
                home,
                store,
                net,
                chat,
                trust_roots,
                events,
                blobs,
                publishing: tokio::sync::Mutex::new(()),
            }),
        };
        let me = oa.clone();
        // Subscribe before anything can connect, so no identification is missed.
        let mut peers = oa.inner.net.subscribe();
        tokio::spawn(async move {
            let followed = me
                .inner
                .store
                .followed_oas()
                .unwrap_or_default()
                .into_iter()
                .map(|(a, _)| a);
            let owned = me
                .inner
                .store
                .owned_oas()
                .unwrap_or_default()
                .into_iter()
                .map(|(a, _)| a);
            for account in followed.chain(owned) {
                me.inner.net.join_topic(Topic::Oa(account), true).await;
            }
            let mut backfilled = false;
            let mut last_publish: Option<std::time::Instant> = None;
            loop {
                tokio::select! {
                    _ = async { let _ = shutdown.wait_for(|s| *s).await; } => return,
                    m = gossip.recv() => match m {
                        Some(m) => me.on_gossip(m),
                        None => return,
                    },
                    ev = peers.recv() => {
                        let Ok(crate::net::NetEvent::PeerIdentified { peer_id, .. }) = ev else {
                            continue;
                        };
                        // A followed account's node is (back) online: catch up from it.
                        let hosts: Vec<AccountId> = me
                            .inner
                            .store
                            .followed_oas()
                            .unwrap_or_default()
                            .into_iter()
                            .filter(|(_, p)| {
                                p.as_ref().and_then(|p| card_peer(&p.body.card)) == Some(peer_id)
                            })
                            .map(|(a, _)| a)
                            .collect();
                        if !hosts.is_empty() {
                            let m = me.clone();
                            tokio::spawn(async move {
                                for a in hosts {
                                    m.backfill(a).await;
                                }
                            });
                        }
                        // Our accounts' DHT records, now and every half hour.
                        if last_publish.is_none_or(|t| t.elapsed() > Duration::from_secs(1800)) {
                            last_publish = Some(std::time::Instant::now());
                            let m = me.clone();
                            tokio::spawn(async move { m.publish_records().await });
                        }
                        // After a restart, reconnect to followed accounts and catch up.
                        if !backfilled {
                            backfilled = true;
                            let m = me.clone();
                            tokio::spawn(async move {
                                for (account, _) in m.inner.store.followed_oas().unwrap_or_default() {
                                    m.connect(&account).await;
                                    m.backfill(account).await;
                                }
                            });
                        }
                    }
                }
            }
        });
        Ok(oa)
    }

    /// Subscribes to OA events.
    pub fn subscribe(&self) -> broadcast::Receiver<OaEvent> {
        self.inner.events.subscribe()
    }

    fn on_gossip(&self, m: GossipMessage) {
        let Ok(b) = weft_protocol::decode::<Broadcast>(Kind::OaBroadcast, &m.data) else {
            return;
        };
        if !self.inner.store.follows_oa(&b.account()).unwrap_or(false) {
            return; // we relay it, but only followers keep and show it
        }
        if let Ok(true) = self.inner.store.put_broadcast(&b) {
            let _ = self.inner.events.send(OaEvent::OaPost {
                account_id: b.account().to_string(),
                title: b.body.title.clone(),
            });
            self.fetch_images(&b);
        }
    }

    /// Fetches a post's images in the background from the account's node
    /// and our connected peers (any of them may hold the chunks).
    fn fetch_images(&self, b: &Broadcast) {
        if b.body.images.is_empty() {
            return;
        }
        let me = self.clone();
        let images = b.body.images.clone();
        let host = card_peer(&b.body.profile.body.card);
        tokio::spawn(async move {
            let mut holders: Vec<libp2p::PeerId> = host.into_iter().collect();
            for p in me.inner.net.peers().await.unwrap_or_default() {
                if !holders.contains(&p.peer_id) {
                    holders.push(p.peer_id);
                }
            }
            holders.truncate(8);
            for id in images {
                if let Err(e) = me.inner.blobs.fetch(&id, &holders).await {
                    tracing::warn!(error = %e, "could not fetch a broadcast image");
                }
            }
        });
    }

    fn key(&self, account: &AccountId) -> Result<AccountKey, OaServiceError> {
        self.inner
            .home
            .load_oa_key(account)
            .map_err(|e| OaServiceError::Node(Box::new(e)))
    }

    async fn profile_of(
        &self,
        account: &AccountId,
        owned: &OwnedOa,
    ) -> Result<OaProfile, OaServiceError> {
        let key = self.key(account)?;
        let device = self.inner.identity.cert.body.device_key;
        let now = weft_protocol::unix_now();
        let addrs = self
            .inner
            .chat
            .my_card()
            .await
            .map(|c| c.body.addrs)
            .unwrap_or_default();
        let card = Card::new(
            &key,
            key.certify_device(device, now),
            &owned.name,
            addrs,
            now,
        )
        .map_err(|e| OaServiceError::Oa(e.into()))?;
        Ok(OaProfile::new(
            &key,
            OaProfileBody {
                card,
                kind: owned.kind,
                description: owned.description.clone(),
                verification: owned.verification.clone(),
            },
        )?)
    }

    /// `oa create`: a new account with its own key.
    pub async fn create(
        &self,
        kind: OaKind,
        name: &str,
        description: &str,
    ) -> Result<OaView, OaServiceError> {
        weft_protocol::validate_name(name).map_err(|e| OaServiceError::Oa(e.into()))?;
        let key = AccountKey::generate()
            .map_err(|e| OaServiceError::Oa(weft_protocol::CardError::from(e).into()))?;
        let owned = OwnedOa {
            kind,
            name: name.to_string(),
            description: description.to_string(),
            verification: None,
            replies: Vec::new(),
            menu: Vec::new(),
        };
        let account = key.account_id();
        self.inner
            .home
            .write_oa_key(&key)
            .map_err(|e| OaServiceError::Node(Box::new(e)))?;
        // Check the profile signs before recording it.
        self.profile_of(&account, &owned).await?;
        self.inner.store.put_owned_oa(&account, &owned)?;
        self.inner.store.flush_async().await?;
        // Relay our own topic so followers' meshes include us, and tell the DHT where we are.
        self.inner.net.join_topic(Topic::Oa(account), true).await;
        let me = self.clone();
        tokio::spawn(async move { me.publish_records().await });
        Ok(OaView {
            account_id: account.to_string(),
            name: owned.name,
            kind: kind.as_str(),
            verified: false,
            verified_by: None,
            own: true,
            following: false,
            subscribers: Some(0),
        })
    }

    fn owned(&self, oa: &str) -> Result<(AccountId, OwnedOa), OaServiceError> {
        let account = parse_id(oa)?;
        let owned = self
            .inner
            .store
            .owned_oa(&account)?
            .ok_or_else(|| OaServiceError::NotOwned(oa.to_string()))?;
        Ok((account, owned))
    }

    /// `oa publish`: refuses over quota; stores, then gossips.
    pub async fn publish(
        &self,
        oa: &str,
        title: &str,
        body: &str,
        link: Option<String>,
        parts: Vec<Part>,
        images: Vec<weft_protocol::blob::BlobId>,
    ) -> Result<(String, bool), OaServiceError> {
        let (account, owned) = self.owned(oa)?;
        for id in &images {
            if self.inner.blobs.get(id)?.is_none() {
                return Err(OaServiceError::MissingImage(format!(
                    "image {} is not stored here; add it with `weft blob add` first",
                    weft_protocol::blob::blob_hex(id)
                )));
            }
        }
        let slot_guard = self.inner.publishing.lock().await;
        let now = weft_protocol::unix_now();
        let period = owned.kind.period_of(now);
        let used = self
            .inner
            .store
            .broadcasts(&account, 64)?
            .iter()
            .filter(|b| b.body.period == period)
            .count() as u32;
        if used >= owned.kind.quota() {
            return Err(over_quota(owned.kind).into());
        }
        let profile = self.profile_of(&account, &owned).await?;
        let b = Broadcast::new(
            &self.key(&account)?,
            BroadcastBody {
                profile,
                period,
                seq: used + 1,
                published_at: now,
                title: title.to_string(),
                body: body.to_string(),
                link,
                parts,
                images,
            },
        )?;
        let bytes = weft_protocol::encode(Kind::OaBroadcast, &b)
            .map_err(|e| OaServiceError::BadCertificate(e.to_string()))?;
        self.inner.store.put_broadcast(&b)?;
        self.inner.store.flush_async().await?;
        drop(slot_guard);
        let gossiped = self
            .inner
            .net
            .publish(Topic::Oa(account), bytes)
            .await
            .is_ok();
        Ok((hex(&b.id()), gossiped))
    }

    /// `oa follow`: joins the topic, connects to the account's node, backfills.
    pub async fn follow(&self, oa: &str) -> Result<(), OaServiceError> {
        let account = parse_id(oa)?;
        if !self.inner.store.follows_oa(&account)? {
            self.inner.store.follow_oa(&account, None)?;
            self.inner.store.flush_async().await?;
        }
        self.inner.net.join_topic(Topic::Oa(account), true).await;
        let me = self.clone();
        tokio::spawn(async move {
            me.connect(&account).await;
            me.backfill(account).await;
        });
        Ok(())
    }

    /// Publishes each account we run as a DHT account record (its card,
    /// signed by the account's key), so followers can find its node, and
    /// provides its name words so `oa search` finds it.
    async fn publish_records(&self) {
        for (account, owned) in self.inner.store.owned_oas().unwrap_or_default() {
            for w in crate::net::records::name_words(&owned.name) {
                self.inner
                    .net
                    .provide(crate::net::records::oa_name_key(&w), true)
                    .await;
            }
            let Ok(profile) = self.profile_of(&account, &owned).await else {
                continue;
            };
            let Ok(value) = weft_protocol::encode(Kind::Card, &profile.body.card) else {
                continue;
            };
            let put = self
                .inner
                .net
                .put_record(crate::net::records::account_key(&account), value);
            let _ = tokio::time::timeout(Duration::from_secs(20), put).await;
        }
    }

    /// Connects to the node that runs `account` (its profile's card, or its
    /// DHT record), so its broadcasts reach us directly.
    async fn connect(&self, account: &AccountId) {
        let known = self
            .inner
            .store
            .followed_oas()
            .ok()
            .and_then(|l| l.into_iter().find(|(a, _)| a == account))
            .and_then(|(_, p)| p)
            .map(|p| p.body.card);
        let card = match known {
            Some(c) => Some(c),
            None => crate::chat::lookup_card(&self.inner.net, account).await,
        };
        if let Some(card) = card {
            let _ = crate::chat::dial_card(&self.inner.net, &card).await;
        }
    }

    /// `oa unfollow`: leaves the topic and forgets the posts.
    pub async fn unfollow(&self, oa: &str) -> Result<(), OaServiceError> {
        let account = parse_id(oa)?;
        if !self.inner.store.unfollow_oa(&account)? {
            return Err(OaServiceError::NotFollowed(oa.to_string()));
        }
        self.inner.store.flush_async().await?;
        if self.inner.store.owned_oa(&account)?.is_none() {
            self.inner.net.join_topic(Topic::Oa(account), false).await;
        }
        Ok(())
    }

    /// Asks the OA's device and connected peers for its recent posts.
    pub async fn backfill(&self, account: AccountId) {
        let mut peers: Vec<libp2p::PeerId> = Vec::new();
        if let Some(Some(p)) = self
            .inner
            .store
            .followed_oas()
            .ok()
            .and_then(|l| l.into_iter().find(|(a, _)| *a == account).map(|(_, p)| p))
        {
            if let Some(peer) = card_peer(&p.body.card) {
                peers.push(peer);
            }
        }
        for p in self.inner.net.peers().await.unwrap_or_default() {
            if !peers.contains(&p.peer_id) {
                peers.push(p.peer_id);
            }
        }
        let req = OaRequest::Recent {
            account,
            limit: BACKFILL as u32,
        };
        let Ok(bytes) = postcard::to_stdvec(&req) else {
            return;
        };
        let Ok(env) = weft_protocol::encode(Kind::OaRequest, &PostcardBytes(bytes)) else {
            return;
        };
        let mut got = 0;
        for peer in peers.into_iter().take(8) {
            let r = tokio::time::timeout(
                Duration::from_secs(8),
                self.inner.net.request(AppProtocol::Oa, peer, env.clone()),
            )
            .await;
            let Ok(Ok(reply)) = r else { continue };
            let Some(OaReply::Posts(posts)) = decode_reply(&reply) else {
                continue;
            };
            for p in posts.into_iter().take(BACKFILL) {
                if let Ok(b) = postcard::from_bytes::<Broadcast>(&p) {
                    if b.account() == account && b.verify().is_ok() && self.slot_free(&b) {
                        if let Ok(true) = self.inner.store.put_broadcast(&b) {
                            got += 1;
                            self.fetch_images(&b);
                        }
                    } else {
                        tracing::warn!(%peer, "backfill peer sent an invalid broadcast");
                    }
                }
            }
        }
        if got > 0 {
            let _ = self.inner.store.flush_async().await;
            tracing::info!(%account, got, "backfilled official-account posts");
        }
    }

    /// A stored post may not share a quota slot with a different one.
    fn slot_free(&self, b: &Broadcast) -> bool {
        self.inner
            .store
            .broadcasts(&b.account(), 256)
            .unwrap_or_default()
            .iter()
            .all(|o| (o.body.period, o.body.seq) != (b.body.period, b.body.seq) || o.id() == b.id())
    }

    /// Answers `/weft/oa/1`.
    pub async fn handle_inbound(&self, req: &InboundRequest) -> Option<Vec<u8>> {
        let reply = match decode_request(&req.data) {
            Some(OaRequest::Recent { account, limit }) => {
                let posts = self
                    .inner
                    .store
                    .broadcasts(&account, (limit as usize).min(BACKFILL))
                    .unwrap_or_default();
                OaReply::Posts(
                    posts
                        .iter()
                        .filter_map(|b| postcard::to_stdvec(b).ok())
                        .collect(),
                )
            }
            Some(OaRequest::Ask { account, msg1 }) => self.answer(account, &msg1).await,
            Some(OaRequest::Accounts) => {
                let mut out = Vec::new();
                for (a, owned) in self
                    .inner
                    .store
                    .owned_oas()
                    .unwrap_or_default()
                    .into_iter()
                    .take(32)
                {
                    if let Ok(p) = self.profile_of(&a, &owned).await {
                        out.extend(postcard::to_stdvec(&p).ok());
                    }
                }
                OaReply::Accounts(out)
            }
            None => OaReply::Refused("malformed request".into()),
        };
        let bytes = postcard::to_stdvec(&reply).ok()?;
        weft_protocol::encode(Kind::OaReply, &PostcardBytes(bytes)).ok()
    }

    async fn answer(&self, account: AccountId, msg1: &[u8]) -> OaReply {
        let Ok(Some(owned)) = self.inner.store.owned_oa(&account) else {
            return OaReply::Refused("not an account on this node".into());
        };
        let Ok(key) = self.key(&account) else {
            return OaReply::Refused("key unavailable".into());
        };
        let Ok((responder, payload, sender_static)) = seal::respond(&key, msg1) else {
            return OaReply::Refused("bad handshake".into());
        };
        let Ok(q) = postcard::from_bytes::<Question>(&payload) else {
            return OaReply::Refused("bad question".into());
        };
        if !seal::sender_matches(&q.from, &sender_static) || q.text.len() > MAX_QUESTION {
            return OaReply::Refused("forged sender or question too long".into());
        }
        let now_ms = now_ms();
        let _ = self
            .inner
            .store
            .oa_log(true, &account, now_ms, &q.from.0, &q.text);
        let reply = auto_reply(&owned, &q.text);
        let _ = self
            .inner
            .store
            .oa_log(true, &account, now_ms + 1, &account.0, &reply);
        match responder.reply(reply.as_bytes()) {
            Ok(m2) => OaReply::Answer(m2),
            Err(_) => OaReply::Refused("cannot answer".into()),
        }
    }

    /// `oa message`: asks the account; returns its (automatic) answer.
    pub async fn message(&self, oa: &str, text: &str) -> Result<String, OaServiceError> {
        let account = parse_id(oa)?;
        if text.len() > MAX_QUESTION {
            return Err(OaServiceError::TooLong);
        }
        let profile = self
            .inner
            .store
            .followed_oas()?
            .into_iter()
            .find(|(a, _)| *a == account)
            .ok_or_else(|| OaServiceError::NotFollowed(oa.to_string()))?
            .1
            .ok_or_else(|| {
                OaServiceError::Unreachable("no post from it yet, so its device is unknown".into())
            })?;
        let peer = card_peer(&profile.body.card)
            .ok_or_else(|| OaServiceError::Unreachable("bad card".into()))?;
        // Best effort: the request below dials through the DHT's addresses too.
        let _ = crate::chat::dial_card(&self.inner.net, &profile.body.card).await;
        let me = &self.inner.identity.account;
        let q = postcard::to_stdvec(&Question {
            from: me.account_id(),
            text: text.to_string(),
        })
        .map_err(|e| OaServiceError::Unreachable(e.to_string()))?;
        let (session, msg1) = seal::initiate(me, &account, &q)
            .map_err(|e| OaServiceError::Unreachable(e.to_string()))?;
        let req = postcard::to_stdvec(&OaRequest::Ask { account, msg1 })
            .map_err(|e| OaServiceError::Unreachable(e.to_string()))?;
        let env = weft_protocol::encode(Kind::OaRequest, &PostcardBytes(req))
            .map_err(|e| OaServiceError::Unreachable(e.to_string()))?;
        let reply = tokio::time::timeout(
            Duration::from_secs(15),
            self.inner.net.request(AppProtocol::Oa, peer, env),
        )
        .await
        .map_err(|_| OaServiceError::Unreachable("timed out".into()))?
        .map_err(|e| OaServiceError::Unreachable(e.to_string()))?;
        let answer = match decode_reply(&reply) {
            Some(OaReply::Answer(m2)) => session
                .finish(&m2)
                .map_err(|e| OaServiceError::Unreachable(e.to_string()))?,
            Some(OaReply::Refused(r)) => return Err(OaServiceError::Unreachable(r)),
            _ => return Err(OaServiceError::Unreachable("malformed answer".into())),
        };
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let t = now_ms();
        self.inner.store.oa_log(false, &account, t, &[1], text)?;
        self.inner
            .store
            .oa_log(false, &account, t + 1, &[0], &answer)?;
        self.inner.store.flush_async().await?;
        Ok(answer)
    }

    /// `oa autoreply` / `oa menu`: configure automatic answers.
    pub async fn set_replies(
        &self,
        oa: &str,
        keyword: Option<(String, String)>,
        menu: Option<Vec<String>>,
    ) -> Result<(), OaServiceError> {
        let (account, mut owned) = self.owned(oa)?;
        if let Some((k, r)) = keyword {
            if k.is_empty() || k.len() > 64 || r.len() > 1024 || owned.replies.len() >= 64 {
                return Err(OaServiceError::TooLong);
            }
            owned.replies.retain(|(kk, _)| !kk.eq_ignore_ascii_case(&k));
            owned.replies.push((k, r));
        }
        if let Some(m) = menu {
            if m.len() > 16 || m.iter().any(|i| i.len() > 64) {
                return Err(OaServiceError::TooLong);
            }
            owned.menu = m;
        }
        self.inner.store.put_owned_oa(&account, &owned)?;
        self.inner.store.flush_async().await?;
        Ok(())
    }

    /// `oa verify` (verifier side): a certificate for `oa`, hex-encoded.
    pub fn issue_verification(
        &self,
        oa: &str,
        verifier_name: &str,
    ) -> Result<String, OaServiceError> {
        let account = parse_id(oa)?;
        let cert = Verification::issue(
            &self.inner.identity.account,
            verifier_name,
            account,
            weft_protocol::unix_now(),
        );
        Ok(hex(&postcard::to_stdvec(&cert).unwrap_or_default()))
    }

    /// `oa certify` (owner side): attaches a verifier's certificate.
    pub async fn attach_verification(
        &self,
        oa: &str,
        cert_hex: &str,
    ) -> Result<(), OaServiceError> {
        let (account, mut owned) = self.owned(oa)?;
        let bytes =
            unhex(cert_hex).ok_or_else(|| OaServiceError::BadCertificate("not hex".into()))?;
        let cert: Verification = postcard::from_bytes(&bytes)
            .map_err(|e| OaServiceError::BadCertificate(e.to_string()))?;
        cert.verify_for(&account)
            .map_err(|e| OaServiceError::BadCertificate(e.to_string()))?;
        owned.verification = Some(cert);
        self.inner.store.put_owned_oa(&account, &owned)?;
        self.inner.store.flush_async().await?;
        Ok(())
    }

    /// `oa search`: accounts whose name has every word of `query`, found
    /// through the DHT (nodes provide their accounts' name words) and checked
    /// against the signed profiles their nodes return.
    pub async fn search(&self, query: &str) -> Result<Vec<OaView>, OaServiceError> {
        let words = crate::net::records::name_words(query);
        let Some(first) = words.first() else {
            return Err(OaServiceError::Oa(weft_protocol::oa::OaError::Bounds(
                "search needs a word of 2+ letters",
            )));
        };
        let key = crate::net::records::oa_name_key(first);
        let providers =
            tokio::time::timeout(Duration::from_secs(10), self.inner.net.providers(key))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
        let mut peers: Vec<libp2p::PeerId> =
            providers.into_iter().map(|(p, _)| p).take(20).collect();
        // Our own accounts count too.
        peers.push(self.inner.net.peer_id());
        let mut out: Vec<OaView> = Vec::new();
        let req = postcard::to_stdvec(&OaRequest::Accounts).unwrap_or_default();
        let Ok(env) = weft_protocol::encode(Kind::OaRequest, &PostcardBytes(req)) else {
            return Ok(out);
        };
        for peer in peers {
            let profiles = if peer == self.inner.net.peer_id() {
                let mut v = Vec::new();
                for (a, owned) in self.inner.store.owned_oas()? {
                    v.extend(self.profile_of(&a, &owned).await.ok());
                }
                v
            } else {
                let r = tokio::time::timeout(
                    Duration::from_secs(8),
                    self.inner.net.request(AppProtocol::Oa, peer, env.clone()),
                )
                .await;
                match r
                    .ok()
                    .and_then(Result::ok)
                    .as_deref()
                    .and_then(decode_reply)
                {
                    Some(OaReply::Accounts(list)) => list
                        .iter()
                        .filter_map(|b| postcard::from_bytes::<OaProfile>(b).ok())
                        .filter(|p| p.verify().is_ok())
                        .collect(),
                    _ => Vec::new(),
                }
            };
            for p in profiles {
                let name = p.body.card.body.name.clone();
                let have = crate::net::records::name_words(&name);
                if !words.iter().all(|w| have.contains(w))
                    || out.iter().any(|v| v.account_id == p.account().to_string())
                {
                    continue;
                }
                let verified = p.verified_by(&self.inner.trust_roots);
                out.push(OaView {
                    account_id: p.account().to_string(),
                    name,
                    kind: p.body.kind.as_str(),
                    verified: verified.is_some(),
                    verified_by: verified.map(|v| v.1),
                    own: self.inner.store.owned_oa(&p.account())?.is_some(),
                    following: self.inner.store.follows_oa(&p.account())?,
                    subscribers: None,
                });
            }
        }
        Ok(out)
    }

    /// `oa list`: accounts we run and follow.
    pub async fn list(&self) -> Result<Vec<OaView>, OaServiceError> {
        let mut out = Vec::new();
        let followed = self.inner.store.followed_oas()?;
        for (a, o) in self.inner.store.owned_oas()? {
            out.push(OaView {
                account_id: a.to_string(),
                name: o.name,
                kind: o.kind.as_str(),
                verified: o.verification.is_some(),
                verified_by: o.verification.map(|v| v.verifier_name),
                own: true,
                following: followed.iter().any(|(f, _)| *f == a),
                subscribers: self.inner.net.topic_peers(Topic::Oa(a)).await.ok(),
            });
        }
        for (a, p) in followed {
            if out.iter().any(|v| v.account_id == a.to_string()) {
                continue;
            }
            let verified = p
                .as_ref()
                .and_then(|p| p.verified_by(&self.inner.trust_roots));
            out.push(OaView {
                account_id: a.to_string(),
                name: p
                    .as_ref()
                    .map(|p| p.body.card.body.name.clone())
                    .unwrap_or_else(|| a.short()),
                kind: p
                    .as_ref()
                    .map(|p| p.body.kind.as_str())
                    .unwrap_or("unknown"),
                verified: verified.is_some(),
                verified_by: verified.map(|v| v.1),
                own: false,
                following: true,
                subscribers: None,
            });
        }
        Ok(out)
    }

    /// `oa feed`: posts of followed accounts of `kind` (all kinds if None), newest first.
    pub fn feed(&self, kind: Option<OaKind>) -> Result<Vec<PostView>, OaServiceError> {
        let mut out = Vec::new();
        for (a, _) in self.inner.store.followed_oas()? {
            for b in self.inner.store.broadcasts(&a, 100)? {
                let k = b.body.profile.body.kind;
                if kind.is_some_and(|want| want != k) {
                    continue;
                }
                out.push(PostView {
                    id: hex(&b.id()),
                    account_id: a.to_string(),
                    name: b.body.profile.body.card.body.name.clone(),
                    kind: k.as_str(),
                    title: b.body.title,
                    body: b.body.body,
                    link: b.body.link,
                    parts: b.body.parts,
                    published_at: b.body.published_at,
                    images: b
                        .body
                        .images
                        .iter()
                        .map(|i| ImageView {
                            id: weft_protocol::blob::blob_hex(i),
                            local: self.inner.blobs.get(i).ok().flatten().is_some(),
                        })
                        .collect(),
                });
            }
        }
        out.sort_by_key(|p| std::cmp::Reverse(p.published_at));
        Ok(out)
    }

    /// Service accounts' posts as conversations for `chat list`: (account, name, last title, at).
    pub fn service_conversations(&self) -> Vec<(String, String, String, u64)> {
        self.feed(Some(OaKind::Service))
            .unwrap_or_default()
            .into_iter()
            .fold(
                Vec::new(),
                |mut acc: Vec<(String, String, String, u64)>, p| {
                    if !acc.iter().any(|c| c.0 == p.account_id) {
                        acc.push((p.account_id, p.name, p.title, p.published_at * 1000));
                    }
                    acc
                },
            )
    }

    /// The question/answer log with an OA (follower side) or its inbox (owner side).
    pub fn conversation(&self, oa: &str) -> Result<Vec<serde_json::Value>, OaServiceError> {
        let account = parse_id(oa)?;
        let owner = self.inner.store.owned_oa(&account)?.is_some();
        Ok(self
            .inner
            .store
            .oa_read_log(owner, &account, 200)?
            .into_iter()
            .map(|(at, who, text)| {
                let from = if owner {
                    <[u8; 32]>::try_from(who.as_slice())
                        .map(|a| AccountId(a).to_string())
                        .unwrap_or_default()
                } else if who == [1] {
                    "me".to_string()
                } else {
                    account.to_string()
                };
                serde_json::json!({ "at": at, "from": from, "text": text })
            })
            .collect())
    }
}

/// The automatic answer: first matching keyword, or the menu for "menu", or a default.
fn auto_reply(owned: &OwnedOa, text: &str) -> String {
    let lower = text.to_lowercase();
    if let Some((_, r)) = owned
        .replies
        .iter()
        .find(|(k, _)| lower.contains(&k.to_lowercase()))
    {
        return r.clone();
    }
    if lower.trim() == "menu" && !owned.menu.is_empty() {
        return owned
            .menu
            .iter()
            .enumerate()
            .map(|(i, m)| format!("{}. {m}", i + 1))
            .collect::<Vec<_>>()
            .join("\n");
    }
    format!(
        "Thanks for your message to {}. We will get back to you.",
        owned.name
    )
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Pre-encoded postcard bytes carried as an envelope body.
#[derive(Serialize, Deserialize)]
struct PostcardBytes(Vec<u8>);

fn decode_request(data: &[u8]) -> Option<OaRequest> {
    let PostcardBytes(b) = weft_protocol::decode(Kind::OaRequest, data).ok()?;
    postcard::from_bytes(&b).ok()
}

fn decode_reply(data: &[u8]) -> Option<OaReply> {
    let PostcardBytes(b) = weft_protocol::decode(Kind::OaReply, data).ok()?;
    postcard::from_bytes(&b).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_replies_match_keywords_then_menu_then_default() {
        let o = OwnedOa {
            kind: OaKind::Service,
            name: "Bank".into(),
            description: String::new(),
            verification: None,
            replies: vec![("balance".into(), "Your balance is in the app.".into())],
            menu: vec!["Balance".into(), "Cards".into()],
        };
        assert_eq!(
            auto_reply(&o, "What's my BALANCE?"),
            "Your balance is in the app."
        );
        assert_eq!(auto_reply(&o, "menu"), "1. Balance\n2. Cards");
        assert!(auto_reply(&o, "hello").contains("Bank"));
    }
}
