//! Control API routes for group chats (`/v1/groups/...`). Sending and
//! reading go through the chat routes (`/v1/chat/send`, `/v1/chat/log`),
//! which take a group wherever they take a contact. The handlers only parse
//! and answer; the work is in [`crate::group::Groups`].

use super::prelude::*;
use weft_protocol::group::log::Op;

use crate::group::{GroupView, MemberView, RequestView};

/// The group routes.
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1/groups", get(list))
        .route("/v1/groups/create", post(create))
        .route("/v1/groups/members", get(members))
        .route("/v1/groups/requests", get(requests))
        .route("/v1/groups/{action}", post(action))
}

/// `POST /v1/groups/create` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct CreateGroup {
    /// Friends to add (ids, names, remarks).
    #[serde(default)]
    pub members: Vec<String>,
    /// Group name.
    pub name: String,
}

/// `POST /v1/groups/{action}` body: `group` plus what the action needs.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct GroupAction {
    /// Group id or name (not for `join`).
    #[serde(default)]
    pub group: String,
    /// `add`: friends to add.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// `remove`, `admin`, `demote`, `approve`: the member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// `rename`, `nickname`: the name; `notice`: the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// `settings`: approval required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<bool>,
    /// `join`: the link; `link` with `revoke`: the link to revoke.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// `mute`: on or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub muted: Option<bool>,
}

/// `GET /v1/groups/members` and `/requests` query.
#[derive(Debug, Deserialize)]
pub struct GroupQuery {
    /// Group id or name.
    pub group: String,
}

/// `link` answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct LinkReply {
    /// The `weft://group/...` link.
    pub link: String,
    /// When it stops working, Unix ms.
    pub expires_at: u64,
}

async fn list(State(node): State<Shared>) -> Result<Json<Vec<GroupView>>, ApiError> {
    Ok(Json(node.groups.list()?))
}

async fn create(
    State(node): State<Shared>,
    JsonBody(b): JsonBody<CreateGroup>,
) -> Result<Json<Created>, ApiError> {
    let id = node.groups.create(&b.name, &b.members).await?;
    Ok(Json(Created { id: id.to_string() }))
}

async fn members(
    State(node): State<Shared>,
    Params(q): Params<GroupQuery>,
) -> Result<Json<Vec<MemberView>>, ApiError> {
    Ok(Json(node.groups.members(&q.group)?))
}

async fn requests(
    State(node): State<Shared>,
    Params(q): Params<GroupQuery>,
) -> Result<Json<Vec<RequestView>>, ApiError> {
    Ok(Json(node.groups.requests(&q.group)?))
}

fn need<T>(v: Option<T>, what: &str) -> Result<T, ApiError> {
    v.ok_or_else(|| ApiError::bad_request(format!("this action needs `{what}`")))
}

async fn action(
    State(node): State<Shared>,
    Path(action): Path<String>,
    JsonBody(b): JsonBody<GroupAction>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let g = &node.groups;
    let group = b.group.as_str();
    match action.as_str() {
        "add" => g.add(group, &b.members).await?,
        "remove" => g.remove(group, &need(b.member, "member")?).await?,
        "admin" => g.admin(group, &need(b.member, "member")?, false).await?,
        "demote" => g.admin(group, &need(b.member, "member")?, true).await?,
        "leave" => g.leave(group).await?,
        "rename" => {
            let name = need(b.text, "text")?;
            g.set(
                group,
                Op::Rename {
                    name: name.trim().into(),
                },
            )
            .await?
        }
        "notice" => {
            g.set(
                group,
                Op::Notice {
                    text: need(b.text, "text")?,
                },
            )
            .await?
        }
        "nickname" => {
            g.set(
                group,
                Op::Nickname {
                    name: need(b.text, "text")?,
                },
            )
            .await?
        }
        "settings" => {
            let approval = need(b.approval, "approval")?;
            g.set(group, Op::Settings { approval }).await?
        }
        "mute" => g.mute(group, b.muted.unwrap_or(true)).await?,
        "approve" => g.approve(group, &need(b.member, "member")?).await?,
        "link" => match b.link {
            Some(l) => g.revoke_link(group, &l).await?,
            None => {
                let l = g.link(group).await?;
                return sorted(&LinkReply {
                    link: l.to_string(),
                    expires_at: weft_protocol::unix_now_ms()
                        + weft_protocol::group::LINK_VALIDITY_MS,
                });
            }
        },
        "join" => {
            let id = g.join(&need(b.link, "link")?).await?;
            return sorted(&Created { id: id.to_string() });
        }
        _ => return Err(ApiError::not_found("no such groups action")),
    }
    sorted(&Done {})
}
