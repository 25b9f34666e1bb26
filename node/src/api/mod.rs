//! The local control API: HTTP + JSON on 127.0.0.1, every request carrying
//! `Authorization: Bearer <token>` (the token is in `api.json` in the home,
//! mode 0600). Errors are a proper HTTP status with `{"error": "...",
//! "kind": "..."}` ([`ApiError`], in `api/error.rs`).
//!
//! Wherever a message or Moments post id goes, a unique prefix of at least
//! six characters does too (`api/short_id.rs`); an ambiguous one answers
//! `300` with the candidates.
//!
//! Each service has its own file of routes, with the typed request and
//! answer bodies that the `weft` CLI uses too:
//!
//! | file | method | path | body | answer |
//! | --- | --- | --- | --- | --- |
//! | `node.rs` | GET | /v1/status | | [`StatusView`] |
//! | `node.rs` | GET | /v1/id | | [`IdView`] |
//! | `node.rs` | GET | /v1/peers | | [`PeerView`] list |
//! | `node.rs` | POST | /v1/dial | [`DialRequest`] | [`DialReply`] |
//! | `node.rs` | GET | /v1/events | | Server-Sent Events, one JSON event each |
//! | `web/mod.rs` | POST | /v1/web/open | | [`OpenView`](crate::web::OpenView): a one-time sign-in link to the web app |
//! | `node.rs` | GET, POST | /v1/profile | [`ProfileBody`] | [`ProfileView`] |
//! | `chat.rs` | POST | /v1/contacts/add | [`AddContact`](chat::AddContact) | contact |
//! | `chat.rs` | GET | /v1/contacts | | `[contact]` |
//! | `chat.rs` | GET | /v1/contacts/requests | | `[request]` |
//! | `chat.rs` | POST | /v1/contacts/{accept,reject,block,unblock,delete} | [`ContactBody`](chat::ContactBody) | contact or `{}` |
//! | `chat.rs` | POST | /v1/contacts/remark | [`ContactBody`](chat::ContactBody) (`remark`, or `clear`) | contact |
//! | `chat.rs` | POST | /v1/chat/send | [`SendBody`](chat::SendBody) | [`Created`] |
//! | `chat.rs` | GET | /v1/chat/log?with=X&limit=N | | `[message]` oldest first |
//! | `chat.rs` | GET | /v1/chat/list | | `[conversation]` |
//! | `chat.rs` | POST | /v1/chat/recall | [`RecallBody`](chat::RecallBody) | `{}` |
//! | `nearby.rs` | GET | /v1/nearby | | `[person]` nearest first |
//! | `nearby.rs` | POST | /v1/nearby | [`NearbyBody`](nearby::NearbyBody) | [`RadarView`](nearby::RadarView) |
//! | `nearby.rs` | POST | /v1/handle | [`HandleBody`](nearby::HandleBody) | [`HandleClaimed`](nearby::HandleClaimed) |
//! | `nearby.rs` | GET | /v1/find?handle=H | | [`FoundView`](nearby::FoundView) |
//! | `oa.rs` | GET | /v1/oa | | `[official account]` (run or followed) |
//! | `oa.rs` | GET | /v1/oa/feed?all=BOOL | | `[post]` newest first (subscription accounts unless `all`) |
//! | `oa.rs` | GET | /v1/oa/search?q=WORDS | | `[official account]` |
//! | `oa.rs` | GET | /v1/oa/conversation?oa=ID | | list of [`OaMessageView`](oa::OaMessageView), questions and answers |
//! | `oa.rs` | POST | /v1/oa/{create,follow,unfollow,publish,message,reply,autoreply,menu,verify,certify} | [`OaBody`](oa::OaBody) | see README |
//! | `blobs.rs` | POST | /v1/blobs | file bytes | [`Stored`] |
//! | `blobs.rs` | GET | /v1/blobs/{id} | | blob bytes |
//! | `moments.rs` | POST | /v1/moments/images | image bytes | [`Stored`] (encrypted, staged for a post) |
//! | `moments.rs` | POST | /v1/moments/post | [`PostBody`](moments::PostBody) | [`Created`] |
//! | `moments.rs` | GET | /v1/moments/feed?limit=N | | `[post]` newest first |
//! | `moments.rs` | GET | /v1/moments/posts/{id} | | post |
//! | `moments.rs` | POST | /v1/moments/{like,unlike,comment,delete} | [`ActionBody`](moments::ActionBody) | [`Created`] or `{}` |
//! | `moments.rs` | GET | /v1/moments/posts/{id}/images/{n}?from=PEER,PEER | | image bytes |
//! | `moments.rs` | GET, POST | /v1/moments/settings | [`SettingsBody`](moments::SettingsBody) | [`SettingsBody`](moments::SettingsBody) |
//! | `moments.rs` | GET, POST | /v1/moments/tags | [`TagBody`](moments::TagBody) | list of [`TagBody`](moments::TagBody), or `{}` |
//!
//! Answers that used to be built as `serde_json::Value` list their fields in
//! alphabetical order (a `Value` sorts its keys), so every answer keeps the
//! bytes it always had.

use std::future::Future;
use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, Request, State},
    http::{header, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{post, MethodRouter},
    Json, Router,
};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::error::NodeError;
use crate::node::NodeHandle;

pub mod blobs;
pub mod chat;
pub mod device;
mod error;
mod extract;
pub mod files;
pub mod group;
pub mod moments;
pub mod nearby;
mod net_view;
pub mod node;
pub mod oa;
pub mod pay;
mod prelude;
mod short_id;

