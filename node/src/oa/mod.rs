//! Official accounts: creating and running them, following them, their
//! broadcasts on gossipsub, backfill, verification, and follower questions
//! answered by keyword auto-replies.
//!
//! - **Gossip validation** (`weft_protocol::oa::relay`, dispatched by
//!   `net/gossip.rs`) runs in the swarm task for every message on a `weft/oa/<account>` topic, at
//!   followers and relays alike: envelope, signature, topic = signer, size,
//!   kind quota and period, freshness (±36 h), and slot reuse (two different
//!   broadcasts in one quota slot: the second is rejected). Rejected
//!   messages are not forwarded and lower the sender's gossipsub score.
//! - `service.rs`: the background task: keeps the accepted gossip of
//!   followed accounts, fetches post images, re-joins topics and catches up
//!   when an account's node comes (back) online.
//! - `account.rs`: the accounts this node runs (create, keys, signed profile);
//!   `publish.rs`: posting, refusing over-quota posts before signing.
//! - `follow.rs`: following, and **backfill** (`/weft/oa/1` `Recent`): a new
//!   or returning follower asks the OA's device and its connected peers for
//!   the last posts; each is checked like gossip (except freshness) before
//!   it is stored. Also the DHT records that let followers find an account.
//! - `ask.rs`: **questions** (`/weft/oa/1` `Ask`): one Noise IK round trip
//!   from the follower's account key to the OA's key, answered by the OA's
//!   node with the first keyword reply that matches (or the menu), so it
//!   works with nobody at the keyboard. Both sides log the exchange.
//! - `inbound.rs`: the OA node's side of `/weft/oa/1`; `verify.rs`,
//!   `search.rs`, `feed.rs`: certificates, name search, and what the user reads.
//!
//! The wire types (`OaRequest`, `OaReply`, `Question`) are in
//! `weft_protocol::oa`; the sled trees in `store/oa.rs`.

mod account;
mod ask;
mod feed;
mod follow;
mod inbound;
mod publish;
mod search;
mod service;
mod verify;

use std::sync::Arc;

use libp2p::PeerId;
use serde::{Deserialize, Serialize};
use weft_protocol::{
    blob::BlobId,
    oa::{OaError, OaProfile, Part},
    AccountId, EncodeError, SealError,
};

use crate::blobs::Blobs;
use crate::context::Context;
use crate::events::EventFeed;
use crate::home::Home;
use crate::net::NetError;
use crate::store::StoreError;

/// Posts a backfill asks for, and the most a node hands out per request.
const BACKFILL: usize = 20;
/// Most peers asked for an account's posts or a post's images.
const MAX_HOLDERS: usize = 8;

