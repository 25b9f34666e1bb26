//! Group chats of up to 500 members (design: `docs/GROUPS.md`).
//!
//! - **Membership** (`manage.rs`, `invite.rs`): a signed change log
//!   ([`weft_protocol::group::log`]); every change we make is applied here,
//!   stored, then sent 1:1 (sealed, through chat's durable outbox) to every
//!   member, with the group secret to members only.
//! - **Sending** (`send.rs`): each message is encrypted once under our
//!   sender chain and published on the group's hidden gossip topic. Before a
//!   send, every member that has not got our current chain gets it 1:1; a
//!   removal or leave (a new epoch) makes us start a fresh chain first.
//! - **Receiving** (`ingest.rs`): gossip wires and 1:1 group business
//!   ([`weft_protocol::group::Direct`], handed over by chat).
//! - **Catching up** (`sync.rs`): a member that was away asks connected
//!   members for the wires it lacks (`/weft/group/1`, ciphertext only), and
//!   keeps connections to a few members so the gossip mesh forms.
//! - **Views** (`views.rs`): list, members, log, names.

mod devices;
mod ingest;
mod invite;
mod manage;
mod send;
mod service;
mod sync;
mod views;

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use weft_protocol::{
    group::{
        log::{GroupLog, GroupState, Refusal},
        GroupError, GroupId,
    },
    AccountId,
};

use crate::chat::{Chat, ChatError};
use crate::context::Context;
use crate::events::{EventFeed, EventRx};
use crate::store::group::GroupMeta;
use crate::store::{Store, StoreError};

pub use send::Outgoing;
pub use views::{GroupMessageView, GroupView, MemberView, RequestView};

/// Most groups one node keeps (each costs a topic, a log and chains).
pub const MAX_GROUPS: usize = 500;