use error::sorted;
pub use error::{kind_of, ApiError, ErrorBody};
use extract::{JsonBody, Params};
pub use net_view::{NetEventView, PeerView};
pub use node::{DialReply, DialRequest, IdView, ProfileBody, ProfileView, StatusView};

/// Largest request body accepted (blobs and images have their own limits).
const MAX_BODY: usize = 128 * 1024;

/// The `{}` answer of an action that has nothing to report but success.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Done {}

/// The answer naming what was just made: a message, a post, a like or a comment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Created {
    /// Its id.
    pub id: String,
}

/// The answer to uploading bytes (a blob, a staged image).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Stored {
    /// Its id (hex), to name it in a later request.
    pub id: String,
    /// Bytes received.
    pub size: usize,
}

type Shared = Arc<NodeHandle>;

/// A `POST` route taking a file's raw bytes (at most `max`, plus room for the
/// request's own overhead): `store` keeps them and names them, and the
/// answer is [`Stored`].
fn upload<F, Fut>(max: usize, store: F) -> MethodRouter<Shared>
where
    F: Fn(Shared, Bytes) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<String, ApiError>> + Send + 'static,
{
    post(move |State(node): State<Shared>, body: Bytes| async move {
        let size = body.len();
        let id = store(node, body).await?;
        Ok::<_, ApiError>(Json(Stored { id, size }))
    })
    .layer(DefaultBodyLimit::max(max + 1024))
}

/// An answer of raw bytes (a blob, an image).
fn octets(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
}

/// A fresh random API token (hex).
pub fn new_token() -> Result<String, NodeError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(NodeError::NoRandomness)?;
    Ok(weft_protocol::hex::encode(&b))
}

/// Serves the API on `listener` until the node shuts down.
pub fn serve(listener: tokio::net::TcpListener, node: Shared, token: String) -> JoinHandle<()> {
    let mut shutdown = node.shutdown.clone();
    if let Ok(addr) = listener.local_addr() {
        node.web.set_addr(addr);
    }
    let app = router(node, token);
    tokio::spawn(async move {
        let stop = async move {
            let _ = shutdown.wait_for(|s| *s).await;
        };
        // Every reply and every event leaves at once: with Nagle's
        // algorithm on, a small write waits for the peer's acknowledgement
        // of the one before it (a delayed ACK on an event stream the
        // client never writes to).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY on an API connection");
            }
        });
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
    let app = crate::web::routes(node.clone());
    let api = Router::new()
        .merge(node::routes())
        .merge(chat::routes())
        .merge(nearby::routes())
        .merge(oa::routes())
        .merge(blobs::routes())
        .merge(moments::routes())
        .merge(group::routes())
        .merge(files::routes())
        .merge(device::routes())
        .merge(pay::routes())
        .merge(crate::web::api_routes())
        .fallback(|| async { ApiError::not_found("no such API endpoint") })
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let token = token.clone();
            async move { check_token(&token, req, next).await }
        }))
        .layer(DefaultBodyLimit::max(MAX_BODY));
    Router::new().nest("/app", app).merge(api).with_state(node)
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

/// Compares the token in time that does not depend on where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// JSON of `v` as it goes on the wire, and the same with keys sorted.
    fn wire_and_sorted<T: Serialize>(v: &T) -> (String, String) {
        let wire = serde_json::to_string(v).unwrap();
        let sorted = serde_json::to_value(v).unwrap().to_string();
        (wire, sorted)
    }

    #[test]
    fn answers_that_were_values_keep_sorted_keys() {
        // These answers used to be `serde_json::Value`s; their bytes must not change.
        let cases = [
            wire_and_sorted(&Done {}),
            wire_and_sorted(&Created { id: "ab".into() }),
            wire_and_sorted(&Stored {
                id: "ab".into(),
                size: 3,
            }),
            wire_and_sorted(&oa::Published {
                gossiped: true,
                id: "ab".into(),
            }),
            wire_and_sorted(&nearby::HandleClaimed {
                handle: "h".into(),
                published: false,
            }),
            wire_and_sorted(&nearby::RadarView::On {
                cell: None,
                on: true,
                region: "r".into(),
                visible_until: 9,
                whats_up: "w".into(),
            }),
            wire_and_sorted(&oa::OaMessageView {
                at: 1,
                from: "me".into(),
                text: "t".into(),
            }),
            wire_and_sorted(&moments::TagBody {
                members: vec!["m".into()],
                name: "n".into(),
            }),
        ];
        for (wire, sorted) in cases {
            assert_eq!(wire, sorted);
        }
        assert_eq!(serde_json::to_string(&Done {}).unwrap(), "{}");
    }

    #[test]
    fn radar_answer_reads_back_as_on_or_off() {
        let off: nearby::RadarView = serde_json::from_str(r#"{"on":false}"#).unwrap();
        assert!(matches!(off, nearby::RadarView::Off { on: false }));
        let on: nearby::RadarView = serde_json::from_str(
            r#"{"cell":null,"on":true,"region":"","visible_until":5,"whats_up":"hi"}"#,
        )
        .unwrap();
        assert!(matches!(
            on,
            nearby::RadarView::On {
                visible_until: 5,
                ..
            }
        ));
    }

    #[test]
    fn oa_body_sends_only_what_an_action_uses() {
        let follow = oa::OaBody {
            oa: Some("X".into()),
            ..oa::OaBody::default()
        };
        assert_eq!(serde_json::to_string(&follow).unwrap(), r#"{"oa":"X"}"#);
    }
}
