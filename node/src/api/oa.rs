//! Control API routes for official accounts: the ones this node runs or
//! follows (`/v1/oa`), their posts (`/v1/oa/feed`), search, the question and
//! answer log with one account, and the actions under `/v1/oa/{action}`.
//! The work is in [`crate::oa::Oa`].

use super::prelude::*;
use weft_protocol::oa::{OaKind, Part};
use weft_protocol::AccountId;

use crate::chat::MIN_PREFIX;
/// The owner's or follower's log of questions and answers, as the service
/// keeps it; `Published` is what a publish answers.
pub use crate::oa::{LogEntry as OaMessageView, Published};
use crate::oa::{OaView, PostView};

/// The official-account routes.
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1/oa", get(oa_list))
        .route("/v1/oa/feed", get(oa_feed))
        .route("/v1/oa/search", get(oa_search))
        .route("/v1/oa/conversation", get(oa_conversation))
        .route("/v1/oa/{action}", post(oa_action))
}

/// `GET /v1/oa/feed` query.
#[derive(Debug, Deserialize)]
pub struct FeedQuery {
    /// Include service accounts' posts too.
    #[serde(default)]
    pub all: bool,
}

/// `GET /v1/oa/conversation` query.
#[derive(Debug, Deserialize)]
pub struct OaQuery {
    /// The official account.
    pub oa: String,
}

/// `GET /v1/oa/search` query.
#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    /// Words of the name.
    pub q: String,
}

/// Body of the `POST /v1/oa/*` actions; each action reads the fields it
/// needs and answers 400 naming a missing one. Empty fields are left out
/// when sent, so each action's body carries only what it uses.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct OaBody {
    /// `subscription` or `service` (create).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name (create) or verifier name (verify).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description (create).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The official account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oa: Option<String>,
    /// Title (publish).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Text (publish, message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Link (publish).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Other languages (publish).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
    /// Image blob ids, hex (publish).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// Keyword (autoreply).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyword: Option<String>,
    /// Reply (autoreply).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// Menu items (menu).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<String>>,
    /// Certificate (certify).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// The follower answered (reply): an id, or a prefix of at least six
    /// characters of someone who asked the account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follower: Option<String>,
}

/// `POST /v1/oa/message` answer: the account's automatic reply.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OaAnswer {
    /// The reply text.
    pub reply: String,
}

/// `POST /v1/oa/reply` answer: the follower's node took the answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OaReplied {
    /// The follower's whole account id.
    pub follower: String,
}

/// `POST /v1/oa/verify` answer: a verification certificate to hand to the
/// account's owner (who attaches it with `certify`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IssuedCertificate {
    /// The certificate, hex.
    pub certificate: String,
}

/// The whole id of the official account `typed` names: an id as it is;
/// else, among the accounts we run or follow, a name (case-insensitive) or
/// an id prefix of at least six characters; else the exact name of an
/// account `oa search` finds (for `follow`, any such account; otherwise one
/// we follow). Several matches are refused with the candidates listed.
async fn resolve(node: &Shared, typed: &str, search: bool) -> Result<String, ApiError> {
    let typed = typed.trim();
    if typed.parse::<AccountId>().is_ok() {
        return Ok(typed.to_string());
    }
    let lower = typed.to_lowercase();
    let known = node.oa.list().await?;
    let long_enough = typed.chars().count() >= MIN_PREFIX;
    let by_name: Vec<&OaView> = known
        .iter()
        .filter(|v| v.name.to_lowercase() == lower)
        .collect();
    let by_prefix: Vec<&OaView> = known
        .iter()
        .filter(|v| long_enough && v.account_id.starts_with(typed))
        .collect();
    for found in [by_name, by_prefix] {
        if let Some(id) = one_of(typed, &found)? {
            return Ok(id);
        }
    }
    // A followed account we hold no post of yet is known only by id here;
    // its signed profile (and so its name) comes from a search.
    if !records_words_empty(typed) {
        let found = node.oa.search(typed).await.unwrap_or_default();
        let exact: Vec<&OaView> = found
            .iter()
            .filter(|v| v.name.to_lowercase() == lower && (search || v.following || v.own))
            .collect();
        if let Some(id) = one_of(typed, &exact)? {
            return Ok(id);
        }
    }
    let shown: String = typed.chars().take(80).collect();
    Err(ApiError::not_found(format!(
        "no official account `{shown}` among the ones you run or follow; find it with `weft oa search WORDS`, then use its name or id"
    )))
}

/// Whether `typed` has no searchable word (search refuses those).
fn records_words_empty(typed: &str) -> bool {
    crate::net::records::name_words(typed).is_empty()
}

/// The one account in `found`, none, or an ambiguity error listing them.
fn one_of(typed: &str, found: &[&OaView]) -> Result<Option<String>, ApiError> {
    match found {
        [] => Ok(None),
        [one] => Ok(Some(one.account_id.clone())),
        many => {
            let list: Vec<String> = many
                .iter()
                .map(|v| {
                    format!(
                        "{} {}",
                        v.account_id.chars().take(8).collect::<String>(),
                        v.name
                    )
                })
                .collect();
            Err(ApiError::ambiguous(format!(
                "`{}` could be {}; use the id",
                typed.chars().take(80).collect::<String>(),
                list.join(", ")
            )))
        }
    }
}

