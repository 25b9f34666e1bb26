//! Control API routes for Moments (see the table in the parent module).

use axum::{
    extract::{
        rejection::{JsonRejection, QueryRejection},
        DefaultBodyLimit, Path, Query, State,
    },
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;
use weft_protocol::moments::{Link, ReactionContent, MAX_IMAGE_BYTES};

use super::{ApiError, Shared};
use crate::moments::{Audience, FeedEntry, MomentsError};

impl From<MomentsError> for ApiError {
    fn from(e: MomentsError) -> Self {
        let status = match &e {
            MomentsError::Invalid(_)
            | MomentsError::EmptyAudience
            | MomentsError::ImageSize(_)
            | MomentsError::NotAnImageId(_)
            | MomentsError::ImageNotStaged(_)
            | MomentsError::NoSuchImage { .. }
            | MomentsError::ImageIncomplete
            | MomentsError::ImageUndecryptable
            | MomentsError::TagName => StatusCode::BAD_REQUEST,
            MomentsError::NotAFriend(_) | MomentsError::NotYours => StatusCode::FORBIDDEN,
            MomentsError::UnknownPost(_) => StatusCode::NOT_FOUND,
            MomentsError::Chat(_) => StatusCode::BAD_REQUEST,
            MomentsError::Blob(_) => StatusCode::BAD_GATEWAY,
            MomentsError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

/// The Moments routes.
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/v1/moments/images",
            post(stage_image).layer(DefaultBodyLimit::max(MAX_IMAGE_BYTES + 1024)),
        )
        .route("/v1/moments/post", post(post_moment))
        .route("/v1/moments/feed", get(feed))
        .route("/v1/moments/posts/{id}", get(one))
        .route("/v1/moments/posts/{id}/images/{n}", get(image))
        .route("/v1/moments/settings", get(settings).post(set_settings))
        .route("/v1/moments/tags", get(tags).post(set_tag))
        .route("/v1/moments/{action}", post(action))
}

async fn stage_image(
    State(node): State<Shared>,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = node.moments.stage_image(&body).await?;
    Ok(Json(serde_json::json!({ "id": id, "size": body.len() })))
}

/// `POST /v1/moments/post` body.
#[derive(Debug, Deserialize)]
struct PostBody {
    text: Option<String>,
    #[serde(default)]
    images: Vec<String>,
    link: Option<String>,
    link_title: Option<String>,
    /// `all` (default), `only` or `except`.
    to: Option<String>,
    /// Friends or tags for `only` / `except`.
    #[serde(default)]
    list: Vec<String>,
}

async fn post_moment(
    State(node): State<Shared>,
    body: Result<Json<PostBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(b) = body?;
    let audience = match b.to.as_deref().unwrap_or("all") {
        "all" => Audience::All,
        "only" => Audience::Only(b.list),
        "except" => Audience::Except(b.list),
        other => {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                format!(
                    "`to` is all, only or except, not `{}`",
                    other.chars().take(40).collect::<String>()
                ),
            ))
        }
    };
    let link = b.link.map(|url| Link {
        title: b.link_title.unwrap_or_else(|| url.clone()),
        url,
    });
    let id = node
        .moments
        .post(b.text.as_deref().unwrap_or(""), &b.images, link, &audience)
        .await?;
    Ok(Json(serde_json::json!({ "id": id })))
}

/// `?limit=N`.
#[derive(Debug, Deserialize)]
struct FeedQuery {
    limit: Option<usize>,
}

async fn feed(
    State(node): State<Shared>,
    q: Result<Query<FeedQuery>, QueryRejection>,
) -> Result<Json<Vec<FeedEntry>>, ApiError> {
    let Query(q) = q?;
    let limit = q.limit.unwrap_or(50).min(500);
    Ok(Json(node.moments.feed(limit)?))
}

async fn one(
    State(node): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<FeedEntry>, ApiError> {
    Ok(Json(node.moments.get(&id)?))
}

/// `?from=PEER,PEER`: holders to ask first.
#[derive(Debug, Deserialize)]
struct ImageQuery {
    from: Option<String>,
}

async fn image(
    State(node): State<Shared>,
    Path((id, n)): Path<(String, usize)>,
    q: Result<Query<ImageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q?;
    let mut from = Vec::new();
    for p in q
        .from
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .take(8)
    {
        from.push(p.parse().map_err(|_| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!(
                    "`{}` is not a peer id",
                    p.chars().take(80).collect::<String>()
                ),
            )
        })?);
    }
    let bytes = node.moments.image(&id, n, &from).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

/// `POST /v1/moments/{like,unlike,comment,delete}` body.
#[derive(Debug, Deserialize)]
struct ActionBody {
    post: String,
    text: Option<String>,
    reply_to: Option<String>,
}

async fn action(
    State(node): State<Shared>,
    Path(action): Path<String>,
    body: Result<Json<ActionBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(b) = body?;
    let m = &node.moments;
    let content = match action.as_str() {
        "delete" => {
            m.delete(&b.post).await?;
            return Ok(Json(serde_json::json!({})));
        }
        "like" => ReactionContent::Like,
        "unlike" => ReactionContent::Unlike,
        "comment" => ReactionContent::Comment {
            text: b.text.ok_or_else(|| {
                ApiError(StatusCode::BAD_REQUEST, "`comment` needs `text`".into())
            })?,
            reply_to: match b.reply_to {
                Some(r) => Some(weft_protocol::blob::parse_blob_hex(&r).ok_or_else(|| {
                    ApiError(
                        StatusCode::BAD_REQUEST,
                        "`reply_to` is not a comment id".into(),
                    )
                })?),
                None => None,
            },
        },
        _ => {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                "no such Moments action; use like, unlike, comment or delete".into(),
            ))
        }
    };
    let id = m.react(&b.post, content).await?;
    Ok(Json(serde_json::json!({ "id": id })))
}

/// `POST /v1/moments/settings` body.
#[derive(Debug, Deserialize)]
struct SettingsBody {
    visible_days: u32,
}

async fn settings(State(node): State<Shared>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "visible_days": node.moments.visible_days() }))
}

async fn set_settings(
    State(node): State<Shared>,
    body: Result<Json<SettingsBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(b) = body?;
    if b.visible_days > 36_500 {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "visible_days is 0 (everything) to 36500".into(),
        ));
    }
    node.moments.set_visible_days(b.visible_days).await?;
    Ok(Json(serde_json::json!({ "visible_days": b.visible_days })))
}

/// `POST /v1/moments/tags` body.
#[derive(Debug, Deserialize)]
struct TagBody {
    name: String,
    #[serde(default)]
    members: Vec<String>,
}

async fn tags(State(node): State<Shared>) -> Result<Json<serde_json::Value>, ApiError> {
    let list: Vec<_> = node
        .moments
        .tags()?
        .into_iter()
        .map(|(name, members)| serde_json::json!({ "name": name, "members": members }))
        .collect();
    Ok(Json(serde_json::Value::Array(list)))
}

async fn set_tag(
    State(node): State<Shared>,
    body: Result<Json<TagBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(b) = body?;
    if b.members.len() > weft_protocol::moments::MAX_AUDIENCE {
        return Err(ApiError(StatusCode::BAD_REQUEST, "too many members".into()));
    }
    node.moments.set_tag(&b.name, &b.members).await?;
    Ok(Json(serde_json::json!({})))
}
