//! Receiving: group wires (from gossip or a sync) and group business that
//! came 1:1 ([`Direct`], handed over by chat). Everything is checked
//! against the log: a wire must be from a chain a current member handed us
//! for this group, a change must be signed and allowed where the log
//! orders it, a chain share must come from a member.

use std::sync::Arc;

use weft_protocol::{
    chat::{MsgId, RECALL_WINDOW_MS},
    group::{
        log::{Change, GroupState, LogError},
        sender_key::ReceivingChain,
        Direct, GroupId, GroupKind, GroupPlain, GroupWire,
    },
    AccountId,
};

use super::manage::op_name;
use super::{GroupEvent, Groups, Loaded, MAX_GROUPS};
use crate::chat::GroupInbox;
use crate::log_limit::LogLimit;
use crate::store::chat::ContactState;
use crate::store::group::{GroupMessage, GroupMeta};
use crate::store::StoreError;

/// Extra time a recall may take to arrive after its window closed.
const RECALL_SLACK_MS: u64 = 5 * 60_000;

/// Warnings a peer can cause at will.
static REFUSED: LogLimit = LogLimit::new();

/// What became of a wire.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum WireOutcome {
    /// Read and stored.
    Stored,
    /// Already had (stored before, or one of our own).
    Known,
    /// Kept until its chain's share arrives.
    Held,
    /// Refused: forged, replayed, not a member's, malformed.
    Refused,
}

fn refuse(group: &GroupId, why: impl std::fmt::Display) -> WireOutcome {
    if let Some(suppressed) = REFUSED.allow() {
        tracing::info!(%group, reason = %why, suppressed, "refused a group message");
    }
    WireOutcome::Refused
}

/// The inbox chat hands 1:1 group business to.
pub(super) struct Inbox(pub(super) Groups);

impl GroupInbox for Inbox {
    fn deliver(&self, from: AccountId, direct: Direct) -> Result<(), StoreError> {
        self.0.on_direct(from, direct)
    }

    fn devices_changed(&self, account: &AccountId, removed: bool) {
        self.0.on_devices_changed(*account, removed);
    }

    fn shares_group(&self, account: &AccountId) -> bool {
        !self.0.shared_groups(account).is_empty()
    }

    fn group_peers(&self) -> Vec<AccountId> {
        self.0.group_peers()
    }
}

impl Groups {
    /// Registers with chat as the receiver of 1:1 group business.
    pub(super) fn register_inbox(&self) {
        self.inner
            .chat
            .set_group_inbox(Arc::new(Inbox(self.clone())));
    }

