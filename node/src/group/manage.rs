//! Making membership changes: create, add, remove, leave, admin, rename,
//! notice, settings, nickname, mute. Every change goes through
//! [`Groups::change`]: sign it on top of our heads, check the log accepts
//! it for our role, store and flush it, then send it 1:1 to everyone it
//! concerns ([`Groups::distribute`]).

use std::collections::BTreeSet;

use weft_protocol::{
    group::{
        log::{Change, ChangeBody, GroupLog, GroupState, Invitee, LogError, Op},
        Direct, GroupId, MAX_ADD_PER_CHANGE, MAX_CHANGES_PER_DIRECT,
    },
    AccountId,
};

use super::{Groups, GroupsError, Loaded, MAX_GROUPS};
use crate::store::group::GroupMeta;

/// Encoded bytes of changes per 1:1 message (well inside a sealed chat body).
const DIRECT_BYTES: usize = 24 * 1024;

pub(super) fn log_error(e: LogError) -> GroupsError {
    match e {
        LogError::Invalid(e) => GroupsError::Invalid(e),
        other => GroupsError::Invalid(weft_protocol::group::GroupError::Malformed(match other {
            LogError::Full => "the group's log is full",
            LogError::WrongGroup => "not this group's change",
            _ => "missing parent changes",
        })),
    }
}

/// `op` as the event stream names it.
pub(super) fn op_name(op: &Op) -> &'static str {
    match op {
        Op::Create { .. } => "create",
        Op::Add { .. } => "add",
        Op::Remove { .. } => "remove",
        Op::Leave => "leave",
        Op::Promote { .. } => "promote",
        Op::Demote { .. } => "demote",
        Op::Rename { .. } => "rename",
        Op::Notice { .. } => "notice",
        Op::Settings { .. } => "settings",
        Op::Nickname { .. } => "nickname",
        Op::Link { .. } => "link",
        Op::RevokeLink { .. } => "revoke_link",
    }
}

/// The whole log, in order, in 1:1 messages of bounded size (what a new
/// member, or a new device of ours, is sent).
pub(super) fn log_parts(log: &GroupLog) -> Vec<Vec<Change>> {
    chunks(log.ordered().into_iter().map(|(_, c)| c.clone()).collect())
}

