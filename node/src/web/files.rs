//! Attachments in the web app: sending a photo, voice note, video or file
//! from the browser (the body is streamed to the encrypted file layer, at
//! most [`WEB_UPLOAD_MAX`]), showing them inline, downloading with progress.

use super::prelude::*;
use futures::{StreamExt, TryStreamExt};

use crate::api::files::{attachment_of, checked_thumb, plain_body, send_file_from, SendFileQuery};
use crate::files::AttachmentView;

/// The largest file the browser may send (the command line sends up to
/// 4 GiB; a browser tab holds what it uploads in memory and cannot resume).
pub const WEB_UPLOAD_MAX: u64 = 32 * 1024 * 1024;

/// A refused upload up to this size is read to its end (and dropped) so
/// the browser gets the reason; a larger one is cut off.
const DRAIN_MAX: u64 = 4 * WEB_UPLOAD_MAX;

/// Types a browser may show inline from our origin. Everything else is a
/// download (`text/html` or SVG from a peer must never render as a page).
const INLINE: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "audio/ogg",
    "audio/webm",
    "audio/mpeg",
    "audio/mp4",
    "video/mp4",
    "video/webm",
];

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/chat/{with}/file", post(upload))
        .route("/file/{msg}", get(file))
        .route("/file/{msg}/thumb", get(thumb))
        .route("/file/{msg}/fetch", post(fetch))
}

#[derive(Deserialize)]
struct UploadQuery {
    kind: String,
    name: String,
}

async fn upload(
    State(node): State<Shared>,
    headers: HeaderMap,
    Path(with): Path<String>,
    Query(q): Query<UploadQuery>,
    body: Body,
) -> Response {
    let loc = locale(&headers);
    let back = format!("/app/chat/{with}");
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n <= WEB_UPLOAD_MAX => {}
        Some(n) if n <= DRAIN_MAX => {
            // Read what the browser is sending anyway, so it sees the
            // answer instead of a broken connection.
            let mut s = body.into_data_stream();
            while let Some(Ok(_)) = s.next().await {}
            return failed(loc, &back, &too_large(loc));
        }
        _ => return failed(loc, &back, &too_large(loc)),
    }
    // The length header is the sender's word: count what really comes.
    let mut seen = 0u64;
    let stream = body
        .into_data_stream()
        .map_err(|e| std::io::Error::other(e.to_string()))
        .map(move |r| {
            let b = r?;
            seen += b.len() as u64;
            if seen > WEB_UPLOAD_MAX {
                return Err(std::io::Error::other("the upload is larger than it said"));
            }
            Ok(b)
        });
    let kind = match q.kind.as_str() {
        "image" | "voice" | "video" => q.kind,
        _ => "file".to_string(),
    };
    let sq = SendFileQuery {
        to: with,
        kind,
        name: q.name,
        caption: String::new(),
        reply_to: None,
        original: false,
        wait: Some(0),
    };
    let r = send_file_from(&node, &sq, tokio_util::io::StreamReader::new(stream))
        .await
        .map(|_| ());
    done(loc, &back, r)
}

fn too_large(loc: &Locale) -> String {
    loc.t1("file-too-large", "mb", WEB_UPLOAD_MAX / (1024 * 1024))
}

async fn file(State(node): State<Shared>, Lang(loc): Lang, Path(msg): Path<String>) -> Response {
    let (att, _) = match attachment_of(&node, &msg).await {
        Ok(a) => a,
        Err(e) => return failed(loc, "/app/chats", &e.to_string()),
    };
    let sniffed = node.files.sniffed(&att.file).unwrap_or_default();
    let body = match plain_body(&node, &att) {
        Ok(b) => b,
        Err(e) => return failed(loc, "/app/chats", &e.to_string()),
    };
    let mut res = body.into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&att.size.to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if INLINE.contains(&sniffed.as_str()) {
        if let Ok(v) = HeaderValue::from_str(&sniffed) {
            h.insert(header::CONTENT_TYPE, v);
        }
    } else {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        // The name is already safe (media::safe_name); quote it plainly.
        let name: String = att
            .name
            .chars()
            .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\' || *c == ' ')
            .collect();
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
    }
    res
}

async fn thumb(State(node): State<Shared>, Path(msg): Path<String>) -> Response {
    let r = match attachment_of(&node, &msg).await {
        Ok((att, _)) => checked_thumb(att).await,
        Err(e) => Err(e),
    };
    match r {
        Ok(jpeg) => ([(header::CONTENT_TYPE, "image/jpeg")], jpeg).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct FetchForm {
    back: Option<String>,
}

async fn fetch(
    State(node): State<Shared>,
    Lang(loc): Lang,
    Path(msg): Path<String>,
    axum::Form(f): axum::Form<FetchForm>,
) -> Response {
    let back = f
        .back
        .filter(|b| b.starts_with("/app/") && !b.contains("//"))
        .unwrap_or_else(|| "/app/chats".into());
    let r = match attachment_of(&node, &msg).await {
        Ok((att, sources)) => node
            .files
            .download(&att, &sources)
            .await
            .map_err(crate::api::ApiError::from),
        Err(e) => Err(e),
    };
    done(loc, &back, r)
}

/// A byte count for people.
fn size(loc: &Locale, bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        loc.t1(
            "file-size-mb",
            "n",
            format!("{:.1}", bytes as f64 / (1024.0 * 1024.0)),
        )
    } else {
        loc.t1("file-size-kb", "n", bytes.div_ceil(1024))
    }
}

/// An attachment inside a bubble: shown inline once here, else a download
/// button with a progress bar the script moves.
pub(super) fn attachment(loc: &Locale, msg: &str, back: &str, a: &AttachmentView) -> Markup {
    let src = format!("/app/file/{msg}");
    html! {
        div.attachment {
            @if a.local {
                @match a.kind.as_str() {
                    "image" => a href=(src) { img.photo src=(src) alt=(a.name) width=[a.width] height=[a.height]; },
                    "voice" => audio controls preload="metadata" src=(src) {},
                    "video" => video controls preload="metadata" src=(src) {},
                    _ => a href=(src) download=(a.name) { (user(&a.name)) " " (size(loc, a.size)) },
                }
            } @else {
                @if a.kind == "image" && a.thumb.is_some() {
                    img.thumb src={ (src) "/thumb" } alt=(a.name);
                }
                p { (user(&a.name)) " " (size(loc, a.size)) }
                form.inline method="post" action={ (src) "/fetch" } {
                    input type="hidden" name="back" value=(back);
                    button type="submit" { (loc.t("file-download")) }
                }
                progress data-file=(a.blob) max="100" value="0" aria-label=(loc.t("file-progress")) {}
            }
        }
    }
}
