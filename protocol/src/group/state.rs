//! The state a membership log describes, and the rights rule that builds
//! it change by change (see [`super::log`] for the order).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::log::{ChangeBody, ChangeId, Op, Role};
use super::{GroupId, MAX_MEMBERS};
use crate::identity::AccountId;

/// A member as the state knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Role.
    pub role: Role,
    /// Name given when added (or the owner's own).
    pub name: String,
    /// Group nickname, if set.
    pub nickname: Option<String>,
    /// Join order (0 = owner): decides who inherits the group.
    pub order: u64,
}

impl Member {
    /// The name shown in the group.
    pub fn shown(&self) -> &str {
        self.nickname.as_deref().unwrap_or(&self.name)
    }
}

/// Why a change was not applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The author is not a member at that point.
    #[error("the author is not a member")]
    NotMember,
    /// The author's role does not allow it.
    #[error("only {0} may do that")]
    NotAllowed(&'static str),
    /// The target is not a member (or already one).
    #[error("{0}")]
    BadTarget(&'static str),
    /// Over 500 members.
    #[error("the group is full")]
    Full,
}

/// The group as the log says it is now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupState {
    /// Group id.
    pub id: GroupId,
    /// Name.
    pub name: String,
    /// Pinned notice ("" = none).
    pub notice: String,
    /// Joining by link needs approval.
    pub approval: bool,
    /// Members.
    pub members: BTreeMap<AccountId, Member>,
    /// Accounts removed (or that left) and not added back since.
    pub gone: BTreeSet<AccountId>,
    /// Links issued and not revoked, with their expiry.
    pub links: BTreeMap<[u8; 16], u64>,
    /// Changes applied, in order.
    pub applied: Vec<ChangeId>,
    /// Changes refused, with why.
    pub refused: Vec<(ChangeId, Refusal)>,
    /// Bumped by every removal or leave: senders rotate their keys when it moves.
    pub epoch: u64,
    /// The change that began the current epoch (the `Create` at first).
    pub epoch_change: ChangeId,
    /// Display time of the last applied change.
    pub last_at_ms: u64,
}

impl GroupState {
    /// The role of `a`, if a member.
    pub fn role(&self, a: &AccountId) -> Option<Role> {
        self.members.get(a).map(|m| m.role)
    }

    /// Whether link `id` works at `now_ms`.
    pub fn link_valid(&self, id: &[u8; 16], now_ms: u64) -> bool {
        self.links.get(id).is_some_and(|e| *e > now_ms)
    }

    pub(super) fn apply(&mut self, id: ChangeId, c: &ChangeBody) -> Result<(), Refusal> {
        let me = c.author;
        if let Op::Create {
            name,
            owner_name,
            approval,
            ..
        } = &c.op
        {
            self.id = GroupId(id.0);
            self.name = name.clone();
            self.approval = *approval;
            self.epoch_change = id;
            self.members.insert(
                me,
                Member {
                    role: Role::Owner,
                    name: owner_name.clone(),
                    nickname: None,
                    order: 0,
                },
            );
            return Ok(());
        }
        let role = self.role(&me).ok_or(Refusal::NotMember)?;
        let next_order = self
            .members
            .values()
            .map(|m| m.order + 1)
            .max()
            .unwrap_or(0);
        match &c.op {
            Op::Create { .. } => return Err(Refusal::BadTarget("a second create")),
            Op::Add { members } => {
                if self.approval && !role.manages() {
                    return Err(Refusal::NotAllowed("admins (approval is on)"));
                }
                let new: Vec<_> = members
                    .iter()
                    .filter(|m| !self.members.contains_key(&m.account))
                    .collect();
                if new.is_empty() {
                    return Err(Refusal::BadTarget("already members"));
                }
                if self.members.len() + new.len() > MAX_MEMBERS {
                    return Err(Refusal::Full);
                }
                for (i, m) in new.into_iter().enumerate() {
                    self.gone.remove(&m.account);
                    self.members.insert(
                        m.account,
                        Member {
                            role: Role::Member,
                            name: m.name.clone(),
                            nickname: None,
                            order: next_order + i as u64,
                        },
                    );
                }
            }
            Op::Remove { member } => {
                let target = self
                    .role(member)
                    .ok_or(Refusal::BadTarget("not a member"))?;
                let allowed = match role {
                    Role::Owner => target != Role::Owner,
                    Role::Admin => target == Role::Member,
                    Role::Member => false,
                };
                if !allowed {
                    return Err(Refusal::NotAllowed("the owner, or admins removing members"));
                }
                self.members.remove(member);
                self.gone.insert(*member);
                self.new_epoch(id);
            }
            Op::Leave => {
                self.members.remove(&me);
                self.gone.insert(me);
                if role == Role::Owner {
                    let heir = self
                        .members
                        .iter()
                        .min_by_key(|(_, m)| (m.role != Role::Admin, m.order))
                        .map(|(a, _)| *a);
                    if let Some(h) = heir.and_then(|h| self.members.get_mut(&h)) {
                        h.role = Role::Owner;
                    }
                }
                self.new_epoch(id);
            }
            Op::Promote { member } | Op::Demote { member } => {
                if role != Role::Owner {
                    return Err(Refusal::NotAllowed("the owner"));
                }
                let promote = matches!(c.op, Op::Promote { .. });
                let m = self
                    .members
                    .get_mut(member)
                    .ok_or(Refusal::BadTarget("not a member"))?;
                match (promote, m.role) {
                    (true, Role::Member) => m.role = Role::Admin,
                    (false, Role::Admin) => m.role = Role::Member,
                    _ => return Err(Refusal::BadTarget("role unchanged")),
                }
            }
            Op::Rename { .. }
            | Op::Notice { .. }
            | Op::Settings { .. }
            | Op::Link { .. }
            | Op::RevokeLink { .. }
                if !role.manages() =>
            {
                return Err(Refusal::NotAllowed("admins"));
            }
            Op::Rename { name } => self.name = name.clone(),
            Op::Notice { text } => self.notice = text.clone(),
            Op::Settings { approval } => self.approval = *approval,
            Op::Link { id, expires_ms } => {
                self.links.insert(*id, *expires_ms);
            }
            Op::RevokeLink { id } => {
                self.links.remove(id);
            }
            Op::Nickname { name } => {
                if let Some(m) = self.members.get_mut(&me) {
                    m.nickname = (!name.is_empty()).then(|| name.clone());
                }
            }
        }
        Ok(())
    }

    fn new_epoch(&mut self, id: ChangeId) {
        self.epoch += 1;
        self.epoch_change = id;
    }
}
