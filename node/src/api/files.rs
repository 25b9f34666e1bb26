//! Control API routes for attachments: send a file into a chat or group
//! (`POST /v1/chat/send-file`, the file's bytes as the body, streamed),
//! download one (`POST /v1/chat/fetch`), read it back decrypted
//! (`GET /v1/chat/file/{id}`), its thumbnail (`GET /v1/chat/thumb/{id}`),
//! and the automatic download size (`/v1/files/auto`). Progress is on the
//! event stream (`file_progress`, `file_complete`, `file_failed`). The work
//! is in [`crate::files::Files`].

use super::prelude::*;
use std::time::Duration;

use axum::{
    body::Body,
    extract::DefaultBodyLimit,
    http::header,
    response::{IntoResponse, Response},
};
use futures::TryStreamExt;
use libp2p::PeerId;
use weft_protocol::file::{file_hex, Attachment, AttachmentKind};

use crate::files::{AttachmentView, FilesError, Outgoing};

/// The attachment routes.
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/v1/chat/send-file",
            // The body is streamed to disk (encrypted), never held whole:
            // its size is bounded by the attachment limit, not the API's.
            post(send_file).layer(DefaultBodyLimit::disable()),
        )
        .route("/v1/chat/fetch", post(fetch))
        .route("/v1/chat/attachment/{id}", get(attachment))
        .route("/v1/chat/file/{id}", get(file))
        .route("/v1/chat/thumb/{id}", get(thumb))
        .route("/v1/files/auto", get(auto_get).post(auto_set))
}

/// `POST /v1/chat/send-file` query (the body is the file).
#[derive(Debug, Serialize, Deserialize)]
pub struct SendFileQuery {
    /// Contact or group.
    pub to: String,
    /// `image`, `voice`, `video` or `file`.
    pub kind: String,
    /// The file's name.
    pub name: String,
    /// Caption.
    #[serde(default)]
    pub caption: String,
    /// Message id to quote.
    pub reply_to: Option<String>,
    /// Images: send the file as it is instead of the standard version.
    #[serde(default)]
    pub original: bool,
    /// Seconds to wait for a holder to have the whole file before
    /// answering (default 60; 0: answer at once, holders fetch later).
    pub wait: Option<u64>,
}

/// `POST /v1/chat/send-file` answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct SentFile {
    /// Message id.
    pub id: String,
    /// File id.
    pub file: String,
    /// Holders that have the whole file by now (it stays available while
    /// we are offline); 0 when none was reachable or the file is too large.
    pub held_by: usize,
}

/// `POST /v1/chat/fetch` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct FetchBody {
    /// Message id (or a prefix).
    pub id: String,
}

/// `POST /v1/chat/fetch` answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct Fetched {
    /// File id.
    pub file: String,
    /// Plaintext bytes.
    pub size: u64,
    /// File name (safe to use).
    pub name: String,
    /// MIME type the bytes show.
    pub mime: String,
}

/// `/v1/files/auto` body and answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct AutoDownload {
    /// Attachments up to this many bytes are fetched when they arrive.
    pub bytes: u64,
}

fn parse_kind(k: &str) -> Result<AttachmentKind, ApiError> {
    Ok(match k {
        "image" => AttachmentKind::Image,
        "voice" => AttachmentKind::Voice,
        "video" => AttachmentKind::Video,
        "file" => AttachmentKind::File,
        _ => {
            return Err(ApiError::bad_request(
                "kind must be image, voice, video or file",
            ))
        }
    })
}

async fn send_file(
    State(node): State<Shared>,
    Params(q): Params<SendFileQuery>,
    body: Body,
) -> Result<Json<SentFile>, ApiError> {
    let stream = body
        .into_data_stream()
        .map_err(|e| std::io::Error::other(e.to_string()));
    send_file_from(&node, &q, tokio_util::io::StreamReader::new(stream))
        .await
        .map(Json)
}

/// Sends the file read from `input` into a chat or group as `q` says.
pub(crate) async fn send_file_from<R: tokio::io::AsyncRead + Unpin + Send>(
    node: &Shared,
    q: &SendFileQuery,
    input: R,
) -> Result<SentFile, ApiError> {
    let out = Outgoing {
        kind: parse_kind(&q.kind)?,
        name: q.name.clone(),
        original: q.original,
    };
    if q.caption.len() > weft_protocol::file::MAX_CAPTION {
        return Err(ApiError::bad_request(format!(
            "caption is {} bytes; the limit is {}",
            q.caption.len(),
            weft_protocol::file::MAX_CAPTION
        )));
    }
    let group = node.groups.find(&q.to)?;
    let mut exclude = Vec::new();
    if group.is_none() {
        // Refuse before reading a large body for no one.
        let a = node.chat.resolve(&q.to)?;
        node.chat.require_addressable(&a, &q.to)?;
        exclude.extend(node.chat.devices_of(&a)?);
    }
    let reply_to = match q.reply_to.as_deref() {
        Some(r) => Some(short_id::message(node, r)?),
        None => None,
    };
    let att = node.files.prepare(&out, input).await?;
    let file = att.file;
    let id = match group {
        Some(_) => {
            let r = match reply_to {
                Some(r) => Some(r.parse().map_err(|e: weft_protocol::chat::ChatError| {
                    ApiError::bad_request(e.to_string())
                })?),
                None => None,
            };
            node.groups
                .send_file(&q.to, att, &q.caption, r)
                .await?
                .to_string()
        }
        None => node
            .chat
            .send_file(&q.to, att, &q.caption, reply_to.as_deref())
            .await?
            .to_string(),
    };
    let wait = Duration::from_secs(q.wait.unwrap_or(60).min(600));
    let held_by = if wait.is_zero() {
        let files = node.files.clone();
        tokio::spawn(async move { files.place(&file, &exclude, Duration::from_secs(600)).await });
        0
    } else {
        node.files.place(&file, &exclude, wait).await
    };
    Ok(SentFile {
        id,
        file: file_hex(&file),
        held_by,
    })
}

