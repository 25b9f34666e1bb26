//! The local control API: HTTP + JSON on 127.0.0.1, every request carrying
//! `Authorization: Bearer <token>` (the token is in `api.json` in the home,
//! mode 0600). Errors are a proper HTTP status with `{"error": "..."}`.
//!
//! | method | path | body | answer |
//! | --- | --- | --- | --- |
//! | GET | /v1/status | | [`StatusView`] |
//! | GET | /v1/id | | [`IdView`] |
//! | GET | /v1/peers | | `[PeerInfo]` |
//! | POST | /v1/dial | `{"addr"}` | `{"peer_id"}` |
//! | GET | /v1/events | | Server-Sent Events, one JSON event each |

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::{
    extract::{rejection::JsonRejection, DefaultBodyLimit, Request, State},
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
use libp2p::{multiaddr::Protocol, Multiaddr};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use weft_protocol::WeftLink;

use crate::error::NodeError;
use crate::net::{NetError, PeerInfo};
use crate::node::{handle_for, NodeHandle};

/// Largest request body accepted.
const MAX_BODY: usize = 64 * 1024;
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
            NetError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
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

fn dialable(addrs: &[Multiaddr]) -> Vec<String> {
    addrs
        .iter()
        .filter(|a| {
            !a.iter().any(|p| {
                matches!(p, Protocol::Ip4(ip) if ip.is_unspecified())
                    || matches!(p, Protocol::Ip6(ip) if ip.is_unspecified())
            })
        })
        .map(|a| a.to_string())
        .collect()
}

async fn status(State(node): State<Shared>) -> Result<Json<StatusView>, ApiError> {
    let listen = node.net.listen_addrs().await?;
    let peers = node.net.peers().await?;
    Ok(Json(StatusView {
        peer_id: node.net.peer_id().to_string(),
        account_id: node.identity.account.account_id().to_string(),
        name: node.name.clone(),
        listen_addrs: listen.iter().map(|a| a.to_string()).collect(),
        connected_peers: peers.into_iter().map(|p| p.peer_id).collect(),
        store_bytes: node.store.size_on_disk(),
        known_peers: node.store.known_peer_count(),
        uptime_secs: node.started.elapsed().as_secs(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    }))
}

async fn id(State(node): State<Shared>) -> Result<Json<IdView>, ApiError> {
    let addrs = dialable(&node.net.listen_addrs().await?);
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
        handle: handle_for(&node.identity),
        addrs,
        link: link.to_string(),
    }))
}

async fn peers(State(node): State<Shared>) -> Result<Json<Vec<PeerInfo>>, ApiError> {
    let mut list = node.net.peers().await?;
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
    let shutdown = node.shutdown.clone();
    let stream = futures::stream::unfold((rx, shutdown), |(mut rx, mut shutdown)| async move {
        let ev = tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return None,
            ev = rx.recv() => ev,
        };
        let data = match ev {
            Ok(ev) => serde_json::to_string(&ev).unwrap_or_default(),
            // A slow reader skips ahead; tell it how much it missed.
            Err(broadcast::error::RecvError::Lagged(n)) => {
                serde_json::json!({"type": "lagged", "missed": n}).to_string()
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(Event::default().data(data)), (rx, shutdown)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
