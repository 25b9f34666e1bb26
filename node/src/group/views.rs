//! What the API shows: the group list with unread counts, members with
//! roles and names, and a group's log in the one order every member shares
//! (Lamport time, then sender, then the sender's counter). Reading the log
//! marks it read and tells each sender, 1:1, that we read theirs.

use serde::{Deserialize, Serialize};
use weft_protocol::{chat::MsgId, group::GroupId};

use super::{Groups, GroupsError};

/// `group list` entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroupView {
    /// Group id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Member count.
    pub members: usize,
    /// Messages not read yet.
    pub unread: usize,
    /// Last message text ("" if none).
    pub last_text: String,
    /// Last message (or change) time, Unix ms.
    pub last_at: u64,
    /// Our role.
    pub role: String,
    /// Pinned notice.
    pub notice: String,
    /// Muted.
    pub muted: bool,
    /// Joining by link needs approval.
    pub approval: bool,
}

/// `group members` entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemberView {
    /// Account id.
    pub account_id: String,
    /// Name in the group (nickname, else the name they were added with).
    pub name: String,
    /// `owner`, `admin` or `member`.
    pub role: String,
}

/// `chat log <g>` entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroupMessageView {
    /// Message id.
    pub id: String,
    /// Sender account id.
    pub from: String,
    /// Sender's name in the group.
    pub name: String,
    /// Text ("" once recalled).
    pub text: String,
    /// Sender clock, Unix ms.
    pub sent_at: u64,
    /// Sender's counter in the group.
    pub seq: u64,
    /// `sent`, `received` or `recalled`.
    pub status: String,
    /// Quoted message id.
    pub reply_to: Option<String>,
    /// Mentioned accounts.
    pub mentions: Vec<String>,
    /// `@all`.
    pub all: bool,
    /// For our own messages: how many members read it.
    pub read_by: usize,
    /// A photo, voice note, video or file (`text` is its caption).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<crate::files::AttachmentView>,
}

/// `group requests` entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RequestView {
    /// Who asks.
    pub account_id: String,
    /// Their name.
    pub name: String,
    /// When, Unix ms.
    pub at: u64,
}

impl Groups {
    /// `group list`: groups we are in, most recent first.
    pub fn list(&self) -> Result<Vec<GroupView>, GroupsError> {
        let me = self.me();
        let mut v = Vec::new();
        for (g, meta, l) in self.all()? {
            let Some(role) = l.state.role(&me) else {
                continue;
            };
            let last = self.store().group_messages(&g, 1)?.pop();
            v.push(GroupView {
                id: g.to_string(),
                name: l.state.name.clone(),
                members: l.state.members.len(),
                unread: self.store().group_unread(&g, meta.read_lamport, &me),
                last_text: last.as_ref().map(|m| m.text.clone()).unwrap_or_default(),
                last_at: last.map(|m| m.sent_at_ms).unwrap_or(l.state.last_at_ms),
                role: role.as_str().into(),
                notice: l.state.notice.clone(),
                muted: meta.muted,
                approval: l.state.approval,
            });
        }
        v.sort_by_key(|g| std::cmp::Reverse(g.last_at));
        Ok(v)
    }

    /// `group members <g>`.
    pub fn members(&self, g: &str) -> Result<Vec<MemberView>, GroupsError> {
        let g = self.resolve(g)?;
        let l = self
            .loaded(&g)?
            .ok_or_else(|| GroupsError::Unknown(g.to_string()))?;
        let mut v: Vec<_> = l.state.members.iter().collect();
        v.sort_by_key(|(_, m)| (m.role, m.order));
        Ok(v.into_iter()
            .map(|(a, m)| MemberView {
                account_id: a.to_string(),
                name: m.shown().to_string(),
                role: m.role.as_str().into(),
            })
            .collect())
    }

    /// `chat log <g>`: the last `limit` messages; marks them read.
    pub async fn log(&self, g: &str, limit: usize) -> Result<Vec<GroupMessageView>, GroupsError> {
        let g = self.resolve(g)?;
        let l = self
            .loaded(&g)?
            .ok_or_else(|| GroupsError::Unknown(g.to_string()))?;
        let msgs = self.store().group_messages(&g, limit)?;
        let me = self.me();
        let mut newly_read = Vec::new();
        {
            let _guard = self.inner.lock.lock().await;
            let mut meta = self.meta(&g)?;
            let top = msgs.iter().map(|m| m.lamport).max().unwrap_or(0);
            for m in &msgs {
                if m.from != me && m.lamport > meta.read_lamport {
                    newly_read.push((m.from, m.id));
                }
            }
            if top > meta.read_lamport {
                meta.read_lamport = top;
                self.store().put_group_meta(&g, &meta)?;
            }
        }
        if !newly_read.is_empty() {
            let me = self.clone();
            tokio::spawn(async move { me.send_reads(g, newly_read).await });
        }
        Ok(msgs
            .into_iter()
            .map(|m| {
                let name = l
                    .state
                    .members
                    .get(&m.from)
                    .map(|x| x.shown().to_string())
                    .unwrap_or_else(|| m.from.short());
                let status = if m.recalled {
                    "recalled"
                } else if m.from == me {
                    "sent"
                } else {
                    "received"
                };
                GroupMessageView {
                    id: m.id.to_string(),
                    from: m.from.to_string(),
                    name,
                    text: m.text,
                    sent_at: m.sent_at_ms,
                    seq: m.seq,
                    status: status.into(),
                    reply_to: m.reply_to.map(|r| r.to_string()),
                    mentions: m.mentions.iter().map(|a| a.to_string()).collect(),
                    all: m.all,
                    read_by: if m.from == me {
                        self.store().group_read_count(&m.id)
                    } else {
                        0
                    },
                    attachment: m.attachment.as_ref().map(crate::files::AttachmentView::of),
                }
            })
            .collect())
    }

    /// The attachment of group message `id` (full hex) and where to fetch
    /// it: the sender's device first, then other members' connected devices
    /// (any member that fetched it can serve it). `None` without one.
    pub async fn attachment(
        &self,
        id: &str,
    ) -> Result<Option<(weft_protocol::file::Attachment, Vec<libp2p::PeerId>)>, GroupsError> {
        let Ok(id) = id.parse::<MsgId>() else {
            return Ok(None);
        };
        let Some((g, m)) = self.store().group_message(&id)? else {
            return Ok(None);
        };
        let Some(att) = m.attachment else {
            return Ok(None);
        };
        let me = self.me();
        let members = self
            .loaded(&g)?
            .map(|l| l.state.members.keys().copied().collect::<Vec<_>>())
            .unwrap_or_default();
        let peers = self.inner.ctx.net.peers().await.unwrap_or_default();
        let mut sources: Vec<libp2p::PeerId> = peers
            .iter()
            .filter(|p| p.account_id == Some(m.from))
            .map(|p| p.peer_id)
            .collect();
        if sources.is_empty() {
            sources.extend(self.inner.chat.devices_of(&m.from)?);
        }
        sources.extend(
            peers
                .iter()
                .filter(|p| {
                    p.account_id
                        .is_some_and(|a| a != me && a != m.from && members.contains(&a))
                })
                .map(|p| p.peer_id)
                .take(8),
        );
        Ok(Some((att, sources)))
    }

    /// The group a message id belongs to, if it is a group message.
    pub fn message_group(&self, id: &MsgId) -> Result<Option<GroupId>, GroupsError> {
        Ok(self.store().group_message(id)?.map(|(g, _)| g))
    }
}
