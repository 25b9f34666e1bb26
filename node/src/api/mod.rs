//! The local control API: HTTP + JSON on 127.0.0.1, every request carrying
//! `Authorization: Bearer <token>` (the token is in `api.json` in the home,
//! mode 0600). Errors are a proper HTTP status with `{"error": "..."}`.
//!
//! | method | path | body | answer |
//! | --- | --- | --- | --- |
//! | GET | /v1/status | | [`StatusView`] |
//! | GET | /v1/id | | [`IdView`] |
//! | GET | /v1/peers | | [`PeerView`] list |
//! | POST | /v1/dial | `{"addr"}` | `{"peer_id"}` |
//! | GET | /v1/events | | Server-Sent Events, one JSON event each |
//! | POST | /v1/contacts/add | `{"target", "greeting"}` | contact |
//! | GET | /v1/contacts | | `[contact]` |
//! | GET | /v1/contacts/requests | | `[request]` |
//! | POST | /v1/contacts/{accept,reject,block,delete} | `{"contact"}` | contact or `{}` |
//! | POST | /v1/contacts/remark | `{"contact", "remark"}` | contact |
//! | POST | /v1/chat/send | `{"to", "text", "reply_to"}` | `{"id"}` |
//! | GET | /v1/chat/log?with=X&limit=N | | `[message]` oldest first |
//! | GET | /v1/chat/list | | `[conversation]` |
//! | POST | /v1/chat/recall | `{"id"}` | `{}` |
//! | GET | /v1/nearby | | `[person]` nearest first |
//! | POST | /v1/nearby | `{"on", "lat", "lon", "geohash", "whats_up", "region", "avatar_hex", "minutes"}` | settings |
//! | POST | /v1/handle | `{"handle"}` | `{"handle", "published"}` |
//! | GET | /v1/find?handle=H | | `{"handle", "account_id", "fingerprint", "name", "peer_id", "other_claims"}` |
//! | GET | /v1/oa | | `[official account]` (run or followed) |
//! | GET | /v1/oa/feed?all=BOOL | | `[post]` newest first (subscription accounts unless `all`) |
//! | GET | /v1/oa/conversation?oa=ID | | questions and answers with an OA |
//! | POST | /v1/oa/{create,follow,unfollow,publish,message,autoreply,menu,verify,certify} | see README | |
//! | POST | /v1/moments/images | image bytes | `{"id"}` (encrypted, staged for a post) |
//! | POST | /v1/moments/post | `{"text", "images", "link", "link_title", "to", "list"}` | `{"id"}` |
//! | GET | /v1/moments/feed?limit=N | | `[post]` newest first |
//! | GET | /v1/moments/posts/{id} | | post |
//! | POST | /v1/moments/{like,unlike,comment,delete} | `{"post", "text", "reply_to"}` | `{"id"}` or `{}` |
//! | GET | /v1/moments/posts/{id}/images/{n}?from=PEER,PEER | | image bytes |
//! | GET, POST | /v1/moments/settings | `{"visible_days"}` | `{"visible_days"}` |
//! | GET, POST | /v1/moments/tags | `{"name", "members"}` | `[{"name", "members"}]` or `{}` |

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::{
    extract::{
        rejection::{JsonRejection, QueryRejection},
        DefaultBodyLimit, Path, Query, Request, State,
    },
    http::{header, StatusCode},
    middleware::{self, Next},
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
    routing::{get, post},
    Json, Router,
};
use futures::Stream;
use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use weft_protocol::{profile::normalize_handle, AccountId, WeftLink};

use crate::chat::{ChatError, ContactView, ConversationView, MessageView, RequestView};
use crate::error::NodeError;
use crate::net::NetError;
use crate::node::{handle_for, NodeHandle};

/// Largest request body accepted.
const MAX_BODY: usize = 128 * 1024;
/// How long a dial may take before the API answers 504.
const DIAL_TIMEOUT: Duration = Duration::from_secs(15);

/// `GET /v1/status`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StatusView {
    /// Device (libp2p) id.
    pub peer_id: String,
    /// Account id (base58 ed25519 public key).
    pub account_id: String,
    /// Display name.
    pub name: String,
    /// Addresses the node listens on.
    pub listen_addrs: Vec<String>,
    /// Peer ids of connected peers.
    pub connected_peers: Vec<String>,
    /// Store size on disk, bytes.
    pub store_bytes: u64,
    /// Peers in the address book (redialled after a restart).
    pub known_peers: usize,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// Weft version.
    pub version: String,
}