async fn oa_list(State(node): State<Shared>) -> Result<Json<Vec<OaView>>, ApiError> {
    Ok(Json(node.oa.list().await?))
}

async fn oa_feed(
    State(node): State<Shared>,
    Params(q): Params<FeedQuery>,
) -> Result<Json<Vec<PostView>>, ApiError> {
    let kind = (!q.all).then_some(OaKind::Subscription);
    let mut posts = node.oa.feed(kind)?;
    // One time unit across the API: Unix milliseconds (broadcasts carry seconds).
    for p in &mut posts {
        p.published_at = p.published_at.saturating_mul(1000);
    }
    Ok(Json(posts))
}

async fn oa_search(
    State(node): State<Shared>,
    Params(q): Params<SearchQuery>,
) -> Result<Json<Vec<OaView>>, ApiError> {
    Ok(Json(node.oa.search(&q.q).await?))
}

async fn oa_conversation(
    State(node): State<Shared>,
    Params(q): Params<OaQuery>,
) -> Result<Json<Vec<OaMessageView>>, ApiError> {
    let oa = resolve(&node, &q.oa, false).await?;
    Ok(Json(node.oa.conversation(&oa)?))
}

/// Runs one `/v1/oa/{action}`; each action answers its own typed reply (or
/// `{}`), sent with sorted keys as it always was.
async fn oa_action(
    State(node): State<Shared>,
    Path(action): Path<String>,
    JsonBody(mut b): JsonBody<OaBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let need = |v: Option<String>, what: &str| {
        v.ok_or_else(|| ApiError::bad_request(format!("`{action}` needs `{what}`")))
    };
    // Names and short ids become whole ids here; `verify` names any account.
    if action != "verify" && action != "create" {
        if let Some(typed) = b.oa.take() {
            b.oa = Some(resolve(&node, &typed, action == "follow").await?);
        }
    }
    let oa = &node.oa;
    match action.as_str() {
        "create" => {
            let kind = match need(b.kind, "kind")?.as_str() {
                "subscription" => OaKind::Subscription,
                "service" => OaKind::Service,
                other => {
                    return Err(ApiError::bad_request(format!(
                        "kind `{other}`: use subscription or service"
                    )))
                }
            };
            let v = oa
                .create(
                    kind,
                    &need(b.name, "name")?,
                    b.description.as_deref().unwrap_or(""),
                )
                .await?;
            sorted(&v)
        }
        "follow" => {
            let target = need(b.oa, "oa")?;
            let owned = target
                .parse::<AccountId>()
                .ok()
                .map(|a| node.store.owned_oa(&a))
                .transpose()?
                .flatten();
            if owned.is_some() {
                return Err(ApiError::bad_request(
                    "that is your own account; its posts are in `weft oa feed` already",
                ));
            }
            oa.follow(&target).await?;
            sorted(&Done {})
        }
        "unfollow" => {
            oa.unfollow(&need(b.oa, "oa")?).await?;
            sorted(&Done {})
        }
        "publish" => {
            let text = need(b.text, "text")?;
            let title = b
                .title
                .unwrap_or_else(|| text.lines().next().unwrap_or("").chars().take(60).collect());
            let images = b
                .images
                .iter()
                .map(|i| {
                    weft_protocol::blob::parse_blob_hex(i)
                        .ok_or_else(|| ApiError::bad_request(format!("`{i}` is not a blob id")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let published = oa
                .publish(&need(b.oa, "oa")?, &title, &text, b.link, b.parts, images)
                .await?;
            sorted(&published)
        }
        "message" => {
            let reply = oa
                .message(&need(b.oa, "oa")?, &need(b.text, "text")?)
                .await?;
            sorted(&OaAnswer { reply })
        }
        "reply" => {
            let to = oa
                .reply(
                    &need(b.oa, "oa")?,
                    &need(b.follower, "follower")?,
                    &need(b.text, "text")?,
                )
                .await?;
            sorted(&OaReplied {
                follower: to.to_string(),
            })
        }
        "autoreply" => {
            let kw = (need(b.keyword, "keyword")?, need(b.reply, "reply")?);
            oa.set_replies(&need(b.oa, "oa")?, Some(kw), None).await?;
            sorted(&Done {})
        }
        "menu" => {
            let items = b
                .items
                .ok_or_else(|| ApiError::bad_request("`menu` needs `items`"))?;
            oa.set_replies(&need(b.oa, "oa")?, None, Some(items))
                .await?;
            sorted(&Done {})
        }
        "verify" => {
            let certificate = oa
                .issue_verification(&need(b.oa, "oa")?, b.name.as_deref().unwrap_or(&node.name))
                .await?;
            sorted(&IssuedCertificate { certificate })
        }
        "certify" => {
            oa.attach_verification(&need(b.oa, "oa")?, &need(b.certificate, "certificate")?)
                .await?;
            sorted(&Done {})
        }
        _ => Err(ApiError::not_found("no such official-account action")),
    }
}
