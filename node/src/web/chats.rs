//! Chats: the conversation list (contacts, groups, service accounts) and a
//! conversation with bubbles, receipts, replies, recall and the composer.

use super::prelude::*;

use crate::api::chat::SendBody;

/// The composer's emoji panel (any other emoji can be typed or pasted).
const EMOJI: &[&str] = &[
    "😀", "😂", "🥲", "😊", "😍", "😘", "😎", "🤔", "😴", "😭", "😡", "👍", "👎", "👏", "🙏", "💪",
    "🎉", "❤️", "💔", "🔥", "🌹", "☕", "🍜", "🧧",
];

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/chats", get(list))
        .route("/chat/{with}", get(conversation))
        .route("/chat/{with}/send", post(send))
        .route("/chat/{with}/recall", post(recall))
}

/// One row of the list, whatever kind of conversation it is.
struct Row {
    id: String,
    href: String,
    name: String,
    last: String,
    at: u64,
    unread: usize,
    note: Option<String>,
}

async fn list(State(node): State<Shared>, Lang(loc): Lang) -> Response {
    let mut rows = Vec::new();
    let mut problem = None;
    // Service accounts show among the chats (as in WeChat) and open their own page.
    let services: std::collections::HashSet<String> = node
        .oa
        .service_conversations()
        .into_iter()
        .map(|c| c.account_id)
        .collect();
    match crate::api::chat::conversations(&node) {
        Ok(list) => rows.extend(list.into_iter().map(|c| Row {
            href: if services.contains(&c.account_id) {
                format!("/app/oa/{}", c.account_id)
            } else {
                format!("/app/chat/{}", c.account_id)
            },
            id: c.account_id,
            name: c.name,
            last: c.last_text,
            at: c.last_at,
            unread: c.unread,
            note: None,
        })),
        Err(e) => problem = Some(e.to_string()),
    }
    match node.groups.list() {
        Ok(groups) => rows.extend(groups.into_iter().map(|g| Row {
            note: Some(loc.t1("chats-members", "count", g.members)),
            href: format!("/app/chat/{}", g.id),
            id: g.id,
            name: g.name,
            last: g.last_text,
            at: g.last_at,
            unread: g.unread,
        })),
        Err(e) => problem = Some(e.to_string()),
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.at));
    let live = html! {
        @if let Some(p) = problem { p.problem role="alert" { (user(&p)) } }
        @if rows.is_empty() {
            (empty(&loc.t("chats-empty")))
        } @else {
            ul.list #chats {
                @for r in &rows {
                    li {
                        a.row href=(r.href) data-id=(r.id) {
                            span.name { (user(&r.name)) }
                            @if let Some(n) = &r.note { span.note { (n) } }
                            @if r.unread > 0 {
                                span.badge aria-label=(loc.t1("chats-unread", "count", r.unread)) { (r.unread) }
                            }
                            span.last { (user(&r.last)) }
                            @if r.at > 0 { span.when { (time(r.at)) } }
                        }
                    }
                }
            }
        }
    };
    Page {
        loc,
        title: loc.t("chats-title"),
        named: false,
        nav: "/app/chats",
        live,
        fixed: None,
    }
    .render()
}

#[derive(Deserialize)]
struct ConvQuery {
    reply: Option<String>,
}

/// A message as a bubble shows it.
struct Bubble {
    id: String,
    mine: bool,
    /// A group message that mentions us (or everyone).
    mentioned: bool,
    from_name: Option<String>,
    text: String,
    at: u64,
    status: String,
    reply_to: Option<String>,
    attachment: Option<crate::files::AttachmentView>,
}

async fn conversation(
    State(node): State<Shared>,
    Lang(loc): Lang,
    Path(with): Path<String>,
    Query(q): Query<ConvQuery>,
) -> Response {
    let me = node.identity.account_id.to_string();
    let back = "/app/chats";
    let (title, bubbles) = match node.groups.find(&with) {
        Ok(Some(_)) => {
            let name = node
                .groups
                .list()
                .ok()
                .and_then(|l| l.into_iter().find(|g| g.id == with))
                .map(|g| g.name)
                .unwrap_or_else(|| short(&with));
            match node.groups.log(&with, 200).await {
                Ok(log) => (
                    name,
                    log.into_iter()
                        .map(|m| Bubble {
                            mine: m.from == me,
                            mentioned: m.from != me && (m.all || m.mentions.contains(&me)),
                            from_name: Some(m.name),
                            id: m.id,
                            text: m.text,
                            at: m.sent_at,
                            status: m.status,
                            reply_to: m.reply_to,
                            attachment: m.attachment,
                        })
                        .collect::<Vec<_>>(),
                ),
                Err(e) => return failed(loc, back, &e.to_string()),
            }
        }
        Ok(None) => {
            let name = node
                .chat
                .contacts()
                .ok()
                .and_then(|l| l.into_iter().find(|c| c.account_id == with))
                .map(|c| c.name)
                .unwrap_or_else(|| short(&with));
            match node.chat.log(&with, 200).await {
                Ok(log) => (
                    name,
                    log.into_iter()
                        .map(|m| Bubble {
                            mine: m.from == me,
                            mentioned: false,
                            from_name: None,
                            id: m.id,
                            text: m.text,
                            at: m.sent_at,
                            status: serde_json::to_value(m.status)
                                .ok()
                                .and_then(|v| v.as_str().map(str::to_string))
                                .unwrap_or_default(),
                            reply_to: m.reply_to,
                            attachment: m.attachment,
                        })
                        .collect::<Vec<_>>(),
                ),
                Err(e) => return failed(loc, back, &e.to_string()),
            }
        }
        Err(e) => return failed(loc, back, &e.to_string()),
    };
    let mut bubbles = bubbles;
    for b in &mut bubbles {
        if let Some(a) = b.attachment.as_mut() {
            node.files.fill(a);
        }
    }
    let reply = q.reply.filter(|r| r.len() <= 64);
    let live = html! {
        @if bubbles.is_empty() {
            (empty(&loc.t("conv-empty")))
        } @else {
            ol.messages #messages {
                @for b in &bubbles { (bubble(loc, &with, b, &bubbles)) }
            }
        }
    };
    let fixed = html! {
        form #composer method="post" action={ "/app/chat/" (with) "/send" } {
            @if let Some(r) = &reply {
                p.replying { (loc.t("conv-replying")) " " (user(&quote(&bubbles, r))) " "
                    a href={ "/app/chat/" (with) } { (loc.t("conv-cancel-reply")) } }
                input type="hidden" name="reply_to" value=(r);
            }
            label for="message" { (loc.t("composer-label")) }
            textarea #message name="text" rows="2" required maxlength="16000" {}
            details #emoji {
                summary { (loc.t("composer-emoji")) }
                @for e in EMOJI { button type="button" data-emoji=(e) { (e) } }
            }
            button type="submit" { (loc.t("composer-send")) }
        }
        // Files go up from the script (streamed, with progress); a browser
        // without it still chats.
        div #attach-bar data-upload={ "/app/chat/" (with) "/file" }
            data-max=(super::files::WEB_UPLOAD_MAX)
            data-too-large=(loc.t1("file-too-large", "mb", super::files::WEB_UPLOAD_MAX / (1024 * 1024))) {
            label for="attach" { (loc.t("composer-attach")) }
            input #attach type="file";
            button #record type="button" hidden data-stop=(loc.t("composer-stop")) { (loc.t("composer-record")) }
            progress #upload max="100" value="0" hidden aria-label=(loc.t("composer-uploading")) {}
        }
    };
    Page {
        loc,
        title,
        named: true,
        nav: "/app/chats",
        live,
        fixed: Some(fixed),
    }
    .render()
}