/// `GET /v1/id`: the user's card.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IdView {
    /// Account id.
    pub account_id: String,
    /// Device id.
    pub peer_id: String,
    /// Display name.
    pub name: String,
    /// WeChat-style handle.
    pub handle: String,
    /// Dialable addresses.
    pub addrs: Vec<String>,
    /// `weft://` link (the QR payload).
    pub link: String,
}

/// `POST /v1/dial` body.
#[derive(Debug, Deserialize)]
pub struct DialRequest {
    /// Multiaddr to connect to.
    pub addr: String,
}

/// `POST /v1/dial` answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct DialReply {
    /// The connected peer.
    pub peer_id: String,
}

/// An API error: status + one-line reason.
mod moments;
mod net_view;

pub use net_view::{NetEventView, PeerView};

/// An error answer: HTTP status and a one-line reason.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<NetError> for ApiError {
    fn from(e: NetError) -> Self {
        let status = match e {
            NetError::Dial { .. } => StatusCode::BAD_GATEWAY,
            NetError::Stopped | NetError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> Self {
        let status = match e {
            ChatError::NotAFriend(_) => StatusCode::FORBIDDEN,
            ChatError::UnknownContact(_) | ChatError::NoRequest(_) | ChatError::NoMessage(_) => {
                StatusCode::NOT_FOUND
            }
            ChatError::Invalid(_)
            | ChatError::GreetingTooLong(_)
            | ChatError::SelfContact
            | ChatError::Recall(_) => StatusCode::BAD_REQUEST,
            ChatError::Seal(_) | ChatError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        ApiError(StatusCode::BAD_REQUEST, e.body_text())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("bad request body: {}", e.body_text()),
        )
    }
}

type Shared = Arc<NodeHandle>;

/// A fresh random API token (hex).
pub fn new_token() -> Result<String, NodeError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| NodeError::Internal(format!("no randomness: {e}")))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Serves the API on `listener` until the node shuts down.
pub fn serve(listener: tokio::net::TcpListener, node: Shared, token: String) -> JoinHandle<()> {
    let mut shutdown = node.shutdown.clone();
    let app = router(node, token);
    tokio::spawn(async move {
        let stop = async move {
            let _ = shutdown.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %e, "control API stopped");
        }
    })
}

/// The API routes, behind the token check.
pub fn router(node: Shared, token: String) -> Router {
    let token = Arc::new(token);
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/id", get(id))
        .route("/v1/peers", get(peers))
        .route("/v1/dial", post(dial))
        .route("/v1/events", get(events))
        .route("/v1/contacts", get(contacts_list))
        .route("/v1/contacts/requests", get(contacts_requests))
        .route("/v1/contacts/add", post(contacts_add))
        .route("/v1/contacts/{action}", post(contacts_action))
        .route("/v1/chat/send", post(chat_send))
        .route("/v1/chat/log", get(chat_log))
        .route("/v1/chat/list", get(chat_list))
        .route("/v1/chat/recall", post(chat_recall))
        .route("/v1/nearby", get(nearby_list).post(nearby_set))
        .route("/v1/handle", post(handle_claim))
        .route("/v1/find", get(find))
        .route("/v1/oa", get(oa_list))
        .route("/v1/oa/feed", get(oa_feed))
        .route("/v1/oa/search", get(oa_search))
        .route("/v1/oa/conversation", get(oa_conversation))
        .route("/v1/oa/{action}", post(oa_action))
        .route(
            "/v1/blobs",
            post(blob_add).layer(DefaultBodyLimit::max(weft_protocol::blob::MAX_BLOB + 1024)),
        )
        .route("/v1/blobs/{id}", get(blob_get))
        .merge(moments::routes())
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such API endpoint".into()) })
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let token = token.clone();
            async move { check_token(&token, req, next).await }
        }))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(node)
}

