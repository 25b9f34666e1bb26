//! A group's membership: an append-only log of signed changes, and the one
//! rule every member's node uses to turn the log into a state.
//!
//! Each [`Change`] names the changes its author had seen (`parents`), so the
//! log is a DAG whose root is the `Create` change (the group id is that
//! change's id). The state is computed by applying every change in one
//! total order: by causal depth (1 + the deepest parent), then by change id.
//! Every node holding the same set of changes computes the same order and
//! the same state, whatever order the changes arrived in. A change is
//! applied only if its author has the right to make it *at its place in
//! that order*; otherwise it is refused (and stays in the log, so all nodes
//! keep agreeing). When two admins act at once, the one ordered first wins:
//! if admin A removes admin B while B removes A, whichever change sorts
//! first is applied and the other is refused, because its author is no
//! longer a member when it comes up.

use std::collections::{BTreeSet, HashMap};

pub use super::state::{GroupState, Member, Refusal};

use serde::{Deserialize, Serialize};

use super::{
    GroupError, GroupId, LINK_VALIDITY_MS, MAX_ADD_PER_CHANGE, MAX_GROUP_NAME, MAX_LOG_CHANGES,
    MAX_NICKNAME, MAX_NOTICE, MAX_PARENTS,
};
use crate::identity::{AccountId, AccountKey, SignatureBytes};

const CHANGE_CONTEXT: &str = "weft/group/change/v1";

/// A change's id: BLAKE3 of its canonical body.
#[derive(
    Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Debug,
)]
pub struct ChangeId(pub [u8; 32]);

/// A role in a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    /// Created the group (or inherited it); may do everything.
    Owner,
    /// Appointed by the owner: manages members (not other admins), name, notice, links.
    Admin,
    /// Everyone else.
    Member,
}

impl Role {
    /// `owner`, `admin` or `member`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    pub(super) fn manages(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

/// Someone being added, with the name the adder knows them by.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitee {
    /// The account.
    pub account: AccountId,
    /// Its name (from its card) until it sets a group nickname.
    pub name: String,
}

/// What a change does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// The root: the author owns the group. The first members come in `Add`s.
    Create {
        /// The group's name.
        name: String,
        /// The author's own name.
        owner_name: String,
        /// Makes every group id unique.
        nonce: [u8; 16],
        /// Whether joining by link needs an admin's approval.
        approval: bool,
    },
    /// Adds members: by any member, or only by admins when approval is on
    /// (an admin approving a request is an `Add` too).
    Add {
        /// Who.
        members: Vec<Invitee>,
    },
    /// Removes a member (owner: anyone; admin: plain members).
    Remove {
        /// Who.
        member: AccountId,
    },
    /// The author leaves. An owner leaving hands the group to the earliest
    /// admin, else to the earliest member.
    Leave,
    /// Owner makes a member an admin.
    Promote {
        /// Who.
        member: AccountId,
    },
    /// Owner makes an admin a member again.
    Demote {
        /// Who.
        member: AccountId,
    },
    /// Admin renames the group.
    Rename {
        /// New name.
        name: String,
    },
    /// Admin sets (or clears, with "") the pinned notice.
    Notice {
        /// The notice.
        text: String,
    },
    /// Admin changes the settings.
    Settings {
        /// Joining by link needs approval.
        approval: bool,
    },
    /// A member sets its nickname in this group.
    Nickname {
        /// The nickname ("" clears it).
        name: String,
    },
    /// Admin issues an invitation link, valid until `expires_ms`.
    Link {
        /// The link's secret id.
        id: [u8; 16],
        /// When it stops working (at most 7 days after the change).
        expires_ms: u64,
    },
    /// Admin revokes a link.
    RevokeLink {
        /// The link.
        id: [u8; 16],
    },
}

/// What is signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeBody {
    /// The group (all zeros in the `Create` change, whose id is the group id).
    pub group: GroupId,
    /// The changes the author had seen last (none for `Create`).
    pub parents: Vec<ChangeId>,
    /// Who makes the change.
    pub author: AccountId,
    /// Author's clock, for display only; never used for order or rights.
    pub at_ms: u64,
    /// What it does.
    pub op: Op,
}

/// A signed change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The change.
    pub body: ChangeBody,
    /// The author's account signature over the body.
    pub sig: SignatureBytes,
}