/// Official-account failures, each worded for the user.
#[derive(Debug, thiserror::Error)]
pub enum OaServiceError {
    /// Needs the account key, and this is a linked device.
    #[error(transparent)]
    NotPrimary(#[from] crate::home::NotPrimary),
    /// Protocol-level refusal (quota, bounds, signature).
    #[error(transparent)]
    Oa(#[from] OaError),
    /// Not an account this node runs (the text the user gave).
    #[error("{0} is not an official account on this node (see `weft oa list`)")]
    NotOwned(String),
    /// Not an account id (the text the user gave, at most 80 characters).
    #[error("`{0}` is not an account id")]
    BadId(String),
    /// Not followed (the text the user gave).
    #[error("you don't follow {0}; `weft oa follow {0}` first")]
    NotFollowed(String),
    /// Could not reach the account's node, or it would not answer.
    #[error("the account's node is not reachable right now: {0}")]
    Unreachable(#[from] Unreachable),
    /// A pasted certificate that is not one, or not for this account.
    #[error("invalid verification certificate: {0}")]
    BadCertificate(#[from] CertificateError),
    /// A question, keyword, reply or menu over its limit.
    #[error("message over {} bytes", weft_protocol::oa::MAX_QUESTION)]
    TooLong,
    /// A post names an image that is not stored locally.
    #[error(
        "image {} is not stored here; add it with `weft blob add` first",
        weft_protocol::blob::blob_hex(.0)
    )]
    MissingImage(BlobId),
    /// A message could not be encoded (over its wire limit; a bug otherwise).
    #[error("cannot encode an official-account message: {0}")]
    Encode(#[from] EncodeError),
    /// A certificate could not be encoded (a bug: postcard handles the type).
    #[error("cannot encode the certificate: {0}")]
    EncodeCertificate(postcard::Error),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Key files.
    #[error(transparent)]
    Node(#[from] Box<crate::error::NodeError>),
}

/// Why a question did not get an answer from the account's node.
#[derive(Debug, thiserror::Error)]
pub enum Unreachable {
    /// No post has told us the account's profile, so not its device either.
    #[error("no post from it yet, so its device is unknown")]
    DeviceUnknown,
    /// The follower's account record is not in the DHT (its node has been
    /// offline too long), so its device is unknown.
    #[error("the follower's device is unknown (no account record in the DHT)")]
    FollowerUnknown,
    /// The profile's card names no valid device key.
    #[error("bad card")]
    BadCard,
    /// No answer within the time limit.
    #[error("timed out")]
    TimedOut,
    /// The request did not get through.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The Noise handshake failed on our side or its answer did not open.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The node refused, saying why.
    #[error("{0}")]
    Refused(String),
    /// The answer was not a `/weft/oa/1` answer.
    #[error("malformed answer")]
    MalformedAnswer,
}

/// Why a pasted verification certificate was refused.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// Not hex text (or absurdly long).
    #[error("not hex")]
    NotHex,
    /// Hex, but not a certificate.
    #[error(transparent)]
    Malformed(postcard::Error),
    /// A certificate, but for another account or badly signed.
    #[error(transparent)]
    Invalid(OaError),
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

/// `oa list` / `oa search` entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OaView {
    /// Account id.
    pub account_id: String,
    /// Name.
    pub name: String,
    /// `subscription`, `service`, or `unknown` (followed, no post seen yet).
    pub kind: String,
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
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PostView {
    /// Broadcast id (hex).
    pub id: String,
    /// OA account.
    pub account_id: String,
    /// OA name.
    pub name: String,
    /// `subscription` or `service`.
    pub kind: String,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Link.
    pub link: Option<String>,
    /// Other languages.
    pub parts: Vec<Part>,
    /// Unix seconds (the API sends milliseconds).
    pub published_at: u64,
    /// Images: blob id (hex) and whether it is fully here yet.
    pub images: Vec<ImageView>,
}

/// An image of a post.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImageView {
    /// Blob id (hex); `weft blob get ID --out FILE` exports it.
    pub id: String,
    /// Whether every chunk is stored here.
    pub local: bool,
}

/// `oa publish` result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Published {
    /// Whether gossipsub took the post (false: stored, but no subscriber
    /// was reachable; followers catch up by backfill).
    pub gossiped: bool,
    /// Broadcast id (hex).
    pub id: String,
}

/// One line of the question/answer log with an account.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LogEntry {
    /// Unix milliseconds.
    pub at: u64,
    /// `me`, the account id of the OA (follower side), or the asking
    /// follower's account id (owner side).
    pub from: String,
    /// The question or answer.
    pub text: String,
}

/// A service account shown among the chats (as WeChat does): its newest post.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServiceConversation {
    /// Account id.
    pub account_id: String,
    /// Name.
    pub name: String,
    /// Title of its newest post.
    pub last_text: String,
    /// When that post was published, Unix milliseconds.
    pub last_at: u64,
}

struct Inner {
    ctx: Context,
    home: Home,
    trust_roots: Vec<AccountId>,
    events: EventFeed<OaEvent>,
    blobs: Blobs,
    /// Held from counting this period's posts to storing the new one, so
    /// two posts published at once never take the same slot (followers
    /// would refuse the second as a slot reused).
    publishing: tokio::sync::Mutex<()>,
    /// Per-peer budgets for backfill and search answers (`inbound.rs`).
    served: inbound::ServeBudgets,
}

/// The official-accounts service handle. Cheap to clone.
#[derive(Clone)]
pub struct Oa {
    inner: Arc<Inner>,
}

/// Parses a user-given account id.
fn parse_id(s: &str) -> Result<AccountId, OaServiceError> {
    s.trim()
        .parse()
        .map_err(|_| OaServiceError::BadId(s.chars().take(80).collect()))
}

impl Oa {
    /// Our follow record of `account`: `None` if we don't follow it,
    /// `Some(None)` if no post has told us its profile yet.
    fn followed(&self, account: &AccountId) -> Result<Option<Option<OaProfile>>, StoreError> {
        Ok(self
            .inner
            .ctx
            .store
            .followed_oas()?
            .into_iter()
            .find(|(a, _)| a == account)
            .map(|(_, p)| p))
    }

    /// Peers to ask for an account's posts or a post's images: `first` (the
    /// account's own device, if known), then our connected peers, since any
    /// of them may hold a copy.
    async fn peers_to_ask(&self, first: Option<PeerId>) -> Vec<PeerId> {
        let mut out: Vec<PeerId> = first.into_iter().collect();
        for p in self.inner.ctx.net.peers().await.unwrap_or_default() {
            if !out.contains(&p.peer_id) {
                out.push(p.peer_id);
            }
        }
        out.truncate(MAX_HOLDERS);
        out
    }
}