async fn check_token(token: &str, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(g) if constant_time_eq(g.as_bytes(), token.as_bytes()) => next.run(req).await,
        Some(_) => ApiError(StatusCode::UNAUTHORIZED, "wrong API token".into()).into_response(),
        None => ApiError(
            StatusCode::UNAUTHORIZED,
            "missing `Authorization: Bearer <token>` (the token is in api.json in the node's home)"
                .into(),
        )
        .into_response(),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn status(State(node): State<Shared>) -> Result<Json<StatusView>, ApiError> {
    let listen = node.net.listen_addrs().await?;
    let peers = node.net.peers().await?;
    Ok(Json(StatusView {
        peer_id: node.net.peer_id().to_string(),
        account_id: node.identity.account.account_id().to_string(),
        name: node.name.clone(),
        listen_addrs: listen.iter().map(|a| a.to_string()).collect(),
        connected_peers: peers.iter().map(|p| p.peer_id.to_string()).collect(),
        store_bytes: node.store.size_on_disk(),
        known_peers: node.store.known_peer_count(),
        uptime_secs: node.started.elapsed().as_secs(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    }))
}

async fn id(State(node): State<Shared>) -> Result<Json<IdView>, ApiError> {
    let addrs = crate::net::dialable(&node.net.listen_addrs().await?);
    let account = node.identity.account.account_id();
    let link = WeftLink {
        account,
        peer: Some(node.net.peer_id().to_string()),
        addrs: addrs.clone(),
        name: Some(node.name.clone()),
    };
    Ok(Json(IdView {
        account_id: account.to_string(),
        peer_id: node.net.peer_id().to_string(),
        name: node.name.clone(),
        handle: node
            .nearby
            .handle()
            .unwrap_or_else(|| handle_for(&node.identity)),
        addrs,
        link: link.to_string(),
    }))
}

async fn peers(State(node): State<Shared>) -> Result<Json<Vec<PeerView>>, ApiError> {
    let mut list: Vec<PeerView> = node.net.peers().await?.iter().map(PeerView::from).collect();
    // Sorted as text, as the list always was.
    list.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
    Ok(Json(list))
}

async fn dial(
    State(node): State<Shared>,
    body: Result<Json<DialRequest>, JsonRejection>,
) -> Result<Json<DialReply>, ApiError> {
    let Json(req) = body?;
    let addr: Multiaddr = req.addr.parse().map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!(
                "`{}` is not a multiaddr: {e}",
                req.addr.chars().take(200).collect::<String>()
            ),
        )
    })?;
    let peer = tokio::time::timeout(DIAL_TIMEOUT, node.net.dial(addr.clone()))
        .await
        .map_err(|_| {
            ApiError(
                StatusCode::GATEWAY_TIMEOUT,
                format!("no answer from {addr} within {}s", DIAL_TIMEOUT.as_secs()),
            )
        })??;
    Ok(Json(DialReply {
        peer_id: peer.to_string(),
    }))
}