impl Change {
    /// Signs `body` with `key` (which must be `body.author`'s).
    pub fn sign(key: &AccountKey, body: ChangeBody) -> Result<Self, GroupError> {
        let bytes = postcard::to_stdvec(&body).map_err(|_| GroupError::Malformed("body"))?;
        let sig = key.sign(CHANGE_CONTEXT, &bytes);
        let c = Change { body, sig };
        c.check()?;
        Ok(c)
    }

    /// The change's id.
    pub fn id(&self) -> ChangeId {
        let bytes = postcard::to_stdvec(&self.body).unwrap_or_default();
        ChangeId(crate::content_id(&bytes))
    }

    /// Checks bounds and the signature (not rights: those depend on the log).
    pub fn check(&self) -> Result<(), GroupError> {
        let b = &self.body;
        let is_create = matches!(b.op, Op::Create { .. });
        if is_create != b.parents.is_empty() || b.parents.len() > MAX_PARENTS {
            return Err(GroupError::Malformed("parents"));
        }
        if is_create != (b.group == GroupId([0; 32])) {
            return Err(GroupError::Malformed("group id"));
        }
        match &b.op {
            Op::Create {
                name, owner_name, ..
            } => {
                check_text(name, MAX_GROUP_NAME, false)?;
                check_text(owner_name, MAX_NICKNAME, false)?;
            }
            Op::Rename { name } => check_text(name, MAX_GROUP_NAME, false)?,
            Op::Notice { text } => check_text(text, MAX_NOTICE, true)?,
            Op::Nickname { name } => check_text(name, MAX_NICKNAME, true)?,
            Op::Add { members } => {
                if members.is_empty() || members.len() > MAX_ADD_PER_CHANGE {
                    return Err(GroupError::Malformed("members"));
                }
                for m in members {
                    check_text(&m.name, MAX_NICKNAME, true)?;
                }
            }
            Op::Link { expires_ms, .. }
                if *expires_ms > b.at_ms.saturating_add(LINK_VALIDITY_MS) =>
            {
                return Err(GroupError::Malformed("link validity over 7 days"));
            }
            _ => {}
        }
        let bytes = postcard::to_stdvec(b).map_err(|_| GroupError::Malformed("body"))?;
        b.author
            .verify(CHANGE_CONTEXT, &bytes, &self.sig)
            .map_err(|_| GroupError::BadSignature)
    }

    /// The group this change belongs to.
    pub fn group(&self) -> GroupId {
        if matches!(self.body.op, Op::Create { .. }) {
            GroupId(self.id().0)
        } else {
            self.body.group
        }
    }
}

fn check_text(s: &str, max: usize, empty_ok: bool) -> Result<(), GroupError> {
    if s.len() > max {
        return Err(GroupError::TooLong { limit: max });
    }
    if !empty_ok && s.trim().is_empty() {
        return Err(GroupError::Malformed("empty name"));
    }
    if s.chars().any(|c| c.is_control() && c != '\n') {
        return Err(GroupError::Malformed("control characters"));
    }
    Ok(())
}

/// Why a change cannot join a log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// Some parents are not in the log yet: keep it aside until they come.
    #[error("missing parent changes")]
    MissingParents,
    /// For another group, or a second root.
    #[error("not part of this group")]
    WrongGroup,
    /// The log is at its cap.
    #[error("the group's log is full")]
    Full,
    /// Structurally bad or badly signed.
    #[error(transparent)]
    Invalid(#[from] GroupError),
}

/// All the changes of one group that a node holds.
#[derive(Clone, Debug)]
pub struct GroupLog {
    id: GroupId,
    changes: HashMap<ChangeId, (Change, u64)>,
}

impl GroupLog {
    /// A log starting from its `Create` change.
    pub fn new(create: Change) -> Result<Self, LogError> {
        create.check()?;
        if !matches!(create.body.op, Op::Create { .. }) {
            return Err(LogError::WrongGroup);
        }
        let id = create.id();
        let mut changes = HashMap::new();
        changes.insert(id, (create, 0));
        Ok(GroupLog {
            id: GroupId(id.0),
            changes,
        })
    }

