//! Control API routes for contacts and one-to-one chat: friend requests
//! (`/v1/contacts/...`) and messages (`/v1/chat/...`). The handlers only parse
//! and answer; the work is in [`crate::chat::Chat`].

use super::prelude::*;
use weft_protocol::{profile::normalize_handle, AccountId, WeftLink};

use crate::chat::{
    Among, ChatError, ContactView, ConversationView, MessageView, RequestView, MIN_PREFIX,
};

/// The contacts and chat routes.
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1/contacts", get(contacts_list))
        .route("/v1/contacts/requests", get(contacts_requests))
        .route("/v1/contacts/add", post(contacts_add))
        .route("/v1/contacts/{action}", post(contacts_action))
        .route("/v1/chat/send", post(chat_send))
        .route("/v1/chat/log", get(chat_log))
        .route("/v1/chat/list", get(chat_list))
        .route("/v1/chat/recall", post(chat_recall))
}

// Request bodies list their fields in alphabetical order: that is the order
// `weft` has always sent them in (it built them as `serde_json::Value`).

/// `POST /v1/contacts/add` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct AddContact {
    /// Greeting shown with the request.
    #[serde(default)]
    pub greeting: String,
    /// Account id, `weft://` link or handle.
    pub target: String,
}

/// `POST /v1/contacts/{accept,reject,block,delete,remark}` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct ContactBody {
    /// Account id, link, remark or name.
    pub contact: String,
    /// New remark (`remark` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    /// Remove the remark (`remark` only, instead of `remark`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub clear: bool,
}

/// `POST /v1/chat/send` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct SendBody {
    /// `@all` (groups, admins only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
    /// Members to mention (groups only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
    /// Message id to quote.
    pub reply_to: Option<String>,
    /// Text.
    pub text: String,
    /// Contact or group.
    pub to: String,
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
#[derive(Debug, Serialize, Deserialize)]
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
    JsonBody(b): JsonBody<AddContact>,
) -> Result<Json<ContactView>, ApiError> {
    Ok(Json(add_contact(&node, &b.target, &b.greeting).await?))
}

/// Sends a friend request to `target`: an account id, a `weft://` link, a
/// handle, or someone we know or see nearby by name or short id.
pub(crate) async fn add_contact(
    node: &Shared,
    target: &str,
    greeting: &str,
) -> Result<ContactView, ApiError> {
    let target = target.trim();
    let is_id = target.parse::<AccountId>().is_ok() || target.parse::<WeftLink>().is_ok();
    // Someone we know already (a remark, a name, a short id) or someone on
    // the nearby list (name or short id) is taken before a DHT handle lookup.
    let local = if is_id {
        None
    } else {
        known_or_nearby(node, target)?
    };
    // A handle is resolved through the DHT; an account found nearby brings its card.
    let (target, hint) = if let Some(account) = local {
        let hint = node.nearby.card_of(&account);
        (account.to_string(), hint)
    } else if !is_id && normalize_handle(target).is_ok() {
        let found = crate::nearby::find_handle(&node.net, target)
            .await
            .map_err(|e| ApiError::not_found(e.to_string()))?;
        (found.account_id.clone(), found.card)
    } else {
        let hint = target
            .parse::<AccountId>()
            .ok()
            .and_then(|a| node.nearby.card_of(&a));
        (target.to_string(), hint)
    };
    Ok(node.chat.add_contact(&target, greeting, hint).await?)
}