/// Group failures, worded for the user.
#[derive(Debug, thiserror::Error)]
pub enum GroupsError {
    /// Needs the account key, and this is a linked device.
    #[error(transparent)]
    NotPrimary(#[from] crate::home::NotPrimary),
    /// No group by that id or name.
    #[error("no group matches `{0}`; use `weft group list`")]
    Unknown(String),
    /// A name that fits several groups.
    #[error("`{0}` could be several groups; use the id")]
    Ambiguous(String),
    /// We are not (or no longer) a member.
    #[error("you are not a member of this group")]
    NotMember,
    /// The log refuses the change for our role.
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    /// The person named is not in the group.
    #[error("{0} is not a member of this group")]
    NotInGroup(String),
    /// Bounds or crypto.
    #[error(transparent)]
    Invalid(#[from] GroupError),
    /// A link that is not valid (expired, revoked, not this group's).
    #[error("this group link is expired or revoked")]
    LinkInvalid,
    /// Too many groups.
    #[error("you are in {MAX_GROUPS} groups already")]
    TooMany,
    /// Naming a contact failed.
    #[error(transparent)]
    Chat(#[from] ChatError),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Events for the API event stream.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GroupEvent {
    /// A group message arrived.
    GroupMessage {
        /// Group id.
        group: String,
        /// Message id.
        id: String,
        /// Sender.
        from: String,
        /// Sender's name in the group.
        name: String,
        /// Text.
        text: String,
        /// We are mentioned (by name or `@all`).
        mentioned: bool,
        /// Whether to notify: not muted, or mentioned.
        notify: bool,
    },
    /// A member took back a message.
    GroupRecalled {
        /// Group.
        group: String,
        /// Message id.
        id: String,
    },
    /// The membership or settings changed.
    GroupChanged {
        /// Group.
        group: String,
        /// Who made the change.
        by: String,
        /// What kind (`create`, `add`, `remove`, `leave`, `promote`, ...).
        what: String,
    },
    /// Someone asked to join through a link we issued.
    GroupJoinRequest {
        /// Group.
        group: String,
        /// Who.
        account_id: String,
        /// Their name.
        name: String,
    },
    /// Members read one of our messages.
    GroupRead {
        /// Group.
        group: String,
        /// Message.
        id: String,
        /// How many members have read it.
        read_by: usize,
    },
}

/// A group's log and the state it gives, kept in memory.
#[derive(Clone)]
pub(crate) struct Loaded {
    pub(crate) log: GroupLog,
    pub(crate) state: GroupState,
}

struct Inner {
    ctx: Context,
    chat: Chat,
    events: EventFeed<GroupEvent>,
    /// Serialises changes and sends (sequence numbers, chains, the log).
    lock: tokio::sync::Mutex<()>,
    /// Logs by group, loaded on first use.
    logs: std::sync::Mutex<HashMap<GroupId, Loaded>>,
    /// Joined topic tags, and their group.
    joined: std::sync::Mutex<HashMap<[u8; 16], GroupId>>,
    /// What each device may take of `/weft/group/1`.
    served: sync::Budgets,
    /// Serialises reading wires: a chain advances one message at a time
    /// (gossip and catch-up run concurrently).
    wire_lock: std::sync::Mutex<()>,
    /// Groups where a wire arrived past a gap in its chain, and when we
    /// last caught up because of one (`service.rs`).
    gaps: std::sync::Mutex<service::Gaps>,
    /// Device lists that changed and are not yet applied to our chains
    /// (`devices.rs`): applied before the next send, whoever comes first.
    device_changes: std::sync::Mutex<Vec<(AccountId, bool)>>,
}

/// The group service handle. Cheap to clone.
#[derive(Clone)]
pub struct Groups {
    inner: Arc<Inner>,
}

impl Groups {
    /// Subscribes to group events.
    pub fn subscribe(&self) -> EventRx<GroupEvent> {
        self.inner.events.subscribe()
    }

    fn emit(&self, ev: GroupEvent) {
        let _ = self.inner.events.send(ev);
    }

    fn store(&self) -> &Store {
        &self.inner.ctx.store
    }

    fn me(&self) -> AccountId {
        self.inner.ctx.me()
    }

    /// The group's log and state (from memory, else the store).
    pub(crate) fn loaded(&self, g: &GroupId) -> Result<Option<Loaded>, GroupsError> {
        if let Ok(logs) = self.inner.logs.lock() {
            if let Some(l) = logs.get(g) {
                return Ok(Some(l.clone()));
            }
        }
        let Some(log) = self.store().group_log(g)? else {
            return Ok(None);
        };
        let state = log.state();
        let l = Loaded { log, state };
        if let Ok(mut logs) = self.inner.logs.lock() {
            logs.insert(*g, l.clone());
        }
        Ok(Some(l))
    }

    fn cache(&self, g: GroupId, l: Loaded) {
        if let Ok(mut logs) = self.inner.logs.lock() {
            logs.insert(g, l);
        }
    }

    fn meta(&self, g: &GroupId) -> Result<GroupMeta, GroupsError> {
        self.store()
            .group_meta(g)?
            .ok_or_else(|| GroupsError::Unknown(g.to_string()))
    }

    /// Our groups (member or not), with their state.
    fn all(&self) -> Result<Vec<(GroupId, GroupMeta, Loaded)>, GroupsError> {
        let mut v = Vec::new();
        for (g, m) in self.store().groups()? {
            if let Some(l) = self.loaded(&g)? {
                v.push((g, m, l));
            }
        }
        Ok(v)
    }

    /// What `typed` names: a group id, an id prefix of 6+ characters, or a
    /// group name (of a group we are in). `Ok(None)` if nothing matches.
    pub fn find(&self, typed: &str) -> Result<Option<GroupId>, GroupsError> {
        let t = typed.trim();
        if let Ok(g) = t.parse::<GroupId>() {
            return Ok(self.store().group_meta(&g)?.map(|_| g));
        }
        let all = self.all()?;
        let lower = t.to_lowercase();
        let by_name: Vec<GroupId> = all
            .iter()
            .filter(|(_, _, l)| {
                l.state.members.contains_key(&self.me()) && l.state.name.to_lowercase() == lower
            })
            .map(|(g, _, _)| *g)
            .collect();
        let by_prefix: Vec<GroupId> = all
            .iter()
            .filter(|(g, _, _)| {
                t.len() >= crate::chat::MIN_PREFIX && g.to_string().starts_with(&lower)
            })
            .map(|(g, _, _)| *g)
            .collect();
        for found in [by_name, by_prefix] {
            match found.as_slice() {
                [] => continue,
                [one] => return Ok(Some(*one)),
                _ => return Err(GroupsError::Ambiguous(t.chars().take(80).collect())),
            }
        }
        Ok(None)
    }

    /// Like [`Groups::find`], but nothing found is an error.
    pub fn resolve(&self, typed: &str) -> Result<GroupId, GroupsError> {
        self.find(typed)?
            .ok_or_else(|| GroupsError::Unknown(typed.chars().take(80).collect()))
    }

    /// The group's state, if we are a member.
    fn member_state(&self, g: &GroupId) -> Result<Loaded, GroupsError> {
        let l = self
            .loaded(g)?
            .ok_or_else(|| GroupsError::Unknown(g.to_string()))?;
        if !l.state.members.contains_key(&self.me()) {
            return Err(GroupsError::NotMember);
        }
        Ok(l)
    }
}