    /// Rebuilds a log from changes in any order (parents first is found
    /// here); the root must be among them. Returns the log and the changes
    /// that could not join it (missing parents, invalid).
    pub fn from_changes(group: GroupId, changes: Vec<Change>) -> Option<(Self, Vec<Change>)> {
        let mut rest: HashMap<ChangeId, Change> =
            changes.into_iter().map(|c| (c.id(), c)).collect();
        let root = rest.remove(&ChangeId(group.0))?;
        let mut log = GroupLog::new(root).ok()?;
        let mut children: HashMap<ChangeId, Vec<ChangeId>> = HashMap::new();
        for (id, c) in &rest {
            for p in &c.body.parents {
                children.entry(*p).or_default().push(*id);
            }
        }
        let mut ready = vec![ChangeId(group.0)];
        let mut rejected = Vec::new();
        while let Some(done) = ready.pop() {
            for child in children.remove(&done).unwrap_or_default() {
                let Some(c) = rest.get(&child) else { continue };
                if c.body.parents.iter().all(|p| log.contains(p)) {
                    if let Some(c) = rest.remove(&child) {
                        match log.insert(c.clone()) {
                            Ok(_) => ready.push(child),
                            Err(_) => rejected.push(c),
                        }
                    }
                }
            }
        }
        rejected.extend(rest.into_values());
        Some((log, rejected))
    }

    /// The group id.
    pub fn id(&self) -> GroupId {
        self.id
    }

    /// Whether the log holds `id`.
    pub fn contains(&self, id: &ChangeId) -> bool {
        self.changes.contains_key(id)
    }

    /// Number of changes.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// Never empty (it holds at least the root), for clippy's sake.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Adds a checked change whose parents are all present. `Ok(false)`
    /// if it was already there.
    pub fn insert(&mut self, change: Change) -> Result<bool, LogError> {
        let id = change.id();
        if self.changes.contains_key(&id) {
            return Ok(false);
        }
        if change.body.group != self.id {
            return Err(LogError::WrongGroup);
        }
        change.check()?;
        let mut depth = 0;
        for p in &change.body.parents {
            let (_, d) = self.changes.get(p).ok_or(LogError::MissingParents)?;
            depth = depth.max(d + 1);
        }
        if self.changes.len() >= MAX_LOG_CHANGES {
            return Err(LogError::Full);
        }
        self.changes.insert(id, (change, depth));
        Ok(true)
    }

    /// Every change in the one total order (depth, then id).
    pub fn ordered(&self) -> Vec<(ChangeId, &Change)> {
        let mut v: Vec<_> = self
            .changes
            .iter()
            .map(|(id, (c, d))| (*d, *id, c))
            .collect();
        v.sort_by_key(|x| (x.0, x.1));
        v.into_iter().map(|(_, id, c)| (id, c)).collect()
    }

    /// The heads: changes no other change names as a parent (the parents of
    /// the next change made here).
    pub fn heads(&self) -> Vec<ChangeId> {
        let named: BTreeSet<ChangeId> = self
            .changes
            .values()
            .flat_map(|(c, _)| c.body.parents.iter().copied())
            .collect();
        let mut h: Vec<_> = self
            .changes
            .keys()
            .filter(|id| !named.contains(id))
            .copied()
            .collect();
        h.sort();
        h.truncate(MAX_PARENTS);
        h
    }

    /// The state the log describes (the same on every node holding the same changes).
    pub fn state(&self) -> GroupState {
        let mut s = GroupState::default();
        for (id, c) in self.ordered() {
            match s.apply(id, &c.body) {
                Ok(()) => {
                    s.applied.push(id);
                    s.last_at_ms = s.last_at_ms.max(c.body.at_ms);
                }
                Err(r) => s.refused.push((id, r)),
            }
        }
        s
    }

