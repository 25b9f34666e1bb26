//! Control API routes for Moments: staging images, posting, the feed, one
//! post and its images, likes and comments, the "last N days" setting and
//! friend tags. The work is in [`crate::moments::Moments`].

use super::prelude::*;
use axum::{http::StatusCode, response::Response};
use weft_protocol::moments::{Link, ReactionContent, MAX_IMAGE_BYTES};

use super::{octets, upload};
use crate::moments::{Audience, FeedEntry};

/// Encrypts and stages an image for a post (PNG, JPEG, GIF or WebP by
/// its bytes); its blob id.
pub(crate) async fn stage_image(node: &Shared, body: &[u8]) -> Result<String, ApiError> {
    if !is_image(body) {
        return Err(ApiError::bad_request(
            "that file is not an image; Moments take PNG, JPEG, GIF or WebP",
        ));
    }
    Ok(node.moments.stage_image(body).await?)
}

/// The Moments routes.
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/v1/moments/images",
            upload(MAX_IMAGE_BYTES, |node, body| async move {
                stage_image(&node, &body).await
            }),
        )
        .route("/v1/moments/post", post(post_moment))
        .route("/v1/moments/feed", get(feed))
        .route("/v1/moments/posts/{id}", get(one))
        .route("/v1/moments/posts/{id}/images/{n}", get(image))
        .route("/v1/moments/settings", get(settings).post(set_settings))
        .route("/v1/moments/tags", get(tags).post(set_tag))
        .route("/v1/moments/{action}", post(action))
}

/// Whether `bytes` start like a PNG, JPEG, GIF or WebP file. Friends'
/// apps show what a post carries as a picture; anything else is refused
/// at upload rather than shown broken (or as something else) on theirs.
fn is_image(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x89PNG\r\n\x1a\n")
        || bytes.starts_with(&[0xff, 0xd8, 0xff])
        || bytes.starts_with(b"GIF87a")
        || bytes.starts_with(b"GIF89a")
        || (bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP")
}

/// `POST /v1/moments/post` body.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct PostBody {
    /// The text ("" when only images).
    pub text: Option<String>,
    /// Staged image ids from `POST /v1/moments/images`, in order.
    #[serde(default)]
    pub images: Vec<String>,
    /// A link to attach.
    pub link: Option<String>,
    /// The link's title (default: the URL).
    pub link_title: Option<String>,
    /// `all` (default), `only` or `except`.
    pub to: Option<String>,
    /// Friends or tags for `only` / `except`.
    #[serde(default)]
    pub list: Vec<String>,
}

async fn post_moment(
    State(node): State<Shared>,
    JsonBody(b): JsonBody<PostBody>,
) -> Result<Json<Created>, ApiError> {
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
    Ok(Json(Created { id }))
}

/// `GET /v1/moments/feed` query: `?limit=N`.
#[derive(Debug, Deserialize)]
pub struct FeedQuery {
    /// Newest N posts (default 50, at most 500).
    pub limit: Option<usize>,
}

async fn feed(
    State(node): State<Shared>,
    Params(q): Params<FeedQuery>,
) -> Result<Json<Vec<FeedEntry>>, ApiError> {
    let limit = q.limit.unwrap_or(50).min(500);
    let mut entries = node.moments.feed(limit)?;
    entries.iter_mut().for_each(in_ms);
    Ok(Json(entries))
}

async fn one(
    State(node): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<FeedEntry>, ApiError> {
    let mut entry = node.moments.get(&short_id::post(&node, &id)?)?;
    in_ms(&mut entry);
    Ok(Json(entry))
}

/// Times leave the API in one unit, Unix milliseconds, as chat's do; the
/// Moments service keeps the seconds its signed items carry.
fn in_ms(e: &mut FeedEntry) {
    e.at = e.at.saturating_mul(1000);
    for c in &mut e.comments {
        c.at = c.at.saturating_mul(1000);
    }
}

/// `GET /v1/moments/posts/{id}/images/{n}` query: `?from=PEER,PEER`.
#[derive(Debug, Deserialize)]
pub struct ImageQuery {
    /// Peers that hold the image, asked first (comma-separated peer ids).
    pub from: Option<String>,
}

async fn image(
    State(node): State<Shared>,
    Path((id, n)): Path<(String, usize)>,
    Params(q): Params<ImageQuery>,
) -> Result<Response, ApiError> {
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
    let id = short_id::post(&node, &id)?;
    let bytes = node.moments.image(&id, n, &from).await?;
    Ok(octets(bytes))
}

/// `POST /v1/moments/{like,unlike,comment,delete}` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct ActionBody {
    /// The post.
    pub post: String,
    /// Comment text (`comment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The comment this one answers (`comment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
}

async fn action(
    State(node): State<Shared>,
    Path(action): Path<String>,
    JsonBody(mut b): JsonBody<ActionBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    b.post = short_id::post(&node, &b.post)?;
    let m = &node.moments;
    let content = match action.as_str() {
        "delete" => {
            m.delete(&b.post).await?;
            return sorted(&Done {});
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
    sorted(&Created { id })
}

/// `/v1/moments/settings`: the body of `POST` and the answer of both.
#[derive(Debug, Serialize, Deserialize)]
pub struct SettingsBody {
    /// Friends see posts from the last N days; 0 = everything.
    pub visible_days: u32,
}

async fn settings(State(node): State<Shared>) -> Json<SettingsBody> {
    Json(SettingsBody {
        visible_days: node.moments.visible_days(),
    })
}

async fn set_settings(
    State(node): State<Shared>,
    JsonBody(b): JsonBody<SettingsBody>,
) -> Result<Json<SettingsBody>, ApiError> {
    if b.visible_days > 36_500 {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "visible_days is 0 (everything) to 36500".into(),
        ));
    }
    node.moments.set_visible_days(b.visible_days).await?;
    Ok(Json(b))
}

/// A friend tag: the body of `POST /v1/moments/tags` and each entry of
/// `GET /v1/moments/tags` (fields in the alphabetical order the answer has
/// always had).
#[derive(Debug, Serialize, Deserialize)]
pub struct TagBody {
    /// Friends in the tag (ids, names or remarks when setting it).
    #[serde(default)]
    pub members: Vec<String>,
    /// The tag's name.
    pub name: String,
}

async fn tags(State(node): State<Shared>) -> Result<Json<Vec<TagBody>>, ApiError> {
    let list = node
        .moments
        .tags()?
        .into_iter()
        .map(|(name, members)| TagBody { members, name })
        .collect();
    Ok(Json(list))
}

async fn set_tag(
    State(node): State<Shared>,
    JsonBody(b): JsonBody<TagBody>,
) -> Result<Json<Done>, ApiError> {
    if b.members.len() > weft_protocol::moments::MAX_AUDIENCE {
        return Err(ApiError(StatusCode::BAD_REQUEST, "too many members".into()));
    }
    node.moments.set_tag(&b.name, &b.members).await?;
    Ok(Json(Done {}))
}

#[cfg(test)]
mod tests {
    use super::is_image;

    /// Bug 8 (#18): a text file is not a Moments image.
    #[test]
    fn only_image_files_are_images() {
        assert!(is_image(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"));
        assert!(is_image(&[0xff, 0xd8, 0xff, 0xe0, 0, 0x10]));
        assert!(is_image(b"GIF89a\x01\0"));
        assert!(is_image(b"RIFF\x10\0\0\0WEBPVP8 "));
        assert!(!is_image(b"hello, this is a text file\n"));
        assert!(!is_image(b""));
    }
}
