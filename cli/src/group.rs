//! `weft group ...`: create, add, remove, leave, admins, name, notice,
//! settings, links, join requests, list and members. A thin client of the
//! node's `/v1/groups` API; messages go through `weft chat send/log`.

use serde::Deserialize;
use weft_node::api::{
    group::{CreateGroup, GroupAction},
    Created, Done,
};
use weft_node::group::{GroupMessageView, GroupView, MemberView, RequestView};

use crate::args::GroupCommand;
use crate::client::{self, Client};
use crate::print;
use crate::text::{self, clean_line, ellipsis, short};

/// `link` answer (as the API sends it).
#[derive(Debug, serde::Serialize, Deserialize)]
struct LinkReply {
    link: String,
    expires_at: u64,
}

async fn act(client: &Client, action: &str, body: GroupAction) -> anyhow::Result<Done> {
    client.post(&format!("/v1/groups/{action}"), &body).await
}

/// Runs one `weft group` command.
pub async fn run(client: &Client, c: GroupCommand, json: bool) -> anyhow::Result<()> {
    let said = |s: &str, v: &Done| print::done_saying(s, v, json);
    match c {
        GroupCommand::Create { name, members } => {
            let v: Created = client
                .post("/v1/groups/create", &CreateGroup { members, name })
                .await?;
            if json {
                return print::json_sorted(&v);
            }
            println!("group created ({})", short(&v.id));
            Ok(())
        }
        GroupCommand::Add { group, members } => {
            let n = members.len();
            let v = act(
                client,
                "add",
                GroupAction {
                    group,
                    members,
                    ..Default::default()
                },
            )
            .await?;
            said(&format!("added {n}"), &v)
        }
        GroupCommand::Remove { group, member } => {
            let body = GroupAction {
                group,
                member: Some(member.clone()),
                ..Default::default()
            };
            said(
                &format!("removed {member}"),
                &act(client, "remove", body).await?,
            )
        }
        GroupCommand::Leave { group } => {
            let v = act(
                client,
                "leave",
                GroupAction {
                    group,
                    ..Default::default()
                },
            )
            .await?;
            said("you left the group", &v)
        }
        GroupCommand::Admin {
            group,
            member,
            demote,
        } => {
            let body = GroupAction {
                group,
                member: Some(member.clone()),
                ..Default::default()
            };
            let (action, s) = if demote {
                ("demote", format!("{member} is a member again"))
            } else {
                ("admin", format!("{member} is an admin"))
            };
            said(&s, &act(client, action, body).await?)
        }
        GroupCommand::Rename { group, name } => {
            let body = GroupAction {
                group,
                text: Some(name),
                ..Default::default()
            };
            said("renamed", &act(client, "rename", body).await?)
        }
        GroupCommand::Notice { group, text } => {
            let body = GroupAction {
                group,
                text: Some(text),
                ..Default::default()
            };
            said("notice pinned", &act(client, "notice", body).await?)
        }
        GroupCommand::Nickname { group, name } => {
            let body = GroupAction {
                group,
                text: Some(name),
                ..Default::default()
            };
            said("nickname set", &act(client, "nickname", body).await?)
        }
        GroupCommand::Settings { group, approval } => {
            let on = approval == "on";
            let body = GroupAction {
                group,
                approval: Some(on),
                ..Default::default()
            };
            let s = if on {
                "joining by link now needs approval"
            } else {
                "joining by link needs no approval"
            };
            said(s, &act(client, "settings", body).await?)
        }
        GroupCommand::Mute { group, off } => {
            let body = GroupAction {
                group,
                muted: Some(!off),
                ..Default::default()
            };
            said(
                if off {
                    "unmuted"
                } else {
                    "muted (mentions still notify)"
                },
                &act(client, "mute", body).await?,
            )
        }
        GroupCommand::Link { group, qr, revoke } => {
            if let Some(link) = revoke {
                let body = GroupAction {
                    group,
                    link: Some(link),
                    ..Default::default()
                };
                return said("link revoked", &act(client, "link", body).await?);
            }
            let body = GroupAction {
                group,
                ..Default::default()
            };
            let v: LinkReply = client.post("/v1/groups/link", &body).await?;
            if json {
                return print::json_sorted(&v);
            }
            if qr {
                print::qr(&v.link)?;
            }
            println!("{}", v.link);
            println!(
                "valid until {} {}",
                text::day(v.expires_at),
                text::clock(v.expires_at)
            );
            Ok(())
        }
        GroupCommand::Join { link } => {
            let body = GroupAction {
                link: Some(link),
                ..Default::default()
            };
            let v: Created = client.post("/v1/groups/join", &body).await?;
            if json {
                return print::json_sorted(&v);
            }
            println!(
                "asked to join ({}); you are in once the group's admin lets you in",
                short(&v.id)
            );
            Ok(())
        }
        GroupCommand::Requests { group } => {
            let v: Vec<RequestView> = client
                .get(&format!(
                    "/v1/groups/requests?group={}",
                    client::query_escape(&group)
                ))
                .await?;
            if json {
                return print::json_sorted(&v);
            }
            if v.is_empty() {
                println!("no join requests");
            }
            for r in &v {
                println!(
                    "{}  {}  {}",
                    short(&r.account_id),
                    clean_line(&r.name),
                    text::clock(r.at)
                );
            }
            Ok(())
        }
        GroupCommand::Approve { group, member } => {
            let body = GroupAction {
                group,
                member: Some(member.clone()),
                ..Default::default()
            };
            said(
                &format!("{member} is in"),
                &act(client, "approve", body).await?,
            )
        }
        GroupCommand::List => {
            let v: Vec<GroupView> = client.get("/v1/groups").await?;
            if json {
                return print::json_sorted(&v);
            }
            if v.is_empty() {
                println!("no groups yet; `weft group create NAME --members FRIEND...`");
                return Ok(());
            }
            println!(
                "{:<20} {:>7} {:>6} {:>6}  LAST",
                "NAME", "MEMBERS", "UNREAD", "WHEN"
            );
            for g in &v {
                println!(
                    "{:<20} {:>7} {:>6} {:>6}  {}",
                    ellipsis(&clean_line(&g.name), 20),
                    g.members,
                    g.unread,
                    text::clock(g.last_at),
                    ellipsis(&clean_line(&g.last_text), 40)
                );
            }
            Ok(())
        }
        GroupCommand::Members { group } => {
            let v: Vec<MemberView> = client
                .get(&format!(
                    "/v1/groups/members?group={}",
                    client::query_escape(&group)
                ))
                .await?;
            if json {
                return print::json_sorted(&v);
            }
            for m in &v {
                println!(
                    "{:<8} {:<8} {}",
                    short(&m.account_id),
                    m.role,
                    clean_line(&m.name)
                );
            }
            Ok(())
        }
    }
}