    /// The changes not in `known`, in order: what a member holding `known` lacks.
    pub fn missing_from(&self, known: &BTreeSet<ChangeId>) -> Vec<Change> {
        self.ordered()
            .into_iter()
            .filter(|(id, _)| !known.contains(id))
            .map(|(_, c)| c.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AccountKey {
        AccountKey::generate().unwrap()
    }

    fn create(owner: &AccountKey) -> Change {
        Change::sign(
            owner,
            ChangeBody {
                group: GroupId([0; 32]),
                parents: vec![],
                author: owner.account_id(),
                at_ms: 1,
                op: Op::Create {
                    name: "Climbers".into(),
                    owner_name: "Ada".into(),
                    nonce: [7; 16],
                    approval: false,
                },
            },
        )
        .unwrap()
    }

    fn change(log: &GroupLog, by: &AccountKey, op: Op) -> Change {
        Change::sign(
            by,
            ChangeBody {
                group: log.id(),
                parents: log.heads(),
                author: by.account_id(),
                at_ms: 2,
                op,
            },
        )
        .unwrap()
    }

    fn add(log: &mut GroupLog, by: &AccountKey, who: &AccountKey) {
        let c = change(
            log,
            by,
            Op::Add {
                members: vec![Invitee {
                    account: who.account_id(),
                    name: "x".into(),
                }],
            },
        );
        log.insert(c).unwrap();
    }

    #[test]
    fn non_admins_cannot_remove_or_rename() {
        let (a, b, c) = (key(), key(), key());
        let mut log = GroupLog::new(create(&a)).unwrap();
        add(&mut log, &a, &b);
        add(&mut log, &a, &c);
        let rm = change(
            &log,
            &b,
            Op::Remove {
                member: c.account_id(),
            },
        );
        let rn = change(
            &log,
            &b,
            Op::Rename {
                name: "Mine".into(),
            },
        );
        log.insert(rm).unwrap();
        log.insert(rn).unwrap();
        let s = log.state();
        assert_eq!(s.members.len(), 3);
        assert_eq!(s.name, "Climbers");
        assert_eq!(s.refused.len(), 2);
    }

    #[test]
    fn concurrent_admin_removals_resolve_the_same_everywhere() {
        let (o, a, b) = (key(), key(), key());
        let mut log = GroupLog::new(create(&o)).unwrap();
        add(&mut log, &o, &a);
        add(&mut log, &o, &b);
        for k in [&a, &b] {
            let p = change(
                &log,
                &o,
                Op::Promote {
                    member: k.account_id(),
                },
            );
            log.insert(p).unwrap();
        }
        // Each admin removes the other, seeing the same heads: concurrent.
        let x = change(&log, &a, Op::Leave);
        let ra = change(
            &log,
            &b,
            Op::Remove {
                member: a.account_id(),
            },
        );
        let mut other = log.clone();
        log.insert(x.clone()).unwrap();
        log.insert(ra.clone()).unwrap();
        other.insert(ra).unwrap();
        other.insert(x).unwrap();
        assert_eq!(log.state(), other.state());
        assert!(!log.state().members.contains_key(&a.account_id()));
        assert_eq!(log.state().refused.len(), 1);
    }

    #[test]
    fn forged_and_orphan_changes_are_refused() {
        let (a, b) = (key(), key());
        let mut log = GroupLog::new(create(&a)).unwrap();
        let mut c = change(&log, &b, Op::Rename { name: "x".into() });
        c.body.author = a.account_id();
        assert!(matches!(log.insert(c), Err(LogError::Invalid(_))));
        let mut orphan = change(&log, &a, Op::Rename { name: "y".into() });
        orphan.body.parents = vec![ChangeId([9; 32])];
        let orphan = Change::sign(&a, orphan.body).unwrap();
        assert_eq!(log.insert(orphan), Err(LogError::MissingParents));
        let other = GroupLog::new(create(&b)).unwrap();
        let foreign = change(&other, &b, Op::Leave);
        assert_eq!(log.insert(foreign), Err(LogError::WrongGroup));
    }

    #[test]
    fn owner_leaving_hands_over_and_bumps_the_epoch() {
        let (o, a, b) = (key(), key(), key());
        let mut log = GroupLog::new(create(&o)).unwrap();
        add(&mut log, &o, &a);
        add(&mut log, &o, &b);
        let p = change(
            &log,
            &o,
            Op::Promote {
                member: b.account_id(),
            },
        );
        log.insert(p).unwrap();
        let l = change(&log, &o, Op::Leave);
        log.insert(l).unwrap();
        let s = log.state();
        assert_eq!(s.role(&b.account_id()), Some(Role::Owner));
        assert_eq!(s.epoch, 1);
        assert!(s.gone.contains(&o.account_id()));
    }
}
