//! Control API routes about the node itself and its network: who am I
//! (`/v1/status`, `/v1/id`), who am I connected to (`/v1/peers`, `/v1/dial`)
//! and the live event stream (`/v1/events`) that merges the network's and
//! every service's events into one Server-Sent Events stream.

use super::prelude::*;
use std::convert::Infallible;
use std::time::Duration;

use axum::{
    http::StatusCode,
    response::sse::{Event, KeepAlive, Sse},
};
use futures::{Stream, StreamExt};
use libp2p::Multiaddr;
use weft_protocol::WeftLink;

use super::net_view::{NetEventView, PeerView};
use crate::events::RecvError;

/// How long a dial may take before the API answers 504.
const DIAL_TIMEOUT: Duration = Duration::from_secs(15);

/// The node routes.
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/id", get(id))
        .route("/v1/peers", get(peers))
        .route("/v1/dial", post(dial))
        .route("/v1/profile", get(profile).post(set_profile))
        .route("/v1/events", get(events))
}

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
    /// The handle claimed with `weft id --handle`, or `null`: an unclaimed
    /// handle is not shown, because nobody could find us by it.
    pub handle: Option<String>,
    /// Dialable addresses.
    pub addrs: Vec<String>,
    /// `weft://` link (the QR payload).
    pub link: String,
}

/// `POST /v1/profile` body: what to change (absent fields stay).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ProfileBody {
    /// New display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New "What's Up".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whats_up: Option<String>,
    /// New avatar, hex PNG/JPEG (at most 32 KB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_hex: Option<String>,
}

/// `GET`/`POST /v1/profile` answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProfileView {
    /// The display name (as stored: a new one is on cards from the next start).
    pub name: String,
    /// The claimed handle, if any.
    pub handle: Option<String>,
    /// "What's Up", shown on the radar and People Nearby.
    pub whats_up: String,
    /// Whether an avatar is set.
    pub has_avatar: bool,
    /// The running node still signs its cards with the old name: restart it.
    pub restart_needed: bool,
}

/// `POST /v1/dial` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct DialRequest {
    /// Multiaddr to connect to, or a `weft://` link (its peer at its addresses).
    pub addr: String,
}

/// `POST /v1/dial` answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct DialReply {
    /// The connected peer.
    pub peer_id: String,
}