/// `weft chat log <group>` as text: one line per message with the
/// sender's group name, quotes, mentions and, for ours, how many read it.
pub fn log(v: &[GroupMessageView], me: &str, ids: bool) -> String {
    let mut out = String::new();
    let mut last_day = String::new();
    for m in v {
        print::day_line(&mut out, &mut last_day, m.sent_at);
        if let Some(r) = &m.reply_to {
            let quoted = match v.iter().find(|q| &q.id == r) {
                Some(q) if q.status == "recalled" => "(recalled message)".to_string(),
                Some(q) => format!(
                    "{}: {}",
                    clean_line(&q.name),
                    ellipsis(&clean_line(&q.text), 40)
                ),
                None => format!("message {}", short(r)),
            };
            print::quote_line(&mut out, &quoted);
        }
        let body = if m.status == "recalled" {
            "(recalled)".to_string()
        } else {
            print::body_with_attachment(&m.text, m.attachment.as_ref())
        };
        let who = if m.from == me {
            "me".to_string()
        } else {
            clean_line(&m.name)
        };
        let tag = match (m.all, m.mentions.is_empty()) {
            (true, _) => " @all".to_string(),
            (false, false) => format!(" @{}", m.mentions.len()),
            _ => String::new(),
        };
        let read = if m.from == me && m.read_by > 0 {
            format!("read by {} ", m.read_by)
        } else {
            String::new()
        };
        // An attachment's id is what `chat save` takes: always shown.
        let id = if ids || m.from == me || m.attachment.is_some() {
            short(&m.id)
        } else {
            ""
        };
        out.push_str(&format!(
            "[{}] {who}:{tag} {body}  {read}{id}\n",
            text::clock(m.sent_at)
        ));
    }
    if v.is_empty() {
        out.push_str("no messages yet\n");
    }
    out
}