async fn events(State(node): State<Shared>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = node.net.subscribe();
    let chat_rx = node.chat.subscribe();
    let oa_rx = node.oa.subscribe();
    let moments_rx = node.moments.subscribe();
    let shutdown = node.shutdown.clone();
    let state = (rx, chat_rx, oa_rx, moments_rx, shutdown);
    let stream = futures::stream::unfold(
        state,
        |(mut rx, mut chat_rx, mut oa_rx, mut moments_rx, mut shutdown)| async move {
            let ev = tokio::select! {
                _ = shutdown.wait_for(|s| *s) => return None,
                ev = rx.recv() => ev.map(|e| serde_json::to_string(&NetEventView::from(&e)).unwrap_or_default()),
                ev = chat_rx.recv() => ev.map(|e| serde_json::to_string(&e).unwrap_or_default()),
                ev = oa_rx.recv() => ev.map(|e| serde_json::to_string(&e).unwrap_or_default()),
                ev = moments_rx.recv() => ev.map(|e| serde_json::to_string(&e).unwrap_or_default()),
            };
            let data = match ev {
                Ok(json) => json,
                // A slow reader skips ahead; tell it how much it missed.
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    serde_json::json!({"type": "lagged", "missed": n}).to_string()
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((
                Ok(Event::default().data(data)),
                (rx, chat_rx, oa_rx, moments_rx, shutdown),
            ))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `POST /v1/contacts/add` body.
#[derive(Debug, Deserialize)]
pub struct AddContact {
    /// Account id or `weft://` link.
    pub target: String,
    /// Greeting shown with the request.
    #[serde(default)]
    pub greeting: String,
}

/// Body naming a contact (and, for remark, the new name).
#[derive(Debug, Deserialize)]
pub struct ContactBody {
    /// Account id, link, remark or name.
    pub contact: String,
    /// New remark (`remark` only).
    pub remark: Option<String>,
}

/// `POST /v1/chat/send` body.
#[derive(Debug, Deserialize)]
pub struct SendBody {
    /// Contact.
    pub to: String,
    /// Text.
    pub text: String,
    /// Message id to quote.
    pub reply_to: Option<String>,
}

/// `GET /v1/chat/log` query.
#[derive(Debug, Deserialize)]
pub struct LogQuery {
    /// Contact.
    pub with: String,
    /// Last N messages (default 100).
    pub limit: Option<usize>,
}

/// `POST /v1/chat/recall` body.
#[derive(Debug, Deserialize)]
pub struct RecallBody {
    /// Message id.
    pub id: String,
}

async fn contacts_list(State(node): State<Shared>) -> Result<Json<Vec<ContactView>>, ApiError> {
    Ok(Json(node.chat.contacts()?))
}

async fn contacts_requests(State(node): State<Shared>) -> Result<Json<Vec<RequestView>>, ApiError> {
    Ok(Json(node.chat.requests()?))
}

async fn contacts_add(
    State(node): State<Shared>,
    body: Result<Json<AddContact>, JsonRejection>,
) -> Result<Json<ContactView>, ApiError> {
    let Json(b) = body?;
    let target = b.target.trim();
    // A handle is resolved through the DHT; an account found nearby brings its card.
    let (target, hint) = if target.parse::<AccountId>().is_err()
        && target.parse::<WeftLink>().is_err()
        && normalize_handle(target).is_ok()
    {
        let found = crate::nearby::find_handle(&node.net, target)
            .await
            .map_err(|e| ApiError(StatusCode::NOT_FOUND, e.to_string()))?;
        (found.account_id.clone(), Some(found.card))
    } else {
        let hint = target
            .parse::<AccountId>()
            .ok()
            .and_then(|a| node.nearby.card_of(&a));
        (target.to_string(), hint)
    };
    Ok(Json(
        node.chat.add_contact(&target, &b.greeting, hint).await?,
    ))
}

async fn contacts_action(
    State(node): State<Shared>,
    Path(action): Path<String>,
    body: Result<Json<ContactBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(b) = body?;
    let chat = &node.chat;
    let to_json = |v: ContactView| serde_json::to_value(v).unwrap_or_default();
    let out = match action.as_str() {
        "accept" => to_json(chat.accept(&b.contact).await?),
        "block" => to_json(chat.block(&b.contact).await?),
        "remark" => {
            let r = b.remark.as_deref().ok_or_else(|| {
                ApiError(
                    StatusCode::BAD_REQUEST,
                    "remark needs a `remark` field".into(),
                )
            })?;
            to_json(chat.remark(&b.contact, r).await?)
        }
        "reject" => {
            chat.reject(&b.contact).await?;
            serde_json::json!({})
        }
        "delete" => {
            chat.delete(&b.contact).await?;
            serde_json::json!({})
        }
        _ => {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                "no such contacts action".into(),
            ))
        }
    };
    Ok(Json(out))
}

async fn chat_send(
    State(node): State<Shared>,
    body: Result<Json<SendBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(b) = body?;
    let id = node
        .chat
        .send(&b.to, &b.text, b.reply_to.as_deref())
        .await?;
    Ok(Json(serde_json::json!({ "id": id.to_string() })))
}

async fn chat_log(
    State(node): State<Shared>,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Json<Vec<MessageView>>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    Ok(Json(node.chat.log(&q.with, q.limit.unwrap_or(100)).await?))
}

async fn chat_list(State(node): State<Shared>) -> Result<Json<Vec<ConversationView>>, ApiError> {
    let mut list = node.chat.conversations()?;
    // Service accounts' posts show as conversations, as in WeChat.
    for (account_id, name, last_text, last_at) in node.oa.service_conversations() {
        list.push(ConversationView {
            account_id,
            name,
            last_text,
            last_at,
            unread: 0,
        });
    }
    list.sort_by_key(|c| std::cmp::Reverse(c.last_at));
    Ok(Json(list))
}

async fn chat_recall(
    State(node): State<Shared>,
    body: Result<Json<RecallBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(b) = body?;
    node.chat.recall(&b.id).await?;
    Ok(Json(serde_json::json!({})))
}

/// `POST /v1/nearby` body.
#[derive(Debug, Deserialize)]
pub struct NearbyBody {
    /// Radar on or off.
    pub on: bool,
    /// Settings when turning on.
    #[serde(flatten)]
    pub settings: crate::nearby::RadarOn,
}

impl From<crate::nearby::NearbyError> for ApiError {
    fn from(e: crate::nearby::NearbyError) -> Self {
        use crate::nearby::NearbyError as E;
        let status = match e {
            E::Profile(_) | E::Geo(_) => StatusCode::BAD_REQUEST,
            E::Taken(..) => StatusCode::CONFLICT,
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::Store(_) | E::Card => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

async fn nearby_list(State(node): State<Shared>) -> Json<Vec<crate::nearby::NearbyView>> {
    Json(node.nearby.list())
}

async fn nearby_set(
    State(node): State<Shared>,
    body: Result<Json<NearbyBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(b) = body?;
    if b.on {
        let s = node.nearby.turn_on(b.settings).await?;
        Ok(Json(serde_json::json!({
            "on": true,
            "visible_until": s.visible_until,
            "cell": s.cell,
            "whats_up": s.whats_up,
            "region": s.region,
        })))
    } else {
        node.nearby.turn_off().await?;
        Ok(Json(serde_json::json!({ "on": false })))
    }
}

/// `POST /v1/handle` body.
#[derive(Debug, Deserialize)]
pub struct HandleBody {
    /// The handle to claim.
    pub handle: String,
}

async fn handle_claim(
    State(node): State<Shared>,
    body: Result<Json<HandleBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(b) = body?;
    let (handle, published) = node.nearby.claim_handle(&b.handle).await?;
    Ok(Json(
        serde_json::json!({ "handle": handle, "published": published }),
    ))
}

/// `GET /v1/find` query.
#[derive(Debug, Deserialize)]
pub struct FindQuery {
    /// The handle to look up.
    pub handle: String,
}

async fn find(
    State(node): State<Shared>,
    q: Result<Query<FindQuery>, QueryRejection>,
) -> Result<Json<crate::nearby::FoundHandle>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    Ok(Json(
        crate::nearby::find_handle(&node.net, &q.handle).await?,
    ))
}

impl From<crate::oa::OaServiceError> for ApiError {
    fn from(e: crate::oa::OaServiceError) -> Self {
        use crate::oa::OaServiceError as E;
        let status = match e {
            E::Oa(weft_protocol::oa::OaError::OverQuota { .. }) => StatusCode::TOO_MANY_REQUESTS,
            E::Oa(_) | E::BadId(_) | E::BadCertificate(_) | E::TooLong | E::MissingImage(_) => {
                StatusCode::BAD_REQUEST
            }
            E::NotOwned(_) | E::NotFollowed(_) => StatusCode::NOT_FOUND,
            E::Unreachable(_) => StatusCode::BAD_GATEWAY,
            E::Store(_) | E::Node(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

async fn oa_list(State(node): State<Shared>) -> Result<Json<Vec<crate::oa::OaView>>, ApiError> {
    Ok(Json(node.oa.list().await?))
}

/// `GET /v1/oa/feed` query.
#[derive(Debug, Deserialize)]
pub struct FeedQuery {
    /// Include service accounts' posts too.
    #[serde(default)]
    pub all: bool,
}

async fn oa_feed(
    State(node): State<Shared>,
    q: Result<Query<FeedQuery>, QueryRejection>,
) -> Result<Json<Vec<crate::oa::PostView>>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let kind = (!q.all).then_some(weft_protocol::oa::OaKind::Subscription);
    Ok(Json(node.oa.feed(kind)?))
}

/// `GET /v1/oa/conversation` query.
#[derive(Debug, Deserialize)]
pub struct OaQuery {
    /// The official account.
    pub oa: String,
}

async fn oa_conversation(
    State(node): State<Shared>,
    q: Result<Query<OaQuery>, QueryRejection>,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    Ok(Json(node.oa.conversation(&q.oa)?))
}

/// Body of the `POST /v1/oa/*` actions (each uses the fields it needs).
#[derive(Debug, Default, Deserialize)]
pub struct OaBody {
    /// `subscription` or `service` (create).
    pub kind: Option<String>,
    /// Name (create) or verifier name (verify).
    pub name: Option<String>,
    /// Description (create).
    pub description: Option<String>,
    /// The official account.
    pub oa: Option<String>,
    /// Title (publish).
    pub title: Option<String>,
    /// Text (publish, message).
    pub text: Option<String>,
    /// Link (publish).
    pub link: Option<String>,
    /// Other languages (publish).
    #[serde(default)]
    pub parts: Vec<weft_protocol::oa::Part>,
    /// Image blob ids, hex (publish).
    #[serde(default)]
    pub images: Vec<String>,
    /// Keyword (autoreply).
    pub keyword: Option<String>,
    /// Reply (autoreply).
    pub reply: Option<String>,
    /// Menu items (menu).
    pub items: Option<Vec<String>>,
    /// Certificate (certify).
    pub certificate: Option<String>,
}

async fn oa_action(
    State(node): State<Shared>,
    Path(action): Path<String>,
    body: Result<Json<OaBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(b) = body?;
    let need = |v: Option<String>, what: &str| {
        v.ok_or_else(|| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("`{action}` needs `{what}`"),
            )
        })
    };
    let oa = &node.oa;
    let out = match action.as_str() {
        "create" => {
            let kind = match need(b.kind, "kind")?.as_str() {
                "subscription" => weft_protocol::oa::OaKind::Subscription,
                "service" => weft_protocol::oa::OaKind::Service,
                other => {
                    return Err(ApiError(
                        StatusCode::BAD_REQUEST,
                        format!("kind `{other}`: use subscription or service"),
                    ))
                }
            };
            let v = oa
                .create(
                    kind,
                    &need(b.name, "name")?,
                    b.description.as_deref().unwrap_or(""),
                )
                .await?;
            serde_json::to_value(v).unwrap_or_default()
        }
        "follow" => {
            oa.follow(&need(b.oa, "oa")?).await?;
            serde_json::json!({})
        }
        "unfollow" => {
            oa.unfollow(&need(b.oa, "oa")?).await?;
            serde_json::json!({})
        }
        "publish" => {
            let text = need(b.text, "text")?;
            let title = b
                .title
                .unwrap_or_else(|| text.lines().next().unwrap_or("").chars().take(60).collect());
            let images = b
                .images
                .iter()
                .map(|i| {
                    weft_protocol::blob::parse_blob_hex(i).ok_or_else(|| {
                        ApiError(StatusCode::BAD_REQUEST, format!("`{i}` is not a blob id"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let (id, gossiped) = oa
                .publish(&need(b.oa, "oa")?, &title, &text, b.link, b.parts, images)
                .await?;
            serde_json::json!({ "id": id, "gossiped": gossiped })
        }
        "message" => {
            let reply = oa
                .message(&need(b.oa, "oa")?, &need(b.text, "text")?)
                .await?;
            serde_json::json!({ "reply": reply })
        }
        "autoreply" => {
            let kw = (need(b.keyword, "keyword")?, need(b.reply, "reply")?);
            oa.set_replies(&need(b.oa, "oa")?, Some(kw), None).await?;
            serde_json::json!({})
        }
        "menu" => {
            let items = b
                .items
                .ok_or_else(|| ApiError(StatusCode::BAD_REQUEST, "`menu` needs `items`".into()))?;
            oa.set_replies(&need(b.oa, "oa")?, None, Some(items))
                .await?;
            serde_json::json!({})
        }
        "verify" => {
            let cert =
                oa.issue_verification(&need(b.oa, "oa")?, b.name.as_deref().unwrap_or(&node.name))?;
            serde_json::json!({ "certificate": cert })
        }
        "certify" => {
            oa.attach_verification(&need(b.oa, "oa")?, &need(b.certificate, "certificate")?)
                .await?;
            serde_json::json!({})
        }
        _ => {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                "no such official-account action".into(),
            ))
        }
    };
    Ok(Json(out))
}

/// `GET /v1/oa/search` query.
#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    /// Words of the name.
    pub q: String,
}

async fn oa_search(
    State(node): State<Shared>,
    q: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<Vec<crate::oa::OaView>>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    Ok(Json(node.oa.search(&q.q).await?))
}

async fn blob_add(
    State(node): State<Shared>,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = node
        .blobs
        .add(&body)
        .await
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.to_string()))?;
    Ok(Json(
        serde_json::json!({ "id": weft_protocol::blob::blob_hex(&id), "size": body.len() }),
    ))
}

async fn blob_get(
    State(node): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = weft_protocol::blob::parse_blob_hex(&id)
        .ok_or_else(|| ApiError(StatusCode::BAD_REQUEST, "not a blob id".into()))?;
    match node.blobs.get(&id) {
        Ok(Some(bytes)) => {
            Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
        }
        Ok(None) => Err(ApiError(
            StatusCode::NOT_FOUND,
            "blob not (fully) stored on this node".into(),
        )),
        Err(e) => Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}