async fn status(State(node): State<Shared>) -> Result<Json<StatusView>, ApiError> {
    let listen = node.net.listen_addrs().await?;
    let peers = node.net.peers().await?;
    Ok(Json(StatusView {
        peer_id: node.net.peer_id().to_string(),
        account_id: node.identity.account_id.to_string(),
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
    id_view(&node).await.map(Json)
}

/// Who we are, with a `weft://` link others can add us by.
pub(crate) async fn id_view(node: &Shared) -> Result<IdView, ApiError> {
    let addrs = crate::net::dialable(&node.net.listen_addrs().await?);
    let account = node.identity.account_id;
    let link = WeftLink {
        account,
        peer: Some(node.net.peer_id().to_string()),
        addrs: addrs.clone(),
        name: Some(node.name.clone()),
    };
    Ok(IdView {
        account_id: account.to_string(),
        peer_id: node.net.peer_id().to_string(),
        name: node.name.clone(),
        handle: node.nearby.handle(),
        addrs,
        link: link.to_string(),
    })
}

async fn profile(State(node): State<Shared>) -> Result<Json<ProfileView>, ApiError> {
    profile_view(&node).map(Json)
}

pub(crate) fn profile_view(node: &Shared) -> Result<ProfileView, ApiError> {
    let name = node.store.name()?.unwrap_or_else(|| node.name.clone());
    let (whats_up, has_avatar) = node.nearby.shown_profile();
    Ok(ProfileView {
        restart_needed: name != node.name,
        name,
        handle: node.nearby.handle(),
        whats_up,
        has_avatar,
    })
}

async fn set_profile(
    State(node): State<Shared>,
    JsonBody(b): JsonBody<ProfileBody>,
) -> Result<Json<ProfileView>, ApiError> {
    update_profile(&node, b).await.map(Json)
}

/// Changes the name (shown after a restart), what's-up line or avatar.
pub(crate) async fn update_profile(node: &Shared, b: ProfileBody) -> Result<ProfileView, ApiError> {
    if let Some(n) = &b.name {
        weft_protocol::validate_name(n).map_err(|e| match e {
            weft_protocol::CardError::Bounds(what) => ApiError::bad_request(what),
            other => ApiError::bad_request(other.to_string()),
        })?;
    }
    if b.whats_up.is_some() || b.avatar_hex.is_some() {
        node.nearby.set_profile(b.whats_up, b.avatar_hex).await?;
    }
    if let Some(n) = &b.name {
        node.store.set_name(n)?;
        node.store.flush_async().await?;
    }
    profile_view(node)
}

async fn peers(State(node): State<Shared>) -> Result<Json<Vec<PeerView>>, ApiError> {
    let mut list: Vec<PeerView> = node.net.peers().await?.iter().map(PeerView::from).collect();
    // Sorted as text, as the list always was.
    list.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
    Ok(Json(list))
}

async fn dial(
    State(node): State<Shared>,
    JsonBody(req): JsonBody<DialRequest>,
) -> Result<Json<DialReply>, ApiError> {
    if let Ok(link) = req.addr.trim().parse::<WeftLink>() {
        return dial_link(&node, &link).await;
    }
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

/// Dials the peer a `weft://` link names at the addresses it carries.
async fn dial_link(node: &Shared, link: &WeftLink) -> Result<Json<DialReply>, ApiError> {
    let peer = link
        .peer
        .as_deref()
        .and_then(|p| p.parse::<libp2p::PeerId>().ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                "that link names no device to dial; add the person with `weft contacts add <link>` instead",
            )
        })?;
    let addrs: Vec<Multiaddr> = link.addrs.iter().filter_map(|a| a.parse().ok()).collect();
    if addrs.is_empty() {
        return Err(ApiError::bad_request(
            "that link carries no address to dial; ask for a fresh one (`weft id`)",
        ));
    }
    let shown = addrs.first().map(ToString::to_string).unwrap_or_default();
    tokio::time::timeout(DIAL_TIMEOUT, node.net.dial_peer(peer, addrs))
        .await
        .map_err(|_| {
            ApiError(
                StatusCode::GATEWAY_TIMEOUT,
                format!("no answer from {shown} within {}s", DIAL_TIMEOUT.as_secs()),
            )
        })??;
    Ok(Json(DialReply {
        peer_id: peer.to_string(),
    }))
}

pub(crate) async fn events(
    State(node): State<Shared>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = node.net.subscribe();
    let chat_rx = node.chat.subscribe();
    let oa_rx = node.oa.subscribe();
    let moments_rx = node.moments.subscribe();
    let group_rx = node.groups.subscribe();
    let file_rx = node.files.subscribe();
    let pay_rx = node.pay.subscribe();
    let shutdown = node.shutdown.clone();
    let state = (
        rx,
        chat_rx,
        oa_rx,
        moments_rx,
        group_rx,
        (file_rx, pay_rx),
        shutdown,
    );
    let stream = futures::stream::unfold(
        state,
        |(
            mut rx,
            mut chat_rx,
            mut oa_rx,
            mut moments_rx,
            mut group_rx,
            (mut file_rx, mut pay_rx),
            mut shutdown,
        )| async move {
            let ev = tokio::select! {
                _ = shutdown.wait_for(|s| *s) => return None,
                ev = rx.recv() => ev.map(|e| serde_json::to_string(&NetEventView::from(&e)).unwrap_or_default()),
                ev = chat_rx.recv() => ev.map(|e| serde_json::to_string(&e).unwrap_or_default()),
                ev = oa_rx.recv() => ev.map(|e| serde_json::to_string(&e).unwrap_or_default()),
                ev = moments_rx.recv() => ev.map(|e| serde_json::to_string(&e).unwrap_or_default()),
                ev = group_rx.recv() => ev.map(|e| serde_json::to_string(&e).unwrap_or_default()),
                ev = file_rx.recv() => ev.map(|e| serde_json::to_string(&e).unwrap_or_default()),
                ev = pay_rx.recv() => ev.map(|e| serde_json::to_string(&e).unwrap_or_default()),
            };
            let data = match ev {
                Ok(json) => json,
                // A slow reader skips ahead; tell it how much it missed.
                Err(RecvError::Lagged(n)) => {
                    serde_json::json!({"type": "lagged", "missed": n}).to_string()
                }
                Err(RecvError::Closed) => return None,
            };
            Some((
                Ok(Event::default().data(data)),
                (
                    rx,
                    chat_rx,
                    oa_rx,
                    moments_rx,
                    group_rx,
                    (file_rx, pay_rx),
                    shutdown,
                ),
            ))
        },
    );
    // The first event says the subscription is in place: a client that
    // (re)connects knows from here on it misses nothing, and refreshes
    // what it shows from the API once.
    let open = serde_json::json!({"type": "stream_open"}).to_string();
    let stream =
        futures::stream::once(async move { Ok(Event::default().data(open)) }).chain(stream);
    Sse::new(stream).keep_alive(KeepAlive::default())
}
