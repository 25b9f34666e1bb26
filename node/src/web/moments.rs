//! Moments: the feed with pictures, likes and comments, and a composer
//! with the audience (all friends, only some, all but some; friends or tags).

use super::prelude::*;
use weft_protocol::moments::{ReactionContent, MAX_IMAGES, MAX_IMAGE_BYTES};

use crate::moments::Audience;

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/moments", get(page))
        .route("/moments/post", post(new_post))
        .route(
            "/moments/image",
            post(stage).layer(DefaultBodyLimit::max(MAX_IMAGE_BYTES + 1024)),
        )
        .route("/moments/react", post(react))
        .route("/moments/{post}/images/{n}", get(image))
}

async fn page(State(node): State<Shared>, Lang(loc): Lang) -> Response {
    let me = node.identity.account_id.to_string();
    let feed = match node.moments.feed(50) {
        Ok(f) => f,
        Err(e) => return failed(loc, "/app/chats", &e.to_string()),
    };
    let live = html! {
        @if feed.is_empty() {
            (empty(&loc.t("moments-empty")))
        } @else {
            ol.feed #feed {
                @for p in &feed {
                    li.post #{ "p-" (p.id) } {
                        p.author { (user(&p.author_name)) " " (time(p.at.saturating_mul(1000))) }
                        @if !p.text.is_empty() { p.text { (user(&p.text)) } }
                        @if let Some(l) = &p.link { p.link { (user(&l.url)) } }
                        @if !p.images.is_empty() {
                            div.images {
                                @for (n, _) in p.images.iter().enumerate() {
                                    img src={ "/app/moments/" (p.id) "/images/" (n) }
                                        alt=(loc.t1("moments-image", "n", n + 1)) loading="lazy";
                                }
                            }
                        }
                        div.likes {
                            (loc.t1("moments-likes", "count", p.likes.len()))
                            " "
                            @if p.likes.contains(&me) {
                                (button("/app/moments/react", &[("post", &p.id), ("what", "unlike")], &loc.t("moments-unlike")))
                            } @else {
                                (button("/app/moments/react", &[("post", &p.id), ("what", "like")], &loc.t("moments-like")))
                            }
                        }
                        @if !p.comments.is_empty() {
                            ul.comments {
                                @for c in &p.comments {
                                    li { span.from { (user(&c.author_name)) } ": " (user(&c.text)) }
                                }
                            }
                        }
                        form.inline method="post" action="/app/moments/react" {
                            input type="hidden" name="post" value=(p.id);
                            input type="hidden" name="what" value="comment";
                            input name="text" required maxlength="1000" aria-label=(loc.t("moments-comment-label"));
                            button type="submit" { (loc.t("moments-comment")) }
                        }
                    }
                }
            }
        }
    };
    let fixed = html! {
        section #compose {
            h2 { (loc.t("moments-new")) }
            form method="post" action="/app/moments/post" {
                label for="moment" { (loc.t("moments-text")) }
                textarea #moment name="text" rows="3" maxlength="4000" {}
                label for="audience" { (loc.t("moments-audience")) }
                select #audience name="audience" {
                    option value="all" { (loc.t("moments-audience-all")) }
                    option value="only" { (loc.t("moments-audience-only")) }
                    option value="except" { (loc.t("moments-audience-except")) }
                }
                label for="who" { (loc.t("moments-who")) }
                input #who name="who" maxlength="2000";
                label for="photos" { (loc.t("moments-photos")) }
                input #photos type="file" accept="image/png,image/jpeg,image/gif,image/webp" multiple
                    data-max=(MAX_IMAGES) data-too-many=(loc.t1("moments-too-many", "n", MAX_IMAGES));
                input type="hidden" name="images" value="";
                button type="submit" { (loc.t("moments-post")) }
            }
        }
    };
    Page {
        loc,
        title: loc.t("moments-title"),
        named: false,
        nav: "/app/moments",
        live,
        fixed: Some(fixed),
    }
    .render()
}

#[derive(Deserialize)]
struct PostForm {
    #[serde(default)]
    text: String,
    audience: String,
    #[serde(default)]
    who: String,
    /// Staged image ids, comma-separated (the script stages them first).
    #[serde(default)]
    images: String,
}

async fn stage(State(node): State<Shared>, Lang(loc): Lang, body: Bytes) -> Response {
    match crate::api::moments::stage_image(&node, &body).await {
        Ok(id) => axum::Json(crate::api::Stored {
            id,
            size: body.len(),
        })
        .into_response(),
        Err(e) => failed(loc, "/app/moments", &e.to_string()),
    }
}

async fn new_post(
    State(node): State<Shared>,
    Lang(loc): Lang,
    Form(f): Form<PostForm>,
) -> Response {
    let who: Vec<String> = f
        .who
        .split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    let audience = match f.audience.as_str() {
        "only" => Audience::Only(who),
        "except" => Audience::Except(who),
        _ => Audience::All,
    };
    let images: Vec<String> = f
        .images
        .split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .take(MAX_IMAGES + 1)
        .map(str::to_string)
        .collect();
    let r = node
        .moments
        .post(f.text.trim(), &images, None, &audience)
        .await
        .map(|_| ());
    done(loc, "/app/moments", r)
}

#[derive(Deserialize)]
struct ReactForm {
    post: String,
    what: String,
    #[serde(default)]
    text: String,
}

async fn react(State(node): State<Shared>, Lang(loc): Lang, Form(f): Form<ReactForm>) -> Response {
    let content = match f.what.as_str() {
        "like" => ReactionContent::Like,
        "unlike" => ReactionContent::Unlike,
        _ => ReactionContent::Comment {
            text: f.text.trim().to_string(),
            reply_to: None,
        },
    };
    let r = node.moments.react(&f.post, content).await.map(|_| ());
    done(loc, "/app/moments", r)
}

async fn image(State(node): State<Shared>, Path((post, n)): Path<(String, usize)>) -> Response {
    match node.moments.image(&post, n, &[]).await {
        Ok(bytes) => {
            let kind = infer::get(&bytes)
                .map(|t| t.mime_type())
                .filter(|m| m.starts_with("image/"))
                .unwrap_or("application/octet-stream");
            ([(header::CONTENT_TYPE, kind)], bytes).into_response()
        }
        Err(e) => crate::api::ApiError::from(e).into_response(),
    }
}