/// Splits changes (in log order) into 1:1 messages of bounded size.
pub(super) fn chunks(changes: Vec<Change>) -> Vec<Vec<Change>> {
    let mut out: Vec<Vec<Change>> = Vec::new();
    let mut cur = Vec::new();
    let mut bytes = 0;
    for c in changes {
        let n = postcard::to_stdvec(&c).map(|v| v.len()).unwrap_or(0);
        if !cur.is_empty() && (bytes + n > DIRECT_BYTES || cur.len() >= MAX_CHANGES_PER_DIRECT) {
            out.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        bytes += n;
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

impl Groups {
    /// `group create NAME [--members C...]`: members must be friends.
    pub async fn create(&self, name: &str, members: &[String]) -> Result<GroupId, GroupsError> {
        let invitees = self.invitees(members)?;
        if self.store().groups()?.len() >= MAX_GROUPS {
            return Err(GroupsError::TooMany);
        }
        let mut rand = [0u8; 48];
        getrandom::fill(&mut rand)
            .map_err(|_| GroupsError::Invalid(weft_protocol::group::GroupError::Random))?;
        let (mut secret, mut nonce) = ([0u8; 32], [0u8; 16]);
        secret.copy_from_slice(&rand[..32]);
        nonce.copy_from_slice(&rand[32..]);
        let my_name = self.store().name()?.unwrap_or_else(|| self.me().short());
        let create = Change::sign(
            self.inner.ctx.identity.account_key()?,
            ChangeBody {
                group: GroupId([0; 32]),
                parents: vec![],
                author: self.me(),
                at_ms: weft_protocol::unix_now_ms(),
                op: Op::Create {
                    name: name.trim().to_string(),
                    owner_name: my_name,
                    nonce,
                    approval: false,
                },
            },
        )?;
        let g = create.group();
        let log = GroupLog::new(create.clone()).map_err(log_error)?;
        {
            let _guard = self.inner.lock.lock().await;
            self.store().put_group_meta(&g, &GroupMeta::new(secret))?;
            self.store().put_group_change(&g, &create)?;
            self.store().flush_async().await?;
            let state = log.state();
            self.cache(g, Loaded { log, state });
        }
        self.reconcile_topics().await;
        for part in invitees.chunks(MAX_ADD_PER_CHANGE) {
            self.change(
                g,
                Op::Add {
                    members: part.to_vec(),
                },
            )
            .await?;
        }
        Ok(g)
    }

    /// Friends named by the user, as invitees.
    fn invitees(&self, who: &[String]) -> Result<Vec<Invitee>, GroupsError> {
        let mut seen = BTreeSet::new();
        let mut v = Vec::new();
        for w in who {
            let (account, name) = self.inner.chat.friend(w)?;
            if account != self.me() && seen.insert(account) {
                v.push(Invitee { account, name });
            }
        }
        Ok(v)
    }

    /// `group add <g> C...`.
    pub async fn add(&self, g: &str, who: &[String]) -> Result<(), GroupsError> {
        let g = self.resolve(g)?;
        let invitees = self.invitees(who)?;
        for part in invitees.chunks(MAX_ADD_PER_CHANGE) {
            self.change(
                g,
                Op::Add {
                    members: part.to_vec(),
                },
            )
            .await?;
        }
        Ok(())
    }

    /// A member named by `who` (id, 6+ character prefix, or name in the group).
    pub(super) fn member_named(
        &self,
        state: &GroupState,
        who: &str,
    ) -> Result<AccountId, GroupsError> {
        let t = who.trim();
        if let Ok(a) = t.parse::<AccountId>() {
            return Ok(a);
        }
        if let Ok(a) = self.inner.chat.resolve(t) {
            return Ok(a);
        }
        let lower = t.to_lowercase();
        let hits: Vec<AccountId> = state
            .members
            .iter()
            .filter(|(a, m)| {
                m.shown().to_lowercase() == lower
                    || m.name.to_lowercase() == lower
                    || (t.len() >= crate::chat::MIN_PREFIX && a.to_string().starts_with(&lower))
            })
            .map(|(a, _)| *a)
            .collect();
        match hits.as_slice() {
            [one] => Ok(*one),
            [] => Err(GroupsError::NotInGroup(t.chars().take(80).collect())),
            _ => Err(GroupsError::Ambiguous(t.chars().take(80).collect())),
        }
    }

    /// `group remove <g> C`.
    pub async fn remove(&self, g: &str, who: &str) -> Result<(), GroupsError> {
        let g = self.resolve(g)?;
        let l = self.member_state(&g)?;
        let member = self.member_named(&l.state, who)?;
        if !l.state.members.contains_key(&member) {
            return Err(GroupsError::NotInGroup(who.chars().take(80).collect()));
        }
        self.change(g, Op::Remove { member }).await.map(|_| ())
    }

    /// `group admin <g> C` (`demote` to undo).
    pub async fn admin(&self, g: &str, who: &str, demote: bool) -> Result<(), GroupsError> {
        let g = self.resolve(g)?;
        let l = self.member_state(&g)?;
        let member = self.member_named(&l.state, who)?;
        let op = if demote {
            Op::Demote { member }
        } else {
            Op::Promote { member }
        };
        self.change(g, op).await.map(|_| ())
    }

    /// `group leave <g>`.
    pub async fn leave(&self, g: &str) -> Result<(), GroupsError> {
        let g = self.resolve(g)?;
        self.change(g, Op::Leave).await?;
        self.reconcile_topics().await;
        Ok(())
    }

    /// `group rename`, `group notice`, `group settings`, `group nickname`.
    pub async fn set(&self, g: &str, op: Op) -> Result<(), GroupsError> {
        let g = self.resolve(g)?;
        self.change(g, op).await.map(|_| ())
    }

    /// `group mute <g> [--off]`: no notifications except mentions.
    pub async fn mute(&self, g: &str, muted: bool) -> Result<(), GroupsError> {
        let g = self.resolve(g)?;
        let _guard = self.inner.lock.lock().await;
        let mut meta = self.meta(&g)?;
        meta.muted = muted;
        self.store().put_group_meta(&g, &meta)?;
        self.store().flush_async().await?;
        Ok(())
    }

    /// Signs `op` on top of our heads, checks the log applies it (a change
    /// our role does not allow is refused here, before anyone sees it),
    /// stores and flushes it, then sends it to everyone concerned.
    pub(super) async fn change(&self, g: GroupId, op: Op) -> Result<Loaded, GroupsError> {
        let (before, after, c) = {
            let _guard = self.inner.lock.lock().await;
            let mut l = self.member_state(&g)?;
            let before = l.state.clone();
            let c = Change::sign(
                self.inner.ctx.identity.account_key()?,
                ChangeBody {
                    group: g,
                    parents: l.log.heads(),
                    author: self.me(),
                    at_ms: weft_protocol::unix_now_ms(),
                    op,
                },
            )?;
            let id = c.id();
            l.log.insert(c.clone()).map_err(log_error)?;
            let state = l.log.state();
            if let Some((_, r)) = state.refused.iter().find(|(i, _)| *i == id) {
                return Err(r.clone().into());
            }
            self.store().put_group_change(&g, &c)?;
            self.store().flush_async().await?;
            l.state = state;
            self.cache(g, l.clone());
            (before, l, c)
        };
        self.emit(super::GroupEvent::GroupChanged {
            group: g.to_string(),
            by: self.me().to_string(),
            what: op_name(&c.body.op).into(),
        });
        self.distribute(&g, &before, &after, vec![c]).await?;
        self.reconcile_topics().await;
        Ok(after)
    }

    /// Sends new changes 1:1: to members who were members before, the
    /// changes and the secret; to newcomers, the whole log and the secret;
    /// to those no longer members, the changes only (so they learn they
    /// are out, and nothing that lets them follow the group).
    pub(super) async fn distribute(
        &self,
        g: &GroupId,
        before: &GroupState,
        after: &Loaded,
        changes: Vec<Change>,
    ) -> Result<(), GroupsError> {
        let secret = self.meta(g)?.secret;
        let me = self.me();
        let whole = log_parts(&after.log);
        let news = chunks(changes);
        let mut items = Vec::new();
        for a in after.state.members.keys().filter(|a| **a != me) {
            let parts = if before.members.contains_key(a) {
                &news
            } else {
                &whole
            };
            for part in parts {
                let d = Direct::Changes {
                    group: *g,
                    changes: part.clone(),
                    secret: Some(secret),
                };
                items.push((*a, d));
            }
        }
        for a in before
            .members
            .keys()
            .filter(|a| **a != me && !after.state.members.contains_key(a))
        {
            for part in &news {
                let d = Direct::Changes {
                    group: *g,
                    changes: part.clone(),
                    secret: None,
                };
                items.push((*a, d));
            }
        }
        self.inner.chat.send_direct_many(items).await?;
        // Our other devices: the changes (the whole log if the group is new
        // to them, that is, just made) and the secret.
        let own = if before.members.contains_key(&me) {
            &news
        } else {
            &whole
        };
        let own = own
            .iter()
            .map(|part| Direct::Changes {
                group: *g,
                changes: part.clone(),
                secret: after.state.members.contains_key(&me).then_some(secret),
            })
            .collect();
        self.inner.chat.send_direct_own(own).await?;
        Ok(())
    }
}