/// The account `typed` names among our contacts (remark, name, short id)
/// or the people on the nearby list (name, short id); `None` if nobody.
fn known_or_nearby(node: &Shared, typed: &str) -> Result<Option<AccountId>, ApiError> {
    match node.chat.resolve_among(typed, Among::Anyone) {
        Ok(a) => return Ok(Some(a)),
        Err(ChatError::UnknownContact(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let lower = typed.to_lowercase();
    let long_enough = typed.chars().count() >= MIN_PREFIX;
    let people = node.nearby.list();
    let by_name: Vec<_> = people
        .iter()
        .filter(|p| p.name.to_lowercase() == lower)
        .collect();
    let by_prefix: Vec<_> = people
        .iter()
        .filter(|p| long_enough && p.account_id.starts_with(typed))
        .collect();
    for found in [by_name, by_prefix] {
        match found.as_slice() {
            [] => continue,
            [one] => return Ok(one.account_id.parse().ok()),
            many => {
                let list: Vec<String> = many
                    .iter()
                    .map(|p| {
                        format!(
                            "{} {}",
                            p.account_id.chars().take(8).collect::<String>(),
                            p.name
                        )
                    })
                    .collect();
                return Err(ApiError::ambiguous(format!(
                    "`{}` could be anyone of {} nearby; use the id",
                    typed.chars().take(80).collect::<String>(),
                    list.join(", ")
                )));
            }
        }
    }
    Ok(None)
}

/// Answers the contact as it now is (`accept`, `block`, `remark`) or `{}`
/// (`reject`, `delete`).
async fn contacts_action(
    State(node): State<Shared>,
    Path(action): Path<String>,
    JsonBody(b): JsonBody<ContactBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let chat = &node.chat;
    match action.as_str() {
        "accept" => sorted(&chat.accept(&b.contact).await?),
        "block" => sorted(&chat.block(&b.contact).await?),
        "remark" => {
            let r = match (b.remark.as_deref(), b.clear) {
                (Some(r), false) => Some(r),
                (None, true) => None,
                _ => {
                    return Err(ApiError::bad_request(
                        "remark needs either a `remark` or `clear: true`",
                    ))
                }
            };
            sorted(&chat.remark(&b.contact, r).await?)
        }
        "unblock" => {
            chat.unblock(&b.contact).await?;
            sorted(&Done {})
        }
        "reject" => {
            chat.reject(&b.contact).await?;
            sorted(&Done {})
        }
        "delete" => {
            chat.delete(&b.contact).await?;
            sorted(&Done {})
        }
        _ => Err(ApiError::not_found("no such contacts action")),
    }
}

async fn chat_send(
    State(node): State<Shared>,
    JsonBody(b): JsonBody<SendBody>,
) -> Result<Json<Created>, ApiError> {
    Ok(Json(Created {
        id: send(&node, &b).await?,
    }))
}

/// Sends a text to a contact or a group; the new message's id.
pub(crate) async fn send(node: &Shared, b: &SendBody) -> Result<String, ApiError> {
    let reply_to = match b.reply_to.as_deref() {
        Some(r) => Some(short_id::message(node, r)?),
        None => None,
    };
    if node.groups.find(&b.to)?.is_some() {
        let reply_to = match reply_to {
            Some(r) => Some(
                r.parse::<weft_protocol::chat::MsgId>()
                    .map_err(|e| ApiError::bad_request(e.to_string()))?,
            ),
            None => None,
        };
        let out = crate::group::Outgoing {
            text: &b.text,
            reply_to,
            mentions: &b.mentions,
            all: b.all,
        };
        let id = node.groups.send(&b.to, out).await?;
        return Ok(id.to_string());
    }
    if !b.mentions.is_empty() || b.all {
        return Err(ApiError::bad_request("mentions are for group messages"));
    }
    let id = node.chat.send(&b.to, &b.text, reply_to.as_deref()).await?;
    Ok(id.to_string())
}

/// A contact's log (`MessageView`s) or a group's (`GroupMessageView`s,
/// which add the sender's name, mentions and read counts).
async fn chat_log(
    State(node): State<Shared>,
    Params(q): Params<LogQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if node.groups.find(&q.with)?.is_some() {
        let mut log = node.groups.log(&q.with, limit).await?;
        for m in &mut log {
            if let Some(a) = m.attachment.as_mut() {
                node.files.fill(a);
            }
        }
        return serde_json::to_value(log)
            .map(Json)
            .map_err(ApiError::internal);
    }
    let mut log: Vec<MessageView> = node.chat.log(&q.with, limit).await?;
    for m in &mut log {
        if let Some(a) = m.attachment.as_mut() {
            node.files.fill(a);
        }
    }
    serde_json::to_value(log)
        .map(Json)
        .map_err(ApiError::internal)
}

async fn chat_list(State(node): State<Shared>) -> Result<Json<Vec<ConversationView>>, ApiError> {
    Ok(Json(conversations(&node)?))
}

/// One-to-one conversations and service accounts, newest first.
pub(crate) fn conversations(node: &Shared) -> Result<Vec<ConversationView>, ApiError> {
    let mut list = node.chat.conversations()?;
    // Service accounts' posts show as conversations, as in WeChat.
    for c in node.oa.service_conversations() {
        list.push(ConversationView {
            account_id: c.account_id,
            name: c.name,
            last_text: c.last_text,
            last_at: c.last_at,
            unread: 0,
        });
    }
    list.sort_by_key(|c| std::cmp::Reverse(c.last_at));
    Ok(list)
}

async fn chat_recall(
    State(node): State<Shared>,
    JsonBody(b): JsonBody<RecallBody>,
) -> Result<Json<Done>, ApiError> {
    recall(&node, &b.id).await?;
    Ok(Json(Done {}))
}

/// Recalls one of our messages, 1:1 or in a group (id or unique prefix).
pub(crate) async fn recall(node: &Shared, id: &str) -> Result<(), ApiError> {
    let id = short_id::message(node, id)?;
    if let Ok(mid) = id.parse::<weft_protocol::chat::MsgId>() {
        if node.groups.message_group(&mid)?.is_some() {
            node.groups.recall(&mid).await?;
            return Ok(());
        }
    }
    node.chat.recall(&id).await?;
    Ok(())
}