/// The attachment of message `typed` (id or prefix) and where to get it.
pub(crate) async fn attachment_of(
    node: &Shared,
    typed: &str,
) -> Result<(Attachment, Vec<PeerId>), ApiError> {
    let id = short_id::message(node, typed)?;
    if let Some(found) = node.chat.attachment(&id)? {
        return Ok(found);
    }
    if let Some(found) = node.groups.attachment(&id).await? {
        return Ok(found);
    }
    Err(ApiError::not_found(format!(
        "message {} has no attachment",
        typed.chars().take(80).collect::<String>()
    )))
}

/// What a message's attachment is and whether it is here.
async fn attachment(
    State(node): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<AttachmentView>, ApiError> {
    let (att, _) = attachment_of(&node, &id).await?;
    let mut v = AttachmentView::of(&att);
    node.files.fill(&mut v);
    Ok(Json(v))
}

async fn fetch(
    State(node): State<Shared>,
    JsonBody(b): JsonBody<FetchBody>,
) -> Result<Json<Fetched>, ApiError> {
    let (att, sources) = attachment_of(&node, &b.id).await?;
    node.files.download(&att, &sources).await?;
    let mime = node.files.sniffed(&att.file).unwrap_or(att.mime.clone());
    Ok(Json(Fetched {
        file: file_hex(&att.file),
        size: att.size,
        name: att.name,
        mime,
    }))
}

/// The decrypted file, streamed chunk by chunk (it must be downloaded).
async fn file(State(node): State<Shared>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let (att, _) = attachment_of(&node, &id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, att.size.to_string()),
        ],
        plain_body(&node, &att)?,
    )
        .into_response())
}

/// A downloaded attachment's plaintext as a streamed body.
pub(crate) fn plain_body(node: &Shared, att: &Attachment) -> Result<Body, ApiError> {
    let mut chunks = node.files.open_plain(att)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
    tokio::task::spawn_blocking(move || {
        while let Some(c) = chunks.next_chunk() {
            let item = c.map_err(|e| std::io::Error::other(e.to_string()));
            let stop = item.is_err();
            if tx.blocking_send(item).is_err() || stop {
                return;
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok(Body::from_stream(stream))
}

/// An image's thumbnail (JPEG), checked before it is handed out.
async fn thumb(State(node): State<Shared>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let (att, _) = attachment_of(&node, &id).await?;
    Ok((
        [(header::CONTENT_TYPE, "image/jpeg")],
        checked_thumb(att).await?,
    )
        .into_response())
}

/// An attachment's thumbnail (JPEG), checked before it is handed out.
pub(crate) async fn checked_thumb(att: Attachment) -> Result<Vec<u8>, ApiError> {
    let t = att
        .thumb
        .ok_or_else(|| ApiError::not_found("this attachment has no thumbnail"))?;
    let checked = t.clone();
    tokio::task::spawn_blocking(move || crate::media::check_thumbnail(&checked))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::bad_request(format!("thumbnail refused: {e}")))?;
    Ok(t)
}

async fn auto_get(State(node): State<Shared>) -> Json<AutoDownload> {
    Json(AutoDownload {
        bytes: node.files.auto_download(),
    })
}

async fn auto_set(
    State(node): State<Shared>,
    JsonBody(b): JsonBody<AutoDownload>,
) -> Result<Json<AutoDownload>, ApiError> {
    node.files.set_auto_download(b.bytes).await?;
    Ok(Json(b))
}

impl From<FilesError> for ApiError {
    fn from(e: FilesError) -> Self {
        use axum::http::StatusCode;
        let status = match &e {
            FilesError::File(_)
            | FilesError::Media(_)
            | FilesError::ImageTooLarge(_)
            | FilesError::WrongKind { .. } => StatusCode::BAD_REQUEST,
            FilesError::Unavailable(_) => StatusCode::BAD_GATEWAY,
            FilesError::NotHere => StatusCode::CONFLICT,
            FilesError::Io(_) | FilesError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}