    fn on_direct(&self, from: AccountId, direct: Direct) -> Result<(), StoreError> {
        match direct {
            Direct::Changes {
                group,
                changes,
                secret,
            } => self.on_changes(from, group, changes, secret),
            Direct::SenderKey {
                group,
                epoch_change: _,
                share,
            } => self.take_share(group, from, &share).map(|_| ()),
            Direct::JoinRequest { group, link, name } => {
                if from == self.me() {
                    return Ok(()); // a copy of our own request: nothing to do here
                }
                self.on_join_request(from, group, link, name)
            }
            Direct::Read { group, ids } if from == self.me() => self.on_own_read(group, &ids),
            Direct::Read { group, ids } => {
                let Ok(Some(l)) = self.loaded(&group) else {
                    return Ok(());
                };
                if !l.state.members.contains_key(&from) {
                    return Ok(());
                }
                for id in ids {
                    if let Some((g, m)) = self.store().group_message(&id)? {
                        if g == group && m.from == self.me() {
                            let read_by = self.store().mark_group_read(&id, &from)?;
                            self.emit(GroupEvent::GroupRead {
                                group: group.to_string(),
                                id: id.to_string(),
                                read_by,
                            });
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// A member's chain (1:1 or from a key bundle): stored unless we have
    /// it (a chain is never rewound), then the wires held for it are read.
    /// `false` if `from` is not a member of a group we hold (refused).
    fn take_share(
        &self,
        group: GroupId,
        from: AccountId,
        share: &weft_protocol::group::sender_key::SenderKeyShare,
    ) -> Result<bool, StoreError> {
        let Ok(Some(l)) = self.loaded(&group) else {
            return Ok(false);
        };
        if !l.state.members.contains_key(&from) {
            tracing::info!(%group, %from, "sender key from a non-member; refused");
            return Ok(false);
        }
        // Under the wire lock: a wire that is being held right now must not
        // slip in after we took the held ones.
        let _guard = self.wire_guard();
        if self.store().group_chain(&group, &share.key_id)?.is_some() {
            return Ok(true); // a retry or the other path: never rewind a chain
        }
        let chain = ReceivingChain::new(from, l.state.epoch, share);
        self.store()
            .put_group_chain(&group, &share.key_id, &chain)?;
        for w in self.store().take_held_wires(&group, &share.key_id)? {
            self.on_wire_locked(&group, &w)?;
        }
        self.emit(GroupEvent::GroupChanged {
            group: group.to_string(),
            by: from.to_string(),
            what: "sender_key".into(),
        });
        Ok(true)
    }

    /// A key bundle from the group topic: our box, if there is one, holds
    /// the sender's chain. `false` if it is forged or malformed.
    pub(super) fn on_keys(
        &self,
        g: &GroupId,
        keys: &weft_protocol::group::GroupKeys,
    ) -> Result<bool, StoreError> {
        if keys.check().is_err() {
            return Ok(false);
        }
        let Some((group, share)) = keys.open(&self.inner.ctx.identity.key) else {
            return Ok(true); // not for us (we have it, or joined after)
        };
        if group != *g {
            return Ok(false);
        }
        // A member's bundle is kept for members that missed it (served in
        // catch-up answers).
        if self.take_share(group, keys.sender, &share)? {
            if let Ok(bytes) = keys.encode() {
                self.store()
                    .put_group_bundle(&group, &share.key_id, &bytes)?;
            }
        }
        Ok(true)
    }

    /// Changes from another member (or the whole log, when we are added).
    pub(super) fn on_changes(
        &self,
        from: AccountId,
        g: GroupId,
        changes: Vec<Change>,
        secret: Option<[u8; 32]>,
    ) -> Result<(), StoreError> {
        let known = self.loaded(&g).ok().flatten();
        let (mut l, before) = match known {
            Some(l) => {
                let before = l.state.clone();
                (l, before)
            }
            None => {
                // A group we do not know: only a whole log that makes us a
                // member, from a member, with the secret, is taken.
                let Some(secret) = secret else {
                    return Ok(());
                };
                if self.store().groups()?.len() >= MAX_GROUPS {
                    tracing::warn!(group = %g, "too many groups; ignoring an invitation");
                    return Ok(());
                }
                let Some((log, _)) =
                    weft_protocol::group::log::GroupLog::from_changes(g, changes.clone())
                else {
                    return Ok(());
                };
                let state = log.state();
                if !state.members.contains_key(&self.me()) || !state.members.contains_key(&from) {
                    return Ok(());
                }
                // Only a friend may put us in a group, or a member of one we
                // asked to join: a stranger's log (any key can sign one) is
                // not an invitation. Someone we asked to be friends counts:
                // they may add us before their accept reaches us.
                // Our own other device (chat checked it speaks for us)
                // counts too: it made the group, or we are its new device.
                let friend = from == self.me()
                    || matches!(
                        self.store().contact(&from)?,
                        Some(c) if matches!(
                            c.state,
                            ContactState::Friend | ContactState::RequestSent
                        )
                    );
                if !friend && !self.store().asked_to_join(&g) {
                    tracing::info!(group = %g, %from, "group log from a stranger; ignored");
                    return Ok(());
                }
                self.store().put_group_meta(&g, &GroupMeta::new(secret))?;
                for (_, c) in log.ordered() {
                    self.store().put_group_change(&g, c)?;
                }
                self.store().forget_join(&g)?;
                self.cache(
                    g,
                    Loaded {
                        log,
                        state: state.clone(),
                    },
                );
                self.emit(GroupEvent::GroupChanged {
                    group: g.to_string(),
                    by: from.to_string(),
                    what: "joined".into(),
                });
                self.kick_topics();
                return Ok(());
            }
        };
        let mut waiting = self.store().pending_group_changes(&g)?;
        waiting.extend(changes);
        let mut added = Vec::new();
        loop {
            let mut progress = false;
            let mut still = Vec::new();
            for c in waiting {
                match l.log.insert(c.clone()) {
                    Ok(true) => {
                        self.store().put_group_change(&g, &c)?;
                        added.push(c);
                        progress = true;
                    }
                    Ok(false) => {}
                    Err(LogError::MissingParents) => still.push(c),
                    Err(e) => {
                        tracing::info!(group = %g, %from, error = %e, "refused a group change");
                    }
                }
            }
            waiting = still;
            if !progress || waiting.is_empty() {
                break;
            }
        }
        for c in &waiting {
            if !self.store().hold_group_change(&g, c)? {
                tracing::warn!(group = %g, "too many group changes waiting for their parents");
                break;
            }
        }
        if added.is_empty() {
            return Ok(());
        }
        l.state = l.log.state();
        self.cache(g, l.clone());
        for c in &added {
            if l.state.applied.contains(&c.id()) {
                self.emit(GroupEvent::GroupChanged {
                    group: g.to_string(),
                    by: c.body.author.to_string(),
                    what: op_name(&c.body.op).into(),
                });
            }
        }
        self.on_membership(&g, &before, &l.state);
        Ok(())
    }

    /// After the membership moved: join or leave topics.
    fn on_membership(&self, _g: &GroupId, before: &GroupState, after: &GroupState) {
        if before.epoch_change != after.epoch_change
            || before.members.contains_key(&self.me()) != after.members.contains_key(&self.me())
        {
            self.kick_topics();
        }
    }

    /// Reconciles topics in the background (callers may be synchronous).
    pub(super) fn kick_topics(&self) {
        let me = self.clone();
        tokio::spawn(async move { me.reconcile_topics().await });
    }

    /// One wire of group `g` (from gossip or a sync): checked, decrypted,
    /// stored. Not flushed: callers flush once per batch.
    pub(super) fn on_wire(&self, g: &GroupId, bytes: &[u8]) -> Result<WireOutcome, StoreError> {
        if crate::fault::fails("group-wire-in") {
            // Tests: this wire is lost on its way in (as gossip may lose
            // one); `Known` keeps gossip forwarding it to others.
            return Ok(WireOutcome::Known);
        }
        let _guard = self.wire_guard();
        self.on_wire_locked(g, bytes)
    }

    fn wire_guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.inner
            .wire_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Held wires whose chain has arrived since (a safety net: the share
    /// handler takes them at once).
    pub(super) fn retry_held(&self, g: &GroupId) -> Result<(), StoreError> {
        let _guard = self.wire_guard();
        for (key, _) in self.store().group_chains(g)? {
            for w in self.store().take_held_wires(g, &key)? {
                self.on_wire_locked(g, &w)?;
            }
        }
        Ok(())
    }

    fn on_wire_locked(&self, g: &GroupId, bytes: &[u8]) -> Result<WireOutcome, StoreError> {
        let wire = match GroupWire::decode(bytes) {
            Ok(w) => w,
            Err(e) => return Ok(refuse(g, e)),
        };
        if self.store().has_group_wire(g, &wire.key_id, wire.iteration) {
            return Ok(WireOutcome::Known);
        }
        let Some(meta) = self.store().group_meta(g)? else {
            return Ok(refuse(g, "not our group"));
        };
        if meta.own_keys.contains(&wire.key_id) {
            return Ok(WireOutcome::Known);
        }
        let Some(chain) = self.store().group_chain(g, &wire.key_id)? else {
            if self
                .store()
                .hold_group_wire(g, &wire.key_id, wire.iteration, bytes)?
            {
                return Ok(WireOutcome::Held);
            }
            return Ok(refuse(g, "too many unreadable messages held"));
        };
        let Ok(Some(l)) = self.loaded(g) else {
            return Ok(refuse(g, "no log"));
        };
        if !l.state.members.contains_key(&chain.sender) {
            return Ok(refuse(g, "from someone no longer a member"));
        }
        if wire.iteration > chain.next_iteration() {
            // Earlier messages of this chain are missing: catch up soon
            // rather than on the next tick (gossip may have dropped them).
            self.note_gap(g);
        }
        let (plain, next) = match chain.open(&wire) {
            Ok(x) => x,
            Err(e) => return Ok(refuse(g, e)),
        };
        let plain = match GroupPlain::from_bytes(&plain) {
            Ok(p) => p,
            Err(e) => return Ok(refuse(g, e)),
        };
        if plain.group != *g || plain.sender != chain.sender {
            return Ok(refuse(g, "a message moved from another group or sender"));
        }
        self.store().put_group_chain(g, &wire.key_id, &next)?;
        self.store()
            .put_group_wire(g, &wire.key_id, wire.iteration, bytes)?;
        self.store().raise_group_clock(g, plain.lamport)?;
        self.apply_plain(g, &l.state, &meta, wire.id(), plain)?;
        Ok(WireOutcome::Stored)
    }

    fn apply_plain(
        &self,
        g: &GroupId,
        state: &GroupState,
        meta: &GroupMeta,
        id: MsgId,
        p: GroupPlain,
    ) -> Result<(), StoreError> {
        let now = weft_protocol::unix_now_ms();
        let (text, reply_to, mentions, all, attachment) = match p.kind {
            GroupKind::Text {
                text,
                reply_to,
                mentions,
                all,
            } => (text, reply_to, mentions, all, None),
            GroupKind::File {
                attachment,
                caption,
                reply_to,
            } => (caption, reply_to, Vec::new(), false, Some(attachment)),
            GroupKind::Recall { target } => {
                if let Some((tg, mut t)) = self.store().group_message(&target)? {
                    let ours =
                        now.saturating_sub(t.arrived_ms) <= RECALL_WINDOW_MS + RECALL_SLACK_MS;
                    let claimed = p.sent_at_ms.saturating_sub(t.sent_at_ms) <= RECALL_WINDOW_MS;
                    if tg == *g && t.from == p.sender && ours && claimed && !t.recalled {
                        t.recalled = true;
                        t.text.clear();
                        t.attachment = None;
                        self.store().update_group_message(g, &t)?;
                        self.emit(GroupEvent::GroupRecalled {
                            group: g.to_string(),
                            id: target.to_string(),
                        });
                    } else {
                        tracing::info!(group = %g, "refused a recall of someone else's or an old message");
                    }
                }
                return Ok(());
            }
        };
        let may_all = matches!(
            state.role(&p.sender),
            Some(weft_protocol::group::log::Role::Owner | weft_protocol::group::log::Role::Admin)
        );
        let all = all && may_all;
        // The event's text: the caption, or what the attachment is.
        let said = match &attachment {
            Some(a) if text.is_empty() => crate::files::summary(a),
            _ => text.clone(),
        };
        let m = GroupMessage {
            id,
            from: p.sender,
            seq: p.seq,
            lamport: p.lamport,
            sent_at_ms: p.sent_at_ms,
            text,
            reply_to,
            mentions,
            all,
            recalled: false,
            arrived_ms: now,
            attachment,
        };
        if self.store().put_group_message(g, &m)? {
            let mentioned = all || m.mentions.contains(&self.me());
            let name = state
                .members
                .get(&p.sender)
                .map(|m| m.shown().to_string())
                .unwrap_or_default();
            self.emit(GroupEvent::GroupMessage {
                group: g.to_string(),
                id: id.to_string(),
                from: p.sender.to_string(),
                name,
                text: said,
                mentioned,
                // What we sent from another of our devices never rings.
                notify: p.sender != self.me() && (mentioned || !meta.muted),
            });
        }
        Ok(())
    }
}