/// The start of the message `id` quotes, for a reply's header.
fn quote(all: &[Bubble], id: &str) -> String {
    all.iter()
        .find(|b| b.id == id)
        .map(|b| b.text.chars().take(60).collect())
        .unwrap_or_default()
}

fn bubble(loc: &Locale, with: &str, b: &Bubble, all: &[Bubble]) -> Markup {
    let recalled = b.status == "recalled";
    html! {
        li.bubble.mine[b.mine].theirs[!b.mine].mentioned[b.mentioned] #{ "m-" (b.id) } {
            @if let (Some(n), false) = (&b.from_name, b.mine) { span.from { (user(n)) } }
            @if let Some(r) = &b.reply_to {
                blockquote { (user(&quote(all, r))) }
            }
            @if recalled {
                p.recalled { (loc.t("msg-recalled")) }
            } @else {
                @if !b.text.is_empty() { p.text { (user(&b.text)) } }
                @if let Some(a) = &b.attachment {
                    (super::files::attachment(loc, &b.id, &format!("/app/chat/{with}"), a))
                }
            }
            div.meta {
                (time(b.at))
                @if b.mine && !recalled { " " span.status { (status(loc, &b.status)) } }
                @if !recalled {
                    " " a.reply href={ "/app/chat/" (with) "?reply=" (b.id) } { (loc.t("msg-reply")) }
                    @if b.mine {
                        " " (button(&format!("/app/chat/{with}/recall"), &[("id", &b.id)], &loc.t("msg-recall")))
                    }
                }
            }
        }
    }
}

fn status(loc: &Locale, s: &str) -> String {
    let key = match s {
        "sending" => "status-sending",
        "stored" => "status-stored",
        "delivered" => "status-delivered",
        "read" => "status-read",
        "failed" => "status-failed",
        _ => "status-sent",
    };
    loc.t(key)
}

#[derive(Deserialize)]
struct SendForm {
    text: String,
    reply_to: Option<String>,
}

async fn send(
    State(node): State<Shared>,
    Lang(loc): Lang,
    Path(with): Path<String>,
    Form(f): Form<SendForm>,
) -> Response {
    let (mentions, all) = mentions_in(&node, &with, &f.text);
    let body = SendBody {
        all,
        mentions,
        reply_to: f.reply_to.filter(|r| !r.is_empty()),
        text: f.text.trim_end().to_string(),
        to: with.clone(),
    };
    let r = crate::api::chat::send(&node, &body).await.map(|_| ());
    done(loc, &format!("/app/chat/{with}"), r)
}

/// In a group, the members a text names as `@Name` (their ids) and
/// whether it says `@all`, as the composer's mentions. Elsewhere none.
fn mentions_in(node: &Shared, with: &str, text: &str) -> (Vec<String>, bool) {
    let Ok(members) = node.groups.members(with) else {
        return (Vec::new(), false);
    };
    let lower = text.to_lowercase();
    let me = node.identity.account_id.to_string();
    let named = members
        .iter()
        .filter(|m| m.account_id != me && !m.name.is_empty())
        .filter(|m| lower.contains(&format!("@{}", m.name.to_lowercase())))
        .map(|m| m.account_id.clone())
        .collect();
    let all = lower.split(char::is_whitespace).any(|w| w == "@all");
    (named, all)
}

#[derive(Deserialize)]
struct RecallForm {
    id: String,
}

async fn recall(
    State(node): State<Shared>,
    Lang(loc): Lang,
    Path(with): Path<String>,
    Form(f): Form<RecallForm>,
) -> Response {
    let r = crate::api::chat::recall(&node, &f.id).await;
    done(loc, &format!("/app/chat/{with}"), r)
}
